"""Measured figures quoted in the documents, each tied to the committed results file it comes from.

A figure that comes from a measurement lives in one results file (JSON, with date, machine and
command); a document that quotes it is listed here with a pattern that finds the quote. The test
(tests/test_quotes.py) reads every document and fails when a quote is missing or disagrees with
its file at the precision it is printed with (``99.61%`` must be within 0.005 points of the
file's value, ``2,363 s`` within 0.5 s, ``85%`` within 0.5 points), so a re-measurement cannot
leave a stale copy behind: rewrite the quotes the test names.

``python -m bench.quotes`` prints every quote with its file value; ``python -m bench.quotes --untied
DOC`` lists the lines of a document with a figure (a number with a unit) that no quote covers and no
generated table renders, for a reviewer to read.

Results files so far: ``helpers/weights/judges.json`` (the three judge classifiers, written by
``python -m helpers.judge train``) and ``bench/reference/`` (benchmark results the documents quote,
copied from ``bench/results/`` with date, host and command when a measurement is adopted:
``gate_integrity.json``; ``notebooks.json``, whose figures reach the README through the tables
bench/tables.py generates and the walkthroughs, answers and notebooks through the quotes below (a
number inside a run's summary text is found by the quote's ``within`` pattern); and
``text_encoder_load.json``, MiniLM's load time; ``conditioning.json`` and ``text_to_image.json``, the
benchmarks of notebooks 04 and 05, whose tables bench/tables.py renders into walkthroughs 04 and 05
and whose figures in prose are the quotes below). Add an entry to QUOTES for every new quote.

``assessment.json`` (notebook 06's benchmark) and ``flow.json`` (notebook 07's) are rendered as
tables too (README's assessment paragraph, walkthroughs 06 and 07, answers 06).

Notebooks' printed output of their 2026-12-07 full-profile runs is in notebooks.json
(``printed_2026_12_07``, ``cells_2026_12_07``, stored by ``python -m bench.adopt ID --notebook-date
2026-12-07``; a quote finds its number there with ``within``); ``install.json`` holds the README's
installed sizes and the GPU-carry folders' sizes; ``ci_rehearsal.json`` the README's test-suite times.

The other two kinds of figure the documents state are tied by tests of their own: the symptoms the
walkthroughs quote for common mistakes (what a check prints for a deliberately broken solution) by
tests/test_nb01.py .. test_nb07.py through tests/symptoms.py, and the figures marked "computed"
(closed forms, binomial tails, parameter counts) by tests/test_computed_claims.py.
"""
from __future__ import annotations

import json
import sys
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
JUDGES = "helpers/weights/judges.json"
GATE = "bench/reference/gate_integrity.json"
NOTEBOOKS = "bench/reference/notebooks.json"
MINILM = "bench/reference/text_encoder_load.json"
W01 = "walkthroughs/01_UNets_Walkthrough.md"
W02 = "walkthroughs/02_Diffusion_Models_Walkthrough.md"
W03 = "walkthroughs/03_Optimizations_Walkthrough.md"
W04 = "walkthroughs/04_Classifier_Free_Guidance_Walkthrough.md"
W05 = "walkthroughs/05_CLIP_Walkthrough.md"
W06 = "walkthroughs/06_Assessment_DDPM_Walkthrough.md"
A02 = "answers/02_Diffusion_Models_Answers.md"
A05 = "answers/05_CLIP_Answers.md"
NB02 = "autograder/source/02_diffusion_models/02_diffusion_models.ipynb"
NB04 = "autograder/source/04_classifier_free_guidance/04_classifier_free_guidance.ipynb"
NB05 = "autograder/source/05_clip/05_clip.ipynb"
A00 = "answers/00_Module_Review_Answers.md"
A04 = "answers/04_Classifier_Free_Guidance_Answers.md"
UNET = "helpers/unet.py"
COND = "bench/reference/conditioning.json"        # python -m bench.conditioning
T2I = "bench/reference/text_to_image.json"        # python -m bench.text_to_image
# notebook 04's and 05's run summaries in notebooks.json, and the patterns that find their figures
F04, F05 = "cpu.runs.04_classifier_free_guidance.produced", "cpu.runs.05_clip.produced"
FASHION0, FASHION3 = r"accuracy (?P<v>[\d.]+)% at w = 0", r"(?P<v>[\d.]+)% at w = 3 → \d+% at w = 7 while"
FASHION7 = r"(?P<v>[\d.]+)% at w = 7 while"
DIV0, DIV7 = r"falls (?P<v>[\d.]+) →", r"falls [\d.]+ → (?P<v>[\d.]+)"
FLOWER0, FLOWER3 = r"flower judge (?P<v>\d+)% at w = 0", r"(?P<v>\d+)% at w = 3 → \d+% at w = 7 \(real"
FLOWER7 = r"(?P<v>\d+)% at w = 7 \(real"
TEXT05, PRIOR05 = r"flower judge (?P<v>\d+)% from", r"\*\*(?P<v>\d+)% through"


@dataclass(frozen=True)
class Quote:
    doc: str          # file, relative to the repo
    pattern: str      # regex; the named group `v` is the quoted number (commas allowed)
    source: str       # results file, relative to the repo
    key: str          # dotted path in the results file
    scale: float = 1.0  # quoted = value * scale (100 for a fraction quoted in percent)
    within: str | None = None  # regex with a group `v`: the number inside a text value at `key`


def _judge(doc, pattern, key, scale=1.0):
    return Quote(doc, pattern, JUDGES, key, scale)


def _t2i(doc, pattern, row, w, kind="judge_by_w"):
    """A figure of bench.text_to_image: `row` of its table (0 text, 1 shift, 2-4 prior k = 1, 16, 64)
    at guidance `w`, the flower judge's share (or the notebook's CLIP's, kind="clip_by_w"), in percent."""
    return Quote(doc, pattern, T2I, f"result.rows.{row}.{kind}.{float(w)}", 100)


def _nb(doc, pattern, key, within=None, scale=1.0):
    """A figure of the full-profile notebook runs (bench/reference/notebooks.json): `key` is e.g.
    ``cpu.runs.01_unets.seconds.0``, or ``cpu.runs.01_unets.produced`` with `within` finding the
    number in that run's summary."""
    return Quote(doc, pattern, NOTEBOOKS, key, scale, within)


N = r"(?P<v>[\d,]+(?:\.\d+)?)"   # a quoted number

# ---- walkthrough 06 (docs06): the full-profile notebook runs and the gate-integrity file --------------
_R06 = "cpu.runs.06_assessment.produced"              # 2026-11-27, the faster host
_T06 = "cpu.runs.06_assessment.produced_2026_12_07"   # 2026-12-07, the slower host
_G06 = "gpu.runs.06_assessment.produced"
A06 = "answers/06_Assessment_Answers.md"
_SWEEP06 = ("0", "1", "2", "3", "5")   # the w of the notebook's sweep
_ATTACKS06 = (  # the walkthrough's row -> bench/reference/gate_integrity.json's attack
    ("training digits", "training digits"), ("test digits (passed before)", "test digits"),
    ("1 pixel flipped (passed before)", "1 pixel flipped"), ("3 pixels flipped", "3 pixels flipped"),
    ("shifted 1 pixel (passed before)", "shifted 1 pixel"), ("shifted up to 2 pixels at random", "shifted up to 2 pixels"),
    ("noise sigma 0.08 (passed before)", "noise 0.08"), ("noise sigma 0.15", "noise 0.15"),
    ("brightness 0.8x - 0.1", "brightness 0.8x - 0.1"), ("one image per class", "one image per class"),
    ("one per class, each shifted up to 1 pixel (passed before)", "one per class, shifted up to 1"),
    ("10 pixels flipped", "10 pixels flipped"),
)
_HONEST06 = ("seed 0, 1750 steps, w = 4", "seed 0, 2250 steps, w = 4", "seed 0, 3000 steps, w = 4",
             "seed 0, 3000 steps, w = 1", "seed 0, 3000 steps, w = 8", "seed 1, 1750 steps, w = 4",
             "seed 1, 2250 steps, w = 4", "seed 1, 3000 steps, w = 4", "seed 1, 3000 steps, w = 1",
             "seed 1, 3000 steps, w = 8", "seed 2, 1750 steps, w = 4", "seed 2, 2250 steps, w = 4",
             "seed 2, 3000 steps, w = 4", "seed 2, 3000 steps, w = 1", "seed 2, 3000 steps, w = 8")
