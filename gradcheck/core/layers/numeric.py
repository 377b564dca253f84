"""The numerical oracle of a layer: its gradients from forward passes alone, in float64.

The function differentiated is the check's own objective, ℓ = Σ_outputs Σ(dout ⊙ out) (a loss
kind: the loss), and the forward evaluated is the kind's reference forward in NumPy
(``LayerKind.forward``, the same for any implementation checked), or the user's own forward for
a custom layer. Neither autograd nor any backward is consulted.

**Batched perturbations.** An element of an argument reaches only some outputs (an input pixel
only the windows covering it, a weight only its filter's outputs). Elements whose reaches never
meet share a *color* (``kind.Structure``) and are perturbed in the same forward pass: each
output's change belongs to the one element that reached it, and summing dout ⊙ Δout over the
outputs each element reaches (``Structure.gather``) gives that element's own difference (Curtis,
Powell and Reid's grouping of a sparse Jacobian's columns). A 3×3 convolution's input then
costs C·9 colors whatever its size: 27 for 3 channels, against 12,288 single perturbations of
a 4×3×32×32 input. A custom layer has no known structure: each element is its own color.

**Differences.** Per color, four forward passes: at ±h and ±2h (``central``: the central
difference at h, error h²; h = ε^(1/3)·max(1, |θ|)) or at ±h/2 and ±h (``richardson``: (4·D(h/2)
− D(h))/3, error h⁴; h = 2ε^(1/5)·max(1, |θ|)). The same passes give the two second-order
one-sided differences; where they disagree beyond the oracle's own error the element sits at a
kink or a tie (relu at 0, a tied maximum, a margin at 0): its value is then the interval they
span with the central one (both one-sided derivatives, and the chords between).

**Error.** Per element, a difference loses to rounding what the float64 forward loses in the
outputs the element reaches (their rounding bound, ``tracked.py``, run in float64: where an
output cancels, log(1 + e^−30) say, that is far more than ε times its value), divided by h; and
h²·ℓ‴ to truncation, ε^order·S/max(1, |θ|) with S the size of the objective's terms it
reaches (``Structure.gather`` of |dout ⊙ out|). The allowance is NOISE_SAFETY times the first
and SAFETY times the second (the method's error, ``OracleMethod.error``), plus SAFETY·ε^order
relative to the value itself, plus the difference between the estimates at the two steps
(3·c·h² for central differences: the truncation measured, not assumed; an upper estimate of
Richardson's own), twice. Where one-sided differences disagree beyond it, the element sits
at a kink or a tie within the step: the oracle reports it and does not compare it (at a tie of
overlapping windows no coordinate's differences span every valid value).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.layers.kind import Case, Structure
from gradcheck.core.layers.tracked import Rounding, Tracked, bound_of
from gradcheck.core.oracle_methods import METHODS

Array = NDArray[np.float64]
Objective = Callable[[Mapping[str, Any]], dict[str, Array]]

#: Measured errors sit far below ε^order·S; the factor covers the unknown third derivative.
SAFETY = 1000.0
#: The forward's rounding in a difference, over h: two evaluations, and Richardson's 4/3 + 1/3.
NOISE_SAFETY = 10.0
#: Times the difference between the two steps' estimates (which is ~3× the truncation).
TRUNCATION_SAFETY = 2.0


@dataclass(frozen=True)
class LayerNumerical:
    """The oracle's gradient of each differentiated argument (by course name: ``dx``, …)."""

    method: str
    values: dict[str, Array]  # the estimate (0 where not compared)
    allowance: dict[str, Array]  # the oracle's own error bound per element
    kinks: dict[str, NDArray[np.bool_]]  # one-sided differences disagree: a kink or a tie
    unjudged: dict[str, NDArray[np.bool_]]  # a perturbed forward was not finite
    evaluations: int  # forward passes made

    def left_out(self, name: str) -> NDArray[np.bool_]:
        """Elements not compared: at a kink or tie, or not finite."""
        return self.kinks[name] | self.unjudged[name]


def reference_objective(case: Case) -> Objective:
    """The kind's own forward in float64, as a map per output (a loss: its per-row terms)."""
    kind = case.kind

    def objective(inputs: Mapping[str, Any]) -> dict[str, Array]:
        outs, _ = kind.forward({**case.arrays, **inputs}, case.params)
        return {k: np.asarray(v, dtype=np.float64) for k, v in outs.items()}

    return objective


def reference_noise(case: Case) -> dict[str, Array]:
    """The float64 forward's rounding bound per output element (``tracked.py``)."""
    r = Rounding.of("float64")
    kind = case.kind
    args = {
        k: Tracked.exact(v, r) if any(a.name == k for a in kind.differentiated) else v
        for k, v in case.arrays.items()
    }
    with np.errstate(all="ignore"):
        outs, _ = kind.forward(args, case.params)
    return {k: np.asarray(bound_of(v), dtype=np.float64) for k, v in outs.items()}


def weights_of(case: Case, names: tuple[str, ...]) -> dict[str, Array | float]:
    """What each output's change is multiplied by: its dout (1 for a loss's terms)."""
    if case.kind.loss:
        return {name: 1.0 for name in names}
    return {name: np.asarray(case.douts[f"d{name}"], dtype=np.float64) for name in names}


