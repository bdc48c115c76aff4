"""The batched passes behind every curvature quantity (private).

:func:`loss_hvp` is the one chunked Hessian-vector-product primitive (Hessian of the loss
times a block of vectors, over all parameters or a subset of them): it serves
:func:`~.hessian.hessian_matmat`, the Hutchinson estimates and the Lanczos of
:mod:`.eigen`.

:func:`second_order_pass` is the forward-over-reverse pass behind the projected
Hessian, G-term and H-term.

For a constant coefficient matrix ``C`` of shape ``(N, K)`` (the loss gradient with
respect to the logits, ``C = dl/dz``, or any other weighting), one pass computes

.. math:: \\mathcal{H}(C) R = \\sum_{\\mu, k} C_{\\mu k} \\nabla^2_\\theta z_{\\mu k} R
          \\quad\\text{and}\\quad J R,

as the ``jvp`` (forward mode, vmapped over the ``d`` columns of ``R``) of the ``vjp``
``theta -> J^T C``. ``C`` carries no derivative (a stop-gradient), so the result is the
second-order logit term of Eq. 4 alone; the G-term follows from ``J R`` in closed form.

For a declared ReLU chain the pass runs on ``u = (h_1, W_2, ..., W_L)`` instead of
``theta``, with the first layer's tangents ``V_1 a_0`` from sparse products; see
:mod:`.relu_chain` for why this is exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vjp, vmap

from goldilocks_nb.functional import Weights

from ._checks import Prepared, batch_chunks, check_logits
from .relu_chain import chain_head, checked_relu_chain, direction_blocks, linear_tangent
from .subspace import directions_as_params, project_params_batch

__all__ = [
    "logits_chunked",
    "logits_checker",
    "loss_coefficients",
    "loss_hvp",
    "second_order_pass",
]


def logits_chunked(
    model: nn.Module, params: Weights, X: torch.Tensor, chunk_size: int | None
) -> torch.Tensor:
    """Logits ``(N, K)`` at ``params``, evaluated chunk by chunk without autograd."""
    with torch.no_grad():
        parts = [
            functional_call(model, params, (X[sl],))
            for sl in batch_chunks(len(X), chunk_size)
        ]
    return torch.cat(parts)


def logits_checker(
    model: nn.Module, prep: Prepared, chunk_size: int | None
) -> Callable[[], None]:
    """A deferred :func:`~._checks.check_logits` at ``prep`` (for ``check_result``'s
    ``explain``): the logits are computed only if a result turned out non-finite."""

    def explain() -> None:
        z = logits_chunked(model, prep.params, prep.X, chunk_size)
        check_logits(z, -math.log10(prep.T) if prep.T is not None else 0.0)

    return explain


def loss_hvp(
    model: nn.Module,
    prep: Prepared,
    V: torch.Tensor,
    *,
    names: Sequence[str] | None = None,
    chunk_size: int | None,
) -> torch.Tensor:
    """Hessian of the mean cross-entropy at temperature ``T`` times ``V``: ``H V``.

    Forward-over-reverse (``jvp`` of ``grad``), vmapped over the ``m`` columns of ``V``
    and summed over chunks of samples. With ``names``, the Hessian is the diagonal block
    of those parameters (``d^2 l / d theta_names^2``, the others held fixed).

    Args:
        model: the network (not mutated).
        prep: prepared inputs (:func:`~._checks.prepare`, with labels and temperature).
        V: ``(n, m)``, rows in ``flatten_params`` order of the parameters ``names``.
        names: a subset of the parameter names, in ``params`` order (default: all).
        chunk_size: samples per chunk.

    Returns:
        ``H V`` of shape ``(n, m)``.
    """
    params, X, y, T = prep.params, prep.X, prep.y, prep.T
    sub = params if names is None else {k: params[k] for k in names}
    tangents = directions_as_params(V, sub)
    N, m = X.shape[0], V.shape[1]
    out = None
    for sl in batch_chunks(N, chunk_size):
        Xc, yc = X[sl], y[sl]

        def chunk_loss(s: Weights, Xc=Xc, yc=yc) -> torch.Tensor:
            z = functional_call(model, {**params, **s}, (Xc,))
            return nn.functional.cross_entropy(z / T, yc, reduction="sum") / N

        g = grad(chunk_loss)
        hv = vmap(lambda v, g=g: jvp(g, (sub,), (v,))[1])(tangents)
        flat = torch.cat([hv[k].reshape(m, -1) for k in sub], dim=1)
        out = flat if out is None else out + flat
    return out.T.contiguous()


def loss_coefficients(
    z: torch.Tensor, y: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax ``p = softmax(z / T)`` and ``dl/dz = (p - onehot(y)) / (N T)``, both ``(N, K)``."""
    p = torch.softmax(z / temperature, dim=-1)
    onehot = torch.nn.functional.one_hot(y, p.shape[-1]).to(p.dtype)
    return p, (p - onehot) / (z.shape[0] * temperature)


