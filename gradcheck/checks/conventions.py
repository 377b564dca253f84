"""The convention finder: when the user's gradients fail, are they right for a network that
differs only by a convention? What people get wrong: the loss (mse, bce, cross-entropy, incl.
"δL without σ′", which is bce's gradient), a constant factor (½, a mean over other counts, a
sum), the L2 term (absent, present, its λ per parameter, on biases), W's layout and the batch
axis.

How the search works, and why it stays bounded and fast:

- The structural alternatives are enumerated: every output activation/loss pair that fits and
  whose targets the batch allows (class indices ↔ one-hot rows; [0, 1] for bce), at most
  ``MAX_HEAD_CHANGES`` flags away (≤ 10 pairs), times the four ways to exchange arrays (layout
  × batch axis; the user's code is called at most once more for each of the three others).
- The continuous conventions are not enumerated but fitted: for each structural alternative
  the replica's data gradients g (mean reduction, scale 1, no L2; one float64 pass per pair)
  and the user's h give, by least squares, one factor k and one λ_p per parameter of 3 or
  more numbers (h_p = k·g_p + 2λ_p·p; smaller parameters take 0 or their layer's λ). That is a
  handful of dot products per alternative. k is then written as ``--loss-scale`` under the
  current or the other ``--reduction`` (the one whose scale is simplest: the batch size
  explains a factor B), and the λ as ``--l2 LAMBDA`` or ``--l2 NAME=LAMBDA,…``.
- A fit is only a hypothesis: every alternative is re-judged under the check's own rule
  (replica, float64) against every gradient, δ, ∂L/∂a and forward value the user gave, and
  only those with at most ``MAX_CHANGES`` changed flags are kept. They are ranked fewest
  changes first, and the first is confirmed with torch autograd (at most ``CONFIRMATIONS``
  are tried). Flags are named only when the check passes with them.
- Networks with more than ``MAX_WORK`` parameter × row products are not searched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.checks.diagnose import Finding
from gradcheck.checks.problem import Problem
from gradcheck.core import replica
from gradcheck.core.answer import Answer, course_values
from gradcheck.core.bounds import bounds
from gradcheck.core.compare import compare
from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import ACTIVATIONS, LOSSES, OUTPUT_ACTIVATIONS, REDUCTIONS
from gradcheck.core.spec import NetSpec, number_text
from gradcheck.core.tolerance import Tolerance, norm_tolerance
from gradcheck.io.usercode import Exchange

Array = NDArray[np.float64]

#: Alternatives with more changed flags than this are not tried (they explain too much).
MAX_CHANGES = 4
#: Loss and output-activation flags changed at most (the pair counts as up to two).
MAX_HEAD_CHANGES = 2
#: Networks bigger than this (parameters × rows) are not searched: each try is a full pass.
MAX_WORK = 2_000_000
#: Candidates confirmed with autograd before giving up.
CONFIRMATIONS = 3
#: Losses a convention mistake swaps between (l1 is a choice, not a slip).
SWAPPED_LOSSES = ("mse", "bce", "bce_logits", "cross_entropy", "nll")
#: Parameters with fewer numbers get no fitted λ: two numbers are proportional to anything.
MIN_FITTED = 3

#: Diagnosis kinds that say "the whole gradient is off by a constant", or that a gradient's
#: L2 term differs from the declared one: a convention finding restates them rather than
#: replacing them.
SCALE_KINDS = ("scale_factor_2", "batch_sum_vs_mean", "scale_factor", "sign_flipped")
RESTATED_KINDS = (
    *SCALE_KINDS,
    "l2_missing",
    "l2_factor",
    "l2_on_bias",
    "l2_wrong_layers",
    "l2_undeclared",
)

HandFor = Callable[[Exchange], Answer | None]  # exchange → the user's answer that way, or None


@dataclass(frozen=True)
class _Head:
    """An output activation and loss, with the batch's targets as that loss takes them."""

    output_activation: str
    loss: str
    y: NDArray[np.generic]
    note: str  # how the targets were turned into what this loss takes ("" when they were not)


