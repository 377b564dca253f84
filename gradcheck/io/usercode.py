"""The user's own backward pass: load ``FILE.py:FUNC`` by path, call it, validate what it returns.

Contract (also in the README and ``gradcheck run --help``)::

    def backward(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray)
            -> dict[str, np.ndarray]

``params`` holds float64 copies of ``W1, b1, …`` (weights ``(out, in)`` as torch stores them,
or ``(in, out)`` with ``--layout in_out``), ``x`` is ``(batch, n_in)`` float64, ``y`` is
``(batch, n_out)`` float64, or ``(batch,)`` int64 class indices for a loss over classes. It
returns the gradient of the loss in force (its reduction, scale and L2 term) for every
parameter, keyed ``W1, b1, …`` (or a course's ``dW1, db1, …``, or the network's torch names
``dense.0.weight, …``, ``fc1.weight, …``), W in the same layout, a bias as ``(n,)``,
``(n, 1)`` or ``(1, n)``, and may add ``delta1 … deltaL`` (``(batch, n_l)``, ∂L/∂z_l), a
course's ``dZ1 …`` and ``dA0 … dAL`` (per example: ``core.answer.course_factor``) and
``prediction``/``loss``, compared too. With ``--batch-axis last`` examples are columns: x is
``(n_in, batch)``, y ``(n_out, batch)`` (class indices ``(1, batch)``), each bias ``(n, 1)``,
and the per-example arrays come back ``(n, batch)`` (``Exchange``).
"""

from __future__ import annotations

import itertools
import linecache
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.answer import Answer
from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import BATCH_AXES, LAYOUTS
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
    what = "function" if option == OPTION else "name"
    (found,) = load_names(path, (name,), option, what)
    return found


def load_names(
    path: str, names: Sequence[str], option: str, what: str = "function"
) -> list[object]:
    """Run ``path`` once as a module (as ``load_object`` does) and return its attributes
    ``names``; a missing one is a ``GradcheckError`` listing what the file defines."""
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
    for name in names:
        if name not in module.__dict__:
            defined = sorted(
                k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
            )
            hint = f" (it defines: {', '.join(defined)})" if defined else ""
            raise GradcheckError(f"{option}: {path}: no {what} {name!r}{hint}")
    return [module.__dict__[name] for name in names]


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


