"""The notebook contract: what every assignment folder must satisfy, as plain functions that raise
AssertionError. tests/test_assignments.py runs them over every folder of autograder/source/;
tests/test_new_assignment.py runs them over a tiny assignment added to a copy of the tree.

* `structure`: cell order and nbgrader metadata (autograder/source/README.md);
* `documents`: walkthrough and answers exist, cover every TODO and every discussion question;
* `student_copy`: the release has named stubs, no solutions, no hidden tests;
* `twins`: the `helpers` reference of each TODO (same name, or the manifest's `twins`) is a
  drop-in for the instructor's solution, or the manifest says under `differs` why not;
* `graded_*`: what real grading (nbgrader through the harness) gave the solution, the untouched
  copy and each manifest mistake, and what their self-checks printed.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat

from autograder.assignments import Assignment
from nbtools import output_text  # noqa: F401  (the test_nbNN files read solution runs with it)
from helpers.bootstrap import BOOTSTRAP_CELL

OK, FAIL, DONE = "\u2713", "\u2717", "checks passed \U0001F389"
ANSWER = re.compile(r"^(?:#+ *|\*\*)Q?(\d+)[.:)]", flags=re.M)
QUESTION = re.compile(r"^(\d+)\. (.+?)(?=\n\d+\. |\n\n|\Z)", flags=re.M | re.S)


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def todos(nb) -> list[tuple[int, str]]:
    """(cell index, grade_id) of every TODO (solution cell) in order."""
    return [(i, _meta(c)["grade_id"]) for i, c in enumerate(nb.cells) if _meta(c).get("solution") and not _meta(c).get("grade")]


def graded_points(nb) -> dict[str, float]:
    return {_meta(c)["grade_id"]: _meta(c)["points"] for c in nb.cells if _meta(c).get("grade")}


def _plain_test(st) -> bool:
    """A statement a graded test cell may hold (and never a bare value nbgrader reads as points)."""
    if isinstance(st, ast.Assert):
        return True
    if isinstance(st, ast.Expr) and isinstance(st.value, ast.Call):
        f = st.value.func
        return (f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")) == "require"
    if isinstance(st, ast.For) and isinstance(st.iter, (ast.Tuple, ast.List)):
        return all(isinstance(e, ast.Constant) for e in st.iter.elts) and all(_plain_test(b) for b in st.body)
    return False


def structure(a: Assignment) -> None:
    """The instructor notebook follows autograder/source/README.md."""
    nb = nbformat.read(a.notebook, as_version=4)
    assert a.has_manifest, f"{a.id}: add autograder/source/{a.id}/manifest.json"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert "widgets" not in nb.metadata, f"{a.id}: widget state committed"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == BOOTSTRAP_CELL, f"{a.id}: the first code cell must be helpers.bootstrap.BOOTSTRAP_CELL"
    for i, c in enumerate(code):
        assert not c.get("outputs") and c.get("execution_count") is None, f"{a.id}: code cell {i} has outputs"
    ids = [_meta(c)["grade_id"] for c in nb.cells if _meta(c).get("grade_id")]
    assert len(ids) == len(set(ids)), f"{a.id}: grade_ids must be unique"
    cells = nb.cells
    found = todos(nb)
    assert found, f"{a.id}: no TODO"
    for n, (i, gid) in enumerate(found, start=1):
        meta, src = _meta(cells[i]), cells[i].source
        assert re.fullmatch(rf"todo{n}_\w+", gid), f"{a.id}: TODO {n} is named {gid}, expected todo{n}_<name>"
        assert not meta.get("locked"), gid
        assert src.count("### BEGIN SOLUTION") == src.count("### END SOLUTION") >= 1, gid
        heading = cells[i - 1]
        assert heading.cell_type == "markdown" and re.search(rf"^#+ TODO {n}\b", heading.source, re.M), \
            f"{gid}: the cell before it must be the markdown `## TODO {n}: ...`"
        check_cell, test_cell = cells[i + 1], cells[i + 2]
        assert check_cell.cell_type == "code" and "self_check(" in check_cell.source and not _meta(check_cell), \
            f"{gid}: the cell after it must be its self-check (checks.self_check(...))"
        assert check_cell.source.rstrip().endswith((";", ")")), f"{gid}: the self-check displays no value"
        tmeta = _meta(test_cell)
        assert tmeta.get("grade") and tmeta["grade_id"] == f"test_{gid}", \
            f"{gid}: the cell after the self-check must be the graded test test_{gid}"
    numbers = range(1, len(found) + 1)
    for c in cells:
        meta = _meta(c)
        if not meta.get("grade"):
            continue
        gid, src = meta["grade_id"], c.source
        assert meta.get("locked") and not meta.get("solution") and meta.get("points", 0) > 0, gid
        assert any(gid.startswith(f"test_todo{n}_") for n in numbers), f"{gid}: a graded test is named test_todo<n>_..."
        assert "### BEGIN HIDDEN TESTS" in src and "### END HIDDEN TESTS" in src, f"{gid}: hidden tests missing"
        assert "print(" not in src, f"{gid}: a test cell prints nothing (stderr costs points, stdout is noise)"
        bad = [ast.unparse(st)[:80] for st in ast.parse(src).body if not _plain_test(st)]
        assert not bad, f"{gid}: a test cell holds only checks.require(...) calls, asserts and loops over a " \
                        f"literal tuple of them (what the evidence tape can replay), not: {bad}"
        assert "require(" in src, f"{gid}: graded checks go through checks.require (the evidence tape)"
    last = cells[-1]
    assert last.cell_type == "markdown" and re.search(r"questions", last.source, re.I), \
        f"{a.id}: the last cell holds the discussion questions"


def questions(a: Assignment) -> list[str]:
    """The discussion questions of the notebook's last cell, whitespace-normalised."""
    last = nbformat.read(a.notebook, as_version=4).cells[-1].source
    return [" ".join(q.split()) for _, q in QUESTION.findall(last)]


