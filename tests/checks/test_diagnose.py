"""The diagnosis, pure: synthetic comparisons in, findings out; each shape claimed only when
the numbers establish it under the stated tolerance."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from gradcheck.api import check
from gradcheck.checks.diagnose import KINDS, Finding, diagnose, make_context
from gradcheck.core import replica
from gradcheck.core.compare import Comparison, compare
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import Tolerance
from gradcheck.output.documents import to_dict
from gradcheck.output.table import render_report

Setup = tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]
TOL = Tolerance(atol=1e-7, rtol=1e-7)
SPEC = NetSpec((3, 4, 4, 2), "tanh", "mse")


@pytest.fixture
def setup(rng: np.random.Generator) -> Setup:
    params = {p.name: rng.normal(size=p.shape) for p in SPEC.parameters()}
    x = rng.uniform(-1, 1, size=(3, 3))
    y = rng.uniform(-1, 1, size=(3, 2))
    return params, x, y


def expected(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> replica.Backward:
    return replica.gradients(SPEC, params, x, y)[1]


def params_cmp(ref: dict[str, np.ndarray], hand: dict[str, np.ndarray]) -> list[Comparison]:
    return [compare(p.name, ref[p.name], hand[p.name], TOL) for p in SPEC.parameters()]


def kinds(findings: tuple[Finding, ...]) -> list[tuple[str, int | None, str | None]]:
    return [(f.kind, f.layer, f.parameter) for f in findings]


def test_nothing_to_say_when_everything_passes(setup: Setup) -> None:
    params, x, y = setup
    ref = expected(params, x, y).grads
    assert diagnose((), params_cmp(ref, dict(ref))) == ()


def test_location_is_the_failing_layer_closest_to_the_output(setup: Setup) -> None:
    params, x, y = setup
    ref = expected(params, x, y).grads
    hand = dict(ref)
    hand["W1"] = ref["W1"] + np.linspace(0, 1e-3, ref["W1"].size).reshape(ref["W1"].shape)
    hand["b2"] = ref["b2"] + np.array([0, 1e-3, 0, 0])
    findings = diagnose((), params_cmp(ref, hand))
    assert kinds(findings) == [("layer", 2, None)]
    assert "layer 2 is the failing layer closest to the output (b2 fails; layer 3 passes)" in (
        findings[0].message
    )


def test_transposed_square_weight(setup: Setup) -> None:
    params, x, y = setup
    ref = expected(params, x, y).grads
    hand = dict(ref, W2=ref["W2"].T.copy())
    findings = diagnose((), params_cmp(ref, hand))
    assert kinds(findings) == [("layer", 2, None), ("transposed", 2, "W2")]
    assert findings[1].test.endswith("atol=1e-07, rtol=1e-07")


def test_transpose_not_claimed_when_only_close(setup: Setup) -> None:
    params, x, y = setup
    ref = expected(params, x, y).grads
    hand = dict(ref, W2=ref["W2"].T * (1 + 1e-5))  # transposed, and 10 µ% off: not established
    assert kinds(diagnose((), params_cmp(ref, hand))) == [("layer", 2, None)]


@pytest.mark.parametrize(
    ("factor", "kind", "words"),
    [
        (2.0, "scale_factor_2", "a factor 2 too many"),
        (0.5, "scale_factor_2", "a factor 2 missing"),
        (-1.0, "sign_flipped", "sign flipped"),
        (3.0, "batch_sum_vs_mean", "×3, the batch size: a sum where the mean belongs"),
        (1 / 3, "batch_sum_vs_mean", "×1/3, the batch size"),
        (6.0, "batch_sum_vs_mean", "the number of output elements (batch × units)"),
        (1.37, "scale_factor", "a uniform factor ×1.37"),
    ],
)
def test_whole_gradient_scale(setup: Setup, factor: float, kind: str, words: str) -> None:
    params, x, y = setup
    bwd = expected(params, x, y)
    hand = {k: factor * v for k, v in bwd.grads.items()}
    ctx = make_context(SPEC, params, x, y, bwd.deltas)
    findings = diagnose((), params_cmp(bwd.grads, hand), (), ctx)
    assert kinds(findings) == [("layer", 3, None), (kind, 3, None)]
    assert "all gradients (every layer)" in findings[1].message and words in findings[1].message
    assert f"|hand − {factor:.6g}·autograd|" in findings[1].test


def test_scale_of_lower_layers_only_places_the_bug_at_the_top_scaled_layer(setup: Setup) -> None:
    params, x, y = setup
    ref = expected(params, x, y).grads
    hand = {k: (-v if k[-1] in "12" else v) for k, v in ref.items()}
    findings = diagnose((), params_cmp(ref, hand))
    assert kinds(findings) == [("layer", 2, None), ("sign_flipped", 2, None)]
    assert "layers 1…2" in findings[1].message


def test_batch_factors_need_the_batch_size(setup: Setup) -> None:
    params, x, y = setup
    ref = expected(params, x, y).grads
    hand = {k: 3.0 * v for k, v in ref.items()}
    # Without context the batch size is unknown: the factor is still measured, not explained.
    findings = diagnose((), params_cmp(ref, hand))
    assert kinds(findings)[1][0] == "scale_factor" and "×3" in findings[1].message


def test_a_batch_of_two_says_both_readings() -> None:
    report = check([[0.1, 0.2], [0.3, 0.4]], backward=_doubled)
    scale = [f for f in report.diagnosis if f.kind not in ("layer", "convention")]
    assert len(scale) == 1 and scale[0].kind == "scale_factor_2"
    # the same fact as a convention: with a batch of 2 the factor is the batch size, the sum
    assert [f.flags for f in report.diagnosis if f.kind == "convention"] == [("--reduction sum",)]
    two = check([[0.1, 0.2], [0.3, 0.4]], backward=_times_batch)
    (found,) = [f for f in two.diagnosis if f.kind not in ("layer", "convention")]
    assert found.kind == "scale_factor_2"  # ×2 is tried first; the batch reading is the note
    assert "a factor 2 too many" in found.message
    assert "with a batch of 2, also: a sum where the mean belongs" in found.message


def _doubled(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    _, bwd = replica.gradients(NetSpec(), p, x, y)
    return {k: 2 * v for k, v in bwd.grads.items()}


def _times_batch(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    _, bwd = replica.gradients(NetSpec(), p, x, y)
    return {k: len(x) * v for k, v in bwd.grads.items()}


def test_fitted_scale_needs_three_numbers(setup: Setup) -> None:
    params, x, y = setup
    ref = expected(params, x, y).grads
    hand = dict(ref, b3=ref["b3"] * 1.37)  # two numbers: proportional to anything
    assert kinds(diagnose((), params_cmp(ref, hand))) == [("layer", 3, None)]
    hand = dict(ref, W3=ref["W3"] * 1.37)
    assert ("scale_factor", 3, "W3") in kinds(diagnose((), params_cmp(ref, hand)))


def test_bias_from_another_layer(setup: Setup) -> None:
    params, x, y = setup
    ref = expected(params, x, y).grads
    hand = dict(ref, b2=ref["b1"].copy())
    findings = diagnose((), params_cmp(ref, hand))
    assert kinds(findings) == [("layer", 2, None), ("bias_from_other_layer", 2, "b2")]
    assert "b2 equals autograd's gradient of b1" in findings[1].message


def test_nan_and_inf_are_reported(setup: Setup) -> None:
    params, x, y = setup
    ref = expected(params, x, y).grads
    hand = dict(ref, W1=ref["W1"].copy())
    hand["W1"][0, 0] = np.nan
    hand["W1"][1, 1] = np.inf
    findings = diagnose((), params_cmp(ref, hand))
    assert kinds(findings) == [("nonfinite", 1, "W1"), ("layer", 1, None)]
    assert "W1 has 2 NaN/inf values of 12: a failed check" in findings[0].message
    bad_ref = dict(ref, b3=np.array([np.inf, 0.0]))
    findings = diagnose((), params_cmp(bad_ref, ref))
    assert findings[0].kind == "nonfinite_autograd" and "not a bug of the backward" in (
        findings[0].message
    )


def test_forward_mismatch(setup: Setup) -> None:
    params, x, y = setup
    ref = expected(params, x, y).grads
    pred = compare("prediction", np.ones((3, 2)), np.ones((3, 2)) * 1.1, TOL, kind="forward")
    findings = diagnose((pred,), params_cmp(ref, dict(ref)))
    assert kinds(findings) == [("forward_mismatch", None, "prediction")]


def _layer2_grads(
    delta2: np.ndarray, bwd: replica.Backward, fwd: replica.Forward, params: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Layer 2's and 1's gradients from a (wrong) δ2, layer 3's right."""
    d1 = (delta2 @ params["W2"]) * (1 - np.tanh(fwd.zs[0]) ** 2)
    return dict(
        bwd.grads,
        W2=delta2.T @ fwd.activations[1],
        b2=delta2.sum(0),
        W1=d1.T @ fwd.activations[0],
        b1=d1.sum(0),
    )


