"""Recurrent kinds: one step of a vanilla RNN and one step of an LSTM, as courses write them.

rnn    next_h = tanh(x·Wx + prev_h·Wh + b)
lstm   a = x·Wx + prev_h·Wh + b, split into the gates i, f, o, g (in that order, H each);
       i, f, o = σ(·), g = tanh(·); next_c = f ⊙ prev_c + i ⊙ g; next_h = o ⊙ tanh(next_c)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core import functions as fn
from gradcheck.core.layers import structure
from gradcheck.core.layers.evaluate import plain
from gradcheck.core.layers.kind import Argument, Bug, Case, LayerKind, Setup, Structure, Values
from gradcheck.core.layers.tracked import apply, concat, total

Array = NDArray[np.float64]


def _th(a: Any) -> Any:
    """The hyperbolic tangent, bounded by 1 (its absolute error near ±1 is ~ε)."""
    return apply(a, np.tanh, lambda v: 1.0 - np.tanh(v) ** 2, 1.0)


def _sig(a: Any) -> Any:
    return apply(a, fn.sigmoid, fn.sigmoid_prime, 1.0)


def _affine(x: Any, h: Any, wx: Any, wh: Any, b: Any) -> Any:
    return x @ wx + h @ wh + b


def _weight_grads(da: Any, x: Any, h: Any, wx: Any, wh: Any) -> dict[str, Any]:
    return {
        "x": da @ wx.T,
        "prev_h": da @ wh.T,
        "Wx": x.T @ da,
        "Wh": h.T @ da,
        "b": total(da, axis=0),
    }


# ---------------------------------------------------------------------------------------------
# rnn step


def rnn_forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    x, h, wx, wh, b = (a[k] for k in ("x", "prev_h", "Wx", "Wh", "b"))
    raw = _affine(x, h, wx, wh, b)
    next_h = _th(raw)
    return {"next_h": next_h}, (x, h, wx, wh, next_h)


def rnn_backward(d: Values, cache: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    x, h, wx, wh, next_h = cache
    da = d["next_h"] * (1.0 - next_h * next_h)  # the derivative from the output: 1 − next_h²
    return _weight_grads(da, x, h, wx, wh)


def _rnn_bugs(case: Case) -> dict[str, dict[str, Array]]:
    a = {k: np.asarray(v, dtype=np.float64) for k, v in case.inputs.items()}
    raw = _affine(a["x"], a["prev_h"], a["Wx"], a["Wh"], a["b"])
    dnext = np.asarray(case.douts["dnext_h"], dtype=np.float64)

    def grads(da: Array) -> dict[str, Array]:
        g = _weight_grads(da, a["x"], a["prev_h"], a["Wx"], a["Wh"])
        return {f"d{k}": np.asarray(v) for k, v in g.items()}

    return {
        "derivative_at_pre_activation": grads(dnext * (1.0 - raw * raw)),
        "derivative_missing": grads(dnext),
        "weights_swapped": {
            "dWx": np.asarray(a["prev_h"].T @ (dnext * (1.0 - np.tanh(raw) ** 2))),
            "dWh": np.asarray(a["x"].T @ (dnext * (1.0 - np.tanh(raw) ** 2))),
        },
    }


def _bug(table: Any, id: str, says: str, fix: str, shows: str = "") -> Bug:
    return Bug(id, says, fix, lambda case: table(case).get(id, {}), shows)


RNN_STEP = LayerKind(
    name="rnn_step",
    title="one vanilla RNN step: next_h = th(x·Wx + prev_h·Wh + b), th the hyperbolic tangent",
    family="recurrent",
    forward_name="rnn_step_forward",
    backward_name="rnn_step_backward",
    arguments=(
        Argument("x", ("N", "D")),
        Argument("prev_h", ("N", "H"), scale=0.5),
        Argument("Wx", ("D", "H"), scale=0.4),
        Argument("Wh", ("H", "H"), scale=0.4),
        Argument("b", ("H",), scale=0.2),
    ),
    outputs=("next_h",),
    hyper=(),
    param_dict=None,
    default=Setup({"N": 3, "D": 5, "H": 4}),
    probes=(
        Setup({"N": 1, "D": 2, "H": 6}, note="batch 1"),
        Setup(
            {"N": 4, "D": 3, "H": 1}, values="wide", note="one hidden unit, values ×20 (saturating)"
        ),
    ),
    forward=rnn_forward,
    backward=rnn_backward,
    output_shapes=lambda dims, p: {"next_h": (dims["N"], dims["H"])},
    structure={
        "x": structure.rows("x"),
        "prev_h": structure.rows("prev_h"),
        "Wx": structure.units("Wx"),
        "Wh": structure.units("Wh"),
        "b": structure.units("b"),
    },
    bugs=(
        _bug(
            _rnn_bugs,
            "derivative_at_pre_activation",
            "the derivative is 1 − a² with a = x·Wx + prev_h·Wh + b, the pre-activation, where "
            "1 − next_h² belongs",
            "the hyperbolic tangent's derivative is 1 − th(a)² = 1 − next_h² (keep next_h in "
            "the cache)",
        ),
        _bug(
            _rnn_bugs,
            "derivative_missing",
            "dnext_h is passed through without the hyperbolic tangent's derivative",
            "da = dnext_h * (1 − next_h²)",
        ),
        _bug(
            _rnn_bugs,
            "weights_swapped",
            "dWx is taken with prev_h and dWh with x: the inputs of the two products swapped",
            "dWx = x.T.dot(da), dWh = prev_h.T.dot(da)",
        ),
    ),
)


# ---------------------------------------------------------------------------------------------
# lstm step: gates i, f, o, g


#: The gates in the course's order (and torch.nn.LSTM's order, i, f, g, o, as a permutation).
ORDER = "ifog"


def lstm_forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    x, h, c, wx, wh, b = (a[k] for k in ("x", "prev_h", "prev_c", "Wx", "Wh", "b"))
    n_h = h.shape[1]
    raw = _affine(x, h, wx, wh, b)
    i = _sig(raw[:, :n_h])
    f = _sig(raw[:, n_h : 2 * n_h])
    o = _sig(raw[:, 2 * n_h : 3 * n_h])
    g = _th(raw[:, 3 * n_h :])
    next_c = f * c + i * g
    tc = _th(next_c)
    next_h = o * tc
    return {"next_h": next_h, "next_c": next_c}, (x, h, c, wx, wh, i, f, o, g, tc)


def lstm_backward(d: Values, cache: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    x, h, c, wx, wh, i, f, o, g, tc = cache
    dh, dc_next = d["next_h"], d["next_c"]
    dc = dc_next + dh * o * (1.0 - tc * tc)  # next_c reaches the loss directly and through next_h
    da = concat(
        [
            dc * g * i * (1.0 - i),  # through i
            dc * c * f * (1.0 - f),  # through f
            dh * tc * o * (1.0 - o),  # through o
            dc * i * (1.0 - g * g),  # through g
        ],
        axis=1,
    )
    out = _weight_grads(da, x, h, wx, wh)
    out["prev_c"] = dc * f
    return out


def _permuted(case: Case, order: str) -> dict[str, Array]:
    """What an LSTM whose gates come in ``order`` returns, keyed by the course's names: the
    layer with the weights' gate blocks rearranged, and its weight gradients put back."""
    n_h = int(np.shape(case.inputs["prev_h"])[1])
    cols = np.concatenate([np.arange(n_h) + n_h * order.index(k) for k in ORDER])
    back = np.argsort(cols)
    moved = {k: np.asarray(case.inputs[k], dtype=np.float64)[..., cols] for k in ("Wx", "Wh", "b")}
    found = plain(case, inputs=moved)
    for k in ("dWx", "dWh", "db"):
        found[k] = found[k][..., back]
    return found


