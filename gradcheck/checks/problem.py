"""From what the user asked (a ``Request``) to what both sides see (a ``Problem``) and the
``Settings`` echoed in every report: validated, with the weights built once."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.checks import network
from gradcheck.checks.report import Settings
from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import BATCH_AXES, DEFAULT_LOSS
from gradcheck.core.oracle_methods import FULL_METHODS, either, oracle_method
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import resolve_tolerance
from gradcheck.io import inputs

Array = NDArray[np.floating]
Rows = Sequence[float] | Sequence[Sequence[float]]


@dataclass(frozen=True)
class Request:
    """A check as asked for, by the command line's options or the API's keywords, unvalidated.

    ``x`` is one input row or a list of rows (or ``data`` names a CSV/.npz file); ``target`` one
    row per input row (default: 1.0 per output unit, class 0 for a loss over classes). Weights
    come from torch's default init after ``torch.manual_seed(seed)`` unless ``weights`` names a
    state_dict file (or ``model`` brings its own). ``atol``/``rtol`` default per dtype;
    ``oracle`` adds the numerical oracle. ``layers``/``activation``/``output_activation``
    default to the seed's, or to what ``model`` or the ``weights`` file holds.
    """

    x: Rows | None = None
    target: Rows | None = None
    data: str | None = None
    layers: Sequence[int] | None = None
    activation: str | Sequence[str] | None = None
    loss: str = DEFAULT_LOSS
    dtype: str = "float64"
    seed: int = 0
    weights: str | None = None
    atol: float | None = None
    rtol: float | None = None
    oracle: str | None = None
    output_activation: str | None = None
    reduction: str = "mean"
    loss_scale: float = 1.0
    l2: float | Mapping[str, float] = 0.0  # λ for every W, or λ per parameter {"W1": 5e-4, …}
    layout: str = "out_in"
    batch_axis: str = "first"  # how the user's code holds a batch: examples as rows or columns
    model: object | None = None  # "FILE.py:NAME" or an nn.Module instance
    probes: int = 2  # probe batches (sizes 2, 3, …) for user code; 0: none (checks/probes.py)
    oracle_sample: int | None = None  # elements per parameter the oracle checks; None: all
    oracle_budget: float = 60.0  # seconds the oracle may take (estimated first); 0: no limit


@dataclass(frozen=True)
class Problem:
    """A network, its weights and a batch, all in the working dtype: what both sides see."""

    spec: NetSpec
    params: dict[str, Array]  # W1, b1, … in spec.dtype
    x: Array  # (B, n_in) in spec.dtype
    y: NDArray[np.generic]  # (B, n_out) in spec.dtype, or (B,) int64 class indices
    model: Any = None  # the user's nn.Module (a private copy), run by autograd; None: Model


#: The fields of a ``Request`` that say which network is checked (``network.resolve``'s).
NETWORK_FIELDS = (
    "layers",
    "activation",
    "loss",
    "dtype",
    "output_activation",
    "reduction",
    "loss_scale",
    "l2",
    "layout",
    "seed",
    "weights",
    "model",
)


def network_of(r: Request) -> network.Network:
    """The network ``r`` describes (its options, a ``--model`` or a state_dict), validated."""
    return network.resolve(**{name: getattr(r, name) for name in NETWORK_FIELDS})


def setup(request: Request) -> tuple[Problem, Settings]:
    """Validate every part of ``request``; build the problem both sides see and its settings."""
    r = request
    tolerance = resolve_tolerance(r.dtype, r.atol, r.rtol)
    net = network_of(r)
    spec = net.spec
    if r.oracle is not None:
        from gradcheck.core.numeric import validate_method

        validate_method(spec, r.oracle)
    validate_oracle_options(r.oracle, r.oracle_sample, r.oracle_budget)
    validate_batch_axis(r.batch_axis)
    x, y = resolve_batch(spec, _plain(r.x), _plain(r.target), r.data, r.batch_axis)
    problem = prepare(spec, x=x, target=y, seed=r.seed, params=net.params)
    problem = replace(problem, model=net.module)
    # The seed is echoed only when it made the weights: torch's init, or building --model FILE.
    seeded = r.weights is None and (r.model is None or isinstance(r.model, str))
    settings = Settings(
        spec,
        x,
        y,
        tolerance,
        seed=r.seed if seeded else None,
        weights=r.weights,
        data=r.data,
        oracle=r.oracle,
        oracle_sample=r.oracle_sample,
        oracle_budget=r.oracle_budget,
        layout=r.layout,
        batch_axis=r.batch_axis,
        model=net.model,
    )
    return problem, settings


def validate_batch_axis(batch_axis: object) -> None:
    """``--batch-axis``: one of ``BATCH_AXES``."""
    if not isinstance(batch_axis, str) or batch_axis not in BATCH_AXES:
        raise GradcheckError(
            f"--batch-axis: unknown {batch_axis!r}; choose from {', '.join(BATCH_AXES)} "
            "(examples as rows or as columns)"
        )


#: Largest --oracle-sample: beyond it, the full oracle is the better tool.
MAX_ORACLE_SAMPLE = 10**6


def validate_oracle_options(oracle: str | None, sample: int | None, budget: float) -> None:
    """``--oracle-sample`` needs a full oracle method; both options need sane numbers."""
    if sample is not None:
        if isinstance(sample, bool) or not isinstance(sample, int):
            raise GradcheckError(f"--oracle-sample: must be a whole number, got {sample!r}")
        if not 1 <= sample <= MAX_ORACLE_SAMPLE:
            shown = f"{sample:,}" if abs(sample) < 10**18 else f"{len(str(sample))} digits"
            raise GradcheckError(
                f"--oracle-sample: must be between 1 and {MAX_ORACLE_SAMPLE:,}, got {shown}"
            )
        if oracle is None:
            raise GradcheckError(f"--oracle-sample: needs --oracle {either(FULL_METHODS)}")
        if not oracle_method(oracle).full:
            raise GradcheckError(
                f"--oracle-sample: the {oracle} oracle checks projections, not elements; "
                f"use --oracle {either(FULL_METHODS)}"
            )
    if isinstance(budget, bool) or not isinstance(budget, int | float):
        raise GradcheckError(f"--oracle-budget: must be a number of seconds, got {budget!r}")
    if not math.isfinite(budget) or budget < 0:
        raise GradcheckError(
            f"--oracle-budget: must be a finite number of seconds ≥ 0 (0: no limit), got {budget}"
        )


def prepare(
    spec: NetSpec,
    *,
    x: NDArray[np.float64],
    target: NDArray[np.generic],
    seed: int | None = 0,
    weights: str | None = None,
    params: dict[str, NDArray[np.float64]] | None = None,
) -> Problem:
    """Build the shared weights (torch's init under ``seed``, a file, or ``params`` as given)
    and cast everything.

    Weights are created once and both sides receive exact copies in ``spec.dtype``.
    """
    inputs.check_representable(x, spec.dtype, "--x")
    if target.dtype.kind == "f":
        inputs.check_representable(target.astype(np.float64), spec.dtype, "--target")
    if params is not None:
        params64 = params
    elif weights is not None:
        from gradcheck.io.weights import load_weights

        params64 = load_weights(weights, spec)
    else:
        if seed is None:
            raise GradcheckError("--seed: give a seed or --weights")
        from gradcheck.torch_side import reference

        params64 = reference.init_state(spec, seed)
    for name, value in params64.items():
        inputs.check_representable(value, spec.dtype, f"--weights ({name})")
    dtype = np.dtype(spec.dtype)
    cast: dict[str, Array] = {name: value.astype(dtype) for name, value in params64.items()}
    y = target if target.dtype.kind == "i" else target.astype(dtype)
    return Problem(spec, cast, x.astype(dtype), y)


def resolve_batch(
    spec: NetSpec,
    x: Rows | None,
    target: Rows | None,
    data: str | None,
    batch_axis: str = "first",
) -> tuple[NDArray[np.float64], NDArray[np.generic]]:
    """Inputs and targets from ``x``/``target`` rows or from a data file (exactly one); an
    ``.npz`` data file is read in ``batch_axis``."""
    if data is not None:
        if x is not None or target is not None:
            raise GradcheckError("--data: give either --data or --x/--target, not both")
        return inputs.load_data(spec, data, batch_axis)
    x_rows = _rows(x) if x is not None else []
    if not x_rows:
        raise GradcheckError("--x: missing; give the input values (e.g. --x 0.974 0.312) or --data")
    x_arr = inputs.inputs_from_rows(spec, x_rows)
    y_rows = _rows(target) if target is not None else None
    if y_rows is not None and spec.loss_record.takes_classes and len(y_rows) == 1:
        # A flat list of class indices, one per row: y = [2, 0, 1] as torch takes it.
        if len(y_rows[0]) == len(x_rows) > 1:
            y_rows = [[v] for v in y_rows[0]]
    return x_arr, inputs.targets_from_rows(spec, y_rows, len(x_rows))


def _plain(values: Any) -> Any:
    """A tensor or array as nested lists; anything else unchanged."""
    if values is None:
        return None
    if hasattr(values, "detach"):  # a torch tensor, without importing torch here
        values = values.detach().cpu().numpy()
    if isinstance(values, np.ndarray):
        return values.tolist()
    return values


def _rows(values: Rows) -> list[list[float]]:
    """One row (flat numbers) or several rows, as a list of rows."""
    items: list[Any] = list(values)
    try:
        if items and all(np.ndim(v) == 0 for v in items):
            return [[float(v) for v in items]]
        return [[float(v) for v in row] for row in items]
    except (TypeError, ValueError) as exc:
        raise GradcheckError(f"expected numbers or rows of numbers ({exc})") from None
