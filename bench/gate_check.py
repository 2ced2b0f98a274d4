"""What 06's out-of-process gate costs the grader, per side, in CPU seconds and wall time.

`python -m bench.gate_check [--n-per-class 100] [--threads 1]`

Exports a network of the notebook's CPU recipe (ConditionalUNet with the notebook's CHS and T;
the cost of sampling does not depend on the weights, so it is left untrained) and runs the
grader's split check on it exactly as a submission gets it (autograder/source/06_assessment/
post_grade.json: the sandboxed untrusted side loads the file and draws the digits, the trusted
side inspects the archive and judges), in the strongest sandbox this machine allows. Prints the
CPU seconds of each side next to the untrusted side's budget (`cpu_seconds`), so the budget can
be kept a small multiple of the real cost; writes bench/results/gate_check.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "gate_check.json"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-per-class", type=int, default=100)
    p.add_argument("--threads", type=int, default=1, help="threads of the sandboxed sampler (a grading worker's share)")
    a = p.parse_args(argv)

    from autograder import REPO_ROOT, SOURCE_DIR
    from autograder import sandbox as sb
    from autograder.post_grade import run_check
    from bench.assessment import CHS, T, W
    from helpers.export import EXPORT_FILENAME, export_model
    from helpers.schedules import Schedule
    from helpers.unet import ConditionalUNet

    check = dict(json.loads((SOURCE_DIR / "06_assessment" / "post_grade.json").read_text())["checks"][0])
    check["kwargs"] = dict(check.get("kwargs", {}), n_per_class=a.n_per_class)
    level = "strict" if sb.probe("strict")[0] else "basic"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)
        work = tmp / "work"
        work.mkdir()
        os.chmod(work, 0o755)
        model = ConditionalUNet(chs=CHS, T=T)
        params = sum(q.numel() for q in model.parameters())
        export_model(model, work / EXPORT_FILENAME, sched=Schedule.linear(T), w=W)
        env = sb.kernel_env(home=tmp, profile="full", data_dir=os.environ.get("COURSE_DATA_DIR", ""),
                            threads=a.threads, gpu=None, seed=0, pythonpath=[])
        slot = sb.UidSlot() if level == "strict" else None
        try:
            uid = slot.__enter__().uid if slot else None
            spec = sb.spec_for(level, uid=uid, stage=str(tmp), needed=[str(tmp), str(REPO_ROOT),
                                                                      env.get("COURSE_DATA_DIR", "")])
            spec["env"] = env
            t0 = time.monotonic()
            res = run_check(check, workdir=work, source_copy=SOURCE_DIR / "06_assessment", launcher_spec=spec,
                            priv=tmp, uid=uid)
            wall = time.monotonic() - t0
        finally:
            if slot:
                slot.__exit__(None, None, None)
    cpu = res.get("cpu_seconds") or {}
    out = {"what": "06 gate as graded (split check), untrained network of the notebook's CPU recipe",
           "n_digits": 10 * a.n_per_class, "parameters": params, "sandbox": level, "threads": a.threads,
           "wall_s": round(wall, 1), "cpu_s": cpu, "budget_cpu_s": check.get("cpu_seconds"),
           "budget_multiple": round(check["cpu_seconds"] / cpu["hand_in"], 1) if cpu.get("hand_in") else None,
           "message": res.get("message"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "date": time.strftime("%Y-%m-%d"), "command": "python -m bench.gate_check"}
    print(f"gate check on {out['n_digits']} digits ({params:,} parameters, sandbox {level}): wall {wall:.1f} s; "
          f"CPU: hand-in side {cpu.get('hand_in')} s (budget {check.get('cpu_seconds')} s, "
          f"{out['budget_multiple']}x), judge side {cpu.get('judge')} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
