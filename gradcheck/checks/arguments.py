"""Every keyword of the Python API, and every option of the command line once click has read
it, validated in one place: the documented types are taken, anything else is a
``GradcheckError`` naming the keyword (``layers: …``, ``--layers: …`` on the command line).

Nothing is coerced silently: ``layers="21"`` is read as the command line reads ``--layers 21``
(one size: refused), ``[2.5, 1]`` is refused rather than truncated, ``True`` is not a number,
a string is not a row of numbers. What each keyword takes:

====================  ========================================================================
x, target             a number, one row or a list of rows: lists, tuples, numpy arrays, torch
                      tensors (real numbers; bool, complex and text refused)
data, weights         a file name: ``str`` or ``os.PathLike`` (``pathlib.Path``)
model                 an ``nn.Module`` instance, or ``"FILE.py:NAME"`` (``str`` or a path)
layers                sizes: a list, tuple, array or tensor of whole numbers, or ``"2,10,10,1"``
activation            a name, ``"A,B"``, or a list or tuple of names
output_activation,    a name (``str``)
loss, reduction,
layout, oracle
dtype                 ``"float64"``/``"float32"``, ``torch.float64``, ``np.float32``,
                      ``np.dtype("float64")``
seed                  a whole number, 0 to 2**63 − 1
atol, rtol            a real number ≥ 0, finite (or None: the dtype's default)
loss_scale            a real number
l2                    a real number, or a mapping {parameter name: real number}
probes,               a whole number (``oracle_sample`` may be None)
oracle_sample
oracle_budget         a real number of seconds
backward              a callable ``backward(params, x, y) -> {"W1": …}``
impl                  ``"FILE.py:FUNC"`` (``str`` or a path)
grads                 a mapping {name: array or tensor}, or a file name
====================  ========================================================================
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gradcheck.checks.probes import validate_count
from gradcheck.checks.problem import validate_batch_axis
from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import DTYPES, parse_l2, parse_layers
from gradcheck.io.files import first_line

Rule = Callable[[Any, str], Any]  # (value, "--option") → the value as the check takes it


def _option(keyword: str) -> str:
    return "--" + keyword.replace("_", "-")


_KINDS = {"NoneType": "None", "ndarray": "a numpy array", "Tensor": "a tensor"}


def _kind(value: object) -> str:
    """``an int (3)``, ``a list``: what was given, briefly."""
    name = type(value).__name__
    if name in _KINDS:
        return _KINDS[name]
    article = "an" if name[:1].lower() in "aeiou" else "a"
    if isinstance(value, bool | numbers.Number | np.generic):
        return f"{article} {name} ({value!r:.40})"
    if isinstance(value, str | bytes):
        text = repr(value)
        return f"{article} {name} ({text if len(text) <= 40 else text[:37] + '…'})"
    return f"{article} {name}"


def _real(value: object) -> bool:
    """A real number: int, float, numpy's, Fraction, Decimal; not bool, not complex."""
    return isinstance(value, numbers.Real | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _float(value: Any, option: str, where: str = "") -> float:
    try:
        return float(value)
    except OverflowError:
        raise GradcheckError(
            f"{option}:{where} {_short(value)} is too large for a float64"
        ) from None


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:12]}… ({len(text)} digits)"


def _tensor_to_array(value: Any, option: str) -> Any:
    """A torch tensor as a numpy array (detached, on the CPU), without importing torch."""
    try:
        return value.detach().cpu().numpy()
    except Exception as exc:
        raise GradcheckError(f"{option}: cannot read the tensor ({first_line(exc)})") from None


def _is_tensor(value: object) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


# ---------------------------------------------------------------------------------------------
# Rules


def rows(value: Any, option: str) -> list[list[float]] | None:
    """A number, one row or a list of rows, as a list of rows of floats."""
    if value is None:
        return None
    if _is_tensor(value):
        value = _tensor_to_array(value, option)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf":
            raise GradcheckError(
                f"{option}: an array of dtype {value.dtype}; expected real numbers"
            )
        if value.ndim > 2:
            raise GradcheckError(
                f"{option}: an array of {value.ndim} dimensions {tuple(value.shape)}; "
                "expected one row or a list of rows"
            )
        value = value.tolist()
    if _real(value):
        return [[_float(value, option)]]
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise GradcheckError(
            f"{option}: got {_kind(value)}; expected numbers: one row or a list of rows (a "
            "list, a tuple, a numpy array or a tensor)"
        )
    items = list(value)
    if not items:
        return []
    row_like = [_row_like(v) for v in items]
    if not any(row_like):  # one row
        return [[_number(v, option, i) for i, v in enumerate(items, start=1)]]
    if not all(row_like):
        i = row_like.index(False) + 1
        raise GradcheckError(
            f"{option}: item {i} is {_kind(items[i - 1])} among rows; expected numbers, or rows "
            "of numbers (not both)"
        )
    out = []
    for r, row in enumerate(items, start=1):
        if _is_tensor(row):
            row = _tensor_to_array(row, option)
        if isinstance(row, np.ndarray):
            if row.ndim != 1 or row.dtype.kind not in "iuf":
                raise GradcheckError(
                    f"{option}: row {r} is an array of shape {tuple(row.shape)} and dtype "
                    f"{row.dtype}; expected a row of real numbers"
                )
            row = row.tolist()
        out.append([_number(v, option, i, row=r) for i, v in enumerate(row, start=1)])
    return out


