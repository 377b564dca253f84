"""Renderers for the numerical oracle: JSON fields, table cells, the directional table, verdict."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.table import Table
from rich.text import Text

from gradcheck.checks.oracle import RULE, RULE_ASCII, OracleCheck
from gradcheck.core.compare import Comparison
from gradcheck.output.table import array, number


def _errors(c: Comparison) -> dict[str, Any]:
    return {
        "max_abs_error": number(c.max_abs_error),
        "max_rel_error": number(c.max_rel_error),
        "worst_index": list(c.worst_index),
        "error_ratio": number(c.error_ratio),
        "n_failed": c.n_failed,
        "passed": c.passed,
    }


def add_to_dict(doc: dict[str, Any], check: OracleCheck, *, arrays: bool = True) -> None:
    """Append the oracle to a report's JSON dict: per-parameter fields and an ``oracle`` section.

    Full methods: each parameter record gains ``oracle`` (the numerical gradient, a full
    nested list, unless ``arrays`` is false), ``oracle_vs_autograd`` and ``oracle_vs_hand``.
    The ``oracle`` section states method, tolerance, which sides disagree and the verdict;
    for ``directional`` it lists each direction's vᵀ∇L from the oracle and both sides.
    """
    section: dict[str, Any] = {
        "method": check.method,
        "atol": check.tolerance.atol,
        "rtol": check.tolerance.rtol,
        "rule": RULE_ASCII,
        "passed": check.passed,
        "disagreeing": list(check.disagreeing),
        "verdict": check.verdict,
    }
    pairs = list(zip(check.vs_autograd, check.vs_hand, strict=True))
    if check.method == "directional":
        section["directions"] = [
            {
                "name": a.name,
                "oracle": number(float(a.autograd)),
                "autograd": number(float(a.hand)),
                "hand": number(float(h.hand)),
                "vs_autograd": _errors(a),
                "vs_hand": _errors(h),
            }
            for a, h in pairs
        ]
    else:
        records = {r["name"]: r for r in doc["parameters"]}
        for a, h in pairs:
            record = records[a.name]
            if arrays:
                record["oracle"] = array(a.autograd)
            record["oracle_vs_autograd"] = _errors(a)
            record["oracle_vs_hand"] = _errors(h)
            record["oracle_skipped"] = dict(check.skipped).get(a.name, 0)
    doc["oracle"] = section


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
    value = float(np.asarray(a.autograd, dtype=np.float64)[c.worst_index])
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
            f"{float(a.autograd):.12e}",
            f"{float(a.hand):.12e}",
            f"{float(h.hand):.12e}",
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
    style = "bold green" if check.passed else "bold red"
    return Text(f"ORACLE: {check.verdict}", style=style)
