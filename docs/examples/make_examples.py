"""Write the weight files that examples in docs/ read.

Run: ``python docs/examples/make_examples.py``.

- ``seq.pt``: a bare ``Sequential(Linear(2, 5), Tanh(), Linear(5, 1))`` (keys ``0.weight`` …),
  torch's default initialisation after ``torch.manual_seed(1)``, in float32.
- ``broken.pt``: ``fc1`` (4 outputs) and ``fc2`` (5 inputs), zeros: layers that do not chain.

And the weights docs/verdict.md reads:

- ``kink.npz``: a 2→2→1 network (``W1, b1, W2, b2``) of binary fractions, so that every step of
  its forward pass at x = (1, 2) is exact in float64 and ŷ = 1.25 on any CPU.

The files are committed: torch's initialisation rounds differently on different CPUs, and an
example must show the same weights everywhere.
"""

from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def main() -> None:
    torch.manual_seed(1)
    seq = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    torch.save(seq.state_dict(), HERE / "seq.pt")
    broken = {
        "fc1.weight": torch.zeros(4, 2),
        "fc1.bias": torch.zeros(4),
        "fc2.weight": torch.zeros(3, 5),
        "fc2.bias": torch.zeros(3),
    }
    torch.save(broken, HERE / "broken.pt")
    np.savez(
        HERE / "kink.npz",
        W1=np.array([[0.5, 0.25], [-0.5, 1.0]]),
        b1=np.array([0.125, -0.25]),
        W2=np.array([[1.5, -0.75]]),
        b2=np.array([0.5]),
    )


if __name__ == "__main__":
    main()
