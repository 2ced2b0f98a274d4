"""The assessment gate (helpers.gate) and the hand-in format (helpers.export).

Stand-in models make the sampling cases fast: each is a real noise network, exported with
``helpers.export`` and sampled by the gate's own DDIM sampler, whose x0 prediction is a stored
image, so the sampler's output is exactly that image. ``run_gate`` refuses every one of them before
loading (they pick stored images with argmax/index, ops no course layer exports to:
``helpers.export.inspect_export``); their samples, drawn with ``gate.generate``, are judged by
``gate.evaluate_samples``:

* returns MNIST *training* digits of the asked class  -> fails (copies of the training set);
* returns MNIST *test* digits of the asked class       -> fails (copies of the test set);
* returns test digits of a class chosen from the noise -> fails (ignores the label);
* returns one image per class                          -> fails (collapsed diversity);
* an untrained ConditionalUNet                         -> passes inspection, fails (noise).

Perturbed copies (flipped pixels, shifts, noise, brightness) and honest models:
tests/test_gate_integrity.py; the instructor model is gated in tests/test_nb06.py.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers import gate
from helpers.data import load_mnist
from helpers.export import EXPORT_FILENAME, export_model, load_exported
from helpers.guidance import class_diversity
from helpers.schedules import Schedule
from helpers.unet import ConditionalUNet

REPO = Path(__file__).resolve().parent.parent
SCHED = Schedule.linear(400, 2.5e-4, 0.05)
N_PER_CLASS = 100

judge_missing = not (REPO / "helpers" / "weights" / "mnist_judge.pt").is_file()
needs_judge = pytest.mark.skipif(judge_missing, reason="helpers/weights/mnist_judge.pt not built yet")


class ImageReturner(nn.Module):
    """eps(x_t, t, c, mask) whose implied x0 is a stored image, so DDIM ends exactly on it.

    ``bank`` is (K, n, 1, 28, 28) with K * n < 784. The class is argmax of c (or, with
    ``ignore_label``, picked from the noise); the image within the class is picked from the part of
    x_t orthogonal to the span of that class's images. Along a DDIM trajectory that part is the
    starting noise times sqrt(1 - abar_t), so the pick never changes and different noise picks
    different images."""

    def __init__(self, bank: torch.Tensor, sched: Schedule, ignore_label: bool = False):
        super().__init__()
        K, n = bank.shape[:2]
        flat = bank.reshape(K, n, -1).double()  # (K, n, 784)
        self.register_buffer("bank", bank.float())
        self.register_buffer("U", torch.linalg.qr(flat.transpose(1, 2))[0].float())  # (K, 784, n) orthonormal
        self.register_buffer("U_all", torch.linalg.qr(flat.reshape(K * n, -1).T)[0].float())  # (784, K n)
        self.register_buffer("sa", sched.sqrt_alphas_cumprod.clone())
        self.register_buffer("s1", sched.sqrt_one_minus_alphas_cumprod.clone())
        g = torch.Generator().manual_seed(0)
        self.register_buffer("proj", torch.randn(784, n, generator=g))
        self.register_buffer("proj_k", torch.randn(784, K, generator=g))
        self.ignore_label = ignore_label

    def forward(self, x, t, c, c_mask):
        flat = x.reshape(x.shape[0], -1)  # (B, 784)
        if self.ignore_label:
            r = flat - (flat @ self.U_all) @ self.U_all.T  # (B, 784): the noise part
            k = (r @ self.proj_k).argmax(1)  # (B,) a class chosen by the noise
        else:
            k = c.argmax(1)  # (B,)
        U = self.U[k]  # (B, 784, n)
        r = flat - torch.bmm(U, torch.bmm(U.transpose(1, 2), flat.unsqueeze(2))).squeeze(2)  # (B, 784)
        x0 = self.bank[k, (r @ self.proj).argmax(1)]  # (B, 1, 28, 28)
        a = self.sa[t].reshape(-1, 1, 1, 1)
        s = self.s1[t].reshape(-1, 1, 1, 1)
        return (x - a * x0) / s


def _bank(split: str, n: int, offset: int = 0) -> torch.Tensor:
    x, y = load_mnist(split)
    return torch.stack([x[y == k][offset:offset + n] for k in range(10)])  # (10, n, 1, 28, 28)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("gate")
    out = {}
    out["train_copier"] = export_model(ImageReturner(_bank("train", 40), SCHED), d / "train_copier.pt2",
                                       sched=SCHED, w=2.0)
    out["test_digits"] = export_model(ImageReturner(_bank("test", 40), SCHED), d / "test_digits.pt2",
                                      sched=SCHED, w=2.0)
    out["ignores_label"] = export_model(ImageReturner(_bank("test", 40), SCHED, ignore_label=True),
                                        d / "ignores_label.pt2", sched=SCHED, w=2.0)
    out["collapsed"] = export_model(ImageReturner(_bank("test", 1), SCHED), d / "collapsed.pt2", sched=SCHED, w=2.0)
    unit_bank = (_bank("test", 40) + 1) / 2  # the same digits on the [0, 1] scale
    out["unit_range"] = export_model(ImageReturner(unit_bank, SCHED), d / "unit_range.pt2", sched=SCHED, w=2.0)
    torch.manual_seed(0)
    out["untrained"] = export_model(ConditionalUNet(chs=(8, 16), T=400), d / "untrained.pt2", sched=SCHED, w=2.0)
    return out


# --------------------------------------------------------------------------- statistics

def test_wilson_interval_matches_textbook_values():
    lo, hi = gate.wilson_interval(950, 1000)
    assert (round(lo, 4), round(hi, 4)) == (0.9347, 0.9619)  # p = 0.95, z = 1.96, by hand
    lo, hi = gate.wilson_interval(48, 50)  # 96% on 50 digits: the interval reaches well below 95%
    assert lo < 0.87 and hi > 0.98
    assert gate.wilson_interval(0, 10)[0] == 0.0 and gate.wilson_interval(10, 10)[1] == 1.0
    assert gate.wilson_interval(0, 0) == (0.0, 1.0)


def test_calibration_constants_are_consistent():
    c = gate.CALIBRATION["test_to_train"]
    assert c["below_threshold"] <= 1 and gate.NEAR_COPY_THRESHOLD < c["q0.01%"] < c["q1%"] < c["median"]
    assert len(gate.REAL_DIVERSITY) == 10 and min(gate.REAL_DIVERSITY) > 0.3


def test_distances_on_real_digits():
    x_tr, _ = load_mnist("train", limit=20)
    assert float(gate.nn_distance_to_train(x_tr).max()) < 1e-3  # training digits are their own neighbours
    x_te, y_te = load_mnist("test", limit=50)
    assert float(gate.nn_distance_to_train(x_te).min()) > gate.COPY_THRESHOLD  # RMS, same pixels
    ones = x_te[y_te == 1]
    assert class_diversity(ones[:1].repeat(5, 1, 1, 1)[None]) == 0.0  # one class of 5 copies
    assert class_diversity(ones[None]) > 0.2


# --------------------------------------------------------------------------- export

def test_export_roundtrip_and_config(tmp_path):
    torch.manual_seed(0)
    m = ConditionalUNet(chs=(8, 16), T=400)
    path = export_model(m, tmp_path / EXPORT_FILENAME, sched=SCHED, w=3.5, extra={"note": "x"})
    loaded = load_exported(path)
    assert loaded.w == 3.5 and loaded.n_classes == 10 and loaded.image_shape == (1, 28, 28)
    assert loaded.config["note"] == "x" and loaded.config["pixel_range"] == [-1.0, 1.0]
    assert torch.allclose(loaded.sched.alphas_cumprod, SCHED.alphas_cumprod, atol=1e-6)
    x = torch.randn(5, 1, 28, 28)
    t = torch.tensor([0, 10, 100, 200, 399])
    c = torch.eye(10)[[1, 2, 3, 4, 5]]
    mask = torch.tensor([[1.0], [0.0], [1.0], [1.0], [0.0]])
    with torch.inference_mode():
        assert torch.allclose(loaded.net(x, t, c, mask), m.eval()(x, t, c, mask), atol=1e-5)


def test_export_loads_in_a_fresh_process(tmp_path):
    torch.manual_seed(1)
    path = export_model(ConditionalUNet(chs=(8, 16), T=400), tmp_path / "m.pt2", sched=SCHED, w=1.0)
    code = ("import torch; from helpers.export import load_exported; m = load_exported(%r); "
            "x = torch.zeros(3, 1, 28, 28); t = torch.zeros(3, dtype=torch.long); "
            "print(tuple(m.net(x, t, torch.eye(10)[:3], torch.ones(3, 1)).shape), m.w)" % str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "(3, 1, 28, 28) 1.0" in out.stdout


def _devices_to_try():
    yield "meta"   # shapes only, no data: proves the program's device checks move, on any machine
    if torch.cuda.is_available():
        yield "cuda"


@pytest.mark.parametrize("device", list(_devices_to_try()))
def test_exported_model_moves_to_another_device(tmp_path, device):
    """An export made on the CPU must sample on a GPU (06 on Colab; the gate with device="cuda").

    Seen on an H200: ``program.module().to("cuda")`` moves the weights, but the program still
    checks that its inputs are on the CPU ("Tensor device mismatch! Expected: cpu"), so the
    notebook's gate drew 0 digits. ``ExportedModel.to`` moves the whole program instead.
    """
    torch.manual_seed(2)
    m = ConditionalUNet(chs=(8, 16), T=400).eval()
    loaded = load_exported(export_model(m, tmp_path / "m.pt2", sched=SCHED, w=2.0))
    args = (torch.randn(3, 1, 28, 28), torch.tensor([0, 7, 399]), torch.eye(10)[[1, 2, 3]], torch.ones(3, 1))
    on = [a.to(device) for a in args]
    with pytest.raises(Exception):          # the naive move is what broke: keep proving the test can fail
        loaded.program.module().to(device)(*on)
    loaded.to(device)
    with torch.inference_mode():
        out = loaded.net(*on)
        assert out.shape == (3, 1, 28, 28) and out.device.type == device
        if device != "meta":
            assert torch.allclose(out.cpu(), m(*args), atol=1e-4)
        labels = torch.tensor([4, 5, 6], device=device)
        guided = loaded.eps_fn(labels)(on[0], on[1])   # what the gate's sampler calls
        assert guided.shape == (3, 1, 28, 28) and guided.device.type == device
    loaded.to("cpu")                       # and back: the loaded program itself was not moved
    with torch.inference_mode():
        assert torch.allclose(loaded.net(*args), m(*args), atol=1e-5)


def test_bad_files_give_a_failed_report(tmp_path):
    r = gate.run_gate(tmp_path / "missing.pt2", progress=False)
    assert not r.passed and "could not load" in r.error
    junk = tmp_path / "junk.pt2"
    junk.write_bytes(b"not a model")
    r = gate.run_gate(junk, progress=False)
    assert not r.passed and r.error
    json.loads(r.to_json())  # still valid JSON


# --------------------------------------------------------------------------- the gate's verdicts

def _samples(path, n_per_class: int = N_PER_CLASS):
    """What the gate's sampler draws from a hand-in (bypassing run_gate's inspection)."""
    ex = load_exported(path)
    x, labels = gate.generate(ex, n_per_class, progress=False)
    return gate.evaluate_samples(x, labels, pixel_range=ex.config.get("pixel_range"), w=ex.w)


def test_run_gate_refuses_lookup_models_before_loading(models):
    for name in ("train_copier", "test_digits", "collapsed"):
        r = gate.run_gate(models[name], progress=False)
        assert not r.passed and r.n == 0 and r.error.startswith("the hand-in was refused"), r.error
        assert "ops outside the course's layers" in r.error and "argmax" in r.error
        json.loads(r.to_json())


@needs_judge
def test_gate_fails_a_model_that_returns_training_images(models):
    r = _samples(models["train_copier"])
    assert r.accuracy > 0.95  # real digits: the judge reads them...
    assert r.copy_fraction == 1.0 and not r.copies_ok and not r.passed  # ...but they are copies
    assert any("copies of MNIST digits (1000 of the MNIST train set" in m for m in r.messages)


@needs_judge
def test_gate_fails_a_model_that_returns_test_digits(models):
    r = _samples(models["test_digits"])
    assert r.accuracy >= 0.97 and r.diversity_ok  # real, unseen by training, diverse: and still copies
    assert r.copy_fraction == 1.0 and not r.copies_ok and not r.passed
    assert any("of the MNIST test set" in m for m in r.messages)
    assert r.ci_low < r.accuracy <= r.ci_high
    assert sum(map(sum, r.confusion)) == 1000 and len(r.per_class) == 10


@needs_judge
def test_gate_fails_a_model_that_ignores_the_label(models):
    r = _samples(models["ignores_label"])
    assert not r.passed and r.accuracy < 0.3
    assert any("below the pass mark" in m for m in r.messages)


@needs_judge
def test_gate_fails_collapsed_diversity(models):
    r = _samples(models["collapsed"])
    assert r.accuracy > 0.9 and not r.diversity_ok and not r.passed
    assert any("diversity collapsed" in m for m in r.messages)


@needs_judge
def test_gate_fails_an_untrained_model_and_is_deterministic(models):
    r1 = gate.run_gate(models["untrained"], n_per_class=20, progress=False)   # chance level shows at 200 digits
    assert r1.inspection["ok"] and r1.error is None
    assert not r1.passed and r1.accuracy < 0.5
    r2 = gate.run_gate(models["untrained"], n_per_class=5, progress=False)
    r3 = gate.run_gate(models["untrained"], n_per_class=5, progress=False)
    assert torch.equal(r2.samples, r3.samples) and r2.accuracy == r3.accuracy


@needs_judge
def test_pixel_range_does_not_matter(models):
    r = _samples(models["unit_range"], n_per_class=20)
    assert r.range_mapped and any("[0, 1]" in m for m in r.messages)
    assert r.accuracy > 0.95 and r.copy_fraction == 1.0  # mapped back exactly: the very test digits


@needs_judge
def test_cli_prints_and_writes_json(models, tmp_path):
    out = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-m", "helpers.gate", str(models["untrained"]), "--json", str(out),
                        "--n-per-class", "10", "--figures", str(tmp_path / "fig")],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert p.returncode == 1, p.stdout + p.stderr  # a failed gate exits 1
    assert "Gate FAILED" in p.stdout
    data = json.loads(out.read_text())
    assert data["passed"] is False and data["inspection"]["ok"] is True and data["n"] == 100
    assert len(data["closest_pairs"]) == gate.N_CLOSEST
    for name in ("confusion.png", "misclassified.png", "closest.png"):
        assert (tmp_path / "fig" / name).is_file()
    assert math.isclose(data["accuracy"], sum(data["confusion"][k][k] for k in range(10)) / 100)
