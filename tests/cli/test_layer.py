"""``gradcheck layer``: the table, the exit codes, --json, --junit, --detail, --quiet."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, invoke

LAYERS = f"{SAMPLES / 'layers' / 'layers.py'}"
BUGGY = f"{SAMPLES / 'layers' / 'buggy.py'}"
CONV = f"{LAYERS}:conv_forward_naive,conv_backward_naive"
FLIPPED = f"{BUGGY}:conv_forward_naive,conv_backward_kernel_flipped"


def test_a_correct_layer_passes_with_its_table_and_probes() -> None:
    result = invoke("layer", "conv", "--impl", CONV)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "gradcheck layer conv: torch vs" in out
    for row in ("out ", "dx ", "dw ", "db "):
        assert f"│ {row}" in out
    assert "conv_forward_naive(x, w, b, conv_param) → (out, cache)" in out
    assert "probe1: x 1×2×7×6, w 3×2×3×2, b 3 · stride=2 (batch 1, stride 2 with padding" in out
    assert "PASSED: all 4 checks within tolerance, and on 2 probes" in out
    assert result.stderr == ""


def test_a_classic_bug_fails_with_exit_1_and_its_name() -> None:
    result = invoke("layer", "conv", "--impl", FLIPPED)
    assert result.exit_code == 1
    assert "diagnosis:" in result.stdout
    assert "the kernel flipped (a true convolution)" in result.stdout
    assert "FAILED: 1 of 4 out of tolerance: dx" in result.stdout


def test_shapes_and_params_override_the_defaults() -> None:
    result = invoke(
        "layer",
        "conv",
        "--impl",
        CONV,
        "--shape",
        "x=2x3x9x9",
        "--shape",
        "w=5x3x3x3",
        "--param",
        "stride=2",
        "--param",
        "pad=1",
        "--probes",
        "0",
        "--json",
        "--no-arrays",
    )
    doc = json.loads(result.stdout)
    assert doc["settings"]["shapes"] == {"x": [2, 3, 9, 9], "w": [5, 3, 3, 3], "b": [5]}
    assert doc["settings"]["params"] == {"stride": 2, "pad": 1}
    assert doc["outputs"][0]["shape"] == [2, 5, 5, 5]
    assert doc["passed"] is True and doc["probes"] == []


def test_the_json_document_is_one_valid_document_and_byte_stable() -> None:
    a = invoke(
        "layer", "batchnorm", "--impl", f"{LAYERS}:batchnorm_forward,batchnorm_backward", "--json"
    )
    b = invoke(
        "layer", "batchnorm", "--impl", f"{LAYERS}:batchnorm_forward,batchnorm_backward", "--json"
    )
    assert a.exit_code == 0 and a.stdout == b.stdout
    doc = json.loads(a.stdout)  # invoke validated it against the schema
    assert doc["document"] == "layer" and doc["settings"]["param_dict"] == "bn_param"
    assert [g["name"] for g in doc["gradients"]] == ["dx", "dgamma", "dbeta"]
    assert doc["calls"] == {
        f"{LAYERS}:batchnorm_backward": 3,
        f"{LAYERS}:batchnorm_forward": 3,
    }
    assert len(doc["probes"]) == 2 and all(p["passed"] for p in doc["probes"])


def test_a_failing_json_document_carries_the_diagnosis_and_the_oracle() -> None:
    result = invoke(
        "layer", "conv", "--impl", FLIPPED, "--json", "--no-arrays", "--oracle", "central"
    )
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["failed"][:1] == ["dx"]
    (finding,) = [f for f in doc["diagnosis"] if f["kind"] == "classic_bug"]
    assert finding["bug"] == "kernel_flipped" and finding["parameter"] == "dx"
    assert doc["oracle"]["disagreeing"] == ["hand"]
    assert doc["oracle"]["evaluations"] > 0
    assert "oracle_vs_hand" in doc["gradients"][0]


def test_a_loss_kind_takes_one_function() -> None:
    result = invoke(
        "layer", "softmax_loss", "--impl", f"{LAYERS}:softmax_loss", "--dtype", "float32"
    )
    assert result.exit_code == 0, result.stderr
    assert "softmax_loss(x, y) → (loss, dx)" in result.stdout
    assert "│ loss " in result.stdout and "│ dx " in result.stdout


def test_junit_and_quiet(tmp_path: Path) -> None:
    report = tmp_path / "layer.xml"
    result = invoke("layer", "conv", "--impl", FLIPPED, "--junit", str(report), "--quiet")
    assert result.exit_code == 1 and result.stdout == ""
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "gradcheck layer conv"
    failures = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failures == [
        "dx",
        "probe1 (batch 1, stride 2 with padding, a 3×2 kernel)",
        "probe2 (one channel, a 1×3 kernel, padding 2)",
    ]
    names = [c.get("name") for c in suite.iter("testcase")]
    assert names[:4] == ["out", "dx", "dw", "db"] and len(names) == 6
    assert "reproduce: gradcheck layer conv" in report.read_text()


def test_junit_names_a_shape_problem(tmp_path: Path) -> None:
    report = tmp_path / "layer.xml"
    impl = f"{BUGGY}:affine_forward,affine_backward_not_reshaped"
    invoke("layer", "affine", "--impl", impl, "--junit", str(report), "--quiet")
    text = report.read_text()
    assert "dx is returned with shape (4, 6); x is (4, 2, 3)" in text


def test_detail_draws_a_map_per_gradient() -> None:
    result = invoke("layer", "conv", "--impl", FLIPPED, "--detail", "--probes", "0")
    assert result.exit_code == 1
    for name in ("dx  3×3×6×5", "dw  4×3×3×3", "db  4"):
        assert name in result.stdout
    assert "Error maps:" in result.stdout


def test_the_help_lists_the_catalogue() -> None:
    result = invoke("layer", "--help")
    assert result.exit_code == 0
    for kind in ("affine", "conv", "lstm_step", "temporal_softmax_loss", "custom"):
        assert f"  {kind} " in result.stdout


def test_a_custom_layer_from_the_command_line() -> None:
    glu = f"{SAMPLES / 'layers' / 'glu.py'}"
    result = invoke(
        "layer",
        "custom",
        "--impl",
        f"{glu}:glu_forward,glu_backward",
        "--shape",
        "x=4x5",
        "--shape",
        "w=5x3",
        "--shape",
        "v=5x3",
        "--json",
        "--no-arrays",
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["settings"]["reference"] == "oracle" and doc["outputs"] == []
    assert doc["oracle_evaluations"] == 201


@pytest.mark.slow  # twenty kinds, three configurations each
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_sample_kind_passes_from_the_command_line(dtype: str) -> None:
    from gradcheck.core.layers.catalogue import CATALOGUE
    from tests.checks.test_layer_check import CHECKS

    for kind in CATALOGUE:
        result = invoke("layer", kind, "--impl", f"{LAYERS}:{CHECKS[kind]}", "--dtype", dtype, "-q")
        assert result.exit_code == 0, (kind, result.stderr)


def test_what_the_user_s_code_prints_goes_to_stderr(tmp_path: Path) -> None:
    code = tmp_path / "loud.py"
    code.write_text(
        "import numpy as np\n"
        "def forward(x):\n"
        "    print('forward!')\n"
        "    return np.maximum(x, 0), x\n"
        "def backward(dout, x):\n"
        "    return dout * (x > 0)\n"
    )
    result = invoke("layer", "relu", "--impl", f"{code}:forward,backward", "--json", "--no-arrays")
    assert result.exit_code == 0
    json.loads(result.stdout)
    assert "forward!" in result.stderr
