"""Where the errors sit: each parameter's elementwise error scaled to what the verdict allows.

Pure NumPy. A cell's *ratio* is the verdict's own (``Comparison.judged``, ``core/tolerance``):
the distance of the hand value from autograd's (or from the element's interval, at a kink or a
saturated output) over ``atol + rtol·|autograd| + 4E``: ≤ 1 passes, so one scale fits every
parameter and dtype, and the map says what the table says. Large parameters are cut to a
bounded window centred on the worst element, or reduced to block maxima (each cell the largest
ratio of its block, NaN first) so that the worst element stays visible in a bounded picture.
Deep networks show a few parameters in full (``pick_full``) and the rest as one number each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.compare import Comparison

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
NONFINITE_LABEL = "NaN or ±inf on either side, or not judged (no finite bound)"


def ratios(c: Comparison) -> NDArray[np.float64]:
    """The verdict's ratio per element, as a 2-D grid (a vector is one row).

    0/0 counts as 0 (exact agreement); NaN or ±inf on either side, and an element not judged,
    is NaN.
    """
    j = c.judged()
    ratio = np.where(j.finite & ~j.unjudged, j.ratio, np.nan)
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


def error_map(
    c: Comparison,
    max_rows: int = 24,
    max_cols: int = 32,
    full: NDArray[np.float64] | None = None,
) -> ErrorMap:
    """The ratio grid of ``c``, cut to at most ``max_rows × max_cols`` around the worst element.

    ``full`` is ``ratios(c)`` when the caller has it already.
    """
    full = ratios(c) if full is None else full
    worst = worst_cell(c, (full.shape[0], full.shape[1]))
    rows = _window(full.shape[0], worst[0], max(1, max_rows))
    cols = _window(full.shape[1], worst[1], max(1, max_cols))
    grid = full[rows[0] : rows[1], cols[0] : cols[1]]
    return ErrorMap(c, grid, rows, cols, (full.shape[0], full.shape[1]), worst)


@dataclass(frozen=True)
class Blocks:
    """A ratio grid reduced to block maxima: cell ``(i, j)`` is the largest ratio of the full
    grid's rows ``[i·a, (i+1)·a)`` and columns ``[j·b, (j+1)·b)``, NaN if any of them is NaN.

    Blocks on the last row and column may be smaller (the grid's edge cuts them).
    """

    grid: NDArray[np.float64]  # (ceil(rows / a), ceil(cols / b))
    block: tuple[int, int]  # (a, b): rows and columns of the full grid per cell
    full_shape: tuple[int, int]

    @property
    def downsampled(self) -> bool:
        return self.block != (1, 1)

    def cell(self, index: tuple[int, int]) -> tuple[int, int]:
        """The cell holding the full grid's element ``index``."""
        return index[0] // self.block[0], index[1] // self.block[1]

    def span(self, cell: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """``([row start, row stop), [col start, col stop))`` of the full grid in ``cell``."""
        (a, b), (n, m) = self.block, self.full_shape
        return (cell[0] * a, min((cell[0] + 1) * a, n)), (cell[1] * b, min((cell[1] + 1) * b, m))


def block_maxima(grid: NDArray[np.floating], max_rows: int, max_cols: int) -> Blocks:
    """``grid`` reduced to at most ``max_rows × max_cols`` cells, each its block's maximum.

    The block is the smallest that fits: ``a = ceil(rows / max_rows)``, ``b = ceil(cols /
    max_cols)``. NaN (non-finite on either side, the worst there is) wins its block.
    """
    full = np.asarray(grid, dtype=np.float64)
    if full.ndim != 2:
        raise ValueError(f"block_maxima: expected a 2-D grid, got shape {full.shape}")
    n, m = full.shape
    a = max(1, math.ceil(n / max(1, max_rows)))
    b = max(1, math.ceil(m / max(1, max_cols)))
    if (a, b) == (1, 1) or full.size == 0:
        return Blocks(full, (1, 1), (n, m))
    rows, cols = math.ceil(n / a), math.ceil(m / b)
    # -inf padding never wins a block (every block holds at least one real element), so each
    # element belongs to exactly one block and the padding to none. np.max propagates NaN.
    padded = np.pad(full, ((0, rows * a - n), (0, cols * b - m)), constant_values=-np.inf)
    cells = padded.reshape(rows, a, cols, b).max(axis=(1, 3))
    return Blocks(cells, (a, b), (n, m))


def worst_cell(c: Comparison, shape: tuple[int, int]) -> tuple[int, int]:
    """The comparison's worst element (its own: furthest outside, NaN/inf first) in the
    coordinates of its ``shape`` grid."""
    flat = int(np.ravel_multi_index(c.worst_index, c.shape)) if c.worst_index else 0
    return flat // shape[1], flat % shape[1]


def peak(grid: NDArray[np.floating]) -> float:
    """The grid's largest ratio, NaN if any cell is NaN (np.max propagates it); 0 if empty."""
    return float(np.max(grid)) if grid.size else 0.0


#: More parameter tensors than this and the heat maps summarise (one line or bar per tensor)
#: and show only ``FULL`` of them in full.
DEEP = 12
FULL = 6


def pick_full(params: Sequence[Comparison], peaks: Sequence[float], limit: int) -> list[int]:
    """Which parameters (indices, in layer order) a summary shows in full, at most ``limit``.

    ``peaks`` holds each parameter's largest ratio (``peak``). First the failing parameter
    nearest the output — the backward pass runs from the output down, so that is where it
    first goes wrong — then the rest by severity: failing before passing, NaN/inf first, then
    the largest ratio.
    """

    def severity(i: int) -> tuple[bool, float]:
        return not params[i].passed, math.inf if math.isnan(peaks[i]) else peaks[i]

    chosen: list[int] = []
    failing = [i for i, c in enumerate(params) if not c.passed]
    if failing and limit > 0:
        chosen.append(failing[-1])
    # A stable sort: among equals, the layer order decides.
    for i in sorted(range(len(params)), key=severity, reverse=True):
        if len(chosen) >= limit:
            break
        if i not in chosen:
            chosen.append(i)
    return sorted(chosen)


def pick_reason(n_failing: int, n_shown: int) -> str:
    """Why ``pick_full`` chose what it did, for the summary's heading."""
    if n_failing == 0:
        return "the worst"
    if n_failing <= n_shown:
        return "every failing one, then the worst"
    return f"{n_shown} of {n_failing} failing: the one nearest the output, then the worst"