@pytest.mark.parametrize(
    ("derivative", "kind", "words"),
    [
        (lambda z, a: np.ones_like(z), "missing_activation_derivative", "without ⊙ f′(z2)"),
        (lambda z, a: 1 - np.tanh(a) ** 2, "derivative_at_activation", "at the activation a2"),
        (lambda z, a: 1 - z**2, "derivative_formula_at_pre_activation", "pre-activation z2"),
        (
            lambda z, a: np.exp(-z) / (1 + np.exp(-z)) ** 2,
            "wrong_activation_derivative",
            "uses sigmoid′ where the network's activation is tanh",
        ),
    ],
)
def test_derivative_mistakes_on_a_tanh_network(
    setup: Setup, derivative: Any, kind: str, words: str
) -> None:
    params, x, y = setup
    fwd, bwd = replica.gradients(SPEC, params, x, y)
    upstream = bwd.deltas["delta3"] @ params["W3"]
    wrong = upstream * derivative(fwd.zs[1], fwd.activations[2])
    hand = _layer2_grads(wrong, bwd, fwd, params)
    ctx = make_context(SPEC, params, x, y, bwd.deltas)
    findings = diagnose((), params_cmp(bwd.grads, hand), (), ctx)
    assert ("layer", 2, None) in kinds(findings)
    found = [f for f in findings if f.kind == kind]
    assert found and words in found[0].message
    assert found[0].test.startswith("W2, b2 recomputed from that δ2")


