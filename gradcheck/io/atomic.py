"""Writing result files (``--junit``, ``--plot``) atomically: a temp file, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from gradcheck.core.errors import GradcheckError


def check_writable(path: str, option: str) -> Path:
    """Fail early, naming ``option``, if ``path`` cannot be written as a file."""
    file = Path(path)
    parent = file.parent if str(file.parent) else Path(".")
    if file.is_dir():
        raise GradcheckError(f"{option}: {path}: is a directory, expected a file name")
    if not parent.is_dir():
        raise GradcheckError(f"{option}: {path}: no such directory {str(parent)!r}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GradcheckError(
            f"{option}: {path}: cannot write in {str(parent)!r} (permission denied)"
        )
    return file


def write_atomic(path: str, data: bytes, option: str) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``.

    Readers (a CI uploader, an image viewer) see the old file or the complete new one, never
    a half-written one. Any failure leaves no temp file behind and raises ``GradcheckError``.
    """
    file = check_writable(path, option)
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; give the file the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, file)
        tmp_name = None
    except OSError as exc:
        raise GradcheckError(f"{option}: {path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
