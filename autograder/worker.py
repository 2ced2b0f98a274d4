"""Grade one submission: the unit of work (one job JSON in, one result JSON out).

`python -m autograder worker JOB.json` runs this in a fresh process; the pool does that for
every submission, and a cluster engine can do the same on any machine that has the repo and
the bundle (see autograder/README.md). `grade` runs these stages, each a function below; any of
them may end the grading with a Verdict (a status and why):

1. identify: read the staged copy, check its hash, parse it (corrupt JSON -> "not a
   notebook"), check it is this assignment's notebook (grade ids vs. every bundle -> "wrong
   assignment");
2. repair_cells: put its nbgrader skeleton back (restore.py), find answers that call a
   reference twin (reference_calls.py);
3. in a private workspace (its own uid in the strict sandbox):
   sanitise: nbgrader's SANITIZE preprocessors against a private copy of the gradebook
   (edited/deleted test cells and hidden tests are put back);
4. execute: a sandboxed kernel (execute.py, sandbox.py) with the in-kernel guard; every
   process the student started is killed; nbgrader's AFTER_RUN preprocessors;
5. post_grade: the assignment's post-grade checks in fresh processes (post_grade.py);
6. score: points from the kernel's replies, checks, evidence tapes (scoring.py, evidence.py);
7. write_outputs: the autograded notebook and the feedback HTML.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from . import HARNESS_VERSION, REPO_ROOT, assignments
from . import sandbox as sb
from .nbinfo import all_ids, grade_id, is_solution, match_assignment, read_notebook_bytes
from .release import Bundle, grader_only, is_output
from .settings import Settings

WORK_ROOT = Path(tempfile.gettempdir()) / "autograder-work"
GUARD = Path(__file__).resolve().parent / "kernel_guard.py"
SCHEMA = 1


def result_key(student: str, aid: str, sha: str, bundle_hash: str, fingerprint: str) -> str:
    return hashlib.sha256("\0".join([student, aid, sha, bundle_hash, fingerprint]).encode()).hexdigest()[:16]


def result_path(out: Path, aid: str, student: str, key: str) -> Path:
    return Path(out) / "results" / aid / f"{student}--{key}.json"


def write_json_atomic(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


def read_result(job: dict) -> dict | None:
    """The job's result file, when it exists, parses and belongs to this job (its key); else None."""
    try:
        res = json.loads(Path(job["result"]).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return res if res.get("key") == job["key"] else None


def base_result(job: dict) -> dict:
    return {"schema": SCHEMA, "harness": HARNESS_VERSION, "key": job["key"], "student": job["student"],
            "assignment": job["assignment"], "status": "error", "detail": "", "score": 0.0,
            "max_score": job.get("max_score", 0.0), "tests": [], "notes": {},
            "submission": {"path": job.get("original", job.get("submission")), "sha256": job.get("sha256")},
            "bundle": job.get("bundle_hash"), "settings": job.get("fingerprint"),
            "sandbox": job.get("level"), "timing": {}, "files": {}}


def _nbconfig(settings: Settings, kernel_dir: Path, launch_spec: Path, threads: int = 1):
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from . import NBGRADER_CONFIG
    cfg = PyFileConfigLoader(NBGRADER_CONFIG.name, path=str(NBGRADER_CONFIG.parent)).load_config()
    c = Config()
    c.GradingExecute.cell_timeout = settings.cell_timeout
    c.GradingExecute.notebook_timeout = settings.notebook_timeout
    c.GradingExecute.threads = max(1, int(threads))
    c.GradingExecute.stall_timeout = settings.stall_timeout
    c.GradingExecute.wall_factor = settings.wall_factor
    c.GradingExecute.max_cell_output_mb = settings.max_cell_output_mb
    c.GradingExecute.max_notebook_output_mb = settings.max_notebook_output_mb
    c.GradingExecute.interrupt_grace = settings.interrupt_grace
    c.GradingExecute.startup_timeout = settings.startup_timeout
    c.GradingExecute.kernel_name = "python3"
    c.GradingExecute.extra_arguments = ["--HistoryManager.hist_file=:memory:"]
    c.SandboxedKernelManager.transport = "ipc"
    c.SandboxedKernelManager.ip = str(kernel_dir / "kernel")
    c.SandboxedKernelManager.connection_file = str(kernel_dir / "connection.json")
    c.SandboxedKernelManager.launcher = [sys.executable, str(Path(sb.__file__).parent / "_launch.py"),
                                         str(launch_spec), "--"]
    c.SandboxedKernelManager.cache_ports = False
    c.OverwriteCells.add_missing_cells = True
    cfg.merge(c)
    return cfg


def _prepare_kernel_dirs(priv: Path, bundle: Bundle, uid: int | None, guard_spec: dict) -> dict:
    k = priv / "k"
    k.mkdir(exist_ok=True)
    home = sb.make_home(k / "home", None)
    work = k / "work"
    work.mkdir(parents=True)
    skip = grader_only(bundle.aid)
    for item in bundle.source_folder.iterdir():   # data/helper files next to the notebook
        if item.name in skip or is_output(item.name):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, work / item.name)
    profile = home / ".ipython" / "profile_default"
    profile.mkdir(parents=True)
    (home / "guard.json").write_text(json.dumps(guard_spec))
    (profile / "ipython_kernel_config.py").write_text(
        "c = get_config()\n"
        "c.IPKernelApp.exec_lines = [\n"
        "    \"import importlib.util as _u; _s = _u.spec_from_file_location('_autograder_guard', "
        f"{str(GUARD)!r}); _m = _u.module_from_spec(_s); _s.loader.exec_module(_m); "
        f"_m.install({str(home / 'guard.json')!r}); del _u, _s, _m\"]\n")
    os.chmod(k, 0o700)
    sb.chown_tree(k, uid)
    return {"k": k, "home": home, "work": work}


