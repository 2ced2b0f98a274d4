"""The assessment gate (notebook 06): does a class-conditioned diffusion model draw the digit it
is asked for?

The same function serves the student (last cells of notebook 06) and the grading harness, which
runs it out of process on the exported file::

    python -m helpers.gate assessment_model.pt2 [--json report.json] [--figures DIR]

What the gate does, with everything fixed by the grader (not by the hand-in):

1. inspects the file's structure without running or unpickling any of it
   (:func:`helpers.export.inspect_export`: a zip of bounded size, a parameter budget, only the ops
   of the course's layers) and fails with its reason; then loads the file written by
   :func:`helpers.export.export_model` (network + schedule + w);
2. draws 1000 digits, 100 per class, with DDIM (Song et al. 2021; eta = 0, 25 steps,
   x0 clipped to [-1, 1]) and classifier-free guidance (Ho & Salimans 2022) at the hand-in's w
   (0 <= w <= 10), from noise seeded with :data:`GRADER_SEED` on the CPU, so the same model
   gives the same samples and accuracy on every run on the same device;
3. brings the samples to [-1, 1] (see *pixel range* below) and classifies them with the
   shipped MNIST judge (:mod:`helpers.judge`, which normalises its inputs itself);
4. passes when the accuracy is >= 95% **and** the integrity checks pass.

Pixel range. The gate's sampler clamps to [-1, 1]. A model trained on [0, 1] images yields
samples whose background sits near 0 instead of -1; the gate maps ``x -> 2x - 1`` when the
export declares ``pixel_range = [0, 1]``, or when the median pixel of all samples is above -0.5
(MNIST digits are ~80% background, so the median of [-1, 1] samples is ~-1 and of [0, 1]
samples ~0). The report says when it did so.

Integrity. The hand-in must *generate* digits, so the gate refuses samples that are stored digits,
exact or lightly disguised, and samples that are one digit per class. Both checks use the distance
of :mod:`helpers.nearcopy`: each image's ink is blurred (Gaussian, sigma 1 pixel) and standardised
(zero mean, unit norm), and two images are compared by their normalised cross-correlation maximised
over translations (Lewis 1995), ``d = sqrt(2 - 2 max NCC)``: 0 for the same digit shifted by up to 2
pixels or changed in brightness/contrast, small for a few flipped pixels or light noise, about 0.3
between a real digit and its nearest other real digit.

* Near-copies: every sample is compared with all 70,000 MNIST digits (60,000 training + 10,000 test:
  a stored test digit is as borrowed as a training one). A sample closer than
  :data:`NEAR_COPY_THRESHOLD` to one of them is a near-copy; the gate fails when more than
  :data:`MAX_COPY_FRACTION` of the samples are. The threshold sits below the distances of real
  held-apart digits (:data:`CALIBRATION`, from ``python -m helpers.gate --calibrate``) and of honest
  models' samples (``bench/reference/gate_integrity.json``, from ``python -m bench.gate_integrity``),
  and above most lightly disguised copies (shifted, a few flipped pixels, light noise, changed
  brightness); the allowance absorbs the rare honest sample that lands near a real digit. The
  measured figures are in walkthrough 06. The report keeps the near-copy fraction, the exact-copy
  fraction, counts by split and by kind of change, and the :data:`N_CLOSEST` closest (sample, MNIST
  digit) pairs (``closest_pairs_figure()`` shows them).
* Collapse: for every class, the mean pairwise distance of its samples (shifts up to
  :data:`DIVERSITY_SHIFT` pixels: two samples each moved by up to 2 pixels differ by up to 4)
  divided by that of 100 real test digits of the class (:data:`CALIBRATION`). The gate fails when a
  class falls below :data:`COLLAPSE_RATIO`; one image repeated, or one image per class each shifted
  by up to 2 pixels, scores 0.

The reference features of the 70,000 digits are built once per process, kept in memory and never
written to disk. The cost of the checks is measured in the same results file; walkthrough 06 quotes
it with the time of the whole gate.

The 95% interval of the accuracy is Wilson's score interval (Wilson 1927).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = ["GRADER_SEED", "N_PER_CLASS", "SMOKE_PER_CLASS", "per_class", "PASS_ACCURACY", "GATE_DDIM_STEPS", "MAX_W", "COPY_THRESHOLD",
           "NEAR_COPY_THRESHOLD", "MAX_COPY_FRACTION", "COLLAPSE_RATIO", "CALIBRATION", "GateReport", "run_gate",
           "evaluate_samples", "generate", "wilson_interval", "nn_distance_to_train",
           "shift_tolerant_diversity", "integrity_check", "main"]

GRADER_SEED = 60_606
N_PER_CLASS = 100
SMOKE_PER_CLASS = 2   # COURSE_PROFILE=smoke (tests, the demo class): proves the pipeline only
PASS_ACCURACY = 0.95
GATE_DDIM_STEPS = 25
MAX_W = 10.0
GATE_BATCH = 250  # digits per sampling batch (fixed: the batch split is part of determinism)
COPY_THRESHOLD = 0.05  # RMS on [-1, 1], same pixels (an exact copy)
NEAR_COPY_THRESHOLD = 0.060  # shift-tolerant distance (helpers.nearcopy); calibrated below
MAX_COPY_FRACTION = 0.05  # of the samples, near-copies included
COLLAPSE_RATIO = 0.35  # shift-tolerant within-class diversity over that of real digits
DIVERSITY_SHIFT = 4  # pixels: samples each shifted by up to 2 pixels differ by up to 4
N_CLASSES = 10
N_CLOSEST = 20  # closest (sample, known digit) pairs kept in the report

# Measured on real MNIST (python -m helpers.gate --calibrate; CPU, torch 2.14): the shift-tolerant
# distance (helpers.nearcopy) from each of the 10,000 test digits to its nearest training digit and
# from each of the 60,000 training digits to its nearest test digit, and the shift-tolerant mean
# pairwise distance of the first 100 test digits of each class. Honest models: bench.gate_integrity.
CALIBRATION = {
    "test_to_train": {"min": 0.0567, "q0.01%": 0.0624, "q0.1%": 0.0714, "q1%": 0.0886, "q5%": 0.116,
                      "median": 0.2875, "n": 10000, "below_threshold": 1},
    "train_to_test": {"min": 0.0567, "q0.01%": 0.0675, "q0.1%": 0.0824, "q1%": 0.1053, "q5%": 0.1389,
                      "median": 0.3309, "n": 60000, "below_threshold": 1},
    "real_class_diversity": [0.8029, 0.6222, 0.8255, 0.7576, 0.7884, 0.8215, 0.7684, 0.7439, 0.7669, 0.7323],
    "real_group_ratio": [0.946, 1.067],  # other groups of 100 real test digits, relative to the first
}
REAL_DIVERSITY = CALIBRATION["real_class_diversity"]


# --------------------------------------------------------------------------- statistics


def per_class() -> int:
    """Digits per class the gate draws in the active profile (the notebook and the grader alike)."""
    from .device import pick
    return pick(smoke=SMOKE_PER_CLASS, cpu=N_PER_CLASS)

def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (default 95%)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def _rms(d2: torch.Tensor, dim: int) -> torch.Tensor:
    return (d2.clamp(min=0) / dim).sqrt()


_TRAIN: dict[str, torch.Tensor] = {}


def _train_images() -> torch.Tensor:
    if "x" not in _TRAIN:
        from .data import load_mnist

        x, _ = load_mnist("train")  # (60000, 1, 28, 28) in [-1, 1]
        _TRAIN["x"] = x.reshape(len(x), -1).contiguous()  # (60000, 784)
        _TRAIN["n2"] = (_TRAIN["x"] ** 2).sum(1)  # (60000,)
    return _TRAIN["x"]


@torch.inference_mode()
def nn_distance_to_train(images: torch.Tensor, chunk: int = 10000) -> torch.Tensor:
    """RMS distance (on the [-1, 1] scale) from each image (N, 1, 28, 28) to its nearest MNIST
    training image, (N,) float32."""
    train = _train_images()
    n2 = _TRAIN["n2"]
    q = images.detach().float().cpu().reshape(len(images), -1)  # (N, 784)
    qn = (q ** 2).sum(1)  # (N,)
    best = torch.full((len(q),), float("inf"))
    for i in range(0, len(train), chunk):
        d2 = qn[:, None] + n2[None, i:i + chunk] - 2 * q @ train[i:i + chunk].T  # (N, chunk)
        best = torch.minimum(best, d2.min(1).values)
    return _rms(best, q.shape[1])


@torch.inference_mode()
def shift_tolerant_diversity(images: torch.Tensor) -> float:
    """Mean pairwise shift-tolerant distance (:mod:`helpers.nearcopy`, shifts up to
    :data:`DIVERSITY_SHIFT` pixels) among ``images`` (N, 1, 28, 28): 0 when all are one digit moved
    by up to 2 pixels each way (two such copies differ by up to 4) or changed in brightness."""
    from .nearcopy import pairwise_shift_distance, standardise

    n = len(images)
    if n < 2:
        return 0.0
    d = pairwise_shift_distance(standardise(images), DIVERSITY_SHIFT)  # (N, N)
    return float(d.sum() / (n * (n - 1)))


def _describe(samples: torch.Tensor, refs: torch.Tensor, shifts: torch.Tensor) -> list[str]:
    """How each near-copy differs from its known digit: samples and refs (n, 1, 28, 28) in [-1, 1],
    shifts (n, 2) as matched. One of the keys of :data:`_KIND_WORDS`."""
    from .nearcopy import SIZE

    n = len(samples)
    if n == 0:
        return []
    grid = torch.arange(SIZE * SIZE).reshape(SIZE, SIZE)
    aligned = torch.stack([samples[i].flatten()[torch.roll(grid, (int(shifts[i, 0]), int(shifts[i, 1])),
                                                           dims=(0, 1)).flatten()] for i in range(n)])  # (n, 784)
    ref = refs.reshape(n, -1)
    diff = (aligned - ref).abs()
    big = diff > 0.5
    rc = ref - ref.mean(1, keepdim=True)
    p = (rc * aligned).sum(1, keepdim=True) / (rc ** 2).sum(1, keepdim=True).clamp(min=1e-8)
    fit = p * rc + aligned.mean(1, keepdim=True)  # least-squares affine fit sample ~ p ref + q
    out = []
    for i in range(n):
        if float(diff[i].max()) < 0.1:
            out.append("exact" if not bool(shifts[i].any()) else "shifted")
        elif int(big[i].sum()) <= 20 and float(diff[i].masked_fill(big[i], 0).max()) < 0.1:
            out.append("pixels")
        elif float((fit[i] - aligned[i]).abs().max()) < 0.1:
            out.append("intensity")
        else:
            out.append("noise")
    return out


_KIND_WORDS = {"exact": "identical", "shifted": "shifted by 1-2 pixels", "pixels": "a few pixels changed",
               "intensity": "brightness/contrast changed", "noise": "noise or small changes added"}


@torch.inference_mode()
def integrity_check(x: torch.Tensor, labels: torch.Tensor) -> dict:
    """Near-copies of known digits and within-class diversity for samples ``x`` (N, 1, 28, 28) in
    [-1, 1] (already range-mapped) with requested ``labels`` (N,). Uses only MNIST and the samples."""
    from .nearcopy import nearest_known, reference_index

    t0 = time.perf_counter()
    index = reference_index()
    build_s = time.perf_counter() - t0
    r = nearest_known(x, NEAR_COPY_THRESHOLD, index=index)
    d = r["distance"]  # (N,)
    near = d < NEAR_COPY_THRESHOLD
    order = torch.argsort(d)
    kinds = {k: 0 for k in _KIND_WORDS}
    rows = near.nonzero().flatten()
    refs_img = index.images(r["ref"][rows])  # (n, 1, 28, 28)
    exact = torch.zeros(len(x), dtype=torch.bool)
    kind_of = {}
    for j, (i, kind) in enumerate(zip(rows.tolist(), _describe(x[rows], refs_img, r["shift"][rows]))):
        kind_of[i] = kind
        kinds[kind] += 1
        exact[i] = kind == "exact" and float((x[i] - refs_img[j]).pow(2).mean().sqrt()) < COPY_THRESHOLD
    closest = []
    for i in order[:N_CLOSEST].tolist():
        ref_row = int(r["ref"][i])
        closest.append({"sample": i, "label": int(labels[i]), "split": index.SPLITS[int(r["split"][i])],
                        "index": int(r["index"][i]), "ref_label": int(index.labels[ref_row]),
                        "distance": round(float(d[i]), 4), "shift": [int(v) for v in r["shift"][i]],
                        "near_copy": bool(near[i]), "kind": kind_of.get(i)})
    ratios = []
    for k in range(N_CLASSES):
        sel = x[labels == k]
        ratios.append(shift_tolerant_diversity(sel) / REAL_DIVERSITY[k] if len(sel) > 1 else float("nan"))
    finite = d[torch.isfinite(d)]
    qs = {"min": 0.0, "q1%": 0.01, "q5%": 0.05, "median": 0.5}
    return {
        "near": near, "distance": d,
        "near_copy_fraction": float(near.float().mean()) if len(x) else 0.0,
        "copy_fraction": float(exact.float().mean()) if len(x) else 0.0,
        "near_copies": {"train": int((near & (r["split"] == 0)).sum()), "test": int((near & (r["split"] == 1)).sum()),
                        **kinds},
        "closest_pairs": closest,
        "nn_distance": {k: round(float(torch.quantile(finite, q)), 4) for k, q in qs.items()} if len(finite) else {},
        "nn_exact_below": NEAR_COPY_THRESHOLD,
        "class_diversity_ratio": ratios,
        "seconds": round(time.perf_counter() - t0, 3), "index_seconds": round(build_s, 3),
        "evaluated_per_sample": round(float(r["evaluated"].float().mean()), 1) if len(x) else 0.0,
    }


# --------------------------------------------------------------------------- report

def _json_safe(v):
    """NaN/inf -> None, tuples -> lists, anything else unknown -> str (strict JSON)."""
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if v is None or isinstance(v, (bool, int, str)):
        return v
    return str(v)


@dataclass
class GateReport:
    """Everything the gate measured. ``passed`` is the verdict; ``messages`` say why."""

    passed: bool
    accuracy: float
    ci_low: float
    ci_high: float
    n: int
    per_class: list[float]
    confusion: list[list[int]]
    copy_fraction: float
    copies_ok: bool
    class_diversity_ratio: list[float]
    diversity_ok: bool
    range_mapped: bool
    w: float
    seed: int
    device: str
    seconds: float
    messages: list[str] = field(default_factory=list)
    model_path: str | None = None
    error: str | None = None
    thresholds: dict = field(default_factory=dict)
    near_copy_fraction: float = 0.0
    near_copies: dict = field(default_factory=dict)  # counts by split (train/test) and by kind of change
    closest_pairs: list = field(default_factory=list)  # the N_CLOSEST closest (sample, known digit) pairs
    nn_distance: dict = field(default_factory=dict)  # quantiles of each sample's distance to its nearest known digit
    integrity_seconds: float = 0.0
    inspection: dict = field(default_factory=dict)  # helpers.export.inspect_export (run_gate only)
    samples: Any = field(default=None, repr=False, compare=False)  # (N, 1, 28, 28) in [-1, 1]
    labels: Any = field(default=None, repr=False, compare=False)  # (N,) requested classes
    preds: Any = field(default=None, repr=False, compare=False)  # (N,) judge's classes

    @property
    def integrity_ok(self) -> bool:
        return self.copies_ok and self.diversity_ok

    def to_dict(self) -> dict:
        """JSON-ready fields (the sample tensors are left out)."""
        from dataclasses import fields

        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("samples", "labels", "preds")}
        d["integrity_ok"] = self.integrity_ok
        return _json_safe(d)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def summary(self) -> str:
        """The report as text: verdict, accuracy with its interval, per class, integrity."""
        head = "PASSED" if self.passed else "FAILED"
        lines = [f"Gate {head}: accuracy {self.accuracy:.1%} on {self.n} digits "
                 f"(95% CI {self.ci_low:.1%}-{self.ci_high:.1%}; pass mark {PASS_ACCURACY:.0%}); "
                 f"w = {self.w:g}, seed {self.seed}, {self.device}, {self.seconds:.0f} s"]
        if self.per_class:
            lines.append("per class: " + "  ".join(f"{k}:{a:.0%}" for k, a in enumerate(self.per_class)))
        if self.error is None:
            lines.append(f"integrity: near-copies of MNIST digits {self.near_copy_fraction:.1%} "
                         f"(exact copies {self.copy_fraction:.1%}; max {MAX_COPY_FRACTION:.0%}) "
                         f"{'ok' if self.copies_ok else 'FAILED'}; "
                         f"diversity vs real digits min {min(self.class_diversity_ratio, default=0):.2f} "
                         f"(min {COLLAPSE_RATIO}) {'ok' if self.diversity_ok else 'FAILED'}")
        lines += [f"- {m}" for m in self.messages]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def misclassified_figure(self, max_images: int = 40):
        """A grid of misclassified samples titled "asked -> judged" (or a note that there are none)."""
        from .plot import show_images

        if self.samples is None or self.preds is None:
            raise ValueError("this report holds no samples (loaded from JSON?)")
        wrong = (self.preds != self.labels).nonzero().flatten()[:max_images]
        if len(wrong) == 0:
            return show_images(self.samples[:10], nrow=10, title="no misclassified digits; first 10 samples",
                               labels=[f"{int(k)}" for k in self.labels[:10]])
        titles = [f"{int(self.labels[i])}\u2192{int(self.preds[i])}" for i in wrong]
        return show_images(self.samples[wrong], nrow=10, labels=titles,
                           title=f"misclassified: {int((self.preds != self.labels).sum())} of {self.n} "
                                 "(asked \u2192 judged)")

    def confusion_figure(self):
        from .data import MNIST_CLASSES
        from .plot import confusion_matrix_plot

        return confusion_matrix_plot(torch.tensor(self.confusion), MNIST_CLASSES,
                                     title=f"gate confusion matrix (accuracy {self.accuracy:.1%})")

    def closest_pairs_figure(self, n: int = 10):
        """The ``n`` samples closest to a known MNIST digit (top row) above that digit (bottom row),
        the known digit shifted as matched; titled with the distance (near-copy threshold
        NEAR_COPY_THRESHOLD) and which MNIST digit it is."""
        from .nearcopy import reference_index
        from .plot import show_images

        if self.samples is None:
            raise ValueError("this report holds no samples (loaded from JSON?)")
        pairs = self.closest_pairs[:n]
        if not pairs:
            raise ValueError("the report has no closest pairs")
        index = reference_index()
        rows = []
        for p in pairs:
            hit = ((index.split == index.SPLITS.index(p["split"])) & (index.index == p["index"])).nonzero()
            ref = index.images(hit.flatten()[:1])[0]
            dy, dx = p["shift"]
            rows.append(torch.roll(ref, (-dy, -dx), dims=(1, 2)))  # the known digit as matched
        top = self.samples[[p["sample"] for p in pairs]]
        images = torch.cat([top, torch.stack(rows)])
        titles = ([f"d={p['distance']:.3f}" for p in pairs]
                  + [f"{p['split']} #{p['index']}" for p in pairs])
        return show_images(images, nrow=len(pairs), labels=titles,
                           title=f"closest samples (top) and known MNIST digits (bottom); near-copy below "
                                 f"{NEAR_COPY_THRESHOLD}: {self.near_copy_fraction:.1%} of samples")

    def show(self) -> None:
        """Print the summary and draw the confusion matrix and the misclassified grid."""
        print(self.summary())
        if self.samples is not None:
            import matplotlib.pyplot as plt

            for fig in (self.confusion_figure(), self.misclassified_figure(), self.closest_pairs_figure()):
                plt.show() if plt.isinteractive() else None
                try:
                    from IPython.display import display

                    display(fig)
                except Exception:
                    pass


# --------------------------------------------------------------------------- the gate

def generate(exported, n_per_class: int = N_PER_CLASS, *, seed: int = GRADER_SEED, w: float | None = None,
             steps: int = GATE_DDIM_STEPS, device=None, batch: int = GATE_BATCH, progress: bool = True,
             sampler: str = "ddim"):
    """Draw ``n_per_class`` digits of every class from an :class:`~helpers.export.ExportedModel`.

    Returns ``(samples (N, C, H, W) clamped to [-1, 1] on the CPU, labels (N,))``, classes in
    blocks (0 x n, 1 x n, ...). The starting noise (and DDPM's step noise) comes from one CPU
    generator seeded with ``seed`` and is drawn batch by batch in a fixed order.
    ``sampler="ddpm"`` runs all T ancestral steps instead (benchmarks only).
    """
    from tqdm.auto import tqdm

    from .ddpm import ddim_sample, p_sample_loop

    device = torch.device(device or "cpu")
    exported.to(device)
    K = exported.n_classes
    labels = torch.arange(K).repeat_interleave(n_per_class)  # (N,)
    g = torch.Generator().manual_seed(int(seed))
    out = []
    chunks = list(range(0, len(labels), batch))
    for i in tqdm(chunks, desc=f"gate: sampling {len(labels)} digits", disable=not progress, leave=False):
        lab = labels[i:i + batch].to(device)
        shape = (len(lab), *exported.image_shape)
        eps_fn = exported.eps_fn(lab, w)
        if sampler == "ddpm":
            x = p_sample_loop(eps_fn, shape, exported.sched, device=device, generator=g, progress=False)
        else:
            x = ddim_sample(eps_fn, shape, exported.sched, steps=steps, device=device, generator=g,
                            clip_x0=True, progress=False)
        out.append(x.float().cpu())
    return torch.cat(out), labels


def _to_signed_range(samples: torch.Tensor, declared) -> tuple[torch.Tensor, bool, str | None]:
    lo, hi = (declared or (-1.0, 1.0))
    if (lo, hi) == (0.0, 1.0):
        return (samples * 2 - 1).clamp(-1, 1), True, "the export declares pixel_range [0, 1]: mapped x -> 2x - 1"
    med = float(samples.median())
    if med > -0.5:
        return ((samples * 2 - 1).clamp(-1, 1), True,
                f"the median pixel is {med:.2f} (expected about -1 for [-1, 1] digits on a black background): "
                "treated the samples as [0, 1] images and mapped x -> 2x - 1")
    return samples.clamp(-1, 1), False, None


def evaluate_samples(samples: torch.Tensor, labels: torch.Tensor, *, pixel_range=(-1.0, 1.0), w: float = 0.0,
                     seed: int = GRADER_SEED, device: str = "cpu", seconds: float = 0.0,
                     model_path: str | None = None, judge_device=None) -> GateReport:
    """Judge, check integrity and decide: the part of the gate after sampling (also used on
    arbitrary image sets, e.g. real test digits in the tests)."""
    from .judge import judge_predict, load_judge

    t0 = time.perf_counter()
    messages: list[str] = []
    x, mapped, note = _to_signed_range(samples.detach().float().cpu(), pixel_range)
    if note:
        messages.append(note)
    labels = labels.cpu().long()
    judge = load_judge("mnist", judge_device or "cpu")
    preds = judge_predict(x.to(judge_device or "cpu"), model=judge).cpu()  # (N,)
    n = len(labels)
    correct = int((preds == labels).sum())
    acc = correct / n if n else 0.0
    lo, hi = wilson_interval(correct, n)
    conf = torch.zeros(N_CLASSES, N_CLASSES, dtype=torch.long)
    conf.index_put_((labels, preds), torch.ones(n, dtype=torch.long), accumulate=True)
    per_class = [float(conf[k, k] / conf[k].sum()) if conf[k].sum() else float("nan") for k in range(N_CLASSES)]

    integ = integrity_check(x, labels)
    copy_fraction, near_fraction = integ["copy_fraction"], integ["near_copy_fraction"]
    copies_ok = near_fraction <= MAX_COPY_FRACTION
    ratios = integ["class_diversity_ratio"]
    collapsed = [k for k, r in enumerate(ratios) if r == r and r < COLLAPSE_RATIO]
    diversity_ok = not collapsed

    acc_ok = acc >= PASS_ACCURACY
    if not acc_ok:
        worst = sorted(range(N_CLASSES), key=lambda k: per_class[k])[:3]
        messages.append(f"accuracy {acc:.1%} is below the pass mark {PASS_ACCURACY:.0%}; weakest classes: "
                        + ", ".join(f"{k} ({per_class[k]:.0%})" for k in worst))
    if not copies_ok:
        nc = integ["near_copies"]
        where = " and ".join(f"{nc[k]} of the MNIST {k} set" for k in ("train", "test") if nc[k])
        how = ", ".join(f"{nc[k]} {w}" for k, w in _KIND_WORDS.items() if nc[k])
        what = ("copies of MNIST digits" if nc["exact"] == int(integ["near"].sum())
                else "near-copies of MNIST digits")
        messages.append(f"{near_fraction:.0%} of the samples are {what} ({where}; {how}): closer than "
                        f"{NEAR_COPY_THRESHOLD} to a known digit under a distance blind to shifts of up to 2 pixels, "
                        "a few changed pixels, light noise and brightness/contrast, where real unseen digits and "
                        "honest models' samples almost never are. The model must generate digits, not return "
                        "stored ones (report.closest_pairs_figure() shows them)")
    if collapsed:
        messages.append("diversity collapsed for class(es) " + ", ".join(
            f"{k} ({ratios[k]:.2f} of real)" for k in collapsed)
            + f": the samples of a class are nearly the same digit, up to small shifts and brightness "
              f"(need >= {COLLAPSE_RATIO} of the diversity of real digits under the same shift-tolerant distance)")
    passed = acc_ok and copies_ok and diversity_ok
    if passed:
        messages.append(f"passed: {acc:.1%} >= {PASS_ACCURACY:.0%}, no copies of known digits, diverse samples")
    return GateReport(
        passed=passed, accuracy=acc, ci_low=lo, ci_high=hi, n=n, per_class=per_class, confusion=conf.tolist(),
        copy_fraction=copy_fraction, copies_ok=copies_ok, class_diversity_ratio=ratios, diversity_ok=diversity_ok,
        range_mapped=mapped, w=float(w), seed=int(seed), device=str(device),
        seconds=seconds + time.perf_counter() - t0, messages=messages, model_path=model_path,
        thresholds=dict(pass_accuracy=PASS_ACCURACY, copy_threshold=COPY_THRESHOLD,
                        near_copy_threshold=NEAR_COPY_THRESHOLD, max_copy_fraction=MAX_COPY_FRACTION,
                        collapse_ratio=COLLAPSE_RATIO, ddim_steps=GATE_DDIM_STEPS,
                        n_per_class=n // N_CLASSES if n else 0),
        near_copy_fraction=near_fraction, near_copies=integ["near_copies"], closest_pairs=integ["closest_pairs"],
        nn_distance=integ["nn_distance"], integrity_seconds=integ["seconds"],
        samples=x, labels=labels, preds=preds)


def _failed(path, seed, device, t0, msg: str) -> GateReport:
    return GateReport(passed=False, accuracy=0.0, ci_low=0.0, ci_high=0.0, n=0, per_class=[], confusion=[],
                      copy_fraction=0.0, copies_ok=False, class_diversity_ratio=[], diversity_ok=False,
                      range_mapped=False, w=float("nan"), seed=int(seed), device=str(device),
                      seconds=time.perf_counter() - t0, messages=[msg], model_path=str(path), error=msg)


def run_gate(model_path: str | Path, *, seed: int = GRADER_SEED, n_per_class: int = N_PER_CLASS, device=None,
             progress: bool = True) -> GateReport:
    """Load an exported model, draw ``n_per_class`` digits per class and judge them.

    Never raises for a bad hand-in: a missing or broken file, a network that crashes or returns
    the wrong shape, or an out-of-range w gives a failed report whose ``error`` says why.
    ``device`` defaults to the CPU (the reference for determinism; pass "cuda" to go faster).
    """
    from .export import inspect_export, load_exported

    t0 = time.perf_counter()
    device = torch.device(device or "cpu")
    inspection = inspect_export(model_path)  # structure only: nothing of the file runs or is unpickled
    if not inspection["ok"]:
        what = "could not load the model" if not Path(model_path).is_file() else "the hand-in was refused"
        report = _failed(model_path, seed, device, t0, f"{what}: {inspection['reason']}")
        report.inspection = inspection
        return report
    try:
        exported = load_exported(model_path)
    except Exception as exc:
        return _failed(model_path, seed, device, t0, f"could not load the model: {exc}")
    w = exported.w
    if not 0.0 <= w <= MAX_W:
        return _failed(model_path, seed, device, t0, f"guidance scale w = {w} is outside [0, {MAX_W:g}]")
    if exported.image_shape != (1, 28, 28) or exported.n_classes != N_CLASSES:
        return _failed(model_path, seed, device, t0,
                       f"expected a 10-class model of 1x28x28 digits, got {exported.n_classes} classes, "
                       f"image shape {exported.image_shape}")
    try:
        samples, labels = generate(exported, n_per_class, seed=seed, device=device, progress=progress)
    except Exception as exc:
        return _failed(model_path, seed, device, t0, f"sampling failed: {type(exc).__name__}: {exc}")
    if not torch.isfinite(samples).all():
        return _failed(model_path, seed, device, t0, "the samples contain NaN or inf")
    report = evaluate_samples(samples, labels, pixel_range=exported.config.get("pixel_range"), w=w, seed=seed,
                              device=str(device), seconds=time.perf_counter() - t0, model_path=str(model_path))
    report.inspection = inspection
    return report


# --------------------------------------------------------------------------- calibration and CLI

def calibrate(radius: float = 0.12, progress=print) -> dict:
    """Re-measure :data:`CALIBRATION` on real MNIST (about a minute on a 2-core CPU): the
    shift-tolerant distance from every test digit to its nearest training digit and from every
    training digit to its nearest test digit (held-apart real digits; exact below ``radius``), how
    many fall below :data:`NEAR_COPY_THRESHOLD` (MNIST's own near-duplicates), and the shift-tolerant
    diversity of real digits per class (first 100 test digits of each; and of the next four groups
    of 100, divided by the first: how much real digits vary around 1.0)."""
    from .data import load_mnist
    from .nearcopy import ReferenceIndex, nearest_known

    x_tr, y_tr = load_mnist("train")
    x_te, y_te = load_mnist("test")
    qs = {"min": 0.0, "q0.01%": 0.0001, "q0.1%": 0.001, "q1%": 0.01, "q5%": 0.05, "median": 0.5}
    out: dict = {}
    for name, (q, ref) in {"test_to_train": (x_te, (x_tr, y_tr)), "train_to_test": (x_tr, (x_te, y_te))}.items():
        t0 = time.perf_counter()
        index = ReferenceIndex.build([ref])
        r = nearest_known(q, radius, index=index)
        d = r["distance"]
        below = (d < NEAR_COPY_THRESHOLD).nonzero().flatten()
        out[name] = {**{k: round(float(torch.quantile(d, v)), 4) for k, v in qs.items()}, "n": len(d),
                     "below_threshold": len(below), "fraction_below": round(len(below) / len(d), 5),
                     "pairs_below": [[int(i), int(r["index"][i]), round(float(d[i]), 4)] for i in below[:20]],
                     "seconds": round(time.perf_counter() - t0, 1)}
        progress(f"{name}: {out[name]}")
    real = [shift_tolerant_diversity(x_te[y_te == k][:100]) for k in range(N_CLASSES)]
    out["real_class_diversity"] = [round(v, 4) for v in real]
    others = [[shift_tolerant_diversity(x_te[y_te == k][100 * g:100 * (g + 1)]) / real[k] for k in range(N_CLASSES)]
              for g in range(1, 5)]
    out["real_group_ratio_min"] = round(min(min(r) for r in others), 3)
    out["real_group_ratio_max"] = round(max(max(r) for r in others), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.gate",
                                     description="Run the notebook 06 assessment gate on an exported model.")
    parser.add_argument("model", nargs="?", help="the exported file (assessment_model.pt2)")
    parser.add_argument("--json", default=None, help="where to write the report (default: <model>.gate.json)")
    parser.add_argument("--seed", type=int, default=GRADER_SEED)
    parser.add_argument("--n-per-class", type=int, default=N_PER_CLASS)
    parser.add_argument("--device", default=None, help="cpu (default, the reference) or cuda")
    parser.add_argument("--figures", default=None,
                        help="folder for confusion.png, misclassified.png and closest.png")
    parser.add_argument("--calibrate", action="store_true",
                        help="re-measure the integrity calibration on real MNIST and exit (honest models: "
                             "python -m bench.gate_integrity)")
    args = parser.parse_args(argv)
    if args.calibrate:
        print(json.dumps({"calibration": calibrate(progress=lambda m: print(m, file=sys.stderr)),
                          "thresholds": {"near_copy_threshold": NEAR_COPY_THRESHOLD,
                                         "max_copy_fraction": MAX_COPY_FRACTION, "collapse_ratio": COLLAPSE_RATIO,
                                         "shift": 2, "diversity_shift": DIVERSITY_SHIFT}}, indent=2))
        return 0
    if not args.model:
        parser.error("give the exported model file")
    report = run_gate(args.model, seed=args.seed, n_per_class=args.n_per_class, device=args.device)
    print(report.summary())
    out = Path(args.json) if args.json else Path(str(args.model) + ".gate.json")
    report.to_json(out)
    print(f"report written to {out}")
    if args.figures and report.samples is not None:
        folder = Path(args.figures)
        folder.mkdir(parents=True, exist_ok=True)
        report.confusion_figure().savefig(folder / "confusion.png", bbox_inches="tight")
        report.misclassified_figure().savefig(folder / "misclassified.png", bbox_inches="tight")
        report.closest_pairs_figure().savefig(folder / "closest.png", bbox_inches="tight")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
