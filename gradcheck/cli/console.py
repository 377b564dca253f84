"""Writing results: the rich console, the run's report files and its outputs on stdout.

Only the command line writes to the terminal: stdout carries the result (a table, or exactly
one JSON document with ``--json``); every message for people goes to stderr.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

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


#: Widths outside this range (``COLUMNS=0``, ``COLUMNS=100000``) are not believed.
SANE_WIDTHS = range(20, 1001)
#: The width with no terminal and no COLUMNS (CI logs, files): the full table fits.
PIPE_WIDTH = 160
#: The width when a terminal reports nothing believable.
FALLBACK_WIDTH = 80


def console_width(file: Any) -> int:
    """The width to lay results out at.

    COLUMNS if believable; else the width of the terminal the person is looking at: stdout's,
    or stderr's when stdout goes into a pipe or file (``gradcheck run | less``); else (no
    terminal at all, as in CI) 160 columns, where the full table fits.
    """
    raw = os.environ.get("COLUMNS", "").strip()
    if raw.isdigit() and int(raw) in SANE_WIDTHS:
        return int(raw)
    for stream in (file, sys.stderr):
        if _isatty(stream):
            try:
                columns = os.get_terminal_size(stream.fileno()).columns
            except (OSError, ValueError, AttributeError):
                return FALLBACK_WIDTH
            return columns if columns in SANE_WIDTHS else FALLBACK_WIDTH
    return PIPE_WIDTH


def _isatty(file: Any) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def oracle_progress() -> Iterator[Callable[[int, int, float], None] | None]:
    """A progress bar for the oracle on stderr, or None when stderr is not a terminal.

    The bar appears with the oracle's first block (runs without an oracle show nothing) and
    is cleared when it ends: stdout never carries it, and a log of stderr gets no bar at all.
    It counts parameter elements; its length and the time left follow the share of the work.
    """
    if not _isatty(sys.stderr):
        yield None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("oracle"),
        BarColumn(),
        TextColumn("{task.fields[done]:,}/{task.fields[elements]:,} elements ·"),
        TimeElapsedColumn(),
        TextColumn("· left"),
        TimeRemainingColumn(),
        console=make_console(no_color=False, stderr=True),
        transient=True,
    )
    task: list[Any] = []

    def update(done: int, total: int, share: float) -> None:
        if not task:
            bar.start()
            task.append(bar.add_task("oracle", total=1.0, done=0, elements=total))
        bar.update(task[0], completed=share, done=done, elements=total)

    try:
        yield update
    finally:
        if task:
            bar.stop()


def make_console(no_color: bool, stderr: bool = False) -> Any:
    """A rich console: colour only on a terminal and without NO_COLOR; a believable width."""
    from rich.console import Console

    file = sys.stderr if stderr else sys.stdout
    plain = no_color or bool(os.environ.get("NO_COLOR"))
    return Console(
        file=file,
        color_system=None if plain else "auto",
        no_color=plain,
        width=console_width(file),
        highlight=False,
        soft_wrap=False,
    )


# Trailing spaces, possibly followed by the codes that end a style.
_TRAILING = re.compile(r"[ \t]+((?:\x1b\[[0-9;]*m)*)$", re.MULTILINE)


def print_out(renderables: Sequence[Any], no_color: bool) -> None:
    """Print to stdout; into a pipe or file, without the padding rich adds to fill each line."""
    console = make_console(no_color)
    if _isatty(console.file):
        for renderable, soft_wrap in renderables:
            console.print(renderable, soft_wrap=soft_wrap)
        return
    with console.capture() as captured:
        for renderable, soft_wrap in renderables:
            console.print(renderable, soft_wrap=soft_wrap)
    console.file.write(_TRAILING.sub(r"\1", captured.get()))
    console.file.flush()


def write_pieces(pieces: Iterable[str]) -> None:
    """One JSON document to stdout, as its pieces come: a batch of 10⁵ rows makes a document
    of tens of MB, which need not be held whole (nor as Python lists) beside the report."""
    out = sys.stdout
    for piece in pieces:
        out.write(piece)
    out.write("\n")
    out.flush()


def emit(report: Report, *, as_json: bool, arrays: bool, no_color: bool) -> None:
    """Write the finished result to stdout (the JSON document in pieces, the table whole)."""
    if as_json:
        from gradcheck.output.documents import iter_json

        write_pieces(iter_json(report, arrays=arrays))
        return
    from gradcheck.output.table import render_report

    print_out([(render_report(report), False)], no_color)


def emit_detail(report: Report, *, no_color: bool) -> None:
    """The per-element heat maps, sized to the console."""
    from gradcheck.output.detail import render_details

    width = console_width(sys.stdout)
    print_out([(render_details(report, width=width), False)], no_color)


def check_output_flags(*, as_json: bool, quiet: bool, detail: bool = False) -> None:
    """Refuse output flags that contradict each other."""
    if quiet and as_json:
        raise GradcheckError("--quiet: cannot be combined with --json (it prints nothing)")
    if detail and as_json:
        raise GradcheckError(
            "--detail: cannot be combined with --json (the document already has every element)"
        )


def check_one_stdin(files: dict[str, str | None]) -> None:
    """Refuse standard input ('-') for more than one option: it can be read only once, and the
    second reader would see an empty file and say so, which misleads."""
    readers = [option for option, value in files.items() if value == "-"]
    if len(readers) > 1:
        raise GradcheckError(
            f"{readers[1]}: standard input ('-') is already read by {readers[0]}; give one of "
            "them a file"
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
