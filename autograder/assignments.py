"""The course's assignments, each declared once: a folder `autograder/source/<id>/`.

A folder is an assignment when it holds the instructor notebook `<id>.ipynb`. Next to it:

* `manifest.json` (what this module reads; required for a course notebook, optional for the
  harness's own fixtures)::

      {"title": "U-Nets", "order": 1,
       "teaches": "one line for the README's notebook table",
       "time_targets_s": {"smoke": 60, "full_cpu": 180, "full_gpu": 60},
       "walkthrough": "walkthroughs/01_UNets_Walkthrough.md",
       "answers": "answers/01_UNets_Answers.md",
       "checks": "helpers/checks/nb01.py",
       "mistakes": [{"todo": "todo1_conv_sizes", "replace": "// stride + 1", "with": "// stride",
                     "what": "output size without the + 1"}],
       "demo_main": false,
       "twins": {"todo2_x": ["helpers.mod.other_name", "helpers.mod.Other as Name"]},
       "differs": {"helpers.blocks.DownBlock": "why it is not a drop-in for this DownBlock"}}

  `mistakes` are realistic wrong answers: each replaces text in one TODO's solution and must
  cost exactly that TODO's points (the contract test grades every one; the first is the demo
  class's `one_wrong` student). `twins` names reference twins with another name
  (autograder/reference_calls.py). A TODO's twins (those, and `helpers.<module>.<same name>`) are
  drop-ins for its solution, checked by the contract test, except those under `differs`, each
  with the reason (another signature, another design). `demo_main` marks the assignment the demo
  class shows in full.
* `post_grade.json` and its check module, for checks decided outside the student's kernel
  (06's gate: `gate_check.py`).

Release, grading, the demo generator, the contract test (tests/test_assignments.py), the
notebook benchmark and the README's notebook tables all read this; no list of assignments is
typed anywhere else. `python -m autograder.assignments` prints the ids in course order.
Standard library only: the GPU benchmark machine imports it without the Jupyter stack.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import REPO_ROOT, SOURCE_DIR

MANIFEST = "manifest.json"
PROFILES = ("smoke", "full_cpu", "full_gpu")
_KEYS = {"title", "order", "teaches", "time_targets_s", "walkthrough", "answers", "checks", "mistakes",
         "demo_main", "twins", "differs", "_about"}


class ManifestError(ValueError):
    """A manifest.json that cannot be used: the message names the file and what to fix."""


@dataclass(frozen=True)
class Mistake:
    todo: str       # grade_id of the solution cell it edits
    replace: str    # text of the instructor's solution that is replaced ...
    with_: str      # ... by this
    what: str       # the mistake in words, for reports

    def apply(self, source: str) -> str:
        if self.replace not in source:
            raise ManifestError(f"mistake {self.what!r}: {self.replace!r} is not in the solution of {self.todo}")
        return source.replace(self.replace, self.with_, 1)


@dataclass(frozen=True)
class Assignment:
    id: str
    folder: Path
    title: str
    order: int
    teaches: str = ""
    time_targets_s: dict = field(default_factory=dict)
    walkthrough: str = ""
    answers: str = ""
    checks: str = ""
    mistakes: tuple = ()
    demo_main: bool = False
    twins: dict = field(default_factory=dict)
    differs: dict = field(default_factory=dict)
    has_manifest: bool = False

    @property
    def notebook(self) -> Path:
        return self.folder / f"{self.id}.ipynb"

    def doc(self, name: str, root: Path = REPO_ROOT) -> Path | None:
        """Path of the walkthrough, answers or checks module (None when the manifest names none)."""
        rel = getattr(self, name)
        return Path(root) / rel if rel else None


def _order_from_name(aid: str) -> int:
    head = aid.split("_", 1)[0]
    return int(head) if head.isdigit() else 10_000


def load(folder: Path, aid: str | None = None) -> Assignment:
    """The assignment in `folder` (its manifest validated; defaults when it has none). `aid`: when
    the folder is a copy under another name (a release bundle's `source/`)."""
    folder = Path(folder)
    aid = aid or folder.name
    if not (folder / f"{aid}.ipynb").is_file():
        raise ManifestError(f"{folder}: no instructor notebook {aid}.ipynb (the folder name is the assignment id)")
    path = folder / MANIFEST
    if not path.is_file():
        return Assignment(aid, folder, title=aid, order=_order_from_name(aid))
    where = str(path.relative_to(REPO_ROOT)) if REPO_ROOT in path.parents else str(path)
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{where}: not valid JSON ({exc}); fix the file") from None
    if not isinstance(m, dict):
        raise ManifestError(f"{where}: must hold one JSON object")
    unknown = set(m) - _KEYS
    if unknown:
        raise ManifestError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_KEYS - {'_about'})}")
    targets = m.get("time_targets_s", {})
    if not isinstance(targets, dict) or set(targets) - set(PROFILES) or \
            not all(isinstance(v, (int, float)) and v > 0 for v in targets.values()):
        raise ManifestError(f"{where}: time_targets_s maps {', '.join(PROFILES)} to seconds > 0, got {targets!r}")
    mistakes = []
    for i, x in enumerate(m.get("mistakes", [])):
        if not isinstance(x, dict) or set(x) != {"todo", "replace", "with", "what"} or \
                not all(isinstance(v, str) and v for k, v in x.items() if k != "with"):
            raise ManifestError(f"{where}: mistakes[{i}] needs exactly todo, replace, with, what (strings), got {x!r}")
        mistakes.append(Mistake(x["todo"], x["replace"], x["with"], x["what"]))
    for key, ok, want in (
            ("twins", lambda v: isinstance(v, list) and all(isinstance(p, str) and p.startswith("helpers.") for p in v),
             "TODO ids to lists of 'helpers.module.name'"),
            ("differs", lambda v: isinstance(v, str) and v.strip() != "", "'helpers.module.name' to the reason (text)")):
        value = m.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) and ok(v) for k, v in value.items()):
            raise ManifestError(f"{where}: {key} must map {want}, got {value!r}")
    order = m.get("order", _order_from_name(aid))
    if not isinstance(order, int):
        raise ManifestError(f"{where}: order must be an integer, got {order!r}")
    return Assignment(aid, folder, title=str(m.get("title", aid)), order=order, teaches=str(m.get("teaches", "")),
                      time_targets_s=dict(targets), walkthrough=m.get("walkthrough", ""),
                      answers=m.get("answers", ""), checks=m.get("checks", ""), mistakes=tuple(mistakes),
                      demo_main=bool(m.get("demo_main", False)), twins=dict(m.get("twins", {})),
                      differs=dict(m.get("differs", {})), has_manifest=True)


