"""Benchmarks (`make bench`): each bench/<name>.py has a main() that prints its figures and
writes bench/results/<name>.json. Not timed tests."""
import os as _os

from helpers.paths import default_data_dir as _default_data_dir

# helpers.data finds the datasets by itself; the sandboxed gate (bench.gate_check) reaches only
# the data folder it is handed, taken from COURSE_DATA_DIR
if _default_data_dir():
    _os.environ.setdefault("COURSE_DATA_DIR", _default_data_dir())
