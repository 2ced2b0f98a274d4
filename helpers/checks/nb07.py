"""Checks for notebook 07 (bonus: flow matching on notebook 06's U-Net). One function per TODO;
each builds its inputs on a seeded generator and compares with the reference in ``helpers.flow``
(plus hand-worked numbers), so a graded test depends only on its own TODO.

Convention (the course's): t = 0 is data, t = 1 is noise, x_t = (1 - t) x0 + t eps, velocity
eps - x0, sampling from t = 1 down to t = 0.

References: Lipman et al. 2023 (flow matching), Liu et al. 2023 (rectified flow), Karras et al.
2022 (Heun's method for diffusion ODEs), Song et al. 2021 (DDIM), Ho & Salimans 2022 (guidance).
"""
from __future__ import annotations

import math
from dataclasses import fields

import torch
import torch.nn.functional as F

from . import Result, close, defined_in_notebook, shape, true
from .. import flow as ref
from ..ddpm import ddim_step
from ..schedules import Schedule

# Hand-worked numbers (walkthrough 07): x0 = [0.8, -0.3], eps = [0.5, -0.7], t = 0.25.
HAND_X0 = [0.8, -0.3]
HAND_EPS = [0.5, -0.7]
HAND_T = 0.25
HAND_XT = [0.725, -0.4]        # 0.75 * x0 + 0.25 * eps
HAND_V = [-0.3, -0.4]          # eps - x0
HAND_AB = 0.64                 # alpha-bar: sqrt 0.8, sqrt(1 - .) 0.6
HAND_DDPM_XT = [0.94, -0.66]   # 0.8 * x0 + 0.6 * eps
# Heun on dx/dt = t x from t = 1 to 0.5, x = [1, -2]: v1 = x, trial x - 0.5 x = 0.5 x, v2 = 0.25 x,
# x - 0.5 (1.25 x / 2) = 0.6875 x (exact: x exp(-0.375) = 0.6873 x; Euler alone: 0.5 x)
HAND_HEUN_X = [1.0, -2.0]
HAND_HEUN_OUT = [0.6875, -1.375]


def _img(values, dtype=torch.float32) -> torch.Tensor:
    """A list of numbers as one image (1, 1, 1, n)."""
    return torch.tensor(values, dtype=dtype).reshape(1, 1, 1, -1)


def _batch(seed: int, batch: int = 6, size: int = 8, channels: int = 1):
    """x0 in [-1, 1], eps ~ N(0, I) (B, C, H, W) and one time per image (B,) with both ends."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(batch, channels, size, size, generator=g) * 2 - 1
    eps = torch.randn(batch, channels, size, size, generator=g)
    t = torch.rand(batch, generator=g)
    t[0], t[-1] = 0.0, 1.0
    return x0, eps, t


def _t_images(t, x: torch.Tensor) -> torch.Tensor:
    """A float, 0-d or (B,) time -> something that broadcasts over x (B, C, H, W)."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    return t.reshape(-1, *([1] * (x.ndim - 1))) if t.ndim == 1 else t


class _TinyVelocity(torch.nn.Module):
    """A fixed, seeded stand-in velocity predictor v(x, t): a 3x3 conv plus a t-dependent term.
    Accepts t as a float, a 0-d or a (B,) tensor, and records every call."""

    def __init__(self, seed: int, channels: int = 1):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.conv = torch.nn.Conv2d(channels, channels, 3, padding=1)
        self.calls = []

    def forward(self, x, t):
        self.calls.append((x.detach().clone(), torch.as_tensor(t).detach().clone()))
        tt = _t_images(t, x)
        return self.conv(x) * (1 + tt) + 0.5 * tt


# --------------------------------------------------------------------------- TODO 1

