"""The docs are true: every console example in README.md, docs/*.md and samples/README.md is
rerun and must print what it shows, on any x86-64 CPU.

Refresh the pasted outputs after a behaviour change, in one command from the project root::

    python -m tests.contracts.test_docs --regen   # rewrites outputs in place; review git diff

It rewrites the examples that no longer show what they print (``--regen --all``: every one).

Blocks fenced as ``console`` (also inside a list item, indented) hold ``$ command`` lines
followed by their output; every command but a benchmark's (``python benchmarks/…``: timings of
one machine, shown as measured) is run (a command whose quotes are still open continues on the
next line). A following ``$ echo $?`` gives the exit code, which must match exactly. Commands
run from the project root with NO_COLOR=1, COLUMNS and FORCE_COLOR removed and stdout piped (so
rich uses its piped width, 160 columns), stderr merged into stdout. A plain ``gradcheck …``
command (after any ``VAR=value`` assignments, and before any ``| …`` that filters its stdout)
runs in this process through click's runner, which prints the same bytes as the installed
program (``test_in_process_runs_print_what_the_program_prints``); anything else runs through
bash. Blocks fenced otherwise (``sh``, ``text``, ``json``, ``xml``) are not run.

How output is compared (``compare``), line by line. What a reader relies on is compared
exactly: verdict lines, exit codes, names, shapes, ✓/✗, diagnosis bullets, counts. What
depends on the CPU is not: a torch build picks its kernels at run time (``ATEN_CPU_CAPABILITY``
chooses among default, avx2 and avx512), which changes the last bits of every result, and of
the seeded weights too (torch's initialisation runs in float32).

* trailing whitespace is ignored; a line ``…`` in the expected output stands for any number of
  lines (an excerpt), also at the start or end;
* runs of spaces, and runs of the box-drawing characters ``─━═``, count as one (column widths
  change when a number's digits do);
* verdict lines (``PASSED:``, ``FAILED:``, ``ORACLE:``) must be equal, except that the names
  after ``out of tolerance:`` in a FAILED line are compared as a set;
* every other word and symbol must be equal, and so must every whole number (a count, a seed,
  a size, an index). Any other number must agree with the pasted one to ``REL_TOL`` = 1e-5 of
  the largest number printed beside it (on its line, or in its table cell). Seeded weights
  differ between CPUs by a float32 rounding (~6e-8 relative); a value computed from them
  carries that difference times its condition number (measured between the default and AVX2
  kernels: up to 6e-6, on a worst element of a failing row), and a small element of a vector
  computed from larger ones (cancellation) carries it as a larger share of itself. A number
  off by 1e-4 relative fails;
* on a passing row, the values at the worst element (the ``…[worst]`` columns) agree to
  ``WORST_TOL`` = 5e-4: that element is where rounding peaked, by selection the tensor's
  worst-conditioned one (a saturated unit's derivative, a cancelling sum; measured: 1.8e-4
  on a saturated tanh unit's δ). What the row says is its ✓ and its errors' size;
* the width a folded table would need (``the full table needs N``) follows the widths of
  its numbers and indices, and is a wildcard;
* error-sized numbers are rounding noise, compared by what they mean rather than digit by
  digit. A number is error-sized when it sits in a table column whose heading has ``err`` or
  ``|Δ|``, follows the words ``abs``, ``rel``, ``err``, ``|Δ|`` or ``ratio`` (or a JSON key
  ``max_abs_error``, ``max_rel_error``, ``error_ratio``), or is followed by ``×`` (an error
  ratio). Two error-sized numbers are equal when they agree to ``REL_TOL``, or both are at most
  the rounding floor of the example's dtype (``ERROR_FLOOR``: float64 1e-12, eps = 2.2e-16
  times values up to ~1e4; float32 1e-6, eps = 1.2e-7 times values up to ~8; ``0`` is one of
  them; the dtype is float32 when the output's caption says ``float32 ·``), or both are ratios
  at most ``RATIO_FLOOR`` = 1e-6 (the heat map's own "negligible" band, ``· ≤ 1e-6 of the
  tolerance``), or the line is a passing line on both sides (it shows ``✓`` and no ``✗``): an
  error within tolerance, float32's included, is below the row's tolerance by definition, and
  its verdict is what is compared;
* ties among equal errors are wildcards: when errors tie, the worst element differs between
  machines. So are bracketed integer index tuples (``[2]``, ``[0,3]``, ``[0, 4]``) in a table
  cell or after ``at``/``worst``; the table columns that show a value at the worst element
  (``…[worst]``) are then compared only when both rows name the same worst element; the
  ``worst seed`` of a passing sweep row; the name after ``worst`` on a passing line (a probe's
  ``worst W3`` may be ``worst b3``); and a passing sweep's ``worst case: seed N`` (its error
  ratio below 1 on both sides: every case within tolerance, the worst one where rounding
  peaked), with its ratio and the command on the next line that reruns it;
* a heat map of rounding noise (its ``worst […]`` line's ``|Δ|`` at most the dtype's
  ``ERROR_FLOOR`` on both sides) keeps its name, shape, ✓/✗ and grid size; its count of cells
  out, its worst line, its markers and the band of each cell are wildcards: which elements
  round to a tie or across the tolerance differs between CPUs.

An example whose meaning rests on such borderline elements shows an excerpt without them (the
diagnosis that names rounding, a map's shape), or is built to have margin.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCS = sorted([ROOT / "README.md", ROOT / "samples" / "README.md", *(ROOT / "docs").glob("*.md")])
README_MAX_LINES = 250

BENCHMARK = "python benchmarks/"
REL_TOL = 1e-5
WORST_TOL = 5e-4
ERROR_FLOOR = {"float64": 1e-12, "float32": 1e-6}
RATIO_FLOOR = 1e-6

ELLIPSIS = "…"
BOX_RUNS = re.compile(r"([─━═])\1+")
SPACES = re.compile(r" +")
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]*\w)")
WHOLE = re.compile(r"[-+]?\d+")
INDEX = re.compile(r"\[\d+(?:, ?\d+)*\]")
WORD = re.compile(r"[^\W\d]\w*")
TOKEN = re.compile(rf"{INDEX.pattern}|{NUMBER.pattern}|{WORD.pattern}|\s+|.", re.S)
ERROR_WORDS = ("abs", "rel", "err", "|Δ|", "ratio", '"max_abs_error":', '"max_rel_error":')
ERROR_WORDS += ('"error_ratio":',)
VERDICTS = ("PASSED:", "FAILED:", "ORACLE:")
FAILED_NAMES = re.compile(r"^(FAILED: .*out of tolerance): (.+)$")
CAPTION = re.compile(r"^(float32|float64) · ")
MAP_WORST = re.compile(r"^\s*worst \[[\d, ]*\]: \S+× the tolerance, \|Δ\| (\S+)$")
MAP_HEAD = re.compile(r"^(.*\S)\s+(✓|✗ \d+ out|✗ norm rule)$")
MAP_CELLS = re.compile(r"[·░▒▓█!]")
WORST_CASE = re.compile(r"^worst case: seed (\d+) \(error ratio (\S+)\); rerun it alone with:$")


# --- finding the examples -------------------------------------------------------------------


@dataclass
class Example:
    doc: Path
    command: str
    expected: str  # the pasted output, lines joined by "\n" (the block's indent taken off)
    code: int | None  # the exit code from a following `$ echo $?`, if any
    start: int  # line numbers in the doc (0-based) of the output, [start, end)
    end: int
    code_line: int | None  # line number of the pasted exit code
    indent: str = ""  # the block's own indent (a block inside a list item)

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
    """Every command in the doc's ``console`` blocks (indented ones too, as in a list item),
    with its pasted output and exit code."""
    lines = doc.read_text().splitlines()
    found: list[Example] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        text = [line.removeprefix(indent) for line in lines]
        i += 1
        entries: list[tuple[str, int, int]] = []  # command, output start, output end
        while i < len(lines) and text[i].strip() != "```":
            if text[i].startswith("$ "):
                command = text[i][2:]
                while not _complete(command) and i + 1 < len(lines):
                    i += 1
                    command += "\n" + text[i]
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
                code = int(text[code_line])
            expected = "\n".join(text[start:end])
            found.append(Example(doc, command, expected, code, start, end, code_line, indent))
    return found


CASES = [case for doc in DOCS for case in examples(doc)]


# --- running them ---------------------------------------------------------------------------


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    env["NO_COLOR"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_in_bash(command: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``command`` through bash from the project root, the stderr of every part of it merged
    into its stdout, as a terminal shows both."""
    return subprocess.run(
        ["bash", "-c", "{ " + command + "\n} 2>&1"],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        env=_environment(),
    )


