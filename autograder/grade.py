"""`python -m autograder grade`: grade a class, end to end.

1. build (or reuse) the release bundle of each assignment from autograder/source/
   (nbgrader generate_assignment: gradebook + student copy), keyed by the source's hash;
2. collect submissions (collect.py), detect their assignment, stage a private copy of each
   (originals are only read, and checked again at the end);
3. skip every submission whose result already exists for the same content, source and
   settings (resume), grade the rest in parallel (pool.py -> worker.py);
4. merge everything into grades.csv, Gradescope results, feedback and the summary (report.py).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import os
import sys
import time
from pathlib import Path

import nbformat

from . import EXAMPLES_DIR, REPO_ROOT, SOURCE_DIR, assignments
from . import lms
from . import sandbox as sb
from .collect import collect, missing
from .nbinfo import all_ids, match_assignment, read_notebook_bytes
from .pool import Pool, plan_slots
from .release import build_bundle
from .report import missing_result, write_all
from .settings import Settings
from .worker import base_result, result_key, result_path, write_json_atomic


def _candidates(source_dir: Path) -> dict[str, list[str]]:
    out = {}
    for aid in assignments.ids(source_dir):
        nb = nbformat.read(Path(source_dir) / aid / f"{aid}.ipynb", as_version=4)
        out[aid] = sorted(all_ids(nb))
    return out


def _detect(path: Path, cands: dict[str, list[str]], max_bytes: int) -> str | None:
    try:
        if path.stat().st_size > max_bytes:   # refused later, unread
            return None
        nb = read_notebook_bytes(path.read_bytes())
    except (ValueError, OSError):
        return None
    best, score = match_assignment(all_ids(nb), {a: set(v) for a, v in cands.items()})
    return best if score > 0 else None


def _hide_list(paths, needed) -> list[str]:
    out = []
    for p in paths:
        p = os.path.realpath(p)
        if not os.path.isdir(p):
            continue
        if any(n == p or n.startswith(p + os.sep) for n in needed):
            continue
        out.append(p)
    out = sorted(set(out))
    return [p for p in out if not any(p.startswith(q + os.sep) for q in out)]   # outermost only


def grade_class(inputs: Path, out: Path, *, assignment: str | None = None, workers: int | None = None,
                settings: Settings | None = None, source_dir: Path = SOURCE_DIR, roster: Path | None = None,
                resume: bool = True, device: str = "auto", progress: bool = True,
                header: str = "", log=print, exclude=None, lms_export=(), gradebook: Path | None = None,
                slurm=None, canvas_columns: dict[str, str] | None = None) -> tuple[list[dict], dict]:
    """Grade everything under `inputs`; returns (results, run info). `lms_export`: LMSs whose
    grade import files to write besides grades.csv (default: those the submissions came from);
    `canvas_columns`: {assignment id: the Canvas column header to fill} (lms.write_canvas).
    `gradebook`: an nbgrader gradebook.db to write the grades into too (autograder/gradebook.py).
    `slurm`: a slurm.SlurmOptions to grade as one Slurm job array instead of the local pool."""
    settings = settings or Settings()
    out = Path(out).resolve()
    source_dir = Path(source_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    t0 = time.monotonic()

    level, level_notes = sb.choose_level(settings.sandbox)
    gpus = sb.gpu_count() if device in ("auto", "cuda") else 0
    slots = plan_slots(workers, gpus, device)
    if slurm is not None and not settings.memory_mb and not slurm.gpus_per_task:
        settings.memory_mb = 16384   # the kernel's address space (torch maps far more than it uses); the
        #                              task's real memory is what Slurm allocates (--mem-mb)
    if not settings.memory_mb and not gpus:
        settings.memory_mb = max(2048, min(16384, int(sb.total_memory_mb() * 0.8 / len(slots))))
    cands = _candidates(source_dir)
    known = sorted(cands)
    if assignment and assignment not in known:
        raise SystemExit(f"unknown assignment {assignment!r}; known: {', '.join(known) or 'none'} (in {source_dir})")

    col = collect(Path(inputs), assignments=known, only=assignment, roster=roster, scratch=out / ".inbox")
    for s in col.submissions:
        if s.assignment is None:
            s.assignment = _detect(s.path, cands, settings.max_notebook_mb * 2**20)
            if s.assignment is None:
                s.assignment = assignment or (known[0] if len(known) == 1 else "unknown")
                s.notes.append("assignment could not be detected from the file name or its cells")
    subs = col.submissions
    if exclude:   # e.g. the demo's attacking students where the strict sandbox is unavailable
        excluded = exclude(level)
        subs = [s for s in subs if s.student not in excluded]
        col.students = [st for st in col.students if st not in excluded]
        col.roster = [(st, a) for st, a in col.roster if st not in excluded]
    miss = missing(subs, col.students, assignment, col.roster)

    bundles = {}
    for aid in sorted({s.assignment for s in subs if s.assignment in cands} | {a for _, a in miss if a in cands}):
        bundles[aid] = build_bundle(aid, bundle_cache(out), source_dir)

    protected = _snapshot([REPO_ROOT / "helpers", source_dir, Path(__file__).parent / "nbgrader_config.py",
                           *[p for p in Path(__file__).parent.glob("*.py")]])
    inbox = out / ".inbox" / "staged"
    inbox.mkdir(parents=True, exist_ok=True)
    os.chmod(out / ".inbox", 0o700)
    needed = sb.needed_paths([str(REPO_ROOT), settings.data_dir or ""])
    hide = _hide_list([out, col.root, Path(inputs).resolve().parent if Path(inputs).is_file() else Path(inputs),
                       SOURCE_DIR, EXAMPLES_DIR, source_dir, REPO_ROOT / "tests", REPO_ROOT / "answers",
                       REPO_ROOT / "walkthroughs", REPO_ROOT / "grading", REPO_ROOT / ".git"], needed)
    jobs, results, originals = _plan(subs, miss, bundles, settings, level=level, out=out, inbox=inbox, hide=hide,
                                     cands=cands, resume=resume, source_dir=source_dir)
    info = {"sandbox": level, "sandbox_notes": level_notes, "slots": slots, "gpus": gpus,
            "profile": settings.profile, "to_grade": len(jobs), "cached": len(results), "skipped": col.skipped,
            "skip_reasons": col.reasons, "ignored": col.ignored, "superseded": col.superseded,
            "unmapped": col.unmapped, "lms": col.lms, "submissions": len(subs)}
    where = (f"as a Slurm job array ({slurm.gpus_per_task} GPU(s) per task)" if slurm is not None else
             f"with {len(slots)} worker(s) on {'GPU' if gpus and slots[0]['gpu'] is not None else 'CPU'}")
    log(f"grading {len(jobs)} submission(s) ({len(subs) - len(jobs)} already graded, {len(miss)} missing) "
        f"{where}, COURSE_PROFILE={settings.profile}, sandbox={level}")
    ran, interrupted = _run(jobs, slots, out, progress, slurm, log)
    results.extend(ran)
    for r in results:   # carry the collection notes into the results
        for j in jobs:
            if j["key"] == r.get("key") and j["collect_notes"]:
                r.setdefault("notes", {})["collect"] = j["collect_notes"]
    extra = _warnings(results, originals, inbox, subs, protected, col, level, level_notes)
    info["seconds"] = round(time.monotonic() - t0, 1)
    info["interrupted"] = interrupted
    if interrupted:
        info["remaining"] = len(jobs) - sum(1 for r in results if r.get("key") in {j["key"] for j in jobs})
        return results, info
    which = [x for x in lms.EXPORTS if x in (set(lms_export) | set(col.lms))]
    if which:
        extra += lms.write_exports(results, out, col.people, which, canvas_columns)
        lms.save_exports(out, which, col.people, canvas_columns)   # `merge` writes them again from this
    info["lms_files"] = which
    info["summary"] = write_all(results, out, extra=extra, header=header)
    if gradebook:
        info["gradebook"] = to_gradebook(results, gradebook, bundles)
    return results, info


def bundle_cache(out: Path) -> Path:
    """Where a run keeps the release bundles it grades against: `$AUTOGRADER_BUNDLES` when set (one
    folder shared by many runs: a bundle's name carries the hash of its source, so a changed
    assignment gets a new one), else `<out>/.bundles`."""
    return Path(os.environ.get("AUTOGRADER_BUNDLES") or Path(out) / ".bundles")


def to_gradebook(results: list[dict], db: Path, bundles: dict) -> dict:
    """Write into nbgrader's gradebook; a failure is reported, not raised (grades.csv is written)."""
    from .gradebook import write_gradebook
    try:
        return {"path": str(db), **write_gradebook(results, db, bundles)}
    except Exception as exc:  # noqa: BLE001 - a locked or foreign database must not lose the run
        return {"path": str(db), "error": f"{type(exc).__name__}: {exc}"}


