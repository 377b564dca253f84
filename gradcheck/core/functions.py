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

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Array = NDArray[np.floating]
    AnyArray = NDArray[Any]  # real or complex
else:

    class _Numpy:
        """numpy, imported on first use: the CLI reads these records to list its choices, and
        ``gradcheck --help`` should not pay for numpy. The first attribute read replaces this
        stand-in with the module itself, so every later ``np.…`` is a plain global lookup."""

        def __getattr__(self, name: str) -> Any:
            numpy = importlib.import_module("numpy")
            sys.modules[__name__].np = numpy
            return getattr(numpy, name)

    np = _Numpy()
    Array = AnyArray = Any

Elementwise = Callable[["Array"], "Array"]
ComplexElementwise = Callable[["AnyArray"], "AnyArray"]

LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU default negative_slope
ELU_ALPHA = 1.0  # torch.nn.ELU default alpha
SOFTPLUS_BETA = 1.0  # torch.nn.Softplus default beta
SOFTPLUS_THRESHOLD = 20.0  # torch.nn.Softplus default threshold


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
    #: Points where f switches formula and f′ jumps by a rounding-size amount (softplus is
    #: linear above its threshold, as torch's is): f stays analytic enough for the oracle's
    #: complex step, but the verdict accepts either one-sided derivative there, as at a kink.
    switches: tuple[float, ...] = ()
    #: What a unit whose f′ underflows for every sample is called ("saturated", "dead"); None
    #: when f′ cannot vanish.
    stuck: str | None = None
    #: f′ written in terms of the output a = f(z) (σ′ = a(1 − a)), where such a form is common:
    #: the diagnosis recognises it evaluated at z instead of a.
    df_from_output: Elementwise | None = None
    #: The bound of f (and of f′) whose multiple of ε is the absolute error of a correct formula
    #: near an asymptote: σ(−30) is 1e-13 by 1/(1 + e^30) and 0 by (1 + tanh(−15))/2 in float64,
    #: and σ′ = a(1 − a) loses everything where a rounds to 1. 0 where f and f′ are exact or
    #: relatively accurate whatever the formula (relu, identity).
    bounded: float = 0.0
    #: ``df_from_output`` as formulas write it (``σ′ = a(1 − a)``).
    df_from_output_formula: str = ""
    #: The one parameter torch's module has (leaky_relu's ``negative_slope``), its value in this
    #: record, and the factory that builds the record for another value; None when f has none.
    parameter: str | None = None
    value: float | None = None
    family: Callable[[float], Activation] | None = None
    #: A kind of ``gradcheck layer`` too (``core/layers/elementwise.py`` makes its record): the
    #: activations courses ask you to derive as a layer of their own.
    layer_kind: bool = False

    @property
    def analytic(self) -> bool:
        return not self.kinks

    def bind(self, value: float | None) -> Activation:
        """This activation with its parameter set to ``value`` (itself when ``value`` is None)."""
        if value is None or self.family is None or value == self.value:
            return self
        return self.family(value)

    @property
    def label(self) -> str:
        """The name, with the parameter when it is not torch's default: ``leaky_relu(0.2)``."""
        default = ACTIVATIONS.get(self.name)
        if self.value is None or default is None or default.value == self.value:
            return self.name
        return f"{self.name}({self.value:g})"


def sigmoid(z: Array) -> Array:
    # exp(-|z|) never overflows; pick the branch that divides by a number ≥ 1:
    # 1/(1 + e) where z ≥ 0, e/(1 + e) elsewhere. Computed in place (two arrays, not seven:
    # on big batches the replica's time outside the matmuls is these elementwise passes).
    if not isinstance(z, np.ndarray) or z.dtype.kind != "f":
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)
    # Branch-free: the numerator exp(min(z, 0)) is e where z < 0 and exactly 1 elsewhere, so
    # the values are those of the two branches, bit for bit (a masked select costs 3× an exp).
    num = np.minimum(z, 0.0)
    np.exp(num, out=num)
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    e += 1.0
    np.divide(num, e, out=num)
    return num


