"""Hessian spectra: exact dense eigenvalues, an outlier rule, and stochastic Lanczos quadrature.

Sagun et al. (2017) describe the loss Hessian of a trained network as a *bulk* of
eigenvalues near zero plus a few *outliers*; Appendix B of the main paper predicts
``K - 1`` outliers of the G-term at initialisation inside the Goldilocks zone. This module
measures both pictures on top of the curvature engine's Hessian-vector products
(:func:`goldilocks_nb.curvature.hessian_matmat`); it writes no Hessian code of its own.

* :func:`exact_hessian_spectrum`: all ``P`` eigenvalues (float64, ``eigvalsh``) of the
  Hessian assembled column block by column block from Hessian-vector products.
* :func:`count_outliers`: the stated outlier rule (largest eigenvalue ratio among the top
  eigenvalues, accepted when it exceeds ``min_gap``).
* :func:`outlier_edge`: the same edge (largest ratio gap among the top ``M``) with its
  resolution, the gap against the largest gap on the bulk side of it; a count is
  reported only where the edge is resolved (chapter 05).
* :func:`lanczos_tridiagonal`, :func:`slq_nodes`, :func:`broadened_density`: the spectral
  density of a large Hessian by stochastic Lanczos quadrature (Ghorbani et al. 2019,
  PyHessian), the same broadening applied to an exact spectrum for validation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .curvature import hessian_matmat, positive_curvature
from .functional import Params

__all__ = [
    "OutlierEdge",
    "OutlierSplit",
    "broadened_density",
    "count_outliers",
    "density_l1",
    "exact_hessian_spectrum",
    "hessian_operator",
    "lanczos_tridiagonal",
    "outlier_edge",
    "positive_curvature_of",
    "slq_nodes",
]

#: Largest parameter count accepted by :func:`exact_hessian_spectrum` (a float64 P x P
#: matrix of 12,000 is 1.2 GB; its ``eigvalsh`` takes minutes on a laptop CPU).
MAX_DENSE_PARAMS = 12_000


def _num_params(params: Params) -> int:
    return int(sum(v.numel() for v in params.values()))


def hessian_operator(model: nn.Module, params: Params, X: torch.Tensor, y: torch.Tensor, *,
                     temperature: float = 1.0, chunk_size: int | None = None
                     ) -> tuple[Callable[[torch.Tensor], torch.Tensor], int]:
    """``(V -> H V, P)``: the engine's Hessian-vector products as a block operator.

    ``V`` has shape ``(P, m)``; the product is taken in ``V``'s dtype. ``model`` is not
    mutated.
    """
    P = _num_params(params)

    def matmat(V: torch.Tensor) -> torch.Tensor:
        return hessian_matmat(model, params, X, y, V, temperature=temperature,
                              chunk_size=chunk_size)

    return matmat, P


def exact_hessian_spectrum(model: nn.Module, params: Params, X: torch.Tensor, y: torch.Tensor,
                           *, temperature: float = 1.0, block: int = 256,
                           max_params: int = MAX_DENSE_PARAMS) -> np.ndarray:
    """All eigenvalues of the loss Hessian, in descending order (float64).

    The ``P x P`` Hessian is assembled as ``H [e_i ... e_j]`` in column blocks of
    ``block`` unit vectors through :func:`goldilocks_nb.curvature.hessian_matmat`,
    symmetrised (``(H + H^T) / 2``, removing rounding asymmetry only) and diagonalised by
    ``torch.linalg.eigvalsh``.

    Raises:
        ValueError: ``P > max_params`` (before any compute), ``block < 1``.
    """
    P = _num_params(params)
    if P > max_params:
        raise ValueError(f"exact spectrum needs P <= {max_params} parameters, got P = {P}; "
                         f"use slq_nodes for larger nets")
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    device = next(iter(params.values())).device
    H = torch.empty(P, P, dtype=torch.float64, device=device)
    for start in range(0, P, block):
        stop = min(P, start + block)
        E = torch.zeros(P, stop - start, dtype=torch.float64, device=device)
        E[torch.arange(start, stop), torch.arange(stop - start)] = 1.0
        H[:, start:stop] = hessian_matmat(model, params, X, y, E, temperature=temperature,
                                          chunk_size=None)
    H = 0.5 * (H + H.T)
    return torch.linalg.eigvalsh(H).flip(0).cpu().numpy()


def positive_curvature_of(eigenvalues: np.ndarray) -> float:
    """``Tr H / ||H||_F = sum(lambda) / sqrt(sum(lambda^2))`` (Eq. 2 of the main paper) from
    a spectrum: :func:`goldilocks_nb.curvature.positive_curvature` of ``diag(lambda)``, the
    one home of Eq. 2 (``nan`` for a zero spectrum, as there)."""
    lam = torch.as_tensor(np.asarray(eigenvalues, dtype=np.float64))
    return positive_curvature(torch.diag(lam))


@dataclass(frozen=True)
class OutlierSplit:
    """The outcome of :func:`count_outliers`.

    Attributes:
        count: number of outliers (0 when no gap reaches ``min_gap``).
        bulk_edge: the largest eigenvalue counted in the bulk, ``lambda_{count+1}``.
        gap: the ratio ``lambda_m / lambda_{m+1}`` at the largest gap ``m`` (whether or not
            it was accepted).
        position: that ``m`` (1-based).
        min_gap: the acceptance threshold used.
    """

    count: int
    bulk_edge: float
    gap: float
    position: int
    min_gap: float


def count_outliers(eigenvalues: np.ndarray, *, max_outliers: int, min_gap: float = 1.5
                   ) -> OutlierSplit:
    """Outliers of a spectrum by the largest ratio gap among its top eigenvalues.

    Rule (stated once, used for every spectrum of the book): sort the eigenvalues in
    descending order ``lambda_1 >= lambda_2 >= ...``; among ``m = 1 .. max_outliers`` with
    ``lambda_{m+1} > 0`` take the ``m`` with the largest ratio ``lambda_m / lambda_{m+1}``.
    If that ratio is at least ``min_gap`` the top ``m`` eigenvalues are the outliers and
    ``lambda_{m+1}`` is the bulk edge; otherwise there are no outliers (the top of the
    spectrum decays smoothly into the bulk) and the bulk edge is ``lambda_1``.

    Args:
        eigenvalues: the spectrum (any order), at least ``max_outliers + 1`` values with
            ``lambda_2 > 0``.
        max_outliers: largest count considered (e.g. ``3 K`` for ``K`` classes).
        min_gap: smallest accepted ratio, ``> 1``.

    Raises:
        ValueError: too few eigenvalues, ``max_outliers < 1``, ``min_gap <= 1``, no positive
            ``lambda_{m+1}`` to form a ratio.
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1]
    if isinstance(max_outliers, bool) or int(max_outliers) != max_outliers or max_outliers < 1:
        raise ValueError(f"max_outliers must be an integer >= 1, got {max_outliers!r}")
    if not min_gap > 1.0:
        raise ValueError(f"min_gap must be > 1, got {min_gap!r}")
    if lam.size < max_outliers + 1:
        raise ValueError(f"need at least max_outliers + 1 = {max_outliers + 1} eigenvalues, "
                         f"got {lam.size}")
    top, nxt = lam[:max_outliers], lam[1:max_outliers + 1]
    valid = nxt > 0
    if not valid.any():
        raise ValueError("no positive eigenvalue below the top one: no ratio gap to measure")
    ratios = np.where(valid, top / np.where(valid, nxt, 1.0), -np.inf)
    m = int(np.argmax(ratios)) + 1
    gap = float(ratios[m - 1])
    if gap >= min_gap:
        return OutlierSplit(m, float(lam[m]), gap, m, float(min_gap))
    return OutlierSplit(0, float(lam[0]), gap, m, float(min_gap))


