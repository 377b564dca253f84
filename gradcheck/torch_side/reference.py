"""The torch side: the seed's ``Model`` generalised to any layer sizes, and its autograd gradients.

With its batched twin ``stack.py``, the torch side of every check; the CLI imports it lazily
so that ``gradcheck --help`` stays fast.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from itertools import pairwise

import numpy as np
import torch
from numpy.typing import NDArray

from gradcheck.core.answer import Answer, course_values
from gradcheck.core.functions import DEFAULT_ACTIVATION
from gradcheck.core.spec import SEED_LAYERS, NetSpec, ParamName
from gradcheck.torch_side.functions import TORCH_ACTIVATIONS, TORCH_LOSSES, TORCH_OUTPUTS

Array = NDArray[np.floating]

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class Model(torch.nn.Module):
    """The seed's model: ``self.dense = Sequential(Linear, Sigmoid, Linear, Sigmoid, Linear)``.

    With the default arguments it is exactly the seed's network and has the same
    ``state_dict`` keys (``dense.0.weight`` … ``dense.4.bias``); other sizes and activations
    keep the pattern, so layer l's parameters are always ``dense.{2(l−1)}.weight/bias`` (an
    output activation, when there is one, is the Sequential's last module and has none).
    """

    def __init__(
        self,
        layers: tuple[int, ...] = SEED_LAYERS,
        activation: str = DEFAULT_ACTIVATION,
        *,
        spec: NetSpec | None = None,
    ) -> None:
        super().__init__()
        spec = spec if spec is not None else NetSpec(tuple(layers), activation)
        modules: list[torch.nn.Module] = []
        acts = spec.activations
        for i, (n_in, n_out) in enumerate(pairwise(spec.layers)):
            modules.append(torch.nn.Linear(n_in, n_out))
            if i < spec.depth - 1:
                act = acts[i]
                modules.append(TORCH_ACTIVATIONS[act.name].make(act.parameter, act.value))
        output = TORCH_OUTPUTS[spec.output_activation].module
        if output is not None:
            modules.append(output())
        self.dense = torch.nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.dense(x)
        return out


def dense_name(p: ParamName) -> str:
    """The parameter's key in ``Model``'s state_dict (whatever the user's model calls it)."""
    return f"dense.{2 * (p.layer - 1)}.{'weight' if p.name.startswith('W') else 'bias'}"


def init_state(spec: NetSpec, seed: int) -> dict[str, NDArray[np.float64]]:
    """torch's default initialisation after ``torch.manual_seed(seed)``, keyed by hand name.

    The model is built in float32, exactly as the seed builds it, so a given seed gives the
    same weights whatever ``--dtype`` is; float64 holds them exactly. The global RNG is
    forked so callers' own torch randomness is left alone.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Model(spec=spec)
    state = model.state_dict()
    return {p.name: state[dense_name(p)].numpy().astype(np.float64) for p in spec.parameters()}


def torch_loss(
    spec: NetSpec,
    prediction: torch.Tensor,
    target: torch.Tensor,
    params: Mapping[str, torch.Tensor],
) -> torch.Tensor:
    """``loss_scale · loss(ŷ, y, reduction) + Σ_p λ_p·Σp²``, as a torch user writes it;
    ``params`` by hand name (the L2 term reaches the ones ``spec.l2_terms`` names)."""
    loss = TORCH_LOSSES[spec.loss].functional(prediction, target, spec.reduction)
    if spec.loss_scale != 1.0:
        loss = spec.loss_scale * loss
    for name, lam in spec.l2_terms:
        loss = loss + lam * (params[name] ** 2).sum()
    return loss


def autograd(
    spec: NetSpec,
    params: Mapping[str, Array],
    x: Array,
    y: NDArray[np.generic],
    model: torch.nn.Module | None = None,
) -> Answer:
    """Forward, loss and ``loss.backward()`` in torch, on a copy of ``params``.

    ``model`` is the user's own module (``--model``), deep-copied and given ``params`` under
    its own names; by default the seed's ``Model`` generalised to ``spec``.
    """
    dtype = TORCH_DTYPES[spec.dtype]
    names = spec.parameters()
    if model is None:
        net: torch.nn.Module = Model(spec=spec).to(dtype)
        keys = {p.name: dense_name(p) for p in names}
    else:
        net = copy.deepcopy(model).to(dtype)
        keys = {p.name: p.torch_name for p in names}
    net.load_state_dict(
        {keys[p.name]: torch.tensor(np.asarray(params[p.name]), dtype=dtype) for p in names}
    )
    # Keep ∂L/∂z_l of every Linear output, so each hand δ has an autograd counterpart, and
    # ∂L/∂a_(l−1) of every Linear input (a0 = x), for the course's dA.
    outputs: list[torch.Tensor] = []
    layer_inputs: list[torch.Tensor] = []

    def keep(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        output.retain_grad()
        outputs.append(output)
        # The network goes on with a copy: an in-place activation next (ReLU(inplace=True))
        # would otherwise overwrite z_l, and its retained gradient would be ∂L/∂a_l.
        return output.clone()

    def keep_input(_module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if args[0].requires_grad and not args[0].is_leaf:
            args[0].retain_grad()
        layer_inputs.append(args[0])

    for module in net.modules():
        if isinstance(module, torch.nn.Linear):
            module.register_forward_hook(keep)
            module.register_forward_pre_hook(keep_input)

    inputs = torch.tensor(x, dtype=dtype, requires_grad=True)
    if spec.loss_record.takes_classes:
        target = torch.tensor(np.asarray(y), dtype=torch.long)
    else:
        target = torch.tensor(np.asarray(y), dtype=dtype)
    state = dict(net.named_parameters())
    prediction = net(inputs)
    prediction.retain_grad()
    loss = torch_loss(spec, prediction, target, {p.name: state[keys[p.name]] for p in names})
    loss.backward()
    grads = {}
    for p in names:
        grad = state[keys[p.name]].grad
        assert grad is not None  # every parameter takes part in the loss
        grads[p.name] = grad.detach().numpy().copy()
    deltas = {}
    for layer, z in enumerate(outputs, start=1):
        assert z.grad is not None
        deltas[f"delta{layer}"] = z.grad.detach().numpy().copy()
    upstream = []
    for a in [*layer_inputs, prediction]:
        assert a.grad is not None
        upstream.append(a.grad.detach().numpy().copy())
    return Answer(
        prediction.detach().numpy().copy(),
        loss.detach().numpy().copy(),
        grads,
        deltas,
        course_values(spec.reduction, int(np.asarray(x).shape[0]), deltas, upstream),
    )
