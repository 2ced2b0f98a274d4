"""Fast tests of the grading harness's parts (no kernels): metadata, restore, collect, scoring,
reports, feedback, release bundles, the CLI."""
from __future__ import annotations

import copy
import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import EXAMPLES_DIR, REPO_ROOT
from autograder.collect import collect, extract_zip, missing
from autograder.examples import make_demo
from autograder.nbinfo import grade_id, read_notebook_bytes
from autograder.release import build_bundle, release, student_copy
from autograder.report import histogram, summary_text, write_all
from autograder.restore import repair
from autograder.scoring import apply_post_grade, score_cells, total
from autograder.settings import Settings

FIXTURE_SRC = REPO_ROOT / "tests" / "fixtures" / "grading" / "source"
AID = "fixture_basic"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="module")
def bundle(cache):
    return build_bundle(AID, cache, FIXTURE_SRC)


@pytest.fixture(scope="module")
def nbs(bundle):
    return (nbformat.read(bundle.source_notebook, as_version=4),
            nbformat.read(bundle.release_notebook, as_version=4))


def test_bundle_items_points_and_todos(bundle):
    items = {i["grade_id"]: i for i in bundle.info["items"]}
    assert bundle.info["max_score"] == 8
    assert {k: v["points"] for k, v in items.items()} == {"test_add": 1, "test_mean_square": 2,
                                                            "test_fit_line": 2, "test_gate": 3}
    assert items["test_gate"]["todo"] == "fit_line_solution"
    assert items["test_add"]["label"].startswith("TODO 1")


def test_release_copy_has_no_solutions_hidden_tests_or_outputs(bundle, cache, tmp_path):
    nb = student_copy(bundle)
    text = nbformat.writes(nb)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "np.polyfit" not in text
    # every stub names its TODO (release.name_stubs), none is left bare
    assert "raise NotImplementedError('TODO 1: replace this line with your code')" in text
    assert "raise NotImplementedError()" not in text
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in nb.cells)
    kw = {"source_dir": FIXTURE_SRC, "out_dir": tmp_path, "cache": cache}
    assert release([AID], **kw) == [AID]
    assert release([AID], check=True, **kw) == []   # deterministic
    (tmp_path / f"{AID}.ipynb").write_text("{}")
    assert release([AID], check=True, **kw) == [AID]


def test_read_notebook_bytes_reasons():
    for data, why in ((b"", "empty"), (b"\xff\xfe\x00", "UTF-8"), (b"{ not json", "corrupt"),
                      (b'{"cells": 3, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "cells|corrupt")):
        with pytest.raises(ValueError, match=why):
            read_notebook_bytes(data)
    nb = read_notebook_bytes(nbformat.writes(nbformat.v4.new_notebook()).encode())
    assert nb.cells == []


def test_repair_restores_deleted_and_reports_edited_locked_cells(nbs):
    source, release_nb = nbs
    sub = make_demo.complete(source, release_nb)
    cell = {grade_id(c): c for c in sub.cells if grade_id(c)}
    cell["test_mean_square"].source = "pass"                         # edited test
    cell["fit_line_solution"].metadata.nbgrader["points"] = 99       # tampered points
    sub.cells.remove(cell["test_add"])                               # deleted test
    extra = nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {"grade": True, "grade_id": "bonus",
                                                                      "points": 100, "locked": True}})
    sub.cells.append(extra)                                           # invented graded cell
    fixed, notes = repair(copy.deepcopy(sub), source, release_nb)
    new_ids = [grade_id(c) for c in fixed.cells]
    assert notes["restored_deleted"] == ["test_add"]
    assert new_ids.index("test_add") == new_ids.index("add_solution") + 1    # back after its neighbour
    assert "HIDDEN TESTS" in fixed.cells[new_ids.index("test_add")].source   # hidden tests come along
    assert notes["restored_edited"] == ["test_mean_square"]
    assert notes["ignored_cells"] == ["bonus"] and "bonus" not in new_ids
    assert "fit_line_solution" in notes["repaired_metadata"]
    assert "points" not in fixed.cells[new_ids.index("fit_line_solution")].metadata.nbgrader


