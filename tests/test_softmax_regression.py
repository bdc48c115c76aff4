"""Closed-form Hessian / G blocks of softmax regression and the XOR net vs autodiff."""

import numpy as np
import pytest
import torch
from torch.func import grad, vmap

from goldilocks_nb.curvature.reference import dense_hessian
from goldilocks_nb.mixtures import axis_means, cluster_mixture, sample_gmm, sample_xor, xor_means
from goldilocks_nb.models import MLP
from goldilocks_nb.softmax_regression import (
    XorNet,
    alignment,
    softmax_g_block,
    softmax_hessian_block,
    softmax_population_blocks,
    softmax_sgd_step,
    top_eigenspace,
    xor_blocks,
    xor_sgd_step,
)

BETA = 0.03


@pytest.fixture(scope="module")
def gmm():
    gen = torch.Generator().manual_seed(0)
    Y, a = sample_gmm(axis_means(3, 7), 40, snr=4.0, gen=gen)
    W = torch.randn(3, 7, generator=gen, dtype=torch.float64)
    return W, Y, a


def _softmax_loss(W, Y, a):
    return torch.nn.functional.cross_entropy(Y @ W.T, a) + BETA / 2 * (W**2).sum()


def test_softmax_hessian_block_matches_engine(gmm):
    W, Y, a = gmm
    net = MLP([7, 3]).double()
    H = dense_hessian(net, {"layers.0.weight": W}, Y, a) + BETA * torch.eye(21, dtype=W.dtype)
    for c in range(3):
        block = H[c * 7:(c + 1) * 7, c * 7:(c + 1) * 7]
        torch.testing.assert_close(softmax_hessian_block(W, Y, c, BETA), block)


def test_softmax_g_block_matches_per_sample_gradients(gmm):
    W, Y, a = gmm
    g = vmap(grad(lambda W, y, lab: _softmax_loss(W, y[None], lab[None])), (None, 0, 0))(W, Y, a)
    for c in range(3):
        torch.testing.assert_close(softmax_g_block(W, Y, a, c, BETA),
                                   g[:, c].T @ g[:, c] / Y.shape[0])


def test_softmax_sgd_step_is_gradient_step(gmm):
    W, Y, a = gmm
    g = grad(_softmax_loss)(W, Y, a)
    torch.testing.assert_close(softmax_sgd_step(W, Y, a, 0.1, BETA), W - 0.1 * g)


@pytest.fixture(scope="module")
def xor():
    gen = torch.Generator().manual_seed(1)
    Y, y, c = sample_xor(xor_means(9), 50, snr=5.0, gen=gen)
    W = torch.randn(4, 9, generator=gen, dtype=torch.float64)
    v = torch.randn(4, generator=gen, dtype=torch.float64)
    return W, v, Y, y


def _xor_loss(W, v, Y, y):
    yhat = torch.relu(Y @ W.T) @ v
    return (torch.nn.functional.softplus(yhat) - y * yhat).mean() + BETA / 2 * (
        (W**2).sum() + (v**2).sum())


def test_xor_hessian_blocks_match_engine(xor):
    W, v, Y, y = xor
    net = XorNet(W, v)
    H = dense_hessian(net, {"W": W, "v": v}, Y, y) + BETA * torch.eye(40, dtype=W.dtype)
    b = xor_blocks(W, v, Y, y, BETA)
    torch.testing.assert_close(b["H_vv"], H[36:, 36:])
    for i in range(4):
        torch.testing.assert_close(b["H_W"][i], H[i * 9:(i + 1) * 9, i * 9:(i + 1) * 9])


def test_xor_g_blocks_and_step(xor):
    W, v, Y, y = xor
    gW, gv = vmap(grad(lambda W, v, Y, y: _xor_loss(W, v, Y[None], y[None]), argnums=(0, 1)),
                  (None, None, 0, 0))(W, v, Y, y)
    b = xor_blocks(W, v, Y, y, BETA, rows=[2])
    torch.testing.assert_close(b["G_vv"], gv.T @ gv / 50)
    torch.testing.assert_close(b["G_W"][0], gW[:, 2].T @ gW[:, 2] / 50)
    full = grad(_xor_loss, argnums=(0, 1))(W, v, Y, y.double())
    W1, v1 = xor_sgd_step(W, v, Y, y, 0.1, BETA)
    torch.testing.assert_close(W1, W - 0.1 * full[0])
    torch.testing.assert_close(v1, v - 0.1 * full[1])


