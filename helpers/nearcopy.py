"""Near-copies of known digits: a distance blind to small shifts, pixel flips, light noise and
brightness/contrast, and a fast exact search against the 70,000 MNIST digits (notebook 06's gate).

The distance. Each 28x28 image ``x`` in [-1, 1] becomes its ink ``u = (x + 1) / 2`` (background 0),
lightly blurred (Gaussian, sigma :data:`BLUR_SIGMA` = 1 pixel; it averages independent pixel noise
down by about 3.5x while keeping the strokes), then standardised: ``z = (u - mean u) / ||u - mean u||``.
Two images are then compared by their normalised cross-correlation, maximised over translations
of up to :data:`SHIFT` pixels in each direction (Lewis 1995, "Fast normalized cross-correlation";
the standard template-matching score)::

    d(a, b) = min over |dy|, |dx| <= SHIFT of ||z_a - roll(z_b, dy, dx)||_2 = sqrt(2 - 2 max NCC)

so 0 means "the same image up to a shift and an affine change of brightness and contrast", 1 means
uncorrelated and 2 means a photographic negative. Standardising removes brightness and contrast
(``a x + b``), the blur and the 784-pixel norm make a few flipped pixels or light noise small,
and the maximum over shifts removes translations. (MNIST digits sit in a 20x20 box in the middle
of the 28x28 frame, so a circular shift of 2 pixels is a plain translation.)

The search. :func:`lower_bound_features` are the magnitudes of the orthonormal 2-D Fourier
transform of ``z`` (low frequencies only). A circular shift changes only the phases, so by
Parseval and the triangle inequality ``|| |Z_a| - |Z_b| || <= d(a, b)`` for every shift: the
spectral distance is a *lower bound* of the shift-tolerant distance. :func:`nearest_known` computes
it against all references with one matrix product, evaluates the exact ``d`` on the ``k`` candidates
with the smallest bound, and then on every further reference whose bound is below the decision
radius, so the answer "is there a reference closer than the radius" is exact, not approximate.

References are MNIST's 60,000 training and 10,000 test digits; their features (about 250 MB) are
built once per process and kept in memory (:func:`reference_index`), never written to disk.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["SHIFT", "BLUR_SIGMA", "KMAX", "standardise", "lower_bound_features", "shift_distance",
           "pairwise_shift_distance", "ReferenceIndex", "reference_index", "nearest_known"]

SHIFT = 2  # pixels, each direction
BLUR_SIGMA = 1.0  # pixels
KMAX = 8  # highest spatial frequency kept by the lower-bound features (cycles per 28 pixels)
SIZE = 28


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    return k / k.sum()  # (2r + 1,)


_BLUR: dict[float, torch.Tensor] = {}


def _blur_matrix(sigma: float) -> torch.Tensor:
    """(28, 28) circulant Gaussian blur along one axis: ``K @ u @ K`` blurs an image ``u``."""
    if sigma not in _BLUR:
        k = _gaussian_kernel(sigma)
        r = (len(k) - 1) // 2
        K = torch.zeros(SIZE, SIZE)
        for j, w in enumerate(k.tolist()):
            K += w * torch.roll(torch.eye(SIZE), j - r, dims=1)
        _BLUR[sigma] = K  # symmetric
    return _BLUR[sigma]


@torch.inference_mode()
def standardise(images: torch.Tensor, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """(N, 1, 28, 28) images in [-1, 1] -> (N, 784) float32: ink, blurred, zero mean, unit norm
    (an image with no contrast at all becomes the zero vector)."""
    u = images.detach().float().cpu().reshape(-1, SIZE, SIZE).clamp(-1, 1).add(1).mul_(0.5)  # ink, background 0
    if sigma > 0:
        K = _blur_matrix(sigma)
        u = torch.matmul(torch.matmul(K, u), K)  # (N, 28, 28) separable circular blur
    z = u.reshape(len(u), -1)
    z = z - z.mean(1, keepdim=True)  # (N, 784)
    n = z.norm(dim=1, keepdim=True)
    return z.div_(n.clamp(min=1e-6)).mul_(n > 1e-6).contiguous()


def _spectrum_weights(kmax: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.cat([torch.arange(0, kmax + 1), torch.arange(SIZE - kmax, SIZE)])  # |ky| <= kmax
    cols = torch.arange(0, kmax + 1)  # kx in 0..kmax of the half spectrum (rfft2)
    w = torch.where((cols == 0) | (cols == SIZE // 2), 1.0, 2.0).sqrt()  # kx and -kx both counted
    return rows, w.expand(len(rows), -1).clone(), cols


@torch.inference_mode()
def lower_bound_features(z: torch.Tensor, kmax: int = KMAX) -> torch.Tensor:
    """(N, 784) standardised images -> (N, F) Fourier magnitudes whose L2 distance is a lower bound
    of :func:`shift_distance` (for any shift range)."""
    rows, w, cols = _spectrum_weights(kmax)
    Z = torch.fft.rfft2(z.reshape(-1, SIZE, SIZE), norm="ortho")  # (N, 28, 15) complex
    m = Z.abs()[:, rows][:, :, cols] * w  # (N, 2 kmax + 1, kmax + 1)
    return m.reshape(len(z), -1).contiguous()


def _shifts(shift: int) -> list[tuple[int, int]]:
    return [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)]


_PERMS: dict[int, torch.Tensor] = {}


def _shift_perm(shift: int) -> torch.Tensor:
    """(S, 784) pixel indices: row s of it rolls a flattened 28x28 image by the s-th (dy, dx)."""
    if shift not in _PERMS:
        grid = torch.arange(SIZE * SIZE).reshape(SIZE, SIZE)
        _PERMS[shift] = torch.stack([torch.roll(grid, s, dims=(0, 1)).reshape(-1) for s in _shifts(shift)])
    return _PERMS[shift]


@torch.inference_mode()
def shift_distance(za: torch.Tensor, zb: torch.Tensor, shift: int = SHIFT) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact shift-tolerant distance between each query ``za`` (N, 784) and its candidates ``zb``
    (N, K, 784). Returns ``(d (N, K), best shift index (N, K))`` (index into the (dy, dx) grid of
    :func:`_shifts`, row-major from (-shift, -shift))."""
    perm = _shift_perm(shift)  # (S, 784)
    rolled = za[:, perm]  # (N, S, 784): the query at every shift
    corr = torch.bmm(zb, rolled.transpose(1, 2))  # (N, K, S)
    best, idx = corr.max(2)
    return (2 - 2 * best).clamp(min=0).sqrt(), idx


