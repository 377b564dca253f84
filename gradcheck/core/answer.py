"""What a side answers, whoever computed it: autograd, the replica, the user's code or a file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


@dataclass(frozen=True)
class Answer:
    """Forward values, gradients by hand name and (where given) δ per layer and a course's
    per-example derivatives.

    Arrays may carry a leading case axis (a sweep's stack of cases).
    """

    prediction: Array | None  # (B, n_out); None: this side gave no forward value (user code)
    loss: Array | None  # ()
    grads: Mapping[str, Array]  # W1, b1, … in the network's order
    deltas: Mapping[str, Array]  # "delta1" … : ∂L/∂z_l, (B, n_l), where given
    #: "dZ1" … and "dA0" … "dAL" as a course's gradient dict holds them, (B, n_l), where given
    #: (``course_values``)
    course: Mapping[str, Array] = field(default_factory=dict)


def course_factor(reduction: str, batch: int) -> float:
    """What a course's dZ and dA are, over ∂L/∂z and ∂L/∂a: the derivatives of each example's
    own loss, the cost's 1/m applied only in dW and db, so the batch size under a mean
    reduction and 1 under a sum."""
    return float(batch) if reduction == "mean" else 1.0


def course_values(
    reduction: str,
    batch: int,
    deltas: Mapping[str, Array],
    upstream: Sequence[Array],
) -> dict[str, Array]:
    """dZ_l = m·∂L/∂z_l (from ``deltas``) and dA_l = m·∂L/∂a_l (``upstream[l]``, a0 = x and
    aL = ŷ), m being ``course_factor``."""
    factor = course_factor(reduction, batch)
    out = {f"dZ{name.removeprefix('delta')}": factor * value for name, value in deltas.items()}
    out |= {f"dA{layer}": factor * value for layer, value in enumerate(upstream)}
    return out
