"""The result of a layer check: what was run, every comparison, and the exit code it earns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gradcheck.checks.diagnose import Finding
from gradcheck.checks.health import Notice
from gradcheck.checks.oracle import OracleCheck
from gradcheck.core.compare import Comparison
from gradcheck.core.tolerance import Tolerance, norm_tolerance


@dataclass(frozen=True)
class LayerSettings:
    """Everything that determines a layer check's numbers; echoed in the JSON document."""

    kind: str  # a catalogue kind, or "custom"
    title: str
    dtype: str
    seed: int
    tolerance: Tolerance
    candidate: str  # "impl:FILE.py:F,B" or "python:module.f,module.g"
    shapes: Mapping[str, tuple[int, ...]]  # every array handed to the forward
    params: Mapping[str, Any]  # the hyperparameters, by name
    param_dict: str | None  # the course's dict that holds them ("conv_param")
    calls: tuple[
        str, ...
    ]  # how the functions are called: "conv_forward_naive(x, w, b, conv_param)"
    values: str = ""  # how the values were drawn: "" (normal), "ties", "wide"
    oracle: str | None = None
    probes: int = 0

    @property
    def custom(self) -> bool:
        return self.kind == "custom"

    @property
    def norm_tol(self) -> float:
        return norm_tolerance(self.dtype, self.tolerance.rtol)


@dataclass(frozen=True)
class LayerResult:
    """The comparisons of one configuration (the given one, or a probe)."""

    outputs: tuple[Comparison, ...]  # the forward's outputs against torch's
    gradients: tuple[Comparison, ...]  # each returned gradient against autograd (or the oracle)
    #: Quantities that fail beyond their numbers: a returned shape a classic bug explains, a
    #: dropout mask that cannot be one. Each fails its row.
    problems: Mapping[str, str] = field(default_factory=dict)
    diagnosis: tuple[Finding, ...] = ()

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        return self.outputs + self.gradients

    @property
    def failed(self) -> tuple[str, ...]:
        """Names of what fails, in order (a problem without a comparison included)."""
        names = [c.name for c in self.comparisons if not c.passed or c.name in self.problems]
        names += [n for n in self.problems if n not in names]
        return tuple(names)

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def at_kink(self) -> tuple[tuple[str, int], ...]:
        return tuple((c.name, c.n_at_kink) for c in self.comparisons if c.n_at_kink)

    @property
    def unjudged(self) -> tuple[tuple[str, int], ...]:
        return tuple((c.name, c.n_unjudged) for c in self.comparisons if c.n_unjudged)


@dataclass(frozen=True)
class LayerProbe:
    """One probe configuration of the kind's record, fully checked."""

    index: int  # 1, 2
    note: str  # what it is for: "batch 1, stride 2 with padding, a 3×2 kernel"
    shapes: Mapping[str, tuple[int, ...]]
    params: Mapping[str, Any]
    values: str
    seed: int  # the seed its values were drawn with (the command reuses it)
    result: LayerResult | None  # None: the user's code gave no answer on it
    command: str  # the ``gradcheck layer`` command that checks it on its own
    error: str | None = None

    @property
    def name(self) -> str:
        return f"probe{self.index}"

    @property
    def passed(self) -> bool:
        return self.result is not None and self.result.passed


@dataclass(frozen=True)
class LayerReport:
    """A layer check: the given configuration, the probes, the oracle, and the verdict."""

    settings: LayerSettings
    result: LayerResult
    warnings: tuple[Notice, ...] = ()
    oracle: OracleCheck | None = None
    probes: tuple[LayerProbe, ...] = ()
    #: How many times each of the user's functions was called (probes and oracle included).
    calls: Mapping[str, int] = field(default_factory=dict)
    #: The forward passes the oracle made (the reference's, or the user's for a custom layer).
    oracle_evaluations: int = 0

    @property
    def outputs(self) -> tuple[Comparison, ...]:
        return self.result.outputs

    @property
    def gradients(self) -> tuple[Comparison, ...]:
        return self.result.gradients

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        return self.result.comparisons

    @property
    def problems(self) -> Mapping[str, str]:
        return self.result.problems

    @property
    def diagnosis(self) -> tuple[Finding, ...]:
        return self.result.diagnosis

    @property
    def failed_probes(self) -> tuple[LayerProbe, ...]:
        return tuple(p for p in self.probes if not p.passed)

    @property
    def failed(self) -> tuple[str, ...]:
        """What fails on the given configuration (and against the oracle)."""
        oracle = self.oracle.failed if self.oracle is not None else ()
        return self.result.failed + oracle

    @property
    def passed(self) -> bool:
        oracle_ok = self.oracle is None or self.oracle.passed
        return self.result.passed and oracle_ok and all(p.passed for p in self.probes)

    @property
    def at_kink(self) -> tuple[tuple[str, int], ...]:
        return self.result.at_kink

    @property
    def unjudged(self) -> tuple[tuple[str, int], ...]:
        return self.result.unjudged

    @property
    def exit_code(self) -> int:
        """0: every output and gradient within tolerance, on the given configuration and the
        probes (and against the oracle, if asked); 1: anything out of tolerance, NaN/inf, a
        returned shape that fails, a probe that fails. Bad input never makes a report (exit 2)."""
        return 0 if self.passed else 1
