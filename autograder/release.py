"""Release: nbgrader generate_assignment on each source notebook, cached by content hash.

For each assignment this builds a *bundle* (`<cache>/<id>-<hash>/`): the nbgrader gradebook
(source cells and checksums, used to restore edited or deleted test cells), the release
(student) notebook, a trusted copy of the source folder and `bundle.json` (graded cells,
points, TODOs). `python -m autograder release` copies the release notebooks to `notebooks/`
without outputs; `--check` only reports stale copies.
Reference: https://nbgrader.readthedocs.io/en/stable/command_line_tools/nbgrader-generate-assignment.html
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import HARNESS_VERSION, NBGRADER_CONFIG, NOTEBOOKS_DIR, REPO_ROOT, SOURCE_DIR, assignments
from .nbinfo import all_ids, grade_items, is_solution

BUNDLE_FORMAT = "3"  # 2: post-grade points count in max_score; 3: named stubs
DEFAULT_CACHE = REPO_ROOT / "grading" / ".bundles"   # keyed by content hash; `make clean` empties it


#: Files in a source folder that are outputs of running the notebook there, never course material:
#: a hand-in exported by the instructor's own run (06's assessment_model.pt2), its gate report,
#: caches. They are left out of the bundle (and its hash): copied into a student's working folder,
#: an instructor's model would be graded as the student's.
NOT_SOURCE = ("*.pt2", "*.gate.json", "*.pt", "*.ckpt", "__pycache__", ".*")


def grader_only(aid: str) -> set[str]:
    """Files of a source folder that are the grader's alone, never copied next to a student's
    notebook: the instructor notebook, the manifest and post_grade.json. (Modules beside them are
    copied: a notebook may import them, as the harness's fixture imports its gate module.)"""
    return {f"{aid}.ipynb", "manifest.json", "post_grade.json"}


def is_output(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pat) for pat in NOT_SOURCE)


def _files(folder: Path) -> list[Path]:
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(is_output(part) for part in rel.parts):
            out.append(p)
    return out


