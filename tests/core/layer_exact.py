"""The yardstick for layer bounds: each kind's own formulas in 80-bit long double, and correct
implementations in the check's dtype to measure against it.

numpy's ``longdouble`` (x87 extended, ε ≈ 1.1e-19 on x86-64 Linux) runs the kind's forward and
backward (``core/layers``' formulas are dtype-preserving on plain arrays): 2,000× finer than
float64. Three correct sides are measured: the course-style loops of
``samples/layers/layers.py``, the kind's vectorised formulas run in the dtype, and torch.
Elements inside an interval wider than a point (a tie, a kink) are left out: there the exact
value is a set.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.checks.layer import forward_arguments
from gradcheck.core.layers import shapes
from gradcheck.core.layers.bounds import layer_bounds
from gradcheck.core.layers.evaluate import evaluate
from gradcheck.core.layers.kind import Case, LayerKind
from gradcheck.core.layers.tracked import value
from gradcheck.torch_side.layers import reference

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE = ROOT / "samples" / "layers" / "layers.py"
Array = NDArray[np.float64]


def sample_module() -> Any:
    """samples/layers/layers.py, imported as a module of its own."""
    spec = importlib.util.spec_from_file_location("gradcheck_sample_layers", SAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def configurations(kind: LayerKind, seeds: range, dtype: str) -> list[Case]:
    """The default configuration and the probes, each drawn under every seed."""
    params = shapes.resolve_params(kind, {})
    out = []
    for seed in seeds:
        dims, p = shapes.configuration(kind)
        out.append(shapes.draw(kind, dims, p, dtype, seed))
        for setup in kind.probes:
            dims, p = shapes.probe_configuration(kind, setup, params)
            out.append(shapes.draw(kind, dims, p, dtype, seed, setup.values))
    return out


def course(kind: LayerKind, case: Case, module: Any) -> tuple[Case, dict[str, Array]]:
    """The course-style sample on ``case`` (and the case with what the reference reads)."""
    names = module.CHECKS[kind.name].split(",")
    forward = getattr(module, names[0])
    args = [
        np.array(a, copy=True) if isinstance(a, np.ndarray) else a
        for a in forward_arguments(kind, case)
    ]
    result = forward(*args)
    found: dict[str, Array] = {}
    if kind.loss:
        found["loss"] = np.asarray(result[0], dtype=np.float64)
        for name, v in zip(kind.gradient_names, result[1:], strict=True):
            found[name] = np.asarray(v, dtype=np.float64)
        return case, found
    outs, cache = result[:-1], result[-1]
    for name, v in zip(kind.outputs, outs, strict=True):
        found[name] = np.asarray(v, dtype=np.float64)
    if kind.read is not None:
        extra, _ = kind.read(case, found)
        case = case.with_extra(extra)
    backward = getattr(module, names[1])
    grads = backward(*[case.douts[d] for d in kind.douts], cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for name, v in zip(kind.gradient_names, grads, strict=True):
        found[name] = np.asarray(v, dtype=np.float64)
    return case, found


@dataclass(frozen=True)
class Measured:
    """One side on one case: per quantity, the largest |side − exact| / E over the elements
    (E > 0, interval a point), and every element's ratio for the distribution."""

    worst: dict[str, float]
    ratios: dict[str, Array]


def sides(kind: LayerKind, case: Case, module: Any) -> tuple[Case, dict[str, dict[str, Array]]]:
    """Every correct side's quantities on ``case``: loops, vectorised, torch."""
    case, loops = course(kind, case, module)
    vectorised = {
        k: np.asarray(value(v), dtype=np.float64)
        for k, v in evaluate(case, dtype=np.dtype(case.dtype)).items()
    }
    outs, grads = reference(case)
    torch_side = {k: np.asarray(v, dtype=np.float64) for k, v in {**outs, **grads}.items()}
    return case, {"loops": loops, "vectorised": vectorised, "torch": torch_side}


def exact(case: Case) -> dict[str, NDArray[np.longdouble]]:
    with np.errstate(all="ignore"):
        found = evaluate(case, dtype=np.longdouble)
    return {k: np.asarray(value(v), dtype=np.longdouble) for k, v in found.items()}


def measure(
    case: Case, side: dict[str, Array], truth: dict[str, Any], ref_grads: dict[str, Array]
) -> Measured:
    bounds = layer_bounds(
        case,
        {g[1:]: v for g, v in ref_grads.items()},
        {g[1:]: v for g, v in side.items() if g.startswith("d")},
    )
    worst: dict[str, float] = {}
    ratios: dict[str, Array] = {}
    for name, t in bounds.items():
        point = np.asarray(t.radius) == 0
        e = np.asarray(t.rounding, dtype=np.float64)
        d = np.abs(np.asarray(side[name], dtype=np.longdouble) - truth[name]).astype(np.float64)
        use = point & (e > 0)
        with np.errstate(over="ignore"):  # elements inside an interval are not measured
            r = np.where(use, d / np.where(e > 0, e, 1.0), 0.0)
        worst[name] = float(np.max(r)) if r.size else 0.0
        ratios[name] = r[use & (d > 0)]
    return Measured(worst, ratios)
