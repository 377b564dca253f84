"""``assert_backward``: the check as a test assertion, for a user's own test suite.

::

    from gradcheck.testing import assert_backward

    def test_my_backward():
        assert_backward(my_backward, x=[[0.974, 0.312], [0.1, -0.5]], target=[[0.5], [1.0]])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gradcheck.api import Report, check
from gradcheck.core.errors import GradcheckError

__all__ = ["assert_backward", "report_text", "summary_line"]


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
