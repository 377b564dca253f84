"""The comparison of a candidate array with its reference: data in, a frozen record out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.bounds import TensorBounds
from gradcheck.core.errors import GradcheckError
from gradcheck.core.tolerance import DEFAULT_TOLERANCES, Judgement, Norms, Tolerance, judge


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
    #: ‖candidate − reference‖ / max(‖candidate‖, ‖reference‖), outside kink intervals.
    norm_error: float = 0.0
    #: The difference's norm over what the norm rule allows; passes when ≤ 1.
    norm_ratio: float = 0.0
    #: ntol of the norm rule; None: the norm rule does not judge this quantity.
    norm_tol: float | None = None
    #: ROUNDING_SAFETY·‖E‖: the rounding bound of core/bounds.py the norm rule allows.
    rounding: float = 0.0
    #: Elements outside the elementwise rule but inside the subgradient interval of a kink.
    n_at_kink: int = 0

    @property
    def norm_passed(self) -> bool:
        return self.norm_tol is None or self.norm_ratio <= 1.0

    @property
    def passed(self) -> bool:
        return self.n_failed == 0 and self.norm_passed

    @property
    def below_atol(self) -> bool:
        """Every reference value is so small that zeros would pass the elementwise rule."""
        ref = np.abs(np.asarray(self.reference, dtype=np.float64))
        if not ref.size or not np.all(np.isfinite(ref)) or not np.any(ref):
            return False
        with np.errstate(over="ignore"):  # an rtol near the float maximum: the bound is inf
            return bool(np.all(ref <= self.tolerance.atol + self.tolerance.rtol * ref))

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
    """Compare ``candidate`` with ``reference`` under ``tolerance``: elementwise, and (given
    ``norm_tol``) by the norm rule; ``bounds`` (``core/bounds.py``) give the rounding bound and
    the subgradient intervals at kinks."""
    ref = np.asarray(reference)
    cand = np.asarray(candidate)
    if ref.shape != cand.shape:
        raise GradcheckError(
            f"{name}: shape {_shape(cand.shape)} does not match autograd's {_shape(ref.shape)}"
        )
    flat = (ref.reshape(-1), cand.reshape(-1))
    limits_flat = (
        None
        if bounds is None
        else tuple(np.reshape(v, -1) for v in (bounds.center, bounds.kink, bounds.rounding))
    )
    # A large tensor is judged a piece of elements at a time: the rules' temporaries (a dozen
    # float64 arrays) stay a few MB instead of a dozen copies of the tensor.
    tally = _Tally()
    for start in range(0, max(ref.size, 1), PIECE_ELEMENTS):
        piece = slice(start, start + PIECE_ELEMENTS)
        row = (1, -1)
        j = judge(
            flat[0][piece].reshape(row),
            flat[1][piece].reshape(row),
            tolerance.atol,
            tolerance.rtol,
            norm_tol,
            center=None if limits_flat is None else limits_flat[0][piece].reshape(row),
            kink=None if limits_flat is None else limits_flat[1][piece].reshape(row),
            rounding=None if limits_flat is None else limits_flat[2][piece].reshape(row),
            rounding_passes=tolerance in DEFAULT_TOLERANCES.values(),
        )
        tally.add(j, start)
    norms = Norms.combine(tally.norms)
    norm_error, norm_ratio = norms.rule(norm_tol)
    worst = np.unravel_index(tally.worst, ref.shape) if ref.ndim and ref.size else ()
    return Comparison(
        name=name,
        torch_name=torch_name,
        kind=kind,
        reference=ref,
        candidate=cand,
        tolerance=tolerance,
        max_abs_error=tally.max_abs,
        max_rel_error=tally.max_rel,
        worst_index=tuple(int(i) for i in worst),
        error_ratio=tally.max_ratio,
        n_failed=tally.n_failed,
        n_nonfinite=tally.n_nonfinite,
        norm_error=float(norm_error[0]),
        norm_ratio=float(norm_ratio[0]),
        norm_tol=norm_tol,
        rounding=float(norms.rounding[0]),
        n_at_kink=tally.n_at_kink,
    )


#: Elements judged at a time by ``compare``.
PIECE_ELEMENTS = 1 << 20


@dataclass
class _Tally:
    """What ``compare`` keeps of each piece's judgement: maxima, counts and norms."""

    max_abs: float = 0.0
    max_rel: float = 0.0
    max_ratio: float = 0.0
    worst: int = 0  # flat index of the largest ratio (the first, on ties)
    worst_ratio: float = -np.inf
    n_failed: int = 0
    n_nonfinite: int = 0
    n_at_kink: int = 0
    norms: list[Norms] = field(default_factory=list)

    def add(self, j: Judgement, start: int) -> None:
        e = j.elements
        self.max_abs = max(self.max_abs, _max(e.diff))
        self.max_rel = max(self.max_rel, _max(e.relative))
        self.max_ratio = max(self.max_ratio, _max(e.ratio))
        if e.ratio.size:
            k = int(np.argmax(e.ratio))
            if e.ratio.flat[k] > self.worst_ratio:
                self.worst, self.worst_ratio = start + k, float(e.ratio.flat[k])
        self.n_failed += int(e.ok.size - np.count_nonzero(e.ok))
        self.n_nonfinite += int(e.finite.size - np.count_nonzero(e.finite))
        self.n_at_kink += int(np.count_nonzero(j.at_kink))
        self.norms.append(j.norms)


def _max(values: NDArray[np.floating]) -> float:
    return float(np.max(values)) if values.size else 0.0


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
