"""LMS bulk downloads (autograder/lms.py, autograder/collect.py): the demo class's notebooks exported
under Canvas, Moodle, Blackboard and Brightspace names are attributed to the same (student,
assignment) and bytes as in nbgrader's layout; unreadable names fail the run with their reasons;
Canvas and Moodle grade import files parse back to the right ids and scores."""
from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import EXAMPLES_DIR, SOURCE_DIR, assignments
from autograder import lms
from autograder.collect import collect
from conftest import REPO, grade_folder

KNOWN = assignments.ids(SOURCE_DIR)
DEMO = EXAMPLES_DIR / "submitted"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def demo_class() -> list[tuple[str, str, Path]]:
    """(student, assignment, notebook) of the demo class in nbgrader's layout."""
    return sorted((nb.parent.parent.name, nb.parent.name, nb) for nb in DEMO.glob("*/*/*.ipynb"))


def expected() -> set[tuple[str, str, str]]:
    return {(st, aid, _sha(nb.read_bytes())) for st, aid, nb in demo_class()}


def got(col) -> set[tuple[str, str, str]]:
    return {(s.student, s.assignment, _sha(s.path.read_bytes())) for s in col.submissions}


def _put(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _roster(path: Path, ids: dict[str, str]) -> Path:
    path.write_text("student,lms_id,name\n" + "".join(f"{st},{i},Name {st}\n" for st, i in sorted(ids.items())))
    return path


OLD = b'{"an earlier attempt": true}'


def export(kind: str, root: Path, klass=None) -> dict[str, str]:
    """The class in `kind`'s naming under `root`; returns {student: LMS id}. One student each has an
    earlier attempt (or Canvas re-upload) with other bytes, which must not be graded."""
    ids = {}
    for n, (st, aid, nb) in enumerate(klass or demo_class()):
        data, first = nb.read_bytes(), n == 0
        if kind == "canvas":
            ids[st] = uid = str(1000 + n)
            late = "_LATE" if n % 3 == 1 else ("_late" if n % 3 == 2 else "")
            if first:                                        # re-uploaded twice: -2 is the latest
                _put(root / f"{st.replace('_', '')}_{uid}_{50000 + n}_{aid}.ipynb", OLD)
                _put(root / f"{st.replace('_', '')}_{uid}_{50000 + n}_{aid}-1.ipynb", OLD)
                _put(root / f"{st.replace('_', '')}_{uid}_{50000 + n}_{aid}-2.ipynb", data)
            else:
                _put(root / f"{st.replace('_', '')}{late}_{uid}_{50000 + n}_{aid}.ipynb", data)
        elif kind == "moodle_flat":
            ids[st] = pid = str(2000 + n)
            _put(root / f"Student {st.replace('_', ' ')}_{pid}_assignsubmission_file_{aid}.ipynb", data)
            if first:
                _put(root / f"Student {st.replace('_', ' ')}_{pid}_assignsubmission_onlinetext_onlinetext.html", b"hi")
        elif kind == "moodle_folders":
            ids[st] = pid = str(2000 + n)
            tail = "_" if n % 2 else ""                      # both spellings of the folder
            _put(root / f"Student {st.replace('_', ' ')}_{pid}_assignsubmission_file{tail}" / f"{aid}.ipynb", data)
            if first:
                _put(root / f"Student {st.replace('_', ' ')}_{pid}_assignsubmission_onlinetext_" / "onlinetext.html", b"hi")
        elif kind == "blackboard":
            ids[st] = user = f"s{3000 + n}"
            ts = "2026-11-20-23-59-01"
            _put(root / f"Homework 2_{user}_attempt_{ts}_{aid}.ipynb", data)
            _put(root / f"Homework 2_{user}_attempt_{ts}.txt", b"Name: x\nSubmission Field:\n")
            if first:
                _put(root / f"Homework 2_{user}_attempt_2026-11-19-10-00-00_{aid}.ipynb", OLD)
                _put(root / f"Homework 2_{user}_attempt_2026-11-19-10-00-00.txt", b"receipt")
        elif kind == "brightspace":
            ids[st] = uid = str(4000 + n)
            dash = " - " if n % 2 else "- "                  # both spellings seen before the date
            _put(root / f"{70000 + n}-{uid} - {st}, Student{dash}Nov 20, 2026 1159 PM" / f"{aid}.ipynb", data)
            if first:
                _put(root / f"{60000 + n}-{uid} - {st}, Student- Nov 3, 2026 926 AM" / f"{aid}.ipynb", OLD)
        elif kind == "brightspace_flat":
            ids[st] = org = f"N{5000 + n}"                   # org-defined id segment before the name
            _put(root / f"{70000 + n}-{4000 + n} - {org} - {st}, Student- Nov 20, 2026 1159 PM - {aid}.ipynb", data)
    if kind.startswith("brightspace"):
        _put(root / "index.html", b"<html></html>")
    return ids


def _zip(folder: Path, zpath: Path) -> Path:
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())
    return zpath


