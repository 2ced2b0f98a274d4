"""Notebook 02 (the forward and reverse process), what is specific to it: solution/helpers twins,
check functions against realistic mistakes, hand-worked numbers, points, questions, and what its
graded solution run printed. The contract of every notebook is tests/test_assignments.py.

Run: .venv/bin/python -m pytest -q tests/test_nb02.py
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contract  # noqa: E402
import nbtools  # noqa: E402

from helpers import ddpm  # noqa: E402
from helpers.checks import nb02  # noqa: E402
from helpers.schedules import Schedule  # noqa: E402
from helpers.train import train  # noqa: E402
from helpers.unet import TimeUNet as RefTimeUNet  # noqa: E402
from symptoms import Symptom, assert_quotes_hold, assert_stale_copy_caught, assert_tables_tied, printed, raised  # noqa: E402

ASSIGNMENT = "02_diffusion_models"
NB = nbtools.source_notebook(ASSIGNMENT)
REPO = nbtools.REPO
ANSWERS = REPO / "answers" / "02_Diffusion_Models_Answers.md"
WALKTHROUGH = REPO / "walkthroughs" / "02_Diffusion_Models_Walkthrough.md"
TODOS = [  # (solution grade_id, graded grade_id, object name, points)
    ("todo1_make_schedule", "test_todo1_make_schedule", "make_schedule", 3),
    ("todo2_q_sample", "test_todo2_q_sample", "q_sample", 3),
    ("todo3_p_sample", "test_todo3_p_sample", "p_sample", 3),
    ("todo4_time_unet", "test_todo4_time_unet", "TimeUNet", 2),
    ("todo5_noise_loss", "test_todo5_noise_loss", "noise_loss", 2),
]


def _cells():
    return json.loads(NB.read_text())["cells"]


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _imports_cell() -> str:
    """The notebook's own imports-and-sizes cell, used as the preamble of the solution cells."""
    for c in _cells():
        src = "".join(c["source"])
        if c["cell_type"] == "code" and "T = pick(" in src:
            return src
    raise AssertionError("no imports/sizes cell with `T = pick(` found")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ns():
    """The namespace after running the imports cell and every solution cell (as in a kernel)."""
    return nbtools.solution_namespace(NB, [t[0] for t in TODOS], preamble=_imports_cell())


def _ok(results) -> bool:
    return all(r.ok for r in results)


def _failed(results) -> list[str]:
    return [r.name for r in results if not r.ok]


# --------------------------------------------------------------------------- (a) execution

@pytest.mark.slow
def test_solution_run_prints_its_demonstrations(graded_demo):
    """The demo class's complete student as the grader ran it (tests/test_assignments.py checks
    every notebook's self-checks, errors and stderr): the oracle sampler recovers x0."""
    text = contract.output_text(contract.solution_notebook(graded_demo, ASSIGNMENT))
    assert text.count("checks passed \U0001F389") == len(TODOS)
    m = re.search(r"oracle sampler: max \|x_final - x0\| = ([0-9.e+-]+)", text)
    assert m and float(m.group(1)) < 1e-4


# --------------------------------------------------------------------------- (b) twins

def test_make_schedule_matches_helpers(ns):
    for T, b0, b1 in [(1000, 1e-4, 0.02), (300, 1e-4 * 1000 / 300, 0.02 * 1000 / 300), (7, 0.01, 0.3), (1, 0.02, 0.02)]:
        got = ns["make_schedule"](T, b0, b1)
        ref = Schedule.linear(T, b0, b1)
        assert set(got) == set(nb02.SCHEDULE_KEYS)
        for key in nb02.SCHEDULE_KEYS:
            assert got[key].dtype == torch.float32
            torch.testing.assert_close(got[key], getattr(ref, key), rtol=1e-6, atol=1e-9, msg=f"{key} at T={T}")
    # the notebook wraps the student's dict in a Schedule: the fields must be exactly these
    Schedule(**ns["make_schedule"](10, 1e-3, 0.1))