def sigmoid_prime(z: Array) -> Array:
    # σ′ = σ(1 − σ) = e/(1 + e)² with e = exp(−|z|): symmetric, and no 1 − 1 cancellation
    # when σ rounds to 1 (torch computes (1 − σ)σ and gets 0 there; the difference is far
    # below any tolerance). In place, as ``sigmoid``.
    if not isinstance(z, np.ndarray) or z.dtype.kind != "f":
        e = np.exp(-np.abs(z))
        return (e / (1.0 + e) ** 2).astype(z.dtype, copy=False)
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    d = e + 1.0
    np.square(d, out=d)
    np.divide(e, d, out=e)
    return e


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


def _leaky_relu(slope: float) -> Activation:
    def f(z: Array) -> Array:
        return np.where(z > 0, z, slope * z).astype(z.dtype, copy=False)

    def df(z: Array) -> Array:
        return np.where(z > 0, 1.0, slope).astype(z.dtype)

    return Activation(
        "leaky_relu",
        f,
        df,
        symbol="leaky_relu",
        formula=f"leaky_relu(z) = z if z > 0 else {slope:g}·z",
        derivative_formula=f"leaky_relu′(z) = 1 if z > 0 else {slope:g}",
        kinks=(0.0,),
        stuck="dead" if slope == 0 else None,
        parameter="negative_slope",
        value=slope,
        family=_leaky_relu,
        layer_kind=True,
    )


def _elu(alpha: float) -> Activation:
    def f(z: Array) -> Array:
        # expm1 only on the non-positive part, so large z cannot overflow.
        return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0))).astype(z.dtype, copy=False)

    def df(z: Array) -> Array:
        # torch: α·e^z for z ≤ 0, so elu′(0) = α
        return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0))).astype(z.dtype, copy=False)

    alpha_text = "" if alpha == 1 else f"{alpha:g}·"
    return Activation(
        "elu",
        f,
        df,
        symbol="elu",
        formula=f"elu(z) = z if z > 0 else {alpha_text}(e^z − 1)",
        derivative_formula=f"elu′(z) = 1 if z > 0 else {alpha_text}e^z",
        kinks=(0.0,),
        stuck="saturated",
        bounded=alpha,
        parameter="alpha",
        value=alpha,
        family=_elu,
    )


def _softplus(beta: float) -> Activation:
    # (1/β)·log(1 + e^{βz}) = (max(βz, 0) + log1p(e^−|βz|))/β is exact and overflow-free; above
    # βz > threshold torch returns z itself, and so do we.
    def f(z: Array) -> Array:
        bz = beta * z
        smooth = (np.maximum(bz, 0.0) + np.log1p(np.exp(-np.abs(bz)))) / beta
        return np.where(bz > SOFTPLUS_THRESHOLD, z, smooth).astype(z.dtype, copy=False)

    def df(z: Array) -> Array:
        bz = beta * z
        return np.where(bz > SOFTPLUS_THRESHOLD, 1.0, sigmoid(bz)).astype(z.dtype, copy=False)

    def complex_f(z: AnyArray) -> AnyArray:
        bz = beta * z
        pos = bz.real > 0
        smooth = (np.where(pos, bz, 0.0) + np.log1p(np.exp(np.where(pos, -bz, bz)))) / beta
        return np.where(bz.real > SOFTPLUS_THRESHOLD, z, smooth)

    b = "" if beta == 1 else f"{beta:g}"
    return Activation(
        "softplus",
        f,
        df,
        symbol="softplus",
        formula=(
            f"softplus(z) = log(1+e^z) (z if z > {SOFTPLUS_THRESHOLD:g})"
            if beta == 1
            else f"softplus(z) = log(1+e^({b}z))/{b} (z if {b}z > {SOFTPLUS_THRESHOLD:g})"
        ),
        derivative_formula="softplus′(z) = σ(z)" if beta == 1 else f"softplus′(z) = σ({b}z)",
        complex_f=complex_f,
        switches=(SOFTPLUS_THRESHOLD / beta,),
        stuck="saturated",
        bounded=1.0 / beta,
        parameter="beta",
        value=beta,
        family=_softplus,
    )


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
            bounded=1.0,
            df_from_output_formula="σ′ = a(1 − a)",
            layer_kind=True,
        ),
        Activation(
            "tanh",
            tanh,
            tanh_prime,
            symbol="tanh",
            formula="tanh(z)",
            derivative_formula="tanh′(z) = 1 − tanh²(z)",
            complex_f=tanh,  # np.tanh is analytic and takes complex arguments
            stuck="saturated",
            df_from_output=lambda a: 1.0 - a * a,
            bounded=1.0,
            df_from_output_formula="tanh′ = 1 − a²",
            layer_kind=True,
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
            layer_kind=True,
        ),
        _leaky_relu(LEAKY_SLOPE),
        _elu(ELU_ALPHA),
        _softplus(SOFTPLUS_BETA),
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
# Output activations: applied to the last pre-activation z_L, row by row (softmax mixes the
# units of a row, so its derivative is a Jacobian, applied here as a vector-Jacobian product).

