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
from gradcheck.core.spec import COPIES_PER_ELEMENT, MEMORY_BUDGET, NetSpec
from gradcheck.io.files import InputFile, first_line, load_npz, read_input

Array = NDArray[np.float64]

_FLOAT_KINDS = ("float32", "float64")


Raw = dict[str, tuple[str, Any]]  # key → (dtype, float array, or the shape of anything else)

_HAND_KEY = re.compile(r"([Wb])([1-9][0-9]*)")

#: Bytes a weights file may take when the network is not yet known (its sizes are inferred
#: from the file): the float64 tensors of the largest network the memory budget admits, twice.
_ANY_NETWORK_LIMIT = 2 * MEMORY_BUDGET // COPIES_PER_ELEMENT + 2**20


def weights_limit(spec: NetSpec) -> int:
    """Bytes a weights file for ``spec`` may take: its float64 tensors twice, plus room for
    the container (pickle, zip headers); anything larger is not this network's weights."""
    return 2 * 8 * spec.n_parameters + 4096 * len(spec.parameters()) + 2**20


def load_weights(path: str, spec: NetSpec, layout: str = "out_in") -> dict[str, Array]:
    """Read, validate and return float64 weights keyed by hand name (``W1``, ``b1``, …).

    Keys may be the network's torch names (``dense.0.weight``, or a model's ``fc1.weight``) or
    the hand names (read in ``layout``: ``in_out`` means W is stored (in, out)); every
    parameter of ``spec`` must be present with its shape, in float32 or float64, finite.
    ``path`` may be ``-`` or a pipe: the format is then told by the bytes.
    """
    what = f"the weights of --layers {_layers(spec)}"
    return match(read_weights(path, weights_limit(spec), what), spec, path, layout)


def read_weights(path: str, limit: int = _ANY_NETWORK_LIMIT, what: str = "an MLP's weights") -> Raw:
    """The file's entries in their order, unvalidated; refused past ``limit`` bytes."""
    file = read_input(path, "--weights", limit=limit, what=what)
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
    return raw


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def infer_network(
    raw: Raw, path: str, layout: str = "out_in"
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Layer sizes from the shape chain of Linear weight/bias pairs in key order, and the keys
    as the parameters' torch names (``()`` when the file uses the hand names ``W1, b1, …``).

    A pair or a link that does not fit is exit 2 naming the two keys.
    """
    keys = list(raw)
    hand = bool(keys) and all(_HAND_KEY.fullmatch(k) for k in keys)
    if hand:
        keys.sort(key=lambda k: (int(k[1:]), k[0] == "b"))
    if not keys:
        raise GradcheckError(f"--weights: {path}: holds no tensors")
    sizes: list[int] = []
    previous = ""
    for i in range(0, len(keys), 2):
        key = keys[i]
        shape = _shape(raw[key][1])
        if len(shape) != 2:
            raise GradcheckError(
                f"--weights: {path}: {key} has shape {shape}; expected a Linear weight (2-D) "
                "here, each followed by its bias: not an MLP state_dict"
            )
        n_out, n_in = shape[::-1] if hand and layout == "in_out" else shape
        if i + 1 >= len(keys):
            raise GradcheckError(
                f"--weights: {path}: {key} is not followed by its bias (a 1-D tensor of {n_out})"
            )
        bias = keys[i + 1]
        b_shape = _shape(raw[bias][1])
        if len(b_shape) == 2 and b_shape != (n_out, 1):
            raise GradcheckError(
                f"--weights: {path}: {key} is not followed by its bias: the next entry, {bias}, "
                f"has shape {b_shape} (expected ({n_out},))"
            )
        if b_shape not in ((n_out,), (n_out, 1)):
            raise GradcheckError(
                f"--weights: {path}: {bias} has shape {b_shape} but {key} has {n_out} outputs; "
                f"expected the bias ({n_out},) after it"
            )
        if sizes and n_in != sizes[-1]:
            raise GradcheckError(
                f"--weights: {path}: {key} takes {n_in} inputs but {previous} gives "
                f"{sizes[-1]} outputs: the layers do not chain"
            )
        if not sizes:
            sizes.append(n_in)
        sizes.append(n_out)
        previous = key
    return tuple(sizes), (() if hand else tuple(keys))


def match(raw: Raw, spec: NetSpec, path: str, layout: str = "out_in") -> dict[str, Array]:
    """The parameters of ``spec`` from ``raw``, validated, float64, W as (out, in)."""
    return _match(raw, spec, path, layout)


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


def _match(raw: Raw, spec: NetSpec, path: str, layout: str) -> dict[str, Array]:
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
        want: tuple[int, ...] = p.shape
        flip = not use_torch and layout == "in_out" and len(p.shape) == 2
        if flip:
            want = p.shape[::-1]
        shape = tuple(value.shape)
        if len(p.shape) == 1 and shape == (*p.shape, 1):
            shape = p.shape  # a column-vector bias (n, 1)
        if shape != want:
            where = f" (--layout {layout})" if not use_torch else ""
            raise GradcheckError(
                f"--weights: {path}: {key} has shape {tuple(value.shape)}, expected {want} "
                f"for --layers {','.join(map(str, spec.layers))}{where}"
            )
        array: Array = np.array(value, dtype=np.float64).reshape(want)
        if flip:
            array = np.ascontiguousarray(array.T)
        if not np.all(np.isfinite(array)):
            raise GradcheckError(f"--weights: {path}: {key} contains NaN or infinite values")
        out[p.name] = array
    return out


def _order(params: list[Any], use_torch: bool) -> Any:
    rank = {(p.torch_name if use_torch else p.name): i for i, p in enumerate(params)}
    return lambda key: rank.get(key, len(rank))
