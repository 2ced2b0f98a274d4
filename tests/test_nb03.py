"""Notebook 03 (optimizations), what is specific to it: its solutions equal their helpers twins,
the checks accept the reference and reject common mistakes, points and questions, and what its
graded solution run printed. The contract of every notebook is tests/test_assignments.py."""
from __future__ import annotations

import json
import os
import re
import sys

import pytest
import torch
import torch.nn as nn

from helpers import blocks, ddpm
from helpers.checks import nb03
from helpers.schedules import Schedule

sys.path.insert(0, os.path.dirname(__file__))
import contract  # noqa: E402
from nbtools import REPO, cells_by_grade_id, solution_namespace, source_notebook  # noqa: E402
from symptoms import Symptom, assert_quotes_hold, assert_stale_copy_caught, assert_tables_tied, norm, printed  # noqa: E402

NB = source_notebook("03_optimizations")
TODOS = ["todo1_gelu_conv_block", "todo2_rearrange_pool_block", "todo3_sinusoidal_embedding",
         "todo4_residual_conv_block", "todo5_ddim_step", "todo6_ddim_sample"]
PREAMBLE = """
import math
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops.layers.torch import Rearrange
from helpers import ddpm
from helpers.schedules import Schedule
"""


def ok(results) -> bool:
    return all(r.ok for r in results)


def failed(results) -> list[str]:
    return [r.line for r in results if not r.ok]


@pytest.fixture(scope="module")
def ns():
    return solution_namespace(NB, TODOS, preamble=PREAMBLE)


# --------------------------------------------------------------------------- (d) structure

