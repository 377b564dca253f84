"""The command line: exit codes, stdout/stderr discipline, the JSON contract, the installed
script, and --help without torch."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck.core import functions
from tests.conftest import SAMPLES, invoke, run_json

SEED_X = ("--x", "0.974", "0.312")
PARAMS = ["W1", "b1", "W2", "b2", "W3", "b3"]
TORCH_NAMES = [
    "dense.0.weight",
    "dense.0.bias",
    "dense.2.weight",
    "dense.2.bias",
    "dense.4.weight",
    "dense.4.bias",
]


def test_run_prints_table_and_exits_0() -> None:
    result = invoke("run", *SEED_X)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for hand, torch_name in zip(PARAMS, TORCH_NAMES, strict=True):
        assert f"{hand} · {torch_name}" in out
    for text in ("prediction", "loss", "δ1 = ∂L/∂z1", "float64", "seed 0", "atol=0, rtol=1e-07"):
        assert text in out
    assert "PASSED: all 11 checks within tolerance" in out
    assert result.stderr == ""
    assert "\x1b[" not in out  # not a terminal: no escape codes


def test_float32_uses_float32_tolerances() -> None:
    doc = run_json(*SEED_X, "--dtype", "float32")
    assert doc["passed"] is True
    assert (doc["settings"]["atol"], doc["settings"]["rtol"]) == (0.0, 1.3e-6)
    assert "atol=0, rtol=1.3e-06" in invoke("run", *SEED_X, "--dtype", "float32").stdout


def test_json_document_contract() -> None:
    doc = run_json(*SEED_X, "--target", "0.5", "--seed", "3")
    assert doc["schema_version"] == 1
    assert doc["passed"] is True and doc["exit_code"] == 0
    s = doc["settings"]
    assert s["x"] == [[0.974, 0.312]] and s["target"] == [[0.5]] and s["seed"] == 3
    assert s["dtype"] == "float64" and s["weights"] is None
    assert (s["atol"], s["rtol"]) == (0.0, 1e-7)
    assert s["layers"] == [2, 10, 10, 1] and s["activation"] == "sigmoid" and s["loss"] == "mse"
    assert s["batch_size"] == 1
    pred, loss = doc["forward"]["prediction"], doc["forward"]["loss"]
    assert np.shape(pred["autograd"]) == (1, 1) and np.shape(pred["hand"]) == (1, 1)
    assert isinstance(loss["autograd"], float) and isinstance(loss["hand"], float)
    assert pred["max_abs_error"] <= 1e-15
    # The loss is the MSE (y − ŷ)² of the one sample.
    assert loss["autograd"] == pytest.approx((0.5 - pred["autograd"][0][0]) ** 2, rel=1e-15)
    names = [(p["name"], p["torch_name"]) for p in doc["parameters"]]
    assert names == list(zip(PARAMS, TORCH_NAMES, strict=True))
    shapes = [p["shape"] for p in doc["parameters"]]
    assert shapes == [[10, 2], [10], [10, 10], [10], [1, 10], [1]]
    for p in doc["parameters"]:
        assert np.shape(p["autograd"]) == tuple(p["shape"]) == np.shape(p["hand"])
        assert set(p) >= {"max_abs_error", "max_rel_error", "worst_index", "passed"}
        assert len(p["worst_index"]) == len(p["shape"])
        assert p["passed"] is True and p["max_abs_error"] <= 1e-12
    assert [d["name"] for d in doc["deltas"]] == ["delta1", "delta2", "delta3"]
    assert doc["failed"] == [] and doc["warnings"] == []


def test_json_is_byte_identical_across_runs() -> None:
    first = invoke("run", *SEED_X, "--json").stdout
    second = invoke("run", *SEED_X, "--json").stdout
    assert first == second and first.count("\n{") == 0 and first.startswith("{")


def test_no_arrays_keeps_errors_but_drops_gradients() -> None:
    doc = run_json(*SEED_X, "--no-arrays")
    assert all("autograd" not in p and "hand" not in p for p in doc["parameters"])
    assert all("max_abs_error" in p for p in doc["parameters"])
    assert "autograd" in doc["forward"]["loss"]  # a scalar stays


def test_broken_sigma_prime_exits_1_and_names_the_failing_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The classic bug: δ2 = δ3·W3 without ⊙ σ′(z2). Only parameters below the output layer
    # see σ′, so W3 and b3 must still pass.
    broken = dataclasses.replace(functions.ACTIVATIONS["sigmoid"], df=np.ones_like)
    monkeypatch.setitem(functions.ACTIVATIONS, "sigmoid", broken)
    result = invoke("run", *SEED_X)
    assert result.exit_code == 1
    assert "FAILED: 6 of 11 out of tolerance: W1, b1, W2, b2, delta1, delta2" in result.stdout
    doc = json.loads(invoke("run", *SEED_X, "--json").stdout)
    assert doc["passed"] is False and doc["exit_code"] == 1
    assert doc["failed"] == ["W1", "b1", "W2", "b2", "delta1", "delta2"]
    verdicts = {p["name"]: p["passed"] for p in doc["parameters"]}
    assert verdicts == {"W1": False, "b1": False, "W2": False, "b2": False, "W3": True, "b3": True}


def test_a_zero_tolerance_still_allows_each_elements_rounding_bound() -> None:
    # --atol 0 --rtol 0 leaves the rounding bound E: float32's own rounding passes, and the
    # caption says what is allowed.
    result = invoke("run", *SEED_X, "--dtype", "float32", "--atol", "0", "--rtol", "0")
    assert result.exit_code == 0, result.stdout
    assert "atol=0, rtol=0, E each element's rounding bound" in result.stdout


def test_version_and_short_help() -> None:
    assert invoke("--version").stdout.strip() == "gradcheck, version 0.1.0"
    assert "Exit codes:" in invoke("-h").stdout
    result = invoke("run", "--help")
    assert result.exit_code == 0 and "--x X1 X2 …" in result.stdout


def _modules_after_help(*commands: str) -> list[str]:
    """Which of numpy and torch a fresh interpreter has loaded after these --help pages."""
    calls = "".join(
        f"    cli.main({[*c.split(), '--help']!r}, prog_name='gradcheck', standalone_mode=False)\n"
        for c in commands
    )
    code = (
        "import sys\n"
        "from gradcheck.cli import cli\n"
        f"try:\n{calls}"
        "finally:\n"
        "    print(sorted({'numpy', 'torch'} & set(sys.modules)), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded: list[str] = ast.literal_eval(out.stderr.strip().splitlines()[-1])
    return loaded


def test_help_does_not_import_torch() -> None:
    assert "torch" not in _modules_after_help("", "run", "sweep", "explain", "layer")


def test_top_level_help_does_not_even_import_numpy() -> None:
    # The choices of --activation/--loss come from numpy-backed records, loaded lazily.
    assert _modules_after_help("") == []


def _installed_script() -> str:
    script = Path(sys.executable).parent / "gradcheck"
    found = str(script) if script.exists() else shutil.which("gradcheck")
    assert found, "the gradcheck console script is not installed"
    return found


@pytest.mark.slow
def test_real_subprocess_of_installed_script() -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    ok = subprocess.run(
        [_installed_script(), "run", *SEED_X, "--json"], capture_output=True, text=True, env=env
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["passed"] is True and ok.stderr == ""
    bad = subprocess.run(
        [_installed_script(), "run", "--x", "1"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "Error: --x: expected 2 values (the first layer has 2 inputs), got 1"
    ]
    module = subprocess.run(
        [sys.executable, "-m", "gradcheck", "run", *SEED_X], capture_output=True, text=True, env=env
    )
    assert module.returncode == 0 and "PASSED" in module.stdout


@pytest.mark.slow
def test_json_bytes_identical_across_processes() -> None:
    cmd = [_installed_script(), "run", *SEED_X, "--json", "--dtype", "float64"]
    outs = [subprocess.run(cmd, capture_output=True, check=True).stdout for _ in range(2)]
    assert outs[0] == outs[1]


def test_seed_weights_sample_reproduces_the_seed() -> None:
    """The published numbers of shared/seed follow from samples/seed_weights.npz."""
    sys.path.insert(0, str(SAMPLES))
    import seed_numbers as seed

    for dtype in ("float64", "float32"):
        doc = run_json(
            "--weights",
            str(SAMPLES / "seed_weights.npz"),
            "--x",
            "0.97436534",
            "0.31171513",
            "--target",
            repr(float(seed.TARGET)),
            "--dtype",
            dtype,
        )
        assert doc["passed"] is True and doc["settings"]["seed"] is None
        # float32 rounds the prediction to ~3e-8 (the seed's torch printed -0.28116578).
        close = 1e-8 if dtype == "float64" else 3e-8
        assert doc["forward"]["prediction"]["hand"][0][0] == pytest.approx(
            seed.PREDICTION, abs=close
        )
        assert doc["forward"]["loss"]["autograd"] == pytest.approx(seed.LOSS, abs=1e-7)
        for p in doc["parameters"]:
            # The seed printed 8 decimals: agreement to 1e-8 is all its digits.
            # float32 adds its own rounding, a few units of 2^-24 relative.
            rtol = 0 if dtype == "float64" else 3e-7
            np.testing.assert_allclose(p["autograd"], seed.GRADS[p["name"]], rtol=rtol, atol=close)
    # In float32 the prediction is the seed's torch value to all printed digits.
    assert doc["forward"]["prediction"]["autograd"][0][0] == pytest.approx(-0.28116578, abs=5e-9)


def test_an_internal_error_exits_3_not_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in gradcheck must never read as 'gradient out of tolerance' (1) in someone's CI."""
    from gradcheck.checks import pipeline

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(pipeline, "evaluate", broken)
    result = invoke("run", *SEED_X)
    assert result.exit_code == 3 and result.stdout == ""
    assert "RuntimeError: simulated bug" in result.stderr  # the traceback, for the bug report
    assert result.stderr.strip().splitlines()[-1].startswith("Error: internal error in gradcheck")


def test_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcheck.checks import pipeline

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "evaluate", interrupted)
    result = invoke("run", *SEED_X)
    assert result.exit_code == 130 and result.stdout == "" and "Interrupted." in result.stderr