def gradient(
    case: Case,
    method: str,
    *,
    objective: Objective | None = None,
    weights: Mapping[str, Array | float] | None = None,
    noise: Mapping[str, Array] | None = None,
    arguments: tuple[str, ...] | None = None,
    structured: bool = True,
) -> LayerNumerical:
    """The oracle's gradient of the objective in each argument (``arguments``: by default the
    kind's differentiated ones), by ``method`` (a real full method: central or richardson).

    ``objective``/``weights``/``noise`` default to the kind's reference forward, the case's
    douts and the forward's float64 rounding bound; ``structured`` False perturbs one element at
    a time (a custom layer's forward, whose rounding is unknown).
    """
    m = METHODS[method]
    kind = case.kind
    f = objective or reference_objective(case)
    names = arguments or tuple(a.name for a in kind.differentiated)
    inputs = {k: np.asarray(case.arrays[k], dtype=np.float64) for k in names}
    with np.errstate(all="ignore"):
        base = f(inputs)
        w = dict(weights) if weights is not None else weights_of(case, tuple(base))
        size = {k: np.abs(w[k] * base[k]) for k in base}
        if noise is None:
            noise = reference_noise(case) if objective is None else {}
        rounding = {k: np.abs(w[k]) * noise.get(k, np.zeros(np.shape(base[k]))) for k in base}
    factors = (0.5, -0.5, 1.0, -1.0) if m.extrapolated else (1.0, -1.0, 2.0, -2.0)
    values: dict[str, Array] = {}
    kinks: dict[str, NDArray[np.bool_]] = {}
    allowance: dict[str, Array] = {}
    unjudged: dict[str, NDArray[np.bool_]] = {}
    evaluations = 1
    for name in names:
        theta = inputs[name]
        scale = np.maximum(1.0, np.abs(theta))
        h = (theta + m.step * scale) - theta
        reach: Callable[[Mapping[str, Array]], Array]
        if structured:
            s = kind.structure[name]
            colors = s.colors(theta.shape, case)
            reach = _structured(s, case)
        else:
            colors = np.arange(theta.size).reshape(theta.shape)
            reach = _everything(theta.shape)

        est, allow = np.zeros(theta.shape), np.zeros(theta.shape)
        kink_at, bad = np.zeros(theta.shape, bool), np.zeros(theta.shape, bool)
        with np.errstate(all="ignore"):
            err = SAFETY * m.error * (reach(size) / scale) + NOISE_SAFETY * reach(
                rounding
            ) / np.abs(h)
            for color in np.unique(colors):
                sel = colors == color
                g = []
                for factor in factors:
                    moved = {**inputs, name: np.where(sel, theta + factor * h, theta)}
                    out = f(moved)
                    evaluations += 1
                    change = {k: w[k] * (out[k] - base[k]) for k in base}
                    g.append(reach(change)[sel])
                hh = h[sel]
                if m.extrapolated:
                    g_half, g_mhalf, g_one, g_mone = g
                    small = (g_half - g_mhalf) / hh  # D(h/2)
                    large = (g_one - g_mone) / (2 * hh)  # D(h)
                    value = (4.0 * small - large) / 3.0
                    plus = (4.0 * g_half - g_one) / hh
                    minus = (g_mone - 4.0 * g_mhalf) / hh
                else:
                    g_one, g_mone, g_two, g_mtwo = g
                    small = value = (g_one - g_mone) / (2 * hh)  # D(h)
                    large = (g_two - g_mtwo) / (4 * hh)  # D(2h)
                    plus = (4.0 * g_one - g_two) / (2 * hh)
                    minus = (g_mtwo - 4.0 * g_mone) / (2 * hh)
                finite = np.isfinite(value) & np.isfinite(plus) & np.isfinite(minus)
                # The two steps' estimates differ by 3·c·h² (or 3/4 of it): the truncation of
                # either, measured rather than assumed (twice it, for the terms beyond h²).
                trunc = TRUNCATION_SAFETY * np.abs(small - large)
                bound = err[sel] + SAFETY * m.error * np.abs(value) + trunc
                # Smooth, the one-sided differences are within 4/3 of that of each other.
                kink = finite & (np.abs(plus - minus) > 2.0 * bound)
                est[sel] = np.where(finite & ~kink, value, 0.0)
                allow[sel] = np.where(finite, bound, np.inf)
                kink_at[sel] = kink
                bad[sel] = ~finite
        key = f"d{name}"
        values[key], kinks[key], unjudged[key] = est, kink_at, bad
        allowance[key] = allow
    return LayerNumerical(method, values, allowance, kinks, unjudged, evaluations)


def _structured(s: Structure, case: Case) -> Callable[[Mapping[str, Array]], Array]:
    """Each element's sum over the outputs it reaches (the pattern's transpose, applied)."""
    return lambda maps: np.asarray(s.gather(maps, case), dtype=np.float64)


def _everything(shape: tuple[int, ...]) -> Callable[[Mapping[str, Array]], Array]:
    """No known pattern: every output, for the one element perturbed."""
    return lambda maps: np.full(shape, sum(float(np.sum(v)) for v in maps.values()))
