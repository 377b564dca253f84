"""The user's own ``nn.Module`` (``--model``, ``check(model=…)``; torch_side/model.py): traced into
a network whose autograd side is the module itself, never modified, and one exit-2 line naming
any operation it cannot read."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import gradcheck
from tests.conftest import SAMPLES, assert_usage_error, assert_valid_document, invoke
from tests.contracts.test_gallery import MODEL, run_json


def test_model_autograd_is_the_users_module_itself() -> None:
    """gradcheck's autograd side on --model equals the user's module run directly."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("user_net", SAMPLES / "model" / "net.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    net = module.Net().double()
    x = torch.tensor([[0.974, 0.312], [-0.3, 0.5]], dtype=torch.float64)
    y = torch.tensor([1, 2])
    loss = torch.nn.functional.nll_loss(net(x), y)
    loss.backward()
    code, doc = run_json(*MODEL)
    assert code == 0
    for record, (name, p) in zip(doc["parameters"], net.named_parameters(), strict=True):
        assert record["torch_name"] == name
        np.testing.assert_allclose(record["autograd"], p.grad.numpy(), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(doc["forward"]["loss"]["autograd"], loss.item(), rtol=1e-14)


@pytest.mark.parametrize(
    ("forward", "fragments"),
    [
        ("return torch.sin(self.fc2(self.fc1(x)))", ["uses torch.sin after fc2"]),
        ("return self.fc2(torch.sin(self.fc1(x)))", ["uses torch.sin after fc1"]),
        ("return self.fc2(self.fc1(x)) + x.sum()", ["does not continue a single chain"]),
        ("return self.fc2(torch.relu(self.fc1(x)).relu())", ["second activation in a row"]),
        ("return torch.relu(self.fc2(self.fc1(x)))", ["ends in relu after fc2"]),
        (
            "return self.fc2(self.fc1(x)) if x.sum() > 0 else x",
            ["cannot be traced with torch.fx"],
        ),
        ("return torch.softmax(self.fc2(self.fc1(x)), dim=0)", ["uses torch.softmax after fc2"]),
    ],
)
def test_models_gradcheck_cannot_read_exit_2_naming_the_op(
    tmp_path: Path, forward: str, fragments: list[str]
) -> None:
    path = tmp_path / "m.py"
    path.write_text(
        "import torch\n\n\nclass M(torch.nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.fc1 = torch.nn.Linear(2, 4)\n"
        "        self.fc2 = torch.nn.Linear(4, 3)\n\n    def forward(self, x):\n"
        f"        {forward}\n"
    )
    assert_usage_error(
        invoke("run", "--x", "1", "2", "--model", f"{path}:M"), "--model", *fragments
    )


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
    assert doc["settings"]["model"] == "python:tests.torch_side.test_model.Net"
    assert doc["settings"]["output_activation"] == "log_softmax"
    assert doc["settings"]["activations"] == ["relu"]
    assert [p["torch_name"] for p in doc["parameters"]] == [
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    ]


def test_an_in_place_activation_is_read_as_its_out_of_place_twin() -> None:
    """ReLU(inplace=True) would overwrite z1 and leave ∂L/∂a1 as its retained gradient: the
    check must give the same autograd δ as the out-of-place model, and its own replica pass."""

    def net(inplace: bool) -> torch.nn.Module:
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Linear(2, 5), torch.nn.ReLU(inplace=inplace), torch.nn.Linear(5, 1)
        )

    x, y = [[0.974, 0.312], [-0.3, 0.5], [0.1, -0.9]], [[1.0], [0.0], [0.5]]
    reports = [gradcheck.check(x, y, model=net(inplace), probes=0) for inplace in (True, False)]
    assert all(r.passed for r in reports), [r.failed for r in reports]
    assert not reports[0].diagnosis  # nothing for the convention finder to flip between
    (in_place, out_of_place) = ({c.name: c for c in r.deltas} for r in reports)
    assert np.any(np.asarray(out_of_place["delta1"].reference) == 0)  # a unit below its kink
    for name, c in in_place.items():
        np.testing.assert_array_equal(c.reference, out_of_place[name].reference)