def _lstm_bugs(case: Case) -> dict[str, dict[str, Array]]:
    zero_c = {"dnext_c": np.zeros(np.shape(case.douts["dnext_c"]))}
    missing = plain(case, douts={**case.douts, **zero_c})

    def at_pre(d: Values, cache: Any, p: Mapping[str, Any]) -> dict[str, Any]:
        x, h, c, wx, wh, i, f, o, g, tc = cache
        next_c = f * c + i * g
        dh, dc_next = d["next_h"], d["next_c"]
        dc = dc_next + dh * o * (1.0 - next_c * next_c)  # 1 − next_c² for 1 − th(next_c)²
        da = np.concatenate(
            [
                dc * g * i * (1 - i),
                dc * c * f * (1 - f),
                dh * tc * o * (1 - o),
                dc * i * (1 - g * g),
            ],
            axis=1,
        )
        out = _weight_grads(da, x, h, wx, wh)
        out["prev_c"] = dc * f
        return out

    pre = plain(case, backward=at_pre)
    out = {
        "dnext_c_dropped": {k: v for k, v in missing.items() if k.startswith("d")},
        "derivative_at_cell_state": {k: v for k, v in pre.items() if k.startswith("d")},
    }
    for order in ("ifgo", "fiog"):
        out[f"gates_{order}"] = _permuted(case, order)
    return out


