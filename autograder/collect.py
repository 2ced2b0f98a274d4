"""Finding submissions: nbgrader's submitted/ layout, a flat folder, an LMS bulk download, or a
zip of any of them.

* nbgrader: ``<dir>/[submitted/]<student>/<assignment>/<notebook>.ipynb``
* flat:     ``<dir>/<student>__<anything>`` (any extension: a .pdf is a submission too and is
            reported as "not a notebook"); the assignment comes from ``--assignment``, from an
            assignment id in the file name, or from the notebook's graded cells;
* LMS:      the names Canvas, Moodle, Blackboard and Brightspace give their bulk downloads
            (autograder/lms.py); the assignment as in the flat layout, the student from the LMS
            id, mapped through the roster's ``lms_id`` column (``<lms>-<id>`` when unmapped);
* zip:      any of the above inside a .zip (extracted safely into the output folder).

Every file that is not graded is listed with its reason: ``skipped`` (not understood: the run
fails unless ``--allow-skipped``), ``ignored`` (LMS receipts, indexes, online text) or
``superseded`` (an earlier LMS attempt). Students on a roster (``--roster``, or every student
folder of the nbgrader layout) who have no submission for a graded assignment get the status
"missing".
"""
from __future__ import annotations

import csv
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import lms as lmsnames

SAFE_ID = re.compile(r"[^A-Za-z0-9._@+-]+")
MAX_ZIP_BYTES = 2 * 2**30


@dataclass
class Submission:
    student: str
    assignment: str | None
    path: Path
    how: str                      # "nbgrader", "flat", "flat+name", "flat+content", "<lms>[+name|+content]"
    notes: list = field(default_factory=list)
    lms: dict | None = None       # {"lms", "lms_id", "name"} for a file from an LMS download
    order: tuple | None = None    # LMS files: which of a student's files wins (the greatest)


@dataclass
class Collected:
    submissions: list[Submission]
    students: list[str]                     # everyone seen (without a roster) or on the roster
    roster: list[tuple[str, str | None]]    # (student, assignment or None) expected, if a roster was given
    skipped: list[str]                      # files we could not attribute to a student
    root: Path
    reasons: dict = field(default_factory=dict)       # skipped file -> why
    ignored: list = field(default_factory=list)       # (file, why): LMS noise, not a submission
    superseded: list = field(default_factory=list)    # (file, why): an earlier LMS attempt
    unmapped: list = field(default_factory=list)      # (LMS, LMS id, graded as): not on the roster
    lms: list = field(default_factory=list)           # the LMSs whose namings were found
    people: dict = field(default_factory=dict)        # student -> {"lms", "lms_id", "name", "email"}


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
            not any("__" in p.name for p in dest.iterdir() if p.is_file()) and \
            not lmsnames.recognised(entries[0].name, True):
        inner = entries[0]
        if any(inner.glob("*__*")) or any(inner.glob("*/*/*.ipynb")) or (inner / "submitted").is_dir() or \
                any(lmsnames.recognised(p.name, p.is_dir()) for p in inner.iterdir()):
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


def _lms_file_order(m: "lmsnames.LmsName", path: Path) -> tuple:
    """A student's files compete by attempt time, notebook first, Canvas re-upload counter, name."""
    orig = m.original or path.name
    return (m.when, path.suffix.lower() == ".ipynb", lmsnames.resubmission(orig), orig)


