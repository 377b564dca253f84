"""The gallery (samples/textbook, samples/course, samples/model) run as their docstrings say,
each with a typical bug put in; --model against the user's module itself; the convention
finder; and every bad input of the new options (exit 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gradcheck.torch_side import reference
from tests.conftest import SAMPLES, assert_usage_error, invoke

TEXTBOOK_BATCH = [
    *("--x", "0.974", "0.312", "--x", "-0.5", "0.8", "--x", "0.1", "-0.9"),
    *("--target", "0.5", "--target", "0.2", "--target", "0.9"),
]
TEXTBOOK_FLAGS = ["--output-activation", "sigmoid", "--reduction", "sum", "--loss-scale", "0.5"]
COURSE = [
    *("--seed", "2", "--layers", "4,6,3", "--activation", "relu", "--loss", "cross_entropy"),
    *("--l2", "0.05", "--data", str(SAMPLES / "course" / "data.csv")),
]
MODEL = [
    *("--model", str(SAMPLES / "model" / "net.py") + ":Net", "--x", "0.974", "0.312"),
    *("--x", "-0.3", "0.5", "--target", "1", "--target", "2", "--loss", "nll"),
]


def run_json(*args: str) -> tuple[int, dict]:
    result = invoke("run", *args, "--json")
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


def bugged(tmp_path: Path, sample: str, old: str, new: str) -> str:
    source = (SAMPLES / sample).read_text()
    assert old in source
    path = tmp_path / Path(sample).name
    path.write_text(source.replace(old, new))
    return str(path)


def test_textbook_sample_passes_with_its_flags() -> None:
    impl = str(SAMPLES / "textbook" / "backprop.py") + ":backward"
    code, doc = run_json(*TEXTBOOK_BATCH, *TEXTBOOK_FLAGS, "--impl", impl)
    assert code == 0 and doc["settings"]["output_activation"] == "sigmoid"


def test_textbook_sample_under_default_flags_names_the_convention() -> None:
    impl = str(SAMPLES / "textbook" / "backprop.py") + ":backward"
    code, doc = run_json(*TEXTBOOK_BATCH, "--impl", impl)
    assert code == 1
    [finding] = doc["diagnosis"]
    assert finding["kind"] == "convention"
    assert finding["flags"] == [
        "--output-activation sigmoid",
        "--reduction sum",
        "--loss-scale 0.5",
    ]
    assert (
        "your gradients are those of the same network with `--output-activation sigmoid "
        "--reduction sum --loss-scale 0.5`" in finding["message"]
    )
    table = invoke("run", *TEXTBOOK_BATCH, "--impl", impl)
    assert "--output-activation sigmoid --reduction sum --loss-scale 0.5" in table.stdout


def test_textbook_sample_with_a_bug_fails_with_a_diagnosis(tmp_path: Path) -> None:
    # The typical slip: σ′ dropped from the output δ. (ŷ − y) alone is exactly the gradient of
    # bce on the sigmoid output, and the diagnosis says both: the flags under which it is
    # right, and what is missing if mse is meant.
    impl = bugged(
        tmp_path,
        "textbook/backprop.py",
        "delta = (activations[-1] - y) * sigmoid_prime(zs[-1])",
        "delta = activations[-1] - y",
    )
    code, doc = run_json(*TEXTBOOK_BATCH, *TEXTBOOK_FLAGS, "--impl", impl + ":backward")
    assert code == 1
    [finding] = doc["diagnosis"]
    assert finding["kind"] == "convention" and finding["flags"] == ["--loss bce", "--loss-scale 1"]
    assert "If you mean mse, δL is missing the output's σ′(zL)" in finding["message"]
    # A slip no convention explains keeps the usual diagnosis: δ2 without σ′.
    impl = bugged(
        tmp_path,
        "textbook/backprop.py",
        "delta = (weights[-layer + 1].T @ delta) * sigmoid_prime(zs[-layer])",
        "delta = weights[-layer + 1].T @ delta",
    )
    code, doc = run_json(*TEXTBOOK_BATCH, *TEXTBOOK_FLAGS, "--impl", impl + ":backward")
    kinds = [f["kind"] for f in doc["diagnosis"]]
    assert code == 1 and "convention" not in kinds and kinds[0] == "layer"
    assert "missing_activation_derivative" in kinds


def test_course_sample_passes_in_layout_in_out() -> None:
    impl = str(SAMPLES / "course" / "two_layer.py") + ":loss_and_grads"
    code, doc = run_json(*COURSE, "--layout", "in_out", "--impl", impl)
    assert code == 0 and doc["settings"]["layout"] == "in_out" and doc["settings"]["l2"] == 0.05
    assert doc["forward"]["loss"]["passed"]  # its loss includes reg·ΣW², as autograd's does


def test_course_sample_without_its_layout_is_told_which_layout(tmp_path: Path) -> None:
    impl = str(SAMPLES / "course" / "two_layer.py") + ":loss_and_grads"
    result = invoke("run", *COURSE, "--impl", impl)
    assert result.exit_code == 2
    assert (
        "with --layout in_out it runs and its shapes fit: add --layout in_out"
        in (result.stderr.strip().splitlines()[-1])
    )


def test_course_sample_with_a_bug_fails_with_a_diagnosis(tmp_path: Path) -> None:
    # The typical slip: the regularisation's gradient forgotten on W1.
    impl = bugged(
        tmp_path,
        "course/two_layer.py",
        "dW1 = X.T @ dhidden + 2 * REG * W1",
        "dW1 = X.T @ dhidden",
    )
    code, doc = run_json(*COURSE, "--layout", "in_out", "--impl", impl + ":loss_and_grads")
    assert code == 1
    assert doc["failed"] == ["W1"]
    first = doc["diagnosis"][0]
    assert (first["kind"], first["layer"], first["parameter"]) == ("l2_missing", 1, "W1")
    assert "W1 has no L2 term" in first["message"] and "λ = 0.05" in first["message"]


def test_model_sample_passes_and_names_parameters_by_the_model() -> None:
    code, doc = run_json(*MODEL, "--impl", str(SAMPLES / "model" / "net.py") + ":backward")
    assert code == 0
    assert [p["torch_name"] for p in doc["parameters"]] == [
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    ]
    assert doc["settings"]["activations"] == ["leaky_relu(0.2)"]
    assert doc["settings"]["model"].endswith("net.py:Net")


def test_model_sample_with_the_default_slope_in_the_hand_code_fails(tmp_path: Path) -> None:
    impl = bugged(
        tmp_path, "model/net.py", "np.where(z1 > 0, 1.0, 0.2)", "np.where(z1 > 0, 1.0, 0.01)"
    )
    code, doc = run_json(*MODEL, "--impl", impl + ":backward")
    assert code == 1 and "W1" in doc["failed"]


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


def test_state_dict_of_a_bare_sequential_and_fc_names(tmp_path: Path) -> None:
    torch.manual_seed(1)
    seq = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    path = tmp_path / "seq.pt"
    torch.save(seq.state_dict(), path)
    code, doc = run_json("--x", "0.1", "0.2", "0.3", "--activation", "tanh", "--weights", str(path))
    assert code == 0 and doc["settings"]["layers"] == [3, 5, 2]
    assert [p["torch_name"] for p in doc["parameters"]] == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    ]
    params = {"W1": seq[0].weight, "b1": seq[0].bias, "W2": seq[2].weight, "b2": seq[2].bias}
    for record in doc["parameters"]:
        assert np.allclose(doc["settings"]["x"], [[0.1, 0.2, 0.3]])
        assert record["name"] in params
    # checked against --layers when given
    assert_usage_error(
        invoke("run", "--x", "0.1", "0.2", "0.3", "--layers", "3,4,2", "--weights", str(path)),
        f"--weights: {path} holds a 3,5,2 network; --layers says 3,4,2",
    )


def test_npz_weights_keyed_w1_in_layout_in_out(tmp_path: Path) -> None:
    from gradcheck.core.spec import NetSpec

    state = reference.init_state(NetSpec((2, 3, 1)), 4)
    path = tmp_path / "w.npz"
    np.savez(
        path, **{k: (v.T if k.startswith("W") else v.reshape(-1, 1)) for k, v in state.items()}
    )
    code, doc = run_json("--x", "0.5", "0.5", "--layout", "in_out", "--weights", str(path))
    assert code == 0 and doc["settings"]["layers"] == [2, 3, 1]
    w1 = np.array(doc["parameters"][0]["autograd"])
    assert w1.shape == (3, 2)  # reported as torch holds it


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


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--loss", "bce"], ["--loss bce does not fit --output-activation identity", "sigmoid"]),
        (
            ["--layers", "2,4,3", "--loss", "nll"],
            ["--loss nll does not fit", "use it after --output-activation log_softmax"],
        ),
        (
            ["--layers", "2,4,3", "--loss", "cross_entropy", "--output-activation", "softmax"],
            ["--loss cross_entropy does not fit --output-activation softmax", "--loss nll"],
        ),
        (["--activation", "relu,tanh,relu"], ["--activation: 3 names for 2 hidden layers"]),
        (["--loss-scale", "0"], ["--loss-scale: must be a finite non-zero number"]),
        (["--l2", "-0.1"], ["--l2: must be a finite number ≥ 0"]),
        (["--layout", "col"], ["'col' is not one of"]),
        (["--model", "nofile.py:Net"], ["--model: nofile.py"]),
        (["--model", "x"], ["--model: x: expected FILE.py:NAME"]),
        (
            ["--model", str(SAMPLES / "model" / "net.py") + ":Net", "--layers", "2,5,3"],
            ["--layers: 2,5,3 does not match the model Net, which has 2,8,3"],
        ),
        (
            ["--model", str(SAMPLES / "model" / "net.py") + ":backward"],
            ["net.py:backward needs arguments", "builds the model with none"],
        ),
    ],
)
def test_bad_network_options_exit_2(args: list[str], fragments: list[str]) -> None:
    assert_usage_error(invoke("run", "--x", "0.1", "0.2", *args), *fragments)


def test_broken_state_dict_chain_names_both_keys(tmp_path: Path) -> None:
    state = {
        "fc1.weight": torch.zeros(4, 2),
        "fc1.bias": torch.zeros(4),
        "fc2.weight": torch.zeros(3, 5),
        "fc2.bias": torch.zeros(3),
    }
    path = tmp_path / "broken.pt"
    torch.save(state, path)
    assert_usage_error(
        invoke("run", "--x", "0.1", "0.2", "--weights", str(path)),
        "fc2.weight takes 5 inputs but fc1.weight gives 4 outputs",
    )


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


def test_default_document_only_gains_the_additive_settings_keys() -> None:
    code, doc = run_json("--x", "0.974", "0.312")
    assert code == 0
    old = ["x", "target", "seed", "weights", "data", "candidate", "dtype", "layers"]
    old += ["activation", "loss", "batch_size", "atol", "rtol", "rule"]
    new = ["activations", "output_activation", "reduction", "loss_scale", "l2", "l2_parameters"]
    new += ["layout", "batch_axis", "model"]
    assert list(doc["settings"]) == old + new + ["norm_tol", "norm_rule", "probes", "oracle_sample"]
    assert (doc["settings"]["activation"], doc["settings"]["loss"]) == ("sigmoid", "mse")
    assert [doc["settings"][k] for k in new] == [
        ["sigmoid", "sigmoid"],
        "identity",
        "mean",
        1.0,
        0.0,
        {},
        "out_in",
        "first",
        None,
    ]
    assert [p["torch_name"] for p in doc["parameters"]][:2] == ["dense.0.weight", "dense.0.bias"]
