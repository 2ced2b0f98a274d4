"""Colab/Lab bootstrap: the first code cell of every notebook, generated from here.

The repository URL lives in this one place. ``python -m helpers.bootstrap`` rewrites the first
code cell of every instructor notebook (and ``make release`` then refreshes ``notebooks/``), and
a test fails when a notebook's first cell differs from :data:`BOOTSTRAP_CELL`.

In Colab (or any kernel where ``helpers`` cannot be imported) the cell pip-installs the course
package from the repository (``$COURSE_REPO_URL`` when set, e.g. a fork: ``%env
COURSE_REPO_URL=https://...`` before the cell; :data:`REPO_URL` otherwise) and, when that fails,
stops with an error that quotes the end of pip's message (a notebook in Colab does not show a
subprocess's own output, so the cell captures it); data is downloaded on first use by ``helpers.data``. In a local
JupyterLab started with ``make lab`` the package is already installed and the cell does nothing
but print the device.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO_URL = "https://github.com/diffusion-course/diffusion-course"
PIP_SPEC = f"diffusion-course @ git+{REPO_URL}"  # what the cell installs when COURSE_REPO_URL is not set

BOOTSTRAP_CELL = f'''# Setup: in Colab (or wherever the course package is missing) install it; locally this does nothing.
import importlib.util, os, subprocess, sys
if importlib.util.find_spec("helpers") is None:
    url = os.environ.get("COURSE_REPO_URL", "{REPO_URL}")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"diffusion-course @ git+{{url}}"],
                         capture_output=True, text=True)   # a notebook does not show a subprocess's own output
    if pip.returncode:
        raise RuntimeError(f"Could not install the course package from {{url}}. pip said:\\n{{pip.stderr[-1500:]}}\\n"
                           "Check the internet connection, or set your course's repository first: %env COURSE_REPO_URL=https://...")
import helpers
DEVICE = helpers.get_device()
print("profile:", helpers.get_profile())'''


COLAB = "https://colab.research.google.com/github"


def colab_url(notebook: str, repo_url: str = REPO_URL, branch: str = "main") -> str:
    """The "Open in Colab" address of ``notebooks/<notebook>.ipynb`` on `branch` of `repo_url`
    (:data:`REPO_URL` by default): Colab opens a GitHub notebook from
    ``colab.research.google.com/github/<owner>/<repo>/blob/<branch>/<path>``."""
    m = re.fullmatch(r"https://(?:www\.)?github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repo_url)
    if not m:
        raise ValueError(f"REPO_URL {repo_url!r} is not a GitHub repository URL (https://github.com/<owner>/<repo>): "
                         "Colab's links open notebooks from GitHub only. Set REPO_URL in helpers/bootstrap.py, "
                         "or leave the README without Colab links")
    return f"{COLAB}/{m[1]}/{m[2]}/blob/{branch}/notebooks/{notebook}.ipynb"


def sync_notebooks(root: Path | None = None) -> list[Path]:
    """Rewrite the first code cell of each ``autograder/source/*/*.ipynb``; return changed paths."""
    root = root or Path(__file__).resolve().parent.parent
    changed = []
    for path in sorted((root / "autograder" / "source").glob("*/*.ipynb")):
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        if code and "".join(code[0]["source"]) != BOOTSTRAP_CELL:
            code[0]["source"] = BOOTSTRAP_CELL.splitlines(keepends=True)
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            changed.append(path)
    return changed


if __name__ == "__main__":
    for p in sync_notebooks():
        print("updated", p)
    sys.exit(0)
