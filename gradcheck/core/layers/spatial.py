"""Spatial kinds: convolution, max pooling, average pooling, as courses write them
(``conv_forward_naive(x, w, b, conv_param)``, ``max_pool_forward_naive(x, pool_param)``).

The numerics here are vectorised with windows (``tracked.windows``: every window a stride
apart) and their adjoint (``tracked.fold``); the courses' naive loops compute the same sums.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.bounds import inner
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
from gradcheck.core.layers.tracked import (
    fold,
    pad,
    product,
    select,
    total,
    value,
    window_max,
    windows,
)

Array = NDArray[np.float64]


def _out_size(size: int, kernel: int, stride: int, padding: int, what: str, axis: str) -> int | str:
    span = size + 2 * padding - kernel
    padded = f"{axis} + 2·pad" if padding else axis
    sizes = f"{size} + {2 * padding}" if padding else f"{size}"
    if span < 0:
        return f"the {what} window ({kernel}) is larger than {padded} = {size + 2 * padding}"
    if span % stride:
        return (
            f"{padded} − window = {sizes} − {kernel} = {span} is not a multiple of stride "
            f"{stride} (the windows would not tile the input; courses assert this)"
        )
    return 1 + span // stride


# ---------------------------------------------------------------------------------------------
# conv: out[n, f] = Σ_c x_pad[n, c] ⋆ w[f, c] + b[f], a window every ``stride``


def conv_forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    x, w, b = a["x"], a["w"], a["b"]
    s, q = int(p["stride"]), int(p["pad"])
    n, c = x.shape[:2]
    f, _, hh, ww = w.shape
    xp = pad(x, ((0, 0), (0, 0), (q, q), (q, q)))
    win = windows(xp, hh, ww, s)  # (N, C, Ho, Wo, HH, WW)
    ho, wo = win.shape[2], win.shape[3]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * hh * ww)
    kernel = w.reshape(f, -1)
    out = (product(cols, kernel.T) + b).reshape(n, ho, wo, f).transpose(0, 3, 1, 2)
    return {"out": out}, (x.shape, xp.shape, cols, kernel, w.shape, s, q)


def conv_backward(d: Values, cache: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    shape, padded, cols, kernel, w_shape, s, q = cache
    n, c, h, wd = shape
    f, _, hh, ww = w_shape
    dout = d["out"]
    ho, wo = dout.shape[2], dout.shape[3]
    rows = dout.transpose(0, 2, 3, 1).reshape(-1, f)  # (N·Ho·Wo, F)
    dw = (rows.T @ cols).reshape(w_shape)  # Σ over samples and positions of dout·window
    db = total(rows, axis=0)
    dcols = (rows @ kernel).reshape(n, ho, wo, c, hh, ww).transpose(0, 3, 1, 2, 4, 5)
    dxp = fold(dcols, padded, s)  # each window's share added back where it came from
    return {"x": dxp[:, :, q : q + h, q : q + wd], "w": dw, "b": db}


def _conv_shapes(dims: Mapping[str, Any], p: Mapping[str, Any]) -> dict[str, tuple[int, ...]] | str:
    s, q = int(p["stride"]), int(p["pad"])
    ho = _out_size(int(dims["H"]), int(dims["HH"]), s, q, "kernel", "H")
    wo = _out_size(int(dims["W"]), int(dims["WW"]), s, q, "kernel", "W")
    for found in (ho, wo):
        if isinstance(found, str):
            return found
    return {"out": (dims["N"], dims["F"], int(ho), int(wo))}


def _conv_bugs(case: Case) -> dict[str, dict[str, Array]]:
    w = np.asarray(case.inputs["w"], dtype=np.float64)
    x = np.asarray(case.inputs["x"], dtype=np.float64)
    dout = np.asarray(case.douts["dout"], dtype=np.float64)
    s, q = int(case.params["stride"]), int(case.params["pad"])
    flipped = plain(case, inputs={"w": w[:, :, ::-1, ::-1].copy()})
    _, cache = conv_forward({"x": x, "w": w, "b": np.zeros(w.shape[0])}, case.params)
    shape, padded, _, kernel, _, _, _ = cache
    n, f, ho, wo = dout.shape
    c, hh, ww = w.shape[1:]
    rows = dout.transpose(0, 2, 3, 1).reshape(-1, f)
    dxp = fold((rows @ kernel).reshape(n, ho, wo, c, hh, ww).transpose(0, 3, 1, 2, 4, 5), padded, s)
    out = {
        "kernel_flipped": {"dx": flipped["dx"]},
        "padding_not_cropped": {"dx": np.asarray(dxp)} if q else {},
        "db_not_summed_over_positions": {"db": dout.sum(axis=(0,))},
    }
    if s > 1:
        # The windows placed a position apart instead of a stride apart.
        xp = np.pad(x, ((0, 0), (0, 0), (q, q), (q, q)))
        win = np.lib.stride_tricks.sliding_window_view(xp, (hh, ww), axis=(2, 3))[:, :, :ho, :wo]
        cols1 = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, -1)
        dw1 = (rows.T @ cols1).reshape(w.shape)
        dcols = (rows @ kernel).reshape(n, ho, wo, c, hh, ww).transpose(0, 3, 1, 2, 4, 5)
        dxp1 = np.zeros(padded)
        for i in range(hh):
            for j in range(ww):
                dxp1[:, :, i : i + ho, j : j + wo] += dcols[:, :, :, :, i, j]
        out["stride_ignored"] = {"dx": dxp1[:, :, q : q + shape[2], q : q + shape[3]], "dw": dw1}
    return out


def _bug(table: Any, id: str, says: str, fix: str, shows: str = "") -> Bug:
    return Bug(id, says, fix, lambda case: table(case).get(id, {}), shows)


def _conv_x_structure() -> Structure:
    """x[n, c, i, j] reaches every filter's outputs whose window covers (i, j): elements an
    HH×WW tile apart never share a window, so the colors are (c, i mod HH, j mod WW)."""

    def colors(shape: tuple[int, ...], case: Case) -> NDArray[np.intp]:
        hh, ww = np.shape(case.inputs["w"])[2:]
        _, c, h, w = shape
        ci, ii, jj = np.meshgrid(np.arange(c), np.arange(h) % hh, np.arange(w) % ww, indexing="ij")
        color = (ci * hh + ii) * ww + jj
        return np.broadcast_to(color, shape).astype(np.intp)

    def gather(maps: Mapping[str, Array], case: Case) -> Array:
        m = structure.summed(maps)  # (N, F, Ho, Wo)
        x = case.inputs["x"]
        hh, ww = np.shape(case.inputs["w"])[2:]
        s, q = int(case.params["stride"]), int(case.params["pad"])
        n, c, h, wd = np.shape(x)
        per = m.sum(axis=1)  # every filter
        cols = np.broadcast_to(per[:, None, :, :, None, None], (n, c, *per.shape[1:], hh, ww))
        reached = fold(np.ascontiguousarray(cols), (n, c, h + 2 * q, wd + 2 * q), s)
        return np.asarray(reached)[:, :, q : q + h, q : q + wd]

    return Structure(colors, gather)


def _filter_structure(arg: str) -> Structure:
    """w[f, …] and b[f] reach every output of filter f: the colors are the positions after f."""

    def colors(shape: tuple[int, ...], case: Case) -> NDArray[np.intp]:
        return structure.flat_index(shape, range(1, len(shape)))

    def gather(maps: Mapping[str, Array], case: Case) -> Array:
        per = structure.summed(maps).sum(axis=(0, 2, 3))  # (F,)
        shape = np.shape(case.inputs[arg])
        return np.broadcast_to(per.reshape(-1, *([1] * (len(shape) - 1))), shape)

    return Structure(colors, gather)


CONV = LayerKind(
    name="conv",
    title="2-D convolution as a cross-correlation with padding and stride (courses' naive loops)",
    family="spatial",
    forward_name="conv_forward_naive",
    backward_name="conv_backward_naive",
    arguments=(
        Argument("x", ("N", "C", "H", "W")),
        Argument("w", ("F", "C", "HH", "WW"), scale=0.5),
        Argument("b", ("F",)),
    ),
    outputs=("out",),
    hyper=(
        Hyper("stride", int, 1, "pixels between windows", low=1),
        Hyper("pad", int, 1, "zeros added on each side of H and W", low=0),
    ),
    param_dict="conv_param",
    default=Setup({"N": 3, "C": 3, "H": 6, "W": 5, "F": 4, "HH": 3, "WW": 3}),
    probes=(
        Setup(
            {"N": 1, "C": 2, "H": 7, "W": 6, "F": 3, "HH": 3, "WW": 2},
            {"stride": 2, "pad": 1},
            note="batch 1, stride 2 with padding, a 3×2 kernel",
        ),
        Setup(
            {"N": 2, "C": 1, "H": 4, "W": 5, "F": 2, "HH": 1, "WW": 3},
            {"stride": 1, "pad": 2},
            note="one channel, a 1×3 kernel, padding 2",
        ),
    ),
    forward=conv_forward,
    backward=conv_backward,
    output_shapes=_conv_shapes,
    structure={"x": _conv_x_structure(), "w": _filter_structure("w"), "b": _filter_structure("b")},
    bugs=(
        _bug(
            _conv_bugs,
            "kernel_flipped",
            "dx is computed with the kernel flipped (a true convolution), while the forward "
            "is a cross-correlation",
            "dx adds dout[n, f, i, j]·w[f] (unflipped) back over each window: "
            "dx_pad[n, :, i*s:i*s+HH, j*s:j*s+WW] += w[f] * dout[n, f, i, j]",
        ),
        _bug(
            _conv_bugs,
            "padding_not_cropped",
            "dx is the gradient of the padded input (N, C, H + 2·pad, W + 2·pad): the padding "
            "is not cropped",
            "return dx_pad[:, :, pad:-pad, pad:-pad] (the zeros added are not inputs)",
            shows="pad > 0",
        ),
        _bug(
            _conv_bugs,
            "stride_ignored",
            "the backward places the windows one pixel apart: the stride is ignored",
            "window (i, j) starts at (i·stride, j·stride) in the backward as in the forward",
            shows="stride > 1",
        ),
        _bug(
            _conv_bugs,
            "db_not_summed_over_positions",
            "db is summed over the batch only, not over the output positions: shape (F, Ho, Wo)",
            "db = dout.sum(axis=(0, 2, 3))",
        ),
    ),
)


# ---------------------------------------------------------------------------------------------
# pooling: a window every ``stride``; max or mean of each


def _pool_windows(x: Any, p: Mapping[str, Any]) -> Any:
    return windows(x, int(p["pool_height"]), int(p["pool_width"]), int(p["stride"]))


def max_pool_forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    x = a["x"]
    win = _pool_windows(x, p)
    return {"out": window_max(win)}, (value(win), x.shape)


def first_max(win: Array) -> Array:
    """1 at each window's first largest element (row-major: torch's and np.argmax's), else 0."""
    n, c, ho, wo, ph, pw = win.shape
    flat = win.reshape(n, c, ho, wo, ph * pw)
    onehot = np.zeros(flat.shape)
    np.put_along_axis(onehot, np.argmax(flat, axis=-1)[..., None], 1.0, axis=-1)
    return onehot.reshape(win.shape)


