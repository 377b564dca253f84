"""Precomputed gradients from a file (``--grads``), so a backward in any language can be checked.

``.npz`` (read with ``allow_pickle=False``) or ``.json`` (``{"W1": [[…], …], "b1": […], …}``),
keyed by hand names or torch's; the same keys, shapes and optional extras (``delta1 …``,
``prediction``, ``loss``) as a ``--impl`` function returns. NaN and ±inf are allowed (JSON's
``NaN``/``Infinity`` or the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` that
``gradcheck --json`` writes): they are a failed check, not bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from gradcheck.core.answer import Answer
from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import NetSpec
from gradcheck.io.files import load_npz, read_text, readable_file
from gradcheck.io.usercode import validate

OPTION = "--grads"
_NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def load_grads(path: str, spec: NetSpec, *, batch: int, layout: str = "out_in") -> Answer:
    """Read and validate a gradients file for ``spec`` and a batch of ``batch`` rows."""
    file = readable_file(path, OPTION)
    suffix = file.suffix.lower()
    if suffix == ".npz":
        raw = load_npz(file, OPTION)
    elif suffix == ".json":
        raw = _load_json(file)
    else:
        raise GradcheckError(
            f"{OPTION}: {path}: unsupported file type {suffix or '(none)'!r}; expected .npz or "
            ".json"
        )
    return validate(raw, spec, batch=batch, option=OPTION, what=path, layout=layout)


def _load_json(file: Path) -> dict[str, Any]:
    try:
        doc = json.loads(read_text(file, OPTION))
    except json.JSONDecodeError as exc:
        raise GradcheckError(f"{OPTION}: {file}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise GradcheckError(
            f"{OPTION}: {file}: holds a JSON {type(doc).__name__}, expected an object "
            '{"W1": [[…]], "b1": […], …}'
        )
    return {key: _json_array(key, value, file) for key, value in doc.items()}


def _json_array(key: str, value: Any, file: Path) -> Any:
    """Nested lists of numbers → a float64 array; anything else is returned for validation."""
    if isinstance(value, str) and value in _NONFINITE:
        return np.float64(_NONFINITE[value])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.float64(value)
    if not isinstance(value, list):
        return value  # validate() names the key and its type
    try:
        return np.array(_numbers(value), dtype=np.float64)
    except (ValueError, TypeError):
        raise GradcheckError(
            f"{OPTION}: {file}: {key} is not a rectangular array of numbers"
        ) from None


def _numbers(value: Any) -> Any:
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(value)
    return value
