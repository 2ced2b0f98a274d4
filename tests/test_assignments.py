"""The notebook contract (tests/contract.py), once for every assignment folder in
autograder/source/: structure, documents, student copy, and real grading through the harness:
the solution earns full marks, the untouched copy 0 with a completed run, each manifest mistake
loses exactly its TODO's points, self-checks print ✓ for the solution and ✗ with a hint for
each mistake. Notebook-specific tests (tests/test_nbNN.py) keep only what is specific."""
from __future__ import annotations

import nbformat
import pytest

import contract
from autograder import REPO_ROOT, assignments

COURSE = assignments.discover()
IDS = [a.id for a in COURSE]


def test_the_course_has_its_assignments_in_order():
    assert len(COURSE) >= 6 and IDS == sorted(IDS), IDS
    assert [a.order for a in COURSE] == sorted(a.order for a in COURSE)
    assert sum(a.demo_main for a in COURSE) == 1, "exactly one manifest says demo_main"


@pytest.mark.parametrize("a", COURSE, ids=IDS)
def test_structure(a):
    contract.structure(a)
    assert a.mistakes, f"{a.id}: the manifest lists no typical mistake"
    assert {"smoke", "full_cpu"} <= set(a.time_targets_s), a.time_targets_s
    nb = nbformat.read(a.notebook, as_version=4)
    names = {gid for _, gid in contract.todos(nb)}
    for m in a.mistakes:   # each mistake edits a TODO's solution where it stands
        assert m.todo in names, (a.id, m)
        m.apply(next(c.source for c in nb.cells if contract._meta(c).get("grade_id") == m.todo))


@pytest.mark.parametrize("a", COURSE, ids=IDS)
def test_documents(a):
    contract.documents(a, REPO_ROOT)


@pytest.mark.parametrize("a", COURSE, ids=IDS)
def test_student_copy(a):
    contract.student_copy(a, REPO_ROOT / "notebooks" / f"{a.id}.ipynb")


# --------------------------------------------------------------------------- real grading

def _student(variant: str, aid: str, main: str) -> str:
    return variant if aid == main else f"{variant}_{aid[:2]}"


@pytest.mark.slow
@pytest.mark.parametrize("a", COURSE, ids=IDS)
def test_solution_full_marks_untouched_copy_zero(a, graded_demo):
    out, proc = graded_demo
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    main = next(x.id for x in COURSE if x.demo_main)
    for variant, check in (("complete", contract.graded_solution), ("blank", contract.graded_untouched)):
        student = _student(variant, a.id, main)
        check(contract.load_result(out, student, a.id), contract.autograded(out, student, a.id))


MISTAKES = [(a, k) for a in COURSE for k in range(len(a.mistakes))]


@pytest.mark.slow
@pytest.mark.parametrize("a, k", MISTAKES, ids=[f"{a.id}-{k + 1}" for a, k in MISTAKES])
def test_each_mistake_loses_exactly_its_todo(a, k, graded_demo, graded_mistakes):
    """The first mistake is the demo's one_wrong student; the others are graded here."""
    if k == 0:
        out, main = graded_demo[0], next(x.id for x in COURSE if x.demo_main)
        student = _student("one_wrong", a.id, main)
    else:
        out, _, proc = graded_mistakes
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        student = f"mistake{k + 1}_{a.id[:2]}"
    r = contract.load_result(out, student, a.id)
    contract.graded_mistake(r, contract.autograded(out, student, a.id), a.mistakes[k], r["max_score"])


@pytest.mark.parametrize("a", COURSE, ids=IDS)
def test_helpers_twins_are_drop_ins(a, one_torch_thread):
    """In-process: each TODO's helpers reference passes the solution's graded tests in its place,
    or the manifest says why not (and then it really does not)."""
    contract.twins(a)


@pytest.mark.parametrize("a", COURSE, ids=IDS)
def test_each_todo_is_graded_on_its_own(a, one_torch_thread):
    """In-process (no kernel): a TODO left blank costs exactly its own tests, whatever the others do."""
    unjudged = contract.independent_todos(a)
    assert unjudged == {"04_classifier_free_guidance": ["test_todo4_accuracy"]}.get(a.id, []), unjudged