def test_q_sample_matches_helpers(ns):
    g = torch.Generator().manual_seed(0)
    sched = Schedule.linear(200, 5e-4, 0.1)
    x0 = torch.randn(6, 3, 8, 8, generator=g)
    t = torch.randint(0, 200, (6,), generator=g)
    noise = torch.randn(6, 3, 8, 8, generator=g)
    torch.testing.assert_close(ns["q_sample"](x0, t, sched, noise), ddpm.q_sample(x0, t, sched, noise))
    torch.manual_seed(5)
    a = ns["q_sample"](x0, t, sched)
    torch.manual_seed(5)
    torch.testing.assert_close(a, ddpm.q_sample(x0, t, sched))  # same draw of noise when none is given


def test_p_sample_matches_helpers(ns):
    g = torch.Generator().manual_seed(1)
    sched = Schedule.linear(200, 5e-4, 0.1)
    x_t, eps, z = (torch.randn(6, 2, 8, 8, generator=g) for _ in range(3))
    t = torch.tensor([0, 1, 5, 50, 150, 199])
    torch.testing.assert_close(ns["p_sample"](x_t, t, eps, sched, z),
                               ddpm.p_sample(x_t, t, eps, sched, noise=z, var_type="posterior"))


def test_time_unet_matches_helpers(ns):
    torch.manual_seed(0)
    ref = RefTimeUNet(1, (16, 32), T=300)
    mine = ns["TimeUNet"](in_ch=1, chs=(16, 32), T=300)
    mine.load_state_dict(ref.state_dict())
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 1, 28, 28, generator=g)
    t = torch.tensor([0, 10, 150, 299])
    for mode in ("train", "eval"):
        getattr(ref, mode)()
        getattr(mine, mode)()
        with torch.no_grad():
            torch.testing.assert_close(mine(x, t), ref(x, t), msg=mode)


def test_noise_loss_matches_helpers(ns):
    g = torch.Generator().manual_seed(3)
    sched = Schedule.linear(100, 1e-3, 0.2)
    x0 = torch.randn(8, 1, 12, 12, generator=g).clamp(-1, 1)
    t = torch.randint(0, 100, (8,), generator=g)
    noise = torch.randn(8, 1, 12, 12, generator=g)
    torch.manual_seed(0)
    net = RefTimeUNet(1, (8, 16), T=100)
    got = ns["noise_loss"](net, x0, sched, t, noise)
    torch.testing.assert_close(got, ddpm.noise_loss(net, x0, sched, t=t, noise=noise))
    got.backward()  # keeps the graph


# --------------------------------------------------------------------------- (c) checks vs mistakes

def test_checks_accept_the_solutions(ns):
    for sol, _, name, _ in TODOS:
        check = getattr(nb02, f"check_{'time_unet' if name == 'TimeUNet' else name}")
        for seed in (0, 1, 2):
            results = check(ns[name], seed=seed)
            assert _ok(results), f"{name} seed {seed}: {_failed(results)}"


def _schedule_with(**overrides):
    def make(T, b0=1e-4, b1=0.02):
        d = {k: v.clone() for k, v in vars(Schedule.linear(T, b0, b1)).items()}
        b = torch.linspace(b0, b1, T, dtype=torch.float64)
        a = 1 - b
        for k, fn in overrides.items():
            d[k] = fn(b, a).float()
        return d
    return make


