"""The oracle at size: a sampled oracle, a budget refused up front, progress."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gradcheck.api import check
from gradcheck.checks import oracle as oracle_module
from gradcheck.checks.oracle import oracle_numbers, sample_indices, units_for
from gradcheck.checks.problem import Request, setup
from gradcheck.core import numeric
from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import NetSpec
from tests.conftest import ROOT, invoke

SEED_X = ["--x", "0.974", "0.312"]
BUGGY = str(ROOT / "samples" / "backward_buggy.py") + ":backward"


def _problem(layers: tuple[int, ...] = (3, 7, 5, 2), rows: int = 4) -> tuple[object, object]:
    x = np.random.default_rng(1).uniform(-1, 1, (rows, layers[0]))
    y = np.random.default_rng(2).uniform(0, 1, (rows, layers[-1]))
    return setup(Request(x=x.tolist(), target=y.tolist(), layers=layers))


@pytest.mark.parametrize("k", [1, 2, 5, 17, 1000])
@pytest.mark.parametrize("seed", [0, 3])
def test_sample_holds_k_elements_with_the_largest_and_the_focus(k: int, seed: int) -> None:
    spec = NetSpec((3, 7, 5, 2))
    rng = np.random.default_rng(seed)
    grads = {p.name: rng.normal(size=p.shape) for p in spec.parameters()}
    focus = {p.name: tuple(int(rng.integers(n)) for n in p.shape) for p in spec.parameters()}
    samples = sample_indices(spec, k, seed, grads, focus)
    for p in spec.parameters():
        idx = samples[p.name]
        size = int(np.prod(p.shape))
        assert len(idx) == min(k, size)
        assert np.all(np.diff(idx) > 0)  # sorted, no repeats
        assert 0 <= idx.min() and idx.max() < size
        largest = int(np.argmax(np.abs(grads[p.name])))
        worst = int(np.ravel_multi_index(focus[p.name], p.shape))
        # With k = 1 only one of the two fits: the worst hand-vs-autograd element is kept.
        assert worst in idx
        if k >= 2:
            assert largest in idx
    again = sample_indices(spec, k, seed, grads, focus)
    assert all(np.array_equal(samples[n], again[n]) for n in samples)  # seeded


def test_samples_of_different_seeds_differ() -> None:
    spec = NetSpec((30, 40, 1))
    grads = {p.name: np.ones(p.shape) for p in spec.parameters()}
    a = sample_indices(spec, 10, 0, grads, {})
    b = sample_indices(spec, 10, 1, grads, {})
    assert not np.array_equal(a["W1"], b["W1"])


def test_units_cover_every_sampled_element() -> None:
    spec = NetSpec((3, 7, 5, 2))
    samples = {p.name: np.arange(0, int(np.prod(p.shape)), 3) for p in spec.parameters()}
    units = units_for(spec, samples)
    for layer in range(1, spec.depth + 1):
        rows = set((samples[f"W{layer}"] // spec.layers[layer - 1]).tolist())
        assert rows | set(samples[f"b{layer}"].tolist()) == set(units[layer].tolist())


@pytest.mark.parametrize("method", ["central", "richardson", "complex-step"])
def test_sampled_values_are_the_full_oracles_values(method: str) -> None:
    problem, _ = _problem()
    spec, params, x, y = problem.spec, problem.params, problem.x, problem.y
    grads = {p.name: np.ones(p.shape) for p in spec.parameters()}
    full = oracle_numbers(spec, params, x, y, method)
    sampled = oracle_numbers(spec, params, x, y, method, sample=4, autograd=grads, seed=5)
    assert sampled.elements == sum(min(4, v.size) for v in full.references.values())
    for name, idx in sampled.samples.items():
        np.testing.assert_allclose(
            sampled.references[name], full.references[name].reshape(-1)[idx], rtol=0, atol=0
        )


def test_a_sampled_oracle_names_the_wrong_side() -> None:
    # W2 is transposed in the sample; its worst element is always in the sample.
    report = check([0.974, 0.312], impl=BUGGY, oracle="central", oracle_sample=1, probes=0)
    assert report.oracle is not None
    assert report.oracle.disagreeing == ("hand",)
    assert "W2 (oracle vs hand)" in report.failed
    correct = check([0.974, 0.312], oracle="richardson", oracle_sample=2)
    assert correct.exit_code == 0 and correct.oracle is not None and correct.oracle.checked
    # Said wherever the oracle's verdict is: a sample is not the whole.
    assert correct.oracle.verdict.endswith("hand-derived on a sample of 11 elements")
    result = invoke("run", *SEED_X, "--oracle", "richardson", "--oracle-sample", "2")
    assert "oracle (richardson, float64, a sample of 11 elements):" in result.stdout


@pytest.mark.slow
def test_json_lists_the_sampled_indices() -> None:
    args = [*SEED_X, "--oracle", "central", "--oracle-sample", "3", "--json"]
    result = invoke("run", *args)  # validated against the schema by invoke
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["settings"]["oracle_sample"] == 3 and doc["oracle"]["sampled"] is True
    assert doc["oracle"]["elements"] == 3 * 5 + 1  # b3 has one element
    for record in doc["parameters"]:
        indices = record["oracle_indices"]
        assert len(indices) == len(record["oracle"]) == min(3, int(np.prod(record["shape"])))
        assert all(len(i) == len(record["shape"]) for i in indices)
        assert record["worst_index"] in indices  # the worst hand-vs-autograd element
        values = np.array(record["autograd"]).reshape(record["shape"])
        for i, v in zip(indices, record["oracle"], strict=True):
            assert v == pytest.approx(values[tuple(i)], rel=1e-7, abs=1e-9)
    assert invoke("run", *args).stdout == result.stdout  # byte-identical
    full = json.loads(invoke("run", *SEED_X, "--oracle", "central", "--json").stdout)
    assert full["oracle"]["sampled"] is False and full["settings"]["oracle_sample"] is None
    assert all("oracle_indices" not in r for r in full["parameters"])


def test_table_shows_the_oracle_value_at_the_worst_element() -> None:
    from gradcheck.output.table import plain_text, render_report

    report = check([0.974, 0.312], impl=BUGGY, oracle="central", oracle_sample=1, probes=0)
    assert report.oracle is not None
    text = plain_text(render_report(report), 300)
    assert "oracle[worst]" in text
    for c in report.parameters:
        value = report.oracle.value_at(c.name, c.worst_index, c.shape)
        assert value is not None  # the worst element is always sampled
        (row,) = [line for line in text.splitlines() if line.startswith(f"│ {c.label} ")]
        assert f"{value:.6e}" in row
    # An element that was not sampled has no oracle value.
    w1 = report.parameters[0]
    sampled = set(report.oracle.samples["W1"].tolist())
    other = next(i for i in range(int(np.prod(w1.shape))) if i not in sampled)
    assert report.oracle.value_at("W1", np.unravel_index(other, w1.shape), w1.shape) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--oracle-sample", "5"], "--oracle-sample: needs --oracle central, richardson or"),
        (
            ["--oracle", "directional", "--oracle-sample", "5"],
            "--oracle-sample: the directional oracle checks projections, not elements",
        ),
        (["--oracle", "central", "--oracle-sample", "0"], "--oracle-sample: must be between 1"),
        (["--oracle", "central", "--oracle-sample", "-3"], "--oracle-sample: must be between 1"),
        (
            ["--oracle", "central", "--oracle-sample", "9" * 300],
            "--oracle-sample: must be between 1 and 1,000,000, got 300 digits",
        ),
        (["--oracle", "central", "--oracle-budget", "-1"], "--oracle-budget: must be a finite"),
        (["--oracle", "central", "--oracle-budget", "nan"], "--oracle-budget: must be a finite"),
        (["--oracle", "central", "--oracle-budget", "inf"], "--oracle-budget: must be a finite"),
        (["--oracle", "central", "--oracle-sample", "x"], "'x' is not a valid integer"),
    ],
)
def test_bad_oracle_limits_are_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = invoke("run", *SEED_X, *args, "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_oracle_over_budget_is_refused_before_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, int, float]] = []
    problem, _ = _problem((2, 256, 256, 1), rows=16)
    spec = problem.spec
    # A machine on which the full oracle would take 1000 s with the margin (the rate is what it
    # is measured to be; here it is set, so that what fits is known).
    slow = oracle_module.ESTIMATE_MARGIN * numeric.cost(spec, 16, "central") / 1000.0
    monkeypatch.setattr(numeric, "rate", lambda *_: slow)
    with pytest.raises(GradcheckError) as err:
        oracle_numbers(
            spec, problem.params, problem.x, problem.y, "central",
            budget=60.0, progress=lambda *args: calls.append(args),
        )  # fmt: skip
    text = err.value.cli_message
    assert calls == []  # refused before any block was computed
    assert text.startswith("--oracle-budget: the central oracle would take about 17 min here")
    assert "(66,817 parameters, batch 16; estimated from a timed sample)" in text
    assert "over the budget of 60 s" in text
    # What fits: the largest sample on the ladder, and the directional oracle.
    expected = next(
        k
        for k in oracle_module.SAMPLE_LADDER
        if oracle_module.estimate_seconds(
            spec, 16, "central", {1: min(256, 2 * k), 2: min(256, 2 * k), 3: 1}, slow
        )
        <= 60
    )
    assert expected == 3
    assert "within it: --oracle-sample 3 (about 23 s) or --oracle directional (about" in text
    assert text.endswith("or raise --oracle-budget (0: no limit)")
    assert str(err.value).startswith("oracle_budget: ")  # the API's name
    # 0 is no limit; a budget the estimate fits runs.
    oracle_numbers(spec, problem.params, problem.x, problem.y, "central", sample=2,
                   autograd={p.name: np.ones(p.shape) for p in spec.parameters()},
                   budget=0.0)  # fmt: skip


def test_the_cli_refuses_an_oracle_over_budget_with_exit_2() -> None:
    data = ROOT / "samples" / "three_class.csv"
    result = invoke(
        "run", "--data", str(data), "--layers", "2,64,64,3", "--loss", "cross_entropy",
        "--oracle", "central", "--oracle-budget", "1e-9", "--json",
    )  # fmt: skip
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: --oracle-budget: the central oracle would take about")
    assert "raise --oracle-budget (0: no limit)" in line


def _gradcheck() -> str:
    script = Path(sys.executable).parent / "gradcheck"
    assert script.exists(), "the gradcheck console script is not installed"
    return str(script)


def _run_with_terminal_stderr(args: list[str], tmp: Path) -> tuple[int, str, str]:
    """Run the installed script with stderr on a pseudo-terminal and stdout to a file (a
    pipe nobody reads while the terminal is read would fill and block)."""
    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(COLUMNS="100", TERM="xterm-256color")
    out_path = tmp / "stdout.json"
    with out_path.open("wb") as out_file:
        proc = subprocess.Popen([_gradcheck(), *args], stdout=out_file, stderr=child, env=env)
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                data = os.read(main, 65536)
            except OSError:  # the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=60)
    os.close(main)
    return proc.returncode, out_path.read_text(), b"".join(chunks).decode(errors="replace")


ORACLE_RUN = [
    "run", "--data", str(ROOT / "samples" / "three_class.csv"), "--layers", "2,64,64,3",
    "--loss", "cross_entropy", "--oracle", "richardson", "--json",
]  # fmt: skip


@pytest.mark.slow
def test_progress_bar_on_a_terminal_and_never_on_stdout(tmp_path: Path) -> None:
    code, out, err = _run_with_terminal_stderr(ORACLE_RUN, tmp_path)
    assert code == 0, err
    doc = json.loads(out)  # stdout is exactly the document
    assert doc["oracle"]["method"] == "richardson"
    total = 3 * 64 + 65 * 64 + 65 * 3
    assert f"/{total:,} elements ·" in err
    assert "oracle " in err and "· left " in err
    assert "\x1b[?25l" in err  # rich's live display (cursor hidden), cleared at the end


@pytest.mark.parametrize("sample", [None, 3])
def test_progress_counts_every_element_and_ends_at_all_the_work(sample: int | None) -> None:
    problem, _ = _problem((3, 40, 30, 2), rows=5)
    spec = problem.spec
    calls: list[tuple[int, int, float]] = []
    grads = {p.name: np.ones(p.shape) for p in spec.parameters()}
    oracle_numbers(
        spec, problem.params, problem.x, problem.y, "central", sample=sample, autograd=grads,
        progress=lambda *args: calls.append(args),
    )  # fmt: skip
    done = [c[0] for c in calls]
    shares = [c[2] for c in calls]
    assert done == sorted(done) and shares == sorted(shares)
    total = calls[-1][1]
    assert all(c[1] == total for c in calls)
    assert done[-1] == total and shares[-1] == pytest.approx(1.0)
    if sample is None:
        assert total == spec.n_parameters
        # Layer 1's elements cost most (every later layer is recomputed for each): when its
        # 40 units (160 elements) are done, the share of work runs ahead of the elements'.
        at = done.index(40 * 4)
        assert shares[at] > 2 * done[at] / total
    else:
        # Whole rows are computed: the elements of every unit a sampled element lives in.
        assert total < spec.n_parameters


@pytest.mark.slow
def test_no_progress_bar_when_stderr_is_not_a_terminal() -> None:
    proc = subprocess.run([_gradcheck(), *ORACLE_RUN], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stderr == ""
    json.loads(proc.stdout)
