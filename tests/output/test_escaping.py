"""Terminal safety: text from files and user code (paths, exception messages) is escaped in
tables, captions, error lines and JUnit XML, and never taken as rich markup."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SAMPLES, SEED_X, assert_usage_error, invoke

SAMPLE = SAMPLES / "backward_seed.py"

HOSTILE_NAME = "e\x1b[31mred\x07[bold]x"


def test_escape_sequences_in_paths_are_escaped_everywhere(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    impl = tmp_path / f"{HOSTILE_NAME}.py"
    impl.write_text(SAMPLE.read_text())
    data = tmp_path / f"{HOSTILE_NAME}.csv"
    data.write_text("0.974,0.312,1\n")
    junit = tmp_path / "j.xml"
    result = invoke("run", "--data", str(data), "--impl", f"{impl}:backward", "--junit", str(junit))
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b[31mred\\x07[bold]x" in result.stdout  # shown, escaped, not taken as markup
    root = ET.parse(junit).getroot()  # parseable
    values = [p.get("value") for p in root.iter("property")]
    assert any("\\x1b" in (v or "") for v in values)
    explain = invoke("explain", "--data", str(data), "--no-color")
    assert "\x1b" not in explain.stdout
    bad = invoke("run", "--data", str(tmp_path / "missing\x1b]0;title\x07.csv"))
    assert_usage_error(bad, "missing\\x1b]0;title\\x07.csv")


def test_user_exception_text_is_escaped_in_the_traceback(tmp_path: Path) -> None:
    path = tmp_path / "evil.py"
    path.write_text('def backward(p, x, y):\n    raise ValueError("\\x1b[2J wiped")\n')
    result = invoke("run", *SEED_X, "--impl", f"{path}:backward")
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "\\x1b[2J wiped" in result.stderr


def test_markup_in_a_sweep_impl_path_is_text(tmp_path: Path) -> None:
    folder = tmp_path / "a["
    folder.mkdir()
    impl = folder / "bold]x.py"  # the path reads a[/bold]x.py: closing tag rich would reject
    impl.write_text(SAMPLE.read_text())
    result = invoke("sweep", "--cases", "2", "--impl", f"{impl}:backward", "--no-color")
    assert result.exit_code == 0, result.stderr
    assert "a[/bold]x.py" in result.stdout