_W06_QUOTES: tuple[Quote, ...] = (
    # the recipe table and TODOs 1, 3, 4, 9: what 2026-12-07's executed notebook printed
    _nb(W06, r"ConditionalUNet\(chs=\(16, 32\)\)`, " + N + " parameters", _T06, r"(?P<v>[\d,]+) parameters"),
    _nb(W06, r"the notebook prints (?P<v>[\d.]+)e-05 at t = 399", _T06, r"t=T-1 (?P<v>[\d.]+)e-05"),
    _nb(W06, r"alpha-bar " + N + r" at t = 0,", _T06, r"t=0 (?P<v>[\d.]+)"),
    _nb(W06, r"alpha-bar [\d.]+ at t = 0, " + N + r" at\s+t = 200", _T06, r"t=T/2 (?P<v>[\d.]+)"),
    _nb(W06, r"t = 200, (?P<v>[\d.]+)e-05 at t = 399\.", _T06, r"t=T-1 (?P<v>[\d.]+)e-05"),
    _nb(W06, r"the cell took " + N + r" s on 2026-12-07", _T06, r"DDPM demo (?P<v>\d+) s"),
    _nb(W06, r"seed for seed\), " + N + r" parameters", _T06, r"(?P<v>[\d,]+) parameters"),
    _nb(W06, r"`DigitUNet\(16, 32\): " + N + " parameters`", _T06, r"(?P<v>[\d,]+) parameters"),
    _nb(W06, r"\(the gate: " + N + "% on 1000 digits", _T06, r"passed, (?P<v>[\d.]+)%"),
    _nb(W06, r"gave\s+" + N + "% at w = 2 and", _T06, r"w=2 (?P<v>[\d.]+)%"),
    _nb(W06, r"% at w = 2 and " + N + "% at w = 3 and 5", _T06, r"w=3 (?P<v>[\d.]+)%"),
    _nb(W06, r"% at w = 2 and " + N + "% at w = 3 and 5", _T06, r"w=5 (?P<v>[\d.]+)%"),
    # "Measured, the notebook's full profile": 2026-12-07's run, then 2026-11-27's
    _nb(W06, r"slower one\): 3000 steps in\s+" + N + " s", _T06, r"3000 steps in (?P<v>\d+) s"),
    _nb(W06, r"394 s \(" + N + r" steps/s\), final loss", _T06, r"\((?P<v>[\d.]+) steps/s\)"),
    _nb(W06, r"steps/s\), final loss " + N + "; the sweep", _T06, r"final loss (?P<v>[\d.]+)"),
    *(_nb(W06, r"the sweep on 100 digits per w:(?:\s+w = \d\s+[\d.]+%,)*\s+w = " + w + r"\s+" + N + "%", _T06,
          r"w=" + w + r" (?P<v>[\d.]+)%") for w in _SWEEP06),
    _nb(W06, r"\*\*gate PASSED with " + N + r"% on 1000 digits\*\*\n\(95% CI", _T06, r"passed, (?P<v>[\d.]+)%"),
    _nb(W06, r"\*\*gate PASSED with [\d.]+% on 1000 digits\*\*\n\(95% CI " + N, _T06, r"CI (?P<v>[\d.]+)–"),
    _nb(W06, r"\(95% CI [\d.]+%–" + N + r"%\), per class", _T06, r"–(?P<v>[\d.]+)%;"),
    *(_nb(W06, r"\), per class " + r"(?:\d:\d+\s+)" * k + f"{k}:" + N, _T06,
          r"per class " + r"(?:\d:\d+ )" * k + f"{k}:" + r"(?P<v>\d+)") for k in range(10)),
    _nb(W06, r"near-copies\s+of MNIST digits " + N + "%", _T06, r"near-copies (?P<v>[\d.]+)%"),
    _nb(W06, r"diversity at least " + N + " of real", _T06, r"digits min (?P<v>[\d.]+)"),
    _nb(W06, r"0\.35\); the gate took " + N + " s", _T06, r"gate (?P<v>\d+) s"),
    _nb(W06, r"the whole notebook \*\*" + N + r" s\*\*, over the 6-minute", _T06, r"whole notebook (?P<v>\d+) s"),
    _nb(W06, r"3000 steps in \d+ s \(" + N + r" steps/s\), the gate", "cpu.hosts", r"at (?P<v>[\d.]+) steps/s in the notebook"),
    _nb(W06, r"3000 steps in " + N + r" s \(15", _R06, r"3000 steps in (?P<v>\d+) s"),
    _nb(W06, r"steps/s\), the gate took " + N + " s, the whole notebook", _R06, r"gate (?P<v>\d+) s"),
    _nb(W06, r"the whole notebook \*\*" + N + r" s\*\*\.", "cpu.runs.06_assessment.seconds.0"),
    # the integrity section's cost line: the gate's time on both hosts
    _nb(W06, r"a gate that took " + N + r" s \(2026-11-27's host\)", _R06, r"gate (?P<v>\d+) s"),
    _nb(W06, r"s \(2026-11-27's host\) to " + N + r" s \(2026-12-07's\)", _T06, r"gate (?P<v>\d+) s"),
    # "Timings": the table of cells
    _nb(W06, r"\| setup, data, checks of TODOs 1–8 \|[^|\n]*\| " + N + " s", _T06, r"checks of TODOs 1-8 (?P<v>\d+) s"),
    _nb(W06, r"\| training \| 3000 steps[^|\n]*\| \*\*" + N + r" s\*\* \(", _T06, r"3000 steps in (?P<v>\d+) s"),
    _nb(W06, r"\| training \| 3000 steps[^|\n]*\| \*\*\d+ s\*\* \(" + N + r" steps/s\)", _T06, r"\((?P<v>[\d.]+) steps/s\)"),
    _nb(W06, r"\| training \| 3000 steps[^|\n]*\|[^|\n]*\| \*\*" + N + r" s\*\*", _R06, r"3000 steps in (?P<v>\d+) s"),
    _nb(W06, r"\| training \| 3000 steps[^|\n]*\|[^|\n]*\| \*\*\d+ s\*\* \(" + N + " steps/s", "cpu.hosts",
        r"at (?P<v>[\d.]+) steps/s in the notebook"),
    _nb(W06, r"\| DDPM demo \|[^|\n]*\| " + N + " s", _T06, r"DDPM demo (?P<v>\d+) s"),
    _nb(W06, r"\| guidance sweep \|[^|\n]*\| " + N + " s", _T06, r"digits per w \((?P<v>\d+) s\)"),
    _nb(W06, r"\| grid \|[^|\n]*\| " + N + " s", _T06, r"grid (?P<v>\d+) s"),
    _nb(W06, r"\| export \|[^|\n]*\| " + N + " s", _T06, r"export (?P<v>\d+) s"),
    _nb(W06, r"\| gate \| 1000 digits[^|\n]*\| \*\*" + N + r" s\*\* \|", _T06, r"gate (?P<v>\d+) s"),
    _nb(W06, r"\| gate \| 1000 digits[^|\n]*\|[^|\n]*\| \*\*" + N + r" s\*\* \|", _R06, r"gate (?P<v>\d+) s"),
    _nb(W06, r"\*\*whole notebook\*\* \| \| \*\*" + N + r" s \(8 min", _T06, r"whole notebook (?P<v>\d+) s"),
    _nb(W06, r"\*\*whole notebook\*\* \| \| \*\*\d+ s \(8 min 11 s\)\*\*: gate passed, " + N + "%", _T06,
        r"passed, (?P<v>[\d.]+)%"),
    _nb(W06, r"\*\*whole notebook\*\*[^\n]*\| \*\*" + N + r" s \(4 min 6 s\)", "cpu.runs.06_assessment.seconds.0"),
    _nb(W06, r"\(4 min 6 s\)\*\*: gate passed, " + N + "%", _R06, r"passed, (?P<v>[\d.]+)%"),
    # the GPU: the targets line, the table, the overhead derived from it
    _nb(W06, r"\"On a GPU\" below: " + N + "–", "gpu.runs.06_assessment.seconds.0"),
    _nb(W06, r"\"On a GPU\" below: \d+–" + N + " s measured with 1500 steps", "gpu.runs.06_assessment.seconds.1"),
    _nb(W06, r"\| 1500 steps × 512, two runs \| " + N + " s, then", "gpu.runs.06_assessment.seconds.1"),
    _nb(W06, r"\| 1500 steps × 512, two runs \| \d+ s, then " + N + " s", "gpu.runs.06_assessment.seconds.0"),
    _nb(W06, r"two runs \| \d+ s, then \d+ s \| " + N + "–", _G06, r"training (?P<v>\d+)–"),
    _nb(W06, r"two runs \| \d+ s, then \d+ s \| \d+–" + N + " s", _G06, r"training \d+–(?P<v>\d+) s"),
    _nb(W06, r"two runs \| \d+ s, then \d+ s \| \d+–\d+ s \(" + N + " steps/s", _G06, r"\((?P<v>\d+) steps/s\)"),
    _nb(W06, r"\| w = 0 " + N + r"–\d+%, w = 1", _G06, r"w = 0 (?P<v>\d+)–"),
    _nb(W06, r"\| w = 0 \d+–" + N + r"%, w = 1", _G06, r"w = 0 \d+–(?P<v>\d+)%"),
    _nb(W06, r"–\d+%, w = 1 " + N + r"%, w ≥ 2", _G06, r"w = 1 (?P<v>\d+)%"),
    _nb(W06, r"w = 1 \d+%, w ≥ 2 ≥ " + N + "%", _G06, r"w ≥ 2 ≥ (?P<v>[\d.]+)%"),
    _nb(W06, r"≥ [\d.]+% \| \*\*" + N + r"%\*\* on 1000 digits", _G06, r"passed, (?P<v>[\d.]+)%"),
    _nb(W06, r"sampled on the GPU in " + N + " s", _G06, r"GPU in (?P<v>\d+) s"),
    _nb(W06, r"\(the whole notebook's\s+" + N + "–", "gpu.runs.06_assessment.seconds.0"),
    _nb(W06, r"\(the whole notebook's\s+\d+–" + N + " s", "gpu.runs.06_assessment.seconds.1"),
    _nb(W06, r"minus training's " + N + "–", _G06, r"training (?P<v>\d+)–"),
    _nb(W06, r"minus training's \d+–" + N + " s", _G06, r"training \d+–(?P<v>\d+) s"),
    _nb(W06, r"\(w = 0 " + N + r"% vs \d+% in the sweep", _G06, r"w = 0 (?P<v>\d+)–"),
    _nb(W06, r"\(w = 0 \d+% vs " + N + "% in the sweep", _G06, r"w = 0 \d+–(?P<v>\d+)%"),
    # the debugging guide's healthy final loss
    _nb(W06, r"\(final loss " + N + " after 3000 steps in 2026-12-07", _T06, r"final loss (?P<v>[\d.]+)"),
    # the integrity section: calibration on real digits, collapse, the hand-ins of the issue, the honest models
    Quote(W06, r"training #58238, d = " + N, GATE, "real_held_apart.test_to_train.pairs_below.0.2"),
    Quote(W06, r"test #" + N + " and training", GATE, "real_held_apart.test_to_train.pairs_below.0.0"),
    Quote(W06, r"and training #" + N, GATE, "real_held_apart.test_to_train.pairs_below.0.1"),
    *(Quote(W06, r"quantiles are " + r"[\d.]+ / " * i + N, GATE, f"real_held_apart.test_to_train.{q}")
      for i, q in enumerate(("q0.01%", "q0.1%", "q1%", "q5%"))),
    Quote(W06, r"quantiles are [^,]*, the median " + N, GATE, "real_held_apart.test_to_train.median"),
    Quote(W06, r"\(" + N + " for\n  ones to", GATE, "real_class_diversity.1"),
    Quote(W06, r"ones to " + N + " for twos", GATE, "real_class_diversity.2"),
    Quote(W06, r"ones up to " + N + r" \(seed 1 after 1750 steps\)", GATE, "honest_sets.5.diversity_ratios.1"),
    Quote(W06, r"one\n  digit per class scores " + N, GATE, "attacks.one image per class.diversity_min_ratio"),
    *(q for row, key in _ATTACKS06 for q in (
        Quote(W06, r"\| " + re.escape(row) + r" \| " + N + "%", GATE, f"attacks.{key}.near_copy_fraction", 100),
        Quote(W06, r"\| " + re.escape(row) + r" \| [^|\n]*\| " + N + r" \|", GATE, f"attacks.{key}.diversity_min_ratio"))),
    Quote(W06, r"FAILED only on accuracy \(" + N + r"%\)", GATE, "attacks.10 pixels flipped.accuracy", 100),
    *(q for i, row in enumerate(_HONEST06) for q in (
        Quote(W06, r"\| " + row + r" \| " + N + "%", GATE, f"honest_sets.{i}.accuracy", 100),
        Quote(W06, r"\| " + row + r" \| [^|\n]*\| " + N + " /", GATE, f"honest_sets.{i}.nn_distance.min"),
        Quote(W06, r"\| " + row + r" \| [^|\n]*\| [\d.]+ / " + N + " /", GATE, f"honest_sets.{i}.nn_distance.q1%"),
        Quote(W06, r"\| " + row + r" \| [^|\n]*\| [\d.]+ / [\d.]+ / " + N + r" \|", GATE, f"honest_sets.{i}.nn_distance.median"),
        Quote(W06, r"\| " + row + r" \| (?:[^|\n]*\| ){2}" + N + r"% \|", GATE, f"honest_sets.{i}.near_copy_fraction", 100),
        Quote(W06, r"\| " + row + r" \| (?:[^|\n]*\| ){3}" + N + r" \|", GATE, f"honest_sets.{i}.diversity_min_ratio"))),
    Quote(W06, r"smallest [\d.]+, 0\.1% quantile " + N, GATE, "honest_nn_distance_all.q0.1%"),
    Quote(W06, r"0\.1% quantile [\d.]+, 1% " + N, GATE, "honest_nn_distance_all.q1%"),
    # answers 06 (outside question 2): the notebook run of 2026-12-07
    _nb(A06, r"passes the gate with " + N + "% on 1000 digits, 95% CI", _T06, r"passed, (?P<v>[\d.]+)%"),
    _nb(A06, r"on 1000 digits, 95% CI " + N + "–", _T06, r"CI (?P<v>[\d.]+)–"),
    _nb(A06, r"on 1000 digits, 95% CI [\d.]+–" + N + "%", _T06, r"–(?P<v>[\d.]+)%;"),
    _nb(A06, r"two times in three \(" + N + r"%\s+in the notebook's own sweep", _T06, r"w=0 (?P<v>[\d.]+)%"),
    _nb(A06, r"final loss \(" + N + r" after\s+3000 steps in 2026-12-07", _T06, r"final loss (?P<v>[\d.]+)"),
)
# ---- end of walkthrough 06's block ---------------------------------------------------------------------------------
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
    # the full-profile notebook runs (bench/reference/notebooks.json; README's time tables are rendered
    # from it by bench/tables.py, these are the walkthroughs' and answers' copies)
    _nb("README.md", r"1500 steps of 512 \(" + N + r" s and \d+ s,", "gpu.runs.06_assessment.seconds.0"),
    _nb("README.md", r"1500 steps of 512 \(\d+ s and " + N + r" s,", "gpu.runs.06_assessment.seconds.1"),
    _nb(W01, r"\*\*" + N + r" s for the whole notebook\*\*, 4000 steps", "gpu.runs.01_unets.seconds.0"),
    _nb(W01, r"4000 steps \(512 000 images\) in " + N + " s", "gpu.runs.01_unets.produced", r"in (?P<v>\d+) s"),
    _nb(W01, r"\*\*" + N + r" s for the whole notebook\*\*, of which", "cpu.runs.01_unets.seconds.0"),
    _nb(W01, r"of which " + N + r" s\s+are training", "cpu.runs.01_unets.produced", r"in (?P<v>\d+) s"),
    _nb(W01, r"loss \(mean of the last 10%\) \*\*" + N, "cpu.runs.01_unets.produced", r"final loss (?P<v>[\d.]+)"),
    _nb(W02, r"whole notebook " + N + " s, training", "gpu.runs.02_diffusion_models.seconds.0"),
    _nb(W02, r"whole notebook \d+ s, training " + N + " s", "gpu.runs.02_diffusion_models.produced",
        r"in (?P<v>\d+) s"),
    _nb(W02, r"training \d+ s at " + N + " steps/s", "gpu.runs.02_diffusion_models.produced",
        r"\((?P<v>\d+) steps/s"),
    _nb(W02, r"steps/s, final loss " + N + ", 64 DDPM", "gpu.runs.02_diffusion_models.produced",
        r"loss (?P<v>[\d.]+);"),
    _nb(W02, r"64 DDPM\s+samples in " + N + " s", "gpu.runs.02_diffusion_models.produced",
        r"\) in (?P<v>[\d.]+) s"),
    _nb(W02, r"mean pixel −" + N + r" vs −[\d.]+ stale", "gpu.runs.02_diffusion_models.produced",
        r"mean pixel −(?P<v>[\d.]+)"),
    _nb(W02, r"mean pixel −[\d.]+ vs −" + N + " stale", "gpu.runs.02_diffusion_models.produced",
        r"vs −(?P<v>[\d.]+) with stale"),
    _nb(W02, r"recomputed from 100 batches in " + N + " s", "cpu.runs.02_diffusion_models.produced",
        r"\((?P<v>[\d.]+) s:"),
    _nb(W02, r"It costs " + N + " s and lowers", "cpu.runs.02_diffusion_models.produced", r"\((?P<v>[\d.]+) s:"),
    _nb(W02, r"\(mean pixel value −" + N, "cpu.runs.02_diffusion_models.produced", r"vs −(?P<v>[\d.]+) stale"),
    _nb(W02, r"real images −" + N, "cpu.runs.02_diffusion_models.produced", r"real −(?P<v>[\d.]+)"),
    _nb(W02, r"brighter garments \(−" + N, "cpu.runs.02_diffusion_models.produced", r"pixel −(?P<v>[\d.]+)"),
    _nb(W02, r"100 batches \| " + N + " s", "cpu.runs.02_diffusion_models.produced", r"\((?P<v>[\d.]+) s:"),
    _nb(W02, r"\*\*whole notebook\*\* \| \*\*" + N + " s", "cpu.runs.02_diffusion_models.seconds.0"),
    _nb(A02, r"training took \d+% of the notebook's " + N + " s", "cpu.runs.02_diffusion_models.seconds.0"),
    _nb(A02, r"forward plus backward: " + N + " s", "cpu.runs.02_diffusion_models.produced", r"in (?P<v>\d+) s"),
    _nb(W03, r"\*\*" + N + r" s for\s+the whole notebook\*\*", "gpu.runs.03_optimizations.seconds.0"),
    _nb(W03, r"10,000 steps in " + N + " s", "gpu.runs.03_optimizations.produced", r"steps in (?P<v>\d+) s"),
    _nb(W03, r"DDPM 1000 network\s+calls " + N + " s", "gpu.runs.03_optimizations.produced",
        r"vs (?P<v>[\d.]+) s\)"),   # the file: "(0.09 s vs 3.80 s)", DDIM first
    _nb(W03, r"DDIM 25 calls " + N + " s", "gpu.runs.03_optimizations.produced", r"\((?P<v>[\d.]+) s vs"),
    _nb(W03, r"DDIM 25 calls [\d.]+ s, \*\*" + N + "×", "gpu.runs.03_optimizations.produced",
        r"\*\*(?P<v>[\d.]+)×"),
    _nb(W03, r"whole notebook, top to bottom \| \*\*" + N + " s", "cpu.runs.03_optimizations.seconds.0"),
    _nb(W03, r"speed-up " + N + "×", "cpu.runs.03_optimizations.produced", r"\*\*(?P<v>[\d.]+)× faster"),
    _nb(W04, r"whole notebook \*\*" + N + " s", "cpu.runs.04_classifier_free_guidance.seconds.0"),
    _nb(W04, r"1500 steps of 128 in " + N + " s", "cpu.runs.04_classifier_free_guidance.produced",
        r"1500 steps in (?P<v>\d+) s"),
    _nb(W04, r"180 s cap at step " + N, "cpu.runs.04_classifier_free_guidance.produced", r"(?P<v>\d+) steps in its"),
    _nb(W04, r"accuracy climbs from " + N + " at w = 0", "cpu.runs.04_classifier_free_guidance.produced",
        r"accuracy (?P<v>[\d.]+)% at w = 0", 0.01),
    _nb(W04, r"to " + N + " at w = 3, then flattens", "cpu.runs.04_classifier_free_guidance.produced",
        r"(?P<v>[\d.]+)% at w = 3 → \d+% at w = 7 while", 0.01),
    _nb(W04, r"then flattens\s+\(" + N + " at", "cpu.runs.04_classifier_free_guidance.produced",
        r"(?P<v>[\d.]+)% at w = 7 while", 0.01),
    _nb(W04, r"diversity falls by a third\s+\(" + N, "cpu.runs.04_classifier_free_guidance.produced",
        r"falls (?P<v>[\d.]+) →"),
    _nb(W04, r"diversity falls by a third\s+\([\d.]+ → " + N, "cpu.runs.04_classifier_free_guidance.produced",
        r"falls [\d.]+ → (?P<v>[\d.]+)"),
    _nb(W04, r"measured " + N + " at w = 3 with the sweep's seed 0", "cpu.runs.04_classifier_free_guidance.produced",
        r"(?P<v>[\d.]+)% at w = 3 → \d+% at w = 7 while", 0.01),
    _nb(W04, r"full-profile run above \(" + N + " steps; 20 samples", "cpu.runs.04_classifier_free_guidance.produced",
        r"(?P<v>\d+) steps in its"),
    _nb(W04, r"\| flower judge accuracy \| " + N, "cpu.runs.04_classifier_free_guidance.produced",
        r"flower judge (?P<v>\d+)% at w = 0", 0.01),
    _nb(W04, r"\| flower judge accuracy \| [\d.]+ \| \*\*" + N, "cpu.runs.04_classifier_free_guidance.produced",
        r"(?P<v>\d+)% at w = 3 → \d+% at w = 7 \(real", 0.01),
    _nb(W04, r"\| flower judge accuracy \| [\d.]+ \| \*\*[\d.]+\*\* \| " + N,
        "cpu.runs.04_classifier_free_guidance.produced", r"(?P<v>\d+)% at w = 7 \(real", 0.01),
    _judge(W04, r"real test images: " + N + r", the\s+judge's test accuracy", "fashion.test_accuracy"),
    _judge(W04, r"\| flower judge accuracy \|[^\n]*\| " + N + r" \|\n", "flowers.test_accuracy"),
    _nb(W04, r"Guidance does most of the work: " + N, F04, FLOWER0, 0.01),
    _nb(W04, r"Guidance does most of the work: [\d.]+ → " + N, F04, FLOWER3, 0.01),
    _nb(W04, r"where Fashion-MNIST went " + N, F04, FASHION0, 0.01),
    _nb(W04, r"where Fashion-MNIST went [\d.]+ →\s+" + N, F04, FASHION3, 0.01),
    _nb(W04, r"more often than real photos\*\* \(" + N, F04, FLOWER7, 0.01),
    _judge(W04, r"more often than real photos\*\* \([\d.]+ vs " + N, "flowers.test_accuracy"),
    _nb(W05, r"\*\*zero-shot accuracy, 696 held-out photos[^|]*\| \*\*" + N, "cpu.runs.05_clip.produced",
        r"zero-shot (?P<v>[\d.]+)%"),
    _nb(W05, r"all 1,500 steps of 64 in \*\*" + N + " s", "cpu.runs.05_clip.produced", r"1500 steps in (?P<v>\d+) s"),
    _nb(W05, r"text\*\* embedding \(10 images each, w = 6\) \| flower judge \*\*" + N,
        "cpu.runs.05_clip.produced", r"flower judge (?P<v>\d+)% from"),
    _nb(W05, r"retrieval prior\*\* \(k = 16\) \| flower judge \*\*" + N, "cpu.runs.05_clip.produced",
        r"\*\*(?P<v>\d+)% through"),
    _nb(W05, r"\| whole notebook \| \*\*" + N + " s", "cpu.runs.05_clip.seconds.0"),
    _nb(W05, r"finds the asked flower in " + N + " %", "cpu.runs.05_clip.produced", r"flower judge (?P<v>\d+)% from"),
    _nb(W05, r"pale yellow-green dandelions: " + N + " % right",
        "cpu.runs.05_clip.produced", r"\*\*(?P<v>\d+)% through"),
    _nb(W05, r"Full profile on a CPU:\*\* " + N + " s measured", "cpu.runs.05_clip.seconds.0"),
    _nb(W05, r"`CLIP_SECONDS = 150`, " + N + " s used", "cpu.runs.05_clip.produced", r"600 steps in (?P<v>\d+) s"),
    _nb(W05, r"`DIFF_SECONDS = 360`, " + N + " s used", "cpu.runs.05_clip.produced", r"1500 steps in (?P<v>\d+) s"),
    Quote(W05, r"took " + N + r"–[\d.]+ s on a shared", MINILM, "load_text_encoder_s.min"),
    Quote(W05, r"took [\d.]+–" + N + r" s on a shared", MINILM, "load_text_encoder_s.max"),
    *_W06_QUOTES,   # walkthrough 06: the notebook runs and the gate-integrity file (the block above)
    _nb(A05, r"judged the asked flower " + N + "% of the time", "cpu.runs.05_clip.produced",
        r"flower judge (?P<v>\d+)% from"),
    _nb(A05, r"same U-Net, noise and w give " + N + "%", "cpu.runs.05_clip.produced", r"\*\*(?P<v>\d+)% through"),
    # the notebooks' own markdown (instructor sources; the student copies are generated from them)
    _nb(NB02, r"measured: " + N + " s in all on an idle", "cpu.runs.02_diffusion_models.seconds.0"),
    _nb(NB04, r"measured: " + N + " s;", "cpu.runs.04_classifier_free_guidance.seconds.0"),
    _nb(NB05, r"measured: " + N + " s;", "cpu.runs.05_clip.seconds.0"),
    _judge(NB04, r"classifier with " + N + "% test accuracy on real Fashion-MNIST", "fashion.test_accuracy", 100),
    _judge(NB04, r"\(the flower judge: " + N + "%", "flowers.test_accuracy", 100),
    _judge(NB05, N + "% right on held-out photos", "flowers.test_accuracy", 100),
    # bench.conditioning (bench/reference/conditioning.json): row 0 is the two-level design, row 1 ConditionalUNet
    Quote(NB04, r"two-level model drew the right digit " + N + "%", COND, "result.rows.0.accuracy_by_w.0.0", 100),
    Quote(NB04, r"two-level model drew the right digit [\d.]+% / " + N + "%", COND, "result.rows.0.accuracy_by_w.1.0", 100),
    Quote(NB04, r"two-level model drew the right digit [\d.]+% / [\d.]+% / " + N + "%", COND,
          "result.rows.0.accuracy_by_w.3.0", 100),
    Quote(NB04, r"every-level model \*\*" + N + "%", COND, "result.rows.1.accuracy_by_w.0.0", 100),
    Quote(NB04, r"every-level model \*\*[\d.]+% / " + N + "%", COND, "result.rows.1.accuracy_by_w.1.0", 100),
    Quote(NB04, r"every-level model \*\*[\d.]+% / [\d.]+% / " + N + "%", COND, "result.rows.1.accuracy_by_w.3.0", 100),
    Quote(UNET, r"rose from " + N + " / ", COND, "result.rows.0.accuracy_by_w.0.0", 100),
    Quote(UNET, r"rose from [\d.]+ / " + N + " / ", COND, "result.rows.0.accuracy_by_w.1.0", 100),
    Quote(UNET, r"rose from [\d.]+ / [\d.]+ / " + N + "%", COND, "result.rows.0.accuracy_by_w.3.0", 100),
    Quote(UNET, r"% to " + N + " / ", COND, "result.rows.1.accuracy_by_w.0.0", 100),
    Quote(UNET, r"% to [\d.]+ / " + N + " / ", COND, "result.rows.1.accuracy_by_w.1.0", 100),
    Quote(UNET, r"% to [\d.]+ / [\d.]+ / " + N + "%", COND, "result.rows.1.accuracy_by_w.3.0", 100),
    Quote(A00, r"drew the asked digit " + N + "% of the time at w = 3", COND, "result.rows.0.accuracy_by_w.3.0", 100),
    Quote(A00, r"at every level,\s+" + N + r"% \(`python -m bench.conditioning", COND, "result.rows.1.accuracy_by_w.3.0", 100),
    Quote(W04, r"more often at every w, from " + N + "% to", COND, "result.rows.0.accuracy_by_w.3.0", 100),
    Quote(W04, r"more often at every w, from [\d.]+% to\s+" + N + "% at w = 3", COND, "result.rows.1.accuracy_by_w.3.0", 100),
    # notebook 04's run summary (notebooks.json) in notebook 04's flower cell and answers 04
    _nb(NB04, r"accuracy " + N + r" at \$w = 0\$ \(chance 0.20\)", F04, FLOWER0, 0.01),
    _nb(NB04, r"\*\*" + N + r" at \$w = 3\$\*\*", F04, FLOWER3, 0.01),
    _nb(NB04, r"\*\*[\d.]+ at \$w = 3\$\*\*, " + N + r" at \$w = 7\$", F04, FLOWER7, 0.01),
    _judge(NB04, r"more often than real photos are\* \(" + N, "flowers.test_accuracy"),
    _nb(A04, r"accuracy\s+went from " + N + r" at \$w = 0\$", F04, FASHION0, 0.01),
    _nb(A04, r"went from [\d.]+ at \$w = 0\$ to " + N + r" at \$w = 3\$", F04, FASHION3, 0.01),
    _nb(A04, r"then\s+" + N + r" → [\d.]+ from \$w = 3\$", F04, FASHION3, 0.01),
    _nb(A04, r"then\s+[\d.]+ → " + N + r" from \$w = 3\$", F04, FASHION7, 0.01),
    _nb(A04, r"diversity kept\s+falling \(" + N, F04, DIV0),
    _nb(A04, r"diversity kept\s+falling \([\d.]+ at \$w = 0\$, " + N, F04, DIV7),
    _nb(A04, r"judged right " + N + r"% of the time at \$w = 7\$", F04, FLOWER7),
    _judge(A04, r"\*real\*\s+photos \(" + N + "%", "flowers.test_accuracy", 100),
    _nb(A04, N + r"% right at \$w = 0\$ \(chance 20%\)", F04, FLOWER0),
    _nb(A04, r"but " + N + r"% at \$w = 3\$ and", F04, FLOWER3),
    _nb(A04, r"% at \$w = 3\$ and\s+" + N + r"% at \$w = 7\$", F04, FLOWER7),
    _nb(A04, r"against " + N + "% → [\d.]+% for Fashion-MNIST", F04, FASHION0),
    _nb(A04, r"against [\d.]+% → " + N + "% for Fashion-MNIST", F04, FASHION3),
    # notebook 05's run summary in notebook 05's opening cell and answers 00
    _nb(NB05, r"judged " + N + r" % of them right with the prior", F05, PRIOR05),
    _nb(NB05, r"right with the prior,[^%]*?" + N + r" % without it", F05, TEXT05),
    _nb(A00, r"drew the asked\s+flower " + N + "% of the time", F05, TEXT05),
    _nb(A00, N + r"% once a\s+retrieval prior", F05, PRIOR05),
    # bench.text_to_image (bench/reference/text_to_image.json): rows text, shift, prior k=1, k=16, k=64
    _t2i(W05, r"claims far more than the independent judge sees\s+\(" + N, 0, 6, "clip_by_w"),
    _t2i(W05, r"claims far more than the independent judge sees\s+\([\d.]+ % vs " + N, 0, 6),
    _t2i(W05, r"the judge is right for\s+" + N + r" % at\s+w = 6", 0, 6),
    _t2i(W05, r"\(chance 20 %, " + N + r" % at w = 0: guidance", 0, 0),
    _t2i(W05, r"while the retrieval prior\s+reaches " + N, 3, 6),
    _t2i(W05, r"recovers nearly all of\s+the prior's gain \(" + N, 1, 6),
    _t2i(W05, r"between 1 and 64 \(" + N, 2, 6),
    _t2i(W05, r"between 1 and 64 \([\d.]+\s*/\s*" + N, 3, 6),
    _t2i(W05, r"between 1 and 64 \([\d.]+\s*/\s*[\d.]+\s*/\s*" + N, 4, 6),
    _t2i(A05, r"and " + N + r"% against the judge's", 0, 6, "clip_by_w"),
    _t2i(A05, r"against the judge's " + N + "% at w = 6", 0, 6),
    _t2i(A05, r"row: " + N + "% →", 0, 6),
    _t2i(A05, r"row: [\d.]+% → " + N + "% at w = 6", 3, 6),
    _t2i(A05, r"at w = 6, " + N + r"% → [\d.]+% at w = 3", 0, 3),
    _t2i(A05, r"at w = 6, [\d.]+% → " + N + "% at w = 3", 3, 3),
    _t2i(A05, r"difference gives " + N + "% at w = 6", 1, 6),
    _t2i(NB05, r"with the text embedding " + N + " / ", 0, 1),
    _t2i(NB05, r"with the text embedding [\d.]+ / " + N + " / ", 0, 3),
    _t2i(NB05, r"with the text embedding [\d.]+ / [\d.]+ / " + N + " % right", 0, 6),
    _t2i(NB05, r"retrieval prior \(k = 16\) " + N + " / ", 3, 1),
    _t2i(NB05, r"retrieval prior \(k = 16\) [\d.]+ / " + N + " / ", 3, 3),
    _t2i(NB05, r"retrieval prior \(k = 16\) [\d.]+ / [\d.]+ / \*\*" + N + " %", 3, 6),
    _t2i(NB05, r"\(Liang et al. 2022\), gives[^\d]*?" + N + " / ", 1, 1),
    _t2i(NB05, r"\(Liang et al. 2022\), gives[^\d]*?[\d.]+ / " + N + " / ", 1, 3),
    _t2i(NB05, r"\(Liang et al. 2022\), gives[^\d]*?[\d.]+ / [\d.]+ / " + N + " %", 1, 6),
)