@pytest.mark.parametrize("kind", ["canvas", "moodle_flat", "moodle_folders", "blackboard", "brightspace",
                                  "brightspace_flat"])
def test_every_lms_naming_gives_the_nbgrader_attribution(tmp_path, kind):
    ids = export(kind, tmp_path / "export")
    roster = _roster(tmp_path / "roster.csv", ids)
    want = expected()
    for inp in (tmp_path / "export", _zip(tmp_path / "export", tmp_path / "export.zip")):
        col = collect(inp, assignments=KNOWN, roster=roster, scratch=tmp_path / f"scratch-{inp.suffix}")
        assert got(col) == want, sorted(got(col) ^ want)[:6]
        assert col.skipped == [] and col.unmapped == []
        assert col.lms == [kind.split("_")[0]]
        assert all(s.how.endswith("+name") for s in col.submissions)
    ignored = dict(col.ignored)
    superseded = [name for name, _ in col.superseded]
    first = demo_class()[0][0]
    if kind == "blackboard":       # every receipt ignored, the earlier attempt superseded
        assert sum(name.endswith(".txt") for name in ignored) == len(want) + 1
        assert superseded == [f"Homework 2_{ids[first]}_attempt_2026-11-19-10-00-00_{demo_class()[0][1]}.ipynb"]
    elif kind == "brightspace":
        assert "index.html" in ignored and len(superseded) == 1 and superseded[0].startswith(f"{60000}-4000 - ")
    elif kind == "brightspace_flat":
        assert "index.html" in ignored and not superseded
    elif kind.startswith("moodle"):
        assert len(ignored) == 1 and "onlinetext" in next(iter(ignored)) and not superseded
    elif kind == "canvas":
        assert not ignored and not superseded
        pick = next(s for s in col.submissions if s.student == first)
        assert pick.path.name.endswith("-2.ipynb") and "3 files" in pick.notes[-1]
        late = {s.student for s in col.submissions if "late" in s.notes}
        assert late == {st for n, (st, _, _) in enumerate(demo_class()) if n % 3}


def test_lms_ids_off_the_roster_are_graded_under_a_safe_id_and_listed(tmp_path):
    ids = export("blackboard", tmp_path / "export")
    first = demo_class()[0][0]
    roster = _roster(tmp_path / "roster.csv", {st: i for st, i in ids.items() if st != first})
    col = collect(tmp_path / "export", assignments=KNOWN, roster=roster)
    assert col.unmapped == [("blackboard", ids[first], f"blackboard-{ids[first]}")]
    assert f"blackboard-{ids[first]}" in {s.student for s in col.submissions}
    col = collect(tmp_path / "export", assignments=KNOWN)                   # no roster: all derived
    assert {s.student for s in col.submissions} == {f"blackboard-{i}" for i in ids.values()}


def test_blackboard_usernames_with_underscores_are_settled_by_the_receipt_or_the_roster(tmp_path):
    """`Homework_2_a_smith_attempt_...`: the assignment and the username both hold underscores, so
    the name alone cannot say where the username starts. The attempt's receipt names the user
    (`Name: Ann Smith (a_smith)`); without receipts a roster of LMS ids settles it; with neither
    the last segment is taken and the submission's notes say so."""
    nb = (DEMO / "complete" / "02_diffusion_models" / "02_diffusion_models.ipynb").read_bytes()
    users = {"a_smith": "Ann Smith", "b_smith": "Bob Smith", "jo": "Jo Lee"}
    ts = "2026-11-20-23-59-01"

    def download(folder: Path, receipts: bool) -> Path:
        for user, name in users.items():
            _put(folder / f"Homework_2_{user}_attempt_{ts}_02_diffusion_models.ipynb", nb)
            if receipts:
                _put(folder / f"Homework_2_{user}_attempt_{ts}.txt",
                     f"Name: {name} ({user})\nAssignment: Homework_2\nFiles:\n".encode())
        return folder

    col = collect(download(tmp_path / "with", True), assignments=KNOWN)
    assert {s.lms["lms_id"] for s in col.submissions} == set(users)
    assert {s.student for s in col.submissions} == {f"blackboard-{u}" for u in users}
    assert all("username from the attempt's receipt" in s.notes for s in col.submissions if "_" in s.lms["lms_id"])

    bare = download(tmp_path / "bare", False)
    roster = _roster(tmp_path / "roster.csv", {"ann": "a_smith", "bob": "b_smith", "jo": "jo"})
    col = collect(bare, assignments=KNOWN, roster=roster)
    assert {s.student: s.lms["lms_id"] for s in col.submissions} == {"ann": "a_smith", "bob": "b_smith", "jo": "jo"}
    assert col.unmapped == []

    col = collect(bare, assignments=KNOWN)              # neither: the last segment, and a note saying so
    by = {s.path.name.split("_attempt_")[0]: s for s in col.submissions}
    assert by["Homework_2_a_smith"].lms["lms_id"] == "smith" and by["Homework_2_jo"].lms["lms_id"] == "jo"
    assert any("no receipt: username read as 'smith'" in n for n in by["Homework_2_a_smith"].notes)
    # the parser alone, a receipt naming someone else is not believed
    m = lms.parse_file(f"Homework_2_a_smith_attempt_{ts}_x.ipynb")
    assert lms.resolve_blackboard(m, "Name: Eve (eve)\n").lms_id == "smith"
    assert lms.resolve_blackboard(m, "Name: Ann Smith (a_smith)\n").group == "Homework_2"


