"""What network is checked: layer sizes, hidden activation, loss and dtype."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import (
    ACTIVATIONS,
    DEFAULT_ACTIVATION,
    DEFAULT_LOSS,
    LOSSES,
    Activation,
    Loss,
)

#: The seed's network: ``Linear(2, 10), Sigmoid, Linear(10, 10), Sigmoid, Linear(10, 1)``.
SEED_LAYERS: tuple[int, ...] = (2, 10, 10, 1)

DTYPES: tuple[str, ...] = ("float64", "float32")

#: Methods of the numerical oracle (``numeric.py``): ``gradcheck run --oracle METHOD``.
ORACLE_METHODS: tuple[str, ...] = ("central", "richardson", "complex-step", "directional")


# A check keeps about a dozen float64-sized copies of every parameter and every activation
# (weights, gradients and δ on both sides, and the comparison's temporaries). Refuse a check
# whose estimate exceeds the budget up front, rather than be killed half-way.
COPIES_PER_ELEMENT = 12
MEMORY_BUDGET = 8 * 2**30
# No layer can be wider: one such layer alone exceeds the memory budget.
MAX_UNITS = MEMORY_BUDGET // 8


def short_int(n: int) -> str:
    """An integer for a message: in full when short, else its size in digits."""
    if abs(n) < 10**30:
        return str(n)
    return f"{'-' if n < 0 else ''}1e{int(abs(n).bit_length() * 0.30103)} or so"


@dataclass(frozen=True)
class NetSpec:
    """A fully connected network ``n0 → n1 → … → nL`` with a linear output layer."""

    layers: tuple[int, ...] = SEED_LAYERS
    activation: str = DEFAULT_ACTIVATION
    loss: str = DEFAULT_LOSS
    dtype: str = "float64"

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
        if self.activation not in ACTIVATIONS:
            raise GradcheckError(
                f"--activation: unknown {self.activation!r}; choose from {', '.join(ACTIVATIONS)}"
            )
        if self.loss not in LOSSES:
            raise GradcheckError(f"--loss: unknown {self.loss!r}; choose from {', '.join(LOSSES)}")
        if self.dtype not in DTYPES:
            raise GradcheckError(
                f"--dtype: unknown {self.dtype!r}; choose from {', '.join(DTYPES)}"
            )
        if self.n_out < self.loss_record.min_outputs:
            raise GradcheckError(
                f"--loss {self.loss} needs at least {self.loss_record.min_outputs} output units "
                f"(its gradient is identically zero with 1); --layers ends in {self.n_out}"
            )
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

    @property
    def activation_record(self) -> Activation:
        return ACTIVATIONS[self.activation]

    @property
    def loss_record(self) -> Loss:
        return LOSSES[self.loss]

    @property
    def analytic(self) -> bool:
        """Whether every function in the network is analytic (no kinks)."""
        return self.activation_record.analytic and self.loss_record.analytic

    def working_bytes(self, batch: int) -> int:
        """Estimated peak memory of one check on a batch of ``batch`` rows."""
        elements = self.n_parameters + batch * sum(self.layers)
        return elements * COPIES_PER_ELEMENT * 8

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
            names.append(ParamName(f"W{layer}", f"dense.{index}.weight", (n_out, n_in), layer))
            names.append(ParamName(f"b{layer}", f"dense.{index}.bias", (n_out,), layer))
        return names

    def describe(self) -> str:
        """Short human description, e.g. ``2→10→10→1 sigmoid, mse``."""
        return f"{'→'.join(map(str, self.layers))} {self.activation}, {self.loss}"


@dataclass(frozen=True)
class ParamName:
    """One parameter under both names: hand (``W1``) and torch (``dense.0.weight``)."""

    name: str
    torch_name: str
    shape: tuple[int, ...]
    layer: int


def parse_layers(text: str) -> tuple[int, ...]:
    """Parse ``"2,10,10,1"`` (commas or spaces) into sizes, with a clear error."""
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


def _sizes(layers: tuple[int, ...]) -> str:
    return ",".join(map(str, layers)) if layers else "(none)"
