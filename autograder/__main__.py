"""Command line: python -m autograder {release,grade,worker,merge,sandbox,gradescope,gate} (see --help)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import EXAMPLES_DIR, NOTEBOOKS_DIR, REPO_ROOT, SOURCE_DIR

EPILOG = """statuses: graded, tampered (a test cell reported passing without evidence that its checks
ran; scored 0), timed out, kernel crashed, not a notebook, wrong assignment, missing (and error
when the harness itself failed). Exit 0 when every submission got a status;
1 when a file was not understood (each is listed with its reason; --allow-skipped accepts that)
or nothing was graded, with --strict when any status is not 'graded', or when a harness error
needs a rerun; 130 when interrupted (run the same command again to resume)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("release", help="regenerate notebooks/ (student copies) from autograder/source/")
    r.add_argument("assignments", nargs="*", help="assignment ids (default: all in --source)")
    r.add_argument("--check", action="store_true", help="only report stale notebooks (exit 1 if any)")
    r.add_argument("--source", type=Path, default=SOURCE_DIR)
    r.add_argument("--out", type=Path, default=NOTEBOOKS_DIR)

    g = sub.add_parser("grade", help="grade a class of submissions", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("submissions", nargs="?", type=Path,
                     help="folder (nbgrader submitted/<student>/<assignment>/, flat <student>__*.ipynb, or a "
                          "Canvas, Moodle, Blackboard or Brightspace bulk download) or .zip of one")
    src.add_argument("--demo", action="store_true", help="grade the bundled demo class (autograder/examples/)")
    g.add_argument("--assignment", help="grade only this assignment id (flat folders: the assignment they hold)")
    g.add_argument("--workers", type=int, default=None,
                   help="parallel workers (default: one per GPU, else one per core up to 4, 4 GB each)")
    g.add_argument("--out", type=Path, default=None, help="output folder (default: grading/, demo: grading/demo/)")
    g.add_argument("--profile", choices=("full", "smoke"), default=None,
                   help="COURSE_PROFILE for the kernels (default: full; demo: smoke)")
    g.add_argument("--cell-timeout", type=int, default=0,
                   help="CPU-seconds per cell, all threads and processes (default: by profile; a busy machine does not count)")
    g.add_argument("--notebook-timeout", type=int, default=0,
                   help="CPU-seconds per notebook (default: by profile)")
    g.add_argument("--stall-timeout", type=int, default=0,
                   help="stop a cell that used no CPU for this many seconds (default: by profile)")
    g.add_argument("--max-notebook-mb", type=int, default=64, help="refuse larger submissions unread (default: 64)")
    g.add_argument("--work-quota-mb", type=int, default=1024,
                   help="disk space of a kernel's working copy and HOME (strict sandbox; default: 1024)")
    g.add_argument("--tmp-quota-mb", type=int, default=256,
                   help="size of each private /tmp, /var/tmp, /dev/shm, /run/lock (default: 256)")
    g.add_argument("--memory-mb", type=int, default=0, help="address-space limit per kernel on CPU (default: auto)")
    g.add_argument("--sandbox", choices=("auto", "strict", "userns", "basic"), default="auto")
    g.add_argument("--allow-network", action="store_true", help="let student code use the network")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    g.add_argument("--data-dir", default="", help="COURSE_DATA_DIR for the kernels (default: inherited)")
    g.add_argument("--pass-env", action="append", default=[], metavar="NAME",
                   help="pass this environment variable through to kernels (repeatable)")
    g.add_argument("--roster", type=Path, help="CSV/text of student ids; absent students are 'missing'; an lms_id "
                   "column maps LMS ids (Canvas user id, Moodle participant id, Blackboard username, Brightspace "
                   "org-defined id) to them")
    g.add_argument("--allow-skipped", action="store_true",
                   help="exit 0 even when files were not understood (they are still listed) or nothing was graded")
    g.add_argument("--lms-export", action="append", default=[], choices=("canvas", "moodle"),
                   help="also write this LMS's grade import CSV (default: the LMS the submissions came from)")
    g.add_argument("--canvas-column", action="append", default=[], metavar="ASSIGNMENT=HEADER",
                   help="head ASSIGNMENT's column of canvas_grades.csv with HEADER, the existing column's header "
                        "in Canvas's own gradebook export (e.g. 'Homework 2 (12345)'), so the import fills it "
                        "(default: the assignment id, which Canvas offers to create as a new assignment)")
    g.add_argument("--gradebook", type=Path, metavar="DB",
                   help="also write the grades into this nbgrader gradebook.db (created when missing; "
                        "formgrader and `nbgrader export` then show them, 06's gate as its own line)")
    g.add_argument("--source", type=Path, default=SOURCE_DIR, help="instructor notebooks (default: autograder/source)")
    g.add_argument("--no-resume", action="store_true", help="regrade everything, ignoring earlier results")
    g.add_argument("--strict", action="store_true", help="exit 1 unless every submission is 'graded'")
    g.add_argument("--partial-credit", action="store_true",
                   help="nbgrader's rule: a test cell that displays a number earns that many points")
    g.add_argument("--zero-reference-calls", action="store_true",
                   help="a TODO whose answer calls the course's reference (helpers) twin earns 0 (default: reported only)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    c = g.add_argument_group("cluster", "grade as one Slurm job array (autograder/README.md, Grading on a cluster)")
    c.add_argument("--engine", choices=("local", "slurm"), default="local",
                   help="local: a worker pool on this machine (default); slurm: a task per submission")
    c.add_argument("--partition", help="Slurm partition (default: the cluster's default)")
    c.add_argument("--gpus-per-task", type=int, default=0, help="GPUs per Slurm task (default: 0, CPU)")
    c.add_argument("--cpus-per-task", type=int, default=1, help="CPU cores per Slurm task (default: 1)")
    c.add_argument("--mem-mb", type=int, default=0, help="real memory per Slurm task in MB (default: 4096)")
    c.add_argument("--array-limit", type=int, default=0, help="at most this many tasks at once (sbatch's %%N)")
    c.add_argument("--time", type=int, default=0, metavar="MIN",
                   help="Slurm time limit per task in minutes (default: the grader's own hard limit)")
    c.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG",
                   help="one more sbatch argument, e.g. --sbatch-arg=--account=course (repeatable)")

    w = sub.add_parser("worker", help="grade one job file (the unit of work; for cluster engines)")
    w.add_argument("job", type=Path, nargs="?")
    w.add_argument("--serve", type=int, metavar="FD", help=argparse.SUPPRESS)

    m = sub.add_parser("merge", help="rebuild grades.csv, the summary and the run's LMS import files from an output folder's results/")
    m.add_argument("out", type=Path)
    m.add_argument("--gradebook", type=Path, metavar="DB", help="also write the grades into this nbgrader gradebook.db")
    m.add_argument("--source", type=Path, default=SOURCE_DIR, help="instructor notebooks (for --gradebook)")

    sub.add_parser("sandbox", help="report which sandbox level this machine supports")

    gs = sub.add_parser("gradescope", help="write gradescope_<assignment>.zip, an autograder to upload to Gradescope")
    gs.add_argument("assignment", help="assignment id (or unique prefix, e.g. 02)")
    gs.add_argument("--out", type=Path, default=Path("."), help="folder to write the zip to (default: .)")
    gs.add_argument("--profile", choices=("full", "smoke"), default="full",
                    help="COURSE_PROFILE the submissions are graded with (default: full)")
    gs.add_argument("--cell-timeout", type=int, default=0, help="CPU-seconds per cell (default: by profile)")
    gs.add_argument("--notebook-timeout", type=int, default=0, help="CPU-seconds per notebook (default: by profile)")
    gs.add_argument("--stall-timeout", type=int, default=0, help="seconds without CPU before a cell is stopped")
    gs.add_argument("--source", type=Path, default=SOURCE_DIR)

    gt = sub.add_parser("gate", help="after plain `nbgrader autograde`: run 06's gate (the post-grade checks) on each "
                                     "autograded student and record it in the course's gradebook",
                        description="For a course graded with plain nbgrader (autograder/README.md, Using these "
                                    "notebooks in an existing nbgrader course): runs the assignment's post-grade "
                                    "checks exactly as `grade` does (sandboxed, out of process) on the folder "
                                    "`nbgrader autograde` left for each student, and writes each as its own line "
                                    "into gradebook.db (06: 18 + the gate's 10 = 28).")
    gt.add_argument("--nbgrader-course", type=Path, required=True, metavar="DIR",
                    help="the nbgrader course root (holds autograded/<student>/<assignment>/ and gradebook.db)")
    gt.add_argument("--assignment", default="06_assessment", help="assignment id (default: 06_assessment)")
    gt.add_argument("--gradebook", type=Path, metavar="DB", help="gradebook to write (default: DIR/gradebook.db)")
    gt.add_argument("--student", action="append", default=[], help="only this student (repeatable; default: all)")
    gt.add_argument("--profile", choices=("full", "smoke"), default=None,
                    help="COURSE_PROFILE the notebooks were autograded with (default: $COURSE_PROFILE, else full)")
    gt.add_argument("--data-dir", default="", help="COURSE_DATA_DIR for the checks (default: inherited)")
    gt.add_argument("--sandbox", choices=("auto", "strict", "userns", "basic"), default="auto")
    gt.add_argument("--source", type=Path, default=SOURCE_DIR, help="instructor notebooks (default: autograder/source)")
    return p


def cmd_gate(a) -> int:
    import os

    from . import sandbox as sb
    from .nbgrader_plain import gate_course
    from .settings import Settings
    sb.become_subreaper()   # as a grading worker: what the checks leave behind comes back to be killed
    settings = Settings(profile=a.profile or os.environ.get("COURSE_PROFILE") or "full", data_dir=a.data_dir,
                        sandbox=a.sandbox)
    r = gate_course(a.nbgrader_course, assignment=a.assignment, gradebook=a.gradebook, students=a.student,
                    settings=settings, source_dir=a.source)
    w, db = r["written"], a.gradebook or a.nbgrader_course / "gradebook.db"
    print(f"wrote {w['grades']} line(s) for {w['students']} student(s) into {db} "
          f"(COURSE_PROFILE={r['profile']}, sandbox={r['sandbox']})")
    if w["no_submission"]:
        print(f"not written, no autograded submission of {a.assignment} in {db}: {', '.join(w['no_submission'])}; "
              f"run `nbgrader autograde {a.assignment}` for them, then this command again", file=sys.stderr)
        return 1
    return 0


def cmd_release(a) -> int:
    from .release import release
    changed = release(a.assignments or None, check=a.check, source_dir=a.source, out_dir=a.out)
    if a.check:
        print("stale: " + ", ".join(changed) if changed else "notebooks/ is up to date")
        return 1 if changed else 0
    print("updated: " + ", ".join(changed) if changed else "notebooks/ already up to date")
    return 0


def cmd_grade(a) -> int:
    from .examples import check as demo
    from .grade import grade_class
    from .settings import Settings
    profile = a.profile or ("smoke" if a.demo else "full")
    demo_cfg = json.loads((EXAMPLES_DIR / "demo.json").read_text()) if a.demo and (EXAMPLES_DIR / "demo.json").exists() else {}
    settings = Settings(profile=profile, cell_timeout=a.cell_timeout or demo_cfg.get("cell_timeout", 0),
                        notebook_timeout=a.notebook_timeout or demo_cfg.get("notebook_timeout", 0),
                        stall_timeout=a.stall_timeout or demo_cfg.get("stall_timeout", 0),
                        max_notebook_mb=a.max_notebook_mb, work_quota_mb=a.work_quota_mb, tmp_quota_mb=a.tmp_quota_mb,
                        memory_mb=a.memory_mb, sandbox=a.sandbox, network=a.allow_network,
                        data_dir=a.data_dir, pass_env=a.pass_env, partial_credit=a.partial_credit,
                        zero_reference_calls=a.zero_reference_calls)
    if a.demo:
        inputs, roster = EXAMPLES_DIR / "submitted", a.roster or EXAMPLES_DIR / "roster.csv"
        out = a.out or REPO_ROOT / "grading" / "demo"
        header = (f"Demo class (autograder/examples/), graded with COURSE_PROFILE={profile}"
                  + (" (quick; real classes default to full)" if profile == "smoke" else ""))
        print(header)
    else:
        inputs, roster, out, header = a.submissions, a.roster, a.out or REPO_ROOT / "grading", ""
    if not Path(inputs).exists():
        print(f"no submissions at {inputs}", file=sys.stderr)
        return 2
    from .lms import parse_columns
    try:
        columns = parse_columns(a.canvas_column)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    slurm = None
    if a.engine == "slurm":
        from .slurm import SlurmOptions, unavailable
        why = unavailable()
        if why:
            print(f"--engine slurm: {why}. Run this on a machine that can submit jobs (a login node), "
                  "or grade with --engine local", file=sys.stderr)
            return 2
        slurm = SlurmOptions(partition=a.partition, gpus_per_task=a.gpus_per_task, array_limit=a.array_limit or None,
                             time_min=a.time or None, cpus_per_task=a.cpus_per_task, mem_mb=a.mem_mb or None,
                             extra=tuple(a.sbatch_arg))
    from .slurm import SlurmError
    try:
        results, info = grade_class(inputs, out, assignment=a.assignment, workers=a.workers, settings=settings,
                                    source_dir=a.source, roster=roster, resume=not a.no_resume, device=a.device,
                                    progress=not a.quiet, header=header, exclude=demo.exclude if a.demo else None,
                                    lms_export=a.lms_export, gradebook=a.gradebook, slurm=slurm,
                                    canvas_columns=columns)
    except SlurmError as exc:
        print(f"--engine slurm: {exc}", file=sys.stderr)
        return 2
    if info.get("interrupted"):
        print(f"\ninterrupted: {info.get('remaining', '?')} submission(s) left; run the same command again "
              f"to resume (finished results are kept in {out}/results/)", file=sys.stderr)
        return 130
    print(info["summary"], end="")
    lms_files = {"canvas": "canvas_grades.csv", "moodle": "moodle_grading_worksheet_<assignment>.csv"}
    print(f"\nwrote {out}/grades.csv, grades_by_test.csv, summary.txt, feedback/, gradescope/"
          + "".join(f", {lms_files[x]}" for x in info.get("lms_files", [])) + f" ({info['seconds']:.0f} s)")
    rc = _collection_rc(a, inputs, info, results) | _gradebook_rc(info.get("gradebook"))
    if a.demo:
        lines, ok = demo.check(results)
        print("\n".join(lines))
        rc = rc or (0 if ok else 1)
    errors = [r for r in results if r["status"] == "error"]
    if errors:
        print(f"{len(errors)} submission(s) hit a harness error; rerun to retry them", file=sys.stderr)
        rc = 1
    if a.strict and any(r["status"] != "graded" for r in results):
        rc = 1
    return rc


def _collection_rc(a, inputs, info, results) -> int:
    """1 (with what to do) when files were not understood or nothing was graded, unless --allow-skipped."""
    skipped = info.get("skipped") or []
    graded = sum(1 for r in results if r["status"] != "missing")
    if skipped:
        print(f"\n{len(skipped)} file(s) in {inputs} were not graded because their names were not understood "
              "(listed above with the reason). Rename them as '<student>__<file>', put them in "
              "<student>/<assignment>/, or grade the LMS's download unchanged; then run the same command again. "
              "To accept the grades without them, add --allow-skipped.", file=sys.stderr)
    if not graded:
        print(f"\nnothing was graded: no submission found in {inputs}. It takes nbgrader's "
              "<student>/<assignment>/<notebook>.ipynb, flat <student>__<file> names, or a Canvas, Moodle, "
              "Blackboard or Brightspace bulk download (or a .zip of one); see autograder/README.md.",
              file=sys.stderr)
    return 1 if (skipped or not graded) and not a.allow_skipped else 0


def _gradebook_rc(gb: dict | None) -> int:
    if not gb:
        return 0
    if "error" in gb:
        print(f"\nthe grades were not written into {gb['path']}: {gb['error']}. grades.csv is complete; "
              f"fix the database (a path nbgrader can open, not locked by formgrader) and run "
              f"`python -m autograder merge <out> --gradebook {gb['path']}`", file=sys.stderr)
        return 1
    print(f"wrote {gb['submissions']} submission(s) of {gb['students']} student(s) into {gb['path']}"
          + (f" ({gb['needs_manual_grade']} grade(s) left for a manual grade: harness errors)"
             if gb["needs_manual_grade"] else ""))
    return 0


def cmd_merge(a) -> int:
    from . import lms
    from .grade import bundle_cache, to_gradebook
    from .release import build_bundle
    from .report import write_all
    latest = {}
    for p in sorted(Path(a.out, "results").glob("*/*.json")):
        r = json.loads(p.read_text())
        k = (r["student"], r["assignment"])
        if k not in latest or p.stat().st_mtime > latest[k][0]:
            latest[k] = (p.stat().st_mtime, r)
    results = [r for _, r in latest.values()]
    which, who, columns = lms.load_exports(Path(a.out))  # the LMS import files the run wrote, again
    extra = lms.write_exports(results, Path(a.out), who, which, columns) if which else []
    print(write_all(results, Path(a.out), extra=extra), end="")
    if not a.gradebook:
        return 0
    bundles = {aid: build_bundle(aid, bundle_cache(Path(a.out)), a.source) for aid in sorted({r["assignment"] for r in results})
               if (Path(a.source) / aid).is_dir()}
    return _gradebook_rc(to_gradebook(results, a.gradebook, bundles))


def cmd_sandbox(a) -> int:
    from . import sandbox as sb
    for level in sb.LEVELS:
        ok, why = sb.probe(level)
        print(f"{level:<7} {'available' if ok else 'unavailable'}: {why}")
    print("auto ->", sb.choose_level()[0], "| GPUs:", sb.gpu_count())
    return 0


def cmd_gradescope(a) -> int:
    from .gradescope import build
    z = build(a.assignment, a.out, profile=a.profile, source_dir=a.source, cell_timeout=a.cell_timeout,
              notebook_timeout=a.notebook_timeout, stall_timeout=a.stall_timeout)
    print(f"wrote {z} (profile {a.profile}): upload it as the assignment's autograder on Gradescope "
          "(autograder/README.md, Gradescope)")
    return 0


def main(argv=None) -> int:
    # jsonschema (via nbformat) imports rfc3987_syntax, which builds a grammar for seconds at
    # import time; notebook validation never uses IRI formats, so skip it in our processes.
    sys.modules.setdefault("rfc3987_syntax", None)
    a = _parser().parse_args(argv)
    if a.cmd == "worker":
        from . import worker
        return worker.serve(a.serve) if a.serve is not None else worker.main(str(a.job))
    return {"release": cmd_release, "grade": cmd_grade, "merge": cmd_merge, "sandbox": cmd_sandbox,
            "gradescope": cmd_gradescope, "gate": cmd_gate}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
