"""`gradcheck explain`: the steps' numbers against torch, the formulas, and the CLI contract."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from gradcheck.checks.explain import Explanation, explain_check
from gradcheck.core import functions
from gradcheck.output.explain import MAX_SHOWN, values
from gradcheck.torch_side.reference import init_state
from tests.conftest import assert_usage_error, invoke

SEED_X = ("--x", "0.974", "0.312")


def torch_walk(
    explanation: Explanation, loss: str
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Forward and backward written directly in torch (not via reference.py): z, a, δ, grads."""
    s = explanation.report.settings
    x = torch.tensor(s.x, dtype=torch.float64)
    depth = s.spec.depth
    # The weights of the check: torch's default init under the same seed.
    state = init_state(s.spec, int(s.seed or 0))
    weights = {}
    for name, value in state.items():
        weights[name] = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}[s.spec.activation]
    values_: dict[str, torch.Tensor] = {}
    a = x
    zs = []
    for layer in range(1, depth + 1):
        z = a @ weights[f"W{layer}"].T + weights[f"b{layer}"]
        z.retain_grad()
        zs.append(z)
        values_[f"z{layer}"] = z
        if layer < depth:
            a = act(z)
            values_[f"a{layer}"] = a
    if loss == "mse":
        y = torch.tensor(s.target, dtype=torch.float64)
        total = torch.nn.functional.mse_loss(zs[-1], y)
    else:
        y = torch.tensor(s.target, dtype=torch.long)
        total = torch.nn.functional.cross_entropy(zs[-1], y)
    values_["loss"] = total
    total.backward()
    grads = {f"delta{i}": z.grad.numpy() for i, z in enumerate(zs, start=1)}  # type: ignore[union-attr]
    grads.update({name: w.grad.numpy() for name, w in weights.items()})  # type: ignore[union-attr]
    return {k: v.detach().numpy() for k, v in values_.items()}, grads


def test_seed_network_steps_match_torch() -> None:
    explanation = explain_check([0.974, 0.312], [0.5], seed=0)
    forward, backward = torch_walk(explanation, "mse")
    names = [s.name for s in explanation.steps]
    assert names == [
        *("z1", "a1", "z2", "a2", "z3", "loss"),
        *("delta3", "W3", "b3", "delta2", "W2", "b2", "delta1", "W1", "b1"),
    ]
    for step in explanation.steps:
        expected = forward[step.name] if step.phase == "forward" else backward[step.name]
        np.testing.assert_allclose(step.hand, expected, rtol=1e-12, atol=1e-15)
        if step.phase == "backward":
            # Each backward step carries autograd's value and its error.
            assert step.check is not None and step.check.passed
            np.testing.assert_allclose(step.check.reference, expected, rtol=1e-12, atol=1e-15)
            assert step.check.max_abs_error < 1e-15
    assert explanation.exit_code == 0


def test_seed_network_formulas_follow_the_seed() -> None:
    formulas = {s.name: s.formula for s in explain_check([0.974, 0.312]).steps}
    assert formulas["z1"] == "z1 = x·W1ᵀ + b1"
    assert formulas["a1"] == "a1 = σ(z1)"
    assert formulas["z3"] == "ŷ = z3 = a2·W3ᵀ + b3"
    assert formulas["loss"] == "L = mean((ŷ − y)²)"
    assert formulas["delta3"] == "δ3 = ∂L/∂z3 = ∂L/∂ŷ = 2(ŷ − y)/N"
    assert formulas["delta2"] == "δ2 = (δ3·W3) ⊙ σ′(z2)"
    assert formulas["W2"] == "∂L/∂W2 = δ2ᵀ·a1"
    assert formulas["b1"] == "∂L/∂b1 = Σ_batch δ1"
    shapes = {s.name: s.shapes for s in explain_check([0.974, 0.312]).steps}
    assert shapes["delta2"] == "δ3 (1×1) · W3 (1×10) ⊙ σ′(z2) (1×10) → 1×10"
    assert shapes["W1"] == "δ1ᵀ (10×1) · x (1×2) → 10×2"


def test_tanh_cross_entropy_network_matches_torch() -> None:
    rows = [[0.3, -0.7, 0.2], [-0.1, 0.5, 0.9]]
    explanation = explain_check(
        rows, [[2], [0]], layers=(3, 5, 4, 3), activation="tanh", loss="cross_entropy", seed=4
    )
    forward, backward = torch_walk(explanation, "cross_entropy")
    assert len(explanation.steps) == 2 * 3 + 3 * 3
    for step in explanation.steps:
        expected = forward[step.name] if step.phase == "forward" else backward[step.name]
        np.testing.assert_allclose(step.hand, expected, rtol=1e-12, atol=1e-15)
        if step.check is not None:
            assert step.check.passed
    formulas = {s.name: s.formula for s in explanation.steps}
    assert formulas["a2"] == "a2 = tanh(z2)"
    assert formulas["delta1"] == "δ1 = (δ2·W2) ⊙ tanh′(z1)"
    assert formulas["delta3"] == "δ3 = ∂L/∂z3 = ∂L/∂ŷ = (softmax(ŷ) − onehot(y))/B"
    wheres = {s.name: s.where for s in explanation.steps}
    assert wheres["delta1"] == "tanh′(z) = 1 − tanh²(z)"
    assert wheres["loss"] == "B = 2 (batch size), y = class indices"
    assert wheres["a1"] is None  # "tanh(z)" defines nothing


