"""In the style of the CS231n two-layer net assignment, written for gradcheck's gallery: a
class holding ``self.params`` with W1 (D, H), b1 (H,), W2 (H, C), b2 (C,), whose
``loss(X, y, reg)`` returns the softmax loss averaged over the N examples plus
reg·(ΣW1² + ΣW2²), and the gradients in a dict keyed like the params.

The class is left as that code has it; ``backward`` is the thin adapter: hand gradcheck's
params to a net and return its (loss, grads). W is stored (in, out) (``--layout in_out``),
class labels are y (N,), and reg·ΣW² is ``--l2 0.05``:

    gradcheck run --seed 2 --layout in_out --layers 4,6,3 --activation relu \\
        --loss cross_entropy --l2 0.05 --data samples/course/data.csv \\
        --impl samples/styles/cs231n_two_layer.py:backward
"""

import numpy as np

REG = 0.05


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        self.params = {}
        self.params["W1"] = std * np.random.randn(input_size, hidden_size)
        self.params["b1"] = np.zeros(hidden_size)
        self.params["W2"] = std * np.random.randn(hidden_size, output_size)
        self.params["b2"] = np.zeros(output_size)

    def loss(self, X, y=None, reg=0.0):
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        N, D = X.shape

        # forward pass: class scores (N, C)
        hidden = np.maximum(0, X.dot(W1) + b1)
        scores = hidden.dot(W2) + b2
        if y is None:
            return scores

        # softmax loss, averaged over the examples, plus L2 on the weights
        shifted = scores - np.max(scores, axis=1, keepdims=True)
        exp_scores = np.exp(shifted)
        probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
        loss = -np.sum(np.log(probs[np.arange(N), y])) / N
        loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

        # backward pass
        grads = {}
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads["W2"] = hidden.T.dot(dscores) + 2 * reg * W2
        grads["b2"] = np.sum(dscores, axis=0)
        dhidden = dscores.dot(W2.T)
        dhidden[hidden <= 0] = 0
        grads["W1"] = X.T.dot(dhidden) + 2 * reg * W1
        grads["b1"] = np.sum(dhidden, axis=0)
        return loss, grads


def backward(params, X, y):
    """gradcheck's call (--layout in_out): W (in, out), b (n,), y (N,) class indices."""
    net = TwoLayerNet(params["W1"].shape[0], params["W1"].shape[1], params["W2"].shape[1])
    net.params = dict(params)
    loss, grads = net.loss(X, y, reg=REG)
    return {**grads, "loss": loss}
