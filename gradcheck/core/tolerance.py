"""Tolerances and the one verdict: every comparison in gradcheck is judged here.

Each element of a compared quantity comes with what ``core/bounds.py`` knows of it: an interval
``[center − radius, center + radius]`` holding every value a valid computation can take before
rounding (both one-sided derivatives at a kink; the exact value and the literal formula's at a
saturated probability), and a bound ``E`` on one side's rounding error. A candidate value ``h``
passes against the reference ``a`` (autograd) when

    min(|h − a|, dist(h, interval)) ≤ atol + rtol·|a| + ROUNDING_SAFETY·E

An element whose interval or bound is not finite is *not judged* (counted and reported, never
passed), unless ``h`` equals ``a`` exactly. ``judge`` applies the rule to stacks of rows;
``judge_rows`` reduces it to one ``Summary`` per row — a check's tensor (one row) or a sweep's
cases (one row each) — and run, sweep, the heat maps, the diagnosis, the convention finder and
the oracle all read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.errors import GradcheckError

Array = NDArray[np.float64]

#: The pass rule as the table and the JSON document state it (E: the rounding bound; at a kink
#: or a saturated output the distance is to the interval of valid values, if that is closer).
RULE = "|hand − autograd| ≤ atol + rtol·|autograd| + 4E"
RULE_ASCII = "|hand - autograd| <= atol + rtol*|autograd| + 4E"


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


#: Defaults per dtype. rtol is torch.testing.assert_close's default (its table "default rtol
#: and atol"), a relative floor under the rounding bound. atol is 0: a fixed absolute floor lets
#: every wrong value below it pass (a gradient of 1e-6 zeroed, in float32), while the rounding
#: bound E is the absolute allowance each element has earned on this network and input.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "float32": Tolerance(atol=0.0, rtol=1.3e-6),
    "float64": Tolerance(atol=0.0, rtol=1e-7),
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


# ---------------------------------------------------------------------------------------------
# The per-tensor rule: the norm of the differences against the tensor's own size.
#
#     ‖hand − autograd‖ ≤ max(ntol · max(‖hand‖, ‖autograd‖),  ROUNDING_SAFETY · ‖E‖)
#
# (2-norms over the judged elements, the difference measured to the interval of valid values).
# With the default atol of 0 every element is already judged against its own bound; the norm
# rule still catches a tensor shifted as a whole by less than a user's --atol, and states the
# tensor's error in one number.

#: The per-tensor rule as the table and the JSON document state it.
NORM_RULE = "‖hand − autograd‖ ≤ max(ntol·max(‖hand‖, ‖autograd‖), 4‖E‖)"
NORM_RULE_ASCII = "||hand - autograd|| <= max(ntol*max(||hand||, ||autograd||), 4||E||)"

#: ntol per dtype: a floor under the rounding bound, 100× below a 0.1 % change of a float32
#: tensor and 100× below 1e-4 relative in float64 (the verdict suite's smallest attacks).
NORM_TOLERANCES: dict[str, float] = {"float32": 1e-5, "float64": 1e-6}

#: Each correct side is within E of the exact value, so two are within 2E of each other; the
#: rules allow twice that, for the first-order terms the running error analysis leaves out.
ROUNDING_SAFETY = 4.0


def norm_tolerance(dtype: str, rtol: float) -> float:
    """ntol for ``dtype``; a looser ``--rtol`` loosens it too (never tighter than rtol)."""
    return max(NORM_TOLERANCES[dtype], float(rtol))


@dataclass(frozen=True)
class Judgement:
    """The verdict on every element of a stack of rows, (n, m) arrays."""

    diff: Array  # |candidate − reference|; inf where either side is NaN/inf
    distance: Array  # min(|Δ|, distance to the interval): what the rule judges; inf if non-finite
    allowed: Array  # atol + rtol·|reference| + ROUNDING_SAFETY·E (inf where not judged)
    ratio: Array  # distance / allowed: ≤ 1 passes; 0/0 = 0; 0 where not judged
    relative: Array  # |Δ| / |reference|; 0/0 = 0, x/0 = inf
    ok: NDArray[np.bool_]  # passes (judged and within, or exactly equal)
    finite: NDArray[np.bool_]  # both sides finite
    in_interval: NDArray[np.bool_]  # passes only thanks to the interval (a kink, a saturation)
    unjudged: NDArray[np.bool_]  # both finite, not equal, but no finite bound: not judged


@dataclass(frozen=True)
class Norms:
    """The 2-norms behind the norm rule, per row: a tensor judged in pieces combines them."""

    diff: Array  # ‖distance‖ over judged elements (inf where either side is non-finite)
    hand: Array  # ‖hand‖ over finite elements
    autograd: Array  # ‖autograd‖ over finite elements
    rounding: Array  # ROUNDING_SAFETY·‖E‖ over judged elements

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
    *,
    center: NDArray[np.floating] | None = None,
    radius: NDArray[np.floating] | None = None,
    rounding: NDArray[np.floating] | None = None,
) -> Judgement:
    """The rule on every element of (n, m) rows (or any shapes that broadcast).

    ``center``/``radius``/``rounding`` come from ``core/bounds.py``; without them there is no
    interval and the rounding bound is 0 (the plain ``atol + rtol·|reference|``). Any NaN or
    infinity on either side fails its element: a NaN compares false both ways, so it must never
    pass silently.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        finite = np.isfinite(ref) & np.isfinite(cand)
        diff = np.abs(cand - ref)
        # A rounding bound near the float maximum times the safety factor is inf: not judged.
        err = 0.0 if rounding is None else ROUNDING_SAFETY * np.asarray(rounding, np.float64)
        allowed = atol + rtol * np.abs(ref) + err
        distance = diff
        in_reach = np.ones(np.shape(diff), dtype=bool)
        if center is not None and radius is not None:
            mid = np.asarray(center, dtype=np.float64)
            rad = np.asarray(radius, dtype=np.float64)
            outside = np.maximum(0.0, np.abs(cand - mid) - rad)
            in_reach = np.isfinite(mid) & np.isfinite(rad)
            distance = np.where(in_reach & (rad > 0), np.minimum(diff, outside), diff)
        same = finite & (diff == 0)
        unjudged = finite & ~same & ~(np.isfinite(allowed) & in_reach)
        ok = same | (finite & ~unjudged & (distance <= allowed))
        plain = finite & (diff <= allowed)
        in_interval = ok & ~plain & ~same
        ratio = np.where(distance == 0, 0.0, distance / allowed)
        ratio = np.where(unjudged, 0.0, ratio)
        relative = np.where(diff == 0, 0.0, diff / np.abs(ref))
    return Judgement(
        diff=np.where(finite, diff, np.inf),
        distance=np.where(finite, distance, np.inf),
        allowed=np.where(unjudged, np.inf, allowed),
        ratio=np.where(finite, ratio, np.inf),
        relative=np.where(finite, relative, np.inf),
        ok=np.asarray(ok, dtype=bool),
        finite=finite,
        in_interval=np.asarray(in_interval, dtype=bool),
        unjudged=np.asarray(unjudged, dtype=bool),
    )


