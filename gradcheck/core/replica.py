"""The hand-derived network in plain NumPy: forward caches z and a, backward is the δ chain.

Shapes follow torch: ``W_l`` is ``(n_l, n_{l-1})``, samples are rows, so
``z_l = a_{l-1} · W_lᵀ + b_l`` is ``(B, n_l)``. Every array may carry extra leading axes
(a stack of cases or of perturbed parameter sets); the algebra broadcasts over them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.answer import Answer
from gradcheck.core.spec import NetSpec

Array = NDArray[np.floating]


def _t(w: Array) -> Array:
    """Transpose of the last two axes (Wᵀ for a stack of weights)."""
    return np.swapaxes(w, -1, -2)


@dataclass(frozen=True)
class Forward:
    """What the forward pass caches for backward: z_l and a_l for every layer."""

    zs: tuple[Array, ...]  # z1 … zL, each (…, B, n_l)
    activations: tuple[Array, ...]  # a0 = x, a1 … a_{L−1}; the output layer is linear
    loss: Array  # (…,)
    dloss: Array  # ∂L/∂ŷ, (…, B, n_L)

    @property
    def prediction(self) -> Array:
        return self.zs[-1]


@dataclass(frozen=True)
class Backward:
    """Gradients of the loss: per parameter (``W1``, ``b1``, …) and per layer (δ1 … δL)."""

    grads: dict[str, Array]
    deltas: dict[str, Array]  # "delta1" … "deltaL": ∂L/∂z_l, (…, B, n_l)


def forward(
    spec: NetSpec, params: Mapping[str, Array], x: Array, y: NDArray[np.generic]
) -> Forward:
    """Run the network and the loss, keeping every z and a for the backward pass."""
    act = spec.activation_record.f
    a = x
    zs: list[Array] = []
    activations: list[Array] = [x]
    for layer in range(1, spec.depth + 1):
        w, b = params[f"W{layer}"], params[f"b{layer}"]
        # z: (…, B, out) = a_prev (…, B, in) · Wᵀ (…, in, out) + b (…, 1, out)
        z = a @ _t(w) + b[..., None, :]
        zs.append(z)
        if layer < spec.depth:
            a = act(z)
            activations.append(a)
    loss, dloss = spec.loss_record.f(zs[-1], y)
    return Forward(tuple(zs), tuple(activations), loss, dloss)


def backward(spec: NetSpec, params: Mapping[str, Array], fwd: Forward) -> Backward:
    """Backpropagate by hand, from δL = ∂L/∂zL at the output down to δ1."""
    act_prime = spec.activation_record.df
    grads: dict[str, Array] = {}
    deltas: dict[str, Array] = {}
    # The output layer is linear, so δL = ∂L/∂zL = ∂L/∂ŷ (the seed's δ3 = 2ŷ − 2y).
    delta = fwd.dloss
    for layer in range(spec.depth, 0, -1):
        deltas[f"delta{layer}"] = delta
        a_prev = fwd.activations[layer - 1]
        # dW: (…, out, in) = δᵀ (…, out, B) · a_prev (…, B, in) — sums the batch's outer products.
        grads[f"W{layer}"] = _t(delta) @ a_prev
        # db: (…, out) = Σ_batch δ, since ∂z/∂b is the identity for every sample.
        grads[f"b{layer}"] = delta.sum(axis=-2)
        if layer > 1:
            # δ_{l−1} = (δ_l · W_l) ⊙ f′(z_{l−1}): the chain rule through z_l = W_l a_{l−1} + b_l
            # (∂z_l/∂a_{l−1} = W_l), then through a_{l−1} = f(z_{l−1}) elementwise.
            delta = (delta @ params[f"W{layer}"]) * act_prime(fwd.zs[layer - 2])
    order = [p.name for p in spec.parameters()]
    return Backward(
        {name: grads[name] for name in order},
        {f"delta{layer}": deltas[f"delta{layer}"] for layer in range(1, spec.depth + 1)},
    )


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
