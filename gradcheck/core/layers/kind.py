"""What a layer kind is: one record per kind, read by everything else.

A ``LayerKind`` says how a course writes the layer (its functions' names, arguments in order,
the hyperparameters' dict, what forward and backward return), its default shapes and its two
probes, its numerics in float64 (forward and backward, written once in ``core/layers/``'s
family modules and evaluated on plain or tracked arrays: ``tracked.py``), where its gradient
may take either of several values (kinks, ties), how the oracle may perturb many elements at
once, and its classic bugs with the value each produces. The CLI's choices and help, shapes
and parameters, the reference in ``torch_side/layers.py``, the bounds, the oracle, the
diagnosis, the docs' contract table and the samples all read these records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Values = Mapping[str, Any]  # arrays by argument (or output) name: plain or tracked


@dataclass(frozen=True)
class Argument:
    """One positional argument of the forward function that is an array.

    ``dims`` names each axis (``("N", "C", "H", "W")``); a name ending in ``*`` stands for
    any number of axes (affine's ``x`` is ``(N, d1, …, dk)``: ``("N", "D*")``), whose product
    is the dim without the star. What ``role`` says:

    - ``input``: real values, differentiated: backward returns its gradient;
    - ``labels``: integer class indices in ``[0, bound)``, not differentiated;
    - ``mask``: booleans (which positions count), not differentiated.
    """

    name: str
    dims: tuple[str, ...]
    role: str = "input"
    #: How seeded values are drawn: ``scale``·N(0, 1) + ``offset``.
    scale: float = 1.0
    offset: float = 0.0
    #: labels: the dim whose size bounds the class index (``C``, ``V``).
    bound: str | None = None

    @property
    def differentiated(self) -> bool:
        return self.role == "input"


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: in the course's dict (``conv_param["stride"]``), or a positional
    argument (groupnorm's ``G``) right after the arrays."""

    name: str
    type: type  # int, float or str
    default: Any
    help: str
    low: float | None = None  # smallest allowed value (inclusive)
    high: float | None = None  # largest allowed (inclusive)
    choices: tuple[str, ...] = ()
    positional: bool = False
    #: low is exclusive: eps > 0, p > 0
    strictly: bool = False


@dataclass(frozen=True)
class Setup:
    """A configuration of a kind: dims, hyperparameters and how values are drawn."""

    dims: Mapping[str, int | tuple[int, ...]]
    params: Mapping[str, Any] = field(default_factory=dict)
    #: ``""``: each argument's own distribution; ``ties``: small integers (exact ties, exact
    #: zeros, margins exactly 0); ``wide``: values ×20 (saturating, far apart).
    values: str = ""
    note: str = ""  # what the probe is for ("batch 1, stride 2 with padding, a 3×2 kernel")


@dataclass(frozen=True)
class Case:
    """One configuration with its drawn values: what both sides are handed."""

    kind: LayerKind
    dtype: str
    dims: Mapping[str, int | tuple[int, ...]]
    params: Mapping[str, Any]
    inputs: Mapping[str, NDArray[Any]]  # every argument in the check's dtype (ints as int64)
    douts: Mapping[str, NDArray[Any]]  # the upstream gradient of each output (none for a loss)
    #: What the reference reads from the user's own forward (dropout's mask): ``LayerKind.read``.
    extra: Mapping[str, NDArray[Any]] = field(default_factory=dict)
    values: str = ""

    def with_extra(self, extra: Mapping[str, NDArray[Any]]) -> Case:
        return Case(
            self.kind,
            self.dtype,
            self.dims,
            self.params,
            self.inputs,
            self.douts,
            extra,
            self.values,
        )

    @property
    def arrays(self) -> dict[str, NDArray[Any]]:
        """The inputs and what was read from the user's forward: the math's arguments."""
        return {**self.inputs, **self.extra}


#: (inputs, params) → (outputs by name, cache); a loss's output is its per-row terms.
Forward = Callable[[Values, Mapping[str, Any]], tuple[dict[str, Any], Any]]
#: (upstream gradients by output name, cache, params) → gradients by argument name.
Backward = Callable[[Values, Any, Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Bug:
    """A classic bug: what it is, and the value each quantity it touches then takes.

    ``values(case)`` returns, per quantity (an output or a gradient, by the course's name:
    ``out``, ``dx``, …), what a consistent implementation of the bug returns in float64; the
    diagnosis names the bug when a failing quantity equals it under the check's own rule.
    A quantity whose value has another shape (``dx`` not reshaped, the padding not cropped)
    is how the bug shows in a returned shape.
    """

    id: str
    says: str  # "dx is computed with the kernel flipped: a convolution, not the correlation"
    fix: str  # "conv's forward is a correlation, so dx correlates dout with w unflipped"
    values: Callable[[Case], dict[str, Array]]
    #: Where the bug shows only on some configurations (stride > 1, ties): for the docs.
    shows: str = ""


@dataclass(frozen=True)
class Structure:
    """How the oracle may perturb many elements of one argument at once (Curtis, Powell and
    Reid's column grouping): elements of one color never reach the same output element, so
    each output's change belongs to at most one of them.

    ``colors(shape, case)`` gives each element of the argument its color; ``gather(maps,
    case)`` sums an array shaped like each output (or each loss term) over the outputs each
    element reaches — the transpose of the layer's sparsity pattern, applied — and returns
    one value per element of the argument. ``None`` colors: every element its own color.
    """

    colors: Callable[[tuple[int, ...], Case], NDArray[np.intp]]
    gather: Callable[[Mapping[str, Array], Case], Array]


@dataclass(frozen=True)
class LayerKind:
    """One layer kind of the catalogue."""

    name: str
    title: str  # "2-D convolution (cross-correlation), naive loops welcome"
    family: str  # "dense", "activation", "spatial", "norm", "loss", "recurrent"
    forward_name: str  # the course's function name: "conv_forward_naive"
    backward_name: str | None  # None: a loss, one function returning (loss, dx)
    arguments: tuple[Argument, ...]
    outputs: tuple[str, ...]  # what forward returns before the cache: ("out",), ("next_h", …)
    hyper: tuple[Hyper, ...]
    #: The course's dict holding the hyperparameters (``conv_param``); None: none, or only
    #: positional ones.
    param_dict: str | None
    default: Setup
    probes: tuple[Setup, ...]
    forward: Forward
    backward: Backward
    #: (dims, params) → each output's shape, or a sentence saying why the configuration is
    #: impossible (``(H + 2·pad − HH) = 6 is not a multiple of stride 4``).
    output_shapes: Callable[
        [Mapping[str, Any], Mapping[str, Any]], dict[str, tuple[int, ...]] | str
    ]
    structure: Mapping[str, Structure]
    bugs: tuple[Bug, ...] = ()
    #: A loss: one function returns (loss, dx); its output is the sum of per-row terms.
    loss: bool = False
    #: Where a gradient may take more than one value: (case, reference gradients, candidate
    #: gradients) → per gradient name (``x``), (center, radius) of the set of valid values
    #: (max-pool ties, relu at 0, svm margins at 0), and optionally the rounding bound of the
    #: other choices; the candidate may choose among them.
    intervals: (
        Callable[
            [Case, Mapping[str, NDArray[Any]], Mapping[str, NDArray[Any]]],
            dict[str, tuple[Array, ...]],
        ]
        | None
    ) = None
    #: What the reference reads from the user's own forward outputs (dropout's mask), and a
    #: sentence if what it reads is implausible: (case, user outputs) → (extra, problem).
    read: (
        Callable[[Case, Mapping[str, Array]], tuple[dict[str, NDArray[Any]], str | None]] | None
    ) = None
    #: The activation record a kind is made from (its name, f, f′, kinks), if any.
    activation: Any = None

    @property
    def differentiated(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.arguments if a.differentiated)

    @property
    def gradient_names(self) -> tuple[str, ...]:
        """What backward returns, in order, as the course names them: ``dx, dw, db``."""
        return tuple(f"d{a.name}" for a in self.differentiated)

    @property
    def douts(self) -> tuple[str, ...]:
        """The upstream gradients backward takes before the cache: ``dout``, ``dnext_h`` …"""
        return () if self.loss else tuple(f"d{o}" for o in self.outputs)

    def hyper_named(self, name: str) -> Hyper | None:
        return next((h for h in self.hyper if h.name == name), None)

    @property
    def forward_signature(self) -> str:
        """``conv_forward_naive(x, w, b, conv_param)``."""
        names = [a.name for a in self.arguments]
        names += [h.name for h in self.hyper if h.positional]
        if self.param_dict is not None:
            names.append(self.param_dict)
        return f"{self.forward_name}({', '.join(names)})"

    @property
    def backward_signature(self) -> str:
        """``conv_backward_naive(dout, cache)``."""
        if self.backward_name is None:
            return ""
        return f"{self.backward_name}({', '.join((*self.douts, 'cache'))})"

    @property
    def returns(self) -> str:
        """What forward returns: ``(out, cache)``; a loss ``(loss, dx)``."""
        if self.loss:
            return f"({', '.join(('loss', *self.gradient_names))})"
        return f"({', '.join((*self.outputs, 'cache'))})"

    @property
    def backward_returns(self) -> str:
        names = self.gradient_names
        return names[0] if len(names) == 1 else f"({', '.join(names)})"
