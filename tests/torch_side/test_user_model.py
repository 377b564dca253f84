"""The user's own model taken as it is: frozen parameters, a bare Linear, devices, no bias,
hooks, and a forward that does something else when run than when traced."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from gradcheck import GradcheckError, check
from gradcheck.core.errors import UserCodeError
from gradcheck.torch_side import model as user_model
from tests.conftest import run_json

X = [[0.974, 0.312], [-0.5, 0.8]]


def tanh_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))


def by_hand(model: torch.nn.Module, x: Any) -> dict[str, np.ndarray]:
    """The model's own autograd gradients, written down as a hand side would give them."""
    net = copy.deepcopy(model).double()
    for p in net.parameters():
        p.requires_grad_(True)
    loss = torch.nn.functional.mse_loss(
        net(torch.tensor(x, dtype=torch.float64)), torch.ones(2, 1, dtype=torch.float64)
    )
    loss.backward()
    return {name: p.grad.numpy() for name, p in net.named_parameters()}


def test_a_frozen_parameter_is_checked_with_a_notice() -> None:
    net = tanh_net()
    net[0].weight.requires_grad_(False)
    report = check(X, model=net, grads=by_hand(net, X))
    assert report.passed
    assert [p.name for p in report.parameters] == ["W1", "b1", "W2", "b2"]
    assert report.parameters[0].max_abs_error < 1e-12  # the frozen W1 is compared too
    notes = [w.message for w in report.warnings if w.kind == "user_code"]
    assert len(notes) == 1 and "0.weight is frozen (requires_grad=False)" in notes[0]
    assert not net[0].weight.requires_grad  # the user's model is left as it was


def test_a_frozen_parameter_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(
        "import torch\n\nclass M(torch.nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.fc1 = torch.nn.Linear(2, 4)\n"
        "        self.fc2 = torch.nn.Linear(4, 1)\n        self.fc1.weight.requires_grad_(False)\n"
        "        self.fc2.bias.requires_grad_(False)\n\n"
        "    def forward(self, x):\n        return self.fc2(torch.tanh(self.fc1(x)))\n"
    )
    doc = run_json("--x", "0.5", "0.2", "--model", f"{path}:M")
    assert doc["passed"] is True
    (warning,) = [w for w in doc["warnings"] if w["kind"] == "user_code"]
    assert warning["message"].startswith(
        f"--model: {path}:M: fc1.weight, fc2.bias are frozen (requires_grad=False)"
    )


@pytest.mark.parametrize(
    ("make", "layers", "output"),
    [
        (lambda: torch.nn.Linear(2, 1), [2, 1], "identity"),
        (lambda: torch.nn.Sequential(torch.nn.Linear(2, 1)), [2, 1], "identity"),
        (lambda: torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Sigmoid()), [3, 1], "sigmoid"),
        (lambda: torch.nn.Linear(3, 4), [3, 4], "identity"),
    ],
    ids=["linear", "sequential-linear", "logistic", "linear-4-outputs"],
)
def test_linear_and_logistic_regression(make: Any, layers: list[int], output: str) -> None:
    torch.manual_seed(1)
    net = make()
    x = [[0.1, -0.2, 0.3][: layers[0]], [0.5, 0.4, -0.9][: layers[0]]]
    loss = "bce" if output == "sigmoid" else "mse"
    target = [[0.3], [0.9]] if layers[-1] == 1 else [[0.5] * layers[-1]] * 2
    report = check(x, target, model=net, loss=loss)
    assert report.passed and list(report.settings.spec.layers) == layers
    assert report.settings.spec.output_activation == output
    names = [p.torch_name for p in report.parameters]
    assert names[-2].endswith("weight") and names[-1].endswith("bias")
    # no hidden layer: no hidden activation to name
    expected = "→".join(map(str, layers)) + (" → sigmoid" if output == "sigmoid" else "")
    assert report.settings.spec.describe() == f"{expected}, {loss}"


def test_a_bare_linear_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "lin.py"
    path.write_text("import torch\n\ndef linear():\n    return torch.nn.Linear(2, 1)\n")
    doc = run_json("--x", "0.5", "0.2", "--model", f"{path}:linear")
    assert doc["passed"] is True and doc["settings"]["layers"] == [2, 1]
    assert [p["torch_name"] for p in doc["parameters"]] == ["weight", "bias"]


def test_a_linear_subclass_keeping_linears_forward_is_a_layer() -> None:
    class MyLinear(torch.nn.Linear):
        pass

    torch.manual_seed(2)
    net = torch.nn.Sequential(MyLinear(2, 3), torch.nn.ReLU(), MyLinear(3, 1))
    assert check(X, model=net).passed


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (
            lambda: torch.nn.Sequential(
                torch.nn.Linear(2, 3, bias=False), torch.nn.Tanh(), torch.nn.Linear(3, 1)
            ),
            "Sequential.0 is Linear(2, 3, bias=False)",
        ),
        (lambda: torch.nn.Linear(2, 1, bias=False), "Linear is Linear(2, 1, bias=False)"),
    ],
)
def test_a_linear_without_bias_is_refused_naming_the_layer(make: Any, fragment: str) -> None:
    with pytest.raises(GradcheckError, match="give the layer its bias") as caught:
        check(X, model=make())
    assert fragment in str(caught.value)


def test_the_meta_device_without_weights_is_refused() -> None:
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 4, device="meta"), torch.nn.Tanh(), torch.nn.Linear(4, 1, device="meta")
    )
    with pytest.raises(GradcheckError, match=r"^model: Sequential: 0.weight is on the meta device"):
        check(X, model=net)


