"""Blocks and U-Nets: shapes (odd batches, 1 and 3 channels, 28 and 32 pixels) and the
properties each block is meant to have, checked against torch's own layers."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from helpers import blocks
from helpers.unet import ConditionalUNet, OptimizedUNet, TimeUNet, UNet, count_parameters

SIZES = [(1, 1, 28), (3, 1, 28), (5, 3, 32), (1, 3, 32)]


@pytest.mark.parametrize("n,k,s,p", [(28, 3, 1, 1), (28, 4, 2, 1), (32, 5, 2, 0), (7, 3, 3, 2), (28, 2, 2, 0)])
def test_conv_size_formulas_match_torch(n, k, s, p):
    x = torch.zeros(1, 1, n, n)
    assert nn.Conv2d(1, 1, k, s, p)(x).shape[-1] == blocks.conv_out_size(n, k, s, p)
    for op in (0, s - 1):
        got = nn.ConvTranspose2d(1, 1, k, s, p, output_padding=op)(x).shape[-1]
        assert got == blocks.conv_transpose_out_size(n, k, s, p, op)


@pytest.mark.parametrize("b,c,n", SIZES)
def test_block_shapes(b, c, n):
    x = torch.randn(b, c, n, n)
    assert blocks.BasicDownBlock(c, 8)(x).shape == (b, 8, n // 2, n // 2)
    assert blocks.BasicUpBlock(2 * c, 8)(x, x).shape == (b, 8, 2 * n, 2 * n)
    assert blocks.GELUConvBlock(c, 8, 4)(x).shape == (b, 8, n, n)
    assert blocks.RearrangePoolBlock(c, 8, 4)(x).shape == (b, 8, n // 2, n // 2)
    assert blocks.ResidualConvBlock(c, 8, 4)(x).shape == (b, 8, n, n)
    assert blocks.DownBlock(c, 8, 4)(x).shape == (b, 8, n // 2, n // 2)
    assert blocks.UpBlock(c, 8, 4)(x, x).shape == (b, 8, 2 * n, 2 * n)


def test_rearrange_pool_is_pixel_unshuffle_and_invertible():
    x = torch.randn(3, 2, 8, 8)
    block = blocks.RearrangePoolBlock(2, 8, 4)
    y = block.rearrange(x)
    torch.testing.assert_close(y, nn.PixelUnshuffle(2)(x))
    torch.testing.assert_close(nn.PixelShuffle(2)(y), x)  # lossless: every pixel kept


def test_groupnorm_block_is_independent_of_batch_composition():
    torch.manual_seed(0)
    block = blocks.GELUConvBlock(1, 8, 4).train()
    x = torch.randn(16, 1, 8, 8)
    torch.testing.assert_close(block(x)[:1], block(x[:1]))  # per-sample normalisation
    bn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8)).train()
    assert not torch.allclose(bn(x)[:1], bn(x[:1]), atol=1e-3)  # BatchNorm mixes the batch


def test_residual_block_is_identity_when_branch_is_zero():
    block = blocks.ResidualConvBlock(8, 8, 4)
    last_norm = block.branch[-1].model[1]
    nn.init.zeros_(last_norm.weight)
    nn.init.zeros_(last_norm.bias)
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(block(x), x)
    assert isinstance(blocks.ResidualConvBlock(4, 8, 4).skip, nn.Conv2d)


def test_sinusoidal_embedding_bounded_distinct_and_reference_formula():
    emb = blocks.SinusoidalPositionEmbedBlock(32)
    t = torch.arange(1000)
    e = emb(t)
    assert e.shape == (1000, 32) and e.abs().max() <= 1
    d = torch.cdist(e, e) + torch.eye(1000) * 1e9
    assert d.min() > 1e-3  # every t in [0, T) gets its own vector
    # reference: Vaswani et al. with w_i = 10000^(-i/(d/2-1)), sin block then cos block
    i = 5
    w = 10000 ** (-i / 15)
    assert e[123, i].item() == pytest.approx(torch.sin(torch.tensor(123 * w)).item(), abs=1e-5)
    assert e[123, 16 + i].item() == pytest.approx(torch.cos(torch.tensor(123 * w)).item(), abs=1e-5)


def test_embed_block_shape():
    assert blocks.EmbedBlock(10, 16)(torch.randn(5, 10)).shape == (5, 16, 1, 1)
    assert blocks.EmbedBlock(1, 16)(torch.rand(3)).shape == (3, 16, 1, 1)


@pytest.mark.parametrize("b,c,n", SIZES)
def test_unet_shapes(b, c, n):
    x = torch.randn(b, c, n, n)
    t = torch.randint(0, 100, (b,))
    assert UNet(c).eval()(x).shape == x.shape
    assert TimeUNet(c, T=100).eval()(x, t).shape == x.shape
    assert OptimizedUNet(c, T=100)(x, t).shape == x.shape
    cond = torch.nn.functional.one_hot(torch.arange(b) % 5, 5).float()
    assert ConditionalUNet(c, T=100, c_dim=5)(x, t, cond, torch.ones(b, 1)).shape == x.shape


def test_unet_outputs_depend_on_time_and_context():
    torch.manual_seed(0)
    x = torch.randn(2, 1, 28, 28)
    m = TimeUNet(T=100).eval()
    assert not torch.allclose(m(x, torch.tensor([0, 0])), m(x, torch.tensor([90, 90])))
    cm = ConditionalUNet(T=100, c_dim=10).eval()
    t = torch.tensor([5, 5])
    c = torch.eye(10)[:2]
    kept = cm(x, t, c, torch.ones(2, 1))
    dropped = cm(x, t, c, torch.zeros(2, 1))
    torch.testing.assert_close(dropped, cm(x, t, torch.zeros_like(c), torch.ones(2, 1)))  # mask 0 == zero context
    assert not torch.allclose(kept, dropped)
    with pytest.raises(ValueError, match="conditional"):
        cm(x, t)


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="divisible by 4"):
        UNet()(torch.randn(1, 1, 30, 30))
    with pytest.raises(ValueError, match="divisible"):
        blocks.GELUConvBlock(1, 10, 8)


def test_parameter_counts_are_small_enough_for_a_laptop():
    assert count_parameters(UNet()) < 300_000
    assert count_parameters(ConditionalUNet()) < 600_000


def test_conditional_unet_modulates_every_level():
    """h <- s_i * h + b_i after each of the six blocks, written out here block by block with
    constant per-channel scales s_i (the context's role) and shifts b_i (the time's)."""
    torch.manual_seed(0)
    model = ConditionalUNet(1, (8, 16), T=50, c_dim=4).eval()
    g = torch.Generator().manual_seed(1)
    widths = model.level_channels((8, 16))
    assert widths == (8, 8, 16, 16, 8, 8)
    scales = [torch.randn(1, ch, 1, 1, generator=g) for ch in widths]
    shifts = [torch.randn(1, ch, 1, 1, generator=g) for ch in widths]

    class Const(torch.nn.Module):
        def __init__(self, v):
            super().__init__()
            self.v = v

        def forward(self, z):
            return self.v.expand(z.shape[0], -1, -1, -1)

    for i in range(6):
        model.c_embs[i], model.t_embs[i] = Const(scales[i]), Const(shifts[i])
    x = torch.randn(3, 1, 28, 28, generator=g)
    t, c = torch.tensor([1, 20, 49]), torch.eye(4)[:3]
    with torch.no_grad():
        got = model(x, t, c, torch.ones(3, 1))
        s, b = scales, shifts
        d0 = s[0] * model.down0(x) + b[0]
        d1 = s[1] * model.down1(d0) + b[1]
        d2 = s[2] * model.down2(d1) + b[2]
        m = s[3] * model.middle(d2) + b[3]
        u1 = s[4] * model.up1(m, d2) + b[4]
        u2 = s[5] * model.up2(u1, d1) + b[5]
        want = model.out(torch.cat((u2, d0), dim=1))
    torch.testing.assert_close(got, want)


def test_optimized_unet_keeps_notebook_03_parameters():
    """Notebook 03's model is unchanged by the conditional refactor: its parameter names, shapes and
    seeded initial values (creation order) are those it has always had."""
    torch.manual_seed(0)
    m = OptimizedUNet(1, (8, 16), T=100)
    names = [n.split(".")[0] for n, _ in m.named_parameters()]
    assert list(dict.fromkeys(names)) == ["down0", "down1", "down2", "middle", "t_emb1", "t_emb2", "up1", "up2",
                                          "out"]
    assert count_parameters(m) == 25_745  # as before the refactor (git show d2c0ed2:helpers/unet.py)
