"""Every figure the documents call *computed* (closed forms, arithmetic, binomial intervals and tails,
schedule values, tensor sizes, parameter counts), and the arithmetic stated beside it, recomputed
here independently and compared at the precision it is printed with.

Measured figures are tied to their results files by bench/quotes.py (tests/test_quotes.py); these
are the others. Each claim below is a phrase that must still be in its document, word for word (up
to line breaks), and a function that recomputes the phrase's figures: it returns ``(printed,
value)`` pairs, ``printed`` being the figure as the phrase writes it (found in the phrase in that
order) and ``value`` the recomputation, or a tuple of recomputations (course helper and an
independent formula) that must all agree with it. "Agree" means within half a unit of the last
printed digit: 86.5 for 86.48, 3e-9 for 2.96e-9, 240 only for 240.

A new "computed" in a document must be tied here or listed in EXEMPT (a use of the word that
carries no figure) or REPORTED (a figure found wrong in a document this file could not fix, with
its correct value): test_every_computed_figure_is_tied fails otherwise. Fast (well under 20 s on
one thread): text, pure-Python maths, a few small U-Nets built on the CPU, MNIST's training and
Fashion-MNIST's test images read from their .gz files (skipped where the data is absent), and one
MiniLM encoding of four sentences (skipped where the model cannot be loaded).
"""
from __future__ import annotations

import functools
import gzip
import math
import re
import struct
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from statistics import NormalDist
from typing import Callable

import pytest
import torch
import torch.nn as nn

REPO = Path(__file__).resolve().parent.parent
A00 = "answers/00_Module_Review_Answers.md"
A01 = "answers/01_UNets_Answers.md"
A06 = "answers/06_Assessment_Answers.md"
A07 = "answers/07_Flow_Matching_Answers.md"
W04 = "walkthroughs/04_Classifier_Free_Guidance_Walkthrough.md"
W05 = "walkthroughs/05_CLIP_Walkthrough.md"
W06 = "walkthroughs/06_Assessment_DDPM_Walkthrough.md"
SCANNED = sorted(str(p.relative_to(REPO)) for p in [*REPO.glob("answers/*.md"), *REPO.glob("walkthroughs/*.md"),
                                                      REPO / "README.md"])

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------- machinery

def _norm(text: str) -> str:
    """Whitespace collapsed, so a phrase is found across the document's line breaks."""
    return " ".join(text.split())


@functools.cache
def _doc(doc: str) -> str:
    return _norm((REPO / doc).read_text())


@dataclass(frozen=True)
class Claim:
    doc: str
    phrase: str
    figures: Callable[[], list]
    name: str


CLAIMS: list[Claim] = []


def claim(doc: str, phrase: str):
    """Register the decorated recomputation for `phrase` of `doc` (the function's name is the test id)."""
    def register(fn):
        CLAIMS.append(Claim(doc, _norm(phrase), fn, fn.__name__))
        return fn
    return register


def _number(printed: str) -> Decimal:
    return Decimal(printed.replace("−", "-").replace(",", "").replace(" ", "").replace("+", ""))


def agrees(printed: str, value: float) -> bool:
    """`value` rounds to `printed`: within half a unit of its last digit ("3e-9": 2.5e-9..3.5e-9)."""
    d = _number(printed)
    half = 0.5 * 10.0 ** d.as_tuple().exponent
    return abs(float(d) - value) <= half * (1 + 1e-9)


def _token(printed: str) -> re.Pattern:
    return re.compile(r"(?<![\d.])" + re.escape(printed) + r"(?![\d])")


def check(texts: dict[str, str] | None = None, claims: list[Claim] | None = None) -> list[str]:
    """Problems, one line each ([] when every phrase is found and its figures agree). `texts` overrides
    documents (doc -> text), e.g. to check an edited copy."""
    texts = {doc: _norm(t) for doc, t in (texts or {}).items()}
    problems = []
    for c in CLAIMS if claims is None else claims:
        text = texts[c.doc] if c.doc in texts else _doc(c.doc)
        if c.phrase not in text:
            problems.append(f"{c.doc}: {c.name}: the phrase is gone: {c.phrase[:90]!r}; update "
                            f"tests/test_computed_claims.py if the text moved, recompute the figures if it changed")
            continue
        at = 0
        for printed, values in c.figures():
            m = _token(printed).search(c.phrase, at)
            if m is None:
                problems.append(f"{c.doc}: {c.name}: {printed!r} is not in the phrase (after position {at})")
                continue
            at = m.end()
            for v in values if isinstance(values, tuple) else (values,):
                if not agrees(printed, v):
                    problems.append(f"{c.doc}: {c.name}: says {printed}, recomputed {v:.6g}")
    return problems


# --------------------------------------------------------------------------- shared recomputations

def wilson_by_quadratic(k: int, n: int, conf: float = 0.95) -> tuple[float, float]:
    """Wilson's interval as the two roots in p of (k/n - p)^2 = z^2 p (1 - p) / n."""
    z = NormalDist().inv_cdf(0.5 + conf / 2)
    ph = k / n
    a, b, c = 1 + z * z / n, -(2 * ph + z * z / n), ph * ph
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


def wilson_pct(k: int, n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(lower, upper) in percent, each as (helpers.gate's value, the quadratic's value)."""
    from helpers.gate import wilson_interval
    ours, gate = wilson_by_quadratic(k, n), wilson_interval(k, n)
    return (100 * gate[0], 100 * ours[0]), (100 * gate[1], 100 * ours[1])


def binom_tail(n: int, p_percent: int, ks: range) -> tuple[float, float]:
    """P(X in ks), X ~ Bin(n, p_percent/100): exact integer sum with math.comb, and torch's log-pmf."""
    exact = sum(math.comb(n, k) * p_percent ** k * (100 - p_percent) ** (n - k) for k in ks) / 100 ** n
    dist = torch.distributions.Binomial(n, torch.tensor(p_percent / 100, dtype=torch.float64))
    via_torch = dist.log_prob(torch.tensor(list(ks), dtype=torch.float64)).exp().sum().item()
    return exact, via_torch


def se_points(p: float, n: int) -> float:
    return 100 * math.sqrt(p * (1 - p) / n)


def _cumprod(betas) -> list[float]:
    out, acc = [], 1.0
    for b in betas:
        acc *= 1 - b
        out.append(acc)
    return out


@functools.cache
def schedules_1000() -> dict[str, tuple[list[float], list[float]]]:
    """alpha-bar for T = 1000, as answers 00 section 19b says it was computed (helpers.schedules and
    torch.cumprod, float64), and independently in pure Python from the papers' formulas."""
    from helpers.schedules import cosine_beta_schedule, linear_beta_schedule
    T, s = 1000, 0.008
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2 for t in range(T + 1)]
    lo, hi = math.sqrt(0.00085), math.sqrt(0.012)
    ours = {"linear": [1e-4 + (0.02 - 1e-4) * t / (T - 1) for t in range(T)],
            "cosine": [min(1 - f[t + 1] / f[t], 0.999) for t in range(T)],
            "scaled": [(lo + (hi - lo) * t / (T - 1)) ** 2 for t in range(T)]}
    helper = {"linear": linear_beta_schedule(1000, 1e-4, 0.02), "cosine": cosine_beta_schedule(1000, s=0.008),
              "scaled": torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2}
    return {k: (torch.cumprod(1 - helper[k], 0).tolist(), _cumprod(ours[k])) for k in ours}


