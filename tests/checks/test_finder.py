"""The convention finder (checks/conventions.py): a uniform factor fitted by least squares and
written as --loss-scale or --reduction sum, the loss swapped where the targets allow, the L2
term fitted or removed, the layout and batch axis; fewest changes first, flags named only when
the check passes with them, nothing named for a real bug, the search bounded."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from gradcheck.api import check
from gradcheck.checks import conventions
from tests.checks.test_classic_bugs import (
    CASES,
    Grads,
    Params,
    correct,
    flipped_sign,
    missing_sigmoid_prime,
    sum_instead_of_mean,
    tenth_of_a_percent_off,
)

X, Y = CASES[1]  # 4 rows


def scaled(k: float) -> Callable[..., Grads]:
    def backward(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
        return {name: k * g for name, g in correct(p, x, y).items()}

    return backward


def flags_of(report: object) -> list[tuple[str, ...]]:
    return [f.flags for f in report.diagnosis if f.kind == "convention"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("k", "flags"),
    [
        (1.5, ("--loss-scale 1.5",)),  # fitted, not one of a list
        (0.37, ("--loss-scale 0.37",)),
        (4.0, ("--reduction sum",)),  # the batch size: a sum
        (2.0, ("--loss-scale 2",)),
        (0.5, ("--loss-scale 0.5",)),
    ],
)
def test_a_uniform_factor_is_fitted_and_written_simply(k: float, flags: tuple[str, ...]) -> None:
    report = check(X, Y, backward=scaled(k), probes=0)
    assert flags_of(report) == [flags]
    # the flags it names make the check pass
    options = dict(f.split(" ") for f in flags)
    kwargs = {o.removeprefix("--").replace("-", "_"): v for o, v in options.items()}
    if "loss_scale" in kwargs:
        kwargs["loss_scale"] = float(kwargs["loss_scale"])
    assert check(X, Y, backward=scaled(k), probes=0, **kwargs).passed


def test_sum_instead_of_mean_is_the_reduction() -> None:
    assert flags_of(check(X, Y, backward=sum_instead_of_mean, probes=0)) == [("--reduction sum",)]


@pytest.mark.parametrize("bug", [flipped_sign, missing_sigmoid_prime, tenth_of_a_percent_off])
def test_a_real_bug_is_not_explained_away(bug: Callable[..., Grads]) -> None:
    # a negative factor is a flipped sign, not a convention; the others fit no network
    assert flags_of(check(X, Y, backward=bug, probes=0)) == []


def test_a_declared_l2_the_code_lacks_is_removed() -> None:
    assert flags_of(check(X, Y, backward=correct, l2=0.05, probes=0)) == [("--l2 0",)]


def test_an_l2_term_and_a_factor_together() -> None:
    def backward(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
        g = correct(p, x, y)
        return {k: 0.5 * v + (2 * 0.01 * p[k] if k.startswith("W") else 0) for k, v in g.items()}

    report = check(X, Y, backward=backward, probes=0)
    assert flags_of(report) == [("--loss-scale 0.5", "--l2 0.01")]


def test_fewest_changes_first_then_the_simplest_scale() -> None:
    # batch 2, one output: ×2 is the sum (the scale stays 1) or --loss-scale 2: the sum
    two = check([[0.1, 0.2], [0.3, 0.4]], [[1.0], [0.5]], backward=scaled(2.0), probes=0)
    assert flags_of(two) == [("--reduction sum",)]


def test_class_targets_become_one_hot_for_a_loss_on_values() -> None:
    # cross-entropy declared, but the code's gradients are those of mse on the softmax
    # output against one-hot targets
    from gradcheck.core import replica
    from gradcheck.core.spec import NetSpec

    net = NetSpec((2, 5, 3), "tanh", "mse", "float64", "softmax")

    def backward(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
        onehot = np.eye(3)[y]
        return dict(replica.gradients(net, p, x, onehot)[1].grads)

    report = check(
        X,
        [2, 0, 1, 1],
        layers=[2, 5, 3],
        activation="tanh",
        loss="cross_entropy",
        backward=backward,
        probes=0,
    )
    [finding] = [f for f in report.diagnosis if f.kind == "convention"]
    assert finding.flags == ("--output-activation softmax", "--loss mse")
    assert "with the class targets as one-hot rows" in finding.message


def test_the_search_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert flags_of(check(X, Y, backward=scaled(1.5), probes=0)) == [("--loss-scale 1.5",)]
    monkeypatch.setattr(conventions, "MAX_WORK", 10)
    assert flags_of(check(X, Y, backward=scaled(1.5), probes=0)) == []


def test_the_user_code_is_called_at_most_once_per_other_exchange() -> None:
    calls: list[tuple[int, ...]] = []

    def backward(p: Params, x: np.ndarray, y: np.ndarray) -> Grads:
        calls.append(x.shape)
        return {name: 3.3 * g for name, g in correct(p, x, y).items()}

    report = check(X, Y, backward=backward, probes=0)
    assert flags_of(report) == [("--loss-scale 3.3",)]
    assert len(calls) <= 4  # the check's own call, then one per other layout × batch axis


@pytest.mark.slow
def test_among_the_mutants_only_the_whole_network_factors_are_conventions() -> None:
    from tests.checks.test_classic_bugs import MUTANTS, SEEDS

    named = {}
    for mutant, _layer, _kind, needs_batch in MUTANTS:
        for seed in SEEDS:
            for x, target in CASES[1:] if needs_batch else CASES:
                report = check(x, target, seed=seed, backward=mutant, probes=0)
                for flags in flags_of(report):
                    named.setdefault(mutant.__name__, set()).add(flags)
    assert named == {
        "missing_factor_2": {("--loss-scale 0.5",)},
        "sum_instead_of_mean": {("--reduction sum",)},
    }