# walkthrough 07: the notebook's full-profile run (notebooks.json) and bench.flow (flow.json, rendered table)
W07 = "walkthroughs/07_Flow_Matching_Walkthrough.md"
_R07 = "cpu.runs.07_flow_matching.produced"
QUOTES += (
    _nb(W07, r"the whole notebook took\s+\*\*" + N + r" s\*\*", "cpu.runs.07_flow_matching.seconds.0"),
    _nb(W07, r"Both models trained " + N + " steps", _R07, r"(?P<v>\d+) steps each"),
    _nb(W07, r"\(" + N + r" s and \d+ s of wall time", _R07, r"in (?P<v>\d+) s and"),
    _nb(W07, r"\(\d+ s and " + N + r" s of wall time", _R07, r"s and (?P<v>\d+) s, final"),
    _nb(W07, r"final losses " + N + r" \(velocity\)", _R07, r"final losses (?P<v>[\d.]+) and"),
    _nb(W07, r"\(velocity\) and " + N + r" \(noise\)", _R07, r"and (?P<v>[\d.]+); the gate"),
    _nb(W07, r"Euler at NFE 4 passed with " + N + r"%\*\*", _R07, r"NFE 4 \*\*passed, (?P<v>[\d.]+)%"),
    _nb(W07, r"Heun at NFE 5\s+passed with " + N + "%", _R07, r"NFE 5 passed, (?P<v>[\d.]+)%"),
    _nb(W07, r"DDIM at NFE 8 failed with " + N + "%", _R07, r"NFE 8 failed, (?P<v>[\d.]+)%"),
    _nb(W07, r"DDPM model at most\s+" + N + "%", _R07, r"DDPM at most (?P<v>\d+)%"),
    _nb(W07, r"Straightness over 10 digits: " + N, _R07, r"straightness (?P<v>[\d.]+) \(flow"),
    _nb(W07, r"against " + N + r" for the DDPM model's DDIM path", _R07, r"vs (?P<v>[\d.]+) \(DDPM"),
    _nb(W07, r"\(" + N + r" in the rescaled y", _R07, r"; (?P<v>[\d.]+) in y"),
    _nb(W07, r"100% with Euler from NFE " + N, _R07, r"100% from NFE (?P<v>\d+)"),
)
A07, A00 = "answers/07_Flow_Matching_Answers.md", "answers/00_Module_Review_Answers.md"
FLOW = "bench/reference/flow.json"
QUOTES += (
    _nb(A07, r"distance " + N + r" for the flow model with Euler", _R07, r"straightness (?P<v>[\d.]+) \(flow"),
    _nb(A07, N + r" in x_t\), and in the straightened", _R07, r"vs (?P<v>[\d.]+) \(DDPM"),
    _nb(A07, r"the turning of the average: " + N, _R07, r"; (?P<v>[\d.]+) in y"),
    _nb(A07, r"gate with " + N + r"% at 4 Euler evaluations", _R07, r"NFE 4 \*\*passed, (?P<v>[\d.]+)%"),
    _nb(A07, r"at 8 DDIM evaluations \(" + N + r"%\)", _R07, r"NFE 8 failed, (?P<v>[\d.]+)%"),
    _nb(A07, r"straightness " + N + r" in y against", _R07, r"; (?P<v>[\d.]+) in y"),
    _nb(A07, r"against the flow model's " + N, _R07, r"straightness (?P<v>[\d.]+) \(flow"),
    _nb(A07, r"100% with Euler from NFE " + N, _R07, r"100% from NFE (?P<v>\d+)"),
    _nb(A07, r"the DDPM model at most " + N + "%", _R07, r"DDPM at most (?P<v>\d+)%"),
    _nb(A07, r"Heun at NFE 5\s+\(" + N + r"%\)", _R07, r"NFE 5 passed, (?P<v>[\d.]+)%"),
    _nb(A07, r"loss ended at " + N + r" and the DDPM", _R07, r"final losses (?P<v>[\d.]+) and"),
    _nb(A07, r"DDPM model's at " + N + r" \(the notebook", _R07, r"and (?P<v>[\d.]+); the gate"),
    Quote(A07, r"reached only " + N + "% at NFE 4", FLOW, "runs.0.rows.7.accuracy", 100),
    Quote(A07, r"first passed the gate at NFE " + N, FLOW, "runs.0.smallest_passing_nfe.flow-heun-plain"),
    Quote(A07, r"06's recipe at NFE " + N + r"\s+too", FLOW, "runs.2.smallest_passing_nfe.flow-heun"),
    Quote(A07, r"\s+too \(" + N + r"%; at NFE 3", FLOW, "runs.2.rows.1.accuracy", 100),
    Quote(A07, r"at NFE 3 the judge read " + N + "%", FLOW, "runs.2.rows.0.accuracy", 100),
    _nb(A00, r"passes the 1000-digit gate with " + N + "% at 4 Euler", _R07, r"NFE 4 \*\*passed, (?P<v>[\d.]+)%"),
    _nb(A00, r"at 8 DDIM evaluations \(" + N + r"%\)", _R07, r"NFE 8 failed, (?P<v>[\d.]+)%"),
    _nb(A00, r"after " + N + r" training steps each, the flow", _R07, r"(?P<v>\d+) steps each"),
    _nb("autograder/source/07_flow_matching/07_flow_matching.ipynb", r"CPU \(" + N + r" s measured on the course",
        "cpu.runs.07_flow_matching.seconds.0"),
)
QUOTES += (Quote("helpers/unet.py", r"first passes its gate after " + N + " steps", "bench/reference/assessment.json",
                 "result.time_to_gate.step"),)


