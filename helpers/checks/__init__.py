"""Self-checks for students and the asserts of graded test cells, from one piece of code.

Each notebook has a module ``helpers.checks.nbNN`` with one function per TODO that *returns* a
list of :class:`Result` (it never prints). Then

* the self-check cell right after a TODO prints them:  ``self_check(nb02.check_q_sample, q_sample)``

      ✓ shape: got (4, 1, 28, 28)
      ✗ x_t at t=0 should be almost x0: got 0.31, expected 0.0 (atol 0.001). Hint: sqrt_alphas_cumprod[0] ~ 1

* the graded test cell asserts them, silently: ``require(nb02.check_q_sample, q_sample, seed=3)``
  (hidden tests call the same function with other seeds and shapes).

Nothing here writes to stderr: nbgrader gives 0 points to a test cell that does.
"""
from __future__ import annotations

import math
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch

PASS, FAIL = "\u2713", "\u2717"  # ✓ ✗


@dataclass
class Result:
    """One check: its name, whether it passed, and the line a student reads."""

    name: str
    ok: bool
    got: Any = None
    expected: Any = None
    detail: str = ""
    hint: str = ""

    @property
    def line(self) -> str:
        if self.ok:
            return f"{PASS} {self.name}" + (f": got {fmt(self.got)}" if self.got is not None else "")
        msg = f"{FAIL} {self.name}"
        if self.got is not None or self.expected is not None:
            msg += f": got {fmt(self.got)}, expected {fmt(self.expected)}"
        if self.detail:
            msg += f" ({self.detail})"
        if self.hint:
            msg += f". Hint: {self.hint}"
        return msg

    def __bool__(self) -> bool:
        return self.ok


def fmt(x: Any, digits: int = 4) -> str:
    """Short, readable value: numbers to 4 significant digits, small tensors in full, big ones
    by shape and a few values."""
    if torch.is_tensor(x):
        if x.numel() == 1:
            return fmt(x.item(), digits)
        if x.numel() <= 6:
            return "[" + ", ".join(fmt(v, digits) for v in x.flatten().tolist()) + "]"
        flat = x.detach().flatten()[:3].tolist()
        return f"tensor{tuple(x.shape)} [" + ", ".join(fmt(v, digits) for v in flat) + ", ...]"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    if isinstance(x, torch.Size):
        return str(tuple(x))
    return str(x)


def _float64_on_cpu(x) -> torch.Tensor:
    """``x`` as a float64 CPU tensor, copied to the CPU first (an Apple GPU has no float64)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
    return torch.as_tensor(x, dtype=torch.float64)


def close(name: str, got, expected, *, atol: float = 1e-4, rtol: float = 1e-4, hint: str = "") -> Result:
    """Numbers or tensors equal within ``atol + rtol * |expected|`` (same shape required)."""
    try:
        g, e = _float64_on_cpu(got), _float64_on_cpu(expected)
    except Exception as exc:  # not a number: say so instead of crashing
        return Result(name, False, type(got).__name__, fmt(expected), f"not a number or tensor: {exc}", hint)
    if g.shape != e.shape:
        return Result(name, False, tuple(g.shape), tuple(e.shape), "shape differs", hint)
    if not torch.isfinite(g).all():
        return Result(name, False, got, expected, "contains NaN or inf", hint)
    err = (g - e).abs()
    ok = bool((err <= atol + rtol * e.abs()).all())
    if ok:
        return Result(name, True, got)
    worst = int(err.flatten().argmax())
    if g.numel() > 6:  # show the worst element rather than the first few
        return Result(name, False, g.flatten()[worst], e.flatten()[worst],
                      f"worst of {g.numel()} elements, index {worst}; atol {atol:g}", hint)
    return Result(name, False, got, expected, f"atol {atol:g}", hint)


def shape(name: str, tensor, expected: Iterable[int], hint: str = "") -> Result:
    """A tensor of exactly ``expected`` shape."""
    expected = tuple(expected)
    if not torch.is_tensor(tensor):
        return Result(name, False, type(tensor).__name__, f"a tensor of shape {expected}", "", hint)
    return Result(name, tuple(tensor.shape) == expected, tuple(tensor.shape), expected, "", hint)


def equal(name: str, got, expected, hint: str = "") -> Result:
    return Result(name, bool(got == expected), got, expected, "", hint)


def true(name: str, condition: bool, got=None, expected=None, hint: str = "") -> Result:
    return Result(name, bool(condition), got, expected, "", hint)


def defined_in_notebook(name: str, obj) -> Result:
    """The student's own function/class, not the reference from ``helpers`` re-exported."""
    module = getattr(obj, "__module__", None)
    return Result(name, module == "__main__", module, "__main__", "",
                  "write it in this notebook instead of importing the reference from helpers")


