"""What may leave the grader: hidden tests stripped from every output, student HTML made safe.

The harness puts the hidden tests back into a submission before running it (worker.py, step 3),
so a student's code can read them: `print(In)`, `_ih`, `_i12`, `Out`,
`get_ipython().history_manager`, or an exception whose message quotes them. `apply` runs on the
executed notebook after the kernel is gone and before anything is written:

* `strip_hidden`: every hidden-test line of the instructor notebook (whitespace-normalised,
  trivial lines skipped), and each whole hidden block, is replaced by `NOTE` wherever it
  appears: stream text, every text-like mime bundle entry, nested JSON, error tracebacks and
  evalues, the result's detail and messages. The patterns also match the escaped forms that
  `repr`, `pprint` and `json.dumps` produce (`\\n`, `\\'`, split string literals, `\\uXXXX`)
  and HTML entities; a text that ends inside a hidden line (cut to length) loses that end.
  A string in which a hidden line can still be found once ANSI colours, tags,
  entities, quotes, backslashes and whitespace are ignored is replaced as a whole. The hidden
  regions of the test cells' sources are emptied too (the instructor notebook keeps them).
  Not caught: an encoded dump (base64, rot13, ... of `In`); only running the hidden tests
  outside the student's kernel would close that (autograder/README.md, trust).
* `sanitize_outputs`: HTML, markdown and SVG outputs go through nh3 (Rust ammonia,
  https://nh3.readthedocs.io): no scripts, event handlers, `javascript:`/`data:` links,
  iframes, forms or `<style>`; `data:` images only as PNG/JPEG/GIF in `<img src>`.
  `application/javascript`, widget views and unknown mime types are dropped, with a note unless
  a widget has a text fallback (a tqdm bar); output
  metadata keeps only numeric width/height, `alt` and `unconfined` (nbconvert's classic
  template writes width/height unquoted into the `<img>` tag).
"""
from __future__ import annotations

import html
import re

import nh3

NOTE = "[hidden test removed]"
DROPPED = "[{mime} output removed by the grader]"
WIDGET = "application/vnd.jupyter.widget-view+json"
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
MIN_CHARS = 6  # a hidden line with fewer non-space characters (`else:`, `pass`, `)`) is not secret
MIN_PREFIX = 10  # a text that ends in the first 10+ characters of a hidden line was cut inside it

# -- hidden tests --------------------------------------------------------------------------------

# each character of a secret line may appear as itself, repr/json-escaped (any depth) or as an
# HTML entity; whitespace between tokens may be real whitespace, an escaped \n or \t, or the
# quotes of a string that pprint split in two
_CHAR = {
    "'": r"(?:\\*'|&#x0*27;|&#0*39;|&apos;)",
    '"': r'(?:\\*"|&quot;|&#x0*22;|&#0*34;)',
    "\\": r"\\+",
    "<": r"(?:<|&lt;|&#x0*3c;|&#0*60;)",
    ">": r"(?:>|&gt;|&#x0*3e;|&#0*62;)",
    "&": r"(?:&|&amp;|&#x0*26;|&#0*38;)",
}
_SEP = r"(?:\s|\\+[ntr]|\\*['\"]|&nbsp;|&#x0*20;|&#0*32;|&#x0*a;|&#0*10;)+"


def _char(c: str) -> str:
    if c in _CHAR:
        return _CHAR[c]
    if ord(c) < 128:
        return re.escape(c)
    return (f"(?:{re.escape(c)}|\\\\+u{ord(c):04x}|\\\\+U{ord(c):08x}|\\\\+x{ord(c):02x}"
            f"|&#x0*{ord(c):x};|&#0*{ord(c)};)")


def _pattern(tokens: list[str]) -> str:
    return _SEP.join("".join(_char(c) for c in tok) for tok in tokens)


