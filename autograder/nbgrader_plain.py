"""Plain nbgrader, for a course that grades with `nbgrader autograde` rather than this harness.

Two pieces (autograder/README.md, "Using these notebooks in an existing nbgrader course"):

* :class:`OverwriteCells`, nbgrader's own preprocessor (it puts every locked cell back from the
  gradebook) minus two faults, for `Autograde.sanitize_preprocessors` in nbgrader_config.py:
  - nbgrader stores a test cell's checksum *with* its hidden tests (the gradebook is written
    before `ClearHiddenTests` runs) while the release carries them stripped, so every untouched
    test cell that has hidden tests logs "Attribute 'checksum' ... has changed!" when autograde
    puts them back (https://github.com/jupyter/nbgrader/issues/1961). Here a cell whose source is
    exactly the released one (the gradebook's source with its hidden tests removed, by nbgrader's
    `ClearHiddenTests`) gets them back quietly; a cell that differs from its release warns as before.
  - a grade line with no source cell (06's gate, written by `python -m autograder gate` or
    `grade --gradebook`) is not a cell to restore: nbgrader's `add_missing_cells` would fail on it.
* :func:`gate_course`: `python -m autograder gate --nbgrader-course DIR`. Under plain nbgrader 06
  is worth 18 points, not 28: the gate is a post-grade check, not a cell. After `nbgrader
  autograde 06_assessment`, this runs the assignment's post-grade checks on each student's
  `autograded/<student>/06_assessment/` folder (where the notebook exported its model) through the
  harness's own stage (autograder.worker.post_grade: the same sandbox, seed, CPU budget, untrusted
  and trusted sides, autograder/post_grade.py) and writes each verdict as its own grade line into
  the course's gradebook (autograder/gradebook.py), so formgrader and `nbgrader export` show 28.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

from nbgrader.preprocessors import ClearHiddenTests
from nbgrader.preprocessors import OverwriteCells as _NbgraderOverwriteCells

from . import EXAMPLES_DIR, REPO_ROOT, SOURCE_DIR


class OverwriteCells(_NbgraderOverwriteCells):
    """nbgrader's OverwriteCells, quiet about the hidden tests it restores (see the module doc)."""

    def preprocess_cell(self, cell, resources, cell_index):
        self._as_released = self._matches_release(cell)
        return super().preprocess_cell(cell, resources, cell_index)

    def _matches_release(self, cell) -> bool:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid is None:
            return False
        try:
            source_cell = self.gradebook.find_source_cell(gid, self.notebook_id, self.assignment_id)
        except Exception:  # noqa: BLE001 - MissingEntry: nbgrader's own path reports it
            return False
        released = type(cell)(source=source_cell.source)
        ClearHiddenTests(parent=self)._remove_hidden_test_region(released)
        return released.source != source_cell.source and cell.source == released.source

    def report_change(self, name, attr, old, new) -> None:
        if attr == "checksum" and getattr(self, "_as_released", False):
            self.log.debug("Cell %s: hidden tests restored (the cell is as released)", name)
            return
        super().report_change(name, attr, old, new)

    def add_missing_grade_cells(self, nb, resources):
        real = self.gradebook
        self.gradebook = _CellsOnly(real)   # lines without a source cell (06's gate) are not cells
        try:
            return super().add_missing_grade_cells(nb, resources)
        finally:
            self.gradebook = real


class _CellsOnly:
    """A gradebook whose notebooks list only grade cells that have a source cell."""

    def __init__(self, gb):
        self._gb = gb

    def __getattr__(self, name):
        return getattr(self._gb, name)

    def find_notebook(self, *args, **kwargs):
        return _NotebookCells(self._gb.find_notebook(*args, **kwargs))


class _NotebookCells:
    def __init__(self, nb):
        self._nb = nb

    def __getattr__(self, name):
        return getattr(self._nb, name)

    @property
    def grade_cells(self):
        names = {c.name for c in self._nb.source_cells}
        return [c for c in self._nb.grade_cells if c.name in names]


# --------------------------------------------------------------------------- 06's gate after nbgrader

def _sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else None
    except OSError:
        return None


def _copy_work(src: Path, dst: Path, max_bytes: int) -> str | None:
    """The kernel's folder as nbgrader left it, copied for the checks (links stay links; the
    trusted side never follows them). Returns why it was not copied, or None."""
    total = sum(p.lstat().st_size for p in src.rglob("*") if p.is_file() and not p.is_symlink())
    if total > max_bytes:
        return f"{src} holds {total / 2**20:.0f} MB, over the {max_bytes / 2**20:.0f} MB work quota"
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    return None


