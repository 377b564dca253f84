"""Published backprop styles (samples/styles): each file's own documented command passes, each
with its typical bugs put in fails and the diagnosis names the bug; the convention finder
names the flags of a style run without them; a style run on the wrong batch axis is told so.

The style files are written in the published authors' array conventions (column vectors and
(n, 1) biases, (in, out) weights, (1, n) keepdims biases, per-layer L2, course gradient names)
and called through a thin adapter; nothing here reshapes what they return.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import gradcheck
from tests.conftest import ROOT, SAMPLES, invoke, run_json

STYLES = SAMPLES / "styles"
FILES = sorted(p.name for p in STYLES.glob("*.py"))


def documented_command(name: str) -> list[str]:
    """The ``gradcheck run …`` command in a style file's docstring, as its arguments."""
    source = (STYLES / name).read_text()
    doc = source.split('"""')[1]
    match = re.search(r"gradcheck run (.*?)\n\n", doc.replace("\\\\\n", " ") + "\n\n", re.S)
    assert match, name
    return shlex.split(match.group(1).replace("\\\n", " "))


def test_there_are_seven_styles() -> None:
    assert FILES == [
        "britz_nn.py",
        "course_deep.py",
        "cs231n_two_layer.py",
        "mlfromscratch_mlp.py",
        "nielsen_network.py",
        "nielsen_network2.py",
        "nnfs_layers.py",
    ]


def run_style(name: str, *extra: str, impl: str | None = None) -> dict:
    args = documented_command(name)
    if impl is not None:
        at = args.index("--impl")
        args[at + 1] = impl
    return run_json(*args, *extra)


