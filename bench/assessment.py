"""Benchmark of notebook 06 (the assessment): time-to-gate, DDPM vs DDIM, accuracy vs guidance.

Trains the instructor recipe of ``autograder/source/06_assessment`` (same model, sizes, seeds and
loss as the notebook's full profile, with the ``helpers`` reference functions in place of the
TODOs) and measures

* **time-to-gate**: training wall time until the exported EMA model first passes the full gate
  (1000 digits), checked every ``--every`` steps (gate time excluded), and the gate accuracy at
  the end of the full profile;
* **DDPM vs DDIM**: time to draw 1000 digits (100 per class, w of the notebook) with all T
  ancestral steps and with 25 DDIM steps, the accuracy of each, and the ratio, from one run;
* **peak memory** (resident set size of this process; CUDA peak allocation on a GPU);
* **accuracy vs w** for w in 0, 0.5, 1, 2, 3, 5, 7 (1000 digits each, with the gate's
  diversity ratio, the other side of the trade).

Prints a table and writes ``bench/results/assessment.json``. ``make bench`` runs it through
``python -m bench``; alone: ``python -m bench.assessment [--quick]``. The full run took 28 minutes
on the slower of the course's 2-core hosts (bench/reference/assessment.json) (the 400-step DDPM pass over 1000 digits is half of it); ``--quick``
(or ``BENCH_QUICK=1``) uses 20 digits per class for the DDPM/DDIM comparison and the w sweep.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

RESULTS = Path(__file__).resolve().parent / "results" / "assessment.json"

NOTEBOOK = Path(__file__).resolve().parent.parent / "autograder" / "source" / "06_assessment" / "06_assessment.ipynb"
NAMES = ("T", "BETA_START", "BETA_END", "CHS", "BATCH", "STEPS", "LR", "EMA_DECAY", "P_DROP", "GUIDANCE_W")
WS = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0)


def notebook_recipe(kind: str = "cpu", notebook: Path = NOTEBOOK) -> dict:
    """The instructor notebook's full-profile settings for a device kind ("cpu" or "gpu"), read from
    its source cells (``X = pick(smoke=..., cpu=..., gpu=...)`` or a plain literal; a TODO's
    placeholder ``X = ...`` is skipped for the solution's value), so the benchmark
    always measures the recipe the notebook ships."""
    import ast

    nb = json.loads(Path(notebook).read_text())
    found: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assign):
                continue
            targets = node.targets
            if len(targets) == 1 and isinstance(targets[0], ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(targets[0].elts, node.value.elts))
            else:
                pairs = [(t, node.value) for t in targets]
            for tgt, val in pairs:
                if not (isinstance(tgt, ast.Name) and tgt.id in NAMES) or tgt.id in found:
                    continue
                if isinstance(val, ast.Constant) and val.value is Ellipsis:   # a TODO's placeholder
                    continue
                if isinstance(val, ast.Call) and getattr(val.func, "id", "") == "pick":
                    kws = {k.arg: k.value for k in val.keywords}
                    val = kws[kind]
                found[tgt.id] = ast.literal_eval(val)
    missing = set(NAMES) - set(found)
    if missing:
        raise ValueError(f"{notebook}: could not read {sorted(missing)} from the notebook")
    return found


T = BETA_START = BETA_END = CHS = BATCH = STEPS = LR = EMA_DECAY = P_DROP = W = None


def _use_recipe(kind: str) -> None:
    global T, BETA_START, BETA_END, CHS, BATCH, STEPS, LR, EMA_DECAY, P_DROP, W
    r = notebook_recipe(kind)
    T, BETA_START, BETA_END = r["T"], r["BETA_START"], r["BETA_END"]
    CHS, BATCH, STEPS, LR, EMA_DECAY, P_DROP, W = (r["CHS"], r["BATCH"], r["STEPS"], r["LR"], r["EMA_DECAY"],
                                                  r["P_DROP"], r["GUIDANCE_W"])


_use_recipe("cpu")


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def train_instructor(device, steps: int = STEPS, every: int = 250, gate_dir: Path | None = None,
                     log=print) -> dict:
    """Train the notebook's model; every ``every`` steps export the EMA weights and run the gate
    until it first passes. Returns timings, the EMA model and the schedule."""
    from helpers import Schedule, seed_everything
    from helpers.data import load_mnist, make_loader
    from helpers.ddpm import context_mask, noise_loss
    from helpers.export import export_model
    from helpers.gate import run_gate
    from helpers.train import train
    from helpers.unet import ConditionalUNet

    sched = Schedule.linear(T, BETA_START, BETA_END)
    x, y = load_mnist("train")
    loader = make_loader(x, y, batch_size=BATCH, shuffle=True, seed=0, drop_last=True)
    seed_everything(0)
    model = ConditionalUNet(chs=CHS, T=T).to(device)

    def loss_fn(m, batch):  # the notebook's loss_fn, same random draws in the same order
        x0, labels = batch
        B = x0.shape[0]
        t = torch.randint(0, T, (B,), device=x0.device)
        noise = torch.randn_like(x0)
        c = F.one_hot(labels, 10).float()
        mask = context_mask(B, P_DROP).to(x0.device, non_blocking=True)
        return noise_loss(lambda xt, tt: m(xt, tt, c, mask), x0, sched, t=t, noise=noise)

    seed_everything(0)
    gate_dir = gate_dir or RESULTS.parent
    gate_dir.mkdir(parents=True, exist_ok=True)
    checks, first_pass, done, train_s = [], None, 0, 0.0
    ckpt = gate_dir / "assessment_train.ckpt"
    ckpt.unlink(missing_ok=True)
    history = None
    while done < steps:
        target = min(steps, done + every) if first_pass is None else steps
        history = train(model, loss_fn, loader, steps=target, lr=LR, ema_decay=EMA_DECAY, device=device,
                        checkpoint=ckpt, progress=False)
        done, train_s = history.steps, history.wall_time
        if first_pass is None:
            path = export_model(history.ema.model, gate_dir / "assessment_bench.pt2", sched=sched, w=W)
            r = run_gate(path, device=device, progress=False)
            checks.append({"step": done, "train_seconds": round(train_s, 1), "accuracy": r.accuracy,
                           "passed": r.passed, "gate_seconds": round(r.seconds, 1)})
            log(f"  step {done}: {train_s:.0f} s of training, gate {r.accuracy:.1%} "
                f"({'pass' if r.passed else 'fail'}, {r.seconds:.0f} s)")
            if r.passed:
                first_pass = checks[-1]
    ckpt.unlink(missing_ok=True)
    return {"model": history.ema.model.eval(), "sched": sched, "train_seconds": train_s, "steps": done,
            "final_loss": history.final_loss, "checks": checks, "first_pass": first_pass}


def main(argv: list[str] | None = None) -> dict:
    from helpers import get_device
    from helpers.export import export_model, load_exported
    from helpers.gate import evaluate_samples, generate, run_gate

    p = argparse.ArgumentParser(prog="python -m bench.assessment", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    p.add_argument("--every", type=int, default=250, help="steps between gate checks for time-to-gate")
    p.add_argument("--steps", type=int, default=STEPS)
    args = p.parse_args(argv)
    device = get_device()
    if device.type == "cuda":  # the notebook's GPU recipe (wider, bigger batches)
        _use_recipe("gpu")
        if args.steps == p.get_default("steps"):
            args.steps = STEPS
    n_cmp = 20 if args.quick else 100
    t_start = time.perf_counter()
    print(f"[assessment] training the notebook's recipe ({args.steps} steps, widths {CHS}) on {device}")
    tr = train_instructor(device, args.steps, args.every)
    path = export_model(tr["model"], RESULTS.parent / "assessment_bench.pt2", sched=tr["sched"], w=W)
    final = run_gate(path, device=device, progress=False)
    print(f"  full profile: gate {final.accuracy:.1%} (CI {final.ci_low:.1%}-{final.ci_high:.1%}), "
          f"{'PASSED' if final.passed else 'FAILED'}")

    ex = load_exported(path)
    cmp = {}
    for name, kw in (("ddim25", {"sampler": "ddim"}), (f"ddpm{T}", {"sampler": "ddpm"})):
        t0 = time.perf_counter()
        x, lab = generate(ex, n_cmp, device=device, progress=False, **kw)
        secs = time.perf_counter() - t0
        r = evaluate_samples(x, lab, w=W, device=str(device))
        cmp[name] = {"digits": len(lab), "seconds": round(secs, 2), "accuracy": r.accuracy,
                     "diversity_min_ratio": round(min(r.class_diversity_ratio), 3)}
        print(f"  {name}: {len(lab)} digits in {secs:.1f} s, accuracy {r.accuracy:.1%}")
    ratio = cmp[f"ddpm{T}"]["seconds"] / cmp["ddim25"]["seconds"]

    sweep = []
    for w in WS:
        x, lab = generate(ex, n_cmp, w=w, device=device, progress=False)
        r = evaluate_samples(x, lab, w=w, device=str(device))
        sweep.append({"w": w, "accuracy": r.accuracy, "ci": [round(r.ci_low, 4), round(r.ci_high, 4)],
                      "diversity_mean_ratio": round(sum(r.class_diversity_ratio) / 10, 3),
                      "diversity_min_ratio": round(min(r.class_diversity_ratio), 3),
                      "copy_fraction": r.copy_fraction})
        print(f"  w = {w:g}: accuracy {r.accuracy:.1%}, diversity {sweep[-1]['diversity_mean_ratio']:.2f} of real")

    peak = {"rss_mb": round(_peak_rss_mb(), 1)}
    if device.type == "cuda":
        peak["cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    result = {
        "benchmark": "06_assessment",
        "device": str(device), "threads": torch.get_num_threads(), "machine": platform.machine(),
        "torch": torch.__version__, "quick": args.quick,
        "recipe": {"T": T, "chs": CHS, "batch": BATCH, "steps": args.steps, "lr": LR, "ema": EMA_DECAY,
                   "p_drop": P_DROP, "w": W},
        "train_seconds": round(tr["train_seconds"], 1), "final_loss": round(tr["final_loss"], 4),
        "time_to_gate": tr["first_pass"], "gate_checks": tr["checks"],
        "final_gate": {"accuracy": final.accuracy, "ci": [final.ci_low, final.ci_high], "passed": final.passed,
                       "seconds": round(final.seconds, 1), "copy_fraction": final.copy_fraction,
                       "diversity_min_ratio": round(min(final.class_diversity_ratio), 3)},
        "ddpm_vs_ddim": {**cmp, "time_ratio_ddpm_over_ddim": round(ratio, 2)},
        "accuracy_vs_w": sweep, "peak_memory": peak,
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    ttg = tr["first_pass"]
    print(f"[assessment] time-to-gate {ttg['train_seconds'] if ttg else 'never'} s; DDPM/DDIM time ratio "
          f"{ratio:.1f}x; peak RSS {peak['rss_mb']:.0f} MB; wrote {RESULTS}")
    return result


if __name__ == "__main__":
    main()
