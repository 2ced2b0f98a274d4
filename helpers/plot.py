"""Plots for the course: image grids, a forward-noising strip, schedule curves, sampling
trajectories (a static strip and an animated GIF), a guidance-scale x class grid, a confusion
matrix, loss curves, a similarity heat-map with images above its columns and titled rows of
images (notebook 05).

References for what is drawn: the forward process q(x_t | x_0) and the linear schedule of Ho
et al. 2020 (DDPM); the linear-vs-cosine alpha-bar comparison of Nichol & Dhariwal 2021
(Improved DDPM); the signal-to-noise ratio SNR(t) = alpha-bar_t / (1 - alpha-bar_t) of Kingma
et al. 2021 (Variational Diffusion Models); guidance-strength grids as in Ho & Salimans 2022
(Classifier-Free Diffusion Guidance); the image-text similarity matrix of Radford et al. 2021
(CLIP, Figure 1).

matplotlib only. Every function returns its Figure (``trajectory_gif`` returns the GIF's path)
and works headless (Agg). Images are (N, C, H, W) tensors or arrays with C = 1 or 3, in
``value_range`` ((-1, 1) by default); values outside it are clipped for display.

In Jupyter a figure is drawn once, at the end of the cell, even when it is also the cell's last
value (no double plots); an old figure shown again in a later cell (``fig``) is redrawn.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

__all__ = [
    "show_images", "image_grid", "noising_strip", "plot_schedules", "trajectory_gif",
    "show_trajectory", "guidance_grid", "confusion_matrix_plot", "loss_curve", "similarity_heatmap", "image_rows",
]

ValueRange = tuple[float, float]


class CourseFigure(Figure):
    """A Figure that Jupyter draws once, also when it is a cell's value.

    pyplot's inline backend draws every open figure at the end of a cell, so a figure returned
    as the cell's value would appear twice. Being displayed (as a value or by ``display``)
    takes the figure out of pyplot first; IPython's usual formatters then draw it once.
    """

    def _repr_mimebundle_(self, include=None, exclude=None):
        plt.close(self)
        return None  # nothing extra: IPython's registered Figure formatters draw it


def _subplots(nrows: int, ncols: int, figsize, **kw):
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, FigureClass=CourseFigure, **kw)
    return fig, axes


# --------------------------------------------------------------------------- images

def _to_numpy(images, value_range: ValueRange = (-1, 1)) -> np.ndarray:
    """(N, C, H, W) tensor/array (or (C, H, W), (H, W)) -> (N, H, W, C) float array in [0, 1]."""
    if torch.is_tensor(images):
        images = images.detach().float().cpu().numpy()
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape (N, C, H, W) with C = 1 or 3, got {tuple(x.shape)}")
    lo, hi = value_range
    x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return x.transpose(0, 2, 3, 1)  # (N, H, W, C)


def _imshow(ax, img: np.ndarray) -> None:
    """Draw one (H, W, C) image in [0, 1] without ticks."""
    if img.shape[-1] == 1:
        ax.imshow(img[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(img, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(images, nrow: int = 8, pad: int = 2, value_range: ValueRange = (-1, 1),
               pad_value: float = 1.0) -> np.ndarray:
    """Tile N images into one (rows*H, nrow*W, C) array in [0, 1] (like torchvision's make_grid)."""
    x = _to_numpy(images, value_range)  # (N, H, W, C)
    n, h, w, c = x.shape
    ncol = min(nrow, n)
    nrows = math.ceil(n / ncol)
    grid = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad, c), pad_value, dtype=np.float32)
    for i in range(n):
        r, k = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[top:top + h, left:left + w] = x[i]
    return grid


