"""U-Net building blocks used across the course.

* Notebook 01: :func:`conv_out_size`, :func:`conv_transpose_out_size`, :class:`BasicDownBlock`,
  :class:`BasicUpBlock` (Conv-BatchNorm-ReLU, max-pooling; Ronneberger et al. 2015, "U-Net").
* Notebook 03 and later: :class:`GELUConvBlock` (GroupNorm, Wu & He 2018; GELU, Hendrycks &
  Gimpel 2016), :class:`RearrangePoolBlock` (space-to-depth downsampling, as in Shi et al. 2016's
  pixel shuffle, written with einops), :class:`ResidualConvBlock` (He et al. 2016),
  :class:`SinusoidalPositionEmbedBlock` (Vaswani et al. 2017, as used by Ho et al. 2020),
  :class:`EmbedBlock`, :class:`DownBlock`, :class:`UpBlock`.

Shapes are written (B, C, H, W); H and W must be even where a block halves them.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from einops.layers.torch import Rearrange


def conv_out_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of ``nn.Conv2d`` along one axis: floor((n + 2p - d(k-1) - 1) / s) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_out_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                            output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of ``nn.ConvTranspose2d``: (n - 1)s - 2p + d(k-1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def conv_bn_relu(in_ch: int, out_ch: int) -> list[nn.Module]:
    """3x3 convolution that keeps H, W; BatchNorm; ReLU."""
    return [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU()]


class BasicDownBlock(nn.Module):
    """Notebook 01's down block: two Conv-BN-ReLU, then 2x2 max-pool.
    (B, in_ch, H, W) -> (B, out_ch, H/2, W/2)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.model = nn.Sequential(*conv_bn_relu(in_ch, out_ch), *conv_bn_relu(out_ch, out_ch), nn.MaxPool2d(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class BasicUpBlock(nn.Module):
    """Notebook 01's up block: concatenate the skip, 2x2 transposed conv (doubles H, W), two
    Conv-BN-ReLU. Inputs x and skip are (B, in_ch/2, H, W) each -> (B, out_ch, 2H, 2W)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.model = nn.Sequential(nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2),
                                   *conv_bn_relu(out_ch, out_ch), *conv_bn_relu(out_ch, out_ch))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.model(torch.cat((x, skip), dim=1))  # (B, in_ch, H, W) -> (B, out_ch, 2H, 2W)


class GELUConvBlock(nn.Module):
    """3x3 conv, GroupNorm, GELU. (B, in_ch, H, W) -> (B, out_ch, H, W).

    GroupNorm normalises each sample on its own, so it behaves the same for a batch of 1 at
    sampling time as for the training batch (BatchNorm does not)."""

    def __init__(self, in_ch: int, out_ch: int, groups: int = 8):
        super().__init__()
        if out_ch % groups:
            raise ValueError(f"out_ch={out_ch} must be divisible by groups={groups}")
        self.model = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.GroupNorm(groups, out_ch), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class RearrangePoolBlock(nn.Module):
    """Space-to-depth downsampling: every 2x2 patch becomes 4 channels (lossless, unlike
    max-pooling), then a GELUConvBlock mixes them. (B, in_ch, H, W) -> (B, out_ch, H/2, W/2)."""

    def __init__(self, in_ch: int, out_ch: int, groups: int = 8):
        super().__init__()
        self.rearrange = Rearrange("b c (h p1) (w p2) -> b (c p1 p2) h w", p1=2, p2=2)
        self.conv = GELUConvBlock(4 * in_ch, out_ch, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.rearrange(x))  # (B, 4C, H/2, W/2) -> (B, out_ch, H/2, W/2)


class ResidualConvBlock(nn.Module):
    """out = skip(x) + branch(x), branch = two GELUConvBlocks, skip = identity (or a 1x1 conv
    when the channel count changes). (B, in_ch, H, W) -> (B, out_ch, H, W)."""

    def __init__(self, in_ch: int, out_ch: int, groups: int = 8):
        super().__init__()
        self.branch = nn.Sequential(GELUConvBlock(in_ch, out_ch, groups), GELUConvBlock(out_ch, out_ch, groups))
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.branch(x)


class SinusoidalPositionEmbedBlock(nn.Module):
    """Timestep t -> [sin(t w_0), ..., sin(t w_{d/2-1}), cos(t w_0), ...] with
    w_i = 10000^(-i / (d/2 - 1)). (B,) -> (B, dim); values in [-1, 1]; distinct for every t."""

    def __init__(self, dim: int):
        super().__init__()
        if dim % 2 or dim < 4:
            raise ValueError(f"dim must be even and >= 4, got {dim}")
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / (half - 1))  # (dim/2,)
        args = t.float()[:, None] * freqs[None, :]  # (B, dim/2)
        return torch.cat((args.sin(), args.cos()), dim=-1)  # (B, dim)


class EmbedBlock(nn.Module):
    """A vector (time or context) to a per-channel feature map: Linear, GELU, Linear.
    (B, input_dim) -> (B, emb_dim, 1, 1), ready to add to or scale a (B, emb_dim, H, W) map."""

    def __init__(self, input_dim: int, emb_dim: int):
        super().__init__()
        self.input_dim = input_dim
        self.model = nn.Sequential(nn.Linear(input_dim, emb_dim), nn.GELU(), nn.Linear(emb_dim, emb_dim),
                                   nn.Unflatten(1, (emb_dim, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(-1, self.input_dim))


class DownBlock(nn.Module):
    """Notebook 03's down block: two GELUConvBlocks, then a RearrangePoolBlock.
    (B, in_ch, H, W) -> (B, out_ch, H/2, W/2)."""

    def __init__(self, in_ch: int, out_ch: int, groups: int = 8):
        super().__init__()
        self.model = nn.Sequential(GELUConvBlock(in_ch, out_ch, groups), GELUConvBlock(out_ch, out_ch, groups),
                                   RearrangePoolBlock(out_ch, out_ch, groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class UpBlock(nn.Module):
    """Notebook 03's up block: concatenate the skip, 2x2 transposed conv, two GELUConvBlocks.
    x and skip (B, in_ch, H, W) each -> (B, out_ch, 2H, 2W)."""

    def __init__(self, in_ch: int, out_ch: int, groups: int = 8):
        super().__init__()
        self.model = nn.Sequential(nn.ConvTranspose2d(2 * in_ch, out_ch, 2, stride=2),
                                   GELUConvBlock(out_ch, out_ch, groups), GELUConvBlock(out_ch, out_ch, groups))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.model(torch.cat((x, skip), dim=1))
