"""How student code is contained: sandbox levels, uid slots, environment, limits, clean-up.

Levels (the best the OS allows is picked by `--sandbox auto`):

* ``strict`` (Linux, running as root): each worker slot has its own unprivileged uid, so a
  kernel can write only its private working copy; no network (new network namespace); the
  submissions, outputs and instructor files are hidden behind empty read-only mounts (new
  mount namespace); RLIMIT_NPROC bounds fork bombs; all processes of the slot uid are killed
  after every submission.
* ``userns`` (Linux, unprivileged user namespaces): no network and hidden paths as above, but
  the kernel keeps the grader's uid.
* ``basic`` (anything else, e.g. macOS): scrubbed environment, private HOME/TMPDIR, limits,
  process-tree clean-up. Grades are still computed by the harness from what it observed, never
  from files the kernel could write; see autograder/README.md for what this level cannot stop.

Everywhere: scrubbed environment, setrlimit (address space on CPU, CPU time, file size, core
dumps), a child-subreaper worker (prctl(2) PR_SET_CHILD_SUBREAPER) so double-forked daemons
are found and killed.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import functools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parent / "_launch.py"
UID_BASE, UID_COUNT = 62000, 2000
UID_LOCK_DIR = Path(tempfile.gettempdir()) / "autograder-uids"
PR_SET_CHILD_SUBREAPER = 36
LEVELS = ("strict", "userns", "basic")


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _blocked_ancestor(path: str) -> str | None:
    """Topmost ancestor of `path` that other users cannot enter (no o+x), if any."""
    parts = Path(path).parts
    for i in range(1, len(parts)):
        anc = os.path.join(*parts[:i])
        try:
            if not os.stat(anc).st_mode & 0o001:
                return anc
        except OSError:
            return None
    return None


def needed_paths(extra=()) -> list[str]:
    """What a sandboxed Python must reach: the interpreter, the venv, sys.path, data."""
    cands = [sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable)),
             *[p for p in sys.path if p], *extra]
    out = []
    for p in cands:
        if p and os.path.isdir(p):
            out.append(os.path.realpath(p))
            out.append(os.path.abspath(p))
    return sorted(set(out))


#: Directories every user may write to: each sandboxed process gets its own empty, size-capped
#: tmpfs over them, so nothing it writes there outlives it or reaches the next submission.
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/run/shm", "/var/crash")


def world_writable_dirs() -> list[str]:
    return [d for d in PRIVATE_TMP
            if os.path.isdir(d) and not os.path.islink(d) and os.stat(d).st_mode & 0o002]


def covers(paths, tmp_mb: int = 256) -> list:
    """[(dir, mode, [paths to keep], size MB)]: private temp dirs, and ancestors others cannot enter."""
    paths = sorted(set(p for p in paths if p))
    out = []
    for tmp in world_writable_dirs():
        keep = [p for p in paths if p.startswith(tmp + os.sep)]
        out.append((tmp, "1777", [p for p in keep if not any(p.startswith(q + os.sep) for q in keep)], tmp_mb))
    blocked: dict[str, list[str]] = {}
    for p in paths:
        if any(p.startswith(t[0] + os.sep) for t in out):
            continue
        anc = _blocked_ancestor(p)
        if anc:
            blocked.setdefault(anc, []).append(p)
    for anc, keep in sorted(blocked.items()):
        out.append((anc, "755", [p for p in keep if not any(p.startswith(q + os.sep) for q in keep)], 1))
    return out


def spec_for(level: str, *, uid=None, hide=(), network=False, stage=None, needed=(), tmp_mb: int = 256) -> dict:
    """Namespace/uid part of a launcher spec for `level` (`needed`: paths the process must reach).

    Both Linux levels get their own IPC namespace (SysV shared memory, semaphores and message
    queues, POSIX message queues: gone with the process) and network namespace."""
    spec: dict = {}
    if level == "strict":
        spec.update(netns=not network, ipcns=True, hide=list(hide), uid=uid, gid=uid,
                    cover=covers(needed_paths(needed), tmp_mb), stage=stage or tempfile.mkdtemp(prefix="ag-stage-"))
    elif level == "userns":
        spec.update(userns=True, netns=not network, ipcns=True, hide=list(hide))
    return spec


def run_launcher(spec: dict, cmd: list[str], timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        return subprocess.run([sys.executable, str(LAUNCHER), f.name, "--", *cmd],
                              capture_output=True, text=True, timeout=timeout, **kw)
    finally:
        os.unlink(f.name)


@functools.lru_cache(maxsize=None)
def probe(level: str) -> tuple[bool, str]:
    """Can this machine run `level`? Tries it for real on a tiny command."""
    if level == "basic":
        return True, "ok"
    if not sys.platform.startswith("linux"):
        return False, "needs Linux namespaces"
    if level == "strict" and os.geteuid() != 0:
        return False, "needs root (to run each kernel under its own uid)"
    if level == "userns" and os.geteuid() == 0:
        return False, "running as root: use strict"
    hide = [tempfile.mkdtemp(prefix="ag-probe-")]
    check = ("import socket,os,sys\n"
             "s=socket.socket(); s.settimeout(1)\n"
             "try:\n s.connect(('1.1.1.1',53)); sys.exit('network reachable')\n"
             "except OSError: pass\n"
             f"try:\n os.listdir({hide[0]!r}); ok=not os.listdir({hide[0]!r})\n"
             "except OSError: ok=True\n"
             "sys.exit(0 if ok else 'hidden path visible')")
    try:
        os.makedirs(os.path.join(hide[0], "secret"))
        stage = os.path.join(hide[0], "stage")
        os.makedirs(stage)
        spec = spec_for(level, uid=UID_BASE + UID_COUNT - 1, hide=hide, stage=stage, needed=[stage])
        spec["env"] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        res = run_launcher(spec, [sys.executable, "-I", "-c", check])
        if res.returncode == 0:
            return True, "ok"
        return False, (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return False, repr(exc)
    finally:
        shutil.rmtree(hide[0], ignore_errors=True)


def choose_level(requested: str = "auto") -> tuple[str, list[str]]:
    """The sandbox level to use and notes on what was not available."""
    notes = []
    if requested != "auto":
        ok, why = probe(requested)
        if not ok:
            raise RuntimeError(f"sandbox {requested!r} is not available here: {why}")
        return requested, notes
    for level in LEVELS:
        ok, why = probe(level)
        if ok:
            return level, notes
        notes.append(f"{level}: {why}")
    return "basic", notes


class UidSlot:
    """An unprivileged uid reserved for one worker (flock), cleaned of leftovers on entry."""

    def __init__(self) -> None:
        self.uid: int | None = None
        self._fd: int | None = None

    def __enter__(self) -> "UidSlot":
        UID_LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
        for uid in range(UID_BASE, UID_BASE + UID_COUNT - 1):
            fd = os.open(UID_LOCK_DIR / f"{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            kill_uid(uid)
            return self
        raise RuntimeError("no free sandbox uid")

    def __exit__(self, *exc) -> None:
        if self.uid is not None:
            kill_uid(self.uid)
        if self._fd is not None:
            os.close(self._fd)


MS_NOSUID, MS_NODEV, MNT_DETACH = 2, 4, 2


def mount_quota(path: Path, size_mb: int, uid: int | None) -> bool:
    """Put a tmpfs of `size_mb` on `path` (root only): the sandbox's total disk quota for its
    working copy and HOME. Returns False where it cannot (then only RLIMIT_FSIZE applies)."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    opts = f"size={int(size_mb)}m,mode=0700" + (f",uid={uid},gid={uid}" if uid is not None else "")
    ok = _libc().mount(b"tmpfs", str(path).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts.encode()) == 0
    return ok


