"""Checks for notebook 06 (assessment: a class-conditioned DDPM on MNIST with classifier-free
guidance). One function per TODO; each builds its inputs from the ``helpers`` reference on a
seeded generator, so a graded test depends only on its own TODO.

References: Ho et al. 2020 (DDPM: eqs. 4, 11, 14, the schedule), Ho & Salimans 2022 (classifier-
free guidance: context dropout, the guided noise), notebook 03's blocks (``helpers.blocks``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import Result, close, defined_in_notebook, equal, finite, shape, true
from .. import blocks as B
from ..ddpm import guided_eps as ref_guided_eps
from ..ddpm import p_sample as ref_p_sample
from ..ddpm import q_sample as ref_q_sample
from ..schedules import Schedule, cosine_beta_schedule, linear_beta_schedule

COEFF_KEYS = ("alphas", "alphas_cumprod", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod")
BLOCK_PLACES = {  # place in the U-Net -> (reference class, why)
    "input": (B.ResidualConvBlock, "the first block keeps 28x28 and learns a residual on top of a 1x1 skip"),
    "down": (B.DownBlock, "two GELUConvBlocks then space-to-depth pooling: halves H and W"),
    "middle": (B.GELUConvBlock, "the bottleneck keeps its size: one 3x3 conv + GroupNorm + GELU"),
    "time": (B.SinusoidalPositionEmbedBlock, "the integer step t becomes sin/cos features first"),
    "embed": (B.EmbedBlock, "a vector (time features or one-hot class) -> (B, C, 1, 1) through Linear-GELU-Linear"),
    "up": (B.UpBlock, "concatenate the skip, transposed conv doubles H and W"),
}
P_DROP_RANGE = (0.05, 0.3)
W_RANGE = (1.0, 5.0)


def _betas(seed: int) -> torch.Tensor:
    """A schedule per seed: the notebook's own (seed 0), a cosine one, random sorted betas."""
    if seed % 3 == 0:
        return linear_beta_schedule(400, 2.5e-4, 0.05)
    if seed % 3 == 1:
        return cosine_beta_schedule(60 + seed)
    g = torch.Generator().manual_seed(seed)
    return torch.sort(torch.rand(37, generator=g, dtype=torch.float64) * 0.2 + 1e-3).values


def _sched(seed: int) -> Schedule:
    return Schedule.from_betas(_betas(seed))


def _batch(seed: int, batch: int = 6, size: int = 8, channels: int = 1):
    g = torch.Generator().manual_seed(seed)
    sched = _sched(seed)
    x = torch.rand(batch, channels, size, size, generator=g) * 2 - 1  # (B, C, H, W) in [-1, 1]
    t = torch.randint(0, sched.T, (batch,), generator=g)  # (B,)
    t[0], t[-1] = 0, sched.T - 1  # both ends of the chain
    noise = torch.randn(batch, channels, size, size, generator=g)  # (B, C, H, W)
    return sched, x, t, noise


# --------------------------------------------------------------------------- TODO 1

def check_schedule_coefficients(fn, seed: int = 0) -> list[Result]:
    """``fn(betas) -> dict`` with the four coefficient tensors of the schedule, each (T,)."""
    betas = _betas(seed)
    ref = Schedule.from_betas(betas)
    out = fn(betas.clone())
    if not isinstance(out, dict):
        return [Result("returns a dict", False, type(out).__name__, "dict with keys " + ", ".join(COEFF_KEYS))]
    res = [true(f"has key {k!r}", k in out, hint="return a dict with exactly these keys") for k in COEFF_KEYS]
    if not all(res):
        return res
    hints = {
        "alphas": "alpha_t is what one step keeps of the signal's variance: one minus that step's beta",
        "alphas_cumprod": "alpha-bar_t is the running PRODUCT of the alphas up to t (a product, not a sum)",
        "sqrt_alphas_cumprod": "how much of x0 survives to step t: the square root of the cumulative product, alpha-bar_t (the likely mistake is the root of the single step's alpha_t)",
        "sqrt_one_minus_alphas_cumprod": "the noise level at step t: the square root of the variance that alpha-bar_t leaves for the noise (likely mistakes: using the single step's alpha, or subtracting after the square root)",
    }
    for k in COEFF_KEYS:
        res.append(shape(f"{k} shape", out[k], betas.shape))
        if res[-1]:
            res.append(close(f"{k} (T={len(betas)})", out[k], getattr(ref, k), atol=1e-5, rtol=1e-4, hint=hints[k]))
    return res


