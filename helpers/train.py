"""Training loop with a tqdm bar, EMA weights, checkpoint save/resume and a loss history.

References:

* Exponential moving average (EMA) of the weights, evaluated instead of the raw weights:
  Polyak & Juditsky 1992 (iterate averaging); used for every DDPM sample in Ho et al. 2020
  ("Denoising Diffusion Probabilistic Models", decay 0.9999) and discussed as an EMA
  half-life in Karras et al. 2022 ("Elucidating the Design Space of Diffusion-Based
  Generative Models"). The optional warm-up ``decay_n = min(decay, (1 + n) / (10 + n))`` is
  the ``num_updates`` rule of TensorFlow's ``tf.train.ExponentialMovingAverage``: early
  averages are not dominated by the random initialisation.
* Adam optimiser: Kingma & Ba 2015.

The loop is plain (no AMP, no schedulers) so students can read all of it::

    history = train(model, loss_fn, loader, steps=2000, ema_decay=0.999, checkpoint="ckpt.pt")
    history.plot()
    with history.ema.average_parameters(model):   # sample with the averaged weights
        ...

A second call with the same ``checkpoint`` continues where the first stopped (``max_seconds``,
``on_step`` or a smaller ``steps``). With a loader that shuffles with its own generator
(:func:`helpers.data.make_loader`) it continues exactly: 50 steps and a resume to 100 give the
same weights as 100 steps straight.
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

__all__ = ["EMA", "History", "train", "move_to", "recalibrate_batchnorm"]


# --------------------------------------------------------------------------- EMA

class EMA:
    """An exponential moving average of a model's weights, kept in a shadow copy.

    After every optimiser step, ``update(model)`` sets, for each parameter,

        shadow = decay * shadow + (1 - decay) * param

    and copies the buffers (e.g. BatchNorm running statistics, which are already averages).
    ``ema.model`` is the averaged model, in eval mode with gradients off; use it directly, copy
    it into a model with ``copy_to(model)``, or swap it in temporarily with
    ``with ema.average_parameters(model): ...``.

    Args:
        model: the model being trained (the shadow starts as a deep copy of it).
        decay: weight of the old average, e.g. 0.999 (a half-life of ~693 steps).
        warmup: use ``min(decay, (1 + n) / (10 + n))`` at update n, so the first averages follow
            the fast-moving weights instead of the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = False):
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.num_updates = 0
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next ``update`` will use."""
        if not self.warmup:
            return self.decay
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the shadow towards ``model``'s current weights by one EMA step."""
        d = self.current_decay()
        params = dict(model.named_parameters())
        avg, new = [], []
        for name, shadow in self.model.named_parameters():
            p = params[name].detach()
            if shadow.dtype.is_floating_point:
                avg.append(shadow)
                new.append(p.to(shadow.device, shadow.dtype))
            else:
                shadow.copy_(p)
        if avg:
            # shadow = d * shadow + (1 - d) * p for all tensors at once: the same arithmetic as a
            # loop of mul_/add_, in a few multi-tensor kernels instead of two launches per tensor
            # (on a GPU each launch costs CPU time, and a U-Net has about a hundred tensors)
            torch._foreach_mul_(avg, d)
            torch._foreach_add_(avg, new, alpha=1 - d)
        buffers = dict(model.named_buffers())
        for name, shadow in self.model.named_buffers():
            shadow.copy_(buffers[name].detach())
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> nn.Module:
        """Overwrite ``model``'s parameters and buffers with the averaged ones; returns ``model``."""
        model.load_state_dict(self.model.state_dict())
        return model

    @contextlib.contextmanager
    def average_parameters(self, model: nn.Module) -> Iterator[nn.Module]:
        """Temporarily load the averaged weights into ``model`` (in eval mode); restore on exit."""
        saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
        was_training = model.training
        self.copy_to(model)
        model.eval()
        try:
            yield model
        finally:
            model.load_state_dict(saved)
            model.train(was_training)

    def to(self, device) -> "EMA":
        self.model.to(device)
        return self

    def state_dict(self) -> dict:
        return {"decay": self.decay, "warmup": self.warmup, "num_updates": self.num_updates,
                "shadow": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.decay = float(state["decay"])
        self.warmup = bool(state["warmup"])
        self.num_updates = int(state["num_updates"])
        self.model.load_state_dict(state["shadow"])

    def __repr__(self) -> str:
        return f"EMA(decay={self.decay}, warmup={self.warmup}, num_updates={self.num_updates})"


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches) -> nn.Module:
    """Recompute the running mean and variance of every BatchNorm layer of ``model`` from scratch,
    as the plain average over ``batches`` (an iterable of argument tuples: ``model(*batch)``).

    Why: an :class:`EMA` averages the *weights*, but BatchNorm's running statistics were measured
    on the activations of the live weights, not of the averaged ones; the mismatch shifts every
    normalised activation at sampling time. Recomputing them for the weights you sample with is what
    SWA does (Izmailov et al. 2018, ``torch.optim.swa_utils.update_bn``, which handles one-input
    models only; a diffusion U-Net takes ``(x_t, t)``). For a diffusion model the batches should be
    drawn like the training inputs: noisy images at uniformly random t. Returns ``model`` in eval
    mode; a model without BatchNorm is returned unchanged (in eval mode).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model.eval()
    momenta = {m: m.momentum for m in norms}
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    model.train()
    try:
        for batch in batches:
            model(*batch)
    finally:
        for m in norms:
            m.momentum = momenta[m]
    return model.eval()


# --------------------------------------------------------------------------- History

@dataclass
class History:
    """What a :func:`train` call leaves behind.

    Attributes:
        losses: the loss of every optimiser step (floats), across resumes.
        epoch_losses: the mean loss of every completed pass over the loader.
        wall_time: seconds spent in ``train`` (summed over resumed calls).
        stop_reason: why the last call stopped: "steps", "epochs", "max_seconds", "on_step",
            or "already done" (the checkpoint had reached the target).
        ema: the :class:`EMA` when ``ema_decay`` was given, else None (not saved in
            ``state_dict``; the checkpoint holds it separately).
    """

    losses: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    wall_time: float = 0.0
    stop_reason: str = ""
    ema: EMA | None = field(default=None, repr=False, compare=False)

    @property
    def steps(self) -> int:
        return len(self.losses)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.wall_time if self.wall_time > 0 else float("nan")

    @property
    def final_loss(self) -> float:
        """Mean of the last 10% of step losses (at least one): a less noisy "final" loss."""
        if not self.losses:
            return float("nan")
        k = max(1, len(self.losses) // 10)
        return float(np.mean(self.losses[-k:]))

    def plot(self, smooth: int | None = None, log: bool = False, title: str | None = None):
        """The loss curve (raw, faint) with a moving average over ``smooth`` steps; returns the Figure."""
        from .plot import loss_curve

        return loss_curve(self.losses, smooth=smooth, log=log, title=title)

    def state_dict(self) -> dict:
        return {"losses": list(self.losses), "epoch_losses": list(self.epoch_losses),
                "wall_time": self.wall_time, "stop_reason": self.stop_reason}

    def load_state_dict(self, state: dict) -> None:
        self.losses = list(state["losses"])
        self.epoch_losses = list(state["epoch_losses"])
        self.wall_time = float(state["wall_time"])
        self.stop_reason = str(state.get("stop_reason", ""))

    def __repr__(self) -> str:
        last = f"{self.final_loss:.4g}" if self.losses else "-"
        return (f"History(steps={self.steps}, epochs={len(self.epoch_losses)}, final_loss={last}, "
                f"wall_time={self.wall_time:.1f}s, steps/s={self.steps_per_second:.2f}, "
                f"stop_reason={self.stop_reason!r})")


# --------------------------------------------------------------------------- helpers

def move_to(batch: Any, device) -> Any:
    """Move every tensor in a (nested) tuple / list / dict batch to ``device``."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        moved = [move_to(b, device) for b in batch]
        return type(batch)(moved) if not hasattr(batch, "_fields") else type(batch)(*moved)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    return batch