def test_unreadable_names_are_listed_with_reasons_and_fail_the_run(tmp_path):
    bad = tmp_path / "bad"
    nb = (DEMO / "complete" / "02_diffusion_models" / "02_diffusion_models.ipynb").read_bytes()
    _put(bad / "homework.ipynb", nb)
    _put(bad / "Smith John 02_diffusion_models.ipynb", nb)
    _put(bad / "ann" / "loose.ipynb", nb)                    # a student folder with no assignment folder
    col = collect(bad, assignments=KNOWN)
    assert col.skipped == ["Smith John 02_diffusion_models.ipynb", "ann/loose.ipynb", "homework.ipynb"]
    assert col.submissions == [] and all(col.reasons[n] for n in col.skipped)
    proc = grade_folder(bad, tmp_path / "out")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for name in col.skipped:
        assert f"  {name}: " in proc.stdout
    assert "--allow-skipped" in proc.stderr and "nothing was graded" in proc.stderr
    assert grade_folder(bad, tmp_path / "out2", "--allow-skipped").returncode == 0


def _results(rows):
    return [{"student": st, "assignment": aid, "score": sc, "max_score": mx, "status": status, "detail": ""}
            for st, aid, sc, mx, status in rows]


def test_canvas_and_moodle_files_parse_back_to_ids_and_scores(tmp_path):
    res = _results([("ann", "02_x", 13.0, 13.0, "graded"), ("bob", "02_x", 10.5, 13.0, "graded"),
                    ("cat", "02_x", 0.0, 13.0, "missing"), ("dan", "02_x", 0.0, 13.0, "error"),
                    ("ann", "03_y", 4.0, 12.0, "graded"), ("eve", "02_x", 1.0, 13.0, "graded")])
    who = {"ann": {"lms_id": "101", "name": "Ann A", "email": "ann@x"}, "bob": {"lms_id": "102", "name": ""},
           "cat": {"lms_id": "103"}, "dan": {"lms_id": "104"}}               # eve: no LMS id
    path, lacking = lms.write_canvas(res, tmp_path, who)
    rows = list(csv.reader(path.read_text().splitlines()))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "02_x", "03_y"]
    assert rows[1][0].strip() == "Points Possible" and rows[1][5:] == ["13", "12"]
    by_id = {r[1]: r for r in rows[2:]}
    assert by_id["101"][0] == "Ann A" and by_id["101"][5:] == ["13", "4"]
    assert by_id["102"][0] == "bob" and by_id["102"][5:] == ["10.5", ""]
    assert by_id["103"][5] == "0" and by_id["104"][5] == ""          # missing scores 0; a harness error nothing
    assert lacking == ["eve"] and len(rows) == 6

    paths, lacking = lms.write_moodle(res, tmp_path, who, now=0)
    assert [p.name for p in paths] == ["moodle_grading_worksheet_02_x.csv", "moodle_grading_worksheet_03_y.csv"]
    with open(paths[0], newline="") as f:
        sheet = list(csv.DictReader(f))
    assert list(sheet[0]) == ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                              "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
                              "Feedback comments"]
    got_rows = {r["Identifier"]: (r["Full name"], r["Grade"], r["Maximum Grade"]) for r in sheet}
    assert got_rows == {"Participant 101": ("Ann A", "13", "13"), "Participant 102": ("bob", "10.5", "13"),
                        "Participant 103": ("cat", "0", "13"), "Participant 104": ("dan", "", "13")}
    assert lacking == ["eve"]