# --------------------------------------------------------------------------- TODO 2

def check_q_sample(fn, seed: int = 0, size: int = 8, batch: int = 6) -> list[Result]:
    """``fn(x0, t, sched, noise)`` = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise."""
    sched, x0, t, noise = _batch(seed, batch, size)
    out = fn(x0.clone(), t.clone(), sched, noise.clone())
    res = [shape("x_t shape", out, x0.shape, hint="each sample has its own t, so each gets its own coefficient, shaped to broadcast over its channels and pixels (notebook 02's lookup helper does this)")]
    if not res[0]:
        return res
    want = ref_q_sample(x0, t, sched, noise)
    res.append(close("x_t at t=0 is almost x0", out[0], want[0], atol=1e-4,
                     hint="at t = 0 almost no noise is added, so the x0 coefficient must be close to 1 there: "
                          "it is a square root of alpha-bar, looked up at each sample's own t"))
    res.append(close("x_t at t=T-1 is almost pure noise", out[-1], want[-1], atol=1e-4,
                     hint="at the last step x_t is almost pure noise: the noise coefficient is the square root of "
                          "what alpha-bar leaves (1 - alpha-bar), not 1 minus a square root"))
    res.append(close("x_t for every t", out, want, atol=1e-4,
                     hint="both coefficients are SQUARE ROOTS of alpha-bar terms, indexed by each sample's t"))
    return res


# --------------------------------------------------------------------------- TODO 3

def check_p_sample(fn, seed: int = 0, size: int = 8, batch: int = 6) -> list[Result]:
    """``fn(x_t, t, eps, sched, noise)``: one reverse step with the posterior variance."""
    sched, x_t, t, noise = _batch(seed, batch, size)
    eps = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(seed + 101))  # (B, C, H, W)
    out = fn(x_t.clone(), t.clone(), eps.clone(), sched, noise.clone())
    res = [shape("x_{t-1} shape", out, x_t.shape)]
    if not res[0]:
        return res
    want = ref_p_sample(x_t, t, eps, sched, noise=noise)
    res.append(close("no noise at t = 0", out[0], want[0], atol=1e-4,
                     hint="the last step (t = 0) returns the mean alone: the added noise must be switched off for the samples whose t is 0, and only for them"))
    mean_only = ref_p_sample(x_t, t, eps, sched, noise=torch.zeros_like(noise))
    res.append(close("the mean (noise switched off)", fn(x_t.clone(), t.clone(), eps.clone(), sched,
                                                         torch.zeros_like(noise)), mean_only, atol=1e-4,
                     hint="the mean removes the predicted noise (scaled by beta_t over the noise level of x_t) and "
                          "then undoes one step's shrinking (divide by sqrt(alpha_t)); check which square roots"))
    res.append(close("x_{t-1} for every t", out, want, atol=1e-4,
                     hint="if the mean passes, look at the added noise: it is scaled by a standard deviation, the square root of the posterior variance at t, not by the variance itself or by beta_t"))
    return res


# --------------------------------------------------------------------------- TODO 4

