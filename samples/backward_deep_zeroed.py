"""A deep sigmoid MLP's backward with a bug: the first two layers' gradients are left at zero.

Their true values are below atol on deep networks (vanishing gradients), so the elementwise rule
alone passes this; the per-tensor norm rule does not (docs/verdict.md).

    gradcheck run --x 0.974 0.312 --layers 2,10,10,10,10,10,10,10,1 --dtype float32 \\
        --impl samples/backward_deep_zeroed.py:backward
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def backward(params, x, y):
    depth = len(params) // 2
    a = [x]
    for layer in range(1, depth + 1):
        z = a[-1] @ params[f"W{layer}"].T + params[f"b{layer}"]
        a.append(sigmoid(z) if layer < depth else z)
    delta = 2.0 * (a[-1] - y) / y.size  # mse, mean over every element
    grads = {}
    for layer in range(depth, 0, -1):
        grads[f"W{layer}"] = delta.T @ a[layer - 1]
        grads[f"b{layer}"] = delta.sum(axis=0)
        if layer > 1:
            delta = (delta @ params[f"W{layer}"]) * a[layer - 1] * (1.0 - a[layer - 1])
    for layer in (1, 2):  # the bug: never filled in
        grads[f"W{layer}"] = np.zeros_like(grads[f"W{layer}"])
        grads[f"b{layer}"] = np.zeros_like(grads[f"b{layer}"])
    return grads
