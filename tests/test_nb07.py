"""Notebook 07 (flow matching), what is specific to it: the walkthrough's common mistakes beyond the
manifest's (those are graded by tests/test_assignments.py) are each caught by their TODO's check,
with the failing line and a hint, and the hand-worked numbers the checks and the walkthrough quote
are the arithmetic they claim, and the symptoms walkthrough 07 quotes for its mistakes are what the
notebook's self-checks print for them. In-process, no kernel, a few seconds."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from helpers import flow
from helpers.checks import nb07
from nbtools import REPO
from symptoms import Symptom, assert_quotes_hold, assert_stale_copy_caught, printed

WALKTHROUGH = REPO / "walkthroughs" / "07_Flow_Matching_Walkthrough.md"


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


# --------------------------------------------------------------------------- the walkthrough's symptoms

def _path_swapped(x0, eps, t):
    t = t.reshape(-1, 1, 1, 1)
    return t * x0 + (1 - t) * eps


def _path_not_reshaped(x0, eps, t):
    return (1 - t) * x0 + t * eps


def _velocity_negated(x0, eps):
    return x0 - eps


def _time_long(t, T=1000):
    return (t * (T - 1)).long()


def _time_times_T(t, T=1000):
    return t.float() * T


def _loss_with(t_draw=torch.rand, reduce=lambda loss: loss, use_generator=True):
    """The solution of TODO 4 with one thing changed: how t is drawn, what is done to the loss, or
    the generator left out of the draws."""
    def flow_loss(v_fn, x0, *, t=None, eps=None, generator=None):
        g = generator if use_generator else None
        t = t_draw(x0.shape[0], generator=g) if t is None else t
        eps = torch.randn(x0.shape, generator=g) if eps is None else eps
        return reduce(F.mse_loss(v_fn(flow.flow_path(x0, eps, t), t), eps - x0))
    return flow_loss


def _loss_sum(v_fn, x0, *, t=None, eps=None, generator=None):
    t = torch.rand(x0.shape[0], generator=generator) if t is None else t
    eps = torch.randn(x0.shape, generator=generator) if eps is None else eps
    return ((v_fn(flow.flow_path(x0, eps, t), t) - (eps - x0)) ** 2).sum()


def _heun_one_evaluation(v_fn, x, t, t_next):
    v1 = v_fn(x, t)
    return x + (t_next - t) * (v1 + v1) / 2


def _heun_from_trial(v_fn, x, t, t_next):
    v1 = v_fn(x, t)
    x_trial = x + (t_next - t) * v1
    v2 = v_fn(x_trial, t_next)
    return x_trial + (t_next - t) * (v1 + v2) / 2


def _e2v_no_root(x_t, eps, alpha_bar):  # 1 - alpha-bar without its square root
    return eps - (x_t - (1 - alpha_bar) * eps) / alpha_bar.sqrt()


def _straight_norm_of_sum(traj):
    flat = traj.flatten(start_dim=2)
    return (flat[1:] - flat[:-1]).sum(dim=0).norm(dim=-1) / (flat[-1] - flat[0]).norm(dim=-1)


def _shows(check, wrong, **kwargs):
    """What the notebook's self-check prints for a wrong answer (kwargs: other inputs than the default)."""
    return lambda: printed(check, _own(wrong), **kwargs)


def _solution(name: str):
    """The reference as the student's own function: what a correct answer prints."""
    def own(*args, _ref=getattr(flow, name), **kwargs):
        return _ref(*args, **kwargs)
    return _shows(getattr(nb07, f"check_{name}"), own)


_LOSS_ITEM = _loss_with(reduce=lambda loss: loss.item())
_LOSS_DETACHED = _loss_with(reduce=lambda loss: loss.detach())
_LOSS_RANDN_T = _loss_with(t_draw=torch.randn)
_LOSS_NO_GENERATOR = _loss_with(use_generator=False)