def unmount(path: Path) -> None:
    _libc().umount2(str(path).encode(), MNT_DETACH)


def leftovers(uid: int) -> list[str]:
    """What a sandbox uid still owns after its submission: processes, SysV IPC objects, files in
    the machine's shared writable directories. Each is removed; the list says what was found.
    A process or file that disappears while being looked at is skipped; any other failure to look
    (e.g. a process whose owner cannot be read) raises rather than report "nothing left"."""
    import psutil
    found = []
    for p in psutil.process_iter():
        try:
            if p.uids().real == uid:
                found.append(f"process {p.pid} ({p.name()})")
        except psutil.NoSuchProcess:  # exited meanwhile (a zombie too): nothing left to kill
            continue
    if found:
        kill_uid(uid)
    for kind, flag in (("shm", "-m"), ("sem", "-s"), ("msg", "-q")):
        try:
            head, *rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        except FileNotFoundError:  # no SysV IPC table on this system (not Linux)
            continue
        col = head.split().index("uid")
        for row in rows:
            cols = row.split()
            if len(cols) > col and int(cols[col]) == uid:
                found.append(f"SysV {kind} id {cols[1]}")
                subprocess.run(["ipcrm", flag, cols[1]], capture_output=True)
    for d in world_writable_dirs():
        for e in list(os.scandir(d)):
            try:
                if e.stat(follow_symlinks=False).st_uid == uid:
                    found.append(f"file {e.path}")
                    if e.is_dir(follow_symlinks=False):
                        shutil.rmtree(e.path)
                    else:
                        os.unlink(e.path)
            except FileNotFoundError:  # removed meanwhile
                continue
    return found


