"""The network as the user wrote it, at the math level: per-layer activations (with torch's
parameters), output activations, every loss, reduction, scale and L2 — the replica and the
numerical oracle against torch autograd in float64, property-based over random shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gradcheck.core import bounds, numeric, replica
from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import ACTIVATIONS, LOSSES, OUTPUT_ACTIVATIONS
from gradcheck.core.spec import NetSpec
from gradcheck.torch_side import reference, stack

# (loss, output activation) pairs that fit, every one of them
HEADS = [(loss, out) for loss, rec in LOSSES.items() for out in rec.fits]
PARAMETRISED = {"leaky_relu": 0.2, "elu": 0.7, "softplus": 2.5}


def batch(spec: NetSpec, rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-2, 2, size=(rows, spec.n_in))
    if spec.loss_record.takes_classes:
        return x, rng.integers(0, spec.n_out, size=rows)
    if spec.loss_record.target_range is not None:
        return x, rng.uniform(0, 1, size=(rows, spec.n_out))
    return x, rng.normal(size=(rows, spec.n_out))


def torch_by_hand(spec: NetSpec, params: dict, x: np.ndarray, y: np.ndarray) -> tuple:
    """The same network written directly in torch, independently of gradcheck's Model."""
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    a = torch.tensor(x)
    funcs = {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "identity": lambda z: z,
        "leaky_relu": lambda z, v=0.01: torch.nn.functional.leaky_relu(z, v),
        "elu": lambda z, v=1.0: torch.nn.functional.elu(z, v),
        "softplus": lambda z, v=1.0: torch.nn.functional.softplus(z, v),
        "softmax": lambda z: torch.softmax(z, -1),
        "log_softmax": lambda z: torch.log_softmax(z, -1),
    }
    for layer in range(1, spec.depth + 1):
        a = a @ leaves[f"W{layer}"].T + leaves[f"b{layer}"]
        if layer < spec.depth:
            act = spec.activation_at(layer)
            a = funcs[act.name](a, act.value) if act.value is not None else funcs[act.name](a)
    a = funcs[spec.output_activation](a)
    t = torch.tensor(y)
    r = spec.reduction
    f = torch.nn.functional
    loss = {
        "mse": lambda: f.mse_loss(a, t, reduction=r),
        "l1": lambda: f.l1_loss(a, t, reduction=r),
        "bce_logits": lambda: f.binary_cross_entropy_with_logits(a, t, reduction=r),
        "bce": lambda: f.binary_cross_entropy(a, t, reduction=r),
        "cross_entropy": lambda: f.cross_entropy(a, t, reduction=r),
        "nll": lambda: f.nll_loss(a, t, reduction=r),
    }[spec.loss]()
    loss = spec.loss_scale * loss
    # The L2 term as a torch user writes it, parameter by parameter (--l2 LAMBDA: every W).
    lams = dict(spec.l2_parameters) or {f"W{k}": spec.l2 for k in range(1, spec.depth + 1)}
    loss = loss + sum(lam * (leaves[name] ** 2).sum() for name, lam in lams.items())
    loss.backward()
    return a.detach().numpy(), float(loss.detach()), {k: v.grad.numpy() for k, v in leaves.items()}


