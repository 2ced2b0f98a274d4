"""Checks for notebook 02 (the forward and reverse process): the linear noise schedule and its
coefficients, ``q_sample`` in closed form, one reverse step ``p_sample``, the time embedding of
the U-Net and the epsilon-prediction loss (Ho et al. 2020, "Denoising Diffusion Probabilistic
Models", eqs. 4, 6, 7, 11, 14).

One function per TODO, ``check_<name>(student_obj, seed=0, ...) -> list[Result]``. Expected
values come from the ``helpers`` reference (``Schedule.linear``, ``ddpm.q_sample``,
``ddpm.p_sample``, ``unet.TimeUNet``, ``ddpm.noise_loss``) on seeded inputs, except the
hand-worked one-step example of the notebook (x0 = [0.8, -0.3], beta = 0.02, eps = [0.5, -0.7]),
whose numbers are written out below from the formula. Every check feeds the student's object
reference inputs only (schedules built with ``helpers``), so each TODO is graded on its own.
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn as nn

from .. import ddpm, unet
from ..schedules import Schedule
from . import Result, close, defined_in_notebook, shape, state_dict_problem, true

__all__ = ["SCHEDULE_KEYS", "hand_worked_example", "check_make_schedule", "check_q_sample", "check_p_sample",
           "check_time_unet", "check_noise_loss"]

# The coefficient tensors TODO 1 returns: exactly the fields of helpers.schedules.Schedule.
SCHEDULE_KEYS = ("betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                 "sqrt_one_minus_alphas_cumprod", "sqrt_recip_alphas", "posterior_variance")

_SCHEDULE_HINTS = {
    "betas": "T evenly spaced values from beta_start to beta_end, both ends included (not arange-style spacing)",
    "alphas": "alpha_t is what one step keeps of the signal's variance: one minus that step's beta",
    "alphas_cumprod": "alpha-bar_t is the running PRODUCT of the alphas up to and including step t (a product, "
                      "not a sum): alphas_cumprod[0] must equal alphas[0] (no 1 in front)",
    "alphas_cumprod_prev": "alpha-bar of the step before: alphas_cumprod moved one step later, with 1 at t = 0 "
                           "(nothing has been multiplied in before the first step), still T values",
    "sqrt_alphas_cumprod": "the square root of alphas_cumprod (not of alphas, and do not forget the sqrt)",
    "sqrt_one_minus_alphas_cumprod": "the noise's standard deviation at step t: the square root of what alpha-bar "
                                     "leaves (1 - alpha-bar), not 1 minus a square root, and not from alphas",
    "sqrt_recip_alphas": "the factor that undoes one step's shrinking: the reciprocal of a square root of the "
                         "one-step alphas (not of alphas_cumprod)",
    "posterior_variance": "beta_t times the ratio of the noise level before the step (1 - alpha-bar of the "
                          "previous step) to the one after it (1 - alpha-bar_t); it needs alphas_cumprod_prev, "
                          "so it is exactly 0 at t = 0",
}

# Schedules graded with seed 0 (the visible test); other seeds add random ones.
_FIXED_CASES = ((1000, 1e-4, 0.02), (10, 1e-3, 0.2))


def hand_worked_example() -> dict:
    """The notebook's one-step example: x0 = [0.8, -0.3], beta_1 = 0.02, eps = [0.5, -0.7].

    x1 = sqrt(1 - beta) x0 + sqrt(beta) eps = [0.86267, -0.39598]; the reverse mean with the true
    eps gives x0 back. Tensors are shaped (1, 1, 1, 2): a batch of one 1x2 "image" at t = 0 (the
    code's index of the paper's first step)."""
    beta = 0.02
    x0 = torch.tensor([0.8, -0.3]).reshape(1, 1, 1, 2)
    eps = torch.tensor([0.5, -0.7]).reshape(1, 1, 1, 2)
    x1 = torch.tensor([math.sqrt(1 - beta) * 0.8 + math.sqrt(beta) * 0.5,
                       math.sqrt(1 - beta) * -0.3 + math.sqrt(beta) * -0.7]).reshape(1, 1, 1, 2)
    return dict(sched=Schedule.from_betas(torch.tensor([beta], dtype=torch.float64)), x0=x0, eps=eps, x1=x1,
                t=torch.zeros(1, dtype=torch.long))


def _test_schedule(T: int) -> Schedule:
    """Ho et al.'s linear range rescaled to T steps (as in the notebook), capped for tiny T."""
    return Schedule.linear(T, min(1e-4 * 1000 / T, 0.05), min(0.02 * 1000 / T, 0.6))


