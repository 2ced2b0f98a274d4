"""Notebook 01 (U-Nets), what is specific to it: points, questions, solution = helpers twin, checks
accept the reference and reject the common mistakes of the walkthrough, and what its graded
solution run printed. The contract every notebook meets (structure, grading of the solution, the
untouched copy and the manifest's mistakes) is tests/test_assignments.py."""
from __future__ import annotations

import json
import re
from typing import Callable

import pytest
import nbformat
import torch

from helpers.blocks import BasicDownBlock, BasicUpBlock, conv_out_size, conv_transpose_out_size
from helpers.checks import nb01
from helpers.unet import UNet as RefUNet

import contract
from nbtools import REPO, cells_by_grade_id, solution_namespace, source_notebook
from symptoms import Symptom, assert_quotes_hold, assert_stale_copy_caught, assert_tables_tied, printed, raised

NB = source_notebook("01_unets")
ANSWERS = REPO / "answers" / "01_UNets_Answers.md"
WALKTHROUGH = REPO / "walkthroughs" / "01_UNets_Walkthrough.md"
SOLUTIONS = ["todo1_conv_sizes", "todo2_down_block", "todo3_up_block", "todo4_unet"]
PREAMBLE = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
POINTS = {"test_todo1_conv_sizes": 2, "test_todo2_down_block": 2, "test_todo3_up_block": 2,
          "test_todo4_unet": 3, "test_todo4_unet_training": 2}


def ok(results) -> bool:
    return all(r.ok for r in results)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ns():
    return solution_namespace(NB, SOLUTIONS, PREAMBLE)


def variant(ns_cells: dict, gid: str, old: str, new: str) -> dict:
    """The solution namespace with one solution cell edited (old -> new, which must occur)."""
    cells = dict(ns_cells)
    assert old in cells[gid], (gid, old)
    cells[gid] = cells[gid].replace(old, new)
    out: dict = {"__name__": "__main__"}
    exec(compile(PREAMBLE, "<preamble>", "exec"), out)
    for g in SOLUTIONS:
        exec(compile(cells[g], f"<{g}>", "exec"), out)
    return out


CELLS = cells_by_grade_id(NB)

# Common mistakes named in the walkthrough: (solution cell, old text, new text, checks that must fail)
MISTAKES = {
    "conv: forgot the +1": ("todo1_conv_sizes", "// stride + 1", "// stride", "conv"),
    "conv: / instead of //": ("todo1_conv_sizes", "// stride + 1", "/ stride + 1", "conv"),
    "conv: padding counted once": ("todo1_conv_sizes", "size + 2 * padding - kernel", "size + padding - kernel", "conv"),
    "convT: size * stride": ("todo1_conv_sizes", "(size - 1) * stride - 2 * padding + kernel + output_padding",
                             "size * stride", "conv"),
    "down: padding 0": ("todo2_down_block", "nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)",
                        "nn.Conv2d(in_ch, out_ch, kernel_size=3)", "down"),
    "down: no pooling": ("todo2_down_block", "            nn.MaxPool2d(2),\n", "", "down"),
    "down: ReLU before BatchNorm": ("todo2_down_block",
                                    "nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(),",
                                    "nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1), nn.ReLU(), nn.BatchNorm2d(out_ch),",
                                    "down"),
    "up: transposed conv sized for x alone": ("todo3_up_block", "nn.ConvTranspose2d(in_ch, out_ch",
                                              "nn.ConvTranspose2d(in_ch // 2, out_ch", "up"),
    "up: skip first": ("todo3_up_block", "torch.cat((x, skip), dim=1)", "torch.cat((skip, x), dim=1)", "up"),
    "up: stacked on dim 0": ("todo3_up_block", "torch.cat((x, skip), dim=1)", "torch.cat((x, skip), dim=0)", "up"),
    "unet: no last skip": ("todo4_unet", "self.out(torch.cat((u2, d0), dim=1))", "self.out(u2)", "unet"),
    "unet: skip from the wrong level": ("todo4_unet", "self.up2(u1, d1)", "self.up2(u1, d0)", "unet"),
    "unet: skip order swapped": ("todo4_unet", "torch.cat((u2, d0), dim=1)", "torch.cat((d0, u2), dim=1)", "unet"),
}


# --------------------------------------------------------------------------- structure

