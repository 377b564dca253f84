"""The doc-output comparison of tests/contracts/test_docs.py can fail: what it must catch,
what it allows."""

from __future__ import annotations

import pytest

from tests.contracts.test_docs import examples, line_agrees, matches

TABLE = """\
                  gradcheck: autograd vs hand-derived · 2→10→10→1 sigmoid, mse · batch 1
┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━┳━━━━━━━━━━━━━┳━━━━━━━┳━━━━┓
┃ quantity            ┃ autograd[worst] ┃   hand[worst] ┃ max abs err ┃ max rel err ┃ worst ┃ ok ┃
┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━╇━━━━━━━━━━━━━╇━━━━━━━╇━━━━┩
│ prediction          │   -2.803419e-01 │ -2.803419e-01 │     5.6e-17 │     2.0e-16 │ [0,0] │ ✓  │
│ W1 · dense.0.weight │   -1.277837e-02 │ -1.277837e-02 │     1.9e-09 │     2.0e-07 │ [3,0] │ ✓  │
│ W2 · dense.2.weight │   -8.797234e-02 │  1.031093e-01 │     1.9e-01 │     1.0e+02 │ [0,4] │ ✗  │
└─────────────────────┴─────────────────┴───────────────┴─────────────┴─────────────┴───────┴────┘
float64 · seed 0 · target [1]
pass: |hand − autograd| ≤ atol + rtol·|autograd|, atol=1e-07, rtol=1e-07
FAILED: 2 of 11 out of tolerance: W2, delta2
"""


def changed(old: str, new: str, text: str = TABLE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_the_same_text_passes() -> None:
    assert matches(TABLE, TABLE)


def test_trailing_spaces_and_padding_do_not_matter() -> None:
    padded = "\n".join(line + "   " for line in TABLE.splitlines())
    assert matches(padded, TABLE)
    wider = changed("│ prediction  ", "│ prediction       ").replace("━━━━┓", "━━━━━━━━┓")
    assert matches(wider, TABLE)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("PASSED", "PASSED"),  # placeholder replaced below: verdict
        ("FAILED: 2 of 11", "FAILED: 3 of 11"),
        ("W2, delta2", "W2, delta1"),
        ("│ ✗  │", "│ ✓  │"),
        ("sigmoid, mse", "sigmoid, l1"),
        ("seed 0", "seed 1"),
        ("-2.803419e-01 │ -2.803419e-01", "-2.806223e-01 │ -2.803419e-01"),  # 1e-3 relative
        ("1.9e-01", "1.5e-01"),  # a failing row's error is no rounding noise
        ("atol=1e-07", "atol=1e-06"),
    ],
)
def test_a_change_that_matters_fails(old: str, new: str) -> None:
    if old == "PASSED":
        text = changed("FAILED: 2 of 11 out of tolerance: W2, delta2", "PASSED: all 11 checks")
    else:
        text = changed(old, new)
    assert not matches(text, TABLE)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("W2, delta2", "delta2, W2"),  # the names of a FAILED line are a set
        ("│     5.6e-17 │     2.0e-16 │", "│           0 │     4.4e-16 │"),  # float64 rounding
        ("│     1.9e-09 │     2.0e-07 │", "│     3.7e-09 │     1.1e-07 │"),  # float32, in tolerance
        ("│ [0,0] │", "│ [0,1] │"),  # a tie in the worst index
        (  # another tied worst element: its values differ with it
            "│   -1.277837e-02 │ -1.277837e-02 │     1.9e-09 │     2.0e-07 │ [3,0] │",
            "│    2.172195e-02 │  2.172195e-02 │     1.9e-09 │     2.0e-07 │ [4,0] │",
        ),
        ("-8.797234e-02", "-8.797234e-2"),  # the same number written otherwise
    ],
)
def test_a_difference_of_rounding_or_layout_passes(old: str, new: str) -> None:
    assert matches(changed(old, new), TABLE)


def test_the_worst_value_must_agree_when_the_worst_element_is_the_same() -> None:
    text = changed("│   -1.277837e-02 │", "│    2.172195e-02 │")
    assert not matches(text, TABLE)


def test_error_sized_numbers_outside_a_table() -> None:
    line = "error    max abs 5.6e-17, max rel 2.0e-16, 4.3e-10× the tolerance at [0, 0] ✓ within"
    assert line_agrees(line.replace("4.3e-10×", "8.6e-10×").replace("[0, 0]", "[0, 3]"), line)
    assert not line_agrees(line.replace("✓ within", "✗ out"), line)
    ratio = "worst case: seed 5 (error ratio 2.3e+06); rerun it alone with:"
    assert not line_agrees(ratio.replace("2.3e+06", "4.6e+06"), ratio)
    assert line_agrees('"max_abs_error": 0.0,', '"max_abs_error": 5.551115123125783e-17,')
    assert not line_agrees('"max_abs_error": 0.1,', '"max_abs_error": 5.551115123125783e-17,')
    assert not line_agrees('"n_failed": 1,', '"n_failed": 0,')
    # an index that is a value, not a worst element, is compared
    assert not line_agrees("float64 · seed 0 · target [2]", "float64 · seed 0 · target [1]")


def test_excerpts() -> None:
    excerpt = (
        "…\n"
        + "\n".join(TABLE.splitlines()[4:6])
        + "\n…\nFAILED: 2 of 11 out of tolerance: W2, delta2"
    )
    assert matches(TABLE, excerpt)
    assert not matches(changed("│ W1 ·", "│ W4 ·"), excerpt)
    assert matches(TABLE, "…")
    assert not matches(TABLE, "…\nPASSED: all 11 checks within tolerance")
    assert not matches(TABLE + "one more line\n", TABLE)


def test_examples_read_commands_codes_and_continued_quotes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "page.md"
    doc.write_text(
        "```console\n$ gradcheck run --x 1 2\nline one\n$ echo $?\n1\n"
        '$ python -c "\nprint(3)\n"\n3\n```\n\n```sh\n$ gradcheck not run\n```\n'
    )
    (a, b) = examples(doc)
    assert (a.command, a.expected, a.code) == ("gradcheck run --x 1 2", "line one", 1)
    assert (b.command, b.expected, b.code) == ('python -c "\nprint(3)\n"', "3", None)
