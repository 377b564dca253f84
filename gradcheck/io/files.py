"""Opening files named on the command line, with one clear error per way it can go wrong."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.errors import GradcheckError


def readable_file(path: str, option: str) -> Path:
    """The path as a ``Path`` if it names a non-empty regular file, else a ``GradcheckError``."""
    file = Path(path)
    if not file.exists():
        raise GradcheckError(f"{option}: {path}: no such file")
    if file.is_dir():
        raise GradcheckError(f"{option}: {path}: is a directory, expected a file")
    try:
        size = file.stat().st_size
        with file.open("rb"):
            pass
    except OSError as exc:
        raise GradcheckError(f"{option}: {path}: cannot read ({exc.strerror})") from None
    if size == 0:
        raise GradcheckError(f"{option}: {path}: file is empty")
    return file


def read_text(file: Path, option: str) -> str:
    """A file's UTF-8 text (a BOM is dropped)."""
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise GradcheckError(f"{option}: {file}: not a text file (not UTF-8)") from None
    except OSError as exc:
        raise GradcheckError(f"{option}: {file}: cannot read ({exc.strerror})") from None


def load_npz(file: Path, option: str) -> dict[str, NDArray[Any]]:
    """Every array of an ``.npz``, refusing pickled objects (``allow_pickle=False``)."""
    if not zipfile.is_zipfile(file):  # numpy would try it as a pickle and say so
        raise GradcheckError(f"{option}: {file}: not a readable .npz file (not a zip archive)")
    try:
        # Open the file ourselves: numpy leaks its own handle when the zip is corrupt.
        with file.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as exc:
        raise GradcheckError(f"{option}: {file}: cannot read arrays ({first_line(exc)})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise GradcheckError(
            f"{option}: {file}: not a readable .npz file ({first_line(exc)})"
        ) from None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for a one-line error."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
