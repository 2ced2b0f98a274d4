"""Adding a notebook touches only its own files: a copy of autograder/source/ gets a tiny new
assignment (a notebook with two TODOs, its manifest and checks module, a walkthrough and answers),
and release, the demo generator, grading, the README tables and the contract test
(tests/contract.py) all pick it up with no other file edited."""
from __future__ import annotations

import json
import shutil
import sys
import textwrap

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import contract
from autograder import SOURCE_DIR, assignments
from autograder.examples import make_demo
from autograder.release import release
from bench import tables
from conftest import REPO, grade_folder
from helpers.bootstrap import BOOTSTRAP_CELL

AID = "07_tiny"
CHECKS = '''"""Checks of the tiny assignment: one function per TODO, returning helpers.checks.Result lines."""
import torch

from helpers.checks import Result, close


def check_double(fn, seed=0):
    x = torch.randn(5, generator=torch.Generator().manual_seed(seed))
    return [close("double(x) = 2x", fn(x), 2 * x, hint="multiply by 2, do not add 2")]


def check_norm(fn, seed=0):
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(seed))
    return [Result("returns one value per row", tuple(fn(x).shape) == (3,), tuple(fn(x).shape), (3,)),
            close("row norms", fn(x), x.pow(2).sum(1).sqrt(), hint="square root of the sum of squares, per row")]
'''


