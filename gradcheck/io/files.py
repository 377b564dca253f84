"""Reading files named on the command line: once, bounded, with one clear error per failure.

Every input file (``--data``, ``--weights``, ``--grads``, ``--impl``) goes through
``read_input``, which checks what the path names *before* opening it and reads its bytes once:

- a regular file is read (``/proc`` files too: emptiness is judged by reading, not by
  ``st_size``), refused up front when its size exceeds what the option can use;
- ``-`` is standard input; a pipe that is already connected (``/dev/fd/N`` from a shell's
  ``<(…)``, or a named pipe whose writer is already there) is read to its end;
- a named pipe with no writer is never waited for: it is opened non-blocking and reads as
  nothing at once (exit 2, "a pipe with nothing to read");
- directories, devices (``/dev/zero``, ``/dev/tty``) and sockets are exit 2 without opening.

Parsers then work on the bytes (``io.BytesIO``), so nothing is opened twice. ``.npz``
archives are validated member by member before anything is decompressed: only ``.npy``
members, declared sizes and every array's header (shape × dtype) within the caller's limit.
"""

from __future__ import annotations

import fcntl
import io
import os
import stat
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import MEMORY_BUDGET

STDIN = "-"
_CHUNK = 1 << 20
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class InputFile:
    """The bytes of one input, with the name it was given by."""

    name: str  # as given ("-" for standard input); shown escaped by the CLI
    data: bytes
    suffix: str  # lower-case suffix of a regular file's name; "" for stdin and pipes
    stream: bool  # standard input or a pipe: no name to judge the format by

    def __str__(self) -> str:
        return "standard input" if self.name == STDIN else self.name

    @property
    def is_zip(self) -> bool:
        return self.data[:4] == _ZIP_MAGIC


def read_input(path: str, option: str, *, limit: int = MEMORY_BUDGET, what: str = "") -> InputFile:
    """Read ``path`` (or ``-``, standard input) whole; refuse anything but a file or a pipe.

    ``limit`` bounds the bytes read; a regular file larger than that is refused before it is
    opened, a stream as soon as it passes the limit. ``what`` says what the limit is for.
    """
    limit = min(limit, MEMORY_BUDGET)
    if path == STDIN:
        if sys.stdin is None or sys.stdin.isatty():
            raise GradcheckError(
                f"{option}: -: standard input is a terminal; pipe the file in (… | gradcheck "
                f"… {option} -) or name it"
            )
        data = _read_all(sys.stdin.buffer, path, option, limit, what)
        return _nonempty(InputFile(path, data, "", True), option)
    if not path:
        raise GradcheckError(f"{option}: empty file name")
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise GradcheckError(f"{option}: {path}: no such file") from None
    except ValueError:  # an embedded NUL byte
        raise GradcheckError(f"{option}: {path!r}: no such file") from None
    except OSError as exc:
        raise GradcheckError(f"{option}: {path}: cannot read ({exc.strerror})") from None
    _check_kind(info.st_mode, path, option)
    if stat.S_ISREG(info.st_mode) and info.st_size > limit:
        raise GradcheckError(_too_big(path, option, info.st_size, limit, what))
    try:
        # O_NONBLOCK: opening a pipe never waits for a writer (a swap of the path for a pipe
        # after the stat above included); O_NOCTTY: never adopt a terminal.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise GradcheckError(f"{option}: {path}: cannot read ({exc.strerror})") from None
    with os.fdopen(fd, "rb", buffering=0) as handle:
        opened = os.fstat(fd).st_mode
        _check_kind(opened, path, option)
        pipe = stat.S_ISFIFO(opened)
        if pipe:  # a writer is connected (or none is, and reading ends at once): block now
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        data = _read_all(handle, path, option, limit, what)
    suffix = "" if pipe else os.path.splitext(path)[1].lower()
    return _nonempty(InputFile(path, data, suffix, pipe), option)


def _check_kind(mode: int, path: str, option: str) -> None:
    if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
        return
    if stat.S_ISDIR(mode):
        raise GradcheckError(f"{option}: {path}: is a directory, expected a file")
    kind = "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
    if stat.S_ISSOCK(mode):
        kind = "a socket"
    raise GradcheckError(f"{option}: {path}: is {kind}, expected a regular file or a pipe")


