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
from gradcheck.core.bounds import bounds
from gradcheck.core.functions import ACTIVATIONS, DEFAULT_ACTIVATION, LOSSES
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import judge, norm_tolerance, resolve_tolerance

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


def random_case(seed: int, *, max_batch: int = MAX_BATCH, dtype: str | None = None) -> Case:
    """One random check (replica or user code against autograd), reproducible from ``seed``."""
    from gradcheck.torch_side import reference

    rng = np.random.default_rng(seed)
    depth = int(rng.integers(1, MAX_LINEAR_LAYERS + 1))
    activation = str(rng.choice(sorted(ACTIVATIONS)))
    loss = str(rng.choice(sorted(LOSSES)))
    record = LOSSES[loss]
    # Any output activation the loss fits (identity for most: the seed's linear output).
    output = str(rng.choice(sorted(record.fits)))
    n_in = int(rng.integers(1, 5))
    n_out = int(rng.integers(max(1, record.min_outputs), 4))
    hidden = [int(rng.integers(1, 11)) for _ in range(depth - 1)]
    layers = (n_in, *hidden, n_out)
    dt = dtype or str(rng.choice(["float32", "float64"]))
    spec = NetSpec(layers, activation, loss, dt, output)
    batch = int(rng.choice([1, 2, 3, int(rng.integers(1, max_batch + 1))]))
    scale = 10.0 ** rng.uniform(-6, 2)
    x = rng.uniform(-1, 1, size=(batch, n_in)) * scale
    if record.takes_classes:
        y: NDArray[np.generic] = rng.integers(0, n_out, size=batch)
    elif record.target_range is not None:
        y = rng.uniform(*record.target_range, size=(batch, n_out))
    else:
        y = rng.normal(0, 1, size=(batch, n_out))
    problem = prepare(spec, x=x, target=y, seed=seed % 2**31)
    kink_hit = None
    act = ACTIVATIONS[activation]
    points = act.kinks + act.switches
    if depth > 1 and points and rng.random() < 1 / 3:
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
    if record.kinks and rng.random() < 1 / 3:
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


def detectable(case: Case, wrong: Grads) -> bool:
    """Whether ``wrong`` differs from the correct gradients by more than twice what the
    verdict allows a correct side: it fails ``judge`` with atol, rtol, ntol and the rounding
    bound all doubled, against the exact (float64) gradients and their kink intervals.

    The verdict must catch every such bug; below that, a bug is as small as the tolerance and
    a miss is no false verdict (rounding and tolerance are not bugs' business)."""
    p = case.problem
    spec = p.spec
    right = hand_backward(spec)(
        {k: v.astype(np.float64) for k, v in p.params.items()}, p.x.astype(np.float64), p.y
    )
    limits = bounds(spec, p.params, p.x, p.y)
    tol = case.settings.tolerance
    ntol = norm_tolerance(spec.dtype, tol.rtol)
    for name, value in right.items():
        t = limits[name]
        j = judge(
            value.reshape(1, -1),
            np.asarray(wrong[name], dtype=np.float64).reshape(1, -1),
            2 * tol.atol,
            2 * tol.rtol,
            2 * ntol,
            center=t.center.reshape(1, -1),
            kink=t.kink.reshape(1, -1),
            rounding=2 * t.rounding.reshape(1, -1),
            # as the verdict does under the default tolerances the cases use
            rounding_passes=True,
        )
        if not j.passed[0]:
            return True
    return False