Rowwise = Callable[[Array], Array]
#: (z, a = f(z), g = ∂L/∂a) → ∂L/∂z, all (…, B, n)
VectorJacobian = Callable[[Array, Array, Array], Array]
#: (z, a) → a per-unit bound, (…, B, n): of |∂a_i/∂z| summed over a row's z (how far an error
#: in z moves a), or of a's own rounding in multiples of ε.
OutputBound = Callable[[Array, Array], Array]
#: (z, a, g) → the rounding of the vector-Jacobian product in multiples of ε, (…, B, n).
VjpError = Callable[[Array, Array, Array], Array]


@dataclass(frozen=True)
class OutputActivation:
    """What the network applies after its last Linear layer, and how δL passes back through it."""

    name: str
    f: Rowwise
    vjp: VectorJacobian
    symbol: str
    formula: str
    derivative_formula: str  # how ∂L/∂z follows from ∂L/∂a
    complex_f: ComplexElementwise | None
    #: "values" (any real), "probabilities" (each in (0, 1)), "log_probabilities".
    produces: str = "values"
    kinks: tuple[float, ...] = ()
    #: Rounding terms for ``core/bounds.py`` (see ``OutputBound``, ``VjpError``); identity's
    #: by default.
    slope: OutputBound = lambda z, a: np.ones_like(z)
    value_error: OutputBound = lambda z, a: np.abs(a)
    vjp_error: VjpError = lambda z, a, g: np.abs(g)
    #: |J|ᵀ·v for v ≥ 0: how a bound on ∂L/∂ŷ becomes one on ∂L/∂z (Jacobian in absolute value).
    abs_vjp: VectorJacobian = lambda z, a, v: v
    #: The vjp with f′ computed from z (accurate where a rounds to its asymptote); None: ``vjp``.
    stable_vjp: VectorJacobian | None = None
    #: Whether a unit of the output depends on the other units of its row (softmax).
    mixes: bool = False
    #: The vjp takes its derivative from the output a (torch's sigmoid and tanh backward do):
    #: a loss's ∂L/∂ŷ and f′ then come from the same rounded ŷ, and their product keeps its
    #: accuracy where ŷ(1 − ŷ) cancels (bce through a sigmoid).
    from_output: bool = False

    @property
    def analytic(self) -> bool:
        return not self.kinks


def _elementwise_output(act: Activation) -> OutputActivation:
    from_output = act.df_from_output
    if from_output is None:
        # elementwise: the Jacobian is diagonal, ∂L/∂z = ∂L/∂a ⊙ f′(z)
        def vjp(z: Array, a: Array, g: Array) -> Array:
            return g * act.df(z)
    else:
        # f′ from the output, as torch's backward computes it: σ′ = a(1 − a), tanh′ = 1 − a².
        def vjp(z: Array, a: Array, g: Array) -> Array:
            return g * from_output(a)

    def slope(z: Array, a: Array) -> Array:
        return np.abs(act.df(z))

    def value_error(z: Array, a: Array) -> Array:
        return np.abs(a) + act.bounded

    def vjp_error(z: Array, a: Array, g: Array) -> Array:
        # f′ from a rounded a: its error is absolute (1 − a cancels), ~ε·bounded.
        return np.abs(g) * (np.abs(act.df(z)) + 2.0 * act.bounded)

    def abs_vjp(z: Array, a: Array, v: Array) -> Array:
        return v * np.abs(act.df(z))

    def stable_vjp(z: Array, a: Array, g: Array) -> Array:
        return g * act.df(z)

    return OutputActivation(
        act.name,
        act.f,
        vjp,
        symbol=act.symbol,
        formula=act.formula,
        derivative_formula=f"∂L/∂zL = ∂L/∂ŷ ⊙ {act.derivative_formula.split(' = ')[0]}",
        complex_f=act.complex_f,
        produces="probabilities" if act.name == "sigmoid" else "values",
        slope=slope,
        value_error=value_error,
        vjp_error=vjp_error,
        abs_vjp=abs_vjp,
        stable_vjp=stable_vjp,
        from_output=from_output is not None,
    )


