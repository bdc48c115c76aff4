"""Gamma_p and the random logit model of Section 4 (Eq. 7-8, Appendices B-C).

The softmax block of the G-term (Eq. 4) is the ``K x K`` matrix

.. math:: M(p) = \\mathrm{diag}(p) - p p^\\top,

positive semi-definite of rank ``K - 1`` for a ``p`` with full support, and ``0`` when
``p`` is one-hot. For a batch of softmax outputs ``p^mu`` the paper uses the average
``(1/B) sum_mu M(p^mu)`` (text below Eq. 8). Its excess of positive eigenvalues (Eq. 2) is

.. math:: \\Gamma_p = \\frac{\\mathrm{Tr}\\, M}{\\lVert M \\rVert_F} \\in [1, \\sqrt{K - 1}],

the ratio of the L1 and L2 norms of the (at most ``K - 1``) non-zero eigenvalues.

Random logit model (Section 4): projected logit gradients ``R^T grad f_k(x_mu) = c_k +
e_k^mu`` with ``c_k ~ N(0, s_c^2 I_d)`` shared by all samples and ``e_k^mu ~ N(0, s_e^2
I_d)`` per sample. With ``C`` the ``K x d`` matrix of the ``c_k``,

.. math:: \\mathbb{E}_e \\mathcal{G} = C^\\top M(p) C + (1 - \\lVert p \\rVert^2)\\,
          \\sigma_e^2 I_d \\quad\\text{(Eq. 7)},

and, when the rows of ``C`` are taken orthogonal with ``||c_k||^2 = d s_c^2``,

.. math:: \\frac{\\mathrm{Tr}\\,\\mathbb{E}_e\\mathcal{G}}
          {\\lVert\\mathbb{E}_e\\mathcal{G}\\rVert_F} = \\frac{\\sqrt{d}(\\sigma_c^2 + \\sigma_e^2)}
          {\\sqrt{\\sigma_e^4 + 2\\sigma_e^2\\sigma_c^2 + d\\sigma_c^4\\Gamma_p^{-2}}}
          \\quad\\text{(Eq. 8)}.
"""

from __future__ import annotations

import math

import torch

from .metrics import positive_curvature

__all__ = [
    "entropy",
    "expected_g_curvature",
    "expected_g_spectrum",
    "expected_g_term",
    "gamma_p",
    "gamma_p_collapse_limit",
    "logit_gradient_stats",
    "p_s_eps",
    "softmax_hessian",
    "trace_shares",
]

PROB_TOL = 1e-6
"""Tolerance on ``|sum_k p_k - 1|`` for a row to count as a probability vector."""


def _as_probs(probs: torch.Tensor | list | tuple, *, tol: float = PROB_TOL) -> torch.Tensor:
    """Validate ``probs`` and return it as a float64 ``(N, K)`` tensor."""
    p = torch.as_tensor(probs)
    if not torch.is_floating_point(p):
        p = p.to(torch.float64)
    p = p.to(torch.float64)
    if p.ndim == 1:
        p = p.unsqueeze(0)
    if p.ndim != 2:
        raise ValueError(f"probs must have shape (K,) or (N, K), got {tuple(p.shape)}")
    if p.numel() == 0:
        raise ValueError(f"probs is empty (shape {tuple(p.shape)})")
    if p.shape[1] < 2:
        raise ValueError(f"probs needs at least K = 2 classes, got K = {p.shape[1]}")
    if not torch.isfinite(p).all():
        raise ValueError("probs has non-finite entries")
    if (p < 0).any():
        raise ValueError(f"probs has negative entries (min {float(p.min()):.3g})")
    dev = (p.sum(dim=1) - 1).abs()
    if (dev > tol).any():
        row = int(dev.argmax())
        raise ValueError(
            f"every row of probs must sum to 1 (tol {tol:g}); row {row} sums to "
            f"{float(p[row].sum()):.8g}"
        )
    return p