def test_check_make_schedule_rejects_mistakes():
    off_by_one = _schedule_with(alphas_cumprod=lambda b, a: torch.cumprod(torch.cat([torch.ones(1, dtype=a.dtype), a]), 0)[:-1])
    no_sqrt = _schedule_with(sqrt_alphas_cumprod=lambda b, a: torch.cumprod(a, 0))
    sqrt_of_alphas = _schedule_with(sqrt_alphas_cumprod=lambda b, a: a.sqrt())
    posterior_no_prev = _schedule_with(posterior_variance=lambda b, a: b * (1 - torch.cumprod(a, 0)) / (1 - torch.cumprod(a, 0)))
    prev_without_one = _schedule_with(alphas_cumprod_prev=lambda b, a: torch.cat([torch.cumprod(a, 0)[:1], torch.cumprod(a, 0)[:-1]]))
    def linspace_excludes_end(T, b0=1e-4, b1=0.02):
        d = vars(Schedule.linear(T, b0, b1)).copy()
        d["betas"] = (b0 + (b1 - b0) * torch.arange(T) / T).float()
        return d
    for wrong, key in [(off_by_one, "alphas_cumprod"), (no_sqrt, "sqrt_alphas_cumprod"),
                       (sqrt_of_alphas, "sqrt_alphas_cumprod"), (posterior_no_prev, "posterior_variance"),
                       (prev_without_one, "alphas_cumprod_prev"), (linspace_excludes_end, "betas")]:
        failed = _failed(nb02.check_make_schedule(wrong))
        assert failed and all(f.startswith(key) for f in failed), (key, failed)
    missing = lambda T, b0, b1: {k: v for k, v in vars(Schedule.linear(T, b0, b1)).items() if k != "sqrt_recip_alphas"}
    assert not _ok(nb02.check_make_schedule(missing))


def test_check_q_sample_rejects_mistakes():
    def no_sqrt(x0, t, sched, noise=None):
        noise = torch.randn_like(x0) if noise is None else noise
        return ddpm.extract(sched.alphas_cumprod, t, x0.shape) * x0 + ddpm.extract(1 - sched.alphas_cumprod, t, x0.shape) * noise

    def alphas_not_cumprod(x0, t, sched, noise=None):
        noise = torch.randn_like(x0) if noise is None else noise
        return ddpm.extract(sched.alphas.sqrt(), t, x0.shape) * x0 + ddpm.extract(sched.betas.sqrt(), t, x0.shape) * noise

    def first_t_for_all(x0, t, sched, noise=None):
        return ddpm.q_sample(x0, int(t[0]), sched, noise)

    def ignores_none(x0, t, sched, noise=None):  # forgets to draw noise: x_t has no spread
        return ddpm.q_sample(x0, t, sched, torch.zeros_like(x0) if noise is None else noise)

    for wrong in (no_sqrt, alphas_not_cumprod, first_t_for_all):
        assert not _ok(nb02.check_q_sample(wrong)), wrong.__name__
    failed = _failed(nb02.check_q_sample(ignores_none))
    assert failed and all(f.startswith("variance") for f in failed), failed
    failed = _failed(nb02.check_q_sample(no_sqrt))
    assert any(f.startswith("hand-worked") for f in failed) and any(f.startswith("mean") for f in failed)


def test_check_p_sample_rejects_mistakes():
    def noise_at_t0(x_t, t, eps, sched, noise=None):
        noise = torch.randn_like(x_t) if noise is None else noise
        return ddpm.p_mean(x_t, t, eps, sched) + ddpm.extract(sched.posterior_variance.sqrt(), t, x_t.shape) * noise

    def variance_not_std(x_t, t, eps, sched, noise=None):
        mask = (t > 0).float().reshape(-1, 1, 1, 1)
        return ddpm.p_mean(x_t, t, eps, sched) + mask * ddpm.extract(sched.posterior_variance, t, x_t.shape) * noise

    def beta_variance(x_t, t, eps, sched, noise=None):
        return ddpm.p_sample(x_t, t, eps, sched, noise=noise, var_type="beta")

    def coef_without_sqrt(x_t, t, eps, sched, noise=None):
        coef = ddpm.extract(sched.betas / (1 - sched.alphas_cumprod), t, x_t.shape)
        mean = ddpm.extract(sched.sqrt_recip_alphas, t, x_t.shape) * (x_t - coef * eps)
        mask = (t > 0).float().reshape(-1, 1, 1, 1)
        return mean + mask * ddpm.extract(sched.posterior_variance.sqrt(), t, x_t.shape) * noise

    failed = _failed(nb02.check_p_sample(noise_at_t0))
    assert failed == ["t = 0 adds no noise (tested with posterior_variance[0] > 0)"], failed
    for wrong in (variance_not_std, beta_variance, coef_without_sqrt):
        assert not _ok(nb02.check_p_sample(wrong)), wrong.__name__
    assert any(f.startswith("hand-worked") for f in _failed(nb02.check_p_sample(coef_without_sqrt)))


