"""Checks for notebook 01 (U-Nets; Ronneberger et al. 2015): one function per TODO.

Each function returns a list of :class:`helpers.checks.Result`; the notebook prints them with
``self_check`` and the graded cells assert them with ``require``. Expected values always come
from the reference in :mod:`helpers.blocks` / :mod:`helpers.unet` (or from PyTorch's own
``nn.Conv2d`` / ``nn.ConvTranspose2d``) on seeded inputs, so hidden tests only change the seed
and the sizes.

* TODO 1 :func:`check_conv_sizes`   conv_out_size, conv_transpose_out_size
* TODO 2 :func:`check_down_block`   DownBlock  (twin: helpers.blocks.BasicDownBlock)
* TODO 3 :func:`check_up_block`     UpBlock    (twin: helpers.blocks.BasicUpBlock)
* TODO 4 :func:`check_unet`         UNet.forward (twin: helpers.unet.UNet), and
  :func:`check_unet_training`       a short seeded training on a fixed batch.

A student's UNet is always built with the *reference* blocks
(``UNet(in_ch, chs, down_block=BasicDownBlock, up_block=BasicUpBlock)``), so TODO 4 is graded
independently of TODOs 2 and 3.
"""
from __future__ import annotations

import random
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..blocks import BasicDownBlock, BasicUpBlock, conv_out_size as ref_conv, conv_transpose_out_size as ref_convT
from ..unet import UNet as RefUNet, count_parameters
from . import Result, close, defined_in_notebook, equal, shape, state_dict_problem, true

# Hand-worked cases: (size, kernel, stride, padding) -> output of nn.Conv2d, and
# (size, kernel, stride, padding, output_padding) -> output of nn.ConvTranspose2d.
CONV_CASES = [((28, 3, 1, 1), 28, "a 3x3 conv with padding 1 keeps 28x28"),
              ((28, 3, 1, 0), 26, "no padding: a 3x3 conv trims one pixel on each side"),
              ((28, 2, 2, 0), 14, "kernel 2, stride 2 halves the size (like MaxPool2d(2))"),
              ((7, 3, 2, 1), 4, "floor division: (7 + 2 - 3) // 2 + 1")]
CONVT_CASES = [((7, 2, 2, 0, 0), 14, "kernel 2, stride 2 doubles the size"),
               ((14, 4, 2, 1, 0), 28, "kernel 4, stride 2, padding 1 also doubles it"),
               ((7, 3, 1, 1, 0), 7, "stride 1, padding 1 keeps the size"),
               ((4, 3, 2, 1, 1), 8, "output_padding adds one row/column at the end")]


def _real_conv(n: int, k: int, s: int, p: int) -> int:
    return nn.Conv2d(1, 1, k, stride=s, padding=p)(torch.zeros(1, 1, n, n)).shape[-1]


def _real_convT(n: int, k: int, s: int, p: int, op: int) -> int:
    return nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op)(torch.zeros(1, 1, n, n)).shape[-1]