def check_blocks(blocks, seed: int = 0) -> list[Result]:
    """``blocks`` maps each place of the U-Net to the class from notebook 03 that belongs there."""
    if not isinstance(blocks, dict):
        return [Result("BLOCKS is a dict", False, type(blocks).__name__, "dict")]
    places = list(BLOCK_PLACES)
    if seed:  # hidden tests look at the places in another order: same answers
        g = torch.Generator().manual_seed(seed)
        places = [places[i] for i in torch.randperm(len(places), generator=g).tolist()]
    res = []
    for place in places:
        cls, why = BLOCK_PLACES[place]
        got = blocks.get(place)
        res.append(Result(f"BLOCKS[{place!r}]", got is cls, getattr(got, "__name__", got), cls.__name__, "", why))
    return res


# --------------------------------------------------------------------------- TODO 5

def check_context_mask(fn, seed: int = 0) -> list[Result]:
    """``fn(batch_size, drop_prob, generator=None)`` -> (B, 1) float of 0/1, 1 = keep the class."""
    p = [0.1, 0.2, 0.5, 0.3][seed % 4]
    n = 20000 + 7 * seed
    g = torch.Generator().manual_seed(seed)
    m = fn(n, p, generator=g)
    res = [shape("mask shape", m, (n, 1), hint="one keep/drop value per sample, as a column that broadcasts over the one-hot (B, 10); a flat vector of batch_size values is the likely mistake")]
    if not res[0]:
        return res
    res.append(true("float dtype", m.dtype.is_floating_point, m.dtype, "a float dtype",
                    hint="the mask multiplies a float one-hot: return floats, not bools or integers"))
    res.append(true("values are 0 or 1", bool(((m == 0) | (m == 1)).all()), hint="draw a 0/1 coin per sample (a Bernoulli draw), not the probabilities themselves"))
    keep = float(m.float().mean())
    tol = 5 * math.sqrt(p * (1 - p) / n)
    res.append(true(f"fraction kept ~ 1 - drop_prob = {1 - p:g}", abs(keep - (1 - p)) < tol, round(keep, 4),
                    round(1 - p, 4), hint="1 = KEEP the class with probability 1 - drop_prob (not drop_prob)"))
    m2 = fn(n, p, generator=torch.Generator().manual_seed(seed))
    res.append(true("same generator seed -> same mask", torch.equal(m, m2),
                    hint="use the generator you are given for the random draw, so the same seed gives the same mask"))
    res.append(true("drop_prob = 0 keeps everything", bool((fn(64, 0.0) == 1).all())))
    res.append(true("drop_prob = 1 drops everything", bool((fn(64, 1.0) == 0).all())))
    return res


# --------------------------------------------------------------------------- TODO 6

class _TinyEps(torch.nn.Module):
    """A fixed, seeded stand-in noise predictor (a 3x3 conv plus a t-dependent bias)."""

    def __init__(self, seed: int, channels: int = 1):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x, t):
        return self.conv(x) + (t.float() / 100).reshape(-1, 1, 1, 1)


def check_diffusion_loss(fn, seed: int = 0, size: int = 8, batch: int = 6) -> list[Result]:
    """``fn(eps_fn, x_t, t, noise)`` = mean over all elements of (eps_fn(x_t, t) - noise)^2."""
    sched, x0, t, noise = _batch(seed, batch, size)
    x_t = ref_q_sample(x0, t, sched, noise)
    with torch.random.fork_rng():
        net = _TinyEps(seed)
    loss = fn(net, x_t, t, noise)
    res = [true("returns a tensor", torch.is_tensor(loss), type(loss).__name__, "a 0-dim tensor")]
    if not res[0]:
        return res
    res.append(shape("a scalar (0-dim)", loss, (), hint="one number for the batch: average the squared error over every element (not a sum)"))
    if not res[-1]:
        return res
    want = F.mse_loss(net(x_t, t), noise)
    res.append(close("loss value", loss, want, atol=1e-5, rtol=1e-4,
                     hint="the target is the NOISE that made x_t; squared error, MEAN over all elements"))
    res.append(true("differentiable", loss.requires_grad, hint="the loss must stay connected to the network's parameters: converting it to a Python number or computing it without gradients leaves the optimiser nothing to follow"))
    perfect = fn(lambda x, tt: noise.clone(), x_t, t, noise)
    res.append(close("a perfect prediction gives 0", perfect, 0.0, atol=1e-7))
    return res


