"""The Gradescope autograder zip (`python -m autograder gradescope`, autograder/gradescope.py).

The zip for 02 is unpacked into a temporary Gradescope-shaped tree (source/, submission/,
results/); setup.sh is not run (it installs from the network), but run_autograder is, with bash and
this venv's python on PATH, for demo students (autograder/examples/): the results.json it writes
must follow Gradescope's schema (checked by hand from
https://gradescope-autograders.readthedocs.io/en/latest/specs/), score what expected.json says and
have readable test names.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autograder import EXAMPLES_DIR, REPO_ROOT
from autograder.gradescope import build, plain_text

AID = "02_diffusion_models"
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
             "visibility", "extra_data"}


def check_schema(res: dict) -> None:
    """Gradescope's results.json format, by hand."""
    assert isinstance(res, dict)
    assert set(res) <= TOP_KEYS, set(res) - TOP_KEYS
    assert isinstance(res["score"], (int, float)) and not isinstance(res["score"], bool)
    if "execution_time" in res:
        assert isinstance(res["execution_time"], int) and res["execution_time"] >= 0
    for key in ("output",):
        assert isinstance(res.get(key, ""), str)
    for key in ("visibility", "stdout_visibility"):
        if key in res:
            assert res[key] in VISIBILITY, res[key]
    for key in ("output_format", "test_output_format", "test_name_format"):
        if key in res:
            assert res[key] in FORMATS, res[key]
    if "extra_data" in res:
        assert isinstance(res["extra_data"], dict)
    assert isinstance(res.get("tests", []), list)
    for t in res.get("tests", []):
        assert isinstance(t, dict) and set(t) <= TEST_KEYS, t
        assert isinstance(t["name"], str) and t["name"]
        for key in ("score", "max_score"):
            if key in t:
                assert isinstance(t[key], (int, float)) and not isinstance(t[key], bool), t
        assert "score" in t or "status" in t
        if "status" in t:
            assert t["status"] in ("passed", "failed"), t
        if "output" in t:
            assert isinstance(t["output"], str)
        if "visibility" in t:
            assert t["visibility"] in VISIBILITY
        for key in ("output_format", "name_format"):
            if key in t:
                assert t[key] in FORMATS
        if "tags" in t:
            assert isinstance(t["tags"], list)


def readable(name: str) -> bool:
    return not any(c in name for c in "$\\`")


@pytest.fixture(scope="module")
def gs_zip(tmp_path_factory) -> Path:
    return build(AID, tmp_path_factory.mktemp("zip"), profile="smoke")


def gradescope_tree(zip_path: Path, root: Path, notebooks: dict[str, Path]) -> Path:
    """root/{source (the unpacked zip), submission (the given files), results}."""
    for d in ("source", "submission", "results"):
        (root / d).mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():   # ZipFile.extractall drops the permission bits
            z.extract(info, root / "source")
            mode = info.external_attr >> 16 & 0o777
            if mode:
                os.chmod(root / "source" / info.filename, mode)
    for name, src in notebooks.items():
        shutil.copyfile(src, root / "submission" / name)
    return root


def run_autograder(root: Path, timeout: int = 300) -> dict:
    env = dict(os.environ, GRADESCOPE_ROOT=str(root), GRADESCOPE_THREADS="1",   # one torch thread per kernel
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=root,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res_file = root / "results" / "results.json"
    assert res_file.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(res_file.read_text())


def test_zip_contents(gs_zip):
    with zipfile.ZipFile(gs_zip) as z:
        names = set(z.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
        setup = z.read("setup.sh").decode()
        config = json.loads(z.read("gradescope.json"))
    for required in ("setup.sh", "run_autograder", "pyproject.toml", "README.md", "helpers/__init__.py",
                     "autograder/__main__.py", "autograder/gradescope.py", f"autograder/source/{AID}/{AID}.ipynb"):
        assert required in names, required
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert any(n.startswith("bundles/") and n.endswith("/bundle.json") for n in names)
    sources = {n.split("/")[2] for n in names if n.startswith("autograder/source/") and n.count("/") > 2}
    assert sources == {AID}
    assert not [n for n in names if n.startswith(("tests/", "data/", "autograder/examples/submitted/", "notebooks/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert config["assignment"] == AID and config["profile"] == "smoke" and config["datasets"] == ["fashion_mnist"]
    assert "torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu" in setup
    assert '[grading]' in setup and "find_dataset" in setup and "fashion_mnist" in setup


def test_plain_text_names():
    assert plain_text("TODO 2: `q_sample`, from $x_0$ to $x_t$ in one jump") == "TODO 2: q_sample, from x₀ to xₜ in one jump"
    assert plain_text(r"one reverse step $p_\theta(x_{t-1} \mid x_t)$") == "one reverse step p_θ(xₜ₋₁ | xₜ)"
    assert plain_text(r"$\sqrt{\bar{\alpha}_t}\,x_0$") == "√(ᾱₜ) x₀"
    assert plain_text(r"the $\epsilon$ loss, \alpha and 5 $") == "the ε loss, α and 5"
    assert plain_text("accuracy gate: >= 95% of 1000 digits") == "accuracy gate: >= 95% of 1000 digits"


def test_no_notebook_or_ambiguous(gs_zip, tmp_path):
    root = gradescope_tree(gs_zip, tmp_path / "none", {})
    (root / "submission" / "answers.pdf").write_bytes(b"%PDF-1.4\n")
    res = run_autograder(root, timeout=60)
    check_schema(res)
    assert res["score"] == 0 and res["tests"] == []
    assert "No notebook found" in res["output"] and f"{AID}.ipynb" in res["output"] and "answers.pdf" in res["output"]

    blank = EXAMPLES_DIR / "submitted" / "blank" / AID / f"{AID}.ipynb"
    root = gradescope_tree(gs_zip, tmp_path / "two", {"a.ipynb": blank, "b.ipynb": blank})
    res = run_autograder(root, timeout=60)
    check_schema(res)
    assert res["score"] == 0 and "2 notebooks" in res["output"] and f"submit only {AID}.ipynb" in res["output"]


@pytest.mark.slow
def test_run_autograder_grades_demo_students(gs_zip, tmp_path):
    expected = {s["student"]: s for s in json.loads((EXAMPLES_DIR / "expected.json").read_text())["students"]
                if s["assignment"] == AID}
    students = {"complete": f"{AID}.ipynb", "one_wrong": f"{AID}.ipynb", "blank": "my_work.ipynb"}
    roots = {}
    for st, name in students.items():
        files = {name: EXAMPLES_DIR / "submitted" / st / AID / f"{AID}.ipynb"}
        if st == "one_wrong":   # a second notebook: the one named after the assignment is graded
            files["scratch.ipynb"] = EXAMPLES_DIR / "submitted" / "blank" / AID / f"{AID}.ipynb"
        roots[st] = gradescope_tree(gs_zip, tmp_path / st, files)
    with ThreadPoolExecutor(len(roots)) as pool:   # each run is one sandboxed kernel on one thread
        results = dict(zip(roots, pool.map(run_autograder, roots.values())))
    for st, res in results.items():
        check_schema(res)
        assert res["score"] == expected[st]["score"], (st, res)
        assert res["tests"] and all(readable(t["name"]) for t in res["tests"]), res["tests"]
        assert sum(t["score"] for t in res["tests"]) == res["score"]
        assert res["output"].startswith("Status: " + expected[st]["status"])
    names = [t["name"] for t in results["complete"]["tests"]]
    assert "test_todo2_q_sample (TODO 2: q_sample, from x₀ to xₜ in one jump)" in names
