"""Shared test helpers: a CLI runner that keeps stdout and stderr apart, and seeded data."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, settings

from gradcheck.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SEED_X = ("--x", "0.974", "0.312")  # the seed's input row

# CI runs a seeded, bounded profile; `HYPOTHESIS_PROFILE=thorough` runs many more examples.
settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: What the caller's shell may set that changes gradcheck's output: the terminal's size and
#: colour, and gradcheck's own option defaults. Tests that need one set it themselves.
OUTPUT_ENVIRONMENT = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TERM", "CLICOLOR_FORCE")


@pytest.fixture(autouse=True)
def _neutral_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite passes whatever the caller's terminal (a narrow one, xdist's workers) and
    environment: their width, colour and GRADCHECK_* defaults are taken away for each test."""
    for name in OUTPUT_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("GRADCHECK_")]:
        monkeypatch.delenv(name)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in-process; ``result.stdout`` and ``result.stderr`` are separate.

    Every JSON document a test produces this way is validated against ``schema.json``.
    """
    result = CliRunner().invoke(
        cli, list(args), env=env, catch_exceptions=False, prog_name="gradcheck"
    )
    if "--json" in args and result.exit_code in (0, 1) and result.stdout.startswith("{"):
        assert_valid_document(json.loads(result.stdout))
    return result


@functools.cache
def _validator(document: str | None = None) -> Any:
    """A validator of gradcheck's shipped schema, made quicker without changing its meaning.

    A document of a known kind is validated against that kind's branch of the top-level
    ``oneOf`` (the branches are told apart by the ``document`` key; tests/contracts/test_schema.py
    validates against the whole schema). Every number is ``{"oneOf": [{"type": "number"},
    {"enum": [strings]}]}``: the two cannot both hold, so ``anyOf`` accepts the same documents
    and stops at the first that holds. Together a third of the time over hundreds of documents.
    """
    import jsonschema

    from gradcheck.io.schema import load_schema

    schema = load_schema()
    number = schema["$defs"]["number"]
    first, second = number.get("oneOf", [{}, {}])
    if first == {"type": "number"} and all(isinstance(v, str) for v in second.get("enum", [0])):
        schema["$defs"]["number"] = {**number, "anyOf": number.pop("oneOf")}
    if document in schema["$defs"]:
        del schema["oneOf"]
        schema["$ref"] = f"#/$defs/{document}"
    return jsonschema.Draft202012Validator(schema)


def assert_valid_document(doc: Any) -> None:
    """The document conforms to gradcheck's shipped JSON Schema (every error listed)."""
    kind = doc.get("document") if isinstance(doc, dict) else None
    validator = _validator(kind if kind in ("run", "explain", "sweep", "layer") else None)
    if validator.is_valid(doc):
        return
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors)


def run_json(*args: str) -> dict[str, Any]:
    result = invoke("run", *args, "--json")
    assert result.exit_code in (0, 1), result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def assert_usage_error(result: Result, *fragments: str) -> None:
    """Exit 2, nothing on stdout, one line on stderr containing every fragment, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def run_process(
    *args: str, stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """The real program in a subprocess: file descriptors, pipes and FIFOs are real here.

    ``timeout`` only keeps a hang from stalling the suite; it is no statement about speed.
    """
    return subprocess.run(
        [sys.executable, "-m", "gradcheck", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
    )


@contextlib.contextmanager
def hang_guard(seconds: float = 60) -> Iterator[None]:
    """Raise ``TimeoutError`` in a block still running after ``seconds`` (say, blocked on a FIFO
    nobody opens): it keeps a hang from stalling the suite and says nothing about speed."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s: blocked?")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    """A zip archive (an .npz) holding exactly these members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def batch(rng: np.random.Generator, n: int, n_in: int) -> np.ndarray:
    return rng.uniform(-1, 1, size=(n, n_in))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261127)


def render_text(renderable: object, width: int = 200) -> str:
    """A rich renderable as plain text, rendered wider than asked so that a line too long
    shows instead of being wrapped."""
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, no_color=True)
    console.print(renderable)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out
