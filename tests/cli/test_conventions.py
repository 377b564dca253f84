"""CLI conventions: colour, quiet, width, env-var defaults, completion, help."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from gradcheck.core import functions
from tests.conftest import assert_usage_error, invoke

SEED_X = ("--x", "0.974", "0.312")
COMMANDS = [
    ("run", *SEED_X),
    ("run", *SEED_X, "--detail"),
    ("explain", *SEED_X),
]


@pytest.mark.parametrize("args", COMMANDS)
@pytest.mark.parametrize(
    "how",
    [
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, ()),
        ({"FORCE_COLOR": "1"}, ("--no-color",)),
    ],
)
def test_no_color_means_no_escape_codes_even_when_forced(
    args: tuple[str, ...], how: tuple[dict[str, str], tuple[str, ...]]
) -> None:
    env, flags = how
    result = invoke(*args, *flags, env=env)
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and result.stdout.strip()


@pytest.mark.parametrize("args", COMMANDS)
def test_forced_colour_does_colour(args: tuple[str, ...]) -> None:
    # The control for the test above: the same output with FORCE_COLOR alone has escapes.
    assert "\x1b[" in invoke(*args, env={"FORCE_COLOR": "1", "NO_COLOR": ""}).stdout


def test_quiet_prints_nothing_and_keeps_the_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    ok = invoke("run", *SEED_X, "--quiet")
    assert (ok.exit_code, ok.stdout, ok.stderr) == (0, "", "")
    assert invoke("run", *SEED_X, "-q").stdout == ""
    broken = dataclasses.replace(functions.ACTIVATIONS["sigmoid"], df=np.ones_like)
    monkeypatch.setitem(functions.ACTIVATIONS, "sigmoid", broken)
    failed = invoke("run", *SEED_X, "--quiet")
    assert (failed.exit_code, failed.stdout, failed.stderr) == (1, "", "")


def test_quiet_still_reports_bad_input() -> None:
    assert_usage_error(invoke("run", "--x", "1", "--quiet"), "--x: expected 2 values")
    assert_usage_error(invoke("run", *SEED_X, "--quiet", "--json"), "--quiet: cannot be combined")


@pytest.mark.parametrize("columns", [60, 100])
@pytest.mark.parametrize("args", COMMANDS)
def test_output_width_follows_the_terminal(columns: int, args: tuple[str, ...]) -> None:
    result = invoke(*args, env={"COLUMNS": str(columns)})
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns


def test_piped_output_is_wide_enough_not_to_wrap() -> None:
    # Not a terminal and no COLUMNS: 160 columns, so the run table keeps one line per row.
    result = invoke("run", *SEED_X, env={"COLUMNS": ""})
    lines = result.stdout.splitlines()
    assert 80 < max(len(line) for line in lines) <= 160
    assert sum("dense." in line for line in lines) == 6


@pytest.mark.parametrize(
    ("env", "key", "expected"),
    [
        ({"GRADCHECK_DTYPE": "float32"}, "dtype", "float32"),
        ({"GRADCHECK_SEED": "3"}, "seed", 3),
        ({"GRADCHECK_ATOL": "1e-3"}, "atol", 1e-3),
        ({"GRADCHECK_RTOL": "0"}, "rtol", 0.0),
    ],
)
def test_env_var_defaults(env: dict[str, str], key: str, expected: object) -> None:
    for command in ("run", "explain"):
        doc = json.loads(invoke(command, *SEED_X, "--json", env=env).stdout)
        assert doc["settings"][key] == expected


def test_options_beat_env_vars() -> None:
    env = {"GRADCHECK_DTYPE": "float32", "GRADCHECK_SEED": "3", "GRADCHECK_ATOL": "1e-3"}
    doc = json.loads(
        invoke(
            "run",
            *SEED_X,
            "--dtype",
            "float64",
            "--seed",
            "1",
            "--atol",
            "1e-9",
            "--json",
            env=env,
        ).stdout
    )
    assert (doc["settings"]["dtype"], doc["settings"]["seed"]) == ("float64", 1)
    assert doc["settings"]["atol"] == 1e-9


def test_help_shows_env_vars_and_the_output_options() -> None:
    out = " ".join(invoke("run", "--help").stdout.split())  # help wraps at 80 columns
    for text in (
        "env var: GRADCHECK_DTYPE",
        "env var: GRADCHECK_SEED",
        "env var: GRADCHECK_ATOL",
        "env var: GRADCHECK_RTOL",
        "--detail",
        "--plot FILE.png",
        "--junit FILE.xml",
        "-q, --quiet",
    ):
        assert text in out, text
    top = invoke("-h").stdout
    assert "explain" in top and "schema" in top and "run" in top
    assert 'eval "$(_GRADCHECK_COMPLETE=bash_source gradcheck)"' in top


def test_version() -> None:
    assert invoke("--version").stdout.strip() == "gradcheck, version 0.1.0"


def test_bash_completion_script() -> None:
    result = invoke(env={"_GRADCHECK_COMPLETE": "bash_source"})
    assert result.exit_code == 0
    assert "_gradcheck_completion()" in result.stdout
    assert "complete -o nosort -F _gradcheck_completion gradcheck" in result.stdout
