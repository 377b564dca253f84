"""How arrays cross to and from the user's code: bias shapes (n,), (n, 1), (1, n) in every
result and gradients file, both layouts; --batch-axis last (what the code receives, what is
read back, --grads and --data); course names (dW1, db1, dZ1, dA1, dAL) and what dZ and dA are
compared with; every bad value exit 2 naming the option or the key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import gradcheck
from gradcheck.core.answer import course_factor
from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import NetSpec
from gradcheck.torch_side import reference
from tests.checks.test_classic_bugs import correct
from tests.conftest import assert_usage_error, invoke, run_json

X = [[0.974, 0.312], [-0.5, 0.8], [0.1, -0.9]]
Y = [[0.5], [0.2], [0.9]]
ROWS = ["--x", "0.974", "0.312", "--x", "-0.5", "0.8", "--x", "0.1", "-0.9"]
ROWS += ["--target", "0.5", "--target", "0.2", "--target", "0.9"]


def seed_grads(x: list[list[float]] = X, y: list[list[float]] = Y) -> dict[str, np.ndarray]:
    """The correct gradients of the seed's network on the batch, W (out, in), b (n,)."""
    spec = NetSpec()
    return correct(reference.init_state(spec, 0), np.array(x), np.array(y))


BIAS_SHAPES = {
    "flat": lambda b: b,
    "column": lambda b: b.reshape(-1, 1),
    "row": lambda b: b.reshape(1, -1),
}


@pytest.mark.parametrize("layout", ["out_in", "in_out"])
@pytest.mark.parametrize("shape", sorted(BIAS_SHAPES))
def test_bias_shapes_in_results_and_files(shape: str, layout: str, tmp_path: Path) -> None:
    fix = BIAS_SHAPES[shape]
    grads = {
        k: fix(v) if k.startswith("b") else (v.T if layout == "in_out" else v)
        for k, v in seed_grads().items()
    }

    def backward(p: dict, x: np.ndarray, y: np.ndarray) -> dict:
        return grads

    assert gradcheck.check(X, Y, backward=backward, layout=layout, probes=0).passed
    assert gradcheck.check(X, Y, grads=grads, layout=layout).passed
    np.savez(tmp_path / "g.npz", **grads)
    (tmp_path / "g.json").write_text(json.dumps({k: v.tolist() for k, v in grads.items()}))
    for name in ("g.npz", "g.json"):
        doc = run_json(*ROWS, "--layout", layout, "--grads", str(tmp_path / name))
        assert doc["passed"], (name, doc["failed"])
        assert [p["shape"] for p in doc["parameters"]][1] == [10]  # reported as torch holds b


def test_a_bias_that_was_not_summed_is_named(tmp_path: Path) -> None:
    grads = seed_grads()
    grads["b2"] = np.tile(grads["b2"], (3, 1))  # (batch, n): δ2 itself
    np.savez(tmp_path / "g.npz", **grads)
    assert_usage_error(
        invoke("run", *ROWS, "--grads", str(tmp_path / "g.npz")),
        "--grads: b2 in",
        "has shape (3, 10), expected (10,) (a bias gradient sums δ over the batch",
    )


# ---------------------------------------------------------------------------------------------
# --batch-axis last


def column_backward(p: dict, x: np.ndarray, y: np.ndarray) -> dict:
    """The seed's network in column form, checking what it receives."""
    assert x.shape[0] == 2 and y.shape[0] == 1 and p["b1"].shape == (10, 1)

    def sig(z: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-z))

    a1 = sig(p["W1"] @ x + p["b1"])
    a2 = sig(p["W2"] @ a1 + p["b2"])
    z3 = p["W3"] @ a2 + p["b3"]
    d3 = 2 * (z3 - y) / z3.size
    d2 = (p["W3"].T @ d3) * a2 * (1 - a2)
    d1 = (p["W2"].T @ d2) * a1 * (1 - a1)
    return {
        "W1": d1 @ x.T,
        "b1": d1.sum(axis=1, keepdims=True),
        "W2": d2 @ a1.T,
        "b2": d2.sum(axis=1, keepdims=True),
        "W3": d3 @ a2.T,
        "b3": d3.sum(axis=1, keepdims=True),
        "delta1": d1,
        "delta3": d3,
        "prediction": z3,
    }


def test_batch_axis_last_hands_over_columns_and_reads_columns_back() -> None:
    report = gradcheck.check(
        np.array(X).T, np.array(Y).T, backward=column_backward, batch_axis="last"
    )
    assert report.passed, report.failed
    assert [c.name for c in report.forward] == ["prediction"]
    assert [c.name for c in report.deltas] == ["delta1", "delta3"]
    assert report.deltas[0].shape == (3, 10)  # compared as (batch, n), as autograd holds δ
    doc = report.to_dict(arrays=False)
    assert doc["settings"]["batch_axis"] == "last"
    assert all(p["passed"] for p in doc["probes"])  # probe batches are columns too