def _first_pipe(command: str) -> int | None:
    """Where the first ``|`` outside quotes is (not ``||``), or None."""
    quote = None
    escaped = False
    for i, c in enumerate(command):
        if escaped:
            escaped = False
        elif c == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "|":
            return None if command[i + 1 : i + 2] == "|" else i
    return None


def in_process(command: str) -> tuple[list[str], dict[str, str], str | None] | None:
    """(arguments, environment, the filter its stdout is piped to) of a plain ``gradcheck``
    command, or None when the shell has more to do than pass it arguments."""
    pipe = _first_pipe(command)
    head, rest = (command, None) if pipe is None else (command[:pipe], command[pipe + 1 :])
    if any(c in head for c in "|&;<>()$`\\\n*?"):
        return None
    words = shlex.split(head)
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    if not words or words[0] != "gradcheck":
        return None
    return words[1:], env, rest


@contextmanager
def _at_root() -> Iterator[None]:
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(here)


def run_gradcheck(args: list[str], env: Mapping[str, str]) -> tuple[int, str, str, str]:
    """gradcheck in this process: (exit code, stdout, stderr, what a terminal shows: the two
    interleaved)."""
    from click.testing import CliRunner

    from gradcheck.cli import cli

    settings: dict[str, str | None] = {"NO_COLOR": "1", "COLUMNS": None, "FORCE_COLOR": None}
    with _at_root():
        result = CliRunner().invoke(cli, args, env={**settings, **env}, prog_name="gradcheck")
    return result.exit_code, result.stdout, result.stderr, result.output


