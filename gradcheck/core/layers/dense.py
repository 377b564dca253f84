"""Dense kinds: affine, temporal affine, word embedding. Forward and backward as courses derive
them (vectorised), on plain or tracked arrays, and each kind's record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.layers import structure
from gradcheck.core.layers.evaluate import plain
from gradcheck.core.layers.kind import Argument, Bug, Case, LayerKind, Setup, Structure, Values
from gradcheck.core.layers.tracked import scatter_rows, total

Array = NDArray[np.float64]


# ---------------------------------------------------------------------------------------------
# affine: out = x.reshape(N, D) · w + b


def affine_forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    x, w, b = a["x"], a["w"], a["b"]
    rows = x.reshape(x.shape[0], -1)  # (N, D): each example flattened
    return {"out": rows @ w + b}, (rows, w, x.shape)


def affine_backward(d: Values, cache: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    rows, w, shape = cache
    dout = d["out"]
    return {
        "x": (dout @ w.T).reshape(shape),  # dx: (N, D) → x's own shape
        "w": rows.T @ dout,  # dw: (D, M) = xᵀ·dout
        "b": total(dout, axis=0),  # db: (M,) = Σ_n dout
    }


def _affine_shapes(dims: Mapping[str, Any], p: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    return {"out": (dims["N"], dims["M"])}


def _affine_bugs(case: Case) -> dict[str, dict[str, Array]]:
    good = plain(case)
    dout = np.asarray(case.douts["dout"], dtype=np.float64)
    n = dout.shape[0]
    return {
        "dx_not_reshaped": {"dx": good["dx"].reshape(n, -1)},
        "db_from_one_example": {"db": dout[0]},
        "dw_without_batch_sum": {
            "dw": np.outer(np.asarray(case.inputs["x"], np.float64).reshape(n, -1)[0], dout[0])
        },
    }


def _bug(bugs: Any, id: str, says: str, fix: str, shows: str = "") -> Bug:
    return Bug(id, says, fix, lambda case: bugs(case)[id], shows)


AFFINE = LayerKind(
    name="affine",
    title="fully connected: out = x.reshape(N, D)·w + b",
    family="dense",
    forward_name="affine_forward",
    backward_name="affine_backward",
    arguments=(
        Argument("x", ("N", "D*")),
        Argument("w", ("D", "M"), scale=0.5),
        Argument("b", ("M",)),
    ),
    outputs=("out",),
    hyper=(),
    param_dict=None,
    default=Setup({"N": 4, "D*": (2, 3), "M": 5}),
    probes=(
        Setup({"N": 1, "D*": (7,), "M": 3}, note="batch 1, x already flat"),
        Setup({"N": 3, "D*": (3, 2, 2), "M": 1}, note="x with three trailing axes, one output"),
    ),
    forward=affine_forward,
    backward=affine_backward,
    output_shapes=_affine_shapes,
    structure={
        "x": structure.rows("x"),
        "w": structure.units("w"),
        "b": structure.units("b"),
    },
    bugs=(
        _bug(
            _affine_bugs,
            "dx_not_reshaped",
            "dx is returned as (N, D), the shape of x flattened",
            "reshape it to x's own shape: dx = dout.dot(w.T).reshape(x.shape)",
        ),
        _bug(
            _affine_bugs,
            "db_from_one_example",
            "db is dout of the first example only",
            "db sums dout over the batch: db = dout.sum(axis=0)",
            shows="batches of 2 or more",
        ),
        _bug(
            _affine_bugs,
            "dw_without_batch_sum",
            "dw is the outer product of the first example's x and dout only",
            "dw sums over the batch: dw = x.reshape(N, -1).T.dot(dout)",
            shows="batches of 2 or more",
        ),
    ),
)


# ---------------------------------------------------------------------------------------------
# temporal affine: an affine map at every time step, x (N, T, D) → out (N, T, M)


def temporal_affine_forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    x, w, b = a["x"], a["w"], a["b"]
    n, t, d = x.shape
    rows = x.reshape(n * t, d)
    out = (rows @ w + b).reshape(n, t, -1)
    return {"out": out}, (rows, w, x.shape)


def temporal_affine_backward(d: Values, cache: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    rows, w, shape = cache
    dout = d["out"]
    flat = dout.reshape(-1, dout.shape[-1])  # (N·T, M)
    return {
        "x": (flat @ w.T).reshape(shape),
        "w": rows.T @ flat,  # Σ over every (n, t)
        "b": total(flat, axis=0),
    }


def _temporal_affine_bugs(case: Case) -> dict[str, dict[str, Array]]:
    good = plain(case)
    dout = np.asarray(case.douts["dout"], dtype=np.float64)
    n, t, _ = dout.shape
    x = np.asarray(case.inputs["x"], dtype=np.float64)
    return {
        "dx_not_reshaped": {"dx": good["dx"].reshape(n * t, -1)},
        "sum_over_batch_only": {
            "dw": x[:, 0, :].T @ dout[:, 0, :],
            "db": dout[:, 0, :].sum(axis=0),
        },
        "db_not_summed_over_time": {"db": dout.sum(axis=0)},
    }


TEMPORAL_AFFINE = LayerKind(
    name="temporal_affine",
    title="an affine map at every time step: out[n, t] = x[n, t]·w + b",
    family="dense",
    forward_name="temporal_affine_forward",
    backward_name="temporal_affine_backward",
    arguments=(
        Argument("x", ("N", "T", "D")),
        Argument("w", ("D", "M"), scale=0.5),
        Argument("b", ("M",)),
    ),
    outputs=("out",),
    hyper=(),
    param_dict=None,
    default=Setup({"N": 2, "T": 3, "D": 4, "M": 5}),
    probes=(
        Setup({"N": 1, "T": 4, "D": 3, "M": 2}, note="batch 1, four time steps"),
        Setup({"N": 3, "T": 1, "D": 5, "M": 1}, note="one time step, one output"),
    ),
    forward=temporal_affine_forward,
    backward=temporal_affine_backward,
    output_shapes=lambda dims, p: {"out": (dims["N"], dims["T"], dims["M"])},
    structure={
        "x": structure.rows("x", lead=2),
        "w": structure.units("w"),
        "b": structure.units("b"),
    },
    bugs=(
        _bug(
            _temporal_affine_bugs,
            "dx_not_reshaped",
            "dx is returned as (N·T, D), every time step flattened into rows",
            "reshape it to x's shape: dx = dout.reshape(N*T, M).dot(w.T).reshape(N, T, D)",
        ),
        _bug(
            _temporal_affine_bugs,
            "sum_over_batch_only",
            "dw and db sum over the batch at the first time step only",
            "sum over every (n, t): dw = x.reshape(N*T, D).T.dot(dout.reshape(N*T, M))",
            shows="two or more time steps",
        ),
        _bug(
            _temporal_affine_bugs,
            "db_not_summed_over_time",
            "db is summed over the batch but not over time: shape (T, M)",
            "db = dout.sum(axis=(0, 1))",
        ),
    ),
)


# ---------------------------------------------------------------------------------------------
# word embedding: out[n, t] = W[x[n, t]]


def word_embedding_forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    x, w = a["x"], a["W"]
    return {"out": w[x]}, (x, w.shape[0])


def word_embedding_backward(d: Values, cache: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    x, vocabulary = cache
    dout = d["out"]
    # Repeated words add up: np.add.at, not dW[x] = dout (which keeps one of them).
    return {
        "W": scatter_rows(vocabulary, np.asarray(x).reshape(-1), dout.reshape(-1, dout.shape[-1]))
    }


def _overwritten(case: Case) -> dict[str, Array]:
    x = np.asarray(case.inputs["x"]).reshape(-1)
    dout = np.asarray(case.douts["dout"], dtype=np.float64)
    dw = np.zeros(np.shape(case.inputs["W"]))
    dw[x] = dout.reshape(-1, dout.shape[-1])  # the last occurrence of a repeated word wins
    return {"dW": dw}


def _embedding_colors(shape: tuple[int, ...], case: Case) -> NDArray[np.intp]:
    # W[v, d] reaches out[n, t, d] where x[n, t] = v: distinct (v, d) never meet.
    return np.zeros(shape, dtype=np.intp)


def _embedding_gather(maps: Mapping[str, Array], case: Case) -> Array:
    m = structure.summed(maps)
    x = np.asarray(case.inputs["x"]).reshape(-1)
    out = np.zeros(np.shape(case.inputs["W"]))
    np.add.at(out, x, m.reshape(-1, m.shape[-1]))
    return out


WORD_EMBEDDING = LayerKind(
    name="word_embedding",
    title="a lookup of word vectors: out[n, t] = W[x[n, t]]",
    family="dense",
    forward_name="word_embedding_forward",
    backward_name="word_embedding_backward",
    arguments=(
        Argument("x", ("N", "T"), role="labels", bound="V"),
        Argument("W", ("V", "D")),
    ),
    outputs=("out",),
    hyper=(),
    param_dict=None,
    default=Setup({"N": 2, "T": 4, "V": 5, "D": 3}),
    probes=(
        Setup({"N": 1, "T": 6, "V": 3, "D": 2}, note="six words from three: repeats certain"),
        Setup({"N": 3, "T": 2, "V": 7, "D": 4}, note="batch 3, a larger vocabulary"),
    ),
    forward=word_embedding_forward,
    backward=word_embedding_backward,
    output_shapes=lambda dims, p: {"out": (dims["N"], dims["T"], dims["D"])},
    structure={"W": Structure(_embedding_colors, _embedding_gather)},
    bugs=(
        Bug(
            "repeats_overwritten",
            "dW keeps one dout per word: a word that occurs more than once is overwritten "
            "(dW[x] = dout), not accumulated",
            "accumulate: np.add.at(dW, x, dout)",
            _overwritten,
            shows="a word that occurs twice",
        ),
    ),
)

KINDS = (AFFINE, TEMPORAL_AFFINE, WORD_EMBEDDING)