# ---- walkthroughs 01-03 and answers 01-03: what 2026-12-07's full-profile runs printed (the slower host) ----
# `printed_2026_12_07` is the stream output of each executed notebook ("[cell i] ..." lines),
# `cells_2026_12_07` its cell wall times; both stored from bench/results/notebooks/full/<id>.ipynb.
A01 = "answers/01_UNets_Answers.md"
_P01, _C01 = "cpu.runs.01_unets.printed_2026_12_07", "cpu.runs.01_unets.cells_2026_12_07"


def _mse01(a, col):
    """Notebook 01's MSE table (cell 31) at noise level `a`: col 0 the U-Net, 1 the mean image."""
    return r"\[cell 31\]\s+" + a.replace(".", r"\.") + r"\s+\|\s+" + r"[\d.]+\s+\|\s+" * col + r"(?P<v>[\d.]+)"


def _cm01(a, col):
    """Notebook 01's conditional-mean table (cell 33) at `a`: col 0 N_eff, 1 the ideal MSE, 2 the U-Net's."""
    return r"\[cell 33\]\s+" + a.replace(".", r"\.") + r"\s+\|\s+" + r"[\d.]+\s+\|\s+" * col + r"(?P<v>[\d.]+)"


_A01S = ("0.1", "0.3", "0.5", "0.7", "0.8", "0.9", "1.0")
_A01C = ("0.5", "0.7", "0.8", "0.9", "1.0")
_STEP01, _FIRST01 = r"at step (?P<v>\d+)/1500", r"first loss (?P<v>[\d.]+)"
_FINAL01 = r"final loss \(mean of the last 10%\) (?P<v>[\d.]+)"
_PARAMS01 = r"UNet\(16, 32\): (?P<v>[\d,]+) parameters"
QUOTES += (
    # the table of sections: cell wall times
    _nb(W01, r"and shown \| " + N + r" s \(loading cell\)", _C01 + ".4"),
    _nb(W01, r"0\.75, 1 \| " + N + r" s \|", _C01 + ".6"),
    _nb(W01, r"TODO 4's self-check " + N + " s", _C01 + ".24"),
    _nb(W01, r"its graded training " + N + " s", _C01 + ".26"),
    _nb(W01, r"each other cell ≤ " + N + " s", _C01 + ".11"),
    _nb(W01, r"`UNet\(1, \(16, 32\)\)`, " + N + " parameters, batch 64", _P01, _PARAMS01),
    _nb(W01, r"\| " + N + r" s \(the cap: \d+ of the 1500", _C01 + ".28"),
    _nb(W01, r"\(the cap: " + N + " of the 1500", _P01, _STEP01),
    _nb(W01, r"pure noise \| " + N + r" s \+", _C01 + ".30"),
    _nb(W01, r"pure noise \| [\d.]+ s \+ " + N + " s", _C01 + ".31"),
    _nb(W01, r"a = 0\.5 … 1\.0 \| " + N + " s", _C01 + ".33"),
    # the H200 paragraph and the CPU run paragraph
    _nb(W01, r"in 30 s, final loss\s+" + N, "gpu.runs.01_unets.produced", r"final loss (?P<v>[\d.]+)"),
    _nb(W01, r"on the CPU " + N + " vs [\d.]+ on 500", _P01, _mse01("0.7", 0)),
    _nb(W01, r"on the CPU [\d.]+ vs " + N + " on 500", _P01, _mse01("0.7", 1)),
    _nb(W01, r"from a = 0\.8 on:\s+" + N + " vs", _P01, _mse01("0.8", 0)),
    _nb(W01, r"from a = 0\.8 on:\s+[\d.]+ vs " + N + ", section 5", _P01, _mse01("0.8", 1)),
    _nb(W01, r"`Stopped after 75 s at step " + N + "/1500`", _P01, _STEP01),
    _nb(W01, r"/1500`, " + N + r" steps \(", _P01, r"(?P<v>\d+) steps \("),
    _nb(W01, r"/1500`, \d+ steps \(" + N + " images\)", _P01, r"steps \((?P<v>[\d,]+) images\)"),
    _nb(W01, r"images\), first\s+loss " + N, _P01, _FIRST01),
    _nb(W01, r"images\), first\s+loss [\d.]+, final loss " + N, _P01, _FINAL01),
    _nb(W01, r"every other cell took at most " + N + " s", _C01 + ".31"),
    # the self-check outputs quoted in TODO 2-4
    _nb(W01, r"DownBlock\(3, 8\) parameter count: got " + N, _P01, r"DownBlock\(3, 8\) parameter count: got (?P<v>\d+)"),
    _nb(W01, r"reference output: got tensor\(4, 8, 14, 14\) \[" + N, _P01,
        r"DownBlock with the reference weights gives the reference output: got tensor\(4, 8, 14, 14\) \[(?P<v>[\d.]+)"),
    _nb(W01, r"reference output: got tensor\(4, 8, 14, 14\) \[[\d.]+, 0, " + N, _P01,
        r"DownBlock with the reference weights .*?\[[\d.]+, 0, (?P<v>[\d.]+)"),
    _nb(W01, r"parameter count `" + N + "`", _P01, r"UpBlock\(16, 8\) parameter count: got (?P<v>\d+)"),
    _nb(W01, r"UNet\(1, \(8, 16\)\) parameter count: got " + N, _P01, r"UNet\(1, \(8, 16\)\) parameter count: got (?P<v>\d+)"),
    *(_nb(W01, r"state_dict: got tensor\(3, 1, 28, 28\) \[" + r"[\d.]+, " * k + N, _P01,
          r"same state_dict: got tensor\(3, 1, 28, 28\) \[" + r"[\d.]+, " * k + r"(?P<v>[\d.]+)") for k in range(3)),
    _nb(W01, r"during 20 steps: got " + N + " ->", _P01, r"during 20 steps: got (?P<v>[\d.]+) ->"),
    _nb(W01, r"during 20 steps: got [\d.]+ -> " + N, _P01, r"during 20 steps: got [\d.]+ -> (?P<v>[\d.]+)"),
    _nb(W01, r"below the bound " + N, _P01, r"below the bound (?P<v>[\d.]+)"),
    _nb(W01, r"\(reference reaches " + N + r"\): got", _P01, r"reference reaches (?P<v>[\d.]+)"),
    _nb(W01, r"\(reference reaches [\d.]+\): got " + N, _P01, r"reference reaches [\d.]+\): got (?P<v>[\d.]+)"),
    # section 4: training
    _nb(W01, r"`UNet\(1, \(16, 32\)\)`: \*\*" + N + " parameters", _P01, _PARAMS01),
    _nb(W01, r"stopped training at step \*\*" + N, _P01, _STEP01),
    _nb(W01, r"\(" + N + " images, under one epoch", _P01, r"steps \((?P<v>[\d,]+) images\)"),
    _nb(W01, r"under one epoch\), first loss \*\*" + N, _P01, _FIRST01),
    _nb(W01, r"last 10% of the steps\) \*\*" + N, _P01, _FINAL01),
    _nb(W01, r"ran all 1500 steps\s+in " + N + " s", "cpu.runs.01_unets.produced", r"in (?P<v>\d+) s"),
    _nb(W01, r"ran all 1500 steps\s+in \d+ s, final loss " + N, "cpu.runs.01_unets.produced", r"final loss (?P<v>[\d.]+)"),
    # section 5: the MSE table, the spread
    *(_nb(W01, r"\| U-Net \|" + r"\s+\**[\d.]+\**\s+\|" * k + r"\s+\**" + N, _P01, _mse01(a, 0))
      for k, a in enumerate(_A01S)),
    _nb(W01, r"\| always the mean image \| " + N, _P01, _mse01("0.1", 1)),
    _nb(W01, r"\| always the mean image \| [\d.]+ \| \| \| \| \| \| " + N, _P01, _mse01("1.0", 1)),
    _nb(W01, r"noise is " + N + r" \(RMS pixel", _P01, r"pure noise: (?P<v>[\d.]+);"),
    _nb(W01, r"against " + N + " between 8 real garments", _P01, r"real test garments: (?P<v>[\d.]+)"),
    # section 6: the conditional-mean table
    *(_nb(W01, r"\| " + row + r" \|" + r"\s+[\d.,]+\s+\|" * k + r"\s+" + N, _P01, _cm01(a, col))
      for row, col in (("N_eff \(median over 8 test images\)", 0), ("MSE of the exact E\[x0 \\\\\| y\] \(8 test images\)", 1),
                       ("MSE of the U-Net \(same 8 images\)", 2))
      for k, a in enumerate(_A01C)),
    _nb(W01, r"test images \(" + N + " vs [\d.]+ at a = 0\.5\)", _P01, _cm01("0.5", 2)),
    _nb(W01, r"test images \([\d.]+ vs " + N + " at a = 0\.5\)", _P01, _cm01("0.5", 1)),
    _nb(W01, r"the cell prints \(" + N + " s\)", _P01, r"\[cell 33\] \((?P<v>[\d.]+) s\)"),
    # answers 01
    _nb(A01, r"`UNet\(1, \(16, 32\)\)`,\s+" + N + " parameters", _P01, _PARAMS01),
    _nb(A01, r"parameters, " + N + " training steps at a = 0\.5", _P01, _STEP01),
    _nb(A01, r"final training loss is " + N, _P01, _FINAL01),
    _nb(A01, r"training level\s+a = 0\.5 is " + N, _P01, _mse01("0.5", 0)),
    _nb(A01, r"ended at " + N + r"\)", "cpu.runs.01_unets.produced", r"final loss (?P<v>[\d.]+)"),
    _nb(A01, r"like our " + N + ", is an upper bound", _P01, _mse01("0.5", 0)),
    _nb(A01, r"median N_eff = " + N, _P01, _cm01("0.5", 0)),
    _nb(A01, r"MSE\s+" + N + " on the 8 images", _P01, _cm01("0.5", 1)),
    _nb(A01, r"measured MSE " + N + " on the same 8 images", _P01, _cm01("0.5", 2)),
    _nb(A01, r"\(" + N + " on 500 test images\)", _P01, _mse01("0.5", 0)),
    _nb(A01, r"MSE " + N + " on the 8 test images", _P01, _cm01("1.0", 1)),
    _nb(A01, r"scores " + N + " on all 500", _P01, _mse01("1.0", 1)),
    _nb(A01, r"test MSE of " + N + ", worse than", _P01, _mse01("1.0", 0)),
    _nb(A01, r"a = 0\.1 \(MSE " + N, _P01, _mse01("0.1", 0)),
    _nb(A01, r"than at a = 0\.3 \(" + N, _P01, _mse01("0.3", 0)),
    _nb(A01, r"measured spread " + N, _P01, r"pure noise: (?P<v>[\d.]+);"),
    _nb(A01, r"against " + N + " between 8 real garments", _P01, r"real test garments: (?P<v>[\d.]+)"),
)

