"""Runs one post-grade check in a fresh interpreter (started by autograder/post_grade.py).

Usage: python -I _run_check.py CHECK.json  (the result JSON goes to the pipe CHECK.json names)
No student code has run in this process: the callable comes from the trusted source folder,
and it reads the student's exported files from `workdir`.
"""
import importlib
import json
import os
import sys
import traceback


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    sys.path[:0] = spec["sys_path"]
    out = os.fdopen(spec["result_fd"], "w")
    try:
        modname, _, fname = spec["callable"].partition(":")
        fn = getattr(importlib.import_module(modname), fname)
        res = fn(spec["workdir"], **spec.get("kwargs", {}))
        if not isinstance(res, dict) or "passed" not in res:
            raise TypeError(f"{spec['callable']} must return a dict with 'passed', got {type(res).__name__}")
        res = {"passed": bool(res["passed"]), "fraction": res.get("fraction"),
               "message": str(res.get("message", ""))[:1000], "details": res.get("details")}
        json.dump(res, out, default=str)
    except BaseException as exc:  # noqa: BLE001 - reported as a failed check
        json.dump({"passed": False, "error": True,
                   "message": f"check raised {type(exc).__name__}: {exc}"[:1000],
                   "traceback": traceback.format_exc()[-4000:]}, out)
    out.close()


if __name__ == "__main__":
    main()
