"""Tests of Gamma_p and the random logit model (Section 4, Eq. 7-8, App. B-C)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

from goldilocks_nb.curvature.gamma import (
    entropy,
    expected_g_curvature,
    expected_g_spectrum,
    expected_g_term,
    gamma_p,
    gamma_p_collapse_limit,
    logit_gradient_stats,
    p_s_eps,
    softmax_hessian,
)

F64 = torch.float64


def _orthogonal_C(K: int, d: int, s_c2: float, seed: int) -> torch.Tensor:
    """``K x d`` matrix with orthogonal rows of squared norm ``d s_c2`` (paper's simplification)."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, K, generator=g, dtype=F64))
    return math.sqrt(d * s_c2) * Q.T


@pytest.mark.parametrize("K", [2, 3, 5, 10, 100])
def test_gamma_uniform_is_sqrt_k_minus_1(K):
    p = torch.full((K,), 1.0 / K, dtype=F64)
    assert gamma_p(p) == pytest.approx(math.sqrt(K - 1), rel=1e-12)


@pytest.mark.parametrize("K", [3, 10, 100])
def test_gamma_within_bounds_random_dirichlet(K):
    rng = np.random.default_rng(K)
    top = math.sqrt(K - 1)
    values = []
    for conc in (0.01, 0.1, 1.0, 10.0):
        P = torch.as_tensor(rng.dirichlet(np.full(K, conc), size=100), dtype=F64)
        P = P / P.sum(1, keepdim=True)
        values += [gamma_p(p) for p in P if p.max() < 1 - 1e-12]
        values += [gamma_p(P[i : i + 20]) for i in range(0, 100, 20)]  # batch averages
    values = np.array(values)
    assert values.min() >= 1 - 1e-9
    assert values.max() <= top + 1e-9
    # the bound is attained only at uniform p: random draws stay strictly below
    assert values.max() < top


def test_gamma_tends_to_one_as_softmax_collapses():
    z = torch.tensor([2.0, 1.0, 0.3, -0.5, -1.2], dtype=F64)
    values = [gamma_p(torch.softmax(a * z, 0)) for a in (0.01, 1.0, 5.0, 20.0)]
    assert values[0] > 1.9  # near-uniform: close to sqrt(4) = 2
    assert abs(values[-1] - 1) < 1e-3
    assert all(a > b for a, b in zip(values, values[1:]))  # monotone for this logit set


def test_gamma_of_two_class_distribution_is_one():
    for eps in (0.3, 1e-2, 1e-8):
        assert gamma_p(p_s_eps(2, eps, K=10)) == pytest.approx(1.0, abs=1e-9)


def test_collapse_limit_matches_symbolic_expansion_of_eq10():
    """Derive lim Gamma_p^2(p(S, eps)) from Eq. 10 with sympy, independently of the package."""
    eps = sympy.symbols("epsilon", positive=True)
    for S in range(2, 11):
        p = [eps] * (S - 1) + [1 - (S - 1) * eps]
        num = (sum(p) - sum(q**2 for q in p)) ** 2
        den = sum((q - q**2) ** 2 for q in p) + sum(
            p[k] ** 2 * p[c] ** 2 for k in range(S) for c in range(S) if k != c
        )
        # leading coefficients of eps^2 (Eq. 11): 4S^2 - 8S + 4 and S^2 + S - 2
        assert sympy.expand(num).coeff(eps, 2) == 4 * S**2 - 8 * S + 4
        assert sympy.expand(den).coeff(eps, 2) == S**2 + S - 2
        assert sympy.expand(num).coeff(eps, 1) == 0 and sympy.expand(den).coeff(eps, 1) == 0
        limit = sympy.limit(num / den, eps, 0)
        assert limit == sympy.Rational(4 * (S - 1), S + 2)
        assert gamma_p_collapse_limit(S) == pytest.approx(float(limit), rel=1e-15)
        # numeric value of the matrix definition at eps = 1e-6 (error O(eps))
        assert gamma_p(p_s_eps(S, 1e-6, K=10)) ** 2 == pytest.approx(float(limit), rel=1e-4)


def test_eq10_equals_matrix_definition():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.dirichlet(np.ones(7))
        num = (p.sum() - (p**2).sum()) ** 2
        den = ((p - p**2) ** 2).sum() + (np.outer(p**2, p**2).sum() - (p**4).sum())
        assert gamma_p(torch.as_tensor(p / p.sum())) ** 2 == pytest.approx(num / den, rel=1e-10)


@pytest.mark.parametrize("K", [2, 4, 10, 50])
def test_uniform_nonzero_eigenvalues_are_one_over_k(K):
    lam = torch.linalg.eigvalsh(softmax_hessian(torch.full((K,), 1.0 / K, dtype=F64)))
    assert lam[0].abs() < 1e-14  # the null direction (1, ..., 1)
    torch.testing.assert_close(lam[1:], torch.full((K - 1,), 1.0 / K, dtype=F64))


def test_interlacing_bunch_et_al():
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = torch.as_tensor(rng.dirichlet(np.full(8, 0.5)), dtype=F64)
        p = p / p.sum()
        ps = p.sort(descending=True).values
        lam = torch.linalg.eigvalsh(softmax_hessian(p)).flip(0)
        for i in range(7):
            assert ps[i] + 1e-12 >= lam[i] >= ps[i + 1] - 1e-12


def test_softmax_hessian_batch_average():
    P = torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]], dtype=F64)
    expected = sum(torch.diag(p) - torch.outer(p, p) for p in P) / 2
    torch.testing.assert_close(softmax_hessian(P), expected)


