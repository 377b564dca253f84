"""A layer check end to end: the course-style samples pass every kind, each classic bug fails and
is named, probes catch what the default configuration hides, and a custom layer is judged by
the oracle alone."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradcheck.checks.layer import LayerRequest, run_layer
from gradcheck.core.layers.catalogue import CATALOGUE
from tests.conftest import SAMPLES

LAYERS = SAMPLES / "layers" / "layers.py"
BUGGY = SAMPLES / "layers" / "buggy.py"
GLU = SAMPLES / "layers" / "glu.py"


def _module(path: Path) -> Any:
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(f"gradcheck_test_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    return module


CHECKS: dict[str, str] = _module(LAYERS).CHECKS
BUGS: dict[tuple[str, str], str] = _module(BUGGY).BUGS


def check(kind: str, impl: str, **options: Any) -> Any:
    return run_layer(LayerRequest(kind, impl=impl, **options))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", sorted(CATALOGUE))
def test_the_course_style_sample_passes(kind: str, dtype: str) -> None:
    report = check(kind, f"{LAYERS}:{CHECKS[kind]}", dtype=dtype)
    assert report.passed, (report.failed, [p.name for p in report.failed_probes])
    assert report.exit_code == 0 and len(report.probes) == 2
    # each of the user's functions is called once per configuration: 3 in all
    assert set(report.calls.values()) == {3}


def test_every_bug_of_the_catalogue_has_a_variant_in_the_samples() -> None:
    assert set(BUGS) == {(k.name, b.id) for k in CATALOGUE.values() for b in k.bugs}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("kind", "bug"), sorted(BUGS))
def test_each_classic_bug_fails_and_is_named(kind: str, bug: str, dtype: str) -> None:
    report = check(kind, f"{BUGGY}:{BUGS[(kind, bug)]}", dtype=dtype)
    assert not report.passed and report.exit_code == 1
    named = [f for f in report.diagnosis if f.kind == "classic_bug"]
    assert bug in {f.bug for f in named}, [f.message for f in report.diagnosis]
    finding = next(f for f in named if f.bug == bug)
    assert finding.parameter is not None and finding.test


def test_a_bug_only_a_probe_shows_is_caught_there_and_named_with_the_probe() -> None:
    report = check("conv", f"{BUGGY}:{BUGS[('conv', 'stride_ignored')]}")
    assert report.result.passed  # stride 1 by default: the bug cannot show
    assert not report.passed and report.failed_probes[0].name == "probe1"
    (finding,) = report.diagnosis
    assert finding.message.startswith("probe1 (batch 1, stride 2 with padding, a 3×2 kernel): ")
    assert finding.bug == "stride_ignored"
    assert "--param stride=2" in report.failed_probes[0].command


def test_a_probe_command_reruns_the_probe_alone() -> None:
    report = check("conv", f"{BUGGY}:{BUGS[('conv', 'stride_ignored')]}")
    probe = report.failed_probes[0]
    import shlex

    args = shlex.split(probe.command)[3:]
    from tests.conftest import invoke

    rerun = invoke("layer", "conv", *args, "--json")
    assert rerun.exit_code == 1
    import json

    doc = json.loads(rerun.stdout)
    assert sorted(doc["failed"]) == sorted(probe.result.failed)


def test_a_returned_shape_a_classic_bug_explains_is_compared_and_fails() -> None:
    report = check("affine", f"{BUGGY}:{BUGS[('affine', 'dx_not_reshaped')]}")
    dx = next(c for c in report.gradients if c.name == "dx")
    assert dx.passed  # the values are right ...
    assert "dx" in report.failed  # ... the shape is not
    assert report.problems["dx"] == "dx is returned with shape (4, 6); x is (4, 2, 3)"
    assert report.diagnosis[0].bug == "dx_not_reshaped"


def test_a_padded_dx_is_cropped_for_the_comparison_and_named() -> None:
    report = check("conv", f"{BUGGY}:{BUGS[('conv', 'padding_not_cropped')]}", oracle="central")
    assert report.problems["dx"].startswith("dx is returned with shape (3, 3, 8, 7)")
    assert report.oracle is not None and report.oracle.passed  # the values inside are right
    assert not report.passed


def test_gradients_returned_in_the_wrong_order_are_named(tmp_path: Path) -> None:
    code = tmp_path / "swapped.py"
    code.write_text(
        f"import sys; sys.path.insert(0, {str(LAYERS.parent)!r})\n"
        "from layers import lstm_step_forward, lstm_step_backward\n"
        "def swapped(dnext_h, dnext_c, cache):\n"
        "    dx, dprev_h, dprev_c, dWx, dWh, db = lstm_step_backward(dnext_h, dnext_c, cache)\n"
        "    return dprev_h, dx, dprev_c, dWx, dWh, db\n"
    )
    # D = H, so dx and dprev_h have the same shape and only their values tell them apart
    report = check("lstm_step", f"{code}:lstm_step_forward,swapped", shapes={"x": (3, 4)}, probes=0)
    found = {f.parameter: f for f in report.diagnosis}
    assert found["dx"].kind == "returned_in_wrong_place"
    assert "dx equals autograd's dprev_h" in found["dx"].message


def test_a_dropout_forward_without_its_mask_is_a_problem_even_where_numbers_agree(
    tmp_path: Path,
) -> None:
    code = tmp_path / "nomask.py"
    code.write_text(
        "def forward(x, dropout_param):\n"
        "    return x / dropout_param['p'], dropout_param\n"
        "def backward(dout, cache):\n"
        "    return dout / cache['p']\n"
    )
    report = check("dropout", f"{code}:forward,backward", probes=0)
    assert report.outputs[0].passed  # the mask read from out keeps everything ...
    assert "no unit is dropped: is the mask applied in the forward?" in report.problems["out"]
    assert not report.passed


def test_the_oracle_sides_with_autograd_against_a_wrong_backward() -> None:
    report = check("conv", f"{BUGGY}:{BUGS[('conv', 'kernel_flipped')]}", oracle="richardson")
    assert report.oracle is not None
    assert report.oracle.disagreeing == ("hand",)
    assert report.oracle_evaluations > 0


def test_a_custom_layer_is_judged_by_the_oracle_alone() -> None:
    shapes = {"x": (4, 5), "w": (5, 3), "v": (5, 3)}
    good = check("custom", f"{GLU}:glu_forward,glu_backward", shapes=shapes)
    assert good.passed and not good.outputs
    assert good.settings.custom and good.oracle is None
    assert [c.name for c in good.gradients] == ["dx", "dw", "dv"]
    # the oracle calls the forward four times per element (and once at the point itself)
    assert good.oracle_evaluations == 4 * (20 + 15 + 15) + 1
    bad = check("custom", f"{GLU}:glu_forward,glu_backward_buggy", shapes=shapes, dtype="float32")
    assert not bad.passed and set(bad.failed) == {"dx", "dv"}
    assert all(f.kind != "scale_factor" for f in bad.diagnosis)


def test_a_custom_layer_takes_its_parameters_as_a_dict(tmp_path: Path) -> None:
    code = tmp_path / "scaled.py"
    code.write_text(
        "def forward(x, params):\n"
        "    return params['scale'] * x ** params['power'], (x, params)\n"
        "def backward(dout, cache):\n"
        "    x, p = cache\n"
        "    return dout * p['scale'] * p['power'] * x ** (p['power'] - 1)\n"
    )
    report = check(
        "custom",
        f"{code}:forward,backward",
        shapes={"x": (3, 4)},
        params={"scale": "1.5", "power": "3"},
    )
    assert report.passed and report.settings.params == {"scale": 1.5, "power": 3}


def test_nan_from_the_user_s_code_fails_and_says_so(tmp_path: Path) -> None:
    code = tmp_path / "nan.py"
    code.write_text(
        "import numpy as np\n"
        "def forward(x):\n"
        "    return np.maximum(x, 0), x\n"
        "def backward(dout, x):\n"
        "    return np.full(x.shape, np.nan)\n"
    )
    report = check("relu", f"{code}:forward,backward", probes=0)
    assert not report.passed
    assert report.diagnosis[0].kind == "nonfinite"
    assert any(w.kind == "nonfinite" for w in report.warnings)


def test_the_same_request_gives_the_same_numbers() -> None:
    a = check("lstm_step", f"{LAYERS}:{CHECKS['lstm_step']}", seed=7)
    b = check("lstm_step", f"{LAYERS}:{CHECKS['lstm_step']}", seed=7)
    for x, y in zip(a.comparisons, b.comparisons, strict=True):
        assert np.array_equal(x.candidate, y.candidate) and np.array_equal(x.reference, y.reference)


@pytest.mark.slow  # every kind, two value styles, two dtypes, two seeds
@pytest.mark.parametrize("values", ["ties", "wide"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ties_and_wide_values_raise_no_false_alarm(values: str, dtype: str) -> None:
    for kind, functions in CHECKS.items():
        for seed in range(2):
            report = check(kind, f"{LAYERS}:{functions}", values=values, dtype=dtype, seed=seed)
            assert report.passed, (
                kind,
                seed,
                report.failed,
                [p.name for p in report.failed_probes],
            )


def test_a_dropout_unit_whose_input_is_zero_may_go_either_way() -> None:
    report = check("dropout", f"{LAYERS}:{CHECKS['dropout']}", values="ties", probes=0)
    assert report.passed and report.at_kink  # the zeros of x, kept or dropped
    bad = check("dropout", f"{BUGGY}:{BUGS[('dropout', 'mask_not_applied')]}", values="ties")
    assert not bad.passed
