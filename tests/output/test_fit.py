"""Tables that fit: at 60 and 80 columns every row keeps its verdict and errors; no padding."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import invoke

VERDICT = re.compile(r"[✓✗]")
ERR = r"(?:0|\d\.\de[+-]\d\d|nan|inf)"


def _lines(out: str, width: int) -> list[str]:
    lines = out.splitlines()
    assert lines, "nothing printed"
    for line in lines:
        assert len(line) <= width, (width, len(line), line)
        assert line == line.rstrip(), f"trailing padding: {line!r}"
    return lines


def _rows(lines: list[str], names: list[str]) -> dict[str, str]:
    """The table row of each quantity (its first cell is the name, possibly folded)."""
    rows = {}
    for name in names:
        found = [ln for ln in lines if re.match(rf"^[│ ]\s*{re.escape(name)}(\s|·|$)", ln)]
        assert found, (name, "\n".join(lines))
        rows[name] = found[0]
    return rows


@pytest.mark.parametrize("width", [60, 80, 200])
@pytest.mark.parametrize(
    "extra",
    [(), ("--oracle", "central"), ("--impl", "samples/backward_buggy.py:backward")],
)
def test_run_table_keeps_verdict_and_errors_at_every_width(
    width: int, extra: tuple[str, ...]
) -> None:
    args = ("run", "--x", "0.974", "0.312", *extra)
    doc = json.loads(invoke(*args, "--json").stdout)
    result = invoke(*args, env={"COLUMNS": str(width)})
    assert result.exit_code == doc["exit_code"] if "exit_code" in doc else True
    lines = _lines(result.stdout, width)
    names = [p["name"] for p in doc["parameters"]]
    if "--impl" not in extra:
        names = ["prediction", "loss", *names]
    for name, row in _rows(lines, names).items():
        p = next((p for p in doc["parameters"] if p["name"] == name), None)
        cells = re.findall(rf"(?<![\w.-]){ERR}(?![\w.])", row)
        assert len(cells) >= 2, (name, row)  # max abs and max rel error
        marks = VERDICT.findall(row)
        expected = 2 if "--oracle" in extra and p is not None else 1
        assert len(marks) == expected, (name, row)
        if p is not None:
            assert marks[0] == ("✓" if p["passed"] else "✗"), row
    if width < 200:
        assert f"folded to fit {width} columns" in result.stdout
    else:
        assert "folded" not in result.stdout
        assert "dense.0.weight" in result.stdout


@pytest.mark.parametrize("width", [60, 80])
def test_directional_oracle_table_fits(width: int) -> None:
    result = invoke(
        "run", "--x", "0.974", "0.312", "--oracle", "directional", env={"COLUMNS": str(width)}
    )
    lines = _lines(result.stdout, width)
    v_rows = [ln for ln in lines if re.match(r"^[│ ]\s*v\d+\s", ln)]
    assert v_rows and all(len(VERDICT.findall(r)) == 1 for r in v_rows)


@pytest.mark.parametrize("width", [60, 80])
def test_explain_fits_and_keeps_every_verdict(width: int) -> None:
    doc = json.loads(invoke("explain", "--x", "0.974", "0.312", "--json").stdout)
    result = invoke("explain", "--x", "0.974", "0.312", env={"COLUMNS": str(width)})
    lines = _lines(result.stdout, width)
    verdicts = [ln for ln in lines if re.search(r"error\s+(✓ within|✗ OUT OF TOLERANCE)", ln)]
    checked = [s for s in doc["steps"] if s.get("autograd") is not None]
    assert len(verdicts) == len(checked) > 0


@pytest.mark.parametrize("width", [60, 80])
def test_sweep_table_fits(width: int) -> None:
    args = ("sweep", "--cases", "5", "--layers", "2,3,1")
    result = invoke(*args, env={"COLUMNS": str(width)})
    # the rerun command is printed unwrapped so it stays copy-pasteable
    *table, rerun = result.stdout.splitlines()
    assert rerun.startswith("  gradcheck run --x ")
    lines = _lines("\n".join(table), width)
    rows = _rows(lines, ["prediction", "loss", "W1", "b1", "W2", "b2"])
    for row in rows.values():
        assert len(VERDICT.findall(row)) == 1 and re.search(ERR, row), row


@pytest.mark.parametrize("columns", ["0", "-3", "abc", "100000", ""])
def test_absurd_columns_fall_back_to_a_sane_width(columns: str) -> None:
    result = invoke("run", "--x", "0.974", "0.312", env={"COLUMNS": columns})
    assert result.exit_code == 0
    lines = _lines(result.stdout, 160)
    assert "PASSED" in result.stdout and "dense.0.weight" in result.stdout
    assert max(map(len, lines)) > 60


def test_warnings_wrap_under_themselves_and_explain_prints_sentences() -> None:
    for command in ("run", "explain"):
        out = invoke(command, "--x", "1e300", "1", env={"COLUMNS": "60"}).stdout
        _lines(out, 60)
        assert "Notice(" not in out
        assert "warning: layer 1: 10 of 10 units saturated for every sample" in out
        text = out[out.index("warning: layer 1") :]
        # continuation lines are indented under the message, words are never cut
        first = text.splitlines()[1]
        assert first.startswith(" " * len("warning: ")), first
