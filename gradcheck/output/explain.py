"""``gradcheck explain`` for people: the derivation as plain rich text."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.console import Group
from rich.table import Table
from rich.text import Text

from gradcheck.checks.explain import Explanation, Step
from gradcheck.core.errors import printable
from gradcheck.core.tolerance import RULE
from gradcheck.output import table as render

#: Arrays with at most this many elements are printed in full; larger ones are summarised.
MAX_SHOWN = 10


def values(array: NDArray[np.generic], max_shown: int = MAX_SHOWN) -> str:
    """Every value of a small array, or a one-line summary of a large one."""
    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 0:
        return f"{float(a):.7g}"
    if a.size <= max_shown:
        if a.ndim >= 2 and a.shape[0] > 1:
            rows = a.reshape(a.shape[0], -1)
            return "[" + ", ".join(values(row, max_shown) for row in rows) + "]"
        return "[" + ", ".join(f"{v:.7g}" for v in a.reshape(-1)) + "]"
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return f"{a.size} values, none finite"
    # Scaled by the largest magnitude first: the sum inside a mean of ±1.8e308 overflows (to
    # NaN, inf − inf) though the mean is finite; a norm past the float maximum is inf.
    big = float(np.max(np.abs(finite)))
    scale = big if big > 0 else 1.0
    with np.errstate(over="ignore", under="ignore"):
        mean = float(np.mean(finite / scale)) * scale
        norm = float(np.linalg.norm(finite / scale)) * scale
    summary = (
        f"{a.size} values: min {finite.min():.4g}, max {finite.max():.4g}, "
        f"mean {mean:.4g}, ‖·‖ {norm:.4g}"
    )
    if finite.size < a.size:
        summary += f", {a.size - finite.size} NaN/inf"
    return summary


def _err(value: float) -> str:
    return "0" if value == 0 else f"{value:.1e}"


def _step_lines(index: int, step: Step) -> Table:
    """One step: its number, then the formula and one labelled line per value, each wrapping
    under itself (never back to the left margin); the verdict comes first on the error line."""
    head = Text(step.formula, style="bold")
    head.append(f"   {step.title}", style="dim")
    if step.where:
        head = Text.assemble(head, "\n", Text(f"where {step.where}", style="dim"))
    details = Table.grid(padding=(0, 1))
    details.add_column(no_wrap=True, min_width=len("autograd"))
    details.add_column()
    details.add_row("shapes", Text(step.shapes))
    details.add_row("hand", Text(values(step.hand)))
    c = step.check
    if c is not None:
        details.add_row("autograd", Text(values(c.reference)))
        verdict = Text(
            "✓ within" if c.passed else "✗ OUT OF TOLERANCE",
            style="green" if c.passed else "bold red",
        )
        verdict.append(
            f": max abs {_err(c.max_abs_error)}, max rel {_err(c.max_rel_error)}, "
            f"{c.error_ratio:.2g}× the tolerance"
            + (f" at {list(c.worst_index)}" if c.worst_index else ""),
            style="",
        )
        details.add_row("error", verdict)
    step_grid = Table.grid(padding=(0, 1))
    step_grid.add_column(no_wrap=True, justify="right", min_width=4)
    step_grid.add_column()
    step_grid.add_row(Text(f"{index}."), Group(head, details))
    return step_grid


def render_explanation(explanation: Explanation) -> Group:
    """Header, the forward pass, the backward pass and the verdict; plain text, no boxes."""
    report = explanation.report
    s = report.settings
    source = f"weights {printable(s.weights)}" if s.weights else f"seed {s.seed}"
    parts: list[Any] = [
        Text(
            f"gradcheck explain · {s.spec.brief()} · batch {s.batch_size} · "
            f"{s.spec.dtype} · {source}",
            style="bold",
        ),
        Text(f"pass: {RULE}, atol={s.tolerance.atol:g}, rtol={s.tolerance.rtol:g}"),
    ]
    phase = None
    for i, step in enumerate(explanation.steps, start=1):
        if step.phase != phase:
            phase = step.phase
            title = "Forward pass" if phase == "forward" else "Backward pass (chain rule)"
            parts.append(Text(""))
            parts.append(Text(title, style="bold underline"))
        parts.append(_step_lines(i, step))
    parts.extend(render.warning_lines(report.warnings))
    parts.append(Text(""))
    parts.append(render.verdict(report))
    return Group(*parts)
