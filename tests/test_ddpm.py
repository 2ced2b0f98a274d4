"""DDPM/DDIM/CFG maths against hand-worked numbers, closed forms and Monte Carlo."""
from __future__ import annotations

import math

import pytest
import torch

from helpers import ddpm
from helpers.schedules import Schedule, cosine_beta_schedule, linear_beta_schedule


def test_linear_schedule_coefficients_closed_form():
    s = Schedule.linear(T=10, beta_start=0.1, beta_end=0.1)  # constant beta: abar_t = 0.9^(t+1)
    expected = torch.tensor([0.9 ** (t + 1) for t in range(10)])
    torch.testing.assert_close(s.alphas_cumprod, expected.float(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(s.sqrt_one_minus_alphas_cumprod ** 2 + s.sqrt_alphas_cumprod ** 2, torch.ones(10))
    assert s.posterior_variance[0] == 0  # x_0 is reached without noise
    # posterior variance by hand at t=1: beta (1 - abar_0) / (1 - abar_1) = 0.1 * 0.1 / 0.19
    assert s.posterior_variance[1].item() == pytest.approx(0.1 * 0.1 / 0.19, rel=1e-6)
    torch.testing.assert_close(s.sqrt_recip_alphas, torch.full((10,), 1 / math.sqrt(0.9)))


def test_linear_schedule_endpoints_and_where_abar_drops_below_one_percent():
    betas = linear_beta_schedule(1000)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    s = Schedule.from_betas(betas)
    # closed form: log abar_t = sum_{s<=t} log(1 - beta_s); find the first t with abar < 0.01 by
    # an independent float64 sum over the analytic betas
    analytic = [1e-4 + (0.02 - 1e-4) * i / 999 for i in range(1000)]
    log_abar, first = 0.0, None
    for t, b in enumerate(analytic):
        log_abar += math.log1p(-b)
        if first is None and log_abar < math.log(0.01):
            first = t
    got = int((s.alphas_cumprod < 0.01).nonzero()[0])
    assert got == first
    # continuous approximation: log abar_t ~ -(b0 t + (b1 - b0) t^2 / (2 T)) = log 0.01
    # -> t ~ 673 for b0 = 1e-4, b1 = 0.02, T = 1000
    b0, b1, T = 1e-4, 0.02, 1000
    a, b, c = (b1 - b0) / (2 * T), b0, math.log(0.01)
    t_star = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    assert abs(got - t_star) < 3


def test_cosine_schedule_matches_its_definition():
    T, s = 50, 0.008
    betas = cosine_beta_schedule(T, s)
    abar = torch.cumprod(1 - betas, 0)
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    for t in [0, 10, 25, 48]:
        assert abar[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)


def test_hand_worked_forward_step():
    # x0 = [0.8, -0.3], beta = 0.02, eps = [0.5, -0.7]:
    # x1 = sqrt(0.98) x0 + sqrt(0.02) eps = [0.86267, -0.39598]
    s = Schedule.from_betas(torch.tensor([0.02, 0.03]))
    x0 = torch.tensor([[0.8, -0.3]]).reshape(1, 1, 1, 2)
    eps = torch.tensor([[0.5, -0.7]]).reshape(1, 1, 1, 2)
    x1 = ddpm.q_sample(x0, 0, s, eps)
    torch.testing.assert_close(x1.flatten(), torch.tensor([0.86267, -0.39598]), atol=1e-4, rtol=0)
    torch.testing.assert_close(ddpm.q_step(x0, 0, s, eps), x1)  # one step from x0 equals the jump
    # the reverse mean with the true noise recovers x0
    mean = ddpm.p_mean(x1, 0, eps, s)
    torch.testing.assert_close(mean.flatten(), torch.tensor([0.8, -0.3]), atol=1e-5, rtol=0)
    # and at t = 0 p_sample adds no noise, whatever z is
    torch.testing.assert_close(ddpm.p_sample(x1, 0, eps, s, noise=torch.full_like(x1, 5.0)), mean)


def test_q_sample_agrees_with_iterated_q_step_in_mean_and_variance():
    s = Schedule.linear(T=100, beta_start=1e-3, beta_end=0.05)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1, 1, 1), 0.7)
    t = 37
    x = x0.clone()
    for i in range(t + 1):
        x = ddpm.q_step(x, i, s, torch.randn(x.shape, generator=g))
    jump = ddpm.q_sample(x0, t, s, torch.randn(x0.shape, generator=g))
    mean = s.sqrt_alphas_cumprod[t].item() * 0.7
    var = 1 - s.alphas_cumprod[t].item()
    for sample in (x, jump):
        assert sample.mean().item() == pytest.approx(mean, abs=0.02)
        assert sample.var().item() == pytest.approx(var, rel=0.04)


