"""Drive JupyterLab in a real headless Chromium (Playwright, Debian's `chromium`) for tests/test_browser.py.

`Lab` starts a JupyterLab server on localhost (its own config, settings and workspace folders under a
temp folder; the kernels inherit COURSE_PROFILE, COURSE_DATA_DIR, COURSE_OFFLINE) and one browser
page on it. `Lab.run(path)` opens a notebook the way a student does, runs Run All Cells, and returns
a `Run`: per cell, what the notebook model holds (execution count, outputs) and what the page shows
(rendered text, images, widgets). The `assert_*` functions state what a student must see and fail
with a message that says what is wrong and what to do.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INSTALLER = REPO / "scripts" / "browser_local.sh"
WIDGET_EXTENSION = "@jupyter-widgets/jupyterlab-manager"   # the JupyterLab side of ipywidgets (jupyterlab_widgets)


def chromium() -> str:
    """The path of a Chromium, installed from Debian's packages when missing (scripts/browser_local.sh).
    Raises RuntimeError saying why there is none."""
    proc = subprocess.run([str(INSTALLER)], capture_output=True, text=True)
    path = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != 0 or not path:
        raise RuntimeError(f"no Chromium: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return path


def launch(browser_path: str):
    """Playwright and a headless Chromium (the binary at `browser_path`): (playwright, browser)."""
    from playwright.sync_api import sync_playwright
    pw = sync_playwright().start()
    try:
        return pw, pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"])
    except BaseException:
        pw.stop()
        raise


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# JupyterLab user settings for the test server: every cell stays in the page (no windowing, so the
# test reads all outputs), and no news/update pop-up covers the screenshots
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}

# one cell of the current notebook: what the model holds and what the page renders
_CELLS_JS = r"""
(key) => {
  const w = window.__course[key];
  const vis = (e) => !!e.closest && !e.closest('.lm-mod-hidden') && e.getClientRects().length > 0;
  return w.content.widgets.map((cell, i) => {
    const m = cell.model;
    const out = {i, type: m.type, source: m.sharedModel.getSource(), count: null, outputs: [], dom: []};
    if (m.type !== 'code') return out;
    out.count = m.executionCount ?? null;
    for (let k = 0; k < m.outputs.length; k++) {
      const o = m.outputs.get(k).toJSON();
      out.outputs.push({type: o.output_type, name: o.name || null, ename: o.ename || null, evalue: o.evalue || null,
                        text: Array.isArray(o.text) ? o.text.join('') : (o.text || ''),
                        mimes: Object.keys(o.data || {}),
                        plain: o.data && o.data['text/plain'] ? [].concat(o.data['text/plain']).join('') : null});
    }
    for (const node of cell.node.querySelectorAll('.jp-OutputArea-output')) {
      const imgs = Array.from(node.querySelectorAll('img')).map(im => ({
        complete: im.complete, natural: [im.naturalWidth, im.naturalHeight], shown: [im.clientWidth, im.clientHeight],
        src: im.src.length > 64 ? im.src.slice(-64) : im.src}));
      const bars = Array.from(node.querySelectorAll('.widget-hprogress')).filter(vis).map(b => {
        const bar = b.querySelector('.progress-bar');
        const box = b.closest('.widget-hbox') || b;
        return {fill: bar ? bar.getBoundingClientRect().width / Math.max(1, b.getBoundingClientRect().width) : null,
                label: box.innerText.replace(/\s+/g, ' ').trim()};
      });
      const sliders = Array.from(node.querySelectorAll('.widget-slider, .jupyter-widget-slider, .widget-hslider'))
        .filter(vis).map(s => ({text: (s.closest('.widget-inline-hbox') || s).innerText.trim()}));
      out.dom.push({mime: node.getAttribute('data-mime-type') || '', visible: vis(node),
                    nested: node.parentElement.closest('.jupyter-widgets') !== null,
                    widget: node.querySelector('.jupyter-widgets') !== null,
                    text: node.innerText.slice(0, 4000), imgs, bars, sliders});
    }
    return out;
  });
}
"""


@dataclass
class Run:
    """One notebook run in the browser: its cells (model + page) and its screenshot."""
    name: str
    key: str
    cells: list[dict]
    seconds: float
    lab: "Lab" = field(repr=False)
    screenshot: Path | None = None
    completed: bool = False

    # -- what the model holds ------------------------------------------------------------------
    def errors(self) -> list[tuple[int, dict]]:
        return [(c["i"], o) for c in self.cells for o in c["outputs"] if o["type"] == "error"]

    def stderr(self) -> list[tuple[int, str]]:
        return [(c["i"], o["text"]) for c in self.cells for o in c["outputs"]
                if o["type"] == "stream" and o["name"] == "stderr" and o["text"].strip()]

    def code_cells(self) -> list[dict]:
        return [c for c in self.cells if c["type"] == "code" and c["source"].strip()]

    def refresh(self) -> "Run":
        self.cells = self.lab.page.evaluate(_CELLS_JS, self.key)
        return self

    def shot(self, path: Path, cell: int | None = None, selector: str | None = None) -> Path:
        """A screenshot of the page with cell `cell` (or the first `selector` match) scrolled into view."""
        page = self.lab.page
        if cell is not None:
            page.evaluate("([k, i]) => window.__course[k].content.widgets[i].node.scrollIntoView({block: 'start'})",
                          [self.key, cell])
        elif selector:
            page.locator(selector).first.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        page.screenshot(path=str(path))
        self.screenshot = Path(path)
        return self.screenshot

    def cell_shot(self, path: Path, cells: list[int], max_height: int = 560, outputs_only: bool = False) -> Path:
        """A picture of just the given cells, or of their outputs (top-aligned, at most `max_height` px
        tall): for the docs."""
        page = self.lab.page
        node = "(c) => " + ("c.outputArea.node" if outputs_only else "c.node")
        page.evaluate(f"([k, i]) => ({node})(window.__course[k].content.widgets[i]).scrollIntoView({{block: 'start'}})",
                      [self.key, cells[0]])
        page.wait_for_timeout(300)
        rects, panel = page.evaluate(f"""([k, ids]) => {{ const w = window.__course[k], pick = {node};
            const box = (n) => {{ const r = n.getBoundingClientRect(); return [r.x, r.y, r.right, r.bottom]; }};
            return [ids.map(i => box(pick(w.content.widgets[i]))), box(w.content.node)]; }}""", [self.key, cells])
        x0, y0 = min(r[0] for r in rects), max(min(r[1] for r in rects), panel[1])
        x1, y1 = max(r[2] for r in rects), min(max(r[3] for r in rects), panel[3], y0 + max_height)
        page.screenshot(path=str(path), clip={"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0})
        return Path(path)

    def close(self) -> None:
        """Shut its kernel down and close it (without saving: the copy is a temp one anyway)."""
        self.lab.page.evaluate("""async (k) => { const w = window.__course[k]; if (!w) return;
            await w.sessionContext.shutdown(); w.context.model.dirty = false; w.dispose(); delete window.__course[k]; }""",
                               self.key)


class Lab:
    """A JupyterLab server on localhost and one Chromium page on it."""

    def __init__(self, root: Path, state: Path, browser, disabled_extensions: tuple[str, ...] = (),
                 env: dict | None = None):
        """`browser`: a Playwright Browser (see `launch`); the Lab opens its own page in it."""
        self.root, self.state = Path(root), Path(state)
        self.port, self.token = _free_port(), secrets.token_hex(16)
        settings = self.state / "settings"
        for rel, value in SETTINGS.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(value))
        config = self.state / "config"
        (config / "labconfig").mkdir(parents=True, exist_ok=True)
        if disabled_extensions:   # what `jupyter labextension disable <name>` writes, in this server's own config
            (config / "labconfig" / "page_config.json").write_text(
                json.dumps({"disabledExtensions": {name: True for name in disabled_extensions}}))
        env = dict(os.environ if env is None else env)
        env.pop("MPLBACKEND", None)   # a student's kernel draws inline: the tests' Agg would hide every figure
        env["JUPYTER_CONFIG_DIR"] = str(config)
        # one compute thread per kernel: the page and the server need the other core of a 2-core CI
        # machine, and two OpenMP threads on a busy machine can be 10-50x slower (see conftest.py)
        env.update({k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
        env["JUPYTER_RUNTIME_DIR"] = str(self.state / "runtime")
        self.log = self.state / "server.log"
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root}", "--LabApp.expose_app_in_browser=True",
               f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={self.state / 'workspaces'}"]
        self.server = subprocess.Popen(cmd, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self._context = self.page = None
        try:
            self._wait_for_server()
            self._context = browser.new_context(viewport={"width": 1280, "height": 860})
            self.page = self._context.new_page()
            self.page.set_default_timeout(120_000)
            self.page.goto(f"http://127.0.0.1:{self.port}/lab?reset&token={self.token}")
            self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started !== undefined"
                                        " && document.querySelector('#jp-main-dock-panel')")
            self.page.evaluate("async () => { const app = window.jupyterapp; await app.started; await app.restored;"
                               " window.__course = {}; app.shell.collapseLeft(); }")
        except BaseException:
            self.close()
            raise

    def _wait_for_server(self, timeout: float = 120) -> None:
        url = f"http://127.0.0.1:{self.port}/api/status?token={self.token}"
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.server.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({self.server.returncode}): {self.log.read_text()[-1500:]}")
            try:
                urllib.request.urlopen(url, timeout=5)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"jupyter lab did not answer on port {self.port} in {timeout:.0f} s; see {self.log}")

    def plugins(self, prefix: str) -> list[str]:
        """The JupyterLab plugins of the page whose id starts with `prefix`."""
        return self.page.evaluate("(p) => window.jupyterapp.listPlugins().filter(id => id.startsWith(p))", prefix)

    def run(self, rel: str, timeout_s: float = 900) -> Run:
        """Open `rel` (relative to the server root) like a student, wait for its kernel, Run All Cells,
        and wait until Run All returns (every cell done, or the first error stopped it)."""
        key = f"k{len(rel)}_{secrets.token_hex(4)}"
        t0 = time.monotonic()
        self.page.evaluate("""async ([path, key]) => { const app = window.jupyterapp;
            const w = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
            window.__course[key] = w; app.shell.activateById(w.id);
            await w.context.ready; await w.sessionContext.ready;
            if (!w.sessionContext.session || !w.sessionContext.session.kernel)
              throw new Error('no kernel started for ' + path + ' (kernel ' + w.sessionContext.kernelDisplayName + ')');
            }""", [rel, key])
        done = self.page.evaluate(f"""async (key) => {{ const app = window.jupyterapp, w = window.__course[key];
            app.shell.activateById(w.id);
            const timeout = new Promise((_, no) => setTimeout(() => no(new Error('Run All did not finish in {timeout_s:.0f} s')),
                                                                {int(timeout_s * 1000)}));
            const ok = await Promise.race([app.commands.execute('notebook:run-all-cells'), timeout]);
            // the outputs are in the model; let the page render them (widgets arrive by comm messages)
            for (let k = 0; k < 50; k++) {{
              await new Promise(r => setTimeout(r, 100));
              if (w.sessionContext.session.kernel.status === 'idle' &&
                  !w.node.innerText.includes('Loading widget')) break;
            }}
            return ok; }}""", key)
        self.page.wait_for_timeout(500)
        run = Run(name=rel, key=key, cells=[], seconds=time.monotonic() - t0, lab=self).refresh()
        run.completed = bool(done)
        return run

    def close(self) -> None:
        try:
            self._context and self._context.close()
        except Exception:
            pass
        if self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()


# ---------------------------------------------------------------------------------------------------
# What a student must see. Each fails with a message that says what is wrong and what to do.

def _where(run: Run, i: int) -> str:
    first = run.cells[i]["source"].strip().splitlines()[0][:80] if run.cells[i]["source"].strip() else ""
    return f"{run.name} cell {i} ({first!r})"


def assert_no_error_output(run: Run) -> None:
    """Every code cell ran, and no cell shows a traceback or anything on stderr."""
    errs = run.errors()
    assert not errs, "error output in the browser: " + "; ".join(
        f"{_where(run, i)}: {o['ename']}: {o['evalue'][:200]}" for i, o in errs)
    stderr = run.stderr()
    assert not stderr, "stderr output (a red box for the student): " + "; ".join(
        f"{_where(run, i)}: {t.strip()[:200]!r}" for i, t in stderr)
    missed = [c["i"] for c in run.code_cells() if c["count"] is None]
    assert not missed, f"{run.name}: Run All left cells {missed} unexecuted"


TODO_MESSAGE = re.compile(r"^TODO (\d+[a-z]?): replace this line with your code$")


def assert_stops_at_first_todo(run: Run) -> dict:
    """An untouched student copy: Run All runs every cell up to the first TODO's stub, which stops it
    with ``NotImplementedError: TODO 1: replace this line with your code``; no other error, no cell
    after it ran; the self-check just before the stop shows ``✗ not done yet: TODO 1 ...``.
    Returns {'cell': i, 'todo': '1'}."""
    errs = run.errors()
    assert errs, f"{run.name}: Run All finished without stopping at a TODO (an untouched student copy must stop at TODO 1)"
    assert len(errs) == 1, f"{run.name}: more than one error after Run All: " + "; ".join(
        f"{_where(run, i)}: {o['ename']}: {o['evalue'][:120]}" for i, o in errs)
    (i, o), = errs
    m = TODO_MESSAGE.match(o["evalue"] or "")
    assert o["ename"] == "NotImplementedError" and m and m.group(1) in ("1", "1a"), (
        f"{_where(run, i)}: Run All stopped at {o['ename']}: {o['evalue'][:200]!r}, not at the first TODO's "
        f"'TODO 1: replace this line with your code'")
    shown = [d["text"] for d in next(c for c in run.cells if c["i"] == i)["dom"] if d["visible"]]
    assert any("NotImplementedError" in t and "TODO 1" in t for t in shown), (
        f"{_where(run, i)}: the TODO error is in the notebook but the page does not show it: {shown}")
    before = [c["i"] for c in run.code_cells() if c["i"] < i and c["count"] is None]
    after = [c["i"] for c in run.code_cells() if c["i"] > i and c["count"] is not None]
    assert not before, f"{run.name}: cells {before} before the TODO stop were not run"
    assert not after, f"{run.name}: Run All went on past the error in cell {i}: cells {after} ran"
    return {"cell": i, "todo": m.group(1)}


def self_check_lines(run: Run) -> list[tuple[int, str]]:
    """Every rendered ✓/✗ line the page shows (cell, line)."""
    return [(c["i"], line) for c in run.cells for d in c["dom"] if d["visible"]
            for line in d["text"].splitlines() if line.startswith(("\u2713", "\u2717"))]


def assert_self_checks(run: Run, *, passed: bool) -> list[tuple[int, str]]:
    """The self-checks render as ✓ lines (passed=True: all ✓, none ✗) or show a ✗ line (passed=False)."""
    lines = self_check_lines(run)
    ok = [x for x in lines if x[1].startswith("\u2713")]
    bad = [x for x in lines if x[1].startswith("\u2717")]
    if passed:
        assert ok, f"{run.name}: no self-check line starting with \u2713 is shown on the page"
        assert not bad, f"{run.name}: failed self-checks shown: " + "; ".join(f"cell {i}: {t}" for i, t in bad)
    else:
        assert bad, f"{run.name}: no self-check line starting with \u2717 is shown on the page"
    return lines


def _widget_outputs(run: Run) -> list[tuple[int, dict]]:
    return [(c["i"], o) for c in run.cells for o in c["outputs"]
            if "application/vnd.jupyter.widget-view+json" in o["mimes"]]


def _widget_hint(run: Run, what: str) -> str:
    shown = [(c["i"], d["text"].strip()[:90]) for c in run.cells for d in c["dom"]
             if d["visible"] and not d["widget"] and d["mime"] in ("text/plain", "")
             and any("application/vnd.jupyter.widget-view+json" in o["mimes"] for o in c["outputs"])]
    sample = "; ".join(f"cell {i}: {t!r}" for i, t in shown[:2])
    return (f"{run.name}: no {what} widget rendered on the page: the kernel sent "
            f"{len(_widget_outputs(run))} widget output(s) (application/vnd.jupyter.widget-view+json)"
            + (f" and the page shows them as plain text ({sample})" if sample else "")
            + f". JupyterLab's widget extension ({WIDGET_EXTENSION}, pip package jupyterlab_widgets) is missing or "
              "disabled: `pip install jupyterlab_widgets`, then `jupyter labextension list` must show it enabled")


def progress_bars(run: Run) -> list[tuple[int, dict]]:
    return [(c["i"], b) for c in run.cells for d in c["dom"] for b in d["bars"]]


def assert_progress_bar(run: Run) -> list[tuple[int, dict]]:
    """Training shows a progress bar widget (not its text form), and it went live to its end: the
    kernel's updates reached the page, so the bar is full and its label reads n/n."""
    bars = progress_bars(run)
    assert bars, _widget_hint(run, "progress bar")
    done = [(i, b) for i, b in bars if re.search(r"\b(\d+)/\1\b", b["label"]) and (b["fill"] or 0) > 0.98]
    assert done, (f"{run.name}: progress bars rendered but none reached its end (n/n, full): "
                  + "; ".join(f"cell {i}: {b['label'][:80]!r} fill {b['fill']}" for i, b in bars))
    return done


