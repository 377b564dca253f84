"""The Python API: ``from gradcheck import check``, its keywords, ``Report.to_dict()`` and the
displays (repr, rich, HTML)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import gradcheck
from gradcheck import GradcheckError, Report, check
from gradcheck.core import functions
from gradcheck.output import documents
from tests.conftest import assert_valid_document, invoke
from tests.torch_side.test_model import net_and_grads


def test_check_mirrors_run_and_returns_a_report() -> None:
    report = check(x=[0.974, 0.312], target=[0.5], seed=3)
    assert isinstance(report, Report)
    assert report.passed is True and report.exit_code == 0
    assert [p.name for p in report.parameters] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [p.torch_name for p in report.parameters][:2] == ["dense.0.weight", "dense.0.bias"]
    w2 = report.parameters[2]
    assert w2.shape == (10, 10) and w2.passed and w2.max_abs_error < 1e-15
    doc = report.to_dict()
    assert doc == documents.to_dict(report)
    assert_valid_document(doc)
    # The same document as the CLI's, number for number.
    cli_doc = json.loads(
        invoke("run", "--x", "0.974", "0.312", "--target", "0.5", "--seed", "3", "--json").stdout
    )
    assert json.loads(documents.dumps(doc)) == cli_doc
    assert "autograd" not in report.to_dict(arrays=False)["parameters"][0]


def test_check_keywords_cover_the_options() -> None:
    report = check(
        x=[[0.3, -0.7, 0.2], [-0.1, 0.5, 0.9]],
        target=[[2], [0]],
        layers=[3, 5, 3],
        activation="tanh",
        loss="cross_entropy",
        dtype="float32",
        seed=4,
        atol=1e-4,
        rtol=1e-5,
    )
    s = report.to_dict(arrays=False)["settings"]
    assert (s["layers"], s["activation"], s["loss"], s["dtype"]) == (
        [3, 5, 3],
        "tanh",
        "cross_entropy",
        "float32",
    )
    assert (s["atol"], s["rtol"], s["batch_size"], s["target"]) == (1e-4, 1e-5, 2, [2, 0])
    assert report.passed


def test_failing_report(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = dataclasses.replace(functions.ACTIVATIONS["sigmoid"], df=np.ones_like)
    monkeypatch.setitem(functions.ACTIVATIONS, "sigmoid", broken)
    report = check(x=[0.974, 0.312])
    assert report.passed is False and report.exit_code == 1
    assert report.failed == ("W1", "b1", "W2", "b2", "delta1", "delta2")
    assert report.to_dict()["failed"] == list(report.failed)


def test_bad_input_raises_gradcheck_error() -> None:
    # Errors name the API argument; the same error read by the CLI names the option.
    with pytest.raises(GradcheckError, match=r"^x: expected 2 values \(the first layer") as x_err:
        check(x=[0.1])
    assert x_err.value.field == "x" and x_err.value.cli_message.startswith("--x: expected 2")
    with pytest.raises(GradcheckError, match=r"^loss: unknown 'hinge'"):
        check(x=[0.1, 0.2], loss="hinge")
    with pytest.raises(GradcheckError, match=r"^data: give either data or x/target, not both"):
        check(x=[0.1, 0.2], data="samples/seed_data.csv")
    result = invoke("run", "--x", "0.1")
    assert result.exit_code == 2 and result.stderr.startswith("Error: --x: expected 2 values")


def test_public_surface_is_small_and_typed() -> None:
    assert sorted(gradcheck.__all__) == [
        "GradcheckError",
        "LayerReport",
        "Report",
        "__version__",
        "check",
        "check_layer",
    ]
    assert (Path(gradcheck.__file__).parent / "py.typed").is_file()
    assert callable(gradcheck.check) and gradcheck.check.__module__ == "gradcheck.api"
    assert gradcheck.check_layer.__module__ == "gradcheck.api"


@pytest.mark.slow
def test_import_is_light_and_check_survives_submodule_imports() -> None:
    # Fresh interpreter: importing the package loads neither numpy nor torch, and importing
    # the submodules (as gradcheck.checks.explain does) does not shadow the function.
    code = (
        "import sys\n"
        "import gradcheck\n"
        "light = 'numpy' not in sys.modules and 'torch' not in sys.modules\n"
        "import gradcheck.checks.pipeline, gradcheck.checks.explain\n"
        "from gradcheck import check\n"
        "print(light, callable(check) and check.__name__ == 'check', 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "False"]


def test_grads_keyed_by_hand_names_arrays_and_lists_work() -> None:
    net, x, y, grads = net_and_grads()
    hand = {
        "W1": grads["fc1.weight"].numpy(),
        "b1": grads["fc1.bias"].numpy(),
        "W2": grads["fc2.weight"].numpy(),
        "b2": grads["fc2.bias"].numpy(),
    }
    kwargs = {"loss": "nll", "reduction": "sum", "loss_scale": 0.5, "l2": 0.01}
    report = gradcheck.check(model=net, x=x.numpy(), target=y.tolist(), grads=hand, **kwargs)
    assert report.passed
    hand["W2"] = hand["W2"] * 2.0
    failing = gradcheck.check(model=net, x=x.tolist(), target=y.numpy(), grads=hand, **kwargs)
    assert failing.failed == ("W2",) and failing.exit_code == 1


def test_float32_model_and_its_own_gradients_pass_at_float32() -> None:
    net, x, y, grads = net_and_grads(torch.float32)
    report = gradcheck.check(
        model=net,
        x=x,
        target=y,
        grads=grads,
        loss="nll",
        reduction="sum",
        loss_scale=0.5,
        l2=0.01,
        dtype="float32",
    )
    assert report.passed, report


def test_displays() -> None:
    report = gradcheck.check(x=[0.974, 0.312])
    text = repr(report)
    assert text == "<gradcheck.Report PASSED · 2→10→10→1 sigmoid, mse · batch 1>"
    from rich.console import Console

    console = Console(width=120, record=True, color_system=None)
    console.print(report)
    printed = console.export_text()
    assert "W1 · dense.0.weight" in printed and "PASSED: all" in printed
    assert report._repr_html_().startswith("<!DOCTYPE html>") or "<pre" in report._repr_html_()
    bad = gradcheck.check(
        x=[0.974, 0.312], backward=lambda p, x, y: {k: v * 0 for k, v in p.items()}
    )
    assert repr(bad).startswith("<gradcheck.Report FAILED 6 of ")
    assert ": W1, b1, W2, b2, W3, b3" in repr(bad) and "\n" not in repr(bad)


def test_api_keywords_for_every_network_option() -> None:
    report = gradcheck.check(
        x=[[0.1, 0.2], [0.3, -0.4]],
        target=[[0.5], [0.25]],
        layers=[2, 4, 3, 1],
        activation=["tanh", "relu"],
        output_activation="sigmoid",
        loss="bce",
        reduction="sum",
        loss_scale=2.0,
        l2=0.1,
        layout="in_out",
    )
    assert report.passed
    s = report.to_dict()["settings"]
    assert (s["activations"], s["output_activation"], s["reduction"]) == (
        ["tanh", "relu"],
        "sigmoid",
        "sum",
    )
    assert (s["loss_scale"], s["l2"], s["layout"]) == (2.0, 0.1, "in_out")


def test_api_refuses_a_non_module_model() -> None:
    with pytest.raises(GradcheckError, match="model: got a dict"):
        gradcheck.check(x=[0.1, 0.2], model={"W1": np.zeros((1, 2))})


def seed_hand_gradients(model: torch.nn.Module, x: np.ndarray, v: np.ndarray) -> dict:
    """The notebook's derivation (column vectors, the seed's δ3, δ2, δ1) in the model's own
    dtype, as the seed's user writes it."""
    state = {k: t.detach().numpy() for k, t in model.state_dict().items()}
    w1, b1 = state["dense.0.weight"], state["dense.0.bias"]
    w2, b2 = state["dense.2.weight"], state["dense.2.bias"]
    w3, b3 = state["dense.4.weight"], state["dense.4.bias"]

    def sig(z: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-z))

    z1 = w1 @ x + b1
    a1 = sig(z1)
    z2 = w2 @ a1 + b2
    a2 = sig(z2)
    z3 = w3 @ a2 + b3
    d3 = 2 * z3 - 2 * v
    d2 = (w3.T @ d3) * sig(z2) * (1 - sig(z2))
    d1 = (w2.T @ d2) * sig(z1) * (1 - sig(z1))
    return {
        "W1": np.outer(d1, x),
        "b1": d1,
        "W2": np.outer(d2, a1),
        "b2": d2,
        "W3": np.outer(d3, a2),
        "b3": d3,
    }


class SeedModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dense = torch.nn.Sequential(
            torch.nn.Linear(2, 10),
            torch.nn.Sigmoid(),
            torch.nn.Linear(10, 10),
            torch.nn.Sigmoid(),
            torch.nn.Linear(10, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(x)


def test_float32_hand_gradients_follow_their_dtype_over_seeds() -> None:
    failed = []
    for seed in range(20):
        torch.manual_seed(seed)
        model = SeedModel()
        x = np.array([0.97436534, 0.31171513], dtype=np.float32)
        v = np.array([1.0], dtype=np.float32)
        hand = seed_hand_gradients(model, x, v)
        assert hand["W1"].dtype == np.float32
        report = gradcheck.check(model=model, x=x, target=v, grads=hand)
        assert report.settings.spec.dtype == "float32"
        assert [w.kind for w in report.warnings][:1] == ["dtype"]
        if not report.passed:
            failed.append(seed)
    assert failed == []
    # mixed: one gradient float64 → the wider, float64's rules, no note
    hand["W1"] = hand["W1"].astype(np.float64)
    mixed = gradcheck.check(model=model, x=x, target=v, grads=hand)
    assert mixed.settings.spec.dtype == "float64" and "dtype" not in {
        w.kind for w in mixed.warnings
    }
    # asked for explicitly, float64 it is
    explicit = gradcheck.check(model=model, x=x, target=v, grads=hand, dtype="float64")
    assert explicit.settings.spec.dtype == "float64"
    # float32 numbers held to a float64 tolerance they cannot meet: said so, not "×1"
    hand["W1"] = hand["W1"].astype(np.float32)
    tight = gradcheck.check(
        model=model, x=x, target=v, grads=hand, dtype="float64", atol=1e-12, rtol=1e-12
    )
    assert not tight.passed
    assert [f.kind for f in tight.diagnosis] == ["float32_rounding"]
    assert "check it with --dtype float32 (dtype='float32')" in str(tight.diagnosis[0].message)
