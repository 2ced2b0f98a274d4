"""Running many jobs: one worker process per submission, N at a time, GPU-aware.

Each slot is either a GPU (one worker per GPU, CUDA_VISIBLE_DEVICES set to it) or a CPU share
(threads = cores / workers). A job is `python -m autograder worker JOB.json`; its result is a
file, so an interrupted run keeps everything that finished. A worker that outlives its hard
limit is killed with its whole process group and reported, never silently dropped.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from . import REPO_ROOT
from .worker import base_result, write_json_atomic


def plan_slots(workers: int | None, gpus: int, device: str = "auto") -> list[dict]:
    """[{gpu, threads}] for each worker slot."""
    cores = os.cpu_count() or 1
    use_gpu = gpus > 0 and device in ("auto", "cuda")
    n = workers or (gpus if use_gpu else 1)
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


class Pool:
    def __init__(self, slots: list[dict], jobs_dir: Path, on_done=None):
        self.slots = slots
        self.jobs_dir = Path(jobs_dir)
        self.on_done = on_done or (lambda job, res: None)
        self.procs: dict[int, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.stopping = False

    def _run(self, job: dict, slot_index: int) -> dict:
        slot = self.slots[slot_index]
        job = dict(job, gpu=slot["gpu"], threads=slot["threads"])
        jpath = self.jobs_dir / f"{job['assignment']}--{job['student']}--{job['key']}.json"
        jpath.write_text(json.dumps(job))
        log = Path(job["log"])
        log.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        with open(log, "wb") as logf:
            proc = subprocess.Popen([sys.executable, "-m", "autograder", "worker", str(jpath)],
                                    stdout=logf, stderr=subprocess.STDOUT, env=worker_env(),
                                    cwd=str(REPO_ROOT), start_new_session=True)
            with self.lock:
                self.procs[proc.pid] = proc
            try:
                rc = proc.wait(timeout=job["hard_limit_s"])
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                rc = None
            finally:
                with self.lock:
                    self.procs.pop(proc.pid, None)
        wall = time.monotonic() - t0
        res = None
        try:
            res = json.loads(Path(job["result"]).read_text())
            if res.get("key") != job["key"]:
                res = None
        except (OSError, json.JSONDecodeError):
            res = None
        if res is None:
            res = base_result(job)
            if self.stopping:
                return None
            if rc is None:
                res.update(status="timed out", detail=f"the grader stopped the worker after {job['hard_limit_s']:.0f} s")
            else:
                tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
                res.update(status="error", detail=f"worker exited with {rc} and no result: {tail}"[-600:])
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
        return results

    def stop(self) -> None:
        self.stopping = True
        with self.lock:
            procs = list(self.procs.values())
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(p)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
