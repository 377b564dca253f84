"""The one error family gradcheck raises; the CLI turns it into exit code 2.

An error is about one input, its *field*. Messages are written with the command line's option
names (``--x: expected 2 values …``); ``str(error)`` speaks the Python API's argument names
(``x: expected 2 values …``) and ``error.cli_message`` the command line's, so a user sees the
name they typed wherever the check was called from.
"""

from __future__ import annotations

import re

# A leading "--option" (then ":" or a space) names the field; "--a-b" is argument a_b.
_LEADING_OPTION = re.compile(r"^--([a-z][a-z0-9-]*)(?=[: ]|$)")
_OPTION = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)\b")


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` safe for a terminal, a table or XML: control and unprintable characters
    (ESC, BEL, NUL, lone surrogates from undecodable file names, bidi overrides …) are
    shown as Python escapes (``\\x1b``), so user-provided text cannot drive the terminal."""
    return "".join(
        ch
        if ch.isprintable() or (keep_newlines and ch == "\n")
        else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        for ch in text
    )


class GradcheckError(Exception):
    """Bad usage or bad input, with a message a user can act on (exit code 2)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.cli_message = message
        if field is None:
            found = _LEADING_OPTION.match(message)
            field = found.group(1).replace("-", "_") if found else None
        #: The API argument the error is about (``x``, ``batch_size``), or None.
        self.field = field

    def __str__(self) -> str:
        return _OPTION.sub(lambda m: m.group(1).replace("-", "_"), self.cli_message)


class UserCodeError(GradcheckError):
    """The user's own code raised; its traceback is theirs to read (exit code 2)."""

    def __init__(self, message: str, traceback_text: str) -> None:
        super().__init__(message)
        self.traceback_text = traceback_text
