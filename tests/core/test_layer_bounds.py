"""A layer's allowances are bounds and intervals, measured against an exact yardstick.

Every correct side (the course-style loops of samples/layers/layers.py, the kind's formulas
run in the dtype, torch) lies within its rounding bound E of the exact value computed in long
double, on every kind's default configuration and probes, in float64 and float32; the verdict
allows 4E between two sides. At a tie or a kink a wrong value fails as soon as it leaves the set
of valid values, and every valid choice passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gradcheck.core.compare import compare
from gradcheck.core.layers import shapes
from gradcheck.core.layers.bounds import layer_bounds
from gradcheck.core.layers.catalogue import CATALOGUE
from gradcheck.core.layers.evaluate import plain
from gradcheck.core.layers.kind import Case
from gradcheck.core.tolerance import DEFAULT_TOLERANCES
from tests.core.layer_exact import configurations, exact, measure, sample_module, sides

SEEDS = range(3)


@pytest.fixture(scope="module")
def course() -> Any:
    return sample_module()


@pytest.mark.slow  # long double and three sides on every configuration: 15 s in all
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_correct_side_is_within_its_bound_of_the_exact_value(
    name: str, dtype: str, course: Any
) -> None:
    kind = CATALOGUE[name]
    worst: dict[tuple[str, str], float] = {}
    for case in configurations(kind, SEEDS, dtype):
        case, found = sides(kind, case, course)
        truth = exact(case)
        ref_grads = {k: v for k, v in found["torch"].items() if k.startswith("d")}
        for side, values in found.items():
            m = measure(case, values, truth, ref_grads)
            for quantity, ratio in m.worst.items():
                worst[(side, quantity)] = max(worst.get((side, quantity), 0.0), ratio)
    assert max(worst.values()) <= 1.0, {k: v for k, v in worst.items() if v > 1.0}


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_correct_sides_pass_against_torch(name: str, dtype: str, course: Any) -> None:
    """No false alarm: the loops and the vectorised formulas against torch, under the rule."""
    kind = CATALOGUE[name]
    tol = DEFAULT_TOLERANCES[dtype]
    for case in configurations(kind, SEEDS, dtype):
        case, found = sides(kind, case, course)
        ref = found["torch"]
        for side in ("loops", "vectorised"):
            values = found[side]
            limits = layer_bounds(
                case,
                {g[1:]: v for g, v in ref.items() if g.startswith("d")},
                {g[1:]: v for g, v in values.items() if g.startswith("d")},
            )
            for quantity, reference in ref.items():
                c = compare(quantity, reference, values[quantity], tol, bounds=limits[quantity])
                assert c.passed, (side, quantity, c.error_ratio, case.dims, case.values)


#: Where float32's allowance reaches 1e-2 of the largest element: batchnorm's dx on its batch of
#: two nearly equal values (dx cancels 50-fold; every correct side, torch's included, is 3.6e-4
#: off the exact value, and the bound is 73× that), and the LSTM's dprev_h with saturated gates
#: (1 − σ computed from a σ that rounds to 1 is 0 for torch's formula and 1e-9 for another:
#: the records' absolute error of a bounded function, ε, carried into every gate).
FLOAT32_WIDE = {("batchnorm", "dx", ""), ("lstm_step", "dprev_h", "wide")}


@pytest.mark.parametrize(("dtype", "rel"), [("float64", 1e-6), ("float32", 1e-2)])
def test_a_value_off_by_a_little_fails_everywhere(dtype: str, rel: float) -> None:
    """No blanket pass: in every quantity of every kind, on its defaults and probes, the
    largest element moved by 1e-6 (float64) or 1e-2 (float32) relative fails, wherever the
    quantity is above its rounding level (a saturated float32 recurrence's gradient is 0 up
    to rounding: nothing can be checked there, and the tiny-gradient warning says so)."""
    missed = set()
    for name, kind in CATALOGUE.items():
        for case in configurations(kind, range(1), dtype):
            if kind.read is not None:
                case = case.with_extra({"mask": np.ones(case.inputs["x"].shape, dtype=bool)})
            limits = layer_bounds(case, {}, {})
            for quantity, value in plain(case).items():
                largest = float(np.max(np.abs(value))) if value.size else 0.0
                if largest <= 4 * float(np.max(limits[quantity].rounding)):
                    continue  # at its rounding level
                hand = value.copy()
                k = np.unravel_index(np.argmax(np.abs(hand)), hand.shape)
                hand[k] *= 1 + rel
                if verdict(case, quantity, hand):
                    missed.add((name, quantity, case.values))
    assert missed <= (FLOAT32_WIDE if dtype == "float32" else set()), missed


# ---------------------------------------------------------------------------------------------
# Intervals: ties and kinks


def ties_case(name: str, **params: object) -> Case:
    kind = CATALOGUE[name]
    setup = next(p for p in kind.probes if p.values == "ties")
    dims, values = shapes.probe_configuration(kind, setup, shapes.resolve_params(kind, {}))
    return shapes.draw(kind, dims, {**values, **params}, "float64", 3, "ties")


def verdict(case: Case, quantity: str, hand: np.ndarray) -> bool:
    ref = plain(case)
    grads = {g[1:]: v for g, v in ref.items() if g.startswith("d")}
    limits = layer_bounds(case, grads, {quantity[1:]: hand} if quantity.startswith("d") else {})
    c = compare(
        quantity, ref[quantity], hand, DEFAULT_TOLERANCES[case.dtype], bounds=limits[quantity]
    )
    return c.passed


def pool_routes(case: Case, choose: str) -> np.ndarray:
    """dx of a max pool that routes each window's dout to its first, last, or all maxima, or
    shares it among them."""
    x = case.inputs["x"]
    dout = case.douts["dout"]
    ph, pw, s = (int(case.params[k]) for k in ("pool_height", "pool_width", "stride"))
    dx = np.zeros_like(x)
    n, c, ho, wo = dout.shape
    for i in range(ho):
        for j in range(wo):
            window = x[:, :, i * s : i * s + ph, j * s : j * s + pw]
            top = window == window.max(axis=(2, 3), keepdims=True)
            if choose == "all":
                share = top * 1.0
            elif choose == "shared":
                share = top / top.sum(axis=(2, 3), keepdims=True)
            else:
                flat = top.reshape(n, c, -1)
                pick = (
                    flat.shape[-1] - 1 - np.argmax(flat[..., ::-1], -1)
                    if choose == "last"
                    else np.argmax(flat, -1)
                )
                share = np.zeros(flat.shape)
                np.put_along_axis(share, pick[..., None], 1.0, -1)
                share = share.reshape(top.shape)
            dx[:, :, i * s : i * s + ph, j * s : j * s + pw] += (
                share * dout[:, :, i, j][:, :, None, None]
            )
    return dx


@pytest.mark.parametrize("stride", [2, 1])
def test_a_tied_maximum_may_take_dout_but_never_twice(stride: int) -> None:
    case = ties_case("max_pool", pool_height=2, pool_width=2, stride=stride)
    assert np.any(plain(case)["dx"] != pool_routes(case, "all"))  # ties are there
    assert verdict(case, "dx", pool_routes(case, "first"))
    assert verdict(case, "dx", pool_routes(case, "last"))
    assert verdict(case, "dx", pool_routes(case, "shared"))
    assert not verdict(case, "dx", pool_routes(case, "all"))
    # one element of a tie nudged off the simplex by 1e-6 relative fails too
    off = pool_routes(case, "shared")
    k = np.unravel_index(np.argmax(np.abs(off)), off.shape)
    off[k] *= 1 + 1e-6
    assert not verdict(case, "dx", off)


def test_relu_at_zero_takes_either_one_sided_derivative_and_nothing_else() -> None:
    case = ties_case("relu")
    x, dout = case.inputs["x"], case.douts["dout"]
    assert np.any(x == 0)
    assert verdict(case, "dx", dout * (x > 0))  # torch's relu′(0) = 0
    assert verdict(case, "dx", dout * (x >= 0))  # relu′(0) = 1
    assert verdict(case, "dx", dout * np.where(x == 0, 0.5, x > 0))  # a subgradient
    assert not verdict(case, "dx", dout * np.where(x == 0, 2.0, x > 0))
    assert not verdict(case, "dx", dout * np.where(x == 0, -0.5, x > 0))


def test_an_svm_margin_at_zero_counts_on_either_side_of_the_hinge() -> None:
    case = ties_case("svm_loss")
    x, y = case.inputs["x"], case.inputs["y"]
    n = x.shape[0]
    margins = x - x[np.arange(n), y][:, None] + 1
    own = np.zeros(x.shape, dtype=bool)
    own[np.arange(n), y] = True
    assert np.any((margins == 0) & ~own)

    def dx(counted: np.ndarray) -> np.ndarray:
        pos = (counted & ~own).astype(float)
        return (pos - own * pos.sum(axis=1, keepdims=True)) / n

    assert verdict(case, "dx", dx(margins > 0))
    assert verdict(case, "dx", dx(margins >= 0))
    wrong = dx(margins > 0)
    wrong[np.arange(n), y] -= 1 / n  # the correct class counted
    assert not verdict(case, "dx", wrong)


def test_a_value_just_outside_the_bound_fails_in_float32_and_float64() -> None:
    for dtype, rel in (("float64", 1e-6), ("float32", 1e-4)):
        kind = CATALOGUE["conv"]
        dims, params = shapes.configuration(kind)
        case = shapes.draw(kind, dims, params, dtype, 0)
        ref = plain(case)
        hand = ref["dw"].copy()
        k = np.unravel_index(np.argmax(np.abs(hand)), hand.shape)
        hand[k] *= 1 + rel
        assert not verdict(case, "dw", hand), dtype