def assert_matches(spec: NetSpec, seed: int, rows: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = batch(spec, rng, rows)
    params = reference.init_state(spec, seed % 1000)
    pred, loss, grads = torch_by_hand(spec, params, x, y)
    fwd, bwd = replica.gradients(spec, params, x, y)
    auto = reference.autograd(spec, params, x, y)
    scale = max(1.0, abs(loss))
    np.testing.assert_allclose(fwd.prediction, pred, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(auto.prediction, pred, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(fwd.loss, loss, rtol=1e-12, atol=1e-13 * scale)
    np.testing.assert_allclose(auto.loss, loss, rtol=1e-12, atol=1e-13 * scale)
    for name, g in grads.items():
        np.testing.assert_allclose(bwd.grads[name], g, rtol=1e-10, atol=1e-12 * scale)
        np.testing.assert_allclose(auto.grads[name], g, rtol=1e-10, atol=1e-12 * scale)
    for name, d in auto.deltas.items():
        np.testing.assert_allclose(bwd.deltas[name], d, rtol=1e-10, atol=1e-12 * scale)


@pytest.mark.slow
@given(
    depth=st.integers(1, 4),
    widths=st.lists(st.integers(1, 9), min_size=5, max_size=5),
    hidden=st.lists(st.sampled_from(sorted(ACTIVATIONS)), min_size=3, max_size=3),
    params=st.lists(st.booleans(), min_size=3, max_size=3),
    head=st.sampled_from(HEADS),
    reduction=st.sampled_from(["mean", "sum"]),
    scale=st.sampled_from([1.0, 0.5, 2.0, 3.7]),
    l2=st.sampled_from([0.0, 0.01, 0.5]),
    rows=st.integers(1, 7),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_replica_and_model_match_torch_written_by_hand(
    depth: int,
    widths: list[int],
    hidden: list[str],
    params: list[bool],
    head: tuple[str, str],
    reduction: str,
    scale: float,
    l2: float,
    rows: int,
    seed: int,
) -> None:
    loss, out = head
    layers = tuple(widths[: depth + 1])
    if layers[-1] < LOSSES[loss].min_outputs:
        layers = (*layers[:-1], 3)
    names = hidden[: depth - 1] or ["sigmoid"]
    values = tuple(
        PARAMETRISED.get(n) if p else None
        for n, p in zip(hidden[: depth - 1], params, strict=False)
    )
    spec = NetSpec(layers, ",".join(names), loss, "float64", out, reduction, scale, l2, values)
    assert_matches(spec, seed, rows)


@pytest.mark.parametrize(("loss", "out"), HEADS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_every_head_and_reduction(loss: str, out: str, reduction: str) -> None:
    spec = NetSpec((3, 5, 4, 3), "tanh,relu", loss, "float64", out, reduction, 0.5, 0.03)
    assert_matches(spec, 11, 6)


@pytest.mark.parametrize("name", sorted(PARAMETRISED))
def test_activation_parameters_follow_torch(name: str) -> None:
    spec = NetSpec((2, 6, 6, 2), name, "mse", "float64", activation_params=(0.3, 3.0))
    assert spec.activations[0].value == 0.3 and spec.activations[1].value == 3.0
    assert_matches(spec, 5, 4)


@pytest.mark.parametrize(("loss", "out"), HEADS)
@pytest.mark.parametrize("method", ["central", "richardson", "complex-step"])
def test_oracle_agrees_with_autograd(loss: str, out: str, method: str) -> None:
    spec = NetSpec((3, 5, 3), "tanh", loss, "float64", out, "sum", 0.5, 0.05)
    if method == "complex-step" and not spec.analytic:
        pytest.skip("l1 has a kink")
    rng = np.random.default_rng(3)
    x, y = batch(spec, rng, 4)
    params = reference.init_state(spec, 0)
    auto = reference.autograd(spec, params, x, y)
    grads = numeric.full_gradient(spec, params, x, y, method).grads
    tol = {"central": 1e-6, "richardson": 1e-8, "complex-step": 1e-12}[method]
    for name in grads:
        np.testing.assert_allclose(grads[name], auto.grads[name], rtol=tol, atol=tol)


PER_PARAMETER = (("W1", 0.05), ("b1", 0.05), ("b2", 0.3))  # biases too, one layer's W not


def test_per_parameter_l2_everywhere_agrees_with_torch_by_hand() -> None:
    spec = NetSpec((3, 5, 4, 2), "tanh", "mse", "float64", l2_parameters=PER_PARAMETER)
    assert spec.l2_terms == PER_PARAMETER and spec.l2_of("W2") == 0.0 and spec.has_l2
    assert_matches(spec, 7, 4)
    rng = np.random.default_rng(7)
    x, y = batch(spec, rng, 4)
    params = reference.init_state(spec, 7)
    auto = reference.autograd(spec, params, x, y)
    _, _, by_hand = torch_by_hand(spec, params, x, y)
    for method, tol in (("central", 1e-6), ("richardson", 1e-8), ("complex-step", 1e-12)):
        grads = numeric.full_gradient(spec, params, x, y, method).grads
        for name in grads:
            np.testing.assert_allclose(grads[name], by_hand[name], rtol=tol, atol=tol)
    d = numeric.directional(spec, params, x, y)
    np.testing.assert_allclose(d.derivatives, d.project(auto.grads), rtol=1e-7, atol=1e-9)
    limits = bounds.bounds(spec, params, x, y)
    for name, g in by_hand.items():
        np.testing.assert_allclose(limits[name].center, g, rtol=1e-12, atol=1e-14)
    stacked = stack.autograd_stack(spec, {k: v[None] for k, v in params.items()}, x[None], y[None])
    for name, g in by_hand.items():
        np.testing.assert_allclose(stacked.grads[name][0], g, rtol=1e-12, atol=1e-14)


def test_uniform_l2_is_every_weight_and_no_bias() -> None:
    spec = NetSpec((2, 3, 1), l2=0.25)
    assert spec.l2_terms == (("W1", 0.25), ("W2", 0.25)) and spec.l2_text == "0.25"
    named = NetSpec((2, 3, 1), l2_parameters=(("dense.2.weight", 0.1), ("b1", 0.0)))
    assert named.l2_parameters == (("b1", 0.0), ("W2", 0.1))  # hand names, network order
    assert named.l2_terms == (("W2", 0.1),) and named.l2_text == "b1=0,W2=0.1"
    assert "l2 b1=0,W2=0.1" in named.describe()


def test_directional_oracle_includes_l2() -> None:
    spec = NetSpec((3, 5, 2), "sigmoid", "mse", "float64", "sigmoid", "sum", 0.5, 0.2)
    x, y = batch(spec, np.random.default_rng(1), 3)
    params = reference.init_state(spec, 0)
    auto = reference.autograd(spec, params, x, y)
    d = numeric.directional(spec, params, x, y)
    np.testing.assert_allclose(d.derivatives, d.project(auto.grads), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"loss": "bce"}, ["--loss bce does not fit --output-activation identity", "sigmoid"]),
        (
            {"loss": "nll", "output_activation": "softmax"},
            ["nll takes log-probabilities", "log_softmax"],
        ),
        (
            {"loss": "cross_entropy", "output_activation": "softmax"},
            ["cross_entropy applies the log-softmax itself", "--loss nll"],
        ),
        (
            {"loss": "bce_logits", "output_activation": "sigmoid"},
            ["bce_logits applies the sigmoid itself", "--loss bce"],
        ),
        ({"output_activation": "softsign"}, ["--output-activation: unknown 'softsign'"]),
        ({"reduction": "max"}, ["--reduction: unknown 'max'"]),
        ({"loss_scale": 0.0}, ["--loss-scale: must be a finite non-zero number"]),
        ({"l2": -1.0}, ["--l2: must be a finite number ≥ 0"]),
        ({"l2_parameters": (("W9", 0.1),)}, ["--l2: unknown parameter 'W9'", "W1, b1, W2"]),
        ({"l2_parameters": (("W1", -0.1),)}, ["--l2 (W1): must be a finite number ≥ 0"]),
        ({"l2_parameters": (("b1", float("nan")),)}, ["--l2 (b1): must be a finite number"]),
        (
            {"l2_parameters": (("W1", 0.1), ("dense.0.weight", 0.2))},
            ["--l2: W1 is given twice (W1 and dense.0.weight)"],
        ),
        ({"l2": 0.1, "l2_parameters": (("W1", 0.1),)}, ["--l2: give one LAMBDA"]),
        ({"activation": "relu,tanh,relu"}, ["3 names for 2 hidden layers"]),
        ({"activation": "relu,swish"}, ["--activation: unknown 'swish'"]),
    ],
)
def test_unfit_networks_are_refused_with_a_sentence(kwargs: dict, fragments: list[str]) -> None:
    args = {"layers": (2, 4, 4, 3), **kwargs}
    with pytest.raises(GradcheckError) as err:
        NetSpec(**args)
    for fragment in fragments:
        assert fragment in err.value.cli_message


def test_output_activation_records_match_torch() -> None:
    z = np.random.default_rng(0).normal(scale=4, size=(5, 4))
    for name, rec in OUTPUT_ACTIVATIONS.items():
        t = torch.tensor(z, requires_grad=True)
        a = {
            "identity": lambda v: v,
            "sigmoid": torch.sigmoid,
            "tanh": torch.tanh,
            "softmax": lambda v: torch.softmax(v, -1),
            "log_softmax": lambda v: torch.log_softmax(v, -1),
        }[name](t)
        g = np.random.default_rng(1).normal(size=z.shape)
        a.backward(torch.tensor(g))
        np.testing.assert_allclose(rec.f(z), a.detach().numpy(), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(rec.vjp(z, rec.f(z), g), t.grad.numpy(), rtol=1e-12, atol=1e-15)