def test_batch_axis_last_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "cols.py"
    import inspect

    path.write_text("import numpy as np\n\n\n" + inspect.getsource(column_backward))
    doc = run_json(*ROWS, "--batch-axis", "last", "--impl", f"{path}:column_backward")
    assert doc["passed"] and doc["settings"]["batch_axis"] == "last"
    assert "--batch-axis last" in doc["probes"][0]["command"]


def test_class_indices_with_batch_axis_last_are_a_row() -> None:
    seen = {}

    def backward(p: dict, x: np.ndarray, y: np.ndarray) -> dict:
        seen.setdefault("x", x.shape)  # the first call: the finder tries rows afterwards
        seen.setdefault("y", y.shape)
        return {k: np.zeros_like(v) for k, v in p.items()}

    gradcheck.check(
        [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]],  # 2 inputs × 3 examples
        [2, 0, 1],
        layers=[2, 4, 3],
        loss="cross_entropy",
        backward=backward,
        batch_axis="last",
        probes=0,
    )
    assert seen == {"x": (2, 3), "y": (1, 3)}


def test_grads_file_with_batch_axis_last(tmp_path: Path) -> None:
    grads = seed_grads()
    spec = NetSpec()
    auto = reference.autograd(spec, reference.init_state(spec, 0), np.array(X), np.array(Y))
    columns = {**grads, "delta2": auto.deltas["delta2"].T, "b1": grads["b1"].reshape(-1, 1)}
    np.savez(tmp_path / "g.npz", **columns)
    doc = run_json(*ROWS, "--batch-axis", "last", "--grads", str(tmp_path / "g.npz"))
    assert doc["passed"] and [d["name"] for d in doc["deltas"]] == ["delta2"]
    # the same file on rows: the δ looks transposed, and the error says what to do
    assert_usage_error(
        invoke("run", *ROWS, "--grads", str(tmp_path / "g.npz")),
        "--grads: delta2 in",
        "has shape (10, 3), expected (3, 10)",
        "your arrays look transposed: examples as columns? use --batch-axis last",
    )


def test_data_npz_with_batch_axis_last(tmp_path: Path) -> None:
    np.savez(tmp_path / "cols.npz", x=np.array(X).T, y=np.array(Y).T)
    np.savez(tmp_path / "rows.npz", x=np.array(X), y=np.array(Y))
    cols = run_json("--data", str(tmp_path / "cols.npz"), "--batch-axis", "last")
    rows = run_json("--data", str(tmp_path / "rows.npz"))
    assert cols["settings"]["x"] == rows["settings"]["x"] == X
    assert_usage_error(
        invoke("run", "--data", str(tmp_path / "rows.npz"), "--batch-axis", "last"),
        "--data:",
        "x has shape (3, 2), expected (2, batch) with --batch-axis last",
        "examples as rows? use --batch-axis first",
    )
    assert_usage_error(
        invoke("run", "--data", str(tmp_path / "cols.npz"), "--layers", "2,4,3"),
        "--data:",
        "x has shape (2, 3), expected (batch, 2)",
        "examples as columns? use --batch-axis last",
    )


def test_rows_given_to_column_code_say_use_batch_axis_last(tmp_path: Path) -> None:
    def backward(p: dict, x: np.ndarray, y: np.ndarray) -> dict:
        return column_backward(p, x, y)

    with pytest.raises(GradcheckError) as err:
        gradcheck.check(X, Y, backward=backward)
    hint = "your arrays look transposed: examples as columns? use --batch-axis last"
    assert hint in err.value.cli_message
    assert hint.replace("--batch-axis", "batch_axis") in str(err.value)  # the API's names


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--batch-axis", "columns"], ["'columns' is not one of 'first', 'last'"]),
        (["--batch-axis", ""], ["'' is not one of"]),
    ],
)
def test_bad_batch_axis_exits_2(args: list[str], fragments: list[str]) -> None:
    assert_usage_error(invoke("run", *ROWS, *args), "--batch-axis", *fragments)


def test_bad_batch_axis_in_the_api_names_the_keyword() -> None:
    with pytest.raises(GradcheckError, match=r"^batch_axis: unknown 'columns'; choose from"):
        gradcheck.check(X, Y, batch_axis="columns")
    # columns that are not a table of numbers are refused by x's own validation
    with pytest.raises(GradcheckError, match=r"^x \(row 2\): expected 2 values"):
        gradcheck.check([[0.1, 0.2], [0.3]], batch_axis="last")


