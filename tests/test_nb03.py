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
from nbtools import REPO, solution_namespace, source_notebook  # noqa: E402

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
