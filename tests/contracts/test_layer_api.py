"""``gradcheck.check_layer``, its ``LayerReport`` and ``assert_layer``: what a notebook or a
test suite relies on."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gradcheck
from gradcheck.core.errors import GradcheckError
from gradcheck.testing import assert_layer, layer_summary_line
from tests.checks.test_layer_check import BUGGY, LAYERS, _module
from tests.conftest import invoke

course = _module(LAYERS)
buggy = _module(BUGGY)


def test_check_layer_takes_the_course_s_functions() -> None:
    report = gradcheck.check_layer("conv", course.conv_forward_naive, course.conv_backward_naive)
    assert isinstance(report, gradcheck.LayerReport)
    assert report.passed and report.exit_code == 0
    assert report.settings.candidate == (
        "python:gradcheck_test_layers.conv_forward_naive,gradcheck_test_layers.conv_backward_naive"
    )
    assert repr(report) == "<gradcheck.LayerReport conv PASSED>"


def test_a_loss_kind_takes_forward_alone() -> None:
    report = gradcheck.check_layer("svm_loss", course.svm_loss, shapes={"x": (7, 3)})
    assert report.passed and report.settings.shapes == {"x": (7, 3), "y": (7,)}
    with pytest.raises(GradcheckError, match="svm_loss is a loss: one function returns"):
        gradcheck.check_layer("svm_loss", course.svm_loss, course.svm_loss)


def test_the_report_s_json_is_the_command_line_s() -> None:
    impl = f"{LAYERS}:layernorm_forward,layernorm_backward"
    report = gradcheck.check_layer("layernorm", impl=impl, shapes={"x": "3x4"}, seed=3)
    cli = invoke("layer", "layernorm", "--impl", impl, "--shape", "x=3x4", "--seed", "3", "--json")
    assert report.to_json() + "\n" == cli.stdout
    assert report.to_dict(arrays=False)["gradients"][0].keys() == (
        report.to_dict()["gradients"][0].keys() - {"autograd", "hand"}
    )


def test_the_notebook_shows_the_table() -> None:
    report = gradcheck.check_layer("relu", course.relu_forward, buggy.relu_backward_no_dout)
    html = report._repr_html_()
    assert "<pre" in html and "gradcheck layer relu" in html and "upstream" in html
    assert "FAILED" in repr(report)


def test_assert_layer_passes_and_fails_with_a_summary() -> None:
    report = assert_layer("tanh", course.tanh_forward, course.tanh_backward, dtype="float32")
    assert report.passed
    with pytest.raises(AssertionError) as err:
        assert_layer("tanh", buggy.tanh_forward_keep_x, buggy.tanh_backward_at_input)
    first = str(err.value).splitlines()[0]
    assert first.startswith("gradcheck layer tanh: 1 of 2 out of tolerance: dx (max abs err")
    assert "diagnosis:" in str(err.value)
    with pytest.raises(GradcheckError, match="forward: got None"):
        assert_layer("tanh", None)  # type: ignore[arg-type]


def test_a_probe_only_failure_is_summarised_as_such() -> None:
    report = gradcheck.check_layer(
        "conv", impl=f"{BUGGY}:conv_forward_naive,conv_backward_stride_ignored"
    )
    assert layer_summary_line(report).startswith(
        "gradcheck layer conv: 1 of 2 probes fail (probe1, batch 1, stride 2 with padding"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shapes": [(4, 3)]}, "shapes: got a list; expected a dict of shapes"),
        ({"shapes": {"x": (4, 2.5)}}, "shapes x: got a tuple; expected whole numbers"),
        ({"shapes": {"x": "4xq"}}, "shapes: 'x=4xq': expected whole numbers"),
        ({"params": {"stride": [2]}}, "params stride: got a list; expected a number or a word"),
        ({"params": "stride=2"}, "params: got a str"),
        ({"probes": True}, "probes: got a bool"),
        ({"seed": -1}, "seed: must be from 0 to 2**63 − 1"),
        ({"dtype": "float16"}, "dtype: unknown 'float16'"),
        ({"oracle": "directional"}, "oracle: a layer check takes central or richardson"),
        ({"impl": "x.py:a,b"}, "impl: give either impl or forward/backward, not both"),
    ],
)
def test_bad_arguments_name_the_keyword(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(GradcheckError) as err:
        gradcheck.check_layer(
            "conv", course.conv_forward_naive, course.conv_backward_naive, **kwargs
        )
    assert message in str(err.value), str(err.value)


def test_a_missing_or_wrong_function_is_named() -> None:
    with pytest.raises(
        GradcheckError, match="backward: missing; conv needs forward= and backward="
    ):
        gradcheck.check_layer("conv", course.conv_forward_naive)
    with pytest.raises(GradcheckError, match=r"forward: got an int \(3\); expected a function"):
        gradcheck.check_layer("conv", 3)  # type: ignore[arg-type]
    with pytest.raises(GradcheckError, match="impl: got a function"):
        gradcheck.check_layer("conv", impl=course.conv_forward_naive)  # type: ignore[arg-type]
    with pytest.raises(GradcheckError, match="kind: got None"):
        gradcheck.check_layer(None, course.relu_forward, course.relu_backward)  # type: ignore[arg-type]


def test_the_report_s_arrays_are_the_compared_ones() -> None:
    report = gradcheck.check_layer(
        "affine", course.affine_forward, course.affine_backward, shapes={"x": (2, 7)}, probes=0
    )
    dw = next(c for c in report.gradients if c.name == "dw")
    assert dw.shape == (7, 5) and np.allclose(dw.candidate, dw.reference)
    assert report.probes == ()
