"""Many random cases at once: hand vs autograd (and the oracle) over a stack of cases.

Case k (k = 0 … N−1) uses torch's default initialisation under seed S + k — the weights
``gradcheck run --seed S+k`` builds — and a batch drawn from ``numpy.random.default_rng(S)``:
inputs x ~ U[−1, 1]; targets ~ U[0, 1] (mse, l1, bce_logits) or classes ~ U{0 … n_out−1}
(cross_entropy). Cases are checked a chunk at a time, stacked along a leading case axis:
the replica broadcasts over it and autograd runs once per chunk (``torch_side.stack``).

The hand side is a parameter (``HandSide``): the built-in replica by default, or a user's
backward (``--impl FILE.py:FUNC``, ``user_hand``), which the contract defines per batch and so is
called once per case.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck.checks.oracle import oracle_bounds, oracle_numbers, oracle_tolerance, side_bounds
from gradcheck.core import replica
from gradcheck.core.answer import Answer
from gradcheck.core.bounds import TensorBounds, bounds
from gradcheck.core.errors import GradcheckError
from gradcheck.core.oracle_methods import oracle_method
from gradcheck.core.spec import MEMORY_BUDGET, OUTPUT_BYTES, NetSpec, short_int
from gradcheck.core.tolerance import Summary, Tolerance, judge_rows, norm_tolerance

Array = NDArray[np.floating]

#: The hand side for a stack of cases: (spec, params (N, *shape), x (N, B, n_in), y) → results
#: with the same leading case axis.
HandSide = Callable[[NetSpec, Mapping[str, Array], Array, NDArray[np.generic]], Answer]

X_RANGE = (-1.0, 1.0)
#: ``sweep --impl``'s default rows per case: with one row, mean and sum over the batch agree,
#: so a batch-reduction bug in user code could not show.
IMPL_BATCH_SIZE = 3
TARGET_RANGE = (0.0, 1.0)
MAX_COUNT = 10**12  # --cases and --batch-size: far past any memory budget, far below overflow
MAX_SEED = 2**63 - 1  # torch.manual_seed's range as --seed accepts it
#: Memory allowed for what a sweep keeps for all its cases (inputs and per-case errors).
MAX_SWEEP_BYTES = 2**30
CHUNK_BYTES = 64 * 2**20  # working set per chunk of cases


def replica_hand(
    spec: NetSpec, params: Mapping[str, Array], x: Array, y: NDArray[np.generic]
) -> Answer:
    """The built-in hand derivation, over the whole stack at once."""
    # Overflow is reported as a failed case (NaN/inf never pass), not as a numpy warning.
    with np.errstate(all="ignore"):
        return replica.answer(spec, params, x, y)


def user_hand(fn: Callable[..., object], label: str) -> HandSide:
    """A user's backward (the ``--impl`` contract: one case per call) as a stacked hand side."""
    from gradcheck.io import usercode as userimpl

    def hand(
        spec: NetSpec, params: Mapping[str, Array], x: Array, y: NDArray[np.generic]
    ) -> Answer:
        # The contract takes one case (params without a case axis), so this loops over cases;
        # each answer is validated (keys, shapes) before it is stacked.
        answers = [
            userimpl.call_backward(
                fn, spec, {k: v[i] for k, v in params.items()}, x[i], y[i], label=label
            )
            for i in range(x.shape[0])
        ]
        first = answers[0]
        grads = {name: np.stack([a.grads[name] for a in answers]) for name in first.grads}
        deltas = {
            name: np.stack([a.deltas[name] for a in answers])
            for name in first.deltas
            if all(name in a.deltas for a in answers)
        }
        predictions = [a.prediction for a in answers if a.prediction is not None]
        losses = [a.loss for a in answers if a.loss is not None]
        return Answer(
            np.stack(predictions) if len(predictions) == len(answers) else None,
            np.stack(losses) if len(losses) == len(answers) else None,
            grads,
            deltas,
        )

    return hand


