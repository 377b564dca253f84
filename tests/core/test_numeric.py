"""The numerical oracle: accuracy vs autograd per method, vectorization, verdicts, CLI."""

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
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import resolve_tolerance
from gradcheck.torch_side import reference
from tests.conftest import assert_usage_error, invoke

SEED_X = ("--x", "0.974", "0.312")

NETWORKS = [
    NetSpec((2, 10, 10, 1), "sigmoid", "mse"),
    NetSpec((3, 5, 4, 2), "tanh", "bce_logits"),
    NetSpec((3, 6, 3), "softplus", "cross_entropy"),
    NetSpec((2, 7, 5, 4, 1), "sigmoid", "mse"),
    NetSpec((4, 3, 2), "identity", "mse"),
    NetSpec((2, 8, 8, 1), "relu", "mse"),
    NetSpec((2, 6, 1), "elu", "l1"),
]


def _problem(spec: NetSpec, seed: int = 0, batch: int = 3):
    rng = np.random.default_rng(seed + 100)
    x = rng.uniform(-1, 1, (batch, spec.n_in))
    if spec.loss == "cross_entropy":
        y = rng.integers(0, spec.n_out, batch)
    else:
        y = rng.uniform(0, 1, (batch, spec.n_out))
    return reference.init_state(spec, seed), x, y


def _methods(spec: NetSpec) -> list[str]:
    return [m for m in numeric.FULL_METHODS if m != "complex-step" or spec.analytic]


@pytest.mark.parametrize("spec", NETWORKS, ids=lambda s: s.describe())
def test_every_full_oracle_agrees_with_autograd_within_its_documented_tolerance(
    spec: NetSpec,
) -> None:
    params, x, y = _problem(spec)
    ref = reference.autograd(spec, params, x, y)
    for method in _methods(spec):
        grads = numeric.full_gradient(spec, params, x, y, method)[0]
        tol = oracle_tolerance(method, "float64", float(ref.loss))
        for p in spec.parameters():
            assert grads[p.name].shape == p.shape
            err = np.abs(grads[p.name] - ref.grads[p.name])
            bound = tol.atol + tol.rtol * np.abs(grads[p.name])
            assert np.all(err <= bound), (method, p.name, err.max())
            # and far inside it: the documented error itself, without the safety factor
            assert err.max() <= 10 * numeric.METHOD_ERROR[method] * max(1.0, abs(float(ref.loss)))


def test_measured_errors_on_the_seed_network_meet_the_issue_targets() -> None:
    spec = NetSpec()
    params = reference.init_state(spec, 0)
    x, y = np.array([[0.974, 0.312]]), np.array([[1.0]])
    ref = reference.autograd(spec, params, x, y)
    worst = {
        method: max(
            np.abs(g - ref.grads[k]).max()
            for k, g in numeric.full_gradient(spec, params, x, y, method)[0].items()
        )
        for method in numeric.FULL_METHODS
    }
    assert worst["central"] <= 1e-8
    assert worst["richardson"] <= 1e-10
    assert worst["complex-step"] <= 1e-15


@pytest.mark.parametrize("spec", NETWORKS, ids=lambda s: s.describe())
def test_directional_oracle_agrees_with_autograd(spec: NetSpec) -> None:
    params, x, y = _problem(spec, seed=3)
    ref = reference.autograd(spec, params, x, y)
    d = numeric.directional(spec, params, x, y)
    assert d.derivatives.shape == (numeric.N_DIRECTIONS,)
    norms = np.sqrt(sum(np.sum(v.reshape(len(v), -1) ** 2, axis=1) for v in d.directions.values()))
    np.testing.assert_allclose(norms, 1.0, rtol=1e-14)
    tol = oracle_tolerance("directional", "float64", float(ref.loss))
    projected = d.project(ref.grads)
    assert np.all(np.abs(projected - d.derivatives) <= tol.atol + tol.rtol * np.abs(d.derivatives))


def test_directional_projection_is_the_dot_product() -> None:
    spec = NetSpec((2, 3, 1))
    params, x, y = _problem(spec)
    d = numeric.directional(spec, params, x, y, n_directions=2)
    g = {p.name: np.random.default_rng(1).standard_normal(p.shape) for p in spec.parameters()}
    flat_g = np.concatenate([g[p.name].ravel() for p in spec.parameters()])
    for k in range(2):
        flat_v = np.concatenate([d.directions[p.name][k].ravel() for p in spec.parameters()])
        assert d.project(g)[k] == pytest.approx(flat_v @ flat_g, rel=1e-13)


def test_chunking_does_not_change_the_answer() -> None:
    spec = NetSpec((2, 9, 7, 2), "tanh", "mse")
    params, x, y = _problem(spec)
    whole = numeric.full_gradient(spec, params, x, y, "richardson")[0]
    # A budget this small forces one perturbation per chunk.
    tiny = numeric.full_gradient(spec, params, x, y, "richardson", chunk_bytes=1)[0]
    for name in whole:
        np.testing.assert_array_equal(whole[name], tiny[name])