@dataclass(frozen=True)
class Exchange:
    """How arrays cross to and from the user's code: W's ``layout`` ((out, in) as torch stores
    it, or (in, out)) and the ``batch_axis`` (examples as rows, ``first``, or as columns,
    ``last``: x is (n_in, batch), δ (n_l, batch), biases (n, 1))."""

    layout: str = "out_in"
    batch_axis: str = "first"

    def changes_to(self, other: Exchange) -> list[str]:
        """The options that turn this exchange into ``other``."""
        out = []
        if other.layout != self.layout:
            out.append(f"--layout {other.layout}")
        if other.batch_axis != self.batch_axis:
            out.append(f"--batch-axis {other.batch_axis}")
        return out

    def others(self) -> list[Exchange]:
        """Every other exchange, fewest changed options first."""
        every = [Exchange(lay, axis) for lay in LAYOUTS for axis in BATCH_AXES]
        rest = [e for e in every if e != self]
        return sorted(rest, key=lambda e: len(self.changes_to(e)))


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
    batch_axis: str = "first",
) -> Answer:
    """Call ``fn(params, x, y)`` on float64 copies and validate its answer.

    The copies are the function's to keep: whatever it does to them in place cannot reach
    the arrays autograd is compared against. With ``layout="in_out"`` each W is handed over
    as (in, out) and its gradient read back that way; with ``batch_axis="last"`` x is handed
    over as (n_in, batch), y as (n_out, batch) (class indices as (1, batch)), each bias as a
    column (n, 1), and δ, ∂L/∂a and the prediction are read back as columns.
    """
    columns = batch_axis == "last"
    params64 = {
        p.name: np.array(
            _to_user(np.asarray(params[p.name]), p.name, layout, columns), dtype=np.float64
        )
        for p in spec.parameters()
    }
    x64 = np.array(np.asarray(x).T if columns else x, dtype=np.float64)
    classes = spec.loss_record.takes_classes
    y_copy = np.array(y, dtype=np.int64 if classes else np.float64)
    if columns:
        y_copy = np.array(y_copy.reshape(1, -1) if classes else y_copy.T)
    where = f"{option}: {label or describe_function(fn)}"
    result = guest.run(
        where, lambda: _snapshot(fn(params64, x64, y_copy)), source=guest.source_of(fn)
    )
    return validate(
        result,
        spec,
        batch=int(np.asarray(x).shape[0]),
        option=option,
        what="the result",
        layout=layout,
        batch_axis=batch_axis,
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


def _to_user(value: NDArray[Any], name: str, layout: str, columns: bool) -> NDArray[Any]:
    """A parameter as the user's code holds it: W in ``layout``, a bias a column with columns."""
    if name.startswith("b") and columns:
        return value.reshape(-1, 1)
    return _to_layout(value, name, layout)


#: Names for what the contract calls W1 and b1, as courses write gradient dicts.
_COURSE_PREFIXES = {"dW": "W", "db": "b"}


def _canonical(key: str, spec: NetSpec, by_torch: Mapping[str, str]) -> str:
    """The contract's name for a key: torch names → W1, b1; dW1/db1 → W1/b1; dAL → dA{L};
    anything else unchanged (and refused later if unknown)."""
    if key in by_torch:
        return by_torch[key]
    if key == "dAL":
        return f"dA{spec.depth}"
    for prefix, name in _COURSE_PREFIXES.items():
        rest = key.removeprefix(prefix)
        if rest != key and rest.isdigit() and not rest.startswith("0"):
            return name + rest
    return key


def _allowed(spec: NetSpec) -> str:
    last = spec.depth
    return (
        f"W1, b1, …, W{last}, b{last} (or dW1, db1, …, or the torch names), delta1 … "
        f"delta{last}, dZ1 … dZ{last}, dA0 … dA{last} (dAL), prediction, loss"
    )


def validate(
    result: object,
    spec: NetSpec,
    *,
    batch: int,
    option: str,
    what: str,
    layout: str = "out_in",
    batch_axis: str = "first",
) -> Answer:
    """Check keys, types and shapes of a gradient mapping; NaN/inf pass (they fail the check).

    Keys are hand names (``W1``, ``b1``, …), the network's torch names (``dense.0.weight``, a
    model's ``fc1.weight``) or a course's (``dW1``, ``db1``), plus optional ``delta1 …
    deltaL`` (∂L/∂z_l), a course's ``dZ1 … dZL`` and ``dA0 … dAL`` (or ``dAL``; a0 = x,
    aL = ŷ: per-example derivatives, see ``core.answer.course_factor``), ``prediction`` and
    ``loss``. W gradients are read in ``layout``; a bias gradient may be (n,), (n, 1) or
    (1, n); δ, dZ, dA and the prediction are (batch, n), or (n, batch) with
    ``batch_axis="last"``.
    """
    if not isinstance(result, Mapping):
        raise GradcheckError(
            f"{option}: {what} is a {type(result).__name__}, expected a dict of gradients "
            "{'W1': array, 'b1': array, …}"
        )
    params = spec.parameters()
    by_torch = {p.torch_name: p.name for p in params}
    expected = {p.name: _to_layout(np.empty(p.shape), p.name, layout).shape for p in params}
    per_row: dict[str, int] = {}
    for layer in range(1, spec.depth + 1):
        per_row[f"delta{layer}"] = per_row[f"dZ{layer}"] = spec.layers[layer]
    per_row |= {f"dA{k}": spec.layers[k] for k in range(spec.depth + 1)}
    per_row["prediction"] = spec.n_out
    values: dict[str, object] = {}
    keys: dict[str, str] = {}  # contract name → the key as given, for messages
    for key, value in result.items():
        name = _canonical(key, spec, by_torch) if isinstance(key, str) else key
        if name not in expected and name not in per_row and name != "loss":
            raise GradcheckError(
                f"{option}: {what} has an unexpected key {key!r} (allowed: {_allowed(spec)})"
            )
        assert isinstance(name, str) and isinstance(key, str)
        if name in values:
            raise GradcheckError(f"{option}: {what} gives {name} twice (as {keys[name]} and {key})")
        values[name] = value
        keys[name] = key
    missing = [p.name for p in params if p.name not in values]
    if missing:
        raise GradcheckError(
            f"{option}: {what} is missing {', '.join(missing)} (every parameter's gradient is "
            "needed)"
        )
    shape = _Shapes(spec, batch, layout, batch_axis, option, what)
    arrays: dict[str, Array] = {}
    for name, value in values.items():
        arr = _array(keys[name], value, option, what, shape.wanted(name, expected, per_row))
        if name in expected:
            arrays[name] = shape.parameter(name, keys[name], arr, expected[name])
        elif name in per_row:
            arrays[name] = shape.per_example(name, keys[name], arr, per_row[name])
        else:
            arrays[name] = shape.scalar(keys[name], arr)
    # float64 arrays under hand names, validated; forward values, δ, dZ and dA where given
    deltas = {k: arrays[k] for k in per_row if k.startswith("delta") and k in arrays}
    course = {k: arrays[k] for k in per_row if k.startswith(("dZ", "dA")) and k in arrays}
    return Answer(
        prediction=arrays.get("prediction"),
        loss=arrays.get("loss"),
        grads={p.name: arrays[p.name] for p in params},
        deltas=deltas,
        course=course,
    )


def _array(key: str, value: object, option: str, what: str, want: str) -> NDArray[Any]:
    """A returned value as a real numpy array (a Python number for the loss is one)."""
    if key == "loss" and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            value = np.float64(float(value))
        except OverflowError:
            raise GradcheckError(
                f"{option}: {key} in {what} is an integer too large for a float64"
            ) from None
    if not isinstance(value, (np.ndarray, np.generic)):
        kind = type(value).__name__
        hint = " (convert with .detach().numpy())" if kind == "Tensor" else ""
        raise GradcheckError(
            f"{option}: {key} in {what} is a {kind}, expected a numpy array of shape {want}{hint}"
        )
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise GradcheckError(
            f"{option}: {key} in {what} has dtype {arr.dtype}, expected real numbers (float64)"
        )
    return arr


@dataclass(frozen=True)
class _Shapes:
    """Checks a returned array's shape against the network and brings it to gradcheck's own
    orientation (W (out, in), b (n,), per-example arrays (batch, n)); errors say what fits."""

    spec: NetSpec
    batch: int
    layout: str
    batch_axis: str
    option: str
    what: str

    def wanted(
        self, name: str, expected: Mapping[str, tuple[int, ...]], per_row: Mapping[str, int]
    ) -> str:
        """The shape ``name`` should have, as the user's code holds it, for messages."""
        if name in expected:
            return _shape(expected[name])
        if name in per_row:
            rows = (self.batch, per_row[name])
            return _shape(rows[::-1] if self.batch_axis == "last" else rows)
        return _shape(())

    def _fail(self, key: str, got: tuple[int, ...], want: tuple[int, ...], hint: str = "") -> None:
        raise GradcheckError(
            f"{self.option}: {key} in {self.what} has shape {_shape(got)}, expected "
            f"{_shape(want)}{hint}"
        )

    def parameter(self, name: str, key: str, arr: NDArray[Any], want: tuple[int, ...]) -> Array:
        if name.startswith("b"):
            (n,) = want
            # (n,), a column (n, 1) as column-vector code writes b, or a row (1, n) as
            # np.sum(δ, axis=0, keepdims=True) gives it
            if arr.shape in ((n,), (n, 1), (1, n)):
                return np.ascontiguousarray(arr.reshape(n), dtype=np.float64)
            hint = ""
            if arr.ndim == 2 and self.batch in arr.shape and n in arr.shape:
                hint = " (a bias gradient sums δ over the batch: one number per unit)"
            self._fail(key, arr.shape, want, hint or " (or (n, 1), (1, n))")
        if arr.shape != want:
            stored = "(out, in), as torch stores them" if self.layout == "out_in" else "(in, out)"
            other = "in_out" if self.layout == "out_in" else "out_in"
            if len(want) == 2 and arr.shape == want[::-1]:
                hint = (
                    f" (transposed? with --layout {self.layout} weights are {stored}; or "
                    f"--layout {other})"
                )
            else:
                hint = (
                    f" (with --layout {self.layout} weights are {stored}; --layers "
                    f"{_layers(self.spec)})"
                )
            self._fail(key, arr.shape, want, hint)
        return np.ascontiguousarray(_to_layout(arr, name, self.layout), dtype=np.float64)

    def per_example(self, name: str, key: str, arr: NDArray[Any], units: int) -> Array:
        columns = self.batch_axis == "last"
        rows = (self.batch, units)
        want = rows[::-1] if columns else rows
        if arr.shape == want:
            return np.ascontiguousarray(arr.T if columns else arr, dtype=np.float64)
        if arr.shape == want[::-1] and self.batch != units:
            hint = (
                " (your arrays look transposed: examples as rows? use --batch-axis first)"
                if columns
                else " (your arrays look transposed: examples as columns? use --batch-axis last)"
            )
        else:
            hint = f" ({'units, batch' if columns else 'batch, units'})"
            if name.startswith("dA"):
                layer = int(name.removeprefix("dA"))
                below = (self.batch, self.spec.layers[layer - 1]) if layer else None
                if below is not None and arr.shape in (below, below[::-1]) and below != rows:
                    hint = (
                        f" ({name} is ∂L/∂a{layer}; yours has the shape of a{layer - 1}: "
                        "keyed one layer up?)"
                    )
        self._fail(key, arr.shape, want, hint)
        raise AssertionError  # unreachable: _fail raises

    def scalar(self, key: str, arr: NDArray[Any]) -> Array:
        if arr.size == 1:
            return arr.reshape(()).astype(np.float64)
        self._fail(key, arr.shape, ())
        raise AssertionError


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _layers(spec: NetSpec) -> str:
    return ",".join(map(str, spec.layers))


__all__ = [
    "Exchange",
    "call_backward",
    "describe_function",
    "load_backward",
    "load_names",
    "parse_target",
    "validate",
]