def _main(cls):
    cls.__module__ = "__main__"  # as if defined in the notebook, so only the maths is judged
    return cls


def test_check_time_unet_rejects_mistakes(ns):
    base = ns["TimeUNet"]

    @_main
    class NoTime(base):
        def forward(self, x, t):
            d0 = self.down0(x); d1 = self.down1(d0); d2 = self.down2(d1)
            m = self.middle(d2); u1 = self.up1(m, d2); u2 = self.up2(u1, d1)
            return self.out(torch.cat((u2, d0), dim=1))

    @_main
    class RawT(base):
        def forward(self, x, t):
            tt = t.float().reshape(-1, 1)  # forgot / self.T
            d0 = self.down0(x); d1 = self.down1(d0); d2 = self.down2(d1)
            m = self.middle(d2) + self.t_emb1(tt); u1 = self.up1(m, d2) + self.t_emb2(tt)
            return self.out(torch.cat((self.up2(u1, d1), d0), dim=1))

    @_main
    class OnlyMiddle(base):
        def forward(self, x, t):
            tt = t.float().reshape(-1, 1) / self.T
            d0 = self.down0(x); d1 = self.down1(d0); d2 = self.down2(d1)
            m = self.middle(d2) + self.t_emb1(tt); u1 = self.up1(m, d2)
            return self.out(torch.cat((self.up2(u1, d1), d0), dim=1))

    failed = _failed(nb02.check_time_unet(NoTime))
    assert any(f == "output depends on t" for f in failed), failed
    for wrong in (RawT, OnlyMiddle):
        failed = _failed(nb02.check_time_unet(wrong))
        assert any(f.startswith("output with the reference") for f in failed), (wrong.__name__, failed)
    assert not _ok(nb02.check_time_unet(RefTimeUNet))  # re-exporting the reference is not accepted


def test_check_noise_loss_rejects_mistakes():
    def predicts_x0(eps_fn, x0, sched, t, noise):
        return F.mse_loss(eps_fn(ddpm.q_sample(x0, t, sched, noise), t), x0)

    def sum_not_mean(eps_fn, x0, sched, t, noise):
        return ((eps_fn(ddpm.q_sample(x0, t, sched, noise), t) - noise) ** 2).sum()

    def as_float(eps_fn, x0, sched, t, noise):
        return ddpm.noise_loss(eps_fn, x0, sched, t=t, noise=noise).item()

    def clean_input(eps_fn, x0, sched, t, noise):
        return F.mse_loss(eps_fn(x0, t), noise)

    for wrong in (predicts_x0, sum_not_mean, as_float, clean_input):
        assert not _ok(nb02.check_noise_loss(wrong)), wrong.__name__


def test_hand_worked_numbers():
    ex = nb02.hand_worked_example()
    torch.testing.assert_close(ex["x1"].flatten(), torch.tensor([0.86267, -0.39598]), atol=5e-5, rtol=0)
    torch.testing.assert_close(ddpm.q_sample(ex["x0"], ex["t"], ex["sched"], ex["eps"]), ex["x1"])
    torch.testing.assert_close(ddpm.p_mean(ex["x1"], ex["t"], ex["eps"], ex["sched"]), ex["x0"])


# --------------------------------------------------------------------------- (d) points, questions

def test_points():
    cells = _cells()
    graded = {_nbgrader(c)["grade_id"]: _nbgrader(c)["points"] for c in cells if _nbgrader(c).get("grade")}
    assert graded == {t[1]: t[3] for t in TODOS}
    assert [_nbgrader(c)["grade_id"] for c in cells if _nbgrader(c).get("solution")] == [t[0] for t in TODOS]


