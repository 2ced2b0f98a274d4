"""The gate refuses memorised, perturbed and borrowed digits (issue 21), and inspects a hand-in
without running or unpickling it.

Every hand-in kind that passed the old gate is built here from real MNIST (helpers.data.load_mnist)
and must fail ``gate.evaluate_samples`` with its own reason; an honest stand-in (real test digits
elastically distorted, Simard et al. 2003: new handwriting, not a copy) must pass. Honest *trained*
models are checked by the slow test at the end (and by ``python -m bench.gate_integrity``).
"""
from __future__ import annotations

import contextlib
import json
import os
import pickle
import time
import zipfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import gate, nearcopy
from helpers.data import load_mnist
from helpers.export import (MAX_ARCHIVE_BYTES, MAX_TENSOR_ELEMENTS, export_model, inspect_export,
                            load_exported)
from helpers.schedules import Schedule
from helpers.unet import ConditionalUNet

REPO = Path(__file__).resolve().parent.parent
SCHED = Schedule.linear(400, 2.5e-4, 0.05)
N = 40  # digits per class (the gate draws 100; 40 keep the module quick and decide the same)

needs_judge = pytest.mark.skipif(not (REPO / "helpers" / "weights" / "mnist_judge.pt").is_file(),
                                 reason="helpers/weights/mnist_judge.pt not built yet")


# --------------------------------------------------------------------------- hand-ins built from MNIST

def _per_class(split: str, n: int = N, offset: int = 0):
    x, y = load_mnist(split)
    return torch.cat([x[y == k][offset:offset + n] for k in range(10)])  # (10 n, 1, 28, 28)


LABELS = torch.arange(10).repeat_interleave(N)


def _flip(x: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    out = x.clone().reshape(len(x), -1)
    for i in range(len(out)):
        p = torch.randperm(784, generator=g)[:n]
        out[i, p] = -out[i, p]
    return out.reshape(x.shape)


def _random_shifts(x: torch.Tensor, m: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.roll(img, tuple(torch.randint(-m, m + 1, (2,), generator=g).tolist()), dims=(1, 2))
                        for img in x])


def elastic(x: torch.Tensor, alpha: float = 20.0, sigma: float = 4.0, seed: int = 0) -> torch.Tensor:
    """Elastic distortion (Simard, Steinkraus & Platt 2003): a smooth random displacement field."""
    g = torch.Generator().manual_seed(seed)
    n = len(x)
    d = torch.rand(n * 2, 1, 28, 28, generator=g) * 2 - 1
    k = nearcopy._gaussian_kernel(sigma)
    r = (len(k) - 1) // 2
    d = F.conv2d(F.pad(d, (r, r, r, r), mode="reflect"), k.reshape(1, 1, 1, -1))
    d = F.conv2d(d, k.reshape(1, 1, -1, 1)).reshape(n, 2, 28, 28) * alpha
    base = F.affine_grid(torch.eye(2, 3).expand(n, 2, 3), (n, 1, 28, 28), align_corners=False)
    grid = base + d.permute(0, 2, 3, 1) * (2 / 28)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="border").clamp(-1, 1)


@pytest.fixture(scope="module")
def handins():
    g = torch.Generator().manual_seed(0)
    train, test = _per_class("train"), _per_class("test")
    proto_known = torch.cat([_per_class("test", 1)[k:k + 1].repeat(N, 1, 1, 1) for k in range(10)])
    novel = elastic(_per_class("test", 1, offset=5), alpha=30, seed=1)  # one new digit per class
    proto_novel = torch.cat([novel[k:k + 1].repeat(N, 1, 1, 1) for k in range(10)])
    return {
        "train_copies": train,
        "test_digits": test,
        "flip_1_pixel": _flip(train, 1),
        "flip_3_pixels": _flip(train, 3),
        "shift_1_pixel": torch.roll(train, (1, 0), dims=(2, 3)),
        "noise_0.08": (train + 0.08 * torch.randn(train.shape, generator=g)).clamp(-1, 1),
        "brightness": (train * 0.8 - 0.1).clamp(-1, 1),
        "one_per_class": proto_known,
        "one_per_class_shifted": _random_shifts(proto_known, 1),
        "novel_prototype_shifted": _random_shifts(proto_novel, 2),
        "honest_standin": elastic(test, seed=2),
    }


