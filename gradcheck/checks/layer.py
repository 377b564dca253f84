"""One layer check end to end: the kind's record, the user's forward and backward, torch, the
bounds, the comparisons, the probes, the oracle and the diagnosis → a ``LayerReport``.

The user's functions run as guests (``io/guest.py``), each called once per configuration: the
given one and the kind's probes (2 by default), so a forward and a backward are called three
times in all (a custom layer's forward also by its oracle, which has nothing else to run).
"""

from __future__ import annotations

import hashlib
import math
import shlex
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.checks.diagnose import Finding
from gradcheck.checks.health import Notice, nonfinite, zero_gradients
from gradcheck.checks.layer_diagnose import diagnose_layer, matches
from gradcheck.checks.layer_report import LayerProbe, LayerReport, LayerResult, LayerSettings
from gradcheck.checks.oracle import OracleCheck
from gradcheck.core.bounds import FUNCTION_ULPS, TensorBounds, inner
from gradcheck.core.compare import Comparison, compare
from gradcheck.core.errors import GradcheckError
from gradcheck.core.layers import numeric, shapes
from gradcheck.core.layers.bounds import layer_bounds
from gradcheck.core.layers.catalogue import CUSTOM, kind_named
from gradcheck.core.layers.custom import custom_kind
from gradcheck.core.layers.kind import Case, LayerKind
from gradcheck.core.oracle_methods import METHODS, REAL_FULL_METHODS, either
from gradcheck.core.spec import DTYPES
from gradcheck.core.tolerance import ROUNDING_SAFETY, Tolerance, resolve_tolerance
from gradcheck.io import layercode
from gradcheck.io.layercode import LayerCode

Array = NDArray[np.float64]

#: Probe configurations each kind's record holds; ``--probes`` takes 0 up to this.
MAX_PROBES = 2
#: How values may be drawn (``--values``): each argument's own distribution, small integers
#: (exact ties, zeros, margins at 0) or ×20 (saturating).
VALUE_STYLES = ("normal", "ties", "wide")
#: A custom layer's oracle calls its forward 4 times per input element: at most this many.
MAX_CUSTOM_CALLS = 40_000


@dataclass(frozen=True)
class LayerRequest:
    """A layer check as asked for, by the command line's options or the API's keywords."""

    kind: str
    impl: str | None = None
    forward: Callable[..., Any] | None = None
    backward: Callable[..., Any] | None = None
    shapes: Mapping[str, Sequence[int]] = field(default_factory=dict)
    params: Mapping[str, object] = field(default_factory=dict)
    seed: int = 0
    dtype: str = "float64"
    atol: float | None = None
    rtol: float | None = None
    oracle: str | None = None
    probes: int = MAX_PROBES
    values: str = "normal"


def run_layer(request: LayerRequest) -> LayerReport:
    """The check ``request`` asks for, in one hosting span (``io/guest.py``): whatever the
    user's code prints goes to stderr and what it changes is restored and reported."""
    from gradcheck.io import guest

    with guest.hosting() as notices:
        report = _run(request)
        if notices:
            found = tuple(Notice("user_code", message) for message in notices)
            report = replace(report, warnings=report.warnings + found)
        return report


def validate(request: LayerRequest) -> None:
    """The options every layer check shares."""
    if request.dtype not in DTYPES:
        raise GradcheckError(f"--dtype: unknown {request.dtype!r}; choose from {', '.join(DTYPES)}")
    if request.oracle is not None and request.oracle not in REAL_FULL_METHODS:
        raise GradcheckError(
            f"--oracle: a layer check takes {either(REAL_FULL_METHODS)}, got {request.oracle!r}"
        )
    if not 0 <= request.probes <= MAX_PROBES:
        raise GradcheckError(
            f"--probes: expected 0 to {MAX_PROBES} (each kind's record holds {MAX_PROBES}), "
            f"got {request.probes}"
        )
    if request.values not in VALUE_STYLES:
        raise GradcheckError(
            f"--values: expected one of {', '.join(VALUE_STYLES)}, got {request.values!r}"
        )
    if request.impl is not None and (request.forward is not None or request.backward is not None):
        raise GradcheckError("--impl: give either impl or forward/backward, not both")
    if request.impl is None and request.forward is None:
        raise GradcheckError(
            "--impl: missing; give your layer as --impl FILE.py:FORWARD,BACKWARD (a loss: "
            "FILE.py:LOSS)"
        )


