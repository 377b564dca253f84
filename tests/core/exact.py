"""The exact gradients of a check, independent of the verdict: the network in 80-bit long double.

numpy's ``longdouble`` is the x87 extended format on x86-64 Linux (64-bit mantissa, ε ≈ 1.1e-19):
2,000× finer than float64 and 10^12× finer than float32, so its rounding is far below anything
the verdict is asked to tell apart. Formulas are the stable ones (the records' f′ from z; bce from
the logits, ``Loss.exact``). Where an argument sits *exactly* on a kink (a constructed hit: a row
of zeros and a bias at the kink) the derivative is the interval between the two one-sided ones,
carried through backprop in midpoint–radius form, as the exact subgradient set.

Nothing here reads ``core/bounds.py`` or ``core/tolerance.py``: it is the yardstick that the
verdict's allowances are measured against (``verdict_cases.detectable``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck.core import replica
from gradcheck.core.spec import NetSpec

LD = np.longdouble
Array = NDArray[np.longdouble]


@dataclass(frozen=True)
class Exact:
    """Per quantity (``W1``, ``b1``, …, ``delta1`` …): the exact value set as center ± radius."""

    center: dict[str, Array]
    radius: dict[str, Array]

    def distance(self, name: str, values: NDArray[np.generic]) -> NDArray[np.float64]:
        """How far ``values`` lie outside the exact set of ``name``, per element (float64)."""
        v = np.asarray(values, dtype=LD)
        with np.errstate(all="ignore"):
            out = np.maximum(0.0, np.abs(v - self.center[name]) - self.radius[name])
        return np.where(np.isfinite(v), out.astype(np.float64), np.inf)


def _t(w: Array) -> Array:
    return np.swapaxes(w, -1, -2)


def exact(
    spec: NetSpec,
    params: Mapping[str, NDArray[np.floating]],
    x: NDArray[np.floating],
    y: NDArray[np.generic],
) -> Exact:
    """The exact gradients and δ of ``spec`` at ``params`` (in the check's dtype), ``x``, ``y``."""
    p = {k: np.asarray(v, dtype=LD) for k, v in params.items()}
    a = np.asarray(x, dtype=LD)
    loss = spec.loss_record
    out = spec.output_record
    yv = np.asarray(y) if loss.takes_classes else np.asarray(y, dtype=LD)
    zs, acts = [], [a]
    with np.errstate(all="ignore"):
        for layer in range(1, spec.depth + 1):
            z = a @ _t(p[f"W{layer}"]) + p[f"b{layer}"][None, :]
            zs.append(z)
            if layer < spec.depth:
                a = np.asarray(spec.activation_at(layer).f(z), dtype=LD)
                acts.append(a)
        zl = zs[-1]
        pred = np.asarray(out.f(zl), dtype=LD)
        factor = LD(replica.loss_factor(spec, pred))
        if loss.exact is not None:
            mid = factor * np.asarray(loss.exact(out.name, zl, yv)[1], dtype=LD)
        else:
            g = factor * np.asarray(loss.f(pred, yv)[1], dtype=LD)
            vjp = out.stable_vjp or out.vjp
            mid = np.asarray(vjp(zl, pred, g), dtype=LD)
        rad = np.zeros_like(mid)
        if loss.kinks and not loss.takes_classes:
            hit = pred - yv == loss.kinks[0]
            if hit.any():  # exactly on l1's kink: ∂L/∂ŷ ∈ [−1, 1]/N
                lo = factor * np.asarray(loss.f(np.where(hit, yv - 1, pred), yv)[1], dtype=LD)
                hi = factor * np.asarray(loss.f(np.where(hit, yv + 1, pred), yv)[1], dtype=LD)
                mid = np.where(hit, np.asarray(out.vjp(zl, pred, (lo + hi) / 2), LD), mid)
                rad = np.asarray(out.abs_vjp(zl, pred, np.where(hit, np.abs(hi - lo) / 2, 0)), LD)
        center: dict[str, Array] = {}
        radius: dict[str, Array] = {}
        for layer in range(spec.depth, 0, -1):
            center[f"delta{layer}"], radius[f"delta{layer}"] = mid, rad
            a_prev = acts[layer - 1]
            decay = LD(2.0 * spec.l2) * p[f"W{layer}"]
            center[f"W{layer}"] = _t(mid) @ a_prev + decay
            radius[f"W{layer}"] = _t(rad) @ np.abs(a_prev)
            center[f"b{layer}"], radius[f"b{layer}"] = mid.sum(axis=0), rad.sum(axis=0)
            if layer == 1:
                break
            act = spec.activation_at(layer - 1)
            z = zs[layer - 2]
            df = np.asarray(act.df(z), dtype=LD)
            slope_mid, slope_rad = df, np.zeros_like(df)
            for k in (*act.kinks, *act.switches):
                on = z == k
                if on.any():
                    below = np.asarray(
                        act.df(np.full_like(z, np.nextafter(LD(k), LD(-np.inf)))), LD
                    )
                    above = np.asarray(act.df(np.full_like(z, np.nextafter(LD(k), LD(np.inf)))), LD)
                    slope_mid = np.where(on, (below + above) / 2, slope_mid)
                    slope_rad = np.where(on, np.abs(above - below) / 2, slope_rad)
            w = p[f"W{layer}"]
            proj, proj_rad = mid @ w, rad @ np.abs(w)
            mid = proj * slope_mid
            rad = np.abs(proj) * slope_rad + proj_rad * (np.abs(slope_mid) + slope_rad)
    return Exact(center, radius)
