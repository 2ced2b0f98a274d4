"""A busy machine does not change a verdict: the demo's looping student and its one-wrong-TODO
06 student, graded with the demo's own limits (autograder/examples/demo.json) while busy
processes saturate every core (three per core: load about 6 on 2 cores), get exactly the status
and score expected.json gives them on an idle machine. The time limits are CPU-seconds
(autograder/budget.py), so the loop is still caught and the honest 06 run is never timed out."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from autograder import EXAMPLES_DIR, REPO_ROOT

pytestmark = pytest.mark.slow
STUDENTS = ("loop", "one_wrong_06")


def _busy(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def test_statuses_and_scores_do_not_depend_on_load(tmp_path):
    expected = {(e["student"], e["assignment"]): e for e in json.loads((EXAMPLES_DIR / "expected.json").read_text())
                ["students"] if e["student"] in STUDENTS}
    assert len(expected) == len(STUDENTS)
    for student in STUDENTS:
        shutil.copytree(EXAMPLES_DIR / "submitted" / student, tmp_path / "submitted" / student)
    demo = json.loads((EXAMPLES_DIR / "demo.json").read_text())
    cmd = [sys.executable, "-m", "autograder", "grade", str(tmp_path / "submitted"), "--profile", "smoke",
           "--cell-timeout", str(demo["cell_timeout"]), "--notebook-timeout", str(demo["notebook_timeout"]),
           "--workers", "2", "--quiet", "--out", str(tmp_path / "out")]
    hogs = _busy(3 * (os.cpu_count() or 1))
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1500)
    finally:
        for h in hogs:
            h.kill()
        for h in hogs:
            h.wait()
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = {}
    for p in (tmp_path / "out" / "results").glob("*/*.json"):
        r = json.loads(p.read_text())
        got[(r["student"], r["assignment"])] = r
    for key, e in expected.items():
        r = got[key]
        assert (r["status"], r["score"]) == (e["status"], e["score"]), (key, r["status"], r["score"], r["detail"])
    loop = got[("loop", expected[next(k for k in expected if k[0] == "loop")]["assignment"])]
    assert "CPU time" in loop["detail"], loop["detail"]
    print(f"graded under load in {seconds:.0f} s")
