"""Where a correct value lies, for every element of every compared quantity: an interval and a
rounding bound.

Two correct computations of the same network in the same dtype differ by rounding. Where the
mathematics leaves a choice they may also differ by more: at a kink (a rectifier's 0, l1's ŷ =
y, a switch of formula) either one-sided derivative is right; where a probability output rounds
to 0 or 1, torch's clamped formula (bce: logs ≥ −100, its gradient divided by max(ŷ(1 − ŷ),
1e-12)) and the exact value from the logits are both right. This module gives, per element of
the prediction, the loss, every δ and every parameter gradient:

- an **interval** ``center ± radius`` of the values the exact computation can take (radius 0
  where there is no choice), carried through backprop in midpoint–radius form: the midpoint maps
  through the linear map, the radius through its absolute value; and
- a **rounding bound** E on one side's error in the check's dtype.

**Rounding** is a running error analysis of the forward and backward pass (Higham, *Accuracy and
Stability of Numerical Algorithms*, ch. 3), evaluated once in float64 with absolute values. With
u the dtype's machine epsilon, an inner product of n terms plus one more is within
``inner(n)·Σ|terms|`` of exact, where

    inner(n) = min(n + 2, λ·√(n + 2))·u,   λ = PROBABILISTIC_LAMBDA = 6

is the smaller of the worst-case bound γ(n + 2) and the probabilistic bound of Higham & Mary
(*A New Approach to Probabilistic Rounding Error Analysis*, SIAM J. Sci. Comput. 41(5), 2019,
Theorem 2.4): it holds with probability at least 1 − 2(n + 2)·exp(−λ²/2) ≈ 1 − 3e-8·n per inner
product, under their model of independent rounding errors. Worst-case bounds grow with n where
real errors grow with √n: at 784 inputs the worst case is 28× the typical error, and a bound
that wide hides bugs.

    forward   Ez_l = Ea_{l−1}·|W_l|ᵀ + inner(n_{l−1})·(|a_{l−1}|·|W_l|ᵀ + |b_l|) + (n_{l−1}+2)·η
              Ea_l = max|f′|·Ez_l + C·u·(|a_l| + bounded_f) + η
    backward  P = δ_l·W_l:   EP = Eδ_l·|W_l| + inner(n_l)·(|δ_l| + r_l)·|W_l|
              Eδ_{l−1} = EP·|f′| + (|P| + rP)·(|f″|·Ez_{l−1} + C·u·(|f′| + bounded_f))
    weights   EW_l = Eδ_lᵀ·|a_{l−1}| + (|δ_l| + r_l)ᵀ·Ea_{l−1} + inner(B)·(|δ_l| + r_l)ᵀ·|a_{l−1}|
              Eb_l = Σ_batch Eδ_l + inner(B)·Σ_batch (|δ_l| + r_l)

η is the smallest subnormal (an underflow's absolute error), C = FUNCTION_ULPS ulps per
elementary function, ``bounded_f`` the bound of a bounded activation (``Activation.bounded``):
every correct formula of σ near 0 has an absolute error of ~ε, not a relative one ((1 +
th(z/2))/2 is 0 where 1/(1 + e^−z) is 1e-13). max|f′| is taken over both sides of a kink that z
is within rounding of. The output head (δL, the prediction, the loss) is in ``_head``.

**Kinks** come from the records (``Activation.kinks`` and ``.switches``, ``Loss.kinks``): an
argument within ``KINK_SAFETY``·Ez of a kink could round to either side of it, so its derivative
is the interval between the two one-sided derivatives.

Every array may carry leading axes (a sweep's stack of cases); the algebra broadcasts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from gradcheck.core import replica
from gradcheck.core.functions import Activation, Elementwise
from gradcheck.core.spec import NetSpec

Array = NDArray[np.float64]

#: Ulps allowed for one elementary function (exp, log1p, …) and its derivative.
FUNCTION_ULPS = 8.0
#: An argument within this many times its rounding bound of a kink counts as at the kink.
KINK_SAFETY = 2.0
#: λ of the probabilistic inner-product bound (see the module docstring).
PROBABILISTIC_LAMBDA = 6.0


def inner(n: int, u: float) -> float:
    """The relative bound of an inner product of ``n`` terms plus a bias: see the docstring."""
    return min(n + 2.0, PROBABILISTIC_LAMBDA * math.sqrt(n + 2.0)) * u


#: The final bound is min(worst case, KAPPA·σ): σ the standard deviation of the error under
#: the probabilistic model (independent rounding errors), KAPPA its confidence multiple.
KAPPA = 6.0


@dataclass(frozen=True)
class Err:
    """One side's rounding error of an array, two ways: ``worst`` bounds it whatever the signs
    of the individual rounding errors; ``var`` bounds its variance when they are independent
    with mean zero (the model of Higham & Mary's probabilistic analysis), carried through the
    linear maps as variances (each element's errors taken as uncorrelated). ``bound`` is the
    smaller of the two, min(worst, KAPPA·√var): one confidence multiple for the whole chain,
    where a per-step λ would compound with depth."""

    worst: Array
    var: Array

    def __add__(self, other: Err) -> Err:
        return Err(self.worst + other.worst, self.var + other.var)

    def scaled(self, s: Array | float) -> Err:
        """The error of s·value for s ≥ 0 known exactly."""
        s = np.abs(s)
        return Err(self.worst * s, self.var * np.square(s))

    def through(self, m: Array) -> Err:
        """The error of value·M (…, n)·(n, m) for M known exactly."""
        return Err(self.worst @ np.abs(m), self.var @ np.square(m))

    @property
    def bound(self) -> Array:
        return np.asarray(np.minimum(self.worst, KAPPA * np.sqrt(self.var)))


def local(size: Array | float) -> Err:
    """One rounding source bounded by ``size``: its own worst case and standard deviation."""
    size = np.asarray(size, dtype=np.float64)
    return Err(size, np.square(size))


def summed(
    n: int | Array,
    u: float,
    terms: Array,
    squares: Array | None = None,
    value: Array | None = None,
) -> Err:
    """The rounding of a sum of ``n`` terms (plus one): ``inner(n)``·Σ|terms| at worst. Its
    standard deviation is u·√(Σ_k s_k²) over the n + 2 partial sums s_k; each is taken as at
    most |the sum| + √(Σ terms²) (given ``squares`` and ``value``: partial sums that wander from
    the final value like a random walk, as they do where the terms' signs are not sorted, the
    case of generic weights and data), else as at most Σ|terms| (whatever the order)."""
    count = np.asarray(n, dtype=np.float64) + 2.0  # (terms that are exact zeros round nothing)
    relative = np.minimum(count, PROBABILISTIC_LAMBDA * np.sqrt(count))
    relative *= u
    worst = relative * terms
    del relative  # (in place from here on: these arrays may be as large as a weight matrix)
    if squares is None or value is None:
        reach = np.asarray(np.square(terms))
    else:
        reach = np.asarray(np.sqrt(squares) + np.abs(value))
        np.minimum(reach, terms, out=reach)
        np.square(reach, out=reach)
    reach *= count
    reach *= u * u
    return Err(np.asarray(worst), reach)


def carried(err: Array, w: Array) -> Array:
    """A bound on e·W for errors |e| ≤ ``err`` (…, B, n) through weights W (n, m): the smaller
    of the worst case ``err·|W|`` and ``KAPPA·√(err²·W²)`` (the errors' signs independent of
    W's, as in ``Err``)."""
    worst = err @ np.abs(w)
    rms = np.sqrt(np.square(err) @ np.square(w))
    return np.asarray(np.minimum(worst, KAPPA * rms))


@dataclass(frozen=True)
class TensorBounds:
    """For one compared quantity: where a correct value lies, elementwise (float64)."""

    center: Array  # midpoint of the interval of valid values
    radius: Array  # its half-width: 0 where no kink or saturation reaches the element
    rounding: Array  # bound E on one side's rounding error (inf: not judged)


@dataclass(frozen=True)
class Bounds:
    """Bounds for the prediction, the loss, every gradient (``W1``, ``b1``, …) and δ."""

    tensors: dict[str, TensorBounds]
    kink_elements: int  # pre-activations (and loss elements) found at a kink
    saturated_rows: int  # rows whose probability output makes the literal formula depart

    def __getitem__(self, name: str) -> TensorBounds:
        return self.tensors[name]

    def get(self, name: str) -> TensorBounds | None:
        return self.tensors.get(name)


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


@dataclass(frozen=True)
class _Slope:
    """f′ at a layer's pre-activations as an interval (one-sided at kinks), and the mask."""

    mid: Array
    rad: Array
    near: NDArray[np.bool_]

    @property
    def largest(self) -> Array:
        return np.abs(self.mid) + self.rad


def _slope(act: Activation, z: Array, ez: Array) -> _Slope:
    df = np.asarray(act.df(z), dtype=np.float64)
    points = tuple(sorted(set(act.kinks) | set(act.switches)))
    near = _near(z, points, ez) if points else np.zeros(z.shape, dtype=bool)
    if not near.any():
        return _Slope(df, np.zeros_like(df), near)
    below, above = _one_sided(act.df, z, points, near)
    return _Slope(
        np.where(near, (below + above) / 2.0, df),
        np.where(near, np.abs(above - below) / 2.0, 0.0),
        near,
    )


#: Rows per piece × units per row: the bounds of a large batch are computed a piece of rows at
#: a time (every row's δ is independent; the weight gradients are sums over rows), so the
#: temporaries stay ~2 MB an array instead of growing with the batch.
PIECE_ELEMENTS = 1 << 18

#: Quantities whose rows are the batch's (placed per piece); the others add up over pieces.
_ROWWISE = ("prediction", "delta")


@dataclass(frozen=True)
class _Part:
    """A quantity's bounds on some rows of the batch, before the rows' pieces are combined:
    its interval, its error so far, and (for a sum over the batch) the absolute values of the
    terms of that final sum, whose rounding is added once the whole sum is known."""

    center: Array
    radius: Array
    err: Err
    terms: Array | None = None  # Σ|terms| of the final sum over the batch
    squares: Array | None = None  # Σ terms² of that sum
    count: Array | None = None  # how many of its terms are not exactly 0


@np.errstate(all="ignore")  # overflow in a bound is an infinite bound (not judged), not a warning
def bounds(
    spec: NetSpec,
    params: Mapping[str, NDArray[np.floating]],
    x: NDArray[np.floating],
    y: NDArray[np.generic],
) -> Bounds:
    """Bounds for every compared quantity of ``spec`` on this problem (params/x already in the
    check's dtype)."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    u = float(np.finfo(np.dtype(spec.dtype)).eps)
    batch = int(x.shape[-2])
    per_row = max(1, math.prod(x.shape[:-2]) * sum(spec.layers))
    step = max(1, PIECE_ELEMENTS // per_row)
    classes = spec.loss_record.takes_classes
    # center, radius, worst, var, and for a sum over the batch its terms, squares and count
    totals: dict[str, list[Array | None]] = {}
    kinks = saturated = 0
    for start in range(0, batch, step):
        stop = min(start + step, batch)
        parts, piece_kinks, piece_saturated = _bounds_rows(
            spec,
            p,
            x[..., start:stop, :],
            y[..., start:stop] if classes else y[..., start:stop, :],
            batch=batch,
            # A mean over the batch is the row-weighted mean of the pieces' means.
            share=(stop - start) / batch if spec.reduction == "mean" else 1.0,
            with_l2=start == 0,
            totals=totals,
        )
        kinks += piece_kinks
        saturated += piece_saturated
        # Row quantities go to their place in the whole batch's arrays; a gradient's (and the
        # loss's) shares add up (worst cases and variances alike). Nothing of a piece outlives
        # it: the peak is the result plus one piece (the gradients are added as they are made).
        for name, part in parts.items():
            fields = [
                part.center,
                part.radius,
                part.err.worst,
                part.err.var,
                part.terms,
                part.squares,
                part.count,
            ]
            if name.startswith(_ROWWISE) and stop - start < batch:
                if name not in totals:
                    shape = (*part.center.shape[:-2], batch, part.center.shape[-1])
                    totals[name] = [np.empty(shape) for _ in fields[:4]] + [None, None, None]
                for total, value in zip(totals[name][:4], fields[:4], strict=True):
                    assert total is not None
                    total[..., start:stop, :] = value
            elif name not in totals:  # (the loss's arrays, added to below, may be shared)
                totals[name] = [
                    np.copy(v) if name == "loss" and v is not None else v for v in fields
                ]
            else:
                for total, value in zip(totals[name], fields, strict=True):
                    if total is not None and value is not None:
                        np.add(total, value, out=total)
        del parts
    out = {}
    order = ["prediction", "loss"]
    order += [q.name for q in spec.parameters()] + [f"delta{i}" for i in range(1, spec.depth + 1)]
    for name in order:  # each quantity's working arrays freed as its bounds are made
        center, radius, worst, var, terms, squares, count = totals.pop(name)
        assert center is not None and radius is not None and worst is not None and var is not None
        err = Err(worst, var)
        del worst, var
        if terms is not None and count is not None:
            err = err + summed(count, u, terms, squares, np.abs(center) + radius)
            del terms, squares, count
        out[name] = TensorBounds(center, radius, err.bound)
    return Bounds(out, kinks, saturated)


@dataclass(frozen=True)
class _Forward:
    zs: list[Array]
    ezs: list[Err]
    acts: list[Array]
    eas: list[Err]
    slopes: list[_Slope]
    kink_elements: int


def _forward(spec: NetSpec, p: Mapping[str, Array], x: NDArray[np.floating], u: float) -> _Forward:
    """The forward pass with its rounding errors and, per hidden layer, f′ as an interval."""
    eta = _eta(spec)
    a = np.asarray(x, dtype=np.float64)
    ea = local(np.zeros_like(a))  # both sides receive the same x in the dtype
    out = _Forward([], [], [a], [ea], [], 0)
    kinks = 0
    for layer in range(1, spec.depth + 1):
        w, b = p[f"W{layer}"], p[f"b{layer}"]
        n_in = spec.layers[layer - 1]
        z = a @ _t(w) + b[..., None, :]
        terms = np.abs(a) @ _t(np.abs(w)) + np.abs(b)[..., None, :]
        squares = np.square(a) @ _t(np.square(w)) + np.square(b)[..., None, :]
        nonzero = np.count_nonzero(a, axis=-1)[..., None]  # the terms that round at all
        ez = ea.through(_t(w)) + summed(nonzero, u, terms, squares, z) + local((n_in + 2) * eta)
        out.zs.append(z)
        out.ezs.append(ez)
        if layer < spec.depth:
            act = spec.activation_at(layer)
            slope = _slope(act, z, ez.bound)
            kinks += int(np.count_nonzero(slope.near))
            a = np.asarray(act.f(z), dtype=np.float64)
            # Near a kink a side may take either slope: its a moves by the larger one.
            ea = ez.scaled(slope.largest) + local(
                FUNCTION_ULPS * u * (np.abs(a) + act.bounded) + eta
            )
            out.acts.append(a)
            out.eas.append(ea)
            out.slopes.append(slope)
    return _Forward(out.zs, out.ezs, out.acts, out.eas, out.slopes, kinks)


def _eta(spec: NetSpec) -> float:
    """The dtype's smallest subnormal: the absolute error of a result that underflows."""
    return float(np.finfo(np.dtype(spec.dtype)).smallest_subnormal)


def _bounds_rows(
    spec: NetSpec,
    p: Mapping[str, Array],
    x: NDArray[np.floating],
    y: NDArray[np.generic],
    *,
    batch: int,
    share: float,
    with_l2: bool,
    totals: dict[str, list[Array | None]],
) -> tuple[dict[str, _Part], int, int]:
    """``bounds`` on some rows of a batch of ``batch``: their prediction and δ, and their share
    of the loss and each parameter gradient (the L2 term only ``with_l2``; ``share`` scales ∂L/∂ŷ
    from these rows' own reduction to the whole batch's); the kink elements and saturated rows
    found among them. The gradients' shares go straight into ``totals`` (center, radius,
    worst, var, terms, squares, count), one array at a time, so that a piece adds no more than
    an array or two of a weight matrix's size to the totals it adds to."""
    u = float(np.finfo(np.dtype(spec.dtype)).eps)
    eta = _eta(spec)

    def put(name: str, field: int, value: Array) -> None:
        slot = totals.setdefault(name, [None] * 7)
        total = slot[field]
        if total is None:
            slot[field] = value
        else:
            np.add(total, value, out=total)

    fwd = _forward(spec, p, x, u)
    head = _head(spec, fwd.zs.pop(), fwd.ezs.pop(), y, u, share, batch)
    out: dict[str, _Part] = {"prediction": head.prediction}
    loss = head.loss
    if with_l2:  # the first piece's share carries what is added once
        loss = replace(loss, err=loss.err + local(eta))
    if with_l2 and spec.has_l2:
        penalty = np.asarray(replica.l2_penalty(spec, p), dtype=np.float64)
        loss = replace(
            loss,
            center=loss.center + penalty,
            err=loss.err + summed(spec.n_parameters, u, 2.0 * np.abs(penalty)),
        )
    mid, rad, err = head.delta
    kink_elements = head.kink_elements + fwd.kink_elements
    depth = spec.depth
    for layer in range(depth, 0, -1):
        size = np.abs(mid) + rad  # |δ| over its interval
        out[f"delta{layer}"] = _Part(mid, rad, err + local(u * size + eta))
        a_prev, ea_prev = fwd.acts.pop(), fwd.eas.pop()
        abs_a = np.abs(a_prev)
        rows = int(a_prev.shape[-2])
        # dW = δᵀ·a over the batch: δ's errors times a, δ times a's errors (rows independent,
        # their variances add), the sum's own rounding once the whole batch is in, and 2λW's.
        name = f"W{layer}"
        put(name, 0, _t(mid) @ a_prev)
        put(name, 1, _t(rad) @ abs_a)
        put(name, 2, _t(err.worst) @ abs_a)
        put(name, 2, _t(size) @ ea_prev.worst)
        put(name, 3, _t(err.var) @ np.square(a_prev))
        put(name, 3, _t(np.square(size)) @ ea_prev.var)
        put(name, 4, _t(size) @ abs_a)
        put(name, 5, _t(np.square(size)) @ np.square(a_prev))
        put(name, 6, _t((size != 0).astype(np.float64)) @ (a_prev != 0).astype(np.float64))
        _decayed(spec, p, name, totals[name], u, rows, with_l2)
        name = f"b{layer}"
        put(name, 0, mid.sum(axis=-2))
        put(name, 1, rad.sum(axis=-2))
        put(name, 2, err.worst.sum(axis=-2))
        put(name, 3, err.var.sum(axis=-2))
        put(name, 4, size.sum(axis=-2))
        put(name, 5, np.square(size).sum(axis=-2))
        put(name, 6, np.count_nonzero(size, axis=-2).astype(np.float64))
        _decayed(spec, p, name, totals[name], u, rows, with_l2)
        if layer == 1:
            break
        w = p[f"W{layer}"]
        abs_w = np.abs(w)
        n_out = spec.layers[layer]
        proj = mid @ w
        proj_rad = rad @ abs_w
        proj_err = (
            err.through(w)
            + summed(
                np.count_nonzero(size, axis=-1)[..., None],
                u,
                size @ abs_w,
                np.square(size) @ np.square(w),
                np.abs(proj) + proj_rad,
            )
            + local((n_out + 2) * eta)
        )
        z_prev, ez_prev = fwd.zs.pop(), fwd.ezs.pop()
        act = spec.activation_at(layer - 1)
        slope = fwd.slopes.pop()
        points = tuple(sorted(set(act.kinks) | set(act.switches)))
        curv = np.where(slope.rad > 0, 0.0, _curvature(act, z_prev, points))
        mid = proj * slope.mid
        rad = np.abs(proj) * slope.rad + proj_rad * slope.largest
        # f′ may be computed from the output a (σ′ = a(1 − a), as torch does): its error is
        # then absolute, ~u·bounded, not relative — it dominates where f′ underflows. It
        # multiplies the computed P, which is as large as its own rounding where P's interval
        # is 0 (a head whose exact δ cancels to 0).
        reach = np.abs(proj) + proj_rad + proj_err.bound
        err = (
            proj_err.scaled(slope.largest)
            + ez_prev.scaled(reach * curv)
            + local(reach * FUNCTION_ULPS * u * (slope.largest + act.bounded))
        )
    out["loss"] = loss
    return out, kink_elements, head.saturated_rows


def _decayed(
    spec: NetSpec,
    p: Mapping[str, Array],
    name: str,
    total: list[Array | None],
    u: float,
    rows: int,
    with_l2: bool,
) -> None:
    """Adds in place to a gradient's ``total`` (center, radius, worst, var, …) the underflows
    of these ``rows`` (one per row's product, independent) and, ``with_l2`` (once per batch),
    the L2 term ∂(λ·Σp²)/∂p = 2λp with its rounding and two more underflows."""
    center, _, worst, var, *_ = total
    assert center is not None and worst is not None and var is not None
    eta = _eta(spec)
    worst += (rows + 2 * with_l2) * eta
    var += (rows + 4 * with_l2) * eta * eta
    if with_l2 and spec.l2_of(name) != 0:
        decay = 2.0 * spec.l2_of(name) * p[name]
        center += decay
        rounding = 2.0 * u * np.abs(decay)
        worst += rounding
        var += np.square(rounding)


@dataclass(frozen=True)
class _Head:
    prediction: _Part
    loss: _Part
    delta: tuple[Array, Array, Err]  # δL as (center, radius, rounding error)
    kink_elements: int
    saturated_rows: int


def _head(
    spec: NetSpec, z: Array, ez: Err, y: NDArray[np.generic], u: float, share: float, batch: int
) -> _Head:
    """The output head: the prediction ŷ = f_out(zL), the loss and δL = ∂L/∂zL.

    δL's interval is the hull of two valid values: the literal formula (the loss's ∂L/∂ŷ back
    through the output's vjp with f′ from ŷ, as torch computes it) on ŷ as the dtype rounds it,
    and the exact value from the logits (``Loss.exact``, or the vjp with f′ from z). They differ
    by more than rounding only where ŷ rounds to 0 or 1 (torch's clamps, σ′ = ŷ(1 − ŷ) = 0). At
    an l1 kink (ŷ within rounding of y) ∂L/∂ŷ is the interval of its one-sided values, mapped
    through |J|ᵀ. The loss of a row whose probability rounds to exactly 0 or 1 under a clamped
    loss (bce: log 0) has no finite bound: it is not judged.
    """
    eta = _eta(spec)
    dtype = np.dtype(spec.dtype)
    out, loss = spec.output_record, spec.loss_record
    classes = loss.takes_classes
    yv = np.asarray(y)
    yf = np.zeros_like(z) if classes else yv.astype(np.float64)
    n_mean = z.shape[-2] if loss.mean_over == "batch" else z.shape[-2] * z.shape[-1]
    pred = np.asarray(out.f(z), dtype=np.float64)
    in_dtype = np.asarray(out.f(z.astype(dtype)), dtype=np.float64)
    # ŷ's error: zL's through the output's slope (a row's worst for a softmax), and its own.
    row_ez = (
        Err(np.max(ez.worst, axis=-1, keepdims=True), np.max(ez.var, axis=-1, keepdims=True))
        if out.mixes
        else ez
    )
    e_pred = row_ez.scaled(np.asarray(out.slope(z, pred), np.float64)) + local(
        FUNCTION_ULPS * u * np.asarray(out.value_error(z, pred), np.float64) + eta
    )
    factor = replica.loss_factor(spec, pred) * share
    target = yv if classes else yf

    def dloss(values: Array) -> Array:
        return factor * np.asarray(loss.f(values, target)[1], dtype=np.float64)

    g = dloss(pred)
    literal = np.asarray(out.vjp(z, in_dtype, dloss(in_dtype)), dtype=np.float64)
    loss_value, loss_literal = (
        factor * np.asarray(loss.f(v, target)[0], dtype=np.float64) for v in (pred, in_dtype)
    )

    def exact_at(zz: Array) -> tuple[Array | None, Array]:
        """(the loss, δL) of the exact formula at pre-activations ``zz``."""
        if loss.exact is not None:
            value, grad = loss.exact(out.name, zz, target)
            return factor * np.asarray(value, np.float64), factor * np.asarray(grad, np.float64)
        vjp = out.stable_vjp or out.vjp
        at = np.asarray(out.f(zz), dtype=np.float64)
        return None, np.asarray(vjp(zz, at, dloss(at)), dtype=np.float64)

    exact_loss, exact = exact_at(z)
    if exact_loss is not None:
        loss_value = exact_loss
    # How far δL moves when zL moves by its rounding: |∂δL/∂zL|·Ez, the slope measured on the
    # exact formula unit by unit (a central difference with a step far above rounding, ×2 for
    # the curvature within it), where no unit's δL depends on another's (an elementwise output
    # and a loss per element); otherwise bounded by 2/N·max Ez (|∂²L/∂z²| summed over a row,
    # for every loss here).
    if out.mixes or classes:
        moved = (
            row_ez.scaled(np.full_like(z, factor * 2.0 / n_mean))
            if out.mixes
            else Err(
                np.broadcast_to(
                    factor * (2.0 / n_mean) * np.max(ez.worst, axis=-1, keepdims=True), z.shape
                ),
                np.broadcast_to(
                    np.square(factor * 2.0 / n_mean) * np.max(ez.var, axis=-1, keepdims=True),
                    z.shape,
                ),
            )
        )
    else:
        h = 1e-5 * (1.0 + np.abs(z))
        slope = np.abs(exact_at(z + h)[1] - exact_at(z - h)[1]) / (2.0 * h)
        moved = ez.scaled(2.0 * slope)
    mid, rad = exact, np.zeros_like(exact)
    kink_elements = 0
    # An l1 kink: where ŷ is within rounding of y, ∂L/∂ŷ is either one-sided value; the
    # midpoint of the two maps through the vjp, the half-difference through |J|ᵀ.
    if loss.kinks and not classes:
        near = _near(pred - yf, loss.kinks, e_pred.bound + u * np.abs(yf))
        kink_elements += int(np.count_nonzero(near))
        if near.any():
            lo = dloss(np.where(near, np.nextafter(yf + loss.kinks[0], -np.inf), pred))
            hi = dloss(np.where(near, np.nextafter(yf + loss.kinks[0], np.inf), pred))
            g_mid = np.where(near, (lo + hi) / 2.0, g)
            up_rad = np.where(near, np.abs(hi - lo) / 2.0, 0.0)
            shift = np.asarray(out.vjp(z, pred, g_mid), np.float64) - np.asarray(
                out.vjp(z, pred, g)
            )
            mid = mid + shift
            rad = rad + np.asarray(out.abs_vjp(z, pred, up_rad), dtype=np.float64)
            moved = moved.scaled(np.where(near, 0.0, 1.0))  # the jump is in the radius
    size = np.abs(mid) + rad
    own = FUNCTION_ULPS * u * size
    if loss.exact is not None and out.mixes:
        own = own + FUNCTION_ULPS * u * _softmax_bce_error(z, pred, target, factor / n_mean)
    else:
        # ∂L/∂ŷ's own rounding (ŷ − y cancels), through |J|ᵀ; and the vjp's, where it mixes
        # units (softmax) or takes f′ from a rounded ŷ (σ′ = ŷ(1 − ŷ) loses ~ε absolute).
        grad_err = factor * np.asarray(loss.grad_size(pred, target), dtype=np.float64)
        own = own + FUNCTION_ULPS * u * np.asarray(out.abs_vjp(z, pred, grad_err))
        if out.mixes or loss.exact is None:
            own = own + FUNCTION_ULPS * u * np.asarray(out.vjp_error(z, pred, g))
    err = moved + local(own + eta)
    # Where the literal formula on the dtype's ŷ departs from the exact value by more than
    # rounding (ŷ rounds to 0 or 1), the interval takes in both: its hull with the literal one.
    wide = np.abs(literal - mid) > rad + err.bound
    if wide.any():
        lo = np.where(wide, np.minimum(mid - rad, literal), mid - rad)
        hi = np.where(wide, np.maximum(mid + rad, literal), mid + rad)
        mid, rad = (lo + hi) / 2.0, (hi - lo) / 2.0
    saturated = np.any(wide, axis=-1)
    # The loss: ∂L/∂ŷ·Eŷ, its terms' rounding, and (once the batch is in) the final sum's.
    per_unit = Err(
        np.sum(np.abs(g) * e_pred.worst, axis=(-2, -1)),
        np.sum(np.square(g) * e_pred.var, axis=(-2, -1)),
    )
    terms = factor * np.asarray(loss.size(pred, target), dtype=np.float64) / n_mean
    trailing = terms.ndim - (z.ndim - 2)  # (B, n) per element, (B,) for a loss over classes
    axes = tuple(range(-trailing, 0))
    own_terms = FUNCTION_ULPS * u * terms  # each term's own rounding, independent of the others
    loss_err = per_unit + Err(np.sum(own_terms, axis=axes), np.sum(np.square(own_terms), axis=axes))
    if loss.exact is not None:
        # log 0 under the clamp: a probability that rounds to exactly 0 or 1 leaves the loss
        # anywhere from the exact value to torch's log-floor of 100 per element, and beyond.
        at_log_zero = np.any((in_dtype <= 0.0) | (in_dtype >= 1.0), axis=(-2, -1))
        loss_err = Err(*(np.where(at_log_zero, np.inf, v) for v in (loss_err.worst, loss_err.var)))
    # As for δL: torch's clamped loss and the exact one, where they differ by more than rounding.
    loss_gap = np.abs(loss_literal - loss_value)
    apart = loss_gap > loss_err.bound
    loss_mid = np.where(apart, (loss_value + loss_literal) / 2.0, loss_value)
    loss_rad = np.where(apart, loss_gap / 2.0, 0.0)
    n_terms = z.shape[-2] * (1 if classes else z.shape[-1])  # this piece's share of the sum
    return _Head(
        prediction=_Part(pred, np.zeros_like(pred), e_pred),
        loss=_Part(
            np.asarray(loss_mid, dtype=np.float64),
            np.asarray(loss_rad + np.zeros_like(loss_mid), dtype=np.float64),
            Err(np.asarray(loss_err.worst, np.float64), np.asarray(loss_err.var, np.float64)),
            terms=np.asarray(np.abs(loss_value), dtype=np.float64),
            squares=np.asarray(np.square(loss_value), dtype=np.float64),
            count=np.full(np.shape(loss_value), float(n_terms)),
        ),
        delta=(mid, rad, err),
        kink_elements=kink_elements,
        saturated_rows=int(np.count_nonzero(saturated)),
    )


def _softmax_bce_error(z: Array, pred: Array, target: Array, scale: float) -> Array:
    """The rounding of δL for bce through a softmax, in multiples of ε: δ_j = h_j − ŷ_j·Σ_i h_i
    with h_i = (ŷ_i − y_i)/(1 − ŷ_i) (the ŷ_i of ∂L/∂ŷ_i cancels against the softmax's). The
    sides round ŷ differently (ε·ŷ_i), which moves h_i by ŷ_i·|1 − y_i|/(1 − ŷ_i)², large where
    ŷ_i nears 1; ŷ_i − y_i cancels (ε·(|ŷ_i| + |y_i|)/(1 − ŷ_i)). A softmax over one unit is
    constant: δ is exactly 0. Where 1 − ŷ_i underflows even in float64 the bound is inf: not
    judged."""
    if z.shape[-1] == 1:
        return np.zeros_like(z)
    shift = np.max(z, axis=-1, keepdims=True)
    e = np.exp(z - shift)
    total = np.sum(e, axis=-1, keepdims=True)
    top = e == np.max(e, axis=-1, keepdims=True)
    first = top & (np.cumsum(top, axis=-1) == 1)
    rest = np.sum(np.where(first, 0.0, e), axis=-1, keepdims=True)
    q = np.where(first, rest, total - e) / total  # 1 − ŷ without cancelling
    with np.errstate(divide="ignore", invalid="ignore"):
        e_h = scale * (pred * np.abs(1.0 - target) / q**2 + (np.abs(pred) + np.abs(target)) / q)
    return np.asarray(e_h + pred * np.sum(e_h, axis=-1, keepdims=True))
