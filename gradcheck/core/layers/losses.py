"""Loss kinds: softmax (cross-entropy) loss, multiclass SVM loss, temporal softmax loss.

A course writes each as one function returning ``(loss, dx)``. Here the forward returns the
loss's per-row terms (the loss is their sum: the oracle perturbs rows independently) and the
backward dx; both are means over the batch N, as the courses' are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.bounds import KINK_SAFETY, inner
from gradcheck.core.layers import structure
from gradcheck.core.layers.evaluate import plain
from gradcheck.core.layers.kind import Argument, Bug, Case, LayerKind, Setup, Values
from gradcheck.core.layers.tracked import (
    Rounding,
    Tracked,
    amax,
    bound_of,
    exp,
    lipschitz,
    log,
    total,
    value,
    where,
)

Array = NDArray[np.float64]


def _onehot(labels: NDArray[np.intp], classes: int) -> Array:
    out = np.zeros((labels.size, classes))
    out[np.arange(labels.size), labels.reshape(-1)] = 1.0
    return out


def _log_softmax_rows(x: Any) -> tuple[Any, Any]:
    """log p and p of each row, shifted by the row's maximum so that exp cannot overflow."""
    shifted = x - amax(x, axis=1, keepdims=True)
    e = exp(shifted)
    s = total(e, axis=1, keepdims=True)
    return shifted - log(s), e / s


# ---------------------------------------------------------------------------------------------
# softmax loss: L = −(1/N)·Σ_n log p[n, y_n],  dx = (p − onehot(y))/N


def softmax_forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    x, y = a["x"], np.asarray(a["y"])
    n = x.shape[0]
    logp, probs = _log_softmax_rows(x)
    terms = -logp[np.arange(n), y] / float(n)
    return {"loss": terms}, (probs, y, n)


