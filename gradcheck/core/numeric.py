"""The independent numerical oracle: the loss gradient from forward passes alone, in float64.

Neither autograd nor the hand derivation is consulted; only the forward functions
(the records in ``functions.py``, or their complex-valid twins) are: each hidden layer's
activation, and the loss as a function of the last pre-activation (``replica.head_loss``:
output activation, loss, reduction, scale). The L2 term is quadratic, so its exact difference
quotient 2λW is added. Four methods:

- ``central``: (L(θ+h) − L(θ−h)) / 2h with h = ε^(1/3)·max(1, |θ|) per parameter. Truncation
  error h²|L‴|/6 and rounding ε|L|/h are both ≈ ε^(2/3) ≈ 4e-11 (times the loss's scale).
- ``richardson``: central differences at h and h/2 combined as (4·D(h/2) − D(h))/3, which
  cancels the h² term: truncation O(h⁴), rounding ≈ ε/h; with h = ε^(1/5)·max(1, |θ|) both
  are ≈ ε^(4/5) ≈ 3e-13.
- ``complex-step``: Im L(θ + ih)/h with h = 1e-20: no subtraction, so no cancellation; the
  truncation error h²|L‴|/6 ≈ 1e-40 is far below rounding, leaving ≈ ε. Valid only when
  every function is analytic (``NetSpec.analytic``): functions with a kink are refused.
- ``directional``: a few seeded random unit directions v over all parameters at once; vᵀ∇L
  by Richardson-extrapolated central differences of L(θ + t·v). Cheap for any model size
  (4 directions × 4 steps = 16 forward passes) but checks projections, not every element.

Vectorization of the full methods: perturbing W_l[i, j] by h (or b_l[i]) changes only unit i
of z_l, by h·a_{l−1}[:, j] (or h), hence only a_l[:, i], hence z_{l+1} by the rank-1 update
W_{l+1}[:, i]·Δa_l,i. Only the layers after l are recomputed, for a chunk of perturbations at
once along a leading axis. Memory per chunk is bounded by ``CHUNK_BYTES``; nothing is P×P and
there is no Python loop per parameter (only over layers and chunks).

Every array may carry extra leading (case) axes, as in ``replica.py``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core import replica
from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import ORACLE_METHODS, NetSpec

Array = NDArray[np.floating]
AnyArray = NDArray[Any]  # real or complex

EPS = float(np.finfo(np.float64).eps)
CENTRAL_STEP = EPS ** (1 / 3)  # ≈ 6.1e-6, balances h² truncation against ε/h rounding
RICHARDSON_STEP = EPS ** (1 / 5)  # ≈ 7.4e-4, balances h⁴ truncation against ε/h rounding
COMPLEX_STEP = 1e-20  # any tiny h works: nothing is subtracted
N_DIRECTIONS = 4
DIRECTION_SEED = 0  # directions are fixed: same arguments ⇒ same numbers
CHUNK_BYTES = 32 * 2**20  # working set per chunk of perturbations; peak stays far below 1 GiB

#: Error of each method relative to the loss's scale max(1, |L|) (see the module docstring).
METHOD_ERROR: dict[str, float] = {
    "central": EPS ** (2 / 3),
    "richardson": EPS ** (4 / 5),
    "complex-step": EPS,
    "directional": EPS ** (4 / 5),
}

FULL_METHODS = ("central", "richardson", "complex-step")
assert set(METHOD_ERROR) == set(ORACLE_METHODS)


def validate_method(spec: NetSpec, method: str) -> None:
    """Refuse a method that cannot give a valid answer for this network (exit 2)."""
    if method not in ORACLE_METHODS:
        raise GradcheckError(
            f"--oracle: unknown {method!r}; choose from {', '.join(ORACLE_METHODS)}"
        )
    if method == "complex-step" and not spec.analytic:
        kinked = next(
            (a.name for a in spec.activations if not a.analytic),
            spec.output_activation if not spec.output_record.analytic else spec.loss,
        )
        raise GradcheckError(
            f"--oracle complex-step: {kinked} has a kink, so it is not analytic and the complex "
            "step is not valid; use --oracle central or richardson"
        )


def _activation(spec: NetSpec, layer: int, complex_step: bool) -> Callable[[AnyArray], AnyArray]:
    """Hidden layer ``layer``'s activation, or its complex twin."""
    act = spec.activation_at(layer)
    if complex_step:
        # validate_method refused complex-step for any network with a kink
        assert act.complex_f is not None
        return act.complex_f
    return act.f


