"""``run --plot``: the error maps as a PNG, one panel per parameter (matplotlib, Agg).

Uses ``matplotlib.figure.Figure`` with the Agg canvas directly, never pyplot, so no GUI
backend is touched and no global state changes.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import numpy as np

from gradcheck.checks.report import Report
from gradcheck.core.errors import GradcheckError
from gradcheck.output.errormap import ratios

if TYPE_CHECKING:
    from matplotlib.figure import Figure

INSTALL_HINT = "pip install 'gradcheck[plot]'"
PANEL_LABEL = "gradcheck-panel"  # Axes.get_label() of each parameter's panel


def require_matplotlib() -> None:
    """Fail with the install command when the optional extra is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise GradcheckError(
            f"--plot: needs matplotlib, which is not installed; install it with: {INSTALL_HINT}"
        ) from None


def figure(report: Report) -> Figure:
    """One heat-map panel per parameter, coloured by log10 of the error ratio."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    params = report.parameters
    n_cols = min(3, len(params))
    n_rows = math.ceil(len(params) / n_cols)
    fig = Figure(figsize=(4.2 * n_cols, 3.4 * n_rows), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    # Same bands as the text heat map: ≤1e-6, ≤1e-3, ≤0.1, ≤1, >1 (fails).
    cmap = ListedColormap(["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"]).with_extremes(
        bad="#7b3294"  # NaN/inf
    )
    norm = BoundaryNorm([-20.0, -6.0, -3.0, -1.0, 0.0, 20.0], cmap.N)
    tol = report.settings.tolerance
    image = None
    for i, c in enumerate(params):
        ax = fig.add_subplot(n_rows, n_cols, i + 1, label=f"{PANEL_LABEL}:{c.name}")
        grid = ratios(c)
        with np.errstate(divide="ignore"):
            logs = np.log10(np.where(grid == 0, 1e-20, grid))
        image = ax.imshow(np.clip(logs, -20, 20), cmap=cmap, norm=norm, aspect="auto")
        worst = np.unravel_index(
            int(np.ravel_multi_index(c.worst_index, c.shape)) if c.worst_index else 0,
            grid.shape,
        )
        ax.scatter([worst[1]], [worst[0]], marker="s", s=80, facecolors="none", edgecolors="k")
        status = "ok" if c.passed else f"FAIL ({c.n_failed})"
        ax.set_title(f"{c.name} · {c.torch_name} {list(c.shape)}: {status}", fontsize=9)
        ax.set_xlabel("input index" if len(c.shape) > 1 else "unit", fontsize=8)
        ax.set_ylabel("output unit" if len(c.shape) > 1 else "", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(c.shape) > 1:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            ax.set_yticks([])
    if image is not None:
        bar = fig.colorbar(image, ax=fig.axes, shrink=0.8, label="log10(|Δ| / tolerance)")
        bar.set_ticks([-6.0, -3.0, -1.0, 0.0])
    fig.suptitle(
        f"gradcheck: |hand − autograd| / (atol + rtol·|autograd|), atol={tol.atol:g}, "
        f"rtol={tol.rtol:g} · {report.settings.spec.describe()} · ■ worst element",
        fontsize=10,
    )
    return fig


def panels(fig: Figure) -> list[str]:
    """Names of the parameters that have a panel in ``fig``."""
    labels = [str(ax.get_label()) for ax in fig.axes]
    return [label.split(":", 1)[1] for label in labels if label.startswith(PANEL_LABEL + ":")]


def to_png(report: Report) -> bytes:
    """The figure as PNG bytes, so the caller can write it atomically."""
    buffer = io.BytesIO()
    figure(report).savefig(buffer, format="png")
    return buffer.getvalue()
