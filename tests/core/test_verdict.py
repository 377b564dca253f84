"""The scale-aware verdict (norm rule, rounding bound) and kinks, on cases a rule without them
gets wrong: a wrong gradient whose values are all tiny, a correct one whose rounding exceeds a
fixed tolerance, and derivatives taken at a kink."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pytest

from gradcheck.api import check
from gradcheck.checks.pipeline import evaluate
from gradcheck.checks.problem import Request, setup
from gradcheck.core import replica
from gradcheck.core.answer import Answer
from gradcheck.core.bounds import bounds
from gradcheck.core.compare import compare
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import DEFAULT_TOLERANCES, NORM_TOLERANCES, judge_rows
from gradcheck.output.table import plain_text, render_report
from tests.conftest import ROOT, invoke

SEED_X = [0.974, 0.312]


def replica_backward(
    spec: NetSpec, zeroed: Sequence[int] = ()
) -> Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray], dict[str, np.ndarray]]:
    """A correct backward (the replica), with the gradients of ``zeroed`` layers set to 0."""

    def backward(
        params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
    ) -> dict[str, np.ndarray]:
        grads = {k: np.array(v) for k, v in replica.answer(spec, params, x, y).grads.items()}
        for layer in zeroed:
            grads[f"W{layer}"] = np.zeros_like(grads[f"W{layer}"])
            grads[f"b{layer}"] = np.zeros_like(grads[f"b{layer}"])
        return grads

    return backward


@pytest.mark.parametrize(("dtype", "depth"), [("float32", 8), ("float64", 11)])
def test_zeroed_first_layers_of_a_deep_sigmoid_net_fail(dtype: str, depth: int) -> None:
    layers = (2,) + (10,) * (depth - 1) + (1,)
    spec = NetSpec(layers, "sigmoid", "mse", dtype)
    wrong = check(SEED_X, layers=layers, dtype=dtype, backward=replica_backward(spec, (1, 2)))
    assert wrong.exit_code == 1
    assert set(wrong.failed) == {"W1", "b1", "W2", "b2"}
    w1 = wrong.parameters[0]
    # Every element is far below torch's default atol, yet judged against its own rounding
    # bound, and the norm rule fails the tensor too.
    assert w1.n_failed == w1.reference.size and not w1.norm_passed and w1.norm_error == 1.0
    # Zeros are no flipped sign: the diagnosis names the layer only.
    assert {f.kind for f in wrong.diagnosis} == {"layer"}
    right = check(SEED_X, layers=layers, dtype=dtype, backward=replica_backward(spec))
    assert right.exit_code == 0
    assert all(c.norm_ratio < 0.1 for c in right.parameters)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_with_a_users_atol_tiny_gradients_are_judged_by_the_norm_rule_and_warned(
    dtype: str,
) -> None:
    layers = (2,) + (10,) * 7 + (1,)
    spec = NetSpec(layers, "sigmoid", "mse", dtype)
    wrong = check(
        SEED_X, layers=layers, dtype=dtype, atol=1e-3, backward=replica_backward(spec, (1, 2))
    )
    w1 = wrong.parameters[0]
    assert w1.n_failed == 0 and not w1.norm_passed  # within the user's atol: the norm rule
    assert "by the norm rule: W1, b1, W2, b2" in plain_text(render_report(wrong), 300)
    right = check(SEED_X, layers=layers, dtype=dtype, atol=1e-3, backward=replica_backward(spec))
    assert right.exit_code == 0
    message = next(w.message for w in right.warnings if w.kind == "tiny_gradient")
    assert "fewer layers" in message and ("float64" in message) == (dtype == "float32")


def test_tiny_inputs_with_w1_zeroed_fail() -> None:
    spec = NetSpec()
    report = check([1e-6, 1e-6], backward=replica_backward(spec, (1,)))
    assert report.exit_code == 1
    assert "W1" in report.failed
    assert check([1e-6, 1e-6], backward=replica_backward(spec)).exit_code == 0


def test_norm_rule_needs_more_than_rounding_where_the_tensor_cancels() -> None:
    # A tensor whose size is itself at rounding level (cancellation): the rounding bound, not
    # ntol, decides, so a correct side that differs by rounding passes.
    ref = np.array([[1e-17, -2e-17, 3e-18]])
    cand = ref + np.array([[3e-17, 1e-17, -2e-17]])
    strict = judge_rows(ref, cand, 1e-7, 1e-7, 1e-6)
    assert not strict.passed[0]
    loose = judge_rows(ref, cand, 1e-7, 1e-7, 1e-6, rounding=np.full_like(ref, 1e-16))
    assert loose.passed[0]


def test_seed_check_keeps_its_figures_and_gains_the_norm_column() -> None:
    result = invoke("run", "--x", *map(str, SEED_X))
    assert result.exit_code == 0
    assert "norm err" in result.stdout
    assert "ntol=1e-06" in result.stdout
    doc = json.loads(invoke("run", "--x", *map(str, SEED_X), "--json").stdout)
    w1 = doc["parameters"][0]
    for key in ("max_abs_error", "max_rel_error", "error_ratio", "n_failed", "passed"):
        assert key in w1
    assert w1["norm_passed"] is True and w1["n_at_kink"] == 0
    assert w1["norm_error"] < 1e-12
    assert doc["settings"]["norm_tol"] == NORM_TOLERANCES["float64"]
    assert doc["at_kink"] == {}


def test_a_looser_rtol_loosens_the_norm_rule_too() -> None:
    report = check(SEED_X, rtol=1e-2)
    assert report.settings.norm_tol == 1e-2


# ---------------------------------------------------------------------------------------------
# Kinks


def l1_target_at_prediction(dtype: str) -> tuple[list[float], int] | None:
    """A seed whose torch and NumPy predictions differ by rounding: target = torch's."""
    for seed in range(40):
        report = check(SEED_X, loss="l1", dtype=dtype, seed=seed, layers=(2, 10, 10, 3))
        pred = report.forward[0]
        if np.any(pred.reference != pred.candidate):
            return [float(v) for v in pred.reference.ravel()], seed
    return None


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_l1_with_target_at_the_prediction_passes_at_a_kink(dtype: str) -> None:
    found = l1_target_at_prediction(dtype)
    assert found is not None
    target, seed = found
    report = check(SEED_X, target, loss="l1", dtype=dtype, seed=seed, layers=(2, 10, 10, 3))
    assert report.exit_code == 0, report.failed
    assert report.at_kink and not report.diagnosis
    text = plain_text(render_report(report), 300)
    assert "within an interval: " in text and "one-sided derivatives" in text
    doc = json.loads(invoke(
        "run", "--x", *map(str, SEED_X), "--target", *map(repr, target), "--loss", "l1",
        "--dtype", dtype, "--seed", str(seed), "--layers", "2,10,10,3", "--json",
    ).stdout)  # fmt: skip
    assert doc["passed"] and doc["at_kink"]


