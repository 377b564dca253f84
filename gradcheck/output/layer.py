"""The ``layer`` table for people: pure functions of a ``LayerReport`` returning renderables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gradcheck.checks.layer_report import LayerProbe, LayerReport, LayerResult
from gradcheck.core.compare import Comparison
from gradcheck.core.errors import printable
from gradcheck.core.layers.shapes import format_shape, params_text
from gradcheck.core.tolerance import NORM_RULE, RULE
from gradcheck.output.columns import Column, FittedTable, Row
from gradcheck.output.table import (
    _err,
    _ok,
    comparison_columns,
    finding_lines,
    passed_line,
    shell_lines,
    warning_lines,
)


def _shape(c: Comparison) -> str:
    return format_shape(c.shape)


def columns(report: LayerReport) -> list[Column[Comparison]]:
    """The columns of ``run``'s table, the reference named for what it is (torch, or the oracle)."""
    s = report.settings
    reference = "oracle" if s.custom else "torch"
    problems = report.problems

    def ok(c: Comparison) -> Text:
        return Text("✗", style="bold red") if c.name in problems else _ok(c)

    cols: list[Column[Comparison]] = [
        Column("quantity", lambda c: c.name, "left"),
        *comparison_columns(reference, "yours", _shape, ok),
    ]
    if report.oracle is not None:
        from gradcheck.output import oracle as render_oracle

        cols.extend(render_oracle.columns(report.oracle))
    return cols


def title(report: LayerReport) -> str:
    s = report.settings
    arrays = ", ".join(f"{k} {format_shape(v)}" for k, v in s.shapes.items())
    params = f" · {params_text(s.params)}" if s.params else ""
    reference = "the oracle" if s.custom else "torch"
    yours = s.candidate.removeprefix("impl:").rpartition(":")[0] or "your functions"
    if s.candidate.startswith("python:"):
        yours = "your functions"
    return f"gradcheck layer {s.kind}: {reference} vs {printable(yours)} · {arrays}{params}"


def to_table(report: LayerReport) -> FittedTable[Comparison]:
    rows: list[Row[Comparison]] = []
    for section in (report.outputs, report.gradients):
        rows.extend(Row(c, end_section=i == len(section) - 1) for i, c in enumerate(section))
    return FittedTable(columns(report), rows, title=title(report), caption=caption(report))


def caption(report: LayerReport) -> Text:
    s = report.settings
    drawn = {"ties": " · values: small integers (ties)", "wide": " · values ×20"}.get(s.values, "")
    lines = [f"{s.dtype} · seed {s.seed}{drawn} · " + "; ".join(s.calls)]
    if s.custom:
        lines.append(
            f"judged against the {s.oracle} oracle alone: your forward differentiated "
            "numerically, one element at a time (a custom layer has no torch reference)"
        )
        lines.append(
            f"pass: |hand − oracle| ≤ atol + rtol·|oracle| + 4E, atol={s.tolerance.atol:g}, "
            f"rtol={s.tolerance.rtol:g}, E the oracle's error and your side's rounding"
        )
    else:
        lines.append(
            f"pass: {RULE}, atol={s.tolerance.atol:g}, rtol={s.tolerance.rtol:g}, E each "
            "element's rounding bound"
        )
    lines.append(f"and per gradient: {NORM_RULE}, ntol={s.norm_tol:g}")
    text = Text("\n".join(lines))
    if report.oracle is not None:
        from gradcheck.output import oracle as render_oracle

        text.append("\n" + render_oracle.caption_line(report.oracle))
        text.append(
            f"; computed on the reference forward in NumPy with batched perturbations "
            f"({report.oracle_evaluations:,} forward passes)"
        )
    return text


def problem_lines(result: LayerResult) -> list[Any]:
    """A line per quantity that fails beyond its numbers (a returned shape, a dropout mask)."""
    return [Text(f"✗ {printable(text)}", style="red") for text in result.problems.values()]


def _probe_head(probe: LayerProbe, given: Mapping[str, Any]) -> str:
    arrays = ", ".join(f"{k} {format_shape(v)}" for k, v in probe.shapes.items())
    own = {k: v for k, v in probe.params.items() if given.get(k) != v}
    params = f" · {params_text(own)}" if own else ""
    return f"{arrays}{params} ({probe.note})"


