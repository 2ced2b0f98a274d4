"""Judge classifiers: small CNNs that score generated digits (MNIST, the assessment gate),
clothes (Fashion-MNIST, notebook 04's guidance curves) and flowers (the 32x32 RGB flower photos,
notebooks 04 and 05).

Architecture: a VGG-style stack of 3x3 conv + BatchNorm (Ioffe & Szegedy 2015) + ReLU with
max-pooling and global average pooling (Lin et al. 2014, "Network in Network"); trained with
AdamW (Loshchilov & Hutter 2019) and a one-cycle schedule (Smith & Topin 2019) on light
random-affine augmentation (digits, clothes) or random mirror + shift (flowers). Weights ship in
``helpers/weights/{mnist,fashion,flowers}_judge.pt``; the measured test accuracy, parameters,
seed and command are in ``helpers/weights/judges.json``.

Inputs follow the course convention: images in [-1, 1]. Digits and clothes: (N, 1, 28, 28) or
(N, 1, 32, 32) (32 is centre-cropped to 28, so ``pad=2`` images score exactly like unpadded ones).
Flowers: (N, 3, 32, 32), scored on the held-out 20% of the photos (``load_flowers(split="test")``),
which no generative model in the course trains on. The model normalises internally with its
dataset's per-channel mean/std.

Command line::

    python -m helpers.judge train --dataset mnist [--epochs N --seed S]   # mnist|fashion|flowers
    python -m helpers.judge evaluate --dataset mnist                        # print test accuracy
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["JudgeNet", "load_judge", "judge_predict", "judge_probs", "judge_accuracy",
           "train_judge", "evaluate_judge", "WEIGHTS_DIR", "JUDGE_DATASETS"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
RECORD_FILE = WEIGHTS_DIR / "judges.json"

# dataset -> (pixel mean, pixel std) on the [0, 1] scale, measured on each training set
# (per channel for the RGB flowers)
_NORM = {"mnist": (0.1307, 0.3081), "fashion": (0.2860, 0.3530),
         "flowers": ((0.4874, 0.4372, 0.3077), (0.2805, 0.2511, 0.2789))}
# dataset -> (channels, classes, input size)
_SHAPE = {"mnist": (1, 10, 28), "fashion": (1, 10, 28), "flowers": (3, 5, 32)}
JUDGE_DATASETS = tuple(_NORM)
_DEFAULTS = {  # dataset -> training recipe used for the shipped weights
    "mnist": dict(epochs=6, seed=0, batch_size=128, lr=3e-3, weight_decay=5e-4,
                  max_shift=2, max_rotate=10.0, scale=0.1),
    "fashion": dict(epochs=12, seed=0, batch_size=128, lr=3e-3, weight_decay=5e-4,
                    max_shift=2, max_rotate=0.0, scale=0.0),
    # 2,783 photos: many short epochs; mirror + shift by up to 4 px (reflect padding), no colour
    # jitter (colour is what tells a rose from a sunflower)
    "flowers": dict(epochs=60, seed=0, batch_size=128, lr=3e-3, weight_decay=5e-4,
                    max_shift=4, max_rotate=0.0, scale=0.0),
}


def _canonical(dataset: str) -> str:
    """The judge of a dataset name or alias (the table of :mod:`helpers.data`): 'mnist', 'fashion'
    or 'flowers'."""
    from .data import _ALIASES

    name = _ALIASES.get(dataset.strip().lower())
    if name is None:
        raise ValueError(f"unknown judge dataset {dataset!r}; expected 'mnist', 'fashion' or 'flowers'")
    return "fashion" if name == "fashion_mnist" else name


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class JudgeNet(nn.Module):
    """Small image classifier, ~279k parameters (grey) or ~279k + 576 (RGB).

    Digits/clothes: (N, 1, 28|32, 28|32) in [-1, 1] -> logits (N, 10); 28x28 -> conv32 -> pool
    14x14 -> conv64, conv64 -> pool 7x7 -> conv128, conv128 -> global average pool -> dropout ->
    linear. Flowers: (N, 3, 32, 32) -> logits (N, 5), the same stack at 32 -> 16 -> 8.
    """

    def __init__(self, dataset: str = "mnist", num_classes: int | None = None, dropout: float = 0.2):
        super().__init__()
        self.dataset = _canonical(dataset)
        self.channels, classes, self.size = _SHAPE[self.dataset]
        num_classes = classes if num_classes is None else num_classes
        mean, std = _NORM[self.dataset]
        view = (-1, 1, 1) if self.channels > 1 else ()  # scalar buffers for grey (as the shipped weights)
        self.register_buffer("mean", torch.tensor(mean).view(view))
        self.register_buffer("std", torch.tensor(std).view(view))
        self.features = nn.Sequential(
            *_conv(self.channels, 32), nn.MaxPool2d(2),  # (N, 32, S/2, S/2)
            *_conv(32, 64), *_conv(64, 64), nn.MaxPool2d(2),  # (N, 64, S/4, S/4)
            *_conv(64, 128), *_conv(128, 128),  # (N, 128, S/4, S/4)
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (N, 128)
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(128, num_classes))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """(N, H, W) or (N, C, H, W) -> (N, C, S, S), centre-cropping larger inputs (S = 28 for
        digits and clothes, 32 for flowers)."""
        c, s = self.channels, self.size
        if x.dim() == 3 and c == 1:
            x = x.unsqueeze(1)  # (N, 1, H, W)
        if x.dim() != 4 or x.shape[1] != c or x.shape[-1] < s or x.shape[-2] < s:
            want = "(N, 1, 28, 28) or (N, 1, 32, 32)" if c == 1 else f"(N, {c}, {s}, {s})"
            raise ValueError(f"the {self.dataset} judge expects {want} images in [-1, 1], got {tuple(x.shape)}")
        top, left = (x.shape[-2] - s) // 2, (x.shape[-1] - s) // 2
        return x[..., top:top + s, left:left + s]  # (N, C, S, S)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prepare(x).float()
        x = ((x + 1) / 2 - self.mean) / self.std  # [-1, 1] -> [0, 1] -> standardised
        return self.head(self.features(x))  # (N, classes)


# --------------------------------------------------------------------------- loading and scoring

_CACHE: dict[tuple, JudgeNet] = {}


def _weights_path(dataset: str) -> Path:
    return WEIGHTS_DIR / f"{dataset}_judge.pt"


def load_judge(dataset: str = "mnist", device=None, weights: str | Path | None = None) -> JudgeNet:
    """The pretrained judge for ``dataset`` ('mnist', 'fashion' or 'flowers'), in eval mode on ``device``
    (default CPU). Weights come from ``helpers/weights/<dataset>_judge.pt`` unless ``weights``
    names another file."""
    dataset = _canonical(dataset)
    device = torch.device(device or "cpu")
    path = Path(weights) if weights is not None else _weights_path(dataset)
    key = (dataset, str(device), str(path.resolve()), path.stat().st_mtime_ns if path.is_file() else None)
    if key not in _CACHE:
        if not path.is_file():
            raise FileNotFoundError(
                f"judge weights not found: {path}. Recreate them with "
                f"`python -m helpers.judge train --dataset {dataset}` (a few minutes on a CPU).")
        model = JudgeNet(dataset)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        _CACHE[key] = model.to(device)
    model = _CACHE[key]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@torch.inference_mode()
def judge_probs(images: torch.Tensor, dataset: str = "mnist", batch_size: int = 500, model=None) -> torch.Tensor:
    """Class probabilities (N, classes) (float32, CPU) for images in [-1, 1]."""
    device = images.device if images.device.type != "meta" else torch.device("cpu")
    model = model if model is not None else load_judge(dataset, device)
    out = [F.softmax(model(images[i:i + batch_size].to(device)), dim=1).float().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, model.head[-1].out_features)


def judge_predict(images: torch.Tensor, dataset: str = "mnist", batch_size: int = 500, model=None) -> torch.Tensor:
    """Predicted labels (N,) int64 (CPU) for images in [-1, 1], shape (N, 1, 28|32, 28|32)
    (digits, clothes) or (N, 3, 32, 32) (flowers)."""
    return judge_probs(images, dataset, batch_size, model).argmax(dim=1)


def judge_accuracy(images: torch.Tensor, labels: torch.Tensor, dataset: str = "mnist",
                   batch_size: int = 500, model=None) -> float:
    """Fraction of ``images`` the judge labels as ``labels`` (a float in [0, 1])."""
    pred = judge_predict(images, dataset, batch_size, model)
    return (pred == torch.as_tensor(labels).cpu().long()).float().mean().item() if len(pred) else float("nan")


# --------------------------------------------------------------------------- training

def _load_split(dataset: str, split: str, limit: int | None = None):
    from .data import load_fashion_mnist, load_flowers, load_mnist

    if dataset == "flowers":
        x, y = load_flowers(size=32, split=split)  # (N, 3, 32, 32) in [-1, 1], (N,)
        return (x[:limit], y[:limit]) if limit is not None else (x, y)
    return (load_mnist if dataset == "mnist" else load_fashion_mnist)(split, limit=limit)


def _augment(x: torch.Tensor, g: torch.Generator, max_shift: int, max_rotate: float, scale: float) -> torch.Tensor:
    """Random affine per image (shift in pixels, rotation in degrees, scale), background -1."""
    n = x.shape[0]
    u = lambda: torch.rand(n, generator=g) * 2 - 1  # noqa: E731  uniform in [-1, 1], (N,)
    ang = u() * math.radians(max_rotate)
    s = 1 + u() * scale
    tx, ty = u() * max_shift * 2 / 28, u() * max_shift * 2 / 28  # pixels -> [-1, 1] grid units
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


@torch.inference_mode()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> tuple[int, int]:
    model.eval()
    correct = sum((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                  for i in range(0, len(x), batch_size))
    return int(correct), len(x)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_judge(dataset: str = "mnist", epochs: int | None = None, seed: int | None = None,
                out_dir: str | Path = WEIGHTS_DIR, threads: int = 2, command: str | None = None,
                limit: int | None = None) -> dict:
    """Train a judge from scratch on CPU, deterministically; write weights and judges.json.

    Returns the record written to ``judges.json`` (test accuracy measured on the saved weights).
    ``limit`` uses only the first ``limit`` train and test images (for quick checks).
    """
    dataset = _canonical(dataset)
    cfg = dict(_DEFAULTS[dataset])
    if epochs is not None:
        cfg["epochs"] = epochs
    if seed is not None:
        cfg["seed"] = seed
    if limit is not None:
        cfg["limit"] = limit
    torch.set_num_threads(threads)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        return _train(dataset, cfg, out_dir, threads, command)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def _train(dataset: str, cfg: dict, out_dir, threads: int, command: str | None) -> dict:
    from .data import mirror_shift

    torch.manual_seed(cfg["seed"])
    g = torch.Generator().manual_seed(cfg["seed"])

    x_train, y_train = _load_split(dataset, "train", cfg.get("limit"))  # (60000, 1, 28, 28) in [-1, 1]
    x_test, y_test = _load_split(dataset, "test", cfg.get("limit"))  # (10000, 1, 28, 28); flowers (696, 3, 32, 32)
    model = JudgeNet(dataset)
    n_params = sum(p.numel() for p in model.parameters())
    steps_per_epoch = math.ceil(len(x_train) / cfg["batch_size"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], epochs=cfg["epochs"],
                                                steps_per_epoch=steps_per_epoch, pct_start=0.2)
    print(f"training {dataset} judge: {n_params:,} params, {cfg}", flush=True)
    t0 = time.time()
    for epoch in range(cfg["epochs"]):
        model.train()
        perm = torch.randperm(len(x_train), generator=g)
        total, seen = 0.0, 0
        for i in range(0, len(perm), cfg["batch_size"]):
            idx = perm[i:i + cfg["batch_size"]]
            if dataset == "flowers":
                xb = mirror_shift(x_train[idx], g, cfg["max_shift"])  # (B, 3, 32, 32)
            else:
                xb = _augment(x_train[idx], g, cfg["max_shift"], cfg["max_rotate"], cfg["scale"])  # (B, 1, 28, 28)
            loss = F.cross_entropy(model(xb), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        c, n = _accuracy(model, x_test, y_test)
        print(f"epoch {epoch + 1}/{cfg['epochs']}: loss {total / seen:.4f}, test acc {c / n:.4%}, "
              f"{time.time() - t0:.0f}s", flush=True)
    train_seconds = time.time() - t0

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{dataset}_judge.pt"
    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, path)
    reloaded = load_judge(dataset, "cpu", weights=path)  # measure what ships, not the live model
    correct, n = _accuracy(reloaded, x_test, y_test)
    record = {
        "file": path.name,
        "sha256": _sha256(path),
        "bytes": path.stat().st_size,
        "params": n_params,
        "test_accuracy": round(correct / n, 6),
        "test_correct": correct,
        "test_total": n,
        "train_seconds": round(train_seconds, 1),
        "command": command or f"python -m helpers.judge train --dataset {dataset} "
                              f"--epochs {cfg['epochs']} --seed {cfg['seed']}",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "device": f"cpu ({threads} threads, {platform.machine()})",
        **cfg,
    }
    rec_file = out_dir / "judges.json"
    records = json.loads(rec_file.read_text()) if rec_file.is_file() else {}
    records[dataset] = record
    rec_file.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
    print(f"wrote {path} ({record['bytes']:,} bytes); test accuracy {correct}/{n} = {correct / n:.4%}; "
          f"{train_seconds:.0f}s", flush=True)
    return record


def evaluate_judge(dataset: str = "mnist", weights: str | Path | None = None) -> float:
    """Test-set accuracy of the shipped (or given) judge weights."""
    dataset = _canonical(dataset)
    x_test, y_test = _load_split(dataset, "test")
    model = load_judge(dataset, "cpu", weights=weights)
    c, n = _accuracy(model, x_test, y_test)
    return c / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.judge", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="retrain a judge from scratch (deterministic, CPU)")
    tr.add_argument("--dataset", default="mnist", choices=list(JUDGE_DATASETS))
    tr.add_argument("--epochs", type=int, default=None)
    tr.add_argument("--seed", type=int, default=None)
    tr.add_argument("--threads", type=int, default=2)
    tr.add_argument("--out-dir", default=str(WEIGHTS_DIR))
    ev = sub.add_parser("evaluate", help="print a judge's test accuracy")
    ev.add_argument("--dataset", default="mnist", choices=list(JUDGE_DATASETS))
    ev.add_argument("--weights", default=None)
    args = parser.parse_args(argv)
    if args.cmd == "train":
        cmd = "python -m helpers.judge " + " ".join(argv if argv is not None else sys.argv[1:])
        train_judge(args.dataset, args.epochs, args.seed, args.out_dir, args.threads, command=cmd)
    else:
        acc = evaluate_judge(args.dataset, args.weights)
        rec = json.loads(RECORD_FILE.read_text()).get(args.dataset, {}) if RECORD_FILE.is_file() else {}
        recorded = f" (judges.json records {rec['test_accuracy']:.4%})" if "test_accuracy" in rec else ""
        print(f"{args.dataset} judge test accuracy: {acc:.4%}{recorded}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
