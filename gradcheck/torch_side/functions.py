"""The torch counterpart of each activation and loss record in ``core/functions.py``.

The one place a function name is mapped to torch: the module class (for the seed's ``Model``,
whose ``state_dict`` names depend on the ``Sequential`` layout) and the functional form (for
the stacked autograd of sweeps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gradcheck.core.functions import ACTIVATIONS, LOSSES


@dataclass(frozen=True)
class TorchActivation:
    module: type[torch.nn.Module]
    functional: Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TorchLoss:
    module: type[torch.nn.Module]  # mean reduction, torch's default
    #: Unreduced: per element (B, n), or per sample (B,) for a loss over classes.
    per_element: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


TORCH_ACTIVATIONS: dict[str, TorchActivation] = {
    "sigmoid": TorchActivation(torch.nn.Sigmoid, torch.sigmoid),
    "tanh": TorchActivation(torch.nn.Tanh, torch.tanh),
    "relu": TorchActivation(torch.nn.ReLU, torch.relu),
    "leaky_relu": TorchActivation(torch.nn.LeakyReLU, F.leaky_relu),
    "elu": TorchActivation(torch.nn.ELU, F.elu),
    "softplus": TorchActivation(torch.nn.Softplus, F.softplus),
    "identity": TorchActivation(torch.nn.Identity, lambda z: z),
}

TORCH_LOSSES: dict[str, TorchLoss] = {
    "mse": TorchLoss(torch.nn.MSELoss, lambda p, t: F.mse_loss(p, t, reduction="none")),
    "l1": TorchLoss(torch.nn.L1Loss, lambda p, t: F.l1_loss(p, t, reduction="none")),
    "bce_logits": TorchLoss(
        torch.nn.BCEWithLogitsLoss,
        lambda p, t: F.binary_cross_entropy_with_logits(p, t, reduction="none"),
    ),
    "cross_entropy": TorchLoss(
        torch.nn.CrossEntropyLoss,
        # classes along dim 1, as torch wants them: (N, n, B) logits, (N, B) targets → (N, B)
        lambda p, t: F.cross_entropy(p.transpose(1, 2), t, reduction="none"),
    ),
}

# Every record has its torch counterpart (checked at import: a missing one is a bug here).
assert TORCH_ACTIVATIONS.keys() == ACTIVATIONS.keys()
assert TORCH_LOSSES.keys() == LOSSES.keys()
