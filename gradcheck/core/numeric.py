"""The independent numerical oracle: the loss gradient from forward passes alone, in float64.

Neither autograd nor the hand derivation is consulted; only the forward functions (the records
in ``functions.py``, or their complex-valid twins) are. The methods, each a record in
``oracle_methods.py`` (its error order, step, evaluations, one-sided step):

- ``central``: (ℓ(u+h) − ℓ(u−h)) / 2h with h = ε^(1/3)·max(1, |u|). Truncation error
  h²|ℓ‴|/6 and rounding ε|ℓ|/h are both ≈ ε^(2/3) ≈ 4e-11 (times the loss's scale).
- ``richardson``: central differences at h and h/2 combined as (4·D(h/2) − D(h))/3, which
  cancels the h² term: truncation O(h⁴), rounding ≈ ε/h; with h = 2ε^(1/5)·max(1, |u|) both
  are ≈ ε^(4/5) ≈ 3e-13.
- ``complex-step``: Im ℓ(u + ih)/h with h = 1e-20·max(1, |u|): no subtraction, so no
  cancellation, leaving ≈ ε. Valid only where every function has an analytic twin
  (``NetSpec.complex_twins``); an evaluation that overflows (or whose real part leaves the real
  loss) is reported as one the complex step cannot judge.
- ``directional``: a few seeded random unit directions v over all parameters at once; vᵀ∇L
  by Richardson-extrapolated central differences of L(θ + t·v). Cheap for any model size
  (4 directions × 4 steps = 16 forward passes) but checks projections, not every element.

How the full methods reach every parameter at the cost of a few forward passes
------------------------------------------------------------------------------
Every loss is a sum over samples, L = Σ_b ℓ_b(z_l[b]), and a parameter of layer l reaches the
loss only through the pre-activations z_l = a_{l−1}·W_lᵀ + b_l, which are *exactly linear* in
it: ∂z_l[b, i]/∂W_l[i, j] = a_{l−1}[b, j], ∂z_l[b, i]/∂b_l[i] = 1. So the oracle differentiates
numerically where the non-linearity is, in the pre-activations u = z_l[b, i] (one unit of one
sample), and applies the exact linear map:

    ∂L/∂W_l[i, j] = Σ_b δ̂_l[b, i] · a_{l−1}[b, j],   ∂L/∂b_l[i] = Σ_b δ̂_l[b, i],
    δ̂_l[b, i] = the method's difference quotient of ℓ_b in u = z_l[b, i].

This is the per-parameter difference quotient with the step moved to where the function is
non-linear: perturbing W_l[i, j] by h moves only u = z_l[b, i], by h·a_{l−1}[b, j], for each b.
A perturbation of u recomputes only sample b after layer l: a_l[b, i] changes, so z_{l+1}[b]
changes by the rank-1 term Δa·W_{l+1}[:, i], and layers l+2… are one matmul each for a block
of (sample, unit) perturbations along a new axis (``CHUNK_BYTES`` bounds the block). The steps
are scaled to each pre-activation's own magnitude, so large inputs or weights cannot make the
truncation error explode (a step in W_l[i, j] is a step of h·|a_{l−1}[b, j]| in u).

Kinks (the records' ``kinks``: max(z, 0) at 0, a switch to a linear branch at a threshold,
|ŷ − y| at ŷ = y): a difference whose points lie on different sides of a kink — of the
perturbed unit, of any downstream pre-activation of that sample, or of ŷ − y — measures no
derivative. There the oracle takes a second-order one-sided difference on the side that does
not cross (the derivative on the side where the value lies, torch's convention for a value
exactly at the kink); if both sides cross, the element is skipped and reported.

The two call points into the network's functions are ``layer_activation`` (the activation of
layer l and its kinks) and ``sample_losses`` (each sample's share of the loss from the last
pre-activation). Every array may carry extra leading (case) axes, as in ``replica.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from gradcheck.core import replica
from gradcheck.core.errors import GradcheckError
from gradcheck.core.oracle_methods import (
    DIRECTIONAL,
    METHODS,
    REAL_FULL_METHODS,
    OracleMethod,
    either,
)
from gradcheck.core.spec import NetSpec

Array = NDArray[np.floating]
AnyArray = NDArray[Any]  # real or complex
Mask = NDArray[np.bool_]

EPS = float(np.finfo(np.float64).eps)
N_DIRECTIONS = 4
DIRECTION_SEED = 0  # directions are fixed: same arguments ⇒ same numbers
CHUNK_BYTES = 64 * 2**20  # working set per block of perturbations; peak stays far below 1 GiB
TEMPORARIES = 6  # arrays of a block's size alive at once in ``_evaluate``

#: The method the complex step is cross-checked with, and ``rate`` times: plain central
#: differences, real and the cheapest.
CROSS_CHECK = METHODS["central"]

#: Told, after each block, the layer and how many of its units were just done.
Progress = Callable[[int, int], None]

#: ŷ − y within this many ulps (of the check's dtype, times 1 + |y|) sits on the loss's kink:
#: the sides computed ŷ in that dtype, so a float32 ŷ = y is a float64 ŷ − y of ~1e-8.
AT_KINK_ULPS = 64


def _at_loss_kink(spec: NetSpec, target: AnyArray) -> Array:
    eps = float(np.finfo(np.dtype(spec.dtype)).eps)
    return np.asarray(AT_KINK_ULPS * eps * (1.0 + np.abs(target)), dtype=np.float64)


def validate_method(spec: NetSpec, method: str) -> None:
    """Refuse a method that cannot give a valid answer for this network (exit 2)."""
    if method not in METHODS:
        raise GradcheckError(f"--oracle: unknown {method!r}; choose from {', '.join(METHODS)}")
    if METHODS[method].complex_twins and not spec.complex_twins:
        kinked = next(
            (a.name for a in spec.activations if a.complex_f is None),
            spec.output_activation if spec.output_record.complex_f is None else spec.loss,
        )
        raise GradcheckError(
            f"--oracle {method}: {kinked} has a kink, so it is not analytic and the complex "
            f"step is not valid; use --oracle {either(REAL_FULL_METHODS)}"
        )


# ---------------------------------------------------------------------------------------------
# The two call points into the network's functions


def layer_activation(
    spec: NetSpec, layer: int, complex_step: bool = False
) -> tuple[Callable[[AnyArray], AnyArray], tuple[float, ...]]:
    """The activation after pre-activation z_layer (1 ≤ layer < depth) and the points where a
    difference must not cross: its kinks and its switches of formula."""
    act = spec.activation_at(layer)
    points = act.kinks + act.switches
    if complex_step:
        # validate_method refused complex-step for any network without complex twins
        assert act.complex_f is not None
        return act.complex_f, points
    return act.f, points


def sample_losses(spec: NetSpec, pred: AnyArray, target: NDArray[np.generic]) -> AnyArray:
    """Each sample's share of the loss, so that L = Σ_b sample_losses[…, b].

    ``pred`` is (…, B, K, n_out): K alternative predictions per sample b (K = 1 for the
    unperturbed network); ``target`` is (…, B, n_out) values or (…, B) class indices.
    Returns (…, B, K). Every loss here is a mean over samples of a per-sample term, taken after
    the output activation; a sum reduction and the loss scale multiply it by a constant.
    """
    loss, head = spec.loss_record, spec.output_record
    batch = pred.shape[-3]
    if loss.takes_classes:
        tgt = np.broadcast_to(np.asarray(target)[..., None], pred.shape[:-1])[..., None]
    else:
        tgt = np.broadcast_to(np.asarray(target)[..., None, :], pred.shape)[..., None, :]
    rows = pred[..., None, :]  # each alternative a batch of one row
    if np.iscomplexobj(pred):
        assert loss.complex_f is not None and head.complex_f is not None
        value = loss.complex_f(head.complex_f(rows), tgt)
    else:
        value = loss.f(head.f(rows), tgt)[0]
    count = batch if loss.mean_over == "batch" else batch * pred.shape[-1]
    factor = spec.loss_scale * (1 if spec.reduction == "mean" else count)
    out: AnyArray = factor * np.asarray(value) / batch
    return out


def _loss_kinks(spec: NetSpec) -> tuple[float, ...]:
    return () if spec.loss_record.takes_classes else spec.loss_record.kinks


def _crossed(
    moved: AnyArray, base: Array, kinks: tuple[float, ...], at: Array | None = None
) -> Mask:
    """Whether ``moved`` lies on another side of any kink than ``base`` (elementwise)."""
    out = np.zeros(np.broadcast_shapes(moved.shape, base.shape), dtype=bool)
    for k in kinks:
        out |= (moved.real > k) != (base > k)
        if at is not None:
            # A base within rounding of the kink has no derivative to measure: every step from
            # it counts as crossing (a one-sided difference would pick a side arbitrarily).
            out |= np.abs(base - k) <= at
    return out


# ---------------------------------------------------------------------------------------------
# Full gradient


class Numerical(NamedTuple):
    """The full oracle's gradient and, per parameter, the elements it could not judge."""

    grads: dict[str, Array]
    #: Every difference for the element straddles a kink: not a derivative, not compared.
    kinks: dict[str, Mask]
    #: The oracle cannot judge the element (a non-finite loss, or a complex step that overflowed
    #: or is not analytic): not compared.
    unjudged: dict[str, Mask]
    #: Why elements are unjudged, one sentence each.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Net:
    """The unperturbed network, flattened to one case axis C: (C, B, n) arrays."""

    spec: NetSpec
    params: dict[str, Array]  # (C, …)
    zs: tuple[Array, ...]
    activations: tuple[Array, ...]
    y: NDArray[np.generic]
    losses: Array  # (C, B): each sample's share of L


