"""Noise schedules: linear (Ho et al. 2020, "Denoising Diffusion Probabilistic Models") and
cosine (Nichol & Dhariwal 2021, "Improved DDPM"), and the coefficient tensors derived from them.

Notation (Ho et al. 2020, eqs. 4, 6, 7), with t = 0..T-1 indexing the T noising steps:

    alphas_t          = 1 - betas_t
    alphas_cumprod_t  = prod_{s<=t} alphas_s                (written alpha-bar)
    q(x_t | x_0)      = N(sqrt(alphas_cumprod_t) x_0, (1 - alphas_cumprod_t) I)
    posterior_variance_t = betas_t (1 - alphas_cumprod_{t-1}) / (1 - alphas_cumprod_t)

with alphas_cumprod_{-1} = 1, so posterior_variance_0 = 0 (the last reverse step adds no noise).
Coefficients are computed in float64 and stored as float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch


def linear_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """T betas evenly spaced from ``beta_start`` to ``beta_end`` (float64, shape (T,))."""
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    if not 0 < beta_start <= beta_end < 1:
        raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_beta_schedule(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Betas whose alpha-bar follows cos^2 (Nichol & Dhariwal 2021, eq. 17), clipped at max_beta."""
    steps = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos(((steps / T) + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    betas = 1 - alphas_cumprod[1:] / alphas_cumprod[:-1]
    return betas.clamp(min=0, max=max_beta)


@dataclass
class Schedule:
    """Every per-step coefficient a DDPM/DDIM needs, each a (T,) float32 tensor."""

    betas: torch.Tensor
    alphas: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    sqrt_recip_alphas: torch.Tensor
    posterior_variance: torch.Tensor

    @property
    def T(self) -> int:
        return self.betas.shape[0]

    @classmethod
    def from_betas(cls, betas: torch.Tensor) -> "Schedule":
        b = betas.to(torch.float64)
        if b.ndim != 1 or len(b) == 0 or (b <= 0).any() or (b >= 1).any():
            raise ValueError("betas must be a non-empty 1-D tensor with values in (0, 1)")
        a = 1 - b
        ac = torch.cumprod(a, dim=0)
        ac_prev = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
        coeffs = dict(
            betas=b,
            alphas=a,
            alphas_cumprod=ac,
            alphas_cumprod_prev=ac_prev,
            sqrt_alphas_cumprod=ac.sqrt(),
            sqrt_one_minus_alphas_cumprod=(1 - ac).sqrt(),
            sqrt_recip_alphas=a.rsqrt(),
            posterior_variance=b * (1 - ac_prev) / (1 - ac),
        )
        return cls(**{k: v.to(torch.float32) for k, v in coeffs.items()})

    @classmethod
    def linear(cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> "Schedule":
        return cls.from_betas(linear_beta_schedule(T, beta_start, beta_end))

    @classmethod
    def cosine(cls, T: int = 1000, s: float = 0.008) -> "Schedule":
        return cls.from_betas(cosine_beta_schedule(T, s))

    def to(self, device) -> "Schedule":
        """A copy with every coefficient on ``device``."""
        return Schedule(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio alpha-bar / (1 - alpha-bar) per step, shape (T,)."""
        return self.alphas_cumprod / (1 - self.alphas_cumprod)