def _plan(subs, miss, bundles, settings, *, level, out, inbox, hide, cands, resume, source_dir):
    """One job per submission to grade; results for those decided without grading (unknown
    assignment, oversized file, an earlier result with the same key) and for missing students."""
    jobs, results, originals = [], [], {}
    fp = settings.fingerprint()
    for s in subs:
        sha = _file_sha(s.path)
        originals[str(s.path)] = sha
        aid = s.assignment
        if aid not in bundles:
            results.append({"student": s.student, "assignment": aid, "status": "wrong assignment",
                            "detail": f"no assignment {aid!r} in {source_dir}", "score": 0.0, "max_score": 0.0,
                            "tests": [], "notes": {"collect": s.notes}, "timing": {}, "files": {}})
            continue
        b = bundles[aid]
        key = result_key(s.student, aid, sha, b.hash, fp)
        size = s.path.stat().st_size
        if size > settings.max_notebook_mb * 2**20:   # refused unread: never parsed, copied or held in memory
            r = base_result({"key": key, "student": s.student, "assignment": aid, "max_score": b.info["max_score"],
                             "original": str(s.path), "sha256": sha, "bundle_hash": b.hash, "fingerprint": fp,
                             "level": level})
            r.update(status="not a notebook",
                     detail=f"the file is {size / 2**20:.0f} MB, over the {settings.max_notebook_mb} MB limit for "
                            "a notebook (clear its outputs: Edit > Clear All Outputs, save, submit again)")
            r["notes"]["collect"] = s.notes
            write_json_atomic(result_path(out, aid, s.student, key), r)
            results.append(r)
            continue
        staged = inbox / aid / s.student / f"{sha[:16]}{s.path.suffix or '.bin'}"
        if not staged.exists():
            staged.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(s.path, staged)
        rpath = result_path(out, aid, s.student, key)
        if resume and rpath.exists():
            try:
                prev = json.loads(rpath.read_text())
                if prev.get("key") == key and prev.get("status") != "error":
                    prev.setdefault("notes", {})["resumed"] = True
                    results.append(prev)
                    continue
            except (OSError, json.JSONDecodeError):
                pass
        from .post_grade import wall_limit
        post = sum(wall_limit(c, settings.wall_factor) for c in b.post_grade.get("checks", []))
        jobs.append({
            "student": s.student, "assignment": aid, "submission": str(staged), "original": str(s.path),
            "sha256": sha, "key": key, "bundle": str(b.path), "bundle_hash": b.hash, "fingerprint": fp,
            "settings": settings.to_dict(), "level": level, "out": str(out), "result": str(rpath),
            "log": str(out / "logs" / aid / f"{s.student}.log"), "hide": hide,
            "candidates": {a: v for a, v in cands.items() if a != aid}, "max_score": b.info["max_score"],
            "hard_limit_s": settings.wall_factor * settings.notebook_timeout + settings.startup_timeout + post + 300,
            "collect_notes": s.notes})
    for st, aid in miss:
        results.append(missing_result(st, aid, bundles[aid].info["max_score"] if aid in bundles else 0.0))

    return jobs, results, originals