@dataclass(frozen=True)
class Summary:
    """The verdict on a stack of tensors, one value per row (a tensor, or a sweep's case)."""

    max_abs: Array  # (n,) max |candidate − reference|
    max_rel: Array  # (n,) max |Δ|/|reference|
    max_ratio: Array  # (n,) the largest judged ratio: > 1 where an element fails
    worst: NDArray[np.intp]  # (n,) flat index of the largest ratio (the first, on ties)
    n_failed: NDArray[np.int64]  # (n,) elements outside the rule (non-finite ones included)
    n_nonfinite: NDArray[np.int64]  # (n,) elements where either side is NaN or ±inf
    n_in_interval: NDArray[np.int64]  # (n,) elements that pass only inside their interval
    n_unjudged: NDArray[np.int64]  # (n,) elements with no finite bound: not judged
    norm_error: Array  # (n,) ‖distance‖ / max(‖hand‖, ‖autograd‖)
    norm_ratio: Array  # (n,) the norm rule's ratio; 0 where it does not judge
    rounding: Array  # (n,) ROUNDING_SAFETY·‖E‖

    @property
    def passed(self) -> NDArray[np.bool_]:
        """(n,) every element within the rule and the norm rule holds."""
        return np.asarray((self.n_failed == 0) & (self.norm_ratio <= 1.0), dtype=bool)

    @property
    def worst_ratio(self) -> Array:
        """(n,) the larger of the two rules' ratios: > 1 where the row fails."""
        return np.maximum(self.max_ratio, self.norm_ratio)

    @staticmethod
    def concatenate(parts: list[Summary]) -> Summary:
        """The rows of several summaries, in order (a sweep's chunks of cases)."""
        names = [f.name for f in fields(Summary)]
        return Summary(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in names})