@dataclass(frozen=True)
class SweepSettings:
    spec: NetSpec
    cases: int
    seed: int
    batch_size: int
    tolerance: Tolerance
    oracle: str | None = None
    candidate: str = "replica"


@dataclass(frozen=True)
class Quantity:
    """One checked quantity across all cases: the verdict's summary with a case axis."""

    name: str  # "prediction", "loss", "W1", "delta2", …
    torch_name: str | None
    kind: str  # "forward" | "parameter" | "delta" | "oracle-autograd" | "oracle-hand"
    summary: Summary  # one row per case (``tolerance.judge_rows``), as a check's comparison

    @property
    def max_abs(self) -> Array:
        """(N,) max |hand − autograd| within each case."""
        return self.summary.max_abs

    @property
    def ratio(self) -> Array:
        """(N,) the largest judged elementwise ratio within each case; passes when ≤ 1."""
        return self.summary.max_ratio

    @property
    def passed(self) -> NDArray[np.bool_]:
        return self.summary.passed

    @property
    def norm_ratio(self) -> Array:
        """(N,) the norm rule's ratio (≤ 1 passes; 0 where it does not judge)."""
        return self.summary.norm_ratio

    @property
    def at_kink(self) -> NDArray[np.int64]:
        """(N,) elements that pass only inside their interval (a kink, a saturated output)."""
        return self.summary.n_in_interval

    @property
    def unjudged(self) -> NDArray[np.int64]:
        """(N,) elements with no finite bound: not judged."""
        return self.summary.n_unjudged

    @property
    def worst_ratio(self) -> Array:
        """(N,) the larger of the two rules' ratios: > 1 where the case fails."""
        return self.summary.worst_ratio

    @property
    def label(self) -> str:
        if self.kind == "oracle-autograd":
            return f"{self.name}: oracle vs autograd"
        if self.kind == "oracle-hand":
            return f"{self.name}: oracle vs hand"
        return f"{self.name} · {self.torch_name}" if self.torch_name else self.name


@dataclass(frozen=True)
class SweepReport:
    """Every case's verdict and the errors per quantity; the exit code it earns."""

    settings: SweepSettings
    quantities: tuple[Quantity, ...]
    x: Array  # (N, B, n_in) float64, as drawn
    target: NDArray[np.generic]  # (N, B, n_out) or (N, B)
    oracle_tolerance: Tolerance | None = None  # at |L| ≤ 1; atol grows with max(1, |L|)
    oracle_skipped: int = 0  # oracle elements not compared: their step straddles a kink

    @property
    def case_passed(self) -> NDArray[np.bool_]:
        return np.asarray(np.logical_and.reduce([q.passed for q in self.quantities]), dtype=bool)

    @property
    def n_passed(self) -> int:
        return int(np.count_nonzero(self.case_passed))

    @property
    def passed(self) -> bool:
        return self.n_passed == self.settings.cases

    @property
    def worst_case(self) -> int:
        """Index of the case furthest outside (or least inside) its tolerance."""
        ratios = np.max(np.stack([q.worst_ratio for q in self.quantities]), axis=0)
        return int(np.argmax(ratios))

    @property
    def worst_ratio(self) -> float:
        return float(max(q.worst_ratio[self.worst_case] for q in self.quantities))

    @property
    def at_kink(self) -> int:
        """Elements accepted inside their interval (a kink, a saturated output), over every
        case and quantity."""
        return sum(int(np.sum(q.at_kink)) for q in self.quantities)

    @property
    def unjudged(self) -> int:
        """Elements not judged (no finite bound), over every case and quantity."""
        return sum(int(np.sum(q.unjudged)) for q in self.quantities)

    def seed_of(self, case: int) -> int:
        return self.settings.seed + case

    @property
    def failed_seeds(self) -> list[int]:
        return [self.seed_of(int(i)) for i in np.flatnonzero(~self.case_passed)]

    def command(self, case: int) -> str:
        """The ``gradcheck run`` command that rechecks case ``case`` alone."""
        s = self.settings
        spec = s.spec
        args = ["gradcheck", "run"]
        for row in self.x[case]:
            args += ["--x", *(repr(float(v)) for v in row)]
        target = np.asarray(self.target[case])
        for row in target:
            values = [str(int(row))] if target.ndim == 1 else [repr(float(v)) for v in row]
            args += ["--target", *values]
        args += ["--seed", str(self.seed_of(case))]
        if spec.layers != NetSpec().layers:
            args += ["--layers", ",".join(map(str, spec.layers))]
        seed_net = NetSpec()
        for option, value, default in (
            ("--activation", spec.activation, seed_net.activation),
            ("--output-activation", spec.output_activation, seed_net.output_activation),
            ("--loss", spec.loss, seed_net.loss),
            ("--reduction", spec.reduction, seed_net.reduction),
            ("--loss-scale", f"{spec.loss_scale!r}", f"{seed_net.loss_scale!r}"),
            ("--l2", spec.l2_text, seed_net.l2_text),
            ("--dtype", spec.dtype, seed_net.dtype),
        ):
            if value != default:
                args += [option, value]
        if s.oracle is not None:
            args += ["--oracle", s.oracle]
        if s.candidate.startswith("impl:"):
            args += ["--impl", s.candidate.removeprefix("impl:")]
        return shlex.join(args)

    @property
    def exit_code(self) -> int:
        """0: every case within tolerance (and agreeing with the oracle); 1: any case is not.

        Bad input (code 2) raises ``GradcheckError`` before any case runs.
        """
        return 0 if self.passed else 1