def _softmax_slope(z: Array, a: Array) -> Array:
    # Σ_j |∂a_i/∂z_j| = a_i(1 − a_i) + a_i·Σ_{j≠i} a_j = 2a_i(1 − a_i) ≤ 2a_i
    return 2.0 * np.abs(a)


def _softmax_vjp_error(z: Array, a: Array, g: Array) -> Array:
    # a ⊙ (g − s), s = Σ_j g_j a_j: the difference cancels (ε·(|g| + Σ|g||a|)), and a is
    # relatively accurate; ×2 for the sum's own rounding.
    total = np.sum(np.abs(g * a), axis=-1, keepdims=True)
    diff = np.abs(g - np.sum(g * a, axis=-1, keepdims=True))
    return np.asarray(2.0 * np.abs(a) * (np.abs(g) + total + diff))


def _log_softmax_value_error(z: Array, a: Array) -> Array:
    # z − lse(z): the subtraction's operands are |z| and |lse| = |z − a|.
    return np.asarray(np.abs(z) + np.abs(z - a) + 1.0)


def _log_softmax_vjp_error(z: Array, a: Array, g: Array) -> Array:
    # g − e^a·Σg: e^a carries a's absolute error as a relative one.
    total = np.abs(np.sum(g, axis=-1, keepdims=True))
    return np.asarray(np.abs(g) + np.exp(a) * total * (2.0 + _log_softmax_value_error(z, a)))


def softmax(z: AnyArray) -> AnyArray:
    # Shifting by a real per-row constant changes nothing and keeps exp from overflowing.
    e = np.exp(z - np.max(z.real, axis=-1, keepdims=True))
    return np.asarray(e / np.sum(e, axis=-1, keepdims=True))


def log_softmax(z: AnyArray) -> AnyArray:
    shifted = z - np.max(z.real, axis=-1, keepdims=True)
    return np.asarray(shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True)))


#: Every output activation, by the name ``--output-activation`` takes.
OUTPUT_ACTIVATIONS: dict[str, OutputActivation] = {
    o.name: o
    for o in (
        _elementwise_output(ACTIVATIONS["identity"]),
        _elementwise_output(ACTIVATIONS["sigmoid"]),
        _elementwise_output(ACTIVATIONS["tanh"]),
        OutputActivation(
            "softmax",
            softmax,
            # ∂a_i/∂z_j = a_i(δ_ij − a_j), so ∂L/∂z = a ⊙ (g − Σ_j g_j a_j)
            lambda z, a, g: a * (g - np.sum(g * a, axis=-1, keepdims=True)),
            symbol="softmax",
            formula="softmax(z)_i = e^z_i / Σ_j e^z_j",
            derivative_formula="∂L/∂zL = ŷ ⊙ (∂L/∂ŷ − Σ_j ∂L/∂ŷ_j·ŷ_j)",
            complex_f=softmax,
            produces="probabilities",
            slope=_softmax_slope,
            value_error=lambda z, a: 2.0 * np.abs(a),
            vjp_error=_softmax_vjp_error,
            # |J| ≤ diag(a) + a·aᵀ
            abs_vjp=lambda z, a, v: a * (v + np.sum(v * a, axis=-1, keepdims=True)),
            mixes=True,
        ),
        OutputActivation(
            "log_softmax",
            log_softmax,
            # ∂a_i/∂z_j = δ_ij − softmax_j, so ∂L/∂z = g − softmax(z)·Σ_j g_j, softmax = e^a
            lambda z, a, g: g - np.exp(a) * np.sum(g, axis=-1, keepdims=True),
            symbol="log_softmax",
            formula="log_softmax(z)_i = z_i − log Σ_j e^z_j",
            derivative_formula="∂L/∂zL = ∂L/∂ŷ − e^ŷ·Σ_j ∂L/∂ŷ_j",
            complex_f=log_softmax,
            produces="log_probabilities",
            slope=lambda z, a: np.full_like(z, 2.0),
            value_error=_log_softmax_value_error,
            vjp_error=_log_softmax_vjp_error,
            # |J|ᵀ ≤ I + softmax·1ᵀ
            abs_vjp=lambda z, a, v: v + np.exp(a) * np.sum(v, axis=-1, keepdims=True),
            mixes=True,
        ),
    )
}

