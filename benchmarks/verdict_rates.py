"""Measure the verdict: false alarms on correct code, and the catch rate of the bug catalogue.

    python benchmarks/verdict_rates.py [--checks 10000] [--sweeps 40] [--oracle-checks 600]
                                       [--catalogue 100] [--seed 0]

Correct checks (``tests/core/verdict_cases.random_case``: 1–12 linear layers, every activation,
loss and dtype, batch 1–512, inputs of magnitude 1e-6 … 1e2, constructed kink hits) run two
hand sides each — the built-in replica and a correct ``--impl``-style callable — and must all
pass. Oracle checks add a random valid ``--oracle`` method; the hand-vs-autograd verdict must
still pass, and oracle disagreements on correct code are listed separately (the oracle's own
limits). Sweeps run ``run_sweep`` on random networks, with and without an oracle. The catalogue
runs every bug kind of ``tests/core/verdict_cases.BUGS`` on random networks and counts how many
detectable bugs (effect above twice the allowance, ``verdict_cases.detectable``) are caught.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradcheck.checks.pipeline import evaluate
from gradcheck.checks.sweep import SweepSettings, run_sweep
from gradcheck.core.answer import Answer
from gradcheck.core.functions import ACTIVATIONS, LOSSES
from gradcheck.core.spec import ORACLE_METHODS, NetSpec
from gradcheck.core.tolerance import resolve_tolerance
from gradcheck.io import usercode
from tests.core.verdict_cases import BUGS, detectable, hand_backward, random_case

#: Losses that fit the seed's linear output (bce and nll need a probability output).
LINEAR_OUTPUT_LOSSES = sorted(n for n, loss in LOSSES.items() if "identity" in loss.fits)


def oracle_for(spec: NetSpec, rng: np.random.Generator) -> str:
    methods = [m for m in ORACLE_METHODS if m != "complex-step" or spec.analytic]
    return str(rng.choice(methods))


def correct_checks(n: int, seed: int) -> tuple[int, list[str]]:
    """2n checks (replica and a correct callable per case); the false alarms, described."""
    alarms = []
    for k in range(n):
        case = random_case(seed + k)
        p = case.problem
        fn = hand_backward(p.spec)
        user = usercode.call_backward(fn, p.spec, p.params, p.x, p.y, label="correct")
        for side, hand in (("replica", None), ("impl", user)):
            report = evaluate(p, case.settings, hand)
            if not report.passed:
                alarms.append(f"{side} case {seed + k} {p.spec.describe()} {p.spec.dtype}: "
                              f"{report.failed}")  # fmt: skip
    return 2 * n, alarms


def oracle_checks(n: int, seed: int) -> tuple[int, list[str], list[str]]:
    """n checks with an oracle: verdict false alarms, and oracle disagreements."""
    from dataclasses import replace

    alarms, oracle_alarms = [], []
    rng = np.random.default_rng(seed)
    for k in range(n):
        case = random_case(seed + k, max_batch=32)
        method = oracle_for(case.spec, rng)
        settings = replace(case.settings, oracle=method)
        report = evaluate(case.problem, settings)
        spec = case.spec
        what = (
            f"case {seed + k} --oracle {method} {spec.describe()} {spec.dtype} "
            f"batch {case.problem.x.shape[0]} |x|max {np.max(np.abs(case.problem.x)):.1g}"
            f"{' kink: ' + case.kink_hit if case.kink_hit else ''}"
        )
        if not all(c.passed for c in report.comparisons):
            alarms.append(f"{what}: {report.failed}")
        if report.oracle is not None and not report.oracle.passed:
            oracle_alarms.append(f"{what}: oracle disagrees with {report.oracle.disagreeing}")
    return n, alarms, oracle_alarms


def sweeps(n: int, seed: int) -> tuple[int, list[str], list[str]]:
    """n random sweeps (half with an oracle): cases checked, verdict and oracle false alarms."""
    rng = np.random.default_rng(seed)
    total, alarms, oracle_alarms = 0, [], []
    for k in range(n):
        depth = int(rng.integers(1, 13))
        loss = str(rng.choice(LINEAR_OUTPUT_LOSSES))
        n_out = int(rng.integers(max(1, LOSSES[loss].min_outputs), 4))
        layers = (int(rng.integers(1, 5)), *rng.integers(1, 11, size=depth - 1), n_out)
        dtype = str(rng.choice(["float32", "float64"]))
        spec = NetSpec(tuple(int(v) for v in layers), str(rng.choice(sorted(ACTIVATIONS))),
                       loss, dtype)  # fmt: skip
        oracle = oracle_for(spec, rng) if k % 2 else None
        batch = int(rng.choice([1, 2, 16, 512])) if oracle is None else int(rng.integers(1, 9))
        cases = 50 if oracle is None else 10
        settings = SweepSettings(spec, cases, int(rng.integers(0, 2**31)), batch,
                                 resolve_tolerance(dtype), oracle=oracle)  # fmt: skip
        report = run_sweep(settings)
        total += cases
        plain = [q for q in report.quantities if not q.kind.startswith("oracle")]
        failing = np.zeros(cases, dtype=bool)
        for q in plain:
            failing |= ~q.passed
        what = f"sweep {spec.describe()} {dtype} batch {batch} seed {settings.seed}"
        if failing.any():
            alarms.append(f"{what}: {int(failing.sum())} case(s)")
        oracle_q = [q for q in report.quantities if q.kind.startswith("oracle")]
        bad = [q.label for q in oracle_q if not q.passed.all()]
        if bad:
            oracle_alarms.append(f"{what} --oracle {oracle}: {bad}")
    return total, alarms, oracle_alarms


def catalogue(n: int, seed: int) -> tuple[Counter[str], Counter[str], Counter[str], list[str]]:
    """Every bug kind on n random cases: (runs, detectable, caught among detectable), misses."""
    runs: Counter[str] = Counter()
    found: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    misses = []
    for k in range(n):
        case = random_case(seed + k, max_batch=64)
        p = case.problem
        params = {name: v.astype(np.float64) for name, v in p.params.items()}
        for bug in BUGS:
            grads = hand_backward(p.spec, bug)(params, p.x.astype(np.float64), p.y)
            report = evaluate(p, case.settings, Answer(None, None, grads, {}))
            runs[bug] += 1
            if detectable(case, grads):
                found[bug] += 1
                caught[bug] += not report.passed
                if report.passed:
                    misses.append(f"{bug} on case {seed + k}")
    return runs, found, caught, misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=5000, help="random cases (2 checks each)")
    parser.add_argument("--oracle-checks", type=int, default=600)
    parser.add_argument("--sweeps", type=int, default=40)
    parser.add_argument("--catalogue", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    n_run, run_alarms = correct_checks(args.checks, args.seed)
    n_oracle, oracle_verdict, oracle_alarms = oracle_checks(args.oracle_checks, args.seed + 10**6)
    n_sweep, sweep_alarms, sweep_oracle = sweeps(args.sweeps, args.seed)
    runs, found, caught, misses = catalogue(args.catalogue, args.seed + 2 * 10**6)
    total = n_run + n_oracle + n_sweep
    alarms = run_alarms + oracle_verdict + sweep_alarms
    print(f"correct checks: {total:,} (run: {n_run:,}, run --oracle: {n_oracle:,}, "
          f"sweep cases: {n_sweep:,})")  # fmt: skip
    print(f"false alarms (hand vs autograd): {len(alarms)} ({len(alarms) / total:.4%})")
    for line in alarms:
        print(f"  {line}")
    print(f"oracle disagreements on correct code: {len(oracle_alarms) + len(sweep_oracle)}")
    for line in oracle_alarms + sweep_oracle:
        print(f"  {line}")
    det, cau = sum(found.values()), sum(caught.values())
    print(f"catalogue: {len(BUGS)} bug kinds × {args.catalogue} networks = {sum(runs.values()):,} "
          f"runs; detectable {det:,}; caught {cau:,} ({cau / max(det, 1):.2%})")  # fmt: skip
    for bug in BUGS:
        print(f"  {bug:40s} detectable {found[bug]:4d}/{runs[bug]:<4d} caught {caught[bug]:4d}")
    for line in misses:
        print(f"  MISSED {line}")
    print(f"time: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