# ---------------------------------------------------------------------------------------------
# Full gradient


def full_gradient(
    spec: NetSpec,
    params: Mapping[str, Array],
    x: Array,
    y: NDArray[np.generic],
    method: str,
    *,
    chunk_bytes: int = CHUNK_BYTES,
) -> tuple[dict[str, Array], dict[str, NDArray[np.bool_]]]:
    """∂L/∂θ for every parameter by ``method`` (central, richardson or complex-step), in float64,
    and, per parameter, where its step straddles a kink.

    Args: the network, its parameters (``W1, b1, …``, any dtype; cast to float64), the batch
    ``x (…, B, n_in)`` and targets, the method, and the working-set budget per chunk.
    Returns (gradients, kinks), each keyed like ``params`` with the parameter's shape (plus
    case axes). Raises ``GradcheckError`` for a method the network does not allow.

    With an activation or loss that has a kink at 0, a step that moves any recomputed
    pre-activation (or ŷ − y) across 0 measures a difference across the kink, not the
    derivative: those elements are flagged True and should not be compared.
    """
    validate_method(spec, method)
    if method not in FULL_METHODS:
        raise GradcheckError(f"--oracle: {method} gives directional derivatives, not a gradient")
    p64 = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    x64 = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    y = y if y.dtype.kind == "i" else y.astype(np.float64)
    fwd = replica.forward(spec, p64, x64, y)
    lead = x64.shape[:-2]
    batch = x64.shape[-2]
    grads: dict[str, Array] = {}
    kinks: dict[str, NDArray[np.bool_]] = {}
    for layer in range(1, spec.depth + 1):
        w, b = p64[f"W{layer}"], p64[f"b{layer}"]
        n_out, n_in = w.shape[-2:]
        # Perturbation k: unit units[k] of z_l; input column inputs[k] (−1 for the bias).
        units = np.concatenate([np.repeat(np.arange(n_out), n_in), np.arange(n_out)])
        inputs = np.concatenate([np.tile(np.arange(n_in), n_out), np.full(n_out, -1)])
        theta = np.concatenate([w.reshape(*w.shape[:-2], -1), b], axis=-1)
        theta = np.broadcast_to(theta, (*lead, theta.shape[-1]))
        out = np.empty(theta.shape)
        straddled = np.zeros(theta.shape, dtype=bool)
        width = max(spec.layers[layer:])  # the widest array recomputed downstream
        per_perturbation = 16 * 8 * batch * width * max(1, math.prod(lead)) * _n_steps(method)
        chunk = max(1, chunk_bytes // per_perturbation)
        for start in range(0, len(units), chunk):
            part = slice(start, start + chunk)
            out[..., part], straddled[..., part] = _chunk_gradient(
                spec, p64, fwd, y, layer, units[part], inputs[part], theta[..., part], method
            )
        grads[f"W{layer}"] = out[..., : n_out * n_in].reshape(*lead, n_out, n_in)
        if spec.l2:
            # The L2 term λ·ΣW² is quadratic, so every method's difference quotient of it is
            # exactly 2λW (up to rounding): added here rather than perturbed.
            grads[f"W{layer}"] = grads[f"W{layer}"] + 2.0 * spec.l2 * w
        grads[f"b{layer}"] = out[..., n_out * n_in :]
        kinks[f"W{layer}"] = straddled[..., : n_out * n_in].reshape(*lead, n_out, n_in)
        kinks[f"b{layer}"] = straddled[..., n_out * n_in :]
    return grads, kinks


def _n_steps(method: str) -> int:
    return {"central": 2, "richardson": 4, "complex-step": 1}[method]


def _chunk_gradient(
    spec: NetSpec,
    params: Mapping[str, Array],
    fwd: replica.Forward,
    y: NDArray[np.generic],
    layer: int,
    units: NDArray[np.intp],
    inputs: NDArray[np.intp],
    theta: Array,
    method: str,
) -> tuple[Array, NDArray[np.bool_]]:
    """The derivative for one chunk of C perturbations of layer ``layer``, and kinks: (…, C)."""
    a_prev = fwd.activations[layer - 1]  # (…, B, n_in)
    # ∂z_l[:, i]/∂θ: a_{l−1}[:, j] for W_l[i, j], 1 for b_l[i] → (…, C, B)
    dz = np.swapaxes(a_prev[..., :, np.maximum(inputs, 0)], -1, -2)
    dz = np.where((inputs >= 0)[:, None], dz, 1.0)
    scale = np.maximum(1.0, np.abs(theta))  # (…, C)
    if method == "complex-step":
        h = COMPLEX_STEP * scale
        loss, crossed = _perturbed_loss(
            spec, params, fwd, y, layer, units, (1j * h)[..., None] * dz
        )
        return np.asarray(loss.imag / h), crossed
    h = (CENTRAL_STEP if method == "central" else RICHARDSON_STEP) * scale
    factors = (1.0, -1.0) if method == "central" else (1.0, -1.0, 0.5, -0.5)
    # All steps of the chunk go through the network together: (…, S·C, B).
    d = np.concatenate([(f * h)[..., None] * dz for f in factors], axis=-2)
    loss, crossed = _perturbed_loss(spec, params, fwd, y, layer, np.tile(units, len(factors)), d)
    parts = np.split(loss, len(factors), axis=-1)
    kinked = np.logical_or.reduce(np.split(crossed, len(factors), axis=-1))
    d1 = (parts[0] - parts[1]) / (2 * h)
    if method == "central":
        return np.asarray(d1), kinked
    d2 = (parts[2] - parts[3]) / h
    # D(h) = L′ + c·h² + O(h⁴), so (4·D(h/2) − D(h))/3 = L′ + O(h⁴).
    return np.asarray((4.0 * d2 - d1) / 3.0), kinked


def _perturbed_loss(
    spec: NetSpec,
    params: Mapping[str, Array],
    fwd: replica.Forward,
    y: NDArray[np.generic],
    layer: int,
    units: NDArray[np.intp],
    d: AnyArray,
) -> tuple[AnyArray, NDArray[np.bool_]]:
    """Loss after adding d[k] (…, K, B) to unit units[k] of z_l, for every k: (…, K).

    Also whether perturbation k moved any recomputed pre-activation across a kink at 0
    (activations with a kink) or ŷ − y across 0 (a loss with a kink): (…, K), all False for
    analytic networks.
    """
    complex_step = np.iscomplexobj(d)
    z_l = fwd.zs[layer - 1]  # (…, B, n_l)
    crossed = np.zeros(d.shape[:-1], dtype=bool)  # (…, K)
    if layer == spec.depth:
        # The output layer: the prediction itself moves, in one unit.
        onehot = np.eye(spec.n_out)[units][:, None, :]  # (K, 1, n_out)
        pred = z_l[..., None, :, :] + d[..., None] * onehot  # (…, K, B, n_out)
    else:
        z_i = np.swapaxes(z_l[..., :, units], -1, -2)  # (…, K, B)
        act = _activation(spec, layer, complex_step)
        if not spec.activation_at(layer).analytic:
            crossed |= np.any((z_i + d.real > 0) != (z_i > 0), axis=-1)
        delta_a = act(z_i + d) - act(z_i)  # only a_l[:, i] changes
        w_next = params[f"W{layer + 1}"]
        cols = np.swapaxes(w_next[..., :, units], -1, -2)  # W_{l+1}[:, i]: (…, K, n_{l+1})
        # Rank-1 update: z_{l+1} + Δa_l,i · W_{l+1}[:, i]ᵀ, (…, K, B, n_{l+1})
        z = fwd.zs[layer][..., None, :, :] + delta_a[..., :, :, None] * cols[..., :, None, :]
        for nxt in range(layer + 2, spec.depth + 1):
            if not spec.activation_at(nxt - 1).analytic:  # z is z_{nxt−1}, base fwd.zs[nxt − 2]
                base = fwd.zs[nxt - 2][..., None, :, :]
                crossed |= np.any((z.real > 0) != (base > 0), axis=(-2, -1))
            w, b = params[f"W{nxt}"], params[f"b{nxt}"]
            act = _activation(spec, nxt - 1, complex_step)
            z = act(z) @ np.swapaxes(w, -1, -2)[..., None, :, :] + b[..., None, None, :]
        pred = z
    target = np.asarray(y)
    target = target[..., None, :] if target.dtype.kind == "i" else target[..., None, :, :]
    if not spec.loss_record.analytic:  # the kink is at ŷ = y, on the output activation's ŷ
        out = spec.output_record.f
        base_pred = fwd.output[..., None, :, :]
        crossed |= np.any((out(pred.real) > target) != (base_pred > target), axis=(-2, -1))
    shape = pred.shape[:-1] if target.dtype.kind == "i" else pred.shape
    target = np.broadcast_to(target, shape)
    return replica.head_loss(spec, pred, target, complex_step=complex_step), crossed


# ---------------------------------------------------------------------------------------------
# Directional derivatives


@dataclass(frozen=True)
class Directional:
    """Seeded unit directions v_k over all parameters and the oracle's vₖᵀ∇L."""

    directions: dict[str, Array]  # name → (K, *shape), jointly unit-norm per k
    derivatives: Array  # (…, K)

    def project(self, grads: Mapping[str, NDArray[np.floating]]) -> Array:
        """vₖᵀg for a side's gradients g (…, *shape) → (…, K)."""
        terms = []
        for name, v in self.directions.items():
            g = np.expand_dims(np.asarray(grads[name], dtype=np.float64), -v.ndim)
            terms.append(np.sum(g * v, axis=tuple(range(-v.ndim + 1, 0))))
        return np.asarray(sum(terms))


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

    Cost: 4·n_directions forward passes of the whole network, whatever its size; memory: the
    directions and one perturbed copy of the parameters.
    """
    rng = np.random.default_rng(seed)
    p64 = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    shapes = {p.name: p.shape for p in spec.parameters()}
    raw = {name: rng.standard_normal((n_directions, *shape)) for name, shape in shapes.items()}
    norm = np.sqrt(sum(np.sum(v.reshape(n_directions, -1) ** 2, axis=1) for v in raw.values()))
    directions = {name: v / norm.reshape(-1, *([1] * (v.ndim - 1))) for name, v in raw.items()}
    x64 = np.asarray(x, dtype=np.float64)
    lead = x64.shape[:-2]
    # One step per case, scaled like the full methods' by the largest |θ|.
    biggest = functools.reduce(
        np.maximum,
        (np.max(np.abs(v), axis=tuple(range(-len(shapes[k]), 0))) for k, v in p64.items()),
    )
    t = RICHARDSON_STEP * np.maximum(1.0, np.broadcast_to(biggest, lead))  # (…,)
    y = np.asarray(y)
    y = y if y.dtype.kind == "i" else y.astype(np.float64)
    # One forward pass per (direction, step): 16 passes whatever the size, and one moved
    # copy of the parameters at a time (stacking them all would hold 16).
    losses = np.empty((*lead, n_directions, 4))
    for k in range(n_directions):
        for s, factor in enumerate((1.0, -1.0, 0.5, -0.5)):
            step = factor * t
            moved = {
                name: p64[name] + step.reshape(*lead, *([1] * (v.ndim - 1))) * v[k]
                for name, v in directions.items()
            }
            losses[..., k, s] = replica.forward(spec, moved, x64, y).loss
    d1 = (losses[..., 0] - losses[..., 1]) / (2 * t[..., None])
    d2 = (losses[..., 2] - losses[..., 3]) / t[..., None]
    return Directional(directions, (4.0 * d2 - d1) / 3.0)
