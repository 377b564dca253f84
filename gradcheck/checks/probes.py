"""Probe batches: the user's backward run again on a few small seeded batches.

With one input row a mean over the batch equals a sum, the first row is the only row, and a
count divided by the wrong size still gives the right number, so a batch-reduction bug cannot
show. When the hand side is user code (``--impl``, ``backward=``) the check therefore also runs
``n`` probe batches of sizes 2, 3, …, n + 1 on the same network and weights. Their rows are drawn
around the given inputs and targets by a generator seeded from the check's own arguments, so the
same arguments always give the same probes (and byte-identical JSON). Each probe is a full
comparison under the same verdict rules (``pipeline.evaluate``), and a failing one carries the
``gradcheck run`` command that reproduces it on its own.
"""

from __future__ import annotations

import hashlib
import inspect
import shlex
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from gradcheck.checks.problem import Problem, Request
from gradcheck.checks.report import Settings
from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import DEFAULT_LOSS
from gradcheck.core.spec import l2_option

#: Probe batches checked by default: sizes 2 and 3.
DEFAULT_PROBES = 2
#: The most probe batches one check may ask for (sizes 2 … 11).
MAX_PROBES = 10
#: Relative and absolute (× the batch's largest value) spread of the probe rows.
REL_SPREAD = 0.1
ABS_SPREAD = 0.05


def validate_count(probes: object) -> int:
    """``--probes N``: a whole number from 0 (no probes) to ``MAX_PROBES``."""
    if isinstance(probes, bool) or not isinstance(probes, int | np.integer):
        raise GradcheckError(f"--probes: expected a whole number, got {probes!r}")
    if not 0 <= int(probes) <= MAX_PROBES:
        raise GradcheckError(
            f"--probes: expected 0 (no probe batches) to {MAX_PROBES}, got {int(probes)}"
        )
    return int(probes)


def _base_seed(settings: Settings) -> int:
    """A seed from the check's arguments: inputs, targets, weight seed, network and dtype."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(settings.x, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(settings.target, dtype=np.float64).tobytes())
    digest.update(repr((settings.seed, settings.spec.describe(), settings.spec.dtype)).encode())
    return int.from_bytes(digest.digest()[:8], "little")


def _around(
    rng: np.random.Generator, base: NDArray[np.float64], rows: NDArray[np.intp]
) -> NDArray[np.float64]:
    """The given rows, cycled to the probe's size, each value moved by a seeded amount."""
    picked = base[rows]
    scale = float(np.max(np.abs(base))) if base.size else 0.0
    scale = scale if scale > 0 else 1.0
    spread = REL_SPREAD * np.abs(picked) + ABS_SPREAD * scale
    moved: NDArray[np.float64] = picked + rng.standard_normal(picked.shape) * spread
    return moved


def draw(settings: Settings, index: int) -> tuple[NDArray[np.float64], NDArray[np.generic]]:
    """Probe ``index`` (1-based; size index + 1): its inputs and targets, exactly
    representable in the check's dtype, so that printing them reproduces them."""
    spec = settings.spec
    size = index + 1
    rng = np.random.default_rng([_base_seed(settings), index])
    x_given = np.asarray(settings.x, dtype=np.float64)
    rows = np.arange(size) % x_given.shape[0]
    dtype = np.dtype(spec.dtype)
    x = _around(rng, x_given, rows).astype(dtype).astype(np.float64)
    target = np.asarray(settings.target)
    loss = spec.loss_record
    if loss.takes_classes:
        given = target.reshape(-1).astype(np.int64)[rows]
        drawn = rng.integers(0, spec.n_out, size=size)
        # Rows beyond the given ones get a drawn class, so that no two rows need agree.
        beyond = np.arange(size) >= x_given.shape[0]
        y: NDArray[np.generic] = np.where(beyond, drawn, given).astype(np.int64)
        return x, y
    y_float = _around(rng, target.astype(np.float64).reshape(target.shape[0], -1), rows)
    if loss.target_range is not None:
        lo, hi = loss.target_range
        y_float = np.clip(y_float, lo, hi)
    return x, y_float.astype(dtype).astype(np.float64)


