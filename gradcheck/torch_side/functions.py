"""The torch counterpart of each activation, output activation and loss record in
``core/functions.py``.

The one place a function name is mapped to torch: the module class (for the seed's ``Model``,
whose ``state_dict`` names depend on the ``Sequential`` layout), the functional form (for the
stacked autograd of sweeps), and every spelling ``torch.fx`` may show for it in a user's model
(``nn.ReLU``, ``torch.relu``, ``F.relu``, ``x.relu()``), read by ``torch_side/model.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from gradcheck.core.functions import ACTIVATIONS, LOSSES, OUTPUT_ACTIVATIONS


@dataclass(frozen=True)
class TorchActivation:
    module: type[torch.nn.Module]
    functional: Callable[..., torch.Tensor]  # (z, **{parameter: value})
    #: Other callables and Tensor methods that compute the same function (for torch.fx).
    aliases: tuple[Callable[..., Any], ...] = ()
    methods: tuple[str, ...] = ()
    #: torch.fx: the module attribute / functional keyword holding the record's parameter, and
    #: its positional index in the functional's signature.
    position: int = 1

    def make(self, parameter: str | None, value: float | None) -> torch.nn.Module:
        """The module, with the record's parameter set when it has one."""
        if parameter is None or value is None:
            return self.module()
        return self.module(**{parameter: value})

    def apply(self, z: torch.Tensor, parameter: str | None, value: float | None) -> torch.Tensor:
        if parameter is None or value is None:
            return self.functional(z)
        return self.functional(z, **{parameter: value})


@dataclass(frozen=True)
class TorchOutput:
    module: Callable[[], torch.nn.Module] | None  # None: nothing after the last Linear
    functional: Callable[[torch.Tensor], torch.Tensor]
    aliases: tuple[Callable[..., Any], ...] = ()
    methods: tuple[str, ...] = ()
    #: The module class torch.fx sees, and whether it must act on the last dimension.
    module_class: type[torch.nn.Module] | None = None
    needs_dim: bool = False


@dataclass(frozen=True)
class TorchLoss:
    #: (prediction, target, reduction) → loss, as torch's functional with that reduction.
    functional: Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor]

    def per_element(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Unreduced: per element (…, B, n), or per sample (…, B) for a loss over classes."""
        return self.functional(prediction, target, "none")


def _identity(z: torch.Tensor) -> torch.Tensor:
    return z


TORCH_ACTIVATIONS: dict[str, TorchActivation] = {
    "sigmoid": TorchActivation(
        torch.nn.Sigmoid, torch.sigmoid, (F.sigmoid, torch.Tensor.sigmoid), ("sigmoid",)
    ),
    "tanh": TorchActivation(torch.nn.Tanh, torch.tanh, (F.tanh, torch.Tensor.tanh), ("tanh",)),
    "relu": TorchActivation(torch.nn.ReLU, torch.relu, (F.relu, torch.Tensor.relu), ("relu",)),
    "leaky_relu": TorchActivation(torch.nn.LeakyReLU, F.leaky_relu),
    "elu": TorchActivation(torch.nn.ELU, F.elu),
    "softplus": TorchActivation(torch.nn.Softplus, F.softplus),
    "identity": TorchActivation(torch.nn.Identity, _identity),
}


def _along_units(
    module: type[torch.nn.Module], fn: Callable[..., torch.Tensor], aliases: tuple[Any, ...]
) -> TorchOutput:
    """An output activation over the units of each sample (dim −1): softmax, log_softmax."""
    name = fn.__name__
    return TorchOutput(
        lambda: module(dim=-1),
        lambda z: fn(z, dim=-1),
        aliases,
        (name,),
        module,
        needs_dim=True,
    )


TORCH_OUTPUTS: dict[str, TorchOutput] = {
    "identity": TorchOutput(None, _identity, module_class=torch.nn.Identity),
    "sigmoid": TorchOutput(
        torch.nn.Sigmoid,
        torch.sigmoid,
        (F.sigmoid, torch.Tensor.sigmoid),
        ("sigmoid",),
        torch.nn.Sigmoid,
    ),
    "tanh": TorchOutput(
        torch.nn.Tanh, torch.tanh, (F.tanh, torch.Tensor.tanh), ("tanh",), torch.nn.Tanh
    ),
    "softmax": _along_units(
        torch.nn.Softmax, torch.softmax, (F.softmax, torch.softmax, torch.Tensor.softmax)
    ),
    "log_softmax": _along_units(
        torch.nn.LogSoftmax,
        torch.log_softmax,
        (F.log_softmax, torch.log_softmax, torch.Tensor.log_softmax),
    ),
}


def _classes_first(p: torch.Tensor) -> torch.Tensor:
    # torch wants classes along dim 1: (N, B, n) → (N, n, B); (B, n) is already right
    return p.transpose(1, 2) if p.dim() == 3 else p


TORCH_LOSSES: dict[str, TorchLoss] = {
    "mse": TorchLoss(lambda p, t, r: F.mse_loss(p, t, reduction=r)),
    "l1": TorchLoss(lambda p, t, r: F.l1_loss(p, t, reduction=r)),
    "bce_logits": TorchLoss(lambda p, t, r: F.binary_cross_entropy_with_logits(p, t, reduction=r)),
    "bce": TorchLoss(lambda p, t, r: F.binary_cross_entropy(p, t, reduction=r)),
    "cross_entropy": TorchLoss(lambda p, t, r: F.cross_entropy(_classes_first(p), t, reduction=r)),
    "nll": TorchLoss(lambda p, t, r: F.nll_loss(_classes_first(p), t, reduction=r)),
}

# Every record has its torch counterpart (checked at import: a missing one is a bug here).
assert TORCH_ACTIVATIONS.keys() == ACTIVATIONS.keys()
assert TORCH_OUTPUTS.keys() == OUTPUT_ACTIVATIONS.keys()
assert TORCH_LOSSES.keys() == LOSSES.keys()
