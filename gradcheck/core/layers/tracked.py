"""Running error analysis carried by the arithmetic: arrays with a bound on their rounding.

A compared quantity's rounding bound E is, as in ``core/bounds.py``, a running error analysis
(Higham, *Accuracy and Stability of Numerical Algorithms*, ch. 3): a bound, to first order, on
how far a correct computation in the check's dtype can land from the exact value. For the MLP
it is written out layer by layer; for the layer catalogue it is not written at all. Each kind's
formulas (``core/layers/math.py``) are evaluated once more on ``Tracked`` arrays, a value and a
bound, whose every operation adds the bound of its own rounding to the bounds it inherits
(u: the dtype's machine epsilon, η: its smallest subnormal, for results that underflow):

    a ± b      e_a + e_b + u·|a ± b| + η
    a·b        |b|·e_a + |a|·e_b + u·|a·b| + η
    a / b      (e_a + |a/b|·e_b) / |b| + u·|a/b| + η
    A @ B      e_A·|B| + |A|·e_B + inner(n)·|A|·|B| + (n + 2)·η      (n terms summed)
    Σ of n     Σ e + inner(n)·Σ|a| + (n + 2)·η
    f(a)       |f′(a)|·e_a + C·u·(|f(a)| + bounded_f) + η            (C = FUNCTION_ULPS)
    max, a select, reshape, pad, gather: exact (max is 1-Lipschitz: the largest e of its
    arguments)

``inner(n)`` is Higham & Mary's probabilistic bound of ``core/bounds.py``. Inputs are exact
(both sides are handed the same values in the dtype). Writing the bound as arithmetic keeps it
next to the formula it bounds: a kind's bound is its forward and backward, evaluated once on
tracked arrays.

``ops`` functions (``sum``, ``exp``, ``where``, ``windows``, ``fold`` …) take plain arrays too,
so the same formulas give plain float64 values (the diagnosis's bug formulas, the oracle).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.bounds import FUNCTION_ULPS, inner

Array = NDArray[np.float64]
Operand = Union["Tracked", Array, float, int]


@dataclass(frozen=True)
class Rounding:
    """The dtype's machine epsilon u and smallest subnormal η."""

    u: float
    eta: float

    @staticmethod
    def of(dtype: str) -> Rounding:
        info = np.finfo(np.dtype(dtype))
        return Rounding(float(info.eps), float(info.smallest_subnormal))


class Tracked:
    """A float64 value and a bound on a correct side's rounding error in it (elementwise)."""

    __slots__ = ("error", "r", "value")
    __array_priority__ = 100  # ndarray ∘ Tracked defers to Tracked's reflected operators

    def __init__(self, value: Any, error: Any, r: Rounding) -> None:
        self.value: Array = np.asarray(value, dtype=np.float64)
        self.error: Array = np.broadcast_to(np.asarray(error, dtype=np.float64), self.value.shape)
        self.r = r

    @staticmethod
    def exact(value: Any, r: Rounding) -> Tracked:
        return Tracked(value, np.zeros(np.shape(value)), r)

    # -- shape ---------------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    @property
    def ndim(self) -> int:
        return int(self.value.ndim)

    @property
    def size(self) -> int:
        return int(self.value.size)

    @property
    def T(self) -> Tracked:
        return Tracked(self.value.T, self.error.T, self.r)

    def reshape(self, *shape: Any) -> Tracked:
        return Tracked(self.value.reshape(*shape), self.error.reshape(*shape), self.r)

    def transpose(self, *axes: int) -> Tracked:
        return Tracked(self.value.transpose(*axes), self.error.transpose(*axes), self.r)

    def swapaxes(self, a: int, b: int) -> Tracked:
        return Tracked(self.value.swapaxes(a, b), self.error.swapaxes(a, b), self.r)

    def __getitem__(self, index: Any) -> Tracked:
        return Tracked(self.value[index], self.error[index], self.r)

    def __len__(self) -> int:
        return len(self.value)

    # -- arithmetic ----------------------------------------------------------------------------

    def _rounded(self, value: Array, inherited: Array) -> Tracked:
        return Tracked(value, inherited + self.r.u * np.abs(value) + self.r.eta, self.r)

    def __add__(self, other: Operand) -> Tracked:
        v, e = _parts(other)
        return self._rounded(self.value + v, self.error + e)

    __radd__ = __add__

    def __sub__(self, other: Operand) -> Tracked:
        v, e = _parts(other)
        return self._rounded(self.value - v, self.error + e)

    def __rsub__(self, other: Operand) -> Tracked:
        v, e = _parts(other)
        return self._rounded(v - self.value, self.error + e)

    def __neg__(self) -> Tracked:
        return Tracked(-self.value, self.error, self.r)

    def __mul__(self, other: Operand) -> Tracked:
        v, e = _parts(other)
        return self._rounded(self.value * v, np.abs(v) * self.error + np.abs(self.value) * e)

    __rmul__ = __mul__

    def __truediv__(self, other: Operand) -> Tracked:
        v, e = _parts(other)
        q = self.value / v
        return self._rounded(q, (self.error + np.abs(q) * e) / np.abs(v))

    def __rtruediv__(self, other: Operand) -> Tracked:
        v, e = _parts(other)
        q = v / self.value
        return self._rounded(q, (e + np.abs(q) * self.error) / np.abs(self.value))

    def __matmul__(self, other: Operand) -> Tracked:
        v, e = _parts(other)
        return _matmul(self.value, self.error, v, e, self.r)

    def __rmatmul__(self, other: Operand) -> Tracked:
        v, e = _parts(other)
        return _matmul(v, e, self.value, self.error, self.r)

    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tracked:
        n = _count(self.value.shape, axis)
        ax = _axes(axis)
        value = np.sum(self.value, axis=ax, keepdims=keepdims)
        bound = np.sum(self.error, axis=ax, keepdims=keepdims) + inner(n, self.r.u) * np.sum(
            np.abs(self.value), axis=ax, keepdims=keepdims
        )
        return Tracked(value, bound + (n + 2) * self.r.eta, self.r)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tracked:
        return self.sum(axis, keepdims) / float(_count(self.value.shape, axis))


