"""The torch side: the seed's ``Model`` generalised to any layer sizes, and its autograd gradients.

With its batched twin ``stack.py``, the torch side of every check; the CLI imports it lazily
so that ``gradcheck --help`` stays fast.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from gradcheck.core.answer import Answer, course_values
from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import DEFAULT_ACTIVATION
from gradcheck.core.spec import SEED_LAYERS, NetSpec, ParamName
from gradcheck.torch_side.functions import TORCH_ACTIVATIONS, TORCH_LOSSES, TORCH_OUTPUTS
from gradcheck.torch_side.model import Direct, Runner, parameters_of

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
    *,
    run: Runner | None = None,
) -> Answer:
    """Forward, loss and ``loss.backward()`` in torch, on a copy of ``params``.

    ``model`` is the user's own module (``--model``), deep-copied and given ``params`` under
    its own names (on the CPU, every parameter differentiated, a frozen one too); by default
    the seed's ``Model`` generalised to ``spec``. The user's code (copying the module, its
    forward, the backward pass through it) runs through ``run``, and what the forward gives
    back is checked: a tensor of the prediction's shape and dtype, with gradients, made by the
    traced chain of Linear layers, which left its weights and its input as they were.
    """
    dtype = TORCH_DTYPES[spec.dtype]
    # x takes part in the graph so that ∂L/∂x (the course's dA0) is known too; as a copy of a
    # leaf, so that a forward that edits its input in place is caught by the check (``_checked``)
    # rather than stopped by autograd
    inputs = torch.tensor(x, dtype=dtype, requires_grad=True).clone()
    if spec.loss_record.takes_classes:
        target = torch.tensor(np.asarray(y), dtype=torch.long)
    else:
        target = torch.tensor(np.asarray(y), dtype=dtype)
    if model is None:
        net: torch.nn.Module = Model(spec=spec).to(dtype)
        keys = {p.name: dense_name(p) for p in spec.parameters()}
        net.load_state_dict(_tensors(spec, params, keys, dtype))
        prediction, hooked = _forward(net, inputs)
        return _gradients(spec, net, keys, prediction, hooked, target, "Model")
    runner = run or Direct()
    label = type(model).__name__
    keys = {p.name: p.torch_name for p in spec.parameters()}
    net = runner(
        f"{label} (a copy given the weights)",
        lambda: _copy(model, spec, params, keys, dtype, runner),
    )

    found = runner(f"{label}.forward", lambda: _forward(net, inputs))
    # checked after the call, under gradcheck's own torch state again
    prediction, hooked = _checked(spec, net, keys, params, x, inputs, found, label), found[1]
    return runner(
        f"{label} (the backward pass)",
        lambda: _gradients(spec, net, keys, prediction, hooked, target, label),
    )


def _tensors(
    spec: NetSpec, params: Mapping[str, Array], keys: dict[str, str], dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    return {
        keys[p.name]: torch.tensor(np.asarray(params[p.name]), dtype=dtype)
        for p in spec.parameters()
    }


def _copy(
    model: torch.nn.Module,
    spec: NetSpec,
    params: Mapping[str, Array],
    keys: dict[str, str],
    dtype: torch.dtype,
    run: Runner,
) -> torch.nn.Module:
    """The user's module copied to the CPU in ``dtype``, holding ``params``, every parameter
    requiring grad (a frozen one too: its gradient is checked like any other)."""
    net = copy.deepcopy(model)
    devices = sorted({str(p.device) for p in net.parameters()} - {"cpu"})
    if devices:
        run.note(
            f"its parameters are on {', '.join(devices)}; gradcheck checks a copy on the CPU "
            "(torch autograd in the check's dtype, given the same weights)"
        )
        net = net.to_empty(device="cpu")  # the weights are all loaded next
    net = net.to(dtype)
    net.load_state_dict(_tensors(spec, params, keys, dtype))
    names = tuple(keys[p.name] for p in spec.parameters())
    for parameter in parameters_of(net, names, type(model).__name__):
        parameter.requires_grad_(True)
    return net


@dataclass(frozen=True)
class _Hooked:
    """What ``_forward`` keeps: every Linear layer's output z_l and input a_(l−1) (a0 = x)."""

    outputs: list[torch.Tensor]
    inputs: list[torch.Tensor]


