"""The user's own ``nn.Module`` (``--model FILE.py:NAME``, ``check(model=…)``), read as a network.

Traced with ``torch.fx`` into Linear → activation → … → Linear → output activation; every
spelling torch has for an activation (the ``nn`` module, ``torch.*``, ``F.*``, the Tensor
method) is recognised through the map in ``torch_side/functions.py``. Anything else is
refused, naming the operation and where it is (``torch.sin after fc1``). A bare
``nn.Linear`` is a network too (linear or logistic regression, with an output activation).

The module is taken as it is: a frozen parameter is checked all the same (with a notice), a
module on another device or on the meta device is checked through a copy on the CPU. What
cannot be read honestly is refused: a Linear without bias, hooks (tracing cannot see what
they do), parameters that are not real floating point. Every call into the user's code (the
constructor, ``forward`` when traced and when run) goes through a ``Runner``, which the
checks layer makes from ``io/guest.py`` (this layer does not import ``io``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import torch

from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import ACTIVATIONS, LINEAR, OUTPUT_ACTIVATIONS
from gradcheck.torch_side.functions import TORCH_ACTIVATIONS, TORCH_OUTPUTS

OPTION = "--model"
_NO_OPS = (torch.nn.Identity,)

T = TypeVar("T")


class Runner(Protocol):
    """Runs a piece of the user's code as a guest (``io.guest.Guest``): ``runner(what, fn)``
    calls ``fn()`` with ``what`` naming it in messages; ``runner.note(text)`` adds a notice."""

    def __call__(self, what: str, fn: Callable[[], T]) -> T: ...

    def note(self, message: str) -> None: ...


class Direct:
    """A runner that just calls (for tests and tools that call the torch side directly)."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def __call__(self, what: str, fn: Callable[[], T]) -> T:
        return fn()

    def note(self, message: str) -> None:
        self.notes.append(message)


@dataclass(frozen=True)
class Traced:
    """What a module computes, as gradcheck's vocabulary says it."""

    layers: tuple[int, ...]
    activations: tuple[str, ...]  # per hidden layer
    activation_params: tuple[float | None, ...]  # torch's parameter per hidden layer, if any
    output_activation: str
    names: tuple[str, ...]  # torch names of W1, b1, W2, …: "fc1.weight", "fc1.bias", …


def instantiate(obj: Any, seed: int, label: str, run: Runner | None = None) -> torch.nn.Module:
    """Build ``obj`` (an ``nn.Module`` subclass or a zero-argument function returning one)
    right after ``torch.manual_seed(seed)``, through ``run``; the caller's RNG state is left
    alone."""
    run = run or Direct()
    if isinstance(obj, torch.nn.Module):
        return obj
    if not callable(obj):
        raise GradcheckError(
            f"{OPTION}: {label} is a {type(obj).__name__}, expected an nn.Module subclass or a "
            "function returning a module"
        )
    name = getattr(obj, "__name__", None) or type(obj).__name__

    def build() -> object:
        needed = _required_arguments(obj)
        if needed:
            raise GradcheckError(
                f"{OPTION}: {label} needs arguments ({', '.join(needed)}); give a class or "
                "function that builds the model with none"
            )
        torch.manual_seed(seed)
        return obj()

    with torch.random.fork_rng(devices=[]):
        made = run(f"{name}()", build)
    if not isinstance(made, torch.nn.Module):
        raise GradcheckError(
            f"{OPTION}: {label} returned a {type(made).__name__}, expected an nn.Module"
        )
    return made