def show_images(images, nrow: int = 8, title: str | None = None, labels: Sequence | None = None,
                value_range: ValueRange = (-1, 1), size: float = 1.2) -> Figure:
    """A grid of images, ``nrow`` per row, one Axes each, with optional per-image labels.

    Args:
        images: (N, C, H, W) with C = 1 or 3 (a single (C, H, W) image also works).
        nrow: images per row.
        title: figure title.
        labels: N labels (str or int) written above the images.
        value_range: (low, high) mapped to black/white.
        size: inches per image.
    """
    x = _to_numpy(images, value_range)  # (N, H, W, C)
    n = len(x)
    if labels is not None and len(labels) != n:
        raise ValueError(f"{n} images but {len(labels)} labels")
    ncol = min(nrow, n)
    nrows = math.ceil(n / ncol)
    fig, axes = _subplots(nrows, ncol, figsize=(size * ncol, size * nrows + (0.3 if title else 0)))
    for i, ax in enumerate(axes.flat):
        if i < n:
            _imshow(ax, x[i])
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=8)
        else:
            ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def noising_strip(x0, sched, ts: Sequence[int] | None = None, noise=None, seed: int = 0,
                  value_range: ValueRange = (-1, 1), size: float = 1.4) -> Figure:
    """One image noised by the forward process q(x_t | x_0) at several timesteps, left to right.

    The first panel is x_0; then ``q_sample(x0, t, sched, noise)`` for each t in ``ts`` with the
    SAME noise, so the strip shows the signal fading (default ``ts``: 8 steps from 0 to T-1).
    Panels are titled with t and alpha-bar_t.
    """
    from .ddpm import q_sample

    x0 = torch.as_tensor(x0).float()
    if x0.ndim == 4:
        x0 = x0[:1]
    elif x0.ndim == 3:
        x0 = x0[None]  # (1, C, H, W)
    else:
        raise ValueError(f"x0 must be (C, H, W) or (1, C, H, W), got {tuple(x0.shape)}")
    x0 = x0.cpu()
    if ts is None:
        ts = np.linspace(0, sched.T - 1, 8).round().astype(int).tolist()
    ts = [int(t) for t in ts]
    if noise is None:
        g = torch.Generator().manual_seed(seed)
        noise = torch.randn(x0.shape, generator=g)  # (1, C, H, W)
    noise = torch.as_tensor(noise).float().reshape(x0.shape).cpu()
    k = len(ts)
    t = torch.tensor(ts, dtype=torch.long)  # (k,)
    xt = q_sample(x0.expand(k, -1, -1, -1), t, sched, noise.expand(k, -1, -1, -1))  # (k, C, H, W)

    fig, axes = _subplots(1, k + 1, figsize=(size * (k + 1), size + 0.5))
    ax0 = axes[0, 0]
    _imshow(ax0, _to_numpy(x0, value_range)[0])
    ax0.set_title("$x_0$", fontsize=9)
    abar = sched.alphas_cumprod.detach().cpu()
    for ax, ti, img in zip(axes[0, 1:], ts, _to_numpy(xt, value_range)):
        _imshow(ax, img)
        ax.set_title(f"t={ti}\n$\\bar\\alpha$={float(abar[ti]):.3f}", fontsize=8)
    fig.suptitle("forward noising $q(x_t \\mid x_0)$", fontsize=10)
    fig.tight_layout()
    return fig


def plot_schedules(scheds, title: str | None = None) -> Figure:
    """Compare schedules: betas, alpha-bar and SNR = alpha-bar / (1 - alpha-bar) (log scale) vs t.

    ``scheds`` is ``{name: Schedule}`` (a single Schedule is also accepted).
    """
    if not isinstance(scheds, dict):
        scheds = {"schedule": scheds}
    fig, axes = _subplots(1, 3, figsize=(12, 3.4))
    ax_b, ax_a, ax_s = axes[0]
    for name, s in scheds.items():
        abar = s.alphas_cumprod.detach().cpu().double().numpy()
        t = np.arange(len(abar))
        ax_b.plot(t, s.betas.detach().cpu().numpy(), label=name)
        ax_a.plot(t, abar, label=name)
        ax_s.plot(t, abar / (1 - abar), label=name)
    ax_b.set(title=r"$\beta_t$", xlabel="t", ylabel=r"$\beta_t$")
    ax_a.set(title=r"$\bar\alpha_t = \prod_{s \leq t} (1-\beta_s)$", xlabel="t", ylabel=r"$\bar\alpha_t$")
    ax_s.set(title=r"SNR $= \bar\alpha_t / (1-\bar\alpha_t)$", xlabel="t", ylabel="SNR", yscale="log")
    for ax in (ax_b, ax_a, ax_s):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- trajectories

def _pick_frames(n_frames: int, n: int) -> list[int]:
    """``n`` frame indices evenly spaced from the first to the last (all when fewer)."""
    if n >= n_frames:
        return list(range(n_frames))
    return np.linspace(0, n_frames - 1, n).round().astype(int).tolist()


def show_trajectory(frames: Sequence, n: int = 8, rows: int = 1, titles: Sequence[str] | None = None,
                    value_range: ValueRange = (-1, 1), size: float = 1.3) -> Figure:
    """A static strip of a sampling trajectory: ``n`` frames evenly spaced from the first (noise)
    to the last (the sample), for the first ``rows`` images of the batch.

    ``frames`` is a list of (B, C, H, W) tensors, e.g. from ``p_sample_loop(...,
    return_trajectory=True)``; ``titles`` (one per frame) label the columns (default: frame index).
    """
    idx = _pick_frames(len(frames), n)
    rows = min(rows, len(frames[0]))
    fig, axes = _subplots(rows, len(idx), figsize=(size * len(idx), size * rows + 0.4))
    for c, i in enumerate(idx):
        imgs = _to_numpy(frames[i][:rows], value_range)  # (rows, H, W, C)
        for r in range(rows):
            _imshow(axes[r, c], imgs[r])
        axes[0, c].set_title(titles[i] if titles is not None else f"frame {i}", fontsize=8)
    fig.suptitle("sampling trajectory: noise $\\rightarrow$ sample", fontsize=10)
    fig.tight_layout()
    return fig