def _forward(net: torch.nn.Module, inputs: torch.Tensor) -> tuple[Any, _Hooked]:
    """``net(inputs)``, keeping ∂L/∂z_l of every Linear output (each hand δ has an autograd
    counterpart) and ∂L/∂a_(l−1) of every Linear input (the course's dA)."""
    hooked = _Hooked([], [])

    def keep(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> Any:
        hooked.outputs.append(output)
        if not (isinstance(output, torch.Tensor) and output.requires_grad):
            return None
        output.retain_grad()
        # The network goes on with a copy: an in-place activation next (ReLU(inplace=True))
        # would otherwise overwrite z_l, and its retained gradient would be ∂L/∂a_l.
        return output.clone()

    def keep_input(_module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        first = args[0] if args else None
        if isinstance(first, torch.Tensor) and first.requires_grad and not first.is_leaf:
            first.retain_grad()
        hooked.inputs.append(first)

    handles = []
    for module in net.modules():
        if isinstance(module, torch.nn.Linear):
            handles.append(module.register_forward_hook(keep))
            handles.append(module.register_forward_pre_hook(keep_input))
    try:
        return net(inputs), hooked
    finally:
        for handle in handles:
            handle.remove()


def _checked(
    spec: NetSpec,
    net: torch.nn.Module,
    keys: dict[str, str],
    params: Mapping[str, Array],
    x: Array,
    inputs: torch.Tensor,
    found: tuple[Any, _Hooked],
    label: str,
) -> torch.Tensor:
    """What the user's forward returned, as a plain tensor, or exit 2 saying what is wrong."""
    prediction, hooked = found
    outputs = hooked.outputs
    dtype = TORCH_DTYPES[spec.dtype]
    where = f"--model: {label}.forward"
    if not isinstance(prediction, torch.Tensor):
        raise GradcheckError(f"{where} returned a {type(prediction).__name__}, expected a tensor")
    shape = (int(inputs.shape[0]), spec.n_out)
    if tuple(prediction.shape) != shape:
        raise GradcheckError(
            f"{where} returned shape {tuple(prediction.shape)}, expected {shape} (batch, outputs)"
        )
    if prediction.dtype != dtype or prediction.device.type != "cpu":
        raise GradcheckError(
            f"{where} returned {str(prediction.dtype).removeprefix('torch.')} on "
            f"{prediction.device}; the model is run in {spec.dtype} on the CPU, and its "
            "forward must keep that (no .float(), .to(…) or device moves inside)"
        )
    if not prediction.requires_grad:
        raise GradcheckError(
            f"{where} returned a tensor without gradients (computed under torch.no_grad, "
            "set_grad_enabled(False), inference mode, or detached): autograd has nothing to "
            "differentiate"
        )
    if len(outputs) != spec.depth:
        raise GradcheckError(
            f"{where} ran {len(outputs)} Linear layer{'s' if len(outputs) != 1 else ''} when "
            f"called, {spec.depth} when traced: its forward must be the same chain every time"
        )
    state = dict(net.named_parameters())
    for p in spec.parameters():
        given = torch.tensor(np.asarray(params[p.name]), dtype=dtype)
        if not torch.equal(state[keys[p.name]].detach(), given):
            raise GradcheckError(
                f"{where} changes {keys[p.name]} while it runs; gradcheck compares against "
                "the weights it gave the model, so the forward must leave them alone"
            )
    if not torch.equal(inputs, torch.tensor(x, dtype=dtype)):
        raise GradcheckError(
            f"{where} changes its input in place; the hand side is given the input as it was"
        )
    return prediction.as_subclass(torch.Tensor)


def _gradients(
    spec: NetSpec,
    net: torch.nn.Module,
    keys: dict[str, str],
    prediction: torch.Tensor,
    hooked: _Hooked,
    target: torch.Tensor,
    label: str,
) -> Answer:
    """The loss on ``prediction`` and its gradients by ``loss.backward()``."""
    names = spec.parameters()
    state = dict(net.named_parameters())
    prediction.retain_grad()  # ∂L/∂ŷ, the course's dAL
    loss = torch_loss(spec, prediction, target, {p.name: state[keys[p.name]] for p in names})
    loss.backward()
    grads = {}
    for p in names:
        grad = state[keys[p.name]].grad
        if grad is None:
            raise GradcheckError(
                f"--model: {label}.forward does not use {keys[p.name]} when called (its "
                "gradient is None); its forward must be the traced chain every time"
            )
        grads[p.name] = grad.detach().numpy().copy()
    deltas = {}
    for layer, z in enumerate(hooked.outputs, start=1):
        if z.grad is None:
            raise GradcheckError(
                f"--model: {label}.forward: the output of its Linear layer {layer} gets no "
                "gradient; its forward must be the traced chain every time"
            )
        deltas[f"delta{layer}"] = z.grad.detach().numpy().copy()
    upstream = []
    for a in [*hooked.inputs, prediction]:
        if not isinstance(a, torch.Tensor) or a.grad is None:
            raise GradcheckError(
                f"--model: {label}.forward: the input of one of its Linear layers gets no "
                "gradient; its forward must be the traced chain every time"
            )
        upstream.append(a.grad.detach().numpy().copy())
    batch = int(prediction.shape[0])
    return Answer(
        prediction.detach().numpy().copy(),
        loss.detach().numpy().copy(),
        grads,
        deltas,
        course_values(spec.reduction, batch, deltas, upstream),
    )
