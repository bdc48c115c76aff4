"""Projected logit Jacobian ``J R`` by forward-mode differentiation (Section 3).

For inputs ``x_mu`` and logits ``z_mu = f_theta(x_mu)`` (``K`` classes), the projected
Jacobian is

.. math:: (J R)_{\\mu k j} = \\sum_i \\frac{\\partial z_{\\mu k}}{\\partial \\theta_i} R_{ij},

computed as ``d`` Jacobian-vector products (``torch.func.jvp``, vmapped over the columns
of ``R``), vectorised over the batch and processed in chunks of samples. For a model that
declares a bias-free ReLU chain (``model.relu_chain()``, e.g. LeNet-300-100) the same
products are written out layer by layer and use the sparsity of ``R``
(:mod:`.relu_chain`); the two routes agree to rounding (tested).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jvp, vmap

from goldilocks_nb.functional import Weights

from ._checks import batch_chunks, check_logits, check_result, prepare
from ._passes import logits_chunked
from .relu_chain import chain_jacobian, checked_relu_chain, direction_blocks
from .subspace import directions_as_params

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "JACOBIAN_CHUNK_SIZE",
    "jacobian_chunk",
    "logits_and_jacobian",
    "projected_jacobian",
]

DEFAULT_CHUNK_SIZE = 128
"""Samples per chunk of the forward-over-reverse passes (Hessian, H-term): bounds memory
at a few times ``chunk * d * (sum of layer widths)`` floats plus ``d * P``. Small chunks
stay in cache: on 2 CPU cores (d = 50, float64) LeNet-5 took 10.8 s at 100 vs 14.5 s at
250 and 17-20 s at 500 samples per chunk; LeNet-300-100 (closed-form chain) 0.80 s at
100-250 vs 1.0 s at 500."""

JACOBIAN_CHUNK_SIZE = 1000
"""Samples per chunk of the forward-only ``J R`` pass (G-term): it stores less, and
larger chunks were faster on CPU (LeNet-300-100, d=50)."""


def jacobian_chunk(
    model: nn.Module, params: Weights, X: torch.Tensor, tangents: Weights
) -> torch.Tensor:
    """``(J R)`` on one chunk, as ``(d, n, K)``, for tangents ``{name: (d, *shape)}``."""

    def f(p: Weights) -> torch.Tensor:
        return functional_call(model, p, (X,))

    def one(v: Weights) -> torch.Tensor:
        return jvp(f, (params,), (v,))[1]

    return vmap(one)(tangents)


def projected_jacobian(
    model: nn.Module, params: Weights, X: torch.Tensor, R: torch.Tensor, *,
    chunk_size: int | None = JACOBIAN_CHUNK_SIZE,
) -> torch.Tensor:
    """Logit Jacobian times ``R`` by forward mode: ``(J R)_{mu k j}``.

    Args:
        model: any ``nn.Module`` mapping ``(N, ...)`` to logits ``(N, K)``; not mutated.
        params: ``{name: tensor}`` in ``named_parameters()`` order.
        X: inputs, shape ``(N, ...)``.
        R: directions, shape ``(P, d)``, orthonormal columns, rows in
            ``flatten_params`` order. Its dtype is used for the computation.
        chunk_size: samples per chunk (``None``: the whole batch at once).

    Returns:
        Tensor of shape ``(N, K, d)``.

    Raises:
        ValueError: on bad inputs, named (``params``, ``X``, ``R``; see ``_checks``).
        NonFiniteResultError: if the logits or ``J R`` overflow.
    """
    prep = prepare(model, params, X, R=R)
    z, JR = logits_and_jacobian(model, prep.params, prep.X, prep.R, chunk_size)
    check_logits(z)
    return check_result(JR, "the projected Jacobian J R")


def logits_and_jacobian(
    model: nn.Module, params: Weights, X: torch.Tensor, R: torch.Tensor, chunk_size: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(N, K)`` and ``J R`` ``(N, K, d)`` (inputs already prepared).

    Closed form for a declared ReLU chain (:mod:`.relu_chain`), else vmapped ``jvp``.
    """
    chain = checked_relu_chain(model, params, X)
    if chain is not None:
        blocks = direction_blocks(chain, R)
        parts = [
            chain_jacobian(chain, params, X[sl].flatten(1), blocks)
            for sl in batch_chunks(X.shape[0], chunk_size)
        ]
        return torch.cat([z for z, _ in parts]), torch.cat([jr for _, jr in parts])
    tangents = directions_as_params(R, params)
    parts = [
        jacobian_chunk(model, params, X[sl], tangents)
        for sl in batch_chunks(X.shape[0], chunk_size)
    ]
    JR = torch.cat(parts, dim=1).permute(1, 2, 0).contiguous()
    return logits_chunked(model, params, X, chunk_size), JR
