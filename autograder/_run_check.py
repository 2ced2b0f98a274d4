"""Runs one side of a post-grade check in a fresh interpreter (started by autograder/post_grade.py).

Usage: python -I _run_check.py CHECK.json   (the result goes to the pipe CHECK.json names)

Three modes (CHECK.json's "mode"):

* ``untrusted`` (sandboxed, the student's uid): calls ``fn(workdir, **kwargs)``, which may load
  and run what the student handed in and returns ``{"arrays": {name: array}, "meta": {...}}``.
  The result is written as plain data, never pickled: one JSON header line
  ``{"meta": ..., "arrays": [{"name", "dtype", "shape", "nbytes"}]}`` followed by the raw bytes
  of each array in that order. The harness reads at most the check's byte limit and validates
  every field before anything trusted sees it.
* ``trusted`` (never sees a student process, file or object): reads the validated arrays from
  the raw file the harness wrote (numpy.frombuffer), calls
  ``fn(arrays, meta, files, **kwargs)`` and writes the verdict as JSON.
* ``plain`` (checks that read no student artefact): ``fn(workdir, **kwargs)`` -> verdict JSON.
"""
import importlib
import json
import os
import sys
import traceback


def _verdict(res, name):
    if not isinstance(res, dict) or "passed" not in res:
        raise TypeError(f"{name} must return a dict with 'passed', got {type(res).__name__}")
    return {"passed": bool(res["passed"]), "fraction": res.get("fraction"),
            "message": str(res.get("message", ""))[:1000], "details": res.get("details")}


def _as_numpy(value):
    import numpy as np
    if hasattr(value, "detach"):   # a torch tensor
        value = value.detach().cpu().contiguous().numpy()
    return np.ascontiguousarray(value)


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    sys.path[:0] = spec["sys_path"]
    out = os.fdopen(spec["result_fd"], "wb")
    mode = spec.get("mode", "plain")
    try:
        modname, _, fname = spec["callable"].partition(":")
        fn = getattr(importlib.import_module(modname), fname)
        if mode == "untrusted":
            res = fn(spec["workdir"], **spec.get("kwargs", {}))
            if not isinstance(res, dict):
                raise TypeError(f"{spec['callable']} must return a dict with 'arrays' and 'meta'")
            arrays = {k: _as_numpy(v) for k, v in (res.get("arrays") or {}).items()}
            head = {"meta": res.get("meta") or {},
                    "arrays": [{"name": k, "dtype": a.dtype.str, "shape": list(a.shape), "nbytes": a.nbytes}
                               for k, a in arrays.items()]}
            out.write(json.dumps(head, default=str).encode() + b"\n")
            for a in arrays.values():
                out.write(a.tobytes())
        elif mode == "trusted":
            import numpy as np
            arrays, offset = {}, 0
            raw = open(spec["raw"], "rb").read() if spec.get("raw") else b""
            for a in spec["arrays"]:
                arrays[a["name"]] = np.frombuffer(raw, dtype=np.dtype(a["dtype"]), count=int(np.prod(a["shape"])),
                                                  offset=offset).reshape(a["shape"])
                offset += a["nbytes"]
            res = fn(arrays, spec.get("meta", {}), spec.get("files", {}), **spec.get("kwargs", {}))
            out.write(json.dumps(_verdict(res, spec["callable"]), default=str).encode())
        else:
            res = fn(spec["workdir"], **spec.get("kwargs", {}))
            out.write(json.dumps(_verdict(res, spec["callable"]), default=str).encode())
    except BaseException as exc:  # noqa: BLE001 - reported as a failed check
        msg = {"passed": False, "error": True, "message": f"check raised {type(exc).__name__}: {exc}"[:1000],
               "traceback": traceback.format_exc()[-4000:]}
        if mode == "untrusted":   # a header with no arrays: the harness turns it into the reason
            out.write(json.dumps({"meta": {"error": msg["message"]}, "arrays": []}).encode() + b"\n")
        else:
            out.write(json.dumps(msg).encode())
    out.close()


if __name__ == "__main__":
    main()
