"""Weights from a file, a torch ``state_dict`` (``.pt``) or an ``.npz``, loaded safely.

Files are other people's: ``.pt`` goes through torch's weights-only unpickler (plain tensors
and containers, nothing executable) and ``.npz`` through ``numpy.load(allow_pickle=False)``.
"""

from __future__ import annotations

import io
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import NetSpec
from gradcheck.io.files import InputFile, first_line, load_npz, read_input

Array = NDArray[np.float64]

_FLOAT_KINDS = ("float32", "float64")


def weights_limit(spec: NetSpec) -> int:
    """Bytes a weights file for ``spec`` may take: its float64 tensors twice, plus room for
    the container (pickle, zip headers); anything larger is not this network's weights."""
    return 2 * 8 * spec.n_parameters + 4096 * len(spec.parameters()) + 2**20


def load_weights(path: str, spec: NetSpec) -> dict[str, Array]:
    """Read, validate and return float64 weights keyed by hand name (``W1``, ``b1``, …).

    Keys may be torch's (``dense.0.weight``) or the hand names; every parameter of ``spec``
    must be present with its exact shape, in float32 or float64, finite. ``path`` may be ``-``
    or a pipe: the format is then told by the bytes.
    """
    limit = weights_limit(spec)
    file = read_input(
        path, "--weights", limit=limit, what=f"the weights of --layers {_layers(spec)}"
    )
    kind = _kind(file)
    if kind == "torch":
        raw = _load_torch(file, limit)
    elif kind == "npz":
        raw = _load_npz(file, limit)
    else:
        raise GradcheckError(
            f"--weights: {file}: unsupported file type {file.suffix or '(none)'!r}; expected "
            ".pt/.pth (torch.save(model.state_dict())) or .npz"
        )
    return _match(raw, spec, str(file))


def _kind(file: InputFile) -> str:
    if file.suffix in (".pt", ".pth"):
        return "torch"
    if file.suffix == ".npz":
        return "npz"
    if not file.stream:
        return ""
    if file.is_zip:  # torch's zip format holds a pickle …/data.pkl; an .npz only .npy files
        try:
            with zipfile.ZipFile(io.BytesIO(file.data)) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return "npz"  # let the .npz reader name the problem
        return "torch" if any(n.endswith("data.pkl") for n in names) else "npz"
    return "torch" if file.data[:1] == b"\x80" else ""


def _load_torch(file: InputFile, limit: int) -> dict[str, tuple[str, Any]]:
    import torch

    if file.is_zip:  # torch's records may be compressed: refuse a bomb before expanding it
        try:
            with zipfile.ZipFile(io.BytesIO(file.data)) as archive:
                declared = sum(m.file_size for m in archive.infolist())
        except (zipfile.BadZipFile, OSError, ValueError):
            declared = 0  # torch names the problem below
        if declared > limit:
            raise GradcheckError(
                f"--weights: {file}: expands to {declared:,} bytes, more than weights for this "
                f"network can be (at most {limit:,}); refused before decompressing"
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": not ours to show
            obj = torch.load(io.BytesIO(file.data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise GradcheckError(_unpickling_message(file, str(exc))) from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, ValueError… on bad bytes
        raise GradcheckError(
            f"--weights: {file}: not a readable torch file ({_safe_detail(first_line(exc))})"
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
        _check_layout(file, key, value)
        dtype = str(value.dtype).removeprefix("torch.")
        array = value.detach().cpu().numpy() if dtype in _FLOAT_KINDS else None
        out[str(key)] = (dtype, array if array is not None else tuple(value.shape))
    return out


def _check_layout(file: InputFile, key: object, value: Any) -> None:
    """Only plain dense tensors with data: no sparse, nested, meta, or lazy neg/conj views."""
    import torch

    problem = None
    if value.is_nested:
        problem = "a nested tensor"
    elif value.layout != torch.strided:
        problem = f"a {str(value.layout).removeprefix('torch.')} tensor"
    elif value.device.type != "cpu":
        problem = f"a tensor on device {value.device.type!r} (it has no data)"
    elif value.is_neg() or value.is_conj():
        problem = "a lazy negated/conjugated view"
    elif value.is_quantized:
        problem = "a quantized tensor"
    if problem is not None:
        raise GradcheckError(
            f"--weights: {file}: entry {key!r} is {problem}; expected a dense (strided) tensor"
        )


# torch's advice for files its safe loader refuses: never passed on.
_UNSAFE_ADVICE = ("weights_only", "can still be loaded", "trust the source", "arbitrary code")


def _safe_detail(detail: str) -> str:
    if any(phrase in detail for phrase in _UNSAFE_ADVICE):
        return "not a plain state_dict of tensors"
    return detail


def _unpickling_message(file: InputFile, text: str) -> str:
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
    detail = _safe_detail(detail)
    return f"--weights: {file}: not a readable torch file ({detail.rstrip('.')})"


def _load_npz(file: InputFile, limit: int) -> dict[str, tuple[str, Any]]:
    out: dict[str, tuple[str, Any]] = {}
    for key, array in load_npz(file, "--weights", limit=limit).items():
        dtype = str(array.dtype)
        out[key] = (dtype, array if dtype in _FLOAT_KINDS else tuple(array.shape))
    return out


def _layers(spec: NetSpec) -> str:
    return ",".join(map(str, spec.layers))


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
