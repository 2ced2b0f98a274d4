"""The grading harness end to end on the fixture class (tests/fixtures/grading/):

every status, the expected score of every student, adversarial submissions (files, processes,
network, monkeypatching, a faked gate), grading twice gives identical grades, and an
interrupted run resumes without regrading what is done. Kernels run, so these are `slow`
(about two minutes on 2 CPU cores)."""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
import signal
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

pytestmark = pytest.mark.slow
FIXTURE_SRC = REPO_ROOT / "tests" / "fixtures" / "grading" / "source"
AID = "fixture_basic"
STRICT = sb.probe("strict")[0]

GATE_FAKER = '''
# Fake the gate: garbage model on disk, a patched gate in the kernel, a fake report.
import json, fixture_gate
json.dump({"w": 0.0, "b": 0.0}, open("model.json", "w"))
json.dump({"passed": True}, open("gate_report.json", "w"))
fixture_gate.gate = lambda *a, **k: {"passed": True}
'''


def grade_cli(*args, check=True, **kw):
    cmd = [sys.executable, "-m", "autograder", "grade", "--source", str(FIXTURE_SRC), "--profile", "smoke",
           "--cell-timeout", "15", "--quiet", *map(str, args)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, **kw)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def read_grades(out: Path) -> dict:
    with open(out / "grades.csv") as f:
        return {(r["student"], r["assignment"]): r for r in csv.DictReader(f)}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """The fixture class: the demo variants + a gate faker, graded once with 2 workers."""
    root = tmp_path_factory.mktemp("class")
    variants = tuple(v for v in make_demo.FULL_SET if (STRICT or v not in make_demo.NEEDS_STRICT)
                     and v not in make_demo.NEEDS_REQUIRE)   # the fixture's tests are plain asserts
    exp = make_demo.make_class(root, FIXTURE_SRC, [AID], variants=variants, cache=root / "cache")
    source, release = make_demo.source_and_release(AID, root / "cache", FIXTURE_SRC)
    faker = make_demo.complete(source, release)
    at = [grade_id(c) for c in faker.cells].index("export") + 1
    faker.cells.insert(at, nbformat.v4.new_code_cell(GATE_FAKER.strip()))
    make_demo.write_variant(root / "submitted" / "gate_faker" / AID / f"{AID}.ipynb", faker)
    exp["students"].append({"student": "gate_faker", "assignment": AID, "status": "graded", "score": 5.0,
                            "why": "gate decided out of process"})
    (root / "roster.csv").write_text((root / "roster.csv").read_text() + f"gate_faker,{AID}\n")
    originals = {p: sha(p) for p in (root / "submitted").rglob("*") if p.is_file()}
    protected = {p: sha(p) for p in [*FIXTURE_SRC.rglob("*"), *(REPO_ROOT / "helpers").rglob("*.pt")] if p.is_file()}
    out = root / "out"
    t0 = time.monotonic()
    proc = grade_cli(root, "--roster", root / "roster.csv", "--out", out, "--workers", 2)
    return {"root": root, "out": out, "expected": exp, "proc": proc, "originals": originals,
            "protected": protected, "seconds": time.monotonic() - t0}


def results(out: Path) -> dict:
    res = {}
    for p in (out / "results").glob("*/*.json"):
        r = json.loads(p.read_text())
        res[r["student"]] = r
    return res


def test_every_student_gets_the_expected_status_and_score(klass):
    got = read_grades(klass["out"])
    for e in klass["expected"]["students"]:
        row = got[(e["student"], e["assignment"])]
        assert (row["status"], float(row["score"])) == (e["status"], e["score"]), (e, row)
    assert len(got) == len(klass["expected"]["students"])
    summary = klass["proc"].stdout
    assert "lost points per TODO" in summary and "kernel crashed" in summary


def test_statuses_say_where_and_why(klass):
    res = results(klass["out"])
    assert "fit_line_solution" in res["crash"]["detail"] and "status 1" in res["crash"]["detail"]
    assert "fit_line_solution" in res["loop"]["detail"] and "15 s" in res["loop"]["detail"]
    assert res["deleted_test"]["notes"]["restored_deleted"] == ["test_add"]
    assert set(res["edited_test"]["notes"]["restored_edited"]) == {"test_fit_line", "test_gate"}
    assert res["corrupt"]["detail"].startswith("corrupt notebook JSON")
    assert {t["status"] for t in res["stderr"]["tests"]} == {"passed"}
    for name in ("complete", "partial"):
        fb = klass["out"] / res[name]["files"]["feedback"]
        assert fb.exists() and "add(-1, 1)" not in fb.read_text()      # hidden tests stay hidden
    gs = json.loads((klass["out"] / "gradescope" / AID / "partial" / "results.json").read_text())
    assert gs["score"] == 3.0 and len(gs["tests"]) == 4


def test_monkeypatching_earns_nothing_and_is_reported(klass):
    res = results(klass["out"])
    cheat = res["cheater"]
    assert cheat["score"] == 0.0
    assert {"numpy.allclose", "IPython input_transformers_post"} <= set(cheat["notes"]["tampering_restored"])
    faker = res["gate_faker"]
    gate = next(t for t in faker["tests"] if t["grade_id"] == "test_gate")
    assert gate["in_kernel"]["status"] == "passed"            # the patched gate fooled the kernel...
    assert gate["points"] == 0.0 and gate["post_grade"]       # ...not the out-of-process check
    assert faker["score"] == 5.0


