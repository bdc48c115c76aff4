"""Sparse random subspaces with exactly orthonormal columns (Section 2).

Following Fort & Scherlis (2019), the Hessian is projected onto a random
``d``-dimensional subspace spanned by the columns of a sparse matrix ``R``:

.. math:: H_d = R^\\top H R, \\qquad R \\in \\mathbb{R}^{P \\times d}, \\quad R^\\top R = I_d.

Each column of :func:`random_subspace` has random signs on about ``sqrt(P)`` entries and
the columns have *disjoint* supports, so they are exactly orthogonal (no QR needed).
"""

from __future__ import annotations

import math

import torch

from ._checks import check_num_directions

__all__ = [
    "directions_as_params",
    "project_params_batch",
    "random_subspace",
    "support_size",
]


def support_size(num_params: int, d: int) -> int:
    """Number of non-zeros per column: ``min(ceil(sqrt(P)), floor(P / d))``, at least 1."""
    return max(1, min(math.ceil(math.sqrt(num_params)), num_params // d))


def random_subspace(
    num_params: int,
    d: int,
    *,
    seed: int,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Sparse random matrix ``R`` of shape ``(P, d)`` with orthonormal columns.

    Column ``j`` is ``s^{-1/2}`` times random signs on a random support of
    ``s = support_size(P, d)`` (about ``sqrt(P)``) rows; supports of different columns
    are disjoint, so ``R^T R = I_d`` holds exactly up to rounding of ``s^{-1/2}``.

    Args:
        num_params: number of parameters ``P`` (rows, in ``flatten_params`` order).
        d: subspace dimension, ``1 <= d <= P``.
        seed: seed of a private ``torch.Generator`` (the global RNG is untouched);
            the result does not depend on ``device``.
        dtype: floating dtype of ``R``.
        device: where ``R`` lives.

    Returns:
        Dense tensor ``R`` of shape ``(P, d)``.

    Raises:
        ValueError: if ``d < 1`` or ``d > P``.

    Example:
        >>> R = random_subspace(100, 5, seed=0)
        >>> bool(torch.allclose(R.T @ R, torch.eye(5, dtype=R.dtype)))
        True
    """
    if int(num_params) < 1:
        raise ValueError(f"num_params must be >= 1, got {num_params!r}")
    num_params = int(num_params)
    d = check_num_directions(num_params, d)
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be floating point, got {dtype}")
    s = support_size(num_params, d)
    gen = torch.Generator().manual_seed(int(seed))
    rows = torch.randperm(num_params, generator=gen)[: d * s].view(d, s)
    signs = torch.randint(0, 2, (d, s), generator=gen, dtype=torch.int64) * 2 - 1
    cols = torch.arange(d).unsqueeze(1).expand(d, s)
    R = torch.zeros(num_params, d, dtype=dtype)
    R[rows.reshape(-1), cols.reshape(-1)] = signs.reshape(-1).to(dtype) / math.sqrt(s)
    return R.to(device)


def directions_as_params(
    V: torch.Tensor, params: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Split the columns of ``V`` (shape ``(P, m)``) into a params-shaped dict of batches.

    Returns:
        ``{name: tensor of shape (m, *params[name].shape)}`` such that entry ``j`` of every
        tensor, flattened and concatenated, is column ``j`` of ``V``.
    """
    out: dict[str, torch.Tensor] = {}
    start = 0
    m = V.shape[1]
    for name, t in params.items():
        n = t.numel()
        out[name] = V[start : start + n].T.reshape(m, *t.shape)
        start += n
    return out


def project_params_batch(batch: dict[str, torch.Tensor], R: torch.Tensor) -> torch.Tensor:
    """``B R`` for a params-shaped batch ``B`` (``m`` flattened rows of length ``P``).

    Args:
        batch: ``{name: tensor of shape (m, *shape)}`` in ``flatten_params`` order.
        R: matrix of shape ``(P, d)``.

    Returns:
        Tensor of shape ``(m, d)``, without materialising the ``(m, P)`` concatenation.
    """
    out = None
    start = 0
    for t in batch.values():
        m = t.shape[0]
        flat = t.reshape(m, -1)
        n = flat.shape[1]
        term = flat @ R[start : start + n]
        out = term if out is None else out + term
        start += n
    assert out is not None
    return out
