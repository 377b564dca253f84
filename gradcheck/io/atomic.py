"""Writing result files (``--junit``, ``--plot``): atomically, and only at the named path.

- A regular file (or a new name) is replaced atomically: a temp file in the same directory,
  then a rename. An existing file keeps its mode (a 0600 report stays 0600) and, where
  permitted, its owner.
- A symlink is written through: the file it points at is replaced atomically, in *its*
  directory; the link stays a link.
- A character device (``/dev/null``, a terminal) or a pipe with a reader is written
  directly; it is never replaced by a regular file. A pipe with no reader is exit 2 at once.
- Directories, block devices and sockets are refused.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
from dataclasses import dataclass

from gradcheck.core.errors import GradcheckError


@dataclass(frozen=True)
class Target:
    """Where the bytes go: a regular file to replace, or a device/pipe to write into."""

    path: str  # the file to replace (symlinks resolved), or the device/pipe as named
    direct: bool  # write into it (device, pipe) instead of replacing it
    mode: int | None  # the existing file's permission bits, kept
    owner: tuple[int, int] | None


def check_writable(path: str, option: str) -> Target:
    """Fail early, naming ``option``, if ``path`` cannot be written as a file."""
    if not path:
        raise GradcheckError(f"{option}: empty file name")
    try:
        info = os.stat(path)  # follows symlinks: the kind of what would be written
    except FileNotFoundError:
        info = None
    except ValueError:
        raise GradcheckError(f"{option}: {path!r}: not a valid file name") from None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise GradcheckError(
                f"{option}: {path}: a part of the path is not a directory"
            ) from None
        raise GradcheckError(f"{option}: {path}: cannot write ({exc.strerror})") from None
    if info is not None:
        mode = info.st_mode
        if stat.S_ISDIR(mode):
            raise GradcheckError(f"{option}: {path}: is a directory, expected a file name")
        if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
            return Target(path, True, None, None)
        if not stat.S_ISREG(mode):
            kind = "a socket" if stat.S_ISSOCK(mode) else "a block device"
            raise GradcheckError(f"{option}: {path}: is {kind}, expected a file name")
    file = os.path.realpath(path)  # through symlinks (a dangling one: where it points)
    parent = os.path.dirname(file) or "."
    if not os.path.isdir(parent):
        raise GradcheckError(f"{option}: {path}: no such directory {parent!r}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GradcheckError(f"{option}: {path}: cannot write in {parent!r} (permission denied)")
    if info is None:
        return Target(file, False, None, None)
    return Target(file, False, stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid))


def write_atomic(path: str, data: bytes, option: str) -> None:
    """Write ``data`` to ``path``: replaced atomically, or into a device or pipe directly.

    Readers (a CI uploader, an image viewer) see the old file or the complete new one, never
    a half-written one. Any failure leaves no temp file behind and raises ``GradcheckError``.
    """
    target = check_writable(path, option)
    if target.direct:
        _write_direct(target.path, data, option)
        return
    directory, name = os.path.split(target.path)
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if target.mode is not None:
            os.chmod(tmp_name, target.mode)
            if target.owner is not None:
                with contextlib.suppress(OSError):  # only root may give a file away
                    os.chown(tmp_name, *target.owner)
        else:  # mkstemp creates 0600; give a new file the mode a plain open() would
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, target.path)
        tmp_name = None
    except OSError as exc:
        raise GradcheckError(f"{option}: {path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def _write_direct(path: str, data: bytes, option: str) -> None:
    """Into a character device or a pipe, opened without creating, truncating or waiting."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise GradcheckError(f"{option}: {path}: a pipe with no reader") from None
        raise GradcheckError(f"{option}: {path}: cannot write ({exc.strerror})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):  # swapped since the check
            raise GradcheckError(f"{option}: {path}: changed while being written; not written")
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise GradcheckError(f"{option}: {path}: cannot write ({exc.strerror})") from None
    finally:
        os.close(fd)
