"""What a notebook's nbgrader metadata says: graded cells, points, TODOs, identity.

Reads nbgrader 0.9 cell metadata (schema 3; https://nbgrader.readthedocs.io/en/stable/
contributor_guide/metadata.html). Used on trusted source notebooks to know what is graded, and
on submissions to tell which assignment they belong to.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import nbformat


def nbg(cell) -> dict:
    md = cell.get("metadata", {}).get("nbgrader", {})
    return md if isinstance(md, dict) else {}


def is_grade(cell) -> bool:
    return bool(nbg(cell).get("grade"))


def is_solution(cell) -> bool:
    return bool(nbg(cell).get("solution"))


def is_locked(cell) -> bool:
    return bool(nbg(cell).get("locked"))


def grade_id(cell) -> str | None:
    gid = nbg(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


@dataclass
class GradeItem:
    """One graded cell of the source notebook (the unit of points)."""
    grade_id: str
    points: float
    todo: str          # grade_id of the solution cell it tests (or itself)
    label: str         # human name of that TODO (nearest markdown heading)
    cell_type: str
    index: int         # position in the source notebook

    def to_dict(self) -> dict:
        return asdict(self)


def _heading(src: str) -> str:
    """A markdown cell's name: its `TODO` heading if it has one, else its first line."""
    lines = [ln.strip() for ln in src.splitlines() if ln.strip()]
    pick = next((ln for ln in lines if ln.startswith("#") and "TODO" in ln), lines[0] if lines else "")
    return re.sub(r"^#+\s*", "", pick)[:70]


def grade_items(nb) -> list[GradeItem]:
    """Graded cells in order, each attached to the TODO (solution cell) it follows."""
    items, todo, label, last_heading = [], None, "", ""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and not is_grade(cell):
            last_heading = _heading(cell.source) or last_heading
        if is_solution(cell) and not is_grade(cell):
            todo, label = grade_id(cell), last_heading
        if is_grade(cell) and grade_id(cell):
            gid = grade_id(cell)
            own = is_solution(cell) or todo is None
            items.append(GradeItem(
                grade_id=gid, points=float(nbg(cell).get("points", 0) or 0),
                todo=gid if own else todo, label=(last_heading if own else label) or gid,
                cell_type=cell.cell_type, index=i))
    return items


def all_ids(nb) -> set[str]:
    return {gid for c in nb.cells if (gid := grade_id(c))}


def read_notebook_bytes(data: bytes):
    """Parse a submission; raises ValueError with a student-readable reason."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason})") from None
    if not text.strip():
        raise ValueError("empty file")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # json.JSONDecodeError, NotJSONError, validation errors
        msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ValueError(f"corrupt notebook JSON: {msg}") from None
    if not isinstance(nb.get("cells"), list):
        raise ValueError("no cells: not a Jupyter notebook")
    for i, cell in enumerate(nb.cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise ValueError(f"cell {i} is not a valid notebook cell")
        if not isinstance(cell.get("source", ""), str):
            raise ValueError(f"cell {i} has an invalid source")
        cell.setdefault("metadata", {})
        if not isinstance(cell.metadata, dict):
            cell.metadata = nbformat.NotebookNode()
    return nb


def match_assignment(sub_ids: set[str], candidates: dict[str, set[str]]) -> tuple[str | None, float]:
    """Assignment whose grade ids best cover the submission's, with the Jaccard score."""
    best, score = None, 0.0
    for aid, ids in candidates.items():
        if not ids:
            continue
        s = len(sub_ids & ids) / len(sub_ids | ids)
        if s > score:
            best, score = aid, s
    return best, score
