"""Writes the demo class (autograder/examples/) from the instructor notebooks.

`python -m autograder.examples.make_demo [--source DIR] [--out DIR] [ASSIGNMENT ...]`

For each assignment it derives student submissions from the source notebook and its nbgrader
release, in nbgrader's layout `submitted/<student>/<assignment>/<assignment>.ipynb`, and records
the expected status and score of each in `expected.json` (checked by `make grade` and by
tests/test_autograder_demo.py):

  complete       the solution                                   -> graded, full marks
  blank          the untouched student copy                     -> graded, 0
  partial        the last TODO left blank                       -> graded, loses its points
  one_wrong      one TODO with a realistic runnable mistake     -> graded, loses exactly that TODO's
                 (the first of the manifest's `mistakes`)          points, nothing else
  crash          os._exit(1) in the last TODO                   -> kernel crashed, earlier points kept
  loop           an infinite loop in the last TODO              -> timed out, loses its points
  deleted_test   complete, first test cell deleted              -> restored and graded, full marks
  edited_test    last TODO blank, its tests replaced by `pass`  -> restored, loses its points
  stderr         complete, every function warns on stderr       -> full marks
  vandal         complete, tries to overwrite grades, gradebooks, judge weights, other students'
                 notebooks and leaves a daemon doing it         -> full marks, nothing else changes
  cheater        blank, monkeypatches numpy/torch/builtins/IPython to make tests pass -> 0
  forger         blank, one pasted cell makes the kernel run every graded test as `pass`
                                                                -> tampered, 0
  reference_call complete, but the first TODO that has a reference twin in `helpers` answered by
                 calling it (`return _ref.q_sample(...)`)      -> full marks, reported per TODO
  corrupt        truncated JSON                                 -> not a notebook
  wrong          another assignment's notebook                  -> wrong assignment
  absent         on the roster, no submission                   -> missing

The full set is made for the assignment whose manifest says `demo_main` (the demo's main act);
the others get complete + blank + one_wrong only, to keep `make grade` to a few minutes on 2 CPU cores (smoke profile).
"""
from __future__ import annotations

import argparse
import copy
import ast
import json
import re
import tempfile
from pathlib import Path

import nbformat

from autograder import SOURCE_DIR, assignments
from autograder.nbinfo import grade_id, is_grade, is_locked, is_solution
from autograder.release import build_bundle

HERE = Path(__file__).resolve().parent
SOL = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)
FULL_SET = ("complete", "blank", "partial", "one_wrong", "crash", "loop", "deleted_test", "edited_test", "stderr",
            "vandal", "cheater", "forger", "reference_call", "corrupt", "wrong")
#: variants that attack the grader: only graded where the strict sandbox is available
NEEDS_STRICT = ("vandal",)
#: variants whose expectation assumes test cells written with `require` (on the evidence tape);
#: an assignment tested with plain asserts (the harness's fixture) cannot tell a forger apart
NEEDS_REQUIRE = ("forger",)


def source_and_release(aid: str, cache: Path, source_dir: Path = SOURCE_DIR):
    """(instructor notebook, student copy) of one assignment, through its cached bundle."""
    b = build_bundle(aid, Path(cache), source_dir)
    return nbformat.read(b.source_notebook, as_version=4), nbformat.read(b.release_notebook, as_version=4)


def _clean(nb):
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    return nb


def solution_cells(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if is_solution(c) and not is_grade(c) and c.cell_type == "code"]


def complete(source, release):
    """The release copy with each solution region filled in as a student would."""
    nb = copy.deepcopy(release)
    src = {grade_id(c): c for c in source.cells if grade_id(c)}
    for c in nb.cells:
        if is_solution(c) and grade_id(c) in src:
            c.source = SOL.sub("", src[grade_id(c)].source)
    return _clean(nb)


def blank(source, release):
    return _clean(copy.deepcopy(release))


def _last_todo(nb) -> int:
    return solution_cells(nb)[-1]


def partial(source, release):
    nb = complete(source, release)
    rel = {grade_id(c): c for c in release.cells if grade_id(c)}
    i = _last_todo(nb)
    nb.cells[i].source = rel[grade_id(nb.cells[i])].source
    return nb


