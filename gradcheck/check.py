"""One check end to end: weights → torch autograd and the hand-derived replica → a ``Report``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck import inputs, replica
from gradcheck.compare import Comparison, Tolerance, compare, resolve_tolerance
from gradcheck.errors import GradcheckError
from gradcheck.report import Report, Settings
from gradcheck.spec import SEED_LAYERS, NetSpec

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

    prediction: Array
    loss: Array
    grads: Mapping[str, Array]
    deltas: Mapping[str, Array]


def replica_side(problem: Problem) -> HandResult:
    """The built-in hand derivation (``replica.py``)."""
    params = {k: v.copy() for k, v in problem.params.items()}
    fwd, bwd = replica.gradients(problem.spec, params, problem.x, problem.y)
    return HandResult(fwd.prediction, fwd.loss, bwd.grads, bwd.deltas)


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
    from gradcheck import reference

    inputs.check_representable(x, spec.dtype, "--x")
    if target.dtype.kind == "f":
        inputs.check_representable(target, spec.dtype, "--target")
    if weights is not None:
        from gradcheck.weights import load_weights

        params64 = load_weights(weights, spec)
    else:
        if seed is None:
            raise GradcheckError("--seed: give a seed or --weights")
        params64 = reference.init_state(spec, seed)
    for name, value in params64.items():
        inputs.check_representable(value, spec.dtype, f"--weights ({name})")
    dtype = np.dtype(spec.dtype)
    params = {name: value.astype(dtype) for name, value in params64.items()}
    y = target if target.dtype.kind == "i" else target.astype(dtype)
    return Problem(spec, params, x.astype(dtype), y)


def evaluate(problem: Problem, settings: Settings, hand: HandResult | None = None) -> Report:
    """Run autograd and the hand side on ``problem`` and compare everything."""
    from gradcheck import reference

    ref = reference.autograd(problem.spec, problem.params, problem.x, problem.y)
    if hand is None:
        hand = replica_side(problem)
    tol = settings.tolerance
    forward = (
        compare("prediction", ref.prediction, hand.prediction, tol, kind="forward"),
        compare("loss", ref.loss, np.asarray(hand.loss), tol, kind="forward"),
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
        from gradcheck.oracle import run_oracle

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
    warnings = oracle_check.warnings if oracle_check is not None else ()
    return Report(settings, forward, parameters, deltas, warnings, oracle=oracle_check)


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

    Returns a ``Report`` (``.passed``, ``.exit_code``, per-parameter ``Comparison``s).
    Raises ``GradcheckError`` on bad input.
    """
    spec = NetSpec(tuple(int(n) for n in layers), activation, loss, dtype)
    tolerance: Tolerance = resolve_tolerance(dtype, atol, rtol)
    if oracle is not None:
        from gradcheck.numeric import validate_method

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
    return evaluate(problem, settings)


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
    values = list(values)
    if values and all(np.ndim(v) == 0 for v in values):
        return [[float(v) for v in values]]  # type: ignore[arg-type]
    return [[float(v) for v in row] for row in values]  # type: ignore[union-attr]
