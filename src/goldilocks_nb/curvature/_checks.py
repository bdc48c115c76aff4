"""Input validation shared by the curvature modules (private).

Every public function validates its inputs here *before* any expensive computation, and
raises :class:`ValueError` with a message that names the offending argument.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from goldilocks_nb.functional import Params, check_temperature

__all__ = [
    "batch_chunks",
    "check_batch",
    "check_num_directions",
    "check_subspace",
    "check_symmetric",
    "check_temperature",
    "num_params",
    "prepare",
]


def num_params(params: Params) -> int:
    """Total number of scalars ``P`` in ``params``."""
    return sum(t.numel() for t in params.values())


def check_num_directions(num_params: int, d: int) -> int:
    """Validate a subspace dimension ``1 <= d <= P``."""
    if isinstance(d, bool) or int(d) != d:
        raise ValueError(f"subspace dimension d must be an integer, got {d!r}")
    d = int(d)
    if d < 1:
        raise ValueError(f"subspace dimension d must be >= 1, got {d}")
    if d > num_params:
        raise ValueError(
            f"subspace dimension d={d} exceeds the number of parameters P={num_params}"
        )
    return d


def check_batch(X: torch.Tensor, y: torch.Tensor | None = None) -> None:
    """Validate a batch: non-empty ``X`` of shape ``(N, ...)``, integer ``y`` of shape ``(N,)``."""
    if not isinstance(X, torch.Tensor):
        raise ValueError(f"X must be a tensor, got {type(X).__name__}")
    if X.ndim < 1 or X.shape[0] == 0:
        raise ValueError(f"empty batch: X has shape {tuple(X.shape)}")
    if y is None:
        return
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"y must be a tensor, got {type(y).__name__}")
    if y.ndim != 1:
        raise ValueError(f"y must be a vector of class indices, got shape {tuple(y.shape)}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and y have different lengths: {X.shape[0]} inputs, {y.shape[0]} targets"
        )
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(f"y must hold integer class indices, got dtype {y.dtype}")


def check_subspace(R: torch.Tensor, num_params: int, *, tol: float | None = None) -> None:
    """Validate a projection matrix: shape ``(P, d)``, ``1 <= d <= P``, ``R^T R = I``.

    Args:
        R: candidate basis, shape ``(P, d)``.
        num_params: the number of parameters ``P`` of the model.
        tol: maximal entry of ``|R^T R - I|``; defaults to ``sqrt(eps)`` of ``R``'s dtype.
    """
    if not isinstance(R, torch.Tensor):
        raise ValueError(f"R must be a tensor, got {type(R).__name__}")
    if R.ndim != 2:
        raise ValueError(f"R must be a (P, d) matrix, got shape {tuple(R.shape)}")
    if not R.dtype.is_floating_point:
        raise ValueError(f"R must be floating point, got dtype {R.dtype}")
    if R.shape[0] != num_params:
        raise ValueError(
            f"R has {R.shape[0]} rows but the model has P={num_params} parameters "
            "(R must be (P, d), rows in flatten_params order)"
        )
    check_num_directions(num_params, R.shape[1])
    if tol is None:
        tol = math.sqrt(torch.finfo(R.dtype).eps)
    gram = R.T @ R
    err = (gram - torch.eye(R.shape[1], dtype=R.dtype, device=R.device)).abs().max().item()
    if not err <= tol:
        raise ValueError(
            f"R must have orthonormal columns: max |R^T R - I| = {err:.3g} > {tol:.3g}"
        )


def check_symmetric(M: torch.Tensor) -> torch.Tensor:
    """Validate a finite, symmetric square matrix; return it (as is)."""
    if not isinstance(M, torch.Tensor):
        raise ValueError(f"expected a tensor, got {type(M).__name__}")
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise ValueError(f"expected a non-empty square matrix, got shape {tuple(M.shape)}")
    if not torch.isfinite(M).all():
        raise ValueError("matrix has non-finite entries")
    scale = M.abs().max()
    asym = (M - M.T).abs().max()
    tol = 1e3 * torch.finfo(M.dtype).eps if M.dtype.is_floating_point else 0.0
    if asym > tol * scale:
        raise ValueError(f"matrix is not symmetric: max |M - M^T| = {asym.item():.3g}")
    return M


def prepare(
    params: Params,
    X: torch.Tensor,
    y: torch.Tensor | None = None,
    R: torch.Tensor | None = None,
) -> tuple[Params, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Cast ``params``, ``X`` (and ``R``) to one dtype and device; ``y`` to long on it.

    The dtype is ``R``'s when given, else that of the first parameter; the device is the
    first parameter's. Nothing is copied when already in place.
    """
    if not params:
        raise ValueError("params is empty")
    first = next(iter(params.values()))
    dtype = R.dtype if R is not None else first.dtype
    if not dtype.is_floating_point:
        raise ValueError(f"curvature needs a floating-point dtype, got {dtype}")
    device = first.device
    params = {k: v.detach().to(dtype=dtype, device=device) for k, v in params.items()}
    X = X.to(dtype=dtype, device=device)
    if y is not None:
        y = y.to(dtype=torch.long, device=device)
    if R is not None:
        R = R.to(device=device)
    return params, X, y, R


def batch_chunks(n: int, chunk_size: int | None) -> Iterator[slice]:
    """Slices ``[0, n)`` in consecutive pieces of at most ``chunk_size`` (all if ``None``)."""
    if chunk_size is None:
        yield slice(0, n)
        return
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size!r}")
    step = int(chunk_size)
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))