def crash(source, release):
    nb = complete(source, release)
    i = _last_todo(nb)
    nb.cells[i].source = "import os\nos._exit(1)  # the kernel dies here\n" + nb.cells[i].source
    return nb


def loop(source, release):
    nb = complete(source, release)
    i = _last_todo(nb)
    nb.cells[i].source = "while True:  # never finishes\n    pass\n" + nb.cells[i].source
    return nb


def deleted_test(source, release):
    nb = complete(source, release)
    first = next(i for i, c in enumerate(nb.cells) if is_grade(c) and is_locked(c))
    del nb.cells[first]
    return nb


def edited_test(source, release):
    nb = partial(source, release)
    i = _last_todo(nb)
    for c in nb.cells[i + 1:]:
        if is_grade(c) and is_locked(c):
            c.source = "# the tests were in the way\npass"
    return nb


NOISE = '''
def _noisy(f):
    import functools, sys, warnings
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        warnings.warn(f"{f.__name__}: this is only a warning", UserWarning)
        print("progress: 100%|##########| 1/1 [00:00<00:00]", file=sys.stderr)
        return f(*args, **kwargs)
    return wrapper
'''


def stderr(source, release):
    nb = complete(source, release)
    for i in solution_cells(nb):
        c = nb.cells[i]
        try:
            names = [n.name for n in ast.parse(c.source).body if isinstance(n, ast.FunctionDef)]
        except SyntaxError:
            names = []
        wrap = "".join(f"{n} = _noisy({n})\n" for n in names)
        c.source = c.source + "\n" + NOISE + wrap + \
            "import sys, warnings\nwarnings.warn('deprecated thing', DeprecationWarning)\n" \
            "print('training: 50%|#####     | 5/10', file=sys.stderr)\n"
    return nb


VANDAL = r'''
# An adversarial student: try to damage grades, gradebooks, judge weights and other students'
# work, and leave a daemon that keeps trying after this kernel is gone. Every attempt is
# expected to fail (strict sandbox); failures are swallowed so the rest of the notebook runs.
import os, glob, sys, subprocess
try:   # demo safety net: attack only from a separate sandbox uid, never as the repo's owner
    import helpers
    _sandboxed = os.stat(helpers.__file__).st_uid != os.getuid()
except Exception:
    _sandboxed = False
def _targets():
    roots = {os.getcwd(), os.path.expanduser("~"), "/tmp", os.environ.get("COURSE_DATA_DIR", "")}
    try:
        import helpers
        repo = os.path.dirname(os.path.dirname(os.path.abspath(helpers.__file__)))
        roots |= {repo, os.path.join(repo, "grading"), os.path.join(repo, "autograder")}
    except Exception:
        pass
    for up in (os.getcwd(), os.path.dirname(os.getcwd()), "/tmp/autograder-work"):
        roots.add(up)
    found = set()
    for r in filter(None, roots):
        for pat in ("**/grades.csv", "**/gradebook.db", "**/*.pt", "**/*.ipynb", "**/results/**/*.json"):
            try:
                found |= set(glob.glob(os.path.join(r, pat), recursive=True)[:200])
            except Exception:
                pass
    return sorted(found)
def _vandalise():
    hits = 0
    for p in _targets():
        try:
            with open(p, "r+b") as f:
                f.write(b"VANDALISED")
            hits += 1
        except Exception:
            pass
    return hits
print("files I could damage:", _vandalise() if _sandboxed else "(not sandboxed: demo attack skipped)")
try:   # a double-forked daemon that outlives the kernel and keeps writing
    subprocess.Popen([sys.executable, "-c",
        "import os, time\nif os.fork(): os._exit(0)\nos.setsid()\nfor _ in range(240):\n"
        "    time.sleep(0.5)\n    open('/tmp/vandal-was-here', 'ab').write(b'X')\n"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
except Exception as exc:
    print("no daemon:", exc)
try:
    import socket; socket.create_connection(("1.1.1.1", 53), timeout=2); print("network: reachable")
except Exception as exc:
    print("network:", type(exc).__name__)
'''


def vandal(source, release):
    nb = complete(source, release)
    nb.cells.insert(1, nbformat.v4.new_code_cell(VANDAL.strip(), id="demo-vandal"))  # fixed id: reproducible file
    return nb