def state_dict_problem(exc: BaseException, limit: int = 160) -> str:
    """The line of a ``load_state_dict`` error that names what differs (``size mismatch for
    skip.weight: ...``, ``Unexpected key(s) in state_dict: ...``, ``Missing key(s) ...``), not its
    header ("Error(s) in loading state_dict for X:"), cut to `limit` characters."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    named = [ln for ln in lines if ln.startswith(("size mismatch", "Unexpected key", "Missing key"))]
    return ((named or lines or ["state_dict mismatch"])[0])[:limit]


def _run(check_fn: Callable[..., list[Result]], *args, **kwargs) -> list[Result]:
    out = check_fn(*args, **kwargs)
    return [out] if isinstance(out, Result) else list(out)


def self_check(check_fn: Callable[..., list[Result]], *args, **kwargs) -> bool:
    """Run a check function and print one line per check for the student. Returns True when all
    pass. A stub that still raises NotImplementedError (or any error) is reported, not raised, and so
    is an answer still at its placeholder ``...`` (``BLOCKS = ...`` above a TODO's solution)."""
    if any(a is Ellipsis for a in args):
        print(f"{FAIL} not done yet: the TODO above still leaves a value at ... (fill it in and run its cell)")
        return False
    try:
        results = _run(check_fn, *args, **kwargs)
    except NotImplementedError as exc:
        print(f"{FAIL} not done yet: {str(exc) or 'the TODO still raises NotImplementedError'}")
        return False
    except Exception as exc:  # show the student the error in one line, then the short traceback
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"{FAIL} your code raised {type(exc).__name__}: {exc}\n  at line {tb.lineno}: {tb.line}")
        return False
    for r in results:
        print(r.line)
    n_ok = sum(r.ok for r in results)
    print(f"{n_ok}/{len(results)} checks passed" + (" \U0001F389" if n_ok == len(results) else ""))
    return n_ok == len(results)


def require(check_fn: Callable[..., list[Result]], *args, **kwargs) -> None:
    """For graded test cells: raise AssertionError listing the failed checks; print nothing.

    Under the autograder (``AUTOGRADER=1``) each call also leaves one line of evidence, a
    display output (format: autograder/evidence.py) that the harness takes out of the notebook
    before anything else sees it (autograder/evidence.py): which check ran, with which plain
    arguments, how many results and whether all passed. A graded cell the kernel reports as
    passing is only scored when its evidence matches the calls the instructor's test cell makes."""
    try:
        results = _run(check_fn, *args, **kwargs)
    except BaseException as exc:
        _evidence(check_fn, args, kwargs, None, type(exc).__name__)
        raise
    _evidence(check_fn, args, kwargs, results)
    failed = [r.line for r in results if not r.ok]
    if failed:
        raise AssertionError("\n".join(failed))


def check_name(check_fn) -> str:
    """``nb02.check_q_sample``: the check's module (last part) and name, as the evidence names it."""
    mod = str(getattr(check_fn, "__module__", "") or "").rsplit(".", 1)[-1]
    return f"{mod}.{getattr(check_fn, '__qualname__', type(check_fn).__name__)}"


def _evidence(check_fn, args, kwargs, results, raised: str | None = None) -> None:
    import os
    if os.environ.get("AUTOGRADER") != "1":
        return
    try:
        from IPython.display import publish_display_data

        from autograder.evidence import MIME, describe   # the harness owns the format (stdlib only)
    except ImportError:
        return
    payload = {"check": check_name(check_fn), "args": [describe(a) for a in args],
               "kwargs": {k: describe(v) for k, v in kwargs.items()},
               "results": None if results is None else len(results),
               "ok": results is not None and all(r.ok for r in results), "raised": raised}
    publish_display_data({MIME: payload})


def finite(name: str, x) -> Result:
    ok = torch.is_tensor(x) and bool(torch.isfinite(x).all())
    return Result(name, ok, None if ok else "NaN/inf or not a tensor", None, "", "check for division by zero")


__all__ = ["Result", "close", "shape", "equal", "true", "finite", "defined_in_notebook", "self_check", "require",
           "check_name",
           "fmt", "PASS", "FAIL", "math"]
