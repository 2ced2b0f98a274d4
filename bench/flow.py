"""Benchmark of notebook 07 (flow matching): judge accuracy against network evaluations per digit.

Trains two models with notebook 06's CPU recipe (``bench.assessment.notebook_recipe``: the same
:class:`~helpers.unet.ConditionalUNet`, widths, batch, learning rate, EMA, context dropout, data
order and seeds), differing only in what the network learns:

* **flow**: the flow-matching velocity (:func:`helpers.flow.flow_cfg_loss`; t = 0 data, t = 1 noise);
* **ddpm**: notebook 06's noise predictor (its linear schedule, T steps).

Then, for each sampler and each count of network evaluations per digit (NFE) in 1, 2, 4, 8, 16, 25
(Heun: 3, 5, 9, 15, 25), it draws the gate's 1000 digits (100 per class, guidance w of the recipe, noise from one CPU
generator seeded with ``helpers.gate.GRADER_SEED``, batches of the gate's size: the same starting
noise for every sampler) and runs them through the gate's judge and integrity checks
(:func:`helpers.gate.evaluate_samples`: accuracy >= 95%, near-copies and collapse refused):

* **flow-euler**: :func:`helpers.flow.sample` with Euler, NFE steps;
* **flow-heun**: Heun with an Euler last step, (NFE + 1) / 2 steps (odd NFE only;
  :func:`helpers.flow.sample` says why the last step is Euler);
* **ddpm-ddim**: the gate's own sampler, DDIM (eta = 0, x0 clipped to [-1, 1]) with NFE steps.

One NFE is one batched network call (the conditional and unconditional passes of classifier-free
guidance run together in one call, as in the gate). It reports the smallest NFE at which each
sampler passes the gate, the training wall time of each model and the load average of the
machine at the start and the end (wall times on a shared machine are disturbed; accuracies and
pass/fail are not: every draw is seeded).

Prints a table and writes ``bench/results/flow.json``. ``make bench`` runs it through
``python -m bench``; alone: ``python -m bench.flow [--quick] [--steps N]``. ``--quick`` (or
``BENCH_QUICK=1``) proves the pipeline only: a few training steps, the smallest U-Net, 2 digits per
class, NFE 1 and 2 (Heun 3). ``--samplers flow-heun`` re-measures one sampler (and trains only the
model it needs).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

RESULTS = Path(__file__).resolve().parent / "results" / "flow.json"
NFES = (1, 2, 4, 8, 16, 25)
HEUN_NFES = (3, 5, 9, 15, 25)   # Heun's counts are odd: 2 evaluations per step, 1 for the last (Euler) step
SAMPLERS = ("flow-euler", "flow-heun", "ddpm-ddim")
MAX_NFE_GOAL = 10  # issue 20: the gate should pass with at most this many network evaluations per digit


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def train_model(kind: str, recipe: dict, steps: int, device, chs=None, log=print) -> dict:
    """Train notebook 06's ConditionalUNet with the recipe as a ``kind`` = "flow" (velocity) or
    "ddpm" (noise) model: same seeds, same batches in the same order. Returns the EMA model,
    the training wall time and the final loss."""
    from helpers import Schedule, seed_everything
    from helpers.data import load_mnist, make_loader
    from helpers.ddpm import context_mask, noise_loss
    from helpers.flow import flow_cfg_loss
    from helpers.train import train
    from helpers.unet import ConditionalUNet

    T = recipe["T"]
    sched = Schedule.linear(T, recipe["BETA_START"], recipe["BETA_END"])
    x, y = load_mnist("train")
    loader = make_loader(x, y, batch_size=recipe["BATCH"], shuffle=True, seed=0, drop_last=True)
    seed_everything(0)
    model = ConditionalUNet(chs=tuple(chs or recipe["CHS"]), T=T).to(device)
    p_drop = recipe["P_DROP"]

    def ddpm_loss(m, batch):  # notebook 06's loss_fn (bench.assessment's copy)
        x0, labels = batch
        B = x0.shape[0]
        t = torch.randint(0, T, (B,), device=x0.device)
        noise = torch.randn_like(x0)
        c = F.one_hot(labels, 10).float()
        mask = context_mask(B, p_drop).to(x0.device, non_blocking=True)
        return noise_loss(lambda xt, tt: m(xt, tt, c, mask), x0, sched, t=t, noise=noise)

    def flow_loss(m, batch):
        x0, labels = batch
        return flow_cfg_loss(m, x0, labels, 10, p_drop, T=T)

    seed_everything(0)
    history = train(model, flow_loss if kind == "flow" else ddpm_loss, loader, steps=steps, lr=recipe["LR"],
                    ema_decay=recipe["EMA_DECAY"], device=device, progress=False)
    log(f"  {kind}: {history.steps} steps in {history.wall_time:.0f} s, final loss {history.final_loss:.4f}")
    return {"model": history.ema.model.eval(), "sched": sched, "train_seconds": history.wall_time,
            "steps": history.steps, "final_loss": history.final_loss}


@torch.no_grad()
def draw(sampler: str, model, sched, nfe: int, w: float, n_per_class: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The gate's draw (helpers.gate.generate's labels, seed, batches and starting noise) with
    ``sampler`` at ``nfe`` network evaluations per digit. Returns (samples (N, 1, 28, 28) in
    [-1, 1] on the CPU, labels (N,))."""
    from helpers import flow
    from helpers.ddpm import cfg_eps_fn, ddim_sample
    from helpers.gate import GATE_BATCH, GRADER_SEED

    labels = torch.arange(10).repeat_interleave(n_per_class)  # (N,)
    g = torch.Generator().manual_seed(GRADER_SEED)
    out = []
    for i in range(0, len(labels), GATE_BATCH):
        lab = labels[i:i + GATE_BATCH].to(device)
        c = F.one_hot(lab, 10).float()
        shape = (len(lab), 1, 28, 28)
        if sampler == "ddpm-ddim":
            x = ddim_sample(cfg_eps_fn(model, c, w), shape, sched, steps=nfe, device=device, generator=g,
                            clip_x0=True, progress=False)
        else:
            x = flow.sample(flow.cfg_velocity_fn(model, c, w, T=sched.T), shape, nfe, sampler.split("-")[1],
                            generator=g, device=device)
        out.append(x.clamp(-1, 1).float().cpu())
    return torch.cat(out), labels