# --------------------------------------------------------------------------- train

@torch.enable_grad()
def train(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    loader,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    device=None,
    ema_decay: float | None = None,
    ema_warmup: bool = True,
    grad_clip: float | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    log_every: int = 10,
    progress: bool = True,
    desc: str = "train",
    max_seconds: float | None = None,
    on_step: Callable[[int, float], bool | None] | None = None,
) -> History:
    """Train ``model`` by minimising ``loss_fn(model, batch)`` over ``loader``.

    Args:
        model: trained in place; moved to ``device``; left in eval mode on return.
        loss_fn: ``loss_fn(model, batch) -> scalar tensor``. ``batch`` is what the loader
            yields, with every tensor (also inside tuples/lists/dicts) already on ``device``.
        loader: any re-iterable of batches (a DataLoader); ``len(loader)`` is needed for ``epochs``.
        epochs / steps: how long to train (give one; with both, whichever ends first). Counts
            are totals: resuming a 50-step checkpoint with ``steps=100`` runs 50 more steps.
        lr: learning rate of the default optimiser, Adam.
        optimizer: use this optimiser instead (``lr`` is then ignored).
        device: where to train; None keeps the model where it is.
        ema_decay: keep an :class:`EMA` of the weights with this decay (``history.ema``).
        ema_warmup: use the EMA warm-up rule (see :class:`EMA`).
        grad_clip: clip the global gradient norm to this value.
        checkpoint: file holding model, optimiser, EMA, history, torch's random state (CPU and
            CUDA) and the place in the data; written when training stops and every
            ``checkpoint_every`` steps (when given).
        resume: when ``checkpoint`` exists, continue from it (otherwise start over). The pass
            over the loader that was cut short is drawn again from its start, with the loader's
            generator (``loader.generator``) set back to where it was, and the batches already
            trained on are skipped; a finished checkpoint returns at once.
        log_every: steps between updates of the bar's running loss (also how often losses are
            copied off the GPU: each copy waits for the GPU to finish).
        progress: show the tqdm bar.
        max_seconds: stop after this many seconds of this call (``stop_reason`` is
            "max_seconds"); the checkpoint is saved, so calling again continues.
        on_step: ``on_step(step, loss)`` after every step (step counts from 1); return True to stop.

    Returns:
        A :class:`History` (``history.ema`` holds the EMA, when used).
    """
    from tqdm.auto import tqdm

    if epochs is None and steps is None:
        raise ValueError("give epochs= or steps= (how long to train)")
    total = math.inf if steps is None else int(steps)
    if epochs is not None:
        try:
            n_batches = len(loader)
        except TypeError as e:
            raise ValueError("epochs= needs a loader with len(); pass steps= instead") from e
        if n_batches == 0:
            raise ValueError("the loader is empty")
        total = min(total, int(epochs) * n_batches)
    done_reason = "steps" if total == steps else "epochs"
    if device is not None:
        model.to(device)
    else:
        device = next(iter(model.parameters()), torch.empty(0)).device
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    shuffler = getattr(loader, "generator", None)  # the generator the loader shuffles with, if any

    # where training stands: steps done, and the step and shuffler state at which this pass began
    step, pass_start, pass_rng = 0, 0, None
    path = Path(checkpoint) if checkpoint is not None else None
    ck = None
    if path is not None and resume and path.exists():
        try:
            ck = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(ck["model"])
            optimizer.load_state_dict(ck["optimizer"])
        except Exception as e:
            raise RuntimeError(f"could not resume from checkpoint {path}: {e}\n"
                               "Delete the file or pass resume=False to start over.") from e
        history.load_state_dict(ck["history"])
        step, pass_start, pass_rng = ck["step"], ck["pass_start"], ck["pass_rng"]
        if shuffler is not None and pass_rng is not None:
            shuffler.set_state(pass_rng)
        torch.set_rng_state(ck["rng"])
        if ck["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
    if ema_decay is not None:
        history.ema = EMA(model, ema_decay, warmup=ema_warmup)
        if ck is not None and ck["ema"] is not None:
            history.ema.load_state_dict(ck["ema"])
    if step >= total:
        history.stop_reason = "already done"
        model.eval()
        return history

    pending: list[torch.Tensor] = []  # losses still on the device
    start, wall_before = time.perf_counter(), history.wall_time

    def flush() -> None:
        if pending:
            history.losses.extend(torch.stack(pending).float().cpu().tolist())
            pending.clear()

    def save() -> None:
        """Bring ``history`` up to date and, with a ``checkpoint``, write it (atomically)."""
        flush()
        history.wall_time = wall_before + time.perf_counter() - start
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"step": step, "pass_start": pass_start, "pass_rng": pass_rng,
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "ema": history.ema.state_dict() if history.ema is not None else None,
                    "history": history.state_dict(), "rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}, tmp)
        os.replace(tmp, path)  # a crash while saving never leaves a half-written checkpoint

    skip = step - pass_start  # resuming: batches of this pass trained on before the stop
    stop_reason = None
    bar = tqdm(total=total, initial=step, desc=desc, disable=not progress, dynamic_ncols=True)
    model.train()
    try:
        while stop_reason is None:
            if skip == 0:  # a new pass over the loader
                pass_start, pass_rng = step, shuffler.get_state() if shuffler is not None else None
            drawn = trained = 0
            for batch in loader:
                if stop_reason is not None:
                    break
                drawn += 1
                if skip > 0:  # drawn again so that the data order continues, not trained on twice
                    skip -= 1
                    continue

                batch = move_to(batch, device)
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model, batch)
                if loss.ndim != 0:
                    raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
                loss.backward()
                if grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
                if history.ema is not None:
                    history.ema.update(model)
                step += 1
                trained += 1
                pending.append(loss.detach())
                bar.update(1)

                if on_step is not None and on_step(step, loss.item()):
                    stop_reason = "on_step"
                elif step == total:
                    stop_reason = done_reason
                elif max_seconds is not None and time.perf_counter() - start >= max_seconds:
                    stop_reason = "max_seconds"
                if step % log_every == 0:
                    flush()
                    bar.set_postfix(loss=f"{np.mean(history.losses[-log_every:]):.4f}", refresh=False)
                if checkpoint_every and step % checkpoint_every == 0 and stop_reason is None:
                    save()
            else:  # the pass is complete
                if drawn == 0:
                    raise ValueError("the loader is empty")
                if trained > 0:  # (a pass that was only drawn again was recorded before the stop)
                    flush()
                    history.epoch_losses.append(float(np.mean(history.losses[pass_start:step])))
        history.stop_reason = stop_reason
        save()
    finally:
        bar.close()
        model.eval()
    if stop_reason == "max_seconds" and progress:
        print(f"Stopped after {max_seconds:g} s at step {step}/{total}"
              + (f"; run again to continue from {path}" if path is not None else ""))
    return history
