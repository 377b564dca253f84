"""The user's own backward pass: load ``FILE.py:FUNC`` by path, call it, validate what it returns.

Contract (also in the README and ``gradcheck run --help``)::

    def backward(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray)
            -> dict[str, np.ndarray]

``params`` holds float64 copies of ``W1, b1, …`` (weights ``(out, in)`` as torch stores them,
or ``(in, out)`` with ``--layout in_out``), ``x`` is ``(batch, n_in)`` float64, ``y`` is
``(batch, n_out)`` float64, or ``(batch,)`` int64 class indices for a loss over classes. It
returns the gradient of the loss in force (its reduction, scale and L2 term) for every
parameter, keyed ``W1, b1, …`` (or the network's torch names ``dense.0.weight, …``,
``fc1.weight, …``), W in the same layout, a bias as ``(n,)`` or ``(n, 1)``, and may add
``delta1 … deltaL`` (``(batch, n_l)``, ∂L/∂z_l) and ``prediction``/``loss``, compared too.
"""

from __future__ import annotations

import itertools
import linecache
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.answer import Answer
from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import NetSpec
from gradcheck.io import guest
from gradcheck.io.files import read_input

Array = NDArray[np.float64]
Backward = Callable[..., Any]

OPTION = "--impl"

_module_ids = itertools.count()


# ---------------------------------------------------------------------------------------------
# Loading


def parse_target(text: str, option: str = OPTION) -> tuple[str, str]:
    """``"path/to/file.py:backward"`` → ``("path/to/file.py", "backward")``."""
    path, sep, name = text.rpartition(":")
    if option == OPTION:
        form, example, what = "FILE.py:FUNC", "samples/backward_seed.py:backward", "function"
    else:
        form, example, what = "FILE.py:NAME", "net.py:Model", "class or function"
    if not sep or not path:
        raise GradcheckError(f"{option}: {text}: expected {form} (e.g. {example})")
    if not name:
        raise GradcheckError(f"{option}: {text}: missing the {what} name after ':'")
    if not name.isidentifier():
        raise GradcheckError(f"{option}: {text}: {name!r} is not a Python name")
    return path, name


_MAX_SOURCE_BYTES = 64 * 2**20


def load_backward(text: str) -> Backward:
    """``--impl FILE.py:FUNC``: the user's backward function (see ``load_object``)."""
    fn = load_object(text, OPTION)
    if not callable(fn):
        _, name = parse_target(text)
        raise GradcheckError(f"{OPTION}: {text}: {name!r} is a {type(fn).__name__}, not a function")
    return fn


def load_object(text: str, option: str) -> object:
    """Run ``FILE.py`` as a module under a unique name and return its attribute ``NAME``.

    This executes the file's code with the user's rights, as ``python FILE.py`` would: it is
    the user's own code. The file is read once (``-`` or a pipe works too) and compiled from
    those bytes, and run as a guest (``io/guest.py``: its output goes to stderr, the global
    state it changes is restored, whatever it raises is exit 2). The file's folder is on
    ``sys.path`` only while it runs (so it can import its neighbours).
    """
    path, name = parse_target(text, option)
    source = read_input(path, option, limit=_MAX_SOURCE_BYTES, what="a Python source file")
    if not source.stream and source.suffix != ".py":
        raise GradcheckError(f"{option}: {path}: not a .py file (expected FILE.py:NAME)")
    file = Path(path)
    module_name = f"_gradcheck_user_{next(_module_ids)}_{_stem(file)}"
    module = types.ModuleType(module_name)
    module.__file__ = path
    folder = str(file.resolve().parent) if not source.stream else None
    saved_path = list(sys.path)
    if folder is not None:
        sys.path.insert(0, folder)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up here

    def execute() -> None:
        exec(compile(source.data, path, "exec", dont_inherit=True), module.__dict__)

    try:
        _remember_source(path, source.data)
        guest.run(f"{option}: {path}: importing it", execute, source=path)
    finally:
        sys.path[:] = saved_path
        sys.modules.pop(module_name, None)
    if name not in module.__dict__:
        defined = sorted(
            k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
        )
        hint = f" (it defines: {', '.join(defined)})" if defined else ""
        what = "function" if option == OPTION else "name"
        raise GradcheckError(f"{option}: {path}: no {what} {name!r}{hint}")
    return module.__dict__[name]


