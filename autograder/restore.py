"""Put a submission's nbgrader skeleton back before nbgrader sanitises it.

nbgrader's OverwriteCells restores *edited* locked cells from the gradebook (checksums) and,
with `add_missing_cells`, re-adds deleted grade cells, but it trusts the submission's metadata
and its insertion logic fails when the neighbouring cell was deleted too
(https://github.com/jupyter/nbgrader/blob/v0.9.5/nbgrader/preprocessors/overwritecells.py).
This pass makes the submission's metadata agree with the trusted source first:

* cells whose grade_id is unknown lose their nbgrader metadata (a student cannot add points);
* known cells get the source's metadata back (points, grade/solution/locked flags, type);
* deleted locked cells (tests, locked setup/export cells) are re-inserted from the source,
  hidden tests included, after the nearest surviving neighbour;
* edited locked cells are reported here and restored by nbgrader's checksum check.
"""
from __future__ import annotations

import copy

import nbformat

from .nbinfo import grade_id, is_locked, nbg


def _as_type(cell, cell_type: str):
    if cell.cell_type == cell_type:
        return cell
    new = (nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell)(cell.source)
    new.metadata = cell.metadata
    if "id" in cell:
        new.id = cell.id
    return new


def repair(sub, source, release) -> tuple[object, dict]:
    """Return (repaired notebook, notes). `source`/`release`: trusted instructor/student copies."""
    notes = {"restored_deleted": [], "restored_edited": [], "ignored_cells": [], "repaired_metadata": []}
    src_cells = {grade_id(c): c for c in source.cells if grade_id(c)}
    rel_cells = {grade_id(c): c for c in release.cells if grade_id(c)}
    order = [grade_id(c) for c in source.cells if grade_id(c)]

    seen: set[str] = set()
    cells = []
    for cell in sub.cells:
        gid = grade_id(cell) if "nbgrader" in cell.get("metadata", {}) else None
        if "nbgrader" in cell.get("metadata", {}) and (gid not in src_cells or gid in seen):
            notes["ignored_cells"].append(gid or "<no grade_id>")
            del cell.metadata["nbgrader"]
            gid = None
        if gid:
            seen.add(gid)
            ref = src_cells[gid]
            keys = ("grade", "solution", "locked", "points")
            if cell.cell_type != ref.cell_type or any(nbg(cell).get(k) != nbg(ref).get(k) for k in keys):
                notes["repaired_metadata"].append(gid)
            cell = _as_type(cell, ref.cell_type)
            cell.metadata["nbgrader"] = copy.deepcopy(nbg(rel_cells.get(gid, ref)))
            if is_locked(ref):
                for key in ("deletable", "editable"):
                    cell.metadata[key] = False
                rel = rel_cells.get(gid, ref)
                if cell.source != rel.source and cell.source != ref.source:
                    notes["restored_edited"].append(gid)
        if cell.cell_type == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
        cells.append(cell)

    # re-insert deleted locked cells, in source order, after their nearest surviving neighbour
    for pos, gid in enumerate(order):
        ref = src_cells[gid]
        if gid in seen or not is_locked(ref):   # solution cells are not ours to invent
            continue
        new = copy.deepcopy(ref)
        new.metadata["nbgrader"] = copy.deepcopy(nbg(rel_cells.get(gid, ref)))
        if new.cell_type == "code":
            new.outputs, new.execution_count = [], None
        where = 0
        for prev in reversed(order[:pos]):
            idx = next((i for i, c in enumerate(cells) if grade_id(c) == prev and "nbgrader" in c.metadata), None)
            if idx is not None:
                where = idx + 1
                break
        cells.insert(where, new)
        seen.add(gid)
        notes["restored_deleted"].append(gid)

    sub.cells = cells
    sub.metadata["kernelspec"] = copy.deepcopy(source.metadata.get("kernelspec", {
        "display_name": "Python 3", "language": "python", "name": "python3"}))
    return sub, {k: v for k, v in notes.items() if v}
