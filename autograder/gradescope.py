"""Gradescope: build an autograder zip for one assignment, and what it runs on Gradescope.

``python -m autograder gradescope <assignment> [--out DIR] [--profile smoke|full]`` writes
``gradescope_<assignment>.zip``: ``setup.sh`` and ``run_autograder`` at its root, the course's
``helpers`` and ``autograder`` packages, ``pyproject.toml``, ``README.md``, this assignment's
source folder only (no other assignment, no tests, no demo submissions, no data), its release
bundle (``bundles/``) and ``gradescope.json`` (the assignment, the profile, the datasets that
setup.sh downloads).

On Gradescope (https://gradescope-autograders.readthedocs.io/en/latest/specs/) the zip is
unpacked into ``/autograder/source``; ``setup.sh`` runs there once, as root, and
``/autograder/run_autograder`` runs for each submission, with the student's files in
``/autograder/submission/``; it must write ``/autograder/results/results.json``.
``run_autograder`` calls ``python -m autograder.gradescope run``, which picks the notebook, grades
it with ``python -m autograder grade`` (the same harness, sandbox and results as a local run) and
copies that submission's Gradescope results.json. The root ``/autograder`` is
``$GRADESCOPE_ROOT`` when set (the tests run it in a temporary folder).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
import zipfile
from pathlib import Path

from . import REPO_ROOT, SOURCE_DIR

ROOT_ENV = "GRADESCOPE_ROOT"
CONFIG = "gradescope.json"
BUNDLES = "bundles"        # the release bundle built with the zip, in the zip
STUDENT = "submission"    # the student id the staged notebook is graded under
TORCH = "torch==2.14.1 torchvision==0.29.1"   # the Makefile's pin, CPU wheels on Gradescope
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"

# ----------------------------------------------------------------------------- readable names

_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ",
    "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ",
    "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ",
    "Lambda": "Λ", "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    "mid": "|", "cdot": "·", "times": "×", "approx": "≈", "sim": "~", "leq": "≤", "le": "≤",
    "geq": "≥", "ge": "≥", "neq": "≠", "ne": "≠", "to": "→", "rightarrow": "→", "leftarrow": "←",
    "infty": "∞", "sum": "Σ", "prod": "Π", "nabla": "∇", "partial": "∂", "in": "∈", "pm": "±",
    "log": "log", "exp": "exp", "ldots": "…", "dots": "…", "cdots": "…", "quad": " ", "qquad": " ",
    ",": " ", ";": " ", "!": "", " ": " ", "{": "{", "}": "}", "%": "%", "_": "_", "$": "",
}
_ACCENTS = {"bar": "\u0304", "overline": "\u0304", "hat": "\u0302", "widehat": "\u0302",
            "tilde": "\u0303", "widetilde": "\u0303", "dot": "\u0307", "vec": "\u20d7"}
_SUB = dict(zip("0123456789+-=()aehijklmnoprstuvxβγρφχ",
                "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓᵦᵧᵨᵩᵪ"))
_SUP = dict(zip("0123456789+-=()inT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁱⁿᵀ"))


def _group(s: str, i: int) -> tuple[str, int]:
    """The argument at s[i]: a {braced group} (nested) or one character/command; (text, next i)."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        return "", i
    if s[i] == "{":
        depth, j = 0, i
        while j < len(s):
            depth += {"{": 1, "}": -1}.get(s[j], 0)
            if depth == 0:
                return s[i + 1:j], j + 1
            j += 1
        return s[i + 1:], len(s)
    if s[i] == "\\":
        m = re.match(r"\\([A-Za-z]+|.)", s[i:])
        return m.group(0), i + len(m.group(0))
    return s[i], i + 1


def _script(text: str, table: dict, mark: str) -> str:
    text = text.replace(" ", "")
    if text and all(c in table for c in text):
        return "".join(table[c] for c in text)
    return mark + (text if len(text) == 1 else f"({text})")


