"""Checks for notebook 03 (optimizations): GroupNorm+GELU conv block (Wu & He 2018; Hendrycks &
Gimpel 2016), space-to-depth pooling (Shi et al. 2016's pixel (un)shuffle), the sinusoidal time
embedding (Vaswani et al. 2017, as used by Ho et al. 2020), the residual block (He et al. 2016)
and DDIM sampling (Song et al. 2021, eq. 12).

One function per TODO, ``check_<name>(student_obj, seed=0, ...) -> list[Result]``. Expected
values come from the ``helpers`` reference on seeded inputs. Blocks that contain other blocks
take a ``conv_block`` argument and the sampler a ``step_fn`` argument: the checks pass the
reference there, so each TODO is graded on its own.
"""
from __future__ import annotations

import contextlib
import io

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import blocks, ddpm
from ..schedules import Schedule
from . import Result, close, defined_in_notebook, shape, state_dict_problem, true  # noqa: F401

__all__ = ["check_gelu_conv_block", "check_rearrange_pool_block", "check_sinusoidal_embedding",
           "check_residual_conv_block", "check_ddim_step", "check_ddim_sample"]


def _build(cls, *args, **kwargs):
    """Instantiate the student's class, returning (module, None) or (None, failing Result)."""
    try:
        return cls(*args, **kwargs), None
    except NotImplementedError:
        raise
    except TypeError as exc:
        return None, Result("constructor", False, str(exc), None, "",
                            "keep the signature given in the cell, e.g. (in_ch, out_ch, groups=8, conv_block=None)")


def _load_same_weights(name: str, student: nn.Module, reference: nn.Module, hint: str) -> Result:
    """Copy the reference's weights into the student's module (same parameter names required)."""
    try:
        student.load_state_dict(reference.state_dict(), strict=True)
        return Result(name, True)
    except RuntimeError as exc:
        return Result(name, False, detail=_state_dict_difference(student, reference) or state_dict_problem(exc), hint=hint)


def _state_dict_difference(student: nn.Module, reference: nn.Module, show: int = 4) -> str:
    """What differs between the two modules' parameter names and shapes, in the student's terms."""
    mine, ref = student.state_dict(), reference.state_dict()
    names = lambda ks: ", ".join(ks[:show]) + (f" and {len(ks) - show} more" if len(ks) > show else "")  # noqa: E731
    extra, lacking = [k for k in mine if k not in ref], [k for k in ref if k not in mine]
    shapes = [f"{k} is {tuple(mine[k].shape)}, the reference's {tuple(ref[k].shape)}" for k in mine
              if k in ref and mine[k].shape != ref[k].shape]
    parts = ([f"yours has {names(extra)}, which the reference does not"] if extra else []) + \
            ([f"yours lacks {names(lacking)}"] if lacking else []) + shapes[:2]
    return "; ".join(parts)


def _seeded(cls_ref, seed: int, *args, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return cls_ref(*args, **kwargs)


# --------------------------------------------------------------------------- TODO 1

def check_gelu_conv_block(cls, seed: int = 0, in_ch: int = 3, out_ch: int = 16, groups: int = 8,
                          size: int = 8, batch: int = 4) -> list[Result]:
    """TODO 1: ``GELUConvBlock(in_ch, out_ch, groups)``: Conv 3x3 (padding 1), GroupNorm, GELU in
    ``self.model``; per-sample normalisation; equal to the reference with the same weights."""
    results = [defined_in_notebook("GELUConvBlock is your own class", cls)]
    block, err = _build(cls, in_ch, out_ch, groups)
    if err:
        return results + [err]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, in_ch, size, size, generator=g) * 2 + 0.5  # (B, C, H, W)
    block.train()
    out = block(x)
    results.append(shape("output shape (B, out_ch, H, W)", out, (batch, out_ch, size, size),
                         "3x3 conv with padding=1 keeps H and W"))
    results.append(true("no BatchNorm (running statistics)",
                        not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in block.modules()),
                        hint="normalise with GroupNorm, not BatchNorm: BatchNorm mixes the samples of a batch "
                             "and keeps running statistics"))
    norms = [m for m in block.modules() if isinstance(m, nn.GroupNorm)]
    results.append(true("one nn.GroupNorm with num_groups=groups",
                        len(norms) == 1 and norms[0].num_groups == groups and norms[0].num_channels == out_ch,
                        [(m.num_groups, m.num_channels) for m in norms], [(groups, out_ch)],
                        "nn.GroupNorm(num_groups, num_channels): the number of groups comes first"))
    with torch.no_grad():
        alone = block(x[:1])  # (1, out_ch, H, W)
    results.append(close("a sample's output does not depend on the rest of the batch", alone, out[:1].detach(),
                         atol=1e-5, hint="normalise each sample on its own (GroupNorm), not across the batch"))
    ref = _seeded(blocks.GELUConvBlock, seed, in_ch, out_ch, groups)
    loaded = _load_same_weights("parameter names match the reference (self.model = nn.Sequential(conv, norm, act))",
                                block, ref, "keep the three layers (conv, norm, activation, in that order) in one "
                                "Sequential stored as self.model, with no other modules")
    results.append(loaded)
    if loaded.ok:
        with torch.no_grad():
            results.append(close("same weights -> same output as helpers.blocks.GELUConvBlock", block(x), ref(x),
                                 atol=1e-5, hint="order Conv -> GroupNorm -> GELU; GELU, not ReLU"))
    return results


