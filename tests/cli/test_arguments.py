"""What a new user trips over: stray commas, ``--x=…``, warning sentences, summary lines."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_usage_error, invoke


@pytest.mark.parametrize(
    ("layers", "entry"), [("2,,1", "entry 2"), ("2,3,1,", "entry 4"), (",2,1", "entry 1")]
)
def test_empty_layer_entries_are_usage_errors(layers: str, entry: str) -> None:
    for command in (
        ("run", "--x", "1", "2"),
        ("explain", "--x", "1", "2"),
        ("sweep", "--cases", "2"),
    ):
        result = invoke(*command, "--layers", layers)
        assert_usage_error(result, "--layers", entry, "is empty", "stray comma")


@pytest.mark.parametrize("activation", ["sigmoid,,tanh", "sigmoid,tanh,", " , "])
def test_empty_activation_entries_are_usage_errors(activation: str) -> None:
    result = invoke("run", "--x", "1", "2", "--layers", "2,3,3,3,1", "--activation", activation)
    assert_usage_error(result, "--activation", "is empty")


def test_layers_with_spaces_still_parse() -> None:
    doc = json.loads(invoke("run", "--x", "1", "2", "--layers", "2, 3, 1", "--json").stdout)
    assert doc["settings"]["layers"] == [2, 3, 1]


@pytest.mark.parametrize(
    "args",
    [
        ("--x=0.974", "0.312"),
        ("--x=0.974 0.312",),
        ("--x=", "0.974", "0.312"),
    ],
)
def test_x_with_equals_sign_means_the_same_row(args: tuple[str, ...]) -> None:
    plain = json.loads(invoke("run", "--x", "0.974", "0.312", "--target", "0.5", "--json").stdout)
    result = invoke("run", *args, "--target=0.5", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == plain


def test_assert_backward_first_line_summarises() -> None:
    import importlib.util

    from tests.conftest import SAMPLES

    spec = importlib.util.spec_from_file_location("buggy", SAMPLES / "backward_buggy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from gradcheck.testing import assert_backward

    with pytest.raises(AssertionError) as info:
        assert_backward(module.backward, x=[0.974, 0.312])
    first, *rest = str(info.value).splitlines()
    assert first.startswith("gradcheck: 1 of 6 out of tolerance: W2 (max abs err "), first
    assert first.endswith(")") and "e-" in first
    assert any("W2" in line and "✗" in line for line in rest)  # the table follows
    assert any(line.startswith("FAILED: 1 of 6") for line in rest)