def trajectory_gif(frames: Sequence, path, fps: int = 8, nrow: int = 8, titles: Sequence[str] | None = None,
                   value_range: ValueRange = (-1, 1), size: float = 4.0, dpi: int = 80) -> Path:
    """Write a sampling trajectory as an animated GIF, one grid of the batch per frame.

    Args:
        frames: list of (B, C, H, W) tensors (noise first, samples last).
        path: the .gif file to write.
        fps: frames per second.
        nrow: images per row of each grid.
        titles: one title per frame (default "step i/N").
    Returns:
        The path written. Show it in a notebook with ``IPython.display.Image(filename=path)``.
    """
    from matplotlib.animation import FuncAnimation, PillowWriter

    if len(frames) == 0:
        raise ValueError("no frames to animate")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grids = [image_grid(f, nrow=nrow, value_range=value_range) for f in frames]  # each (h, w, C)
    titles = list(titles) if titles is not None else [f"step {i}/{len(frames) - 1}" for i in range(len(frames))]
    gray = grids[0].shape[-1] == 1

    fig = Figure(figsize=(size, size * grids[0].shape[0] / grids[0].shape[1] + 0.4), dpi=dpi)
    ax = fig.add_subplot()
    ax.set_xticks([])
    ax.set_yticks([])
    im = ax.imshow(grids[0][..., 0] if gray else grids[0], cmap="gray" if gray else None,
                   vmin=0.0, vmax=1.0, interpolation="nearest")
    text = ax.set_title(titles[0], fontsize=9)
    fig.tight_layout()

    def draw(i):
        im.set_data(grids[i][..., 0] if gray else grids[i])
        text.set_text(titles[i])
        return im, text

    anim = FuncAnimation(fig, draw, frames=len(grids), blit=False)
    anim.save(str(path), writer=PillowWriter(fps=fps), dpi=dpi)
    return path


# --------------------------------------------------------------------------- guidance, evaluation

def guidance_grid(images, ws: Sequence[float], class_names: Sequence[str],
                  value_range: ValueRange = (-1, 1), size: float = 1.1, title: str | None = None) -> Figure:
    """Samples laid out by guidance scale (rows, labelled "w = ...") and class (columns).

    ``images`` is (len(ws), n_classes, C, H, W), or (len(ws) * n_classes, C, H, W) in row-major
    order (all classes for the first w, then the next w, ...).
    """
    nw, nc = len(ws), len(class_names)
    x = torch.as_tensor(images) if not torch.is_tensor(images) else images
    x = x.reshape(nw * nc, *x.shape[-3:])  # (nw * nc, C, H, W)
    imgs = _to_numpy(x, value_range).reshape(nw, nc, *x.shape[-2:], -1)  # (nw, nc, H, W, C)
    fig, axes = _subplots(nw, nc, figsize=(size * nc + 0.8, size * nw + 0.6))
    for r in range(nw):
        for c in range(nc):
            ax = axes[r, c]
            _imshow(ax, imgs[r, c])
            if r == 0:
                ax.set_title(str(class_names[c]), fontsize=8)
            if c == 0:
                ax.set_ylabel(f"w = {ws[r]:g}", fontsize=9)
    fig.supxlabel("class", fontsize=10)
    fig.supylabel("guidance scale w", fontsize=10)
    fig.suptitle(title or "classifier-free guidance: rows w, columns class", fontsize=10)
    fig.tight_layout()
    return fig


