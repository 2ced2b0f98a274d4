"""Flow matching (helpers.flow) against hand-worked numbers, closed forms and DDIM (helpers.ddpm)."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from helpers import ddpm, flow
from helpers.schedules import Schedule

# Hand-worked example (walkthrough 07): x0 = [0.8, -0.3], eps = [0.5, -0.7], t = 0.25
X0 = torch.tensor([0.8, -0.3])
EPS = torch.tensor([0.5, -0.7])


def test_path_and_velocity_by_hand():
    # x_t = 0.75 * [0.8, -0.3] + 0.25 * [0.5, -0.7] = [0.6 + 0.125, -0.225 - 0.175]
    torch.testing.assert_close(flow.flow_path(X0, EPS, 0.25), torch.tensor([0.725, -0.4]))
    # v = eps - x0 = [0.5 - 0.8, -0.7 + 0.3]
    torch.testing.assert_close(flow.velocity_target(X0, EPS), torch.tensor([-0.3, -0.4]))
    # the ends of the path: t = 0 is the data, t = 1 the noise
    torch.testing.assert_close(flow.flow_path(X0, EPS, 0.0), X0)
    torch.testing.assert_close(flow.flow_path(X0, EPS, 1.0), EPS)


def test_path_takes_one_time_per_image():
    x0 = torch.stack([torch.full((1, 2, 2), 0.8), torch.full((1, 2, 2), -0.3)])  # (2, 1, 2, 2)
    eps = torch.stack([torch.full((1, 2, 2), 0.5), torch.full((1, 2, 2), -0.7)])
    xt = flow.flow_path(x0, eps, torch.tensor([0.25, 0.5]))
    # image 0 at t = 0.25: 0.725; image 1 at t = 0.5: (-0.3 - 0.7) / 2 = -0.5
    torch.testing.assert_close(xt[0], torch.full((1, 2, 2), 0.725))
    torch.testing.assert_close(xt[1], torch.full((1, 2, 2), -0.5))
    with pytest.raises(ValueError, match="one value per image"):
        flow.flow_path(x0, eps, torch.tensor([0.1, 0.2, 0.3]))


def test_one_euler_step_by_hand():
    xt = torch.tensor([0.725, -0.4])
    v = torch.tensor([-0.3, -0.4])
    # from t = 0.25 to 0 with the exact velocity: [0.725 + 0.25 * 0.3, -0.4 + 0.25 * 0.4] = x0
    torch.testing.assert_close(flow.euler_step(xt, 0.25, 0.0, v), X0)
    # half-way: t = 0.25 -> 0.125 lands on the path at 0.125: 0.875 x0 + 0.125 eps
    torch.testing.assert_close(flow.euler_step(xt, 0.25, 0.125, v), torch.tensor([0.7625, -0.35]))


def test_one_heun_step_by_hand():
    calls = []

    def v_fn(x, t):  # v(x, t) = x + t, a velocity field that depends on both x and t
        calls.append(t.clone())
        return x + t.reshape(-1, 1)

    x = torch.tensor([[2.0], [0.0]])  # (B=2, 1)
    # image 0: v1 = 2 + 1 = 3; xe = 2 - 0.5 * 3 = 0.5; v2 = 0.5 + 0.5 = 1; x' = 2 - 0.5 * (3 + 1) / 2 = 1
    # image 1: v1 = 0 + 1 = 1; xe = 0 - 0.5 = -0.5; v2 = -0.5 + 0.5 = 0; x' = 0 - 0.5 * 0.5 = -0.25
    out = flow.heun_step(v_fn, x, 1.0, 0.5)
    torch.testing.assert_close(out, torch.tensor([[1.0], [-0.25]]))
    assert len(calls) == 2  # two network evaluations, at t and at t_next, one time per image
    torch.testing.assert_close(calls[0], torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(calls[1], torch.tensor([0.5, 0.5]))
    # Euler on the same step gives 2 - 0.5 * 3 = 0.5; Heun is closer to the exact solution:
    # exact solution of dx/dt = x + t from x(1) = 2: x(t) = 4 e^(t-1) - t - 1 -> x(0.5) = 4 e^-0.5 - 1.5
    exact = 4 * math.exp(-0.5) - 1.5  # 0.926
    assert abs(out[0, 0].item() - exact) < abs(0.5 - exact)


def test_time_input_and_grid():
    torch.testing.assert_close(flow.time_input(torch.tensor([0.0, 0.5, 1.0])), torch.tensor([0.0, 499.5, 999.0]))
    torch.testing.assert_close(flow.time_input(torch.tensor([1.0]), T=10), torch.tensor([9.0]))
    torch.testing.assert_close(flow.time_grid(4), torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0]))
    with pytest.raises(ValueError, match="steps"):
        flow.time_grid(0)


def test_guided_velocity_by_hand():
    # (1 + 2) * 1.0 - 2 * 0.25 = 2.5
    assert flow.guided_velocity(torch.tensor(1.0), torch.tensor(0.25), 2.0).item() == pytest.approx(2.5)
    assert flow.guided_velocity(torch.tensor(1.0), torch.tensor(0.25), 0.0).item() == pytest.approx(1.0)


class _CountingModel(torch.nn.Module):
    """model(x, t, c, c_mask) whose output depends on all four inputs; counts its calls."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.batch_sizes = []

    def forward(self, x, t, c, c_mask):
        self.calls += 1
        self.batch_sizes.append(x.shape[0])
        cc = (c * c_mask).sum(1)  # (B,)
        return x * (1 + t / 1000).reshape(-1, 1, 1, 1) + (cc + 0.1 * t).reshape(-1, 1, 1, 1)


