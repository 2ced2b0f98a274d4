"""Checks for notebook 05 (CLIP): the cosine-similarity matrix, CLIP's symmetric contrastive
(InfoNCE) loss with a temperature (Radford et al. 2021; van den Oord et al. 2018), zero-shot
prediction by the nearest class-prompt embedding, the image embedding that conditions the U-Net
during training, and sampling from a text prompt with classifier-free guidance (Ho & Salimans
2022) and DDIM (Song et al. 2021).

One function per TODO, ``check_<name>(student_obj, seed=0, ...) -> list[Result]``. Expected
values come from :mod:`helpers.clip` on seeded inputs (the 2 x 2 loss example is worked by hand
in the walkthrough). TODOs 4 and 5 are fed small, freshly seeded reference models, never the
student's other TODOs, so each TODO is graded on its own.
"""
from __future__ import annotations

import contextlib
import copy
import io
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import clip
from ..schedules import Schedule
from ..unet import ConditionalUNet
from . import Result, close, defined_in_notebook, equal, finite, shape, true

__all__ = ["check_cosine_similarity_matrix", "check_contrastive_loss", "check_zero_shot_predict",
           "check_image_context", "check_sample_from_prompt", "tiny_clip", "tiny_unet"]


def _scaled_rows(g: torch.Generator, n: int, d: int) -> torch.Tensor:
    """Random rows with very different lengths (0.1 to 10): a missing normalisation shows."""
    x = torch.randn(n, d, generator=g)
    return x * torch.exp(torch.empty(n, 1).uniform_(math.log(0.1), math.log(10.0), generator=g))


# --------------------------------------------------------------------------- TODO 1

def check_cosine_similarity_matrix(fn, seed: int = 0, n: int = 5, m: int = 7, d: int = 16) -> list[Result]:
    """TODO 1: ``cosine_similarity_matrix(a, b)``: (N, D), (M, D) -> (N, M) cosine similarities."""
    results = [defined_in_notebook("cosine_similarity_matrix is your own function", fn)]
    g = torch.Generator().manual_seed(seed)
    a, b = _scaled_rows(g, n, d), _scaled_rows(g, m, d)  # (N, D), (M, D)
    out = fn(a, b)
    results.append(shape("shape (N, M): one row per a_i, one column per b_j", out, (n, m),
                         "every row of a meets every row of b: (N, D) against (M, D) gives (N, M), not (D, D)"))
    if tuple(getattr(out, "shape", ())) != (n, m):
        return results
    results.append(finite("finite values", out))
    results.append(close("equals helpers.clip.cosine_similarity_matrix", out, clip.cosine_similarity_matrix(a, b),
                         atol=1e-5, hint="scale every row of a and of b to unit length (its own L2 norm, along the "
                         "features), then take all the dot products between them"))
    results.append(close("does not depend on the lengths of the vectors: sim(3a, b/2) = sim(a, b)",
                         fn(3 * a, b / 2), out, atol=1e-5,
                         hint="a plain dot product grows with |a| and |b|: normalise first"))
    results.append(close("each vector has similarity 1 with itself: diag(sim(a, a)) = 1",
                         torch.diagonal(fn(a, a)), torch.ones(n), atol=1e-5,
                         hint="normalise each vector along its features, not each feature across the batch: the wrong "
                              "axis leaves rows that are not unit length"))
    results.append(true("values in [-1, 1]", bool((out.abs() <= 1 + 1e-5).all()),
                        f"[{out.min().item():.3g}, {out.max().item():.3g}]", "[-1, 1]",
                        "cosine similarity is a dot product of unit vectors"))
    return results


# --------------------------------------------------------------------------- TODO 2