def run_example(command: str) -> subprocess.CompletedProcess[str]:
    """The command's exit code and output (stdout and stderr merged), as the doc shows it."""
    plain = in_process(command)
    if plain is None:
        return run_in_bash(command)
    args, env, rest = plain
    code, stdout, stderr, output = run_gradcheck(args, env)
    if rest is None:
        return subprocess.CompletedProcess(command, code, output, "")
    # In ``gradcheck … | filter`` only gradcheck's stdout goes down the pipe (its stderr shows
    # first: the filter prints when the pipe closes); the pipeline's exit code is the filter's.
    filtered = run_in_bash(rest, stdin=stdout)
    return subprocess.CompletedProcess(command, filtered.returncode, stderr + filtered.stdout, "")


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


def numbers_agree(
    a: float,
    e: float,
    *,
    error: bool,
    ratio: bool,
    passing: bool,
    scale: float = 0.0,
    floor: float = ERROR_FLOOR["float64"],
    rel_tol: float = REL_TOL,
) -> bool:
    """Whether an actual and a pasted number say the same (see the module docstring)."""
    if abs(a - e) <= rel_tol * max(abs(a), abs(e), scale):
        return True
    if not error:
        return False
    if passing:
        return math.isfinite(a) and math.isfinite(e)
    limit = RATIO_FLOOR if ratio else floor
    return abs(a) <= limit and abs(e) <= limit


def _is_passing(line: str) -> bool:
    return "✓" in line and "✗" not in line


def _tokens(text: str) -> list[str]:
    return [t if not t.isspace() else " " for t in TOKEN.findall(text)]