#: The name of "no function": a linear layer. The seed's output layer is linear.
LINEAR = "identity"
DEFAULT_OUTPUT_ACTIVATION = LINEAR


# ---------------------------------------------------------------------------------------------
# Losses: mean reduction over every (sample, unit) element, as torch's defaults do; for
# cross-entropy the mean is over samples only. Each returns (loss (...,), ∂L/∂ŷ (..., B, n)).

LossFunction = Callable[..., tuple["Array", "Array"]]
ComplexLoss = Callable[["AnyArray", "AnyArray"], "AnyArray"]
#: (prediction, target) → per element (…, B, n), or per sample (…, B) for a loss over classes:
#: the size of the terms a formula sums or subtracts, whose multiple of ε bounds its rounding.
LossSize = Callable[..., "Array"]
#: (output activation's name, zL, target) → (mean loss (…,), ∂(mean loss)/∂zL (…, B, n)),
#: computed from the logits without rounding the probabilities first.
ExactHead = Callable[[str, "Array", "Array"], tuple["Array", "Array"]]


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
    #: The output activations this loss is meant to follow, and the sentence saying so when
    #: another is asked for (``--loss bce`` after a linear output is exit 2).
    fits: tuple[str, ...] = ("identity", "sigmoid", "tanh", "softmax", "log_softmax")
    fit_hint: str = ""
    #: The size of the terms of the loss value and of ∂L/∂ŷ (see ``LossSize``), for the
    #: rounding bounds of ``core/bounds.py``.
    size: LossSize = lambda pred, target: np.abs(pred) + np.abs(target)
    grad_size: LossSize = lambda pred, target: np.zeros(np.shape(pred))
    #: For a loss whose formula on probabilities torch clamps (bce: logs ≥ −100, its gradient
    #: divided by max(ŷ(1 − ŷ), 1e-12)): the exact value from the logits. Where ŷ rounds to 0
    #: or 1 the literal formula departs from it, and both are valid computations there.
    exact: ExactHead | None = None

    @property
    def analytic(self) -> bool:
        return not self.kinks

    @property
    def takes_classes(self) -> bool:
        return self.target == "classes"

    def count(self, pred: Array) -> int:
        """The number the mean divides by: B·n elements, or B samples for a loss over classes."""
        return int(pred.shape[-2]) if self.mean_over == "batch" else _n_elements(pred)


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


# torch's binary_cross_entropy clamps each log at −100 and divides its gradient by
# max(p(1 − p), 1e-12), so a probability that rounds to 0 or 1 gives a finite loss and gradient.
BCE_LOG_FLOOR = -100.0
BCE_EPSILON = 1e-12


def bce(pred: Array, target: Array) -> tuple[Array, Array]:
    # −[y log p + (1−y) log(1−p)] on probabilities p, as torch's BCELoss.
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(pred), BCE_LOG_FLOOR)
        log_q = np.maximum(np.log1p(-pred), BCE_LOG_FLOOR)
    loss = -np.mean(target * log_p + (1.0 - target) * log_q, axis=(-2, -1))
    # ∂/∂p = (p − y)/(p(1 − p)), per element, then /N for the mean
    grad = (pred - target) / np.maximum(pred * (1.0 - pred), BCE_EPSILON)
    return loss, grad / _n_elements(pred)


def _bce_complex(pred: AnyArray, target: AnyArray) -> AnyArray:
    per_element = target * np.log(pred) + (1.0 - target) * np.log(1.0 - pred)
    return np.asarray(-np.mean(per_element, axis=(-2, -1)))


