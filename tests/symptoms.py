"""The walkthroughs' common-mistake symptoms, recomputed.

A walkthrough's "common mistakes" table (or paragraph) quotes what a student sees when a TODO is
wrong in a particular way: ``got 27, expected 28``, ``RuntimeError: running_mean should contain 8
elements not 3``. Those lines came from runs of deliberately broken code, so a changed check, seed
or message could leave them stale. Each notebook's test file lists its quotes as ``Symptom``s: the
quote exactly as the walkthrough writes it, and a function that makes the mistake and returns what
the student would read (the self-check's printed lines, or the error a later cell raises).
``problems`` then checks both sides: the quote is in the walkthrough, and the recomputed output
contains it (a quote's ``…`` stands for any text; its pieces must appear in order on one line).

``table_quotes`` lists the backticked quotes in the symptom column of a walkthrough's mistake
tables that carry a check's verdict (``got``, ``expected``, ``Error``): every one of them must be
tied by a ``Symptom`` (tests/test_nb01.py .. test_nb03.py check that none is left out).
"""
from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from typing import Callable

from helpers.checks import self_check

_GAP = re.compile(r"\s*(?:…|\.\.\.)\s*")


def norm(text: str) -> str:
    """Whitespace collapsed (a quote may wrap across lines of the Markdown source)."""
    return re.sub(r"\s+", " ", text).strip()


def printed(check_fn, *args, **kwargs) -> str:
    """What ``self_check(check_fn, *args, **kwargs)`` prints in the notebook."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        self_check(check_fn, *args, **kwargs)
    return buf.getvalue()


def raised(fn: Callable[[], object]) -> str:
    """The error ``fn()`` raises, as the notebook shows its last line (``Type: message``); the
    empty string when it raises nothing."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001  (the error is the symptom)
        return f"{type(exc).__name__}: {exc}"
    return ""


def found(quote: str, output: str, failing: bool = False) -> bool:
    """The quote's pieces (split at ``…``) appear in order on one line of `output` (with `failing`:
    on a line the self-check marks ✗, for a walkthrough that says a named check "fails")."""
    pieces = [p for p in _GAP.split(norm(quote)) if p]
    for line in output.splitlines():
        line, pos = norm(line), 0
        if failing and not line.startswith("\u2717"):
            continue
        for p in pieces:
            i = line.find(p, pos)
            if i < 0:
                break
            pos = i + len(p)
        else:
            return True
    return False


@dataclass(frozen=True)
class Symptom:
    mistake: str                    # the mistake, as a reader would name it
    quote: str                      # exactly as the walkthrough writes it (inside its backticks)
    output: Callable[[], str]       # makes the mistake; returns what the student reads
    failing: bool = False           # the quote names a check that must fail (a ✗ line), e.g. "shape (B, 1)" fails


def problems(doc: str, symptoms: list[Symptom]) -> list[str]:
    """Every disagreement between the document's quotes and what the mistakes print."""
    text, out = norm(doc), []
    for s in symptoms:
        if norm(s.quote) not in text:
            out.append(f"{s.mistake}: the walkthrough no longer quotes {s.quote!r}")
            continue
        got = s.output()
        if not found(s.quote, got, s.failing):
            what = "no failing check named" if s.failing else "does not print"
            out.append(f"{s.mistake}: the walkthrough quotes {s.quote!r}, but the mistake {what} it; it prints:\n{got}")
    return out


_VERDICT = re.compile(r"got |expected|Error|Sizes of tensors")


def table_quotes(doc: str) -> list[str]:
    """Backticked quotes in the last column of the walkthrough's ``| mistake | symptom |`` tables
    that carry a verdict (a check's got/expected, or an error message)."""
    quotes, in_table = [], False
    for line in doc.splitlines():
        if line.startswith("| mistake"):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        if in_table and not line.startswith("|---"):
            cell = line.rstrip().rstrip("|").rsplit(" | ", 1)[-1]
            quotes += [q for q in re.findall(r"`([^`]+)`", cell) if _VERDICT.search(q)]
    return quotes


# ---- the three tests every notebook's file runs on its walkthrough (tests/test_nb01.py .. test_nb07.py)

def assert_quotes_hold(doc: str, symptoms: list[Symptom]) -> None:
    """Every quoted symptom is in the walkthrough and is what its mistake prints now."""
    found = problems(doc, symptoms)
    assert not found, "\n\n".join(found)


def assert_tables_tied(doc: str, symptoms: list[Symptom]) -> None:
    """Every verdict in the walkthrough's mistake tables is one of the tied quotes."""
    quoted = {norm(s.quote) for s in symptoms}
    untied = [q for q in table_quotes(doc) if norm(q) not in quoted]
    assert not untied, f"the walkthrough quotes symptoms no test recomputes: {untied}"


def assert_stale_copy_caught(doc: str, symptoms: list[Symptom], old: str, new: str) -> None:
    """On a copy of the walkthrough with `old` (part of a tied quote) edited to `new`: the edited quote
    no longer matches what its mistake prints, and the unedited list no longer finds its quote."""
    edited_doc = doc.replace(old, new)
    assert edited_doc != doc, f"{old!r} is not in the walkthrough"
    edited = [Symptom(s.mistake, s.quote.replace(old, new), s.output, s.failing) for s in symptoms if old in s.quote]
    assert edited, f"no tied quote contains {old!r}"
    assert any("it prints" in p for p in problems(edited_doc, edited))
    assert any("no longer quotes" in p for p in problems(edited_doc, symptoms))
