"""Notebook 06 (assessment), what is specific to it: solution == helpers twins, checks reject common
mistakes, points, the graded solution run's gate, and (slow) the full-profile run that must pass
the gate on real MNIST. The contract of every notebook (grading of the solution, the untouched
copy and the manifest's mistakes) is tests/test_assignments.py."""
from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys

import nbformat
import pytest
import torch
import torch.nn.functional as F

import nbtools
from helpers import checks
from helpers.checks import nb06
from helpers.ddpm import context_mask as ref_context_mask
from helpers.ddpm import guided_eps as ref_guided_eps
from helpers.ddpm import p_sample as ref_p_sample
from helpers.ddpm import q_sample as ref_q_sample
from helpers.schedules import Schedule
from helpers.unet import ConditionalUNet
from symptoms import Symptom, assert_quotes_hold, assert_stale_copy_caught, printed, problems

NB = nbtools.source_notebook("06_assessment")
REPO = nbtools.REPO
SOLUTIONS = ["todo1_schedule", "todo2_q_sample", "todo3_p_sample", "todo4_blocks", "todo5_context_mask",
             "todo6_loss", "todo7_context", "todo8_cfg", "todo9_w"]
PREAMBLE = """
import torch, torch.nn as nn, torch.nn.functional as F
from helpers import Schedule, checks
from helpers.blocks import *
from helpers.checks import nb06
from helpers.ddpm import extract
from helpers.unet import ConditionalUNet
"""
judge_missing = not (REPO / "helpers" / "weights" / "mnist_judge.pt").is_file()


def _nb():
    return nbformat.read(str(NB), as_version=4)


@pytest.fixture(scope="module")
def ns():
    return nbtools.solution_namespace(NB, SOLUTIONS, preamble=PREAMBLE)


def _ok(results) -> bool:
    return all(r.ok for r in results)


# --------------------------------------------------------------------------- (d) structure

def test_points():
    cells = _nb().cells
    assert [c.metadata["nbgrader"]["grade_id"] for c in cells if c.metadata.get("nbgrader", {}).get("solution")] \
        == SOLUTIONS
    assert sum(c.metadata["nbgrader"]["points"] for c in cells if c.metadata.get("nbgrader", {}).get("grade")) == 18


# --------------------------------------------------------------------------- (b) twins

def test_solutions_match_helpers(ns):
    g = torch.Generator().manual_seed(3)
    sched = Schedule.linear(400, 2.5e-4, 0.05)
    out = ns["schedule_coefficients"](sched.betas.double())
    for k in nb06.COEFF_KEYS:
        assert torch.allclose(out[k].float(), getattr(sched, k), atol=1e-6), k
    x0 = torch.rand(5, 1, 28, 28, generator=g) * 2 - 1
    t = torch.tensor([0, 1, 50, 200, 399])
    noise = torch.randn(5, 1, 28, 28, generator=g)
    assert torch.allclose(ns["q_sample"](x0, t, sched, noise), ref_q_sample(x0, t, sched, noise), atol=1e-6)
    eps = torch.randn(5, 1, 28, 28, generator=g)
    assert torch.allclose(ns["p_sample"](x0, t, eps, sched, noise), ref_p_sample(x0, t, eps, sched, noise=noise),
                          atol=1e-6)
    m1 = ns["context_mask"](1000, 0.1, generator=torch.Generator().manual_seed(7))
    m2 = ref_context_mask(1000, 0.1, generator=torch.Generator().manual_seed(7))
    assert torch.equal(m1, m2)
    assert torch.equal(ns["one_hot_labels"](torch.tensor([3, 0, 9])), F.one_hot(torch.tensor([3, 0, 9]), 10).float())
    assert torch.allclose(ns["guided_eps"](x0, eps, 2.5), ref_guided_eps(x0, eps, 2.5))
    loss = ns["diffusion_loss"](lambda x, tt: x * 0.5, x0, t, noise)
    assert torch.allclose(loss, F.mse_loss(x0 * 0.5, noise))