def _questions() -> list[str]:
    last = "".join(_cells()[-1]["source"])
    assert "Discussion questions" in last
    qs = re.findall(r"^(\d+)\. (.+?)(?=\n\d+\. |\n\n|\Z)", last, flags=re.M | re.S)
    return [" ".join(q.split()) for _, q in qs]


def test_discussion_questions_match_answers():
    qs = _questions()
    assert len(qs) >= 12
    answers = " ".join(ANSWERS.read_text().split())
    for q in qs:
        assert q[:60] in answers, f"question missing from {ANSWERS.name}: {q[:60]}"
    for level in ("Beginner", "Intermediate", "Advanced", "Implementation", "Reflection"):
        assert level in "".join(_cells()[-1]["source"]) and level in answers


def test_walkthrough_covers_every_todo():
    text = WALKTHROUGH.read_text()
    for n, (_, _, name, _) in enumerate(TODOS, start=1):
        assert f"TODO {n}" in text and name in text


# --------------------------------------------------------------------------- the walkthrough's symptoms

CELLS = nbtools.cells_by_grade_id(NB)
_SIGNAL = ("    signal = ddpm.extract(sched.sqrt_alphas_cumprod, t, x0.shape)  # (B, 1, 1, 1)\n"
           "    noise_scale = ddpm.extract(sched.sqrt_one_minus_alphas_cumprod, t, x0.shape)  # (B, 1, 1, 1)\n")
_SIGMA = "sigma = ddpm.extract(sched.posterior_variance, t, x_t.shape).sqrt()"
_LOSS = "return F.mse_loss(eps_pred, noise)"

