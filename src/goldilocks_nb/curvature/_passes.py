"""The batched forward-over-reverse pass behind the Hessian, G-term and H-term (private).

For a constant coefficient matrix ``C`` of shape ``(N, K)`` (the loss gradient with
respect to the logits, ``C = dl/dz``, or any other weighting), one pass computes

.. math:: \\mathcal{H}(C) R = \\sum_{\\mu, k} C_{\\mu k} \\nabla^2_\\theta z_{\\mu k} R
          \\quad\\text{and}\\quad J R,

as the ``jvp`` (forward mode, vmapped over the ``d`` columns of ``R``) of the ``vjp``
``theta -> J^T C``. ``C`` carries no derivative (a stop-gradient), so the result is the
second-order logit term of Eq. 4 alone; the G-term follows from ``J R`` in closed form.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jvp, vjp, vmap

from goldilocks_nb.functional import Params

from ._checks import batch_chunks
from .subspace import project_params_batch

__all__ = ["logits_chunked", "loss_coefficients", "second_order_pass"]


def logits_chunked(
    model: nn.Module, params: Params, X: torch.Tensor, chunk_size: int | None
) -> torch.Tensor:
    """Logits ``(N, K)`` at ``params``, evaluated chunk by chunk without autograd."""
    with torch.no_grad():
        parts = [
            functional_call(model, params, (X[sl],))
            for sl in batch_chunks(len(X), chunk_size)
        ]
    return torch.cat(parts)


def loss_coefficients(
    z: torch.Tensor, y: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax ``p = softmax(z / T)`` and ``dl/dz = (p - onehot(y)) / (N T)``, both ``(N, K)``."""
    p = torch.softmax(z / temperature, dim=-1)
    onehot = torch.nn.functional.one_hot(y, p.shape[-1]).to(p.dtype)
    return p, (p - onehot) / (z.shape[0] * temperature)


def second_order_pass(
    model: nn.Module,
    params: Params,
    X: torch.Tensor,
    C: torch.Tensor,
    R: torch.Tensor,
    tangents: Params,
    *,
    chunk_size: int | None,
    with_jacobian: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``R^T H(C_i) R`` for a stack of coefficient matrices, and optionally ``J R``.

    Args:
        model: the network (not mutated).
        params: parameters, already cast (see ``_checks.prepare``).
        X: inputs ``(N, ...)``.
        C: coefficients ``(m, N, K)``; the forward tangent pass is shared by the ``m``.
        R: directions ``(P, d)``.
        tangents: ``directions_as_params(R, params)``.
        chunk_size: samples per chunk.
        with_jacobian: also return ``J R``.

    Returns:
        ``(H, JR)``: ``H`` of shape ``(m, d, d)`` (symmetrised), ``JR`` of shape
        ``(N, K, d)`` or ``None``.
    """
    m, d = C.shape[0], R.shape[1]
    H = torch.zeros(m, d, d, dtype=R.dtype, device=R.device)
    jac_parts = []
    for sl in batch_chunks(X.shape[0], chunk_size):
        Xc, Cc = X[sl], C[:, sl]

        def grads_and_logits(p: Params, Xc=Xc, Cc=Cc) -> tuple[Params, torch.Tensor]:
            z, vjp_fn = vjp(lambda q: functional_call(model, q, (Xc,)), p)
            if m == 1:
                g = {k: v.unsqueeze(0) for k, v in vjp_fn(Cc[0])[0].items()}
            else:
                g = vmap(vjp_fn)(Cc)[0]
            return g, z

        def one(v: Params, fn=grads_and_logits) -> tuple[Params, torch.Tensor]:
            _, (hv, jv) = jvp(fn, (params,), (v,))
            return hv, jv

        hv, jv = vmap(one)(tangents)  # hv: {name: (d, m, *shape)}, jv: (d, n, K)
        for i in range(m):
            H[i] += project_params_batch({k: t[:, i] for k, t in hv.items()}, R)
        if with_jacobian:
            jac_parts.append(jv)
        del hv
    H = 0.5 * (H + H.transpose(1, 2))
    JR = torch.cat(jac_parts, dim=1).permute(1, 2, 0).contiguous() if with_jacobian else None
    return H, JR