def estimate_bytes(spec: NetSpec, cases: int, batch_size: int) -> int:
    """What a sweep keeps for all its cases: inputs, targets and per-case errors."""
    n_quantities = 2 + 3 * 2 * spec.depth + spec.depth  # forward, params (+ oracle), deltas
    per_case = 8 * (batch_size * (spec.n_in + spec.n_out) + 3 * n_quantities) + n_quantities
    return cases * per_case


def validate(spec: NetSpec, cases: int, seed: int, batch_size: int) -> None:
    """Refuse, before any work, a sweep that cannot run (exit 2)."""
    for option, value in (("--cases", cases), ("--batch-size", batch_size)):
        if value > MAX_COUNT:  # before any arithmetic: a 400-digit count has no float
            raise GradcheckError(
                f"{option}: {short_int(value)} is too large (at most {MAX_COUNT:,})"
            )
    if cases < 1:
        raise GradcheckError(f"--cases: must be ≥ 1, got {cases}")
    if batch_size < 1:
        raise GradcheckError(f"--batch-size: must be ≥ 1, got {batch_size}")
    if seed + cases - 1 > MAX_SEED:
        raise GradcheckError(
            f"--seed: seeds {seed} … {seed + cases - 1} go past torch's largest seed {MAX_SEED}"
        )
    one = case_bytes(spec, batch_size) + OUTPUT_BYTES
    if one > MEMORY_BUDGET:
        raise GradcheckError(
            f"--layers: one sweep case of {spec.n_parameters:,} parameters and {batch_size:,} "
            f"row{'s' if batch_size > 1 else ''} would need about {one / 2**30:.1f} GiB; the "
            f"limit is {MEMORY_BUDGET / 2**30:.0f} GiB (gradcheck run checks it with less)"
        )
    need = estimate_bytes(spec, cases, batch_size)
    if need > MAX_SWEEP_BYTES:
        raise GradcheckError(
            f"--cases: {cases:,} cases need about {need / 2**30:.1f} GiB for their inputs and "
            f"per-case results (limit {MAX_SWEEP_BYTES / 2**30:.0f} GiB); split the sweep into "
            "several runs with different --seed"
        )


