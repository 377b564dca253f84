"""One record per activation and per loss: the function, its hand-written derivative right under
it, the formula text, kinks, the saturation rule, the display symbol and a complex-valid twin.

Everything else reads these records: the replica, the CLI's choices, ``explain``, the health
notices, the diagnosis and the numerical oracle. Adding an activation is one record here plus its
torch mapping in ``torch_side/functions.py``.

Arrays are elementwise or reduce over the last two axes ``(batch, units)``, so any leading axes
(a stack of cases, a stack of perturbations) broadcast through unchanged.

Conventions follow torch so that hand and autograd agree exactly where a function has a kink:
relu′(0) = 0, leaky_relu′(0) = 0.01 (the negative slope), elu′(0) = 1, |·|′(0) = 0; softplus
is linear above 20 as torch's ``Softplus(beta=1, threshold=20)`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]
AnyArray = NDArray[Any]  # real or complex
Elementwise = Callable[[Array], Array]
ComplexElementwise = Callable[[AnyArray], AnyArray]

LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU default negative_slope
ELU_ALPHA = 1.0  # torch.nn.ELU default alpha
SOFTPLUS_THRESHOLD = 20.0  # torch.nn.Softplus default threshold (beta = 1)


@dataclass(frozen=True)
class Activation:
    """A hidden-layer activation and everything gradcheck says or computes about it."""

    name: str
    f: Elementwise
    df: Elementwise  # derivative at the pre-activation z
    symbol: str  # how formulas write it: a1 = σ(z1), σ′(z1)
    formula: str  # for `explain`
    derivative_formula: str
    #: Analytic twin for complex arguments (the complex-step oracle); None where f has a kink.
    complex_f: ComplexElementwise | None = None
    #: Points where f is not analytic (relu's 0): a finite-difference step across one measures
    #: no derivative, and the complex step is invalid.
    kinks: tuple[float, ...] = ()
    #: What a unit whose f′ underflows for every sample is called ("saturated", "dead"); None
    #: when f′ cannot vanish.
    stuck: str | None = None
    #: f′ written in terms of the output a = f(z) (σ′ = a(1 − a)), where such a form is common:
    #: the diagnosis recognises it evaluated at z instead of a.
    df_from_output: Elementwise | None = None

    @property
    def analytic(self) -> bool:
        return not self.kinks


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


def _sigmoid_complex(z: AnyArray) -> AnyArray:
    # The stable real form uses |z|, which is not analytic: pick by the sign of Re z between
    # algebraically identical expressions whose exponential cannot overflow.
    pos = z.real >= 0
    e = np.exp(np.where(pos, -z, z))  # |e| ≤ 1
    return np.where(pos, 1.0 / (1.0 + e), e / (1.0 + e))


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


def _softplus_complex(z: AnyArray) -> AnyArray:
    pos = z.real > 0
    smooth = np.where(pos, z, 0.0) + np.log1p(np.exp(np.where(pos, -z, z)))
    return np.where(z.real > SOFTPLUS_THRESHOLD, z, smooth)


def identity(z: Array) -> Array:
    return z


def identity_prime(z: Array) -> Array:
    return np.ones_like(z)


#: Every hidden activation, by the name the CLI and the API take.
ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "sigmoid",
            sigmoid,
            sigmoid_prime,
            symbol="σ",
            formula="σ(z) = 1/(1+e^−z)",
            derivative_formula="σ′(z) = σ(z)(1−σ(z))",
            complex_f=_sigmoid_complex,
            stuck="saturated",
            df_from_output=lambda a: a * (1.0 - a),
        ),
        Activation(
            "tanh",
            tanh,
            tanh_prime,
            symbol="tanh",
            formula="tanh(z)",
            derivative_formula="tanh′(z) = 1 − tanh²(z)",
            complex_f=np.tanh,
            stuck="saturated",
            df_from_output=lambda a: 1.0 - a * a,
        ),
        Activation(
            "relu",
            relu,
            relu_prime,
            symbol="relu",
            formula="relu(z) = max(z, 0)",
            derivative_formula="relu′(z) = [z > 0]",
            kinks=(0.0,),
            stuck="dead",
        ),
        Activation(
            "leaky_relu",
            leaky_relu,
            leaky_relu_prime,
            symbol="leaky_relu",
            formula=f"leaky_relu(z) = z if z > 0 else {LEAKY_SLOPE}·z",
            derivative_formula=f"leaky_relu′(z) = 1 if z > 0 else {LEAKY_SLOPE}",
            kinks=(0.0,),
        ),
        Activation(
            "elu",
            elu,
            elu_prime,
            symbol="elu",
            formula="elu(z) = z if z > 0 else e^z − 1",
            derivative_formula="elu′(z) = 1 if z > 0 else e^z",
            kinks=(0.0,),
            stuck="saturated",
        ),
        Activation(
            "softplus",
            softplus,
            softplus_prime,
            symbol="softplus",
            formula=f"softplus(z) = log(1+e^z) (z if z > {SOFTPLUS_THRESHOLD:g})",
            derivative_formula="softplus′(z) = σ(z)",
            complex_f=_softplus_complex,
            # torch switches to z itself above the threshold: the value jumps by
            # log1p(e^−20) ≈ 2e-9 and the slope by σ(−20) ≈ 2e-9 there.
            kinks=(SOFTPLUS_THRESHOLD,),
            stuck="saturated",
        ),
        Activation(
            "identity",
            identity,
            identity_prime,
            symbol="id",
            formula="id(z) = z",
            derivative_formula="id′(z) = 1",
            complex_f=lambda z: z,
        ),
    )
}

#: The seed's hidden activation, the default everywhere.
DEFAULT_ACTIVATION = "sigmoid"


# ---------------------------------------------------------------------------------------------
# Losses: mean reduction over every (sample, unit) element, as torch's defaults do; for
# cross-entropy the mean is over samples only. Each returns (loss (...,), ∂L/∂ŷ (..., B, n)).

LossFunction = Callable[..., tuple[Array, Array]]
ComplexLoss = Callable[[AnyArray, AnyArray], AnyArray]


@dataclass(frozen=True)
class Loss:
    """A loss and everything gradcheck says or computes about it."""

    name: str
    f: LossFunction  # (prediction, target) → (loss, ∂L/∂ŷ)
    formula: str
    derivative_formula: str
    #: "elements": the mean is over batch × units (N); "batch": over samples only (B).
    mean_over: str = "elements"
    #: "values": one float per output unit; "classes": one integer class index per sample.
    target: str = "values"
    #: Targets must lie in this closed interval (probabilities), if given.
    target_range: tuple[float, float] | None = None
    min_outputs: int = 1
    complex_f: ComplexLoss | None = None  # analytic twin for the complex step; None: a kink
    #: Where ŷ − y has a kink (l1's 0): a step across it measures no derivative.
    kinks: tuple[float, ...] = ()

    @property
    def analytic(self) -> bool:
        return not self.kinks

    @property
    def takes_classes(self) -> bool:
        return self.target == "classes"


def _n_elements(pred: Array) -> int:
    return int(pred.shape[-1] * pred.shape[-2])


def mse(pred: Array, target: Array) -> tuple[Array, Array]:
    diff = pred - target
    loss = np.mean(diff * diff, axis=(-2, -1))
    # d/dŷ mean((ŷ − y)²) = 2(ŷ − y)/N: the seed's loss_gradient, divided by N for the mean.
    return loss, (2.0 / _n_elements(pred)) * diff


def _mse_complex(pred: AnyArray, target: AnyArray) -> AnyArray:
    diff = pred - target
    return np.asarray(np.mean(diff * diff, axis=(-2, -1)))  # diff², not |diff|²: analytic


def l1(pred: Array, target: Array) -> tuple[Array, Array]:
    diff = pred - target
    loss = np.mean(np.abs(diff), axis=(-2, -1))
    return loss, np.sign(diff) / _n_elements(pred)


def bce_logits(pred: Array, target: Array) -> tuple[Array, Array]:
    # −[y log σ(z) + (1−y) log(1−σ(z))] = max(z, 0) − z·y + log1p(e^−|z|): no log(0), no overflow.
    per_element = np.maximum(pred, 0.0) - pred * target + np.log1p(np.exp(-np.abs(pred)))
    loss = np.mean(per_element, axis=(-2, -1))
    return loss, (sigmoid(pred) - target) / _n_elements(pred)


def _bce_logits_complex(pred: AnyArray, target: AnyArray) -> AnyArray:
    pos = pred.real > 0
    per_element = (
        np.where(pos, pred, 0.0) - pred * target + np.log1p(np.exp(np.where(pos, -pred, pred)))
    )
    return np.asarray(np.mean(per_element, axis=(-2, -1)))


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


def _cross_entropy_complex(pred: AnyArray, target: AnyArray) -> AnyArray:
    # Shifting by a real constant keeps logsumexp analytic.
    shifted = pred - np.max(pred.real, axis=-1, keepdims=True)
    log_softmax = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    picked = np.take_along_axis(log_softmax, np.asarray(target)[..., None], axis=-1)[..., 0]
    return np.asarray(-np.mean(picked, axis=-1))


#: Every loss, by the name the CLI and the API take.
LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            "mse",
            mse,
            "L = mean((ŷ − y)²)",
            "∂L/∂ŷ = 2(ŷ − y)/N",
            complex_f=_mse_complex,
        ),
        Loss(
            "l1",
            l1,
            "L = mean(|ŷ − y|)",
            "∂L/∂ŷ = sign(ŷ − y)/N",
            kinks=(0.0,),
        ),
        Loss(
            "bce_logits",
            bce_logits,
            "L = mean(max(ŷ,0) − ŷ·y + log(1 + e^−|ŷ|))",
            "∂L/∂ŷ = (σ(ŷ) − y)/N",
            target_range=(0.0, 1.0),
            complex_f=_bce_logits_complex,
        ),
        Loss(
            "cross_entropy",
            cross_entropy,
            "L = mean_b(logsumexp(ŷ_b) − ŷ_b[y_b])",
            "∂L/∂ŷ = (softmax(ŷ) − onehot(y))/B",
            mean_over="batch",
            target="classes",
            min_outputs=2,
            complex_f=_cross_entropy_complex,
        ),
    )
}

#: The seed's loss, the default everywhere.
DEFAULT_LOSS = "mse"
