"""Device choice, the profile switch and the self-check printer."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import helpers
from helpers import bootstrap, checks


def test_get_device_prints_once_and_is_cpu_here(capsys, monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    helpers.device._announced.clear()
    d = helpers.get_device()
    helpers.get_device()
    out = capsys.readouterr().out
    assert out.count("Using device") == 1
    assert d.type == ("cuda" if torch.cuda.is_available() else d.type)


def test_forced_device(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert helpers.get_device(verbose=False).type == "cpu"
    if not torch.cuda.is_available():
        monkeypatch.setenv("COURSE_DEVICE", "cuda")
        with pytest.raises(RuntimeError, match="COURSE_DEVICE"):
            helpers.get_device(verbose=False)


def test_profile_switch(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert helpers.pick(smoke=1, cpu=2, gpu=3) == 1
    monkeypatch.setenv("COURSE_PROFILE", "full")
    assert helpers.pick(smoke=1, cpu=2, gpu=3) == 2
    monkeypatch.delenv("COURSE_PROFILE")
    assert helpers.get_profile() == "full"
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    with pytest.raises(ValueError, match="smoke"):
        helpers.get_profile()


def test_pick_by_device_kind(monkeypatch):
    """CUDA gets the gpu sizes; an Apple GPU gets the cpu sizes unless mps= is given."""
    monkeypatch.setenv("COURSE_PROFILE", "full")
    sizes = dict(smoke=1, cpu=2, gpu=3)
    assert helpers.pick(**sizes, device="cpu") == 2
    assert helpers.pick(**sizes, device="cuda") == 3
    assert helpers.pick(**sizes, device="mps") == 2
    assert helpers.pick(**sizes, mps=4, device="mps") == 4
    assert helpers.pick(smoke=1, cpu=2, device="cuda") == 2     # no gpu size: the cpu one
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert helpers.pick(**sizes, device="cuda") == 1 and helpers.pick(**sizes, device="mps") == 1


def test_seed_everything_is_reproducible():
    g = helpers.seed_everything(7)
    a = torch.randn(3), torch.randn(3, generator=g)
    g = helpers.seed_everything(7)
    b = torch.randn(3), torch.randn(3, generator=g)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_self_check_lines(capsys):
    def check(x):
        return [checks.close("alphas_cumprod[0] should equal alphas[0]", x, 0.9999, atol=1e-4, hint="cumprod"),
                checks.shape("shape", torch.zeros(2, 3), (2, 3))]

    assert not checks.self_check(check, 0.98)
    out = capsys.readouterr().out
    assert "\u2717 alphas_cumprod[0] should equal alphas[0]: got 0.98, expected 0.9999 (atol 0.0001). Hint: cumprod" in out
    assert "\u2713 shape" in out and "1/2 checks passed" in out
    assert checks.self_check(check, 0.99995)


def test_self_check_reports_stubs_and_errors_without_raising(capsys):
    def stub(_):
        raise NotImplementedError("TODO 3")

    assert not checks.self_check(lambda: stub(0))
    assert not checks.self_check(lambda: 1 / 0)
    out = capsys.readouterr().out
    assert "not done yet: TODO 3" in out and "ZeroDivisionError" in out


def test_require_raises_with_the_failed_lines_and_prints_nothing(capsys):
    with pytest.raises(AssertionError, match="worst of 10 elements"):
        checks.require(lambda: [checks.close("v", torch.arange(10.0), torch.arange(10.0) + torch.eye(10)[3])])
    checks.require(lambda: [checks.true("ok", True)])
    assert capsys.readouterr() == ("", "")


def test_close_handles_shapes_and_nan():
    assert not checks.close("s", torch.zeros(2), torch.zeros(3))
    assert "NaN" in checks.close("n", torch.tensor([float("nan")]), torch.tensor([0.0])).line


def test_defined_in_notebook():
    from helpers.ddpm import q_sample
    assert not checks.defined_in_notebook("q_sample", q_sample)
    ns = {"__name__": "__main__"}
    exec("def q_sample(): pass", ns)
    assert checks.defined_in_notebook("q_sample", ns["q_sample"])


def test_every_source_notebook_starts_with_the_bootstrap_cell():
    root = Path(__file__).resolve().parent.parent
    for path in sorted((root / "autograder" / "source").glob("*/*.ipynb")):
        nb = json.loads(path.read_text())
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assert "".join(first["source"]) == bootstrap.BOOTSTRAP_CELL, f"{path}: run python -m helpers.bootstrap"
    assert bootstrap.REPO_URL in bootstrap.BOOTSTRAP_CELL


def _run_bootstrap_without_helpers(monkeypatch, returncode):
    """Execute the bootstrap cell as Colab would (no ``helpers`` importable), pip replaced by a stub."""
    import importlib.util
    import subprocess

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "helpers" else real_find_spec(name, *a))
    calls = []
    said = "" if returncode == 0 else "ERROR: Could not find a version that satisfies the requirement (from pip)"
    monkeypatch.setattr(subprocess, "run",
                        lambda cmd, *a, **k: calls.append(cmd) or subprocess.CompletedProcess(cmd, returncode, "", said))
    ns: dict = {}
    exec(bootstrap.BOOTSTRAP_CELL, ns)
    return calls, ns


def test_bootstrap_installs_from_course_repo_url_when_set(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_REPO_URL", "https://example.org/our-fork")
    calls, ns = _run_bootstrap_without_helpers(monkeypatch, returncode=0)
    assert len(calls) == 1 and calls[0][-1] == "diffusion-course @ git+https://example.org/our-fork"
    assert calls[0][1:4] == ["-m", "pip", "install"] and ns["DEVICE"].type in ("cpu", "cuda", "mps")
    monkeypatch.delenv("COURSE_REPO_URL")
    calls, _ = _run_bootstrap_without_helpers(monkeypatch, returncode=0)
    assert calls[0][-1] == bootstrap.PIP_SPEC


def test_bootstrap_says_what_to_do_when_the_install_fails(monkeypatch):
    monkeypatch.delenv("COURSE_REPO_URL", raising=False)
    with pytest.raises(RuntimeError, match="COURSE_REPO_URL") as err:
        _run_bootstrap_without_helpers(monkeypatch, returncode=1)
    assert bootstrap.REPO_URL in str(err.value)
    assert "pip said:\nERROR: Could not find a version that satisfies" in str(err.value)   # pip's own words, shown