def test_points():
    nb = json.loads(NB.read_text())
    graded = {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]["points"]
              for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")}
    assert graded == POINTS
    assert [g for _, g in contract.todos(nbformat.read(NB, as_version=4))] == SOLUTIONS


def questions_in_notebook() -> list[str]:
    last = "".join(json.loads(NB.read_text())["cells"][-1]["source"])
    assert "## Discussion questions" in last
    return re.findall(r"^\d+\. \*\((?:Beginner|Intermediate|Advanced|Implementation|Reflection)\)\* (.+)$", last,
                      flags=re.M)


def test_questions_match_answers_and_walkthrough_exists():
    qs = questions_in_notebook()
    assert len(qs) >= 12
    answers = ANSWERS.read_text()
    for q in qs:
        assert q in answers, f"question missing from {ANSWERS.name}: {q[:60]}"
    levels = set(re.findall(r"\*\((Beginner|Intermediate|Advanced|Implementation|Reflection)\)\*",
                            "".join(json.loads(NB.read_text())["cells"][-1]["source"])))
    assert levels == {"Beginner", "Intermediate", "Advanced", "Implementation", "Reflection"}
    walk = WALKTHROUGH.read_text()
    for n in range(1, 5):
        assert f"TODO {n}" in walk


# --------------------------------------------------------------------------- solution = helpers twin

def test_conv_sizes_match_helpers(ns):
    for n in range(1, 33):
        for k in range(1, 6):
            for s in range(1, 4):
                for p in range(0, 3):
                    if n + 2 * p >= k:
                        assert ns["conv_out_size"](n, k, s, p) == conv_out_size(n, k, s, p)
                    for op in range(s):
                        if conv_transpose_out_size(n, k, s, p, op) >= 1:
                            assert ns["conv_transpose_out_size"](n, k, s, p, op) == \
                                conv_transpose_out_size(n, k, s, p, output_padding=op)


@pytest.mark.parametrize("student,ref,args,inputs", [
    ("DownBlock", BasicDownBlock, (3, 8), [(2, 3, 16, 16)]),
    ("UpBlock", BasicUpBlock, (16, 8), [(2, 8, 7, 7), (2, 8, 7, 7)]),
])
def test_blocks_match_helpers_same_seed(ns, student, ref, args, inputs):
    torch.manual_seed(0)
    r = ref(*args)
    torch.manual_seed(0)
    s = ns[student](*args)
    rs, ss = r.state_dict(), s.state_dict()
    assert list(rs) == list(ss)  # same layers, same names
    for k in rs:
        assert torch.equal(rs[k], ss[k]), k  # same seed -> same initial parameters
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(shp, generator=g) for shp in inputs]
    assert torch.allclose(s(*xs), r(*xs), atol=1e-6)


def test_unet_with_own_blocks_matches_helpers(ns):
    torch.manual_seed(0)
    ref = RefUNet(1, (8, 16))
    torch.manual_seed(0)
    stu = ns["UNet"](1, (8, 16))  # the notebook's own DownBlock / UpBlock
    assert list(ref.state_dict()) == list(stu.state_dict())
    for k, v in ref.state_dict().items():
        assert torch.equal(v, stu.state_dict()[k]), k
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(stu(x), ref(x), atol=1e-6)
    ref.eval(), stu.eval()
    assert torch.allclose(stu(x), ref(x), atol=1e-6)


# --------------------------------------------------------------------------- checks accept / reject

def test_checks_accept_solution(ns):
    assert ok(nb01.check_conv_sizes(ns["conv_out_size"], ns["conv_transpose_out_size"]))
    assert ok(nb01.check_conv_sizes(ns["conv_out_size"], ns["conv_transpose_out_size"], seed=12, n=25,
                                    hand_cases=False))
    assert ok(nb01.check_down_block(ns["DownBlock"]))
    assert ok(nb01.check_down_block(ns["DownBlock"], seed=6, in_ch=16, out_ch=32, size=14, batch=3))
    assert ok(nb01.check_up_block(ns["UpBlock"]))
    assert ok(nb01.check_up_block(ns["UpBlock"], seed=5, in_ch=64, out_ch=16, size=7, batch=2))
    assert ok(nb01.check_unet(ns["UNet"]))
    assert ok(nb01.check_unet(ns["UNet"], seed=4, in_ch=3, chs=(8, 8), size=32, batch=2))
    assert ok(nb01.check_unet_training(ns["UNet"], seed=0))