def schedules_1000_float32() -> dict[str, list[float]]:
    """The same alpha-bars with betas and products in float32, as diffusers computes them."""
    T, s, f32 = 1000, 0.008, torch.float32
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2 for t in range(T + 1)]
    betas = {"linear": torch.linspace(1e-4, 0.02, T, dtype=f32),
             "cosine": torch.tensor([min(1 - f[t + 1] / f[t], 0.999) for t in range(T)], dtype=f32),
             "scaled": torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, T, dtype=f32) ** 2}
    return {k: torch.cumprod(1 - b, 0).double().tolist() for k, b in betas.items()}


def both(kind: str, fn: Callable[[float], float], t: int) -> tuple[float, float]:
    helper, ours = schedules_1000()[kind]
    return fn(helper[t]), fn(ours[t])


def log10_snr(ab: float) -> float:
    return math.log10(ab / (1 - ab))


@functools.cache
def nb06_alpha_bar() -> tuple[list[float], list[float]]:
    """Notebook 06's schedule, T = 400, Ho et al.'s betas scaled by 1000/T (helpers.schedules / pure Python)."""
    from helpers.schedules import Schedule
    T = 400
    b0, b1 = 1e-4 * 1000 / T, 0.02 * 1000 / T
    ours = _cumprod([b0 + (b1 - b0) * t / (T - 1) for t in range(T)])
    sched = Schedule.from_betas(torch.linspace(b0, b1, T, dtype=torch.float64))
    return sched.alphas_cumprod.double().tolist(), ours


@functools.cache
def conditional_unet(chs: tuple[int, int]) -> tuple[int, int, int]:
    """Notebook 06's U-Net (ConditionalUNet, T = 400, 10 classes): (parameters, multiply-adds for one
    28x28 digit by torch.utils.flop_counter's FLOPs / 2, the same counted layer by layer with hooks)."""
    from torch.utils.flop_counter import FlopCounterMode

    from helpers.unet import ConditionalUNet
    model = ConditionalUNet(1, chs, T=400, c_dim=10).eval()
    args = (torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.long), torch.zeros(1, 10), torch.ones(1, 1))
    hooked = [0]

    def count(mod, inp, out):
        k = math.prod(getattr(mod, "kernel_size", (1,)))
        if isinstance(mod, nn.Conv2d):
            hooked[0] += out.numel() * mod.in_channels // mod.groups * k
        elif isinstance(mod, nn.ConvTranspose2d):
            hooked[0] += inp[0].numel() * mod.out_channels * k
        elif isinstance(mod, nn.Linear):
            hooked[0] += out.numel() * mod.in_features

    handles = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(*args)
    for h in handles:
        h.remove()
    return sum(p.numel() for p in model.parameters()), fc.get_total_flops() // 2, hooked[0]


@functools.cache
def _idx(dataset: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 28, 28) uint8 and labels (N,) read straight from the IDX .gz files (not helpers.data)."""
    from helpers.data import DataNotFoundError, find_dataset
    prefix = "train" if split == "train" else "t10k"
    names = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
    try:
        folder = find_dataset(dataset, *names, download=False)
    except DataNotFoundError:
        pytest.skip(f"no {dataset} data here")
    raw = gzip.decompress((folder / names[0]).read_bytes())
    n, rows, cols = struct.unpack(">III", raw[4:16])
    images = torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8).reshape(n, rows, cols)
    labels = torch.frombuffer(bytearray(gzip.decompress((folder / names[1]).read_bytes())[8:]), dtype=torch.uint8)
    return images, labels


def _signed(images: torch.Tensor) -> torch.Tensor:
    return images.double() / 127.5 - 1  # [0, 255] -> [-1, 1], as the course loads them


# --------------------------------------------------------------------------- answers/00_Module_Review_Answers.md

@claim(A00, r"(Ho et al.'s linear schedule, $\sigma_t^2 = \beta_t$: $\lambda_t = 0.50$ at t = 1, 0.074 at "
            r"t = 10, 0.010 at t = 100, between 0.0055 and 0.010 from t = 500 to 1000)")
def a00_vlb_weights():
    """Section 2 (arithmetic, not marked computed): lambda_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - abar_t)) with
    sigma_t^2 = beta_t, for Ho et al.'s linear schedule; the paper's t = 1..1000 is the code's t - 1."""
    from helpers.schedules import Schedule
    sched = Schedule.linear(1000)
    _, ours = schedules_1000()["linear"]
    betas = [1e-4 + (0.02 - 1e-4) * t / 999 for t in range(1000)]

    def lam(t: int) -> tuple[float, float]:
        b, ab = betas[t - 1], ours[t - 1]
        hb, ha, hab = (sched.betas[t - 1].item(), sched.alphas[t - 1].item(), sched.alphas_cumprod[t - 1].item())
        return b * b / (2 * b * (1 - b) * (1 - ab)), hb * hb / (2 * hb * ha * (1 - hab))

    late = [lam(t)[0] for t in range(500, 1001)]
    assert max(range(1, 1001), key=lambda t: lam(t)[0]) == 1  # largest at small t
    return [("0.50", lam(1)), ("0.074", lam(10)), ("0.010", lam(100)), ("0.0055", min(late)), ("0.010", max(late))]


