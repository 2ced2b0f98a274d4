"""Feedback HTML for one student, in nbgrader's feedback template, hidden tests kept hidden.

nbgrader's own generate_feedback renders the autograded notebook as it is, so the hidden tests
it injected are shown to the student (DESIGN.md, grading traps). Here the hidden-test regions
are removed again (nbgrader's ClearHiddenTests) and an error raised inside a hidden test is
reduced to its exception line. Scores come from the harness's result, not from a gradebook.
"""
from __future__ import annotations

import copy
import html
import os
import re

import nbformat
from nbconvert import HTMLExporter
from nbgrader.preprocessors import ClearHiddenTests
from traitlets.config import Config

from .nbinfo import grade_id, is_grade

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)


def _template_config() -> Config:
    import nbgrader
    base = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader")
    c = Config()
    c.HTMLExporter.template_name = "feedback"
    c.HTMLExporter.extra_template_basedirs = [os.path.join(base, "templates")]
    c.HTMLExporter.extra_template_paths = [os.path.join(base, "static", "node_modules", "bootstrap", "dist", "css")]
    return c


def _summary_cell(result: dict):
    lines = [f"## Autograder: {result['status']}" + (f" ({html.escape(result['detail'])})" if result.get("detail") else ""),
             f"**Score: {result['score']:g} / {result['max_score']:g}**", "",
             "| Test | TODO | Points | Result |", "|---|---|---|---|"]
    for t in result.get("tests", []):
        pts = "manual" if t["points"] is None else f"{t['points']:g} / {t['max_points']:g}"
        msg = (t["status"] + (f": {t['message']}" if t.get("message") else "")).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{t['grade_id']}` | {html.escape(t['label'])} | {pts} | {html.escape(msg)} |")
    for key, text in (("restored_deleted", "Deleted read-only cells restored"),
                      ("restored_edited", "Edited read-only cells restored"),
                      ("ignored_cells", "Unknown nbgrader cells ignored")):
        if result.get("notes", {}).get(key):
            lines.append(f"\n{text}: " + ", ".join(f"`{g}`" for g in result["notes"][key]))
    return nbformat.v4.new_markdown_cell("\n".join(lines))


def _hide(nb, hidden_lines: dict[str, set[str]]):
    ClearHiddenTests(enforce_metadata=False).preprocess(nb, {})
    for cell in nb.cells:
        gid = grade_id(cell)
        secret = hidden_lines.get(gid)
        if not secret or cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            text = ANSI.sub("", "\n".join(out.get("traceback", [])))
            if any(line in text for line in secret):
                out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}",
                                    "(raised inside a hidden test; its code is not shown)"]


def render(executed_nb, result: dict, source_nb) -> str:
    nb = copy.deepcopy(executed_nb)
    hidden = {}
    for cell in source_nb.cells:
        m = HIDDEN.search(cell.source)
        if m and grade_id(cell):
            hidden[grade_id(cell)] = {ln.strip() for ln in m.group(1).splitlines() if len(ln.strip()) > 3}
    _hide(nb, hidden)
    by_id = {t["grade_id"]: t for t in result.get("tests", [])}
    for cell in nb.cells:
        if is_grade(cell) and grade_id(cell) in by_id:
            t = by_id[grade_id(cell)]
            cell.metadata.nbgrader["score"] = t["points"]
            cell.metadata.nbgrader["points"] = t["max_points"]
        if "nbgrader" in cell.metadata:
            cell.metadata.nbgrader.setdefault("comment", None)
            cell.metadata.nbgrader.setdefault("score", 0.0)
            cell.metadata.nbgrader.setdefault("points", 0.0)
    nb.cells.insert(0, _summary_cell(result))
    resources = {"nbgrader": {"notebook": result["assignment"], "score": result["score"],
                              "max_score": result["max_score"], "late_penalty": 0}}
    body, _ = HTMLExporter(config=_template_config()).from_notebook_node(nb, resources=resources)
    return body
