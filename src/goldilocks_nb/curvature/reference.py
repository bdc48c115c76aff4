"""Dense brute-force references for tests, benchmarks and sanity cells (small models only).

Everything here materialises ``P x P`` or ``N x K x P`` objects with ``torch.func``
(``hessian``, ``jacrev``) over the flat parameter vector, or loops over samples and
classes like the paper's original code; use them to check the fast paths, never for
real-size work (except :func:`g_term_loop` on a subset, as the benchmark's peer).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, hessian, jacrev

from goldilocks_nb.functional import Weights, flatten_params, unflatten_params

__all__ = [
    "dense_g_term",
    "dense_h_term",
    "dense_hessian",
    "dense_jacobian",
    "g_term_loop",
]


def _flat_loss(model: nn.Module, params: Weights, X, y, temperature: float):
    def f(theta: torch.Tensor) -> torch.Tensor:
        z = functional_call(model, unflatten_params(theta, params), (X,))
        return nn.functional.cross_entropy(z / temperature, y)

    return f


def dense_hessian(
    model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, *, temperature: float = 1.0
) -> torch.Tensor:
    """Full loss Hessian ``(P, P)`` by ``torch.func.hessian`` over ``flatten_params``."""
    return hessian(_flat_loss(model, params, X, y, temperature))(flatten_params(params))


def dense_jacobian(model: nn.Module, params: Weights, X: torch.Tensor) -> torch.Tensor:
    """Full logit Jacobian ``(N, K, P)`` by ``torch.func.jacrev``."""

    def f(theta: torch.Tensor) -> torch.Tensor:
        return functional_call(model, unflatten_params(theta, params), (X,))

    return jacrev(f)(flatten_params(params))


def dense_g_term(
    model: nn.Module, params: Weights, X: torch.Tensor, *, temperature: float = 1.0
) -> torch.Tensor:
    """``(1/(N T^2)) sum_mu J_mu^T [diag p_mu - p_mu p_mu^T] J_mu`` as a ``(P, P)`` matrix."""
    J = dense_jacobian(model, params, X)
    z = functional_call(model, params, (X,))
    p = torch.softmax(z / temperature, dim=-1)
    A = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)
    return torch.einsum("nkp,nkl,nlq->pq", J, A, J) / (X.shape[0] * temperature**2)


def dense_h_term(
    model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, *, temperature: float = 1.0
) -> torch.Tensor:
    """``sum_mu sum_k (dl/dz_{mu k}) nabla^2 z_{mu k}`` as a ``(P, P)`` matrix.

    The Hessian of ``theta -> sum_mu <c_mu, z_mu(theta)>`` with the constant
    ``c = (p - onehot(y)) / (N T)``.
    """
    z = functional_call(model, params, (X,))
    p = torch.softmax(z / temperature, dim=-1)
    c = (p - nn.functional.one_hot(y, p.shape[-1]).to(p.dtype)) / (X.shape[0] * temperature)

    def f(theta: torch.Tensor) -> torch.Tensor:
        return (functional_call(model, unflatten_params(theta, params), (X,)) * c).sum()

    return hessian(f)(flatten_params(params))


def g_term_loop(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    R: torch.Tensor,
    *,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Projected G-term by one backward pass per sample and per class (the paper's way).

    ``J_mu R`` is assembled row by row from ``K`` ``torch.autograd.grad`` calls per sample
    on fresh leaf copies of ``params``; the result equals
    :func:`goldilocks_nb.curvature.g_term`. Slow by design: the baseline of the benchmark.

    Returns:
        Tensor of shape ``(d, d)``.
    """
    leaves = {k: v.detach().to(R.dtype).requires_grad_(True) for k, v in params.items()}
    X = X.to(R.dtype)
    d = R.shape[1]
    G = torch.zeros(d, d, dtype=R.dtype, device=R.device)
    for mu in range(X.shape[0]):
        z = functional_call(model, leaves, (X[mu : mu + 1],))[0]
        K = z.shape[0]
        JR = torch.empty(K, d, dtype=R.dtype, device=R.device)
        for k in range(K):
            grads = torch.autograd.grad(z[k], list(leaves.values()), retain_graph=k < K - 1)
            JR[k] = torch.cat([g.reshape(-1) for g in grads]) @ R
        p = torch.softmax(z.detach() / temperature, dim=-1)
        A = torch.diag(p) - torch.outer(p, p)
        G += JR.T @ A @ JR
    return G / (X.shape[0] * temperature**2)
