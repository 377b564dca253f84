"""``run --detail``: a text heat map per parameter, readable with or without colour."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Group
from rich.text import Text

from gradcheck.checks.report import Report
from gradcheck.core.tolerance import RULE
from gradcheck.output.errormap import (
    BANDS,
    NONFINITE_CHAR,
    NONFINITE_LABEL,
    ErrorMap,
    band,
    error_map,
)

#: Colour per band (the characters carry the same information without colour).
BAND_STYLES = ("green", "green", "yellow", "dark_orange", "bold red", "bold magenta")
CHARS = (*(char for _, char, _ in BANDS), NONFINITE_CHAR)
MAX_ROWS = 24


def legend(report: Report) -> Text:
    """What a cell means, and every band's character."""
    tol = report.settings.tolerance
    text = Text(
        f"Error maps: each cell is |hand − autograd| / (atol + rtol·|autograd|) with "
        f"atol={tol.atol:g}, rtol={tol.rtol:g} (pass: {RULE}).\n"
    )
    entries = [(char, label) for _, char, label in BANDS] + [(NONFINITE_CHAR, NONFINITE_LABEL)]
    # Three short entries per line, so the legend stays whole on an 80-column terminal.
    for i, (char, label) in enumerate(entries):
        text.append("  " if i % 3 else ("\n" if i else ""))
        text.append(char, style=BAND_STYLES[i])
        text.append(f" {label}")
    text.append("\n▶ and ▼ mark the row and column of the worst element.")
    return text


def _fmt(value: float) -> str:
    if np.isnan(value):
        return "NaN/inf"
    return "0" if value == 0 else f"{value:.2g}"


def heat_map(m: ErrorMap) -> Text:
    """One parameter: a heading, column indices, then one line per row of the window."""
    c = m.comparison
    shape = "×".join(map(str, c.shape))
    worst_index = list(c.worst_index)
    worst_ratio = float(m.grid[m.worst[0] - m.rows[0], m.worst[1] - m.cols[0]])
    text = Text()
    text.append(f"{c.label}  {shape}  ", style="bold")
    text.append("✓" if c.passed else f"✗ {c.n_failed} out", style="green" if c.passed else "red")
    text.append(
        f"\n  worst {worst_index}: {_fmt(worst_ratio)}× the tolerance, |Δ| {_fmt(c.max_abs_error)}"
    )
    if m.windowed:
        text.append(
            f"\n  window: rows {m.rows[0]}–{m.rows[1] - 1}, columns {m.cols[0]}–{m.cols[1] - 1} "
            f"of {m.full_shape[0]}×{m.full_shape[1]}, around the worst",
            style="dim",
        )
    cell = len(str(m.cols[1] - 1)) + 1
    label = len(str(m.rows[1] - 1)) + 2
    col_range = range(m.cols[0], m.cols[1])
    marker = "".join(("▼" if j == m.worst[1] else " ").rjust(cell) for j in col_range)
    text.append("\n" + " " * label + marker)
    text.append("\n" + " " * label + "".join(str(j).rjust(cell) for j in col_range))
    bands = band(m.grid)
    for r in range(m.grid.shape[0]):
        row = m.rows[0] + r
        if m.is_vector:
            head = ("▶ " if row == m.worst[0] else "  ").ljust(label)
        else:
            head = ("▶" if row == m.worst[0] else " ") + str(row).rjust(label - 1)
        text.append("\n" + head)
        for k in range(m.grid.shape[1]):
            b = int(bands[r, k])
            is_worst = (row, m.cols[0] + k) == m.worst
            style = BAND_STYLES[b] + (" reverse" if is_worst else "")
            text.append(" " * (cell - 1))
            text.append(CHARS[b], style=style)
    return text


def render_details(report: Report, width: int = 100) -> Group:
    """The legend and one heat map per parameter, each window fitting ``width`` columns."""
    parts: list[Any] = [Text(""), legend(report)]
    for c in report.parameters:
        n_cols = int(np.prod(c.shape[1:])) if len(c.shape) > 1 else int(np.prod(c.shape))
        cell = len(str(max(n_cols - 1, 0))) + 1
        label = len(str(max(c.shape[0] - 1, 0))) + 2
        max_cols = max(1, (width - label) // cell)
        parts.append(Text(""))
        parts.append(heat_map(error_map(c, max_rows=MAX_ROWS, max_cols=max_cols)))
    return Group(*parts)
