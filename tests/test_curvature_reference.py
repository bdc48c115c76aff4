"""Fast paths against the dense brute-force references on a tiny MLP (float64)."""

from __future__ import annotations

import pytest
import torch

from curvature_cases import DTYPE, opaque, rel, tiny_mlp
from goldilocks_nb.curvature import (
    g_term,
    gauss_newton_split,
    h_term,
    hessian_matmat,
    hutchinson_estimates,
    projected_hessian,
    projected_jacobian,
    random_subspace,
    top_eigenpairs,
)
from goldilocks_nb.curvature.reference import (
    dense_g_term,
    dense_h_term,
    dense_hessian,
    dense_jacobian,
    g_term_loop,
)
from goldilocks_nb.functional import flatten_params, get_params


@pytest.fixture(scope="module", params=["relu-chain", "autodiff"])
def case(request):
    """The tiny MLP through both routes: closed-form ReLU chain and generic torch.func."""
    c = tiny_mlp()
    return c if request.param == "relu-chain" else opaque(c)


@pytest.fixture(scope="module")
def dense(case):
    H = dense_hessian(case.model, case.params, case.X, case.y, temperature=0.7)
    G = dense_g_term(case.model, case.params, case.X, temperature=0.7)
    return H, G


def test_projected_hessian_identity_equals_dense_hessian(case, dense):
    R = torch.eye(case.num_params, dtype=DTYPE)
    H = projected_hessian(case.model, case.params, case.X, case.y, R, temperature=0.7)
    assert rel(H, dense[0]) < 1e-12


def test_chunking_does_not_change_the_result(case):
    R = random_subspace(case.num_params, 7, seed=3)
    a = projected_hessian(case.model, case.params, case.X, case.y, R, chunk_size=3)
    b = projected_hessian(case.model, case.params, case.X, case.y, R, chunk_size=None)
    assert rel(a, b) < 1e-12


def test_g_term_equals_brute_force(case, dense):
    R = torch.eye(case.num_params, dtype=DTYPE)
    G = g_term(case.model, case.params, case.X, R, temperature=0.7)
    assert rel(G, dense[1]) < 1e-12
    assert torch.linalg.eigvalsh(G).min() > -1e-12 * G.norm()


def test_h_term_is_hessian_minus_g(case, dense):
    R = torch.eye(case.num_params, dtype=DTYPE)
    Ht = h_term(case.model, case.params, case.X, case.y, R, temperature=0.7)
    assert rel(Ht, dense[0] - dense[1]) < 1e-10
    direct = dense_h_term(case.model, case.params, case.X, case.y, temperature=0.7)
    assert rel(Ht, direct) < 1e-10


def test_split_sums_to_projected_hessian(case):
    R = random_subspace(case.num_params, 9, seed=1)
    G, Ht = gauss_newton_split(case.model, case.params, case.X, case.y, R, temperature=1.3)
    H = projected_hessian(case.model, case.params, case.X, case.y, R, temperature=1.3)
    assert rel(G + Ht, H) < 1e-13
    # and against the plain forward-over-reverse HVP of the loss
    HR = hessian_matmat(case.model, case.params, case.X, case.y, R, temperature=1.3)
    assert rel(R.T @ HR, H) < 1e-12


def test_projected_jacobian_equals_dense(case):
    R = random_subspace(case.num_params, 5, seed=2)
    JR = projected_jacobian(case.model, case.params, case.X, R, chunk_size=6)
    J = dense_jacobian(case.model, case.params, case.X)
    assert JR.shape == (case.X.shape[0], 3, 5)
    assert rel(JR, J @ R) < 1e-13


def test_paper_style_loop_matches_g_term(case):
    R = random_subspace(case.num_params, 6, seed=4)
    G = g_term(case.model, case.params, case.X, R, temperature=2.0)
    assert rel(g_term_loop(case.model, case.params, case.X, R, temperature=2.0), G) < 1e-12


def test_model_is_not_mutated(case):
    before = flatten_params(get_params(case.model)).clone()
    R = random_subspace(case.num_params, 4, seed=0)
    scaled = {k: 3.0 * v for k, v in case.params.items()}
    projected_hessian(case.model, scaled, case.X, case.y, R, temperature=2.0)
    g_term(case.model, scaled, case.X, R)
    assert torch.equal(flatten_params(get_params(case.model)), before)


def test_hutchinson_within_four_standard_errors(case, dense):
    H = dense[0]
    rng_before = torch.get_rng_state()
    est = hutchinson_estimates(
        case.model, case.params, case.X, case.y,
        n_probes=2000, seed=0, temperature=0.7, probes_per_pass=500,
    )  # fmt: skip
    assert torch.equal(torch.get_rng_state(), rng_before)
    tr, fro = torch.trace(H).item(), H.norm().item()
    assert abs(est["trace"] - tr) < 4 * est["trace_se"]
    assert abs(est["frobenius"] - fro) < 4 * est["frobenius_se"]
    assert abs(est["positive_curvature"] - tr / fro) < 4 * est["positive_curvature_se"]
    again = hutchinson_estimates(
        case.model, case.params, case.X, case.y,
        n_probes=2000, seed=0, temperature=0.7, probes_per_pass=500,
    )  # fmt: skip
    assert again == est


def test_hutchinson_converges(case, dense):
    """The running error of the trace estimate shrinks with more probes (on average)."""
    tr = torch.trace(dense[0]).item()
    errs = []
    for m in (50, 1600):
        est = hutchinson_estimates(
            case.model, case.params, case.X, case.y,
            n_probes=m, seed=5, temperature=0.7, probes_per_pass=800,
        )  # fmt: skip
        errs.append(est["trace_se"])
        assert abs(est["trace"] - tr) < 5 * est["trace_se"]
    assert errs[1] < errs[0] / 4


def test_top_eigenpairs_full_matches_dense(case, dense):
    ev, V = torch.linalg.eigh(dense[0])
    vals, vecs = top_eigenpairs(
        case.model, case.params, case.X, case.y, k=2, temperature=0.7, tol=1e-12
    )
    assert vals.shape == (2,) and vecs.shape == (case.num_params, 2)
    torch.testing.assert_close(vals, ev.flip(0)[:2], rtol=1e-9, atol=1e-12)
    assert abs(abs(float(vecs[:, 0] @ V[:, -1])) - 1) < 1e-8


def test_top_eigenpairs_layer_block_matches_dense(case, dense):
    first, name = list(case.params)[:2]  # layers.{0,1}.weight (prefixed when wrapped)
    start = case.params[first].numel()
    n = case.params[name].numel()
    block = dense[0][start : start + n, start : start + n]
    vals, vecs = top_eigenpairs(
        case.model, case.params, case.X, case.y, k=1, temperature=0.7, layer=name, tol=1e-12
    )
    assert vecs.shape == (n, 1)
    torch.testing.assert_close(vals[0], torch.linalg.eigvalsh(block)[-1], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(block @ vecs[:, 0], vals[0] * vecs[:, 0], rtol=1e-7, atol=1e-10)