def check_flow_path(fn, seed: int = 0, size: int = 8, batch: int = 6) -> list[Result]:
    """``fn(x0, eps, t)`` = (1 - t) x0 + t eps, t (B,) one time per image."""
    res = [defined_in_notebook("flow_path is your own", fn)]
    hand = fn(_img(HAND_X0), _img(HAND_EPS), torch.tensor([HAND_T]))
    res.append(close("hand-worked: x0=[0.8, -0.3], eps=[0.5, -0.7], t=0.25", hand, _img(HAND_XT), atol=1e-6,
                     hint="at t = 0.25 the point is three quarters data and one quarter noise"))
    x0, eps, t = _batch(seed, batch, size)
    out = fn(x0.clone(), eps.clone(), t.clone())
    res.append(shape("x_t shape", out, x0.shape,
                     hint="t holds one time per image, shape (B,): it must broadcast over each image's channels and pixels, not against the image axes (the likely mistake is multiplying the (B,) vector directly)"))
    if not res[-1]:
        return res
    res.append(close("t = 0 is the data end: x_t = x0", out[0], x0[0], atol=1e-5,
                     hint="in this course t = 0 is data and t = 1 is noise: check which of t and 1 - t weighs which"))
    res.append(close("t = 1 is the noise end: x_t = eps", out[-1], eps[-1], atol=1e-5,
                     hint="at t = 1 nothing of the data is left"))
    res.append(close("x_t for every t", out, ref.flow_path(x0, eps, t), atol=1e-5,
                     hint="each image uses its own t: a straight line between its x0 and its eps"))
    return res


# --------------------------------------------------------------------------- TODO 2

def check_velocity_target(fn, seed: int = 0, size: int = 8, batch: int = 6) -> list[Result]:
    """``fn(x0, eps)`` = d x_t / dt = eps - x0."""
    res = [defined_in_notebook("velocity_target is your own", fn)]
    hand = fn(_img(HAND_X0), _img(HAND_EPS))
    res.append(close("hand-worked: x0=[0.8, -0.3], eps=[0.5, -0.7]", hand, _img(HAND_V), atol=1e-6,
                     hint="the path runs from the data (t = 0) to the noise (t = 1): its velocity points from x0 "
                          "towards eps"))
    x0, eps, t = _batch(seed, batch, size)
    out = fn(x0.clone(), eps.clone())
    res.append(shape("v shape", out, x0.shape))
    if not res[-1]:
        return res
    h = 1e-3  # the derivative of the path, by a finite difference in float64 (independent of helpers)
    t64, a, b = t.double().clamp(max=1 - h).reshape(-1, 1, 1, 1), x0.double(), eps.double()
    slope = (((1 - t64 - h) * a + (t64 + h) * b) - ((1 - t64) * a + t64 * b)) / h
    res.append(close("equals d x_t / dt of the path (finite difference)", out, slope, atol=1e-4,
                     hint="differentiate (1 - t) x0 + t eps with respect to t; mind the sign of the x0 term"))
    return res


# --------------------------------------------------------------------------- TODO 3

def check_time_input(fn, seed: int = 0, T: int = 1000, batch: int = 7) -> list[Result]:
    """``fn(t, T)`` = t (T - 1): continuous times (B,) in [0, 1] to the U-Net's step range, as floats."""
    res = [defined_in_notebook("time_input is your own", fn)]
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(batch, generator=g)
    t[0], t[1], t[-1] = 0.0, 0.5, 1.0
    out = fn(t.clone(), T)
    res.append(shape("shape (B,)", out, (batch,), hint="one time per image in, one number per image out"))
    if not res[-1]:
        return res
    res.append(true("a float tensor", out.dtype.is_floating_point, out.dtype, "a float dtype",
                    hint="keep the time continuous: no rounding, no conversion to integers"))
    res.append(close(f"t = 1 maps to the last step T - 1 = {T - 1}", out[-1], float(T - 1), atol=1e-3,
                     hint="the U-Net's sinusoidal embedding was made for steps 0 .. T - 1: t in [0, 1] alone gives "
                          "almost the same features for every t; stretch [0, 1] onto that range"))
    res.append(close("t = 0 maps to step 0", out[0], 0.0, atol=1e-4))
    res.append(close(f"t = 0.5 maps to {0.5 * (T - 1):g} (not rounded)", out[1], 0.5 * (T - 1), atol=1e-3,
                     hint="keep the time continuous: no rounding, no conversion to integers"))
    res.append(close("every t", out, ref.time_input(t, T), atol=1e-3, rtol=1e-5))
    return res


# --------------------------------------------------------------------------- TODO 4

