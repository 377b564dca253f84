"""(b) Sweep throughput vs a loop of single checks, and `gradcheck sweep --cases 10000` wall time.

Run: ``python benchmarks/bench_sweep.py [--repeats 5]``.

Throughput is measured in-process (imports excluded): ``run_sweep`` over N cases against
``gradcheck.check`` called once per case (the same work ``gradcheck run`` does, without process
start-up) over a subset, both in cases per second. The whole command is timed as a
subprocess against ``python -c "import torch"``, interleaved, median of the repeats (the
machine is shared).
"""

from __future__ import annotations

import sys
import time

from walltime import GRADCHECK, compare_to_import_torch

from gradcheck.api import check
from gradcheck.checks.sweep import SweepSettings, draw_batches, run_sweep
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import resolve_tolerance

CASES = 10_000
LOOP_CASES = 300


def main() -> None:
    repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 5
    spec = NetSpec()
    settings = SweepSettings(spec, CASES, 0, 1, resolve_tolerance("float64"))
    run_sweep(SweepSettings(spec, 100, 0, 1, resolve_tolerance("float64")))  # warm-up
    start = time.perf_counter()
    report = run_sweep(settings)
    t_sweep = time.perf_counter() - start
    assert report.passed
    x, y = draw_batches(spec, LOOP_CASES, 0, 1)
    start = time.perf_counter()
    for k in range(LOOP_CASES):
        assert check(x[k], y[k], seed=k).passed
    t_loop = time.perf_counter() - start
    sweep_rate, loop_rate = CASES / t_sweep, LOOP_CASES / t_loop
    print(f"seed network {spec.describe()}, batch 1, float64")
    print(f"  sweep: {CASES:,} cases in {t_sweep:.3f} s = {sweep_rate:,.0f} cases/s")
    print(f"  loop of check(): {LOOP_CASES} cases in {t_loop:.3f} s = {loop_rate:,.0f} cases/s")
    print(f"  sweep throughput / loop throughput = {sweep_rate / loop_rate:.0f}×")

    print()
    commands = {f"gradcheck sweep --cases {CASES}": [GRADCHECK, "sweep", "--cases", str(CASES)]}
    compare_to_import_torch(commands, repeats)


if __name__ == "__main__":
    main()
