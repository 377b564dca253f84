"""``run --plot``: the error maps as a PNG (matplotlib, Agg), bounded in size.

Uses ``matplotlib.figure.Figure`` with the Agg canvas directly, never pyplot, so no GUI
backend is touched and no global state changes.

At size: a panel draws at most ``MAX_CELLS × MAX_CELLS`` cells, each the maximum of its block
of elements (``errormap.block_maxima``), so the worst element stays visible; a network with
more than ``errormap.DEEP`` parameter tensors gets one summary panel (every tensor's worst
ratio, in layer order) and full panels for ``errormap.FULL`` of them; the image is never larger
than ``MAX_INCHES × MAX_INCHES`` at ``DPI`` (2400 × 2400 px).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.checks.report import Report
from gradcheck.core.compare import Comparison
from gradcheck.core.errors import GradcheckError
from gradcheck.output.errormap import (
    DEEP,
    FULL,
    band,
    block_maxima,
    peak,
    pick_full,
    pick_reason,
    ratios,
    worst_cell,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INSTALL_HINT = "pip install 'gradcheck[plot]'"
PANEL_LABEL = "gradcheck-panel"  # Axes.get_label() of each parameter's panel
SUMMARY_LABEL = "gradcheck-summary"  # Axes.get_label() of a deep network's summary panel

DPI = 100
#: Neither side of the image exceeds this (2400 px at DPI 100).
MAX_INCHES = 24.0
PANEL_INCHES = (4.2, 3.4)
SUMMARY_INCHES = 3.2  # the summary panel's height; it spans the figure's width
#: Cells per panel side. A panel's plotting area is about 300 × 230 px, so a cell covers at
#: least one pixel and nearest-neighbour drawing cannot drop a cell — resampling a full
#: 512 × 784 tensor instead would blur a single bad element away.
MAX_CELLS = 128
#: Bars in the summary; beyond it neighbouring tensors share a bar (their maximum), keeping
#: every bar at least three pixels wide.
SUMMARY_MAX_BARS = 300
#: Same bands as the text heat map: ≤1e-6, ≤1e-3, ≤0.1, ≤1, >1 (fails); then NaN/inf.
COLOURS = ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027")
NONFINITE_COLOUR = "#7b3294"
#: log10 of the ratio is drawn within ±LOG_LIMIT (a ratio of 0 sits at the bottom).
LOG_LIMIT = 20.0


def require_matplotlib() -> None:
    """Fail with the install command when the optional extra is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise GradcheckError(
            f"--plot: needs matplotlib, which is not installed; install it with: {INSTALL_HINT}"
        ) from None