def _math(s: str) -> str:
    """LaTeX math to plain text with unicode (x_{t-1} -> xₜ₋₁, \\bar{\\alpha}_t -> ᾱₜ)."""
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", s[i:])
            name, i = m.group(1), i + len(m.group(0))
            if name in _ACCENTS:
                arg, i = _group(s, i)
                out.append(_math(arg) + _ACCENTS[name])
            elif name == "frac":
                a, i = _group(s, i)
                b, i = _group(s, i)
                a, b = _math(a), _math(b)
                out.append((a if len(a) == 1 else f"({a})") + "/" + (b if len(b) == 1 else f"({b})"))
            elif name == "sqrt":
                a, i = _group(s, i)
                a = _math(a)
                out.append("√" + (a if len(a) == 1 else f"({a})"))
            elif name in ("mathbf", "mathrm", "mathit", "mathcal", "mathbb", "boldsymbol", "text",
                          "textbf", "textit", "texttt", "operatorname", "mathsf"):
                a, i = _group(s, i)
                out.append(_math(a))
            elif name in ("left", "right", "big", "Big", "bigg", "Bigg", "displaystyle"):
                continue
            else:
                out.append(_SYMBOLS.get(name, name))
        elif c in "_^":
            arg, i = _group(s, i + 1)
            out.append(_script(_math(arg), _SUB if c == "_" else _SUP, c))
        elif c in "{}":
            i += 1
        else:
            out.append(c)
            i += 1
    return re.sub(r"\s+", " ", "".join(out)).strip()


def plain_text(s: str) -> str:
    """A label as plain text for Gradescope's test names: ``$...$`` math turned into unicode
    (``$q(x_t \\mid x_0)$`` -> ``q(xₜ | x₀)``), backticks dropped, no backslash or ``$`` left."""
    s = re.sub(r"\$\$(.+?)\$\$|\$(.+?)\$", lambda m: _math(m.group(1) or m.group(2)), str(s), flags=re.S)
    s = s.replace("`", "")
    if "\\" in s:  # LaTeX outside $...$
        s = _math(s)
    s = s.replace("$", "").replace("\\", "")
    return unicodedata.normalize("NFC", re.sub(r"[ \t]+", " ", s).strip())   # ᾱ as one character


# ----------------------------------------------------------------------------- the zip

_DATA_CALLS = {"load_mnist": "mnist", "load_fashion_mnist": "fashion_mnist", "load_flowers": "flowers"}


def datasets_needed(aid: str, source_dir: Path = SOURCE_DIR) -> list[str]:
    """The datasets the assignment's notebook and the modules beside it load (helpers.data's
    loaders, or find_dataset("<name>")), read from their text."""
    from helpers.data import _canonical
    found = set()
    folder = Path(source_dir) / aid
    for p in sorted(folder.rglob("*")):
        if p.suffix not in (".ipynb", ".py") or not p.is_file():
            continue
        text = p.read_text(errors="replace")
        for call, name in _DATA_CALLS.items():
            if re.search(rf"\b{call}\s*\(", text):
                found.add(name)
        for m in re.finditer(r"find_dataset\(\s*\\?[\"']([A-Za-z0-9_-]+)", text):
            try:
                found.add(_canonical(m.group(1)))
            except Exception:
                pass
    return sorted(found)


SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source, on its Ubuntu base image.
# It installs Python >= 3.11 (3.11 when the image has none), a venv in /autograder/venv with the
# CPU-only torch build and the course with its grading extra, then downloads the datasets the
# assignment needs into /autograder/source/data.
set -euo pipefail
ROOT="${GRADESCOPE_ROOT:-/autograder}"
SRC="$ROOT/source"
VENV="$ROOT/venv"
export DEBIAN_FRONTEND=noninteractive

