"""gradcheck init: a starting file for your own backward that fails with TODOs until filled in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import assert_usage_error, invoke

SEED_X = ("--x", "0.974", "0.312")


# --- gradcheck init ---------------------------------------------------------------------------

CORRECT = {
    "delta_out_mse": "2 * (prediction - y) / prediction.size",
    "delta_out_ce": (
        "(np.exp(prediction - prediction.max(1, keepdims=True)) / "
        "np.exp(prediction - prediction.max(1, keepdims=True)).sum(1, keepdims=True) "
        "- np.eye(prediction.shape[1])[y]) / len(y)"
    ),
    "sigmoid": "(delta{n} @ W{n}) * a{k} * (1 - a{k})",
    "tanh": "(delta{n} @ W{n}) * (1 - a{k} ** 2)",
    "dW": "delta{k}.T @ {a_prev}",
    "db": "delta{k}.sum(axis=0)",
}


def _fill_in(text: str, depth: int, activation: str, loss: str) -> str:
    """The starter file with every todo(...) replaced by the right expression."""
    for k in range(1, depth + 1):
        a_prev = "x" if k == 1 else f"a{k - 1}"
        if k == depth:
            delta = CORRECT["delta_out_ce" if loss == "cross_entropy" else "delta_out_mse"]
        else:
            delta = CORRECT[activation].format(n=k + 1, k=k)
        for name, expr in (
            (f"delta{k}", delta),
            (f"dW{k}", CORRECT["dW"].format(k=k, a_prev=a_prev)),
            (f"db{k}", CORRECT["db"].format(k=k)),
        ):
            text, n = re.subn(
                rf"^    {name} = todo\(.*\)$", f"    {name} = {expr}", text, flags=re.M
            )
            assert n == 1, name
    assert "= todo(" not in text
    return text


def _init(tmp_path: Path, *args: str) -> tuple[Path, str]:
    path = tmp_path / "my_backward.py"
    result = invoke("init", str(path), *args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    command = result.stdout.splitlines()[-1].strip()
    assert command.startswith(f"gradcheck run --impl {path}:backward ")
    assert command in path.read_text()  # the file says how to check it
    return path, command


def _run(command: str) -> object:
    import shlex

    words = shlex.split(command)
    assert words[:2] == ["gradcheck", "run"]
    return invoke(*words[1:])


@pytest.mark.parametrize(
    ("args", "depth", "activation", "loss"),
    [
        ((), 3, "sigmoid", "mse"),
        (
            (
                "--layers",
                "3,4,5,3",
                "--activation",
                "tanh",
                "--loss",
                "cross_entropy",
                "--x",
                "1",
                "2",
                "3",
                "--target",
                "2",
                "--seed",
                "4",
            ),
            3,
            "tanh",
            "cross_entropy",
        ),
        (
            ("--layers", "2,1", "--dtype", "float32", "--x", "0.5", "-1", "--x", "2", "3"),
            1,
            "sigmoid",
            "mse",
        ),
    ],
)
def test_init_fails_with_todos_until_filled_in_then_passes(
    tmp_path: Path, args: tuple[str, ...], depth: int, activation: str, loss: str
) -> None:
    path, command = _init(tmp_path, *args)
    text = path.read_text()
    compile(text, str(path), "exec")
    assert text.count("= todo(") == 3 * depth
    result = _run(command)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    last = result.stderr.strip().splitlines()[-1]  # type: ignore[attr-defined]
    assert last.startswith(
        f"Error: --impl: {path}:backward raised NotImplementedError: TODO: δ{depth}"
    )
    assert f"shape (batch, {3 if loss == 'cross_entropy' else 1})" in last
    path.write_text(_fill_in(text, depth, activation, loss))
    result = _run(command)
    assert result.exit_code == 0, (result.stdout, result.stderr)  # type: ignore[attr-defined]


def test_init_with_batch_axis_last_writes_column_code_that_passes_when_filled_in(
    tmp_path: Path,
) -> None:
    path, command = _init(tmp_path, "--batch-axis", "last", "--x", "0.5", "0.1", "--x", "1", "2")
    assert command.endswith("--batch-axis last")
    text = path.read_text()
    assert "z1 = W1 @ x + b1  # (10, batch)" in text and "b{l} is (n_l, 1)" in text
    assert "shape (10, batch)" in text and "shape (10, 1)" in text
    fills = {
        "delta3": "2 * (prediction - y) / prediction.size",
        "delta2": "(W3.T @ delta3) * a2 * (1 - a2)",
        "delta1": "(W2.T @ delta2) * a1 * (1 - a1)",
    }
    for k in (1, 2, 3):
        fills[f"dW{k}"] = f"delta{k} @ {'x' if k == 1 else f'a{k - 1}'}.T"
        fills[f"db{k}"] = f"delta{k}.sum(axis=1, keepdims=True)"
    for name, expr in fills.items():
        text, n = re.subn(rf"^    {name} = todo\(.*\)$", f"    {name} = {expr}", text, flags=re.M)
        assert n == 1, name
    path.write_text(text)
    result = _run(command)
    assert result.exit_code == 0, (result.stdout, result.stderr)  # type: ignore[attr-defined]


def test_init_todo_names_each_delta_in_turn(tmp_path: Path) -> None:
    path, command = _init(tmp_path)
    text = path.read_text()
    text = re.sub(
        r"^    delta3 = todo\(.*\)$", "    delta3 = 2 * (prediction - y)", text, flags=re.M
    )
    path.write_text(text)
    last = _run(command).stderr.strip().splitlines()[-1]  # type: ignore[attr-defined]
    assert last.endswith("TODO: ∂L/∂W3 from δ3 and a2, shape (1, 10)")


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:

    path = tmp_path / "mine.py"
    path.write_text("precious = 1\n")
    assert_usage_error(invoke("init", str(path)), "already exists", "not overwriting")
    assert path.read_text() == "precious = 1\n"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("notes.txt",), ("expected a .py file name",)),
        (("x.py", "--x", "1", "2", "3"), ("--x: expected 2 values",)),
        (("x.py", "--layers", "2,,1"), ("--layers: entry 2 of", "is empty")),
        (("x.py", "--activation", "nope"), ("--activation",)),
        (("missing-dir/x.py",), ("cannot write it",)),
    ],
)
def test_init_bad_usage_is_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    fragments: tuple[str, ...],
) -> None:

    monkeypatch.chdir(tmp_path)
    assert_usage_error(invoke("init", *args), *fragments)
    assert list(tmp_path.iterdir()) == []
