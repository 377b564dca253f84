"""Normalisation kinds: batchnorm, spatial batchnorm, layernorm, groupnorm.

One normalisation underlies them all, over different axes: statistics μ and σ² over the
*statistics axes*, x̂ = (x − μ)/√(σ² + eps), out = γ·x̂ + β with γ and β along the *feature
axes*. Its backward (g = dout·γ, n the count of the statistics axes)

    dx = (g − mean(g) − x̂·mean(g·x̂)) / √(σ² + eps),   dγ = Σ dout·x̂,   dβ = Σ dout

is the compact form; courses also derive it step by step through the graph (the staged form).
Both are correct; their rounding differs, so the bound is the larger of the two
(``tracked.either``). The variance is the two-pass one (np.var's, torch's): the one-pass
mean(x²) − μ² loses digits where |μ| ≫ σ, and a side computing it may fail there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.layers import structure
from gradcheck.core.layers.evaluate import plain
from gradcheck.core.layers.kind import (
    Argument,
    Bug,
    Case,
    Hyper,
    LayerKind,
    Setup,
    Structure,
    Values,
)
from gradcheck.core.layers.tracked import either, mean, sqrt, total

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Axes:
    """How a kind lays its arrays out for the one normalisation."""

    #: x → the view the statistics are taken in; and back.
    view: Callable[[Any, Mapping[str, Any]], Any]
    unview: Callable[[Any, tuple[int, ...]], Any]
    stats: tuple[int, ...]  # axes of the view the statistics are over
    #: γ (and β) as the course holds it → broadcastable to the view; a view-shaped sum → γ's shape.
    param_view: Callable[[Any, Mapping[str, Any]], Any]
    param_sum: Callable[[Any, tuple[int, ...]], Any]


def _n(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    out = 1
    for a in axes:
        out *= shape[a]
    return out


def normalize_forward(
    x: Any, gamma: Any, beta: Any, eps: float, axes: tuple[int, ...], ddof: int = 0
) -> tuple[Any, Any]:
    n = _n(x.shape, axes)
    mu = mean(x, axes, keepdims=True)
    xmu = x - mu
    # In two passes, as np.var and torch compute it: mean(x²) − μ² in one pass cancels where
    # |μ| ≫ σ (Welford, Higham §1.9) and is not a bound any correct side must meet.
    var = total(xmu * xmu, axes, keepdims=True) / float(n - ddof)
    std = sqrt(var + eps)
    xhat = xmu / std
    return gamma * xhat + beta, (xhat, xmu, std, gamma)


def normalize_backward(
    dout: Any, cache: Any, axes: tuple[int, ...], param_axes: tuple[int, ...], ddof: int = 0
) -> tuple[Any, Any, Any]:
    xhat, xmu, std, gamma = cache
    n = _n(xhat.shape, axes)
    g = dout * gamma
    if ddof == 0:
        compact = (
            g - mean(g, axes, keepdims=True) - xhat * mean(g * xhat, axes, keepdims=True)
        ) / std
        dx = either(compact, _staged(g, xmu, std, axes, n))
    else:
        # the gradient of the normalisation with σ² = Σ(x − μ)²/(n − ddof)
        scale_ = float(n - ddof)
        dx = (
            g
            - mean(g, axes, keepdims=True)
            - xhat * (total(g * xhat, axes, keepdims=True) / scale_)
        ) / std
    dgamma = total(dout * xhat, param_axes, keepdims=True)
    dbeta = total(dout, param_axes, keepdims=True)
    return dx, dgamma, dbeta


def _staged(g: Any, xmu: Any, std: Any, axes: tuple[int, ...], n: int) -> Any:
    """The backward step by step through the graph x → μ → x − μ → σ² → √ → 1/√ → x̂."""
    ivar = 1.0 / std
    divar = total(g * xmu, axes, keepdims=True)
    dxmu1 = g * ivar
    dsqrtvar = -(ivar * ivar) * divar
    dvar = 0.5 * ivar * dsqrtvar
    dxmu2 = 2.0 * xmu * (dvar / float(n))
    dx1 = dxmu1 + dxmu2
    dmu = -total(dx1, axes, keepdims=True)
    return dx1 + dmu / float(n)


def _norm_math(axes: Axes) -> tuple[Any, Any]:
    def forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
        x = a["x"]
        xv = axes.view(x, p)
        gv, bv = axes.param_view(a["gamma"], p), axes.param_view(a["beta"], p)
        out, cache = normalize_forward(xv, gv, bv, float(p["eps"]), axes.stats)
        return {"out": axes.unview(out, x.shape)}, (cache, x.shape, np.shape(a["gamma"]))

    def backward(d: Values, cache: Any, p: Mapping[str, Any]) -> dict[str, Any]:
        inner_cache, shape, gshape = cache
        dv = axes.view(d["out"], p)
        param_axes = tuple(i for i in range(dv.ndim) if _is_param_axis(inner_cache[3], i))
        dx, dgamma, dbeta = normalize_backward(dv, inner_cache, axes.stats, param_axes)
        return {
            "x": axes.unview(dx, shape),
            "gamma": axes.param_sum(dgamma, gshape),
            "beta": axes.param_sum(dbeta, gshape),
        }

    return forward, backward


def _is_param_axis(gamma: Any, axis: int) -> bool:
    """An axis γ is broadcast along (size 1 in γ's view): dγ sums over it."""
    return bool(np.shape(gamma)[axis] == 1)


def _identity_view(x: Any, p: Mapping[str, Any]) -> Any:
    return x


def _reshape_back(x: Any, shape: tuple[int, ...]) -> Any:
    return x.reshape(shape)


def _row(gamma: Any, p: Mapping[str, Any]) -> Any:
    return gamma.reshape(1, -1)


def _channel(gamma: Any, p: Mapping[str, Any]) -> Any:
    return gamma.reshape(1, -1, 1, 1)


def _groups(x: Any, p: Mapping[str, Any]) -> Any:
    n, c, h, w = x.shape
    g = int(p["G"])
    return x.reshape(n, g, c // g, h, w)


def _group_params(gamma: Any, p: Mapping[str, Any]) -> Any:
    g = int(p["G"])
    return gamma.reshape(1, g, -1, 1, 1)


BATCHNORM_AXES = Axes(_identity_view, _reshape_back, (0,), _row, _reshape_back)
SPATIAL_AXES = Axes(_identity_view, _reshape_back, (0, 2, 3), _channel, _reshape_back)
LAYERNORM_AXES = Axes(_identity_view, _reshape_back, (1,), _row, _reshape_back)
GROUPNORM_AXES = Axes(_groups, _reshape_back, (2, 3, 4), _group_params, _reshape_back)


# ---------------------------------------------------------------------------------------------
# Classic bugs, as formulas of the case


def _alternative(
    case: Case,
    axes: Axes,
    ddof: int = 0,
    stats: tuple[int, ...] | None = None,
    view: Any = None,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Array]:
    """out, dx, dγ, dβ of the normalisation with other statistics (over other axes, over
    n − ddof), γ and β as given: what a consistent implementation of that variant returns."""
    x = np.asarray(case.inputs["x"], dtype=np.float64)
    gamma = np.asarray(case.inputs["gamma"], dtype=np.float64)
    beta = np.asarray(case.inputs["beta"], dtype=np.float64)
    dout = np.asarray(case.douts["dout"], dtype=np.float64)
    p = {**case.params, **(params or {})}
    to = view or axes.view
    back = axes.unview
    xv, dv = to(x, p), to(dout, p)
    gv = axes.param_view(gamma, p)
    bv = axes.param_view(beta, p)
    over = stats if stats is not None else axes.stats
    out, cache = normalize_forward(xv, gv, bv, float(p["eps"]), over, ddof)
    param_axes = tuple(i for i in range(np.ndim(gv)) if np.shape(gv)[i] == 1)
    dx, dgamma, dbeta = normalize_backward(dv, cache, over, param_axes, ddof)
    return {
        "out": np.asarray(back(out, x.shape)),
        "dx": np.asarray(back(dx, x.shape)),
        "dgamma": np.asarray(axes.param_sum(dgamma, gamma.shape)),
        "dbeta": np.asarray(axes.param_sum(dbeta, gamma.shape)),
    }


def _norm_bugs(
    axes: Axes, extra: Callable[[Case], dict[str, dict[str, Array]]] | None = None
) -> Callable[[Case], dict[str, dict[str, Array]]]:
    def bugs(case: Case) -> dict[str, dict[str, Array]]:
        x = np.asarray(case.inputs["x"], dtype=np.float64)
        gamma = np.asarray(case.inputs["gamma"], dtype=np.float64)
        dout = np.asarray(case.douts["dout"], dtype=np.float64)
        p = case.params
        good = plain(case)
        xv, dv = axes.view(x, p), axes.view(dout, p)
        gv = axes.param_view(gamma, p)
        _, (_, _, std, _) = normalize_forward(xv, gv, 0.0, float(p["eps"]), axes.stats)
        g = dv * gv
        constant = axes.unview(g / std, x.shape)
        no_xhat = axes.unview((g - g.mean(axis=axes.stats, keepdims=True)) / std, x.shape)
        out = {
            "statistics_constant": {"dx": np.asarray(constant)},
            "xhat_term_missing": {"dx": np.asarray(no_xhat)},
            "dgamma_without_xhat": {"dgamma": np.asarray(good["dbeta"])},
        }
        if _n(xv.shape, axes.stats) > 1:
            minus = _alternative(case, axes, ddof=1)
            out["variance_over_n_minus_1"] = {k: minus[k] for k in ("out", "dx", "dgamma")}
        if extra is not None:
            out.update(extra(case))
        return out

    return bugs


def _bug_list(
    table: Callable[[Case], dict[str, dict[str, Array]]],
    extra: tuple[tuple[str, str, str, str], ...] = (),
) -> tuple[Bug, ...]:
    rows = (
        (
            "statistics_constant",
            "dx is dout·γ/√(σ² + eps): the mean and the variance are treated as constants",
            "μ and σ² depend on every x of the group: dx = (g − mean(g) − x̂·mean(g·x̂))/√(σ² + eps) "
            "with g = dout·γ",
            "",
        ),
        (
            "xhat_term_missing",
            "dx lacks the x̂ term: (g − mean(g))/√(σ² + eps), the variance's path left out",
            "subtract x̂·mean(g·x̂) too (the gradient through σ²)",
            "",
        ),
        (
            "variance_over_n_minus_1",
            "the variance divides by n − 1 (np.var(…, ddof=1)), not by n",
            "the statistics of a normalisation are the population ones: np.var(x, axis, ddof=0)",
            "",
        ),
        (
            "dgamma_without_xhat",
            "dγ is Σ dout, the same as dβ: the x̂ factor is missing",
            "dγ = Σ dout·x̂",
            "",
        ),
        *extra,
    )
    return tuple(Bug(id, says, fix, _one(table, id), shows) for id, says, fix, shows in rows)


def _one(
    table: Callable[[Case], dict[str, dict[str, Array]]], id: str
) -> Callable[[Case], dict[str, Array]]:
    return lambda case: table(case).get(id, {})


def _structure_for(
    axes_of_sample: Callable[[tuple[int, ...], Case], tuple[int, ...]],
    reach: Callable[[Array, Case], Array],
) -> Structure:
    return Structure(
        colors=lambda shape, case: structure.flat_index(shape, axes_of_sample(shape, case)),
        gather=lambda maps, case: np.broadcast_to(
            reach(structure.summed(maps), case), np.shape(case.inputs["x"])
        ),
    )


def _param_structure(arg: str, sum_axes: tuple[int, ...]) -> Structure:
    """γ and β at a feature reach every output at that feature: one color."""

    def gather(maps: Mapping[str, Array], case: Case) -> Array:
        per = structure.summed(maps).sum(axis=sum_axes, keepdims=True)
        return np.broadcast_to(per.reshape(np.shape(case.inputs[arg])), np.shape(case.inputs[arg]))

    return Structure(lambda shape, case: np.zeros(shape, dtype=np.intp), gather)


EPS = Hyper("eps", float, 1e-5, "added to the variance", low=0.0, strictly=True)
BN_HYPER = (
    Hyper(
        "mode",
        str,
        "train",
        "train: the batch's statistics (test mode is not checked)",
        choices=("train",),
    ),
    EPS,
    Hyper("momentum", float, 0.9, "of the running averages (not compared)", low=0.0, high=1.0),
)


def _kind(
    name: str,
    title: str,
    forward_name: str,
    backward_name: str,
    arguments: tuple[Argument, ...],
    hyper: tuple[Hyper, ...],
    param_dict: str,
    default: Setup,
    probes: tuple[Setup, ...],
    axes: Axes,
    structures: dict[str, Structure],
    extra_bugs: tuple[tuple[str, str, str, str], ...] = (),
    extra: Callable[[Case], dict[str, dict[str, Array]]] | None = None,
) -> LayerKind:
    forward, backward = _norm_math(axes)
    shapes = {a.name: a.dims for a in arguments}
    x_dims = shapes["x"]
    return LayerKind(
        name=name,
        title=title,
        family="norm",
        forward_name=forward_name,
        backward_name=backward_name,
        arguments=arguments,
        outputs=("out",),
        hyper=hyper,
        param_dict=param_dict,
        default=default,
        probes=probes,
        forward=forward,
        backward=backward,
        output_shapes=lambda dims, p: (
            _check_groups(dims, p) or {"out": tuple(int(dims[d]) for d in x_dims)}
        ),
        structure=structures,
        bugs=_bug_list(_norm_bugs(axes, extra), extra_bugs),
    )


def _check_groups(dims: Mapping[str, Any], p: Mapping[str, Any]) -> str | None:
    if "G" in p and int(dims["C"]) % int(p["G"]):
        return f"C = {dims['C']} channels do not split into G = {p['G']} groups"
    return None


BATCHNORM = _kind(
    "batchnorm",
    "batch normalisation of (N, D): statistics over the batch, per feature",
    "batchnorm_forward",
    "batchnorm_backward",
    (
        Argument("x", ("N", "D"), scale=2.0, offset=1.0),
        Argument("gamma", ("D",), scale=0.5, offset=1.0),
        Argument("beta", ("D",)),
    ),
    BN_HYPER,
    "bn_param",
    Setup({"N": 4, "D": 5}),
    (
        Setup({"N": 2, "D": 3}, note="batch 2, the smallest with a variance"),
        Setup({"N": 7, "D": 1}, values="wide", note="one feature, values ×20"),
    ),
    BATCHNORM_AXES,
    {
        "x": _structure_for(lambda shape, case: (0,), lambda m, case: m.sum(axis=0, keepdims=True)),
        "gamma": _param_structure("gamma", (0,)),
        "beta": _param_structure("beta", (0,)),
    },
)


def _spatial_extra(case: Case) -> dict[str, dict[str, Array]]:
    # x.reshape(-1, C) without moving C last: the rows mix channels.
    def view(a: Any, p: Mapping[str, Any]) -> Any:
        return np.asarray(a).reshape(-1, np.shape(a)[1])

    def back(a: Any, shape: tuple[int, ...]) -> Any:
        return np.asarray(a).reshape(shape)

    flat_axes = Axes(view, back, (0,), _row, _reshape_back)
    alt = _alternative(case, flat_axes)
    return {"reshaped_without_transpose": {k: alt[k] for k in ("out", "dx", "dgamma")}}


SPATIAL_BATCHNORM = _kind(
    "spatial_batchnorm",
    "batch normalisation of (N, C, H, W): statistics over N, H and W, per channel",
    "spatial_batchnorm_forward",
    "spatial_batchnorm_backward",
    (
        Argument("x", ("N", "C", "H", "W"), scale=2.0, offset=1.0),
        Argument("gamma", ("C",), scale=0.5, offset=1.0),
        Argument("beta", ("C",)),
    ),
    BN_HYPER,
    "bn_param",
    Setup({"N": 2, "C": 3, "H": 4, "W": 5}),
    (
        Setup({"N": 1, "C": 2, "H": 3, "W": 3}, note="batch 1: the statistics over H and W only"),
        Setup({"N": 3, "C": 1, "H": 2, "W": 5}, values="wide", note="one channel, values ×20"),
    ),
    SPATIAL_AXES,
    {
        "x": _structure_for(
            lambda shape, case: (0, 2, 3), lambda m, case: m.sum(axis=(0, 2, 3), keepdims=True)
        ),
        "gamma": _param_structure("gamma", (0, 2, 3)),
        "beta": _param_structure("beta", (0, 2, 3)),
    },
    (
        (
            "reshaped_without_transpose",
            "x is reshaped to (N·H·W, C) without moving C last first (x.reshape(-1, C)): each "
            "row mixes channels",
            "x.transpose(0, 2, 3, 1).reshape(-1, C), and back the same way",
            "",
        ),
    ),
    _spatial_extra,
)


def _layernorm_extra(case: Case) -> dict[str, dict[str, Array]]:
    alt = _alternative(case, LAYERNORM_AXES, stats=(0,))
    return {"normalised_over_the_batch": {k: alt[k] for k in ("out", "dx", "dgamma")}}


LAYERNORM = _kind(
    "layernorm",
    "layer normalisation of (N, D): statistics over the features, per example",
    "layernorm_forward",
    "layernorm_backward",
    (
        Argument("x", ("N", "D"), scale=2.0, offset=1.0),
        Argument("gamma", ("D",), scale=0.5, offset=1.0),
        Argument("beta", ("D",)),
    ),
    (EPS,),
    "ln_param",
    Setup({"N": 4, "D": 5}),
    (
        Setup({"N": 1, "D": 6}, note="batch 1"),
        Setup({"N": 3, "D": 3}, values="wide", note="three features, values ×20"),
    ),
    LAYERNORM_AXES,
    {
        "x": _structure_for(lambda shape, case: (1,), lambda m, case: m.sum(axis=1, keepdims=True)),
        "gamma": _param_structure("gamma", (0,)),
        "beta": _param_structure("beta", (0,)),
    },
    (
        (
            "normalised_over_the_batch",
            "the statistics are over the batch (batchnorm's axis 0), not over each example's "
            "features",
            "layernorm's μ and σ² are per example: x.mean(axis=1, keepdims=True)",
            "",
        ),
    ),
    _layernorm_extra,
)


def _groupnorm_extra(case: Case) -> dict[str, dict[str, Array]]:
    c = int(np.shape(case.inputs["x"])[1])
    out: dict[str, dict[str, Array]] = {}
    if int(case.params["G"]) != c:
        alt = _alternative(case, GROUPNORM_AXES, params={"G": c})
        out["statistics_per_channel"] = {k: alt[k] for k in ("out", "dx", "dgamma")}
    if int(case.params["G"]) != 1:
        alt = _alternative(case, GROUPNORM_AXES, params={"G": 1})
        out["statistics_over_all_channels"] = {k: alt[k] for k in ("out", "dx", "dgamma")}
    return out


GROUPNORM = _kind(
    "groupnorm",
    "group normalisation of (N, C, H, W): statistics per example over each group of C/G channels",
    "spatial_groupnorm_forward",
    "spatial_groupnorm_backward",
    (
        Argument("x", ("N", "C", "H", "W"), scale=2.0, offset=1.0),
        Argument("gamma", ("1", "C", "1", "1"), scale=0.5, offset=1.0),
        Argument("beta", ("1", "C", "1", "1")),
    ),
    (Hyper("G", int, 2, "groups of channels (C must be a multiple)", low=1, positional=True), EPS),
    "gn_param",
    Setup({"N": 2, "C": 6, "H": 4, "W": 3}),
    (
        Setup({"N": 1, "C": 4, "H": 3, "W": 3}, {"G": 4}, note="batch 1, a channel per group"),
        Setup(
            {"N": 3, "C": 6, "H": 2, "W": 2},
            {"G": 1},
            values="wide",
            note="one group of all channels, values ×20",
        ),
    ),
    GROUPNORM_AXES,
    {
        "x": Structure(
            colors=lambda shape, case: structure.flat_index(
                (shape[0], int(case.params["G"]), shape[1] // int(case.params["G"]), *shape[2:]),
                (2, 3, 4),
            ).reshape(shape),
            gather=lambda maps, case: np.asarray(
                np.broadcast_to(
                    _groups(structure.summed(maps), case.params).sum(axis=(2, 3, 4), keepdims=True),
                    _groups(structure.summed(maps), case.params).shape,
                )
            ).reshape(np.shape(case.inputs["x"])),
        ),
        "gamma": _param_structure("gamma", (0, 2, 3)),
        "beta": _param_structure("beta", (0, 2, 3)),
    },
    (
        (
            "statistics_per_channel",
            "the statistics are per channel (instance normalisation), not per group of C/G "
            "channels",
            "reshape x to (N, G, C/G, H, W) and take the statistics over axes (2, 3, 4)",
            "G < C",
        ),
        (
            "statistics_over_all_channels",
            "the statistics are over all channels at once (layer normalisation), not per group",
            "reshape x to (N, G, C/G, H, W) and take the statistics over axes (2, 3, 4)",
            "G > 1",
        ),
    ),
    _groupnorm_extra,
)

KINDS = (BATCHNORM, SPATIAL_BATCHNORM, LAYERNORM, GROUPNORM)