def _add_leading_dim(tree):
    """Unsqueeze every tensor of a tensor / dict / tuple tree at dim 0."""
    if isinstance(tree, torch.Tensor):
        return tree.unsqueeze(0)
    if isinstance(tree, dict):
        return {k: _add_leading_dim(v) for k, v in tree.items()}
    return tuple(_add_leading_dim(v) for v in tree)


def second_order_pass(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    C: torch.Tensor,
    R: torch.Tensor,
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
        chunk_size: samples per chunk.
        with_jacobian: also return ``J R``.

    Returns:
        ``(H, JR)``: ``H`` of shape ``(m, d, d)`` (symmetrised), ``JR`` of shape
        ``(N, K, d)`` or ``None``.
    """
    m, d = C.shape[0], R.shape[1]
    H = torch.zeros(m, d, d, dtype=R.dtype, device=R.device)
    jac_parts = []
    chain = checked_relu_chain(model, params, X)
    if chain is None:
        tangents = directions_as_params(R, params)
    else:
        first, n1 = chain.names[0], chain.sizes[0]
        block = direction_blocks(chain, R)[0]
        head = chain_head(chain)
        rest = {k: v for k, v in params.items() if k != first}
        rest_tangents = directions_as_params(R[n1:], rest)  # W_1's block is never needed
        R_rest = R[n1:]
    for sl in batch_chunks(X.shape[0], chunk_size):
        Xc, Cc = X[sl], C[:, sl]
        if chain is None:
            primals, dirs = params, tangents

            def f(p: Weights, Xc=Xc) -> torch.Tensor:
                return functional_call(model, p, (Xc,))

        else:
            a0 = Xc.flatten(1)
            dh1 = linear_tangent(block, a0.T.contiguous()).permute(1, 2, 0)  # (d, n, out)
            primals = (a0 @ params[first].T, rest)
            dirs = (dh1, rest_tangents)

            def f(u, head=head) -> torch.Tensor:
                return head(*u)

        def grads_and_logits(u, f=f, Cc=Cc):
            z, vjp_fn = vjp(f, u)
            if m == 1:
                g = _add_leading_dim(vjp_fn(Cc[0])[0])
            else:
                g = vmap(vjp_fn)(Cc)[0]
            return g, z

        def one(v, fn=grads_and_logits, primals=primals):
            _, (hv, jv) = jvp(fn, (primals,), (v,))
            return hv, jv

        hv, jv = vmap(one)(dirs)  # hv like primals with leading (d, m); jv: (d, n, K)
        for i in range(m):
            if chain is None:
                H[i] += project_params_batch({k: t[:, i] for k, t in hv.items()}, R)
            else:
                hv1, hv_rest = hv
                H[i] += hv1[:, i].reshape(d, -1) @ dirs[0].reshape(d, -1).T
                H[i] += project_params_batch({k: t[:, i] for k, t in hv_rest.items()}, R_rest)
        if with_jacobian:
            jac_parts.append(jv)
        del hv
    H = 0.5 * (H + H.transpose(1, 2))
    JR = torch.cat(jac_parts, dim=1).permute(1, 2, 0).contiguous() if with_jacobian else None
    return H, JR
