"""The numerical oracle for people: table cells, the directional table, the verdict line."""

from __future__ import annotations

import numpy as np
from rich.table import Table
from rich.text import Text

from gradcheck.checks.oracle import RULE, OracleCheck
from gradcheck.core.compare import Comparison


def column_names(check: OracleCheck) -> tuple[str, ...]:
    """Extra columns of the main table (none for directional: it has its own table)."""
    if check.method == "directional":
        return ()
    return ("oracle[worst]", "|Δ| autograd", "|Δ| hand", "ok")


def cells(check: OracleCheck, c: Comparison) -> tuple[Text, ...]:
    """The extra cells of one row: the oracle at the row's worst index and its errors."""
    if check.method == "directional":
        return ()
    by_name = {a.name: (a, h) for a, h in zip(check.vs_autograd, check.vs_hand, strict=True)}
    if c.kind != "parameter" or c.name not in by_name:
        return tuple(Text("–") for _ in range(4))
    a, h = by_name[c.name]
    value = float(np.asarray(a.reference, dtype=np.float64)[c.worst_index])
    ok = a.passed and h.passed
    return (
        Text(f"{value:.6e}"),
        Text(_err(a.max_abs_error), style="" if a.passed else "bold red"),
        Text(_err(h.max_abs_error), style="" if h.passed else "bold red"),
        Text("✓", style="green") if ok else Text("✗", style="bold red"),
    )


def _err(value: float) -> str:
    return "0" if value == 0 else f"{value:.1e}"


def directions_table(check: OracleCheck) -> Table:
    """For ``directional``: one row per direction vₖ, vₖᵀ∇L from the oracle and both sides."""
    table = Table(
        title="directional oracle: vᵀ∇L along seeded unit directions", header_style="bold"
    )
    for name in ("v", "oracle vᵀ∇L", "autograd vᵀg", "hand vᵀg", "|Δ| autograd", "|Δ| hand"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("ok", justify="center", no_wrap=True)
    for a, h in zip(check.vs_autograd, check.vs_hand, strict=True):
        ok = a.passed and h.passed
        table.add_row(
            a.name,
            f"{float(a.reference):.12e}",
            f"{float(a.candidate):.12e}",
            f"{float(h.candidate):.12e}",
            _err(a.max_abs_error),
            _err(h.max_abs_error),
            Text("✓", style="green") if ok else Text("✗", style="bold red"),
        )
    return table


def caption_line(check: OracleCheck) -> str:
    """The oracle's tolerance, for the table caption."""
    t = check.tolerance
    return f"oracle ({check.method}, float64): {RULE}, atol={t.atol:.2g}, rtol={t.rtol:.2g}"


def verdict(check: OracleCheck) -> Text:
    """One line naming which side, if any, disagrees with the oracle."""
    style = "bold red" if not check.passed else "bold green" if check.checked else "bold yellow"
    return Text(f"ORACLE: {check.verdict}", style=style)
