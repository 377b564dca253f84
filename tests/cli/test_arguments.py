"""How arguments are read: several numbers after ``--x`` (and ``--x=…``), rows of a batch,
negative numbers as values, spaces in lists."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradcheck.cli import join_vector_options
from tests.conftest import invoke, run_json


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


def test_batch_of_rows() -> None:
    doc = run_json("--x", "0.1", "-0.2", "--x", "-0.3", "0.4", "--target", "1", "--target", "-1")
    assert doc["settings"]["batch_size"] == 2
    assert doc["settings"]["x"] == [[0.1, -0.2], [-0.3, 0.4]]
    assert np.shape(doc["forward"]["prediction"]["hand"]) == (2, 1)


def test_negative_numbers_are_values_not_options() -> None:
    assert join_vector_options(["--x", "-0.5", "1e-3", "--seed", "2", "--target", "-inf"]) == [
        "--x",
        "-0.5 1e-3",
        "--seed",
        "2",
        "--target",
        "-inf",
    ]
