"""DDPM forward/reverse process (Ho et al. 2020), DDIM sampling (Song et al. 2021) and
classifier-free guidance (Ho & Salimans 2022).

Conventions used throughout the course:

* images are (B, C, H, W) tensors in [-1, 1]; timesteps ``t`` are int64 tensors of shape (B,)
  (or a Python int for the whole batch), indexing a :class:`~helpers.schedules.Schedule` of
  length T, with t = 0 the least noisy step;
* a noise predictor is any callable ``eps_fn(x_t, t) -> eps`` of the same shape as ``x_t``.
  Wrap a conditional model with a lambda (``lambda x, t: model(x, t, c, mask)``) or use
  :func:`cfg_eps_fn` for classifier-free guidance;
* conditional models take ``model(x, t, c, c_mask)`` with ``c`` a (B, D) context (one-hot class
  or an embedding) and ``c_mask`` a (B, 1) float mask, 1 = keep the context, 0 = drop it.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.utils.weak
import torch.nn.functional as F

from .schedules import Schedule

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# device copies of schedule tensors that live on the CPU, made once (see _on_device)
_DEVICE_COPIES = torch.utils.weak.WeakIdKeyDictionary()


def _on_device(coeffs: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``coeffs`` on ``device``, copied once and reused while ``coeffs`` is unchanged.

    A training loop calls ``extract(sched.<coeffs>, t, ...)`` with a CPU schedule and ``t`` on
    the GPU every step; a fresh blocking copy each time makes the CPU wait for all queued GPU
    work, so the two never overlap. The cache is keyed on the tensor's identity and checked
    against its version counter, so an in-place change of the coefficients is never missed.
    """
    if coeffs.device == device or coeffs.requires_grad:
        return coeffs.to(device)
    try:
        version = coeffs._version
    except RuntimeError:  # an inference-mode tensor keeps no version counter: copy every time
        return coeffs.to(device)
    per_device = _DEVICE_COPIES.setdefault(coeffs, {})
    hit = per_device.get(device)
    if hit is None or hit[0] != version:
        hit = per_device[device] = (version, coeffs.detach().to(device))
    return hit[1]


def extract(coeffs: torch.Tensor, t: torch.Tensor | int, x_shape: torch.Size) -> torch.Tensor:
    """Gather ``coeffs[t]`` per sample and shape it (B, 1, 1, 1) to broadcast over an image batch."""
    if not torch.is_tensor(t):
        t = torch.full((x_shape[0],), int(t), dtype=torch.long)
    out = _on_device(coeffs, t.device)[t.long()]  # (B,)
    return out.reshape(-1, *([1] * (len(x_shape) - 1)))  # (B, 1, 1, 1)


def _as_t(t, batch: int, device) -> torch.Tensor:
    if torch.is_tensor(t):
        return t.to(device=device, dtype=torch.long).expand(batch) if t.ndim == 0 else t.to(device).long()
    return torch.full((batch,), int(t), dtype=torch.long, device=device)


def q_step(x_prev: torch.Tensor, t, sched: Schedule, noise: torch.Tensor | None = None) -> torch.Tensor:
    """One forward step q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I)."""
    noise = torch.randn_like(x_prev) if noise is None else noise  # (B, C, H, W)
    t = _as_t(t, x_prev.shape[0], x_prev.device)
    return extract(sched.alphas.sqrt(), t, x_prev.shape) * x_prev + extract(sched.betas.sqrt(), t, x_prev.shape) * noise