_P02, _C02 = "cpu.runs.02_diffusion_models.printed_2026_12_07", "cpu.runs.02_diffusion_models.cells_2026_12_07"
_R02 = "cpu.runs.02_diffusion_models.produced"   # 2026-11-26/27, the faster host
_TS02 = ("0", "33", "66", "100", "133", "166", "199", "233", "266", "299")


def _loss02(t, col):
    """Notebook 02's test loss per step (cell 37) at step `t`: col 0 alpha-bar, 1 the test loss."""
    return r"t=\s*" + t + r"\s+alpha-bar=" + (r"(?P<v>[\d.]+)" if col == 0 else r"[\d.]+\s+test loss=(?P<v>[\d.]+)")


def _z02(t, col):
    """Notebook 02's step-vs-jump table (cell 17) at `t`: cols 0-1 mean of z (step, jump), 2-3 std."""
    return (r"\[cell 17\]\s+" + t + r"\s+[\d.]+\s+\|" + r"\s+[-+]?[\d.]+" * (col % 2 + (2 if col >= 2 else 0))
            + (r"\s+\|" if col >= 2 else "") + r"\s+[-+]?(?P<v>[\d.]+)") if col < 2 else (
            r"\[cell 17\]\s+" + t + r"\s+[\d.]+\s+\|\s+[-+]?[\d.]+\s+[-+]?[\d.]+\s+\|" + r"\s+[\d.]+" * (col - 2) + r"\s+(?P<v>[\d.]+)")


QUOTES += (
    # the sizes table, TODO 1's self-check and the schedule demo
    _nb(W02, r"\(32, 64\): " + N + " parameters \|", _P02, r"\(32, 64\): (?P<v>[\d,]+) parameters"),
    _nb(W02, r"betas \(T=1000, beta 0\.0001\.\.0\.02\): got tensor\(1000,\) \[0\.0001, " + N, _P02,
        r"betas \(T=1000, beta 0\.0001\.\.0\.02\): got tensor\(1000,\) \[0\.0001, (?P<v>[\d.]+)"),
    _nb(W02, r"alphas_cumprod \(T=1000, beta 0\.0001\.\.0\.02\): got tensor\(1000,\) \[[\d.]+, [\d.]+, " + N, _P02,
        r"✓ alphas_cumprod \(T=1000, beta 0\.0001\.\.0\.02\): got tensor\(1000,\) \[[\d.]+, [\d.]+, (?P<v>[\d.]+)"),
    _nb(W02, r"this notebook: T=300, beta 0\.00033\.\.0\.067  alpha-bar at the last step = (?P<v>[\d.]+)e-05", _P02,
        r"this notebook: .*?last step = (?P<v>[\d.]+)e-05"),
    _nb(W02, r"Ho et al\.: T=1000, beta 1e-4\.\.0\.02\s+alpha-bar at the last step = (?P<v>[\d.]+)e-05", _P02,
        r"Ho et al\.: .*?last step = (?P<v>[\d.]+)e-05"),
    _nb(W02, r"not rescaled: T=300, beta 1e-4\.\.0\.02\s+alpha-bar at the last step = (?P<v>[\d.]+)e-02", _P02,
        r"not rescaled: .*?last step = (?P<v>[\d.]+)e-02"),
    # TODO 2's self-check and the step-vs-jump demo
    _nb(W02, r"sqrt\(0\.02\) eps: got \[" + N, _P02, r"sqrt\(0\.02\) eps: got \[(?P<v>[\d.]+)"),
    _nb(W02, r"t = \[0, 43, 48, 20\]: got tensor\(4, 1, 8, 8\) \[-" + N, _P02, r"t = \[0, 43, 48, 20\]: got tensor\(4, 1, 8, 8\) \[-(?P<v>[\d.]+)"),
    *(_nb(W02, r"over 10000 draws \(t = \[7, 12, 20\]\): got \[" + r"-?[\d.]+, " * k + "-?" + N, _P02,
          r"over 10000 draws \(t = \[7, 12, 20\]\): got \[" + r"-?[\d.]+, " * k + r"-?(?P<v>[\d.]+)") for k in range(3)),
    *(_nb(W02, r"variance of x_t over 10000 draws: got \[" + r"[\d.]+, " * k + N, _P02,
          r"variance of x_t over 10000 draws: got \[" + r"[\d.]+, " * k + r"(?P<v>[\d.]+)") for k in range(3)),
    _nb(W02, r"means\s+between -" + N + " and", _P02, _z02("0", 0)),
    _nb(W02, r"means\s+between -[\d.]+ and \+" + N, _P02, _z02("75", 1)),
    _nb(W02, r"stds between " + N + " and", _P02, _z02("150", 3)),
    _nb(W02, r"stds between [\d.]+ and " + N + " at t = 0", _P02, _z02("150", 2)),
    # TODO 3-5's self-checks, the oracle sampler
    _nb(W02, r"for t = \[42, 11, 36, 31, 21\]: got tensor\(5, 1, 8, 8\) \[-" + N, _P02,
        r"for t = \[42, 11, 36, 31, 21\]: got tensor\(5, 1, 8, 8\) \[-(?P<v>[\d.]+)"),
    _nb(W02, r"max \|x_final - x0\| = (?P<v>[\d.]+)e-06` \(float32", _P02, r"max \|x_final - x0\| = (?P<v>[\d.]+)e-06"),
    *(_nb(W02, r"\(t = \[0, 81, 13, 99\]\): got tensor\(4, 1, 12, 12\) \[" + r"[\d.]+, " * k + N, _P02,
          r"\(t = \[0, 81, 13, 99\]\): got tensor\(4, 1, 12, 12\) \[" + r"[\d.]+, " * k + r"(?P<v>[\d.]+)") for k in range(3)),
    _nb(W02, r"output depends on t: got max change " + N, _P02, r"output depends on t: got max change (?P<v>[\d.]+)"),
    _nb(W02, r"loss for a fixed eps_fn: got " + N + "\n", _P02, r"loss for a fixed eps_fn: got (?P<v>[\d.]+)"),
    _nb(W02, r"loss for a small TimeUNet: got " + N, _P02, r"loss for a small TimeUNet: got (?P<v>[\d.]+)"),
    # training and sampling
    _nb(W02, r"ran the full 2,500 steps \(final loss " + N, _R02, r"loss (?P<v>[\d.]+);"),
    _nb(W02, r"`loss before training: " + N, _P02, r"loss before training: (?P<v>[\d.]+)"),
    _nb(W02, r"`Stopped after 300 s at step " + N + "/2500`", _P02, r"at step (?P<v>\d+)/2500"),
    _nb(W02, r"`History\(steps=" + N, _P02, r"History\(steps=(?P<v>\d+)"),
    _nb(W02, r"`History\(steps=\d+, epochs=1, final_loss=" + N, _P02, r"final_loss=(?P<v>[\d.]+)"),
    _nb(W02, r"final_loss=[\d.]+, wall_time=" + N + "s", _P02, r"wall_time=(?P<v>[\d.]+)s"),
    _nb(W02, r"wall_time=[\d.]+s, steps/s=" + N, _P02, r"steps/s=(?P<v>[\d.]+)"),
    _nb(W02, r"the step losses is " + N + " after", _P02, r"final_loss=(?P<v>[\d.]+)"),
    _nb(W02, r"the step losses is [\d.]+ after " + N + " steps", _P02, r"History\(steps=(?P<v>\d+)"),
    _nb(W02, r"\(" + N + r" after all 2,500 on the", _R02, r"loss (?P<v>[\d.]+);"),
    _nb(W02, r"on 2026-11-26/27's host,\s+" + N + " s on 2026-12-07's \(see below", _P02,
        r"recomputed from 100 batches in (?P<v>[\d.]+) s"),
    *(_nb(W02, r"\| \$\\bar\\alpha_t\$ \|" + r" [\d.]+ \|" * k + " " + N, _P02, _loss02(t, 0)) for k, t in enumerate(_TS02)),
    *(_nb(W02, r"\| loss \|" + r" [\d.]+ \|" * k + " " + N, _P02, _loss02(t, 1)) for k, t in enumerate(_TS02)),
    _nb(W02, r"`" + N + r" samples in [\d.]+ s` on 2026-12-07's", _P02, r"(?P<v>\d+) samples in"),
    _nb(W02, r"`\d+ samples in " + N + r" s` on 2026-12-07's", _P02, r"samples in (?P<v>[\d.]+) s"),
    _nb(W02, r"2026-12-07's run: real images −" + N, _P02, r"real images -(?P<v>[\d.]+)"),
    _nb(W02, r"2026-12-07's run: real images −[\d.]+,\s+samples −" + N, _P02, r"samples -(?P<v>[\d.]+),"),
    _nb(W02, r"with the stale statistics −" + N + r"\)\.", _P02, r"stale BatchNorm statistics -(?P<v>[\d.]+)"),
    # the measured-run table
    _nb(W02, r"\| data \(60,000 images\) \| – \| " + N + " s", _C02 + ".5"),
    _nb(W02, r"oracle demos \| – \| at most " + N + " s each", _C02 + ".17"),
    _nb(W02, r"2,500 steps of 64 images: \*\*" + N + r" s\*\*", _R02, r"in (?P<v>\d+) s"),
    _nb(W02, r"\| the 300 s cap: " + N + " steps,", _P02, r"History\(steps=(?P<v>\d+)"),
    _nb(W02, r"\| the 300 s cap: [\d,]+ steps, " + N + " s", _P02, r"wall_time=(?P<v>[\d.]+)s"),
    _nb(W02, r"\| the 300 s cap: [\d,]+ steps, [\d.]+ s \(" + N + " steps/s", _P02, r"steps/s=(?P<v>[\d.]+)"),
    _nb(W02, r"100 batches \| [\d.]+ s \| " + N + " s", _C02 + ".35"),
    _nb(W02, r"10 × 512 test images\) \| – \| " + N + " s", _C02 + ".37"),
    _nb(W02, r"32 images, 300 steps \| – \| " + N + " s", _P02, r"samples in (?P<v>[\d.]+) s"),
    _nb(W02, r"stale statistics \| – \| " + N + r" s \+", _C02 + ".40"),
    _nb(W02, r"stale statistics \| – \| [\d.]+ s \+ " + N + " s", _C02 + ".41"),
    _nb(W02, r"the training cell alone took " + N + " s", _C02 + ".33"),
    _nb(W02, r"took " + N + " s on 2026-12-07's host, kernel start", "smoke.runs.02_diffusion_models.seconds.0"),
    # answers 02
    _nb(A02, r"the loss is large \(" + N + r" at \$t = 0\$", _P02, _loss02("0", 1)),
    _nb(A02, r"at \$t = 0\$ and " + N + r" at \$t = 33\$", _P02, _loss02("33", 1)),
    _nb(A02, r"the loss falls to " + N, _P02, _loss02("299", 1)),
    _nb(A02, r"took " + N + r" s\. But training", _P02, r"samples in (?P<v>[\d.]+) s"),
    _nb(A02, r"\(\$\\bar\\alpha_T = " + N + r"\$, printed under", _P02, r"not rescaled: .*?last step = (?P<v>[\d.]+)e-02", 0.01),
    _nb(A02, r"mean pixel −" + N + " against", _R02, r"vs −(?P<v>[\d.]+) stale"),
    _nb(A02, r"against −" + N + " for real images", _R02, r"real −(?P<v>[\d.]+)"),
)

A03 = "answers/03_Optimizations_Answers.md"
_P03, _C03 = "cpu.runs.03_optimizations.printed_2026_12_07", "cpu.runs.03_optimizations.cells_2026_12_07"
_R03 = "cpu.runs.03_optimizations.produced"   # 2026-11-26/27, the faster host


def _bn03(t, col):
    """Notebook 03's BatchNorm demo (cell 9), eval mode at step `t`: col 0 BatchNorm's std, 1 GroupNorm's std."""
    return r"\[cell 9\]\s+" + t + r" \|\s+-?[\d.]+ / (?P<v>[\d.]+)" if col == 0 else \
        r"\[cell 9\]\s+" + t + r" \|\s+-?[\d.]+ / [\d.]+\s+\|\s+-?[\d.]+ / (?P<v>[\d.]+)"


