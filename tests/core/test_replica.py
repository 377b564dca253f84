"""The hand-derived replica against torch autograd: forward values, every gradient, every δ."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcheck.core import replica
from gradcheck.core.answer import Answer
from gradcheck.core.bounds import bounds
from gradcheck.core.compare import compare
from gradcheck.core.functions import ACTIVATIONS, LOSSES
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import DEFAULT_TOLERANCES
from gradcheck.torch_side import reference


def make_batch(spec: NetSpec, rng: np.random.Generator, batch: int) -> tuple:
    x = rng.uniform(-2, 2, size=(batch, spec.n_in))
    if spec.loss_record.takes_classes:
        y = rng.integers(0, spec.n_out, size=batch)
    elif spec.loss_record.target_range is not None:
        y = rng.uniform(0, 1, size=(batch, spec.n_out))
    else:
        y = rng.normal(size=(batch, spec.n_out))
    return x, y


def params_of(spec: NetSpec, seed: int) -> dict[str, np.ndarray]:
    dtype = np.dtype(spec.dtype)
    return {k: v.astype(dtype) for k, v in reference.init_state(spec, seed).items()}


def both_sides(spec: NetSpec, seed: int, x: np.ndarray, y: np.ndarray) -> tuple:
    dtype = np.dtype(spec.dtype)
    params = params_of(spec, seed)
    x = x.astype(dtype)
    y = y if y.dtype.kind == "i" else y.astype(dtype)
    ref = reference.autograd(spec, params, x, y)
    fwd, bwd = replica.gradients(spec, params, x, y)
    return ref, fwd, bwd


def max_error(ref: Answer, fwd: replica.Forward, bwd: replica.Backward) -> float:
    errors = [np.max(np.abs(ref.grads[k] - bwd.grads[k])) for k in bwd.grads]
    errors += [np.max(np.abs(ref.deltas[k] - bwd.deltas[k])) for k in bwd.deltas]
    errors += [np.max(np.abs(ref.prediction - fwd.prediction)), abs(ref.loss - fwd.loss)]
    return float(max(errors))


@pytest.mark.parametrize("seed", range(20))
def test_seed_network_delta_chain_equals_autograd_to_1e_12(seed: int) -> None:
    spec = NetSpec()
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(1, 2))
    y = rng.uniform(-1, 1, size=(1, 1))
    ref, fwd, bwd = both_sides(spec, seed, x, y)
    assert max_error(ref, fwd, bwd) <= 1e-12


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", tuple(LOSSES))
@pytest.mark.parametrize("activation", tuple(ACTIVATIONS))
def test_every_activation_and_loss(activation: str, loss: str, dtype: str) -> None:
    spec = NetSpec((3, 8, 6, 4), activation, loss, dtype, LOSSES[loss].fits[0])
    x, y = make_batch(spec, np.random.default_rng(7), 5)
    ref, fwd, bwd = both_sides(spec, 3, x, y)
    # Judged by the verdict itself: the dtype's tolerance and the rounding bound of every
    # element (float32's rounding is far above any fixed tolerance on small gradients).
    limits = bounds(spec, params_of(spec, 3), x.astype(spec.dtype), y)
    tol = DEFAULT_TOLERANCES[dtype]
    for name, grad in bwd.grads.items():
        c = compare(name, ref.grads[name], grad, tol, bounds=limits[name])
        assert c.passed, (name, c.max_abs_error, c.error_ratio)
        assert grad.dtype == np.dtype(dtype)
    if dtype == "float64":
        assert max_error(ref, fwd, bwd) <= 1e-12


def test_relu_exactly_at_zero_matches_torch() -> None:
    # Zero weights into layer 2's units make z2 exactly 0 for every sample.
    spec = NetSpec((2, 3, 3, 1), "relu", "mse", "float64")
    params = reference.init_state(spec, 0)
    params["W2"][:] = 0.0
    params["b2"][:] = 0.0
    x = np.array([[0.3, -0.7], [1.0, 2.0]])
    y = np.array([[1.0], [0.0]])
    fwd, bwd = replica.gradients(spec, params, x, y)
    ref = reference.autograd(spec, params, x, y)
    assert np.all(fwd.zs[1] == 0.0)
    for name in bwd.grads:
        np.testing.assert_array_equal(bwd.grads[name], ref.grads[name])


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_saturated_units_give_no_warnings(activation: str) -> None:
    spec = NetSpec((2, 4, 1), activation, "mse", "float64")
    params = reference.init_state(spec, 0)
    params["W1"][:] = 25.0  # |z1| = 50 for x = ±1
    params["b1"][:] = 0.0
    x = np.array([[1.0, 1.0], [-1.0, -1.0]])
    y = np.zeros((2, 1))
    fwd, bwd = replica.gradients(spec, params, x, y)  # pytest turns warnings into errors
    ref = reference.autograd(spec, params, x, y)
    assert np.max(np.abs(fwd.zs[0])) == 50.0
    for name in bwd.grads:
        np.testing.assert_allclose(bwd.grads[name], ref.grads[name], rtol=1e-12, atol=1e-20)


def test_leading_axes_broadcast_like_separate_cases(rng: np.random.Generator) -> None:
    spec = NetSpec((3, 5, 2), "tanh", "mse", "float64")
    cases = [reference.init_state(spec, s) for s in range(4)]
    stacked = {k: np.stack([c[k] for c in cases]) for k in cases[0]}
    x = rng.normal(size=(4, 6, 3))
    y = rng.normal(size=(4, 6, 2))
    fwd, bwd = replica.gradients(spec, stacked, x, y)
    assert fwd.loss.shape == (4,)
    for i, case in enumerate(cases):
        f1, b1 = replica.gradients(spec, case, x[i], y[i])
        np.testing.assert_allclose(fwd.loss[i], f1.loss, rtol=1e-15)
        for name in b1.grads:
            np.testing.assert_allclose(bwd.grads[name][i], b1.grads[name], rtol=1e-13, atol=1e-16)


@pytest.mark.slow
@given(
    depth=st.integers(1, 5),
    widths=st.lists(st.integers(1, 32), min_size=6, max_size=6),
    activation=st.sampled_from(tuple(ACTIVATIONS)),
    loss=st.sampled_from(tuple(LOSSES)),
    batch=st.integers(1, 64),
    dtype=st.sampled_from(["float64", "float32"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_any_mlp_matches_autograd(
    depth: int,
    widths: list[int],
    activation: str,
    loss: str,
    batch: int,
    dtype: str,
    seed: int,
) -> None:
    layers = tuple(widths[: depth + 1])
    if LOSSES[loss].min_outputs > layers[-1]:
        layers = (*layers[:-1], 2)
    spec = NetSpec(layers, activation, loss, dtype, LOSSES[loss].fits[0])
    x, y = make_batch(spec, np.random.default_rng(seed), batch)
    ref, fwd, bwd = both_sides(spec, seed % 1000, x, y)
    limits = bounds(spec, params_of(spec, seed % 1000), x.astype(dtype), y)
    tol = DEFAULT_TOLERANCES[dtype]
    for name, grad in bwd.grads.items():
        c = compare(name, ref.grads[name], grad, tol, bounds=limits[name])
        assert c.passed, (name, c.max_abs_error, c.error_ratio)
    if dtype == "float64":
        assert max_error(ref, fwd, bwd) <= 1e-10
