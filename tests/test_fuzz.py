"""Fuzzing the CLI: whatever the arguments or file contents, the outcome is one of the contract's.

Commands run, explain and sweep. Allowed: exit 0 or 1 with exactly one valid JSON document on
stdout (under ``--json``, valid against the shipped schema), or exit 2
with one ``Error: …`` line on stderr and nothing on stdout. Never exit 3 (an internal error), never
a traceback. CI runs the seeded "ci" profile; ``HYPOTHESIS_PROFILE=thorough`` runs thousands.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from gradcheck.cli import cli
from tests.conftest import assert_valid_document

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["0", "-0", "1e308", "-1e308", "1e-320", "5e-324", "1e39", "nan", "-inf"]),
)
GARBAGE = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "--", "-", "1,2", "a b"]))
OPTIONS = {
    "--x": st.lists(st.one_of(NUMBERS, GARBAGE), min_size=0, max_size=4),
    "--target": st.lists(st.one_of(NUMBERS, GARBAGE), min_size=0, max_size=3),
    "--layers": st.one_of(
        st.lists(st.integers(-2, 12), min_size=0, max_size=5).map(
            lambda xs: ",".join(map(str, xs))
        ),
        GARBAGE,
    ).map(lambda v: [v]),
    "--activation": st.sampled_from(["sigmoid", "tanh", "relu", "elu", "bogus"]).map(lambda v: [v]),
    "--loss": st.sampled_from(["mse", "l1", "bce_logits", "cross_entropy", "x"]).map(lambda v: [v]),
    "--dtype": st.sampled_from(["float64", "float32", "float16"]).map(lambda v: [v]),
    "--seed": st.one_of(NUMBERS, GARBAGE).map(lambda v: [v]),
    "--atol": st.one_of(NUMBERS, GARBAGE).map(lambda v: [v]),
    "--rtol": st.one_of(NUMBERS, GARBAGE).map(lambda v: [v]),
    "--no-arrays": st.just([]),
}


# Options each command takes; sweep's --cases stays small so an example stays fast.
COMMAND_OPTIONS = {
    "run": sorted(OPTIONS),
    "explain": sorted(set(OPTIONS) - {"--no-arrays"}),
    "sweep": ["--layers", "--activation", "--loss", "--dtype", "--seed", "--atol", "--rtol"],
}
SWEEP_ONLY = {
    "--cases": st.one_of(st.integers(-3, 40).map(str), GARBAGE).map(lambda v: [v]),
    "--batch-size": st.one_of(st.integers(-2, 6).map(str), GARBAGE).map(lambda v: [v]),
}


@st.composite
def argument_lists(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(COMMAND_OPTIONS)))
    args: list[str] = [command]
    if command == "sweep":
        if draw(st.integers(0, 9)):  # mostly give --cases, sometimes forget it
            args += ["--cases", *draw(SWEEP_ONLY["--cases"])]
        if draw(st.booleans()):
            args += ["--batch-size", *draw(SWEEP_ONLY["--batch-size"])]
    elif draw(st.booleans()):
        args += ["--x", *draw(st.lists(NUMBERS, min_size=2, max_size=2))]
    for name in draw(st.lists(st.sampled_from(COMMAND_OPTIONS[command]), max_size=5)):
        args += [name, *draw(OPTIONS[name])]
    return args


def check_outcome(args: list[str]) -> None:
    """``args`` start with the command; ``--json`` is added."""
    result = CliRunner().invoke(cli, [*args, "--json"], prog_name="gradcheck")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr, (args, result.stderr)
    if result.exit_code in (0, 1):
        doc = json.loads(result.stdout)
        assert_valid_document(doc)
        assert doc["exit_code"] == result.exit_code and doc["passed"] is (result.exit_code == 0)
    else:
        assert result.exit_code == 2, (args, result.exit_code, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), (args, result.stderr)


@given(argument_lists())
def test_random_arguments_keep_the_contract(args: list[str]) -> None:
    check_outcome(args)


FILE_KINDS = st.sampled_from([".pt", ".pth", ".npz", ".csv", ".txt", ".json", ""])


@given(
    content=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.lists(
            st.lists(st.one_of(NUMBERS, GARBAGE), min_size=1, max_size=4).map(",".join),
            max_size=6,
        ).map(lambda rows: "\n".join(rows).encode()),
        # Prefixes of real files: truncation at any point.
        st.integers(0, 2000).map(lambda n: _real_npz()[:n]),
    ),
    suffix=FILE_KINDS,
    option=st.sampled_from(["--weights", "--data"]),
)
def test_random_file_contents_keep_the_contract(content: bytes, suffix: str, option: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(content)
        extra = ["--x", "0.974", "0.312"] if option == "--weights" else []
        check_outcome(["run", option, str(path), *extra])


_NPZ: list[bytes] = []


def _real_npz() -> bytes:
    if not _NPZ:
        import io

        import numpy as np

        buffer = io.BytesIO()
        np.savez(buffer, x=np.zeros((3, 2)), y=np.ones((3, 1)))
        _NPZ.append(buffer.getvalue())
    return _NPZ[0]


def test_regression_explain_with_overflowing_inputs() -> None:
    """Found by the fuzzer: explain let numpy's overflow warning escape as an internal error."""
    check_outcome(["explain", "--x", "0.0", "1.0311622009375142e+155", "--activation", "relu"])
    check_outcome(["sweep", "--cases", "3", "--layers", "2,4,1", "--activation", "elu"])
