"""How close ``--oracle-budget``'s estimate comes to the oracle's real time.

Run: ``python benchmarks/bench_oracle_estimate.py`` (``--repeats N``, default 3).

Before it starts, the oracle estimates its own time (``checks/oracle.estimate_seconds``: its
multiply-adds, ``numeric.cost``, at the speed of a timed block of layer 1's units,
``numeric.rate``, times ``ESTIMATE_MARGIN``) and refuses to start over the budget. The estimate
only has to be of the right size for the budget (60 s by default) to mean something: the
target is a ratio estimate / real time between 1/5 and 5 for every oracle that takes a second
or more. Shorter ones are shown too, marked ``(short)``: fixed costs the estimate leaves out
dominate them, and no budget of seconds is tight for them. Each row is one network and method:
the estimate (speed measured afresh), the median real time of ``--repeats`` runs of
``oracle_numbers`` and their ratio. Times depend on the machine and its load; the ratio is what
is compared with the target.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from gradcheck.checks import oracle
from gradcheck.checks.problem import Request, setup
from gradcheck.core import numeric
from gradcheck.core.oracle_methods import METHODS

TARGET = 5.0  # the estimate within a factor of 5 of the real time, either way
LONG = 1.0  # seconds: the target applies to oracles that take at least this long
NETWORKS = [
    ("8,256,256,4", 32, "mse"),
    ("2,256,256,3", 300, "cross_entropy"),
    ("784,256,256,10", 64, "cross_entropy"),
]


def problem(layers: str, rows: int, loss: str):  # type: ignore[no-untyped-def]
    sizes = [int(n) for n in layers.split(",")]
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (rows, sizes[0]))
    if loss == "cross_entropy":
        y = rng.integers(0, sizes[-1], rows)
    else:
        y = rng.uniform(-1, 1, (rows, sizes[-1]))
    request = Request(x=x.tolist(), target=y.tolist(), layers=sizes, loss=loss)
    return setup(request)[0]


def main() -> int:
    repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 3
    print(
        f"estimate vs real time, median of {repeats} runs; "
        f"target: ratio within 1/{TARGET:.0f}…{TARGET:.0f}"
    )
    worst = 1.0
    for layers, rows, loss in NETWORKS:
        p = problem(layers, rows, loss)
        spec, params, x, y = p.spec, p.params, p.x, p.y
        for method, record in METHODS.items():
            if record.complex_twins and not spec.complex_twins:
                continue
            speed = numeric.rate(spec, params, x, y)
            estimate = oracle.estimate_seconds(spec, len(x), method, None, speed)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                oracle.oracle_numbers(spec, params, x, y, method)
                times.append(time.perf_counter() - start)
            real = statistics.median(times)
            ratio = estimate / real
            if real >= LONG:
                worst = max(worst, ratio, 1 / ratio)
            print(
                f"  {layers:<15} batch {rows:<4} {method:<13} estimate {estimate:8.3f} s   "
                f"real {real:8.3f} s   ratio {ratio:5.2f}" + ("" if real >= LONG else "  (short)")
            )
    verdict = "met" if worst <= TARGET else "NOT met"
    print(
        f"largest factor between estimate and real time (oracles of {LONG:.0f} s or more): "
        f"{worst:.2f} "
        f"(target ≤ {TARGET:.0f}: {verdict})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