def _get(coeffs, key: str):
    if isinstance(coeffs, dict):
        return coeffs.get(key)
    return getattr(coeffs, key, None)


def _schedule_cases(seed: int) -> list[tuple[int, float, float]]:
    if seed == 0:
        return list(_FIXED_CASES)
    g = torch.Generator().manual_seed(seed)
    T = int(torch.randint(2, 1200, (1,), generator=g))
    beta_start = float(10 ** (-5 + 2 * torch.rand(1, generator=g)))  # 1e-5 .. 1e-3
    beta_end = float(beta_start + (0.3 - beta_start) * torch.rand(1, generator=g))  # up to 0.3
    return [(T, beta_start, beta_end)]


# --------------------------------------------------------------------------- TODO 1

def check_make_schedule(make_schedule, seed: int = 0, cases=None) -> list[Result]:
    """TODO 1: ``make_schedule(T, beta_start, beta_end)`` returns the 8 coefficient tensors of
    the linear schedule, each of shape (T,), equal to ``Schedule.linear(T, beta_start, beta_end)``.

    ``cases`` is a list of (T, beta_start, beta_end); by default two fixed schedules for seed 0
    and one random schedule for any other seed."""
    results: list[Result] = []
    for T, b0, b1 in (cases or _schedule_cases(seed)):
        tag = f"T={T}, beta {b0:.3g}..{b1:.3g}"
        coeffs = make_schedule(T, b0, b1)
        ref = Schedule.linear(T, b0, b1)
        if coeffs is None:
            return [Result(f"make_schedule({tag}) returns the coefficients", False, None, "a dict",
                           "", "return the dict built at the end of the cell")]
        for key in SCHEDULE_KEYS:
            got = _get(coeffs, key)
            name = f"{key} ({tag})"
            if got is None:
                results.append(Result(name, False, "missing", "a (T,) tensor", "", f"return a key named {key!r}"))
                continue
            if not torch.is_tensor(got) or tuple(got.shape) != (T,):
                results.append(shape(f"{key} shape ({tag})", got, (T,), "one value per step: shape (T,)"))
                continue
            results.append(close(name, got, getattr(ref, key), atol=1e-6, rtol=1e-4, hint=_SCHEDULE_HINTS[key]))
    return results


# --------------------------------------------------------------------------- TODO 2

def _steps_with_abar(sched: Schedule, targets=(0.8, 0.5, 0.15)) -> torch.Tensor:
    """The steps whose alpha-bar is closest to each target (int64, shape (len(targets),))."""
    ac = sched.alphas_cumprod.double()
    return torch.stack([(ac - a).abs().argmin() for a in targets])


