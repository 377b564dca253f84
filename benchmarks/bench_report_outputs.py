"""Cost of the report outputs (--detail, --junit, --plot, explain) relative to the check itself,
measured in one run.

Goal: --detail, --junit and explain add little to a check (each well under the check's own
time); --plot stays within a small multiple of it. The heat map draws a bounded window and an
overview of at most 12 rows (block maxima, one vectorised pass over the ratios), so its
drawing cost does not grow with the parameter size; bench_plot_size.py measures both at size.

    python benchmarks/bench_report_outputs.py
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

from rich.console import Console

from gradcheck.api import check
from gradcheck.checks.explain import explain_check
from gradcheck.output.detail import render_details
from gradcheck.output.junit import to_junit

LAYERS = (784, 512, 10)
X = [0.1] * LAYERS[0]


def best_of(fn: Callable[[], object], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def detail_text() -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(render_details(report, width=120))
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


check(X, layers=LAYERS)  # warm up torch
report = check(X, layers=LAYERS)
base = best_of(lambda: check(X, layers=LAYERS))
rows = [
    ("check (run)", base),
    ("explain", best_of(lambda: explain_check(X, layers=LAYERS))),
    ("--detail text", best_of(detail_text)),
    ("--junit XML", best_of(lambda: to_junit(report))),
]
try:
    from gradcheck.output.plot import to_png

    rows.append(("--plot PNG", best_of(lambda: to_png(report), repeat=1)))
except ImportError:
    pass
print(
    f"network {'→'.join(map(str, LAYERS))}, {sum(p.reference.size for p in report.parameters):,} "
    "parameters"
)
for name, seconds in rows:
    print(f"{name:15} {seconds * 1e3:8.1f} ms   {seconds / base:5.2f}× the check")