def discover(source_dir: Path = SOURCE_DIR) -> list[Assignment]:
    """Every assignment folder under `source_dir`, in course order (manifest `order`, then id)."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        return []
    found = [load(d) for d in source_dir.iterdir() if d.is_dir() and (d / f"{d.name}.ipynb").is_file()]
    return sorted(found, key=lambda a: (a.order, a.id))


def ids(source_dir: Path = SOURCE_DIR) -> list[str]:
    return [a.id for a in discover(source_dir)]


def get(aid: str, source_dir: Path = SOURCE_DIR) -> Assignment:
    folder = Path(source_dir) / aid
    if not folder.is_dir():
        raise ManifestError(f"no assignment {aid!r} in {source_dir} (known: {', '.join(ids(source_dir)) or 'none'})")
    return load(folder)


def resolve(prefixes: list[str], source_dir: Path = SOURCE_DIR) -> list[str]:
    """Ids named by full id or unique prefix (`02` -> `02_diffusion_models`), in the order given."""
    known = ids(source_dir)
    out = []
    for p in prefixes:
        hits = [a for a in known if a == p] or [a for a in known if a.startswith(p)]
        if len(hits) != 1:
            raise ManifestError(f"{p!r} names {len(hits)} assignments; known: {', '.join(known)}")
        out.append(hits[0])
    return out


if __name__ == "__main__":
    print(" ".join(ids()))
    sys.exit(0)
