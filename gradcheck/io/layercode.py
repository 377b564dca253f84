"""A layer's code as the user wrote it: loading ``FILE.py:FORWARD,BACKWARD``, calling each function
as a guest on copies, and reading what it returns.

Contract (docs/layers.md has each kind's): ``FORWARD(*arrays, [positional hyperparameters],
[param_dict])`` returns ``(out, …, cache)``; ``BACKWARD(dout, …, cache)`` returns the gradients
in the order of the forward's differentiated arrays (one array alone when there is one). A loss
is one function ``LOSS(x, y, …)`` returning ``(loss, dx)``. The cache is opaque: it goes back
to the backward as it came. Every array handed over is a fresh copy in the check's dtype, and
each hyperparameter dict is a fresh dict, so nothing the code does to them in place reaches
the other side or the next call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.errors import GradcheckError
from gradcheck.io import guest
from gradcheck.io.usercode import describe_function, load_names

OPTION = "--impl"


@dataclass(frozen=True)
class LayerCode:
    """The user's functions (forward and backward, or a loss's one) and how messages name them."""

    functions: tuple[Callable[..., Any], ...]
    labels: tuple[str, ...]  # "samples/layers/layers.py:conv_forward_naive", or "python:mod.f"
    source: str | None  # the file, if known
    impl: str | None  # the --impl text, for reproducing commands

    @property
    def candidate(self) -> str:
        """What the hand side is, for the report: ``impl:FILE.py:F,B`` or ``python:…``."""
        if self.impl is not None:
            return f"impl:{self.impl}"
        return "python:" + ",".join(label.removeprefix("python:") for label in self.labels)


def parse_impl(text: str, count: int, kind: str) -> tuple[str, tuple[str, ...]]:
    """``"layers.py:conv_forward_naive,conv_backward_naive"`` → the path and the names."""
    path, sep, names = text.rpartition(":")
    example = "FILE.py:FORWARD,BACKWARD" if count == 2 else "FILE.py:LOSS"
    if not sep or not path or not names:
        raise GradcheckError(f"{OPTION}: {text}: expected {example}")
    found = tuple(n.strip() for n in names.split(","))
    if len(found) != count:
        what = (
            "two functions, the forward and the backward"
            if count == 2
            else "one function returning (loss, dx)"
        )
        raise GradcheckError(f"{OPTION}: {text}: {kind} takes {what} ({example}), got {len(found)}")
    for name in found:
        if not name.isidentifier():
            raise GradcheckError(f"{OPTION}: {text}: {name!r} is not a Python name")
    return path, found


def load(text: str, count: int, kind: str) -> LayerCode:
    """``--impl FILE.py:F,B``: the file run once as a module (``usercode.load_names``), its
    functions looked up and checked callable."""
    path, names = parse_impl(text, count, kind)
    found = load_names(path, names, OPTION)
    for name, fn in zip(names, found, strict=True):
        if not callable(fn):
            raise GradcheckError(
                f"{OPTION}: {path}: {name!r} is a {type(fn).__name__}, not a function"
            )
    return LayerCode(
        tuple(found),  # type: ignore[arg-type]
        tuple(f"{path}:{n}" for n in names),
        path,
        text,
    )


def from_callables(functions: Sequence[Callable[..., Any]]) -> LayerCode:
    """``forward=``/``backward=`` handed to the API."""
    labels = tuple(f"python:{describe_function(fn)}" for fn in functions)
    source = guest.source_of(functions[0]) if functions else None
    return LayerCode(tuple(functions), labels, source, None)


def check_signature(fn: Callable[..., Any], label: str, count: int, call: str) -> None:
    """The function accepts ``count`` positional arguments, as the course calls it (``call``)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin or a C function: it will say so itself when called
    try:
        signature.bind(*range(count))
    except TypeError:
        raise GradcheckError(
            f"{OPTION}: {label}: its signature {_signature_text(fn, signature)} does not take "
            f"the {count} argument{'s' if count != 1 else ''} of {call}"
        ) from None


def _signature_text(fn: Callable[..., Any], signature: inspect.Signature) -> str:
    name = getattr(fn, "__name__", "function")
    return f"{name}{signature}"


def copy_argument(value: Any) -> Any:
    """A fresh copy for one call: arrays copied, dicts copied, anything else as it is."""
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True)
    if isinstance(value, dict):
        return dict(value)
    return value


def call(code: LayerCode, index: int, args: Sequence[Any]) -> Any:
    """Function ``index`` of the code on fresh copies of ``args``, as a guest."""
    fn = code.functions[index]
    label = code.labels[index]
    where = f"{OPTION}: {label}"
    copies = [copy_argument(a) for a in args]
    return guest.run(where, lambda: fn(*copies), source=code.source)


def unpack(
    result: Any, label: str, names: Sequence[str], contract: str, *, cache: bool
) -> tuple[list[Any], Any]:
    """What a function returned, as ``names`` (and the cache after them when ``cache``):
    a tuple or list of the right length; one name alone may come bare."""
    want = len(names) + (1 if cache else 0)
    if want == 1 and not isinstance(result, tuple | list):
        return [result], None
    if not isinstance(result, tuple | list):
        raise GradcheckError(f"{OPTION}: {label} returned {_kind(result)}; it returns {contract}")
    if len(result) != want:
        raise GradcheckError(
            f"{OPTION}: {label} returned {len(result)} value{'s' if len(result) != 1 else ''}; "
            f"it returns {contract}"
        )
    values = list(result)
    return (values[:-1], values[-1]) if cache else (values, None)


def array(
    value: Any,
    label: str,
    name: str,
    position: int,
    expected: tuple[int, ...],
    *,
    scalar: bool = False,
) -> NDArray[np.float64]:
    """A returned value as a float64 array: a real numpy array (or, for a scalar loss, a
    number); its shape is the caller's to judge. NaN and inf pass (they fail the check)."""
    where = f"{OPTION}: {label} returned {name} (position {position})"
    if scalar and isinstance(value, int | float | np.generic) and not isinstance(value, bool):
        value = np.asarray(value)
    if hasattr(value, "detach") and not isinstance(value, np.ndarray):
        raise GradcheckError(
            f"{where} as a tensor; expected a numpy array of shape {shape_text(expected)} "
            "(convert with .detach().numpy())"
        )
    if not isinstance(value, np.ndarray | np.generic):
        raise GradcheckError(
            f"{where} as {_kind(value)}; expected a numpy array of shape {shape_text(expected)}"
        )
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise GradcheckError(
            f"{where} with dtype {arr.dtype}; expected real numbers of shape {shape_text(expected)}"
        )
    return np.array(arr, dtype=np.float64)


def shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def wrong_shape(
    label: str, name: str, position: int, got: Sequence[int], expected: Sequence[int], of: str = ""
) -> GradcheckError:
    """The error for a returned array whose shape no classic bug explains."""
    whose = f", {of}" if of else ""
    return GradcheckError(
        f"{OPTION}: {label} returned {name} (position {position}) with shape "
        f"{shape_text(got)}, expected {shape_text(expected)}{whose}"
    )


def _kind(value: object) -> str:
    name = type(value).__name__
    if value is None:
        return "None"
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"{article} {name}"


__all__ = [
    "LayerCode",
    "array",
    "call",
    "check_signature",
    "from_callables",
    "load",
    "parse_impl",
    "unpack",
    "wrong_shape",
]
