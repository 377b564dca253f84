"""The commands: parse, build a request, delegate to the checks, print, exit.

torch is imported only inside commands, so ``gradcheck --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from gradcheck import __version__
from gradcheck.cli.console import (
    check_one_stdin,
    check_output_flags,
    check_report_files,
    emit,
    emit_detail,
    load_torch_side,
    make_console,
    oracle_progress,
    print_out,
    write_pieces,
    write_report_files,
)
from gradcheck.cli.guard import GradcheckGroup, VectorCommand, join_vector_options, one_line
from gradcheck.cli.options import (
    IMPL_HELP,
    candidate_options,
    check_options,
    detail_options,
    json_option,
    network_options,
    no_color_option,
    oracle_limit_options,
    oracle_option,
    output_options,
    quiet_option,
    report_file_options,
    tolerance_options,
)
from gradcheck.core import oracle_methods
from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import DTYPES

if TYPE_CHECKING:  # importing it at run time would load numpy at --help time
    from gradcheck.checks.problem import Request

__all__ = ["cli", "join_vector_options", "main"]


def request_from(options: dict[str, Any]) -> Request:
    """The ``Request`` that the shared options (input, network, weights, tolerance) describe."""
    from dataclasses import fields

    from gradcheck.checks import arguments
    from gradcheck.checks.problem import Request
    from gradcheck.io.inputs import parse_floats

    x = [parse_floats(row, "--x") for row in options.pop("x_rows", ())]
    target = [parse_floats(row, "--target") for row in options.pop("target_rows", ())]
    given = {f.name: options[f.name] for f in fields(Request) if f.name in options}
    given.update(x=x or None, target=target or None)
    return Request(**arguments.validate(given))  # the API's keywords go through these rules


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
@check_options
@output_options
@oracle_option(
    "Add a third, independent opinion: the loss gradient from forward passes alone in "
    f"float64 by {oracle_methods.help_text()}, compared with both sides."
)
@oracle_limit_options
@candidate_options
@detail_options
@report_file_options
def run(
    *,
    as_json: bool,
    no_arrays: bool,
    no_color: bool,
    impl: str | None,
    grads: str | None,
    detail: bool = False,
    plot: str | None = None,
    junit: str | None = None,
    quiet: bool = False,
    **options: Any,
) -> int:
    """Compare autograd with the hand-derived backward pass, parameter by parameter.

    Builds the seed's torch Model (or any --layers), copies the same weights into a NumPy
    replica whose backward pass is derived by hand (δL … δ1), and compares prediction, loss,
    every parameter gradient and every δ under |hand − autograd| ≤ atol + rtol·|autograd|.

    With --impl FILE.py:FUNC (or --grads FILE) your own backward is checked instead of the
    built-in replica, and a failing check says where the bug most likely is (diagnosis).
    Your --impl is also run on seeded probe batches of 2 and 3 rows drawn around the given
    ones (--probes), so that a sum-instead-of-mean bug cannot hide behind a single row.

    \b
    Example:
      gradcheck run --x 0.974 0.312
      gradcheck run --x 0.974 0.312 --target 0.5 --dtype float32 --json
      gradcheck run --x 0.974 0.312 --impl samples/backward_seed.py:backward
      gradcheck run --x 0.974 0.312 --detail --plot errors.png --junit report.xml
      gradcheck run --x 0.974 0.312 --oracle richardson
      gradcheck run --layers 784,512,512,10 --data mnist64.csv --loss cross_entropy \\
          --oracle central --oracle-sample 20
      gradcheck run --model net.py:Net --x 0.1 0.2 --impl mine.py:backward
      gradcheck run --x 0.974 0.312 --reduction sum --loss-scale 0.5 --impl mine.py:backward
    """
    from gradcheck.checks.pipeline import run_check
    from gradcheck.io import guest

    check_output_flags(as_json=as_json, quiet=quiet, detail=detail)
    check_one_stdin({"--data": options["data"], "--weights": options["weights"], "--grads": grads})
    check_report_files(junit=junit, plot=plot)
    request = request_from(options)
    load_torch_side()
    # The progress bar lives inside the hosting span: it takes stdout over while it shows,
    # and must give back the stdout the span set, not the other way round.
    with guest.hosting(), oracle_progress() as progress:
        report = run_check(request, impl=impl, grads=grads, progress=progress)
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
    default=None,
    help="Input rows per case [default: 1; 3 with --impl, so that a sum-instead-of-mean or "
    "other batch-reduction bug cannot hide behind a single row].",
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
    batch_size: int | None,
    layers: str | None,
    activation: str | None,
    output_activation: str | None,
    loss: str,
    reduction: str,
    loss_scale: float,
    l2: str,
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
    from gradcheck.core.functions import DEFAULT_ACTIVATION, DEFAULT_OUTPUT_ACTIVATION
    from gradcheck.core.spec import SEED_LAYERS, NetSpec, l2_fields, parse_layers
    from gradcheck.core.tolerance import resolve_tolerance
    from gradcheck.io import guest

    check_output_flags(as_json=as_json, quiet=quiet)
    if batch_size is None:
        batch_size = sweeping.IMPL_BATCH_SIZE if impl is not None else 1
    spec = NetSpec(
        parse_layers(layers) if layers is not None else SEED_LAYERS,
        activation or DEFAULT_ACTIVATION,
        loss,
        dtype,
        output_activation or DEFAULT_OUTPUT_ACTIVATION,
        reduction,
        loss_scale,
        **l2_fields(l2),
    )
    settings = sweeping.SweepSettings(
        spec, cases, seed, batch_size, resolve_tolerance(dtype, atol, rtol), oracle
    )
    sweeping.validate(spec, cases, seed, batch_size)
    hand = None
    load_torch_side()
    with guest.hosting() as notices:  # --impl runs as a guest (io/guest.py)
        if impl is not None:
            from dataclasses import replace

            from gradcheck.io.usercode import load_backward

            hand = sweeping.user_hand(load_backward(impl), impl)
            settings = replace(settings, candidate=f"impl:{impl}")
        if sys.stderr.isatty():
            from rich.progress import Progress

            with Progress(console=make_console(no_color, stderr=True), transient=True) as bar:
                task = bar.add_task("checking cases", total=cases)
                report = sweeping.run_sweep(
                    settings, hand=hand, progress=lambda done: bar.update(task, completed=done)
                )
        else:
            report = sweeping.run_sweep(settings, hand=hand)
    warn(notices)
    if quiet:
        return report.exit_code
    if as_json:
        from gradcheck.output.documents import sweep_to_json

        click.echo(sweep_to_json(report))
    else:
        from gradcheck.output import sweep as render_sweep

        print_out(
            [(render_sweep.render_report(report), False), (render_sweep.rerun_line(report), True)],
            no_color,
        )
    return report.exit_code


@cli.command(cls=VectorCommand)
@check_options
@json_option("Print the steps as one JSON document instead.")
@no_color_option
@quiet_option
def explain(*, as_json: bool, no_color: bool, quiet: bool, **options: Any) -> int:
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
    from gradcheck.checks.explain import explain_request

    check_output_flags(as_json=as_json, quiet=quiet)
    check_one_stdin({"--data": options["data"], "--weights": options["weights"]})
    explanation = explain_request(request_from(options))
    if quiet:
        return explanation.exit_code
    if as_json:
        from gradcheck.output.documents import iter_explain_json

        write_pieces(iter_explain_json(explanation))
    else:
        from gradcheck.output.explain import render_explanation

        print_out([(render_explanation(explanation), False)], no_color)
    return explanation.exit_code


@cli.command(cls=VectorCommand)
@click.argument("file", metavar="FILE.py")
@check_options
def init(*, file: str, **options: Any) -> None:
    """Write FILE.py: a commented starting file for your own backward pass.

    For the network the options describe (the same as run's): the contract, the forward
    pass, a todo(...) where each δ and gradient goes, and the command that checks it. Until
    every todo is filled in, that check stops at the first one (exit 2). An existing file is
    never overwritten.

    \b
    Example:
      gradcheck init my_backward.py
      gradcheck init my_backward.py --layers 2,4,3 --activation tanh --loss cross_entropy
      gradcheck run --impl my_backward.py:backward --x 0.974 0.312
    """
    from pathlib import Path

    from gradcheck.checks.problem import network_of, resolve_batch
    from gradcheck.core.errors import GradcheckError
    from gradcheck.io import guest
    from gradcheck.output.starter import check_command, starter_file

    request = request_from(options)
    with guest.hosting() as notices:  # a --model runs as a guest (io/guest.py)
        spec = network_of(request).spec
    warn(notices)
    if request.x is not None or request.data is not None:
        resolve_batch(spec, request.x, request.target, request.data)
    path = Path(file)
    if path.suffix != ".py":
        raise GradcheckError(f"init: {file}: expected a .py file name (--impl imports it)")
    text = starter_file(file, request, spec)
    try:
        with path.open("x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        raise GradcheckError(
            f"init: {file} already exists; not overwriting it (choose another name)"
        ) from None
    except OSError as exc:
        raise GradcheckError(f"init: {file}: cannot write it ({exc.strerror})") from None
    click.echo(f"wrote {file} ({spec.describe()}): fill in each todo(...), then check it with:")
    click.echo(f"  {check_command(file, request, spec)}")


class LayerCommand(click.Command):
    """``gradcheck layer``: its help ends with the catalogue, read from the records."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from gradcheck.core.layers.catalogue import CATALOGUE, CUSTOM

        with formatter.section("Kinds (docs/layers.md has each one's contract)"):
            rows = [(name, kind.title) for name, kind in CATALOGUE.items()]
            rows.append((CUSTOM, "your own layer: --shape per input, judged by the oracle alone"))
            formatter.write_dl(rows)


@cli.command(cls=LayerCommand)
@click.argument("kind", metavar="KIND")
@click.option(
    "--impl",
    metavar="FILE.py:FORWARD,BACKWARD",
    help="Your layer: its forward and backward functions as a course writes them "
    "(forward(*arrays, [param_dict]) -> (out, cache), backward(dout, cache) -> the gradients "
    "in the arrays' order); a loss kind takes one function returning (loss, dx): "
    "FILE.py:LOSS. This RUNS the file's Python code with your rights: use only code you trust.",
)
@click.option(
    "--shape",
    "shape_texts",
    multiple=True,
    metavar="NAME=AxBx…",
    help="The shape of one of the forward's arrays (e.g. --shape x=4x3x32x32 --shape "
    "w=8x3x3x3); the other dims follow from it or keep the kind's defaults. For custom, one "
    "per input, in the order the forward takes them.",
)
@click.option(
    "--param",
    "param_texts",
    multiple=True,
    metavar="NAME=VALUE",
    help="A hyperparameter (e.g. --param stride=2 --param pad=1): it goes into the course's "
    "dict (conv_param, pool_param, bn_param, …) or, as groupnorm's G, is passed itself.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=0,
    show_default=True,
    help="Seed of the inputs and the upstream gradient dout (numpy.random.default_rng).",
)
@click.option(
    "--values",
    default="normal",
    show_default=True,
    metavar="normal|ties|wide",
    help="How the inputs are drawn: each argument's own distribution, small integers (exact "
    "ties, zeros, margins at 0), or ×20 (saturating).",
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default="float64",
    show_default=True,
    help="The dtype of the inputs handed to your code and of torch's reference.",
)
@tolerance_options
@click.option(
    "--oracle",
    type=click.Choice(oracle_methods.REAL_FULL_METHODS),
    default=None,
    help="Add a third opinion: every gradient from the reference forward alone by "
    f"{oracle_methods.either(oracle_methods.REAL_FULL_METHODS)} differences in float64, many "
    "elements perturbed per forward pass where their outputs do not meet. A custom layer "
    "is judged by this oracle alone (central by default).",
)
@click.option(
    "--probes",
    type=int,
    default=2,
    show_default=True,
    metavar="N",
    help="Also check your layer on N (0 to 2) other configurations of the kind's record: odd "
    "sizes, batch 1, stride 2 with padding, non-square kernels, ties; a failing one fails "
    "the check and prints the command that reruns it.",
)
@output_options
@click.option(
    "--detail",
    is_flag=True,
    help="After the table, a heat map per gradient of each element's error over what the "
    "verdict allows.",
)
@report_file_options
def layer(
    *,
    kind: str,
    impl: str | None,
    shape_texts: tuple[str, ...],
    param_texts: tuple[str, ...],
    seed: int,
    values: str,
    dtype: str,
    atol: float | None,
    rtol: float | None,
    oracle: str | None,
    probes: int,
    as_json: bool,
    no_arrays: bool,
    no_color: bool,
    detail: bool,
    junit: str | None,
    quiet: bool,
) -> int:
    """Check one layer you derived by hand: forward output and every gradient against torch.

    KIND is a layer a course asks you to derive (affine, conv, max_pool, batchnorm, dropout,
    softmax_loss, lstm_step, … listed below) or custom. Your forward and backward are called
    as the course calls them, on seeded inputs of the kind's default shapes (override with
    --shape and --param), in float64 (or --dtype float32); the forward's output is compared
    with torch's and every gradient your backward returns with autograd's, element by
    element, under the rounding bounds and kink intervals of `run`. Two more configurations
    of the kind's record are checked as probes, and a failure names the classic bug it
    matches.

    \b
    Example:
      gradcheck layer conv --impl samples/layers/layers.py:conv_forward_naive,conv_backward_naive
      gradcheck layer conv --impl layers.py:conv_forward_naive,conv_backward_naive \\
          --shape x=4x3x32x32 --shape w=8x3x3x3 --param stride=2 --param pad=1 --oracle central
      gradcheck layer softmax_loss --impl samples/layers/layers.py:softmax_loss --dtype float32
      gradcheck layer custom --impl mine.py:forward,backward --shape x=3x4 --shape w=4x5
    """
    from gradcheck.checks import arguments
    from gradcheck.checks.layer import LayerRequest, run_layer
    from gradcheck.core.layers.shapes import parse_param_text, parse_shape_text
    from gradcheck.io import guest

    check_output_flags(as_json=as_json, quiet=quiet, detail=detail)
    check_report_files(junit=junit, plot=None)
    shapes: dict[str, tuple[int, ...]] = {}
    for text in shape_texts:
        name, shape = parse_shape_text(text)
        if name in shapes:
            raise GradcheckError(f"--shape: {name} is given twice")
        shapes[name] = shape
    params: dict[str, str] = {}
    for text in param_texts:
        name, raw = parse_param_text(text)
        if name in params:
            raise GradcheckError(f"--param: {name} is given twice")
        params[name] = raw
    given = {
        "kind": kind,
        "impl": impl,
        "shapes": shapes,
        "params": params,
        "seed": seed,
        "dtype": dtype,
        "atol": atol,
        "rtol": rtol,
        "oracle": oracle,
        "probes": probes,
        "values": values,
    }
    request = LayerRequest(**arguments.validate(given, arguments.LAYER_RULES, "gradcheck layer"))
    load_torch_side()
    with guest.hosting():
        report = run_layer(request)
    if junit is not None:
        from gradcheck.io.atomic import write_atomic
        from gradcheck.output.junit import layer_to_junit

        write_atomic(junit, layer_to_junit(report), "--junit")
    if quiet:
        return report.exit_code
    if as_json:
        from gradcheck.output.documents import iter_layer_json

        write_pieces(iter_layer_json(report, arrays=not no_arrays))
    else:
        from gradcheck.output.layer import render_report

        print_out([(render_report(report), False)], no_color)
    if detail:
        from gradcheck.cli.console import console_width
        from gradcheck.output.detail import render_maps

        maps = render_maps(report.gradients, report.settings.tolerance, console_width(sys.stdout))
        print_out([(maps, False)], no_color)
    return report.exit_code


@cli.command()
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of every --json document: run, sweep, explain,
    layer."""
    from gradcheck.io.schema import schema_text

    click.echo(schema_text(), nl=False)


def warn(notices: list[str]) -> None:
    """Notices about the user's code, for a command whose result has no warnings (stderr)."""
    for message in notices:
        click.echo(f"warning: {one_line(message)}", err=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="gradcheck")
