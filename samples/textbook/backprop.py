"""A textbook per-example backpropagation: sigmoid on every layer, the output included, and the
cost C = ½·Σ_x ‖a_L(x) − y(x)‖² summed over the batch; column vectors, biases as columns (n, 1).

It is correct, for that network. Check it with the flags that declare that network:

    gradcheck run --x 0.974 0.312 --x -0.5 0.8 --x 0.1 -0.9 --target 0.5 --target 0.2 \\
        --target 0.9 --output-activation sigmoid --reduction sum --loss-scale 0.5 \\
        --impl samples/textbook/backprop.py:backward

Without the flags gradcheck compares it with the seed's network (linear output, mean of
(ŷ − y)²) and the convention finder names the flags above.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1.0 - sigmoid(z))


def backprop(weights, biases, x, y):
    """One example: x (n0, 1), y (nL, 1) → nabla_w, nabla_b per layer, as in the textbook."""
    activation = x
    activations = [x]
    zs = []
    for w, b in zip(weights, biases, strict=True):
        z = w @ activation + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    # δL = ∂C/∂a ⊙ σ′(zL), with ∂C/∂a = a − y for C = ½‖a − y‖²
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
    nabla_b = [None] * len(weights)
    nabla_w = [None] * len(weights)
    nabla_b[-1] = delta
    nabla_w[-1] = delta @ activations[-2].T
    for layer in range(2, len(weights) + 1):
        delta = (weights[-layer + 1].T @ delta) * sigmoid_prime(zs[-layer])
        nabla_b[-layer] = delta
        nabla_w[-layer] = delta @ activations[-layer - 1].T
    return nabla_w, nabla_b


def backward(params, x, y):
    """gradcheck's contract: params W1, b1, … (W (out, in), b (n,)), x (B, n0), y (B, nL)."""
    depth = len(params) // 2
    weights = [params[f"W{k}"] for k in range(1, depth + 1)]
    biases = [params[f"b{k}"].reshape(-1, 1) for k in range(1, depth + 1)]  # columns
    grads = {}
    for row, target in zip(x, y, strict=True):
        nabla_w, nabla_b = backprop(weights, biases, row.reshape(-1, 1), target.reshape(-1, 1))
        for k in range(depth):
            # the cost sums over the examples, so the gradients do too
            grads[f"W{k + 1}"] = grads.get(f"W{k + 1}", 0) + nabla_w[k]
            grads[f"b{k + 1}"] = grads.get(f"b{k + 1}", 0) + nabla_b[k]  # (n, 1) columns
    return grads
