"""Notebook 04 (classifier-free guidance), what is specific to it: solution = helpers twin, checks
accept the reference and reject common mistakes, points and questions, and what its graded
solution run printed. The contract of every notebook is tests/test_assignments.py."""
from __future__ import annotations

import functools
import json
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import ddpm, guidance
from helpers.blocks import EmbedBlock
from helpers.checks import nb04
from helpers.unet import ConditionalUNet

import contract
from nbtools import REPO, solution_namespace, source_notebook
from symptoms import Symptom, assert_quotes_hold, assert_stale_copy_caught, norm, printed, problems

NB = source_notebook("04_classifier_free_guidance")
WALKTHROUGH = REPO / "walkthroughs" / "04_Classifier_Free_Guidance_Walkthrough.md"
SOLUTIONS = ["todo1_conditioning", "todo2_context_mask", "todo3_guided_eps_fn", "todo4_guidance_sweep"]
PREAMBLE = """
import torch, torch.nn as nn, torch.nn.functional as F
from helpers.blocks import EmbedBlock
from helpers.unet import ConditionalUNet, UNetBackbone
from helpers.ddpm import ddim_sample, noise_loss
"""


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ok(results) -> bool:
    return all(r.ok for r in results)


def rejects(check_fn, *args, **kwargs) -> bool:
    """The check fails the object: a failed result, or an error (the graded cell fails on it too)."""
    try:
        return not ok(check_fn(*args, **kwargs))
    except Exception:  # noqa: BLE001
        return True


@functools.cache
def solution() -> dict:
    """The notebook's solution cells, run once per session (the tests only read it)."""
    return solution_namespace(NB, SOLUTIONS, PREAMBLE)


@pytest.fixture(scope="module")
def ns():
    return solution()


# --------------------------------------------------------------------------- the walkthrough's mistakes

def conditioning_mistakes(base: type) -> dict[str, type]:
    """TODO 1's common mistakes, as subclasses of the solution's ClassConditionalUNet `base`."""

    class NoMask(base):  # forgets to multiply the context by the mask
        def forward(self, x, t, c, c_mask):
            return super().forward(x, t, c, torch.ones_like(c_mask))

    def forward_with(rule):  # the reference forward with another modulation rule
        def forward(self, x, t, c, c_mask):
            te = self.sinusoidal(t)
            c = c.float() * c_mask.reshape(-1, 1)

            def film(h, i):
                return rule(self.c_embs[i](c), self.t_embs[i](te), h)

            d0 = film(self.down0(x), 0)
            d1 = film(self.down1(d0), 1)
            d2 = film(self.down2(d1), 2)
            m = film(self.middle(d2), 3)
            u1 = film(self.up1(m, d2), 4)
            return self.out(torch.cat((film(self.up2(u1, d1), 5), d0), dim=1))
        return forward

    class Additive(base):  # adds the context embedding instead of scaling the features
        forward = forward_with(lambda ce, te, h: h + ce + te)

    class Swapped(base):  # the time scales and the context shifts
        forward = forward_with(lambda ce, te, h: te * h + ce)

    class OnePlus(base):  # (1 + emb_c) * h: a different (also reasonable) model, not this one
        forward = forward_with(lambda ce, te, h: (1 + ce) * h + te)

    class OneWidth(base):  # EmbedBlock(c_dim, c0) at every level
        def __init__(self, in_ch=1, chs=(32, 64), T=1000, c_dim=10):
            super().__init__(in_ch, chs, T, c_dim)
            self.c_embs = nn.ModuleList([EmbedBlock(c_dim, chs[0]) for _ in self.c_embs])

    class PlainList(base):  # a Python list instead of nn.ModuleList: the embeddings are not registered
        def __init__(self, in_ch=1, chs=(32, 64), T=1000, c_dim=10):
            super().__init__(in_ch, chs, T, c_dim)
            embs = list(self.c_embs)
            del self.c_embs
            self.c_embs = embs

    wrong = {"mask ignored": NoMask, "context added": Additive, "time scales, context shifts": Swapped,
             "scale 1 + emb": OnePlus, "one width at every level": OneWidth, "plain list": PlainList}
    for cls in wrong.values():
        cls.__module__ = "__main__"
    return wrong


def one_hot_int64(labels, n_classes):  # F.one_hot without .float()
    return F.one_hot(labels, n_classes)