def _prefix_pattern(tokens: list[str], required: int) -> str:
    """A regex for any prefix (at least `required` characters) of the line, at the end of a text."""
    units = []
    for i, tok in enumerate(tokens):
        if i:
            units.append((_SEP, False))
        units += [(_char(c), True) for c in tok]
    head, count, rest = "", 0, []
    for rx, is_char in units:
        if count < required:
            head += rx
            count += is_char
        else:
            rest.append(rx)
    tail = ""
    for rx in reversed(rest):
        tail = f"(?:{rx}{tail})?"
    return head + tail + r"\Z"


def _compact(text: str, tags: bool) -> str:
    """The text with colours, entities, escapes, quotes, whitespace (and tags) gone (for the net)."""
    text = ANSI.sub("", text)
    if tags:
        text = re.sub(r"<[^>]*>", "", text)
    text = re.sub(r"\\+[ntr]", "", html.unescape(text))
    return re.sub(r"[\s'\"\\]", "", text)


class Secrets:
    """The hidden-test lines of one instructor notebook, compiled for search and replace."""

    def __init__(self, source_nb):
        self.blocks, self.lines, self.compact = [], [], []
        for cell in source_nb.cells:
            for m in HIDDEN.finditer(cell.get("source", "")):
                lines = [ln.split() for ln in m.group(1).splitlines() if ln.strip()]
                if lines:
                    self.blocks.append(re.compile(_pattern([t for ln in lines for t in ln])))
                for toks in lines:
                    if len("".join(toks)) >= MIN_CHARS:
                        self.lines.append(" ".join(toks))
                        self.compact += [(False, _compact(" ".join(toks), False)),
                                         (True, _compact(" ".join(toks), True))]
        self.lines = sorted(set(self.lines), key=len, reverse=True)   # longest first
        self.compact = sorted(set(self.compact))
        self.line_res = [re.compile(_pattern(ln.split())) for ln in self.lines]
        # a message cut to length (the result keeps 300 characters) may end inside a hidden line
        self.prefix_res = [re.compile(_prefix_pattern(ln.split(), MIN_PREFIX)) for ln in self.lines
                           if len(ln.replace(" ", "")) > MIN_PREFIX]

    def __bool__(self):
        return bool(self.lines or self.blocks)

    def found(self, text: str) -> bool:
        c = {False: _compact(text, False), True: _compact(text, True)}
        return any(s and s in c[tags] for tags, s in self.compact)

    def _sub(self, text: str) -> str:
        for rx in [*self.blocks, *self.line_res]:
            text = rx.sub(NOTE, text)
        return text

    def _cut_tail(self, text: str) -> str:
        window = max(0, len(text) - 4000)
        for rx in self.prefix_res:
            m = rx.search(text, window)
            if m:
                text = text[:m.start()] + NOTE
        return text

    def strip(self, text: str) -> str:
        if not self or not isinstance(text, str):
            return text
        text = self._cut_tail(text)
        if not self.found(text):
            return text
        out = self._sub(text)
        if not self.found(out):
            return out
        out = self._sub(ANSI.sub("", text))   # a coloured traceback: lose the colours here
        return out if not self.found(out) else NOTE

    def strip_obj(self, obj):
        """Strip every string inside a JSON-like value (in place for dicts and lists)."""
        if isinstance(obj, str):
            return self.strip(obj)
        if isinstance(obj, list):
            for i, v in enumerate(obj):
                obj[i] = self.strip_obj(v)
        elif isinstance(obj, dict):
            for k in list(obj):
                obj[k] = self.strip_obj(obj[k])
        return obj


def strip_hidden(nb, source_nb, res: dict | None = None, secrets: Secrets | None = None):
    """Remove the hidden tests from `nb`'s outputs and hidden regions, and from `res`' text."""
    secrets = secrets or Secrets(source_nb)
    if not secrets:
        return nb
    for cell in nb.cells:
        if HIDDEN.search(cell.get("source", "")):
            cell.source = HIDDEN.sub(f"### BEGIN HIDDEN TESTS\n# {NOTE}\n### END HIDDEN TESTS", cell.source)
        for out in cell.get("outputs", []):
            for key in ("text", "traceback", "evalue", "ename"):
                if key in out:
                    out[key] = secrets.strip_obj(out[key])
            for mime in out.get("data", {}):
                value = out["data"][mime]
                if mime in BASE64_MIME and isinstance(value, str) and _B64.fullmatch(value):
                    continue                  # an image: no hidden line is spelt in base64's alphabet
                out["data"][mime] = secrets.strip_obj(value)
    if res is not None:
        for key in ("detail", "tests", "notes"):
            if key in res:
                res[key] = secrets.strip_obj(res[key])
    return nb


