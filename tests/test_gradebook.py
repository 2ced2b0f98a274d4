"""Grades written back into an nbgrader gradebook (autograder/gradebook.py) read back, through
nbgrader's own API, as the same per-student totals as grades.csv: 06 out of 28 (its gate a line
of its own), absent students without a submission, a harness error left for a manual grade."""
from __future__ import annotations

import copy
import csv
import json

import pytest

from autograder import assignments
from autograder.grade import bundle_cache
from autograder.gradebook import read_totals, write_gradebook
from autograder.release import build_bundle


def _demo(graded_demo):
    out, proc = graded_demo
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = [json.loads(p.read_text()) for p in sorted((out / "results").glob("*/*.json"))]
    bundles = {aid: build_bundle(aid, bundle_cache(out)) for aid in assignments.ids()}
    rows = list(csv.DictReader((out / "grades.csv").open()))
    graded = {(r["student"], r["assignment"]) for r in results}
    results += [{"student": r["student"], "assignment": r["assignment"], "status": "missing", "tests": []}
                for r in rows if (r["student"], r["assignment"]) not in graded]   # a roster's absent students
    return out, results, bundles, rows


@pytest.mark.slow
def test_the_gradebook_reads_back_the_totals_of_grades_csv(graded_demo, tmp_path):
    from nbgrader.api import Gradebook
    out, results, bundles, rows = _demo(graded_demo)
    db = tmp_path / "gradebook.db"
    first = write_gradebook(results, db, bundles)
    again = write_gradebook(results, db, bundles)            # a regrade updates, never duplicates
    assert first == again and first["needs_manual_grade"] == 0
    totals = read_totals(db)
    want = {(r["student"], r["assignment"]): (float(r["score"]), float(r["max_score"]))
            for r in rows if r["status"] != "missing"}
    assert totals == want
    assert {m for (_, a), (_, m) in totals.items() if a == "06_assessment"} == {28.0}
    with Gradebook(f"sqlite:///{db}") as gb:
        gate = gb.find_grade_cell("gate", "06_assessment", "06_assessment")
        assert gate.max_score == 10
        assert gb.find_grade("gate", "06_assessment", "06_assessment", "complete_06").score == 10
        assert len(gb.find_assignment("06_assessment").notebooks[0].grade_cells) == 10   # 9 TODO tests + gate
        assert {s.id for s in gb.students} == {r["student"] for r in rows}
        absent = {r["student"] for r in rows} - {st for st, _ in totals}
        assert absent and all(gb.find_student(s).submissions == [] for s in absent)


@pytest.mark.slow
def test_a_harness_error_is_left_for_a_manual_grade(graded_demo, tmp_path):
    from nbgrader.api import Gradebook
    out, results, bundles, rows = _demo(graded_demo)
    r = copy.deepcopy(next(x for x in results if x["student"] == "complete" and x["assignment"] == "02_diffusion_models"))
    r["status"] = "error"
    db = tmp_path / "gradebook.db"
    assert write_gradebook([r], db, {"02_diffusion_models": bundles["02_diffusion_models"]})["needs_manual_grade"] == 5
    with Gradebook(f"sqlite:///{db}") as gb:
        sub = gb.find_submission("02_diffusion_models", "complete")
        assert sub.needs_manual_grade and sub.score == 0 and sub.max_score == 13


@pytest.mark.slow
def test_merge_writes_the_gradebook_from_the_command_line(graded_demo, tmp_path):
    """`python -m autograder merge OUT --gradebook DB` (grade takes the same flag): what a course
    that keeps nbgrader's gradebook runs after grading."""
    import shutil
    import subprocess
    import sys
    out, results, bundles, rows = _demo(graded_demo)
    copy_out = tmp_path / "out"
    shutil.copytree(out / "results", copy_out / "results")   # merge rewrites grades.csv: not the shared run's
    db = tmp_path / "course" / "gradebook.db"
    db.parent.mkdir()
    proc = subprocess.run([sys.executable, "-m", "autograder", "merge", str(copy_out), "--gradebook", str(db)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"into {db}" in proc.stdout
    want = {(r["student"], r["assignment"]): (float(r["score"]), float(r["max_score"]))
            for r in rows if r["status"] != "missing"}
    assert read_totals(db) == want
    # a database nbgrader cannot open: reported with what to do, exit 1, grades.csv still written
    bad = tmp_path / "not_a_db"
    bad.write_text("this is not sqlite")
    proc = subprocess.run([sys.executable, "-m", "autograder", "merge", str(copy_out), "--gradebook", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "were not written into" in proc.stderr and "merge" in proc.stderr
    assert (copy_out / "grades.csv").is_file()
