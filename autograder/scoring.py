"""Turning what the harness observed into points, one graded cell at a time.

A test cell earns its points when the kernel replied `ok` to it; an exception (assertion,
NameError, NotImplementedError, timeout) earns 0. Output text plays no part: stderr warnings
and progress bars cost nothing, and a displayed number is not read as partial credit unless
`partial_credit` is switched on (nbgrader's rule, utils.determine_grade). Cells that never ran
because the kernel died or the notebook ran out of time earn 0 and say so. Post-grade checks
(autograder/post_grade.py) then override the cells they name.
"""
from __future__ import annotations

from nbgrader.utils import get_partial_grade

from .nbinfo import grade_id, is_solution


def cell_name(nb, index: int | None) -> str:
    if index is None:
        return "before the first cell"
    cell = nb.cells[index]
    gid = grade_id(cell)
    first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
    return f"cell {index + 1}" + (f" ({gid})" if gid else f" ({first[:40]!r})" if first else "")


def score_cells(items: list[dict], nb, replies: dict, stopped, *, partial_credit: bool = False) -> list[dict]:
    where = {grade_id(c): i for i, c in enumerate(nb.cells) if grade_id(c)}
    tests = []
    for item in items:
        t = {k: item[k] for k in ("grade_id", "todo", "label")}
        t["max_points"] = item["points"]
        idx = where.get(item["grade_id"])
        cell = nb.cells[idx] if idx is not None else None
        if cell is None:
            t.update(points=0.0, status="failed", message="cell missing from the submission")
        elif cell.cell_type != "code" or is_solution(cell):
            t.update(points=None, status="manual", message="needs manual grading")
        elif idx not in replies:
            why = "not run"
            if stopped and stopped[1] is not None and idx > stopped[1]:
                why = f"not run: {stopped[0]} in {cell_name(nb, stopped[1])}"
            t.update(points=0.0, status="not run", message=why)
        elif replies[idx]["status"] == "ok":
            pts = item["points"]
            if partial_credit:
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "execute_result":
                        pts = float(get_partial_grade(out, item["points"]))
                        break
            t.update(points=float(pts), status="passed" if pts == item["points"] else "partial", message="")
        else:
            r = replies[idx]
            msg = f"{r.get('ename') or 'Error'}: {r.get('evalue') or ''}".strip().rstrip(":")
            t.update(points=0.0, status="timed out" if r.get("ename") == "CellTimeoutError" else "failed",
                     message=msg[:300])
        tests.append(t)
    return tests


def apply_post_grade(tests: list[dict], checks: list[dict]) -> list[dict]:
    """Checks decide the cells they name (or add their own line when the cell is not graded)."""
    by_id = {t["grade_id"]: t for t in tests}
    for chk in checks:
        t = by_id.get(chk["grade_id"])
        if t is None:
            t = {"grade_id": chk["grade_id"], "todo": chk["grade_id"], "label": chk.get("label", chk["grade_id"]),
                 "max_points": float(chk.get("points", 0))}
            tests.append(t)
            by_id[t["grade_id"]] = t
        frac = chk.get("fraction")
        frac = (1.0 if chk.get("passed") else 0.0) if frac is None else max(0.0, min(1.0, float(frac)))
        t["in_kernel"] = {k: t.get(k) for k in ("points", "status", "message")}
        t["points"] = round(t["max_points"] * frac, 6)
        t["status"] = "passed" if frac == 1.0 else "partial" if frac > 0 else "failed"
        t["message"] = f"post-grade check: {chk.get('message', '')}".strip()
        t["post_grade"] = True
    return tests


def total(tests: list[dict]) -> tuple[float, float]:
    return (round(sum(t["points"] or 0.0 for t in tests), 6), round(sum(t["max_points"] for t in tests), 6))
