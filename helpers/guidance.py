"""Notebook 04's reference code for classifier-free guidance (Ho & Salimans 2022): the
conditional training loss with context dropout, a guidance sweep (samples per class for several
guidance scales w, sampled with DDIM, Song et al. 2021) and the measurements behind the
accuracy-vs-w and diversity-vs-w curves.

Definitions used in the notebook and its walkthrough:

* **accuracy** at w: the fraction of samples generated for class k that the Fashion-MNIST judge
  (:mod:`helpers.judge`) labels k, over all classes;
* **diversity** at w: the mean pairwise RMS pixel distance between samples of the same class,
  ``sqrt(mean_pixels (x_i - x_j)^2)`` in the [-1, 1] range, averaged over the pairs i < j of a
  class and then over classes (0 = every sample of a class is identical; walkthrough 04 gives the
  value of the real test images);
* **saturation** at w: the fraction of pixels clipped at the white end, ``x > 0.98`` (Fashion-MNIST's
  background already sits at the black end, -1); for colour photos both ends, ``|x| > 0.98``. It
  grows with w: the "oversaturation" of high guidance.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .ddpm import cfg_eps_fn, context_mask, ddim_sample, noise_loss
from .schedules import Schedule

__all__ = ["one_hot", "cfg_loss", "guidance_sweep", "sweep_labels", "class_diversity", "saturation",
           "guidance_metrics"]


def one_hot(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Integer labels (B,) -> float one-hot context (B, n_classes)."""
    return F.one_hot(labels.long(), n_classes).float()


def cfg_loss(model, x0: torch.Tensor, labels: torch.Tensor, sched: Schedule, n_classes: int,
             drop_prob: float = 0.1, generator: torch.Generator | None = None) -> torch.Tensor:
    """The DDPM noise loss of a conditional model whose context is dropped with ``drop_prob``
    (one network, trained both conditionally and unconditionally)."""
    c = one_hot(labels, n_classes).to(x0.device)  # (B, n_classes)
    mask = context_mask(x0.shape[0], drop_prob, device=x0.device, generator=generator)  # (B, 1)
    return noise_loss(lambda x, t: model(x, t, c, mask), x0, sched, generator=generator)


def sweep_labels(n_classes: int, n_per_class: int) -> torch.Tensor:
    """[0]*n_per_class + [1]*n_per_class + ...: (n_classes * n_per_class,) int64."""
    return torch.arange(n_classes).repeat_interleave(n_per_class)


def guidance_sweep(model, ws: Sequence[float], n_classes: int, n_per_class: int, img_shape: Sequence[int],
                   sched: Schedule, steps: int = 25, seed: int = 0, make_eps_fn: Callable = cfg_eps_fn,
                   device=None, progress: bool = False) -> torch.Tensor:
    """Samples for every guidance scale and class: (len(ws), n_classes, n_per_class, C, H, W) in [-1, 1].

    For each w: the context is the one-hot of :func:`sweep_labels`, the starting noise comes from
    a fresh ``torch.Generator().manual_seed(seed)`` (the same noise for every w, so the rows differ
    only by w), and the sampler is ``ddim_sample(make_eps_fn(model, c, w), ..., clip_x0=True)`` (eta = 0;
    the predicted clean image is clipped to [-1, 1] at every step, "static thresholding", without
    which a small model's few-step DDIM samples blow up to pure black and white).
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    c = one_hot(sweep_labels(n_classes, n_per_class), n_classes).to(device)  # (N, n_classes)
    n = n_classes * n_per_class
    rows = []
    for w in ws:
        g = torch.Generator().manual_seed(seed)
        x = ddim_sample(make_eps_fn(model, c, float(w)), (n, *img_shape), sched, steps=steps, generator=g,
                        device=device, clip_x0=True, progress=progress)  # (N, C, H, W)
        rows.append(x.cpu().reshape(n_classes, n_per_class, *img_shape))
    return torch.stack(rows)  # (len(ws), n_classes, n_per_class, C, H, W)


def class_diversity(images: torch.Tensor) -> float:
    """Mean pairwise RMS pixel distance within each class, averaged over classes.

    ``images``: (n_classes, n_per_class, C, H, W) with n_per_class >= 2; one class of N images is
    ``images[None]``.
    """
    k, n = images.shape[:2]
    if n < 2:
        raise ValueError("need at least 2 samples per class to measure diversity")
    flat = images.detach().cpu().reshape(k, n, -1).double()  # (k, n, D); on the CPU: MPS has no float64
    d = torch.cdist(flat, flat) / flat.shape[-1] ** 0.5  # (k, n, n) RMS distances
    iu = torch.triu_indices(n, n, offset=1)
    return d[:, iu[0], iu[1]].mean().item()


def saturation(images: torch.Tensor, threshold: float = 0.98, ends: str = "both") -> float:
    """Fraction of pixel values at the ends of [-1, 1]: ``|x| > threshold`` (``ends="both"``) or
    ``x > threshold`` (``ends="high"``, for images on a black background)."""
    if ends not in ("both", "high"):
        raise ValueError(f"ends must be 'both' or 'high', got {ends!r}")
    x = images.abs() if ends == "both" else images
    return (x > threshold).cpu().double().mean().item()


def guidance_metrics(sweep: torch.Tensor, ws: Sequence[float], dataset: str = "fashion",
                     judge=None) -> dict[str, list[float]]:
    """Accuracy, diversity and saturation per guidance scale for a :func:`guidance_sweep` result
    (grey-scale 28x28 or 32x32 samples). Returns ``{"w": [...], "accuracy": [...], ...}``."""
    from .judge import judge_accuracy

    n_w, k, n = sweep.shape[:3]
    labels = sweep_labels(k, n)
    out: dict[str, list[float]] = {"w": [float(w) for w in ws], "accuracy": [], "diversity": [], "saturation": []}
    for i in range(n_w):
        x = sweep[i].reshape(k * n, *sweep.shape[3:])  # (k * n, C, H, W)
        out["accuracy"].append(judge_accuracy(x, labels, dataset, model=judge))
        out["diversity"].append(class_diversity(sweep[i]))
        out["saturation"].append(saturation(sweep[i], ends="high"))
    return out