# The common mistakes of walkthrough 02, each as an edit of one solution cell: (cell, old text, new text)
MISTAKES = {
    "schedule: off-by-one cumprod": ("todo1_make_schedule", "alphas_cumprod = torch.cumprod(alphas, dim=0)",
                                     "alphas_cumprod = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.float64), "
                                     "alphas]), 0)[:-1]"),
    "schedule: sqrt forgotten": ("todo1_make_schedule", "sqrt_alphas_cumprod = alphas_cumprod.sqrt()",
                                 "sqrt_alphas_cumprod = alphas_cumprod"),
    "schedule: sqrt(alphas)": ("todo1_make_schedule", "sqrt_alphas_cumprod = alphas_cumprod.sqrt()",
                               "sqrt_alphas_cumprod = alphas.sqrt()"),
    "schedule: posterior without _prev": ("todo1_make_schedule", "betas * (1.0 - alphas_cumprod_prev)",
                                          "betas * (1.0 - alphas_cumprod)"),
    "schedule: arange spacing": ("todo1_make_schedule",
                                 "betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)",
                                 "betas = beta_start + (beta_end - beta_start) * torch.arange(T, dtype=torch.float64) / T"),
    "schedule: float32 throughout": ("todo1_make_schedule", "torch.float64", "torch.float32"),
    "q: sqrt forgotten": ("todo2_q_sample", _SIGNAL, "    signal = ddpm.extract(sched.alphas_cumprod, t, x0.shape)\n"
                          "    noise_scale = ddpm.extract(1 - sched.alphas_cumprod, t, x0.shape)\n"),
    "q: one-step alphas/betas": ("todo2_q_sample", _SIGNAL, "    signal = ddpm.extract(sched.alphas.sqrt(), t, x0.shape)\n"
                                 "    noise_scale = ddpm.extract(sched.betas.sqrt(), t, x0.shape)\n"),
    "q: no reshape": ("todo2_q_sample", _SIGNAL, "    signal = sched.sqrt_alphas_cumprod[t]\n"
                      "    noise_scale = sched.sqrt_one_minus_alphas_cumprod[t]\n"),
    "q: ignores noise=None": ("todo2_q_sample", "noise = torch.randn_like(x0)", "noise = torch.zeros_like(x0)"),
    "p: no mask at t = 0": ("todo3_p_sample", "return mean + not_last * sigma * noise", "return mean + sigma * noise"),
    "p: variance as std": ("todo3_p_sample", _SIGMA, _SIGMA.replace(".sqrt()", "")),
    "p: sigma^2 = beta": ("todo3_p_sample", _SIGMA, "sigma = ddpm.extract(sched.betas, t, x_t.shape).sqrt()"),
    "p: sqrt forgotten in the mean": ("todo3_p_sample", "ddpm.extract(sched.sqrt_one_minus_alphas_cumprod, t, x_t.shape)",
                                      "ddpm.extract(1 - sched.alphas_cumprod, t, x_t.shape)"),
    "p: multiplies by sqrt(alphas)": ("todo3_p_sample", "ddpm.extract(sched.sqrt_recip_alphas, t, x_t.shape)",
                                      "ddpm.extract(sched.alphas.sqrt(), t, x_t.shape)"),
    "unet: raw t": ("todo4_time_unet", "t = t.float().reshape(-1, 1) / self.T", "t = t.float().reshape(-1, 1)"),
    "unet: t ignored": ("todo4_time_unet", "m = self.middle(d2) + self.t_emb1(t)  # (B, c1, H/4, W/4)\n"
                        "        u1 = self.up1(m, d2) + self.t_emb2(t)", "m = self.middle(d2)\n        u1 = self.up1(m, d2)"),
    "unet: only t_emb1": ("todo4_time_unet", "u1 = self.up1(m, d2) + self.t_emb2(t)", "u1 = self.up1(m, d2)"),
    "unet: t_emb1 before middle": ("todo4_time_unet", "m = self.middle(d2) + self.t_emb1(t)",
                                   "m = self.middle(d2 + self.t_emb1(t))"),
    "loss: target x0": ("todo5_noise_loss", _LOSS, "return F.mse_loss(eps_pred, x0)"),
    "loss: sum": ("todo5_noise_loss", _LOSS, "return ((eps_pred - noise) ** 2).sum()"),
    "loss: .item()": ("todo5_noise_loss", _LOSS, "return F.mse_loss(eps_pred, noise).item()"),
    "loss: model fed x0": ("todo5_noise_loss", "eps_pred = eps_fn(x_t, t)", "eps_pred = eps_fn(x0, t)"),
}
_CHECKS = {"todo1_make_schedule": (nb02.check_make_schedule, "make_schedule"),
           "todo2_q_sample": (nb02.check_q_sample, "q_sample"), "todo3_p_sample": (nb02.check_p_sample, "p_sample"),
           "todo4_time_unet": (nb02.check_time_unet, "TimeUNet"), "todo5_noise_loss": (nb02.check_noise_loss, "noise_loss")}


def _variant(name: str) -> tuple[dict, str]:
    """The solution namespace with the mistake's one edit (its old text must occur), and the TODO's cell."""
    gid, old, new = MISTAKES[name]
    assert old in CELLS[gid], (name, old)
    cells = {**CELLS, gid: CELLS[gid].replace(old, new)}
    ns: dict = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):  # the sizes cell prints the profile
        exec(compile(_imports_cell(), "<imports>", "exec"), ns)
    for sol, _, _, _ in TODOS:
        exec(compile(cells[sol], f"<{sol}>", "exec"), ns)
    return ns, gid


def _mistake(name: str):
    """What the TODO's self-check prints for the solution with that mistake."""
    def run() -> str:
        ns, gid = _variant(name)
        check, obj = _CHECKS[gid]
        return printed(check, ns[obj])
    return run