def _random_cases(seed: int, n: int):
    """Seeded (conv args, convT args) with valid, positive outputs."""
    rng = random.Random(seed)
    conv, convT = [], []
    while len(conv) < n:
        k = rng.randint(1, 7)
        s = rng.randint(1, 3)
        p = rng.randint(0, k // 2)
        size = rng.randint(k, 40)
        conv.append((size, k, s, p))
    while len(convT) < n:
        k = rng.randint(1, 6)
        s = rng.randint(1, 3)
        p = rng.randint(0, (k - 1) // 2)
        op = rng.randint(0, s - 1)
        size = rng.randint(1, 20)
        if ref_convT(size, k, s, p, op) >= 1:
            convT.append((size, k, s, p, op))
    return conv, convT


def _compare_cases(name: str, fn: Callable, cases, real: Callable, hint: str) -> Result:
    """All cases at once: one line, the first mismatch shown."""
    for args in cases:
        expected = real(*args)
        try:
            got = fn(*args)
        except NotImplementedError:
            raise
        except Exception as exc:  # a crash on some case is a wrong answer, not a crash of the check
            return Result(name, False, f"{type(exc).__name__}: {exc}", expected, f"for args {args}", hint)
        if not _int_equal(got, expected):
            return Result(name, False, got, expected, f"for (size, kernel, stride, padding{', output_padding' if len(args) == 5 else ''}) = {args}", hint)
    return Result(name, True, f"{len(cases)}/{len(cases)} cases")


def _int_equal(got, expected: int) -> bool:
    try:
        return not isinstance(got, bool) and float(got) == float(expected)
    except (TypeError, ValueError):
        return False


def check_conv_sizes(conv_out_size: Callable, conv_transpose_out_size: Callable, seed: int = 0, n: int = 8,
                     hand_cases: bool = True) -> list[Result]:
    """TODO 1: both size formulas on hand-worked cases and on ``n`` seeded random cases, compared
    with the output shapes of real ``nn.Conv2d`` / ``nn.ConvTranspose2d`` modules."""
    hint_conv = ("count the positions the kernel's window can take on the input padded on both sides, moving by "
                 "stride and rounding down (whole windows only), and do not forget the first position")
    hint_convT = ("run the conv's size rule backwards: the input's positions spread stride apart, the kernel adds "
                  "its width, padding trims both sides, output_padding adds to one side")
    out = [defined_in_notebook("conv_out_size is defined in this notebook", conv_out_size),
           defined_in_notebook("conv_transpose_out_size is defined in this notebook", conv_transpose_out_size)]
    if hand_cases:
        for args, expected, why in CONV_CASES:
            out.append(_single(f"conv_out_size{args} ({why})", conv_out_size, args, expected, hint_conv))
        for args, expected, why in CONVT_CASES:
            out.append(_single(f"conv_transpose_out_size{args} ({why})", conv_transpose_out_size, args, expected,
                               hint_convT))
    conv, convT = _random_cases(seed, n)
    out.append(_compare_cases(f"conv_out_size matches nn.Conv2d on random cases (seed {seed})", conv_out_size, conv,
                              _real_conv, hint_conv))
    out.append(_compare_cases(f"conv_transpose_out_size matches nn.ConvTranspose2d on random cases (seed {seed})",
                              conv_transpose_out_size, convT, _real_convT, hint_convT))
    return out


def _single(name: str, fn: Callable, args, expected: int, hint: str) -> Result:
    got = fn(*args)
    if not _int_equal(got, expected):
        extra = "; use // (floor division), not /" if isinstance(got, float) and got != int(got) else ""
        return Result(name, False, got, expected, "", hint + extra)
    return Result(name, True, got)


# --------------------------------------------------------------------------- blocks

def _copy_by_position(dst: nn.Module, src: nn.Module) -> str:
    """Copy src's state (parameters and buffers) into dst entry by entry, in registration order.
    Returns '' on success, else why it could not (different number or shapes of entries)."""
    d, s = dst.state_dict(), src.state_dict()
    if len(d) != len(s):
        return f"{len(d)} parameter/buffer tensors, the reference has {len(s)}"
    for (dk, dv), (sk, sv) in zip(d.items(), s.items()):
        if dv.shape != sv.shape:
            return f"'{dk}' has shape {tuple(dv.shape)} where the reference's '{sk}' has {tuple(sv.shape)}"
    dst.load_state_dict({dk: sv for dk, sv in zip(d, s.values())})
    return ""


def _layer_kinds(m: nn.Module) -> list[str]:
    return [type(x).__name__ for x in m.modules() if not list(x.children())]


def _block_checks(kind: str, student_cls, ref_cls, in_ch: int, out_ch: int, inputs, expected_shape, seed: int,
                  hints: dict) -> list[Result]:
    out = [defined_in_notebook(f"{kind} is defined in this notebook", student_cls)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ref = ref_cls(in_ch, out_ch)
        torch.manual_seed(seed)
        stu = student_cls(in_ch, out_ch)
    if not isinstance(stu, nn.Module):
        return out + [Result(f"{kind}({in_ch}, {out_ch}) is an nn.Module", False, type(stu).__name__, "nn.Module")]
    ref.train()
    stu.train()
    y_ref = ref(*inputs)
    try:
        y = stu(*inputs)
    except Exception as exc:
        return out + [Result(f"{kind}({in_ch}, {out_ch}) runs on inputs of shape "
                             + " and ".join(str(tuple(t.shape)) for t in inputs), False,
                             f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}", "an output", "",
                             hints["crash"])]
    out.append(shape(f"{kind}({in_ch}, {out_ch}) output shape", y, expected_shape, hints["shape"]))
    out.append(equal(f"{kind}({in_ch}, {out_ch}) parameter count", count_parameters(stu), count_parameters(ref),
                     hints["params"]))
    out.append(equal(f"{kind} layers, in order", _layer_kinds(stu), _layer_kinds(ref), hints["layers"]))
    why = _copy_by_position(stu, ref)
    if tuple(y.shape) != tuple(expected_shape):
        out.append(Result(f"{kind} with the reference weights gives the reference output", False,
                          "not compared", None, "the output shape is wrong (see above)", hints["shape"]))
    elif why:
        out.append(Result(f"{kind} with the reference weights gives the reference output", False, why, None, "",
                          hints["layers"]))
    else:
        out.append(close(f"{kind} with the reference weights gives the reference output", stu(*inputs), y_ref,
                         atol=1e-5, rtol=1e-4, hint=hints["output"]))
    return out


def check_down_block(DownBlock, seed: int = 0, in_ch: int = 3, out_ch: int = 8, size: int = 28, batch: int = 4
                     ) -> list[Result]:
    """TODO 2: DownBlock(in_ch, out_ch) against helpers.blocks.BasicDownBlock:
    (B, in_ch, H, W) -> (B, out_ch, H/2, W/2), same layers, same output with the same weights."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, in_ch, size, size, generator=g)  # (B, in_ch, H, W)
    hints = {
        "crash": "the first conv takes in_ch channels, the second out_ch; a max-pool halves the size",
        "shape": "the 3x3 convs must keep H and W (pad them), and the block ends by halving H and W (pooling)",
        "params": "two 3x3 convs (in_ch->out_ch, then out_ch->out_ch) with bias, each followed by a BatchNorm",
        "layers": "two rounds of convolution, BatchNorm, ReLU, then the pooling, in that order, in one "
                  "nn.Sequential named self.model",
        "output": "same layers but a different computation: check the order conv -> BatchNorm -> ReLU",
    }
    return _block_checks("DownBlock", DownBlock, BasicDownBlock, in_ch, out_ch, (x,),
                         (batch, out_ch, size // 2, size // 2), seed, hints)


def check_up_block(UpBlock, seed: int = 0, in_ch: int = 16, out_ch: int = 8, size: int = 7, batch: int = 4
                   ) -> list[Result]:
    """TODO 3: UpBlock(in_ch, out_ch) against helpers.blocks.BasicUpBlock. ``in_ch`` counts the
    channels *after* concatenation: x and skip are (B, in_ch/2, H, W) each -> (B, out_ch, 2H, 2W)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, in_ch // 2, size, size, generator=g)  # (B, in_ch/2, H, W)
    skip = torch.randn(batch, in_ch // 2, size, size, generator=g)  # (B, in_ch/2, H, W)
    hints = {
        "crash": "concatenate x and skip along the channels first, so the transposed conv sees in_ch channels",
        "shape": "the transposed conv must double H and W (a 2x2 kernel moving by 2); the 3x3 convs keep them (pad)",
        "params": "one transposed conv from in_ch to out_ch, then two 3x3 convs out_ch->out_ch, each followed "
                  "by a BatchNorm",
        "layers": "the transposed conv first (it upsamples), then two rounds of convolution, BatchNorm, ReLU, in "
                  "one nn.Sequential named self.model",
        "output": "concatenate x first, then skip, along the channels",
    }
    return _block_checks("UpBlock", UpBlock, BasicUpBlock, in_ch, out_ch, (x, skip),
                         (batch, out_ch, 2 * size, 2 * size), seed, hints)


# --------------------------------------------------------------------------- U-Net

def _build_unet(UNet, in_ch: int, chs, seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ref = RefUNet(in_ch, chs)
        torch.manual_seed(seed)
        stu = UNet(in_ch, chs, down_block=BasicDownBlock, up_block=BasicUpBlock)
    return ref, stu


def check_unet(UNet, seed: int = 0, in_ch: int = 1, chs=(8, 16), size: int = 28, batch: int = 3) -> list[Result]:
    """TODO 4: the forward pass of ``UNet``, built with the reference blocks, against
    helpers.unet.UNet: output shape, parameter count, and the same output for the same state_dict."""
    chs = tuple(chs)
    out = [defined_in_notebook("UNet is defined in this notebook", UNet)]
    ref, stu = _build_unet(UNet, in_ch, chs, seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, in_ch, size, size, generator=g)  # (B, C, H, W)
    out.append(equal(f"UNet({in_ch}, {chs}) parameter count", count_parameters(stu), count_parameters(ref),
                     "keep __init__ as given; only write forward"))
    try:
        stu.load_state_dict(ref.state_dict())
    except Exception as exc:
        return out + [Result("UNet accepts the reference state_dict", False, state_dict_problem(exc), None, "",
                             "keep __init__ as given (down0, down1, down2, middle, up1, up2, out)")]
    ref.train()
    stu.train()
    y_ref = ref(x)
    try:
        y = stu(x)
    except Exception as exc:
        return out + [Result(f"UNet runs on x of shape {tuple(x.shape)}", False,
                             f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}", "an output", "",
                             "each up block takes (features from below, the skip of the same resolution); "
                             "the last layer sees the last up block's output next to the first skip")]
    out.append(shape("UNet output shape (same as the input)", y, tuple(x.shape),
                     "return self.out(...) of the last concatenation, one channel per input channel"))
    out.append(close("UNet output equals the reference's for the same state_dict", y, y_ref, atol=1e-5, rtol=1e-4,
                     hint="skips pair by resolution (the deepest skip meets the first up block); "
                          "concatenate as (from below, skip)"))
    return out


def synthetic_images(n: int, size: int = 28, seed: int = 0) -> torch.Tensor:
    """n seeded 'clothing-like' test images in [-1, 1]: a bright rectangle with a darker stripe on
    a -1 background. (n, 1, size, size)."""
    g = torch.Generator().manual_seed(seed)
    x = -torch.ones(n, 1, size, size)
    for i in range(n):
        r0, c0 = torch.randint(2, size // 3, (2,), generator=g).tolist()
        r1, c1 = torch.randint(2 * size // 3, size - 2, (2,), generator=g).tolist()
        level = float(torch.rand((), generator=g)) * 1.2 - 0.2
        x[i, :, r0:r1, c0:c1] = level
        mid = (c0 + c1) // 2
        x[i, :, r0:r1, mid - 1:mid + 1] = level - 0.6
    return x


def _train_fixed_batch(model: nn.Module, x_noisy: torch.Tensor, x0: torch.Tensor, steps: int, lr: float) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x_noisy), x0)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def check_unet_training(UNet, seed: int = 0, images: torch.Tensor | None = None, steps: int = 20, a: float = 0.5,
                        chs=(8, 16), batch: int = 8, size: int = 16, lr: float = 3e-3, slack: float = 1.15
                        ) -> list[Result]:
    """TODO 4 (training): ``steps`` Adam steps of the student's UNet (reference blocks, reference
    initial weights) on one fixed batch x_noisy = (1 - a) x0 + a * noise, predicting x0. The final
    loss must be below ``slack`` x the reference's final loss from the same start (and below the
    first loss). ``images`` (N, 1, H, W) in [-1, 1], or None for ``batch`` seeded
    :func:`synthetic_images` of ``size`` x ``size`` pixels."""
    chs = tuple(chs)
    x0 = (images[:batch] if images is not None else synthetic_images(batch, size, seed=seed)).detach().float().cpu()
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(x0.shape, generator=g)  # (B, 1, H, W)
    x_noisy = (1 - a) * x0 + a * noise  # (B, 1, H, W)
    ref, stu = _build_unet(UNet, x0.shape[1], chs, seed)
    try:
        stu.load_state_dict(ref.state_dict())  # same start; a mismatch is graded by check_unet
    except Exception:
        pass
    with torch.random.fork_rng(devices=[]):
        ref_losses = _train_fixed_batch(ref, x_noisy, x0, steps, lr)
        try:
            losses = _train_fixed_batch(stu, x_noisy, x0, steps, lr)
        except Exception as exc:
            return [Result("UNet trains", False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                           "a loss that goes down", "", "make forward run first (self-check above)")]
    bound = slack * ref_losses[-1]
    return [
        true(f"loss decreases during {steps} steps", losses[-1] < losses[0], f"{losses[0]:.4f} -> {losses[-1]:.4f}",
             "a lower final loss", "the output must depend on the trainable layers"),
        true(f"loss after {steps} steps below the bound {bound:.4f} (reference reaches {ref_losses[-1]:.4f})",
             losses[-1] <= bound, round(losses[-1], 4), f"<= {bound:.4f}",
             "compare your forward with the U-Net diagram: every skip must be concatenated"),
    ]


__all__ = ["check_conv_sizes", "check_down_block", "check_up_block", "check_unet", "check_unet_training",
           "synthetic_images", "CONV_CASES", "CONVT_CASES"]
