"""The samples: the gallery (samples/textbook, samples/course, samples/model) runs as its
docstrings say, each with a typical bug put in, the convention finder names what differs, and
the sample generators reproduce the committed files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLES, invoke

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


@pytest.mark.slow
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


def test_settings_list_the_network_options_with_their_defaults() -> None:
    code, doc = run_json("--x", "0.974", "0.312")
    assert code == 0
    check = ["x", "target", "seed", "weights", "data", "candidate", "dtype", "layers"]
    check += ["activation", "loss", "batch_size", "atol", "rtol", "rule"]
    network = ["activations", "output_activation", "reduction", "loss_scale", "l2", "l2_parameters"]
    network += ["layout", "batch_axis", "model"]
    rest = ["norm_tol", "norm_rule", "probes", "oracle_sample"]
    assert list(doc["settings"]) == check + network + rest
    assert (doc["settings"]["activation"], doc["settings"]["loss"]) == ("sigmoid", "mse")
    assert [doc["settings"][k] for k in network] == [
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


@pytest.mark.slow
def test_sample_scripts_are_deterministic(tmp_path: Path) -> None:
    """Re-running the sample generators reproduces the committed files.

    The CSVs byte for byte; the weights to 1e-12 relative (they are solved from the seed's
    printed gradients, and the last bits of a least-squares solve differ between CPUs).
    """
    import shutil
    import subprocess
    import sys

    from tests.conftest import SAMPLES

    copy = tmp_path / "samples"
    shutil.copytree(SAMPLES, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for script in ("make_data.py", "make_seed_weights.py"):
        subprocess.run([sys.executable, str(copy / script)], check=True, capture_output=True)
    for name in ("seed_data.csv", "three_class.csv"):
        assert (copy / name).read_bytes() == (SAMPLES / name).read_bytes(), name

    with np.load(copy / "seed_weights.npz") as made, np.load(SAMPLES / "seed_weights.npz") as kept:
        assert sorted(made.files) == sorted(kept.files)
        for key in kept.files:
            np.testing.assert_allclose(made[key], kept[key], rtol=1e-12, atol=0, err_msg=key)