def draw_batches(
    spec: NetSpec, cases: int, seed: int, batch_size: int
) -> tuple[Array, NDArray[np.generic]]:
    """Inputs (N, B, n_in) and targets for every case, from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(*X_RANGE, size=(cases, batch_size, spec.n_in))
    if spec.loss_record.takes_classes:
        y: NDArray[np.generic] = rng.integers(0, spec.n_out, size=(cases, batch_size))
    else:
        y = rng.uniform(*TARGET_RANGE, size=(cases, batch_size, spec.n_out))
    return x, y


#: A sweep's case holds more copies of each element than a run's check (``spec``'s 12): the
#: float64 stack of initial weights beside the dtype's, and the bounds' three arrays per
#: tensor (measured: 15 on 2→9000→9000→1).
SWEEP_COPIES_PER_ELEMENT = 16


def case_bytes(spec: NetSpec, batch_size: int) -> int:
    """The working set of one case of a sweep (its chunk holds one case or more)."""
    elements = spec.n_parameters + batch_size * sum(spec.layers)
    return SWEEP_COPIES_PER_ELEMENT * 8 * elements


def chunk_size(spec: NetSpec, batch_size: int, oracle: str | None) -> int:
    """Cases per chunk so that one chunk's arrays stay within ``CHUNK_BYTES``."""
    per_case = case_bytes(spec, batch_size)
    if oracle is not None and oracle_method(oracle).full:
        per_case *= 8
    return max(1, min(4096, CHUNK_BYTES // per_case))


def run_sweep(
    settings: SweepSettings,
    *,
    hand: HandSide | None = None,
    progress: Callable[[int], None] | None = None,
) -> SweepReport:
    """Check ``settings.cases`` random cases, a chunk at a time; ``progress(n)`` after each chunk.

    Args: the settings, the hand side for a stack of cases (default: ``replica_hand``), and an
    optional progress callback (cases done so far). Returns a ``SweepReport``. Raises
    ``GradcheckError`` for settings that cannot run.
    """
    s = settings
    spec = s.spec
    hand = replica_hand if hand is None else hand
    validate(spec, s.cases, s.seed, s.batch_size)
    if s.oracle is not None:
        from gradcheck.core.numeric import validate_method

        validate_method(spec, s.oracle)
    x, y = draw_batches(spec, s.cases, s.seed, s.batch_size)
    names = spec.parameters()
    step = chunk_size(spec, s.batch_size, s.oracle)
    parts: dict[tuple[str, str], list[Summary]] = {}
    ntol = norm_tolerance(spec.dtype, s.tolerance.rtol)
    torch_names: dict[str, str | None] = {p.name: p.torch_name for p in names}
    skipped = 0
    for start in range(0, s.cases, step):
        stop = min(start + step, s.cases)
        # One chunk's arrays live inside _chunk_errors only: held across the loop, the last
        # chunk's would stay alive while the next one's are made (a sweep of 5→1,617,738 with
        # 2 cases would reach 1.26× the estimate).
        errors, chunk_skipped = _chunk_errors(s, hand, x[start:stop], y[start:stop], start, ntol)
        for key, value in errors.items():
            parts.setdefault(key, []).append(value)
        skipped += chunk_skipped
        if progress is not None:
            progress(stop)
    quantities = tuple(
        Quantity(
            name,
            torch_names.get(name) if kind == "parameter" else None,
            kind,
            Summary.concatenate(chunks),
        )
        for (name, kind), chunks in parts.items()
    )
    oracle_tol = None if s.oracle is None else oracle_tolerance(s.oracle, spec.dtype, 1.0)
    return SweepReport(s, quantities, x, y, oracle_tol, skipped)


def _chunk_errors(
    s: SweepSettings,
    hand: HandSide,
    x: Array,
    y: NDArray[np.generic],
    start: int,
    ntol: float,
) -> tuple[dict[tuple[str, str], Summary], int]:
    """The verdict per case of each (quantity, kind) for the cases ``start`` … of one chunk
    (its inputs ``x``, targets ``y``), and the oracle's skipped elements."""
    from gradcheck.torch_side import stack

    spec = s.spec
    dtype = np.dtype(spec.dtype)
    names = spec.parameters()
    errors: dict[tuple[str, str], Summary] = {}
    skipped = 0
    params64 = stack.init_states(spec, range(s.seed + start, s.seed + start + len(x)))
    params = {k: v.astype(dtype, copy=False) for k, v in params64.items()}
    xc = x.astype(dtype)
    yc = y if y.dtype.kind == "i" else y.astype(dtype)
    ref = stack.autograd_stack(spec, params, xc, yc)
    got = hand(spec, params, xc, yc)
    limits = bounds(spec, params, xc, yc)
    tol = (s.tolerance.atol, s.tolerance.rtol)
    Pair = tuple[str, str, Array, Array, tuple[float | Array, float], TensorBounds | None]
    pairs: list[Pair] = []
    for name, expected, value in (
        ("prediction", ref.prediction, got.prediction),
        ("loss", ref.loss, got.loss),
    ):
        if expected is not None and value is not None:  # a user backward may return none
            pairs.append((name, "forward", expected, np.asarray(value), tol, limits[name]))
    pairs += [
        (p.name, "parameter", ref.grads[p.name], got.grads[p.name], tol, limits[p.name])
        for p in names
    ]
    pairs += [
        (name, "delta", ref.deltas[name], got.deltas[name], tol, limits[name])
        for name in ref.deltas
        if name in got.deltas
    ]
    if s.oracle is not None:
        numbers = oracle_numbers(spec, params, xc, yc, s.oracle)
        where = side_bounds(numbers, limits)
        # atol grows with each case's loss: one bound per case, broadcast over its elements
        atol, rtol = oracle_bounds(s.oracle, spec.dtype, np.asarray(ref.loss))
        per_case = (atol[:, None], rtol)
        for side, answer in (("autograd", ref), ("hand", got)):
            for name, candidate in numbers.candidates(answer.grads).items():
                reference_value = numbers.references[name]
                pairs.append(
                    (name, f"oracle-{side}", reference_value, candidate, per_case, where[name])
                )
        skipped += sum(n for _, n in numbers.skipped)
    for name, kind, reference_value, candidate, (atol_, rtol_), t in pairs:
        judged = kind in ("parameter", "delta")
        errors[(name, kind)] = per_case_errors(
            reference_value,
            np.asarray(candidate),
            atol_,
            rtol_,
            norm_tol=ntol if judged else None,
            limits=t,
        )
    return errors, skipped


def per_case_errors(
    reference_value: NDArray[np.generic],
    candidate: NDArray[np.generic],
    atol: float | Array,
    rtol: float | Array,
    *,
    norm_tol: float | None = None,
    limits: TensorBounds | None = None,
) -> Summary:
    """The one verdict (``tolerance.judge_rows``) per case (leading axis) with the bounds
    ``limits``; ``atol``/``rtol`` are numbers or per-case columns (N, 1)."""
    ref = np.asarray(reference_value, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.shape != cand.shape:
        raise GradcheckError(f"hand side: shape {cand.shape} does not match autograd's {ref.shape}")
    n = ref.shape[0]
    rows = (n, -1) if ref.size else (n, 0)
    given = (
        {}
        if limits is None
        else {
            k: np.reshape(np.broadcast_to(getattr(limits, k), ref.shape), rows)
            for k in ("center", "radius", "rounding")
        }
    )
    return judge_rows(ref.reshape(rows), cand.reshape(rows), atol, rtol, norm_tol, **given)


def median(values: Array) -> float:
    """Median of finite values (inf if none are finite).

    Not ``np.median``: its mean of the two middle values overflows past the float maximum
    (two errors of 1e308 have a median of about 1e308, not inf). Halfway from the lower to the
    higher cannot overflow when both have the same sign (nor a sum when they differ)."""
    finite = np.sort(values[np.isfinite(values)], axis=None)
    if not finite.size:
        return math.inf
    lo, hi = finite[(finite.size - 1) // 2], finite[finite.size // 2]
    return float((lo + hi) / 2 if (lo < 0) != (hi < 0) else lo + (hi - lo) / 2)
