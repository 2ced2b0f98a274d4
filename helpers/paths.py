"""Where the course looks for its datasets: the one place for that rule (standard library only,
so the grading process decides it without loading torch). :mod:`helpers.data` re-exports it.

Roots, in order (:func:`data_root_candidates`): ``$COURSE_DATA_DIR``; in a source checkout the
shared copy beside it (:data:`SHARED_DATA_DIR`) and ``<repo>/data``; the user cache.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
REPO_DATA_DIR = REPO_DIR / "data"
#: The course's shared copy of the datasets, beside a source checkout (CI and course machines).
SHARED_DATA_DIR = REPO_DIR.parent / "shared" / "data"


def cache_dir() -> Path:
    """The per-user download cache: ``$COURSE_CACHE_DIR`` or ``~/.cache/diffusion-course``."""
    env = os.environ.get("COURSE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "diffusion-course"


def _is_source_checkout() -> bool:
    # In a pip (non-editable) install the parent of helpers/ is site-packages: never use it.
    return (REPO_DIR / "pyproject.toml").is_file() or REPO_DATA_DIR.is_dir()


def data_root_candidates() -> list[Path]:
    """Data roots searched, in order: ``$COURSE_DATA_DIR``; in a source checkout
    :data:`SHARED_DATA_DIR` and ``<repo>/data``; the user cache."""
    roots: list[Path] = []
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        roots.append(Path(env).expanduser())
    if _is_source_checkout():
        roots += [SHARED_DATA_DIR, REPO_DATA_DIR]
    roots.append(cache_dir())
    out: list[Path] = []
    for r in roots:  # drop duplicates, keep order
        if r not in out:
            out.append(r)
    return out


def default_data_dir() -> str:
    """The read-only data root to hand a process that cannot search for itself (a sandboxed
    kernel reaches only the folders it is given): ``$COURSE_DATA_DIR`` when set, else
    :data:`SHARED_DATA_DIR` when it exists in a source checkout, else ``""``."""
    if os.environ.get("COURSE_DATA_DIR"):
        return os.environ["COURSE_DATA_DIR"]
    return str(SHARED_DATA_DIR) if _is_source_checkout() and SHARED_DATA_DIR.is_dir() else ""
