"""Finding submissions: nbgrader's submitted/ layout, a flat folder, or an LMS zip of either.

* nbgrader: ``<dir>/[submitted/]<student>/<assignment>/<notebook>.ipynb``
* flat:     ``<dir>/<student>__<anything>`` (any extension: a .pdf is a submission too and is
            reported as "not a notebook"); the assignment comes from ``--assignment``, from an
            assignment id in the file name, or from the notebook's graded cells;
* zip:      either of the above inside a .zip (extracted safely into the output folder).

Students on a roster (``--roster``, or every student folder of the nbgrader layout) who have
no submission for a graded assignment get the status "missing".
"""
from __future__ import annotations

import csv
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

SAFE_ID = re.compile(r"[^A-Za-z0-9._@+-]+")
MAX_ZIP_BYTES = 2 * 2**30


@dataclass
class Submission:
    student: str
    assignment: str | None
    path: Path
    how: str                      # "nbgrader", "flat", "flat+name", "flat+content"
    notes: list = field(default_factory=list)


@dataclass
class Collected:
    submissions: list[Submission]
    students: list[str]                     # everyone seen (without a roster) or on the roster
    roster: list[tuple[str, str | None]]    # (student, assignment or None) expected, if a roster was given
    skipped: list[str]                      # files we could not attribute to a student
    root: Path


def safe_id(name: str) -> str:
    return SAFE_ID.sub("_", name).strip("._") or "unknown"


def extract_zip(zpath: Path, dest: Path) -> Path:
    """Extract without path traversal, links or zip bombs."""
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    with zipfile.ZipFile(zpath) as zf:
        for info in zf.infolist():
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if not parts or ".." in parts or info.is_dir() or parts[0] == "__MACOSX":
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:   # symlink
                continue
            total += info.file_size
            if total > MAX_ZIP_BYTES:
                raise ValueError(f"{zpath}: more than {MAX_ZIP_BYTES >> 30} GiB uncompressed")
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    # a zip that holds a single top folder: descend into it
    entries = [p for p in dest.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and not any(entries[0].glob("*/*/*.ipynb")) and \
            not any("__" in p.name for p in dest.iterdir() if p.is_file()):
        inner = entries[0]
        if any(inner.glob("*__*")) or any(inner.glob("*/*/*.ipynb")) or (inner / "submitted").is_dir():
            return inner
    return dest


def read_roster(path: Path | None) -> list[tuple[str, str | None]]:
    """(student, assignment or None) rows of a roster: a CSV with a `student` (or `id`) column
    and an optional `assignment` column, or plain text with one student id per line."""
    if not path:
        return []
    rows = [r for r in csv.reader(Path(path).read_text().splitlines()) if r and not r[0].startswith("#")]
    head = [h.strip().lower() for h in rows[0]] if rows else []
    scol = next((head.index(k) for k in ("student", "student_id", "id") if k in head), None)
    acol = head.index("assignment") if "assignment" in head else None
    if scol is None:
        scol = 0
    else:
        rows = rows[1:]
    out = set()
    for r in rows:
        if len(r) > scol and r[scol].strip():
            a = r[acol].strip() if acol is not None and len(r) > acol and r[acol].strip() else None
            out.add((safe_id(r[scol].strip()), a))
    return sorted(out, key=lambda x: (x[0], x[1] or ""))


def collect(inp: Path, *, assignments: list[str], only: str | None = None, roster: Path | None = None,
            scratch: Path | None = None) -> Collected:
    """All submissions under `inp` for `assignments` (the known ids)."""
    inp = Path(inp)
    if inp.is_file() and inp.suffix.lower() == ".zip":
        inp = extract_zip(inp, Path(scratch) / "unzipped")
    if not inp.is_dir():
        raise FileNotFoundError(f"no submissions folder or zip at {inp}")
    root = inp / "submitted" if (inp / "submitted").is_dir() else inp
    subs: list[Submission] = []
    skipped: list[str] = []
    students: set[str] = set()

    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():                                   # nbgrader layout
            student = safe_id(entry.name)
            students.add(student)
            for adir in sorted(p for p in entry.iterdir() if p.is_dir() and not p.name.startswith(".")):
                aid = adir.name
                if only and aid != only:
                    continue
                nbs = sorted(p for p in adir.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
                files = sorted(p for p in adir.iterdir() if p.is_file() and not p.name.startswith("."))
                if not nbs:
                    if files:
                        subs.append(Submission(student, aid, files[0], "nbgrader",
                                               [f"no .ipynb in {adir.name}/; found {files[0].name}"]))
                    continue
                pick = next((p for p in nbs if p.stem == aid), None) or max(nbs, key=lambda p: (p.stat().st_mtime, p.name))
                notes = [f"{len(nbs)} notebooks in {adir.name}/; graded {pick.name}"] if len(nbs) > 1 else []
                subs.append(Submission(student, aid, pick, "nbgrader", notes))
        elif entry.is_file():                                # flat layout
            if "__" not in entry.name:
                skipped.append(entry.name)
                continue
            student = safe_id(entry.name.split("__", 1)[0])
            students.add(student)
            rest = entry.name.split("__", 1)[1]
            aid = only or next((a for a in assignments if a in rest), None)
            how = "flat" if only else ("flat+name" if aid else "flat+content")
            subs.append(Submission(student, aid, entry, how))

    # several flat files for one (student, assignment): grade the newest, say so
    by_key: dict[tuple, list[Submission]] = {}
    for s in subs:
        by_key.setdefault((s.student, s.assignment or f"?{s.path.name}"), []).append(s)
    final = []
    for group in by_key.values():
        if len(group) > 1:
            pick = max(group, key=lambda s: (s.path.stat().st_mtime, s.path.name))
            pick.notes.append(f"{len(group)} files for this assignment; graded {pick.path.name}")
            final.append(pick)
        else:
            final.extend(group)

    rows = read_roster(roster)
    everyone = sorted({st for st, _ in rows}) if rows else sorted(students)
    return Collected(submissions=final, students=everyone, roster=rows, skipped=skipped, root=root)


def missing(subs: list[Submission], students: list[str], only: str | None,
            roster: list[tuple[str, str | None]] | None = None) -> list[tuple[str, str]]:
    """(student, assignment) pairs with no submission. With a roster, its rows say who owes what
    (a row without an assignment owes every graded one); without, every student seen owes every
    assignment being graded."""
    graded = {only} if only else {s.assignment for s in subs if s.assignment}
    have = {(s.student, s.assignment) for s in subs}
    if roster:
        owed = {(st, a) for st, a in roster if a is None or a in graded or a == only}
        owed = {(st, x) for st, a in owed for x in ([a] if a else sorted(graded))}
    else:
        owed = {(st, a) for a in graded for st in students}
    return sorted((st, a) for st, a in owed if (st, a) not in have and (not only or a == only))
