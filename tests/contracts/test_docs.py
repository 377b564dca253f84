"""The docs are true: every console example in README.md, docs/*.md and samples/README.md is
rerun and must print what it shows, on any x86-64 CPU.

Refresh every pasted output after a behaviour change, in one command from the project root::

    python -m tests.contracts.test_docs --regen   # rewrites the outputs in place; review git diff

Blocks fenced as ``console`` hold ``$ command`` lines followed by their output; every command
but a benchmark's (``python benchmarks/…``: timings of one machine, shown as measured) is run
(a command whose quotes are still open continues on the next line). A following
``$ echo $?`` gives the exit code, which must match exactly. Commands run through bash from the
project root with NO_COLOR=1, COLUMNS and FORCE_COLOR removed and stdout piped (so rich uses
its piped width, 160 columns), stderr merged into stdout. Blocks fenced otherwise (``sh``,
``text``, ``json``, ``xml``) are not run.

How output is compared (``compare``), line by line:

* trailing whitespace is ignored; a line ``…`` in the expected output stands for any number of
  lines (an excerpt), also at the start or end;
* runs of spaces, and runs of the box-drawing characters ``─━═``, count as one (column widths
  change when a number's digits do);
* verdict lines (``PASSED:``, ``FAILED:``, ``ORACLE:``) must be equal, except that the names
  after ``out of tolerance:`` in a FAILED line are compared as a set;
* every other word and symbol must be equal; a token that parses as a number must agree with
  the pasted one to ``REL_TOL`` = 1e-6 relative. That is one unit in the 7th significant digit,
  the precision of every value gradcheck prints (float64 results printed to 7 digits differ
  between CPUs only at ~1e-16 relative, float32 results at ~1e-7), and a number off by 1e-3
  relative fails;
* error-sized numbers are rounding noise, whose digits depend on the CPU's instruction set and
  BLAS kernels, so they are compared by what they mean rather than digit by digit. A number is
  error-sized when it sits in a table column whose heading has ``err`` or ``|Δ|``, follows the
  words ``abs``, ``rel``, ``|Δ|`` or ``ratio`` (or a JSON key ``max_abs_error``,
  ``max_rel_error``, ``error_ratio``), or is followed by ``×`` (an error ratio). Two
  error-sized numbers are equal when they agree to ``REL_TOL``, or both are at most
  ``ERROR_FLOOR`` = 1e-12 (float64 rounding: eps = 2.2e-16 times values up to ~1e4; ``0`` is
  one of them), or both are ratios at most ``RATIO_FLOOR`` = 1e-6 (the heat map's own
  "negligible" band, ``· ≤ 1e-6 of the tolerance``), or the line is a passing line on both
  sides (it shows ``✓`` and no ``✗``): an error within tolerance, float32's included (~1e-8
  to 1e-7), is below the row's tolerance by definition, and its verdict is what is compared;
* bracketed integer index tuples (``[2]``, ``[0,3]``, ``[0, 4]``) in a table cell or after
  ``at``/``worst`` are wildcards: when errors tie, the worst element differs between machines.
  The table columns that show a value at the worst element (``…[worst]``) are then compared
  only when both rows name the same worst element, and the ``worst seed`` of a passing sweep
  row is a wildcard for the same reason.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCS = sorted([ROOT / "README.md", ROOT / "samples" / "README.md", *(ROOT / "docs").glob("*.md")])
README_MAX_LINES = 250

BENCHMARK = "python benchmarks/"
REL_TOL = 1e-6
ERROR_FLOOR = 1e-12
RATIO_FLOOR = 1e-6

ELLIPSIS = "…"
BOX_RUNS = re.compile(r"([─━═])\1+")
SPACES = re.compile(r" +")
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]*\w)")
INDEX = re.compile(r"\[\d+(?:, ?\d+)*\]")
TOKEN = re.compile(rf"{INDEX.pattern}|{NUMBER.pattern}|\s+|.", re.S)
ERROR_WORDS = ("abs", "rel", "|Δ|", "ratio", '"max_abs_error":', '"max_rel_error":')
ERROR_WORDS += ('"error_ratio":',)
VERDICTS = ("PASSED:", "FAILED:", "ORACLE:")
FAILED_NAMES = re.compile(r"^(FAILED: .*out of tolerance): (.+)$")


# --- finding the examples -------------------------------------------------------------------


@dataclass
class Example:
    doc: Path
    command: str
    expected: str  # the pasted output, lines joined by "\n"
    code: int | None  # the exit code from a following `$ echo $?`, if any
    start: int  # line numbers in the doc (0-based) of the output, [start, end)
    end: int
    code_line: int | None  # line number of the pasted exit code

    @property
    def name(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.command.splitlines()[0][:70]}"


def _complete(command: str) -> bool:
    try:
        shlex.split(command)
    except ValueError:
        return False
    return True


def examples(doc: Path) -> list[Example]:
    """Every command in the doc's ``console`` blocks, with its pasted output and exit code."""
    lines = doc.read_text().splitlines()
    found: list[Example] = []
    i = 0
    while i < len(lines):
        if lines[i] != "```console":
            i += 1
            continue
        i += 1
        entries: list[tuple[str, int, int]] = []  # command, output start, output end
        while i < len(lines) and lines[i].strip() != "```":
            if lines[i].startswith("$ "):
                command = lines[i][2:]
                while not _complete(command) and i + 1 < len(lines):
                    i += 1
                    command += "\n" + lines[i]
                entries.append((command, i + 1, i + 1))
            elif entries:
                command, start, _ = entries[-1]
                entries[-1] = (command, start, i + 1)
            i += 1
        for k, (command, start, end) in enumerate(entries):
            # Benchmarks print timings of one machine at one moment: shown, never rerun.
            if command == "echo $?" or command.startswith(BENCHMARK):
                continue
            code = code_line = None
            if k + 1 < len(entries) and entries[k + 1][0] == "echo $?":
                code_line = entries[k + 1][1]
                code = int(lines[code_line])
            expected = "\n".join(lines[start:end])
            found.append(Example(doc, command, expected, code, start, end, code_line))
    return found


