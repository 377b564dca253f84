"""Gradient files (``--grads``, io/gradsfile.py): .npz and .json with hand or torch names, and
one clear exit-2 line for every way such a file can be wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradcheck.core.spec import NetSpec
from gradcheck.torch_side.reference import init_state
from tests.checks.test_classic_bugs import correct
from tests.conftest import SAMPLES, SEED_X, assert_usage_error, invoke


def test_grads_json_nested_too_deeply(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"W1": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert_usage_error(invoke("run", *SEED_X, "--grads", str(path)), "--grads", "nested too deeply")


def test_grads_json_nested_three_deep_is_not_a_gradient(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"W1": [[[1.0]]]}')
    assert_usage_error(invoke("run", *SEED_X, "--grads", str(path)), "--grads", "nested 3 deep")


def test_grads_json_integer_beyond_float_range(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text('{"W1": [[1' + "0" * 400 + ']], "b3": 1' + "0" * 400 + "}")
    assert_usage_error(
        invoke("run", *SEED_X, "--grads", str(path)), "--grads", "too large for a float64"
    )


def test_grads_json_integer_with_too_many_digits(tmp_path: Path) -> None:
    path = tmp_path / "digits.json"
    path.write_text('{"W1": ' + "9" * 5000 + "}")
    assert_usage_error(invoke("run", *SEED_X, "--grads", str(path)), "--grads", "not valid JSON")


def seed_grads(seed: int = 0) -> dict[str, np.ndarray]:
    params = init_state(NetSpec(), seed)
    return correct(params, np.array([[0.974, 0.312]]), np.array([[1.0]]))


def run_grads(path: Path, *extra: str) -> Any:
    return invoke("run", *SEED_X, "--grads", str(path), *extra)


def test_grads_npz_exits_0_and_is_named(tmp_path: Path) -> None:
    path = tmp_path / "g.npz"
    np.savez(path, **seed_grads())
    result = run_grads(path, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["settings"]["candidate"] == f"grads:{path}"


def test_grads_json_with_torch_names(tmp_path: Path) -> None:
    names = [
        "dense.0.weight",
        "dense.0.bias",
        "dense.2.weight",
        "dense.2.bias",
        "dense.4.weight",
        "dense.4.bias",
    ]
    path = tmp_path / "g.json"
    path.write_text(
        json.dumps({n: v.tolist() for n, v in zip(names, seed_grads().values(), strict=True)})
    )
    assert run_grads(path).exit_code == 0
    assert run_grads(path, "--seed", "1").exit_code == 1  # other weights: other gradients


def test_grads_json_nonfinite_strings_fail_the_check(tmp_path: Path) -> None:
    doc: dict[str, Any] = {k: v.tolist() for k, v in seed_grads().items()}
    doc["b3"] = ["Infinity"]
    path = tmp_path / "g.json"
    path.write_text(json.dumps(doc))
    result = run_grads(path)
    assert result.exit_code == 1 and "(NaN/inf in b3)" in result.stdout


def test_grads_wrong_weights_are_diagnosed(tmp_path: Path) -> None:
    g = seed_grads()
    g["W2"] = g["W2"].T.copy()
    path = tmp_path / "g.npz"
    np.savez(path, **g)
    doc = json.loads(run_grads(path, "--json").stdout)
    assert [d["kind"] for d in doc["diagnosis"]] == ["layer", "transposed"]


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        ("g.csv", "1,2\n", ("--grads:", "unsupported file type '.csv'; expected .npz or .json")),
        ("g.json", "{not json", ("--grads:", "not valid JSON")),
        ("g.json", "[1, 2]", ("--grads:", "holds a JSON list, expected an object")),
        ("g.json", '{"W1": [[1, 2], [3]]}', ("--grads:", "W1 is not a rectangular array")),
        ("g.npz", "not a zip", ("--grads:", "not a readable .npz file")),
    ],
)
def test_grads_bad_files(
    tmp_path: Path, name: str, content: str, fragments: tuple[str, ...]
) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert_usage_error(run_grads(path), *fragments)


def test_grads_missing_key_and_bad_shape(tmp_path: Path) -> None:
    g = seed_grads()
    del g["b2"]
    path = tmp_path / "g.npz"
    np.savez(path, **g)
    assert_usage_error(run_grads(path), f"--grads: {path} is missing b2")
    g = seed_grads()
    g["W3"] = g["W3"].reshape(10)
    np.savez(path, **g)
    assert_usage_error(run_grads(path), "W3 in", "has shape (10,), expected (1, 10)")
    assert_usage_error(run_grads(tmp_path / "none.npz"), "--grads:", "no such file")


def test_bad_layout_shapes_exit_2(tmp_path: Path) -> None:
    impl = str(SAMPLES / "backward_seed.py") + ":backward"
    grads = tmp_path / "g.npz"
    np.savez(
        grads,
        W1=np.zeros((10, 2)),
        b1=np.zeros(10),
        W2=np.zeros((10, 10)),
        b2=np.zeros(10),
        W3=np.zeros((1, 10)),
        b3=np.zeros(1),
    )
    result = invoke("run", "--x", "0.1", "0.2", "--layout", "in_out", "--grads", str(grads))
    assert_usage_error(
        result, "--grads", "W1 in", "has shape (10, 2), expected (2, 10)", "add --layout out_in"
    )
    del impl


# --------------------------------------------------------------------------------------------
# Messages name the file, line and element of a value.


def _grads_text(**changes: str) -> str:
    """The seed network's gradients as indented JSON, one value per line, with replacements."""
    shapes = {"W1": (10, 2), "b1": (10,), "W2": (10, 10), "b2": (10,), "W3": (1, 10), "b3": (1,)}
    text = json.dumps({k: np.zeros(s).tolist() for k, s in shapes.items()}, indent=1)
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text


