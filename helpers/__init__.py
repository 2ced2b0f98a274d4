"""Reference building blocks and utilities for the diffusion course.

Later notebooks import the reference version of what earlier notebooks asked students to
build, so a mistake in notebook 02 never breaks notebook 05.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .device import device_kind, get_device, get_profile, is_smoke, pick, seed_everything  # noqa: E402
from .schedules import Schedule, cosine_beta_schedule, linear_beta_schedule  # noqa: E402
from .train import EMA, History  # noqa: E402  (helpers.train stays the module)

__all__ = ["__version__", "get_device", "device_kind", "seed_everything", "get_profile", "is_smoke", "pick",
           "Schedule", "linear_beta_schedule", "cosine_beta_schedule", "EMA", "History"]
