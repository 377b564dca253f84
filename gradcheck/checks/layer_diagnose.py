"""Where a layer's bug is: the kind's classic bugs recognised from the numbers, and what else a
failing output or gradient equals.

A bug is named only when a failing quantity equals the value the bug produces (the record's
``Bug.values``) under the check's own rule, ``|hand − formula| ≤ atol + rtol·|formula| + 4E``
elementwise, E the quantity's rounding bound; each finding's ``test`` says which. Then, for what
no bug explains: NaN/inf, zeros, a flipped sign, a constant factor (the batch size above all),
another gradient's value (returned in the wrong place), float32 arithmetic in a float64 check,
the forward itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.checks.diagnose import Finding
from gradcheck.core.bounds import TensorBounds
from gradcheck.core.compare import Comparison
from gradcheck.core.layers.kind import Case
from gradcheck.core.tolerance import Tolerance, judge

Array = NDArray[np.float64]


def _rule(tol: Tolerance) -> str:
    return f"≤ atol + rtol·|·| + 4E elementwise, atol={tol.atol:g}, rtol={tol.rtol:g}"


def matches(
    hand: Array, formula: Array, tol: Tolerance, bounds: TensorBounds | None, dtype: str
) -> bool:
    """Whether ``hand`` equals ``formula`` under the check's rule, E the larger of the
    quantity's own bound (where the shapes agree) and ``LOOSE_ULPS``·√n·u·max|formula|: a
    bug's formula has roundings of its own, and a formula of another shape (the padding not
    cropped) no bound at all; either is far below any classic bug's difference."""
    h = np.asarray(hand, dtype=np.float64)
    f = np.asarray(formula, dtype=np.float64)
    if h.shape != f.shape or not np.all(np.isfinite(h)) or not np.all(np.isfinite(f)):
        return False
    u = float(np.finfo(np.dtype(dtype)).eps)
    largest = float(np.max(np.abs(f))) if f.size else 0.0
    rounding: Any = np.full(f.shape, LOOSE_ULPS * np.sqrt(max(f.size, 1)) * u * largest)
    if bounds is not None and np.shape(bounds.rounding) == f.shape:
        # a bug's formula rounds on its own terms (more of them, at a double-counted tie)
        rounding = np.maximum(rounding, np.asarray(bounds.rounding, dtype=np.float64))
    j = judge(f, h, tol.atol, tol.rtol, rounding=rounding)
    return bool(np.all(j.ok))


#: Ulps (times √n, of the largest value) a formula of another shape is matched within.
LOOSE_ULPS = 16.0


def diagnose_layer(
    case: Case,
    comparisons: tuple[Comparison, ...],
    problems: Mapping[str, str],
    hand: Mapping[str, Array],
    reference: Mapping[str, Array],
    bounds: Mapping[str, TensorBounds],
    tol: Tolerance,
) -> tuple[Finding, ...]:
    """Findings for a failed configuration, most useful first; ``()`` when nothing fails.

    ``hand`` holds what the user's code returned by quantity (``out``, ``dx`` …) in its own
    shape; ``reference`` torch's; ``bounds`` each quantity's center, radius and E.
    """
    by_name = {c.name: c for c in comparisons}
    failing = [c.name for c in comparisons if not c.passed] + [
        n for n in problems if n not in by_name or by_name[n].passed
    ]
    if not failing:
        return ()
    findings: list[Finding] = []
    explained: set[str] = set()
    for name in failing:
        c = by_name.get(name)
        if c is not None and c.n_nonfinite:
            findings.append(
                Finding(
                    "nonfinite",
                    None,
                    name,
                    f"{name} has {c.n_nonfinite} NaN or infinite element(s) (at "
                    f"{list(c.worst_index)} or elsewhere): an overflow, a 0/0, or an array left "
                    "uninitialised (np.empty)",
                )
            )
            explained.add(name)
    findings += _classic_bugs(case, failing, hand, bounds, tol, explained)
    for name in failing:
        if name in explained:
            continue
        found = _generic(case, name, hand, reference, bounds, tol, by_name)
        if found is not None:
            findings.append(found)
            explained.add(name)
    for name, text in problems.items():
        if name not in explained:
            findings.append(Finding("returned_shape", None, name, text))
            explained.add(name)
    rest = [n for n in failing if n not in explained]
    if rest:
        findings.append(_location(case, rest, by_name))
    return tuple(findings)


def _classic_bugs(
    case: Case,
    failing: list[str],
    hand: Mapping[str, Array],
    bounds: Mapping[str, TensorBounds],
    tol: Tolerance,
    explained: set[str],
) -> list[Finding]:
    out: list[Finding] = []
    skip = set(explained)  # NaN/inf: no formula to recognise
    named: set[str] = set()
    for bug in case.kind.bugs:
        with np.errstate(all="ignore"):
            values = bug.values(case)
        hits = [
            q
            for q in failing
            if q in values
            and q in hand
            and q not in skip
            and matches(hand[q], values[q], tol, bounds.get(q), case.dtype)
        ]
        if not hits:
            continue
        which = ", ".join(hits)
        verb = "equals" if len(hits) == 1 else "equal"
        out.append(
            Finding(
                "classic_bug",
                None,
                hits[0],
                f"{bug.says}: {which} {verb} what that gives. Fix: {bug.fix}",
                test=f"|{which} − {bug.id}({which})| {_rule(tol)}",
                bug=bug.id,
            )
        )
        named.update(hits)
    explained.update(named)
    return out


