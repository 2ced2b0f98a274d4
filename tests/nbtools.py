"""Test utilities for notebooks: execute a notebook, or pull named objects out of its cells."""
from __future__ import annotations

import json
import os
from pathlib import Path

import asyncio
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError
from nbclient.util import ensure_async

from autograder.budget import Budget, Watch

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "autograder" / "source"


def source_notebook(assignment: str) -> Path:
    return SOURCE / assignment / f"{assignment}.ipynb"


class CpuBudgetClient(NotebookClient):
    """nbclient with the grader's load-proof limit (autograder/budget.py): `timeout` is the
    CPU-seconds a cell may use, so a busy machine (CI at load 6) cannot time out an honest
    cell; a cell that uses no CPU for 5 minutes, or runs 6x its budget in wall time, still stops."""

    async def _async_poll_for_reply(self, msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive):
        pid = getattr(getattr(self.km.provisioner, "process", None), "pid", None)
        watch = Watch(pid, Budget(cpu_s=timeout, wall_s=6 * timeout, stall_s=300)) if pid and timeout else None
        while True:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=1.0))
            except Empty:
                why = watch.check() if watch else None
                if why:
                    await self._async_check_alive()
                    raise CellTimeoutError.error_from_timeout_and_cell(f"Cell {why}", timeout, cell)
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                try:
                    await asyncio.wait_for(task_poll_output_msg, self.iopub_timeout)
                except (asyncio.TimeoutError, Empty):
                    pass
                task_poll_kernel_alive.cancel()
                return msg


def execute(path: Path, profile: str = "smoke", timeout: int = 600, allow_errors: bool = False,
            cwd: Path | None = None) -> nbformat.NotebookNode:
    """Execute a notebook top to bottom in a fresh kernel with COURSE_PROFILE=profile.
    `timeout`: CPU-seconds per cell (see CpuBudgetClient)."""
    nb = nbformat.read(str(path), as_version=4)
    env_backup = os.environ.get("COURSE_PROFILE")
    os.environ["COURSE_PROFILE"] = profile
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        client = CpuBudgetClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
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
