"""Notebook 07 (flow matching), what is specific to it: the walkthrough's common mistakes beyond the
manifest's (those are graded by tests/test_assignments.py) are each caught by their TODO's check,
with the failing line and a hint, and the hand-worked numbers the checks and the walkthrough quote
are the arithmetic they claim. In-process, no kernel, well under a second."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from helpers import flow
from helpers.checks import nb07


def _own(fn):
    """The function as if a student had written it in the notebook (checks.defined_in_notebook)."""
    fn.__module__ = "__main__"
    return fn


def _time_unscaled(t, T=1000):
    return t.float()


def _time_rounded(t, T=1000):
    return (t * (T - 1)).round()


def _loss_integer_t(v_fn, x0, *, t=None, eps=None, generator=None):
    B = x0.shape[0]
    t = torch.randint(0, 1000, (B,), generator=generator).float() if t is None else t
    eps = torch.randn(x0.shape, generator=generator) if eps is None else eps
    return F.mse_loss(v_fn(flow.flow_path(x0, eps, t), t), eps - x0)


def _loss_eps_target(v_fn, x0, *, t=None, eps=None, generator=None):
    t = torch.rand(x0.shape[0], generator=generator) if t is None else t
    eps = torch.randn(x0.shape, generator=generator) if eps is None else eps
    return F.mse_loss(v_fn(flow.flow_path(x0, eps, t), t), eps)


def _guidance_swapped(v_cond, v_uncond, w):
    return w * v_cond + (1 - w) * v_uncond


def _euler_wrong_sign(x, t, t_next, v):
    return x + (t - t_next) * v


def _heun_at_t(v_fn, x, t, t_next):
    v1 = v_fn(x, t)
    v2 = v_fn(x + (t_next - t) * v1, t)
    return x + (t_next - t) * (v1 + v2) / 2


def _heun_no_half(v_fn, x, t, t_next):
    v1 = v_fn(x, t)
    v2 = v_fn(x + (t_next - t) * v1, t_next)
    return x + (t_next - t) * (v1 + v2)


def _e2v_sign(x_t, eps, alpha_bar):
    return (x_t - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt() - eps


def _e2v_roots_swapped(x_t, eps, alpha_bar):
    return eps - (x_t - alpha_bar.sqrt() * eps) / (1 - alpha_bar).sqrt()


def _straight_squared(traj):
    flat = traj.flatten(start_dim=2)
    return (flat[1:] - flat[:-1]).pow(2).sum(-1).sum(0) / (flat[-1] - flat[0]).pow(2).sum(-1)


def _straight_whole_batch(traj):
    flat = traj.flatten(start_dim=1)
    return (flat[1:] - flat[:-1]).norm(dim=-1).sum() / (flat[-1] - flat[0]).norm()


WRONG = [  # (check, wrong answer, a check line that must fail)
    (nb07.check_time_input, _time_unscaled, "t = 1 maps to the last step"),
    (nb07.check_time_input, _time_rounded, "(not rounded)"),
    (nb07.check_flow_loss, _loss_integer_t, "continuous"),
    (nb07.check_flow_loss, _loss_eps_target, "loss value with given t and eps"),
    (nb07.check_guided_velocity, _guidance_swapped, "w = 0 is the conditional velocity"),
    (nb07.check_euler_step, _euler_wrong_sign, "hand-worked"),
    (nb07.check_heun_step, _heun_at_t, "two evaluations"),
    (nb07.check_heun_step, _heun_no_half, "hand-worked"),
    (nb07.check_eps_to_velocity, _e2v_sign, "hand-worked"),
    (nb07.check_eps_to_velocity, _e2v_roots_swapped, "DDIM step == Euler step"),
    (nb07.check_straightness, _straight_squared, "a straight line gives 1"),
    (nb07.check_straightness, _straight_whole_batch, "one number per path"),
]


@pytest.mark.parametrize("check, wrong, line", WRONG, ids=[w.__name__.strip("_") for _, w, _ in WRONG])
def test_a_walkthrough_mistake_fails_its_check_with_a_hint(check, wrong, line):
    results = check(_own(wrong), seed=0)
    failed = [r for r in results if not r.ok]
    assert any(line in r.name for r in failed), [r.line for r in results]
    assert all(r.hint for r in failed if line in r.name), [r.line for r in failed]


def test_the_reference_passes_every_check_and_a_re_export_is_refused():
    for name in ("flow_path", "velocity_target", "time_input", "flow_loss", "guided_velocity", "euler_step",
                 "heun_step", "eps_to_velocity", "straightness"):
        ref = getattr(flow, name)

        def own(*args, _ref=ref, **kwargs):
            return _ref(*args, **kwargs)

        check = getattr(nb07, f"check_{name}")
        assert all(check(_own(own), seed=1)), name
        refused = [r for r in check(ref, seed=1) if not r.ok]
        assert [r.name for r in refused] == [f"{name} is your own"], (name, [r.line for r in refused])


def test_hand_worked_numbers_are_the_stated_arithmetic():
    x0, eps, t = nb07.HAND_X0, nb07.HAND_EPS, nb07.HAND_T
    assert nb07.HAND_XT == pytest.approx([(1 - t) * a + t * b for a, b in zip(x0, eps)])
    assert nb07.HAND_V == pytest.approx([b - a for a, b in zip(x0, eps)])
    ab = nb07.HAND_AB
    assert nb07.HAND_DDPM_XT == pytest.approx([math.sqrt(ab) * a + math.sqrt(1 - ab) * b for a, b in zip(x0, eps)])
    # Heun on dx/dt = t x from 1 to 0.5: v1 = x, trial 0.5 x, v2 = 0.25 x, x - 0.5 * 0.625 x
    assert nb07.HAND_HEUN_OUT == pytest.approx([0.6875 * x for x in nb07.HAND_HEUN_X])
    assert abs(0.6875 - math.exp(-0.375)) < 3e-4   # close to the exact solution, unlike Euler's 0.5
