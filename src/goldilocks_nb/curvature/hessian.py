"""Loss Hessian: projected ``R^T H R`` and Hessian-vector products (Eq. 2, 4).

The loss is the mean cross-entropy of ``softmax(z / T)`` (Eq. 1). The projected Hessian

.. math:: H_d = R^\\top H R \\in \\mathbb{R}^{d \\times d}

is assembled from the Gauss-Newton split (Eq. 4): one forward-over-reverse pass
(``jvp`` of a ``vjp``, vmapped over the ``d`` columns of ``R``, chunked over samples)
gives the H-term and, for free, the projected Jacobian ``J R`` from which the G-term
follows in closed form. :func:`hessian_matmat` is the plain forward-over-reverse Hessian
of the loss times a block of vectors: the public face of ``_passes.loss_hvp``, the one
chunked HVP primitive that the Hutchinson estimates and the Lanczos share.
"""

from __future__ import annotations

import torch
from torch import nn

from goldilocks_nb.functional import Weights

from ._checks import check_result, prepare
from ._passes import logits_checker, loss_hvp
from .gauss_newton import split_prepared
from .jacobian import DEFAULT_CHUNK_SIZE

__all__ = ["hessian_matmat", "projected_hessian"]


def projected_hessian(
    model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, R: torch.Tensor, *,
    temperature: float = 1.0, chunk_size: int | None = DEFAULT_CHUNK_SIZE,
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
        ValueError: bad inputs, named (see ``_checks.prepare``): ``params`` not the model's
            tensors, non-finite ``X`` or ``params``, empty batch, ``X``/``y`` length
            mismatch, ``R`` not ``(P, d)`` with ``1 <= d <= P`` and orthonormal columns,
            ``T`` not finite and ``> 0``.
        NonFiniteResultError: the result overflows (e.g. ``z / T`` for a tiny ``T``).
    """
    prep = prepare(model, params, X, y, R, temperature=temperature)
    G, H = split_prepared(model, prep, chunk_size)
    return check_result(G + H, "the projected Hessian R^T H R", temperature=prep.T)


def hessian_matmat(
    model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, V: torch.Tensor, *,
    temperature: float = 1.0, chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """Hessian of the loss times a block of vectors, ``H V`` (forward-over-reverse).

    Args:
        model: network (not mutated).
        params: ``{name: tensor}``.
        X: inputs ``(N, ...)``.
        y: integer labels ``(N,)``.
        V: finite vectors ``(P, m)`` (any, need not be orthonormal); dtype sets the
            computation's.
        temperature: softmax temperature ``T > 0``.
        chunk_size: samples per chunk.

    Returns:
        Tensor ``H V`` of shape ``(P, m)``.
    """
    prep = prepare(model, params, X, y, V, temperature=temperature, orthonormal=False)
    HV = loss_hvp(model, prep, prep.R, chunk_size=chunk_size)
    return check_result(HV, "the Hessian-vector products H V", temperature=prep.T,
                        explain=logits_checker(model, prep, chunk_size))
