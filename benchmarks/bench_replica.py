"""Hand-derived NumPy backward vs torch autograd on a large case (the target: within 1.5×).

Run: ``python benchmarks/bench_replica.py`` (``--repeats N`` to change the repeat count).

Both sides do the same work on the same float64 weights and batch: forward, MSE loss, and all
parameter gradients. Times are the median of the repeats, measured in one process, one after
the other, so the ratio compares like with like on whatever machine runs it. Thread counts are
left at each library's default; the BLAS that numpy and torch use are reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from gradcheck.core import replica
from gradcheck.core.spec import NetSpec
from gradcheck.torch_side import reference

LAYERS = (2, 512, 512, 512, 1)
BATCH = 4096


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm up: first-call allocations and thread-pool start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    spec = NetSpec(LAYERS, "sigmoid", "mse", "float64")
    params = reference.init_state(spec, 0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(BATCH, spec.n_in))
    y = rng.uniform(-1, 1, size=(BATCH, spec.n_out))

    model = reference.Model(spec.layers, spec.activation).double()
    model.load_state_dict({p.torch_name: torch.tensor(params[p.name]) for p in spec.parameters()})
    xt, yt = torch.tensor(x), torch.tensor(y)
    loss_fn = torch.nn.MSELoss()

    def torch_side() -> None:
        model.zero_grad(set_to_none=True)
        loss_fn(model(xt), yt).backward()

    def numpy_side() -> None:
        replica.gradients(spec, params, x, y)

    # Same numbers first: a fast wrong answer is no answer.
    torch_side()
    _, bwd = replica.gradients(spec, params, x, y)
    grads = dict(model.named_parameters())
    err = max(
        float(np.max(np.abs(bwd.grads[p.name] - grads[p.torch_name].grad.numpy())))
        for p in spec.parameters()
    )

    t_torch = median_seconds(torch_side, args.repeats)
    t_numpy = median_seconds(numpy_side, args.repeats)
    print(f"network {'→'.join(map(str, LAYERS))}, batch {BATCH}, float64, sigmoid, mse")
    print(f"torch {torch.__version__} threads={torch.get_num_threads()}, numpy {np.__version__}")
    print(f"max |hand − autograd| over all gradients: {err:.1e}")
    print(
        f"torch autograd (forward + backward): {t_torch * 1e3:8.1f} ms  (median of {args.repeats})"
    )
    print(f"NumPy hand-derived (forward + backward): {t_numpy * 1e3:8.1f} ms")
    print(f"ratio NumPy / torch: {t_numpy / t_torch:.2f}×  (target ≤ 1.5×)")


if __name__ == "__main__":
    main()
