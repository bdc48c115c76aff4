"""Gauss-Newton decomposition of the projected Hessian into G-term and H-term (Eq. 4).

For the mean cross-entropy of ``softmax(z / T)`` over ``N`` samples,

.. math::
    H = \\underbrace{\\frac{1}{N T^2}\\sum_\\mu J_\\mu^\\top
        \\left[\\mathrm{diag}(p_\\mu) - p_\\mu p_\\mu^\\top\\right] J_\\mu}_{\\mathcal{G}}
      + \\underbrace{\\frac{1}{N T}\\sum_\\mu \\sum_k (p_{\\mu k} - 1\\{y_\\mu = k\\})
        \\nabla^2_\\theta z_{\\mu k}}_{\\mathcal{H}},

with ``p = softmax(z / T)`` (Eq. 4, Section 3). Everything here is projected on the
columns of ``R``: ``G = R^T \\mathcal{G} R``, ``H_term = R^T \\mathcal{H} R`` (``d x d``).
The G-term comes from the forward-mode projected Jacobian ``J R`` in closed form; the
H-term from one forward-over-reverse pass with the stop-gradient coefficients ``dl/dz``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from goldilocks_nb.functional import Weights, check_finite

from ._checks import Prepared, check_logits, check_result, prepare
from ._passes import logits_chunked, loss_coefficients, second_order_pass
from .jacobian import DEFAULT_CHUNK_SIZE, JACOBIAN_CHUNK_SIZE, logits_and_jacobian

__all__ = [
    "g_term",
    "gauss_newton_from_jacobian",
    "gauss_newton_split",
    "h_term",
    "h_term_from_probs",
]


def gauss_newton_from_jacobian(JR: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """``G(p) = (1/N) sum_mu (J_mu R)^T [diag(p_mu) - p_mu p_mu^T] (J_mu R)`` (Eq. 4).

    Evaluated in the centred form ``sum_k p_k (j_k - u)(j_k - u)^T`` with
    ``u = sum_k p_k j_k``, which is positive semi-definite by construction.
    No temperature factor: the loss G-term at temperature ``T`` is ``G(p) / T^2``.

    Args:
        JR: projected Jacobian, shape ``(N, K, d)``.
        probs: softmax outputs, shape ``(N, K)``.

    Returns:
        Symmetric PSD tensor of shape ``(d, d)``.
    """
    if JR.ndim != 3 or probs.shape != JR.shape[:2]:
        raise ValueError(
            f"expected JR (N, K, d) and probs (N, K), got {tuple(JR.shape)} and "
            f"{tuple(probs.shape)}"
        )
    probs = probs.to(JR.dtype)
    u = torch.einsum("nk,nkd->nd", probs, JR)
    centred = JR - u.unsqueeze(1)
    weighted = centred * probs.sqrt().unsqueeze(-1)
    flat = weighted.reshape(-1, JR.shape[-1])
    G = flat.T @ flat / JR.shape[0]
    return 0.5 * (G + G.T)


def g_term(
    model: nn.Module, params: Weights, X: torch.Tensor, R: torch.Tensor, *,
    temperature: float = 1.0, chunk_size: int | None = JACOBIAN_CHUNK_SIZE,
) -> torch.Tensor:
    """Projected G-term ``R^T G R`` of the mean cross-entropy at temperature ``T`` (Eq. 4).

    .. math:: \\frac{1}{N T^2} \\sum_\\mu (J_\\mu R)^\\top
              [\\mathrm{diag}(p_\\mu) - p_\\mu p_\\mu^\\top] (J_\\mu R)

    Needs no labels: the G-term depends on the data only through ``p = softmax(z / T)``.

    Args:
        model: network (not mutated).
        params: ``{name: tensor}`` in ``named_parameters()`` order.
        X: inputs ``(N, ...)``.
        R: orthonormal directions ``(P, d)``; its dtype sets the computation's.
        temperature: softmax temperature ``T > 0``.
        chunk_size: samples per chunk (``None``: all at once).

    Returns:
        Symmetric PSD tensor of shape ``(d, d)``.

    Raises:
        ValueError, NonFiniteResultError: see :func:`~.hessian.projected_hessian`.
    """
    prep = prepare(model, params, X, R=R, temperature=temperature)
    z, JR = logits_and_jacobian(model, prep.params, prep.X, prep.R, chunk_size)
    check_logits(z, -math.log10(prep.T))
    return _g_from(JR, z, prep.T)


def _g_from(JR: torch.Tensor, z: torch.Tensor, T: float) -> torch.Tensor:
    """The loss G-term ``G(softmax(z / T)) / T^2`` from ``J R`` and the logits, checked."""
    G = gauss_newton_from_jacobian(JR, torch.softmax(z / T, dim=-1)) / T**2
    return check_result(G, "the projected G-term", temperature=T)


def split_prepared(
    model: nn.Module, prep: Prepared, chunk_size: int | None, *, with_g: bool = True
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(G, H_term)`` at prepared inputs (labels and temperature); ``G`` is ``None``
    unless ``with_g`` (then ``J R`` is not kept)."""
    T = prep.T
    z = logits_chunked(model, prep.params, prep.X, chunk_size)
    check_logits(z, -math.log10(T))
    _, C = loss_coefficients(z, prep.y, T)
    H, JR = second_order_pass(
        model, prep.params, prep.X, C.unsqueeze(0), prep.R,
        chunk_size=chunk_size, with_jacobian=with_g,
    )  # fmt: skip
    H = check_result(H[0], "the projected H-term", temperature=T)
    return (_g_from(JR, z, T) if with_g else None), H


