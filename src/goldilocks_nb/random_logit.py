"""The random logit model against the true G-term: the computations behind chapter 02.

Section 4 of the paper models the projected logit gradients as ``c_k + e_k^mu`` (class means
shared by all samples plus per-sample residuals) and derives the excess of positive
eigenvalues of the expected G-term (Eq. 8),

.. math:: \\frac{\\mathrm{Tr}\\,\\mathbb{E}_e\\mathcal{G}}
          {\\lVert\\mathbb{E}_e\\mathcal{G}\\rVert_F} = \\frac{\\sqrt{d}(\\sigma_c^2 + \\sigma_e^2)}
          {\\sqrt{\\sigma_e^4 + 2\\sigma_e^2\\sigma_c^2 + d\\sigma_c^4\\Gamma_p^{-2}}}.

For a network homogeneous of degree ``L``, the logits at ``alpha theta`` are
``alpha^L z`` and ``J R`` scales by ``alpha^(L-1)`` (Eq. 5). Both Eq. 8 (a common factor of
``sigma_c^2`` and ``sigma_e^2`` cancels) and the positive curvature ``Tr/||.||_F`` of the
true G-term are scale-free, so one ``J R`` per subspace and ``p = softmax(alpha^L z / T)``
give both curves across ``alpha`` (Figure 3, claim C6). :func:`dimension_sweep` gives the
dependence on the subspace dimension ``d`` (Figure 4 left, claim C7).

Pure functions of explicit inputs; the model is never written to. Undefined points (every
softmax output exactly one-hot in float64, so the G-term and ``diag(p) - p p^T`` are zero)
are ``nan``, as in :func:`goldilocks_nb.curvature.curvature_sweep`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import stats
from torch import nn

from goldilocks_nb.curvature import (
    curvature_sweep,
    expected_g_curvature,
    logit_gradient_stats,
    positive_curvature,
    projected_jacobian,
    random_subspace,
)
from goldilocks_nb.curvature.gamma import softmax_hessian, trace_shares
from goldilocks_nb.curvature.gauss_newton import gauss_newton_from_jacobian
from goldilocks_nb.functional import Weights, check_alpha, check_temperature, logits
from goldilocks_nb.models import check_subspace_dimension, homogeneity_degree

__all__ = [
    "agreement",
    "check_alphas",
    "dimension_sweep",
    "logit_model_sweep",
    "predicted_g_curvature",
    "scaled_probs",
    "top_sample_share",
    "true_g_curvature",
]


# ----------------------------------------------------------------------------- checks


def check_alphas(alphas: Sequence[float]) -> np.ndarray:
    """A non-empty 1-D grid of finite initialisation scales ``alpha > 0``.

    Raises:
        ValueError: empty, non-finite or non-positive values.
    """
    arr = np.asarray(alphas, dtype=float).reshape(-1)
    if arr.size == 0:
        raise ValueError("alphas must hold at least one scale")
    return np.array([check_alpha(a) for a in arr])


def _check_degree_temperature(degree: int, temperature: float) -> tuple[int, float]:
    if isinstance(degree, bool) or int(degree) != degree or degree < 1:
        raise ValueError(f"degree L must be an integer >= 1, got {degree!r}")
    t = check_temperature(temperature)
    return int(degree), t


def _check_jz(JR: torch.Tensor, z: torch.Tensor) -> None:
    if not isinstance(JR, torch.Tensor) or JR.ndim != 3:
        raise ValueError("JR must be a tensor of shape (N, K, d)")
    if not isinstance(z, torch.Tensor) or z.shape != JR.shape[:2]:
        raise ValueError(f"z must have shape (N, K) = {tuple(JR.shape[:2])}, got "
                         f"{tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__}")


# ----------------------------------------------------------------------------- C6


def scaled_probs(z: torch.Tensor, alpha: float, degree: int,
                 temperature: float = 1.0) -> torch.Tensor:
    """Softmax outputs at ``alpha theta``: ``softmax(alpha^L z / T)`` in float64 (Eq. 5).

    Example:
        >>> scaled_probs(torch.zeros(1, 4), 3.0, 3)
        tensor([[0.2500, 0.2500, 0.2500, 0.2500]], dtype=torch.float64)
    """
    (a,) = check_alphas([alpha])
    L, t = _check_degree_temperature(degree, temperature)
    return torch.softmax(torch.as_tensor(z, dtype=torch.float64) * (a**L / t), dim=-1)


def predicted_g_curvature(JR: torch.Tensor, z: torch.Tensor, alphas: Sequence[float], *,
                          degree: int, temperature: float = 1.0) -> np.ndarray:
    """Eq. 8 across ``alpha`` with ``(sigma_c^2, sigma_e^2)`` estimated from ``J R`` at alpha = 1.

    The variances at ``alpha theta`` are ``alpha^(2L-2)`` times those at ``theta``; Eq. 8 is
    invariant to that common factor, so only ``p = softmax(alpha^L z / T)`` changes.

    Args:
        JR: projected logit Jacobian ``(N, K, d)`` at ``theta``.
        z: logits ``(N, K)`` at ``theta``.
        alphas: initialisation scales ``> 0``.
        degree: homogeneity degree ``L``.
        temperature: softmax temperature ``T``.

    Returns:
        ``(A,)`` array; ``nan`` where every softmax output is one-hot (``Gamma_p`` undefined).
    """
    arr = check_alphas(alphas)
    L, t = _check_degree_temperature(degree, temperature)
    _check_jz(JR, z)
    s_c2, s_e2 = logit_gradient_stats(JR)
    d = JR.shape[-1]
    out = np.full(arr.size, np.nan)
    for i, a in enumerate(arr):
        p = scaled_probs(z, a, L, t)
        if bool(softmax_hessian(p).abs().max() > 0):  # else Gamma_p is undefined (App. C)
            out[i] = expected_g_curvature(s_c2, s_e2, d, p)
    return out


def true_g_curvature(JR: torch.Tensor, z: torch.Tensor, alphas: Sequence[float], *,
                     degree: int, temperature: float = 1.0) -> np.ndarray:
    """Positive curvature ``Tr/||.||_F`` of the projected G-term at ``alpha theta`` (Fig. 3).

    ``G' = alpha^(2L-2)/T^2 G(p')`` (Eq. 5) and ``Tr/||.||_F`` ignores the factor, so this
    is the curvature of ``G(p') = (1/N) sum (J R)^T [diag p' - p' p'^T] (J R)``.

    Returns:
        ``(A,)`` array; ``nan`` where ``G(p')`` is exactly zero.
    """
    arr = check_alphas(alphas)
    L, t = _check_degree_temperature(degree, temperature)
    _check_jz(JR, z)
    out = np.full(arr.size, np.nan)
    for i, a in enumerate(arr):
        G = gauss_newton_from_jacobian(JR.to(torch.float64), scaled_probs(z, a, L, t))
        scale = G.abs().max()
        if bool(scale > 0):  # Tr/||.||_F is scale-free; normalising avoids underflow of ||G||_F
            out[i] = positive_curvature(G / scale)
    return out


def top_sample_share(probs: torch.Tensor) -> float:
    """Share of ``Tr (1/N) sum_mu M(p^mu)`` carried by the sample with the largest ``Tr M``.

    Near ``1/N`` the batch average that Eq. 7 takes over residuals is well populated; near 1
    one sample carries the whole G-term (the pre-collapse regime of App. C-D). ``nan`` when
    every output is one-hot. The largest of :func:`~goldilocks_nb.curvature.gamma.trace_shares`.
    """
    return float(trace_shares(probs).max())


def _seeds_and_logits(model: nn.Module, params: Weights, X: torch.Tensor,
                      seeds: Sequence[int]) -> tuple[list[int], torch.Tensor, torch.device]:
    """The subspace seeds as ints (at least one), float64 logits at ``params``, the device."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one subspace seed")
    with torch.no_grad():
        z = logits(model, params, X).to(torch.float64)
    return seeds, z, next(iter(params.values())).device


