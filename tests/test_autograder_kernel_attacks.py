"""The four in-kernel techniques that forged TODO points on an untouched student copy, each one
cell pasted after the imports of a blank notebook 02 (the demo class's main act), graded in
one class next to an honest student (autograder/evidence.py decides them from the tape; the
cells are `make_demo.IN_KERNEL`):

* ``executor``     replaces the kernel's ``do_execute`` so every graded test runs as ``pass``;
* ``transformer``  adds an input transformer that blanks the graded tests, inside a list that
                   claims to equal the guard's snapshot;
* ``names``        rebinds ``checks`` and ``require`` in the user namespace to no-ops;
* ``co_filename``  replaces ``helpers.checks.require`` with a no-op compiled under the library's
                   own file name, so the in-kernel guard takes it for library code.

Each attack must really work against the kernel (the kernel reports every test passing: the
test says so, instead of passing vacuously when a library update closes a hole), and the
result must be status ``tampered``, 0 points, a reason per test; the honest student's result
and notebook are the same as when graded alone. Kernels run, so `slow`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import REPO_ROOT, SOURCE_DIR
from autograder.examples import make_demo
from autograder.nbinfo import grade_id

pytestmark = pytest.mark.slow
AID = "02_diffusion_models"
FULL = 13.0

IN_KERNEL = make_demo.IN_KERNEL


def _grade(root: Path, out: Path) -> None:
    cmd = [sys.executable, "-m", "autograder", "grade", str(root), "--profile", "smoke", "--quiet",
           "--out", str(out), "--workers", "2"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _results(out: Path) -> dict:
    return {r["student"]: r for r in (json.loads(p.read_text()) for p in (out / "results").glob("*/*.json"))}


def _kinds(outputs) -> list[str]:
    """Output types in order, consecutive streams counted once (the kernel flushes a cell's
    prints in one message or several, depending on timing)."""
    kinds = [o["output_type"] for o in outputs]
    return [k for i, k in enumerate(kinds) if not (k == "stream" and i and kinds[i - 1] == "stream")]


def _outputs(out: Path, student: str) -> list:
    """Per code cell: the kinds of output, and for graded cells the outputs themselves (training
    cells print wall times and rates, which differ from run to run)."""
    nb = nbformat.read(out / "autograded" / student / AID / f"{AID}.ipynb", as_version=4)
    return [(grade_id(c), c.get("outputs", []) if grade_id(c) else _kinds(c.get("outputs", [])))
            for c in nb.cells if c.cell_type == "code"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("kernel-attacks")
    source, release = make_demo.source_and_release(AID, root / "cache", SOURCE_DIR)
    blank, honest = make_demo.blank(source, release), make_demo.complete(source, release)
    for name, code in IN_KERNEL.items():
        make_demo.write_variant(root / "class" / name / AID / f"{AID}.ipynb", make_demo.with_pasted_cell(blank, code))
    for folder in ("class", "alone"):
        make_demo.write_variant(root / folder / "honest" / AID / f"{AID}.ipynb", honest)
    _grade(root / "class", root / "out-class")
    _grade(root / "alone", root / "out-alone")
    return {"res": _results(root / "out-class"), "alone": _results(root / "out-alone"),
            "out": root / "out-class", "out_alone": root / "out-alone"}


@pytest.mark.parametrize("attack", sorted(IN_KERNEL))
def test_in_kernel_forgery_is_reported_and_scores_nothing(graded, attack):
    r = graded["res"][attack]
    in_kernel = [t.get("in_kernel", {}).get("points", t["points"]) for t in r["tests"]]
    assert sum(in_kernel) == FULL, (attack, "the attack no longer forges the kernel's replies", in_kernel)
    assert (r["status"], r["score"]) == ("tampered", 0.0), (r["status"], r["score"], r["detail"])
    assert "without evidence that their checks ran" in r["detail"]
    for t in r["tests"]:
        assert t["points"] == 0.0 and "no evidence that its" in t["tampered"], t
    assert len(r["notes"]["tampered"]) == len(r["tests"]) == 5


def test_honest_student_in_the_same_class_is_unaffected(graded):
    r, alone = graded["res"]["honest"], graded["alone"]["honest"]
    assert (r["status"], r["score"]) == ("graded", FULL)
    assert (r["status"], r["score"], r["tests"]) == (alone["status"], alone["score"], alone["tests"])
    assert "tampered" not in r["notes"] and "evidence_outside_tests" not in r["notes"]
    assert _outputs(graded["out"], "honest") == _outputs(graded["out_alone"], "honest")
    # the tape never reaches the student's notebook or feedback
    for f in (graded["out"] / "autograded" / "honest").rglob("*.ipynb"):
        assert "vnd.course.evidence" not in f.read_text()
    for f in (graded["out"] / "feedback" / "honest").rglob("*.html"):
        assert "vnd.course.evidence" not in f.read_text()
