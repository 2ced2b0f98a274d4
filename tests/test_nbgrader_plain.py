"""A course that grades with plain nbgrader (autograder/nbgrader_plain.py, autograder/nbgrader_config.py):

* the config loads with and without NBGRADER_COURSE_ID (nbgrader runs its local commands without
  a course id);
* nbgrader's sanitising steps, as the config declares them for `nbgrader autograde`, put every
  hidden test back without the "checksum has changed" warning nbgrader logs for each untouched
  test cell (nbgrader#1961), still warn for a test cell a student edited, and restore a deleted
  test cell once 06's gate line (a grade line without a cell) is in the gradebook;
* `python -m autograder gate` records the harness's verdict on what the notebook exported as a
  line of its own in the course's gradebook: 06 out of 28 there, not 18.

The end-to-end run with real `nbgrader autograde` (about 2.5 min of CPU) is opt-in:
PLAIN_NBGRADER=1 runs test_plain_nbgrader_autograde_then_gate_matches_the_harness.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from traitlets.config.loader import PyFileConfigLoader
from traitlets.utils.importstring import import_item

from autograder import NBGRADER_CONFIG, REPO_ROOT, SOURCE_DIR
from autograder.release import build_bundle

AID = "06_assessment"


def _bundle():
    return build_bundle(AID, Path(os.environ.get("AUTOGRADER_BUNDLES") or REPO_ROOT / "grading" / ".bundles"))


def _config():
    return PyFileConfigLoader(NBGRADER_CONFIG.name, path=str(NBGRADER_CONFIG.parent)).load_config()


def test_the_config_loads_with_and_without_a_course_id(monkeypatch):
    monkeypatch.delenv("NBGRADER_COURSE_ID", raising=False)
    cfg = _config()
    assert "course_id" not in cfg.CourseDirectory                  # nbgrader's default: none
    assert cfg.OverwriteCells.add_missing_cells is True
    monkeypatch.setenv("NBGRADER_COURSE_ID", "stat-453-fall")
    assert _config().CourseDirectory.course_id == "stat-453-fall"
    # what `nbgrader autograde` will import, and nbgrader's own sanitising steps around ours
    names = [p.rsplit(".", 1)[1] for p in cfg.Autograde.sanitize_preprocessors]
    assert names == ["ClearOutput", "DeduplicateIds", "OverwriteKernelspec", "OverwriteCells", "CheckCellMetadata"]
    assert all(callable(import_item(p)) for p in cfg.Autograde.sanitize_preprocessors)


def _sanitise(nb, gradebook: Path, steps, log):
    """The sanitising pass of `nbgrader autograde` (nbgrader.converters.autograde), one student."""
    res = {"nbgrader": {"student": "s1", "assignment": AID, "notebook": AID, "db_url": f"sqlite:///{gradebook}"},
           "metadata": {"path": ""}}
    cfg = _config()
    for step in steps:
        nb, res = (import_item(step) if isinstance(step, str) else step)(config=cfg, log=log)(nb, res)
    return nb


def _checksum_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "'checksum'" in r.getMessage() and r.levelno >= logging.WARNING]


def test_autograde_restores_hidden_tests_without_checksum_warnings(tmp_path, caplog):
    from nbgrader.preprocessors import OverwriteCells as NbgraderOverwriteCells
    from nbgrader.utils import compute_checksum, is_grade, is_locked

    bundle = _bundle()
    shutil.copy2(bundle.gradebook, tmp_path / "gradebook.db")
    release = nbformat.read(bundle.release_notebook, as_version=4)      # what a student hands in untouched
    source = {c.metadata["nbgrader"]["grade_id"]: c.source
              for c in nbformat.read(SOURCE_DIR / AID / f"{AID}.ipynb", as_version=4).cells
              if c.metadata.get("nbgrader", {}).get("grade")}
    hidden = sorted(g for g, s in source.items() if "### BEGIN HIDDEN TESTS" in s)
    assert len(hidden) == 9                                             # every test cell of 06 has hidden tests
    log = logging.getLogger("nbgrader-plain-test")
    steps = _config().Autograde.sanitize_preprocessors

    with caplog.at_level(logging.DEBUG, logger=log.name):
        out = _sanitise(copy.deepcopy(release), tmp_path / "gradebook.db", steps, log)
    assert _checksum_warnings(caplog) == []
    graded = {c.metadata["nbgrader"]["grade_id"]: c for c in out.cells if is_grade(c)}
    assert {g: graded[g].source for g in source} == source               # the hidden tests are back
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:      # nbgrader's own check agrees
        assert all(compute_checksum(c) == gb.find_source_cell(g, AID, AID).checksum
                   for g, c in graded.items() if is_locked(c))

    # nbgrader's own OverwriteCells warns once per test cell with hidden tests (nbgrader#1961)
    caplog.clear()
    plain = [NbgraderOverwriteCells if "OverwriteCells" in s else s for s in steps]
    with caplog.at_level(logging.DEBUG, logger=log.name):
        _sanitise(copy.deepcopy(release), tmp_path / "gradebook.db", plain, log)
    assert sorted(m.split("cell ")[1].split(" ")[0] for m in _checksum_warnings(caplog)) == hidden

    # a test cell the student edited still warns (and is put back)
    caplog.clear()
    edited = copy.deepcopy(release)
    cell = next(c for c in edited.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_todo6_loss")
    cell.source = "assert True"
    with caplog.at_level(logging.DEBUG, logger=log.name):
        out = _sanitise(edited, tmp_path / "gradebook.db", steps, log)
    assert [m.split("cell ")[1].split(" ")[0] for m in _checksum_warnings(caplog)] == ["test_todo6_loss"]
    assert next(c.source for c in out.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_todo6_loss") \
        == source["test_todo6_loss"]


def test_a_deleted_test_cell_is_restored_beside_the_gate_line(tmp_path, caplog):
    """06's gate line (a grade cell with no source cell) in the gradebook: nbgrader's add_missing_cells
    fails on it; the course's OverwriteCells skips it and still restores a deleted test cell."""
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import OverwriteCells as NbgraderOverwriteCells

    bundle = _bundle()
    db = tmp_path / "gradebook.db"
    shutil.copy2(bundle.gradebook, db)
    with Gradebook(f"sqlite:///{db}") as gb:
        gb.update_or_create_grade_cell("gate", AID, AID, max_score=10, cell_type="code")
    nb = nbformat.read(bundle.release_notebook, as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_todo3_p_sample"]
    log = logging.getLogger("nbgrader-plain-test")
    steps = _config().Autograde.sanitize_preprocessors
    with pytest.raises(ValueError):
        _sanitise(copy.deepcopy(nb), db, [NbgraderOverwriteCells if "OverwriteCells" in s else s for s in steps], log)
    out = _sanitise(nb, db, steps, log)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in out.cells]
    assert "test_todo3_p_sample" in ids and "gate" not in ids


