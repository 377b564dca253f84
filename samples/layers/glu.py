"""A layer outside the catalogue: a gated linear unit, out = (x·w) ⊙ σ(x·v).

Check it against the numerical oracle alone (there is no torch reference for your own layer)::

    gradcheck layer custom --impl samples/layers/glu.py:glu_forward,glu_backward \
        --shape x=4x5 --shape w=5x3 --shape v=5x3

``glu_backward_buggy`` forgets the gate's own derivative.
"""

import numpy as np


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def glu_forward(x, w, v):
    a = x.dot(w)
    gate = _sigmoid(x.dot(v))
    out = a * gate
    return out, (x, w, v, a, gate)


def glu_backward(dout, cache):
    x, w, v, a, gate = cache
    da = dout * gate
    dg = dout * a * gate * (1 - gate)
    dx = da.dot(w.T) + dg.dot(v.T)
    dw = x.T.dot(da)
    dv = x.T.dot(dg)
    return dx, dw, dv


def glu_backward_buggy(dout, cache):
    x, w, v, a, gate = cache
    da = dout * gate
    dg = dout * a  # the gate's derivative σ′ = σ(1 − σ) is missing
    dx = da.dot(w.T) + dg.dot(v.T)
    return dx, x.T.dot(da), x.T.dot(dg)
