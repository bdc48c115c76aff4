"""Functional full-batch gradient descent on a parameter dict (Section 3 and Section 5).

Training never writes to the model: parameters travel as a ``dict[str, Tensor]`` and every
step evaluates the loss through :func:`goldilocks_nb.functional.loss` (a
``torch.func.functional_call``), so the caller's module and its parameters are untouched.
The softmax temperature :math:`T` is an argument of the loss, not state on the model.

One step of gradient descent with rate :math:`\\eta` at temperature :math:`T` is

.. math:: \\theta_{t+1} = \\theta_t - \\eta\\, \\nabla_\\theta \\ell_T(\\theta_t),
          \\qquad \\ell_T(\\theta) = -\\frac{1}{N}\\sum_\\mu
          \\log \\sigma_T(f_\\theta(x^\\mu))_{y^\\mu}.

Section 3 of the paper (after Eq. 3): for a network homogeneous of degree :math:`L`, the
scaled model :math:`\\theta' = \\alpha\\theta` with temperature :math:`T = \\alpha^L` has the
same softmax output and :math:`\\nabla_{\\theta'}\\ell = \\alpha^{-1}\\nabla_\\theta \\ell`, so
with rate :math:`\\alpha^2\\eta` it follows exactly the same trajectory,
:math:`\\theta'_t = \\alpha\\theta_t` (:func:`trajectory_equivalence` checks this).
Section 5 trains :math:`\\alpha`-scaled networks at :math:`T = 1` with the effective rate
:math:`\\eta_0\\alpha^{2-L}` (:func:`effective_learning_rate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn
from torch.func import functional_call, grad

from ..functional import (
    Weights,
    check_alpha,
    check_temperature,
    flatten_params,
    loss,
    scale_params,
)
from ..models import homogeneity_degree
from ._checks import check_int, check_positive
from .rules import update_objective

__all__ = [
    "Descent",
    "Step",
    "Trajectory",
    "descent_step",
    "effective_learning_rate",
    "gradient_descent",
    "gradient_descent_steps",
    "loss_and_gradient",
    "trajectory_equivalence",
    "update_direction",
]


class Step(NamedTuple):
    """One gradient-descent step from ``theta_t`` (:func:`descent_step`).

    Attributes:
        params: ``theta_{t+1} = theta_t - lr * direction``.
        direction: the update direction ``g_t`` at ``theta_t`` (the gradient of the rule's
            objective: the loss gradient for ``rule="gd"``).
        loss: the cross-entropy ``l_T(theta_t)`` on the batch (detached scalar).
        logits: ``f_{theta_t}(X)`` (detached), for the logged statistics.
    """

    params: Weights
    direction: Weights
    loss: torch.Tensor
    logits: torch.Tensor


def descent_step(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float | torch.Tensor,
    temperature: float = 1.0,
    rule: str = "gd",
    num_classes: int | None = None,
    buffers: Weights | None = None,
) -> Step:
    """One step ``theta <- theta - lr * g`` on the batch ``(X, y)``: the one implementation
    of a gradient-descent step, shared by every trainer of the book.

    ``g`` is the gradient of the rule's objective (:func:`.rules.update_objective`): the
    cross-entropy at temperature ``T`` (Eq. 3) for ``rule="gd"``, the USO surrogate of
    App. E for ``rule="uso"``. The caller picks the batch: the whole training set
    (full-batch GD, :func:`gradient_descent_steps`), a minibatch (SGD, chapter 05), or one
    run of a stacked grid (the engine ``torch.func.vmap``-s this function over runs, with a
    per-run ``lr`` tensor). No validation here (it runs inside the training loop): the
    callers validate their arguments once, before the loop.

    Args:
        model: network (not mutated); evaluated through ``functional_call``.
        params: ``theta_t`` as ``{name: tensor}`` (not mutated).
        X, y: the batch and its integer labels.
        lr: the step size (a float, or a 0-d tensor under ``vmap``).
        temperature: softmax temperature ``T``.
        rule: ``"gd"`` or ``"uso"``.
        num_classes: ``K`` (needed by ``"uso"`` only).
        buffers: the model's buffers, passed with the parameters (``None``: none).
    """
    g, value, z = update_direction(model, params, X, y, temperature=temperature, rule=rule,
                                   num_classes=num_classes, buffers=buffers)
    return Step({k: params[k] - lr * g[k] for k in params}, g, value, z)


def update_direction(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    temperature: float = 1.0,
    rule: str = "gd",
    num_classes: int | None = None,
    buffers: Weights | None = None,
) -> tuple[Weights, torch.Tensor, torch.Tensor]:
    """``(g, loss, logits)`` at ``params``: the gradient of the rule's objective
    (:func:`.rules.update_objective`), the cross-entropy at ``T`` and the logits (both
    detached). The arguments are those of :func:`descent_step`; not validated here."""

    def objective(p: Weights):
        z = functional_call(model, p if not buffers else {**p, **buffers}, (X,))
        obj, value = update_objective(z, y, rule=rule, temperature=temperature,
                                      num_classes=num_classes)
        return obj, (value.detach(), z.detach())

    g, (value, z) = grad(objective, has_aux=True)(params)
    return g, value, z


def loss_and_gradient(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    temperature: float = 1.0,
) -> tuple[Weights, torch.Tensor]:
    """Gradient of the mean cross-entropy at temperature ``T`` (Eq. 3), and the loss.

    Args:
        model: network mapping ``(N, ...)`` to logits ``(N, K)``; not mutated.
        params: ``{name: tensor}`` in ``named_parameters()`` order.
        X: inputs ``(N, ...)``; y: integer labels ``(N,)``.
        temperature: softmax temperature ``T > 0``.

    Returns:
        ``(grad, loss)``: a dict shaped like ``params`` and a scalar tensor.
    """
    g, value, _ = update_direction(model, params, X, y,
                                   temperature=check_temperature(temperature))
    return g, value


@dataclass(frozen=True)
class Descent:
    """The settings of one full-batch gradient-descent run, validated when built: the one
    home of the arguments :func:`gradient_descent_steps` and :func:`gradient_descent`
    share (both take them as typed keywords and build this object first).

    Attributes:
        lr: learning rate ``eta > 0`` (for Section 5's alpha-scaled nets use
            :func:`effective_learning_rate`).
        steps: number of updates ``>= 1``.
        temperature: softmax temperature ``T > 0`` of the loss (Eq. 3).

    Raises:
        ValueError: ``lr <= 0`` or not finite, ``steps < 1`` or not an integer,
            ``temperature <= 0``, each naming the parameter.
    """

    lr: float
    steps: int
    temperature: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", check_positive("learning rate lr", self.lr))
        object.__setattr__(self, "steps", check_int("steps", self.steps, 1))
        object.__setattr__(self, "temperature", check_temperature(self.temperature))


def gradient_descent_steps(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    steps: int,
    temperature: float = 1.0,
) -> Iterator[tuple[int, Weights, float]]:
    """Iterate full-batch gradient descent, yielding ``(t, theta_t, loss(theta_t))``.

    ``lr``, ``steps``, ``temperature``: validated by :class:`Descent`. Yields ``steps + 1``
    triples, ``t = 0, ..., steps``; ``theta_0`` is a copy of ``params``. Each step is
    :func:`descent_step` on the whole batch; the loss at the final point costs one extra
    forward pass. Useful when the caller wants to look at every iterate without storing
    them (see :func:`trajectory_equivalence`).

    Raises:
        ValueError: ``lr <= 0``, ``steps < 1``, ``temperature <= 0`` (at the call, not at
            the first ``next``).
    """
    return _descend(model, params, X, y, Descent(lr, steps, temperature))


def _descend(model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor,
             run: Descent) -> Iterator[tuple[int, Weights, float]]:
    theta = {k: v.detach().clone() for k, v in params.items()}
    for t in range(run.steps):
        step = descent_step(model, theta, X, y, lr=run.lr, temperature=run.temperature)
        yield t, theta, float(step.loss)
        theta = step.params
    with torch.no_grad():
        final = float(loss(model, theta, X, y, temperature=run.temperature))
    yield run.steps, theta, final


@dataclass
class Trajectory:
    """Checkpoints of a gradient-descent run.

    Attributes:
        steps: the iteration index of each checkpoint (``0`` is the initial point).
        params: the parameters at those steps (new tensors; the input is untouched).
        losses: the training loss at those steps.
        lr, temperature: the run's learning rate and softmax temperature.
    """

    steps: list[int] = field(default_factory=list)
    params: list[Weights] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    lr: float = 0.0
    temperature: float = 1.0

    @property
    def final(self) -> Weights:
        """The last recorded parameters."""
        return self.params[-1]

    def __len__(self) -> int:
        return len(self.steps)


def gradient_descent(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    steps: int,
    temperature: float = 1.0,
    record_every: int = 1,
    callback: Callable[[int, Weights, float], None] | None = None,
) -> Trajectory:
    """Full-batch gradient descent ``theta <- theta - lr * grad l_T(theta)`` (Section 5).

    The iterates of :func:`gradient_descent_steps`, recorded.

    Args:
        model: network (not mutated).
        params: starting point ``theta_0`` as ``{name: tensor}`` (not mutated).
        X: the whole training batch ``(N, ...)``; y: integer labels ``(N,)``.
        record_every: keep every ``record_every``-th iterate; step 0 and the last step are
            always kept.
        callback: called as ``callback(t, theta_t, loss_t)`` at every iterate.
        lr, steps, temperature: the settings of :class:`Descent` (learning rate
            ``> 0``, number of updates ``>= 1``, softmax temperature ``T > 0``).

    Returns:
        A :class:`Trajectory` with the recorded steps, parameters and losses.

    Raises:
        ValueError: ``record_every < 1``, and what :class:`Descent` rejects (``lr <= 0``,
            ``steps < 1``, ``temperature <= 0``).
    """
    record_every = check_int("record_every", record_every, 1)
    run = Descent(lr, steps, temperature)
    out = Trajectory(lr=run.lr, temperature=run.temperature)
    for t, theta, value in _descend(model, params, X, y, run):
        if callback is not None:
            callback(t, theta, value)
        if t % record_every == 0 or t == run.steps:
            out.steps.append(t)
            out.params.append(theta)
            out.losses.append(value)
    return out


def effective_learning_rate(eta0: float, alpha: float, degree: int) -> float:
    """Section 5's rate for an ``alpha``-scaled net of degree ``L``: ``eta0 * alpha^(2-L)``.

    The one home of this formula (the training grid uses it too). A rate too large for a
    float (``alpha`` tiny, ``L`` large) is ``inf``: such a run diverges at its first step,
    which the grid records as divergence.
    """
    eta0, alpha = check_positive("eta0", eta0), check_alpha(alpha)
    try:
        return eta0 * alpha ** (2 - int(degree))
    except OverflowError:
        return math.inf


def trajectory_equivalence(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    alpha: float,
    lr: float,
    steps: int,
    degree: int | None = None,
) -> dict:
    """Check Section 3's trajectory equivalence for one ``alpha``.

    Trains the unscaled net from ``theta_0 = params`` (rate ``eta = lr``, ``T = 1``) and the
    scaled net from ``theta'_0 = alpha * theta_0`` (rate ``alpha^2 eta``, ``T = alpha^L``) in
    lock-step and measures, at every step,

    .. math:: \\delta_t = \\frac{\\lVert \\theta'_t / \\alpha - \\theta_t \\rVert}
                               {\\lVert \\theta_t \\rVert},

    which is zero in exact arithmetic for a homogeneous net of degree ``L``. Use float64
    parameters and data: the deviation is then at the level of rounding (``~1e-15`` per
    step, slowly accumulating).

    Args:
        model: homogeneous network (not mutated).
        params: ``theta_0``.
        X, y: full training batch.
        alpha: scale ``> 0``.
        lr: base rate ``eta > 0`` of the unscaled net.
        steps: number of updates ``>= 1``.
        degree: homogeneity degree ``L`` (default ``model.degree``).

    Returns:
        ``{"alpha", "degree", "lr", "lr_scaled", "temperature_scaled", "steps"
        (0..steps), "deviation" (one per step), "max_deviation", "loss" (unscaled run),
        "loss_scaled", "max_loss_difference"}``.
    """
    a = check_alpha(alpha)
    lr = check_positive("learning rate lr", lr)
    steps = check_int("steps", steps, 1)
    L = homogeneity_degree(model) if degree is None else int(degree)
    if L < 1:
        raise ValueError(f"degree must be >= 1, got {degree!r}")
    T_scaled = a**L
    lr_scaled = a**2 * lr
    plain = gradient_descent_steps(model, params, X, y, lr=lr, steps=steps)
    scaled = gradient_descent_steps(
        model, scale_params(params, a), X, y, lr=lr_scaled, steps=steps, temperature=T_scaled
    )
    deviation, losses, losses_scaled = [], [], []
    for (_, theta, value), (_, theta_s, value_s) in zip(plain, scaled):
        flat = flatten_params(theta)
        flat_s = flatten_params(theta_s)
        deviation.append(float(torch.linalg.norm(flat_s / a - flat) / torch.linalg.norm(flat)))
        losses.append(value)
        losses_scaled.append(value_s)
    return {
        "alpha": a,
        "degree": L,
        "lr": lr,
        "lr_scaled": lr_scaled,
        "temperature_scaled": T_scaled,
        "steps": list(range(steps + 1)),
        "deviation": deviation,
        "max_deviation": max(deviation),
        "loss": losses,
        "loss_scaled": losses_scaled,
        "max_loss_difference": max(abs(u - v) for u, v in zip(losses, losses_scaled)),
    }
