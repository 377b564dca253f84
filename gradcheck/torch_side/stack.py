"""The torch side for a stack of cases: torch's default init under many seeds, batched autograd.

``sweep`` checks thousands of cases at once. Building the seed's ``Model`` per case costs
~0.2 ms, so weights are drawn the way ``torch.nn.Linear.reset_parameters`` draws them (same
bounds, same order, same generator stream: identical numbers, tested against
``reference.init_state``). Autograd runs once on weights stacked along a leading case axis:
the loss is the sum of per-case losses, whose gradient w.r.t. case k's weights is case k's
gradient since cases share nothing. The batched kernels (baddbmm/bmm) may round differently
from the single case's addmm/mm: results agree with ``reference.autograd`` to a few units in
the last place, not bit for bit (tested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from gradcheck.core.answer import Answer
from gradcheck.core.spec import NetSpec
from gradcheck.torch_side.functions import TORCH_ACTIVATIONS, TORCH_LOSSES, TORCH_OUTPUTS
from gradcheck.torch_side.reference import TORCH_DTYPES

Array = NDArray[np.floating]

_KAIMING_A = math.sqrt(5)  # torch.nn.Linear.reset_parameters: kaiming_uniform_(a=√5)


def init_states(spec: NetSpec, seeds: Sequence[int]) -> dict[str, Array]:
    """``reference.init_state`` for each seed, stacked: name → (len(seeds), *shape) float64."""
    out = {p.name: np.empty((len(seeds), *p.shape), np.float32) for p in spec.parameters()}
    plan = []
    for layer in range(1, spec.depth + 1):
        fan_in = spec.layers[layer - 1]
        # kaiming_uniform_: gain = √(2/(1+a²)), std = gain/√fan_in, bound = √3·std
        gain = math.sqrt(2.0 / (1 + _KAIMING_A**2))
        weight_bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
        bias_bound = 1 / math.sqrt(fan_in)
        plan.append((torch.from_numpy(out[f"W{layer}"]), weight_bound))
        plan.append((torch.from_numpy(out[f"b{layer}"]), bias_bound))
    generator = torch.Generator()
    for i, seed in enumerate(seeds):
        generator.manual_seed(seed)  # the same stream as torch.manual_seed(seed)
        for buffer, bound in plan:
            buffer[i].uniform_(-bound, bound, generator=generator)
    return {name: value.astype(np.float64) for name, value in out.items()}


def autograd_stack(
    spec: NetSpec, params: Mapping[str, Array], x: Array, y: NDArray[np.generic]
) -> Answer:
    """Autograd for a stack of N cases: params (N, *shape), x (N, B, n_in) → per-case results.

    Returns prediction (N, B, n_out), loss (N,), grads (N, *shape), deltas (N, B, n_l), in
    ``spec.dtype``.
    """
    dtype = TORCH_DTYPES[spec.dtype]
    leaves = {
        name: torch.tensor(np.asarray(value), dtype=dtype).requires_grad_(True)
        for name, value in params.items()
    }
    acts = spec.activations
    a = torch.tensor(np.asarray(x), dtype=dtype)
    zs: list[torch.Tensor] = []
    for layer in range(1, spec.depth + 1):
        w, b = leaves[f"W{layer}"], leaves[f"b{layer}"]
        # z = b + a·Wᵀ per case: baddbmm is the stacked form of Linear's addmm(b, a, Wᵀ)
        z = torch.baddbmm(b[:, None, :], a, w.transpose(-1, -2))
        z.retain_grad()
        zs.append(z)
        if layer < spec.depth:
            act = acts[layer - 1]
            a = TORCH_ACTIVATIONS[act.name].apply(z, act.parameter, act.value)
    pred = TORCH_OUTPUTS[spec.output_activation].functional(zs[-1])
    loss = _losses(spec, pred, y, dtype)
    for name, lam in spec.l2_terms:
        leaf = leaves[name]
        loss = loss + lam * (leaf**2).sum(dim=tuple(range(1, leaf.dim())))
    loss.sum().backward()
    grads = {}
    for name, leaf in leaves.items():
        assert leaf.grad is not None
        grads[name] = leaf.grad.numpy()
    deltas = {}
    for layer, z in enumerate(zs, start=1):
        assert z.grad is not None
        deltas[f"delta{layer}"] = z.grad.numpy()
    return Answer(pred.detach().numpy(), loss.detach().numpy(), grads, deltas)


def _losses(
    spec: NetSpec, pred: torch.Tensor, y: NDArray[np.generic], dtype: torch.dtype
) -> torch.Tensor:
    """Per-case losses (N,), each torch's loss of that case (reduction and scale, no L2)."""
    per_element = TORCH_LOSSES[spec.loss].per_element
    reduce = torch.mean if spec.reduction == "mean" else torch.sum
    if spec.loss_record.takes_classes:
        target = torch.tensor(np.asarray(y), dtype=torch.long)
        loss = reduce(per_element(pred, target), dim=1)  # (N, B) → (N,)
    else:
        target = torch.tensor(np.asarray(y), dtype=dtype)
        loss = reduce(per_element(pred, target), dim=(1, 2))
    return loss * spec.loss_scale if spec.loss_scale != 1.0 else loss
