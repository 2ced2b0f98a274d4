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

from helpers import clip, ddpm
from helpers.checks import nb05, require
from helpers.schedules import Schedule

import contract
from nbtools import REPO, cells_by_grade_id, solution_namespace, source_notebook
from symptoms import Symptom, assert_quotes_hold, assert_stale_copy_caught, norm, printed, problems, raised

NB = source_notebook("05_clip")
WALKTHROUGH = REPO / "walkthroughs" / "05_CLIP_Walkthrough.md"
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


# --------------------------------------------------------------------------- the walkthrough's mistakes

def _labels(sim):
    return torch.arange(len(sim))


def _no_grad_loss(sim, t):
    with torch.no_grad():
        return clip.contrastive_loss(sim, t)


def _image_context(normalise=True, eval_mode=True, no_grad=True, restore=True):
    """The solution of TODO 4 with one step left out."""
    def fn(m, x):
        was = m.training
        if eval_mode:
            m.eval()
        with torch.no_grad() if no_grad else torch.enable_grad():
            out = m.encode_image(x)
        if restore:
            m.train(was)
        return F.normalize(out, dim=-1) if normalise else out
    return fn


def _sampler(normalise=True, use_w=True, seeded=True, guided=True, clip_x0=True):
    """The solution of TODO 5 with one step left out."""
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
    return fn


def _raw_minilm(unet, clip_model, prompt, sched, n=8, w=3.0, steps=50, seed=0):
    c = clip.encode_text([prompt]).expand(n, -1)  # (n, 384): the U-Net expects (n, 16)
    g = torch.Generator().manual_seed(seed)
    return ddpm.ddim_sample(ddpm.cfg_eps_fn(unet, c, w), (n, 3, 32, 32), sched, steps=steps, generator=g,
                            clip_x0=True, progress=False)


MISTAKES = {  # TODO's check -> {the walkthrough's mistake: the student's function}
    nb05.check_cosine_similarity_matrix: {
        "not normalised": lambda a, b: a @ b.T,
        "normalised over the batch": lambda a, b: F.normalize(a, dim=0) @ F.normalize(b, dim=0).T,
        "a.T @ b": lambda a, b: F.normalize(a, dim=-1).T @ F.normalize(b, dim=-1),
    },
    nb05.check_contrastive_loss: {
        "image -> text only": lambda sim, t: F.cross_entropy(sim / t, _labels(sim)),
        "text -> image only": lambda sim, t: F.cross_entropy(sim.T / t, _labels(sim)),
        "no temperature": lambda sim, t: (F.cross_entropy(sim, _labels(sim)) + F.cross_entropy(sim.T, _labels(sim))) / 2,
        "times the temperature": lambda sim, t: (F.cross_entropy(sim * t, _labels(sim))
                                                 + F.cross_entropy(sim.T * t, _labels(sim))) / 2,
        'reduction="sum"': lambda sim, t: (F.cross_entropy(sim / t, _labels(sim), reduction="sum")
                                           + F.cross_entropy(sim.T / t, _labels(sim), reduction="sum")) / 2,
        ".detach()": lambda sim, t: clip.contrastive_loss(sim.detach(), t),
        "torch.no_grad()": _no_grad_loss,
        ".item()": lambda sim, t: clip.contrastive_loss(sim, t).item(),
    },
    nb05.check_zero_shot_predict: {
        "dot product": lambda i, c: (i @ c.T).argmax(1),
        "argmax(dim=0)": lambda i, c: clip.cosine_similarity_matrix(i, c).argmax(0),
        "float": lambda i, c: clip.cosine_similarity_matrix(i, c).argmax(1).float(),
    },
    nb05.check_image_context: {
        "not normalised": _image_context(normalise=False),
        "train mode": _image_context(eval_mode=False),
        "no torch.no_grad()": _image_context(no_grad=False),
        "left in eval mode": _image_context(restore=False),
    },
    nb05.check_sample_from_prompt: {
        "raw MiniLM vector": _raw_minilm,
        "not normalised": _sampler(normalise=False),
        "w ignored": _sampler(use_w=False),
        "only c_mask = 1": _sampler(guided=False),
        "noise not seeded": _sampler(seeded=False),
        "x0 not clipped": _sampler(clip_x0=False),
    },
}
for _wrong in MISTAKES.values():
    for _name, _fn in _wrong.items():
        _wrong[_name] = _main(_fn)


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


