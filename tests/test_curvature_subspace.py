"""Sparse random subspaces and the scalar metrics."""

from __future__ import annotations

import math

import pytest
import torch

from goldilocks_nb.curvature import (
    curvature_metrics,
    local_convexity,
    positive_curvature,
    random_subspace,
    spectral_norm,
)
from goldilocks_nb.curvature.metrics import UNDEFINED


@pytest.mark.parametrize(("P", "d"), [(266200, 50), (62, 7), (10, 10)])
def test_random_subspace_orthonormal_and_sparse(P, d):
    R = random_subspace(P, d, seed=0)
    assert R.shape == (P, d) and R.dtype == torch.float64
    assert (R.T @ R - torch.eye(d, dtype=R.dtype)).abs().max() < 1e-12
    nnz = (R != 0).sum(0)
    expected = max(1, min(math.ceil(math.sqrt(P)), P // d))
    assert torch.all(nnz == expected)
    assert torch.all(R[R != 0].abs() == R[R != 0].abs()[0])


def test_random_subspace_deterministic_and_seeded():
    state = torch.get_rng_state()
    a = random_subspace(1000, 5, seed=11)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, random_subspace(1000, 5, seed=11))
    assert not torch.equal(a, random_subspace(1000, 5, seed=12))
    assert random_subspace(1000, 5, seed=11, dtype=torch.float32).dtype == torch.float32


def test_metrics_closed_forms():
    M = torch.diag(torch.tensor([3.0, -1.0, 2.0, 0.5], dtype=torch.float64))
    assert positive_curvature(M) == pytest.approx(4.5 / math.sqrt(14.25))
    assert local_convexity(M) == 0.75
    assert spectral_norm(M) == 3.0
    gen = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64, generator=gen))
    rotated = Q @ M @ Q.T
    m = curvature_metrics(rotated)
    assert m["positive_curvature"] == pytest.approx(positive_curvature(M))
    assert m["local_convexity"] == 0.75 and m["spectral_norm"] == pytest.approx(3.0)
    assert positive_curvature(torch.eye(9, dtype=torch.float64)) == pytest.approx(3.0)


def test_metrics_reject_bad_matrices():
    with pytest.raises(ValueError, match="symmetric"):
        spectral_norm(torch.tensor([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        local_convexity(torch.ones(2, 3))
    with pytest.raises(ValueError, match="non-finite"):
        positive_curvature(torch.tensor([[float("nan")]]))


def test_undefined_curvature_is_nan_everywhere():
    """One convention (metrics.UNDEFINED): Tr/||.||_F of an exactly zero matrix is nan."""
    assert math.isnan(positive_curvature(torch.zeros(3, 3)))
    assert math.isnan(curvature_metrics(torch.zeros(2, 2))["positive_curvature"])
    assert math.isnan(UNDEFINED)


def test_positive_curvature_is_scale_free_down_to_tiny_and_up_to_huge():
    M = torch.diag(torch.tensor([3.0, -1.0, 2.0, 0.5], dtype=torch.float64))
    ref = positive_curvature(M)
    for scale in (1e-300, 1e-160, 1e150, 1e300):
        assert positive_curvature(M * scale) == pytest.approx(ref, rel=1e-14)
        assert curvature_metrics(M * scale)["positive_curvature"] == pytest.approx(ref, rel=1e-14)
