"""Checks for notebook 04 (classifier-free guidance, Ho & Salimans 2022).

One function per TODO; each builds seeded reference inputs with ``helpers`` and compares the
student's object with the reference (``helpers.unet.ConditionalUNet``, ``helpers.ddpm.context_mask``,
``helpers.ddpm.cfg_eps_fn``, ``helpers.guidance.guidance_sweep``). Each check feeds the student's
object reference inputs only, so one wrong TODO never fails another TODO's test.

* TODO 1 :func:`check_conditioning`       one-hot context + how it scales the features at every level
* TODO 2 :func:`check_context_mask`       Bernoulli keep-mask: statistics, 0/1 values, (B, 1), generator
* TODO 3 :func:`check_guided_eps_fn`      (1 + w) eps_cond - w eps_uncond from ONE batched forward call
* TODO 4 :func:`check_guidance_sweep`     samples per (w, class), same noise for every w
          :func:`check_conditional_accuracy`  the trained model's judge accuracy at a chosen w

:func:`prefer_student` lets the demonstrations use the student's code when it passes its check
and the reference otherwise (printing which), so later cells always run.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import Result, close, defined_in_notebook, equal, shape, true
from ..ddpm import cfg_eps_fn as ref_cfg_eps_fn
from ..guidance import guidance_sweep as ref_guidance_sweep
from ..guidance import sweep_labels
from ..schedules import Schedule
from ..unet import ConditionalUNet

__all__ = ["check_conditioning", "check_context_mask", "check_guided_eps_fn", "check_guidance_sweep",
           "check_conditional_accuracy", "prefer_student", "CountingModel", "MockEpsModel"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- TODO 1

def _tiny_ref(in_ch: int, n_classes: int, seed: int, chs=(8, 16), T: int = 100) -> ConditionalUNet:
    torch.manual_seed(seed)
    ref = ConditionalUNet(in_ch, chs, T, n_classes)
    # The default init makes c_emb(c) tiny relative to the features; widen it so that a wrong
    # conditioning path (added instead of multiplied, mask ignored) shows clearly.
    g = _gen(seed + 1)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return ref.eval()


def check_conditioning(one_hot_fn: Callable, unet_cls: type, seed: int = 0, batch: int = 4, in_ch: int = 1,
                       size: int = 28, n_classes: int = 10) -> list[Result]:
    """``one_hot(labels, n_classes)`` and a U-Net class ``unet_cls(in_ch, chs, T, c_dim)`` whose
    forward ``(x, t, c, c_mask)`` matches :class:`helpers.unet.ConditionalUNet` given its weights."""
    g = _gen(seed)
    labels = torch.randint(0, n_classes, (batch,), generator=g)  # (B,)
    res: list[Result] = []

    oh = one_hot_fn(labels, n_classes)
    expected_oh = F.one_hot(labels, n_classes).float()
    res.append(shape("one_hot shape (B, n_classes)", oh, (batch, n_classes),
                     hint="one row per label, one column per class"))
    if torch.is_tensor(oh) and oh.shape == expected_oh.shape:
        res.append(true("one_hot is a float tensor", oh.is_floating_point(), oh.dtype, "a float dtype",
                        hint="the context is multiplied by the mask and fed to a linear layer, which needs floats; "
                             "one-hot encodings come out as integers until converted"))
        res.append(close("one_hot values", oh, expected_oh, atol=0,
                         hint="row i has a single 1 in column labels[i] and zeros elsewhere (PyTorch's one_hot "
                              "function does this)"))

    res.append(defined_in_notebook("U-Net class written in this notebook", unet_cls))
    ref = _tiny_ref(in_ch, n_classes, seed)
    model = unet_cls(in_ch, (8, 16), 100, n_classes)
    missing, unexpected = model.load_state_dict(ref.state_dict(), strict=False)
    res.append(true("same parameter names as ConditionalUNet", not missing and not unexpected,
                    f"missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]}", "none",
                    hint="one context EmbedBlock per level (from c_dim to that level's width, in level order), "
                         "registered in an nn.ModuleList named self.c_embs, like the given t_embs"))
    if missing or unexpected:
        return res
    model.eval()
    x = torch.randn(batch, in_ch, size, size, generator=g)  # (B, C, H, W)
    t = torch.randint(0, 100, (batch,), generator=g)  # (B,)
    c = F.one_hot(labels, n_classes).float()  # (B, n_classes)
    mask = torch.tensor([[1.0], [0.0]] * (batch // 2) + [[1.0]] * (batch % 2))  # (B, 1), mixed
    with torch.no_grad():
        got = model(x, t, c, mask)
        want = ref(x, t, c, mask)
        got_keep = model(x, t, c, torch.ones(batch, 1))
        want_keep = ref(x, t, c, torch.ones(batch, 1))
        got_drop = model(x, t, c, torch.zeros(batch, 1))
        got_zero = model(x, t, torch.zeros_like(c), torch.ones(batch, 1))
    res.append(shape("output shape", got, x.shape))
    res.append(close("output with the context kept", got_keep, want_keep, atol=1e-4, rtol=1e-3,
                     hint="the context SCALES the features and the time SHIFTS them: at level i, h is "
                          "multiplied by that level's context embedding, then that level's time embedding is "
                          "added (the context is not added, and the scale is not 1 + the embedding)"))
    res.append(close("output with mixed c_mask (1 keep, 0 drop)", got, want, atol=1e-4, rtol=1e-3,
                     hint="multiply the context by the mask before any embedding, the mask shaped (B, 1) so "
                          "that each sample keeps or drops its own label"))
    res.append(close("c_mask = 0 is the same as a zero context", got_drop, got_zero, atol=1e-5, rtol=1e-4,
                     hint="a dropped context must become the zero vector before the embedding"))
    return res


# --------------------------------------------------------------------------- TODO 2

def check_context_mask(mask_fn: Callable, seed: int = 0, drop_prob: float = 0.1, n: int = 200_000,
                       batch: int = 7) -> list[Result]:
    """``context_mask(batch_size, drop_prob, generator=g)``: (B, 1) float of 0/1 values, 1 with
    probability 1 - drop_prob, reproducible from the generator."""
    res: list[Result] = []
    m = mask_fn(batch, drop_prob, generator=_gen(seed))
    res.append(shape("shape (B, 1)", m, (batch, 1),
                     hint="one value per sample, as a column that broadcasts against the context; a flat vector of "
                          "batch_size values is the likely mistake"))
    if not torch.is_tensor(m):
        return res
    res.append(true("float dtype", m.is_floating_point(), m.dtype, "float32",
                    hint="the model multiplies the context by it: return floats, not bools"))
    big = mask_fn(n, drop_prob, generator=_gen(seed)).double()
    res.append(true("values are only 0 and 1", bool(((big == 0) | (big == 1)).all()),
                    sorted(set(big.flatten()[:1000].tolist()))[:4], [0.0, 1.0],
                    hint="draw a 0/1 coin per sample (a Bernoulli draw, or uniform numbers compared with a "
                         "probability), not the probabilities themselves"))
    keep = 1.0 - drop_prob
    tol = 5 * math.sqrt(keep * (1 - keep) / n) + 1e-9  # 5 binomial standard deviations
    res.append(close(f"fraction kept over {n:,} draws (drop_prob={drop_prob:g})", big.mean().item(), keep,
                     atol=tol, rtol=0,
                     hint="1 means KEEP the context, with probability 1 - drop_prob (not drop_prob)"))
    again = mask_fn(n, drop_prob, generator=_gen(seed)).double()
    res.append(true("same generator seed, same mask", bool(torch.equal(big, again)), None, None,
                    hint="every random draw must come from the generator you are given (the random functions take "
                         "it as an argument); drawing from the global random state is the likely mistake"))
    if 0 < drop_prob < 1:
        other = mask_fn(n, drop_prob, generator=_gen(seed + 1)).double()
        res.append(true("another seed, another mask", not torch.equal(big, other), None, None,
                        hint="use the generator you are given, not a fixed seed"))
    all_keep = mask_fn(batch, 0.0, generator=_gen(seed))
    all_drop = mask_fn(batch, 1.0, generator=_gen(seed))
    res.append(close("drop_prob = 0 keeps everything", all_keep, torch.ones(batch, 1), atol=0))
    res.append(close("drop_prob = 1 drops everything", all_drop, torch.zeros(batch, 1), atol=0))
    return res


# --------------------------------------------------------------------------- TODO 3

class CountingModel(nn.Module):
    """Wraps a ``model(x, t, c, c_mask)`` and records every call's batch size."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.batch_sizes: list[int] = []

    def forward(self, x, t, c, c_mask):
        self.batch_sizes.append(int(x.shape[0]))
        return self.model(x, t, c, c_mask)


