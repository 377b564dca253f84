"""Linear and logistic regression: a bare ``nn.Linear`` is a network too.

    gradcheck run --model samples/model/regression.py:linear --x 0.974 0.312 --target 0.5
    gradcheck run --model samples/model/regression.py:logistic --x 0.974 0.312 --target 1 \\
        --loss bce
"""

import torch


def linear():
    return torch.nn.Linear(2, 1)


def logistic():
    return torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Sigmoid())