SYMPTOMS = [
    Symptom("TODO 1: t and 1 - t swapped", "got [0.575, -0.6]", _shows(nb07.check_flow_path, _path_swapped)),
    Symptom("TODO 1: t and 1 - t swapped", "t = 0 is the data end", _shows(nb07.check_flow_path, _path_swapped),
            failing=True),
    Symptom("TODO 1: t not reshaped", "The size of tensor a (6) must match the size of tensor b (8)",
            _shows(nb07.check_flow_path, _path_not_reshaped)),
    Symptom("TODO 1: t not reshaped, W = B", "t = 0 is the data end",
            _shows(nb07.check_flow_path, _path_not_reshaped, size=6, batch=6), failing=True),
    Symptom("TODO 1: t not reshaped, W = B", "x_t for every t",
            _shows(nb07.check_flow_path, _path_not_reshaped, size=6, batch=6), failing=True),
    Symptom("TODO 2: x0 - eps", "got [0.3, 0.4]", _shows(nb07.check_velocity_target, _velocity_negated)),
    Symptom("TODO 2: x0 - eps", "got -3.837, expected 3.837", _shows(nb07.check_velocity_target, _velocity_negated)),
    Symptom("TODO 3: not scaled", "t = 1 maps to the last step T - 1 = 999",
            _shows(nb07.check_time_input, _time_unscaled), failing=True),
    Symptom("TODO 3: not scaled", "got 1, expected 999", _shows(nb07.check_time_input, _time_unscaled)),
    Symptom("TODO 3: rounded", "t = 0.5 maps to 499.5 (not rounded)", _shows(nb07.check_time_input, _time_rounded),
            failing=True),
    Symptom("TODO 3: .long()", "a float tensor", _shows(nb07.check_time_input, _time_long), failing=True),
    Symptom("TODO 3: scaled by T", "got 1000, expected 999", _shows(nb07.check_time_input, _time_times_T)),
    Symptom("TODO 4: integer steps", "t drawn in [0, 1], continuous", _shows(nb07.check_flow_loss, _loss_integer_t),
            failing=True),
    Symptom("TODO 4: target eps", "loss value with given t and eps", _shows(nb07.check_flow_loss, _loss_eps_target),
            failing=True),
    Symptom("TODO 4: torch.randn for t", "t ~ U(0, 1): mean 0.5", _shows(nb07.check_flow_loss, _LOSS_RANDN_T),
            failing=True),
    Symptom("TODO 4: sum", "loss value with given t and eps: got 721.2, expected 1.878",
            _shows(nb07.check_flow_loss, _loss_sum)),
    Symptom("TODO 4: .item()", "returns a tensor: got float", _shows(nb07.check_flow_loss, _LOSS_ITEM)),
    Symptom("TODO 4: .detach()", "the loss keeps its gradient", _shows(nb07.check_flow_loss, _LOSS_DETACHED),
            failing=True),
    Symptom("TODO 4: no generator", "same generator seed -> same loss",
            _shows(nb07.check_flow_loss, _LOSS_NO_GENERATOR), failing=True),
    Symptom("TODO 5: weights swapped", "w = 0 is the conditional velocity",
            _shows(nb07.check_guided_velocity, _guidance_swapped), failing=True),
    Symptom("TODO 6: t - t_next", "got [0.65, -0.5]", _shows(nb07.check_euler_step, _euler_wrong_sign)),
    Symptom("TODO 7: one evaluation", "got [0.5, -1]", _shows(nb07.check_heun_step, _heun_one_evaluation)),
    Symptom("TODO 7: one evaluation", "two evaluations of v_fn, at t and at t_next: got [1.0],",
            _shows(nb07.check_heun_step, _heun_one_evaluation), failing=True),
    Symptom("TODO 7: second evaluation at t", "got [0.625, -1.25]", _shows(nb07.check_heun_step, _heun_at_t)),
    Symptom("TODO 7: second evaluation at t", "got [1.0, 1.0]", _shows(nb07.check_heun_step, _heun_at_t)),
    Symptom("TODO 7: no /2", "got [0.375, -0.75]", _shows(nb07.check_heun_step, _heun_no_half)),
    Symptom("TODO 7: from the trial point", "got [0.1875, -0.375]", _shows(nb07.check_heun_step, _heun_from_trial)),
    Symptom("TODO 8: x0_hat - eps", "got [0.3, 0.4]", _shows(nb07.check_eps_to_velocity, _e2v_sign)),
    Symptom("TODO 8: roots swapped", "with the true noise: eps - x0 exactly",
            _shows(nb07.check_eps_to_velocity, _e2v_roots_swapped), failing=True),
    Symptom("TODO 8: roots swapped", "max difference 1.04e+01", _shows(nb07.check_eps_to_velocity, _e2v_roots_swapped)),
    Symptom("TODO 8: 1 - alpha-bar unrooted", "with the true noise: eps - x0 exactly",
            _shows(nb07.check_eps_to_velocity, _e2v_no_root), failing=True),
    Symptom("TODO 8: 1 - alpha-bar unrooted", "max difference 3.60e-01",
            _shows(nb07.check_eps_to_velocity, _e2v_no_root)),
    Symptom("TODO 8: the solution", "max difference 1.19e-13", _solution("eps_to_velocity")),
    Symptom("TODO 9: norms over the whole batch", "got (), expected (4,)",
            _shows(nb07.check_straightness, _straight_whole_batch)),
    Symptom("TODO 9: squared norms", "a straight line gives 1", _shows(nb07.check_straightness, _straight_squared),
            failing=True),
    Symptom("TODO 9: squared norms", "got [0.2, 0.2, 0.2, 0.2]", _shows(nb07.check_straightness, _straight_squared)),
    Symptom("TODO 9: norm of the sum", "a right angle with equal legs gives sqrt(2)",
            _shows(nb07.check_straightness, _straight_norm_of_sum), failing=True),
    *(Symptom(f"{name}: the solution", f"{n}/{n} checks passed", _solution(name)) for name, n in (
        ("flow_path", 6), ("velocity_target", 4), ("time_input", 7), ("flow_loss", 10), ("guided_velocity", 4),
        ("euler_step", 4), ("heun_step", 4), ("eps_to_velocity", 6), ("straightness", 5))),
]


def test_walkthrough_symptoms_are_what_the_checks_print():
    """Each symptom walkthrough 07 quotes for a common mistake (and each expected self-check line)
    is what the notebook's self-check prints now."""
    assert_quotes_hold(WALKTHROUGH.read_text(), SYMPTOMS)


def test_a_stale_symptom_is_caught():
    """The same check on an edited copy of the walkthrough: a changed number in a quote fails."""
    assert_stale_copy_caught(WALKTHROUGH.read_text(), SYMPTOMS, 'got [0.65, -0.5]', 'got [0.65, -0.55]')