#: nbgrader's preprocessors, declared as nbgrader's own autograde pipeline declares them: the
#: sanitising ones before the notebook runs (against a private copy of the gradebook: deleted and
#: edited test cells and hidden tests are put back), the output ones after.
SANITIZE = ("ClearOutput", "DeduplicateIds", "OverwriteKernelspec", "OverwriteCells", "CheckCellMetadata")
AFTER_RUN = ("IgnorePattern", "LimitOutput")


class Verdict(Exception):
    """A stage decided the submission's status (not a notebook, wrong assignment, ...): grading
    stops there and the result says why. Not a harness error."""

    def __init__(self, status: str, detail: str, **notes) -> None:
        super().__init__(detail)
        self.status, self.detail, self.notes = status, detail, notes


@dataclass
class Run:
    """What one grading carries from stage to stage."""
    job: dict
    settings: Settings
    bundle: Bundle
    res: dict
    t0: float
    nb: Any = None
    source_nb: Any = None
    ref_calls: dict = field(default_factory=dict)
    resources: dict = field(default_factory=dict)
    ws: Any = None          # the Workspace, while it exists
    ex: Any = None          # the executor, once the notebook ran
    executed: Any = None
    dirs: dict = field(default_factory=dict)   # the kernel's folders (_prepare_kernel_dirs)
    spec: dict = field(default_factory=dict)   # the sandbox launch spec
    checks: list = field(default_factory=list)
    marks: dict = field(default_factory=dict)   # stage -> time.monotonic()

    @property
    def graded_ids(self) -> set[str]:
        return {i["grade_id"] for i in self.bundle.info["items"]}

    def kill_leftovers(self) -> list[int]:
        killed = sb.kill_descendants()
        if self.ws.uid is not None:
            sb.kill_uid(self.ws.uid)
        return killed


@dataclass
class Workspace:
    priv: Path
    uid: int | None


@contextmanager
def workspace(level: str, settings: Settings, res: dict):
    """A private folder under WORK_ROOT and, in the strict sandbox, a uid of its own (a quota'd
    kernel folder); on exit the uid's leftovers are killed and listed, everything is removed."""
    WORK_ROOT.mkdir(mode=0o711, exist_ok=True)
    os.chmod(WORK_ROOT, 0o711)
    priv = Path(tempfile.mkdtemp(prefix="ag-", dir=WORK_ROOT))
    os.chmod(priv, 0o711)
    quota = False
    try:
        with (sb.UidSlot() if level == "strict" else nullcontext()) as slot:
            uid = slot.uid if slot else None
            (priv / "k").mkdir(mode=0o700)
            try:
                quota = sb.mount_quota(priv / "k", settings.work_quota_mb, uid) if uid is not None else False
                yield Workspace(priv, uid)
            finally:
                if slot:
                    left = sb.leftovers(slot.uid)
                    if left:
                        res["notes"]["leftovers_removed"] = left[:20]
                if quota:
                    sb.unmount(priv / "k")
    finally:
        shutil.rmtree(priv, ignore_errors=True)