@pytest.mark.parametrize("name", FILES)
def test_style_passes_with_its_documented_flags(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the commands name files from the project root
    doc = run_style(name)
    assert doc["passed"], (name, doc["failed"], doc["diagnosis"])
    assert doc["settings"]["probes"] == 2 and all(p["passed"] for p in doc["probes"])


@dataclass(frozen=True)
class Bug:
    style: str
    old: str
    new: str
    kinds: tuple[str, ...]  # every one must be named
    parameters: tuple[str, ...] = ()  # … about these parameters (any kind above)
    flags: tuple[str, ...] = ()  # the convention finding's flags, when it is one

    @property
    def id(self) -> str:
        return f"{self.style.removesuffix('.py')}:{self.kinds[0]}"


BUGS = [
    Bug(
        "nielsen_network.py",
        "sp = sigmoid_prime(z)",
        "sp = sigmoid_prime(activations[-layer])",
        ("derivative_at_activation",),
    ),
    Bug(
        "nielsen_network.py",
        "delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])",
        "delta = self.cost_derivative(activations[-1], y)",
        ("convention",),
        flags=("--loss bce", "--loss-scale 3"),
    ),
    Bug(
        "nielsen_network2.py",
        "self.biases = [b - (eta / len(mini_batch)) * nb",
        "self.biases = [(1 - eta * (lmbda / n)) * b - (eta / len(mini_batch)) * nb",
        ("l2_on_bias",),
        ("b1", "b2"),
    ),
    Bug(
        "nielsen_network2.py",
        "(1 - eta * (lmbda / n)) * w - (eta / len(mini_batch)) * nw",
        "w - (eta / len(mini_batch)) * nw",
        ("l2_missing",),
        ("W1", "W2"),
    ),
    Bug(
        "course_deep.py",
        "dZ[Z <= 0] = 0",
        "pass",
        ("missing_activation_derivative",),
    ),
    Bug(
        "course_deep.py",
        "db = (1 / m) * np.sum(dZ, axis=1, keepdims=True)",
        "db = np.sum(dZ, axis=1, keepdims=True)",
        ("batch_sum_vs_mean",),
        ("b1", "b2", "b3"),
    ),
    Bug(
        "cs231n_two_layer.py",
        "2 * reg * W2",
        "reg * W2",
        ("l2_factor",),
        ("W2",),
    ),
    Bug(
        "cs231n_two_layer.py",
        "dscores /= N",
        "pass",
        ("batch_sum_vs_mean",),
    ),
    Bug(
        "britz_nn.py",
        "* (1 - np.power(a1, 2))",
        "* (1 - np.power(z1, 2))",
        ("derivative_formula_at_pre_activation",),
    ),
    Bug(
        "britz_nn.py",
        "dW2 = (a1.T).dot(delta3)",
        "dW2 = (z1.T).dot(delta3)",
        ("pre_activation_in_weight_gradient",),
        ("W2",),
    ),
    Bug(
        "nnfs_layers.py",
        "self.dbiases += 2 * self.bias_regularizer_l2 * self.biases",
        "self.dbiases += self.bias_regularizer_l2 * self.biases",
        ("l2_factor",),
        ("b1",),
    ),
    Bug(
        "nnfs_layers.py",
        "self.dinputs = self.dinputs / samples",
        "pass",
        ("batch_sum_vs_mean",),
    ),
    Bug(
        "nnfs_layers.py",
        'dense2 = Layer_Dense(n_hidden, params["W2"].shape[1])',
        'dense2 = Layer_Dense(n_hidden, params["W2"].shape[1], 0, 5e-4, 0, 5e-4)',
        ("l2_wrong_layers", "l2_on_bias", "l2_in_loss"),
        ("W2", "b2"),
    ),
    Bug(
        "mlfromscratch_mlp.py",
        "self.hidden_activation.gradient(hidden_input)",
        "self.hidden_activation.gradient(hidden_output)",
        ("derivative_at_activation",),
    ),
    Bug(
        "mlfromscratch_mlp.py",
        "grad_v = hidden_output.T.dot(",
        "grad_v = hidden_input.T.dot(",
        ("pre_activation_in_weight_gradient",),
        ("W2",),
    ),
]


def test_every_style_has_its_typical_bugs() -> None:
    assert {b.style for b in BUGS} == set(FILES)
    assert len(BUGS) >= 14


@pytest.mark.parametrize("bug", BUGS, ids=[b.id for b in BUGS])
def test_a_typical_bug_is_named(bug: Bug, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    source = (STYLES / bug.style).read_text()
    assert source.count(bug.old) == 1, bug.old
    path = tmp_path / bug.style
    path.write_text(source.replace(bug.old, bug.new))
    doc = run_style(bug.style, impl=f"{path}:backward")
    assert not doc["passed"], bug
    named = {f["kind"] for f in doc["diagnosis"]}
    assert set(bug.kinds) <= named, (bug.id, doc["diagnosis"])
    about = {f["parameter"] for f in doc["diagnosis"] if f["kind"] in bug.kinds}
    assert set(bug.parameters) <= about, (bug.id, doc["diagnosis"])
    if bug.flags:
        [finding] = [f for f in doc["diagnosis"] if f["kind"] == "convention"]
        assert finding["flags"] == list(bug.flags)
    for finding in doc["diagnosis"]:
        if finding["kind"] in bug.kinds and finding["kind"] != "layer":
            assert finding["test"], finding  # every claim states the test it passed


# ---------------------------------------------------------------------------------------------
# The convention finder on styles run without their flags


def drop(args: list[str], *options: str) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in options:
            skip = True
            continue
        out.append(arg)
    return out


@pytest.mark.parametrize(
    ("name", "dropped", "flags"),
    [
        # mean over the batch of ½·Σ over 3 outputs: ×1.5 the mean over batch × units
        (
            "nielsen_network.py",
            ("--output-activation", "--loss-scale"),
            ["--output-activation sigmoid", "--loss-scale 1.5"],
        ),
        # bce summed over 3 outputs with λ/2n weight decay
        (
            "nielsen_network2.py",
            ("--loss", "--loss-scale", "--l2"),
            ["--loss bce", "--loss-scale 3", "--l2 0.0025"],
        ),
        # the batch's sum, found by the least-squares factor and written as the reduction
        ("britz_nn.py", ("--reduction",), ["--reduction sum"]),
        # L2 forgotten: fitted per parameter, biases included, first layer only
        ("nnfs_layers.py", ("--l2",), ["--l2 W1=0.0005,b1=0.0005"]),
        ("cs231n_two_layer.py", ("--l2",), ["--l2 0.05"]),
    ],
)
def test_the_finder_names_the_flags_a_style_needs(
    name: str, dropped: tuple[str, ...], flags: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    doc = run_json(*drop(documented_command(name), *dropped))
    assert not doc["passed"]
    conventions = [f for f in doc["diagnosis"] if f["kind"] == "convention"]
    assert [f["flags"] for f in conventions] == [flags], doc["diagnosis"]
    assert run_json(*drop(documented_command(name), *dropped), *" ".join(flags).split())["passed"]


def test_cross_entropy_gradients_under_a_declared_bce_on_softmax_are_recognised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the ML-From-Scratch code says it computes (bce on a softmax, one-hot targets) is
    # not what its gradients are: those of cross-entropy on the logits.
    monkeypatch.chdir(ROOT)
    rows = ["--x", "0.25", "0.79", "0.55", "-0.55", "--x", "-0.4", "0.75", "-0.99", "0.64"]
    rows += ["--x", "0.59", "-0.06", "-0.39", "-0.44"]
    rows += ["--target", "0", "0", "1", "--target", "1", "0", "0", "--target", "0", "1", "0"]
    declared = ["--layout", "in_out", "--layers", "4,6,3", "--activation", "sigmoid"]
    declared += ["--output-activation", "softmax", "--loss", "bce", "--reduction", "sum"]
    impl = ["--impl", "samples/styles/mlfromscratch_mlp.py:backward"]
    doc = run_json(*declared, *rows, *impl)
    [finding] = [f for f in doc["diagnosis"] if f["kind"] == "convention"]
    assert finding["flags"] == ["--output-activation identity", "--loss cross_entropy"]
    assert "with the one-hot targets as class indices: 2, 0, 1" in finding["message"]


def test_a_style_on_rows_is_told_its_arrays_look_transposed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    args = drop(documented_command("course_deep.py"), "--batch-axis")
    result = invoke("run", *args)
    assert result.exit_code == 2 and result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: --impl: samples/styles/course_deep.py:backward raised")
    assert last.endswith(
        "your arrays look transposed: examples as columns? use --batch-axis last (with it, "
        "your code runs and its shapes fit)"
    )


def columns(params: dict, X: np.ndarray, Y: np.ndarray) -> dict:
    """Column-major course code that makes its own (n, 1) biases: on rows it still runs when
    the batch has as many examples as inputs, and computes something else."""
    W1, W2 = params["W1"], params["W2"]
    b1, b2 = params["b1"].reshape(-1, 1), params["b2"].reshape(-1, 1)
    m = X.shape[1]
    A1 = np.tanh(W1 @ X + b1)
    Z2 = W2 @ A1 + b2
    dZ2 = 2 * (Z2 - Y.reshape(Z2.shape)) / m
    dZ1 = (W2.T @ dZ2) * (1 - A1**2)
    return {
        "dW1": dZ1 @ X.T,
        "db1": dZ1.sum(axis=1, keepdims=True),
        "dW2": dZ2 @ A1.T,
        "db2": dZ2.sum(axis=1, keepdims=True),
    }


def test_columns_run_on_rows_are_found_by_the_batch_axis() -> None:
    x = [[0.5, -0.2, 0.1], [0.3, 0.8, -0.6], [-0.7, 0.4, 0.9]]  # 3 examples of 3 inputs
    target = [[0.2], [0.7], [-0.1]]
    net = {"layers": [3, 4, 1], "activation": "tanh", "probes": 0}
    report = gradcheck.check(x, target, backward=columns, **net)
    assert not report.passed
    assert [f.flags for f in report.diagnosis if f.kind == "convention"] == [("--batch-axis last",)]
    # the API takes the arrays as the code holds them: x (n_in, batch), target (1, batch)
    x_cols, y_cols = np.array(x).T, np.array(target).T
    assert gradcheck.check(x_cols, y_cols, backward=columns, batch_axis="last", **net).passed