def _remember_source(path: str, data: bytes) -> None:
    """Tracebacks show the source that ran, and never reopen the path (a pipe would block)."""
    text = data.decode("utf-8", errors="replace")
    linecache.cache[path] = (len(text), None, text.splitlines(keepends=True), path)


def _stem(file: Path) -> str:
    stem = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in file.stem)
    return stem or "stdin"


def describe_function(fn: Backward) -> str:
    """A stable label for a Python callable: ``module.qualname``."""
    try:  # reading attributes of the user's object may run their code
        module = getattr(fn, "__module__", None)
        name = getattr(fn, "__qualname__", None)
    except BaseException:
        module = name = None
    module = module if isinstance(module, str) and module else "?"
    if module.startswith("_gradcheck_user_"):
        module = module.split("_", 4)[-1]
    if not isinstance(name, str):
        name = type(fn).__name__
    return f"{module}.{name}"


# ---------------------------------------------------------------------------------------------
# Calling and validating


def call_backward(
    fn: Backward,
    spec: NetSpec,
    params: Mapping[str, NDArray[np.floating]],
    x: NDArray[np.floating],
    y: NDArray[np.generic],
    *,
    option: str = OPTION,
    label: str | None = None,
    layout: str = "out_in",
) -> Answer:
    """Call ``fn(params, x, y)`` on float64 copies and validate its answer.

    The copies are the function's to keep: whatever it does to them in place cannot reach
    the arrays autograd is compared against. With ``layout="in_out"`` each W is handed over
    as (in, out) and its gradient read back that way.
    """
    params64 = {
        p.name: np.array(_to_layout(np.asarray(params[p.name]), p.name, layout), dtype=np.float64)
        for p in spec.parameters()
    }
    x64 = np.array(x, dtype=np.float64)
    y_copy = np.array(y, dtype=np.int64 if spec.loss_record.takes_classes else np.float64)
    where = f"{option}: {label or describe_function(fn)}"
    result = guest.run(
        where, lambda: _snapshot(fn(params64, x64, y_copy)), source=guest.source_of(fn)
    )
    return validate(
        result, spec, batch=int(x64.shape[0]), option=option, what="the result", layout=layout
    )


_PLAIN_KEYS = (str, int, float, bytes, type(None))


def _snapshot(result: object) -> object:
    """A plain copy of a returned mapping, taken while user code is guarded.

    Iterating a user's Mapping, hashing a ``str`` subclass key or reading a number subclass
    runs their code: it is done here, so validation afterwards touches only builtin dicts,
    strings, numbers and numpy arrays.
    """
    if not isinstance(result, Mapping):
        return result
    out: dict[object, object] = {}
    for key, value in dict(result).items():
        if isinstance(key, str):
            key = str.__str__(key)
        elif type(key) not in _PLAIN_KEYS:
            key = f"<{type(key).__name__}>"
        if isinstance(value, np.ndarray):
            value = np.array(value, copy=True, subok=False)
        elif isinstance(value, float) and type(value) is not float:
            value = float(value)
        elif isinstance(value, int) and type(value) not in (int, bool):
            value = int(value)
        out[key] = value
    return out


def _to_layout(value: NDArray[Any], name: str, layout: str) -> NDArray[Any]:
    """W as the user's code stores it: (out, in), or (in, out) with ``--layout in_out``."""
    return value.T if layout == "in_out" and name.startswith("W") and value.ndim == 2 else value