def _required_arguments(obj: Any) -> list[str]:
    """The parameters ``obj()`` would miss (none when its signature cannot be read)."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    kinds = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
    return [
        p.name
        for p in signature.parameters.values()
        if p.kind in kinds and p.default is inspect.Parameter.empty
    ]


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


class _Tracer(torch.fx.Tracer):  # type: ignore[misc]
    """torch.fx's tracer, reading any ``nn.Linear`` that keeps Linear's forward (a subclass
    too) as one layer."""

    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        return _plain_linear(m) or bool(super().is_leaf_module(m, module_qualified_name))


def _plain_linear(m: torch.nn.Module) -> bool:
    return isinstance(m, torch.nn.Linear) and type(m).forward is torch.nn.Linear.forward


def trace(module: torch.nn.Module, label: str, run: Runner | None = None) -> Traced:
    """Read ``module`` as Linear → activation → … → Linear → output activation, or refuse;
    its forward is traced through ``run``, which hears the notices (a frozen parameter)."""
    run = run or Direct()
    if _plain_linear(module):  # a bare Linear: linear regression
        traced = _single_linear(module, label)
    else:
        graph = run(f"{label}.forward (traced with torch.fx)", lambda: _graph(module, label))
        traced = _walk(graph, module, label)
    _inspect(module, traced, label, run)
    return traced


def _graph(module: torch.nn.Module, label: str) -> torch.fx.Graph:
    try:
        return _Tracer().trace(module)
    except Exception as exc:  # torch.fx raises TraceError, TypeError, … on dynamic code
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GradcheckError(
            f"{OPTION}: {label} cannot be traced with torch.fx ({first}); its forward must be "
            "a fixed chain of Linear layers and activations"
        ) from None


def _single_linear(module: torch.nn.Linear, label: str) -> Traced:
    _require_bias(module, label, "")
    return Traced((module.in_features, module.out_features), (), (), LINEAR, ("weight", "bias"))


def _require_bias(sub: torch.nn.Linear, label: str, path: str) -> None:
    if sub.bias is None:
        where = f"{label}.{path}" if path else label
        raise GradcheckError(
            f"{OPTION}: {where} is Linear({sub.in_features}, {sub.out_features}, bias=False); "
            "gradcheck checks networks with a bias in every layer (W and b): give the layer "
            "its bias"
        )


def _walk(graph: torch.fx.Graph, module: torch.nn.Module, label: str) -> Traced:
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
            _require_bias(sub, label, str(node.target))
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


#: Hooks a module can carry, and how a user adds them: tracing does not see what they do.
_MODULE_HOOKS = {
    "_forward_pre_hooks": "a forward pre-hook (register_forward_pre_hook)",
    "_forward_hooks": "a forward hook (register_forward_hook)",
    "_backward_pre_hooks": "a backward pre-hook (register_full_backward_pre_hook)",
    "_backward_hooks": "a backward hook (register_full_backward_hook)",
    "_state_dict_pre_hooks": "a state_dict hook",
    "_state_dict_hooks": "a state_dict hook",
    "_load_state_dict_pre_hooks": "a load_state_dict hook",
    "_load_state_dict_post_hooks": "a load_state_dict hook",
}


def parameters_of(module: torch.nn.Module, names: tuple[str, ...], label: str) -> list[Any]:
    """The module's parameters under ``names``; each must be a registered ``nn.Parameter``."""
    found = dict(module.named_parameters())
    missing = [n for n in names if n not in found]
    if missing:
        raise GradcheckError(
            f"{OPTION}: {label}: {missing[0]} is not a parameter of the model (a Linear's "
            "weight and bias must be its registered nn.Parameter; a parametrization or a "
            "plain tensor is not read)"
        )
    return [found[n] for n in names]


def _inspect(module: torch.nn.Module, traced: Traced, label: str, run: Runner) -> None:
    """Refuse what tracing cannot vouch for; note a frozen parameter (it is checked)."""
    params = parameters_of(module, traced.names, label)
    for name, p in zip(traced.names, params, strict=True):
        if isinstance(p, torch.nn.parameter.UninitializedParameter):
            raise GradcheckError(
                f"{OPTION}: {label}: {name} is not initialised yet (a lazy module): run the "
                "model once on an input, or give its sizes"
            )
        if not p.is_floating_point():
            raise GradcheckError(
                f"{OPTION}: {label}: {name} has dtype {str(p.dtype).removeprefix('torch.')}; "
                "gradcheck checks real floating-point weights"
            )
    for path, sub in module.named_modules():
        for attribute, what in _MODULE_HOOKS.items():
            if getattr(sub, attribute, None):
                _refuse_hook(label, path or "the model", what)
    frozen = [name for name, p in zip(traced.names, params, strict=True) if not p.requires_grad]
    if frozen:
        verb = "is" if len(frozen) == 1 else "are"
        run.note(
            f"{', '.join(frozen)} {verb} frozen (requires_grad=False) in the model; checked "
            "all the same (the loss has a gradient with respect to it; gradcheck differentiates "
            "its own copy)"
        )


def _refuse_hook(label: str, where: str, what: str) -> None:
    raise GradcheckError(
        f"{OPTION}: {label}: {where} has {what}; gradcheck reads the model by tracing it, "
        "which cannot see what a hook does: remove the hook for the check"
    )


def state_of(module: torch.nn.Module, names: tuple[str, ...], label: str) -> list[Any]:
    """The module's current parameters under ``names``, as float64 numpy copies."""
    params = parameters_of(module, names, label)
    for name, p in zip(names, params, strict=True):
        if p.is_meta:
            raise GradcheckError(
                f"{OPTION}: {label}: {name} is on the meta device, which holds no values to "
                "check; build the model on the CPU, or give --weights with its state_dict"
            )
    return [p.detach().to("cpu", torch.float64).numpy().copy() for p in params]


__all__ = ["Direct", "Runner", "Traced", "instantiate", "parameters_of", "state_of", "trace"]