# ---------------------------------------------------------------------------------------------
# Course names


def course_names(grads: dict) -> dict:
    return {("d" + k): v for k, v in grads.items()}


def test_course_names_dw_db(tmp_path: Path) -> None:
    assert gradcheck.check(X, Y, grads=course_names(seed_grads())).passed
    np.savez(tmp_path / "g.npz", **course_names(seed_grads()))
    assert run_json(*ROWS, "--grads", str(tmp_path / "g.npz"))["passed"]


def test_autograd_course_values_are_m_times_torchs_own() -> None:
    """dA_l against ∂L/∂a_l computed in torch by hand (a0 = x, aL = ŷ), times the batch size
    under a mean; dZ_l against ∂L/∂z_l likewise."""
    spec = NetSpec((2, 4, 3), "tanh", "mse", "float64", "sigmoid")
    params = reference.init_state(spec, 1)
    x = np.array(X)
    y = np.array([[0.1, 0.5, 0.9], [0.2, 0.4, 0.6], [0.3, 0.3, 0.3]])
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    a0 = torch.tensor(x, requires_grad=True)
    z1 = a0 @ t["W1"].T + t["b1"]
    a1 = torch.tanh(z1)
    z2 = a1 @ t["W2"].T + t["b2"]
    a2 = torch.sigmoid(z2)
    for v in (z1, a1, z2, a2):
        v.retain_grad()
    torch.nn.functional.mse_loss(a2, torch.tensor(y)).backward()
    got = reference.autograd(spec, params, x, y).course
    m = course_factor("mean", 3)
    assert m == 3.0 and course_factor("sum", 3) == 1.0
    for name, expected in {
        "dA0": a0.grad,
        "dA1": a1.grad,
        "dA2": a2.grad,
        "dZ1": z1.grad,
        "dZ2": z2.grad,
    }.items():
        np.testing.assert_allclose(got[name], m * expected.numpy(), rtol=1e-12, atol=1e-15)


def test_course_dA_and_dZ_in_a_dict_are_rows_of_their_own(tmp_path: Path) -> None:
    spec = NetSpec()
    auto = reference.autograd(spec, reference.init_state(spec, 0), np.array(X), np.array(Y))
    course = dict(auto.course)
    grads = {
        **course_names(seed_grads()),
        "dA1": course["dA1"],
        "dAL": course["dA3"],
        "dZ2": course["dZ2"],
    }
    report = gradcheck.check(X, Y, grads=grads)
    assert report.passed
    labels = {c.name: c.kind for c in report.deltas}
    assert labels == {"dZ2": "course", "dA1": "course", "dA3": "course"}
    table = invoke("run", *ROWS, "--grads", _saved(tmp_path, grads)).stdout
    assert "dA1 = m·∂L/∂a1" in table and "dA3 = m·∂L/∂ŷ" in table and "dZ2 = m·∂L/∂z2" in table
    # dA with the mean's 1/m applied is off by exactly the batch size, and said so
    grads["dA1"] = course["dA1"] / 3
    report = gradcheck.check(X, Y, grads=grads)
    [finding] = [f for f in report.diagnosis if f.parameter == "dA1"]
    assert finding.kind == "batch_sum_vs_mean" and "×1/3" in finding.message


def _saved(tmp_path: Path, grads: dict) -> str:
    path = tmp_path / "course.npz"
    np.savez(path, **grads)
    return str(path)


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"dX1": np.zeros(2)}, ["unexpected key 'dX1'", "dZ1 … dZ3, dA0 … dA3 (dAL)"]),
        ({"dW0": np.zeros(2)}, ["unexpected key 'dW0'"]),
        ({"dA4": np.zeros(2)}, ["unexpected key 'dA4'"]),
        ({"W1": np.zeros((10, 2))}, ["gives W1 twice (as dW1 and W1)"]),
        ({"dA3": np.zeros((3, 1)), "dAL": np.zeros((3, 1))}, ["gives dA3 twice (as dA3 and dAL)"]),
        (
            {"dA3": np.zeros((3, 10))},
            [
                "dA3 in grads has shape (3, 10), expected (3, 1) (dA3 is ∂L/∂a3; yours has the "
                "shape of a2: keyed one layer up?)"
            ],
        ),
    ],
)
def test_bad_course_keys(change: dict, fragments: list[str]) -> None:
    grads = {**course_names(seed_grads()), **change}
    with pytest.raises(GradcheckError) as err:
        gradcheck.check(X, Y, grads=grads)
    for fragment in fragments:
        assert fragment in str(err.value)
