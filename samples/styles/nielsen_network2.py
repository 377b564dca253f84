"""In the style of Nielsen's network2.py ("Neural Networks and Deep Learning", chapter 3),
written for gradcheck's gallery: the cost as a class (cross-entropy or quadratic, each with
its ``fn`` and output ``delta``), weights (out, in) and biases (n, 1), examples as column
vectors, and L2 regularisation as weight decay in the step:
w → (1 − ηλ/n)·w − (η/m)·Σ∇w, the biases undecayed.

The classes are left as that code has them; ``backward`` is the thin adapter: one step of
``update_mini_batch`` with η = 1, so the step is minus the gradient the code descends. That
gradient belongs to the cost mean_batch Σ_units bce(a, y) + (λ/2n)·Σw²: bce summed over the 3
outputs is 3 × torch's mean (``--loss-scale 3``), and λ/2n with λ = 5 and n = 1000 training
examples is ``--l2 0.0025`` on every weight matrix:

    gradcheck run --batch-axis last --layers 4,5,3 --output-activation sigmoid --loss bce \\
        --loss-scale 3 --l2 0.0025 --data samples/styles/regression.csv \\
        --impl samples/styles/nielsen_network2.py:backward
"""

import numpy as np

LMBDA = 5.0  # the regularisation parameter λ
N_TRAINING = 1000  # n, the size of the training set the decay is spread over


class QuadraticCost:
    @staticmethod
    def fn(a, y):
        return 0.5 * np.linalg.norm(a - y) ** 2

    @staticmethod
    def delta(z, a, y):
        return (a - y) * sigmoid_prime(z)


class CrossEntropyCost:
    @staticmethod
    def fn(a, y):
        return np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a)))

    @staticmethod
    def delta(z, a, y):
        return a - y


class Network:
    def __init__(self, sizes, cost=CrossEntropyCost):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.default_weight_initializer()
        self.cost = cost

    def default_weight_initializer(self):
        rng = np.random.default_rng(0)
        self.biases = [rng.standard_normal((y, 1)) for y in self.sizes[1:]]
        self.weights = [
            rng.standard_normal((y, x)) / np.sqrt(x)
            for x, y in zip(self.sizes[:-1], self.sizes[1:])
        ]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        """One step of gradient descent with weight decay on a list of (x, y) columns."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [
            (1 - eta * (lmbda / n)) * w - (eta / len(mini_batch)) * nw
            for w, nw in zip(self.weights, nabla_w)
        ]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (self.cost).delta(zs[-1], activations[-1], y)
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for layer in range(2, self.num_layers):
            z = zs[-layer]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-layer + 1].transpose(), delta) * sp
            nabla_b[-layer] = delta
            nabla_w[-layer] = np.dot(delta, activations[-layer - 1].transpose())
        return (nabla_b, nabla_w)

    def total_cost(self, data, lmbda):
        cost = 0.0
        for x, y in data:
            cost += self.cost.fn(self.feedforward(x), y) / len(data)
        cost += 0.5 * (lmbda / len(data)) * sum(np.linalg.norm(w) ** 2 for w in self.weights)
        return cost


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
    net.update_mini_batch(mini_batch, eta=1.0, lmbda=LMBDA, n=N_TRAINING)
    grads = {}
    for k in range(1, depth + 1):
        grads[f"W{k}"] = params[f"W{k}"] - net.weights[k - 1]
        grads[f"b{k}"] = params[f"b{k}"] - net.biases[k - 1]
    return grads
