"""The diagnosis under an L2 term: every bug shape named without L2 is named with it (the L2
term's share is taken out before shapes are matched), and the L2 term's own bugs are named
with their parameter and factor: missing, missing its factor 2 (or λ/2), a factor 2 too many,
on a bias, on the wrong layers, not declared."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from gradcheck.api import check
from tests.checks.test_classic_bugs import CASES, MUTANTS, Grads, Params, correct, kinds_at

#: Two L2 terms: one λ on every weight matrix, and λ per parameter with biases in it.
L2_TERMS: list[float | dict[str, float]] = [0.05, {"W1": 0.02, "b1": 0.3, "b3": 0.1}]


def lambdas(l2: float | Mapping[str, float]) -> dict[str, float]:
    if isinstance(l2, Mapping):
        return dict(l2)
    return {name: l2 for name in ("W1", "W2", "W3")}


def with_l2(backward: Callable[..., Grads], lam: Mapping[str, float]) -> Callable[..., Grads]:
    """``backward`` with a correct L2 term added: 2λp for every parameter λ reaches."""

    def wrapped(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
        g = backward(p, x, y)
        return {k: v + 2.0 * lam.get(k, 0.0) * p[k] for k, v in g.items()}

    wrapped.__name__ = backward.__name__
    return wrapped


@pytest.mark.parametrize("l2", L2_TERMS, ids=["uniform", "per-parameter"])
@pytest.mark.parametrize(
    ("mutant", "layer", "kind", "needs_batch"), MUTANTS, ids=[m.__name__ for m, *_ in MUTANTS]
)
def test_every_shape_named_without_l2_is_named_with_it(
    mutant: Callable[..., Grads],
    layer: int,
    kind: str | None,
    needs_batch: bool,
    l2: float | dict[str, float],
) -> None:
    for x, target in CASES[1:] if needs_batch else CASES:
        plain = check(x, target, backward=mutant, probes=0)
        report = check(x, target, backward=with_l2(mutant, lambdas(l2)), l2=l2, probes=0)
        where = f"{mutant.__name__}, batch {len(x)}, l2 {l2}"
        assert report.exit_code == 1, where
        assert [f.layer for f in report.diagnosis if f.kind == "layer"] == [layer], (
            where,
            report.diagnosis,
        )
        if kind is not None:
            assert kind in kinds_at(report, layer), (where, report.diagnosis)
        # the same shapes, and no L2 finding: the L2 term itself is right
        shapes = {f.kind for f in report.diagnosis} - {"convention"}
        assert shapes == {f.kind for f in plain.diagnosis} - {"convention"}, where


def test_the_correct_backward_with_l2_passes() -> None:
    for l2 in L2_TERMS:
        for x, target in CASES:
            report = check(x, target, backward=with_l2(correct, lambdas(l2)), l2=l2)
            assert report.passed, (l2, report.failed)


X, Y = CASES[1]


def run(lam_hand: Mapping[str, float], l2: Any = 0.0) -> Any:
    return check(X, Y, backward=with_l2(correct, lam_hand), l2=l2, probes=0)


def findings(report: Any, kind: str) -> dict[str, str]:
    return {f.parameter: f.message for f in report.diagnosis if f.kind == kind}


def test_l2_missing() -> None:
    report = run({"W1": 0.05, "W3": 0.05}, l2=0.05)  # W2's term forgotten
    assert report.failed == ("W2",)
    [message] = findings(report, "l2_missing").values()
    assert message.startswith("W2 has no L2 term") and "λ = 0.05, so 2λ = 0.1" in message
    assert not findings(report, "layer")  # the L2 finding says where: no other place to look


@pytest.mark.parametrize(
    ("factor", "words"),
    [
        (
            0.5,
            [
                "×0.5 the declared one",
                "the factor 2 of the square's derivative is missing",
                "--l2 W1=0.025",
            ],
        ),
        (2.0, ["×2 the declared one", "a factor 2 too many"]),
        (0.25, ["×0.25 the declared one", "the factor 2 is missing and λ halved"]),
        (3.0, ["×3 the declared one: 2·0.15·W1 where 2·0.05·W1 belongs"]),
        (-1.0, ["×-1 the declared one"]),
    ],
)
def test_l2_factor(factor: float, words: list[str]) -> None:
    report = run({"W1": 0.05 * factor, "W2": 0.05, "W3": 0.05}, l2=0.05)
    message = findings(report, "l2_factor")["W1"]
    for word in words:
        assert word in message, message


def test_l2_on_biases_with_the_weights_lambda() -> None:
    report = run({"W1": 0.05, "b1": 0.05, "W2": 0.05, "b2": 0.05, "W3": 0.05}, l2=0.05)
    on_bias = findings(report, "l2_on_bias")
    assert set(on_bias) == {"b1", "b2"}
    assert "λ = 0.05" in on_bias["b1"] and "--l2 W1=0.05,W2=0.05,W3=0.05,b1=0.05" in on_bias["b1"]


def test_l2_on_the_wrong_layers() -> None:
    report = run({"W2": 0.01}, l2={"W1": 0.01})
    assert "W1 has no L2 term" in findings(report, "l2_missing")["W1"]
    wrong = findings(report, "l2_wrong_layers")["W2"]
    assert "λ = 0.01" in wrong and "(it has W1=0.01)" in wrong and "wrong layers" in wrong


def test_l2_not_declared_is_named_and_its_flag_found() -> None:
    report = run({"W1": 0.02, "W2": 0.02, "W3": 0.02})
    assert set(findings(report, "l2_undeclared")) == {"W1", "W2", "W3"}
    [convention] = [f for f in report.diagnosis if f.kind == "convention"]
    assert convention.flags == ("--l2 0.02",)


def test_a_loss_with_the_same_undeclared_term_is_not_blamed_on_the_forward_pass() -> None:
    from tests.checks.test_classic_bugs import forward, loss_grad  # noqa: F401

    lam = {"W1": 0.02}

    def backward(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
        z3 = forward(p, x)[-1]
        loss = np.mean((z3 - y) ** 2) + 0.02 * np.sum(p["W1"] ** 2)
        return {**with_l2(correct, lam)(p, x, y), "loss": loss}

    report = check(X, Y, backward=backward, probes=0)
    kinds = [f.kind for f in report.diagnosis]
    assert "forward_mismatch" not in kinds and "l2_in_loss" in kinds
    assert "l2_undeclared" in kinds