def _fake_nb(items):
    cells = [nbformat.v4.new_code_cell("x", metadata={"nbgrader": {"grade_id": i["grade_id"], "grade": True,
                                                                    "points": i["points"], "locked": True}})
             for i in items]
    return nbformat.v4.new_notebook(cells=cells)


def test_scoring_uses_replies_not_outputs(bundle):
    items = bundle.info["items"]
    nb = _fake_nb(items)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text="UserWarning: noise")]
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "0.5"}, execution_count=1)]
    replies = {0: {"status": "ok"}, 1: {"status": "ok"},
               2: {"status": "error", "ename": "AssertionError", "evalue": "wrong"}}
    tests = score_cells(items, nb, replies, ("kernel crashed", 2, "died"))
    assert [t["points"] for t in tests] == [1.0, 2.0, 0.0, 0.0]     # stderr and a shown 0.5 cost nothing
    assert tests[3]["status"] == "not run" and "kernel crashed" in tests[3]["message"]
    partial = score_cells(items, nb, replies, None, partial_credit=True)
    assert partial[1]["points"] == 0.5 and partial[1]["status"] == "partial"
    tests = apply_post_grade(tests, [{"grade_id": "test_gate", "passed": True, "message": "ok"},
                                     {"grade_id": "extra_check", "points": 2, "passed": False, "message": "no"}])
    assert tests[3]["points"] == 3.0 and tests[3]["in_kernel"]["status"] == "not run"
    assert total(tests) == (6.0, 10.0)


def test_settings_fingerprint():
    a, b = Settings(profile="smoke"), Settings(profile="smoke", memory_mb=123)
    assert a.fingerprint() == b.fingerprint() != Settings(profile="full").fingerprint()
    assert Settings(profile="smoke").cell_timeout <= Settings(profile="smoke").notebook_timeout


