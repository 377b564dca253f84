"""Tolerances and the comparison of two arrays: data in, frozen records out, no asserts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.errors import GradcheckError

#: Pass rule, elementwise (numpy.isclose and torch.testing.assert_close use the same one).
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
class Comparison:
    """One named quantity compared elementwise: autograd (reference) vs hand (candidate)."""

    name: str  # "W1", "prediction", "loss", "delta2"
    torch_name: str | None  # "dense.0.weight" for parameters
    kind: str  # "forward" | "parameter" | "delta"
    autograd: NDArray[np.floating]
    hand: NDArray[np.floating]
    tolerance: Tolerance
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]  # the element furthest outside (or least inside) tolerance
    error_ratio: float  # max |Δ| / (atol + rtol·|autograd|): passes when ≤ 1
    n_failed: int
    n_nonfinite: int  # elements where either side is NaN or ±inf

    @property
    def passed(self) -> bool:
        return self.n_failed == 0

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.autograd.shape)

    @property
    def label(self) -> str:
        """``W1 · dense.0.weight`` for parameters, the plain name otherwise."""
        return f"{self.name} · {self.torch_name}" if self.torch_name else self.name


def compare(
    name: str,
    autograd: NDArray[np.floating],
    hand: NDArray[np.floating],
    tolerance: Tolerance,
    *,
    kind: str = "parameter",
    torch_name: str | None = None,
) -> Comparison:
    """Compare ``hand`` with ``autograd`` elementwise under ``tolerance``.

    Errors are measured in float64 whatever the inputs' dtype. Any NaN or infinity on either
    side fails its element: a NaN compares false both ways, so it must never pass silently.
    """
    ref = np.asarray(autograd)
    cand = np.asarray(hand)
    if ref.shape != cand.shape:
        raise GradcheckError(
            f"{name}: shape {_shape(cand.shape)} does not match autograd's {_shape(ref.shape)}"
        )
    ref64 = ref.astype(np.float64)
    cand64 = cand.astype(np.float64)
    finite = np.isfinite(ref64) & np.isfinite(cand64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.abs(cand64 - ref64)
        bound = tolerance.atol + tolerance.rtol * np.abs(ref64)
        ok = finite & (diff <= bound)
        # 0/0 is a perfect match; anything else over a zero denominator is infinitely off.
        ratio = np.where(diff == 0, 0.0, diff / bound)
        rel = np.where(diff == 0, 0.0, diff / np.abs(ref64))
    ratio = np.where(finite, ratio, np.inf)
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape) if ratio.ndim else ()
    return Comparison(
        name=name,
        torch_name=torch_name,
        kind=kind,
        autograd=ref,
        hand=cand,
        tolerance=tolerance,
        max_abs_error=_max(np.where(finite, diff, np.inf)),
        max_rel_error=_max(np.where(finite, rel, np.inf)),
        worst_index=tuple(int(i) for i in worst),
        error_ratio=_max(ratio),
        n_failed=int(ok.size - np.count_nonzero(ok)),
        n_nonfinite=int(finite.size - np.count_nonzero(finite)),
    )


def _max(values: NDArray[np.floating]) -> float:
    return float(np.max(values)) if values.size else 0.0


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
