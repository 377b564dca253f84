"""An oracle that knows its limits — scaled steps, kinks in every mode (softplus's
threshold included), a complex step that says when it cannot judge, and "could not check"
instead of "agrees" when nothing was compared."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from gradcheck import check
from gradcheck.checks.oracle import judge, oracle_numbers, oracle_tolerance
from gradcheck.core import functions, numeric
from gradcheck.core.spec import NetSpec
from gradcheck.torch_side import reference
from tests.conftest import invoke


@pytest.mark.parametrize("method", ["central", "richardson", "complex-step", "directional"])
def test_tanh_with_large_inputs_never_fails_correct_code(method: str) -> None:
    # |x| ≈ 20–40: a step in W1 of h is a step of h·|x| in z1, and a step not scaled to it
    # would make a truncation error growing with |x|³ (a quarter of these checks would fail).
    rng = np.random.default_rng(7)
    failed = []
    for case in range(12):
        x = rng.uniform(20, 40, 2) * rng.choice([-1, 1], 2)
        report = check(list(x), activation="tanh", oracle=method, seed=case)
        if report.exit_code != 0 or report.oracle is None or not report.oracle.checked:
            failed.append((case, list(x), report.failed))
    assert failed == []


def _softplus_at_threshold(offset: float):
    spec = NetSpec((2, 5, 4, 1), "softplus", "mse")
    params = reference.init_state(spec, 1)
    x, y = np.array([[0.6, -0.3]]), np.array([[0.5]])
    z1 = x @ params["W1"].T + params["b1"]
    params["b1"][2] += functions.SOFTPLUS_THRESHOLD + offset - z1[0, 2]
    return spec, params, x, y


def test_softplus_threshold_is_a_switch_in_its_record() -> None:
    # A switch of formula, not a kink: the oracle steps around it, the complex step stays valid.
    assert functions.SOFTPLUS_THRESHOLD in functions.ACTIVATIONS["softplus"].switches
    assert NetSpec(activation="softplus").complex_twins  # the complex step stays allowed


@pytest.mark.parametrize("offset", [1e-7, -1e-7, 0.0])
@pytest.mark.parametrize("method", ["central", "richardson", "complex-step", "directional"])
def test_a_unit_next_to_softplus_threshold_is_checked_and_agrees(
    offset: float, method: str
) -> None:
    # Above 20 softplus is z itself: its value jumps by log1p(e^−20) ≈ 2e-9 there, which a
    # step of 6e-6 across it turns into an error of ≈ 2e-4 in the derivative.
    spec, params, x, y = _softplus_at_threshold(offset)
    ref = reference.autograd(spec, params, x, y)
    numbers = oracle_numbers(spec, params, x, y, method)
    result = judge(numbers, spec, autograd=ref.grads, hand=ref.grads, loss=float(ref.loss))
    assert result.passed and result.checked, result.verdict
    assert result.compared == result.elements  # one-sided, not skipped


def test_without_the_kink_the_step_across_softplus_threshold_is_wrong(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The test above can fail: forget the kink and the central oracle measures the jump.
    blind = dataclasses.replace(functions.ACTIVATIONS["softplus"], kinks=(), switches=())
    monkeypatch.setitem(functions.ACTIVATIONS, "softplus", blind)
    spec, params, x, y = _softplus_at_threshold(1e-7)
    ref = reference.autograd(spec, params, x, y)
    numbers = oracle_numbers(spec, params, x, y, "central")
    result = judge(numbers, spec, autograd=ref.grads, hand=ref.grads, loss=float(ref.loss))
    assert not result.passed


def _relu_near_kink():
    spec = NetSpec((2, 6, 5, 1), "relu", "mse")
    rng = np.random.default_rng(104)
    params, x = reference.init_state(spec, 4), rng.uniform(-1, 1, (1, 2))
    y = rng.uniform(0, 1, (1, 1))
    z1 = x @ params["W1"].T + params["b1"]
    params["b1"][0] -= z1[0, 0] - 1e-9  # unit 1 of z1 sits 1e-9 above its kink
    return spec, params, x, y


def test_directional_steps_across_a_kink_are_one_sided_and_agree() -> None:
    spec, params, x, y = _relu_near_kink()
    ref = reference.autograd(spec, params, x, y)
    d = numeric.directional(spec, params, x, y)
    assert d.kinks is not None and not d.kinks.any()
    tol = oracle_tolerance("directional", "float64", float(ref.loss))
    err = np.abs(d.project(ref.grads) - d.derivatives)
    assert np.all(err <= tol.atol + tol.rtol * np.abs(d.derivatives)), err


def test_directional_without_kink_handling_would_fail_here(monkeypatch: pytest.MonkeyPatch) -> None:
    blind = dataclasses.replace(functions.ACTIVATIONS["relu"], kinks=())
    monkeypatch.setitem(functions.ACTIVATIONS, "relu", blind)
    spec, params, x, y = _relu_near_kink()
    ref = reference.autograd(spec, params, x, y)
    d = numeric.directional(spec, params, x, y)
    tol = oracle_tolerance("directional", "float64", float(ref.loss))
    err = np.abs(d.project(ref.grads) - d.derivatives)
    assert np.any(err > tol.atol + tol.rtol * np.abs(d.derivatives))


def _with_complex_tanh(monkeypatch: pytest.MonkeyPatch, twin) -> None:
    record = dataclasses.replace(functions.ACTIVATIONS["tanh"], complex_f=twin)
    monkeypatch.setitem(functions.ACTIVATIONS, "tanh", record)


def test_a_non_analytic_complex_twin_cannot_judge_instead_of_blaming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _with_complex_tanh(monkeypatch, lambda z: np.tanh(z.real) + 0j)  # drops the derivative
    result = invoke(
        "run", "--x", "0.974", "0.312", "--activation", "tanh", "--oracle", "complex-step"
    )
    assert result.exit_code == 0, result.stdout
    assert "shared mistake" not in result.stdout
    assert "ORACLE: the complex-step oracle could not check" in result.stdout
    assert "complex-step cannot judge here; use --oracle central or richardson" in result.stdout


def test_an_overflowing_complex_twin_leaves_its_elements_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def overflowing(z):  # overflows for one unit's pre-activation range only
        out = np.tanh(z)
        return np.where(z.real > 0.3, complex(np.inf, np.inf), out)

    _with_complex_tanh(monkeypatch, overflowing)
    spec = NetSpec((2, 10, 10, 1), "tanh", "mse")
    params = reference.init_state(spec, 0)
    x, y = np.array([[0.974, 0.312]]), np.array([[1.0]])
    found = numeric.full_gradient(spec, params, x, y, "complex-step")
    assert any(m.any() for m in found.unjudged.values())
    assert any("overflowed" in n for n in found.notes)
    ref = reference.autograd(spec, params, x, y)
    result = judge(
        oracle_numbers(spec, params, x, y, "complex-step"),
        spec,
        autograd=ref.grads,
        hand=ref.grads,
        loss=float(ref.loss),
    )
    assert result.passed and "shared mistake" not in result.verdict


def test_a_non_finite_loss_is_reported_as_such_not_as_a_tolerance_error() -> None:
    args = ("run", "--x", "1e200", "1e200", "--activation", "identity", "--oracle", "central")
    result = invoke(*args)
    assert "--atol" not in result.stdout + result.stderr
    assert result.exit_code == 1  # the loss itself is inf: hand vs autograd fails on it
    assert "ORACLE: the central oracle could not check" in result.stdout
    assert "the loss is inf" in result.stdout
    doc = json.loads(invoke(*args, "--json").stdout)
    assert doc["oracle"]["checked"] is False and doc["oracle"]["compared"] == 0


def test_when_every_element_is_skipped_the_oracle_says_it_could_not_check() -> None:
    spec = NetSpec((2, 3, 1), "relu", "mse")
    params = reference.init_state(spec, 0)
    x, y = np.array([[0.5, 0.5]]), np.array([[1.0]])
    ref = reference.autograd(spec, params, x, y)
    numbers = oracle_numbers(spec, params, x, y, "central")
    everything = {k: np.ones_like(v, dtype=bool) for k, v in numbers.kinks.items()}
    skipped = dataclasses.replace(numbers, kinks=everything)
    result = judge(skipped, spec, autograd=ref.grads, hand=ref.grads, loss=float(ref.loss))
    assert not result.checked
    assert result.verdict.startswith("the central oracle could not check: 13 of 13 elements")
    assert "agrees" not in result.verdict
