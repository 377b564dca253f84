"""Comparison logic on synthetic arrays with injected errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradcheck.core.compare import compare
from gradcheck.core.errors import GradcheckError
from gradcheck.core.tolerance import DEFAULT_TOLERANCES, Tolerance, resolve_tolerance

TOL = Tolerance(atol=1e-7, rtol=1e-7)


def test_identical_arrays_pass_with_zero_error() -> None:
    a = np.linspace(-1, 1, 12).reshape(3, 4)
    c = compare("W1", a, a.copy(), TOL, torch_name="dense.0.weight")
    assert c.passed and c.max_abs_error == 0 and c.max_rel_error == 0 and c.error_ratio == 0
    assert c.label == "W1 · dense.0.weight" and c.shape == (3, 4)


def test_injected_error_is_found_at_its_index() -> None:
    a = np.ones((4, 5))
    h = a.copy()
    h[2, 3] += 1e-3
    c = compare("W2", a, h, TOL)
    assert not c.passed
    assert c.worst_index == (2, 3)
    assert c.n_failed == 1
    assert c.max_abs_error == pytest.approx(1e-3)
    assert c.max_rel_error == pytest.approx(1e-3)
    assert c.error_ratio == pytest.approx(1e-3 / (1e-7 + 1e-7))


def test_rule_is_atol_plus_rtol_times_autograd() -> None:
    a = np.array([100.0, 0.0])
    inside = np.array([100.0 + 0.9 * (1e-7 + 1e-5), 0.9e-7])
    outside = np.array([100.0 + 1.1 * (1e-7 + 1e-5), 0.0])
    assert compare("x", a, inside, TOL).passed
    c = compare("x", a, outside, TOL)
    assert not c.passed and c.worst_index == (0,) and c.error_ratio == pytest.approx(1.1)


def test_worst_index_is_worst_relative_to_tolerance_not_absolute() -> None:
    a = np.array([1000.0, 0.0])
    h = np.array([1000.0 + 5e-5, 5e-7])  # 5e-5 is inside 1e-7 + 1e-4; 5e-7 is not inside 1e-7
    c = compare("x", a, h, TOL)
    assert c.worst_index == (1,)
    assert c.max_abs_error == pytest.approx(5e-5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("side", ["autograd", "hand"])
def test_nonfinite_on_either_side_fails(bad: float, side: str) -> None:
    a = np.zeros(3)
    h = np.zeros(3)
    (a if side == "autograd" else h)[1] = bad
    c = compare("b1", a, h, TOL)
    assert not c.passed and c.n_nonfinite == 1 and c.worst_index == (1,)
    assert math.isinf(c.error_ratio)


def test_nan_on_both_sides_still_fails() -> None:
    nan = np.array([np.nan])
    assert not compare("x", nan, nan.copy(), TOL).passed
    inf = np.array([np.inf])
    assert not compare("x", inf, inf.copy(), TOL).passed


def test_zero_tolerance_demands_exact_equality() -> None:
    exact = Tolerance(0.0, 0.0)
    a = np.array([0.0, 1.0])
    assert compare("x", a, a.copy(), exact).passed
    c = compare("x", a, np.array([0.0, np.nextafter(1.0, 2.0)]), exact)
    assert not c.passed and math.isinf(c.error_ratio)


def test_relative_error_against_zero_is_infinite_only_when_different() -> None:
    c = compare("x", np.array([0.0, 2.0]), np.array([1e-9, 2.0]), TOL)
    assert math.isinf(c.max_rel_error) and c.passed  # 1e-9 ≤ atol


def test_scalar_comparison_has_empty_index() -> None:
    c = compare("loss", np.array(0.5), np.array(0.5 + 1e-3), TOL, kind="forward")
    assert c.worst_index == () and not c.passed and c.shape == ()


def test_float32_inputs_are_compared_in_float64() -> None:
    a = np.array([0.1], dtype=np.float32)
    h = np.array([np.nextafter(np.float32(0.1), np.float32(1))], dtype=np.float32)
    c = compare("x", a, h, TOL)
    assert c.max_abs_error == pytest.approx(float(h[0]) - float(a[0]))


def test_shape_mismatch_is_a_usage_error() -> None:
    with pytest.raises(
        GradcheckError, match=r"W1: shape \(2, 3\) does not match autograd's \(3, 2\)"
    ):
        compare("W1", np.zeros((3, 2)), np.zeros((2, 3)), TOL)


def test_default_rtol_is_torch_assert_close_and_atol_is_left_to_the_rounding_bound() -> None:
    # rtol: torch.testing.assert_close's defaults; atol 0, since a fixed absolute floor passes
    # any wrong value below it, and the rounding bound is each element's absolute allowance.
    assert DEFAULT_TOLERANCES["float32"] == Tolerance(atol=0.0, rtol=1.3e-6)
    assert DEFAULT_TOLERANCES["float64"] == Tolerance(atol=0.0, rtol=1e-7)
    assert resolve_tolerance("float32", atol=0.5) == Tolerance(0.5, 1.3e-6)


@pytest.mark.parametrize(
    ("atol", "rtol", "message"),
    [
        (-1e-3, 0.0, "--atol: must be ≥ 0"),
        (0.0, -1.0, "--rtol: must be ≥ 0"),
        (math.nan, 0.0, "--atol: must be a finite number"),
        (0.0, math.inf, "--rtol: must be a finite number"),
    ],
)
def test_bad_tolerances_are_refused(atol: float, rtol: float, message: str) -> None:
    with pytest.raises(GradcheckError) as caught:
        Tolerance(atol, rtol)
    # The command line reads the option, the API the argument name.
    assert caught.value.cli_message.startswith(message)
    assert str(caught.value).startswith(message.removeprefix("--"))
    assert caught.value.field == message.removeprefix("--").split(":")[0]


@pytest.mark.parametrize("piece", [1, 5, 64])
@pytest.mark.parametrize("seed", range(8))
def test_a_tensor_judged_in_pieces_gives_the_same_comparison(
    monkeypatch: pytest.MonkeyPatch, piece: int, seed: int
) -> None:
    """compare() works a piece of elements at a time on large tensors (memory): every field
    must equal the one-piece result — maxima, counts, the first worst index, the norm rule."""
    from gradcheck.core import tolerance as tolerance_module
    from gradcheck.core.bounds import TensorBounds

    rng = np.random.default_rng(seed)
    ref = rng.normal(0, 1, (13, 11)) * 10.0 ** rng.uniform(-8, 1)
    cand = ref * (1 + rng.normal(0, 1e-9, ref.shape))
    cand.flat[rng.integers(0, ref.size, 3)] += rng.normal(0, 1e-5, 3)  # some fail
    if seed % 2:
        cand.flat[rng.integers(0, ref.size)] = np.nan
    kink = np.where(rng.random(ref.shape) < 0.2, np.abs(rng.normal(0, 1e-5, ref.shape)), 0.0)
    limits = TensorBounds(ref.copy(), kink, np.abs(ref) * 1e-15)
    if seed % 4 == 3:  # a tie: the first of two equal worst elements is reported
        ref, cand = np.ones((13, 11)), np.ones((13, 11))
        cand.flat[[20, 90]] += 1.0
        limits = TensorBounds(ref.copy(), np.zeros_like(ref), np.zeros_like(ref))
    tol, ntol = DEFAULT_TOLERANCES["float64"], 1e-6
    whole = compare("W", ref, cand, tol, norm_tol=ntol, bounds=limits)
    monkeypatch.setattr(tolerance_module, "PIECE_ELEMENTS", piece)
    pieces = compare("W", ref, cand, tol, norm_tol=ntol, bounds=limits)
    for field in ("max_abs_error", "max_rel_error", "error_ratio", "norm_error", "norm_ratio"):
        assert getattr(pieces, field) == pytest.approx(getattr(whole, field), rel=1e-12), field
    assert pieces.rounding == pytest.approx(whole.rounding, rel=1e-12)
    assert (pieces.n_failed, pieces.n_nonfinite, pieces.n_at_kink, pieces.n_unjudged) == (
        whole.n_failed,
        whole.n_nonfinite,
        whole.n_at_kink,
        whole.n_unjudged,
    )
    assert pieces.passed == whole.passed
    assert pieces.worst_index == whole.worst_index
    if seed % 4 == 3:
        assert whole.worst_index == np.unravel_index(20, ref.shape)
