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
    # full profile: the accuracy decides (5 digits per class here to keep the test short)
    res = _check(tmp_path, work, "full", {"n_per_class": 5})
    assert res["passed"] is False and not res.get("error"), res
    assert "Gate FAILED" in res["message"] and res["details"]["n"] == 50

    # smoke profile (demo, tests): the pipeline only -- the hand-in loads and samples in a fresh
    # process, and the message says the accuracy is not what was decided
    res = _check(tmp_path, work, "smoke", {})
    assert res["passed"] is True and res["details"]["n"] == 20, res
    assert "pipeline only" in res["message"] and "full profile" in res["message"]

    # no hand-in: fails in either profile
    empty = tmp_path / "empty"
    empty.mkdir()
    os.chmod(empty, 0o755)
    for profile in ("smoke", "full"):
        res = _check(tmp_path, empty, profile, {})
        assert res["passed"] is False and "was not exported" in res["message"], res


def _check(tmp_path, work, profile: str, kwargs: dict) -> dict:
    level = "strict" if sb.probe("strict")[0] else "basic"
    env = sb.kernel_env(home=tmp_path, profile=profile, data_dir=os.environ.get("COURSE_DATA_DIR", ""), threads=2,
                        gpu=None, seed=0, pythonpath=[])
    check = {"grade_id": "gate", "untrusted": "autograder.gate_check:sample_digits",
             "trusted": "autograder.gate_check:judge_digits", "kwargs": kwargs, "cpu_seconds": 300,
             "files": {"model": {"name": "assessment_model.pt2", "max_mb": 64}}}
    with sb.UidSlot() if level == "strict" else _Null() as slot:
        uid = getattr(slot, "uid", None)
        spec = sb.spec_for(level, uid=uid, stage=str(tmp_path), needed=[str(tmp_path), str(REPO_ROOT), env.get(
            "COURSE_DATA_DIR", "")])
        spec["env"] = env
        return run_check(check, workdir=work, source_copy=tmp_path, launcher_spec=spec, priv=tmp_path, uid=uid)


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
