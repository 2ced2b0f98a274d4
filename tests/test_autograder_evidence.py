"""The evidence tape (autograder/evidence.py): the instructor's test cells read without running
student code, tapes produced by the real `require` of helpers.checks, and the verdict on tapes
that are missing, short, reordered, re-argued or failing. Fast: no kernel."""
from __future__ import annotations

import json
import math

import pytest

from autograder import SOURCE_DIR, evidence
from autograder.nbinfo import grade_id, is_grade, is_solution

import nbformat


def _test_cells():
    for path in sorted(SOURCE_DIR.glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for c in nb.cells:
            if c.cell_type == "code" and is_grade(c) and not is_solution(c):
                yield path.parent.name, grade_id(c), c.source


ALL_TEST_CELLS = list(_test_cells())


@pytest.mark.parametrize("aid,gid,src", ALL_TEST_CELLS, ids=[f"{a}:{g}" for a, g, _ in ALL_TEST_CELLS])
def test_every_course_test_cell_is_on_the_tape(aid, gid, src):
    """Each graded test cell of the course makes at least one `require` call that the dry run
    follows completely (the hidden loops unrolled), so every TODO's points rest on evidence."""
    calls, unclear = evidence.expected_calls(src)
    assert calls and not unclear, (aid, gid, unclear)
    n_written = src.count("require(")
    assert len(calls) >= n_written   # loops unroll to more calls, never fewer
    for call in calls:
        assert call["check"].startswith(f"nb{aid[:2]}.check_"), call


def test_dry_run_unrolls_loops_and_reads_nothing_from_the_notebook():
    src = ("import torch\nfrom helpers import checks\n# hand-counted: 1 + 3 + 1 calls\n"
           "checks.require(nb09.check_a, fn, seed=0, shape_=(2, 3))\n"
           "for s in (1, 2, 3):\n    require(nb09.check_b, fn, other, seed=s)\n"
           "if fn:\n    require(nb09.check_never, fn)\n"           # truth of a notebook value: skipped
           "require(nb09.check_c, W, steps=STEPS, name='x')\n"
           "assert isinstance(W, float)\n")                         # plain asserts are not on the tape
    calls, unclear = evidence.expected_calls(src)
    assert [c["check"] for c in calls] == ["nb09.check_a", "nb09.check_b", "nb09.check_b", "nb09.check_b",
                                           "nb09.check_c"]
    assert unclear == ["line 7: TypeError"]
    assert calls[0]["args"] == [{"notebook": "fn"}]
    assert calls[0]["kwargs"] == {"seed": {"value": 0}, "shape_": {"value": [2, 3]}}
    assert [c["kwargs"]["seed"] for c in calls[1:4]] == [{"value": 1}, {"value": 2}, {"value": 3}]
    assert calls[4]["kwargs"] == {"steps": {"notebook": "STEPS"}, "name": {"value": "x"}}


def test_describe_records_plain_values_and_only_the_type_of_anything_else():
    """One description, used by the kernel's `require` and by the judge (hand-written cases)."""
    torch = pytest.importorskip("torch")
    d = evidence.describe
    assert [d(v) for v in (None, True, 3, -2.5)] == [{"value": None}, {"value": True}, {"value": 3}, {"value": -2.5}]
    assert d("a" * 300) == {"value": "a" * 200}                            # strings capped
    assert d((1, 2.0, "x")) == {"value": [1, 2.0, "x"]} and d([[1, 2], (3,)]) == {"value": [[1, 2], [3]]}
    assert d(float("nan")) == {"object": "float"} and d(math.inf) == {"object": "float"}   # not JSON
    assert d(torch.zeros(2)) == {"object": "Tensor"} and d({"a": 1}) == {"object": "dict"}
    assert d(tuple(range(40))) == {"object": "tuple"}                      # too long to spell out
    assert d(((((1,),),),)) == {"object": "tuple"}                         # too deep


def _tape_of(src: str, namespace: dict, monkeypatch) -> list:
    """Run an instructor test cell in-process with the real `require`, capturing its tape."""
    from helpers import checks
    published = []
    monkeypatch.setenv("AUTOGRADER", "1")
    import IPython.display
    monkeypatch.setattr(IPython.display, "publish_display_data", lambda data, **k: published.append(data))
    try:
        exec(src, {"require": checks.require, "checks": checks, **namespace})
    except AssertionError:
        pass
    return [json.loads(json.dumps(d[evidence.MIME])) for d in published]


def test_real_require_tape_matches_and_tampering_does_not(monkeypatch):
    """The tape the real `require` leaves for the instructor's 02 q_sample test, run on the
    reference q_sample, matches; every kind of damage to it is named."""
    pytest.importorskip("torch")
    from helpers import ddpm
    from helpers.checks import nb02
    [(_, gid, src)] = [t for t in ALL_TEST_CELLS if t[1] == "test_todo2_q_sample" and t[0].startswith("02")]

    def q_sample(x0, t, sched, noise=None):   # as if written in the notebook; the reference's maths
        return ddpm.q_sample(x0, t, sched, noise)
    q_sample.__module__ = "__main__"
    tape = _tape_of(src, {"nb02": nb02, "q_sample": q_sample}, monkeypatch)
    calls, unclear = evidence.expected_calls(src)
    assert len(tape) == len(calls) == 3 and not unclear
    assert all(e["ok"] and e["results"] >= 3 and not e["raised"] for e in tape), tape
    assert evidence.check_tape(calls, unclear, tape) == ""
    assert "no evidence" in evidence.check_tape(calls, unclear, [])
    assert "only 2 of its 3" in evidence.check_tape(calls, unclear, tape[:2])
    assert "4 check calls recorded" in evidence.check_tape(calls, unclear, tape + tape[:1])
    swapped = [tape[0], tape[2], tape[1]]
    assert "arguments seed" in evidence.check_tape(calls, unclear, swapped)
    failed = [dict(tape[0], ok=False), *tape[1:]]
    assert "did not pass" in evidence.check_tape(calls, unclear, failed)
    other = [dict(tape[0], check="nb02.check_p_sample"), *tape[1:]]
    assert "'nb02.check_p_sample' ran" in evidence.check_tape(calls, unclear, other)
    assert "malformed" in evidence.check_tape(calls, unclear, ["malformed", *tape[1:]])


def test_verify_zeroes_only_unproven_passes():
    src = "require(nb09.check_a, f, seed=1)\n"
    entry = {"check": "nb09.check_a", "args": [{"object": "function"}], "kwargs": {"seed": {"value": 1}},
             "results": 4, "ok": True, "raised": None}
    tests = [{"grade_id": "good", "points": 2.0, "status": "passed", "message": ""},
             {"grade_id": "forged", "points": 2.0, "status": "passed", "message": ""},
             {"grade_id": "failed", "points": 0.0, "status": "failed", "message": "AssertionError"},
             {"grade_id": "gate", "points": 3.0, "status": "passed", "message": "", "post_grade": True}]
    problems = evidence.verify(tests, {g: src for g in ("good", "forged", "failed", "gate")},
                               {"good": [entry]})
    assert [t["points"] for t in tests] == [2.0, 0.0, 0.0, 3.0]
    assert problems == ["forged: no evidence that its 1 check call ran (the test cell's code did not run as written)"]
    assert tests[1]["in_kernel"] == {"points": 2.0, "status": "passed", "message": ""}
    assert tests[1]["status"] == "failed" and "not scored" in tests[1]["message"]
