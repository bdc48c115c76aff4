"""Loss Hessian: projected ``R^T H R`` and Hessian-vector products (Eq. 2, 4).

The loss is the mean cross-entropy of ``softmax(z / T)`` (Eq. 1). The projected Hessian

.. math:: H_d = R^\\top H R \\in \\mathbb{R}^{d \\times d}

is assembled from the Gauss-Newton split (Eq. 4): one forward-over-reverse pass
(``jvp`` of a ``vjp``, vmapped over the ``d`` columns of ``R``, chunked over samples)
gives the H-term and, for free, the projected Jacobian ``J R`` from which the G-term
follows in closed form. :func:`hessian_matmat` is the plain forward-over-reverse Hessian
of the loss times a block of vectors, for Hutchinson estimates and Lanczos.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from goldilocks_nb.functional import Params

from ._checks import batch_chunks, check_batch, check_temperature, num_params, prepare
from .gauss_newton import _split
from .jacobian import DEFAULT_CHUNK_SIZE
from .subspace import directions_as_params

__all__ = ["hessian_matmat", "projected_hessian"]


def projected_hessian(
    model: nn.Module,
    params: Params,
    X: torch.Tensor,
    y: torch.Tensor,
    R: torch.Tensor,
    *,
    temperature: float = 1.0,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """Projected loss Hessian ``R^T H R`` (Section 2; Eq. 4 split ``G + H_term``).

    Args:
        model: any ``nn.Module`` mapping ``(N, ...)`` to logits ``(N, K)``; not mutated.
        params: ``{name: tensor}`` in ``named_parameters()`` order.
        X: inputs ``(N, ...)``.
        y: integer labels ``(N,)``.
        R: orthonormal directions ``(P, d)``, rows in ``flatten_params`` order; its dtype
            (float64 recommended) sets the computation's; the device is ``params``'.
        temperature: softmax temperature ``T > 0``.
        chunk_size: samples per chunk (``None``: all at once).

    Returns:
        Symmetric tensor of shape ``(d, d)``.

    Raises:
        ValueError: empty batch, ``X``/``y`` length mismatch, ``R`` not ``(P, d)`` with
            ``1 <= d <= P`` and orthonormal columns, ``T <= 0``.
    """
    G, H = _split(model, params, X, y, R, temperature, chunk_size)
    return G + H


def hessian_matmat(
    model: nn.Module,
    params: Params,
    X: torch.Tensor,
    y: torch.Tensor,
    V: torch.Tensor,
    *,
    temperature: float = 1.0,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """Hessian of the loss times a block of vectors, ``H V`` (forward-over-reverse).

    Args:
        model: network (not mutated).
        params: ``{name: tensor}``.
        X: inputs ``(N, ...)``.
        y: integer labels ``(N,)``.
        V: vectors ``(P, m)`` (any, need not be orthonormal); dtype sets the computation's.
        temperature: softmax temperature ``T > 0``.
        chunk_size: samples per chunk.

    Returns:
        Tensor ``H V`` of shape ``(P, m)``.
    """
    T = check_temperature(temperature)
    check_batch(X, y)
    P = num_params(params)
    if V.ndim != 2 or V.shape[0] != P or V.shape[1] < 1:
        raise ValueError(f"V must have shape (P={P}, m>=1), got {tuple(V.shape)}")
    params, X, y, V = prepare(params, X, y, V)
    N = X.shape[0]
    tangents = directions_as_params(V, params)
    out = None
    for sl in batch_chunks(N, chunk_size):
        Xc, yc = X[sl], y[sl]

        def chunk_loss(p: Params, Xc=Xc, yc=yc) -> torch.Tensor:
            z = functional_call(model, p, (Xc,))
            return torch.nn.functional.cross_entropy(z / T, yc, reduction="sum") / N

        g = grad(chunk_loss)

        def one(v: Params, g=g) -> Params:
            return jvp(g, (params,), (v,))[1]

        hv = vmap(one)(tangents)
        flat = torch.cat([t.reshape(t.shape[0], -1) for t in hv.values()], dim=1)
        out = flat if out is None else out + flat
    return out.T.contiguous()