def _train_with_item_loss() -> str:
    """The notebook's training cell with a noise_loss that returns .item(): the error `train` raises."""
    ns, _ = _variant("loss: .item()")
    sched = Schedule.linear(10, 1e-3, 0.2)

    def loss_fn(model, x0):  # as the notebook's loss_fn
        t = torch.zeros(x0.shape[0], dtype=torch.long)
        return ns["noise_loss"](model, x0, sched, t, torch.randn_like(x0))

    torch.manual_seed(0)
    model = RefTimeUNet(1, (8, 16), T=10)
    return raised(lambda: train(model, loss_fn, [torch.zeros(2, 1, 8, 8)], steps=1, progress=False))


def _reexported() -> str:
    return printed(nb02.check_time_unet, RefTimeUNet)


SYMPTOMS = [
    Symptom("schedule: off-by-one cumprod", "✗ alphas_cumprod (T=1000, ...): got 0.6077, expected 0.6049 (worst of 1000 "
            "elements, index 219 ...). Hint: ... alphas_cumprod[0] must equal alphas[0] (no 1 in front)",
            _mistake("schedule: off-by-one cumprod")),
    Symptom("schedule: sqrt forgotten", "✗ sqrt_alphas_cumprod ...: got 0.2502, expected 0.5002",
            _mistake("schedule: sqrt forgotten")),
    Symptom("schedule: sqrt(alphas)", "✗ sqrt_alphas_cumprod", _mistake("schedule: sqrt(alphas)"), failing=True),
    Symptom("schedule: posterior without _prev", "✗ posterior_variance ...: got 0.0001, expected 0 (worst of 1000 "
            "elements, index 0; ...)", _mistake("schedule: posterior without _prev")),
    Symptom("schedule: arange spacing", "✗ betas", _mistake("schedule: arange spacing"), failing=True),
    Symptom("q: sqrt forgotten", "✗ hand-worked example ...: got [0.794, -0.308], expected [0.8627, -0.396]",
            _mistake("q: sqrt forgotten")),
    Symptom("q: sqrt forgotten", "✗ mean of x_t ...: got [0.7006, -0.3088, 0.04495], expected [0.7948, -0.4263, 0.1187]",
            _mistake("q: sqrt forgotten")),
    Symptom("q: sqrt forgotten", "✗ variance ...: got [0.04846, 0.2453, 0.7244], expected [0.2202, 0.4952, 0.8436]",
            _mistake("q: sqrt forgotten")),
    Symptom("q: one-step alphas/betas", "✗ x_t for a batch", _mistake("q: one-step alphas/betas"), failing=True),
    Symptom("q: one-step alphas/betas", "✗ mean", _mistake("q: one-step alphas/betas"), failing=True),
    Symptom("q: one-step alphas/betas", "✗ variance", _mistake("q: one-step alphas/betas"), failing=True),
    Symptom("q: no reshape", "✗ your code raised RuntimeError: The size of tensor a (4) must match the size of tensor b "
            "(8) at non-singleton dimension 3", _mistake("q: no reshape")),
    Symptom("q: ignores noise=None", "✗ variance of x_t", _mistake("q: ignores noise=None"), failing=True),
    Symptom("p: no mask at t = 0", "✗ t = 0 adds no noise (tested with posterior_variance[0] > 0): got -0.2743, "
            "expected -0.4017", _mistake("p: no mask at t = 0")),
    Symptom("p: variance as std", "✗ x_(t-1) with a given z ...: got 0.007237, expected 0.7859",
            _mistake("p: variance as std")),
    Symptom("p: sigma^2 = beta", "✗ x_(t-1) with a given z", _mistake("p: sigma^2 = beta"), failing=True),
    Symptom("p: sqrt forgotten in the mean", "✗ hand-worked example ...: got [0.3664, 0.3071], expected [0.8, -0.3]",
            _mistake("p: sqrt forgotten in the mean")),
    Symptom("p: multiplies by sqrt(alphas)", "✗ hand-worked example ...: got [0.784, -0.294], expected [0.8, -0.3]",
            _mistake("p: multiplies by sqrt(alphas)")),
    Symptom("unet: raw t", "✗ output with the reference's weights ...: got 0.4851, expected 0.1289",
            _mistake("unet: raw t")),
    Symptom("unet: t ignored", "✗ output with the reference's weights", _mistake("unet: t ignored"), failing=True),
    Symptom("unet: t ignored", "✗ output depends on t: got max change 0, expected > 1e-05", _mistake("unet: t ignored")),
    Symptom("unet: only t_emb1", "✗ output with the reference's weights", _mistake("unet: only t_emb1"), failing=True),
    Symptom("unet: t_emb1 before middle", "✗ output with the reference's weights", _mistake("unet: t_emb1 before middle"),
            failing=True),
    Symptom("unet: the reference imported", "✗ TimeUNet is your own class: got helpers.unet, expected __main__",
            _reexported),
    Symptom("loss: target x0", "✗ loss for a fixed eps_fn: got 0.9547, expected 0.513", _mistake("loss: target x0")),
    Symptom("loss: target x0", "✗ ... true noise gets loss 0: got 1.491", _mistake("loss: target x0")),
    Symptom("loss: target x0", "✗ loss for a small TimeUNet", _mistake("loss: target x0"), failing=True),
    Symptom("loss: sum", "✗ loss for a fixed eps_fn: got 197", _mistake("loss: sum")),
    Symptom("loss: .item()", "✗ returns a scalar tensor: got float", _mistake("loss: .item()")),
    Symptom("loss: .item()", "✗ the loss keeps the gradient", _mistake("loss: .item()"), failing=True),
    Symptom("loss: .item(), in training", "AttributeError: 'float' object has no attribute 'ndim'", _train_with_item_loss),
    Symptom("loss: model fed x0", "✗ loss for a fixed eps_fn", _mistake("loss: model fed x0"), failing=True),
]