def _scale(tokens: list[str]) -> float:
    """The largest magnitude among the numbers of a line that are not whole numbers."""
    values = [abs(v) for t in tokens if not WHOLE.fullmatch(t) and (v := _number(t)) is not None]
    finite = [v for v in values if math.isfinite(v)]
    return max(finite, default=0.0)


def _tokens_agree(
    actual: str,
    expected: str,
    *,
    error: bool,
    passing: bool,
    floor: float,
    tie: bool = False,
    rel_tol: float = REL_TOL,
) -> bool:
    """Token by token; ``error`` makes every number in the text error-sized (a table cell);
    ``tie`` makes the seed of a tied worst case a wildcard; ``rel_tol`` is the tolerance of
    values."""
    got, want = _tokens(actual), _tokens(expected)
    if len(got) != len(want):
        return False
    scale = max(_scale(got), _scale(want))
    before = ""  # the text before the current token, to tell an error-sized number
    for k, (a, e) in enumerate(zip(got, want, strict=True)):
        words = before.split()
        last = words[-1] if words else ""
        if INDEX.fullmatch(e) and INDEX.fullmatch(a):
            if error or not words or last in ("│", "at", "worst"):
                before += e
                continue
        if passing and last == "worst" and WORD.fullmatch(a) and WORD.fullmatch(e):
            before += e  # a tie among equal errors on a passing line
            continue
        if tie and last in ("seed", "ratio") and _number(a) is not None and _number(e) is not None:
            before += e  # the seed and error ratio of a passing sweep's worst case
            continue
        if last == "needs" and WHOLE.fullmatch(a) and WHOLE.fullmatch(e):
            before += e  # the width of a folded table
            continue
        na, ne = _number(a), _number(e)
        if na is not None and ne is not None:
            after = want[k + 1] if k + 1 < len(want) else ""
            ratio = after == "×" or last == "ratio"
            sized = error or ratio or last in ERROR_WORDS
            whole = WHOLE.fullmatch(a) and WHOLE.fullmatch(e)
            if whole and not sized:
                if na != ne:
                    return False
            elif not numbers_agree(
                na,
                ne,
                error=sized,
                ratio=ratio,
                passing=passing,
                scale=scale,
                floor=floor,
                rel_tol=rel_tol,
            ):
                return False
        elif a != e:
            return False
        before += e
    return True


def _cells(line: str, bar: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip(bar).split(bar)]


def _row_agrees(actual: str, expected: str, header: list[str], floor: float) -> bool:
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
        at_worst = name.endswith("[worst]")
        if at_worst and not same_worst:
            continue  # the value at a different (tied) worst element
        if name == "worst seed" and passing:
            continue
        error = "err" in name or "|Δ|" in name
        if name == "worst":
            error = True  # an index cell: a wildcard
        rel_tol = WORST_TOL if at_worst and passing else REL_TOL
        if not _tokens_agree(
            a, e, error=error, passing=passing and error, floor=floor, rel_tol=rel_tol
        ):
            return False
    return True


@dataclass(frozen=True)
class Line:
    """A line of output with what it is part of: the table whose row it may be (its column
    names) and, for lines whose content is a tie or rounding noise, which kind."""

    text: str
    header: tuple[str, ...] = ()
    kind: str = ""  # "", "map" (a heat map of rounding noise), "tie", "tie-command"


def _dtype(lines: list[str]) -> str:
    return next((m[1] for line in lines if (m := CAPTION.match(line))), "float64")


def describe(lines: list[str], dtype: str) -> list[Line]:
    """Each line with its table header and kind (see ``Line``)."""
    out: list[Line] = []
    header: tuple[str, ...] = ()
    kinds = [""] * len(lines)
    for i, line in enumerate(lines):
        worst = MAP_WORST.match(line)
        size = None if worst is None else _number(worst[1])
        if size is not None and abs(size) <= ERROR_FLOOR[dtype]:
            j = i + 1
            while j < len(lines) and lines[j].strip():
                kinds[j] = "map"
                j += 1
            kinds[i] = "map"
            if i > 0 and MAP_HEAD.match(lines[i - 1]):
                kinds[i - 1] = "map"
        case = WORST_CASE.match(line)
        ratio = None if case is None else _number(case[2])
        if ratio is not None and abs(ratio) < 1:
            kinds[i] = "tie"
            if i + 1 < len(lines):
                kinds[i + 1] = "tie-command"
    for line, kind in zip(lines, kinds, strict=True):
        if line.lstrip().startswith("┃"):
            header = tuple(_cells(normalise(line), "┃"))
        out.append(Line(line, header, kind))
    return out