CASES = [case for doc in DOCS for case in examples(doc)]


def run_example(command: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    env["NO_COLOR"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-c", command + " 2>&1"], cwd=ROOT, capture_output=True, text=True, env=env
    )


# --- comparing output -----------------------------------------------------------------------


def normalise(line: str) -> str:
    """Trailing space gone, runs of spaces and of ─━═ counted as one."""
    return BOX_RUNS.sub(r"\1", SPACES.sub(" ", line.rstrip()))


def _number(token: str) -> float | None:
    if not NUMBER.fullmatch(token):
        return None
    try:
        return float(token)
    except ValueError:
        return None


def numbers_agree(a: float, e: float, *, error: bool, ratio: bool, passing: bool) -> bool:
    """Whether an actual and a pasted number say the same (see the module docstring)."""
    if math.isclose(a, e, rel_tol=REL_TOL, abs_tol=0.0):
        return True
    if not error:
        return False
    if passing:
        return math.isfinite(a) and math.isfinite(e)
    floor = RATIO_FLOOR if ratio else ERROR_FLOOR
    return abs(a) <= floor and abs(e) <= floor


def _is_passing(line: str) -> bool:
    return "✓" in line and "✗" not in line


def _tokens(text: str) -> list[str]:
    return [t if not t.isspace() else " " for t in TOKEN.findall(text)]


def _tokens_agree(actual: str, expected: str, *, error: bool, passing: bool) -> bool:
    """Token by token; ``error`` makes every number in the text error-sized (a table cell)."""
    got, want = _tokens(actual), _tokens(expected)
    if len(got) != len(want):
        return False
    before = ""  # the text before the current token, to tell an error-sized number
    for k, (a, e) in enumerate(zip(got, want, strict=True)):
        if INDEX.fullmatch(e) and INDEX.fullmatch(a):
            words = before.split()
            if error or not words or words[-1] in ("│", "at", "worst"):
                before += e
                continue
        na, ne = _number(a), _number(e)
        if na is not None and ne is not None:
            after = want[k + 1] if k + 1 < len(want) else ""
            words = before.split()
            ratio = after == "×" or bool(words and words[-1] == "ratio")
            sized = error or ratio or bool(words and words[-1] in ERROR_WORDS)
            if not numbers_agree(na, ne, error=sized, ratio=ratio, passing=passing):
                return False
        elif a != e:
            return False
        before += e
    return True


def _cells(line: str, bar: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip(bar).split(bar)]


def _row_agrees(actual: str, expected: str, header: list[str]) -> bool:
    """A table row, cell by cell, by what its column holds."""
    got, want = _cells(actual, "│"), _cells(expected, "│")
    if len(got) != len(want):
        return False
    if len(header) != len(want):
        header = [""] * len(want)
    passing = _is_passing(actual) and _is_passing(expected)
    same_worst = all(
        got[k] == want[k] for k, name in enumerate(header) if name in ("worst", "worst seed")
    )
    for name, a, e in zip(header, got, want, strict=True):
        if name.endswith("[worst]") and not same_worst:
            continue  # the value at a different (tied) worst element
        if name == "worst seed" and passing:
            continue
        error = "err" in name or "|Δ|" in name
        if name == "worst":
            error = True  # an index cell: a wildcard
        if not _tokens_agree(a, e, error=error, passing=passing and error):
            return False
    return True


def line_agrees(actual: str, expected: str, header: list[str] | None = None) -> bool:
    """One output line against its pasted line (``header``: the table's column names)."""
    a, e = normalise(actual), normalise(expected)
    if e.startswith(VERDICTS) or a.startswith(VERDICTS):
        ma, me = FAILED_NAMES.match(a), FAILED_NAMES.match(e)
        if ma and me:
            names = (set(ma[2].split(", ")), set(me[2].split(", ")))
            return ma[1] == me[1] and names[0] == names[1]
        return a == e
    if e.startswith("│") and a.startswith("│"):
        return _row_agrees(a, e, header or [])
    passing = _is_passing(a) and _is_passing(e)
    return _tokens_agree(a, e, error=False, passing=passing)


def _headers(lines: list[str]) -> list[list[str]]:
    """For each line, the column names of the table it belongs to (the last ┃ line above)."""
    out, header = [], []
    for line in lines:
        if line.lstrip().startswith("┃"):
            header = _cells(normalise(line), "┃")
        out.append(header)
    return out


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def _chunks(expected: str) -> list[list[str]]:
    chunks: list[list[str]] = [[]]
    for line in _lines(expected):
        if line == ELLIPSIS:
            chunks.append([])
        else:
            chunks[-1].append(line)
    return chunks


def align(actual: str, expected: str) -> list[int] | None:
    """Where each ``…``-separated chunk of ``expected`` sits in ``actual``, or None."""
    got = _lines(actual)
    headers = _headers(got)
    chunks = _chunks(expected)

    def fits(at: int, chunk: list[str]) -> bool:
        return at + len(chunk) <= len(got) and all(
            line_agrees(got[at + j], line, headers[at + j]) for j, line in enumerate(chunk)
        )

    if len(chunks) == 1:
        return [0] if len(got) == len(chunks[0]) and fits(0, chunks[0]) else None
    first, *middle, last = chunks
    if not fits(0, first):
        return None
    starts, at = [0], len(first)
    for chunk in middle:
        while at + len(chunk) <= len(got) and not fits(at, chunk):
            at += 1
        if at + len(chunk) > len(got):
            return None
        starts.append(at)
        at += len(chunk)
    end = len(got) - len(last)
    if end < at or not fits(end, last):
        return None
    return [*starts, end]


def matches(actual: str, expected: str) -> bool:
    """Whether the output says what the pasted output says (see the module docstring)."""
    return align(actual, expected) is not None


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("example", CASES, ids=[c.name for c in CASES])
def test_doc_example_prints_what_it_shows(example: Example) -> None:
    result = run_example(example.command)
    assert matches(result.stdout, example.expected), result.stdout
    if example.code is not None:
        assert result.returncode == example.code, result.stdout


def test_there_are_examples_to_check() -> None:
    assert len(CASES) >= 15
    assert {c.doc.name for c in CASES} >= {"README.md", "oracle.md", "sweep.md", "explain.md"}


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "pip install -c constraints.txt -e '.[test]' && python -m pytest"
    assert command in readme
    assert "-c constraints.txt -e '.[test]'" in ci and "python -m pytest" in ci
    assert "gradcheck run --x 0.974 0.312" in readme


def test_readme_is_short_and_its_doc_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    links = re.findall(r"\]\((docs/[^)#\s]+\.md)(?:#[^)]*)?\)", readme)
    assert links, "README links no docs/ page"
    for link in links:
        assert (ROOT / link).is_file(), link
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")}
    assert pages <= set(links), f"docs pages not linked from README: {pages - set(links)}"


def test_links_between_docs_resolve() -> None:
    for doc in DOCS:
        for link in re.findall(r"\]\(([^)#\s:]+\.md)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / link).resolve().is_file(), (doc, link)


# --- regeneration: python -m tests.contracts.test_docs --regen ------------------------------


def regenerate(doc: Path) -> list[str]:
    """Rerun every example in ``doc`` and write its real output in place; return problems.

    A full output is replaced by the new one. An excerpt (with ``…`` lines) keeps its shape:
    each chunk is replaced by the lines it matched; an excerpt that no longer matches is left
    as it was and reported, to be edited by hand.
    """
    lines = doc.read_text().splitlines()
    problems: list[str] = []
    for ex in reversed(examples(doc)):  # from the bottom, so earlier line numbers hold
        result = run_example(ex.command)
        got = _lines(result.stdout)
        chunks = _chunks(ex.expected)
        if len(chunks) == 1:
            new = got
        else:
            starts = align(result.stdout, ex.expected)
            if starts is None:
                problems.append(f"{ex.name}: excerpt no longer matches; edit it by hand")
                continue
            new = []
            for k, (chunk, at) in enumerate(zip(chunks, starts, strict=True)):
                if k:
                    new.append(ELLIPSIS)
                new.extend(got[at : at + len(chunk)])
        if ex.code_line is not None:
            lines[ex.code_line] = str(result.returncode)
        lines[ex.start : ex.end] = new
    doc.write_text("\n".join(lines) + "\n")
    return problems


def main(argv: list[str]) -> int:
    if argv != ["--regen"]:
        print("usage: python -m tests.contracts.test_docs --regen", file=sys.stderr)
        return 2
    problems = [p for doc in DOCS for p in regenerate(doc)]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"regenerated {len(CASES)} examples in {len(DOCS)} files", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
