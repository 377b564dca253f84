"""Shapes, hyperparameters and seeded values of a layer check.

Every axis of every argument has a named dim (``N``, ``C``, ``H`` …, ``D*`` for any number of
axes whose product is ``D``, ``4H`` for four times ``H``, ``1`` for a literal 1). ``--shape
x=4x3x32x32`` binds the dims of ``x``; every dim left unbound takes the kind's default; a dim
bound twice to different sizes, a rank that does not fit, or a configuration the layer cannot
have (a stride that does not divide) is a ``GradcheckError`` naming the option. ``--param
stride=2`` sets a hyperparameter, checked against its record. Values are drawn once per
configuration from ``numpy.random.default_rng([seed, index])`` in float64 and rounded to the
check's dtype, so both sides get the same numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.errors import GradcheckError
from gradcheck.core.layers.kind import Argument, Case, Hyper, LayerKind, Setup

Dims = dict[str, Any]  # dim name → size (an int; a tuple for a starred dim)

#: Elements any one array of a check may have (an array of float64s of 1 GiB).
MAX_ELEMENTS = 1 << 27
#: Spread of the values drawn for a ``ties`` probe: the integers −TIES … TIES.
TIES = 2
#: How much a ``wide`` probe scales its values.
WIDE = 20.0

_DIM = re.compile(r"^(?:(\d+)|(\d*)([A-Za-z_][A-Za-z_0-9]*)(\*?))$")


def _term(entry: str) -> tuple[int, str | None, bool]:
    """``"4H"`` → (4, "H", False); ``"D*"`` → (1, "D", True); ``"1"`` → (1, None, False)."""
    found = _DIM.match(entry)
    assert found, entry
    literal, factor, name, star = found.groups()
    if literal:
        return int(literal), None, False
    return int(factor or 1), name, bool(star)


def format_shape(shape: Sequence[int]) -> str:
    return "×".join(map(str, shape)) if len(shape) else "scalar"


def parse_shape_text(text: str, option: str = "--shape") -> tuple[str, tuple[int, ...]]:
    """``"x=4x3x32x32"`` → ``("x", (4, 3, 32, 32))``."""
    name, sep, sizes = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise GradcheckError(f"{option}: {text!r}: expected NAME=SIZES, e.g. x=4x3x32x32")
    if not name.isidentifier():
        raise GradcheckError(f"{option}: {text!r}: {name!r} is not an argument name")
    parts = re.split(r"[x×,]", sizes.strip())
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise GradcheckError(
            f"{option}: {text!r}: expected whole numbers separated by x, e.g. {name}=4x3x32x32"
        ) from None
    return name, check_sizes(name, shape, option)


def check_sizes(name: str, shape: Sequence[int], option: str = "--shape") -> tuple[int, ...]:
    """A shape of whole numbers ≥ 1 with at most ``MAX_ELEMENTS`` elements."""
    if not shape:
        raise GradcheckError(f"{option} {name}: give at least one size")
    if any(int(s) < 1 for s in shape):
        raise GradcheckError(f"{option} {name}: sizes must be ≥ 1, got {format_shape(shape)}")
    if math.prod(shape) > MAX_ELEMENTS:
        raise GradcheckError(
            f"{option} {name}: {format_shape(shape)} has {math.prod(shape):,} elements; at most "
            f"{MAX_ELEMENTS:,} per array"
        )
    return tuple(int(s) for s in shape)


def parse_param_text(text: str, option: str = "--param") -> tuple[str, str]:
    """``"stride=2"`` → ``("stride", "2")``."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name or not raw.strip():
        raise GradcheckError(f"{option}: {text!r}: expected NAME=VALUE, e.g. stride=2")
    return name, raw.strip()


def hyper_value(kind: LayerKind, h: Hyper, raw: object, option: str = "--param") -> Any:
    """A hyperparameter's value from text or a Python value, checked against its record."""
    where = f"{option} {h.name}"
    value: Any
    if h.type is str:
        if not isinstance(raw, str) or raw not in h.choices:
            raise GradcheckError(f"{where}: expected one of {', '.join(h.choices)}, got {raw!r}")
        return raw
    word = "a whole number" if h.type is int else "a number"
    try:
        if isinstance(raw, bool | np.bool_):
            raise ValueError
        if h.type is int:
            if isinstance(raw, str):
                value = int(raw.strip(), 10)
            elif isinstance(raw, int | np.integer):
                value = int(raw)
            else:
                raise ValueError  # 2.0 for a stride is refused, not truncated
        elif isinstance(raw, str | int | float | np.integer | np.floating):
            value = float(raw)
        else:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise GradcheckError(f"{where}: expected {word}, got {raw!r}") from None
    if h.type is float and not math.isfinite(value):
        raise GradcheckError(f"{where}: must be finite, got {raw!r}")
    if h.low is not None and (value < h.low or (h.strictly and value == h.low)):
        sign = ">" if h.strictly else "≥"
        raise GradcheckError(f"{where}: must be {sign} {h.low:g}, got {value!r}")
    if h.high is not None and value > h.high:
        raise GradcheckError(f"{where}: must be ≤ {h.high:g}, got {value!r}")
    return value