# -- safe HTML -----------------------------------------------------------------------------------

BASE64_MIME = ("image/png", "image/jpeg", "image/gif")
_B64 = re.compile(r"[A-Za-z0-9+/=\s]*")
SAFE_MIME = {"text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg", "image/gif",
             "image/svg+xml", "application/json"}
DATA_IMAGE = re.compile(r"data:image/(png|jpeg|jpg|gif);base64,[a-z0-9+/=\s]*$", re.I)
URL_ATTRS = {"href", "src", "cite", "longdesc", "usemap", "action", "background", "poster", "xlink:href"}
# class names kept: pygments tokens (`k`, `s1`, `err`), nbconvert's markdown and pandas' tables;
# the page's own Bootstrap/Jupyter classes could be used to overlay the page
SAFE_CLASS = re.compile(r"^(?:[a-z]{1,3}\d?|highlight|hl-[\w-]+|dataframe|anchor-link|jp-[\w-]+|mathjax[\w-]*)$")
SVG_TAGS = {"svg", "g", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "tspan",
            "defs", "clipPath", "use", "title", "desc", "linearGradient", "radialGradient", "stop", "mask",
            "pattern", "marker", "symbol"}
SVG_ATTRS = {"id", "class", "d", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "rx", "ry", "dx", "dy",
             "width", "height", "viewBox", "points", "transform", "fill", "fill-opacity", "fill-rule", "stroke",
             "stroke-width", "stroke-opacity", "stroke-linecap", "stroke-linejoin", "stroke-dasharray",
             "stroke-miterlimit", "opacity", "clip-path", "clip-rule", "mask", "marker-start", "marker-mid",
             "marker-end", "font-family", "font-size", "font-weight", "font-style", "text-anchor",
             "dominant-baseline", "offset", "stop-color", "stop-opacity", "gradientUnits",
             "gradientTransform", "patternUnits", "markerWidth", "markerHeight", "refX", "refY", "orient",
             "preserveAspectRatio", "version", "xmlns", "href", "style", "clipPathUnits", "textLength"}
_HTML_TAGS = set(nh3.ALLOWED_TAGS) | {"tfoot"}
_HTML_ATTRS = {k: set(v) for k, v in nh3.ALLOWED_ATTRIBUTES.items()}
_HTML_ATTRS["*"] = {"class", "title", "lang"}
_HTML_ATTRS["table"] = _HTML_ATTRS.get("table", set()) | {"border"}
for _h in ("h1", "h2", "h3", "h4", "h5", "h6"):
    _HTML_ATTRS[_h] = {"id"}


def _url_ok(tag: str, attr: str, value: str) -> bool:
    v = re.sub(r"[\x00-\x20]", "", html.unescape(value)).lower()
    scheme = re.match(r"^([a-z][a-z0-9+.\-]*):", v)
    if scheme is None:
        return True                                   # relative (#anchor, plain path)
    if scheme.group(1) == "data":
        return tag == "img" and attr == "src" and bool(DATA_IMAGE.match(re.sub(r"[\x00-\x20]", "", value)))
    return scheme.group(1) in ("http", "https", "mailto")


def _html_filter(tag: str, attr: str, value: str):
    if attr.lower().startswith("on"):
        return None
    if attr == "class":
        keep = [c for c in value.split() if SAFE_CLASS.match(c)]
        return " ".join(keep) or None
    if attr in URL_ATTRS and not _url_ok(tag, attr, value):
        return None
    return value