def hand_worked_loss() -> tuple[torch.Tensor, float, float]:
    """The 2 x 2 example of the walkthrough: sim = [[0.5, 0.1], [0.3, 0.2]], temperature 0.1.

    logits = [[5, 1], [3, 2]]. Rows (image -> text): log(1 + e^-4) and log(1 + e^1); columns
    (text -> image): log(1 + e^-2) and log(1 + e^-1). Returns (sim, temperature, loss)."""
    sim = torch.tensor([[0.5, 0.1], [0.3, 0.2]])
    rows = (math.log1p(math.exp(-4)) + math.log1p(math.exp(1))) / 2  # 0.66571
    cols = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))) / 2  # 0.22010
    return sim, 0.1, (rows + cols) / 2  # 0.44290


def _random_sim(g: torch.Generator, n: int) -> torch.Tensor:
    """An (n, n) similarity matrix in (-1, 1) with a somewhat brighter diagonal, not symmetric."""
    return torch.tanh(0.6 * torch.randn(n, n, generator=g) + 0.8 * torch.eye(n))


def check_contrastive_loss(fn, seed: int = 0, n: int = 6, temperature: float = 0.07) -> list[Result]:
    """TODO 2: ``contrastive_loss(sim, temperature)``: CLIP's symmetric InfoNCE loss (a scalar)."""
    results = [defined_in_notebook("contrastive_loss is your own function", fn)]
    sim2, tau2, expected2 = hand_worked_loss()
    out2 = fn(sim2, tau2)
    results.append(true("returns a scalar tensor (0-d)", torch.is_tensor(out2) and out2.ndim == 0,
                        tuple(out2.shape) if torch.is_tensor(out2) else type(out2).__name__, "()",
                        "the loss must not grow with the batch: average the per-example cross-entropies rather than summing them"))
    if not torch.is_tensor(out2) or out2.numel() != 1:
        return results
    results.append(close("hand-worked 2x2 example (sim [[.5,.1],[.3,.2]], T = 0.1): 0.4429", out2, expected2,
                         atol=1e-4, hint="image->text alone gives 0.6657, text->image alone 0.2201: average both "
                                         "directions, with the similarities divided by T as the logits"))
    g = torch.Generator().manual_seed(seed)
    sim = _random_sim(g, n)  # (n, n)
    out = fn(sim, temperature)
    results.append(close(f"equals helpers.clip.contrastive_loss on a random {n}x{n} matrix, T = {temperature:g}",
                         out, clip.contrastive_loss(sim, temperature), atol=1e-4,
                         hint="the mean of two cross-entropies over the similarities divided by T: one over "
                              "the rows (image->text), one over the columns (text->image); the right answer for "
                              "row i is column i"))
    results.append(close("symmetric: swapping images and texts (sim.T) gives the same loss", fn(sim.T, temperature),
                         out, atol=1e-5, hint="use both the rows (image->text) and the columns (text->image)"))
    results.append(close("temperature divides: loss(2 sim, 2 T) = loss(sim, T)", fn(2 * sim, 2 * temperature),
                         out, atol=1e-4, hint="the logits are the similarities DIVIDED by the temperature (not "
                         "multiplied by it, and not the similarities alone)"))
    results.append(close(f"also right at T = 1 and T = 0.5",
                         torch.stack([fn(sim, 1.0), fn(sim, 0.5)]),
                         torch.stack([clip.contrastive_loss(sim, 1.0), clip.contrastive_loss(sim, 0.5)]), atol=1e-4,
                         hint="the temperature must change the loss"))
    perfect = 0.9 * torch.eye(n) - 0.1 * (1 - torch.eye(n))  # matching pairs 0.9, others -0.1
    results.append(true("a perfect alignment at a low temperature gives a loss near 0",
                        float(fn(perfect, 0.05)) < 1e-3, f"{float(fn(perfect, 0.05)):.3g}", "< 0.001",
                        "the targets are the diagonal: the right answer for image i is text i (its position "
                        "in the batch, not a class label)"))
    s = sim.clone().requires_grad_(True)
    loss = fn(s, temperature)
    ok = loss.requires_grad
    if ok:
        loss.backward()
        ok = s.grad is not None and bool(torch.isfinite(s.grad).all())
    results.append(true("differentiable (gradients reach sim)", ok,
                        hint="do not .detach(), .item() or wrap in torch.no_grad(): training needs the gradient"))
    return results