def check_flow_loss(fn, seed: int = 0, size: int = 8, batch: int = 6) -> list[Result]:
    """``fn(v_fn, x0, *, t=None, eps=None, generator=None)``: MSE(v_fn(x_t, t), eps - x0), drawing
    t ~ U(0, 1) per image and eps ~ N(0, I) when they are not given."""
    res = [defined_in_notebook("flow_loss is your own", fn)]
    x0, eps, t = _batch(seed, batch, size)
    net = _TinyVelocity(seed)
    loss = fn(net, x0.clone(), t=t.clone(), eps=eps.clone())
    res.append(true("returns a tensor", torch.is_tensor(loss), type(loss).__name__, "a 0-dim tensor"))
    if not res[-1]:
        return res
    res.append(shape("a scalar (0-dim)", loss, (),
                     hint="one number for the batch: the mean of the squared error over every element"))
    if not res[-1]:
        return res
    with torch.no_grad():
        want = F.mse_loss(net(ref.flow_path(x0, eps, t), t), eps - x0)
    res.append(close("loss value with given t and eps", loss, want, atol=1e-5, rtol=1e-4,
                     hint="the network sees the point on the path at time t (and t itself) and is compared with "
                          "the path's velocity, not with the noise or the data"))
    res.append(true("the loss keeps its gradient", bool(loss.requires_grad), hint="do not detach or use .item()"))
    # the random draws: a big batch of tiny images
    n = 4000
    g = torch.Generator().manual_seed(seed + 17)
    x0b = torch.rand(n, 1, 2, 2, generator=g) * 2 - 1
    rec = _TinyVelocity(seed)
    with torch.no_grad():
        l1 = fn(rec, x0b, generator=torch.Generator().manual_seed(seed))
    if len(rec.calls) != 1:
        res.append(true("one call of v_fn per loss", False, len(rec.calls), 1))
        return res
    xt, tt = rec.calls[0]
    tt = tt.double().flatten()
    res.append(true("t drawn: one time per image, shape (B,)", tt.numel() == n, tt.numel(), n,
                    hint="draw a separate time for every image of the batch"))
    if not res[-1]:
        return res
    frac = tt - tt.round()
    res.append(true("t drawn in [0, 1], continuous (not integer steps)",
                    bool(((tt >= 0) & (tt <= 1)).all()) and float(frac.abs().max()) > 0, 
                    f"[{tt.min():.3g}, {tt.max():.3g}]", "values in [0, 1]",
                    hint="flow matching uses continuous times, uniform on [0, 1]"))
    tol = 5 * math.sqrt(1 / 12 / n)
    res.append(true("t ~ U(0, 1): mean 0.5", abs(float(tt.mean()) - 0.5) < tol and float(tt.std()) > 0.25,
                    round(float(tt.mean()), 3), 0.5, hint="uniform on [0, 1], not normal"))
    keep = tt > 0.2  # recover eps from x_t = (1 - t) x0 + t eps
    tk = tt[keep].reshape(-1, 1, 1, 1)
    e = ((xt.double()[keep] - (1 - tk) * x0b.double()[keep]) / tk).flatten()
    res.append(true("eps drawn ~ N(0, I)", abs(float(e.mean())) < 0.05 and abs(float(e.std()) - 1) < 0.05,
                    f"mean {float(e.mean()):.3f}, std {float(e.std()):.3f}", "mean 0, std 1",
                    hint="the noise is standard normal, the shape of x0"))
    with torch.no_grad():
        l2 = fn(_TinyVelocity(seed), x0b, generator=torch.Generator().manual_seed(seed))
    res.append(true("same generator seed -> same loss", torch.is_tensor(l2) and torch.equal(l1, l2),
                    hint="draw t and eps with the generator you are given"))
    return res


# --------------------------------------------------------------------------- TODO 5

def check_guided_velocity(fn, seed: int = 0, size: int = 8, batch: int = 4) -> list[Result]:
    """``fn(v_cond, v_uncond, w)`` = (1 + w) v_cond - w v_uncond."""
    res = [defined_in_notebook("guided_velocity is your own", fn)]
    g = torch.Generator().manual_seed(seed)
    vc = torch.randn(batch, 1, size, size, generator=g)
    vu = torch.randn(batch, 1, size, size, generator=g)
    res.append(close("w = 0 is the conditional velocity", fn(vc.clone(), vu.clone(), 0.0), vc, atol=1e-6,
                     hint="without guidance only the velocity with the class is left"))
    for w in (1.0, 3.5 + seed % 3):
        res.append(close(f"w = {w:g}", fn(vc.clone(), vu.clone(), w), ref.guided_velocity(vc, vu, w), atol=1e-5,
                         hint="guidance moves further along (conditional - unconditional): the conditional "
                              "velocity gets the weight 1 + w"))
    return res


# --------------------------------------------------------------------------- TODO 6