def _flatten(
    spec: NetSpec, params: Mapping[str, Array], x: Array, y: NDArray[np.generic]
) -> tuple[_Net, tuple[int, ...]]:
    x64 = np.asarray(x, dtype=np.float64)
    lead = x64.shape[:-2]
    shapes = {p.name: p.shape for p in spec.parameters()}
    p64: dict[str, Array] = {
        k: np.broadcast_to(np.asarray(v, dtype=np.float64), (*lead, *shapes[k])).reshape(
            -1, *shapes[k]
        )
        for k, v in params.items()
    }
    x64 = x64.reshape(-1, *x64.shape[-2:])
    y = np.asarray(y)
    if y.dtype.kind == "i":
        y = y.reshape(-1, y.shape[-1])
    else:
        y = y.astype(np.float64).reshape(-1, *y.shape[-2:])
    with np.errstate(all="ignore"):
        fwd = replica.forward(spec, p64, x64, y)
        losses = sample_losses(spec, fwd.zs[-1][..., None, :], y)[..., 0]
    return _Net(spec, p64, fwd.zs, fwd.activations, y, losses), lead


def _evaluate(net: _Net, layer: int, units: NDArray[np.intp], d: AnyArray) -> tuple[AnyArray, Mask]:
    """Each sample's loss share after adding d[c, b, k] to z_layer[c, b, units[k]]: (C, B, K),
    and whether that moved any value across a kink (the unit's, any downstream
    pre-activation's of that sample, or ŷ − y's)."""
    spec = net.spec
    complex_step = np.iscomplexobj(d)
    n_cases, batch, k = d.shape
    crossed = np.zeros(d.shape, dtype=bool)
    if layer == spec.depth:
        onehot = np.eye(spec.n_out)[units]  # (K, n_out)
        pred = net.zs[-1][:, :, None, :] + d[..., None] * onehot
    else:
        f, kinks = layer_activation(spec, layer, complex_step)
        u = net.zs[layer - 1][:, :, units]
        moved = u + d
        crossed |= _crossed(moved, u, kinks)
        delta_a = f(moved) - net.activations[layer][:, :, units]  # only a_l[b, i] changes
        cols = np.swapaxes(net.params[f"W{layer + 1}"][:, :, units], -1, -2)  # (C, K, n_{l+1})
        # z_{l+1}[b] + Δa·W_{l+1}[:, i]: a rank-1 change per perturbation, (C, B, K, n_{l+1})
        z = net.zs[layer][:, :, None, :] + delta_a[..., None] * cols[:, None, :, :]
        for nxt in range(layer + 1, spec.depth):  # z is z_nxt; compute z_{nxt+1}
            f, kinks = layer_activation(spec, nxt, complex_step)
            if kinks:
                crossed |= np.any(_crossed(z, net.zs[nxt - 1][:, :, None, :], kinks), axis=-1)
            a = f(z).reshape(n_cases, batch * k, -1)
            w, b = net.params[f"W{nxt + 1}"], net.params[f"b{nxt + 1}"]
            z = (a @ np.swapaxes(w, -1, -2)).reshape(n_cases, batch, k, -1) + b[:, None, None, :]
        pred = z
    lk = _loss_kinks(spec)
    if lk:
        target = np.asarray(net.y)[:, :, None, :]
        head = spec.output_record.f  # the loss's kink is at ŷ = y, after the output activation
        moved, base = head(pred.real), head(net.zs[-1][:, :, None, :])
        at = _at_loss_kink(spec, target)
        crossed |= np.any(_crossed(moved - target, base - target, lk, at), -1)
    return sample_losses(spec, pred, net.y), crossed