def test_discussion_questions_and_answers():
    cells = json.loads(NB.read_text())["cells"]
    assert [c["metadata"]["nbgrader"]["grade_id"] for c in cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")] == TODOS
    assert cells[-1]["cell_type"] == "markdown" and "Discussion questions" in "".join(cells[-1]["source"])
    n_questions = sum(1 for ln in "".join(cells[-1]["source"]).splitlines() if re.match(r"\d+\. ", ln))
    assert n_questions >= 12
    answers = (REPO / "answers" / "03_Optimizations_Answers.md").read_text()
    assert answers.count("**Q") >= n_questions


def test_total_points():
    nb = json.loads(NB.read_text())
    pts = [c["metadata"]["nbgrader"]["points"] for c in nb["cells"]
           if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert len(pts) == 6 and sum(pts) == 12


# --------------------------------------------------------------------------- (b) twins

def test_solutions_equal_helpers_twins(ns):
    torch.manual_seed(0)
    x = torch.randn(2, 8, 8, 8)
    for name, ref_cls, args in (("GELUConvBlock", blocks.GELUConvBlock, (8, 16)),
                                ("RearrangePoolBlock", blocks.RearrangePoolBlock, (8, 16)),
                                ("ResidualConvBlock", blocks.ResidualConvBlock, (8, 16)),
                                ("ResidualConvBlock", blocks.ResidualConvBlock, (8, 8))):
        torch.manual_seed(1)
        ref = ref_cls(*args)
        torch.manual_seed(1)
        mine = ns[name](*args)  # default conv_block: the notebook's own GELUConvBlock
        assert list(mine.state_dict()) == list(ref.state_dict())
        for a, b in zip(mine.state_dict().values(), ref.state_dict().values()):
            assert torch.equal(a, b)  # same init order -> same weights
        assert torch.allclose(mine(x), ref(x), atol=1e-6)
    t = torch.randint(0, 1000, (16,), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ns["SinusoidalPositionEmbedBlock"](32)(t), blocks.SinusoidalPositionEmbedBlock(32)(t),
                          atol=1e-5)
    sched = Schedule.linear(1000)
    g = torch.Generator().manual_seed(3)
    x_t, eps, z = (torch.randn(4, 1, 8, 8, generator=g) for _ in range(3))
    for t, t_prev, eta in ((999, 958, 0.0), (500, 499, 1.0), (40, -1, 0.5), (10, 3, 0.3)):
        assert torch.allclose(ns["ddim_step"](x_t, t, t_prev, eps, sched, eta=eta, noise=z),
                              ddpm.ddim_step(x_t, t, t_prev, eps, sched, eta=eta, noise=z), atol=1e-5)
    torch.manual_seed(0)
    model = blocks.GELUConvBlock(1, 8)  # any deterministic eps_fn
    eps_fn = lambda x, t: model(x)[:, :1] * 0.1 + 0.01 * t.float().reshape(-1, 1, 1, 1) / 100  # noqa: E731
    for eta in (0.0, 1.0):
        mine = ns["ddim_sample"](eps_fn, (3, 1, 8, 8), Schedule.linear(100), steps=12, eta=eta,
                                 generator=torch.Generator().manual_seed(7))  # uses the notebook's ddim_step
        ref = ddpm.ddim_sample(eps_fn, (3, 1, 8, 8), Schedule.linear(100), steps=12, eta=eta, progress=False,
                               generator=torch.Generator().manual_seed(7))
        assert torch.allclose(mine, ref, atol=1e-5)


# --------------------------------------------------------------------------- (c) checks accept / reject

def test_checks_accept_the_solutions(ns):
    for fn, name, kw in ((nb03.check_gelu_conv_block, "GELUConvBlock", dict(seed=2, groups=16, in_ch=16)),
                         (nb03.check_rearrange_pool_block, "RearrangePoolBlock", dict(seed=1, in_ch=1, size=28)),
                         (nb03.check_sinusoidal_embedding, "SinusoidalPositionEmbedBlock", dict(seed=1, dim=64)),
                         (nb03.check_residual_conv_block, "ResidualConvBlock", dict(seed=1, ch=16, out_ch=8)),
                         (nb03.check_ddim_step, "ddim_step", dict(seed=3, T=50)),
                         (nb03.check_ddim_sample, "ddim_sample", dict(seed=2, T=100, steps=100))):
        for kwargs in ({}, kw):
            res = fn(ns[name], **kwargs)
            assert ok(res), failed(res)


def test_checks_reject_reexported_reference():
    res = nb03.check_gelu_conv_block(blocks.GELUConvBlock)
    assert failed(res) and "your own class" in failed(res)[0]


def _main(cls):
    cls.__module__ = "__main__"  # as if written in the notebook
    return cls


def test_gelu_check_rejects_batchnorm_and_relu():
    @_main
    class BatchNormBlock(nn.Module):  # notebook 02's normalisation
        def __init__(self, in_ch, out_ch, groups=8):
            super().__init__()
            self.model = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.GELU())

        def forward(self, x):
            return self.model(x)

    bad = failed(nb03.check_gelu_conv_block(BatchNormBlock))
    assert any("BatchNorm" in ln for ln in bad) and any("rest of the batch" in ln for ln in bad)

    @_main
    class ReLUBlock(BatchNormBlock):  # right norm, wrong activation
        def __init__(self, in_ch, out_ch, groups=8):
            nn.Module.__init__(self)
            self.model = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.GroupNorm(groups, out_ch), nn.ReLU())

    bad = failed(nb03.check_gelu_conv_block(ReLUBlock))
    assert len(bad) == 1 and "same output" in bad[0]

    @_main
    class SwappedGroupNorm(BatchNormBlock):  # nn.GroupNorm(out_ch, groups): arguments swapped
        def __init__(self, in_ch, out_ch, groups=8):
            nn.Module.__init__(self)
            self.model = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.GroupNorm(out_ch, out_ch), nn.GELU())

    assert failed(nb03.check_gelu_conv_block(SwappedGroupNorm))


def test_pool_check_rejects_wrong_patch_order_and_maxpool():
    @_main
    class WrongOrder(nn.Module):  # "(p1 h)": strided sub-images instead of 2x2 patches
        def __init__(self, in_ch, out_ch, groups=8, conv_block=None):
            super().__init__()
            from einops.layers.torch import Rearrange
            self.rearrange = Rearrange("b c (p1 h) (p2 w) -> b (c p1 p2) h w", p1=2, p2=2)
            self.conv = conv_block(4 * in_ch, out_ch, groups)

        def forward(self, x):
            return self.conv(self.rearrange(x))

    bad = failed(nb03.check_rearrange_pool_block(WrongOrder))
    assert any("PixelUnshuffle" in ln for ln in bad)

    @_main
    class MaxPool(nn.Module):
        def __init__(self, in_ch, out_ch, groups=8, conv_block=None):
            super().__init__()
            self.rearrange = nn.MaxPool2d(2)
            self.conv = conv_block(in_ch, out_ch, groups)

        def forward(self, x):
            return self.conv(self.rearrange(x))

    bad = failed(nb03.check_rearrange_pool_block(MaxPool))
    assert any("rearranged shape" in ln for ln in bad)


