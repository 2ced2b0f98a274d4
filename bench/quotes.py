"""Measured figures quoted in the documents, each tied to the committed results file it comes from.

A figure that comes from a measurement lives in one results file (JSON, with date, machine and
command); a document that quotes it is listed here with a pattern that finds the quote. The test
(tests/test_quotes.py) reads every document and fails when a quote is missing or disagrees with
its file at the precision it is printed with (``99.61%`` must be within 0.005 points of the
file's value, ``2,363 s`` within 0.5 s, ``85%`` within 0.5 points), so a re-measurement cannot
leave a stale copy behind: rewrite the quotes the test names.

``python -m bench.quotes`` prints every quote with its file value.

Results files so far: ``helpers/weights/judges.json`` (the three judge classifiers, written by
``python -m helpers.judge train``) and ``bench/reference/`` (benchmark results the documents quote,
copied from ``bench/results/`` with date, host and command when a measurement is adopted:
``gate_integrity.json``, and ``notebooks.json``, whose figures reach the README through the tables
bench/tables.py generates). Add an entry to QUOTES for every new quote.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
JUDGES = "helpers/weights/judges.json"
GATE = "bench/reference/gate_integrity.json"
W06 = "walkthroughs/06_Assessment_DDPM_Walkthrough.md"


@dataclass(frozen=True)
class Quote:
    doc: str          # file, relative to the repo
    pattern: str      # regex; the named group `v` is the quoted number (commas allowed)
    source: str       # results file, relative to the repo
    key: str          # dotted path in the results file
    scale: float = 1.0  # quoted = value * scale (100 for a fraction quoted in percent)


def _judge(doc, pattern, key, scale=1.0):
    return Quote(doc, pattern, JUDGES, key, scale)


N = r"(?P<v>[\d,]+(?:\.\d+)?)"   # a quoted number
QUOTES: tuple[Quote, ...] = (
    # README: the judges' table
    _judge("README.md", r"MNIST \(assessment gate\) \|[^|]*?" + N + r" params", "mnist.params"),
    _judge("README.md", r"MNIST \(assessment gate\)[^\n]*?\*\*" + N + r"%\*\*", "mnist.test_accuracy", 100),
    _judge("README.md", r"MNIST \(assessment gate\)[^\n]*?%\*\* \(" + N + " / 10,000", "mnist.test_correct"),
    _judge("README.md", r"--dataset mnist` \(" + N + " epochs", "mnist.epochs"),
    _judge("README.md", r"--dataset mnist` \([^)]*?seed 0, " + N + " s", "mnist.train_seconds"),
    _judge("README.md", r"Fashion-MNIST \(notebook 04\)[^\n]*?\*\*" + N + r"%\*\*", "fashion.test_accuracy", 100),
    _judge("README.md", r"--dataset fashion` \(" + N + " epochs", "fashion.epochs"),
    _judge("README.md", r"--dataset fashion` \([^)]*?seed 0, " + N + " s", "fashion.train_seconds"),
    _judge("README.md", r"flowers \(notebooks 04, 05\) \|[^|]*?" + N + r" params", "flowers.params"),
    _judge("README.md", r"flowers \(notebooks 04, 05\)[^\n]*?\*\*" + N + r"%\*\*", "flowers.test_accuracy", 100),
    _judge("README.md", r"flowers \(notebooks 04, 05\)[^\n]*?%\*\* \(" + N + " / 696", "flowers.test_correct"),
    _judge("README.md", r"--dataset flowers` \(" + N + " epochs", "flowers.epochs"),
    _judge("README.md", r"--dataset flowers` \([^)]*?seed 0, " + N + " s", "flowers.train_seconds"),
    _judge("README.md", r"flower judge [^\n]*?\(real photos " + N + "%\\)", "flowers.test_accuracy", 100),
    # walkthroughs
    _judge("walkthroughs/04_Classifier_Free_Guidance_Walkthrough.md", r"--dataset fashion`, " + N + " epochs",
           "fashion.epochs"),
    _judge("walkthroughs/04_Classifier_Free_Guidance_Walkthrough.md", r"seed 0\): \*\*" + N + r"%\*\* on the 10,000",
           "fashion.test_accuracy", 100),
    _judge("walkthroughs/04_Classifier_Free_Guidance_Walkthrough.md", r"\*\*flower judge\*\* \(`helpers.judge`, " + N
           + "% on the 696", "flowers.test_accuracy", 100),
    _judge("walkthroughs/05_CLIP_Walkthrough.md", r"trained on the photos' labels, " + N + " % on the 696",
           "flowers.test_accuracy", 100),
    # answers
    _judge("answers/04_Classifier_Free_Guidance_Answers.md", r"classifier trained on real images, " + N + "% accurate",
           "fashion.test_accuracy", 100),
    _judge("answers/06_Assessment_Answers.md", r"real MNIST test digits at " + N + "% accuracy",
           "mnist.test_accuracy", 100),
    _judge("answers/06_Assessment_Answers.md", r"accuracy \(" + N + " / 10,000", "mnist.test_correct"),
    _judge("answers/06_Assessment_Answers.md", r"fashion judge itself reads " + N + "%", "fashion.test_accuracy", 100),
    # walkthrough 06: the gate's integrity checks against honest models (python -m bench.gate_integrity)
    Quote(W06, r"All " + N + " honest samples", GATE, "honest_nn_distance_all.n"),
    Quote(W06, r"honest samples: smallest " + N, GATE, "honest_nn_distance_all.min"),
    Quote(W06, r"\*\*" + N + " below 0.060", GATE, "honest_nn_distance_all.below_threshold"),
    Quote(W06, r"False refusals: " + N + " of", GATE, "false_refusals"),
    Quote(W06, r"False refusals: \d+ of " + N + " honest sample sets", GATE, "honest_sets_total"),
    Quote(W06, r"\(" + N + " of them at or above the 95% pass mark", GATE, "honest_sets_at_pass_mark"),
    Quote(W06, r"\| seed 0, 3000 steps, w = 4 \| " + N + "%", GATE, "honest_sets.2.accuracy", 100),
    Quote(W06, r"Honest models: " + N + " at the lowest", GATE, "honest_diversity_min_ratio"),
    Quote(W06, r"integrity\s+checks take \*\*" + N + r" s\*\*", GATE, "cost.integrity_cold_s"),
    Quote(W06, r"of which " + N + r" s build the features", GATE, "cost.index_build_s"),
    Quote(W06, r"and " + N + r" s once built", GATE, "cost.integrity_warm_s"),
    Quote(W06, r"plain diversity\) took " + N + " s", GATE, "cost.old_checks_cold_s"),
)


def _value(data, key: str) -> float:
    for part in key.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return float(data)


def _agrees(quoted: str, value: float) -> bool:
    """Equal at the precision the quote is printed with (half a unit of its last digit)."""
    digits = quoted.replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return abs(float(digits) - value) <= 0.5 * 10 ** -decimals + 1e-9


def check(texts: dict[str, str] | None = None, quotes=QUOTES) -> list[str]:
    """Problems, one line each ('' list when every quote is found and agrees). `texts` overrides
    the documents' contents (doc -> text), e.g. to test an edited copy."""
    texts = dict(texts or {})
    cache: dict[str, dict] = {}
    problems = []
    for q in quotes:
        if q.doc not in texts:
            texts[q.doc] = (REPO / q.doc).read_text()
        if q.source not in cache:
            cache[q.source] = json.loads((REPO / q.source).read_text())
        value = _value(cache[q.source], q.key) * q.scale
        m = re.search(q.pattern, texts[q.doc])
        if m is None:
            problems.append(f"{q.doc}: the quote of {q.source}:{q.key} is gone (pattern {q.pattern!r}); "
                            "update bench/quotes.py if the text moved")
        elif not _agrees(m.group("v"), value):
            problems.append(f"{q.doc}: quotes {m.group('v')} for {q.source}:{q.key}, the file says {value:g}")
    return problems


def main() -> int:
    cache: dict[str, dict] = {}
    for q in QUOTES:
        cache.setdefault(q.source, json.loads((REPO / q.source).read_text()))
        m = re.search(q.pattern, (REPO / q.doc).read_text())
        print(f"{q.doc:<58} {m.group('v') if m else 'MISSING':>8}  {q.source}:{q.key} = "
              f"{_value(cache[q.source], q.key) * q.scale:g}")
    problems = check()
    print("\n".join(problems) or "every quote agrees with its results file")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
