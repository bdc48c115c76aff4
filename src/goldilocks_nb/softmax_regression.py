"""Closed-form curvature of the two models of Ben Arous et al. (C26, C27), with online SGD.

**Softmax regression** (their Section 2.1): weights ``x = (x^1, ..., x^k)``, ``x^c in R^d``,
logits ``z_c = x^c . Y``, ``p = softmax(z)``, per-sample loss
``L(x; Y, a) = -log p_a + beta/2 ||x||^2``. Its Hessian and G-matrix blocks are explicit:

.. math::

    \\nabla^2_{cc'} L = (p_c \\delta_{cc'} - p_c p_{c'})\\, Y Y^\\top + \\beta \\delta_{cc'} I,
    \\qquad \\nabla_c L = (p_c - 1_{a=c})\\, Y + \\beta x^c,
    \\qquad G_{cc} = \\nabla_c L\\, \\nabla_c L^\\top,

and the empirical matrices average them over a held-out sample (``\\hat R``, ``\\hat G``).

**Two-layer XOR network** (their Section 2.2): ``yhat = v . relu(W Y)``, ``W in R^{K x d}``,
``v in R^K``, logistic loss ``L = log(1 + e^yhat) - y yhat + beta/2 (||W||^2 + ||v||^2)``.
With ``s = sigmoid(yhat)`` and ``g = relu(W Y)``, almost everywhere

.. math::

    \\nabla^2_{W_i W_i} L = s(1-s)\\, v_i^2\\, 1_{W_i Y > 0}\\, Y Y^\\top + \\beta I,
    \\qquad \\nabla^2_{vv} L = s(1-s)\\, g g^\\top + \\beta I,

and the G-blocks are outer products of ``nabla_{W_i} L = (s - y) v_i 1_{W_i Y>0} Y + beta W_i``
and ``nabla_v L = (s - y) g + beta v``. The tests compare every block with the curvature
engine's autodiff Hessian (:func:`goldilocks_nb.curvature.reference.dense_hessian`).

**Population blocks** (:func:`softmax_population_blocks`, the ``M -> infinity`` limit of the
empirical ``\\hat R``, ``\\hat G`` blocks): the loss depends on ``Y`` only through
``x^c . Y``, so with ``S = span(mu_1..mu_k, x^1..x^k)`` (dimension ``s <= 2k``) and
``Y = mu_a + Z/sqrt(lambda)`` the ``S^perp`` part of ``Z`` is independent of everything
else. Hence ``E[w Y Y^T] = Q A Q^T + E[w]/lambda (I - Q Q^T)`` with ``A = E[w Y_S Y_S^T]``
(``Y_S = Q^T Y``, an ``s``-dimensional expectation, estimated by Monte Carlo) and the
same for ``G`` with ``w -> r^2``: the spectrum is ``s`` eigenvalues of ``A`` plus a bulk
eigenvalue of multiplicity ``d - s``, with no sampling bulk of Marchenko-Pastur width.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "XorNet",
    "alignment",
    "softmax_g_block",
    "softmax_hessian_block",
    "softmax_population_blocks",
    "softmax_sgd_step",
    "top_eigenspace",
    "xor_blocks",
    "xor_sgd_step",
]


def _probs(W: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    return torch.softmax(Y @ W.T, dim=1)


def softmax_hessian_block(W: torch.Tensor, Y: torch.Tensor, c: int, beta: float
                          ) -> torch.Tensor:
    """``\\nabla^2_{cc} \\hat R = mean_l p_c(1 - p_c) Y_l Y_l^T + beta I`` (``(d, d)``).

    Args:
        W: weights ``(k, d)`` (row ``c`` is ``x^c``); Y: samples ``(M, d)``.
    """
    p = _probs(W, Y)[:, c]
    w = p * (1 - p)
    d = W.shape[1]
    return (Y.T * w) @ Y / Y.shape[0] + beta * torch.eye(d, dtype=W.dtype, device=W.device)


def softmax_g_block(W: torch.Tensor, Y: torch.Tensor, labels: torch.Tensor, c: int,
                    beta: float) -> torch.Tensor:
    """``\\hat G_{cc} = mean_l g_l g_l^T`` with ``g_l = (p_c - 1_{a_l = c}) Y_l + beta x^c``."""
    p = _probs(W, Y)[:, c]
    r = p - (labels == c).to(W.dtype)
    g = r[:, None] * Y + beta * W[c][None, :]
    return g.T @ g / Y.shape[0]


def softmax_population_blocks(W: torch.Tensor, means: torch.Tensor, snr: float, beta: float,
                              n_mc: int, gen: torch.Generator) -> list[dict]:
    """Population Hessian and G blocks ``nabla^2_{cc} R``, ``G_{cc}`` of every class ``c``.

    Reduced to ``S = span(means, rows of W)`` (module docstring); the ``s``-dimensional
    expectations are Monte Carlo averages over ``n_mc`` samples drawn from ``gen``.

    Returns, per class ``c``, ``{"H": (vals, U), "G": (vals, U)}`` with ``vals`` the top
    ``s + 1`` eigenvalues in descending order (the bulk eigenvalue, multiplicity ``d - s``,
    appears once, at its place) and ``U`` ``(d, m)``: the eigenvectors inside ``S`` whose
    eigenvalue lies strictly above the bulk, in descending order (the top-``k`` eigenspace is
    ``U[:, :k]`` when ``m >= k``; when ``m < k`` it contains bulk directions and
    ``vals[k-1] / vals[k] == 1``: not resolved).
    """
    k, d = means.shape
    Q, R = torch.linalg.qr(torch.cat([means, W]).T)
    Q = Q[:, R.diagonal().abs() > 1e-10 * R.diagonal().abs().max()]
    s = Q.shape[1]
    a = torch.randint(0, k, (n_mc,), generator=gen)
    Ys = (means @ Q)[a] + torch.randn(n_mc, s, generator=gen, dtype=W.dtype) / snr**0.5
    p = torch.softmax(Ys @ (W @ Q).T, dim=1)
    out = []
    for c in range(k):
        w = p[:, c] * (1 - p[:, c])
        r = p[:, c] - (a == c).to(W.dtype)
        gs = r[:, None] * Ys + beta * (Q.T @ W[c])[None, :]
        blocks = {}
        for name, A, bulk in (("H", (Ys.T * w) @ Ys / n_mc + beta * torch.eye(s, dtype=W.dtype),
                               float(w.mean()) / snr + beta),
                              ("G", gs.T @ gs / n_mc, float((r**2).mean()) / snr)):
            ev, V = torch.linalg.eigh(0.5 * (A + A.T))
            ev, V = ev.flip(0), V.flip(1)
            above = ev > bulk if s < d else torch.ones_like(ev, dtype=torch.bool)
            mid = torch.tensor([bulk] if s < d else [], dtype=W.dtype)
            vals = torch.cat([ev[above], mid, ev[~above]])
            blocks[name] = (vals, Q @ V[:, above])
        out.append(blocks)
    return out


def softmax_sgd_step(W: torch.Tensor, Y: torch.Tensor, labels: torch.Tensor, lr: float,
                     beta: float) -> torch.Tensor:
    """One SGD step on the samples ``Y`` (one fresh sample per step for online SGD)."""
    p = _probs(W, Y)
    p[torch.arange(Y.shape[0]), labels] -= 1.0
    grad = p.T @ Y / Y.shape[0] + beta * W
    return W - lr * grad


class XorNet(nn.Module):
    """``Y -> (0, v . relu(W Y))``: the two-layer XOR net as two logits, so that the
    cross-entropy of the engine equals the logistic loss (used by the tests)."""

    def __init__(self, W: torch.Tensor, v: torch.Tensor) -> None:
        super().__init__()
        self.W = nn.Parameter(W.clone())
        self.v = nn.Parameter(v.clone())

    def forward(self, Y: torch.Tensor) -> torch.Tensor:
        yhat = torch.relu(Y @ self.W.T) @ self.v
        return torch.stack([torch.zeros_like(yhat), yhat], dim=1)


def xor_blocks(W: torch.Tensor, v: torch.Tensor, Y: torch.Tensor, y: torch.Tensor,
               beta: float, *, rows: list[int] | None = None) -> dict:
    """Empirical Hessian and G blocks of the XOR net on the sample ``(Y, y)``.

    Returns ``{"H_vv", "G_vv"}`` (``(K, K)``) and ``{"H_W", "G_W"}``: lists over ``rows``
    (default all ``K``) of ``(d, d)`` blocks ``\\nabla^2_{W_i W_i}``, ``\\hat G_{W_i W_i}``.
    """
    M, d = Y.shape
    pre = Y @ W.T
    g = torch.relu(pre)
    yhat = g @ v
    s = torch.sigmoid(yhat)
    curv = s * (1 - s)
    res = s - y.to(W.dtype)
    eye_k = torch.eye(W.shape[0], dtype=W.dtype, device=W.device)
    eye_d = torch.eye(d, dtype=W.dtype, device=W.device)
    grad_v = res[:, None] * g + beta * v[None, :]
    out = {"H_vv": (g.T * curv) @ g / M + beta * eye_k, "G_vv": grad_v.T @ grad_v / M,
           "H_W": [], "G_W": []}
    for i in rows if rows is not None else range(W.shape[0]):
        act = (pre[:, i] > 0).to(W.dtype)
        out["H_W"].append((Y.T * (curv * v[i] ** 2 * act)) @ Y / M + beta * eye_d)
        gi = (res * v[i] * act)[:, None] * Y + beta * W[i][None, :]
        out["G_W"].append(gi.T @ gi / M)
    return out


def xor_sgd_step(W: torch.Tensor, v: torch.Tensor, Y: torch.Tensor, y: torch.Tensor,
                 lr: float, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step of the XOR net on the samples ``(Y, y)``."""
    pre = Y @ W.T
    g = torch.relu(pre)
    res = torch.sigmoid(g @ v) - y.to(W.dtype)
    M = Y.shape[0]
    grad_v = g.T @ res / M + beta * v
    grad_W = ((res[:, None] * (pre > 0).to(W.dtype)) * v[None, :]).T @ Y / M + beta * W
    return W - lr * grad_W, v - lr * grad_v


def top_eigenspace(M: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All eigenvalues (descending) and the top-``k`` eigenvectors ``(n, k)`` of symmetric ``M``."""
    vals, vecs = torch.linalg.eigh(0.5 * (M + M.T))
    return vals.flip(0), vecs[:, -k:].flip(1)


def alignment(x: torch.Tensor, U: torch.Tensor) -> float:
    """``||U^T x|| / ||x||``: the fraction of ``x`` in the span of orthonormal columns ``U``."""
    nx = torch.linalg.vector_norm(x)
    if nx == 0:
        raise ValueError("alignment of a zero vector is undefined")
    return float(torch.linalg.vector_norm(U.T @ x) / nx)