CHEAT = r'''
# A cheating student: leave the TODOs blank and make every check pass anyway.
import builtins, sys
try:
    import numpy as np
    np.allclose = lambda *a, **k: True
    np.isclose = lambda *a, **k: True
except ImportError:
    pass
try:
    import torch
    torch.allclose = lambda *a, **k: True
    torch.equal = lambda *a, **k: True
    torch.Tensor.__eq__ = lambda self, other: True
except ImportError:
    pass
ip = get_ipython()
ip.showtraceback = lambda *a, **k: None                # hide failures
ip.input_transformers_post.append(lambda lines: ["pass\n"] if any("assert" in l for l in lines) else lines)
'''


def cheater(source, release):
    nb = blank(source, release)
    nb.cells.insert(1, nbformat.v4.new_code_cell(CHEAT.strip(), id="demo-cheater"))  # fixed id: reproducible file
    return nb


#: The four in-kernel techniques that forged TODO points for an untouched notebook, each one cell
#: pasted after the imports (tests/test_autograder_kernel_attacks.py grades them all; the demo's
#: forger uses the first). The evidence tape (autograder/evidence.py) scores them 0, `tampered`.
IN_KERNEL = {
    # replace the kernel's do_execute: every graded test runs as `pass`
    "executor": (
        "_kernel = get_ipython().kernel\n"
        "_real_execute = _kernel.do_execute\n"
        "def _do_execute(code, *args, **kwargs):\n"
        "    if 'require(' in code:\n"
        "        code = 'pass'\n"
        "    return _real_execute(code, *args, **kwargs)\n"
        "_kernel.do_execute = _do_execute\n"),
    # an input transformer that blanks the graded tests, in a list that claims to be unchanged
    "transformer": (
        "class _Same(list):\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "def _blank(lines):\n"
        "    return ['pass\\n'] if any('require(' in line for line in lines) else lines\n"
        "_tm = get_ipython().input_transformer_manager\n"
        "_tm.cleanup_transforms = _Same([_blank, *_tm.cleanup_transforms])\n"),
    # rebind the names the tests call in the user namespace
    "names": (
        "class _Yes:\n"
        "    def __getattr__(self, name):\n"
        "        return lambda *args, **kwargs: None\n"
        "checks = _Yes()\n"
        "require = lambda *args, **kwargs: None\n"),
    # patch the library with code compiled under the library's own file name (the guard trusts it)
    "co_filename": (
        "import helpers.checks as _hc\n"
        "_ns = {}\n"
        "exec(compile('def require(check_fn, *args, **kwargs):\\n    return None\\n', _hc.__file__, 'exec'), _ns)\n"
        "_hc.require = _ns['require']\n"),
}


def with_pasted_cell(nb, code: str, cell_id: str | None = None):
    """A copy of `nb` with `code` pasted right after the imports (before the first TODO)."""
    nb = copy.deepcopy(nb)
    at = next(i for i, c in enumerate(nb.cells) if is_solution(c))
    nb.cells.insert(at, nbformat.v4.new_code_cell(code, **({"id": cell_id} if cell_id else {})))
    return nb


def forger(source, release):
    return with_pasted_cell(blank(source, release), "# Make every graded test run as `pass`.\n"
                            + IN_KERNEL["executor"], cell_id="demo-forger")


def with_mistake(source, release, mistake):
    """Complete, except one TODO answered with a manifest mistake (runnable but wrong)."""
    nb = complete(source, release)
    cell = next(c for c in nb.cells if grade_id(c) == mistake.todo)
    cell.source = mistake.apply(cell.source)
    return nb


def reference_call_spec(source) -> tuple[str, str, str] | None:
    """(TODO grade_id, function name, helpers module) of the first TODO whose function has a
    same-named twin in `helpers`, or None."""
    import importlib
    import pkgutil

    import helpers
    mods = []
    for m in pkgutil.iter_modules(helpers.__path__):
        try:
            mods.append((m.name, importlib.import_module(f"helpers.{m.name}")))
        except Exception:  # noqa: BLE001 - optional modules
            continue
    for i in solution_cells(source):
        tree = ast.parse(SOL.sub("", source.cells[i].source))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                mod = next((name for name, m in mods if callable(getattr(m, node.name, None))), None)
                if mod:
                    return grade_id(source.cells[i]), node.name, mod
    return None


