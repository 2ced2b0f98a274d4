"""Where the label enters the U-Net: at every level (the course's ``ConditionalUNet``) or only at
the middle and the first up block (NVIDIA DLI's design, this course's before November 2026).

Trains both on MNIST with the same seeds, data order, widths (16, 32), batch 64, Adam 2e-3,
EMA 0.995 and number of steps (1,500 by default), then draws 30 digits per class at w = 0, 1, 3
(DDIM 25, x0 clipping, the same noise for every model and w) and scores them with the shipped
MNIST judge. Prints a table and writes ``bench/results/conditioning.json``; the walkthrough of
notebook 04 quotes it. About 6 minutes on a 2-core CPU.

    python -m bench.conditioning [--steps 1500] [--per-class 30]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results" / "conditioning.json"
WS = (0.0, 1.0, 3.0)


def two_level_unet(chs=(16, 32), T=1000, c_dim=10):
    """The earlier design: h <- emb_c(c) * h + emb_t(t) at the middle and after up1 only."""
    from helpers.blocks import EmbedBlock
    from helpers.unet import UNetBackbone

    class TwoLevelUNet(UNetBackbone):
        def __init__(self):
            super().__init__(1, chs, T)
            c0, c1 = chs
            self.t_emb1, self.t_emb2 = EmbedBlock(self.t_dim, c1), EmbedBlock(self.t_dim, c0)
            self.c_emb1, self.c_emb2 = EmbedBlock(c_dim, c1), EmbedBlock(c_dim, c0)

        def forward(self, x, t, c, c_mask):
            c = c.float() * c_mask.reshape(-1, 1)
            te = self.sinusoidal(t)
            d0 = self.down0(x)
            d1 = self.down1(d0)
            d2 = self.down2(d1)
            m = self.c_emb1(c) * self.middle(d2) + self.t_emb1(te)
            u1 = self.c_emb2(c) * self.up1(m, d2) + self.t_emb2(te)
            return self.out(torch.cat((self.up2(u1, d1), d0), dim=1))

    return TwoLevelUNet()


def run(name: str, make_model, steps: int, per_class: int) -> dict:
    from helpers import Schedule, guidance
    from helpers.data import load_mnist, make_loader
    from helpers.judge import judge_accuracy
    from helpers.train import train
    from helpers.unet import count_parameters

    torch.manual_seed(0)
    sched = Schedule.linear(1000)
    x, y = load_mnist("train")
    model = make_model()
    g = torch.Generator().manual_seed(1)

    def loss_fn(model, batch):
        x0, labels = batch
        return guidance.cfg_loss(model, x0, labels, sched, 10, drop_prob=0.1, generator=g)

    loader = make_loader(x, y, batch_size=64, shuffle=True, seed=0, drop_last=True)
    t0 = time.perf_counter()
    hist = train(model, loss_fn, loader, steps=steps, lr=2e-3, ema_decay=0.995, progress=False)
    train_s = time.perf_counter() - t0
    hist.ema.copy_to(model).eval()
    sweep = guidance.guidance_sweep(model, WS, 10, per_class, (1, 28, 28), sched, steps=25, seed=0)
    labels = guidance.sweep_labels(10, per_class)
    acc = {str(w): round(judge_accuracy(sweep[i].reshape(-1, 1, 28, 28), labels, dataset="mnist"), 4)
           for i, w in enumerate(WS)}
    row = {"model": name, "parameters": count_parameters(model), "steps": steps, "train_s": round(train_s, 1),
           "final_loss": round(hist.final_loss, 4), "accuracy_by_w": acc}
    print(f"  {name:<28} {row['parameters']:>8,d} params  {train_s:6.0f} s  loss {row['final_loss']:.4f}  "
          + "  ".join(f"w={w:g}: {acc[str(w)]:.0%}" for w in WS), flush=True)
    return row


def main(argv: list[str] | None = None) -> dict:
    from helpers.unet import ConditionalUNet

    p = argparse.ArgumentParser(prog="python -m bench.conditioning", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--per-class", type=int, default=30)
    args = p.parse_args(argv)
    print(f"[conditioning] MNIST, widths (16, 32), {args.steps} steps, {args.per_class} digits per class and w")
    rows = [run("middle + up1 only (before)", two_level_unet, args.steps, args.per_class),
            run("every level (ConditionalUNet)", lambda: ConditionalUNet(1, (16, 32), 1000, 10),
                args.steps, args.per_class)]
    result = {"benchmark": "conditioning", "machine": {"cpus": torch.get_num_threads(),
                                                       "platform": platform.platform()},
              "ws": list(WS), "rows": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print(f"  written to {RESULTS}")
    return result


if __name__ == "__main__":
    main()
