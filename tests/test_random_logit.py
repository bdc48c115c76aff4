"""Tests of goldilocks_nb.random_logit (chapter 02: the random logit model, C6-C7)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from goldilocks_nb.contract import ParameterError
from goldilocks_nb.curvature import (
    curvature_sweep,
    expected_g_curvature,
    logit_gradient_stats,
    positive_curvature,
    projected_jacobian,
    random_subspace,
)
from goldilocks_nb.curvature.gauss_newton import g_term
from goldilocks_nb.functional import logits, scale_params
from goldilocks_nb.random_logit import (
    agreement,
    check_alphas,
    dimension_sweep,
    logit_model_sweep,
    predicted_g_curvature,
    scaled_probs,
    top_sample_share,
    true_g_curvature,
)
from goldilocks_nb.statistics import monotone_increase

F64 = torch.float64
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.script.*:FutureWarning")


@pytest.fixture(scope="module")
def tiny(tiny_net):
    """The shared tiny network of ``conftest.tiny_net`` with ``J R`` (d = 5) and its logits."""
    model, theta, X, y = tiny_net
    P = sum(v.numel() for v in theta.values())
    R = random_subspace(P, 5, seed=0)
    JR = projected_jacobian(model, theta, X, R)
    z = logits(model, theta, X)
    return model, theta, X, y, R, JR, z


def test_prediction_is_eq8_on_scaled_softmax(tiny):
    _, _, _, _, _, JR, z = tiny
    alphas = [0.1, 1.0, 2.5]
    got = predicted_g_curvature(JR, z, alphas, degree=3)
    s_c2, s_e2 = logit_gradient_stats(JR)
    want = [expected_g_curvature(s_c2, s_e2, 5, torch.softmax(a**3 * z, 1)) for a in alphas]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_prediction_uses_variances_of_scaled_jacobian(tiny):
    """Eq. 8 with the variances of J R at alpha theta (alpha^(L-1) J R) gives the same curve."""
    _, _, _, _, _, JR, z = tiny
    for a in (0.05, 3.0):
        s_c2, s_e2 = logit_gradient_stats(a**2 * JR)
        want = expected_g_curvature(s_c2, s_e2, 5, torch.softmax(a**3 * z, 1))
        assert predicted_g_curvature(JR, z, [a], degree=3)[0] == pytest.approx(want, rel=1e-12)
    # and it is not a constant: the prediction depends on p
    curve = predicted_g_curvature(JR, z, [0.01, 10.0], degree=3)
    assert abs(curve[0] - curve[1]) > 1e-3


def test_true_curvature_matches_direct_g_term_at_scaled_params(tiny):
    model, theta, X, y, R, JR, z = tiny
    for a in (0.5, 2.0):
        G = g_term(model, scale_params(theta, a), X, R)
        got = true_g_curvature(JR, z, [a], degree=3)[0]
        assert got == pytest.approx(positive_curvature(G), rel=1e-9)


def test_sweep_matches_engine_g_term(tiny):
    model, theta, X, y, *_ = tiny
    out = logit_model_sweep(model, theta, X, alphas=[0.3, 1.0, 3.0], d=5, seeds=[0, 1])
    assert out["true"].shape == out["predicted"].shape == (2, 3)
    recs = curvature_sweep(model, theta, X, y, alphas=[0.3, 1.0, 3.0], d=5, seeds=[0, 1])
    want = np.array([r["g_term_positive_curvature"] for r in recs]).reshape(2, 3)
    np.testing.assert_allclose(out["true"], want, rtol=1e-9)
    assert np.all((out["share"] > 0) & (out["share"] <= 1))


def test_tiny_g_term_does_not_underflow(tiny):
    """A G-term with entries ~1e-200 (||G||_F^2 underflows) keeps its curvature."""
    _, _, _, _, _, JR, z = tiny
    want = true_g_curvature(JR, z, [1.0, 3.0], degree=3)
    np.testing.assert_allclose(true_g_curvature(JR * 1e-100, z, [1.0, 3.0], degree=3), want,
                               rtol=1e-9)


def test_collapsed_softmax_gives_nan(tiny):
    _, _, _, _, _, JR, z = tiny
    big = 1e4  # alpha^3 z ~ 1e12: every softmax output one-hot in float64
    assert np.isnan(true_g_curvature(JR, z, [big], degree=3)[0])
    assert np.isnan(predicted_g_curvature(JR, z, [big], degree=3)[0])
    assert np.isnan(top_sample_share(scaled_probs(z, big, 3)))


@pytest.mark.parametrize("bad", [[0.0], [-1.0], [float("nan")], [], [1.0, float("inf")]])
def test_bad_alphas_raise(bad, tiny):
    _, _, _, _, _, JR, z = tiny
    with pytest.raises(ValueError, match="alpha"):
        predicted_g_curvature(JR, z, bad, degree=3)
    with pytest.raises(ValueError, match="alpha"):
        check_alphas(bad)


def test_validation_before_compute(tiny, monkeypatch):
    """Bad d, alphas or seeds raise before any Jacobian or Hessian is computed."""
    import goldilocks_nb.random_logit as rl

    model, theta, X, y, *_ = tiny

    def boom(*args, **kwargs):
        raise AssertionError("computed before validating")

    monkeypatch.setattr(rl, "projected_jacobian", boom)
    monkeypatch.setattr(rl, "curvature_sweep", boom)
    P = sum(v.numel() for v in theta.values())
    with pytest.raises(ParameterError, match=rf"'d' = {P + 1}: must be <= .* P = {P} of MLP"):
        logit_model_sweep(model, theta, X, alphas=[1.0], d=P + 1, seeds=[0])
    with pytest.raises(ValueError, match="alpha"):
        logit_model_sweep(model, theta, X, alphas=[1.0, 0.0], d=3, seeds=[0])
    with pytest.raises(ValueError, match="seeds"):
        logit_model_sweep(model, theta, X, alphas=[1.0], d=3, seeds=[])
    with pytest.raises(ParameterError, match=rf"'d_values' = {P + 1}: must be <= .* P = {P}"):
        dimension_sweep(model, theta, X, y, d_values=[2, P + 1], alphas=[1.0], seeds=[0])
    with pytest.raises(ValueError, match="alpha"):
        dimension_sweep(model, theta, X, y, d_values=[2, 3], alphas=[-1.0], seeds=[0])
    with pytest.raises(ValueError, match="temperature"):
        predicted_g_curvature(torch.zeros(2, 3, 4), torch.zeros(2, 3), [1.0], degree=3,
                              temperature=0.0)
    with pytest.raises(ValueError, match="z must have shape"):
        true_g_curvature(torch.zeros(2, 3, 4), torch.zeros(3, 3), [1.0], degree=3)


def test_dimension_sweep_refuses_bad_d_values_before_compute(tiny, monkeypatch):
    import goldilocks_nb.random_logit as rl

    model, theta, X, y, *_ = tiny

    def boom(*a, **k):
        raise AssertionError("computed before validating")

    monkeypatch.setattr(rl, "curvature_sweep", boom)
    for bad, msg in (([], "at least one"), ([0, 2], ">= 1"), ([3, 2], "strictly increasing"),
                     ([2.5], "integer"), ([5, 10**6], "<= the number of parameters")):
        with pytest.raises(ValueError, match=msg):
            dimension_sweep(model, theta, X, y, d_values=bad, alphas=[1.0], seeds=[0])


def test_dimension_sweep_shapes_and_shared_basis(tiny):
    model, theta, X, y, R, JR, z = tiny
    out = dimension_sweep(model, theta, X, y, d_values=[2, 5], alphas=[1.0, 2.0], seeds=[0])
    assert out["hessian"].shape == out["g_term"].shape == out["predicted"].shape == (2, 2, 1)
    # d = 5, seed 0 is the fixture's basis R
    np.testing.assert_allclose(out["g_term"][1, :, 0],
                               true_g_curvature(JR, z, [1.0, 2.0], degree=3), rtol=1e-9)
    np.testing.assert_allclose(out["predicted"][1, :, 0],
                               predicted_g_curvature(JR, z, [1.0, 2.0], degree=3), rtol=1e-12)


def test_eq8_grows_with_d_for_fixed_variances():
    """Eq. 8 increases with d at fixed (s_c2, s_e2, p): the mechanism behind Fig. 4 left."""
    p = torch.softmax(torch.tensor([1.0, 0.0, -0.5, 0.3]), 0)
    vals = [expected_g_curvature(1e-3, 3e-3, d, p) for d in (1, 5, 20, 100, 1000)]
    assert monotone_increase(np.array(vals))["increasing"]


def test_agreement_and_monotone_increase():
    t = np.array([[4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 2.0, 1.0]])
    a = agreement(t, t * 1.1)
    assert a["max_rel_gap"] == pytest.approx(0.1)
    assert a["pearson"] == pytest.approx(1.0) and a["spearman"] == pytest.approx(1.0)
    a = agreement(t, t[:, ::-1], mask=np.array([True, True, True, False]))
    assert a["n"] == 3 and a["spearman"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="shape"):
        agreement(t, t[:, :3])
    with pytest.raises(ValueError, match="no alpha"):
        agreement(np.full(3, np.nan), np.ones(3))
    m = monotone_increase(np.array([[1.0, 1.2], [2.0, 1.9], [1.5, 1.4]]))
    assert not m["increasing"] and m["steps_up"] == 1 and m["steps"] == 2
    assert monotone_increase(np.array([1.0, 2.0, 3.0]))["increasing"]