@pytest.fixture(scope="module")
def reports(handins):
    return {k: gate.evaluate_samples(v, LABELS) for k, v in handins.items()}


def _has(r, text: str) -> bool:
    return any(text in m for m in r.messages)


@needs_judge
@pytest.mark.parametrize("kind, split, how", [
    ("train_copies", "train", "identical"),
    ("test_digits", "test", "identical"),
    ("flip_1_pixel", "train", "a few pixels changed"),
    ("flip_3_pixels", "train", "a few pixels changed"),
    ("shift_1_pixel", "train", "shifted by 1-2 pixels"),
    ("noise_0.08", "train", "noise or small changes"),
    ("brightness", "train", "brightness/contrast changed"),
])
def test_copied_and_perturbed_digits_fail_as_near_copies(reports, kind, split, how):
    r = reports[kind]
    assert r.accuracy > 0.95 and not r.passed and not r.copies_ok, r.summary()
    assert r.near_copy_fraction > 2 * gate.MAX_COPY_FRACTION
    assert _has(r, f"of the MNIST {split} set") and _has(r, how), r.messages
    assert r.near_copies[split] == round(r.near_copy_fraction * r.n)
    pair = r.closest_pairs[0]
    assert pair["split"] == split and pair["near_copy"] and pair["distance"] < gate.NEAR_COPY_THRESHOLD
    if kind in ("train_copies", "test_digits"):
        assert r.copy_fraction == 1.0 and _has(r, "are copies of MNIST digits")
        x, _ = load_mnist(split)
        assert torch.equal(x[pair["index"]], r.samples[pair["sample"]])  # the pair names the very digit
    else:
        assert r.copy_fraction < 0.05 and _has(r, "near-copies")


@needs_judge
@pytest.mark.parametrize("kind", ["one_per_class", "one_per_class_shifted", "novel_prototype_shifted"])
def test_one_digit_per_class_fails_as_collapsed(reports, kind):
    r = reports[kind]
    assert r.accuracy > 0.9 and not r.passed and not r.diversity_ok, r.summary()
    assert max(r.class_diversity_ratio) < 0.1 and _has(r, "diversity collapsed")
    if kind == "novel_prototype_shifted":  # not a known digit: the diversity check alone refuses it
        assert r.copies_ok and r.near_copy_fraction == 0.0


@needs_judge
def test_honest_standin_passes(reports):
    r = reports["honest_standin"]
    assert r.passed, r.summary()
    assert r.near_copy_fraction == 0.0 and min(r.class_diversity_ratio) > 0.9
    assert r.closest_pairs[0]["distance"] > gate.NEAR_COPY_THRESHOLD and r.nn_distance["q5%"] > 2 * gate.NEAR_COPY_THRESHOLD
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert len(d["closest_pairs"]) == gate.N_CLOSEST and d["near_copy_fraction"] == 0.0
    assert d["thresholds"]["near_copy_threshold"] == gate.NEAR_COPY_THRESHOLD


@needs_judge
def test_closest_pairs_figure(reports):
    import matplotlib.pyplot as plt

    fig = reports["shift_1_pixel"].closest_pairs_figure(n=6)
    assert fig is not None
    plt.close(fig)


# --------------------------------------------------------------------------- the distance and its search

