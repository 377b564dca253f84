"""The Python API: ``gradcheck.check`` and the ``Report`` it returns.

The top of the layers, beside the command line: ``check`` runs what ``gradcheck run`` runs, and
its ``Report`` adds the presentations (``to_dict``/``to_json``) to the data record of
``checks/report.py``, which itself knows nothing of output formats.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from typing import Any

import numpy as np

from gradcheck.checks import arguments, layer_report
from gradcheck.checks import report as checks_report
from gradcheck.checks.health import Notice
from gradcheck.checks.pipeline import run_check
from gradcheck.checks.problem import Request, Rows
from gradcheck.core.functions import DEFAULT_LOSS
from gradcheck.core.tolerance import DEFAULT_TOLERANCES
from gradcheck.io import guest
from gradcheck.output import documents

#: Columns of the table in a notebook (wide enough for the oracle's columns).
DISPLAY_WIDTH = 140
_HTML_FORMAT = (
    "<pre style=\"font-family: Menlo, 'DejaVu Sans Mono', Consolas, monospace; "
    'font-size: 12px; line-height: 1.3">{code}</pre>'
)


def _html(renderable: Any) -> str:
    """``renderable`` as HTML for Jupyter: inline styles, no external CSS."""
    from rich.console import Console

    # force_jupyter=False: in a kernel rich would also emit the table as its own display
    # output, and the notebook would show it twice.
    console = Console(
        record=True, width=DISPLAY_WIDTH, file=io.StringIO(), highlight=False, force_jupyter=False
    )
    console.print(renderable)
    return console.export_html(inline_styles=True, code_format=_HTML_FORMAT)


class Report(checks_report.Report):
    """Every comparison of one check and the verdict: ``passed``, ``exit_code``, ``failed``,
    ``parameters``/``forward``/``deltas`` (``Comparison`` records), ``warnings``,
    ``diagnosis`` and ``oracle``."""

    @classmethod
    def of(cls, report: checks_report.Report) -> Report:
        return cls(**{f.name: getattr(report, f.name) for f in fields(report)})

    def to_dict(self, *, arrays: bool = True) -> dict[str, Any]:
        """The ``run --json`` document as a dict (see ``gradcheck schema``)."""
        return documents.to_dict(self, arrays=arguments.flag(arrays, "--arrays"))

    def to_json(self, *, arrays: bool = True) -> str:
        """The ``run --json`` document, exactly as the command line prints it."""
        return documents.to_json(self, arrays=arguments.flag(arrays, "--arrays"))

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
        return _html(self.__rich__())


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
    l2: float | Mapping[str, float] = 0.0,
    layout: str = "out_in",
    batch_axis: str = "first",
    dtype: str | None = None,
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
    (mean or sum), plus an L2 term: ``l2=λ`` adds λ·ΣW² over the weight matrices,
    ``l2={"W1": 5e-4, "b1": 5e-4}`` λ·Σp² per parameter (biases allowed, hand or torch names,
    the others none). ``layout="in_out"`` hands your ``backward`` each W as (in, out) and
    reads its gradients (and ``grads``) that way; ``batch_axis="last"`` means examples are
    columns: ``x`` (n_in, batch) and ``target`` (n_out, batch) as handed in, your ``backward``
    gets them so with each bias as (n, 1), and δ, ∂L/∂a and the prediction are read back so.
    ``dtype`` (float64 or float32) defaults to the gradients handed in as ``grads``: float32
    when all of them are float32 (a notice says so), float64 otherwise.
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
    # Every keyword is checked by one rule (checks/arguments.py), the command line's too; all
    # but the hand side's are the Request's field of the same name. Reading the caller's
    # objects may run their code: it runs as a guest (io/guest.py), as the check does.
    options = dict(locals())
    with guest.hosting():
        # dtype=None: the gradients handed in decide (``dtype_of``), after validation
        given = {k: v for k, v in options.items() if not (k == "dtype" and v is None)}
        options = arguments.validate(given)
        hand = {name: options.pop(name) for name in ("backward", "impl", "grads")}
        notice = None
        if dtype is None:
            options["dtype"], notice = dtype_of(hand["grads"])
        if options.get("batch_axis") == "last":
            options["x"], options["target"] = (
                as_rows(options.get("x")),
                as_rows(options.get("target")),
            )
        report = run_check(Request(**options), **hand)
    if notice is not None:
        report = replace(report, warnings=(notice, *report.warnings))
    return Report.of(report)


def dtype_of(grads: object) -> tuple[str, Notice | None]:
    """The check's dtype when none is given: the gradients handed in decide (float32 when
    every one is float32 or narrower, with a notice; float64 when any is wider, or none)."""
    if not isinstance(grads, Mapping):
        return "float64", None
    kinds = set()
    for value in grads.values():
        dtype = getattr(value, "dtype", None)
        if dtype is not None and getattr(dtype, "is_floating_point", False):
            kinds.add(dtype.itemsize if hasattr(dtype, "itemsize") else 4)
        elif dtype is not None and getattr(dtype, "kind", "") == "f":
            kinds.add(dtype.itemsize)
    if not kinds or max(kinds) > 4:
        return "float64", None
    tol = DEFAULT_TOLERANCES["float32"]
    return "float32", Notice(
        "dtype",
        f"the gradients handed in are float32: checked in float32 (atol={tol.atol:g}, "
        f"rtol={tol.rtol:g}); dtype='float64' holds them to float64's",
    )


def as_rows(values: Any) -> Any:
    """x or target handed in with examples as columns ((n, batch)) as rows (batch, n)."""
    if values is None:
        return None
    if hasattr(values, "detach"):  # a torch tensor, without importing torch here
        values = values.detach().cpu().numpy()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return values  # not a table of numbers: the validation of x/target says what is wrong
    return arr.T if arr.ndim == 2 else values


class LayerReport(layer_report.LayerReport):
    """A layer check and its verdict: ``passed``, ``exit_code``, ``failed``, ``outputs`` and
    ``gradients`` (``Comparison`` records), ``problems``, ``warnings``, ``diagnosis``,
    ``probes`` and ``oracle``."""

    @classmethod
    def of(cls, report: layer_report.LayerReport) -> LayerReport:
        return cls(**{f.name: getattr(report, f.name) for f in fields(report)})

    def to_dict(self, *, arrays: bool = True) -> dict[str, Any]:
        """The ``layer --json`` document as a dict (see ``gradcheck schema``)."""
        return documents.layer_to_dict(self, arrays=arguments.flag(arrays, "--arrays"))

    def to_json(self, *, arrays: bool = True) -> str:
        """The ``layer --json`` document, exactly as the command line prints it."""
        return documents.layer_to_json(self, arrays=arguments.flag(arrays, "--arrays"))

    def __repr__(self) -> str:
        n = len(self.comparisons)
        verdict = "PASSED" if self.passed else f"FAILED {len(self.failed)} of {n}"
        if self.failed_probes and not self.failed:
            verdict = f"FAILED {len(self.failed_probes)} of {len(self.probes)} probes"
        names = self.failed + tuple(p.name for p in self.failed_probes)
        failed = f": {', '.join(names[:6])}{', …' if len(names) > 6 else ''}"
        shown = failed if not self.passed else ""
        return f"<gradcheck.LayerReport {self.settings.kind} {verdict}{shown}>"

    def __rich__(self) -> Any:
        """The ``gradcheck layer`` table, diagnosis and verdict (``rich.print(report)``)."""
        from gradcheck.output.layer import render_report

        return render_report(self)

    def _repr_html_(self) -> str:
        """The same table as HTML, for Jupyter (inline styles, no external CSS)."""
        return _html(self.__rich__())


def check_layer(
    kind: str,
    forward: Callable[..., object] | None = None,
    backward: Callable[..., object] | None = None,
    *,
    impl: str | None = None,
    shapes: Mapping[str, object] | None = None,
    params: Mapping[str, object] | None = None,
    seed: int = 0,
    dtype: str = "float64",
    atol: float | None = None,
    rtol: float | None = None,
    oracle: str | None = None,
    probes: int = 2,
    values: str = "normal",
) -> LayerReport:
    """Check one layer's hand-derived forward and backward against torch; ``gradcheck layer``.

    ``kind`` names a layer of the catalogue (``affine``, ``conv``, ``batchnorm``, … every kind
    with its contract in docs/layers.md) or ``"custom"``. The layer is your ``forward`` and
    ``backward`` functions as a course writes them — ``forward(*arrays, [param_dict])`` returns
    ``(out, cache)``, ``backward(dout, cache)`` the gradients in the order of the arrays — or
    for a loss kind one ``forward(x, y)`` returning ``(loss, dx)``; or ``impl``
    (``"FILE.py:FORWARD,BACKWARD"``), as ``--impl``.

    Every kind runs with its default shapes; ``shapes`` (``{"x": (4, 3, 32, 32)}``, or
    ``"4x3x32x32"``) and ``params`` (``{"stride": 2, "pad": 1}``) override them. Values and the
    upstream gradient are drawn under ``seed`` in ``dtype``; ``values`` draws them as small
    integers (``"ties"``) or ×20 (``"wide"``). ``atol``/``rtol`` default per dtype. ``oracle``
    (``"central"`` or ``"richardson"``) adds the numerical oracle, on the reference forward
    with batched perturbations. ``probes`` (0 to 2) of the kind's own probe configurations are
    checked too. A ``"custom"`` layer takes ``shapes`` in the order its forward takes its
    inputs, and is judged against the oracle alone (on your forward).

    Returns a ``LayerReport`` (``.passed``, ``.exit_code``, ``.diagnosis``); in Jupyter it
    displays as the table ``gradcheck layer`` prints. Raises ``GradcheckError`` on bad input,
    naming the argument.
    """
    options = dict(locals())
    from gradcheck.checks.layer import LayerRequest, run_layer

    with guest.hosting():
        given = arguments.validate(options, arguments.LAYER_RULES, "gradcheck.check_layer")
        report = run_layer(LayerRequest(**given))
    return LayerReport.of(report)
