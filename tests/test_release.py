"""notebooks/ is exactly what `make release` produces, and every committed notebook is clean."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import assignments

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = assignments.ids()


def _notebooks():
    return sorted(REPO.glob("notebooks/*.ipynb")) + sorted(REPO.glob("autograder/source/*/*.ipynb"))


def test_every_assignment_has_a_source_and_a_student_copy():
    assert len(ASSIGNMENTS) >= 6, ASSIGNMENTS
    assert sorted(p.stem for p in REPO.glob("notebooks/*.ipynb")) == sorted(ASSIGNMENTS), "run `make release`"
    for a in ASSIGNMENTS:
        assert (REPO / "autograder" / "source" / a / f"{a}.ipynb").is_file(), a
        assert (REPO / "notebooks" / f"{a}.ipynb").is_file(), f"{a}: run make release"


def test_notebooks_are_not_stale():
    p = subprocess.run([sys.executable, "-m", "autograder", "release", "--check"], cwd=REPO, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, f"notebooks/ is stale: run `make release`\n{p.stdout}\n{p.stderr}"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_committed_notebooks_carry_no_outputs_or_widget_state(path):
    nb = json.loads(path.read_text())
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] == "code":
            assert not c.get("outputs") and c.get("execution_count") is None, f"{path.name} cell {i} has outputs"
    assert "widgets" not in nb.get("metadata", {}), f"{path.name} stores widget state"


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_student_copy_has_stubs_and_no_solutions_or_hidden_tests(a):
    text = (REPO / "notebooks" / f"{a}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    nb = json.loads(text)
    sources = {c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"]) for c in nb["cells"]}
    solution_ids = [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
                    if c["metadata"].get("nbgrader", {}).get("solution")]
    assert solution_ids, f"{a} has no TODO cells"
    for gid in solution_ids:
        assert "NotImplementedError" in sources[gid], f"{a}/{gid}: a stub must raise NotImplementedError"
