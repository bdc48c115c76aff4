"""spectrum: exact spectrum vs dense autodiff Hessian, the outlier rule, SLQ vs exact."""

import numpy as np
import pytest
import torch

from goldilocks_nb.curvature.reference import dense_hessian
from goldilocks_nb.functional import get_params
from goldilocks_nb.mixtures import cluster_mixture
from goldilocks_nb.models import build_model
from goldilocks_nb.spectrum import (
    Quadrature,
    broadened_density,
    count_outliers,
    density_l1,
    exact_hessian_spectrum,
    exact_quadrature,
    hessian_operator,
    outlier_edge,
    positive_curvature_of,
    slq,
)


@pytest.fixture(scope="module")
def small_case():
    X, y = cluster_mixture(60, 3, 8, separation=2.0, seed=1)
    net = build_model("mlp", seed=0, input_shape=(8,), widths=[5, 4], num_classes=3,
                      dtype=torch.float64)
    return net, get_params(net), X, y


def test_exact_spectrum_matches_dense_hessian(small_case):
    net, p, X, y = small_case
    ev = exact_hessian_spectrum(net, p, X, y, block=7)
    ref = torch.linalg.eigvalsh(dense_hessian(net, p, X, y)).flip(0).numpy()
    assert np.all(np.diff(ev) <= 0)
    np.testing.assert_allclose(ev, ref, atol=1e-12)


def test_exact_spectrum_refuses_large_nets(small_case):
    net, p, X, y = small_case
    with pytest.raises(ValueError, match="P <= 10"):
        exact_hessian_spectrum(net, p, X, y, max_params=10)


def test_outlier_rule_on_synthetic_spectra():
    rng = np.random.default_rng(0)
    bulk = rng.uniform(0.0, 1.0, 500)
    spec = np.concatenate([bulk, [10.0, 9.0, 8.0, 7.0]])
    s = count_outliers(spec, max_outliers=12)
    assert s.count == 4 and s.bulk_edge == pytest.approx(bulk.max())
    assert s.gap == pytest.approx(7.0 / bulk.max())
    smooth = 1.0 / np.arange(1, 200)  # ratios (m+1)/m <= 2 ... largest at m = 1 (2.0)
    assert count_outliers(smooth, max_outliers=5, min_gap=2.5).count == 0
    assert count_outliers(smooth, max_outliers=5, min_gap=1.9).count == 1


def test_outlier_rule_errors():
    with pytest.raises(ValueError, match="max_outliers"):
        count_outliers(np.ones(5), max_outliers=0)
    with pytest.raises(ValueError, match="min_gap"):
        count_outliers(np.ones(5), max_outliers=2, min_gap=1.0)
    with pytest.raises(ValueError, match="at least"):
        count_outliers(np.ones(3), max_outliers=3)
    with pytest.raises(ValueError, match="no positive"):
        count_outliers(np.array([1.0, 0.0, -1.0]), max_outliers=2)


def test_positive_curvature_of_is_eq2_of_the_curvature_package():
    """One home for Eq. 2: the spectrum form equals curvature.positive_curvature on the
    diagonal matrix, including its NaN for a zero matrix (it used to raise here)."""
    import math

    from goldilocks_nb.curvature import positive_curvature

    assert positive_curvature_of(np.array([3.0, 4.0])) == pytest.approx(7 / 5)
    lam = np.array([2.0, -0.5, 1e-3])
    assert positive_curvature_of(lam) == positive_curvature(torch.diag(torch.tensor(lam)))
    assert math.isnan(positive_curvature_of(np.zeros(3)))
    with pytest.raises(ValueError):
        positive_curvature_of(np.array([1.0, np.nan]))


class _Dense:
    """A dense symmetric matrix as a curvlinops operator (independent of the engine)."""

    @staticmethod
    def of(A: torch.Tensor):
        from curvlinops.examples import TensorLinearOperator

        return TensorLinearOperator(A)


