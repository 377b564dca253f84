"""The oracle's verdict: the numerical gradient compared with each side, and who disagrees.

Each side (autograd, hand) is compared with the oracle under a tolerance derived from the
oracle method's own error (``OracleMethod.error`` in ``core/oracle_methods.py``), not from the
dtype's default:

    atol = SAFETY · err · max(1, |L|),   rtol = SAFETY · err

with err = ε^order, from ε^(2/3) ≈ 3.7e-11 for central differences to ε ≈ 2.2e-16 for the
complex step, and SAFETY = 1000 for the unknown size of the loss's higher derivatives
(measured errors sit 100–1000× below these bounds). The sides themselves carry their dtype's
rounding (float32's is far above these): each comparison adds the side's rounding bound and
interval of valid values from ``core/bounds.py``, as the hand-vs-autograd verdict does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core import numeric
from gradcheck.core.bounds import Bounds, TensorBounds
from gradcheck.core.compare import Comparison, compare
from gradcheck.core.errors import GradcheckError
from gradcheck.core.oracle_methods import DIRECTIONAL, oracle_method
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import Tolerance

Array = NDArray[np.floating]

SAFETY = 1000.0
#: Rule for the oracle comparisons: the oracle is the reference, E the side's rounding bound.
RULE = "|side − oracle| ≤ atol + rtol·|oracle| + 4E"
RULE_ASCII = "|side - oracle| <= atol + rtol*|oracle| + 4E"

SIDES = ("autograd", "hand")


def oracle_tolerance(method: str, dtype: str, loss: float) -> Tolerance:
    """The bound for |side − oracle|: the method's error with a safety factor, plus float32's."""
    atol, rtol = oracle_bounds(method, dtype, np.asarray(loss, dtype=np.float64))
    return Tolerance(atol=float(atol), rtol=rtol)


def oracle_bounds(method: str, dtype: str, loss: Array) -> tuple[Array, float]:
    """``oracle_tolerance``'s (atol, rtol) for one loss or a case axis of losses (a sweep).

    The sides' own rounding (float32's, above all) is not in it: each comparison adds the side's
    rounding bound and interval from ``core/bounds.py`` (``side_bounds``)."""
    err = SAFETY * oracle_method(method).error
    magnitude = np.abs(np.asarray(loss, dtype=np.float64))
    # A non-finite loss leaves nothing for the oracle to judge (its elements are all unjudged);
    # the bound stays finite so that it can still be stated.
    magnitude = np.where(np.isfinite(magnitude), magnitude, 1.0)
    return err * np.maximum(1.0, magnitude), err


@dataclass(frozen=True)
class OracleNumbers:
    """The oracle's numbers and how a side's gradients are put against them.

    Full methods: one reference per parameter (``W1, b1, …``) and a mask of the elements whose
    step straddles a kink. A directional method: one reference ``vᵀ∇L`` of shape (…, K).
    """

    method: str
    references: dict[str, Array]
    kinks: dict[str, NDArray[np.bool_]]
    directional: numeric.Directional | None = None
    #: Elements the oracle cannot judge (non-finite loss, complex step overflowed).
    unjudged: Mapping[str, NDArray[np.bool_]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: ``--oracle-sample``: the flat indices checked per parameter (references, masks and
    #: candidates are then those elements only, in this order); empty: every element.
    samples: Mapping[str, NDArray[np.intp]] = field(default_factory=dict)

    def left_out(self, name: str) -> NDArray[np.bool_] | None:
        """Elements of ``name`` not compared: kinks and unjudged."""
        masks = [m[name] for m in (self.kinks, self.unjudged) if name in m]
        return np.logical_or.reduce(masks) if masks else None

    def candidates(self, grads: Mapping[str, NDArray[np.floating]]) -> dict[str, Array]:
        """A side's gradients, shaped like ``references``.

        Elements across a kink are left out: there the candidate is set to the oracle's own
        value, so the comparison cannot fail on them.
        """
        if self.directional is not None:
            found = {DIRECTIONAL_NAME: self.directional.project(grads)}
        else:
            found = {name: np.asarray(grads[name], dtype=np.float64) for name in self.references}
            for name, idx in self.samples.items():
                found[name] = found[name].reshape(-1)[idx]
        out = {}
        for name, ref in self.references.items():
            mask = self.left_out(name)
            out[name] = found[name] if mask is None else np.where(mask, ref, found[name])
        return out

    @property
    def skipped(self) -> tuple[tuple[str, int], ...]:
        """(name, elements not compared) for every parameter with any."""
        counts = ((name, int(np.count_nonzero(mask))) for name, mask in self.kinks.items())
        return tuple((name, n) for name, n in counts if n)

    @property
    def unjudged_counts(self) -> tuple[tuple[str, int], ...]:
        """(name, elements the oracle cannot judge) for every parameter with any."""
        counts = ((name, int(np.count_nonzero(mask))) for name, mask in self.unjudged.items())
        return tuple((name, n) for name, n in counts if n)

    @property
    def elements(self) -> int:
        """Elements the oracle was asked for (per case, summed over cases)."""
        return sum(int(np.size(ref)) for ref in self.references.values())

    @property
    def compared(self) -> int:
        """Elements actually compared: neither at a kink nor unjudged."""
        left = 0
        for name in self.references:
            mask = self.left_out(name)
            left += 0 if mask is None else int(np.count_nonzero(mask))
        return self.elements - left


DIRECTIONAL_NAME = "vᵀ∇L"


#: Called as the oracle works: (parameter elements done, elements in all, share of the work
#: done). Elements of layer 1 cost the most (every later layer is recomputed for each), so
#: the share of work, not of elements, is what predicts the time left.
Progress = Callable[[int, int, float], None]

#: Sample sizes offered, largest first, when the full oracle would not fit the budget.
SAMPLE_LADDER = (1000, 300, 100, 30, 10, 3, 1)


def oracle_numbers(
    spec: NetSpec,
    params: Mapping[str, Array],
    x: Array,
    y: NDArray[np.generic],
    method: str,
    *,
    sample: int | None = None,
    focus: Mapping[str, tuple[int, ...]] | None = None,
    autograd: Mapping[str, NDArray[np.floating]] | None = None,
    seed: int = 0,
    budget: float | None = None,
    progress: Progress | None = None,
) -> OracleNumbers:
    """Compute the oracle by ``method`` (arrays may carry a leading case axis).

    ``sample`` (a full method, one case) checks that many elements per parameter, chosen by
    ``sample_indices`` from ``autograd``'s gradients, the ``focus`` elements (the worst
    hand-vs-autograd ones) and ``seed``. ``budget`` (seconds) refuses, before any work, an
    oracle estimated to take longer, naming what would fit. ``progress`` hears of each block.
    """
    if not oracle_method(method).full:
        if budget:
            _within_budget(spec, params, x, y, method, None, budget)
        d = numeric.directional(spec, params, x, y)
        kinks = {} if d.kinks is None else {DIRECTIONAL_NAME: d.kinks}
        unjudged: dict[str, NDArray[np.bool_]] = {}
        notes: tuple[str, ...] = ()
        if not np.all(np.isfinite(d.derivatives)):
            unjudged = {DIRECTIONAL_NAME: ~np.isfinite(d.derivatives)}
            notes = ("the loss is not finite along some directions, so no difference exists",)
        return OracleNumbers(method, {DIRECTIONAL_NAME: d.derivatives}, kinks, d, unjudged, notes)
    samples: dict[str, NDArray[np.intp]] = {}
    units: dict[int, NDArray[np.intp]] | None = None
    if sample is not None:
        if autograd is None:
            raise ValueError("a sampled oracle needs autograd's gradients to choose from")
        samples = sample_indices(spec, sample, seed, autograd, focus or {})
        units = units_for(spec, samples)
    if budget:
        _within_budget(spec, params, x, y, method, units, budget)
    counts = {
        layer: spec.layers[layer] if units is None else len(units[layer])
        for layer in range(1, spec.depth + 1)
    }
    batch = math.prod(np.shape(x)[:-1])
    unit_work = {layer: numeric.cost(spec, batch, method, {layer: 1}) for layer in counts}
    total = sum((spec.layers[layer - 1] + 1) * n for layer, n in counts.items())
    total_work = sum(unit_work[layer] * n for layer, n in counts.items()) or 1.0
    done, work = 0, 0.0

    def advance(layer: int, n: int) -> None:
        nonlocal done, work
        done += n * (spec.layers[layer - 1] + 1)
        work += n * unit_work[layer]
        if progress is not None:
            progress(done, total, min(1.0, work / total_work))

    found = numeric.full_gradient(spec, params, x, y, method, units=units, progress=advance)
    if not samples:
        return OracleNumbers(method, found.grads, found.kinks, None, found.unjudged, found.notes)

    def pick(arrays: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        return {name: arrays[name].reshape(-1)[idx] for name, idx in samples.items()}

    return OracleNumbers(
        method,
        pick(found.grads),
        pick(found.kinks),
        None,
        pick(found.unjudged),
        found.notes,
        samples,
    )


def sample_indices(
    spec: NetSpec,
    k: int,
    seed: int,
    autograd: Mapping[str, NDArray[np.floating]],
    focus: Mapping[str, tuple[int, ...]],
) -> dict[str, NDArray[np.intp]]:
    """``--oracle-sample``: ``k`` flat indices per parameter, sorted.

    Always the ``focus`` element (the worst hand-vs-autograd one) and the element of largest
    |autograd| (for ``k`` = 1 only the first), the rest uniform without replacement from
    ``numpy.random.default_rng([seed, i])`` for the i-th parameter; every element when the
    parameter has no more than ``k``.
    """
    out: dict[str, NDArray[np.intp]] = {}
    for i, p in enumerate(spec.parameters()):
        size = math.prod(p.shape)
        if size <= k:
            out[p.name] = np.arange(size)
            continue
        g = np.abs(np.asarray(autograd[p.name], dtype=np.float64)).reshape(-1)
        must: list[int] = []  # the worst element first: it is where a wrong side shows most
        if focus.get(p.name):
            must.append(int(np.ravel_multi_index(focus[p.name], p.shape)))
        largest = int(np.argmax(np.where(np.isfinite(g), g, np.inf)))
        if largest not in must:
            must.append(largest)
        must = must[:k]
        rng = np.random.default_rng([seed, i])
        drawn = rng.choice(size, size=min(size, k + len(must)), replace=False)
        rest = [int(j) for j in drawn if int(j) not in must][: k - len(must)]
        out[p.name] = np.sort(np.array([*must, *rest], dtype=np.intp))
    return out


def units_for(
    spec: NetSpec, samples: Mapping[str, NDArray[np.intp]]
) -> dict[int, NDArray[np.intp]]:
    """The units (rows of W_l, entries of b_l) whose perturbation yields the sampled elements."""
    units = {}
    for layer in range(1, spec.depth + 1):
        rows = samples[f"W{layer}"] // spec.layers[layer - 1]
        units[layer] = np.unique(np.concatenate([rows, samples[f"b{layer}"]]))
    return units


#: The timed block runs at full speed; a whole oracle also pays for its later layers' smaller
#: blocks, the masks and the one-sided differences at kinks: measured on the MNIST case, the
#: bare estimate was 0.63–0.82× the time taken. The margin brings it to about 1×.
ESTIMATE_MARGIN = 1.5


def estimate_seconds(
    spec: NetSpec, batch: int, method: str, units: Mapping[int, int] | None, speed: float
) -> float:
    """The oracle's time here: its multiply-adds (``numeric.cost``) at ``speed`` (from
    ``numeric.rate``), with ``ESTIMATE_MARGIN``."""
    return ESTIMATE_MARGIN * numeric.cost(spec, batch, method, units) / speed


def _within_budget(
    spec: NetSpec,
    params: Mapping[str, Array],
    x: Array,
    y: NDArray[np.generic],
    method: str,
    units: Mapping[int, NDArray[np.intp]] | None,
    budget: float,
) -> None:
    """Refuse an oracle estimated to take longer than ``budget`` seconds, naming what fits."""
    batch = math.prod(np.shape(x)[:-1])
    speed = numeric.rate(spec, params, x, y)

    def seconds(method: str, units: Mapping[int, int] | None) -> float:
        return estimate_seconds(spec, batch, method, units, speed)

    counts = None if units is None else {layer: len(u) for layer, u in units.items()}
    estimate = seconds(method, counts)
    if estimate <= budget:
        return
    options = []
    full = oracle_method(method).full
    for k in SAMPLE_LADDER:
        worst_case = {n: min(spec.layers[n], 2 * k) for n in range(1, spec.depth + 1)}
        if full and seconds(method, worst_case) <= budget:
            options.append(f"--oracle-sample {k} (about {_time(seconds(method, worst_case))})")
            break
    directional = seconds(DIRECTIONAL, None)
    if full and directional <= budget:
        options.append(f"--oracle {DIRECTIONAL} (about {_time(directional)})")
    what = (
        f"{sum(len(u) for u in units.values()):,} units' elements"
        if units is not None
        else f"{spec.n_parameters:,} parameters"
    )
    fits = " or ".join(options) if options else "a smaller batch or network"
    raise GradcheckError(
        f"--oracle-budget: the {method} oracle would take about {_time(estimate)} here "
        f"({what}, batch {batch}; estimated from a timed sample), over the budget of "
        f"{budget:g} s; within it: {fits}; or raise --oracle-budget (0: no limit)"
    )


def _time(seconds: float) -> str:
    if seconds < 100:
        return f"{seconds:.2g} s"
    return f"{seconds / 60:.0f} min" if seconds < 6000 else f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class OracleCheck:
    """Oracle vs autograd and oracle vs hand, per parameter (or per direction v1 … vK)."""

    method: str
    tolerance: Tolerance
    vs_autograd: tuple[Comparison, ...]  # reference = oracle, candidate = autograd
    vs_hand: tuple[Comparison, ...]  # reference = oracle, candidate = hand
    skipped: tuple[tuple[str, int], ...] = ()  # (name, elements whose step straddles a kink)
    unjudged: tuple[tuple[str, int], ...] = ()  # (name, elements the oracle cannot judge)
    notes: tuple[str, ...] = ()  # why elements are unjudged
    elements: int = 0  # elements the oracle computed
    compared: int = 0  # of which compared with the sides
    #: ``--oracle-sample``: flat indices of the elements checked per parameter; the
    #: comparisons are then over those elements, in this order. Empty: every element.
    samples: Mapping[str, NDArray[np.intp]] = field(default_factory=dict)

    @property
    def full(self) -> bool:
        """Whether it compared every element (per parameter), not projections (per direction)."""
        return oracle_method(self.method).full

    def value_at(self, name: str, index: tuple[int, ...], shape: tuple[int, ...]) -> float | None:
        """The oracle's value of parameter ``name`` (of ``shape``) at ``index``; None if the
        oracle has none there (not sampled, or not a parameter it computed)."""
        ref = next((c.reference for c in self.vs_autograd if c.name == name), None)
        if ref is None:
            return None
        values = np.asarray(ref, dtype=np.float64)
        if name not in self.samples:
            return float(values[index])
        flat = int(np.ravel_multi_index(index, shape)) if shape else 0
        at = np.searchsorted(self.samples[name], flat)
        if at < len(self.samples[name]) and self.samples[name][at] == flat:
            return float(values[at])
        return None

    @property
    def checked(self) -> bool:
        """Whether the oracle compared at least half of its elements: else it could not check."""
        return self.compared > 0 and 2 * self.compared >= self.elements

    @property
    def warnings(self) -> tuple[str, ...]:
        """One line per parameter with elements left out of the comparison, and the reasons."""
        kinks = tuple(
            f"oracle: {n} element(s) of {name} not compared: every {self.method} step moves a "
            "value across a kink there (on both sides), so no difference is a derivative"
            for name, n in self.skipped
        )
        unjudged = tuple(
            f"oracle: {n} element(s) of {name} not compared: the oracle cannot judge them"
            for name, n in self.unjudged
        )
        return kinks + unjudged + tuple(f"oracle: {note}" for note in self.notes)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.vs_autograd + self.vs_hand)

    @property
    def disagreeing(self) -> tuple[str, ...]:
        """Which sides disagree with the oracle: a subset of ("autograd", "hand")."""
        out = []
        for side, comparisons in zip(SIDES, (self.vs_autograd, self.vs_hand), strict=True):
            if not all(c.passed for c in comparisons):
                out.append(side)
        return tuple(out)

    @property
    def failed(self) -> tuple[str, ...]:
        """``W2 (oracle vs hand)``-style names of the failing comparisons."""
        return tuple(
            f"{c.name} (oracle vs {side})"
            for side, comparisons in zip(SIDES, (self.vs_autograd, self.vs_hand), strict=True)
            for c in comparisons
            if not c.passed
        )

    @property
    def verdict(self) -> str:
        """One sentence naming the side that disagrees with the oracle."""
        names = {
            side: ", ".join(c.name for c in comparisons if not c.passed)
            for side, comparisons in zip(SIDES, (self.vs_autograd, self.vs_hand), strict=True)
        }
        if not self.checked:
            why = f"; {self.notes[0]}" if self.notes else ""
            return (
                f"the {self.method} oracle could not check: {self.elements - self.compared:,} of "
                f"{self.elements:,} elements left out (at kinks or unjudged){why}"
            )
        match self.disagreeing:
            case ():
                on = f" on a sample of {self.elements:,} elements" if self.samples else ""
                return f"the {self.method} oracle agrees with autograd and hand-derived{on}"
            case ("hand",):
                return (
                    f"hand-derived is wrong: {names['hand']} disagree(s) with the "
                    f"{self.method} oracle, which agrees with autograd"
                )
            case ("autograd",):
                return (
                    f"autograd disagrees with the oracle: {names['autograd']} (the "
                    f"{self.method} oracle agrees with hand-derived)"
                )
            case _:
                return (
                    f"both autograd ({names['autograd']}) and hand-derived ({names['hand']}) "
                    f"disagree with the {self.method} oracle (a shared mistake, or a kink "
                    "within the step of a pre-activation)"
                )


def side_bounds(numbers: OracleNumbers, limits: Bounds) -> dict[str, TensorBounds]:
    """Where a correct side lies, shaped like ``numbers.references``: each parameter's interval
    and rounding bound (``core/bounds.py``), at the sampled elements, or projected on the
    directions (vᵀ·center, |v|ᵀ·radius, |v|ᵀ·E)."""
    if numbers.directional is not None:
        d = numbers.directional
        parts = {}
        for field_name in ("center", "radius", "rounding"):
            values = {name: getattr(limits[name], field_name) for name in d.directions}
            parts[field_name] = d.project(values, absolute=field_name != "center")
        c, r, e = (np.asarray(parts[k], np.float64) for k in ("center", "radius", "rounding"))
        return {DIRECTIONAL_NAME: TensorBounds(c, r, e)}
    out = {}
    for name in numbers.references:
        t = limits[name]
        if name in numbers.samples:
            idx = numbers.samples[name]
            t = TensorBounds(*(np.asarray(np.reshape(v, -1)[idx], np.float64) for v in _parts(t)))
        out[name] = t
    return out


def judge(
    numbers: OracleNumbers,
    spec: NetSpec,
    *,
    autograd: Mapping[str, NDArray[np.floating]],
    hand: Mapping[str, NDArray[np.floating]],
    loss: float,
    limits: Bounds | None = None,
) -> OracleCheck:
    """Compare both sides' gradients with the oracle's ``numbers`` (from ``oracle_numbers``).

    Full methods compare every parameter (names ``W1, b1, …``); ``directional`` compares
    vₖᵀg for each seeded direction (names ``v1 … vK``). ``limits`` (``core/bounds.py``) add
    each side's own rounding bound and interval to the oracle's tolerance: in float32 the sides
    differ from the float64 oracle by their rounding, which the method's error does not cover.
    """
    tol = oracle_tolerance(numbers.method, spec.dtype, loss)
    torch_names = {p.name: p.torch_name for p in spec.parameters()}
    where = side_bounds(numbers, limits) if limits is not None else {}

    def against(grads: Mapping[str, NDArray[np.floating]]) -> tuple[Comparison, ...]:
        triples = [
            (name, numbers.references[name], candidate, where.get(name))
            for name, candidate in numbers.candidates(grads).items()
        ]
        if numbers.directional is not None:  # one comparison per direction: v1 … vK
            ((_, ref, cand, t),) = triples
            triples = [
                (
                    f"v{k + 1}",
                    ref[..., k],
                    cand[..., k],
                    None
                    if t is None
                    else TensorBounds(*(np.asarray(v[..., k], np.float64) for v in _parts(t))),
                )
                for k in range(ref.shape[-1])
            ]
        return tuple(
            compare(name, ref, cand, tol, kind="oracle", torch_name=torch_names.get(name), bounds=t)
            for name, ref, cand, t in triples
        )

    return OracleCheck(
        numbers.method,
        tol,
        against(autograd),
        against(hand),
        numbers.skipped,
        numbers.unjudged_counts,
        numbers.notes,
        numbers.elements,
        numbers.compared,
        dict(numbers.samples),
    )


def _parts(t: TensorBounds) -> tuple[Array, Array, Array]:
    return (t.center, t.radius, t.rounding)