def _write(path: Path, text="{}"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_collect_layouts_zip_and_missing(tmp_path, nbs):
    source, release_nb = nbs
    nbtext = nbformat.writes(make_demo.blank(source, release_nb))
    nbg = tmp_path / "class"
    _write(nbg / "submitted" / "ann" / AID / f"{AID}.ipynb", nbtext)
    _write(nbg / "submitted" / "bob" / AID / "renamed.ipynb", nbtext)
    (nbg / "submitted" / "cat").mkdir(parents=True)                     # a student with nothing
    col = collect(nbg, assignments=[AID])
    assert sorted((s.student, s.assignment) for s in col.submissions) == [("ann", AID), ("bob", AID)]
    assert missing(col.submissions, col.students, None) == [("cat", AID)]
    (tmp_path / "per_assignment.csv").write_text(f"student,assignment\nann,{AID}\nzed,{AID}\nyan,other\n")
    col = collect(nbg, assignments=[AID], roster=tmp_path / "per_assignment.csv")
    assert missing(col.submissions, col.students, None, col.roster) == [("zed", AID)]

    flat = tmp_path / "flat"
    _write(flat / f"dan__{AID}.ipynb", nbtext)
    _write(flat / "eve__whatever.ipynb", nbtext)
    _write(flat / "fay__report.pdf", "%PDF")
    _write(flat / "noname.ipynb", nbtext)
    (tmp_path / "roster.csv").write_text("student\ndan\neve\nfay\ngus\n")
    col = collect(flat, assignments=[AID], roster=tmp_path / "roster.csv")
    got = {s.student: (s.assignment, s.how) for s in col.submissions}
    assert got["dan"] == (AID, "flat+name") and got["eve"] == (None, "flat+content")
    assert got["fay"][0] is None and col.skipped == ["noname.ipynb"] and "gus" in col.students

    zpath = tmp_path / "lms.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr(f"export/dan__{AID}.ipynb", nbtext)
        zf.writestr("../../evil__x.ipynb", nbtext)          # path traversal: ignored
        zf.writestr("__MACOSX/._dan", "junk")
    root = extract_zip(zpath, tmp_path / "unz")
    assert not (tmp_path / "evil__x.ipynb").exists()
    col = collect(root, assignments=[AID])
    assert [s.student for s in col.submissions] == ["dan"]


def test_reports_are_deterministic(tmp_path):
    res = [{"student": s, "assignment": AID, "score": sc, "max_score": 3.0, "status": st, "detail": "",
            "tests": [{"grade_id": "t1", "todo": "a", "label": "TODO 1", "points": sc, "max_points": 3.0,
                       "status": "passed" if sc == 3 else "failed", "message": ""}],
            "timing": {"total_s": 1.0 + i}, "notes": {}}
           for i, (s, sc, st) in enumerate([("b", 3.0, "graded"), ("a", 0.0, "graded")])]
    write_all(res, tmp_path / "one")
    write_all(list(reversed(res)), tmp_path / "two")
    assert (tmp_path / "one" / "grades.csv").read_bytes() == (tmp_path / "two" / "grades.csv").read_bytes()
    rows = list(csv.DictReader(io.StringIO((tmp_path / "one" / "grades.csv").read_text())))
    assert [r["student"] for r in rows] == ["a", "b"]
    assert histogram(res)[AID] == [("TODO 1", 3.0, 1, 3.0)]
    assert "lost points per TODO" in summary_text(res)
    gs = json.loads((tmp_path / "one" / "gradescope" / AID / "a" / "results.json").read_text())
    assert gs["score"] == 0.0 and gs["tests"][0]["max_score"] == 3.0


def test_feedback_hides_hidden_tests(nbs):
    from autograder.feedback import render
    source, release_nb = nbs
    executed = copy.deepcopy(source)
    i = [grade_id(c) for c in executed.cells].index("test_add")
    executed.cells[i].outputs = [nbformat.v4.new_output(
        "error", ename="AssertionError", evalue="", traceback=["----> 4 assert add(-1, 1) == 0", "AssertionError"])]
    res = {"assignment": AID, "status": "graded", "detail": "", "score": 0.0, "max_score": 8.0, "notes": {},
           "tests": [{"grade_id": "test_add", "label": "TODO 1", "points": 0.0, "max_points": 1.0,
                      "status": "failed", "message": "AssertionError"}]}
    html = render(executed, res, source)
    assert "add(-1, 1)" not in html and "HIDDEN" not in html
    assert "raised inside a hidden test" in html and "Score: 0" in html


def test_cli_help():
    out = subprocess.run([sys.executable, "-m", "autograder", "grade", "--help"], capture_output=True, text=True,
                         cwd=REPO_ROOT)
    assert out.returncode == 0 and "--workers" in out.stdout and "--strict" in out.stdout


def test_slots_one_worker_per_gpu_else_cpu_shares():
    from autograder.pool import plan_slots
    assert [s["gpu"] for s in plan_slots(None, 2)] == ["0", "1"]
    assert [s["gpu"] for s in plan_slots(3, 2)] == ["0", "1", "0"]
    assert all(s["gpu"] is None for s in plan_slots(2, 0)) and len(plan_slots(2, 0)) == 2
    assert all(s["gpu"] is None for s in plan_slots(None, 4, device="cpu"))


def test_post_grade_check_failures_are_reported_not_raised(tmp_path):
    import os
    from autograder.post_grade import run_check
    src = tmp_path / "src"
    src.mkdir()
    (src / "checks.py").write_text(
        "import time\n"
        "def ok(workdir, x=0):\n    return {'passed': x == 1, 'message': f'x={x}', 'fraction': None}\n"
        "def boom(workdir):\n    raise RuntimeError('broken check')\n"
        "def slow(workdir):\n    time.sleep(30)\n"
        "def bad(workdir):\n    return 42\n")
    spec = {"env": {"PATH": os.environ["PATH"]}}
    kw = {"workdir": tmp_path, "source_copy": src, "launcher_spec": spec, "priv": tmp_path, "uid": None}
    assert run_check({"grade_id": "a", "callable": "checks:ok", "kwargs": {"x": 1}}, **kw)["passed"] is True
    r = run_check({"grade_id": "b", "callable": "checks:boom"}, **kw)
    assert r["passed"] is False and "broken check" in r["message"]
    r = run_check({"grade_id": "c", "callable": "checks:slow", "timeout": 1}, **kw)
    assert r["passed"] is False and "timed out" in r["message"]
    r = run_check({"grade_id": "d", "callable": "checks:bad"}, **kw)
    assert r["passed"] is False and "dict" in r["message"]


def test_instructor_run_outputs_never_enter_the_bundle(tmp_path, bundle):
    """Running 06 in its source folder leaves assessment_model.pt2 (and a gate report) there. Copied
    into students' working folders it would be graded as theirs by the out-of-process gate; it must
    stay out of the bundle, its hash and the post-grade max score."""
    import shutil

    from autograder.release import is_output, source_hash
    src = tmp_path / "src"
    shutil.copytree(FIXTURE_SRC / AID, src / AID)
    clean_hash = source_hash(src, AID)
    for name in ("assessment_model.pt2", "assessment_model.pt2.gate.json", "train.ckpt", ".ipynb_checkpoints"):
        (src / AID / name).write_bytes(b"instructor's own output")
    assert source_hash(src, AID) == clean_hash
    b = build_bundle(AID, tmp_path / "cache", src)
    assert b.hash == bundle.hash and b.info["max_score"] == bundle.info["max_score"]
    assert not any(is_output(p.name) for p in b.source_folder.rglob("*")), list(b.source_folder.iterdir())
    assert not is_output("fixture_gate.py") and not is_output("post_grade.json")


def test_reference_calls_are_found_in_answers_and_never_in_the_solutions():
    """An answer that calls the helpers twin of its own TODO is reported; no instructor solution
    is (they use other helpers, e.g. ddpm.extract, and subclass earlier blocks)."""
    import copy

    import nbformat

    from autograder import SOURCE_DIR, assignments
    from autograder import reference_calls as rc
    from autograder.nbinfo import grade_id, is_solution
    for a in assignments.discover():
        nb = nbformat.read(a.notebook, as_version=4)
        todos = [grade_id(c) for c in nb.cells if is_solution(c)]
        assert rc.find(nb, nb, todos, a.twins) == {}, a.id
    src = nbformat.read(SOURCE_DIR / "02_diffusion_models" / "02_diffusion_models.ipynb", as_version=4)
    todos = [grade_id(c) for c in src.cells if is_solution(c)]
    answers = {
        "todo2_q_sample": ("from helpers.ddpm import q_sample\n", ["imports helpers.ddpm.q_sample"]),
        "todo3_p_sample": ("def p_sample(x_t, t, eps, sched, noise=None):\n"
                           "    return ddpm.p_sample(x_t, t, eps, sched, noise=noise)\n", ["uses helpers.ddpm.p_sample"]),
        "todo4_time_unet": ("import helpers.unet as U\nclass TimeUNet(U.TimeUNet):\n    pass\n",
                            ["uses helpers.unet.TimeUNet"]),
        "todo5_noise_loss": ("def noise_loss(eps_fn, x0, sched, t, noise):\n"  # its own code: not reported
                             "    return ((eps_fn(ddpm.q_sample(x0, t, sched, noise), t) - noise) ** 2).mean()\n", None),
    }
    cheat = copy.deepcopy(src)
    for c in cheat.cells:
        if grade_id(c) in answers:
            c.source = answers[grade_id(c)][0]
    got = rc.find(cheat, src, todos)
    assert got == {k: v for k, (_, v) in answers.items() if v}, got
    demo = nbformat.read(EXAMPLES_DIR / "submitted" / "reference_call" / "02_diffusion_models" /
                         "02_diffusion_models.ipynb", as_version=4)
    assert rc.find(demo, src, todos) == {"todo2_q_sample": ["uses helpers.ddpm.q_sample"]}


def test_budget_counts_cpu_time_not_wall_time():
    """autograder/budget.py: a spinning process is stopped for its CPU time, a sleeping one for
    making no progress, and CPU used by a child counts for its parent."""
    import subprocess
    import sys
    import time

    from autograder.budget import Budget, Watch, tree_cpu_seconds

    def run(code, budget):
        import os
        import signal
        p = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        w = Watch(p.pid, budget)
        t0 = time.monotonic()
        try:
            while True:
                why = w.check()
                if why or p.poll() is not None:
                    return why, time.monotonic() - t0, w.cpu_used
                time.sleep(0.1)
        finally:
            os.killpg(p.pid, signal.SIGKILL)   # the child's own child too
            p.wait()

    why, secs, cpu = run("while True: pass", Budget(cpu_s=1.5, wall_s=60, stall_s=30))
    assert why and "CPU time" in why and cpu > 1.5 and secs < 30, (why, secs, cpu)
    why, secs, _ = run("import time; time.sleep(60)", Budget(cpu_s=30, wall_s=60, stall_s=2))
    assert why and "no progress" in why and 2 <= secs < 10, (why, secs)
    child = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'while True: pass'])"
    why, _, cpu = run(child, Budget(cpu_s=1.5, wall_s=60, stall_s=30))
    assert why and "CPU time" in why, (why, cpu)
    assert tree_cpu_seconds(2 ** 22 + 12345) == 0.0   # no such process