def test_checks_reject_reexported_reference():
    assert not ok(nb01.check_conv_sizes(conv_out_size, conv_transpose_out_size))
    assert not ok(nb01.check_down_block(BasicDownBlock))


def _run_check(kind: str, v: dict):
    if kind == "conv":
        return nb01.check_conv_sizes(v["conv_out_size"], v["conv_transpose_out_size"])
    if kind == "down":
        return nb01.check_down_block(v["DownBlock"])
    if kind == "up":
        return nb01.check_up_block(v["UpBlock"])
    return nb01.check_unet(v["UNet"])


@pytest.mark.parametrize("name", list(MISTAKES))
def test_checks_reject_common_mistakes(name):
    gid, old, new, kind = MISTAKES[name]
    v = variant(CELLS, gid, old, new)
    results = _run_check(kind, v)
    failed = [r for r in results if not r.ok]
    assert failed, f"{name} was not caught"
    assert any(r.hint for r in failed), f"{name}: the failure should come with a hint"


def test_training_check_rejects_a_model_that_does_not_learn(ns):
    Good = ns["UNet"]

    class Frozen(Good):  # forgets to keep the graph: the output does not depend on the weights
        def forward(self, x):
            with torch.no_grad():
                y = super().forward(x)
            return y + 0 * x.requires_grad_()

    Frozen.__module__ = "__main__"
    assert not ok(nb01.check_unet_training(Frozen, seed=0))

    class NoSkips(Good):  # skips replaced by zeros: the decoder must invent the detail
        def forward(self, x):
            d0 = self.down0(x)
            d1 = self.down1(d0)
            d2 = self.down2(d1)
            m = self.middle(d2)
            u1 = self.up1(m, torch.zeros_like(d2))
            u2 = self.up2(u1, torch.zeros_like(d1))
            return self.out(torch.cat((u2, torch.zeros_like(d0)), dim=1))

    NoSkips.__module__ = "__main__"
    assert not ok(nb01.check_unet(NoSkips))