def _read_all(handle: Any, path: str, option: str, limit: int, what: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        while True:
            chunk = handle.read(min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                name = "standard input" if path == STDIN else path
                raise GradcheckError(_too_big(name, option, None, limit, what))
    except BlockingIOError:  # cannot happen after clearing O_NONBLOCK; never wait anyway
        pass
    except OSError as exc:
        raise GradcheckError(f"{option}: {path}: cannot read ({exc.strerror})") from None
    return b"".join(chunks)


def _too_big(path: str, option: str, size: int | None, limit: int, what: str) -> str:
    has = _mb(size) if size is not None else f"more than {_mb(limit)}"
    whose = what or "what this option can use"
    return f"{option}: {path}: {has} is larger than {whose} can take (at most {_mb(limit)})"


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


def _nonempty(file: InputFile, option: str) -> InputFile:
    if not file.data:
        if file.stream and file.name != STDIN and not file.name.startswith("/dev/fd/"):
            raise GradcheckError(
                f"{option}: {file}: a pipe with nothing to read (a named pipe is read only "
                "when its writer is already connected)"
            )
        raise GradcheckError(f"{option}: {file}: file is empty")
    return file


def decode_text(file: InputFile, option: str) -> str:
    """A file's UTF-8 text (a BOM is dropped)."""
    try:
        return file.data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise GradcheckError(f"{option}: {file}: not a text file (not UTF-8)") from None


Headers = dict[str, tuple[tuple[int, ...], "np.dtype[Any]"]]


def load_npz(
    file: InputFile, option: str, *, limit: int, check: Callable[[Headers], None] | None = None
) -> dict[str, NDArray[Any]]:
    """Every array of an ``.npz``; members are checked before anything is decompressed.

    Pickled objects are refused (``allow_pickle=False``); every member must be a ``.npy``;
    the declared uncompressed sizes and each array's shape × itemsize (and its float64 copy)
    must fit in ``limit`` bytes, so a small archive that expands to gigabytes is refused
    before it expands. ``check`` sees every array's declared shape and dtype (keyed without
    ``.npy``) before any is read, to refuse with the caller's own message.
    """
    if not file.is_zip:  # numpy would try it as a pickle and say so
        raise GradcheckError(f"{option}: {file}: not a readable .npz file (not a zip archive)")
    try:
        with zipfile.ZipFile(io.BytesIO(file.data)) as archive:
            members = archive.infolist()
            _check_names(members, file, option)
            headers = {m.filename[:-4]: _npy_header(archive, m, file, option) for m in members}
            if check is not None:
                check(headers)
            _check_declared(members, file, option, limit)
            need = sum(_array_bytes(shape, dtype) for shape, dtype in headers.values())
            if need > limit:
                raise GradcheckError(
                    f"{option}: {file}: its arrays declare {_mb(need)}, more than they can be "
                    f"(at most {_mb(limit)})"
                )
            out: dict[str, NDArray[Any]] = {}
            for member in members:
                with archive.open(member) as handle:
                    out[member.filename[:-4]] = np.lib.format.read_array(handle, allow_pickle=False)
            return out
    except GradcheckError:
        raise
    except ValueError as exc:
        raise GradcheckError(f"{option}: {file}: cannot read arrays ({first_line(exc)})") from None
    except (OSError, zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError) as exc:
        raise GradcheckError(
            f"{option}: {file}: not a readable .npz file ({first_line(exc)})"
        ) from None


def _check_names(members: list[zipfile.ZipInfo], file: InputFile, option: str) -> None:
    names = set()
    for member in members:
        if not member.filename.endswith(".npy") or member.is_dir():
            raise GradcheckError(
                f"{option}: {file}: member {member.filename!r} is not a .npy array "
                "(an .npz holds only .npy files)"
            )
        if member.filename in names:
            raise GradcheckError(f"{option}: {file}: member {member.filename!r} appears twice")
        names.add(member.filename)


def _check_declared(
    members: list[zipfile.ZipInfo], file: InputFile, option: str, limit: int
) -> None:
    declared = sum(m.file_size for m in members)
    if declared > limit:
        raise GradcheckError(
            f"{option}: {file}: expands to {_mb(declared)}, more than it can be (at most "
            f"{_mb(limit)}); refused before decompressing"
        )


def _npy_header(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, file: InputFile, option: str
) -> tuple[tuple[int, ...], np.dtype[Any]]:
    fmt = np.lib.format
    with archive.open(member) as handle:
        version = fmt.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(handle)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = fmt.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise GradcheckError(
            f"{option}: {file}: cannot read arrays: member {member.filename!r} holds Python "
            "objects (refused: loading them would unpickle)"
        )
    return tuple(int(n) for n in shape), dtype


def _array_bytes(shape: tuple[int, ...], dtype: np.dtype[Any]) -> int:
    """Bytes an array takes, plus its float64 copy (Python ints: no overflow)."""
    count = 1
    for n in shape:
        count *= n
    return count * (int(dtype.itemsize) + 8)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for a one-line error."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