def _course_with_autograded(tmp_path: Path, bundle, students: dict[str, float]) -> Path:
    """A course as `nbgrader generate_assignment` and `nbgrader autograde` leave it: the gradebook
    (the bundle's is generate_assignment's), each student's submission with nbgrader's cell scores."""
    from nbgrader.api import Gradebook
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy2(bundle.gradebook, course / "gradebook.db")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student, frac in students.items():
            gb.update_or_create_student(student)
            gb.add_submission(AID, student)
            for cell in gb.find_notebook(AID, AID).grade_cells:
                grade = gb.find_grade(cell.name, AID, AID, student)
                grade.auto_score, grade.needs_manual_grade = cell.max_score * frac, False
        gb.db.commit()
    for student in students:
        (course / "autograded" / student / AID).mkdir(parents=True)
        (course / "submitted" / student / AID).mkdir(parents=True)
    os.chmod(tmp_path, 0o755)
    return course


@pytest.mark.slow
def test_gate_command_writes_the_gate_line_into_a_plain_nbgrader_gradebook(tmp_path):
    """`python -m autograder gate`: the harness's check on what the notebook exported (here a model
    that ignores its input: in the smoke profile the gate checks the pipeline only and passes it,
    tests/test_autograder_gate.py), its own 10-point line; a model that is the student's
    submitted file, not the notebook's export, fails without being loaded. nbgrader's cells keep
    their scores: 18 + 10 and 18 + 0."""
    pytest.importorskip("torch")
    from nbgrader.api import Gradebook

    from autograder.gradebook import read_totals
    from helpers.export import EXPORT_FILENAME, export_model
    from helpers.schedules import Schedule
    from test_autograder_gate import _useless_model

    bundle = _bundle()
    course = _course_with_autograded(tmp_path, bundle, {"exported": 1.0, "handed_in": 1.0})
    model = course / "autograded" / "exported" / AID / EXPORT_FILENAME
    export_model(_useless_model(), model, sched=Schedule.linear(50), w=1.0)
    shutil.copy2(model, course / "autograded" / "handed_in" / AID / EXPORT_FILENAME)
    shutil.copy2(model, course / "submitted" / "handed_in" / AID / EXPORT_FILENAME)
    assert read_totals(course / "gradebook.db") == {("exported", AID): (18.0, 18.0), ("handed_in", AID): (18.0, 18.0)}

    proc = subprocess.run([sys.executable, "-m", "autograder", "gate", "--nbgrader-course", str(course),
                           "--profile", "smoke"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "wrote 2 line(s) for 2 student(s)" in proc.stdout
    assert read_totals(course / "gradebook.db") == {("exported", AID): (28.0, 28.0), ("handed_in", AID): (18.0, 28.0)}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_grade_cell("gate", AID, AID).max_score == 10
        assert "gate" not in {c.name for c in gb.find_notebook(AID, AID).source_cells}   # nothing to restore
        assert not gb.find_submission(AID, "exported").needs_manual_grade
    assert "exported: gate passed 10/10 (post-grade check: smoke profile, pipeline only" in proc.stdout
    assert "handed_in: gate failed 0/10" in proc.stdout and "is the file the student submitted" in proc.stdout

    from autograder.nbgrader_plain import gate_course
    with pytest.raises(SystemExit, match="run `nbgrader autograde 06_assessment` there first"):
        gate_course(course, students=["nobody"])


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("PLAIN_NBGRADER"), reason="opt-in (PLAIN_NBGRADER=1): real nbgrader "
                    "autograde of 06, about 2.5 min of CPU")
def test_plain_nbgrader_autograde_then_gate_matches_the_harness(tmp_path):
    """Real `nbgrader generate_assignment` + `nbgrader autograde` (the course's config, smoke profile)
    of the demo's complete_06, then `python -m autograder gate`: no checksum warning in autograde's
    log, and the gradebook's gate line and total are the harness's for the same student."""
    from autograder.gradebook import read_totals
    from autograder.release import nbgrader_env
    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy2(NBGRADER_CONFIG, course / "nbgrader_config.py")
    shutil.copytree(SOURCE_DIR / AID, course / "source" / AID, ignore=shutil.ignore_patterns("__pycache__", "*.pt2"))
    sub = course / "submitted" / "complete_06" / AID
    sub.mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "autograder" / "examples" / "submitted" / "complete_06" / AID / f"{AID}.ipynb", sub)
    env = dict(nbgrader_env(), COURSE_PROFILE="smoke")
    for cmd in (["generate_assignment", AID, "--create"], ["autograde", AID, "--create"]):
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *cmd], cwd=course, env=env, capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "checksum" not in proc.stdout + proc.stderr
    assert read_totals(course / "gradebook.db")[("complete_06", AID)] == (18.0, 18.0)
    gate = subprocess.run([sys.executable, "-m", "autograder", "gate", "--nbgrader-course", str(course)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert gate.returncode == 0, gate.stdout + gate.stderr

    # the harness's grade of the same student (autograder/examples/expected.json, which the demo test
    # holds the harness to): 28 of 28, so its gate line passed, 10 of 10
    expected = json.loads((REPO_ROOT / "autograder" / "examples" / "expected.json").read_text())["students"]
    score = next(e["score"] for e in expected if e["student"] == "complete_06")
    assert "complete_06: gate passed 10/10" in gate.stdout
    assert read_totals(course / "gradebook.db")[("complete_06", AID)] == (score, _bundle().info["max_score"]) == (28, 28)
