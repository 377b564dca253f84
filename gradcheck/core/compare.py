"""The comparison of a candidate array with its reference: data in, a frozen record out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.bounds import TensorBounds
from gradcheck.core.errors import GradcheckError
from gradcheck.core.tolerance import Judgement, Tolerance, judge, judge_rows


@dataclass(frozen=True)
class Comparison:
    """One named quantity compared elementwise: a candidate against its reference.

    In a check the reference is autograd and the candidate the hand side; against the
    numerical oracle the reference is the oracle and the candidate one of the sides.
    """

    name: str  # "W1", "prediction", "loss", "delta2", "v1"
    torch_name: str | None  # "dense.0.weight" for parameters
    kind: str  # "forward" | "parameter" | "delta" | "course" | "gradient" (a layer's) | "oracle"
    reference: NDArray[np.floating]
    candidate: NDArray[np.floating]
    tolerance: Tolerance
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]  # the element furthest outside (or least inside) tolerance
    error_ratio: float  # max |Δ| / (atol + rtol·|reference|): passes when ≤ 1
    n_failed: int
    n_nonfinite: int  # elements where either side is NaN or ±inf
    #: ‖candidate − reference‖ / max(‖candidate‖, ‖reference‖), outside kink intervals.
    norm_error: float = 0.0
    #: The difference's norm over what the norm rule allows; passes when ≤ 1.
    norm_ratio: float = 0.0
    #: ntol of the norm rule; None: the norm rule does not judge this quantity.
    norm_tol: float | None = None
    #: ROUNDING_SAFETY·‖E‖: the rounding part of what the norm rule allows.
    rounding: float = 0.0
    #: Elements that pass only inside their interval of valid values (a kink, a saturated
    #: output), not against autograd's own value.
    n_at_kink: int = 0
    #: Elements with no finite bound (an overflowing bound, log 0 under a clamp): not judged,
    #: counted and reported, never passed.
    n_unjudged: int = 0
    #: Where a correct value lies, per element (``core/bounds.py``); None: the plain rule.
    bounds: TensorBounds | None = None

    def judged(self) -> Judgement:
        """The verdict on every element, shaped like ``reference`` (for the heat maps)."""
        t = self.bounds
        j = judge(
            self.reference,
            self.candidate,
            self.tolerance.atol,
            self.tolerance.rtol,
            center=None if t is None else t.center,
            radius=None if t is None else t.radius,
            rounding=None if t is None else t.rounding,
        )
        return j

    @property
    def norm_passed(self) -> bool:
        return self.norm_tol is None or self.norm_ratio <= 1.0

    @property
    def passed(self) -> bool:
        return self.n_failed == 0 and self.norm_passed

    @property
    def zeros_pass(self) -> bool:
        """Every reference value is within its allowance of 0 (atol, rtol, the rounding bound
        and the interval): a hand side of zeros would pass the elementwise rule."""
        ref = np.asarray(self.reference, dtype=np.float64)
        if not ref.size or not np.all(np.isfinite(ref)) or not np.any(ref):
            return False
        t = self.bounds
        row = (1, -1)
        zeros = np.broadcast_to(np.zeros(1), (1, ref.size))
        s = judge_rows(
            ref.reshape(row),
            zeros,
            self.tolerance.atol,
            self.tolerance.rtol,
            center=None if t is None else np.reshape(t.center, row),
            radius=None if t is None else np.reshape(t.radius, row),
            rounding=None if t is None else np.reshape(t.rounding, row),
        )
        return int(s.n_failed[0]) == 0 and int(s.n_unjudged[0]) < ref.size

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
    norm_tol: float | None = None,
    bounds: TensorBounds | None = None,
) -> Comparison:
    """Compare ``candidate`` with ``reference`` under ``tolerance`` by the one verdict
    (``tolerance.judge_rows``): elementwise and (given ``norm_tol``) by the norm rule, with
    ``bounds`` (``core/bounds.py``) giving the rounding bound and the interval of valid values."""
    ref = np.asarray(reference)
    cand = np.asarray(candidate)
    if ref.shape != cand.shape:
        raise GradcheckError(
            f"{name}: shape {_shape(cand.shape)} does not match autograd's {_shape(ref.shape)}"
        )
    if bounds is not None and np.shape(bounds.center) != ref.shape:
        bounds = TensorBounds(
            *(
                np.broadcast_to(v, ref.shape)
                for v in (bounds.center, bounds.radius, bounds.rounding)
            )
        )
    row = (1, -1)
    s = judge_rows(
        ref.reshape(row),
        cand.reshape(row),
        tolerance.atol,
        tolerance.rtol,
        norm_tol,
        center=None if bounds is None else np.reshape(bounds.center, row),
        radius=None if bounds is None else np.reshape(bounds.radius, row),
        rounding=None if bounds is None else np.reshape(bounds.rounding, row),
    )
    worst = np.unravel_index(int(s.worst[0]), ref.shape) if ref.ndim and ref.size else ()
    return Comparison(
        name=name,
        torch_name=torch_name,
        kind=kind,
        reference=ref,
        candidate=cand,
        tolerance=tolerance,
        max_abs_error=float(s.max_abs[0]),
        max_rel_error=float(s.max_rel[0]),
        worst_index=tuple(int(i) for i in worst),
        error_ratio=float(s.max_ratio[0]),
        n_failed=int(s.n_failed[0]),
        n_nonfinite=int(s.n_nonfinite[0]),
        norm_error=float(s.norm_error[0]),
        norm_ratio=float(s.norm_ratio[0]),
        norm_tol=norm_tol,
        rounding=float(s.rounding[0]),
        n_at_kink=int(s.n_in_interval[0]),
        n_unjudged=int(s.n_unjudged[0]),
        bounds=bounds,
    )


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