def test_lanczos_moments_exact_for_low_degree():
    """Gauss quadrature with m nodes integrates v^T A^k v exactly for k < 2m; the probes are
    the randn draws after manual_seed(seed), and the caller's random state is untouched."""
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(40, 40, generator=g, dtype=torch.float64))
    lam = torch.linspace(-1, 3, 40, dtype=torch.float64)
    A = Q @ torch.diag(lam) @ Q.T
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    q = slq(_Dense.of(A), num_probes=3, steps=6, seed=2)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert q.nodes.shape == q.weights.shape == (3, 6)
    assert q.weights.sum() == pytest.approx(1.0)
    with torch.random.fork_rng():
        torch.manual_seed(2)
        v0 = torch.stack([torch.randn(40, dtype=torch.float64) for _ in range(3)], 1)
    for k in range(1, 12):
        exact = np.mean([float(v @ torch.linalg.matrix_power(A, k) @ v / (v @ v))
                         for v in v0.T])
        assert np.sum(q.weights * q.nodes**k) == pytest.approx(exact, rel=1e-9, abs=1e-9)
    again = slq(_Dense.of(A), num_probes=3, steps=6, seed=2)
    np.testing.assert_array_equal(again.nodes, q.nodes)


def test_lanczos_full_run_recovers_spectrum():
    A = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
    q = slq(_Dense.of(A), num_probes=1, steps=10, seed=0)
    np.testing.assert_allclose(np.sort(q.nodes[0]), np.arange(1.0, 11.0), atol=1e-9)
    with pytest.raises(ValueError, match="steps"):
        slq(_Dense.of(A), num_probes=1, steps=11, seed=0)
    with pytest.raises(ValueError, match="steps"):
        slq(_Dense.of(A), num_probes=1, steps=1, seed=0)
    with pytest.raises(ValueError, match="num_probes"):
        slq(_Dense.of(A), num_probes=0, steps=4, seed=0)


