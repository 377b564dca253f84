"""Property-based verdict suite: correct code never fails, catalogued bugs are always caught.

Cases come from ``tests/core/verdict_cases.py`` (1–12 linear layers, every activation, loss and
dtype, batch up to 512, inputs 1e-6 … 1e2, constructed kink hits); hypothesis picks the seeds
(the "ci" profile is derandomized and bounded; HYPOTHESIS_PROFILE=thorough runs many more).
``benchmarks/verdict_rates.py`` runs the same properties at scale and prints the rates.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck.checks.pipeline import evaluate
from gradcheck.checks.sweep import SweepSettings, run_sweep
from gradcheck.core.answer import Answer
from gradcheck.core.functions import ACTIVATIONS, LOSSES
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import resolve_tolerance
from gradcheck.io import usercode
from tests.core.verdict_cases import BUGS, detectable, hand_backward, random_case

pytestmark = pytest.mark.slow  # hypothesis draws hundreds of networks

#: Losses that fit the seed's linear output (bce and nll need a probability output).
LINEAR_OUTPUT_LOSSES = sorted(n for n, loss in LOSSES.items() if "identity" in loss.fits)

seeds = st.integers(min_value=0, max_value=2**31 - 1)


@settings(max_examples=30)
@given(seeds)
def test_correct_backward_passes_replica_and_user_code(seed: int) -> None:
    case = random_case(seed)
    p = case.problem
    assert evaluate(p, case.settings).passed, (seed, evaluate(p, case.settings).failed)
    fn = hand_backward(p.spec)
    user = usercode.call_backward(fn, p.spec, p.params, p.x, p.y, label="correct")
    report = evaluate(p, case.settings, user)
    assert report.passed, (seed, report.failed)
    assert not report.diagnosis


@settings(max_examples=12)
@given(seeds)
def test_correct_backward_passes_with_an_oracle(seed: int) -> None:
    case = random_case(seed, max_batch=8)
    method = "directional" if not case.spec.analytic else "central"
    report = evaluate(case.problem, replace(case.settings, oracle=method))
    # The hand-vs-autograd verdict; the oracle's own limits are the oracle's business.
    assert all(c.passed for c in report.comparisons), (seed, report.failed)


@settings(max_examples=8)
@given(
    st.sampled_from(sorted(ACTIVATIONS)),
    st.sampled_from(LINEAR_OUTPUT_LOSSES),
    st.sampled_from(["float32", "float64"]),
    st.sampled_from([1, 3, 512]),
    seeds,
)
def test_correct_sweeps_pass(activation: str, loss: str, dtype: str, batch: int, seed: int) -> None:
    n_out = max(LOSSES[loss].min_outputs, 2)
    spec = NetSpec((2, 10, 10, 10, n_out), activation, loss, dtype)
    report = run_sweep(SweepSettings(spec, 8, seed, batch, resolve_tolerance(dtype)))
    assert report.passed, report.failed_seeds


def test_kink_hits_are_constructed() -> None:
    hits = {random_case(seed).kink_hit for seed in range(200)}
    assert any(h and h.startswith("relu") for h in hits)
    assert "l1 target = prediction" in hits
    assert any(h and h.startswith("softplus at 20") for h in hits)


@pytest.mark.parametrize("bug", BUGS)
@settings(max_examples=4)
@given(seeds)
def test_catalogued_bug_is_caught_wherever_detectable(bug: str, seed: int) -> None:
    case = random_case(seed, max_batch=64)
    p = case.problem
    params = {k: v.astype(np.float64) for k, v in p.params.items()}
    grads = hand_backward(p.spec, bug)(params, p.x.astype(np.float64), p.y)
    if detectable(case, grads):
        report = evaluate(p, case.settings, Answer(None, None, grads, {}))
        assert not report.passed, (bug, seed)


@pytest.mark.parametrize("bug", BUGS)
def test_every_catalogued_bug_is_detectable_and_caught_somewhere(bug: str) -> None:
    # The catalogue is not vacuous: each bug is detectable on one of the first cases.
    for seed in range(60):
        case = random_case(seed, max_batch=16)
        p = case.problem
        params = {k: v.astype(np.float64) for k, v in p.params.items()}
        grads = hand_backward(p.spec, bug)(params, p.x.astype(np.float64), p.y)
        if detectable(case, grads):
            assert not evaluate(p, case.settings, Answer(None, None, grads, {})).passed
            return
    pytest.fail(f"{bug}: not detectable on any of 60 cases")


def test_catalogue_has_at_least_twenty_kinds() -> None:
    assert len(set(BUGS)) >= 20
