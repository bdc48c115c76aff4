"""Update rules and label schemes of Section 5 and Appendix E.

For the mean cross-entropy at temperature ``T``, Eq. 3 gives the gradient as a
combination of logit gradients,

.. math:: \\nabla_\\theta \\ell = \\frac{1}{N T} \\sum_\\mu \\sum_k
          \\bigl(\\sigma_T(z^\\mu)_k - 1\\{y^\\mu = k\\}\\bigr)\\, \\nabla_\\theta z^\\mu_k.

- ``"gd"``: plain full-batch gradient descent along :math:`-\\nabla_\\theta\\ell`.
- ``"uso"``: the *uniform softmax output* model of App. E (Fig. 11): the coefficients are
  replaced by :math:`c_{\\mu k} = 1/K - 1\\{y^\\mu = k\\}` whatever the softmax says, i.e.
  the update direction is the gradient of the surrogate
  :math:`s(\\theta) = \\frac{1}{NT}\\sum_{\\mu,k} c_{\\mu k} z^\\mu_k(\\theta)` with ``c``
  held constant. It equals the cross-entropy gradient exactly when the softmax output is
  uniform, so an ``alpha``-scaled net with uniform output follows the USO path.

Labels (C22): the true labels; random labels drawn once per run (``"random-fixed"``,
memorisable); or random labels redrawn at every step (``"random-redrawn"``, where the best
the net can do is a uniform output). Random labels are i.i.d. uniform over the ``K``
classes, drawn from a private generator whose seed is derived from the run's seed (and
the step, when redrawn), so a resumed run sees the same labels.

Restarts (Fig. 11 right): :func:`restart_params` rescales a parameter vector to the norm
of a reference, ``||theta_0|| theta_t / ||theta_t||``.
"""

from __future__ import annotations

import hashlib

import torch

from ..functional import Weights, flatten_params

__all__ = [
    "LABEL_MODES",
    "RULES",
    "random_labels",
    "restart_params",
    "update_objective",
    "uso_coefficients",
]

RULES = ("gd", "uso")
LABEL_MODES = ("true", "random-fixed", "random-redrawn")


def uso_coefficients(y: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """The USO model's logit-gradient coefficients ``1/K - 1{y = k}`` (App. E), ``(N, K)``."""
    # a comparison, not one_hot: one_hot reads its input's values, which vmap (per-run
    # random labels in the engine) does not allow
    onehot = (y[..., None] == torch.arange(num_classes, device=y.device)).to(dtype)
    return 1.0 / num_classes - onehot


def update_objective(
    z: torch.Tensor,
    y: torch.Tensor,
    *,
    rule: str,
    temperature: float,
    num_classes: int | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The scalar whose gradient is the update direction, and the cross-entropy loss.

    Args:
        z: logits ``(N, K)`` of one run, still attached to the parameters.
        y: labels ``(N,)``.
        rule: ``"gd"`` (the cross-entropy itself) or ``"uso"`` (the surrogate
            ``sum(c * z) / (N T)`` with ``c = 1/K - 1{y=k}`` held constant, App. E).
        temperature: softmax temperature ``T``.
        num_classes: ``K``.

    Returns:
        ``(objective, loss)``; ``loss`` is the cross-entropy at ``T`` in both cases.
    """
    loss = torch.nn.functional.cross_entropy(z / temperature, y)
    if rule == "gd":
        return loss, loss
    if rule == "uso":
        c = uso_coefficients(y, num_classes, z.dtype)
        return (c * z).sum() / (z.shape[0] * temperature), loss
    raise ValueError(f"unknown update rule {rule!r}; choose one of {', '.join(RULES)}")


def _label_seed(seed: int, step: int | None) -> int:
    tag = f"goldilocks-random-labels/{int(seed)}/{'fixed' if step is None else int(step)}"
    return int(hashlib.sha256(tag.encode()).hexdigest()[:15], 16)


def random_labels(
    n: int, num_classes: int, seed: int, step: int | None = None
) -> torch.Tensor:
    """``n`` i.i.d. uniform labels in ``[0, K)`` from a private generator (CPU, int64).

    ``step=None`` gives the run's fixed random labelling; an integer step gives the
    labelling redrawn at that step. The global RNG is not touched.
    """
    gen = torch.Generator().manual_seed(_label_seed(seed, step))
    return torch.randint(0, int(num_classes), (int(n),), generator=gen)


def restart_params(theta_t: Weights, theta_0: Weights) -> Weights:
    """``||theta_0|| * theta_t / ||theta_t||``: ``theta_t``'s direction at ``theta_0``'s norm.

    Fig. 11 right restarts training from the USO model's current direction rescaled to the
    norm of the original Kaiming initialisation. New tensors; the inputs are untouched.

    Raises:
        ValueError: different parameter names/shapes, or ``theta_t`` is zero or not finite.
    """
    if list(theta_t) != list(theta_0) or any(
        theta_t[k].shape != theta_0[k].shape for k in theta_t
    ):
        raise ValueError("theta_t and theta_0 must have the same parameter names and shapes")
    flat_t = flatten_params(theta_t)
    norm_t = torch.linalg.vector_norm(flat_t)
    if not torch.isfinite(norm_t) or norm_t == 0:
        raise ValueError(f"cannot rescale theta_t of norm {float(norm_t)}")
    scale = torch.linalg.vector_norm(flatten_params(theta_0)).to(flat_t.dtype) / norm_t
    return {k: v.detach() * scale for k, v in theta_t.items()}