# --------------------------------------------------------------------------- TODO 7

def check_context_batch(one_hot_fn, p_drop, seed: int = 0, n_classes: int = 10) -> list[Result]:
    """``P_DROP`` in a sensible range and ``one_hot_fn(labels) -> (B, n_classes)`` float one-hot."""
    res = [true(f"P_DROP in [{P_DROP_RANGE[0]}, {P_DROP_RANGE[1]}]",
                isinstance(p_drop, (int, float)) and P_DROP_RANGE[0] <= float(p_drop) <= P_DROP_RANGE[1],
                p_drop, "e.g. 0.1",
                hint="drop the class ~10-20% of the time (Ho & Salimans 2022): enough to learn the "
                     "unconditional noise, rare enough not to weaken the conditional one")]
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, n_classes, (17 + seed,), generator=g)  # (B,)
    labels[0], labels[1] = 0, n_classes - 1
    c = one_hot_fn(labels.clone(), n_classes)
    res.append(shape("one-hot shape", c, (len(labels), n_classes), hint="one row per label, one column per class"))
    if not res[-1]:
        return res
    res.append(true("float dtype", c.dtype.is_floating_point, c.dtype, "float32",
                    hint="one-hot encodings come out as integers until converted, and the network's Linear layers need floats"))
    res.append(close("one-hot values", c, F.one_hot(labels, n_classes).float(), atol=0,
                     hint="row i has a single 1 in the column of its label and zeros elsewhere"))
    return res


# --------------------------------------------------------------------------- TODO 8

def check_guided_eps(fn, seed: int = 0, size: int = 8, batch: int = 4) -> list[Result]:
    """``fn(eps_cond, eps_uncond, w)`` = (1 + w) eps_cond - w eps_uncond."""
    g = torch.Generator().manual_seed(seed)
    ec = torch.randn(batch, 1, size, size, generator=g)  # (B, C, H, W)
    eu = torch.randn(batch, 1, size, size, generator=g)
    w = [2.0, 0.5, 3.7, 7.0][seed % 4]
    res = [close("w = 0 is the conditional prediction", fn(ec.clone(), eu.clone(), 0.0), ec, atol=1e-6,
                 hint="with w = 0 guidance is off and the result is exactly the conditional prediction; weights of w and 1 - w (the interpolation form) are the likely mistake")]
    res.append(close(f"w = {w:g}", fn(ec.clone(), eu.clone(), w), ref_guided_eps(ec, eu, w), atol=1e-5,
                     hint="guidance pushes AWAY from the unconditional prediction: the conditional one gets weight "
                          "1 + w and the unconditional one -w (the weights add up to 1)"))
    return res


# --------------------------------------------------------------------------- TODO 9

def check_guidance_w(w, seed: int = 0) -> list[Result]:
    """A guidance scale in the range the project's measurements support."""
    ok_type = isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(float(w))
    res = [true("GUIDANCE_W is a number", ok_type, type(w).__name__, "float")]
    if ok_type:
        res.append(true(f"{W_RANGE[0]:g} <= GUIDANCE_W <= {W_RANGE[1]:g}", W_RANGE[0] <= float(w) <= W_RANGE[1], w,
                        f"in [{W_RANGE[0]:g}, {W_RANGE[1]:g}]",
                        hint="look at your sweep: w = 0 falls well short of the 95% gate, and past the "
                             "plateau a larger w gains no accuracy and loses diversity"))
    return res


__all__ = ["check_schedule_coefficients", "check_q_sample", "check_p_sample", "check_blocks", "check_context_mask",
           "check_diffusion_loss", "check_context_batch", "check_guided_eps", "check_guidance_w", "COEFF_KEYS",
           "BLOCK_PLACES", "P_DROP_RANGE", "W_RANGE", "defined_in_notebook", "equal", "finite"]
