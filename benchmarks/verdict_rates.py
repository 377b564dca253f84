"""Measure the verdict against an adversary: false alarms on correct code, catches of wrong code.

    python benchmarks/verdict_rates.py [--general 3000] [--edge 1000] [--oracle-checks 600]
                                       [--sweeps 40] [--attacks 40] [--seed 0]

Correct checks (``tests/core/verdict_cases``): random cases from the general distribution
(1–12 linear layers, every activation, loss and dtype, batch 1–512, inputs 1e-6 … 1e2, kink
hits) and from each class of allowance in ``EDGES`` (kinks, saturated outputs, tiny gradients,
float32, deep width-1 chains, |x| up to 1e4, raw 0–255 pixels). Each case is checked twice: the
built-in replica, and a correct ``--impl``-style backward in one of ``STYLES`` (formulas people
write: σ by 1/(1 + e^−z) or by tanh, σ′ from the output, a simplified δL, relu′ at 0 taken the
other way), computed in the check's dtype. Every one must pass. Oracle checks and sweeps add a
random ``--oracle`` and stacks of cases.

Wrong code: on random cases of every class, each of ``ATTACKS`` (zeros, a flipped sign, a whole
tensor ×(1 + 1e-4) in float64 / ×(1 + 1e-3) in float32, one element 1 % off, one row dropped,
L2 on the biases) and each catalogued bug (``BUGS``). A wrong side is *detectable* when it leaves
the exact gradients (80-bit long double, ``tests/core/exact.py``) by more than
``MEASURED_MULTIPLE`` × 2 × what correct computations measurably lie off them
(``verdict_cases.detectable``): never by the verdict's own bounds.

Also printed: elements not judged among all compared elements of the correct checks, and how
much of its rounding allowance correct code used (the largest |Δ| / 4E of each check), and the
allowance's looseness against measured errors.
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
from gradcheck.checks.report import Report
from gradcheck.checks.sweep import SweepSettings, run_sweep
from gradcheck.core.answer import Answer
from gradcheck.core.functions import ACTIVATIONS, LOSSES
from gradcheck.core.spec import ORACLE_METHODS, NetSpec
from gradcheck.core.tolerance import resolve_tolerance
from gradcheck.io import usercode
from gradcheck.torch_side import reference
from tests.core.verdict_cases import (
    ATTACKS,
    BUGS,
    EDGES,
    STYLES,
    Case,
    attack,
    correct_backward,
    detectable,
    hand_backward,
    random_case,
)

#: Losses that fit the seed's linear output (bce and nll need a probability output).
LINEAR_OUTPUT_LOSSES = sorted(n for n, loss in LOSSES.items() if "identity" in loss.fits)


def oracle_for(spec: NetSpec, rng: np.random.Generator) -> str:
    methods = [m for m in ORACLE_METHODS if m != "complex-step" or spec.analytic]
    return str(rng.choice(methods))


class Tally:
    """Correct checks: counts, false alarms, elements not judged, used share of the bound."""

    def __init__(self) -> None:
        self.checks: Counter[str] = Counter()
        self.alarms: list[str] = []
        self.elements = 0
        self.unjudged = 0
        self.whole_unjudged = 0
        self.used: list[float] = []  # per check: the largest elementwise ratio (≤ 1 passes)

    def add(self, where: str, report: Report) -> None:
        self.checks[where] += 1
        if not report.passed:
            self.alarms.append(f"{where}: {report.failed}")
        for c in report.comparisons:
            self.elements += c.reference.size
            self.unjudged += c.n_unjudged
            self.whole_unjudged += c.n_unjudged == c.reference.size
        ratios = [c.error_ratio for c in report.comparisons if np.isfinite(c.error_ratio)]
        self.used.append(max(ratios, default=0.0))


def correct_checks(tally: Tally, edge: str | None, n: int, seed: int) -> None:
    """n cases of ``edge`` (None: the general distribution), replica and one style each."""
    label = edge or "general"
    for k in range(n):
        case = random_case(seed + k, edge=edge)
        p = case.problem
        tally.add(f"{label} replica case {seed + k}", evaluate(p, case.settings))
        style = STYLES[k % len(STYLES)]
        fn = correct_backward(p.spec, style)
        user = usercode.call_backward(fn, p.spec, p.params, p.x, p.y, label=style)
        tally.add(f"{label} {style} case {seed + k}", evaluate(p, case.settings, user))


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


def wrong_code(
    n: int, seed: int
) -> tuple[Counter[str], Counter[str], Counter[str], list[str], list[float]]:
    """Every attack and bug kind on n cases of every class: runs, detectable, caught, the
    misses, and the looseness (median 4E / measured error over each case's largest elements)."""
    runs: Counter[str] = Counter()
    found: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    misses = []
    looseness: list[float] = []
    for edge in (None, *EDGES):
        for k in range(n):
            case = random_case(seed + k, edge=edge, max_batch=64)
            p = case.problem
            auto = reference.autograd(p.spec, p.params, p.x, p.y).grads
            style = STYLES[k % len(STYLES)]
            fn = correct_backward(p.spec, style)
            right = fn(p.params, p.x, p.y)
            rng = np.random.default_rng([seed + k, 7])
            p64 = {name: v.astype(np.float64) for name, v in p.params.items()}
            twin = hand_backward(p.spec)(p64, p.x.astype(np.float64), p.y)
            kinds: list[tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]] = [
                (kind, attack(kind, case, right, fn, rng), right) for kind in ATTACKS
            ]
            kinds += [
                (bug, hand_backward(p.spec, bug)(p64, p.x.astype(np.float64), p.y), twin)
                for bug in BUGS
            ]
            for kind, wrong, correct in kinds:
                runs[kind] += 1
                d = detectable(case, wrong, correct, auto)
                if not d.detectable:
                    continue
                found[kind] += 1
                report = evaluate(p, case.settings, Answer(None, None, wrong, {}))
                caught[kind] += not report.passed
                if report.passed:
                    flag = _flagged(report, wrong, correct)
                    misses.append(
                        f"{kind} {_where(case, edge, seed + k)} (margin {d.margin:.3g}; "
                        f"{'warned: ' + flag if flag else 'no warning'})"
                    )
            looseness.append(_looseness(case, auto))
    return runs, found, caught, misses, looseness


