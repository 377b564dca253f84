"""Sweeps (checks/sweep.py): the stacked replica and per-case errors equal the single-case ones;
summaries, the worst case and its rerun command, oracles, user code and exit codes."""

from __future__ import annotations

import dataclasses
import json
import shlex

import numpy as np
import pytest

from gradcheck.checks import sweep
from gradcheck.core import functions, replica
from gradcheck.core.answer import Answer
from gradcheck.core.compare import compare
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import resolve_tolerance
from gradcheck.torch_side import stack as reference_stack
from tests.conftest import assert_usage_error, invoke
from tests.torch_side.test_stack import SPECS


def _settings(cases: int = 50, seed: int = 0, oracle: str | None = None, **kw: object):
    spec = kw.pop("spec", NetSpec())
    assert isinstance(spec, NetSpec)
    return sweep.SweepSettings(spec, cases, seed, 1, resolve_tolerance(spec.dtype), oracle)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.describe()} {s.dtype}")
def test_stacked_replica_is_bit_identical_to_single_cases(spec: NetSpec) -> None:
    seeds = list(range(4))
    params = reference_stack.init_states(spec, seeds)
    x, y = sweep.draw_batches(spec, len(seeds), 0, batch_size=2)
    together = sweep.replica_hand(spec, params, x, y)
    for i in range(len(seeds)):
        fwd, bwd = replica.gradients(spec, {k: v[i] for k, v in params.items()}, x[i], y[i])
        for name, g in bwd.grads.items():
            np.testing.assert_array_equal(together.grads[name][i], g)
        np.testing.assert_array_equal(together.loss[i], fwd.loss)


def test_per_case_errors_follow_compares_rule() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(6, 4, 3))
    cand = ref + rng.normal(scale=1e-7, size=ref.shape)
    cand[2, 1, 1] = np.nan
    tol = resolve_tolerance("float64")
    summary = sweep.per_case_errors(ref, cand, tol.atol, tol.rtol)
    max_abs, ratio, passed = summary.max_abs, summary.max_ratio, summary.passed
    for i in range(6):
        c = compare("W", ref[i], cand[i], tol)
        assert passed[i] == c.passed
        assert ratio[i] == pytest.approx(c.error_ratio)
        assert max_abs[i] == pytest.approx(c.max_abs_error)
    assert not passed[2] and np.isinf(ratio[2])


def test_sweep_passes_and_reports_every_quantity() -> None:
    report = sweep.run_sweep(_settings(40))
    assert report.passed and report.exit_code == 0 and report.n_passed == 40
    names = [q.name for q in report.quantities]
    params = ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert names == ["prediction", "loss", *params, "delta1", "delta2", "delta3"]
    assert all(q.max_abs.shape == (40,) for q in report.quantities)


def test_progress_is_reported_per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep, "CHUNK_BYTES", 1)  # one case per chunk
    seen: list[int] = []
    sweep.run_sweep(_settings(5), progress=seen.append)
    assert seen == [1, 2, 3, 4, 5]


def _break_one_case(index: int):
    correct = sweep.replica_hand

    def hand(spec, params, x, y) -> Answer:
        good = correct(spec, params, x, y)
        grads = {k: v.copy() for k, v in good.grads.items()}
        case = index  # absolute index; chunks start at 0 here (one chunk)
        grads["W2"][case, 3, 4] += 1e-3
        return Answer(good.prediction, good.loss, grads, good.deltas)

    return hand


def test_one_failing_case_fails_the_sweep_and_is_the_worst() -> None:
    report = sweep.run_sweep(_settings(30, seed=100), hand=_break_one_case(7))
    assert report.exit_code == 1 and report.n_passed == 29
    assert report.failed_seeds == [107]
    assert report.worst_case == 7
    w2 = next(q for q in report.quantities if q.name == "W2")
    assert int(np.count_nonzero(~w2.passed)) == 1
    assert w2.max_abs[7] == pytest.approx(1e-3, rel=1e-9)


def test_cli_sweep_exits_1_when_one_case_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep, "replica_hand", _break_one_case(12))
    result = invoke("sweep", "--cases", "20", "--seed", "5")
    assert result.exit_code == 1
    assert "FAILED: 19 of 20 cases within tolerance (95.00%)" in result.stdout
    assert "failing seeds: 17" in result.stdout
    doc = json.loads(invoke("sweep", "--cases", "20", "--seed", "5", "--json").stdout)
    assert doc["exit_code"] == 1 and doc["failed_seeds"] == [17]
    assert doc["worst_case"]["seed"] == 17 and doc["worst_case"]["passed"] is False