def test_digit_unet_is_the_conditional_unet(ns):
    """The notebook's DigitUNet (built from BLOCKS) equals helpers.unet.ConditionalUNet, seed for seed."""
    src = next(c.source for c in _nb().cells if c.cell_type == "code" and c.source.startswith("class DigitUNet"))
    src = src.split("\n\nseed_everything")[0]
    exec(compile(src, "<DigitUNet>", "exec"), ns)
    torch.manual_seed(0)
    a = ns["DigitUNet"]((16, 32), 400).eval()
    torch.manual_seed(0)
    b = ConditionalUNet(chs=(16, 32), T=400).eval()
    assert list(a.state_dict()) == list(b.state_dict())
    x = torch.randn(3, 1, 28, 28)
    t = torch.tensor([0, 100, 399])
    c = torch.eye(10)[[1, 5, 7]]
    mask = torch.tensor([[1.0], [0.0], [1.0]])
    with torch.no_grad():
        assert torch.allclose(a(x, t, c, mask), b(x, t, c, mask))


# --------------------------------------------------------------------------- (c) checks vs mistakes

def _wrong_schedule_cumsum(betas):
    a = 1 - betas
    ac = torch.cumsum(a, 0)
    return {"alphas": a, "alphas_cumprod": ac, "sqrt_alphas_cumprod": ac.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1 - ac).abs().sqrt()}


def _wrong_schedule_alpha_noise(betas):
    a = 1 - betas
    ac = torch.cumprod(a, 0)
    return {"alphas": a, "alphas_cumprod": ac, "sqrt_alphas_cumprod": ac.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1 - a).sqrt()}


def _wrong_q_no_sqrt(x0, t, sched, noise):
    from helpers.ddpm import extract
    return extract(sched.alphas_cumprod, t, x0.shape) * x0 + extract(1 - sched.alphas_cumprod, t, x0.shape) * noise


def _wrong_p_noise_at_zero(x_t, t, eps, sched, noise):
    from helpers.ddpm import extract
    mean = ref_p_sample(x_t, t, eps, sched, noise=torch.zeros_like(noise))
    return mean + extract(sched.betas.sqrt(), t, x_t.shape) * noise  # sigma = sqrt(beta), also at t = 0


def _wrong_p_variance(x_t, t, eps, sched, noise):
    from helpers.ddpm import extract
    mean = ref_p_sample(x_t, t, eps, sched, noise=torch.zeros_like(noise))
    return mean + (t > 0).float().reshape(-1, 1, 1, 1) * extract(sched.posterior_variance, t, x_t.shape) * noise


def _wrong_mask_inverted(batch_size, drop_prob, generator=None):
    return torch.bernoulli(torch.full((batch_size, 1), float(drop_prob)), generator=generator)


def _wrong_loss_sum(eps_fn, x_t, t, noise):
    return ((eps_fn(x_t, t) - noise) ** 2).sum()


def _wrong_loss_x0_target(eps_fn, x_t, t, noise):
    return F.mse_loss(eps_fn(x_t, t), x_t)


def _wrong_one_hot_int(labels, n_classes=10):
    return F.one_hot(labels, n_classes)


def _wrong_cfg_gamma(eps_c, eps_u, w):
    return w * eps_c + (1 - w) * eps_u


@pytest.mark.parametrize("check, good, bads", [
    (nb06.check_schedule_coefficients, "schedule_coefficients", [_wrong_schedule_cumsum, _wrong_schedule_alpha_noise]),
    (nb06.check_q_sample, "q_sample", [_wrong_q_no_sqrt]),
    (nb06.check_p_sample, "p_sample", [_wrong_p_noise_at_zero, _wrong_p_variance]),
    (nb06.check_context_mask, "context_mask", [_wrong_mask_inverted]),
    (nb06.check_diffusion_loss, "diffusion_loss", [_wrong_loss_sum, _wrong_loss_x0_target]),
    (nb06.check_guided_eps, "guided_eps", [_wrong_cfg_gamma]),
])
def test_checks_accept_reference_reject_mistakes(ns, check, good, bads):
    for seed in (0, 1, 2):
        assert _ok(check(ns[good], seed=seed)), [r.line for r in check(ns[good], seed=seed) if not r.ok]
    for bad in bads:
        assert not _ok(check(bad, seed=0)), bad.__name__


