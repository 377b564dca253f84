"""The Python API: ``gradcheck.check`` and the ``Report`` it returns.

The top of the layers, beside the command line: ``check`` runs what ``gradcheck run`` runs, and
its ``Report`` adds the presentations (``to_dict``/``to_json``) to the data record of
``checks/report.py``, which itself knows nothing of output formats.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Any

from gradcheck.checks import report as checks_report
from gradcheck.checks.pipeline import run_check
from gradcheck.checks.problem import Request, Rows
from gradcheck.core.functions import DEFAULT_LOSS
from gradcheck.output import documents

#: Columns of the table in a notebook (wide enough for the oracle's columns).
DISPLAY_WIDTH = 140
_HTML_FORMAT = (
    "<pre style=\"font-family: Menlo, 'DejaVu Sans Mono', Consolas, monospace; "
    'font-size: 12px; line-height: 1.3">{code}</pre>'
)


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

    def __repr__(self) -> str:
        """One line: the verdict, the network and what failed (the table is the display)."""
        n = len(self.comparisons)
        verdict = "PASSED" if self.passed else f"FAILED {len(self.failed)} of {n}"
        if self.failed_probes and not self.failed:
            verdict = f"FAILED {len(self.failed_probes)} of {len(self.probes)} probe batches"
        names = self.failed + tuple(p.name for p in self.failed_probes)
        failed = f": {', '.join(names[:6])}{', …' if len(names) > 6 else ''}"
        return (
            f"<gradcheck.Report {verdict} · {self.settings.spec.describe()} · "
            f"batch {self.settings.batch_size}{failed if not self.passed else ''}>"
        )

    def __rich__(self) -> Any:
        """The ``gradcheck run`` table, warnings, diagnosis and verdict (``rich.print(report)``)."""
        from gradcheck.output.table import render_report

        return render_report(self)

    def _repr_html_(self) -> str:
        """The same table as HTML, for Jupyter (inline styles, no external CSS)."""
        from rich.console import Console

        console = Console(record=True, width=DISPLAY_WIDTH, file=io.StringIO(), highlight=False)
        console.print(self.__rich__())
        return console.export_html(inline_styles=True, code_format=_HTML_FORMAT)


def check(
    x: Rows | None = None,
    target: Rows | None = None,
    *,
    data: str | None = None,
    model: object | None = None,
    layers: Sequence[int] | None = None,
    activation: str | Sequence[str] | None = None,
    output_activation: str | None = None,
    loss: str = DEFAULT_LOSS,
    reduction: str = "mean",
    loss_scale: float = 1.0,
    l2: float = 0.0,
    layout: str = "out_in",
    dtype: str = "float64",
    seed: int = 0,
    weights: str | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    backward: Callable[..., object] | None = None,
    impl: str | None = None,
    grads: str | Mapping[str, object] | None = None,
    oracle: str | None = None,
    probes: int = 2,
    oracle_sample: int | None = None,
    oracle_budget: float = 60.0,
) -> Report:
    """Check the hand-derived backward pass against torch autograd; the CLI's ``run``.

    Args mirror ``gradcheck run``'s options: ``x`` is one input row or a list of rows (lists,
    numpy arrays or torch tensors; or ``data`` names a CSV/.npz file), ``target`` one row per
    input row (default: 1.0 per output, class 0 for a loss over classes); weights come from
    torch's default init after ``torch.manual_seed(seed)`` unless ``weights`` names a
    ``.pt``/``.npz`` state_dict.

    The network: ``model`` is your own ``nn.Module`` instance (its current weights are copied,
    the instance is never modified) or ``"FILE.py:NAME"`` as ``--model``; otherwise ``layers``
    (default the seed's 2,10,10,1), ``activation`` (one name, or one per hidden layer as a
    list or ``"A,B"``), ``output_activation`` (identity, the default, or a probability or
    log-probability output). The loss is ``loss_scale · loss(ŷ, y)`` reduced by ``reduction``
    (mean or sum), plus ``l2 · ΣW²`` over the weight matrices. ``layout="in_out"`` hands your
    ``backward`` each W as (in, out) and reads its gradients (and ``grads``) that way.
    ``atol``/``rtol`` default per dtype (``core.tolerance.DEFAULT_TOLERANCES``). ``oracle``
    (a method named in ``core.oracle_methods.METHODS``, as ``--oracle``) adds the numerical
    oracle as a third opinion; ``oracle_sample`` checks that many elements per parameter (the
    largest and the worst always among them), and an oracle estimated to take more than
    ``oracle_budget`` seconds (0: no limit) is refused with ``GradcheckError`` before it
    starts.

    The hand side is the built-in replica unless one of these is given: ``backward``, a
    callable ``backward(params, x, y) -> {"W1": dW1, "b1": db1, …}`` (the contract is in
    ``gradcheck.io.usercode``), ``impl`` (``"FILE.py:FUNC"``, as ``--impl``) or ``grads``: a
    dict of the gradients you already computed (numpy arrays or tensors, keyed ``W1, b1, …``
    or by the model's own names ``fc1.weight, …``), or an ``.npz``/``.json`` file as
    ``--grads``. Then ``report.diagnosis`` says where a bug most likely is. A ``backward``
    (or ``impl``) is also checked on ``probes`` seeded probe batches of 2, 3, … rows drawn
    around ``x``/``target`` (``report.probes``; 0 turns them off), so that a batch-reduction
    bug cannot pass on a single row.

    Returns a ``Report`` (``.passed``, ``.exit_code``, per-parameter ``Comparison``s); in
    Jupyter it displays as the table ``gradcheck run`` prints.
    Raises ``GradcheckError`` on bad input; its message names the argument (``x: …``).
    """
    # Every keyword but the hand side's is the Request's field of the same name.
    options = dict(locals())
    hand = {name: options.pop(name) for name in ("backward", "impl", "grads")}
    return Report.of(run_check(Request(**options), **hand))
