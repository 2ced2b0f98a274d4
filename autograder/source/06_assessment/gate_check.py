"""Post-grade check for 06_assessment: the accuracy gate, decided outside anything the student made.

Referenced from `autograder/source/06_assessment/post_grade.json` as a split check
(autograder/post_grade.py):

* :func:`sample_digits` (untrusted side, sandboxed as the student): loads the exported model the
  notebook wrote (helpers.export.EXPORT_FILENAME) and draws the gate's digits with the grader's own
  DDIM sampler and seed over the hand-in's noise prediction, on the CPU (the gate's determinism
  reference, so a grade never depends on the grading machine's GPU). It hands back only the
  images, a (N, 1, 28, 28) float32 array, and the settings the file claims (w, pixel range).
  Whatever runs while the file loads can at most change those images.
* :func:`judge_digits` (trusted side): never loads the hand-in. It checks the images' shape, dtype
  and values against what it asked for, inspects the exported archive as data (size and layers,
  when `helpers.export.inspect_export` is available), and runs `helpers.gate.evaluate_samples`:
  the shipped MNIST judge, copy and collapse checks, the verdict.

In the smoke profile (the demo class, the test suite) a model trained for a handful of steps cannot
reach 95%, so the check there proves the pipeline only: the hand-in exists, loads in a fresh process
and samples 20 finite digits of the right shape. It says so in its message; the accuracy decides the
grade in the full profile, which is what real classes are graded in.
"""
from __future__ import annotations

import os

N_CLASSES = 10
IMAGE = (1, 28, 28)


def _per_class(n_per_class: int | None) -> int:
    """The digits per class asked for, else the gate's own for the active profile (helpers.gate)."""
    from helpers import gate
    return gate.per_class() if n_per_class is None else int(n_per_class)


def sample_digits(workdir: str, *, filename: str | None = None, seed: int | None = None,
                  n_per_class: int | None = None, inspect_first: bool = True, **_) -> dict:
    """Untrusted side: load the hand-in, draw the gate's digits, hand back plain arrays.

    With `inspect_first` an archive that `helpers.export.inspect_export` refuses (pickled parts,
    lookup tables, foreign ops) is not loaded at all, so code hidden in it never runs; the
    trusted side inspects it again and decides either way."""
    import torch

    from helpers import export, gate
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    path = os.path.join(workdir, filename or export.EXPORT_FILENAME)
    if not os.path.exists(path):
        return {"meta": {"error": f"{os.path.basename(path)} was not exported by the notebook"}}
    if inspect_first:
        inspection = export.inspect_export(path)
        if not inspection.get("ok"):
            return {"meta": {"error": f"the exported file is not a course model: {inspection.get('reason')}"}}
    try:
        model = export.load_exported(path)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the hand-in's
        return {"meta": {"error": f"could not load the model: {exc}"[:500]}}
    meta = {"w": model.config.get("w"), "pixel_range": model.config.get("pixel_range"),
            "n_classes": model.config.get("n_classes"), "image_shape": list(model.image_shape)}
    w = model.w
    if not 0.0 <= w <= gate.MAX_W:
        return {"meta": dict(meta, error=f"guidance scale w = {w} is outside [0, {gate.MAX_W:g}]")}
    if model.image_shape != IMAGE or model.n_classes != N_CLASSES:
        return {"meta": dict(meta, error=f"expected a 10-class model of 1x28x28 digits, got {model.n_classes} "
                                         f"classes, image shape {model.image_shape}")}
    try:
        samples, _ = gate.generate(model, _per_class(n_per_class),
                                   seed=gate.GRADER_SEED if seed is None else int(seed), progress=False)
    except Exception as exc:  # noqa: BLE001
        return {"meta": dict(meta, error=f"sampling failed: {type(exc).__name__}: {exc}"[:500])}
    return {"arrays": {"samples": samples.float().contiguous()}, "meta": meta}


def _claimed_range(meta: dict):
    pr = meta.get("pixel_range")
    try:
        pr = (float(pr[0]), float(pr[1]))
    except (TypeError, ValueError, IndexError, KeyError):
        return (-1.0, 1.0)
    return pr if pr in ((-1.0, 1.0), (0.0, 1.0)) else (-1.0, 1.0)


def _claimed_w(meta: dict) -> float:
    try:
        w = float(meta.get("w"))
    except (TypeError, ValueError):
        return float("nan")
    return w if w == w else float("nan")


def judge_digits(arrays: dict, meta: dict, files: dict, *, seed: int | None = None,
                 n_per_class: int | None = None, **_) -> dict:
    """Trusted side: validate the images, inspect the archive as data, judge, decide."""
    import numpy as np
    import torch

    from helpers import gate
    from helpers.device import is_smoke
    smoke = is_smoke()
    per_class = _per_class(n_per_class)
    n = per_class * N_CLASSES
    if meta.get("error"):
        return {"passed": False, "message": f"Gate FAILED: {str(meta['error'])[:400]}",
                "details": {"error": str(meta["error"])[:400]}}
    x = arrays.get("samples")
    if x is None or x.dtype != np.float32 or tuple(x.shape) != (n, *IMAGE):
        got = None if x is None else f"{x.dtype} {tuple(x.shape)}"
        return {"passed": False, "details": {"error": "wrong shape"},
                "message": f"Gate FAILED: the hand-in's process returned {got}, not the {n} float32 1x28x28 "
                           "digits the grader asked for"}
    if not np.isfinite(x).all() or np.abs(x).max() > 1.0 + 1e-5:
        return {"passed": False, "details": {"error": "values out of range"},
                "message": "Gate FAILED: the samples contain NaN, inf or values outside the sampler's [-1, 1]"}
    inspection = None
    try:
        from helpers.export import inspect_export   # the archive's size and layers, read as data
    except ImportError:
        inspect_export = None
    if inspect_export is not None:
        if "model" not in files:
            why = (meta.get("file_notes") or {}).get("model", "not handed in")
            return {"passed": False, "message": f"Gate FAILED: the exported model file: {why}"}
        inspection = inspect_export(files["model"])
        if not inspection.get("ok"):
            return {"passed": False, "details": {"inspection": inspection},
                    "message": f"Gate FAILED: the exported file is not a course model: {inspection.get('reason')}"}
    labels = torch.arange(N_CLASSES).repeat_interleave(per_class)
    report = gate.evaluate_samples(torch.from_numpy(x.copy()), labels, pixel_range=_claimed_range(meta),
                                   w=_claimed_w(meta), seed=gate.GRADER_SEED if seed is None else int(seed),
                                   device="cpu")
    details = report.to_dict()
    if inspection is not None:
        details["inspection"] = {k: inspection.get(k) for k in ("parameters", "ok") if k in inspection}
    lines = report.summary().strip().splitlines()
    message = " | ".join(lines[:1] + [ln for ln in lines if ln.startswith("- ")])[:500]
    if smoke:
        return {"passed": True, "details": details,
                "message": (f"smoke profile, pipeline only: the exported model loads and samples in a fresh "
                            f"process ({report.n} digits, accuracy {report.accuracy:.0%}; the >= "
                            f"{gate.PASS_ACCURACY:.0%} gate is decided in the full profile)")}
    return {"passed": bool(report.passed), "message": message, "details": details}
