"""The oracle's verdict (checks/oracle.py): each side compared with the numerical gradient, who
disagrees, its tolerance, and how it shows in the table and the JSON."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from gradcheck.checks.oracle import SAFETY, judge, oracle_numbers, oracle_tolerance
from gradcheck.checks.pipeline import evaluate as evaluate_problem
from gradcheck.checks.pipeline import replica_side
from gradcheck.checks.problem import prepare
from gradcheck.checks.report import Settings
from gradcheck.core import functions, numeric
from gradcheck.core.answer import Answer
from gradcheck.core.oracle_methods import oracle_method
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import resolve_tolerance
from gradcheck.torch_side import reference
from tests.conftest import SEED_X, invoke
from tests.core.test_numeric import _problem


@pytest.mark.parametrize("method", ["central", "richardson", "complex-step", "directional"])
def test_run_with_oracle_passes_and_reports_it(method: str) -> None:
    result = invoke("run", *SEED_X, "--oracle", method)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"ORACLE: the {method} oracle agrees with autograd and hand-derived" in result.stdout
    assert f"oracle ({method}, float64)" in result.stdout
    doc = json.loads(invoke("run", *SEED_X, "--oracle", method, "--json").stdout)
    section = doc["oracle"]
    assert section["method"] == method and section["passed"] is True
    assert section["disagreeing"] == []
    assert (
        section["atol"] == oracle_tolerance(method, "float64", doc["forward"]["loss"]["hand"]).atol
    )
    assert section["rtol"] == SAFETY * oracle_method(method).error
    if method == "directional":
        assert [d["name"] for d in section["directions"]] == ["v1", "v2", "v3", "v4"]
        assert all(d["vs_hand"]["passed"] for d in section["directions"])
        assert "oracle" not in doc["parameters"][0]
    else:
        for record in doc["parameters"]:
            assert np.shape(record["oracle"]) == tuple(record["shape"])
            assert list(record)[-4:] == [
                "oracle",
                "oracle_vs_autograd",
                "oracle_vs_hand",
                "oracle_skipped",
            ]
            assert record["oracle_skipped"] == 0
            assert record["oracle_vs_hand"]["passed"] is True
            np.testing.assert_allclose(record["oracle"], record["autograd"], atol=1e-9)


def test_oracle_json_is_byte_identical_and_no_arrays_drops_the_oracle_array() -> None:
    args = ("run", *SEED_X, "--oracle", "richardson", "--json")
    assert invoke(*args).stdout == invoke(*args).stdout
    doc = json.loads(invoke(*args, "--no-arrays").stdout)
    assert "oracle" not in doc["parameters"][0]
    assert "oracle_vs_hand" in doc["parameters"][0]


def test_float32_sides_are_compared_with_their_own_rounding_bound() -> None:
    # The oracle's tolerance is its method's error alone; each side's float32 rounding comes
    # from its rounding bound (4E per element), as in the hand-vs-autograd verdict.
    result = invoke("run", *SEED_X, "--dtype", "float32", "--oracle", "complex-step")
    assert result.exit_code == 0, result.stdout
    tol = oracle_tolerance("complex-step", "float32", 1.0)
    assert tol.rtol == pytest.approx(SAFETY * numeric.EPS)
    doc = json.loads(
        invoke("run", *SEED_X, "--dtype", "float32", "--oracle", "complex-step", "--json").stdout
    )
    w1 = next(p for p in doc["parameters"] if p["name"] == "W1")
    assert w1["oracle_vs_autograd"]["error_ratio"] > 0


def test_float32_autograd_agrees_with_the_oracle_at_large_inputs() -> None:
    # 6→2→6→2→5 with inputs of ±100, float32: autograd's own rounding (~1e-6 relative) is
    # far above richardson's error; without each side's bound the oracle blamed autograd.
    rng = np.random.default_rng(5)
    rows = [["--x", *(f"{v:.1f}" for v in rng.choice([-100.0, 100.0], 6))] for _ in range(3)]
    args = [a for row in rows for a in row]
    result = invoke(
        "run", *args, "--layers", "6,2,6,2,5", "--oracle", "richardson", "--dtype", "float32",
        "--target", *["0.5"] * 5, "--target", *["0.1"] * 5, "--target", *["0.9"] * 5,
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout
    assert "autograd disagrees" not in result.stdout


def test_mutant_sigma_prime_is_caught_and_blamed_on_the_hand_side(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The classic bug: δ2 = δ3·W3 without ⊙ σ′(z2). The oracle uses only σ itself.
    broken = dataclasses.replace(functions.ACTIVATIONS["sigmoid"], df=np.ones_like)
    monkeypatch.setitem(functions.ACTIVATIONS, "sigmoid", broken)
    result = invoke("run", *SEED_X, "--oracle", "central")
    assert result.exit_code == 1
    assert "ORACLE: hand-derived is wrong: W1, b1, W2, b2 disagree(s) with the central" in (
        result.stdout
    )
    doc = json.loads(invoke("run", *SEED_X, "--oracle", "directional", "--json").stdout)
    assert doc["exit_code"] == 1 and doc["oracle"]["disagreeing"] == ["hand"]
    assert doc["oracle"]["verdict"].startswith("hand-derived is wrong")


def _seed_problem(oracle: str):
    spec = NetSpec()
    x, y = np.array([[0.974, 0.312]]), np.array([[1.0]])
    problem = prepare(spec, x=x, target=y, seed=0)
    settings = Settings(spec, x, y, resolve_tolerance("float64"), oracle=oracle)
    return problem, settings


def test_a_wrong_hand_result_is_caught_through_evaluate() -> None:
    problem, settings = _seed_problem("richardson")
    good = replica_side(problem)
    grads = dict(good.grads)
    grads["W2"] = grads["W2"] * (1 + 1e-6)  # far below a glance, far above the oracle's error
    report = evaluate_problem(
        problem, settings, hand=Answer(good.prediction, good.loss, grads, good.deltas)
    )
    assert report.exit_code == 1
    assert report.oracle is not None and report.oracle.disagreeing == ("hand",)
    assert "W2 (oracle vs hand)" in report.failed


def test_verdict_names_autograd_or_both_when_they_disagree() -> None:
    spec = NetSpec()
    params, x, y = _problem(spec)
    ref = reference.autograd(spec, params, x, y)
    wrong = {k: v * 1.001 for k, v in ref.grads.items()}
    numbers = oracle_numbers(spec, params, x, y, "central")
    only_autograd = judge(numbers, spec, autograd=wrong, hand=ref.grads, loss=1.0)
    assert only_autograd.disagreeing == ("autograd",)
    assert only_autograd.verdict.startswith("autograd disagrees with the oracle")
    both = judge(numbers, spec, autograd=wrong, hand=wrong, loss=1.0)
    assert both.disagreeing == ("autograd", "hand")
    assert both.verdict.startswith("both autograd")
    assert not both.passed


def test_a_sweep_case_with_a_pre_activation_inside_the_step_is_checked_one_sided() -> None:
    # Found by `gradcheck sweep --layers 2,16,16,1 --activation relu --oracle richardson`:
    # some z2 sits within the richardson step of 0 (7 elements of b1 would be left out).
    args = [
        *("--x", "-0.047666073566008826", "-0.1429207837141524"),
        *("--target", "0.8795074293828571", "--seed", "146"),
        *("--layers", "2,16,16,1", "--activation", "relu", "--oracle", "richardson"),
    ]
    result = invoke("run", *args)
    assert result.exit_code == 0, result.stdout
    assert "not compared" not in result.stdout
    doc = json.loads(invoke("run", *args, "--json").stdout)
    assert all(p["oracle_skipped"] == 0 for p in doc["parameters"])
    assert all(p["oracle_vs_hand"]["passed"] for p in doc["parameters"])