@dataclass(frozen=True)
class _Candidate:
    spec: NetSpec
    y: NDArray[np.generic]
    exchange: Exchange
    flags: tuple[str, ...]
    note: str
    plainness: int  # 0: the scale as it was, 1: a simple one (½, 1, 2), 2: any other


def find_convention(
    problem: Problem, hand: Answer, exchange: Exchange, tolerance: Tolerance, hand_for: HandFor
) -> Finding | None:
    """A ``convention`` finding naming the flags under which ``hand`` passes, or None."""
    spec = problem.spec
    if spec.n_parameters * int(problem.x.shape[0]) > MAX_WORK:
        return None
    params = {k: np.asarray(v, dtype=np.float64) for k, v in problem.params.items()}
    x = np.asarray(problem.x, dtype=np.float64)
    answers: dict[Exchange, Answer | None] = {exchange: hand}
    found: list[_Candidate] = []
    with np.errstate(all="ignore"):
        for head in _heads(spec, problem.y):
            base = _base_spec(spec, head)
            if base is None:
                continue
            expected = _answer(base, params, x, head.y)
            for other in [exchange, *exchange.others()]:
                if other not in answers:
                    answers[other] = hand_for(other)
                answer = answers[other]
                if answer is None:
                    continue
                candidate = _fitted(spec, base, head, expected, answer, params, tolerance)
                if candidate is None:
                    continue
                flags = (*candidate.flags, *exchange.changes_to(other))
                if not flags or len(flags) > MAX_CHANGES:
                    continue
                candidate = replace(candidate, exchange=other, flags=flags)
                if _passes(
                    candidate.spec, params, x, head.y, answer, tolerance, spec.dtype, autograd=False
                ):
                    found.append(candidate)
    found.sort(key=lambda c: (len(c.flags), c.plainness))
    for candidate in found[:CONFIRMATIONS]:
        answer = answers[candidate.exchange]
        assert answer is not None
        with np.errstate(all="ignore"):
            confirmed = _passes(
                candidate.spec, params, x, candidate.y, answer, tolerance, spec.dtype, autograd=True
            )
        if confirmed:
            return _finding(spec, candidate, tolerance)
    return None


def _finding(spec: NetSpec, c: _Candidate, tolerance: Tolerance) -> Finding:
    shown = " ".join(c.flags)
    note = f" ({c.note})" if c.note else ""
    after = ""
    out = c.spec.output_record
    # "δL without f′": on an elementwise probability output, (ŷ − y) alone is bce's gradient
    elementwise = c.spec.output_activation in ACTIVATIONS
    if (
        spec.loss == "mse"
        and c.spec.loss == "bce"
        and elementwise
        and out.produces == "probabilities"
    ):
        f = f"{out.symbol}′(zL)"
        after = (
            f". If you mean mse, δL is missing the output's {f}: (ŷ − y)·{f} is mse's "
            "gradient, (ŷ − y) alone is bce's"
        )
    return Finding(
        "convention",
        None,
        None,
        f"your gradients are those of the same network with `{shown}`{note}: every check "
        "passes under that convention, so the derivation is right for that network; rerun "
        f"with those flags if it is the one you mean, or change the code to this one{after}",
        f"every gradient within atol + rtol·|autograd| + 4E of torch autograd's for the network "
        f"with {shown} (atol={tolerance.atol:g}, rtol={tolerance.rtol:g})",
        flags=c.flags,
    )


# ---------------------------------------------------------------------------------------------
# The structural alternatives


