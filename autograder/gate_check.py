"""Post-grade check for 06_assessment: the accuracy gate, re-run out of process.

Referenced from `autograder/source/06_assessment/post_grade.json`, e.g.

    {"checks": [{"grade_id": "<the gate's graded test cell>",
                 "callable": "autograder.gate_check:assessment_gate", "timeout": 1200}]}

The harness calls it in a fresh sandboxed interpreter after the student's kernel is gone
(autograder/post_grade.py). It loads the exported model the notebook wrote
(helpers.export.EXPORT_FILENAME, a torch.export program: loading it runs no student Python)
and runs helpers.gate.run_gate with the grader's seed; whatever the notebook printed, patched
or saved as samples plays no part. The gate runs on the CPU whatever the grading machine has, so a
grade never depends on the hardware that computed it (the CPU is the gate's determinism reference).

In the smoke profile (the demo class, the test suite) a model trained for a handful of steps cannot
reach 95%, so the check there proves the pipeline only: the hand-in exists, loads in a fresh process,
has the right shapes and samples finite digits (20 of them). It says so in its message; the
accuracy decides the grade in the full profile, which is what real classes are graded in.
"""
from __future__ import annotations

import os

SMOKE_PER_CLASS = 2  # the notebook's smoke-profile GATE_PER_CLASS


def assessment_gate(workdir: str, *, filename: str | None = None, seed: int | None = None,
                    n_per_class: int | None = None, device: str | None = None) -> dict:
    from helpers import export, gate
    path = os.path.join(workdir, filename or export.EXPORT_FILENAME)
    if not os.path.exists(path):
        return {"passed": False, "message": f"{os.path.basename(path)} was not exported by the notebook"}
    smoke = os.environ.get("COURSE_PROFILE", "full").strip().lower() == "smoke"
    kw = {"seed": gate.GRADER_SEED if seed is None else seed}
    if n_per_class is not None:
        kw["n_per_class"] = n_per_class
    elif smoke:
        kw["n_per_class"] = SMOKE_PER_CLASS
    if device is not None:
        kw["device"] = device
    report = gate.run_gate(path, progress=False, **kw)
    lines = report.summary().strip().splitlines()
    message = " | ".join(lines[:1] + [ln for ln in lines if ln.startswith("- ")])[:500]
    if smoke:
        ok = report.error is None
        why = ("the exported model loads and samples in a fresh process" if ok
               else f"the exported model does not run: {report.error}")
        return {"passed": ok, "details": report.to_dict(),
                "message": (f"smoke profile, pipeline only: {why} ({report.n} digits, accuracy "
                            f"{report.accuracy:.0%}; the >= {gate.PASS_ACCURACY:.0%} gate is decided in the full profile)")}
    return {"passed": bool(report.passed), "message": message, "details": report.to_dict()}
