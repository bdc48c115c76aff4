"""Tests of goldilocks_nb.gradient_alignment (chapter 02: assumptions, Eq. 9, Figures 5-6)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.func import functional_call, jacrev

from goldilocks_nb import gradient_alignment as ga
from goldilocks_nb import random_logit as rl
from goldilocks_nb.curvature import (
    positive_curvature,
    projected_hessian,
    projected_jacobian,
    random_subspace,
)
from goldilocks_nb.data import Dataset
from goldilocks_nb.functional import flatten_params, logits, scale_params

F64 = torch.float64
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.script.*:FutureWarning")


def synthetic_jr(N=400, K=5, d=40, s_c=1.0, s_e=2.0, seed=0):
    """J = c_k + e exactly as the random logit model: orthogonal c_k, isotropic iid e."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, K, generator=g, dtype=F64))
    C = Q.T * s_c * math.sqrt(d)
    return C + s_e * torch.randn(N, K, d, generator=g, dtype=F64)


def test_assumptions_hold_on_the_model_itself():
    st = ga.assumption_stats(synthetic_jr())
    # within-class cosine ~ ||c||^2 / (||c||^2 + d s_e^2) = 1/5; cross-class ~ 0
    assert st["within"] == pytest.approx(0.2, abs=0.03)
    assert abs(st["cross"]) < 0.02
    assert st["c_cos_offdiag"] < 0.05 and st["c_norm_spread"] < 1.1
    assert st["participation"] > 0.9 and abs(st["resid_same_sample"]) < 0.02
    assert st["signal_fraction"] == pytest.approx(0.2, abs=0.02)
    assert st["c_cos"].shape == (5, 5) and np.allclose(np.diag(st["c_cos"]), 1)


def test_assumption_violations_are_detected():
    J = synthetic_jr()
    shared = torch.randn(400, 1, 40, generator=torch.Generator().manual_seed(1), dtype=F64)
    st = ga.assumption_stats(J + 3 * shared)  # residuals shared by the logits of a sample
    assert st["resid_same_sample"] > 0.4
    aniso = J.clone()
    aniso[..., 0] *= 10  # one residual direction dominates
    assert ga.assumption_stats(aniso)["participation"] < 0.5


def test_assumption_stats_scale_free_across_alpha(tiny_net):
    """J R at alpha theta is alpha^(L-1) J R: every cosine is the same at every alpha."""
    model, theta, X, _ = tiny_net
    R = random_subspace(sum(v.numel() for v in theta.values()), 5, seed=0)
    a = ga.assumption_stats(projected_jacobian(model, theta, X, R))
    b = ga.assumption_stats(projected_jacobian(model, scale_params(theta, 3.0), X, R))
    for k in ("within", "cross", "c_cos_offdiag", "participation", "resid_same_sample"):
        assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-12)


def test_variance_conventions():
    J = synthetic_jr(N=50)
    conv = ga.variance_conventions(J)
    c = J.mean(0)
    assert conv["plain"] == pytest.approx((float((c**2).mean()), float(((J - c) ** 2).mean())))
    assert conv["centred"][1] == pytest.approx(conv["plain"][1] * J.numel() / (J.numel() - 1),
                                               rel=1e-9)


def test_decomposition_ends_are_true_g_term_and_eq8(tiny_net):
    model, theta, X, _ = tiny_net
    R = random_subspace(sum(v.numel() for v in theta.values()), 5, seed=0)
    JR = projected_jacobian(model, theta, X, R)
    z = logits(model, theta, X)
    alphas = [0.3, 1.0, 2.0, 1e4]
    dec = ga.g_term_decomposition(JR, z, alphas, degree=3)
    np.testing.assert_allclose(dec["true"], rl.true_g_curvature(JR, z, alphas, degree=3),
                               rtol=1e-9)
    np.testing.assert_allclose(dec["eq8"], rl.predicted_g_curvature(JR, z, alphas, degree=3),
                               rtol=1e-12)
    assert all(np.isnan(dec[k][-1]) for k in dec)
    # with residuals exactly zero, dropping cross terms changes nothing
    c = JR.mean(0, keepdim=True).expand_as(JR)
    dec0 = ga.g_term_decomposition(c, z, alphas[:3], degree=3)
    np.testing.assert_allclose(dec0["no_cross"], dec0["true"], rtol=1e-9)


