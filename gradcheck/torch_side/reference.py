"""The torch side: the seed's ``Model`` generalised to any layer sizes, and its autograd gradients.

With its batched twin ``stack.py``, the torch side of every check; the CLI imports it lazily
so that ``gradcheck --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise

import numpy as np
import torch
from numpy.typing import NDArray

from gradcheck.core.answer import Answer
from gradcheck.core.functions import DEFAULT_ACTIVATION
from gradcheck.core.spec import SEED_LAYERS, NetSpec
from gradcheck.torch_side.functions import TORCH_ACTIVATIONS, TORCH_LOSSES

Array = NDArray[np.floating]

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class Model(torch.nn.Module):
    """The seed's model: ``self.dense = Sequential(Linear, Sigmoid, Linear, Sigmoid, Linear)``.

    With the default arguments it is exactly the seed's network and has the same
    ``state_dict`` keys (``dense.0.weight`` … ``dense.4.bias``); other sizes and activations
    keep the pattern, so layer l's parameters are always ``dense.{2(l−1)}.weight/bias``.
    """

    def __init__(
        self, layers: tuple[int, ...] = SEED_LAYERS, activation: str = DEFAULT_ACTIVATION
    ) -> None:
        super().__init__()
        modules: list[torch.nn.Module] = []
        pairs = list(pairwise(layers))
        for i, (n_in, n_out) in enumerate(pairs):
            modules.append(torch.nn.Linear(n_in, n_out))
            if i < len(pairs) - 1:
                modules.append(TORCH_ACTIVATIONS[activation].module())
        self.dense = torch.nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.dense(x)
        return out


def init_state(spec: NetSpec, seed: int) -> dict[str, NDArray[np.float64]]:
    """torch's default initialisation after ``torch.manual_seed(seed)``, keyed by hand name.

    The model is built in float32, exactly as the seed builds it, so a given seed gives the
    same weights whatever ``--dtype`` is; float64 holds them exactly. The global RNG is
    forked so callers' own torch randomness is left alone.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Model(spec.layers, spec.activation)
    state = model.state_dict()
    return {p.name: state[p.torch_name].numpy().astype(np.float64) for p in spec.parameters()}


def autograd(
    spec: NetSpec, params: Mapping[str, Array], x: Array, y: NDArray[np.generic]
) -> Answer:
    """Forward, loss and ``loss.backward()`` in torch, on a copy of ``params``."""
    dtype = TORCH_DTYPES[spec.dtype]
    model = Model(spec.layers, spec.activation).to(dtype)
    names = spec.parameters()
    model.load_state_dict(
        {p.torch_name: torch.tensor(np.asarray(params[p.name]), dtype=dtype) for p in names}
    )
    # Keep ∂L/∂z_l of every Linear output, so each hand δ has an autograd counterpart.
    outputs: list[torch.Tensor] = []

    def keep(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> None:
        output.retain_grad()
        outputs.append(output)

    for module in model.dense:
        if isinstance(module, torch.nn.Linear):
            module.register_forward_hook(keep)

    inputs = torch.tensor(x, dtype=dtype)
    if spec.loss_record.takes_classes:
        target = torch.tensor(np.asarray(y), dtype=torch.long)
    else:
        target = torch.tensor(np.asarray(y), dtype=dtype)
    prediction = model(inputs)
    loss = TORCH_LOSSES[spec.loss].module()(prediction, target)
    loss.backward()
    state = dict(model.named_parameters())
    grads = {}
    for p in names:
        grad = state[p.torch_name].grad
        assert grad is not None  # every parameter takes part in the loss
        grads[p.name] = grad.detach().numpy().copy()
    deltas = {}
    for layer, z in enumerate(outputs, start=1):
        assert z.grad is not None
        deltas[f"delta{layer}"] = z.grad.detach().numpy().copy()
    return Answer(prediction.detach().numpy().copy(), loss.detach().numpy().copy(), grads, deltas)