def test_p_sample_variance_and_batch_of_timesteps():
    s = Schedule.linear(T=50)
    x = torch.zeros(4, 1, 2, 2)
    eps = torch.zeros_like(x)
    z = torch.ones_like(x)
    t = torch.tensor([0, 1, 10, 49])
    out = ddpm.p_sample(x, t, eps, s, noise=z)
    for i, ti in enumerate(t.tolist()):
        expected = 0.0 if ti == 0 else s.posterior_variance[ti].sqrt().item()
        assert out[i].flatten()[0].item() == pytest.approx(expected, abs=1e-7)
    out_beta = ddpm.p_sample(x, t, eps, s, noise=z, var_type="beta")
    assert out_beta[3].flatten()[0].item() == pytest.approx(s.betas[49].sqrt().item(), abs=1e-7)
    with pytest.raises(ValueError):
        ddpm.p_sample(x, t, eps, s, var_type="nonsense")


def _toy_eps_fn(x, t):
    # a smooth, t-dependent stand-in for a trained network
    return 0.3 * torch.tanh(x) + 0.01 * t.float().reshape(-1, 1, 1, 1)


def test_ddim_eta0_is_deterministic_given_the_seed():
    s = Schedule.linear(T=100)
    a = ddpm.ddim_sample(_toy_eps_fn, (3, 1, 4, 4), s, steps=10, eta=0.0, generator=torch.Generator().manual_seed(1),
                         progress=False)
    b = ddpm.ddim_sample(_toy_eps_fn, (3, 1, 4, 4), s, steps=10, eta=0.0, generator=torch.Generator().manual_seed(1),
                         progress=False)
    assert torch.equal(a, b)


def test_ddim_eta1_all_steps_equals_ddpm_posterior_step():
    s = Schedule.linear(T=20, beta_start=1e-3, beta_end=0.2)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 1, 3, 3, generator=g)
    eps = torch.randn(5, 1, 3, 3, generator=g)
    z = torch.randn(5, 1, 3, 3, generator=g)
    for t in [19, 10, 1]:
        ddim = ddpm.ddim_step(x, t, t - 1, eps, s, eta=1.0, noise=z)
        ddpm_step = ddpm.p_sample(x, t, eps, s, noise=z, var_type="posterior")
        torch.testing.assert_close(ddim, ddpm_step, atol=1e-5, rtol=1e-5)
    # the final step goes to x_0 = predicted x0 without noise
    torch.testing.assert_close(ddpm.ddim_step(x, 0, -1, eps, s, eta=1.0, noise=z), ddpm.predict_x0(x, 0, eps, s))


def test_ddim_timesteps():
    ts = ddpm.ddim_timesteps(1000, 25)
    assert ts[0] == 999 and ts[-1] == 0 and len(ts) == 25 and (ts[:-1] > ts[1:]).all()
    assert ddpm.ddim_timesteps(10, 10).tolist() == list(range(9, -1, -1))
    with pytest.raises(ValueError):
        ddpm.ddim_timesteps(10, 11)


def test_p_sample_loop_with_oracle_noise_recovers_a_point_mass():
    # data = a single point x*: the optimal eps is (x_t - sqrt(abar) x*) / sqrt(1 - abar),
    # and ancestral sampling with it must land on x*.
    s = Schedule.linear(T=200)
    target = torch.tensor([0.5, -0.25]).reshape(1, 1, 1, 2)

    def oracle(x, t):
        return (x - ddpm.extract(s.sqrt_alphas_cumprod, t, x.shape) * target) / ddpm.extract(
            s.sqrt_one_minus_alphas_cumprod, t, x.shape)

    out = ddpm.p_sample_loop(oracle, (8, 1, 1, 2), s, generator=torch.Generator().manual_seed(0), progress=False)
    torch.testing.assert_close(out, target.expand(8, 1, 1, 2), atol=1e-4, rtol=0)
    out = ddpm.ddim_sample(oracle, (8, 1, 1, 2), s, steps=7, generator=torch.Generator().manual_seed(0),
                           progress=False)
    torch.testing.assert_close(out, target.expand(8, 1, 1, 2), atol=1e-4, rtol=0)


def test_noise_loss_is_zero_for_the_oracle_and_mse_otherwise():
    s = Schedule.linear(T=50)
    x0 = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    noise = torch.randn_like(x0)
    t = torch.arange(6) * 7
    assert ddpm.noise_loss(lambda x, tt: noise, x0, s, t=t, noise=noise).item() == 0
    assert ddpm.noise_loss(lambda x, tt: torch.zeros_like(x), x0, s, t=t, noise=noise).item() == pytest.approx(
        noise.pow(2).mean().item())


def test_context_mask_statistics():
    g = torch.Generator().manual_seed(0)
    m = ddpm.context_mask(100000, 0.1, generator=g)
    assert m.shape == (100000, 1) and set(m.unique().tolist()) <= {0.0, 1.0}
    # binomial: mean 0.9, sd sqrt(0.09 / 1e5) ~ 0.00095
    assert abs(m.mean().item() - 0.9) < 0.005
    assert ddpm.context_mask(10, 0.0).sum() == 10 and ddpm.context_mask(10, 1.0).sum() == 0
    with pytest.raises(ValueError):
        ddpm.context_mask(4, 1.5)


