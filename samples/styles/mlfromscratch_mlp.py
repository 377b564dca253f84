"""In the style of the ML-From-Scratch multilayer perceptron, written for gradcheck's gallery:
activation and loss objects with ``__call__`` and ``gradient``, weights W (features, hidden)
and V (hidden, outputs), biases w0 (1, hidden) and v0 (1, outputs) summed with
``keepdims=True``, sigmoid hidden units, a softmax output whose ``gradient`` is the diagonal
p(1 − p), an elementwise cross-entropy on the one-hot targets, and a training loop that
steps along the gradients summed over the examples.

That product, −(y/p − (1 − y)/(1 − p))·p(1 − p) = p − y, is exactly the gradient of the
softmax cross-entropy on the logits: the code is right for ``--loss cross_entropy`` (class
indices; the adapter makes them one-hot as the code's caller does) with ``--reduction sum``.
The class is left as that code has it; ``backward`` is the thin adapter: it puts gradcheck's
weights in place of the random ones and runs one iteration of ``fit`` with learning rate 1,
so the step is minus the gradient. W is stored (in, out) (``--layout in_out``):

    gradcheck run --layout in_out --layers 4,6,3 --activation sigmoid --loss cross_entropy \\
        --reduction sum --data samples/course/data.csv \\
        --impl samples/styles/mlfromscratch_mlp.py:backward
"""

import math

import numpy as np


class Sigmoid:
    def __call__(self, x):
        return 1 / (1 + np.exp(-x))

    def gradient(self, x):
        return self.__call__(x) * (1 - self.__call__(x))


class Softmax:
    def __call__(self, x):
        e_x = np.exp(x - np.max(x, axis=-1, keepdims=True))
        return e_x / np.sum(e_x, axis=-1, keepdims=True)

    def gradient(self, x):
        p = self.__call__(x)
        return p * (1 - p)


class CrossEntropy:
    def loss(self, y, p):
        p = np.clip(p, 1e-15, 1 - 1e-15)
        return -y * np.log(p) - (1 - y) * np.log(1 - p)

    def gradient(self, y, p):
        p = np.clip(p, 1e-15, 1 - 1e-15)
        return -(y / p) + (1 - y) / (1 - p)


class MultilayerPerceptron:
    def __init__(self, n_hidden, n_iterations=3000, learning_rate=0.01):
        self.n_hidden = n_hidden
        self.n_iterations = n_iterations
        self.learning_rate = learning_rate
        self.hidden_activation = Sigmoid()
        self.output_activation = Softmax()
        self.loss = CrossEntropy()

    def _initialize_weights(self, X, y):
        n_samples, n_features = X.shape
        _, n_outputs = y.shape
        limit = 1 / math.sqrt(n_features)
        self.W = np.random.uniform(-limit, limit, (n_features, self.n_hidden))
        self.w0 = np.zeros((1, self.n_hidden))
        limit = 1 / math.sqrt(self.n_hidden)
        self.V = np.random.uniform(-limit, limit, (self.n_hidden, n_outputs))
        self.v0 = np.zeros((1, n_outputs))

    def fit(self, X, y):
        self._initialize_weights(X, y)
        for _ in range(self.n_iterations):
            # Forward pass
            hidden_input = X.dot(self.W) + self.w0
            hidden_output = self.hidden_activation(hidden_input)
            output_layer_input = hidden_output.dot(self.V) + self.v0
            y_pred = self.output_activation(output_layer_input)
            # Backward pass: output layer
            grad_wrt_out_l_input = self.loss.gradient(y, y_pred) * self.output_activation.gradient(
                output_layer_input
            )
            grad_v = hidden_output.T.dot(grad_wrt_out_l_input)
            grad_v0 = np.sum(grad_wrt_out_l_input, axis=0, keepdims=True)
            # Hidden layer
            grad_wrt_hidden_l_input = grad_wrt_out_l_input.dot(
                self.V.T
            ) * self.hidden_activation.gradient(hidden_input)
            grad_w = X.T.dot(grad_wrt_hidden_l_input)
            grad_w0 = np.sum(grad_wrt_hidden_l_input, axis=0, keepdims=True)
            # Update weights (by gradient descent)
            self.V -= self.learning_rate * grad_v
            self.v0 -= self.learning_rate * grad_v0
            self.W -= self.learning_rate * grad_w
            self.w0 -= self.learning_rate * grad_w0

    def predict(self, X):
        hidden_output = self.hidden_activation(X.dot(self.W) + self.w0)
        return self.output_activation(hidden_output.dot(self.V) + self.v0)


def to_categorical(x, n_col=None):
    """One-hot rows for integer labels, as the code's callers pass its targets."""
    if not n_col:
        n_col = np.amax(x) + 1
    one_hot = np.zeros((x.shape[0], n_col))
    one_hot[np.arange(x.shape[0]), x] = 1
    return one_hot


def backward(params, X, y):
    """gradcheck's call (--layout in_out): W (in, out), b (n,), y (N,) class indices."""
    mlp = MultilayerPerceptron(n_hidden=params["W1"].shape[1], n_iterations=1, learning_rate=1.0)
    names = {"W": "W1", "w0": "b1", "V": "W2", "v0": "b2"}

    def load(X, y):
        for attr, name in names.items():
            setattr(mlp, attr, params[name].reshape(-1, params[name].shape[-1]).copy())

    mlp._initialize_weights = load
    targets = y if y.ndim == 2 else to_categorical(y, n_col=params["W2"].shape[1])
    mlp.fit(X, targets)
    return {
        name: params[name] - getattr(mlp, attr).reshape(params[name].shape)
        for attr, name in names.items()
    }
