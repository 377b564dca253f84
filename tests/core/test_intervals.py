"""Allowances are intervals and bounds, never a blanket pass.

At saturated outputs, near kinks and in float32 a wrong gradient must fail as soon as it leaves
the interval of valid values (plus each element's rounding bound), and correct code written in
any of the usual forms must pass. Each case names the allowance it exercises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pytest

from gradcheck.api import check
from gradcheck.checks.report import Report
from gradcheck.core import replica
from gradcheck.core.bounds import bounds
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import DEFAULT_TOLERANCES, judge, judge_rows
from gradcheck.output.errormap import ratios
from gradcheck.output.table import plain_text, render_report
from gradcheck.torch_side import reference

Grads = dict[str, np.ndarray]
Transform = Callable[[str, np.ndarray], np.ndarray]


def backward_of(spec: NetSpec, transform: Transform = lambda k, v: v) -> Callable[..., Grads]:
    """The replica's gradients in float64 (the ``--impl`` contract), each passed through
    ``transform`` (a bug)."""

    def backward(params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> Grads:
        p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        _, bwd = replica.gradients(spec, p, np.asarray(x, np.float64), y)
        return {k: transform(k, v) for k, v in bwd.grads.items()}

    return backward


ATTACKS: dict[str, Transform] = {
    "zeros": lambda k, v: 0.0 * v,
    "sign flipped": lambda k, v: -v,
    "×1e6": lambda k, v: 1e6 * v,
}


def run(spec: NetSpec, x: object, y: object, transform: Transform = lambda k, v: v) -> Report:
    return check(
        x,
        y,
        layers=list(spec.layers),
        activation=spec.activation,
        output_activation=spec.output_activation,
        loss=spec.loss,
        dtype=spec.dtype,
        backward=backward_of(spec, transform),
        probes=0,
    )


SATURATED = [
    # a softmax row that rounds to one-hot, mse: nothing divides by ŷ
    (NetSpec((2, 3), "sigmoid", "mse", "float64", "softmax"), [[300, -300], [0.5, 0.2]], None),
    # float32 logistic regression with one input of 5000: σ rounds to 0 or 1 on that row
    (
        NetSpec((1, 1), "sigmoid", "bce", "float32", "sigmoid"),
        [[5000.0], [0.3], [-0.2]],
        [[0.0], [1.0], [0.0]],
    ),
    (
        NetSpec((1, 1), "sigmoid", "bce", "float32", "sigmoid"),
        [[-5000.0], [0.3], [-0.2]],
        [[1.0], [1.0], [0.0]],
    ),
]


@pytest.mark.parametrize(("spec", "x", "y"), SATURATED)
def test_wrong_gradients_fail_where_an_output_saturates(
    spec: NetSpec, x: object, y: object
) -> None:
    if y is None:
        y = np.eye(spec.n_out)[: len(np.asarray(x))].tolist()
    assert run(spec, x, y).passed
    for name, attack in ATTACKS.items():
        report = run(spec, x, y, attack)
        assert not report.passed, name
        assert {"W1", "b1"} & set(report.failed), name


def saturating_input(spec: NetSpec) -> float:
    """An input of 5000 whose sign drives σ(z) to 1 (float32 rounds it to exactly 1)."""
    return 5000.0 * float(np.sign(reference.init_state(spec, 0)["W1"][0, 0]))


def logistic(x: object, y: object, grads: Grads | Callable[..., Grads]) -> Report:
    """A float32 logistic regression (sigmoid output, bce) checked against ``grads``."""
    backward = grads if callable(grads) else (lambda p, xx, yy: grads)
    return check(
        x, y, layers=[1, 1], output_activation="sigmoid", loss="bce", dtype="float32",
        backward=backward, probes=0,
    )  # fmt: skip


def test_at_one_saturated_row_the_interval_runs_from_torchs_clamp_to_the_exact_value() -> None:
    # bce after a sigmoid, float32, σ(z) = 1 with y = 0: torch's gradient is 0 (it divides by
    # max(ŷ(1 − ŷ), 1e-12) and multiplies by ŷ(1 − ŷ) = 0), the exact one (σ(z) − y)·x = x.
    # Both are valid there, and nothing else: a flipped sign or a factor fails.
    spec = NetSpec((1, 1), "sigmoid", "bce", "float32", "sigmoid")
    x, y = [[saturating_input(spec)]], [[0.0]]
    exact = {"W1": np.array([[x[0][0]]]), "b1": np.array([1.0])}
    for grads, inside in ((exact, 1), ({k: 0.0 * v for k, v in exact.items()}, 0)):
        report = logistic(x, y, grads)
        assert report.passed
        assert np.all(report.parameters[0].reference == 0)  # torch's clamped gradient
        # the exact value passes inside the interval; zeros are autograd's own value
        assert dict(report.at_kink) == ({"W1": 1, "b1": 1} if inside else {})
    for factor in (-1.0, 2.0, 1e6):
        report = logistic(x, y, {k: factor * v for k, v in exact.items()})
        assert set(report.failed) == {"W1", "b1"}, factor


def test_the_loss_where_a_probability_rounds_to_exactly_one_is_not_judged() -> None:
    # log(1 − ŷ) with ŷ = 1: torch clamps it to −100, the exact value is z, a naive formula
    # gives inf. No finite bound: not judged (and said so), never passed.
    spec = NetSpec((1, 1), "sigmoid", "bce", "float32", "sigmoid")
    x = np.array([[saturating_input(spec)], [0.3]])
    y = np.array([[0.0], [1.0]])
    params = reference.init_state(spec, 0)
    z = x @ params["W1"].T + params["b1"]
    exact_loss = float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))

    def with_exact_loss(p: Mapping[str, np.ndarray], xx: np.ndarray, yy: np.ndarray) -> Grads:
        return {**backward_of(spec)(p, xx, yy), "loss": np.array(exact_loss)}

    report = check(x, y, layers=[1, 1], output_activation="sigmoid", loss="bce",
                   dtype="float32", backward=with_exact_loss, probes=0)  # fmt: skip
    loss = report.forward[0]
    assert loss.name == "loss" and loss.n_unjudged == 1 and loss.passed
    assert report.unjudged == (("loss", 1),)
    text = plain_text(render_report(report), 200)
    assert report.passed and "1 element(s) not judged (loss)" in text
    assert "PASSED: all 3 checks within tolerance where judged" in text  # not "all … within"
    (row,) = [line for line in text.splitlines() if line.startswith("│ loss")]
    assert row.rstrip().endswith("│ ?  │")  # never ✓ for what was not judged


def mnist_like(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((rows, 784))
    x[x < 0.8] = 0.0  # MNIST has ~80 % zero pixels
    return x, rng.integers(0, 10, rows)


def largest_off(factor: float, name: str = "W1") -> Transform:
    def transform(k: str, v: np.ndarray) -> np.ndarray:
        if k != name:
            return v
        v = v.copy()
        v[np.unravel_index(np.argmax(np.abs(v)), v.shape)] *= factor
        return v

    return transform


@pytest.mark.parametrize("hidden", [64, 128])
def test_five_percent_off_the_largest_w1_element_fails_in_float32_on_sparse_data(
    hidden: int,
) -> None:
    x, y = mnist_like(64)
    spec = NetSpec((784, hidden, 10), "relu", "cross_entropy", "float32")
    assert run(spec, x, y).passed
    assert "W1" in run(spec, x, y, largest_off(1.05)).failed


def test_a_tenth_of_a_percent_on_a_whole_float32_tensor_fails() -> None:
    spec = NetSpec((2, 10, 10, 10, 1), "sigmoid", "mse", "float32")
    x = [[0.974, 0.312], [-0.5, 0.8]]
    y = [[1.0], [0.0]]
    assert run(spec, x, y).passed
    for name in ("W1", "b2", "W4"):
        report = run(spec, x, y, lambda k, v, name=name: v * 1.001 if k == name else v)
        assert report.failed == (name,), name


def test_a_relative_1e_4_on_a_whole_float64_tensor_fails() -> None:
    spec = NetSpec()
    for name in ("W1", "b1", "W3"):
        report = run(
            spec, [[0.974, 0.312]], [[1.0]], lambda k, v, n=name: v * 1.0001 if k == n else v
        )
        assert report.failed == (name,), name


def test_float32_prediction_on_raw_pixel_values_passes() -> None:
    rng = np.random.default_rng(3)
    x = np.floor(rng.random((16, 784)) * 256)  # raw 0–255 pixels, no scaling
    x[rng.random(x.shape) < 0.8] = 0.0
    spec = NetSpec((784, 32, 10), "relu", "mse", "float32")
    y = rng.random((16, 10))

    def with_forward(params: Mapping[str, np.ndarray], xx: np.ndarray, yy: np.ndarray) -> Grads:
        p = {k: np.asarray(v, np.float32) for k, v in params.items()}
        xs = np.asarray(xx, np.float32)
        fwd, bwd = replica.gradients(spec, p, xs, np.asarray(yy, np.float32))
        return {**bwd.grads, "prediction": fwd.prediction, "loss": fwd.loss}

    report = check(x, y, layers=[784, 32, 10], activation="relu", dtype="float32",
                   backward=with_forward, probes=0)  # fmt: skip
    assert report.passed, report.failed
    assert report.forward[0].name == "prediction" and report.forward[0].max_abs_error > 0


def test_a_relu_unit_at_its_kink_leaves_the_next_layers_weights_judged_and_passing() -> None:
    # b1 = −W1·x exactly for unit 0: z1 rounds to a tiny value on one side and 0 on the other,
    # so a1 is rounding-sized or exactly 0; W2's gradient differs by that much, no more.
    spec = NetSpec((2, 3, 2), "relu", "mse", "float32")
    params = reference.init_state(spec, 1)
    x = np.array([[0.3, 0.7], [0.1, -0.4]], dtype=np.float32)
    w = params["W1"].astype(np.float32)
    params["b1"][0] = -float(np.float64(w[0, 0]) * 0.3 + np.float64(w[0, 1]) * 0.7)
    from gradcheck.checks.pipeline import evaluate
    from gradcheck.checks.problem import prepare
    from gradcheck.checks.report import Settings

    problem = prepare(spec, x=x.astype(np.float64), target=np.ones((2, 2)), seed=1)
    from dataclasses import replace

    problem = replace(problem, params={k: v.astype(np.float32) for k, v in params.items()})
    settings = Settings(spec, x.astype(np.float64), np.ones((2, 2)), DEFAULT_TOLERANCES["float32"])
    hand = replica.answer(spec, {k: v.astype(np.float64) for k, v in problem.params.items()},
                          x.astype(np.float64), np.ones((2, 2)))  # fmt: skip
    report = evaluate(problem, settings, hand)
    assert report.passed, report.failed
    assert not report.diagnosis


def test_sigmoid_written_with_tanh_passes_at_large_inputs() -> None:
    def tanh_sigmoid(params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> Grads:
        def sig(z: np.ndarray) -> np.ndarray:
            return 0.5 * (1.0 + np.tanh(z / 2.0))

        w1, b1, w2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
        z1 = x @ w1.T + b1
        a1 = sig(z1)
        pred = a1 @ w2.T + b2
        d2 = 2.0 * (pred - y) / pred.size
        d1 = (d2 @ w2) * a1 * (1.0 - a1)
        return {"W1": d1.T @ x, "b1": d1.sum(0), "W2": d2.T @ a1, "b2": d2.sum(0)}

    x = [[80.0, -75.0], [-60.0, 90.0], [0.5, 0.1]]
    y = [[1.0], [0.0], [0.3]]
    report = check(x, y, layers=[2, 4, 1], backward=tanh_sigmoid, probes=0)
    assert report.passed, report.failed


def test_a_deep_width_one_chain_passes_down_to_subnormals() -> None:
    layers = (1,) + (1,) * 40 + (1,)
    spec = NetSpec(layers, "sigmoid", "mse", "float64")
    report = run(spec, [[0.5]], [[1.0]])
    assert report.passed, report.failed
    assert not run(spec, [[0.5]], [[1.0]], ATTACKS["sign flipped"]).passed


def test_an_element_with_no_finite_bound_is_counted_never_passed() -> None:
    ref = np.array([[1.0, 2.0, 3.0]])
    cand = np.array([[1.0, 2.5, 9.0]])
    inf = np.array([[np.inf, np.inf, 0.0]])
    j = judge(ref, cand, 0.0, 1e-7, center=ref, radius=np.zeros_like(ref), rounding=inf)
    assert j.unjudged.tolist() == [[False, True, False]]  # the equal one passes: no bound needed
    assert j.ok.tolist() == [[True, False, False]]
    s = judge_rows(ref, cand, 0.0, 1e-7, 1e-6, center=ref, radius=np.zeros_like(ref), rounding=inf)
    assert (int(s.n_unjudged[0]), int(s.n_failed[0])) == (1, 1)


def test_the_distance_is_to_the_nearer_of_autograd_and_the_interval() -> None:
    ref = np.array([[0.0, 0.0, 0.0, 0.0]])
    center = np.array([[1.0, 1.0, 1.0, 1.0]])
    radius = np.array([[0.5, 0.5, 0.5, 0.0]])
    cand = np.array([[0.0, 0.75, 1.6, 0.75]])
    j = judge(ref, cand, 0.0, 0.0, center=center, radius=radius, rounding=np.full((1, 4), 0.01))
    # autograd itself; inside [0.5, 1.5]; 0.1 outside it; no interval (radius 0)
    assert j.ok.tolist() == [[True, True, False, False]]
    assert j.in_interval.tolist() == [[False, True, False, False]]
    assert j.distance[0, 2] == pytest.approx(0.1)


def test_table_sweep_and_heat_map_give_the_same_verdict_per_element() -> None:
    from gradcheck.checks.sweep import per_case_errors

    softmax = NetSpec((2, 3), "sigmoid", "mse", "float64", "softmax")
    cases = [
        (softmax, [[300, -300], [0.5, 0.2]], [[1, 0, 0], [0, 1, 0]]),
        (NetSpec((2, 4, 1), "relu", "l1", "float32"), [[0.0, 0.0], [0.4, -0.3]], None),
        (NetSpec((2, 5, 5, 1), "tanh", "mse", "float32"), [[3.0, -2.0], [0.1, 0.2]], [[0.5], [1]]),
    ]
    for spec, x, y in cases:
        if y is None:
            params = reference.init_state(spec, 0)
            y = reference.autograd(spec, params, np.asarray(x, float), np.zeros((2, 1))).prediction
        for attack in (lambda k, v: v, lambda k, v: v * (1 + 1e-7), ATTACKS["zeros"]):
            report = run(spec, x, y, attack)
            for c in report.parameters:
                grid = ratios(c).reshape(-1)
                table_fails = (c.n_failed > 0) or not c.norm_passed
                assert (np.nanmax(grid) > 1) == (c.n_failed > 0), c.name
                t = c.bounds
                assert t is not None
                s = per_case_errors(
                    c.reference[None], c.candidate[None], c.tolerance.atol, c.tolerance.rtol,
                    norm_tol=c.norm_tol,
                    limits=type(t)(t.center[None], t.radius[None], t.rounding[None]),
                )  # fmt: skip
                assert bool(s.passed[0]) == (not table_fails), c.name
                assert int(s.n_failed[0]) == c.n_failed


def test_bounds_cover_prediction_and_loss() -> None:
    spec = NetSpec((3, 4, 2), "tanh", "bce", "float32", "sigmoid")
    params = {k: v.astype(np.float32) for k, v in reference.init_state(spec, 0).items()}
    x = np.float32([[0.5, -1.0, 2.0]])
    limits = bounds(spec, params, x, np.float32([[1.0, 0.0]]))
    assert limits["prediction"].rounding.shape == (1, 2)
    assert np.shape(limits["loss"].center) == ()
    assert float(limits["loss"].rounding) > 0


@pytest.mark.parametrize("seed", [2000447, 2000692])
def test_a_saturated_softmax_whose_exact_head_delta_cancels_to_zero_passes(seed: int) -> None:
    """l1 on a softmax that rounds to one-hot: the exact δ at the head cancels to 0, the computed
    one is its own rounding, and δ of the layer below (f′ ~1e-169 read from the output) must be
    bounded by that rounding times f′'s absolute error, not by the interval alone (0)."""
    from gradcheck.checks.pipeline import evaluate
    from tests.core.verdict_cases import random_case

    case = random_case(seed, edge="saturation")
    assert case.spec.loss == "l1" and case.spec.output_activation == "softmax"
    report = evaluate(case.problem, case.settings)
    assert report.passed, report.failed


def test_zeros_inside_a_saturation_interval_are_warned_of_as_an_interval_not_rounding() -> None:
    # Row 1's ŷ rounds to 1 against a target of 0: torch's δ there is 0, the exact one 0.5, and
    # b1's interval [autograd, autograd + 0.5] holds 0.
    report = check([[-5000.0], [0.3]], [[0.0], [1.0]], layers=[1, 1], output_activation="sigmoid",
                   loss="bce", dtype="float32", probes=0)  # fmt: skip
    (warning,) = [w for w in report.warnings if w.kind == "tiny_gradient" and w.subject == "b1"]
    assert "interval of valid values" in warning.message and "rounding level" not in warning.message