def softmax_hessian(probs: torch.Tensor | list | tuple) -> torch.Tensor:
    """Batch-averaged softmax block ``M = (1/N) sum_mu diag(p^mu) - p^mu p^mu^T`` (Eq. 4).

    Args:
        probs: one probability vector ``(K,)`` or a batch ``(N, K)``; rows sum to 1.

    Returns:
        Symmetric PSD float64 tensor of shape ``(K, K)``. The diagonal is computed as
        ``p_k sum_{j != k} p_j`` (the same number for normalised ``p``), which keeps full
        relative precision for nearly one-hot ``p``.

    Raises:
        ValueError: for an empty input, negative entries or rows that do not sum to 1.

    Example:
        >>> softmax_hessian(torch.tensor([0.5, 0.5]))
        tensor([[ 0.2500, -0.2500],
                [-0.2500,  0.2500]], dtype=torch.float64)
    """
    p = _as_probs(probs)
    # Diagonal p_k (1 - p_k) formed as p_k * sum_{j != k} p_j: equal for a normalised p,
    # and free of the cancellation in 1 - p_k when p is nearly one-hot (App. C regime).
    K = p.shape[1]
    off = 1 - torch.eye(K, dtype=p.dtype, device=p.device)
    rest = p @ off  # rest[mu, k] = sum_{j != k} p[mu, j]
    M = -(p.T @ (p / p.shape[0]))
    M = M * off + torch.diag((p * rest).mean(0))
    return M


def gamma_p(probs: torch.Tensor | list | tuple) -> float:
    """``Gamma_p = Tr(M) / ||M||_F`` of the batch-averaged ``M = diag(p) - p p^T`` (Sec. 4).

    Lies in ``[1, sqrt(K - 1)]``; equals ``sqrt(K - 1)`` at the uniform ``p`` (all ``K - 1``
    non-zero eigenvalues are ``1/K``, App. B) and tends to 1 as ``p`` collapses to
    ``p(2, eps)`` (App. C, Eq. 10-11).

    Args:
        probs: one probability vector ``(K,)`` or a batch ``(N, K)``.

    Returns:
        ``Gamma_p`` as a Python float.

    Raises:
        ValueError: for invalid probabilities, or when ``M = 0`` (every row one-hot), where
            ``Gamma_p`` is undefined (App. C).

    Example:
        >>> round(gamma_p(torch.full((10,), 0.1, dtype=torch.float64)) ** 2, 12)
        9.0
    """
    g = positive_curvature(softmax_hessian(probs))
    if math.isnan(g):  # every row one-hot: M = 0 exactly (metrics.UNDEFINED)
        raise ValueError(
            "Gamma_p is undefined: diag(p) - p p^T is zero (every probability vector is "
            "one-hot); see App. C for its limit as p approaches one-hot"
        )
    return g


def entropy(probs: torch.Tensor | list | tuple) -> torch.Tensor:
    """Shannon entropy ``-sum_k p_k log p_k`` (natural log, ``0 log 0 = 0``) of each row.

    Args:
        probs: ``(K,)`` or ``(N, K)``.

    Returns:
        A 0-d tensor for a single vector, else a ``(N,)`` tensor (float64).
    """
    single = torch.as_tensor(probs).ndim == 1
    p = _as_probs(probs)
    h = (-torch.special.xlogy(p, p).sum(dim=1)).clamp_min(0)  # no -0.0
    return h[0] if single else h


def trace_shares(probs: torch.Tensor | list | tuple) -> torch.Tensor:
    """Each sample's share of ``Tr sum_mu M(p^mu)``: ``Tr M(p^mu) / sum_nu Tr M(p^nu)``.

    ``Tr M(p) = sum_k p_k (1 - p_k)`` is evaluated as ``sum_k p_k sum_{j != k} p_j``, which
    has no cancellation when one ``p_k`` is within rounding of 1 (the pre-collapse regime of
    App. C-D, where the few samples that are not yet one-hot carry the whole G-term).

    Args:
        probs: ``(K,)`` or ``(N, K)``.

    Returns:
        ``(N,)`` float64 tensor summing to 1; all ``nan`` when every row is one-hot.

    Example:
        >>> trace_shares(torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
        tensor([1., 0.], dtype=torch.float64)
    """
    p = _as_probs(probs)
    off = 1 - torch.eye(p.shape[1], dtype=p.dtype, device=p.device)
    tr = (p * (p @ off)).sum(dim=1)
    total = tr.sum()
    return tr / total if bool(total > 0) else torch.full_like(tr, float("nan"))


