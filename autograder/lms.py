"""LMS bulk downloads: the names Canvas, Moodle, Blackboard and Brightspace give submissions, and
grade files in the form Canvas and Moodle import.

Names understood (``<file>`` is the student's original file name; an assignment id in it picks the
assignment, as in the flat layout):

* Canvas ("Download Submissions"): ``<lastfirst>[_late|_LATE]_<userid>_<submissionid>_<file>``;
  Canvas renames a re-uploaded file ``<stem>-1.<ext>``, ``-2`` ... (nus-cs2103 forum issues #361
  and #459, IIC1253 issue #34), so the highest suffix is preferred; the id is the Canvas user id
  (instructure/canvas-lms issue #2406 shows ``studenttest_3143_207797_zipsubmission.zip``).
* Moodle ("Download all submissions", MoodleDocs and the assignsubmission_file plugin): flat
  ``<Full Name>_<participantid>_assignsubmission_file_<file>``, or, with "download submissions in
  folders", ``<Full Name>_<participantid>_assignsubmission_file[_]/<file>`` (both spellings of
  the folder are seen; Moodle puts spaces for underscores in the name); ``..._assignsubmission_
  onlinetext_...`` (online text) is ignored with its reason. The id is the participant id, which
  is also the grading worksheet's ``Participant <id>`` identifier.
* Blackboard ("Assignment File Download", vangef/BBGradebookOrganiser: "ANYTHING_STUDENTNUMBER_
  attempt_DATETIME_FILENAME"; jeroendoggen/blackboard-analysis-tools): ``<Assignment>_<username>_
  attempt_<YYYY-MM-DD-HH-MM-SS>_<file>`` plus the receipt ``<Assignment>_<username>_attempt_
  <YYYY-MM-DD-HH-MM-SS>.txt`` (not graded; its ``Name: ... (<username>)`` line settles where a
  username with underscores starts, see :func:`resolve_blackboard`); the latest attempt of a
  student wins, earlier ones are listed as superseded.
* Brightspace/D2L (folder download, a D2L reorganising script's example ``397063-2557369 -
  Mary-Ann Smith - Sep 24, 2024 926 PM/document.pdf``; another course's regex ``<id>-<id> -
  <org id> - <Name>- <date> - <file>``): folders ``<submissionid>-<userid> - <Name>[ ]- <Mon D,
  YYYY HMM AM|PM>/<file>`` or flat ``... - <date> - <file>``; a ``<org-defined id> - `` segment
  before the name is read when present and is then the student's id. Sources differ on the
  space before the dash that precedes the date: both are accepted. ``index.html`` is ignored.
  The latest submission of a student wins, earlier ones are listed as superseded.

A roster (``--roster``) with an ``lms_id`` column maps these ids to the course's student ids.
"""
from __future__ import annotations

import csv
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

LABEL = {"canvas": "Canvas", "moodle": "Moodle", "blackboard": "Blackboard", "brightspace": "Brightspace"}
EXPORTS = ("canvas", "moodle")

CANVAS = re.compile(r"^(?P<name>[^_]+?)(?:_(?P<late>late))?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$", re.I)
MOODLE_FILE = re.compile(r"^(?P<name>[^_]+)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.+)$")
MOODLE_DIR = re.compile(r"^(?P<name>[^_]+)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?$")
BLACKBOARD = re.compile(r"^(?P<assign>.+)_(?P<user>[^_]+)_attempt_(?P<ts>\d{4}(?:-\d{2}){5})"
                        r"(?:_(?P<file>.+)|(?P<receipt>\.txt))$")
_DATE = r"(?P<date>(?P<mon>[A-Z][a-z]{2})[a-z]* (?P<day>\d{1,2}), (?P<year>\d{4}) (?P<hm>\d{3,4}) (?P<ampm>[AP]M))"
BRIGHTSPACE_DIR = re.compile(rf"^(?P<sub>\d+)-(?P<uid>\d+) - (?P<name>.+?) ?- {_DATE}$")
BRIGHTSPACE_FILE = re.compile(rf"^(?P<sub>\d+)-(?P<uid>\d+) - (?P<name>.+?) ?- {_DATE} - (?P<file>.+)$")
MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
RESUBMISSION = re.compile(r"-(\d+)(?=\.[^.]*$|$)")
NOISE = {"index.html": "Brightspace's index of the download"}