def test_checks_reject_the_walkthroughs_mistakes():
    for check, wrong in MISTAKES.items():
        for name, fn in wrong.items():
            assert not _passes(check, fn), (check.__name__, name)
    assert _passes(nb05.check_sample_from_prompt, _main(_sampler()))
    assert _passes(nb05.check_image_context, _main(_image_context()))
    # the hand-worked example alone already separates the one-direction mistake
    sim, tau, expected = nb05.hand_worked_loss()
    assert MISTAKES[nb05.check_contrastive_loss]["image -> text only"](sim, tau).item() == pytest.approx(0.665706, abs=1e-5)
    assert expected == pytest.approx(0.442901, abs=1e-6)


def test_zero_shot_check_rejects_the_dot_product_on_every_graded_seed():
    for seed, kw in [(1, {}), (31, dict(n=50, k=10, d=8)), (33, dict(n=9, k=3, d=32))]:
        img, cls = nb05.zero_shot_inputs(seed, **kw)
        assert not torch.equal((img @ cls.T).argmax(1), clip.zero_shot_predict(img, cls)), seed


# --------------------------------------------------------------------------- the graded solution run

@pytest.mark.slow
def test_solution_run_prints_its_demonstrations(graded_demo):
    """The demo class's complete student as the grader ran it (tests/test_assignments.py checks
    every notebook's self-checks, errors and output of graded cells)."""
    text = contract.output_text(contract.solution_notebook(graded_demo, "05_clip"))
    assert "zero-shot accuracy on" in text


# --------------------------------------------------------------------------- the walkthrough's symptoms

def _out(check, mistake: str):
    """What the TODO's self-check prints for the walkthrough's mistake."""
    return lambda: printed(check, MISTAKES[check][mistake])


def _graded_calls(check) -> list[dict]:
    """The keyword arguments of every call of `check` in its graded cell (visible first, then hidden)."""
    cells = cells_by_grade_id(NB)
    name = check.__name__.removeprefix("check_")
    calls = re.findall(rf"require\(nb05\.{check.__name__}, {name}, ([^)]*)\)", cells[f"test_{TODO_OF[name]}"])
    return [eval(f"dict({args})") for args in calls]  # noqa: S307 (the course's own notebook)


TODO_OF = {name: gid for gid, (_, name, _) in TODOS.items()}


def _graded_visible(check, mistake: str):
    """The error the visible graded cell shows for the mistake."""
    kw = _graded_calls(check)[0]
    return lambda: raised(lambda: require(check, MISTAKES[check][mistake], **kw))


COS, LOSS, ZS = nb05.check_cosine_similarity_matrix, nb05.check_contrastive_loss, nb05.check_zero_shot_predict
CTX, SAMPLE = nb05.check_image_context, nb05.check_sample_from_prompt