def assert_slider(run: Run, cell: int) -> dict:
    """Cell `cell` shows a slider widget (not its text form)."""
    doms = [d for d in next(c for c in run.cells if c["i"] == cell)["dom"] if d["visible"]]
    sliders = [s for d in doms for s in d["sliders"]]
    assert sliders, _widget_hint(run, "slider")
    return sliders[0]


MIN_FIGURE_PX = 250   # a figure whose longest side is shorter than this on a 1280-px page is too small to read


def assert_figures(run: Run) -> list[tuple[int, dict]]:
    """Every image output of the notebook (and every image drawn inside a widget) is on the page as a
    loaded image whose longest side is at least MIN_FIGURE_PX, and there is at least one."""
    pngs = [(c["i"], o) for c in run.cells for o in c["outputs"] if "image/png" in o["mimes"]]
    shown = [(c["i"], im, d["nested"]) for c in run.cells for d in c["dom"] if d["visible"] and d["mime"] == "image/png"
             for im in d["imgs"]]
    imgs = [(i, im) for i, im, nested in shown if not nested]   # nested: drawn inside a widget (04's slider)
    assert pngs, (f"{run.name}: no figure in any output (a plt.show() that drew nothing inline? check that the kernel "
                  "does not inherit MPLBACKEND=Agg)")
    assert len(imgs) == len(pngs), f"{run.name}: {len(pngs)} image outputs but {len(imgs)} images shown on the page"
    imgs = [(i, im) for i, im, _ in shown]
    broken = [(i, im) for i, im in imgs if not im["complete"] or im["natural"][0] == 0]
    assert not broken, f"{run.name}: images that did not load: {broken}"
    small = [(i, im) for i, im in imgs if max(im["shown"]) < MIN_FIGURE_PX]
    assert not small, f"{run.name}: figures too small to read (longest side < {MIN_FIGURE_PX} px): " + "; ".join(
        f"{_where(run, i)}: {im['shown'][0]}x{im['shown'][1]} px" for i, im in small)
    return imgs


