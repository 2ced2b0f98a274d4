"""In-kernel guard: graded test cells run against the real library functions.

Loaded into every grading kernel before the first cell (IPKernelApp.exec_lines). It records
the callables of watched modules when they are imported (torch, numpy, math, builtins,
helpers, ...), the IPython transformers and the shell's methods, and puts back anything a
student replaced (``torch.allclose = lambda *a: True``, an input transformer that blanks every
cell, ``sys.modules['torch'] = fake``) after every cell and again right before each graded
cell. What it restored is reported to the harness and shown to the instructor.

Limits, stated plainly: code in the same process can always defeat code in the same process
(e.g. by unregistering this guard). The harness therefore grades from the kernel's replies,
not from printed output, and decides anything a certificate rests on (06's gate) in a fresh
process it controls (autograder/post_grade.py). This guard raises the bar and leaves a trace.
"""
from __future__ import annotations

import builtins
import hashlib
import importlib.abc
import json
import os
import sys
import types

WATCH = ("builtins", "math", "operator", "functools", "numpy", "numpy.testing", "numpy.linalg",
         "torch", "torch.testing", "torch.nn.functional", "torch.linalg", "helpers")


def _watched(name: str) -> bool:
    return name in WATCH or name.startswith("helpers.")


def _trusted_roots() -> tuple:
    import os
    import site
    roots = {sys.prefix, sys.base_prefix, *site.getsitepackages()}
    helpers = sys.modules.get("helpers")
    if helpers is not None and getattr(helpers, "__file__", None):
        roots.add(os.path.dirname(helpers.__file__))
    return tuple(os.path.realpath(r) + os.sep for r in roots if r)


def _code_file(obj):
    import functools
    import os
    for _ in range(5):
        if isinstance(obj, functools.partial):
            obj = obj.func
        elif isinstance(obj, (types.MethodType, staticmethod, classmethod)):
            obj = obj.__func__
        else:
            break
    code = getattr(obj, "__code__", None)
    if code is not None:
        return os.path.realpath(code.co_filename) if code.co_filename.startswith(os.sep) else code.co_filename
    if isinstance(obj, type):
        mod = sys.modules.get(obj.__module__)
        f = getattr(mod, "__file__", None)
        return os.path.realpath(f) if f else None
    return None


def _library_internal(owner: str, new) -> bool:
    """Was `new` put there by library code (legit lazy set-up) rather than by the student?"""
    f = _code_file(new)
    if f is not None:
        return f.startswith(_trusted_roots())
    return (getattr(new, "__module__", None) or "").split(".")[0] == owner.split(".")[0]


def _callables(ns: dict) -> dict:
    return {k: v for k, v in ns.items()
            if isinstance(v, (types.FunctionType, types.BuiltinFunctionType, type))
            or callable(v) and type(v).__module__ in ("builtins", "torch", "numpy")}


class _Guard:
    def __init__(self, spec: dict) -> None:
        self.graded = set(spec.get("graded", []))
        self.report_path = spec["report"]
        self.mods: dict[str, tuple] = {}
        self.classes: list[tuple] = []
        self.report = {"graded_cells_checked": 0, "restored": []}
        self.shell = None

    # -- snapshots ------------------------------------------------------------------------
    def snap_module(self, name: str, mod) -> None:
        if name not in self.mods and isinstance(mod, types.ModuleType):
            self.mods[name] = (mod, _callables(vars(mod)))
            if name == "torch" and isinstance(getattr(mod, "Tensor", None), type):
                self.snap_class("torch.Tensor", mod.Tensor)

    def snap_class(self, label: str, cls) -> None:
        self.classes.append((label, cls, {k: v for k, v in vars(cls).items() if callable(v)}))

    def snap_shell(self, shell) -> None:
        self.shell = shell
        self.shell_keys = set(vars(shell))
        self.lists = {n: list(getattr(shell, n)) for n in
                      ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")
                      if isinstance(getattr(shell, n, None), list)}
        for klass in type(shell).__mro__:
            if klass.__module__.startswith(("IPython", "ipykernel")):
                self.snap_class(f"{klass.__module__}.{klass.__name__}", klass)

    # -- restoring ------------------------------------------------------------------------
    def _note(self, what: str) -> None:
        if what not in self.report["restored"]:
            self.report["restored"].append(what)

    def restore(self) -> None:
        for name, (mod, attrs) in list(self.mods.items()):
            if sys.modules.get(name) is not mod and name in sys.modules:
                sys.modules[name] = mod
                self._note(f"sys.modules[{name!r}]")
            ns = vars(mod)
            for attr, val in attrs.items():
                new = ns.get(attr, val)
                if new is not val and not _library_internal(name, new):
                    ns[attr] = val
                    self._note(f"{name}.{attr}")
        for label, cls, attrs in self.classes:
            for attr, val in attrs.items():
                new = vars(cls).get(attr, val)
                if new is not val and not _library_internal(label, new):
                    try:
                        setattr(cls, attr, val)
                        self._note(f"{label}.{attr}")
                    except (TypeError, AttributeError):
                        pass
        sh = self.shell
        if sh is not None:
            for name, items in self.lists.items():
                if getattr(sh, name, None) != items:
                    setattr(sh, name, list(items))
                    self._note(f"IPython {name}")
            for key in set(vars(sh)) - self.shell_keys:
                if callable(getattr(type(sh), key, None)):
                    delattr(sh, key)
                    self._note(f"IPython shell.{key}")

    def pre_run_cell(self, info) -> None:
        self.restore()
        raw = getattr(info, "raw_cell", "") or ""
        if hashlib.sha256(raw.encode()).hexdigest() in self.graded:
            self.report["graded_cells_checked"] += 1
            self.write()

    def post_run_cell(self, result) -> None:
        self.restore()
        self.write()

    def write(self) -> None:
        # never block or follow a link the student planted (a FIFO, a symlink): the harness reads
        # the report the same way and notes anything that is not a plain file
        try:
            fd = os.open(self.report_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK,
                         0o600)
        except OSError:
            return
        try:
            os.write(fd, json.dumps(self.report).encode())
        except OSError:
            pass
        finally:
            os.close(fd)


class _Finder(importlib.abc.MetaPathFinder):
    """Snapshots a watched module the moment its import finishes."""

    def __init__(self, guard: _Guard) -> None:
        self.guard = guard

    def find_spec(self, fullname, path=None, target=None):
        if not _watched(fullname):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader, guard = spec.loader, self.guard
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        orig_exec = loader.exec_module

        def exec_module(module, _orig=orig_exec):
            _orig(module)
            guard.snap_module(fullname, module)
        try:
            loader.exec_module = exec_module
        except (AttributeError, TypeError):
            pass
        return spec


def install(spec_path: str) -> None:
    with open(spec_path) as f:
        spec = json.load(f)
    guard = _Guard(spec)
    for name in list(sys.modules):
        if _watched(name):
            guard.snap_module(name, sys.modules[name])
    guard.snap_module("builtins", builtins)
    from IPython import get_ipython
    shell = get_ipython()
    if shell is not None:
        guard.snap_shell(shell)
        shell.events.register("pre_run_cell", guard.pre_run_cell)
        shell.events.register("post_run_cell", guard.post_run_cell)
    sys.meta_path.insert(0, _Finder(guard))
    guard.write()