#: Elements judged at a time by ``judge_rows``: the rule's temporaries (a dozen float64 arrays)
#: stay a few MB instead of a dozen copies of a large tensor.
PIECE_ELEMENTS = 1 << 20


def judge_rows(
    reference: NDArray[np.generic],
    candidate: NDArray[np.generic],
    atol: float | NDArray[np.floating],
    rtol: float | NDArray[np.floating],
    norm_tol: float | None = None,
    *,
    center: NDArray[np.floating] | None = None,
    radius: NDArray[np.floating] | None = None,
    rounding: NDArray[np.floating] | None = None,
) -> Summary:
    """``judge`` on (n, m) rows, a piece of columns at a time, reduced to one ``Summary`` per
    row; ``norm_tol`` None: no norm rule (forward values, the oracle). ``atol``/``rtol`` are
    numbers or per-row columns (n, 1)."""
    ref = np.asarray(reference)
    cand = np.asarray(candidate)
    n, width = ref.shape
    step = max(1, PIECE_ELEMENTS // max(1, n))
    zeros = np.zeros(n)
    counts = {k: np.zeros(n, dtype=np.int64) for k in ("failed", "nonfinite", "interval", "none")}
    max_abs, max_rel, max_ratio = zeros.copy(), zeros.copy(), np.full(n, -np.inf)
    worst = np.zeros(n, dtype=np.intp)
    norms: list[Norms] = []
    intervals = (center, radius, rounding)
    for start in range(0, max(width, 1), step):
        cols = slice(start, start + step)
        c, r, e = (None if v is None else np.asarray(v)[:, cols] for v in intervals)
        j = judge(ref[:, cols], cand[:, cols], atol, rtol, center=c, radius=r, rounding=e)
        if j.diff.shape[1]:
            max_abs = np.maximum(max_abs, j.diff.max(axis=1))
            max_rel = np.maximum(max_rel, j.relative.max(axis=1))
            k = np.argmax(j.ratio, axis=1)
            best = j.ratio[np.arange(n), k]
            better = best > max_ratio
            worst = np.where(better, start + k, worst)
            max_ratio = np.where(better, best, max_ratio)
        counts["failed"] += np.count_nonzero(~j.ok & ~j.unjudged, axis=1)
        counts["nonfinite"] += np.count_nonzero(~j.finite, axis=1)
        counts["interval"] += np.count_nonzero(j.in_interval, axis=1)
        counts["none"] += np.count_nonzero(j.unjudged, axis=1)
        judged = ~j.unjudged
        with np.errstate(invalid="ignore", over="ignore"):
            err = (
                np.zeros_like(j.diff)
                if e is None
                else ROUNDING_SAFETY * np.asarray(e, dtype=np.float64)
            )
            norms.append(
                Norms(
                    diff=_norm(np.where(judged, np.where(j.finite, j.distance, np.inf), 0.0)),
                    hand=_norm(np.where(j.finite, np.asarray(cand[:, cols], np.float64), 0.0)),
                    autograd=_norm(np.where(j.finite, np.asarray(ref[:, cols], np.float64), 0.0)),
                    rounding=_norm(np.where(judged & j.finite, err, 0.0)),
                )
            )
    combined = Norms.combine(norms)
    norm_error, norm_ratio = combined.rule(norm_tol)
    return Summary(
        max_abs=max_abs,
        max_rel=max_rel,
        max_ratio=np.maximum(max_ratio, 0.0),
        worst=worst,
        n_failed=counts["failed"],
        n_nonfinite=counts["nonfinite"],
        n_in_interval=counts["interval"],
        n_unjudged=counts["none"],
        norm_error=norm_error,
        norm_ratio=norm_ratio,
        rounding=combined.rounding,
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