@dataclass(frozen=True)
class OutlierEdge:
    """The outcome of :func:`outlier_edge`.

    Attributes:
        position: ``m``, the rank of the largest ratio gap among ``m = 1 .. max_outliers``.
        gap: ``lambda_m / lambda_{m+1}`` at that ``m``.
        bulk_gap: the largest ratio ``lambda_j / lambda_{j+1}`` on the bulk side,
            ``j = m + 1 .. max_outliers + 1``.
        resolution: ``gap / bulk_gap`` (how far the counted edge stands out of the gaps in
            the bulk).
        resolved: ``gap >= min_gap`` and ``resolution >= min_resolution``.
        count: ``m`` when resolved, else ``None`` (no count is read off an unresolved edge).
        bulk_edge: ``lambda_{m+1}``.
    """

    position: int
    gap: float
    bulk_gap: float
    resolution: float
    resolved: bool
    count: int | None
    bulk_edge: float


def outlier_edge(eigenvalues: np.ndarray, *, max_outliers: int, min_gap: float,
                 min_resolution: float) -> OutlierEdge:
    """The outlier edge of a spectrum and whether the spectrum resolves it.

    Rule: sort ``lambda_1 >= lambda_2 >= ...``; the edge is the ``m`` in
    ``1 .. max_outliers`` with the largest ratio ``g_m = lambda_m / lambda_{m+1}``. It is
    *resolved* when ``g_m >= min_gap`` and ``g_m`` exceeds every ratio on the bulk side,
    ``g_j`` for ``j = m + 1 .. max_outliers + 1``, by the factor ``min_resolution``; then the
    top ``m`` eigenvalues are the outliers (``count = m``). Otherwise the top of the
    spectrum decays into the bulk without a gap that this spectrum can tell from the
    bulk's own spacing, and no count is given. Unlike :func:`count_outliers` there is no
    fallback count of 0: an unresolved edge is reported as such.

    Raises:
        ValueError: ``max_outliers < 1``, ``min_gap <= 1``, ``min_resolution < 1``, fewer
            than ``max_outliers + 2`` eigenvalues, or a non-positive ``lambda_j`` among the
            top ``max_outliers + 2`` (ratios undefined).
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1]
    if isinstance(max_outliers, bool) or int(max_outliers) != max_outliers or max_outliers < 1:
        raise ValueError(f"max_outliers must be an integer >= 1, got {max_outliers!r}")
    if not min_gap > 1.0:
        raise ValueError(f"min_gap must be > 1, got {min_gap!r}")
    if not min_resolution >= 1.0:
        raise ValueError(f"min_resolution must be >= 1, got {min_resolution!r}")
    M = int(max_outliers)
    if lam.size < M + 2:
        raise ValueError(f"need at least max_outliers + 2 = {M + 2} eigenvalues, got {lam.size}")
    top = lam[: M + 2]
    if not np.all(top > 0):
        raise ValueError(f"the top max_outliers + 2 = {M + 2} eigenvalues must be positive to "
                         f"form ratio gaps; the smallest of them is {top.min():.3g}")
    ratios = top[:-1] / top[1:]  # g_1 .. g_{M+1}
    m = int(np.argmax(ratios[:M])) + 1
    gap = float(ratios[m - 1])
    bulk_gap = float(ratios[m:].max())
    resolution = gap / bulk_gap
    resolved = bool(gap >= min_gap and resolution >= min_resolution)
    return OutlierEdge(m, gap, bulk_gap, resolution, resolved, m if resolved else None,
                       float(lam[m]))


# --------------------------------------------------------------------------- SLQ


def lanczos_tridiagonal(matmat: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor,
                        steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lanczos with full reorthogonalisation, run on all columns of ``v0`` at once.

    Args:
        matmat: symmetric operator ``(n, b) -> (n, b)`` (e.g. :func:`hessian_operator`).
        v0: start vectors ``(n, b)`` (normalised here), one independent run per column.
        steps: Lanczos steps ``m`` (``1 <= m <= n``).

    Returns:
        ``(a, b)``: diagonals ``(b, m)`` and off-diagonals ``(b, m - 1)`` of the tridiagonal
        matrices ``T_m`` (one per start vector). A run whose Krylov space closes early
        keeps ``b = 0`` after that step (its later nodes carry zero weight).
    """
    n, nb = v0.shape
    if isinstance(steps, bool) or int(steps) != steps or not 1 <= steps <= n:
        raise ValueError(f"steps must be an integer in [1, {n}], got {steps!r}")
    Q = torch.zeros(steps, n, nb, dtype=v0.dtype, device=v0.device)
    a = torch.zeros(nb, steps, dtype=v0.dtype, device=v0.device)
    b = torch.zeros(nb, max(steps - 1, 0), dtype=v0.dtype, device=v0.device)
    q = v0 / torch.linalg.vector_norm(v0, dim=0, keepdim=True)
    alive = torch.ones(nb, dtype=torch.bool, device=v0.device)
    for j in range(steps):
        Q[j] = q
        w = matmat(q)
        a[:, j] = (q * w).sum(0)
        # full reorthogonalisation (twice is enough) against all previous Lanczos vectors
        for _ in range(2):
            coef = torch.einsum("jnb,nb->jb", Q[: j + 1], w)
            w = w - torch.einsum("jnb,jb->nb", Q[: j + 1], coef)
        if j == steps - 1:
            break
        beta = torch.linalg.vector_norm(w, dim=0)
        alive = alive & (beta > 1e-10 * a[:, : j + 1].abs().amax(1).clamp_min(1e-300))
        b[:, j] = torch.where(alive, beta, torch.zeros_like(beta))
        q = torch.where(alive, w / beta.clamp_min(1e-300), torch.zeros_like(w))
    return a, b


