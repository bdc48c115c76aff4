"""Linear probe on penultimate-layer features (Fig. 12 left, App. E).

To ask whether a trained (or random) network has learned useful representations, the
paper trains a linear classifier on the activations that feed the network's last layer
and reports its test accuracy: features of LeNet-300-100 trained from ``alpha = 1000``
(the lazy regime) are only marginally better than those of a random initialisation,
while features learned inside the Goldilocks zone are much better (C19).

The probe here is multinomial logistic regression with an intercept and a small L2
penalty on the weights, on features standardised with the training split's mean and
standard deviation, fitted to convergence by full-batch L-BFGS in float64. The penalised
problem is strictly convex, so the fit does not depend on the starting point; the start is
still drawn from ``seed`` so that the whole procedure is a deterministic function of it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from ..functional import Weights
from ._checks import unpack_split

__all__ = ["ProbeResult", "linear_probe", "penultimate_features"]


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of :func:`linear_probe`.

    Attributes:
        train_accuracy, test_accuracy: accuracies of the fitted classifier.
        train_loss: penalised training loss at the end.
        iterations: L-BFGS iterations used.
        grad_norm: max-abs gradient of the penalised loss at the end.
        converged: ``grad_norm <= tol``.
        num_features: width of the penultimate layer.
        dead_features: features that are zero on every training sample.
    """

    train_accuracy: float
    test_accuracy: float
    train_loss: float
    iterations: int
    grad_norm: float
    converged: bool
    num_features: int
    dead_features: int


def _last_layer(model: nn.Module, layer: str | None) -> str:
    if layer is not None:
        names = dict(model.named_modules())
        if layer not in names or layer == "":
            raise ValueError(f"unknown layer {layer!r}; modules are: "
                             f"{', '.join(n for n in names if n)}")
        return layer
    last = None
    for name, module in model.named_modules():
        if name and any(True for _ in module.parameters(recurse=False)):
            last = name
    if last is None:
        raise ValueError(f"{type(model).__name__} has no layer with parameters")
    return last


def penultimate_features(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    *,
    layer: str | None = None,
    batch_size: int = 4096,
) -> torch.Tensor:
    """The input of the network's last layer at ``params``: features ``(N, F)``.

    The last layer is the last registered submodule that holds parameters (``layers.2``
    of LeNet-300-100, ``fc3`` of LeNet-5) unless ``layer`` names one. The input is captured
    by a forward pre-hook on a private copy of ``model``; the caller's model is untouched.
    """
    name = _last_layer(model, layer)
    clone = copy.deepcopy(model)
    captured: list[torch.Tensor] = []
    target = dict(clone.named_modules())[name]
    target.register_forward_pre_hook(lambda _m, inputs: captured.append(inputs[0].detach()))
    outs = []
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            captured.clear()
            functional_call(clone, params, (X[start : start + batch_size],))
            if len(captured) != 1:
                raise ValueError(f"layer {name!r} ran {len(captured)} times in one forward pass")
            outs.append(captured[0].flatten(1))
    return torch.cat(outs)


def linear_probe(
    model: nn.Module,
    params: Weights,
    train: Any,
    test: Any,
    *,
    seed: int = 0,
    l2: float = 1e-4,
    max_iter: int = 500,
    tol: float = 1e-6,
    layer: str | None = None,
) -> ProbeResult:
    """Test accuracy of a linear classifier on the penultimate features of ``params``.

    Fits :math:`\\min_{W, b} \\frac{1}{N}\\sum_\\mu -\\log \\operatorname{softmax}(W
    \\hat\\phi(x^\\mu) + b)_{y^\\mu} + \\frac{\\lambda}{2}\\lVert W\\rVert_F^2` on the
    standardised features :math:`\\hat\\phi` of the training split (Fig. 12 left),
    with L-BFGS (strong Wolfe line search) in float64 until the gradient's max-abs entry
    is below ``tol``.

    Args:
        model: the network (not mutated); params: its parameters (e.g. a trained run's
            ``GridResult.final_params(run)``).
        train, test: :class:`goldilocks_nb.data.Dataset` or ``(X, y)`` pairs; labels in
            ``[0, K)`` for the same ``K``.
        seed: seed of the starting point (private generator).
        l2: penalty ``lambda > 0`` on the weights.
        max_iter: L-BFGS iteration budget.
        tol: convergence threshold on the gradient's max-abs entry.
        layer: the last layer's module name (default: found automatically).

    Raises:
        ValueError: bad splits, labels or settings, or non-finite features.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    for name, v in (("l2", l2), ("tol", tol)):
        if not math.isfinite(float(v)) or float(v) <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    X, y = unpack_split("train", train)[:2]
    Xt, yt = unpack_split("test", test)[:2]
    K = int(max(int(y.max()), int(yt.max())) + 1)
    num_classes = getattr(train, "num_classes", None)
    if num_classes is not None:
        if getattr(test, "num_classes", num_classes) != num_classes:
            raise ValueError(
                f"test split has {test.num_classes} classes, train split {num_classes}"
            )
        K = int(num_classes)
    device = next(iter(params.values())).device
    F = penultimate_features(model, params, X.to(device), layer=layer).double().cpu()
    Ft = penultimate_features(model, params, Xt.to(device), layer=layer).double().cpu()
    if not (torch.isfinite(F).all() and torch.isfinite(Ft).all()):
        raise ValueError("penultimate features are not finite (a diverged run?)")
    y, yt = y.long().cpu(), yt.long().cpu()
    mean, std = F.mean(0), F.std(0)
    dead = int((F.abs().amax(0) == 0).sum())
    std = torch.where(std > 0, std, torch.ones_like(std))
    F, Ft = (F - mean) / std, (Ft - mean) / std
    gen = torch.Generator().manual_seed(seed)
    W = (0.01 * torch.randn(F.shape[1], K, generator=gen, dtype=torch.float64)).requires_grad_()
    b = torch.zeros(K, dtype=torch.float64, requires_grad=True)

    def objective() -> torch.Tensor:
        return nn.functional.cross_entropy(F @ W + b, y) + 0.5 * l2 * (W * W).sum()

    opt = torch.optim.LBFGS([W, b], lr=1.0, max_iter=max_iter, tolerance_grad=tol,
                            tolerance_change=0.0, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = objective()
        value.backward()
        return value

    opt.step(closure)
    iterations = int(opt.state[opt._params[0]]["n_iter"])
    value = closure().detach()
    gmax = float(max(W.grad.abs().max(), b.grad.abs().max()))
    with torch.no_grad():
        train_acc = float(((F @ W + b).argmax(1) == y).double().mean())
        test_acc = float(((Ft @ W + b).argmax(1) == yt).double().mean())
    return ProbeResult(train_acc, test_acc, float(value), iterations, gmax, gmax <= tol,
                       int(F.shape[1]), dead)