def test_bilevel_spectrum_matches_closed_form_and_monte_carlo():
    K, d, s_c2, s_e2 = 4, 7, 0.8, 0.5
    p = torch.tensor([0.5, 0.25, 0.15, 0.1], dtype=F64)
    C = _orthogonal_C(K, d, s_c2, seed=1)
    spec = expected_g_spectrum(s_c2, s_e2, d, p)
    exact = torch.linalg.eigvalsh(expected_g_term(C, s_e2, p)).flip(0)
    torch.testing.assert_close(exact, spec)
    # Monte-Carlo over Gaussian residuals E with iid N(0, s_e2) entries
    g = torch.Generator().manual_seed(0)
    E = math.sqrt(s_e2) * torch.randn(40_000, K, d, generator=g, dtype=F64)
    A = C + E
    M = softmax_hessian(p)
    mc = torch.einsum("nki,kl,nlj->ij", A, M, A) / len(A)
    mc_eigs = torch.linalg.eigvalsh(mc).flip(0)
    assert torch.allclose(mc_eigs, spec, rtol=0.03, atol=0.01), (mc_eigs, spec)
    # bulk level (1 - ||p||^2) s_e^2 and K - 1 outliers
    assert spec[K - 1 :].allclose(torch.full((d - K + 1,), (1 - float(p @ p)) * s_e2, dtype=F64))
    assert (spec[: K - 1] > spec[K - 1] + 1e-6).all()


@pytest.mark.parametrize("batch", [False, True])
def test_expected_g_curvature_equals_explicit_matrix_ratio(batch):
    K, d, s_c2, s_e2 = 10, 50, 0.3, 1.7
    rng = np.random.default_rng(5)
    p = torch.as_tensor(rng.dirichlet(np.full(K, 0.7), size=16 if batch else None), dtype=F64)
    p = p / p.sum(-1, keepdim=True)
    G = expected_g_term(_orthogonal_C(K, d, s_c2, seed=2), s_e2, p)
    ratio = float(torch.trace(G) / torch.linalg.matrix_norm(G))
    assert expected_g_curvature(s_c2, s_e2, d, p) == pytest.approx(ratio, rel=1e-10)


def test_expected_g_curvature_limits():
    p = torch.full((10,), 0.1, dtype=F64)
    # s_e = 0: ratio = sqrt(d) * Gamma_p / sqrt(d) = Gamma_p
    assert expected_g_curvature(1.0, 0.0, 50, p) == pytest.approx(3.0, rel=1e-12)
    # s_c = 0: isotropic noise, ratio = sqrt(d)
    assert expected_g_curvature(0.0, 1.0, 50, p) == pytest.approx(math.sqrt(50), rel=1e-12)


