"""Stacked autograd for sweeps (torch_side/stack.py): torch's default init under many seeds and
batched autograd, against the single-case reference."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck.checks import sweep
from gradcheck.core.spec import NetSpec
from gradcheck.torch_side import reference, stack
from gradcheck.torch_side import stack as reference_stack
from tests.core.test_net_math import HEADS, batch

SPECS = [
    NetSpec(),
    NetSpec((3, 7, 5, 2), "tanh", "bce_logits"),
    NetSpec((3, 6, 3), "relu", "cross_entropy"),
    NetSpec((2, 4, 4, 1), "elu", "l1"),
    NetSpec((2, 10, 10, 1), "sigmoid", "mse", "float32"),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.describe()} {s.dtype}")
def test_stacked_init_is_torch_default_init_under_each_seed(spec: NetSpec) -> None:
    seeds = [0, 1, 17, 2**40 + 3]
    stacked = reference_stack.init_states(spec, seeds)
    for i, seed in enumerate(seeds):
        single = reference.init_state(spec, seed)
        for name, value in single.items():
            np.testing.assert_array_equal(stacked[name][i], value)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.describe()} {s.dtype}")
def test_batched_autograd_equals_the_model_autograd_to_a_few_ulps(spec: NetSpec) -> None:
    # Not bit for bit: baddbmm/bmm round differently from Linear's addmm/mm (see
    # reference_stack's docstring). A few units in the last place of the largest value.
    seeds = list(range(5, 10))
    dtype = np.dtype(spec.dtype)
    params = {k: v.astype(dtype) for k, v in reference_stack.init_states(spec, seeds).items()}
    x, y = sweep.draw_batches(spec, len(seeds), 3, batch_size=3)
    x = x.astype(dtype)
    y = y if y.dtype.kind == "i" else y.astype(dtype)
    stacked = reference_stack.autograd_stack(spec, params, x, y)
    ulp = float(np.finfo(dtype).eps)
    for i in range(len(seeds)):
        single = reference.autograd(spec, {k: v[i] for k, v in params.items()}, x[i], y[i])
        pairs = [(single.prediction, stacked.prediction[i]), (single.loss, stacked.loss[i])]
        pairs += [(single.grads[k], stacked.grads[k][i]) for k in single.grads]
        pairs += [(single.deltas[k], stacked.deltas[k][i]) for k in single.deltas]
        for a, b in pairs:
            assert np.asarray(a).shape == np.asarray(b).shape
            scale = max(1.0, float(np.max(np.abs(a))))
            assert np.max(np.abs(np.asarray(a) - b)) <= 8 * ulp * scale


@pytest.mark.parametrize(("loss", "out"), HEADS)
def test_stacked_autograd_matches_single(loss: str, out: str) -> None:
    spec = NetSpec((3, 4, 3), "elu", loss, "float64", out, "sum", 2.0, 0.1, (0.5,))
    seeds = [1, 2]
    params = stack.init_states(spec, seeds)
    rng = np.random.default_rng(0)
    xs, ys = zip(*(batch(spec, rng, 3) for _ in seeds), strict=True)
    got = stack.autograd_stack(spec, params, np.stack(xs), np.stack(ys))
    for i in range(2):
        one = reference.autograd(spec, {k: v[i] for k, v in params.items()}, xs[i], ys[i])
        np.testing.assert_allclose(got.loss[i], one.loss, rtol=1e-12)
        for name in one.grads:
            np.testing.assert_allclose(got.grads[name][i], one.grads[name], rtol=1e-10, atol=1e-14)
