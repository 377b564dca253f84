"""``run --detail``: a text heat map per parameter, readable with or without colour.

A parameter larger than the window also gets an overview of the whole tensor in block maxima
(each cell the worst of its block); a network with more than ``errormap.DEEP`` parameters
gets one summary line per parameter and heat maps for ``errormap.FULL`` of them.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.console import Group
from rich.text import Text

from gradcheck.checks.report import Report
from gradcheck.core.compare import Comparison
from gradcheck.core.tolerance import RULE, Tolerance
from gradcheck.output.errormap import (
    BANDS,
    DEEP,
    FULL,
    NONFINITE_CHAR,
    NONFINITE_LABEL,
    Blocks,
    ErrorMap,
    band,
    block_maxima,
    error_map,
    peak,
    pick_full,
    pick_reason,
    ratios,
)

#: Colour per band (the characters carry the same information without colour).
BAND_STYLES = ("green", "green", "yellow", "dark_orange", "bold red", "bold magenta")
CHARS = (*(char for _, char, _ in BANDS), NONFINITE_CHAR)
MAX_ROWS = 24
#: Rows of the overview of a parameter larger than its window (one character per cell).
OVERVIEW_ROWS = 12
#: Every this many overview cells, the column index of the first element in the cell.
RULER_STEP = 10


def legend(report: Report) -> Text:
    """What a cell means, and every band's character."""
    return legend_for(report.settings.tolerance)


def legend_for(tol: Tolerance) -> Text:
    """``legend`` for a tolerance."""
    text = Text(
        f"Error maps: each cell is the verdict's ratio, |hand − autograd| (or the distance to the "
        f"interval of valid values, if nearer) / (atol + rtol·|autograd| + 4E) with "
        f"atol={tol.atol:g}, rtol={tol.rtol:g} and E each element's rounding bound "
        f"(pass: {RULE}).\n"
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
    text.append(_verdict(c), style="green" if c.passed else "red")
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


def _verdict(c: Comparison) -> str:
    if c.passed:
        return "✓"
    # Every element within tolerance, yet failing: the per-tensor norm rule failed it.
    return f"✗ {c.n_failed} out" if c.n_failed else "✗ norm rule"


def overview(m: ErrorMap, blocks: Blocks) -> Text:
    """The whole parameter in block maxima, one character per cell, the worst's cell marked,
    rows labelled and every tenth column numbered by the first element they hold."""
    (a, b), (n, cols) = blocks.block, blocks.full_shape
    per_cell = str(b) if m.is_vector else f"{a}×{b}"
    worst = blocks.cell(m.worst)
    n_rows, n_cells = blocks.grid.shape
    text = Text()
    text.append(
        f"  overview of all {n}×{cols}: each cell = max of {per_cell} elements", style="dim"
    )
    label = len(str((n_rows - 1) * a)) + 3  # "▶", the row, a space
    ruler = [" "] * n_cells
    for k in range(0, n_cells, RULER_STEP):
        mark = str(k * b)
        if len(mark) < RULER_STEP and k + len(mark) <= n_cells:
            ruler[k : k + len(mark)] = mark
    text.append("\n" + " " * label + " " * worst[1] + "▼")
    text.append("\n" + " " * label + "".join(ruler).rstrip())
    bands = band(blocks.grid)
    for r in range(n_rows):
        if m.is_vector:
            head = ("▶" if r == worst[0] else " ").ljust(label)
        else:
            head = ("▶" if r == worst[0] else " ") + str(r * a).rjust(label - 2) + " "
        text.append("\n" + head)
        # One span per run of equal cells: rich's cost grows with spans, and most cells of an
        # overview share a band.
        row = [(int(i), (r, k) == worst) for k, i in enumerate(bands[r])]
        for (i, is_worst), run in itertools.groupby(row):
            style = BAND_STYLES[i] + (" reverse" if is_worst else "")
            text.append(CHARS[i] * len(list(run)), style=style)
    return text


def summary(
    params: Sequence[Comparison], peaks: Sequence[float], shown: Sequence[int], width: int
) -> Text:
    """One line per parameter: band of its worst ratio, name, shape, worst ratio, verdict."""
    n_failing = sum(not c.passed for c in params)
    head = (
        f"{len(params)} parameter tensors (more than {DEEP}): one line each, {n_failing} "
        f"failing; heat maps below (◆) for {len(shown)}: {pick_reason(n_failing, len(shown))}."
    )
    text = Text(textwrap.fill(head, width=max(20, width)))
    shapes = ["×".join(map(str, c.shape)) for c in params]
    # "×" as in the heat maps' "2× the tolerance" (the doc tests read it as a ratio).
    ratios_ = [_fmt(p) + ("" if np.isnan(p) else "×") for p in peaks]
    shape_w = max(map(len, shapes))
    ratio_w = max(map(len, ratios_))
    verdict_w = max(len(_verdict(c)) for c in params)
    # "  █ " + name + " " + shape + "  " + ratio + "  " + verdict + " ◆"
    room = width - 4 - 1 - shape_w - 2 - ratio_w - 2 - verdict_w - 2
    name_w = max(8, min(room, max(len(c.label) for c in params)))
    bands = band(np.asarray(peaks, dtype=np.float64))
    for i, c in enumerate(params):
        name = c.label if len(c.label) <= name_w else c.label[: name_w - 1] + "…"
        b = int(bands[i])
        text.append("\n  ")
        text.append(CHARS[b], style=BAND_STYLES[b])
        text.append(
            f" {name.ljust(name_w)} {shapes[i].rjust(shape_w)}  {ratios_[i].rjust(ratio_w)}  "
        )
        text.append(_verdict(c).ljust(verdict_w), style="green" if c.passed else "red")
        if i in shown:
            text.append(" ◆")
    return text


def render_details(report: Report, width: int = 100) -> Group:
    """The legend and a heat map per parameter (a summary and a few maps for a deep network),
    each line fitting ``width`` columns."""
    return render_maps(report.parameters, report.settings.tolerance, width)


def render_maps(params: Sequence[Comparison], tolerance: Tolerance, width: int = 100) -> Group:
    """``render_details`` for any compared tensors (a layer's gradients)."""
    parts: list[Any] = [Text(""), legend_for(tolerance)]
    grids = [ratios(c) for c in params]
    shown: Sequence[int] = range(len(params))
    if len(params) > DEEP:
        peaks = [peak(g) for g in grids]
        shown = pick_full(params, peaks, FULL)
        parts += [Text(""), summary(params, peaks, shown, width)]
    for i in shown:
        c = params[i]
        n_cols = int(np.prod(c.shape[1:])) if len(c.shape) > 1 else int(np.prod(c.shape))
        cell = len(str(max(n_cols - 1, 0))) + 1
        label = len(str(max(c.shape[0] - 1, 0))) + 2
        max_cols = max(1, (width - label) // cell)
        m = error_map(c, max_rows=MAX_ROWS, max_cols=max_cols, full=grids[i])
        parts += [Text(""), heat_map(m)]
        if m.windowed:
            rows = grids[i].shape[0]
            # The overview's row labels are block starts, at most as wide as the last row's.
            ov_label = len(str(max(rows - 1, 0))) + 3
            blocks = block_maxima(grids[i], OVERVIEW_ROWS, max(1, width - ov_label))
            parts.append(overview(m, blocks))
    return Group(*parts)