def documents(a: Assignment, root: Path) -> None:
    """Walkthrough, answers and checks module exist; the walkthrough covers every TODO, the
    answers every question."""
    for kind in ("walkthrough", "answers", "checks"):
        path = a.doc(kind, root)
        assert path is not None and path.is_file(), f"{a.id}: manifest.json names no existing {kind} ({path})"
    walk = a.doc("walkthrough", root).read_text()
    nb = nbformat.read(a.notebook, as_version=4)
    for n, (_, gid) in enumerate(todos(nb), start=1):
        assert re.search(rf"TODO {n}\b", walk), f"{a.walkthrough}: no section for TODO {n} ({gid})"
    qs = questions(a)
    assert len(qs) >= 7, f"{a.id}: {len(qs)} discussion questions (at least 7)"
    answered = {int(n) for n in ANSWER.findall(a.doc("answers", root).read_text())}
    missing = [n for n in range(1, len(qs) + 1) if n not in answered]
    assert not missing, f"{a.answers}: no answer numbered {missing} (headings like `**3. ...`, `### Q3. ...`)"


def student_copy(a: Assignment, release: Path) -> None:
    """The student copy: each TODO's stub names it, no solution and no hidden test is left."""
    text = Path(release).read_text()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, release
    nb = nbformat.reads(text, as_version=4)
    for n, (i, gid) in enumerate(todos(nb), start=1):
        assert f'NotImplementedError("TODO {n}' in nb.cells[i].source or \
            f"NotImplementedError('TODO {n}" in nb.cells[i].source, f"{gid}: the stub must say `TODO {n}: ...`"


# --------------------------------------------------------------------------- graded runs

def load_result(out: Path, student: str, aid: str) -> dict:
    found = sorted(Path(out, "results", aid).glob(f"{student}--*.json"), key=lambda p: p.stat().st_mtime)
    assert found, f"no result for {student}/{aid} under {out}/results"
    return json.loads(found[-1].read_text())


def autograded(out: Path, student: str, aid: str):
    return nbformat.read(Path(out, "autograded", student, aid, f"{aid}.ipynb"), as_version=4)


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def self_check_outputs(nb) -> dict[str, str]:
    """TODO grade_id -> what its self-check cell printed."""
    return {gid: _text(nb.cells[i + 1]) for i, gid in todos(nb)}


