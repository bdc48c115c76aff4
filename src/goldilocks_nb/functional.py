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

#: A network's parameters by name, ``{name: tensor}`` (the type every pure function here
#: takes; a chapter's ``Params`` is something else: its declared parameters).
Weights = dict[str, torch.Tensor]

__all__ = [
    "Weights",
    "check_alpha",
    "check_finite",
    "check_params",
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
) -> Weights:
    """Detached copies of the model's parameters, in ``named_parameters()`` order."""
    return {
        name: p.detach().to(dtype=dtype or p.dtype, device=device or p.device).clone()
        for name, p in model.named_parameters()
    }


def flatten_params(params: Weights) -> torch.Tensor:
    """Concatenate the flattened tensors of ``params`` in their order: a vector of length P."""
    return torch.cat([t.reshape(-1) for t in params.values()])


def unflatten_params(vector: torch.Tensor, like: Weights) -> Weights:
    """Inverse of :func:`flatten_params`: split ``vector`` into tensors shaped as ``like``."""
    total = sum(t.numel() for t in like.values())
    if vector.ndim != 1 or vector.numel() != total:
        raise ValueError(f"expected a vector of {total} entries, got shape {tuple(vector.shape)}")
    out: Weights = {}
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


def check_finite(name: str, t: torch.Tensor, *, unit: str | None = None) -> None:
    """Raise ``ValueError`` naming ``name`` if ``t`` holds NaN or infinite values.

    The message counts the non-finite values by kind and says where the first one is:
    along dim 0 as ``unit`` (e.g. ``"X has 1 non-finite value (NaN) at sample 3"``), else
    by its index.
    """
    if not (t.dtype.is_floating_point or t.dtype.is_complex):
        return
    if bool(torch.isfinite(t.sum())):  # fast path: one reduction, no mask (NaN/inf propagate)
        return
    bad = ~torch.isfinite(t)
    if not bool(bad.any()):  # finite values whose sum overflowed
        return
    n = int(bad.sum())
    n_nan = int(torch.isnan(t).sum())
    kinds = [f"{n_nan} NaN" if n_nan else "", f"{n - n_nan} inf" if n - n_nan else ""]
    kind = " and ".join(k for k in kinds if k)
    if n == 1:
        kind = "NaN" if n_nan else "inf"
    first = tuple(int(i) for i in bad.nonzero()[0])
    if unit is not None and t.ndim >= 1:
        rows = int(bad.reshape(t.shape[0], -1).any(1).sum())
        where = f"at {unit} {first[0]}"
        if rows > 1:
            where = f"in {rows} {unit}s, the first {where}"
    else:
        where = f"at index {first[0] if len(first) == 1 else first}"
        if n > 1:
            where = f"the first {where}"
    plural = "value" if n == 1 else "values"
    raise ValueError(f"{name} has {n} non-finite {plural} ({kind}) {where}")


def check_params(model: nn.Module, params: Weights) -> None:
    """Validate ``params`` against ``model``: the same tensor names and shapes, finite values.

    ``params`` may list the names in another order (it sets the ``flatten_params`` order)
    but must hold exactly the model's parameters (``named_parameters()``).

    Raises:
        ValueError: naming the missing or extra tensors, a wrong shape, a value that is not
            a floating-point tensor, or the tensor holding NaN / inf.
    """
    if not isinstance(params, dict) or not params:
        got = "an empty dict" if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a non-empty dict {{name: tensor}}, got {got}")
    expected = dict(model.named_parameters())
    missing = [k for k in expected if k not in params]
    extra = [k for k in params if k not in expected]
    if missing or extra:
        parts = [f"missing {', '.join(missing)}" if missing else "",
                 f"extra {', '.join(extra)}" if extra else ""]
        raise ValueError(
            f"params does not match {type(model).__name__}'s parameters: "
            f"{'; '.join(p for p in parts if p)} (expected {', '.join(expected)})"
        )
    for name, t in params.items():
        if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point:
            kind = t.dtype if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"params[{name!r}] must be a floating-point tensor, got {kind}")
        if t.shape != expected[name].shape:
            raise ValueError(
                f"params[{name!r}] has shape {tuple(t.shape)}, but the model's parameter "
                f"has shape {tuple(expected[name].shape)}"
            )
        check_finite(f"params[{name!r}]", t)


def scale_params(params: Weights, alpha: float) -> Weights:
    """The alpha-scaled parameters ``alpha * theta`` (new tensors)."""
    a = check_alpha(alpha)
    return {name: a * t for name, t in params.items()}


def logits(model: nn.Module, params: Weights, X: torch.Tensor) -> torch.Tensor:
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
    params: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Mean cross-entropy loss of ``model`` at ``params`` on the batch ``(X, y)``."""
    return cross_entropy(logits(model, params, X), y, temperature)


def homogeneity_deviation(
    model: nn.Module, params: Weights, X: torch.Tensor, alphas, degree: int
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