def main(argv: list[str] | None = None) -> dict:
    from bench.assessment import notebook_recipe
    from helpers import get_device
    from helpers.gate import N_PER_CLASS, SMOKE_PER_CLASS, evaluate_samples

    p = argparse.ArgumentParser(prog="python -m bench.flow", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    p.add_argument("--steps", type=int, default=None, help="training steps of each model (default: the recipe's)")
    p.add_argument("--nfe", type=str, default=None, help="comma-separated NFE counts (default 1,2,4,8,16,25)")
    p.add_argument("--heun-nfe", type=str, default=None, help="Heun's odd NFE counts (default 3,5,9,15,25)")
    p.add_argument("--samplers", type=str, default=",".join(SAMPLERS),
                   help=f"comma-separated subset of {','.join(SAMPLERS)}")
    args = p.parse_args(argv)
    device = get_device()
    recipe = notebook_recipe("gpu" if device.type == "cuda" else "cpu")
    steps = args.steps or (3 if args.quick else recipe["STEPS"])
    chs = (8, 16) if args.quick else recipe["CHS"]
    nfes = tuple(int(v) for v in args.nfe.split(",")) if args.nfe else ((1, 2) if args.quick else NFES)
    heun_nfes = (tuple(int(v) for v in args.heun_nfe.split(",")) if args.heun_nfe
                 else ((3,) if args.quick else HEUN_NFES))
    if any(n % 2 == 0 for n in heun_nfes):
        p.error(f"--heun-nfe: Heun's counts are odd (2 evaluations per step, 1 for the last), got {heun_nfes}")
    chosen = tuple(v for v in args.samplers.split(",") if v)
    if not chosen or set(chosen) - set(SAMPLERS):
        p.error(f"--samplers: choose from {', '.join(SAMPLERS)}, got {args.samplers!r}")
    n_per_class = SMOKE_PER_CLASS if args.quick else N_PER_CLASS
    w = recipe["GUIDANCE_W"]
    load_start, t_start = _loadavg(), time.perf_counter()
    print(f"[flow] training the {'flow and DDPM models' if len(chosen) == len(SAMPLERS) else 'models ' + ', '.join(chosen) + ' need'} with notebook 06's recipe ({steps} steps, widths {tuple(chs)}, "
          f"batch {recipe['BATCH']}) on {device}; load average {load_start}")
    trained, rows = {}, []

    def snapshot(complete: bool) -> dict:
        smallest = {s: min((r["nfe"] for r in rows if r["sampler"] == s and r["passed"]), default=None)
                    for s in chosen}
        return {
            "benchmark": "07_flow_matching", "complete": complete,
            "device": str(device), "threads": torch.get_num_threads(), "machine": platform.machine(),
            "torch": torch.__version__, "quick": args.quick,
            "recipe": {"T": recipe["T"], "chs": list(chs), "batch": recipe["BATCH"], "steps": steps,
                       "lr": recipe["LR"], "ema": recipe["EMA_DECAY"], "p_drop": recipe["P_DROP"], "w": w,
                       "source": "notebook 06's full-profile recipe (bench.assessment.notebook_recipe)"},
            "per_class": n_per_class,
            "training": {k: {"steps": v["steps"], "train_seconds": round(v["train_seconds"], 1),
                             "final_loss": round(v["final_loss"], 4)} for k, v in trained.items()},
            "rows": rows,
            "smallest_passing_nfe": smallest,
            "goal": f"the gate passes with at most {MAX_NFE_GOAL} network evaluations per digit",
            "goal_met": {s: (n is not None and n <= MAX_NFE_GOAL) for s, n in smallest.items()},
            "loadavg_start": load_start, "loadavg_end": _loadavg(),
            "note": "wall times (training, sampling) are disturbed when the load average is above the machine's "
                    "core count (other jobs); accuracies and pass/fail are seeded and not affected",
            "total_seconds": round(time.perf_counter() - t_start, 1),
        }

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # each model is trained and then judged, and the file is rewritten after every row
    # ("complete": false until the end), so a run cut short keeps what it measured
    for kind, samplers in (("flow", ("flow-euler", "flow-heun")), ("ddpm", ("ddpm-ddim",))):
        samplers = [s for s in samplers if s in chosen]
        if not samplers:
            continue
        trained[kind] = tr = train_model(kind, recipe, steps, device, chs)
        print(f"  {'sampler':<11} {'NFE':>4} {'accuracy':>9} {'gate':>5} {'copies':>7} {'min div':>8} {'seconds':>8}")
        for sampler in samplers:
            for nfe in (heun_nfes if sampler == "flow-heun" else nfes):
                t0 = time.perf_counter()
                x, lab = draw(sampler, tr["model"], tr["sched"], nfe, w, n_per_class, device)
                secs = time.perf_counter() - t0
                r = evaluate_samples(x, lab, w=w, device=str(device))
                rows.append({"sampler": sampler, "nfe": nfe, "accuracy": r.accuracy,
                             "ci": [round(r.ci_low, 4), round(r.ci_high, 4)], "passed": r.passed,
                             "near_copy_fraction": r.near_copy_fraction, "copies_ok": r.copies_ok,
                             "diversity_min_ratio": round(min(r.class_diversity_ratio), 3),
                             "diversity_ok": r.diversity_ok, "sample_seconds": round(secs, 2), "digits": len(lab)})
                print(f"  {sampler:<11} {nfe:>4} {r.accuracy:>9.1%} {'pass' if r.passed else 'fail':>5} "
                      f"{r.near_copy_fraction:>7.1%} {min(r.class_diversity_ratio):>8.2f} {secs:>8.1f}", flush=True)
                RESULTS.write_text(json.dumps(snapshot(False), indent=2) + "\n")

    result = snapshot(True)
    smallest = result["smallest_passing_nfe"]
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("[flow] smallest NFE that passes the gate: "
          + ", ".join(f"{s} {n if n is not None else 'none'}" for s, n in smallest.items())
          + "; training " + ", ".join(f"{v['train_seconds']} s ({k})" for k, v in result["training"].items())
          + f"; wrote {RESULTS}")
    return result


if __name__ == "__main__":
    main()
