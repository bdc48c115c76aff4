"""Quantities logged during training, for a batch of ``R`` runs at once (Section 5, App. E).

Every function takes tensors with a leading run axis and returns one value per run, shape
``(R,)``. Logits ``z`` have shape ``(R, N, K)``; labels ``y`` are ``(N,)`` (shared by all
runs) or ``(R, N)`` (one labelling per run, e.g. random labels); flat parameter vectors
are ``(R, P)`` in :func:`goldilocks_nb.functional.flatten_params` order.

These are the statistics of Figures 8, 9, 11 and 12: the loss and accuracy, the parameter
norm :math:`\\lVert\\theta_t\\rVert` and gradient norm :math:`\\lVert g_t\\rVert`, the
alignments :math:`\\cos(\\theta_t, \\theta_0)` and :math:`\\cos(\\theta_t, -g_t)`
(Fig. 11 right), the mean softmax entropy (the model's confidence, Section 4), and the
share of samples whose logits are all exactly zero (Fig. 12 right, the "zero logits" of
Fig. 8 middle).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "accuracy",
    "cosine",
    "norm",
    "cross_entropy",
    "mean_entropy",
    "zero_logit_fraction",
    "zero_logit_sample_fraction",
]


def _labels_like(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Broadcast labels ``(N,)`` or ``(R, N)`` to ``(R, N)``."""
    return y.expand(z.shape[0], -1) if y.ndim == 1 else y


def cross_entropy(z: torch.Tensor, y: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Mean cross-entropy of ``softmax(z / T)`` per run (Eq. 1): ``(R, N, K) -> (R,)``."""
    R, N, K = z.shape
    labels = _labels_like(z, y).reshape(-1)
    per_sample = nn.functional.cross_entropy(
        (z / temperature).reshape(R * N, K), labels, reduction="none"
    )
    return per_sample.view(R, N).mean(dim=1)


def accuracy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Share of samples whose largest logit is the label's, per run: ``(R,)``.

    Ties (e.g. all logits zero) go to the lowest class index, as ``argmax`` does.
    """
    return (z.argmax(dim=-1) == _labels_like(z, y)).to(z.dtype).mean(dim=1)


def mean_entropy(z: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Mean entropy ``-sum_k p_k log p_k`` of ``p = softmax(z / T)`` over samples: ``(R,)``.

    ``log K`` for a uniform softmax output (low confidence, inside the Goldilocks zone for
    small ``alpha``), ``0`` for one-hot outputs (a collapsed softmax, large ``alpha``).
    """
    logp = torch.log_softmax(z / temperature, dim=-1)
    ent = -(logp.exp() * logp).sum(dim=-1)
    return ent.mean(dim=1)


def zero_logit_sample_fraction(z: torch.Tensor) -> torch.Tensor:
    """Share of samples whose ``K`` logits are all exactly zero, per run (Fig. 12 right).

    In a bias-free ReLU network this happens when every unit of some hidden layer is
    inactive on that sample: the output is then exactly zero, the softmax uniform and the
    loss ``log K`` (Section 5's zero-logit regime).
    """
    return (z == 0).all(dim=-1).to(z.dtype).mean(dim=1)


def zero_logit_fraction(z: torch.Tensor) -> torch.Tensor:
    """Share of all ``N * K`` logits that are exactly zero, per run."""
    return (z == 0).to(z.dtype).flatten(1).mean(dim=1)


def _scaled(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(m, a / m)`` with ``m`` the max-abs entry of each row (1 for zero rows)."""
    m = a.abs().amax(dim=1)
    m = torch.where(m > 0, m, torch.ones_like(m))
    return m, a / m[:, None]


def norm(a: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of each row of ``a`` ``(R, P)``, without overflow of the squares.

    Diverging runs reach entries near the largest float (Section 5); the rows are scaled
    by their max-abs entry first, so a finite vector gets a finite norm when it exists.
    """
    m, s = _scaled(a)
    return m * torch.linalg.vector_norm(s, dim=1)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of matching rows of ``a`` and ``b`` (``(R, P)`` each): ``(R,)``.

    Computed on rows scaled by their max-abs entry (no overflow). ``nan`` where either
    vector is zero (the angle is undefined).
    """
    _, sa = _scaled(a)
    _, sb = _scaled(b)
    denom = torch.linalg.vector_norm(sa, dim=1) * torch.linalg.vector_norm(sb, dim=1)
    dot = (sa * sb).sum(dim=1)
    return torch.where(denom > 0, dot / denom, torch.full_like(dot, float("nan")))