def _unit_derivatives(
    net: _Net, layer: int, units: NDArray[np.intp], method: OracleMethod
) -> tuple[Array, Mask, Mask]:
    """δ̂[c, b, k] = ∂L/∂z_layer[c, b, units[k]] by ``method``; where it straddles a kink on
    both sides; where the complex step could not judge. Each (C, B, K)."""
    u = net.zs[layer - 1][:, :, units]
    scale = np.maximum(1.0, np.abs(u))
    v0 = net.losses[:, :, None]
    none = np.zeros(u.shape, dtype=bool)
    if method.complex_twins:
        h = method.step * scale
        value, _ = _evaluate(net, layer, units, 1j * h)
        deriv = value.imag / h
        # An analytic evaluation keeps the real loss (to rounding) and stays finite; overflow
        # or a non-analytic operation breaks one of the two.
        off = np.abs(value.real - v0) > 1e-6 * np.maximum(np.abs(v0), 1e-300) + 1e-300
        bad = ~np.isfinite(value) | ~np.isfinite(deriv) | (off & np.isfinite(v0))
        return np.where(bad, 0.0, deriv), none, bad
    h = (u + method.step * scale) - u
    factors = (1.0, -1.0, 0.5, -0.5) if method.extrapolated else (1.0, -1.0)
    values, crossings = zip(*(_evaluate(net, layer, units, f * h) for f in factors), strict=True)
    d1 = (values[0] - values[1]) / (2 * h)
    if not method.extrapolated:
        deriv = d1
    else:
        # D(h) = ℓ′ + c·h² + O(h⁴), so (4·D(h/2) − D(h))/3 = ℓ′ + O(h⁴).
        deriv = (4.0 * (values[2] - values[3]) / h - d1) / 3.0
    plus = np.logical_or.reduce(crossings[0::2])
    minus = np.logical_or.reduce(crossings[1::2])
    skipped = plus & minus
    one_sided = plus ^ minus
    if one_sided.any():
        # Recompute only the units with a one-sided element, stepping away from the kink.
        cols = np.flatnonzero(one_sided.any(axis=(0, 1)))
        sign = np.where(plus[:, :, cols], -1.0, 1.0)
        value, bad = _one_sided(net, layer, units[cols], u[:, :, cols], v0, sign, method)
        need = one_sided[:, :, cols]
        sub = deriv[:, :, cols]
        deriv[:, :, cols] = np.where(need & ~bad, value, sub)
        skipped[:, :, cols] |= need & bad
    return np.where(skipped, 0.0, deriv), skipped, none


