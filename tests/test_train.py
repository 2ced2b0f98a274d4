"""helpers.train: EMA closed form, convergence on a known optimum, exact resume, time budget."""
from __future__ import annotations

import copy
import time
from collections import namedtuple

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from matplotlib import pyplot as plt
from torch import nn

from helpers.data import make_loader
from helpers.train import EMA, History, move_to, train

W_TRUE = torch.tensor([[1.0, -2.0, 0.5]])
B_TRUE = 0.3


def regression_data(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)  # (n, 3)
    y = x @ W_TRUE.T + B_TRUE  # (n, 1), noise-free: the optimum has zero loss
    return x, y


def mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def scalar_model(value: float) -> nn.Module:
    m = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(value)
    m.register_buffer("seen", torch.tensor(0.0))
    return m


def set_weight(m: nn.Module, value: float) -> None:
    with torch.no_grad():
        m.weight.fill_(value)
        m.seen.fill_(value * 10)


# ------------------------------------------------------------------ EMA


def test_ema_matches_hand_worked_closed_form():
    m = scalar_model(1.0)
    ema = EMA(m, decay=0.9)
    set_weight(m, 2.0)
    ema.update(m)  # 0.9 * 1 + 0.1 * 2 = 1.1
    assert ema.model.weight.item() == pytest.approx(1.1, abs=1e-6)
    set_weight(m, 3.0)
    ema.update(m)  # 0.9 * 1.1 + 0.1 * 3 = 1.29
    assert ema.model.weight.item() == pytest.approx(1.29, abs=1e-6)
    assert ema.model.seen.item() == 30.0  # buffers are copied, not averaged
    assert ema.num_updates == 2
    assert not ema.model.training and not ema.model.weight.requires_grad


def test_ema_warmup_uses_smaller_decay_first():
    m = scalar_model(1.0)
    ema = EMA(m, decay=0.9, warmup=True)
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    set_weight(m, 2.0)
    ema.update(m)  # 0.1 * 1 + 0.9 * 2 = 1.9
    assert ema.model.weight.item() == pytest.approx(1.9, abs=1e-6)
    assert ema.current_decay() == pytest.approx(2 / 11)
    ema.num_updates = 10_000
    assert ema.current_decay() == 0.9  # capped at decay



def test_ema_update_equals_the_per_tensor_loop_bit_for_bit():
    """The multi-tensor update is a speed change only: same bits as mul_(d).add_(p, alpha=1-d)."""
    from helpers.unet import ConditionalUNet
    torch.manual_seed(0)
    m = ConditionalUNet(chs=(8, 16), T=50)
    ema = EMA(m, decay=0.97, warmup=True)
    loop = {k: v.clone() for k, v in ema.model.state_dict().items()}
    for _ in range(3):
        with torch.no_grad():
            for p in m.parameters():
                p.add_(torch.randn_like(p))
        d = ema.current_decay()
        ema.update(m)
        live = m.state_dict()
        for k in loop:
            if loop[k].dtype.is_floating_point and k in dict(m.named_parameters()):
                loop[k].mul_(d).add_(live[k], alpha=1 - d)
            else:
                loop[k].copy_(live[k])
    for k, v in ema.model.state_dict().items():
        assert torch.equal(v, loop[k]), k

def test_ema_copy_to_context_and_state_dict():
    m = scalar_model(1.0)
    ema = EMA(m, decay=0.5)
    set_weight(m, 3.0)
    ema.update(m)  # 2.0
    m.train()
    with ema.average_parameters(m) as averaged:
        assert averaged is m and not m.training
        assert m.weight.item() == pytest.approx(2.0)
    assert m.weight.item() == 3.0 and m.training  # restored

    other = EMA(scalar_model(0.0), decay=0.1)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.5 and other.num_updates == 1
    assert other.model.weight.item() == pytest.approx(2.0)
    target = scalar_model(-5.0)
    assert ema.copy_to(target).weight.item() == pytest.approx(2.0)


# ------------------------------------------------------------------ training


def test_loss_falls_to_the_known_optimum():
    x, y = regression_data()
    loader = make_loader(x, y, batch_size=16, shuffle=True, seed=0)
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    hist = train(model, mse, loader, epochs=15, lr=0.05, progress=False)
    assert len(hist.epoch_losses) == 15 and hist.steps == 15 * len(loader)
    assert hist.epoch_losses[0] > 0.5 > 1e-4 > hist.epoch_losses[-1]
    torch.testing.assert_close(model.weight.detach(), W_TRUE, atol=1e-2, rtol=0)
    assert model.bias.item() == pytest.approx(B_TRUE, abs=1e-2)
    assert not model.training  # returned in eval mode
    assert hist.stop_reason == "epochs" and hist.wall_time > 0 and hist.steps_per_second > 0


