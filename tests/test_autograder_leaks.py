"""Nothing leaks between students or out of the grader (issue 22), end to end on the fixture class.

A student who dumps the kernel's input history (`In`, `_ih`, `Out`, `_i<n>`, the history
manager, an exception quoting `In`) gets none of the hidden tests back in any file a student
receives, and honest students in the same class get exactly the results of a run without the
attackers. A student whose markdown and outputs carry scripts, event handlers and
`javascript:` links gets a feedback page (and autograded notebook) without them, while an
honest student's plots and markdown still show. The tests that run kernels are `slow` (the
class is graded once per module, twice: with and without the attackers); the last two are not.
"""
from __future__ import annotations

import base64
import csv
import html
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from autograder import REPO_ROOT, redact
from autograder.examples import make_demo
from autograder.nbinfo import grade_id

FIXTURE_SRC = REPO_ROOT / "tests" / "fixtures" / "grading" / "source"
AID = "fixture_basic"
HONEST = ("complete", "partial", "plotter")

SNOOP = r'''
import json, pprint
print(In)
print(_ih)
print(repr(In))
print(Out)
print(json.dumps(In))
pprint.pprint(In)
print([v for k, v in globals().items() if k.startswith("_i")])
print(list(get_ipython().history_manager.get_range()))
print(list(get_ipython().history_manager.get_range(output=True, raw=False)))
from IPython.display import HTML, Markdown, display
import html as _html
display(HTML("<pre>" + _html.escape(str(In)) + "</pre>"))
display(Markdown("\n".join(In)))
display({"application/json": {"history": list(In)}}, raw=True)
In
'''
SNOOP_RAISE = 'raise RuntimeError("history: " + repr(In))'
RAISER = '''
def add(a, b):
    raise ValueError("my input history: " + repr(In[-1]))   # In[-1]: the test cell running now
'''
XSS_MD = '''## My notes
<script>alert(1)</script>
<img src=x onerror=alert(1)>
<a href="javascript:alert(1)">x</a>
<iframe src="https://example.com"></iframe><form action="https://example.com"><input name=q></form>
<style>body { display: none }</style>
'''
XSS_CODE = r'''
from IPython.display import HTML, Javascript, Markdown, SVG, display, publish_display_data
display(HTML('<script>alert(1)</script><img src=x onerror="alert(1)"><a href="javascript:alert(1)">j</a>'
             '<div style="position:fixed;top:0" class="modal navbar-fixed-top">overlay</div>'))
display(Javascript('alert(1)'))
display(Markdown('<script>alert(1)</script> **bold** <img src=x onerror=alert(1)>'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" onload="alert(1)">'
            '<script>alert(1)</script><rect width="10" height="10"/></svg>'))
display({"application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0},
         "text/plain": "a widget"}, raw=True)
publish_display_data({"image/png": "iVBORw0KGgo="}, metadata={"image/png": {"width": "1 onerror=alert(1)"}})
'''
PLOT_MD = '''## Results
The loss went **down**, see the *plot*:

| step | loss |
|---|---|
| 1 | 0.5 |

```python
print("code block")
```
'''
PLOT_CODE = '''
import matplotlib
matplotlib.use("module://matplotlib_inline.backend_inline")
import matplotlib.pyplot as plt
from IPython.display import HTML, display
fig, ax = plt.subplots(figsize=(2, 2))
ax.plot([1, 2, 3], [3, 1, 2])
plt.show()
display(HTML("<table class='dataframe'><tr><td><b>honest table</b></td></tr></table>"))
'''


def _insert_after(nb, gid: str, *cells):
    at = [grade_id(c) for c in nb.cells].index(gid) + 1
    nb.cells[at:at] = list(cells)
    return nb


def _code(src: str):
    return nbformat.v4.new_code_cell(src.strip("\n"))


def _md(src: str):
    return nbformat.v4.new_markdown_cell(src.strip("\n"))


def build_class(root: Path, students: dict) -> None:
    for name, nb in students.items():
        make_demo.write_variant(root / "submitted" / name / AID / f"{AID}.ipynb", nb)