def _one_sided(
    net: _Net,
    layer: int,
    units: NDArray[np.intp],
    u: Array,
    v0: Array,
    sign: Array,
    method: OracleMethod,
) -> tuple[Array, Mask]:
    """Second-order one-sided differences in direction ``sign`` (extrapolated to third order
    for an extrapolated method), and whether any of their points crossed a kink too."""
    assert method.one_sided_step is not None  # the complex step refuses kinks instead
    h = (u + sign * method.one_sided_step * np.maximum(1.0, np.abs(u))) - u  # signed step
    factors = (0.5, 1.0, 2.0) if method.extrapolated else (1.0, 2.0)
    values, crossings = zip(*(_evaluate(net, layer, units, f * h) for f in factors), strict=True)
    crossed = np.logical_or.reduce(crossings)

    def d(v1: Array, v2: Array, step: Array) -> Array:  # ℓ′ − (step²/3)·ℓ‴ + O(step³)
        return np.asarray((-3.0 * v0 + 4.0 * v1 - v2) / (2.0 * step))

    if not method.extrapolated:
        return d(values[0], values[1], h), crossed
    return (4.0 * d(values[0], values[1], h / 2) - d(values[1], values[2], h)) / 3.0, crossed


def cost(spec: NetSpec, batch: int, method: str, units: Mapping[int, int] | None = None) -> float:
    """Multiply-adds (and activation evaluations) of the oracle: the budget's estimate.

    ``units`` gives, per layer, how many units a full method perturbs (default: all of them).
    ``directional`` costs its forward passes of the whole network, whatever ``units`` says.
    """
    m = METHODS[method]
    if not m.full:
        # Its evaluations per direction, plus the directions' own dot products.
        forward = batch * sum(a * b for a, b in zip(spec.layers, spec.layers[1:], strict=False))
        return N_DIRECTIONS * (m.evaluations * forward + 2 * spec.n_parameters)
    total = 0.0
    for layer in range(1, spec.depth + 1):
        n = spec.layers[layer] if units is None else units.get(layer, 0)
        downstream = sum(
            spec.layers[m] * (1 + spec.layers[m + 1]) for m in range(layer, spec.depth)
        )
        total += m.evaluations * batch * n * (downstream + spec.n_out)
    # A complex multiply-add is four real ones.
    return 4.0 * total if m.complex_twins else total


