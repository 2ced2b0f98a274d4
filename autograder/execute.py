"""Executing a submission: nbgrader's Execute preprocessor in a sandboxed kernel.

Built on nbgrader's `Execute` (nbclient's NotebookClient), with what grading needs on top:

* the kernel is started through the sandbox launcher (autograder/_launch.py) over IPC
  sockets, so it can live in its own network namespace and under its own uid;
* every cell's execute_reply status is recorded: a test passes when the kernel says it ran
  without an exception, not when its output happens to contain no error text (so stderr
  noise costs nothing and a disabled traceback printer cannot fake a pass);
* a per-cell timeout and a whole-notebook deadline; after a timeout the kernel is interrupted
  and must answer within a grace period, otherwise execution stops ("timed out, cell N");
* a dead kernel stops execution at the cell that killed it ("kernel crashed, cell N")
  instead of nbgrader's silent drop of the whole notebook.
"""
from __future__ import annotations

import sys
import time
from queue import Empty

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbclient.util import run_sync
from nbgrader.preprocessors import Execute
from traitlets import Float, Integer, List, Unicode


class NotebookTimeout(Exception):
    """The whole-notebook deadline passed."""


class KernelUnresponsive(Exception):
    """The kernel did not answer after a timed-out cell was interrupted."""


class SandboxedKernelManager(AsyncKernelManager):
    """Starts `python -m ipykernel_launcher` through the sandbox launcher."""

    launcher = List([], help="argv prefix: [python, _launch.py, spec.json, '--']").tag(config=True)

    def format_kernel_cmd(self, extra_arguments=None):
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file]
        return list(self.launcher) + argv + list(extra_arguments or [])


class GradingExecute(Execute):
    """nbgrader Execute that records replies, timeouts and crashes per cell."""

    cell_timeout = Integer(600).tag(config=True)
    notebook_timeout = Integer(3600).tag(config=True)
    interrupt_grace = Integer(10).tag(config=True)
    kernel_dir = Unicode("").tag(config=True)
    deadline = Float(0.0)

    def __init__(self, **kw):
        kw.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kw)
        self.replies: dict[int, dict] = {}
        self.timed_out: list[int] = []
        self.current: int | None = None
        self.stopped: tuple[str, int | None, str] | None = None
        self._probe_needed = False
        self.exec_seconds = 0.0
        self.kernel_returncode: int | None = None

    # -- timeouts ----------------------------------------------------------------------
    def _cell_timeout(self, cell) -> int:
        remaining = self.deadline - time.monotonic()
        return max(1, int(min(self.cell_timeout, remaining)))

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timed_out.append(self.current)
        self._probe_needed = True
        await super()._async_handle_timeout(timeout, cell)
        return {"content": {"status": "error", "ename": "CellTimeoutError",
                            "evalue": f"cell did not finish within {timeout} s; the grader interrupted it",
                            "traceback": [f"CellTimeoutError: cell did not finish within {timeout} s"]}}

    async def _probe_kernel(self) -> None:
        """After an interrupt: does the kernel answer an empty request within the grace period?"""
        msg_id = self.kc.execute("", silent=True, store_history=False)
        end = time.monotonic() + self.interrupt_grace
        while time.monotonic() < end:
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=max(0.1, end - time.monotonic()))
            except Empty:
                break
            if msg["parent_header"].get("msg_id") == msg_id:
                self._probe_needed = False
                return
        raise KernelUnresponsive()

    # -- hooks -------------------------------------------------------------------------
    async def _on_start(self, cell, cell_index, **_):
        if cell.cell_type != "code" or not cell.source.strip():
            return
        self.current = cell_index
        if time.monotonic() >= self.deadline:
            raise NotebookTimeout()
        if self._probe_needed:
            await self._probe_kernel()

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        reply = kwargs["execute_reply"] or {}
        content = reply.get("content", {})
        self.replies[kwargs["cell_index"]] = {
            "status": content.get("status", "error"),
            "ename": content.get("ename"), "evalue": str(content.get("evalue", ""))[:500]}

    async def _async_cleanup_kernel(self) -> None:
        proc = getattr(getattr(self.km, "provisioner", None), "process", None) if self.km else None
        if proc is not None and self.kernel_returncode is None:
            self.kernel_returncode = proc.poll()
        await super()._async_cleanup_kernel()

    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    # -- driver ------------------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        self.on_cell_start = self._on_start
        self.timeout_func = self._cell_timeout
        self.raise_on_iopub_timeout = False
        self.iopub_timeout = self.interrupt_grace
        self.shutdown_kernel = "immediate"
        self.deadline = time.monotonic() + self.notebook_timeout
        t0 = time.monotonic()
        try:
            return super().preprocess(nb, resources, km)
        except DeadKernelError:
            self.stopped = ("kernel crashed", self.current, "the kernel died")
        except NotebookTimeout:
            self.stopped = ("timed out", self.timed_out[-1] if self.timed_out else self.current,
                            f"the whole-notebook limit of {self.notebook_timeout} s was reached")
        except KernelUnresponsive:
            self.stopped = ("timed out", self.timed_out[-1] if self.timed_out else self.current,
                            f"the kernel did not respond within {self.interrupt_grace} s of an interrupt")
        finally:
            self.exec_seconds = time.monotonic() - t0
        return nb, resources
