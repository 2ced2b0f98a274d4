"""The U-Nets of the course (Ronneberger et al. 2015; the DDPM variant of Ho et al. 2020),
from a plain denoiser to a class/embedding-conditioned noise predictor.

=================  ========  =====================================================================
class              notebook  what it adds
=================  ========  =====================================================================
UNet               01        encoder/decoder with skip concatenation (Conv-BN-ReLU, max-pool)
TimeUNet           02        the timestep, scaled to t/T, enters through EmbedBlocks
OptimizedUNet      03        GroupNorm+GELU, space-to-depth pooling, residual input block,
                             sinusoidal time embedding
ConditionalUNet    04-06     + a context vector c (one-hot class or a CLIP embedding) that scales
                             the features; c_mask = 0 drops it (classifier-free guidance)
=================  ========  =====================================================================

All take images (B, C, H, W) with H and W divisible by 4 (28 for MNIST, 32 for flowers) and
return a tensor of the same shape: the clean image for UNet, the predicted noise otherwise.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .blocks import (BasicDownBlock, BasicUpBlock, DownBlock, EmbedBlock, GELUConvBlock, ResidualConvBlock,
                     SinusoidalPositionEmbedBlock, UpBlock, conv_bn_relu)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _check_input(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[-1] % 4 or x.shape[-2] % 4:
        raise ValueError(f"expected images (B, C, H, W) with H, W divisible by 4, got {tuple(x.shape)}")


class UNet(nn.Module):
    """Notebook 01: a plain U-Net that maps a noisy image to a clean one.

    down0 (C->c0, H) -> down1 (c0, H/2) -> down2 (c1, H/4) -> middle (c1, H/4)
    -> up1(middle, down2) (c0, H/2) -> up2(up1, down1) (c0, H) -> out(up2, down0) (C, H)
    """

    def __init__(self, in_ch: int = 1, chs: tuple[int, int] = (32, 64)):
        super().__init__()
        c0, c1 = chs
        self.down0 = nn.Sequential(*conv_bn_relu(in_ch, c0))
        self.down1 = BasicDownBlock(c0, c0)
        self.down2 = BasicDownBlock(c0, c1)
        self.middle = nn.Sequential(*conv_bn_relu(c1, c1))
        self.up1 = BasicUpBlock(2 * c1, c0)
        self.up2 = BasicUpBlock(2 * c0, c0)
        self.out = nn.Conv2d(2 * c0, in_ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x)
        d0 = self.down0(x)  # (B, c0, H, W)
        d1 = self.down1(d0)  # (B, c0, H/2, W/2)
        d2 = self.down2(d1)  # (B, c1, H/4, W/4)
        m = self.middle(d2)  # (B, c1, H/4, W/4)
        u1 = self.up1(m, d2)  # (B, c0, H/2, W/2)
        u2 = self.up2(u1, d1)  # (B, c0, H, W)
        return self.out(torch.cat((u2, d0), dim=1))  # (B, C, H, W)


class TimeUNet(UNet):
    """Notebook 02: UNet plus the timestep. t (B,) int64 in [0, T) is scaled to t/T and mapped by
    EmbedBlocks to per-channel offsets added to the middle and first up-block features."""

    def __init__(self, in_ch: int = 1, chs: tuple[int, int] = (32, 64), T: int = 1000):
        super().__init__(in_ch, chs)
        c0, c1 = chs
        self.T = T
        self.t_emb1 = EmbedBlock(1, c1)
        self.t_emb2 = EmbedBlock(1, c0)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        _check_input(x)
        t = t.float().reshape(-1, 1) / self.T  # (B, 1) in [0, 1)
        d0 = self.down0(x)  # (B, c0, H, W)
        d1 = self.down1(d0)  # (B, c0, H/2, W/2)
        d2 = self.down2(d1)  # (B, c1, H/4, W/4)
        m = self.middle(d2) + self.t_emb1(t)  # (B, c1, H/4, W/4)
        u1 = self.up1(m, d2) + self.t_emb2(t)  # (B, c0, H/2, W/2)
        u2 = self.up2(u1, d1)  # (B, c0, H, W)
        return self.out(torch.cat((u2, d0), dim=1))  # (B, C, H, W)


class ConditionalUNet(nn.Module):
    """Notebooks 04-06: the optimized U-Net with a context vector.

    ``forward(x, t, c=None, c_mask=None)``: x (B, C, H, W); t (B,) int64 steps; c (B, c_dim) a
    one-hot class or an embedding; c_mask (B, 1), 1 keeps c and 0 drops it (c is multiplied by
    the mask, so a dropped context is the zero vector). The context scales and the time shifts
    the features at the middle and the first up block: h <- emb_c(c) * h + emb_t(t).
    """

    def __init__(self, in_ch: int = 1, chs: tuple[int, int] = (32, 64), T: int = 1000, c_dim: int | None = 10,
                 groups: int = 8, t_dim: int = 32):
        super().__init__()
        c0, c1 = chs
        self.T, self.c_dim = T, c_dim
        self.down0 = ResidualConvBlock(in_ch, c0, groups)
        self.down1 = DownBlock(c0, c0, groups)
        self.down2 = DownBlock(c0, c1, groups)
        self.middle = GELUConvBlock(c1, c1, groups)
        self.sinusoidal = SinusoidalPositionEmbedBlock(t_dim)
        self.t_emb1 = EmbedBlock(t_dim, c1)
        self.t_emb2 = EmbedBlock(t_dim, c0)
        if c_dim:
            self.c_emb1 = EmbedBlock(c_dim, c1)
            self.c_emb2 = EmbedBlock(c_dim, c0)
        self.up1 = UpBlock(c1, c0, groups)
        self.up2 = UpBlock(c0, c0, groups)
        self.out = nn.Sequential(nn.Conv2d(2 * c0, c0, 3, padding=1), nn.GroupNorm(groups, c0), nn.GELU(),
                                 nn.Conv2d(c0, in_ch, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor | None = None,
                c_mask: torch.Tensor | None = None) -> torch.Tensor:
        _check_input(x)
        d0 = self.down0(x)  # (B, c0, H, W)
        d1 = self.down1(d0)  # (B, c0, H/2, W/2)
        d2 = self.down2(d1)  # (B, c1, H/4, W/4)
        m = self.middle(d2)  # (B, c1, H/4, W/4)
        te = self.sinusoidal(t)  # (B, t_dim)
        if self.c_dim:
            if c is None:
                raise ValueError("this model is conditional: pass c (B, c_dim) and c_mask (B, 1)")
            c = c.float() if c_mask is None else c.float() * c_mask.reshape(-1, 1)  # dropped context -> 0
            m = self.c_emb1(c) * m + self.t_emb1(te)
            u1 = self.c_emb2(c) * self.up1(m, d2) + self.t_emb2(te)  # (B, c0, H/2, W/2)
        else:
            m = m + self.t_emb1(te)
            u1 = self.up1(m, d2) + self.t_emb2(te)  # (B, c0, H/2, W/2)
        u2 = self.up2(u1, d1)  # (B, c0, H, W)
        return self.out(torch.cat((u2, d0), dim=1))  # (B, C, H, W)


class OptimizedUNet(ConditionalUNet):
    """Notebook 03: the optimized noise predictor without context. ``forward(x, t)``."""

    def __init__(self, in_ch: int = 1, chs: tuple[int, int] = (32, 64), T: int = 1000, groups: int = 8,
                 t_dim: int = 32):
        super().__init__(in_ch, chs, T, c_dim=None, groups=groups, t_dim=t_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, t)
