"""The Python API: ``gradcheck.check`` and the ``Report`` it returns.

The top of the layers, beside the command line: ``check`` runs what ``gradcheck run`` runs, and
its ``Report`` adds the presentations (``to_dict``/``to_json``) to the data record of
``checks/report.py``, which itself knows nothing of output formats.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from gradcheck.checks import report as checks_report
from gradcheck.checks.pipeline import run_check
from gradcheck.checks.problem import Request, Rows
from gradcheck.core.functions import DEFAULT_ACTIVATION, DEFAULT_LOSS
from gradcheck.core.spec import SEED_LAYERS
from gradcheck.output import documents


class Report(checks_report.Report):
    """Every comparison of one check and the verdict: ``passed``, ``exit_code``, ``failed``,
    ``parameters``/``forward``/``deltas`` (``Comparison`` records), ``warnings``,
    ``diagnosis`` and ``oracle``."""

    @classmethod
    def of(cls, report: checks_report.Report) -> Report:
        return cls(**{f.name: getattr(report, f.name) for f in fields(report)})

    def to_dict(self, *, arrays: bool = True) -> dict[str, Any]:
        """The ``run --json`` document as a dict (see ``gradcheck schema``)."""
        return documents.to_dict(self, arrays=arrays)

    def to_json(self, *, arrays: bool = True) -> str:
        """The ``run --json`` document, exactly as the command line prints it."""
        return documents.to_json(self, arrays=arrays)


def check(
    x: Rows | None = None,
    target: Rows | None = None,
    *,
    data: str | None = None,
    layers: Sequence[int] = SEED_LAYERS,
    activation: str = DEFAULT_ACTIVATION,
    loss: str = DEFAULT_LOSS,
    dtype: str = "float64",
    seed: int = 0,
    weights: str | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    backward: Callable[..., object] | None = None,
    impl: str | None = None,
    grads: str | None = None,
    oracle: str | None = None,
) -> Report:
    """Check the hand-derived backward pass against torch autograd; the CLI's ``run``.

    Args mirror ``gradcheck run``'s options: ``x`` is one input row or a list of rows (or
    ``data`` names a CSV/.npz file), ``target`` one row per input row (default: 1.0 per output,
    class 0 for cross_entropy); weights come from torch's default init after
    ``torch.manual_seed(seed)`` unless ``weights`` names a ``.pt``/``.npz`` state_dict.
    ``atol``/``rtol`` default per dtype (``core.tolerance.DEFAULT_TOLERANCES``). ``oracle``
    (central, richardson, complex-step or directional) adds the numerical oracle as a third
    opinion.

    The hand side is the built-in replica unless one of these is given: ``backward``, a
    callable ``backward(params, x, y) -> {"W1": dW1, "b1": db1, …}`` (the contract is in
    ``gradcheck.io.usercode``), ``impl`` (``"FILE.py:FUNC"``, as ``--impl``) or ``grads`` (an
    ``.npz``/``.json`` of precomputed gradients, as ``--grads``). Then ``report.diagnosis``
    says where a bug most likely is.

    Returns a ``Report`` (``.passed``, ``.exit_code``, per-parameter ``Comparison``s).
    Raises ``GradcheckError`` on bad input; its message names the argument (``x: …``).
    """
    # Every keyword but the hand side's is the Request's field of the same name.
    options = dict(locals())
    hand = {name: options.pop(name) for name in ("backward", "impl", "grads")}
    return Report.of(run_check(Request(**options), **hand))
