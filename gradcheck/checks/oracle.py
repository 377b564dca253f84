"""The oracle's verdict: the numerical gradient compared with each side, and who disagrees.

Each side (autograd, hand) is compared with the oracle under a tolerance derived from the
oracle method's own error (``numeric.METHOD_ERROR``), not from the dtype's default:

    atol = SAFETY · err · max(1, |L|),   rtol = SAFETY · err

with err ≈ ε^(2/3) ≈ 3.7e-11 (central), ε^(4/5) ≈ 3.0e-13 (richardson, directional) and
ε ≈ 2.2e-16 (complex-step), and SAFETY = 1000 for the unknown size of the loss's higher
derivatives (measured errors sit 100–1000× below these bounds). In float32 the sides
themselves carry float32 rounding, so the dtype's default tolerance is added to the bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from gradcheck.core import numeric
from gradcheck.core.compare import Comparison, compare
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import DEFAULT_TOLERANCES, Tolerance

Array = NDArray[np.floating]

SAFETY = 1000.0
#: Rule for the oracle comparisons: the oracle is the reference.
RULE = "|side − oracle| ≤ atol + rtol·|oracle|"
RULE_ASCII = "|side - oracle| <= atol + rtol*|oracle|"

SIDES = ("autograd", "hand")


def oracle_tolerance(method: str, dtype: str, loss: float) -> Tolerance:
    """The bound for |side − oracle|: the method's error with a safety factor, plus float32's."""
    atol, rtol = oracle_bounds(method, dtype, np.asarray(loss, dtype=np.float64))
    return Tolerance(atol=float(atol), rtol=rtol)


def oracle_bounds(method: str, dtype: str, loss: Array) -> tuple[Array, float]:
    """``oracle_tolerance``'s (atol, rtol) for one loss or a case axis of losses (a sweep)."""
    err = SAFETY * numeric.METHOD_ERROR[method]
    magnitude = np.abs(np.asarray(loss, dtype=np.float64))
    # A non-finite loss leaves nothing for the oracle to judge (its elements are all unjudged);
    # the bound stays finite so that it can still be stated.
    magnitude = np.where(np.isfinite(magnitude), magnitude, 1.0)
    atol, rtol = err * np.maximum(1.0, magnitude), err
    if dtype == "float32":
        atol = atol + DEFAULT_TOLERANCES["float32"].atol
        rtol += DEFAULT_TOLERANCES["float32"].rtol
    return atol, rtol


