"""Precomputed gradients from a file (``--grads``), so a backward in any language can be checked.

``.npz`` (read with ``allow_pickle=False``) or ``.json`` (``{"W1": [[…], …], "b1": […], …}``),
keyed by hand names, torch's or a course's (``dW1``, ``dZ1``, ``dA1``); the same keys, shapes
and optional extras (``delta1 …``, ``dA0 …``, ``prediction``, ``loss``) as a ``--impl``
function returns, in the same orientation (``--layout``, ``--batch-axis``). NaN and ±inf are
allowed (JSON's ``NaN``/``Infinity`` or the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
that ``gradcheck --json`` writes): they are a failed check, not bad input.
"""

from __future__ import annotations

import json
import json.scanner
import math
import re
from typing import Any

import numpy as np

from gradcheck.core.answer import Answer
from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import NetSpec
from gradcheck.io.files import InputFile, decode_text, first_line, load_npz, read_input
from gradcheck.io.usercode import validate

OPTION = "--grads"
_NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def grads_elements(spec: NetSpec, batch: int) -> int:
    """Numbers a gradients file can hold: every gradient, δ, ∂L/∂a, the prediction and the
    loss."""
    per_example = sum(spec.layers[1:]) + sum(spec.layers) + spec.n_out
    return spec.n_parameters + batch * per_example + 1


# JSON spells a float64 in at most ~25 characters; allow separators and whitespace.
_JSON_BYTES_PER_NUMBER = 40
_MAX_DEPTH = 2  # a gradient is at most a matrix


def load_grads(
    path: str, spec: NetSpec, *, batch: int, layout: str = "out_in", batch_axis: str = "first"
) -> Answer:
    """Read and validate a gradients file for ``spec`` and a batch of ``batch`` rows.

    ``path`` may be ``-`` or a pipe (the format is then told by the bytes: a zip archive is
    an ``.npz``, anything else JSON). The file's size is bounded by what the gradients can
    take before it is read. An ``.npz`` holds float32 or float64 arrays (docs/security.md);
    a JSON value that is not a number is named with its file and line (``g.json:3:``).
    """
    elements = grads_elements(spec, batch)
    limit = elements * _JSON_BYTES_PER_NUMBER + 2**20
    file = read_input(path, OPTION, limit=limit, what=f"{elements:,} numbers of gradients")
    if file.suffix == ".npz" or (file.stream and file.is_zip):
        raw: dict[str, Any] = load_npz(file, OPTION, limit=16 * elements + 2**16)
        for key, value in raw.items():
            if value.dtype not in FLOAT_DTYPES:
                raise GradcheckError(
                    f"{OPTION}: {file}: {key} has dtype {value.dtype}; gradients are float32 "
                    "or float64 (save them as such: a narrower type loses the digits the check "
                    "compares)"
                )
    elif file.suffix == ".json" or file.stream:
        raw = _load_json(file)
    else:
        raise GradcheckError(
            f"{OPTION}: {path}: unsupported file type {file.suffix or '(none)'!r}; expected .npz "
            "or .json"
        )
    return validate(
        raw, spec, batch=batch, option=OPTION, what=str(file), layout=layout, batch_axis=batch_axis
    )


#: The dtypes a gradients file's arrays may have.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class _Overflow:
    """A JSON number too large for a float64 (``1e400``), kept as written."""

    def __init__(self, text: str) -> None:
        self.text = text


def _parse_float(text: str) -> float | _Overflow:
    value = float(text)
    return _Overflow(text) if math.isinf(value) else value


