"""Activations and losses in NumPy, each derivative written by hand right under its function.

Everything here is elementwise or reduces over the last two axes ``(batch, units)``, so any
leading axes (a stack of cases, a stack of perturbations) broadcast through unchanged.

Conventions follow torch so that hand and autograd agree exactly where a function has a kink:
relu′(0) = 0, leaky_relu′(0) = 0.01 (the negative slope), elu′(0) = 1, |·|′(0) = 0; softplus
is linear above 20 as torch's ``Softplus(beta=1, threshold=20)`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]

LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU default negative_slope
ELU_ALPHA = 1.0  # torch.nn.ELU default alpha
SOFTPLUS_THRESHOLD = 20.0  # torch.nn.Softplus default threshold (beta = 1)


class Activation(NamedTuple):
    f: Callable[[Array], Array]
    df: Callable[[Array], Array]  # derivative at the pre-activation z
    formula: str  # for `explain`
    derivative_formula: str


def sigmoid(z: Array) -> Array:
    # exp(-|z|) never overflows; pick the branch that divides by a number ≥ 1.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def sigmoid_prime(z: Array) -> Array:
    # σ′ = σ(1 − σ) = e/(1 + e)² with e = exp(−|z|): symmetric, and no 1 − 1 cancellation
    # when σ rounds to 1 (torch computes (1 − σ)σ and gets 0 there; the difference is far
    # below any tolerance).
    e = np.exp(-np.abs(z))
    return (e / (1.0 + e) ** 2).astype(z.dtype, copy=False)


def tanh(z: Array) -> Array:
    return np.tanh(z)


def tanh_prime(z: Array) -> Array:
    t = np.tanh(z)
    return 1.0 - t * t


def relu(z: Array) -> Array:
    return np.maximum(z, 0.0).astype(z.dtype, copy=False)


def relu_prime(z: Array) -> Array:
    return (z > 0).astype(z.dtype)


def leaky_relu(z: Array) -> Array:
    return np.where(z > 0, z, LEAKY_SLOPE * z).astype(z.dtype, copy=False)


def leaky_relu_prime(z: Array) -> Array:
    return np.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype)


def elu(z: Array) -> Array:
    # expm1 only on the non-positive part, so large z cannot overflow.
    return np.where(z > 0, z, ELU_ALPHA * np.expm1(np.minimum(z, 0.0))).astype(z.dtype, copy=False)


def elu_prime(z: Array) -> Array:
    return np.where(z > 0, 1.0, ELU_ALPHA * np.exp(np.minimum(z, 0.0))).astype(z.dtype, copy=False)


def softplus(z: Array) -> Array:
    # log(1 + e^z) = max(z, 0) + log1p(e^−|z|) is exact and overflow-free; above the
    # threshold torch returns z itself, and so do we.
    smooth = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
    return np.where(z > SOFTPLUS_THRESHOLD, z, smooth).astype(z.dtype, copy=False)


def softplus_prime(z: Array) -> Array:
    return np.where(z > SOFTPLUS_THRESHOLD, 1.0, sigmoid(z)).astype(z.dtype, copy=False)


def identity(z: Array) -> Array:
    return z


def identity_prime(z: Array) -> Array:
    return np.ones_like(z)


ACTIVATION_FUNCTIONS: dict[str, Activation] = {
    "sigmoid": Activation(sigmoid, sigmoid_prime, "σ(z) = 1/(1+e^−z)", "σ′(z) = σ(z)(1−σ(z))"),
    "tanh": Activation(tanh, tanh_prime, "tanh(z)", "tanh′(z) = 1 − tanh²(z)"),
    "relu": Activation(relu, relu_prime, "relu(z) = max(z, 0)", "relu′(z) = [z > 0]"),
    "leaky_relu": Activation(
        leaky_relu,
        leaky_relu_prime,
        f"leaky_relu(z) = z if z > 0 else {LEAKY_SLOPE}·z",
        f"leaky_relu′(z) = 1 if z > 0 else {LEAKY_SLOPE}",
    ),
    "elu": Activation(
        elu, elu_prime, "elu(z) = z if z > 0 else e^z − 1", "elu′(z) = 1 if z > 0 else e^z"
    ),
    "softplus": Activation(
        softplus,
        softplus_prime,
        f"softplus(z) = log(1+e^z) (z if z > {SOFTPLUS_THRESHOLD:g})",
        "softplus′(z) = σ(z)",
    ),
    "identity": Activation(identity, identity_prime, "id(z) = z", "id′(z) = 1"),
}


# Losses: mean reduction over every (sample, unit) element, as torch's defaults do; for
# cross-entropy the mean is over samples only. Each returns (loss (...,), ∂L/∂ŷ (..., B, n)).


def _n_elements(pred: Array) -> int:
    return int(pred.shape[-1] * pred.shape[-2])


def mse(pred: Array, target: Array) -> tuple[Array, Array]:
    diff = pred - target
    loss = np.mean(diff * diff, axis=(-2, -1))
    # d/dŷ mean((ŷ − y)²) = 2(ŷ − y)/N: the seed's loss_gradient, divided by N for the mean.
    return loss, (2.0 / _n_elements(pred)) * diff


def l1(pred: Array, target: Array) -> tuple[Array, Array]:
    diff = pred - target
    loss = np.mean(np.abs(diff), axis=(-2, -1))
    return loss, np.sign(diff) / _n_elements(pred)


def bce_logits(pred: Array, target: Array) -> tuple[Array, Array]:
    # −[y log σ(z) + (1−y) log(1−σ(z))] = max(z, 0) − z·y + log1p(e^−|z|): no log(0), no overflow.
    per_element = np.maximum(pred, 0.0) - pred * target + np.log1p(np.exp(-np.abs(pred)))
    loss = np.mean(per_element, axis=(-2, -1))
    return loss, (sigmoid(pred) - target) / _n_elements(pred)


def cross_entropy(pred: Array, target: NDArray[np.integer]) -> tuple[Array, Array]:
    # L = mean_b(logsumexp(z_b) − z_b[y_b]); ∂L/∂z = (softmax(z) − onehot(y)) / B.
    shifted = pred - np.max(pred, axis=-1, keepdims=True)
    exp = np.exp(shifted)
    total = np.sum(exp, axis=-1, keepdims=True)
    log_softmax = shifted - np.log(total)
    picked = np.take_along_axis(log_softmax, target[..., None], axis=-1)[..., 0]
    loss = -np.mean(picked, axis=-1)
    onehot = np.zeros_like(pred)
    np.put_along_axis(onehot, target[..., None], 1.0, axis=-1)
    return loss, (exp / total - onehot) / pred.shape[-2]


LOSS_FUNCTIONS: dict[str, Callable[..., tuple[Array, Array]]] = {
    "mse": mse,
    "l1": l1,
    "bce_logits": bce_logits,
    "cross_entropy": cross_entropy,
}

LOSS_FORMULAS: dict[str, tuple[str, str]] = {
    "mse": ("L = mean((ŷ − y)²)", "∂L/∂ŷ = 2(ŷ − y)/N"),
    "l1": ("L = mean(|ŷ − y|)", "∂L/∂ŷ = sign(ŷ − y)/N"),
    "bce_logits": (
        "L = mean(max(ŷ,0) − ŷ·y + log(1 + e^−|ŷ|))",
        "∂L/∂ŷ = (σ(ŷ) − y)/N",
    ),
    "cross_entropy": (
        "L = mean_b(logsumexp(ŷ_b) − ŷ_b[y_b])",
        "∂L/∂ŷ = (softmax(ŷ) − onehot(y))/B",
    ),
}