def gauss_newton_split(
    model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, R: torch.Tensor, *,
    temperature: float = 1.0, chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both terms of the projected Gauss-Newton decomposition (Eq. 4) from one pass.

    Arguments as :func:`~.hessian.projected_hessian`.

    Returns:
        ``(G, H_term)``, each of shape ``(d, d)``; their sum is :func:`projected_hessian`.
    """
    return split_prepared(model, prepare(model, params, X, y, R, temperature=temperature),
                          chunk_size)


def h_term(
    model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, R: torch.Tensor, *,
    temperature: float = 1.0, chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """Projected H-term ``R^T [sum_mu sum_k (dl/dz_{mu k}) nabla^2 z_{mu k}] R`` (Eq. 4).

    The Hessian of ``theta -> sum_mu <stopgrad(dl/dz_mu), z_mu(theta)>`` with
    ``dl/dz_mu = (p_mu - onehot(y_mu)) / (N T)``, projected on ``R``. Arguments as
    :func:`~.hessian.projected_hessian`.

    Returns:
        Symmetric tensor of shape ``(d, d)``.
    """
    prep = prepare(model, params, X, y, R, temperature=temperature)
    return split_prepared(model, prep, chunk_size, with_g=False)[1]


def h_term_from_probs(
    model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, R: torch.Tensor,
    probs: torch.Tensor, *, chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """``H(p) = R^T [(1/N) sum_mu sum_k (p_{mu k} - 1{y_mu = k}) nabla^2 z_{mu k}] R``.

    The H-term as a function of an arbitrary probability matrix ``p`` (Eq. 5), evaluated
    at ``params``: the loss H-term at temperature ``T`` is ``H(softmax(z / T)) / T``, and
    at ``alpha * theta`` it is ``alpha^(L-2) / T * H(p')`` for a degree-``L`` network.

    Args:
        model: network (not mutated).
        params: ``{name: tensor}``.
        X: inputs ``(N, ...)``.
        y: integer labels ``(N,)``.
        R: orthonormal directions ``(P, d)``.
        probs: finite ``(N, K)`` (or a stack ``(m, N, K)``, giving ``(m, d, d)``).
        chunk_size: samples per chunk.

    Returns:
        Tensor of shape ``(d, d)`` (or ``(m, d, d)``).
    """
    prep = prepare(model, params, X, y, R)
    stacked = probs.ndim == 3
    P = probs if stacked else probs.unsqueeze(0)
    if P.ndim != 3 or P.shape[1] != prep.N:
        raise ValueError(
            f"probs must be (N, K) or (m, N, K) with N = {prep.N} samples, got shape "
            f"{tuple(probs.shape)}"
        )
    check_finite("probs", P)
    P = P.to(dtype=prep.dtype, device=prep.X.device)
    onehot = torch.nn.functional.one_hot(prep.y, P.shape[-1]).to(P.dtype)
    C = (P - onehot) / prep.N
    H, _ = second_order_pass(
        model, prep.params, prep.X, C, prep.R, chunk_size=chunk_size, with_jacobian=False
    )
    H = check_result(H, "the projected H-term H(p)")
    return H if stacked else H[0]
