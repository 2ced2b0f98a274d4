"""Feedback HTML for one student, in nbgrader's feedback template, hidden tests kept hidden.

nbgrader's own generate_feedback renders the autograded notebook as it is, so the hidden tests
it injected are shown to the student (DESIGN.md, grading traps). Here the hidden-test regions
are removed again (nbgrader's ClearHiddenTests), an error raised inside a hidden test is
reduced to its exception line, and hidden-test text in any output is stripped (redact.py).
The page is safe to open: outputs are made inert (redact.sanitize_outputs) and every markdown
cell, rendered by nbconvert with its raw HTML, is cleaned with nh3 after rendering.
Scores come from the harness's result, not from a gradebook.
"""
from __future__ import annotations

import copy
import html
import os
import re

import nbformat
from jinja2 import pass_context
from nbconvert import HTMLExporter
from nbgrader.preprocessors import ClearHiddenTests
from traitlets.config import Config

from . import redact
from .nbinfo import grade_id, is_grade

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
HIDDEN = redact.HIDDEN
SAFE_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


class SafeHTMLExporter(HTMLExporter):
    """nbconvert's exporter whose markdown (cells, text/markdown outputs, comments) is cleaned."""

    @pass_context
    def markdown2html(self, context, source):
        return redact.sanitize_html(super().markdown2html(context, source))


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


def _hide(nb, hidden_ids: set[str], secrets: redact.Secrets):
    ClearHiddenTests(enforce_metadata=False).preprocess(nb, {})
    for cell in nb.cells:
        if grade_id(cell) not in hidden_ids or cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            text = ANSI.sub("", "\n".join(out.get("traceback", [])))
            if redact.NOTE in text or secrets.found(text):
                out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}",
                                    "(raised inside a hidden test; its code is not shown)"]


def render(executed_nb, result: dict, source_nb) -> str:
    nb = copy.deepcopy(executed_nb)
    hidden_ids = {grade_id(c) for c in source_nb.cells if grade_id(c) and HIDDEN.search(c.source)}
    secrets = redact.Secrets(source_nb)
    _hide(nb, hidden_ids, secrets)
    redact.sanitize_outputs(nb)                  # idempotent; the worker has done it already
    redact.strip_hidden(nb, source_nb, secrets=secrets)
    by_id = {t["grade_id"]: t for t in result.get("tests", [])}
    for cell in nb.cells:
        if is_grade(cell) and grade_id(cell) in by_id:
            t = by_id[grade_id(cell)]
            cell.metadata.nbgrader["score"] = t["points"]
            cell.metadata.nbgrader["points"] = t["max_points"]
        if "nbgrader" in cell.metadata and not SAFE_ID.match(str(grade_id(cell) or "")):
            del cell.metadata["nbgrader"]        # the template writes grade ids into tags unescaped
        if "nbgrader" in cell.metadata:
            cell.metadata.nbgrader.setdefault("comment", None)
            cell.metadata.nbgrader.setdefault("score", 0.0)
            cell.metadata.nbgrader.setdefault("points", 0.0)
    nb.cells.insert(0, _summary_cell(result))
    resources = {"nbgrader": {"notebook": result["assignment"], "score": result["score"],
                              "max_score": result["max_score"], "late_penalty": 0}}
    body, _ = SafeHTMLExporter(config=_template_config()).from_notebook_node(nb, resources=resources)
    return body
