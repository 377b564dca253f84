"""The user's own ``nn.Module`` (``--model FILE.py:NAME``, ``check(model=…)``), read as a network.

Traced with ``torch.fx`` into Linear → activation → … → Linear → output activation; every
spelling torch has for an activation (the ``nn`` module, ``torch.*``, ``F.*``, the Tensor
method) is recognised through the map in ``torch_side/functions.py``. Anything else is
refused, naming the operation and where it is (``torch.sin after fc1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import ACTIVATIONS, LINEAR, OUTPUT_ACTIVATIONS
from gradcheck.torch_side.functions import TORCH_ACTIVATIONS, TORCH_OUTPUTS

OPTION = "--model"
_NO_OPS = (torch.nn.Identity,)


@dataclass(frozen=True)
class Traced:
    """What a module computes, as gradcheck's vocabulary says it."""

    layers: tuple[int, ...]
    activations: tuple[str, ...]  # per hidden layer
    activation_params: tuple[float | None, ...]  # torch's parameter per hidden layer, if any
    output_activation: str
    names: tuple[str, ...]  # torch names of W1, b1, W2, …: "fc1.weight", "fc1.bias", …


def instantiate(obj: Any, seed: int, label: str) -> torch.nn.Module:
    """Build ``obj`` (an ``nn.Module`` subclass or a zero-argument function returning one)
    right after ``torch.manual_seed(seed)``; the caller's RNG state is left alone."""
    if isinstance(obj, torch.nn.Module):
        return obj
    if not callable(obj):
        raise GradcheckError(
            f"{OPTION}: {label} is a {type(obj).__name__}, expected an nn.Module subclass or a "
            "function returning a module"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            made = obj()
        except TypeError as exc:
            if "argument" in str(exc):
                raise GradcheckError(
                    f"{OPTION}: {label} needs arguments ({exc}); give a class or function that "
                    "builds the model with none"
                ) from None
            raise
    if not isinstance(made, torch.nn.Module):
        raise GradcheckError(
            f"{OPTION}: {label} returned a {type(made).__name__}, expected an nn.Module"
        )
    return made


def _op_maps() -> tuple[dict[Any, str], dict[str, str], dict[type, str]]:
    functions: dict[Any, str] = {}
    methods: dict[str, str] = {}
    modules: dict[type, str] = {}
    for name, t in TORCH_ACTIVATIONS.items():
        if t.module in _NO_OPS:
            continue
        modules[t.module] = name
        for fn in (t.functional, *t.aliases):
            functions[fn] = name
        for m in t.methods:
            methods[m] = name
    for name, o in TORCH_OUTPUTS.items():
        if o.module_class is not None and o.module_class not in _NO_OPS:
            modules.setdefault(o.module_class, name)
        for fn in (o.functional, *o.aliases):
            functions.setdefault(fn, name)
        for m in o.methods:
            methods.setdefault(m, name)
    return functions, methods, modules


def _describe(node: torch.fx.Node, root: torch.nn.Module) -> str:
    """How a person would write the operation: ``torch.sin``, ``nn.Dropout (drop)``, ``.view()``."""
    if node.op == "call_module":
        sub = root.get_submodule(str(node.target))
        return f"nn.{type(sub).__name__} ({node.target})"
    if node.op == "call_method":
        return f".{node.target}()"
    target: Any = node.target
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", str(target))
    if module.startswith("torch.nn.functional"):
        return f"F.{name}"
    if module.startswith("torch") or (module == "" and hasattr(torch, name)):
        return f"torch.{name}"
    if module in ("_operator", "operator"):
        symbols = {"add": "+", "sub": "−", "mul": "*", "truediv": "/", "matmul": "@"}
        return f"the operator {symbols.get(name, name)}"
    return f"{module}.{name}" if module else name


def _dim(node: torch.fx.Node, position: int) -> Any:
    if "dim" in node.kwargs:
        return node.kwargs["dim"]
    return node.args[position] if len(node.args) > position else None


def _parameter(node: torch.fx.Node, root: torch.nn.Module, name: str) -> float | None:
    """The activation's torch parameter (slope, alpha, beta) as this call sets it."""
    record = ACTIVATIONS[name]
    if record.parameter is None:
        return None
    if node.op == "call_module":
        sub = root.get_submodule(str(node.target))
        threshold = getattr(sub, "threshold", None)
        if threshold is not None and float(threshold) != 20.0:
            raise GradcheckError(
                f"{OPTION}: {_describe(node, root)} uses threshold={threshold}; gradcheck's "
                f"{name} follows torch's default threshold 20"
            )
        return float(getattr(sub, record.parameter))
    if record.parameter in node.kwargs:
        return float(node.kwargs[record.parameter])
    if len(node.args) > 1 and isinstance(node.args[1], (int, float)):
        return float(node.args[1])
    return None


def trace(module: torch.nn.Module, label: str) -> Traced:
    """Read ``module`` as Linear → activation → … → Linear → output activation, or refuse."""
    try:
        graph = torch.fx.symbolic_trace(module).graph
    except Exception as exc:  # torch.fx raises TraceError, TypeError, … on dynamic code
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GradcheckError(
            f"{OPTION}: {label} cannot be traced with torch.fx ({first}); its forward must be "
            "a fixed chain of Linear layers and activations"
        ) from None
    functions, methods, module_types = _op_maps()
    linears: list[tuple[str, torch.nn.Linear]] = []
    acts: list[list[tuple[str, float | None]]] = []
    previous: torch.fx.Node | None = None
    where = "the input"
    for node in graph.nodes:
        if node.op == "placeholder":
            if previous is not None:
                raise GradcheckError(f"{OPTION}: {label}.forward takes more than one input")
            previous = node
            continue
        if node.op == "output":
            if node.args[0] is not previous:
                raise GradcheckError(
                    f"{OPTION}: {label}.forward returns something other than the chain's "
                    f"last value (after {where})"
                )
            break
        what = _describe(node, module)
        if node.op == "get_attr":
            raise GradcheckError(f"{OPTION}: {label} reads {node.target} directly after {where}")
        source = node.args[0] if node.args else None
        if source is not previous or any(
            isinstance(a, torch.fx.Node) for a in (*node.args[1:], *node.kwargs.values())
        ):
            raise GradcheckError(
                f"{OPTION}: {what} after {where} does not continue a single chain "
                "(Linear → activation → … → Linear)"
            )
        name = _recognise(node, module, functions, methods, module_types)
        if name == "linear":
            sub = module.get_submodule(str(node.target))
            assert isinstance(sub, torch.nn.Linear)
            if any(path == node.target for path, _ in linears):
                raise GradcheckError(f"{OPTION}: {node.target} is used twice in {label}.forward")
            if sub.bias is None:
                raise GradcheckError(
                    f"{OPTION}: {node.target} has no bias (Linear(…, bias=False)); gradcheck's "
                    "networks have W and b in every layer"
                )
            if linears and linears[-1][1].out_features != sub.in_features:
                raise GradcheckError(
                    f"{OPTION}: {node.target} takes {sub.in_features} inputs but "
                    f"{linears[-1][0]} gives {linears[-1][1].out_features}"
                )
            linears.append((str(node.target), sub))
            acts.append([])
            where = str(node.target)
        elif name is None:
            raise GradcheckError(
                f"{OPTION}: {label} uses {what} after {where}; gradcheck understands Linear "
                "layers and the activations "
                f"{', '.join(a for a in ACTIVATIONS if a != LINEAR)}, "
                f"{', '.join(o for o in OUTPUT_ACTIVATIONS if o not in ACTIVATIONS)}"
            )
        elif name != "":
            if not linears:
                raise GradcheckError(
                    f"{OPTION}: {label} applies {what} to the input, before any Linear"
                )
            if acts[-1]:
                raise GradcheckError(
                    f"{OPTION}: {what} after {where} is a second activation in a row"
                )
            value = _parameter(node, module, name) if name in ACTIVATIONS else None
            acts[-1].append((name, value))
        previous = node
    if not linears:
        raise GradcheckError(f"{OPTION}: {label} has no Linear layer")
    return _assemble(linears, acts, module, label)


def _recognise(
    node: torch.fx.Node,
    root: torch.nn.Module,
    functions: dict[Any, str],
    methods: dict[str, str],
    module_types: dict[type, str],
) -> str | None:
    """ "linear", an activation's name, "" for a no-op, or None (not understood)."""
    if node.op == "call_module":
        sub = root.get_submodule(str(node.target))
        if isinstance(sub, torch.nn.Linear):
            return "linear"
        if isinstance(sub, _NO_OPS):
            return ""
        name = module_types.get(type(sub))
        if name in ("softmax", "log_softmax") and getattr(sub, "dim", None) not in (-1, 1):
            return None
        return name
    if node.op == "call_function":
        name = functions.get(node.target)
    elif node.op == "call_method":
        name = methods.get(str(node.target))
    else:
        return None
    if name in ("softmax", "log_softmax") and _dim(node, 1) not in (-1, 1):
        return None  # over the batch, or an implicit dim: not a per-sample output activation
    return name


def _assemble(
    linears: list[tuple[str, torch.nn.Linear]],
    acts: list[list[tuple[str, float | None]]],
    module: torch.nn.Module,
    label: str,
) -> Traced:
    hidden = [a[0] if a else (LINEAR, None) for a in acts[:-1]]
    output = acts[-1][0][0] if acts[-1] else LINEAR
    if output not in OUTPUT_ACTIVATIONS:
        raise GradcheckError(
            f"{OPTION}: {label} ends in {output} after {linears[-1][0]}; an output activation "
            f"must be one of {', '.join(OUTPUT_ACTIVATIONS)}"
        )
    for (name, _), (path, _lin) in zip(hidden, linears, strict=False):
        if name not in ACTIVATIONS:
            raise GradcheckError(
                f"{OPTION}: {label} applies {name} after {path}, inside the network; it is "
                "only understood as the output activation"
            )
    names = tuple(n for path, _ in linears for n in (f"{path}.weight", f"{path}.bias"))
    extra = [k for k in module.state_dict() if k not in names]
    if extra:
        raise GradcheckError(
            f"{OPTION}: {label} has parameters or buffers its forward does not use as a Linear "
            f"chain: {', '.join(extra[:4])}"
        )
    layers = (linears[0][1].in_features, *(lin.out_features for _, lin in linears))
    return Traced(
        layers,
        tuple(n for n, _ in hidden),
        tuple(v for _, v in hidden),
        output,
        names,
    )


def state_of(module: torch.nn.Module, names: tuple[str, ...]) -> list[Any]:
    """The module's current parameters under ``names``, as float64 numpy copies."""
    state = module.state_dict()
    return [state[n].detach().cpu().to(torch.float64).numpy().copy() for n in names]


__all__ = ["Traced", "instantiate", "state_of", "trace"]
