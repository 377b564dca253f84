"""``assert_backward`` and ``assert_layer``: the checks as test assertions, for a user's own
test suite.

::

    from gradcheck.testing import assert_backward, assert_layer

    def test_my_backward():
        assert_backward(my_backward, x=[[0.974, 0.312], [0.1, -0.5]], target=[[0.5], [1.0]])

    def test_my_conv():
        assert_layer("conv", conv_forward_naive, conv_backward_naive)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gradcheck.api import LayerReport, Report, check, check_layer
from gradcheck.core.errors import GradcheckError

__all__ = [
    "assert_backward",
    "assert_layer",
    "layer_summary_line",
    "layer_text",
    "report_text",
    "summary_line",
]


def assert_backward(
    fn: Callable[..., Any],
    *,
    x: Sequence[float] | Sequence[Sequence[float]],
    target: Sequence[float] | Sequence[Sequence[float]] | None = None,
    **check_kwargs: Any,
) -> Report:
    """Check ``fn(params, x, y) -> {"W1": dW1, …}`` against torch autograd, or raise.

    ``check_kwargs`` are ``gradcheck.check``'s (``layers``, ``activation``, ``loss``,
    ``dtype``, ``seed``, ``weights``, ``atol``, ``rtol``). Returns the passing ``Report``.
    Raises ``AssertionError`` whose first line summarises (``gradcheck: 1 of 6 out of
    tolerance: W2 (max abs err 1.9e-01)``), followed by the plain-text table, the diagnosis and the
    verdict (as ``gradcheck run`` prints them, without colour); ``GradcheckError`` on bad
    input (``fn`` not a function, ``None`` included), ``UserCodeError`` if ``fn`` raises.
    """
    if fn is None or not callable(fn):
        # check(backward=None) checks the built-in replica: never what an assertion means
        raise GradcheckError(
            f"--fn: got {'None' if fn is None else type(fn).__name__}; assert_backward checks "
            "your backward function fn(params, x, y) -> {'W1': dW1, 'b1': db1, …}"
        )
    report = check(x, target, backward=fn, **check_kwargs)
    if not report.passed:
        raise AssertionError(summary_line(report) + "\n" + report_text(report))
    return report


def _report(report: object) -> Report:
    if not isinstance(report, Report):
        raise GradcheckError(
            f"--report: got a {type(report).__name__}; expected a gradcheck Report (what "
            "gradcheck.check returns)"
        )
    return report


def summary_line(report: Report) -> str:
    """``gradcheck: 2 of 6 out of tolerance: W1, b2 (max abs err 3.1e-02)`` — what pytest's
    short summary shows."""
    report = _report(report)
    failed = [c for c in report.comparisons if not c.passed]
    n = len(report.comparisons)
    if not failed and report.failed_probes:  # the given batch passes, a probe batch fails
        probe = report.failed_probes[0]
        names = ", ".join(probe.report.failed) if probe.report is not None else "no answer"
        return (
            f"gradcheck: {len(report.failed_probes)} of {len(report.probes)} probe batches "
            f"fail ({probe.name}, batch {probe.size}: {names}); the given batch passes"
        )
    if not failed:  # out of tolerance only against the oracle
        return "gradcheck: " + (report.oracle.verdict if report.oracle is not None else "failed")
    worst = max(c.max_abs_error for c in failed)
    names = ", ".join(c.name for c in failed[:8]) + (", …" if len(failed) > 8 else "")
    return f"gradcheck: {len(failed)} of {n} out of tolerance: {names} (max abs err {worst:.1e})"


def report_text(report: Report, width: int = 200) -> str:
    """The report as ``gradcheck run`` prints it, in plain text (no colour, no styles)."""
    from gradcheck.checks.arguments import width as check_width
    from gradcheck.output.table import plain_text, render_report

    report = _report(report)
    width = check_width(width, "--width")

    return plain_text(render_report(report), width)


def assert_layer(
    kind: str,
    forward: Callable[..., Any],
    backward: Callable[..., Any] | None = None,
    **check_kwargs: Any,
) -> LayerReport:
    """Check one layer's ``forward`` and ``backward`` (a loss kind: ``forward`` alone, returning
    ``(loss, dx)``) against torch, or raise.

    ``check_kwargs`` are ``gradcheck.check_layer``'s (``shapes``, ``params``, ``dtype``,
    ``seed``, ``oracle``, ``probes``). Returns the passing ``LayerReport``. Raises
    ``AssertionError`` whose first line summarises (``gradcheck layer conv: 1 of 4 out of
    tolerance: dx (max abs err 2.1e+00)``), followed by the plain-text table, the diagnosis and
    the verdict; ``GradcheckError`` on bad input, ``UserCodeError`` if the code raises.
    """
    if forward is None or not callable(forward):
        raise GradcheckError(
            f"--forward: got {'None' if forward is None else type(forward).__name__}; "
            "assert_layer checks your forward(…) -> (out, cache) and backward(dout, cache)"
        )
    report = check_layer(kind, forward, backward, **check_kwargs)
    if not report.passed:
        raise AssertionError(layer_summary_line(report) + "\n" + layer_text(report))
    return report


def layer_summary_line(report: LayerReport) -> str:
    """``gradcheck layer conv: 1 of 4 out of tolerance: dx (max abs err 2.1e+00)``."""
    kind = report.settings.kind
    failed = [c for c in report.comparisons if not c.passed or c.name in report.problems]
    n = len(report.comparisons)
    if report.result.failed and not failed:
        return f"gradcheck layer {kind}: {', '.join(report.result.failed)} fail"
    if not failed and report.failed_probes:
        probe = report.failed_probes[0]
        names = ", ".join(probe.result.failed) if probe.result is not None else "no answer"
        return (
            f"gradcheck layer {kind}: {len(report.failed_probes)} of {len(report.probes)} probes "
            f"fail ({probe.name}, {probe.note}: {names}); the given configuration passes"
        )
    if not failed:
        verdict = report.oracle.verdict if report.oracle is not None else "failed"
        return f"gradcheck layer {kind}: {verdict}"
    worst = max(c.max_abs_error for c in failed)
    names = ", ".join(c.name for c in failed)
    return (
        f"gradcheck layer {kind}: {len(failed)} of {n} out of tolerance: {names} "
        f"(max abs err {worst:.1e})"
    )


def layer_text(report: LayerReport, width: int = 200) -> str:
    """The layer report as ``gradcheck layer`` prints it, in plain text."""
    from gradcheck.checks.arguments import width as check_width
    from gradcheck.output.layer import render_report
    from gradcheck.output.table import plain_text

    return plain_text(render_report(report), check_width(width, "--width"))