def reference_call(source, release):
    """Complete, except one TODO answered by calling the reference twin from helpers."""
    nb = complete(source, release)
    gid, name, mod = reference_call_spec(source)
    cell = next(c for c in nb.cells if grade_id(c) == gid)
    fn = next(n for n in ast.parse(cell.source).body if isinstance(n, ast.FunctionDef) and n.name == name)
    a = fn.args
    args = [ast.Name(x.arg) for x in a.posonlyargs + a.args]
    if a.vararg:
        args.append(ast.Starred(ast.Name(a.vararg.arg)))
    kws = [ast.keyword(k.arg, ast.Name(k.arg)) for k in a.kwonlyargs]
    if a.kwarg:
        kws.append(ast.keyword(None, ast.Name(a.kwarg.arg)))
    call = ast.Call(ast.Attribute(ast.Name("_ref"), name), args, kws)
    fn.body = [ast.Expr(ast.Constant(f"The reference, called (not implemented).")), ast.Return(call)]
    cell.source = f"import helpers.{mod} as _ref\n\n\n" + ast.unparse(ast.fix_missing_locations(fn)) + "\n"
    return nb


VARIANTS = {f.__name__: f for f in (complete, blank, partial, crash, loop, deleted_test, edited_test, stderr,
                                    vandal, cheater, forger, reference_call)}


def _points(items, pred) -> float:
    return sum(i["points"] for i in items if pred(i))


def expected(variant: str, source, items: list[dict], extra: float = 0.0, mistake=None) -> tuple[str, float, str]:
    """(status, score, why) of each variant, from the source notebook's structure (`mistake`: the
    manifest mistake a `one_wrong` or `mistake<k>` student carries).

    ``extra``: points of post-grade checks that are not a notebook cell (06's gate, which in the
    demo's smoke profile a complete notebook earns by exporting a model that runs)."""
    if extra and variant not in ("complete", "blank") and mistake is None:
        raise ValueError(f"no expectation for variant {variant!r} of an assignment with post-grade points")
    total = sum(i["points"] for i in items) + extra
    if mistake is not None:
        pts = _points(items, lambda i: i["todo"] == mistake.todo)
        return "graded", total - pts, f"one wrong TODO ({mistake.todo}: {mistake.what}) loses exactly its {pts:g} points"
    last = grade_id(source.cells[_last_todo(source)])
    last_pts = _points(items, lambda i: i["todo"] == last)
    last_idx = _last_todo(source)
    before = _points(items, lambda i: i["index"] < last_idx)
    return {
        "complete": ("graded", total, "the solution"),
        "blank": ("graded", 0.0, "untouched student copy"),
        "partial": ("graded", total - last_pts, f"last TODO ({last}) blank"),
        "crash": ("kernel crashed", before, "os._exit(1) in the last TODO; earlier points kept"),
        "loop": ("timed out", total - last_pts, "infinite loop in the last TODO, interrupted"),
        "deleted_test": ("graded", total, "deleted test cell restored"),
        "edited_test": ("graded", total - last_pts, "edited test cells restored; last TODO blank"),
        "stderr": ("graded", total, "stderr warnings cost nothing"),
        "vandal": ("graded", total, "attacks fail; earns only its own (complete) work"),
        "cheater": ("graded", 0.0, "monkeypatching earns nothing"),
        "forger": ("tampered", 0.0, "a pasted cell makes the kernel skip every test: no evidence, 0 points"),
        "reference_call": ("graded", total, "calls the reference in one TODO: reported per TODO, not zeroed by default"),
        "corrupt": ("not a notebook", 0.0, "truncated JSON"),
        "wrong": ("wrong assignment", 0.0, "another assignment's notebook"),
        "absent": ("missing", 0.0, "on the roster, no submission"),
    }[variant]


def write_variant(path: Path, nb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb) + "\n")


#: what every assignment other than the main one gets in the demo class
OTHERS = ("complete", "blank", "one_wrong")