def test_the_meta_device_with_weights_is_checked_on_the_cpu(tmp_path: Path) -> None:
    real = tanh_net()
    torch.save(real.state_dict(), tmp_path / "w.pt")
    meta = copy.deepcopy(real).to("meta")
    report = check(X, model=meta, weights=str(tmp_path / "w.pt"))
    assert report.passed
    (note,) = [w.message for w in report.warnings if w.kind == "user_code"]
    assert "its parameters are on meta; gradcheck checks a copy on the CPU" in note
    # …the same numbers as the model on the CPU
    cpu = check(X, model=real)
    for a, b in zip(report.parameters, cpu.parameters, strict=True):
        np.testing.assert_allclose(a.reference, b.reference, rtol=1e-15, atol=0)


class ElsewhereParameter(torch.nn.Parameter):
    """A parameter that says it is on a GPU (there is none here): what gradcheck reads."""

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return torch.device("cuda", 0)


def test_a_model_on_another_device_is_checked_on_a_cpu_copy() -> None:
    net = tanh_net()
    net[0].weight = ElsewhereParameter(net[0].weight.detach().clone())
    assert str(net[0].weight.device) == "cuda:0"
    report = check(X, model=net, grads=by_hand(tanh_net(), X))
    assert report.passed
    (note,) = [w.message for w in report.warnings if w.kind == "user_code"]
    assert "its parameters are on cuda:0; gradcheck checks a copy on the CPU" in note


def _hooked_forward() -> torch.nn.Module:
    net = tanh_net()
    net[0].register_forward_hook(lambda m, i, o: o * 2)
    return net


def _hooked_pre() -> torch.nn.Module:
    net = tanh_net()
    net.register_forward_pre_hook(lambda m, i: i)
    return net


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_hooked_forward, "0 has a forward hook (register_forward_hook)"),
        (_hooked_pre, "the model has a forward pre-hook"),
    ],
)
def test_hooks_are_refused_tracing_cannot_see_them(make: Any, fragment: str) -> None:
    with pytest.raises(GradcheckError, match="remove the hook for the check") as caught:
        check(X, model=make())
    assert fragment in str(caught.value)


def test_integer_weights_are_refused() -> None:
    net = tanh_net()
    net[0].weight = torch.nn.Parameter(torch.zeros(4, 2, dtype=torch.int64), requires_grad=False)
    with pytest.raises(GradcheckError, match=r"0\.weight has dtype int64; gradcheck checks real"):
        check(X, model=net)


class Forward(torch.nn.Module):
    """Traces as Linear → tanh → Linear; ``behaviour`` says what it does when really run."""

    def __init__(self, behaviour: str = "") -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = torch.nn.Linear(2, 4)
        self.fc2 = torch.nn.Linear(4, 1)
        self.behaviour = behaviour

    def forward(self, x: Any) -> Any:
        out = self.fc2(torch.tanh(self.fc1(x)))
        if isinstance(x, torch.fx.Proxy):
            return out
        if self.behaviour == "none":
            return None
        if self.behaviour == "numpy":
            return out.detach().numpy()
        if self.behaviour == "shape":
            return out.reshape(-1)
        if self.behaviour == "float32":
            return out.float()
        if self.behaviour == "detached":
            return out.detach()
        if self.behaviour == "no_grad":
            with torch.no_grad():
                return self.fc2(torch.tanh(self.fc1(x)))
        if self.behaviour == "twice":
            return self.fc2(torch.tanh(self.fc1(x))) + 0 * self.fc1(x).sum()
        if self.behaviour == "weights":
            with torch.no_grad():
                self.fc1.weight.mul_(2)
            return out
        if self.behaviour == "input":
            x.mul_(0)
            return out
        if self.behaviour == "raise":
            raise ValueError("only at run time")
        return out


@pytest.mark.parametrize(
    ("behaviour", "fragment"),
    [
        ("none", "Forward.forward returned a NoneType, expected a tensor"),
        ("numpy", "Forward.forward returned a ndarray, expected a tensor"),
        ("shape", "Forward.forward returned shape (2,), expected (2, 1)"),
        ("float32", "Forward.forward returned float32 on cpu; the model is run in float64"),
        ("detached", "Forward.forward returned a tensor without gradients"),
        ("no_grad", "Forward.forward returned a tensor without gradients"),
        ("twice", "Forward.forward ran 5 Linear layers when called, 2 when traced"),
        ("weights", "Forward.forward changes fc1.weight while it runs"),
        ("input", "Forward.forward changes its input in place"),
    ],
)
def test_a_forward_that_runs_otherwise_than_traced_is_refused(
    behaviour: str, fragment: str
) -> None:
    with pytest.raises(GradcheckError) as caught:
        check(X, model=Forward(behaviour))
    assert not isinstance(caught.value, UserCodeError)
    assert fragment in str(caught.value), str(caught.value)


def test_a_forward_that_raises_when_run_is_the_users_error() -> None:
    with pytest.raises(UserCodeError) as caught:
        check(X, model=Forward("raise"))
    assert str(caught.value).startswith(
        "model: python:tests.torch_side.test_user_model.Forward: Forward.forward raised "
        "ValueError: only at run time"
    )
    assert 'raise ValueError("only at run time")' in caught.value.traceback_text


def test_the_direct_runner_keeps_notes() -> None:
    net = tanh_net()
    net[2].bias.requires_grad_(False)
    runner = user_model.Direct()
    traced = user_model.trace(net, "Sequential", runner)
    assert traced.layers == (2, 4, 1) and len(runner.notes) == 1
