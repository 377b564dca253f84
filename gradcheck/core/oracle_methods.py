"""One record per method of the numerical oracle; ``core/numeric.py`` evaluates them.

Everything that names a method reads its record: the command line's ``--oracle`` choices and
help, the JSON Schema's enum, the oracle's tolerance (its error), the budget's estimate (its
evaluations), which methods ``--oracle-sample`` takes (the full ones) and which networks a
method refuses (the complex step needs every function's complex twin). Adding a method is a
record here and its evaluation in ``numeric.py``.

Plain Python (no numpy), so that ``gradcheck --help`` can list the methods without loading it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

#: float64's machine epsilon: the oracle always works in float64.
EPS = sys.float_info.epsilon


@dataclass(frozen=True)
class OracleMethod:
    """How one method differentiates the loss numerically, and what that costs and is worth.

    Steps are relative: a pre-activation u (or, for a directional method, each layer's move
    along the direction) is stepped by ``step · max(1, |u|)``.
    """

    name: str  # ``--oracle NAME``, the JSON's ``oracle.method``
    summary: str  # a few words for --help
    #: The error relative to the loss's scale max(1, |L|) is ≈ ε^order: truncation and
    #: rounding balanced by the step (see ``numeric.py``'s docstring).
    order: float
    step: float
    #: Loss evaluations per perturbed (sample, unit), or per direction, on the symmetric pass.
    evaluations: int
    #: Central differences at h and h/2 combined as (4·D(h/2) − D(h))/3 (Richardson), which
    #: cancels the h² term; otherwise plain central differences (or the complex step).
    extrapolated: bool
    #: Step of the second-order one-sided difference taken where a symmetric one would cross a
    #: kink (higher order when ``extrapolated``); None: the method refuses kinks instead.
    one_sided_step: float | None
    #: Every element of every gradient (True), or projections vᵀ∇L on a few seeded directions.
    full: bool
    #: Evaluates the functions' complex-valid twins: only for networks that have them all.
    complex_twins: bool

    @property
    def error(self) -> float:
        """ε^order: the method's error relative to max(1, |L|)."""
        return float(EPS**self.order)


METHODS: dict[str, OracleMethod] = {
    m.name: m
    for m in (
        OracleMethod(
            "central",
            "differences at ±h",
            order=2 / 3,  # h²·|ℓ‴|/6 against ε·|ℓ|/h at h = ε^(1/3): both ≈ ε^(2/3) ≈ 4e-11
            step=EPS ** (1 / 3),
            evaluations=2,
            extrapolated=False,
            one_sided_step=EPS ** (1 / 3),  # second order, as the symmetric difference
            full=True,
            complex_twins=False,
        ),
        OracleMethod(
            "richardson",
            "differences at ±h and ±h/2, extrapolated",
            order=4 / 5,  # truncation O(h⁴) against rounding ε/h: both ≈ ε^(4/5) ≈ 3e-13
            # ≈ 1.5e-3. The factor 2 was measured: against an 80-bit reference, rounding
            # dominates at ε^(1/5) (seed network 1.7e-12 → 6.3e-13, MNIST case 2.2e-13 →
            # 1.2e-13, saturating nets with |x| of 20–40 better in every case tried).
            step=2.0 * EPS ** (1 / 5),
            evaluations=4,
            extrapolated=True,
            one_sided_step=EPS ** (1 / 4),  # third order after extrapolation: h³
            full=True,
            complex_twins=False,
        ),
        OracleMethod(
            "complex-step",
            "Im L(θ + ih)/h, for networks without kinks",
            order=1.0,  # Im ℓ(u + ih)/h subtracts nothing: no cancellation, ≈ ε
            step=1e-20,  # any tiny h works
            evaluations=1,
            extrapolated=False,
            one_sided_step=None,
            full=True,
            complex_twins=True,
        ),
        OracleMethod(
            "directional",
            "a few seeded directional derivatives, for big models",
            order=4 / 5,
            step=2.0 * EPS ** (1 / 5),
            evaluations=4,
            extrapolated=True,
            one_sided_step=EPS ** (1 / 4),
            full=False,
            complex_twins=False,
        ),
    )
}

#: Methods that give every element of every gradient (``--oracle-sample`` samples them).
FULL_METHODS: tuple[str, ...] = tuple(n for n, m in METHODS.items() if m.full)
#: Full methods that work on any network, kinks included.
REAL_FULL_METHODS: tuple[str, ...] = tuple(
    n for n, m in METHODS.items() if m.full and not m.complex_twins
)
#: The method that scales to any model size: offered when a full one is over the budget.
DIRECTIONAL = next(n for n, m in METHODS.items() if not m.full)


def oracle_method(name: str) -> OracleMethod:
    """The record of the method ``name`` (a name from ``METHODS``, already validated)."""
    return METHODS[name]


def either(names: Iterable[str]) -> str:
    """``a, b or c``: method names in a sentence."""
    *rest, last = names
    return f"{', '.join(rest)} or {last}" if rest else last


def help_text() -> str:
    """What ``--oracle`` offers, for --help: each method's name and summary."""
    parts = [f"{m.name} ({m.summary})" for m in METHODS.values()]
    return either(parts)