def nll(pred: Array, target: NDArray[np.integer]) -> tuple[Array, Array]:
    # L = −mean_b ŷ_b[y_b] on log-probabilities ŷ; ∂L/∂ŷ = −onehot(y)/B.
    picked = np.take_along_axis(pred, target[..., None], axis=-1)[..., 0]
    onehot = np.zeros_like(pred)
    np.put_along_axis(onehot, target[..., None], 1.0, axis=-1)
    return -np.mean(picked, axis=-1), -onehot / pred.shape[-2]


def _nll_complex(pred: AnyArray, target: AnyArray) -> AnyArray:
    picked = np.take_along_axis(pred, np.asarray(target)[..., None], axis=-1)[..., 0]
    return np.asarray(-np.mean(picked, axis=-1))


def _mse_size(pred: Array, target: Array) -> Array:
    d = np.abs(pred - target)
    return np.asarray(d * d + 2.0 * d * (np.abs(pred) + np.abs(target)))


def _difference_size(pred: Array, target: Array) -> Array:
    # ŷ − y cancels: its rounding is ε·(|ŷ| + |y|)
    return np.abs(pred) + np.abs(target)


def _mse_grad_size(pred: Array, target: Array) -> Array:
    return (2.0 / _n_elements(pred)) * _difference_size(pred, target)


def _bce_logits_size(pred: Array, target: Array) -> Array:
    return np.maximum(pred, 0.0) + np.abs(pred * target) + np.log1p(np.exp(-np.abs(pred)))


def _bce_logits_grad_size(pred: Array, target: Array) -> Array:
    return (1.0 + np.abs(target)) / _n_elements(pred)


def _bce_size(pred: Array, target: Array) -> Array:
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(pred), BCE_LOG_FLOOR)
        log_q = np.maximum(np.log1p(-pred), BCE_LOG_FLOOR)
    return np.asarray(np.abs(target * log_p) + np.abs((1.0 - target) * log_q))


def _bce_grad_size(pred: Array, target: Array) -> Array:
    # (ŷ − y)/max(ŷ(1 − ŷ), 1e-12): the numerator cancels. The denominator's own rounding
    # cancels against f′ = ŷ(1 − ŷ) taken from the same ŷ (a sigmoid's); for a softmax it
    # does not, and the sensitivity to ŷ is measured by ``core/bounds.py`` directly.
    return (
        (np.abs(pred) + np.abs(target))
        / np.maximum(pred * (1.0 - pred), BCE_EPSILON)
        / (_n_elements(pred))
    )


def _bce_exact(output: str, z: Array, target: Array) -> tuple[Array, Array]:
    """bce on probabilities from the logits zL, without forming ŷ: after a sigmoid it is
    bce_logits; after a softmax, log ŷ_i and log(1 − ŷ_i) come from sums of exponentials."""
    if output == "sigmoid":
        return bce_logits(z, target)
    if z.shape[-1] == 1:  # a softmax over one unit is 1: constant, its gradient 0
        loss, _ = bce(np.ones_like(z), target)
        return loss, np.zeros_like(z)
    shift = np.max(z, axis=-1, keepdims=True)
    e = np.exp(z - shift)  # the largest is 1
    total = np.sum(e, axis=-1, keepdims=True)
    # 1 − ŷ_i = Σ_{k≠i} e_k / Σ e without cancelling: total − e_i is exact enough wherever e_i is
    # not the largest (total ≥ 1 ≥ e_i); for the largest, sum the others.
    top = e == np.max(e, axis=-1, keepdims=True)
    first = top & (np.cumsum(top, axis=-1) == 1)
    rest = np.sum(np.where(first, 0.0, e), axis=-1, keepdims=True)
    others = np.where(first, rest, total - e)
    p = e / total
    q = others / total
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.maximum(z - shift - np.log(total), BCE_LOG_FLOOR)
        log_q = np.maximum(np.log(others) - np.log(total), BCE_LOG_FLOOR)
        loss = -np.mean(target * log_p + (1.0 - target) * log_q, axis=(-2, -1))
        # (p_i − y_i)/q_i = (1 − y_i)/q_i − 1: exact where y_i = 1 even if q_i underflows
        r = np.where(target == 1.0, -1.0, (1.0 - target) / q - 1.0)
    # ∂/∂z_j = Σ_i (p_i − y_i)/(p_i q_i)·p_i(δ_ij − p_j) = r_j − p_j·Σ_i r_i
    grad = r - p * np.sum(r, axis=-1, keepdims=True)
    return loss, grad / _n_elements(z)


