"""Post-grade checks: decisions made outside the student's kernel, in a process the harness owns.

An assignment opts in with `autograder/source/<id>/post_grade.json`:

    {"checks": [{"grade_id": "test_gate",                 # graded cell whose score it decides
                 "callable": "gate_check:grade_export",    # module in the source folder or helpers
                 "kwargs": {"seed": 1234},                 # JSON, passed as keyword arguments
                 "timeout": 900,                           # seconds (default 600)
                 "points": 5, "label": "gate"}]}           # only when grade_id is not a cell

After the notebook has run and every student process is gone, each check runs in a fresh
`python -I` (same sandbox as the kernel: own uid, no network, hidden paths, limits), with
sys.path = [trusted copy of the source folder, repo root] and an empty working directory.
It is called as ``callable(workdir, **kwargs)`` where `workdir` holds what the notebook wrote
(e.g. 06's exported model) and must return ``{"passed": bool, "fraction": float | None,
"message": str, "details": ...}``. Its verdict replaces the named cell's in-kernel result, so
monkeypatching the gate, torch or helpers inside the notebook, or writing fake reports to
disk, changes nothing. A check that raises, times out or crashes scores 0 with its reason.
Load exports with TorchScript/`weights_only=True`, never plain pickle: unpickling would run
student code inside the check.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import REPO_ROOT

RUNNER = Path(__file__).resolve().parent / "_run_check.py"


def load_checks(bundle) -> list[dict]:
    checks = bundle.post_grade.get("checks", [])
    for c in checks:
        if not {"grade_id", "callable"} <= set(c):
            raise ValueError(f"{bundle.aid}/post_grade.json: every check needs grade_id and callable: {c}")
    return checks


def run_check(check: dict, *, workdir: Path, source_copy: Path, launcher_spec: dict, priv: Path,
              uid: int | None) -> dict:
    """Run one check through the sandbox launcher; never raises."""
    t0 = time.monotonic()
    rfd, wfd = os.pipe()
    spec_path = priv / f"check-{check['grade_id']}.json"
    spec_path.write_text(json.dumps({
        "callable": check["callable"], "kwargs": check.get("kwargs", {}), "workdir": str(workdir),
        "sys_path": [str(source_copy), str(REPO_ROOT)], "result_fd": wfd}))
    os.chmod(spec_path, 0o644)
    cwd = Path(tempfile.mkdtemp(prefix="check-", dir=priv))
    os.chmod(cwd, 0o755)
    if uid is not None:
        os.chown(cwd, uid, uid)
    launch_path = priv / f"launch-check-{check['grade_id']}.json"
    launch_path.write_text(json.dumps(dict(launcher_spec, cwd=str(cwd))))
    os.chmod(launch_path, 0o600)
    cmd = [sys.executable, str(Path(__file__).parent / "_launch.py"), str(launch_path), "--",
           sys.executable, "-I", str(RUNNER), str(spec_path)]
    timeout = float(check.get("timeout", 600))
    log = priv / f"check-{check['grade_id']}.log"
    chunks: list[bytes] = []

    def _read() -> None:
        with os.fdopen(rfd, "rb") as r:
            chunks.append(r.read())

    reader = threading.Thread(target=_read, daemon=True)
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, pass_fds=(wfd,), cwd=cwd,
                                start_new_session=True)
    os.close(wfd)
    reader.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return {"passed": False, "error": True, "message": f"check timed out after {timeout:.0f} s",
                "seconds": round(time.monotonic() - t0, 3)}
    finally:
        reader.join(timeout=5)
    raw = b"".join(chunks).decode("utf-8", "replace").strip()
    try:
        res = json.loads(raw)
    except json.JSONDecodeError:
        tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
        res = {"passed": False, "error": True,
               "message": f"check process exited with {proc.returncode} and no result. {tail}".strip()}
    res["seconds"] = round(time.monotonic() - t0, 3)
    return res
