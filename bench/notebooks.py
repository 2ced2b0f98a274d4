"""Wall time of each course notebook, executed top to bottom as a student would run it.

Runs the instructor notebooks (``autograder/source/<id>/<id>.ipynb``, solutions in place) in a
fresh kernel with ``COURSE_PROFILE`` set, and records the total wall time, the slowest cells and
the printed result lines (losses, accuracies, speed-ups) of each, next to the notebook's time
target for that profile and device (its manifest's ``time_targets_s``). The executed copies are kept in
``bench/results/notebooks/<profile>/`` so the figures they drew can be inspected, and the figures
go to ``bench/results/notebooks_<profile>.json``.

``make bench`` runs the smoke profile (a few minutes: proves every notebook runs). The numbers in
the README's "how long" table come from the full profile, one notebook at a time on an otherwise
idle machine::

    python -m bench.notebooks --profile full            # all six, ~26 min on a 2-core CPU
    python -m bench.notebooks --profile full 02 03      # some of them, in the order given

On a GPU the figures go to ``bench/results/notebooks_<profile>_cuda.json`` (and the executed
copies to ``notebooks/<profile>_cuda/``), next to the CPU ones, never over them.
``bench/device_check.sh`` is the script an offline GPU machine runs (within a time budget).

Timings on a shared machine are upper bounds: the load average before and after each run is
recorded next to it so a noisy figure can be recognised.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))   # the GPU machine runs this from a bare checkout
from autograder import SOURCE_DIR as SOURCE, assignments  # noqa: E402  (standard library only)
RESULTS = Path(__file__).resolve().parent / "results"
# printed lines worth keeping next to the timing (measured results the docs quote)
KEEP = re.compile(r"(accuracy|loss|speed-up|speedup|gate|PASS|FAIL|seconds|zero-shot|steps/s|took|in \d)",
                  re.IGNORECASE)


def _cell_seconds(cell) -> float | None:
    ex = cell.get("metadata", {}).get("execution", {})
    a, b = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
    if not (a and b):
        return None
    parse = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(b) - parse(a)).total_seconds()


def run_one(assignment: str, profile: str, timeout: int, out_dir: Path) -> dict:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = SOURCE / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    # no MPLBACKEND: the kernel's inline backend draws the figures a student sees (and pays for them)
    env = {"COURSE_PROFILE": profile, "MPLBACKEND": None}  # COURSE_DATA_DIR: see bench/__init__.py
    old = {k: os.environ.get(k) for k in env}
    for k, v in env.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    error = None
    try:
        # run in a scratch folder, as a student's copy would: what the notebook writes (06's
        # exported model) must never land in the source folder
        with tempfile.TemporaryDirectory(prefix=f"bench-{assignment}-") as cwd:
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                                    resources={"metadata": {"path": cwd}})
            client.execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1][:300]
    except Exception as exc:  # timeout, dead kernel
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    total = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out_dir / f"{assignment}.ipynb"))

    cells, lines = [], []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        s = _cell_seconds(c)
        first = next((ln for ln in c.source.splitlines() if ln.strip() and not ln.startswith("#")), "")
        gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if s is not None:
            cells.append({"cell": i, "grade_id": gid, "seconds": round(s, 1), "first_line": first[:80]})
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stdout":
                lines += [ln.strip() for ln in o.get("text", "").splitlines() if KEEP.search(ln)]
    slowest = sorted(cells, key=lambda d: -d["seconds"])[:5]
    return {"assignment": assignment, "profile": profile, "seconds": round(total, 1), "error": error,
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "slowest_cells": slowest, "result_lines": lines[:60]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.notebooks", description=__doc__.split("\n\n")[0])
    p.add_argument("assignments", nargs="*",
                   help="ids or their number prefixes, run in the order given (default: all, in order)")
    p.add_argument("--profile", default=os.environ.get("BENCH_PROFILE", "smoke"), choices=["smoke", "full"])
    p.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds for the whole run (e.g. the time a GPU machine is available): a notebook is not started "
                        "with less than --min-left seconds left, and no cell may outlast the budget")
    p.add_argument("--min-left", type=float, default=30.0)
    args = p.parse_args(argv)
    import torch

    start = time.monotonic()
    course = {a.id: a for a in assignments.discover(SOURCE)}
    ids = list(dict.fromkeys(assignments.resolve(args.assignments, SOURCE))) if args.assignments else list(course)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    # CPU figures and GPU figures are kept apart: a GPU run never overwrites the CPU table
    tag = args.profile if device == "cpu" else f"{args.profile}_{device}"
    out_json = RESULTS / f"notebooks_{tag}.json"
    previous = json.loads(out_json.read_text()) if out_json.exists() else {}
    runs = previous.get("runs", {})
    gpu_name = torch.cuda.get_device_name(0) if device == "cuda" else None
    failed = False
    done = []
    for a in ids:
        timeout = args.timeout
        if args.budget is not None:
            left = args.budget - (time.monotonic() - start)
            if left < args.min_left:
                print(f"[notebooks] {a} skipped: {left:.0f} s of the budget left, under --min-left "
                      f"{args.min_left:.0f} s", flush=True)
                continue
            timeout = max(1, int(min(timeout, left)))
        print(f"[notebooks] {a} ({args.profile} profile, {gpu_name or device}) ...", flush=True)
        r = run_one(a, args.profile, timeout, RESULTS / "notebooks" / tag)
        target = course[a].time_targets_s.get("smoke" if args.profile == "smoke" else f"full_{device}")
        r.update(target_s=target, within_target=None if target is None else r["seconds"] <= target,
                 device=device, gpu=gpu_name, torch=torch.__version__, cpu_count=os.cpu_count(),
                 torch_threads=torch.get_num_threads(), when=dt.datetime.now().isoformat(timespec="seconds"))
        runs[a] = r
        done.append(a)
        failed |= r["error"] is not None
        status = "ok" if r["error"] is None else f"ERROR {r['error']}"
        print(f"  {r['seconds']:.0f} s ({status}); load {r['load_before']:.1f} -> {r['load_after']:.1f}; "
              f"slowest: " + ", ".join(f"cell {c['cell']} {c['seconds']:.0f} s" for c in r["slowest_cells"][:3]),
              flush=True)
        for ln in r["result_lines"][:12]:
            print(f"    {ln}")
        RESULTS.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps({"machine": platform.platform(), "runs": runs}, indent=2) + "\n")
    print(f"[notebooks] wrote {out_json}")
    print(f"{'notebook':28s} {'seconds':>8s} {'target':>7s}  load")
    for a in done:
        r = runs[a]
        target = "-" if r["target_s"] is None else f"{r['target_s']:.0f}"
        print(f"{a:28s} {r['seconds']:8.0f} {target:>7s}  {r['load_before']:.1f}/{r['load_after']:.1f}"
              + ("" if r["error"] is None else "  ERROR") + ("  OVER TARGET" if r["within_target"] is False else ""))
    return 1 if failed or len(done) < len(ids) else 0


if __name__ == "__main__":
    sys.exit(main())
