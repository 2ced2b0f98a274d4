"""Notebook 05 (CLIP), what is specific to it: solution = helpers twins, the checks accept the
solutions and reject the common mistakes of the walkthrough, points and questions, and what its
graded solution run printed. The contract of every notebook (one blank TODO fails only its own
graded cells, real grading of the mistakes) is tests/test_assignments.py."""
from __future__ import annotations

import json
import re

import pytest
import torch
import torch.nn.functional as F

from helpers import clip
from helpers.checks import nb05
from helpers.schedules import Schedule

import contract
from nbtools import solution_namespace, source_notebook

NB = source_notebook("05_clip")
TODOS = {  # solution grade_id -> (graded grade_id, function name, points)
    "todo1_cosine_similarity": ("test_todo1_cosine_similarity", "cosine_similarity_matrix", 2),
    "todo2_contrastive_loss": ("test_todo2_contrastive_loss", "contrastive_loss", 3),
    "todo3_zero_shot_predict": ("test_todo3_zero_shot_predict", "zero_shot_predict", 2),
    "todo4_image_context": ("test_todo4_image_context", "image_context", 2),
    "todo5_sample_from_prompt": ("test_todo5_sample_from_prompt", "sample_from_prompt", 3),
}
PREAMBLE = """
import torch
import torch.nn.functional as F
from helpers import checks, clip, ddpm
from helpers.checks import nb05
"""


@pytest.fixture(scope="module")
def ns():
    return solution_namespace(NB, list(TODOS), PREAMBLE)


def _passes(check_fn, obj, **kw) -> bool:
    try:
        return all(r.ok for r in check_fn(obj, **kw))
    except Exception:
        return False


def _main(fn):
    fn.__module__ = "__main__"  # as if written in the notebook
    return fn


# --------------------------------------------------------------------------- (d) structure

def test_points_and_questions():
    cells = json.loads(NB.read_text())["cells"]
    found = {}
    for c in cells:
        meta = c.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            graded_id, name, _ = TODOS[meta["grade_id"]]
            assert f"def {name}(" in "".join(c["source"])
        if meta.get("grade"):
            found[meta["grade_id"]] = meta["points"]
    assert found == {graded_id: points for graded_id, _, points in TODOS.values()}
    assert sum(found.values()) == 12
    assert "## Questions" in "".join(cells[-1]["source"])
    assert len(re.findall(r"^\d+\. ", "".join(cells[-1]["source"]), flags=re.M)) >= 12


# --------------------------------------------------------------------------- (b) solution = helpers twin

def test_solutions_equal_helpers_twins(ns):
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(6, 10, generator=g) * 3, torch.randn(4, 10, generator=g)
    torch.testing.assert_close(ns["cosine_similarity_matrix"](a, b), clip.cosine_similarity_matrix(a, b))
    sim = torch.tanh(torch.randn(7, 7, generator=g))
    for tau in (0.07, 0.3, torch.tensor(0.05)):
        torch.testing.assert_close(ns["contrastive_loss"](sim, tau), clip.contrastive_loss(sim, tau))
    img, cls = nb05.zero_shot_inputs(seed=5)
    assert torch.equal(ns["zero_shot_predict"](img, cls), clip.zero_shot_predict(img, cls))
    model = nb05.tiny_clip(5).train()
    x = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1
    torch.testing.assert_close(ns["image_context"](model, x), clip.image_context(model, x))
    assert model.training
    unet, sched = nb05.tiny_unet(5), Schedule.linear(40)
    model.eval()
    torch.testing.assert_close(
        ns["sample_from_prompt"](unet, model, "a pink tulip", sched, n=2, w=1.5, steps=3, seed=4),
        clip.sample_from_prompt(unet, model, "a pink tulip", sched, n=2, w=1.5, steps=3, seed=4))


# --------------------------------------------------------------------------- (c) checks accept / reject

def test_checks_accept_solutions(ns):
    for gid, (_, name, _) in TODOS.items():
        check = getattr(nb05, f"check_{name}")
        for seed in (0, 1, 7):
            results = check(ns[name], seed=seed)
            assert all(r.ok for r in results), (name, seed, [r.line for r in results if not r.ok])


def test_checks_reject_reexported_reference():
    assert not _passes(nb05.check_cosine_similarity_matrix, clip.cosine_similarity_matrix)
    assert not _passes(nb05.check_contrastive_loss, clip.contrastive_loss)


def test_cosine_check_rejects_common_mistakes():
    assert not _passes(nb05.check_cosine_similarity_matrix, _main(lambda a, b: a @ b.T))  # no normalisation
    assert not _passes(nb05.check_cosine_similarity_matrix,
                       _main(lambda a, b: F.normalize(a, dim=0) @ F.normalize(b, dim=0).T))  # over the batch