def p_s_eps(S: int, eps: float, K: int | None = None) -> torch.Tensor:
    """The App. C family ``p(S, eps)``: ``S - 1`` entries ``eps``, one ``1 - (S-1) eps``.

    Zero-padded to length ``K`` (default ``K = S``). The entries are ordered
    ``[eps, ..., eps, 1 - (S-1) eps, 0, ..., 0]`` as in the paper.

    Raises:
        ValueError: unless ``2 <= S <= K`` and ``0 < eps <= 1/S`` (so the large entry is the
            largest one).
    """
    if isinstance(S, bool) or int(S) != S or S < 2:
        raise ValueError(f"S must be an integer >= 2, got {S!r}")
    S = int(S)
    K = S if K is None else K
    if isinstance(K, bool) or int(K) != K or K < S:
        raise ValueError(f"K must be an integer >= S = {S}, got {K!r}")
    eps = float(eps)
    if not (math.isfinite(eps) and 0 < eps <= 1 / S):
        raise ValueError(f"eps must be in (0, 1/S] = (0, {1 / S:.4g}], got {eps!r}")
    p = torch.zeros(int(K), dtype=torch.float64)
    p[: S - 1] = eps
    p[S - 1] = 1 - (S - 1) * eps
    return p


def gamma_p_collapse_limit(S: int) -> float:
    """``lim_{eps -> 0} Gamma_p^2(p(S, eps)) = 4 (S - 1) / (S + 2)`` (App. C, Eq. 11).

    Example:
        >>> gamma_p_collapse_limit(2), gamma_p_collapse_limit(10)
        (1.0, 3.0)
    """
    if isinstance(S, bool) or int(S) != S or S < 2:
        raise ValueError(f"S must be an integer >= 2, got {S!r}")
    return 4 * (S - 1) / (S + 2)


def _check_variances(s_c2: float, s_e2: float) -> tuple[float, float]:
    s_c2, s_e2 = float(s_c2), float(s_e2)
    for name, v in (("s_c2", s_c2), ("s_e2", s_e2)):
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a finite variance >= 0, got {v!r}")
    if s_c2 == 0 and s_e2 == 0:
        raise ValueError("s_c2 and s_e2 are both zero: the expected G-term is zero")
    return s_c2, s_e2


def _check_d(d: int) -> int:
    if isinstance(d, bool) or int(d) != d or d < 1:
        raise ValueError(f"subspace dimension d must be an integer >= 1, got {d!r}")
    return int(d)


def expected_g_curvature(s_c2: float, s_e2: float, d: int, probs) -> float:
    """Excess of positive eigenvalues of the expected G-term, Eq. 8.

    .. math:: \\frac{\\sqrt{d}(\\sigma_c^2+\\sigma_e^2)}
              {\\sqrt{\\sigma_e^4 + 2\\sigma_e^2\\sigma_c^2 + d\\sigma_c^4\\Gamma_p^{-2}}}

    Args:
        s_c2: variance ``sigma_c^2`` of the class-mean logit gradients (per coordinate).
        s_e2: variance ``sigma_e^2`` of the per-sample residuals (per coordinate).
        d: subspace dimension.
        probs: softmax outputs ``(K,)`` or ``(N, K)``; a batch enters through the
            batch-averaged ``M`` (text below Eq. 8).

    Note:
        Eq. 8 is exact for the matrix of Eq. 7 when the rows of ``C`` are orthogonal with
        ``||c_k||^2 = d s_c^2`` (the paper's simplification, which needs ``d >= K``): then
        ``E_e G = d s_c^2 blockdiag(M, 0) + Tr(M) s_e^2 I_d`` and the factor
        ``Tr M = 1 - ||p||^2`` cancels between trace and norm. With random (not exactly
        orthogonal) ``c_k`` it holds on average; see :func:`expected_g_term`.
    """
    s_c2, s_e2 = _check_variances(s_c2, s_e2)
    d = _check_d(d)
    g = gamma_p(probs)
    return math.sqrt(d) * (s_c2 + s_e2) / math.sqrt(s_e2**2 + 2 * s_e2 * s_c2 + d * s_c2**2 / g**2)


