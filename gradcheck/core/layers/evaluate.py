"""A kind's own numerics on a case: plain float64 values, or tracked ones (value and bound)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.layers.kind import Backward, Case, Forward
from gradcheck.core.layers.tracked import Rounding, Tracked, total, value

Array = NDArray[np.float64]


def evaluate(
    case: Case,
    *,
    tracked: bool = False,
    inputs: Mapping[str, Any] | None = None,
    douts: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    forward: Forward | None = None,
    backward: Backward | None = None,
    dtype: Any = np.float64,
) -> dict[str, Any]:
    """Every compared quantity by the course's name (``out``, ``loss``, ``dx``, ``dw`` …).

    ``inputs``/``douts``/``params`` replace the case's (a bug's formula is often the layer on
    other inputs: the kernel flipped, dnext_c dropped); ``forward``/``backward`` replace the
    kind's. ``tracked``: the values carry the rounding bound of a side computing them in the
    case's dtype (``tracked.Tracked``); the inputs are exact. Plain values are computed in
    ``dtype`` (float64; the case's own to run the formulas as a side would, longdouble for an
    exact yardstick).
    """
    kind = case.kind
    r = Rounding.of(case.dtype)
    args: dict[str, Any] = {**case.arrays, **(inputs or {})}
    differentiated = {a.name for a in kind.differentiated}
    if tracked:
        args = {k: Tracked.exact(v, r) if k in differentiated else v for k, v in args.items()}
    else:
        args = {
            k: np.asarray(v, dtype=dtype) if k in differentiated else v for k, v in args.items()
        }
    p = {**case.params, **(params or {})}
    outs, cache = (forward or kind.forward)(args, p)
    given = {k.removeprefix("d"): v for k, v in (douts or case.douts).items()}
    d: dict[str, Any] = {}
    for name, v in given.items():
        d[name] = Tracked.exact(v, r) if tracked else np.asarray(v, dtype=dtype)
    grads = (backward or kind.backward)(d, cache, p)
    found: dict[str, Any] = {}
    for name, v in outs.items():
        found[name] = total(v) if kind.loss else v
    for arg in kind.differentiated:
        found[f"d{arg.name}"] = grads[arg.name]
    return found


def plain(case: Case, **changes: Any) -> dict[str, Array]:
    """``evaluate`` in float64, every quantity a plain array."""
    return {k: np.asarray(value(v), dtype=np.float64) for k, v in evaluate(case, **changes).items()}