#: Warnings that tell a user the check has little margin on a tensor.
MARGIN_WARNINGS = ("loose_bound", "tiny_gradient", "zero_gradient", "saturated")


def _flagged(report: Report, wrong: dict[str, np.ndarray], correct: dict[str, np.ndarray]) -> str:
    """The margin warnings of a passing report that name a tensor the wrong side changed
    (``kind subject, …``), or "" when none does."""
    changed = {
        name
        for name, value in wrong.items()
        if name in correct and not np.array_equal(np.asarray(value), np.asarray(correct[name]))
    }
    hits = [
        f"{w.kind} {w.subject}"
        for w in report.warnings
        if w.kind in MARGIN_WARNINGS and (w.subject in changed or _below(w.layer, changed))
    ]
    return ", ".join(hits)


def _below(layer: int | None, names: set[str]) -> bool:
    """Whether a parameter of layer ``layer`` or below is among ``names`` (the gradients that
    flow through a saturated layer's units)."""
    return layer is not None and any(
        name[1:].isdigit() and int(name[1:]) <= layer for name in names
    )


def _where(case: Case, edge: str | None, seed: int) -> str:
    spec = case.spec
    return f"edge={edge or 'general'} seed={seed} {spec.describe()} {spec.dtype}"


def _looseness(case: Case, auto: dict[str, np.ndarray]) -> float:
    """The median over the largest gradient elements (|value| ≥ 10 % of the tensor's largest)
    of 4E / |autograd − exact|: how far the allowance sits above a correct side's error."""
    from gradcheck.core.bounds import bounds
    from tests.core.exact import exact

    p = case.problem
    limits = bounds(p.spec, p.params, p.x, p.y)
    ex = exact(p.spec, p.params, p.x, p.y)
    ratios = []
    for q in p.spec.parameters():
        c = np.abs(ex.center[q.name].astype(np.float64))
        big = c >= 0.1 * c.max() if c.size and c.max() > 0 else np.zeros(c.shape, bool)
        measured = ex.distance(q.name, auto[q.name])
        keep = big & (measured > 0)
        ratios += list(4.0 * limits[q.name].rounding[keep] / measured[keep])
    return float(np.median(ratios)) if ratios else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--general", type=int, default=3000, help="general cases (2 checks each)")
    parser.add_argument("--edge", type=int, default=1000, help="cases per edge (2 checks each)")
    parser.add_argument("--oracle-checks", type=int, default=600)
    parser.add_argument("--sweeps", type=int, default=40)
    parser.add_argument("--attacks", type=int, default=40, help="cases per class for wrong code")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    tally = Tally()
    correct_checks(tally, None, args.general, args.seed)
    for i, edge in enumerate(EDGES):
        correct_checks(tally, edge, args.edge, args.seed + (i + 1) * 10**6)
    n_oracle, oracle_verdict, oracle_alarms = oracle_checks(args.oracle_checks, args.seed + 10**7)
    n_sweep, sweep_alarms, sweep_oracle = sweeps(args.sweeps, args.seed)
    runs, found, caught, misses, looseness = wrong_code(args.attacks, args.seed + 2 * 10**7)

    n_run = sum(tally.checks.values())
    edges = sum(v for k, v in tally.checks.items() if not k.startswith("general"))
    total = n_run + n_oracle + n_sweep
    alarms = tally.alarms + oracle_verdict + sweep_alarms
    print(f"correct checks: {total:,} (run: {n_run:,} of which {edges:,} at the edges, "
          f"run --oracle: {n_oracle:,}, sweep cases: {n_sweep:,})")  # fmt: skip
    by_class = Counter(k.split()[0] for k in tally.checks.elements())
    print("  by class: " + ", ".join(f"{k} {v:,}" for k, v in sorted(by_class.items())))
    print(f"false alarms (hand vs autograd): {len(alarms)} ({len(alarms) / total:.4%})")
    for line in alarms:
        print(f"  {line}")
    print(f"oracle disagreements on correct code: {len(oracle_alarms) + len(sweep_oracle)}")
    for line in oracle_alarms + sweep_oracle:
        print(f"  {line}")
    share = tally.unjudged / max(tally.elements, 1)
    print(f"elements not judged: {tally.unjudged:,} of {tally.elements:,} ({share:.4%}); "
          f"whole tensors not judged: {tally.whole_unjudged}")  # fmt: skip
    used = np.asarray(tally.used)
    print(f"share of the allowance correct code used (largest ratio per check): median "
          f"{np.median(used):.2g}, 99th percentile {np.quantile(used, 0.99):.2g}, max "
          f"{used.max():.2g}")  # fmt: skip
    loose = np.asarray([v for v in looseness if np.isfinite(v)])
    print(f"4E over autograd's measured error (median per case): median {np.median(loose):.3g}, "
          f"90th percentile {np.quantile(loose, 0.9):.3g}")  # fmt: skip
    det, cau = sum(found.values()), sum(caught.values())
    n_cases = args.attacks * (len(EDGES) + 1)
    print(f"wrong code: {len(ATTACKS)} attacks + {len(BUGS)} bug kinds × {n_cases} cases = "
          f"{sum(runs.values()):,} runs; detectable {det:,}; caught {cau:,} "
          f"({cau / max(det, 1):.2%})")  # fmt: skip
    for kind in (*ATTACKS, *BUGS):
        print(f"  {kind:40s} detectable {found[kind]:4d}/{runs[kind]:<4d} caught {caught[kind]:4d}")
    warned = sum("warned:" in line for line in misses)
    print(f"misses warned of (little margin on a changed tensor): {warned} of {len(misses)}")
    for line in misses:
        print(f"  MISSED {line}")
    print(f"time: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
