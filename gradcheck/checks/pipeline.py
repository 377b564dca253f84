"""One check end to end: weights → torch autograd and the hand-derived replica → a ``Report``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from gradcheck.torch_side.reference import AutogradResult

from gradcheck.checks import health
from gradcheck.checks.diagnose import Finding, diagnose, make_context
from gradcheck.checks.health import Notice
from gradcheck.checks.report import Report, Settings
from gradcheck.core import replica
from gradcheck.core.compare import Comparison, Tolerance, compare, resolve_tolerance
from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import SEED_LAYERS, NetSpec
from gradcheck.io import inputs

Array = NDArray[np.floating]


@dataclass(frozen=True)
class Problem:
    """A network, its weights and a batch, all in the working dtype: what both sides see."""

    spec: NetSpec
    params: dict[str, Array]  # W1, b1, … in spec.dtype
    x: Array  # (B, n_in) in spec.dtype
    y: NDArray[np.generic]  # (B, n_out) in spec.dtype, or (B,) int64 class indices


@dataclass(frozen=True)
class HandResult:
    """What the hand side answers: forward values, gradients and (optionally) δ per layer."""

    prediction: Array | None  # None: the hand side gave no forward value (a user backward)
    loss: Array | None
    grads: Mapping[str, Array]
    deltas: Mapping[str, Array]


def replica_side(problem: Problem) -> HandResult:
    """The built-in hand derivation (``replica.py``)."""
    params = {k: v.copy() for k, v in problem.params.items()}
    # Overflow is reported as a failed check (NaN/inf never pass), not as a numpy warning.
    with np.errstate(all="ignore"):
        fwd, bwd = replica.gradients(problem.spec, params, problem.x, problem.y)
    return HandResult(fwd.prediction, fwd.loss, bwd.grads, bwd.deltas)


def notices(problem: Problem, ref: AutogradResult, hand: HandResult) -> tuple[Notice, ...]:
    """Warnings that qualify a result: saturated units, zero gradients, NaN/inf forward values."""
    with np.errstate(all="ignore"):
        fwd = replica.forward(problem.spec, problem.params, problem.x, problem.y)
    found = health.saturation(problem.spec, fwd.zs)
    found += health.zero_gradients(ref.grads)
    found += health.nonfinite({"prediction": ref.prediction, "loss": ref.loss}, "autograd")
    hand_forward = {"prediction": hand.prediction, "loss": hand.loss}
    found += health.nonfinite({k: v for k, v in hand_forward.items() if v is not None}, "hand")
    return tuple(found)


def prepare(
    spec: NetSpec,
    *,
    x: NDArray[np.float64],
    target: NDArray[np.generic],
    seed: int | None = 0,
    weights: str | None = None,
) -> Problem:
    """Build the shared weights (torch's init under ``seed``, or a file) and cast everything.

    Weights are created once and both sides receive exact copies in ``spec.dtype``.
    """
    from gradcheck.torch_side import reference

    inputs.check_representable(x, spec.dtype, "--x")
    if target.dtype.kind == "f":
        inputs.check_representable(target.astype(np.float64), spec.dtype, "--target")
    if weights is not None:
        from gradcheck.io.weights import load_weights

        params64 = load_weights(weights, spec)
    else:
        if seed is None:
            raise GradcheckError("--seed: give a seed or --weights")
        params64 = reference.init_state(spec, seed)
    for name, value in params64.items():
        inputs.check_representable(value, spec.dtype, f"--weights ({name})")
    dtype = np.dtype(spec.dtype)
    params: dict[str, Array] = {name: value.astype(dtype) for name, value in params64.items()}
    y = target if target.dtype.kind == "i" else target.astype(dtype)
    return Problem(spec, params, x.astype(dtype), y)


def evaluate(problem: Problem, settings: Settings, hand: HandResult | None = None) -> Report:
    """Run autograd and the hand side on ``problem`` and compare everything."""
    from gradcheck.torch_side import reference

    ref = reference.autograd(problem.spec, problem.params, problem.x, problem.y)
    if hand is None:
        hand = replica_side(problem)
    tol = settings.tolerance
    forward = tuple(
        compare(name, ref_value, np.asarray(hand_value), tol, kind="forward")
        for name, ref_value, hand_value in (
            ("prediction", ref.prediction, hand.prediction),
            ("loss", ref.loss, hand.loss),
        )
        if hand_value is not None
    )
    parameters = tuple(
        compare(p.name, ref.grads[p.name], hand.grads[p.name], tol, torch_name=p.torch_name)
        for p in problem.spec.parameters()
    )
    deltas: tuple[Comparison, ...] = tuple(
        compare(name, ref.deltas[name], hand.deltas[name], tol, kind="delta")
        for name in ref.deltas
        if name in hand.deltas
    )
    oracle_check = None
    if settings.oracle is not None:
        from gradcheck.checks.oracle import run_oracle

        oracle_check = run_oracle(
            problem.spec,
            problem.params,
            problem.x,
            problem.y,
            settings.oracle,
            autograd=ref.grads,
            hand=hand.grads,
            loss=float(ref.loss),
        )
    findings: tuple[Finding, ...] = ()
    if not all(c.passed for c in forward + parameters + deltas):
        # Overflowing inputs are a reported failure, not a numpy warning on stderr.
        with np.errstate(all="ignore"):
            context = make_context(problem.spec, problem.params, problem.x, problem.y, ref.deltas)
            findings = diagnose(forward, parameters, deltas, context)
    found = notices(problem, ref, hand)
    if oracle_check is not None:
        found += tuple(Notice("oracle", message) for message in oracle_check.warnings)
    return Report(
        settings, forward, parameters, deltas, found, diagnosis=findings, oracle=oracle_check
    )


def user_side(
    problem: Problem,
    *,
    backward: Callable[..., object] | None = None,
    impl: str | None = None,
    grads: str | None = None,
) -> tuple[str, HandResult] | None:
    """The user's hand side (a callable, ``--impl FILE.py:FUNC`` or ``--grads FILE``) and its
    label for ``Settings.candidate``; ``None`` when none is given (the built-in replica)."""
    from gradcheck.io import gradsfile
    from gradcheck.io import usercode as userimpl

    one_candidate(backward, impl, grads)
    if backward is not None:
        label = f"python:{userimpl.describe_function(backward)}"
        found = userimpl.call_backward(
            backward, problem.spec, problem.params, problem.x, problem.y, option="backward"
        )
    elif impl is not None:
        fn = userimpl.load_backward(impl)
        label = f"impl:{impl}"
        found = userimpl.call_backward(
            fn, problem.spec, problem.params, problem.x, problem.y, label=impl
        )
    elif grads is not None:
        label = f"grads:{grads}"
        found = gradsfile.load_grads(grads, problem.spec, batch=int(problem.x.shape[0]))
    else:
        return None
    return label, HandResult(found.prediction, found.loss, found.grads, found.deltas)


def one_candidate(
    backward: Callable[..., object] | None, impl: str | None, grads: str | None
) -> None:
    """At most one user hand side: ``backward``, ``--impl`` or ``--grads``."""
    given = [name for name, v in (("--impl", impl), ("--grads", grads)) if v is not None]
    if backward is not None:
        given.insert(0, "backward")
    if len(given) > 1:
        raise GradcheckError(f"{given[0]}: give only one of {' and '.join(given)}")


def check(
    x: Sequence[float] | Sequence[Sequence[float]] | None = None,
    target: Sequence[float] | Sequence[Sequence[float]] | None = None,
    *,
    data: str | None = None,
    layers: Sequence[int] = SEED_LAYERS,
    activation: str = "sigmoid",
    loss: str = "mse",
    dtype: str = "float64",
    seed: int = 0,
    weights: str | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    backward: Callable[..., object] | None = None,
    impl: str | None = None,
    grads: str | None = None,
    oracle: str | None = None,
) -> Report:
    """Check the hand-derived backward pass against torch autograd; the CLI's ``run``.

    Args mirror ``gradcheck run``'s options: ``x`` is one input row or a list of rows (or
    ``data`` names a CSV/.npz file), ``target`` one row per input row (default: 1.0 per output,
    class 0 for cross_entropy); weights come from torch's default init after
    ``torch.manual_seed(seed)`` unless ``weights`` names a ``.pt``/``.npz`` state_dict.
    ``atol``/``rtol`` default per dtype (see ``compare.DEFAULT_TOLERANCES``). ``oracle``
    (central, richardson, complex-step or directional) adds the numerical oracle of
    ``numeric.py`` as a third opinion.

    The hand side is the built-in replica unless one of these is given: ``backward``, a
    callable ``backward(params, x, y) -> {"W1": dW1, "b1": db1, …}`` (the contract is in
    ``gradcheck.io.usercode``), ``impl`` (``"FILE.py:FUNC"``, as ``--impl``) or ``grads`` (an
    ``.npz``/``.json`` of precomputed gradients, as ``--grads``). Then ``report.diagnosis``
    says where a bug most likely is.

    Returns a ``Report`` (``.passed``, ``.exit_code``, per-parameter ``Comparison``s).
    Raises ``GradcheckError`` on bad input.
    """
    one_candidate(backward, impl, grads)
    problem, settings = setup(
        x,
        target,
        data=data,
        layers=layers,
        activation=activation,
        loss=loss,
        dtype=dtype,
        seed=seed,
        weights=weights,
        atol=atol,
        rtol=rtol,
        oracle=oracle,
    )
    user = user_side(problem, backward=backward, impl=impl, grads=grads)
    if user is None:
        return evaluate(problem, settings)
    candidate, hand = user
    return evaluate(problem, replace(settings, candidate=candidate), hand)


def setup(
    x: Sequence[float] | Sequence[Sequence[float]] | None,
    target: Sequence[float] | Sequence[Sequence[float]] | None,
    *,
    data: str | None,
    layers: Sequence[int],
    activation: str,
    loss: str,
    dtype: str,
    seed: int,
    weights: str | None,
    atol: float | None,
    rtol: float | None,
    oracle: str | None = None,
) -> tuple[Problem, Settings]:
    """Validate every argument and build the problem both sides see, and its settings."""
    spec = NetSpec(tuple(int(n) for n in layers), activation, loss, dtype)
    tolerance: Tolerance = resolve_tolerance(dtype, atol, rtol)
    if oracle is not None:
        from gradcheck.core.numeric import validate_method

        validate_method(spec, oracle)
    x_arr, y_arr = resolve_batch(spec, x, target, data)
    problem = prepare(spec, x=x_arr, target=y_arr, seed=seed, weights=weights)
    settings = Settings(
        spec,
        x_arr,
        y_arr,
        tolerance,
        seed=None if weights is not None else seed,
        weights=weights,
        data=data,
        oracle=oracle,
    )
    return problem, settings


def resolve_batch(
    spec: NetSpec,
    x: Sequence[float] | Sequence[Sequence[float]] | None,
    target: Sequence[float] | Sequence[Sequence[float]] | None,
    data: str | None,
) -> tuple[NDArray[np.float64], NDArray[np.generic]]:
    """Inputs and targets from ``x``/``target`` rows or from a data file (exactly one)."""
    if data is not None:
        if x is not None or target is not None:
            raise GradcheckError("--data: give either --data or --x/--target, not both")
        return inputs.load_data(spec, data)
    if x is None:
        raise GradcheckError("--x: missing; give the input values (e.g. --x 0.974 0.312) or --data")
    x_rows = _rows(x)
    if not x_rows:
        raise GradcheckError("--x: missing; give the input values (e.g. --x 0.974 0.312) or --data")
    x_arr = inputs.inputs_from_rows(spec, x_rows)
    y_rows = _rows(target) if target is not None else None
    return x_arr, inputs.targets_from_rows(spec, y_rows, len(x_rows))


def _rows(values: Sequence[float] | Sequence[Sequence[float]]) -> list[list[float]]:
    """One row (flat numbers) or several rows, as a list of rows."""
    items: list[Any] = list(values)
    try:
        if items and all(np.ndim(v) == 0 for v in items):
            return [[float(v) for v in items]]
        return [[float(v) for v in row] for row in items]
    except (TypeError, ValueError) as exc:
        raise GradcheckError(f"expected numbers or rows of numbers ({exc})") from None
