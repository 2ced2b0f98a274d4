"""Adopt a benchmark's results file as the reference the documents quote.

``bench/results/<name>.json`` is what the last run of ``python -m bench.<name>`` wrote (not
committed); ``bench/reference/<name>.json`` is the committed copy that README, walkthroughs,
answers and notebook prose are rendered from (``bench/tables.py``) or checked against
(``bench/quotes.py``). Adopting wraps the run's result with what a reader needs to trust it: the
date, the machine and its load, and the command that reproduces it::

    python -m bench.adopt conditioning --machine "2-core x86 VM, idle" [--note "..."]

The result itself is kept unchanged under ``result``; a re-measurement is adopted the same way and
``make test`` then names every quote and table that has to follow it.
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.adopt", description=__doc__.split("\n\n")[0])
    p.add_argument("name", help="the benchmark: bench/results/<name>.json")
    p.add_argument("--machine", required=True, help="what ran it, e.g. '2-core x86 VM, nothing else running'")
    p.add_argument("--note", default=None)
    p.add_argument("--command", default=None, help="the command, when not the bare `python -m bench.<name>`")
    if argv == []:   # `make bench` (python -m bench) calls every main() without arguments
        print("bench.adopt: nothing to adopt (python -m bench.adopt NAME --machine ...)")
        return 0
    a = p.parse_args(argv)
    print(f"adopted as {adopt(a.name, a.machine, a.note, a.command)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