def test_embedding_check_rejects_common_mistakes():
    import math

    def make(fn):
        @_main
        class Emb(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.dim = dim

            def forward(self, t):
                return fn(t, self.dim)
        return Emb

    def interleaved(t, dim):  # sin, cos, sin, cos, ...
        half = dim // 2
        args = t.float()[:, None] * torch.exp(-math.log(10000) * torch.arange(half) / (half - 1))
        return torch.stack((args.sin(), args.cos()), dim=-1).reshape(len(t), dim)

    def scaled(t, dim):  # t/T fed in: all frequencies too slow, neighbours nearly equal
        half = dim // 2
        args = (t.float() / 1000)[:, None] * torch.exp(-math.log(10000) * torch.arange(half) / (half - 1))
        return torch.cat((args.sin(), args.cos()), dim=-1)

    def sin_only(t, dim):  # no cosines: t and pi - t... and a zero vector at t = 0
        half = dim // 2
        args = t.float()[:, None] * torch.exp(-math.log(10000) * torch.arange(dim) / (dim - 1))
        return args.sin()

    assert any("equals helpers" in ln for ln in failed(nb03.check_sinusoidal_embedding(make(interleaved))))
    assert any("distinct" in ln for ln in failed(nb03.check_sinusoidal_embedding(make(scaled))))
    assert failed(nb03.check_sinusoidal_embedding(make(sin_only)))


def test_residual_check_rejects_missing_skip_and_3x3_skip():
    @_main
    class NoSkip(nn.Module):
        def __init__(self, in_ch, out_ch, groups=8, conv_block=None):
            super().__init__()
            self.branch = nn.Sequential(conv_block(in_ch, out_ch, groups), conv_block(out_ch, out_ch, groups))
            self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

        def forward(self, x):
            return self.branch(x)  # forgot to add the skip path

    bad = failed(nb03.check_residual_conv_block(NoSkip))
    assert any("identity" in ln for ln in bad)

    @_main
    class Skip3x3(NoSkip):
        def __init__(self, in_ch, out_ch, groups=8, conv_block=None):
            super().__init__(in_ch, out_ch, groups, conv_block)
            self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 3, padding=1)

        def forward(self, x):
            return self.skip(x) + self.branch(x)

    bad = failed(nb03.check_residual_conv_block(Skip3x3))
    assert bad and all("out_ch=16" in ln for ln in bad)


def test_ddim_step_check_rejects_common_mistakes():
    def no_sigma_in_direction(x_t, t, t_prev, eps, sched, eta=0.0, noise=None):
        a_t = sched.alphas_cumprod[t]
        a_prev = sched.alphas_cumprod[t_prev] if t_prev >= 0 else torch.tensor(1.0)
        x0 = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
        out = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps  # forgot "- sigma^2"
        return out + sigma * noise if (eta > 0 and t_prev >= 0) else out

    def alphas_not_cumprod(x_t, t, t_prev, eps, sched, eta=0.0, noise=None):
        return ddpm.ddim_step(x_t, t, t_prev, eps, Schedule(**{**sched.__dict__,
                                                              "alphas_cumprod": sched.alphas}), eta, noise)

    def wrap_python_index(x_t, t, t_prev, eps, sched, eta=0.0, noise=None):  # alphas_cumprod[-1] at the end
        a_t, a_prev = sched.alphas_cumprod[t], sched.alphas_cumprod[t_prev]
        x0 = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).clamp(min=0).sqrt()
        out = a_prev.sqrt() * x0 + (1 - a_prev - sigma ** 2).clamp(min=0).sqrt() * eps
        return out + sigma * noise if eta > 0 and noise is not None else out

    for fn, expect in ((no_sigma_in_direction, "p_mean"), (alphas_not_cumprod, "reference"),
                       (wrap_python_index, "x0_hat")):
        fn.__module__ = "__main__"
        bad = failed(nb03.check_ddim_step(fn))
        assert any(expect in ln for ln in bad), (fn.__name__, bad)