class MockEpsModel(nn.Module):
    """A noise "predictor" with known conditional and unconditional outputs, for exact tests:

        eps(x, t, c, c_mask) = a * x + b + s(t) + reshape((c * c_mask) @ P)

    so eps_cond - eps_uncond = reshape(c @ P) (the dropped context is the zero vector, as in
    ConditionalUNet; dropping it by a zero mask or by a zero c gives the same result)."""

    def __init__(self, img_shape, c_dim: int, seed: int = 0):
        super().__init__()
        g = _gen(seed)
        d = math.prod(img_shape)
        self.img_shape = tuple(img_shape)
        self.a = nn.Parameter(torch.randn(img_shape, generator=g), requires_grad=False)
        self.b = nn.Parameter(torch.randn(img_shape, generator=g), requires_grad=False)
        self.P = nn.Parameter(torch.randn(c_dim, d, generator=g), requires_grad=False)

    def forward(self, x, t, c, c_mask):
        ctx = (c.float() * c_mask.reshape(-1, 1)) @ self.P  # (B, D)
        s = (t.float() / 100).reshape(-1, *([1] * (x.ndim - 1)))  # (B, 1, 1, 1)
        return self.a * x + self.b + s + ctx.reshape(-1, *self.img_shape)


def check_guided_eps_fn(make_eps_fn: Callable, seed: int = 0, w: float = 2.0, batch: int = 3,
                        img_shape=(1, 8, 8), c_dim: int = 10, real_model: bool = False) -> list[Result]:
    """``guided_eps_fn(model, c, w)`` returns ``eps_fn(x, t)`` computing
    (1 + w) * eps(x, t, c, 1) - w * eps(x, t, c, 0) with ONE forward call on a batch of 2B."""
    g = _gen(seed)
    if real_model:
        base = _tiny_ref(img_shape[0], c_dim, seed)
    else:
        base = MockEpsModel(img_shape, c_dim, seed)
    model = CountingModel(base)
    x = torch.randn(batch, *img_shape, generator=g)  # (B, C, H, W)
    t = torch.randint(0, 100, (batch,), generator=g)  # (B,)
    c = F.one_hot(torch.randint(0, c_dim, (batch,), generator=g), c_dim).float()  # (B, c_dim)
    res: list[Result] = []
    with torch.no_grad():
        eps_fn = make_eps_fn(model, c, w)
        res.append(true("returns a function eps_fn(x, t)", callable(eps_fn), type(eps_fn).__name__, "a function",
                        hint="define eps_fn(x, t) inside and return it (a closure over model, c and w)"))
        model.batch_sizes.clear()
        got = eps_fn(x, t)
        calls = list(model.batch_sizes)
        want = ref_cfg_eps_fn(base, c, w)(x, t)
        res.append(shape("output shape = x.shape", got, x.shape))
        res.append(equal("model calls per eps_fn call", len(calls), 1,
                         hint="concatenate the conditional and unconditional inputs into ONE batch of 2B and "
                              "call the model once (twice the batch, half the calls)"))
        res.append(equal("batch size of that call", calls[0] if calls else None, 2 * batch,
                         hint="the doubled batch holds x, t and c twice, with a (2B, 1) mask that keeps the "
                              "context in the first half and drops it in the second"))
        res.append(close(f"guided noise at w = {w:g}", got, want, atol=1e-4, rtol=1e-4,
                         hint="guidance pushes AWAY from the unconditional prediction: the conditional half "
                              "(mask 1) gets weight 1 + w and the unconditional half (mask 0) -w; split the "
                              "output in the same order as the mask"))
        ones = torch.ones(batch, 1)
        got0 = make_eps_fn(model, c, 0.0)(x, t)
        res.append(close("w = 0 gives the conditional prediction", got0, base(x, t, c, ones), atol=1e-4, rtol=1e-4,
                         hint="w = 0 must give exactly the conditional prediction: the weights are 1 + w and "
                              "-w (not w and 1 - w)"))
    return res


