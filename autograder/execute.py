"""Executing a submission: nbgrader's Execute preprocessor in a sandboxed kernel.

Built on nbgrader's `Execute` (nbclient's NotebookClient), with what grading needs on top:

* the kernel is started through the sandbox launcher (autograder/_launch.py) over IPC
  sockets, so it can live in its own network namespace and under its own uid;
* every cell's execute_reply status is recorded: a test passes when the kernel says it ran
  without an exception, not when its output happens to contain no error text (so stderr
  noise costs nothing and a disabled traceback printer cannot fake a pass);
* per-cell and whole-notebook limits counted in the CPU time the kernel's process tree received
  (autograder/budget.py), plus stall detection and a wall-clock backstop, so an honest notebook
  gets the same status on a busy machine as on an idle one; after a timeout the kernel is
  interrupted and must answer within a grace period, otherwise execution stops ("timed out,
  cell N");
* every byte the kernel sends is bounded: messages larger than `max_message_mb` are dropped by
  ZeroMQ before they reach the grader's memory, and outputs are capped in bytes per cell and
  per notebook (the rest is replaced by one note), so an output flood cannot exhaust the grader;
* a dead kernel stops execution at the cell that killed it ("kernel crashed, cell N")
  instead of nbgrader's silent drop of the whole notebook.
"""
from __future__ import annotations

import asyncio
import sys
import time
from queue import Empty

import zmq
from nbformat.v4 import new_output

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbgrader.preprocessors import Execute
from traitlets import Float, Integer, List, Unicode

from .budget import Budget, Watch, tree_cpu_seconds


class NotebookTimeout(Exception):
    """The whole-notebook deadline passed."""


class KernelUnresponsive(Exception):
    """The kernel did not answer after a timed-out cell was interrupted."""


class SandboxedKernelManager(AsyncKernelManager):
    """Starts `python -m ipykernel_launcher` through the sandbox launcher."""

    launcher = List([], help="argv prefix: [python, _launch.py, spec.json, '--']").tag(config=True)
    max_message_mb = Integer(64, help="ZeroMQ drops (and reconnects past) any larger message").tag(config=True)

    def client(self, **kwargs):
        kc = super().client(**kwargs)
        # default options of every socket the client creates: a message over the cap never
        # reaches the grader's memory (ZMQ_MAXMSGSIZE)
        kc.context.setsockopt(zmq.MAXMSGSIZE, int(self.max_message_mb) * 2**20)
        return kc

    def format_kernel_cmd(self, extra_arguments=None):
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file]
        return list(self.launcher) + argv + list(extra_arguments or [])