def _row_like(value: object) -> bool:
    """A sequence or an array of at least one dimension (text is not a row)."""
    if isinstance(value, np.ndarray) or _is_tensor(value):
        return getattr(value, "ndim", 0) != 0
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _number(value: Any, option: str, item: int, *, row: int | None = None) -> float:
    where = f" row {row}, item {item}:" if row is not None else f" item {item}:"
    if (isinstance(value, np.ndarray) or _is_tensor(value)) and value.ndim == 0:
        value = value.item() if isinstance(value, np.ndarray) else value.detach().cpu().item()
    if not _real(value):
        raise GradcheckError(f"{option}:{where} {_kind(value)} is not a real number")
    return _float(value, option, where)


def path(value: Any, option: str) -> str | None:
    """A file name: ``str`` or ``os.PathLike``."""
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise GradcheckError(f"{option}: got {_kind(value)}; expected a file name (str or Path)")
    return value


def layers(value: Any, option: str) -> tuple[int, ...] | None:
    """Layer sizes: whole numbers in a sequence, or the command line's ``"2,10,10,1"``."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_layers(value)
    if _is_tensor(value):
        value = _tensor_to_array(value, option)
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise GradcheckError(
                f"{option}: an array of shape {tuple(value.shape)}; expected a list of sizes "
                "like [2, 10, 10, 1]"
            )
        value = value.tolist()
    if isinstance(value, bytes) or not isinstance(value, Sequence):
        raise GradcheckError(
            f"{option}: got {_kind(value)}; expected sizes like [2, 10, 10, 1] or '2,10,10,1'"
        )
    sizes = []
    for i, size in enumerate(value, start=1):
        if isinstance(size, bool | np.bool_) or not isinstance(size, int | np.integer):
            whole = _real(size) and math.isfinite(float(size)) and float(size).is_integer()
            hint = " (give it as an int)" if whole else ""
            raise GradcheckError(
                f"{option}: size {i} is {_kind(size)}, not a whole number{hint}; expected "
                "sizes like [2, 10, 10, 1]"
            )
        sizes.append(int(size))
    if not sizes:
        raise GradcheckError(f"{option}: empty; expected sizes like [2, 10, 10, 1]")
    return tuple(sizes)


def names(value: Any, option: str) -> str | None:
    """One name, ``"A,B"``, or a list or tuple of names, as one comma-separated string."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, Sequence) or isinstance(value, bytes):
        raise GradcheckError(f"{option}: got {_kind(value)}; expected a name or a list of names")
    items = list(value)
    if not items:
        raise GradcheckError(f"{option}: an empty list; expected a name or a list of names")
    for i, item in enumerate(items, start=1):
        if not isinstance(item, str):
            raise GradcheckError(f"{option}: item {i} is {_kind(item)}, not a name")
    return ",".join(items)


def name(value: Any, option: str) -> str | None:
    """A name (``None`` where the keyword may be left out)."""
    if value is None or isinstance(value, str):
        return value
    raise GradcheckError(f"{option}: got {_kind(value)}; expected a name (str)")


def required_name(value: Any, option: str) -> str:
    found = name(value, option)
    if found is None:
        raise GradcheckError(f"{option}: got None; expected a name (str)")
    return found


def dtype(value: Any, option: str) -> str:
    """``"float64"``, ``torch.float64``, ``np.float64`` or ``np.dtype("float64")`` → its name."""
    if isinstance(value, str):
        text = value
    elif type(value).__module__ == "torch" and type(value).__name__ == "dtype":
        text = str(value).removeprefix("torch.")
    elif isinstance(value, np.dtype) or (
        isinstance(value, type) and issubclass(value, np.generic | float)
    ):
        text = np.dtype(value).name
    else:
        raise GradcheckError(
            f"{option}: got {_kind(value)}; expected one of {', '.join(DTYPES)} (a str, a "
            "torch.dtype or a numpy dtype)"
        )
    if text not in DTYPES:
        raise GradcheckError(f"{option}: unknown {text!r}; choose from {', '.join(DTYPES)}")
    return text