# --------------------------------------------------------------------------- TODO 4

def check_guidance_sweep(sweep_fn: Callable, seed: int = 0, ws=(0.0, 3.0), n_classes: int = 3,
                         n_per_class: int = 2, img_shape=(1, 8, 8), steps: int = 4) -> list[Result]:
    """``guidance_sweep(model, ws, n_classes, n_per_class, img_shape, sched, steps, seed,
    make_eps_fn)`` against :func:`helpers.guidance.guidance_sweep` on a small random model."""
    model = _tiny_ref(img_shape[0], n_classes, seed, T=50)
    sched = Schedule.linear(50, 1e-4, 0.05)
    kw = dict(steps=steps, seed=seed, make_eps_fn=ref_cfg_eps_fn)
    got = sweep_fn(model, list(ws), n_classes, n_per_class, tuple(img_shape), sched, **kw)
    want = ref_guidance_sweep(model, list(ws), n_classes, n_per_class, tuple(img_shape), sched, **kw)
    res = [shape("shape (len(ws), n_classes, n_per_class, C, H, W)", got,
                 (len(ws), n_classes, n_per_class, *img_shape),
                 hint="one block of samples per w, each block arranged by class then sample; a missing reshape, or stacking along another axis than a new first one, is the likely mistake")]
    if not torch.is_tensor(got) or got.shape != want.shape:
        return res
    res.append(true("samples in [-1, 1]", bool(got.min() >= -1 and got.max() <= 1),
                    f"[{got.min().item():.3g}, {got.max().item():.3g}]", "[-1, 1]",
                    hint="the samples are images in [-1, 1], as the sampler returns them; rescaling them (to [0, 1] for display, say) is the likely mistake"))
    for i, w in enumerate(ws):
        res.append(close(f"samples at w = {w:g}", got[i], want[i], atol=1e-4, rtol=1e-4,
                         hint="if w = 0 passes and later w fail, the noise differs between w values: every w must "
                              "start from the same seeded noise; if every w fails, look at the label order (class "
                              "by class: all of class 0, then all of class 1, ...) and at the sampler's settings "
                              "(the given steps, the guided noise for that w, x0 clipped at every step)"))
    return res