def test_cfg_velocity_fn_one_batched_call_equals_two_separate_calls():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 1, 4, 4, generator=g)
    c = torch.eye(3)  # (3, 3)
    t = torch.tensor([0.9, 0.5, 0.1])
    model = _CountingModel()
    v = flow.cfg_velocity_fn(model, c, w=2.0)(x, t)
    assert model.calls == 1 and model.batch_sizes == [6]
    ti = flow.time_input(t)
    v_c = model(x, ti, c, torch.ones(3, 1))
    v_u = model(x, ti, c, torch.zeros(3, 1))
    torch.testing.assert_close(v, flow.guided_velocity(v_c, v_u, 2.0))
    assert not torch.allclose(v_c, v_u)  # the context matters, so the check above can fail


def test_flow_cfg_loss_is_the_flow_loss_with_dropped_context():
    model = _CountingModel()
    x0 = torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 1])
    got = flow.flow_cfg_loss(model, x0, labels, 3, drop_prob=0.5, generator=torch.Generator().manual_seed(7))
    # the same draws in the same order: keep-mask, then t ~ U(0, 1), then eps ~ N(0, I)
    g = torch.Generator().manual_seed(7)
    keep = torch.bernoulli(torch.full((4, 1), 0.5), generator=g)
    t = torch.rand(4, generator=g)
    eps = torch.randn(x0.shape, generator=g)
    xt = (1 - t.reshape(-1, 1, 1, 1)) * x0 + t.reshape(-1, 1, 1, 1) * eps
    pred = model(xt, t * 999, torch.eye(3)[labels], keep)
    expected = ((pred - (eps - x0)) ** 2).mean()
    torch.testing.assert_close(got, expected)


def test_flow_loss_minimiser_for_a_gaussian_is_the_conditional_mean_velocity():
    # 1-D data x0 ~ N(m, s^2), eps ~ N(0, 1), fixed t: (x_t, eps - x0) are jointly Gaussian, so
    # E[eps - x0 | x_t] = -m + cov / var * (x_t - (1 - t) m), cov = t - (1 - t) s^2,
    # var = (1 - t)^2 s^2 + t^2. A linear v_fn a x + b fitted by the flow loss must find it.
    m, s, t0, n = 1.5, 0.5, 0.3, 400_000
    g = torch.Generator().manual_seed(0)
    x0 = (m + s * torch.randn(n, 1, generator=g)).double()
    eps = torch.randn(n, 1, generator=g).double()
    t = torch.full((n,), t0, dtype=torch.float64)
    loss = lambda ab: flow.flow_loss(lambda x, tt: ab[0] * x + ab[1], x0, t=t, eps=eps)
    # the loss is quadratic in (a, b): one Newton step from 0 lands on its minimiser
    ab0 = torch.zeros(2, dtype=torch.float64)
    grad = torch.autograd.functional.jacobian(loss, ab0)
    ab = ab0 - torch.linalg.solve(torch.autograd.functional.hessian(loss, ab0), grad)
    cov, var = t0 - (1 - t0) * s ** 2, (1 - t0) ** 2 * s ** 2 + t0 ** 2
    a = cov / var
    b = -m - a * (1 - t0) * m
    # Monte Carlo standard error of the fitted a and b with n = 400k: about 0.004; tolerance ~5 of them
    assert ab[0].item() == pytest.approx(a, abs=0.02)  # a = 0.125 / 0.2125 = 0.588
    assert ab[1].item() == pytest.approx(b, abs=0.02)  # b = -1.5 - 0.588 * 1.05 = -2.118


