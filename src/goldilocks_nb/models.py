"""Bias-free ReLU networks: positively homogeneous models of a known degree.

A network :math:`f_\\theta` is homogeneous of degree :math:`L` when

.. math:: f_{\\alpha\\theta}(x) = \\alpha^L f_\\theta(x) \\quad \\text{for all } \\alpha > 0,

which holds for ReLU networks without biases, where :math:`L` is the number of layers
with weights (average pooling is linear and parameter-free, so it adds nothing).
Every model here exposes that degree as ``model.degree``.

Models follow the paper's setting (Section 2 and the authors' code): LeNet-300-100
(784-300-100-10, ``L = 3``) and LeNet-5 (conv 5x5x6, avgpool 2, conv 5x5x16, avgpool 2,
fc 120, fc 84, fc 10; ``L = 5``), all bias-free, Kaiming-normal initialised from a seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .contract import ParameterError

__all__ = [
    "MLP",
    "LeNet300100",
    "LeNet5",
    "MODEL_NAMES",
    "build_model",
    "check_subspace_dimension",
    "homogeneity_degree",
    "kaiming_normal_init",
    "num_parameters",
]


class MLP(nn.Module):
    """Bias-free ReLU multilayer perceptron ``widths[0] -> ... -> widths[-1]``.

    Inputs of any shape ``(N, *)`` are flattened. Homogeneous of degree
    ``len(widths) - 1``.
    """

    def __init__(self, widths: Sequence[int]) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"MLP needs at least two positive widths, got {widths}")
        self.widths = widths
        self.layers = nn.ModuleList(
            nn.Linear(a, b, bias=False) for a, b in zip(widths[:-1], widths[1:])
        )
        self.degree = len(self.layers)

    def relu_chain(self) -> tuple[str, ...]:
        """Names of the weights of ``x.flatten(1) -> W_1 -> ReLU -> ... -> W_L``.

        Declares that ``forward`` is exactly this bias-free ReLU chain, which lets the
        curvature engine propagate directions layer by layer in closed form
        (:mod:`goldilocks_nb.curvature.relu_chain`). The engine checks the declaration
        against ``forward`` on two samples; a subclass that changes ``forward`` must
        override this method too (or set ``relu_chain = None``).
        """
        return tuple(f"layers.{i}.weight" for i in range(len(self.layers)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


class LeNet300100(MLP):
    """LeNet-300-100: bias-free 784-300-100-10 ReLU MLP (``L = 3``, 266,200 weights)."""

    def __init__(self, in_features: int = 784, num_classes: int = 10) -> None:
        super().__init__([in_features, 300, 100, num_classes])


class LeNet5(nn.Module):
    """LeNet-5 as in the paper's code: bias-free, ReLU, average pooling (``L = 5``).

    conv 5x5 (6 ch) - ReLU - avgpool 2 - conv 5x5 (16 ch) - ReLU - avgpool 2 -
    fc 120 - ReLU - fc 84 - ReLU - fc ``num_classes``. On 3x32x32 inputs it has
    61,770 weights (the paper's text says 61,170; see the book's setting chapter).
    """

    def __init__(self, in_channels: int = 3, image_size: int = 32, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5, bias=False)
        self.conv2 = nn.Conv2d(6, 16, 5, bias=False)
        side = ((image_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"LeNet-5 needs images of side >= 12, got {image_size}")
        self.fc1 = nn.Linear(16 * side * side, 120, bias=False)
        self.fc2 = nn.Linear(120, 84, bias=False)
        self.fc3 = nn.Linear(84, num_classes, bias=False)
        self.degree = 5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.avg_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.avg_pool2d(torch.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


MODEL_NAMES = ("lenet-300-100", "lenet-5", "mlp")


def kaiming_normal_init(model: nn.Module, seed: int) -> nn.Module:
    """Kaiming-normal (fan-in, ReLU gain) initialisation of every weight, from ``seed``.

    Each weight ``W`` gets ``sqrt(2 / fan_in) * Z`` with ``Z`` standard normal and
    ``fan_in = W[0].numel()`` (He et al., 2015; torch's ``kaiming_normal_`` with
    ``nonlinearity="relu"``). ``Z`` is drawn in float64 by NumPy's PCG64 generator
    (``numpy.random.default_rng(seed)``), parameter after parameter, whose output does not
    depend on vectorised kernels: the same seed gives bit-identical weights on every CPU
    code path (torch's ``normal_`` does not: under ``ATEN_CPU_CAPABILITY=default`` it draws
    other values). The global RNGs are left untouched.
    Returns ``model`` (initialised in place: call it on a model you just built).

    Raises:
        ValueError: for a parameter with fewer than 2 dimensions (no fan-in; the
            package's models are bias-free).
    """
    rng = np.random.default_rng(int(seed))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() < 2:
                raise ValueError(f"kaiming_normal_init: parameter {name!r} has shape "
                                 f"{tuple(p.shape)}; fan-in needs >= 2 dimensions")
            std = math.sqrt(2.0 / p[0].numel())
            z = rng.standard_normal(tuple(p.shape))
            p.copy_(torch.from_numpy(z * std).to(dtype=p.dtype, device=p.device))
    return model


def build_model(
    name: str,
    *,
    seed: int = 0,
    input_shape: Sequence[int] | None = None,
    num_classes: int = 10,
    widths: Sequence[int] | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Build a Kaiming-initialised model by name.

    Args:
        name: ``"lenet-300-100"``, ``"lenet-5"`` or ``"mlp"``.
        seed: initialisation seed.
        input_shape: shape of one input, e.g. ``(1, 28, 28)`` or ``(3, 32, 32)``.
        num_classes: number of logits ``K``.
        widths: hidden widths of ``"mlp"`` (input and output widths are added).
        dtype, device: where the parameters live.
    """
    key = name.lower().replace("_", "-")
    if key not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    if key == "lenet-300-100":
        in_features = 784 if input_shape is None else int(torch.tensor(input_shape).prod())
        model: nn.Module = LeNet300100(in_features, num_classes)
    elif key == "lenet-5":
        c, h = (3, 32) if input_shape is None else (int(input_shape[0]), int(input_shape[-1]))
        model = LeNet5(c, h, num_classes)
    else:
        if input_shape is None:
            raise ValueError("model 'mlp' needs input_shape")
        in_features = int(torch.tensor(input_shape).prod())
        model = MLP([in_features, *(widths or [32, 16]), num_classes])
    return kaiming_normal_init(model.to(dtype=dtype, device=device), seed)


def homogeneity_degree(model: nn.Module) -> int:
    """The degree ``L`` of a model of this package (``model.degree``)."""
    degree = getattr(model, "degree", None)
    if degree is None:
        raise ValueError(
            f"{type(model).__name__} does not declare a homogeneity degree; pass it explicitly"
        )
    return int(degree)


def num_parameters(model: nn.Module) -> int:
    """Number of trainable scalars ``P``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def check_subspace_dimension(name: str, value: int, num_params: int, model: str) -> int:
    """A subspace dimension ``1 <= d <= P`` of ``model`` (the one check of the book's
    chapters and :mod:`goldilocks_nb.random_logit`; the curvature engine validates its own
    inputs once, in ``curvature._checks.prepare``).

    Args:
        name: the parameter's name (``"d"``, ``"check_d"``, ...), used in the message.
        value: its value.
        num_params: ``P`` of ``model``.
        model: the model's name, used in the message.

    Returns:
        ``value`` as an ``int``.

    Raises:
        ParameterError: naming the parameter, its value, what is allowed, the model and its
            ``P``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) \
            or int(value) != value:
        raise ParameterError(f"parameter {name!r} = {value!r}: must be an integer "
                             f"subspace dimension")
    if value < 1:
        raise ParameterError(f"parameter {name!r} = {value!r}: must be >= 1")
    if value > num_params:
        raise ParameterError(f"parameter {name!r} = {value!r}: must be <= the number of "
                             f"parameters P = {num_params} of {model}")
    return int(value)
