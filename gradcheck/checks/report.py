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
    oracle_sample: int | None = None  # elements per parameter the oracle checks; None: all
    oracle_budget: float = 0.0  # seconds the oracle may take; 0: no limit
    layout: str = "out_in"  # how the user's code stores W: (out, in) or (in, out)
    batch_axis: str = "first"  # how the user's code holds a batch: examples as rows or columns
    model: str | None = None  # the user's model: "FILE.py:NAME" or "python:module.Class"
    probes: int = 0  # probe batches checked beside the given one (user code only)

    @property
    def batch_size(self) -> int:
        return int(self.x.shape[0])

    @property
    def norm_tol(self) -> float:
        """ntol of the per-tensor norm rule (``tolerance.norm_tolerance``)."""
        return norm_tolerance(self.spec.dtype, self.tolerance.rtol)


@dataclass(frozen=True)
class Probe:
    """One probe batch (``checks/probes.py``): its rows and the full check on them."""

    index: int  # 1, 2, …; the batch has index + 1 rows
    x: NDArray[np.float64]  # (size, n_in), exactly representable in the dtype
    target: NDArray[np.generic]  # as Settings.target
    report: Report | None  # the check on this batch; None when the user code failed on it
    command: str  # the ``gradcheck run`` command that checks this batch on its own
    error: str | None = None  # why the user code gave no answer on this batch

    @property
    def name(self) -> str:
        return f"probe{self.index}"

    @property
    def size(self) -> int:
        return int(self.x.shape[0])

    @property
    def passed(self) -> bool:
        return self.report is not None and self.report.passed

    @property
    def worst(self) -> Comparison | None:
        """The comparison furthest out of (or closest to) its tolerance: a failing one first,
        then by the elementwise error ratio, then by the norm rule's ratio."""
        if self.report is None or not self.report.comparisons:
            return None

        def key(c: Comparison) -> tuple[bool, float, float]:
            ratio = c.error_ratio if np.isfinite(c.error_ratio) else np.inf
            norm = c.norm_ratio if c.norm_tol is not None and np.isfinite(c.norm_ratio) else 0.0
            return (not c.passed, ratio, norm)

        return max(self.report.comparisons, key=key)


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
    probes: tuple[Probe, ...] = ()  # user code on seeded probe batches (checks/probes.py)
    probe_note: str | None = None  # why no probe batches were checked, where that needs saying

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        return self.forward + self.parameters + self.deltas

    @property
    def passed(self) -> bool:
        oracle_ok = self.oracle is None or self.oracle.passed
        probes_ok = all(p.passed for p in self.probes)
        return all(c.passed for c in self.comparisons) and oracle_ok and probes_ok

    @property
    def failed_probes(self) -> tuple[Probe, ...]:
        return tuple(p for p in self.probes if not p.passed)

    @property
    def at_kink(self) -> tuple[tuple[str, int], ...]:
        """(name, elements that pass only inside their interval: a kink, a saturated output)
        for every comparison with any."""
        return tuple((c.name, c.n_at_kink) for c in self.comparisons if c.n_at_kink)

    @property
    def unjudged(self) -> tuple[tuple[str, int], ...]:
        """(name, elements not judged: no finite bound) for every comparison with any."""
        return tuple((c.name, c.n_unjudged) for c in self.comparisons if c.n_unjudged)

    @property
    def failed(self) -> tuple[str, ...]:
        """Names of the comparisons out of tolerance, in report order (a failing probe batch
        is in ``failed_probes``: its own ``report.failed`` names what failed there)."""
        oracle = self.oracle.failed if self.oracle is not None else ()
        return tuple(c.name for c in self.comparisons if not c.passed) + oracle

    @property
    def exit_code(self) -> int:
        """The process exit code this report earns.

        - 0: every forward value, gradient and δ is within tolerance;
        - 1: at least one is out of tolerance, or NaN/inf on either side, or (with an
          oracle) either side disagrees with the numerical oracle, or (user code) a probe
          batch fails.

        Code 2 (bad usage or bad input) is never a report's: bad input raises
        ``GradcheckError`` before any number is compared. Code 3 is reserved for an internal
        error of gradcheck itself.
        """
        return 0 if self.passed else 1
