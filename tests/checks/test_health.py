"""Honest results: NaN/inf never pass, and weak passes (saturation, zero gradients) are flagged."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck.api import check
from gradcheck.checks import pipeline
from gradcheck.checks.health import saturation
from gradcheck.checks.pipeline import evaluate
from gradcheck.checks.problem import prepare
from gradcheck.checks.report import Settings
from gradcheck.core.answer import Answer
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import resolve_tolerance
from tests.conftest import invoke, run_json


def test_saturated_sigmoid_is_flagged_in_json_and_table() -> None:
    doc = run_json("--x", "1e300", "1")
    kinds = [(w["kind"], w["layer"]) for w in doc["warnings"]]
    assert ("saturated", 1) in kinds and ("zero_gradient", None) in kinds
    assert doc["passed"] is True  # honest: both sides agree, but the warning says it is weak
    out = invoke("run", "--x", "1e300", "1").stdout
    assert "warning: layer 1: 10 of 10 units saturated for every sample" in out


def test_ordinary_input_has_no_warnings() -> None:
    assert run_json("--x", "0.974", "0.312")["warnings"] == []


def test_dead_relu_units_are_named() -> None:
    spec = NetSpec((2, 3, 1), "relu")
    zs = (np.array([[-1.0, 2.0, 0.0], [-3.0, -1.0, 0.0]]), np.zeros((2, 1)))
    (notice,) = saturation(spec, zs)
    assert (
        notice.layer == 1
        and "2 of 3 units dead" in notice.message
        and "units 0, 2" in notice.message
    )


def test_float32_overflow_fails_honestly() -> None:
    import json

    # 3e38 fits float32, but the sums in W·x overflow it: both sides see inf, and fail.
    result = invoke(
        "run", "--x", "3e38", "3e38", "--dtype", "float32", "--activation", "identity", "--json"
    )
    assert result.exit_code == 1
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    assert doc["passed"] is False
    assert any(w["kind"] == "nonfinite" for w in doc["warnings"])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_hand_gradient_is_a_failure_never_a_pass(bad: float) -> None:
    spec = NetSpec()
    x = np.array([[0.974, 0.312]])
    y = np.ones((1, 1))
    problem = prepare(spec, x=x, target=y)
    honest = pipeline.replica_side(problem)
    grads = dict(honest.grads)
    grads["W2"] = grads["W2"].copy()
    grads["W2"][3, 4] = bad
    settings = Settings(spec, x, y, resolve_tolerance("float64"))
    report = evaluate(problem, settings, Answer(honest.prediction, honest.loss, grads, {}))
    assert report.exit_code == 1 and report.failed == ("W2",)
    (w2,) = [c for c in report.parameters if c.name == "W2"]
    assert w2.n_nonfinite == 1 and w2.worst_index == (3, 4)


def test_api_check_returns_report() -> None:
    report = check([0.974, 0.312], [0.5], seed=1, dtype="float32")
    assert report.passed and report.exit_code == 0
    assert report.settings.spec.dtype == "float32" and report.settings.seed == 1
    assert [c.name for c in report.parameters] == ["W1", "b1", "W2", "b2", "W3", "b3"]


def test_every_warning_is_a_sentence() -> None:
    from gradcheck.checks.health import Notice

    assert Notice("oracle", "left out").message == "left out."
    assert Notice("oracle", "Done.").message == "Done."
    report = check([0.974, 0.312], layers=[2, 64, 64, 1], activation="relu", seed=3)
    assert report.warnings, "a dead-unit warning was expected here"
    assert all(w.message.endswith(".") for w in report.warnings)
