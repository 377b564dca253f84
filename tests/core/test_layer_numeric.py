"""The layer oracle: every gradient of every kind from forward passes alone, with many elements
perturbed per pass, agrees with autograd within its own allowance; at a tie or a kink it says
so and compares nothing."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck.core.layers import numeric, shapes
from gradcheck.core.layers.catalogue import CATALOGUE
from gradcheck.core.layers.kind import Case
from gradcheck.torch_side.layers import reference
from tests.core.layer_exact import configurations


def with_mask(case: Case) -> Case:
    if case.kind.read is None:
        return case
    mask = np.random.default_rng(1).random(case.inputs["x"].shape) < case.params["p"]
    return case.with_extra({"mask": mask})


@pytest.mark.parametrize("method", ["central", "richardson"])
@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_the_oracle_agrees_with_autograd_on_every_configuration(name: str, method: str) -> None:
    kind = CATALOGUE[name]
    for case in configurations(kind, range(2), "float64"):
        case = with_mask(case)
        _, grads = reference(case)
        num = numeric.gradient(case, method)
        for g, value in grads.items():
            left = num.left_out(g)
            gap = np.where(left, 0.0, np.abs(value - num.values[g]))
            assert np.all(gap <= num.allowance[g]), (g, case.values, float(np.max(gap)))
            # at most the elements at a tie or a kink are left out
            if case.values != "ties":
                assert not left.any(), (g, case.values)


@pytest.mark.slow  # a CIFAR-sized convolution
def test_grouped_perturbations_cost_a_few_forward_passes() -> None:
    kind = CATALOGUE["conv"]
    dims, params = shapes.configuration(kind, {"x": (4, 3, 32, 32), "w": (8, 3, 3, 3)})
    case = shapes.draw(kind, dims, params, "float64", 0)
    num = numeric.gradient(case, "central")
    # x: 3 channels × 3×3 colors, w: 27, b: 1, four passes each, and the base
    assert num.evaluations == 4 * (27 + 27 + 1) + 1
    _, grads = reference(case)
    assert np.allclose(num.values["dx"], grads["dx"], rtol=1e-7, atol=1e-9)


def test_a_tie_is_left_out_and_counted() -> None:
    kind = CATALOGUE["max_pool"]
    setup = kind.probes[1]
    dims, params = shapes.probe_configuration(kind, setup, shapes.resolve_params(kind, {}))
    case = shapes.draw(kind, dims, params, "float64", 0, "ties")
    num = numeric.gradient(case, "central")
    assert num.kinks["dx"].any()
    _, grads = reference(case)
    inside = ~num.left_out("dx")
    assert np.allclose(num.values["dx"][inside], grads["dx"][inside], atol=1e-8)


def test_the_unstructured_oracle_perturbs_one_element_at_a_time() -> None:
    kind = CATALOGUE["affine"]
    dims, params = shapes.configuration(kind)
    case = shapes.draw(kind, dims, params, "float64", 0)
    structured = numeric.gradient(case, "central")
    single = numeric.gradient(case, "central", structured=False)
    assert single.evaluations == 4 * sum(case.inputs[a].size for a in ("x", "w", "b")) + 1
    assert structured.evaluations < single.evaluations
    for g in ("dx", "dw", "db"):
        assert np.allclose(structured.values[g], single.values[g], rtol=1e-8, atol=1e-10)
