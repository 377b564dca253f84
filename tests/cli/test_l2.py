"""--l2 LAMBDA (every weight matrix) and --l2 NAME=LAMBDA,… (per parameter, biases allowed):
the command line, the API's l2= (a number or a mapping), the JSON settings, the reproduce
commands of probes and sweeps, explain's formulas and gradcheck init; every bad value exit 2
naming the option."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

import gradcheck
from gradcheck.core.errors import GradcheckError
from tests.conftest import assert_usage_error, invoke, run_json

SEED_X = ("--x", "0.974", "0.312", "--x", "-0.5", "0.8")


def test_l2_per_parameter_in_the_json_settings() -> None:
    doc = run_json(*SEED_X, "--l2", "W1=5e-4,b1=5e-4")
    s = doc["settings"]
    assert doc["passed"] and s["l2"] is None
    assert s["l2_parameters"] == {"W1": 0.0005, "b1": 0.0005}
    uniform = run_json(*SEED_X, "--l2", "0.01")["settings"]
    assert uniform["l2"] == 0.01 and uniform["l2_parameters"] == {
        "W1": 0.01,
        "W2": 0.01,
        "W3": 0.01,
    }
    assert run_json(*SEED_X)["settings"]["l2_parameters"] == {}


def test_l2_per_parameter_reaches_both_sides() -> None:
    with_l2 = run_json(*SEED_X, "--l2", "b1=0.5,dense.4.weight=0.25")
    without = run_json(*SEED_X)
    grads = {p["name"]: np.array(p["autograd"]) for p in with_l2["parameters"]}
    plain = {p["name"]: np.array(p["autograd"]) for p in without["parameters"]}
    from gradcheck.core.spec import NetSpec
    from gradcheck.torch_side.reference import init_state

    params = init_state(NetSpec(), 0)
    np.testing.assert_allclose(grads["b1"] - plain["b1"], 2 * 0.5 * params["b1"], atol=1e-15)
    np.testing.assert_allclose(grads["W3"] - plain["W3"], 2 * 0.25 * params["W3"], atol=1e-15)
    np.testing.assert_allclose(grads["W1"], plain["W1"], atol=0)
    loss = with_l2["forward"]["loss"]["autograd"] - without["forward"]["loss"]["autograd"]
    expected = 0.5 * np.sum(params["b1"] ** 2) + 0.25 * np.sum(params["W3"] ** 2)
    assert loss == pytest.approx(expected, rel=1e-12)
    assert "(l2 b1=0.5,W3=0.25)" in invoke("run", *SEED_X, "--l2", "b1=0.5,W3=0.25").stdout


def test_l2_with_the_oracle_passes() -> None:
    doc = run_json(*SEED_X, "--l2", "W1=0.1,b2=0.2", "--oracle", "richardson")
    assert doc["passed"] and doc["oracle"]["passed"]


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        ("W9=0.1", ["--l2: unknown parameter 'W9'; this network has W1, b1, W2, b2, W3, b3"]),
        ("W1=-0.1", ["--l2 (W1): must be a finite number ≥ 0, got -0.1"]),
        ("W1=nan", ["--l2 (W1): must be a finite number ≥ 0, got nan"]),
        ("b1=inf", ["--l2 (b1): must be a finite number ≥ 0, got inf"]),
        ("W1=0.1,W1=0.2", ["--l2: W1 is given twice"]),
        ("W1=0.1,dense.0.weight=0.2", ["--l2: W1 is given twice (W1 and dense.0.weight)"]),
        ("W1=abc", ["--l2 (W1): 'abc' is not a number"]),
        ("W1", ["--l2: 'W1' is not a number; expected LAMBDA"]),
        ("W1=", ["--l2: 'W1=' is not NAME=LAMBDA"]),
        ("W1=0.1,,b1=0.1", ["--l2: entry 2 of", "is empty"]),
        ("-1", ["--l2: must be a finite number ≥ 0, got -1"]),
        ("nan", ["--l2: must be a finite number ≥ 0, got nan"]),
    ],
)
def test_bad_l2_exits_2_naming_the_option(value: str, fragments: list[str]) -> None:
    assert_usage_error(invoke("run", *SEED_X, "--l2", value), *fragments)
    assert_usage_error(invoke("explain", *SEED_X, "--l2", value), *fragments)


def test_bad_l2_in_sweep_exits_2() -> None:
    assert_usage_error(invoke("sweep", "--cases", "2", "--l2", "W7=1"), "--l2: unknown parameter")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"W1": -1.0}, "l2 (W1): must be a finite number ≥ 0, got -1"),
        ({"W1": True}, "l2 (W1): got a bool (True); expected a number"),
        ({"W1": "0.1"}, "l2 (W1): got a str ('0.1'); expected a number"),
        ({1: 0.1}, "l2: key an int (1) is not a parameter name"),
        ({"c1": 0.1}, "l2: unknown parameter 'c1'"),
        ([0.1], "l2: got a list; expected a number"),
    ],
)
def test_bad_l2_in_the_api_names_the_keyword(value: object, fragment: str) -> None:
    with pytest.raises(GradcheckError) as err:
        gradcheck.check([0.974, 0.312], l2=value)  # type: ignore[arg-type]
    assert str(err.value).startswith(fragment.split(":")[0])
    assert fragment in str(err.value)


def test_l2_mapping_in_the_api() -> None:
    report = gradcheck.check([0.974, 0.312], l2={"W1": 5e-4, "b1": 5e-4})
    assert report.passed and report.settings.spec.l2_terms == (("W1", 5e-4), ("b1", 5e-4))
    assert report.to_dict()["settings"]["l2_parameters"] == {"W1": 5e-4, "b1": 5e-4}


def test_probe_and_sweep_commands_reproduce_the_l2_term(tmp_path: Path) -> None:
    def sum_not_mean(p: dict, x: np.ndarray, y: np.ndarray) -> dict:
        from tests.checks.test_classic_bugs import sum_instead_of_mean

        g = sum_instead_of_mean(p, x, y)
        return {k: v + 2 * 0.1 * p[k] if k in ("W1", "b2") else v for k, v in g.items()}

    report = gradcheck.check([0.974, 0.312], backward=sum_not_mean, l2={"W1": 0.1, "b2": 0.1})
    command = report.probes[0].command
    assert "--l2 W1=0.1,b2=0.1" in command
    sweep = invoke("sweep", "--cases", "3", "--l2", "b1=0.5", "--json")
    assert sweep.exit_code == 0, sweep.stderr
    import json

    doc = json.loads(sweep.stdout)
    assert doc["settings"]["l2"] is None and doc["settings"]["l2_parameters"] == {"b1": 0.5}


def test_explain_writes_each_parameters_term() -> None:
    out = invoke("explain", "--x", "0.974", "0.312", "--l2", "W2=0.1,b1=0.3").stdout
    flat = " ".join(out.split())
    assert "+ 0.1·ΣW2²" in flat and "+ 0.3·Σb1²" in flat
    assert "∂L/∂W2 = δ2ᵀ·a1 + 0.2·W2" in flat and "∂L/∂b1 = Σ_batch δ1 + 0.6·b1" in flat


def test_init_with_per_parameter_l2_writes_its_terms_and_passes_when_filled_in(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mine.py"
    result = invoke("init", str(path), "--layers", "2,3,1", "--l2", "W1=0.5,b2=0.25")
    assert result.exit_code == 0, result.stderr
    command = result.stdout.splitlines()[-1].strip()
    assert command.endswith("--l2 W1=0.5,b2=0.25")
    text = path.read_text()
    assert "+ 0.5·ΣW1² + 0.25·Σb2²" in text
    assert "(+ the L2 term's 2·0.5·W1)" in text and "(+ the L2 term's 2·0.25·b2)" in text
    fills = {
        "delta2": "2 * (prediction - y) / prediction.size",
        "dW2": "delta2.T @ a1",
        "db2": "delta2.sum(axis=0) + 2 * 0.25 * b2",
        "delta1": "(delta2 @ W2) * a1 * (1 - a1)",
        "dW1": "delta1.T @ x + 2 * 0.5 * W1",
        "db1": "delta1.sum(axis=0)",
    }
    for name, expr in fills.items():
        text, n = re.subn(rf"^    {name} = todo\(.*\)$", f"    {name} = {expr}", text, flags=re.M)
        assert n == 1, name
    path.write_text(text)
    rerun = invoke(*shlex.split(command)[1:])
    assert rerun.exit_code == 0, (rerun.stdout, rerun.stderr)
    # its loss carries the terms too: the check compares it
    assert "loss" in rerun.stdout


def test_help_shows_both_forms() -> None:
    out = " ".join(invoke("run", "--help").stdout.split())
    assert "--l2 LAMBDA|NAME=LAMBDA,…" in out and "W1=5e-4,b1=5e-4" in out
    assert "--batch-axis [first|last]" in out