@dataclass
class LmsName:
    lms: str                      # canvas, moodle, blackboard, brightspace
    lms_id: str                   # Canvas user id, Moodle participant id, Blackboard username, Brightspace id
    name: str                     # the student's name as the LMS wrote it
    original: str | None          # the student's file name (None for a folder)
    when: str = ""                # sortable attempt time ("" when the LMS gives none)
    late: bool = False
    kind: str = "file"            # file, folder, receipt, onlinetext, other plugin names
    alt_ids: tuple = ()           # other ids worth looking up in the roster
    group: str = ""               # what attempts compete within (Blackboard: the assignment name)
    notes: list = field(default_factory=list)


RECEIPT_USER = re.compile(r"^Name:.*\((?P<user>[^()\s]+)\)\s*$", re.M)   # "Name: Ann Smith (a_smith)"


def resolve_blackboard(m: LmsName, receipt: str | None, known_ids=frozenset()) -> LmsName:
    """Blackboard joins ``<Assignment>_<username>`` with an underscore, and both may contain
    underscores, so the name alone cannot say where the username starts (``parse_file`` takes the
    last segment). Settled, in this order, by the attempt's receipt (its ``Name: ... (<username>)``
    line), by the longest ending of the joined prefix that is an LMS id on the roster, or else left
    as parsed with a note."""
    prefix = f"{m.group}_{m.lms_id}"
    user, how = None, ""
    if receipt and (r := RECEIPT_USER.search(receipt)) and prefix.endswith("_" + r["user"]):
        user, how = r["user"], "username from the attempt's receipt"
    else:
        parts = prefix.split("_")
        endings = ["_".join(parts[i:]) for i in range(1, len(parts))]       # longest first
        user = next((e for e in endings if e in known_ids), None)
        how = "username matched on the roster" if user else ""
    if not user or user == m.lms_id:
        if m.group.count("_") and not receipt:
            m.notes.append(f"no receipt: username read as {m.lms_id!r} (the last '_' segment)")
        return m
    group = prefix[: -len(user) - 1]
    return LmsName(m.lms, user, user, m.original, m.when, m.late, m.kind, m.alt_ids, group, [*m.notes, how])


def _brightspace(m: re.Match, original: str | None) -> LmsName:
    hm = m["hm"]
    hour, minute = int(hm[:-2]) % 12 + (12 if m["ampm"] == "PM" else 0), int(hm[-2:])
    when = f"{m['year']}-{MONTHS.get(m['mon'], 0):02d}-{int(m['day']):02d} {hour:02d}:{minute:02d}"
    name, lms_id, alt = m["name"].strip(), m["uid"], ()
    head, sep, rest = name.partition(" - ")
    if sep and " " not in head and any(c.isdigit() for c in head):      # "<org-defined id> - <Name>"
        name, lms_id, alt = rest.strip(), head, (m["uid"],)
    return LmsName("brightspace", lms_id, name, original, when, kind="folder" if original is None else "file",
                   alt_ids=alt)


def parse_file(filename: str) -> LmsName | None:
    """What an LMS's name for a loose file says, or None when no LMS names files this way."""
    if m := MOODLE_FILE.match(filename):
        return LmsName("moodle", m["pid"], m["name"], m["file"], kind="file" if m["plugin"] == "file" else m["plugin"])
    if m := BLACKBOARD.match(filename):
        return LmsName("blackboard", m["user"], m["user"], m["file"], m["ts"],
                       kind="receipt" if m["receipt"] else "file", group=m["assign"])
    if m := BRIGHTSPACE_FILE.match(filename):
        return _brightspace(m, m["file"])
    if m := CANVAS.match(filename):
        return LmsName("canvas", m["uid"], m["name"], m["file"], late=bool(m["late"]))
    return None


