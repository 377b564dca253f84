"""Every keyword of the Python API takes its documented types; anything else is a
``GradcheckError`` naming the keyword, never a raw exception or a silent coercion."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gradcheck import GradcheckError, Report, check
from gradcheck.checks import arguments
from gradcheck.testing import assert_backward, report_text, summary_line
from tests.conftest import ROOT, SAMPLES

X = [0.974, 0.312]
KEYWORDS = [name for name in inspect.signature(check).parameters]


def _replica_backward(params: dict[str, Any], x: Any, y: Any) -> dict[str, Any]:
    import sys

    sys.path.insert(0, str(SAMPLES))
    try:
        from backward_seed import backward
    finally:
        sys.path.remove(str(SAMPLES))
    result: dict[str, Any] = backward(params, x, y)
    return result


def test_every_keyword_has_one_rule() -> None:
    assert sorted(arguments.RULES) == sorted(KEYWORDS)


# The regression list: each value once raised a raw exception or was taken silently.
@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"layers": 3}, "layers: got an int (3); expected sizes like [2, 10, 10, 1]"),
        ({"layers": [2, None, 1]}, "layers: size 2 is None, not a whole number"),
        ({"layers": [2, float("nan"), 1]}, "layers: size 2 is a float (nan), not a whole number"),
        ({"layers": [2.5, 1]}, "layers: size 1 is a float (2.5), not a whole number"),
        ({"layers": [2.0, 1]}, "layers: size 1 is a float (2.0), not a whole number (give it as"),
        ({"layers": "21"}, "layers: need at least two sizes (inputs and outputs), got 21"),
        ({"dtype": "float16"}, "dtype: unknown 'float16'; choose from float64, float32"),
        ({"dtype": torch.float16}, "dtype: unknown 'float16'"),
        ({"dtype": 32}, "dtype: got an int (32); expected one of float64, float32"),
        ({"seed": "a"}, "seed: got a str ('a'); expected a whole number"),
        ({"seed": 2**70}, "seed: must be from 0 to 2**63 − 1, got 1180591620717411303424"),
        ({"seed": -1}, "seed: must be from 0 to 2**63 − 1, got -1"),
        ({"seed": True}, "seed: got a bool (True); expected a whole number"),
        ({"activation": 5}, "activation: got an int (5); expected a name or a list of names"),
        ({"activation": ["tanh", 5]}, "activation: item 2 is an int (5), not a name"),
        ({"l2": [1]}, "l2: got a list; expected a number"),
        ({"x": np.array(1.0)}, "x: expected 2 values (the first layer has 2 inputs), got 1"),
        ({"x": "0.1 0.2"}, "x: got a str ('0.1 0.2'); expected numbers"),
        ({"x": [0.1, True]}, "x: item 2: a bool (True) is not a real number"),
        ({"x": [[0.1, 0.2], [0.3, "a"]]}, "x: row 2, item 2: a str ('a') is not a real number"),
        ({"x": np.zeros((1, 1, 2))}, "x: an array of 3 dimensions (1, 1, 2)"),
        ({"x": [0.1, 10**400]}, "x: item 2: 100000000000… (401 digits) is too large"),
        ({"x": [1 + 2j, 0.1]}, "x: item 1: a complex ((1+2j)) is not a real number"),
        ({"x": [[0.1, 0.2], 0.3]}, "x: item 2 is a float (0.3) among rows; expected numbers, or"),
        ({"data": np.zeros((2, 3))}, "data: got a numpy array; expected a file name (str or Path)"),
        ({"impl": Path("samples/backward_seed.py")}, "impl: samples/backward_seed.py: expected"),
        ({"impl": _replica_backward}, "impl: got a function; a function is given as backward=…"),
        ({"grads": [1, 2]}, "grads: got a list; expected a dict of gradients"),
        ({"grads": {1: np.zeros(2)}}, "grads: key an int (1) is not a name"),
        ({"weights": {"a": 1}}, "weights: got a dict; expected a file name (str or Path)"),
        ({"backward": 3}, "backward: got an int (3); expected a function backward(params, x, y)"),
        ({"model": torch.nn.Linear}, "model: got the class Linear; pass an instance (Linear())"),
        ({"model": 3}, "model: got an int (3); expected an nn.Module instance or 'FILE.py:NAME'"),
        ({"atol": -1}, "atol: must be ≥ 0, got -1"),
        ({"rtol": float("inf")}, "rtol: must be a finite number, got inf"),
        ({"loss": None}, "loss: got None; expected a name (str)"),
        ({"loss_scale": "2"}, "loss_scale: got a str ('2'); expected a number"),
        ({"oracle": 1}, "oracle: got an int (1); expected a name (str)"),
        ({"probes": 2.0}, "probes: got a float (2.0); expected a whole number"),
        ({"oracle_sample": "3"}, "oracle_sample: got a str ('3'); expected a whole number"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_kind_names_its_keyword(
    keywords: dict[str, Any], message: str
) -> None:
    given_x = {} if "x" in keywords else {"x": X}
    with pytest.raises(GradcheckError) as caught:
        check(**given_x, **keywords)
    assert str(caught.value).startswith(message), str(caught.value)
    assert caught.value.field == next(iter(keywords)), caught.value.field


@pytest.mark.parametrize(
    "keywords",
    [
        {"layers": "2,10,10,1"},
        {"layers": (2, 10, 10, 1)},
        {"layers": np.array([2, 10, 10, 1])},
        {"layers": torch.tensor([2, 10, 10, 1])},
        {"dtype": torch.float32},
        {"dtype": np.float32},
        {"dtype": np.dtype("float64")},
        {"activation": ("tanh", "relu")},
        {"activation": "tanh,relu"},
        {"x": np.array([X, X])},
        {"x": torch.tensor([X], requires_grad=True)},
        {"x": [np.float32(0.974), torch.tensor(0.312)]},
        {"x": (0.974, 0.312), "target": np.array([[0.5]])},
        {"seed": np.int64(3)},
        {"l2": np.float64(0.01)},
        {"loss_scale": 2},
        {"atol": np.float32(1e-7)},
    ],
)
def test_the_documented_types_are_taken(keywords: dict[str, Any]) -> None:
    given_x = {} if "x" in keywords else {"x": X}
    report = check(**given_x, **keywords)
    assert isinstance(report, Report) and report.passed


def test_paths_and_strings_are_taken_for_files() -> None:
    by_path = check(data=SAMPLES / "seed_data.csv", impl=Path("samples/backward_seed.py:backward"))
    by_text = check(data=str(SAMPLES / "seed_data.csv"), impl="samples/backward_seed.py:backward")
    assert by_path.passed and by_text.passed
    assert by_path.settings.candidate == by_text.settings.candidate


def test_the_same_rules_read_the_command_lines_options() -> None:
    from tests.conftest import invoke

    result = invoke("run", "--x", "0.974", "0.312", "--layers", "21")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: --layers: need at least two sizes (inputs and outputs), got 21"
    )


def test_l2_takes_a_number_or_one_per_parameter() -> None:
    assert arguments.validate({"l2": 0.5}) == {"l2": 0.5}
    assert arguments.validate({"l2": {"W1": 1, "b2": np.float32(0.5)}}) == {
        "l2": {"W1": 1.0, "b2": 0.5}
    }
    with pytest.raises(GradcheckError, match=r"^l2 \(W1\): got a str \('a'\); expected a number"):
        arguments.validate({"l2": {"W1": "a"}})
    with pytest.raises(GradcheckError, match=r"^l2: key an int \(1\) is not a parameter name"):
        arguments.validate({"l2": {1: 0.5}})


def test_assert_backward_of_none_is_an_error_not_the_replica() -> None:
    with pytest.raises(GradcheckError, match=r"^fn: got None; assert_backward checks your") as c:
        assert_backward(None, x=X)  # type: ignore[arg-type]
    assert c.value.field == "fn"
    with pytest.raises(GradcheckError, match=r"^fn: got list; assert_backward"):
        assert_backward([], x=X)  # type: ignore[arg-type]
    assert assert_backward(_replica_backward, x=X).passed


def test_report_helpers_take_a_report() -> None:
    report = check(x=X)
    assert summary_line(report).startswith("gradcheck:") and "PASSED" in report_text(report)
    with pytest.raises(GradcheckError, match=r"^report: got a dict; expected a gradcheck Report"):
        summary_line({})  # type: ignore[arg-type]
    with pytest.raises(GradcheckError, match=r"^width: got a str \('80'\); expected a whole"):
        report_text(report, width="80")  # type: ignore[arg-type]
    with pytest.raises(GradcheckError, match=r"^arrays: got an int \(1\); expected True or False"):
        report.to_dict(arrays=1)  # type: ignore[arg-type]


class _Hostile(list):  # type: ignore[type-arg]
    """A list whose items cannot be read: reading them runs the caller's own code."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__([0.1, 0.2])
        self.exc = exc

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise self.exc