def _noise(line: str) -> str:
    """A heat-map line with what rounding decides taken out: counts, bands, markers."""
    line = re.sub(r"✗ \d+ out", "✗ N out", line)
    return MAP_CELLS.sub("#", line.replace("▶", " ").replace("▼", " "))


def line_agrees(
    actual: str | Line,
    expected: str | Line,
    header: list[str] | None = None,
    dtype: str = "float64",
) -> bool:
    """One output line against its pasted line (``header``: the table's column names)."""
    got = actual if isinstance(actual, Line) else Line(actual, tuple(header or ()))
    want = expected if isinstance(expected, Line) else Line(expected)
    a, e = normalise(got.text), normalise(want.text)
    floor = ERROR_FLOOR[dtype]
    if got.kind and got.kind == want.kind:
        if got.kind == "tie-command":
            return a.split()[:2] == e.split()[:2]  # the same command, another (tied) case
        if got.kind == "map":
            if MAP_WORST.match(a) and MAP_WORST.match(e):
                return True
            a, e = normalise(_noise(a)), normalise(_noise(e))
    if e.startswith(VERDICTS) or a.startswith(VERDICTS):
        ma, me = FAILED_NAMES.match(a), FAILED_NAMES.match(e)
        if ma and me:
            names = (set(ma[2].split(", ")), set(me[2].split(", ")))
            return ma[1] == me[1] and names[0] == names[1]
        return a == e
    if e.startswith("│") and a.startswith("│"):
        return _row_agrees(a, e, list(got.header), floor)
    passing = _is_passing(a) and _is_passing(e)
    tie = got.kind == want.kind == "tie"
    return _tokens_agree(a, e, error=False, passing=passing, floor=floor, tie=tie)


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
    raw = _lines(actual)
    dtype = _dtype(raw)
    got = describe(raw, dtype)
    chunks = [describe(chunk, dtype) for chunk in _chunks(expected)]

    def fits(at: int, chunk: list[Line]) -> bool:
        return at + len(chunk) <= len(got) and all(
            line_agrees(got[at + j], line, dtype=dtype) for j, line in enumerate(chunk)
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


def shows(example: Example, result: subprocess.CompletedProcess[str]) -> bool:
    """Whether a run of the example prints what the doc shows, with the exit code it shows."""
    code_ok = example.code is None or result.returncode == example.code
    return code_ok and matches(result.stdout, example.expected)


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("example", CASES, ids=[c.name for c in CASES])
def test_doc_example_prints_what_it_shows(example: Example) -> None:
    result = run_example(example.command)
    assert shows(example, result), (result.returncode, result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        "gradcheck run --x 0.974 0.312 --impl samples/backward_buggy.py:backward",
        "gradcheck run --x 1 --layers 2,0,1",
        "COLUMNS=60 gradcheck run --x 0.974 0.312 --detail --probes 0 | tail -5",
    ],
)
def test_in_process_runs_print_what_the_program_prints(command: str) -> None:
    """The shortcut above: gradcheck in this process prints the installed program's bytes."""
    assert in_process(command) is not None
    shortcut, program = run_example(command), run_in_bash(command)
    assert shortcut.stdout == program.stdout and shortcut.returncode == program.returncode