def test_walkthrough_symptoms_are_what_the_checks_print():
    """Each symptom walkthrough 02 quotes for a common mistake is what that mistake prints now."""
    assert_quotes_hold(WALKTHROUGH.read_text(), SYMPTOMS)


def test_every_verdict_in_the_mistake_tables_is_tied():
    assert_tables_tied(WALKTHROUGH.read_text(), SYMPTOMS)


def _verdicts(name: str) -> list[bool]:
    """Pass/fail of each line the TODO's self-check prints for that mistake."""
    ns, gid = _variant(name)
    check, obj = _CHECKS[gid]
    return [r.ok for r in check(ns[obj])]


def test_walkthrough_counts_of_failing_lines():
    """The walkthrough's "4 of 5 fail", "only the last line fails", "passes", ... for those mistakes."""
    assert all(_verdicts("schedule: float32 throughout"))
    assert _verdicts("q: sqrt forgotten") == [False, True, False, False, False]  # 4 of 5 fail
    assert _verdicts("q: one-step alphas/betas") == [True, True, False, False, False]  # hand-worked passes
    assert _verdicts("q: ignores noise=None") == [True, True, True, True, False]  # only the variance
    assert _verdicts("p: no mask at t = 0") == [True, True, True, True, False]  # only the last line
    assert _verdicts("p: sqrt forgotten in the mean") == [False, True, False, False, False]  # 1/5 pass
    assert _verdicts("p: multiplies by sqrt(alphas)") == [False, True, False, False, False]  # 1/5 pass
    # off-by-one cumprod downstream: p_sample divides by 1 - alpha-bar_0 = 0 at the last step
    ns, _ = _variant("schedule: off-by-one cumprod")
    sched = Schedule(**ns["make_schedule"](300, 1e-4 * 1000 / 300, 0.02 * 1000 / 300))
    x = ns["p_sample"](torch.randn(2, 1, 4, 4), torch.zeros(2, dtype=torch.long), torch.randn(2, 1, 4, 4), sched)
    assert x.isnan().all()


def test_a_stale_symptom_is_caught():
    """The same check on an edited copy of the walkthrough: a changed number in a quote fails."""
    assert_stale_copy_caught(WALKTHROUGH.read_text(), SYMPTOMS, 'got 0.007237, expected 0.7859', 'got 0.007238, expected 0.7859')