def test_distance_is_blind_to_shifts_and_brightness_not_to_new_digits():
    x, _ = load_mnist("test", limit=200)
    z = nearcopy.standardise(x)
    for dy, dx in [(0, 0), (1, 0), (-2, 2), (2, -1)]:
        zs = nearcopy.standardise(torch.roll(x, (dy, dx), dims=(2, 3)))
        d, _ = nearcopy.shift_distance(z, zs[:, None])
        assert float(d.max()) < 5e-3  # float32 rounding of a correlation of 1 (the threshold is 0.06)
    d, _ = nearcopy.shift_distance(z, nearcopy.standardise((0.5 * x - 0.2).clamp(-1, 1))[:, None])
    assert float(d.max()) < 5e-3
    d, _ = nearcopy.shift_distance(z[:100], z[100:][:, None])  # different real digits
    assert float(d.min()) > 0.1


def test_spectral_features_are_a_lower_bound_and_the_search_is_exact():
    x_ref, y_ref = load_mnist("train", limit=3000)
    index = nearcopy.ReferenceIndex.build([(x_ref, y_ref)])
    q = torch.cat([load_mnist("test", limit=40)[0], _flip(x_ref[:20], 4), torch.roll(x_ref[20:40], (2, 1), (2, 3))])
    z = nearcopy.standardise(q)
    d_all, _ = nearcopy.shift_distance(z, index.z.expand(len(z), -1, -1))  # (Q, 3000) brute force
    lb = torch.cdist(nearcopy.lower_bound_features(z), index.f, compute_mode="donot_use_mm_for_euclid_dist")
    assert bool((lb <= d_all + 1e-4).all())  # Parseval: never above the true distance
    radius = 0.3
    r = nearcopy.nearest_known(q, radius, index=index, k=4)
    best = d_all.min(1).values
    inside = best < radius
    assert torch.allclose(r["distance"][inside], best[inside], atol=1e-5)
    assert bool((r["distance"] >= best - 1e-5).all()) and bool(r["exact"][inside].all())


def test_real_digits_are_not_near_copies_of_each_other():
    c = gate.CALIBRATION
    assert c["test_to_train"]["below_threshold"] <= 1 and c["train_to_test"]["below_threshold"] <= 1
    assert gate.NEAR_COPY_THRESHOLD < c["test_to_train"]["q0.01%"]  # below it: one genuine MNIST duplicate
    assert 0.5 < min(gate.REAL_DIVERSITY) and max(gate.REAL_DIVERSITY) < 1.0


# --------------------------------------------------------------------------- inspect_export

class _Table(nn.Module):
    """Returns stored images: the hand-in that memorised 10,000 digits as a buffer."""

    def __init__(self, n: int = 10000):
        super().__init__()
        self.register_buffer("table", torch.zeros(n, 1, 28, 28))
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, x, t, c, c_mask):
        return x * 0 + self.table.mean() + self.p


class _Lookup(nn.Module):
    """Picks a stored image with argmax/index: ops no course layer exports to."""

    def __init__(self):
        super().__init__()
        self.register_buffer("bank", torch.zeros(10, 1, 28, 28))

    def forward(self, x, t, c, c_mask):
        return x - self.bank[c.argmax(1)]


@contextlib.contextmanager
def no_unpickling():
    """Any unpickling or torch loading inside the block fails the test."""
    def boom(*a, **k):
        raise AssertionError("inspect_export unpickled or loaded something")

    with pytest.MonkeyPatch.context() as mp:
        for mod, name in ((pickle, "loads"), (pickle, "load"), (pickle, "Unpickler"), (torch, "load"),
                          (torch.export, "load")):
            mp.setattr(mod, name, boom)
        yield


def inspect(path) -> dict:
    with no_unpickling():
        return inspect_export(path)


def _small_export(path: Path) -> Path:
    torch.manual_seed(0)
    return export_model(ConditionalUNet(chs=(8, 16), T=400), path, sched=SCHED, w=2.0, verify=False)


