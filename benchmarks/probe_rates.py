"""Measure probe batches: false alarms on correct code, and what they catch at batch 1.

    python benchmarks/probe_rates.py [--checks 2000] [--catalogue 100] [--seed 0]

Correct checks: random cases of ``tests/core/verdict_cases.random_case`` (1–12 layers, every
activation, loss and dtype, batch 1–64, inputs 1e-6 … 1e2, constructed kink hits), each with a
correct ``--impl``-style callable run on the default 2 probe batches (``run_probe``, sizes 2 and
3); every probe must pass. Catalogue: every bug kind of ``verdict_cases.BUGS`` on random
networks at **batch 1**, checked on the given row and on the 2 probes. A (bug, network) pair is
detectable when its effect exceeds twice the allowance (``verdict_cases.detectable``) on the
given row or on a probe; it is caught when the given row or a probe fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradcheck.checks.pipeline import evaluate, run_probe
from gradcheck.checks.probes import DEFAULT_PROBES, draw, probe_problem
from gradcheck.checks.problem import Request
from gradcheck.core.answer import Answer
from tests.core.verdict_cases import BUGS, Case, detectable, hand_backward, random_case


def correct_probes(n: int, seed: int) -> tuple[int, list[str]]:
    """n random correct checks × DEFAULT_PROBES probes: (probes run, false alarms)."""
    alarms = []
    for k in range(n):
        case = random_case(seed + k, max_batch=64)
        p = case.problem
        request = Request(layers=p.spec.layers)
        for index in range(1, DEFAULT_PROBES + 1):
            probe = run_probe(
                request, p, case.settings, index, backward=hand_backward(p.spec), impl=None
            )
            if not probe.passed:
                failed = probe.report.failed if probe.report is not None else probe.error
                alarms.append(f"case {seed + k} {p.spec.describe()} {p.spec.dtype} "
                              f"{probe.name}: {failed}")  # fmt: skip
    return n * DEFAULT_PROBES, alarms


def catalogue(
    n: int, seed: int
) -> tuple[Counter[str], Counter[str], Counter[str], Counter[str], Counter[str], list[str]]:
    """Every bug kind at batch 1: runs; detectable on the given row; caught by the given row
    alone, detectable on the row or a probe, caught by the row or a probe (the last three
    among the pairs detectable somewhere); misses."""
    runs: Counter[str] = Counter()
    det_row: Counter[str] = Counter()
    caught_row: Counter[str] = Counter()
    det_any: Counter[str] = Counter()
    caught_any: Counter[str] = Counter()
    misses = []
    for k in range(n):
        case = random_case(seed + k, max_batch=1)
        p = case.problem
        request = Request(layers=p.spec.layers)
        probe_cases = []
        for index in range(1, DEFAULT_PROBES + 1):
            x, y = draw(case.settings, index)
            small = probe_problem(p, x, y)
            probe_cases.append(Case(small, case.settings.__class__(**{
                **case.settings.__dict__, "x": x, "target": y}), None))  # fmt: skip
        for bug in BUGS:
            fn = hand_backward(p.spec, bug)
            params = {name: v.astype(np.float64) for name, v in p.params.items()}
            grads = fn(params, p.x.astype(np.float64), p.y)
            row_fails = not evaluate(p, case.settings, Answer(None, None, grads, {})).passed
            row_detectable = detectable(case, grads)
            probes_detectable = []
            for pc in probe_cases:
                pp = pc.problem
                probes_detectable.append(detectable(pc, fn(params, pp.x.astype(np.float64), pp.y)))
            probe_fails = [
                not run_probe(request, p, case.settings, i, backward=fn, impl=None).passed
                for i in range(1, DEFAULT_PROBES + 1)
            ]
            runs[bug] += 1
            det_row[bug] += row_detectable
            if row_detectable or any(probes_detectable):
                det_any[bug] += 1
                caught_row[bug] += row_fails
                caught = row_fails or any(probe_fails)
                caught_any[bug] += caught
                if not caught:
                    misses.append(f"{bug} on case {seed + k}")
    return runs, det_row, caught_row, det_any, caught_any, misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=2000, help="random correct cases")
    parser.add_argument("--catalogue", type=int, default=100, help="networks per bug kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    n_probes, alarms = correct_probes(args.checks, args.seed)
    print(f"correct code: {args.checks:,} random checks × {DEFAULT_PROBES} probes = "
          f"{n_probes:,} probe batches")  # fmt: skip
    print(f"false alarms: {len(alarms)}")
    for line in alarms:
        print(f"  {line}")
    _, det_row, caught_row, det_any, caught_any, misses = catalogue(
        args.catalogue, args.seed + 3 * 10**6
    )
    print(f"catalogue at batch 1: {len(BUGS)} bug kinds × {args.catalogue} networks")
    print(f"  {'bug':40s} {'detectable':>10s} {'at batch 1':>10s} {'caught: --probes 0':>18s} "
          f"{'with probes':>11s}")  # fmt: skip
    for bug in BUGS:
        print(f"  {bug:40s} {det_any[bug]:10d} {det_row[bug]:10d} {caught_row[bug]:18d} "
              f"{caught_any[bug]:11d}")  # fmt: skip
    total, alone, probed = (sum(c.values()) for c in (det_any, caught_row, caught_any))
    print(f"  total: detectable {total}; caught with --probes 0: {alone} "
          f"({alone / max(total, 1):.1%}); with probes: {probed} "
          f"({probed / max(total, 1):.1%})")  # fmt: skip
    for line in misses:
        print(f"  MISSED {line}")
    print(f"time: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