def check_conditional_accuracy(sweep_fn: Callable, model, sched: Schedule, w: float, bound: float | None,
                               n_per_class: int = 20, steps: int = 25, seed: int = 1234,
                               img_shape=(1, 28, 28), dataset: str = "fashion") -> list[Result]:
    """Sample ``n_per_class`` images of each of the 10 classes at guidance ``w`` with the student's
    sweep and the reference guided noise; the judge must label at least ``bound`` of them right
    (``bound=None``: only that the pipeline returns valid samples and a valid accuracy)."""
    from ..judge import judge_accuracy

    device = next(model.parameters()).device
    with torch.inference_mode():
        x = sweep_fn(model, [w], 10, n_per_class, tuple(img_shape), sched, steps=steps, seed=seed,
                     make_eps_fn=ref_cfg_eps_fn, device=device)
    res = [shape("conditional samples: shape", x, (1, 10, n_per_class, *img_shape))]
    if not torch.is_tensor(x) or tuple(x.shape) != (1, 10, n_per_class, *img_shape):
        return res
    x = x.reshape(10 * n_per_class, *img_shape).float().cpu()
    res.append(true("conditional samples: finite and in [-1, 1]",
                    bool(torch.isfinite(x).all() and x.min() >= -1 and x.max() <= 1),
                    f"[{x.min().item():.3g}, {x.max().item():.3g}]", "[-1, 1]"))
    acc = judge_accuracy(x, sweep_labels(10, n_per_class), dataset)
    res.append(true("judge accuracy is a valid fraction", 0.0 <= acc <= 1.0, acc, "in [0, 1]"))
    if bound is not None:
        res.append(true(f"judge accuracy at w = {w:g} >= {bound:g}", acc >= bound, acc, f">= {bound:g}",
                        hint="train longer (the full profile), or check that the model was trained with "
                             "context dropout and sampled with guidance"))
    return res


# --------------------------------------------------------------------------- demos

def prefer_student(check_fn: Callable, student, reference, what: str, **kwargs):
    """``student`` when ``check_fn(student, **kwargs)`` passes, else ``reference`` (and say so)."""
    try:
        ok = all(r.ok for r in check_fn(student, **kwargs))
        why = "its checks fail"
    except NotImplementedError:
        ok, why = False, "it is not done yet"
    except Exception as exc:  # noqa: BLE001 - any error in student code: fall back
        ok, why = False, f"it raised {type(exc).__name__}"
    if ok:
        print(f"using your {what}")
        return student
    print(f"using the reference {what} from helpers ({why}); your grade for it is unaffected here")
    return reference
