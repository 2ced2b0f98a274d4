"""Grading harness for the diffusion course, built on nbgrader 0.9 (https://nbgrader.readthedocs.io).

Each assignment is a folder `autograder/source/<id>/` (see `autograder/assignments.py`).
`python -m autograder release` regenerates the student notebooks from `autograder/source/`;
`python -m autograder grade` grades a class (see `autograder/README.md` for how, and why each
step exists). One submission in, one result JSON out (`autograder.worker`), so a class can be
graded on one machine (`autograder.pool`) or spread over a cluster and merged
(`python -m autograder merge`).
"""
from __future__ import annotations

from pathlib import Path

#: Bumped whenever a change can alter a grade; part of every result's cache key.
HARNESS_VERSION = "3"

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SOURCE_DIR = PACKAGE_DIR / "source"
EXAMPLES_DIR = PACKAGE_DIR / "examples"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NBGRADER_CONFIG = PACKAGE_DIR / "nbgrader_config.py"

__all__ = ["HARNESS_VERSION", "REPO_ROOT", "SOURCE_DIR", "EXAMPLES_DIR"]
