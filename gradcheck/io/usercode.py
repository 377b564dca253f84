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
import itertools
import linecache
import os
import sys
import traceback
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.answer import Answer
from gradcheck.core.errors import GradcheckError, UserCodeError
from gradcheck.core.spec import NetSpec
from gradcheck.io.files import first_line, read_input

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
    those bytes. The file's folder is on ``sys.path`` only while it runs (so it can import its
    neighbours); ``sys.path``, ``sys.modules``, numpy's error state and the warning filters
    are restored, and whatever it prints goes to stderr (file descriptor 1 included).
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
    try:
        _remember_source(path, source.data)
        with user_code_guard():
            code = compile(source.data, path, "exec", dont_inherit=True)
            exec(code, module.__dict__)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise UserCodeError(
            f"{option}: {path}: importing it {_raised(exc)}", user_traceback(exc, file)
        ) from None
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


@contextlib.contextmanager
def user_code_guard() -> Iterator[None]:
    """While user code runs: its output goes to stderr, and global state it sets is undone.

    ``sys.stdout`` and file descriptor 1 both point at stderr (a ``print``, ``os.write(1, …)``
    or a C extension's ``printf`` cannot reach the result on stdout); numpy's error state
    (``np.seterr(all="raise")``), the warning filters, ``sys.path`` and the working directory
    are restored afterwards. Nothing can
    stop ``os._exit`` or a thread that writes later.
    """
    _flush_stdout()
    saved_fd = _redirect_fd1()
    saved_path = list(sys.path)
    try:
        cwd: int | None = os.open(".", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        cwd = None
    try:
        with (
            contextlib.redirect_stdout(sys.stderr),
            np.errstate(),
            warnings.catch_warnings(),
        ):
            yield
    finally:
        _flush_stdout()
        sys.path[:] = saved_path
        if cwd is not None:  # relative output paths (--junit) still mean what they meant
            with contextlib.suppress(OSError):
                os.fchdir(cwd)
            os.close(cwd)
        if saved_fd is not None:
            with contextlib.suppress(OSError):
                os.dup2(saved_fd, 1)
            os.close(saved_fd)


def _redirect_fd1() -> int | None:
    """Point file descriptor 1 at stderr's; return a copy of the old one (None if impossible)."""
    try:
        saved = os.dup(1)
    except OSError:
        return None
    try:
        os.dup2(2, 1)
    except OSError:
        os.close(saved)
        return None
    return saved


def _flush_stdout() -> None:
    for stream in {id(s): s for s in (sys.stdout, sys.__stdout__) if s is not None}.values():
        with contextlib.suppress(Exception):
            stream.flush()


def user_traceback(exc: BaseException, file: Path | None) -> str:
    """The exception's traceback from the first frame in the user's file on (theirs to read)."""
    try:
        return _user_traceback(exc, file)
    except BaseException:
        return f"{type(exc).__name__} (its traceback could not be formatted)"


def _user_traceback(exc: BaseException, file: Path | None) -> str:
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
    try:
        text = first_line(exc)
    except BaseException:
        text = "<str() failed>"
    kind = type(exc).__name__
    return kind if text == kind else f"{kind}: {text}"


def _raised(exc: BaseException) -> str:
    """``raised ValueError: …``, or for ``sys.exit(…)`` what it asked (not obeyed)."""
    if isinstance(exc, SystemExit):
        try:
            code = repr(exc.code)
        except BaseException:
            code = "?"
        return f"called sys.exit({code}) (reported, not obeyed)"
    return f"raised {_describe(exc)}"


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
        with user_code_guard():  # the user's prints must not break --json
            result = _snapshot(fn(params64, x64, y_copy))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        label = label or describe_function(fn)
        raise UserCodeError(
            f"{option}: {label} {_raised(exc)}", user_traceback(exc, _source_file(fn))
        ) from None
    return validate(
        result, spec, batch=int(x64.shape[0]), option=option, what="the result", layout=layout
    )


_PLAIN_KEYS = (str, int, float, bytes, type(None))


def _snapshot(result: object) -> object:
    """A plain copy of a returned mapping, taken while user code is guarded.

    Iterating a user's Mapping, or hashing a ``str`` subclass key, runs their code: it is done
    here, so validation afterwards touches only builtin dicts, strings and numpy arrays.
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
    "user_traceback",
    "validate",
]