def check_q_sample(q_sample, seed: int = 0, shape_=(4, 1, 8, 8), T: int = 50, n_seeds: int = 20,
                   n_per_seed: int = 500) -> list[Result]:
    """TODO 2: ``q_sample(x0, t, sched, noise=None)`` = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise.

    1. the hand-worked example (one step of beta = 0.02) gives [0.8627, -0.3960];
    2. a seeded batch with one t per sample equals ``ddpm.q_sample``;
    3. with ``noise=None``, over ``n_seeds`` seeds x ``n_per_seed`` draws, the mean of x_t is
       sqrt(abar_t) x0 and its variance 1 - abar_t (within 5 standard errors).
    """
    results: list[Result] = []
    ex = hand_worked_example()
    out = q_sample(ex["x0"].clone(), ex["t"].clone(), ex["sched"], ex["eps"].clone())
    results.append(close("hand-worked example x1 = sqrt(0.98) x0 + sqrt(0.02) eps", out, ex["x1"], atol=1e-4,
                         hint="the signal keeps a share sqrt(alpha-bar_t) of x0 and the noise gets the rest of "
                              "the variance: check which coefficient multiplies which, and that both are square "
                              "roots"))

    g = torch.Generator().manual_seed(seed)
    sched = _test_schedule(T)
    B = shape_[0]
    x0 = torch.randn(shape_, generator=g).clamp(-1, 1)  # (B, C, H, W)
    t = torch.randint(0, T, (B,), generator=g)  # (B,)
    t[0] = 0
    noise = torch.randn(shape_, generator=g)  # (B, C, H, W)
    out = q_sample(x0.clone(), t.clone(), sched, noise.clone())
    results.append(shape("output shape = x0 shape", out, shape_, "return a tensor shaped like x0"))
    if torch.is_tensor(out) and tuple(out.shape) == tuple(shape_):
        results.append(close(f"x_t for a batch with t = {t.tolist()}", out, ddpm.q_sample(x0, t, sched, noise),
                             atol=1e-5, hint="each sample has its own t: look up both coefficients at that "
                             "sample's t and shape them (B, 1, 1, 1) so they broadcast over its image (ddpm.extract "
                             "does both); use the cumulative alpha-bar, not the one-step alphas or betas"))

    # statistics of the noise q_sample draws itself
    ts = _steps_with_abar(sched)  # (3,)
    k = len(ts)
    x0s = torch.tensor([0.9, -0.6, 0.3])[:k]
    x0_rep = x0s.reshape(1, k, 1, 1).expand(n_per_seed, k, 1, 1).reshape(n_per_seed * k, 1, 1, 1).contiguous()
    t_rep = ts.repeat(n_per_seed)  # (n*k,): sample i has step ts[i % k] and x0s[i % k]
    draws = []
    state = torch.get_rng_state()
    try:
        for s in range(n_seeds):
            torch.manual_seed(10_000 * (seed + 1) + s)
            draws.append(q_sample(x0_rep.clone(), t_rep.clone(), sched).reshape(n_per_seed, k).double())
    finally:
        torch.set_rng_state(state)
    xs = torch.cat(draws)  # (n_seeds * n_per_seed, k)
    n = xs.shape[0]
    abar = sched.alphas_cumprod[ts].double()  # (k,)
    mean_exp = abar.sqrt() * x0s.double()
    var_exp = 1 - abar
    results.append(close(f"mean of x_t over {n} draws (t = {ts.tolist()})", xs.mean(0), mean_exp,
                         atol=float(5 * (var_exp.max() / n).sqrt()), rtol=0,
                         hint="alpha-bar_t is the share of the VARIANCE the signal keeps, so the signal's "
                              "coefficient is its square root; scaling x0 by alpha-bar_t itself is the likely mistake"))
    results.append(close(f"variance of x_t over {n} draws", xs.var(0), var_exp,
                         atol=float(5 * var_exp.max() * math.sqrt(2 / n)), rtol=0,
                         hint="when noise is None, draw fresh standard normal noise shaped like x0; its "
                              "coefficient is the square root of 1 - alpha-bar_t, so that the variance of x_t "
                              "is 1 - alpha-bar_t"))
    return results


# --------------------------------------------------------------------------- TODO 3

def _clipped_variance(sched: Schedule) -> Schedule:
    """The schedule with posterior_variance[0] replaced by posterior_variance[1] (the "clipped"
    variance of Ho et al.'s code): noise would be added at t = 0 unless p_sample masks it."""
    pv = sched.posterior_variance.clone()
    pv[0] = pv[1]
    return dataclasses.replace(sched, posterior_variance=pv)


