"""The class's grades in an nbgrader gradebook (`gradebook.db`), for a course that keeps one.

nbgrader's formgrader and `nbgrader export` read the gradebook; this writes what this harness
graded into it, through nbgrader's own API (`nbgrader.api.Gradebook`), so they show it:

* each assignment with its notebook `<id>` and one grade cell per graded test cell (the points
  of the instructor's notebook), plus one line per post-grade check that is not a cell (06's
  gate, 10 points: 06 is out of 28 there too, not 18 as under plain nbgrader);
* each student (a roster's absent students too, without a submission);
* each submission, with the points of every test as its `auto_score`.

A course graded with plain `nbgrader autograde` keeps nbgrader's cell scores; `write_check_lines`
adds only the post-grade lines (`python -m autograder gate`, autograder/nbgrader_plain.py).
Such a line has a grade cell but no source cell: nbgrader's `add_missing_cells` must skip it
(the course's OverwriteCells does, autograder/nbgrader_config.py).

A harness `error` (grading did not finish: rerun it) leaves the scores empty and marks them for
a manual grade; every other status writes the points grades.csv has (0 for a test that did not
run). Writing again updates the same rows: a regrade replaces the scores, it never duplicates.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path


@contextlib.contextmanager
def _opened(db):
    """nbgrader's Gradebook, which runs `alembic` from PATH: the interpreter's bin first meanwhile."""
    from nbgrader.api import Gradebook

    from .release import nbgrader_env
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = nbgrader_env()["PATH"]
    try:
        with warnings.catch_warnings():   # nbgrader's add_submission trips SQLAlchemy's autoflush notes
            warnings.filterwarnings("ignore", message=".*not in session.*")
            with Gradebook(_url(db)) as gb:
                yield gb
    finally:
        os.environ["PATH"] = old


def _url(db: str | Path) -> str:
    db = str(db)
    return db if "://" in db else f"sqlite:///{Path(db).resolve()}"


def grade_cells(bundle) -> list[tuple[str, float]]:
    """(grade id, points) of an assignment: its graded cells, then its post-grade checks."""
    cells = [(i["grade_id"], float(i["points"])) for i in bundle.info["items"]]
    seen = {g for g, _ in cells}
    cells += [(c["grade_id"], float(c.get("points", 0))) for c in bundle.post_grade.get("checks", [])
              if c["grade_id"] not in seen]
    return cells


def _grade(gb, gid: str, aid: str, student: str):
    """The student's Grade row of grade cell `gid` (created for a cell added after the submission)."""
    from nbgrader.api import Grade, MissingEntry
    try:
        return gb.find_grade(gid, aid, aid, student)
    except MissingEntry:
        grade = Grade(cell_id=gb.find_grade_cell(gid, aid, aid).id, notebook=gb.find_submission_notebook(aid, aid, student))
        gb.db.add(grade)
        return grade


def write_gradebook(results: list[dict], db: str | Path, bundles: dict) -> dict:
    """Write `results` (the harness's result dicts) into the gradebook at `db` (a path or an
    SQLAlchemy URL; created when missing). `bundles`: assignment id -> its release Bundle.
    Returns counts of what was written."""
    written = {"students": 0, "submissions": 0, "grades": 0, "needs_manual_grade": 0}
    with _opened(db) as gb:
        for aid, bundle in sorted(bundles.items()):
            gb.update_or_create_assignment(aid)
            gb.update_or_create_notebook(aid, aid)
            for gid, points in grade_cells(bundle):
                gb.update_or_create_grade_cell(gid, aid, aid, max_score=points, cell_type="code")
        for student in sorted({r["student"] for r in results}):
            gb.update_or_create_student(student)
            written["students"] += 1
        for r in sorted(results, key=lambda r: (r["assignment"], r["student"])):
            aid, student = r["assignment"], r["student"]
            if r["status"] == "missing" or aid not in bundles:
                continue
            gb.update_or_create_submission(aid, student)
            written["submissions"] += 1
            points = {t["grade_id"]: float(t.get("points") or 0) for t in r.get("tests", [])}
            for gid, _ in grade_cells(bundles[aid]):
                grade = _grade(gb, gid, aid, student)
                if r["status"] == "error":
                    grade.auto_score, grade.needs_manual_grade = None, True
                    written["needs_manual_grade"] += 1
                else:
                    grade.auto_score, grade.needs_manual_grade = points.get(gid, 0.0), False
                grade.manual_score = None
                written["grades"] += 1
        gb.db.commit()
    return written


def write_check_lines(db: str | Path, aid: str, bundle, lines: dict[str, list[dict]]) -> dict:
    """Record post-grade check lines in a gradebook that plain `nbgrader autograde` filled (the
    cells' scores are nbgrader's own and stay): `lines` maps a student to the lines the harness
    gives its checks (autograder.scoring.apply_post_grade: grade_id, max_points, points). A check
    that is not a cell (06's gate) gets its own grade cell, without a source cell, so nothing is
    restored into a notebook from it. Returns counts; students without an autograded submission
    in the gradebook are listed under "no_submission"."""
    from nbgrader.api import MissingEntry

    written = {"grades": 0, "students": 0, "no_submission": []}
    with _opened(db) as gb:
        try:
            gb.find_notebook(aid, aid)
        except MissingEntry:
            raise SystemExit(f"{db} has no notebook {aid} of assignment {aid}: run `nbgrader generate_assignment "
                             f"{aid}` and `nbgrader autograde {aid}` in the course first") from None
        cells = {c.name for c in gb.find_notebook(aid, aid).source_cells}
        for gid, points in grade_cells(bundle):
            if gid not in cells:
                gb.update_or_create_grade_cell(gid, aid, aid, max_score=points, cell_type="code")
        for student, tests in sorted(lines.items()):
            try:
                gb.find_submission_notebook(aid, aid, student)
            except MissingEntry:
                written["no_submission"].append(student)
                continue
            for t in tests:
                grade = _grade(gb, t["grade_id"], aid, student)
                grade.auto_score, grade.needs_manual_grade, grade.manual_score = float(t["points"] or 0), False, None
                written["grades"] += 1
            written["students"] += 1
        gb.db.commit()
    return written


def read_totals(db: str | Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(student, assignment) -> (score, max score) of every submission, as nbgrader reads them."""
    out = {}
    with _opened(db) as gb:
        for a in gb.assignments:
            for s in a.submissions:
                out[(s.student.id, a.name)] = (float(s.score), float(s.max_score))
    return out