MASK_MISTAKES = {
    "keep probability = drop_prob": lambda b, p, generator=None, device=None:
        torch.bernoulli(torch.full((b, 1), p), generator=generator),
    "shape (B,)": lambda b, p, generator=None, device=None:
        torch.bernoulli(torch.full((b,), 1 - p), generator=generator),
    "bool mask": lambda b, p, generator=None, device=None:
        torch.rand((b, 1), generator=generator) < 1 - p,
    "ignores the generator": lambda b, p, generator=None, device=None:
        torch.bernoulli(torch.full((b, 1), 1 - p)),
    "probabilities, not draws": lambda b, p, generator=None, device=None: torch.full((b, 1), 1 - p),
}


def two_calls(model, c, w):  # correct numbers, but two forward passes
    def eps_fn(x, t):
        ones = torch.ones(x.shape[0], 1)
        return (1 + w) * model(x, t, c, ones) - w * model(x, t, c, 0 * ones)
    return eps_fn


def interpolation(model, c, w):  # the weights on the wrong predictions: w * eps_c + (1 - w) * eps_u
    def eps_fn(x, t):
        ones = torch.ones(x.shape[0], 1)
        e_c, e_u = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([c, c]),
                         torch.cat([ones, 0 * ones])).chunk(2)
        return w * e_c + (1 - w) * e_u
    return eps_fn


def halves_swapped(model, c, w):  # mask [0, 1] but reads the halves as (cond, uncond)
    def eps_fn(x, t):
        ones = torch.ones(x.shape[0], 1)
        e_c, e_u = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([c, c]),
                         torch.cat([0 * ones, ones])).chunk(2)
        return (1 + w) * e_c - w * e_u
    return eps_fn


def _sweep(labels, fresh_generator=True, clip_x0=True):
    """The reference sweep with the labels given, and optionally one generator for all w or no x0 clipping."""
    def sweep(model, ws, n_classes, n_per_class, img_shape, sched, steps=25, seed=0, make_eps_fn=None, device=None):
        c = guidance.one_hot(labels(n_classes, n_per_class), n_classes)
        n = n_classes * n_per_class
        g = torch.Generator().manual_seed(seed)
        rows = []
        for w in ws:
            if fresh_generator:
                g = torch.Generator().manual_seed(seed)
            x = ddpm.ddim_sample(make_eps_fn(model, c, w), (n, *img_shape), sched, steps=steps, generator=g,
                                 clip_x0=clip_x0, progress=False)
            rows.append(x.reshape(n_classes, n_per_class, *img_shape))
        return torch.stack(rows)
    return sweep


SWEEP_MISTAKES = {
    # a single generator for all w: every row starts from other noise
    "one generator": _sweep(guidance.sweep_labels, fresh_generator=False),
    # [0, 1, 2, 0, 1, 2] instead of [0, 0, 1, 1, 2, 2]
    "repeat, not repeat_interleave": _sweep(lambda k, n: torch.arange(k).repeat(n)),
    "x0 not clipped": _sweep(guidance.sweep_labels, clip_x0=False),
}


# --------------------------------------------------------------------------- structure

def test_points_and_questions():
    cells = json.loads(NB.read_text())["cells"]
    graded = {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]["points"]
              for c in cells if c["metadata"].get("nbgrader", {}).get("grade")}
    assert graded == {"test_todo1_conditioning": 2, "test_todo2_context_mask": 2, "test_todo3_guided_eps_fn": 3,
                      "test_todo4_guidance_sweep": 2, "test_todo4_accuracy": 2}
    assert cells[-1]["cell_type"] == "markdown" and "## Questions" in "".join(cells[-1]["source"])
    assert len(re.findall(r"^\d+\. ", "".join(cells[-1]["source"]), flags=re.M)) >= 12


# --------------------------------------------------------------------------- solution = helpers twin