def logit_model_sweep(model: nn.Module, params: Weights, X: torch.Tensor, *,
                      alphas: Sequence[float], d: int, seeds: Sequence[int],
                      temperature: float = 1.0, degree: int | None = None) -> dict:
    """True and Eq. 8 G-term curvature across ``alpha`` for several subspaces (Figure 3).

    One forward-mode ``J R`` per seed (``R = random_subspace(P, d, seed)``); everything
    else is closed-form in ``alpha``.

    Returns:
        ``{"alpha": (A,), "seeds": list, "true": (S, A), "predicted": (S, A),
        "s_c2": (S,), "s_e2": (S,), "share": (A,)}`` (``share``: :func:`top_sample_share`).

    Raises:
        ValueError: bad ``alphas``, ``d`` (``1 <= d <= P``), empty ``seeds`` or
            temperature, before any Jacobian is computed.
    """
    arr = check_alphas(alphas)
    L = homogeneity_degree(model) if degree is None else degree
    L, t = _check_degree_temperature(L, temperature)
    P = sum(v.numel() for v in params.values())
    d = check_subspace_dimension("d", d, P, type(model).__name__)
    seeds, z, dev = _seeds_and_logits(model, params, X, seeds)
    true, pred, s_c2, s_e2 = [], [], [], []
    for seed in seeds:
        R = random_subspace(P, d, seed=seed, dtype=torch.float64, device=dev)
        JR = projected_jacobian(model, params, X, R).to(torch.float64)
        true.append(true_g_curvature(JR, z, arr, degree=L, temperature=t))
        pred.append(predicted_g_curvature(JR, z, arr, degree=L, temperature=t))
        c2, e2 = logit_gradient_stats(JR)
        s_c2.append(c2)
        s_e2.append(e2)
    share = np.array([top_sample_share(scaled_probs(z, a, L, t)) for a in arr])
    return {"alpha": arr, "seeds": seeds, "true": np.array(true), "predicted": np.array(pred),
            "s_c2": np.array(s_c2), "s_e2": np.array(s_e2), "share": share}