def _parts(x: Operand) -> tuple[Array, Array | float]:
    if isinstance(x, Tracked):
        return x.value, x.error
    return np.asarray(x, dtype=np.float64), 0.0


def _matmul(a: Array, ea: Array | float, b: Array, eb: Array | float, r: Rounding) -> Tracked:
    n = int(np.shape(a)[-1])
    abs_a, abs_b = np.abs(a), np.abs(b)
    bound = inner(n, r.u) * (abs_a @ abs_b) + (n + 2) * r.eta
    if np.any(ea):
        bound = bound + np.broadcast_to(ea, np.shape(a)) @ abs_b
    if np.any(eb):
        bound = bound + abs_a @ np.broadcast_to(eb, np.shape(b))
    return Tracked(a @ b, bound, r)


def _axes(axis: int | Sequence[int] | None) -> int | tuple[int, ...] | None:
    return tuple(axis) if isinstance(axis, Sequence) else axis


def _count(shape: tuple[int, ...], axis: int | Sequence[int] | None) -> int:
    if axis is None:
        return math.prod(shape)
    axes = [axis] if isinstance(axis, int) else list(axis)
    return math.prod(shape[a] for a in axes)


# ---------------------------------------------------------------------------------------------
# ops: the same call for a plain array and a tracked one

A = Any  # an ndarray or a Tracked


def value(a: A) -> Array:
    """The values of a tracked array (float64), or the array itself (in its own dtype)."""
    return a.value if isinstance(a, Tracked) else np.asarray(a)