def _batch(case: Case) -> int:
    first = next(iter(case.inputs.values()))
    return int(np.shape(first)[0]) if np.ndim(first) else 1


def _generic(
    case: Case,
    name: str,
    hand: Mapping[str, Array],
    reference: Mapping[str, Array],
    bounds: Mapping[str, TensorBounds],
    tol: Tolerance,
    by_name: Mapping[str, Comparison],
) -> Finding | None:
    """What a failing quantity equals, when no classic bug explains it."""
    if name not in hand or name not in reference:
        return None
    h = np.asarray(hand[name], dtype=np.float64)
    a = np.asarray(reference[name], dtype=np.float64)
    b = bounds.get(name)
    rule = _rule(tol)
    if h.shape == a.shape and a.size and np.any(a) and not np.any(h):
        return Finding(
            "zeros",
            None,
            name,
            f"{name} is all zeros where autograd's is not: the gradient is never written "
            "(an accumulation into a fresh array that is not returned, or a loop that never runs)",
        )
    if h.shape == a.shape and matches(h, -a, tol, b, case.dtype):
        return Finding(
            "sign_flipped",
            None,
            name,
            f"{name} equals −autograd's {name}: the sign is flipped (a subtraction the wrong way "
            "round, or a loss's gradient of −L)",
            test=f"|{name} + autograd({name})| {rule}",
        )
    if h.shape == a.shape and np.sum(a * a) > 0:
        k = float(np.sum(h * a) / np.sum(a * a))
        if (
            np.isfinite(k)
            and k != 0
            and abs(k - 1) > 1e-6
            and matches(h, k * a, tol, _scaled(b, k), case.dtype)
        ):
            n = _batch(case)
            if n > 1 and abs(k - n) <= 1e-6 * n:
                what = f"×{n}, the batch size: a sum over the batch where the mean's 1/N belongs"
            elif n > 1 and abs(k - 1 / n) <= 1e-6 / n:
                what = f"×1/{n}: divided by the batch size N once too often"
            else:
                what = f"×{k:.6g}: a constant factor (a missing or extra scale)"
            return Finding(
                "scale_factor",
                None,
                name,
                f"{name} equals autograd's {name} {what}",
                test=f"|{name} − {k:.6g}·autograd({name})| {rule}",
            )
    for other, values in reference.items():
        if other != name and other.startswith("d") and np.shape(values) == h.shape:
            if matches(h, values, tol, bounds.get(other), case.dtype):
                return Finding(
                    "returned_in_wrong_place",
                    None,
                    name,
                    f"{name} equals autograd's {other}: the gradients are returned in the wrong "
                    f"order (the contract: {_returns(case)})",
                    test=f"|{name} − autograd({other})| {rule}",
                )
    c = by_name.get(name)
    if c is not None and h.shape == a.shape and case.dtype == "float64" and np.all(np.isfinite(h)):
        rel = np.abs(h - a) / np.maximum(np.abs(a), np.max(np.abs(a)) * 1e-3 + 1e-300)
        if 0 < float(np.max(rel)) < 1e-5:
            return Finding(
                "float32_rounding",
                None,
                name,
                f"{name} differs from autograd's by float32-sized amounts (relative "
                f"{float(np.max(rel)):.1e}): float32 arithmetic somewhere in a float64 check "
                "(np.float32 arrays, astype, torch's default dtype)",
            )
    return None


def _returns(case: Case) -> str:
    kind = case.kind
    return kind.backward_returns if kind.backward_name is not None else kind.returns


def _scaled(b: TensorBounds | None, k: float) -> TensorBounds | None:
    if b is None:
        return None
    return TensorBounds(k * b.center, abs(k) * b.radius, abs(k) * b.rounding)


def _location(case: Case, rest: list[str], by_name: Mapping[str, Comparison]) -> Finding:
    kind = case.kind
    passing = [c.name for c in by_name.values() if c.passed and c.name not in rest]
    if any(by_name.get(n) is not None and by_name[n].kind == "forward" for n in rest):
        names = ", ".join(
            n for n in rest if by_name.get(n) is not None and by_name[n].kind == "forward"
        )
        return Finding(
            "forward_mismatch",
            None,
            None,
            f"{names} differs from torch's: the forward ({kind.forward_name}) is wrong, and its "
            "gradients are compared with the correct layer's, so look at the forward first",
        )
    fine = f" ({', '.join(passing)} pass{'es' if len(passing) == 1 else ''})" if passing else ""
    which = ", ".join(rest)
    fails = "fails" if len(rest) == 1 else "fail"
    if not kind.bugs:
        return Finding(
            "layer",
            None,
            rest[0],
            f"{which} {fails}{fine}: look at how {which} {'is' if len(rest) == 1 else 'are'} "
            "formed from dout and the cache",
        )
    equal = "equals" if len(rest) == 1 else "equal"
    return Finding(
        "layer",
        None,
        rest[0],
        f"{which} {fails}{fine}, and {equal} none of {kind.name}'s classic bugs: compare the "
        f"derivation of {which} with docs/layers.md",
    )