def _meta(gid, *, grade=False, solution=False, locked=False, points=None):
    m = {"grade": grade, "grade_id": gid, "locked": locked, "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def _todo(n, gid, md, solution, check, test, points):
    return [new_markdown_cell(f"## TODO {n}: {md}"),
            new_code_cell(solution, metadata=_meta(gid, solution=True), id=gid),
            new_code_cell(check, id=f"check-{gid}"),
            new_code_cell(test, metadata=_meta(f"test_{gid}", grade=True, locked=True, points=points), id=f"test-{gid}")]


def tiny_notebook():
    questions = "\n".join(f"{i}. Question {i}: why does step {i} work?" for i in range(1, 8))
    cells = [new_markdown_cell("# 07 · A tiny assignment\nTwo TODOs, for the contract test."),
             new_code_cell(BOOTSTRAP_CELL, id="bootstrap"),
             new_code_cell("import torch\nfrom helpers import checks\nimport tiny_checks", id="imports"),
             *_todo(1, "todo1_double", "double a tensor", textwrap.dedent('''\
                 def double(x):
                     """x -> 2x"""
                     ### BEGIN SOLUTION
                     return 2 * x
                     ### END SOLUTION'''), "checks.self_check(tiny_checks.check_double, double);", textwrap.dedent('''\
                 checks.require(tiny_checks.check_double, double, seed=1)
                 ### BEGIN HIDDEN TESTS
                 checks.require(tiny_checks.check_double, double, seed=2)
                 ### END HIDDEN TESTS'''), 1),
             *_todo(2, "todo2_norm", "row norms", textwrap.dedent('''\
                 def norm(x):
                     """(N, D) -> (N,) Euclidean norm of each row"""
                     ### BEGIN SOLUTION
                     return x.pow(2).sum(dim=1).sqrt()
                     ### END SOLUTION'''), "checks.self_check(tiny_checks.check_norm, norm);", textwrap.dedent('''\
                 checks.require(tiny_checks.check_norm, norm, seed=1)
                 ### BEGIN HIDDEN TESTS
                 checks.require(tiny_checks.check_norm, norm, seed=2)
                 ### END HIDDEN TESTS'''), 2),
             new_markdown_cell("## Discussion questions\n\n" + questions)]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


MANIFEST = {"title": "A tiny assignment", "order": 7, "teaches": "doubling and row norms (a contract test)",
            "time_targets_s": {"smoke": 30, "full_cpu": 60},
            "walkthrough": "walkthroughs/07_Tiny_Walkthrough.md", "answers": "answers/07_Tiny_Answers.md",
            "checks": "autograder/source/07_tiny/tiny_checks.py",
            "mistakes": [{"todo": "todo2_norm", "replace": ".sqrt()", "with": "", "what": "squared norm"},
                         {"todo": "todo1_double", "replace": "2 * x", "with": "x + 2", "what": "adds 2"}],
            "twins": {"todo2_norm": ["helpers.clip.cosine_similarity_matrix"]},
            "differs": {"helpers.clip.cosine_similarity_matrix": "a similarity matrix, not row norms (the rule's other branch)"}}


@pytest.mark.slow
def test_a_new_assignment_is_picked_up_everywhere(tmp_path):
    root = tmp_path / "course"
    src = root / "autograder" / "source"
    shutil.copytree(SOURCE_DIR, src, ignore=shutil.ignore_patterns("*.pt2", "*.gate.json", "__pycache__"))
    folder = src / AID
    folder.mkdir()
    nbformat.write(tiny_notebook(), folder / f"{AID}.ipynb")
    (folder / "manifest.json").write_text(json.dumps(MANIFEST, indent=1))
    (folder / "tiny_checks.py").write_text(CHECKS)
    for kind, text in (("walkthroughs/07_Tiny_Walkthrough.md", "TODO 1: `2 * x`. TODO 2: `x.pow(2).sum(1).sqrt()`."),
                       ("answers/07_Tiny_Answers.md", "\n".join(f"**{i}. ...**\nBecause." for i in range(1, 8)))):
        (root / kind).parent.mkdir(parents=True, exist_ok=True)
        (root / kind).write_text(text)

    # discovered in course order, after the six
    found = assignments.discover(src)
    assert [a.id for a in found][-1] == AID and len(found) == len(assignments.discover()) + 1
    tiny = found[-1]

    # release: the student copy appears next to the others
    cache = REPO / "grading" / ".bundles"
    changed = release(check=False, source_dir=src, out_dir=root / "notebooks", cache=cache)
    assert AID in changed and (root / "notebooks" / f"{AID}.ipynb").is_file()
    assert release([AID], check=True, source_dir=src, out_dir=root / "notebooks", cache=cache) == []

    # README tables: a row for it
    generated = tables.tables(src)
    assert f"| 07 | `{AID}` | {MANIFEST['teaches']} |" in generated["notebooks"]
    assert f"| {AID} | not measured |  | 1 min |" in generated["times-cpu"]

    # the contract, statically
    contract.structure(tiny)
    contract.documents(tiny, root)
    contract.student_copy(tiny, root / "notebooks" / f"{AID}.ipynb")
    sys.path.insert(0, str(folder))   # the notebook imports tiny_checks from its folder
    try:
        assert contract.twins(tiny) == {}   # its one declared twin differs, and really fails
    finally:
        sys.path.remove(str(folder))

    # the demo generator and real grading: solution, untouched copy, each manifest mistake
    exp = make_demo.make_class(root / "class", src, [AID], main="", others=("complete", "blank", "mistakes"),
                               cache=cache)
    assert [e["student"] for e in exp["students"]] == ["complete_07", "blank_07", "mistake1_07", "mistake2_07"]
    proc = grade_folder(root / "class" / "submitted", root / "out", "--source", str(src))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = root / "out"
    for e in exp["students"]:
        r = contract.load_result(out, e["student"], AID)
        assert (r["status"], r["score"]) == (e["status"], e["score"]), (e, r["status"], r["score"])
    contract.graded_solution(contract.load_result(out, "complete_07", AID), contract.autograded(out, "complete_07", AID))
    contract.graded_untouched(contract.load_result(out, "blank_07", AID), contract.autograded(out, "blank_07", AID))
    for k, m in enumerate(tiny.mistakes, 1):
        student = f"mistake{k}_07"
        r = contract.load_result(out, student, AID)
        contract.graded_mistake(r, contract.autograded(out, student, AID), m, r["max_score"])
        assert r["max_score"] == 3

    # and the repository itself is untouched
    assert not (SOURCE_DIR / AID).exists() and not (REPO / "notebooks" / f"{AID}.ipynb").exists()