def check_p_sample(p_sample, seed: int = 0, shape_=(5, 1, 8, 8), T: int = 50) -> list[Result]:
    """TODO 3: ``p_sample(x_t, t, eps, sched, noise=None)``: one reverse step
    x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - abar_t) eps) + sigma_t z, with
    sigma_t^2 = posterior_variance[t] and no noise where t = 0.

    1. the hand-worked example reversed with the true eps gives x0 = [0.8, -0.3];
    2. with z = 0 it is the reference mean ``ddpm.p_mean`` (t > 0);
    3. with a given z it equals ``ddpm.p_sample(..., var_type="posterior")`` on a seeded batch;
    4. at t = 0 nothing is added, even with a schedule whose variance at t = 0 is not 0.
    """
    results: list[Result] = []
    ex = hand_worked_example()
    z = torch.tensor([1.0, -1.0]).reshape(1, 1, 1, 2)
    out = p_sample(ex["x1"].clone(), ex["t"].clone(), ex["eps"].clone(), ex["sched"], z.clone())
    results.append(close("hand-worked example reversed with the true eps gives x0", out, ex["x0"], atol=1e-4,
                         hint="with the true eps one reverse step gives x0 back: the noise is weighted by beta_t "
                              "over the SQUARE ROOT of 1 - alpha-bar_t, and the result is divided by "
                              "sqrt(alpha_t), not multiplied"))

    g = torch.Generator().manual_seed(seed)
    sched = _test_schedule(T)
    B = shape_[0]
    x_t = torch.randn(shape_, generator=g)  # (B, C, H, W)
    eps = torch.randn(shape_, generator=g)  # (B, C, H, W)
    z = torch.randn(shape_, generator=g)  # (B, C, H, W)
    t = torch.randint(1, T, (B,), generator=g)  # (B,), all > 0
    out = p_sample(x_t.clone(), t.clone(), eps.clone(), sched, torch.zeros(shape_))
    results.append(shape("output shape = x_t shape", out, shape_, "return a tensor shaped like x_t"))
    results.append(close(f"mean (z = 0) for t = {t.tolist()}", out, ddpm.p_mean(x_t, t, eps, sched), atol=1e-4,
                         hint="the mean (eq. 11) removes the scaled predicted noise from x_t, then undoes one "
                              "step's shrinking; look up every coefficient at each sample's own t, shaped "
                              "(B, 1, 1, 1)"))
    t_mix = t.clone()
    t_mix[0] = 0
    out = p_sample(x_t.clone(), t_mix.clone(), eps.clone(), sched, z.clone())
    results.append(close(f"x_(t-1) with a given z for t = {t_mix.tolist()}", out,
                         ddpm.p_sample(x_t, t_mix, eps, sched, noise=z, var_type="posterior"), atol=1e-4,
                         hint="the noise term is z times a standard deviation: the square root of the schedule's "
                              "posterior variance at t (not the variance itself, and not built from betas)"))
    clipped = _clipped_variance(sched)
    t0 = torch.zeros(B, dtype=torch.long)
    out = p_sample(x_t.clone(), t0, eps.clone(), clipped, z.clone())
    results.append(close("t = 0 adds no noise (tested with posterior_variance[0] > 0)", out,
                         ddpm.p_mean(x_t, t0, eps, clipped), atol=1e-4,
                         hint="the last step returns the mean: switch the noise term off, sample by sample, "
                              "where t = 0 (a mask over the batch), rather than trusting posterior_variance[0] "
                              "to be 0"))
    return results


# --------------------------------------------------------------------------- TODO 4