@pytest.mark.slow
def test_a_canvas_zip_grades_like_the_demo(tmp_path):
    """One assignment, three demo students, exported as Canvas names them, zipped, graded by the CLI."""
    exp = {e["student"]: e for e in json.loads((EXAMPLES_DIR / "expected.json").read_text())["students"]}
    pick = ("complete", "blank", "one_wrong")
    klass = [(st, aid, nb) for st, aid, nb in demo_class() if st in pick]
    ids = export("canvas", tmp_path / "export", klass)
    roster = _roster(tmp_path / "roster.csv", ids)
    proc = grade_folder(_zip(tmp_path / "export", tmp_path / "submissions.zip"), tmp_path / "out",
                        "--roster", str(roster))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(tmp_path / "out" / "grades.csv") as f:
        grades = {r["student"]: r for r in csv.DictReader(f)}
    assert {st: (r["status"], float(r["score"])) for st, r in grades.items()} == \
        {st: (exp[st]["status"], exp[st]["score"]) for st in pick}
    rows = list(csv.reader((tmp_path / "out" / "canvas_grades.csv").read_text().splitlines()))
    assert {r[1]: float(r[5]) for r in rows[2:]} == {ids[st]: exp[st]["score"] for st in pick}
    assert not (tmp_path / "out" / "moodle_grading_worksheet_02_diffusion_models.csv").exists()
    # `merge` (after a cluster run, or to rebuild) writes the same import file again
    written = (tmp_path / "out" / "canvas_grades.csv").read_bytes()
    (tmp_path / "out" / "canvas_grades.csv").unlink()
    merged = subprocess.run([sys.executable, "-m", "autograder", "merge", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=REPO)
    assert merged.returncode == 0, merged.stdout[-2000:] + merged.stderr[-2000:]
    assert (tmp_path / "out" / "canvas_grades.csv").read_bytes() == written
    assert "Canvas import: canvas_grades.csv" in merged.stdout


def test_merge_writes_the_lms_import_files_of_the_run_again(tmp_path):
    """What a run saved of its LMS exports (lms_exports.json) is enough for `merge`: the same rows
    from the results files, and a student without an id of that LMS listed as left out."""
    for st, aid, sc, mx, status in [("ann", "02_x", 13.0, 13.0, "graded"), ("bob", "02_x", 10.5, 13.0, "graded"),
                                    ("cat", "02_x", 0.0, 13.0, "missing")]:
        _put(tmp_path / "results" / aid / f"{st}.json", json.dumps(
            {"student": st, "assignment": aid, "score": sc, "max_score": mx, "status": status, "detail": ""}).encode())
    lms.save_exports(tmp_path, ["moodle"], {"ann": {"lms": "moodle", "lms_id": "201", "name": "Ann A"},
                                            "bob": {"lms": "moodle", "lms_id": "202"}})
    merged = subprocess.run([sys.executable, "-m", "autograder", "merge", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO)
    assert merged.returncode == 0, merged.stdout[-2000:] + merged.stderr[-2000:]
    with open(tmp_path / "moodle_grading_worksheet_02_x.csv", newline="") as f:
        sheet = {r["Identifier"]: r["Grade"] for r in csv.DictReader(f)}
    assert sheet == {"Participant 201": "13", "Participant 202": "10.5"}
    assert "left out, no Moodle id" in merged.stdout and "cat" in merged.stdout
    assert not (tmp_path / "canvas_grades.csv").exists()
    assert lms.load_exports(tmp_path / "nothing") == ([], {}, {})


def test_a_canvas_column_can_be_headed_as_the_existing_assignment(tmp_path):
    """`--canvas-column 02_x="Homework 2 (12345)"`: Canvas fills the existing column whose export
    header that is, instead of offering a new assignment; the header survives `merge`."""
    res = _results([("ann", "02_x", 13.0, 13.0, "graded"), ("ann", "03_y", 4.0, 12.0, "graded")])
    cols = lms.parse_columns(["02_x=Homework 2 (12345)"])
    path, _ = lms.write_canvas(res, tmp_path, {"ann": {"lms_id": "101"}}, cols)
    head = next(csv.reader(path.read_text().splitlines()))
    assert head[5:] == ["Homework 2 (12345)", "03_y"]
    for bad in (["02_x"], ["=Homework"], ["02_x= "]):
        with pytest.raises(ValueError, match="ASSIGNMENT=HEADER"):
            lms.parse_columns(bad)
    lms.save_exports(tmp_path, ["canvas"], {"ann": {"lms_id": "101"}}, cols)
    assert lms.load_exports(tmp_path)[2] == cols
    refused = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp_path), "--canvas-column", "02_x"],
                             capture_output=True, text=True, cwd=REPO)
    assert refused.returncode == 2 and "write ASSIGNMENT=HEADER" in refused.stderr