#: ``--seed``'s range: what ``torch.manual_seed`` takes.
MAX_SEED = 2**63 - 1


def seed(value: Any, option: str) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise GradcheckError(f"{option}: got {_kind(value)}; expected a whole number")
    if not 0 <= int(value) <= MAX_SEED:
        raise GradcheckError(f"{option}: must be from 0 to 2**63 − 1, got {_short(value)}")
    return int(value)


def real(value: Any, option: str) -> float:
    if not _real(value):
        raise GradcheckError(f"{option}: got {_kind(value)}; expected a number")
    return _float(value, option)


def tolerance(value: Any, option: str) -> float | None:
    """``atol``/``rtol``: a number, or None for the dtype's default (its range is the
    ``Tolerance``'s to check: finite, ≥ 0)."""
    return None if value is None else real(value, option)


def l2(value: Any, option: str) -> float | dict[str, float]:
    """One L2 coefficient, or one per parameter: ``{"W1": 0.01, "fc2.weight": 0.1}``; the
    command line's text (``0.01`` or ``W1=5e-4,b1=5e-4``) too."""
    if isinstance(value, str):
        return parse_l2(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise GradcheckError(f"{option}: key {_kind(key)} is not a parameter name")
            out[key] = real(item, f"{option} ({key})")
        return out
    return real(value, option)


def whole(value: Any, option: str) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise GradcheckError(f"{option}: got {_kind(value)}; expected a whole number")
    return int(value)


def optional_whole(value: Any, option: str) -> int | None:
    return None if value is None else whole(value, option)


def flag(value: Any, option: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise GradcheckError(f"{option}: got {_kind(value)}; expected True or False")
    return bool(value)


#: Widths a text rendering may have (as a terminal's: cli/console.SANE_WIDTHS).
WIDTHS = range(20, 1001)


def width(value: Any, option: str) -> int:
    columns = whole(value, option)
    if columns not in WIDTHS:
        raise GradcheckError(
            f"{option}: must be from {WIDTHS.start} to {WIDTHS.stop - 1} columns, got "
            f"{_short(columns)}"
        )
    return columns


def model(value: object, option: str) -> object | None:
    """An ``nn.Module`` instance, or ``"FILE.py:NAME"``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return path(value, option)
    if _is_module(value):
        return value
    if isinstance(value, type) and _is_module_class(value):
        raise GradcheckError(
            f"{option}: got the class {value.__name__}; pass an instance ({value.__name__}()) "
            f"or 'FILE.py:{value.__name__}'"
        )
    raise GradcheckError(
        f"{option}: got {_kind(value)}; expected an nn.Module instance or 'FILE.py:NAME'"
    )


def _is_module_class(cls: type) -> bool:
    return any(c.__name__ == "Module" and c.__module__.startswith("torch.nn") for c in cls.__mro__)


def _is_module(obj: object) -> bool:
    return _is_module_class(type(obj))


def backward(value: Any, option: str) -> Callable[..., object] | None:
    if value is None:
        return None
    if not callable(value):
        raise GradcheckError(
            f"{option}: got {_kind(value)}; expected a function backward(params, x, y) -> "
            "{'W1': dW1, 'b1': db1, …}"
        )
    return value  # type: ignore[no-any-return]


def impl(value: Any, option: str) -> str | None:
    if callable(value) and not isinstance(value, os.PathLike):
        raise GradcheckError(
            f"{option}: got {_kind(value)}; a function is given as backward=…, while impl "
            "takes 'FILE.py:FUNC'"
        )
    return path(value, option)


def grads(value: Any, option: str) -> str | dict[str, object] | None:
    """Gradients you computed: a mapping {name: array or tensor}, or a file name."""
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise GradcheckError(
                    f"{option}: key {_kind(key)} is not a name (W1, b1, … or fc1.weight, …)"
                )
        return dict(value)
    if value is None or isinstance(value, str | os.PathLike):
        return path(value, option)
    raise GradcheckError(
        f"{option}: got {_kind(value)}; expected a dict of gradients {{'W1': array, …}} or a "
        ".npz/.json file name"
    )


def batch_axis(value: Any, option: str) -> str:
    """``--batch-axis``: "first" (examples as rows) or "last" (as columns)."""
    text = required_name(value, option)
    validate_batch_axis(text)
    return text


#: Every keyword of ``gradcheck.check`` and its rule; the command line's options go through
#: the same rules (``cli/commands.request_from``).
RULES: dict[str, Rule] = {
    "x": rows,
    "target": rows,
    "data": path,
    "model": model,
    "layers": layers,
    "activation": names,
    "output_activation": name,
    "loss": required_name,
    "reduction": required_name,
    "loss_scale": real,
    "l2": l2,
    "layout": required_name,
    "batch_axis": batch_axis,
    "dtype": dtype,
    "seed": seed,
    "weights": path,
    "atol": tolerance,
    "rtol": tolerance,
    "backward": backward,
    "impl": impl,
    "grads": grads,
    "oracle": name,
    "probes": lambda value, option: validate_count(whole(value, option)),
    "oracle_sample": optional_whole,
    "oracle_budget": real,
}


def function(value: Any, option: str) -> Callable[..., object] | None:
    """A layer's forward or backward: a callable, or None."""
    if value is None:
        return None
    if not callable(value):
        raise GradcheckError(f"{option}: got {_kind(value)}; expected a function")
    return value  # type: ignore[no-any-return]


def layer_shapes(value: Any, option: str) -> dict[str, tuple[int, ...]]:
    """``{"x": (4, 3, 32, 32), "w": "8x3x3x3"}``: a shape per argument name, as a sequence of
    whole numbers or the command line's ``AxBxC``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise GradcheckError(
            f"{option}: got {_kind(value)}; expected a dict of shapes like {{'x': (4, 3, 32, 32)}}"
        )
    from gradcheck.core.layers.shapes import check_sizes, parse_shape_text

    out: dict[str, tuple[int, ...]] = {}
    for name, shape in value.items():
        if not isinstance(name, str):
            raise GradcheckError(f"{option}: key {_kind(name)} is not an argument name")
        if isinstance(shape, str):
            out[name] = parse_shape_text(f"{name}={shape}", option)[1]
            continue
        if _is_tensor(shape) or isinstance(shape, np.ndarray):
            shape = np.asarray(shape).tolist()
        if isinstance(shape, int | np.integer) and not isinstance(shape, bool):
            shape = (int(shape),)
        if not isinstance(shape, Sequence) or any(
            isinstance(s, bool) or not isinstance(s, int | np.integer) for s in shape
        ):
            raise GradcheckError(
                f"{option} {name}: got {_kind(shape)}; expected whole numbers like (4, 3, 32, 32)"
            )
        out[name] = check_sizes(name, [int(s) for s in shape], option)
    return out


def layer_params(value: Any, option: str) -> dict[str, object]:
    """``{"stride": 2, "pad": 1}``: hyperparameters by name (numbers or words)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise GradcheckError(
            f"{option}: got {_kind(value)}; expected a dict like {{'stride': 2, 'pad': 1}}"
        )
    out: dict[str, object] = {}
    for name, item in value.items():
        if not isinstance(name, str):
            raise GradcheckError(f"{option}: key {_kind(name)} is not a parameter name")
        if not (isinstance(item, str) or _real(item)):
            raise GradcheckError(f"{option} {name}: got {_kind(item)}; expected a number or a word")
        out[name] = item
    return out


def layer_impl(value: Any, option: str) -> str | None:
    """``"FILE.py:FORWARD,BACKWARD"`` (a loss: ``"FILE.py:LOSS"``), ``str`` or a path."""
    if callable(value) and not isinstance(value, os.PathLike):
        raise GradcheckError(
            f"{option}: got {_kind(value)}; functions are given as forward=… and backward=…, "
            "while impl takes 'FILE.py:FORWARD,BACKWARD'"
        )
    return path(value, option)


#: Every keyword of ``gradcheck.check_layer`` and its rule (``gradcheck layer``'s options too).
LAYER_RULES: dict[str, Rule] = {
    "kind": required_name,
    "forward": function,
    "backward": function,
    "impl": layer_impl,
    "shapes": layer_shapes,
    "params": layer_params,
    "seed": seed,
    "dtype": dtype,
    "atol": tolerance,
    "rtol": tolerance,
    "oracle": name,
    "probes": whole,
    "values": required_name,
}


def validate(
    values: Mapping[str, Any], rules: Mapping[str, Rule] = RULES, what: str = "gradcheck.check"
) -> dict[str, Any]:
    """``values`` by keyword, each checked and in the form the check takes."""
    out = {}
    for keyword, value in values.items():
        rule = rules.get(keyword)
        if rule is None:
            raise GradcheckError(f"{keyword}: not a keyword of {what}", field=keyword)
        option = _option(keyword)
        try:
            out[keyword] = rule(value, option)
        except (GradcheckError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # a container of the caller's own kind that cannot be read
            raise GradcheckError(
                f"{option}: {_kind(value)} that cannot be read ({type(exc).__name__}: "
                f"{first_line(exc)})"
            ) from None
    return out


__all__ = ["LAYER_RULES", "RULES", "validate"]
