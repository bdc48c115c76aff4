"""Scalar summaries of a symmetric curvature matrix (Eq. 2, Section 2).

Positive curvature (Fort & Scherlis, 2019; Eq. 2 of the paper),

.. math:: \\frac{\\mathrm{Tr}(M)}{\\lVert M \\rVert_F}
          = \\frac{\\sum_i \\lambda_i}{\\sqrt{\\sum_i \\lambda_i^2}} \\in [-\\sqrt{d}, \\sqrt{d}],

local convexity (the fraction of positive eigenvalues) and the spectral norm
``max_i |lambda_i|``. Eigenvalues via ``torch.linalg.eigvalsh``.

**Undefined curvature.** ``Tr / ||.||_F`` of an exactly zero matrix (e.g. a G-term that
vanished because the softmax became one-hot in floating point, App. C) is undefined. The
engine's one convention: it is reported as :data:`UNDEFINED` (``nan``), never raised, by
:func:`positive_curvature`, :func:`curvature_metrics` (hence every sweep record) and the
Hutchinson estimate; all go through :func:`curvature_ratio`. The ratio is scale-free and
is evaluated after an exact power-of-two rescaling, so tiny or huge (but finite)
matrices neither underflow to "zero" nor overflow.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_symmetric

__all__ = [
    "UNDEFINED",
    "curvature_metrics",
    "curvature_ratio",
    "local_convexity",
    "positive_curvature",
    "power_of_two_scale",
    "spectral_norm",
]

UNDEFINED = float("nan")
"""Value of the positive curvature ``Tr / ||.||_F`` of an exactly zero matrix."""


def power_of_two_scale(t: torch.Tensor) -> float:
    """The power of two ``2^k <= max |t| < 2^(k+1)`` (``0.0`` for an all-zero ``t``).

    Dividing by it is exact in binary floating point, so rounding is unchanged.
    """
    top = float(t.abs().max()) if t.numel() else 0.0
    if top == 0.0:
        return 0.0
    return math.ldexp(1.0, math.frexp(top)[1] - 1)


def curvature_ratio(trace: float, frobenius: float) -> float:
    """``trace / frobenius``, or :data:`UNDEFINED` when ``frobenius == 0`` (zero matrix)."""
    return float(trace / frobenius) if frobenius > 0 else UNDEFINED


def positive_curvature(M: torch.Tensor) -> float:
    """Excess of positive curvature ``Tr(M) / ||M||_F`` (Eq. 2).

    Args:
        M: symmetric matrix ``(d, d)``, e.g. a projected Hessian ``R^T H R``.

    Returns:
        A number in ``[-sqrt(d), sqrt(d)]``, or :data:`UNDEFINED` (``nan``) if ``M``
        is exactly zero (see the module docstring).

    Raises:
        ValueError: if ``M`` is not a finite symmetric matrix.

    Example:
        >>> positive_curvature(torch.eye(4))
        2.0
    """
    check_symmetric(M)
    scale = power_of_two_scale(M)
    if scale == 0.0:
        return UNDEFINED
    M = M / scale
    return curvature_ratio(torch.trace(M), torch.linalg.matrix_norm(M, ord="fro"))


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
        curvature of an exactly zero matrix is :data:`UNDEFINED` (module docstring), so a
        sweep reaching a vanished G-term does not stop.
    """
    check_symmetric(M)
    ev = torch.linalg.eigvalsh(M)
    scale = power_of_two_scale(ev)
    evs = ev / scale if scale > 0 else ev
    return {
        "positive_curvature": curvature_ratio(evs.sum(), evs.square().sum().sqrt()),
        "local_convexity": float((ev > 0).to(torch.float64).mean()),
        "spectral_norm": float(ev.abs().max()),
    }