def test_ddim_sample_check_rejects_common_mistakes():
    def global_rng_noise(eps_fn, shape, sched, steps=25, eta=0.0, generator=None, step_fn=None):
        ts = ddpm.ddim_timesteps(sched.T, steps).tolist()
        x = torch.randn(shape, generator=generator)
        for i, t in enumerate(ts):
            eps = eps_fn(x, torch.full((shape[0],), t, dtype=torch.long))
            noise = torch.randn_like(x) if eta > 0 else None  # the global RNG, not the generator
            x = step_fn(x, t, ts[i + 1] if i + 1 < len(ts) else -1, eps, sched, eta=eta, noise=noise)
        return x.clamp(-1, 1)

    def stops_at_zero(eps_fn, shape, sched, steps=25, eta=0.0, generator=None, step_fn=None):
        ts = ddpm.ddim_timesteps(sched.T, steps).tolist()
        x = torch.randn(shape, generator=generator)
        for t, t_prev in zip(ts[:-1], ts[1:]):  # never takes the last jump to x_0
            eps = eps_fn(x, torch.full((shape[0],), t, dtype=torch.long))
            noise = torch.randn(shape, generator=generator) if eta > 0 else None
            x = step_fn(x, t, t_prev, eps, sched, eta=eta, noise=noise)
        return x.clamp(-1, 1)

    for fn in (global_rng_noise, stops_at_zero):
        fn.__module__ = "__main__"
    bad = failed(nb03.check_ddim_sample(global_rng_noise))
    assert len(bad) == 1 and "eta=1" in bad[0]
    bad = failed(nb03.check_ddim_sample(stops_at_zero))
    assert any("network calls" in ln for ln in bad)


def test_stub_is_reported_not_raised(capsys):
    from helpers import checks

    @_main
    class Stub(nn.Module):
        def __init__(self, *a, **k):
            super().__init__()
            raise NotImplementedError()

    assert checks.self_check(nb03.check_gelu_conv_block, Stub) is False
    assert "not done yet" in capsys.readouterr().out
    with pytest.raises(NotImplementedError):
        checks.require(nb03.check_residual_conv_block, Stub)


# --------------------------------------------------------------------------- the graded solution run

@pytest.mark.slow
def test_solution_run_prints_its_demonstrations(graded_demo):
    """The demo class's complete student as the grader ran it (tests/test_assignments.py checks
    every notebook's self-checks, errors and output of graded cells)."""
    text = contract.output_text(contract.solution_notebook(graded_demo, "03_optimizations"))
    assert text.count("checks passed \U0001F389") == 6, text[-3000:]
    assert "speed-up:" in text and "GroupNorm" in text


# --------------------------------------------------------------------------- the walkthrough's symptoms

WALKTHROUGH = REPO / "walkthroughs" / "03_Optimizations_Walkthrough.md"
CELLS = cells_by_grade_id(NB)
_GELU = "todo1_gelu_conv_block"
_POOL = "todo2_rearrange_pool_block"
_EMB = "todo3_sinusoidal_embedding"
_RES = "todo4_residual_conv_block"
_STEP = "todo5_ddim_step"
_SAMPLE = "todo6_ddim_sample"
_CHECKS = {_GELU: (nb03.check_gelu_conv_block, "GELUConvBlock"), _POOL: (nb03.check_rearrange_pool_block, "RearrangePoolBlock"),
           _EMB: (nb03.check_sinusoidal_embedding, "SinusoidalPositionEmbedBlock"),
           _RES: (nb03.check_residual_conv_block, "ResidualConvBlock"), _STEP: (nb03.check_ddim_step, "ddim_step"),
           _SAMPLE: (nb03.check_ddim_sample, "ddim_sample")}
_PATTERN = '"b c (h p1) (w p2) -> b (c p1 p2) h w"'
_SKIP = "nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, kernel_size=1)"
_SIGMA = "sigma = eta * ((1 - a_prev) / (1 - a_t)).sqrt() * (1 - a_t / a_prev).sqrt()"



def _span(gid: str, start: str, end: str) -> str:
    """The solution cell's text from the last `start` (after the TODO comments) through the next `end`."""
    src = CELLS[gid]
    i = src.rindex(start)
    return src[i:src.index(end, i) + len(end)]