@torch.inference_mode()
def pairwise_shift_distance(z: torch.Tensor, shift: int = SHIFT) -> torch.Tensor:
    """(n, 784) standardised images -> (n, n) shift-tolerant distances among them (via the FFT: the
    cross-correlation of every pair at every circular shift, maximised over the allowed ones)."""
    n = len(z)
    Z = torch.fft.rfft2(z.reshape(n, SIZE, SIZE))  # (n, 28, 15)
    keep = torch.tensor([s % SIZE for s in range(-shift, shift + 1)])
    out = torch.empty(n, n)
    step = max(1, 4096 // max(n, 1))
    for i in range(0, n, step):
        cc = torch.fft.irfft2(Z[i:i + step, None] * Z[None].conj(), s=(SIZE, SIZE))  # (b, n, 28, 28)
        best = cc[:, :, keep][:, :, :, keep].reshape(cc.shape[0], n, -1).amax(2)  # (b, n)
        out[i:i + step] = (2 - 2 * best).clamp(min=0).sqrt()
    return out


@dataclass
class ReferenceIndex:
    """Standardised references with their lower-bound features."""

    z: torch.Tensor  # (M, 784)
    f: torch.Tensor  # (M, F)
    f2: torch.Tensor  # (M,) squared norms of f
    split: torch.Tensor  # (M,) 0 = MNIST train, 1 = MNIST test
    index: torch.Tensor  # (M,) index within its split
    labels: torch.Tensor  # (M,)
    raw: torch.Tensor  # (M, 28, 28) uint8 pixels (for reports and figures)
    seconds: float = 0.0  # time it took to build

    SPLITS = ("train", "test")

    def __len__(self) -> int:
        return len(self.z)

    @classmethod
    def build(cls, parts: list[tuple[torch.Tensor, torch.Tensor]]) -> "ReferenceIndex":
        """``parts``: [(images, labels)] per split, in :attr:`SPLITS` order."""
        import time

        t0 = time.perf_counter()
        zs, fs, splits, idx, labs, raws = [], [], [], [], [], []
        for s, (x, y) in enumerate(parts):
            for i in range(0, len(x), 10000):
                zs.append(standardise(x[i:i + 10000]))
                fs.append(lower_bound_features(zs[-1]))
            splits.append(torch.full((len(x),), s, dtype=torch.int8))
            idx.append(torch.arange(len(x)))
            labs.append(y.long())
            raws.append(((x.reshape(-1, SIZE, SIZE) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
        f = torch.cat(fs)
        return cls(torch.cat(zs), f, (f ** 2).sum(1), torch.cat(splits), torch.cat(idx), torch.cat(labs),
                   torch.cat(raws), time.perf_counter() - t0)

    def images(self, rows: torch.Tensor) -> torch.Tensor:
        """The reference digits at ``rows``, (n, 1, 28, 28) in [-1, 1]."""
        return (self.raw[rows].float() / 127.5 - 1).unsqueeze(1)


_CACHE: dict[str, ReferenceIndex] = {}


def reference_index() -> ReferenceIndex:
    """The 70,000 MNIST digits (train then test), built on first use and kept for the process."""
    if "mnist" not in _CACHE:
        from .data import load_mnist

        _CACHE["mnist"] = ReferenceIndex.build([load_mnist("train"), load_mnist("test")])
    return _CACHE["mnist"]


@torch.inference_mode()
def nearest_known(images: torch.Tensor, radius: float, *, index: ReferenceIndex | None = None, k: int = 16,
                  shift: int = SHIFT, chunk: int = 250) -> dict:
    """For each image (N, 1, 28, 28) in [-1, 1]: its nearest reference under the shift-tolerant
    distance, searched exactly within ``radius``.

    Returns a dict of (N,) tensors: ``distance`` (exact when below ``radius``; above it, the best of
    the ``k`` candidates, an upper bound of the true nearest distance), ``ref`` (row in the
    index), ``split`` and ``index`` (MNIST split 0/1 and position in it), ``shift`` (N, 2) (dy, dx of
    the best match), ``exact`` (bool: the distance is the true nearest one), ``lower_bound`` (the
    smallest spectral bound over the references not evaluated), and ``evaluated`` (how many exact
    distances were computed per image).
    """
    index = index or reference_index()
    z = standardise(images)  # (N, 784)
    f = lower_bound_features(z)
    N, M = len(z), len(index)
    k = min(k, M)
    dist = torch.full((N,), float("inf"))
    ref = torch.zeros(N, dtype=torch.long)
    sidx = torch.zeros(N, dtype=torch.long)
    rest_lb = torch.full((N,), float("inf"))
    evaluated = torch.zeros(N, dtype=torch.long)
    grid = torch.tensor(_shifts(shift))  # (S, 2)
    for i in range(0, N, chunk):
        fq = f[i:i + chunk]  # (b, F)
        qn = (fq ** 2).sum(1)  # (b,)
        part = torch.addmm(index.f2[None], fq, index.f.T, alpha=-2)  # (b, M): squared bound minus qn
        cand_p, cand = part.topk(k + 1, dim=1, largest=False)  # (b, k + 1) ascending
        cand_lb = (cand_p + qn[:, None]).clamp(min=0).sqrt()
        d, s = shift_distance(z[i:i + chunk], index.z[cand[:, :k]], shift)  # (b, k)
        best, j = d.min(1)
        dist[i:i + chunk] = best
        ref[i:i + chunk] = cand[:, :k].gather(1, j[:, None]).squeeze(1)
        sidx[i:i + chunk] = s.gather(1, j[:, None]).squeeze(1)
        evaluated[i:i + chunk] = k
        rest_lb[i:i + chunk] = cand_lb[:, k] if M > k else float("inf")
        # the k candidates may not hold the nearest reference within the radius: evaluate every
        # further reference whose lower bound is below min(best so far, radius)
        for r in (cand_lb[:, k] < best.clamp(max=radius)).nonzero().flatten().tolist():
            q = i + r
            bound = min(float(dist[q]), radius)
            lb = (part[r] + qn[r]).clamp(min=0).sqrt()  # (M,)
            more = (lb < bound).nonzero().flatten()
            more = more[~torch.isin(more, cand[r, :k])]
            for m0 in range(0, len(more), 4096):
                mm = more[m0:m0 + 4096]
                d2, s2 = shift_distance(z[q:q + 1], index.z[mm][None], shift)  # (1, m)
                b2, j2 = d2[0].min(0)
                if b2 < dist[q]:
                    dist[q], ref[q], sidx[q] = b2, mm[j2], s2[0, j2]
            evaluated[q] += len(more)
            above = lb[lb >= bound]
            rest_lb[q] = float(above.min()) if len(above) else float("inf")
    exact = dist <= rest_lb
    return {"distance": dist, "ref": ref, "split": index.split[ref].long(), "index": index.index[ref],
            "shift": grid[sidx], "exact": exact, "lower_bound": rest_lb, "evaluated": evaluated}
