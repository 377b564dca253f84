"""Options shared by the commands, declared once: what network, which batch, which weights."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import (
    ACTIVATIONS,
    BATCH_AXES,
    DEFAULT_ACTIVATION,
    DEFAULT_LOSS,
    DEFAULT_OUTPUT_ACTIVATION,
    LAYOUTS,
    LOSSES,
    OUTPUT_ACTIVATIONS,
    REDUCTIONS,
)
from gradcheck.core.oracle_methods import DIRECTIONAL, FULL_METHODS
from gradcheck.core.spec import DTYPES, ORACLE_METHODS

F = TypeVar("F", bound=Callable[..., Any])


def option_group(*options: Callable[[Any], Any]) -> Callable[[F], F]:
    """Several click options as one decorator, listed in the order ``--help`` shows them."""

    def apply(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


def choice_option(
    name: str, choices: tuple[str, ...], default: str, help: str, envvar: str | None = None
) -> Callable[[F], F]:
    """An option taking one of ``choices``, its default shown in ``--help``."""
    return click.option(
        name,
        type=click.Choice(choices),
        default=default,
        show_default=True,
        envvar=envvar,
        show_envvar=envvar is not None,
        help=help,
    )


network_options = option_group(
    click.option(
        "--layers",
        default=None,
        metavar="N0,N1,…,NL",
        help="Layer sizes, inputs first. Default: the seed's 2,10,10,1, or what --model or a "
        "--weights state_dict holds (checked against it when given).",
    ),
    click.option(
        "--activation",
        default=None,
        metavar="NAME[,NAME…]",
        help=f"Hidden-layer activation: one for every hidden layer, or one per hidden layer "
        f"(comma-separated). Choose from {', '.join(ACTIVATIONS)}. Default: {DEFAULT_ACTIVATION} "
        "(the seed's), or the model's.",
    ),
    click.option(
        "--output-activation",
        type=click.Choice(tuple(OUTPUT_ACTIVATIONS)),
        default=None,
        help="Applied after the last Linear layer. Default: "
        f"{DEFAULT_OUTPUT_ACTIVATION} (linear, the seed's), or the model's.",
    ),
    choice_option(
        "--loss",
        tuple(LOSSES),
        DEFAULT_LOSS,
        "Loss on the output ŷ. cross_entropy (logits) and nll (after log_softmax) take class "
        "indices as targets; bce_logits (on logits) and bce (on probabilities) take targets "
        "in [0, 1]. A loss that does not fit the output activation is "
        "refused.",
    ),
    choice_option(
        "--reduction",
        REDUCTIONS,
        "mean",
        "mean (torch's default: over batch × units, or over the batch for class losses) or sum.",
    ),
    click.option(
        "--loss-scale",
        type=float,
        default=1.0,
        show_default=True,
        metavar="C",
        help="Multiply the loss by C (0.5 for ½·Σ(ŷ − y)²).",
    ),
    click.option(
        "--l2",
        default="0",
        show_default=True,
        metavar="LAMBDA|NAME=LAMBDA,…",
        help="Add an L2 term to the loss, on both sides. LAMBDA: LAMBDA·Σ_l ΣW_l² over every "
        "weight matrix (biases excluded). NAME=LAMBDA,… (e.g. W1=5e-4,b1=5e-4): λ·Σp² per "
        "parameter, biases allowed, by hand name (W1, b1, …) or the network's torch name; "
        "parameters not named get none.",
    ),
    choice_option(
        "--dtype",
        DTYPES,
        "float64",
        "Precision of both sides. float64 is the sharp check; float32 is the seed's setting.",
        envvar="GRADCHECK_DTYPE",
    ),
)

input_options = option_group(
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
        help="Read the batch from a CSV (first N0 columns inputs, the rest targets; an optional "
        "header line has no numbers; a trailing comma is ignored) or an .npz with arrays x and "
        "y. '-' reads standard input (for one of --data, --weights, --grads); pipes such as "
        "<(…) work.",
    ),
)

weight_options = option_group(
    click.option(
        "--seed",
        type=click.IntRange(0, 2**63 - 1),
        default=0,
        show_default=True,
        envvar="GRADCHECK_SEED",
        show_envvar=True,
        help="torch.manual_seed before torch's default initialisation of the weights.",
    ),
    click.option(
        "--weights",
        metavar="FILE",
        help="Load weights instead: a .pt state_dict (torch.save(model.state_dict())), read "
        "with torch's weights-only loader, or an .npz with the same keys (or W1, b1, …). '-' "
        "reads standard input.",
    ),
)


model_options = option_group(
    click.option(
        "--model",
        metavar="FILE.py:NAME",
        help="Your own network: an nn.Module subclass (built with no arguments right after "
        "torch.manual_seed(--seed)) or a zero-argument function returning one. Traced with "
        "torch.fx into Linear → activation → … → Linear → output activation (a bare "
        "nn.Linear too); autograd runs your module itself, parameters are named by its own "
        "names (fc1.weight), and --weights takes its state_dict. Frozen parameters are "
        "checked; a model on another device is checked on a CPU copy.",
    ),
    choice_option(
        "--layout",
        LAYOUTS,
        "out_in",
        "How your code stores W: out_in (torch's (out, in)) or in_out ((in, out), for "
        "X·W + b code). With in_out, --impl receives and returns W as (in, out), --grads files "
        "and .npz weights keyed W1, … are read that way. Bias gradients may be (n,), (n, 1) "
        "or (1, n).",
    ),
    choice_option(
        "--batch-axis",
        BATCH_AXES,
        "first",
        "Where your code keeps the examples of a batch: first (rows: x is (batch, n_in), "
        "torch's) or last (columns, as in W·X + b course code: --impl receives x as (n_in, "
        "batch), y as (n_out, batch), class indices as (1, batch), each bias as (n, 1), and "
        "returns δ, dA and the prediction as (n, batch); --grads files and .npz --data "
        "arrays are read that way; a CSV line stays one example).",
    ),
)


def _check_env_tolerance(
    ctx: click.Context, param: click.Parameter, value: float | None
) -> float | None:
    """A tolerance from the environment is validated here, so the error names the variable."""
    from click.core import ParameterSource

    if (
        value is not None
        and ctx.get_parameter_source(param.name or "") is ParameterSource.ENVIRONMENT
    ):
        envvar = param.envvar if isinstance(param.envvar, str) else str(param.envvar)
        if not math.isfinite(value) or value < 0:
            raise GradcheckError(
                f"{envvar} (for --{param.name}): must be a finite number ≥ 0, got {value:g}"
            )
    return value


def _tolerance_option(part: str, defaults: str) -> Callable[[F], F]:
    return click.option(
        f"--{part}",
        type=float,
        default=None,
        envvar=f"GRADCHECK_{part.upper()}",
        show_envvar=True,
        callback=_check_env_tolerance,
        help=f"{'Absolute' if part == 'atol' else 'Relative'} tolerance, on top of each "
        f"element's rounding bound (4E). Default per dtype: {defaults}.",
    )


# Kept in step with core.tolerance.DEFAULT_TOLERANCES by tests/cli/test_help.py (importing it
# here would load numpy for --help).
tolerance_options = option_group(
    _tolerance_option("atol", "0 (float64), 0 (float32)"),
    _tolerance_option("rtol", "1e-7 (float64), 1.3e-6 (float32)"),
)


def json_option(help: str) -> Callable[[F], F]:
    """``--json``: exactly one JSON document on stdout."""
    return click.option("--json", "as_json", is_flag=True, help=help)


no_color_option = click.option(
    "--no-color",
    is_flag=True,
    help="No colour or styles (the NO_COLOR environment variable does the same).",
)

output_options = option_group(
    json_option("Print exactly one JSON document on stdout instead of the table."),
    click.option(
        "--no-arrays",
        is_flag=True,
        help="With --json, leave out the full gradient arrays (errors and indices stay).",
    ),
    no_color_option,
)


def oracle_option(help: str) -> Callable[[F], F]:
    """``--oracle METHOD``: the numerical oracle as a third opinion."""
    return click.option("--oracle", type=click.Choice(ORACLE_METHODS), default=None, help=help)


def oracle_limit_options(f: F) -> F:
    """``--oracle-sample K`` and ``--oracle-budget SECONDS`` (``run``)."""
    f = click.option(
        "--oracle-budget",
        type=float,
        default=60.0,
        show_default=True,
        metavar="SECONDS",
        help="Refuse (exit 2), before it starts, an oracle estimated to take longer, and say "
        f"which --oracle-sample or --oracle {DIRECTIONAL} would fit. The estimate comes from "
        "the network's size and a short timed sample of the oracle's work. 0: no limit.",
    )(f)
    return click.option(
        "--oracle-sample",
        type=int,
        default=None,
        metavar="K",
        help=f"With a full --oracle ({', '.join(FULL_METHODS)}): check K elements per "
        "parameter instead of all of them: always its largest-|gradient| element and its "
        "worst hand-vs-autograd element, the rest uniform (seeded by --seed). Same rules; the "
        "indices are in the JSON document. For big networks: cost grows with K, not size.",
    )(f)


IMPL_HELP = (
    "Check your own backward instead of the built-in one: FUNC(params, x, y) -> dict of "
    "gradients. params: float64 copies of W1, b1, … (W is (out, in); (in, out) with --layout "
    "in_out); x: (batch, n_in); y: (batch, n_out), or (batch,) int64 classes for a loss over "
    "classes (transposed with --batch-axis last). Return dL/dW1, dL/db1, … of the loss in "
    "force (its reduction, scale and L2 term), keyed W1, … (or dW1, db1, …, or the network's "
    "torch names), same shapes (a bias may be (n,), (n, 1) or (1, n)); optionally delta1 … "
    "deltaL (or dZ1 …: (batch, n_l), ∂L/∂z_l), dA0 … dAL (∂L/∂a_l, a0 = x, aL = ŷ), "
    "prediction, loss, compared too. "
    "This RUNS the file's Python code with your rights: use only code you trust."
)

candidate_options = option_group(
    click.option("--impl", metavar="FILE.py:FUNC", help=IMPL_HELP),
    click.option(
        "--grads",
        metavar="FILE",
        help='Check precomputed gradients instead: an .npz or .json {"W1": [[…]], …} '
        "with the keys and shapes --impl returns (W1, …, dW1, …, dense.0.weight, …; --layout "
        "and --batch-axis apply), computed for the same weights (--seed/--weights) and "
        "batch. '-' reads standard input.",
    ),
    click.option(
        "--probes",
        type=int,
        default=2,
        show_default=True,
        metavar="N",
        help="With --impl, also check your backward on N seeded probe batches of 2, 3, … "
        "rows drawn around --x/--target (same network and weights), so that a sum-instead-of-"
        "mean or other batch-reduction bug cannot hide behind one row; a failing probe fails "
        "the check and prints the command that reproduces it. 0 turns probes off. Not "
        "possible with --grads (one batch).",
    ),
)

detail_options = option_group(
    click.option(
        "--detail",
        is_flag=True,
        help="After the table, a heat map per parameter of |Δ| / (atol + rtol·|autograd|), "
        "element by element, worst element marked (large ones: a window around the worst "
        "and an overview of block maxima; over 12 parameters: one summary line each and "
        "6 maps, failing first).",
    ),
    click.option(
        "--plot",
        metavar="FILE.png",
        help="Write the same heat maps as a PNG figure, one panel per parameter, large "
        "ones as block maxima (over 12 parameters: a summary panel and 6 panels, failing "
        "first; at most 2400×2400 px; needs matplotlib: pip install 'gradcheck[plot]').",
    ),
)

quiet_option = click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="Print nothing on stdout; the exit code is the result (report files asked for "
    "are still written, errors still go to stderr).",
)

report_file_options = option_group(
    click.option(
        "--junit",
        metavar="FILE.xml",
        help="Also write a JUnit XML report: one testcase per forward value, parameter and δ, "
        "failures with their numbers.",
    ),
    quiet_option,
)


#: What run, explain and init share: the batch, the network, its weights and the tolerance.
check_options = option_group(
    input_options, network_options, model_options, weight_options, tolerance_options
)
