"""A course-assignment two-layer net: W stored (in, out), scores = relu(X·W1 + b1)·W2 + b2,
softmax cross-entropy averaged over the batch plus reg·(ΣW1² + ΣW2²).

Check it with the layout and the L2 term declared:

    gradcheck run --seed 2 --layers 4,6,3 --activation relu --loss cross_entropy --l2 0.05 \\
        --layout in_out --data samples/course/data.csv \\
        --impl samples/course/two_layer.py:loss_and_grads
"""

import numpy as np

REG = 0.05


def loss_and_grads(params, X, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]  # W: (in, out)
    N = X.shape[0]
    # forward
    hidden_pre = X @ W1 + b1
    hidden = np.maximum(hidden_pre, 0)
    scores = hidden @ W2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(N), y]).mean() + REG * (np.sum(W1 * W1) + np.sum(W2 * W2))
    # backward
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    dW2 = hidden.T @ dscores + 2 * REG * W2
    db2 = dscores.sum(axis=0)
    dhidden = dscores @ W2.T
    dhidden[hidden_pre <= 0] = 0
    dW1 = X.T @ dhidden + 2 * REG * W1
    db1 = dhidden.sum(axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "loss": loss}