def max_pool_backward(d: Values, cache: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    win, shape = cache
    dout = d["out"]
    spread = dout.reshape(*dout.shape, 1, 1)
    routed = select(
        spread[..., np.zeros(win.shape[-2], int), :][..., np.zeros(win.shape[-1], int)],
        first_max(win),
    )
    return {"x": fold(routed, shape, int(p["stride"]))}


def avg_pool_forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    x = a["x"]
    win = _pool_windows(x, p)
    size = float(int(p["pool_height"]) * int(p["pool_width"]))
    return {"out": total(win, axis=(-2, -1)) / size}, x.shape


def avg_pool_backward(d: Values, shape: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    ph, pw = int(p["pool_height"]), int(p["pool_width"])
    dout = d["out"] / float(ph * pw)
    spread = dout.reshape(*dout.shape, 1, 1)[..., np.zeros(ph, int), :][..., np.zeros(pw, int)]
    return {"x": fold(spread, shape, int(p["stride"]))}


def _pool_shapes(dims: Mapping[str, Any], p: Mapping[str, Any]) -> dict[str, tuple[int, ...]] | str:
    s = int(p["stride"])
    ho = _out_size(int(dims["H"]), int(p["pool_height"]), s, 0, "pooling", "H")
    wo = _out_size(int(dims["W"]), int(p["pool_width"]), s, 0, "pooling", "W")
    for found in (ho, wo):
        if isinstance(found, str):
            return found
    return {"out": (dims["N"], dims["C"], int(ho), int(wo))}


def _pool_structure() -> Structure:
    """x[n, c, i, j] reaches the outputs of (n, c) whose window covers (i, j): elements a window
    apart never share one, so the colors are (i mod pool_height, j mod pool_width)."""

    def colors(shape: tuple[int, ...], case: Case) -> NDArray[np.intp]:
        ph, pw = int(case.params["pool_height"]), int(case.params["pool_width"])
        ii, jj = np.meshgrid(np.arange(shape[2]) % ph, np.arange(shape[3]) % pw, indexing="ij")
        return np.broadcast_to(ii * pw + jj, shape).astype(np.intp)

    def gather(maps: Mapping[str, Array], case: Case) -> Array:
        m = structure.summed(maps)
        ph, pw = int(case.params["pool_height"]), int(case.params["pool_width"])
        cols = np.broadcast_to(m[..., None, None], (*m.shape, ph, pw))
        return np.asarray(
            fold(np.ascontiguousarray(cols), np.shape(case.inputs["x"]), int(case.params["stride"]))
        )

    return Structure(colors, gather)


def tie_windows(case: Case) -> tuple[NDArray[np.bool_], NDArray[np.intp]]:
    """Per window, its elements tied at the maximum (N, C, Ho, Wo, ph, pw) and how many."""
    x = np.asarray(case.inputs["x"], dtype=np.float64)
    win = np.asarray(_pool_windows(x, case.params))
    top = win == np.max(win, axis=(-2, -1), keepdims=True)
    return top, top.sum(axis=(-2, -1))


def _project_simplex(v: Array, total_: Array) -> Array:
    """The nearest point to each row of v (…, k) among c with Σc = total and c·sign(total) ≥ 0
    (Euclidean projection onto a scaled simplex; Held, Wolfe and Crowder's sort)."""
    sign = np.where(total_ < 0, -1.0, 1.0)[..., None]
    a = np.abs(total_)[..., None]
    y = v * sign
    u = -np.sort(-y, axis=-1)
    css = np.cumsum(u, axis=-1) - a
    k = np.arange(1, y.shape[-1] + 1)
    cond = u - css / k > 0
    rho = np.maximum(cond.shape[-1] - 1 - np.argmax(cond[..., ::-1], axis=-1), 0)
    theta = np.take_along_axis(css, rho[..., None], axis=-1) / (rho[..., None] + 1)
    return np.asarray(sign * np.maximum(y - theta, 0.0))


#: Rounds of block-coordinate descent over tied windows that overlap, at most (one when none
#: do: each window's projection is then exact).
TIE_SWEEPS = 64


def _max_pool_intervals(
    case: Case, ref: Mapping[str, Array], hand: Mapping[str, Array]
) -> dict[str, tuple[Array, ...]]:
    """At a tie the gradient may go to any of the tied maxima, or be shared among them (the
    Clarke subdifferential): per window, the dout it routes lies on the simplex of its tied
    elements. The valid dx nearest the hand's is the interval's center (radius 0 but for the
    smallest subnormal, so that the center is read): one dout to each window, never twice."""
    top, count = tie_windows(case)
    if not np.any(count > 1):
        return {}
    s = int(case.params["stride"])
    dout = np.asarray(case.douts["dout"], dtype=np.float64)
    x_shape = np.shape(case.inputs["x"])
    ph, pw = top.shape[-2:]
    # Every window's current routing: torch's (the first maximum).
    routing = (
        first_max(np.asarray(_pool_windows(np.asarray(case.inputs["x"], np.float64), case.params)))
        * dout[..., None, None]
    )
    chosen = hand.get("x", ref.get("x"))
    target = np.asarray(fold(routing, x_shape, s) if chosen is None else chosen, dtype=np.float64)
    tied = np.argwhere(count > 1)
    offsets = [(i, j) for i in range(ph) for j in range(pw)]
    for _ in range(TIE_SWEEPS):
        current = np.asarray(fold(routing, x_shape, s))
        changed = False
        for nn, cc, oi, oj in tied:
            mask = top[nn, cc, oi, oj].reshape(-1)
            own = routing[nn, cc, oi, oj].reshape(-1)
            rows = [oi * s + i for i, _ in offsets]
            cols = [oj * s + j for _, j in offsets]
            here = target[nn, cc, rows, cols] - (current[nn, cc, rows, cols] - own)
            new = np.zeros(ph * pw)
            new[mask] = _project_simplex(here[mask], np.asarray(dout[nn, cc, oi, oj]))
            if np.max(np.abs(new - own), initial=0.0) > 1e-15 * (1.0 + np.max(np.abs(own))):
                changed = True
                current[nn, cc, rows, cols] += new - own
                routing[nn, cc, oi, oj] = new.reshape(ph, pw)
        if not changed:
            break
    center = np.asarray(fold(routing, x_shape, s))
    near = (
        np.asarray(fold(np.broadcast_to((count > 1)[..., None, None], top.shape) & top, x_shape, s))
        > 0
    )
    radius = np.where(near, np.finfo(np.float64).tiny, 0.0)
    # Another routing sums other douts at a tied element: its rounding is that of the sum of
    # every dout that may reach it (an overlapping window adds up to ceil(ph/s)·ceil(pw/s)).
    reachable = top * (count > 1)[..., None, None] * np.abs(dout)[..., None, None]
    terms = -(-ph // s) * -(-pw // s)
    u = float(np.finfo(np.dtype(case.dtype)).eps)
    extra = inner(terms, u) * np.asarray(fold(reachable, x_shape, s))
    return {"x": (center, radius, extra)}


def _pool_bugs(case: Case, kind: str) -> dict[str, dict[str, Array]]:
    x = np.asarray(case.inputs["x"], dtype=np.float64)
    dout = np.asarray(case.douts["dout"], dtype=np.float64)
    ph, pw, s = (
        int(case.params["pool_height"]),
        int(case.params["pool_width"]),
        int(case.params["stride"]),
    )
    spread = np.broadcast_to(dout[..., None, None], (*dout.shape, ph, pw))
    every = np.asarray(fold(np.ascontiguousarray(spread), x.shape, s))
    win = np.asarray(_pool_windows(x, case.params))
    first = first_max(win)
    if kind == "max":
        top = (win == win.max(axis=(-2, -1), keepdims=True)).astype(np.float64)
        return {
            "spread_over_window": {"dx": every / (ph * pw)},
            "ties_double_counted": {
                "dx": np.asarray(fold(top * dout[..., None, None], x.shape, s))
            },
            "copied_to_every_element": {"dx": every},
        }
    return {
        "not_divided": {"dx": every},
        "routed_to_the_maximum": {
            "dx": np.asarray(fold(first * dout[..., None, None], x.shape, s))
        },
    }


def _pool_bug(kind: str, id: str) -> Callable[[Case], dict[str, Array]]:
    return lambda case: _pool_bugs(case, kind)[id]


POOL_HYPER = (
    Hyper("pool_height", int, 2, "window height", low=1),
    Hyper("pool_width", int, 2, "window width", low=1),
    Hyper("stride", int, 2, "pixels between windows", low=1),
)


def _pool_kind(kind: str) -> LayerKind:
    is_max = kind == "max"
    bugs = (
        (
            (
                "spread_over_window",
                "dx spreads dout evenly over the window (average pooling's gradient)",
                "dout goes to the window's maximum only (np.argmax over the flattened window)",
                "",
            ),
            (
                "ties_double_counted",
                "dx gives dout to every tied maximum of a window: counted twice or more",
                "route dout to one of the tied maxima (the first, as np.argmax and torch do)",
                "ties",
            ),
            (
                "copied_to_every_element",
                "dx copies dout to every element of the window",
                "dout goes to the window's maximum only",
                "",
            ),
        )
        if is_max
        else (
            (
                "not_divided",
                "dx copies dout to every element of the window without dividing by its size",
                "each element gets dout / (pool_height·pool_width)",
                "",
            ),
            (
                "routed_to_the_maximum",
                "dx routes dout to each window's maximum (max pooling's gradient)",
                "average pooling spreads dout evenly: dout / (pool_height·pool_width) each",
                "",
            ),
        )
    )
    return LayerKind(
        name=f"{kind}_pool",
        title=f"{kind} pooling over pool_height×pool_width windows a stride apart",
        family="spatial",
        forward_name=f"{kind}_pool_forward_naive",
        backward_name=f"{kind}_pool_backward_naive",
        arguments=(Argument("x", ("N", "C", "H", "W")),),
        outputs=("out",),
        hyper=POOL_HYPER,
        param_dict="pool_param",
        default=Setup({"N": 2, "C": 3, "H": 6, "W": 4}),
        probes=(
            Setup(
                {"N": 1, "C": 2, "H": 7, "W": 5},
                {"pool_height": 3, "pool_width": 3, "stride": 2},
                note="batch 1, 3×3 windows overlapping (stride 2)",
            ),
            Setup(
                {"N": 2, "C": 2, "H": 4, "W": 6},
                {"pool_height": 2, "pool_width": 3, "stride": 1},
                values="ties" if is_max else "",
                note=("small integers: tied maxima; " if is_max else "") + "2×3 windows, stride 1",
            ),
        ),
        forward=max_pool_forward if is_max else avg_pool_forward,
        backward=max_pool_backward if is_max else avg_pool_backward,
        output_shapes=_pool_shapes,
        structure={"x": _pool_structure()},
        bugs=tuple(Bug(id, says, fix, _pool_bug(kind, id), shows) for id, says, fix, shows in bugs),
        intervals=_max_pool_intervals if is_max else None,
    )


MAX_POOL = _pool_kind("max")
AVG_POOL = _pool_kind("avg")

KINDS = (CONV, MAX_POOL, AVG_POOL)