# --------------------------------------------------------------------------- TODO 2

def check_rearrange_pool_block(cls, seed: int = 0, in_ch: int = 4, out_ch: int = 8, groups: int = 8,
                               size: int = 8, batch: int = 2) -> list[Result]:
    """TODO 2: ``RearrangePoolBlock(in_ch, out_ch, groups, conv_block)``: ``self.rearrange`` is
    space-to-depth (== nn.PixelUnshuffle(2), lossless), then ``self.conv`` = conv_block(4 in_ch, out_ch)."""
    results = [defined_in_notebook("RearrangePoolBlock is your own class", cls)]
    block, err = _build(cls, in_ch, out_ch, groups, conv_block=blocks.GELUConvBlock)
    if err:
        return results + [err]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, in_ch, size, size, generator=g)  # (B, C, H, W)
    with torch.no_grad():
        out = block(x)
    results.append(shape("output shape (B, out_ch, H/2, W/2)", out, (batch, out_ch, size // 2, size // 2),
                         "space-to-depth halves H and W and multiplies the channels by 4, so the conv block "
                         "after it must take 4 times in_ch channels"))
    if not hasattr(block, "rearrange"):
        return results + [Result("self.rearrange exists", False, None, None, "",
                                 "store the einops Rearrange layer as self.rearrange")]
    with torch.no_grad():
        r = block.rearrange(x)  # (B, 4C, H/2, W/2)
    results.append(shape("rearranged shape (B, 4*in_ch, H/2, W/2)", r, (batch, 4 * in_ch, size // 2, size // 2),
                         "each 2x2 patch of pixels becomes 4 channels: split H and W into (blocks of 2) in the "
                         "einops pattern and move the two patch axes into the channels"))
    if tuple(r.shape) == (batch, 4 * in_ch, size // 2, size // 2):
        results.append(close("lossless: nn.PixelShuffle(2) puts every pixel back", F.pixel_shuffle(r, 2), x,
                             atol=0, rtol=0,
                             hint="each 2x2 patch of neighbouring pixels must go to 4 channels: split each of H "
                                  "and W into (block, position inside the patch), in that order; the swapped order pairs "
                                  "pixels from the two halves of the image instead of neighbours"))
        results.append(close("rearrange equals nn.PixelUnshuffle(2)", r, F.pixel_unshuffle(x, 2), atol=0, rtol=0,
                             hint="PixelUnshuffle's channel order keeps each input channel's 4 patch pixels "
                                  "together: the channel axis first, then the patch row, then the patch column"))
        results.append(close("nothing is thrown away (sum of squares kept)", (r ** 2).sum(), (x ** 2).sum(),
                             atol=1e-3, hint="rearranging only moves values; max-pool would keep 1 in 4"))
    ref = _seeded(blocks.RearrangePoolBlock, seed, in_ch, out_ch, groups)
    loaded = _load_same_weights("parameter names match the reference (self.rearrange, self.conv)", block, ref,
                                "store the two modules as self.rearrange and self.conv; build the conv with the "
                                "conv_block argument (not a fixed class), for the rearranged channels and groups")
    results.append(loaded)
    if loaded.ok:
        with torch.no_grad():
            results.append(close("same weights -> same output as helpers.blocks.RearrangePoolBlock", block(x),
                                 ref(x), atol=1e-5, hint="forward rearranges first, then applies the conv block, "
                                 "with nothing in between"))
    return results


# --------------------------------------------------------------------------- TODO 3

def check_sinusoidal_embedding(cls, seed: int = 0, dim: int = 32, T: int = 1000, batch: int = 5) -> list[Result]:
    """TODO 3: ``SinusoidalPositionEmbedBlock(dim)``: (B,) int steps -> (B, dim) in [-1, 1],
    [sin(t w_i) | cos(t w_i)], w_i = 10000^(-i/(dim/2 - 1)); distinct for every t in [0, T)."""
    results = [defined_in_notebook("SinusoidalPositionEmbedBlock is your own class", cls)]
    emb, err = _build(cls, dim)
    if err:
        return results + [err]
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, T, (batch,), generator=g)  # (B,) int64
    out = emb(t)
    results.append(shape("output shape (B, dim)", out, (batch, dim), "concatenate sin and cos along the last dim"))
    if tuple(getattr(out, "shape", ())) != (batch, dim):
        return results
    ref = blocks.SinusoidalPositionEmbedBlock(dim)
    all_t = torch.arange(T)  # (T,)
    with torch.no_grad():
        table = emb(all_t).float()  # (T, dim)
    results.append(true("bounded in [-1, 1] for every t in [0, T)", bool(table.abs().max() <= 1 + 1e-6),
                        f"max |value| = {table.abs().max().item():.3g}", "<= 1",
                        "only sin and cos of t * w_i, no extra scaling"))
    dists = torch.cdist(table, table) + torch.eye(T) * 1e9  # (T, T), diagonal masked
    results.append(true(f"clearly distinct for every t in [0, {T})", bool(dists.min() > 0.05),
                        f"closest pair {dists.min().item():.2g} apart", "> 0.05 (Euclidean)",
                        "the frequencies must differ: geometrically spaced from 1 down to 1/10000 over the "
                        "half-dimension (the formula above the cell), applied to the integer step t, not t / T"))
    results.append(close("t = 0 gives [0, ..., 0, 1, ..., 1]", table[0], ref(all_t[:1])[0], atol=1e-6,
                         hint="sin part first, then cos part"))
    results.append(close("equals helpers.blocks.SinusoidalPositionEmbedBlock", out, ref(t), atol=1e-3,
                         hint="all the sines first, then all the cosines (concatenated, not interleaved); check "
                              "the exponent of the frequencies: i / (half - 1), as in the formula above the cell"))
    return results


# --------------------------------------------------------------------------- TODO 4

def _zero_branch(state: dict, prefix: str = "branch.1.model.1.") -> dict:
    """The reference state with the branch's last GroupNorm scale and shift set to zero: then the
    branch outputs GELU(0) = 0 everywhere."""
    state = {k: v.clone() for k, v in state.items()}
    state[prefix + "weight"].zero_()
    state[prefix + "bias"].zero_()
    return state


def check_residual_conv_block(cls, seed: int = 0, ch: int = 8, out_ch: int = 16, groups: int = 8, size: int = 8,
                              batch: int = 2) -> list[Result]:
    """TODO 4: ``ResidualConvBlock(in_ch, out_ch, groups, conv_block)``: skip(x) + branch(x),
    skip = identity or a 1x1 conv; equal to the reference with the same weights."""
    results = [defined_in_notebook("ResidualConvBlock is your own class", cls)]
    g = torch.Generator().manual_seed(seed)
    for cin, cout in ((ch, ch), (ch, out_ch)):
        label = f"in_ch={cin}, out_ch={cout}"
        block, err = _build(cls, cin, cout, groups, conv_block=blocks.GELUConvBlock)
        if err:
            return results + [err]
        x = torch.randn(batch, cin, size, size, generator=g)  # (B, C, H, W)
        with torch.no_grad():
            out = block(x)
        results.append(shape(f"{label}: output shape", out, (batch, cout, size, size),
                             "the output is the sum of the two paths, so both must give out_ch channels at the "
                             "input's H and W"))
        ref = _seeded(blocks.ResidualConvBlock, seed, cin, cout, groups)
        loaded = _load_same_weights(f"{label}: parameter names match (self.branch, self.skip)", block, ref,
                                    "self.branch holds the two conv blocks in a Sequential (the first changes the "
                                    "channels, the second keeps them); self.skip is an identity when the channels "
                                    "match, else a 1x1 conv")
        results.append(loaded)
        if not loaded.ok:
            continue
        with torch.no_grad():
            results.append(close(f"{label}: same weights -> same output as the reference", block(x), ref(x),
                                 atol=1e-5, hint="add the two paths, each applied to the same input x (not "
                                 "one after the other, and not the branch alone)"))
            block.load_state_dict(_zero_branch(ref.state_dict()))
            zeroed = block(x)
        if cin == cout:
            results.append(close(f"{label}: branch zeroed -> the block is the identity", zeroed, x, atol=1e-6,
                                 hint="when the channel counts match, the skip path must carry x through unchanged (no "
                                      "layer on it, not even a 1x1 convolution)"))
        else:
            skip = getattr(block, "skip", None)
            is_1x1 = isinstance(skip, nn.Conv2d) and tuple(skip.kernel_size) == (1, 1)
            results.append(true(f"{label}: skip is a 1x1 nn.Conv2d", is_1x1, type(skip).__name__, "Conv2d(k=1)",
                                "when the channel counts differ the skip must change them: a convolution with "
                                "kernel size 1 from in_ch to out_ch, not 3x3"))
            if is_1x1:
                results.append(close(f"{label}: branch zeroed -> the block is its 1x1 skip", zeroed,
                                     F.conv2d(x, skip.weight, skip.bias), atol=1e-5,
                                     hint="with the branch at zero only the skip is left: the skip takes x itself "
                                          "and its output is added to the branch's"))
    return results


# --------------------------------------------------------------------------- TODO 5

def _step_inputs(seed: int, T: int, shape_=(3, 1, 6, 6)):
    g = torch.Generator().manual_seed(seed)
    sched = Schedule.linear(T)
    x_t = torch.randn(shape_, generator=g)  # (B, C, H, W)
    eps = torch.randn(shape_, generator=g)
    z = torch.randn(shape_, generator=g)
    t = int(torch.randint(2, T, (1,), generator=g))
    return sched, x_t, eps, z, t


def check_ddim_step(fn, seed: int = 0, T: int = 1000) -> list[Result]:
    """TODO 5: ``ddim_step(x_t, t, t_prev, eps, sched, eta=0.0, noise=None)`` (Song et al. eq. 12)."""
    results = [defined_in_notebook("ddim_step is your own function", fn)]
    sched, x_t, eps, z, t = _step_inputs(seed, T)
    t_prev = max(0, t - T // 20)  # a DDIM jump over several steps
    got = fn(x_t, t, t_prev, eps, sched, eta=0.0)
    want = ddpm.ddim_step(x_t, t, t_prev, eps, sched, eta=0.0)
    results.append(close(f"eta=0, t={t} -> t_prev={t_prev}: equals the reference", got, want, atol=1e-4,
                         hint="estimate x0 from x_t and eps, then put it back at the noise level of t_prev: "
                              "both coefficients are square roots of alpha-bar terms at t_prev, and alpha-bar is "
                              "alphas_cumprod, not alphas"))
    got2 = fn(x_t, t, t_prev, eps, sched, eta=0.0, noise=z)
    results.append(close("eta=0 is deterministic: the noise argument is ignored", got2, got, atol=1e-6,
                         hint="sigma_t = eta * (...) is 0 when eta = 0, so no noise is added"))
    results.append(close("t_prev = -1 (the last step) returns x0_hat", fn(x_t, t, -1, eps, sched, eta=0.0),
                         ddpm.predict_x0(x_t, t, eps, sched), atol=1e-3, rtol=1e-3,
                         hint="for t_prev = -1 use abar_prev = 1"))
    got = fn(x_t, t, t_prev, eps, sched, eta=1.0, noise=z)
    want = ddpm.ddim_step(x_t, t, t_prev, eps, sched, eta=1.0, noise=z)
    results.append(close(f"eta=1, t={t} -> t_prev={t_prev}: equals the reference (same noise)", got, want,
                         atol=1e-4, hint="sigma is eta times the DDPM posterior standard deviation between t and "
                                         "t_prev (eq. 16, with its square roots); the eps direction gets the "
                                         "variance left after sigma^2, and sigma multiplies the given noise"))
    # one step at a time with eta = 1 is DDPM: the same mean and the posterior variance
    mean = fn(x_t, t, t - 1, eps, sched, eta=1.0, noise=torch.zeros_like(z))
    results.append(close("eta=1, t -> t-1: the mean equals DDPM's p_mean", mean, ddpm.p_mean(x_t, t, eps, sched),
                         atol=1e-4, hint="the eps direction gets only the variance left at t_prev after the fresh noise "
                                      "takes its share sigma^2; leaving sigma out of it is the likely mistake "
                                      "(invisible at eta = 0)"))
    noisy = fn(x_t, t, t - 1, eps, sched, eta=1.0, noise=z)
    sigma = ((noisy - mean) * z).sum() / (z * z).sum()  # least-squares scale of the added noise
    results.append(close("eta=1, t -> t-1: the added noise has the posterior variance", sigma ** 2,
                         sched.posterior_variance[t], atol=1e-6, rtol=1e-3,
                         hint="one step with eta = 1 adds noise with DDPM's posterior variance: sigma is a "
                              "standard deviation (check the square roots) and it multiplies the noise argument"))
    return results


# --------------------------------------------------------------------------- TODO 6

class _GaussianEps:
    """The exact noise predictor for data N(x0, s^2 I): eps(x_t, t) = sqrt(1 - abar_t) (x_t - sqrt(abar_t) x0)
    / (abar_t s^2 + 1 - abar_t). With s = 0 (a data set of one image) DDIM with eta = 0 must land on x0;
    with s > 0 the samples depend on the starting noise and on the noise added per step.
    Records the steps it is called at."""

    def __init__(self, x0: torch.Tensor, sched: Schedule, s: float = 0.0):
        self.x0, self.sched, self.s, self.ts = x0, sched, s, []

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not (torch.is_tensor(t) and t.shape == (x.shape[0],)):
            raise TypeError(f"eps_fn expects t as a (B,) tensor, got {t!r}")
        self.ts.append(int(t[0]))
        a = self.sched.alphas_cumprod[t.long()].reshape(-1, 1, 1, 1)  # (B, 1, 1, 1)
        return (1 - a).sqrt() * (x - a.sqrt() * self.x0) / (a * self.s ** 2 + 1 - a)


def check_ddim_sample(fn, seed: int = 0, T: int = 200, steps: int = 10, shape_=(2, 1, 8, 8)) -> list[Result]:
    """TODO 6: ``ddim_sample(eps_fn, shape, sched, steps, eta, generator, step_fn)`` with the reference
    ``step_fn``: same timesteps, noise order and result as ``helpers.ddpm.ddim_sample``."""
    results = [defined_in_notebook("ddim_sample is your own function", fn)]
    sched = Schedule.linear(T)
    g0 = torch.Generator().manual_seed(seed)
    x0 = torch.rand(shape_, generator=g0) * 1.2 - 0.6  # (B, C, H, W) in [-0.6, 0.6]

    def run(f, eta, s=0.5, **kw):
        eps_fn = _GaussianEps(x0, sched, s)
        with contextlib.redirect_stderr(io.StringIO()):  # a progress bar must not reach stderr
            out = f(eps_fn, shape_, sched, steps=steps, eta=eta, generator=torch.Generator().manual_seed(seed + 1),
                    **kw)
        return out, eps_fn.ts

    got, ts = run(fn, 0.0, step_fn=ddpm.ddim_step)
    want, want_ts = run(lambda *a, **k: ddpm.ddim_sample(*a, progress=False, **k), 0.0)
    results.append(shape("output shape", got, shape_, "return x after the last step"))
    results.append(true(f"{steps} network calls at the timesteps ddim_timesteps(T, {steps})", ts == want_ts,
                        ts if len(ts) <= 12 else f"{len(ts)} calls", want_ts,
                        "take the steps from ddim_timesteps for sched.T and steps, noisiest first; each step jumps "
                        "to the next entry, and the last one to -1 (x0)"))
    results.append(close("eta=0: equals helpers.ddpm.ddim_sample (same starting noise)", got, want, atol=1e-4,
                         hint="start from standard normal noise drawn with the given generator (before any other "
                              "draw), and clamp the final images to [-1, 1]"))
    exact, _ = run(fn, 0.0, s=0.0, step_fn=ddpm.ddim_step)
    results.append(close("eta=0 with the exact eps of a one-image data set lands on that image", exact, x0, atol=1e-3,
                         hint="DDIM with eta = 0 follows the deterministic path to x0_hat"))
    again, _ = run(fn, 0.0, step_fn=ddpm.ddim_step)
    results.append(close("deterministic: the same seed gives the same images", again, got, atol=0, rtol=0))
    got1, _ = run(fn, 1.0, step_fn=ddpm.ddim_step)
    want1, _ = run(lambda *a, **k: ddpm.ddim_sample(*a, progress=False, **k), 1.0)
    results.append(close("eta=1: equals the reference (same generator, same noise order)", got1, want1, atol=1e-4,
                         hint="every random number comes from the given generator, in the reference's order: "
                              "x_T first, then one fresh noise tensor per step when eta > 0, handed to the step "
                              "function as its noise"))
    return results
