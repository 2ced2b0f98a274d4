"""Answers that just call the course's reference: found by reading the submission, not running it.

The `helpers` package holds a reference of every block the notebooks ask for (later notebooks
import it instead of a student's earlier answer). So `from helpers.ddpm import q_sample`, or a
body that returns `ddpm.q_sample(...)`, passes TODO 2 without writing it. The harness parses each
TODO's answer cell (Python's `ast`: nothing is executed) and reports the TODOs whose answer
refers to the reference twin of what the TODO asks for:

* the TODO's names are the names the instructor's solution cell defines (``def q_sample``,
  ``class DownBlock``, ``GUIDANCE_W = ...``);
* their twins are ``helpers.<module>.<same name>`` for every module, plus any listed in the
  assignment's ``autograder/source/<id>/manifest.json`` under ``"twins": {todo: ["helpers.x.y"]}``
  (a twin with another name; ``"helpers.x.y as Name"`` says which of the TODO's names it stands for);
* an answer refers to a twin when it imports it, or names it through any alias of a `helpers`
  module or object imported anywhere in the notebook (``import helpers.ddpm as d; d.q_sample``,
  ``class DownBlock(blocks.DownBlock)``).

The instructor decides what to do with it: the result and the summary list them per TODO, and
``--zero-reference-calls`` gives such TODOs 0 points. What this cannot see: a name built at run
time (``getattr(ddpm, "q_" + "sample")``), or the reference's code copied in by hand.
"""
from __future__ import annotations

import ast

MAX_SOURCE = 200_000   # characters of one cell parsed; longer cells are skipped (noted)


def _parse(src: str):
    if len(src) > MAX_SOURCE:
        return None
    lines = [ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))]   # IPython magics
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def defined_names(src: str) -> set[str]:
    """Top-level names a cell binds: def, class, plain assignment targets."""
    tree = _parse(src)
    out: set[str] = set()
    for node in (tree.body if tree else []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        out.add(n.id)
    return out


def _aliases(trees) -> dict[str, str]:
    """alias -> dotted path for every `helpers` import in the notebook."""
    al: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == "helpers" or a.name.startswith("helpers."):
                        al[a.asname or a.name.split(".")[0]] = a.name if a.asname else "helpers"
            elif isinstance(node, ast.ImportFrom) and node.module and (
                    node.module == "helpers" or node.module.startswith("helpers.")) and not node.level:
                for a in node.names:
                    al[a.asname or a.name] = f"{node.module}.{a.name}"
    return al


def _resolve(node, al: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return al.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, al)
        return f"{base}.{node.attr}" if base else None
    return None


def find(nb, source_nb, todos: list[str], extra_twins: dict | None = None) -> dict[str, list[str]]:
    """{todo grade_id: [what the answer refers to]} for the TODOs whose answer uses its twin."""
    from .nbinfo import grade_id
    extra_twins = extra_twins or {}
    want: dict[str, set[str]] = {}
    for cell in source_nb.cells:
        gid = grade_id(cell)
        if gid in todos and cell.cell_type == "code":
            want[gid] = defined_names(cell.source)
    trees = [t for t in (_parse(c.source) for c in nb.cells if c.cell_type == "code") if t is not None]
    al = _aliases(trees)
    found: dict[str, list[str]] = {}
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid not in want or cell.cell_type != "code":
            continue
        tree = _parse(cell.source)
        if tree is None:
            continue
        names, twins = want[gid], {p.partition(" as ")[0].strip() for p in extra_twins.get(gid, [])}

        def is_twin(path: str | None) -> bool:
            if not path or not path.startswith("helpers."):
                return False
            return path.rsplit(".", 1)[-1] in names or path in twins

        hits: list[str] = []
        local = _aliases([tree])
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("helpers"):
                hits += [f"imports {node.module}.{a.name}" for a in node.names if is_twin(f"{node.module}.{a.name}")]
            elif isinstance(node, (ast.Name, ast.Attribute)) and isinstance(getattr(node, "ctx", None), ast.Load):
                path = _resolve(node, {**al, **local})
                if is_twin(path):
                    hits.append(f"uses {path}")
        if hits:
            found[gid] = sorted(set(hits))
    return found
