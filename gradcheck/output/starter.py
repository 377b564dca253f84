"""``gradcheck init``: the text of a commented starting file for the user's own backward pass.

Everything the file says comes from the ``NetSpec`` (layers, activation, loss) and the
``Request`` (the options that reproduce the check), so a new network option extends it by
extending ``layer_activations``/``check_command``, not by editing the template. All template
text lives in this module. Pure: returns a string, writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

from gradcheck.checks.problem import Request
from gradcheck.core.functions import ACTIVATIONS, Activation
from gradcheck.core.spec import NetSpec, l2_option

#: The function name the file defines and ``--impl FILE.py:backward`` calls.
FUNCTION = "backward"

#: Input rows used in the check command when none were given.
SEED_X_ROW = (0.974, 0.312)


def layer_activations(spec: NetSpec) -> list[Activation | None]:
    """Per layer 1…L, the activation applied after it (``None``: linear, the output layer).

    The one place that says which layer has which activation: per-layer or output
    activations extend this list.
    """
    depth = spec.depth
    return [spec.activation_at(layer) if layer < depth else None for layer in range(1, depth + 1)]


def _function(act: Activation) -> str:
    """How the generated file gets ``act``: its record, with torch's parameter if not default."""
    default = ACTIVATIONS[act.name].value
    if act.family is not None and act.value is not None and act.value != default:
        return f'ACTIVATIONS["{act.name}"].family({act.value!r}).f'
    return f'ACTIVATIONS["{act.name}"].f'


def _x_row(n_in: int) -> tuple[float, ...]:
    if n_in == len(SEED_X_ROW):
        return SEED_X_ROW
    return tuple(round(0.5 * (-1) ** i / (1 + i % 3), 3) for i in range(n_in))


def _number(value: float) -> str:
    return f"{value:g}"


def check_command(path: str, request: Request, spec: NetSpec) -> str:
    """The ``gradcheck run`` command that checks the file with the options it was made for.

    Every ``Request`` field that differs from its default becomes its option (``layers`` →
    ``--layers``), so options added to ``Request`` are carried over without a change here.
    """
    words = ["gradcheck", "run", "--impl", f"{path}:{FUNCTION}"]
    if request.data is None:
        rows = request.x if request.x is not None else [_x_row(spec.n_in)]
        for row in _as_rows(rows):
            words += ["--x", *map(_number, row)]
        if request.target is not None:
            for row in _as_rows(request.target):
                words += ["--target", *map(_number, row)]
    defaults = Request()
    for f in fields(Request):
        if f.name in ("x", "target"):
            continue
        value, default = getattr(request, f.name), getattr(defaults, f.name)
        if value is None or value == default:
            continue
        if f.name == "l2":
            value = l2_option(value)
            if value is None:
                continue
        if isinstance(value, (list, tuple)):
            if default is not None and tuple(value) == tuple(default):
                continue
            value = ",".join(map(str, value))
        words += [f"--{f.name.replace('_', '-')}", _shell_word(str(value))]
    return " ".join(words)


def _as_rows(rows: Sequence[float] | Sequence[Sequence[float]]) -> list[Sequence[float]]:
    items = list(rows)
    if items and not isinstance(items[0], (list, tuple)):
        return [[float(v) for v in items]]  # type: ignore[arg-type]
    return [row for row in items if isinstance(row, (list, tuple))]


def _shell_word(word: str) -> str:
    import shlex

    return shlex.quote(word)


def _shape(*dims: str | int) -> str:
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