def test_originals_and_protected_files_are_untouched(klass):
    for p, h in {**klass["originals"], **klass["protected"]}.items():
        assert sha(p) == h, f"{p} changed"


@pytest.mark.skipif(not STRICT, reason="the strict sandbox (Linux, root) is not available here")
def test_vandal_could_damage_nothing(klass):
    res = results(klass["out"])
    assert res["vandal"]["status"] == "graded" and res["vandal"]["score"] == 8.0
    nb = json.loads((klass["out"] / res["vandal"]["files"]["autograded"]).read_text())
    out = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "files I could damage: 0" in out and "network: reachable" not in out
    assert not Path("/tmp/vandal-was-here").exists()          # its daemon died with it, /tmp was private
    assert "VANDALISED" not in (klass["out"] / "grades.csv").read_text()


def test_sandbox_strict_blocks_writes_network_and_hidden_paths(tmp_path):
    if not STRICT:
        pytest.skip("the strict sandbox (Linux, root) is not available here")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "answers.txt").write_text("42")
    target = REPO_ROOT / "autograder" / "__init__.py"
    with sb.UidSlot() as slot:
        spec = sb.spec_for("strict", uid=slot.uid, hide=[str(secret)], stage=str(tmp_path),
                           needed=[str(tmp_path)])
        spec["env"] = {"PATH": "/usr/bin:/bin"}
        code = ("import os, socket\n"
                f"try:\n open({str(target)!r}, 'a').write('#')\n print('WROTE')\nexcept OSError: print('no write')\n"
                f"print('visible' if os.path.exists({str(secret / 'answers.txt')!r}) else 'hidden')\n"
                "try:\n socket.create_connection(('1.1.1.1', 53), timeout=2); print('NET')\nexcept OSError: print('no net')\n"
                "try:\n os.kill(1, 9); print('KILLED')\nexcept OSError: print('no kill')\n")
        res = sb.run_launcher(spec, [sys.executable, "-I", "-c", code])
    assert res.stdout.split() == ["no", "write", "hidden", "no", "net", "no", "kill"], res.stdout + res.stderr


def test_regrading_gives_identical_grades(klass, tmp_path):
    again = grade_cli(klass["root"], "--roster", klass["root"] / "roster.csv", "--out", klass["out"])
    assert "cached" in again.stdout                               # resume: nothing regraded
    fresh = tmp_path / "fresh"
    grade_cli(klass["root"], "--roster", klass["root"] / "roster.csv", "--out", fresh, "--workers", 2, "--no-resume")
    for name in ("grades.csv", "grades_by_test.csv"):
        assert (fresh / name).read_bytes() == (klass["out"] / name).read_bytes()


def test_strict_flag_fails_on_non_graded(klass, tmp_path):
    proc = grade_cli(klass["root"], "--out", klass["out"], "--strict", check=False)
    assert proc.returncode == 1


def test_interrupted_run_resumes_without_regrading(tmp_path, klass):
    sub = tmp_path / "in" / "submitted"
    for name in ("complete", "blank", "partial", "stderr", "loop"):
        shutil.copytree(klass["root"] / "submitted" / name, sub / name)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "autograder", "grade", str(tmp_path / "in"), "--source", str(FIXTURE_SRC),
           "--profile", "smoke", "--cell-timeout", "20", "--quiet", "--out", str(out)]
    # default SIGINT handling in the child: a test run started in the background by a
    # non-interactive shell inherits SIGINT as *ignored*, and the run would then never stop
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list((out / "results").glob("*/*.json"))) < 2:
        time.sleep(0.2)
    assert proc.poll() is None, "the grading run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    done_before = {p.name: p.stat().st_mtime for p in (out / "results").glob("*/*.json")}
    assert proc.returncode == 130 and "resume" in err, err
    assert 2 <= len(done_before) < 5
    proc2 = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc2.returncode == 0, proc2.stderr
    grades = read_grades(out)
    assert {k[0]: v["status"] for k, v in grades.items()} == {
        "complete": "graded", "blank": "graded", "partial": "graded", "stderr": "graded", "loop": "timed out"}
    for name, mtime in done_before.items():     # finished results were reused, not regraded
        assert (next((out / "results").glob(f"*/{name}"))).stat().st_mtime == mtime
    assert proc2.stdout.count("cached") == len(done_before)


def test_basic_sandbox_still_grades(tmp_path, klass):
    sub = tmp_path / "flat"
    sub.mkdir()
    for name in ("complete", "crash", "stderr"):
        (sub / f"{name}__{AID}.ipynb").write_bytes((klass["root"] / "submitted" / name / AID / f"{AID}.ipynb").read_bytes())
    grade_cli(sub, "--out", tmp_path / "out", "--sandbox", "basic", "--workers", 2)
    got = {k[0]: (v["status"], float(v["score"])) for k, v in read_grades(tmp_path / "out").items()}
    assert got == {"complete": ("graded", 8.0), "crash": ("kernel crashed", 3.0), "stderr": ("graded", 8.0)}