def test_ema_in_training_lags_then_converges():
    x, y = regression_data()
    loader = make_loader(x, y, batch_size=32, shuffle=True, seed=1)
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    hist = train(model, mse, loader, steps=400, lr=0.05, ema_decay=0.95, progress=False)
    assert isinstance(hist.ema, EMA) and hist.ema.num_updates == 400
    torch.testing.assert_close(hist.ema.model.weight, W_TRUE, atol=2e-2, rtol=0)


ResumeBatch = namedtuple("ResumeBatch", "x y")


class Noisy(nn.Module):
    """Dropout and a noisy loss: resuming must restore the global RNG too."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)


def noisy_loss(model, batch):
    x, y = batch
    x = x + 0.05 * torch.randn_like(x)  # global RNG, like a diffusion loss drawing t and eps
    return ((model(x) - y) ** 2).mean()


def _fresh(seed):
    torch.manual_seed(seed)
    model = Noisy()
    x, y = regression_data(100)
    loader = make_loader(x, y, batch_size=16, shuffle=True, seed=0)  # 7 batches, last one short
    return model, loader


@pytest.mark.parametrize("split", [30, 35])  # mid-epoch, and exactly at an epoch boundary (5 x 7)
@pytest.mark.parametrize("same_loader", [False, True])  # a loader built again, or the one already used
def test_resume_equals_straight_run(tmp_path, split, same_loader):
    kw = dict(lr=1e-2, ema_decay=0.9, grad_clip=1.0, progress=False)
    model_a, loader_a = _fresh(0)
    hist_a = train(model_a, noisy_loss, loader_a, steps=70, **kw)

    ckpt = tmp_path / "ckpt.pt"
    model_b, loader_b = _fresh(0)
    first = train(model_b, noisy_loss, loader_b, steps=split, checkpoint=ckpt, **kw)
    assert ckpt.exists() and first.steps == split
    model_c, loader_c = _fresh(123)  # another init and global RNG: all must come from the file
    if same_loader:
        loader_c = loader_b  # its generator has moved on: the checkpoint sets it back
    torch.rand(17)
    hist_c = train(model_c, noisy_loss, loader_c, steps=70, checkpoint=ckpt, **kw)

    assert hist_c.losses == hist_a.losses
    assert hist_c.epoch_losses == hist_a.epoch_losses
    for (name, a), c in zip(model_a.state_dict().items(), model_c.state_dict().values()):
        assert torch.equal(a, c), name
    for a, c in zip(hist_a.ema.state_dict()["shadow"].values(), hist_c.ema.state_dict()["shadow"].values()):
        assert torch.equal(a, c)

    # a finished checkpoint returns at once, unchanged
    again = train(_fresh(5)[0], noisy_loss, loader_c, steps=70, checkpoint=ckpt, **kw)
    assert again.stop_reason == "already done" and again.losses == hist_a.losses


def test_resume_false_starts_over(tmp_path):
    ckpt = tmp_path / "c.pt"
    model, loader = _fresh(0)
    train(model, noisy_loss, loader, steps=10, checkpoint=ckpt, progress=False)
    model, loader = _fresh(0)
    hist = train(model, noisy_loss, loader, steps=12, checkpoint=ckpt, resume=False, progress=False)
    assert hist.steps == 12


def test_max_seconds_stops_cleanly_and_resumes(tmp_path):
    x, y = regression_data(64)
    loader = make_loader(x, y, batch_size=8, seed=0)

    def slow_loss(model, batch):
        time.sleep(0.02)
        return mse(model, batch)

    ckpt = tmp_path / "budget.pt"
    model = nn.Linear(3, 1)
    t0 = time.perf_counter()
    hist = train(model, slow_loss, loader, steps=10_000, max_seconds=0.3, checkpoint=ckpt, progress=False)
    elapsed = time.perf_counter() - t0
    assert hist.stop_reason == "max_seconds"
    assert 1 <= hist.steps < 30 and elapsed < 2.0
    assert not model.training
    saved = torch.load(ckpt, weights_only=True)
    assert saved["step"] == hist.steps

    more = train(model, mse, loader, steps=hist.steps + 5, checkpoint=ckpt, progress=False)
    assert more.steps == hist.steps + 5 and more.losses[: hist.steps] == hist.losses


def test_checkpoint_every_and_on_step(tmp_path):
    x, y = regression_data(64)
    loader = make_loader(x, y, batch_size=8, seed=0)
    seen = []

    def on_step(step, loss):
        seen.append((step, loss))
        if step == 3:
            assert (tmp_path / "c.pt").exists()  # written at step 2
        return step == 5

    hist = train(nn.Linear(3, 1), mse, loader, steps=100, checkpoint=tmp_path / "c.pt",
                 checkpoint_every=2, on_step=on_step, progress=False)
    assert hist.stop_reason == "on_step" and hist.steps == 5
    assert [s for s, _ in seen] == [1, 2, 3, 4, 5]
    assert [l for _, l in seen] == pytest.approx(hist.losses)


def test_batches_are_moved_and_structures_kept():
    b = {"x": torch.ones(2), "pair": (torch.zeros(1), 3), "nt": ResumeBatch(torch.ones(1), [torch.ones(1)])}
    out = move_to(b, "cpu")
    assert isinstance(out["nt"], ResumeBatch) and isinstance(out["pair"], tuple) and out["pair"][1] == 3

    x, y = regression_data(32)
    loader = [{"x": x[i:i + 8], "y": y[i:i + 8]} for i in range(0, 32, 8)]  # a plain list works too
    hist = train(nn.Linear(3, 1), lambda m, b: ((m(b["x"]) - b["y"]) ** 2).mean(), loader,
                 epochs=2, progress=False)
    assert hist.steps == 8 and len(hist.epoch_losses) == 2


def test_argument_errors():
    loader = make_loader(*regression_data(16), batch_size=8)
    with pytest.raises(ValueError, match="epochs= or steps="):
        train(nn.Linear(3, 1), mse, loader, progress=False)
    with pytest.raises(ValueError, match="scalar"):
        train(nn.Linear(3, 1), lambda m, b: (m(b[0]) - b[1]) ** 2, loader, steps=1, progress=False)


def test_history_plot_and_roundtrip():
    hist = History(losses=[1.0, 0.5, 0.4, 0.3, 0.2], epoch_losses=[0.48], wall_time=2.0)
    assert hist.steps == 5 and hist.steps_per_second == 2.5
    fig = hist.plot(log=True, smooth=2)
    assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "log"
    assert len(fig.axes[0].lines) == 2  # raw and smoothed
    plt.close(fig)
    other = History()
    other.load_state_dict(hist.state_dict())
    assert other == hist


def test_recalibrate_batchnorm_equals_torch_update_bn():
    """Reference: torch.optim.swa_utils.update_bn on a one-input model gives the same buffers."""
    from torch.optim.swa_utils import update_bn

    from helpers.train import recalibrate_batchnorm

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 25, 6), nn.BatchNorm1d(6))
    net[1].running_mean.fill_(5.0)  # stale statistics, as after training other weights
    batches = [torch.randn(8, 2, 5, 5) * 3 + 1 for _ in range(5)]
    ours, ref = copy.deepcopy(net), copy.deepcopy(net)
    out = recalibrate_batchnorm(ours, [(b,) for b in batches])
    update_bn(batches, ref)
    assert out is ours and not ours.training
    for a, b in zip(ours.modules(), ref.modules()):
        if isinstance(a, nn.modules.batchnorm._BatchNorm):
            torch.testing.assert_close(a.running_mean, b.running_mean)
            torch.testing.assert_close(a.running_var, b.running_var)
            assert a.momentum == 0.1  # restored
    # the first layer's mean is the average over the batches of each batch's per-channel mean
    conv_out = [net[0](b) for b in batches]
    expected = torch.stack([c.mean(dim=(0, 2, 3)) for c in conv_out]).mean(0)
    torch.testing.assert_close(ours[1].running_mean, expected.detach(), atol=1e-5, rtol=1e-5)


def test_recalibrate_batchnorm_multi_input_and_no_bn():
    from helpers.train import recalibrate_batchnorm
    from helpers.unet import OptimizedUNet, TimeUNet

    torch.manual_seed(0)
    unet = TimeUNet(in_ch=1, chs=(8, 16), T=50)
    x, t = torch.randn(4, 1, 28, 28), torch.randint(0, 50, (4,))
    recalibrate_batchnorm(unet, [(x, t)])
    bn = next(m for m in unet.modules() if isinstance(m, nn.BatchNorm2d))
    assert int(bn.num_batches_tracked) == 1 and not unet.training
    gn = OptimizedUNet(in_ch=1, chs=(8, 16), T=50)  # GroupNorm only: nothing to recompute
    before = {k: v.clone() for k, v in gn.state_dict().items()}
    recalibrate_batchnorm(gn, [(x, t)])
    assert all(torch.equal(before[k], v) for k, v in gn.state_dict().items()) and not gn.training
