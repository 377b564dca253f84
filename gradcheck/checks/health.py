"""Warnings about checks that pass without meaning much: saturated or dead units, zero gradients.

Where σ′(z) underflows, every gradient flowing through that unit is ~0 on both sides, so hand and
autograd agree whatever the derivation says. Such a pass is honest but weak, and the user should
know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.compare import Comparison
from gradcheck.core.spec import NetSpec

Array = NDArray[np.floating]


@dataclass(frozen=True)
class Notice:
    """One warning: a stable ``kind`` for machines, a ``message`` for people."""

    #: "saturated" | "zero_gradient" | "tiny_gradient" | "loose_bound" | "nonfinite" | "oracle" |
    #: "dtype" | "user_code"
    kind: str
    message: str
    layer: int | None = None
    #: What it is about, for a list of many alike ("W3", "layer 2"); None: the whole check.
    subject: str | None = None

    def __post_init__(self) -> None:
        # Every warning is a sentence, wherever it is shown (table, explain, JSON, JUnit).
        if not self.message.rstrip().endswith((".", "!", "?")):
            object.__setattr__(self, "message", self.message.rstrip() + ".")


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
                    f"layer {layer}",
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
            subject=name,
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
            subject=name,
        )
        for name, value in values.items()
        if not np.all(np.isfinite(value))
    ]


def tiny_gradients(comparisons: Sequence[Comparison], dtype: str) -> list[Notice]:
    """Gradients and δ so small that the elementwise rule alone cannot see a bug in them.

    Every reference value is within its allowance of 0 (atol, or the rounding bound), so any
    hand values there — zeros too — pass elementwise; only the norm rule judges such a tensor,
    and where even its rounding bound reaches the tensor's size, nothing can.
    """
    fixes = ("float64, " if dtype == "float32" else "") + "a larger input or fewer layers"
    found = []
    for c in comparisons:
        if c.n_nonfinite or not c.zeros_pass:
            continue
        largest = float(np.max(np.abs(np.asarray(c.reference, dtype=np.float64))))
        with np.errstate(over="ignore"):  # a norm past the float maximum is inf, not an error
            size = float(np.linalg.norm(np.asarray(c.reference, dtype=np.float64)))
        if c.rounding < size and c.norm_tol is not None and c.norm_tol * size > c.rounding:
            message = (
                f"{c.name}: every autograd value is within its allowance of 0 (atol + "
                f"rtol·|autograd| + 4E; largest value {largest:.1e}), so the elementwise rule "
                f"alone could not see a bug "
                f"here; the norm rule judges it (norm err {c.norm_error:.1e}, ntol "
                f"{c.norm_tol:g}). For a check with margin use {fixes}"
            )
        elif c.bounds is not None and np.any(np.asarray(c.bounds.radius) > 0):
            # Not rounding: an interval of valid values (a saturated output, a kink) holds 0.
            message = (
                f"{c.name}: every element's allowance holds 0, and here it includes an interval "
                f"of valid values (largest value {largest:.1e}): where an output saturates or an "
                "argument sits at a kink, torch's value and the exact one differ, so zeros would "
                "pass here too. For a "
                f"sharper check use {'float64, ' if dtype == 'float32' else ''}inputs that do not "
                "saturate the output, or more rows"
            )
        else:
            message = (
                f"{c.name}: the gradient (largest {largest:.1e}) is at the rounding level of "
                f"{dtype} for this network and input: neither rule can tell a bug from rounding "
                f"here. Use {fixes}"
            )
        found.append(Notice("tiny_gradient", message, subject=c.name))
    return found


#: A tensor whose rounding allowance (4‖E‖) reaches this share of its size in norm is flagged:
#: a whole-tensor change that small could pass as rounding (0.1 % is the smallest bug the
#: verdict suite plants in float32, 1e-4 in float64).
LOOSE_SHARE = {"float32": 1e-3, "float64": 1e-4}


def loose_bounds(comparisons: Sequence[Comparison], dtype: str) -> list[Notice]:
    """Gradients whose rounding bound allows a whole-tensor change of ``LOOSE_SHARE`` or more:
    a check with less margin than the defaults promise (float32 on raw, unscaled inputs, a deep
    float32 network), said so with what would sharpen it."""
    found = []
    share = LOOSE_SHARE[dtype]
    for c in comparisons:
        if c.n_nonfinite or c.zeros_pass or c.norm_tol is None:
            continue  # not judged at all, or already flagged as at rounding level
        with np.errstate(over="ignore", invalid="ignore"):
            size = float(np.linalg.norm(np.asarray(c.reference, dtype=np.float64)))
        if not (size > 0 and np.isfinite(size)) or c.rounding < share * size:
            continue
        fix = (
            "float64, inputs scaled to about 1"
            if dtype == "float32"
            else "inputs scaled to about 1"
        )
        found.append(
            Notice(
                "loose_bound",
                f"{c.name}: its rounding bound allows {c.rounding / size:.1e} of its size in "
                f"{dtype} on this network and input, so a bug that changes it by less could "
                f"pass as rounding. For a sharper check use {fix}, or fewer layers",
                subject=c.name,
            )
        )
    return found