def run_checks(work: Path, bundle, settings, *, level: str, hide=(), threads: int = 1) -> list[dict]:
    """The harness's post-grade stage (autograder.worker.post_grade) on a folder a plain-nbgrader
    kernel left: a private workspace (its own uid in the strict sandbox), the kernel's launch spec
    built as autograder.worker.execute builds it, the same checks. Returns the checks' verdicts."""
    from . import sandbox as sb
    from . import worker
    res = {"notes": {}}
    with worker.workspace(level, settings, res) as ws:
        k = ws.priv / "k"
        home = sb.make_home(k / "home", None)
        dst = k / "work"
        why = _copy_work(work, dst, settings.work_quota_mb * 2**20)
        if why:
            return [{**c, "passed": False, "message": why} for c in bundle.post_grade.get("checks", [])]
        os.chmod(k, 0o700)
        sb.chown_tree(k, ws.uid)
        env = sb.kernel_env(home=home, profile=settings.profile, data_dir=settings.data_dir, threads=threads,
                            gpu=None, seed=settings.seed, pythonpath=[str(REPO_ROOT)], pass_env=settings.pass_env)
        stage = ws.priv / "stage"
        stage.mkdir(mode=0o700)
        spec = sb.spec_for(level, uid=ws.uid, hide=[h for h in hide if os.path.isdir(h)], network=settings.network,
                           stage=str(stage), needed=[str(ws.priv), str(REPO_ROOT), settings.data_dir],
                           tmp_mb=settings.tmp_quota_mb)
        spec.update(env=env, cwd=str(dst),
                    rlimits=sb.rlimits(memory_mb=settings.memory_mb,
                                       cpu_s=int(settings.notebook_timeout * max(1, threads) + 120),
                                       fsize_mb=settings.max_output_mb,
                                       nproc=settings.max_processes if ws.uid is not None else None))
        run = worker.Run(job={}, settings=settings, bundle=bundle, res=res, t0=time.monotonic(), ws=ws,
                         dirs={"work": dst}, spec=spec)
        worker.post_grade(run)
        return run.checks


def check_lines(bundle, checks: list[dict]) -> list[dict]:
    """The grade lines the harness gives these verdicts (autograder.scoring.apply_post_grade)."""
    from .scoring import apply_post_grade
    cells = {i["grade_id"]: i for i in bundle.info["items"]}
    tests = [{"grade_id": g, "todo": cells[g].get("todo", g), "label": cells[g].get("label", g),
              "max_points": float(cells[g]["points"]), "points": None}
             for g in dict.fromkeys(c["grade_id"] for c in checks) if g in cells]
    return apply_post_grade(tests, checks)


def gate_course(course: Path, *, assignment: str = "06_assessment", gradebook: Path | None = None,
                students=(), settings=None, source_dir: Path = SOURCE_DIR, log=print) -> dict:
    """Run `assignment`'s post-grade checks for every student nbgrader autograded in `course`
    (`autograded/<student>/<assignment>/`) and record each as its own line in the gradebook
    (default `<course>/gradebook.db`). Returns {"students": {student: [lines]}, "written": counts}.
    Like a grading worker it kills every process of its own left after each check: run it in a
    process of its own (`python -m autograder gate`), not inside one with other children."""
    from . import sandbox as sb
    from .grade import _hide_list
    from .gradebook import write_check_lines
    from .release import DEFAULT_CACHE, build_bundle
    from .settings import Settings
    course = Path(course).resolve()
    gradebook = Path(gradebook or course / "gradebook.db")
    settings = settings or Settings(profile=os.environ.get("COURSE_PROFILE") or "full")
    bundle = build_bundle(assignment, Path(os.environ.get("AUTOGRADER_BUNDLES") or DEFAULT_CACHE), source_dir)
    checks = bundle.post_grade.get("checks", [])
    if not checks:
        raise SystemExit(f"{assignment} has no post-grade checks (no post_grade.json in {source_dir / assignment}): "
                         "plain nbgrader already grades all of it")
    root = course / "autograded"
    folders = sorted(p for p in root.glob(f"*/{assignment}") if p.is_dir()) if root.is_dir() else []
    if students:
        folders = [f for f in folders if f.parent.name in set(students)]
    if not folders:
        raise SystemExit(f"no autograded/<student>/{assignment}/ folder in {course}: run `nbgrader autograde "
                         f"{assignment}` there first (students: {', '.join(students) or 'all'})")
    if not gradebook.exists():
        raise SystemExit(f"no gradebook at {gradebook}: pass the course's database with --gradebook")
    level, _ = sb.choose_level(settings.sandbox)
    if not settings.memory_mb:
        settings.memory_mb = max(2048, min(16384, int(sb.total_memory_mb() * 0.8)))
    needed = sb.needed_paths([str(REPO_ROOT), settings.data_dir or ""])
    hide = _hide_list([course, SOURCE_DIR, EXAMPLES_DIR, source_dir, REPO_ROOT / "tests", REPO_ROOT / "answers",
                       REPO_ROOT / "walkthroughs", REPO_ROOT / "grading", REPO_ROOT / ".git"], needed)
    submitted = course / "submitted"
    out: dict[str, list[dict]] = {}
    for folder in folders:
        student = folder.parent.name
        handed_in = [f["name"] for c in checks for f in (c.get("files") or {}).values()
                     if _sha(folder / f["name"]) and _sha(folder / f["name"]) == _sha(submitted / student /
                                                                                    assignment / f["name"])]
        if handed_in:   # the harness grades what the notebook makes, never a file handed in beside it
            verdicts = [{**c, "passed": False, "message": f"{', '.join(handed_in)} is the file the student "
                         "submitted, not one the notebook wrote during `nbgrader autograde` (its export cell "
                         "did not run or failed)"} for c in checks]
        else:
            verdicts = run_checks(folder, bundle, settings, level=level, hide=hide)
        out[student] = lines = check_lines(bundle, verdicts)
        for t in lines:
            log(f"{student}: {t['grade_id']} {t['status']} {t['points']:g}/{t['max_points']:g} ({t['message']})")
    written = write_check_lines(gradebook, assignment, bundle, out)
    return {"students": out, "written": written, "sandbox": level, "profile": settings.profile}
