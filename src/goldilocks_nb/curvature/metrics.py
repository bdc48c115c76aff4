"""Scalar summaries of a symmetric curvature matrix (Eq. 2, Section 2).

Positive curvature (Fort & Scherlis, 2019; Eq. 2 of the paper),

.. math:: \\frac{\\mathrm{Tr}(M)}{\\lVert M \\rVert_F}
          = \\frac{\\sum_i \\lambda_i}{\\sqrt{\\sum_i \\lambda_i^2}} \\in [-\\sqrt{d}, \\sqrt{d}],

local convexity (the fraction of positive eigenvalues) and the spectral norm
``max_i |lambda_i|``. Eigenvalues via ``torch.linalg.eigvalsh``.
"""

from __future__ import annotations

import torch

from ._checks import check_symmetric

__all__ = [
    "curvature_metrics",
    "local_convexity",
    "positive_curvature",
    "spectral_norm",
]


def positive_curvature(M: torch.Tensor) -> float:
    """Excess of positive curvature ``Tr(M) / ||M||_F`` (Eq. 2).

    Args:
        M: symmetric matrix ``(d, d)``, e.g. a projected Hessian ``R^T H R``.

    Returns:
        A number in ``[-sqrt(d), sqrt(d)]``.

    Raises:
        ValueError: if ``M`` is not a finite symmetric matrix or is exactly zero
            (the ratio is undefined).

    Example:
        >>> positive_curvature(torch.eye(4))
        2.0
    """
    check_symmetric(M)
    fro = torch.linalg.matrix_norm(M, ord="fro")
    if fro == 0:
        raise ValueError("positive curvature is undefined for the zero matrix")
    return float(torch.trace(M) / fro)


def local_convexity(M: torch.Tensor, *, tol: float = 0.0) -> float:
    """Fraction of eigenvalues of the symmetric ``M`` that are positive (Section 2).

    Args:
        M: symmetric matrix ``(d, d)``.
        tol: count ``lambda > tol * max|lambda|`` as positive (``0``: strictly positive).

    Returns:
        A number in ``[0, 1]``.

    Example:
        >>> local_convexity(torch.diag(torch.tensor([1.0, -1.0, 2.0, 3.0])))
        0.75
    """
    check_symmetric(M)
    ev = torch.linalg.eigvalsh(M)
    return float((ev > tol * ev.abs().max()).to(torch.float64).mean())


def spectral_norm(M: torch.Tensor) -> float:
    """Largest absolute eigenvalue ``||M||_2`` of the symmetric ``M``.

    Example:
        >>> spectral_norm(torch.diag(torch.tensor([1.0, -3.0])))
        3.0
    """
    check_symmetric(M)
    return float(torch.linalg.eigvalsh(M).abs().max())


def curvature_metrics(M: torch.Tensor) -> dict[str, float]:
    """All three metrics from one eigendecomposition.

    Returns:
        ``{"positive_curvature", "local_convexity", "spectral_norm"}``; the positive
        curvature of an exactly zero matrix is reported as ``nan`` (undefined) here,
        so that a sweep reaching a vanished G-term does not stop.
    """
    check_symmetric(M)
    ev = torch.linalg.eigvalsh(M)
    fro = ev.square().sum().sqrt()
    return {
        "positive_curvature": float(ev.sum() / fro) if fro > 0 else float("nan"),
        "local_convexity": float((ev > 0).to(torch.float64).mean()),
        "spectral_norm": float(ev.abs().max()),
    }
