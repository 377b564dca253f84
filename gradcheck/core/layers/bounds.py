"""Where a correct value of a layer's output or gradient lies: its rounding bound and interval.

The rounding bound E is the kind's own forward and backward evaluated on tracked arrays
(``tracked.py``) in the check's dtype; the interval is the kind's (``LayerKind.intervals``):
at relu's 0 both one-sided derivatives, at a tie of a max pool any routing of dout among the
tied maxima, at an SVM margin within rounding of 0 either side of the hinge. Elsewhere the
interval is the single value (radius 0) and a candidate is judged against autograd's.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.bounds import TensorBounds
from gradcheck.core.layers.evaluate import evaluate
from gradcheck.core.layers.kind import Case
from gradcheck.core.layers.tracked import bound_of, value

Array = NDArray[np.float64]


def layer_bounds(
    case: Case,
    reference: Mapping[str, NDArray[np.floating]],
    candidate: Mapping[str, NDArray[np.floating]],
) -> dict[str, TensorBounds]:
    """Per compared quantity (``out``, ``loss``, ``dx`` …): center, radius and E.

    ``reference`` and ``candidate`` are autograd's and the hand's gradients keyed by argument
    name (``x``), shaped as the arguments: where the valid values form a set the candidate
    chooses among them (the one nearest it is the interval's center).
    """
    with np.errstate(all="ignore"):
        tracked = evaluate(case, tracked=True)
    out: dict[str, TensorBounds] = {}
    for name, t in tracked.items():
        v = np.asarray(value(t), dtype=np.float64)
        out[name] = TensorBounds(v, np.zeros(v.shape), np.asarray(bound_of(t), dtype=np.float64))
    kind = case.kind
    if kind.intervals is not None:
        with np.errstate(all="ignore"):
            found = kind.intervals(case, reference, candidate)
        for arg, (center, radius, *extra) in found.items():
            e = out[f"d{arg}"].rounding
            if extra:  # the rounding of another valid choice (a routing of tied maxima)
                e = e + np.asarray(extra[0], np.float64)
            out[f"d{arg}"] = TensorBounds(
                np.asarray(center, np.float64), np.asarray(radius, np.float64), e
            )
    return out


def count_at_kinks(bounds: Mapping[str, TensorBounds]) -> int:
    """Elements whose interval is wider than a point (at a kink or a tie)."""
    return sum(int(np.count_nonzero(t.radius)) for t in bounds.values())
