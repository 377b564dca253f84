"""In the style of Britz's "Implementing a Neural Network from Scratch", written for
gradcheck's gallery: a model dict with W1 (in, hidden), b1 (1, hidden), W2 (hidden, out),
b2 (1, out), tanh hidden units, a softmax output, and backpropagation that sums over the
examples (``np.sum(…, axis=0, keepdims=True)`` for one bias, ``axis=0`` for the other) and
adds ``reg_lambda·W`` for the regularisation (reg_lambda/2)·ΣW².

The loop's gradient lines are kept as that code writes them, in ``backprop``, which
``build_model`` steps along; ``backward`` is the thin adapter. W is stored (in, out)
(``--layout in_out``), the gradient is the sum's (``--reduction sum``), and
(reg_lambda/2)·ΣW² with reg_lambda = 0.01 is ``--l2 0.005``. The printed loss divides by the
number of examples while the gradient does not, so the adapter does not return it:

    gradcheck run --layout in_out --layers 2,5,2 --activation tanh --loss cross_entropy \\
        --reduction sum --l2 0.005 --data samples/styles/two_moons.csv \\
        --impl samples/styles/britz_nn.py:backward
"""

import numpy as np

nn_input_dim = 2  # input layer dimensionality
nn_output_dim = 2  # output layer dimensionality
epsilon = 0.01  # learning rate for gradient descent
reg_lambda = 0.01  # regularization strength


def calculate_loss(model, X, y):
    num_examples = len(X)
    W1, b1, W2, b2 = model["W1"], model["b1"], model["W2"], model["b2"]
    z1 = X.dot(W1) + b1
    a1 = np.tanh(z1)
    z2 = a1.dot(W2) + b2
    exp_scores = np.exp(z2)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    corect_logprobs = -np.log(probs[range(num_examples), y])
    data_loss = np.sum(corect_logprobs)
    data_loss += reg_lambda / 2 * (np.sum(np.square(W1)) + np.sum(np.square(W2)))
    return 1.0 / num_examples * data_loss


def backprop(model, X, y):
    """dW1, db1, dW2, db2 for the model on (X, y), as the training loop computes them."""
    num_examples = len(X)
    W1, b1, W2, b2 = model["W1"], model["b1"], model["W2"], model["b2"]
    # Forward propagation
    z1 = X.dot(W1) + b1
    a1 = np.tanh(z1)
    z2 = a1.dot(W2) + b2
    exp_scores = np.exp(z2)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    # Backpropagation
    delta3 = probs
    delta3[range(num_examples), y] -= 1
    dW2 = (a1.T).dot(delta3)
    db2 = np.sum(delta3, axis=0, keepdims=True)
    delta2 = delta3.dot(W2.T) * (1 - np.power(a1, 2))
    dW1 = np.dot(X.T, delta2)
    db1 = np.sum(delta2, axis=0)
    # Add regularization terms (b1 and b2 don't have regularization terms)
    dW2 += reg_lambda * W2
    dW1 += reg_lambda * W1
    return dW1, db1, dW2, db2


def build_model(X, y, nn_hdim, num_passes=20000):
    np.random.seed(0)
    W1 = np.random.randn(nn_input_dim, nn_hdim) / np.sqrt(nn_input_dim)
    b1 = np.zeros((1, nn_hdim))
    W2 = np.random.randn(nn_hdim, nn_output_dim) / np.sqrt(nn_hdim)
    b2 = np.zeros((1, nn_output_dim))
    model = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    for _ in range(num_passes):
        dW1, db1, dW2, db2 = backprop(model, X, y)
        # Gradient descent parameter update
        model["W1"] = model["W1"] - epsilon * dW1
        model["b1"] = model["b1"] - epsilon * db1
        model["W2"] = model["W2"] - epsilon * dW2
        model["b2"] = model["b2"] - epsilon * db2
    return model


def backward(params, X, y):
    """gradcheck's call (--layout in_out): W (in, out), b (n,), y (N,) class indices."""
    dW1, db1, dW2, db2 = backprop(dict(params), X, y)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