def _load_json(file: InputFile) -> dict[str, Any]:
    text = decode_text(file, OPTION)
    try:
        doc = json.loads(text, parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        raise GradcheckError(f"{OPTION}: {file}: not valid JSON ({exc})") from None
    except RecursionError:
        raise GradcheckError(f"{OPTION}: {file}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise GradcheckError(f"{OPTION}: {file}: not valid JSON ({first_line(exc)})") from None
    if not isinstance(doc, dict):
        raise GradcheckError(
            f"{OPTION}: {file}: holds a JSON {type(doc).__name__}, expected an object "
            '{"W1": [[…]], "b1": […], …}'
        )
    try:
        return {key: _json_array(key, value) for key, value in doc.items()}
    except _Bad as bad:
        line = _line_of(text, bad.path)
        place = f"{file}:{line}" if line is not None else str(file)
        raise GradcheckError(f"{OPTION}: {place}: {bad.message}") from None


class _Bad(Exception):
    """A value of the document that is not what a gradient holds, and where it is."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _json_array(key: str, value: Any) -> Any:
    """Nested lists of numbers → a float64 array; anything else is returned for validation."""
    if isinstance(value, str) and value in _NONFINITE:
        return np.float64(_NONFINITE[value])
    if isinstance(value, (int, float, _Overflow)) and not isinstance(value, bool):
        return np.float64(_number(value, (key,)))
    if not isinstance(value, list):
        return value  # validate() names the key and its type
    numbers = _numbers(value, (key,))
    try:
        return np.array(numbers, dtype=np.float64)
    except (ValueError, TypeError):
        raise _Bad(
            (key,), f"{key} is not a rectangular array of numbers (rows of different lengths)"
        ) from None


def _numbers(value: Any, path: tuple[str | int, ...]) -> Any:
    if isinstance(value, list):
        if len(path) > _MAX_DEPTH:
            raise _Bad(
                path[:1],
                f"{path[0]} is nested {len(path)} deep or more; a gradient is at most a matrix "
                "(lists of lists)",
            )
        return [_numbers(v, (*path, i)) for i, v in enumerate(value)]
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    if isinstance(value, bool) or not isinstance(value, (int, float, _Overflow)):
        shown = json.dumps(value) if not isinstance(value, (dict, list)) else type(value).__name__
        raise _Bad(path, f"{_name(path)}: {shown[:40]} is not a number")
    return _number(value, path)


def _number(value: int | float | _Overflow, path: tuple[str | int, ...]) -> float:
    if isinstance(value, _Overflow):
        raise _Bad(path, f"{_name(path)}: {value.text[:40]} is not a finite float64")
    try:
        return float(value)
    except OverflowError:
        raise _Bad(
            path,
            f"{_name(path)}: an integer too large for a float64 ({len(str(abs(value)))} digits)",
        ) from None


def _name(path: tuple[str | int, ...]) -> str:
    """``W1[0][2]``."""
    return str(path[0]) + "".join(f"[{i}]" for i in path[1:])


_SPACE = re.compile(r"[ \t\n\r]*")


def _line_of(text: str, path: tuple[str | int, ...]) -> int | None:
    """The line of the value at ``path`` in a JSON document (error paths only; the last of
    duplicate keys, as ``json.loads`` keeps); None if it cannot be told."""
    scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
    try:
        at = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
        for step in path:
            at = _member(text, at, step, scan)
    except (IndexError, StopIteration, ValueError, RecursionError, _NotFound):
        return None
    return text.count("\n", 0, at) + 1


class _NotFound(Exception):
    pass


def _member(text: str, at: int, step: str | int, scan: Any) -> int:
    """Where the value of key ``step`` (an object's) or item ``step`` (an array's) starts."""
    close = "}" if isinstance(step, str) else "]"
    if text[at] != ("{" if isinstance(step, str) else "["):
        raise _NotFound
    at = _skip(text, at + 1)
    found, index = None, 0
    while text[at] != close:
        if isinstance(step, str):
            key, at = scan(text, at)
            at = _skip(text, at)
            if text[at] != ":":
                raise _NotFound
            at = _skip(text, at + 1)
            found = at if key == step else found
        elif index == step:
            return at
        _, at = scan(text, at)
        at = _skip(text, at)
        if text[at] == ",":
            at = _skip(text, at + 1)
        index += 1
    if found is None:
        raise _NotFound
    return found


def _skip(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]
