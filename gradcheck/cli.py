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
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gradcheck import __version__
from gradcheck.errors import GradcheckError, UserCodeError
from gradcheck.spec import ACTIVATIONS, DTYPES, LOSSES, ORACLE_METHODS, SEED_LAYERS

if TYPE_CHECKING:
    from gradcheck.report import Report

EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

# Options that take a whole row of numbers: `--x 0.974 0.312`.
VECTOR_OPTIONS = frozenset({"--x", "--target"})

F = TypeVar("F", bound=Callable[..., Any])


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

    def main(  # type: ignore[override]
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
        click.echo(f"Error: {exc.format_message()}{hint}", err=True)
        return exc.exit_code
    except UserCodeError as exc:
        click.echo(exc.traceback_text.rstrip(), err=True)
        click.echo(f"Error: {exc}", err=True)
        return EXIT_USAGE
    except GradcheckError as exc:
        click.echo(f"Error: {exc}", err=True)
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
# Shared options


def network_options(f: F) -> F:
    """``--layers``, ``--activation``, ``--loss``, ``--dtype``: what network is checked."""
    decorators = [
        click.option(
            "--layers",
            default=",".join(map(str, SEED_LAYERS)),
            show_default=True,
            metavar="N0,N1,…,NL",
            help="Layer sizes, inputs first. The default is the seed's 2→10→10→1 network.",
        ),
        click.option(
            "--activation",
            type=click.Choice(ACTIVATIONS),
            default="sigmoid",
            show_default=True,
            help="Hidden-layer activation; the output layer is linear, as in the seed.",
        ),
        click.option(
            "--loss",
            type=click.Choice(LOSSES),
            default="mse",
            show_default=True,
            help="Loss with torch's mean reduction. cross_entropy takes class indices as "
            "targets; bce_logits takes targets in [0, 1].",
        ),
        click.option(
            "--dtype",
            type=click.Choice(DTYPES),
            default="float64",
            show_default=True,
            help="Precision of both sides. float64 is the sharp check; float32 is the seed's "
            "setting.",
        ),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def input_options(f: F) -> F:
    """``--x``, ``--target``, ``--data``: the batch."""
    decorators = [
        click.option(
            "--x",
            "x_rows",
            multiple=True,
            metavar="X1 X2 …",
            help="One input row, as many numbers as the first layer has inputs. Repeat for a "
            "batch: --x 0.1 0.2 --x 0.3 0.4.",
        ),
        click.option(
            "--target",
            "target_rows",
            multiple=True,
            metavar="Y1 …",
            help="Target for each --x row: one number per output unit (a class index for "
            "cross_entropy). Default: 1.0 per output unit, class 0 for cross_entropy.",
        ),
        click.option(
            "--data",
            metavar="FILE",
            help="Read the batch from a CSV (first N0 columns inputs, the rest targets; header "
            "optional) or an .npz with arrays x and y.",
        ),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def weight_options(f: F) -> F:
    """``--seed`` and ``--weights``: where the shared weights come from."""
    decorators = [
        click.option(
            "--seed",
            type=click.IntRange(0, 2**63 - 1),
            default=0,
            show_default=True,
            help="torch.manual_seed before torch's default initialisation of the weights.",
        ),
        click.option(
            "--weights",
            metavar="FILE",
            help="Load weights instead: a .pt state_dict (torch.save(model.state_dict())), read "
            "with torch's weights-only loader, or an .npz with the same keys (or W1, b1, …).",
        ),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def tolerance_options(f: F) -> F:
    """``--atol``, ``--rtol``."""
    decorators = [
        click.option(
            "--atol",
            type=float,
            default=None,
            help="Absolute tolerance. Default per dtype: 1e-7 (float64), 1e-5 (float32).",
        ),
        click.option(
            "--rtol",
            type=float,
            default=None,
            help="Relative tolerance. Default per dtype: 1e-7 (float64), 1.3e-6 (float32).",
        ),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def output_options(f: F) -> F:
    """``--json``, ``--no-arrays``, ``--no-color``."""
    decorators = [
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help="Print exactly one JSON document on stdout instead of the table.",
        ),
        click.option(
            "--no-arrays",
            is_flag=True,
            help="With --json, leave out the full gradient arrays (errors and indices stay).",
        ),
        click.option(
            "--no-color",
            is_flag=True,
            help="No colour or styles (the NO_COLOR environment variable does the same).",
        ),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


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
    """


@cli.command(cls=VectorCommand)
@input_options
@network_options
@weight_options
@tolerance_options
@output_options
@click.option(
    "--oracle",
    type=click.Choice(ORACLE_METHODS),
    default=None,
    help="Add a third, independent opinion: the loss gradient from forward passes alone in "
    "float64 (central or richardson differences, complex-step, or a few seeded directional "
    "derivatives for big models), compared with both sides.",
)
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
) -> int:
    """Compare autograd with the hand-derived backward pass, parameter by parameter.

    Builds the seed's torch Model (or any --layers), copies the same weights into a NumPy
    replica whose backward pass is derived by hand (δL … δ1), and compares prediction, loss,
    every parameter gradient and every δ under |hand − autograd| ≤ atol + rtol·|autograd|.

    \b
    Example:
      gradcheck run --x 0.974 0.312
      gradcheck run --x 0.974 0.312 --target 0.5 --dtype float32 --json
      gradcheck run --x 0.974 0.312 --oracle richardson
    """
    from gradcheck.check import check
    from gradcheck.inputs import parse_floats
    from gradcheck.spec import parse_layers

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
        oracle=oracle,
    )
    emit(report, as_json=as_json, arrays=not no_arrays, no_color=no_color)
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
@click.option(
    "--oracle",
    type=click.Choice(ORACLE_METHODS),
    default=None,
    help="Also compare both sides with the numerical oracle in every case (see 'run --help').",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON document.")
@click.option("--no-color", is_flag=True, help="No colour or styles (NO_COLOR does the same).")
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
    as_json: bool,
    no_color: bool,
) -> int:
    """Check hand vs autograd on many random cases at once; exit 1 if any case fails.

    Cases are stacked along a leading axis and checked a chunk at a time. The summary gives
    the pass rate, the max and median error of every quantity over the cases, and the
    worst case's seed with the exact 'gradcheck run' command that reruns it.

    \b
    Example:
      gradcheck sweep --cases 10000
      gradcheck sweep --cases 1000 --layers 2,32,32,1 --activation tanh --oracle richardson
    """
    from gradcheck import sweep as sweeping
    from gradcheck.compare import resolve_tolerance
    from gradcheck.spec import NetSpec, parse_layers

    spec = NetSpec(parse_layers(layers), activation, loss, dtype)
    settings = sweeping.SweepSettings(
        spec, cases, seed, batch_size, resolve_tolerance(dtype, atol, rtol), oracle
    )
    sweeping.validate(spec, cases, seed, batch_size)
    load_torch_side()
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(console=make_console(no_color, stderr=True), transient=True) as bar:
            task = bar.add_task("checking cases", total=cases)
            report = sweeping.run_sweep(
                settings, progress=lambda done: bar.update(task, completed=done)
            )
    else:
        report = sweeping.run_sweep(settings)
    from gradcheck import render_sweep

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

    import gradcheck.reference  # noqa: F401  (imports torch)

    gc.freeze()


def emit(report: Report, *, as_json: bool, arrays: bool, no_color: bool) -> None:
    """Write the finished result to stdout in one go."""
    from gradcheck import render

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