@pytest.mark.parametrize(
    ("find", "put", "fragment"),
    [
        ('"W3": [\n  [\n   0.0', '"W3": [\n  [\n   1e400',
         "g.json:192: W3[0][0]: 1e400 is not a finite float64"),
        ('"b2": [\n  0.0,\n  0.0', '"b2": [\n  0.0,\n  true',
         "g.json:180: b2[1]: true is not a number"),
        ('"b1": [\n  0.0', '"b1": [\n  ' + "9" * 400,
         "g.json:45: b1[0]: an integer too large for a float64 (400 digits)"),
        ('"b1": [\n  0.0,', '"b1": [\n  [0.0],',
         "g.json:44: b1 is not a rectangular array of numbers"),
        ('"W1": [\n  [\n   0.0', '"W1": [\n  [\n   [0.0]',
         "g.json:2: W1 is nested 3 deep or more"),
    ],
)  # fmt: skip
def test_grads_json_messages_name_file_and_line(
    tmp_path: Path, find: str, put: str, fragment: str
) -> None:
    path = tmp_path / "g.json"
    path.write_text(_grads_text(**{find: put}))
    assert_usage_error(
        invoke("run", *SEED_X, "--grads", str(path)), "--grads: " + str(tmp_path), fragment
    )


def test_grads_json_nonfinite_words_stay_a_failed_check(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text(_grads_text(**{'"b3": [\n  0.0': '"b3": [\n  "NaN"'}))
    result = invoke("run", *SEED_X, "--grads", str(path))
    assert result.exit_code == 1 and "FAILED" in result.stdout


@pytest.mark.parametrize("dtype", [np.float16, np.int8, np.int64, np.complex64])
def test_grads_npz_must_be_float32_or_float64(tmp_path: Path, dtype: type) -> None:
    shapes = {"W1": (10, 2), "b1": (10,), "W2": (10, 10), "b2": (10,), "W3": (1, 10), "b3": (1,)}
    np.savez(tmp_path / "g.npz", **{k: np.zeros(s, dtype=dtype) for k, s in shapes.items()})
    assert_usage_error(
        invoke("run", *SEED_X, "--grads", str(tmp_path / "g.npz")),
        f"--grads: {tmp_path}/g.npz: W1 has dtype {np.dtype(dtype)}; gradients are float32 or "
        "float64",
    )
    np.savez(tmp_path / "ok.npz", **{k: np.zeros(s, dtype=np.float32) for k, s in shapes.items()})
    assert invoke("run", *SEED_X, "--grads", str(tmp_path / "ok.npz")).exit_code in (0, 1)