SYMPTOMS = [
    # TODO 1
    Symptom("not normalised", "sim(3a, b/2) = sim(a, b)", _out(COS, "not normalised"), failing=True),
    Symptom("normalised over the batch", "diag(sim(a, a)) = 1", _out(COS, "normalised over the batch"), failing=True),
    Symptom("a.T @ b", "mat1 and mat2 shapes cannot be multiplied (16x5 and 7x16)", _out(COS, "a.T @ b")),
    # TODO 2
    Symptom("image -> text only", "got 0.6657, expected 0.4429", _out(LOSS, "image -> text only")),
    Symptom("text -> image only", "got 0.2201, expected 0.4429", _out(LOSS, "text -> image only")),
    Symptom("no temperature", "got 0.625", _out(LOSS, "no temperature")),
    Symptom("no temperature", "temperature divides", _out(LOSS, "no temperature"), failing=True),
    Symptom("times the temperature", "got 0.6857", _out(LOSS, "times the temperature")),
    Symptom("times the temperature", "temperature divides", _out(LOSS, "times the temperature"), failing=True),
    Symptom('reduction="sum"', "got 0.8858", _out(LOSS, 'reduction="sum"')),
    Symptom(".detach()", "differentiable (gradients reach sim)", _out(LOSS, ".detach()"), failing=True),
    Symptom("torch.no_grad()", "differentiable (gradients reach sim)", _out(LOSS, "torch.no_grad()"), failing=True),
    Symptom(".item()", "returns a scalar tensor (0-d): got float, expected ()", _out(LOSS, ".item()")),
    # TODO 3
    Symptom("dot product, graded cell", "6 of 24", _graded_visible(ZS, "dot product")),
    Symptom("dot product, self-check", "got 8 of 24 differ", _out(ZS, "dot product")),
    Symptom("dot product", "same predictions as helpers.clip.zero_shot_predict", _out(ZS, "dot product"),
            failing=True),
    Symptom("argmax(dim=0)", "got (5,), expected (24,)", _out(ZS, "argmax(dim=0)")),
    Symptom("argmax(dim=0)", "shape (N,)", _out(ZS, "argmax(dim=0)"), failing=True),
    Symptom("float", "integer class indices", _out(ZS, "float"), failing=True),
    # TODO 4
    Symptom("not normalised", "unit vectors", _out(CTX, "not normalised"), failing=True),
    Symptom("train mode", "BatchNorm running statistics untouched", _out(CTX, "train mode"), failing=True),
    Symptom("train mode", "does not depend on the rest of the batch", _out(CTX, "train mode"), failing=True),
    Symptom("no torch.no_grad()", "no gradient into CLIP", _out(CTX, "no torch.no_grad()"), failing=True),
    Symptom("left in eval mode", "mode is restored", _out(CTX, "left in eval mode"), failing=True),
    # TODO 5
    Symptom("raw MiniLM vector", "The size of tensor a (144) must match the size of tensor b (6)",
            _out(SAMPLE, "raw MiniLM vector")),
    Symptom("not normalised", "the kept context is the normalised text embedding of the prompt",
            _out(SAMPLE, "not normalised"), failing=True),
    Symptom("w ignored", "the guidance scale w changes the images", _out(SAMPLE, "w ignored"), failing=True),
    Symptom("only c_mask = 1", "the guidance scale w changes the images", _out(SAMPLE, "only c_mask = 1"),
            failing=True),
    Symptom("only c_mask = 1", "an unconditional pass (c_mask = 0) is made", _out(SAMPLE, "only c_mask = 1"),
            failing=True),
    Symptom("noise not seeded", "the same seed gives the same images", _out(SAMPLE, "noise not seeded"),
            failing=True),
    Symptom("x0 not clipped", "equals helpers.clip.sample_from_prompt", _out(SAMPLE, "x0 not clipped"),
            failing=True),
]


def test_walkthrough_symptoms_are_what_the_checks_print():
    """Each symptom walkthrough 05 quotes for a common mistake is what that mistake prints now."""
    assert_quotes_hold(WALKTHROUGH.read_text(), SYMPTOMS)


def test_dot_product_counts_are_the_graded_cells():
    """'changes 3 to 26 of the predictions on the graded seeds: 6 of 24 on the visible one', counted
    on the graded cell's calls (visible and hidden)."""
    counts = []
    for kw in _graded_calls(ZS):
        img, cls = nb05.zero_shot_inputs(**kw)
        counts.append((int(((img @ cls.T).argmax(1) != clip.zero_shot_predict(img, cls)).sum()), len(img)))
    (visible, n), lo, hi = counts[0], min(c for c, _ in counts), max(c for c, _ in counts)
    assert f"changes {lo} to {hi} of the predictions on the graded seeds: {visible} of {n} on the visible one" \
        in norm(WALKTHROUGH.read_text())


def test_one_class_for_every_photo_scores_its_share():
    """'predicting one class for every photo scores that class's share of the test photos (16 to 26 %,
    dandelion the largest)': the held-out split's class shares."""
    from helpers.data import FLOWER_CLASSES, DataNotFoundError, find_dataset, load_flowers
    try:
        find_dataset("flowers", download=False)
    except DataNotFoundError as err:
        pytest.skip(f"no flowers copy found (set COURSE_DATA_DIR): {str(err).splitlines()[0]}")
    _, y = load_flowers(32, "test")
    share = torch.bincount(y, minlength=len(FLOWER_CLASSES)).double() / len(y)
    lo, hi = round(100 * share.min().item()), round(100 * share.max().item())
    assert f"({lo} to {hi} %, {FLOWER_CLASSES[int(share.argmax())]} the largest)" in norm(WALKTHROUGH.read_text())


def test_a_stale_symptom_is_caught():
    """The same check on an edited copy of the walkthrough: a changed number in a quote fails."""
    assert_stale_copy_caught(WALKTHROUGH.read_text(), SYMPTOMS, 'got 0.8858', 'got 0.8859')
    # a check named as failing that passes is caught too
    named = [Symptom("the solution", "unit vectors", lambda: printed(CTX, _main(_image_context())), failing=True)]
    assert any("no failing check named" in p for p in problems(WALKTHROUGH.read_text(), named))
