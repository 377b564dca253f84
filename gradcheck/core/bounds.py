"""How far a correct gradient may be from autograd's: rounding, and kinks, per element.

Two correct computations of the same gradients in the same dtype differ by rounding; at a
kink (relu's 0, l1's ŷ = y, a switch of formula) they may also take different
one-sided derivatives, both valid. This module bounds both for every element of every
gradient and δ, so the verdict (``tolerance.judge``) can tell a bug from either.

**Rounding** is a running error analysis of the forward and backward pass (Higham, *Accuracy and
Stability of Numerical Algorithms*, ch. 3), evaluated once in float64 with absolute values.
With u the dtype's machine epsilon and γ(n) = n·u (a sum of n products is within
γ(n)·Σ|terms|):

    forward   Ez_l = |W_l|·Ea_{l−1} + γ(n_{l−1}+2)·(|a_{l−1}|·|W_l|ᵀ + |b_l|)
              Ea_l = |f′(z_l)|·Ez_l + C·u·|a_l|
    loss      Eδ_L = (2/N)·max_row(Ez_L) + C·u·2(1 + |ŷ| + |y|)/N
    backward  P = δ_l·W_l:   EP = Eδ_l·|W_l| + γ(n_l+2)·|δ_l|·|W_l|
              Eδ_{l−1} = EP·|f′| + |P|·(|f″|·Ez_{l−1} + C·u·(|f′| + [1 + |a_{l−1}|]))

(the bracket only where f′ is commonly computed from the output a, ``df_from_output``: σ′ =
a(1 − a) in float32 has an absolute error ~u even where σ′ itself underflows)
    weights   EW_l = Eδ_lᵀ·|a_{l−1}| + |δ_l|ᵀ·Ea_{l−1} + γ(B+2)·|δ_l|ᵀ·|a_{l−1}|
              Eb_l = Σ_batch Eδ_l + γ(B+2)·Σ_batch |δ_l|

(N is the loss's mean count; 2/N bounds |∂²L/∂ŷ²| summed over a row for every loss here, and
2(1 + |ŷ| + |y|)/N the size of the terms ∂L/∂ŷ is computed from; C = 8 ulps per elementary
function.) Each side of a check is within E of the exact value, so two correct sides are within
2E; the verdict allows ``tolerance.ROUNDING_SAFETY``·E.

**Kinks** come from the records (``Activation.kinks`` and ``.switches``, ``Loss.kinks``): an
argument within ``KINK_SAFETY``·Ez of a kink could round to either side of it, so its derivative
is the interval between the two one-sided derivatives. Intervals are carried through backprop in
midpoint–radius form (the midpoint ``center``, the radius ``kink``): a gradient element whose
radius is positive may be anywhere in ``center ± kink`` and still be a valid subgradient.

Every array may carry leading axes (a sweep's stack of cases); the algebra broadcasts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck.core import replica
from gradcheck.core.functions import Activation, Elementwise
from gradcheck.core.spec import NetSpec

Array = NDArray[np.float64]

#: Ulps allowed for one elementary function (exp, log1p, …) and its derivative.
FUNCTION_ULPS = 8.0
#: An argument within this many times its rounding bound of a kink counts as at the kink.
KINK_SAFETY = 4.0


@dataclass(frozen=True)
class TensorBounds:
    """For one gradient or δ: where a correct value lies, elementwise (float64)."""

    center: Array  # midpoint: the float64 replica, with the mean slope at kink elements
    kink: Array  # radius of the subgradient interval (0 where no kink reaches the element)
    rounding: Array  # bound E on one side's rounding error


@dataclass(frozen=True)
class Bounds:
    """Bounds for every parameter gradient (``W1``, ``b1``, …) and δ (``delta1`` …)."""

    tensors: dict[str, TensorBounds]
    kink_elements: int  # pre-activations (and loss elements) found at a kink

    def __getitem__(self, name: str) -> TensorBounds:
        return self.tensors[name]


def _t(w: Array) -> Array:
    return np.swapaxes(w, -1, -2)


def _near(values: Array, points: tuple[float, ...], radius: Array) -> NDArray[np.bool_]:
    mask = np.zeros(values.shape, dtype=bool)
    for k in points:
        mask |= np.abs(values - k) <= KINK_SAFETY * radius
    return mask


def _one_sided(
    fn: Elementwise, z: Array, points: tuple[float, ...], mask: NDArray[np.bool_]
) -> tuple[Array, Array]:
    """f′ just below and just above the nearest kink, at masked elements (f′(z) elsewhere)."""
    at = np.zeros_like(z)
    best = np.full(z.shape, np.inf)
    for k in points:
        closer = np.abs(z - k) < best
        at = np.where(closer, k, at)
        best = np.where(closer, np.abs(z - k), best)
    base = np.asarray(fn(z), dtype=np.float64)
    below = np.asarray(fn(np.nextafter(at, -np.inf)), dtype=np.float64)
    above = np.asarray(fn(np.nextafter(at, np.inf)), dtype=np.float64)
    return np.where(mask, below, base), np.where(mask, above, base)


def _curvature(act: Activation, z: Array, points: tuple[float, ...]) -> Array:
    """|f″(z)| by a central difference whose step never crosses a kink (×2 for safety)."""
    h = 1e-4 * (1.0 + np.abs(z))
    for k in points:
        h = np.minimum(h, np.maximum(np.abs(z - k) / 2.0, 1e-12))
    d = np.abs(act.df(z + h) - act.df(z - h)) / (2.0 * h)
    return np.asarray(2.0 * d, dtype=np.float64)


#: Rows per piece × units per row: the bounds of a large batch are computed a piece of rows at
#: a time (every row's δ is independent; the weight gradients are sums over rows), so the
#: temporaries stay ~2 MB an array instead of growing with the batch.
PIECE_ELEMENTS = 1 << 18


@np.errstate(all="ignore")  # overflow in a bound is an infinite bound, not a warning
def bounds(
    spec: NetSpec,
    params: Mapping[str, NDArray[np.floating]],
    x: NDArray[np.floating],
    y: NDArray[np.generic],
) -> Bounds:
    """Bounds for every gradient and δ of ``spec`` on this problem (params/x already in dtype)."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    batch = int(x.shape[-2])
    per_row = max(1, math.prod(x.shape[:-2]) * sum(spec.layers))
    step = max(1, PIECE_ELEMENTS // per_row)
    if batch <= step:
        return _bounds_rows(spec, p, x, y, batch=batch, share=1.0, with_l2=True)
    classes = spec.loss_record.takes_classes
    fields = ("center", "kink", "rounding")
    totals: dict[str, list[Array]] = {}
    kink_elements = 0
    for start in range(0, batch, step):
        stop = min(start + step, batch)
        piece = _bounds_rows(
            spec,
            p,
            x[..., start:stop, :],
            y[..., start:stop] if classes else y[..., start:stop, :],
            batch=batch,
            # A mean over the batch is the row-weighted mean of the pieces' means.
            share=(stop - start) / batch if spec.reduction == "mean" else 1.0,
            with_l2=start == 0,
        )
        kink_elements += piece.kink_elements
        # δ rows go to their place in the whole batch's arrays; a gradient's shares add up.
        # Nothing of a piece outlives it, so the peak is the result plus one piece.
        for name, t in piece.tensors.items():
            is_delta = name.startswith("delta")
            if name not in totals:
                shape = (*t.center.shape[:-2], batch, t.center.shape[-1])
                totals[name] = [
                    np.empty(shape) if is_delta else np.zeros_like(t.center) for _ in fields
                ]
            for total, value in zip(totals[name], (t.center, t.kink, t.rounding), strict=True):
                if is_delta:
                    total[..., start:stop, :] = value
                else:
                    total += value
    return Bounds({k: TensorBounds(*v) for k, v in totals.items()}, kink_elements)


def _bounds_rows(
    spec: NetSpec,
    p: Mapping[str, Array],
    x: NDArray[np.floating],
    y: NDArray[np.generic],
    *,
    batch: int,
    share: float,
    with_l2: bool,
) -> Bounds:
    """``bounds`` on some rows of a batch of ``batch``: their δ, and their share of each
    parameter gradient (the L2 term only ``with_l2``; ``share`` scales ∂L/∂ŷ from these
    rows' own reduction to the whole batch's)."""
    u = float(np.finfo(np.dtype(spec.dtype)).eps)
    loss = spec.loss_record
    aw = {k: np.abs(v) for k, v in p.items()}
    a = np.asarray(x, dtype=np.float64)
    ea = np.zeros_like(a)  # both sides receive the same x in the dtype
    zs: list[Array] = []
    ezs: list[Array] = []
    acts: list[Array] = [a]
    eas: list[Array] = [ea]
    depth = spec.depth
    for layer in range(1, depth + 1):
        w, b = p[f"W{layer}"], p[f"b{layer}"]
        n_in = spec.layers[layer - 1]
        z = a @ _t(w) + b[..., None, :]
        ez = ea @ _t(aw[f"W{layer}"]) + (n_in + 2) * u * (
            np.abs(a) @ _t(aw[f"W{layer}"]) + aw[f"b{layer}"][..., None, :]
        )
        zs.append(z)
        ezs.append(ez)
        if layer < depth:
            act = spec.activation_at(layer)
            a = np.asarray(act.f(z), dtype=np.float64)
            ea = np.abs(act.df(z)) * ez + FUNCTION_ULPS * u * np.abs(a)
            acts.append(a)
            eas.append(ea)
    # Each cached array is popped where backprop last needs it, so the forward caches shrink
    # as the backward pass grows its outputs (a large batch holds a few layers, not all).
    pred, epred = zs.pop(), ezs.pop()
    kink_elements = 0

    # δL = ∂L/∂ŷ, as an interval where ŷ − y sits at a loss kink.
    classes = loss.takes_classes
    yv = np.asarray(y)
    yf = np.ones_like(pred) if classes else yv.astype(np.float64)
    n_mean = pred.shape[-2] if loss.mean_over == "batch" else pred.shape[-2] * pred.shape[-1]
    # δL = (C·reduce)′ of the loss at ŷ = f_out(zL), back through the output activation.
    out_act = spec.output_record
    output = np.asarray(out_act.f(pred), dtype=np.float64)
    factor = replica.loss_factor(spec, output) * share
    _, dmean = loss.f(output, yv if classes else yf)
    up_mid = factor * np.asarray(dmean, dtype=np.float64)  # ∂L/∂ŷ
    up_rad = np.zeros_like(pred)
    # A loss kink (l1's ŷ = y) is bracketed where ŷ is within rounding of y: either one-sided
    # ∂L/∂ŷ is right there. ŷ's rounding: zL's, passed through the output activation (whose
    # slope is at most 1 for every output record), plus the function's own.
    if loss.kinks and not classes:
        e_out = np.max(epred, axis=-1, keepdims=True) + FUNCTION_ULPS * u * (1.0 + np.abs(output))
        near = _near(output - yf, loss.kinks, e_out + u * np.abs(yf))
        kink_elements += int(np.count_nonzero(near))
        if near.any():
            lo_out = np.where(near, np.nextafter(yf + loss.kinks[0], -np.inf), output)
            hi_out = np.where(near, np.nextafter(yf + loss.kinks[0], np.inf), output)
            lo = factor * np.asarray(loss.f(lo_out, yf)[1], dtype=np.float64)
            hi = factor * np.asarray(loss.f(hi_out, yf)[1], dtype=np.float64)
            up_mid = np.where(near, (lo + hi) / 2.0, up_mid)
            up_rad = np.where(near, np.abs(hi - lo) / 2.0, 0.0)
    # The output activation's vector-Jacobian product is linear: the interval's midpoint maps
    # to the midpoint, its radius to |J|ᵀ·radius (one column of J per output unit).
    mid = np.asarray(out_act.vjp(pred, output, up_mid), dtype=np.float64)
    rad = np.zeros_like(pred)
    if out_act.produces == "probabilities":
        # A probability that rounds to exactly 0 or 1 in the dtype leaves ∂L/∂ŷ·f′ undefined
        # there (0/0: torch clamps, the replica divides a stable f′): either side's δL is as
        # right as the other's, so the row's interval takes in both (0 and the value).
        in_dtype = np.asarray(out_act.f(pred.astype(np.dtype(spec.dtype))), dtype=np.float64)
        tiny = 2.0 * u
        low, high = in_dtype <= tiny, 1.0 - in_dtype <= tiny
        saturated = np.any(low | high, axis=-1, keepdims=True)
        saturated = np.broadcast_to(saturated, pred.shape)
        if saturated.any():
            kink_elements += int(np.count_nonzero(saturated))
            # A loss on probabilities divides by ŷ (bce: y/ŷ), so at a probability p that the
            # dtype rounds towards 0 the sides' δL can be as large as C/(N·p): the interval
            # around the float64 value takes that in (these rows are not judged, only counted).
            p_row = np.asarray(out_act.f(pred.astype(np.dtype(spec.dtype))), dtype=np.float64)
            margin = np.maximum(np.minimum(p_row, 1.0 - p_row), u)
            reach = 2.0 * factor / (n_mean * np.min(margin, axis=-1, keepdims=True))
            rad = np.where(saturated, np.abs(mid) + reach, rad)
    if np.any(up_rad):
        for j in range(pred.shape[-1]):
            column = np.zeros_like(up_rad)
            column[..., j] = up_rad[..., j]
            rad = rad + np.abs(np.asarray(out_act.vjp(pred, output, column), dtype=np.float64))
    err = factor * (
        (2.0 / n_mean) * np.max(epred, axis=-1, keepdims=True)
        + FUNCTION_ULPS * u * 2.0 * (1.0 + np.abs(pred) + np.abs(yf)) / n_mean
    ) + FUNCTION_ULPS * u * np.abs(mid)
    if out_act.produces == "probabilities":
        # ∂L/∂ŷ of a loss on probabilities divides by ŷ(1 − ŷ), whose 1 − ŷ cancels near 1:
        # relative rounding u/min(ŷ, 1 − ŷ) in the dtype, which f′ computed another way (torch
        # from ŷ, the replica from z) does not cancel.
        p_dtype = np.asarray(out_act.f(pred.astype(np.dtype(spec.dtype))), dtype=np.float64)
        margin = np.maximum(np.minimum(p_dtype, 1.0 - p_dtype), u)
        cond = np.max(1.0 / margin, axis=-1, keepdims=True)
        err = err + FUNCTION_ULPS * u * cond * (np.abs(mid) + rad)
    out: dict[str, TensorBounds] = {}
    for layer in range(depth, 0, -1):
        size = np.abs(mid) + rad  # |δ| over its interval
        out[f"delta{layer}"] = TensorBounds(mid, rad, err + u * size)
        a_prev, ea_prev = acts.pop(), eas.pop()
        abs_a = np.abs(a_prev)
        # ∂(λ·ΣW²)/∂W = 2λW joins the weight gradient on both sides, rounded once more.
        decay = 2.0 * spec.l2 * p[f"W{layer}"] if with_l2 else np.zeros_like(p[f"W{layer}"])
        out[f"W{layer}"] = TensorBounds(
            _t(mid) @ a_prev + decay,
            _t(rad) @ abs_a,
            _t(err) @ abs_a
            + _t(size) @ ea_prev
            + (batch + 2) * u * (_t(size) @ abs_a)
            + 2.0 * u * np.abs(decay),
        )
        out[f"b{layer}"] = TensorBounds(
            mid.sum(axis=-2),
            rad.sum(axis=-2),
            err.sum(axis=-2) + (batch + 2) * u * size.sum(axis=-2),
        )
        if layer == 1:
            break
        w, abs_w = p[f"W{layer}"], aw[f"W{layer}"]
        n_out = spec.layers[layer]
        proj = mid @ w
        proj_rad = rad @ abs_w
        proj_err = err @ abs_w + (n_out + 2) * u * (size @ abs_w)
        z_prev, ez_prev = zs.pop(), ezs.pop()
        act = spec.activation_at(layer - 1)
        points = tuple(sorted(set(act.kinks) | set(act.switches)))
        df = np.asarray(act.df(z_prev), dtype=np.float64)
        slope_mid, slope_rad = df, np.zeros_like(df)
        if points:
            near = _near(z_prev, points, ez_prev)
            kink_elements += int(np.count_nonzero(near))
            if near.any():
                below, above = _one_sided(act.df, z_prev, points, near)
                slope_mid = np.where(near, (below + above) / 2.0, df)
                slope_rad = np.where(near, np.abs(above - below) / 2.0, 0.0)
        slope = np.abs(slope_mid) + slope_rad
        curv = np.where(slope_rad > 0, 0.0, _curvature(act, z_prev, points))
        # f′ may be computed from the output a (σ′ = a(1 − a), as torch does): then its error
        # is absolute, ~u·(1 + |a|), not relative — it dominates where f′ underflows.
        from_output = 1.0 + abs_a if act.df_from_output is not None else 0.0
        mid = proj * slope_mid
        rad = np.abs(proj) * slope_rad + proj_rad * slope
        err = proj_err * slope + (np.abs(proj) + proj_rad) * (
            curv * ez_prev + FUNCTION_ULPS * u * (slope + from_output)
        )
    order = [q.name for q in spec.parameters()] + [f"delta{i}" for i in range(1, depth + 1)]
    return Bounds({name: out[name] for name in order}, kink_elements)