def _walk_lms_folder(entry: Path, root: Path, m, cands, ignored) -> None:
    files = sorted(p for p in entry.rglob("*") if p.is_file())
    if m.kind != "folder":                                   # Moodle online text and the like
        ignored.append((f"{entry.name}/", f"{lmsnames.LABEL[m.lms]} {m.kind} submission, not a file"))
        return
    if not files:
        ignored.append((f"{entry.name}/", "empty folder"))
    for p in files:
        rel = p.relative_to(root).as_posix()
        parts = p.relative_to(entry).parts
        if any(x.startswith(".") or x == "__MACOSX" for x in parts):
            ignored.append((rel, "hidden or system file"))
            continue
        fm = lmsnames.LmsName(m.lms, m.lms_id, m.name, "/".join(parts), m.when, m.late, "file", m.alt_ids, m.group)
        cands.append((fm, p))


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
    reasons: dict[str, str] = {}
    ignored: list[tuple[str, str]] = []
    students: set[str] = set()
    cands: list[tuple] = []                                  # (LmsName, path) of LMS files

    def skip(name: str, why: str) -> None:
        skipped.append(name)
        reasons[name] = why

    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and (m := lmsnames.parse_folder(entry.name)):     # LMS per-student folder
            _walk_lms_folder(entry, root, m, cands, ignored)
        elif entry.is_dir():                                 # nbgrader layout
            student = safe_id(entry.name)
            students.add(student)
            for loose in sorted(p for p in entry.iterdir() if p.is_file() and not p.name.startswith(".")):
                skip(f"{entry.name}/{loose.name}", "a file directly in a student folder (nbgrader's layout is "
                     "<student>/<assignment>/<notebook>.ipynb): move it into its assignment's folder")
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
        elif entry.is_file():
            if why := lmsnames.noise(entry.name):
                ignored.append((entry.name, why))
            elif m := lmsnames.parse_file(entry.name):       # LMS flat file
                if m.kind == "receipt":
                    ignored.append((entry.name, f"{lmsnames.LABEL[m.lms]} submission receipt"))
                elif m.kind != "file":
                    ignored.append((entry.name, f"{lmsnames.LABEL[m.lms]} {m.kind} submission, not a file"))
                else:
                    cands.append((m, entry))
            elif "__" in entry.name:                         # flat layout
                student = safe_id(entry.name.split("__", 1)[0])
                students.add(student)
                rest = entry.name.split("__", 1)[1]
                aid = only or next((a for a in assignments if a in rest), None)
                how = "flat" if only else ("flat+name" if aid else "flat+content")
                subs.append(Submission(student, aid, entry, how))
            else:
                skip(entry.name, "no student in the name: not '<student>__<file>', nor a Canvas, Moodle, "
                     "Blackboard or Brightspace download name")
        else:
            skip(entry.name, "not a regular file or folder")

    by_lms_id, people = lmsnames.read_people(roster, safe_id)
    lms_subs, superseded, unmapped, seen_lms = _lms_submissions(cands, by_lms_id, assignments, only, root)
    subs += lms_subs
    students |= {s.student for s in lms_subs}
    for s in lms_subs:
        p = people.setdefault(s.student, {})
        p.setdefault("lms_id", s.lms["lms_id"])
        p["lms"] = s.lms["lms"]
        p["name"] = p.get("name") or s.lms["name"]
        p.setdefault("email", "")

    # several files for one (student, assignment): grade the newest (LMS: the latest attempt), say so
    by_key: dict[tuple, list[Submission]] = {}
    for s in subs:
        by_key.setdefault((s.student, s.assignment or f"?{s.path.name}"), []).append(s)
    final = []
    for group in by_key.values():
        if len(group) > 1:
            if all(s.order is not None for s in group):
                pick = max(group, key=lambda s: s.order)
            else:
                pick = max(group, key=lambda s: (s.path.stat().st_mtime, s.path.name))
            pick.notes.append(f"{len(group)} files for this assignment; graded {pick.path.name}")
            final.append(pick)
        else:
            final.extend(group)

    rows = read_roster(roster)
    everyone = sorted({st for st, _ in rows}) if rows else sorted(students)
    return Collected(submissions=final, students=everyone, roster=rows, skipped=skipped, root=root,
                     reasons=reasons, ignored=ignored, superseded=superseded, unmapped=unmapped,
                     lms=seen_lms, people=people)


def _blackboard_user(m, path: Path, by_lms_id: dict):
    """The username of a Blackboard file, settled by its attempt's receipt beside it or the roster."""
    receipt = path.with_name(f"{m.group}_{m.lms_id}_attempt_{m.when}.txt")
    try:
        text = receipt.read_bytes()[:65536].decode("utf-8", "replace") if receipt.is_file() else None
    except OSError:
        text = None
    return lmsnames.resolve_blackboard(m, text, frozenset(by_lms_id))


def _lms_submissions(cands, by_lms_id, assignments, only, root):
    """Submissions from LMS-named files: the latest attempt of each student, ids through the roster."""
    cands = [(_blackboard_user(m, path, by_lms_id) if m.lms == "blackboard" else m, path) for m, path in cands]
    latest: dict[tuple, str] = {}
    for m, _ in cands:
        k = (m.lms, m.lms_id, m.group)
        latest[k] = max(latest.get(k, ""), m.when)
    subs, superseded, unmapped, seen = [], [], {}, set()
    for m, path in cands:
        rel = path.relative_to(root).as_posix()
        if m.when != latest[(m.lms, m.lms_id, m.group)]:
            superseded.append((rel, f"an earlier attempt ({m.when}) of {lmsnames.LABEL[m.lms]} id {m.lms_id}; "
                                    f"graded the latest ({latest[(m.lms, m.lms_id, m.group)]})"))
            continue
        seen.add(m.lms)
        student = next((by_lms_id[i] for i in (m.lms_id, *m.alt_ids) if i in by_lms_id), None)
        if student is None:
            student = lmsnames.safe_student(m.lms, m.lms_id, safe_id)
            unmapped[(m.lms, m.lms_id)] = student
        aid = only or next((a for a in assignments if a in (m.original or "")), None)
        how = m.lms if only else (f"{m.lms}+name" if aid else f"{m.lms}+content")
        notes = ([f"{lmsnames.LABEL[m.lms]} id {m.lms_id} ({m.name}), file {m.original}"] + list(m.notes)
                 + (["late"] if m.late else []))
        subs.append(Submission(student, aid, path, how, notes, lms={"lms": m.lms, "lms_id": m.lms_id, "name": m.name},
                               order=_lms_file_order(m, path)))
    return subs, sorted(superseded), [(l, i, st) for (l, i), st in sorted(unmapped.items())], sorted(seen)


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
