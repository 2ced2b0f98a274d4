"""Grading settings: one dataclass, defaults per COURSE_PROFILE, and a fingerprint for caching.

Everything that can change a grade (profile, timeouts, limits, partial-credit policy, harness
version) goes into `fingerprint()`, which is part of every result's cache key, so resuming
never reuses a result graded under other rules.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields

from . import HARNESS_VERSION
from helpers.paths import default_data_dir

#: Per-profile defaults (seconds). `full` is what a student runs; `smoke` is for tests/demo.
#: Timeouts are CPU-seconds of the kernel's processes (autograder/budget.py), so they mean
#: the same on a busy machine as on an idle one; `stall_timeout` is wall seconds without CPU use.
PROFILE_DEFAULTS = {
    "full": {"cell_timeout": 1800, "notebook_timeout": 3 * 3600, "stall_timeout": 300},
    "smoke": {"cell_timeout": 180, "notebook_timeout": 900, "stall_timeout": 60},
}


@dataclass
class Settings:
    profile: str = "full"
    cell_timeout: int = 0           # CPU-seconds per cell; 0: the profile default
    notebook_timeout: int = 0       # CPU-seconds per notebook; 0: the profile default
    stall_timeout: int = 0          # wall seconds a cell may use no CPU; 0: the profile default
    wall_factor: float = 6.0        # wall-clock backstop = wall_factor x the CPU limit
    startup_timeout: int = 120      # kernel start
    interrupt_grace: int = 10       # seconds a kernel gets to answer after an interrupt
    memory_mb: int = 0              # address-space limit per kernel; 0: auto
    max_output_mb: int = 2048       # largest file the kernel may write (RLIMIT_FSIZE)
    max_notebook_mb: int = 64       # larger submissions are refused before they are read
    max_cell_output_mb: float = 10  # outputs kept per cell (bytes beyond are dropped, with a note)
    max_notebook_output_mb: float = 50   # outputs kept per notebook
    work_quota_mb: int = 1024       # the kernel's working copy + HOME (strict: a tmpfs of this size)
    tmp_quota_mb: int = 256         # each private /tmp, /var/tmp, /dev/shm (strict, userns)
    max_processes: int = 512        # RLIMIT_NPROC, only where the kernel has its own uid
    sandbox: str = "auto"           # auto | strict | userns | basic
    network: bool = False           # allow the kernel network access
    data_dir: str = ""              # COURSE_DATA_DIR passed to kernels
    pass_env: list = field(default_factory=list)   # extra env names passed through
    partial_credit: bool = False    # nbgrader's "displayed number = partial credit"
    zero_reference_calls: bool = False   # TODOs whose answer calls the helpers twin earn 0
    seed: int = 0                   # PYTHONHASHSEED of kernels and post-grade checks

    def __post_init__(self) -> None:
        if self.profile not in PROFILE_DEFAULTS:
            raise ValueError(f"unknown profile {self.profile!r}; expected one of {sorted(PROFILE_DEFAULTS)}")
        d = PROFILE_DEFAULTS[self.profile]
        if not self.cell_timeout:
            self.cell_timeout = d["cell_timeout"]
        if not self.notebook_timeout:
            self.notebook_timeout = d["notebook_timeout"]
        if not self.stall_timeout:
            self.stall_timeout = d["stall_timeout"]
        self.cell_timeout = min(self.cell_timeout, self.notebook_timeout)
        if not self.data_dir:   # COURSE_DATA_DIR, else the shared copy beside the checkout, if any
            self.data_dir = default_data_dir()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Settings":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def fingerprint(self) -> str:
        """Hash of everything that can change a grade (not workers, paths or devices)."""
        keep = {k: v for k, v in self.to_dict().items()
                if k in ("profile", "cell_timeout", "notebook_timeout", "stall_timeout", "wall_factor",
                         "partial_credit", "zero_reference_calls", "seed", "network", "max_notebook_mb", "max_cell_output_mb",
                         "max_notebook_output_mb", "work_quota_mb", "tmp_quota_mb")}
        keep["harness"] = HARNESS_VERSION
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:12]