def test_top_eigenspace_and_alignment():
    M = torch.diag(torch.tensor([1.0, 5.0, 3.0], dtype=torch.float64))
    vals, U = top_eigenspace(M, 2)
    np.testing.assert_allclose(vals.numpy(), [5, 3, 1])
    assert alignment(torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64), U) == pytest.approx(1)
    assert alignment(torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64), U) == pytest.approx(
        2**-0.5)
    with pytest.raises(ValueError, match="zero"):
        alignment(torch.zeros(3, dtype=torch.float64), U)


def test_mixtures_shapes_and_errors():
    X, y = cluster_mixture(50, 4, 6, separation=2.0, seed=0)
    assert X.shape == (48, 6) and torch.bincount(y).tolist() == [12] * 4
    M = axis_means(10, 1000)
    assert torch.equal(M @ M.T, torch.eye(10, dtype=torch.float64))
    m = xor_means(30)
    assert float(m[0] @ m[1]) == 0.0
    _, lab, cl = sample_xor(m, 100, snr=10.0, gen=torch.Generator().manual_seed(0))
    assert torch.equal(lab, (cl < 2).long())
    with pytest.raises(ValueError, match="separation"):
        cluster_mixture(50, 4, 6, separation=0.0, seed=0)
    with pytest.raises(ValueError, match="num_clusters"):
        cluster_mixture(50, 1, 6, separation=1.0, seed=0)
    with pytest.raises(ValueError, match="d must"):
        axis_means(10, 10)
    with pytest.raises(ValueError, match="snr"):
        sample_gmm(M, 3, snr=-1.0, gen=torch.Generator())


@pytest.mark.parametrize("mat", ["H", "G"])
def test_population_blocks_match_large_sample_empirical_blocks(mat):
    """The reduced population blocks (M -> infinity) against the plain empirical block on
    a large sample in a small dimension (independent code path: no reduction)."""
    gen = torch.Generator().manual_seed(3)
    k, d, snr = 2, 7, 4.0
    means = axis_means(k, d)
    W = torch.randn(k, d, generator=gen, dtype=torch.float64)
    Y, a = sample_gmm(means, 250_000, snr=snr, gen=gen)
    pop = softmax_population_blocks(W, means, snr, BETA, 250_000,
                                    torch.Generator().manual_seed(4))
    for c in range(k):
        emp = (softmax_hessian_block(W, Y, c, BETA) if mat == "H"
               else softmax_g_block(W, Y, a, c, BETA))
        ev = torch.linalg.eigvalsh(emp).flip(0)
        vals, U = pop[c][mat]
        assert vals.shape == (2 * k + 1,)          # s = 2k eigenvalues in S, the bulk once
        np.testing.assert_allclose(vals[:3].numpy(), ev[:3].numpy(), rtol=0.03)
        # the bulk eigenvalue (multiplicity d - s = 3) equals the empirical bottom ones
        assert min(abs(float(ev[-1]) - float(b)) for b in vals) < 0.03 * float(ev[-1])
        m = U.shape[1]
        assert m >= 1
        _, Ue = top_eigenspace(emp, m)
        P, Pe = U @ U.T, Ue @ Ue.T
        assert float(torch.linalg.matrix_norm(P - Pe, 2)) < 0.1


def test_population_blocks_full_span_has_no_bulk():
    gen = torch.Generator().manual_seed(5)
    means = axis_means(2, 3)
    W = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    pop = softmax_population_blocks(W, means, 4.0, BETA, 2000, gen)
    vals, U = pop[0]["H"]
    assert vals.shape == (3,) and U.shape == (3, 3)