def softmax_backward(d: Values, cache: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    probs, y, n = cache
    return {"x": (probs - _onehot(y, probs.shape[1])) / float(n)}


def _softmax_bugs(case: Case) -> dict[str, dict[str, Array]]:
    good = plain(case)
    x = np.asarray(case.inputs["x"], dtype=np.float64)
    n = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return {
        "mean_missing": {"loss": good["loss"] * n, "dx": good["dx"] * n},
        "onehot_not_subtracted": {"dx": probs / n},
    }


def _bug(table: Any, id: str, says: str, fix: str, shows: str = "") -> Bug:
    return Bug(id, says, fix, lambda case: table(case).get(id, {}), shows)


SOFTMAX_LOSS = LayerKind(
    name="softmax_loss",
    title="softmax cross-entropy over classes, the mean over the batch: (loss, dx)",
    family="loss",
    forward_name="softmax_loss",
    backward_name=None,
    arguments=(Argument("x", ("N", "C")), Argument("y", ("N",), role="labels", bound="C")),
    outputs=("loss",),
    hyper=(),
    param_dict=None,
    default=Setup({"N": 5, "C": 4}),
    probes=(
        Setup({"N": 1, "C": 7}, note="batch 1, seven classes"),
        Setup(
            {"N": 6, "C": 2},
            values="wide",
            note="two classes, scores ×20 (probabilities near 0 and 1)",
        ),
    ),
    forward=softmax_forward,
    backward=softmax_backward,
    output_shapes=lambda dims, p: {"loss": ()},
    structure={"x": structure.rows("x")},
    bugs=(
        _bug(
            _softmax_bugs,
            "mean_missing",
            "the loss and dx are sums over the batch: the 1/N of the mean is missing",
            "divide both by N: loss = −log(p[range(N), y]).mean(), dx = (p − onehot)/N",
            shows="batches of 2 or more",
        ),
        _bug(
            _softmax_bugs,
            "onehot_not_subtracted",
            "dx is p/N: the 1 at the correct class is not subtracted",
            "dx = p.copy(); dx[range(N), y] -= 1; dx /= N",
        ),
    ),
    loss=True,
)


# ---------------------------------------------------------------------------------------------
# multiclass SVM loss: L = (1/N)·Σ_n Σ_{j≠y_n} max(0, x[n, j] − x[n, y_n] + 1)


def svm_forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    x, y = a["x"], np.asarray(a["y"])
    n = x.shape[0]
    correct = x[np.arange(n), y].reshape(n, 1)
    raw = x - correct + 1.0
    own = _onehot(y, x.shape[1]).astype(bool)
    margins = where(own, np.zeros(own.shape), lipschitz(raw, lambda v: np.maximum(v, 0.0)))
    rounding = raw.r if isinstance(raw, Tracked) else None
    return {"loss": total(margins, axis=1) / float(n)}, (value(raw), own, n, rounding)


def svm_backward(d: Values, cache: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    raw, own, n, rounding = cache
    positive = ((raw > 0) & ~own).astype(np.float64)
    counts = positive - own * positive.sum(axis=1, keepdims=True)  # exact small integers
    if rounding is not None:
        # dx[n, y] may be summed as −1/N, C − 1 times over (autograd's way)
        summed = inner(own.shape[1], rounding.u) * np.abs(counts) / n
        return {"x": Tracked(counts / n, summed, rounding) / 1.0}
    return {"x": counts / float(n)}


def _svm_intervals(
    case: Case, ref: Mapping[str, Array], hand: Mapping[str, Array]
) -> dict[str, tuple[Array, ...]]:
    """A margin within rounding of 0 may count on either side of the hinge: each such margin's
    indicator is 0 or 1 (both one-sided derivatives, and between), so dx[n, j] and dx[n, y_n]
    lie between the values with and without it."""
    r = Rounding.of(case.dtype)
    x = np.asarray(case.inputs["x"], dtype=np.float64)
    y = np.asarray(case.inputs["y"])
    n = x.shape[0]
    tx = Tracked.exact(x, r)
    raw = tx - tx[np.arange(n), y].reshape(n, 1) + 1.0
    own = _onehot(y, x.shape[1]).astype(bool)
    near = (np.abs(raw.value) <= KINK_SAFETY * bound_of(raw)) & ~own
    if not near.any():
        return {}
    lo = ((raw.value > 0) & ~near & ~own).astype(np.float64)
    hi = ((raw.value > 0) | near).astype(np.float64) * ~own
    lo_dx = (lo - own * hi.sum(axis=1, keepdims=True)) / n
    hi_dx = (hi - own * lo.sum(axis=1, keepdims=True)) / n
    return {"x": ((lo_dx + hi_dx) / 2.0, np.abs(hi_dx - lo_dx) / 2.0)}


def _svm_bugs(case: Case) -> dict[str, dict[str, Array]]:
    good = plain(case)
    x = np.asarray(case.inputs["x"], dtype=np.float64)
    y = np.asarray(case.inputs["y"])
    n = x.shape[0]
    own = _onehot(y, x.shape[1])
    no_delta = plain(case, forward=lambda a, p: _svm_with(a, p, 0.0))
    return {
        "mean_missing": {"loss": good["loss"] * n, "dx": good["dx"] * n},
        "correct_class_counted": {"loss": good["loss"] + 1.0, "dx": good["dx"] - own / n},
        "margin_delta_missing": {"loss": no_delta["loss"], "dx": no_delta["dx"]},
    }


def _svm_with(a: Values, p: Mapping[str, Any], delta: float) -> tuple[dict[str, Any], Any]:
    x, y = a["x"], np.asarray(a["y"])
    n = x.shape[0]
    raw = x - x[np.arange(n), y].reshape(n, 1) + delta
    own = _onehot(y, x.shape[1]).astype(bool)
    margins = np.where(own, 0.0, np.maximum(raw, 0.0))
    return {"loss": margins.sum(axis=1) / n}, (raw, own, n, None)


SVM_LOSS = LayerKind(
    name="svm_loss",
    title="multiclass SVM (hinge) loss with margin 1, the mean over the batch: (loss, dx)",
    family="loss",
    forward_name="svm_loss",
    backward_name=None,
    arguments=(Argument("x", ("N", "C")), Argument("y", ("N",), role="labels", bound="C")),
    outputs=("loss",),
    hyper=(),
    param_dict=None,
    default=Setup({"N": 5, "C": 4}),
    probes=(
        Setup({"N": 1, "C": 6}, note="batch 1, six classes"),
        Setup({"N": 6, "C": 3}, values="ties", note="integer scores: margins exactly 0"),
    ),
    forward=svm_forward,
    backward=svm_backward,
    output_shapes=lambda dims, p: {"loss": ()},
    structure={"x": structure.rows("x")},
    bugs=(
        _bug(
            _svm_bugs,
            "mean_missing",
            "the loss and dx are sums over the batch: the 1/N of the mean is missing",
            "divide both by N",
            shows="batches of 2 or more",
        ),
        _bug(
            _svm_bugs,
            "correct_class_counted",
            "the correct class's own margin (always 1) is counted: loss + 1, and dx[n, y] one "
            "1/N too low",
            "zero the correct class's margin before summing: margins[range(N), y] = 0",
        ),
        _bug(
            _svm_bugs,
            "margin_delta_missing",
            "the margin is x[j] − x[y] without the + 1 (Δ = 1)",
            "margins = np.maximum(0, x − x[range(N), y][:, None] + 1)",
        ),
    ),
    loss=True,
    intervals=_svm_intervals,
)


# ---------------------------------------------------------------------------------------------
# temporal softmax loss: Σ over (n, t) where mask[n, t] of −log p[n, t, y[n, t]], over N


def temporal_softmax_forward(a: Values, p: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    x, y, mask = a["x"], np.asarray(a["y"]), np.asarray(a["mask"], dtype=np.float64)
    n, t, v = x.shape
    rows = x.reshape(n * t, v)
    logp, probs = _log_softmax_rows(rows)
    picked = logp[np.arange(n * t), y.reshape(-1)]
    terms = -(picked * mask.reshape(-1)) / float(n)  # the mean over N, not over N·T
    return {"loss": terms.reshape(n, t)}, (probs, y.reshape(-1), mask.reshape(-1), x.shape)


def temporal_softmax_backward(d: Values, cache: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    probs, y, mask, shape = cache
    n = shape[0]
    dx = (probs - _onehot(y, shape[2])) * mask[:, None] / float(n)
    return {"x": dx.reshape(shape)}


def _temporal_bugs(case: Case) -> dict[str, dict[str, Array]]:
    good = plain(case)
    n, t, _ = np.shape(case.inputs["x"])
    unmasked = plain(case, inputs={"mask": np.ones(np.shape(case.inputs["mask"]), dtype=bool)})
    return {
        "mask_ignored": {"loss": unmasked["loss"], "dx": unmasked["dx"]},
        "mean_over_n_times_t": {"loss": good["loss"] / t, "dx": good["dx"] / t},
        "mean_missing": {"loss": good["loss"] * n, "dx": good["dx"] * n},
    }


TEMPORAL_SOFTMAX_LOSS = LayerKind(
    name="temporal_softmax_loss",
    title="softmax cross-entropy at every time step where mask is true, summed over time and "
    "averaged over the batch: (loss, dx)",
    family="loss",
    forward_name="temporal_softmax_loss",
    backward_name=None,
    arguments=(
        Argument("x", ("N", "T", "V")),
        Argument("y", ("N", "T"), role="labels", bound="V"),
        Argument("mask", ("N", "T"), role="mask"),
    ),
    outputs=("loss",),
    hyper=(),
    param_dict=None,
    default=Setup({"N": 3, "T": 4, "V": 5}),
    probes=(
        Setup({"N": 1, "T": 5, "V": 3}, note="batch 1, five time steps"),
        Setup({"N": 4, "T": 2, "V": 6}, values="wide", note="scores ×20"),
    ),
    forward=temporal_softmax_forward,
    backward=temporal_softmax_backward,
    output_shapes=lambda dims, p: {"loss": ()},
    structure={"x": structure.rows("x", lead=2)},
    bugs=(
        _bug(
            _temporal_bugs,
            "mask_ignored",
            "every time step counts: the mask is ignored",
            "multiply each step's loss and dx by mask[n, t]",
        ),
        _bug(
            _temporal_bugs,
            "mean_over_n_times_t",
            "the loss and dx are divided by N·T, not by N",
            "the course's temporal loss sums over time and averages over the batch: divide by N",
            shows="two or more time steps",
        ),
        _bug(
            _temporal_bugs,
            "mean_missing",
            "the loss and dx are sums over the batch: the 1/N is missing",
            "divide both by N",
            shows="batches of 2 or more",
        ),
    ),
    loss=True,
)

KINDS = (SOFTMAX_LOSS, SVM_LOSS, TEMPORAL_SOFTMAX_LOSS)