def test_class_means_and_loss_gradient_match_brute_force(tiny_net):
    model, theta, X, y = tiny_net
    jac = jacrev(lambda p: functional_call(model, p, (X,)))(theta)
    J = torch.cat([v.reshape(30, 3, -1) for v in jac.values()], dim=2)  # (N, K, P)
    C = ga.class_mean_gradients(model, theta, X, chunk_size=7)
    torch.testing.assert_close(C, J.mean(0))
    g, qhat, loss = ga.loss_gradient(model, theta, X, y)
    p = torch.softmax(logits(model, theta, X), 1)
    want = torch.einsum("nkp,nk->p", J, p - torch.nn.functional.one_hot(y, 3)) / 30
    torch.testing.assert_close(g, want)
    torch.testing.assert_close(qhat, p.mean(0))
    want_loss = torch.nn.functional.cross_entropy(logits(model, theta, X), y)
    assert loss == pytest.approx(float(want_loss))


def _dataset(X, y, K=3):
    return Dataset(X, y, tuple(f"c{k}" for k in range(K)), "test data", "test", "train")


def test_prior_sweep_and_gradient_cosines(tiny_net):
    model, theta, X, y = tiny_net
    pool = _dataset(X, y)
    priors = np.array([[1 / 3, 1 / 3, 1 / 3], [0.6, 0.2, 0.2], [0.2, 0.2, 0.6]])
    res = ga.prior_sweep(model, theta, pool, priors, subset_size=10)
    assert res["grad_norm"].shape == res["dist"].shape == res["eq9_norm"].shape == (3,)
    np.testing.assert_allclose(res["Q"][1], [0.6, 0.2, 0.2])
    np.testing.assert_allclose(res["dist"], np.linalg.norm(res["Qhat"] - res["Q"], axis=1),
                               rtol=1e-9)
    assert res["P"] == flatten_params(theta).numel()
    out = ga.gradient_cosines(model, theta, {"a": pool, "b": pool, "c": _dataset(X[:15], y[:15])},
                              alpha=2.0)
    assert out["cos"][("a", "b")] == pytest.approx(1.0)
    assert set(out["cos"]) == {("a", "b"), ("a", "c"), ("b", "c")}


def test_rgb32_pads_with_background_and_repeats():
    X = torch.rand(4, 1, 28, 28) + 1.0
    X[:, :, 0, 0] = -0.8
    out = ga.rgb32(_dataset(X, torch.arange(4) % 3))
    assert out.X.shape == (4, 3, 32, 32) and "padded to 32x32" in out.source
    assert torch.all(out.X[:, :, :2] == -0.8) and torch.equal(out.X[:, 0], out.X[:, 2])
    with pytest.raises(ValueError, match="28, 28"):
        ga.rgb32(_dataset(torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long)))


def test_fit_line_and_rank_correlations():
    x = np.linspace(0, 1, 20)
    fit = ga.fit_line(x, 2 + 3 * x)
    assert fit["slope"] == pytest.approx(3) and fit["r2"] == pytest.approx(1)
    with pytest.raises(ValueError, match="3 points"):
        ga.fit_line([1, 1, 1], [1, 2, 3])
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    table = {"a": a, "b": 2 * a + 0.1 * rng.normal(size=200), "c": -a}
    r = ga.rank_correlations(table, [("a", "b"), ("a", "c")], n_boot=200, seed=1)
    assert r[("a", "c")] == {"rho": -1.0, "lo": -1.0, "hi": -1.0}
    assert 0.9 < r[("a", "b")]["lo"] <= r[("a", "b")]["rho"] <= r[("a", "b")]["hi"] <= 1
    assert r == ga.rank_correlations(table, [("a", "b"), ("a", "c")], n_boot=200, seed=1)
    with pytest.raises(ValueError, match="at least 4"):
        ga.rank_correlations({"a": a[:3], "b": a[:3]}, [("a", "b")])


