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
* :class:`HessianOperator` (the engine's products as a curvlinops linear operator),
  :func:`slq`, :func:`exact_quadrature`, :func:`broadened_density`: the spectral density of
  a large Hessian by stochastic Lanczos quadrature (Ghorbani et al. 2019; Papyan 2020,
  Alg. 2) with curvlinops' Lanczos and broadening, the same broadening applied to an exact
  spectrum for validation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .curvature import hessian_matmat, positive_curvature
from .functional import Weights

with warnings.catch_warnings():
    # curvlinops imports linear_operator, which calls the deprecated torch.jit.script at
    # import time (a FutureWarning into every notebook); import it quietly, as
    # goldilocks_nb.curvature does for torch's jvp decompositions.
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
    from curvlinops._torch_base import PyTorchLinearOperator
    from curvlinops.papyan2020traces.spectrum import (
        fast_lanczos,
        lanczos_approximate_spectrum_from_iter,
    )

__all__ = [
    "HessianOperator",
    "OutlierEdge",
    "OutlierSplit",
    "Quadrature",
    "broadened_density",
    "count_outliers",
    "density_l1",
    "exact_hessian_spectrum",
    "exact_quadrature",
    "hessian_operator",
    "outlier_edge",
    "positive_curvature_of",
    "slq",
]

#: Largest parameter count accepted by :func:`exact_hessian_spectrum` (a float64 P x P
#: matrix of 12,000 is 1.2 GB; its ``eigvalsh`` takes minutes on a laptop CPU).
MAX_DENSE_PARAMS = 12_000


def _num_params(params: Weights) -> int:
    return int(sum(v.numel() for v in params.values()))


class HessianOperator(PyTorchLinearOperator):
    """The loss Hessian as a curvlinops linear operator, ``V -> H V`` through the engine's
    :func:`goldilocks_nb.curvature.hessian_matmat` (the one Hessian code of the book).

    curvlinops' own examples subclass ``curvlinops._torch_base.PyTorchLinearOperator`` the
    same way; ``A @ v``, ``A @ V`` and ``A.to_scipy()`` then work as for curvlinops'
    operators. Products are taken in the parameters' dtype; ``model`` is not mutated.
    """

    SELF_ADJOINT = True

    def __init__(self, model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, *,
                 temperature: float = 1.0, chunk_size: int | None = None) -> None:
        P = _num_params(params)
        super().__init__([(P,)], [(P,)])
        self._model, self._params, self._X, self._y = model, params, X, y
        self._temperature, self._chunk_size = temperature, chunk_size
        first = next(iter(params.values()))
        self._device, self._dtype = first.device, first.dtype

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    def _matmat(self, X: list[torch.Tensor]) -> list[torch.Tensor]:
        (V,) = X
        return [hessian_matmat(self._model, self._params, self._X, self._y,
                               V.to(self._dtype), temperature=self._temperature,
                               chunk_size=self._chunk_size)]


def hessian_operator(model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, *,
                     temperature: float = 1.0, chunk_size: int | None = None
                     ) -> HessianOperator:
    """The loss Hessian at ``params`` as a :class:`HessianOperator` (``P = A.shape[0]``)."""
    return HessianOperator(model, params, X, y, temperature=temperature,
                           chunk_size=chunk_size)


def exact_hessian_spectrum(model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor,
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
                         f"use slq for larger nets")
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


@dataclass(frozen=True)
class Quadrature:
    """Gauss quadrature of a spectral density: ``sum_ij weights[i, j] f(nodes[i, j])``
    estimates ``(1/P) Tr f(H)``.

    Attributes:
        nodes: ``(num_probes, m)`` Ritz values, one row per probe (for an exact spectrum:
            one row holding all ``P`` eigenvalues).
        weights: same shape, non-negative, summing to 1 (row ``i``: the squared first
            components of ``T_m``'s eigenvectors over ``num_probes``).
    """

    nodes: np.ndarray
    weights: np.ndarray


def slq(A: PyTorchLinearOperator, *, num_probes: int, steps: int, seed: int) -> Quadrature:
    """Stochastic Lanczos quadrature (Ghorbani et al. 2019; Papyan 2020, Alg. 2) with
    curvlinops' Lanczos (:func:`curvlinops.papyan2020traces.spectrum.fast_lanczos`).

    Probe ``i`` is the ``i``-th ``torch.randn(P)`` draw after ``torch.manual_seed(seed)``
    (drawn inside :func:`torch.random.fork_rng`: the caller's random state is restored);
    ``m = steps`` Lanczos steps (no reorthogonalisation, as in Papyan's algorithm) give
    ``T_m = U diag(theta) U^T``; the nodes are ``theta`` and the weights
    ``U[0, :]^2 / num_probes``, so that per probe ``sum_j U[0, j]^2 theta_j^k =
    v^T H^k v / ||v||^2`` for ``k < 2m``.

    Args:
        A: symmetric operator (e.g. :func:`hessian_operator`), ``P x P``.
        num_probes: independent probes ``>= 1``.
        steps: Lanczos steps ``m`` with ``2 <= m <= P``.
        seed: seed of the probes.

    Raises:
        ValueError: bad ``num_probes``/``steps`` (before any product), or a run whose
            Krylov space closed early (non-finite tridiagonal matrix).
    """
    P = int(A.shape[0])
    if isinstance(num_probes, bool) or int(num_probes) != num_probes or num_probes < 1:
        raise ValueError(f"num_probes must be an integer >= 1, got {num_probes!r}")
    if isinstance(steps, bool) or int(steps) != steps or not 2 <= steps <= P:
        raise ValueError(f"steps must be an integer in [2, P = {P}], got {steps!r}")
    devices = [A.device] if torch.device(A.device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        runs = [fast_lanczos(A, int(steps)) for _ in range(int(num_probes))]
    nodes = np.stack([evals.detach().cpu().double().numpy() for evals, _ in runs])
    weights = np.stack([(evecs[0] ** 2).detach().cpu().double().numpy() for _, evecs in runs])
    if not (np.isfinite(nodes).all() and np.isfinite(weights).all()):
        raise ValueError(f"Lanczos broke down within {steps} steps (the Krylov space of a "
                         f"probe closed early); use fewer steps")
    return Quadrature(nodes, weights / weights.shape[0])


def exact_quadrature(eigenvalues: np.ndarray) -> Quadrature:
    """An exact spectrum as a quadrature: every eigenvalue a node of weight ``1 / P``."""
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if lam.size < 2 or not np.isfinite(lam).all():
        raise ValueError(f"need at least 2 finite eigenvalues, got {lam.size}")
    return Quadrature(lam[None, :], np.full((1, lam.size), 1.0 / lam.size))


def broadened_density(q: Quadrature, bounds: tuple[float, float], sigma: float, *,
                      num_points: int = 600, margin: float = 0.05
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-broadened density ``sum_ij w_ij N(t; theta_ij, sigma^2)`` on a grid, by
    curvlinops' :func:`~curvlinops.papyan2020traces.spectrum.lanczos_approximate_spectrum_from_iter`
    (Papyan 2020, Alg. 2), averaged over the probes.

    The grid is ``num_points`` points on ``[lo - margin w, hi + margin w]`` with
    ``(lo, hi) = bounds`` and ``w = hi - lo``. curvlinops sets the Gaussian's width through
    ``kappa`` and the number of nodes ``m`` (``sigma_[-1,1] = 2 / ((m - 1) sqrt(8 ln
    kappa))`` on the grid mapped to ``[-1, 1]``); ``kappa`` is chosen here so that the width
    is ``sigma`` in eigenvalue units for any ``m``, so that an exact spectrum
    (:func:`exact_quadrature`) and an SLQ estimate are broadened alike.

    Returns:
        ``(grid, density)``, float64 arrays of ``num_points``.
    """
    lo, hi = float(bounds[0]), float(bounds[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"bounds must be finite with lo < hi, got {bounds!r}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    nodes = np.asarray(q.nodes, dtype=np.float64)
    weights = np.asarray(q.weights, dtype=np.float64)
    if nodes.shape != weights.shape or nodes.ndim != 2 or nodes.shape[1] < 2:
        raise ValueError(f"nodes {nodes.shape} and weights {weights.shape} must be equal "
                         f"(num_probes, m >= 2) arrays")
    half_width = 0.5 * (hi - lo) * (1 + 2 * margin)  # curvlinops' d
    m = nodes.shape[1]
    log_kappa = (2.0 / ((m - 1) * sigma / half_width)) ** 2 / 8.0
    kappa = float(np.exp(log_kappa))
    if not np.isfinite(kappa):
        raise ValueError(f"sigma = {sigma!r} is too narrow for {m} nodes on this range")
    density = np.zeros(int(num_points))
    grid = None
    for i in range(nodes.shape[0]):
        total = weights[i].sum()
        lanczos_iter = (torch.as_tensor(nodes[i]),
                        torch.as_tensor(np.sqrt(weights[i] / total))[None, :])
        g, d = lanczos_approximate_spectrum_from_iter(lanczos_iter, (lo, hi), int(num_points),
                                                      kappa, margin)
        grid = g.numpy()
        density += total * d.numpy()
    return grid, density


def density_l1(grid: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """``integral |p - q| dt`` on a uniform ``grid`` (trapezoid rule); 0 = equal, 2 = disjoint."""
    return float(np.trapezoid(np.abs(np.asarray(p) - np.asarray(q)), np.asarray(grid)))