def check_time_unet(cls, seed: int = 0, chs=(8, 16), T: int = 100, batch: int = 4, size: int = 12) -> list[Result]:
    """TODO 4: the student's ``TimeUNet`` (same modules as ``helpers.unet.TimeUNet``) gives the
    reference's output when both hold the same weights, and its output depends on t."""
    results = [defined_in_notebook("TimeUNet is your own class", cls)]
    try:
        model = cls(in_ch=1, chs=tuple(chs), T=T)
    except TypeError as exc:
        return results + [Result("constructor", False, str(exc), None, "",
                                 "keep the given __init__(self, in_ch=1, chs=(32, 64), T=1000)")]
    torch.manual_seed(seed)
    ref = unet.TimeUNet(1, tuple(chs), T=T)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that eval mode is tested too
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(1 + 0.2 * torch.rand(m.running_var.shape, generator=g))
    try:
        model.load_state_dict(ref.state_dict(), strict=True)
    except RuntimeError as exc:
        return results + [Result("same parameter names as the reference", False, state_dict_problem(exc, 120),
                                 None, "", "do not rename or add modules in __init__")]
    model.eval()
    ref.eval()
    x = torch.randn(batch, 1, size, size, generator=g)  # (B, 1, H, W)
    t = torch.randint(0, T, (batch,), generator=g)  # (B,)
    t[0] = 0
    t[-1] = T - 1
    with torch.no_grad():
        out = model(x.clone(), t.clone())
        expected = ref(x, t)
    results.append(shape("output shape (B, 1, H, W)", out, (batch, 1, size, size)))
    results.append(close(f"output with the reference's weights (t = {t.tolist()})", out, expected, atol=1e-5,
                         hint="the step enters as a (B, 1) float scaled into [0, 1) by the number of steps; one "
                              "embedding is added to the middle block's output, the other to the first up "
                              "block's output (after each block, not before)"))
    with torch.no_grad():
        other = model(x.clone(), (T - 1 - t).clone())
    diff = float((other - out).abs().max()) if torch.is_tensor(other) and torch.is_tensor(out) else 0.0
    results.append(true("output depends on t", diff > 1e-5, f"max change {diff:.2g}", "> 1e-05",
                        "the time embedding must be added to the features"))
    return results


# --------------------------------------------------------------------------- TODO 5

def check_noise_loss(noise_loss, seed: int = 0, shape_=(6, 1, 8, 8), T: int = 50) -> list[Result]:
    """TODO 5: ``noise_loss(eps_fn, x0, sched, t, noise)`` = mean((eps_fn(x_t, t) - noise)^2) with
    x_t = q_sample(x0, t, sched, noise): equal to ``ddpm.noise_loss`` for a fixed function and
    for a small seeded TimeUNet; a scalar that keeps the gradient; 0 for a perfect predictor."""
    g = torch.Generator().manual_seed(seed)
    sched = _test_schedule(T)
    B = shape_[0]
    x0 = torch.randn(shape_, generator=g).clamp(-1, 1)  # (B, C, H, W)
    t = torch.randint(0, T, (B,), generator=g)  # (B,)
    noise = torch.randn(shape_, generator=g)  # (B, C, H, W)

    def eps_fixed(x, tt):  # a simple time-dependent "network"
        return 0.5 * x + 0.02 * tt.float().reshape(-1, 1, 1, 1) - 0.1

    results: list[Result] = []
    loss = noise_loss(eps_fixed, x0.clone(), sched, t.clone(), noise.clone())
    results.append(true("returns a scalar tensor", torch.is_tensor(loss) and loss.ndim == 0,
                        tuple(loss.shape) if torch.is_tensor(loss) else type(loss).__name__, "()",
                        "one 0-dim tensor for the whole batch (the mean over every element), not a Python "
                        "float or a per-sample vector"))
    results.append(close("loss for a fixed eps_fn", loss, ddpm.noise_loss(eps_fixed, x0, sched, t=t, noise=noise),
                         atol=1e-5, hint="noise x0 first with the given t and noise (q_sample) and feed that "
                                         "to eps_fn; the target is the noise, not x0; average the squared error "
                                         "over all elements, not a sum"))
    torch.manual_seed(seed)
    net = unet.TimeUNet(shape_[1], (8, 16), T=T).eval()
    loss = noise_loss(net, x0.clone(), sched, t.clone(), noise.clone())
    with torch.no_grad():
        expected = ddpm.noise_loss(net, x0, sched, t=t, noise=noise)
    results.append(close("loss for a small TimeUNet", loss.detach() if torch.is_tensor(loss) else loss, expected,
                         atol=1e-5, hint="the model must see the noisy image and the steps t, not x0"))
    results.append(true("the loss keeps the gradient (training needs it)",
                        torch.is_tensor(loss) and loss.requires_grad,
                        hint="return the loss as a tensor still attached to the graph: a Python number or a "
                             "detached tensor cannot be back-propagated"))
    perfect = noise_loss(lambda x, tt: noise, x0.clone(), sched, t.clone(), noise.clone())
    results.append(close("a model that predicts the true noise gets loss 0", perfect, 0.0, atol=1e-7,
                         hint="compare the prediction with the noise that made x_t"))
    return results