def test_logit_gradient_stats_exact_and_consistent():
    N, K, d = 6, 3, 4
    c = torch.arange(K * d, dtype=F64).reshape(K, d) / 10
    e = torch.randn(N, K, d, generator=torch.Generator().manual_seed(0), dtype=F64)
    e = e - e.mean(0)  # zero-mean residuals: c is exactly the class mean
    s_c2, s_e2 = logit_gradient_stats(c + e)
    assert s_c2 == pytest.approx(float((c**2).mean()), rel=1e-12)
    assert s_e2 == pytest.approx(float((e**2).mean()), rel=1e-12)
    # consistency on the random logit model itself
    g = torch.Generator().manual_seed(1)
    N, K, d = 4000, 10, 50
    c = 0.5 * torch.randn(K, d, generator=g, dtype=F64)  # s_c2 = 0.25
    J = c + 1.5 * torch.randn(N, K, d, generator=g, dtype=F64)  # s_e2 = 2.25
    s_c2, s_e2 = logit_gradient_stats(J)
    assert s_c2 == pytest.approx(0.25, rel=0.15)
    assert s_e2 == pytest.approx(2.25, rel=0.01)


def test_entropy_and_p_s_eps():
    assert float(entropy(torch.full((4,), 0.25, dtype=F64))) == pytest.approx(math.log(4))
    assert float(entropy(torch.tensor([1.0, 0.0], dtype=F64))) == 0.0
    assert entropy(torch.full((3, 5), 0.2, dtype=F64)).shape == (3,)
    p = p_s_eps(4, 0.01, K=6)
    assert p.tolist() == pytest.approx([0.01, 0.01, 0.01, 0.97, 0.0, 0.0])


@pytest.mark.parametrize(
    ("probs", "match"),
    [
        ([0.5, 0.6], "sum to 1"),
        ([1.2, -0.2], "negative"),
        (torch.zeros(0, 3), "empty"),
        ([1.0], "K = 2"),
        (torch.full((2, 2, 2), 0.5), "shape"),
        ([float("nan"), 0.5], "non-finite"),
        ([0.0, 1.0, 0.0], "undefined"),
        ([[1.0, 0.0], [0.0, 1.0]], "undefined"),
    ],
)
def test_gamma_p_bad_inputs(probs, match):
    with pytest.raises(ValueError, match=match):
        gamma_p(probs)


def test_other_bad_inputs():
    u = torch.full((10,), 0.1, dtype=F64)
    with pytest.raises(ValueError, match="S must be"):
        p_s_eps(1, 0.1)
    with pytest.raises(ValueError, match="K must be"):
        p_s_eps(5, 0.1, K=3)
    with pytest.raises(ValueError, match="eps must be"):
        p_s_eps(3, 0.5)
    with pytest.raises(ValueError, match="eps must be"):
        p_s_eps(3, 0.0)
    with pytest.raises(ValueError, match="S must be"):
        gamma_p_collapse_limit(1)
    with pytest.raises(ValueError, match="s_c2"):
        expected_g_curvature(-1.0, 1.0, 10, u)
    with pytest.raises(ValueError, match="both zero"):
        expected_g_curvature(0.0, 0.0, 10, u)
    with pytest.raises(ValueError, match="d must be"):
        expected_g_curvature(1.0, 1.0, 0, u)
    with pytest.raises(ValueError, match=">= K"):
        expected_g_spectrum(1.0, 1.0, 9, u)
    with pytest.raises(ValueError, match="shape"):
        expected_g_term(torch.ones(3, 5), 1.0, u)
    with pytest.raises(ValueError, match="s_e2"):
        expected_g_term(torch.ones(10, 12), -1.0, u)
    with pytest.raises(ValueError, match=r"\(N, K, d\)"):
        logit_gradient_stats(torch.ones(3, 4))
    with pytest.raises(ValueError, match="N >= 2"):
        logit_gradient_stats(torch.ones(1, 4, 5))
    with pytest.raises(ValueError, match="non-finite"):
        logit_gradient_stats(torch.full((2, 2, 2), float("inf")))


def test_trace_shares_one_home_without_cancellation():
    """trace_shares: Tr M(p^mu) / sum Tr M, exact where one p_k is within rounding of 1."""
    from goldilocks_nb.curvature.gamma import trace_shares

    p = torch.tensor([[0.5, 0.5, 0.0], [1 - 2e-20, 1e-20, 1e-20], [1.0, 0.0, 0.0]],
                     dtype=torch.float64)
    s = trace_shares(p)
    # Tr M = sum_k p_k (1 - p_k): 0.5 for row 0, ~4e-20 for row 1 (1 - p_0 rounds to 0)
    assert float(s[1]) == pytest.approx(4e-20 / (0.5 + 4e-20), rel=1e-12)
    assert float(s[2]) == 0.0 and float(s.sum()) == pytest.approx(1.0)
    assert torch.isnan(trace_shares(torch.eye(3, dtype=torch.float64))).all()
