"""Save a trained class-conditioned noise network so that it loads and samples in a fresh Python
process, without the notebook that defined it (the assessment's hand-in; notebook 06).

One file, ``assessment_model.pt2`` by default (:data:`EXPORT_FILENAME`), written next to the
notebook. It is a ``torch.export`` program (PyTorch 2.x, ``torch.export.save``; TorchScript's
``torch.jit.trace`` is deprecated since torch 2.10) with a dynamic batch dimension, holding

* the network ``eps = net(x_t, t, c, c_mask)``: x_t (B, C, H, W) float32, t (B,) int64 steps,
  c (B, n_classes) float one-hot class, c_mask (B, 1) float (1 keeps the class, 0 drops it);
* an extra file ``course_config.json``: format tag, ``betas`` of the training schedule (T
  floats, so any schedule round-trips exactly), ``n_classes``, the guidance scale ``w`` the
  student chose, ``image_size``, ``channels`` and the declared ``pixel_range`` of the
  training images (``[-1, 1]`` in this course).

Loading needs only ``torch`` and this module (``python -m helpers.gate assessment_model.pt2``).
References: Ho et al. 2020 (DDPM), Ho & Salimans 2022 (classifier-free guidance).
"""
from __future__ import annotations

import copy
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .ddpm import EpsFn, guided_eps
from .schedules import Schedule

__all__ = ["EXPORT_FILENAME", "FORMAT", "CONFIG_NAME", "ExportedModel", "export_model", "load_exported"]

EXPORT_FILENAME = "assessment_model.pt2"
FORMAT = "diffusion-course/cfg-ddpm-v1"
CONFIG_NAME = "course_config.json"


