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