def kill_uid(uid: int) -> None:
    """SIGKILL every process of `uid` (kill(-1) sent from a child that has become `uid`)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        os._exit(0)
    os.waitpid(pid, 0)


def become_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    return _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def descendants() -> list[int]:
    """PIDs of all live descendants of this process (psutil reads /proc on Linux). A process that
    exits while the tree is read is left out (psutil skips it); any other failure raises, so that
    :func:`kill_descendants` never mistakes "could not look" for "nothing to kill"."""
    import psutil
    return [p.pid for p in psutil.Process().children(recursive=True)]


def kill_descendants(rounds: int = 20) -> int:
    """Kill every descendant (orphans come back to us as subreaper); returns how many."""
    killed = 0
    for _ in range(rounds):
        pids = descendants()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.05)
        reap()
    return killed


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def gpu_count() -> int:
    """NVIDIA GPUs visible to this machine (no torch import, no CUDA context)."""
    vis = os.environ.get("CUDA_VISIBLE_DEVICES")
    if vis is not None:
        return len([d for d in vis.split(",") if d.strip() and d.strip() != "-1"])
    procdir = Path("/proc/driver/nvidia/gpus")
    if procdir.is_dir():
        return len(list(procdir.iterdir()))
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
            return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.TimeoutExpired):
            return 0
    return 0


def total_memory_mb() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError):
        return 8192


def rlimits(*, memory_mb: int, cpu_s: int, fsize_mb: int, nproc: int | None) -> dict:
    lim = {"RLIMIT_CORE": (0, 0), "RLIMIT_CPU": (cpu_s, cpu_s + 30),
           "RLIMIT_FSIZE": (fsize_mb * 2**20, fsize_mb * 2**20)}
    if memory_mb:
        lim["RLIMIT_AS"] = (memory_mb * 2**20, memory_mb * 2**20)
    if nproc:
        lim["RLIMIT_NPROC"] = (nproc, nproc)
    return {k: v for k, v in lim.items() if hasattr(resource, k)}


SAFE_ENV = ("LANG", "LC_ALL", "TZ", "SSL_CERT_FILE")


def kernel_env(*, home: Path, profile: str, data_dir: str, threads: int, gpu: str | None,
               seed: int, pythonpath: list[str], pass_env=()) -> dict:
    """The whole environment a student process sees (nothing inherited by accident)."""
    bindir = os.path.dirname(sys.executable)
    env = {k: os.environ[k] for k in (*SAFE_ENV, *pass_env) if k in os.environ}
    env.update({k: v for k, v in os.environ.items() if k.startswith("COURSE_")})   # course switches
    env.setdefault("LANG", "C.UTF-8")
    env.update({
        "PATH": os.pathsep.join([bindir, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home), "TMPDIR": str(home / "tmp"), "XDG_CACHE_HOME": str(home / ".cache"),
        "MPLCONFIGDIR": str(home / ".mpl"), "IPYTHONDIR": str(home / ".ipython"),
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"), "JUPYTER_DATA_DIR": str(home / ".jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(home / ".jupyter-runtime"),
        "PYTHONHASHSEED": str(seed), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1", "NBGRADER_EXECUTION": "autograde",
        "COURSE_PROFILE": profile, "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
        "CUDA_VISIBLE_DEVICES": gpu if gpu is not None else "",
        "AUTOGRADER": "1",
    })
    if data_dir:
        env["COURSE_DATA_DIR"] = data_dir
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    return env


def make_home(path: Path, uid: int | None) -> Path:
    """A private, writable HOME (and TMPDIR) owned by the sandbox uid."""
    for sub in ("", "tmp", ".cache", ".mpl", ".ipython", ".jupyter", ".jupyter-data", ".jupyter-runtime"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    chown_tree(path, uid)
    return path


def chown_tree(path: Path, uid: int | None) -> None:
    if uid is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, uid)
        for name in files:
            os.chown(os.path.join(root, name), uid, uid)
