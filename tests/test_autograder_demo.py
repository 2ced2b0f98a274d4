"""`make grade` with no arguments: the demo class (autograder/examples/) graded end to end on
the CPU in the smoke profile, every student with the status and score expected.json gives
(full marks, zero, partial, crash -> kernel crashed, loop -> timed out, deleted and edited
test cells restored, stderr noise free, attacks and monkeypatching earning nothing), and the
committed examples still match the instructor notebooks. Several minutes: `slow`."""
from __future__ import annotations

import csv
import json

import pytest

from autograder import EXAMPLES_DIR, SOURCE_DIR
from autograder.examples import make_demo
from autograder.grade import bundle_cache

pytestmark = pytest.mark.slow
EXPECTED = EXAMPLES_DIR / "expected.json"


@pytest.fixture(scope="module")
def demo(graded_demo):
    return graded_demo   # tests/conftest.py: graded once per session, shared with test_assignments.py


def test_demo_grades_every_student_as_expected(demo):
    out, proc = demo
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "COURSE_PROFILE=smoke" in proc.stdout
    assert "demo: every student graded as expected" in proc.stdout
    with open(out / "grades.csv") as f:
        got = {(r["student"], r["assignment"]): r for r in csv.DictReader(f)}
    for e in json.loads(EXPECTED.read_text())["students"]:
        r = got.get((e["student"], e["assignment"]))
        if r is None and e.get("needs"):
            continue
        assert r is not None, e
        assert (r["status"], float(r["score"])) == (e["status"], e["score"]), (e, r)


def test_demo_examples_match_the_instructor_notebooks(demo, tmp_path):
    out, _ = demo
    exp = json.loads(EXPECTED.read_text())
    aids = sorted({e["assignment"] for e in exp["students"]})
    fresh = make_demo.make_class(tmp_path, SOURCE_DIR, aids, main=exp["main"], cache=bundle_cache(out))
    assert fresh == exp, "stale demo: run `python -m autograder.examples.make_demo`"
    for p in (tmp_path / "submitted").rglob("*.ipynb"):
        committed = EXAMPLES_DIR / p.relative_to(tmp_path)
        assert committed.read_bytes() == p.read_bytes(), \
            f"{committed} is stale: run `python -m autograder.examples.make_demo`"