_HIST03 = {"old": r"old: History\(steps=500, epochs=0, final_loss=[\d.]+, ", "new": r"new: History\(steps=500, epochs=0, final_loss=[\d.]+, "}
QUOTES += (
    # the sizes table, TODO 1-5's self-checks and demonstrations
    _nb(W03, r"TimeUNet " + N + ", OptimizedUNet", _P03, r"TimeUNet\s+(?P<v>[\d,]+) parameters"),
    _nb(W03, r"OptimizedUNet " + N + " parameters \|", _P03, r"OptimizedUNet\s+(?P<v>[\d,]+) parameters"),
    _nb(W03, r"   BatchNorm: " + N, _P03, r"BatchNorm: (?P<v>[\d.]+)"),
    _nb(W03, r"   GroupNorm: " + N, _P03, r"GroupNorm: (?P<v>[\d.]+)"),
    *(_nb(W03, r"\n\s+" + t + r" \|\s+-?[\d.]+ / " + N, _P03, _bn03(t, 0)) for t in ("0", "250", "500", "999")),
    *(_nb(W03, r"\n\s+" + t + r" \|\s+-?[\d.]+ / [\d.]+\s+\|\s+-?[\d.]+ / " + N, _P03, _bn03(t, 1)) for t in ("0", "250", "500", "999")),
    _nb(W03, r"max-pool       -> \(1, 1, 14, 14\), reconstruction error \(mean \|diff\|\) " + N, _P03,
        r"max-pool .*?\(mean \|diff\|\) (?P<v>[\d.]+)"),
    _nb(W03, r"space-to-depth -> \(1, 4, 14, 14\), reconstruction error \(mean \|diff\|\) " + N, _P03,
        r"space-to-depth .*?\(mean \|diff\|\) (?P<v>[\d.]+)"),
    _nb(W03, r"got closest pair " + N + " apart`", _P03, r"got closest pair (?P<v>[\d.]+) apart"),
    _nb(W03, r"`t/T input: steps 500 and 501 differ by " + N, _P03, r"t/T input:\s+steps 500 and 501 differ by (?P<v>[\d.]+)"),
    _nb(W03, r"`sinusoidal \(d=32\): steps 500 and 501 differ by " + N, _P03, r"sinusoidal \(d=32\):\s+steps 500 and 501 differ by (?P<v>[\d.]+)"),
    *(_nb(W03, r"eta=0, t=619 -> t_prev=569: equals the reference: got tensor\(3, 1, 6, 6\) \[" + r"-[\d.]+, " * k + "-" + N, _P03,
          r"eta=0, t=619 -> t_prev=569: equals the reference: got tensor\(3, 1, 6, 6\) \[" + r"-[\d.]+, " * k + r"-(?P<v>[\d.]+)")
      for k in range(3)),
    *(_nb(W03, r"returns x0_hat: got tensor\(3, 1, 6, 6\) \[" + r"-[\d.]+, " * k + "-" + N, _P03,
          r"returns x0_hat: got tensor\(3, 1, 6, 6\) \[" + r"-[\d.]+, " * k + r"-(?P<v>[\d.]+)") for k in range(3)),
    _nb(W03, r"the added noise has the posterior variance: got " + N, _P03, r"posterior variance: got (?P<v>[\d.]+)"),
    _nb(W03, r"the three `eta=1` lines fail, the last one `got [\d.]+, expected " + N, _P03,
        r"posterior variance: got (?P<v>[\d.]+)"),
    # the measured-run table: 2026-11-26/27's summary, then 2026-12-07's printed lines and cell times
    _nb(W03, r"500 steps \| final loss \*\*" + N + r"\*\* \| [\d.]+ s \(14", _R03, r"loss (?P<v>[\d.]+) vs"),
    _nb(W03, r"100,129 parameters\), 500 steps \| final loss \*\*" + N, _R03, r"loss [\d.]+ vs (?P<v>[\d.]+);"),
    _nb(W03, r"all 4000 steps, final loss \*\*" + N, _R03, r"4000 steps, loss (?P<v>[\d.]+)"),
    *(_nb(W03, r"`" + ("TimeUNet`, 45,521" if m == "old" else "OptimizedUNet`, 100,129") + r" parameters\), 500 steps \| [^|\n]*\| "
          + N + r" s \(", _P03, _HIST03[m] + r"wall_time=(?P<v>[\d.]+)s") for m in ("old", "new")),
    *(_nb(W03, r"`" + ("TimeUNet`, 45,521" if m == "old" else "OptimizedUNet`, 100,129") + r" parameters\), 500 steps \| [^|\n]*\| "
          + r"[\d.]+ s \(" + N + " steps/s", _P03, _HIST03[m] + r"wall_time=[\d.]+s, steps/s=(?P<v>[\d.]+)") for m in ("old", "new")),
    *(_nb(W03, r"`" + ("TimeUNet`, 45,521" if m == "old" else "OptimizedUNet`, 100,129") + r" parameters\), 500 steps \| [^|\n]*\| "
          + r"[^|\n]*final loss \*\*" + N, _P03, _HIST03[m].replace(r"final_loss=[\d.]+", r"final_loss=(?P<v>[\d.]+)")) for m in ("old", "new")),
    _nb(W03, r"the training cells took " + N + " s and", _C03 + ".37"),
    _nb(W03, r"the training cells took [\d.]+ s and " + N + " s", _C03 + ".40"),
    _nb(W03, r"the 250 s cap: step " + N + " of 4000", _P03, r"at step (?P<v>\d+)/4000"),
    _nb(W03, r"of 4000, " + N + " s in all", _P03, r"History\(steps=\d+, epochs=3, final_loss=[\d.]+, wall_time=(?P<v>[\d.]+)s"),
    _nb(W03, r"s in all \(" + N + " steps/s\), final loss", _P03, r"epochs=3, .*?steps/s=(?P<v>[\d.]+)"),
    _nb(W03, r"steps/s\), final loss \*\*" + N + r"\*\* \|\n\| DDPM", _P03, r"epochs=3, final_loss=(?P<v>[\d.]+)"),
    _nb(W03, r"1000 network calls, 16 images \| – \| " + N + " s", _P03, r"DDPM: 1000 network calls,\s+(?P<v>[\d.]+) s"),
    _nb(W03, r"\| " + N + r" s: speed-up [\d.]+× \|", _P03, r"DDIM:\s+25 network calls,\s+(?P<v>[\d.]+) s"),
    _nb(W03, r"s: speed-up " + N + r"× \|", _P03, r"speed-up: (?P<v>[\d.]+)x"),
    _nb(W03, r"\*\*" + N + "% without `clip_x0`, 0% with it\*\*", _P03, r"flat black/white frames: (?P<v>\d+)% without"),
    _nb(W03, r"% without `clip_x0`, " + N + r"% with it\*\*", _P03, r"without clip_x0, (?P<v>\d+)% with it"),
    _nb(W03, r"% with it\*\* \(real images " + N + "%", _P03, r"real images: (?P<v>\d+)%"),
    _nb(W03, r"in a batch of 64\\\| " + N + " for BatchNorm", _P03, r"BatchNorm: (?P<v>[\d.]+)"),
    _nb(W03, r"for BatchNorm, " + N + " for GroupNorm;", _P03, r"GroupNorm: (?P<v>[\d.]+)"),
    _nb(W03, r"std of BatchNorm features " + N + " at t = 0", _P03, _bn03("0", 0)),
    _nb(W03, r"at t = 0 → " + N + " at t = 999", _P03, _bn03("999", 0)),
    _nb(W03, r"at t = 999, GroupNorm " + N + " throughout", _P03, _bn03("0", 1)),
    _nb(W03, r"reconstruction error " + N + " vs [\d.]+ \|", _P03, r"max-pool .*?\(mean \|diff\|\) (?P<v>[\d.]+)"),
    _nb(W03, r"reconstruction error [\d.]+ vs " + N + " \|", _P03, r"space-to-depth .*?\(mean \|diff\|\) (?P<v>[\d.]+)"),
    _nb(W03, r"steps 500 and 501 differ by " + N + r" vs [\d.]+ \|", _P03, r"t/T input:\s+steps 500 and 501 differ by (?P<v>[\d.]+)"),
    _nb(W03, r"steps 500 and 501 differ by [\d.]+ vs " + N + r" \|", _P03, r"sinusoidal \(d=32\):\s+steps 500 and 501 differ by (?P<v>[\d.]+)"),
    _nb(W03, r"the sampler race took " + N + " s", _C03 + ".42"),
    _nb(W03, r"every other cell at\s+most " + N + " s", _C03 + ".1"),
    _nb(W03, r"Smoke profile: " + N + " s on 2026-12-07's host", "smoke.runs.03_optimizations.seconds.0"),
    _nb(W03, r"frames \(" + N + "% of 2026-12-07's, whose training stopped at step", _P03, r"flat black/white frames: (?P<v>\d+)% without"),
    _nb(W03, r"whose training stopped at step " + N, _P03, r"at step (?P<v>\d+)/4000"),
    _nb(W03, r"`TimeUNet` \(16, 32\): " + N + " against", _P03, _HIST03["new"] + r"wall_time=[\d.]+s, steps/s=(?P<v>[\d.]+)"),
    _nb(W03, r"`TimeUNet` \(16, 32\): [\d.]+ against " + N + " steps/s", _P03, _HIST03["old"] + r"wall_time=[\d.]+s, steps/s=(?P<v>[\d.]+)"),
    # the H200 paragraph (gpu.runs.03_optimizations)
    _nb(W03, r"2000 steps each: final loss " + N + " vs", "gpu.runs.03_optimizations.produced", r"loss (?P<v>[\d.]+) vs"),
    _nb(W03, r"2000 steps each: final loss [\d.]+ vs " + N, "gpu.runs.03_optimizations.produced", r"loss [\d.]+ vs (?P<v>[\d.]+);"),
    _nb(W03, r"10,000 steps in \d+ s, final loss " + N, "gpu.runs.03_optimizations.produced", r"157 s, loss (?P<v>[\d.]+)"),
    # answers 03
    _nb(A03, r"printed a difference of exactly " + N, _P03, r"GroupNorm: (?P<v>[\d.]+)"),
    _nb(A03, r"largest difference was " + N + " in the full profile", _P03, r"BatchNorm: (?P<v>[\d.]+)"),
    _nb(A03, r"printed a reconstruction error of " + N, _P03, r"space-to-depth .*?\(mean \|diff\|\) (?P<v>[\d.]+)"),
    _nb(A03, r"from " + N + r" at \$t = 0\$ through", _P03, _bn03("0", 0)),
    _nb(A03, r"at \$t = 0\$ through " + N + " and", _P03, _bn03("250", 0)),
    _nb(A03, r"at \$t = 0\$ through [\d.]+ and " + N + " to", _P03, _bn03("500", 0)),
    _nb(A03, r"through [\d.]+ and [\d.]+ to " + N + r" at \$t = 999\$", _P03, _bn03("999", 0)),
)
QUOTES += (_nb(W02, r"−[\d.]+ stale, real −" + N + r"\)", "gpu.runs.02_diffusion_models.produced", r"real −(?P<v>[\d.]+)"),)

def _value(data, key: str, within: str | None = None) -> float:
    """The number at dotted `key`; a dict key that itself contains dots (``accuracy_by_w.3.0``, the
    w = 3.0 entry) is found by trying the longest run of parts first."""
    parts, i = key.split("."), 0
    while i < len(parts):
        if isinstance(data, list):
            data, i = data[int(parts[i])], i + 1
            continue
        if not isinstance(data, dict):
            raise KeyError(".".join(parts[i:]))
        for j in range(len(parts), i, -1):
            if ".".join(parts[i:j]) in data:
                data, i = data[".".join(parts[i:j])], j
                break
        else:
            raise KeyError(parts[i])
    if within is not None:
        m = re.search(within, str(data))
        if m is None:
            raise KeyError(f"{key} no longer says {within!r}")
        return float(m.group("v").replace(",", ""))
    return float(data)


def _agrees(quoted: str, value: float) -> bool:
    """Equal at the precision the quote is printed with (half a unit of its last digit)."""
    digits = quoted.replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return abs(float(digits) - value) <= 0.5 * 10 ** -decimals + 1e-9


def check(texts: dict[str, str] | None = None, quotes=None) -> list[str]:
    """Problems, one line each ('' list when every quote is found and agrees). `texts` overrides
    the documents' contents (doc -> text), e.g. to test an edited copy. `quotes`: all of QUOTES
    (as the module ends up defining it) unless given."""
    quotes = QUOTES if quotes is None else quotes
    texts = dict(texts or {})
    cache: dict[str, dict] = {}
    problems = []
    for q in quotes:
        if q.doc not in texts:
            texts[q.doc] = (REPO / q.doc).read_text()
        if q.source not in cache:
            cache[q.source] = json.loads((REPO / q.source).read_text())
        try:
            value = _value(cache[q.source], q.key, q.within) * q.scale
        except (KeyError, IndexError) as e:
            problems.append(f"{q.doc}: {q.source} has no value for the quote (missing {e}); "
                            "update bench/quotes.py if the file changed")
            continue
        m = re.search(q.pattern, texts[q.doc])
        if m is None:
            problems.append(f"{q.doc}: the quote of {q.source}:{q.key} is gone (pattern {q.pattern!r}); "
                            "update bench/quotes.py if the text moved")
        elif not _agrees(m.group("v"), value):
            problems.append(f"{q.doc}: quotes {m.group('v')} for {q.source}:{q.key}, the file says {value:g}")
    return problems


_FIGURE = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?\s?(?:%|s\b|min\b|GB|MB|MiB|GiB|steps/s|×|x\b)")


