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

from helpers.data import default_data_dir  # noqa: E402

# helpers.data finds the real datasets (../shared/data beside a checkout) by itself; sandboxed
# kernels reach only the folders they are handed, which tests take from COURSE_DATA_DIR
if default_data_dir():
    os.environ.setdefault("COURSE_DATA_DIR", default_data_dir())


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