def _heads(spec: NetSpec, y: NDArray[np.generic]) -> list[_Head]:
    """Every output activation and loss pair that fits the network and the batch's targets,
    the current one first, then by the number of changed flags."""
    heads = []
    for loss_name in dict.fromkeys((spec.loss, *SWAPPED_LOSSES)):
        loss = LOSSES[loss_name]
        if spec.n_out < loss.min_outputs:
            continue
        targets = _targets(spec, y, loss_name)
        if targets is None:
            continue
        for out in OUTPUT_ACTIVATIONS:
            changes = (out != spec.output_activation) + (loss_name != spec.loss)
            # Over a single unit a row-wise output is constant (softmax ≡ 1, log_softmax ≡ 0):
            # every gradient is zero under it, so it would "explain" any gradients all zero.
            constant = spec.n_out == 1 and OUTPUT_ACTIVATIONS[out].mixes
            if out in loss.fits and changes <= MAX_HEAD_CHANGES and not constant:
                heads.append((changes, _Head(out, loss_name, *targets)))
    heads.sort(key=lambda h: h[0])
    return [h for _, h in heads]


def _targets(
    spec: NetSpec, y: NDArray[np.generic], loss_name: str
) -> tuple[NDArray[np.generic], str] | None:
    """The batch's targets as ``loss_name`` takes them, and a note if they had to change;
    None when they cannot be (targets that are not one-hot rows have no class indices)."""
    loss = LOSSES[loss_name]
    values = np.asarray(y)
    if spec.loss_record.takes_classes:
        if loss.takes_classes:
            return values, ""
        onehot = np.zeros((values.shape[0], spec.n_out))
        onehot[np.arange(values.shape[0]), values.astype(np.int64)] = 1.0
        return onehot, "with the class targets as one-hot rows"
    values = values.astype(np.float64)
    if loss.takes_classes:
        is_onehot = np.all((values == 0) | (values == 1)) and np.all(values.sum(axis=1) == 1)
        if not is_onehot:
            return None
        classes = np.argmax(values, axis=1).astype(np.int64)
        shown = ", ".join(map(str, classes[:6].tolist())) + (", …" if classes.size > 6 else "")
        return classes, f"with the one-hot targets as class indices: {shown}"
    if loss.target_range is not None:
        low, high = loss.target_range
        if np.any(values < low) or np.any(values > high):
            return None
    return values, ""


def _base_spec(spec: NetSpec, head: _Head) -> NetSpec | None:
    """``spec`` with ``head``'s loss, mean reduction, scale 1, no L2, in float64."""
    try:
        return replace(
            spec,
            output_activation=head.output_activation,
            loss=head.loss,
            reduction="mean",
            loss_scale=1.0,
            l2=0.0,
            l2_parameters=(),
            dtype="float64",
        )
    except GradcheckError:
        return None


def _answer(spec: NetSpec, params: Mapping[str, Array], x: Array, y: Any) -> Answer:
    """The replica's answer, with ∂L/∂a too (the user may have given dA)."""
    fwd, bwd = replica.gradients(spec, params, x, y)
    upstream = replica.upstream(spec, params, fwd, bwd)
    course = course_values(spec.reduction, int(x.shape[0]), bwd.deltas, upstream)
    return Answer(fwd.prediction, fwd.loss, bwd.grads, bwd.deltas, course)


# ---------------------------------------------------------------------------------------------
# The fitted conventions: a factor and the L2 term


