"""Argument glue and error guarding: every outcome becomes an exit code and one stderr line.

Exit codes: 0 all checks within tolerance, 1 something out of tolerance, 2 bad usage or bad
input, 3 an internal error of gradcheck, 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import click

from gradcheck.core.errors import GradcheckError, UserCodeError, printable

EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

# Options that take a whole row of numbers: `--x 0.974 0.312`.
VECTOR_OPTIONS = frozenset({"--x", "--target"})


def _is_value(token: str) -> bool:
    """Whether a token after a vector option is one of its values (``-0.5`` is, ``--seed`` not)."""
    if token == "--" or not token.startswith("-"):
        return token != "--"
    try:
        float(token)
    except ValueError:
        return False
    return True


def join_vector_options(args: Sequence[str]) -> list[str]:
    """``--x 0.974 0.312`` → ``--x "0.974 0.312"``, so click sees one value per occurrence.

    ``--x=0.974 0.312`` means the same: the value after ``=`` is the row's first number.
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        option, eq, first = token.partition("=")
        if eq and option in VECTOR_OPTIONS:
            token = option
            values = [first] if first else []
        else:
            values = []
        out.append(token)
        if token in VECTOR_OPTIONS:
            while i < len(args) and _is_value(args[i]):
                values.append(args[i])
                i += 1
            if values:
                out.append(" ".join(values))
    return out


class VectorCommand(click.Command):
    """A command whose ``--x``/``--target`` take as many numbers as follow them."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, join_vector_options(args))


class GradcheckGroup(click.Group):
    """Turns every error into one line on stderr and the documented exit code."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        code = run_guarded(
            lambda: super(GradcheckGroup, self).main(
                args, prog_name, complete_var, standalone_mode=False, **extra
            )
        )
        sys.exit(code)


def one_line(text: str) -> str:
    """The message on a single line: control characters from user input are escaped."""
    return printable(text)


def run_guarded(body: Callable[[], Any]) -> int:
    """Run a click entry point; map every outcome to an exit code and one stderr line."""
    try:
        rv = body()
        return rv if isinstance(rv, int) else 0
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()
        return exc.exit_code
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"Error: {one_line(exc.format_message())}{hint}", err=True)
        return exc.exit_code
    except UserCodeError as exc:
        click.echo(printable(exc.traceback_text.rstrip(), keep_newlines=True), err=True)
        click.echo(f"Error: {one_line(exc.cli_message)}", err=True)
        return EXIT_USAGE
    except GradcheckError as exc:
        click.echo(f"Error: {one_line(exc.cli_message)}", err=True)
        return EXIT_USAGE
    except (click.Abort, KeyboardInterrupt):
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        if _shell_completion(exc):
            raise  # click answers a completion request and exits: that is its answer
        # gradcheck never calls sys.exit inside a command, and user code runs as a guest
        # (io/guest.py) that reports it; should one escape all the same, exit 0 would read as
        # a pass in CI.
        click.echo(
            f"Error: sys.exit({one_line(repr(exc.code))}) was called during the check "
            "(reported, not obeyed)",
            err=True,
        )
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`gradcheck run … | head`); nothing more to say to it.
        sys.stdout = open(os.devnull, "w")
        return 0
    except Exception:
        click.echo(traceback.format_exc().rstrip(), err=True)
        click.echo(
            "Error: internal error in gradcheck (this is a bug; please report it with the "
            "traceback above)",
            err=True,
        )
        return EXIT_INTERNAL


def _shell_completion(exc: SystemExit) -> bool:
    """Whether click's shell completion raised it (``_GRADCHECK_COMPLETE=bash_source``)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return any(f.name == "_main_shell_completion" for f in frames)
