"""What a side answers, whoever computed it: autograd, the replica, the user's code or a file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


@dataclass(frozen=True)
class Answer:
    """Forward values, gradients by hand name and (where given) δ per layer and ∂L/∂a per
    layer.

    Arrays may carry a leading case axis (a sweep's stack of cases).
    """

    prediction: Array | None  # (B, n_out); None: this side gave no forward value (user code)
    loss: Array | None  # ()
    grads: Mapping[str, Array]  # W1, b1, … in the network's order
    deltas: Mapping[str, Array]  # "delta1" … : ∂L/∂z_l, (B, n_l), where given
    #: "dA0" … "dAL": ∂L/∂a_l, (B, n_l), a0 = x and aL = ŷ, where given (the course's dA1)
    activation_grads: Mapping[str, Array] = field(default_factory=dict)


def activation_grad_name(layer: int) -> str:
    """The name of ∂L/∂a_layer (a0 = x, aL = ŷ): ``dA1``, as the course's gradient dicts say."""
    return f"dA{layer}"