def confusion_matrix_plot(cm, class_names: Sequence[str], normalize: bool = False,
                          title: str | None = None) -> Figure:
    """A confusion-matrix heat map (rows: true class, columns: predicted) with counts in each cell.

    ``normalize=True`` colours and labels each row as fractions of that true class.
    """
    cm = cm.detach().cpu().numpy() if torch.is_tensor(cm) else np.asarray(cm)
    k = len(class_names)
    if cm.shape != (k, k):
        raise ValueError(f"cm must be ({k}, {k}) for {k} classes, got {cm.shape}")
    values = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    fig, axes = _subplots(1, 1, figsize=(0.6 * k + 2.2, 0.6 * k + 1.6))
    ax = axes[0, 0]
    im = ax.imshow(values, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    threshold = values.max() / 2 if values.size else 0
    for i in range(k):
        for j in range(k):
            label = f"{values[i, j]:.2f}" if normalize else f"{int(round(values[i, j]))}"
            ax.text(j, i, label, ha="center", va="center", fontsize=7,
                    color="white" if values[i, j] > threshold else "black")
    ax.set_xticks(range(k), [str(c) for c in class_names], rotation=45, ha="right")
    ax.set_yticks(range(k), [str(c) for c in class_names])
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix")
    fig.tight_layout()
    return fig


def loss_curve(losses: Sequence[float], smooth: int | None = None, log: bool = False,
               title: str | None = None) -> Figure:
    """Per-step losses (faint) and their trailing moving average over ``smooth`` steps
    (default: about 1/50 of the run)."""
    y = np.asarray(losses, dtype=np.float64)
    fig, axes = _subplots(1, 1, figsize=(6, 3.5))
    ax = axes[0, 0]
    steps = np.arange(1, len(y) + 1)
    ax.plot(steps, y, alpha=0.3, lw=0.8, label="loss per step")
    if len(y) > 1:
        w = smooth or max(1, len(y) // 50)
        w = min(w, len(y))
        csum = np.cumsum(np.insert(y, 0, 0.0))
        avg = (csum[w:] - csum[:-w]) / w  # mean of the w steps ending at each step
        ax.plot(steps[w - 1:], avg, lw=1.8, label=f"moving average ({w} steps)")
    ax.set(xlabel="step", ylabel="loss", title=title or "training loss")
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- CLIP (notebook 05)

def similarity_heatmap(sim, row_labels: Sequence[str], col_labels: Sequence[str] | None = None,
                       col_images=None, title: str | None = None, annotate: bool = True,
                       value_range: ValueRange | None = None) -> Figure:
    """A similarity matrix as a heat-map, as in CLIP's Figure 1: ``sim`` (R, C), one row per
    ``row_labels`` (e.g. texts) and one column per ``col_images`` (C, 3, H, W) in [-1, 1] drawn
    above the matrix (or per ``col_labels``). Returns the Figure."""
    sim = torch.as_tensor(sim).detach().float().cpu().numpy()
    R, C = sim.shape
    has_img = col_images is not None
    fig, axes = _subplots(1, 1, figsize=(2.8 + 0.62 * C, 0.9 + 0.42 * R + (0.75 if has_img else 0)))
    ax = axes[0, 0]
    vmin, vmax = value_range if value_range is not None else (float(sim.min()), float(sim.max()))
    im = ax.imshow(sim, cmap="viridis", vmin=vmin, vmax=vmax, extent=(-0.5, C - 0.5, R - 0.5, -0.5),
                   interpolation="nearest")
    if annotate:
        mid = (vmin + vmax) / 2
        for i in range(R):
            for j in range(C):
                ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if sim[i, j] > mid else "white")
    top = -0.5
    if has_img:
        imgs = _to_numpy(col_images)  # (C, H, W, 3)
        for j in range(C):
            ax.imshow(imgs[j], extent=(j - 0.46, j + 0.46, -0.58, -1.5), interpolation="nearest")
        top = -1.55
    ax.set_xlim(-0.5, C - 0.5)
    ax.set_ylim(R - 0.5, top)
    ax.set_yticks(range(R))
    ax.set_yticklabels(list(row_labels), fontsize=8)
    if col_labels is not None:
        ax.set_xticks(range(C))
        ax.set_xticklabels(list(col_labels), fontsize=8, rotation=45, ha="right")
    else:
        ax.set_xticks([])
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label="cosine similarity")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def image_rows(rows, row_titles: Sequence[str], labels: Sequence[Sequence[str]] | None = None,
               size: float = 0.95, value_range: ValueRange = (-1, 1)) -> Figure:
    """Rows of images, each with a title on its left end: ``rows`` (R, n, C, H, W); optional
    per-image ``labels`` (R lists of n strings). Returns the Figure."""
    rows = torch.as_tensor(rows) if not torch.is_tensor(rows) else rows
    R, n = rows.shape[:2]
    # the titles go in a margin on the left: a title above the first image, wider than the image,
    # would make tight_layout shrink every image to a thumbnail
    margin = 0.075 * max((len(str(t)) for t in row_titles), default=0) + 0.2  # inches at fontsize 9
    fig, axes = _subplots(R, n, figsize=(margin + size * n, (size + (0.2 if labels is not None else 0.05)) * R))
    for r in range(R):
        imgs = _to_numpy(rows[r], value_range)  # (n, H, W, C)
        for k in range(n):
            ax = axes[r, k]
            _imshow(ax, imgs[k])
            if labels is not None:
                ax.set_xlabel(str(labels[r][k]), fontsize=7, labelpad=1)
        axes[r, 0].set_ylabel(str(row_titles[r]), rotation=0, ha="right", va="center", fontsize=9, labelpad=6)
    fig.tight_layout(h_pad=0.3, w_pad=0.1)
    return fig