def untied(doc: str, quotes=None) -> list[tuple[int, str]]:
    """A reviewer's aid: (line, "[loose figures] text") of each line of `doc` with a figure that has a unit (%, s, min, GB,
    steps/s, ×) and that no quote covers and no generated block renders. Not every hit is a
    measurement (a target, a formula's example, a recipe setting); each one is a line to read."""
    from bench import tables
    quotes = QUOTES if quotes is None else quotes
    text = (REPO / doc).read_text()
    covered = [m.span("v") for q in quotes if q.doc == doc for m in [re.search(q.pattern, text)] if m]
    for begin, end in tables.generated_spans(text):
        covered.append((begin, end))
    out, offset = [], 0
    for i, line in enumerate(text.splitlines(keepends=True), 1):
        loose = [m.group() for m in _FIGURE.finditer(line)
                 if not any(a <= offset + m.start() < b for a, b in covered)]
        if loose:
            out.append((i, f"[{', '.join(loose)}] {line.strip()}"))
        offset += len(line)
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m bench.quotes", description=__doc__.split("\n\n")[0])
    p.add_argument("--untied", nargs="+", metavar="DOC",
                   help="list the lines of these documents with a figure no quote or generated table covers")
    a = p.parse_args(argv or [])
    if a.untied:
        for doc in a.untied:
            for i, line in untied(doc):
                print(f"{doc}:{i}: {line}")
        return 0
    cache: dict[str, dict] = {}
    for q in QUOTES:
        cache.setdefault(q.source, json.loads((REPO / q.source).read_text()))
        m = re.search(q.pattern, (REPO / q.doc).read_text())
        print(f"{q.doc:<58} {m.group('v') if m else 'MISSING':>8}  {q.source}:{q.key} = "
              f"{_value(cache[q.source], q.key, q.within) * q.scale:g}")
    problems = check()
    print("\n".join(problems) or "every quote agrees with its results file")
    return 1 if problems else 0



# README's install sizes (du on this machine's .venv: bench/reference/install.json)
INSTALL = "bench/reference/install.json"
QUOTES += (
    Quote("README.md", r"`\.venv`, 2026-12-07: " + N + " GB", INSTALL, "venv_gb"),
    Quote("README.md", r"of which torch " + N + " GB", INSTALL, "torch_gb"),
    Quote("README.md", r"the `nvidia` CUDA libraries " + N + " GB", INSTALL, "nvidia_gb"),
    Quote("README.md", r"triton " + N + r" GB; `bench/reference/install.json`", INSTALL, "triton_gb"),
    Quote("README.md", r"and triton \(" + N + " GB of it\)", INSTALL, "nvidia_plus_triton_gb"),
    Quote("README.md", r"text encoder, " + N + " MB installed", INSTALL, "minilm_mb"),
    Quote("README.md", r"pulls about " + N + " GB of CUDA libraries", INSTALL, "nvidia_plus_triton_gb"),
    Quote("README.md", r"Disk: about " + N + " GB for the environment", INSTALL, "venv_gb"),
    # bench/device_prepare.sh's two folders for an offline GPU machine
    Quote("README.md", r"`\.whl/` \(" + N + " wheels", INSTALL, "device_wheels"),
    Quote("README.md", r" wheels, " + N + " MiB\)", INSTALL, "device_whl_mib"),
    Quote("README.md", r"in `\.devdata/` \(" + N + " MiB\)", INSTALL, "device_devdata_mib"),
    Quote("README.md", r"these make \(" + N + " MiB with the working tree", INSTALL, "device_carry_mib"),
)
QUOTES += (_nb("README.md", r"samples digits in " + N + " network evaluations", "cpu.runs.07_flow_matching.produced",
               r"Euler at NFE (?P<v>\d+) \*\*passed"),)

# README's Tests paragraph: the CI rehearsal (bench/reference/ci_rehearsal.json)
CI = "bench/reference/ci_rehearsal.json"
_S = "slowest.tests/"
QUOTES += (
    Quote("README.md", r"tests \(" + N + " passed; 2 skipped", CI, "passed"),
    Quote("README.md", r"passed; " + N + " skipped: the short honest", CI, "skipped"),
    Quote("README.md", r"adds\) in " + N + " min, ", CI, "pytest_minutes"),
    Quote("README.md", r" min, " + N + " min with set-up", CI, "total_minutes"),
    Quote("README.md", r"profile through its gate, " + N + " s", CI, _S + "test_nb06.py::test_full_profile_passes_the_gate (call)"),
    Quote("README.md", r"the demo class, " + N + r" s \(graded once", CI,
          _S + "test_assignments.py::test_solution_full_marks_untouched_copy_zero[01_unets] (setup)"),
    Quote("README.md", r"time-limit test, " + N + " s", CI, _S + "test_slurm.py::test_a_cancelled_task_and_a_slurm_time_limit_"
          "get_statuses_and_a_rerun_grades_only_what_is_missing (call)"),
    Quote("README.md", r"manifest mistakes, " + N + " s", CI, _S + "test_assignments.py::test_each_mistake_loses_exactly_its_todo[01_unets-1] (setup)"),
    Quote("README.md", r"the attack class, " + N + " s", CI, _S + "test_autograder_attacks.py::test_every_attack_gets_a_clear_status_and_no_forged_point (setup)"),
    Quote("README.md", r"quick tests were added, took " + N + " min", CI, "previous.pytest_minutes"),
    Quote("README.md", r"06's full profile took " + N + " s then", CI, "previous.nb06_full_profile_seconds"),
    Quote("README.md", r"the load test, " + N + " s", CI, _S + "test_autograder_load.py::test_statuses_and_scores_do_not_depend_on_load (call)"),
    Quote("README.md", r"through\s+Slurm, " + N + " s", CI, _S + "test_slurm.py::test_a_class_of_every_status_through_slurm_matches_the_local_run (call)"),
    Quote("README.md", r"make test` adds at " + N + "–", CI, "optional_tests.honest_gate_trainings.seconds_min"),
    Quote("README.md", r"make test` adds at [\d.]+–" + N + " s each", CI, "optional_tests.honest_gate_trainings.seconds_max"),
    Quote("README.md", r"Colab-like install, " + N + " s", CI, _S + "test_colab.py::test_colab_like_fresh_install_keeps_torch_and_runs_a_notebook (call)"),
)


# ---- walkthroughs 04-05 and answers 04-05: what 2026-12-07's full-profile runs printed (the slower host) ----
# The faster host's figures stay tied to the run summaries (F04, F05 above); these tie the slower host's.
_P04 = "cpu.runs.04_classifier_free_guidance.printed_2026_12_07"
_C04 = "cpu.runs.04_classifier_free_guidance.cells_2026_12_07"
_S04 = "cpu.runs.04_classifier_free_guidance.seconds.1"
_STEP04, _FSTEP04 = r"at step (?P<v>\d+)/1000", r"(?P<v>\d+) steps in its"   # flower steps: 12-07 / 11-27
_WS04, _FWS04 = ("0", "0.5", "1", "2", "3", "5", "7"), ("0", "1", "3", "5", "7")


def _row(label, k):
    """A markdown table row `| label | a | b | ...`: the pattern of its k-th figure (0-based)."""
    return r"\| " + re.escape(label) + r" \|" + r"\s+\**[\d.]+\**\s+\|" * k + r"\s+\**" + N


def _sweep04(w, col):
    """Notebook 04's Fashion sweep table (cell 30) at `w`: col 0 accuracy, 1 diversity, 2 saturation."""
    return r"\[cell 30\]\s+" + re.escape(w) + r"\s+" + r"[\d.]+\s+" * col + r"(?P<v>[\d.]+)"


def _flower04(w, col):
    """Notebook 04's flower sweep table (cell 40) at `w`: col 0 accuracy, 1 diversity."""
    return r"\[cell 40\]\s+" + re.escape(w) + r"\s+" + r"[\d.]+\s+" * col + r"(?P<v>[\d.]+)"


_P05, _C05, _S05 = ("cpu.runs.05_clip.printed_2026_12_07", "cpu.runs.05_clip.cells_2026_12_07",
                    "cpu.runs.05_clip.seconds.1")
_STEP05 = r"at step (?P<v>\d+)/1500"
_TEXT05, _PRIOR05 = r"text embedding (?P<v>\d+)% -> retrieval", r"retrieval prior (?P<v>\d+)%"
_CLIPT05 = r"\[cell 46\] the 5 demo prompts, all images: CLIP (?P<v>\d+)% right"
_CLIPP05 = r"\[cell 48\] the 5 demo prompts, all images: CLIP (?P<v>\d+)% right"
_CLIPRUN05 = r"History\(steps=600, [^)]*"
_UNETRUN05 = r", steps/s=[\d.]+, stop_reason='max_seconds'"
_GAP05 = r"own class prompt\): mean (?P<v>[\d.]+)", r"same class\): mean (?P<v>[\d.]+)"
_PROMPTS05 = ("a round white daisy with a yellow center", "a yellow dandelion in the grass", "a red rose",
              "a big sunflower with a dark centre", "pink tulips")


def _share05(prompt, k):
    """Notebook 05's per-prompt shares: k 0/1 CLIP/flower judge from the text embedding (cell 46),
    2/3 the same through the retrieval prior (cell 48)."""
    cell = 46 if k < 2 else 48
    return r"\[cell %d\] " % cell + re.escape(prompt) + r"\s+" + (r"\d+% \w+\s+" if k % 2 else "") + r"(?P<v>\d+)%"


_W05_QUOTES = (
    _nb(W05, r"stopped it at step " + N + " of 1500 on the slower host", _P05, _STEP05),
    # "Measured results": the two hosts' table
    _nb(W05, r"the same, printed " + N + " / ", _P05, r"'a rose': (?P<v>[\d.]+)"),
    _nb(W05, r"the same, printed [\d.]+ / " + N + " / ", _P05, r"'a yellow sunflower': (?P<v>[\d.]+)"),
    _nb(W05, r"the same, printed [\d.]+ / [\d.]+ / " + N + r" \|", _P05, r"on the street': (?P<v>[\d.]+)"),
    _nb(W05, r"all 600 steps of 64 in \*\*" + N + " s", F05, r"600 steps in (?P<v>\d+) s"),
    _nb(W05, r"\| all " + N + r" steps in \*\*", _P05, r"History\(steps=(?P<v>\d+)"),
    _nb(W05, r"\| all \d+ steps in \*\*" + N + r" s\*\*", _P05, _CLIPRUN05 + r"wall_time=(?P<v>[\d.]+)s"),
    _nb(W05, r"\*\*, final loss " + N + ", learned temperature", _P05, _CLIPRUN05 + r"final_loss=(?P<v>[\d.]+)"),
    _nb(W05, r"learned temperature " + N + r" \|", _P05, r"learned temperature: (?P<v>[\d.]+)"),
    _nb(W05, r"\| \*\*" + N + r" %\*\*; [\d.]+ % with the caption ensemble", _P05, r"held-out photos: (?P<v>[\d.]+)% with"),
    _nb(W05, r"%\*\*; " + N + r" % with the caption ensemble", _P05, r"(?P<v>[\d.]+)% with the caption ensemble"),
    _nb(W05, r"U-Net training, \(32, 64\), " + N + " parameters", _P05, r"U-Net: (?P<v>[\d,]+) parameters"),
    _nb(W05, r"stopped by the cap at step \*\*" + N + r"\*\* of 1500", _P05, _STEP05),
    _nb(W05, r"\*\* of 1500 \(" + N + r" s\), final loss", _P05, r"wall_time=(?P<v>[\d.]+)s" + _UNETRUN05),
    _nb(W05, r"of 1500 \([\d.]+ s\), final loss " + N, _P05, r"final_loss=(?P<v>[\d.]+), wall_time=[\d.]+s" + _UNETRUN05),
    _nb(W05, r"\*\*text\*\* embedding \(10 images each, w = 6\) \|[^|]*\| flower judge \*\*" + N, _P05, _TEXT05),
    _nb(W05, r"\*\*text\*\* embedding \(10 images each, w = 6\) \|[^\n]*?\(CLIP: " + N, _P05, _CLIPT05),
    _nb(W05, r"\*\*retrieval prior\*\* \(k = 16\) \|[^|]*\| flower judge \*\*" + N, _P05, _PRIOR05),
    _nb(W05, r"\*\*retrieval prior\*\* \(k = 16\) \|[^\n]*?\(CLIP: " + N, _P05, _CLIPP05),
    _nb(W05, r"\| \*\*" + N + r" s\*\*, within the target", _S05),
    # the per-prompt table
    *(_nb(W05, _row(p, k), _P05, _share05(p, k)) for p in _PROMPTS05 for k in range(4)),
    _nb(W05, _row("all 5 prompts", 0), _P05, _CLIPT05),
    _nb(W05, _row("all 5 prompts", 1), _P05, r"\[cell 46\] the 5 demo prompts, all images: CLIP \d+% right, flower judge (?P<v>\d+)%"),
    _nb(W05, _row("all 5 prompts", 2), _P05, _CLIPP05),
    _nb(W05, _row("all 5 prompts", 3), _P05, r"\[cell 48\] the 5 demo prompts, all images: CLIP \d+% right, flower judge (?P<v>\d+)%"),
    _nb(W05, r"The U-Net that stopped at " + N + " steps", _P05, _STEP05),
    _nb(W05, r"faster host's " + N + "-step one", F05, r"\(32, 64\) (?P<v>\d+) steps in"),
    _nb(W05, r"\(" + N + r" % against [\d.]+ % from the text", _P05, _TEXT05),
    _nb(W05, r"% against " + N + r" % from the text", F05, TEXT05),
    _nb(W05, r"from the text, " + N + r" % against", _P05, _PRIOR05),
    _nb(W05, r"from the text, [\d.]+ % against " + N + " %", F05, PRIOR05),
    # "What the generated flowers look like", the setting, TODOs 2-4
    _nb(W05, r"faster host's run \(" + N + r" % in\s+the slower host's\)", _P05, _TEXT05),
    _nb(W05, r"mean cosines " + N + " against", _P05, _GAP05[0]),
    _nb(W05, r"mean cosines [\d.]+ against " + N, _P05, _GAP05[1]),
    _nb(W05, r"faster host's run,\s+" + N + r" % in the slower host's \(CLIP", _P05, _PRIOR05),
    _nb(W05, r"CLIP claimed more in both; " + N + " %", _P05, _CLIPP05),
    _nb(W05, r"had cosine " + N + r" to [\d.]+ with the prompt's", _P05, r"per prompt: \[(?:[\d.]+, ){5}(?P<v>[\d.]+)\]"),
    _nb(W05, r"had cosine [\d.]+ to " + N + r" with the prompt's", _P05, r"per prompt: \[(?P<v>[\d.]+)"),
    _nb(W05, r"cell printed " + N + r" s in 2026-12-07", _P05, r"loaded in (?P<v>[\d.]+) s"),
    _nb(W05, r"2026-12-07's run\s+ended at " + N, _P05, _CLIPRUN05 + r"final_loss=(?P<v>[\d.]+)"),
    _nb(W05, r"\(to " + N + r" in that run\)", _P05, r"learned temperature: (?P<v>[\d.]+)"),
    *(_nb(W05, r"run: (?:sunflower[\d.%, a-z\n]*?)?" + c + r" " + N + " %", _P05, r"\[cell 27\]\s+" + c + r"\s+(?P<v>[\d.]+)%")
      for c in ("sunflower", "dandelion", "daisy", "rose", "tulip")),
    _nb(W05, r"same class \(" + N + r" against [\d.]+ in\s+2026-12-07", _P05, _GAP05[0]),
    _nb(W05, r"same class \([\d.]+ against " + N + r" in\s+2026-12-07", _P05, _GAP05[1]),
    # "Timing and profiles"
    _nb(W05, r"The slower host shows it: " + N + " s in all", _S05),
    _nb(W05, r"CLIP's cell " + N + " s", _C05 + ".19"),
    _nb(W05, r"the U-Net's cell " + N + " s", _C05 + ".40"),
    _nb(W05, r"\(stopped at step " + N + r"\)", _P05, _STEP05),
    _nb(W05, r"prompt-sampling cells " + N + " s and", _C05 + ".46"),
    _nb(W05, r"prompt-sampling cells [\d.]+ s and\s+" + N + " s,", _C05 + ".48"),
    _nb(W05, r"every other cell at most " + N + r" s \(the MiniLM", _C05 + ".7"),
    # answers 05: questions 1 (temperature), 8 (ensemble) and 9 (the gap)
    _nb(A05, r"\(to " + N + r" in 2026-12-07's run on the", _P05, r"learned temperature: (?P<v>[\d.]+)"),
    _nb(A05, r"records only the single wording, the same " + N + " %", F05, r"zero-shot (?P<v>[\d.]+)%"),
    _nb(A05, r"the single held-out wording\s+scored " + N + " %", _P05, r"held-out photos: (?P<v>[\d.]+)% with"),
    _nb(A05, r"and the caption ensemble " + N + " %", _P05, r"(?P<v>[\d.]+)% with the caption ensemble"),
    _nb(A05, r"same class \(" + N + r" against [\d.]+ in\s+2026-12-07", _P05, _GAP05[0]),
    _nb(A05, r"same class \([\d.]+ against " + N + r" in\s+2026-12-07", _P05, _GAP05[1]),
    _nb(A05, r"the U-Net's full\s+" + N + " steps\)", F05, r"\(32, 64\) (?P<v>\d+) steps in"),
    _nb(A05, r"\(chance 20%; " + N + r"% in\s+2026-12-07's run", _P05, _TEXT05),
    _nb(A05, r"the cap stopped at step " + N, _P05, _STEP05),
    _nb(A05, r"\(as many, " + N + "%, in the slower", _P05, _CLIPT05),
    _nb(A05, r"give \d+% \(" + N + r"% in the slower host's run", _P05, _PRIOR05),
)

