"""The mutation suite: classic backprop bugs, each a separate backward for the seed's network.

Every mutant must fail the check (exit 1) at default settings on the seed's 2→10→10→1 sigmoid
MSE network over several weight seeds, the correct backward must pass, and the diagnosis must
name the layer where the bug is, and its shape where the numbers establish one. Most mutants
keep every shape right: a checker that only compared shapes would pass them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from gradcheck.api import check
from gradcheck.checks.report import Report

Params = dict[str, np.ndarray]
Grads = dict[str, np.ndarray]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    return sigmoid(z) * (1.0 - sigmoid(z))


def forward(p: Params, x: np.ndarray) -> tuple[np.ndarray, ...]:
    z1 = x @ p["W1"].T + p["b1"]
    a1 = sigmoid(z1)
    z2 = a1 @ p["W2"].T + p["b2"]
    a2 = sigmoid(z2)
    z3 = a2 @ p["W3"].T + p["b3"]
    return z1, a1, z2, a2, z3


def loss_grad(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 2.0 * (pred - y) / pred.size  # mean over batch × outputs, as torch's MSELoss


def pack(x: np.ndarray, a1: np.ndarray, a2: np.ndarray, d1: Any, d2: Any, d3: Any) -> Grads:
    """The correct assembly of parameter gradients from δ1, δ2, δ3."""
    return {
        "W1": d1.T @ x,
        "b1": d1.sum(axis=0),
        "W2": d2.T @ a1,
        "b2": d2.sum(axis=0),
        "W3": d3.T @ a2,
        "b3": d3.sum(axis=0),
    }


def correct(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    z1, a1, z2, a2, z3 = forward(p, x)
    d3 = loss_grad(z3, y)
    d2 = (d3 @ p["W3"]) * sigmoid_prime(z2)
    d1 = (d2 @ p["W2"]) * sigmoid_prime(z1)
    return pack(x, a1, a2, d1, d2, d3)


# --- the mutants: one classic bug each ------------------------------------------------------


def missing_sigmoid_prime(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    z1, a1, _z2, a2, z3 = forward(p, x)
    d3 = loss_grad(z3, y)
    d2 = d3 @ p["W3"]  # BUG: no ⊙ σ′(z2)
    d1 = (d2 @ p["W2"]) * sigmoid_prime(z1)
    return pack(x, a1, a2, d1, d2, d3)


def sigmoid_prime_at_activation(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    _z1, a1, _z2, a2, z3 = forward(p, x)
    d3 = loss_grad(z3, y)
    d2 = (d3 @ p["W3"]) * sigmoid_prime(a2)  # BUG: σ′(a2), the seed's sigmoid_gradient(z2_act)
    d1 = (d2 @ p["W2"]) * sigmoid_prime(a1)
    return pack(x, a1, a2, d1, d2, d3)


def transposed_w2(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    g = correct(p, x, y)
    _z1, a1, z2, _a2, z3 = forward(p, x)
    d2 = (loss_grad(z3, y) @ p["W3"]) * sigmoid_prime(z2)
    g["W2"] = a1.T @ d2  # BUG: (in, out), same shape on the square layer
    return g


def missing_factor_2(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    z1, a1, z2, a2, z3 = forward(p, x)
    d3 = (z3 - y) / z3.size  # BUG: d/dŷ (ŷ − y)² is 2(ŷ − y)
    d2 = (d3 @ p["W3"]) * sigmoid_prime(z2)
    d1 = (d2 @ p["W2"]) * sigmoid_prime(z1)
    return pack(x, a1, a2, d1, d2, d3)


def flipped_sign(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    z1, a1, z2, a2, z3 = forward(p, x)
    d3 = 2.0 * (y - z3) / z3.size  # BUG: y − ŷ
    d2 = (d3 @ p["W3"]) * sigmoid_prime(z2)
    d1 = (d2 @ p["W2"]) * sigmoid_prime(z1)
    return pack(x, a1, a2, d1, d2, d3)


def flipped_sign_in_delta2(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    z1, a1, z2, a2, z3 = forward(p, x)
    d3 = loss_grad(z3, y)
    d2 = -(d3 @ p["W3"]) * sigmoid_prime(z2)  # BUG: a stray minus
    d1 = (d2 @ p["W2"]) * sigmoid_prime(z1)
    return pack(x, a1, a2, d1, d2, d3)


def w_instead_of_wt(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    z1, a1, z2, a2, z3 = forward(p, x)
    d3 = loss_grad(z3, y)
    d2 = (d3 @ p["W3"]) * sigmoid_prime(z2)
    d1 = (d2 @ p["W2"].T) * sigmoid_prime(z1)  # BUG: np.dot(W2, δ2) in column form
    return pack(x, a1, a2, d1, d2, d3)


def bias_from_wrong_layer(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    z1, a1, z2, a2, z3 = forward(p, x)
    d3 = loss_grad(z3, y)
    d2 = (d3 @ p["W3"]) * sigmoid_prime(z2)
    d1 = (d2 @ p["W2"]) * sigmoid_prime(z1)
    g = pack(x, a1, a2, d1, d2, d3)
    g["b2"] = d1.sum(axis=0)  # BUG: b2 from δ1
    return g


def pre_activation_for_activation(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    z1, a1, z2, a2, z3 = forward(p, x)
    d3 = loss_grad(z3, y)
    d2 = (d3 @ p["W3"]) * sigmoid_prime(z2)
    d1 = (d2 @ p["W2"]) * sigmoid_prime(z1)
    g = pack(x, a1, a2, d1, d2, d3)
    g["W2"] = d2.T @ z1  # BUG: z1 where a1 = σ(z1) belongs
    return g


def tanh_prime_for_sigmoid(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    z1, a1, z2, a2, z3 = forward(p, x)
    d3 = loss_grad(z3, y)
    d2 = (d3 @ p["W3"]) * (1.0 - np.tanh(z2) ** 2)  # BUG: tanh′
    d1 = (d2 @ p["W2"]) * (1.0 - np.tanh(z1) ** 2)
    return pack(x, a1, a2, d1, d2, d3)


def sigmoid_prime_formula_at_z(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    z1, a1, z2, a2, z3 = forward(p, x)
    d3 = loss_grad(z3, y)
    d2 = (d3 @ p["W3"]) * (z2 * (1.0 - z2))  # BUG: a(1 − a) evaluated at z
    d1 = (d2 @ p["W2"]) * (z1 * (1.0 - z1))
    return pack(x, a1, a2, d1, d2, d3)


def sum_instead_of_mean(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    z1, a1, z2, a2, z3 = forward(p, x)
    d3 = 2.0 * (z3 - y)  # BUG: no division by N: the gradient of the sum, not the mean
    d2 = (d3 @ p["W3"]) * sigmoid_prime(z2)
    d1 = (d2 @ p["W2"]) * sigmoid_prime(z1)
    return pack(x, a1, a2, d1, d2, d3)


def tenth_of_a_percent_off(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    g = correct(p, x, y)
    g["W1"] = g["W1"] * 1.001  # BUG: 0.1% off in one gradient
    return g


def bias_not_summed(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    z1, a1, z2, a2, z3 = forward(p, x)
    d3 = loss_grad(z3, y)
    d2 = (d3 @ p["W3"]) * sigmoid_prime(z2)
    d1 = (d2 @ p["W2"]) * sigmoid_prime(z1)
    g = pack(x, a1, a2, d1, d2, d3)
    g["b2"] = d2[0]  # BUG: the first sample's δ2 only, not the sum over the batch
    return g


def w3_from_wrong_activation(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
    z1, a1, z2, a2, z3 = forward(p, x)
    d3 = loss_grad(z3, y)
    d2 = (d3 @ p["W3"]) * sigmoid_prime(z2)
    d1 = (d2 @ p["W2"]) * sigmoid_prime(z1)
    g = pack(x, a1, a2, d1, d2, d3)
    g["W3"] = d3.T @ a1  # BUG: a1 where a2 belongs (same shape in 2→10→10→1)
    return g


# (mutant, layer the diagnosis must name, bug shape it must recognise or None, needs batch ≥ 2)
MUTANTS: list[tuple[Callable[..., Grads], int, str | None, bool]] = [
    (missing_sigmoid_prime, 2, "missing_activation_derivative", False),
    (sigmoid_prime_at_activation, 2, "derivative_at_activation", False),
    (transposed_w2, 2, "transposed", False),
    (missing_factor_2, 3, "scale_factor_2", False),
    (flipped_sign, 3, "sign_flipped", False),
    (flipped_sign_in_delta2, 2, "sign_flipped", False),
    (w_instead_of_wt, 1, "weight_not_transposed_in_backprop", False),
    (bias_from_wrong_layer, 2, "bias_from_other_layer", False),
    (pre_activation_for_activation, 2, "pre_activation_in_weight_gradient", False),
    (tanh_prime_for_sigmoid, 2, "wrong_activation_derivative", False),
    (sigmoid_prime_formula_at_z, 2, "derivative_formula_at_pre_activation", False),
    (sum_instead_of_mean, 3, "batch_sum_vs_mean", True),
    (tenth_of_a_percent_off, 1, "scale_factor", False),
    (bias_not_summed, 2, None, True),
    (w3_from_wrong_activation, 3, None, False),
]

SEEDS = (0, 1, 2)
SEED_X = [[0.974, 0.312]]
BATCH_X = np.random.default_rng(7).uniform(-1, 1, size=(4, 2)).round(3).tolist()
BATCH_Y = np.random.default_rng(8).uniform(-1, 1, size=(4, 1)).round(3).tolist()
CASES = [(SEED_X, None), (BATCH_X, BATCH_Y)]


def cases(needs_batch: bool) -> list[tuple[Any, Any]]:
    return CASES[1:] if needs_batch else CASES


def kinds_at(report: Report, layer: int) -> set[str]:
    return {f.kind for f in report.diagnosis if f.layer == layer}


def test_there_are_at_least_ten_mutants() -> None:
    assert len(MUTANTS) >= 10
    assert len({m.__name__ for m, *_ in MUTANTS}) == len(MUTANTS)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("x", "target"), CASES, ids=["seed-x", "batch-4"])
def test_correct_backward_passes(seed: int, x: Any, target: Any) -> None:
    report = check(x, target, seed=seed, backward=correct)
    assert report.exit_code == 0, report.failed
    assert report.diagnosis == ()
    assert report.settings.candidate.endswith("test_classic_bugs.correct")


@pytest.mark.parametrize(
    "seed", [SEEDS[0], *(pytest.param(s, marks=pytest.mark.slow) for s in SEEDS[1:])]
)
@pytest.mark.parametrize(
    ("mutant", "layer", "kind", "needs_batch"), MUTANTS, ids=[m.__name__ for m, *_ in MUTANTS]
)
def test_mutant_fails_and_is_located(
    mutant: Callable[..., Grads], layer: int, kind: str | None, needs_batch: bool, seed: int
) -> None:
    for x, target in cases(needs_batch):
        report = check(x, target, seed=seed, backward=mutant)
        where = f"{mutant.__name__}, seed {seed}, batch {len(x)}"
        assert report.exit_code == 1, where
        located = [f for f in report.diagnosis if f.kind == "layer"]
        assert [f.layer for f in located] == [layer], (where, report.diagnosis)
        if kind is not None:
            assert kind in kinds_at(report, layer), (where, report.diagnosis)


@pytest.mark.parametrize(
    ("mutant", "kind"),
    [
        (transposed_w2, "transposed"),
        (missing_factor_2, "scale_factor_2"),
        (flipped_sign, "sign_flipped"),
        (sum_instead_of_mean, "batch_sum_vs_mean"),
    ],
)
def test_named_shapes_are_the_only_claims(mutant: Callable[..., Grads], kind: str) -> None:
    """For the four shapes the diagnosis knows, it claims exactly that shape."""
    report = check(BATCH_X, BATCH_Y, seed=0, backward=mutant)
    # A global scale is also stated as the convention it amounts to (--loss-scale, --reduction).
    shapes = {f.kind for f in report.diagnosis} - {"layer", "convention"}
    assert shapes == {kind}, report.diagnosis
    assert all(f.test for f in report.diagnosis if f.kind != "layer")


@pytest.mark.slow
def test_scale_factors_are_stated() -> None:
    messages = {
        m.__name__: " ".join(
            f.message
            for f in check(BATCH_X, BATCH_Y, backward=m).diagnosis
            if f.kind not in ("layer", "convention")
        )
        for m in (missing_factor_2, flipped_sign, sum_instead_of_mean, tenth_of_a_percent_off)
    }
    assert (
        "×0.5" in messages["missing_factor_2"]
        and "factor 2 missing" in messages["missing_factor_2"]
    )
    assert "×-1" in messages["flipped_sign"] and "sign flipped" in messages["flipped_sign"]
    assert (
        "×4" in messages["sum_instead_of_mean"] and "batch size" in messages["sum_instead_of_mean"]
    )
    assert "×1.001" in messages["tenth_of_a_percent_off"]


@pytest.mark.slow
def test_mutants_fail_in_float32_too() -> None:
    """The seed ran in float32: the shape-preserving bugs still fail at its tolerances."""
    for mutant in (transposed_w2, missing_factor_2, flipped_sign, w_instead_of_wt):
        report = check(SEED_X, None, dtype="float32", backward=mutant)
        assert report.exit_code == 1, mutant.__name__
    assert check(SEED_X, None, dtype="float32", backward=correct).exit_code == 0
