"""Test utilities for notebooks: execute a notebook, or pull named objects out of its cells."""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "autograder" / "source"


def source_notebook(assignment: str) -> Path:
    return SOURCE / assignment / f"{assignment}.ipynb"


def execute(path: Path, profile: str = "smoke", timeout: int = 600, allow_errors: bool = False,
            cwd: Path | None = None) -> nbformat.NotebookNode:
    """Execute a notebook top to bottom in a fresh kernel with COURSE_PROFILE=profile."""
    nb = nbformat.read(str(path), as_version=4)
    env_backup = os.environ.get("COURSE_PROFILE")
    os.environ["COURSE_PROFILE"] = profile
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                                resources={"metadata": {"path": str(cwd or path.parent)}})
        client.execute()
    finally:
        if env_backup is None:
            os.environ.pop("COURSE_PROFILE", None)
        else:
            os.environ["COURSE_PROFILE"] = env_backup
    return nb


def cells_by_grade_id(path: Path) -> dict[str, str]:
    """grade_id -> cell source for every nbgrader cell of a notebook."""
    nb = json.loads(Path(path).read_text())
    out = {}
    for c in nb["cells"]:
        gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid:
            out[gid] = "".join(c["source"])
    return out


def solution_namespace(path: Path, grade_ids: list[str], preamble: str = "") -> dict:
    """Run the given solution cells (in order) after ``preamble`` and return the namespace,
    with __name__ == '__main__' as in a kernel."""
    cells = cells_by_grade_id(path)
    ns: dict = {"__name__": "__main__"}
    exec(compile(preamble, "<preamble>", "exec"), ns)
    for gid in grade_ids:
        exec(compile(cells[gid], f"<{gid}>", "exec"), ns)
    return ns


def output_text(nb: nbformat.NotebookNode) -> str:
    """All stream and text/plain output of an executed notebook, joined."""
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream":
                parts.append(o.get("text", ""))
            elif "data" in o and "text/plain" in o["data"]:
                parts.append(o["data"]["text/plain"])
    return "\n".join(parts)