def test_l1_sign_bug_still_fails_next_to_a_kink() -> None:
    found = l1_target_at_prediction("float64")
    assert found is not None
    target, seed = found
    target[1] += 0.5  # output 0 stays at its kink, outputs 1 and 2 do not
    target[2] -= 0.5
    spec = NetSpec((2, 10, 10, 3), "sigmoid", "l1")

    def flipped(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        return {k: -v for k, v in replica_backward(spec)(p, x, y).items()}

    report = check(SEED_X, target, loss="l1", seed=seed, layers=(2, 10, 10, 3), backward=flipped)
    # The element at the kink accepts any slope in [−1, 1]/N; the others fail. (With every
    # residual at its kink a flipped sign is itself a valid subgradient, and passes.)
    assert report.exit_code == 1
    assert "b3" in report.failed


def relu_problem_at_zero() -> tuple[object, object]:
    """relu, x = 0 and b1[0] = 0: z1[0] is exactly 0 on both sides."""
    problem, settings = setup(Request(x=[0.0, 0.0], activation="relu"))
    params = dict(problem.params)
    b1 = params["b1"].copy()
    b1[0] = 0.0
    params["b1"] = b1
    return replace(problem, params=params), settings


def test_relu_other_one_sided_derivative_at_zero_is_accepted() -> None:
    problem, settings = relu_problem_at_zero()
    spec = problem.spec  # type: ignore[attr-defined]
    params, x, y = problem.params, problem.x, problem.y  # type: ignore[attr-defined]
    fwd = replica.forward(spec, params, x, y)
    assert fwd.zs[0][0, 0] == 0.0
    # relu′(0) = 1 instead of torch's 0: a valid subgradient.
    bwd = replica.backward(spec, params, fwd)
    delta1 = (bwd.deltas["delta2"] @ params["W2"]) * (fwd.zs[0] >= 0)
    grads = dict(bwd.grads)
    grads["W1"] = delta1.T @ x
    grads["b1"] = delta1.sum(axis=0)
    deltas = dict(bwd.deltas)
    deltas["delta1"] = delta1
    hand = Answer(fwd.prediction, fwd.loss, grads, deltas)
    report = evaluate(problem, settings, hand)  # type: ignore[arg-type]
    assert report.exit_code == 0, report.failed
    assert dict(report.at_kink)["b1"] == 1
    assert not report.diagnosis


def test_a_relu_bug_away_from_the_kink_is_not_excused() -> None:
    problem, settings = relu_problem_at_zero()
    spec = problem.spec  # type: ignore[attr-defined]
    params, x, y = problem.params, problem.x, problem.y  # type: ignore[attr-defined]
    fwd = replica.forward(spec, params, x, y)
    bwd = replica.backward(spec, params, fwd)
    grads = dict(bwd.grads)
    grads["b1"] = grads["b1"].copy()
    grads["b1"][1] += 1e-3  # unit 1's z is far from 0
    report = evaluate(problem, settings, Answer(fwd.prediction, fwd.loss, grads, {}))  # type: ignore[arg-type]
    assert report.exit_code == 1 and report.failed == ("b1",)


def test_bounds_mark_pre_activations_within_rounding_of_a_kink() -> None:
    spec = NetSpec((2, 3, 1), "relu", "mse")
    params = {
        "W1": np.array([[1.0, -1.0], [1.0, 0.0], [0.0, 1.0]]),
        "b1": np.array([0.0, 0.0, -0.3]),
        "W2": np.array([[1.0, 2.0, 3.0]]),
        "b2": np.array([0.5]),
    }
    x = np.array([[0.1, 0.1 + 3e-17]])  # z1[0] is −3e-17: rounding away from 0
    y = np.array([[0.0]])
    b = bounds(spec, params, x, y)
    assert b.kink_elements == 1
    assert b["delta1"].radius[0, 0] > 0 and b["delta1"].radius[0, 1] == 0
    # The interval spans both one-sided derivatives: relu′ ∈ {0, 1}.
    d = 2 * (0.1 * 2 + 0.5) * 1.0  # δ2·W2[0,0]: ŷ = 2·relu(0.1) + 0.5, z1[2] = −0.2
    center, radius = b["delta1"].center[0, 0], b["delta1"].radius[0, 0]
    assert center - radius == pytest.approx(min(0, d)) and center + radius == pytest.approx(d)


def test_softplus_threshold_is_a_switch_for_the_verdict() -> None:
    spec = NetSpec((1, 1, 1), "softplus", "mse")
    params = {
        "W1": np.array([[1.0]]),
        "b1": np.array([0.0]),
        "W2": np.array([[1.0]]),
        "b2": np.array([0.0]),
    }
    b = bounds(spec, params, np.array([[20.0]]), np.array([[0.0]]))
    assert b.kink_elements == 1 and b["delta1"].radius[0, 0] > 0


def test_compare_counts_kink_elements_and_keeps_the_raw_errors() -> None:
    spec = NetSpec((2, 3, 1), "relu", "mse")
    params = {
        "W1": np.array([[1.0, -1.0], [1.0, 0.0], [0.0, 1.0]]),
        "b1": np.zeros(3),
        "W2": np.array([[1.0, 2.0, 3.0]]),
        "b2": np.array([0.5]),
    }
    x = np.array([[0.1, 0.1]])
    y = np.array([[0.0]])
    b = bounds(spec, params, x, y)
    fwd = replica.forward(spec, params, x, y)
    ref = replica.backward(spec, params, fwd).deltas["delta1"]
    cand = ref.copy()
    cand[0, 0] = b["delta1"].center[0, 0] + b["delta1"].radius[0, 0]  # the other side
    c = compare(
        "delta1", ref, cand, DEFAULT_TOLERANCES["float64"], norm_tol=1e-6, bounds=b["delta1"]
    )
    assert c.passed and c.n_at_kink == 1 and c.max_abs_error > 0.1


# ---------------------------------------------------------------------------------------------
# sweep --impl: a batch of more than one row by default


def test_sweep_impl_defaults_to_three_rows_and_catches_sum_instead_of_mean(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = (ROOT / "samples" / "backward_seed.py").read_text()
    buggy = tmp_path / "summed.py"
    buggy.write_text(source.replace("/ y_pred.size", "/ 1.0"))
    result = invoke("sweep", "--cases", "3", "--impl", f"{buggy}:backward", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["settings"]["batch_size"] == 3
    # With one row the bug cannot show (mean over one element = sum): an explicit choice.
    one = invoke("sweep", "--cases", "3", "--batch-size", "1", "--impl", f"{buggy}:backward")
    assert one.exit_code == 0
    assert invoke("sweep", "--cases", "2", "--json").stdout.count('"batch_size": 1') == 1


@pytest.mark.parametrize(
    ("output_activation", "loss", "says_saturated"),
    [("sigmoid", "bce", True), ("identity", "l1", False)],
)
def test_kink_line_names_saturated_probabilities_only_for_probability_outputs(
    output_activation: str, loss: str, says_saturated: bool
) -> None:
    report = check(SEED_X, [1.0], output_activation=output_activation, loss=loss)
    first = report.parameters[0]
    marked = replace(report, parameters=(replace(first, n_at_kink=3), *report.parameters[1:]))
    text = plain_text(render_report(marked), 300)
    assert f"within an interval: {first.name} (3): " in text
    assert ("output probability rounds to 0 or 1" in text) is says_saturated


@pytest.mark.parametrize("seed", range(0, 400, 13))
@pytest.mark.parametrize("variant", ["as drawn", "sum, ½, l2"])
def test_bounds_of_a_batch_in_pieces_equal_the_whole(
    monkeypatch: pytest.MonkeyPatch, seed: int, variant: str
) -> None:
    from gradcheck.core import bounds as bounds_module
    from tests.core.verdict_cases import random_case

    case = random_case(seed, max_batch=40)
    spec = case.spec
    if variant != "as drawn":
        spec = replace(spec, reduction="sum", loss_scale=0.5, l2=0.01)
    params, x, y = case.problem.params, case.problem.x, case.problem.y
    whole = bounds(spec, params, x, y)
    monkeypatch.setattr(bounds_module, "PIECE_ELEMENTS", 1)  # one row a piece
    pieces = bounds(spec, params, x, y)
    assert pieces.kink_elements == whole.kink_elements
    assert list(pieces.tensors) == list(whole.tensors)
    for name, w in whole.tensors.items():
        p = pieces[name]
        for field in ("center", "radius", "rounding"):
            a, b = getattr(p, field), getattr(w, field)
            assert a.shape == b.shape, (name, field)
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-300, err_msg=f"{name}.{field}")