class _Wrapper(nn.Module):
    """Calls ``model(x, t, c, c_mask)`` with the argument order fixed for export."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor, c_mask: torch.Tensor) -> torch.Tensor:
        return self.model(x, t, c, c_mask)


def _example_inputs(batch: int, channels: int, size: int, T: int, n_classes: int):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, size, size, generator=g)  # (B, C, H, W)
    t = torch.randint(0, T, (batch,), generator=g)  # (B,)
    c = torch.eye(n_classes)[torch.arange(batch) % n_classes]  # (B, n_classes)
    mask = torch.ones(batch, 1)  # (B, 1)
    mask[::2] = 0
    return x, t, c, mask


def export_model(model: nn.Module, path: str | Path = EXPORT_FILENAME, *, sched: Schedule, w: float,
                 n_classes: int = 10, image_size: int = 28, channels: int = 1,
                 pixel_range: tuple[float, float] = (-1.0, 1.0), extra: dict | None = None,
                 verify: bool = True) -> Path:
    """Write ``model`` (a noise predictor ``model(x, t, c, c_mask)``) and its settings to ``path``.

    The model is copied to the CPU in eval mode (the caller's model is not changed). With
    ``verify`` the file is loaded back and must reproduce the model's output on a test batch.
    Returns the path written.
    """
    w = float(w)
    if not (w == w) or w < 0:
        raise ValueError(f"w must be a number >= 0, got {w}")
    path = Path(path)
    was_training = model.training
    device = next(iter(model.parameters()), torch.empty(0)).device
    model.eval()
    try:
        cpu_model = _Wrapper(model).to("cpu")
        ex = _example_inputs(4, channels, image_size, sched.T, n_classes)
        batch = torch.export.Dim("batch", min=1, max=1 << 20)
        program = torch.export.export(cpu_model, ex, dynamic_shapes=({0: batch}, {0: batch}, {0: batch}, {0: batch}))
        config = {
            "format": FORMAT,
            "betas": [float(b) for b in sched.betas.double().cpu()],
            "T": int(sched.T),
            "n_classes": int(n_classes),
            "w": w,
            "image_size": int(image_size),
            "channels": int(channels),
            "pixel_range": [float(pixel_range[0]), float(pixel_range[1])],
            "model_class": type(model).__name__,
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "torch": torch.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **(extra or {}),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.export.save(program, str(path), extra_files={CONFIG_NAME: json.dumps(config)})
        if verify:
            with torch.inference_mode():
                x = _example_inputs(6, channels, image_size, sched.T, n_classes)
                want = cpu_model(*x)
                got = load_exported(path).net(*x)
            err = float((want - got).abs().max())
            if not err <= 1e-4:
                raise RuntimeError(f"the exported model differs from the live one (max |diff| {err:.3g})")
    finally:
        model.to(device)
        model.train(was_training)
    return path


@dataclass
class ExportedModel:
    """A loaded hand-in: the network, its schedule and settings."""

    net: Any  # callable (x, t, c, c_mask) -> eps
    config: dict
    sched: Schedule
    path: Path | None = None
    notes: list[str] = field(default_factory=list)
    program: Any = None  # the torch.export program ``net`` was made from (None: ``net`` is a plain module)

    @property
    def w(self) -> float:
        return float(self.config["w"])

    @property
    def n_classes(self) -> int:
        return int(self.config["n_classes"])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        s = int(self.config["image_size"])
        return int(self.config["channels"]), s, s

    def to(self, device) -> "ExportedModel":
        """Run the network on ``device``.

        An exported program is moved with ``torch.export.passes.move_to_device_pass``, not with
        ``Module.to``: the program records the device of its inputs and of the tensors its graph
        creates (an export made on the CPU checks "Tensor device mismatch! Expected: cpu" on
        every call), and ``.to`` moves only the weights. A plain module moves with ``.to``.
        """
        device = torch.device(device)
        if self.program is not None:
            current = next(iter(self.net.parameters()), torch.empty(0)).device
            if current != device:
                try:
                    from torch.export.passes import move_to_device_pass  # torch >= 2.6
                except ImportError:  # older torch has no such pass: move the weights only (the CPU gate is unaffected)
                    self.net = self.net.to(device)
                    return self
                # the pass moves the program's own weights: work on a copy, keep the loaded one
                with warnings.catch_warnings():  # torch 2.11's deepcopy of a program warns about its own internals
                    warnings.simplefilter("ignore", FutureWarning)
                    program = copy.deepcopy(self.program)
                self.net = move_to_device_pass(program, device).module()
        elif isinstance(self.net, nn.Module):
            self.net = self.net.to(device)
        return self

    def eps_fn(self, labels: torch.Tensor, w: float | None = None) -> EpsFn:
        """Classifier-free guided ``eps_fn(x_t, t)`` for the integer ``labels`` (B,): one batched
        call with the class kept (first half) and dropped (second half)."""
        w = self.w if w is None else float(w)
        net = self.net

        def eps_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            B = x.shape[0]
            c = torch.nn.functional.one_hot(labels.to(x.device).long(), self.n_classes).float()  # (B, K)
            ones = torch.ones(B, 1, device=x.device)
            mask = torch.cat([ones, torch.zeros_like(ones)])  # (2B, 1)
            out = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([c, c]), mask)  # (2B, C, H, W)
            eps_c, eps_u = out.chunk(2)
            return guided_eps(eps_c, eps_u, w)

        return eps_fn


def load_exported(path: str | Path, device=None) -> ExportedModel:
    """Load a file written by :func:`export_model` (raises ``ValueError`` with a readable reason
    when it is not one)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no exported model at {path} (the notebook writes {EXPORT_FILENAME})")
    extra = {CONFIG_NAME: ""}
    try:
        with warnings.catch_warnings():  # torch's own loader warns that its read-only buffer is read-only
            warnings.filterwarnings("ignore", message="The given buffer is not writable")
            program = torch.export.load(str(path), extra_files=extra)
    except Exception as exc:  # not a torch.export archive
        raise ValueError(f"{path} is not a torch.export file written by helpers.export: {exc}") from exc
    try:
        config = json.loads(extra[CONFIG_NAME])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} has no readable {CONFIG_NAME}; write it with helpers.export.export_model") from exc
    if config.get("format") != FORMAT:
        raise ValueError(f"{path}: format {config.get('format')!r}, expected {FORMAT!r}")
    sched = Schedule.from_betas(torch.tensor(config["betas"], dtype=torch.float64))
    model = ExportedModel(program.module(), config, sched, path, program=program)
    return model.to(device) if device is not None else model