def _svg_filter(tag: str, attr: str, value: str):
    if attr.lower().startswith("on"):
        return None
    if attr == "href":                                # <use href="#glyph">: same document only
        return value if value.strip().startswith("#") else None
    if attr == "style" or "url(" in value.lower():
        if re.search(r"url\(\s*['\"]?\s*(?!#)|expression|javascript:|@import", value, re.I):
            return None
    return value


def sanitize_html(text: str) -> str:
    """HTML (an output, or a markdown cell rendered to HTML) without active content."""
    return nh3.clean(text, tags=_HTML_TAGS, attributes=_HTML_ATTRS,
                     url_schemes=set(nh3.ALLOWED_URL_SCHEMES) | {"data"}, attribute_filter=_html_filter,
                     strip_comments=True, link_rel="noopener noreferrer nofollow")


def sanitize_svg(text: str) -> str:
    """An SVG image reduced to shapes, text and same-document references."""
    body = nh3.clean(text, tags=SVG_TAGS, attributes={"*": SVG_ATTRS}, url_schemes=set(),
                     attribute_filter=_svg_filter, strip_comments=True, link_rel=None)
    if "xlink:href" in body and "xmlns:xlink" not in body:
        body = body.replace("<svg", '<svg xmlns:xlink="http://www.w3.org/1999/xlink"', 1)
    return body


def _markdown_html(text: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune
    return markdown2html_mistune(text)


def _safe_metadata(md: dict) -> dict:
    def keep(d: dict) -> dict:
        out = {}
        for k in ("width", "height"):
            v = d.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool) or (isinstance(v, str) and v.isdigit()):
                out[k] = int(float(v))
        if isinstance(d.get("alt"), str):
            out["alt"] = d["alt"]
        if isinstance(d.get("unconfined"), bool):
            out["unconfined"] = d["unconfined"]
        return out
    clean = keep(md)
    for mime, sub in md.items():
        if mime in SAFE_MIME and isinstance(sub, dict):
            clean[mime] = keep(sub)
    return clean


def sanitize_bundle(data: dict) -> dict:
    """One output's mime bundle with only inert content."""
    out, dropped = {}, []
    for mime, value in data.items():
        if mime not in SAFE_MIME:
            dropped.append(mime)
            continue
        if mime == "text/html":
            value = sanitize_html("".join(value) if isinstance(value, list) else value)
        elif mime == "text/markdown":
            # kept as rendered, cleaned HTML: raw HTML in markdown passes through any renderer
            if "text/html" not in data:
                out["text/html"] = sanitize_html(_markdown_html("".join(value) if isinstance(value, list) else value))
            continue
        elif mime == "image/svg+xml":
            value = sanitize_svg("".join(value) if isinstance(value, list) else value)
        elif mime in BASE64_MIME:
            value = re.sub(r"[^A-Za-z0-9+/=\n]", "", "".join(value) if isinstance(value, list) else value)
        out[mime] = value
    if dropped == [WIDGET] and out:
        return out                 # a widget with a fallback (a tqdm bar's text): the fallback says it
    if dropped:
        note = "; ".join(DROPPED.format(mime=m) for m in dropped)
        out["text/plain"] = (out["text/plain"] + "\n" + note) if isinstance(out.get("text/plain"), str) else note
    return out


def sanitize_outputs(nb):
    """Make every output of `nb` inert (in place; returns `nb`). Idempotent."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") in ("display_data", "execute_result"):
                out["data"] = sanitize_bundle(dict(out.get("data", {})))
                out["metadata"] = _safe_metadata(out.get("metadata") or {})
    meta = nb.get("metadata", {})
    meta.pop("widgets", None)            # widget state is rendered by widget managers, unsanitised
    return nb


def apply(nb, source_nb, res: dict | None = None):
    """The worker's one call: outputs made inert, then hidden tests stripped (nb and res)."""
    # sanitising first: it decodes entities, so a hidden line hidden behind them becomes plain
    return strip_hidden(sanitize_outputs(nb), source_nb, res)