# --------------------------------------------------------------------------- TODO 3

def zero_shot_inputs(seed: int = 0, n: int = 24, k: int = 5, d: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed embeddings: k class embeddings with lengths from 0.2 to 5 and n image embeddings
    near random classes (plus noise), at random lengths."""
    g = torch.Generator().manual_seed(seed)
    protos = F.normalize(torch.randn(k, d, generator=g), dim=-1)  # (K, D)
    lengths = torch.logspace(math.log10(0.2), math.log10(5.0), k)[torch.randperm(k, generator=g)]
    class_emb = protos * lengths[:, None]  # (K, D) very different norms
    y = torch.randperm(n, generator=g) % k  # every class appears
    images = protos[y] + 0.5 * torch.randn(n, d, generator=g) / math.sqrt(d)  # noise of length ~0.5
    images = images * torch.empty(n, 1).uniform_(0.5, 3.0, generator=g)  # (N, D)
    return images, class_emb


def check_zero_shot_predict(fn, seed: int = 0, n: int = 24, k: int = 5, d: int = 16) -> list[Result]:
    """TODO 3: ``zero_shot_predict(image_emb, class_emb)``: (N, D), (K, D) -> (N,) int64 argmax of cosine."""
    results = [defined_in_notebook("zero_shot_predict is your own function", fn)]
    images, class_emb = zero_shot_inputs(seed, n, k, d)
    out = fn(images, class_emb)
    results.append(shape("shape (N,): one class index per image", out, (n,),
                         "one class index per image: take the maximum across the classes (the K columns of the similarity matrix), not across the images"))
    if tuple(getattr(out, "shape", ())) != (n,):
        return results
    results.append(true("integer class indices (torch.long)", out.dtype == torch.long, str(out.dtype), "torch.int64",
                        "class indices are integers (int64), as an argmax returns them; converting them to float is the likely mistake"))
    results.append(true("indices in [0, K)", bool(((out >= 0) & (out < k)).all()), hint="each image gets the index of its most similar class: the maximum is taken across the classes (the K columns), not across the images"))
    expected = clip.zero_shot_predict(images, class_emb)
    wrong = int((out.cpu() != expected).sum())
    results.append(Result("same predictions as helpers.clip.zero_shot_predict", wrong == 0,
                          f"{wrong} of {n} differ" if wrong else None, "0 differ" if wrong else None, "",
                          "use the COSINE similarity: a raw dot product favours class embeddings with a large norm"))
    # A clean case: each image is a copy of a class embedding (shuffled), at a different length.
    g = torch.Generator().manual_seed(seed + 1)
    perm = torch.randint(0, k, (k + 3,), generator=g)
    clean = class_emb[perm] * torch.empty(k + 3, 1).uniform_(0.3, 4.0, generator=g)
    results.append(equal("an image equal to a class embedding is predicted as that class",
                         fn(clean, class_emb).cpu().tolist(), perm.tolist(),
                         "a rescaled copy of class k's embedding has cosine 1 with class k, whatever its length: "
                         "take for each image the class of largest cosine, across the classes; a raw dot product "
                         "(long class embeddings win) or the best image per class is the likely mistake"))
    return results


# --------------------------------------------------------------------------- TODO 4

def tiny_clip(seed: int = 0, embed_dim: int = 16) -> clip.FlowerCLIP:
    """A small, freshly seeded FlowerCLIP with non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    model = clip.FlowerCLIP(embed_dim=embed_dim, widths=(8, 16, 16), dropout=0.5)
    with torch.no_grad():  # give BatchNorm running statistics that differ from batch statistics
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
    return model


def tiny_unet(seed: int = 0, c_dim: int = 16) -> ConditionalUNet:
    torch.manual_seed(seed)
    return ConditionalUNet(in_ch=3, chs=(8, 16), c_dim=c_dim)


def _bn_state(model: nn.Module) -> list[torch.Tensor]:
    return [b.detach().clone() for name, b in model.named_buffers() if "running" in name]


def check_image_context(fn, seed: int = 0, batch: int = 4, size: int = 32, embed_dim: int = 16) -> list[Result]:
    """TODO 4: ``image_context(clip_model, images)``: (B, 3, H, W) -> (B, D) unit CLIP image
    embeddings, eval mode, no gradient, the model's mode restored; the U-Net accepts them as c."""
    results = [defined_in_notebook("image_context is your own function", fn)]
    model = tiny_clip(seed, embed_dim)
    model.train()  # as it may be left after CLIP training: the function must switch to eval itself
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, size, size, generator=g) * 2 - 1  # (B, 3, H, W) in [-1, 1]
    ref = copy.deepcopy(model).eval()
    with torch.no_grad():
        expected = F.normalize(ref.encode_image(x), dim=-1)  # (B, D)
    before = _bn_state(model)
    out = fn(model, x)
    results.append(shape("shape (B, embed_dim)", out, (batch, embed_dim),
                         "clip_model.encode_image already gives (B, D): do not flatten or transpose"))
    if tuple(getattr(out, "shape", ())) != (batch, embed_dim):
        return results
    results.append(close("unit vectors: |c_i| = 1", out.norm(dim=-1), torch.ones(batch), atol=1e-4,
                         hint="scale each embedding to unit length along the features: the text embeddings used "
                              "at sampling time are unit vectors too"))
    results.append(true("no gradient into CLIP (out.requires_grad is False)", not out.requires_grad,
                        hint="CLIP is frozen while the U-Net trains: encode without recording gradients, so no "
                             "graph reaches back into CLIP"))
    results.append(true("the model's training/eval mode is restored", model.training,
                        "eval" if not model.training else "train", "train",
                        "note whether the model was in training mode before switching it to eval, and put it "
                        "back in that mode before returning"))
    after = _bn_state(model)
    results.append(true("BatchNorm running statistics untouched",
                        all(torch.equal(a, b) for a, b in zip(before, after)),
                        hint="in training mode BatchNorm updates its running statistics with every batch it sees: "
                             "switch the model to evaluation mode before encoding"))
    results.append(close("equals the normalised encode_image in eval mode (helpers.clip.image_context)",
                         out.detach(), expected, atol=1e-5,
                         hint="encode in eval mode (BatchNorm running statistics, no dropout), then scale each "
                              "embedding to unit length"))
    one = fn(model, x[:1])
    results.append(close("an image's context does not depend on the rest of the batch", one.detach(),
                         out[:1].detach(), atol=1e-5, hint="in train mode BatchNorm mixes the batch: use eval mode"))
    unet = tiny_unet(seed, embed_dim)
    with torch.no_grad():
        eps = unet(x, torch.zeros(batch, dtype=torch.long), out, torch.ones(batch, 1))
    results.append(shape("the U-Net accepts it: unet(x, t, c, c_mask) has the shape of x", eps, tuple(x.shape)))
    return results