def test_inspect_passes_a_course_export(tmp_path):
    path = _small_export(tmp_path / "ok.pt2")
    info = inspect(path)
    assert info["ok"] and info["reason"] == "ok", info["reason"]
    n = sum(p.numel() for p in ConditionalUNet(chs=(8, 16), T=400).parameters())
    assert info["parameters"] == n and info["buffers"] == 0 and info["constants"] == 0
    assert "torch.ops.aten.conv2d.default" in info["ops"] and info["nodes"] > 50
    assert info["pickled"] == {"data/sample_inputs/model.pt": [
        "collections.OrderedDict", "torch.FloatStorage", "torch.LongStorage", "torch._utils._rebuild_tensor_v2"]}
    json.dumps(info, allow_nan=False)


def test_inspect_refuses_a_table_of_digits(tmp_path):
    path = export_model(_Table(), tmp_path / "table.pt2", sched=SCHED, w=1.0, verify=False)
    info = inspect(path)
    assert not info["ok"] and info["buffers"] == 10000 * 784 > MAX_TENSOR_ELEMENTS
    assert "stores 7,840,001 values" in info["reason"], info["reason"]


def test_inspect_refuses_disallowed_ops(tmp_path):
    path = export_model(_Lookup(), tmp_path / "lookup.pt2", sched=SCHED, w=1.0, verify=False)
    info = inspect(path)
    assert not info["ok"] and "ops outside the course's layers" in info["reason"]
    assert "torch.ops.aten.argmax.default" in info["reason"]