def _fitted(
    spec: NetSpec,
    base: NetSpec,
    head: _Head,
    expected: Answer,
    hand: Answer,
    params: Mapping[str, Array],
    tolerance: Tolerance,
) -> _Candidate | None:
    """The network ``head`` gives with the factor and λ's fitted to ``hand``, or None."""
    rel = 10.0 * max(tolerance.rtol, 1e-12)
    fit = _least_squares(expected, hand, params, rel)
    if fit is None:
        return None
    k, lams = fit
    if not k > 0:  # a negative factor is a flipped sign, a bug and no convention
        return None
    if any(v < 0 for v in lams.values()):
        return None
    flags = []
    if head.output_activation != spec.output_activation:
        flags.append(f"--output-activation {head.output_activation}")
    if head.loss != spec.loss:
        flags.append(f"--loss {head.loss}")
    reduction, scale, plainness = _scale(spec, base, expected, k, rel)
    if reduction != spec.reduction:
        flags.append(f"--reduction {reduction}")
    if scale != spec.loss_scale:
        flags.append(f"--loss-scale {number_text(scale)}")
    l2 = _l2(lams, params, rel)
    same_l2 = {n: spec.l2_of(n) for n in params} == {n: _of(l2, n) for n in params}
    if not same_l2:
        flags.append(f"--l2 {_l2_option(l2)}")
    try:
        alt = replace(base, reduction=reduction, loss_scale=scale, **l2)
    except GradcheckError:
        return None
    return _Candidate(alt, head.y, Exchange(), tuple(flags), head.note, plainness)


def _least_squares(
    expected: Answer, hand: Answer, params: Mapping[str, Array], rel: float
) -> tuple[float, dict[str, float]] | None:
    """k and λ_p minimising Σ‖h_p − k·g_p − 2λ_p·p‖² (+ Σ‖h − k·g‖² over the δ the hand side
    gave): for a fixed k each λ_p is a projection on p, which leaves a one-variable
    problem in k on the parts of h_p and g_p orthogonal to p."""
    num = den = 0.0
    free: dict[str, Array] = {}
    pairs: list[tuple[Array, Array]] = [
        (np.asarray(hand.grads[name], np.float64), np.asarray(g, np.float64))
        for name, g in expected.grads.items()
    ]
    names = list(expected.grads)
    for i, name in enumerate(names):
        p = params[name].reshape(-1)
        h, g = (a.reshape(-1) for a in pairs[i])
        if p.size >= MIN_FITTED and float(p @ p) > 0:
            unit = p / math.sqrt(float(p @ p))
            h, g = h - (h @ unit) * unit, g - (g @ unit) * unit
            free[name] = unit
        num += float(h @ g)
        den += float(g @ g)
    # (a course's dZ and dA scale with the reduction chosen afterwards: judged, not fitted)
    for name, value in hand.deltas.items():
        if name in expected.deltas:
            h, g = (np.asarray(a, np.float64).reshape(-1) for a in (value, expected.deltas[name]))
            num += float(h @ g)
            den += float(g @ g)
    if not den > 0 or not math.isfinite(num):
        return None
    k = num / den
    lams = {}
    for name in names:
        p = params[name]
        h, g = np.asarray(hand.grads[name], np.float64), np.asarray(expected.grads[name])
        pp = float(np.sum(p * p))
        lam = float(np.sum((h - k * g) * p)) / (2.0 * pp) if name in free else 0.0
        # a term at rounding level next to the gradient is no term (its sign is noise)
        negligible = 2.0 * abs(lam) * float(np.max(np.abs(p))) <= rel * float(np.max(np.abs(h)))
        lams[name] = 0.0 if negligible else lam
    for name in names:
        if name in free or not name.startswith("b"):
            continue
        # a small bias takes its layer's λ when that fits it exactly, else none
        lam_w = lams.get("W" + name[1:], 0.0)
        p = params[name]
        h, g = np.asarray(hand.grads[name], np.float64), np.asarray(expected.grads[name])
        if lam_w > 0 and np.allclose(h, k * g + 2.0 * lam_w * p, rtol=1e-6, atol=0.0):
            lams[name] = lam_w
    return k, lams


def _simple(value: float, rel: float) -> float:
    """The shortest decimal within ``rel`` of ``value`` (1.5000001 → 1.5)."""
    for digits in range(1, 16):
        short = float(f"{value:.{digits}g}")
        if abs(short - value) <= rel * abs(value):
            return short
    return value


