"""The ``run`` table for people: pure functions of a ``Report`` returning rich renderables."""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from gradcheck.checks.diagnose import Finding
from gradcheck.checks.health import Notice
from gradcheck.checks.report import Probe, Report
from gradcheck.core.compare import Comparison
from gradcheck.core.errors import printable
from gradcheck.core.tolerance import NORM_RULE, RULE
from gradcheck.output.columns import Column, FittedTable, Row, rows_that_matter

# ---------------------------------------------------------------------------------------------
# People


def _sci(value: float, digits: int = 6) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value + 0.0:.{digits}e}"  # + 0.0 turns -0.0 into 0.0


def _err(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return "0" if value == 0 else f"{value:.1e}"


def _at(values: NDArray[np.generic], index: tuple[int, ...]) -> float:
    return float(np.asarray(values, dtype=np.float64)[index])


def _shape(shape: tuple[int, ...]) -> str:
    if not shape:
        return "scalar"
    return "×".join(map(str, shape))


def _index(index: tuple[int, ...]) -> str:
    return "[" + ",".join(map(str, index)) + "]" if index else "–"


def columns(report: Report) -> list[Column[Comparison]]:
    """The run table's columns, each with the rank at which it gives way to a narrow terminal.

    Values at the worst element go first, then the torch name (folded out of the quantity),
    then the worst index, then the shape; the quantity, both errors and the verdict stay.
    """
    s = report.settings
    candidate = "hand" if s.candidate == "replica" else "yours"
    cols: list[Column[Comparison]] = [
        Column(
            "quantity",
            lambda c: _label(c, s.spec.depth, s.spec.reduction == "mean"),
            "left",
            gives_way=2,
            what="torch names (δ written short)",
            folded=_short_label,
        ),
        *comparison_columns("autograd", candidate, lambda c: _shape(c.shape), _ok),
    ]
    if report.oracle is not None:
        from gradcheck.output import oracle as render_oracle

        cols.extend(render_oracle.columns(report.oracle))
    return cols


def comparison_columns(
    reference: str,
    candidate: str,
    shape: Callable[[Comparison], str],
    ok: Callable[[Comparison], Text],
) -> list[Column[Comparison]]:
    """The columns after the quantity, shared by ``run``'s and ``layer``'s tables: the shape,
    both sides at the worst element, the errors, the worst index and the verdict."""
    return [
        Column("shape", shape, "left", gives_way=4, what="shapes"),
        Column(
            f"{reference}[worst]",
            lambda c: _sci(_at(c.reference, c.worst_index)),
            gives_way=1,
            what="values at the worst element",
        ),
        Column(
            f"{candidate}[worst]",
            lambda c: _sci(_at(c.candidate, c.worst_index)),
            gives_way=1,
            what="values at the worst element",
        ),
        Column("max abs err", lambda c: _err(c.max_abs_error)),
        Column("max rel err", lambda c: _err(c.max_rel_error)),
        Column("norm err", lambda c: _err(c.norm_error), gives_way=5, what="norm errors"),
        Column("worst", lambda c: _index(c.worst_index), gives_way=3, what="worst indices"),
        Column("ok", ok, "center"),
    ]


def _ok(c: Comparison) -> Text:
    """✓ or ✗; ? where what was judged passed but some elements had no finite bound (the
    "not judged" line names them): a row is never marked passed for what was not judged."""
    if not c.passed:
        return Text("✗", style="bold red")
    return Text("?", style="yellow") if c.n_unjudged else Text("✓", style="green")


def to_table(report: Report) -> FittedTable[Comparison]:
    """One row per forward value, parameter gradient and δ; the caption states the rule.

    The table fits the width it is printed at (see ``output.columns``).
    """
    s = report.settings
    candidate = "hand-derived" if s.candidate == "replica" else printable(s.candidate)
    shown, note = shown_rows(report)
    rows: list[Row[Comparison]] = []
    for section in (report.forward, report.parameters, report.deltas):
        kept = [c for c in section if c.kind == "forward" or id(c) in shown]
        rows.extend(Row(c, end_section=i == len(kept) - 1) for i, c in enumerate(kept))
    text = caption(report)
    if note:
        text.append("\n" + note)
    return FittedTable(
        columns(report),
        rows,
        title=f"gradcheck: autograd vs {candidate} · {s.spec.brief()} · batch {s.batch_size}",
        caption=text,
    )


def shown_rows(report: Report) -> tuple[set[int], str | None]:
    """The ``id`` of each parameter and δ comparison the table shows, and the caption's note
    on the rest (None when every row is shown). The document and JUnit keep every one."""
    oracle_failed: set[str] = set()
    if report.oracle is not None:
        checks = (*report.oracle.vs_autograd, *report.oracle.vs_hand)
        oracle_failed = {c.name for c in checks if not c.passed}
    kept, note = rows_that_matter(
        [*report.parameters, *report.deltas],
        lambda c: not c.passed or c.name in oracle_failed,
        lambda c: max(c.error_ratio, c.norm_ratio),
        "parameter and δ rows",
    )
    note = None if note is None else note + " (--json and --junit list every one)"
    return {id(c) for c in kept}, note


def _label(c: Comparison, depth: int | None = None, mean: bool = True) -> str:
    if c.kind == "delta":
        layer = c.name.removeprefix("delta")
        return f"δ{layer} = ∂L/∂z{layer}"
    if c.kind == "course":  # a course's dZ and dA: m·∂L/∂z, m·∂L/∂a (core.answer.course_factor)
        k = int(c.name[2:])
        of = (
            f"z{k}"
            if c.name.startswith("dZ")
            else "x"
            if k == 0
            else "ŷ"
            if k == depth
            else f"a{k}"
        )
        return f"{c.name} = {'m·' if mean else ''}∂L/∂{of}"
    return c.label


def _short_label(c: Comparison) -> str:
    return f"δ{c.name.removeprefix('delta')}" if c.kind == "delta" else c.name


def caption(report: Report) -> Text:
    s = report.settings
    source = f"weights {printable(s.weights)}" if s.weights else f"seed {s.seed}"
    if s.model is not None:
        source = f"model {printable(s.model)}" + (
            f", {source}" if s.weights or s.seed is not None else ""
        )
    target = np.asarray(s.target)
    shown = ", ".join(f"{v:g}" for v in target.reshape(-1)[:4]) + (", …" if target.size > 4 else "")
    batch = f"data {printable(s.data)} ({s.batch_size} rows)" if s.data else f"target [{shown}]"
    text = Text(
        f"{s.spec.dtype} · {source} · {batch}\n"
        f"pass: {RULE}, atol={s.tolerance.atol:g}, rtol={s.tolerance.rtol:g}, "
        "E each element's rounding bound\n"
        f"and per gradient: {NORM_RULE}, ntol={s.norm_tol:g}"
    )
    if report.oracle is not None:
        from gradcheck.output import oracle as render_oracle

        text.append("\n" + render_oracle.caption_line(report.oracle))
    return text


def passed_line(n: int, probes: str, unjudged: Sequence[tuple[str, int]]) -> Text:
    """The PASSED line of ``run`` and ``layer``: the count, the probes (``probes``: what they
    were, or ""), and what was not judged, which is never called within tolerance."""
    scope = " where judged" if unjudged else ""
    text = f"PASSED: all {n} checks within tolerance{scope}"
    if probes:
        text += f", and on {probes}"
    if unjudged:
        names = ", ".join(name for name, _ in unjudged)
        text += f"; {sum(k for _, k in unjudged)} element(s) not judged ({names})"
    return Text(text, style="bold green")


def verdict(report: Report) -> Text:
    """One line: PASSED with the count, or FAILED naming what is out of tolerance."""
    n = len(report.comparisons)
    if report.oracle is not None:
        n += len(report.oracle.vs_autograd) + len(report.oracle.vs_hand)
    sizes = ", ".join(str(p.size) for p in report.probes)
    if report.passed:
        probes = f"{len(report.probes)} probe batches ({sizes} rows)" if report.probes else ""
        return passed_line(n, probes, report.unjudged)
    failed = report.failed
    if not failed:
        probes = "; ".join(_probe_failure(p) for p in report.failed_probes)
        return Text(
            f"FAILED: all {n} checks on the given batch are within tolerance, but probe "
            f"batches fail: {probes}",
            style="bold red",
        )
    nonfinite = [c.name for c in report.comparisons if c.n_nonfinite]
    by_norm = [c.name for c in report.comparisons if c.n_failed == 0 and not c.norm_passed]
    line = Text(
        f"FAILED: {len(failed)} of {n} out of tolerance: {', '.join(failed)}", style="bold red"
    )
    if nonfinite:
        line.append(f" (NaN/inf in {', '.join(nonfinite)})", style="red")
    if by_norm:
        line.append(f" (by the norm rule: {', '.join(by_norm)})", style="red")
    if report.failed_probes:
        probes = "; ".join(_probe_failure(p) for p in report.failed_probes)
        line.append(f"; probe batches fail too: {probes}", style="red")
    return line


def _probe_failure(probe: Probe) -> str:
    """``probe1 (batch 2: 4 of 11 out)`` or ``probe1 (batch 2: your code gave no answer)``."""
    if probe.report is None:
        return f"{probe.name} (batch {probe.size}: your code gave no answer)"
    n = len(probe.report.comparisons)
    return f"{probe.name} (batch {probe.size}: {len(probe.report.failed)} of {n} out)"


def probe_lines(report: Report) -> list[Any]:
    """One compact line per probe batch (size, verdict, worst quantity and its errors), the
    reproducing command under a failing one; or the note saying why there are none.

    The command is printed one option a line, continued with backslashes (``shell_lines``).
    """
    if report.probe_note is not None:
        return [Text(f"note: {report.probe_note}", style="dim")]
    parts: list[Any] = []
    for probe in report.probes:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column()
        head = Text(f"{probe.name}:", style="bold" if probe.passed else "bold red")
        cell = Text(f"batch {probe.size} · ")
        if probe.passed:
            cell.append("✓ passed", style="green")
        else:
            cell.append("✗ FAILED", style="bold red")
        worst = probe.worst
        if probe.report is None:
            cell.append(f" · your code gave no answer: {printable(probe.error or '')}")
        elif worst is not None:
            if not probe.passed:
                failed = probe.report.failed
                cell.append(f" · {len(failed)} of {len(probe.report.comparisons)} out: ")
                cell.append(", ".join(failed[:6]) + (", …" if len(failed) > 6 else ""))
            cell.append(
                f" · worst {_short_label(worst)}: max abs err {_err(worst.max_abs_error)}, "
                f"max rel err {_err(worst.max_rel_error)}, norm err {_err(worst.norm_error)}"
            )
        grid.add_row(head, cell)
        parts.append(grid)
        if not probe.passed:
            parts.append(Text(f"  reproduce: {shell_lines(printable(probe.command))}", style="dim"))
    return parts


def shell_lines(command: str, indent: str = "      ") -> str:
    """A one-line shell command as lines continued with a backslash, one option a line, so
    that it can be copied from a terminal of any width (JSON keeps the one-line form)."""
    words = shlex.split(command)
    lines: list[list[str]] = [[]]
    for word in words:
        if word.startswith("--"):
            lines.append([])
        lines[-1].append(word)
    return (" \\\n" + indent).join(shlex.join(line) for line in lines)


def kink_line(report: Report) -> Text | None:
    """Which elements passed only inside their interval of valid values, or None."""
    if not report.at_kink:
        return None
    where = ", ".join(f"{name} ({n})" for name, n in report.at_kink)
    # Rows whose output probability rounds to 0 or 1 get an interval too (core/bounds.py):
    # torch's clamped formula and the exact value are both valid there.
    saturated = (
        "; or where the output probability rounds to 0 or 1, between torch's clamped formula "
        "and the exact value"
        if report.settings.spec.output_record.produces == "probabilities"
        else ""
    )
    return Text(
        f"within an interval: {where}: element(s) that differ from autograd by more than "
        "rounding but lie in the interval of valid values: between the two one-sided "
        f"derivatives where an argument is within rounding of a kink{saturated}"
    )


def unjudged_line(report: Report) -> Text | None:
    """Which elements were not judged (no finite bound), or None."""
    if not report.unjudged:
        return None
    where = ", ".join(f"{name} ({n})" for name, n in report.unjudged)
    return Text(
        f"not judged (?): {where}: element(s) with no finite bound (a bound that overflows, "
        "or log 0 where a probability rounds to exactly 0 or 1 under bce): neither passed nor "
        "failed, and not counted as checked",
        style="yellow",
    )


def render_report(report: Report) -> Group:
    """The table, the warnings and the verdict, as printed by ``gradcheck run``."""
    parts: list[Any] = [to_table(report)]
    if report.oracle is not None and not report.oracle.full:
        from gradcheck.output import oracle as render_oracle

        parts.append(render_oracle.directions_table(report.oracle))
    parts.extend(warning_lines(report.warnings))
    parts.extend(probe_lines(report))
    for line in (kink_line(report), unjudged_line(report)):
        if line is not None:
            parts.append(line)
    parts.extend(diagnosis_lines(report))
    parts.append(verdict(report))
    if report.oracle is not None:
        from gradcheck.output import oracle as render_oracle

        parts.append(render_oracle.verdict(report.oracle))
    return Group(*parts)


#: More warnings of one kind than this (a 61-layer network gave 120 small-gradient warnings)
#: are shown as the first ``SHOWN_OF_A_KIND`` and one line naming the rest; the JSON document
#: and JUnit keep every one.
MAX_OF_A_KIND = 6
SHOWN_OF_A_KIND = 3
NAMED_OF_A_KIND = 8
KIND_LABELS = {
    "saturated": "saturated or dead units",
    "zero_gradient": "zero gradients",
    "tiny_gradient": "gradients too small to judge elementwise",
    "loose_bound": "rounding bounds wider than the defaults promise",
    "nonfinite": "NaN or inf",
    "oracle": "oracle",
    "user_code": "your code or model",
}


#: Notices that say how the check was made rather than what it could not see.
NOTE_KINDS = ("dtype",)


def warning_lines(warnings: Sequence[Notice]) -> list[Any]:
    """``warning:`` and the sentence, wrapped at word boundaries under itself; many of a
    kind are cut to a few and a line naming the others."""
    if not warnings:
        return []
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    kinds: dict[str, list[Notice]] = {}
    for warning in warnings:
        kinds.setdefault(warning.kind, []).append(warning)
    seen: dict[str, int] = {}
    for warning in warnings:
        alike = kinds[warning.kind]
        seen[warning.kind] = n = seen.get(warning.kind, 0) + 1
        cut = len(alike) > MAX_OF_A_KIND
        if cut and n > SHOWN_OF_A_KIND:
            continue
        if warning.kind in NOTE_KINDS:
            grid.add_row(Text("note:", style="dim"), Text(warning.message, style="dim"))
            continue
        grid.add_row(Text("warning:", style="yellow"), Text(warning.message, style="yellow"))
        if cut and n == SHOWN_OF_A_KIND:
            rest = alike[SHOWN_OF_A_KIND:]
            names = [w.subject or "?" for w in rest]
            named = ", ".join(names[:NAMED_OF_A_KIND])
            named += ", …" if len(names) > NAMED_OF_A_KIND else ""
            label = KIND_LABELS.get(warning.kind, warning.kind)
            line = f"… and {len(rest)} more of this kind ({label}): {named} (--json lists each)"
            grid.add_row(Text("warning:", style="yellow"), Text(line, style="yellow"))
    return [grid]


def diagnosis_lines(report: Report) -> list[Any]:
    """``diagnosis:`` and one bullet per finding (wrapped under itself), with its test."""
    return finding_lines(report.diagnosis)


def finding_lines(findings: Sequence[Finding]) -> list[Any]:
    """``diagnosis:`` and one bullet per finding, as ``diagnosis_lines``."""
    if not findings:
        return []
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for finding in findings:
        cell = Text(finding.message)
        if finding.test:
            cell.append(f"\ntest: {finding.test}", style="dim")
        grid.add_row(Text("  •"), cell)
    return [Text("diagnosis:", style="bold"), grid]


def plain_text(renderable: RenderableType, width: int) -> str:
    """What a renderable prints at ``width`` columns without colour, lines right-stripped."""
    console = Console(width=width, color_system=None, no_color=True, highlight=False)
    with console.capture() as captured:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n"
