"""Running many jobs: one worker process per submission, N at a time, GPU-aware.

Each slot is either a GPU (one worker per GPU, CUDA_VISIBLE_DEVICES set to it) or a CPU share
(threads = cores / workers). A job is `python -m autograder worker JOB.json`; its result is a
file, so an interrupted run keeps everything that finished. A worker that outlives its hard
limit is killed with its whole process group and reported, never silently dropped.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from . import REPO_ROOT
from .worker import base_result, read_result, write_json_atomic


def default_cpu_workers(cores: int, memory_mb: int) -> int:
    """Kernels at once on a CPU machine: one per core up to 4, and at least 4 GB of memory each
    (one single-threaded kernel per core: the throughput figures are in autograder/README.md)."""
    return max(1, min(cores, 4, memory_mb // 4096))


def plan_slots(workers: int | None, gpus: int, device: str = "auto") -> list[dict]:
    """[{gpu, threads}] for each worker slot."""
    from .sandbox import total_memory_mb
    cores = os.cpu_count() or 1
    use_gpu = gpus > 0 and device in ("auto", "cuda")
    n = workers or (gpus if use_gpu else default_cpu_workers(cores, total_memory_mb()))
    n = max(1, n)
    threads = max(1, cores // n)
    if use_gpu:
        return [{"gpu": str(i % gpus), "threads": threads} for i in range(n)]
    return [{"gpu": None, "threads": threads} for _ in range(n)]


def worker_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    return env


class SlotWorker:
    """A long-lived `python -m autograder worker --serve` for one slot (restarted if it dies)."""

    def __init__(self, index: int, log: Path) -> None:
        self.index, self.log = index, log
        self.proc: subprocess.Popen | None = None
        self.rfd: int | None = None
        self.buf = b""

    def ensure(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.close()
        r, w = os.pipe()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen([sys.executable, "-m", "autograder", "worker", "--serve", str(w)],
                                         stdin=subprocess.PIPE, stdout=logf, stderr=subprocess.STDOUT,
                                         pass_fds=(w,), env=worker_env(), cwd=str(REPO_ROOT),
                                         start_new_session=True)
        os.close(w)
        self.rfd, self.buf = r, b""

    def run(self, job_path: str, timeout: float) -> bool | None:
        """True: finished; False: the worker died; None: it ran past `timeout` and was killed."""
        self.ensure()
        try:
            self.proc.stdin.write((job_path + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return False
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if line.decode() == job_path:
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                return None
            ready, _, _ = select.select([self.rfd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self.rfd, 65536)
                if not chunk:
                    self.proc.wait()
                    self.close()
                    return False
                self.buf += chunk

    def terminate(self) -> None:
        """Stop the worker (its SIGTERM handler kills the kernels it started); fds stay open."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                _kill_group(proc)

    def kill(self) -> None:
        self.terminate()
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc)
        if self.rfd is not None:
            os.close(self.rfd)
        self.proc, self.rfd, self.buf = None, None, b""


class Pool:
    def __init__(self, slots: list[dict], jobs_dir: Path, on_done=None, log_dir: Path | None = None):
        self.slots = slots
        self.jobs_dir = Path(jobs_dir)
        self.on_done = on_done or (lambda job, res: None)
        log_dir = Path(log_dir or self.jobs_dir)
        self.workers = [SlotWorker(i, log_dir / f"worker-{i}.log") for i in range(len(slots))]
        self.stopping = False

    def _run(self, job: dict, slot_index: int) -> dict:
        slot = self.slots[slot_index]
        job = dict(job, gpu=slot["gpu"], threads=slot["threads"])
        jpath = self.jobs_dir / f"{job['assignment']}--{job['student']}--{job['key']}.json"
        jpath.write_text(json.dumps(job))
        Path(job["result"]).unlink(missing_ok=True)
        t0 = time.monotonic()
        finished = self.workers[slot_index].run(str(jpath), job["hard_limit_s"])
        rc = None if finished is None else 0 if finished else 1
        wall = time.monotonic() - t0
        res = read_result(job)
        if res is None:
            res = base_result(job)
            if self.stopping:
                return None
            if rc is None:
                res.update(status="timed out", detail=f"the grader stopped the worker after {job['hard_limit_s']:.0f} s")
            else:
                log = Path(job["log"])
                tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
                res.update(status="error", detail=f"the worker died without a result: {tail}"[-600:])
            write_json_atomic(Path(job["result"]), res)
        res.setdefault("timing", {})["wall_s"] = round(wall, 3)
        write_json_atomic(Path(job["result"]), res)
        return res

    def run(self, jobs: list[dict]) -> list[dict]:
        free = list(range(len(self.slots)))
        results = []
        pending = list(jobs)
        with ThreadPoolExecutor(max_workers=len(self.slots)) as ex:
            running = {}
            try:
                while pending or running:
                    while pending and free:
                        job, slot = pending.pop(0), free.pop(0)
                        running[ex.submit(self._run, job, slot)] = (job, slot)
                    done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
                    for fut in done:
                        job, slot = running.pop(fut)
                        free.append(slot)
                        res = fut.result()
                        if res is not None:
                            results.append(res)
                            self.on_done(job, res)
            except KeyboardInterrupt:
                self.stop()
                raise
        self.close()
        return results

    def stop(self) -> None:
        self.stopping = True
        for w in self.workers:
            w.terminate()

    def close(self) -> None:
        for w in self.workers:
            w.close()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
