"""(a) Full-gradient oracle vs torch.autograd.gradcheck(fast_mode=False), float64.

Run: ``python benchmarks/bench_oracle.py`` (add ``--small`` to skip 2→256→256→1).

Times only the check itself (imports and model set-up excluded), in one process, one run:
torch's full mode perturbs every input in a Python loop; the oracle perturbs a chunk of
parameters at once and recomputes only the layers after the perturbed one. Errors are max
|oracle − autograd| over all parameters; peak memory is numpy's peak allocation during the
oracle (tracemalloc), measured in a separate call so tracing does not slow the timed one.
"""

from __future__ import annotations

import sys
import time
import tracemalloc

import numpy as np
import torch

from gradcheck.core import numeric
from gradcheck.core.spec import NetSpec
from gradcheck.torch_side import reference

X = np.array([[0.974, 0.312]])
Y = np.array([[1.0]])


def torch_gradcheck_seconds(spec: NetSpec, params: dict[str, np.ndarray]) -> float:
    model = reference.Model(spec.layers, spec.activation).double()
    names = spec.parameters()
    leaves = tuple(torch.tensor(params[p.name], requires_grad=True) for p in names)
    x, y = torch.tensor(X), torch.tensor(Y)

    def loss(*tensors: torch.Tensor) -> torch.Tensor:
        state = {p.torch_name: t for p, t in zip(names, tensors, strict=True)}
        pred = torch.func.functional_call(model, state, (x,))
        return torch.nn.functional.mse_loss(pred, y)

    start = time.perf_counter()
    ok = torch.autograd.gradcheck(loss, leaves, fast_mode=False)
    elapsed = time.perf_counter() - start
    assert ok
    return elapsed


def main() -> None:
    layers_list = [(2, 10, 10, 1)] if "--small" in sys.argv else [(2, 10, 10, 1), (2, 256, 256, 1)]
    print(f"machine: {torch.get_num_threads()} torch threads; float64; x = {X.tolist()}")
    for layers in layers_list:
        spec = NetSpec(layers)
        params = reference.init_state(spec, 0)
        ref = reference.autograd(spec, params, X, Y)
        print(f"\n{spec.describe()}: {spec.n_parameters:,} parameters")
        t_torch = torch_gradcheck_seconds(spec, params)
        print(f"  torch.autograd.gradcheck(fast_mode=False): {t_torch:9.3f} s")
        for method in ("central", "richardson", "complex-step"):
            numeric.full_gradient(spec, params, X, Y, method)[0]  # warm-up
            start = time.perf_counter()
            grads = numeric.full_gradient(spec, params, X, Y, method)[0]
            elapsed = time.perf_counter() - start
            err = max(float(np.max(np.abs(grads[k] - ref.grads[k]))) for k in grads)
            tracemalloc.start()
            numeric.full_gradient(spec, params, X, Y, method)[0]
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(
                f"  oracle {method:<13} {elapsed:9.4f} s  {t_torch / elapsed:8.0f}× faster  "
                f"max |oracle − autograd| = {err:.1e}  peak {peak / 2**20:.1f} MiB"
            )


if __name__ == "__main__":
    main()