def test_one_hot_and_unet_match_reference(ns):
    labels = torch.tensor([3, 0, 9, 3])
    assert torch.equal(ns["one_hot"](labels, 10), guidance.one_hot(labels, 10))
    torch.manual_seed(0)
    ref = ConditionalUNet(3, (8, 16), 50, 5).eval()
    mine = ns["ClassConditionalUNet"](3, (8, 16), 50, 5).eval()
    mine.load_state_dict(ref.state_dict())  # strict: same parameter names
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, 32, 32, generator=g)
    t = torch.randint(0, 50, (6,), generator=g)
    c = guidance.one_hot(torch.randint(0, 5, (6,), generator=g), 5)
    mask = ddpm.context_mask(6, 0.5, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(mine(x, t, c, mask), ref(x, t, c, mask))


def test_context_mask_matches_reference(ns):
    for p in (0.0, 0.1, 0.7, 1.0):
        got = ns["context_mask"](1000, p, generator=torch.Generator().manual_seed(3))
        want = ddpm.context_mask(1000, p, generator=torch.Generator().manual_seed(3))
        assert torch.equal(got, want) and got.dtype == want.dtype and got.shape == (1000, 1)


def test_guided_eps_fn_matches_reference(ns):
    torch.manual_seed(0)
    model = ConditionalUNet(1, (8, 16), 50, 10).eval()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 1, 28, 28, generator=g)
    t = torch.randint(0, 50, (3,), generator=g)
    c = guidance.one_hot(torch.tensor([1, 5, 7]), 10)
    with torch.no_grad():
        for w in (0.0, 1.0, 7.0):
            torch.testing.assert_close(ns["guided_eps_fn"](model, c, w)(x, t), ddpm.cfg_eps_fn(model, c, w)(x, t))


def test_guidance_sweep_matches_reference(ns):
    torch.manual_seed(0)
    model = ConditionalUNet(1, (8, 16), 50, 3).eval()
    sched = ddpm.Schedule.linear(50)
    kw = dict(steps=3, seed=4, make_eps_fn=ddpm.cfg_eps_fn)
    got = ns["guidance_sweep"](model, [0.0, 2.0], 3, 2, (1, 8, 8), sched, **kw)
    want = guidance.guidance_sweep(model, [0.0, 2.0], 3, 2, (1, 8, 8), sched, **kw)
    torch.testing.assert_close(got, want)
    # the notebook's default make_eps_fn is the student's guided_eps_fn: same numbers
    torch.testing.assert_close(ns["guidance_sweep"](model, [0.0, 2.0], 3, 2, (1, 8, 8), sched, steps=3, seed=4), want)


# --------------------------------------------------------------------------- checks: accept / reject

def test_check_conditioning_accepts_reference_and_rejects_mistakes(ns):
    assert ok(nb04.check_conditioning(ns["one_hot"], ns["ClassConditionalUNet"]))
    assert ok(nb04.check_conditioning(ns["one_hot"], ns["ClassConditionalUNet"], seed=3, in_ch=3, size=32,
                                      n_classes=5))
    base = ns["ClassConditionalUNet"]
    for name, wrong in conditioning_mistakes(base).items():
        assert rejects(nb04.check_conditioning, ns["one_hot"], wrong), name
    # one_hot returning int64 (forgot .float()), and the reference re-exported instead of written
    assert not ok(nb04.check_conditioning(one_hot_int64, base))
    assert not ok(nb04.check_conditioning(ns["one_hot"], ConditionalUNet))


def test_check_context_mask_accepts_reference_and_rejects_mistakes(ns):
    assert ok(nb04.check_context_mask(ns["context_mask"]))
    assert ok(nb04.check_context_mask(ddpm.context_mask, seed=3, drop_prob=0.25))
    for name, fn in MASK_MISTAKES.items():
        assert not ok(nb04.check_context_mask(fn)), name
    # a torch.rand-based draw is a correct alternative
    assert ok(nb04.check_context_mask(lambda b, p, generator=None, device=None:
                                      (torch.rand((b, 1), generator=generator) < 1 - p).float()))


def test_check_guided_eps_fn_accepts_reference_and_rejects_mistakes(ns):
    for kw in ({}, {"real_model": True}, {"w": -1.0, "img_shape": (3, 4, 4), "c_dim": 5}):
        assert ok(nb04.check_guided_eps_fn(ns["guided_eps_fn"], **kw))
        assert ok(nb04.check_guided_eps_fn(ddpm.cfg_eps_fn, **kw))

    for wrong in (two_calls, interpolation, halves_swapped):
        assert not ok(nb04.check_guided_eps_fn(wrong)), wrong.__name__