@claim(A00, "compresses a 512×512×3 image to e.g. a 64×64×4 latent — 48× fewer values")
def a00_latent_compression():
    return [("64", 512 // 8), ("64", 512 // 8), ("48", (512 * 512 * 3) / (64 * 64 * 4))]


@claim(A00, "DDIM with 25 steps vs DDPM with all 400 steps on 1000 digits, see `ddpm_vs_ddim` in "
            "`bench/results/assessment.json` (16× fewer network calls")
def a00_ddim_calls():
    from helpers.ddpm import ddim_timesteps
    return [("25", len(ddim_timesteps(400, 25))), ("400", 400), ("16", 400 / len(ddim_timesteps(400, 25)))]


@claim(A00, "1000 req/min ≈ 17 req/s")
def a00_requests_per_second():
    return [("17", 1000 / 60)]


@claim(A00, "up to depth × b × (1 proposal + k candidates × v votes), 240 calls for d = 3, b = 5, k = 5, v = 3 "
            "(computed: 3·5·(1 + 5·3))")
def a00_tree_of_thought_calls():
    d, b, k, v = 3, 5, 5, 3
    return [("240", d * b * (1 + k * v))]


@claim(A00, "CLIP ViT-L/14 at 336 px, LLaVA-1.5's encoder, gives 24 × 24 = 576 patch tokens (computed: 336/14 = 24)")
def a00_llava_patch_tokens():
    side = 336 / 14
    return [("24", side), ("24", side), ("576", side ** 2), ("24", side)]


@claim(A00, "one minute at 1 frame/s is 60 × 576 = 34,560 tokens; full attention over them costs 60² = 3,600 times "
            "one image's (computed)")
def a00_video_tokens():
    frame, frames = 576, 60
    return [("34,560", frames * frame), ("3,600", (frames * frame) ** 2 / frame ** 2)]


@claim(A00, "(2 × 2 pooling: 144 tokens a frame, 8,640 a minute, computed)")
def a00_video_pooled_tokens():
    per_frame = (24 // 2) * (24 // 2)
    return [("144", per_frame), ("8,640", 60 * per_frame)]


@claim(A00, "10 M products at 512 dimensions take 20.5 GB in float32, 10.2 GB in fp16, 0.64 GB as 64-byte PQ codes "
            "(computed: 10⁷ × 512 × 4 B, × 2 B, 10⁷ × 64 B)")
def a00_index_memory():
    n, dim, gb = 10 ** 7, 512, 1e9
    f32 = torch.empty(0, dtype=torch.float32).element_size()
    f16 = torch.empty(0, dtype=torch.float16).element_size()
    return [("20.5", n * dim * f32 / gb), ("10.2", n * dim * f16 / gb), ("0.64", n * 64 / gb)]


@claim(A00, "routing 20% up costs 0.8 + 0.2 × 20 = 4.8 units per query instead of 20; a cascade escalating 30% "
            "costs 1 + 0.3 × 20 = 7 (computed)")
def a00_routing_cost():
    price = 20  # the reasoning model's price in fast-model units
    return [("4.8", (1 - 0.2) * 1 + 0.2 * price), ("20", price), ("7", 1 + 0.3 * price)]


@claim(A00, "cuts the image into 16 × 16 patches (224 px → 196 tokens, computed)")
def a00_vit_tokens():
    return [("196", (224 // 16) ** 2)]


@claim(A00, "halving the patch size quadruples N and multiplies the attention cost by 16")
def a00_vit_halved_patches():
    n1, n2 = (224 // 16) ** 2, (224 // 8) ** 2
    assert n2 == 4 * n1
    return [("16", n2 ** 2 / n1 ** 2)]


@claim(A00, "(notebook 06's 109 k-parameter U-Net)")
def a00_nb06_parameters():
    return [("109", conditional_unet((16, 32))[0] / 1000)]


@claim(A00, "a 256² image → 32 × 32 × 4 latent → patches of 2 → 256 tokens; at 512² the same patching gives "
            "1,024 tokens and 16× the attention cost (computed)")
def a00_dit_tokens():
    f, patch = 8, 2  # the SD VAE's downsampling factor, DiT's patch size
    side = 256 // f
    n256, n512 = (256 // f // patch) ** 2, (512 // f // patch) ** 2
    return [("32", side), ("32", side), ("256", n256), ("1,024", n512), ("16", n512 ** 2 / n256 ** 2)]


def _hand_worked():
    """answers 00 section 19a's example, in float64 from its definition."""
    beta, x0, eps = 0.02, (0.8, -0.3), (0.5, -0.7)
    a = 1 - beta
    x1 = [math.sqrt(a) * x + math.sqrt(beta) * e for x, e in zip(x0, eps)]
    coef = beta / math.sqrt(1 - a)
    return beta, a, x0, eps, x1, coef


@claim(A00, r"with $\sqrt{0.98} = 0.989949$ and $\sqrt{0.02} = 0.141421$: $x_1 = [0.791960 + 0.070711,\ -0.296985 "
            r"- 0.098995] = [0.862670, -0.395980]$")
def a00_19a_forward():
    from helpers.checks.nb02 import hand_worked_example
    beta, a, x0, eps, x1, _ = _hand_worked()
    helper_x1 = hand_worked_example()["x1"].flatten().tolist()  # float32
    assert all(abs(h - x) < 1e-6 for h, x in zip(helper_x1, x1))
    sa, sb = math.sqrt(a), math.sqrt(beta)
    return [("0.989949", sa), ("0.141421", sb), ("0.791960", sa * x0[0]), ("0.070711", sb * eps[0]),
            ("-0.296985", sa * x0[1]), ("0.098995", -sb * eps[1]), ("0.862670", x1[0]), ("-0.395980", x1[1])]


@claim(A00, r"The coefficient is $0.02/0.141421 = 0.141421$ (it equals $\sqrt{\beta_1}$ because $1 - \bar\alpha_1 = "
            r"\beta_1$ at the first step); $x_1 - 0.141421\,\epsilon = [0.862670 - 0.070711,\ -0.395980 + 0.098995] = "
            r"[0.791960, -0.296985]$; times $1/\sqrt{0.98} = 1.010153$ gives $[0.800000, -0.300000]$: exactly $x_0$.")
def a00_19a_reverse_mean():
    from helpers import ddpm
    from helpers.checks.nb02 import hand_worked_example
    beta, a, x0, eps, x1, coef = _hand_worked()
    inner = [x - coef * e for x, e in zip(x1, eps)]
    mean = [v / math.sqrt(a) for v in inner]
    ex = hand_worked_example()
    helper = ddpm.p_mean(ex["x1"], ex["t"], ex["eps"], ex["sched"]).flatten().tolist()  # float32
    return [("0.141421", coef), ("0.141421", coef), ("0.862670", x1[0]), ("0.070711", coef * eps[0]),
            ("-0.395980", x1[1]), ("0.098995", -coef * eps[1]), ("0.791960", inner[0]), ("-0.296985", inner[1]),
            ("1.010153", 1 / math.sqrt(a)), ("0.800000", (mean[0], helper[0])), ("-0.300000", (mean[1], helper[1]))]


@claim(A00, r"$\tilde\beta_1 = \beta_1\frac{1-\bar\alpha_0}{1-\bar\alpha_1} = 0.02 \cdot 0/0.02 = 0$")
def a00_19a_posterior_variance():
    from helpers.checks.nb02 import hand_worked_example
    beta, a, *_ = _hand_worked()
    ab_prev, ab = 1.0, a  # alpha-bar before the first step is 1
    tilde = beta * (1 - ab_prev) / (1 - ab)
    return [("0.02", beta), ("0", 1 - ab_prev), ("0.02", 1 - ab),
            ("0", (tilde, hand_worked_example()["sched"].posterior_variance[0].item()))]


@claim(A00, r"where $\sigma$ would be $\sqrt{0.02} = 0.141$")
def a00_19a_beta_sigma():
    return [("0.141", math.sqrt(0.02))]


@claim(A00, r"at code `t = 1` of Ho et al.'s linear schedule (T = 1000), $\beta = 1.199\times10^{-4}$ and "
            r"$\tilde\beta = 5.45\times10^{-5}$ ($0.455\,\beta$; `Schedule.linear(1000)`)")
def a00_19a_posterior_variance_t1():
    from helpers.schedules import Schedule
    T = 1000
    betas = [1e-4 + (0.02 - 1e-4) * t / (T - 1) for t in range(2)]
    ab = _cumprod(betas)
    tilde = betas[1] * (1 - ab[0]) / (1 - ab[1])
    sched = Schedule.linear(1000)
    return [("1.199", (betas[1] * 1e4, sched.betas[1].item() * 1e4)),
            ("5.45", (tilde * 1e5, sched.posterior_variance[1].item() * 1e5)), ("0.455", tilde / betas[1])]


@claim(A00, r"$-\frac{\beta_1}{\sqrt{1-\bar\alpha_1}\sqrt{\alpha_1}}\delta = -\sqrt{0.02/0.98}\,\delta = -\delta/7$ "
            r"(computed: 0.142857)")
def a00_19a_sensitivity():
    beta, a, *_ = _hand_worked()
    k = beta / (math.sqrt(1 - a) * math.sqrt(a))
    assert abs(k - math.sqrt(0.02 / 0.98)) < 1e-15
    return [("7", 1 / k), ("0.142857", k)]


@claim(A00, r'and an arbitrary `z = [1.3, -2.1]` returns $[0.80000007, -0.30000001]$ for both '
            r'`var_type="posterior"` and `"beta"` (float32 error $6\times10^{-8}$)')
def a00_19a_p_sample_cross_check():
    from helpers import ddpm
    from helpers.checks.nb02 import hand_worked_example
    ex = hand_worked_example()
    z = torch.tensor([1.3, -2.1]).reshape(1, 1, 1, 2)
    outs = [ddpm.p_sample(ex["x1"], ex["t"], ex["eps"], ex["sched"], noise=z, var_type=v).flatten()
            for v in ("posterior", "beta")]
    err = max((o.double() - ex["x0"].double().flatten()).abs().max().item() for o in outs)
    return [("0.80000007", tuple(o[0].item() for o in outs)), ("-0.30000001", tuple(o[1].item() for o in outs)),
            ("6", err * 1e8)]


_ROWS_19B = {
    0: "| 0 | 0.99990 (+4.00) | 0.99996 (+4.38) | 0.99915 (+3.07) |",
    100: "| 100 | 0.8951 (+0.93) | 0.9716 (+1.53) | 0.8942 (+0.93) |",
    250: "| 250 | 0.5214 (+0.04) | 0.8459 (+0.74) | 0.6738 (+0.32) |",
    500: "| 500 | 0.0778 (−1.07) | 0.4923 (−0.01) | 0.2763 (−0.42) |",
    750: "| 750 | 0.0033 (−2.48) | 0.1432 (−0.78) | 0.0562 (−1.23) |",
    999: "| 999 | 4.04e-5 (−4.39) | 2.43e-9 (−8.61) | 4.66e-3 (−2.33) |",
}


def _row_19b(t: int):
    cells = re.findall(r"([\d.e-]+) \(([+−][\d.]+)\)", _ROWS_19B[t])
    out = []
    for kind, (ab, snr) in zip(("linear", "cosine", "scaled"), cells):
        out += [(ab, both(kind, lambda v: v, t)), (snr, both(kind, log10_snr, t))]
    return out


def _row_claim(t: int) -> None:
    def figures():
        return _row_19b(t)
    figures.__name__ = f"a00_19b_alpha_bar_row_t{t}"
    claim(A00, _ROWS_19B[t])(figures)


for _t in _ROWS_19B:
    _row_claim(_t)


@claim(A00, "(computed with `helpers.schedules.linear_beta_schedule(1000, 1e-4, 0.02)`, `cosine_beta_schedule(1000, "
            "s=0.008)` and `torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64)**2`, then "
            "`torch.cumprod(1 - betas, 0)`; float32, as diffusers computes it, agrees to 4 digits)")
def a00_19b_float32_agrees_to_4_digits():
    f32 = schedules_1000_float32()
    for t in _ROWS_19B:  # float32's alpha-bar rounds to the same printed value in every cell of the table
        printed = [ab for ab, _ in re.findall(r"([\d.e-]+) \(([+−][\d.]+)\)", _ROWS_19B[t])]
        for kind, ab in zip(("linear", "cosine", "scaled"), printed):
            assert agrees(ab, f32[kind][t]), (kind, t, ab, f32[kind][t])
    worst = max(abs(f32[k][t] / schedules_1000()[k][0][t] - 1) for k in f32 for t in _ROWS_19B)
    assert worst < 5e-5, worst  # and within 4 significant digits of the float64 values
    return []


@claim(A00, "SNR falls below 1 at t = 259 (linear), 496 (cosine), 354 (scaled-linear); 326, 64 and 66 steps have "
            "SNR < 0.01 (almost pure noise), 27, 56 and 11 have SNR > 100 (computed likewise)")
def a00_19b_snr_crossings_and_counts():
    figures = {}
    for kind in ("linear", "cosine", "scaled"):
        helper, ours = schedules_1000()[kind]
        snrs = [[ab / (1 - ab) for ab in abs_] for abs_ in (helper, ours)]
        figures[kind] = [tuple(next(t for t, s in enumerate(snr) if s < 1) for snr in snrs),
                         tuple(sum(s < 0.01 for s in snr) for snr in snrs),
                         tuple(sum(s > 100 for s in snr) for snr in snrs)]
    order = ("linear", "cosine", "scaled")
    printed = ["259", "496", "354", "326", "64", "66", "27", "56", "11"]
    values = [figures[k][i] for i in range(3) for k in order]
    return list(zip(printed, values))


@claim(A00, "The **linear** schedule destroys the signal fastest: 7.8% of the variance is left at t = 500 and a "
            "third of the steps are nearly pure noise")
def a00_19b_linear_reading():
    helper, ours = schedules_1000()["linear"]
    nearly_noise = sum(ab / (1 - ab) < 0.01 for ab in ours)
    assert round(3 * nearly_noise / 1000) == 1  # "a third"
    return [("7.8", (100 * helper[500], 100 * ours[500])), ("500", 500)]


@claim(A00, "(its extreme final value is the last β clipped at 0.999, `max_beta`)")
def a00_19b_cosine_clip():
    from helpers.schedules import cosine_beta_schedule
    T, s = 1000, 0.008
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2 for t in (T - 1, T)]
    assert 1 - f[1] / f[0] > 0.999  # unclipped, the last beta would be 1 (f(T) = cos^2(pi/2) ~ 0)
    return [("0.999", cosine_beta_schedule(1000, s=0.008)[-1].item())]


@claim(A00, r"$\sqrt{\bar\alpha_{999}} = 0.068$ (computed), so 6.8% of the latent's amplitude survives the last "
            r"training step")
def a00_19b_scaled_linear_terminal():
    return [("0.068", both("scaled", math.sqrt, 999)), ("6.8", both("scaled", lambda v: 100 * math.sqrt(v), 999))]


@claim(A00, "maps 512 × 512 × 3 to 64 × 64 × 4, 48 times fewer values (computed: 786,432 / 16,384); each latent "
            "position summarises about an 8 × 8 patch")
def a00_19c_latent_shape():
    f = 8
    image, latent = (512, 512, 3), (512 // f, 512 // f, 4)
    return [("64", latent[0]), ("64", latent[1]), ("48", math.prod(image) / math.prod(latent)),
            ("786,432", math.prod(image)), ("16,384", math.prod(latent)), ("8", 512 / latent[0]),
            ("8", 512 / latent[1])]


@claim(A00, "raw latents with a standard deviation near 1/0.18215 = 5.49, computed")
def a00_19c_scale_factor():
    return [("5.49", 1 / 0.18215)]


@claim(A00, "Forgetting the factor hands the schedule a signal 5.5 times too strong.")
def a00_19c_forgotten_factor():
    return [("5.5", 1 / 0.18215)]


@claim(A00, "reach ≥ 95% under the judge (a score of exactly 95% on 1000 digits has the Wilson 95% interval "
            "93.5–96.2%")
def a00_gate_interval():
    lo, hi = wilson_pct(950, 1000)
    return [("95", 95), ("95", 100 * 950 / 1000), ("1000", 1000), ("95", 95), ("93.5", lo), ("96.2", hi)]


# --------------------------------------------------------------------------- answers/01_UNets_Answers.md

def conv_out_size(n: int, k: int, s: int = 1, p: int = 0) -> int:
    return (n + 2 * p - k) // s + 1


def conv_transpose_out_size(n: int, k: int, s: int = 1, p: int = 0) -> int:
    return (n - 1) * s - 2 * p + k


@functools.cache
def _run_unet01(size: int, padding: int) -> dict:
    """Notebook 01's U-Net (helpers.unet.UNet, CHS = (16, 32)) on one size x size image, its DownBlocks'
    convolutions set to `padding`: every intermediate side length, and the error of up2 if any."""
    from helpers.unet import UNet
    torch.manual_seed(0)
    m = UNet(1, (16, 32)).eval()
    sides = {}
    for name in ("down1", "down2"):
        for i, layer in enumerate(getattr(m, name).model):
            if isinstance(layer, nn.Conv2d):
                layer.padding = (padding, padding)
            layer.register_forward_hook(lambda mod, inp, out, key=f"{name}.{i}": sides.__setitem__(key, out.shape[-1]))
    x = torch.zeros(1, 1, size, size)
    with torch.no_grad():
        d0 = m.down0(x)
        d1 = m.down1(d0)
        d2 = m.down2(d1)
        mid = m.middle(d2)
        u1 = m.up1(mid, d2)
        try:
            m.up2(u1, d1)
            error = ""
        except RuntimeError as e:
            error = str(e)
    sides.update(d0=d0.shape[-1], d1=d1.shape[-1], d2=d2.shape[-1], m=mid.shape[-1], u1=u1.shape[-1], error=error)
    return sides


@claim(A01, "`UNet(1, (16, 32))`, 44,097 parameters")
def a01_unet_parameters():
    from helpers.unet import UNet
    return [("44,097", sum(p.numel() for p in UNet(1, (16, 32)).parameters()))]


@claim(A01, "The U-Net cannot store 60 000 images in 44 097 parameters")
def a01_unet_parameters_q9():
    from helpers.unet import UNet
    return [("44 097", sum(p.numel() for p in UNet(1, (16, 32)).parameters()))]


@claim(A01, "(`d0` at 28×28, `d1` at 14×14, `d2` at 7×7)")
def a01_q2_skip_sizes():
    s = _run_unet01(28, padding=1)
    return [("28", s["d0"]), ("28", s["d0"]), ("14", s["d1"]), ("14", s["d1"]), ("7", s["d2"]), ("7", s["d2"])]


@claim(A01, "The bottleneck `m` is only 7×7: every one of its positions summarises a 4×4 block of pixels")
def a01_q2_bottleneck():
    s = _run_unet01(28, padding=1)
    return [("7", s["m"]), ("7", s["m"]), ("4", 28 / s["m"]), ("4", 28 / s["m"])]


@claim(A01, "With your formulas: `conv_out_size(30, 2, 2) = 15` and `conv_out_size(15, 2, 2) = 7` (the floor drops a "
            "row and a column), then `conv_transpose_out_size(7, 2, 2) = 14` and `28`. The first skip (7 with 7) still "
            "fits, but the second pairs `u1` of size 14 with `d1` of size 15. The forward pass fails at that "
            "concatenation with `Sizes of tensors must match except in dimension 1. Expected size 14 but got size 15 "
            "for tensor number 1 in the list.` (measured).")
def a01_q3_30x30():
    s = _run_unet01(30, padding=1)
    assert "Expected size 14 but got size 15 for tensor number 1 in the list" in s["error"], s["error"]
    return [("15", (conv_out_size(30, 2, 2), s["d1"])), ("7", (conv_out_size(15, 2, 2), s["d2"])),
            ("14", (conv_transpose_out_size(7, 2, 2), s["u1"])), ("28", conv_transpose_out_size(14, 2, 2)),
            ("7", s["m"]), ("7", s["d2"]), ("14", s["u1"]), ("15", s["d1"]), ("14", s["u1"]), ("15", s["d1"])]


@claim(A01, "Each unpadded 3×3 convolution removes one pixel from each side: `conv_out_size(28, 3) = 26`, then `24`, "
            "and the pool gives `12` (not 14). The second DownBlock turns 12 into 10, 8, then 4. The middle block "
            "keeps 4 (it has padding 1), `up1(m, d2)` concatenates two 4×4 maps, which works, and upsamples to 8. The "
            "first error comes at `up2(u1, d1)`: `u1` is 8×8 but `d1` is 12×12, and `torch.cat` reports `Sizes of "
            "tensors must match except in dimension 1. Expected size 8 but got size 12 for tensor number 1 in the "
            "list.`")
def a01_q4_unpadded():
    s, padded = _run_unet01(28, padding=0), _run_unet01(28, padding=1)
    assert "Expected size 8 but got size 12 for tensor number 1 in the list" in s["error"], s["error"]
    return [("26", (conv_out_size(28, 3), s["down1.0"])), ("24", (conv_out_size(26, 3), s["down1.3"])),
            ("12", (conv_out_size(24, 2, 2), s["d1"])), ("14", padded["d1"]),
            ("12", s["d1"]), ("10", s["down2.0"]), ("8", s["down2.3"]), ("4", s["d2"]),
            ("4", s["m"]), ("4", s["m"]), ("4", s["d2"]), ("8", s["u1"]),
            ("8", s["u1"]), ("8", s["u1"]), ("12", s["d1"]), ("12", s["d1"]), ("8", s["u1"]), ("12", s["d1"])]


@claim(A01, "For `CHS = (16, 32)` the transposed convolution is `nn.ConvTranspose2d(64, 16, kernel_size=2, stride=2)`: "
            "its weight has shape (64, 16, 2, 2), 64·16·2·2 = 4096 numbers, plus 16 biases, **4112 parameters**")
def a01_q5_up1_transposed_conv():
    from helpers.unet import UNet
    convt = UNet(1, (16, 32)).up1.model[0]
    assert isinstance(convt, nn.ConvTranspose2d) and tuple(convt.weight.shape) == (64, 16, 2, 2)
    return [("16", 16), ("32", 32), ("64", convt.in_channels), ("16", convt.out_channels),
            ("4096", convt.weight.numel()), ("16", convt.bias.numel()),
            ("4112", sum(p.numel() for p in convt.parameters()))]


@claim(A01, "We need ⌊(28 + 2p − k)/2⌋ + 1 = 14, i.e. 26 ≤ 28 + 2p − k ≤ 27, i.e. k − 2p ∈ {1, 2}.")
def a01_q12_condition():
    ok = {k - 2 * p for k in range(1, 9) for p in range(0, 4) if conv_out_size(28, k, 2, p) == 14}
    span = [n for n in range(0, 40) if n // 2 + 1 == 14]
    return [("14", 14), ("26", min(span)), ("27", max(span)), ("1", min(ok)), ("2", max(ok))]


def _q12_row(k: int, p: int):
    conv = nn.Conv2d(16, 16, k, stride=2, padding=p)
    side = conv(torch.zeros(1, 16, 28, 28)).shape[-1]
    assert conv(torch.zeros(1, 16, side, side)).shape[-1] == conv_out_size(14, k, 2, p) == 7  # 14 -> 7 too
    return side, sum(q.numel() for q in conv.parameters())


@claim(A01, "| (2, 0) | 14 | 1 040 |")
def a01_q12_row_2_0():
    side, n = _q12_row(2, 0)
    return [("14", (side, conv_out_size(28, 2, 2, 0))), ("1 040", (n, 16 * 16 * 2 ** 2 + 16))]


@claim(A01, "| (3, 1) | 14 (27 // 2 + 1) | 2 320 |")
def a01_q12_row_3_1():
    side, n = _q12_row(3, 1)
    return [("14", (side, conv_out_size(28, 3, 2, 1))), ("27", 28 + 2 * 1 - 3), ("2 320", (n, 16 * 16 * 3 ** 2 + 16))]


@claim(A01, "| (4, 1) | 14 | 4 112 |")
def a01_q12_row_4_1():
    side, n = _q12_row(4, 1)
    return [("14", (side, conv_out_size(28, 4, 2, 1))), ("4 112", (n, 16 * 16 * 4 ** 2 + 16))]


@claim(A01, "(Max-pooling has no parameters.) All three also map 14 → 7 for the second block.")
def a01_q12_second_block():
    assert sum(p.numel() for p in nn.MaxPool2d(2).parameters()) == 0
    return [("14", 14), ("7", tuple(_q12_side(k, p, 14) for k, p in ((2, 0), (3, 1), (4, 1))))]


def _q12_side(k: int, p: int, n: int) -> int:
    return nn.Conv2d(1, 1, k, stride=2, padding=p)(torch.zeros(1, 1, n, n)).shape[-1]


# --------------------------------------------------------------------------- answers/06_Assessment_Answers.md

def a06_half_width_1000() -> float:
    """"About ±1.3 points" at n = 1000: the mean half-width of the 95% Wilson intervals of the table's two
    rows (960/1000: 1.21, 950/1000: 1.36)."""
    widths = [(hi[1] - lo[1]) / 2 for lo, hi in (wilson_pct(960, 1000), wilson_pct(950, 1000))]
    assert all(1.2 <= w <= 1.4 for w in widths), widths
    return sum(widths) / 2


@claim(A06, "time (to within about ±1.4 points at exactly 95%: Wilson's 93.5–96.2%, computed)")
def a06_gate_margin():
    """The gate's own margin at the pass mark: 950/1000's interval and its half-width."""
    lo, hi = wilson_pct(950, 1000)
    return [("1.4", (hi[1] - lo[1]) / 2), ("95", 95.0), ("93.5", lo), ("96.2", hi)]


@claim(A06, "it also pins every per-class accuracy down to about ±4.5 points for a class at 95% and ±7.8 for one at "
            "80% (Wilson half-widths at 100 digits, computed)")
def a06_per_class_width():
    w = lambda k: (wilson_pct(k, 100)[1][1] - wilson_pct(k, 100)[0][1]) / 2  # noqa: E731
    return [("4.5", w(95)), ("95", 95.0), ("7.8", w(80)), ("80", 80.0), ("100", 100.0)]


@claim(A06, "The judge reads real MNIST test digits at 99.61% accuracy (9,961 / 10,000")
def a06_judge_accuracy_ratio():
    return [("99.61", 100 * 9961 / 10000)]


@claim(A06, "The course targets an instructor model at ≥ 98% (issue 5), so a correct submission would pass with a "
            "margin of 3 points, more than the measurement noise at 1000 samples.")
def a06_margin():
    assert a06_half_width_1000() < 3
    return [("98", 98), ("3", 98 - 95)]


@claim(A06, "passes the gate with 99.7% on 1000 digits, 95% CI 99.1–99.9%")
def a06_instructor_interval():
    lo, hi = wilson_pct(997, 1000)
    return [("99.7", 99.7), ("1000", 1000), ("99.1", lo), ("99.9", hi)]


@claim(A06, "(what the gate reports; computed): | observed | n = 50 | n = 1000 | |---|---|---| "
            "| 96% (48/50, 960/1000) | 86.5% – 98.9% | 94.6% – 97.0% | "
            "| 94–95% (47/50, 950/1000) | 83.8% – 97.9% | 93.5% – 96.2% |")
def a06_wilson_table():
    rows = [("96", 48, 50, 960, 1000, ("86.5", "98.9"), ("94.6", "97.0")),
            ("94", 47, 50, 950, 1000, ("83.8", "97.9"), ("93.5", "96.2"))]
    out = []
    for observed, k50, n50, k1000, n1000, p50, p1000 in rows:
        out.append((observed, 100 * k50 / n50))
        if observed == "94":
            out.append(("95", 100 * k1000 / n1000))
        out += list(zip(p50, wilson_pct(k50, n50))) + list(zip(p1000, wilson_pct(k1000, n1000)))
    return out


@claim(A06, "On 50 samples the interval is about 12 points wide, and passing means 48/50 or better: a model whose "
            "true accuracy is only 90% gets there by luck 11% of the time, and a genuinely good 97% model falls "
            "short 19% of the time (exact binomial tails, computed).")
def a06_tails_50():
    lo, hi = wilson_pct(48, 50)
    need = min(k for k in range(51) if k / 50 >= 0.95)
    return [("12", (hi[0] - lo[0], hi[1] - lo[1])), ("48", need), ("90", 90),
            ("11", tuple(100 * p for p in binom_tail(50, 90, range(need, 51)))), ("97", 97),
            ("19", tuple(100 * p for p in binom_tail(50, 97, range(0, need))))]


@claim(A06, "On 1000 samples the interval is about ±1.3 points: the chance that a 98% model scores below 950/1000 is "
            "3e-9, and that a 90% model scores 950 or more is 6e-9.")
def a06_tails_1000():
    return [("1.3", a06_half_width_1000()), ("3e-9", binom_tail(1000, 98, range(0, 950))),
            ("6e-9", binom_tail(1000, 90, range(950, 1001)))]


@claim(A06, "the judge itself errs on 0.39% of real digits, so a 99% gate would leave a model as good as real data "
            "only 0.6 points of margin (three standard errors at 1000 digits)")
def a06_99_gate_margin():
    margin = 99.61 - 99
    assert round(margin / se_points(0.9961, 1000)) == 3  # "three standard errors" of a model as good as real data
    return [("0.39", 100 - 99.61), ("99", 99), ("0.6", margin)]


@claim(A06, "from w = 2 on the accuracy is flat within the standard error of 1000 digits near 99% (about 0.3 points, "
            "computed)")
def a06_standard_error_near_99():
    return [("1000", 1000), ("99", 99), ("0.3", se_points(0.99, 1000))]


# --------------------------------------------------------------------------- answers/07_Flow_Matching_Answers.md

@claim(A07, "With 8 steps of notebook 06's schedule the τ's are 0.994, 0.977, 0.931, 0.839, 0.703, 0.537, 0.332, "
            "0.016, 0 (computed with `helpers.ddpm.ddim_timesteps` and `flow.ddpm_to_flow`): small steps at the noise "
            "end, steps of 0.2–0.3 near the data; the flow sampler steps 0.125 every time")
def a07_ddim_taus():
    from helpers.ddpm import ddim_timesteps
    from helpers.flow import ddpm_to_flow
    helper_ab, ours_ab = nb06_alpha_bar()
    T, steps = 400, 8
    ours_ts = sorted({round((T - 1) * (1 - i / (steps - 1))) for i in range(steps)}, reverse=True)
    ts = ddim_timesteps(T, steps).tolist()
    assert ts == ours_ts, (ts, ours_ts)
    ab = torch.tensor([helper_ab[t] for t in ts] + [1.0], dtype=torch.float64)  # the last step lands on x0
    helper_tau = ddpm_to_flow(torch.zeros(len(ab), 1, 1, 1, dtype=torch.float64), ab)[1].flatten().tolist()
    ours_tau = [math.sqrt(1 - a) / (math.sqrt(a) + math.sqrt(1 - a)) for a in [ours_ab[t] for t in ts] + [1.0]]
    printed = ["0.994", "0.977", "0.931", "0.839", "0.703", "0.537", "0.332", "0.016", "0"]
    out = [("8", steps)] + [(p, (h, o)) for p, h, o in zip(printed, helper_tau, ours_tau)]
    near_data = [ours_tau[5] - ours_tau[6], ours_tau[6] - ours_tau[7]]
    return out + [("0.2", near_data[0]), ("0.3", near_data[1]), ("0.125", 1 / steps)]


@claim(A07, "(mean square 1 + E[x0²] ≈ 1.93 per pixel for MNIST in [−1, 1], computed on 10,000 training digits)")
def a07_flow_target_mean_square():
    images, _ = _idx("mnist", "train")
    x0 = _signed(images[:10_000])
    return [("1.93", 1 + (x0 ** 2).mean().item()), ("10,000", len(x0))]


# --------------------------------------------------------------------------- walkthroughs/04_Classifier_Free_Guidance

@claim(W04, "(the dashed line, the first 24 test images of each class, is at 0.61: computed from the data set, the "
            "same on every machine)")
def w04_real_diversity():
    from helpers.guidance import class_diversity
    images, labels = _idx("fashion_mnist", "test")
    per_class = torch.stack([_signed(images[labels == k][:24]) for k in range(10)])  # (10, 24, 28, 28)
    flat = per_class.reshape(10, 24, -1)
    pairs = [(flat[c, i] - flat[c, j]).pow(2).mean().sqrt().item()
             for c in range(10) for i in range(24) for j in range(i + 1, 24)]
    return [("24", 24), ("0.61", (sum(pairs) / len(pairs), class_diversity(per_class[:, :, None])))]


# --------------------------------------------------------------------------- walkthroughs/05_CLIP_Walkthrough.md

@claim(W05, "| MiniLM: cos('a red rose', 'a rose') / ('a red rose', 'a yellow sunflower') / (…, 'a car parked on the "
            "street') | 0.91 / 0.40 / 0.17 (computed by the shipped model) |")
def w05_minilm_cosines():
    from helpers import text_encoders
    try:
        enc = text_encoders.load_text_encoder()
    except Exception as e:  # noqa: BLE001 - an optional model, not what is tested
        pytest.skip(f"MiniLM not loadable here: {e}")
    e = enc.encode(["a red rose", "a rose", "a yellow sunflower", "a car parked on the street"]).double()
    e = e / e.norm(dim=1, keepdim=True)
    return [(p, (e[0] @ e[i]).item()) for p, i in (("0.91", 1), ("0.40", 2), ("0.17", 3))]


@claim(W05, "(the loss starts near log 64 = 4.16, chance)")
def w05_infonce_at_chance():
    return [("64", 64), ("4.16", math.log(64))]


@claim(W05, "(chance 20 %; target ≥ 70 %)")
def w05_zero_shot_chance():
    from helpers.data import FLOWER_CLASSES
    return [("20", 100 / len(FLOWER_CLASSES))]


# --------------------------------------------------------------------------- walkthroughs/06_Assessment_DDPM

@claim(W06, "| T | 400, linear betas 2.5e-4 → 0.05 | Ho et al.'s 1e-4 → 0.02 at T = 1000, rescaled by 1000/T")
def w06_rescaled_betas():
    return [("400", 400), ("2.5e-4", 1e-4 * 1000 / 400), ("0.05", 0.02 * 1000 / 400)]


@claim(W06, "(the notebook prints 3.64e-05 at t = 399; computed, 4.04e-5 for Ho et al.'s schedule)")
def w06_final_alpha_bar():
    helper, ours = nb06_alpha_bar()
    return [("3.64e-05", (helper[399], ours[399])), ("399", len(ours) - 1),
            ("4.04e-5", both("linear", lambda v: v, 999))]


@claim(W06, "`ConditionalUNet(chs=(16, 32))`, 109,249 parameters")
def w06_parameters():
    return [("109,249", conditional_unet((16, 32))[0])]


@claim(W06, "computed: widths (32, 64) have 422,785 parameters and 4.0× the multiply-adds per digit (84.2 M vs 21.2 M "
            "for one 28×28 image, `torch.utils.flop_counter`)")
def w06_wide_model_cost():
    n_big, flop_big, hook_big = conditional_unet((32, 64))
    _, flop_small, hook_small = conditional_unet((16, 32))
    return [("422,785", n_big), ("4.0", (flop_big / flop_small, hook_big / hook_small)),
            ("84.2", (flop_big / 1e6, hook_big / 1e6)), ("21.2", (flop_small / 1e6, hook_small / 1e6))]


@claim(W06, "3.2 epochs of MNIST (3000 × 64 / 60,000)")
def w06_epochs():
    images, _ = _idx("mnist", "train")
    return [("3.2", 3000 * 64 / len(images)), ("60,000", len(images))]


@claim(W06, "16× fewer network calls than DDPM's 400")
def w06_ddim_calls():
    from helpers.ddpm import ddim_timesteps
    return [("16", 400 / len(ddim_timesteps(400, 25)))]


@claim(W06, "(within the standard error of 1000 digits near 99%, about 0.3 points, computed)")
def w06_standard_error_near_99():
    return [("0.3", se_points(0.99, 1000))]


# --------------------------------------------------------------------------- figures left out, reported

# A "computed" figure that does not agree at its printed precision, in a document this file's author
# could not edit: left untied (the coverage test accepts it) and reported, with the value it should have.
REPORTED: dict[str, list[str]] = {}   # none left: answers 06's "±1.3 points" at 95% now reads ±1.4 (tied above)


# --------------------------------------------------------------------------- uses of "computed" with no figure

EXEMPT = {
    A00: ["a number marked *computed* was computed with Python in the course's environment",
          "Every number below was computed with the venv's Python in float64"],  # 19a's numbers are claims above
    A01: ["section 6 computed it exactly", "(`m` is computed from `d2` by a size-preserving layer)"],
    "answers/02_Diffusion_Models_Answers.md": ["`alphas_cumprod` computed as", "Everything computed from it shifts",
                                               "Why is the schedule computed in float64"],
    "answers/03_Optimizations_Answers.md": ["mean and standard deviation are computed over"],
    "answers/04_Classifier_Free_Guidance_Answers.md": ["erase everything each block computed"],
    "answers/05_CLIP_Answers.md": ["are computed once and cached", "the context computed at evaluation time"],
    A06: ["Figures marked *computed* (binomial intervals and tails) follow from the formulas"],
    "walkthroughs/02_Diffusion_Models_Walkthrough.md": ["(computed from the known $x_0$)"],
    W04: ["the unconditional half was computed with the context kept"],
    W05: ["The MiniLM cosines are computed by the shipped pretrained model"],  # the cosines are a claim above
    W06: ["Figures marked *computed* (alpha-bar of a schedule, parameter counts, multiply-adds, ratios of step "
          "counts) follow from the code", "the exact `d` is computed for the 16 best"],
}


def _spans(text: str, phrases) -> list[tuple[int, int]]:
    out = []
    for phrase in phrases:
        at = text.find(_norm(phrase))
        if at >= 0:
            out.append((at, at + len(_norm(phrase))))
    return out


def untied_computed(doc: str, text: str | None = None) -> list[str]:
    """Each use of the word "computed" in `doc` that no claim's, EXEMPT or REPORTED phrase contains."""
    text = _doc(doc) if text is None else _norm(text)
    spans = _spans(text, [c.phrase for c in CLAIMS if c.doc == doc] + EXEMPT.get(doc, []) + REPORTED.get(doc, []))
    return [text[max(0, m.start() - 80):m.end() + 40] for m in re.finditer(r"\bcomputed\b", text, re.I)
            if not any(a <= m.start() < b for a, b in spans)]


# --------------------------------------------------------------------------- tests

@pytest.mark.parametrize("c", CLAIMS, ids=[c.name for c in CLAIMS])
def test_computed_claim(c):
    assert check(claims=[c]) == []


@pytest.mark.parametrize("doc", SCANNED)
def test_every_computed_figure_is_tied(doc):
    """A figure newly marked "computed" needs a claim above (or, with no figure, an EXEMPT phrase)."""
    assert untied_computed(doc) == []
    for kind, phrases in (("EXEMPT", EXEMPT), ("REPORTED", REPORTED)):
        assert all(_norm(p) in _doc(doc) for p in phrases.get(doc, [])), f"a {kind} phrase is gone: remove it"


def test_precision_rule():
    assert agrees("86.5", 86.4806) and agrees("3e-9", 2.96e-9) and agrees("6e-9", 6.04e-9) and agrees("240", 240)
    assert not agrees("86.4", 86.4806) and not agrees("2e-9", 2.96e-9) and not agrees("250", 240)
    assert agrees("34,560", 34560) and agrees("1 040", 1040) and agrees("−1.07", -1.0706) and agrees("+4.00", 3.9996)
    assert agrees("0.6", 0.61) and not agrees("0.6", 0.66) and agrees("5.45", 5.4534)


def test_an_edited_copy_is_caught():
    """A changed figure is caught whether the phrase here is left alone (the phrase is gone) or edited with
    it (the recomputation disagrees); an untied new "computed" figure is caught too."""
    a06 = (REPO / A06).read_text()
    table = [c for c in CLAIMS if c.name == "a06_wilson_table"]
    assert "86.5% – 98.9%" in a06 and check(claims=table) == []
    edited = a06.replace("86.5% – 98.9%", "86.4% – 98.9%")
    problems = check({A06: edited}, claims=table)
    assert len(problems) == 1 and "a06_wilson_table: the phrase is gone" in problems[0]

    wrong = Claim(A06, "| 96% (48/50, 960/1000) | 86.4% – 98.9% |",
                  lambda: list(zip(("86.4", "98.9"), wilson_pct(48, 50))), "edited")
    assert check({A06: edited}, claims=[wrong]) == ["answers/06_Assessment_Answers.md: edited: says 86.4, "
                                                    "recomputed 86.5399"] * 2  # helpers.gate and the quadratic

    a00 = (REPO / A00).read_text()
    calls = [c for c in CLAIMS if c.name == "a00_tree_of_thought_calls"]
    assert check({A00: a00.replace("240 calls", "250 calls")}, claims=calls)[0].endswith(
        "update tests/test_computed_claims.py if the text moved, recompute the figures if it changed")
    assert check({A00: a00.replace("240 calls", "250 calls")},
                 claims=[Claim(A00, "250 calls", lambda: [("250", 3 * 5 * (1 + 5 * 3))], "edited")]) == [
        "answers/00_Module_Review_Answers.md: edited: says 250, recomputed 240"]

    added = a00 + "\nA 512² image has 262,144 pixels (computed).\n"
    assert untied_computed(A00) == [] and len(untied_computed(A00, added)) == 1
