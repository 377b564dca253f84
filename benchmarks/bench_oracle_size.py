"""The oracle at real size: the MNIST case and a scaling table.

Run: ``python benchmarks/bench_oracle_size.py`` (``--repeats N``, default 3; ``--no-scaling``).

1. ``gradcheck run --layers 784,512,512,10 --loss cross_entropy --data mnist64.npz`` (669,706
   parameters; 64 synthetic MNIST-like rows, 80 % zero pixels, seeded) without an oracle and with
   each ``--oracle``, as whole commands, interleaved (one of each per round) so that a machine
   that slows down mid-run slows every command alike. Reported: the median wall time, its ratio
   to the plain run (the targets are ratios: central ≤ 10×, richardson ≤ 2× central,
   complex-step ≤ 1.5× central, directional and sampled ≤ 1.5×), and each command's peak RSS.
   The sampled rows check 20 and 100 elements per parameter (``--oracle-sample``).
2. Accuracy in-process: max |oracle − autograd| over all 669,706 parameters per method, and the
   estimate ``--oracle-budget`` would have made before starting, against the time taken.
3. Scaling: the central oracle alone (``numeric.full_gradient``) on 2→N→N→1, one input row,
   N = 64 … 2048, seconds against parameters.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

LAYERS = "784,512,512,10"
WRAPPER = (
    "import resource, runpy, sys\n"
    "sys.argv = ['gradcheck', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('gradcheck', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def mnist_like(path: Path, rows: int = 64, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    x = rng.random((rows, 784))
    x[x < 0.8] = 0.0  # MNIST has ~80 % zero pixels
    np.savez(path, x=x, y=rng.integers(0, 10, rows))


def measure(args: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    return elapsed, int(done.stderr.strip().splitlines()[-1]) * 1024


def commands(data: Path) -> dict[str, list[str]]:
    base = ["run", "--layers", LAYERS, "--loss", "cross_entropy", "--data", str(data)]
    out = {"no oracle": base}
    for method in ("central", "richardson", "complex-step", "directional"):
        out[f"--oracle {method}"] = [*base, "--oracle", method]
    for k in (20, 100):
        out[f"central --oracle-sample {k}"] = [
            *base,
            "--oracle",
            "central",
            "--oracle-sample",
            str(k),
        ]
    return out


def whole_commands(data: Path, repeats: int) -> None:
    cmds = commands(data)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    peaks: dict[str, int] = dict.fromkeys(cmds, 0)
    for _ in range(repeats):
        for name, args in cmds.items():
            seconds, peak = measure(args)
            times[name].append(seconds)
            peaks[name] = max(peaks[name], peak)
    base = statistics.median(times["no oracle"])
    central = statistics.median(times["--oracle central"])
    print(f"gradcheck run --layers {LAYERS} --loss cross_entropy --data mnist64.npz [...]")
    print(f"wall time, median of {repeats} interleaved repeats; peak RSS of the process")
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"  {name:<28} {median:6.2f} s  {median / base:5.2f}× plain  "
            f"{median / central:5.2f}× central  peak {peaks[name] / 2**20:6.0f} MiB"
        )


def accuracy(data: Path) -> None:
    from gradcheck.checks.oracle import estimate_seconds
    from gradcheck.checks.problem import Request, setup
    from gradcheck.core import numeric
    from gradcheck.core.oracle_methods import FULL_METHODS
    from gradcheck.torch_side import reference

    problem, _ = setup(Request(data=str(data), layers=(784, 512, 512, 10), loss="cross_entropy"))
    ref = reference.autograd(problem.spec, problem.params, problem.x, problem.y)
    exact = exact_gradient(problem)
    print("\naccuracy (in-process, oracle alone; exact = the replica in 80-bit long double):")
    for method in FULL_METHODS:
        start = time.perf_counter()
        grads = numeric.full_gradient(
            problem.spec, problem.params, problem.x, problem.y, method
        ).grads
        seconds = time.perf_counter() - start
        err = max(float(np.max(np.abs(grads[k] - ref.grads[k]))) for k in grads)
        off = max(float(np.max(np.abs(grads[k] - exact[k]))) for k in grads)
        print(
            f"  {method:<13} {seconds:6.2f} s  max |oracle − autograd| = {err:.1e}, "
            f"|oracle − exact| = {off:.1e}"
        )
        # What --oracle-budget would have estimated for this oracle, here, before starting.
        spec, batch = problem.spec, problem.x.shape[0]
        speed = numeric.rate(spec, problem.params, problem.x, problem.y)
        estimate = estimate_seconds(spec, batch, method, None, speed)
        print(f"  {'':<13} budget estimate {estimate:6.2f} s ({estimate / seconds:.2f}× the time)")


def exact_gradient(problem: Any) -> dict[str, Any]:
    """The gradient to ~1e-19: the replica's hand derivation in numpy's long double (80-bit
    on x86), on the same float64 weights and inputs. The oracle's error is measured against
    it, not against autograd, whose own rounding (~1e-16) would hide the oracle's."""
    from gradcheck.core import replica

    params = {k: v.astype(np.longdouble) for k, v in problem.params.items()}
    y = problem.y if problem.y.dtype.kind == "i" else problem.y.astype(np.longdouble)
    grads = replica.answer(problem.spec, params, problem.x.astype(np.longdouble), y).grads
    return dict(grads)


def seed_accuracy() -> None:
    from gradcheck.checks.problem import Request, setup
    from gradcheck.core import numeric
    from gradcheck.core.oracle_methods import FULL_METHODS

    problem, _ = setup(Request(x=[0.974, 0.312]))
    exact = exact_gradient(problem)
    print("\naccuracy on the seed network (--x 0.974 0.312), max |oracle − exact|:")
    for method in FULL_METHODS:
        grads = numeric.full_gradient(
            problem.spec, problem.params, problem.x, problem.y, method
        ).grads
        off = max(float(np.max(np.abs(grads[k] - exact[k]))) for k in grads)
        print(f"  {method:<13} {off:.2e}")


def scaling() -> None:
    from gradcheck.core import numeric
    from gradcheck.core.spec import NetSpec
    from gradcheck.torch_side import reference

    x, y = np.array([[0.974, 0.312]]), np.array([[1.0]])
    print("\nscaling: central oracle alone on 2→N→N→1, one row")
    print(f"  {'N':>5} {'parameters':>11} {'seconds':>8}")
    for n in (64, 128, 256, 512, 1024, 2048):
        spec = NetSpec((2, n, n, 1))
        params = reference.init_state(spec, 0)
        start = time.perf_counter()
        numeric.full_gradient(spec, params, x, y, "central")
        seconds = time.perf_counter() - start
        print(f"  {n:>5} {spec.n_parameters:>11,} {seconds:8.3f}")


def main() -> None:
    repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 3
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "mnist64.npz"
        mnist_like(data)
        whole_commands(data, repeats)
        accuracy(data)
    seed_accuracy()
    if "--no-scaling" not in sys.argv:
        scaling()


if __name__ == "__main__":
    main()
