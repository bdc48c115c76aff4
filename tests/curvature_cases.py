"""Small seeded float64 cases shared by the curvature tests (not a conftest: plain helpers)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from goldilocks_nb.functional import Weights, get_params
from goldilocks_nb.models import build_model

DTYPE = torch.float64


@dataclass
class Case:
    """A model, its parameters and a labelled batch."""

    model: torch.nn.Module
    params: Weights
    X: torch.Tensor
    y: torch.Tensor

    @property
    def num_params(self) -> int:
        return sum(t.numel() for t in self.params.values())


def tiny_mlp(n: int = 20, seed: int = 0, *, inputs: int = 6, widths: tuple[int, ...] = (5, 4),
             classes: int = 3, balanced: bool = False) -> Case:
    """Bias-free ReLU MLP ``inputs - widths - classes`` (float64; default 6-5-4-3, ``L = 3``,
    62 weights) on ``n`` Gaussian inputs; labels drawn at random, or ``arange(n) % classes``
    with ``balanced``. The one tiny network of the tests (``conftest.tiny_net`` is one)."""
    gen = torch.Generator().manual_seed(seed)
    model = build_model(
        "mlp", seed=seed, input_shape=(inputs,), widths=list(widths), num_classes=classes,
        dtype=DTYPE,
    )
    X = torch.randn(n, inputs, generator=gen, dtype=DTYPE)
    y = (torch.arange(n) % classes if balanced
         else torch.randint(0, classes, (n,), generator=gen))
    return Case(model, get_params(model), X, y)


def lenet(name: str, n: int = 32, seed: int = 0) -> Case:
    """LeNet-300-100 on 784-dim or LeNet-5 on 3x32x32 Gaussian inputs, 10 classes."""
    gen = torch.Generator().manual_seed(seed)
    shape = (784,) if name == "lenet-300-100" else (3, 32, 32)
    model = build_model(name, seed=seed, input_shape=shape, dtype=DTYPE)
    X = torch.randn(n, *shape, generator=gen, dtype=DTYPE)
    y = torch.randint(0, 10, (n,), generator=gen)
    return Case(model, get_params(model), X, y)


class Exploding(torch.nn.Module):
    """A model whose forward raises: validation must happen before any computation."""

    def __init__(self, n_in: int = 6, n_out: int = 3) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(n_in, n_out, bias=False, dtype=DTYPE)
        self.degree = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("forward was called before input validation")


class Opaque(torch.nn.Module):
    """Wraps a model and hides its ``relu_chain()`` declaration.

    The engine then takes its generic ``torch.func`` route (vmapped ``jvp`` / ``vjp``)
    instead of the closed-form ReLU chain, so the two routes can be tested separately.
    Parameter names gain the prefix ``inner.``; their order and values are unchanged.
    """

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.degree = getattr(inner, "degree", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def opaque(case: Case) -> Case:
    """The same case through :class:`Opaque` (generic autodiff route)."""
    wrapped = Opaque(case.model)
    return Case(wrapped, get_params(wrapped), case.X, case.y)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative Frobenius distance ``||a - b|| / ||b||``."""
    return float((a - b).norm() / b.norm())