class GradingExecute(Execute):
    """nbgrader Execute that records replies, timeouts and crashes per cell."""

    cell_timeout = Integer(600, help="CPU-seconds one cell may use (all its threads and processes)").tag(config=True)
    notebook_timeout = Integer(3600, help="CPU-seconds the whole notebook may use").tag(config=True)
    threads = Integer(1, help="threads the kernel may use (the wall-clock backstop allows for them)").tag(config=True)
    stall_timeout = Integer(120, help="stop a cell whose kernel used no CPU for this long").tag(config=True)
    wall_factor = Float(6.0, help="wall-clock backstop = this many times the CPU limit").tag(config=True)
    interrupt_grace = Integer(10).tag(config=True)
    max_cell_output_mb = Float(10.0).tag(config=True)
    max_notebook_output_mb = Float(50.0).tag(config=True)
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
        self.timeout_reasons: dict[int, str] = {}
        self.truncated: dict[int, int] = {}   # cell index -> bytes dropped
        self._cell_bytes: dict[int, int] = {}
        self._nb_bytes = 0
        self._nb_cpu = 0.0
        self.cpu_seconds = 0.0
        self.cell_cpu: dict[int, float] = {}   # cell index -> CPU-seconds its execution used
        self.evidence_cells: dict[int, str] = {}   # graded test cell index -> grade_id (set by the caller)
        self.tapes: dict[str, list] = {}           # grade_id -> evidence entries (autograder/evidence.py)
        self.tape_elsewhere = 0                    # evidence published by cells that are not graded tests

    # -- limits ------------------------------------------------------------------------
    def _cell_timeout(self, cell) -> int:
        """nbclient's own (wall-clock) timeout: only the backstop; the real limits are in
        `_async_poll_for_reply`."""
        return max(1, int(self.wall_factor * self.cell_timeout) + 60)

    def _kernel_pid(self) -> int | None:
        proc = getattr(getattr(self.km, "provisioner", None), "process", None) if self.km else None
        return getattr(proc, "pid", None)

    def _budget(self) -> Budget:
        cell_cpu = self.cell_timeout
        left = self.notebook_timeout - self._nb_cpu
        wall_left = self.deadline - time.monotonic()
        return Budget(cpu_s=max(1.0, min(cell_cpu, left)),
                      wall_s=max(1.0, min(self.wall_factor * self.cell_timeout, wall_left)),
                      stall_s=self.stall_timeout)

    async def _async_poll_for_reply(self, msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive):
        """nbclient's loop, with the timeout decided by a CPU-time budget (autograder/budget.py)
        checked every second instead of one wall-clock deadline."""
        pid = self._kernel_pid()
        watch = Watch(pid, self._budget()) if pid else None
        wall_end = time.monotonic() + (timeout or 1e9)
        error_reply = None
        try:
            while True:
                if error_reply is not None:
                    msg = error_reply
                    msg["parent_header"] = {"msg_id": msg_id}
                else:
                    try:
                        msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=1.0))
                    except Empty:
                        why = watch.check() if watch else None
                        if why is None and time.monotonic() > wall_end:
                            why = f"ran for more than {timeout} s"
                        if why is None:
                            continue
                        task_poll_kernel_alive.cancel()
                        await self._async_check_alive()
                        error_reply = await self._async_handle_timeout(why, cell)
                        continue
                if msg["parent_header"].get("msg_id") == msg_id:
                    try:
                        await asyncio.wait_for(task_poll_output_msg, self.iopub_timeout)
                    except (asyncio.TimeoutError, Empty):
                        self.log.warning("Timeout waiting for IOPub output")
                    task_poll_kernel_alive.cancel()
                    return msg
        finally:
            if watch is not None:
                watch.check()
                self.cell_cpu[self.current] = round(watch.cpu_used, 2)
                self._nb_cpu += watch.cpu_used
                self.cpu_seconds = self._nb_cpu

    async def _async_handle_timeout(self, why, cell=None):
        self.timed_out.append(self.current)
        self.timeout_reasons[self.current] = str(why)
        self._probe_needed = True
        assert self.km is not None
        await ensure_async(self.km.interrupt_kernel())
        return {"content": {"status": "error", "ename": "CellTimeoutError",
                            "evalue": f"the cell {why}; the grader interrupted it",
                            "traceback": [f"CellTimeoutError: the cell {why}; the grader interrupted it"]}}

    # -- bounded outputs ---------------------------------------------------------------
    @staticmethod
    def _msg_bytes(content) -> int:
        if isinstance(content, str):
            return len(content)
        if isinstance(content, dict):
            return sum(GradingExecute._msg_bytes(v) for v in content.values())
        if isinstance(content, (list, tuple)):
            return sum(GradingExecute._msg_bytes(v) for v in content)
        return 8

    def _take_evidence(self, cell_index, entry) -> None:
        """Keep a test cell's evidence (bounded); drop anyone else's. It never enters the notebook."""
        import json
        from .evidence import MAX_ENTRIES, MAX_ENTRY_BYTES
        gid = self.evidence_cells.get(cell_index)
        if gid is None:
            self.tape_elsewhere += 1
            return
        try:
            ok = isinstance(entry, dict) and len(json.dumps(entry)) <= MAX_ENTRY_BYTES
        except (TypeError, ValueError, RecursionError):
            ok = False
        tape = self.tapes.setdefault(gid, [])
        if len(tape) <= MAX_ENTRIES:
            tape.append(entry if ok else "malformed")

    def output(self, outs, msg, display_id, cell_index):
        if msg.get("msg_type") == "display_data":
            from .evidence import MIME
            data = msg.get("content", {}).get("data")
            if isinstance(data, dict) and MIME in data:
                self._take_evidence(cell_index, data[MIME])
                return None
        if msg.get("msg_type") in ("stream", "display_data", "execute_result", "error", "update_display_data"):
            size = self._msg_bytes(msg.get("content", {}))
            used = self._cell_bytes.get(cell_index, 0)
            cell_cap = int(self.max_cell_output_mb * 2**20)
            nb_cap = int(self.max_notebook_output_mb * 2**20)
            if used + size > cell_cap or self._nb_bytes + size > nb_cap:
                if cell_index not in self.truncated:
                    which = (f"{self.max_cell_output_mb:g} MB for one cell" if used + size > cell_cap
                             else f"{self.max_notebook_output_mb:g} MB for the whole notebook")
                    outs.append(new_output("stream", name="stderr", text=(
                        f"[output truncated by the grader: more than {which}; the rest of this cell's "
                        "output was dropped]\n")))
                self.truncated[cell_index] = self.truncated.get(cell_index, 0) + size
                return None
            self._cell_bytes[cell_index] = used + size
            self._nb_bytes += size
        return super().output(outs, msg, display_id, cell_index)

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
        if time.monotonic() >= self.deadline or self._nb_cpu >= self.notebook_timeout:
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
        self.deadline = time.monotonic() + self.wall_factor * self.notebook_timeout
        t0 = time.monotonic()
        try:
            return super().preprocess(nb, resources, km)
        except DeadKernelError:
            self.stopped = ("kernel crashed", self.current, "the kernel died")
        except NotebookTimeout:
            self.stopped = ("timed out", self.timed_out[-1] if self.timed_out else self.current,
                            f"the whole-notebook limit of {self.notebook_timeout} s of CPU time "
                            f"(or {self.wall_factor * self.notebook_timeout:.0f} s of wall time) was reached")
        except KernelUnresponsive:
            self.stopped = ("timed out", self.timed_out[-1] if self.timed_out else self.current,
                            f"the kernel did not respond within {self.interrupt_grace} s of an interrupt")
        finally:
            self.exec_seconds = time.monotonic() - t0
        return nb, resources