def _cross_entropy_size(pred: Array, target: NDArray[np.integer]) -> Array:
    shifted = pred - np.max(pred, axis=-1, keepdims=True)
    lse = np.log(np.sum(np.exp(shifted), axis=-1)) + np.max(pred, axis=-1)
    picked = np.take_along_axis(pred, target[..., None], axis=-1)[..., 0]
    return np.asarray(np.abs(lse) + np.abs(picked) + 1.0)


def _cross_entropy_grad_size(pred: Array, target: NDArray[np.integer]) -> Array:
    return np.full(pred.shape, 2.0 / pred.shape[-2])


def _nll_size(pred: Array, target: NDArray[np.integer]) -> Array:
    return np.abs(np.take_along_axis(pred, target[..., None], axis=-1)[..., 0])


def _nll_grad_size(pred: Array, target: NDArray[np.integer]) -> Array:
    return np.zeros(pred.shape)


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
            size=_mse_size,
            grad_size=_mse_grad_size,
        ),
        Loss(
            "l1",
            l1,
            "L = mean(|ŷ − y|)",
            "∂L/∂ŷ = sign(ŷ − y)/N",
            kinks=(0.0,),
            size=_difference_size,
            grad_size=lambda pred, target: np.zeros(pred.shape),
        ),
        Loss(
            "bce_logits",
            bce_logits,
            "L = mean(max(ŷ,0) − ŷ·y + log(1 + e^−|ŷ|))",
            "∂L/∂ŷ = (σ(ŷ) − y)/N",
            target_range=(0.0, 1.0),
            complex_f=_bce_logits_complex,
            size=_bce_logits_size,
            grad_size=_bce_logits_grad_size,
            fits=("identity",),
            fit_hint="bce_logits applies the sigmoid itself, so it takes the linear output "
            "(--output-activation identity); after a sigmoid output use --loss bce",
        ),
        Loss(
            "bce",
            bce,
            "L = −mean(y·log ŷ + (1 − y)·log(1 − ŷ))",
            "∂L/∂ŷ = (ŷ − y)/(ŷ(1 − ŷ))/N",
            target_range=(0.0, 1.0),
            complex_f=_bce_complex,
            size=_bce_size,
            grad_size=_bce_grad_size,
            exact=_bce_exact,
            fits=("sigmoid", "softmax"),
            fit_hint="bce takes probabilities: use it after --output-activation sigmoid (or "
            "softmax); on a linear output use --loss bce_logits",
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
            size=_cross_entropy_size,
            grad_size=_cross_entropy_grad_size,
            fits=("identity",),
            fit_hint="cross_entropy applies the log-softmax itself, so it takes the linear "
            "output's logits (--output-activation identity); after log_softmax use --loss nll",
        ),
        Loss(
            "nll",
            nll,
            "L = −mean_b ŷ_b[y_b]",
            "∂L/∂ŷ = −onehot(y)/B",
            mean_over="batch",
            target="classes",
            min_outputs=2,
            complex_f=_nll_complex,
            size=_nll_size,
            grad_size=_nll_grad_size,
            fits=("log_softmax",),
            fit_hint="nll takes log-probabilities: use it after --output-activation "
            "log_softmax; on a linear output use --loss cross_entropy",
        ),
    )
}

#: The seed's loss, the default everywhere.
DEFAULT_LOSS = "mse"

#: ``--reduction``: torch's mean (the default) or the sum over the batch (and units).
REDUCTIONS: tuple[str, ...] = ("mean", "sum")
#: ``--layout``: how hand code stores W: (out, in) as torch does, or (in, out) as X·W code does.
LAYOUTS: tuple[str, ...] = ("out_in", "in_out")
#: ``--batch-axis``: examples as rows (x is (batch, n_in), torch's) or as columns ((n_in, batch)).
BATCH_AXES: tuple[str, ...] = ("first", "last")
