"""The benchmarks measure what the notebooks ship: bench.assessment reads 06's recipe from the
instructor notebook; checked here against the notebook's own cells executed in the full profile."""
from __future__ import annotations

import json
import pytest

import nbtools
from bench import assessment


def test_assessment_bench_reads_the_notebooks_full_cpu_recipe(monkeypatch):
    nb = json.loads(nbtools.source_notebook("06_assessment").read_text())
    sizes = next("".join(c["source"]) for c in nb["cells"]
                 if c["cell_type"] == "code" and "STEPS = pick(" in "".join(c["source"]))
    w_cell = next("".join(c["source"]) for c in nb["cells"]
                  if c["cell_type"] == "code" and "GUIDANCE_W =" in "".join(c["source"]))
    drop_cell = next("".join(c["source"]) for c in nb["cells"]
                     if c["cell_type"] == "code" and "P_DROP = " in "".join(c["source"]))
    monkeypatch.setenv("COURSE_PROFILE", "full")
    import helpers.device as dev
    monkeypatch.setattr(dev, "device_kind", lambda *a, **k: "cpu")  # the CPU recipe on any machine
    ns: dict = {"__name__": "__main__"}
    exec(compile(sizes, "<sizes>", "exec"), ns)
    for cell in (w_cell, drop_cell):
        line = [ln for ln in cell.splitlines() if ln.startswith(("GUIDANCE_W =", "P_DROP ="))][-1]
        exec(line, ns)   # the solution's value, after the TODO's placeholder `= ...`
    got = assessment.notebook_recipe("cpu")
    assert got == {k: ns[k] for k in assessment.NAMES}
    assert (assessment.T, assessment.BATCH, assessment.STEPS, assessment.W) == (ns["T"], ns["BATCH"], ns["STEPS"],
                                                                              ns["GUIDANCE_W"])


def test_notebook_recipe_names_what_it_cannot_find(tmp_path):
    nb = {"cells": [{"cell_type": "code", "source": ["T = 10\n", "CHS = pick(smoke=(1,), cpu=(2,), gpu=(3,))\n"]}]}
    p = tmp_path / "x.ipynb"
    p.write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="BATCH"):
        assessment.notebook_recipe("cpu", p)
    nb["cells"][0]["source"] += [f"{k} = 1\n" for k in assessment.NAMES if k not in ("T", "CHS")]
    p.write_text(json.dumps(nb))
    r = assessment.notebook_recipe("gpu", p)
    assert r["T"] == 10 and r["CHS"] == (3,) and r["BATCH"] == 1


def _encoder_input_depends_on_label(model) -> bool:
    """Whether what down1 receives (down0's features, modulated or not) changes with the label."""
    import torch
    seen = []
    handle = model.down1.register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    x, t = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(0)), torch.tensor([10])
    with torch.no_grad():
        for k in (0, 7):
            model(x, t, torch.eye(10)[[k]], torch.ones(1, 1))
    handle.remove()
    return not torch.equal(seen[0], seen[1])


def test_conditioning_bench_compares_the_two_designs_it_names():
    """bench.conditioning's baseline reads the label only after the encoder; the course's
    ConditionalUNet already in the encoder."""
    import torch
    from bench import conditioning
    from helpers.unet import ConditionalUNet
    torch.manual_seed(0)
    assert not _encoder_input_depends_on_label(conditioning.two_level_unet().eval())
    assert _encoder_input_depends_on_label(ConditionalUNet(1, (16, 32), 1000, 10).eval())


