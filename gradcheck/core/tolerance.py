"""Tolerances and the one pass rule, elementwise: every comparison in gradcheck applies it here.

A candidate value passes against its reference when ``|candidate − reference| ≤ atol +
rtol·|reference|`` (the rule numpy.isclose and torch.testing.assert_close use). Run, sweep,
the heat maps, the diagnosis and the oracle all read ``elementwise``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.errors import GradcheckError

Array = NDArray[np.float64]

#: The pass rule as the table and the JSON document state it.
RULE = "|hand − autograd| ≤ atol + rtol·|autograd|"
RULE_ASCII = "|hand - autograd| <= atol + rtol*|autograd|"


@dataclass(frozen=True)
class Tolerance:
    """Absolute and relative tolerance of the pass rule."""

    atol: float
    rtol: float

    def __post_init__(self) -> None:
        for name, value in (("--atol", self.atol), ("--rtol", self.rtol)):
            if not math.isfinite(value):
                raise GradcheckError(f"{name}: must be a finite number, got {value}")
            if value < 0:
                raise GradcheckError(f"{name}: must be ≥ 0, got {value:g}")


#: Defaults per dtype: torch.testing.assert_close's own defaults for float32 and float64
#: (see the table "default rtol and atol" in its documentation).
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "float32": Tolerance(atol=1e-5, rtol=1.3e-6),
    "float64": Tolerance(atol=1e-7, rtol=1e-7),
}


def resolve_tolerance(
    dtype: str, atol: float | None = None, rtol: float | None = None
) -> Tolerance:
    """The dtype's default tolerance, with either part overridden."""
    default = DEFAULT_TOLERANCES[dtype]
    return Tolerance(
        atol=default.atol if atol is None else float(atol),
        rtol=default.rtol if rtol is None else float(rtol),
    )


@dataclass(frozen=True)
class Elementwise:
    """The pass rule applied element by element (float64, same shape as the inputs)."""

    diff: Array  # |candidate − reference|; inf where either side is NaN/inf
    ratio: Array  # diff / (atol + rtol·|reference|), ≤ 1 passes; 0/0 = 0, inf where non-finite
    relative: Array  # diff / |reference|; 0/0 = 0, x/0 = inf
    ok: NDArray[np.bool_]  # within tolerance and finite on both sides
    finite: NDArray[np.bool_]  # finite on both sides


def elementwise(
    reference: NDArray[np.generic],
    candidate: NDArray[np.generic],
    atol: float | NDArray[np.floating],
    rtol: float | NDArray[np.floating],
) -> Elementwise:
    """Apply the rule; ``atol``/``rtol`` broadcast (per-case bounds in a sweep).

    Errors are measured in float64 whatever the inputs' dtype. Any NaN or infinity on either
    side fails its element: a NaN compares false both ways, so it must never pass silently.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    finite = np.isfinite(ref) & np.isfinite(cand)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.abs(cand - ref)
        bound = atol + rtol * np.abs(ref)
        ok = finite & (diff <= bound)
        # 0/0 is a perfect match; anything else over a zero denominator is infinitely off.
        ratio = np.where(diff == 0, 0.0, diff / bound)
        relative = np.where(diff == 0, 0.0, diff / np.abs(ref))
    return Elementwise(
        diff=np.where(finite, diff, np.inf),
        ratio=np.where(finite, ratio, np.inf),
        relative=np.where(finite, relative, np.inf),
        ok=ok,
        finite=finite,
    )