def total(a: A, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> A:
    if isinstance(a, Tracked):
        return a.sum(axis, keepdims)
    return np.sum(a, axis=_axes(axis), keepdims=keepdims)


def mean(a: A, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> A:
    if isinstance(a, Tracked):
        return a.mean(axis, keepdims)
    return np.mean(a, axis=_axes(axis), keepdims=keepdims)


def apply(a: A, f: Callable[[Any], Any], df: Callable[[Any], Any], bounded: float = 0.0) -> A:
    """f(a) for an elementary function f with derivative df; ``bounded`` as the activation
    records' (an absolute error of ~ε near an asymptote, whatever the formula)."""
    if not isinstance(a, Tracked):
        return f(np.asarray(a))
    v = f(a.value)
    bound = np.abs(df(a.value)) * a.error + FUNCTION_ULPS * a.r.u * (np.abs(v) + bounded)
    return Tracked(v, bound + a.r.eta, a.r)


def exp(a: A) -> A:
    return apply(a, np.exp, np.exp)


def log(a: A) -> A:
    return apply(a, np.log, lambda v: 1.0 / v)


def sqrt(a: A) -> A:
    return apply(a, np.sqrt, lambda v: 0.5 / np.sqrt(v))


def where(mask: NDArray[np.bool_], a: A, b: A) -> A:
    """Elementwise select (exact)."""
    if not isinstance(a, Tracked) and not isinstance(b, Tracked):
        return np.where(mask, a, b)
    r = a.r if isinstance(a, Tracked) else b.r
    va, ea = _parts(a)
    vb, eb = _parts(b)
    return Tracked(np.where(mask, va, vb), np.where(mask, ea, eb), r)


def lipschitz(a: A, f: Callable[[Array], Array]) -> A:
    """f(a) for an exact 1-Lipschitz f (max(a, 0)): the error passes through unchanged."""
    if not isinstance(a, Tracked):
        return f(np.asarray(a))
    return Tracked(f(a.value), a.error, a.r)


def select(a: A, factor: Array) -> A:
    """a·m for a mask m of 0s and 1s: exact."""
    if not isinstance(a, Tracked):
        return a * factor
    return Tracked(a.value * factor, a.error * np.abs(factor), a.r)


def pad(a: A, widths: Sequence[tuple[int, int]]) -> A:
    if not isinstance(a, Tracked):
        return np.pad(a, widths)
    return Tracked(np.pad(a.value, widths), np.pad(a.error, widths), a.r)


def windows(a: A, kh: int, kw: int, stride: int) -> A:
    """(N, C, H, W) → (N, C, Ho, Wo, kh, kw): every window a stride apart (a view)."""

    def view(x: Array) -> Array:
        w = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
        return w[:, :, ::stride, ::stride]

    if not isinstance(a, Tracked):
        return view(np.asarray(a))
    return Tracked(view(a.value), view(a.error), a.r)


def window_max(w: A) -> A:
    """The largest value of each window (…, kh, kw) → (…): exact; a side that picks another
    of nearly equal values is within the largest error of the window."""
    if not isinstance(w, Tracked):
        return np.max(w, axis=(-2, -1))
    return Tracked(np.max(w.value, axis=(-2, -1)), np.max(w.error, axis=(-2, -1)), w.r)


def fold(cols: A, shape: tuple[int, ...], stride: int) -> A:
    """The adjoint of ``windows``: (N, C, Ho, Wo, kh, kw) summed back into ``shape``
    (N, C, H, W), where windows overlap adding up to ceil(kh/s)·ceil(kw/s) terms."""
    vc = value(cols)
    ho, wo, kh, kw = vc.shape[2:]
    tracked = isinstance(cols, Tracked)

    def add(x: Array) -> Array:
        out = np.zeros(shape, dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                out[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += x[
                    :, :, :, :, i, j
                ]
        return out

    summed = add(vc)
    if not tracked:
        return summed
    r = cols.r
    terms = math.ceil(kh / stride) * math.ceil(kw / stride)
    bound = add(cols.error) + inner(terms, r.u) * add(np.abs(vc)) + (terms + 2) * r.eta
    return Tracked(summed, bound, r)


def scatter_rows(n_rows: int, index: NDArray[np.intp], rows: A) -> A:
    """out[index[k]] += rows[k] for each k (rows (K, D) → (n_rows, D)): repeated indices add up."""
    vr = value(rows)
    out = np.zeros((n_rows, vr.shape[-1]), dtype=vr.dtype)
    np.add.at(out, index, vr)
    if not isinstance(rows, Tracked):
        return out
    r = rows.r
    most = int(np.max(np.bincount(index, minlength=n_rows))) if index.size else 0
    err = np.zeros_like(out)
    np.add.at(err, index, rows.error)
    size = np.zeros_like(out)
    np.add.at(size, index, np.abs(vr))
    return Tracked(out, err + inner(most, r.u) * size + (most + 2) * r.eta, r)


def concat(parts: Sequence[A], axis: int) -> A:
    if not any(isinstance(p, Tracked) for p in parts):
        return np.concatenate(parts, axis=axis)
    r = next(p.r for p in parts if isinstance(p, Tracked))
    values = [_parts(p)[0] for p in parts]
    errors = [
        np.broadcast_to(_parts(p)[1], np.shape(v)) for p, v in zip(parts, values, strict=True)
    ]
    return Tracked(np.concatenate(values, axis=axis), np.concatenate(errors, axis=axis), r)


def product(a: A, b: A) -> A:
    """a @ b for a stack of rows (…, n) and a matrix (n, m). A plain product runs in einsum's
    own loop, not BLAS: the oracle makes hundreds of skinny products, and BLAS wakes its
    threads for each (on a busy 2-core machine 4096×27 · 27×8 took 8 ms that way, 0.7 ms in
    einsum's loop, 0.2 ms in one BLAS thread)."""
    if isinstance(a, Tracked) or isinstance(b, Tracked):
        return a @ b
    return np.einsum("...ij,jk->...ik", a, b)


def either(a: A, b: A) -> A:
    """Two correct formulas of one quantity (a variance in one pass or two, the compact
    batchnorm backward or the staged one): a's values, the larger of the two bounds."""
    if not isinstance(a, Tracked):
        return a
    return Tracked(a.value, np.maximum(a.error, bound_of(b)), a.r)


def amax(a: A, axis: int, keepdims: bool = False) -> A:
    """The largest value along ``axis``: exact (1-Lipschitz: the largest error)."""
    if not isinstance(a, Tracked):
        return np.max(a, axis=axis, keepdims=keepdims)
    return Tracked(
        np.max(a.value, axis=axis, keepdims=keepdims),
        np.max(a.error, axis=axis, keepdims=keepdims),
        a.r,
    )


def bound_of(a: A) -> Array:
    """The tracked rounding bound (0 for a plain array: an exact input)."""
    return a.error if isinstance(a, Tracked) else np.zeros(np.shape(a))