# The common mistakes of walkthrough 03, each as an edit of one solution cell: (cell, old text, new text)
MISTAKES = {
    "gelu: BatchNorm": (_GELU, "nn.GroupNorm(groups, out_ch),", "nn.BatchNorm2d(out_ch),"),
    "gelu: GroupNorm arguments swapped": (_GELU, "nn.GroupNorm(groups, out_ch),", "nn.GroupNorm(out_ch, groups),"),
    "gelu: ReLU": (_GELU, "nn.GELU(),", "nn.ReLU(),"),
    "gelu: padding 0": (_GELU, "padding=1", "padding=0"),
    "gelu: own attribute names": (_GELU, _span(_GELU, "self.model = nn.Sequential(", "return self.model(x)"),
                                  "self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)\n"
                                  "        self.norm = nn.GroupNorm(groups, out_ch)\n        self.act = nn.GELU()\n\n"
                                  "    def forward(self, x):\n        return self.act(self.norm(self.conv(x)))"),
    "pool: (p1 h) order": (_POOL, _PATTERN, '"b c (p1 h) (p2 w) -> b (c p1 p2) h w"'),
    "pool: (p1 p2 c) channels": (_POOL, _PATTERN, '"b c (h p1) (w p2) -> b (p1 p2 c) h w"'),
    "pool: forgot the 4": (_POOL, "conv_block(4 * in_ch, out_ch, groups)", "conv_block(in_ch, out_ch, groups)"),
    "pool: max-pool, conv for in_ch": (_POOL, f"Rearrange({_PATTERN}, p1=2, p2=2)  # (B, 4C, H/2, W/2)\n"
                                       "        self.conv = conv_block(4 * in_ch, out_ch, groups)",
                                       "nn.MaxPool2d(2)\n        self.conv = conv_block(in_ch, out_ch, groups)"),
    "pool: max-pool, conv for 4 in_ch": (_POOL, f"Rearrange({_PATTERN}, p1=2, p2=2)", "nn.MaxPool2d(2)"),
    "pool: GELUConvBlock called directly": (_POOL, "self.conv = conv_block(", "self.conv = GELUConvBlock("),
    "emb: interleaved": (_EMB, "return torch.cat((args.sin(), args.cos()), dim=-1)",
                         "return torch.stack((args.sin(), args.cos()), dim=-1).reshape(len(t), self.dim)"),
    "emb: exponent i / half": (_EMB, "i / (half - 1)", "i / half"),
    "emb: t / T": (_EMB, "args = t.float()[:, None]", "args = (t.float() / 1000)[:, None]"),
    "emb: sines only": (_EMB, _span(_EMB, "half = self.dim // 2", "dim=-1)"),
                        "i = torch.arange(self.dim, device=t.device)\n"
                        "        freqs = torch.exp(-math.log(10000) * i / (self.dim - 1))\n"
                        "        return (t.float()[:, None] * freqs[None, :]).sin()"),
    "emb: no device": (_EMB, "torch.arange(half, device=t.device)", "torch.arange(half)"),
    "emb: t inside exp": (_EMB, _span(_EMB, "freqs = torch.exp(", "freqs[None, :]"),
                          "args = torch.exp(-math.log(10000) * (t[:, None] * i) / (half - 1))"),
    "res: skip not added": (_RES, "return self.skip(x) + self.branch(x)", "return self.branch(x)"),
    "res: 3x3 skip": (_RES, "nn.Conv2d(in_ch, out_ch, kernel_size=1)", "nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)"),
    "res: always a 1x1 skip": (_RES, _SKIP, "nn.Conv2d(in_ch, out_ch, kernel_size=1)"),
    "res: identity when channels differ": (_RES, _SKIP, "nn.Identity()"),
    "res: second block conv_block(in_ch, out_ch)": (_RES, "conv_block(out_ch, out_ch, groups))",
                                                    "conv_block(in_ch, out_ch, groups))"),
    "step: alphas": (_STEP, "abar = sched.alphas_cumprod", "abar = sched.alphas"),
    "step: direction without sigma^2": (_STEP, "(1 - a_prev - sigma ** 2).clamp(min=0).sqrt() * eps",
                                        "(1 - a_prev).sqrt() * eps"),
    "step: Python wraps t_prev = -1": (_STEP, "a_prev = abar[t_prev] if t_prev >= 0 else torch.ones((), device=abar.device)",
                                       "a_prev = abar[t_prev]"),
    "step: sigma without square roots": (_STEP, _SIGMA, "sigma = eta * ((1 - a_prev) / (1 - a_t)) * (1 - a_t / a_prev)"),
    "step: noise at eta = 0": (_STEP, _SIGMA + "\n" + CELLS[_STEP].split(_SIGMA + "\n")[1].split("\n")[0]
                               + "\n    if eta > 0 and t_prev >= 0:",
                               _SIGMA.replace("eta * ", "") + "\n" + CELLS[_STEP].split(_SIGMA + "\n")[1].split("\n")[0]
                               + "\n    if t_prev >= 0:"),
    "step: only `eta > 0` dropped": (_STEP, "if eta > 0 and t_prev >= 0:", "if t_prev >= 0:"),
    "sample: stops at t = 0": (_SAMPLE, "    for i, t in enumerate(ts):\n        t_prev = ts[i + 1] if i + 1 < len(ts) else -1\n",
                               "    for t, t_prev in zip(ts[:-1], ts[1:]):\n"),
    "sample: t as an int": (_SAMPLE, "eps = eps_fn(x, torch.full((shape[0],), t, dtype=torch.long))", "eps = eps_fn(x, t)"),
    "sample: randn_like noise": (_SAMPLE, "noise = torch.randn(shape, generator=generator) if eta > 0",
                                 "noise = torch.randn_like(x) if eta > 0"),
    "sample: no generator": (_SAMPLE, "x = torch.randn(shape, generator=generator)", "x = torch.randn(shape)"),
    "sample: linspace(T, 0, steps)": (_SAMPLE, "ts = ddpm.ddim_timesteps(sched.T, steps).tolist()",
                                      "ts = torch.linspace(sched.T, 0, steps).long().tolist()"),
    "sample: no clamp": (_SAMPLE, "return x.clamp(-1, 1)", "return x"),
    "sample: ddim_step called directly": (_SAMPLE, "x = step_fn(", "x = ddim_step("),
}


