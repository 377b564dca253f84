"""In the style of Nielsen's network.py ("Neural Networks and Deep Learning", chapter 1),
written for gradcheck's gallery: weights (out, in) and column-vector biases (n, 1), one
example at a time as a column vector, sigmoid on every layer including the output, the
quadratic cost ½‖a − y‖², and a mini-batch step that averages the examples' gradients.

The class is left as that code has it; ``backward`` is the thin adapter: it loads the weights
and takes one step of ``update_mini_batch`` with η = 1 on a mini-batch of gradcheck's
examples, so the step is minus the gradient the code descends. Examples are columns and
biases (n, 1) (``--batch-axis last``); the cost averaged over the mini-batch is
½·Σ_units (a − y)² = 3/2 × mean((a − y)²) over the 3 outputs (``--loss-scale 1.5``):

    gradcheck run --batch-axis last --layers 4,5,3 --output-activation sigmoid \\
        --loss-scale 1.5 --data samples/styles/regression.csv \\
        --impl samples/styles/nielsen_network.py:backward
"""

import numpy as np


class Network:
    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.sizes = sizes
        rng = np.random.default_rng(0)
        self.biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
        self.weights = [rng.standard_normal((y, x)) for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        """The output for the column vector ``a`` (n0, 1)."""
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def update_mini_batch(self, mini_batch, eta):
        """One gradient-descent step on a list of (x, y) column vectors."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        """(nabla_b, nabla_w): the gradient of the cost of one example, layer by layer."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        # forward pass, keeping every z and activation
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        # backward pass
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for layer in range(2, self.num_layers):
            z = zs[-layer]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-layer + 1].transpose(), delta) * sp
            nabla_b[-layer] = delta
            nabla_w[-layer] = np.dot(delta, activations[-layer - 1].transpose())
        return (nabla_b, nabla_w)

    def cost_derivative(self, output_activations, y):
        """∂C/∂a for the quadratic cost ½‖a − y‖²."""
        return output_activations - y


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def backward(params, x, y):
    """gradcheck's call (--batch-axis last): x (n0, batch), y (nL, batch), b (n, 1)."""
    depth = len(params) // 2
    net = Network([x.shape[0]] + [params[f"W{k}"].shape[0] for k in range(1, depth + 1)])
    net.weights = [params[f"W{k}"].copy() for k in range(1, depth + 1)]
    net.biases = [params[f"b{k}"].copy() for k in range(1, depth + 1)]
    mini_batch = [(x[:, [j]], y[:, [j]]) for j in range(x.shape[1])]
    net.update_mini_batch(mini_batch, eta=1.0)
    grads = {}
    for k in range(1, depth + 1):
        grads[f"W{k}"] = params[f"W{k}"] - net.weights[k - 1]
        grads[f"b{k}"] = params[f"b{k}"] - net.biases[k - 1]
    return grads