def _style(values: str) -> str:
    return "" if values == "normal" else values


def _code(request: LayerRequest, count: int, kind_name: str) -> LayerCode:
    if request.impl is not None:
        return layercode.load(request.impl, count, kind_name)
    functions = [f for f in (request.forward, request.backward) if f is not None]
    for role, fn in (("forward", request.forward), ("backward", request.backward)):
        if fn is not None and not callable(fn):
            raise GradcheckError(f"--{role}: got a {type(fn).__name__}, not a function")
    if len(functions) != count:
        if count == 1:
            raise GradcheckError(
                f"--backward: {kind_name} is a loss: one function returns (loss, dx); give it "
                "as forward= alone"
            )
        raise GradcheckError(f"--backward: missing; {kind_name} needs forward= and backward=")
    return layercode.from_callables(functions)


def probe_seed(seed: int, index: int) -> int:
    """The seed a probe's values are drawn with (its command reruns it with ``--seed``)."""
    digest = hashlib.sha256(f"gradcheck layer probe {seed} {index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _run(request: LayerRequest) -> LayerReport:
    validate(request)
    if request.kind == CUSTOM:
        return _run_custom(request)
    kind = kind_named(request.kind)
    tol = resolve_tolerance(request.dtype, request.atol, request.rtol)
    dims, params = shapes.configuration(kind, request.shapes, request.params)
    code = _code(request, 1 if kind.loss else 2, kind.name)
    calls: Counter[str] = Counter()
    case = shapes.draw(kind, dims, params, request.dtype, request.seed, _style(request.values))
    outcome = _configuration(kind, code, case, tol, calls, signature=True)
    oracle = None
    evaluations = 0
    if request.oracle is not None:
        oracle, evaluations = _oracle(outcome, request.oracle)
    probes = []
    for index, setup in enumerate(kind.probes[: request.probes], start=1):
        probes.append(_probe(kind, code, request, tol, index, setup, params, calls))
    result = outcome.result
    if not result.passed:
        result = replace(result, diagnosis=outcome.diagnose(tol))
    elif any(not p.passed and p.result is not None for p in probes):
        shown = next(p for p in probes if not p.passed and p.result is not None)
        assert shown.result is not None
        prefix = f"{shown.name} ({shown.note}): "
        result = replace(
            result,
            diagnosis=tuple(replace(f, message=prefix + f.message) for f in shown.result.diagnosis),
        )
    settings = LayerSettings(
        kind=kind.name,
        title=kind.title,
        dtype=request.dtype,
        seed=request.seed,
        tolerance=tol,
        candidate=code.candidate,
        shapes={k: tuple(np.shape(v)) for k, v in case.inputs.items()},
        params=dict(params),
        param_dict=kind.param_dict,
        calls=_calls_text(kind),
        values=_style(request.values),
        oracle=request.oracle,
        probes=request.probes,
    )
    warnings = outcome.notices()
    if oracle is not None:
        warnings += tuple(Notice("oracle", m) for m in oracle.warnings)
    return LayerReport(
        settings,
        result,
        warnings,
        oracle,
        tuple(probes),
        dict(sorted(calls.items())),
        evaluations,
    )


def _calls_text(kind: LayerKind) -> tuple[str, ...]:
    forward = f"{kind.forward_signature} → {kind.returns}"
    if kind.backward_name is None:
        return (forward,)
    return (forward, f"{kind.backward_signature} → {kind.backward_returns}")


# ---------------------------------------------------------------------------------------------
# One configuration


@dataclass(frozen=True)
class _Outcome:
    """A configuration checked, with what the oracle and the diagnosis need."""

    case: Case  # with what the reference read from the user's forward
    result: LayerResult
    reference: dict[str, Array]  # torch's outputs and autograd's gradients, by course name
    hand: dict[str, Array]  # the user's, as returned (its own shapes)
    viewed: dict[str, Array]  # the user's gradients in their arguments' shapes, where possible
    bounds: dict[str, TensorBounds]

    def diagnose(self, tol: Tolerance) -> tuple[Finding, ...]:
        return diagnose_layer(
            self.case,
            self.result.comparisons,
            self.result.problems,
            self.hand,
            self.reference,
            self.bounds,
            tol,
        )

    def notices(self) -> tuple[Notice, ...]:
        found = zero_gradients({k: v for k, v in self.reference.items() if k.startswith("d")})
        found += nonfinite({k: v for k, v in self.reference.items()}, "torch")
        found += nonfinite({k: v for k, v in self.hand.items()}, "your code")
        found += [
            Notice(
                "tiny_gradient",
                f"{c.name}: every autograd value (largest {np.max(np.abs(c.reference)):.1e}) is "
                f"within its rounding allowance of 0 in {self.case.dtype}, so zeros would pass "
                "there too: the check says little about it (saturated units?); float64, or "
                "other --values, give it margin",
                subject=c.name,
            )
            for c in self.result.gradients
            if np.any(c.reference) and c.zeros_pass
        ]
        return tuple(found)


def forward_arguments(kind: LayerKind, case: Case) -> list[Any]:
    """The forward's arguments as a course passes them: the arrays, the positional
    hyperparameters, then the hyperparameters' dict."""
    args: list[Any] = [case.inputs[a.name] for a in kind.arguments]
    args += [case.params[h.name] for h in kind.hyper if h.positional]
    if kind.param_dict is not None:
        args.append({h.name: case.params[h.name] for h in kind.hyper if not h.positional})
    return args


def _configuration(
    kind: LayerKind,
    code: LayerCode,
    case: Case,
    tol: Tolerance,
    calls: Counter[str],
    *,
    signature: bool = False,
) -> _Outcome:
    from gradcheck.torch_side.layers import reference as torch_reference

    args = forward_arguments(kind, case)
    label = code.labels[0]
    if signature:
        layercode.check_signature(code.functions[0], label, len(args), kind.forward_signature)
    calls[label] += 1
    returned = layercode.call(code, 0, args)
    expected = shapes.output_shapes(kind, case.dims, case.params)
    hand: dict[str, Array] = {}
    problems: dict[str, str] = {}
    if kind.loss:
        names = ("loss", *kind.gradient_names)
        values, _ = layercode.unpack(returned, label, names, kind.returns, cache=False)
        loss = layercode.array(values[0], label, "loss", 0, (), scalar=True)
        if loss.size != 1:
            raise layercode.wrong_shape(label, "loss", 0, loss.shape, ())
        hand["loss"] = loss.reshape(())
        raw = dict(zip(kind.gradient_names, values[1:], strict=True))
        positions = {g: i + 1 for i, g in enumerate(kind.gradient_names)}
        grad_label = label
    else:
        outs, cache = layercode.unpack(returned, label, kind.outputs, kind.returns, cache=True)
        for i, (name, value) in enumerate(zip(kind.outputs, outs, strict=True)):
            arr = layercode.array(value, label, name, i, expected[name])
            if arr.shape != expected[name]:
                raise layercode.wrong_shape(label, name, i, arr.shape, expected[name])
            hand[name] = arr
        if kind.read is not None:
            extra, problem = kind.read(case, hand)
            case = case.with_extra(extra)
            if problem is not None:
                problems[kind.outputs[0]] = problem
        grad_label = code.labels[1]
        d_args = [case.douts[d] for d in kind.douts]
        if signature:
            layercode.check_signature(
                code.functions[1], grad_label, len(d_args) + 1, kind.backward_signature
            )
        calls[grad_label] += 1
        returned_b = layercode.call(code, 1, [*d_args, cache])
        values, _ = layercode.unpack(
            returned_b, grad_label, kind.gradient_names, kind.backward_returns, cache=False
        )
        raw = dict(zip(kind.gradient_names, values, strict=True))
        positions = {g: i for i, g in enumerate(kind.gradient_names)}
    viewed: dict[str, Array] = {}
    for arg in kind.differentiated:
        g = f"d{arg.name}"
        want = tuple(np.shape(case.inputs[arg.name]))
        arr = layercode.array(raw[g], grad_label, g, positions[g], want)
        hand[g] = arr
        if arr.shape == want:
            viewed[g] = arr
            continue
        explained = _explained(case, g, arr, tol)
        view = _view(arr, want)
        if view is None and not explained:
            raise layercode.wrong_shape(
                grad_label, g, positions[g], arr.shape, want, f"{arg.name}'s shape"
            )
        problems[g] = (
            f"{g} is returned with shape {layercode.shape_text(arr.shape)}; {arg.name} is "
            f"{layercode.shape_text(want)}"
        )
        if view is not None:
            viewed[g] = view
    ref_outs, ref_grads = torch_reference(case)
    by_arg = {g[1:]: v for g, v in ref_grads.items()}
    limits = layer_bounds(case, by_arg, {g[1:]: v for g, v in viewed.items()})
    outputs = tuple(
        compare(name, ref_outs[name], hand[name], tol, kind="forward", bounds=limits[name])
        for name in (kind.outputs if not kind.loss else ("loss",))
    )
    norm_tol = max(tol.rtol, _norm_tol(case.dtype))
    gradients = tuple(
        compare(
            g, ref_grads[g], viewed[g], tol, kind="gradient", norm_tol=norm_tol, bounds=limits[g]
        )
        for g in kind.gradient_names
        if g in viewed
    )
    result = LayerResult(outputs, gradients, problems)
    reference = {**{k: np.asarray(v, np.float64) for k, v in ref_outs.items()}, **ref_grads}
    reference = {k: np.asarray(v, dtype=np.float64) for k, v in reference.items()}
    return _Outcome(case, result, reference, hand, viewed, limits)


def _norm_tol(dtype: str) -> float:
    from gradcheck.core.tolerance import NORM_TOLERANCES

    return NORM_TOLERANCES[dtype]


def _explained(case: Case, name: str, arr: Array, tol: Tolerance) -> bool:
    """Whether a classic bug of the kind returns ``name`` with this shape and these values."""
    for bug in case.kind.bugs:
        with np.errstate(all="ignore"):
            found = bug.values(case).get(name)
        if (
            found is not None
            and np.shape(found) == arr.shape
            and matches(arr, found, tol, None, case.dtype)
        ):
            return True
    return False


def _view(arr: Array, want: tuple[int, ...]) -> Array | None:
    """A returned gradient of another shape, seen in the argument's: the same elements
    reshaped, or the middle of a padded array (the padding cut off)."""
    if arr.size == math.prod(want):
        return arr.reshape(want)
    if arr.ndim == len(want) and all(
        a >= w and (a - w) % 2 == 0 for a, w in zip(arr.shape, want, strict=True)
    ):
        cut = tuple(
            slice((a - w) // 2, (a - w) // 2 + w) for a, w in zip(arr.shape, want, strict=True)
        )
        return np.ascontiguousarray(arr[cut])
    return None


# ---------------------------------------------------------------------------------------------
# Probes


def _probe(
    kind: LayerKind,
    code: LayerCode,
    request: LayerRequest,
    tol: Tolerance,
    index: int,
    setup: Any,
    params: Mapping[str, Any],
    calls: Counter[str],
) -> LayerProbe:
    """The user's code on the record's probe ``index``, fully compared; code that raises or
    returns wrong shapes there is a failed probe (its message kept), not an error."""
    dims, values = shapes.probe_configuration(kind, setup, params)
    seed = probe_seed(request.seed, index)
    case = shapes.draw(kind, dims, values, request.dtype, seed, setup.values)
    arrays = {k: tuple(np.shape(v)) for k, v in case.inputs.items()}
    command = probe_command(request, kind, arrays, values, seed, setup.values)
    try:
        outcome = _configuration(kind, code, case, tol, calls)
    except GradcheckError as err:
        text = (str(err) if request.impl is None else err.cli_message).strip()
        message = text.splitlines()[0] if text else type(err).__name__
        return LayerProbe(
            index, setup.note, arrays, values, setup.values, seed, None, command, message
        )
    result = outcome.result
    if not result.passed:
        result = replace(result, diagnosis=outcome.diagnose(tol))
    return LayerProbe(index, setup.note, arrays, values, setup.values, seed, result, command)


def probe_command(
    request: LayerRequest,
    kind: LayerKind,
    arrays: Mapping[str, tuple[int, ...]],
    params: Mapping[str, Any],
    seed: int,
    values: str,
) -> str:
    """The ``gradcheck layer`` command that checks one configuration on its own."""
    impl = (
        request.impl
        if request.impl is not None
        else "YOUR_FILE.py:" + ("LOSS" if kind.loss else "FORWARD,BACKWARD")
    )
    args = ["gradcheck", "layer", kind.name, "--impl", impl]
    for name, shape in arrays.items():
        args += ["--shape", f"{name}={'x'.join(map(str, shape))}"]
    for h in kind.hyper:
        if params[h.name] != h.default:
            args += ["--param", f"{h.name}={params[h.name]}"]
    if values:
        args += ["--values", values]
    if request.dtype != "float64":
        args += ["--dtype", request.dtype]
    args += ["--seed", str(seed)]
    if request.atol is not None:
        args += ["--atol", repr(float(request.atol))]
    if request.rtol is not None:
        args += ["--rtol", repr(float(request.rtol))]
    args += ["--probes", "0"]
    return shlex.join(args)


# ---------------------------------------------------------------------------------------------
# The oracle


def _oracle(outcome: _Outcome, method: str) -> tuple[OracleCheck, int]:
    """Both sides against the oracle on the reference forward (``core/layers/numeric.py``)."""
    case = outcome.case
    with np.errstate(all="ignore"):
        num = numeric.gradient(case, method)
    tol = Tolerance(atol=0.0, rtol=numeric.SAFETY * METHODS[method].error)
    vs_autograd: list[Comparison] = []
    vs_hand: list[Comparison] = []
    skipped, unjudged = [], []
    elements = compared = 0
    for g in case.kind.gradient_names:
        if g not in outcome.viewed:
            continue
        value = num.values[g]
        left = num.left_out(g)
        side = outcome.bounds[g].rounding
        where = TensorBounds(
            value, np.zeros(value.shape), side + num.allowance[g] / ROUNDING_SAFETY
        )
        for sides, candidate in ((vs_autograd, outcome.reference[g]), (vs_hand, outcome.viewed[g])):
            shown = np.where(left, value, candidate)
            sides.append(compare(g, value, shown, tol, kind="oracle", bounds=where))
        elements += value.size
        compared += value.size - int(np.count_nonzero(left))
        if np.any(num.kinks[g]):
            skipped.append((g, int(np.count_nonzero(num.kinks[g]))))
        if np.any(num.unjudged[g]):
            unjudged.append((g, int(np.count_nonzero(num.unjudged[g]))))
    check = OracleCheck(
        method,
        tol,
        tuple(vs_autograd),
        tuple(vs_hand),
        tuple(skipped),
        tuple(unjudged),
        (),
        elements,
        compared,
    )
    return check, num.evaluations


# ---------------------------------------------------------------------------------------------
# A custom layer: the oracle alone


def _custom_shapes(request: LayerRequest) -> dict[str, tuple[int, ...]]:
    if not request.shapes:
        raise GradcheckError(
            "--shape: a custom layer needs its inputs' shapes, in the order the forward takes "
            "them: --shape x=3x4 --shape w=4x5"
        )
    return {name: shapes.check_sizes(name, shape) for name, shape in request.shapes.items()}


def _custom_params(given: Mapping[str, object]) -> dict[str, Any]:
    """A custom layer's --param values: whole numbers, numbers, or words, as written."""
    out: dict[str, Any] = {}
    for name, raw in given.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise GradcheckError(f"--param: {name!r} is not a name")
        if not isinstance(raw, str):
            out[name] = raw
            continue
        for parse in (lambda t: int(t, 10), float):
            try:
                out[name] = parse(raw)
                break
            except ValueError:
                continue
        else:
            out[name] = raw
    return out


def _run_custom(request: LayerRequest) -> LayerReport:
    arrays = _custom_shapes(request)
    params = _custom_params(request.params)
    method = request.oracle or REAL_FULL_METHODS[0]
    tol = resolve_tolerance(request.dtype, request.atol, request.rtol)
    elements = sum(math.prod(s) for s in arrays.values())
    evaluations = 4 * elements * (1 + request.probes)
    if evaluations > MAX_CUSTOM_CALLS:
        raise GradcheckError(
            f"--shape: a custom layer is checked by its oracle alone, which calls your forward "
            f"4 times per input element: {elements:,} elements (and {request.probes} probes) "
            f"would be {evaluations:,} calls, over {MAX_CUSTOM_CALLS:,}; give smaller shapes"
        )
    kind = custom_kind(tuple(arrays), bool(params))
    code = _code(request, 2, CUSTOM)
    calls: Counter[str] = Counter()
    main, n_eval = _custom_configuration(
        kind, code, arrays, params, request, tol, request.seed, calls, signature=True
    )
    probes = []
    for index in range(1, request.probes + 1):
        seed = probe_seed(request.seed, index)
        command = _custom_command(request, arrays, seed)
        try:
            result, _ = _custom_configuration(kind, code, arrays, params, request, tol, seed, calls)
        except GradcheckError as err:
            text = (str(err) if request.impl is None else err.cli_message).strip()
            message = text.splitlines()[0] if text else type(err).__name__
            probes.append(
                LayerProbe(
                    index, "other seeded values", arrays, params, "", seed, None, command, message
                )
            )
            continue
        probes.append(
            LayerProbe(index, "other seeded values", arrays, params, "", seed, result, command)
        )
    if main.passed and any(not p.passed and p.result is not None for p in probes):
        shown = next(p for p in probes if not p.passed and p.result is not None)
        assert shown.result is not None
        main = replace(
            main,
            diagnosis=tuple(
                replace(f, message=f"{shown.name} ({shown.note}): " + f.message)
                for f in shown.result.diagnosis
            ),
        )
    settings = LayerSettings(
        kind=CUSTOM,
        title="your own layer, judged against the numerical oracle alone",
        dtype=request.dtype,
        seed=request.seed,
        tolerance=tol,
        candidate=code.candidate,
        shapes=arrays,
        params=params,
        param_dict="params" if params else None,
        calls=(
            f"FORWARD({', '.join((*arrays, *(['params'] if params else [])))}) → (out, cache)",
            "BACKWARD(dout, cache) → "
            + (
                f"d{next(iter(arrays))}"
                if len(arrays) == 1
                else f"({', '.join('d' + a for a in arrays)})"
            ),
        ),
        oracle=method,
        probes=request.probes,
    )
    warnings = tuple(Notice("oracle", m) for m in _custom_warnings(main))
    return LayerReport(
        settings, main, warnings, None, tuple(probes), dict(sorted(calls.items())), n_eval
    )


def _custom_warnings(result: LayerResult) -> tuple[str, ...]:
    out = []
    for c in result.gradients:
        if c.n_unjudged:
            out.append(
                f"oracle: {c.n_unjudged} element(s) of {c.name} not compared: a kink or a tie "
                "within the step (the one-sided differences disagree), or a forward that is not "
                "finite there"
            )
    return tuple(out)


def _custom_command(request: LayerRequest, arrays: Mapping[str, tuple[int, ...]], seed: int) -> str:
    impl = request.impl if request.impl is not None else "YOUR_FILE.py:FORWARD,BACKWARD"
    args = ["gradcheck", "layer", CUSTOM, "--impl", impl]
    for name, shape in arrays.items():
        args += ["--shape", f"{name}={'x'.join(map(str, shape))}"]
    for name, value in request.params.items():
        args += ["--param", f"{name}={value}"]
    if request.dtype != "float64":
        args += ["--dtype", request.dtype]
    if request.oracle is not None:
        args += ["--oracle", request.oracle]
    args += ["--seed", str(seed), "--probes", "0"]
    return shlex.join(args)


def _custom_configuration(
    kind: LayerKind,
    code: LayerCode,
    arrays: Mapping[str, tuple[int, ...]],
    params: Mapping[str, Any],
    request: LayerRequest,
    tol: Tolerance,
    seed: int,
    calls: Counter[str],
    *,
    signature: bool = False,
) -> tuple[LayerResult, int]:
    inputs = shapes.custom_case(arrays, request.dtype, seed)
    extra = [dict(params)] if params else []
    label = code.labels[0]
    args = [*inputs.values(), *extra]
    if signature:
        layercode.check_signature(
            code.functions[0],
            label,
            len(args),
            "FORWARD(" + ", ".join((*arrays, *(["params"] if params else []))) + ")",
        )
    calls[label] += 1
    outs, cache = layercode.unpack(
        layercode.call(code, 0, args), label, ("out",), "(out, cache)", cache=True
    )
    rng = np.random.default_rng([seed, 1])
    first = np.asarray(outs[0]) if isinstance(outs[0], np.ndarray) else None
    out = layercode.array(outs[0], label, "out", 0, () if first is None else first.shape)
    dout = rng.standard_normal(out.shape).astype(np.dtype(request.dtype))
    back_label = code.labels[1]
    if signature:
        layercode.check_signature(code.functions[1], back_label, 2, "BACKWARD(dout, cache)")
    calls[back_label] += 1
    names = tuple(f"d{a}" for a in arrays)
    contract = names[0] if len(names) == 1 else f"({', '.join(names)})"
    values, _ = layercode.unpack(
        layercode.call(code, 1, [dout, cache]), back_label, names, contract, cache=False
    )
    case = Case(kind, request.dtype, {}, dict(params), inputs, {"dout": dout})
    returned: list[np.dtype[Any]] = []

    def objective(moved: Mapping[str, Any]) -> dict[str, Array]:
        calls[label] += 1
        found, _ = layercode.unpack(
            layercode.call(code, 0, [*(moved[a] for a in arrays), *extra]),
            label,
            ("out",),
            "(out, cache)",
            cache=True,
        )
        raw = np.asarray(found[0]) if isinstance(found[0], np.ndarray) else None
        returned.append(raw.dtype if raw is not None else np.dtype(np.float64))
        arr = layercode.array(found[0], label, "out", 0, out.shape)
        if arr.shape != out.shape:
            raise layercode.wrong_shape(label, "out", 0, arr.shape, out.shape)
        return {"out": arr}

    # The oracle calls your forward on float64 inputs: its rounding there is that of the
    # dtype it answers in (float32 if it casts), a few ulps of each output.
    at = {a: np.asarray(v, dtype=np.float64) for a, v in inputs.items()}
    base = objective(at)["out"]
    answered = returned[-1]
    eps_out = float(np.finfo(answered if answered.kind == "f" else np.float64).eps)
    with np.errstate(all="ignore"):
        noise = {"out": FUNCTION_ULPS * eps_out * np.abs(base)}
        num = numeric.gradient(
            case,
            request.oracle or REAL_FULL_METHODS[0],
            objective=objective,
            weights={"out": np.asarray(dout, dtype=np.float64)},
            noise=noise,
            arguments=tuple(arrays),
            structured=False,
        )
    u = float(np.finfo(np.dtype(request.dtype)).eps)
    gradients = []
    problems: dict[str, str] = {}
    for i, (a, g) in enumerate(zip(arrays, names, strict=True)):
        arr = layercode.array(values[i], back_label, g, i, arrays[a])
        if arr.shape != arrays[a]:
            view = arr.reshape(arrays[a]) if arr.size == math.prod(arrays[a]) else None
            if view is None:
                raise layercode.wrong_shape(back_label, g, i, arr.shape, arrays[a], f"{a}'s shape")
            problems[g] = (
                f"{g} is returned with shape {layercode.shape_text(arr.shape)}; {a} is "
                f"{layercode.shape_text(arrays[a])}"
            )
            arr = view
        value = num.values[g]
        left = num.left_out(g)
        # Your backward's rounding, unknown in structure: its sums have at most out.size terms
        # of about the gradient's own size (the element's, or the tensor's mean where smaller).
        typical = np.abs(value) + float(np.mean(np.abs(value))) if value.size else np.abs(value)
        hand_rounding = inner(out.size, u) * typical
        where = TensorBounds(
            value, np.zeros(value.shape), hand_rounding + num.allowance[g] / ROUNDING_SAFETY
        )
        shown = np.where(left, value, arr)
        c = compare(
            g,
            value,
            shown,
            tol,
            kind="gradient",
            norm_tol=max(tol.rtol, _norm_tol(request.dtype)),
            bounds=where,
        )
        gradients.append(replace(c, n_unjudged=c.n_unjudged + int(np.count_nonzero(left))))
    result = LayerResult((), tuple(gradients), problems)
    if not result.passed:
        hand = {g: np.asarray(c.candidate) for g, c in zip(names, gradients, strict=True)}
        reference = {g: np.asarray(c.reference) for g, c in zip(names, gradients, strict=True)}
        bounds = {
            g: c.bounds for g, c in zip(names, gradients, strict=True) if c.bounds is not None
        }
        result = replace(
            result,
            diagnosis=diagnose_layer(
                case, result.comparisons, problems, hand, reference, bounds, tol
            ),
        )
    return result, num.evaluations


__all__ = ["VALUE_STYLES", "LayerRequest", "run_layer"]