def _gate_structure(arg: str) -> Structure:
    """Wx[d, k] (Wh, b likewise) reaches next_h and next_c at unit k mod H of every sample: the
    four gates of a unit meet, so the colors are (d, gate)."""

    def colors(shape: tuple[int, ...], case: Case) -> NDArray[np.intp]:
        n_h = int(np.shape(case.inputs["prev_h"])[1])
        gate = np.broadcast_to(np.arange(shape[-1]) // n_h, shape)
        lead = structure.flat_index(shape, range(len(shape) - 1))
        return (lead * 4 + gate).astype(np.intp)

    def gather(maps: Mapping[str, Array], case: Case) -> Array:
        per_unit = structure.summed(maps).sum(axis=0)  # (H,)
        shape = np.shape(case.inputs[arg])
        return np.broadcast_to(np.tile(per_unit, 4), shape)

    return Structure(colors, gather)


LSTM_STEP = LayerKind(
    name="lstm_step",
    title="one LSTM step, gates i, f, o, g: next_c = f·prev_c + i·g, next_h = o·th(next_c)",
    family="recurrent",
    forward_name="lstm_step_forward",
    backward_name="lstm_step_backward",
    arguments=(
        Argument("x", ("N", "D")),
        Argument("prev_h", ("N", "H"), scale=0.5),
        Argument("prev_c", ("N", "H")),
        Argument("Wx", ("D", "4H"), scale=0.4),
        Argument("Wh", ("H", "4H"), scale=0.4),
        Argument("b", ("4H",), scale=0.2),
    ),
    outputs=("next_h", "next_c"),
    hyper=(),
    param_dict=None,
    default=Setup({"N": 3, "D": 5, "H": 4}),
    probes=(
        Setup({"N": 1, "D": 1, "H": 3}, note="batch 1, one input feature"),
        Setup({"N": 4, "D": 3, "H": 2}, values="wide", note="values ×20 (saturated gates)"),
    ),
    forward=lstm_forward,
    backward=lstm_backward,
    output_shapes=lambda dims, p: {
        "next_h": (dims["N"], dims["H"]),
        "next_c": (dims["N"], dims["H"]),
    },
    structure={
        "x": structure.rows("x"),
        "prev_h": structure.rows("prev_h"),
        "prev_c": structure.elementwise(),
        "Wx": _gate_structure("Wx"),
        "Wh": _gate_structure("Wh"),
        "b": _gate_structure("b"),
    },
    bugs=(
        Bug(
            "gates_ifgo",
            "the gates are taken in the order i, f, g, o (torch.nn.LSTM's), not i, f, o, g",
            "split a = x·Wx + prev_h·Wh + b into i, f, o, g: a[:, :H], a[:, H:2H], a[:, 2H:3H], "
            "a[:, 3H:]",
            lambda case: _lstm_bugs(case)["gates_ifgo"],
        ),
        Bug(
            "gates_fiog",
            "the gates are taken in the order f, i, o, g, not i, f, o, g",
            "split a into i, f, o, g in that order",
            lambda case: _lstm_bugs(case)["gates_fiog"],
        ),
        Bug(
            "derivative_at_cell_state",
            "the derivative through next_h uses 1 − next_c² where 1 − th(next_c)² belongs",
            "next_h = o·th(next_c): its derivative in next_c is o·(1 − th(next_c)²)",
            lambda case: _lstm_bugs(case)["derivative_at_cell_state"],
        ),
        Bug(
            "dnext_c_dropped",
            "dnext_c is not added: the cell state's own path to the loss (the dprev_c path) is "
            "missing",
            "dc = dnext_c + dnext_h·o·(1 − th(next_c)²)",
            lambda case: _lstm_bugs(case)["dnext_c_dropped"],
        ),
    ),
)

KINDS = (RNN_STEP, LSTM_STEP)