def test_check_guidance_sweep_accepts_reference_and_rejects_mistakes(ns):
    assert ok(nb04.check_guidance_sweep(ns["guidance_sweep"]))
    assert ok(nb04.check_guidance_sweep(guidance.guidance_sweep, seed=9, ws=(0.0, 1.5), n_classes=4,
                                        img_shape=(3, 8, 8), steps=3))

    for name, wrong in SWEEP_MISTAKES.items():
        assert not ok(nb04.check_guidance_sweep(wrong)), name


def test_diversity_and_saturation_by_hand():
    """Hand-worked: two classes of two images each, all-black vs all-white and two greys."""
    black, white = -torch.ones(1, 4, 4), torch.ones(1, 4, 4)
    grey_a, grey_b = torch.full((1, 4, 4), 0.25), torch.full((1, 4, 4), -0.25)
    images = torch.stack([torch.stack([black, white]), torch.stack([grey_a, grey_b])])  # (2, 2, 1, 4, 4)
    # RMS pixel distance within class 0 is |1 - (-1)| = 2, within class 1 it is 0.5: mean 1.25
    assert guidance.class_diversity(images) == pytest.approx(1.25)
    x = torch.tensor([-1.0, 0.99, 0.5, 1.0])
    assert guidance.saturation(x) == 0.75                 # -1, 0.99 and 1 are beyond 0.98 in size
    assert guidance.saturation(x, ends="high") == 0.5     # only 0.99 and 1 at the white end


def test_prefer_student_falls_back(capsys):
    def stub(*a, **k):
        raise NotImplementedError("TODO 2")

    assert nb04.prefer_student(nb04.check_context_mask, stub, ddpm.context_mask, "mask") is ddpm.context_mask
    assert nb04.prefer_student(nb04.check_context_mask, None, ddpm.context_mask, "mask") is ddpm.context_mask
    assert nb04.prefer_student(nb04.check_context_mask, ddpm.context_mask, None, "mask") is ddpm.context_mask
    assert "reference" in capsys.readouterr().out


# --------------------------------------------------------------------------- execution

@pytest.mark.slow
def test_solution_run_prints_its_demonstrations(graded_demo):
    """The demo class's complete student as the grader ran it (tests/test_assignments.py checks
    every notebook's self-checks, errors and output of graded cells)."""
    text = contract.output_text(contract.solution_notebook(graded_demo, "04_classifier_free_guidance"))
    assert "using your conditional U-Net (TODO 1)" in text
    assert "using your guided noise (TODO 3)" in text
    assert "judge accuracy is a valid fraction" in text


# --------------------------------------------------------------------------- the walkthrough's symptoms

def _conditioning(mistake: str | None = None, one_hot=None, unet_cls=None):
    """What TODO 1's self-check prints for the solution with one mistake."""
    def run() -> str:
        ns = solution()
        cls = unet_cls or (conditioning_mistakes(ns["ClassConditionalUNet"])[mistake] if mistake
                           else ns["ClassConditionalUNet"])
        return printed(nb04.check_conditioning, one_hot or ns["one_hot"], cls)
    return run


def _out(check_fn, obj=None):
    """What a TODO's self-check prints for `obj` (the solution's when None, named by the check)."""
    name = {nb04.check_context_mask: "context_mask", nb04.check_guided_eps_fn: "guided_eps_fn",
            nb04.check_guidance_sweep: "guidance_sweep"}[check_fn]
    return lambda: printed(check_fn, obj if obj is not None else solution()[name])