#: Units of layer 1 timed by ``rate``: enough for a steady timing, a small share of the work.
RATE_UNITS = 8


def rate(spec: NetSpec, params: Mapping[str, Array], x: Array, y: NDArray[np.generic]) -> float:
    """Multiply-adds a second of the oracle here, from a timed block of layer 1's units.

    Layer 1 is where the oracle spends nearly all its time (every layer after it is
    recomputed), so its speed stands for the whole. ``CROSS_CHECK``'s differences are timed
    whatever the method: ``cost`` counts each method's evaluations.
    """
    net, _ = _flatten(spec, params, x, y)
    n_cases, batch = net.zs[0].shape[:2]
    units = np.arange(min(spec.layers[1], RATE_UNITS))
    with np.errstate(all="ignore"):
        _unit_derivatives(net, 1, units[:1], CROSS_CHECK)  # warm-up: first-call overheads
        start = time.perf_counter()
        _unit_derivatives(net, 1, units, CROSS_CHECK)
        elapsed = time.perf_counter() - start
    work = cost(spec, n_cases * batch, CROSS_CHECK.name, units={1: len(units)})
    return work / max(elapsed, 1e-9)


def full_gradient(
    spec: NetSpec,
    params: Mapping[str, Array],
    x: Array,
    y: NDArray[np.generic],
    method: str,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    units: Mapping[int, NDArray[np.intp]] | None = None,
    progress: Progress | None = None,
) -> Numerical:
    """∂L/∂θ for every parameter by ``method`` (a full one, ``oracle_methods.FULL_METHODS``), in
    float64, with the elements it could not judge (see ``Numerical``).

    Args: the network, its parameters (``W1, b1, …``, any dtype; cast to float64), the batch
    ``x (…, B, n_in)`` and targets, the method, the working-set budget per block, optionally
    which units to perturb per layer (elements of other units come back NaN: a sample), and a
    callback ``progress(layer, n)`` after each block of ``n`` units of ``layer`` (each unit
    gives its row of W and its entry of b).
    Returns gradients and masks keyed like ``params`` with the parameter's shape (plus case
    axes). Raises ``GradcheckError`` for a method the network does not allow.
    """
    validate_method(spec, method)
    m = METHODS[method]
    if not m.full:
        raise GradcheckError(f"--oracle: {method} gives directional derivatives, not a gradient")
    net, lead = _flatten(spec, params, x, y)
    n_cases, batch = net.zs[0].shape[:2]
    grads: dict[str, Array] = {}
    kinks: dict[str, Mask] = {}
    unjudged: dict[str, Mask] = {}
    notes: list[str] = []
    finite = np.isfinite(net.losses).all(axis=-1)  # (C,)
    if not finite.all():
        total = float(np.sum(net.losses[~finite]))
        notes.append(
            f"the loss is {total} at these weights and inputs, so no difference quotient exists"
        )
    with np.errstate(all="ignore"):
        for layer in range(1, spec.depth + 1):
            n_out = spec.layers[layer]
            todo = np.arange(n_out) if units is None else np.asarray(units.get(layer, []), int)
            width = max(spec.layers[layer:])  # the widest array recomputed downstream
            per_unit = TEMPORARIES * 8 * n_cases * batch * width * (2 if m.complex_twins else 1)
            chunk = max(1, chunk_bytes // per_unit)
            delta = np.full((n_cases, batch, n_out), np.nan)
            skip = np.zeros(delta.shape, dtype=bool)
            bad = np.zeros(delta.shape, dtype=bool)
            for start in range(0, len(todo), chunk):
                part = todo[start : start + chunk]
                delta[:, :, part], skip[:, :, part], bad[:, :, part] = _unit_derivatives(
                    net, layer, part, m
                )
                if progress is not None:
                    progress(layer, len(part))
            if bad.any() and not any(n.startswith("the complex step overflowed") for n in notes):
                notes.append(
                    "the complex step overflowed (or its real part left the real loss) for some "
                    "pre-activations: the elements they reach are not compared"
                )
            whole = ~finite  # (C,): every element of the case is unjudged
            if m.complex_twins and len(todo) and finite.any():
                note = _complex_cross_check(net, layer, todo, m)
                if note:
                    notes.append(note)
                    whole = np.ones_like(finite)
            a_prev = net.activations[layer - 1]
            shape_w = (*lead, n_out, spec.layers[layer - 1])
            # ∂L/∂W_l = Σ_b δ̂_l[b]ᵀ a_{l−1}[b] (exact: z_l is linear in W_l); NaN rows stay NaN
            # (units not sampled).
            grads[f"W{layer}"] = (np.swapaxes(delta, -1, -2) @ a_prev).reshape(shape_w)
            grads[f"b{layer}"] = delta.sum(axis=-2).reshape(*lead, n_out)
            for name in (f"W{layer}", f"b{layer}"):
                lam = spec.l2_of(name)
                if lam:
                    # λ·Σp² does not pass through z: it is quadratic, so every method's
                    # difference quotient of it is exactly 2λp (to rounding), added here.
                    shape = grads[name].shape
                    grads[name] = grads[name] + 2.0 * lam * net.params[name].reshape(shape)
            touched = (a_prev != 0).astype(np.float64)
            for store, mask in ((kinks, skip), (unjudged, bad)):
                store[f"W{layer}"] = ((np.swapaxes(mask, -1, -2) @ touched) > 0).reshape(shape_w)
                store[f"b{layer}"] = mask.any(axis=-2).reshape(*lead, n_out)
            everything = whole.reshape(*lead, 1)
            unjudged[f"W{layer}"] |= everything[..., None]
            unjudged[f"b{layer}"] |= everything
    order = [p.name for p in spec.parameters()]
    return Numerical(
        {k: grads[k] for k in order},
        {k: kinks[k] for k in order},
        {k: unjudged[k] for k in order},
        tuple(notes),
    )


def _complex_cross_check(
    net: _Net, layer: int, todo: NDArray[np.intp], method: OracleMethod
) -> str | None:
    """Whether the complex step of a few units of ``layer`` agrees with a central difference.

    A complex twin that is not analytic (an ``abs``, a ``max``, a branch on the imaginary part)
    or that overflows gives a wrong imaginary part while its real part stays right: only a
    real difference quotient can tell. Two units, all samples: cheap next to the full pass.
    """
    units = todo[np.linspace(0, len(todo) - 1, min(2, len(todo))).astype(int)]
    cx, _, bad = _unit_derivatives(net, layer, units, method)
    real, skipped, _ = _unit_derivatives(net, layer, units, CROSS_CHECK)
    ok = ~(bad | skipped) & np.isfinite(net.losses)[:, :, None]
    scale = np.maximum(np.abs(net.losses), 1e-300)[:, :, None] + np.abs(real)
    off = np.abs(cx - real) > 1000.0 * CROSS_CHECK.error * scale
    if np.any(off & ok):
        return (
            f"the complex step disagrees with a central difference at z{layer} (a complex twin "
            f"that overflows or is not analytic), so {method.name} cannot judge here; use "
            f"--oracle {either(REAL_FULL_METHODS)}"
        )
    return None


# ---------------------------------------------------------------------------------------------
# Directional derivatives


@dataclass(frozen=True)
class Directional:
    """Seeded unit directions v_k over all parameters and the oracle's vₖᵀ∇L."""

    directions: dict[str, Array]  # name → (K, *shape), jointly unit-norm per k
    derivatives: Array  # (…, K)
    #: (…, K): every difference along v_k straddles a kink for some sample: not compared.
    kinks: Mask | None = None

    def project(
        self, grads: Mapping[str, NDArray[np.floating]], *, absolute: bool = False
    ) -> Array:
        """vₖᵀg for a side's gradients g (…, *shape) → (…, K); ``absolute``: |vₖ|ᵀg (a bound
        on g's elements projected as a bound)."""
        terms = []
        # Gradients past the float range project to inf or NaN (inf − inf), which fail as
        # non-finite: not a numpy warning.
        with np.errstate(all="ignore"):
            for name, v in self.directions.items():
                g = np.expand_dims(np.asarray(grads[name], dtype=np.float64), -v.ndim)
                w = np.abs(v) if absolute else v
                terms.append(np.sum(g * w, axis=tuple(range(-v.ndim + 1, 0))))
            return np.asarray(sum(terms))


def _moved_forward(
    net: _Net, step: Array, v: Mapping[str, Array], dz1: Array
) -> tuple[Array, Mask]:
    """Each sample's loss share at θ + step·v (C, B), and whether a value crossed a kink.

    z_1 is linear in θ: z_1(θ + t·v) = z_1 + t·(x·V_1ᵀ + v_b1) with ``dz1`` the bracket, so
    the first (often widest) layer's matmul is done once per direction, not once per step.
    """
    spec = net.spec
    t = step.reshape(-1, 1, 1)
    z = net.zs[0] + t * dz1
    crossed = np.zeros(net.losses.shape, dtype=bool)
    for layer in range(1, spec.depth):  # z is z_layer
        f, kinks = layer_activation(spec, layer)
        if kinks:
            crossed |= np.any(_crossed(z, net.zs[layer - 1], kinks), axis=-1)
        w = net.params[f"W{layer + 1}"] + t * v[f"W{layer + 1}"]
        b = net.params[f"b{layer + 1}"] + step[:, None] * v[f"b{layer + 1}"]
        z = f(z) @ np.swapaxes(w, -1, -2) + b[:, None, :]
    lk = _loss_kinks(spec)
    if lk:
        target = np.asarray(net.y)
        head = spec.output_record.f
        at = _at_loss_kink(spec, target)
        crossed |= np.any(_crossed(head(z) - target, head(net.zs[-1]) - target, lk, at), axis=-1)
    return sample_losses(spec, z[..., None, :], net.y)[..., 0], crossed


def directional(
    spec: NetSpec,
    params: Mapping[str, Array],
    x: Array,
    y: NDArray[np.generic],
    *,
    n_directions: int = N_DIRECTIONS,
    seed: int = DIRECTION_SEED,
) -> Directional:
    """vᵀ∇L along ``n_directions`` seeded random unit directions, by Richardson differences.

    The step t is scaled so that the move it causes in each layer's own pre-activations
    (t·(v_W·a_{l−1} + v_b)) is the Richardson step relative to max(1, |z|): large inputs or
    weights shrink it. Per sample, a difference that crosses a kink is replaced by a one-sided
    one on the other side; a direction where some sample crosses on both sides is skipped.
    Cost: 4·n_directions forward passes of the whole network (plus 6 per direction with a
    kink crossed), whatever its size; memory: the directions and one perturbed copy.
    """
    method = METHODS[DIRECTIONAL]
    assert method.one_sided_step is not None
    rng = np.random.default_rng(seed)
    shapes = {p.name: p.shape for p in spec.parameters()}
    raw = {name: rng.standard_normal((n_directions, *shape)) for name, shape in shapes.items()}
    norm = np.sqrt(sum(np.sum(v.reshape(n_directions, -1) ** 2, axis=1) for v in raw.values()))
    directions = {name: v / norm.reshape(-1, *([1] * (v.ndim - 1))) for name, v in raw.items()}
    net, lead = _flatten(spec, params, x, y)
    x64 = net.activations[0]
    n_cases = x64.shape[0]
    out = np.empty((n_cases, n_directions))
    skipped = np.zeros((n_cases, n_directions), dtype=bool)
    with np.errstate(all="ignore"):
        for k in range(n_directions):
            v = {name: d[k] for name, d in directions.items()}
            # How fast each layer's pre-activations move per unit t, relative to their size.
            rate = np.zeros(n_cases)
            for layer in range(1, spec.depth + 1):
                direct = net.activations[layer - 1] @ v[f"W{layer}"].T + v[f"b{layer}"]
                rel = np.abs(direct) / np.maximum(1.0, np.abs(net.zs[layer - 1]))
                rate = np.maximum(rate, rel.max(axis=(-2, -1)))
            t = method.step / np.maximum(rate, 1e-300)

            dz1 = x64 @ v["W1"].T + v["b1"]

            def at(
                factor: float, t: Array = t, v: dict[str, Array] = v, dz1: Array = dz1
            ) -> tuple[Array, Mask]:
                return _moved_forward(net, factor * t, v, dz1)

            (p1, c1), (m1, c2), (p2, c3), (m2, c4) = (at(f) for f in (1.0, -1.0, 0.5, -0.5))
            tt = t[:, None]
            d1 = (p1 - m1) / (2 * tt)
            per_sample = (4.0 * (p2 - m2) / tt - d1) / 3.0
            plus, minus = c1 | c3, c2 | c4
            both = plus & minus
            one = plus ^ minus
            if one.any():
                # one-sided on each side at the one-sided Richardson step, per sample
                h = method.one_sided_step / np.maximum(rate, 1e-300)
                v0 = net.losses
                for sign, use in ((-1.0, plus & ~minus), (1.0, minus & ~plus)):
                    if not use.any():
                        continue
                    (q1, e1), (q2, e2), (q3, e3) = (at(sign * f, h) for f in (0.5, 1.0, 2.0))
                    hh = (sign * h)[:, None]
                    dh = (-3.0 * v0 + 4.0 * q2 - q3) / (2.0 * hh)
                    dh2 = (-3.0 * v0 + 4.0 * q1 - q2) / hh
                    value = (4.0 * dh2 - dh) / 3.0
                    bad = e1 | e2 | e3
                    per_sample = np.where(use & ~bad, value, per_sample)
                    both |= use & bad
            skipped[:, k] = both.any(axis=-1)
            out[:, k] = np.where(skipped[:, k], 0.0, per_sample.sum(axis=-1))
            for name, lam in spec.l2_terms:
                # λ·Σp² is quadratic: its derivative along v is exactly 2λ·⟨p, v_p⟩.
                axes = tuple(range(-v[name].ndim, 0))
                out[:, k] += 2.0 * lam * np.sum(net.params[name] * v[name], axis=axes)
    return Directional(
        directions,
        out.reshape(*lead, n_directions),
        skipped.reshape(*lead, n_directions),
    )
