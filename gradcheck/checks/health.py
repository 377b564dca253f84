"""Warnings about checks that pass without meaning much: saturated or dead units, zero gradients.

Where σ′(z) underflows, every gradient flowing through that unit is ~0 on both sides, so hand and
autograd agree whatever the derivation says. Such a pass is honest but weak, and the user should
know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.spec import NetSpec

Array = NDArray[np.floating]


@dataclass(frozen=True)
class Notice:
    """One warning: a stable ``kind`` for machines, a ``message`` for people."""

    kind: str  # "saturated" | "zero_gradient" | "nonfinite"
    message: str
    layer: int | None = None


def saturation(spec: NetSpec, zs: tuple[Array, ...]) -> list[Notice]:
    """Hidden units whose activation derivative is below the dtype's eps for every sample."""
    eps = float(np.finfo(np.dtype(spec.dtype)).eps)
    notices = []
    for layer, z in enumerate(zs[:-1], start=1):  # hidden layers only
        act = spec.activation_at(layer)
        if act.stuck is None:
            continue  # f′ never vanishes, so no unit can be stuck
        with np.errstate(all="ignore"):
            flat = np.abs(act.df(z)) < eps  # (B, n_l)
        stuck = np.all(flat, axis=0)
        count = int(np.count_nonzero(stuck))
        if count:
            units = ", ".join(str(i) for i in np.flatnonzero(stuck)[:8])
            more = ", …" if count > 8 else ""
            notices.append(
                Notice(
                    "saturated",
                    f"layer {layer}: {count} of {z.shape[-1]} units {act.stuck} for every sample "
                    f"({act.symbol}′(z{layer}) < {eps:.1e} at units {units}{more}); "
                    "gradients through them are ~0 on both sides, so the check says little there",
                    layer,
                )
            )
    return notices


def zero_gradients(grads: Mapping[str, Array]) -> list[Notice]:
    """Parameters whose reference gradient is exactly zero: nothing was checked for them."""
    return [
        Notice(
            "zero_gradient",
            f"{name}: autograd's gradient is exactly zero everywhere; any hand derivation "
            "returning zeros would pass",
        )
        for name, grad in grads.items()
        if grad.size and not np.any(grad)
    ]


def nonfinite(values: Mapping[str, Array], side: str) -> list[Notice]:
    """Forward values or gradients that are NaN or infinite (the check then fails)."""
    return [
        Notice(
            "nonfinite",
            f"{name}: {side} has NaN or infinite values (overflow: inputs, targets or weights "
            "too large for the dtype?)",
        )
        for name, value in values.items()
        if not np.all(np.isfinite(value))
    ]