def test_hypotheses_need_the_given_delta_to_match_too(setup: Setup) -> None:
    params, x, y = setup
    fwd, bwd = replica.gradients(SPEC, params, x, y)
    wrong = bwd.deltas["delta3"] @ params["W3"]  # δ2 without tanh′
    hand = _layer2_grads(wrong, bwd, fwd, params)
    ctx = make_context(SPEC, params, x, y, bwd.deltas)
    delta2 = compare("delta2", bwd.deltas["delta2"], wrong + 1.0, TOL, kind="delta")
    findings = diagnose((), params_cmp(bwd.grads, hand), (delta2,), ctx)
    assert "missing_activation_derivative" not in {f.kind for f in findings}


def test_kinds_are_declared_and_rendered() -> None:
    from tests.checks.test_classic_bugs import flipped_sign

    report = check([[0.974, 0.312], [0.5, 0.1]], [[0.3], [0.2]], backward=flipped_sign)
    assert {f.kind for f in report.diagnosis} <= set(KINDS)
    doc = to_dict(report)
    assert list(doc)[-1] == "diagnosis"
    assert doc["diagnosis"][1] == {
        "kind": "sign_flipped",
        "layer": 3,
        "parameter": None,
        "message": report.diagnosis[1].message,
        "test": "|hand − -1·autograd| ≤ atol + rtol·|-1·autograd| + 4E elementwise, atol=0, "
        "rtol=1e-07",
    }
    out = io.StringIO()
    Console(file=out, width=300, color_system=None).print(render_report(report))
    text = out.getvalue()
    assert text.index("diagnosis:") < text.index("FAILED:")
    assert "• all gradients (every layer) are ×-1 autograd's: sign flipped" in text
    assert "test: |hand − -1·autograd|" in text


def test_rounding_level_failures_are_called_rounding_not_a_bug(setup: Setup) -> None:
    # Judged with no rounding bound and a zero tolerance (bit equality), two float32
    # computations that differ in the last bits fail: the diagnosis says rounding, not a bug.
    params, x, y = setup
    ref = {k: v.astype(np.float32) for k, v in expected(params, x, y).grads.items()}
    ulp = {k: np.nextafter(v, np.float32(np.inf)) for k, v in ref.items()}
    zero = Tolerance(atol=0.0, rtol=0.0)
    failing = [compare(p.name, ref[p.name], ulp[p.name], zero) for p in SPEC.parameters()]
    findings = diagnose([], failing)
    assert [f.kind for f in findings] == ["rounding_level"]
    assert "not a bug" in findings[0].message
    off = {k: v * np.float32(1.001) for k, v in ref.items()}
    findings = diagnose(
        [], [compare(p.name, ref[p.name], off[p.name], zero) for p in SPEC.parameters()]
    )
    assert "rounding_level" not in {f.kind for f in findings}