def check_euler_step(fn, seed: int = 0, size: int = 8, batch: int = 5) -> list[Result]:
    """``fn(x, t, t_next, v)`` = x + (t_next - t) v; t, t_next Python floats."""
    res = [defined_in_notebook("euler_step is your own", fn)]
    hand = fn(_img(HAND_XT), HAND_T, 0.0, _img(HAND_V))
    res.append(close("hand-worked: from x_0.25=[0.725, -0.4] with v=[-0.3, -0.4] to t=0", hand, _img(HAND_X0),
                     atol=1e-6, hint="going from noise to data t decreases: the step t_next - t is negative"))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 1, size, size, generator=g)
    v = torch.randn(batch, 1, size, size, generator=g)
    t, t_next = [(0.7, 0.45), (1.0, 0.75), (0.3, 0.0)][seed % 3]
    res.append(close("a zero-length step changes nothing", fn(x.clone(), t, t, v.clone()), x, atol=1e-6))
    res.append(close(f"from t={t:g} to {t_next:g}", fn(x.clone(), t, t_next, v.clone()),
                     ref.euler_step(x, t, t_next, v), atol=1e-5,
                     hint="the step moves along v for the time that passes, t_next - t"))
    return res


# --------------------------------------------------------------------------- TODO 7

def check_heun_step(fn, seed: int = 0, size: int = 8, batch: int = 5) -> list[Result]:
    """``fn(v_fn, x, t, t_next)``: Heun's step (2 evaluations of v_fn)."""
    res = [defined_in_notebook("heun_step is your own", fn)]
    calls = []

    def v_lin(x, t):  # dx/dt = t x
        calls.append(float(torch.as_tensor(t).flatten()[0]))
        return _t_images(t, x) * x

    hand = fn(v_lin, _img(HAND_HEUN_X), 1.0, 0.5)
    res.append(close("hand-worked: dx/dt = t x from t=1 to 0.5, x=[1, -2]", hand, _img(HAND_HEUN_OUT), atol=1e-6,
                     hint="Heun averages two velocities: the one at the start and the one at the end of a trial "
                          "Euler step (an Euler step alone gives [0.5, -1])"))
    res.append(true("two evaluations of v_fn, at t and at t_next", calls == [1.0, 0.5], calls, [1.0, 0.5],
                    hint="evaluate the velocity once where you are (t) and once at the trial point (t_next)"))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 1, size, size, generator=g)
    t, t_next = [(0.8, 0.55), (1.0, 0.5), (0.25, 0.0)][seed % 3]
    net = _TinyVelocity(seed)
    with torch.no_grad():
        out = fn(net, x.clone(), t, t_next)
        want = ref.heun_step(_TinyVelocity(seed), x, t, t_next)
    res.append(close(f"from t={t:g} to {t_next:g} with a small network as v", out, want, atol=1e-5,
                     hint="the trial point is an Euler step with the first velocity; the final step starts again "
                          "from x, with the mean of the two velocities"))
    return res


# --------------------------------------------------------------------------- TODO 8

def _double(sched: Schedule) -> Schedule:
    return Schedule(**{f.name: getattr(sched, f.name).double() for f in fields(sched)})