def _log10(ratio: NDArray[np.float64]) -> NDArray[np.float64]:
    """log10 of ratios, 0 → −LOG_LIMIT, clipped to ±LOG_LIMIT; NaN stays NaN (drawn as bad)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(np.where(ratio == 0, 10.0**-LOG_LIMIT, ratio))
    return np.clip(logs, -LOG_LIMIT, LOG_LIMIT)


def figure(report: Report) -> Figure:
    """Heat-map panels coloured by log10 of the error ratio; a summary for deep networks."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.figure import Figure

    params = report.parameters
    grids = [ratios(c) for c in params]
    deep = len(params) > DEEP
    shown = pick_full(params, [peak(g) for g in grids], FULL) if deep else range(len(params))
    n_cols = 3 if deep else max(1, min(3, len(params)))
    n_rows = math.ceil(len(shown) / n_cols)
    width = PANEL_INCHES[0] * n_cols
    height = PANEL_INCHES[1] * n_rows + (SUMMARY_INCHES if deep else 0.0)
    fig = Figure(
        figsize=(min(width, MAX_INCHES), min(height, MAX_INCHES)), dpi=DPI, layout="constrained"
    )
    FigureCanvasAgg(fig)
    cmap = ListedColormap(list(COLOURS)).with_extremes(bad=NONFINITE_COLOUR)
    norm = BoundaryNorm([-LOG_LIMIT, -6.0, -3.0, -1.0, 0.0, LOG_LIMIT], cmap.N)
    row_heights = [SUMMARY_INCHES / PANEL_INCHES[1]] * deep + [1.0] * n_rows
    grid_spec = fig.add_gridspec(n_rows + deep, n_cols, height_ratios=row_heights)
    if deep:
        ax = fig.add_subplot(grid_spec[0, :], label=SUMMARY_LABEL)
        _summary(ax, params, [peak(g) for g in grids], list(shown))
    image = None
    for k, i in enumerate(shown):
        ax = fig.add_subplot(
            grid_spec[deep + k // n_cols, k % n_cols], label=f"{PANEL_LABEL}:{params[i].name}"
        )
        image = _panel(ax, params[i], grids[i], cmap, norm)
    if image is not None:
        bar = fig.colorbar(image, ax=fig.axes, shrink=0.8, label="log10(|Δ| / tolerance)")
        bar.set_ticks([-6.0, -3.0, -1.0, 0.0])
    tol = report.settings.tolerance
    fig.suptitle(
        f"gradcheck: |hand − autograd| / (atol + rtol·|autograd| + 4E), atol={tol.atol:g}, "
        f"rtol={tol.rtol:g}, E the rounding bound · {_describe(report)} · ■ worst element",
        fontsize=10,
        wrap=True,
    )
    return fig


def _describe(report: Report) -> str:
    """The network in a line: a deep one's layer sizes elided (2→8→8→…→8→1, 301 layers)."""
    return report.settings.spec.brief()


def _panel(ax: Axes, c: Comparison, grid: NDArray[np.float64], cmap: Any, norm: Any) -> Any:
    """One parameter's map, block maxima beyond MAX_CELLS, in element coordinates."""
    from matplotlib.ticker import MaxNLocator

    blocks = block_maxima(grid, MAX_CELLS, MAX_CELLS)
    (a, b), (n, m) = blocks.block, blocks.full_shape
    rows, cols = blocks.grid.shape
    # The extent puts cell (i, j) over elements [i·a, (i+1)·a) × [j·b, (j+1)·b), so the axes
    # count elements whatever the block; the limits cut the padding off the last blocks.
    image = ax.imshow(
        _log10(blocks.grid),
        cmap=cmap,
        norm=norm,
        aspect="auto",
        interpolation="nearest",
        extent=(-0.5, cols * b - 0.5, rows * a - 0.5, -0.5),
    )
    ax.set_xlim(-0.5, m - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    # The marker boxes the worst element's cell (its block when downsampled).
    (r0, r1), (c0, c1) = blocks.span(blocks.cell(worst_cell(c, (n, m))))
    ax.scatter(
        [(c0 + c1 - 1) / 2],
        [(r0 + r1 - 1) / 2],
        marker="s",
        s=80,
        facecolors="none",
        edgecolors="k",
    )
    status = "ok" if c.passed else f"FAIL ({c.n_failed})"
    title = f"{c.name} · {c.torch_name} {list(c.shape)}: {status}"
    if blocks.downsampled:
        per_cell = f"{a}×{b}" if a > 1 else str(b)
        title += f"\nblock maxima: each cell = max of {per_cell} elements"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("input index" if len(c.shape) > 1 else "unit", fontsize=8)
    ax.set_ylabel("output unit" if len(c.shape) > 1 else "", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(c.shape) < 2:
        ax.set_yticks([])
    elif n == 1:
        ax.set_yticks([0])  # MaxNLocator would fall back to ticks at ±0.5 steps
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return image


def _summary(
    ax: Axes, params: Sequence[Comparison], peaks: Sequence[float], shown: list[int]
) -> None:
    """Every tensor's worst ratio as a bar (log10, band colours) in layer order, failing ones
    marked ▼, the ones with a full panel ▲."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    n = len(params)
    # Neighbours share a bar beyond SUMMARY_MAX_BARS: the maximum, NaN first, any failure.
    worst = block_maxima(np.asarray(peaks, dtype=np.float64).reshape(1, -1), 1, SUMMARY_MAX_BARS)
    failing = np.array([not c.passed for c in params], dtype=np.float64).reshape(1, -1)
    fails = block_maxima(failing, 1, SUMMARY_MAX_BARS).grid[0] > 0
    values = worst.grid[0]
    k = worst.block[1]
    starts = np.arange(values.size) * k
    stops = np.minimum(starts + k, n)
    centres = (starts + stops - 1) / 2
    logs = _log10(values)
    finite = logs[~np.isnan(logs)]
    bottom = max(-LOG_LIMIT, min(-7.0, math.floor(float(finite.min())) if finite.size else 0.0))
    top = min(LOG_LIMIT, max(1.0, math.ceil(float(finite.max())) if finite.size else 0.0)) + 0.5
    heights = np.where(np.isnan(logs), top, logs) - bottom
    palette = [*COLOURS, NONFINITE_COLOUR]
    colours = [palette[int(i)] for i in band(values)]
    ax.bar(centres, heights, width=(stops - starts) * 0.8, bottom=bottom, color=colours)
    for level in (-6.0, -3.0, -1.0):
        ax.axhline(level, color="0.8", linewidth=0.6, zorder=0)
    ax.axhline(0.0, color="k", linewidth=0.8, linestyle="--")
    if fails.any():
        mark = np.full(int(fails.sum()), top + 0.5)  # above the NaN bars, which reach the top
        ax.scatter(centres[fails], mark, marker="v", color="k", s=18)
    # Names would overlap where full panels are neighbours; the panels carry the names.
    full = sorted({i // k for i in shown})
    ax.scatter(
        centres[full], np.full(len(full), bottom), marker="^", color="k", s=18, clip_on=False
    )
    ax.set_ylim(bottom, top + 1.0)
    ax.set_xlim(-0.5 - 0.1 * k, n - 0.5 + 0.1 * k)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _: params[int(x)].name if 0 <= int(x) < n else "")
    )
    ax.tick_params(labelsize=7)
    ax.set_ylabel("log10 worst |Δ| / tolerance", fontsize=8)
    n_failing = sum(not c.passed for c in params)
    grouped = f"; each bar = max of {k} neighbouring tensors" if k > 1 else ""
    ax.set_title(
        f"summary: all {n} parameter tensors in layer order, {n_failing} failing (▼){grouped}\n"
        f"full panels below for {len(shown)} (▲): {pick_reason(n_failing, len(shown))}",
        fontsize=9,
    )


def panels(fig: Figure) -> list[str]:
    """Names of the parameters that have a full panel in ``fig``."""
    labels = [str(ax.get_label()) for ax in fig.axes]
    return [label.split(":", 1)[1] for label in labels if label.startswith(PANEL_LABEL + ":")]


def summary_panel(fig: Figure) -> Axes | None:
    """The deep network's summary panel, or None (a network drawn panel by panel)."""
    return next((ax for ax in fig.axes if ax.get_label() == SUMMARY_LABEL), None)


def to_png(report: Report) -> bytes:
    """The figure as PNG bytes, so the caller can write it atomically."""
    buffer = io.BytesIO()
    figure(report).savefig(buffer, format="png")
    return buffer.getvalue()
