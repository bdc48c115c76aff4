"""Gaussian-mixture data of the two related works (seeded, float64).

* :func:`cluster_mixture`: ``K`` isotropic clusters, one class each, with random
  orthogonal mean directions of norm ``separation`` (Sagun et al. 2017's synthetic data:
  more clusters or a smaller separation make the data harder).
* :func:`axis_means`, :func:`sample_gmm`: Ben Arous et al.'s ``k``-GMM, means along
  coordinate axes ``mu_a = e_{a * spacing}`` (their Fig. 2.2), samples
  ``Y = mu_a + Z / sqrt(lambda)`` with ``Z ~ N(0, I_d)`` and ``lambda`` the SNR.
* :func:`sample_xor`: their XOR mixture: four means ``+-mu, +-nu`` (orthogonal unit
  vectors), label 1 for the ``+-mu`` clusters and 0 for ``+-nu``.

Randomness goes through an explicit seed (a private ``torch.Generator``).
"""

from __future__ import annotations

import torch

__all__ = ["axis_means", "cluster_mixture", "sample_gmm", "sample_xor", "xor_means"]


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_positive(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    return float(value)


def cluster_mixture(n: int, num_clusters: int, dim: int, *, separation: float, seed: int,
                    noise: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples of ``num_clusters`` Gaussian clusters in ``R^dim``, label = cluster.

    The means are ``separation`` times orthonormal random directions (so every pair of
    means is ``sqrt(2) * separation`` apart); each sample is ``mean + noise * N(0, I)``.
    Labels are balanced (``n`` is rounded down to a multiple of ``num_clusters``).

    Returns:
        ``(X, y)``: ``X (n', dim)`` float64, ``y (n',)`` long.
    """
    n = _check_count("n", n, 1)
    K = _check_count("num_clusters", num_clusters, 2)
    dim = _check_count("dim", dim, K)
    separation = _check_positive("separation", separation)
    noise = _check_positive("noise", noise)
    per = n // K
    if per < 1:
        raise ValueError(f"n = {n} is smaller than num_clusters = {K}")
    gen = torch.Generator().manual_seed(int(seed))
    Q, _ = torch.linalg.qr(torch.randn(dim, K, generator=gen, dtype=torch.float64))
    means = separation * Q.T
    y = torch.arange(K).repeat_interleave(per)
    y = y[torch.randperm(y.numel(), generator=gen)]
    X = means[y] + noise * torch.randn(y.numel(), dim, generator=gen, dtype=torch.float64)
    return X, y


def axis_means(k: int, d: int) -> torch.Tensor:
    """``(k, d)`` unit means along coordinate axes, ``mu_a = e_{(a+1) * (d // (k+1))}``.

    With ``k = 10, d = 1000`` this is spacing 90 (the paper's Fig. 2.2 uses
    ``mu_i = e_{50 i}``; only the set of axes differs, which changes nothing by symmetry).
    """
    k = _check_count("k", k, 2)
    d = _check_count("d", d, k + 1)
    spacing = d // (k + 1)
    M = torch.zeros(k, d, dtype=torch.float64)
    M[torch.arange(k), (torch.arange(k) + 1) * spacing - 1] = 1.0
    return M


def sample_gmm(means: torch.Tensor, n: int, *, snr: float, gen: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples ``Y = mu_a + Z / sqrt(snr)``, ``a`` uniform over the ``k`` means.

    Returns ``(Y (n, d), a (n,))``; draws from ``gen`` (the caller's generator, advanced).
    """
    n = _check_count("n", n, 1)
    snr = _check_positive("snr", snr)
    k, d = means.shape
    a = torch.randint(0, k, (n,), generator=gen)
    Z = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return means[a] + Z / snr**0.5, a


def xor_means(d: int) -> torch.Tensor:
    """``(2, d)``: ``mu = e_{d/3}``, ``nu = e_{2d/3}`` (orthogonal unit vectors)."""
    d = _check_count("d", d, 3)
    M = torch.zeros(2, d, dtype=torch.float64)
    M[0, d // 3 - 1] = 1.0
    M[1, 2 * d // 3 - 1] = 1.0
    return M


def sample_xor(means: torch.Tensor, n: int, *, snr: float, gen: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """XOR mixture: cluster ``c`` uniform in ``{+mu, -mu, +nu, -nu}``, label 1 for ``+-mu``.

    Returns ``(Y (n, d), label (n,) in {0, 1}, cluster (n,) in {0, 1, 2, 3})``.
    """
    n = _check_count("n", n, 1)
    snr = _check_positive("snr", snr)
    d = means.shape[1]
    four = torch.stack([means[0], -means[0], means[1], -means[1]])
    c = torch.randint(0, 4, (n,), generator=gen)
    Z = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return four[c] + Z / snr**0.5, (c < 2).long(), c
