"""Did the graded test cells really run? The kernel's claims, checked outside the kernel.

A graded test cell earns its points when the kernel replies `ok`. Code pasted anywhere in the
notebook runs in that same kernel and can make the reply `ok` without the tests running:
replace how the shell executes cells, add an input transformer that rewrites the test cells,
rebind `require` / `checks` in the user namespace, or hide its own frames from the in-kernel
guard (autograder/kernel_guard.py) by compiling them under a library's file name. So the
harness also asks for evidence, and judges it here, in the grading process, from plain data:

1. **Tape.** Every `require(check, ...)` of `helpers.checks` run under the autograder
   (``AUTOGRADER=1``) publishes one display output of type :data:`MIME`: the check's name, its
   arguments described as plain values (numbers, strings, tuples) or by type, how many results
   it produced and whether all passed. The executor (autograder/execute.py) takes these outputs
   out of the stream as they arrive, keeps those of graded test cells (bounded in count and
   bytes) and drops the rest: they never reach the notebook, the feedback or the output caps.
2. **Expected calls.** :func:`expected_calls` runs the *instructor's* test cell source (hidden
   tests included; taken from the source notebook by grade id, never from the submission)
   against stand-ins: every name the cell reads from the notebook is a placeholder, imports are
   placeholders, and a call of anything named ``require`` records ``(check name, plain
   arguments)`` instead of running. Nothing the student wrote is executed and no library is
   imported, so this costs milliseconds. Loops over literal tuples unroll as they would in the
   kernel.
3. **Verdict** (:func:`verify`). A test cell the kernel reported as passing keeps its points
   only when its tape matches: one entry per expected call, in order, the same check, the same
   plain arguments and keyword names, at least one result, all passed. Otherwise the cell gets
   0 and the reason, and the submission's status becomes ``tampered`` (autograder/worker.py).

What this proves: the instructor's `require` calls ran in the kernel, in order, on the
instructor's arguments, inside the test cell, and returned without a failed check. What it
does not: the values inside a check are still computed in the kernel, so code that knows this
format and publishes a forged tape (or runs the checks against the reference in `helpers`) is
not caught here; plain ``assert`` lines in a test cell are not on the tape (the course's test
cells use ``require``; the trust section of autograder/README.md lists what remains).
"""
from __future__ import annotations

import ast
import builtins
import json

MIME = "application/vnd.course.evidence+json"   # published by helpers.checks.require, read by execute.py
MAX_ENTRIES = 512          # tape entries kept per cell
MAX_ENTRY_BYTES = 64_000   # one entry, serialised


def describe(value, depth: int = 0):
    """An argument as the tape records it (both sides use this one function: helpers.checks.require
    imports it in the kernel): plain values as themselves, anything else by its type."""
    import math
    if value is None or isinstance(value, (bool, int, str)) or (isinstance(value, float) and math.isfinite(value)):
        return {"value": value if not isinstance(value, str) else value[:200]}
    if isinstance(value, (tuple, list)) and depth < 3 and len(value) <= 32:
        items = [describe(v, depth + 1) for v in value]
        if all("value" in i for i in items):
            return {"value": [i["value"] for i in items]}
    return {"object": type(value).__name__}


class _Stand:
    """A name read from the notebook (or an import): attributes and calls give more stand-ins;
    a call of anything named ``require`` is recorded. Truth tests, iteration and comparisons
    raise, so code that depends on notebook values is skipped rather than guessed."""

    __slots__ = ("_n", "_rec")

    def __init__(self, name: str, rec: list):
        object.__setattr__(self, "_n", name)
        object.__setattr__(self, "_rec", rec)

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Stand(f"{self._n}.{attr}", self._rec)

    def __call__(self, *args, **kwargs):
        if self._n.rsplit(".", 1)[-1] == "require":
            if not args:
                raise TypeError("require() without a check")
            self._rec.append(_expected(args[0], args[1:], kwargs))
            return None
        return _Stand(f"{self._n}()", self._rec)

    def _refuse(self, *_a, **_k):
        raise TypeError(f"{self._n} is a notebook value")

    __bool__ = __iter__ = __len__ = __index__ = __float__ = __int__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = _refuse
    __add__ = __sub__ = __mul__ = __truediv__ = __getitem__ = __contains__ = _refuse


def _short(name: str) -> str:
    """`helpers.checks.nb02.check_q_sample` or `nb02.check_q_sample` -> `nb02.check_q_sample`."""
    return ".".join(name.split(".")[-2:])


def _arg(v):
    return {"notebook": v._n} if isinstance(v, _Stand) else describe(v)


def _expected(check, args, kwargs) -> dict:
    name = check._n if isinstance(check, _Stand) else getattr(check, "__name__", repr(check))
    return {"check": _short(name), "args": [_arg(a) for a in args], "kwargs": {k: _arg(v) for k, v in kwargs.items()}}


