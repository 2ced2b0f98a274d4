"""Reference building blocks and utilities for the diffusion course.

Later notebooks import the reference version of what earlier notebooks asked students to
build, so a mistake in notebook 02 never breaks notebook 05.

The names below load on first use (``from helpers import Schedule`` imports
:mod:`helpers.schedules` then), so a process that needs only a torch-free module, such as the
grader asking :mod:`helpers.paths` where the data lives, does not load torch.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "get_device": "device", "device_kind": "device", "seed_everything": "device", "get_profile": "device",
    "is_smoke": "device", "pick": "device",
    "Schedule": "schedules", "linear_beta_schedule": "schedules", "cosine_beta_schedule": "schedules",
    "EMA": "train", "History": "train",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    else:
        try:   # `import helpers` then `helpers.ddpm`: the submodule
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
