"""Type and lint gates: ruff (lint + format) and mypy --strict on the package, in the suite."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # ruff and mypy over the whole project


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(
    "args",
    [("ruff", "check", "."), ("ruff", "format", "--check", ".")],
    ids=["ruff-check", "ruff-format"],
)
def test_ruff(args: tuple[str, ...]) -> None:
    result = run_tool(*args)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_the_package() -> None:
    # strict = true comes from pyproject.toml's [tool.mypy].
    result = run_tool("mypy", "gradcheck")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