def check_eps_to_velocity(fn, seed: int = 0, size: int = 8, batch: int = 6) -> list[Result]:
    """``fn(x_t, eps, alpha_bar)``: x0_hat = (x_t - sqrt(1 - ab) eps) / sqrt(ab), return eps - x0_hat;
    alpha_bar (B, 1, 1, 1). Then DDIM's step = an Euler step in flow coordinates, to float precision."""
    res = [defined_in_notebook("eps_to_velocity is your own", fn)]
    hand = fn(_img(HAND_DDPM_XT), _img(HAND_EPS), torch.full((1, 1, 1, 1), HAND_AB))
    res.append(close("hand-worked: x_t=[0.94, -0.66], eps=[0.5, -0.7], alpha-bar=0.64", hand, _img(HAND_V),
                     atol=1e-5, hint="first recover the clean image that x_t and eps imply (notebook 06's x0 "
                                     "prediction), then take the flow's velocity eps - x0"))
    sched = _double(Schedule.linear(400, 2.5e-4, 0.05) if seed % 2 == 0 else Schedule.cosine(300 + seed))
    g = torch.Generator().manual_seed(seed)
    x0 = (torch.rand(batch, 1, size, size, generator=g, dtype=torch.float64) * 2 - 1)
    eps = torch.randn(batch, 1, size, size, generator=g, dtype=torch.float64)
    ts = torch.randint(0, sched.T, (batch,), generator=g)
    ab = sched.alphas_cumprod[ts].reshape(-1, 1, 1, 1)  # (B, 1, 1, 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    out = fn(x_t.clone(), eps.clone(), ab.clone())
    res.append(shape("v shape", out, x_t.shape))
    if not res[-1]:
        return res
    res.append(close("with the true noise: eps - x0 exactly", out, eps - x0, atol=1e-8,
                     hint="to recover x0, remove the noise part of x_t (the noise scaled by the noise level) and undo the shrinking of the signal; swapping the two square-root coefficients, or using 1 - alpha-bar without its square root, is the likely mistake"))
    eps_hat = torch.randn(batch, 1, size, size, generator=g, dtype=torch.float64)  # a network's (wrong) guess
    res.append(close("with another eps (a network's guess)", fn(x_t.clone(), eps_hat.clone(), ab.clone()),
                     ref.eps_to_velocity(x_t, eps_hat, ab), atol=1e-8))
    # DDIM (eta = 0) from t to t_prev == an Euler step from tau_t to tau_prev in y = x / s
    worst = 0.0
    pairs = [(sched.T - 1, sched.T - 1 - sched.T // 8), (sched.T // 2, sched.T // 3), (sched.T // 5, -1)]
    for t, t_prev in pairs:
        ab_t = sched.alphas_cumprod[t]
        ab_prev = sched.alphas_cumprod[t_prev] if t_prev >= 0 else torch.ones((), dtype=torch.float64)
        x = torch.randn(batch, 1, size, size, generator=g, dtype=torch.float64)
        e = torch.randn(batch, 1, size, size, generator=g, dtype=torch.float64)
        want = ddim_step(x, t, t_prev, e, sched)
        y, tau = ref.ddpm_to_flow(x, ab_t)
        _, tau_prev = ref.ddpm_to_flow(x, ab_prev)
        v = fn(x.clone(), e.clone(), torch.full((batch, 1, 1, 1), float(ab_t), dtype=torch.float64))
        got = ref.flow_to_ddpm(ref.euler_step(y, tau, tau_prev, v), ab_prev)
        worst = max(worst, float((got - want).abs().max()))
    res.append(true("DDIM step == Euler step in flow coordinates (3 step pairs, float64)", worst < 1e-9,
                    f"max difference {worst:.2e}", "< 1e-9",
                    hint="the identity holds only with the exact velocity eps - x0_hat: recheck x0_hat"))
    return res


# --------------------------------------------------------------------------- TODO 9

def check_straightness(fn, seed: int = 0, size: int = 6, batch: int = 4) -> list[Result]:
    """``fn(traj)``: traj (K+1, B, C, H, W) -> (B,) path length / end-to-end distance."""
    res = [defined_in_notebook("straightness is your own", fn)]
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, 1, size, size, generator=g)
    b = torch.randn(batch, 1, size, size, generator=g)
    s = torch.linspace(0, 1, 6).reshape(-1, 1, 1, 1, 1)
    line = (1 - s) * a + s * b  # (6, B, 1, H, W): straight
    out = fn(line.clone())
    res.append(shape("one number per path, shape (B,)", out, (batch,),
                     hint="measure each image's path on its own: norms over all of an image's pixels"))
    if not res[-1]:
        return res
    res.append(close("a straight line gives 1", out, torch.ones(batch), atol=1e-4,
                     hint="the length of the path (the sum of the lengths of its steps) over the distance from its "
                          "first to its last state"))
    corner = torch.zeros(3, 1, 1, 1, 2)
    corner[1, ..., 0] = 1.0
    corner[2, ..., 0], corner[2, ..., 1] = 1.0, 1.0  # (0, 0) -> (1, 0) -> (1, 1)
    res.append(close("a right angle with equal legs gives sqrt(2)", fn(corner), torch.full((1,), math.sqrt(2)),
                     atol=1e-5, hint="two steps of length 1 each, end-to-end distance sqrt(2)"))
    walk = torch.cumsum(torch.randn(9, batch, 1, size, size, generator=g), dim=0)
    res.append(close("a random walk", fn(walk.clone()), ref.straightness(walk), atol=1e-4, rtol=1e-4,
                     hint="Euclidean norms (square root of the sum of squares), per image, over all its pixels"))
    return res