QUOTES += (
    # walkthrough 04: "Sizes and time"
    _nb(W04, r"whole notebook \*\*" + N + r" s, over its 10-minute target", _S04),
    _nb(W04, r"Fashion training\s+1500 steps in " + N + r" s\s+\(the cell", _P04, r"trained 1500 steps in (?P<v>\d+) s"),
    _nb(W04, r"\(the cell took " + N + r" s\), the Fashion sweep", _C04 + ".14"),
    _nb(W04, r"the Fashion sweep's " + N + r" samples", _P04, r"(?P<v>\d+) samples in \d+ s"),
    _nb(W04, r"the Fashion sweep's \d+ samples " + N + r" s", _P04, r"1680 samples in (?P<v>\d+) s"),
    _nb(W04, r"the Fashion sweep's \d+ samples \d+ s \(the cell\s+" + N + " s", _C04 + ".26"),
    _nb(W04, r"stopped by its cap at step " + N + r" of 1000", _P04, _STEP04),
    _nb(W04, r"stopped by its cap at step \d+ of 1000 \(the cell " + N + " s", _C04 + ".36"),
    _nb(W04, r"the flower\s+samples " + N + r" s", _P04, r"sampled in (?P<v>\d+) s"),
    _nb(W04, r"the flower\s+samples \d+ s \(" + N + r" s\)", _C04 + ".37"),
    _nb(W04, r"self-check " + N + r" s and the graded test", _C04 + ".32"),
    _nb(W04, r"and the graded test " + N + r" s,\s+every other", _C04 + ".33"),
    _nb(W04, r"every other cell at most " + N + " s", _C04 + ".1"),
    _nb(W04, r"fewer steps \(" + N + " against", _P04, _STEP04),
    _nb(W04, r"fewer steps \(\d+ against " + N + r"\)", F04, _FSTEP04),
    # TODO 2, training, the graded check
    _nb(W04, r"over 200,000 draws is " + N + " for seed 0", _P04, r"200,000 draws \(drop_prob=0\.1\): got (?P<v>[\d.]+)"),
    _nb(W04, r"last 10% of steps: " + N + r" in 2026-12-07", _P04, r"final loss (?P<v>[\d.]+)"),
    _nb(W04, r"2026-12-07's run printed " + N + r" for them", _P04, r"judge accuracy at w = 3 >= 0\.65: got (?P<v>[\d.]+)"),
    # the Fashion sweep at every w (cell 30)
    *(_nb(W04, _row(label, k), _P04, _sweep04(w, col))
      for col, label in enumerate(("judge accuracy", "diversity", "saturation")) for k, w in enumerate(_WS04)),
    _judge(W04, _row("judge accuracy", 7), "fashion.test_accuracy"),
    _nb(W04, _row("diversity", 7), _P04, r"real test images: diversity (?P<v>[\d.]+)"),
    _nb(W04, _row("saturation", 7), _P04, r"real test images: diversity [\d.]+, saturation (?P<v>[\d.]+)"),
    # flowers: the 965-step run's header, then the 500-step run (cells 36, 38, 40)
    _nb(W04, r"\| w \(2026-11-27, " + N + r" steps\)", F04, _FSTEP04),
    _nb(W04, r"\| w \(2026-12-07, " + N + r" steps\)", _P04, _STEP04),
    _nb(W04, r"cap stopped the flower model at step " + N + " of 1000", _P04, _STEP04),
    _nb(W04, r"of 1000 \(final loss\s+" + N, _P04, r"\(max_seconds\); final loss (?P<v>[\d.]+)"),
    _nb(W04, r"\(" + N + r"k parameters\)", _P04, r"\[cell 36\] (?P<v>[\d,]+) parameters", 0.001),
    *(_nb(W04, _row(label, k), _P04, _flower04(w, col))
      for col, label in enumerate(("flower judge: accuracy", "flower diversity")) for k, w in enumerate(_FWS04)),
    _nb(W04, _row("flower judge: accuracy", 5), _P04, r"real held-out photos: judge accuracy (?P<v>[\d.]+)"),
    _nb(W04, _row("flower diversity", 5), _P04, r"real held-out photos: judge accuracy [\d.]+, diversity (?P<v>[\d.]+)"),
    *(_nb(W04, _row("clipped", k), _P04, r"w =\s+" + w + r": clipped (?P<v>[\d.]+)") for k, w in enumerate(_FWS04)),
    *(_nb(W04, _row("HSV colour saturation", k), _P04, r"w =\s+" + w + r": clipped [\d.]+, colour saturation (?P<v>[\d.]+)")
      for k, w in enumerate(_FWS04)),
    _nb(W04, _row("clipped", 5), _P04, r"real photos: clipped (?P<v>[\d.]+)"),
    _nb(W04, _row("HSV colour saturation", 5), _P04, r"real photos: clipped [\d.]+, colour saturation (?P<v>[\d.]+)"),
    # the points to teach
    _nb(W04, r"\(the " + N + r"-step model: [\d.]+ →", _P04, _STEP04),
    _nb(W04, r"\(the \d+-step model: " + N + " →", _P04, _flower04("0", 0)),
    _nb(W04, r"\(the \d+-step model: [\d.]+ → " + N + r"\)", _P04, _flower04("3", 0)),
    _nb(W04, r"In the " + N + r"-step run, at w = 7", F04, _FSTEP04),
    _nb(W04, r"The " + N + r"-step model did\s+not get there", _P04, _STEP04),
    _nb(W04, r"cap: " + N + r" steps on the faster host", F04, _FSTEP04),
    _nb(W04, r"steps on the faster host, " + N + " on the slower", _P04, _STEP04),
    # answers 04: questions 6, 10 and 14
    _nb(A04, r"printed the same accuracies, and at every w: " + N + r" at \$w = 0\$", _P04, _sweep04("0", 0)),
    _nb(A04, r"at every w: [\d.]+ at \$w = 0\$,\s+" + N + r" at \$w = 1\$", _P04, _sweep04("1", 0)),
    _nb(A04, r"in the first unit of \$w\$\), " + N + r" at \$w = 2\$", _P04, _sweep04("2", 0)),
    _nb(A04, r", " + N + r" at \$w = 3\$ and \$w = 5\$", _P04, _sweep04("3", 0)),
    _nb(A04, r", " + N + r" at \$w = 3\$ and \$w = 5\$", _P04, _sweep04("5", 0)),
    _nb(A04, r"\s" + N + r" at \$w = 7\$; a student's", _P04, _sweep04("7", 0)),
    _nb(A04, r"faster host's CPU run \(" + N + " training steps\)", F04, _FSTEP04),
    _nb(A04, r"host's " + N + r"-step flower model of 2026-12-07", _P04, _STEP04),
    _nb(A04, r"peaked at " + N + r"% at \$w = 5\$", _P04, _flower04("5", 0), 100),
    _nb(A04, r"judged right " + N + r"% of the\s+time at \$w = 7\$, below", _P04, _flower04("7", 0), 100),
    _nb(A04, r"\(a \(32, 64\) model, " + N + r" steps\)", F04, _FSTEP04),
    _nb(A04, r"stopped the flower model at step " + N + ":", _P04, _STEP04),
    _nb(A04, r"at step \d+: " + N + r"% at \$w = 0\$", _P04, _flower04("0", 0), 100),
    _nb(A04, r"at step \d+: [\d.]+% at \$w = 0\$, " + N + r"% at \$w = 3\$", _P04, _flower04("3", 0), 100),
    _nb(A04, r"% at \$w = 3\$, " + N + r"% at \$w = 7\$, the", _P04, _flower04("7", 0), 100),
    # walkthrough 05
    *_W05_QUOTES,
)


# notebooks 04 and 05's own prose: both hosts' runs (2026-12-07's printed output for the slower one)
_P04N, _P05N = "cpu.runs.04_classifier_free_guidance.printed_2026_12_07", "cpu.runs.05_clip.printed_2026_12_07"
QUOTES += (
    _nb(NB04, r"measured: [\d.]+ s; " + N + " s on a machine half", "cpu.runs.04_classifier_free_guidance.seconds.1"),
    _nb(NB04, r"1500 steps, 3 to " + N + " minutes", _P04N, r"trained 1500 steps in (?P<v>\d+) s", 1 / 60),
    _nb(NB04, r"with " + N + " training steps in the 3-minute cap", "cpu.runs.04_classifier_free_guidance.produced",
        r"(?P<v>\d+) steps in its"),
    _nb(NB04, r"on a machine half as fast \(" + N + " steps\)", _P04N, r"at step (?P<v>\d+)/1000"),
    _nb(NB04, r"half as fast \(500 steps\) " + N + ",", _P04N, r"\[cell 40\]\s+0\s+(?P<v>[\d.]+)"),
    _nb(NB04, r"half as fast \(500 steps\) [\d.]+, " + N + " and", _P04N, r"\[cell 40\]\s+3\s+(?P<v>[\d.]+)"),
    _nb(NB04, r"half as fast \(500 steps\) [\d.]+, [\d.]+ and " + N + ";", _P04N, r"\[cell 40\]\s+7\s+(?P<v>[\d.]+)"),
    _nb(NB05, r"measured: [\d.]+ s; " + N + " s on a machine half", "cpu.runs.05_clip.seconds.1"),
    _nb(NB05, r"U-Net trained " + N + " of its 1500 steps", _P05N, r"at step (?P<v>\d+)/1500"),
    _nb(NB05, r"same time cap,\s*(?:\\n\",\s*\")?" + N + " % and", _P05N, r"retrieval prior (?P<v>\d+)%"),
    _nb(NB05, r"same time cap,\s*(?:\\n\",\s*\")?[\d.]+ % and " + N + " %\)", _P05N, r"text embedding (?P<v>\d+)% ->"),
)

NB06 = "autograder/source/06_assessment/06_assessment.ipynb"
QUOTES += (
    # notebook 06's time line: both hosts and the earlier GPU recipe
    _nb(NB06, r"2-core CPU \(measured " + N + " s, ", "cpu.runs.06_assessment.seconds.0"),
    _nb(NB06, r"measured [\d.]+ s, " + N + " s of it training;", _R06, r"3000 steps in (?P<v>\d+) s"),
    _nb(NB06, r"of it training; " + N + " s, ", "cpu.runs.06_assessment.seconds.1"),
    _nb(NB06, r"of it training; [\d.]+ s, " + N + " s of it", _T06, r"3000 steps in (?P<v>\d+) s"),
    _nb(NB06, r"on a GPU \(" + N + "–", "gpu.runs.06_assessment.seconds.0"),
    _nb(NB06, r"on a GPU \([\d.]+–" + N + " s for an earlier", "gpu.runs.06_assessment.seconds.1"),
    # notebook 05's guidance comment: bench.text_to_image's prior row (k = 16)
    _t2i(NB05, r"flower judge " + N + "% right at w = 3, ", 3, 3),
    _t2i(NB05, r"right at w = 3, " + N + "% at w = 6\)", 3, 6),
)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