def test_cfg_formula_and_single_batched_call():
    eps_c, eps_u = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])
    torch.testing.assert_close(ddpm.guided_eps(eps_c, eps_u, 0.0), eps_c)
    torch.testing.assert_close(ddpm.guided_eps(eps_c, eps_u, 2.0), torch.tensor([2.0, 8.0]))  # 3*c - 2*u
    calls = []

    def model(x, t, c, mask):
        calls.append(x.shape[0])
        return x * 0 + (c.sum(1) * mask.squeeze(1)).reshape(-1, 1, 1, 1)  # cond: sum(c); uncond: 0

    c = torch.eye(3)
    x = torch.zeros(3, 1, 2, 2)
    out = ddpm.cfg_eps_fn(model, c, w=1.5)(x, torch.zeros(3, dtype=torch.long))
    assert calls == [6]  # one forward call with the batch doubled
    torch.testing.assert_close(out, torch.full_like(x, 2.5))  # (1 + 1.5) * 1 - 1.5 * 0


def test_clip_x0_gives_the_posterior_mean_of_the_clamped_x0():
    """clipped_eps + the epsilon-form mean == Ho et al.'s posterior mean
    mu~(x_t, x0) = beta_t sqrt(abar_{t-1}) / (1 - abar_t) x0 + (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t) x_t
    with x0 clamped to [-1, 1] (their clip_denoised); and nothing changes when x0_hat is in range."""
    torch.manual_seed(0)
    sched = Schedule.linear(100)
    t = torch.tensor([5, 50, 99])
    x_t = torch.randn(3, 1, 4, 4) * 2
    eps = torch.randn(3, 1, 4, 4)
    ab, b, a = sched.alphas_cumprod[t], sched.betas[t], sched.alphas[t]
    ab_prev = sched.alphas_cumprod_prev[t]
    x0 = ((x_t - (1 - ab).sqrt().view(-1, 1, 1, 1) * eps) / ab.sqrt().view(-1, 1, 1, 1))
    assert (x0.abs() > 1).any()                                    # the clamp matters here
    x0c = x0.clamp(-1, 1)
    v = lambda z: z.view(-1, 1, 1, 1)  # noqa: E731
    want = v(b * ab_prev.sqrt() / (1 - ab)) * x0c + v((1 - ab_prev) * a.sqrt() / (1 - ab)) * x_t
    got = ddpm.p_mean(x_t, t, ddpm.clipped_eps(x_t, t, eps, sched), sched)
    assert torch.allclose(got, want, atol=1e-5)
    # in range: identity
    x_in = ab.sqrt().view(-1, 1, 1, 1) * torch.rand(3, 1, 4, 4) * 0.9 + (1 - ab).sqrt().view(-1, 1, 1, 1) * eps
    assert torch.allclose(ddpm.clipped_eps(x_in, t, eps, sched), eps, atol=1e-5)


def test_p_sample_loop_clip_x0_keeps_a_bad_model_in_range():
    """A network whose noise estimate is off by a constant drives unclipped DDPM samples far
    outside [-1, 1] (they end up all-black/all-white after the final clamp); with clip_x0 every
    intermediate x0_hat stays in range and the samples are not saturated."""
    sched = Schedule.linear(200)
    bad = lambda x, t: torch.full_like(x, 0.3)  # noqa: E731
    raw = ddpm.p_sample_loop(bad, (4, 1, 6, 6), sched, generator=torch.Generator().manual_seed(0), clip=False,
                             progress=False)
    clipped = ddpm.p_sample_loop(bad, (4, 1, 6, 6), sched, generator=torch.Generator().manual_seed(0), clip=False,
                                 clip_x0=True, progress=False)
    assert raw.abs().max() > 3
    assert clipped.abs().max() <= 1.0 + 1e-4


def test_extract_copies_cpu_coefficients_to_the_step_device_once():
    """Training calls extract(cpu_schedule_tensor, t_on_gpu, ...) every step: the device copy is
    made once and reused (a fresh blocking copy per call stalls a GPU), and an in-place change
    of the coefficients is still seen. "meta" stands in for a GPU on machines without one."""
    coeffs = torch.linspace(0.1, 1.0, 10)
    t_meta = torch.tensor([0, 9, 3], device="meta")
    a = ddpm._on_device(coeffs, torch.device("meta"))
    assert a.device.type == "meta" and a.shape == (10,)
    assert ddpm._on_device(coeffs, torch.device("meta")) is a                     # cached
    assert ddpm.extract(coeffs, t_meta, (3, 1, 4, 4)).shape == (3, 1, 1, 1)
    coeffs.mul_(2)                                                                # in place: version changes
    assert ddpm._on_device(coeffs, torch.device("meta")) is not a
    assert ddpm._on_device(coeffs, torch.device("cpu")) is coeffs                 # same device: no copy
    # values: the cached path gathers exactly coeffs[t] (checked on the CPU, where data exists)
    t = torch.tensor([0, 9, 3])
    assert torch.equal(ddpm.extract(coeffs, t, (3, 1, 2, 2)).flatten(), coeffs[t])
    with torch.inference_mode():                                                  # no version counter there
        inf = torch.linspace(0.0, 1.0, 5)
    assert ddpm._on_device(inf, torch.device("meta")).device.type == "meta"