def probe_problem(problem: Problem, x: NDArray[np.float64], y: NDArray[np.generic]) -> Problem:
    """The same network, weights and model with the probe's batch."""
    dtype = np.dtype(problem.spec.dtype)
    cast_y = y if y.dtype.kind == "i" else y.astype(dtype)
    return Problem(problem.spec, problem.params, x.astype(dtype), cast_y, problem.model)


# ---------------------------------------------------------------------------------------------
# The command that reproduces a probe


def _number(value: float) -> str:
    return repr(float(value) + 0.0)


def impl_argument(impl: str | None, backward: Callable[..., object] | None) -> str | None:
    """``FILE.py:FUNC`` for ``--impl``: as given, or where a module-level ``backward`` lives."""
    if impl is not None:
        return impl
    if backward is None:
        return None
    name = getattr(backward, "__qualname__", "")
    try:
        source = inspect.getsourcefile(backward)
    except TypeError:
        source = None
    if not source or not name or "<" in name or "." in name or not source.endswith(".py"):
        return None
    path = Path(source)
    try:
        shown = str(path.relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    return f"{shown}:{name}"


def command(
    request: Request, impl: str | None, x: NDArray[np.float64], y: NDArray[np.generic]
) -> str:
    """The ``gradcheck run`` command that checks this probe batch on its own (``--probes 0``).

    ``impl`` is the ``--impl`` argument; when the backward is a Python callable that cannot be
    named as ``FILE.py:FUNC`` it reads ``YOUR_FILE.py:FUNC`` (and an ``nn.Module`` instance
    given as ``model`` reads ``--model YOUR_FILE.py:MODEL``).
    """
    args = ["gradcheck", "run"]
    if request.model is not None:
        # An nn.Module instance (the API) has no command-line name: the user fills it in.
        model = request.model if isinstance(request.model, str) else "YOUR_FILE.py:MODEL"
        args += ["--model", model]
    for row in x:
        args += ["--x", *(_number(v) for v in row)]
    for row in np.asarray(y).reshape(x.shape[0], -1):
        if y.dtype.kind == "i":
            args += ["--target", *(str(int(v)) for v in row)]
        else:
            args += ["--target", *(_number(v) for v in row)]
    if request.layers is not None:
        args += ["--layers", ",".join(str(int(n)) for n in request.layers)]
    if request.activation is not None:
        activation = request.activation
        if not isinstance(activation, str):
            activation = ",".join(activation)
        args += ["--activation", activation]
    if request.output_activation is not None:
        args += ["--output-activation", request.output_activation]
    if request.loss != DEFAULT_LOSS:
        args += ["--loss", request.loss]
    if request.reduction != "mean":
        args += ["--reduction", request.reduction]
    if request.loss_scale != 1.0:
        args += ["--loss-scale", _number(request.loss_scale)]
    l2 = l2_option(request.l2)
    if l2 is not None:
        args += ["--l2", l2]
    if request.layout != "out_in":
        args += ["--layout", request.layout]
    if request.batch_axis != "first":
        args += ["--batch-axis", request.batch_axis]
    if request.dtype != "float64":
        args += ["--dtype", request.dtype]
    if request.weights is not None:
        args += ["--weights", request.weights]
    else:
        args += ["--seed", str(request.seed)]
    if request.atol is not None:
        args += ["--atol", _number(request.atol)]
    if request.rtol is not None:
        args += ["--rtol", _number(request.rtol)]
    if request.oracle is not None:
        args += ["--oracle", request.oracle]
    if request.oracle_sample is not None:
        args += ["--oracle-sample", str(request.oracle_sample)]
    if request.oracle is not None and request.oracle_budget != Request.oracle_budget:
        args += ["--oracle-budget", _number(request.oracle_budget)]
    args += ["--impl", impl if impl is not None else "YOUR_FILE.py:FUNC", "--probes", "0"]
    return shlex.join(args)