def figure_srcs(run: Run, cell: int) -> list[str]:
    """The data of the images cell `cell` shows now (the tail of each data URL)."""
    return run.lab.page.evaluate("""([k, i]) => Array.from(window.__course[k].content.widgets[i].node
        .querySelectorAll('.jp-OutputArea-output img')).filter(im => !im.closest('.lm-mod-hidden')).map(im => im.src)""",
                                 [run.key, cell])


def drag_slider_to_end(run: Run, cell: int, timeout_s: float = 120) -> tuple[list[str], list[str]]:
    """Drag the slider of cell `cell` with the mouse to its right end, as a student does, and wait
    until the figure under it is redrawn. Returns the image data before and after."""
    page = run.lab.page
    node_id = page.evaluate("([k, i]) => { const n = window.__course[k].content.widgets[i].node;"
                            " n.id = n.id || ('course-cell-' + k + '-' + i); return n.id; }", [run.key, cell])
    node = page.locator(f"#{node_id}")
    node.scroll_into_view_if_needed()
    before = figure_srcs(run, cell)
    handle = node.locator(".noUi-handle").first
    track = node.locator(".noUi-base, .noUi-target").first
    h, t = handle.bounding_box(), track.bounding_box()
    page.mouse.move(h["x"] + h["width"] / 2, h["y"] + h["height"] / 2)
    page.mouse.down()
    page.mouse.move(t["x"] + t["width"] + 20, h["y"] + h["height"] / 2, steps=8)
    page.mouse.up()
    t0 = time.monotonic()
    after = before
    while time.monotonic() - t0 < timeout_s:
        page.wait_for_timeout(250)
        after = figure_srcs(run, cell)
        if after and after != before and page.evaluate(
                "(k) => window.__course[k].sessionContext.session.kernel.status", run.key) == "idle":
            break
    run.refresh()
    return before, after