def test_checks_blocks_context_and_w(ns):
    assert _ok(nb06.check_blocks(ns["BLOCKS"])) and _ok(nb06.check_blocks(ns["BLOCKS"], seed=3))
    from helpers import blocks as B
    wrong = {**ns["BLOCKS"], "down": B.BasicDownBlock, "middle": B.ResidualConvBlock}
    bad = nb06.check_blocks(wrong)
    assert sum(not r.ok for r in bad) == 2
    assert _ok(nb06.check_context_batch(ns["one_hot_labels"], ns["P_DROP"]))
    assert not _ok(nb06.check_context_batch(_wrong_one_hot_int, 0.1))
    assert not _ok(nb06.check_context_batch(ns["one_hot_labels"], 0.9))  # keep-probability confused with drop
    assert _ok(nb06.check_guidance_w(ns["GUIDANCE_W"]))
    assert not _ok(nb06.check_guidance_w(0.0)) and not _ok(nb06.check_guidance_w(20.0))
    assert not _ok(nb06.check_guidance_w("2"))


def test_self_check_prints_got_expected_hint(ns, capsys):
    assert checks.self_check(nb06.check_guided_eps, _wrong_cfg_gamma) is False
    out = capsys.readouterr().out
    assert "\u2717" in out and "expected" in out and "Hint:" in out


# --------------------------------------------------------------------------- (a) execution

@pytest.mark.slow
def test_solution_run_exports_and_gates(graded_demo):
    """The demo class's complete student as the grader ran it (tests/test_assignments.py checks
    every notebook's self-checks, errors and graded cells): the notebook ran its own gate, and the
    grader's gate (post-grade, smoke profile: pipeline only) loaded the exported model."""
    from contract import load_result, output_text, solution_notebook
    assert "GATE" in output_text(solution_notebook(graded_demo, "06_assessment"))
    gate = next(t for t in load_result(graded_demo[0], "complete_06", "06_assessment")["tests"] if t["grade_id"] == "gate")
    assert gate["status"] == "passed" and "pipeline only" in gate["message"], gate


@pytest.mark.slow
@pytest.mark.skipif(judge_missing, reason="helpers/weights/mnist_judge.pt not built yet")
def test_full_profile_passes_the_gate(tmp_path):
    """The issue's "must show": the instructor notebook, full profile, CI's CPU, real MNIST."""
    env_backup = os.environ.get("COURSE_DEVICE")
    os.environ["COURSE_DEVICE"] = "cpu"
    try:
        nb = nbtools.execute(NB, profile="full", timeout=3600, cwd=tmp_path)  # CPU-seconds: 2 threads, and contention inflates CPU time
    finally:
        if env_backup is None:
            os.environ.pop("COURSE_DEVICE", None)
        else:
            os.environ["COURSE_DEVICE"] = env_backup
    text = nbtools.output_text(nb)
    m = re.search(r"GATE (PASSED|FAILED): accuracy ([\d.]+)%", text)
    assert m, text[-2000:]
    print(f"\nnotebook 06, full profile: gate {m.group(1)} with accuracy {m.group(2)}%")
    assert m.group(1) == "PASSED" and float(m.group(2)) >= 95.0
    # the grader's view: a fresh process, only the exported file
    model = tmp_path / "assessment_model.pt2"
    p = subprocess.run([sys.executable, "-m", "helpers.gate", str(model), "--json", str(tmp_path / "r.json")],
                       capture_output=True, text=True, cwd=REPO, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.returncode == 0, p.stdout + p.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] and abs(report["accuracy"] - float(m.group(2)) / 100) < 1e-9


# --------------------------------------------------------------------------- the walkthrough's symptoms

WALKTHROUGH = REPO / "walkthroughs" / "06_Assessment_DDPM_Walkthrough.md"


def _wrong_q_swapped(x0, t, sched, noise):
    from helpers.ddpm import extract
    return extract(sched.sqrt_one_minus_alphas_cumprod, t, x0.shape) * x0 + extract(sched.sqrt_alphas_cumprod, t,
                                                                                     x0.shape) * noise


