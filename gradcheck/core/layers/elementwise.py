"""Elementwise kinds: every activation record marked ``layer_kind`` (``core/functions.py``) as a
layer of its own, and dropout. Their numerics are the records' f and f′; a kind here adds how a
course calls it, its probes and its classic bugs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.functions import ACTIVATIONS, Activation
from gradcheck.core.layers import structure
from gradcheck.core.layers.evaluate import plain
from gradcheck.core.layers.kind import Argument, Bug, Case, Hyper, LayerKind, Setup, Values
from gradcheck.core.layers.tracked import Rounding, Tracked, apply, select

Array = NDArray[np.float64]


# ---------------------------------------------------------------------------------------------
# An activation as a layer: out = f(x), dx = dout ⊙ f′(x)


def _bound(act: Activation, p: Mapping[str, Any]) -> Activation:
    return act.bind(p.get(act.parameter)) if act.parameter else act


def _activation_math(act: Activation) -> tuple[Any, Any]:
    def forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
        f = _bound(act, p)
        x = a["x"]
        return {"out": apply(x, f.f, f.df, f.bounded)}, x

    def backward(d: Values, x: Any, p: Mapping[str, Any]) -> dict[str, Any]:
        f = _bound(act, p)
        # f′ computed from the output (σ′ = a(1 − a)) loses ~ε absolutely: the records' bound.
        slope = apply(x, f.df, lambda v: np.zeros_like(v), 2.0 * f.bounded)
        return {"x": d["out"] * slope}

    return forward, backward


def _one_sided(act: Activation, at: Array) -> tuple[Array, Array]:
    return (
        np.asarray(act.df(np.nextafter(at, -np.inf)), dtype=np.float64),
        np.asarray(act.df(np.nextafter(at, np.inf)), dtype=np.float64),
    )


def _activation_intervals(act: Activation) -> Any:
    points = tuple(sorted(set(act.kinks) | set(act.switches)))

    def intervals(
        case: Case, ref: Mapping[str, Array], hand: Mapping[str, Array]
    ) -> dict[str, tuple[Array, ...]]:
        f = _bound(act, case.params)
        x = np.asarray(case.inputs["x"], dtype=np.float64)
        # Inputs are exact (both sides have the same numbers): only an argument exactly at a
        # kink has two derivatives, both one-sided ones valid (relu′(0) is 0 for torch).
        at = np.zeros(x.shape, dtype=bool)
        for k in points:
            at |= x == k
        if not at.any():
            return {}
        below, above = _one_sided(f, x)
        dout = np.asarray(case.douts["dout"], dtype=np.float64)
        lo, hi = dout * below, dout * above
        grad = plain(case)["dx"]
        center = np.where(at, (lo + hi) / 2.0, grad)
        radius = np.where(at, np.abs(hi - lo) / 2.0, 0.0)
        return {"x": (center, radius)}

    return intervals if points else None


def _activation_bugs(act: Activation) -> tuple[Bug, ...]:
    def dout_of(case: Case) -> Array:
        return np.asarray(case.douts["dout"], dtype=np.float64)

    def x_of(case: Case) -> Array:
        return np.asarray(case.inputs["x"], dtype=np.float64)

    prime = act.derivative_formula.split(" = ")[0]
    bugs = [
        Bug(
            "upstream_missing",
            f"dx is {prime} alone, without dout",
            f"multiply by the upstream gradient: dx = dout * {prime}",
            lambda case: {"dx": np.asarray(_bound(act, case.params).df(x_of(case)))},
        ),
        Bug(
            "function_of_dout",
            f"dx is {act.symbol} applied to dout instead of dout times {prime}",
            f"dx = dout * {prime}, with {act.derivative_formula}",
            lambda case: {"dx": np.asarray(_bound(act, case.params).f(dout_of(case)))},
        ),
    ]
    from_output = act.df_from_output
    if from_output is not None:
        formula = act.df_from_output_formula
        bugs += [
            Bug(
                "derivative_at_input",
                f"dx uses {formula} with the input x where the output belongs: "
                f"{prime} evaluated at the pre-activation",
                f"{formula} takes a = {act.symbol}(x), the forward's output (keep it in the cache)",
                lambda case: {"dx": dout_of(case) * from_output(x_of(case))},
            ),
            Bug(
                "derivative_of_output",
                f"dx is {prime} evaluated at the output a = {act.symbol}(x), i.e. at "
                f"{act.symbol}({act.symbol}(x))",
                f"either {act.derivative_formula} at x, or {formula} at the output",
                lambda case: {"dx": dout_of(case) * act.df(np.asarray(act.f(x_of(case))))},
            ),
        ]
    if act.family is not None and act.parameter is not None:
        flat = act.family(0.0)
        bugs.append(
            Bug(
                "parameter_dropped",
                f"dx is {flat.name}-like: the {act.parameter} of the negative side is dropped "
                "(dx = 0 where x ≤ 0)",
                f"dx = dout * (1 where x > 0, else {act.parameter})",
                lambda case: {"dx": dout_of(case) * flat.df(x_of(case))},
            )
        )
    return tuple(bugs)


def activation_kind(act: Activation) -> LayerKind:
    """The layer kind of an activation record: ``NAME_forward(x)`` → ``(out, cache)``,
    ``NAME_backward(dout, cache)`` → ``dx``; a parameterised one takes ``NAME_param``."""
    forward, backward = _activation_math(act)
    hyper: tuple[Hyper, ...] = ()
    if act.parameter is not None and act.value is not None:
        hyper = (Hyper(act.parameter, float, act.value, f"the {act.parameter} of torch's module"),)
    return LayerKind(
        name=act.name,
        title=f"{act.formula}, elementwise; {act.derivative_formula}",
        family="activation",
        forward_name=f"{act.name}_forward",
        backward_name=f"{act.name}_backward",
        arguments=(Argument("x", ("S*",)),),
        outputs=("out",),
        hyper=hyper,
        param_dict=f"{act.name}_param" if hyper else None,
        default=Setup({"S*": (4, 6)}),
        probes=(
            Setup({"S*": (1, 7)}, values="wide", note="batch 1, values ×20 (saturating)"),
            Setup({"S*": (3, 2, 5)}, values="ties", note="small integers: x exactly 0 included"),
        ),
        forward=forward,
        backward=backward,
        output_shapes=lambda dims, p: {"out": tuple(dims["S*"])},
        structure={"x": structure.elementwise()},
        bugs=_activation_bugs(act),
        intervals=_activation_intervals(act),
        activation=act,
    )


ACTIVATION_KINDS = tuple(activation_kind(a) for a in ACTIVATIONS.values() if a.layer_kind)


# ---------------------------------------------------------------------------------------------
# dropout (inverted, as courses write it): train out = x·mask/p, p the probability of keeping

#: A kept fraction further than this many standard deviations from p is no dropout mask.
MASK_SIGMAS = 6.0


def _train(p: Mapping[str, Any]) -> bool:
    return bool(p["mode"] == "train")


def dropout_forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    x = a["x"]
    if not _train(p):
        return {"out": x}, None
    scaled = _scaled_mask(a["mask"], float(p["p"]), x)
    return {"out": x * scaled}, scaled


def dropout_backward(d: Values, scaled: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    dout = d["out"]
    return {"x": dout if scaled is None else dout * scaled}


def _scaled_mask(mask: NDArray[Any], keep: float, like: Any) -> Any:
    """mask/p: 0 or 1/p, the latter rounded once."""
    m = np.asarray(mask, dtype=np.float64) / keep
    if isinstance(like, Tracked):
        r: Rounding = like.r
        return Tracked(m, r.u * np.abs(m), r)
    return m


def _read_mask(case: Case, outs: Mapping[str, Array]) -> tuple[dict[str, NDArray[Any]], str | None]:
    """The kept units, read from the user's own output (where x ≠ 0: where x is 0 the output is
    0 either way, and ``_dropout_intervals`` takes both), and a sentence if the kept fraction
    cannot come from a mask that keeps each unit with p."""
    out = np.asarray(outs["out"], dtype=np.float64)
    kept = out != 0
    if not _train(case.params):
        return {"mask": kept}, None
    readable = np.asarray(case.inputs["x"]) != 0
    n = int(np.count_nonzero(readable))
    keep = float(case.params["p"])
    k = int(np.count_nonzero(kept & readable))
    spread = MASK_SIGMAS * math.sqrt(n * keep * (1.0 - keep))
    if abs(k - n * keep) <= spread + 1:
        return {"mask": kept}, None
    expected = f"{n * keep:.0f} ± {spread / MASK_SIGMAS:.0f}"
    if abs(k - n * (1 - keep)) <= spread + 1 and keep != 0.5:
        why = (
            "p is used as the probability of dropping; dropout_param['p'] is the probability of "
            "keeping a unit (mask = np.random.rand(*x.shape) < p)"
        )
    elif k == n:
        why = "no unit is dropped: is the mask applied in the forward?"
    else:
        why = "the mask does not keep each unit with probability p"
    problem = f"out keeps {k} of {n} units where p = {keep:g} keeps about {expected}: {why}"
    return {"mask": kept}, problem


def _dropout_intervals(
    case: Case, ref: Mapping[str, NDArray[Any]], hand: Mapping[str, NDArray[Any]]
) -> dict[str, tuple[Array, ...]]:
    """Where x is exactly 0 the output cannot tell whether the unit was kept: dx there is 0 or
    dout/p, and either is right."""
    x = np.asarray(case.inputs["x"], dtype=np.float64)
    unread = x == 0
    if not _train(case.params) or not unread.any():
        return {}
    dout = np.asarray(case.douts["dout"], dtype=np.float64)
    kept = dout / float(case.params["p"])
    grad = plain(case)["dx"]
    center = np.where(unread, kept / 2.0, grad)
    radius = np.where(unread, np.abs(kept) / 2.0, 0.0)
    return {"x": (center, radius)}


def _dropout_bugs(case: Case) -> dict[str, dict[str, Array]]:
    x = np.asarray(case.inputs["x"], dtype=np.float64)
    dout = np.asarray(case.douts["dout"], dtype=np.float64)
    keep = float(case.params["p"])
    mask = np.asarray(case.extra.get("mask", np.ones(x.shape)), dtype=np.float64)
    out: dict[str, dict[str, Array]] = {
        "mask_not_applied": {"dx": dout, "out": x},
        "not_scaled": {"out": x * mask, "dx": dout * mask},
    }
    if keep != 0.5:
        out["p_as_drop_probability"] = {
            "out": x * mask / (1 - keep),
            "dx": dout * mask / (1 - keep),
        }
    if not _train(case.params):
        out["dropped_in_test_mode"] = {"out": x * mask / keep, "dx": dout * mask / keep}
    return out


def _dropout_bug(id: str, says: str, fix: str, shows: str = "") -> Bug:
    return Bug(id, says, fix, lambda case: _dropout_bugs(case).get(id, {}), shows)


DROPOUT = LayerKind(
    name="dropout",
    title="inverted dropout: out = x·mask/p in train mode (p keeps a unit), x in test mode",
    family="activation",
    forward_name="dropout_forward",
    backward_name="dropout_backward",
    arguments=(Argument("x", ("N", "D")),),
    outputs=("out",),
    hyper=(
        Hyper(
            "p", float, 0.7, "the probability of keeping a unit", low=0.0, high=1.0, strictly=True
        ),
        Hyper("mode", str, "train", "train or test", choices=("train", "test")),
        Hyper(
            "seed", int, 123, "np.random.seed(seed) before the mask is drawn", low=0, high=2**32 - 1
        ),
    ),
    param_dict="dropout_param",
    default=Setup({"N": 10, "D": 30}),
    probes=(
        Setup({"N": 3, "D": 50}, {"p": 0.25, "seed": 7}, note="p = 0.25, another seed"),
        Setup({"N": 7, "D": 9}, {"mode": "test"}, note="test mode: the identity"),
    ),
    forward=dropout_forward,
    backward=dropout_backward,
    output_shapes=lambda dims, p: {"out": (dims["N"], dims["D"])},
    structure={"x": structure.elementwise()},
    bugs=(
        _dropout_bug(
            "mask_not_applied",
            "dx is dout unchanged: the mask is not applied in the backward",
            "dx = dout * mask, the same scaled mask the forward used (keep it in the cache)",
        ),
        _dropout_bug(
            "not_scaled",
            "the mask is not scaled: out = x·mask and dx = dout·mask, without the 1/p",
            "inverted dropout divides by p: mask = (np.random.rand(*x.shape) < p) / p",
        ),
        _dropout_bug(
            "p_as_drop_probability",
            "p is used as the probability of dropping a unit (kept units scaled by 1/(1 − p))",
            "dropout_param['p'] is the probability of keeping: mask = (rand < p) / p",
            shows="p ≠ 0.5",
        ),
        _dropout_bug(
            "dropped_in_test_mode",
            "units are dropped in test mode too",
            "in test mode out = x and dx = dout",
            shows="mode = test",
        ),
    ),
    read=_read_mask,
    intervals=_dropout_intervals,
)

KINDS = (*ACTIVATION_KINDS, DROPOUT)

__all__ = ["ACTIVATION_KINDS", "DROPOUT", "KINDS", "activation_kind", "select"]
