"""The result of a check: what was run, every comparison, and the exit code it earns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradcheck.checks.diagnose import Finding
from gradcheck.checks.health import Notice
from gradcheck.checks.oracle import OracleCheck
from gradcheck.core.compare import Comparison
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import Tolerance, norm_tolerance


@dataclass(frozen=True)
class Settings:
    """Everything that determines a check's numbers; echoed in the JSON document."""

    spec: NetSpec
    x: NDArray[np.float64]  # (B, n_in), as given
    target: NDArray[np.generic]  # (B, n_out) floats, or (B,) class indices for cross_entropy
    tolerance: Tolerance
    seed: int | None = 0  # None when the weights came from a file
    weights: str | None = None
    data: str | None = None
    candidate: str = "replica"  # what the hand side is: the built-in replica, or the user's
    oracle: str | None = None  # numerical oracle method (numeric.py), if asked for
    layout: str = "out_in"  # how the user's code stores W: (out, in) or (in, out)
    model: str | None = None  # the user's model: "FILE.py:NAME" or "python:module.Class"

    @property
    def batch_size(self) -> int:
        return int(self.x.shape[0])

    @property
    def norm_tol(self) -> float:
        """ntol of the per-tensor norm rule (``tolerance.norm_tolerance``)."""
        return norm_tolerance(self.spec.dtype, self.tolerance.rtol)


@dataclass(frozen=True)
class Report:
    """Every comparison of one check, and the verdict."""

    settings: Settings
    forward: tuple[Comparison, ...]  # prediction, loss
    parameters: tuple[Comparison, ...]  # W1, b1, …, in torch's order
    deltas: tuple[Comparison, ...] = ()  # δ1 … δL, where the hand side provides them
    warnings: tuple[Notice, ...] = ()
    diagnosis: tuple[Finding, ...] = ()  # where the bug most likely is; empty when passed
    oracle: OracleCheck | None = None  # both sides vs the numerical oracle, if asked for

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        return self.forward + self.parameters + self.deltas

    @property
    def passed(self) -> bool:
        oracle_ok = self.oracle is None or self.oracle.passed
        return all(c.passed for c in self.comparisons) and oracle_ok

    @property
    def at_kink(self) -> tuple[tuple[str, int], ...]:
        """(name, elements accepted as at a kink) for every comparison with any."""
        return tuple((c.name, c.n_at_kink) for c in self.comparisons if c.n_at_kink)

    @property
    def failed(self) -> tuple[str, ...]:
        """Names of the comparisons out of tolerance, in report order."""
        oracle = self.oracle.failed if self.oracle is not None else ()
        return tuple(c.name for c in self.comparisons if not c.passed) + oracle

    @property
    def exit_code(self) -> int:
        """The process exit code this report earns.

        - 0: every forward value, gradient and δ is within tolerance;
        - 1: at least one is out of tolerance, or NaN/inf on either side, or (with an
          oracle) either side disagrees with the numerical oracle.

        Code 2 (bad usage or bad input) is never a report's: bad input raises
        ``GradcheckError`` before any number is compared. Code 3 is reserved for an internal
        error of gradcheck itself.
        """
        return 0 if self.passed else 1
