"""The numerical oracle (core/numeric.py): accuracy against autograd per method, vectorisation,
complex twins, and pre-activations within a step of a kink."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck.checks.oracle import oracle_tolerance
from gradcheck.core import functions, numeric
from gradcheck.core.errors import GradcheckError
from gradcheck.core.oracle_methods import EPS, FULL_METHODS, METHODS, oracle_method
from gradcheck.core.spec import ORACLE_METHODS, NetSpec
from gradcheck.torch_side import reference

SEED_X = ("--x", "0.974", "0.312")

NETWORKS = [
    NetSpec((2, 10, 10, 1), "sigmoid", "mse"),
    NetSpec((3, 5, 4, 2), "tanh", "bce_logits"),
    NetSpec((3, 6, 3), "softplus", "cross_entropy"),
    NetSpec((2, 7, 5, 4, 1), "sigmoid", "mse"),
    NetSpec((4, 3, 2), "identity", "mse"),
    NetSpec((2, 8, 8, 1), "relu", "mse"),
    NetSpec((2, 6, 1), "elu", "l1"),
]


def _problem(spec: NetSpec, seed: int = 0, batch: int = 3):
    rng = np.random.default_rng(seed + 100)
    x = rng.uniform(-1, 1, (batch, spec.n_in))
    if spec.loss == "cross_entropy":
        y = rng.integers(0, spec.n_out, batch)
    else:
        y = rng.uniform(0, 1, (batch, spec.n_out))
    return reference.init_state(spec, seed), x, y


def _methods(spec: NetSpec) -> list[str]:
    return [m for m in FULL_METHODS if m != "complex-step" or spec.analytic]


@pytest.mark.parametrize("spec", NETWORKS, ids=lambda s: s.describe())
def test_every_full_oracle_agrees_with_autograd_within_its_documented_tolerance(
    spec: NetSpec,
) -> None:
    params, x, y = _problem(spec)
    ref = reference.autograd(spec, params, x, y)
    for method in _methods(spec):
        grads = numeric.full_gradient(spec, params, x, y, method)[0]
        tol = oracle_tolerance(method, "float64", float(ref.loss))
        for p in spec.parameters():
            assert grads[p.name].shape == p.shape
            err = np.abs(grads[p.name] - ref.grads[p.name])
            bound = tol.atol + tol.rtol * np.abs(grads[p.name])
            assert np.all(err <= bound), (method, p.name, err.max())
            # and far inside it: the documented error itself, without the safety factor
            assert err.max() <= 10 * oracle_method(method).error * max(1.0, abs(float(ref.loss)))


def test_measured_errors_on_the_seed_network_meet_the_documented_targets() -> None:
    spec = NetSpec()
    params = reference.init_state(spec, 0)
    x, y = np.array([[0.974, 0.312]]), np.array([[1.0]])
    ref = reference.autograd(spec, params, x, y)
    worst = {
        method: max(
            np.abs(g - ref.grads[k]).max()
            for k, g in numeric.full_gradient(spec, params, x, y, method)[0].items()
        )
        for method in FULL_METHODS
    }
    assert worst["central"] <= 1e-8
    assert worst["richardson"] <= 1e-10
    assert worst["complex-step"] <= 1e-15


@pytest.mark.parametrize("spec", NETWORKS, ids=lambda s: s.describe())
def test_directional_oracle_agrees_with_autograd(spec: NetSpec) -> None:
    params, x, y = _problem(spec, seed=3)
    ref = reference.autograd(spec, params, x, y)
    d = numeric.directional(spec, params, x, y)
    assert d.derivatives.shape == (numeric.N_DIRECTIONS,)
    norms = np.sqrt(sum(np.sum(v.reshape(len(v), -1) ** 2, axis=1) for v in d.directions.values()))
    np.testing.assert_allclose(norms, 1.0, rtol=1e-14)
    tol = oracle_tolerance("directional", "float64", float(ref.loss))
    projected = d.project(ref.grads)
    assert np.all(np.abs(projected - d.derivatives) <= tol.atol + tol.rtol * np.abs(d.derivatives))


def test_directional_projection_is_the_dot_product() -> None:
    spec = NetSpec((2, 3, 1))
    params, x, y = _problem(spec)
    d = numeric.directional(spec, params, x, y, n_directions=2)
    g = {p.name: np.random.default_rng(1).standard_normal(p.shape) for p in spec.parameters()}
    flat_g = np.concatenate([g[p.name].ravel() for p in spec.parameters()])
    for k in range(2):
        flat_v = np.concatenate([d.directions[p.name][k].ravel() for p in spec.parameters()])
        assert d.project(g)[k] == pytest.approx(flat_v @ flat_g, rel=1e-13)


def test_chunking_does_not_change_the_answer() -> None:
    spec = NetSpec((2, 9, 7, 2), "tanh", "mse")
    params, x, y = _problem(spec)
    whole = numeric.full_gradient(spec, params, x, y, "richardson")[0]
    # A budget this small forces one perturbation per chunk.
    tiny = numeric.full_gradient(spec, params, x, y, "richardson", chunk_bytes=1)[0]
    for name in whole:
        np.testing.assert_array_equal(whole[name], tiny[name])


def test_leading_case_axis_broadcasts_like_the_replica() -> None:
    spec = NetSpec((2, 5, 3, 1), "sigmoid", "mse")
    cases = [_problem(spec, seed=s, batch=2) for s in range(3)]
    stacked = {k: np.stack([c[0][k] for c in cases]) for k in cases[0][0]}
    x = np.stack([c[1] for c in cases])
    y = np.stack([c[2] for c in cases])
    for method in ("central", "complex-step"):
        together = numeric.full_gradient(spec, stacked, x, y, method)[0]
        for i, (p, xi, yi) in enumerate(cases):
            alone = numeric.full_gradient(spec, p, xi, yi, method)[0]
            for name in alone:
                np.testing.assert_allclose(together[name][i], alone[name], rtol=0, atol=1e-12)
    d = numeric.directional(spec, stacked, x, y)
    for i, (p, xi, yi) in enumerate(cases):
        np.testing.assert_allclose(
            d.derivatives[i], numeric.directional(spec, p, xi, yi).derivatives, atol=1e-13
        )


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus", "identity"])
def test_complex_activations_equal_the_real_ones_on_real_input(name: str) -> None:
    z = np.linspace(-40, 40, 801)
    real = functions.ACTIVATIONS[name].f(z)
    complex_ = functions.ACTIVATIONS[name].complex_f(z.astype(complex))
    # (complex log1p is log(1 + w): its real part loses digits below ~1e-16; only the
    # imaginary part, which carries the derivative, matters to the complex step)
    np.testing.assert_allclose(complex_.real, real, rtol=1e-15, atol=2e-16)
    # and their complex step is the derivative (to rounding: 1 − tanh² itself cancels)
    h = 1e-20
    step = functions.ACTIVATIONS[name].complex_f(z + 1j * h).imag / h
    np.testing.assert_allclose(step, functions.ACTIVATIONS[name].df(z), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("loss", ["mse", "bce_logits", "cross_entropy"])
def test_complex_losses_equal_the_real_ones_on_real_input(loss: str) -> None:
    rng = np.random.default_rng(5)
    pred = rng.normal(0, 10, (2, 4, 3))
    target = (
        rng.integers(0, 3, (2, 4)) if loss == "cross_entropy" else rng.uniform(0, 1, pred.shape)
    )
    real, _ = functions.LOSSES[loss].f(pred, target)
    np.testing.assert_allclose(
        functions.LOSSES[loss].complex_f(pred.astype(complex), target).real, real, rtol=1e-14
    )


def _relu_near_kink(gap: float):
    spec = NetSpec((2, 6, 5, 1), "relu", "mse")
    params, x, y = _problem(spec, seed=4, batch=1)
    z1 = x @ params["W1"].T + params["b1"]
    params["b1"][0, ...] -= z1[0, 0] - gap  # unit 1 of z1 sits `gap` above its kink
    return spec, params, x, y


@pytest.mark.parametrize("method", ["central", "richardson"])
def test_a_step_across_a_kink_on_one_side_is_replaced_by_a_one_sided_difference(
    method: str,
) -> None:
    spec, params, x, y = _relu_near_kink(1e-6)  # h ≫ 1e-6: the −h step crosses 0
    ref = reference.autograd(spec, params, x, y)
    assert ref.grads["b1"][0] != 0  # the unit is active: a real derivative to get right
    grads, kinks = numeric.full_gradient(spec, params, x, y, method)[:2]
    assert not any(k.any() for k in kinks.values())
    tol = oracle_tolerance(method, "float64", float(ref.loss))
    for name, g in grads.items():
        err = np.abs(g - ref.grads[name])
        assert np.all(err <= tol.atol + tol.rtol * np.abs(g)), (method, name, err.max())


@pytest.mark.parametrize("method", ["central", "richardson"])
def test_a_unit_whose_steps_cross_kinks_on_both_sides_is_skipped(method: str) -> None:
    spec, params, x, y = _relu_near_kink(1e-6)
    # z2[0] sits 1e-9 above 0 and falls when z1[0] rises: +h crosses downstream, −h at z1[0].
    params["W2"][0, 0] = -abs(params["W2"][0, 0]) - 0.5
    z1 = np.maximum(x @ params["W1"].T + params["b1"], 0)
    params["b2"][0] -= (z1 @ params["W2"].T + params["b2"])[0, 0] - 1e-9
    ref = reference.autograd(spec, params, x, y)
    grads, kinks = numeric.full_gradient(spec, params, x, y, method)[:2]
    assert kinks["b1"][0] and kinks["W1"][0].all()
    assert not kinks["b1"][1:].any() and not kinks["W3"].any()
    tol = oracle_tolerance(method, "float64", float(ref.loss))
    for name, g in grads.items():
        keep = ~kinks[name]
        err = np.abs(g - ref.grads[name])[keep]
        assert np.all(err <= tol.atol + tol.rtol * np.abs(g[keep])), (method, name)


def test_analytic_networks_have_no_kinks() -> None:
    spec = NetSpec((3, 5, 4, 2), "tanh", "bce_logits")
    params, x, y = _problem(spec)
    kinks = numeric.full_gradient(spec, params, x, y, "central").kinks
    assert not any(k.any() for k in kinks.values())


def test_each_method_is_one_record_that_the_oracle_reads() -> None:
    assert ORACLE_METHODS == tuple(METHODS)
    assert FULL_METHODS == tuple(n for n in METHODS if METHODS[n].full)
    for name, m in METHODS.items():
        assert m.name == name and m.error == EPS**m.order
        # an extrapolated method combines differences at ±h and ±h/2
        assert m.evaluations == (1 if m.complex_twins else 4 if m.extrapolated else 2)
        assert (m.one_sided_step is None) == m.complex_twins  # it refuses kinks instead
    spec, central = NetSpec(), METHODS["central"]
    one = numeric.cost(spec, 1, "central") / central.evaluations
    for name, m in METHODS.items():
        if m.full:  # cost counts the record's evaluations (a complex one as four real ones)
            work = m.evaluations * (4 if m.complex_twins else 1) * one
            assert numeric.cost(spec, 1, name) == pytest.approx(work, rel=1e-15)
    kinked = NetSpec((2, 3, 1), "relu")
    for name, m in METHODS.items():
        if m.complex_twins:
            with pytest.raises(GradcheckError, match=f"oracle {name}: relu has a kink"):
                numeric.validate_method(kinked, name)
        else:
            numeric.validate_method(kinked, name)