# --------------------------------------------------------------------------- TODO 5

class _Spy(nn.Module):
    """Wraps a conditional U-Net and records the contexts and masks it is called with."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet
        self.calls: list[tuple[torch.Tensor, torch.Tensor | None]] = []

    def forward(self, x, t, c=None, c_mask=None):
        self.calls.append((c.detach().cpu().clone() if c is not None else None,
                           c_mask.detach().cpu().clone() if c_mask is not None else None))
        return self.unet(x, t, c, c_mask)


def check_sample_from_prompt(fn, seed: int = 0, n: int = 3, w: float = 2.0, steps: int = 3,
                             prompt: str = "a red rose", other: str = "a field of yellow sunflowers",
                             embed_dim: int = 16) -> list[Result]:
    """TODO 5: ``sample_from_prompt(unet, clip_model, prompt, sched, n, w, steps, seed)`` ->
    (n, 3, 32, 32) in [-1, 1], equal to :func:`helpers.clip.sample_from_prompt`."""
    results = [defined_in_notebook("sample_from_prompt is your own function", fn)]
    model = tiny_clip(seed, embed_dim).eval()
    spy = _Spy(tiny_unet(seed, embed_dim)).eval()
    sched = Schedule.linear(T=100)
    quiet = contextlib.redirect_stderr(io.StringIO())  # progress bars must not reach a test cell's stderr
    with quiet:
        out = fn(spy, model, prompt, sched, n=n, w=w, steps=steps, seed=seed)
        expected = clip.sample_from_prompt(spy.unet, model, prompt, sched, n=n, w=w, steps=steps, seed=seed)
    results.append(shape("shape (n, 3, 32, 32)", out, (n, 3, 32, 32), "sample shape (n, 3, 32, 32)"))
    if tuple(getattr(out, "shape", ())) != (n, 3, 32, 32):
        return results
    results.append(finite("finite values", out))
    results.append(true("values in [-1, 1]", bool((out.abs() <= 1 + 1e-6).all()),
                        f"[{out.min().item():.3g}, {out.max().item():.3g}]", "[-1, 1]",
                        "the samples are images in [-1, 1], as the sampler returns them; rescaling them, or switching off the sampler's final clamp, is the likely mistake"))
    calls = [cm for cm in spy.calls if cm[0] is not None]
    text = F.normalize(clip.text_context(model, prompt), dim=-1)  # (1, D)
    if not calls:
        results.append(Result("the U-Net is called with a context c", False, "no context", "c (B, D)", "",
                              "the prompt reaches the U-Net only as its context c (with the mask that drops it for the "
                              "unconditional pass); a guided noise that never passes the context is the likely mistake"))
    else:
        c, mask = calls[0]
        kept = c if mask is None else c[mask.flatten() > 0.5]
        ok_shape = kept.ndim == 2 and kept.shape[-1] == embed_dim and len(kept) > 0
        results.append(true("context rows are (D,) = the CLIP text embedding size", ok_shape,
                            tuple(c.shape), f"(batch, {embed_dim})",
                            "the context is CLIP's text embedding (the locked MiniLM followed by the trained text head, the size the U-Net was built for), not MiniLM's raw 384-d sentence vector"))
        if ok_shape:
            results.append(close("the kept context is the normalised text embedding of the prompt", kept,
                                 text.expand_as(kept), atol=1e-4,
                                 hint="the context is the prompt's CLIP text embedding scaled to unit length "
                                      "(like the image contexts in training), one copy per sample"))
        has_uncond = any(m is not None and bool((m < 0.5).any()) for _, m in calls)
        results.append(true("classifier-free guidance: an unconditional pass (c_mask = 0) is made", has_uncond,
                            hint="classifier-free guidance needs the unconditional prediction (context masked out) "
                                 "next to the conditional one; sampling from the conditional model alone is the "
                                 "likely mistake"))
    results.append(close("equals helpers.clip.sample_from_prompt (same seed, w, steps)", out, expected, atol=1e-4,
                         hint="if the checks above pass, the difference is in the sampler's settings: deterministic "
                              "DDIM with the predicted x0 clipped at every step, the guided noise, the given "
                              "steps, and noise from a fresh generator seeded with seed; leaving out the x0 "
                              "clipping is the likely mistake"))
    with quiet:
        again = fn(spy, model, prompt, sched, n=n, w=w, steps=steps, seed=seed)
        other_prompt = fn(spy, model, other, sched, n=n, w=w, steps=steps, seed=seed)
        w0 = fn(spy, model, prompt, sched, n=n, w=0.0, steps=steps, seed=seed)
    results.append(close("the same seed gives the same images", again, out, atol=1e-5,
                         hint="draw the starting noise from a generator seeded with seed, not from torch's "
                              "global random state"))
    results.append(true("another prompt gives other images", not torch.allclose(other_prompt, out, atol=1e-4),
                        hint="the prompt must reach the model through c"))
    results.append(true("the guidance scale w changes the images", not torch.allclose(w0, out, atol=1e-4),
                        hint="the guidance scale w must reach the guided noise; a fixed or default scale is the "
                             "likely mistake"))
    return results