def source_hash(source_dir: Path, aid: str) -> str:
    import nbgrader
    h = hashlib.sha256(f"bundle{BUNDLE_FORMAT}/harness{HARNESS_VERSION}/nbgrader{nbgrader.__version__}\n".encode())
    h.update(NBGRADER_CONFIG.read_bytes())
    folder = Path(source_dir) / aid
    for p in _files(folder):
        h.update(str(p.relative_to(folder)).encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


@dataclass
class Bundle:
    """A built release of one assignment (everything grading needs from the source)."""
    aid: str
    path: Path
    hash: str
    info: dict

    @property
    def gradebook(self) -> Path:
        return self.path / "gradebook.db"

    @property
    def release_notebook(self) -> Path:
        return self.path / "release" / f"{self.aid}.ipynb"

    @property
    def source_notebook(self) -> Path:
        return self.path / "source" / f"{self.aid}.ipynb"

    @property
    def source_folder(self) -> Path:
        return self.path / "source"

    @property
    def post_grade(self) -> dict:
        p = self.source_folder / "post_grade.json"
        return json.loads(p.read_text()) if p.exists() else {"checks": []}

    @classmethod
    def load(cls, path: Path) -> "Bundle":
        info = json.loads((Path(path) / "bundle.json").read_text())
        return cls(info["assignment"], Path(path), info["hash"], info)


def nbgrader_env() -> dict:
    """Environment for nbgrader subprocesses: the interpreter's bin first (nbgrader runs alembic)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


STUB = "raise NotImplementedError()"


def name_stubs(path: Path) -> int:
    """Make each stub say which TODO it is: nbgrader's code stub is one string for every cell, so
    ``raise NotImplementedError()`` becomes ``raise NotImplementedError("TODO 3: ...")`` with the
    number of the nearest TODO heading above it. A student who runs a cell too early (or a self-check
    that reports an unfinished TODO) then sees which one. Returns the number of stubs named."""
    nb = nbformat.read(str(path), as_version=4)
    heading, n = "", 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#+\s*(TODO\s*\d+[a-z]?)", cell.source, flags=re.M)
            heading = m.group(1) if m else heading
        elif is_solution(cell) and STUB in cell.source and heading:
            msg = f"{heading}: replace this line with your code"
            cell.source = cell.source.replace(STUB, f"raise NotImplementedError({msg!r})")
            n += 1
    nbformat.write(nb, str(path))
    return n


def _generate(source_dir: Path, aid: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="ag-release-") as tmp:
        course = Path(tmp)
        shutil.copy2(NBGRADER_CONFIG, course / "nbgrader_config.py")
        shutil.copytree(Path(source_dir) / aid, course / "source" / aid,
                        ignore=shutil.ignore_patterns(*NOT_SOURCE))
        cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", aid, "--force",
               "--create", "--log-level=WARN", f"--CourseDirectory.root={course}"]
        proc = subprocess.run(cmd, cwd=course, env=nbgrader_env(), capture_output=True, text=True)
        if proc.returncode != 0 or not (course / "release" / aid / f"{aid}.ipynb").exists():
            raise RuntimeError(f"nbgrader generate_assignment {aid} failed:\n{proc.stdout}\n{proc.stderr}")
        shutil.copy2(course / "gradebook.db", out / "gradebook.db")
        shutil.copytree(course / "release" / aid, out / "release")
        name_stubs(out / "release" / f"{aid}.ipynb")
        shutil.copytree(course / "source" / aid, out / "source")


def build_bundle(aid: str, cache: Path, source_dir: Path = SOURCE_DIR) -> Bundle:
    """Build (or reuse) the bundle of one assignment under `cache`."""
    digest = source_hash(source_dir, aid)
    final = Path(cache) / f"{aid}-{digest[:12]}"
    if (final / "bundle.json").exists():
        return Bundle.load(final)
    Path(cache).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{aid}-", dir=cache))
    try:
        _generate(source_dir, aid, tmp)
        src = nbformat.read(tmp / "source" / f"{aid}.ipynb", as_version=4)
        items = grade_items(src)
        # post-grade checks that are not a graded cell add their own points (e.g. 06's gate)
        post = tmp / "source" / "post_grade.json"
        cell_ids = {i.grade_id for i in items}
        extra = sum(float(c.get("points", 0)) for c in (json.loads(post.read_text()).get("checks", [])
                                                         if post.exists() else [])
                    if c.get("grade_id") not in cell_ids)
        info = {
            "assignment": aid, "hash": digest, "format": BUNDLE_FORMAT,
            "max_score": sum(i.points for i in items) + extra,
            "items": [i.to_dict() for i in items],
            "grade_ids": sorted(all_ids(src)),
        }
        (tmp / "bundle.json").write_text(json.dumps(info, indent=1))
        try:
            os.rename(tmp, final)
        except OSError:  # another process built it first
            if not (final / "bundle.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Bundle.load(final)


def student_copy(bundle: Bundle):
    """The release notebook as committed to notebooks/: no outputs, counts or widget state."""
    nb = nbformat.read(bundle.release_notebook, as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None) if cell.metadata.get("collapsed") is False else None
    return nb


def release(aids: list[str] | None = None, *, check: bool = False, source_dir: Path = SOURCE_DIR,
            out_dir: Path = NOTEBOOKS_DIR, cache: Path | None = None) -> list[str]:
    """Write (or with check=True, compare) notebooks/<id>.ipynb; returns the stale/updated ids."""
    aids = aids or assignments.ids(source_dir)
    changed = []
    cache = Path(cache or DEFAULT_CACHE)
    for aid in aids:
        bundle = build_bundle(aid, cache, source_dir)
        text = nbformat.writes(student_copy(bundle)) + "\n"
        dest = Path(out_dir) / f"{aid}.ipynb"
        if dest.exists() and dest.read_text() == text:
            continue
        changed.append(aid)
        if not check:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
    return changed