def logit_gradient_stats(J: torch.Tensor) -> tuple[float, float]:
    """Estimate ``(sigma_c^2, sigma_e^2)`` of the random logit model from ``J R``.

    ``J`` holds projected logit gradients ``J[mu, k, :] = R^T grad_theta f_k(x_mu)``. The
    model (Section 4) writes them as ``c_k + e_k^mu`` with a class mean ``c_k`` shared by
    all samples and a per-sample residual. The paper does not spell out its estimator
    (Fig. 3 only says the two variances were "empirically estimated"); we use the
    moment estimators that match ``||c_k||^2 = d sigma_c^2`` (Section 4) and
    ``E ||e_k^mu||^2 = d sigma_e^2``:

    * ``c_k = (1/N) sum_mu J[mu, k]``, ``sigma_c^2 = ||C||_F^2 / (K d)``,
    * ``e = J - c``, ``sigma_e^2 = ||e||_F^2 / (N K d)`` (the plain mean, i.e. the
      maximum-likelihood estimator; multiply by ``N / (N - 1)`` for the unbiased one).

    Args:
        J: projected logit Jacobian of shape ``(N, K, d)``, ``N >= 2``.

    Returns:
        ``(s_c2, s_e2)`` as floats.
    """
    if not isinstance(J, torch.Tensor) or J.ndim != 3:
        shape = tuple(J.shape) if isinstance(J, torch.Tensor) else type(J).__name__
        raise ValueError(f"J must be a tensor of shape (N, K, d), got {shape}")
    if min(J.shape) < 1 or J.shape[0] < 2:
        raise ValueError(f"J needs N >= 2 samples and K, d >= 1, got shape {tuple(J.shape)}")
    if not torch.isfinite(J).all():
        raise ValueError("J has non-finite entries")
    J = J.to(torch.float64)
    c = J.mean(dim=0)
    s_c2 = float(c.pow(2).mean())
    s_e2 = float((J - c).pow(2).mean())
    return s_c2, s_e2


def expected_g_term(C: torch.Tensor, s_e2: float, probs) -> torch.Tensor:
    """Expected G-term of the random logit model, Eq. 7: ``C^T M C + (1 - ||p||^2) s_e^2 I``.

    For a batch, ``M`` is the batch average of ``diag(p) - p p^T`` and ``1 - ||p||^2`` is
    its trace (the batch average of ``1 - ||p^mu||^2``), which is what ``E_e`` of the
    per-sample G-terms gives.

    Args:
        C: ``(K, d)`` matrix whose rows are the class-mean logit gradients ``c_k``.
        s_e2: residual variance ``sigma_e^2 >= 0``.
        probs: ``(K,)`` or ``(N, K)``.

    Returns:
        ``(d, d)`` symmetric float64 tensor.
    """
    M = softmax_hessian(probs)
    if not isinstance(C, torch.Tensor) or C.ndim != 2 or C.shape[0] != M.shape[0]:
        shape = tuple(C.shape) if isinstance(C, torch.Tensor) else type(C).__name__
        raise ValueError(f"C must have shape (K, d) = ({M.shape[0]}, d), got {shape}")
    s_e2 = float(s_e2)
    if not math.isfinite(s_e2) or s_e2 < 0:
        raise ValueError(f"s_e2 must be a finite variance >= 0, got {s_e2!r}")
    C = C.to(torch.float64)
    d = C.shape[1]
    C = C.to(M.device)
    return C.T @ M @ C + torch.trace(M) * s_e2 * torch.eye(d, dtype=torch.float64, device=M.device)


def expected_g_spectrum(s_c2: float, s_e2: float, d: int, probs) -> torch.Tensor:
    """Bi-level spectrum of the expected G-term (App. B), in non-increasing order.

    .. math:: \\lambda_i(\\mathbb{E}_e\\mathcal{G}) =
              \\begin{cases} (1 - \\lVert p\\rVert^2)\\sigma_e^2 + d\\sigma_c^2\\tilde\\lambda_i
              & i \\le K - 1,\\\\ (1 - \\lVert p\\rVert^2)\\sigma_e^2 & \\text{otherwise,}
              \\end{cases}

    with ``tilde lambda_i`` the ``i``-th largest eigenvalue of ``diag(p) - p p^T``; valid
    when the rows of ``C`` are orthogonal with ``||c_k||^2 = d s_c^2`` (the paper's
    simplification). For a batch, ``M`` is batch-averaged and ``1 - ||p||^2 = Tr M``.

    Args:
        s_c2, s_e2: the two variances of the random logit model.
        d: subspace dimension, ``d >= K`` (room for ``K`` orthogonal rows of ``C``).
        probs: ``(K,)`` or ``(N, K)``.

    Returns:
        ``(d,)`` float64 tensor of eigenvalues, largest first.
    """
    s_c2, s_e2 = _check_variances(s_c2, s_e2)
    d = _check_d(d)
    M = softmax_hessian(probs)
    K = M.shape[0]
    if d < K:
        raise ValueError(f"d = {d} must be >= K = {K} for the bi-level spectrum (K orthogonal "
                         "rows of C)")
    lam = torch.linalg.eigvalsh(M).flip(0)[: K - 1]
    bulk = torch.trace(M) * s_e2
    out = torch.full((d,), float(bulk), dtype=torch.float64, device=M.device)
    out[: K - 1] += d * s_c2 * lam
    return out
