"""tests/symptoms.py, the matcher every walkthrough's symptom tests use, on hand-made text."""
from symptoms import Symptom, found, problems, raised, table_quotes


def test_a_quote_with_a_gap_matches_its_pieces_in_order_on_one_line():
    line = "✗ conv_out_size(28, 3, 1, 1) (a 3x3 conv with padding 1 keeps 28x28): got 27, expected 28"
    assert found("conv_out_size(28, 3, 1, 1) … got 27, expected 28", line)
    assert not found("got 27, expected 28 … conv_out_size(28, 3, 1, 1)", line)   # order matters
    assert not found("conv_out_size(28, 3, 1, 1) … got 27", "conv_out_size(28, 3, 1, 1)\ngot 27")  # one line
    assert found("a  wrapped\n quote", "a wrapped quote")                           # whitespace collapsed


def test_failing_quotes_only_match_lines_marked_as_failed():
    out = "✓ shape (B, 1): got (8, 1)\n✗ kept fraction: got 0.1, expected 0.9"
    assert found("shape (B, 1)", out) and not found("shape (B, 1)", out, failing=True)
    assert found("kept fraction", out, failing=True)


def test_problems_names_a_missing_quote_and_a_stale_one():
    doc = "| mistake | symptom |\n|---|---|\n| no +1 | `got 27, expected 28` |\n"
    good = Symptom("no +1", "got 27, expected 28", lambda: "✗ x: got 27, expected 28")
    assert problems(doc, [good]) == []
    stale = Symptom("no +1", "got 27, expected 28", lambda: "✗ x: got 26, expected 28")
    assert "does not print it" in problems(doc, [stale])[0]
    gone = Symptom("no +1", "got 25, expected 28", lambda: "")
    assert "no longer quotes" in problems(doc, [gone])[0]


def test_table_quotes_takes_verdicts_from_the_symptom_column_only():
    doc = ("| mistake | symptom |\n|---|---|\n"
           "| `x / 2` | `got 5.333, expected 5`; the `[1, 32]` aside is no verdict |\n"
           "| `raise ValueError` in `f` | `ValueError: bad` |\n\nnot a table `got 1, expected 2`\n")
    assert table_quotes(doc) == ["got 5.333, expected 5", "ValueError: bad"]


def test_raised_gives_the_last_line_a_notebook_shows():
    assert raised(lambda: 1 / 0) == "ZeroDivisionError: division by zero"
    assert raised(lambda: None) == ""
