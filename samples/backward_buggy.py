"""The seed's backward pass with a classic bug: the weight gradient of a square layer is
transposed. Its shape is still (10, 10), so a checker that only compares shapes passes it.

    gradcheck run --x 0.974 0.312 --impl samples/backward_buggy.py:backward   # exit 1
"""

import numpy as np


def my_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_gradient(z):
    return my_sigmoid(z) * (1 - my_sigmoid(z))


def backward(params, x, y):
    W1, b1, W2, b2, W3, b3 = (params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    z1 = x @ W1.T + b1
    z1_act = my_sigmoid(z1)
    z2 = z1_act @ W2.T + b2
    z2_act = my_sigmoid(z2)
    prediction = z2_act @ W3.T + b3

    delta3 = (2 * prediction - 2 * y) / prediction.size
    delta2 = (delta3 @ W3) * sigmoid_gradient(z2)
    delta1 = (delta2 @ W2) * sigmoid_gradient(z1)
    return {
        "W1": delta1.T @ x,
        "b1": delta1.sum(axis=0),
        "W2": z1_act.T @ delta2,  # BUG: (in, out); dW2 = delta2.T @ z1_act is (out, in)
        "b2": delta2.sum(axis=0),
        "W3": delta3.T @ z2_act,
        "b3": delta3.sum(axis=0),
    }
