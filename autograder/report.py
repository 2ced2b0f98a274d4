"""Merging per-submission results into what the instructor reads.

Writes (under the output folder): grades.csv (one row per submission, sorted, no timings, so
two gradings of the same class give byte-identical files), grades_by_test.csv, a
Gradescope-style results.json per submission
(https://gradescope-autograders.readthedocs.io/en/latest/specs/), summary.json and
summary.txt: the table of students and the per-TODO histogram of lost points.
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from pathlib import Path

STATUSES = ("graded", "tampered", "timed out", "kernel crashed", "not a notebook", "wrong assignment", "missing", "error")


def missing_result(student: str, aid: str, max_score: float) -> dict:
    return {"student": student, "assignment": aid, "status": "missing", "score": 0.0, "max_score": max_score,
            "detail": "no submission found", "tests": [], "notes": {}, "timing": {}, "files": {}}


def _fmt(x) -> str:
    return "" if x is None else f"{float(x):g}"


def write_grades(results: list[dict], out: Path) -> None:
    rows = sorted(results, key=lambda r: (r["assignment"], r["student"]))
    with open(out / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "score", "max_score", "status", "detail"])
        for r in rows:
            w.writerow([r["student"], r["assignment"], _fmt(r["score"]), _fmt(r["max_score"]), r["status"],
                        r.get("detail", "")])
    with open(out / "grades_by_test.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "grade_id", "todo", "points", "max_points", "status"])
        for r in rows:
            for t in r.get("tests", []):
                w.writerow([r["student"], r["assignment"], t["grade_id"], t["todo"], _fmt(t["points"]),
                            _fmt(t["max_points"]), t["status"]])


def gradescope(r: dict) -> dict:
    from .gradescope import plain_text   # readable names: no LaTeX, no backticks
    tests = [{"name": plain_text(f"{t['grade_id']} ({t['label']})"), "score": t["points"] or 0.0, "max_score": t["max_points"],
              "status": "passed" if t["status"] == "passed" else "failed",
              "output": t.get("message", "")} for t in r.get("tests", [])]
    head = f"Status: {r['status']}" + (f" ({r['detail']})" if r.get("detail") else "")
    return {"score": r["score"], "execution_time": int(r.get("timing", {}).get("total_s") or 0),
            "output": head, "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def write_gradescope(results: list[dict], out: Path) -> None:
    for r in results:
        p = out / "gradescope" / r["assignment"] / r["student"] / "results.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(gradescope(r), indent=1))


def histogram(results: list[dict]) -> dict:
    """{assignment: [(TODO label, points lost in total, students who lost some, points per student)]}"""
    out = {}
    by_a = defaultdict(list)
    for r in results:
        by_a[r["assignment"]].append(r)
    for aid, rs in sorted(by_a.items()):
        order, lost, who, maxp = [], Counter(), defaultdict(set), {}
        for r in rs:
            per = defaultdict(float)
            for t in r.get("tests", []):
                key = t["label"]
                if key not in maxp:
                    order.append(key)
                    maxp[key] = 0.0
                per[key] += t["max_points"]
                gap = t["max_points"] - (t["points"] or 0.0)
                if gap > 0:
                    lost[key] += gap
                    who[key].add(r["student"])
            for k, v in per.items():
                maxp[k] = max(maxp[k], v)
        out[aid] = [(k, round(lost[k], 6), len(who[k]), maxp[k]) for k in order]
    return out


def summary_text(results: list[dict], *, extra: list[str] = (), header: str = "") -> str:
    buf = io.StringIO()
    if header:
        print(header, file=buf)
    rows = sorted(results, key=lambda r: (r["assignment"], r["student"]))
    sw = max([7] + [len(r["student"]) for r in rows])
    aw = max([10] + [len(r["assignment"]) for r in rows])
    print(f"{'student':<{sw}}  {'assignment':<{aw}}  {'score':>11}  {'status':<16}  {'time':>6}  detail", file=buf)
    for r in rows:
        t = (r.get("timing") or {}).get("wall_s") or (r.get("timing") or {}).get("total_s")
        score = f"{_fmt(r['score'])}/{_fmt(r['max_score'])}"
        detail = (r.get("detail") or "")
        flags = []
        notes = r.get("notes", {})
        if notes.get("restored_deleted"):
            flags.append(f"restored deleted {','.join(notes['restored_deleted'])}")
        if notes.get("restored_edited"):
            flags.append(f"restored edited {','.join(notes['restored_edited'])}")
        if notes.get("tampering_restored"):
            flags.append("TAMPERING: " + ",".join(notes["tampering_restored"][:4]))
        if notes.get("reference_calls"):
            flags.append("REFERENCE CALLED in " + ",".join(sorted(notes["reference_calls"])))
        if notes.get("errors_outside_tests"):
            flags.append(f"{len(notes['errors_outside_tests'])} other cell(s) raised")
        if notes.get("resumed"):
            flags.append("cached")
        detail = "; ".join(filter(None, [detail, *flags]))
        print(f"{r['student']:<{sw}}  {r['assignment']:<{aw}}  {score:>11}  {r['status']:<16}  "
              f"{(f'{t:.1f}s' if t else '-'):>6}  {detail[:110]}", file=buf)
    counts = Counter(r["status"] for r in results)
    print("\nstatus: " + ", ".join(f"{s} {counts[s]}" for s in STATUSES if counts[s]), file=buf)
    for aid, todos in histogram(results).items():
        n = sum(1 for r in results if r["assignment"] == aid and r.get("tests"))
        print(f"\nlost points per TODO, {aid} ({n} submissions)", file=buf)
        top = max([lost for _, lost, _, _ in todos] + [1e-9])
        lw = max([4] + [len(k) for k, *_ in todos])
        for label, lost, who, mx in todos:
            bar = "#" * int(round(30 * lost / top)) if lost else ""
            print(f"  {label[:60]:<{min(lw, 60)}}  {lost:>7g} pts lost by {who:>3}/{n}  (of {mx:g})  {bar}", file=buf)
    refs = reference_call_table(results)
    if refs:
        print("\nanswers that call the course's reference instead of implementing it "
              "(autograder/reference_calls.py; --zero-reference-calls gives them 0):", file=buf)
        for (aid, todo), students in sorted(refs.items()):
            print(f"  {aid} {todo}: {', '.join(sorted(students))}", file=buf)
    for line in extra:
        print(line, file=buf)
    return buf.getvalue()


def reference_call_table(results: list[dict]) -> dict:
    """{(assignment, TODO): [students whose answer calls its reference twin]}"""
    out: dict = defaultdict(list)
    for r in results:
        for todo in (r.get("notes") or {}).get("reference_calls", {}):
            out[(r["assignment"], todo)].append(r["student"])
    return dict(out)


def write_all(results: list[dict], out: Path, *, extra: list[str] = (), header: str = "") -> str:
    out.mkdir(parents=True, exist_ok=True)
    write_grades(results, out)
    write_gradescope(results, out)
    text = summary_text(results, extra=extra, header=header)
    (out / "summary.txt").write_text(text)
    counts = Counter(r["status"] for r in results)
    (out / "summary.json").write_text(json.dumps({
        "counts": dict(counts), "submissions": len(results),
        "lost_points": {a: [dict(zip(("todo", "lost", "students", "max_points"), row)) for row in rows]
                        for a, rows in histogram(results).items()},
        "reference_calls": [{"assignment": a, "todo": t, "students": sorted(s)}
                            for (a, t), s in sorted(reference_call_table(results).items())],
        "rows": [{k: r.get(k) for k in ("student", "assignment", "score", "max_score", "status", "detail")}
                 for r in sorted(results, key=lambda r: (r["assignment"], r["student"]))],
    }, indent=1))
    return text
