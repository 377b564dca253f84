"""Inputs and targets from a data file (``--data``, io/inputs.py): CSV with or without a header,
.npz, and one clear exit-2 line naming the line and column of whatever is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SEED_X, assert_usage_error, invoke, run_json
from tests.io.test_weights import _write


def test_csv_with_header_and_npz_give_the_same_check(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(7, 2))
    y = rng.uniform(-1, 1, size=(7, 1))
    csv = tmp_path / "d.csv"
    rows = "\n".join(",".join(repr(float(v)) for v in row) for row in np.hstack([x, y]))
    csv.write_text("x1,x2,y\n" + rows + "\n")
    np.savez(tmp_path / "d.npz", x=x, y=y)
    a = run_json("--data", str(csv))
    b = run_json("--data", str(tmp_path / "d.npz"))
    assert a["settings"]["batch_size"] == 7 and a["passed"] is True
    assert a["parameters"] == b["parameters"]
    assert a["settings"]["x"] == x.tolist()


def test_csv_without_header_multiclass(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("0.1,0.2,2\n0.3,-0.4,0\n")
    doc = run_json("--data", str(csv), "--layers", "2,5,3", "--loss", "cross_entropy")
    assert doc["settings"]["target"] == [2, 0] and doc["passed"] is True


@pytest.mark.parametrize(
    ("content", "args", "fragments"),
    [
        ("", [], ["--data", "file is empty"]),
        ("x1,x2,y\n", [], ["--data", "no data rows"]),
        ("1,2\n", [], [":1: 2 columns, expected 3 (2 inputs + 1 target)"]),
        ("1,2,3\n4,5\n", [], [":2: 2 columns, expected 3"]),
        ("1,2,3\n4,x,6\n", [], [":2: column 2: 'x' is not a number"]),
        ("1,2,nan\n", [], ["--data", ":1: column 3: nan is not a finite float64"]),
        (
            "1,2,5\n",
            ["--layers", "2,3", "--loss", "cross_entropy"],
            ["class index 5 is out of range"],
        ),
        ("1,2,0.5\n", ["--layers", "2,3", "--loss", "cross_entropy"], ["integer class indices"]),
        ("1,2,1.5\n", ["--loss", "bce_logits"], ["bce_logits needs targets in [0, 1], got 1.5"]),
    ],
)
def test_bad_csv(tmp_path: Path, content: str, args: list[str], fragments: list[str]) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text(content)
    assert_usage_error(invoke("run", "--data", str(csv), *args), *fragments)


def test_bad_npz_data(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", x=np.zeros((3, 2)))
    assert_usage_error(invoke("run", "--data", str(tmp_path / "a.npz")), "missing array y")
    np.savez(tmp_path / "b.npz", x=np.zeros((3, 5)), y=np.zeros((3, 1)))
    assert_usage_error(
        invoke("run", "--data", str(tmp_path / "b.npz")), "x has shape (3, 5), expected (batch, 2)"
    )
    np.savez(tmp_path / "c.npz", x=np.zeros((3, 2)), y=np.zeros((4, 1)))
    assert_usage_error(invoke("run", "--data", str(tmp_path / "c.npz")), "y has shape (4, 1)")
    np.savez(tmp_path / "d.npz", x=np.array(["a", "b"]), y=np.zeros(1))
    assert_usage_error(invoke("run", "--data", str(tmp_path / "d.npz")), "x has dtype <U1")
    (tmp_path / "e.json").write_text(json.dumps({"x": [1, 2]}))
    assert_usage_error(invoke("run", "--data", str(tmp_path / "e.json")), "unsupported file type")


def test_data_and_x_together_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("1,2,3\n")
    assert_usage_error(invoke("run", "--data", str(csv), *SEED_X), "either --data or --x")


def test_binary_garbage_csv(tmp_path: Path) -> None:
    path = _write(tmp_path, "g.csv", b"\xff\xfe\x00\x81garbage")
    assert_usage_error(invoke("run", "--data", path), "--data", "not a text file")


def test_sample_data_sets_pass() -> None:
    from tests.conftest import SAMPLES

    seed = run_json("--data", str(SAMPLES / "seed_data.csv"), "--no-arrays")
    assert seed["settings"]["batch_size"] == 1200 and seed["passed"] is True
    multi = run_json(
        "--data",
        str(SAMPLES / "three_class.csv"),
        "--layers",
        "2,16,16,3",
        "--activation",
        "tanh",
        "--loss",
        "cross_entropy",
        "--no-arrays",
    )
    assert multi["settings"]["batch_size"] == 300 and multi["passed"] is True


def test_huge_batch_is_refused_up_front_with_an_estimate(tmp_path: Path) -> None:
    np.savez(tmp_path / "big.npz", x=np.zeros((7000, 2)), y=np.zeros((7000, 1)))
    result = invoke("run", "--data", str(tmp_path / "big.npz"), "--layers", "2,100000,1")
    assert_usage_error(
        result, "--data", "and 7,000 rows would need about", "GiB; the limit is 8 GiB"
    )


def write(tmp_path: Path, text: str, name: str = "d.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_partly_numeric_first_row_is_a_typo_not_a_header(tmp_path: Path) -> None:
    path = write(tmp_path, "0.5,abc,1\n0.1,0.2,0.3\n")
    assert_usage_error(invoke("run", "--data", path), "d.csv:1: column 2: 'abc' is not a number")


def test_header_only_when_no_field_is_a_number(tmp_path: Path) -> None:
    doc = run_json("--data", write(tmp_path, "x1,x2,y\n0.974,0.312,1\n"))
    assert doc["settings"]["batch_size"] == 1
    doc = run_json("--data", write(tmp_path, "\n\n0.974,0.312,1\n\n0.1,0.2,0.3\n"))
    assert doc["settings"]["batch_size"] == 2


@pytest.mark.parametrize(
    "text",
    ["0.974,0.312,1,\n", "0.974,0.312,1,", "x1,x2,y,\n0.974,0.312,1,\n", "0.974, 0.312 ,1 ,\r\n"],
)
def test_trailing_commas_are_tolerated_alike(tmp_path: Path, text: str) -> None:
    doc = run_json("--data", write(tmp_path, text))
    assert doc["settings"]["batch_size"] == 1


def test_wrong_column_count_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "0.974,0.312,1\n0.1,0.2\n")
    assert_usage_error(invoke("run", "--data", path), "d.csv:2: 2 columns, expected 3")


def test_later_bad_cell_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "x1,x2,y\n0.974,0.312,1\n0.1,oops,1\n")
    assert_usage_error(invoke("run", "--data", path), "d.csv:3: column 2: 'oops'")


def test_header_without_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "x1,x2,y\n")
    assert_usage_error(invoke("run", "--data", path), "no data rows")


@pytest.mark.parametrize(
    ("text", "rows"), [("1,2,3\r1,2,3\r", 2), ("1,2,3\r\n0.5,0.5,0\r\n", 2), ("x,y,z\r1,2,3", 1)]
)
def test_carriage_return_line_ends(tmp_path: Path, text: str, rows: int) -> None:
    doc = run_json("--data", write(tmp_path, text))
    assert doc["settings"]["batch_size"] == rows


def test_underscore_number_is_named_like_any_non_number(tmp_path: Path) -> None:
    path = write(tmp_path, "1_0,2,3\n")
    assert_usage_error(invoke("run", "--data", path), "d.csv:1: column 1: '1_0'")


# --------------------------------------------------------------------------------------------
# Messages name the place: file and line of a CSV's or a JSON's value.


@pytest.mark.parametrize(
    ("content", "args", "fragment"),
    [
        ("x1,x2,y\n0.1,0.2,1\n\n0.3,1e400,1\n", [],
         "d.csv:4: column 2: 1e400 is not a finite float64"),
        ("0.1,0.2,-inf\n", [], "d.csv:1: column 3: -inf is not a finite float64"),
        ("0.1,0.2,0\n\n0.3,0.4,7\n", ["--layers", "2,3", "--loss", "cross_entropy"],
         "d.csv:3: class index 7 is out of range for 3 output units"),
        ("x1,x2,y\n0.1,0.2,0.5\n0.3,0.4,2\n", ["--loss", "bce_logits"],
         "d.csv:3: bce_logits needs targets in [0, 1], got 2"),
        ("0,1;0,2;1\n", [],
         "d.csv:1: column 1: '0,1' is not a number (a decimal comma? write 0.1)"),
        ("0.1;0.2\n", [], "d.csv:1: 2 columns (separated by semicolons), expected 3"),
        ("0.1\t0.2\t1\n0.3\t0.4\n", [], "d.csv:2: 2 columns (separated by tabs), expected 3"),
        ("0.1 0.2 1\n0.3 x 1\n", [], "d.csv:2: column 2: 'x' is not a number"),
    ],
)  # fmt: skip
def test_csv_messages_name_file_and_line(
    tmp_path: Path, content: str, args: list[str], fragment: str
) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text(content)
    assert_usage_error(
        invoke("run", "--data", str(csv), *args), "--data: " + str(tmp_path), fragment
    )


@pytest.mark.parametrize(
    "content",
    ["x1;x2;y\n0.974;0.312;1\n-0.5;0.8;0\n", "x1\tx2\ty\n0.974\t0.312\t1\n-0.5\t0.8\t0\n",
     "0.974 0.312 1\n-0.5  0.8 0\n", "0.974;0.312;1;\n-0.5;0.8;0;\n"],
    ids=["semicolons", "tabs", "spaces", "trailing-semicolons"],
)  # fmt: skip
def test_semicolon_tab_and_space_separated_csv_are_read(tmp_path: Path, content: str) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text(content)
    doc = run_json("--data", str(csv))
    assert doc["settings"]["x"] == [[0.974, 0.312], [-0.5, 0.8]]
    assert doc["settings"]["target"] == [[1.0], [0.0]]


@pytest.mark.parametrize("content", [";", ",", "\t", ";\n;\n", " ;"])
def test_a_csv_of_separators_only_has_no_rows(tmp_path: Path, content: str) -> None:
    # Found by the thorough fuzz: ";" alone lost its only line to the trailing-separator rule.
    csv = tmp_path / "d.csv"
    csv.write_text(content)
    assert_usage_error(invoke("run", "--data", str(csv)), "--data", "no data rows")


def test_npz_data_names_the_array_and_index(tmp_path: Path) -> None:
    y = np.ones((3, 1))
    y[2, 0] = np.inf
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)), y=y)
    assert_usage_error(
        invoke("run", "--data", str(tmp_path / "d.npz")),
        "d.npz: y[2, 0] is inf, not a finite float64",
    )
