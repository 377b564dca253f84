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
    take before it is read.
    """
    elements = grads_elements(spec, batch)
    limit = elements * _JSON_BYTES_PER_NUMBER + 2**20
    file = read_input(path, OPTION, limit=limit, what=f"{elements:,} numbers of gradients")
    if file.suffix == ".npz" or (file.stream and file.is_zip):
        raw = load_npz(file, OPTION, limit=16 * elements + 2**16)
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


def _load_json(file: InputFile) -> dict[str, Any]:
    try:
        doc = json.loads(decode_text(file, OPTION))
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
    return {key: _json_array(key, value, file) for key, value in doc.items()}


def _json_array(key: str, value: Any, file: InputFile) -> Any:
    """Nested lists of numbers → a float64 array; anything else is returned for validation."""
    if isinstance(value, str) and value in _NONFINITE:
        return np.float64(_NONFINITE[value])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.float64(_number(value, key, file))
    if not isinstance(value, list):
        return value  # validate() names the key and its type
    try:
        return np.array(_numbers(value, key, file, 1), dtype=np.float64)
    except (ValueError, TypeError):
        raise GradcheckError(
            f"{OPTION}: {file}: {key} is not a rectangular array of numbers"
        ) from None


def _numbers(value: Any, key: str, file: InputFile, depth: int) -> Any:
    if isinstance(value, list):
        if depth > _MAX_DEPTH:
            raise GradcheckError(
                f"{OPTION}: {file}: {key} is nested {depth} deep or more; a gradient is at most "
                "a matrix (lists of lists)"
            )
        return [_numbers(v, key, file, depth + 1) for v in value]
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(value)
    return _number(value, key, file)


def _number(value: int | float, key: str, file: InputFile) -> float:
    try:
        return float(value)
    except OverflowError:
        raise GradcheckError(
            f"{OPTION}: {file}: {key} holds an integer too large for a float64 "
            f"({len(str(abs(value)))} digits)"
        ) from None