def slq_nodes(matmat: Callable[[torch.Tensor], torch.Tensor], dim: int, *, num_probes: int,
              steps: int, seed: int, dtype: torch.dtype = torch.float64,
              device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Stochastic Lanczos quadrature: Gauss nodes and weights of the spectral density.

    For each of ``num_probes`` Rademacher start vectors ``v``, ``m = steps`` Lanczos steps
    give ``T_m = U diag(theta) U^T``; the nodes are ``theta`` and the weights
    ``U[0, :]^2 / num_probes``, so that ``sum_i w_i f(theta_i)`` estimates
    ``(1/P) Tr f(H)`` (exactly ``v^T f(H) v / ||v||^2`` per probe for polynomials of degree
    ``< 2m``).

    Returns:
        ``(nodes, weights)``, each ``(num_probes, steps)``; weights sum to 1.
    """
    if isinstance(num_probes, bool) or int(num_probes) != num_probes or num_probes < 1:
        raise ValueError(f"num_probes must be an integer >= 1, got {num_probes!r}")
    gen = torch.Generator().manual_seed(int(seed))
    v0 = (torch.randint(0, 2, (dim, int(num_probes)), generator=gen) * 2 - 1).to(
        dtype=dtype, device=device)
    a, b = lanczos_tridiagonal(matmat, v0, steps)
    nodes, weights = [], []
    for i in range(a.shape[0]):
        T = torch.diag(a[i]) + torch.diag(b[i], 1) + torch.diag(b[i], -1)
        theta, U = torch.linalg.eigh(T.cpu().to(torch.float64))
        nodes.append(theta.numpy())
        weights.append((U[0] ** 2).numpy() / a.shape[0])
    return np.stack(nodes), np.stack(weights)


def broadened_density(nodes: np.ndarray, weights: np.ndarray | None, grid: np.ndarray,
                      sigma: float) -> np.ndarray:
    """Gaussian-broadened spectral density ``sum_i w_i N(t; theta_i, sigma^2)`` on ``grid``.

    With ``weights=None`` each node weighs ``1 / len(nodes)`` (an exact spectrum).
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    x = np.asarray(nodes, dtype=np.float64).ravel()
    w = (np.full(x.size, 1.0 / x.size) if weights is None
         else np.asarray(weights, dtype=np.float64).ravel())
    if w.size != x.size:
        raise ValueError(f"{x.size} nodes but {w.size} weights")
    t = np.asarray(grid, dtype=np.float64)
    out = np.zeros_like(t)
    for start in range(0, x.size, 4096):
        xs, ws = x[start:start + 4096], w[start:start + 4096]
        out += (ws[None, :] * np.exp(-0.5 * ((t[:, None] - xs[None, :]) / sigma) ** 2)).sum(1)
    return out / (sigma * np.sqrt(2 * np.pi))


def density_l1(grid: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """``integral |p - q| dt`` on a uniform ``grid`` (trapezoid rule); 0 = equal, 2 = disjoint."""
    return float(np.trapezoid(np.abs(np.asarray(p) - np.asarray(q)), np.asarray(grid)))