def test_conditioning_bench_runs_and_writes_its_table(tmp_path, monkeypatch):
    from bench import conditioning
    monkeypatch.setattr(conditioning, "RESULTS", tmp_path / "conditioning.json")
    result = conditioning.main(["--steps", "2", "--per-class", "1"])
    saved = json.loads((tmp_path / "conditioning.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert [r["model"] for r in saved["rows"]] == ["middle + up1 only (before)", "every level (ConditionalUNet)"]
    assert all(set(r["accuracy_by_w"]) == {"0.0", "1.0", "3.0"} for r in saved["rows"])


def test_text_to_image_bench_runs_and_writes_its_table(tmp_path, monkeypatch):
    """bench.text_to_image: every context kind is sampled at every w and judged by both judges."""
    from bench import text_to_image
    from helpers.data import DataNotFoundError, load_flowers
    try:
        load_flowers(32, "test")
    except DataNotFoundError:
        import pytest
        pytest.skip("no flower photos found (set COURSE_DATA_DIR)")
    monkeypatch.setattr(text_to_image, "RESULTS", tmp_path / "text_to_image.json")
    result = text_to_image.main(["--clip-steps", "2", "--diff-steps", "2", "--per-prompt", "1", "--limit", "20",
                                 "--unet-chs", "8,16"])   # the pipeline, not the model: the smallest U-Net
    saved = json.loads((tmp_path / "text_to_image.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert [r["context"] for r in saved["rows"]] == list(text_to_image.CONTEXTS)
    for row in saved["rows"]:
        assert set(row["judge_by_w"]) == set(row["clip_by_w"]) == {"0.0", "1.0", "3.0", "6.0"}
        assert all(0 <= v <= 1 for v in row["judge_by_w"].values())
    assert len(saved["cos_text_prior_k16"]) == 5


def test_text_to_image_contexts_are_unit_and_the_prior_lies_in_the_bank():
    import torch
    import torch.nn.functional as F
    from bench import text_to_image
    from helpers import clip
    torch.manual_seed(0)
    cm = clip.FlowerCLIP(widths=(8, 16, 16)).eval()
    bank = F.normalize(torch.randn(40, cm.embed_dim), dim=-1)
    ctx = text_to_image.contexts(cm, bank)
    assert set(ctx) == set(text_to_image.CONTEXTS)
    for name, c in ctx.items():
        assert c.shape == (5, cm.embed_dim)
        torch.testing.assert_close(c.norm(dim=1), torch.ones(5))
    # k = 1 returns bank rows exactly
    assert all(any(torch.allclose(row, b) for b in bank) for row in ctx["prior k=1"])


def test_notebooks_bench_keeps_the_given_order_and_respects_its_budget(capsys):
    """A leased GPU runs the most needed notebook first and never starts one it cannot finish."""
    from bench import notebooks
    rc = notebooks.main(["06", "01", "--profile", "smoke", "--budget", "0"])
    out = capsys.readouterr().out
    assert rc == 1                                   # nothing ran: not a success
    i06, i01 = out.index("06_assessment skipped"), out.index("01_unets skipped")
    assert i06 < i01                                 # the order given, not sorted
    assert "under --min-left" in out


def test_flow_bench_runs_every_sampler_and_writes_its_table(tmp_path, monkeypatch):
    """bench.flow --quick: both models train, every sampler is judged at its NFE counts (Heun at
    odd ones: 2 evaluations per step, 1 for the Euler last step) through the gate's checks, and the
    table is written; --samplers re-measures one sampler and trains only the model it needs."""
    from bench import flow as flow_bench
    monkeypatch.setattr(flow_bench, "RESULTS", tmp_path / "flow.json")
    result = flow_bench.main(["--quick"])
    saved = json.loads((tmp_path / "flow.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert [(r["sampler"], r["nfe"]) for r in saved["rows"]] == [
        ("flow-euler", 1), ("flow-euler", 2), ("flow-heun", 3), ("ddpm-ddim", 1), ("ddpm-ddim", 2)]
    assert all(r["digits"] == 20 and 0 <= r["accuracy"] <= 1 for r in saved["rows"])
    assert set(saved["smallest_passing_nfe"]) == set(flow_bench.SAMPLERS) and saved["complete"]
    assert saved["training"]["flow"]["steps"] == saved["training"]["ddpm"]["steps"] == 3

    only = flow_bench.main(["--quick", "--samplers", "flow-heun", "--heun-nfe", "1,3"])
    assert [(r["sampler"], r["nfe"]) for r in only["rows"]] == [("flow-heun", 1), ("flow-heun", 3)]
    assert list(only["training"]) == ["flow"] and list(only["smallest_passing_nfe"]) == ["flow-heun"]
    for bad in (["--heun-nfe", "4"], ["--samplers", "flow-rk4"]):
        with pytest.raises(SystemExit):
            flow_bench.main(["--quick", *bad])


def test_flow_bench_draws_the_gates_starting_noise():
    """With a zero velocity, the flow sampler returns its starting noise: the gate's (one CPU
    generator seeded with GRADER_SEED, batch by batch)."""
    import torch
    from bench import flow as flow_bench
    from helpers.gate import GRADER_SEED
    from helpers.schedules import Schedule

    class Zero(torch.nn.Module):
        def forward(self, x, t, c, mask):
            return torch.zeros_like(x)

    x, labels = flow_bench.draw("flow-euler", Zero(), Schedule.linear(10), 2, 4.0, 3, "cpu")
    noise = torch.randn(30, 1, 28, 28, generator=torch.Generator().manual_seed(GRADER_SEED))
    torch.testing.assert_close(x, noise.clamp(-1, 1))
    assert labels.tolist() == [k for k in range(10) for _ in range(3)]


def test_adopting_a_notebook_run_stores_what_it_printed_and_its_cell_times(tmp_path):
    """bench.adopt --notebook-date: an executed notebook's stdout lines ("[cell i] ...") and cell
    times go into notebooks.json under the date, next to what the run already holds."""
    import json

    import nbformat
    from bench.adopt import adopt_notebook_run

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# x"), nbformat.v4.new_code_cell("print('loss 0.25')")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="loss 0.25\n\n  a | b\n"),
                           nbformat.v4.new_output("stream", name="stderr", text="a warning\n")]
    nb.cells[1].metadata["execution"] = {"iopub.execute_input": "2026-12-07T08:00:00.000000Z",
                                         "shell.execute_reply": "2026-12-07T08:00:12.340000Z"}
    folder = tmp_path / "results" / "notebooks" / "full"
    folder.mkdir(parents=True)
    nbformat.write(nb, str(folder / "04_x.ipynb"))
    ref = tmp_path / "notebooks.json"
    ref.write_text(json.dumps({"cpu": {"runs": {"04_x": {"seconds": [468]}}}}))
    got = adopt_notebook_run("04_x", "2026-12-07", results=tmp_path / "results", reference=ref)
    run = json.loads(ref.read_text())["cpu"]["runs"]["04_x"]
    assert run["seconds"] == [468]                                   # kept
    assert run["printed_2026_12_07"] == "[cell 1] loss 0.25\n[cell 1]   a | b"   # stdout only, blank lines dropped
    assert run["cells_2026_12_07"] == {"1": 12.3} and got == {"lines": 2, "cells": 1, "seconds_in_cells": 12.3}
    with pytest.raises(SystemExit, match="bench.notebooks --profile full 05_y"):
        adopt_notebook_run("05_y", "2026-12-07", results=tmp_path / "results", reference=ref)