def resolve_params(
    kind: LayerKind, given: Mapping[str, object], option: str = "--param"
) -> dict[str, Any]:
    """Every hyperparameter: the defaults, with ``given`` (text or values) checked over them."""
    out = {h.name: h.default for h in kind.hyper}
    for name, raw in given.items():
        h = kind.hyper_named(name)
        if h is None:
            have = ", ".join(x.name for x in kind.hyper) or "none"
            raise GradcheckError(
                f"{option}: {kind.name} has no parameter {name!r} (its parameters: {have})"
            )
        out[name] = hyper_value(kind, h, raw, option)
    return out


def resolve_dims(
    kind: LayerKind, shapes: Mapping[str, Sequence[int]], option: str = "--shape"
) -> Dims:
    """The dims of a configuration: ``shapes`` (by argument name) bound over the defaults."""
    by_name = {a.name: a for a in kind.arguments}
    bound: Dims = {}
    source: dict[str, str] = {}
    for name, shape in shapes.items():
        arg = by_name.get(name)
        if arg is None:
            have = ", ".join(a.name for a in kind.arguments)
            raise GradcheckError(
                f"{option}: {kind.name} has no argument {name!r} (its arrays: {have})"
            )
        sizes = check_sizes(name, shape, option)
        for dim, size in _bind(arg, sizes, option).items():
            if dim in bound and bound[dim] != size:
                raise GradcheckError(
                    f"{option} {name}={format_shape(sizes)}: {_dim_text(dim)} would be "
                    f"{_size_text(size)}, but {source[dim]} makes it {_size_text(bound[dim])}"
                )
            bound[dim] = size
            source[dim] = f"{name}={format_shape(sizes)}"
    dims: Dims = dict(bound)
    # A starred dim and its product: bound either way, or both consistently.
    for star in [d for d in kind.default.dims if d.endswith("*")]:
        plain = star[:-1]
        if star in dims and plain in dims:
            if math.prod(dims[star]) != dims[plain]:
                raise GradcheckError(
                    f"{option}: {source[star]} makes {plain} = {math.prod(dims[star])}, but "
                    f"{source[plain]} makes it {dims[plain]}"
                )
        elif star in dims:
            dims[plain] = math.prod(dims[star])
        elif plain in dims:
            dims[star] = (dims[plain],)
    for dim, size in kind.default.dims.items():
        dims.setdefault(dim, size)
    for star in [d for d in dims if d.endswith("*")]:
        dims.setdefault(star[:-1], math.prod(dims[star]))
    return dims


def _bind(arg: Argument, sizes: tuple[int, ...], option: str) -> Dims:
    terms = [_term(e) for e in arg.dims]
    stars = [i for i, t in enumerate(terms) if t[2]]
    want = _dims_text(arg)
    if stars:
        fixed = len(terms) - 1
        if len(sizes) < len(terms):
            raise GradcheckError(
                f"{option} {arg.name}={format_shape(sizes)}: {arg.name} is {want}, at least "
                f"{len(terms)} axes"
            )
        k = stars[0]
        split: list[Any] = [
            *sizes[:k],
            tuple(sizes[k : len(sizes) - (fixed - k)]),
            *sizes[len(sizes) - (fixed - k) :],
        ]
    else:
        if len(sizes) != len(terms):
            raise GradcheckError(
                f"{option} {arg.name}={format_shape(sizes)}: {arg.name} is {want}: "
                f"{len(terms)} ax{'i' if len(terms) == 1 else 'e'}s"
            )
        split = list(sizes)
    out: Dims = {}
    for (factor, name, star), size in zip(terms, split, strict=True):
        if name is None:
            if size != factor:
                raise GradcheckError(
                    f"{option} {arg.name}={format_shape(sizes)}: {arg.name} is {want}"
                )
            continue
        if star:
            out[name + "*"] = size
            continue
        if size % factor:
            raise GradcheckError(
                f"{option} {arg.name}={format_shape(sizes)}: {arg.name} is {want}, so this axis "
                f"must be a multiple of {factor}, got {size}"
            )
        value = size // factor
        if name in out and out[name] != value:
            raise GradcheckError(
                f"{option} {arg.name}={format_shape(sizes)}: {arg.name} is {want}: two axes "
                f"named {name} must agree"
            )
        out[name] = value
    return out


