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
from gradcheck.core.compare import DEFAULT_TOLERANCES, Comparison, Tolerance, compare
from gradcheck.core.spec import NetSpec

Array = NDArray[np.floating]

SAFETY = 1000.0
#: Rule for the oracle comparisons: the oracle is the reference.
RULE = "|side − oracle| ≤ atol + rtol·|oracle|"
RULE_ASCII = "|side - oracle| <= atol + rtol*|oracle|"

SIDES = ("autograd", "hand")


def oracle_tolerance(method: str, dtype: str, loss: float) -> Tolerance:
    """The bound for |side − oracle|: the method's error with a safety factor, plus float32's."""
    err = SAFETY * numeric.METHOD_ERROR[method]
    atol, rtol = err * max(1.0, abs(loss)), err
    if dtype == "float32":
        atol += DEFAULT_TOLERANCES["float32"].atol
        rtol += DEFAULT_TOLERANCES["float32"].rtol
    return Tolerance(atol=atol, rtol=rtol)


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


def run_oracle(
    spec: NetSpec,
    params: Mapping[str, Array],
    x: Array,
    y: NDArray[np.generic],
    method: str,
    *,
    autograd: Mapping[str, NDArray[np.floating]],
    hand: Mapping[str, NDArray[np.floating]],
    loss: float,
) -> OracleCheck:
    """Compute the oracle by ``method`` and compare both sides' gradients with it.

    Full methods compare every parameter (names ``W1, b1, …``); ``directional`` compares
    vₖᵀg for each seeded direction (names ``v1 … vK``).
    """
    tol = oracle_tolerance(method, spec.dtype, loss)
    if method == "directional":
        d = numeric.directional(spec, params, x, y)
        refs = {f"v{k + 1}": d.derivatives[..., k] for k in range(d.derivatives.shape[-1])}
        sides = [d.project(autograd), d.project(hand)]
        pairs = [
            tuple(
                compare(name, ref, side[..., k], tol, kind="oracle")
                for k, (name, ref) in enumerate(refs.items())
            )
            for side in sides
        ]
        return OracleCheck(method, tol, pairs[0], pairs[1])
    grads, kinks = numeric.full_gradient_with_kinks(spec, params, x, y, method)
    names = spec.parameters()
    pairs = []
    for side in (autograd, hand):
        pairs.append(
            tuple(
                compare(
                    p.name,
                    grads[p.name],
                    # Elements across a kink are left out: the side is compared with itself.
                    np.where(kinks[p.name], grads[p.name], np.asarray(side[p.name])),
                    tol,
                    kind="oracle",
                    torch_name=p.torch_name,
                )
                for p in names
            )
        )
    skipped = tuple(
        (p.name, int(np.count_nonzero(kinks[p.name]))) for p in names if np.any(kinks[p.name])
    )
    return OracleCheck(method, tol, pairs[0], pairs[1], skipped)
