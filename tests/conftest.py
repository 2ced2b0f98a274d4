"""Shared pytest set-up: real data beside the repo, headless matplotlib, the smoke profile."""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# Real MNIST / Fashion-MNIST / flowers live in ../shared/data on CI and dev machines.
if "COURSE_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["COURSE_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_PROFILE", "smoke")
os.environ.setdefault("COURSE_OFFLINE", "1")  # tests never download
sys.path.insert(0, str(REPO / "tests"))


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
