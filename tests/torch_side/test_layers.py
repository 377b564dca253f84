"""Each kind's torch reference: the kind's own NumPy formulas and torch agree (float64), and
the reference answers in the check's dtype."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck.core.layers.catalogue import CATALOGUE
from gradcheck.core.layers.evaluate import plain
from gradcheck.torch_side.layers import TORCH_LAYERS, reference
from tests.core.layer_exact import configurations
from tests.core.test_layer_numeric import with_mask


def test_every_kind_has_a_torch_reference() -> None:
    assert TORCH_LAYERS.keys() == CATALOGUE.keys()


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_torch_and_the_records_formulas_agree(name: str) -> None:
    kind = CATALOGUE[name]
    for case in configurations(kind, range(2), "float64"):
        case = with_mask(case)
        outs, grads = reference(case)
        mine = plain(case)
        for quantity, value in {**outs, **grads}.items():
            if case.values == "ties" and quantity.startswith("d") and kind.intervals is not None:
                continue  # at a tie or a kink each picks its own valid value
            assert np.allclose(mine[quantity], value, rtol=1e-10, atol=1e-12), (
                quantity,
                case.values,
            )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_reference_answers_in_the_check_s_dtype(dtype: str) -> None:
    kind = CATALOGUE["lstm_step"]
    (case, *_) = configurations(kind, range(1), dtype)
    outs, grads = reference(case)
    assert {v.dtype for v in (*outs.values(), *grads.values())} == {np.dtype(dtype)}
    assert set(grads) == set(kind.gradient_names)
