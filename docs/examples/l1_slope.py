"""A correct backward for a 2→2→1 relu network under the l1 loss that takes, at ŷ = y, the
right-hand slope +1 of |ŷ − y| where torch takes 0 (docs/verdict.md, kinks):

    gradcheck run --x 1 2 --layers 2,2,1 --activation relu --loss l1 \\
        --weights docs/examples/kink.npz --target 1.25 --impl docs/examples/l1_slope.py:backward

With kink.npz's weights every step of the forward pass is exact in float64, so ŷ = 1.25 = y on
every CPU: both slopes are valid derivatives there.
"""

import numpy as np


def backward(params, x, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z1 = x @ W1.T + b1
    a1 = np.maximum(z1, 0.0)
    pred = a1 @ W2.T + b2
    # d/dŷ mean|ŷ − y|: ±1/N, taking +1 at ŷ = y (torch's sign(0) takes 0)
    delta2 = np.where(pred >= y, 1.0, -1.0) / pred.size
    delta1 = (delta2 @ W2) * (z1 > 0)
    return {
        "W1": delta1.T @ x,
        "b1": delta1.sum(axis=0),
        "W2": delta2.T @ a1,
        "b2": delta2.sum(axis=0),
    }
