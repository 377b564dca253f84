"""The verdict against an adversary: correct code passes, wrong code fails, at every edge.

Cases come from ``tests/core/verdict_cases.py``: the general distribution (1–12 linear layers,
every activation, loss and dtype, batch up to 512, inputs 1e-6 … 1e2, constructed kink hits)
and each class of allowance in ``EDGES`` (kinks, saturated outputs, tiny gradients, float32,
deep width-1 chains, |x| up to 1e4, raw 0–255 pixels). Correct code is written in every
``STYLES`` form and computed in the check's dtype; attacks (``ATTACKS``) and the bug catalogue
(``BUGS``) are judged *detectable* against the exact gradients (80-bit, ``tests/core/exact.py``)
and the measured errors of correct code, never by the verdict's own bounds. The seeds are fixed
and the counts bounded (well under a minute); ``benchmarks/verdict_rates.py`` runs the same
properties at scale and prints the rates.
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
from tests.core.verdict_cases import (
    ATTACKS,
    BUGS,
    EDGES,
    STYLES,
    attack,
    correct_backward,
    detectable,
    hand_backward,
    random_case,
)

pytestmark = pytest.mark.slow  # hypothesis draws hundreds of networks

#: Losses that fit the seed's linear output (bce and nll need a probability output).
LINEAR_OUTPUT_LOSSES = sorted(n for n, loss in LOSSES.items() if "identity" in loss.fits)

seeds = st.integers(min_value=0, max_value=2**31 - 1)

#: Seeded cases per edge class in the suite (the benchmark runs thousands).
PER_EDGE = 8


@pytest.mark.parametrize("edge", [None, *EDGES])
def test_correct_code_passes_at_every_edge(edge: str | None) -> None:
    for seed in range(PER_EDGE):
        case = random_case(seed, edge=edge, max_batch=48)
        p = case.problem
        replica_report = evaluate(p, case.settings)
        assert replica_report.passed, (edge, seed, "replica", replica_report.failed)
        style = STYLES[seed % len(STYLES)]
        user = usercode.call_backward(
            correct_backward(p.spec, style), p.spec, p.params, p.x, p.y, label=style
        )
        report = evaluate(p, case.settings, user)
        assert report.passed, (edge, seed, style, report.failed)
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
    near = {random_case(seed, edge="kink").kink_hit for seed in range(20)}
    assert any(h and h.endswith("within rounding of it") for h in near)


def caught_where_detectable(kind: str, edges: tuple[str | None, ...], per_edge: int) -> list[str]:
    """Every detectable (edge, seed) of an attack or catalogued bug that passes: the misses."""
    from gradcheck.torch_side import reference

    misses = []
    for edge in edges:
        for seed in range(per_edge):
            case = random_case(seed, edge=edge, max_batch=32)
            p = case.problem
            auto = reference.autograd(p.spec, p.params, p.x, p.y).grads
            if kind in ATTACKS:
                fn = correct_backward(p.spec, STYLES[seed % len(STYLES)])
                right = fn(p.params, p.x, p.y)
                wrong = attack(kind, case, right, fn, np.random.default_rng([seed, 7]))
            else:
                p64 = {k: v.astype(np.float64) for k, v in p.params.items()}
                right = hand_backward(p.spec)(p64, p.x.astype(np.float64), p.y)
                wrong = hand_backward(p.spec, kind)(p64, p.x.astype(np.float64), p.y)
            if detectable(case, wrong, right, auto).detectable:
                report = evaluate(p, case.settings, Answer(None, None, wrong, {}))
                if report.passed:
                    misses.append(f"{kind} edge={edge} seed={seed}")
    return misses


#: Attacks whose effect is the size of the gradients themselves: caught wherever detectable.
WHOLE_ATTACKS = ("zeros", "sign_flip", "row_dropped", "bias_l2")


@pytest.mark.parametrize("kind", WHOLE_ATTACKS)
def test_whole_size_attacks_are_caught_wherever_detectable(kind: str) -> None:
    assert caught_where_detectable(kind, (None, *EDGES), 3) == []


@pytest.mark.parametrize("bug", BUGS)
def test_catalogued_bugs_are_caught_wherever_detectable(bug: str) -> None:
    assert caught_where_detectable(bug, (None, "kink", "float32"), 2) == []


@pytest.mark.parametrize("bug", BUGS)
def test_every_catalogued_bug_is_detectable_and_caught_somewhere(bug: str) -> None:
    # The catalogue is not vacuous: each bug is detectable on one of the first cases.
    for seed in range(60):
        case = random_case(seed, max_batch=16)
        p = case.problem
        params = {k: v.astype(np.float64) for k, v in p.params.items()}
        grads = hand_backward(p.spec, bug)(params, p.x.astype(np.float64), p.y)
        if detectable(case, grads).detectable:
            assert not evaluate(p, case.settings, Answer(None, None, grads, {})).passed
            return
    pytest.fail(f"{bug}: not detectable on any of 60 cases")


def test_catalogue_has_at_least_twenty_kinds() -> None:
    assert len(set(BUGS)) >= 20