def test_loss_check_rejects_common_mistakes():
    def one_direction(sim, t):
        return F.cross_entropy(sim / t, torch.arange(len(sim)))

    def no_temperature(sim, t):
        lab = torch.arange(len(sim))
        return (F.cross_entropy(sim, lab) + F.cross_entropy(sim.T, lab)) / 2

    def times_temperature(sim, t):
        lab = torch.arange(len(sim))
        return (F.cross_entropy(sim * t, lab) + F.cross_entropy(sim.T * t, lab)) / 2

    def summed(sim, t):
        lab = torch.arange(len(sim))
        return F.cross_entropy(sim / t, lab, reduction="sum") + F.cross_entropy(sim.T / t, lab, reduction="sum")

    def detached(sim, t):
        return clip.contrastive_loss(sim.detach(), t)

    for wrong in (one_direction, no_temperature, times_temperature, summed, detached):
        assert not _passes(nb05.check_contrastive_loss, _main(wrong)), wrong.__name__
    # the hand-worked example alone already separates the one-direction mistake
    sim, tau, expected = nb05.hand_worked_loss()
    assert one_direction(sim, tau).item() == pytest.approx(0.665706, abs=1e-5)
    assert expected == pytest.approx(0.442901, abs=1e-6)


def test_zero_shot_check_rejects_common_mistakes():
    assert not _passes(nb05.check_zero_shot_predict, _main(lambda i, c: (i @ c.T).argmax(1)))  # dot product
    assert not _passes(nb05.check_zero_shot_predict, _main(lambda i, c: clip.cosine_similarity_matrix(i, c).argmax(0)))
    assert not _passes(nb05.check_zero_shot_predict,
                       _main(lambda i, c: clip.cosine_similarity_matrix(i, c).argmax(1).float()))
    # the dot-product mistake is caught on every seed the graded cell uses
    for seed, kw in [(1, {}), (31, dict(n=50, k=10, d=8)), (33, dict(n=9, k=3, d=32))]:
        img, cls = nb05.zero_shot_inputs(seed, **kw)
        assert not torch.equal((img @ cls.T).argmax(1), clip.zero_shot_predict(img, cls)), seed


def test_image_context_check_rejects_common_mistakes():
    def unnormalised(m, x):
        m.eval()
        with torch.no_grad():
            out = m.encode_image(x)
        m.train()
        return out

    def train_mode(m, x):
        with torch.no_grad():
            return F.normalize(m.encode_image(x), dim=-1)

    def with_grad(m, x):
        was = m.training
        m.eval()
        out = F.normalize(m.encode_image(x), dim=-1)
        m.train(was)
        return out

    def mode_not_restored(m, x):
        m.eval()
        with torch.no_grad():
            return F.normalize(m.encode_image(x), dim=-1)

    for wrong in (unnormalised, train_mode, with_grad, mode_not_restored):
        assert not _passes(nb05.check_image_context, _main(wrong)), wrong.__name__


def test_sample_check_rejects_common_mistakes():
    from helpers import ddpm

    def make(normalise=True, use_w=True, seeded=True, guided=True, clip_x0=True):
        def fn(unet, clip_model, prompt, sched, n=8, w=3.0, steps=50, seed=0):
            device = next(unet.parameters()).device
            with torch.no_grad():
                c = clip_model.encode_text([prompt])
                c = F.normalize(c, dim=-1) if normalise else c
            c = c.expand(n, -1)
            eps_fn = ddpm.cfg_eps_fn(unet, c, w if use_w else 0.0) if guided else \
                (lambda x, t: unet(x, t, c, torch.ones(n, 1)))
            g = torch.Generator().manual_seed(seed if seeded else int(torch.randint(0, 10**6, (1,))))
            return ddpm.ddim_sample(eps_fn, (n, 3, 32, 32), sched, steps=steps, generator=g, device=device,
                                    clip_x0=clip_x0, progress=False)
        return _main(fn)

    assert _passes(nb05.check_sample_from_prompt, make())
    for kw in (dict(normalise=False), dict(use_w=False), dict(seeded=False), dict(guided=False),
               dict(clip_x0=False)):
        assert not _passes(nb05.check_sample_from_prompt, make(**kw)), kw

    def raw_minilm(unet, clip_model, prompt, sched, n=8, w=3.0, steps=50, seed=0):
        c = clip.encode_text([prompt]).expand(n, -1)  # (n, 384): the U-Net expects (n, 16)
        g = torch.Generator().manual_seed(seed)
        return ddpm.ddim_sample(ddpm.cfg_eps_fn(unet, c, w), (n, 3, 32, 32), sched, steps=steps, generator=g,
                                progress=False)

    assert not _passes(nb05.check_sample_from_prompt, _main(raw_minilm))


# --------------------------------------------------------------------------- the graded solution run

@pytest.mark.slow
def test_solution_run_prints_its_demonstrations(graded_demo):
    """The demo class's complete student as the grader ran it (tests/test_assignments.py checks
    every notebook's self-checks, errors and output of graded cells)."""
    text = contract.output_text(contract.solution_notebook(graded_demo, "05_clip"))
    assert "zero-shot accuracy on" in text