def _wrong_p_mean_abar(x_t, t, eps, sched, noise):
    from helpers.ddpm import extract
    coef = extract(sched.betas / sched.sqrt_one_minus_alphas_cumprod, t, x_t.shape)
    mean = extract(sched.sqrt_alphas_cumprod, t, x_t.shape) * (x_t - coef * eps)  # should be sqrt_recip_alphas
    sigma = extract(sched.posterior_variance.sqrt(), t, x_t.shape)
    return mean + (t > 0).float().reshape(-1, 1, 1, 1) * sigma * noise


def _wrong_p_no_mask(x_t, t, eps, sched, noise):  # the solution without its t = 0 switch
    from helpers.ddpm import extract
    mean = ref_p_sample(x_t, t, eps, sched, noise=torch.zeros_like(noise))
    return mean + extract(sched.posterior_variance.sqrt(), t, x_t.shape) * noise


def _wrong_loss_item(eps_fn, x_t, t, noise):
    return F.mse_loss(eps_fn(x_t, t), noise).item()


def _blocks_with_basic_down() -> str:
    from helpers import blocks as B
    ns = nbtools.solution_namespace(NB, SOLUTIONS, preamble=PREAMBLE)
    return printed(nb06.check_blocks, {**ns["BLOCKS"], "down": B.BasicDownBlock})


def _p_drop(value) -> str:
    ns = nbtools.solution_namespace(NB, SOLUTIONS, preamble=PREAMBLE)
    return printed(nb06.check_context_batch, ns["one_hot_labels"], value)


SYMPTOMS = [
    Symptom("TODO 1: cumsum", "got 390, expected 3.636e-05", lambda: printed(nb06.check_schedule_coefficients,
                                                                               _wrong_schedule_cumsum)),
    Symptom("TODO 1: cumsum", "alpha-bar_t is the running PRODUCT",
            lambda: printed(nb06.check_schedule_coefficients, _wrong_schedule_cumsum)),
    Symptom("TODO 1: sqrt(1 - alphas)", "sqrt_one_minus_alphas_cumprod (T=400)",
            lambda: printed(nb06.check_schedule_coefficients, _wrong_schedule_alpha_noise), failing=True),
    Symptom("TODO 2: no square roots", "x_t at t=0 is almost x0", lambda: printed(nb06.check_q_sample, _wrong_q_no_sqrt),
            failing=True),
    Symptom("TODO 2: no square roots", "x_t at t=T-1 is almost pure noise",
            lambda: printed(nb06.check_q_sample, _wrong_q_no_sqrt), failing=True),
    Symptom("TODO 2: no square roots", "x_t for every t", lambda: printed(nb06.check_q_sample, _wrong_q_no_sqrt),
            failing=True),
    Symptom("TODO 3: sigma = sqrt(beta), noise also at t = 0", "no noise at t = 0",
            lambda: printed(nb06.check_p_sample, _wrong_p_noise_at_zero), failing=True),
    Symptom("TODO 3: the posterior sigma without the t = 0 switch", "4/4 checks passed",
            lambda: printed(nb06.check_p_sample, _wrong_p_no_mask)),
    Symptom("TODO 3: the variance for sigma", "x_{t-1} for every t", lambda: printed(nb06.check_p_sample,
                                                                                   _wrong_p_variance), failing=True),
    Symptom("TODO 3: the variance for sigma", "scaled by a standard deviation … not by the variance itself",
            lambda: printed(nb06.check_p_sample, _wrong_p_variance)),
    Symptom("TODO 3: sqrt_alphas_cumprod for sqrt_recip_alphas", "the mean (noise switched off)",
            lambda: printed(nb06.check_p_sample, _wrong_p_mean_abar), failing=True),
    Symptom("TODO 4: notebook 01's down block", "BLOCKS['down']: got BasicDownBlock, expected DownBlock",
            _blocks_with_basic_down),
    Symptom("TODO 5: bernoulli(drop_prob)", "got 0.101, expected 0.9", lambda: printed(nb06.check_context_mask,
                                                                                      _wrong_mask_inverted)),
    Symptom("TODO 5: bernoulli(drop_prob)", "1 = KEEP the class with probability 1 - drop_prob",
            lambda: printed(nb06.check_context_mask, _wrong_mask_inverted)),
    Symptom("TODO 6: .sum()", "loss value: got 1847, expected 4.811",
            lambda: printed(nb06.check_diffusion_loss, _wrong_loss_sum)),
    Symptom("TODO 6: x_t as the target", "a perfect prediction gives 0",
            lambda: printed(nb06.check_diffusion_loss, _wrong_loss_x0_target), failing=True),
    Symptom("TODO 6: .item()", "returns a tensor: got float", lambda: printed(nb06.check_diffusion_loss,
                                                                            _wrong_loss_item)),
    Symptom("TODO 7: int64 one-hot", "float dtype: got torch.int64",
            lambda: printed(nb06.check_context_batch, _wrong_one_hot_int, 0.1)),
    Symptom("TODO 7: int64 one-hot", "the network's Linear layers need floats",
            lambda: printed(nb06.check_context_batch, _wrong_one_hot_int, 0.1)),
    Symptom("TODO 7: P_DROP = 0.9", "P_DROP in [0.05, 0.3]", lambda: _p_drop(0.9), failing=True),
    Symptom("TODO 8: the gamma convention", "w = 0 is the conditional prediction",
            lambda: printed(nb06.check_guided_eps, _wrong_cfg_gamma), failing=True),
    Symptom("debugging: swapped coefficients in TODO 2", "x_t at t=0 is almost x0",
            lambda: printed(nb06.check_q_sample, _wrong_q_swapped), failing=True),
]


