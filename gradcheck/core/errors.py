"""The one error family the core raises; ``cli.py`` turns it into exit code 2."""

from __future__ import annotations


class GradcheckError(Exception):
    """Bad usage or bad input, with a message a user can act on (exit code 2)."""


class UserCodeError(GradcheckError):
    """The user's own code raised; its traceback is theirs to read (exit code 2)."""

    def __init__(self, message: str, traceback_text: str) -> None:
        super().__init__(message)
        self.traceback_text = traceback_text
