"""Your own model class, checked as it is: ``gradcheck run --model samples/model/net.py:Net``.

    gradcheck run --model samples/model/net.py:Net --x 0.974 0.312 --target 1 \\
        --loss nll --impl samples/model/net.py:backward
"""

import numpy as np
import torch
import torch.nn.functional as F


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(2, 8)
        self.act = torch.nn.LeakyReLU(0.2)
        self.fc2 = torch.nn.Linear(8, 3)

    def forward(self, x):
        return F.log_softmax(self.fc2(self.act(self.fc1(x))), dim=1)


def backward(params, x, y):
    """Hand gradients of nll(log_softmax(fc2(leaky_relu(fc1(x))))), mean over the batch."""
    # params arrive under the hand names W1, b1, W2, b2; the result may use the model's names
    z1 = x @ params["W1"].T + params["b1"]
    a1 = np.where(z1 > 0, z1, 0.2 * z1)
    z2 = a1 @ params["W2"].T + params["b2"]
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta2 = p.copy()
    delta2[np.arange(len(y)), y] -= 1.0
    delta2 /= len(y)
    delta1 = (delta2 @ params["W2"]) * np.where(z1 > 0, 1.0, 0.2)
    return {
        "fc1.weight": delta1.T @ x,
        "fc1.bias": delta1.sum(axis=0),
        "fc2.weight": delta2.T @ a1,
        "fc2.bias": delta2.sum(axis=0),
    }