def graded_solution(r: dict, nb) -> None:
    assert r["status"] == "graded" and r["score"] == r["max_score"] > 0, (r["status"], r["score"], r["max_score"])
    assert all(t["status"] == "passed" for t in r["tests"]), [t for t in r["tests"] if t["status"] != "passed"]
    for gid, text in self_check_outputs(nb).items():
        assert DONE in text and FAIL not in text, f"{gid}: the solution's self-check printed:\n{text}"
    for c in nb.cells:
        for o in c.get("outputs", []):
            assert o.get("output_type") != "error", f"the solution raised {o.get('ename')}: {c.source[:200]}"
            if _meta(c).get("grade"):
                assert o.get("output_type") != "stream", f"{_meta(c)['grade_id']} printed (stderr costs its points)"
                assert o.get("output_type") != "execute_result", f"{_meta(c)['grade_id']} displays a value"


def graded_untouched(r: dict, nb) -> None:
    assert r["status"] == "graded" and r["score"] == 0, (r["status"], r["score"])
    assert r["tests"] and all(t["status"] == "failed" for t in r["tests"]), \
        [t["grade_id"] for t in r["tests"] if t["status"] != "failed"]
    for n, (gid, text) in enumerate(self_check_outputs(nb).items(), start=1):
        said = FAIL in text and DONE not in text and ("not done yet" in text or f"TODO {n}:" in text)
        assert said, f"{gid}: an untouched TODO's self-check must say it is not done (✗ ... TODO {n}), printed:\n{text}"


def graded_mistake(r: dict, nb, mistake, full: float) -> None:
    """A manifest mistake loses exactly its TODO's points, and its self-check says why."""
    lost = {t["grade_id"] for t in r["tests"] if t["points"] < t["max_points"]}
    own = {t["grade_id"] for t in r["tests"] if t["todo"] == mistake.todo}
    assert r["status"] == "graded", (mistake.what, r["status"], r.get("detail"))
    assert lost == own, f"{mistake.todo} ({mistake.what}): lost {sorted(lost)}, expected exactly {sorted(own)}"
    pts = sum(t["max_points"] for t in r["tests"] if t["todo"] == mistake.todo)
    assert abs(r["score"] - (full - pts)) < 1e-9, (mistake.what, r["score"], full, pts)
    text = self_check_outputs(nb)[mistake.todo]
    assert FAIL in text and "Hint:" in text, f"{mistake.todo} ({mistake.what}): the self-check printed:\n{text}"


# --------------------------------------------------------------------------- in-process, without a kernel

STUB = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)


def stubbed(src: str) -> str:
    """What the release leaves of a solution cell: the solution regions raise."""
    return STUB.sub(lambda m: f"{m.group(1)}raise NotImplementedError()", src)


def run_tests_in_process(nb, replace: dict[str, str] | None = None) -> dict[str, bool]:
    """Run the imports-and-sizes cell, then every TODO (or its replacement) and graded test cell in
    order in one namespace, skipping the demonstrations; graded grade_id -> passed. Seconds, no
    kernel: how far each graded test depends only on its own TODO."""
    replace = replace or {}
    code = [c for c in nb.cells if c.cell_type == "code"]
    env: dict = {"__name__": "__main__"}
    exec(compile(code[1].source, "<imports>", "exec"), env)
    passed = {}
    for c in nb.cells:
        meta = _meta(c)
        if meta.get("solution") and not meta.get("grade"):
            try:
                exec(compile(replace.get(meta["grade_id"], c.source), meta["grade_id"], "exec"), env)
            except Exception:  # noqa: BLE001 - a stub raises, as in the student's kernel
                pass
        elif meta.get("grade"):
            try:
                exec(compile(c.source, meta["grade_id"], "exec"), env)
                passed[meta["grade_id"]] = True
            except Exception:  # noqa: BLE001
                passed[meta["grade_id"]] = False
    return passed


def independent_todos(a: Assignment) -> list[str]:
    """Each TODO left as its stub alone fails exactly its own graded tests. Returns the graded
    tests this cannot judge in-process (they need the notebook's demonstrations, e.g. 04's trained
    model): those are judged by the real grading runs."""
    nb = nbformat.read(a.notebook, as_version=4)
    sources = {gid: nb.cells[i].source for i, gid in todos(nb)}
    full = run_tests_in_process(nb)
    judged = {g for g, ok in full.items() if ok}
    for n, gid in enumerate(sources, start=1):
        got = run_tests_in_process(nb, {gid: stubbed(sources[gid])})
        failed = {g for g in judged if not got[g]}
        own = {g for g in judged if g.startswith(f"test_todo{n}_")}
        assert failed == own, f"TODO {n} ({gid}) left blank fails {sorted(failed)}, expected exactly {sorted(own)}"
    return sorted(set(full) - judged)


