"""Attacks on the harness itself, graded in one class next to honest students (the fixture
assignment, tests/fixtures/grading/): files the harness reads made endless, a pipe or a link;
disk, /tmp and shared-memory fillers; a SysV shared-memory segment and a lock file planted for
the next student; output floods; an oversized notebook; a hand-in whose loading stalls; a cell
that sleeps forever. Each must end as a clear status in bounded time with no forged point,
leave nothing behind, keep the harness's memory bounded, and leave the honest students'
results exactly as they are when graded alone. Kernels run, so `slow`; strict sandbox only
(Linux, root), as CI has."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import REPO_ROOT
from autograder import sandbox as sb
from autograder.examples import make_demo
from autograder.nbinfo import grade_id

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sb.probe("strict")[0], reason="needs the strict sandbox (Linux, root)")]
FIXTURE_SRC = REPO_ROOT / "tests" / "fixtures" / "grading" / "source"
AID = "fixture_basic"
FULL = 8.0        # 1 + 2 + 2 TODO points + 3 for the post-grade gate
QUOTA_MB, TMP_MB, MAX_NB_MB, STALL_S, CELL_CPU_S = 64, 32, 4, 10, 15
SHM_KEY = 0x5EED

GUARD_REPORT = "import json, os\nREPORT = json.load(open(os.path.expanduser('~/guard.json')))['report']\n"

ATTACKS = {
    # the in-kernel guard's report is the one file the harness reads back after the kernel
    "fifo_report": GUARD_REPORT + "os.remove(REPORT) if os.path.exists(REPORT) else None\nos.mkfifo(REPORT)\n",
    "zero_report": GUARD_REPORT + "os.remove(REPORT) if os.path.exists(REPORT) else None\n"
                                  "os.symlink('/dev/zero', REPORT)\n",
    "huge_report": GUARD_REPORT + "with open(REPORT + '.big', 'wb') as f:\n"
                                  "    f.write(b'[' * (40 << 20))\n"
                                  "os.replace(REPORT + '.big', REPORT)\n"
                                  "os.chmod(REPORT, 0o400)  # the guard cannot overwrite it any more\n",
    "disk_filler": "import os\nn = 0\ntry:\n"
                   "    with open('filler.bin', 'wb') as f:\n"
                   "        for _ in range(1024):\n"
                   "            f.write(b'x' * (1 << 20)); f.flush(); n += 1\n"
                   "except OSError as e:\n    print('disk full:', e.errno)\n"
                   "print(f'FILLED_WORK {n} MB')\n",
    "tmp_filler": "import os\nfor d in ('/dev/shm', '/tmp', '/var/tmp', '/run/lock'):\n"
                  "    n = 0\n"
                  "    try:\n"
                  "        with open(os.path.join(d, 'filler.bin'), 'wb') as f:\n"
                  "            for _ in range(1024):\n"
                  "                f.write(b'x' * (1 << 20)); f.flush(); n += 1\n"
                  "    except OSError as e:\n        pass\n"
                  "    print(f'FILLED {d} {n} MB')\n",
    "ipc_1_plant": "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                   "libc.shmat.restype = ctypes.c_void_p\n"
                   f"sid = libc.shmget({SHM_KEY}, 4096, 0o1000 | 0o666)\n"
                   "addr = libc.shmat(sid, None, 0)\n"
                   "ctypes.memmove(addr, b'PLANTED answers for TODO 1-9', 28)\n"
                   "print('planted segment', sid)\n"
                   "for p in ('/run/lock/planted', '/tmp/planted', '/dev/shm/planted', '/var/tmp/planted'):\n"
                   "    try:\n        open(p, 'w').write('PLANTED')\n    except OSError as e:\n        print(p, e)\n",
    "ipc_2_reader": "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                    f"sid = libc.shmget({SHM_KEY}, 0, 0)\n"
                    "found = [] if sid < 0 else ['segment']\n"
                    "found += [p for p in ('/run/lock/planted', '/tmp/planted', '/dev/shm/planted', '/var/tmp/planted')"
                    " if os.path.exists(p)]\n"
                    "print('READER FOUND', found or 'nothing')\n",
    "stdout_flood": "import sys, time\nfor _ in range(40):\n    print('B' * (1 << 20), flush=True)\n"
                    "sys.stdout.write('A' * (200 << 20) + '\\n'); sys.stdout.flush()\n",
    "model_fifo": "import os\nos.remove('model.json')\nos.mkfifo('model.json')\n",
    "sleeper": "import time\ntime.sleep(10 ** 6)\n",
}


def _with_cell(nb, code: str, after: str | None = None):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    at = len(nb.cells) if after is None else [grade_id(c) for c in nb.cells].index(after) + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell(code))
    return nb


def _grade(root: Path, out: Path, workers: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "autograder", "grade", str(root), "--source", str(FIXTURE_SRC), "--profile", "smoke",
           "--cell-timeout", str(CELL_CPU_S), "--stall-timeout", str(STALL_S), "--work-quota-mb", str(QUOTA_MB),
           "--tmp-quota-mb", str(TMP_MB), "--max-notebook-mb", str(MAX_NB_MB), "--quiet", "--out", str(out),
           "--workers", str(workers), "--sandbox", "strict"]
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200)


def _results(out: Path) -> dict:
    return {json.loads(p.read_text())["student"]: json.loads(p.read_text()) for p in (out / "results").glob("*/*.json")}


def _outputs(out: Path, student: str) -> list:
    nb = nbformat.read(out / "autograded" / student / AID / f"{AID}.ipynb", as_version=4)
    return [[{k: o.get(k) for k in ("output_type", "name", "text", "data")} for o in c.get("outputs", [])]
            for c in nb.cells if c.cell_type == "code"]


def _text(out: Path, student: str) -> str:
    return "\n".join(str(o.get("text", "")) for cell in _outputs(out, student) for o in cell)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    source, release = make_demo.source_and_release(AID, root / "cache", FIXTURE_SRC)
    honest = make_demo.complete(source, release)
    alone, klass = root / "alone" / "submitted", root / "class" / "submitted"
    for folder in (alone, klass):
        make_demo.write_variant(folder / "honest" / AID / f"{AID}.ipynb", honest)
    for name, code in ATTACKS.items():
        nb = _with_cell(honest, code, after="export" if name == "disk_filler" else None)
        make_demo.write_variant(klass / name / AID / f"{AID}.ipynb", nb)
    big = _with_cell(honest, "# padding\n" + "#" * (MAX_NB_MB << 20) + "\n")
    make_demo.write_variant(klass / "oversize" / AID / f"{AID}.ipynb", big)
    make_demo.write_variant(klass / "zz_honest_after" / AID / f"{AID}.ipynb", honest)

    base = _grade(root / "alone", root / "out-alone")
    assert base.returncode == 0, base.stdout + base.stderr
    t0 = time.monotonic()
    proc = _grade(root / "class", root / "out-class")
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"alone": root / "out-alone", "out": root / "out-class", "proc": proc, "seconds": seconds,
            "res": _results(root / "out-class"), "base": _results(root / "out-alone")}


def test_every_attack_gets_a_clear_status_and_no_forged_point(graded):
    res = graded["res"]
    want = {  # student: (status, score)
        "honest": ("graded", FULL), "zz_honest_after": ("graded", FULL),
        "fifo_report": ("graded", FULL), "zero_report": ("graded", FULL), "huge_report": ("graded", FULL),
        "disk_filler": ("graded", FULL), "tmp_filler": ("graded", FULL),
        "ipc_1_plant": ("graded", FULL), "ipc_2_reader": ("graded", FULL), "stdout_flood": ("graded", FULL),
        "model_fifo": ("graded", FULL - 3),           # the stalled hand-in loses the gate, nothing else
        "sleeper": ("timed out", FULL),                # the sleep is after the last test: all earned before
        "oversize": ("not a notebook", 0.0),
    }
    got = {s: (r["status"], r["score"]) for s, r in res.items()}
    assert got == want, got
    assert "not a regular file" in str(res["fifo_report"]["notes"]["tampering_restored"])
    assert "guard report unreadable" in str(res["zero_report"]["notes"]["tampering_restored"])
    assert "limit" in str(res["huge_report"]["notes"]["tampering_restored"])
    assert f"over the {MAX_NB_MB} MB limit" in res["oversize"]["detail"]
    assert "no progress" in res["sleeper"]["detail"], res["sleeper"]["detail"]
    gate = res["model_fifo"]["notes"]["post_grade"][0]
    assert gate["passed"] is False and "no progress" in gate["message"], gate
    # bounded time: every submission well under the stall and CPU limits' multiples
    for s, r in res.items():
        assert (r["timing"].get("total_s") or 0) < 120, (s, r["timing"])


def test_fillers_hit_their_quotas(graded):
    out = graded["out"]
    n = int(_text(out, "disk_filler").split("FILLED_WORK ")[1].split()[0])
    assert n < QUOTA_MB, n
    text = _text(out, "tmp_filler")
    for d in ("/dev/shm", "/tmp", "/var/tmp", "/run/lock"):
        mb = int(text.split(f"FILLED {d} ")[1].split()[0])
        assert mb <= TMP_MB, (d, mb)


def test_nothing_is_shared_between_students_or_left_behind(graded):
    assert "READER FOUND nothing" in _text(graded["out"], "ipc_2_reader")
    shm = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    assert not [row for row in shm if int(row.split()[0]) == SHM_KEY], shm
    for p in ("/run/lock/planted", "/tmp/planted", "/dev/shm/planted", "/var/tmp/planted"):
        assert not Path(p).exists(), p
    assert not [p for p in sb.world_writable_dirs() if (Path(p) / "filler.bin").exists()]


def test_output_floods_are_capped_and_the_harness_memory_bounded(graded):
    res, out = graded["res"], graded["out"]
    flood = res["stdout_flood"]
    assert flood["notes"].get("output_truncated"), flood["notes"]
    nb_path = out / "autograded" / "stdout_flood" / AID / f"{AID}.ipynb"
    assert nb_path.stat().st_size < 16 * 2**20, nb_path.stat().st_size      # 10 MB per cell + the rest
    assert "A" * 1000 not in nb_path.read_text()                            # the 200 MB message never arrived
    fb = out / flood["files"]["feedback"]
    assert fb.stat().st_size < 16 * 2**20
    peak = max(r["timing"].get("harness_peak_rss_mb") or 0 for r in res.values())
    print(f"harness peak RSS over the attack class: {peak:.0f} MB")
    assert peak < 600, peak


def test_honest_students_are_unaffected(graded):
    base, res = graded["base"]["honest"], graded["res"]
    for who in ("honest", "zz_honest_after"):
        r = res[who]
        assert (r["status"], r["score"], r["tests"]) == (base["status"], base["score"], base["tests"])
        assert _outputs(graded["out"], who) == _outputs(graded["alone"], "honest")
