"""Tests of goldilocks_nb.collapse (chapter 03: Gamma_p and the softmax collapse)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from goldilocks_nb.collapse import (
    best_aligned_image,
    bilevel_comparison,
    collapse_table,
    first_layer_top_image,
    gamma_survey,
    interlacing_margin,
    orthogonal_class_means,
    pre_collapse_scan,
    scaled_logit_curves,
    two_class_separation,
)
from goldilocks_nb.curvature import positive_curvature, projected_hessian, random_subspace
from goldilocks_nb.functional import flatten_params, loss, scale_params
from goldilocks_nb.statistics import monotonicity

F64 = torch.float64
# torch warns once from inside its own forward-mode AD set-up (torch.jit.script deprecation)
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.script.*:FutureWarning")


def test_gamma_survey_bounds_and_argmax():
    out = gamma_survey(3, [0.1, 1.0, 10.0], 50, seed=0, batch=10)
    assert out["bound"] == (1.0, math.sqrt(2))
    assert out["min"] >= 1 - 1e-12
    assert out["max"] == pytest.approx(math.sqrt(2), rel=1e-12)
    assert out["argmax"] == "uniform"
    assert len(out["batched"][1.0]) == 5


def test_scaled_logit_curves_and_monotonicity():
    z = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.4, -2.0]], dtype=F64)
    alphas = np.logspace(-2, 3, 30)
    c = scaled_logit_curves(z, alphas)
    assert c["entropy"].shape == c["inv_gamma2"].shape == (2, 30)
    assert c["entropy"][0, 0] == pytest.approx(math.log(3), abs=1e-3)
    assert c["inv_gamma2"][0, 0] == pytest.approx(0.5, abs=1e-3)  # uniform: 1/(K-1)
    assert np.isnan(c["inv_gamma2"][0, -1])  # alpha = 1000: one-hot in float64
    assert c["undefined"] >= 1
    m = monotonicity(c["entropy"], c["inv_gamma2"])
    assert m["monotone"].all() and (m["rho"] < -0.9).all()  # ties on the plateau at 1
    # a curve that goes down then up is flagged
    bad = monotonicity(np.arange(5.0), np.array([0.0, 1.0, 2.0, 1.5, 3.0]))
    assert not bad["monotone"][0] and bad["max_violation"][0] == pytest.approx(0.5 / 3)


def test_collapse_table_tends_to_limit():
    tab = collapse_table([2, 3, 10], [1e-2, 1e-7], 10)
    assert tab.shape == (3, 2)
    np.testing.assert_allclose(tab[:, 1], [1.0, 1.6, 3.0], rtol=1e-5)
    with pytest.raises(ValueError, match="eps"):
        collapse_table([10], [0.5], 10)


def test_orthogonal_class_means_and_bilevel():
    C = orthogonal_class_means(4, 9, 0.5, seed=0)
    torch.testing.assert_close(C @ C.T, 9 * 0.5 * torch.eye(4, dtype=F64))
    p = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=F64)
    out = bilevel_comparison(p, 0.5, 0.2, 9, seed=0, n_mc=20_000)
    np.testing.assert_allclose(out["explicit"], out["closed_form"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["monte_carlo"], out["closed_form"], rtol=0.05, atol=0.01)
    assert out["bulk"] == pytest.approx((1 - 0.3) * 0.2)
    with pytest.raises(ValueError, match="d >= K"):
        orthogonal_class_means(5, 4, 1.0, seed=0)


def test_interlacing_margin():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.dirichlet(np.ones(6))
        assert interlacing_margin(p / p.sum()) >= -1e-12
    assert abs(interlacing_margin(torch.full((5,), 0.2, dtype=F64))) < 1e-12


def test_two_class_separation():
    out = two_class_separation(torch.tensor([0.0, 1 - 1e-4, 1e-4, 0.0], dtype=F64))
    assert out["ratio"] == pytest.approx(1 - 1e-4, rel=1e-9)  # lambda = 2 eps (1 - eps)
    assert out["separation"] < 1e-10
    p = np.array([1 - 1.1e-3, 1e-3, 1e-4])
    lam = np.linalg.eigvalsh(np.diag(p) - np.outer(p, p))[::-1]
    out = two_class_separation(torch.as_tensor(p))
    assert out["ratio"] == pytest.approx(1.0, abs=0.1)  # lambda1 ~ 2 eps (App. C)
    assert out["separation"] == pytest.approx(lam[1] / lam[0], rel=1e-6)
    assert out["separation"] < 0.1
    with pytest.raises(ValueError, match="one-hot"):
        two_class_separation(torch.tensor([1.0, 0.0], dtype=F64))


def test_pre_collapse_scan_matches_direct_projected_hessian(tiny_net):
    model, params, X, y = tiny_net
    P = flatten_params(params).numel()
    R = random_subspace(P, 6, seed=1)
    alphas = [0.5, 2.0, 4.0]
    scan = pre_collapse_scan(model, params, X, y, alphas, R, group_size=2)
    for a, row in zip(alphas, scan):
        direct = positive_curvature(projected_hessian(model, scale_params(params, a), X, y, R))
        assert row["hessian_pc"] == pytest.approx(direct, rel=1e-8, abs=1e-10)
        z = model(X) * a**3  # homogeneous of degree 3
        p = torch.softmax(z.detach(), 1)
        H = -(p * p.log()).sum(1)
        np.testing.assert_allclose(row["entropies"], H.numpy(), rtol=1e-10)
        assert row["least_confident"] == int(H.argmax())
        assert 0 < row["share_least"] <= 1
        assert 1 - 1e-9 <= row["g_pc"] <= math.sqrt(6) + 1e-9


def test_first_layer_top_image_matches_dense_block(tiny_net):
    model, params, X, y = tiny_net
    alpha = 1.5
    out = first_layer_top_image(model, params, X, y, alpha, image_shape=(4, 4))
    sp = scale_params(params, alpha)
    W = sp["layers.0.weight"]

    def f(w):
        return loss(model, {**sp, "layers.0.weight": w.reshape(W.shape)}, X, y)

    Hb = torch.autograd.functional.hessian(f, W.reshape(-1))
    vals, vecs = torch.linalg.eigh(Hb)
    ref = vecs[:, -1].reshape(W.shape).mean(0)
    assert out["eigenvalue"] == pytest.approx(float(vals[-1]), rel=1e-8)
    cos = float(torch.as_tensor(out["vector"]) @ ref / (ref.norm() * np.linalg.norm(out["vector"])))
    assert abs(cos) == pytest.approx(1.0, abs=1e-6)
    assert out["image"].shape == (4, 4) and not out["collapsed"]
    collapsed = first_layer_top_image(model, params, X, y, 1e4, image_shape=(4, 4))
    assert collapsed["collapsed"] and np.isnan(collapsed["image"]).all()


def test_best_aligned_image():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(20, 1, 4, 4, generator=g, dtype=F64)
    out = best_aligned_image(-3.0 * X[7].reshape(-1).numpy(), X)
    assert out["index"] == 7 and out["cosine"] == pytest.approx(-1.0)
    assert out["abs_cosine"] > out["runner_up"]
    with pytest.raises(ValueError, match="entries"):
        best_aligned_image(np.ones(5), X)
    with pytest.raises(ValueError, match="finite"):
        best_aligned_image(np.full(16, np.nan), X)


def test_pre_collapse_scan_gives_nan_for_a_collapsed_g_term(tiny_net):
    # at alpha = 1e4 (logits x 1e12) every softmax output is one-hot in float64: the G-term
    # is exactly zero and its positive curvature undefined (NaN, not an exception)
    model, params, X, y = tiny_net
    P = sum(v.numel() for v in params.values())
    R = random_subspace(P, 4, seed=0, dtype=F64)
    (row,) = pre_collapse_scan(model, params, X, y, [1e4], R)
    assert row["g_norm"] == 0.0 and math.isnan(row["g_pc"])


def test_gamma_p_rows_matches_gamma_p_row_by_row():
    from goldilocks_nb.collapse import gamma_p_rows
    from goldilocks_nb.curvature.gamma import gamma_p

    rng = np.random.default_rng(1)
    P = torch.as_tensor(rng.dirichlet(np.full(10, 0.003), size=200))
    P = torch.cat([P / P.sum(1, keepdim=True), torch.eye(10)[:2].double(),
                   torch.softmax(300.0 * torch.randn(20, 10, dtype=torch.float64), 1)])
    g = gamma_p_rows(P)
    ref = np.array([gamma_p(p) if int((p > 0).sum()) >= 2 else np.nan for p in P])
    assert np.array_equal(np.isnan(g), np.isnan(ref)) and np.isnan(g).sum() >= 2
    np.testing.assert_allclose(g[~np.isnan(g)], ref[~np.isnan(ref)], rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="shape"):
        gamma_p_rows(torch.ones(3))
