"""A model gradcheck cannot read: torch.sin between its layers (docs/network.md, ``--model``)."""

import torch


class M(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(2, 4)
        self.fc2 = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.sin(self.fc1(x)))
