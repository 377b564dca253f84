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

__all__ = ["assert_backward", "report_text"]


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
    Raises ``AssertionError`` whose message is the plain-text table, the diagnosis and the
    verdict (as ``gradcheck run`` prints them, without colour); ``GradcheckError`` on bad
    input, ``UserCodeError`` if ``fn`` raises.
    """
    report = check(x, target, backward=fn, **check_kwargs)
    if not report.passed:
        raise AssertionError("\n" + report_text(report))
    return report


def report_text(report: Report, width: int = 200) -> str:
    """The report as ``gradcheck run`` prints it, in plain text (no colour, no styles)."""
    from gradcheck.output.table import plain_text, render_report

    return plain_text(render_report(report), width)