def parse_folder(dirname: str) -> LmsName | None:
    """What an LMS's per-student folder name says, or None."""
    if m := MOODLE_DIR.match(dirname):
        return LmsName("moodle", m["pid"], m["name"], None, kind="folder" if m["plugin"] == "file" else m["plugin"])
    if m := BRIGHTSPACE_DIR.match(dirname):
        return _brightspace(m, None)
    return None


def noise(filename: str) -> str | None:
    """Why a file an LMS adds to every download is not a submission (None: it may be one)."""
    return NOISE.get(filename.lower())


def recognised(name: str, is_dir: bool) -> bool:
    return bool(parse_folder(name) if is_dir else (parse_file(name) or noise(name)))


def resubmission(original: str) -> int:
    """Canvas's re-upload counter in `02_x-2.ipynb` (0 without one)."""
    m = RESUBMISSION.search(original)
    return int(m.group(1)) if m else 0


def safe_student(lms: str, lms_id: str, safe) -> str:
    """The id a student not on the roster is graded under."""
    return safe(f"{lms}-{lms_id}")


def read_people(path: Path | None, safe) -> tuple[dict[str, str], dict[str, dict]]:
    """From a roster CSV with an `lms_id` column (and optional `name`, `email`):
    ({lms id: student}, {student: {"lms_id", "name", "email"}}). Empty without that column."""
    if not path:
        return {}, {}
    rows = [r for r in csv.reader(Path(path).read_text().splitlines()) if r and not r[0].startswith("#")]
    head = [h.strip().lower() for h in rows[0]] if rows else []
    col = {k: next((head.index(h) for h in hs if h in head), None) for k, hs in {
        "student": ("student", "student_id", "id"), "lms_id": ("lms_id", "lms id", "lms_user_id"),
        "name": ("name", "full name", "full_name"), "email": ("email", "email address")}.items()}
    if col["student"] is None or col["lms_id"] is None:
        return {}, {}
    by_id, people = {}, {}
    for r in rows[1:]:
        get = {k: (r[i].strip() if i is not None and len(r) > i else "") for k, i in col.items()}
        if get["student"] and get["lms_id"]:
            st = safe(get["student"])
            by_id[get["lms_id"]] = st
            people[st] = {"lms_id": get["lms_id"], "name": get["name"], "email": get["email"]}
    return by_id, people


# ---- grade files each LMS imports ------------------------------------------------------------

def _score(r: dict) -> str:
    if r["status"] == "error" or r.get("score") is None:       # a harness failure: import nothing
        return ""
    return f"{float(r['score']):g}"


def _ids(results, who: dict[str, dict], lms: str) -> tuple[dict[str, dict], list[str]]:
    """{student: {"lms_id", "name", "email"}} for students with an id of `lms`; the others."""
    have, lacking = {}, []
    for st in sorted({r["student"] for r in results}):
        p = who.get(st) or {}
        if p.get("lms_id") and p.get("lms", lms) == lms:
            have[st] = p
        else:
            lacking.append(st)
    return have, lacking


def write_canvas(results: list[dict], out: Path, who: dict[str, dict], columns: dict[str, str] | None = None
                 ) -> tuple[Path, list[str]]:
    """Canvas gradebook import CSV (Grades > Import): Student, ID (Canvas user id), SIS User ID,
    SIS Login ID, Section, one column per assignment, and the "Points Possible" row Canvas's own
    export carries. An assignment's column is headed by `columns[assignment id]` when given (the
    existing Canvas column's "Name (id)", as Canvas's own export heads it, so the import fills that
    column), else by our assignment id (Canvas then offers to create it as a new assignment)."""
    columns = columns or {}
    aids = sorted({r["assignment"] for r in results})
    have, lacking = _ids(results, who, "canvas")
    score = {(r["student"], r["assignment"]): r for r in results}
    maxp = {a: max((r["max_score"] or 0.0) for r in results if r["assignment"] == a) for a in aids}
    path = out / "canvas_grades.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *[columns.get(a, a) for a in aids]])
        w.writerow(["    Points Possible", "", "", "", "", *[f"{maxp[a]:g}" for a in aids]])
        for st, p in have.items():
            w.writerow([p.get("name") or st, p["lms_id"], "", "", "",
                        *[_score(score[(st, a)]) if (st, a) in score else "" for a in aids]])
    return path, lacking


