"""What the install files promise agrees: environment.yml (conda) names the same packages with the
same bounds as pyproject.toml (base, [grading] and [dev]), and the torch pin of the Makefile."""
from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement

from autograder import REPO_ROOT


def _pyproject() -> dict[str, str]:
    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + [r for extra in meta["optional-dependencies"].values() for r in extra]
    out = {}
    for r in map(Requirement, reqs):
        if r.name != meta["name"]:          # "diffusion-course[grading]": the extras themselves
            out[r.name.lower()] = str(r.specifier)
    return out


def _environment() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    out, local = {}, []
    for dep in env["dependencies"]:
        for line in (dep["pip"] if isinstance(dep, dict) else [dep]):
            if line.startswith("-e "):
                local.append(line)
                continue
            r = Requirement(line.replace("=", "==", 1) if re.fullmatch(r"[\w.-]+=[\w.]+", line) else line)
            out[r.name.lower()] = str(r.specifier)
    return out, local


def _torch_pin() -> dict[str, str]:
    m = re.search(r"^TORCH\s*\?=\s*(.+)$", (REPO_ROOT / "Makefile").read_text(), flags=re.M)
    return {Requirement(x).name: str(Requirement(x).specifier) for x in m.group(1).split()}


def test_environment_yml_matches_pyproject_and_the_makefile():
    py, (env, local) = _pyproject(), _environment()
    assert local == ["-e .[dev]"], local               # the course itself, with the grading and dev extras
    pins = _torch_pin()
    assert set(pins) == {"torch", "torchvision"}
    expected = {**py, **pins, "python": "==3.11", "pip": ""}
    assert env == expected, {k: (env.get(k), expected.get(k)) for k in set(env) | set(expected)
                             if env.get(k) != expected.get(k)}