def test_rank_correlation_interval_is_the_percentile_bootstrap():
    """Against the percentile bootstrap written out: inits resampled in pairs with
    default_rng(seed).integers, Spearman per resample, central quantiles."""
    from scipy import stats

    rng = np.random.default_rng(3)
    n, n_boot = 30, 400
    a = rng.normal(size=n)
    table = {"a": a, "b": a + rng.normal(size=n)}
    r = ga.rank_correlations(table, [("a", "b")], n_boot=n_boot, level=0.9, seed=5)[("a", "b")]
    idx = np.random.default_rng(5).integers(0, n, size=(n_boot, n))
    boot = [stats.spearmanr(a[i], table["b"][i]).statistic for i in idx]
    lo, hi = np.quantile(boot, [0.05, 0.95])
    assert r["rho"] == pytest.approx(stats.spearmanr(a, table["b"]).statistic)
    assert (r["lo"], r["hi"]) == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12))
    assert r["lo"] < r["rho"] < r["hi"]
    wider = ga.rank_correlations(table, [("a", "b")], n_boot=n_boot, level=0.99, seed=5)
    assert wider[("a", "b")]["lo"] < r["lo"] and wider[("a", "b")]["hi"] > r["hi"]
    other = ga.rank_correlations(table, [("a", "b")], n_boot=n_boot, level=0.9, seed=6)
    assert other[("a", "b")]["lo"] != r["lo"]


def test_rank_correlations_skip_resamples_without_ranks():
    """With 5 inits some resamples repeat one init (a constant column, no rank correlation):
    the interval is taken over the defined resamples (the hand-written reference below);
    scipy's own percentile interval is nan there. No defined resample at all: refused."""
    from scipy import stats

    a = np.array([0.3, 1.2, -0.5, 2.0, 0.9])
    b = np.array([1.0, 2.5, 0.1, 1.9, 3.0])
    r = ga.rank_correlations({"a": a, "b": b}, [("a", "b")], n_boot=2000, seed=4)[("a", "b")]
    idx = np.random.default_rng(4).integers(0, 5, size=(2000, 5))
    boot = np.array([stats.spearmanr(a[i], b[i]).statistic if np.ptp(a[i]) and np.ptp(b[i])
                     else np.nan for i in idx])
    assert np.isnan(boot).any()  # the premise: some resamples are degenerate
    lo, hi = np.nanquantile(boot, [0.025, 0.975])
    assert (r["lo"], r["hi"]) == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12))
    x = np.array([0.0, 0.0, 0.0, 0.0, 1.0])  # only ties: most resamples constant
    r = ga.rank_correlations({"a": x, "b": np.arange(5.0)}, [("a", "b")], n_boot=200)
    assert np.isfinite([r[("a", "b")]["lo"], r[("a", "b")]["hi"]]).all()
    with pytest.raises(ValueError, match="constant column"):
        ga.rank_correlations({"a": np.zeros(5), "b": np.arange(5.0)}, [("a", "b")], n_boot=50)


def test_init_statistics(tiny_net):
    model, theta, X, y = tiny_net
    st = ga.init_statistics(model, theta, X, y, d=4, subspace_seed=3)
    R = random_subspace(flatten_params(theta).numel(), 4, seed=3, dtype=F64)
    H = projected_hessian(model, theta, X, y, R)
    assert st["curvature"] == pytest.approx(positive_curvature(H))
    assert st["qhat_bound"] >= ga.qhat_bound_minimum(3) - 1e-12
    assert 0 <= st["entropy"] <= math.log(3) and st["seconds"] > 0
