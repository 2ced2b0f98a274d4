"""Shared pytest set-up: headless matplotlib, the smoke profile, no downloads, COURSE_DATA_DIR for kernels."""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_PROFILE", "smoke")
os.environ.setdefault("COURSE_OFFLINE", "1")  # tests never download
sys.path.insert(0, str(REPO / "tests"))

from helpers.paths import default_data_dir  # noqa: E402

# helpers.data finds the real datasets (../shared/data beside a checkout) by itself; sandboxed
# kernels reach only the folders they are handed, which tests take from COURSE_DATA_DIR
if default_data_dir():
    os.environ.setdefault("COURSE_DATA_DIR", default_data_dir())


# every grading run of the suite shares one bundle cache (bundles are named by their source's hash)
os.environ.setdefault("AUTOGRADER_BUNDLES", str(REPO / "grading" / ".bundles"))

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tiny-tensor checks on one torch thread: as fast on an idle CPU, and far faster
    on a shared, oversubscribed one (two OpenMP threads there can be 10-50x slower). Opt in with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def grade_folder(submissions: Path, out: Path, *extra: str) -> "subprocess.CompletedProcess":
    """`python -m autograder grade` as an instructor runs it (smoke profile, 2 workers)."""
    import subprocess
    return subprocess.run([sys.executable, "-m", "autograder", "grade", str(submissions), "--profile", "smoke",
                           "--workers", "2", "--quiet", "--out", str(out), *extra],
                          cwd=REPO, capture_output=True, text=True)


@pytest.fixture(scope="session")
def graded_demo(tmp_path_factory):
    """`make grade`: the demo class graded once per session (tests/test_autograder_demo.py checks
    it against expected.json; tests/test_assignments.py reads its complete/blank/one_wrong runs)."""
    import subprocess
    from autograder import EXAMPLES_DIR
    if not (EXAMPLES_DIR / "expected.json").exists():
        pytest.skip("no demo class yet (python -m autograder.examples.make_demo)")
    out = tmp_path_factory.mktemp("demo")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", "--demo", "--workers", "2", "--quiet",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True)
    return out, proc


@pytest.fixture(scope="session")
def graded_mistakes(tmp_path_factory):
    """Every manifest mistake after the first (the demo's one_wrong), one student each, graded."""
    from autograder import SOURCE_DIR, assignments
    from autograder.examples import make_demo
    root = tmp_path_factory.mktemp("mistakes")
    exp = make_demo.make_class(root, SOURCE_DIR, assignments.ids(), main="", others=("other_mistakes",),
                               cache=REPO / "grading" / ".bundles")
    proc = grade_folder(root / "submitted", root / "out")
    return root / "out", exp, proc
