"""What network is checked: layer sizes, activations, output activation, loss (with its
reduction, scale and L2 term) and dtype."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import (
    ACTIVATIONS,
    DEFAULT_ACTIVATION,
    DEFAULT_LOSS,
    DEFAULT_OUTPUT_ACTIVATION,
    LOSSES,
    OUTPUT_ACTIVATIONS,
    REDUCTIONS,
    Activation,
    Loss,
    OutputActivation,
)
from gradcheck.core.oracle_methods import METHODS

#: The seed's network: ``Linear(2, 10), Sigmoid, Linear(10, 10), Sigmoid, Linear(10, 1)``.
SEED_LAYERS: tuple[int, ...] = (2, 10, 10, 1)

DTYPES: tuple[str, ...] = ("float64", "float32")

#: Methods of the numerical oracle (``oracle_methods.py``): ``gradcheck run --oracle METHOD``.
ORACLE_METHODS: tuple[str, ...] = tuple(METHODS)


# A check keeps about a dozen float64-sized copies of every parameter and every activation
# (weights, gradients and δ on both sides, and the comparison's temporaries). Refuse a check
# whose estimate exceeds the budget up front, rather than be killed half-way.
COPIES_PER_ELEMENT = 12
# The --json document is written in blocks of output/documents.BLOCK_ELEMENTS numbers (a list
# of floats, ~32 bytes a number, and its text, ~24): one block is all it holds at a time,
# whatever the batch (tests/output/test_json_stream.py keeps the two constants in step).
OUTPUT_BYTES = 4 * 2**20
MEMORY_BUDGET = 8 * 2**30
#: ``NetSpec.brief``'s length: a title's network fits about one line of an 80-column table.
BRIEF_CHARS = 100
# No layer can be wider: one such layer alone exceeds the memory budget.
MAX_UNITS = MEMORY_BUDGET // 8


def short_int(n: int) -> str:
    """An integer for a message: in full when short, else its size in digits."""
    if abs(n) < 10**30:
        return str(n)
    return f"{'-' if n < 0 else ''}1e{int(abs(n).bit_length() * 0.30103)} or so"


@dataclass(frozen=True)
class NetSpec:
    """A fully connected network ``n0 → n1 → … → nL``: Linear, activation, …, Linear, output
    activation, and the loss ``loss_scale · reduce(loss(ŷ, y)) + Σ_p λ_p · Σp²``.

    The L2 term: ``l2`` is one λ for every weight matrix (biases excluded), the ``--l2 LAMBDA``
    form; ``l2_parameters`` gives λ per parameter instead (``--l2 W1=5e-4,b1=5e-4``: hand or
    torch names, biases allowed, every parameter not named 0), normalised to hand names.

    ``activation`` is one name for every hidden layer or a comma-separated name per hidden
    layer; ``activation_params`` optionally sets, per hidden layer, the parameter torch's module
    has (leaky_relu's slope, elu's alpha, softplus's beta). ``names`` are the torch names of
    ``W1, b1, W2, …`` when the network is the user's (``fc1.weight``); default ``dense.N.*``.
    """

    layers: tuple[int, ...] = SEED_LAYERS
    activation: str = DEFAULT_ACTIVATION
    loss: str = DEFAULT_LOSS
    dtype: str = "float64"
    output_activation: str = DEFAULT_OUTPUT_ACTIVATION
    reduction: str = "mean"
    loss_scale: float = 1.0
    l2: float = 0.0
    activation_params: tuple[float | None, ...] = ()
    names: tuple[str, ...] = ()
    l2_parameters: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if len(self.layers) < 2:
            raise GradcheckError(
                f"--layers: need at least two sizes (inputs and outputs), got {_sizes(self.layers)}"
            )
        too_big = [n for n in self.layers if n > MAX_UNITS]
        if too_big:  # before any arithmetic on the sizes (10**400 has no float)
            raise GradcheckError(
                f"--layers: size {short_int(too_big[0])} is too large (at most {MAX_UNITS:,})"
            )
        if any(n < 1 for n in self.layers):
            raise GradcheckError(f"--layers: every size must be ≥ 1, got {_sizes(self.layers)}")
        self._check_activations()
        if self.loss not in LOSSES:
            raise GradcheckError(f"--loss: unknown {self.loss!r}; choose from {', '.join(LOSSES)}")
        self._check_head()
        if self.dtype not in DTYPES:
            raise GradcheckError(
                f"--dtype: unknown {self.dtype!r}; choose from {', '.join(DTYPES)}"
            )
        if self.n_out < self.loss_record.min_outputs:
            raise GradcheckError(
                f"--loss {self.loss} needs at least {self.loss_record.min_outputs} output units "
                f"(its gradient is identically zero with 1); --layers ends in {self.n_out}"
            )
        self._check_l2()
        self.check_memory(1, "--layers")

    @property
    def n_in(self) -> int:
        return self.layers[0]

    @property
    def n_out(self) -> int:
        return self.layers[-1]

    @property
    def depth(self) -> int:
        """Number of weight layers (L)."""
        return len(self.layers) - 1

    @property
    def n_parameters(self) -> int:
        return sum((a + 1) * b for a, b in pairwise(self.layers))

    def _check_activations(self) -> None:
        split_list(self.activation, "--activation", "NAME or NAME1,NAME2,…")
        names = self.activation_names
        for name in names:
            if name not in ACTIVATIONS:
                raise GradcheckError(
                    f"--activation: unknown {name!r}; choose from {', '.join(ACTIVATIONS)}"
                )
        hidden = self.depth - 1
        if len(names) != 1 and len(names) != hidden:
            raise GradcheckError(
                f"--activation: {len(names)} names for {hidden} hidden layer"
                f"{'s' if hidden != 1 else ''} (--layers {_sizes(self.layers)}); give one name "
                "for all of them or one per hidden layer"
            )
        if self.activation_params and len(self.activation_params) != hidden:
            raise GradcheckError(
                f"--activation: {len(self.activation_params)} activation parameters for "
                f"{hidden} hidden layers"
            )
        if self.names and len(self.names) != 2 * self.depth:
            raise GradcheckError(
                f"--model: {len(self.names)} parameter names for {self.depth} layers"
            )

    def _check_head(self) -> None:
        if self.output_activation not in OUTPUT_ACTIVATIONS:
            raise GradcheckError(
                f"--output-activation: unknown {self.output_activation!r}; choose from "
                f"{', '.join(OUTPUT_ACTIVATIONS)}"
            )
        loss = self.loss_record
        if self.output_activation not in loss.fits:
            raise GradcheckError(
                f"--loss {self.loss} does not fit --output-activation {self.output_activation}: "
                f"{loss.fit_hint}"
            )
        if self.reduction not in REDUCTIONS:
            raise GradcheckError(
                f"--reduction: unknown {self.reduction!r}; choose from {', '.join(REDUCTIONS)}"
            )
        if not math.isfinite(self.loss_scale) or self.loss_scale == 0:
            raise GradcheckError(
                f"--loss-scale: must be a finite non-zero number, got {self.loss_scale:g}"
            )
        if not math.isfinite(self.l2) or self.l2 < 0:
            raise GradcheckError(f"--l2: must be a finite number ≥ 0, got {self.l2:g}")

    def _check_l2(self) -> None:
        """Per-parameter λ: known names (hand or torch), each once, finite and ≥ 0."""
        if not self.l2_parameters:
            return
        if self.l2:
            raise GradcheckError(
                "--l2: give one LAMBDA for every weight or NAME=LAMBDA pairs, not both"
            )
        params = self.parameters()
        hand = {p.name: p.name for p in params} | {p.torch_name: p.name for p in params}
        seen: dict[str, str] = {}
        normalised: dict[str, float] = {}
        for key, value in self.l2_parameters:
            name = hand.get(key)
            if name is None:
                raise GradcheckError(
                    f"--l2: unknown parameter {key!r}; this network has "
                    f"{', '.join(p.name for p in params)} (or their torch names "
                    f"{params[0].torch_name}, …)"
                )
            if name in seen:
                given = name if seen[name] == key else f"{seen[name]} and {key}"
                raise GradcheckError(f"--l2: {name} is given twice ({given})")
            seen[name] = key
            check_l2_value(value, key)
            normalised[name] = float(value)
        order = tuple((p.name, normalised[p.name]) for p in params if p.name in normalised)
        if order != self.l2_parameters:
            object.__setattr__(self, "l2_parameters", order)

    def l2_of(self, name: str) -> float:
        """λ of the L2 term on parameter ``name`` (a hand name: W1, b1, …); 0 when none."""
        if self.l2_parameters:
            return dict(self.l2_parameters).get(name, 0.0)
        return self.l2 if name.startswith("W") else 0.0

    @property
    def l2_terms(self) -> tuple[tuple[str, float], ...]:
        """(hand name, λ) of every parameter the L2 term reaches (λ > 0), in network order."""
        return tuple(
            (p.name, self.l2_of(p.name)) for p in self.parameters() if self.l2_of(p.name) > 0
        )

    @property
    def has_l2(self) -> bool:
        return bool(self.l2) or any(value > 0 for _, value in self.l2_parameters)

    @property
    def l2_text(self) -> str:
        """The L2 term as ``--l2`` takes it: ``0.01``, or ``W1=0.0005,b1=0.0005``; "0" if none."""
        if self.l2_parameters:
            return ",".join(f"{name}={number_text(value)}" for name, value in self.l2_parameters)
        return number_text(self.l2)

    @property
    def activation_names(self) -> tuple[str, ...]:
        """The names as given: one, or one per hidden layer."""
        return tuple(a.strip() for a in self.activation.split(","))

    @property
    def activations(self) -> tuple[Activation, ...]:
        """The activation record of every hidden layer 1 … L−1, parameters bound."""
        names = self.activation_names
        hidden = self.depth - 1
        per_layer = names * hidden if len(names) == 1 else names
        params = self.activation_params or (None,) * hidden
        return tuple(
            ACTIVATIONS[name].bind(value) for name, value in zip(per_layer, params, strict=True)
        )

    def activation_at(self, layer: int) -> Activation:
        """The activation of hidden layer ``layer`` (1-based)."""
        return self.activations[layer - 1]

    @property
    def uniform_activation(self) -> bool:
        """Whether every hidden layer has the same activation (with the same parameter)."""
        return len({a.label for a in self.activations}) <= 1

    @property
    def output_record(self) -> OutputActivation:
        return OUTPUT_ACTIVATIONS[self.output_activation]

    @property
    def loss_record(self) -> Loss:
        return LOSSES[self.loss]

    @property
    def analytic(self) -> bool:
        """Whether every function in the network is analytic (no kinks)."""
        return (
            all(a.analytic for a in self.activations)
            and self.output_record.analytic
            and self.loss_record.analytic
        )

    @property
    def linear_output(self) -> bool:
        """Whether the output layer is linear, as in the seed (ŷ = zL)."""
        return self.output_activation == DEFAULT_OUTPUT_ACTIVATION

    @property
    def seed_head(self) -> bool:
        """Whether the loss is torch's own default: linear output, mean, unscaled, no L2."""
        return (
            self.output_activation == DEFAULT_OUTPUT_ACTIVATION
            and self.reduction == "mean"
            and self.loss_scale == 1.0
            and not self.has_l2
        )

    @property
    def complex_twins(self) -> bool:
        """Whether every function has a complex-valid twin, so the complex step is valid away
        from the kinks (a switch to a linear branch at a threshold is a kink, but a twin that
        switches branch by the real part, as the real function does, stays valid)."""
        return (
            all(a.complex_f is not None for a in self.activations)
            and self.output_record.complex_f is not None
            and self.loss_record.complex_f is not None
        )

    def working_bytes(self, batch: int) -> int:
        """Estimated peak memory of one check on a batch of ``batch`` rows (with the
        ``--json`` document, which is written a block at a time: ``OUTPUT_BYTES``)."""
        elements = self.n_parameters + batch * sum(self.layers)
        return elements * COPIES_PER_ELEMENT * 8 + OUTPUT_BYTES

    def check_memory(self, batch: int, option: str) -> None:
        """Refuse, with the estimate, a check that would not fit in the memory budget."""
        need = self.working_bytes(batch)
        if need > MEMORY_BUDGET:
            rows = f" and {batch:,} rows" if batch > 1 else ""
            raise GradcheckError(
                f"{option}: --layers {_sizes(self.layers)} ({self.n_parameters:,} parameters)"
                f"{rows} would need about {need / 2**30:.1f} GiB; the limit is "
                f"{MEMORY_BUDGET / 2**30:.0f} GiB"
            )

    def parameters(self) -> list[ParamName]:
        """Every parameter in torch's order: W1, b1, W2, b2, …"""
        names: list[ParamName] = []
        for layer in range(1, self.depth + 1):
            n_in, n_out = self.layers[layer - 1], self.layers[layer]
            # Sequential index of the layer's Linear: Linear, activation, Linear, …
            index = 2 * (layer - 1)
            w_name, b_name = f"dense.{index}.weight", f"dense.{index}.bias"
            if self.names:
                w_name, b_name = self.names[2 * (layer - 1)], self.names[2 * layer - 1]
            names.append(ParamName(f"W{layer}", w_name, (n_out, n_in), layer))
            names.append(ParamName(f"b{layer}", b_name, (n_out,), layer))
        return names

    def describe(self) -> str:
        """Short human description, e.g. ``2→10→10→1 sigmoid, mse``."""
        labels = [a.label for a in self.activations]
        hidden = labels[0] if len(set(labels)) == 1 else ",".join(labels)
        text = "→".join(map(str, self.layers))
        if labels:  # none without a hidden layer (linear or logistic regression)
            text += f" {hidden}"
        if self.output_activation != DEFAULT_OUTPUT_ACTIVATION:
            text += f" → {self.output_activation}"
        loss = self.loss
        extras = []
        if self.reduction != "mean":
            extras.append(self.reduction)
        if self.loss_scale != 1.0:
            extras.append(f"×{self.loss_scale:g}")
        if self.has_l2:
            extras.append(f"l2 {self.l2_text}")
        if extras:
            loss += f" ({', '.join(extras)})"
        return f"{text}, {loss}"

    def brief(self, limit: int = BRIEF_CHARS) -> str:
        """``describe`` in at most ``limit`` characters, for titles: a deep network's sizes
        elided (``2→8→8→…→8→1 (301 layers)``), then the rest cut with "…"."""
        text = self.describe()
        if len(text) <= limit:
            return text
        sizes = list(map(str, self.layers))
        short = "→".join([*sizes[:3], "…", *sizes[-2:]]) + f" ({len(sizes) - 1} layers)"
        text = text.replace("→".join(sizes), short, 1)
        # Per-layer activations can still be long: cut, and say so.
        return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ParamName:
    """One parameter under both names: hand (``W1``) and torch (``dense.0.weight``)."""

    name: str
    torch_name: str
    shape: tuple[int, ...]
    layer: int


def split_list(text: str, option: str, example: str) -> list[str]:
    """The entries of a comma list; an empty entry (``2,,1``, ``2,3,1,``) is an error."""
    entries = [entry.strip() for entry in text.split(",")]
    if not text.strip():
        raise GradcheckError(f"{option}: empty; expected a list like {example}")
    empty = [i for i, entry in enumerate(entries, start=1) if not entry]
    if empty:
        raise GradcheckError(
            f"{option}: entry {empty[0]} of {text!r} is empty (a stray comma?); "
            f"expected a list like {example}"
        )
    return entries


def parse_layers(text: str) -> tuple[int, ...]:
    """Parse ``"2,10,10,1"`` (commas or spaces) into sizes, with a clear error."""
    if "," in text:
        split_list(text, "--layers", "2,10,10,1")
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        raise GradcheckError("--layers: empty; expected sizes like 2,10,10,1")
    sizes = []
    for part in parts:
        if len(part.lstrip("+-0")) > 15:  # before int(): 5000 digits is a ValueError there
            raise GradcheckError(
                f"--layers: {part[:12]!r}… ({len(part)} characters) is too large a size "
                f"(at most {MAX_UNITS:,})"
            )
        try:
            sizes.append(int(part))
        except ValueError:
            raise GradcheckError(
                f"--layers: {part!r} is not a whole number; expected sizes like 2,10,10,1"
            ) from None
    return tuple(sizes)


def number_text(value: float) -> str:
    """A float as an option takes it: short (``0.0005``) when that reads back exactly."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


L2_EXAMPLE = "W1=5e-4,b1=5e-4"


def check_l2_value(value: object, name: str | None = None) -> float:
    """One λ: a real number (not a bool), finite and ≥ 0; the error names the parameter."""
    where = f" ({name})" if name is not None else ""
    if not isinstance(value, numbers.Real) or type(value).__name__ in ("bool", "bool_"):
        raise GradcheckError(f"--l2{where}: expected a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise GradcheckError(f"--l2{where}: must be a finite number ≥ 0, got {number}")
    if number < 0:
        raise GradcheckError(f"--l2{where}: must be a finite number ≥ 0, got {number:g}")
    return number


def parse_l2(text: str) -> float | dict[str, float]:
    """``--l2``: one LAMBDA for every weight matrix, or ``NAME=LAMBDA,…`` per parameter."""
    text = text.strip()
    if "=" not in text:
        try:
            value = float(text)
        except ValueError:
            raise GradcheckError(
                f"--l2: {text!r} is not a number; expected LAMBDA (every weight matrix) or "
                f"NAME=LAMBDA pairs like {L2_EXAMPLE}"
            ) from None
        return check_l2_value(value)
    out: dict[str, float] = {}
    for entry in split_list(text, "--l2", L2_EXAMPLE):
        name, sep, number = (part.strip() for part in entry.partition("="))
        if not sep or not name or not number:
            raise GradcheckError(
                f"--l2: {entry!r} is not NAME=LAMBDA; expected pairs like {L2_EXAMPLE}"
            )
        if name in out:
            raise GradcheckError(f"--l2: {name} is given twice")
        try:
            value = float(number)
        except ValueError:
            raise GradcheckError(f"--l2 ({name}): {number!r} is not a number") from None
        out[name] = check_l2_value(value, name)
    return out


def l2_fields(value: Any) -> dict[str, Any]:
    """``NetSpec`` keywords for an L2 term given as a number, a mapping or ``--l2``'s text."""
    if isinstance(value, str):
        value = parse_l2(value)
    if isinstance(value, Mapping):
        pairs = []
        for key, number in value.items():
            if not isinstance(key, str):
                raise GradcheckError(
                    f"--l2: parameter names must be strings (W1, b1, …), got {key!r}"
                )
            pairs.append((key, check_l2_value(number, key)))
        return {"l2": 0.0, "l2_parameters": tuple(pairs)}
    return {"l2": check_l2_value(value), "l2_parameters": ()}


def l2_option(value: Any) -> str | None:
    """``--l2``'s text for an L2 term given as the API or the CLI takes it; None: no term."""
    fields = l2_fields(value)
    if fields["l2_parameters"]:
        return ",".join(f"{k}={number_text(v)}" for k, v in fields["l2_parameters"])
    return number_text(fields["l2"]) if fields["l2"] else None


def _sizes(layers: tuple[int, ...]) -> str:
    return ",".join(map(str, layers)) if layers else "(none)"