@pytest.mark.parametrize("exc", [ValueError("no"), SystemExit(0), GeneratorExit()])
def test_a_container_that_cannot_be_read_names_its_keyword(exc: BaseException) -> None:
    with pytest.raises(GradcheckError, match=r"^x: a _Hostile that cannot be read") as caught:
        check(x=_Hostile(exc))
    assert caught.value.field == "x"


# --------------------------------------------------------------------------------------------
# Property: random values of every type, to every keyword: a report or a GradcheckError that
# names a keyword; nothing else.


class _Opaque:
    pass


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.integers(10**12, 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.complex_numbers(max_magnitude=10, allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=4),
    st.sampled_from(
        ["2,10,10,1", "2,4,1", "21", "float32", "float64", "float16", "tanh", "relu,tanh", "mse",
         "cross_entropy", "sum", "in_out", "central", "sigmoid", "", str(SAMPLES / "seed_data.csv"),
         "samples/backward_seed.py:backward", "nowhere.py:f", "-"]
    ),
)  # fmt: skip
ARRAYS = st.tuples(
    st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.complex128, object]),
    st.sampled_from([(), (2,), (1, 2), (2, 2), (1, 1, 2), (0,), (4,)]),
).map(lambda spec: np.ones(spec[1], dtype=spec[0]))
TENSORS = st.one_of(
    ARRAYS.filter(lambda a: a.dtype != object).map(torch.from_numpy),
    st.just(torch.ones(1, 2, requires_grad=True)),
    st.just(torch.ones(2, device="meta")),
)
OTHERS = st.sampled_from(
    [Path(SAMPLES / "seed_data.csv"), Path("nowhere.csv"),
     Path("samples/backward_seed.py:backward"), _replica_backward, len, lambda *a: None, print,
     torch.float32, torch.float16, np.float32, np.dtype("float64"), float, int, object(),
     _Opaque(), {1, 2}, frozenset(), range(2),
     torch.nn.Linear(2, 1), torch.nn.Linear, ..., NotImplemented, ROOT]
)  # fmt: skip
VALUES = st.recursive(
    st.one_of(SCALARS, ARRAYS, TENSORS, OTHERS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers(0, 2)), inner, max_size=3),
    ),
    max_leaves=6,
)
# ``l2`` as a mapping is the per-parameter L2 term; which networks take one is the network's
# business (``checks/network.py``), so mappings go to the other keywords only.
NOT_FOR_L2 = st.one_of(SCALARS, ARRAYS, TENSORS, OTHERS, st.lists(SCALARS, max_size=3))


@st.composite
def keyword_values(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(KEYWORDS), min_size=1, max_size=3, unique=True))
    return {k: draw(NOT_FOR_L2 if k == "l2" else VALUES) for k in chosen}


@given(keyword_values())
def test_random_values_to_every_keyword_give_a_report_or_an_error_naming_one(
    keywords: dict[str, Any],
) -> None:
    given_x = {} if {"x", "data"} & set(keywords) else {"x": X}
    try:
        report = check(**given_x, **keywords)
    except GradcheckError as error:
        assert error.field in KEYWORDS, (error.field, str(error))
        assert "\n" not in str(error)
        return
    assert isinstance(report, Report) and report.exit_code in (0, 1)