def test_walkthrough_symptoms_are_what_the_checks_print():
    """Each symptom walkthrough 06 quotes for a common mistake is what that mistake prints now."""
    assert_quotes_hold(WALKTHROUGH.read_text(), SYMPTOMS)


def test_a_stale_symptom_is_caught():
    """The same check on an edited copy of the walkthrough: a changed number in a quote fails."""
    assert_stale_copy_caught(WALKTHROUGH.read_text(), SYMPTOMS, 'got 390, expected 3.636e-05', 'got 391, expected 3.636e-05')


# the gate's messages the debugging guide quotes: a hand-in that makes each mistake, judged by the gate

@functools.lru_cache(maxsize=None)
def _gate_messages(kind: str) -> str:
    """The gate's messages for stored digits (20 per class) instead of generated ones."""
    from helpers import gate
    from helpers.data import load_mnist
    x, y = load_mnist("train")
    labels = torch.arange(10).repeat_interleave(20)
    if kind == "copies":       # a lookup of training digits
        samples = torch.cat([x[y == k][:20] for k in range(10)])
    else:                      # one image per class
        samples = torch.cat([x[y == k][:1].repeat(20, 1, 1, 1) for k in range(10)])
    return "\n".join(gate.evaluate_samples(samples, labels).messages)


def _gate_error(w: float | None, tmp: str) -> str:
    """``run_gate``'s error for a missing hand-in (w None) or a tiny U-Net exported with guidance w."""
    from helpers import gate
    from helpers.export import export_model
    path = os.path.join(tmp, "assessment_model.pt2")
    if w is not None:
        torch.manual_seed(0)
        export_model(ConditionalUNet(chs=(8, 16), T=400).eval(), path, sched=Schedule.linear(400, 2.5e-4, 0.05), w=w)
    return gate.run_gate(path, progress=False).error


@pytest.mark.skipif(judge_missing, reason="helpers/weights/mnist_judge.pt not built yet")
def test_walkthrough_gate_messages_are_what_the_gate_says(tmp_path):
    gate_symptoms = [
        Symptom("a hand-in returning training digits", "copies of MNIST digits", lambda: _gate_messages("copies")),
        Symptom("one image per class", "diversity collapsed", lambda: _gate_messages("collapsed")),
        Symptom("the export cell did not run", "could not load the model", lambda: _gate_error(None, str(tmp_path))),
        Symptom("GUIDANCE_W = 12", "guidance scale w = … is outside [0, 10]", lambda: _gate_error(12.0, str(tmp_path))),
    ]
    found = problems(WALKTHROUGH.read_text(), gate_symptoms)
    assert not found, "\n\n".join(found)
