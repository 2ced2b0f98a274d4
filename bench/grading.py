"""Grading throughput and harness overhead (`make bench`; not a timed test).

Measures, for one assignment (02_diffusion_models by default) graded from N copies of the
instructor solution:

* submissions per minute with 1 and 2 workers, in the smoke and the full profile, on the CPU
  (and on the GPU when CUDA is present: one worker per GPU; 06_assessment there by default);
* the harness's overhead per submission beyond executing the notebook (target: under 5 s), two
  ways: (a) per-submission wall time minus the kernel execution time the harness measured
  (release/sanitise, sandbox, guard set-up, post-grade checks, feedback, bookkeeping), and
  (b) per-submission wall time with 1 worker minus plain nbclient executing the same notebook
  in a fresh kernel (baseline run before and after the harness runs, averaged; this also
  counts the sandbox's and the guard's cost inside the kernel, and is noisy on a shared machine).

Results are printed and written to bench/results/grading.json.
    python -m bench.grading [--quick] [--n 4] [--profiles smoke,full] [--workers 1,2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.modules.setdefault("rfc3987_syntax", None)   # as `python -m autograder` does: skip a slow import

OUT = REPO / "bench" / "results" / "grading.json"


def _make_class(folder: Path, aid: str, n: int) -> None:
    import nbformat

    from autograder.examples.make_demo import complete, write_variant
    from autograder.release import build_bundle
    b = build_bundle(aid, folder / "cache", REPO / "autograder" / "source")
    nb = complete(nbformat.read(b.source_notebook, as_version=4), nbformat.read(b.release_notebook, as_version=4))
    for i in range(n):
        write_variant(folder / "class" / "submitted" / f"student{i:03d}" / aid / f"{aid}.ipynb", nb)


def plain_execute_seconds(nb_path: Path, profile: str, gpu: bool) -> float:
    """Baseline: nbclient executing the notebook in a fresh kernel, no harness."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(nb_path, as_version=4)
    env_before = dict(os.environ)
    os.environ["COURSE_PROFILE"] = profile
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    if not gpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    try:
        with tempfile.TemporaryDirectory() as cwd:
            t0 = time.monotonic()
            NotebookClient(nb, timeout=3600, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": cwd}}).execute()
            dt = time.monotonic() - t0
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    errors = [i for i, c in enumerate(nb.cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    if errors:
        raise RuntimeError(f"the baseline run raised in cells {errors}: the figures would be meaningless")
    return dt


def run_case(folder: Path, aid: str, profile: str, workers: int, device: str, n: int) -> dict:
    import shutil

    from autograder.grade import grade_class
    from autograder.release import build_bundle
    from autograder.settings import Settings
    out = folder / f"out-{profile}-{workers}-{device}"
    inp = folder / f"class-{n}"
    if not inp.exists():
        for p in sorted((folder / "class" / "submitted").iterdir())[:n]:
            shutil.copytree(p, inp / "submitted" / p.name)
    build_bundle(aid, out / ".bundles", REPO / "autograder" / "source")   # not part of the timing
    t0 = time.monotonic()
    results, info = grade_class(inp, out, assignment=aid, workers=workers,
                                settings=Settings(profile=profile), resume=False, device=device,
                                progress=False, log=lambda *a: None)
    wall = time.monotonic() - t0
    ok = [r for r in results if r["status"] == "graded" and r["score"] == r["max_score"]
          and not r.get("notes", {}).get("errors_outside_tests")]
    per = [r["timing"] for r in results]
    return {
        "assignment": aid, "profile": profile, "workers": workers, "device": device,
        "submissions": len(results), "full_marks": len(ok), "wall_s": round(wall, 1),
        "submissions_per_minute": round(60 * len(results) / wall, 2),
        "mean_worker_wall_s": round(statistics.mean(t.get("wall_s") or 0 for t in per), 2),
        "mean_execute_s": round(statistics.mean(t.get("execute_s") or 0 for t in per), 2),
        "mean_sanitize_s": round(statistics.mean(t.get("sanitize_s") or 0 for t in per), 2),
        "harness_overhead_s": round(statistics.mean((t.get("wall_s") or 0) - (t.get("execute_s") or 0) for t in per), 2),
        "sandbox": info["sandbox"],
        "errors_outside_tests": sorted({e for r in results for e in r.get("notes", {}).get("errors_outside_tests", [])}),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--assignment", default=None)
    p.add_argument("--n", type=int, default=4, help="submissions per smoke case (copies of the solution)")
    p.add_argument("--n-full", type=int, default=2, help="submissions per full-profile case")
    p.add_argument("--profiles", default="smoke,full")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--quick", action="store_true", help="smoke profile, 1 and 2 workers, n=2")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    from autograder import sandbox as sb
    gpus = sb.gpu_count()
    aid = a.assignment or ("06_assessment" if gpus else "02_diffusion_models")
    profiles = ["smoke"] if a.quick else a.profiles.split(",")
    workers = [int(w) for w in a.workers.split(",")]
    n = 2 if a.quick else max(a.n, a.n_full)
    if not (REPO / "autograder" / "source" / aid / f"{aid}.ipynb").exists():
        print(f"bench.grading: no {aid} in autograder/source; skipped")
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        folder = Path(tmp)
        _make_class(folder, aid, n)
        sample = next((folder / "class" / "submitted").glob(f"*/{aid}/{aid}.ipynb"))
        devices = ["cuda"] if gpus else ["cpu"]
        for device in devices:
            for profile in profiles:
                gpu = device == "cuda"
                before = plain_execute_seconds(sample, profile, gpu)
                case_rows = []
                for w in ([gpus] if gpu else workers):
                    k = n if a.quick else (a.n if profile == "smoke" else a.n_full)
                    case_rows.append(run_case(folder, aid, profile, w, device, k))
                after = plain_execute_seconds(sample, profile, gpu)
                base = round((before + after) / 2, 2)
                for row in case_rows:
                    row["plain_execute_s"] = base
                    row["plain_execute_runs_s"] = [round(before, 2), round(after, 2)]
                    if row["workers"] == 1:
                        row["wall_minus_plain_s"] = round(row["mean_worker_wall_s"] - base, 2)
                    rows.append(row)
                    w = row["workers"]
                    print(f"{aid} {profile:<5} {device} workers={w}: {row['submissions_per_minute']:.2f} subs/min "
                          f"({row['submissions']} in {row['wall_s']} s, {row['full_marks']} clean full marks); "
                          f"harness overhead {row['harness_overhead_s']} s/submission beyond the kernel"
                          + (f"; wall - plain nbclient ({base} s) = {row['wall_minus_plain_s']} s" if w == 1 else ""),
                          flush=True)
    report = {"machine": {"cpus": os.cpu_count(), "gpus": gpus, "python": platform.python_version(),
                          "platform": platform.platform(), "load_average_at_end": os.getloadavg()},
              "note": ("harness_overhead_s = mean(per-submission wall - kernel execution) as the harness "
                       "measured it; wall_minus_plain_s = mean per-submission wall (1 worker) - plain "
                       "nbclient execution of the same notebook (mean of a run before and after)"),
              "rows": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    if a.out.exists():   # keep rows of cases not rerun this time (e.g. --profiles smoke)
        key = lambda r: (r["assignment"], r["profile"], r["workers"], r["device"])  # noqa: E731
        fresh = {key(r) for r in rows}
        try:
            old = json.loads(a.out.read_text()).get("rows", [])
        except (OSError, ValueError):
            old = []
        report["rows"] = [r for r in old if key(r) not in fresh] + rows
    a.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