def test_self_check_reports_stub(capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError()

    from helpers.checks import self_check
    assert self_check(nb01.check_conv_sizes, stub, stub) is False
    assert "not done yet" in capsys.readouterr().out


# --------------------------------------------------------------------------- the graded solution run

@pytest.mark.slow
def test_solution_run_prints_its_demonstrations(graded_demo):
    """The demo class's complete student, as the grader ran it (tests/test_assignments.py checks
    self-checks, errors and stderr of every notebook): 01's own demonstrations printed."""
    text = contract.output_text(contract.solution_notebook(graded_demo, "01_unets"))
    assert text.count("checks passed \U0001F389") == 5
    assert "exact E[x0 | y]" in text and "between the 8 guesses from pure noise" in text


# --------------------------------------------------------------------------- the walkthrough's symptoms

def _out(kind: str, gid: str, old: str, new: str) -> Callable[[], str]:
    """What the self-check of `kind` prints for the solution with one edit (old -> new)."""
    def run() -> str:
        v = variant(CELLS, gid, old, new)
        fn = {"conv": lambda: printed(nb01.check_conv_sizes, v["conv_out_size"], v["conv_transpose_out_size"]),
              "down": lambda: printed(nb01.check_down_block, v["DownBlock"]),
              "up": lambda: printed(nb01.check_up_block, v["UpBlock"]),
              "unet": lambda: printed(nb01.check_unet, v["UNet"])}[kind]
        return fn()
    return run


def _mistake(name: str) -> Callable[[], str]:
    gid, old, new, kind = MISTAKES[name]
    return _out(kind, gid, old, new)


def _unet_with_unpadded_down_block() -> str:
    """The notebook's U-Net built from a DownBlock without padding: the first skip concatenation fails."""
    v = variant(CELLS, *MISTAKES["down: padding 0"][:3])
    net = v["UNet"](1, (16, 32))
    return raised(lambda: net(torch.zeros(2, 1, 28, 28)))


def _frozen_training() -> str:
    """The forward run under torch.no_grad() (graded seed 0 of the training check)."""
    ns = solution_namespace(NB, SOLUTIONS, PREAMBLE)

    class Frozen(ns["UNet"]):
        def forward(self, x):
            with torch.no_grad():
                y = super().forward(x)
            return y + 0 * x.requires_grad_()

    Frozen.__module__ = "__main__"
    return printed(nb01.check_unet_training, Frozen, seed=0)


def _reexported() -> str:
    return printed(nb01.check_conv_sizes, conv_out_size, conv_transpose_out_size)


SYMPTOMS = [
    Symptom("conv: forgot the +1", "conv_out_size(28, 3, 1, 1) … got 27, expected 28", _mistake("conv: forgot the +1")),
    Symptom("conv: / instead of //", "got 5.333, expected 5 (for … (14, 5, 3, 2))", _mistake("conv: / instead of //")),
    Symptom("conv: padding counted once", "got 27, expected 28", _mistake("conv: padding counted once")),
    Symptom("convT: size * stride", "got 30, expected 33 (for … (15, 4, 2, 0, 1))", _mistake("convT: size * stride")),
    Symptom("conv: the reference imported", "✗ conv_out_size is defined in this notebook: got helpers.blocks", _reexported),
    Symptom("down: padding 0", "output shape: got (4, 8, 13, 13), expected (4, 8, 14, 14)", _mistake("down: padding 0")),
    Symptom("down: padding 0, in the U-Net", "Sizes of tensors must match except in dimension 1",
            _unet_with_unpadded_down_block),
    Symptom("down: no pooling", "got (4, 8, 28, 28), expected (4, 8, 14, 14)", _mistake("down: no pooling")),
    Symptom("down: ReLU before BatchNorm", "got 0.2664, expected 1.218", _mistake("down: ReLU before BatchNorm")),
    Symptom("down: BatchNorm2d(in_ch)", "✗ DownBlock(3, 8) runs on inputs of shape (4, 3, 28, 28): got RuntimeError: "
            "running_mean should contain 8 elements not 3",
            _out("down", "todo2_down_block", "padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(),\n",
                 "padding=1), nn.BatchNorm2d(in_ch), nn.ReLU(),\n")),
    Symptom("up: transposed conv sized for x alone", "✗ UpBlock(16, 8) runs …: got RuntimeError: Given transposed=1, "
            "weight of size [8, 8, 2, 2], expected input[4, 16, 7, 7] to have 8 channels, but got 16 channels instead",
            _mistake("up: transposed conv sized for x alone")),
    Symptom("up: forgot the concatenation", "Given transposed=1, weight of size [16, 8, 2, 2], expected input[4, 8, 7, 7] "
            "to have 16 channels, but got 8 channels instead",
            _out("up", "todo3_up_block", "return self.model(h)", "return self.model(x)")),
    Symptom("up: stacked on dim 0", "expected input[8, 8, 7, 7] to have 16 channels, but got 8",
            _mistake("up: stacked on dim 0")),
    Symptom("up: skip first", "output … got 4.215, expected 0", _mistake("up: skip first")),
    Symptom("unet: no last skip", "RuntimeError: Given groups=1, weight of size [1, 16, 3, 3], expected input[3, 8, 28, 28] "
            "to have 16 channels, but got 8 channels instead", _mistake("unet: no last skip")),
    Symptom("unet: skip from the wrong level", "Sizes of tensors must match except in dimension 1. Expected size 14 but got "
            "size 28 for tensor number 1 in the list.", _mistake("unet: skip from the wrong level")),
    Symptom("unet: skip order swapped", "output … got -0.3495, expected 1.558", _mistake("unet: skip order swapped")),
    Symptom("unet: forward under no_grad", "✗ loss decreases during 20 steps: got 1.9224 -> 1.9224", _frozen_training),
]


def test_walkthrough_symptoms_are_what_the_checks_print():
    """Each symptom walkthrough 01 quotes for a common mistake is what that mistake prints now."""
    assert_quotes_hold(WALKTHROUGH.read_text(), SYMPTOMS)


def test_every_verdict_in_the_mistake_tables_is_tied():
    assert_tables_tied(WALKTHROUGH.read_text(), SYMPTOMS)


def test_a_stale_symptom_is_caught():
    """The same check on an edited copy of the walkthrough: a changed number in a quote fails."""
    assert_stale_copy_caught(WALKTHROUGH.read_text(), SYMPTOMS, 'got 0.2664, expected 1.218', 'got 0.2665, expected 1.218')