def q_sample(x0: torch.Tensor, t, sched: Schedule, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Jump straight to step t: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (Ho et al. eq. 4)."""
    noise = torch.randn_like(x0) if noise is None else noise  # (B, C, H, W)
    t = _as_t(t, x0.shape[0], x0.device)
    return (extract(sched.sqrt_alphas_cumprod, t, x0.shape) * x0
            + extract(sched.sqrt_one_minus_alphas_cumprod, t, x0.shape) * noise)


def predict_x0(x_t: torch.Tensor, t, eps: torch.Tensor, sched: Schedule) -> torch.Tensor:
    """Invert q_sample for x_0 given the (predicted) noise."""
    t = _as_t(t, x_t.shape[0], x_t.device)
    return (x_t - extract(sched.sqrt_one_minus_alphas_cumprod, t, x_t.shape) * eps) / extract(
        sched.sqrt_alphas_cumprod, t, x_t.shape)


def p_mean(x_t: torch.Tensor, t, eps: torch.Tensor, sched: Schedule) -> torch.Tensor:
    """Mean of p(x_{t-1} | x_t) from predicted noise (Ho et al. eq. 11):
    mu = 1/sqrt(alpha_t) * (x_t - beta_t / sqrt(1 - abar_t) * eps)."""
    t = _as_t(t, x_t.shape[0], x_t.device)
    coef = extract(sched.betas / sched.sqrt_one_minus_alphas_cumprod, t, x_t.shape)
    return extract(sched.sqrt_recip_alphas, t, x_t.shape) * (x_t - coef * eps)


def p_sample(x_t: torch.Tensor, t, eps: torch.Tensor, sched: Schedule, noise: torch.Tensor | None = None,
             var_type: str = "posterior", generator: torch.Generator | None = None) -> torch.Tensor:
    """One reverse step x_t -> x_{t-1} given the predicted noise ``eps``.

    Adds ``sigma_t * z`` with sigma_t^2 the posterior variance (``var_type="posterior"``) or
    beta_t (``"beta"``); no noise is added where t = 0.
    """
    t = _as_t(t, x_t.shape[0], x_t.device)
    mean = p_mean(x_t, t, eps, sched)  # (B, C, H, W)
    if noise is None:
        noise = torch.randn(x_t.shape, generator=generator, device="cpu").to(x_t.device) if generator is not None \
            else torch.randn_like(x_t)
    if var_type not in ("posterior", "beta"):
        raise ValueError(f"var_type must be 'posterior' or 'beta', got {var_type!r}")
    var = sched.posterior_variance if var_type == "posterior" else sched.betas
    nonzero = (t != 0).float().reshape(-1, *([1] * (x_t.ndim - 1)))  # (B, 1, 1, 1)
    return mean + nonzero * extract(var.sqrt(), t, x_t.shape) * noise


def clipped_eps(x_t: torch.Tensor, t, eps: torch.Tensor, sched: Schedule) -> torch.Tensor:
    """The noise that corresponds to the predicted clean image clamped to [-1, 1]:
    x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), clamped, then eps' = (x_t - sqrt(abar_t)
    x0_clamped) / sqrt(1 - abar_t). Unchanged where x0_hat is already in range."""
    t = _as_t(t, x_t.shape[0], x_t.device)
    sa = extract(sched.sqrt_alphas_cumprod, t, x_t.shape)
    s1 = extract(sched.sqrt_one_minus_alphas_cumprod, t, x_t.shape)
    x0 = ((x_t - s1 * eps) / sa).clamp(-1, 1)
    return (x_t - sa * x0) / s1


def _randn(shape, generator, device):
    # Draw on the CPU with the generator so the same seed gives the same samples on any device.
    return torch.randn(shape, generator=generator).to(device)


@torch.inference_mode()
def p_sample_loop(eps_fn: EpsFn, shape, sched: Schedule, *, device=None, generator: torch.Generator | None = None,
                  var_type: str = "posterior", clip: bool = True, clip_x0: bool = False,
                  return_trajectory: bool = False, save_every: int | None = None, progress: bool = True):
    """Ancestral DDPM sampling over all T steps, from pure noise to x_0.

    Returns the final images (clamped to [-1, 1] when ``clip``) or, with ``return_trajectory``,
    ``(images, frames)`` where frames are CPU copies of x_t every ``save_every`` steps.

    ``clip_x0``: at every step clamp the predicted clean image x0_hat to [-1, 1] and take the
    posterior mean of q(x_{t-1} | x_t, x0_hat) (Ho et al.'s ``clip_denoised``; diffusers'
    ``clip_sample``). Done here by re-deriving the noise from the clipped x0_hat, which gives
    exactly that posterior mean through the epsilon form of ``p_mean``.
    """
    from tqdm.auto import tqdm

    device = device or torch.device("cpu")
    sched = sched.to(device)
    x = _randn(shape, generator, device)  # (B, C, H, W)
    frames = [x.cpu()]
    save_every = save_every or max(1, sched.T // 20)
    for i in tqdm(reversed(range(sched.T)), total=sched.T, desc="DDPM sampling", disable=not progress, leave=False):
        t = torch.full((shape[0],), i, dtype=torch.long, device=device)
        eps = eps_fn(x, t)
        if clip_x0:
            eps = clipped_eps(x, t, eps, sched)
        x = p_sample(x, t, eps, sched, noise=_randn(shape, generator, device), var_type=var_type)
        if return_trajectory and (i % save_every == 0):
            frames.append(x.cpu())
    x = x.clamp(-1, 1) if clip else x
    return (x, frames) if return_trajectory else x


def ddim_timesteps(T: int, steps: int) -> torch.Tensor:
    """``steps`` timesteps evenly spaced from T-1 down to 0 (int64, descending, unique)."""
    if not 1 <= steps <= T:
        raise ValueError(f"steps must be in [1, T={T}], got {steps}")
    ts = torch.linspace(T - 1, 0, steps, dtype=torch.float64).round().long()
    return torch.unique_consecutive(ts)


def ddim_step(x_t: torch.Tensor, t: int, t_prev: int, eps: torch.Tensor, sched: Schedule, eta: float = 0.0,
              noise: torch.Tensor | None = None, clip_x0: bool = False) -> torch.Tensor:
    """One DDIM update from step t to step t_prev (t_prev = -1 means "to x_0"), Song et al. eq. 12."""
    ac = sched.alphas_cumprod
    a_t = ac[t]
    a_prev = ac[t_prev] if t_prev >= 0 else torch.ones((), device=ac.device)
    x0 = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()  # (B, C, H, W)
    if clip_x0:
        x0 = x0.clamp(-1, 1)
        eps = (x_t - a_t.sqrt() * x0) / (1 - a_t).sqrt()
    sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).clamp(min=0).sqrt()
    direction = (1 - a_prev - sigma ** 2).clamp(min=0).sqrt() * eps
    x_prev = a_prev.sqrt() * x0 + direction
    if eta > 0 and t_prev >= 0:
        x_prev = x_prev + sigma * (torch.randn_like(x_t) if noise is None else noise)
    return x_prev


@torch.inference_mode()
def ddim_sample(eps_fn: EpsFn, shape, sched: Schedule, steps: int = 50, eta: float = 0.0, *, device=None,
                generator: torch.Generator | None = None, clip: bool = True, clip_x0: bool = False,
                return_trajectory: bool = False, progress: bool = True):
    """DDIM sampling with ``steps`` network calls (any number from 1 to T).

    ``eta=0`` is deterministic given the starting noise; ``eta=1`` with all T steps is the DDPM
    sampler with the posterior variance.
    """
    from tqdm.auto import tqdm

    device = device or torch.device("cpu")
    sched = sched.to(device)
    ts = ddim_timesteps(sched.T, steps).tolist()
    x = _randn(shape, generator, device)  # (B, C, H, W)
    frames = [x.cpu()]
    for i, t in enumerate(tqdm(ts, desc=f"DDIM {len(ts)} steps", disable=not progress, leave=False)):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        eps = eps_fn(x, torch.full((shape[0],), t, dtype=torch.long, device=device))
        noise = _randn(shape, generator, device) if eta > 0 else None
        x = ddim_step(x, t, t_prev, eps, sched, eta=eta, noise=noise, clip_x0=clip_x0)
        if return_trajectory:
            frames.append(x.cpu())
    x = x.clamp(-1, 1) if clip else x
    return (x, frames) if return_trajectory else x


def noise_loss(eps_fn: EpsFn, x0: torch.Tensor, sched: Schedule, t: torch.Tensor | None = None,
               noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """The simple DDPM objective (Ho et al. eq. 14): MSE between true and predicted noise at a
    uniformly drawn step."""
    B = x0.shape[0]
    if t is None:
        t = torch.randint(0, sched.T, (B,), generator=generator).to(x0.device)  # (B,)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator).to(x0.device) if generator is not None \
            else torch.randn_like(x0)
    x_t = q_sample(x0, t, sched, noise)  # (B, C, H, W)
    return F.mse_loss(eps_fn(x_t, t), noise)


# --- classifier-free guidance (Ho & Salimans 2022) -------------------------------------------

def context_mask(batch_size: int, drop_prob: float, *, device=None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Bernoulli keep-mask for training with context dropout: (B, 1) float, 1 = keep the context
    (probability 1 - drop_prob), 0 = drop it so the model also learns the unconditional noise."""
    if not 0.0 <= drop_prob <= 1.0:
        raise ValueError(f"drop_prob must be in [0, 1], got {drop_prob}")
    keep = torch.bernoulli(torch.full((batch_size, 1), 1.0 - drop_prob), generator=generator)
    return keep.to(device) if device is not None else keep


def guided_eps(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, w: float) -> torch.Tensor:
    """Classifier-free guided noise: (1 + w) * eps_cond - w * eps_uncond (w = 0: conditional)."""
    return (1 + w) * eps_cond - w * eps_uncond


def cfg_eps_fn(model, c: torch.Tensor, w: float) -> EpsFn:
    """A noise predictor that runs the conditional and unconditional passes in ONE batched forward
    call and mixes them with :func:`guided_eps`. ``model(x, t, c, c_mask)``."""

    def eps_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        ones = torch.ones(B, 1, device=x.device)
        x2, t2, c2 = torch.cat([x, x]), torch.cat([t, t]), torch.cat([c, c])  # (2B, ...)
        mask = torch.cat([ones, torch.zeros_like(ones)])  # (2B, 1): first half keeps the context
        eps_c, eps_u = model(x2, t2, c2, mask).chunk(2)
        return guided_eps(eps_c, eps_u, w)

    return eps_fn
