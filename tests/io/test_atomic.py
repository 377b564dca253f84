"""Result files (``--junit``, ``--plot``; io/atomic.py): written atomically, only at the named
path, through symlinks, keeping modes; devices written, not replaced; no waiting on a FIFO."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import SEED_X, assert_usage_error, hang_guard, invoke


def test_junit_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "reports" / "junit.xml"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "link.xml"
    link.symlink_to(real)
    result = invoke("run", *SEED_X, "--junit", str(link), "--quiet")
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text().startswith("<?xml")
    assert sorted(p.name for p in real.parent.iterdir()) == ["junit.xml"]  # no temp left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.xml", "reports"]


def test_existing_mode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text("old")
    path.chmod(0o600)
    assert invoke("run", *SEED_X, "--junit", str(path), "--quiet").exit_code == 0
    assert (path.stat().st_mode & 0o7777) == 0o600
    assert path.read_text().startswith("<?xml")


def test_character_device_is_written_not_replaced() -> None:
    before = os.stat("/dev/null")
    result = invoke("run", *SEED_X, "--junit", "/dev/null", "--quiet")
    assert result.exit_code == 0, result.stderr
    after = os.stat("/dev/null")
    assert stat_kind(after.st_mode) == "chr" and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino


def stat_kind(mode: int) -> str:
    import stat

    return "chr" if stat.S_ISCHR(mode) else "other"


def test_a_symlink_to_a_device_writes_the_device(tmp_path: Path) -> None:
    link = tmp_path / "null.xml"
    link.symlink_to("/dev/null")
    assert invoke("run", *SEED_X, "--junit", str(link), "--quiet").exit_code == 0
    assert link.is_symlink() and os.stat("/dev/null").st_rdev == os.stat(link).st_rdev


def test_output_directory_and_fifo_without_reader_are_refused(tmp_path: Path) -> None:
    assert_usage_error(invoke("run", *SEED_X, "--junit", str(tmp_path)), "is a directory")
    fifo = tmp_path / "out.xml"
    os.mkfifo(fifo)
    with hang_guard():  # a writer that waited for a reader would block here for ever
        assert_usage_error(invoke("run", *SEED_X, "--junit", str(fifo)), "a pipe with no reader")