def test_inspect_refuses_junk_big_and_tampered_files(tmp_path):
    junk = tmp_path / "junk.pt2"
    junk.write_bytes(b"not a zip" * 100)
    assert "not a zip" in inspect(junk)["reason"]
    big = tmp_path / "big.pt2"
    with open(big, "wb") as f:  # sparse: takes no disk space
        f.truncate(MAX_ARCHIVE_BYTES + 1)
    info = inspect(big)
    assert not info["ok"] and "MiB" in info["reason"]
    assert "no exported model" in inspect(tmp_path / "missing.pt2")["reason"]

    good = _small_export(tmp_path / "good.pt2")

    def tampered(name: str, edit) -> dict:
        out = tmp_path / f"{name}.pt2"
        with zipfile.ZipFile(good) as zin, zipfile.ZipFile(out, "w") as zout:
            for zi in zin.infolist():
                data = zin.read(zi)
                for item in edit(zi, data):
                    zout.writestr(*item)
        return inspect(out)

    root = "good/"
    # a legacy pickled weights file, which torch.export.load would unpickle
    info = tampered("legacy", lambda zi, d: [(zi, d)] + ([(root + "data/weights/model.pt", b"x")]
                                                          if zi.filename.endswith("archive_format") else []))
    assert "unexpected entry" in info["reason"]
    # a weight marked use_pickle (torch.export.load: torch.load(weights_only=False))
    def mark(zi, d):
        if zi.filename.endswith("model_weights_config.json"):
            cfg = json.loads(d)
            next(iter(cfg["config"].values()))["use_pickle"] = True
            d = json.dumps(cfg).encode()
        return [(zi, d)]
    assert "use_pickle" in tampered("use_pickle", mark)["reason"]
    # example inputs whose pickle imports os.system
    def payload(zi, d):
        if zi.filename.endswith("sample_inputs/model.pt"):
            import io
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                z.writestr("archive/data.pkl", b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")
            d = buf.getvalue()
        return [(zi, d)]
    info = tampered("payload", payload)
    assert not info["ok"] and "os.system" in info["reason"], info["reason"]
    # a symbolic link and a path escaping the folder
    def link(zi, d):
        out = [(zi, d)]
        if zi.filename.endswith("archive_format"):
            sl = zipfile.ZipInfo(root + "extra/link")
            sl.external_attr = (0o120777 << 16)
            out.append((sl, b"/etc/passwd"))
        return out
    assert "symbolic link" in tampered("link", link)["reason"]
    assert "not a plain relative path" in tampered(
        "escape", lambda zi, d: [(zi, d)] + ([("good/../evil", b"x")] if zi.filename.endswith("byteorder") else [])
    )["reason"]


def test_run_gate_inspects_before_loading(tmp_path, monkeypatch):
    path = export_model(_Table(), tmp_path / "table.pt2", sched=SCHED, w=1.0, verify=False)
    import helpers.export as ex

    monkeypatch.setattr(ex, "load_exported", lambda *a, **k: pytest.fail("run_gate loaded a refused hand-in"))
    r = gate.run_gate(path, progress=False)
    assert not r.passed and r.error.startswith("the hand-in was refused") and "7,840,001" in r.error
    assert r.inspection["ok"] is False
    json.loads(r.to_json())


# --------------------------------------------------------------------------- honest trained models

def _train_honest(seed: int, steps: int):
    """06's recipe (bench.assessment's settings), ``steps`` Adam steps; returns the EMA model."""
    from bench import assessment as A
    from helpers import seed_everything
    from helpers.data import make_loader
    from helpers.ddpm import context_mask, noise_loss
    from helpers.train import train

    x, y = load_mnist("train")
    loader = make_loader(x, y, batch_size=A.BATCH, shuffle=True, seed=seed, drop_last=True)
    seed_everything(seed)
    model = ConditionalUNet(chs=A.CHS, T=A.T)

    def loss_fn(m, batch):
        x0, labels = batch
        B = x0.shape[0]
        t = torch.randint(0, A.T, (B,))
        c = F.one_hot(labels, 10).float()
        return noise_loss(lambda xt, tt: m(xt, tt, c, context_mask(B, A.P_DROP)), x0, SCHED, t=t,
                          noise=torch.randn_like(x0))

    h = train(model, loss_fn, loader, steps=steps, lr=A.LR, ema_decay=A.EMA_DECAY, progress=False)
    return h.ema.model.eval()


# 06's CPU recipe first passes the 95% gate after about 2000 steps (bench/reference/assessment.json):
# three seeds of that would be too slow for an opt-in test, so the test trains 1250 steps a seed and
# draws 30 digits a class (2026-12-07, the slower idle host: 122-138 s a seed with the gate; seeds
# 0, 1, 2 at 69.0%, 68.3%, 93.0% on those 300 digits, none refused: bench/reference/ci_rehearsal.json,
# optional_tests). Models at and past the pass mark: `python -m bench.gate_integrity` and
# tests/test_nb06.py (the instructor's model in the full profile).
HONEST_STEPS = int(os.environ.get("GATE_HONEST_STEPS", 1250))
HONEST_PER_CLASS = int(os.environ.get("GATE_HONEST_PER_CLASS", 30))
# about 2 minutes a seed on 2 cores: not in `make test`, which trains the full recipe once through the
# whole gate (tests/test_nb06.py) and keeps under 30 minutes; GATE_HONEST_SEEDS=0,1,2 make test runs them,
# and the calibration over 15 seeds is bench/reference/gate_integrity.json (`python -m bench.gate_integrity`)
HONEST_SEEDS = [int(s) for s in os.environ.get("GATE_HONEST_SEEDS", "").split(",") if s.strip()]


@needs_judge
@pytest.mark.slow
@pytest.mark.parametrize("seed", HONEST_SEEDS)
def test_honest_trained_models_are_not_refused(tmp_path, seed):
    """A short run of 06's recipe from three seeds: the integrity checks refuse none of them
    (accuracy is not asserted: the full recipe and bench.gate_integrity cover the pass mark)."""
    t0 = time.perf_counter()
    model = _train_honest(seed, HONEST_STEPS)
    path = export_model(model, tmp_path / "honest.pt2", sched=SCHED, w=4.0)
    assert inspect(path)["ok"]
    x, labels = gate.generate(load_exported(path), HONEST_PER_CLASS, progress=False)
    r = gate.evaluate_samples(x, labels, w=4.0)
    print(f"seed {seed}: {HONEST_STEPS} steps + gate in {time.perf_counter() - t0:.0f} s; {r.summary()}")
    assert r.copies_ok and r.diversity_ok, r.summary()
    assert r.near_copy_fraction <= 0.01
