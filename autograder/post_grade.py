"""Post-grade checks: decisions made outside the student's kernel, by code the student never touches.

An assignment opts in with `autograder/source/<id>/post_grade.json`. A check that looks at what
the student handed in is split in two (06's gate is one):

    {"checks": [{"grade_id": "gate", "points": 10, "label": "...",
                 "untrusted": "gate_check:sample_digits",  # a module in the source folder: runs the hand-in
                 "trusted": "gate_check:judge_digits",       # decides, on plain data only
                 "kwargs": {...},             # JSON keyword arguments for both sides
                 "files": {"model": {"name": "assessment_model.pt2", "max_mb": 64}},
                 "max_mb": 16,                # bytes the untrusted side may hand back
                 "cpu_seconds": 600,          # CPU budget of the untrusted side
                 "stall_seconds": 60}]}       # stop it after this long without using CPU

1. **Untrusted side**, after the kernel and all its processes are gone: a fresh `python -I`
   in the same sandbox as the kernel (own uid, no network, hidden paths, limits), sys.path =
   [trusted copy of the source folder, repo root], an empty working directory. It calls
   ``untrusted(workdir, **kwargs)``, which may load the student's files (code in them may run
   here: this process is treated as the student's) and returns arrays and a little JSON. They
   cross to the harness as a header line and raw bytes (autograder/_run_check.py), read with a
   byte limit; dtypes, shapes and sizes are checked before anything else looks at them. Its
   limits are a CPU budget (autograder/budget.py: the same on a busy machine as on an idle
   one), stall detection and a wall-clock backstop.
2. **Trusted side**: another fresh `python -I`, with a HOME the sandbox never saw, that loads
   nothing the student made: it gets the validated arrays (numpy.frombuffer, no pickle), the
   untrusted side's JSON (to be treated as a claim), and bounded copies of the named `files`
   (regular files only, no links) to parse as data. It calls
   ``trusted(arrays, meta, files, **kwargs)`` and returns the verdict
   ``{"passed", "fraction", "message", "details"}``.

The verdict replaces the named cell's in-kernel result (both are kept in the result JSON), or
adds its own line when `grade_id` is not a cell (give `points`). A side that raises, runs out of
its budget, stalls or sends malformed data fails the check with that reason (the student's
status), never a harness error.

A check that reads no student artefact may be one plain callable, ``"callable": "mod:fn"``,
called as ``fn(workdir, **kwargs)`` in the sandbox and returning the verdict directly.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import REPO_ROOT
from .budget import Budget, Watch

RUNNER = Path(__file__).resolve().parent / "_run_check.py"
LAUNCHER = Path(__file__).resolve().parent / "_launch.py"
DTYPES = {"<f4", "<f8", "<i8", "<i4", "|u1", "|b1", "<f2"}
HEADER_MAX = 64 * 1024
VERDICT_MAX = 1 << 20


def load_checks(bundle) -> list[dict]:
    checks = bundle.post_grade.get("checks", [])
    for c in checks:
        split = {"untrusted", "trusted"} <= set(c)
        if "grade_id" not in c or not (split or "callable" in c):
            raise ValueError(f"{bundle.aid}/post_grade.json: every check needs grade_id and either "
                             f"untrusted + trusted or callable: {c}")
    return checks


def wall_limit(check: dict, factor: float = 6.0) -> float:
    """The longest a check can take (both sides, wall clock): for planning outer limits."""
    cpu = float(check.get("cpu_seconds", check.get("timeout", 600)))
    return 2 * (factor * cpu + 30)


class _Capped:
    """Reads a pipe into memory up to `limit` bytes; flags an overflow instead of reading on."""

    def __init__(self, fd: int, limit: int):
        self.fd, self.limit, self.data, self.over = fd, limit, bytearray(), False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with os.fdopen(self.fd, "rb", buffering=0) as r:
            while True:
                chunk = r.read(1 << 16)
                if not chunk:
                    return
                if len(self.data) + len(chunk) > self.limit:
                    self.over = True
                    return   # stop reading: the writer blocks, and is killed
                self.data += chunk


def _run(cmd: list[str], *, mode_spec: dict, spec_path: Path, cwd: Path, log: Path, budget: Budget,
         limit: int, pass_env: dict | None = None) -> tuple[bytes | None, str | None, float]:
    """Start one side, watch its CPU budget, read its result pipe (capped).
    Returns (data, failure reason or None, CPU seconds used)."""
    rfd, wfd = os.pipe()
    spec_path.write_text(json.dumps(dict(mode_spec, result_fd=wfd)))
    os.chmod(spec_path, 0o644)
    reader = _Capped(rfd, limit)
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, pass_fds=(wfd,), cwd=cwd,
                                start_new_session=True, env=pass_env)
    os.close(wfd)
    watch = Watch(proc.pid, budget)
    why = None
    while proc.poll() is None:
        if reader.over:
            why = f"sent more than {limit / 2**20:.1f} MB of results"
        else:
            why = watch.check()
        if why:
            _kill_group(proc)
            break
        time.sleep(0.2)
    reader.thread.join(timeout=10)
    if why is None and reader.over:
        why = f"sent more than {limit / 2**20:.1f} MB of results"
    return (None if why else bytes(reader.data)), why, watch.cpu_used


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 9)
    except OSError:
        proc.kill()
    proc.wait()


def _log_tail(log: Path, n: int = 600) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def parse_untrusted(data: bytes, max_bytes: int) -> tuple[dict, list[dict], bytes]:
    """Validate the untrusted side's output: (meta, array descriptions, raw bytes).
    Raises ValueError with a reason for anything malformed."""
    nl = data.find(b"\n", 0, HEADER_MAX)
    if nl < 0:
        raise ValueError("no result header (the check process ended without handing anything back)")
    try:
        head = json.loads(data[:nl].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"unreadable result header: {exc}") from None
    if not isinstance(head, dict) or not isinstance(head.get("meta", {}), dict) \
            or not isinstance(head.get("arrays", []), list) or len(head.get("arrays", [])) > 16:
        raise ValueError("malformed result header")
    raw = data[nl + 1:]
    arrays, total = [], 0
    for a in head.get("arrays", []):
        try:
            name, dtype, shape, nbytes = str(a["name"]), str(a["dtype"]), [int(s) for s in a["shape"]], int(a["nbytes"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"malformed array description {str(a)[:200]}") from None
        if dtype not in DTYPES:
            raise ValueError(f"array {name!r}: dtype {dtype} is not allowed")
        if len(shape) > 8 or any(s < 0 for s in shape):
            raise ValueError(f"array {name!r}: bad shape {shape}")
        itemsize = int(dtype[2:]) if dtype[1] in "fiu" else 1
        if nbytes != math.prod(shape) * itemsize:
            raise ValueError(f"array {name!r}: {nbytes} bytes do not match shape {shape} of {dtype}")
        arrays.append({"name": name, "dtype": dtype, "shape": shape, "nbytes": nbytes})
        total += nbytes
    if total != len(raw) or total > max_bytes:
        raise ValueError(f"the arrays announce {total} bytes but {len(raw)} followed")
    return head.get("meta", {}), arrays, raw


def copy_file_bounded(src: Path, dst: Path, max_bytes: int) -> str | None:
    """Copy a student file for the trusted side: regular files only, no links, at most
    `max_bytes`. Returns None, or the reason it was not copied."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"cannot be opened ({exc.strerror})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_size > max_bytes:
            return f"{st.st_size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit"
        with open(dst, "wb") as out:
            left = max_bytes + 1
            while left > 0:
                chunk = os.read(fd, min(1 << 20, left))
                if not chunk:
                    break
                out.write(chunk)
                left -= len(chunk)
        if left <= 0:
            return f"over the {max_bytes / 2**20:.0f} MB limit"
        return None
    finally:
        os.close(fd)


