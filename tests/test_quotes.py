"""Every measured figure the documents quote agrees with the committed results file it comes
from (bench/quotes.py), and the check really catches a stale copy: an edited README, a changed
rounding and a vanished quote each fail it. Fast: reads text and JSON only."""
from __future__ import annotations

from bench import quotes


def test_every_quote_agrees_with_its_results_file():
    assert quotes.check() == []


def test_a_stale_quote_is_caught_on_an_edited_copy():
    readme = (quotes.REPO / "README.md").read_text()
    assert "**99.61%** (9,961 / 10,000)" in readme
    stale = readme.replace("**99.61%** (9,961 / 10,000)", "**99.71%** (9,961 / 10,000)")
    problems = quotes.check({"README.md": stale})
    assert problems == ["README.md: quotes 99.71 for helpers/weights/judges.json:mnist.test_accuracy, "
                        "the file says 99.61"]
    # a whole-number quote is judged at its own precision: 2,363 s for 2363.x s is right, 2,365 is not
    assert quotes.check({"README.md": readme.replace("seed 0, 2,363 s", "seed 0, 2,365 s")})[0].startswith(
        "README.md: quotes 2,365 for helpers/weights/judges.json:mnist.train_seconds")
    gone = quotes.check({"README.md": readme.replace("(real photos 85%)", "(real photos: most)")})
    assert len(gone) == 1 and "is gone" in gone[0] and "flowers.test_accuracy" in gone[0]


def test_precision_rule():
    assert quotes._agrees("85", 85.3448) and quotes._agrees("85.3", 85.3448) and quotes._agrees("85.34", 85.3448)
    assert not quotes._agrees("85.4", 85.3448) and not quotes._agrees("86", 85.3448)
    assert quotes._agrees("2,021", 2020.7) and not quotes._agrees("2,020", 2020.7)


def test_readme_tables_are_generated_from_the_folders_and_the_times_file():
    """The notebook and time tables of README.md are what bench.tables makes of the manifests and
    bench/reference/notebooks.json; an edited row is caught."""
    from autograder import assignments
    from bench import tables
    readme = (quotes.REPO / "README.md").read_text()
    generated = tables.tables()
    assert tables.render(readme, generated) == readme, "README tables are stale: python -m bench.tables --write"
    for a in assignments.discover():
        assert f"| `{a.id}` | {a.teaches} |" in generated["notebooks"]
        target = a.time_targets_s["full_cpu"]
        assert any(row.startswith(f"| {a.id} |") and row.endswith(f"| {target / 60:g} min |")
                   for row in generated["times-cpu"].splitlines()), a.id
    edited = readme.replace("| 01_unets | **76 s, 88 s** |", "| 01_unets | **70 s, 88 s** |")
    assert edited != readme and tables.render(edited, generated) == readme


def test_a_figure_inside_a_run_summary_is_checked_too():
    """Walkthrough figures tied to a number inside notebooks.json's run summaries ("3000 steps in
    192 s; ...") are compared like any other; a summary that no longer says it is reported."""
    w06 = (quotes.REPO / quotes.W06).read_text()
    assert "3000 steps in 192 s (15" in w06
    problems = quotes.check({quotes.W06: w06.replace("3000 steps in 192 s (15", "3000 steps in 182 s (15")})
    assert problems == [f"{quotes.W06}: quotes 182 for bench/reference/notebooks.json:cpu.runs.06_assessment.produced, "
                        "the file says 192"]
    w05 = (quotes.REPO / quotes.W05).read_text()
    assert quotes.check({quotes.W05: w05.replace("took 9.1–13.6 s", "took 5–13.6 s")}) == [
        f"{quotes.W05}: quotes 5 for bench/reference/text_encoder_load.json:load_text_encoder_s.min, the file says 9.07"]
    gone = quotes.Quote(quotes.W06, r"3000 steps in " + quotes.N, quotes.NOTEBOOKS, "cpu.runs.06_assessment.produced",
                        within=r"4000 steps in (?P<v>\d+) s")
    problems = quotes.check(quotes=(gone,))
    assert len(problems) == 1 and "has no value for the quote" in problems[0] and "4000 steps in" in problems[0]


def test_a_key_with_dots_is_resolved():
    """Results files key some values by a float written with a dot (``accuracy_by_w`` -> ``"3.0"``):
    a dotted quote key finds them by the longest matching run of its parts."""
    data = {"result": {"rows": [{"accuracy_by_w": {"0.0": 0.39, "3.0": 0.81}}], "a": {"b": 2}}}
    assert quotes._value(data, "result.rows.0.accuracy_by_w.3.0") == 0.81
    assert quotes._value(data, "result.a.b") == 2
    for missing in ("result.rows.0.accuracy_by_w.2.0", "result.a.c", "result.a.b.c"):
        try:
            quotes._value(data, missing)
        except KeyError:
            continue
        raise AssertionError(f"{missing} resolved")


def test_a_generated_block_in_a_walkthrough_is_checked():
    """The measured tables bench.tables renders into walkthroughs (DOC_BLOCKS) are what the adopted
    reference files give, and an edited row of walkthrough 04's conditioning table is caught."""
    from bench import tables
    blocks = tables.doc_blocks()
    for doc, generated in blocks.items():
        text = (quotes.REPO / doc).read_text()
        assert tables.render(text, generated) == text, f"{doc} is stale: python -m bench.tables --write"
    w04 = (quotes.REPO / quotes.W04).read_text()
    generated = blocks[quotes.W04]
    row = next(line for line in generated["conditioning"].splitlines() if line.startswith("| every level"))
    assert row in w04
    cells = row.split(" | ")
    edited = w04.replace(row, " | ".join(cells[:-1] + ["99% |"]))
    assert edited != w04 and tables.render(edited, generated) == w04


def test_the_last_quotes_defined_are_checked_too():
    """check() with no arguments covers every quote the module defines, including those appended
    after the function (it once took a default bound before them: the README's install sizes and
    test-suite times went unchecked)."""
    readme = (quotes.REPO / "README.md").read_text()
    assert "(31 wheels, 4.8 MiB)" in readme and "the load test, 78 s" in readme
    edited = readme.replace("(31 wheels, 4.8 MiB)", "(31 wheels, 4.9 MiB)").replace("the load test, 78 s",
                                                                                   "the load test, 68 s")
    problems = quotes.check({"README.md": edited})
    assert len(problems) == 2 and "device_whl_mib" in problems[0] + problems[1]
    assert quotes.QUOTES[-1] in quotes.QUOTES and len(quotes.QUOTES) > 600


def test_untied_lists_loose_figures_and_skips_tied_ones():
    """The reviewer's aid `python -m bench.quotes --untied DOC`: a tied figure is not listed, a loose
    one is (here on the real README: its install sizes are tied; its suite-time target, 30 min, is no
    measurement and no quote covers it, so it is listed for a reader to judge)."""
    lines = dict(quotes.untied("README.md"))
    text = "\n".join(lines.values())
    assert "[30 min]" in text                                  # "(target: 30 min)": loose
    assert "6.47 GB" not in text and "4.8 MiB" not in text and "[4 GB]" not in text   # tied by quotes
