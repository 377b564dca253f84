"""Random checks and a catalogue of backprop bugs, for the verdict suite and its benchmark.

``random_case(seed)`` draws a network (1–12 linear layers, widths 1–10, every activation, loss
and dtype), a batch (1–512 rows, inputs of magnitude 1e-6 … 1e2) and, a third of the time, a
constructed kink hit (relu-like: a row of zeros with a zero bias, so a pre-activation is exactly
at 0; softplus: a pre-activation at its threshold 20; l1: targets equal to torch's prediction).

``BUGS`` maps a bug kind to a backward with that bug (the ``--impl`` contract: float64 params,
x, y → gradients). A bug is *detectable* on a case when its effect exceeds twice what the
verdict allows a correct side (``detectable``): the verdict must catch every detectable bug.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from gradcheck.checks.problem import Problem, prepare
from gradcheck.checks.report import Settings
from gradcheck.core import replica
from gradcheck.core.functions import ACTIVATIONS, DEFAULT_ACTIVATION, LOSSES, OUTPUT_ACTIVATIONS
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import resolve_tolerance

Array = NDArray[np.float64]
Grads = dict[str, Array]
Backward = Callable[[Mapping[str, Array], Array, NDArray[np.generic]], Grads]

MAX_LINEAR_LAYERS = 12
MAX_BATCH = 512


@dataclass(frozen=True)
class Case:
    problem: Problem
    settings: Settings
    kink_hit: str | None  # what was constructed to sit at a kink, if anything

    @property
    def spec(self) -> NetSpec:
        return self.problem.spec


#: Where the verdict's allowances are at work; ``random_case(seed, edge=…)`` draws one of them.
EDGES = (
    "kink",  # a pre-activation exactly at or within rounding of a kink; l1 at ŷ = y
    "saturation",  # probability outputs pushed to 0 or 1 (bce, mse), some rows wrong
    "tiny",  # deep sigmoid/tanh nets on tiny inputs: vanishing gradients
    "float32",
    "deep_chain",  # width-1 chains 20–60 layers deep: subnormals
    "large_x",  # |x| up to 1e4
    "pixels",  # raw 0–255 MNIST-like rows (80 % zeros), 64–784 inputs, relu
)


def random_case(
    seed: int, *, max_batch: int = MAX_BATCH, dtype: str | None = None, edge: str | None = None
) -> Case:
    """One random check (replica or user code against autograd), reproducible from ``seed``;
    ``edge`` draws it from one of ``EDGES`` instead of the general distribution."""
    from gradcheck.torch_side import reference

    rng = np.random.default_rng(seed if edge is None else [seed, EDGES.index(edge) + 1])
    depth = int(rng.integers(1, MAX_LINEAR_LAYERS + 1))
    activation = str(rng.choice(sorted(ACTIVATIONS)))
    loss = str(rng.choice(sorted(LOSSES)))
    if edge == "kink":
        activation = str(rng.choice(["relu", "leaky_relu", "elu", "softplus"]))
        loss = str(rng.choice([loss, "l1"]))
        depth = max(depth, 2)
    elif edge == "saturation":
        loss = str(rng.choice(["bce", "mse", "bce", "l1"]))
    elif edge == "tiny":
        activation, depth = str(rng.choice(["sigmoid", "tanh"])), int(rng.integers(6, 13))
    elif edge == "deep_chain":
        activation = str(rng.choice(["sigmoid", "tanh", "relu", "softplus", "elu"]))
        loss = str(rng.choice(["mse", "l1", "bce_logits"]))
        depth = int(rng.integers(20, 61))
    elif edge == "pixels":
        activation, depth = "relu", int(rng.integers(2, 4))
        loss = str(rng.choice(["cross_entropy", "mse"]))
    record = LOSSES[loss]
    # Any output activation the loss fits (identity for most: the seed's linear output).
    fits = sorted(record.fits)
    if edge == "saturation":
        fits = [o for o in fits if OUTPUT_ACTIVATIONS[o].produces == "probabilities"] or fits
    output = str(rng.choice(fits))
    n_in = int(rng.integers(1, 5))
    n_out = int(rng.integers(max(1, record.min_outputs), 4))
    hidden = [int(rng.integers(1, 11)) for _ in range(depth - 1)]
    if edge == "deep_chain":
        n_in, n_out, hidden = 1, 1, [1] * (depth - 1)
    elif edge == "pixels":
        n_in = int(rng.choice([64, 196, 784]))
        hidden = [int(rng.integers(8, 65)) for _ in range(depth - 1)]
        n_out = 10
    layers = (n_in, *hidden, n_out)
    dt = dtype or ("float32" if edge == "float32" else str(rng.choice(["float32", "float64"])))
    spec = NetSpec(layers, activation, loss, dt, output)
    batch = int(rng.choice([1, 2, 3, int(rng.integers(1, max_batch + 1))]))
    scale = 10.0 ** rng.uniform(-6, 2)
    if edge == "tiny":
        scale = 10.0 ** rng.uniform(-6, -2)
    elif edge == "large_x":
        scale = 10.0 ** rng.uniform(2, 4)
    elif edge == "saturation":
        scale = 10.0 ** rng.uniform(1, 3.5)
    x = rng.uniform(-1, 1, size=(batch, n_in)) * scale
    if edge == "pixels":
        batch = int(rng.integers(2, 33))
        x = np.floor(rng.random((batch, n_in)) * 256.0)
        x[rng.random(x.shape) < 0.8] = 0.0
    if record.takes_classes:
        y: NDArray[np.generic] = rng.integers(0, n_out, size=batch)
    elif record.target_range is not None:
        y = rng.uniform(*record.target_range, size=(batch, n_out))
        if edge == "saturation":
            y = np.round(y)  # 0/1 targets: some rows saturate the wrong way
    else:
        y = rng.normal(0, 1, size=(batch, n_out))
    problem = prepare(spec, x=x, target=y, seed=seed % 2**31)
    kink_hit = None
    act = ACTIVATIONS[activation]
    points = act.kinks + act.switches
    if depth > 1 and points and (rng.random() < 1 / 3 or edge == "kink"):
        # A row of zeros: z1 = b1 exactly there; set some b1 entries to the kink point.
        params = dict(problem.params)
        b1 = params["b1"].copy()
        units = rng.random(b1.shape) < 0.5
        b1[units] = points[0]
        params["b1"] = b1
        xs = problem.x.copy()
        xs[rng.integers(0, batch)] = 0.0
        problem = replace(problem, params=params, x=xs)
        kink_hit = f"{activation} at {points[0]:g}"
        if edge == "kink" and batch > 1 and points[0] == 0.0:
            # and a unit within rounding of the kink on another row: b1 = −W1·x there
            params = dict(problem.params)
            b1 = params["b1"].copy()
            row = int(rng.integers(0, batch))
            unit = int(rng.integers(0, b1.shape[0]))
            w = params["W1"][unit].astype(np.float64)
            b1[unit] = -float(np.dot(w, problem.x[row].astype(np.float64)))
            params["b1"] = b1.astype(params["b1"].dtype)
            problem = replace(problem, params=params)
            kink_hit += " and within rounding of it"
    if record.kinks and (rng.random() < 1 / 3 or (edge == "kink" and loss == "l1")):
        ref = reference.autograd(spec, problem.params, problem.x, problem.y)
        problem = replace(problem, y=np.asarray(ref.prediction).copy())
        kink_hit = "l1 target = prediction"
    settings = Settings(
        spec,
        problem.x.astype(np.float64),
        problem.y,
        resolve_tolerance(dt),
        seed=seed % 2**31,
    )
    return Case(problem, settings, kink_hit)


# ---------------------------------------------------------------------------------------------
# The catalogue: one general hand backward, with hooks where classic bugs go.


def hand_backward(spec: NetSpec, bug: str | None = None) -> Backward:
    """A backward for ``spec`` in the ``--impl`` contract, correct when ``bug`` is None."""
    act = spec.activations[0] if spec.activations else ACTIVATIONS[DEFAULT_ACTIVATION]
    other = ACTIVATIONS["tanh" if spec.activation != "tanh" else "sigmoid"]
    loss = spec.loss_record
    depth = spec.depth

    def backward(params: Mapping[str, Array], x: Array, y: NDArray[np.generic]) -> Grads:
        p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        if bug == "forward_without_bias":
            p_fwd = {k: (np.zeros_like(v) if k.startswith("b") else v) for k, v in p.items()}
        else:
            p_fwd = p
        fwd = replica.forward(spec, p_fwd, x, y)
        zs, acts = fwd.zs, fwd.activations
        batch = x.shape[0]
        n_mean = batch if loss.mean_over == "batch" else batch * spec.n_out
        delta = spec.output_record.vjp(zs[-1], fwd.output, fwd.dloss)
        if bug == "loss_sum_not_mean":
            delta = delta * n_mean
        elif bug == "loss_mean_over_batch_only" and loss.mean_over == "elements":
            delta = delta * spec.n_out
        elif bug == "loss_gradient_halved":
            delta = delta / 2
        elif bug == "loss_gradient_sign":
            delta = -delta
        grads: Grads = {}
        for layer in range(depth, 0, -1):
            a_prev = acts[layer - 1]
            if bug == "pre_activation_in_weight_gradient" and layer > 1:
                a_prev = zs[layer - 2]
            if bug == "weight_gradient_from_own_activation" and layer < depth:
                a_own = acts[layer]
                if a_own.shape == a_prev.shape:
                    a_prev = a_own
            dw = delta.T @ a_prev
            if bug == "weight_gradient_transposed" and dw.shape[0] == dw.shape[1]:
                dw = dw.T
            if bug == "weight_gradient_batch_mean":
                dw = dw / batch
            if bug == "last_sample_dropped":
                dw = delta[:-1].T @ a_prev[:-1]
            db = delta.sum(axis=0)
            if bug == "bias_gradient_batch_mean":
                db = delta.mean(axis=0)
            elif bug == "bias_gradient_first_sample":
                db = delta[0]
            elif bug == "bias_gradient_zero":
                db = np.zeros_like(db)
            grads[f"W{layer}"], grads[f"b{layer}"] = dw, db
            if layer == 1:
                break
            w = p[f"W{layer}"]
            back = delta @ w
            if bug == "weight_not_transposed_in_backprop" and w.shape[0] == w.shape[1]:
                back = delta @ w.T
            z = zs[layer - 2]
            slope = act.df(z)
            if bug == "missing_activation_derivative":
                slope = np.ones_like(z)
            elif bug == "derivative_at_activation":
                slope = act.df(acts[layer - 1])
            elif bug == "derivative_formula_at_pre_activation" and act.df_from_output:
                slope = act.df_from_output(z)
            elif bug == "wrong_activation_derivative":
                slope = other.df(z)
            elif bug == "derivative_squared":
                slope = slope * slope
            elif bug == "derivative_off_by_one_layer" and layer < depth:
                z_next = zs[layer - 1]
                if z_next.shape == z.shape:
                    slope = act.df(z_next)
            delta = back * slope
            if bug == "sign_flipped_in_hidden_delta" and layer == depth:
                delta = -delta
        if bug == "zero_first_two_layers":
            for layer in (1, 2):
                if layer < depth:
                    grads[f"W{layer}"] = np.zeros_like(grads[f"W{layer}"])
                    grads[f"b{layer}"] = np.zeros_like(grads[f"b{layer}"])
        elif bug == "zero_input_layer_weights":
            grads["W1"] = np.zeros_like(grads["W1"])
        elif bug == "all_gradients_doubled":
            grads = {k: 2 * v for k, v in grads.items()}
        elif bug == "input_layer_one_percent_off":
            grads["W1"] = grads["W1"] * 1.01
        elif bug == "gradients_of_neighbour_layer":
            for layer in range(1, depth):
                if grads[f"W{layer}"].shape == grads[f"W{layer + 1}"].shape:
                    grads[f"W{layer}"] = grads[f"W{layer + 1}"]
        elif bug == "weight_decay_added":
            grads = {k: v + (0.01 * p[k] if k.startswith("W") else 0) for k, v in grads.items()}
        return {name: grads[name] for name in (q.name for q in spec.parameters())}

    return backward


#: Bug kinds, each a separate backward (``hand_backward(spec, kind)``).
BUGS = (
    "zero_first_two_layers",
    "zero_input_layer_weights",
    "all_gradients_doubled",
    "input_layer_one_percent_off",
    "loss_sum_not_mean",
    "loss_mean_over_batch_only",
    "loss_gradient_halved",
    "loss_gradient_sign",
    "sign_flipped_in_hidden_delta",
    "pre_activation_in_weight_gradient",
    "weight_gradient_from_own_activation",
    "weight_gradient_transposed",
    "weight_gradient_batch_mean",
    "last_sample_dropped",
    "bias_gradient_batch_mean",
    "bias_gradient_first_sample",
    "bias_gradient_zero",
    "weight_not_transposed_in_backprop",
    "missing_activation_derivative",
    "derivative_at_activation",
    "derivative_formula_at_pre_activation",
    "wrong_activation_derivative",
    "derivative_squared",
    "derivative_off_by_one_layer",
    "gradients_of_neighbour_layer",
    "weight_decay_added",
    "forward_without_bias",
)


# ---------------------------------------------------------------------------------------------
# Correct code, written the ways people write it, computed in the check's dtype.

#: Equivalent formulas a correct hand derivation may use (``correct_backward``).
STYLES = (
    "records",  # the records' formulas, as gradcheck's replica (but computed here)
    "naive_sigmoid",  # σ = 1/(1 + e^−z), overflow and all
    "tanh_sigmoid",  # σ = (1 + tanh(z/2))/2, σ′ = a(1 − a): absolute rounding ~ε near 0
    # (at the output too, but under bce, which would take the log of a σ rounded to 0)
    "derivative_from_output",  # σ′ = a(1 − a), tanh′ = 1 − a², as textbooks and torch write it
    "simplified_head",  # δL simplified by hand: ŷ − y for bce after σ, softmax − onehot, …
    "relu_ge",  # relu′(z) = [z ≥ 0]: the other one-sided derivative exactly at 0
)


def correct_backward(spec: NetSpec, style: str) -> Callable[..., dict[str, Array]]:
    """A correct ``--impl``-style backward in ``style``, computing in ``spec.dtype``; it
    returns the prediction and the loss too, so forward values are judged as well."""
    dtype = np.dtype(spec.dtype)
    out, loss = spec.output_record, spec.loss_record

    def f(layer: int, z: Array) -> Array:
        act = spec.activation_at(layer)
        if act.name == "sigmoid" and style == "naive_sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        if act.name == "sigmoid" and style == "tanh_sigmoid":
            return 0.5 * (1.0 + np.tanh(z / 2.0))
        return np.asarray(act.f(z))

    def df(layer: int, z: Array, a: Array) -> Array:
        act = spec.activation_at(layer)
        # σ′ = a(1 − a) is how the tanh form's authors differentiate it: a's absolute rounding
        # (~ε near 0) then reaches σ′ too.
        from_output = style in ("derivative_from_output", "tanh_sigmoid")
        if from_output and act.df_from_output is not None:
            return np.asarray(act.df_from_output(a))
        if style == "relu_ge" and act.kinks:
            tiny = np.nextafter(z.dtype.type(0), z.dtype.type(1))
            right = act.df(np.full_like(z, tiny))  # the slope just above 0
            return np.where(z >= 0, right, act.df(z)).astype(z.dtype)
        return np.asarray(act.df(z))

    def backward(params: Mapping[str, Array], x: Array, y: NDArray[np.generic]) -> Grads:
        with np.errstate(all="ignore"):
            p = {k: np.asarray(v, dtype=dtype) for k, v in params.items()}
            a = np.asarray(x, dtype=dtype)
            yv = np.asarray(y) if loss.takes_classes else np.asarray(y, dtype=dtype)
            zs, acts = [], [a]
            for layer in range(1, spec.depth + 1):
                z = a @ p[f"W{layer}"].T + p[f"b{layer}"]
                zs.append(z)
                if layer < spec.depth:
                    a = f(layer, z).astype(dtype)
                    acts.append(a)
            pred = np.asarray(out.f(zs[-1])).astype(dtype)
            if style == "tanh_sigmoid" and out.name == "sigmoid" and loss.name != "bce":
                # (bce would take the log of a σ that this form rounds to exactly 0)
                pred = (0.5 * (1.0 + np.tanh(zs[-1] / 2.0))).astype(dtype)
            factor = dtype.type(replica.loss_factor(spec, pred))
            value, dmean = loss.f(pred, yv)
            delta = _head(spec, style, zs[-1], pred, yv, factor * dmean, factor)
            grads: Grads = {
                "prediction": pred,
                "loss": np.asarray(factor * value + replica.l2_penalty(spec, p), dtype=dtype),
            }
            for layer in range(spec.depth, 0, -1):
                grads[f"W{layer}"] = delta.T @ acts[layer - 1] + 2 * spec.l2 * p[f"W{layer}"]
                grads[f"b{layer}"] = delta.sum(axis=0)
                if layer > 1:
                    z = zs[layer - 2]
                    delta = (delta @ p[f"W{layer}"]) * df(layer - 1, z, acts[layer - 1])
            return grads

    return backward


def _head(
    spec: NetSpec, style: str, z: Array, pred: Array, y: NDArray[np.generic], g: Array,
    factor: np.floating,
) -> Array:  # fmt: skip
    """δL = ∂L/∂zL in ``style``."""
    out, loss = spec.output_record, spec.loss_record
    n = pred.shape[0] if loss.mean_over == "batch" else pred.size
    if style == "simplified_head":
        if (out.name, loss.name) == ("sigmoid", "bce"):
            return (factor * (pred - y) / n).astype(pred.dtype)
        if (out.name, loss.name) in (("identity", "cross_entropy"), ("log_softmax", "nll")):
            probs = np.exp(pred) if out.name == "log_softmax" else np.asarray(out_softmax(z))
            onehot = np.eye(z.shape[-1], dtype=z.dtype)[np.asarray(y)]
            return (factor * (probs - onehot) / n).astype(pred.dtype)
    if style == "derivative_from_output" or out.from_output:
        return np.asarray(out.vjp(z, pred, g))
    return np.asarray((out.stable_vjp or out.vjp)(z, pred, g))


def out_softmax(z: Array) -> Array:
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return np.asarray(e / np.sum(e, axis=-1, keepdims=True))


# ---------------------------------------------------------------------------------------------
# Attacks on correct gradients: each changes them in one way a checker must see.

ATTACKS = (
    "zeros",  # every gradient 0
    "sign_flip",  # one tensor negated
    "scaled",  # one tensor ×(1 + 1e-4) in float64, ×(1 + 1e-3) in float32
    "one_element_1pct",  # one element of one tensor 1 % off
    "row_dropped",  # the last row's share left out of every gradient
    "bias_l2",  # an L2 term 2·0.01·b added to the biases' gradients
)


def attack(
    kind: str, case: Case, grads: Grads, backward: Callable[..., Grads], rng: np.random.Generator
) -> Grads:
    """``grads`` (a correct side's, from ``backward``) changed by attack ``kind``."""
    names = [q.name for q in case.spec.parameters()]
    out = {k: np.array(v, dtype=np.float64) for k, v in grads.items() if k in names}
    pick = names[int(rng.integers(0, len(names)))]
    if kind == "zeros":
        return {k: np.zeros_like(v) for k, v in out.items()}
    if kind == "sign_flip":
        out[pick] = -out[pick]
    elif kind == "scaled":
        out[pick] = out[pick] * (1.0 + (1e-3 if case.spec.dtype == "float32" else 1e-4))
    elif kind == "one_element_1pct":
        flat = out[pick].reshape(-1)
        flat[int(rng.integers(0, flat.size))] *= 1.01
    elif kind == "row_dropped":
        p = case.problem
        last = backward(p.params, p.x[-1:], p.y[-1:])
        share = 1.0 / p.x.shape[0] if case.spec.reduction == "mean" else 1.0
        decay = {
            f"W{k}": 2 * case.spec.l2 * p.params[f"W{k}"] for k in range(1, case.spec.depth + 1)
        }
        for k in names:
            out[k] = out[k] - share * (np.asarray(last[k], np.float64) - decay.get(k, 0.0))
    elif kind == "bias_l2":
        for k in names:
            if k.startswith("b"):
                out[k] = out[k] + 2 * 0.01 * np.asarray(case.problem.params[k], np.float64)
    return out


# ---------------------------------------------------------------------------------------------
# Detectability, against an independent yardstick (``tests/core/exact.py``).

#: A wrong side is detectable where it leaves the exact set by more than this many times the
#: sum of two correct sides' errors (the largest measured error, doubled): the verdict allows
#: 4E, E bounding one side's.
MEASURED_MULTIPLE = 4.0


@dataclass(frozen=True)
class Detectability:
    """Whether a wrong side is detectable, and how the bound compares with measured errors."""

    detectable: bool
    #: the largest over elements of (distance of the wrong side from the exact set) over
    #: (MEASURED_MULTIPLE·measured errors + the tolerance's floor): > 1 where detectable
    margin: float


def detectable(
    case: Case, wrong: Grads, right: Grads | None = None, autograd: Grads | None = None
) -> Detectability:
    """Whether ``wrong`` leaves the exact gradients (80-bit, ``exact.py``; the subgradient set
    at exact kink hits) by more than ``MEASURED_MULTIPLE`` times what correct computations
    measurably lie off them, plus the tolerance's own floor (atol + rtol·|exact|), in some
    element.

    "Correct computations" is the envelope of autograd, ``right`` (the wrong side's correct
    twin; default: the catalogue's correct backward) and every ``STYLES`` backward in the
    check's dtype: a side whose twin happens to round exactly is not the measure of what
    correct code may do. Nothing here reads the rounding bounds or intervals the verdict
    allows, so an allowance that is too wide shows as a detectable bug not caught."""
    from gradcheck.torch_side import reference
    from tests.core.exact import exact

    p = case.problem
    spec = p.spec
    if right is None:
        right = hand_backward(spec)(
            {k: v.astype(np.float64) for k, v in p.params.items()}, p.x.astype(np.float64), p.y
        )
    if autograd is None:
        autograd = reference.autograd(spec, p.params, p.x, p.y).grads
    sides = [autograd, right, *(correct_sides(case))]
    ex = exact(spec, p.params, p.x, p.y)
    tol = case.settings.tolerance
    margin = 0.0
    for q in spec.parameters():
        name = q.name
        measured = np.max([ex.distance(name, side[name]) for side in sides], axis=0)
        off = ex.distance(name, wrong[name])
        floor = tol.atol + tol.rtol * np.abs(ex.center[name].astype(np.float64))
        with np.errstate(all="ignore"):
            allowed = MEASURED_MULTIPLE * 2.0 * measured + floor
            ratio = np.where(off == 0, 0.0, off / allowed)
        if ratio.size:
            margin = max(margin, float(np.nanmax(np.where(np.isfinite(measured), ratio, 0.0))))
    return Detectability(margin > 1.0, margin)


_LAST: list[tuple[Case, list[Grads]]] = []


def correct_sides(case: Case) -> list[Grads]:
    """Every ``STYLES`` backward's gradients on ``case`` (kept for the last case asked)."""
    if not _LAST or _LAST[0][0] is not case:
        p = case.problem
        sides = [correct_backward(p.spec, style)(p.params, p.x, p.y) for style in STYLES]
        _LAST[:] = [(case, sides)]
    return _LAST[0][1]
