"""Weights from a file, a torch ``state_dict`` (``.pt``) or an ``.npz``, loaded safely.

Files are other people's: ``.pt`` goes through torch's weights-only unpickler (plain tensors
and containers, nothing executable) and ``.npz`` through ``numpy.load(allow_pickle=False)``.
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import NetSpec
from gradcheck.io.files import first_line, load_npz, readable_file

Array = NDArray[np.float64]

_FLOAT_KINDS = ("float32", "float64")


def load_weights(path: str, spec: NetSpec) -> dict[str, Array]:
    """Read, validate and return float64 weights keyed by hand name (``W1``, ``b1``, …).

    Keys may be torch's (``dense.0.weight``) or the hand names; every parameter of ``spec``
    must be present with its exact shape, in float32 or float64, finite.
    """
    file = readable_file(path, "--weights")
    suffix = file.suffix.lower()
    if suffix in (".pt", ".pth"):
        raw = _load_torch(file)
    elif suffix == ".npz":
        raw = _load_npz(file)
    else:
        raise GradcheckError(
            f"--weights: {path}: unsupported file type {suffix or '(none)'!r}; expected .pt/.pth "
            "(torch.save(model.state_dict())) or .npz"
        )
    return _match(raw, spec, path)


def _load_torch(file: Path) -> dict[str, tuple[str, Any]]:
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": not ours to show
            obj = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise GradcheckError(_unpickling_message(file, str(exc))) from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, ValueError… on bad bytes
        raise GradcheckError(
            f"--weights: {file}: not a readable torch file ({first_line(exc)})"
        ) from None
    if not isinstance(obj, Mapping):
        raise GradcheckError(
            f"--weights: {file}: holds a {type(obj).__name__}, expected a state_dict "
            "(save it with torch.save(model.state_dict(), path))"
        )
    out: dict[str, tuple[str, Any]] = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise GradcheckError(
                f"--weights: {file}: entry {key!r} is a {type(value).__name__}, expected a tensor"
            )
        dtype = str(value.dtype).removeprefix("torch.")
        array = value.detach().cpu().numpy() if dtype in _FLOAT_KINDS else None
        out[str(key)] = (dtype, array if array is not None else tuple(value.shape))
    return out


def _unpickling_message(file: Path, text: str) -> str:
    """One line from torch's long weights-only error, without its advice to load unsafely."""
    found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\n|$)", text, re.S)
    detail = " ".join(found.group(1).split()) if found else first_line(Exception(text))
    if "Unsupported global" in detail:
        what = re.search(r"GLOBAL (\S+)", detail)
        name = what.group(1) if what else "a Python object"
        return (
            f"--weights: {file}: refused, not a plain state_dict: loading it would call {name} "
            "(only tensors are loaded, with torch's weights-only loader)"
        )
    return f"--weights: {file}: not a readable torch file ({detail.rstrip('.')})"


def _load_npz(file: Path) -> dict[str, tuple[str, Any]]:
    out: dict[str, tuple[str, Any]] = {}
    for key, array in load_npz(file, "--weights").items():
        dtype = str(array.dtype)
        out[key] = (dtype, array if dtype in _FLOAT_KINDS else tuple(array.shape))
    return out


def _match(raw: dict[str, tuple[str, Any]], spec: NetSpec, path: str) -> dict[str, Array]:
    params = spec.parameters()
    torch_keys = {p.torch_name for p in params}
    hand_keys = {p.name for p in params}
    keys = set(raw)
    # Accept either naming scheme, whichever the file overlaps more.
    use_torch = len(keys & torch_keys) >= len(keys & hand_keys)
    expected = torch_keys if use_torch else hand_keys
    missing = sorted(expected - keys, key=_order(params, use_torch))
    extra = sorted(keys - expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(extra)}")
        raise GradcheckError(
            f"--weights: {path}: {'; '.join(parts)} (for --layers "
            f"{','.join(map(str, spec.layers))})"
        )
    out: dict[str, Array] = {}
    for p in params:
        key = p.torch_name if use_torch else p.name
        dtype, value = raw[key]
        if dtype not in _FLOAT_KINDS:
            raise GradcheckError(
                f"--weights: {path}: {key} has dtype {dtype}; expected float32 or float64"
            )
        if tuple(value.shape) != p.shape:
            raise GradcheckError(
                f"--weights: {path}: {key} has shape {tuple(value.shape)}, expected {p.shape} "
                f"for --layers {','.join(map(str, spec.layers))}"
            )
        array = np.array(value, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise GradcheckError(f"--weights: {path}: {key} contains NaN or infinite values")
        out[p.name] = array
    return out


def _order(params: list[Any], use_torch: bool) -> Any:
    rank = {(p.torch_name if use_torch else p.name): i for i, p in enumerate(params)}
    return lambda key: rank.get(key, len(rank))