SYMPTOMS = [
    # TODO 1
    Symptom("mask ignored", "output with mixed c_mask", _conditioning("mask ignored"), failing=True),
    Symptom("context added", "output with the context kept", _conditioning("context added"), failing=True),
    Symptom("time scales, context shifts", "output with the context kept",
            _conditioning("time scales, context shifts"), failing=True),
    Symptom("scale 1 + emb", "output with the context kept", _conditioning("scale 1 + emb"), failing=True),
    Symptom("one_hot without .float()", "one_hot is a float tensor", _conditioning(one_hot=one_hot_int64),
            failing=True),
    Symptom("one width at every level", "size mismatch for c_embs.2.model.0.weight",
            _conditioning("one width at every level")),
    Symptom("plain list", "same parameter names as ConditionalUNet", _conditioning("plain list"), failing=True),
    Symptom("plain list", "got missing [], unexpected ['c_embs.0.model.0.weight', …]", _conditioning("plain list")),
    Symptom("the reference imported", "written in this notebook", _conditioning(unet_cls=ConditionalUNet),
            failing=True),
    # TODO 2
    Symptom("the solution's mask", "0.8998", _out(nb04.check_context_mask)),
    Symptom("keep probability = drop_prob", "fraction kept … got 0.09972, expected 0.9",
            _out(nb04.check_context_mask, MASK_MISTAKES["keep probability = drop_prob"])),
    Symptom("shape (B,)", "shape (B, 1)", _out(nb04.check_context_mask, MASK_MISTAKES["shape (B,)"]), failing=True),
    Symptom("bool mask", "float dtype", _out(nb04.check_context_mask, MASK_MISTAKES["bool mask"]), failing=True),
    Symptom("ignores the generator", "same generator seed, same mask",
            _out(nb04.check_context_mask, MASK_MISTAKES["ignores the generator"]), failing=True),
    Symptom("probabilities, not draws", "values are only 0 and 1",
            _out(nb04.check_context_mask, MASK_MISTAKES["probabilities, not draws"]), failing=True),
    # TODO 3
    Symptom("two calls", "model calls per eps_fn call: got 2, expected 1", _out(nb04.check_guided_eps_fn, two_calls)),
    Symptom("interpolation form", "w = 0 gives the conditional prediction",
            _out(nb04.check_guided_eps_fn, interpolation), failing=True),
    Symptom("halves swapped", "guided noise", _out(nb04.check_guided_eps_fn, halves_swapped), failing=True),
    # TODO 4
    Symptom("one generator", "samples at w = 3", _out(nb04.check_guidance_sweep, SWEEP_MISTAKES["one generator"]),
            failing=True),
    Symptom("repeat, not repeat_interleave", "samples at w = 0",
            _out(nb04.check_guidance_sweep, SWEEP_MISTAKES["repeat, not repeat_interleave"]), failing=True),
    Symptom("x0 not clipped", "samples at w = ...", _out(nb04.check_guidance_sweep, SWEEP_MISTAKES["x0 not clipped"]),
            failing=True),
]


def test_walkthrough_symptoms_are_what_the_checks_print():
    """Each symptom walkthrough 04 quotes for a common mistake is what that mistake prints now."""
    assert_quotes_hold(WALKTHROUGH.read_text(), SYMPTOMS)


def _verdicts(text: str, prefix: str) -> list[bool]:
    return [line.startswith("\u2713") for line in text.splitlines() if line[2:].startswith(prefix)]


def test_which_w_fails_is_what_the_walkthrough_says():
    """One generator for every w: w = 0 passes and w = 3 fails (the tell-tale sign); repeat and
    the missing clip_x0 fail at every w."""
    doc = norm(WALKTHROUGH.read_text())
    assert '"samples at w = 3" fails while w = 0 passes' in doc
    assert _verdicts(_out(nb04.check_guidance_sweep, SWEEP_MISTAKES["one generator"])(), "samples at w") == [True, False]
    assert 'fails at every w' in doc
    for name in ("repeat, not repeat_interleave", "x0 not clipped"):
        assert _verdicts(_out(nb04.check_guidance_sweep, SWEEP_MISTAKES[name])(), "samples at w") == [False, False]


def test_self_check_line_counts_are_what_the_solution_prints():
    """'Self-check prints 9 ✓ lines' and the like: the solution's self-checks, counted."""
    doc = norm(WALKTHROUGH.read_text())
    for n, out in ((9, _conditioning()), (8, _out(nb04.check_context_mask)), (6, _out(nb04.check_guided_eps_fn))):
        ticks = [line for line in out().splitlines() if line.startswith("\u2713")]
        assert len(ticks) == n and all(not line.startswith("\u2717") for line in out().splitlines())
        assert f"**Self-check prints** {n} \u2713 lines" in doc, n


def test_a_stale_symptom_is_caught():
    """The same check on an edited copy of the walkthrough: a changed number in a quote fails."""
    assert_stale_copy_caught(WALKTHROUGH.read_text(), SYMPTOMS, 'got 0.09972', 'got 0.1')
    # a check named as failing that passes is caught too
    named = [Symptom("the solution", "output with mixed c_mask", _conditioning(), failing=True)]
    assert any("no failing check named" in p for p in problems(WALKTHROUGH.read_text(), named))