def test_flow_loss_is_zero_for_the_exact_velocity_and_draws_with_the_generator():
    x0 = torch.randn(5, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    eps = torch.randn(5, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    assert flow.flow_loss(lambda x, t: eps - x0, x0, eps=eps).item() == 0.0
    l1 = flow.flow_loss(lambda x, t: x * t.reshape(-1, 1, 1, 1), x0, generator=torch.Generator().manual_seed(4))
    l2 = flow.flow_loss(lambda x, t: x * t.reshape(-1, 1, 1, 1), x0, generator=torch.Generator().manual_seed(4))
    assert l1.item() == l2.item() > 0


def test_eps_to_velocity_and_ddpm_to_flow_closed_form():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)
    ab = torch.tensor([0.9, 0.5, 0.01], dtype=torch.float64)
    abr = ab.reshape(-1, 1, 1, 1)
    x_t = abr.sqrt() * x0 + (1 - abr).sqrt() * eps
    torch.testing.assert_close(flow.eps_to_velocity(x_t, eps, ab), eps - x0)
    y, tau = flow.ddpm_to_flow(x_t, ab)
    # abar = 0.5: s = 2 sqrt(0.5), tau = 1/2 exactly; abar = 0.9: tau = sqrt(.1) / (sqrt(.9) + sqrt(.1)) = 0.25
    torch.testing.assert_close(tau.flatten()[:2], torch.tensor([0.25, 0.5], dtype=torch.float64))
    torch.testing.assert_close(y, flow.flow_path(x0, eps, tau.flatten()))
    torch.testing.assert_close(flow.flow_to_ddpm(y, ab), x_t)
    # a Python float works for one alpha-bar for the whole batch
    torch.testing.assert_close(flow.eps_to_velocity(x_t[1:2], eps[1:2], 0.5), (eps - x0)[1:2])


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-13), (torch.float32, 1e-6)])
def test_ddim_step_is_an_euler_step_on_the_flow_path(dtype, tol):
    sched = Schedule.linear(1000)
    sched = dataclasses.replace(sched, alphas_cumprod=sched.alphas_cumprod.to(dtype))
    ac = sched.alphas_cumprod
    g = torch.Generator().manual_seed(0)
    for t, t_prev in [(999, 959), (999, 0), (500, 460), (40, 0), (10, -1), (999, -1), (1, 0)]:
        x_t = torch.randn(4, 1, 6, 6, generator=g, dtype=torch.float64).to(dtype)
        eps = torch.randn(4, 1, 6, 6, generator=g, dtype=torch.float64).to(dtype)
        x_prev = ddpm.ddim_step(x_t, t, t_prev, eps, sched)  # DDIM, eta = 0
        a_t = ac[t]
        a_prev = ac[t_prev] if t_prev >= 0 else torch.ones((), dtype=dtype)
        y, tau = flow.ddpm_to_flow(x_t, a_t)
        y_prev_ddim, tau_prev = flow.ddpm_to_flow(x_prev, a_prev)
        y_prev_euler = flow.euler_step(y, tau, tau_prev, flow.eps_to_velocity(x_t, eps, a_t))
        # x0_hat divides by sqrt(abar_t) (0.006 at t = 999), which scales the rounding errors up
        scale = max(1.0, y_prev_ddim.abs().max().item()) / a_t.sqrt().item()
        assert (y_prev_euler - y_prev_ddim).abs().max().item() <= tol * scale, (t, t_prev)
        # and back in DDPM coordinates
        torch.testing.assert_close(flow.flow_to_ddpm(y_prev_euler, a_prev), x_prev,
                                   rtol=10 * tol, atol=10 * tol * scale)


def test_straightness_of_a_line_and_a_right_angle():
    line = torch.tensor([[0.0, 0.0], [0.5, 1.0], [1.0, 2.0]]).reshape(3, 1, 2)  # (K+1, B=1, 2)
    corner = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]).reshape(3, 1, 2)
    got = flow.straightness(torch.cat([line, corner], dim=1))  # (2,)
    torch.testing.assert_close(got, torch.tensor([1.0, math.sqrt(2)]))
    with pytest.raises(ValueError, match="trajectory"):
        flow.straightness(torch.zeros(1, 2, 2))


