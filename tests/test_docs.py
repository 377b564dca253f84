"""The README is true: every pasted `gradcheck …` example is rerun and must print what it shows.

Blocks fenced as ``console`` hold ``$ command`` lines followed by their output (a line "…"
marks an excerpt); a following ``$ echo $?`` line gives the exit code. Commands run through
bash from the project root with NO_COLOR set and stdout piped, as they were when the output
was pasted. Trailing spaces (rich pads table captions) are ignored.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCS = [ROOT / "README.md", ROOT / "samples" / "README.md"]


def examples(doc: Path) -> list[tuple[str, str, str, int | None]]:
    """(id, command, expected output, expected exit code or None) for each gradcheck example."""
    found = []
    text = doc.read_text()
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        entries: list[list[str]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                entries.append([line[2:]])
            elif entries:
                entries[-1].append(line)
        for i, (command, *output) in enumerate(entries):
            if not command.startswith("gradcheck "):
                continue
            code = None
            if i + 1 < len(entries) and entries[i + 1][0] == "echo $?":
                code = int(entries[i + 1][1])
            name = f"{doc.relative_to(ROOT)}:{command[:70]}"
            found.append((name, command, "\n".join(output), code))
    return found


CASES = [case for doc in DOCS for case in examples(doc)]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def matches(actual: str, expected: str) -> bool:
    """Equal line by line, where a line "…" in ``expected`` stands for any lines (an excerpt)."""
    got = _lines(actual)
    chunks: list[list[str]] = [[]]
    for line in _lines(expected):
        if line == "…":
            chunks.append([])
        else:
            chunks[-1].append(line)
    if len(chunks) == 1:
        return got == chunks[0]
    first, *middle, last = chunks
    if got[: len(first)] != first or (last and got[-len(last) :] != last):
        return False
    at = len(first)
    for chunk in middle:
        while at + len(chunk) <= len(got) and got[at : at + len(chunk)] != chunk:
            at += 1
        if at + len(chunk) > len(got):
            return False
        at += len(chunk)
    return at <= len(got) - len(last)


@pytest.mark.parametrize(
    ("command", "expected", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_readme_example_prints_what_it_shows(command: str, expected: str, code: int | None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    env["NO_COLOR"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-c", command + " 2>&1"], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert matches(result.stdout, expected), result.stdout
    if code is not None:
        assert result.returncode == code


def test_there_are_examples_to_check() -> None:
    assert len(CASES) >= 15


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "pip install -c constraints.txt -e '.[test]' && python -m pytest"
    assert command in readme
    assert "-c constraints.txt -e '.[test]'" in ci and "python -m pytest" in ci
    assert "gradcheck run --x 0.974 0.312" in readme
