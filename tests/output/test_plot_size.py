"""Heat maps at size: block maxima, the PNG's size cap, the deep-network summary in
``--plot`` and ``--detail``, and the failing tensors that always get a full map."""

from __future__ import annotations

import dataclasses
import io
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from rich.console import Console

from gradcheck.api import check
from gradcheck.checks.report import Report
from gradcheck.core.compare import Comparison, compare
from gradcheck.core.tolerance import Tolerance
from gradcheck.output.detail import overview, render_details
from gradcheck.output.errormap import (
    DEEP,
    FULL,
    block_maxima,
    error_map,
    peak,
    pick_full,
    ratios,
)
from tests.conftest import invoke, render_text

TOL = Tolerance(atol=1e-6, rtol=1e-6)
CAP_PX = 2400


# ---------------------------------------------------------------------------------------------
# Helpers


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk (bytes 16–24), not from an image library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


text_of = render_text


def brute_block_maxima(grid: NDArray[np.float64], a: int, b: int) -> NDArray[np.float64]:
    """The reference: one Python loop per cell over plain slices, NaN checked explicitly."""
    n, m = grid.shape
    rows, cols = -(-n // a), -(-m // b)
    out = np.empty((rows, cols))
    for i in range(rows):
        for j in range(cols):
            block = grid[i * a : (i + 1) * a, j * b : (j + 1) * b].ravel().tolist()
            out[i, j] = math.nan if any(math.isnan(v) for v in block) else max(block)
    return out


def injected(c: Comparison, where: tuple[int, ...], value: float, **kw: Any) -> Comparison:
    """``c`` with the hand side's element ``where`` set to ``value`` (compared again)."""
    hand = np.array(c.candidate, dtype=np.float64)
    hand[where] = value
    return compare(c.name, c.reference, hand, c.tolerance, torch_name=c.torch_name, **kw)


def with_params(
    report: Report, changes: Mapping[str, Callable[[Comparison], Comparison]]
) -> Report:
    params = tuple(changes[c.name](c) if c.name in changes else c for c in report.parameters)
    assert {c.name for c in params} >= set(changes)
    return dataclasses.replace(report, parameters=params)


def off_by(delta: float, where: tuple[int, ...]) -> Callable[[Comparison], Comparison]:
    return lambda c: injected(c, where, float(c.reference[where]) + delta)


def nan_at(where: tuple[int, ...]) -> Callable[[Comparison], Comparison]:
    return lambda c: injected(c, where, math.nan)


def norm_only() -> Callable[[Comparison], Comparison]:
    """Every element inside atol, the whole tensor 50 % off: only the norm rule fails it."""

    def change(c: Comparison) -> Comparison:
        hand = np.asarray(c.reference, dtype=np.float64) * 1.5
        out = compare(c.name, c.reference, hand, TOL, torch_name=c.torch_name, norm_tol=1e-6)
        assert out.n_failed == 0 and not out.passed
        return out

    return change


@pytest.fixture(scope="module")
def mnist() -> Report:
    """784→512→512→10 (MNIST size), cross-entropy, two errors in W1, a NaN in W2."""
    x = np.random.default_rng(0).random((2, 784))
    report = check(x, [3, 7], layers=(784, 512, 512, 10), loss="cross_entropy")
    return with_params(
        report,
        {
            "W1": lambda c: off_by(1e-5, (10, 20))(off_by(1e-3, (300, 700))(c)),
            "W2": nan_at((17, 5)),
        },
    )


@pytest.fixture(scope="module")
def deep() -> Report:
    """2→8×40→1: 82 parameter tensors, all passing; an atol of 1e-6 (above every rounding
    bound there) makes an injected error's ratio follow its size."""
    return check([0.974, 0.312], layers=(2, *[8] * 40, 1), atol=TOL.atol, rtol=TOL.rtol)


# ---------------------------------------------------------------------------------------------
# Block maxima


@pytest.mark.parametrize(
    ("shape", "cap"),
    [
        ((1, 1), (4, 4)),
        ((7, 5), (3, 2)),  # ragged on both sides: blocks 3×3, edge blocks 1×… and …×2
        ((10, 10), (10, 10)),  # fits: no reduction
        ((13, 17), (4, 5)),
        ((1, 1000), (1, 128)),  # a bias
        ((300, 500), (24, 30)),
        ((5, 3), (1, 1)),  # everything in one cell
        ((512, 784), (128, 128)),
        ((2, 9), (5, 4)),  # rows fit, columns do not
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_block_maxima_match_a_brute_force_reference(
    shape: tuple[int, int], cap: tuple[int, int], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    grid = rng.random(shape) * 10.0 ** rng.integers(-12, 3, size=shape)
    grid[rng.random(shape) < 0.05] = 0.0
    grid[rng.random(shape) < 0.02] = np.inf  # finite sides, zero tolerance
    grid[rng.random(shape) < 0.02] = np.nan
    blocks = block_maxima(grid, *cap)
    a, b = blocks.block
    assert blocks.grid.shape[0] <= cap[0] and blocks.grid.shape[1] <= cap[1]
    # The block is the smallest that fits the cap.
    assert a == 1 or -(-shape[0] // (a - 1)) > cap[0]
    assert b == 1 or -(-shape[1] // (b - 1)) > cap[1]
    assert blocks.downsampled == ((a, b) != (1, 1))
    np.testing.assert_array_equal(blocks.grid, brute_block_maxima(grid, a, b))
    # The cells' spans tile the grid: every element in exactly one block.
    covered = np.zeros(shape, dtype=int)
    for i in range(blocks.grid.shape[0]):
        for j in range(blocks.grid.shape[1]):
            (r0, r1), (c0, c1) = blocks.span((i, j))
            covered[r0:r1, c0:c1] += 1
            assert blocks.cell((r1 - 1, c1 - 1)) == (i, j) == blocks.cell((r0, c0))
    assert (covered == 1).all()


def test_nan_wins_its_block_over_inf_and_large_ratios() -> None:
    grid = np.array([[1e9, np.inf, 0.0, 0.5], [np.nan, 2.0, 0.25, 0.0]])
    blocks = block_maxima(grid, 1, 2)
    assert blocks.block == (2, 2)
    assert np.isnan(blocks.grid[0, 0]) and blocks.grid[0, 1] == 0.5


def test_padding_never_shows_and_zero_blocks_stay_zero() -> None:
    grid = np.zeros((5, 7))
    grid[4, 6] = 3.0  # alone in the last, ragged block
    blocks = block_maxima(grid, 2, 2)
    assert blocks.block == (3, 4) and blocks.grid.tolist() == [[0.0, 0.0], [0.0, 3.0]]


@pytest.mark.parametrize("where", [(0, 0), (299, 499), (250, 420), (149, 250), (17, 5)])
def test_the_worst_element_lands_in_its_block(where: tuple[int, int]) -> None:
    c = injected(
        compare("W1", np.ones((300, 500)), np.ones((300, 500)), TOL, torch_name="dense.0.weight"),
        where,
        1.5,
    )
    m = error_map(c)
    assert m.worst == where
    blocks = block_maxima(ratios(c), 12, 40)
    cell = blocks.cell(m.worst)
    assert np.unravel_index(int(np.argmax(blocks.grid)), blocks.grid.shape) == cell
    (r0, r1), (c0, c1) = blocks.span(cell)
    assert r0 <= where[0] < r1 and c0 <= where[1] < c1
    assert blocks.grid[cell] == pytest.approx(c.error_ratio)


def test_block_maxima_refuses_what_is_not_a_grid() -> None:
    with pytest.raises(ValueError, match="2-D"):
        block_maxima(np.zeros(4), 2, 2)


# ---------------------------------------------------------------------------------------------
# Which tensors a deep network shows in full


def test_pick_full_prefers_the_failing_tensor_nearest_the_output(deep: Report) -> None:
    report = with_params(
        deep,
        {"W3": off_by(1e-2, (1, 1)), "W30": off_by(1e-5, (0, 0)), "b12": nan_at((2,))},
    )
    params = report.parameters
    peaks = [peak(ratios(c)) for c in params]
    names = [params[i].name for i in pick_full(params, peaks, 2)]
    # W30 fails least but is nearest the output; NaN (b12) beats W3's finite ratio.
    assert names == ["b12", "W30"]
    chosen = pick_full(params, peaks, FULL)
    assert chosen == sorted(chosen) and len(chosen) == FULL
    assert {"W3", "W30", "b12"} <= {params[i].name for i in chosen}
    assert pick_full(params, peaks, 0) == []


# ---------------------------------------------------------------------------------------------
# --plot


def _panel_images(fig: Any) -> dict[str, Any]:
    from gradcheck.output.plot import PANEL_LABEL

    return {
        ax.get_label().split(":", 1)[1]: ax
        for ax in fig.axes
        if ax.get_label().startswith(PANEL_LABEL + ":")
    }


@pytest.mark.slow
def test_plot_of_a_large_network_is_downsampled_and_capped(mnist: Report) -> None:
    from gradcheck.output.plot import MAX_CELLS, figure, summary_panel, to_png

    data = to_png(mnist)
    width, height = png_size(data)
    assert width <= CAP_PX and height <= CAP_PX
    fig = figure(mnist)
    assert summary_panel(fig) is None  # 6 tensors: one panel each
    fig.canvas.draw()
    axes = _panel_images(fig)
    assert list(axes) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for name, ax in axes.items():
        cells = ax.images[0].get_array().shape
        assert cells[0] <= MAX_CELLS and cells[1] <= MAX_CELLS
        box = ax.get_window_extent()
        # Every cell gets at least one pixel, so nearest-neighbour drawing drops none.
        assert box.width >= cells[1] and box.height >= cells[0], name
    w1 = axes["W1"]
    assert "block maxima: each cell = max of 4×7 elements" in w1.get_title()
    assert "block maxima" not in axes["b3"].get_title()
    logs = w1.images[0].get_array()
    # The worst (300, 700) is in cell (75, 100), the other error (10, 20) in (2, 2): both
    # out of tolerance (log10 > 0), and nothing else is.
    assert sorted(zip(*np.nonzero(np.ma.filled(logs, 0.0) > 0), strict=True)) == [(2, 2), (75, 100)]
    # The marker boxes the worst's block: rows 300–303, columns 700–706.
    assert w1.collections[0].get_offsets().tolist() == [[703.0, 301.5]]
    assert w1.get_xlim() == (-0.5, 783.5) and w1.get_ylim() == (511.5, -0.5)
    w2 = axes["W2"].images[0].get_array()
    assert np.ma.getmaskarray(w2)[17 // 4, 5 // 4] or np.isnan(w2[17 // 4, 5 // 4])


@pytest.mark.slow
def test_a_single_bad_element_survives_drawing(mnist: Report) -> None:
    """Pixels, not data: at the centre of each bad cell the PNG has that band's exact colour
    (smoothing while resampling, matplotlib's default, would blend it with its neighbours)."""
    from matplotlib.colors import to_rgba

    from gradcheck.output.plot import COLOURS, NONFINITE_COLOUR, figure

    fig = figure(mnist)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())
    axes = _panel_images(fig)
    red, purple = (np.round(np.array(to_rgba(c)) * 255) for c in (COLOURS[-1], NONFINITE_COLOUR))
    # Block centres in element coordinates: W1 blocks are 4×7, W2 blocks 4×4.
    for name, (x, y), colour in [
        ("W1", (703.0, 301.5), red),  # the worst, boxed: (300, 700)
        ("W1", (17.0, 9.5), red),  # (10, 20), nothing marks it but its colour
        ("W2", (5.5, 17.5), purple),  # NaN at (17, 5)
    ]:
        px, py = axes[name].transData.transform((x, y))
        row = pixels.shape[0] - 1 - int(py)  # display y counts up from the bottom
        assert (pixels[row, int(px)] == colour).all(), (name, x, y)


@pytest.mark.slow
def test_plot_of_a_deep_network_has_a_summary_and_six_panels(deep: Report, tmp_path: Path) -> None:
    from gradcheck.output.plot import SUMMARY_LABEL, figure, panels, summary_panel, to_png

    assert len(deep.parameters) > DEEP
    fig = figure(deep)
    summary = summary_panel(fig)
    assert summary is not None and summary.get_label() == SUMMARY_LABEL
    assert len(summary.patches) == len(deep.parameters)  # one bar per tensor
    assert "all 82 parameter tensors in layer order, 0 failing" in summary.get_title()
    peaks = [peak(ratios(c)) for c in deep.parameters]
    worst = sorted(range(len(peaks)), key=lambda i: peaks[i], reverse=True)[:FULL]
    assert panels(fig) == [deep.parameters[i].name for i in sorted(worst)]
    width, height = png_size(to_png(deep))
    assert (width, height) == tuple(round(v * fig.dpi) for v in fig.get_size_inches())
    assert width <= CAP_PX and height <= CAP_PX


@pytest.mark.slow
def test_every_failing_tensor_of_a_deep_network_gets_a_panel(deep: Report) -> None:
    from gradcheck.output.plot import figure, panels, summary_panel

    report = with_params(
        deep, {"W2": off_by(1e-2, (3, 1)), "b17": nan_at((4,)), "W25": norm_only()}
    )
    fig = figure(report)
    shown = panels(fig)
    assert {"W2", "b17", "W25"} <= set(shown) and len(shown) == FULL
    summary = summary_panel(fig)
    assert summary is not None
    assert "3 failing" in summary.get_title()
    assert "every failing one, then the worst" in summary.get_title()
    # ▼ over each failing tensor (a scatter at the top), ▲ under each full panel.
    fails, full = (np.asarray(s.get_offsets())[:, 0].tolist() for s in summary.collections)
    index = {c.name: i for i, c in enumerate(report.parameters)}
    assert fails == [index["W2"], index["b17"], index["W25"]]
    assert full == sorted(index[name] for name in shown)


def test_more_failing_tensors_than_panels_keeps_the_one_nearest_the_output(deep: Report) -> None:
    from gradcheck.output.plot import figure, panels, summary_panel

    changes = {f"W{k}": off_by(1e-3 * k, (0, 0)) for k in range(1, 12)}
    changes["b30"] = off_by(1e-5, (0,))  # the smallest failure, nearest the output
    fig = figure(with_params(deep, changes))
    shown = panels(fig)
    assert len(shown) == FULL and "b30" in shown
    assert shown[:-1] == ["W7", "W8", "W9", "W10", "W11"]  # the largest errors
    summary = summary_panel(fig)
    assert summary is not None and "6 of 12 failing" in summary.get_title()


@pytest.mark.slow
def test_cli_plot_of_300_layers_is_capped(tmp_path: Path) -> None:
    # Its time is benchmarks/bench_plot_size.py's (docs/performance.md). What keeps it short, a
    # summary and six panels instead of 602, is tested on a deep report above; here, the whole
    # command's image stays within the cap.
    target = tmp_path / "deep.png"
    layers = ",".join(["2", *["8"] * 300, "1"])
    result = invoke("run", "--x", "0.1", "0.2", "--layers", layers, "--plot", str(target), "-q")
    assert result.exit_code == 0, result.stderr
    width, height = png_size(target.read_bytes())
    assert width <= CAP_PX and height <= CAP_PX


@pytest.mark.slow
def test_summary_bars_share_beyond_the_bar_limit() -> None:
    from matplotlib.colors import to_rgba

    from gradcheck.output.plot import COLOURS, SUMMARY_MAX_BARS, figure, summary_panel

    layers = (2, *[3] * 200, 1)  # 402 tensors
    report = with_params(check([0.5, 0.5], layers=layers), {"b150": off_by(1.0, (1,))})
    summary = summary_panel(figure(report))
    assert summary is not None
    bars = summary.patches
    assert len(bars) == -(-402 // 2) <= SUMMARY_MAX_BARS
    assert "each bar = max of 2 neighbouring tensors" in summary.get_title()
    index = [c.name for c in report.parameters].index("b150")
    red = [i for i, bar in enumerate(bars) if bar.get_facecolor() == to_rgba(COLOURS[-1])]
    assert red == [index // 2]


# ---------------------------------------------------------------------------------------------
# --detail


def test_detail_overview_shows_errors_outside_the_window() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(300, 500))
    hand = ref.copy()
    hand[250, 420] += 1e-3  # the worst: the window sits around it
    hand[10, 20] += 1e-4  # far outside the window
    c = compare("W1", ref, hand, TOL, torch_name="dense.0.weight")
    m = error_map(c, max_rows=24, max_cols=30)
    assert not (m.rows[0] <= 10 < m.rows[1])
    blocks = block_maxima(ratios(c), 12, 70)
    assert blocks.block == (25, 8)
    lines = text_of(overview(m, blocks)).splitlines()
    assert lines[0] == "  overview of all 300×500: each cell = max of 25×8 elements"
    rows = lines[3:]
    assert len(rows) == 12 and sum(row.count("█") for row in rows) == 2
    # The worst's cell: block row 10 (elements 250–274), column 52 (416–423).
    worst_row = next(row for row in rows if row.startswith("▶"))
    assert worst_row.split()[1] == "250" and worst_row.index("█") == lines[1].index("▼")
    assert rows[0].split()[:1] == ["0"] and rows[0].index("█") == len("    0 ") + 2
    assert lines[2].split()[:3] == ["0", "80", "160"]  # every tenth cell, 8 columns per cell


@pytest.mark.slow
def test_detail_of_a_large_network_at_80_columns(mnist: Report) -> None:
    out = text_of(render_details(mnist, width=80))
    maps = out[out.index("W1 · dense.0.weight") :]
    assert max(map(len, maps.splitlines())) <= 80
    assert "overview of all 512×784: each cell = max of 43×11 elements" in maps
    assert "overview of all 1×512: each cell = max of 7 elements" in maps
    assert "overview" not in maps[maps.index("b3 · dense.4.bias") :]  # 10 fit: no overview
    w1 = maps[: maps.index("b1 · dense.0.bias")]
    assert w1.count("█") == 1 + 2  # the window's worst, then both errors in the overview
    w2 = maps[maps.index("W2 · dense.2.weight") : maps.index("b2 · dense.2.bias")]
    assert w2.count("!") == 2


def test_detail_of_a_deep_network_summarises(deep: Report) -> None:
    long = "encoder.layers.11.attention.output.dense.weight"
    report = with_params(
        deep,
        {
            "W2": off_by(1e-2, (3, 1)),
            "W25": norm_only(),
            "b40": lambda c: dataclasses.replace(c, torch_name=long),
        },
    )
    out = text_of(render_details(report, width=80))
    body = out[out.index("82 parameter tensors") :]
    assert max(map(len, body.splitlines())) <= 80
    assert "82 parameter tensors (more than 12): one line each, 2 failing" in body
    lines = body.splitlines()
    listed = body.split("\n\n")[0].splitlines()[2:]  # after the two lines of heading
    assert len(listed) == 82
    by_name = {line.split()[1]: line for line in listed}
    assert "✗ 1 out" in by_name["W2"] and "◆" in by_name["W2"] and "█" in by_name["W2"]
    assert "✗ norm rule" in by_name["W25"] and "◆" in by_name["W25"]
    assert "encoder.layers.11" in by_name["b40"] and "…" in by_name["b40"]
    assert sum("◆" in line for line in listed) == FULL
    heat_maps = [line for line in lines if re.match(r"[Wb]\d+ · ", line)]
    assert len(heat_maps) == FULL
    assert any(h.startswith("W2 · dense.2.weight  8×8  ✗ 1 out") for h in heat_maps)
    assert any(h.startswith("W25 · dense.48.weight  8×8  ✗ norm rule") for h in heat_maps)


BUGGY_DEEP = """
import numpy as np

def backward(params, x, y):
    depth = len(params) // 2
    a = [x]
    for layer in range(1, depth + 1):
        z = a[-1] @ params[f"W{layer}"].T + params[f"b{layer}"]
        a.append(1.0 / (1.0 + np.exp(-z)) if layer < depth else z)
    delta = 2.0 * (a[-1] - y) / y.size
    grads = {}
    for layer in range(depth, 0, -1):
        grads[f"W{layer}"] = delta.T @ a[layer - 1]
        grads[f"b{layer}"] = delta.sum(axis=0)
        if layer > 1:
            delta = (delta @ params[f"W{layer}"]) * a[layer - 1] * (1.0 - a[layer - 1])
    grads["W28"][3, 1] += 1e-3
    return grads
"""


@pytest.mark.slow
def test_cli_detail_of_a_deep_buggy_backward_fits_80_columns(tmp_path: Path) -> None:
    impl = tmp_path / "deep.py"
    impl.write_text(BUGGY_DEEP)
    layers = ",".join(["2", *["8"] * 30, "1"])
    result = invoke(
        "run", "--x", "0.974", "0.312", "--layers", layers, "--impl", f"{impl}:backward",
        "--detail", env={"COLUMNS": "80", "NO_COLOR": "1"},
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    out = result.stdout
    assert max(map(len, out.splitlines())) <= 80
    body = out[out.index("62 parameter tensors") :]
    assert "62 parameter tensors (more than 12): one line each, 1 failing" in body
    assert "W28 · dense.54.weight  8×8  ✗ 1 out" in body
    listed = body.split("\n\n")[0].splitlines()[2:]
    assert len(listed) == 62 and sum("◆" in line for line in listed) == FULL
    assert [line.split()[1] for line in listed if "✗" in line] == ["W28"]


def test_help_states_the_limits_the_code_uses() -> None:
    from gradcheck.output.plot import DPI, MAX_INCHES

    # The help text cannot import them (--help loads no numpy), so it repeats them: checked.
    text = " ".join(invoke("run", "--help").stdout.split())
    side = round(MAX_INCHES * DPI)
    assert f"over {DEEP} parameters: one summary line each and {FULL} maps" in text
    assert f"over {DEEP} parameters: a summary panel and {FULL} panels" in text
    assert f"at most {side}×{side} px" in text


def test_detail_says_when_failing_tensors_outnumber_the_maps(deep: Report) -> None:
    changes = {f"W{k}": off_by(1e-3 * k, (0, 0)) for k in range(1, 12)}
    changes["b30"] = off_by(1e-5, (0,))
    out = text_of(render_details(with_params(deep, changes), width=80))
    head = " ".join(out[out.index("82 parameter tensors") :].split("\n  ")[0].split())
    assert head == (
        "82 parameter tensors (more than 12): one line each, 12 failing; heat maps below (◆) "
        "for 6: 6 of 12 failing: the one nearest the output, then the worst."
    )
    maps = [line.split()[0] for line in out.splitlines() if re.match(r"[Wb]\d+ · ", line)]
    assert maps == ["W7", "W8", "W9", "W10", "W11", "b30"]


def test_overview_colours_cells_by_band_and_reverses_the_worst() -> None:
    ref = np.ones((300, 500))
    hand = ref.copy()
    hand[250, 420] += 1e-3
    c = compare("W1", ref, hand, TOL, torch_name="dense.0.weight")
    console = Console(file=io.StringIO(), width=120, color_system="standard", force_terminal=True)
    console.print(overview(error_map(c, 24, 30), block_maxima(ratios(c), 12, 70)))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[0].startswith("\x1b[2m  overview")  # the heading is dim, the cells are not
    worst = next(line for line in lines if "▶" in line)
    assert "\x1b[1;7;31m█\x1b[0m" in worst  # bold red, reversed
    assert "\x1b[32m····" in worst and "\x1b[2;32m" not in worst


@pytest.mark.slow
def test_a_deep_networks_title_is_elided_in_every_output() -> None:
    """The table, explain and sweep titles and the plot's all use ``NetSpec.brief``: a
    61-layer chain was two lines of 4→4→… in the table's title at 80 columns."""
    from gradcheck.core.spec import BRIEF_CHARS, NetSpec
    from gradcheck.output.table import render_report

    deep = NetSpec((2, *[4] * 60, 1))
    assert deep.brief() == "2→4→4→…→4→1 (61 layers) sigmoid, mse"
    assert len("→".join(map(str, deep.layers))) > BRIEF_CHARS
    seed = NetSpec()
    assert seed.brief() == seed.describe() == "2→10→10→1 sigmoid, mse"  # short ones: as they are
    many = NetSpec((2, *[4] * 60, 1), activation=",".join(["tanh", "relu"] * 30))
    assert len(many.brief()) == BRIEF_CHARS and many.brief().endswith("…")
    report = check([0.5, 0.5], layers=deep.layers)
    text = render_text(render_report(report), width=80)
    assert "2→4→4→…→4→1 (61 layers)" in text and "4→4→4→4" not in text


@pytest.mark.slow
def test_a_deep_networks_table_shows_the_rows_that_matter_and_says_so() -> None:
    """61 layers are 183 parameter and δ rows: the table keeps 40, failing ones first (here a
    wrong b30 deep in the middle, which must not be cut), and its caption counts the rest."""
    from gradcheck.output import table
    from gradcheck.output.columns import CUT_ROWS, MAX_ROWS

    layers = (2, *[4] * 60, 1)
    whole = check([0.5, 0.5], layers=layers)
    report = with_params(whole, {"b30": off_by(1.0, (2,))})
    text = render_text(table.render_report(report), width=160)
    labels = re.findall(r"^│ (\S+)", text, flags=re.MULTILINE)
    assert "b30" in labels and "b31" not in labels[:3]  # kept; the others by error ratio
    assert len([name for name in labels if name not in ("prediction", "loss")]) == CUT_ROWS
    note = re.sub(r"\s+", " ", text)
    assert "rows: 40 of the 183 parameter and δ rows shown, failing ones first" in note
    assert "the other 143 are all within tolerance, the largest error ratio" in note
    # Shown in network order (W1 … δ61), forward values always.
    names = [c.name.replace("delta", "δ") for c in report.comparisons]
    order = [n for n in labels if n not in ("prediction", "loss")]
    assert order == sorted(order, key=names.index)
    # Every row is still in the document.
    assert len(report.parameters) + len(report.deltas) == 183
    # A network of up to MAX_ROWS rows shows them all, with no note.
    small = check([0.5, 0.5], layers=(2, *[4] * 19, 1))  # 20 layers: 40 + 20 rows
    assert len(small.parameters) + len(small.deltas) == MAX_ROWS
    assert "rows:" not in render_text(table.render_report(small), width=160)


def test_many_warnings_of_one_kind_are_cut_to_three_and_a_line_naming_the_rest() -> None:
    from gradcheck.checks.health import Notice
    from gradcheck.output.table import warning_lines

    tiny = [Notice("tiny_gradient", f"W{i}: too small", subject=f"W{i}") for i in range(1, 21)]
    other = [Notice("saturated", "layer 1: stuck", 1, "layer 1")]
    from rich.console import Group

    text = re.sub(r"\s+", " ", render_text(Group(*warning_lines([*other, *tiny])), width=200))
    assert text.count("warning:") == 1 + 3 + 1
    assert "W1: too small" in text and "W3: too small" in text and "W4: too small" not in text
    assert (
        "… and 17 more of this kind (gradients too small to judge elementwise): "
        "W4, W5, W6, W7, W8, W9, W10, W11, … (--json lists each)"
    ) in text
    few = [Notice("zero_gradient", f"b{i}: zero", subject=f"b{i}") for i in range(6)]
    assert render_text(Group(*warning_lines(few)), width=200).count("warning:") == 6  # all


@pytest.mark.slow
def test_a_deep_networks_sweep_table_is_cut_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """sweep has a row per quantity too: 183 for 61 layers, cut as run's table is."""
    from gradcheck.checks import sweep
    from gradcheck.output.columns import CUT_ROWS

    layers = ",".join(["2", *["4"] * 60, "1"])
    whole = invoke("sweep", "--cases", "2", "--layers", layers, "--no-color")
    assert whole.exit_code == 0, whole.stderr
    text = re.sub(r"\s+", " ", whole.stdout)
    assert "rows: 40 of the 183 quantity rows shown, failing ones first" in text
    assert "the other 143 are all within tolerance" in text
    # A failing quantity deep in the network is kept.
    original = sweep.replica_hand

    def wrong_b30(spec, params, x, y):  # type: ignore[no-untyped-def]
        answer = original(spec, params, x, y)
        answer.grads["b30"] = answer.grads["b30"] + 1.0
        return answer

    monkeypatch.setattr(sweep, "replica_hand", wrong_b30)
    failing = invoke("sweep", "--cases", "2", "--layers", layers, "--no-color")
    assert failing.exit_code == 1
    labels = re.findall(r"^│ (\S+)", failing.stdout, flags=re.MULTILINE)
    assert "b30" in labels
    assert len([n for n in labels if n not in ("prediction", "loss")]) == CUT_ROWS
    assert "the other 143 are all within tolerance" in re.sub(r"\s+", " ", failing.stdout)
