"""Gamma_p and the softmax collapse: the computations behind chapter 03 (Sec. 4, App. B-D).

Pure functions of explicit inputs (logits, probabilities, ``(model, params, X, y)``); the
model is never written to. The chapter calls these and only plots and prints.

* :func:`gamma_survey` -- Gamma_p over random and structured probability vectors (C8).
* :func:`scaled_logit_curves` (with :func:`goldilocks_nb.statistics.monotonicity`) -- Figure 4
  right (C9).
* :func:`collapse_table` -- Gamma_p^2 of ``p(S, eps)`` against App. C's limit (C10).
* :func:`orthogonal_class_means`, :func:`bilevel_comparison`, :func:`interlacing_margin`
  -- the bi-level spectrum of App. B (C11).
* :func:`pre_collapse_scan`, :func:`first_layer_top_image`, :func:`best_aligned_image`,
  :func:`two_class_separation` -- the pre-collapse regime of App. C-D, Figure 10 (C12).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from goldilocks_nb.curvature import positive_curvature, rescaled_split, top_eigenpairs
from goldilocks_nb.curvature.gamma import (
    entropy,
    expected_g_spectrum,
    expected_g_term,
    gamma_p,
    p_s_eps,
    softmax_hessian,
    trace_shares,
)
from goldilocks_nb.functional import Weights, logits, scale_params
from goldilocks_nb.models import homogeneity_degree

__all__ = [
    "best_aligned_image",
    "bilevel_comparison",
    "collapse_table",
    "first_layer_top_image",
    "gamma_p_rows",
    "gamma_survey",
    "interlacing_margin",
    "orthogonal_class_means",
    "pre_collapse_scan",
    "scaled_logit_curves",
    "two_class_separation",
]


# ----------------------------------------------------------------------------- C8


def gamma_p_rows(P: torch.Tensor) -> np.ndarray:
    """``Gamma_p`` of each row of ``P`` ``(N, K)`` on its own (Sec. 4), vectorised.

    The same arithmetic as :func:`~goldilocks_nb.curvature.gamma.gamma_p` applied row by row
    (``M = diag(p) - pp^T`` with the diagonal ``p_k sum_{j != k} p_j``, divided by the
    power of two below its largest entry, then ``Tr / ||.||_F``), without the per-call
    checks; ``nan`` for a one-hot row (``M = 0``). ``P`` must hold valid probabilities.
    """
    P = torch.as_tensor(P, dtype=torch.float64).cpu()
    if P.ndim != 2 or P.shape[1] < 2:
        raise ValueError(f"P must have shape (N, K >= 2), got {tuple(P.shape)}")
    K = P.shape[1]
    off = 1 - torch.eye(K, dtype=P.dtype)
    rest = P @ off
    M = -(P[:, :, None] * P[:, None, :]) * off + torch.diag_embed(P * rest)
    top = M.abs().amax(dim=(1, 2))
    zero = top == 0
    scale = torch.ldexp(torch.ones_like(top), torch.frexp(torch.where(zero, 1.0, top))[1] - 1)
    M = M / scale[:, None, None]
    g = M.diagonal(dim1=1, dim2=2).sum(1) / torch.linalg.matrix_norm(M, ord="fro")
    g[zero] = float("nan")
    return g.numpy()


def _structured_probs(K: int) -> dict[str, torch.Tensor]:
    """Hand-made probability vectors of length ``K`` (uniform, p(S, eps), tilted softmax)."""
    out = {"uniform": torch.full((K,), 1.0 / K, dtype=torch.float64)}
    for S in sorted({2, min(3, K), K}):
        for eps in ((1.0 / S,) if S < K else ()) + (1e-2 / S, 1e-6):
            out[f"p(S={S}, eps={eps:.2g})"] = p_s_eps(S, eps, K)
    for beta in (0.1, 1.0, 10.0):
        out[f"softmax({beta:g} * linear)"] = torch.softmax(
            beta * torch.linspace(0, 1, K, dtype=torch.float64), 0
        )
    return out


def gamma_survey(
    K: int, concentrations: Sequence[float], n_draws: int, *, seed: int, batch: int = 16
) -> dict:
    """Gamma_p over Dirichlet(``c`` 1_K) draws, batches of them, and structured vectors.

    Args:
        K: number of classes ``>= 2``.
        concentrations: Dirichlet concentrations (small: near one-hot, large: near uniform).
        n_draws: single vectors per concentration.
        seed: seed of the NumPy generator.
        batch: batch size of the batch-averaged matrices (``n_draws // batch`` per
            concentration).

    Returns:
        ``{"single": {c: array}, "batched": {c: array}, "structured": {name: value},
        "min", "max", "argmax", "bound": (1, sqrt(K - 1)), "skipped": int}`` where
        ``skipped`` counts draws that are one-hot in float64 (Gamma_p undefined).
    """
    rng = np.random.default_rng(seed)
    single, batched, skipped = {}, {}, 0
    for c in concentrations:
        P = torch.as_tensor(rng.dirichlet(np.full(K, float(c)), size=int(n_draws)))
        P = P / P.sum(1, keepdim=True)
        g = gamma_p_rows(P)
        skipped += int(np.isnan(g).sum())
        single[float(c)] = g[~np.isnan(g)]
        batched[float(c)] = np.array(
            [gamma_p(P[i : i + batch]) for i in range(0, len(P) - batch + 1, batch)]
        )
    structured = {name: gamma_p(p) for name, p in _structured_probs(K).items()}
    allv = [(v, f"Dirichlet({c:g}) single") for c, a in single.items() for v in a]
    allv += [(v, f"Dirichlet({c:g}) batch") for c, a in batched.items() for v in a]
    allv += [(v, name) for name, v in structured.items()]
    vmin, vmax = min(allv), max(allv)
    return {
        "single": single,
        "batched": batched,
        "structured": structured,
        "min": vmin[0],
        "argmin": vmin[1],
        "max": vmax[0],
        "argmax": vmax[1],
        "bound": (1.0, math.sqrt(K - 1)),
        "skipped": skipped,
    }


# ----------------------------------------------------------------------------- C9


def scaled_logit_curves(z: torch.Tensor, alphas: Sequence[float]) -> dict[str, np.ndarray]:
    """Entropy and Gamma_p^-2 of ``softmax(alpha z)`` per logit set and batch (Fig. 4 right).

    Args:
        z: ``(S, K)`` logit sets (one per row).
        alphas: scales applied to the logits.

    Returns:
        ``entropy`` and ``inv_gamma2`` of shape ``(S, A)``; ``batch_entropy`` (the mean
        entropy) and ``batch_inv_gamma2`` (Gamma_p^-2 of the batch-averaged matrix) of
        shape ``(A,)``. Points where ``softmax`` is one-hot in float64 (Gamma_p undefined,
        App. C) are NaN; ``undefined`` counts them.
    """
    z = torch.as_tensor(z, dtype=torch.float64).cpu()
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"z must have shape (S, K >= 2), got {tuple(z.shape)}")
    A = len(alphas)
    H = np.full((z.shape[0], A), np.nan)
    G = np.full((z.shape[0], A), np.nan)
    bH, bG = np.full(A, np.nan), np.full(A, np.nan)
    undefined = 0
    for j, a in enumerate(alphas):
        p = torch.softmax(float(a) * z, dim=1)
        p = p / p.sum(1, keepdim=True)
        H[:, j] = entropy(p).numpy()
        bH[j] = H[:, j].mean()
        G[:, j] = gamma_p_rows(p) ** -2
        undefined += int(np.isnan(G[:, j]).sum())
        if bool(((p > 0).sum(1) >= 2).any()):
            bG[j] = gamma_p(p) ** -2
    return {"entropy": H, "inv_gamma2": G, "batch_entropy": bH, "batch_inv_gamma2": bG,
            "undefined": undefined}


# ----------------------------------------------------------------------------- C10


def collapse_table(S_values: Sequence[int], eps_grid: Sequence[float], K: int) -> np.ndarray:
    """``Gamma_p^2(p(S, eps))`` of shape ``(len(S_values), len(eps_grid))`` (App. C, Eq. 10).

    Raises:
        ValueError: when some ``eps > 1/S`` (``p(S, eps)`` is not defined there).
    """
    return np.array([[gamma_p(p_s_eps(S, e, K)) ** 2 for e in eps_grid] for S in S_values])


# ----------------------------------------------------------------------------- C11


def orthogonal_class_means(K: int, d: int, s_c2: float, *, seed: int) -> torch.Tensor:
    """``K x d`` matrix ``C`` with orthogonal rows of squared norm ``d s_c^2`` (Sec. 4).

    The paper's simplification of ``c_k ~ N(0, s_c^2 I_d)``: independent Gaussian vectors
    in high dimension are nearly orthogonal with ``||c_k||^2 ~ d s_c^2``.
    """
    if d < K:
        raise ValueError(f"need d >= K for K orthogonal rows, got d={d}, K={K}")
    g = torch.Generator().manual_seed(int(seed))
    Q, _ = torch.linalg.qr(torch.randn(d, K, generator=g, dtype=torch.float64))
    return math.sqrt(d * float(s_c2)) * Q.T


def bilevel_comparison(
    probs, s_c2: float, s_e2: float, d: int, *, seed: int, n_mc: int = 0
) -> dict[str, np.ndarray]:
    """Expected G-term spectrum: closed form (App. B) vs the explicit Eq. 7 matrix vs Monte-Carlo.

    Args:
        probs: ``(K,)`` or ``(N, K)`` softmax outputs.
        s_c2, s_e2: variances of the random logit model.
        d: subspace dimension ``>= K``.
        seed: seed for ``C`` and the Monte-Carlo residuals.
        n_mc: Monte-Carlo draws of ``E`` (``0``: skip). Each draw is a ``K x d``
            Gaussian residual; the estimate is ``mean (C + E)^T M (C + E)``.

    Returns:
        ``closed_form``, ``explicit`` and (if ``n_mc``) ``monte_carlo`` eigenvalues,
        largest first, each of shape ``(d,)``; ``bulk`` the level ``(1 - ||p||^2) s_e^2``.
    """
    probs = torch.as_tensor(probs, dtype=torch.float64).cpu()
    M = softmax_hessian(probs)
    K = M.shape[0]
    C = orthogonal_class_means(K, d, s_c2, seed=seed)
    out = {
        "closed_form": expected_g_spectrum(s_c2, s_e2, d, probs).numpy(),
        "explicit": torch.linalg.eigvalsh(expected_g_term(C, s_e2, probs)).flip(0).numpy(),
        "bulk": float(torch.trace(M)) * float(s_e2),
    }
    if n_mc:
        g = torch.Generator().manual_seed(int(seed) + 1)
        acc = torch.zeros(d, d, dtype=torch.float64)
        done = 0
        while done < n_mc:
            m = min(4096, n_mc - done)
            A = C + math.sqrt(float(s_e2)) * torch.randn(m, K, d, generator=g, dtype=torch.float64)
            acc += torch.einsum("nki,kl,nlj->ij", A, M, A)
            done += m
        out["monte_carlo"] = torch.linalg.eigvalsh(acc / n_mc).flip(0).numpy()
    return out


def interlacing_margin(p) -> float:
    """Smallest slack of ``p_(i) >= lambda_i >= p_(i+1)``, ``i < K`` (Bunch et al., 1978).

    ``p_(i)`` are the sorted entries of a single probability vector, ``lambda_i`` the
    sorted eigenvalues of ``diag(p) - p p^T``. A value ``>= 0`` (up to rounding) means the
    eigenvalues interlace the probabilities as App. B states.
    """
    p = torch.as_tensor(p, dtype=torch.float64)
    if p.ndim != 1:
        raise ValueError("interlacing_margin takes one probability vector (K,)")
    lam = torch.linalg.eigvalsh(softmax_hessian(p)).flip(0)
    ps = p.sort(descending=True).values
    K = len(p)
    upper = ps[: K - 1] - lam[: K - 1]
    lower = lam[: K - 1] - ps[1:]
    return float(torch.minimum(upper, lower).min())


# ----------------------------------------------------------------------------- C12


def two_class_separation(p) -> dict[str, float]:
    """Top eigenvalues of ``diag(p) - p p^T`` for a nearly collapsed ``p`` vs App. C's ``2 eps``.

    ``eps`` is the second-largest entry of ``p``; for ``p = p(2, eps)`` the matrix has the
    single non-zero eigenvalue ``2 eps (1 - eps)`` (Eq. 12).

    Returns:
        ``eps``, ``lambda1``, ``lambda2``, ``ratio`` = ``lambda1 / (2 eps)`` and
        ``separation`` = ``lambda2 / lambda1``.
    """
    p = torch.as_tensor(p, dtype=torch.float64)
    lam = torch.linalg.eigvalsh(softmax_hessian(p)).flip(0)
    eps = float(p.sort(descending=True).values[1])
    if eps <= 0:
        raise ValueError("p is one-hot: no second eigenvalue to compare with 2 eps")
    return {"eps": eps, "lambda1": float(lam[0]), "lambda2": float(lam[1]),
            "ratio": float(lam[0]) / (2 * eps), "separation": float(lam[1] / lam[0])}


def pre_collapse_scan(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    alphas: Sequence[float],
    R: torch.Tensor,
    *,
    temperature: float = 1.0,
    group_size: int = 4,
) -> list[dict]:
    """Softmax entropies and positive curvature of the Hessian and G-term across alpha (Fig. 10).

    The network at ``alpha * theta`` is obtained through the rescaling law (Eq. 5) of a
    homogeneous model (``curvature.rescaled_split``): logits and ``J R`` are computed once
    at ``theta`` and the H-term passes for ``group_size`` scales share one tangent pass.

    Args:
        model, params: homogeneous network (``model.degree``) and its unscaled parameters;
            neither is modified.
        X, y: the batch.
        alphas: initialisation scales.
        R: ``(P, d)`` orthonormal projection (see ``curvature.random_subspace``).
        temperature: softmax temperature ``T``.
        group_size: scales per forward-over-reverse pass (memory ~ ``d P`` floats each).

    Returns:
        One dict per alpha: ``alpha``, ``entropies`` (``(N,)`` array), ``hessian_pc`` and
        ``g_pc`` (``Tr/||.||_F`` of the projected Hessian and G-term; NaN where the matrix
        is exactly zero), ``g_norm``/``h_norm`` (spectral norms of the projected G-term and
        H-term), ``least_confident`` (sample index with the largest entropy),
        ``eps_least`` (its second-largest probability), ``share_least`` (its share of
        ``Tr`` of the batch-averaged ``diag(p) - p p^T``) and ``p_least``.
    """
    L = homogeneity_degree(model)
    alphas = [float(a) for a in alphas]
    with torch.no_grad():
        z = logits(model, params, X).to(torch.float64)
    splits = rescaled_split(model, params, X, y, R, [(a, temperature) for a in alphas],
                            group_size=group_size)

    out = []
    for a, (G, Ht) in zip(alphas, splits):
        p = torch.softmax(a**L * z / temperature, dim=1)
        H, shares = entropy(p), trace_shares(p)
        mu = int(H.argmax())
        out.append({
            "alpha": a,
            "entropies": H.cpu().numpy(),
            # NaN (curvature.UNDEFINED) where the matrix is exactly zero: softmax one-hot
            "hessian_pc": positive_curvature(G + Ht),
            "g_pc": positive_curvature(G),
            "g_norm": float(torch.linalg.matrix_norm(G, ord=2)),
            "h_norm": float(torch.linalg.matrix_norm(Ht, ord=2)),
            "least_confident": mu,
            "eps_least": float(p[mu].sort(descending=True).values[1]),
            "share_least": float(shares[mu]),
            "p_least": p[mu].cpu().numpy(),
        })
    return out


def first_layer_top_image(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    alpha: float,
    *,
    layer: str = "layers.0.weight",
    image_shape: Sequence[int] = (28, 28),
    temperature: float = 1.0,
    seed: int = 0,
    tol: float = 1e-10,
) -> dict:
    """Top Hessian eigenvector of the first layer, averaged over hidden units (Fig. 10 top).

    The eigenvector of the ``(hidden x inputs)`` weight block is reshaped to the weight
    matrix, averaged over the hidden dimension and reshaped to an image. In the
    pre-collapse regime (App. D) it is proportional to the least-confident input.

    Returns:
        ``alpha``, ``eigenvalue``, ``image`` (array of ``image_shape``), ``vector`` (the
        flattened averaged eigenvector) and ``collapsed``: True (and NaN images) when every
        softmax output is one-hot in float64, where the block is zero and has no top
        eigenvector (``curvature.top_eigenpairs`` computes the others, by Lanczos).
    """
    sp = scale_params(params, alpha)
    with torch.no_grad():
        p = torch.softmax(logits(model, sp, X).to(torch.float64) / temperature, dim=1)
    W = params[layer] if layer in params else None
    if W is None:
        raise ValueError(f"unknown layer {layer!r}; parameter names are: {', '.join(params)}")
    if bool(((p > 0).sum(1) < 2).all()):
        # every softmax output is one-hot in float64: the G-term (and for a ReLU network's
        # first layer, the whole diagonal block) is exactly zero; no eigenvector to show.
        nan = np.full(tuple(image_shape), np.nan)
        return {"alpha": float(alpha), "eigenvalue": 0.0, "collapsed": True, "image": nan,
                "vector": nan.reshape(-1)}
    vals, vecs = top_eigenpairs(model, sp, X, y, k=1, temperature=temperature, layer=layer,
                                seed=seed, tol=tol)
    val, vec = float(vals[0]), vecs[:, 0]
    W = params[layer]
    avg = vec.reshape(W.shape).to(torch.float64).mean(0)
    return {"alpha": float(alpha), "eigenvalue": val, "collapsed": False,
            "image": avg.reshape(tuple(image_shape)).cpu().numpy(), "vector": avg.cpu().numpy()}


def best_aligned_image(vec, X: torch.Tensor) -> dict:
    """The row of ``X`` (flattened) with the largest ``|cosine|`` to ``vec`` (sign-free).

    Returns:
        ``index`` (position in ``X``), ``cosine`` (signed), ``abs_cosine``, and
        ``runner_up`` (the second-largest ``|cosine|``) for contrast.
    """
    v = torch.as_tensor(np.asarray(vec), dtype=torch.float64).reshape(-1)
    F = X.reshape(X.shape[0], -1).to(torch.float64).cpu()
    if F.shape[1] != v.numel():
        raise ValueError(f"vec has {v.numel()} entries but images have {F.shape[1]}")
    nv = torch.linalg.vector_norm(v)
    if not torch.isfinite(v).all() or nv == 0:
        raise ValueError("vec must be finite and non-zero (a collapsed block has no eigenvector)")
    cos = F @ v / (torch.linalg.vector_norm(F, dim=1).clamp_min(1e-300) * nv)
    order = cos.abs().argsort(descending=True)
    i = int(order[0])
    return {"index": i, "cosine": float(cos[i]), "abs_cosine": float(cos[i].abs()),
            "runner_up": float(cos[order[1]].abs()) if len(order) > 1 else float("nan")}
