"""A sweep for people: the summary table and verdict as rich renderables. Pure."""

from __future__ import annotations

import math

import numpy as np
from rich.console import Group
from rich.text import Text

from gradcheck.checks.sweep import TARGET_RANGE, X_RANGE, Quantity, SweepReport, median
from gradcheck.core.errors import printable
from gradcheck.core.tolerance import NORM_RULE, RULE, norm_tolerance
from gradcheck.output.columns import Column, FittedTable, Row, rows_that_matter


def _err(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return "0" if value == 0 else f"{value:.1e}"


def to_table(report: SweepReport) -> FittedTable[Quantity]:
    """One row per quantity: max and median error over cases, the worst case, failures.

    The table fits the width it is printed at: the median, then the torch names, then the
    worst seed give way (the verdict line names the worst seed too).
    """
    s = report.settings

    def failed(q: Quantity) -> int:
        return int(np.count_nonzero(~q.passed))

    def ok(q: Quantity) -> Text:
        return Text("✓", style="green") if failed(q) == 0 else Text("✗", style="bold red")

    columns: list[Column[Quantity]] = [
        Column("quantity", lambda q: q.label, "left", 2, "torch names", _short_label),
        Column("max abs err", lambda q: _err(float(np.max(q.max_abs)))),
        Column("median abs err", lambda q: _err(median(q.max_abs)), gives_way=1, what="medians"),
        Column(
            "worst seed",
            lambda q: str(report.seed_of(int(np.argmax(q.worst_ratio)))),
            gives_way=3,
            what="worst seeds",
        ),
        Column("failed cases", lambda q: str(failed(q))),
        Column("ok", ok, "center"),
    ]
    forward = [q for q in report.quantities if q.kind == "forward"]
    others = [q for q in report.quantities if q.kind != "forward"]
    kept, note = rows_that_matter(others, lambda q: failed(q) > 0, _ratio, "quantity rows")
    quantities = [*forward, *kept]
    rows = [
        Row(q, end_section=i + 1 < len(quantities) and quantities[i + 1].kind != q.kind)
        for i, q in enumerate(quantities)
    ]
    text = caption(report)
    if note is not None:
        text.append(f"\n{note} (--json lists every one)")
    return FittedTable(
        columns,
        rows,
        title=f"gradcheck sweep: {s.cases:,} cases · {s.spec.brief()} · batch {s.batch_size}"
        + ("" if s.candidate == "replica" else f" · checking {printable(s.candidate)}"),
        caption=text,
    )


def _ratio(q: Quantity) -> float:
    """The quantity's largest error ratio over the cases (elementwise or norm rule)."""
    return float(np.max(q.worst_ratio)) if q.worst_ratio.size else 0.0


def _short_label(q: Quantity) -> str:
    return q.label if q.kind.startswith("oracle") else q.name


def caption(report: SweepReport) -> Text:
    s = report.settings
    target = (
        f"classes 0…{s.spec.n_out - 1}"
        if s.spec.loss_record.takes_classes
        else f"U[{TARGET_RANGE[0]:g}, {TARGET_RANGE[1]:g}]"
    )
    text = Text(
        f"{s.spec.dtype} · seeds {s.seed}…{s.seed + s.cases - 1} · "
        f"x ~ U[{X_RANGE[0]:g}, {X_RANGE[1]:g}] · target {target}\n"
        f"pass: {RULE}, atol={s.tolerance.atol:g}, rtol={s.tolerance.rtol:g}, "
        "E each element's rounding bound\n"
        f"and per gradient: {NORM_RULE}, "
        f"ntol={norm_tolerance(s.spec.dtype, s.tolerance.rtol):g}"
    )
    if report.at_kink:
        text.append(
            f"\nwithin an interval: {report.at_kink:,} element(s) inside the interval of valid "
            "values (a kink's one-sided derivatives; a saturated output's clamped and exact values)"
        )
    if report.unjudged:
        text.append(f"\nnot judged: {report.unjudged:,} element(s) with no finite bound")
    if report.oracle_tolerance is not None:
        t = report.oracle_tolerance
        text.append(
            f"\noracle ({s.oracle}, float64): |side − oracle| ≤ atol·max(1, |L|) + "
            f"rtol·|oracle|, atol={t.atol:.2g}, rtol={t.rtol:.2g}"
        )
        if report.oracle_skipped:
            text.append(
                f"\noracle: {report.oracle_skipped:,} element(s) not compared (the step moves a "
                "pre-activation across a kink)"
            )
    return text


def verdict(report: SweepReport) -> Group:
    """Pass rate, and the command that reruns the worst case alone."""
    s = report.settings
    worst = report.worst_case
    rate = 100.0 * report.n_passed / s.cases
    style = "bold green" if report.passed else "bold red"
    word = "PASSED" if report.passed else "FAILED"
    lines = [
        Text(
            f"{word}: {report.n_passed:,} of {s.cases:,} cases within tolerance ({rate:.2f}%)",
            style=style,
        ),
    ]
    failed = report.failed_seeds
    if failed:
        shown = ", ".join(map(str, failed[:10])) + (", …" if len(failed) > 10 else "")
        lines.append(Text(f"failing seeds: {shown}", style="red"))
    lines.append(
        Text(
            f"worst case: seed {report.seed_of(worst)} (error ratio {report.worst_ratio:.2g}); "
            "rerun it alone with:"
        )
    )
    return Group(*lines)


def render_report(report: SweepReport) -> Group:
    """The summary table and the verdict, as printed by ``gradcheck sweep``.

    The rerun command follows it (``rerun_line``), printed unwrapped so it stays
    copy-pasteable.
    """
    return Group(to_table(report), verdict(report))


def rerun_line(report: SweepReport) -> Text:
    """The ``gradcheck run`` command for the worst case, indented."""
    return Text(f"  {printable(report.command(report.worst_case))}")
