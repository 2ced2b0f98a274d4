"""Notebook 05's text-to-image, judged independently: which context the U-Net gets at sampling time.

Trains notebook 05's CPU models (the flower CLIP, widths (16, 32, 64), 600 steps of 64; a
``ConditionalUNet`` (32, 64) conditioned on CLIP *image* embeddings, 1,500 steps of 64, Adam 2e-3,
EMA 0.995, label drop 0.1, random mirror), then samples every demo prompt
(``helpers.clip.DEMO_PROMPTS``) from four kinds of context:

* ``text``: the prompt's unit text embedding, as TODO 5 does (unCLIP without a prior);
* ``shift``: the text embedding moved by mean(image embeddings) - mean(text embeddings of the
  demo prompts), re-normalised (the modality-gap shift of Liang et al. 2022);
* ``prior k``: :func:`helpers.clip.retrieval_prior` with k = 1, 16 (the notebook) and 64.

Each (context, w) draws ``--per-prompt`` images per prompt (DDIM 30, x0 clipping, the same noise for
every context and w) and scores them with the shipped **flower judge** (independent of the CLIP)
and with the notebook's CLIP (zero-shot, for comparison). Prints a table and writes
``bench/results/text_to_image.json``; the walkthrough of notebook 05 quotes it. About 7 minutes on
a 2-core CPU (3 with ``--unet-chs 16,32``).

    python -m bench.text_to_image [--diff-steps 1500] [--per-prompt 20] [--unet-chs 32,64] [--grid g.png]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

RESULTS = Path(__file__).resolve().parent / "results" / "text_to_image.json"
WS = (0.0, 1.0, 3.0, 6.0)
CONTEXTS = ("text", "shift", "prior k=1", "prior k=16", "prior k=64")


def contexts(clip_model, bank: torch.Tensor) -> dict[str, torch.Tensor]:
    """{context name: (5, D) contexts for the 5 demo prompts}."""
    from helpers import clip

    text = clip.text_context(clip_model, list(clip.DEMO_PROMPTS)).cpu()  # (5, D)
    gap = bank.mean(0) - text.mean(0)  # (D,) image centre minus text centre
    out = {"text": text, "shift": F.normalize(text + gap, dim=-1)}
    for k in (1, 16, 64):
        out[f"prior k={k}"] = clip.retrieval_prior(text, bank, k=min(k, len(bank)))
    return out


def main(argv: list[str] | None = None) -> dict:
    from helpers import clip, data
    from helpers.judge import judge_predict
    from helpers.schedules import Schedule
    from helpers.train import train
    from helpers.unet import ConditionalUNet

    p = argparse.ArgumentParser(prog="python -m bench.text_to_image", description=__doc__.split("\n\n")[0])
    p.add_argument("--clip-steps", type=int, default=600)
    p.add_argument("--diff-steps", type=int, default=1500)
    p.add_argument("--per-prompt", type=int, default=20)
    p.add_argument("--limit", type=int, default=None, help="use every k-th training photo only (quick checks)")
    p.add_argument("--unet-chs", default="32,64", help="U-Net widths c0,c1 (the notebook's CPU size by default)")
    p.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    p.add_argument("--grid", type=Path, default=None,
                   help="also save a PNG: one row per prompt, text embedding at w = 3 beside the prior at w = 6")
    args = p.parse_args(argv)
    chs = tuple(int(v) for v in args.unet_chs.split(","))

    x, y = data.load_flowers(32, "train")  # (2783, 3, 32, 32) in [-1, 1]
    if args.limit:
        x, y = x[::args.limit], y[::args.limit]
    print(f"[text_to_image] {len(x)} photos; CLIP {args.clip_steps} steps, U-Net {chs} {args.diff_steps} "
          f"steps; {args.per_prompt} images per prompt, w in {WS}", flush=True)
    torch.manual_seed(0)
    cm = clip.FlowerCLIP(widths=(16, 32, 64))
    t0 = time.perf_counter()
    clip.train_clip(cm, x, y, steps=args.clip_steps, batch_size=64, seed=0, progress=False)
    clip_s = time.perf_counter() - t0
    cm.eval().requires_grad_(False)
    class_emb = clip.class_embeddings(cm)
    sched = Schedule.linear(1000)
    torch.manual_seed(0)
    unet = ConditionalUNet(in_ch=3, chs=chs, T=1000, c_dim=cm.embed_dim)
    loader = data.make_loader(x, batch_size=64, shuffle=True, seed=0, drop_last=True)
    g = torch.Generator().manual_seed(0)

    def loss(model, x0):
        x0 = data.random_mirror(x0, g)
        return clip.cond_diffusion_loss(model, cm, x0, sched, drop_prob=0.1, generator=g,
                                        context_fn=clip.image_context)

    t0 = time.perf_counter()
    hist = train(unet, loss, loader, steps=args.diff_steps, lr=2e-3, ema_decay=0.995, progress=False)
    diff_s = time.perf_counter() - t0
    ema = hist.ema.model.eval()
    bank = clip.embed_images(cm, x)  # (N, D)
    ctx = contexts(cm, bank)
    labels = torch.arange(5).repeat_interleave(args.per_prompt)  # (5 n,)
    rows, shown = [], {}
    print(f"  trained: CLIP {clip_s:.0f} s, U-Net {diff_s:.0f} s (loss {hist.final_loss:.4f})", flush=True)
    for name in CONTEXTS:
        row = {"context": name, "judge_by_w": {}, "clip_by_w": {}, "judge_per_prompt_by_w": {}}
        for w in WS:
            xs = torch.cat([clip.sample_from_context(ema, ctx[name][k], sched, n=args.per_prompt, w=w, steps=30,
                                                     seed=0) for k in range(5)])  # (5 n, 3, 32, 32)
            if (name, w) in (("text", 3.0), ("prior k=16", 6.0)):
                shown[name] = xs.reshape(5, args.per_prompt, 3, 32, 32)[:, :8]  # (5, 8, 3, 32, 32)
            judge = judge_predict(xs, "flowers") == labels
            by_clip = clip.zero_shot_predict(clip.embed_images(cm, xs), class_emb) == labels
            row["judge_by_w"][str(w)] = round(judge.float().mean().item(), 4)
            row["clip_by_w"][str(w)] = round(by_clip.float().mean().item(), 4)
            row["judge_per_prompt_by_w"][str(w)] = [round(v, 3) for v in
                                                    judge.float().reshape(5, -1).mean(1).tolist()]
        rows.append(row)
        print(f"  {name:<11} flower judge " + "  ".join(f"w={w:g}: {row['judge_by_w'][str(w)]:.0%}" for w in WS)
              + "   | CLIP " + "  ".join(f"{row['clip_by_w'][str(w)]:.0%}" for w in WS), flush=True)
    gap = {"cos_text_prior_k16": [round(v, 3) for v in (ctx["text"] * ctx["prior k=16"]).sum(-1).tolist()]}
    result = {"benchmark": "text_to_image", "machine": {"cpus": torch.get_num_threads(),
                                                        "platform": platform.platform()},
              "photos": len(x), "unet_chs": list(chs), "clip_steps": args.clip_steps, "diff_steps": args.diff_steps,
              "per_prompt": args.per_prompt, "clip_train_s": round(clip_s, 1), "unet_train_s": round(diff_s, 1),
              "prompts": list(clip.DEMO_PROMPTS), "ws": list(WS), "rows": rows, **gap}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"  written to {args.out}")
    if args.grid is not None:
        from torchvision.utils import save_image

        rows_img = torch.cat([shown["text"], shown["prior k=16"]], dim=1)  # (5, 16, 3, 32, 32)
        save_image((rows_img.reshape(-1, 3, 32, 32) + 1) / 2, args.grid, nrow=16, padding=1)
        print(f"  grid written to {args.grid}")
    return result


if __name__ == "__main__":
    main()