def _variant(name: str) -> tuple[dict, str]:
    """The solution namespace with the mistake's edit (its old text must occur), and the TODO's cell."""
    gid, old, new = MISTAKES[name]
    assert old in CELLS[gid], (name, old)
    cells = {**CELLS, gid: CELLS[gid].replace(old, new)}
    ns: dict = {"__name__": "__main__"}
    exec(compile(PREAMBLE, "<preamble>", "exec"), ns)
    for sol in TODOS:
        exec(compile(cells[sol], f"<{sol}>", "exec"), ns)
    return ns, gid


def _mistake(name: str, **kwargs):
    """What the TODO's self-check prints for the solution with that mistake."""
    def run() -> str:
        ns, gid = _variant(name)
        check, obj = _CHECKS[gid]
        torch.manual_seed(0)  # a block's own initial weights come from the global generator
        return printed(check, ns[obj], **kwargs)
    return run


def _verdicts(name: str, **kwargs) -> list[bool]:
    ns, gid = _variant(name)
    check, obj = _CHECKS[gid]
    torch.manual_seed(0)
    return [r.ok for r in check(ns[obj], **kwargs)]


def _reexported() -> str:
    return printed(nb03.check_gelu_conv_block, blocks.GELUConvBlock)


SYMPTOMS = [
    Symptom("gelu: BatchNorm", "✗ no BatchNorm", _mistake("gelu: BatchNorm"), failing=True),
    Symptom("gelu: BatchNorm", "✗ one nn.GroupNorm with num_groups=groups: got [], expected [(8, 16)]",
            _mistake("gelu: BatchNorm")),
    Symptom("gelu: BatchNorm", "✗ a sample's output does not depend on the rest of the batch", _mistake("gelu: BatchNorm"),
            failing=True),
    Symptom("gelu: BatchNorm", "✗ parameter names", _mistake("gelu: BatchNorm"), failing=True),
    Symptom("gelu: GroupNorm arguments swapped", "✗ your code raised ValueError: num_channels (8) must be divisible by "
            "num_groups (16)", _mistake("gelu: GroupNorm arguments swapped")),
    Symptom("gelu: ReLU", "✗ same weights -> same output", _mistake("gelu: ReLU"), failing=True),
    Symptom("gelu: padding 0", "✗ output shape (B, out_ch, H, W): got (4, 16, 6, 6), expected (4, 16, 8, 8)",
            _mistake("gelu: padding 0")),
    Symptom("gelu: own attribute names", "✗ parameter names match the reference (...) (yours has conv.weight, conv.bias, "
            "norm.weight, norm.bias, which the reference does not; yours lacks model.0.weight, …)",
            _mistake("gelu: own attribute names")),
    Symptom("gelu: the reference imported", "✗ GELUConvBlock is your own class: got helpers.blocks", _reexported),
    Symptom("pool: (p1 h) order", "✗ lossless: nn.PixelShuffle(2) puts every pixel back", _mistake("pool: (p1 h) order"),
            failing=True),
    Symptom("pool: (p1 h) order", "✗ rearrange equals nn.PixelUnshuffle(2)", _mistake("pool: (p1 h) order"), failing=True),
    Symptom("pool: (p1 p2 c) channels", "✗ lossless: nn.PixelShuffle(2) puts every pixel back",
            _mistake("pool: (p1 p2 c) channels"), failing=True),
    Symptom("pool: (p1 p2 c) channels", "✗ rearrange equals nn.PixelUnshuffle(2)", _mistake("pool: (p1 p2 c) channels"),
            failing=True),
    Symptom("pool: (p1 p2 c) channels", "✗ same weights -> same output", _mistake("pool: (p1 p2 c) channels"),
            failing=True),
    Symptom("pool: forgot the 4", "expected input[2, 16, 4, 4] to have 4 channels, but got 16 channels instead",
            _mistake("pool: forgot the 4")),
    Symptom("pool: forgot the 4", "✗ your code raised RuntimeError", _mistake("pool: forgot the 4")),
    Symptom("pool: max-pool, conv for in_ch", "✗ rearranged shape (B, 4*in_ch, H/2, W/2): got (2, 4, 4, 4), expected "
            "(2, 16, 4, 4)", _mistake("pool: max-pool, conv for in_ch")),
    Symptom("pool: max-pool, conv for 4 in_ch", "✗ your code raised RuntimeError: ... expected input[2, 4, 4, 4] to have "
            "16 channels, but got 4 channels instead", _mistake("pool: max-pool, conv for 4 in_ch")),
    Symptom("emb: interleaved", "✗ t = 0 gives [0, ..., 0, 1, ..., 1]: got 1, expected 0", _mistake("emb: interleaved")),
    Symptom("emb: interleaved", "✗ equals helpers.blocks.SinusoidalPositionEmbedBlock", _mistake("emb: interleaved"),
            failing=True),
    Symptom("emb: exponent i / half", "✗ equals helpers...: got 0.964, expected -0.9971 (worst of 160 elements ...)",
            _mistake("emb: exponent i / half")),
    Symptom("emb: t / T", "✗ clearly distinct for every t in [0, 1000): got closest pair 0 apart, expected > 0.05 "
            "(Euclidean)", _mistake("emb: t / T")),
    Symptom("emb: t / T", "✗ equals helpers", _mistake("emb: t / T"), failing=True),
    Symptom("emb: sines only", "✗ t = 0 gives [0, ..., 0, 1, ..., 1]", _mistake("emb: sines only"), failing=True),
    Symptom("emb: sines only", "✗ equals helpers", _mistake("emb: sines only"), failing=True),
    Symptom("emb: t inside exp", "✗ clearly distinct ...: got closest pair 0 apart", _mistake("emb: t inside exp")),
    Symptom("emb: t inside exp", "✗ t = 0 gives [0, ..., 0, 1, ..., 1]: got 0.8415, expected 0",
            _mistake("emb: t inside exp")),
    Symptom("emb: t inside exp", "✗ equals helpers", _mistake("emb: t inside exp"), failing=True),
    Symptom("res: skip not added", "✗ ... same weights -> same output", _mistake("res: skip not added"), failing=True),
    Symptom("res: skip not added", "✗ ... branch zeroed -> the block is the identity", _mistake("res: skip not added"),
            failing=True),
    Symptom("res: 3x3 skip", "✗ in_ch=8, out_ch=16: parameter names match (self.branch, self.skip) (skip.weight is "
            "(16, 8, 3, 3), the reference's (16, 8, 1, 1))", _mistake("res: 3x3 skip"), failing=True),
    Symptom("res: always a 1x1 skip", "✗ in_ch=8, out_ch=8: parameter names match (…) (yours has skip.weight, skip.bias, "
            "which the reference does not)", _mistake("res: always a 1x1 skip"), failing=True),
    Symptom("res: identity when channels differ", "RuntimeError: The size of tensor a (8) must match the size of tensor b "
            "(16)", _mistake("res: identity when channels differ")),
    Symptom("res: identity when channels differ", "✗ your code raised RuntimeError",
            _mistake("res: identity when channels differ")),
    Symptom("res: second block conv_block(in_ch, out_ch)", "✗ your code raised RuntimeError: ... expected input[2, 16, 8, 8] "
            "to have 8 channels, but got 16 channels instead", _mistake("res: second block conv_block(in_ch, out_ch)")),
    Symptom("step: alphas", "✗ eta=0 ... equals the reference", _mistake("step: alphas"), failing=True),
    Symptom("step: direction without sigma^2", "✗ eta=1 ... equals the reference", _mistake("step: direction without sigma^2"),
            failing=True),
    Symptom("step: direction without sigma^2", "✗ eta=1, t -> t-1: the mean equals DDPM's p_mean",
            _mistake("step: direction without sigma^2"), failing=True),
    Symptom("step: Python wraps t_prev = -1", "✗ t_prev = -1 (the last step) returns x0_hat: got tensor(3, 1, 6, 6) "
            "[nan, nan, nan, ...]", _mistake("step: Python wraps t_prev = -1")),
    Symptom("step: sigma without square roots", "got 0.0001544, expected 0.01243", _mistake("step: sigma without square roots")),
    Symptom("step: noise at eta = 0", "✗ eta=0 ... equals the reference", _mistake("step: noise at eta = 0"), failing=True),
    Symptom("step: noise at eta = 0", "✗ eta=0 is deterministic: the noise argument is ignored",
            _mistake("step: noise at eta = 0"), failing=True),
    Symptom("sample: stops at t = 0", "✗ 10 network calls ...: got [199, 177, ..., 44, 22], expected [199, 177, ..., 22, 0]",
            _mistake("sample: stops at t = 0")),
    Symptom("sample: stops at t = 0", "✗ ... lands on that image", _mistake("sample: stops at t = 0"), failing=True),
    Symptom("sample: t as an int", "✗ your code raised TypeError: eps_fn expects t as a (B,) tensor",
            _mistake("sample: t as an int")),
    Symptom("sample: randn_like noise", "✗ eta=1: equals the reference", _mistake("sample: randn_like noise"), failing=True),
    Symptom("sample: no generator", "✗ eta=0: equals helpers.ddpm.ddim_sample", _mistake("sample: no generator"),
            failing=True),
    Symptom("sample: no generator", "✗ deterministic", _mistake("sample: no generator"), failing=True),
    Symptom("sample: no generator", "✗ eta=1: equals the reference", _mistake("sample: no generator"), failing=True),
    Symptom("sample: linspace(T, 0, steps)", "✗ your code raised IndexError: index 200 is out of bounds for dimension 0 "
            "with size 200", _mistake("sample: linspace(T, 0, steps)")),
    Symptom("sample: no clamp", "✗ eta=0: equals helpers.ddpm.ddim_sample ...: got -1.828, expected -1",
            _mistake("sample: no clamp")),
    Symptom("sample: no clamp", "✗ eta=1: equals the reference", _mistake("sample: no clamp"), failing=True),
]