def test_sample_counts_network_evaluations_and_refuses_even_heun():
    calls = []

    def v_fn(x, t):
        calls.append(t[0].item())
        return torch.zeros_like(x)

    shape = (2, 1, 4, 4)
    # Heun with an Euler last step: Heun on 1 -> 2/3 and 2/3 -> 1/3 (2 calls each), Euler on 1/3 -> 0
    # (1 call, never evaluated at t = 0); nfe 1 is a single Euler step
    for method, nfe, expected_times in [("euler", 4, [1.0, 0.75, 0.5, 0.25]),
                                        ("heun", 5, [1.0, 2 / 3, 2 / 3, 1 / 3, 1 / 3]),
                                        ("heun", 1, [1.0])]:
        calls.clear()
        flow.sample(v_fn, shape, nfe, method)
        assert calls == pytest.approx(expected_times), (method, nfe)
    for nfe in (0, 2, 4, 6):
        with pytest.raises(ValueError, match="nfe"):
            flow.sample(v_fn, shape, nfe, "heun")
    with pytest.raises(ValueError, match="nfe"):
        flow.sample(v_fn, shape, 0, "euler")
    with pytest.raises(ValueError, match="method"):
        flow.sample(v_fn, shape, 2, "rk4")


def test_heun_sample_ends_with_an_euler_step_by_hand():
    """dx/dt = t x with nfe 3: a Heun step 1 -> 0.5 multiplies x by 0.6875 (the hand-worked step above),
    then an Euler step 0.5 -> 0 by 1 - 0.5 * 0.5 = 0.75: x_0 = 0.515625 x_1 (a Heun step there would
    give 0.6875 * (1 - 0.5 * (0.5 + 0) / 2) = 0.60156...; exact: e^-0.5 = 0.6065)."""
    g = torch.Generator().manual_seed(3)
    x1 = torch.randn((2, 1, 2, 2), generator=torch.Generator().manual_seed(3))
    out = flow.sample(lambda x, t: t.reshape(-1, 1, 1, 1) * x, (2, 1, 2, 2), 3, "heun", generator=g)
    assert torch.allclose(out, 0.515625 * x1, atol=1e-6)


def test_sample_with_the_exact_velocity_of_one_image_is_exact_and_straight():
    # data = one image a: x_t = (1 - t) a + t eps, so the velocity at x, t is (x - a) / t; one
    # Euler step from t = 1 lands on a, and the path is a straight line (straightness 1).
    a = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4)
    v_fn = lambda x, t: (x - a) / t.reshape(-1, 1, 1, 1)
    g = torch.Generator().manual_seed(0)
    x1 = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    x, traj = flow.sample(v_fn, (3, 1, 4, 4), 1, generator=g, return_trajectory=True)
    torch.testing.assert_close(x, a.expand(3, 1, 4, 4))
    torch.testing.assert_close(traj[0], x1)  # starts from randn(shape, generator)
    assert traj.shape == (2, 3, 1, 4, 4)
    x3, traj3 = flow.sample(v_fn, (3, 1, 4, 4), 3, "euler", generator=torch.Generator().manual_seed(0),
                            return_trajectory=True)
    torch.testing.assert_close(x3, a.expand(3, 1, 4, 4))
    torch.testing.assert_close(flow.straightness(traj3), torch.ones(3), rtol=1e-5, atol=1e-5)


def test_the_course_unet_trains_and_samples_as_a_velocity_model():
    from helpers.unet import ConditionalUNet

    torch.manual_seed(0)
    model = ConditionalUNet(chs=(8, 16), c_dim=10)
    x0 = torch.rand(4, 1, 28, 28) * 2 - 1
    loss = flow.flow_cfg_loss(model, x0, torch.tensor([0, 1, 2, 3]), 10, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert loss.item() > 0 and all(p.grad is not None for p in model.parameters())
    c = torch.eye(10)[:3]
    x, traj = flow.sample(flow.cfg_velocity_fn(model.eval(), c, w=1.0), (3, 1, 28, 28), 3, "heun",
                          generator=torch.Generator().manual_seed(0), return_trajectory=True)
    assert x.shape == (3, 1, 28, 28) and traj.shape == (3, 3, 1, 28, 28) and torch.isfinite(x).all()