def moodle_time(t: float) -> str:
    return time.strftime("%A, %d %B %Y, %I:%M %p", time.localtime(t))


def write_moodle(results: list[dict], out: Path, who: dict[str, dict], now: float | None = None
                 ) -> tuple[list[Path], list[str]]:
    """Moodle grading worksheets (Assignment > "Upload grading worksheet"), one per assignment,
    with Moodle's own columns; Identifier is "Participant <participant id>"."""
    have, lacking = _ids(results, who, "moodle")
    stamp = moodle_time(time.time() if now is None else now)
    paths = []
    for aid in sorted({r["assignment"] for r in results}):
        path = out / f"moodle_grading_worksheet_{aid}.csv"
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                        "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
                        "Feedback comments"])
            for r in sorted((r for r in results if r["assignment"] == aid and r["student"] in have),
                            key=lambda r: r["student"]):
                p = have[r["student"]]
                status = "No submission" if r["status"] == "missing" else "Submitted for grading - Graded"
                feedback = f"autograder: {r['status']}" + (f" ({r['detail']})" if r.get("detail") else "")
                w.writerow([f"Participant {p['lms_id']}", p.get("name") or r["student"], p.get("email", ""), status,
                            _score(r), f"{float(r['max_score'] or 0.0):g}", "Yes", "", stamp, feedback])
        paths.append(path)
    return paths, lacking


EXPORTS_FILE = "lms_exports.json"   # in a run's output folder: which import files it wrote, and for whom


def save_exports(out: Path, which, who: dict[str, dict], columns: dict[str, str] | None = None) -> None:
    """Remember a run's LMS import files and the ids they need, so `merge` can write them again."""
    (Path(out) / EXPORTS_FILE).write_text(json.dumps({"which": list(which), "people": who,
                                                      "canvas_columns": columns or {}}, indent=1, sort_keys=True))


def load_exports(out: Path) -> tuple[list[str], dict[str, dict], dict[str, str]]:
    """(which, who, canvas columns) saved by :func:`save_exports`; empty when the run wrote no LMS file."""
    path = Path(out) / EXPORTS_FILE
    if not path.is_file():
        return [], {}, {}
    saved = json.loads(path.read_text())
    return ([x for x in saved.get("which", []) if x in EXPORTS], saved.get("people", {}),
            saved.get("canvas_columns", {}))


def parse_columns(pairs) -> dict[str, str]:
    """``--canvas-column 02_diffusion_models="Homework 2 (12345)"`` pairs -> {assignment id: header}."""
    out = {}
    for pair in pairs or ():
        aid, sep, header = pair.partition("=")
        if not sep or not aid.strip() or not header.strip():
            raise ValueError(f"--canvas-column {pair!r}: write ASSIGNMENT=HEADER, e.g. "
                             "02_diffusion_models=\"Homework 2 (12345)\" (the header of the column in Canvas's own export)")
        out[aid.strip()] = header.strip()
    return out


def write_exports(results: list[dict], out: Path, who: dict[str, dict], which,
                  columns: dict[str, str] | None = None) -> list[str]:
    """The import files of the LMSs in `which`; lines for the summary. `columns`: Canvas headers."""
    lines = []
    for lms in which:
        if lms == "canvas":
            path, lacking = write_canvas(results, out, who, columns)
            paths = [path]
        elif lms == "moodle":
            paths, lacking = write_moodle(results, out, who)
        else:
            continue
        lines.append(f"\n{LABEL[lms]} import: {', '.join(p.name for p in paths)}"
                     + (f" (left out, no {LABEL[lms]} id; add an lms_id column to the roster: "
                        f"{', '.join(lacking)})" if lacking else ""))
    return lines
