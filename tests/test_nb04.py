"""Notebook 04 (classifier-free guidance), what is specific to it: solution = helpers twin, checks
accept the reference and reject common mistakes, points and questions, and what its graded
solution run printed. The contract of every notebook is tests/test_assignments.py."""
from __future__ import annotations

import json
import re

import pytest
import torch
import torch.nn.functional as F

from helpers import ddpm, guidance
from helpers.checks import nb04
from helpers.unet import ConditionalUNet

import contract
from nbtools import solution_namespace, source_notebook

NB = source_notebook("04_classifier_free_guidance")
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


@pytest.fixture(scope="module")
def ns():
    return solution_namespace(NB, SOLUTIONS, PREAMBLE)


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

    for wrong in (NoMask, Additive, Swapped, OnePlus):
        wrong.__module__ = "__main__"
        assert not ok(nb04.check_conditioning(ns["one_hot"], wrong))
    # one_hot returning int64 (forgot .float()), and the reference re-exported instead of written
    assert not ok(nb04.check_conditioning(lambda y, k: F.one_hot(y, k), base))
    assert not ok(nb04.check_conditioning(ns["one_hot"], ConditionalUNet))


def test_check_context_mask_accepts_reference_and_rejects_mistakes(ns):
    assert ok(nb04.check_context_mask(ns["context_mask"]))
    assert ok(nb04.check_context_mask(ddpm.context_mask, seed=3, drop_prob=0.25))
    wrong = {
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
    for name, fn in wrong.items():
        assert not ok(nb04.check_context_mask(fn)), name
    # a torch.rand-based draw is a correct alternative
    assert ok(nb04.check_context_mask(lambda b, p, generator=None, device=None:
                                      (torch.rand((b, 1), generator=generator) < 1 - p).float()))


def test_check_guided_eps_fn_accepts_reference_and_rejects_mistakes(ns):
    for kw in ({}, {"real_model": True}, {"w": -1.0, "img_shape": (3, 4, 4), "c_dim": 5}):
        assert ok(nb04.check_guided_eps_fn(ns["guided_eps_fn"], **kw))
        assert ok(nb04.check_guided_eps_fn(ddpm.cfg_eps_fn, **kw))

    def two_calls(model, c, w):  # correct numbers, but two forward passes
        def eps_fn(x, t):
            ones = torch.ones(x.shape[0], 1)
            return (1 + w) * model(x, t, c, ones) - w * model(x, t, c, 0 * ones)
        return eps_fn

    def swapped(model, c, w):  # the weights on the wrong predictions: w * eps_c + (1 - w) * eps_u
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

    for wrong in (two_calls, swapped, halves_swapped):
        assert not ok(nb04.check_guided_eps_fn(wrong)), wrong.__name__


def test_check_guidance_sweep_accepts_reference_and_rejects_mistakes(ns):
    assert ok(nb04.check_guidance_sweep(ns["guidance_sweep"]))
    assert ok(nb04.check_guidance_sweep(guidance.guidance_sweep, seed=9, ws=(0.0, 1.5), n_classes=4,
                                        img_shape=(3, 8, 8), steps=3))

    def one_generator(model, ws, n_classes, n_per_class, img_shape, sched, steps=25, seed=0, make_eps_fn=None,
                      device=None):  # a single generator for all w: every row starts from other noise
        g = torch.Generator().manual_seed(seed)
        c = guidance.one_hot(guidance.sweep_labels(n_classes, n_per_class), n_classes)
        n = n_classes * n_per_class
        return torch.stack([ddpm.ddim_sample(make_eps_fn(model, c, w), (n, *img_shape), sched, steps=steps,
                                             generator=g, clip_x0=True, progress=False).reshape(n_classes, n_per_class, *img_shape)
                            for w in ws])

    def repeat_labels(model, ws, n_classes, n_per_class, img_shape, sched, steps=25, seed=0, make_eps_fn=None,
                      device=None):  # [0, 1, 2, 0, 1, 2] instead of [0, 0, 1, 1, 2, 2]
        c = guidance.one_hot(torch.arange(n_classes).repeat(n_per_class), n_classes)
        n = n_classes * n_per_class
        return torch.stack([ddpm.ddim_sample(make_eps_fn(model, c, w), (n, *img_shape), sched, steps=steps,
                                             generator=torch.Generator().manual_seed(seed), clip_x0=True,
                                             progress=False)
                            .reshape(n_classes, n_per_class, *img_shape) for w in ws])

    for wrong in (one_generator, repeat_labels):
        assert not ok(nb04.check_guidance_sweep(wrong)), wrong.__name__


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
