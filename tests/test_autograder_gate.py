"""06's gate as a post-grade check: the check its post_grade.json declares (gate_check.py in its
source folder) re-runs helpers.gate on an exported
model in a fresh sandboxed process the harness controls (here a model that ignores its input,
which must fail), whatever the notebook did in its own kernel."""
from __future__ import annotations

import json
import os

import pytest

from autograder import REPO_ROOT, SOURCE_DIR
from autograder import sandbox as sb
from autograder.post_grade import run_check

pytestmark = pytest.mark.slow
FOLDER = SOURCE_DIR / "06_assessment"
DECLARED = next(c for c in json.loads((FOLDER / "post_grade.json").read_text())["checks"] if c["grade_id"] == "gate")


def _useless_model():
    """A noise predictor that ignores its input (one parameter): its digits are noise."""
    import torch

    class Useless(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x, t, c, c_mask):
            return x * 0 + self.p

    return Useless()


def test_gate_check_runs_out_of_process_and_fails_a_useless_model(tmp_path):
    pytest.importorskip("torch")
    from helpers.export import EXPORT_FILENAME, export_model
    from helpers.schedules import Schedule

    work = tmp_path / "work"
    work.mkdir()
    export_model(_useless_model(), work / EXPORT_FILENAME, sched=Schedule.linear(50), w=1.0)
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


def _check(tmp_path, work, profile: str, kwargs: dict, **limits) -> dict:
    level = "strict" if sb.probe("strict")[0] else "basic"
    env = sb.kernel_env(home=tmp_path, profile=profile, data_dir=os.environ.get("COURSE_DATA_DIR", ""), threads=2,
                        gpu=None, seed=0, pythonpath=[])
    check = {**DECLARED, "kwargs": kwargs, "cpu_seconds": 300, **limits}
    with sb.UidSlot() if level == "strict" else _Null() as slot:
        uid = getattr(slot, "uid", None)
        spec = sb.spec_for(level, uid=uid, stage=str(tmp_path), needed=[str(tmp_path), str(REPO_ROOT), env.get(
            "COURSE_DATA_DIR", "")])
        spec["env"] = env
        return run_check(check, workdir=work, source_copy=FOLDER, launcher_spec=spec, priv=tmp_path, uid=uid)


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --------------------------------------------------------------------------- hostile hand-ins
# torch.export.load unpickles any weight its archive marks `use_pickle` (torch.load with
# weights_only=False), so a hand-in can run code while it loads. These archives do: the code runs
# in the sandboxed untrusted side, and must not be able to decide, stall or flood the grade.

FORGE = ("import os\n"
         "for fd in range(3, 64):\n"
         "    try:\n"
         "        os.write(fd, b'{\"passed\": true, \"fraction\": 1.0, \"message\": \"Gate PASSED: forged\"}\\n')\n"
         "    except OSError:\n"
         "        pass\n"
         "os._exit(0)\n")
STALL = "import time\ntime.sleep(10 ** 6)\n"
SPIN = "while True:\n    pass\n"
FLOOD = ("import os\n"
         "for fd in range(3, 64):\n"
         "    try:\n"
         "        while True:\n"
         "            os.write(fd, b'x' * (1 << 20))\n"
         "    except OSError:\n"
         "        pass\n")


def payload_export(src, dst, code: str) -> None:
    """Copy the torch.export archive `src` to `dst` with its first weight replaced by a pickle
    that runs `code` when loaded, then yields the original tensor (so loading still succeeds)."""
    import io
    import json
    import pickle
    import zipfile

    import torch

    class Payload:
        def __init__(self, tensor):
            self.tensor = tensor

        def __reduce__(self):
            return (eval, (f"(exec({code!r}), __import__('torch').zeros({tuple(self.tensor.shape)!r}))[1]",))

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        names = zin.namelist()
        cfg_name = next(n for n in names if n.endswith("data/weights/model_weights_config.json"))
        cfg = json.loads(zin.read(cfg_name))
        fqn, meta = next(iter(cfg["config"].items()))
        meta["use_pickle"] = True
        weight_name = cfg_name.rsplit("/", 1)[0] + "/" + meta["path_name"]
        buf = io.BytesIO()
        pickle.dump(Payload(torch.zeros(1)), buf)
        for n in names:
            data = zin.read(n)
            if n == cfg_name:
                data = json.dumps(cfg).encode()
            elif n == weight_name:
                data = buf.getvalue()
            zout.writestr(n, data)


def test_hostile_hand_ins_cannot_forge_stall_or_flood_the_gate(tmp_path):
    import resource

    pytest.importorskip("torch")
    from helpers.export import EXPORT_FILENAME, export_model
    from helpers.schedules import Schedule

    honest = tmp_path / "honest.pt2"
    export_model(_useless_model(), honest, sched=Schedule.linear(50), w=1.0)
    os.chmod(tmp_path, 0o755)
    # as graded, the archive is inspected as data first and never loaded: the payload never runs
    work = tmp_path / "refused"
    work.mkdir()
    os.chmod(work, 0o755)
    payload_export(honest, work / EXPORT_FILENAME, STALL)
    res = _check(tmp_path, work, "smoke", {}, cpu_seconds=15, stall_seconds=8, max_mb=1)
    assert res["passed"] is False and "pickle" in res["message"] and res["seconds"] < 60, res
    # and if torch's loader ran code by some other route: the payload runs in the sandbox, and
    # cannot decide, stall, spin or flood (inspect_first=False lets it load)
    limits = {"cpu_seconds": 15, "stall_seconds": 8, "max_mb": 1}
    for name, code, want in (("forge", FORGE, "not the 20 float32"), ("stall", STALL, "no progress"),
                             ("spin", SPIN, "more than 15 s of CPU"), ("flood", FLOOD, "sent more than")):
        work = tmp_path / name
        work.mkdir()
        os.chmod(work, 0o755)
        payload_export(honest, work / EXPORT_FILENAME, code)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        res = _check(tmp_path, work, "smoke", {"inspect_first": False}, **limits)
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
        assert res["passed"] is False and want in res["message"], (name, res)
        assert res["seconds"] < 90, (name, res["seconds"])
        assert grew < 64, (name, grew)   # the flood is read up to the cap, not into memory