def validate(
    result: object,
    spec: NetSpec,
    *,
    batch: int,
    option: str,
    what: str,
    layout: str = "out_in",
) -> Answer:
    """Check keys, types and shapes of a gradient mapping; NaN/inf pass (they fail the check).

    Keys are hand names (``W1``, ``b1``, …) or the network's torch names (``dense.0.weight``,
    a model's ``fc1.weight``), plus optional ``delta1 … deltaL``, ``prediction`` and ``loss``.
    W gradients are read in ``layout``; bias gradients may be (n,) or a column (n, 1).
    """
    if not isinstance(result, Mapping):
        raise GradcheckError(
            f"{option}: {what} is a {type(result).__name__}, expected a dict of gradients "
            "{'W1': array, 'b1': array, …}"
        )
    params = spec.parameters()
    by_torch = {p.torch_name: p.name for p in params}
    expected = {p.name: _to_layout(np.empty(p.shape), p.name, layout).shape for p in params}
    optional: dict[str, tuple[int, ...]] = {
        f"delta{layer}": (batch, spec.layers[layer]) for layer in range(1, spec.depth + 1)
    }
    optional["prediction"] = (batch, spec.n_out)
    optional["loss"] = ()
    values: dict[str, object] = {}
    for key, value in result.items():
        name = by_torch.get(key, key) if isinstance(key, str) else key
        if name not in expected and name not in optional:
            allowed = f"W1, b1, …, {params[-1].name}, delta1 … delta{spec.depth}, prediction, loss"
            raise GradcheckError(
                f"{option}: {what} has an unexpected key {key!r} (allowed: {allowed})"
            )
        if name in values:
            raise GradcheckError(f"{option}: {what} gives {name} twice (as {name} and {key})")
        values[name] = value
    missing = [p.name for p in params if p.name not in values]
    if missing:
        raise GradcheckError(
            f"{option}: {what} is missing {', '.join(missing)} (every parameter's gradient is "
            "needed)"
        )
    arrays = {
        name: _array(name, value, {**expected, **optional}[name], option, what, spec, layout)
        for name, value in values.items()
    }
    for p in params:  # back to (out, in), as everything else holds W
        arrays[p.name] = np.ascontiguousarray(_to_layout(arrays[p.name], p.name, layout))
    # float64 arrays under hand names, validated; forward values and δ where given
    return Answer(
        prediction=arrays.get("prediction"),
        loss=arrays.get("loss"),
        grads={p.name: arrays[p.name] for p in params},
        deltas={k: arrays[k] for k in optional if k.startswith("delta") and k in arrays},
    )


def _array(
    name: str,
    value: object,
    shape: tuple[int, ...],
    option: str,
    what: str,
    spec: NetSpec,
    layout: str = "out_in",
) -> Array:
    if name == "loss" and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            value = np.float64(float(value))
        except OverflowError:
            raise GradcheckError(
                f"{option}: loss in {what} is an integer too large for a float64"
            ) from None
    if not isinstance(value, (np.ndarray, np.generic)):
        kind = type(value).__name__
        hint = " (convert with .detach().numpy())" if kind == "Tensor" else ""
        raise GradcheckError(
            f"{option}: {name} in {what} is a {kind}, expected a numpy array of "
            f"shape {_shape(shape)}{hint}"
        )
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise GradcheckError(
            f"{option}: {name} in {what} has dtype {arr.dtype}, expected real numbers (float64)"
        )
    if name == "loss" and arr.size == 1:
        arr = arr.reshape(())
    if name.startswith("b") and len(shape) == 1 and arr.shape == (*shape, 1):
        arr = arr.reshape(shape)  # a column-vector (n, 1) bias gradient, as textbooks write b
    if arr.shape != shape:
        hint = ""
        stored = "(out, in), as torch stores them" if layout == "out_in" else "(in, out)"
        other = "in_out" if layout == "out_in" else "out_in"
        if len(shape) == 2 and arr.shape == shape[::-1] and name.startswith("W"):
            hint = (
                f" (transposed? with --layout {layout} weights are {stored}; or --layout {other})"
            )
        elif name.startswith("W"):
            hint = f" (with --layout {layout} weights are {stored}; --layers {_layers(spec)})"
        elif name.startswith(("delta", "prediction")):
            hint = " (batch, units)"
        raise GradcheckError(
            f"{option}: {name} in {what} has shape {_shape(arr.shape)}, expected "
            f"{_shape(shape)}{hint}"
        )
    return arr.astype(np.float64)


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _layers(spec: NetSpec) -> str:
    return ",".join(map(str, spec.layers))


__all__ = [
    "call_backward",
    "describe_function",
    "load_backward",
    "parse_target",
    "validate",
]
