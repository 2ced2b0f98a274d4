"""What the install files promise agrees: environment.yml (conda) names the same packages with the
same bounds as pyproject.toml (base, [grading] and [dev]), and the torch pin of the Makefile; `make
setup` passes TORCH_INDEX (the CPU-only builds) to the torch install only, and pins the last torch
with Intel-Mac wheels on Darwin x86_64."""
from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

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


# --------------------------------------------------------------------------- make setup's torch line
# `make -n` prints the commands without running them: what `make setup` would install, offline.

def _setup_commands(tmp_path, *args: str, uname: str | None = None) -> list[str]:
    import os
    import shutil
    import subprocess
    if shutil.which("make") is None:
        pytest.skip("no make")
    env = dict(os.environ)
    if uname:   # the Makefile asks `uname -sm` which machine it is on
        shim = tmp_path / "bin"
        shim.mkdir(exist_ok=True)
        (shim / "uname").write_text(f"#!/bin/sh\necho '{uname}'\n")
        (shim / "uname").chmod(0o755)
        env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(["make", "-n", "-B", "setup", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if "pip install" in line and "--upgrade pip" not in line]


def test_make_setup_takes_the_cpu_index_for_torch_only(tmp_path):
    torch_line, course_line = _setup_commands(tmp_path, "TORCH_INDEX=https://download.pytorch.org/whl/cpu",
                                              uname="Linux x86_64")
    assert torch_line.split("pip install -q ")[1].split() == [
        "--index-url", "https://download.pytorch.org/whl/cpu", '"torch==2.14.1"', '"torchvision==0.29.1"']
    assert "-e" in course_line and "download.pytorch.org" not in course_line   # the course's packages: PyPI
    default = _setup_commands(tmp_path, uname="Linux x86_64")
    assert not any("--index-url" in line for line in default)


def test_make_setup_pins_the_last_intel_mac_torch_there(tmp_path):
    intel = _setup_commands(tmp_path, uname="Darwin x86_64")[0]
    assert intel.split("pip install -q ")[1].split() == ['"torch==2.2.2"', '"torchvision==0.17.2"', '"numpy<2"']
    assert '"torch==2.14.1"' in _setup_commands(tmp_path, uname="Darwin arm64")[0]
    assert '"torch"' in _setup_commands(tmp_path, "TORCH=torch torchvision", uname="Darwin x86_64")[0]  # override wins
    # the course's own bounds admit that pin (pip keeps it when it installs the course next)
    py = _pyproject()
    assert all(SpecifierSet(py[name]).contains(version) for name, version in
               (("torch", "2.2.2"), ("torchvision", "0.17.2"), ("numpy", "1.26.4")))
