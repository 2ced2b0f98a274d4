"""Grading on a Slurm cluster: one job array, a task per submission.

`python -m autograder grade <submissions> --engine slurm [--partition P] [--gpus-per-task 1]
[--array-limit N] [--time MIN] [--cpus-per-task C] [--mem-mb M]` plans the class exactly as a
local run does (collection, bundles, resume keys), then, instead of the local worker pool:

1. writes each job file to `<out>/.slurm/<run>/jobs/<i>.json` and one batch script, `array.sh`,
   whose task i runs `python -m autograder worker jobs/<i>.json` (the same unit of work as the
   pool: one submission in, one result file out, the sandbox and the post-grade checks inside
   the task; the sandbox level is chosen on the node, the strongest it allows, and recorded in
   the result's `sandbox` and `notes.sandbox_on_node`);
2. submits it with `sbatch --parsable --array=0-(n-1)[%N]`, a GPU per task when asked;
3. watches it with `squeue` (a progress bar of finished result files) until no task is left;
4. reads each task's end from `sacct`, or `scontrol show job` where accounting is off: a task
   without a result file gets a status with Slurm's reason: TIMEOUT -> `timed out`,
   OUT_OF_MEMORY -> `kernel crashed`, CANCELLED, NODE_FAIL, PREEMPTED, FAILED, BOOT_FAIL,
   DEADLINE -> `error` (an `error` is graded again by the next run of the same command);
5. hands the results back to the same merge as a local run: grades.csv, feedback and summary
   are the same files.

Ctrl-C cancels the array this run submitted (`scancel <jobid>`) and nothing else.

What must be on storage that every node sees, at the same path: this repository (with its
`.venv`), the output folder (`--out`: job files, staged submissions, bundles, results, logs) and
the data folder (`--data-dir` / COURSE_DATA_DIR). Nodes need the same Python and Jupyter
kernel as the submitting machine: the tasks run `<repo>/.venv/bin/python`.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import REPO_ROOT
from .worker import ON_NODE, base_result, read_result, write_json_atomic

# Slurm job states that end a task, and the status its submission gets when it left no result
STATE_STATUS = {
    "TIMEOUT": "timed out",
    "OUT_OF_MEMORY": "kernel crashed",
    "CANCELLED": "error",
    "NODE_FAIL": "error",
    "PREEMPTED": "error",
    "FAILED": "error",
    "BOOT_FAIL": "error",
    "DEADLINE": "error",
    "COMPLETED": "error",      # ended normally, yet no result file: the worker could not write it
}
DEFAULT_MEM_MB = 4096   # per task: a smoke or full CPU run of any notebook needs well under this


class SlurmError(RuntimeError):
    """Slurm could not be used (not installed, no controller, sbatch refused): says what to do."""


@dataclass
class SlurmOptions:
    partition: str | None = None
    gpus_per_task: int = 0
    array_limit: int | None = None     # at most this many tasks at once (sbatch's %N)
    time_min: int | None = None         # per task; default: the jobs' own hard limit, in minutes
    cpus_per_task: int = 1
    mem_mb: int | None = None           # real memory per task (Slurm's --mem); default DEFAULT_MEM_MB
    poll_s: float = 2.0
    extra: tuple = ()                   # more sbatch arguments, as given


def _run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise SlurmError(f"{cmd[0]} not found: install Slurm's client commands (sbatch, squeue, scontrol, "
                         "scancel) on this machine, or grade with --engine local") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{' '.join(cmd[:2])} did not answer in {timeout:.0f} s: is slurmctld up?") from None


def unavailable() -> str | None:
    """Why Slurm cannot be used from here (None when it can): commands missing or no controller."""
    for cmd in ("sbatch", "squeue", "scontrol", "scancel"):
        if shutil.which(cmd) is None:
            return f"{cmd} is not installed"
    p = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0 or "UP" not in p.stdout:
        return f"no Slurm controller answers (scontrol ping: {(p.stdout + p.stderr).strip()[:200]})"
    return None


def script(jobs_dir: Path, logs_dir: Path, n: int, opts: SlurmOptions, name: str, time_min: int, mem_mb: int) -> str:
    """The batch script: task i grades jobs/<i>.json."""
    lines = ["#!/bin/bash",
             f"#SBATCH --job-name={name}",
             f"#SBATCH --array=0-{n - 1}" + (f"%{opts.array_limit}" if opts.array_limit else ""),
             f"#SBATCH --output={logs_dir}/task-%a.log",
             f"#SBATCH --time={time_min}",
             "#SBATCH --ntasks=1",
             f"#SBATCH --cpus-per-task={opts.cpus_per_task}",
             f"#SBATCH --mem={mem_mb}M"]
    if opts.partition:
        lines.append(f"#SBATCH --partition={opts.partition}")
    if opts.gpus_per_task:
        lines.append(f"#SBATCH --gpus-per-task={opts.gpus_per_task}")
    lines += [
        "set -u",
        f"cd {shlex.quote(str(REPO_ROOT))}",
        f"export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH",
        f"export PYTHONPATH={shlex.quote(str(REPO_ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}",
        f'exec {shlex.quote(sys.executable)} -m autograder worker {shlex.quote(str(jobs_dir))}/$SLURM_ARRAY_TASK_ID.json',
        ""]
    return "\n".join(lines)


def _minutes(seconds: float) -> int:
    return max(1, int(-(-seconds // 60)))


class SlurmEngine:
    """Runs the planned jobs as one Slurm job array; the same contract as pool.Pool.run."""

    def __init__(self, opts: SlurmOptions, out: Path, on_done=None, log=print):
        self.opts, self.out = opts, Path(out)
        self.on_done = on_done or (lambda job, res: None)
        self.log = log
        self.job_id: str | None = None

    def _prepare(self, jobs: list[dict]) -> tuple[Path, Path, str]:
        run = self.out / ".slurm" / time.strftime("%Y%m%d-%H%M%S")
        k = 0
        while run.exists():
            k += 1
            run = run.with_name(f"{run.name.split('.')[0]}.{k}")
        jobs_dir, logs_dir = run / "jobs", run / "logs"
        jobs_dir.mkdir(parents=True)
        logs_dir.mkdir()
        gpu = "inherit" if self.opts.gpus_per_task else None   # the task's GPU, as Slurm sets it
        for i, job in enumerate(jobs):
            Path(job["result"]).unlink(missing_ok=True)
            write_json_atomic(jobs_dir / f"{i}.json", dict(job, gpu=gpu, threads=self.opts.cpus_per_task, level=ON_NODE))
        time_min = self.opts.time_min or _minutes(max(j["hard_limit_s"] for j in jobs))
        mem = self.opts.mem_mb or DEFAULT_MEM_MB
        path = run / "array.sh"
        path.write_text(script(jobs_dir, logs_dir, len(jobs), self.opts, "autograder", time_min, mem))
        return run, path, logs_dir

    def submit(self, path: Path) -> str:
        cmd = ["sbatch", "--parsable", *self.opts.extra, str(path)]
        p = _run(cmd)
        if p.returncode != 0:
            raise SlurmError(f"sbatch refused the array: {(p.stderr or p.stdout).strip()[:500]} "
                             f"(the script is {path}; check --partition, --time, --mem-mb and --gpus-per-task "
                             f"against `sinfo`)")
        self.job_id = p.stdout.strip().split(";")[0]
        return self.job_id

    def pending(self) -> int:
        """Tasks of the array still queued or running."""
        p = _run(["squeue", "-h", "-r", "-j", self.job_id, "-o", "%i"])
        if p.returncode != 0:
            if "Invalid job id" in p.stderr:   # gone from the controller: all ended
                return 0
            raise SlurmError(f"squeue failed: {p.stderr.strip()[:300]}")
        return len([x for x in p.stdout.split() if x])

    def task_ends(self) -> dict[int, tuple[str, str]]:
        """Array index -> (state, reason) of every ended task, from sacct, else scontrol."""
        p = _run(["sacct", "-n", "-P", "-X", "-j", self.job_id, "-o", "JobID,State,Reason,ExitCode"]) \
            if shutil.which("sacct") else None
        out: dict[int, tuple[str, str]] = {}
        if p is not None and p.returncode == 0 and p.stdout.strip():
            for line in p.stdout.splitlines():
                jid, state, reason, code = (line.split("|") + ["", "", "", ""])[:4]
                m = re.match(rf"{self.job_id}_(\d+)$", jid)
                if m:
                    out[int(m.group(1))] = (state.split()[0], f"{reason}, exit code {code}".strip(", "))
            if out:
                return out
        p = _run(["scontrol", "-o", "show", "job", self.job_id])
        for line in p.stdout.splitlines():
            f = dict(x.split("=", 1) for x in line.split() if "=" in x)
            if f.get("ArrayTaskId", "").isdigit():
                reason = f.get("Reason", "None")
                out[int(f["ArrayTaskId"])] = (f.get("JobState", "?"),
                                              f"{reason if reason != 'None' else ''}, exit code {f.get('ExitCode', '?')}"
                                              .strip(", "))
        return out

    def cancel(self) -> None:
        if self.job_id:
            _run(["scancel", self.job_id])

    def run(self, jobs: list[dict]) -> list[dict]:
        if not jobs:
            return []
        run, path, logs_dir = self._prepare(jobs)
        job_id = self.submit(path)
        (run / "submitted").write_text(job_id + "\n")
        self.log(f"Slurm: array job {job_id} with {len(jobs)} task(s) ({path})")
        done: dict[int, dict] = {}
        try:
            while True:
                left = self.pending()
                for i, job in enumerate(jobs):
                    if i not in done:
                        res = read_result(job)
                        if res is not None:
                            done[i] = res
                            self.on_done(job, res)
                if not left:
                    break
                time.sleep(self.opts.poll_s)
        except KeyboardInterrupt:
            self.cancel()
            raise
        ends = self.task_ends() if len(done) < len(jobs) else {}
        results = []
        for i, job in enumerate(jobs):
            res = done.get(i) or read_result(job)
            if res is None:
                state, reason = ends.get(i, ("UNKNOWN", "the controller no longer knows this task"))
                res = base_result(job)
                status = STATE_STATUS.get(state, "error")
                tail = _tail(logs_dir / f"task-{i}.log")
                res.update(status=status, detail=f"Slurm ended task {job_id}_{i}: {state} ({reason})"
                                                 + (f"; its log ends: {tail}" if tail else ""))
                res.setdefault("notes", {})["slurm"] = {"job": f"{job_id}_{i}", "state": state, "reason": reason}
                write_json_atomic(Path(job["result"]), res)
                self.on_done(job, res)
            else:
                res.setdefault("notes", {})["slurm"] = {"job": f"{job_id}_{i}"}
                write_json_atomic(Path(job["result"]), res)
            results.append(res)
        return results


def _tail(path: Path, n: int = 300) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return text[-n:].replace("\n", " | ")
