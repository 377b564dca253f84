"""Where the errors sit: each parameter's elementwise error scaled to the tolerance.

Pure NumPy. A cell's *ratio* is ``|hand − autograd| / (atol + rtol·|autograd|)``: ≤ 1 passes,
so one scale fits every parameter and dtype. Large parameters are cut to a bounded window
centred on the worst element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.compare import Comparison
from gradcheck.core.tolerance import elementwise

#: Bands of the ratio, upper bounds inclusive, with the character that stands for each when
#: there is no colour. The last band (> 1) fails; NaN/inf get their own character.
BANDS: tuple[tuple[float, str, str], ...] = (
    (1e-6, "·", "≤ 1e-6 of the tolerance"),
    (1e-3, "░", "≤ 1e-3"),
    (1e-1, "▒", "≤ 0.1"),
    (1.0, "▓", "≤ 1 (within, but close)"),
    (math.inf, "█", "> 1: out of tolerance"),
)
NONFINITE_CHAR = "!"
NONFINITE_LABEL = "NaN or ±inf on either side"


def ratios(c: Comparison) -> NDArray[np.float64]:
    """Elementwise |Δ| / (atol + rtol·|autograd|), as a 2-D grid (a vector is one row).

    0/0 counts as 0 (exact agreement); NaN or ±inf on either side is NaN.
    """
    e = elementwise(c.reference, c.candidate, c.tolerance.atol, c.tolerance.rtol)
    ratio = np.where(e.finite, e.ratio, np.nan)
    return ratio.reshape(1, -1) if ratio.ndim < 2 else ratio.reshape(ratio.shape[0], -1)


def band(ratio: NDArray[np.float64]) -> NDArray[np.int_]:
    """Band index per cell (0 … len(BANDS)−1), or len(BANDS) for NaN/inf."""
    bounds = np.array([upper for upper, _, _ in BANDS[:-1]])
    index = np.searchsorted(bounds, np.nan_to_num(ratio, nan=0.0), side="left")
    return np.where(np.isnan(ratio), len(BANDS), index)


@dataclass(frozen=True)
class ErrorMap:
    """One parameter's ratio grid, possibly a window of it."""

    comparison: Comparison
    grid: NDArray[np.float64]  # the shown window of ratios, (rows, cols)
    rows: tuple[int, int]  # [start, stop) of the full grid's rows shown
    cols: tuple[int, int]
    full_shape: tuple[int, int]  # the parameter as a grid: (out, in), or (1, n) for a bias
    worst: tuple[int, int]  # the worst element in full-grid coordinates

    @property
    def windowed(self) -> bool:
        return (self.rows[1] - self.rows[0], self.cols[1] - self.cols[0]) != self.full_shape

    @property
    def is_vector(self) -> bool:
        return len(self.comparison.shape) < 2


def _window(n: int, centre: int, size: int) -> tuple[int, int]:
    """``[start, stop)`` of length ≤ size containing ``centre``, inside ``[0, n)``."""
    if n <= size:
        return 0, n
    start = min(max(centre - size // 2, 0), n - size)
    return start, start + size


def error_map(c: Comparison, max_rows: int = 24, max_cols: int = 32) -> ErrorMap:
    """The ratio grid of ``c``, cut to at most ``max_rows × max_cols`` around the worst element."""
    full = ratios(c)
    # The worst element is the comparison's own (furthest outside, NaN/inf first).
    worst_flat = int(np.ravel_multi_index(c.worst_index, c.shape)) if c.worst_index else 0
    worst = (worst_flat // full.shape[1], worst_flat % full.shape[1])
    rows = _window(full.shape[0], worst[0], max(1, max_rows))
    cols = _window(full.shape[1], worst[1], max(1, max_cols))
    grid = full[rows[0] : rows[1], cols[0] : cols[1]]
    return ErrorMap(c, grid, rows, cols, (full.shape[0], full.shape[1]), worst)