def test_hessian_operator_is_the_engines_hessian(small_case):
    net, p, X, y = small_case
    A = hessian_operator(net, p, X, y)
    H = dense_hessian(net, p, X, y)
    V = torch.randn(A.shape[0], 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert A.shape == H.shape
    torch.testing.assert_close(A @ V, H @ V, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(A @ V[:, 0], H @ V[:, 0], rtol=1e-10, atol=1e-12)


def test_slq_density_close_to_exact_on_small_net(small_case):
    net, p, X, y = small_case
    ev = exact_hessian_spectrum(net, p, X, y)
    q = slq(hessian_operator(net, p, X, y), num_probes=8, steps=25, seed=0)
    assert q.weights.sum() == pytest.approx(1.0)
    assert q.nodes.max() == pytest.approx(ev[0], rel=1e-6)
    span = ev[0] - ev[-1]
    bounds = (ev[-1], ev[0])
    grid, d_exact = broadened_density(exact_quadrature(ev), bounds, 0.03 * span,
                                      num_points=400, margin=0.1)
    grid2, d_slq = broadened_density(q, bounds, 0.03 * span, num_points=400, margin=0.1)
    np.testing.assert_allclose(grid, np.linspace(ev[-1] - 0.1 * span, ev[0] + 0.1 * span, 400))
    np.testing.assert_array_equal(grid, grid2)
    assert np.trapezoid(d_exact, grid) == pytest.approx(1.0, abs=1e-3)
    assert density_l1(grid, d_exact, d_slq) < 0.3
    # a different probe seed is a different (and still close) estimate
    other = slq(hessian_operator(net, p, X, y), num_probes=8, steps=25, seed=1)
    assert not np.array_equal(other.nodes, q.nodes)


def test_broadened_density_is_the_gaussian_mixture():
    """Against the mixture written out by hand: the kappa conversion gives width sigma."""
    nodes = np.array([[0.0, 1.0, 3.0], [0.5, 2.0, 2.5]])
    weights = np.array([[0.1, 0.2, 0.2], [0.25, 0.05, 0.2]])
    grid, d = broadened_density(Quadrature(nodes, weights), (0.0, 3.0), 0.2, num_points=301,
                                margin=0.0)
    ref = sum(w * np.exp(-0.5 * ((grid - x) / 0.2) ** 2) / (0.2 * np.sqrt(2 * np.pi))
              for x, w in zip(nodes.ravel(), weights.ravel(), strict=True))
    np.testing.assert_allclose(grid, np.linspace(0.0, 3.0, 301))
    np.testing.assert_allclose(d, ref, rtol=1e-9, atol=1e-12)


def test_broadened_density_errors():
    q = exact_quadrature(np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="sigma"):
        broadened_density(q, (0.0, 2.0), 0.0)
    with pytest.raises(ValueError, match="bounds"):
        broadened_density(q, (2.0, 0.0), 0.1)
    with pytest.raises(ValueError, match="weights"):
        broadened_density(Quadrature(np.ones((1, 3)), np.ones((1, 2))), (0.0, 2.0), 0.1)
    with pytest.raises(ValueError, match="eigenvalues"):
        exact_quadrature(np.array([1.0]))


def test_outlier_edge_resolved_on_a_planted_gap():
    rng = np.random.default_rng(1)
    bulk = np.sort(rng.uniform(0.1, 1.0, 400))[::-1]
    spec = np.concatenate([[10.0, 9.0, 8.0], bulk])
    e = outlier_edge(spec, max_outliers=9, min_gap=1.3, min_resolution=1.2)
    ratios = spec[:10] / spec[1:11]  # independent: ratios by hand
    assert e.position == 3 and e.count == 3 and e.resolved
    assert e.gap == pytest.approx(8.0 / bulk[0])
    assert e.bulk_gap == pytest.approx(ratios[3:].max())
    assert e.resolution == pytest.approx(e.gap / e.bulk_gap)
    assert e.bulk_edge == pytest.approx(bulk[0])


def test_outlier_edge_unresolved_gives_no_count():
    smooth = 1.0 / np.arange(1, 200) ** 0.5  # ratios decay smoothly from sqrt(2)
    e = outlier_edge(smooth, max_outliers=5, min_gap=1.3, min_resolution=1.2)
    assert e.position == 1 and not e.resolved and e.count is None
    assert e.resolution == pytest.approx(np.sqrt(2) / np.sqrt(3 / 2))
    # a large edge gap that the bulk matches is not resolved either
    spec = np.array([8.0, 4.0, 3.9, 1.9, 1.8, 1.7, 1.6, 1.5])  # g_3 (bulk side) > g_1
    e = outlier_edge(spec, max_outliers=2, min_gap=1.3, min_resolution=1.2)
    assert e.position == 1 and e.gap == 2.0 and e.bulk_gap == pytest.approx(3.9 / 1.9)
    assert not e.resolved


def test_outlier_edge_errors():
    with pytest.raises(ValueError, match="max_outliers"):
        outlier_edge(np.ones(5), max_outliers=0, min_gap=1.3, min_resolution=1.2)
    with pytest.raises(ValueError, match="min_gap"):
        outlier_edge(np.ones(5), max_outliers=2, min_gap=1.0, min_resolution=1.2)
    with pytest.raises(ValueError, match="min_resolution"):
        outlier_edge(np.ones(5), max_outliers=2, min_gap=1.3, min_resolution=0.5)
    with pytest.raises(ValueError, match="at least"):
        outlier_edge(np.ones(4), max_outliers=3, min_gap=1.3, min_resolution=1.2)
    with pytest.raises(ValueError, match="positive"):
        outlier_edge(np.array([3.0, 2.0, 1.0, 0.0, -1.0]), max_outliers=2, min_gap=1.3,
                     min_resolution=1.2)


def test_spectrum_case_trains_to_the_target_loss():
    from goldilocks_nb.chapters.bulk_and_outliers import spectrum_case

    X, y = cluster_mixture(60, 3, 8, separation=3.0, seed=0)
    r = spectrum_case(X, y, 3, 6, target_loss=0.5, max_steps=500, lr=0.2, seed=0,
                      min_gap=1.3, min_resolution=1.2, max_outliers=9)
    assert r["loss"] <= 0.5 and 0 < r["steps"] < 500
    assert r["P"] == 8 * 6 + 36 + 18 and r["eigenvalues"].size == r["P"]
    capped = spectrum_case(X, y, 3, 6, target_loss=1e-9, max_steps=3, lr=0.2, seed=0,
                           min_gap=1.3, min_resolution=1.2, max_outliers=9)
    assert capped["steps"] == 3 and capped["loss"] > 1e-9
