"""Adopt a benchmark's results file as the reference the documents quote.

``bench/results/<name>.json`` is what the last run of ``python -m bench.<name>`` wrote (not
committed); ``bench/reference/<name>.json`` is the committed copy that README, walkthroughs,
answers and notebook prose are rendered from (``bench/tables.py``) or checked against
(``bench/quotes.py``). Adopting wraps the run's result with what a reader needs to trust it: the
date, the machine and its load, and the command that reproduces it::

    python -m bench.adopt conditioning --machine "2-core x86 VM, idle" [--note "..."]

The result itself is kept unchanged under ``result``; a re-measurement is adopted the same way and
``make test`` then names every quote and table that has to follow it.

A full-profile notebook run (``python -m bench.notebooks --profile full 04``) is adopted into
``notebooks.json`` with what it printed and its cell times, for walkthroughs to quote::

    python -m bench.adopt 04_classifier_free_guidance --notebook-date 2026-12-07
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS, REFERENCE = BENCH / "results", BENCH / "reference"


def adopt(name: str, machine: str, note: str | None = None, command: str | None = None,
          src: Path | None = None, dst: Path | None = None) -> Path:
    src = Path(src or RESULTS / f"{name}.json")
    if not src.is_file():
        raise SystemExit(f"{src} not found: run `python -m bench.{name}` first")
    result = json.loads(src.read_text())
    when = dt.datetime.fromtimestamp(src.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    ref = {"_about": (f"Reference results of `python -m bench.{name}`, adopted with `python -m bench.adopt {name}`: "
                      "the documents quote these figures (bench/tables.py renders them, bench/quotes.py checks "
                      "them, tests/test_quotes.py fails when a copy is stale)."),
           "date": when, "machine": f"{machine} ({platform.platform()})",
           "command": command or f"python -m bench.{name}"}
    if note:
        ref["note"] = note
    ref["result"] = result
    dst = Path(dst or REFERENCE / f"{name}.json")
    dst.write_text(json.dumps(ref, indent=1, ensure_ascii=False) + "\n")
    return dst


def adopt_notebook_run(assignment: str, date: str, profile: str = "full", device: str = "cpu",
                       results: Path = RESULTS, reference: Path = REFERENCE / "notebooks.json") -> dict:
    """Store what an executed full-profile notebook printed and its cell times in notebooks.json:
    ``<device>.runs.<id>.printed_<date>`` ("[cell i] line" for every stdout line, the text
    walkthroughs quote with bench/quotes.py's `within`) and ``cells_<date>`` (cell index -> seconds),
    read from ``bench/results/notebooks/<profile>/<id>.ipynb`` (what ``python -m bench.notebooks``
    kept). The run's whole time stays for the reader to add to ``seconds`` with a note (which host)."""
    import nbformat

    nb_path = results / "notebooks" / (profile if device == "cpu" else f"{profile}_{device}") / f"{assignment}.ipynb"
    if not nb_path.is_file():
        raise SystemExit(f"{nb_path} not found: run `python -m bench.notebooks --profile {profile} {assignment}` first")
    from bench.notebooks import _cell_seconds
    nb = nbformat.read(str(nb_path), as_version=4)
    printed, cells = [], {}
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        sec = _cell_seconds(c)
        if sec is not None:
            cells[str(i)] = round(sec, 1)
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stdout":
                printed += [f"[cell {i}] {ln.rstrip()}" for ln in o.get("text", "").splitlines() if ln.strip()]
    ref = json.loads(reference.read_text())
    run = ref[device]["runs"].setdefault(assignment, {})
    tag = date.replace("-", "_")
    run[f"printed_{tag}"], run[f"cells_{tag}"] = "\n".join(printed), cells
    reference.write_text(json.dumps(ref, indent=1, ensure_ascii=False) + "\n")
    return {"lines": len(printed), "cells": len(cells), "seconds_in_cells": round(sum(cells.values()), 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.adopt", description=__doc__.split("\n\n")[0])
    p.add_argument("name", help="the benchmark: bench/results/<name>.json")
    p.add_argument("--machine", help="what ran it, e.g. '2-core x86 VM, nothing else running' (required but with "
                                     "--notebook-date)")
    p.add_argument("--note", default=None)
    p.add_argument("--command", default=None, help="the command, when not the bare `python -m bench.<name>`")
    if argv == []:   # `make bench` (python -m bench) calls every main() without arguments
        print("bench.adopt: nothing to adopt (python -m bench.adopt NAME --machine ...)")
        return 0
    p.add_argument("--notebook-date", default=None, metavar="YYYY-MM-DD",
                   help="with NAME a notebook id: store its executed full-profile run's printed output and cell "
                        "times in notebooks.json under printed_<date> / cells_<date> (--machine is then only recorded "
                        "by you in the run's note)")
    a = p.parse_args(argv)
    if a.notebook_date:
        print(f"{a.name}: {adopt_notebook_run(a.name, a.notebook_date)} -> bench/reference/notebooks.json")
        return 0
    if not a.machine:
        p.error("--machine is required: say what ran it")
    print(f"adopted as {adopt(a.name, a.machine, a.note, a.command)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
