"""The seed's backward pass with a batch-reduction bug: the loss and its gradient are summed
over the batch where torch's mean divides by N = batch × outputs.

With one input row the sum and the mean are the same number, so the given row passes; the
probe batches of 2 and 3 rows fail it:

    gradcheck run --x 0.974 0.312 --impl samples/backward_sum_not_mean.py:backward   # exit 1
    gradcheck run --x 0.974 0.312 --impl samples/backward_sum_not_mean.py:backward --probes 0
                                                          # exit 0: one row cannot show it
"""

import numpy as np


def my_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_gradient(z):
    return my_sigmoid(z) * (1 - my_sigmoid(z))


def loss_gradient(y_true, y_pred):
    # BUG: d/dŷ of the *sum* of (ŷ − y)²; torch's mean divides by N = batch × outputs.
    return 2 * y_pred - 2 * y_true


def backward(params, x, y):
    W1, b1 = params["W1"], params["b1"]
    W2, b2 = params["W2"], params["b2"]
    W3, b3 = params["W3"], params["b3"]

    # Forward, keeping what backward needs.
    z1 = x @ W1.T + b1
    z1_act = my_sigmoid(z1)
    z2 = z1_act @ W2.T + b2
    z2_act = my_sigmoid(z2)
    z3 = z2_act @ W3.T + b3
    prediction = z3

    # Backward: δ3 at the (linear) output, then back through W3, σ, W2, σ.
    delta3 = loss_gradient(y, prediction)  # (batch, 1)
    w3_gradient = delta3.T @ z2_act  # (1, 10): sums the batch's outer products
    b3_gradient = delta3.sum(axis=0)  # (1,)

    delta2 = (delta3 @ W3) * sigmoid_gradient(z2)  # (batch, 10)
    w2_gradient = delta2.T @ z1_act  # (10, 10)
    b2_gradient = delta2.sum(axis=0)

    delta1 = (delta2 @ W2) * sigmoid_gradient(z1)  # (batch, 10)
    w1_gradient = delta1.T @ x  # (10, 2)
    b1_gradient = delta1.sum(axis=0)

    return {
        "W1": w1_gradient,
        "b1": b1_gradient,
        "W2": w2_gradient,
        "b2": b2_gradient,
        "W3": w3_gradient,
        "b3": b3_gradient,
        # Optional: the deltas and forward values are compared too.
        "delta1": delta1,
        "delta2": delta2,
        "delta3": delta3,
        "prediction": prediction,
        "loss": np.sum((prediction - y) ** 2),  # BUG: the same sum,
    }