def probe_lines(report: LayerReport) -> list[Any]:
    """One line per probe (its configuration, verdict and worst quantity), the reproducing
    command under a failing one."""
    parts: list[Any] = []
    for probe in report.probes:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column()
        head = Text(f"{probe.name}:", style="bold" if probe.passed else "bold red")
        cell = Text(_probe_head(probe, report.settings.params) + " · ")
        if probe.passed:
            cell.append("✓ passed", style="green")
        else:
            cell.append("✗ FAILED", style="bold red")
        if probe.result is None:
            cell.append(f" · your code gave no answer: {printable(probe.error or '')}")
        else:
            if not probe.passed:
                failed = probe.result.failed
                cell.append(f" · {len(failed)} of {len(probe.result.comparisons)} out: ")
                cell.append(", ".join(failed))
            worst = _worst(probe.result)
            if worst is not None:
                cell.append(f" · worst {worst.name}: max abs err {_err(worst.max_abs_error)}")
        grid.add_row(head, cell)
        parts.append(grid)
        if not probe.passed:
            parts.append(Text(f"  reproduce: {shell_lines(printable(probe.command))}", style="dim"))
    return parts


def _worst(result: LayerResult) -> Comparison | None:
    if not result.comparisons:
        return None
    return max(result.comparisons, key=lambda c: (not c.passed, c.error_ratio))


def interval_line(report: LayerReport) -> Text | None:
    if not report.at_kink:
        return None
    where = ", ".join(f"{name} ({n})" for name, n in report.at_kink)
    return Text(
        f"within an interval: {where}: element(s) that differ from autograd by more than "
        "rounding but lie among the valid values: either one-sided derivative at a kink (relu "
        "at 0, an SVM margin at 0), or dout routed to any of the tied maxima of a pooling window"
    )


def unjudged_line(report: LayerReport) -> Text | None:
    if not report.unjudged:
        return None
    where = ", ".join(f"{name} ({n})" for name, n in report.unjudged)
    return Text(
        f"not judged: {where}: element(s) with no finite bound or, for a custom layer, no "
        "oracle value (a kink within the step): neither passed nor failed",
        style="yellow",
    )


def verdict(report: LayerReport) -> Text:
    n = len(report.comparisons) + sum(
        1 for name in report.problems if name not in {c.name for c in report.comparisons}
    )
    if report.oracle is not None:
        n += len(report.oracle.vs_autograd) + len(report.oracle.vs_hand)
    sizes = f"{len(report.probes)} probe{'s' if len(report.probes) != 1 else ''}"
    if report.passed:
        return passed_line(n, sizes if report.probes else "", report.unjudged)
    failed = report.failed
    probes = "; ".join(_probe_failure(p) for p in report.failed_probes)
    if not failed:
        return Text(
            f"FAILED: all {n} checks of the given configuration are within tolerance, but "
            f"probes fail: {probes}",
            style="bold red",
        )
    line = Text(
        f"FAILED: {len(failed)} of {n} out of tolerance: {', '.join(failed)}", style="bold red"
    )
    nonfinite = [c.name for c in report.comparisons if c.n_nonfinite]
    if nonfinite:
        line.append(f" (NaN/inf in {', '.join(nonfinite)})", style="red")
    if probes:
        line.append(f"; probes fail too: {probes}", style="red")
    return line


def _probe_failure(probe: LayerProbe) -> str:
    if probe.result is None:
        return f"{probe.name} (your code gave no answer)"
    return f"{probe.name} ({len(probe.result.failed)} of {len(probe.result.comparisons)} out)"


def render_report(report: LayerReport) -> Group:
    """The table, problems, warnings, probes, diagnosis and verdict, as ``gradcheck layer``
    prints them."""
    parts: list[Any] = [to_table(report)]
    parts.extend(problem_lines(report.result))
    parts.extend(warning_lines(report.warnings))
    parts.extend(probe_lines(report))
    for line in (interval_line(report), unjudged_line(report)):
        if line is not None:
            parts.append(line)
    parts.extend(finding_lines(report.diagnosis))
    parts.append(verdict(report))
    if report.oracle is not None:
        from gradcheck.output import oracle as render_oracle

        parts.append(render_oracle.verdict(report.oracle))
    return Group(*parts)
