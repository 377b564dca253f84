"""Every classic bug of the layer catalogue, checked: caught (the check fails) and named (the
diagnosis names that bug), in float64 and float32, over several seeds.

Run: ``python benchmarks/layer_bugs.py [--seeds N]`` (default 3). The table it prints is the one
in docs/layers.md. Each bug is ``samples/layers/buggy.py``'s variant of ``layers.py``'s correct
code (its ``BUGS`` map); a bug counts as named when a finding of kind ``classic_bug`` carries
its id, on the given configuration or, when only a probe shows it, on that probe.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections import defaultdict
from pathlib import Path

from gradcheck.checks.layer import LayerRequest, run_layer
from gradcheck.core.layers.catalogue import CATALOGUE

ROOT = Path(__file__).resolve().parent.parent
BUGGY = ROOT / "samples" / "layers" / "buggy.py"


def bug_table() -> dict[tuple[str, str], str]:
    sys.path.insert(0, str(BUGGY.parent))
    try:
        spec = importlib.util.spec_from_file_location("gradcheck_buggy_layers", BUGGY)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    return dict(module.BUGS)


def outcome(kind: str, functions: str, bug: str, dtype: str, seed: int) -> tuple[bool, bool, bool]:
    """(caught, named, another bug named too) for one bug in one dtype and seed."""
    report = run_layer(LayerRequest(kind, impl=f"{BUGGY}:{functions}", dtype=dtype, seed=seed))
    ids = {f.bug for f in report.diagnosis if f.bug is not None}
    return not report.passed, bug in ids, bool(ids - {bug})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    table = bug_table()
    missing = [
        (k.name, b.id) for k in CATALOGUE.values() for b in k.bugs if (k.name, b.id) not in table
    ]
    if missing:
        raise SystemExit(f"bugs without a variant in buggy.py: {missing}")
    per_kind: dict[str, list[tuple[bool, bool, bool]]] = defaultdict(list)
    misses = []
    for (kind, bug), functions in table.items():
        for dtype in ("float64", "float32"):
            for seed in range(args.seeds):
                found = outcome(kind, functions, bug, dtype, seed)
                per_kind[kind].append(found)
                if not (found[0] and found[1]) or found[2]:
                    misses.append((kind, bug, dtype, seed, *found))
    print(f"{'kind':24s} {'bugs':>4s} {'runs':>5s} {'caught':>7s} {'named':>7s} {'also':>5s}")
    all_runs = []
    for kind in CATALOGUE:
        runs = per_kind[kind]
        all_runs += runs
        print(f"{kind:24s} {len(CATALOGUE[kind].bugs):4d} {len(runs):5d} {_rates(runs)}")
    print(f"{'all':24s} {len(table):4d} {len(all_runs):5d} {_rates(all_runs)}")
    print("also: runs whose diagnosis names another classic bug as well")
    for miss in misses:
        print("caught/named/also:", *miss)


def _rates(runs: list[tuple[bool, bool, bool]]) -> str:
    n = len(runs)
    caught, named, also = (sum(r[i] for r in runs) / n for i in range(3))
    return f"{caught:7.0%} {named:7.0%} {also:5.0%}"


if __name__ == "__main__":
    main()