def test_cli_sweep_table_json_and_streams() -> None:
    result = invoke("sweep", "--cases", "25", "--seed", "3")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    out = result.stdout
    assert "gradcheck sweep: 25 cases · 2→10→10→1 sigmoid, mse · batch 1" in out
    assert "PASSED: 25 of 25 cases within tolerance (100.00%)" in out
    assert "seeds 3…27" in out and "x ~ U[-1, 1] · target U[0, 1]" in out
    assert "  gradcheck run --x " in out
    args = ("sweep", "--cases", "25", "--seed", "3", "--json")
    first = invoke(*args).stdout
    assert first == invoke(*args).stdout  # byte-identical
    doc = json.loads(first)
    assert doc["document"] == "sweep" and doc["passed"] is True and doc["pass_rate"] == 1.0
    assert doc["settings"]["seeds"] == [3, 27] and doc["settings"]["x_range"] == [-1.0, 1.0]
    assert [q["name"] for q in doc["quantities"]][:3] == ["prediction", "loss", "W1"]
    assert all(q["n_failed_cases"] == 0 for q in doc["quantities"])


def _rerun(command: str) -> dict:
    args = shlex.split(command)
    assert args[:2] == ["gradcheck", "run"]
    result = invoke(*args[1:], "--json")
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "options",
    [(), ("--layers", "3,6,3", "--loss", "cross_entropy", "--batch-size", "2")],
)
def test_worst_case_seed_reproduces_with_run(options: tuple[str, ...]) -> None:
    doc = json.loads(invoke("sweep", "--cases", "40", "--seed", "9", *options, "--json").stdout)
    worst = doc["worst_case"]
    run = _rerun(worst["command"])
    assert run["settings"]["seed"] == worst["seed"]
    assert run["settings"]["x"] == worst["x"]
    assert run["settings"]["target"] == worst["target"]
    # The same weights: run's autograd equals the batched autograd of that case (to the
    # ulp-level rounding differences of batched kernels).
    spec = NetSpec(tuple(doc["settings"]["layers"]), loss=doc["settings"]["loss"])
    case = worst["seed"] - 9
    params = reference_stack.init_states(spec, [worst["seed"]])
    x, y = sweep.draw_batches(spec, 40, 9, doc["settings"]["batch_size"])
    stacked = reference_stack.autograd_stack(spec, params, x[case : case + 1], y[case : case + 1])
    for record in run["parameters"]:
        np.testing.assert_allclose(
            record["autograd"], stacked.grads[record["name"]][0], rtol=2e-15, atol=1e-16
        )


