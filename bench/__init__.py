"""Benchmarks (`make bench`): each bench/<name>.py has a main() that prints its figures and
writes bench/results/<name>.json. Not timed tests."""
import os as _os
from pathlib import Path as _Path

# Like the Makefile and the tests: real datasets beside the repository when nothing else is set,
# so `python -m bench.<name>` works without `make`.
_SHARED = _Path(__file__).resolve().parent.parent.parent / "shared" / "data"
if not _os.environ.get("COURSE_DATA_DIR") and _SHARED.is_dir():
    _os.environ["COURSE_DATA_DIR"] = str(_SHARED)
