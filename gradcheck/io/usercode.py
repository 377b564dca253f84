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

import contextlib
import importlib.util
import itertools
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.answer import Answer
from gradcheck.core.errors import GradcheckError, UserCodeError
from gradcheck.core.spec import NetSpec
from gradcheck.io.files import first_line, readable_file

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


def load_backward(text: str) -> Backward:
    """``--impl FILE.py:FUNC``: the user's backward function (see ``load_object``)."""
    fn = load_object(text, OPTION)
    if not callable(fn):
        _, name = parse_target(text)
        raise GradcheckError(f"{OPTION}: {text}: {name!r} is a {type(fn).__name__}, not a function")
    return fn


def load_object(text: str, option: str) -> object:
    """Import ``FILE.py`` under a unique module name and return its attribute ``NAME``.

    The file's folder is on ``sys.path`` only while it is imported (so it can import its
    neighbours, as ``python FILE.py`` would); ``sys.path`` and ``sys.modules`` are restored.
    """
    path, name = parse_target(text, option)
    file = readable_file(path, option)
    if file.suffix != ".py":
        raise GradcheckError(f"{option}: {path}: not a .py file (expected FILE.py:NAME)")
    module_name = f"_gradcheck_user_{next(_module_ids)}_{file.stem}"
    import_spec = importlib.util.spec_from_file_location(module_name, file)
    if import_spec is None or import_spec.loader is None:
        raise GradcheckError(f"{option}: {path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(import_spec)
    folder = str(file.resolve().parent)
    saved_path = list(sys.path)
    sys.path.insert(0, folder)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up here
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the result
            import_spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        raise UserCodeError(
            f"{option}: {path}: importing it raised {_describe(exc)}", user_traceback(exc, file)
        ) from None
    finally:
        sys.path[:] = saved_path
        sys.modules.pop(module_name, None)
    if not hasattr(module, name):
        defined = sorted(
            k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
        )
        hint = f" (it defines: {', '.join(defined)})" if defined else ""
        what = "function" if option == OPTION else "name"
        raise GradcheckError(f"{option}: {path}: no {what} {name!r}{hint}")
    return getattr(module, name)


def user_traceback(exc: BaseException, file: Path | None) -> str:
    """The exception's traceback from the first frame in the user's file on (theirs to read)."""
    frames = traceback.extract_tb(exc.__traceback__)
    target = str(file.resolve()) if file is not None else None
    starts = [i for i, f in enumerate(frames) if target and _same_file(f.filename, target)]
    if not starts:  # not raised in that file: drop gradcheck's and importlib's frames only
        starts = [i for i, f in enumerate(frames) if not _ours(f.filename)]
    frames = traceback.StackSummary.from_list(frames[starts[0] :] if starts else [])
    body = "".join(traceback.format_exception_only(type(exc), exc))
    if not frames:
        return body  # a SyntaxError shows its own file, line and caret
    return "Traceback (most recent call last):\n" + "".join(frames.format()) + body


_PACKAGE = str(Path(__file__).resolve().parent.parent)  # the gradcheck package


def _ours(filename: str) -> bool:
    return filename.startswith("<frozen ") or filename.startswith(_PACKAGE)


def _same_file(filename: str, target: str) -> bool:
    try:
        return str(Path(filename).resolve()) == target
    except OSError:
        return False


def _describe(exc: BaseException) -> str:
    text = first_line(exc)
    return type(exc).__name__ if text == type(exc).__name__ else f"{type(exc).__name__}: {text}"


def _source_file(fn: Backward) -> Path | None:
    code = getattr(fn, "__code__", None) or getattr(type(fn).__call__, "__code__", None)
    return Path(code.co_filename) if code is not None else None


def describe_function(fn: Backward) -> str:
    """A stable label for a Python callable: ``module.qualname``."""
    module = getattr(fn, "__module__", None) or "?"
    if module.startswith("_gradcheck_user_"):
        module = module.split("_", 4)[-1]
    return f"{module}.{getattr(fn, '__qualname__', type(fn).__name__)}"


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
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the user's prints must not break --json
            result = fn(params64, x64, y_copy)
    except (Exception, SystemExit) as exc:
        label = label or describe_function(fn)
        raise UserCodeError(
            f"{option}: {label} raised {_describe(exc)}", user_traceback(exc, _source_file(fn))
        ) from None
    return validate(
        result, spec, batch=int(x64.shape[0]), option=option, what="the result", layout=layout
    )


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
        value = np.float64(value)
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
    "user_traceback",
    "validate",
]
