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
        line = next(ln for ln in cell.splitlines() if ln.startswith(("GUIDANCE_W =", "P_DROP =")))
        exec(line, ns)
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
