"""Notebook 01 (U-Nets): structure, solution = helpers twin, checks accept the reference and reject
the common mistakes of the walkthrough, stubbed/one-wrong-TODO grading emulated in-process, and a
smoke-profile execution of the instructor notebook."""
from __future__ import annotations

import json
import os
import re

import pytest
import torch
import torch.nn as nn

from helpers.blocks import BasicDownBlock, BasicUpBlock, conv_out_size, conv_transpose_out_size
from helpers.bootstrap import BOOTSTRAP_CELL
from helpers.checks import nb01
from helpers.unet import UNet as RefUNet
from nbtools import REPO, cells_by_grade_id, execute, output_text, solution_namespace, source_notebook

NB = source_notebook("01_unets")
ANSWERS = REPO / "answers" / "01_UNets_Answers.md"
WALKTHROUGH = REPO / "walkthroughs" / "01_UNets_Walkthrough.md"
SOLUTIONS = ["todo1_conv_sizes", "todo2_down_block", "todo3_up_block", "todo4_unet"]
PREAMBLE = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
POINTS = {"test_todo1_conv_sizes": 2, "test_todo2_down_block": 2, "test_todo3_up_block": 2,
          "test_todo4_unet": 3, "test_todo4_unet_training": 2}
# which TODO each graded cell belongs to
OWNER = {"test_todo1_conv_sizes": "todo1_conv_sizes", "test_todo2_down_block": "todo2_down_block",
         "test_todo3_up_block": "todo3_up_block", "test_todo4_unet": "todo4_unet",
         "test_todo4_unet_training": "todo4_unet"}


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

def test_structure():
    nb = json.loads(NB.read_text())
    cells = nb["cells"]
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert nb["metadata"]["kernelspec"]["language"] == "python"
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "".join(code[0]["source"]) == BOOTSTRAP_CELL
    for c in code:
        assert c.get("outputs") == [] and c.get("execution_count") is None, "commit without outputs"
    assert "widgets" not in nb["metadata"]
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in cells if "nbgrader" in c["metadata"]]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    solutions = []
    for i, c in enumerate(cells):
        meta = c["metadata"].get("nbgrader", {})
        src = "".join(c["source"])
        if meta.get("solution"):
            solutions.append(meta["grade_id"])
            assert not meta["grade"] and not meta["locked"]
            assert src.count("### BEGIN SOLUTION") == src.count("### END SOLUTION") >= 1
            nxt, graded = cells[i + 1], cells[i + 2]
            assert "self_check(" in "".join(nxt["source"]) and "nbgrader" not in nxt["metadata"]
            assert "".join(nxt["source"]).rstrip().endswith(";"), "self-check cells display no value"
            gm = graded["metadata"]["nbgrader"]
            assert gm["grade"] and gm["locked"] and gm["points"] > 0
            assert gm["grade_id"] == "test_" + meta["grade_id"]
            assert cells[i - 1]["cell_type"] == "markdown" and "## TODO" in "".join(cells[i - 1]["source"])
        if meta.get("grade"):
            assert meta["points"] > 0 and meta["locked"] and not meta["solution"]
            assert "### BEGIN HIDDEN TESTS" in src and "### END HIDDEN TESTS" in src
            assert "print(" not in src
            last = src.rstrip().splitlines()[-1]
            assert last.startswith(("require(", "###", "assert")), "a test cell ends in an assert or a call"
    assert solutions == SOLUTIONS
    graded = {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]["points"]
              for c in cells if c["metadata"].get("nbgrader", {}).get("grade")}
    assert graded == POINTS


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


# --------------------------------------------------------------------------- grading, emulated in-process

STUB = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)


def stubbed(src: str) -> str:
    """What nbgrader's ClearSolutions leaves in the student copy."""
    return STUB.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()", src)


def grade(solution_sources: dict) -> dict:
    """Run the imports cell, the given solution cells and every graded cell (hidden tests included)
    in one namespace, as the autograder would; return grade_id -> points earned."""
    nb = json.loads(NB.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    env: dict = {"__name__": "__main__"}
    exec(compile("".join(code[1]["source"]), "<imports>", "exec"), env)  # the cell after the bootstrap
    earned = {}
    for c in nb["cells"]:
        meta = c["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            try:
                exec(compile(solution_sources[meta["grade_id"]], meta["grade_id"], "exec"), env)
            except Exception:
                pass
        elif meta.get("grade"):
            try:
                exec(compile("".join(c["source"]), meta["grade_id"], "exec"), env)
                earned[meta["grade_id"]] = meta["points"]
            except Exception:
                earned[meta["grade_id"]] = 0
    return earned


def test_grading_full_marks_zero_for_stub_and_one_wrong_todo():
    assert grade(CELLS) == POINTS
    assert grade({g: stubbed(s) for g, s in CELLS.items()}) == {k: 0 for k in POINTS}
    for name in ("conv: forgot the +1", "down: padding 0", "up: skip first", "unet: skip order swapped"):
        gid, old, new, _ = MISTAKES[name]
        earned = grade({**CELLS, gid: CELLS[gid].replace(old, new)})
        lost = {k for k in POINTS if earned[k] < POINTS[k]}
        assert lost and all(OWNER[k] == gid for k in lost), (name, earned)
        assert "test_todo4_unet" not in lost or gid == "todo4_unet"


# --------------------------------------------------------------------------- execution

@pytest.fixture(scope="module")
def executed():
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return execute(NB, profile="smoke")


@pytest.mark.slow
def test_smoke_execution(executed):
    text = output_text(executed)
    assert "\u2717" not in text, "a self-check failed on the instructor solution"
    assert text.count("checks passed \U0001F389") == 5
    assert "exact E[x0 | y]" in text and "between the 8 guesses from pure noise" in text
    for c in executed.cells:
        for o in c.get("outputs", []):
            assert o.get("output_type") != "error", "".join(c["source"])[:200]
            if c["metadata"].get("nbgrader", {}).get("grade"):
                assert o.get("name") != "stderr", "graded cells must not write to stderr"
                assert o.get("output_type") != "execute_result", "graded cells must not display a value"