@dataclass(frozen=True)
class OracleNumbers:
    """The oracle's numbers and how a side's gradients are put against them.

    Full methods: one reference per parameter (``W1, b1, …``) and a mask of the elements whose
    step straddles a kink. ``directional``: one reference ``vᵀ∇L`` of shape (…, K).
    """

    method: str
    references: dict[str, Array]
    kinks: dict[str, NDArray[np.bool_]]
    directional: numeric.Directional | None = None
    #: Elements the oracle cannot judge (non-finite loss, complex step overflowed).
    unjudged: Mapping[str, NDArray[np.bool_]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def left_out(self, name: str) -> NDArray[np.bool_] | None:
        """Elements of ``name`` not compared: kinks and unjudged."""
        masks = [m[name] for m in (self.kinks, self.unjudged) if name in m]
        return np.logical_or.reduce(masks) if masks else None

    def candidates(self, grads: Mapping[str, NDArray[np.floating]]) -> dict[str, Array]:
        """A side's gradients, shaped like ``references``.

        Elements across a kink are left out: there the candidate is set to the oracle's own
        value, so the comparison cannot fail on them.
        """
        if self.directional is not None:
            found = {DIRECTIONAL_NAME: self.directional.project(grads)}
        else:
            found = {name: np.asarray(grads[name], dtype=np.float64) for name in self.references}
        out = {}
        for name, ref in self.references.items():
            mask = self.left_out(name)
            out[name] = found[name] if mask is None else np.where(mask, ref, found[name])
        return out

    @property
    def skipped(self) -> tuple[tuple[str, int], ...]:
        """(name, elements not compared) for every parameter with any."""
        counts = ((name, int(np.count_nonzero(mask))) for name, mask in self.kinks.items())
        return tuple((name, n) for name, n in counts if n)

    @property
    def unjudged_counts(self) -> tuple[tuple[str, int], ...]:
        """(name, elements the oracle cannot judge) for every parameter with any."""
        counts = ((name, int(np.count_nonzero(mask))) for name, mask in self.unjudged.items())
        return tuple((name, n) for name, n in counts if n)

    @property
    def elements(self) -> int:
        """Elements the oracle was asked for (per case, summed over cases)."""
        return sum(int(np.size(ref)) for ref in self.references.values())

    @property
    def compared(self) -> int:
        """Elements actually compared: neither at a kink nor unjudged."""
        left = 0
        for name in self.references:
            mask = self.left_out(name)
            left += 0 if mask is None else int(np.count_nonzero(mask))
        return self.elements - left


DIRECTIONAL_NAME = "vᵀ∇L"


def oracle_numbers(
    spec: NetSpec, params: Mapping[str, Array], x: Array, y: NDArray[np.generic], method: str
) -> OracleNumbers:
    """Compute the oracle by ``method`` (arrays may carry a leading case axis)."""
    if method == "directional":
        d = numeric.directional(spec, params, x, y)
        kinks = {} if d.kinks is None else {DIRECTIONAL_NAME: d.kinks}
        unjudged: dict[str, NDArray[np.bool_]] = {}
        notes: tuple[str, ...] = ()
        if not np.all(np.isfinite(d.derivatives)):
            unjudged = {DIRECTIONAL_NAME: ~np.isfinite(d.derivatives)}
            notes = ("the loss is not finite along some directions, so no difference exists",)
        return OracleNumbers(method, {DIRECTIONAL_NAME: d.derivatives}, kinks, d, unjudged, notes)
    found = numeric.full_gradient(spec, params, x, y, method)
    return OracleNumbers(method, found.grads, found.kinks, None, found.unjudged, found.notes)


@dataclass(frozen=True)
class OracleCheck:
    """Oracle vs autograd and oracle vs hand, per parameter (or per direction v1 … vK)."""

    method: str
    tolerance: Tolerance
    vs_autograd: tuple[Comparison, ...]  # reference = oracle, candidate = autograd
    vs_hand: tuple[Comparison, ...]  # reference = oracle, candidate = hand
    skipped: tuple[tuple[str, int], ...] = ()  # (name, elements whose step straddles a kink)
    unjudged: tuple[tuple[str, int], ...] = ()  # (name, elements the oracle cannot judge)
    notes: tuple[str, ...] = ()  # why elements are unjudged
    elements: int = 0  # elements the oracle computed
    compared: int = 0  # of which compared with the sides

    @property
    def checked(self) -> bool:
        """Whether the oracle compared at least half of its elements: else it could not check."""
        return self.compared > 0 and 2 * self.compared >= self.elements

    @property
    def warnings(self) -> tuple[str, ...]:
        """One line per parameter with elements left out of the comparison, and the reasons."""
        kinks = tuple(
            f"oracle: {n} element(s) of {name} not compared: every {self.method} step moves a "
            "value across a kink there (on both sides), so no difference is a derivative"
            for name, n in self.skipped
        )
        unjudged = tuple(
            f"oracle: {n} element(s) of {name} not compared: the oracle cannot judge them"
            for name, n in self.unjudged
        )
        return kinks + unjudged + tuple(f"oracle: {note}" for note in self.notes)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.vs_autograd + self.vs_hand)

    @property
    def disagreeing(self) -> tuple[str, ...]:
        """Which sides disagree with the oracle: a subset of ("autograd", "hand")."""
        out = []
        for side, comparisons in zip(SIDES, (self.vs_autograd, self.vs_hand), strict=True):
            if not all(c.passed for c in comparisons):
                out.append(side)
        return tuple(out)

    @property
    def failed(self) -> tuple[str, ...]:
        """``W2 (oracle vs hand)``-style names of the failing comparisons."""
        return tuple(
            f"{c.name} (oracle vs {side})"
            for side, comparisons in zip(SIDES, (self.vs_autograd, self.vs_hand), strict=True)
            for c in comparisons
            if not c.passed
        )

    @property
    def verdict(self) -> str:
        """One sentence naming the side that disagrees with the oracle."""
        names = {
            side: ", ".join(c.name for c in comparisons if not c.passed)
            for side, comparisons in zip(SIDES, (self.vs_autograd, self.vs_hand), strict=True)
        }
        if not self.checked:
            why = f"; {self.notes[0]}" if self.notes else ""
            return (
                f"the {self.method} oracle could not check: {self.elements - self.compared:,} of "
                f"{self.elements:,} elements left out (at kinks or unjudged){why}"
            )
        match self.disagreeing:
            case ():
                return f"the {self.method} oracle agrees with autograd and hand-derived"
            case ("hand",):
                return (
                    f"hand-derived is wrong: {names['hand']} disagree(s) with the "
                    f"{self.method} oracle, which agrees with autograd"
                )
            case ("autograd",):
                return (
                    f"autograd disagrees with the oracle: {names['autograd']} (the "
                    f"{self.method} oracle agrees with hand-derived)"
                )
            case _:
                return (
                    f"both autograd ({names['autograd']}) and hand-derived ({names['hand']}) "
                    f"disagree with the {self.method} oracle (a shared mistake, or a kink "
                    "within the step of a pre-activation)"
                )


def judge(
    numbers: OracleNumbers,
    spec: NetSpec,
    *,
    autograd: Mapping[str, NDArray[np.floating]],
    hand: Mapping[str, NDArray[np.floating]],
    loss: float,
) -> OracleCheck:
    """Compare both sides' gradients with the oracle's ``numbers`` (from ``oracle_numbers``).

    Full methods compare every parameter (names ``W1, b1, …``); ``directional`` compares
    vₖᵀg for each seeded direction (names ``v1 … vK``).
    """
    tol = oracle_tolerance(numbers.method, spec.dtype, loss)
    torch_names = {p.name: p.torch_name for p in spec.parameters()}

    def against(grads: Mapping[str, NDArray[np.floating]]) -> tuple[Comparison, ...]:
        pairs = [
            (name, numbers.references[name], candidate)
            for name, candidate in numbers.candidates(grads).items()
        ]
        if numbers.directional is not None:  # one comparison per direction: v1 … vK
            ((_, ref, cand),) = pairs
            pairs = [(f"v{k + 1}", ref[..., k], cand[..., k]) for k in range(ref.shape[-1])]
        return tuple(
            compare(name, ref, cand, tol, kind="oracle", torch_name=torch_names.get(name))
            for name, ref, cand in pairs
        )

    return OracleCheck(
        numbers.method,
        tol,
        against(autograd),
        against(hand),
        numbers.skipped,
        numbers.unjudged_counts,
        numbers.notes,
        numbers.elements,
        numbers.compared,
    )