def trusted_env(base: dict, home: Path) -> dict:
    """The trusted side's environment: the kernel's switches, a HOME the sandbox never saw."""
    env = dict(base)
    for sub in ("tmp", ".cache", ".mpl"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env.update({"HOME": str(home), "TMPDIR": str(home / "tmp"), "XDG_CACHE_HOME": str(home / ".cache"),
                "MPLCONFIGDIR": str(home / ".mpl")})
    for k in ("IPYTHONDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "PYTHONPATH"):
        env.pop(k, None)
    return env


def run_check(check: dict, *, workdir: Path, source_copy: Path, launcher_spec: dict, priv: Path,
              uid: int | None, wall_factor: float = 6.0) -> dict:
    """Run one check (both sides, or a plain one); never raises."""
    t0 = time.monotonic()
    gid = check["grade_id"]
    cwd = Path(tempfile.mkdtemp(prefix="check-", dir=priv))
    os.chmod(cwd, 0o755)
    if uid is not None:
        os.chown(cwd, uid, uid)
    cpu = float(check.get("cpu_seconds", check.get("timeout", 600)))
    budget = Budget(cpu_s=cpu, wall_s=float(check.get("timeout", wall_factor * cpu + 30)),
                    stall_s=float(check.get("stall_seconds", 60)))
    spec = dict(launcher_spec, cwd=str(cwd))
    rl = dict(spec.get("rlimits", {}))
    rl["RLIMIT_CPU"] = (int(cpu) + 10, int(cpu) + 20)
    spec["rlimits"] = rl
    launch_path = priv / f"launch-check-{gid}.json"
    launch_path.write_text(json.dumps(spec))
    os.chmod(launch_path, 0o600)
    sandboxed = [sys.executable, str(LAUNCHER), str(launch_path), "--", sys.executable, "-I", str(RUNNER)]
    sys_path = [str(source_copy), str(REPO_ROOT)]
    log = priv / f"check-{gid}.log"
    split = "untrusted" in check

    def fail(message: str, **extra) -> dict:
        return {"passed": False, "error": True, "message": message, "seconds": round(time.monotonic() - t0, 3),
                **extra}

    mode_spec = {"mode": "untrusted" if split else "plain", "callable": check["untrusted" if split else "callable"],
                 "kwargs": check.get("kwargs", {}), "workdir": str(workdir), "sys_path": sys_path}
    limit = int(float(check.get("max_mb", 16)) * 2**20) + HEADER_MAX if split else VERDICT_MAX
    spec_path = priv / f"check-{gid}-side1.json"
    data, why, cpu1 = _run(sandboxed + [str(spec_path)], mode_spec=mode_spec, spec_path=spec_path, cwd=cwd, log=log,
                           budget=budget, limit=limit)
    where = "the hand-in's check process" if split else "the check"
    if why:
        verb = "was stopped" if why.startswith("sent") else "timed out"
        return fail(f"{where} {verb}: it {why}", cpu_seconds=round(cpu1, 1))
    if not split:
        try:
            res = json.loads(data.decode("utf-8", "replace"))
        except json.JSONDecodeError:
            return fail(f"check process ended with no result. {_log_tail(log)}".strip())
        res["seconds"] = round(time.monotonic() - t0, 3)
        return res

    # side 2: trusted --------------------------------------------------------------------------
    try:
        meta, arrays, raw = parse_untrusted(data, int(float(check.get("max_mb", 16)) * 2**20))
    except ValueError as exc:
        tail = _log_tail(log, 300).strip()
        return {"passed": False, "message": f"the hand-in's check process returned no usable result: {exc}"
                + (f" (its last output: {tail})" if tail and not data else ""),
                "seconds": round(time.monotonic() - t0, 3)}
    tdir = Path(tempfile.mkdtemp(prefix="trusted-", dir=priv))
    os.chmod(tdir, 0o700)
    raw_path = tdir / "arrays.raw"
    raw_path.write_bytes(raw)
    files, file_notes = {}, {}
    for key, f in (check.get("files") or {}).items():
        dst = tdir / f"file-{key}"
        why = copy_file_bounded(Path(workdir) / f["name"], dst, int(float(f.get("max_mb", 64)) * 2**20))
        if why is None:
            files[key] = str(dst)
        else:
            file_notes[key] = f"{f['name']}: {why}"
    env = trusted_env(launcher_spec.get("env", {}), tdir / "home")
    spec2 = tdir / "trusted.json"
    mode2 = {"mode": "trusted", "callable": check["trusted"], "kwargs": check.get("kwargs", {}), "meta": meta,
             "arrays": arrays, "raw": str(raw_path), "files": files, "file_notes": file_notes, "sys_path": sys_path}
    mode2["meta"] = dict(meta, file_notes=file_notes) if file_notes else meta
    tcpu = float(check.get("trusted_cpu_seconds", 600))
    data2, why2, cpu2 = _run([sys.executable, "-I", str(RUNNER), str(spec2)], mode_spec=mode2, spec_path=spec2,
                             cwd=tdir, log=tdir / "trusted.log",
                             budget=Budget(cpu_s=tcpu, wall_s=wall_factor * tcpu + 30, stall_s=120),
                             limit=VERDICT_MAX, pass_env=env)
    if why2:
        return fail(f"the grader's judging process was stopped: it {why2}", cpu_seconds=round(cpu1 + cpu2, 1))
    try:
        res = json.loads(data2.decode("utf-8", "replace"))
    except json.JSONDecodeError:
        return fail(f"the grader's judging process ended with no verdict. {_log_tail(tdir / 'trusted.log')}".strip())
    res["seconds"] = round(time.monotonic() - t0, 3)
    res["cpu_seconds"] = {"hand_in": round(cpu1, 1), "judge": round(cpu2, 1)}
    shutil.rmtree(tdir, ignore_errors=True)
    return res
