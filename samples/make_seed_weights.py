"""Rebuild weights for which the seed's published numbers follow exactly.

The seed printed its input, prediction, loss and every gradient, but not its weights. Those
numbers pin the weights down enough to rebuild a set that reproduces all of them:

    δ3 = ∂L/∂ŷ = b3's gradient               a2 = (W3's gradient) / δ3
    δ2 = b2's gradient = W3ᵀδ3 ⊙ σ′(z2)     ⇒ W3 = δ2 / (δ3 · a2(1 − a2))
    a1 = (W2's gradient row j) / δ2_j         δ1 = b1's gradient = W2ᵀδ2 ⊙ σ′(z1)
    ⇒ W2 must satisfy W2ᵀδ2 = δ1 / (a1(1 − a1)); the smallest-norm such W2 is used;
    z2 = W2 a1 + b2 = logit(a2) fixes b2, z1 = W1 x + b1 = logit(a1) fixes b1 for any W1,
    and ŷ = W3 a2 + b3 fixes b3.

Run ``python samples/make_seed_weights.py`` to write ``samples/seed_weights.npz``; then
``gradcheck run --weights samples/seed_weights.npz --x 0.97436534 0.31171513 --target 0.52327709``
prints the seed's prediction, loss and gradients.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seed_numbers as seed


def rebuild() -> dict[str, np.ndarray]:
    """Weights (torch state_dict keys, float64) consistent with every published number."""
    delta3 = seed.GRAD_B3  # (1,)
    a2 = seed.GRAD_W3[0] / delta3[0]  # (10,)
    delta2 = seed.GRAD_B2
    w3 = (delta2 / (delta3[0] * a2 * (1 - a2)))[None, :]  # (1, 10)
    # Every row of W2's gradient is δ2_j · a1; the rows with the largest |δ2_j| carry the
    # most digits, so weight the estimate by δ2².
    a1 = (seed.GRAD_W2 * delta2[:, None]).sum(axis=0) / (delta2**2).sum()
    delta1 = seed.GRAD_B1
    c = delta1 / (a1 * (1 - a1))  # = W2ᵀ δ2
    w2 = np.outer(delta2, c) / (delta2 @ delta2)  # smallest-norm solution of W2ᵀδ2 = c
    b2 = np.log(a2 / (1 - a2)) - w2 @ a1
    # W1 is free (its gradient is δ1 xᵀ whatever it is): take a fixed, ordinary-looking one.
    w1 = np.random.default_rng(0).uniform(-0.7, 0.7, size=(10, 2))
    b1 = np.log(a1 / (1 - a1)) - w1 @ seed.X
    b3 = np.array([seed.PREDICTION - w3[0] @ a2])
    return {
        "dense.0.weight": w1,
        "dense.0.bias": b1,
        "dense.2.weight": w2,
        "dense.2.bias": b2,
        "dense.4.weight": w3,
        "dense.4.bias": b3,
    }


def main() -> None:
    out = Path(__file__).resolve().parent / "seed_weights.npz"
    np.savez(out, **rebuild())
    print(f"wrote {out} (target {seed.TARGET:.8f})")


if __name__ == "__main__":
    main()
