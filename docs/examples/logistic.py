"""Two backwards for a float32 logistic regression (``--layers 1,1 --output-activation sigmoid
--loss bce``), for the saturated output in docs/verdict.md:

- ``exact``: the gradient of bce through a sigmoid simplified by hand, δ = (σ(z) − y)/N, with σ
  computed from z without forming 1 − σ: right even where σ(z) rounds to 1 in float32;
- ``zeros``: every gradient 0, a bug that must fail wherever the true gradient is not 0.
"""

import numpy as np


def exact(params, x, y):
    z = x @ params["W1"].T + params["b1"]
    sigma = np.where(
        z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z)))
    )
    delta = (sigma - y) / y.size
    return {"W1": delta.T @ x, "b1": delta.sum(axis=0)}


def zeros(params, x, y):
    return {"W1": np.zeros_like(params["W1"]), "b1": np.zeros_like(params["b1"])}
