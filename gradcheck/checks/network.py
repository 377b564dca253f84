"""Which network a request describes: the seed's, the options', the user's own model
(``--model``, ``check(model=…)``), or the shape chain of a state_dict (``--weights``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import DEFAULT_ACTIVATION, DEFAULT_OUTPUT_ACTIVATION, LAYOUTS
from gradcheck.core.spec import SEED_LAYERS, NetSpec, l2_fields

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Network:
    """A network and, when they do not come from torch's init under ``--seed``, its weights."""

    spec: NetSpec
    params: dict[str, Array] | None  # float64, W as (out, in); None: torch's init under seed
    module: Any = None  # the user's nn.Module (a private copy), run by autograd
    model: str | None = None  # how the model was given, for the settings


def activation_text(activation: str | Sequence[str] | None) -> str | None:
    """One name, ``"A,B"`` or ``["A", "B"]`` → one comma-separated string."""
    if activation is None or isinstance(activation, str):
        return activation
    return ",".join(str(a) for a in activation)


def resolve(
    *,
    layers: Sequence[int] | None,
    activation: str | Sequence[str] | None,
    loss: str,
    dtype: str,
    output_activation: str | None,
    reduction: str,
    loss_scale: float,
    l2: float | Mapping[str, float] | str,
    layout: str,
    seed: int,
    weights: str | None,
    model: object | None,
) -> Network:
    """The network, validated; weights read from ``weights`` or the model when given."""
    if layout not in LAYOUTS:
        raise GradcheckError(f"--layout: unknown {layout!r}; choose from {', '.join(LAYOUTS)}")
    given_layers = tuple(int(n) for n in layers) if layers is not None else None
    text = activation_text(activation)
    head: dict[str, Any] = {
        "loss": loss,
        "dtype": dtype,
        "reduction": reduction,
        "loss_scale": float(loss_scale),
        **l2_fields(l2),
    }
    if model is not None:
        return _from_model(
            model, given_layers, text, output_activation, seed, weights, layout, head
        )
    from gradcheck.io import weights as weight_files

    out = output_activation or DEFAULT_OUTPUT_ACTIVATION
    if weights is None:
        spec = _spec(given_layers or SEED_LAYERS, text, out, head)
        return Network(spec, None)
    if given_layers is not None:
        # --layers says what the file must hold: the strict match names what is missing.
        spec = _spec(given_layers, text, out, head)
        what = f"the weights of --layers {','.join(map(str, given_layers))}"
        raw = weight_files.read_weights(weights, weight_files.weights_limit(spec), what)
        names = _file_names(raw, spec, weights, layout)
        spec = _with_names(spec, names)
    else:
        raw = weight_files.read_weights(weights)  # sizes come from the file: any MLP's limit
        inferred, names = weight_files.infer_network(raw, weights, layout)
        spec = _spec(inferred, text, out, head)
        spec = _with_names(spec, names)
    return Network(spec, weight_files.match(raw, spec, weights, layout))


def _spec(
    layers: tuple[int, ...], activation: str | None, out: str, head: dict[str, Any]
) -> NetSpec:
    return NetSpec(layers, activation or DEFAULT_ACTIVATION, output_activation=out, **head)


def _file_names(raw: Any, spec: NetSpec, path: str, layout: str) -> tuple[str, ...]:
    """With --layers given: the file's own names when its chain fits them, else the defaults."""
    from gradcheck.io import weights as weight_files

    defaults = {p.torch_name for p in spec.parameters()} | {p.name for p in spec.parameters()}
    if set(raw) & defaults:
        return ()
    inferred, names = weight_files.infer_network(raw, path, layout)
    if inferred != spec.layers:
        raise GradcheckError(
            f"--weights: {path} holds a {','.join(map(str, inferred))} network; --layers says "
            f"{','.join(map(str, spec.layers))}"
        )
    return names


def _with_names(spec: NetSpec, names: tuple[str, ...]) -> NetSpec:
    from dataclasses import replace

    default = tuple(p.torch_name for p in spec.parameters())
    return spec if not names or names == default else replace(spec, names=names)


def _from_model(
    model: object,
    layers: tuple[int, ...] | None,
    activation: str | None,
    output_activation: str | None,
    seed: int,
    weights: str | None,
    layout: str,
    head: dict[str, Any],
) -> Network:
    from gradcheck.io.guest import Guest, source_of
    from gradcheck.torch_side import model as user_model

    if isinstance(model, str):
        from gradcheck.io.usercode import load_object

        label = model
        runner = Guest("--model", label, source=model.rpartition(":")[0])
        module = user_model.instantiate(load_object(model, "--model"), seed, model, runner)
    else:
        label = f"python:{type(model).__module__}.{type(model).__qualname__}"
        if not _is_module(model):
            raise GradcheckError(
                f"--model: got a {type(model).__name__}; expected an nn.Module instance or "
                "'FILE.py:NAME'"
            )
        runner = Guest("--model", label, source=source_of(model))
        # the user's instance is never touched
        module = runner("copying it", lambda: copy.deepcopy(model))
    name = label.rpartition(":")[2] if isinstance(model, str) else type(model).__name__
    traced = user_model.trace(module, name, runner)
    found = {
        "--layers": (
            ",".join(map(str, layers)) if layers else None,
            ",".join(map(str, traced.layers)),
        ),
        "--activation": (activation, ",".join(traced.activations) or None),
        "--output-activation": (output_activation, traced.output_activation),
    }
    for option, (asked, actual) in found.items():
        if asked is not None and actual is not None and asked != actual:
            same = len(set(asked.split(","))) == 1 and set(asked.split(",")) == set(
                actual.split(",")
            )
            if not same:
                raise GradcheckError(
                    f"{option}: {asked} does not match the model {name}, which has {actual}; "
                    f"leave {option} out with --model"
                )
    spec = NetSpec(
        traced.layers,
        ",".join(traced.activations) or DEFAULT_ACTIVATION,
        output_activation=traced.output_activation,
        activation_params=traced.activation_params,
        names=traced.names,
        **head,
    )
    if weights is not None:
        from gradcheck.io import weights as weight_files

        params = weight_files.load_weights(weights, spec, layout)
    else:
        arrays = user_model.state_of(module, traced.names, name)
        params = {p.name: a for p, a in zip(spec.parameters(), arrays, strict=True)}
    return Network(spec, params, module, label)


def _is_module(obj: object) -> bool:
    return any(
        c.__name__ == "Module" and c.__module__.startswith("torch.nn") for c in type(obj).__mro__
    )