def agreement(true: np.ndarray, predicted: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """How well ``predicted`` tracks ``true`` across ``alpha`` (seed means, finite points).

    Args:
        true, predicted: ``(S, A)`` or ``(A,)`` arrays.
        mask: optional ``(A,)`` boolean selection of the ``alpha`` to compare.

    Returns:
        ``{"n", "max_rel_gap", "median_rel_gap", "pearson", "spearman"}`` where the relative
        gap is ``|pred - true| / |true|`` of the seed means; correlations are ``nan`` for
        fewer than 3 points or a constant curve.

    Raises:
        ValueError: shapes differ, or no point is finite in both.
    """
    t, p = np.atleast_2d(np.asarray(true, float)), np.atleast_2d(np.asarray(predicted, float))
    if t.shape != p.shape:
        raise ValueError(f"true and predicted differ in shape: {t.shape} vs {p.shape}")
    tm, pm = t.mean(0), p.mean(0)
    keep = np.isfinite(tm) & np.isfinite(pm)
    if mask is not None:
        keep &= np.asarray(mask, bool)
    if not keep.any():
        raise ValueError("no alpha where both curves are defined")
    tm, pm = tm[keep], pm[keep]
    rel = np.abs(pm - tm) / np.abs(tm)
    corr = len(tm) >= 3 and np.ptp(tm) > 0 and np.ptp(pm) > 0
    return {
        "n": int(keep.sum()),
        "max_rel_gap": float(rel.max()),
        "median_rel_gap": float(np.median(rel)),
        "pearson": float(np.corrcoef(tm, pm)[0, 1]) if corr else float("nan"),
        "spearman": float(stats.spearmanr(tm, pm).statistic) if corr else float("nan"),
    }


# ----------------------------------------------------------------------------- C7


def dimension_sweep(model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, *,
                    d_values: Sequence[int], alphas: Sequence[float], seeds: Sequence[int],
                    temperature: float = 1.0) -> dict:
    """Hessian and G-term positive curvature against the subspace dimension (Figure 4 left).

    For each ``d`` and seed one basis ``R = random_subspace(P, d, seed)`` is shared by the
    Hessian, the G-term (both via :func:`~goldilocks_nb.curvature.curvature_sweep`) and
    the Eq. 8 prediction from ``J R`` on the same ``R``.

    Returns:
        ``{"d": list, "alpha": (A,), "seeds": list}`` and ``(D, A, S)`` arrays
        ``"hessian"``, ``"g_term"``, ``"predicted"``.

    Raises:
        ValueError: bad ``d_values`` (each ``1 <= d <= P``, strictly increasing; a
            :class:`~goldilocks_nb.contract.ParameterError` naming the value), ``alphas``, empty
            ``seeds``, before any curvature is computed.
    """
    P = sum(v.numel() for v in params.values())
    ds = [check_subspace_dimension("d_values", d, P, type(model).__name__) for d in d_values]
    if not ds:
        raise ValueError("d_values must hold at least one dimension")
    if any(b <= a for a, b in zip(ds, ds[1:])):
        raise ValueError(f"d_values must be strictly increasing, got {ds}")
    arr = check_alphas(alphas)
    L, t = _check_degree_temperature(homogeneity_degree(model), temperature)
    seeds, z, dev = _seeds_and_logits(model, params, X, seeds)
    shape = (len(ds), arr.size, len(seeds))
    H, G, E = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for i, d in enumerate(ds):
        for k, seed in enumerate(seeds):
            R = random_subspace(P, d, seed=seed, dtype=torch.float64, device=dev)
            recs = curvature_sweep(model, params, X, y, alphas=arr.tolist(), temperatures=[t],
                                   R=R, seeds=[seed])
            for j, r in enumerate(recs):
                H[i, j, k] = r["hessian_positive_curvature"]
                G[i, j, k] = r["g_term_positive_curvature"]
            JR = projected_jacobian(model, params, X, R).to(torch.float64)
            E[i, :, k] = predicted_g_curvature(JR, z, arr, degree=L, temperature=t)
    return {"d": ds, "alpha": arr, "seeds": seeds, "hessian": H, "g_term": G, "predicted": E}


