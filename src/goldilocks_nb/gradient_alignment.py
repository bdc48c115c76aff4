"""The random logit model's assumptions measured, and its consequences for the loss gradient.

Section 4 of the paper (after Fort & Ganguli, 2019) writes the projected logit gradients as
``J[mu, k] = c_k + e_k^mu``: class means ``c_k`` shared by all samples, nearly orthogonal with
``||c_k||^2 = d sigma_c^2``, and isotropic residuals ``e_k^mu ~ N(0, sigma_e^2 I_d)``
independent across samples and classes. This module

* measures those assumptions on a real ``J R`` (:func:`assumption_stats`) and splits the gap
  between Eq. 8 and the true G-term into the assumptions that cause it
  (:func:`g_term_decomposition`);
* gives the two variance conventions (:func:`variance_conventions`);
* computes what Eq. 9 predicts for the expected loss gradient ``sum_k c_k (Qhat_k - Q_k)``:
  full-parameter class means (:func:`class_mean_gradients`), the loss gradient on a batch
  (:func:`loss_gradient`), the prior sweep of Figure 5b (:func:`prior_sweep`), gradient
  cosines across datasets (Figure 5a, :func:`gradient_cosines`) and the per-init statistics
  of Figure 6 (:func:`init_statistics`, :func:`rank_correlations`).

Pure functions over explicit parameters (``torch.func.functional_call``); models are never
written to.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy import stats
from torch import nn
from torch.func import functional_call, grad, vjp

from .curvature import positive_curvature, projected_hessian, random_subspace
from .curvature.gamma import entropy, expected_g_term, softmax_hessian
from .curvature.gauss_newton import gauss_newton_from_jacobian
from .data import Dataset, class_prior, prior_subset
from .functional import Weights, check_alpha, flatten_params, scale_params

__all__ = [
    "assumption_stats",
    "class_mean_gradients",
    "fit_line",
    "g_term_decomposition",
    "gradient_cosines",
    "init_statistics",
    "loss_gradient",
    "prior_sweep",
    "qhat_bound_minimum",
    "rank_correlations",
    "rgb32",
    "variance_conventions",
]


def _check_jr(JR: torch.Tensor) -> torch.Tensor:
    if not isinstance(JR, torch.Tensor) or JR.ndim != 3 or JR.shape[0] < 2 or JR.shape[1] < 2:
        shape = tuple(JR.shape) if isinstance(JR, torch.Tensor) else type(JR).__name__
        raise ValueError(f"JR must be a tensor of shape (N >= 2, K >= 2, d), got {shape}")
    return JR.to(torch.float64)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


# ----------------------------------------------------------------------------- assumptions


def assumption_stats(JR: torch.Tensor, *, max_pairs: int = 200_000, seed: int = 0) -> dict:
    """The random logit model's assumptions measured on a projected logit Jacobian.

    Args:
        JR: ``(N, K, d)`` projected logit gradients ``R^T grad f_k(x_mu)``.
        max_pairs: sample pairs used for the alignment means (drawn with ``seed``).

    Returns:
        ``within``: mean cosine between ``J[mu, k]`` and ``J[nu, k]``, ``mu != nu`` (the
        authors' within-class alignment); ``cross``: the same for ``k != l`` (cross-class);
        ``c_cos``: ``(K, K)`` cosines between the class means ``c_k`` and ``c_cos_offdiag``
        (mean |off-diagonal|; 0 under the model); ``c_norm_spread``: max/min ``||c_k||``
        (1 under the model); ``resid_eig``: eigenvalues of the pooled residual covariance
        ``(d, d)`` over its isotropic value ``sigma_e^2`` (all 1 under the model), and their
        ``participation`` ``(sum l)^2 / (d sum l^2)`` (1 when isotropic); ``resid_same_sample``:
        mean cosine between ``e_k^mu`` and ``e_l^mu`` of one sample, ``k != l`` (0 when
        independent across classes); ``signal_fraction``: ``d sigma_c^2 / (d sigma_c^2 +
        d sigma_e^2)``.
    """
    J = _check_jr(JR)
    N, K, d = J.shape
    g = torch.Generator().manual_seed(int(seed))
    m = min(max_pairs, N * (N - 1))
    mu = torch.randint(0, N, (m,), generator=g)
    nu = (mu + torch.randint(1, N, (m,), generator=g)) % N  # nu != mu
    U = _unit(J)
    same = (U[mu] * U[nu]).sum(-1)  # (m, K): same class k, different samples
    k = torch.randint(0, K, (m,), generator=g)
    l_ = (k + torch.randint(1, K, (m,), generator=g)) % K
    cross = (U[mu, k] * U[nu, l_]).sum(-1)
    c = J.mean(0)
    cu = _unit(c)
    c_cos = cu @ cu.T
    off = ~torch.eye(K, dtype=torch.bool)
    e = J - c
    s_e2 = float(e.pow(2).mean())
    cov = torch.einsum("nki,nkj->ij", e, e) / (N * K)
    eig = torch.linalg.eigvalsh(cov) / s_e2
    eu = _unit(e)
    rs = torch.einsum("nki,nli->nkl", eu, eu)[:, off].mean()
    cn = c.norm(dim=1)
    s_c2 = float(c.pow(2).mean())
    return {
        "within": float(same.mean()),
        "cross": float(cross.mean()),
        "c_cos": c_cos.numpy(),
        "c_cos_offdiag": float(c_cos[off].abs().mean()),
        "c_norm_spread": float(cn.max() / cn.min()),
        "resid_eig": eig.flip(0).numpy(),
        "participation": float(eig.sum() ** 2 / (d * eig.pow(2).sum())),
        "resid_same_sample": float(rs),
        "signal_fraction": s_c2 / (s_c2 + s_e2),
    }


def variance_conventions(JR: torch.Tensor) -> dict[str, tuple[float, float]]:
    """``(sigma_c^2, sigma_e^2)`` under the two estimator conventions.

    ``plain``: ``||C||_F^2 / (K d)`` and ``||J - C||_F^2 / (N K d)`` (the moment estimators
    of :func:`~goldilocks_nb.curvature.logit_gradient_stats`); ``centred``: ``C.var()`` and
    ``(J - C).var()`` over all entries, centred on their mean and with Bessel's correction
    (the authors' ``std() ** 2``).
    """
    J = _check_jr(JR)
    c = J.mean(0)
    e = J - c
    return {"plain": (float(c.pow(2).mean()), float(e.pow(2).mean())),
            "centred": (float(c.var(unbiased=True)), float(e.var(unbiased=True)))}


def g_term_decomposition(JR: torch.Tensor, z: torch.Tensor, alphas: Sequence[float], *,
                         degree: int, temperature: float = 1.0) -> dict[str, np.ndarray]:
    """Positive curvature across alpha of the G-term and of three model approximations.

    With ``p' = softmax(alpha^L z / T)``, ``M_mu = diag p'_mu - p'_mu p'_mu^T``, ``M`` their
    batch mean, ``C`` the measured class means and ``e = J - C``:

    * ``true``: ``(1/N) sum_mu J_mu^T M_mu J_mu`` (the G-term, Fig. 3);
    * ``no_cross``: ``C^T M C + (1/N) sum_mu e_mu^T M_mu e_mu`` (drops the ``C``-``e`` cross
      terms, which vanish in expectation);
    * ``eq7_measured_c``: Eq. 7, ``C^T M C + Tr(M) sigma_e^2 I`` with the measured ``C``
      (residuals replaced by isotropic independent ones);
    * ``eq8``: Eq. 8 (``C`` replaced by orthogonal rows of equal norm).

    Each step from ``eq8`` to ``true`` removes one assumption; the differences attribute
    the C6 gap. Every curve is ``nan`` where all outputs are one-hot.
    """
    from .curvature import expected_g_curvature
    from .random_logit import scaled_probs

    J = _check_jr(JR)
    N, K, d = J.shape
    c = J.mean(0)
    e = J - c
    s_c2, s_e2 = float(c.pow(2).mean()), float(e.pow(2).mean())
    names = ("true", "no_cross", "eq7_measured_c", "eq8")
    out = {k: np.full(len(alphas), np.nan) for k in names}
    for i, a in enumerate(alphas):
        p = scaled_probs(z, a, degree, temperature)
        if not bool(softmax_hessian(p).abs().max() > 0):
            continue
        mats = {"true": gauss_newton_from_jacobian(J, p),
                "no_cross": expected_g_term(c, 0.0, p) + gauss_newton_from_jacobian(e, p),
                "eq7_measured_c": expected_g_term(c, s_e2, p)}
        for k, G in mats.items():
            out[k][i] = positive_curvature(G / G.abs().max())
        out["eq8"][i] = expected_g_curvature(s_c2, s_e2, d, p)
    return out


# ----------------------------------------------------------------------------- data


def rgb32(ds: Dataset) -> Dataset:
    """28 x 28 grey images padded to 32 x 32 (with the background value) and repeated over
    3 channels: the stand-in for SVHN in Figure 5a (same input shape as CIFAR-10)."""
    X = ds.X
    if X.ndim != 4 or X.shape[1] != 1 or X.shape[2:] != (28, 28):
        raise ValueError(f"rgb32 needs (N, 1, 28, 28) images, got {tuple(X.shape)}")
    background = float(X.amin())
    X = nn.functional.pad(X, (2, 2, 2, 2), value=background).expand(-1, 3, -1, -1).contiguous()
    return Dataset(X, ds.y, ds.classes, ds.source + "; padded to 32x32, repeated over 3 channels",
                   ds.name, ds.split, ds.indices)


# ----------------------------------------------------------------------------- gradients


def loss_gradient(model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor,
                  ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Full-parameter gradient of the mean cross-entropy (flat ``(P,)``), ``Qhat`` (mean
    softmax ``(K,)``) and the loss, in one forward and one backward pass."""
    def f(p: Weights) -> tuple[torch.Tensor, torch.Tensor]:
        z = functional_call(model, p, (X,))
        return nn.functional.cross_entropy(z, y), z

    g, z = grad(f, has_aux=True)(params)
    loss = nn.functional.cross_entropy(z, y)
    return flatten_params(g), torch.softmax(z, 1).mean(0), float(loss)


def class_mean_gradients(model: nn.Module, params: Weights, X: torch.Tensor, *,
                         chunk_size: int = 1000) -> torch.Tensor:
    """``C``: ``(K, P)`` full-parameter class means ``c_k = (1/N) sum_mu grad f_k(x_mu)``.

    One reverse pass per chunk with the ``K`` cotangents ``e_k / N`` (vmapped).
    """
    N = X.shape[0]
    out = None
    for s in range(0, N, chunk_size):
        Xc = X[s:s + chunk_size]
        z, pull = vjp(lambda p, Xc=Xc: functional_call(model, p, (Xc,)), params)
        K = z.shape[1]
        cot = torch.eye(K, dtype=z.dtype, device=z.device)[:, None, :].expand(K, *z.shape) / N
        gs = torch.func.vmap(pull)(cot)[0]
        flat = torch.cat([t.reshape(K, -1) for t in gs.values()], dim=1)
        out = flat if out is None else out + flat
    return out


def fit_line(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Least-squares ``y = a + b x``: slope, intercept, R^2, and the slope through the origin."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 3 or np.ptp(x) == 0:
        raise ValueError("fit_line needs at least 3 points with distinct x")
    res = stats.linregress(x, y)
    return {"slope": float(res.slope), "intercept": float(res.intercept),
            "r2": float(res.rvalue**2), "slope_origin": float((x @ y) / (x @ x))}


def prior_sweep(model: nn.Module, params: Weights, pool: Dataset, priors: np.ndarray, *,
                subset_size: int, seed: int = 0, C: torch.Tensor | None = None,
                progress: Callable = lambda it, **_: it) -> dict[str, np.ndarray]:
    """Figure 5b: the loss gradient on subsets drawn with class priors ``Q``.

    For each prior ``Q`` (row of ``priors``) a subset of ``subset_size`` images of ``pool``
    with class frequencies ``Q`` (:func:`~goldilocks_nb.data.prior_subset`, seed
    ``seed + i``); returns ``grad_norm``, ``dist`` (``||Qhat - Q||``), ``Q`` (empirical),
    ``Qhat`` and, from the full-pool class means ``C``, ``eq9_norm``
    ``||sum_k c_k (Qhat_k - Q_k)||`` (Eq. 9 with the measured, non-orthogonal ``c_k``).
    ``C``: the pool's class means when already computed (:func:`class_mean_gradients`).
    """
    priors = np.asarray(priors, float)
    if C is None:
        C = class_mean_gradients(model, params, pool.X)
    K = pool.num_classes
    out = {k: [] for k in ("grad_norm", "dist", "Q", "Qhat", "eq9_norm")}
    for i in progress(range(len(priors)), desc="priors"):
        sub = prior_subset(pool, priors[i], subset_size, seed=seed + i)
        g, qhat, _ = loss_gradient(model, params, sub.X, sub.y)
        Q = class_prior(sub.y, K).to(qhat)
        diff = qhat - Q
        out["grad_norm"].append(float(g.norm()))
        out["dist"].append(float(diff.norm()))
        out["Q"].append(Q.cpu().numpy())
        out["Qhat"].append(qhat.detach().cpu().numpy())
        out["eq9_norm"].append(float((diff.to(C) @ C).norm()))
    res = {k: np.array(v) for k, v in out.items()}
    res["s_c2_full"] = float(C.double().pow(2).mean())
    res["P"] = int(C.shape[1])
    return res


def gradient_cosines(model: nn.Module, params: Weights, datasets: dict[str, Dataset], *,
                     alpha: float = 1.0) -> dict:
    """Figure 5a: pairwise cosines between the loss gradients at ``alpha * theta`` on
    ``datasets`` (same model), and each dataset's ``||Qhat - Q||``."""
    a = check_alpha(alpha)
    th = scale_params(params, a)
    names = list(datasets)
    grads, dist = {}, {}
    for n in names:
        ds = datasets[n]
        g, qhat, _ = loss_gradient(model, th, ds.X, ds.y)
        grads[n] = g.double()
        dist[n] = float((qhat.double().cpu() - class_prior(ds.y, ds.num_classes)).norm())
    cos = {}
    for i, u in enumerate(names):
        for v in names[i + 1:]:
            cos[(u, v)] = float(grads[u] @ grads[v] / (grads[u].norm() * grads[v].norm()))
    return {"cos": cos, "dist": dist}


# ----------------------------------------------------------------------------- Figure 6


def init_statistics(model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, *,
                    d: int, subspace_seed: int) -> dict[str, float]:
    """Figure 6's statistics of one initialisation on one batch.

    ``entropy``: mean softmax entropy; ``grad_norm``: full-parameter loss gradient norm;
    ``curvature``: positive curvature ``Tr/||.||_F`` of the projected Hessian (``d``
    directions, :func:`~goldilocks_nb.curvature.random_subspace` with ``subspace_seed``);
    ``loss``; ``qhat_bound``: ``sum_k -log Qhat_k`` (``>= K log K``, equality iff ``Qhat`` is
    uniform); ``seconds``: wall time of this call.
    """
    t0 = time.perf_counter()
    g, qhat, loss = loss_gradient(model, params, X, y)
    with torch.no_grad():
        p = torch.softmax(functional_call(model, params, (X,)), 1)
    q = qhat.double()
    P = g.numel()
    R = random_subspace(P, d, seed=subspace_seed, dtype=X.dtype, device=X.device)
    H = projected_hessian(model, params, X, y, R)
    return {"entropy": float(entropy(p.double()).mean()), "grad_norm": float(g.norm()),
            "curvature": positive_curvature(H.double()), "loss": loss,
            "qhat_bound": float(-torch.log(q / q.sum()).sum()),
            "seconds": time.perf_counter() - t0}


def _spearman(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's rho along ``axis`` (Pearson correlation of the ranks, ties averaged);
    ``nan`` where either variable is constant (no rank correlation defined)."""
    xr = stats.rankdata(x, axis=axis)
    yr = stats.rankdata(y, axis=axis)
    xr = xr - xr.mean(axis=axis, keepdims=True)
    yr = yr - yr.mean(axis=axis, keepdims=True)
    den = np.sqrt((xr**2).sum(axis=axis) * (yr**2).sum(axis=axis))
    return np.where(den > 0, (xr * yr).sum(axis=axis) / np.where(den > 0, den, 1.0), np.nan)


def rank_correlations(table: dict[str, np.ndarray], pairs: Sequence[tuple[str, str]], *,
                      n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """Spearman rho for each pair of columns with a seeded percentile-bootstrap interval.

    The resamples come from :func:`scipy.stats.bootstrap` (``paired=True``: the inits are
    resampled with replacement, each keeping its two values; ``n_boot`` resamples,
    ``rng=numpy.random.default_rng(seed)``, the same generator state for every pair;
    ``method="percentile"``). Percentile, not BCa: it is the interval the chapter defines
    (the central ``level`` of the resampled rhos), and it stays defined when the resampled
    rhos are all equal (a perfect rank correlation gives ``[-1, -1]`` or ``[1, 1]``, where
    BCa's acceleration is undefined). A resample in which a column is constant has no rank
    correlation (``nan``; with 5 inits about one resample in 600): the interval is the
    percentile interval of the resamples where rho is defined (``numpy.nanquantile`` of
    scipy's ``bootstrap_distribution``; scipy's own interval is ``nan`` as soon as one
    resample is), which equals scipy's interval when every resample is defined.

    Returns ``{(u, v): {"rho", "lo", "hi"}}``.

    Raises:
        ValueError: fewer than 4 inits, or no resample with a defined rank correlation.
    """
    n = len(next(iter(table.values())))
    if n < 4:
        raise ValueError(f"rank correlations need at least 4 inits, got {n}")
    q = (1 - level) / 2
    out = {}
    for u, v in pairs:
        x, y = np.asarray(table[u], float), np.asarray(table[v], float)
        rho = float(_spearman(x, y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            boot = stats.bootstrap((x, y), _spearman, paired=True, vectorized=True,
                                   n_resamples=int(n_boot), confidence_level=level,
                                   method="percentile",
                                   rng=np.random.default_rng(seed)).bootstrap_distribution
        if np.isnan(boot).all():
            raise ValueError(f"no bootstrap interval for {u}-{v}: every resample of the {n} "
                             f"inits has a constant column")
        lo, hi = np.nanquantile(boot, [q, 1 - q])
        out[(u, v)] = {"rho": rho, "lo": float(lo), "hi": float(hi)}
    return out


def qhat_bound_minimum(K: int) -> float:
    """``K log K``: the minimum of ``sum_k -log Qhat_k`` over the simplex (uniform Qhat)."""
    return K * math.log(K)
