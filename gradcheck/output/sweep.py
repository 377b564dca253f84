"""A sweep for people: the summary table and verdict as rich renderables. Pure."""

from __future__ import annotations

import math

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from gradcheck.checks.sweep import TARGET_RANGE, X_RANGE, SweepReport, median
from gradcheck.core.errors import printable
from gradcheck.core.tolerance import NORM_RULE, RULE, norm_tolerance


def _err(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return "0" if value == 0 else f"{value:.1e}"


def to_table(report: SweepReport) -> Table:
    """One row per quantity: max and median error over cases, the worst case, failures."""
    s = report.settings
    table = Table(
        title=Text(
            f"gradcheck sweep: {s.cases:,} cases · {s.spec.describe()} · batch {s.batch_size}"
            + ("" if s.candidate == "replica" else f" · checking {printable(s.candidate)}")
        ),
        caption=caption(report),
        caption_justify="left",
        header_style="bold",
    )
    table.add_column("quantity", no_wrap=True)
    for name in ("max abs err", "median abs err", "worst seed", "failed cases"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("ok", justify="center", no_wrap=True)
    kinds = [q.kind for q in report.quantities]
    for i, q in enumerate(report.quantities):
        failed = int(np.count_nonzero(~q.passed))
        table.add_row(
            q.label,
            _err(float(np.max(q.max_abs))),
            _err(median(q.max_abs)),
            str(report.seed_of(int(np.argmax(q.worst_ratio)))),
            str(failed),
            Text("✓", style="green") if failed == 0 else Text("✗", style="bold red"),
            end_section=i + 1 < len(kinds) and kinds[i + 1] != q.kind,
        )
    return table


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
        f"pass: {RULE}, atol={s.tolerance.atol:g}, rtol={s.tolerance.rtol:g}\n"
        f"and per gradient: {NORM_RULE}, "
        f"ntol={norm_tolerance(s.spec.dtype, s.tolerance.rtol):g}"
    )
    if report.at_kink:
        text.append(
            f"\nat a kink: {report.at_kink:,} element(s) within rounding of a kink accepted with "
            "either one-sided derivative"
        )
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
