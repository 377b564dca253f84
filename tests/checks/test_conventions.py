"""The convention finder proposes only networks that could be the user's."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check
from gradcheck.core.spec import NetSpec


@pytest.mark.parametrize("layers", [[2, 10, 10, 1], [3, 1]])
def test_no_row_wise_output_over_a_single_unit(layers: list[int]) -> None:
    # Over one unit softmax is 1 and log_softmax 0: every gradient is zero under them, so
    # all-zero gradients would "pass" as --output-activation softmax. They are a bug.
    spec = NetSpec(tuple(layers))
    zeros = {p.name: np.zeros(p.shape) for p in spec.parameters()}
    report = check(x=[0.5] * layers[0], layers=layers, grads=zeros)
    assert not report.passed
    flags = [flag for f in report.diagnosis for flag in f.flags]
    assert not any("softmax" in flag for flag in flags), flags
    assert not any(f.kind == "convention" for f in report.diagnosis)


def test_a_row_wise_output_is_still_proposed_where_it_can_be_meant() -> None:
    from gradcheck.checks.conventions import _heads

    def outputs(layers: tuple[int, ...]) -> set[str]:
        spec = NetSpec(layers)
        y = np.zeros((1, spec.n_out))
        return {head.output_activation for head in _heads(spec, y)}

    assert "softmax" in outputs((2, 4, 3))
    single = outputs((2, 4, 1))
    assert not single & {"softmax", "log_softmax"} and "sigmoid" in single
