"""The numerical oracle for people: table cells, the directional table, the verdict line."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from gradcheck.checks.oracle import RULE, OracleCheck
from gradcheck.core.compare import Comparison
from gradcheck.output.columns import Column, FittedTable, Row


def columns(check: OracleCheck) -> list[Column[Comparison]]:
    """Extra columns of the main table (none for a directional oracle: it has its own table).

    The oracle's value at the worst element gives way with the other values; its two
    errors and its verdict stay at any width.
    """
    if not check.full:
        return []
    by_name = {a.name: (a, h) for a, h in zip(check.vs_autograd, check.vs_hand, strict=True)}

    def pair(c: Comparison) -> tuple[Comparison, Comparison] | None:
        return by_name.get(c.name) if c.kind in ("parameter", "gradient") else None

    def value(c: Comparison) -> Text:
        found = check.value_at(c.name, c.worst_index, c.shape) if pair(c) else None
        return Text("–") if found is None else Text(f"{found:.6e}")

    def error(side: int) -> Callable[[Comparison], Text]:
        def cell(c: Comparison) -> Text:
            p = pair(c)
            if p is None:
                return Text("–")
            return Text(_err(p[side].max_abs_error), style="" if p[side].passed else "bold red")

        return cell

    def ok(c: Comparison) -> Text:
        p = pair(c)
        if p is None:
            return Text("–")
        good = p[0].passed and p[1].passed
        return Text("✓", style="green") if good else Text("✗", style="bold red")

    return [
        Column("oracle[worst]", value, gives_way=1, what="values at the worst element"),
        Column("|Δ| autograd", error(0)),
        Column("|Δ| hand", error(1)),
        Column("ok", ok, "center"),
    ]


def _err(value: float) -> str:
    return "0" if value == 0 else f"{value:.1e}"


def directions_table(check: OracleCheck) -> FittedTable[tuple[Comparison, Comparison]]:
    """For ``directional``: one row per direction vₖ, vₖᵀ∇L from the oracle and both sides."""
    Pair = tuple[Comparison, Comparison]

    def number(get: Callable[[Pair], float]) -> Callable[[Pair], str]:
        return lambda p: f"{get(p):.12e}"

    def ok(p: Pair) -> Text:
        good = p[0].passed and p[1].passed
        return Text("✓", style="green") if good else Text("✗", style="bold red")

    what = "the directional derivatives"
    columns: list[Column[Pair]] = [
        Column("v", lambda p: p[0].name),
        Column("oracle vᵀ∇L", number(lambda p: float(p[0].reference)), gives_way=1, what=what),
        Column("autograd vᵀg", number(lambda p: float(p[0].candidate)), gives_way=1, what=what),
        Column("hand vᵀg", number(lambda p: float(p[1].candidate)), gives_way=1, what=what),
        Column("|Δ| autograd", lambda p: _err(p[0].max_abs_error)),
        Column("|Δ| hand", lambda p: _err(p[1].max_abs_error)),
        Column("ok", ok, "center"),
    ]
    return FittedTable(
        columns,
        [Row(p) for p in zip(check.vs_autograd, check.vs_hand, strict=True)],
        title="directional oracle: vᵀ∇L along seeded unit directions",
    )


def caption_line(check: OracleCheck) -> str:
    """The oracle's tolerance, for the table caption."""
    t = check.tolerance
    sampled = f", a sample of {check.elements:,} elements" if check.samples else ""
    return (
        f"oracle ({check.method}, float64{sampled}): {RULE}, atol={t.atol:.2g}, rtol={t.rtol:.2g}"
    )


def verdict(check: OracleCheck) -> Text:
    """One line naming which side, if any, disagrees with the oracle."""
    style = "bold red" if not check.passed else "bold green" if check.checked else "bold yellow"
    return Text(f"ORACLE: {check.verdict}", style=style)