def _run(jobs: list[dict], slots, out: Path, progress: bool, slurm=None, log=print) -> tuple[list[dict], bool]:
    """The jobs through the worker pool (or a Slurm array), with a progress bar; (results, interrupted)."""
    (out / ".jobs").mkdir(exist_ok=True)
    bar = None
    if progress and jobs:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(jobs), unit="nb", desc="grading", file=sys.stderr, dynamic_ncols=True)

    def done(job, res):
        if bar:
            bar.set_postfix_str(f"{job['student']}: {res['status']}", refresh=False)
            bar.update(1)

    if slurm is not None:
        from .slurm import SlurmEngine
        pool = SlurmEngine(slurm, out, on_done=done, log=log)
    else:
        pool = Pool(slots, out / ".jobs", on_done=done, log_dir=out / "logs")
    try:
        return pool.run(jobs), False
    except KeyboardInterrupt:
        return [], True
    finally:
        if bar:
            bar.close()


def collection_lines(col) -> list[str]:
    """The files collection did not grade, each with its reason, and LMS ids off the roster."""
    extra = []
    if col.lms:
        extra.append("\nLMS download: " + ", ".join(lms.LABEL[x] for x in col.lms))
    if col.skipped:
        extra.append(f"\nNOT GRADED, {len(col.skipped)} file(s) not understood (rename or move them and run "
                     "again, or pass --allow-skipped):")
        extra += [f"  {name}: {col.reasons.get(name, 'not understood')}" for name in col.skipped]
    if col.superseded:
        extra.append(f"\nsuperseded (an earlier attempt of a student; the latest is graded), {len(col.superseded)}:")
        extra += [f"  {name}: {why}" for name, why in col.superseded]
    if col.ignored:
        extra.append(f"\nignored (not submissions), {len(col.ignored)}:")
        extra += [f"  {name}: {why}" for name, why in col.ignored]
    if col.unmapped:
        extra.append(f"\nLMS ids not on the roster (add `student,lms_id` rows to --roster), graded as:")
        extra += [f"  {lms.LABEL[l]} {i} -> {st}" for l, i, st in col.unmapped]
    return extra


