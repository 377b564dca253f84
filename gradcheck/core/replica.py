"""The hand-derived network in plain NumPy: forward caches z and a, backward is the δ chain.

Shapes follow torch: ``W_l`` is ``(n_l, n_{l-1})``, samples are rows, so
``z_l = a_{l-1} · W_lᵀ + b_l`` is ``(B, n_l)``. Every array may carry extra leading axes
(a stack of cases or of perturbed parameter sets); the algebra broadcasts over them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.answer import Answer
from gradcheck.core.spec import NetSpec

Array = NDArray[np.floating]
AnyArray = NDArray[Any]  # real or complex


def _t(w: Array) -> Array:
    """Transpose of the last two axes (Wᵀ for a stack of weights)."""
    return np.swapaxes(w, -1, -2)


@dataclass(frozen=True)
class Forward:
    """What the forward pass caches for backward: z_l and a_l for every layer."""

    zs: tuple[Array, ...]  # z1 … zL, each (…, B, n_l)
    activations: tuple[Array, ...]  # a0 = x, a1 … a_{L−1}
    output: Array  # ŷ = f_out(zL), (…, B, n_L): zL itself for a linear output
    loss: Array  # (…,), L2 term included
    dloss: Array  # ∂L/∂ŷ, (…, B, n_L), reduction and scale included

    @property
    def prediction(self) -> Array:
        return self.output


@dataclass(frozen=True)
class Backward:
    """Gradients of the loss: per parameter (``W1``, ``b1``, …) and per layer (δ1 … δL)."""

    grads: dict[str, Array]
    deltas: dict[str, Array]  # "delta1" … "deltaL": ∂L/∂z_l, (…, B, n_l)


def loss_factor(spec: NetSpec, output: AnyArray) -> float:
    """What the record's mean-reduced loss is multiplied by: the scale, times the count for a
    sum (B·n elements, or B samples for a loss over classes)."""
    count = 1 if spec.reduction == "mean" else spec.loss_record.count(output)
    return spec.loss_scale * count


def head_loss(
    spec: NetSpec, z: AnyArray, y: NDArray[np.generic], *, complex_step: bool = False
) -> AnyArray:
    """The data loss as a function of the last pre-activation zL (…, B, n_L): output
    activation, loss, reduction and scale; no L2 term. ``complex_step`` uses the analytic
    twins (the oracle's complex step)."""
    out, loss = spec.output_record, spec.loss_record
    if complex_step:
        assert out.complex_f is not None and loss.complex_f is not None
        value = loss.complex_f(out.complex_f(z), y)
    else:
        value = loss.f(out.f(z), y)[0]
    return loss_factor(spec, z) * value


def l2_penalty(spec: NetSpec, params: Mapping[str, Array]) -> Array | float:
    """Σ_p λ_p · Σp² over the parameters the L2 term reaches (``NetSpec.l2_terms``): (…,) or 0."""
    terms = spec.l2_terms
    if not terms:
        return 0.0
    dims = {p.name: len(p.shape) for p in spec.parameters()}
    total = sum(
        lam * np.sum(params[name] ** 2, axis=tuple(range(-dims[name], 0))) for name, lam in terms
    )
    return np.asarray(total)


def forward(
    spec: NetSpec, params: Mapping[str, Array], x: Array, y: NDArray[np.generic]
) -> Forward:
    """Run the network and the loss, keeping every z and a for the backward pass."""
    acts = spec.activations
    a = x
    zs: list[Array] = []
    activations: list[Array] = [x]
    for layer in range(1, spec.depth + 1):
        w, b = params[f"W{layer}"], params[f"b{layer}"]
        # z: (…, B, out) = a_prev (…, B, in) · Wᵀ (…, in, out) + b (…, 1, out)
        z = a @ _t(w) + b[..., None, :]
        zs.append(z)
        if layer < spec.depth:
            a = acts[layer - 1].f(z)
            activations.append(a)
    output = spec.output_record.f(zs[-1])
    mean_loss, dmean = spec.loss_record.f(output, y)
    # L = C·reduce(loss(ŷ, y)) + λ·ΣW²: a sum is the mean times its count, C the --loss-scale.
    factor = loss_factor(spec, output)
    loss = factor * mean_loss + l2_penalty(spec, params)
    return Forward(tuple(zs), tuple(activations), output, np.asarray(loss), factor * dmean)


def backward(spec: NetSpec, params: Mapping[str, Array], fwd: Forward) -> Backward:
    """Backpropagate by hand, from δL = ∂L/∂zL at the output down to δ1."""
    acts = spec.activations
    grads: dict[str, Array] = {}
    deltas: dict[str, Array] = {}
    # δL = ∂L/∂zL: ∂L/∂ŷ back through the output activation (⊙ f′(zL) elementwise, the
    # Jacobian for softmax). For the seed's linear output δL = ∂L/∂ŷ (δ3 = 2ŷ − 2y).
    delta = spec.output_record.vjp(fwd.zs[-1], fwd.output, fwd.dloss)
    for layer in range(spec.depth, 0, -1):
        deltas[f"delta{layer}"] = delta
        a_prev = fwd.activations[layer - 1]
        # dW: (…, out, in) = δᵀ (…, out, B) · a_prev (…, B, in) — sums the batch's outer products.
        grads[f"W{layer}"] = _t(delta) @ a_prev
        # db: (…, out) = Σ_batch δ, since ∂z/∂b = I for every sample.
        grads[f"b{layer}"] = delta.sum(axis=-2)
        for name in (f"W{layer}", f"b{layer}"):
            lam = spec.l2_of(name)
            if lam:
                # ∂(λ·Σp²)/∂p = 2λp, for each parameter the L2 term reaches
                grads[name] = grads[name] + 2.0 * lam * params[name]
        if layer > 1:
            # δ_{l−1} = (δ_l · W_l) ⊙ f′(z_{l−1}): the chain rule through z_l = W_l a_{l−1} + b_l
            # (∂z_l/∂a_{l−1} = W_l), then through a_{l−1} = f(z_{l−1}) elementwise.
            delta = (delta @ params[f"W{layer}"]) * acts[layer - 2].df(fwd.zs[layer - 2])
    order = [p.name for p in spec.parameters()]
    return Backward(
        {name: grads[name] for name in order},
        {f"delta{layer}": deltas[f"delta{layer}"] for layer in range(1, spec.depth + 1)},
    )


def upstream(
    spec: NetSpec, params: Mapping[str, Array], fwd: Forward, bwd: Backward
) -> list[Array]:
    """∂L/∂a_l for l = 0 … L (a0 = x, aL = ŷ): δ_(l+1)·W_(l+1) below the output, ∂L/∂ŷ at it."""
    out = [bwd.deltas[f"delta{k + 1}"] @ params[f"W{k + 1}"] for k in range(spec.depth)]
    return [*out, fwd.dloss]


def gradients(
    spec: NetSpec, params: Mapping[str, Array], x: Array, y: NDArray[np.generic]
) -> tuple[Forward, Backward]:
    """Forward then backward: the replica's full answer for one set of weights and data."""
    fwd = forward(spec, params, x, y)
    return fwd, backward(spec, params, fwd)


def answer(spec: NetSpec, params: Mapping[str, Array], x: Array, y: NDArray[np.generic]) -> Answer:
    """The replica's answer in the vocabulary every side shares."""
    fwd, bwd = gradients(spec, params, x, y)
    return Answer(fwd.prediction, fwd.loss, bwd.grads, bwd.deltas)
