"""Functional evaluation of a model at explicit parameters (no mutation of the model).

Parameters travel as a ``dict[str, Tensor]`` in the order of ``model.named_parameters()``;
a flat vector concatenates the flattened tensors in that same order. All evaluation goes
through :func:`torch.func.functional_call`, so the caller's module is never written to.

The softmax temperature :math:`T` is an argument of the loss and of the probabilities
(Eq. 1), never hidden state on the model:

.. math:: p_k = \\sigma_T(z)_k = \\frac{\\exp(z_k / T)}{\\sum_c \\exp(z_c / T)}, \\qquad
          \\ell = -\\frac{1}{N}\\sum_\\mu \\log p^\\mu_{y^\\mu}.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call

Params = dict[str, torch.Tensor]

__all__ = [
    "Params",
    "check_alpha",
    "check_temperature",
    "cross_entropy",
    "flatten_params",
    "get_params",
    "homogeneity_deviation",
    "logits",
    "loss",
    "scale_params",
    "softmax",
    "unflatten_params",
]


def get_params(
    model: nn.Module,
    *,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
) -> Params:
    """Detached copies of the model's parameters, in ``named_parameters()`` order."""
    return {
        name: p.detach().to(dtype=dtype or p.dtype, device=device or p.device).clone()
        for name, p in model.named_parameters()
    }


def flatten_params(params: Params) -> torch.Tensor:
    """Concatenate the flattened tensors of ``params`` in their order: a vector of length P."""
    return torch.cat([t.reshape(-1) for t in params.values()])


def unflatten_params(vector: torch.Tensor, like: Params) -> Params:
    """Inverse of :func:`flatten_params`: split ``vector`` into tensors shaped as ``like``."""
    total = sum(t.numel() for t in like.values())
    if vector.ndim != 1 or vector.numel() != total:
        raise ValueError(f"expected a vector of {total} entries, got shape {tuple(vector.shape)}")
    out: Params = {}
    start = 0
    for name, t in like.items():
        out[name] = vector[start : start + t.numel()].view_as(t)
        start += t.numel()
    return out


def check_alpha(alpha: float) -> float:
    """Validate an initialisation scale: a finite number > 0."""
    a = float(alpha)
    if not math.isfinite(a) or a <= 0:
        raise ValueError(f"alpha must be a finite number > 0, got {alpha!r}")
    return a


def check_temperature(temperature: float) -> float:
    """Validate a softmax temperature ``T``: a finite number > 0."""
    t = float(temperature)
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return t


def scale_params(params: Params, alpha: float) -> Params:
    """The alpha-scaled parameters ``alpha * theta`` (new tensors)."""
    a = check_alpha(alpha)
    return {name: a * t for name, t in params.items()}


def logits(model: nn.Module, params: Params, X: torch.Tensor) -> torch.Tensor:
    """Logits ``z = f_theta(X)`` of shape ``(N, K)``, evaluated at ``params``."""
    return functional_call(model, params, (X,))


def softmax(z: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Softmax with temperature, Eq. 1: ``softmax(z / T)`` along the last axis."""
    return torch.softmax(z / temperature, dim=-1)


def cross_entropy(z: torch.Tensor, y: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Mean cross-entropy of ``softmax(z / T)`` against integer targets ``y``."""
    return nn.functional.cross_entropy(z / temperature, y)


def loss(
    model: nn.Module,
    params: Params,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Mean cross-entropy loss of ``model`` at ``params`` on the batch ``(X, y)``."""
    return cross_entropy(logits(model, params, X), y, temperature)


def homogeneity_deviation(
    model: nn.Module, params: Params, X: torch.Tensor, alphas, degree: int
) -> list[float]:
    """Max relative deviation ``|f(alpha theta) - alpha^L f(theta)| / |alpha^L f(theta)|``.

    One value per alpha; zero up to rounding for a homogeneous model of degree ``L``
    (Section 2: :math:`f_{\\alpha\\theta} = \\alpha^L f_\\theta`).
    """
    z = logits(model, params, X)
    out = []
    for alpha in alphas:
        scaled = logits(model, scale_params(params, alpha), X)
        expected = float(alpha) ** degree * z
        out.append(float((scaled - expected).abs().max() / expected.abs().max()))
    return out
