"""The demo class's expectations (expected.json, written by make_demo) and the check `make grade`
prints after grading it: every student with the status and score expected."""
from __future__ import annotations

import json

from autograder import EXAMPLES_DIR


def expected() -> dict:
    p = EXAMPLES_DIR / "expected.json"
    return json.loads(p.read_text()) if p.exists() else {"students": []}


def exclude(level: str) -> set[str]:
    """Attacking demo students run only where the strict sandbox contains them."""
    skip = {e["student"] for e in expected()["students"] if e.get("needs") == "strict" and level != "strict"}
    if skip:
        print(f"sandbox {level}: not running the attacking demo student(s) {', '.join(sorted(skip))} "
              "(they need the strict sandbox: Linux, as root)")
    return skip


def check(results: list[dict]) -> tuple[list[str], bool]:
    """(lines to print, whether every student got what expected.json says)."""
    exp = expected()
    if not exp["students"]:
        return [], True
    got = {(r["student"], r["assignment"]): r for r in results}
    lines, ok = ["", "demo check (autograder/examples/expected.json):"], True
    for e in exp["students"]:
        r = got.get((e["student"], e["assignment"]))
        if r is None and e.get("needs"):
            lines.append(f"  - {e['student']:<22} {e['assignment']:<28} skipped (needs the {e['needs']} sandbox)")
            continue
        good = r is not None and r["status"] == e["status"] and abs(r["score"] - e["score"]) < 1e-6
        if r is not None and "reference_calls" in e:   # the flag an instructor sees for this student
            good &= sorted((r.get("notes") or {}).get("reference_calls", {})) == sorted(e["reference_calls"])
        ok &= good
        seen = f"{r['status']} {r['score']:g}" if r else "no result"
        lines.append(f"  {'✓' if good else '✗'} {e['student']:<22} {e['assignment']:<28} expected {e['status']} "
                     f"{e['score']:g}, got {seen}  ({e['why']})")
    lines.append("demo: every student graded as expected" if ok else "demo: MISMATCH (see ✗ above)")
    return lines, ok
