"""The layer verdict's allowances, measured: false alarms on correct code, and how much of its
rounding bound E a correct side's real error uses.

Run: ``python benchmarks/layer_bounds.py [--seeds N]`` (default 20). For every kind, its default
configuration and both probes under N seeds, in float64 and float32: three correct sides (the
course-style loops of samples/layers/layers.py, the kind's formulas run in the dtype, torch)
against the exact value in 80-bit long double (tests/core/layer_exact.py), and the loops and
the formulas against torch under the verdict's own rule (a failure there is a false alarm).
The table gives, per kind, the largest |side − exact|/E over every element (≤ 1: each side is
within its bound; the rule allows 4E between two sides) and the median over elements where the
error is not 0: how loose E is (1/median: the bound over a typical error).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gradcheck.core.compare import compare  # noqa: E402
from gradcheck.core.layers.bounds import layer_bounds  # noqa: E402
from gradcheck.core.layers.catalogue import CATALOGUE  # noqa: E402
from gradcheck.core.tolerance import DEFAULT_TOLERANCES  # noqa: E402
from tests.core.layer_exact import (  # noqa: E402
    configurations,
    exact,
    measure,
    sample_module,
    sides,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    course = sample_module()
    print(f"{args.seeds} seeds × 3 configurations per kind; sides: loops, formulas, torch")
    print(
        f"{'dtype':8s} {'kind':22s} {'cases':>5s} {'alarms':>6s} {'max err/E':>9s} {'median':>8s}"
    )
    totals = {"cases": 0, "alarms": 0}
    for dtype in ("float64", "float32"):
        tol = DEFAULT_TOLERANCES[dtype]
        for name, kind in CATALOGUE.items():
            worst, ratios, alarms, cases = 0.0, [], 0, 0
            for case in configurations(kind, range(args.seeds), dtype):
                case, found = sides(kind, case, course)
                truth = exact(case)
                ref = found["torch"]
                ref_grads = {k: v for k, v in ref.items() if k.startswith("d")}
                cases += 1
                for side, values in found.items():
                    m = measure(case, values, truth, ref_grads)
                    worst = max(worst, *m.worst.values())
                    ratios += [r for r in m.ratios.values() if r.size]
                    if side == "torch":
                        continue
                    limits = layer_bounds(
                        case,
                        {g[1:]: v for g, v in ref_grads.items()},
                        {g[1:]: v for g, v in values.items() if g.startswith("d")},
                    )
                    for q, r in ref.items():
                        if not compare(q, r, values[q], tol, bounds=limits[q]).passed:
                            alarms += 1
            flat = np.concatenate(ratios) if ratios else np.zeros(0)
            median = float(np.median(flat)) if flat.size else 0.0
            totals["cases"] += cases
            totals["alarms"] += alarms
            print(f"{dtype:8s} {name:22s} {cases:5d} {alarms:6d} {worst:9.3f} {median:8.1e}")
    print(f"false alarms: {totals['alarms']} in {totals['cases']} cases × 2 correct sides")


if __name__ == "__main__":
    main()
