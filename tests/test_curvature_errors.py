"""Bad inputs raise a clear ValueError before any computation."""

from __future__ import annotations

import pytest
import torch

from curvature_cases import DTYPE, Exploding
from goldilocks_nb.curvature import (
    curvature_sweep,
    g_term,
    gauss_newton_split,
    h_term,
    hutchinson_estimates,
    projected_hessian,
    projected_jacobian,
    random_subspace,
    top_eigenpairs,
)
from goldilocks_nb.functional import get_params

P = 18  # Exploding: a 6 -> 3 linear layer


@pytest.fixture
def bad():
    model = Exploding()
    X = torch.randn(5, 6, dtype=DTYPE)
    y = torch.zeros(5, dtype=torch.long)
    R = random_subspace(P, 3, seed=0)
    return model, get_params(model), X, y, R


def test_random_subspace_bad_d():
    with pytest.raises(ValueError, match="exceeds"):
        random_subspace(10, 11, seed=0)
    with pytest.raises(ValueError, match=">= 1"):
        random_subspace(10, 0, seed=0)
    with pytest.raises(ValueError, match="integer"):
        random_subspace(10, 2.5, seed=0)


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, p, X, y, R, **kw: projected_hessian(m, p, X, y, R, **kw),
        lambda m, p, X, y, R, **kw: h_term(m, p, X, y, R, **kw),
        lambda m, p, X, y, R, **kw: gauss_newton_split(m, p, X, y, R, **kw),
        lambda m, p, X, y, R, **kw: g_term(m, p, X, R, **kw),
    ],
    ids=["projected_hessian", "h_term", "gauss_newton_split", "g_term"],
)
def test_projected_functions_validate(bad, fn):
    model, params, X, y, R = bad
    with pytest.raises(ValueError, match="rows"):
        fn(model, params, X, y, random_subspace(P + 1, 3, seed=0))
    with pytest.raises(ValueError, match=r"\(P, d\)"):
        fn(model, params, X, y, R[:, 0])
    with pytest.raises(ValueError, match="orthonormal"):
        fn(model, params, X, y, 2 * R)
    with pytest.raises(ValueError, match="orthonormal"):
        fn(model, params, X, y, torch.ones(P, 2, dtype=DTYPE))
    with pytest.raises(ValueError, match="exceeds"):
        fn(model, params, X, y, torch.zeros(P, P + 1, dtype=DTYPE))
    with pytest.raises(ValueError, match=">= 1"):
        fn(model, params, X, y, torch.zeros(P, 0, dtype=DTYPE))
    with pytest.raises(ValueError, match="empty batch"):
        fn(model, params, X[:0], y[:0], R)
    with pytest.raises(ValueError, match="temperature"):
        fn(model, params, X, y, R, temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        fn(model, params, X, y, R, temperature=-1.0)


@pytest.mark.parametrize("fn", [projected_hessian, h_term, gauss_newton_split])
def test_length_mismatch(bad, fn):
    model, params, X, y, R = bad
    with pytest.raises(ValueError, match="different lengths"):
        fn(model, params, X, y[:4], R)
    with pytest.raises(ValueError, match="integer class"):
        fn(model, params, X, y.double(), R)


def test_projected_jacobian_validates(bad):
    model, params, X, _, R = bad
    with pytest.raises(ValueError, match="empty batch"):
        projected_jacobian(model, params, X[:0], R)
    with pytest.raises(ValueError, match="orthonormal"):
        projected_jacobian(model, params, X, 0.5 * R)


def test_sweep_validates(bad):
    model, params, X, y, R = bad
    with pytest.raises(ValueError, match="alpha"):
        curvature_sweep(model, params, X, y, alphas=(1.0, 0.0), d=3)
    with pytest.raises(ValueError, match="alpha"):
        curvature_sweep(model, params, X, y, alphas=(-2.0,), d=3)
    with pytest.raises(ValueError, match="temperature"):
        curvature_sweep(model, params, X, y, alphas=(1.0,), temperatures=(0.0,), d=3)
    with pytest.raises(ValueError, match="exceeds"):
        curvature_sweep(model, params, X, y, alphas=(1.0,), d=P + 1)
    with pytest.raises(ValueError, match=">= 1"):
        curvature_sweep(model, params, X, y, alphas=(1.0,), d=0)
    with pytest.raises(ValueError, match="pass d"):
        curvature_sweep(model, params, X, y, alphas=(1.0,))
    with pytest.raises(ValueError, match="does not match"):
        curvature_sweep(model, params, X, y, alphas=(1.0,), d=2, R=R)
    with pytest.raises(ValueError, match="orthonormal"):
        curvature_sweep(model, params, X, y, alphas=(1.0,), R=3 * R)
    with pytest.raises(ValueError, match="different lengths"):
        curvature_sweep(model, params, X, y[:2], alphas=(1.0,), d=3)
    with pytest.raises(ValueError, match="empty batch"):
        curvature_sweep(model, params, X[:0], y[:0], alphas=(1.0,), d=3)
    with pytest.raises(ValueError, match="non-empty"):
        curvature_sweep(model, params, X, y, alphas=(), d=3)


def test_hutchinson_and_eigen_validate(bad):
    model, params, X, y, _ = bad
    with pytest.raises(ValueError, match="n_probes"):
        hutchinson_estimates(model, params, X, y, n_probes=1, seed=0)
    with pytest.raises(ValueError, match="temperature"):
        hutchinson_estimates(model, params, X, y, n_probes=4, seed=0, temperature=0)
    with pytest.raises(ValueError, match="empty batch"):
        hutchinson_estimates(model, params, X[:0], y[:0], n_probes=4, seed=0)
    with pytest.raises(ValueError, match=r"unknown layer 'nope'.*fc\.weight"):
        top_eigenpairs(model, params, X, y, layer="nope")
    with pytest.raises(ValueError, match="k must be"):
        top_eigenpairs(model, params, X, y, k=P)
    with pytest.raises(ValueError, match="different lengths"):
        top_eigenpairs(model, params, X, y[:1])
