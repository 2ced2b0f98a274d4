"""Grading through Slurm against the local worker pool, on the same machine (`make bench`).

N copies of 02's instructor solution (smoke profile) are graded twice from scratch: by the local
pool with one worker per core, and as one Slurm job array (`--engine slurm`, one core per task)
on the single-node cluster of scripts/slurm_local.sh (started if none answers, stopped after).
Prints submissions per minute for both and their ratio, the scheduler's overhead on this
machine, and writes bench/results/slurm.json. Skipped, saying why, where Slurm cannot run.

    python -m bench.slurm [--n 8]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OUT = REPO / "bench" / "results" / "slurm.json"
AID = "02_diffusion_models"


def _grade(cls: Path, out: Path, env: dict, *extra: str) -> float:
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "autograder", "grade", str(cls), "--profile", "smoke", "--quiet",
                        "--no-resume", "--out", str(out), *extra], cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"grading failed ({' '.join(extra)}): {p.stdout[-1500:]}{p.stderr[-1500:]}")
    return seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=8, help="submissions (default: 8)")
    a = ap.parse_args(argv)
    from bench.grading import _make_class

    env = dict(os.environ)
    started = False
    if not ("SLURM_CONF" in env and subprocess.run(["scontrol", "ping"], capture_output=True).returncode == 0):
        p = subprocess.run([str(REPO / "scripts" / "slurm_local.sh"), "start"], capture_output=True, text=True)
        if p.returncode != 0:
            print(f"   skipped: no local Slurm ({(p.stderr or p.stdout).strip()[-200:]})")
            return 0
        env["SLURM_CONF"] = p.stdout.strip().split("=", 1)[1]
        started = True
    cores = os.cpu_count() or 1
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            _make_class(tmp, AID, a.n)
            cls = tmp / "class" / "submitted"
            local = _grade(cls, tmp / "local", env, "--workers", str(cores))
            slurm = _grade(cls, tmp / "slurm", env, "--engine", "slurm", "--cpus-per-task", "1")
    finally:
        if started:
            subprocess.run([str(REPO / "scripts" / "slurm_local.sh"), "stop"], capture_output=True, env=env)
    rec = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.node()}, {cores} cores",
           "command": f"python -m bench.slurm --n {a.n}", "assignment": AID, "profile": "smoke", "n": a.n,
           "local_workers": cores, "local_s": round(local, 1), "slurm_s": round(slurm, 1),
           "local_per_min": round(60 * a.n / local, 2), "slurm_per_min": round(60 * a.n / slurm, 2),
           "slurm_over_local": round(slurm / local, 2)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rec, indent=1) + "\n")
    print(f"   {a.n} submissions of {AID} (smoke): local pool ({cores} workers) {local:.0f} s = "
          f"{rec['local_per_min']} per min; Slurm array (1 core per task) {slurm:.0f} s = {rec['slurm_per_min']} per min; "
          f"Slurm takes {rec['slurm_over_local']}x the local time -> {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
