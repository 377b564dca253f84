"""The torch reference of each layer kind: its forward in torch, one line per kind, and autograd.

The reference runs in the check's dtype on the same values both sides are handed; the gradients
are autograd's of Σ_outputs Σ(dout ⊙ out) (of the loss itself for a loss kind). Activation kinds
read their torch function from ``torch_side/functions.py``, as the MLP does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from gradcheck.core.layers.catalogue import CATALOGUE
from gradcheck.core.layers.elementwise import ACTIVATION_KINDS
from gradcheck.core.layers.kind import Case, LayerKind
from gradcheck.torch_side.functions import TORCH_ACTIVATIONS

T = dict[str, torch.Tensor]
TorchLayer = Callable[[T, Mapping[str, Any]], T]


def _affine(t: T, p: Mapping[str, Any]) -> T:
    return {"out": t["x"].reshape(t["x"].shape[0], -1) @ t["w"] + t["b"]}


def _conv(t: T, p: Mapping[str, Any]) -> T:
    return {"out": F.conv2d(t["x"], t["w"], t["b"], stride=p["stride"], padding=p["pad"])}


def _pool(fn: Callable[..., torch.Tensor]) -> TorchLayer:
    return lambda t, p: {"out": fn(t["x"], (p["pool_height"], p["pool_width"]), stride=p["stride"])}


def _batchnorm(t: T, p: Mapping[str, Any]) -> T:
    return {
        "out": F.batch_norm(t["x"], None, None, t["gamma"], t["beta"], training=True, eps=p["eps"])
    }


def _layernorm(t: T, p: Mapping[str, Any]) -> T:
    x = t["x"]
    return {"out": F.layer_norm(x, x.shape[1:], t["gamma"], t["beta"], eps=p["eps"])}


def _groupnorm(t: T, p: Mapping[str, Any]) -> T:
    gamma, beta = t["gamma"].reshape(-1), t["beta"].reshape(-1)
    return {"out": F.group_norm(t["x"], p["G"], gamma, beta, eps=p["eps"])}


def _dropout(t: T, p: Mapping[str, Any]) -> T:
    # the mask is the one the user's forward drew (read from its output): LayerKind.read
    if p["mode"] != "train":
        return {"out": t["x"] * 1}
    return {"out": t["x"] * t["mask"] / p["p"]}


def _softmax_loss(t: T, p: Mapping[str, Any]) -> T:
    return {"loss": F.cross_entropy(t["x"], t["y"])}


def _svm_loss(t: T, p: Mapping[str, Any]) -> T:
    x, y = t["x"], t["y"]
    margins = (x - x.gather(1, y[:, None]) + 1).clamp(min=0)
    margins = margins * (1 - F.one_hot(y, x.shape[1]).to(x.dtype))
    return {"loss": margins.sum() / x.shape[0]}


def _rnn_step(t: T, p: Mapping[str, Any]) -> T:
    return {"next_h": torch.tanh(t["x"] @ t["Wx"] + t["prev_h"] @ t["Wh"] + t["b"])}


def _lstm_step(t: T, p: Mapping[str, Any]) -> T:
    i, f, o, g = (t["x"] @ t["Wx"] + t["prev_h"] @ t["Wh"] + t["b"]).chunk(4, dim=1)
    next_c = torch.sigmoid(f) * t["prev_c"] + torch.sigmoid(i) * torch.tanh(g)
    return {"next_h": torch.sigmoid(o) * torch.tanh(next_c), "next_c": next_c}


def _word_embedding(t: T, p: Mapping[str, Any]) -> T:
    return {"out": F.embedding(t["x"], t["W"])}


def _temporal_affine(t: T, p: Mapping[str, Any]) -> T:
    return {"out": t["x"] @ t["w"] + t["b"]}


def _temporal_softmax_loss(t: T, p: Mapping[str, Any]) -> T:
    x, y, mask = t["x"], t["y"], t["mask"]
    n, steps, v = x.shape
    each = F.cross_entropy(x.reshape(n * steps, v), y.reshape(-1), reduction="none")
    return {"loss": (each * mask.reshape(-1)).sum() / n}


def _activation(kind: LayerKind) -> TorchLayer:
    act = kind.activation
    torch_act = TORCH_ACTIVATIONS[act.name]
    if act.parameter is None:
        return lambda t, p: {"out": torch_act.apply(t["x"], None, None)}
    return lambda t, p: {"out": torch_act.apply(t["x"], act.parameter, p[act.parameter])}


TORCH_LAYERS: dict[str, TorchLayer] = {
    "affine": _affine,
    **{k.name: _activation(k) for k in ACTIVATION_KINDS},
    "conv": _conv,
    "max_pool": _pool(F.max_pool2d),
    "avg_pool": _pool(F.avg_pool2d),
    "batchnorm": _batchnorm,
    "spatial_batchnorm": _batchnorm,
    "layernorm": _layernorm,
    "groupnorm": _groupnorm,
    "dropout": _dropout,
    "softmax_loss": _softmax_loss,
    "svm_loss": _svm_loss,
    "rnn_step": _rnn_step,
    "lstm_step": _lstm_step,
    "word_embedding": _word_embedding,
    "temporal_affine": _temporal_affine,
    "temporal_softmax_loss": _temporal_softmax_loss,
}

# Every kind of the catalogue has its torch reference (a missing one is a bug here).
assert TORCH_LAYERS.keys() == CATALOGUE.keys()


def reference(case: Case) -> tuple[dict[str, NDArray[Any]], dict[str, NDArray[Any]]]:
    """torch's outputs and autograd's gradients, by the course's names (``out``; ``dx``, …),
    in the case's dtype."""
    kind = case.kind
    dtype = getattr(torch, case.dtype)
    tensors: T = {}
    for name, values in case.arrays.items():
        arr = np.asarray(values)
        if arr.dtype.kind == "f":
            tensors[name] = torch.tensor(
                arr, dtype=dtype, requires_grad=_differentiated(kind, name)
            )
        elif arr.dtype.kind == "b":
            tensors[name] = torch.tensor(arr.astype(np.float64), dtype=dtype)
        else:
            tensors[name] = torch.tensor(arr, dtype=torch.int64)
    with torch.enable_grad():
        outs = TORCH_LAYERS[kind.name](tensors, case.params)
        if kind.loss:
            objective = outs["loss"]
        else:
            objective = sum(
                (out * torch.tensor(np.asarray(case.douts[f"d{name}"]), dtype=dtype)).sum()
                for name, out in outs.items()
            )
        leaves = [tensors[a.name] for a in kind.differentiated]
        grads = torch.autograd.grad(objective, leaves, allow_unused=True)
    found = {name: out.detach().numpy() for name, out in outs.items()}
    gradients = {
        f"d{a.name}": (g if g is not None else torch.zeros_like(leaf)).detach().numpy()
        for a, g, leaf in zip(kind.differentiated, grads, leaves, strict=True)
    }
    return found, gradients


def _differentiated(kind: LayerKind, name: str) -> bool:
    return any(a.name == name for a in kind.differentiated)