def test_walkthrough_symptoms_are_what_the_checks_print():
    """Each symptom walkthrough 03 quotes for a common mistake is what that mistake prints now."""
    assert_quotes_hold(WALKTHROUGH.read_text(), SYMPTOMS)


def test_every_verdict_in_the_mistake_tables_is_tied():
    assert_tables_tied(WALKTHROUGH.read_text(), SYMPTOMS)


def test_walkthrough_counts_of_failing_lines():
    """The walkthrough's "only ...", "passes", "all eta=0 lines pass", "2/7 pass" for those mistakes."""
    # the swap goes unnoticed where out_ch == groups: the graded seed-2 call
    assert all(_verdicts("gelu: GroupNorm arguments swapped", seed=2, in_ch=16, out_ch=16, groups=16, size=4, batch=5))
    assert _verdicts("gelu: ReLU") == [True] * 6 + [False]
    assert all(_verdicts("pool: GELUConvBlock called directly"))
    assert _verdicts("emb: exponent i / half") == [True] * 5 + [False]
    assert all(_verdicts("emb: no device"))  # on the CPU
    assert _verdicts("res: 3x3 skip") == [True] * 6 + [False]
    assert _verdicts("step: alphas") == [True, False, True, False, False, False, False]  # 2/7 pass
    assert _verdicts("step: direction without sigma^2")[:4] == [True] * 4  # the eta=0 lines
    assert _verdicts("step: Python wraps t_prev = -1") == [True, True, True, False, True, True, True]
    assert _verdicts("step: sigma without square roots") == [True] * 4 + [False] * 3  # the three eta=1 lines
    assert all(_verdicts("step: only `eta > 0` dropped"))
    assert _verdicts("sample: randn_like noise") == [True] * 6 + [False]
    assert all(_verdicts("sample: ddim_step called directly"))


def test_a_stale_symptom_is_caught():
    """The same check on an edited copy of the walkthrough: a changed number in a quote fails."""
    assert_stale_copy_caught(WALKTHROUGH.read_text(), SYMPTOMS, 'got 0.0001544, expected 0.01243', 'got 0.0001545, expected 0.01243')
