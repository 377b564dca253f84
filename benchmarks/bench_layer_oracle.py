"""The layer oracle's cost on a CIFAR-sized convolution, against the check without it and
against the course's own numerical gradient loop.

Run: ``python benchmarks/bench_layer_oracle.py`` (add ``--repeats N``, default 3).

The layer is ``samples/layers/layers.py``'s naive-loop convolution (``conv_forward_naive``,
``conv_backward_naive``, as students write it) on x 4×3×32×32, w 8×3×3×3, stride 1, pad 1.

1. ``gradcheck.check_layer`` in one process (torch imported and warmed up first), with no
   oracle, ``central`` and ``richardson``, probes included: medians of interleaved repeats.
2. CS231n's ``eval_numerical_gradient_array`` (perturb one element, call the naive forward
   twice, ``sum((pos − neg)·dout)/2h``) on the same layer: timed on db whole and on a sample of
   x and w elements, each call of the naive forward timed, and the whole loop's time computed
   from the calls it would make (2 per element of x, w and b).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import gradcheck
from gradcheck.core.layers import shapes
from gradcheck.core.layers.catalogue import CATALOGUE
from gradcheck.torch_side.layers import reference

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "layers" / "layers.py"
SHAPES = {"x": (4, 3, 32, 32), "w": (8, 3, 3, 3)}


def course() -> Any:
    spec = importlib.util.spec_from_file_location("bench_course_layers", SAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def eval_numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    df: np.ndarray,
    h: float = 1e-5,
    limit: int | None = None,
) -> tuple[np.ndarray, int]:
    """CS231n's loop (gradient_check.py), stopped after ``limit`` elements; the calls made."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    done = 0
    while not it.finished and (limit is None or done < limit):
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h
        pos = f(x).copy()
        x[ix] = oldval - h
        neg = f(x).copy()
        x[ix] = oldval
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
        done += 1
    return grad, 2 * done


def check_seconds(mod: Any, oracle: str | None) -> float:
    start = time.perf_counter()
    report = gradcheck.check_layer(
        "conv", mod.conv_forward_naive, mod.conv_backward_naive, shapes=SHAPES, oracle=oracle
    )
    elapsed = time.perf_counter() - start
    assert report.passed, report.failed
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    mod = course()
    load = os.getloadavg()[0]
    print(
        f"conv, naive loops (samples/layers/layers.py): x {SHAPES['x']}, w {SHAPES['w']}, "
        "stride 1, pad 1, float64, probes included"
    )
    print(f"load average (1 min) before: {load:.2f}")
    check_seconds(mod, None)  # warm-up: torch's first calls
    times: dict[str | None, list[float]] = {None: [], "central": [], "richardson": []}
    for _ in range(args.repeats):
        for oracle in times:
            times[oracle].append(check_seconds(mod, oracle))
    base = statistics.median(times[None])
    for oracle, values in times.items():
        t = statistics.median(values)
        label = f"--oracle {oracle}" if oracle else "no oracle"
        print(f"  check_layer, {label:20s} {t:7.2f} s   {t / base:4.2f}× the check without it")

    kind = CATALOGUE["conv"]
    dims, params = shapes.configuration(kind, SHAPES)
    case = shapes.draw(kind, dims, params, "float64", 0)
    x, w, b = (np.array(case.inputs[k]) for k in ("x", "w", "b"))
    dout = np.asarray(case.douts["dout"])
    conv_param = dict(params)
    _, grads = reference(case)
    calls_all = 2 * (x.size + w.size + b.size)
    start = time.perf_counter()
    db, calls = eval_numerical_gradient_array(
        lambda v: mod.conv_forward_naive(x, w, v, conv_param)[0], b.copy(), dout
    )
    per_call = (time.perf_counter() - start) / calls
    sample = 16
    dx, _ = eval_numerical_gradient_array(
        lambda v: mod.conv_forward_naive(v, w, b, conv_param)[0], x.copy(), dout, limit=sample
    )
    dw, _ = eval_numerical_gradient_array(
        lambda v: mod.conv_forward_naive(x, v, b, conv_param)[0], w.copy(), dout, limit=sample
    )
    err = max(
        float(np.max(np.abs(db - grads["db"]))),
        float(np.max(np.abs(dx.reshape(-1)[:sample] - grads["dx"].reshape(-1)[:sample]))),
        float(np.max(np.abs(dw.reshape(-1)[:sample] - grads["dw"].reshape(-1)[:sample]))),
    )
    whole = per_call * calls_all
    print(
        f"  eval_numerical_gradient_array (h = 1e-5): {per_call * 1e3:.0f} ms per call of the "
        f"naive forward; the whole gradient is {calls_all:,} calls ≈ {whole / 60:.0f} min "
        f"({whole / base:.0f}× the check without oracle); max |num − autograd| on the "
        f"elements run: {err:.1e}"
    )
    print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