def _warnings(results, originals, inbox, subs, protected, col, level, level_notes) -> list[str]:
    """What the summary must tell the instructor besides the grades."""
    extra = _verify_originals(originals, inbox, subs) + _verify_snapshot(protected)
    extra += collection_lines(col)
    if level_notes and level != "strict":
        extra.append(f"\nsandbox: {level} (stronger levels unavailable: {'; '.join(level_notes)})")
    dup = {}
    for r in results:
        sha = (r.get("submission") or {}).get("sha256")
        if sha and r["status"] != "missing":
            dup.setdefault((r["assignment"], sha), []).append(r["student"])
    for (aid, _), who in sorted(dup.items()):
        if len(who) > 1:
            extra.append(f"\nidentical submissions for {aid}: {', '.join(sorted(who))}")
    return extra


def _snapshot(roots, limit=256 * 2**20) -> dict[str, str]:
    """Hashes of files student code must never change (judge weights, helpers, sources)."""
    snap, size = {}, 0
    for root in roots:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()
                                                       and "__pycache__" not in p.parts) if root.is_dir() else []
        for p in files:
            size += p.stat().st_size
            if size > limit:
                return snap
            snap[str(p)] = _file_sha(p)
    return snap


def _file_sha(path: Path) -> str:
    """sha256 of a file, read in chunks (a submission may be huge)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _verify_snapshot(snap: dict[str, str]) -> list[str]:
    """Report (never undo: a person may be editing them) protected files that changed."""
    lines = []
    for path, digest in snap.items():
        try:
            same = _file_sha(Path(path)) == digest
        except OSError:
            same = False
        if not same:
            lines.append(f"\nNOTE: {path} changed while grading ran (an edit of yours, or, outside the strict "
                         "sandbox, a submission): check it")
    return lines


def _verify_originals(originals: dict, inbox: Path, subs) -> list[str]:
    """Originals must be byte-identical after grading; report (never overwrite) any that changed."""
    lines = []
    for s in subs:
        p = s.path
        want = originals.get(str(p))
        try:
            now = _file_sha(p)
        except OSError:
            now = None
        if want and now != want:
            staged = inbox / s.assignment / s.student / f"{want[:16]}{p.suffix or '.bin'}"
            lines.append(f"\nWARNING: {p} changed while grading ran; the graded copy is {staged}")
    return lines
