"""06's gate as a post-grade check: autograder.gate_check re-runs helpers.gate on an exported
model in a fresh sandboxed process the harness controls (here a model that ignores its input,
which must fail), whatever the notebook did in its own kernel."""
from __future__ import annotations

import os

import pytest

from autograder import REPO_ROOT
from autograder import sandbox as sb
from autograder.post_grade import run_check

pytestmark = pytest.mark.slow


def test_gate_check_runs_out_of_process_and_fails_a_useless_model(tmp_path):
    torch = pytest.importorskip("torch")
    from helpers.export import EXPORT_FILENAME, export_model
    from helpers.schedules import Schedule

    class Useless(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x, t, c, c_mask):
            return x * 0 + self.p

    work = tmp_path / "work"
    work.mkdir()
    export_model(Useless(), work / EXPORT_FILENAME, sched=Schedule.linear(50), w=1.0)
    os.chmod(tmp_path, 0o755)
    level = "strict" if sb.probe("strict")[0] else "basic"
    env = sb.kernel_env(home=tmp_path, profile="smoke", data_dir=os.environ.get("COURSE_DATA_DIR", ""), threads=2,
                        gpu=None, seed=0, pythonpath=[])
    check = {"grade_id": "test_gate", "callable": "autograder.gate_check:assessment_gate",
             "kwargs": {"n_per_class": 5}, "timeout": 600}
    with sb.UidSlot() if level == "strict" else _Null() as slot:
        uid = getattr(slot, "uid", None)
        spec = sb.spec_for(level, uid=uid, stage=str(tmp_path), needed=[str(tmp_path), str(REPO_ROOT), env.get(
            "COURSE_DATA_DIR", "")])
        spec["env"] = env
        res = run_check(check, workdir=work, source_copy=tmp_path, launcher_spec=spec, priv=tmp_path, uid=uid)
    assert res["passed"] is False and not res.get("error"), res
    assert "Gate FAILED" in res["message"] and res["details"]["n"] == 50


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