def grade(root: Path, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "autograder", "grade", str(root), "--source", str(FIXTURE_SRC), "--profile", "smoke",
           "--cell-timeout", "30", "--quiet", "--out", str(out), "--workers", "2"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("leaks")
    source, release = make_demo.source_and_release(AID, tmp / "cache", FIXTURE_SRC)
    complete = make_demo.complete(source, release)
    snoop = make_demo.complete(source, release)
    snoop.cells += [_code(SNOOP), _code(SNOOP_RAISE)]
    raiser = make_demo.complete(source, release)
    raiser.cells[[grade_id(c) for c in raiser.cells].index("add_solution")].source = RAISER.strip()
    xss = _insert_after(make_demo.complete(source, release), "test_add", _md(XSS_MD), _code(XSS_CODE))
    plotter = _insert_after(make_demo.complete(source, release), "test_add", _md(PLOT_MD), _code(PLOT_CODE))
    honest = {"complete": complete, "partial": make_demo.partial(source, release), "plotter": plotter}
    build_class(tmp / "all", {**honest, "snoop": snoop, "raiser": raiser, "xss": xss})
    build_class(tmp / "honest", honest)
    grade(tmp / "all", tmp / "out_all")
    grade(tmp / "honest", tmp / "out_honest")
    return {"all": tmp / "out_all", "honest": tmp / "out_honest", "source": source}


def result(out: Path, student: str) -> dict:
    (p,) = (out / "results" / AID).glob(f"{student}--*.json")
    return json.loads(p.read_text())


def student_files(out: Path, student: str) -> dict[str, str]:
    """Every file this student receives, as text: feedback, autograded notebook, results, grades row."""
    r = result(out, student)
    files = {"feedback": (out / r["files"]["feedback"]).read_text(),
             "autograded": (out / r["files"]["autograded"]).read_text(),
             "gradescope": (out / "gradescope" / AID / student / "results.json").read_text(),
             "result": json.dumps(r)}
    with open(out / "grades.csv") as f:
        files["grades row"] = "\n".join(",".join(row) for row in csv.reader(f) if row[0] == student)
    with open(out / "grades_by_test.csv") as f:
        files["grades_by_test rows"] = "\n".join(",".join(row) for row in csv.reader(f) if row[0] == student)
    return files


def hidden_lines(source) -> list[str]:
    lines = []
    for cell in source.cells:
        for m in redact.HIDDEN.finditer(cell.source):
            lines += [" ".join(ln.split()) for ln in m.group(1).splitlines() if len(ln.strip()) >= 6]
    assert len(lines) == 5, lines      # the fixture's three hidden blocks
    return lines


def _forms(text: str) -> list[str]:
    """The text as stored, and decoded: JSON string escapes, HTML entities, whitespace collapsed."""
    forms = [text, html.unescape(text)]
    try:
        forms.append(json.dumps(json.loads(text), ensure_ascii=False))
    except ValueError:
        pass
    decoded = [f.replace("\\n", " ").replace("\\'", "'").replace('\\"', '"') for f in forms]
    return [" ".join(f.split()) for f in forms + decoded]


@pytest.mark.slow
def test_hidden_tests_reach_no_student_file(graded):
    out = graded["all"]
    secrets = hidden_lines(graded["source"])
    snoop = result(out, "snoop")
    assert snoop["status"] == "graded" and snoop["score"] == 8.0, snoop      # dumping costs nothing...
    raiser = result(out, "raiser")
    test_add = next(t for t in raiser["tests"] if t["grade_id"] == "test_add")
    assert test_add["status"] == "failed" and "my input history" in test_add["message"]
    for student in ("snoop", "raiser", "xss", *HONEST):
        for what, text in student_files(out, student).items():
            for form in _forms(text):
                for line in secrets:
                    assert line not in form, f"{student}'s {what} shows the hidden test {line!r}"
    # ...and the dump really ran: the visible tests and the student's own code are there
    nb = nbformat.read(out / snoop["files"]["autograded"], as_version=4)
    dump = "".join(o.get("text", "") for o in nb.cells[-2].outputs if o.output_type == "stream")
    assert "assert add(1, 2) == 3" in dump and redact.NOTE in dump
    assert redact.NOTE in "".join(nb.cells[-1].outputs[0].traceback)      # the exception's copy, too
    for summary in ("summary.txt", "summary.json"):                      # instructor-facing, but still
        assert not any(line in form for form in _forms((out / summary).read_text()) for line in secrets)


def untimed(obj):
    """A result without its timings (how long a post-grade check took, its CPU seconds, ...)."""
    if isinstance(obj, dict):
        return {k: untimed(v) for k, v in obj.items() if not re.search(r"seconds|_s$|^timing$|^execution_time$", k)}
    if isinstance(obj, list):
        return [untimed(v) for v in obj]
    return obj


def unpathed(text: str) -> str:
    """Tracebacks name the submission's private working folder, new for every run."""
    return re.sub(r"ag-[A-Za-z0-9_]{8}", "ag-XXXXXXXX", text)


@pytest.mark.slow
def test_honest_students_unaffected_by_attackers(graded):
    for student in HONEST:
        a, h = result(graded["all"], student), result(graded["honest"], student)
        for key in ("status", "detail", "score", "max_score", "tests", "notes"):
            assert untimed(a[key]) == untimed(h[key]), (student, key)
        fa, fh = student_files(graded["all"], student), student_files(graded["honest"], student)
        assert fa["grades row"] == fh["grades row"] and fa["grades_by_test rows"] == fh["grades_by_test rows"]
        ga, gh = json.loads(fa["gradescope"]), json.loads(fh["gradescope"])
        ga.pop("execution_time"), gh.pop("execution_time")
        assert ga == gh
        na, nh_ = (nbformat.reads(f["autograded"], as_version=4) for f in (fa, fh))
        assert (unpathed(json.dumps([c.get("outputs") for c in na.cells]))
                == unpathed(json.dumps([c.get("outputs") for c in nh_.cells]))), student
        assert unpathed(fa["feedback"]) == unpathed(fh["feedback"]), student


class _Page(HTMLParser):
    """Collects what a browser would run or load from a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts, self.bad, self.images, self.text = [], [], [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._in_script = True
            self.scripts.append(dict(attrs).get("src") or "")
        if tag in ("iframe", "form", "object", "embed", "input", "base", "frame"):
            self.bad.append(f"<{tag}>")
        for k, raw in attrs:
            v = (raw or "").strip().lower()
            if k.startswith("on"):
                self.bad.append(f"{tag} {k}={v}")
            if k in ("href", "src", "action", "xlink:href") and v.replace("\n", "").startswith("javascript:"):
                self.bad.append(f"{tag} {k}={v}")
            if k in ("href", "src") and v.startswith("data:"):
                if tag == "img" and v.startswith(("data:image/png", "data:image/jpeg")):
                    self.images.append(v)
                elif tag == "img" and v.startswith("data:image/svg+xml;base64,"):
                    svg = base64.b64decode(raw.split(",", 1)[1]).decode()
                    self.images.append(v)
                    if any(m in svg.lower() for m in ("<script", "onload", "onerror", "javascript:")):
                        self.bad.append("svg image with active content")
                else:
                    self.bad.append(f"{tag} {k}={v[:40]}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def page(text: str) -> _Page:
    p = _Page()
    p.feed(text)
    return p


@pytest.mark.slow
def test_feedback_page_runs_nothing_from_the_student(graded):
    out = graded["all"]
    xss = page((out / result(out, "xss")["files"]["feedback"]).read_text())
    honest = page((out / result(out, "complete")["files"]["feedback"]).read_text())
    assert not xss.bad, xss.bad
    assert not any("alert" in s for s in xss.scripts)
    assert len(xss.scripts) == len(honest.scripts)             # only the template's own (MathJax, ...)
    text = " ".join(xss.text)
    assert "My notes" in text and "overlay" in text and "bold" in text
    assert "application/javascript output removed by the grader" in text
    assert "a widget" in text                                  # a widget view's text fallback


@pytest.mark.slow
def test_autograded_notebook_outputs_are_inert(graded):
    out = graded["all"]
    nb = nbformat.read(out / result(out, "xss")["files"]["autograded"], as_version=4)
    mimes = {m for c in nb.cells for o in c.get("outputs", []) for m in o.get("data", {})}
    assert not mimes & {"application/javascript", "application/vnd.jupyter.widget-view+json", "text/markdown"}
    for c in nb.cells:
        for o in c.get("outputs", []):
            for mime in ("text/html", "image/svg+xml"):
                if mime in o.get("data", {}):
                    p = page(o.data[mime])
                    assert not p.bad and not p.scripts, (mime, p.bad, p.scripts)
            for md in [o.get("metadata", {}), *o.get("metadata", {}).values()]:
                if isinstance(md, dict) and "width" in md:
                    assert isinstance(md["width"], int)
    assert "widgets" not in nb.metadata


@pytest.mark.slow
def test_honest_feedback_keeps_plots_and_markdown(graded):
    out = graded["all"]
    r = result(out, "plotter")
    assert r["status"] == "graded" and r["score"] == 8.0
    fb = (out / r["files"]["feedback"]).read_text()
    p = page(fb)
    assert not p.bad
    pngs = [i for i in p.images if i.startswith("data:image/png")]
    assert pngs and len(pngs[0]) > 1000                          # the matplotlib figure
    assert "<strong>down</strong>" in fb and "<em>plot</em>" in fb and "<table" in fb
    assert "<b>honest table</b>" in fb and 'class="dataframe"' in fb
    assert 'class="highlight' in fb                              # the markdown's code block, highlighted
    nb = nbformat.read(out / r["files"]["autograded"], as_version=4)
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def test_redact_catches_escaped_forms_without_a_kernel():
    """The stripping patterns on the dumps Python itself produces, and the net behind them."""
    source = nbformat.read(FIXTURE_SRC / AID / f"{AID}.ipynb", as_version=4)
    secrets = redact.Secrets(source)
    ins = ["", *[c.source for c in source.cells if c.cell_type == "code"]]
    import pprint
    dumps = [str(ins), repr(repr(ins)), json.dumps(ins), pprint.pformat(ins, width=30), html.escape(str(ins)),
             "\n".join(ins), "\x1b[0;32m" + "\x1b[0m\n\x1b[0;32m".join(ins)]
    for dump in dumps:
        clean = secrets.strip(dump)
        assert not secrets.found(clean) and redact.NOTE in clean
        assert "assert add(1, 2) == 3" in clean or clean == redact.NOTE
    assert secrets.strip("nothing secret here") == "nothing secret here"
    cut = "ValueError: " + repr("assert add(1, 2) == 3\nassert add(0.5, 0.25) == 0.75")[:45]   # cut to length
    assert secrets.strip(cut) == "ValueError: 'assert add(1, 2) == 3\\n" + redact.NOTE


def test_sanitizers_keep_images_and_drop_active_content():
    dirty = ('<script>alert(1)</script><img src=x onerror=alert(1)><a href=" jav&#x61;script:alert(1)">j</a>'
             '<a href="data:text/html,x">d</a><img src="da\nta:image/svg+xml,x"><img src="data:image/png;base64,AAAA">'
             '<iframe src="https://e"></iframe><style>body{display:none}</style><p class="modal k">t</p>'
             '<h2 id="top">h</h2><a href="https://example.com">ok</a>')
    clean = redact.sanitize_html(dirty)
    p = page(clean)
    assert not p.bad and not p.scripts and "style" not in clean and "modal" not in clean
    assert p.images == ["data:image/png;base64,aaaa"] and 'href="https://example.com"' in clean
    assert '<p class="k">' in clean and '<h2 id="top">' in clean
    svg = redact.sanitize_svg('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script>'
                              '<use xlink:href="#g"/><use href="https://e/x.svg#a"/><rect style="fill:url(https://e)"/>'
                              '<foreignObject><img src=x onerror=alert(1)></foreignObject></svg>')
    assert "alert" not in svg and "https://e" not in svg and 'xlink:href="#g"' in svg
    bundle = redact.sanitize_bundle({"application/javascript": "alert(1)", "text/markdown": "**b** <script>x</script>"})
    assert set(bundle) == {"text/plain", "text/html"} and "<strong>b</strong>" in bundle["text/html"]
    assert "<script" not in bundle["text/html"] and "removed by the grader" in bundle["text/plain"]
