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


# ---------------------------------------------------------------------------------------------
# The per-tensor rule: what the elementwise rule cannot see.
#
# atol is a fixed absolute floor. A gradient whose values all lie below it (deep networks, tiny
# inputs, float32) passes the elementwise rule whatever the hand side returns — zeros included.
# The norm rule judges each tensor against its own size instead:
#
#     ‖hand − autograd‖ ≤ max(ntol · max(‖hand‖, ‖autograd‖),  ROUNDING_SAFETY · ‖E‖)
#
# (2-norms over the whole tensor). ntol is per dtype (never below rtol); E is the rounding
# bound of ``core/bounds.py``, so a tensor whose size is itself at rounding level (cancellation)
# is not failed for rounding. At a kink the difference is measured to the subgradient interval.

#: The per-tensor rule as the table and the JSON document state it.
NORM_RULE = "‖hand − autograd‖ ≤ max(ntol·max(‖hand‖, ‖autograd‖), rounding bound)"
NORM_RULE_ASCII = "||hand - autograd|| <= max(ntol*max(||hand||, ||autograd||), rounding bound)"

#: ntol per dtype: far above a correct computation's relative error in norm (≈ depth·width·eps:
#: 1e-5 at most for float32 at 12 layers), far below any bug that changes a tensor by ≥ 0.1 %.
NORM_TOLERANCES: dict[str, float] = {"float32": 1e-3, "float64": 1e-6}

#: Two correct sides are each within the bound E of exact, so within 2E of each other; the
#: rules allow twice that.
ROUNDING_SAFETY = 4.0


def norm_tolerance(dtype: str, rtol: float) -> float:
    """ntol for ``dtype``; a looser ``--rtol`` loosens it too (never tighter than rtol)."""
    return max(NORM_TOLERANCES[dtype], float(rtol))


@dataclass(frozen=True)
class Judgement:
    """Both rules applied to a stack of tensors, one per row of (n, m) arrays."""

    elements: Elementwise  # the elementwise rule; ``ok`` counts kink elements as passing
    at_kink: NDArray[np.bool_]  # (n, m) outside the plain rule, inside the subgradient interval
    norm_error: Array  # (n,) ‖hand − autograd‖ / max(‖hand‖, ‖autograd‖), outside kink intervals
    norm_ratio: Array  # (n,) ‖hand − autograd‖ over what the norm rule allows; ≤ 1 passes
    rounding: Array  # (n,) ROUNDING_SAFETY·‖E‖, the rounding part of what is allowed
    passed: NDArray[np.bool_]  # (n,) every element ok and (if judged) the norm rule holds
    norms: Norms  # the norms the rule was computed from, to combine pieces of a tensor


@dataclass(frozen=True)
class Norms:
    """The 2-norms behind the norm rule, per row: a tensor judged in pieces combines them."""

    diff: Array  # ‖hand − autograd‖ (outside kink intervals; inf where either is non-finite)
    hand: Array  # ‖hand‖ over finite elements
    autograd: Array  # ‖autograd‖ over finite elements
    rounding: Array  # ROUNDING_SAFETY·‖E‖

    def rule(self, norm_tol: float | None) -> tuple[Array, Array]:
        """(norm_error, norm_ratio) of the norm rule; norm_ratio is 0 without ``norm_tol``."""
        nd = self.diff
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            scale = np.maximum(self.hand, self.autograd)
            norm_error = np.where(nd == 0, 0.0, nd / scale)
            if norm_tol is None:
                return norm_error, np.zeros(nd.shape)
            allowed = np.maximum(norm_tol * scale, self.rounding)
            return norm_error, np.where(nd == 0, 0.0, nd / allowed)

    @staticmethod
    def combine(pieces: list[Norms]) -> Norms:
        """The norms of a tensor from those of its pieces (‖v‖ = ‖(‖v₁‖, ‖v₂‖, …)‖)."""
        fields = ("diff", "hand", "autograd", "rounding")
        stacked = {f: np.stack([getattr(p, f) for p in pieces], axis=1) for f in fields}
        return Norms(**{f: _norm(v) for f, v in stacked.items()})


def judge(
    reference: NDArray[np.generic],
    candidate: NDArray[np.generic],
    atol: float | NDArray[np.floating],
    rtol: float | NDArray[np.floating],
    norm_tol: float | None,
    *,
    center: NDArray[np.floating] | None = None,
    kink: NDArray[np.floating] | None = None,
    rounding: NDArray[np.floating] | None = None,
    rounding_passes: bool = False,
) -> Judgement:
    """Apply the elementwise rule and the norm rule to (n, m) rows; ``norm_tol`` None: no norm
    rule (forward values, the oracle). ``center``/``kink``/``rounding`` come from
    ``core/bounds.py``; without them nothing is at a kink and the rounding bound is 0."""
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    e = elementwise(ref, cand, atol, rtol)
    zeros = np.zeros_like(ref)
    mid = zeros if center is None else np.asarray(center, dtype=np.float64)
    rad = zeros if kink is None else np.asarray(kink, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # A rounding bound near the float maximum times the safety factor is inf: no warning.
        err = zeros if rounding is None else ROUNDING_SAFETY * np.asarray(rounding, np.float64)
        outside = np.maximum(0.0, np.abs(cand - mid) - rad)
        slack = atol + rtol * np.abs(ref) + err
        at_kink = e.finite & ~e.ok & (rad > 0) & (outside <= slack)
        # Where the problem itself is ill-conditioned in the dtype (a probability output near
        # 0 or 1 in float32), two correct computations differ by more than atol: an element
        # within the rounding bound of the reference passes, whatever atol says.
        # Only under the dtype's default tolerance (``rounding_passes``): a tolerance the user
        # chose is theirs to keep, even below what the dtype can deliver.
        rounded = e.finite & ~e.ok & ~at_kink & (e.diff <= slack) & rounding_passes
        ok = e.ok | at_kink | rounded
        ratio = np.where(at_kink, np.where(outside == 0, 0.0, outside / slack), e.ratio)
        ratio = np.where(rounded, e.diff / slack, ratio)
        d = np.where(rad > 0, outside, e.diff)
        d = np.where(e.finite, d, np.inf)
    norms = Norms(
        diff=_norm(d),
        hand=_norm(np.where(e.finite, cand, 0.0)),
        autograd=_norm(np.where(e.finite, ref, 0.0)),
        rounding=_norm(err),
    )
    norm_error, norm_ratio = norms.rule(norm_tol)
    passed = ok.all(axis=1) & (norm_ratio <= 1.0)
    return Judgement(
        elements=Elementwise(diff=e.diff, ratio=ratio, relative=e.relative, ok=ok, finite=e.finite),
        at_kink=at_kink,
        norm_error=norm_error,
        norm_ratio=norm_ratio,
        rounding=norms.rounding,
        passed=np.asarray(passed, dtype=bool),
        norms=norms,
    )


def _norm(values: Array) -> Array:
    """2-norm of each row, without overflow for huge values (scaled by the row's maximum)."""
    if values.shape[1] == 0:
        return np.zeros(values.shape[0])
    big = np.max(np.abs(values), axis=1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        safe = np.where((big > 0) & np.isfinite(big), big, 1.0)
        scaled = np.sqrt(np.sum((values / safe[:, None]) ** 2, axis=1)) * safe
    return np.where(np.isfinite(big), scaled, np.inf)