def starter_file(path: str, request: Request, spec: NetSpec) -> str:
    """The whole starting file: contract, forward pass, TODOs for each δ and gradient."""
    depth, sizes = spec.depth, spec.layers
    acts = layer_activations(spec)
    in_out = request.layout == "in_out"
    # --batch-axis last: examples are columns, x (n_in, batch), b (n, 1), as W·x + b code has it
    columns = request.batch_axis == "last"
    head = spec.output_record
    linear = spec.linear_output
    reduce = "mean" if spec.reduction == "mean" else "sum"
    scale = "" if spec.loss_scale == 1 else f"{spec.loss_scale:g}·"
    penalty = f" + {spec.l2:g}·Σ_l ΣW_l²" if spec.l2 else ""
    if spec.l2_parameters:
        penalty = "".join(f" + {lam:g}·Σ{name}²" for name, lam in spec.l2_terms)
    loss = spec.loss_record
    classes = loss.takes_classes
    y_shape = "(batch,) int64 class indices" if classes else f"(batch, {sizes[-1]})"
    if columns:
        y_shape = "(1, batch) int64 class indices" if classes else f"({sizes[-1]}, batch)"
    forward_doc = []
    for layer in range(1, spec.depth + 1):
        act = acts[layer - 1]
        a_prev = "x" if layer == 1 else f"a{layer - 1}"
        line = f"    z{layer} = {a_prev}·W{layer}ᵀ + b{layer}"
        if columns:
            line = f"    z{layer} = W{layer}{'ᵀ' if in_out else ''}·{a_prev} + b{layer}"
        if act:
            line += f",  a{layer} = {act.symbol}(z{layer})"
        else:
            line += " = ŷ  (linear)" if linear else f",  ŷ = {head.symbol}(z{layer})"
        forward_doc.append(line)
    used = {a.label: a for a in acts if a is not None}
    formulas = [f"    {a.formula}" for a in used.values()]
    if not linear:
        formulas.append(f"    {head.formula}")
    command = check_command(path, request, spec)
    out = [
        f'"""My backward pass for the {spec.describe()} network ({spec.dtype}).',
        "",
        "Made by `gradcheck init`. Fill in every todo(...) below with your own derivation,",
        "then check it (exit 0 when every gradient is within tolerance):",
        "",
        f"    {command}",
        "",
        "Until every todo(...) is filled in, the check stops at the first one (exit 2).",
        "Stuck on a step? `gradcheck explain` with the same options walks the derivation.",
        "",
        f"The network ({'columns' if columns else 'rows'} are samples; "
        + ("W is (in, out), --layout in_out):" if in_out else "W is (out, in), as torch has it):"),
        "",
        *forward_doc,
        f"    L = {scale}{loss.formula.removeprefix('L = ')}{penalty}  ({loss.name}, {reduce} "
        + ("reduction: the sum is the mean times its count)" if reduce == "sum" else "reduction)"),
        "",
        *(["where", "", *formulas, ""] if formulas else []),
        f"The contract: {FUNCTION}(params, x, y) -> dict",
        "",
        "    params  float64 copies of "
        + ", ".join(f"W{k}, b{k}" for k in range(1, spec.depth + 1))
        + ("; W{l} is (n_{l-1}, n_l)" if in_out else "; W{l} is (n_l, n_{l-1})")
        + (", b{l} is (n_l, 1)" if columns else ", b{l} is (n_l,)"),
        f"    x       ({sizes[0]}, batch) float64"
        if columns
        else f"    x       (batch, {sizes[0]}) float64",
        f"    y       {y_shape}",
        "",
        "    returns dL/dW1, dL/db1, … under the keys W1, b1, … (same shapes as params),",
        "    and optionally delta1 … deltaL (δl = ∂L/∂zl, "
        + ("(n_l, batch)" if columns else "(batch, n_l)")
        + "), prediction and loss:",
        "    whatever is returned is compared with torch autograd.",
        '"""',
        "",
        "import numpy as np",
        "",
        "from gradcheck.core.functions import ACTIVATIONS, LOSSES, OUTPUT_ACTIVATIONS",
        "",
        "# The forward pass uses gradcheck's own functions (the same as torch's); write your own",
        "# if you like: the prediction and loss you return are compared too.",
    ]
    for label, act in used.items():
        out.append(f"{_py(label)} = {_function(act)}")
    if not linear:
        out.append(f'output_activation = OUTPUT_ACTIVATIONS["{head.name}"].f')
    count = "1"
    if reduce == "sum":
        count = "len(y)" if loss.mean_over == "batch" else "np.size(prediction)"
        if columns and loss.mean_over == "batch":
            count = "y.shape[-1]"
    rows = "prediction"
    targets = "y"
    if columns:  # gradcheck's functions take rows
        rows, targets = "prediction.T", "y.ravel()" if classes else "y.T"
    l2_term = ""
    if spec.l2_parameters:
        l2_term = "".join(f' + {lam!r} * np.sum(p["{name}"] ** 2)' for name, lam in spec.l2_terms)
    elif spec.l2:
        l2_term = f" + {spec.l2!r} * sum(np.sum(p[k] ** 2) for k in p if k.startswith('W'))"
    out += [
        "",
        "",
        "def loss_value(prediction, y, p):",
        f'    mean = LOSSES["{loss.name}"].f({rows}, {targets})[0]',
        f"    return {spec.loss_scale!r} * {count} * mean{l2_term}",
        "",
        "",
        "def todo(what):",
        '    raise NotImplementedError(f"TODO: {what}")',
        "",
        "",
        f"def {FUNCTION}(params, x, y):",
    ]
    for layer in range(1, spec.depth + 1):
        out.append(f'    W{layer}, b{layer} = params["W{layer}"], params["b{layer}"]')
    out += ["", "    # Forward pass, keeping every z and a for the backward pass."]
    for layer in range(1, spec.depth + 1):
        a_prev = "x" if layer == 1 else f"a{layer - 1}"
        weight = f"W{layer}" if in_out else f"W{layer}.T"
        if columns:
            weight = f"W{layer}.T" if in_out else f"W{layer}"
            out.append(f"    z{layer} = {weight} @ {a_prev} + b{layer}  # ({sizes[layer]}, batch)")
        else:
            out.append(f"    z{layer} = {a_prev} @ {weight} + b{layer}  # (batch, {sizes[layer]})")
        act = acts[layer - 1]
        if act is not None:
            out.append(f"    a{layer} = {_py(act.label)}(z{layer})")
    out += [
        f"    prediction = z{depth}  # the output layer is linear: ŷ = z{depth}"
        if linear
        else f"    prediction = output_activation(z{depth}.T).T  # ŷ = {head.symbol}(z{depth})"
        if columns
        else f"    prediction = output_activation(z{depth})  # ŷ = {head.symbol}(z{depth})",
        "    loss = loss_value(prediction, y, params)",
        "",
        "    # Backward pass: from the loss down to layer 1. Replace each todo(...) with your own",
        "    # expression; the comment says what it is and its shape.",
    ]
    for layer in range(depth, 0, -1):
        n, n_prev = sizes[layer], sizes[layer - 1]
        a_prev = "x" if layer == 1 else f"a{layer - 1}"
        if layer == depth:
            what = (
                f"δ{layer} = ∂L/∂z{layer} = ∂L/∂ŷ for L = {loss.formula.removeprefix('L = ')}"
                if linear
                else f"δ{layer} = ∂L/∂z{layer}: ∂L/∂ŷ back through ŷ = {head.symbol}(z{layer})"
            )
        else:
            act = acts[layer - 1]
            through = f"W{layer + 1} and {act.symbol}′(z{layer})" if act else f"W{layer + 1}"
            what = f"δ{layer} = ∂L/∂z{layer}, from δ{layer + 1} through {through}"
        todos = {
            f"delta{layer}": f"{what}, shape "
            + (_shape(n, "batch") if columns else _shape("batch", n)),
            f"dW{layer}": f"∂L/∂W{layer} from δ{layer} and {a_prev}"
            + _decay(spec, f"W{layer}")
            + f", shape {_shape(n_prev, n) if in_out else _shape(n, n_prev)}",
            f"db{layer}": f"∂L/∂b{layer} from δ{layer}"
            + _decay(spec, f"b{layer}")
            + f", shape {_shape(n, 1) if columns else _shape(n)}",
        }
        out += [f"    {name} = todo({message!r})" for name, message in todos.items()] + [""]
    out += ["    return {"]
    for layer in range(1, spec.depth + 1):
        out.append(f'        "W{layer}": dW{layer},')
        out.append(f'        "b{layer}": db{layer},')
    out.append("        # Optional, compared too: every δ and the forward values.")
    for layer in range(1, spec.depth + 1):
        out.append(f'        "delta{layer}": delta{layer},')
    out += ['        "prediction": prediction,', '        "loss": loss,', "    }", ""]
    return "\n".join(out)


def _decay(spec: NetSpec, name: str) -> str:
    """The L2 term's share of a gradient, for its todo: `` (+ the L2 term's 2·λ·W1)``."""
    lam = spec.l2_of(name)
    return f" (+ the L2 term's 2·{lam:g}·{name})" if lam else ""


def _py(name: str) -> str:
    """A Python identifier for an activation label (``name(0.2)`` → ``name_0_2_``)."""
    return "".join(ch if ch.isalnum() else "_" for ch in name)
