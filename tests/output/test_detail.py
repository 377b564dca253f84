"""`run --detail` heat maps and `--plot` figures: bands, windows, markers, files."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck.api import check
from gradcheck.core import functions
from gradcheck.core.compare import compare
from gradcheck.core.tolerance import Tolerance
from gradcheck.output.detail import heat_map, render_details
from gradcheck.output.errormap import BANDS, NONFINITE_CHAR, band, error_map, ratios
from tests.conftest import assert_usage_error, invoke, render_text

SEED_X = ("--x", "0.974", "0.312")
TOL = Tolerance(atol=1e-6, rtol=1e-6)


_text = render_text


def _injected(shape: tuple[int, ...], where: tuple[int, ...], error: float = 1e-3) -> object:
    rng = np.random.default_rng(7)
    ref = rng.normal(size=shape)
    hand = ref.copy()
    hand[where] += error
    return compare("W9", ref, hand, TOL, torch_name="dense.16.weight")


def test_ratio_bands_are_inclusive_upper_bounds() -> None:
    r = np.array([[0.0, 1e-6, 2e-6, 1e-3, 0.05, 1.0, 1.0000001, np.nan]])
    assert band(r).tolist() == [[0, 0, 1, 1, 2, 3, 4, len(BANDS)]]


def test_ratios_match_the_comparison() -> None:
    c = _injected((6, 4), (2, 3))
    grid = ratios(c)  # type: ignore[arg-type]
    assert grid.shape == (6, 4)
    assert grid.max() == pytest.approx(c.error_ratio)  # type: ignore[attr-defined]
    assert np.unravel_index(np.argmax(grid), grid.shape) == (2, 3)


def test_small_parameter_shows_every_element_and_marks_the_worst() -> None:
    c = _injected((6, 4), (2, 3))
    m = error_map(c)  # type: ignore[arg-type]
    assert not m.windowed and m.worst == (2, 3)
    lines = _text(heat_map(m)).splitlines()
    assert lines[0] == "W9 · dense.16.weight  6×4  ✗ 1 out"
    assert lines[1].startswith("  worst [2, 3]: ")
    assert lines[2].rstrip().endswith("▼") and len(lines[2].rstrip()) == len(lines[3].rstrip())
    row2 = next(line for line in lines if line.startswith("▶"))
    assert row2.split() == ["▶", "2", "·", "·", "·", "█"]
    assert sum(line.count("█") for line in lines) == 1


def test_large_parameter_gets_a_bounded_window_around_the_worst() -> None:
    c = _injected((300, 500), (250, 420))
    m = error_map(c, max_rows=24, max_cols=30)  # type: ignore[arg-type]
    assert m.windowed and m.grid.shape == (24, 30)
    assert m.rows[0] <= 250 < m.rows[1] and m.cols[0] <= 420 < m.cols[1]
    out = _text(heat_map(m))
    assert f"window: rows {m.rows[0]}–{m.rows[1] - 1}, columns {m.cols[0]}–" in out
    assert "of 300×500, around the worst" in out
    assert out.count("█") == 1
    # At the edge the window shifts instead of shrinking.
    edge = error_map(_injected((300, 500), (299, 0)), max_rows=24, max_cols=30)  # type: ignore[arg-type]
    assert edge.rows == (276, 300) and edge.cols == (0, 30)


def test_nonfinite_elements_have_their_own_character() -> None:
    ref = np.ones((3, 3))
    hand = ref.copy()
    hand[1, 1] = np.nan
    m = error_map(compare("W1", ref, hand, TOL, torch_name="dense.0.weight"))
    assert m.worst == (1, 1)
    assert NONFINITE_CHAR in _text(heat_map(m))


def test_render_details_fit_the_width_and_have_a_legend() -> None:
    report = check([[0.1] * 40], layers=(40, 120, 1), dtype="float32")
    out = _text(render_details(report, width=80), width=80)
    assert "each cell is the verdict's ratio" in out and "+ 4E" in out
    for _, char, label in BANDS:
        assert f"{char} {label}" in out
    assert "of 120×40, around the worst" in out  # W1 has too many rows
    assert max(len(line) for line in out.splitlines()) <= 80


def test_cli_detail_shows_where_the_broken_backward_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = dataclasses.replace(functions.ACTIVATIONS["sigmoid"], df=np.ones_like)
    monkeypatch.setitem(functions.ACTIVATIONS, "sigmoid", broken)
    result = invoke("run", *SEED_X, "--detail", env={"NO_COLOR": "1", "FORCE_COLOR": "1"})
    assert result.exit_code == 1
    out = result.stdout
    assert "\x1b[" not in out
    w3 = out.index("W3 · dense.4.weight  1×10  ✓")
    w2 = out.index("W2 · dense.2.weight  10×10  ✗ 100 out")
    assert "█" in out[w2:w3] and "█" not in out[w3:]  # W2 fails, W3 (above σ′) does not


def test_detail_with_json_is_refused() -> None:
    assert_usage_error(invoke("run", *SEED_X, "--detail", "--json"), "--detail: cannot be")


@pytest.mark.slow
def test_plot_writes_a_png_with_one_panel_per_parameter(tmp_path: Path) -> None:
    from PIL import Image

    from gradcheck.output.plot import figure, panels

    target = tmp_path / "errors.png"
    result = invoke("run", "--x", "0.1", "0.2", "0.3", "--layers", "3,4,5,2", "--plot", str(target))
    assert result.exit_code == 0, result.stderr
    assert "PASSED" in result.stdout
    assert target.stat().st_size > 10_000
    report = check([0.1, 0.2, 0.3], layers=(3, 4, 5, 2))
    fig = figure(report)
    assert panels(fig) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    with Image.open(target) as image:
        assert image.format == "PNG"
        width, height = image.size
    # 6 panels in a 3×2 grid: the figure is 3 panels wide and 2 high.
    w_in, h_in = fig.get_size_inches()
    assert (width, height) == (round(w_in * fig.dpi), round(h_in * fig.dpi))
    assert [p.name for p in tmp_path.iterdir()] == ["errors.png"]  # no temp file left


@pytest.mark.slow
def test_plot_panel_count_follows_the_depth() -> None:
    from gradcheck.output.plot import figure, panels

    fig = figure(check([0.5], layers=(1, 3, 3, 3, 1)))
    assert len(panels(fig)) == 8


@pytest.mark.parametrize("where", ["missing_dir", "directory"])
def test_plot_unwritable_path_exits_2(tmp_path: Path, where: str) -> None:
    path = tmp_path / "no" / "such" / "x.png" if where == "missing_dir" else tmp_path
    result = invoke("run", *SEED_X, "--plot", str(path))
    assert_usage_error(result, "--plot: ", str(path))


def test_plot_without_matplotlib_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    result = invoke("run", *SEED_X, "--plot", "x.png")
    assert_usage_error(result, "--plot: needs matplotlib", "pip install 'gradcheck[plot]'")
