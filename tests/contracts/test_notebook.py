"""The notebook, in a real Jupyter kernel: ``gradcheck.check(model=…, grads=…)`` on the seed's
model and hand gradients displays as the table; a typical bug put into the hand backward fails
with a diagnosis. Also the API's keywords for the new network options, and the displays."""

from __future__ import annotations

import copy
import json

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient

import gradcheck
from gradcheck.core.errors import GradcheckError
from tests.conftest import SAMPLES, assert_valid_document

NOTEBOOK = SAMPLES / "notebook" / "seed_notebook.ipynb"


def run_notebook(*replace: tuple[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for old, new in replace:
        assert any(old in cell.source for cell in nb.cells), old
        for cell in nb.cells:
            cell.source = cell.source.replace(old, new)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute(
        cwd=str(NOTEBOOK.parent)
    )
    return nb


def outputs(nb: nbformat.NotebookNode) -> list:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    return run_notebook()


def html_text(html: str) -> str:
    """What the HTML shows: tags stripped, entities decoded."""
    import html as entities
    import re

    return entities.unescape(re.sub(r"<[^>]+>", "", html))


def check_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    [cell] = [c for c in nb.cells if "gradcheck.check(" in c.source]
    return cell


def test_seed_notebook_passes_and_displays_the_table(executed: nbformat.NotebookNode) -> None:
    errors = [o for o in outputs(executed) if o.output_type == "error"]
    assert not errors, errors
    # Every output of the cell, not only its result: the table is shown once (rich, asked for
    # HTML, must not also send it as a display of its own).
    [shown] = check_cell(executed).outputs
    assert shown.output_type == "execute_result"
    assert not [o for o in outputs(executed) if o.output_type == "display_data"]
    html, plain = shown.data["text/html"], shown.data["text/plain"]
    assert "<pre" in html and "W1 · dense.0.weight" in html and "PASSED" in html
    assert html.count("W1 · dense.0.weight") == 1 and html.count("PASSED: all") == 1
    assert plain.startswith("<gradcheck.Report PASSED") and "\n" not in plain
    assert len(plain) < 120


def test_float32_gradients_in_the_kernel_are_checked_at_float32() -> None:
    # The seed's user takes the weights as the model holds them (float32) and derives in
    # float32: the check follows the arrays handed in, and one line says so.
    nb = run_notebook(
        (".astype(np.float64)", ""),
        ("X = np.array([0.97436534, 0.31171513])", "X = np.array([0.97436534, 0.31171513], 'f4')"),
        ("V = np.array([1.0])", "V = np.array([1.0], 'f4')"),
    )
    [shown] = check_cell(nb).outputs
    text = " ".join(html_text(shown.data["text/html"]).split())
    assert "PASSED" in text and "float32 · model" in text
    assert "note: the gradients handed in are float32: checked in float32" in text
    assert not [o for o in outputs(nb) if o.output_type == "error"]


def test_a_bug_in_the_notebook_fails_with_a_diagnosis() -> None:
    # The classic slip: δ2 without the sigmoid derivative.
    nb = run_notebook(
        ("delta2 = np.dot(W3.T, delta3) * sigmoid_gradient(z2)", "delta2 = np.dot(W3.T, delta3)")
    )
    shown = [o for o in outputs(nb) if o.output_type == "execute_result"]
    html = shown[0].data["text/html"]
    assert "FAILED" in html and "diagnosis" in html
    assert "missing the activation derivative" in html
    assert any(o.output_type == "error" and o.ename == "AssertionError" for o in outputs(nb))


# ---------------------------------------------------------------------------------------------
# The API on a model instance, outside a kernel


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(3, 5)
        self.fc2 = torch.nn.Linear(5, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.log_softmax(self.fc2(torch.relu(self.fc1(x))), dim=-1)


def net_and_grads(dtype: torch.dtype = torch.float64) -> tuple:
    torch.manual_seed(3)
    net = Net().to(dtype)
    x = torch.randn(6, 3, dtype=dtype)
    y = torch.tensor([0, 3, 1, 2, 2, 0])
    loss = 0.5 * torch.nn.functional.nll_loss(net(x), y, reduction="sum")
    loss = loss + 0.01 * sum((p**2).sum() for n, p in net.named_parameters() if "weight" in n)
    loss.backward()
    return net, x, y, {n: p.grad.clone() for n, p in net.named_parameters()}


def test_model_instance_is_copied_and_never_modified() -> None:
    net, x, y, grads = net_and_grads()
    before = copy.deepcopy(net.state_dict())
    report = gradcheck.check(
        model=net, x=x, target=y, grads=grads, loss="nll", reduction="sum", loss_scale=0.5, l2=0.01
    )
    assert report.passed, report
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])
    assert {p.grad is not None for p in net.parameters()} == {True}  # the user's grads stay
    doc = report.to_dict(arrays=False)
    assert_valid_document(json.loads(report.to_json()))
    assert doc["settings"]["model"] == "python:tests.contracts.test_notebook.Net"
    assert doc["settings"]["output_activation"] == "log_softmax"
    assert doc["settings"]["activations"] == ["relu"]
    assert [p["torch_name"] for p in doc["parameters"]] == [
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    ]


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


def test_api_keywords_for_every_new_option() -> None:
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
