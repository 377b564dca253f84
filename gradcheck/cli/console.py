"""Writing results: the rich console, the run's report files and its outputs on stdout.

Only the command line writes to the terminal: stdout carries the result (a table, or exactly
one JSON document with ``--json``); every message for people goes to stderr.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from gradcheck.core.errors import GradcheckError

if TYPE_CHECKING:
    from gradcheck.checks.report import Report


def load_torch_side() -> None:
    """Import the torch side now, then freeze what the import allocated for the cyclic GC.

    Importing torch leaves hundreds of thousands of long-lived objects; without the freeze
    every later full collection rescans them (~0.1 s each, measured: the table of
    ``gradcheck run`` took 0.19 s instead of 0.03 s). They live until exit anyway.
    """
    import gc

    import gradcheck.torch_side.reference  # noqa: F401  (imports torch)

    gc.freeze()


def make_console(no_color: bool, stderr: bool = False) -> Any:
    """A rich console: colour only on a terminal and without NO_COLOR; wide enough when piped."""
    from rich.console import Console

    file = sys.stderr if stderr else sys.stdout
    plain = no_color or bool(os.environ.get("NO_COLOR"))
    width = None if file.isatty() or os.environ.get("COLUMNS") else 160
    return Console(
        file=file,
        color_system=None if plain else "auto",
        no_color=plain,
        width=width,
        highlight=False,
        soft_wrap=False,
    )


def emit(report: Report, *, as_json: bool, arrays: bool, no_color: bool) -> None:
    """Write the finished result to stdout in one go."""
    if as_json:
        from gradcheck.output.documents import to_json

        click.echo(to_json(report, arrays=arrays))
        return
    from gradcheck.output.table import render_report

    make_console(no_color).print(render_report(report))


def emit_detail(report: Report, *, no_color: bool) -> None:
    """The per-element heat maps, sized to the console."""
    from gradcheck.output.detail import render_details

    console = make_console(no_color)
    console.print(render_details(report, width=console.width))


def check_output_flags(*, as_json: bool, quiet: bool, detail: bool = False) -> None:
    """Refuse output flags that contradict each other."""
    if quiet and as_json:
        raise GradcheckError("--quiet: cannot be combined with --json (it prints nothing)")
    if detail and as_json:
        raise GradcheckError(
            "--detail: cannot be combined with --json (the document already has every element)"
        )


def check_report_files(*, junit: str | None, plot: str | None) -> None:
    """Fail before any computation if a requested file cannot be written."""
    from gradcheck.io.atomic import check_writable

    if plot is not None:
        from pathlib import Path

        from gradcheck.output.plot import require_matplotlib

        if Path(plot).suffix.lower() != ".png":
            raise GradcheckError(f"--plot: {plot}: expected a .png file name (the figure is a PNG)")
        require_matplotlib()
        check_writable(plot, "--plot")
    if junit is not None:
        check_writable(junit, "--junit")


def write_report_files(report: Report, *, junit: str | None, plot: str | None) -> None:
    """Write the requested report files (before stdout, so a failure leaves stdout empty)."""
    from gradcheck.io.atomic import write_atomic

    if junit is not None:
        from gradcheck.output.junit import to_junit

        write_atomic(junit, to_junit(report), "--junit")
    if plot is not None:
        from gradcheck.output.plot import to_png

        write_atomic(plot, to_png(report), "--plot")
