"""Benchmark and calibration of the gate's integrity checks (helpers.gate, notebook 06).

Trains honest models with notebook 06's recipe (``bench.assessment``: the instructor notebook's
full-profile settings, the ``helpers`` reference functions in place of the TODOs) from several
seeds, exports the EMA weights at several training lengths (from just past the 95% gate to the
full 3000 steps) and samples each with the gate's own sampler (1000 digits, DDIM 25 steps, grader
seed; w = 4 as in the notebook, and w = 1 and 8 at the end of training). Then it measures

* the **near-copy distance** (:func:`helpers.gate.near_copy_search`: shift-tolerant normalised
  cross-correlation distance to the nearest of the 70,000 MNIST digits) of the honest samples and
  of real held-apart digits (test digits against the training set), with the thresholds chosen;
* the **within-class diversity** (:func:`helpers.gate.shift_tolerant_diversity`) of honest samples,
  of real digits and of one prototype per class shifted at random;
* the **false-refusal rate**: how many honest sample sets the integrity checks refuse (must be 0);
* the **extra cost** of the integrity checks, seconds per 1000 digits (the reference features are
  built once per process; both the first and the warm call are reported).

Prints a table and writes ``bench/results/gate_integrity.json``. ``make bench`` runs it through
``python -m bench``; alone: ``python -m bench.gate_integrity [--quick] [--seeds 0 1 2]``. Honest
samples are cached in ``bench/results/gate_integrity_samples.pt`` (git-ignored; delete it or pass
``--retrain`` to train again). The full run takes about 20 minutes on a 2-core CPU; ``--quick``
(or ``BENCH_QUICK=1``) trains one seed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

RESULTS = Path(__file__).resolve().parent / "results" / "gate_integrity.json"
SAMPLES = RESULTS.parent / "gate_integrity_samples.pt"
SNAPSHOTS = (1750, 2250, 3000)  # training lengths: around the first pass (2000 steps for seed 0) to the full profile
EXTRA_W = (1.0, 8.0)  # guidance scales also sampled at the last snapshot


def train_and_sample(seed: int, snapshots=SNAPSHOTS, extra_w=EXTRA_W, device="cpu", log=print) -> list[dict]:
    """Train notebook 06's recipe with ``seed`` (weights, data order, noise) and, at every snapshot,
    export the EMA model and draw the gate's 1000 digits from the exported file. Returns one entry
    per sample set: seed, steps, w, train_seconds, samples (1000, 1, 28, 28) and labels."""
    from bench import assessment as A
    from helpers import Schedule, seed_everything
    from helpers.data import load_mnist, make_loader
    from helpers.ddpm import context_mask, noise_loss
    from helpers.export import export_model, load_exported
    from helpers.gate import generate
    from helpers.train import train
    from helpers.unet import ConditionalUNet

    sched = Schedule.linear(A.T, A.BETA_START, A.BETA_END)
    x, y = load_mnist("train")
    loader = make_loader(x, y, batch_size=A.BATCH, shuffle=True, seed=seed, drop_last=True)
    seed_everything(seed)
    model = ConditionalUNet(chs=A.CHS, T=A.T).to(device)

    def loss_fn(m, batch):  # the notebook's loss
        x0, labels = batch
        B = x0.shape[0]
        t = torch.randint(0, A.T, (B,), device=x0.device)
        noise = torch.randn_like(x0)
        c = F.one_hot(labels, 10).float()
        mask = context_mask(B, A.P_DROP).to(x0.device)
        return noise_loss(lambda xt, tt: m(xt, tt, c, mask), x0, sched, t=t, noise=noise)

    seed_everything(seed)
    work = RESULTS.parent
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / f"gate_integrity_{seed}.ckpt"
    ckpt.unlink(missing_ok=True)
    out = []
    for i, steps in enumerate(snapshots):
        history = train(model, loss_fn, loader, steps=steps, lr=A.LR, ema_decay=A.EMA_DECAY, device=device,
                        checkpoint=ckpt, progress=False)
        path = export_model(history.ema.model, work / f"gate_integrity_{seed}.pt2", sched=sched, w=A.W)
        ex = load_exported(path)
        for w in (A.W, *(extra_w if i == len(snapshots) - 1 else ())):
            t0 = time.perf_counter()
            samples, labels = generate(ex, 100, w=w, device=device, progress=False)
            out.append({"seed": seed, "steps": steps, "w": float(w), "train_seconds": round(history.wall_time, 1),
                        "sample_seconds": round(time.perf_counter() - t0, 1), "samples": samples, "labels": labels})
            log(f"  seed {seed}, {steps} steps ({history.wall_time:.0f} s of training), w = {w:g}: "
                f"1000 digits in {out[-1]['sample_seconds']:.0f} s")
    ckpt.unlink(missing_ok=True)
    return out


def honest_sets(seeds, retrain: bool = False, snapshots=SNAPSHOTS, extra_w=EXTRA_W, log=print) -> list[dict]:
    """The honest sample sets for ``seeds``, from the cache when it has them."""
    cache = torch.load(SAMPLES, weights_only=True) if SAMPLES.is_file() and not retrain else []
    have = {e["seed"] for e in cache}
    for s in seeds:
        if s not in have:
            new = train_and_sample(s, snapshots, extra_w, log=log)
            cache = torch.load(SAMPLES, weights_only=True) if SAMPLES.is_file() and not retrain else []
            cache = [e for e in cache if e["seed"] != s] + new
            torch.save(cache, SAMPLES)
    return [e for e in cache if e["seed"] in set(seeds)]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.gate_integrity", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--retrain", action="store_true", help="ignore the cached honest samples")
    p.add_argument("--collect-only", action="store_true", help="train and sample, then stop")
    p.add_argument("--snapshots", type=int, nargs="+", default=list(SNAPSHOTS),
                   help="training lengths at which each seed's model is sampled")
    p.add_argument("--extra-w", type=float, nargs="*", default=list(EXTRA_W),
                   help="guidance scales also sampled at the last snapshot")
    p.add_argument("--no-recalibrate", action="store_true",
                   help="take the real-digit distances from helpers.gate.CALIBRATION instead of re-measuring")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (1 is far faster on a CPU shared with other jobs)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    t_start = time.perf_counter()
    print(f"[gate_integrity] honest models: seeds {seeds}, snapshots {tuple(args.snapshots)}", flush=True)
    sets = honest_sets(seeds, args.retrain, tuple(args.snapshots), tuple(args.extra_w))
    if args.collect_only:
        return {}
    result = analyse(sets, recalibrate=not (args.quick or args.no_recalibrate))
    result.update({"benchmark": "gate_integrity", "threads": torch.get_num_threads(),
                   "machine": platform.machine(), "torch": torch.__version__, "seeds": seeds,
                   "total_seconds": round(time.perf_counter() - t_start, 1)})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"[gate_integrity] wrote {RESULTS}")
    return result


def _quantiles(d: torch.Tensor) -> dict:
    qs = {"min": 0.0, "q0.1%": 0.001, "q1%": 0.01, "q5%": 0.05, "median": 0.5}
    return {k: round(float(torch.quantile(d, q)), 4) for k, q in qs.items()}


def attacks(seed: int = 0) -> dict:
    """The hand-ins of issue 21, built from real MNIST (100 digits per class)."""
    from helpers.data import load_mnist

    g = torch.Generator().manual_seed(seed)
    x_tr, y_tr = load_mnist("train")
    x_te, y_te = load_mnist("test")
    tr = torch.cat([x_tr[y_tr == k][:100] for k in range(10)])
    te = torch.cat([x_te[y_te == k][:100] for k in range(10)])
    proto = torch.cat([x_te[y_te == k][:1].repeat(100, 1, 1, 1) for k in range(10)])

    def flip(x, n):
        out = x.clone().reshape(len(x), -1)
        for i in range(len(out)):
            p = torch.randperm(784, generator=g)[:n]
            out[i, p] = -out[i, p]
        return out.reshape(x.shape)

    def shifts(x, m):
        return torch.stack([torch.roll(im, tuple(torch.randint(-m, m + 1, (2,), generator=g).tolist()), dims=(1, 2))
                            for im in x])

    return {"training digits": tr, "test digits": te, "1 pixel flipped": flip(tr, 1),
            "3 pixels flipped": flip(tr, 3), "10 pixels flipped": flip(tr, 10),
            "shifted 1 pixel": torch.roll(tr, (1, 0), dims=(2, 3)), "shifted up to 2 pixels": shifts(tr, 2),
            "noise 0.08": (tr + 0.08 * torch.randn(tr.shape, generator=g)).clamp(-1, 1),
            "noise 0.15": (tr + 0.15 * torch.randn(tr.shape, generator=g)).clamp(-1, 1),
            "brightness 0.8x - 0.1": (tr * 0.8 - 0.1).clamp(-1, 1),
            "one image per class": proto, "one per class, shifted up to 1": shifts(proto, 1),
            "one per class, shifted up to 2": shifts(proto, 2)}


def analyse(sets: list[dict], recalibrate: bool = True) -> dict:
    """Judge every honest set and every attack with the gate; the distributions, thresholds,
    false-refusal rate and cost."""
    from helpers import gate, nearcopy
    from helpers.guidance import class_diversity

    labels = torch.arange(10).repeat_interleave(100)
    # cost: the integrity checks alone, cold (reference features built in this call) and warm, and the
    # checks they replace (RMS nearest neighbour over 60,000 training digits + raw diversity)
    x0 = sets[0]["samples"]
    nearcopy._CACHE.clear()
    t0 = time.perf_counter()
    gate.integrity_check(x0, sets[0]["labels"])
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        gate.integrity_check(x0, sets[0]["labels"])
        warm.append(time.perf_counter() - t0)
    gate._TRAIN.clear()
    t0 = time.perf_counter()
    gate.nn_distance_to_train(x0)
    [class_diversity(x0[sets[0]["labels"] == k][None]) for k in range(10)]
    old = time.perf_counter() - t0
    cost = {"integrity_cold_s": round(cold, 2), "integrity_warm_s": round(min(warm), 2),
            "index_build_s": round(nearcopy.reference_index().seconds, 2), "old_checks_cold_s": round(old, 2),
            "digits": len(x0)}
    print(f"  cost per 1000 digits: integrity checks {cold:.1f} s cold (reference features "
          f"{cost['index_build_s']:.1f} s of it), {min(warm):.1f} s warm; the checks they replace {old:.1f} s")

    honest, all_d = [], []
    for e in sets:
        r = gate.evaluate_samples(e["samples"], e["labels"], w=e["w"])
        near = nearcopy.nearest_known(r.samples, 0.12)  # exact below 0.12
        d = near["distance"]
        all_d.append(d)
        row = {"seed": e["seed"], "steps": e["steps"], "w": e["w"], "train_seconds": e["train_seconds"],
               "accuracy": r.accuracy, "passed": r.passed, "copies_ok": r.copies_ok, "diversity_ok": r.diversity_ok,
               "near_copy_fraction": r.near_copy_fraction, "nn_distance": _quantiles(d),
               "diversity_min_ratio": round(min(r.class_diversity_ratio), 3),
               "diversity_ratios": [round(v, 3) for v in r.class_diversity_ratio]}
        honest.append(row)
        print(f"  seed {e['seed']} {e['steps']:>5} steps w={e['w']:g}: accuracy {r.accuracy:.1%}, near-copies "
              f"{r.near_copy_fraction:.1%}, nearest known digit min {row['nn_distance']['min']:.3f} / 1% "
              f"{row['nn_distance']['q1%']:.3f} / median {row['nn_distance']['median']:.3f}, diversity min "
              f"{row['diversity_min_ratio']:.2f}: {'refused' if not (r.copies_ok and r.diversity_ok) else 'not refused'}")
    d_all = torch.cat(all_d)
    refused = [h for h in honest if not (h["copies_ok"] and h["diversity_ok"])]
    passing = [h for h in honest if h["accuracy"] >= gate.PASS_ACCURACY]

    attack_rows = {}
    for name, x in attacks().items():
        r = gate.evaluate_samples(x, labels)
        attack_rows[name] = {"accuracy": r.accuracy, "passed": r.passed, "near_copy_fraction": r.near_copy_fraction,
                             "copy_fraction": r.copy_fraction, "diversity_min_ratio": round(min(r.class_diversity_ratio), 3),
                             "reasons": [m[:120] for m in r.messages]}
        print(f"  attack {name!r}: {'PASSED' if r.passed else 'FAILED'}; near-copies {r.near_copy_fraction:.1%}, "
              f"diversity min {min(r.class_diversity_ratio):.2f}")

    real = gate.calibrate(progress=lambda m: None) if recalibrate else gate.CALIBRATION
    result = {
        "thresholds": {"near_copy_threshold": gate.NEAR_COPY_THRESHOLD, "max_copy_fraction": gate.MAX_COPY_FRACTION,
                       "collapse_ratio": gate.COLLAPSE_RATIO, "shift": nearcopy.SHIFT,
                       "diversity_shift": gate.DIVERSITY_SHIFT, "blur_sigma": nearcopy.BLUR_SIGMA},
        "honest_nn_distance_all": {**_quantiles(d_all), "n": len(d_all),
                                   "below_threshold": int((d_all < gate.NEAR_COPY_THRESHOLD).sum())},
        "real_held_apart": {k: real[k] for k in ("test_to_train", "train_to_test")},
        "real_class_diversity": real["real_class_diversity"],
        "honest_sets": honest,
        "false_refusals": len(refused), "honest_sets_total": len(honest),
        "false_refusal_rate": len(refused) / len(honest),
        "honest_sets_at_pass_mark": len(passing),
        "honest_diversity_min_ratio": min(h["diversity_min_ratio"] for h in honest),
        "attacks": attack_rows,
        "cost": cost,
    }
    print(f"  thresholds: near-copy distance < {gate.NEAR_COPY_THRESHOLD} (honest samples: min "
          f"{result['honest_nn_distance_all']['min']:.3f}, {result['honest_nn_distance_all']['below_threshold']} of "
          f"{len(d_all)} below; real test digits vs train: min {real['test_to_train']['min']:.3f}), at most "
          f"{gate.MAX_COPY_FRACTION:.0%} near-copies; diversity >= {gate.COLLAPSE_RATIO} of real (honest min "
          f"{result['honest_diversity_min_ratio']:.2f})")
    print(f"  false refusals: {len(refused)} of {len(honest)} honest sample sets "
          f"({len(passing)} of them at or above the {gate.PASS_ACCURACY:.0%} pass mark)")
    return result


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