has_python() {  # a python >= 3.11 with venv and ensurepip
  command -v "$1" >/dev/null 2>&1 &&
    "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}
PY=""
for cand in python3.11 python3.12 python3.13 python3; do
  if has_python "$cand"; then PY="$cand"; break; fi
done
if [ -z "$PY" ]; then
  apt-get update
  apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev || {
    apt-get install -y --no-install-recommends software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev
  }
  PY=python3.11
fi

"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q @TORCH@ --index-url @TORCH_INDEX@
PYTHONWARNINGS="ignore:Editable installation" "$VENV/bin/python" -m pip install -q -e "$SRC[grading]"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null

# datasets: helpers.data downloads into the course's data/ folder (a source checkout's <repo>/data)
mkdir -p "$SRC/data"
cd "$SRC"
unset COURSE_DATA_DIR COURSE_OFFLINE
for ds in @DATASETS@; do
  "$VENV/bin/python" -c "import sys; from helpers.data import find_dataset; print(find_dataset(sys.argv[1]))" "$ds"
done
"$VENV/bin/python" -c "import helpers, torch; print('helpers', helpers.__version__, '| torch', torch.__version__)"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for each submission (files in /autograder/submission); it writes
# /autograder/results/results.json. GRADESCOPE_ROOT replaces /autograder (tests).
ROOT="${GRADESCOPE_ROOT:-/autograder}"
if [ -x "$ROOT/venv/bin/python" ]; then
  PY="$ROOT/venv/bin/python"
else
  PY="$(command -v python3 || command -v python)"
fi
cd "$ROOT/source" || exit 1
exec "$PY" -m autograder.gradescope run --root "$ROOT"
"""


def _course_files(aid: str, source_dir: Path) -> list[tuple[Path, str]]:
    """(file, name in the zip) for what grading needs of the course."""
    from .release import _files
    out: list[tuple[Path, str]] = []
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO_ROOT / name).is_file():
            out.append((REPO_ROOT / name, name))

    def tree(folder: Path, prefix: str, skip=()):
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder)
            if not p.is_file() or any(part in ("__pycache__", ".ipynb_checkpoints") or part.startswith(".")
                                      for part in rel.parts):
                continue
            if rel.parts[0] in skip or p.suffix == ".pyc":
                continue
            out.append((p, f"{prefix}/{rel.as_posix()}"))

    tree(REPO_ROOT / "helpers", "helpers")
    # the harness without any assignment's sources, the demo submissions or local outputs
    tree(REPO_ROOT / "autograder", "autograder",
         skip=("source", "submitted", "release", "autograded", "feedback", "gradebook.db"))
    out = [(p, n) for p, n in out if not n.startswith("autograder/examples/submitted/")]
    if (Path(source_dir) / "README.md").is_file():
        out.append((Path(source_dir) / "README.md", "autograder/source/README.md"))
    folder = Path(source_dir) / aid
    for p in _files(folder):
        out.append((p, f"autograder/source/{aid}/{p.relative_to(folder).as_posix()}"))
    return out


def build(aid: str, out_dir: Path = Path("."), *, profile: str = "full", source_dir: Path = SOURCE_DIR,
          cell_timeout: int = 0, notebook_timeout: int = 0, stall_timeout: int = 0) -> Path:
    """Write gradescope_<aid>.zip into out_dir; returns its path."""
    from . import assignments
    aid = assignments.resolve([aid], source_dir)[0] if aid not in assignments.ids(source_dir) else aid
    a = assignments.get(aid, source_dir)
    data = datasets_needed(aid, source_dir)
    config = {"assignment": aid, "profile": profile, "datasets": data, "title": a.title,
              "cell_timeout": cell_timeout, "notebook_timeout": notebook_timeout, "stall_timeout": stall_timeout}
    setup = (SETUP_SH.replace("@TORCH@", TORCH).replace("@TORCH_INDEX@", TORCH_INDEX)
             .replace("@DATASETS@", " ".join(data) or ""))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / f"gradescope_{aid}.zip"
    tmp = dest.with_suffix(".zip.part")
    stamp = (2026, 1, 1, 0, 0, 0)   # fixed dates: the same course gives the same zip

    def add(z: zipfile.ZipFile, name: str, data_: bytes, mode: int = 0o644) -> None:
        info = zipfile.ZipInfo(name, stamp)
        info.external_attr = (0o100000 | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, data_)

    with zipfile.ZipFile(tmp, "w") as z:
        add(z, "setup.sh", setup.encode(), 0o755)
        add(z, "run_autograder", RUN_AUTOGRADER.encode(), 0o755)
        add(z, CONFIG, (json.dumps(config, indent=1) + "\n").encode())
        for path, name in _course_files(aid, source_dir):
            add(z, name, path.read_bytes())
        # the release bundle, built here once (nbgrader generate_assignment): each grading run
        # reuses it while its hash matches (same sources, harness and nbgrader), else rebuilds it
        from .release import DEFAULT_CACHE, build_bundle
        bundle = build_bundle(aid, DEFAULT_CACHE, source_dir)
        for f in sorted(bundle.path.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                add(z, f"{BUNDLES}/{bundle.path.name}/{f.relative_to(bundle.path).as_posix()}", f.read_bytes())
    os.replace(tmp, dest)
    return dest


# ----------------------------------------------------------------------------- on Gradescope

def message_result(message: str) -> dict:
    """A results.json that scores 0 and tells the student why (no notebook, several, a harness failure)."""
    return {"score": 0.0, "output": message, "visibility": "visible", "stdout_visibility": "hidden", "tests": []}


def find_notebook(submission: Path, aid: str) -> tuple[Path | None, str]:
    """The student's notebook in the submission folder: the only .ipynb, else the one named
    <aid>.ipynb; (None, why) when there is none or several without that name."""
    found = sorted(p for p in Path(submission).rglob("*.ipynb")
                   if p.is_file() and not any(part.startswith((".", "__MACOSX")) for part in
                                              p.relative_to(submission).parts))
    if len(found) == 1:
        return found[0], ""
    if not found:
        names = sorted(p.name for p in Path(submission).rglob("*") if p.is_file())[:10] if Path(submission).is_dir() else []
        return None, (f"No notebook found in your submission: upload your {aid}.ipynb (the .ipynb file, "
                      f"not a PDF or a zip of it)." + (f" Files received: {', '.join(names)}." if names else ""))
    named = [p for p in found if p.name == f"{aid}.ipynb"]
    if len(named) == 1:
        return named[0], ""
    listed = ", ".join(str(p.relative_to(submission)) for p in found[:10])
    return None, (f"Your submission holds {len(found)} notebooks ({listed}) and it is not clear which one to "
                  f"grade: submit only {aid}.ipynb.")


def _workers() -> int:
    """Worker slots for the one submission: 1, so its kernel gets every core's torch thread;
    ``GRADESCOPE_THREADS=n`` caps the kernel at n threads (cores // n slots; the tests run three
    submissions side by side on a small machine)."""
    threads = int(os.environ.get("GRADESCOPE_THREADS") or 0)
    return max(1, (os.cpu_count() or 1) // threads) if threads > 0 else 1


def run(root: Path) -> int:
    """Grade /autograder/submission's notebook and write /autograder/results/results.json."""
    root = Path(root)
    source = root / "source"
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    config = json.loads((source / CONFIG).read_text())
    aid = config["assignment"]

    def write(res: dict) -> None:
        (results / "results.json").write_text(json.dumps(res, indent=1))

    nb, why = find_notebook(root / "submission", aid)
    if nb is None:
        print(why)
        write(message_result(why))
        return 0
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        staged = Path(tmp) / "submitted" / STUDENT / aid / f"{aid}.ipynb"
        staged.parent.mkdir(parents=True)
        shutil.copyfile(nb, staged)
        out = Path(tmp) / "out"
        if (source / BUNDLES).is_dir():   # the bundle built with the zip (grade reuses it when current)
            shutil.copytree(source / BUNDLES, out / ".bundles")
        data_dir = os.environ.get("COURSE_DATA_DIR") or (str(source / "data") if (source / "data").is_dir() else "")
        cmd = [sys.executable, "-m", "autograder", "grade", str(Path(tmp) / "submitted"), "--assignment", aid,
               "--out", str(out), "--profile", config.get("profile", "full"), "--workers", str(_workers()),
               "--no-resume", "--allow-skipped", "--quiet"]
        for key in ("cell_timeout", "notebook_timeout", "stall_timeout"):
            if config.get(key):
                cmd += [f"--{key.replace('_', '-')}", str(config[key])]
        if data_dir:
            cmd += ["--data-dir", data_dir]
        print("grading", nb.relative_to(root / "submission"), "as", aid, "profile", config.get("profile"), flush=True)
        env = {k: v for k, v in os.environ.items() if k != "AUTOGRADER_BUNDLES"}   # the zip's own bundle
        proc = subprocess.run(cmd, cwd=source, env=env)
        res_file = out / "gradescope" / aid / STUDENT / "results.json"
        if not res_file.is_file():
            write(message_result(f"The autograder failed before grading your notebook (exit {proc.returncode}). "
                                 "Please resubmit; if it happens again, tell your instructor."))
            return 0
        res = json.loads(res_file.read_text())
        res.setdefault("execution_time", int(time.time() - started))
        write(res)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.gradescope")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="grade /autograder/submission (what run_autograder calls)")
    r.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_ENV) or "/autograder"))
    a = p.parse_args(argv)
    return run(a.root)


if __name__ == "__main__":
    sys.exit(main())
