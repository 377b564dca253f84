"""The doc-output comparison of tests/contracts/test_docs.py can fail: what it must catch,
what it allows."""

from __future__ import annotations

import subprocess

import pytest

from tests.contracts.test_docs import examples, line_agrees, matches, shows

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
        ("-8.797234e-02 │", "-8.798114e-02 │"),  # a failing row's value, 1e-4 relative
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
        ("-8.797234e-02 │", "-8.797274e-02 │"),  # seeded weights' float32 rounding, amplified
        ("│   -1.277837e-02 │", "│   -1.277581e-02 │"),  # a passing row's worst: 2e-4
    ],
)
def test_a_difference_of_rounding_or_layout_passes(old: str, new: str) -> None:
    assert matches(changed(old, new), TABLE)


def test_the_worst_value_must_agree_when_the_worst_element_is_the_same() -> None:
    text = changed("│   -1.277837e-02 │", "│    2.172195e-02 │")
    assert not matches(text, TABLE)


def test_the_width_a_folded_table_needs_is_a_wildcard() -> None:
    line = "folded to fit 160 columns (the full table needs 165): not shown: values"
    assert line_agrees(line.replace("165", "164"), line)
    assert not line_agrees(line.replace("160", "150"), line)


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
    nested = tmp_path / "list.md"
    nested.write_text("- an item:\n\n  ```console\n  $ gradcheck run\n  FAILED: 1\n  ```\n")
    (c,) = examples(nested)
    assert (c.command, c.expected, c.indent) == ("gradcheck run", "FAILED: 1", "  ")


def test_a_changed_exit_code_fails(tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "page.md"
    doc.write_text("```console\n$ gradcheck run\nFAILED: 1 of 6\n$ echo $?\n1\n```\n")
    (example,) = examples(doc)
    printed = subprocess.CompletedProcess("gradcheck run", 1, "FAILED: 1 of 6\n", "")
    assert shows(example, printed)
    assert not shows(example, subprocess.CompletedProcess("gradcheck run", 0, printed.stdout, ""))
    assert not shows(example, subprocess.CompletedProcess("gradcheck run", 1, "PASSED: all\n", ""))


PROBE = "probe1: batch 2 · ✓ passed · worst W3: max abs err 2.2e-16, max rel err 2.2e-16, " + (
    "norm err 1.4e-16"
)
FAILING_PROBE = "probe1: batch 2 · ✗ failed · worst W2: max abs err 1.9e-01, " + (
    "max rel err 2.2e+00, norm err 1.4e+00"
)


def test_a_passing_probe_line_ties_on_the_worst_name_and_its_errors() -> None:
    other = PROBE.replace("W3", "b3").replace("rel err 2.2e-16", "rel err 2.0e-16")
    other = other.replace("norm err 1.4e-16", "norm err 5.9e-17")
    assert line_agrees(other, PROBE)
    assert not line_agrees(PROBE.replace("batch 2", "batch 3"), PROBE)
    assert not line_agrees(PROBE.replace("✓ passed", "✗ failed"), PROBE)
    assert not line_agrees(FAILING_PROBE.replace("worst W2", "worst b2"), FAILING_PROBE)
    assert not line_agrees(
        FAILING_PROBE.replace("norm err 1.4e+00", "norm err 1.1e+00"), FAILING_PROBE
    )


def test_whole_numbers_are_equal_and_values_agree_to_their_line() -> None:
    vector = "     hand     [-0.3232964, -0.04740986, 0.001301955, -0.1267482]"
    cancelled = vector.replace("0.001301955", "0.001301948").replace("-0.04740986", "-0.04740989")
    assert line_agrees(cancelled, vector)  # 7e-9 of a vector whose largest element is 0.32
    assert not line_agrees("value 0.001301825", "value 0.001301955")  # alone: 1e-4 of itself
    assert line_agrees("value 0.001301948", "value 0.001301955")  # 5e-6: the seeds' rounding
    assert not line_agrees(vector.replace("-0.1267482", "-0.1268482"), vector)
    assert not line_agrees("batch 3 · 10,000 cases", "batch 3 · 10,001 cases")
    assert not line_agrees("✗ 4 out", "✗ 5 out")  # a count outside a map of rounding noise


MAP = """\
W2 · dense.2.weight  10×10  ✗ 27 out
  worst [9, 7]: 2.6× the tolerance, |Δ| 7.5e-09
                  ▼
    0 1 2
  0 █ · ▓
▶ 1 ▓ █ █
"""
CAPTION32 = "float32 · weights samples/seed_weights.npz · target [0.523277]\n"


def test_a_heat_map_of_rounding_noise_keeps_its_shape_not_its_cells() -> None:
    other = """\
W2 · dense.2.weight  10×10  ✗ 31 out
  worst [2, 1]: 3.1× the tolerance, |Δ| 1.1e-08
      ▼
    0 1 2
▶ 0 █ █ ·
  1 · ▓ █
"""
    assert matches(CAPTION32 + other, CAPTION32 + MAP)
    assert not matches(CAPTION32 + other.replace("✗ 31 out", "✓"), CAPTION32 + MAP)
    assert not matches(CAPTION32 + other.replace("10×10", "10×11"), CAPTION32 + MAP)
    assert not matches(CAPTION32 + other.replace("  1 · ▓ █\n", "  1 · ▓\n"), CAPTION32 + MAP)
    # float64 rounding is far below 7.5e-09: there the same map is a real difference
    assert not matches(other, MAP)
    # and a map of a bug keeps its counts and cells
    bug = MAP.replace("|Δ| 7.5e-09", "|Δ| 1.9e-01")
    assert not matches(CAPTION32 + bug.replace("27 out", "28 out"), CAPTION32 + bug)
    assert not matches(CAPTION32 + bug.replace("▶ 1 ▓", "▶ 1 █"), CAPTION32 + bug)


def test_float32_rounding_is_noise_in_a_float32_example_only() -> None:
    noisy = TABLE.replace(
        "│     1.9e-09 │     2.0e-07 │ [3,0] │ ✓  │", "│     1.9e-09 │     2.0e-07 │ [3,0] │ ✗  │"
    )
    moved = noisy.replace("1.9e-09", "3.8e-09")
    float32 = noisy.replace("float64 · seed 0", "float32 · seed 0")
    assert matches(moved.replace("float64 · seed 0", "float32 · seed 0"), float32)
    assert not matches(moved, noisy)


SWEEP_END = """\
PASSED: 10,000 of 10,000 cases within tolerance (100.00%)
worst case: seed 4996 (error ratio 8e-07); rerun it alone with:
  gradcheck run --x 0.08494624823436836 0.5719431847312633 --target 0.39064017419885844 --seed 4996
"""


def test_a_tied_worst_case_of_a_sweep_is_a_wildcard_with_its_command() -> None:
    other = """\
PASSED: 10,000 of 10,000 cases within tolerance (100.00%)
worst case: seed 9488 (error ratio 1.2e-07); rerun it alone with:
  gradcheck run --x 0.2341252894049335 -0.669913463564044 --target 0.1975774676657811 --seed 9488
"""
    assert matches(other, SWEEP_END)
    assert matches(other.replace("1.2e-07", "0.03"), SWEEP_END)  # within tolerance: a tie
    assert not matches(other.replace("1.2e-07", "1.5"), SWEEP_END)
    failing = SWEEP_END.replace("8e-07", "2.3e+06").replace("PASSED: 10,000 of", "FAILED: 1 of")
    assert not matches(failing.replace("seed 4996", "seed 4997"), failing)
    assert not matches(other.replace("gradcheck run", "gradcheck sweep"), SWEEP_END)
