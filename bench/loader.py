"""CPU time per batch of ``helpers.data.make_loader`` against torch's batching DataLoader.

``make_loader`` draws the same batches in the same order as
``DataLoader(TensorDataset(x, y), batch_size, shuffle=True, generator=Generator().manual_seed(seed))``
(checked here and in ``tests/test_data.py``) but gathers each batch with one index operation
instead of reading ``batch_size`` single images and stacking them. On a GPU the training step
waits on that CPU time (06 trains 1000 steps of 512 there). One full epoch of the MNIST training
set per batch size, best of ``--repeats``; prints a table and writes ``bench/results/loader.json``.

    python -m bench.loader [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results" / "loader.json"
BATCHES = (64, 128, 256, 512)


def reference_loader(x, y, batch_size: int, seed: int = 0):
    """What make_loader was before: torch's automatic batching (per-item reads + default_collate)."""
    from torch.utils.data import DataLoader, TensorDataset

    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed), drop_last=True)


def ms_per_batch(make, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        loader = make()
        t0 = time.perf_counter()
        n = sum(1 for _ in loader)
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e3


def main(argv: list[str] | None = None) -> int:
    from helpers.data import load_mnist, make_loader

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    x, y = load_mnist("train")
    rows = []
    print(f"{'batch':>6} {'torch default ms':>17} {'make_loader ms':>15} {'ratio':>6}  same batches")
    for b in BATCHES:
        same = all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1])
                   for p, q in zip(reference_loader(x, y, b), make_loader(x, y, b, seed=0, drop_last=True)))
        ref = ms_per_batch(lambda: reference_loader(x, y, b), args.repeats)
        new = ms_per_batch(lambda: make_loader(x, y, b, seed=0, drop_last=True), args.repeats)
        rows.append({"batch": b, "reference_ms": round(ref, 4), "make_loader_ms": round(new, 4),
                     "ratio": round(ref / new, 2), "same_batches": same})
        print(f"{b:>6} {ref:>17.3f} {new:>15.3f} {ref / new:>5.1f}x  {same}")
    result = {"machine": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "repeats": args.repeats, "epoch_images": len(x), "rows": rows,
              "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0 if all(r["same_batches"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
