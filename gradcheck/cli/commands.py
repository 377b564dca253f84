"""The command line: parse, build settings, delegate to the core, print, exit.

Only this module writes to the terminal. stdout carries the result (a table, or exactly one
JSON document with ``--json``); every message for people goes to stderr. Exit codes:
0 all checks within tolerance, 1 something out of tolerance, 2 bad usage or bad input,
3 an internal error of gradcheck.

torch is imported only inside commands, so ``gradcheck --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from gradcheck import __version__
from gradcheck.cli.options import (
    IMPL_HELP,
    candidate_options,
    detail_options,
    input_options,
    json_option,
    network_options,
    no_color_option,
    oracle_option,
    output_options,
    quiet_option,
    report_file_options,
    tolerance_options,
    weight_options,
)
from gradcheck.core.errors import GradcheckError, UserCodeError

if TYPE_CHECKING:
    from gradcheck.checks.report import Report

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
    """``--x 0.974 0.312`` → ``--x "0.974 0.312"``, so click sees one value per occurrence."""
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        out.append(token)
        i += 1
        if token in VECTOR_OPTIONS:
            values = []
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
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


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
        click.echo(exc.traceback_text.rstrip(), err=True)
        click.echo(f"Error: {one_line(str(exc))}", err=True)
        return EXIT_USAGE
    except GradcheckError as exc:
        click.echo(f"Error: {one_line(str(exc))}", err=True)
        return EXIT_USAGE
    except (click.Abort, KeyboardInterrupt):
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
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


# ---------------------------------------------------------------------------------------------
# Commands


@click.group(cls=GradcheckGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="gradcheck")
def cli() -> None:
    """Check hand-derived backpropagation against torch autograd.

    \b
    Exit codes:
      0  every forward value and gradient within tolerance
      1  something out of tolerance (or NaN/inf on either side); a side
         disagrees with --oracle; a sweep case fails
      2  bad usage or bad input
      3  internal error in gradcheck

    \b
    Shell completion (add to ~/.bashrc; zsh_source/fish_source for zsh/fish):
      eval "$(_GRADCHECK_COMPLETE=bash_source gradcheck)"
    """


@cli.command(cls=VectorCommand)
@input_options
@network_options
@weight_options
@tolerance_options
@output_options
@oracle_option(
    "Add a third, independent opinion: the loss gradient from forward passes alone in "
    "float64 (central or richardson differences, complex-step, or a few seeded directional "
    "derivatives for big models), compared with both sides."
)
@candidate_options
@detail_options
@report_file_options
def run(
    x_rows: tuple[str, ...],
    target_rows: tuple[str, ...],
    data: str | None,
    layers: str,
    activation: str,
    loss: str,
    dtype: str,
    seed: int,
    weights: str | None,
    atol: float | None,
    rtol: float | None,
    as_json: bool,
    no_arrays: bool,
    no_color: bool,
    oracle: str | None,
    impl: str | None,
    grads: str | None,
    detail: bool = False,
    plot: str | None = None,
    junit: str | None = None,
    quiet: bool = False,
) -> int:
    """Compare autograd with the hand-derived backward pass, parameter by parameter.

    Builds the seed's torch Model (or any --layers), copies the same weights into a NumPy
    replica whose backward pass is derived by hand (δL … δ1), and compares prediction, loss,
    every parameter gradient and every δ under |hand − autograd| ≤ atol + rtol·|autograd|.

    With --impl FILE.py:FUNC (or --grads FILE) your own backward is checked instead of the
    built-in replica, and a failing check says where the bug most likely is (diagnosis).

    \b
    Example:
      gradcheck run --x 0.974 0.312
      gradcheck run --x 0.974 0.312 --target 0.5 --dtype float32 --json
      gradcheck run --x 0.974 0.312 --impl samples/backward_seed.py:backward
      gradcheck run --x 0.974 0.312 --detail --plot errors.png --junit report.xml
      gradcheck run --x 0.974 0.312 --oracle richardson
    """
    from gradcheck.checks.pipeline import check
    from gradcheck.core.spec import parse_layers
    from gradcheck.io.inputs import parse_floats

    check_output_flags(as_json=as_json, quiet=quiet, detail=detail)
    check_report_files(junit=junit, plot=plot)
    load_torch_side()
    report = check(
        [parse_floats(row, "--x") for row in x_rows] or None,
        [parse_floats(row, "--target") for row in target_rows] or None,
        data=data,
        layers=parse_layers(layers),
        activation=activation,
        loss=loss,
        dtype=dtype,
        seed=seed,
        weights=weights,
        atol=atol,
        rtol=rtol,
        impl=impl,
        grads=grads,
        oracle=oracle,
    )
    write_report_files(report, junit=junit, plot=plot)
    if quiet:
        return report.exit_code
    emit(report, as_json=as_json, arrays=not no_arrays, no_color=no_color)
    if detail:
        emit_detail(report, no_color=no_color)
    return report.exit_code


@cli.command()
@click.option(
    "--cases",
    type=int,
    required=True,
    help="Number of random cases. Case k uses torch's default init under seed S+k and a batch "
    "drawn from numpy.random.default_rng(S): x ~ U[-1, 1], targets ~ U[0, 1] (classes "
    "uniform for cross_entropy).",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=0,
    show_default=True,
    help="First seed S: weights of case k come from torch.manual_seed(S+k).",
)
@click.option(
    "--batch-size",
    type=int,
    default=1,
    show_default=True,
    help="Input rows per case.",
)
@network_options
@tolerance_options
@oracle_option("Also compare both sides with the numerical oracle in every case.")
@click.option(
    "--impl", metavar="FILE.py:FUNC", help=IMPL_HELP + " Called once per case in a sweep."
)
@json_option("Print the summary as one JSON document.")
@no_color_option
@quiet_option
def sweep(
    cases: int,
    seed: int,
    batch_size: int,
    layers: str,
    activation: str,
    loss: str,
    dtype: str,
    atol: float | None,
    rtol: float | None,
    oracle: str | None,
    impl: str | None,
    as_json: bool,
    no_color: bool,
    quiet: bool,
) -> int:
    """Check hand vs autograd on many random cases at once; exit 1 if any case fails.

    Cases are stacked along a leading axis and checked a chunk at a time. The summary gives
    the pass rate, the max and median error of every quantity over the cases, and the
    worst case's seed with the exact 'gradcheck run' command that reruns it.

    \b
    Example:
      gradcheck sweep --cases 10000
      gradcheck sweep --cases 1000 --layers 2,32,32,1 --activation tanh --oracle richardson
      gradcheck sweep --cases 200 --impl samples/backward_seed.py:backward
    """
    from gradcheck.checks import sweep as sweeping
    from gradcheck.core.compare import resolve_tolerance
    from gradcheck.core.spec import NetSpec, parse_layers

    check_output_flags(as_json=as_json, quiet=quiet)
    spec = NetSpec(parse_layers(layers), activation, loss, dtype)
    settings = sweeping.SweepSettings(
        spec, cases, seed, batch_size, resolve_tolerance(dtype, atol, rtol), oracle
    )
    sweeping.validate(spec, cases, seed, batch_size)
    hand = None
    if impl is not None:
        from dataclasses import replace

        from gradcheck.io.usercode import load_backward

        hand = sweeping.user_hand(load_backward(impl), impl)
        settings = replace(settings, candidate=f"impl:{impl}")
    load_torch_side()
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(console=make_console(no_color, stderr=True), transient=True) as bar:
            task = bar.add_task("checking cases", total=cases)
            report = sweeping.run_sweep(
                settings, hand=hand, progress=lambda done: bar.update(task, completed=done)
            )
    else:
        report = sweeping.run_sweep(settings, hand=hand)
    from gradcheck.output import sweep as render_sweep

    if quiet:
        return report.exit_code
    if as_json:
        click.echo(render_sweep.to_json(report))
    else:
        console = make_console(no_color)
        console.print(render_sweep.render_report(report))
        console.print(render_sweep.rerun_line(report), soft_wrap=True)
    return report.exit_code


def load_torch_side() -> None:
    """Import the torch side now, then freeze what the import allocated for the cyclic GC.

    Importing torch leaves hundreds of thousands of long-lived objects; without the freeze
    every later full collection rescans them (~0.1 s each, measured: the table of
    ``gradcheck run`` took 0.19 s instead of 0.03 s). They live until exit anyway.
    """
    import gc

    import gradcheck.torch_side.reference  # noqa: F401  (imports torch)

    gc.freeze()


def emit(report: Report, *, as_json: bool, arrays: bool, no_color: bool) -> None:
    """Write the finished result to stdout in one go."""
    from gradcheck.output import table as render

    if as_json:
        click.echo(render.to_json(report, arrays=arrays))
        return
    console = make_console(no_color)
    console.print(render.render_report(report))


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


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="gradcheck")


# ---------------------------------------------------------------------------------------------
# Output helpers: detail view, plots, JUnit, quiet


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


def emit_detail(report: Report, *, no_color: bool) -> None:
    """The per-element heat maps, sized to the console."""
    from gradcheck.output.detail import render_details

    console = make_console(no_color)
    console.print(render_details(report, width=console.width))


@cli.command(cls=VectorCommand)
@input_options
@network_options
@weight_options
@tolerance_options
@json_option("Print the steps as one JSON document instead.")
@no_color_option
@quiet_option
def explain(
    x_rows: tuple[str, ...],
    target_rows: tuple[str, ...],
    data: str | None,
    layers: str,
    activation: str,
    loss: str,
    dtype: str,
    seed: int,
    weights: str | None,
    atol: float | None,
    rtol: float | None,
    as_json: bool,
    no_color: bool,
    quiet: bool,
) -> int:
    """Walk the derivation step by step: every z, a, δ and gradient, with its formula.

    The forward pass (z_l = a_{l−1}·W_lᵀ + b_l, a_l = f(z_l), the loss), then the backward
    pass (δL = ∂L/∂ŷ, δ_l = (δ_{l+1}·W_{l+1}) ⊙ f′(z_l), ∂L/∂W_l = δ_lᵀ·a_{l−1}, ∂L/∂b_l =
    Σ δ_l), written for the chosen activation and loss, with shapes and the hand values.
    Every value autograd also computes is shown beside it with the error. Exit codes as for
    run: 1 if any step is out of tolerance.

    \b
    Example:
      gradcheck explain --x 0.974 0.312
      gradcheck explain --x 0.974 0.312 --activation tanh --layers 2,4,3 --loss cross_entropy
    """
    from gradcheck.checks.explain import explain_check
    from gradcheck.core.spec import parse_layers
    from gradcheck.io.inputs import parse_floats
    from gradcheck.output import explain as render_explain

    check_output_flags(as_json=as_json, quiet=quiet)
    explanation = explain_check(
        [parse_floats(row, "--x") for row in x_rows] or None,
        [parse_floats(row, "--target") for row in target_rows] or None,
        data=data,
        layers=parse_layers(layers),
        activation=activation,
        loss=loss,
        dtype=dtype,
        seed=seed,
        weights=weights,
        atol=atol,
        rtol=rtol,
    )
    if quiet:
        return explanation.exit_code
    if as_json:
        click.echo(render_explain.to_json(explanation))
    else:
        make_console(no_color).print(render_explain.render_explanation(explanation))
    return explanation.exit_code


@cli.command()
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of the run --json and explain --json documents."""
    from gradcheck.io.schema import schema_text

    click.echo(schema_text(), nl=False)
