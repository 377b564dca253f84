"""Each hand-written activation, loss and derivative against torch in float64."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from gradcheck.core.functions import ACTIVATIONS, LOSSES
from gradcheck.torch_side.functions import TORCH_ACTIVATIONS, TORCH_LOSSES

# Kinks, zero, ordinary values, saturation (|z| = 50) and extremes (|z| = 1e4).
Z = np.array([-1e4, -50.0, -20.5, -20.0, -3.0, -1e-8, 0.0, 1e-8, 0.5, 3.0, 20.0, 20.5, 50.0, 1e4])


def torch_activation(name: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = TORCH_ACTIVATIONS[name].module()(t)
    out.sum().backward()
    assert t.grad is not None
    return out.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_and_derivative_match_torch(name: str) -> None:
    act = ACTIVATIONS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warnings at |z| = 1e4
        value, slope = act.f(Z), act.df(Z)
    expected_value, expected_slope = torch_activation(name, Z)
    np.testing.assert_allclose(value, expected_value, rtol=1e-15, atol=1e-300)
    # Torch takes σ′ = σ(1 − σ), which cancels where σ ≈ 1 (relative error 1e-8 at z = 20,
    # and 0 instead of 2e-22 at z = 50); ours is e/(1 + e)². Absolutely, they agree to 1e-16.
    np.testing.assert_allclose(slope, expected_slope, rtol=1e-12, atol=1e-16)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(slope))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("relu", 0.0), ("leaky_relu", 0.01), ("elu", 1.0), ("identity", 1.0)],
)
def test_derivative_at_the_kink_follows_torch(name: str, expected: float) -> None:
    zero = np.zeros(1)
    assert ACTIVATIONS[name].df(zero)[0] == expected
    assert torch_activation(name, zero)[1][0] == expected


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_saturated_derivative_is_tiny_not_nan(name: str) -> None:
    slope = ACTIVATIONS[name].df(np.array([-50.0, 50.0]))
    assert np.all(slope >= 0) and np.all(slope < 1e-20)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_keeps_dtype(name: str, dtype: type) -> None:
    z = Z.astype(dtype)
    act = ACTIVATIONS[name]
    assert act.f(z).dtype == dtype and act.df(z).dtype == dtype


def torch_loss(name: str, pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    p = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    classes = LOSSES[name].takes_classes
    t = torch.tensor(target, dtype=torch.long if classes else torch.float64)
    loss = TORCH_LOSSES[name].functional(p, t, "mean")
    loss.backward()
    assert p.grad is not None
    return float(loss.detach()), p.grad.numpy()


def loss_case(name: str, rng: np.random.Generator, batch: int, units: int) -> tuple:
    pred = rng.normal(scale=3.0, size=(batch, units))
    if name == "nll":  # log-probabilities
        pred = pred - np.log(np.sum(np.exp(pred), axis=-1, keepdims=True))
    if name == "bce":  # probabilities
        pred = 1.0 / (1.0 + np.exp(-pred))
    if LOSSES[name].takes_classes:
        return pred, rng.integers(0, units, size=batch)
    if LOSSES[name].target_range is not None:
        return pred, rng.uniform(0, 1, size=(batch, units))
    return pred, rng.normal(size=(batch, units))


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        (name, shape)
        for name in sorted(LOSSES)
        for shape in [(1, 1), (1, 3), (7, 1), (16, 5)]
        if not (LOSSES[name].takes_classes and shape[1] == 1)  # needs two or more classes
    ],
)
def test_loss_and_gradient_match_torch(
    name: str, shape: tuple[int, int], rng: np.random.Generator
) -> None:
    pred, target = loss_case(name, rng, *shape)
    loss, grad = LOSSES[name].f(pred, target)
    expected_loss, expected_grad = torch_loss(name, pred, target)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-14)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-13, atol=1e-17)


@pytest.mark.parametrize("name", ["bce_logits", "cross_entropy"])
def test_losses_are_stable_for_huge_logits(name: str) -> None:
    pred = np.array([[1e4, -1e4], [-1e4, 1e4]])
    target = np.array([0, 0]) if name == "cross_entropy" else np.array([[0.0, 1.0], [1.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grad = LOSSES[name].f(pred, target)
    expected_loss, expected_grad = torch_loss(name, pred, target)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-14)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-14)


def test_l1_gradient_is_zero_where_prediction_equals_target() -> None:
    pred = np.array([[0.5, 1.0]])
    _, grad = LOSSES["l1"].f(pred, np.array([[0.5, 0.0]]))
    assert grad[0, 0] == 0.0 and grad[0, 1] == 0.5


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_in_place_sigmoid_equals_the_two_branch_formula_bit_for_bit(dtype: type) -> None:
    """sigmoid and σ′ are computed in place for speed; they must give exactly the values of
    the plain formulas (1/(1 + e) for z ≥ 0, e/(1 + e) below, e = exp(−|z|))."""
    from gradcheck.core.functions import sigmoid, sigmoid_prime

    rng = np.random.default_rng(0)
    special = [0.0, -0.0, 1e-300, -1e-300, 40, -40, 88.7, -88.7, 745, -745, 800, -800]
    z = np.concatenate([rng.normal(0, 8, 5000), special, [np.inf, -np.inf, np.nan]]).astype(dtype)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(z))
        plain = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(dtype)
        plain_prime = (e / (1.0 + e) ** 2).astype(dtype)
        got, got_prime = sigmoid(z), sigmoid_prime(z)
    assert got.dtype == dtype and got_prime.dtype == dtype
    np.testing.assert_array_equal(got, plain)
    np.testing.assert_array_equal(got_prime, plain_prime)
    before = z.copy()
    sigmoid(z), sigmoid_prime(z)
    np.testing.assert_array_equal(z, before)  # the input is never written
