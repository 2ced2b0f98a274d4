"""The README's notebook tables, generated from the assignment folders and the measured times.

* "The notebooks": one row per assignment folder (its manifest's `teaches`) with its "Open in
  Colab" link, built from the one repository URL (`helpers.bootstrap.colab_url` of `REPO_URL`);
* "How long each notebook takes": the measured full-profile times on a CPU and on a GPU
  (`bench/reference/notebooks.json`, one place for those figures) next to each manifest's
  `time_targets_s`.

Each table sits between `<!-- table:NAME -->` and `<!-- /table:NAME -->` in README.md.
`python -m bench.tables --write` rewrites them; `--check` (and tests/test_quotes.py) fails when
the README disagrees with what the folders and the results file say.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from autograder import assignments  # noqa: E402
from helpers.bootstrap import colab_url  # noqa: E402

README = REPO / "README.md"
TIMES = REPO / "bench" / "reference" / "notebooks.json"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _seconds(run: dict) -> str:
    if not run or not run.get("seconds"):
        return "not measured"
    s = ", ".join(f"{x:g} s" for x in run["seconds"])
    return f"**{s}**" + (f" ({run['settings']})" if run.get("settings") else "")


def notebooks_table(course) -> str:
    rows = ["| # | notebook | what you build and learn | Colab |", "|---|---|---|---|"]
    rows += [f"| {a.order:02d} | `{a.id}` | {a.teaches} | [Open in Colab]({colab_url(a.id)}) |" for a in course]
    return "\n".join(rows)


def times_table(course, runs: dict, device: str, target: str) -> str:
    """Measured seconds and what the run produced, next to the manifest's `target` time."""
    rows = [f"| notebook | full profile, {device} | what the run produced | target |", "|---|---|---|---|"]
    for a in course:
        run = runs.get(a.id, {})
        text = (run.get("produced") or run.get("not_measured", "")) + (f" ({run['note']})" if run.get("note") else "")
        goal = a.time_targets_s.get(target)
        rows.append(f"| {a.id} | {_seconds(run)} | {text} | {_minutes(goal) if goal else '-'} |")
    return "\n".join(rows)


def tables(source_dir: Path = assignments.SOURCE_DIR, times_path: Path = TIMES) -> dict[str, str]:
    course = assignments.discover(source_dir)
    times = json.loads(Path(times_path).read_text())
    return {"notebooks": notebooks_table(course),
            "times-cpu": times_table(course, times["cpu"]["runs"], "2-core CPU", "full_cpu"),
            "times-gpu": times_table(course, times["gpu"]["runs"], "GPU", "full_gpu")}


def render(text: str, generated: dict[str, str]) -> str:
    """`text` with every marked table replaced by its generated version."""
    for name, body in generated.items():
        pattern = re.compile(rf"(<!-- table:{name} -->\n).*?(\n<!-- /table:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- table:{name} --> ... <!-- /table:{name} --> block")
        text = pattern.sub(lambda m: m.group(1) + body + m.group(2), text)
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.tables", description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help="rewrite the tables in README.md")
    p.add_argument("--check", action="store_true", help="exit 1 when README.md's tables are stale")
    a = p.parse_args(argv)
    text = README.read_text()
    new = render(text, tables())
    if a.write:
        README.write_text(new)
        print("README.md tables " + ("rewritten" if new != text else "already up to date"))
    elif a.check:
        print("README.md tables are up to date" if new == text else "README.md tables are stale: "
              "run `python -m bench.tables --write`")
        return 0 if new == text else 1
    else:
        print("\n\n".join(tables().values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
