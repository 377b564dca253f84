"""The comparison of a candidate array with its reference: data in, a frozen record out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.errors import GradcheckError
from gradcheck.core.tolerance import Tolerance, elementwise


@dataclass(frozen=True)
class Comparison:
    """One named quantity compared elementwise: a candidate against its reference.

    In a check the reference is autograd and the candidate the hand side; against the
    numerical oracle the reference is the oracle and the candidate one of the sides.
    """

    name: str  # "W1", "prediction", "loss", "delta2", "v1"
    torch_name: str | None  # "dense.0.weight" for parameters
    kind: str  # "forward" | "parameter" | "delta" | "oracle"
    reference: NDArray[np.floating]
    candidate: NDArray[np.floating]
    tolerance: Tolerance
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]  # the element furthest outside (or least inside) tolerance
    error_ratio: float  # max |Δ| / (atol + rtol·|reference|): passes when ≤ 1
    n_failed: int
    n_nonfinite: int  # elements where either side is NaN or ±inf

    @property
    def passed(self) -> bool:
        return self.n_failed == 0

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.reference.shape)

    @property
    def label(self) -> str:
        """``W1 · dense.0.weight`` for parameters, the plain name otherwise."""
        return f"{self.name} · {self.torch_name}" if self.torch_name else self.name


def compare(
    name: str,
    reference: NDArray[np.floating],
    candidate: NDArray[np.floating],
    tolerance: Tolerance,
    *,
    kind: str = "parameter",
    torch_name: str | None = None,
) -> Comparison:
    """Compare ``candidate`` with ``reference`` elementwise under ``tolerance``."""
    ref = np.asarray(reference)
    cand = np.asarray(candidate)
    if ref.shape != cand.shape:
        raise GradcheckError(
            f"{name}: shape {_shape(cand.shape)} does not match autograd's {_shape(ref.shape)}"
        )
    e = elementwise(ref, cand, tolerance.atol, tolerance.rtol)
    worst = np.unravel_index(int(np.argmax(e.ratio)), e.ratio.shape) if e.ratio.ndim else ()
    return Comparison(
        name=name,
        torch_name=torch_name,
        kind=kind,
        reference=ref,
        candidate=cand,
        tolerance=tolerance,
        max_abs_error=_max(e.diff),
        max_rel_error=_max(e.relative),
        worst_index=tuple(int(i) for i in worst),
        error_ratio=_max(e.ratio),
        n_failed=int(e.ok.size - np.count_nonzero(e.ok)),
        n_nonfinite=int(e.finite.size - np.count_nonzero(e.finite)),
    )


def _max(values: NDArray[np.floating]) -> float:
    return float(np.max(values)) if values.size else 0.0


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