def grade(job: dict) -> dict:
    """Grade the job's submission; always returns a result (status 'error' on harness failure).
    The stages below, in order; any of them may end it with a Verdict."""
    run = Run(job, Settings.from_dict(job["settings"]), Bundle.load(Path(job["bundle"])), base_result(job),
              time.monotonic())
    run.res["max_score"] = run.bundle.info["max_score"]
    try:
        identify(run)
        repair_cells(run)
        with workspace(job["level"], run.settings, run.res) as run.ws:
            sanitise(run)
            execute(run)
            post_grade(run)
            score(run)
            write_outputs(run)
    except Verdict as v:
        run.res.update(status=v.status, detail=v.detail)
        run.res["notes"].update(v.notes)
    return _finish(run.res, run.t0)


def identify(run: Run) -> None:
    """Read the staged copy (size, hash), parse it, and check it is this assignment's notebook."""
    job, settings, bundle = run.job, run.settings, run.bundle
    size = Path(job["submission"]).stat().st_size
    if size > settings.max_notebook_mb * 2**20:
        raise Verdict("not a notebook", f"the file is {size / 2**20:.0f} MB, over the {settings.max_notebook_mb} MB "
                                        "limit for a notebook (clear its outputs: Edit > Clear All Outputs, save, "
                                        "submit again)")
    data = Path(job["submission"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != job["sha256"]:
        raise Verdict("error", "the staged submission changed during grading; regrade it")
    try:
        run.nb = read_notebook_bytes(data)
    except ValueError as exc:
        raise Verdict("not a notebook", str(exc)) from None
    ids = all_ids(run.nb)
    mine = set(bundle.info["grade_ids"])
    cands = {a: set(v) for a, v in job.get("candidates", {}).items()}
    cands[bundle.aid] = mine
    best, sim = match_assignment(ids, cands)
    if not ids & mine:
        other = f"; it looks like {best}" if best and best != bundle.aid else ""
        raise Verdict("wrong assignment", f"none of {bundle.aid}'s graded cells are in this notebook{other}")
    if best != bundle.aid and sim > 2 * (len(ids & mine) / len(ids | mine)):
        raise Verdict("wrong assignment", f"this notebook is {best}, not {bundle.aid}")


def repair_cells(run: Run) -> None:
    """Put the nbgrader skeleton back (restore.py) and read which answers call a reference twin."""
    from . import reference_calls
    from .restore import repair
    bundle = run.bundle
    run.source_nb = nbformat.read(bundle.source_notebook, as_version=4)
    release_nb = nbformat.read(bundle.release_notebook, as_version=4)
    run.nb, notes = repair(run.nb, run.source_nb, release_nb)
    run.res["notes"].update(notes)
    todos = sorted({i["todo"] for i in bundle.info["items"]})
    run.ref_calls = reference_calls.find(run.nb, run.source_nb, todos,
                                         assignments.load(bundle.source_folder, bundle.aid).twins)
    if run.ref_calls:
        run.res["notes"]["reference_calls"] = run.ref_calls


def sanitise(run: Run) -> None:
    """nbgrader's SANITIZE preprocessors against a private copy of the gradebook."""
    from nbgrader import preprocessors as pp
    course = run.ws.priv / "course"
    course.mkdir(mode=0o700)
    shutil.copy2(run.bundle.gradebook, course / "gradebook.db")
    run.resources = {"nbgrader": {"student": run.job["student"], "assignment": run.bundle.aid,
                                  "notebook": run.bundle.aid, "db_url": f"sqlite:///{course / 'gradebook.db'}"},
                     "metadata": {"path": ""}}
    for name in SANITIZE:
        step = getattr(pp, name)(add_missing_cells=True) if name == "OverwriteCells" else getattr(pp, name)()
        run.nb, run.resources = step(run.nb, run.resources)
    run.marks["sanitized"] = time.monotonic()


def execute(run: Run) -> None:
    """Run the notebook in a sandboxed kernel with the in-kernel guard; kill what it started."""
    job, settings, bundle, ws, nb = run.job, run.settings, run.bundle, run.ws, run.nb
    graded_src = [hashlib.sha256(c.source.encode()).hexdigest() for c in nb.cells
                  if grade_id(c) in run.graded_ids and c.cell_type == "code"]
    dirs = _prepare_kernel_dirs(ws.priv, bundle, ws.uid, {"graded": graded_src,
                                                          "report": str(ws.priv / "k" / "home" / "guard-report.json")})
    gpu = job.get("gpu")
    if gpu == "inherit":   # a Slurm task: the GPU its allocation holds
        gpu = os.environ.get("CUDA_VISIBLE_DEVICES") or None
    env = sb.kernel_env(home=dirs["home"], profile=settings.profile, data_dir=settings.data_dir,
                        threads=job.get("threads", 1), gpu=gpu, seed=settings.seed,
                        pythonpath=[str(REPO_ROOT)], pass_env=settings.pass_env)
    stage = ws.priv / "stage"
    stage.mkdir(mode=0o700)
    hide = [h for h in job.get("hide", []) if os.path.isdir(h) and not str(ws.priv).startswith(h.rstrip("/") + "/")]
    spec = sb.spec_for(job["level"], uid=ws.uid, hide=hide, network=settings.network, stage=str(stage),
                       needed=[str(ws.priv), str(REPO_ROOT), settings.data_dir], tmp_mb=settings.tmp_quota_mb)
    memory = settings.memory_mb if gpu in (None, "") else 0
    spec.update(env=env, cwd=str(dirs["work"]),
                rlimits=sb.rlimits(memory_mb=memory,
                                   cpu_s=int(settings.notebook_timeout * max(1, job.get("threads", 1)) + 120),
                                   fsize_mb=settings.max_output_mb,
                                   nproc=settings.max_processes if ws.uid is not None else None),
                chown=[str(dirs["k"] / "connection.json")] if ws.uid is not None else [])
    launch = ws.priv / "launch.json"
    launch.write_text(json.dumps(spec))
    os.chmod(launch, 0o600)
    run.dirs, run.spec = dirs, spec

    from .execute import GradingExecute
    ex = GradingExecute(config=_nbconfig(settings, dirs["k"], launch, job.get("threads", 1)))
    run.resources["metadata"]["path"] = str(dirs["work"])
    ex.evidence_cells = {i: grade_id(c) for i, c in enumerate(nb.cells)
                         if grade_id(c) in run.graded_ids and c.cell_type == "code" and not is_solution(c)}
    try:
        executed, run.resources = ex.preprocess(nb, run.resources)
    except Exception as exc:  # kernel failed to start, sandbox failed, ...
        raise Verdict("error", f"could not run the notebook: {type(exc).__name__}: {exc}"[:500],
                      harness_traceback=traceback.format_exc()[-3000:]) from None
    finally:
        killed = run.kill_leftovers()
        if killed:
            run.res["notes"]["killed_processes"] = killed
    run.marks["executed"] = time.monotonic()

    from nbgrader import preprocessors as pp
    for name in AFTER_RUN:
        executed, _ = getattr(pp, name)(config=ex.config)(executed, run.resources)
    run.ex, run.executed, run.nb = ex, executed, None   # one copy of a (possibly flooded) notebook

    from .scoring import cell_name
    if ex.truncated:
        run.res["notes"]["output_truncated"] = {cell_name(executed, i): f"{n / 2**20:.1f} MB dropped"
                                                for i, n in sorted(ex.truncated.items())}
    g_text, g_err = read_bounded(dirs["home"] / "guard-report.json", 2**20)
    try:
        g = json.loads(g_text) if g_text is not None else {}
    except json.JSONDecodeError:
        g_err = "not JSON"
    if g_err:
        g = {"restored": [f"<guard report unreadable: {g_err}>"]}
    if g.get("restored"):
        run.res["notes"]["tampering_restored"] = g["restored"]


def post_grade(run: Run) -> None:
    """The assignment's post-grade checks (post_grade.py), in fresh processes after the kernel is gone."""
    from .post_grade import load_checks, run_check
    specs = load_checks(run.bundle)
    if specs:
        src_copy = run.ws.priv / "check-src"
        shutil.copytree(run.bundle.source_folder, src_copy)
        os.chmod(src_copy, 0o755)
        for chk in specs:
            r = run_check(chk, workdir=run.dirs["work"], source_copy=src_copy,
                          launcher_spec={k: v for k, v in run.spec.items() if k != "chown"},
                          priv=run.ws.priv, uid=run.ws.uid, wall_factor=run.settings.wall_factor)
            run.kill_leftovers()
            run.checks.append({**chk, **r})
        run.res["notes"]["post_grade"] = [{k: c.get(k) for k in ("grade_id", "passed", "fraction", "message", "error",
                                                                  "seconds", "cpu_seconds", "details")}
                                          for c in run.checks]
    run.marks["checked"] = time.monotonic()


def score(run: Run) -> None:
    """Points from the kernel's replies (scoring.py), the post-grade verdicts, reference calls and
    the evidence tapes (evidence.py); then the status."""
    from .evidence import verify
    from .scoring import apply_post_grade, cell_name, score_cells, total
    res, ex, executed, settings = run.res, run.ex, run.executed, run.settings
    tests = score_cells(run.bundle.info["items"], executed, ex.replies, ex.stopped,
                        partial_credit=settings.partial_credit)
    tests = apply_post_grade(tests, run.checks)
    for t in tests:
        if t.get("todo") in run.ref_calls:
            t["reference_call"] = run.ref_calls[t["todo"]]
            if settings.zero_reference_calls and t["points"]:
                t.update(points=0.0, status="failed",
                         message=f"the answer calls the course's reference ({'; '.join(run.ref_calls[t['todo']])[:200]})")
    tampered = verify(tests, {grade_id(c): c.source for c in run.source_nb.cells
                              if grade_id(c) in run.graded_ids and c.cell_type == "code" and not is_solution(c)},
                      ex.tapes)
    if tampered:
        res["notes"]["tampered"] = tampered
    if ex.tape_elsewhere:
        res["notes"]["evidence_outside_tests"] = ex.tape_elsewhere
    res["tests"] = tests
    res["score"], res["max_score"] = total(tests)
    if ex.stopped:
        kind, idx, why = ex.stopped
        if kind == "kernel crashed":
            why = _signal_reason(ex.kernel_returncode) or why
        res.update(status=kind, detail=f"{cell_name(executed, idx)}: {why}")
    elif ex.timed_out:
        res.update(status="timed out", detail="; ".join(
            f"{cell_name(executed, i)} {ex.timeout_reasons.get(i, 'ran too long')} and was interrupted"
            for i in ex.timed_out))
    elif tampered:
        res.update(status="tampered", detail=(
            f"{len(tampered)} test cell{'s' if len(tampered) != 1 else ''} reported passing without evidence "
            f"that their checks ran (scored 0): " + "; ".join(tampered))[:500])
    else:
        res.update(status="graded", detail="")
    other_errors = [cell_name(executed, i) for i, r in sorted(ex.replies.items())
                    if r["status"] == "error" and grade_id(executed.cells[i]) not in run.graded_ids]
    if other_errors:
        res["notes"]["errors_outside_tests"] = other_errors[:20]
    if any(t["status"] == "manual" for t in tests):
        res["notes"]["needs_manual_grading"] = [t["grade_id"] for t in tests if t["status"] == "manual"]


def write_outputs(run: Run) -> None:
    """The autograded notebook (hidden tests redacted) and the feedback HTML; timings."""
    from .redact import apply as redact_outputs   # hidden tests out of outputs + res; inert HTML
    res, ex, out, aid = run.res, run.ex, Path(run.job["out"]), run.bundle.aid
    rel_nb = Path("autograded") / run.job["student"] / aid / f"{aid}.ipynb"
    rel_fb = Path("feedback") / run.job["student"] / aid / f"{aid}.html"
    (out / rel_nb).parent.mkdir(parents=True, exist_ok=True)
    run.executed = executed = redact_outputs(run.executed, run.source_nb, res)   # the unredacted copy goes
    nbformat.write(executed, out / rel_nb)
    res["files"] = {"autograded": str(rel_nb), "feedback": str(rel_fb)}
    res["timing"] = {"sanitize_s": round(run.marks["sanitized"] - run.t0, 3),
                     "execute_s": round(ex.exec_seconds, 3), "execute_cpu_s": round(ex.cpu_seconds, 3),
                     "max_cell_cpu_s": max(ex.cell_cpu.values(), default=0.0),
                     "post_grade_s": round(run.marks["checked"] - run.marks["executed"], 3)}
    try:
        from .feedback import render
        html = render(executed, res, run.source_nb)
        (out / rel_fb).parent.mkdir(parents=True, exist_ok=True)
        (out / rel_fb).write_text(html)
    except Exception as exc:  # feedback is a courtesy; never lose the grade over it
        res["notes"]["feedback_error"] = f"{type(exc).__name__}: {exc}"[:300]


def read_bounded(path: Path, limit: int) -> tuple[str | None, str | None]:
    """(text, None) for a regular file of at most `limit` bytes the sandbox may have shaped;
    (None, None) when absent; (None, why) for a link, pipe, device or oversized file. Never
    blocks (O_NONBLOCK) and never follows a link (O_NOFOLLOW)."""
    import stat
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot open: {exc.strerror}"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, "not a regular file"
        if st.st_size > limit:
            return None, f"{st.st_size} bytes, over the {limit} byte limit"
        data = os.read(fd, limit + 1)
        if len(data) > limit:
            return None, f"over the {limit} byte limit"
        return data.decode("utf-8", "replace"), None
    finally:
        os.close(fd)


def _signal_reason(code) -> str | None:
    if code is None or code >= 0:
        return f"the kernel exited with status {code}" if code not in (None, 0) else None
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    hint = {"SIGKILL": " (out of memory?)", "SIGXCPU": " (CPU-time limit)", "SIGXFSZ": " (file-size limit)",
            "SIGSEGV": " (segmentation fault)"}.get(name, "")
    return f"the kernel was killed by {name}{hint}"


def _finish(res: dict, t_start: float) -> dict:
    import resource
    res.setdefault("timing", {})["total_s"] = round(time.monotonic() - t_start, 3)
    # the grading process's own peak memory so far (kernels and checks are other processes)
    res["timing"]["harness_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return res


#: a job's sandbox level to be chosen where it runs (a cluster node may allow less than the login node)
ON_NODE = "on-node"


def run_job(job_path: str) -> dict:
    """Grade one job file and write its result (atomically); never raises."""
    job = json.loads(Path(job_path).read_text())
    node_notes = None
    try:
        if job.get("level") == ON_NODE:   # the strongest level this node allows (or the one asked for)
            job["level"], node_notes = sb.choose_level(Settings.from_dict(job["settings"]).sandbox)
        res = grade(job)
        if node_notes is not None:
            res["notes"]["sandbox_on_node"] = {"level": job["level"], "unavailable": node_notes}
    except Exception as exc:  # noqa: BLE001 - a harness failure is a status, not a crash
        res = base_result(job)
        res.update(status="error", detail=f"harness error: {type(exc).__name__}: {exc}"[:500])
        res["notes"]["harness_traceback"] = traceback.format_exc()[-3000:]
    finally:
        sb.kill_descendants()
    res.setdefault("timing", {}).setdefault("total_s", None)
    write_json_atomic(Path(job["result"]), res)
    return res


def _on_term(*_):
    sb.kill_descendants()
    os._exit(143)


def main(job_path: str) -> int:
    """`python -m autograder worker JOB.json`: one submission in, one result file out."""
    sb.become_subreaper()
    signal.signal(signal.SIGTERM, _on_term)
    run_job(job_path)
    return 0


def serve(done_fd: int) -> int:
    """`python -m autograder worker --serve FD`: grade job files named on stdin, one per line,
    writing `<job path>` to FD after each. Used by the pool so imports and templates are paid
    once per worker, not once per submission; the unit of work is unchanged."""
    sb.become_subreaper()
    signal.signal(signal.SIGTERM, _on_term)
    done = os.fdopen(done_fd, "w", buffering=1)
    for line in sys.stdin:
        job_path = line.strip()
        if not job_path:
            continue
        job = json.loads(Path(job_path).read_text())
        log = Path(job["log"])
        log.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        try:
            run_job(job_path)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        done.write(job_path + "\n")
    return 0