def test_notebook_runner_limits_cpu_not_wall(tmp_path):
    """tests/nbtools.py runs notebooks with the same rule: a 2 s sleep passes a 1 CPU-second
    limit (a busy machine cannot time out an honest cell), a busy loop does not."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError

    import nbtools
    ok = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(2)\nprint('done')")])
    nbformat.write(ok, tmp_path / "ok.ipynb")
    nb = nbtools.execute(tmp_path / "ok.ipynb", timeout=1, cwd=tmp_path)
    assert "done" in nb.cells[0].outputs[0]["text"]
    spin = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("while True:\n    pass")])
    nbformat.write(spin, tmp_path / "spin.ipynb")
    with pytest.raises(CellTimeoutError, match="CPU time"):
        nbtools.execute(tmp_path / "spin.ipynb", timeout=2, cwd=tmp_path)


def test_the_kernel_folder_gets_no_grader_file(tmp_path):
    """The student's kernel starts in a folder with the files that sit next to the notebook (the
    fixture's gate module, which its notebook imports), never the instructor notebook (solutions,
    hidden tests), its manifest or post_grade.json."""
    from autograder import worker
    from autograder.release import build_bundle
    src = Path(__file__).resolve().parent / "fixtures" / "grading" / "source"
    bundle = build_bundle("fixture_basic", tmp_path / "cache", src)
    (bundle.source_folder / "manifest.json").write_text("{}")   # as a course assignment has
    priv = tmp_path / "priv"
    priv.mkdir()
    dirs = worker._prepare_kernel_dirs(priv, bundle, None, {})
    assert sorted(p.name for p in dirs["work"].iterdir()) == ["fixture_gate.py"]


def test_the_grading_process_does_not_load_torch():
    """Linux keeps a process's peak memory (ru_maxrss) across exec, so every worker's peak-memory
    figure starts from the grading process's: it must stay torch-free, COURSE_DATA_DIR set or not
    (the data root comes from helpers.paths, which needs no torch)."""
    import os
    code = ("import sys, autograder.__main__, autograder.grade, autograder.worker\n"
            "from autograder.settings import Settings\n"
            "print(Settings().data_dir, sorted(m for m in ('torch', 'numpy', 'helpers.data') if m in sys.modules))")
    for env in ({k: v for k, v in os.environ.items() if k != "COURSE_DATA_DIR"}, {**os.environ, "COURSE_DATA_DIR": "/x"}):
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
        assert out[1:] == ["[]"], out
        assert out[0] == env.get("COURSE_DATA_DIR", out[0])
