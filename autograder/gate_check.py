"""Post-grade check for 06_assessment: the accuracy gate, re-run out of process.

Referenced from `autograder/source/06_assessment/post_grade.json`, e.g.

    {"checks": [{"grade_id": "<the gate's graded test cell>",
                 "callable": "autograder.gate_check:assessment_gate", "timeout": 1200}]}

The harness calls it in a fresh sandboxed interpreter after the student's kernel is gone
(autograder/post_grade.py). It loads the exported model the notebook wrote
(helpers.export.EXPORT_FILENAME, a torch.export program: loading it runs no student Python)
and runs helpers.gate.run_gate with the grader's seed; whatever the notebook printed, patched
or saved as samples plays no part.
"""
from __future__ import annotations

import os


def assessment_gate(workdir: str, *, filename: str | None = None, seed: int | None = None,
                    n_per_class: int | None = None, device: str | None = None) -> dict:
    from helpers import export, gate
    path = os.path.join(workdir, filename or export.EXPORT_FILENAME)
    if not os.path.exists(path):
        return {"passed": False, "message": f"{os.path.basename(path)} was not exported by the notebook"}
    kw = {"seed": gate.GRADER_SEED if seed is None else seed}
    if n_per_class is not None:
        kw["n_per_class"] = n_per_class
    if device is not None:
        kw["device"] = device
    report = gate.run_gate(path, progress=False, **kw)
    lines = report.summary().strip().splitlines()
    return {"passed": bool(report.passed), "message": " | ".join(lines[:1] + [ln for ln in lines if ln.startswith("- ")])[:500],
            "details": report.to_dict()}