def test_leading_case_axis_broadcasts_like_the_replica() -> None:
    spec = NetSpec((2, 5, 3, 1), "sigmoid", "mse")
    cases = [_problem(spec, seed=s, batch=2) for s in range(3)]
    stacked = {k: np.stack([c[0][k] for c in cases]) for k in cases[0][0]}
    x = np.stack([c[1] for c in cases])
    y = np.stack([c[2] for c in cases])
    for method in ("central", "complex-step"):
        together = numeric.full_gradient(spec, stacked, x, y, method)[0]
        for i, (p, xi, yi) in enumerate(cases):
            alone = numeric.full_gradient(spec, p, xi, yi, method)[0]
            for name in alone:
                np.testing.assert_allclose(together[name][i], alone[name], rtol=0, atol=1e-12)
    d = numeric.directional(spec, stacked, x, y)
    for i, (p, xi, yi) in enumerate(cases):
        np.testing.assert_allclose(
            d.derivatives[i], numeric.directional(spec, p, xi, yi).derivatives, atol=1e-13
        )


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus", "identity"])
def test_complex_activations_equal_the_real_ones_on_real_input(name: str) -> None:
    z = np.linspace(-40, 40, 801)
    real = functions.ACTIVATIONS[name].f(z)
    complex_ = functions.ACTIVATIONS[name].complex_f(z.astype(complex))
    # (complex log1p is log(1 + w): its real part loses digits below ~1e-16; only the
    # imaginary part, which carries the derivative, matters to the complex step)
    np.testing.assert_allclose(complex_.real, real, rtol=1e-15, atol=2e-16)
    # and their complex step is the derivative (to rounding: 1 − tanh² itself cancels)
    h = 1e-20
    step = functions.ACTIVATIONS[name].complex_f(z + 1j * h).imag / h
    np.testing.assert_allclose(step, functions.ACTIVATIONS[name].df(z), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("loss", ["mse", "bce_logits", "cross_entropy"])
def test_complex_losses_equal_the_real_ones_on_real_input(loss: str) -> None:
    rng = np.random.default_rng(5)
    pred = rng.normal(0, 10, (2, 4, 3))
    target = (
        rng.integers(0, 3, (2, 4)) if loss == "cross_entropy" else rng.uniform(0, 1, pred.shape)
    )
    real, _ = functions.LOSSES[loss].f(pred, target)
    np.testing.assert_allclose(
        functions.LOSSES[loss].complex_f(pred.astype(complex), target).real, real, rtol=1e-14
    )


@pytest.mark.parametrize(
    ("args", "kink"),
    [
        (("--activation", "relu"), "relu"),
        (("--activation", "leaky_relu"), "leaky_relu"),
        (("--activation", "elu"), "elu"),
        (("--loss", "l1"), "l1"),
    ],
)
def test_complex_step_is_refused_for_kinks(args: tuple[str, ...], kink: str) -> None:
    result = invoke("run", *SEED_X, *args, "--oracle", "complex-step")
    assert_usage_error(
        result, f"--oracle complex-step: {kink} has a kink", "use --oracle central or richardson"
    )


def test_unknown_oracle_exits_2() -> None:
    assert_usage_error(invoke("run", *SEED_X, "--oracle", "forward"), "--oracle", "forward")


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
    assert section["rtol"] == SAFETY * numeric.METHOD_ERROR[method]
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


def _relu_near_kink(gap: float):
    spec = NetSpec((2, 6, 5, 1), "relu", "mse")
    params, x, y = _problem(spec, seed=4, batch=1)
    z1 = x @ params["W1"].T + params["b1"]
    params["b1"][0, ...] -= z1[0, 0] - gap  # unit 1 of z1 sits `gap` above its kink
    return spec, params, x, y


@pytest.mark.parametrize("method", ["central", "richardson"])
def test_a_step_across_a_kink_on_one_side_is_replaced_by_a_one_sided_difference(
    method: str,
) -> None:
    spec, params, x, y = _relu_near_kink(1e-6)  # h ≫ 1e-6: the −h step crosses 0
    ref = reference.autograd(spec, params, x, y)
    assert ref.grads["b1"][0] != 0  # the unit is active: a real derivative to get right
    grads, kinks = numeric.full_gradient(spec, params, x, y, method)[:2]
    assert not any(k.any() for k in kinks.values())
    tol = oracle_tolerance(method, "float64", float(ref.loss))
    for name, g in grads.items():
        err = np.abs(g - ref.grads[name])
        assert np.all(err <= tol.atol + tol.rtol * np.abs(g)), (method, name, err.max())


@pytest.mark.parametrize("method", ["central", "richardson"])
def test_a_unit_whose_steps_cross_kinks_on_both_sides_is_skipped(method: str) -> None:
    spec, params, x, y = _relu_near_kink(1e-6)
    # z2[0] sits 1e-9 above 0 and falls when z1[0] rises: +h crosses downstream, −h at z1[0].
    params["W2"][0, 0] = -abs(params["W2"][0, 0]) - 0.5
    z1 = np.maximum(x @ params["W1"].T + params["b1"], 0)
    params["b2"][0] -= (z1 @ params["W2"].T + params["b2"])[0, 0] - 1e-9
    ref = reference.autograd(spec, params, x, y)
    grads, kinks = numeric.full_gradient(spec, params, x, y, method)[:2]
    assert kinks["b1"][0] and kinks["W1"][0].all()
    assert not kinks["b1"][1:].any() and not kinks["W3"].any()
    tol = oracle_tolerance(method, "float64", float(ref.loss))
    for name, g in grads.items():
        keep = ~kinks[name]
        err = np.abs(g - ref.grads[name])[keep]
        assert np.all(err <= tol.atol + tol.rtol * np.abs(g[keep])), (method, name)


def test_analytic_networks_have_no_kinks() -> None:
    spec = NetSpec((3, 5, 4, 2), "tanh", "bce_logits")
    params, x, y = _problem(spec)
    kinks = numeric.full_gradient(spec, params, x, y, "central").kinks
    assert not any(k.any() for k in kinks.values())


def test_a_sweep_case_with_a_pre_activation_inside_the_step_is_checked_one_sided() -> None:
    # Found by `gradcheck sweep --layers 2,16,16,1 --activation relu --oracle richardson`:
    # some z2 sits within the richardson step of 0 (7 elements of b1 used to be skipped).
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