SAFE_BUILTINS = ("range", "len", "tuple", "list", "dict", "zip", "enumerate", "isinstance", "int", "float", "str",
                 "bool", "abs", "min", "max", "round", "sorted", "print", "AssertionError", "Exception")


class _Names(dict):
    """The cell's namespace: what it assigns, a few builtins, and a stand-in for anything else."""

    def __init__(self, rec):
        super().__init__()
        self._rec = rec

    def __missing__(self, key):
        if key in SAFE_BUILTINS:
            return getattr(builtins, key)
        return _Stand(key, self._rec)


def _stand_import(rec):
    def imp(name, globals=None, locals=None, fromlist=(), level=0):
        return _Stand(name if fromlist else name.split(".")[0], rec)
    return imp


def _calls_require(node) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            if (isinstance(f, ast.Name) and f.id == "require") or (isinstance(f, ast.Attribute) and f.attr == "require"):
                return True
    return False


def expected_calls(source: str) -> tuple[list[dict], list[str]]:
    """The `require` calls the instructor's test cell makes, in order, and the statements that
    call `require` but could not be followed (their calls are then only partly known)."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as exc:
        return [], [f"the test cell does not parse: {exc}"]
    rec: list[dict] = []
    names = _Names(rec)
    glb = {"__builtins__": {**{k: getattr(builtins, k) for k in SAFE_BUILTINS}, "__import__": _stand_import(rec)}}
    unclear = []
    for stmt in tree.body:
        mod = ast.Module(body=[stmt], type_ignores=[])
        try:
            exec(compile(mod, "<instructor test cell>", "exec"), glb, names)
        except Exception as exc:  # noqa: BLE001 - a statement that needs notebook values
            if _calls_require(stmt):
                unclear.append(f"line {stmt.lineno}: {type(exc).__name__}")
    return rec, unclear


def _same(expected: dict, got) -> bool:
    """A plain expected value must be described identically; a notebook value may be anything."""
    if "notebook" in expected:
        return isinstance(got, dict)
    return json.dumps(expected, sort_keys=True) == json.dumps(got, sort_keys=True)


def check_tape(expected: list[dict], unclear: list[str], tape: list) -> str:
    """'' when the tape matches the expected calls, else the first reason it does not."""
    if not expected and not unclear:
        return ""
    if not tape:
        return (f"no evidence that its {len(expected)} check call{'s' if len(expected) != 1 else ''} ran "
                "(the test cell's code did not run as written)")
    if len(tape) > len(expected) and not unclear:
        return f"{len(tape)} check calls recorded where the test cell makes {len(expected)}"
    if len(tape) < len(expected):
        return f"only {len(tape)} of its {len(expected)} check calls ran"
    for k, (want, got) in enumerate(zip(expected, tape), 1):
        if not isinstance(got, dict):
            return f"check call {k}: malformed evidence"
        if got.get("check") != want["check"]:
            return f"check call {k}: {got.get('check')!r} ran where the test cell calls {want['check']!r}"
        args, kwargs = got.get("args"), got.get("kwargs")
        if not isinstance(args, list) or len(args) != len(want["args"]):
            return f"check call {k} ({want['check']}): other positional arguments"
        if not isinstance(kwargs, dict) or set(kwargs) != set(want["kwargs"]):
            return f"check call {k} ({want['check']}): other keyword arguments"
        bad = [str(i) for i, (w, g) in enumerate(zip(want["args"], args)) if not _same(w, g)]
        bad += [n for n, w in want["kwargs"].items() if not _same(w, kwargs[n])]
        if bad:
            return f"check call {k} ({want['check']}): arguments {', '.join(bad)} differ from the test cell's"
        if got.get("raised") or not got.get("ok") or not isinstance(got.get("results"), int) or got["results"] < 1:
            return f"check call {k} ({want['check']}) did not pass"
    return ""


def verify(tests: list[dict], source_cells: dict[str, str], tapes: dict[str, list]) -> list[str]:
    """Zero every test the kernel passed whose tape does not match its instructor cell; returns
    the reasons (`grade_id: why`). `source_cells`: grade_id -> instructor source; `tapes`:
    grade_id -> the evidence entries the executor kept for that cell, in order."""
    problems = []
    for t in tests:
        if t.get("post_grade") or not t.get("points") or t["grade_id"] not in source_cells:
            continue
        expected, unclear = expected_calls(source_cells[t["grade_id"]])
        why = check_tape(expected, unclear, tapes.get(t["grade_id"], []))
        if why:
            t["in_kernel"] = {k: t.get(k) for k in ("points", "status", "message")}
            t.update(points=0.0, status="failed", tampered=why,
                     message=f"not scored: the kernel reported this test as passing, but {why}")
            problems.append(f"{t['grade_id']}: {why}")
    return problems