def test_cli_explain_text_is_plain_when_piped() -> None:
    result = invoke("explain", *SEED_X)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "\x1b[" not in out and result.stderr == ""
    for text in (
        "Forward pass",
        "Backward pass (chain rule)",
        "δ2 = (δ3·W3) ⊙ σ′(z2)",
        "where σ′(z) = σ(z)(1−σ(z))",
        "∂L/∂W2 = δ2ᵀ·a1",
        "shapes   δ2ᵀ (10×1) · a1 (1×10) → 10×10",
        "100 values: min",  # W2 is summarised, not dumped
        "PASSED: all 11 checks within tolerance",
    ):
        assert text in out, text
    assert not any(ch in out for ch in "┏┃━│")  # no box drawing


def test_cli_explain_json_has_the_same_steps() -> None:
    result = invoke("explain", *SEED_X, "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["document"] == "explain" and doc["passed"] is True
    explanation = explain_check([0.974, 0.312])
    assert [s["name"] for s in doc["steps"]] == [s.name for s in explanation.steps]
    for record, step in zip(doc["steps"], explanation.steps, strict=True):
        assert record["formula"] == step.formula and record["shape"] == list(step.shape)
        np.testing.assert_array_equal(record["hand"], step.hand)
        assert (record["check"] is None) == (step.check is None)
    delta2 = next(s for s in doc["steps"] if s["name"] == "delta2")
    assert delta2["check"]["passed"] is True and delta2["check"]["max_abs_error"] < 1e-15
    assert np.shape(delta2["autograd"]) == (1, 10)
    assert invoke("explain", *SEED_X, "--json").stdout == result.stdout  # byte-identical


def test_broken_backward_fails_the_right_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = dataclasses.replace(functions.ACTIVATIONS["sigmoid"], df=np.ones_like)
    monkeypatch.setitem(functions.ACTIVATIONS, "sigmoid", broken)
    result = invoke("explain", *SEED_X)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    delta2 = next(i for i, line in enumerate(lines) if "δ2 = (δ3·W3)" in line)
    assert "✗ OUT OF TOLERANCE" in "\n".join(lines[delta2 : delta2 + 6])
    doc = json.loads(invoke("explain", *SEED_X, "--json").stdout)
    assert doc["exit_code"] == 1
    assert doc["failed"] == ["W1", "b1", "W2", "b2", "delta1", "delta2"]
    verdicts = {s["name"]: s["check"]["passed"] for s in doc["steps"] if s["check"]}
    assert verdicts["delta3"] and verdicts["W3"] and not verdicts["delta1"]


def test_values_are_compact_for_big_arrays() -> None:
    small = np.arange(MAX_SHOWN, dtype=float).reshape(1, -1) / 4
    assert values(small) == "[" + ", ".join(f"{v:g}" for v in small[0]) + "]"
    big = np.arange(60, dtype=float).reshape(6, 10)
    assert values(big) == "60 values: min 0, max 59, mean 29.5, ‖·‖ 265"
    assert "2 NaN/inf" in values(np.array([1.0, np.nan, np.inf, *range(20)]))
    assert values(np.array(1.5)) == "1.5"


def test_quiet_prints_nothing() -> None:
    result = invoke("explain", *SEED_X, "--quiet")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--x", "0.974"], ["--x: expected 2 values", "got 1"]),
        ([*SEED_X, "--layers", "2,0"], ["--layers: every size must be ≥ 1"]),
        ([*SEED_X, "--quiet", "--json"], ["--quiet: cannot be combined with --json"]),
        ([*SEED_X, "--weights", "/no/such.npz"], ["--weights: /no/such.npz: no such file"]),
    ],
)
def test_explain_bad_input_exits_2(args: list[str], fragments: list[str]) -> None:
    assert_usage_error(invoke("explain", *args), *fragments)


def test_small_matrices_print_row_by_row() -> None:
    assert values(np.array([[1.0, 2.0], [3.0, 4.5]])) == "[[1, 2], [3, 4.5]]"
    assert values(np.array([[1.0, 2.0]])) == "[1, 2]"
