"""Load-proof time limits: CPU-time budgets, stall detection and a wall-clock backstop.

A wall-clock limit sized for an idle machine flips an honest verdict on a busy one (the demo's
06 students timed out at load 6 on 2 cores). So every limit the grader enforces on student
code is counted in the CPU time the student's processes actually received:

* **CPU budget**: the process tree (the process, its threads, its live and reaped children)
  may use at most `cpu_s` CPU-seconds. A busy loop is caught after `cpu_s` of computing
  whatever else the machine is doing; an honest cell that needs 10 CPU-seconds needs 10 on an
  idle machine and 10 at load 6 (it just takes longer to get them).
* **Stall**: a process that sleeps or blocks (a `time.sleep` loop, a read from a pipe nobody
  writes, a lock) uses no CPU and would never exhaust a CPU budget. It is stopped when the tree
  gained less than `stall_cpu_s` CPU-seconds over the last `stall_s` wall seconds. A runnable
  process on a busy machine still gets its fair share of a core (about a third at load 6 on 2
  cores), far above that threshold.
* **Wall backstop**: `wall_s`, a generous outer limit (a multiple of the budget) for anything
  that games the stall rule by computing a little and sleeping a lot.

Accounting reads /proc through psutil (Linux, macOS); where a process cannot be inspected its
CPU time counts as zero, which can only make the stall rule fire earlier, never later, and the
wall backstop still holds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import psutil


def tree_cpu_seconds(pid: int) -> float:
    """CPU-seconds (user + system) used by `pid`, its reaped children and its live descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return 0.0
    total = 0.0
    for i, p in enumerate(procs):
        try:
            t = p.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        total += t.user + t.system
        if i == 0:   # children already waited for by the root; live ones are counted themselves
            total += getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
    return total


@dataclass
class Budget:
    """The limits of one run (seconds). `cpu_s` 0 means no CPU budget."""

    cpu_s: float
    wall_s: float
    stall_s: float = 60.0
    stall_cpu_s: float = 0.5


@dataclass
class Watch:
    """Follows one process tree against a :class:`Budget`; call :meth:`check` now and then.

    `check()` returns None while the run may go on, else the reason it must stop (a sentence
    that names the limit, for the student's status).
    """

    pid: int
    budget: Budget
    cpu0: float = 0.0
    t0: float = field(default_factory=time.monotonic)
    _last_cpu: float = 0.0
    _last_progress: float = 0.0
    cpu_used: float = 0.0

    def __post_init__(self) -> None:
        self.cpu0 = tree_cpu_seconds(self.pid)
        self._last_cpu = self.cpu0
        self._last_progress = self.t0

    def check(self, now: float | None = None) -> str | None:
        now = time.monotonic() if now is None else now
        cpu = tree_cpu_seconds(self.pid)
        self.cpu_used = max(self.cpu_used, cpu - self.cpu0)
        b = self.budget
        if b.cpu_s and self.cpu_used > b.cpu_s:
            return f"used more than {b.cpu_s:g} s of CPU time"
        if cpu - self._last_cpu >= b.stall_cpu_s:
            self._last_cpu, self._last_progress = cpu, now
        elif b.stall_s and now - self._last_progress > b.stall_s:
            return (f"made no progress: used under {b.stall_cpu_s:g} s of CPU time in {b.stall_s:g} s "
                    "(sleeping or waiting for something that never comes)")
        if b.wall_s and now - self.t0 > b.wall_s:
            return f"ran for more than {b.wall_s:g} s"
        return None