def _dims_text(arg: Argument) -> str:
    return "(" + ", ".join(e.replace("*", "…") for e in arg.dims) + ")"


def _dim_text(dim: str) -> str:
    return f"{dim[:-1]}… (its trailing axes)" if dim.endswith("*") else dim


def _size_text(size: Any) -> str:
    return format_shape(size) if isinstance(size, tuple) else str(size)


def shape_of(arg: Argument, dims: Mapping[str, Any]) -> tuple[int, ...]:
    """The argument's shape under ``dims``."""
    out: list[int] = []
    for factor, name, star in (_term(e) for e in arg.dims):
        if name is None:
            out.append(factor)
        elif star:
            out.extend(dims[name + "*"])
        else:
            out.append(factor * int(dims[name]))
    return tuple(out)


def output_shapes(
    kind: LayerKind, dims: Mapping[str, Any], params: Mapping[str, Any]
) -> dict[str, tuple[int, ...]]:
    """Each output's shape, or a ``GradcheckError`` saying why this configuration cannot be."""
    found = kind.output_shapes(dims, params)
    if isinstance(found, str):
        raise GradcheckError(f"--shape/--param: {kind.name}: {found}")
    for name, shape in found.items():
        if shape:  # a loss is a scalar
            check_sizes(name, shape, "--shape/--param: the output")
    return found


def configuration(
    kind: LayerKind,
    shapes: Mapping[str, Sequence[int]] | None = None,
    params: Mapping[str, object] | None = None,
) -> tuple[Dims, dict[str, Any]]:
    """Dims and hyperparameters of the main configuration, validated."""
    dims = resolve_dims(kind, shapes or {})
    values = resolve_params(kind, params or {})
    for arg in kind.arguments:
        check_sizes(arg.name, shape_of(arg, dims), "--shape")
    output_shapes(kind, dims, values)
    return dims, values


def probe_configuration(
    kind: LayerKind, setup: Setup, params: Mapping[str, Any]
) -> tuple[Dims, dict[str, Any]]:
    """A probe's dims (its own) and hyperparameters (its own over the check's)."""
    dims = resolve_dims(_with_default(kind, setup), {})
    values = {**params, **setup.params}
    return dims, values


def _with_default(kind: LayerKind, setup: Setup) -> LayerKind:
    from dataclasses import replace

    return replace(kind, default=setup)


def draw(
    kind: LayerKind,
    dims: Mapping[str, Any],
    params: Mapping[str, Any],
    dtype: str,
    seed: int,
    values: str = "",
) -> Case:
    """The seeded values of one configuration: the arguments in order, then each dout."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    inputs: dict[str, NDArray[Any]] = {}
    for arg in kind.arguments:
        shape = shape_of(arg, dims)
        inputs[arg.name] = _values(rng, arg, shape, dims, values).astype(
            dt if arg.role == "input" else _INT_OR_BOOL[arg.role]
        )
    douts: dict[str, NDArray[Any]] = {}
    if not kind.loss:
        for name, shape in output_shapes(kind, dims, params).items():
            douts[f"d{name}"] = rng.standard_normal(shape).astype(dt)
    return Case(kind, dtype, dict(dims), dict(params), inputs, douts, values=values)


_INT_OR_BOOL = {"labels": np.int64, "mask": np.bool_}


def _values(
    rng: np.random.Generator,
    arg: Argument,
    shape: tuple[int, ...],
    dims: Mapping[str, Any],
    style: str,
) -> NDArray[Any]:
    if arg.role == "labels":
        bound = int(dims[arg.bound or ""])
        return rng.integers(0, bound, size=shape)
    if arg.role == "mask":
        mask = rng.random(shape) < 0.7
        return mask
    if style == "ties":
        return rng.integers(-TIES, TIES + 1, size=shape).astype(np.float64)
    drawn = arg.offset + arg.scale * rng.standard_normal(shape)
    return drawn * WIDE if style == "wide" else drawn


def custom_case(
    shapes: Mapping[str, tuple[int, ...]], dtype: str, seed: int
) -> dict[str, NDArray[Any]]:
    """A custom layer's inputs: N(0, 1) in the order of ``shapes``."""
    rng = np.random.default_rng([seed, 0])
    dt = np.dtype(dtype)
    return {name: rng.standard_normal(shape).astype(dt) for name, shape in shapes.items()}


def shapes_text(case: Case) -> str:
    """``x 4×3×5×5, w 2×3×3×3``: the arrays of a configuration."""
    return ", ".join(f"{k} {format_shape(np.shape(v))}" for k, v in case.inputs.items())


def params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


__all__ = [
    "configuration",
    "draw",
    "format_shape",
    "output_shapes",
    "parse_param_text",
    "parse_shape_text",
    "probe_configuration",
    "resolve_dims",
    "resolve_params",
    "shape_of",
]