def _helpers_objects() -> dict[str, list[tuple[str, object]]]:
    """name -> [(dotted path, object)] for every function and class a `helpers` module defines
    (the checks excepted: they are the judges, not references)."""
    import importlib
    import pkgutil

    import helpers
    out: dict[str, list[tuple[str, object]]] = {}
    for info in pkgutil.iter_modules(helpers.__path__):
        if info.name == "checks":
            continue
        mod = importlib.import_module(f"helpers.{info.name}")
        for name, obj in vars(mod).items():
            if callable(obj) and getattr(obj, "__module__", None) == mod.__name__:
                out.setdefault(name, []).append((f"{mod.__name__}.{name}", obj))
    return out


def _bind(name: str, path: str) -> str:
    """Source that binds `name` in the notebook to the reference at `path`, defined in __main__ as a
    student's own would be (a subclass, or a function with the reference's signature that calls it)."""
    import importlib
    import inspect
    mod, attr = path.rsplit(".", 1)
    obj = getattr(importlib.import_module(mod), attr)
    head = f"from {mod} import {attr} as _twin_{name}\n"
    if inspect.isclass(obj):
        return head + f"class {name}(_twin_{name}):\n    pass\n"
    return head + (f"def {name}(*args, **kwargs):\n    return _twin_{name}(*args, **kwargs)\n"
                   f"import inspect as _inspect\n{name}.__signature__ = _inspect.signature(_twin_{name})\n")


def twins(a: Assignment) -> dict[str, str]:
    """Each TODO's `helpers` twins (the same name in any helpers module, plus the manifest's `twins`)
    put in place of the solution's objects: every graded test that the solution passes in-process
    still passes, unless the manifest's `differs` names the twin (with the reason), and then it
    must really fail. Returns {name: 'helpers.x.name'} of the drop-ins."""
    from autograder.reference_calls import defined_names
    nb = nbformat.read(a.notebook, as_version=4)
    judged = {g for g, ok in run_tests_in_process(nb).items() if ok}
    helpers_objects = _helpers_objects()
    drop_ins, seen = {}, set()
    for i, gid in todos(nb):
        source = nb.cells[i].source
        names = defined_names(source)
        pairs = [(n, p) for n in sorted(names) for p, _ in helpers_objects.get(n, [])]
        for entry in a.twins.get(gid, []):   # 'helpers.x.y', or 'helpers.x.y as Name' for one of several names
            path, _, name = (part.strip() for part in entry.partition(" as "))
            name = name or (next(iter(names)) if len(names) == 1 else path.rsplit(".", 1)[-1])
            assert name in names, (f"{a.id}: twin {entry!r} of {gid}: {name} is not one of the names its solution "
                                   f"defines {sorted(names)}; write '{path} as <name>'")
            pairs.append((name, path))
        for name, path in pairs:
            seen.add(path)
            got = run_tests_in_process(nb, {gid: source + "\n" + _bind(name, path)})
            failed = sorted(g for g in judged if not got[g])
            if path in a.differs:
                assert failed, (f"{a.id}: {path} is a drop-in for {name} ({gid}), but the manifest says it "
                                f"differs ({a.differs[path]!r}): remove it from differs")
            else:
                assert not failed, (f"{a.id}: {path} in place of the solution's {name} ({gid}) fails {failed}: "
                                    f"make them agree, or say why under the manifest's differs")
                drop_ins[name] = path
    stale = set(a.differs) - seen
    assert not stale, f"{a.id}: the manifest's differs names {sorted(stale)}, which are no TODO's twins"
    return drop_ins


def solution_notebook(graded_demo, aid: str):
    """The demo class's complete student of `aid`, as the grader executed it (smoke profile)."""
    from autograder import assignments
    out, proc = graded_demo
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    main = next(a.id for a in assignments.discover() if a.demo_main)
    return autograded(out, "complete" if aid == main else f"complete_{aid[:2]}", aid)