def test_a_data_dependent_bug_fails_in_sweep_and_its_worst_seed_fails_in_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # σ′ wrong only where |z| > 1.5: a bug that a single check at one point can miss.
    good = functions.ACTIVATIONS["sigmoid"]
    broken = dataclasses.replace(good, df=lambda z: np.where(np.abs(z) > 1.5, 0.0, good.df(z)))
    monkeypatch.setitem(functions.ACTIVATIONS, "sigmoid", broken)
    assert invoke("run", "--x", "0.974", "0.312").exit_code == 0  # the seed point passes
    result = invoke("sweep", "--cases", "300", "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and 0 < doc["n_passed"] < 300
    worst = doc["worst_case"]
    run = _rerun(worst["command"])
    assert run["exit_code"] == 1
    by_name = {q["name"]: q for q in doc["quantities"] if q["kind"] == "parameter"}
    for record in run["parameters"]:
        if by_name[record["name"]]["worst_case_seed"] == worst["seed"]:
            # the sweep's worst ratio of that parameter is this case's: same number in run
            assert record["error_ratio"] == pytest.approx(
                by_name[record["name"]]["max_error_ratio"], rel=1e-6
            )


def test_sweep_with_oracle_blames_the_hand_side(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = dataclasses.replace(functions.ACTIVATIONS["sigmoid"], df=np.ones_like)
    monkeypatch.setitem(functions.ACTIVATIONS, "sigmoid", broken)
    report = sweep.run_sweep(_settings(20, oracle="central"))
    assert report.exit_code == 1
    by_kind: dict[str, bool] = {}
    for q in report.quantities:
        by_kind[q.kind] = by_kind.get(q.kind, True) and bool(q.passed.all())
    assert by_kind["oracle-autograd"] is True
    assert by_kind["oracle-hand"] is False


@pytest.mark.parametrize("method", ["central", "richardson", "complex-step", "directional"])
def test_sweep_with_each_oracle_passes(method: str) -> None:
    result = invoke("sweep", "--cases", "30", "--oracle", method, "--layers", "2,5,4,1")
    assert result.exit_code == 0, result.stdout
    assert f"oracle ({method}, float64)" in result.stdout


def test_relu_sweep_with_oracle_checks_kinks_one_sided_and_passes() -> None:
    # Kinks within the step occur in these 300 cases (7 elements of b1 in case 146, see
    # tests/core/test_numeric.py); one-sided differences check them instead of leaving them out.
    args = ("sweep", "--cases", "300", "--layers", "2,16,16,1", "--activation", "relu")
    doc = json.loads(invoke(*args, "--oracle", "richardson", "--json").stdout)
    assert doc["passed"] is True
    assert doc["oracle_skipped"] == 0


def test_sweep_checks_a_user_backward_in_every_case() -> None:
    from tests.conftest import SAMPLES

    good = invoke(
        "sweep", "--cases", "20", "--impl", f"{SAMPLES}/backward_seed.py:backward", "--json"
    )
    assert good.exit_code == 0, good.stderr
    doc = json.loads(good.stdout)
    assert doc["settings"]["candidate"].startswith("impl:") and doc["n_passed"] == 20
    buggy = f"{SAMPLES}/backward_buggy.py:backward"
    bad = invoke("sweep", "--cases", "20", "--impl", buggy, "--json")
    assert bad.exit_code == 1
    doc = json.loads(bad.stdout)
    failing = {q["name"] for q in doc["quantities"] if q["n_failed_cases"]}
    assert failing == {"W2"}  # the sample's bug: W2's gradient transposed
    assert doc["worst_case"]["command"].endswith(f"--impl {buggy}")
    # The worst case's command reruns it alone, with the same verdict.
    rerun = invoke(*doc["worst_case"]["command"].split()[1:], "--json")
    assert rerun.exit_code == 1 and json.loads(rerun.stdout)["failed"] == ["W2"]


def test_sweep_quiet_prints_nothing_and_keeps_the_exit_code() -> None:
    from tests.conftest import SAMPLES

    ok = invoke("sweep", "--cases", "5", "--quiet")
    assert ok.exit_code == 0 and ok.stdout == "" and ok.stderr == ""
    bad = invoke("sweep", "--cases", "5", "-q", "--impl", f"{SAMPLES}/backward_buggy.py:backward")
    assert bad.exit_code == 1 and bad.stdout == ""
    assert_usage_error(invoke("sweep", "--cases", "5", "-q", "--json"), "--quiet: cannot be")


@pytest.mark.parametrize("piece", [1, 4, 50])
def test_per_case_errors_in_pieces_equal_the_whole(
    monkeypatch: pytest.MonkeyPatch, piece: int
) -> None:
    """A large network's quantities are judged a piece of columns at a time (memory); every
    per-case figure must equal the one-piece result."""
    from gradcheck.core import tolerance as tolerance_module
    from gradcheck.core.bounds import TensorBounds

    rng = np.random.default_rng(4)
    ref = rng.normal(0, 1, (5, 7, 6))
    cand = ref * (1 + rng.normal(0, 1e-9, ref.shape))
    cand[1, 2, 3] += 1e-4  # case 1 fails elementwise
    cand[3] *= 1 + 1e-5  # case 3: small everywhere, the norm rule's business
    cand[4, 0, 0] = np.nan  # case 4: non-finite
    kink = np.where(rng.random(ref.shape) < 0.2, 1e-5, 0.0)
    limits = TensorBounds(ref.copy(), kink, np.abs(ref) * 1e-16)
    atol = np.full((5, 1), 1e-7)
    args = (ref, cand, atol, 1e-7)
    whole = sweep.per_case_errors(*args, norm_tol=1e-6, limits=limits)
    monkeypatch.setattr(tolerance_module, "PIECE_ELEMENTS", piece)
    pieces = sweep.per_case_errors(*args, norm_tol=1e-6, limits=limits)
    for field in dataclasses.fields(whole):
        a, b = getattr(pieces, field.name), getattr(whole, field.name)
        np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=field.name)
    assert list(whole.passed) == [True, False, True, False, False]


def test_a_sweep_case_too_large_for_memory_is_refused_before_any_work() -> None:
    # 81 million parameters: a run fits (12 copies), a sweep's case (16 copies) does not.
    result = invoke("sweep", "--cases", "3", "--batch-size", "3", "--layers", "2,9000,9000,1")
    assert result.exit_code == 2 and result.stdout == ""
    assert (
        "Error: --layers: one sweep case of 81,045,001 parameters and 3 rows would need about "
        "9.7 GiB; the limit is 8 GiB" in result.stderr
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([3.0], 3.0),
        ([1.0, 2.0, 3.0], 2.0),
        ([4.0, 1.0, 3.0, 2.0], 2.5),
        ([1e308, 1.5e308], 1.25e308),  # np.median's mean of the middle two overflows here
        ([-1.7e308, 1.7e308], 0.0),
        ([-1e308, -1.5e308], -1.25e308),
        ([5e-324, 5e-324], 5e-324),  # halving each first would round a subnormal to 0
        ([np.inf, np.nan, 2.0], 2.0),
        ([np.nan], np.inf),
        ([], np.inf),
    ],
)
def test_median_of_finite_values_never_overflows(values: list[float], expected: float) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = sweep.median(np.array(values, dtype=np.float64))
    assert (
        got == pytest.approx(expected, rel=1e-15, abs=0.0)
        if np.isfinite(expected)
        else got == expected
    )