def test_which_commands_run_in_this_process() -> None:
    assert in_process("gradcheck run --x 1 2") == (["run", "--x", "1", "2"], {}, None)
    assert in_process("COLUMNS=60 gradcheck run") == (["run"], {"COLUMNS": "60"}, None)
    assert in_process("gradcheck schema | python -c 'print(\"a|b\")'") == (
        ["schema"],
        {},
        " python -c 'print(\"a|b\")'",
    )
    for shell in ("printf 1 | gradcheck run --data -", "gradcheck run; echo $?", "python -c 1"):
        assert in_process(shell) is None


def test_there_are_examples_to_check() -> None:
    assert len(CASES) >= 15
    assert {c.doc.name for c in CASES} >= {"README.md", "oracle.md", "sweep.md", "explain.md"}


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "pip install -c constraints.txt -e '.[test]' && python -m pytest"
    assert command in readme
    assert "-c constraints.txt -e '.[test]'" in ci and "python -m pytest" in ci
    # and the doc examples again under torch's portable kernels (and AVX2's where present)
    assert "ATEN_CPU_CAPABILITY" in ci and "tests/contracts/test_docs.py" in ci
    assert "(default)" in ci and "avx2" in ci
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


def _tables(header: str) -> list[str]:
    """The docs that hold a markdown table whose first row starts with ``header``."""
    return [
        doc.relative_to(ROOT).as_posix()
        for doc in DOCS
        if any(line.startswith(header) for line in doc.read_text().splitlines())
    ]


def test_one_exit_code_table_and_one_tolerance_table_true_to_the_code() -> None:
    from gradcheck.core.tolerance import DEFAULT_TOLERANCES, NORM_TOLERANCES

    assert _tables("| code | meaning |") == ["README.md"]
    assert _tables("| `--dtype` | atol | rtol |") == ["docs/verdict.md"]
    text = (ROOT / "docs" / "verdict.md").read_text()
    rows = re.findall(r"^\| (float\d\d)[^|]* \| (\S+) \| (\S+) \| (\S+) \|", text, re.M)
    documented = {dtype: tuple(map(float, numbers)) for dtype, *numbers in rows}
    code = {d: (t.atol, t.rtol, NORM_TOLERANCES[d]) for d, t in DEFAULT_TOLERANCES.items()}
    assert documented == code
    readme = (ROOT / "README.md").read_text()
    for code_row in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 130 |"):
        assert code_row in readme, code_row


def test_links_between_docs_resolve() -> None:
    for doc in DOCS:
        for link in re.findall(r"\]\(([^)#\s:]+\.md)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / link).resolve().is_file(), (doc, link)


# --- regeneration: python -m tests.contracts.test_docs --regen [--all] --------------------


def regenerate(doc: Path, *, everything: bool = False) -> tuple[int, list[str]]:
    """Rerun the examples in ``doc`` and write the real output of each one that no longer shows
    what the doc shows (of every one, with ``everything``) in place; return how many were
    written and the problems.

    An example that still matches keeps its pasted output, so a rerun on another CPU changes
    no digits. A full output is replaced by the new one. An excerpt (with ``…`` lines) keeps
    its shape: each chunk is replaced by the lines it matched; an excerpt that no longer
    matches is left as it was and reported, to be edited by hand.
    """
    lines = doc.read_text().splitlines()
    problems: list[str] = []
    written = 0
    for ex in reversed(examples(doc)):  # from the bottom, so earlier line numbers hold
        result = run_example(ex.command)
        if not everything and shows(ex, result):
            continue
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
            lines[ex.code_line] = ex.indent + str(result.returncode)
        lines[ex.start : ex.end] = [ex.indent + line if line else line for line in new]
        written += 1
    doc.write_text("\n".join(lines) + "\n")
    return written, problems


def main(argv: list[str]) -> int:
    if argv not in (["--regen"], ["--regen", "--all"]):
        print("usage: python -m tests.contracts.test_docs --regen [--all]", file=sys.stderr)
        return 2
    written, problems = 0, []
    for doc in DOCS:
        n, found = regenerate(doc, everything="--all" in argv)
        written += n
        problems += found
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"rewrote {written} of {len(CASES)} examples in {len(DOCS)} files", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