def _students(aid: str, names, mistakes, main: bool) -> list[tuple[str, str, object]]:
    """(student id, variant, mistake) for each variant name; `mistakes` expands to one student per
    manifest mistake, `one_wrong` is the first of them."""
    out = []
    for v in names:
        if v in ("mistakes", "other_mistakes"):   # other_mistakes: all but the first (one_wrong's)
            first = 1 if v == "mistakes" else 2
            out += [(f"mistake{k}_{aid[:2]}", "mistake", m) for k, m in enumerate(mistakes[first - 1:], first)]
        elif v == "one_wrong":
            if mistakes:
                out.append((v if main else f"{v}_{aid[:2]}", v, mistakes[0]))
        else:
            out.append((v if main else f"{v}_{aid[:2]}", v, None))
    return out


def make_class(out: Path, source_dir: Path, aids: list[str], main: str | None = None, cache: Path | None = None,
               variants=FULL_SET, others=OTHERS) -> dict:
    """Write submitted/, roster.csv and expected.json under `out`; returns the expectations.

    `main` gets `variants` (default: the assignment whose manifest says demo_main, else the first;
    "" for none), every other assignment `others`; a variant `mistakes` means one student per
    manifest mistake (`other_mistakes`: all but the first)."""
    out = Path(out)
    found = {a.id: a for a in assignments.discover(source_dir)}
    if main is None:
        main = next((a for a in aids if found[a].demo_main), aids[0])
    rows, roster = [], []
    with tempfile.TemporaryDirectory() as tmp:
        bundles = {a: build_bundle(a, Path(cache or tmp), source_dir) for a in aids}
        for aid in ([main] if main else []) + [a for a in aids if a != main]:
            b = bundles[aid]
            source = nbformat.read(b.source_notebook, as_version=4)
            release = nbformat.read(b.release_notebook, as_version=4)
            items = b.info["items"]
            names = [v for v in (variants if aid == main else others)
                     if v != "reference_call" or reference_call_spec(source)]
            for student, v, mistake in _students(aid, names, found[aid].mistakes, aid == main):
                dest = out / "submitted" / student / aid / f"{aid}.ipynb"
                if v == "corrupt":
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_text(nbformat.writes(complete(source, release))[:700])
                elif v == "wrong":
                    others_ = [a for a in aids if a != aid]
                    if others_:
                        wrong_nb = blank(None, nbformat.read(bundles[others_[0]].release_notebook, as_version=4))
                    else:
                        wrong_nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')", id="demo-wrong")])
                    write_variant(dest, wrong_nb)
                elif mistake is not None:
                    write_variant(dest, with_mistake(source, release, mistake))
                else:
                    write_variant(dest, VARIANTS[v](source, release))
                extra = b.info["max_score"] - sum(i["points"] for i in items)
                status, score, why = expected(v, source, items, extra, mistake)
                row = {"student": student, "assignment": aid, "status": status, "score": score, "why": why}
                if v in NEEDS_STRICT:
                    row["needs"] = "strict"
                if v == "reference_call":
                    row["reference_calls"] = [reference_call_spec(source)[0]]
                rows.append(row)
                roster.append(f"{student},{aid}")
        if main:
            rows.append({"student": "absent", "assignment": main, "status": "missing", "score": 0.0,
                         "why": "on the roster, no submission"})
            roster.append(f"absent,{main}")
    (out / "roster.csv").write_text("student,assignment\n" + "\n".join(sorted(set(roster))) + "\n")
    exp = {"main": main, "students": rows}
    (out / "expected.json").write_text(json.dumps(exp, indent=1) + "\n")
    return exp


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignments", nargs="*")
    p.add_argument("--source", type=Path, default=SOURCE_DIR)
    p.add_argument("--out", type=Path, default=HERE)
    a = p.parse_args(argv)
    aids = a.assignments or assignments.ids(a.source)
    if not aids:
        raise SystemExit(f"no instructor notebooks in {a.source}")
    sub = a.out / "submitted"
    if sub.exists():
        import shutil
        shutil.rmtree(sub)
    exp = make_class(a.out, a.source, aids)
    print(f"wrote {len(exp['students'])} demo submissions under {a.out} (main assignment: {exp['main']})")


if __name__ == "__main__":
    main()
