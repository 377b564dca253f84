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
from dataclasses import dataclass

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
    atol, rtol = err * np.maximum(1.0, np.abs(np.asarray(loss, dtype=np.float64))), err
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

    def candidates(self, grads: Mapping[str, NDArray[np.floating]]) -> dict[str, Array]:
        """A side's gradients, shaped like ``references``.

        Elements across a kink are left out: there the candidate is set to the oracle's own
        value, so the comparison cannot fail on them.
        """
        if self.directional is not None:
            projected = self.directional.project(grads)
            mask = self.kinks.get(DIRECTIONAL_NAME)
            if mask is not None:
                projected = np.where(mask, self.references[DIRECTIONAL_NAME], projected)
            return {DIRECTIONAL_NAME: projected}
        return {
            name: np.where(self.kinks[name], ref, np.asarray(grads[name], dtype=np.float64))
            for name, ref in self.references.items()
        }

    @property
    def skipped(self) -> tuple[tuple[str, int], ...]:
        """(name, elements not compared) for every parameter with any."""
        counts = ((name, int(np.count_nonzero(mask))) for name, mask in self.kinks.items())
        return tuple((name, n) for name, n in counts if n)


DIRECTIONAL_NAME = "vᵀ∇L"


def oracle_numbers(
    spec: NetSpec, params: Mapping[str, Array], x: Array, y: NDArray[np.generic], method: str
) -> OracleNumbers:
    """Compute the oracle by ``method`` (arrays may carry a leading case axis)."""
    if method == "directional":
        d = numeric.directional(spec, params, x, y)
        kinks = {} if d.kinks is None else {DIRECTIONAL_NAME: d.kinks}
        return OracleNumbers(method, {DIRECTIONAL_NAME: d.derivatives}, kinks, d)
    grads, kinks, _ = numeric.full_gradient(spec, params, x, y, method)
    return OracleNumbers(method, grads, kinks)


@dataclass(frozen=True)
class OracleCheck:
    """Oracle vs autograd and oracle vs hand, per parameter (or per direction v1 … vK)."""

    method: str
    tolerance: Tolerance
    vs_autograd: tuple[Comparison, ...]  # reference = oracle, candidate = autograd
    vs_hand: tuple[Comparison, ...]  # reference = oracle, candidate = hand
    skipped: tuple[tuple[str, int], ...] = ()  # (name, elements whose step straddles a kink)

    @property
    def warnings(self) -> tuple[str, ...]:
        """One line per parameter with elements left out of the comparison."""
        return tuple(
            f"oracle: {n} element(s) of {name} not compared: the {self.method} step moves a "
            "pre-activation across a kink there, so the difference is not a derivative"
            for name, n in self.skipped
        )

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

    return OracleCheck(numbers.method, tol, against(autograd), against(hand), numbers.skipped)