def _scale(
    spec: NetSpec, base: NetSpec, expected: Answer, k: float, rel: float
) -> tuple[str, float, int]:
    """(reduction, loss scale, plainness) for the factor k over the mean, scale-1 loss: the
    current reduction or the other one, whichever has the simpler scale (a factor that is the
    batch size is a sum), then the one that changes fewer flags."""
    assert expected.prediction is not None
    count = base.loss_record.count(np.asarray(expected.prediction))
    current = spec.loss_scale * (count if spec.reduction == "sum" else 1)
    if abs(k - current) <= rel * abs(current):
        return spec.reduction, spec.loss_scale, 0
    options = []
    for reduction in REDUCTIONS:
        scale = _simple(k / (count if reduction == "sum" else 1), rel)
        if scale == spec.loss_scale:
            plainness = 0
        elif scale in (0.5, 1.0, 2.0):
            plainness = 1
        else:
            plainness = 2
        changes = (reduction != spec.reduction) + (scale != spec.loss_scale)
        options.append((plainness, changes, reduction, scale))
    plainness, _, reduction, scale = min(options)
    return reduction, scale, plainness


def _l2(lams: Mapping[str, float], params: Mapping[str, Array], rel: float) -> dict[str, Any]:
    """``NetSpec`` keywords for fitted λ's: one λ for every weight when that is what they are,
    else λ per parameter; a λ whose whole term is below rounding is none."""
    kept = {}
    for name, lam in lams.items():
        size = float(np.max(np.abs(params[name]))) if params[name].size else 0.0
        if lam > 0 and 2.0 * lam * size > 1e-12:
            kept[name] = _simple(lam, rel)
    weights = {n for n in params if n.startswith("W")}
    values = set(kept.values())
    if kept and set(kept) == weights and len(values) == 1:
        return {"l2": values.pop(), "l2_parameters": ()}
    return {"l2": 0.0, "l2_parameters": tuple(kept.items())}


def _of(l2: Mapping[str, Any], name: str) -> float:
    if l2["l2_parameters"]:
        return float(dict(l2["l2_parameters"]).get(name, 0.0))
    return float(l2["l2"]) if name.startswith("W") else 0.0


def _l2_option(l2: Mapping[str, Any]) -> str:
    if l2["l2_parameters"]:
        return ",".join(f"{k}={number_text(v)}" for k, v in l2["l2_parameters"])
    return number_text(float(l2["l2"]))


# ---------------------------------------------------------------------------------------------


def _passes(
    spec: NetSpec,
    params: Mapping[str, Array],
    x: Array,
    y: NDArray[np.generic],
    hand: Answer,
    tolerance: Tolerance,
    dtype: str,
    *,
    autograd: bool,
) -> bool:
    """Whether every quantity ``hand`` gave passes the check's rule against ``spec``'s, with
    the rounding bounds and intervals of a check in ``dtype`` (the user's)."""
    if autograd:
        from gradcheck.torch_side import reference

        expected = reference.autograd(spec, params, x, y)
    else:
        expected = _answer(spec, params, x, y)
    pairs = [(k, expected.grads[k], hand.grads[k]) for k in expected.grads]
    for name in ("prediction", "loss"):
        mine, theirs = getattr(hand, name), getattr(expected, name)
        if mine is not None and theirs is not None:
            pairs.append((name, theirs, mine))
    pairs += [(k, expected.deltas[k], v) for k, v in hand.deltas.items() if k in expected.deltas]
    pairs += [(k, expected.course[k], v) for k, v in hand.course.items() if k in expected.course]
    # The check's own verdict: the elementwise rule with every element's rounding bound in the
    # user's dtype and its interval, and the per-tensor norm rule, so that a convention is never
    # credited for gradients too small for the elementwise rule to judge.
    limits = bounds(replace(spec, dtype=dtype), params, x, y)
    ntol = norm_tolerance(dtype, tolerance.rtol)
    return all(
        compare("convention", ref, got, tolerance, norm_tol=ntol, bounds=limits.get(k)).passed
        for k, ref, got in pairs
    )
