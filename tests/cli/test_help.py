"""Help texts match the program: every --option the docs use after `gradcheck <command>`
appears in that command's --help, and every --help runs."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT, invoke

COMMANDS = ("run", "sweep", "explain", "schema", "init")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "samples" / "README.md"]


def _help(command: str) -> str:
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _documented_options() -> list[tuple[str, str, str]]:
    """(file, command, --option) for every `gradcheck <command> … --option` in the docs."""
    found = []
    for path in DOCS:
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
        # commands as typed: at a line's start (``$ gradcheck …``) or in `inline code`
        command = r"(?:^[ \t]*(?:\$ )?|`)gradcheck (run|sweep|explain|schema|init)\b([^\n`|;&]*)"
        for match in re.finditer(command, text, re.MULTILINE):
            for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", match.group(2)):
                found.append((path.name, match.group(1), option))
    return sorted(set(found))


def test_every_help_runs() -> None:
    top = invoke("--help")
    assert top.exit_code == 0
    for command in COMMANDS:
        if command in top.stdout:
            _help(command)


def test_docs_find_options_at_all() -> None:
    # guard against a regex that silently finds nothing
    assert any(opt == "--x" for _, cmd, opt in _documented_options() if cmd == "run")


@pytest.mark.parametrize(("doc", "command", "option"), _documented_options())
def test_documented_option_is_in_the_commands_help(doc: str, command: str, option: str) -> None:
    assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", _help(command)), (
        f"{doc}: `gradcheck {command} … {option}` but {option} is not in "
        f"`gradcheck {command} --help`"
    )


def test_schema_help_names_every_document() -> None:
    text = " ".join(_help("schema").split())
    for document in ("run", "sweep", "explain"):
        assert document in text


def test_sweep_help_does_not_mention_options_it_rejects() -> None:
    text = _help("sweep")
    assert "--junit" not in text and "--plot" not in text


def test_run_help_lists_every_oracle_method_from_its_record() -> None:
    from gradcheck.core.oracle_methods import METHODS

    text = " ".join(_help("run").split())
    for m in METHODS.values():
        assert f"{m.name} ({m.summary})" in text, m.name


def test_tolerance_help_states_the_default_of_each_dtype() -> None:
    from gradcheck.core.tolerance import DEFAULT_TOLERANCES

    text = " ".join(_help("run").split())
    for part in ("atol", "rtol"):
        match = re.search(
            rf"--{part} FLOAT .*? Default per dtype: (\S+) \(float64\), (\S+) \(float32\)\.", text
        )
        assert match, part
        stated = (float(match[1]), float(match[2]))
        assert stated == tuple(getattr(DEFAULT_TOLERANCES[d], part) for d in ("float64", "float32"))
