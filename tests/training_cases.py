"""Small seeded problems shared by the training tests (plain helpers, not a conftest)."""

from __future__ import annotations

import functools

import torch

from goldilocks_nb.data import load_dataset
from goldilocks_nb.models import build_model

DTYPE = torch.float64
WIDTHS = [6, 5]


@functools.cache
def splits(n_train: int = 40, n_test: int = 20):
    """Class-balanced embedded Fashion-MNIST subsets (float64)."""
    train = load_dataset("fashion-mnist-embedded", "train", n=n_train, dtype=DTYPE)
    test = load_dataset("fashion-mnist-embedded", "test", n=n_test, dtype=DTYPE)
    return train, test


def tiny_model(seed: int = 0, dtype: torch.dtype = DTYPE) -> torch.nn.Module:
    """Bias-free MLP 784-6-5-10 (L = 3, 4,784 weights), Kaiming from ``seed``."""
    return build_model("mlp", seed=seed, input_shape=(1, 28, 28), widths=WIDTHS, dtype=dtype)


GRID = dict(alphas=[0.5, 2.0], eta0s=[0.1, 1.0], seeds=[0, 1])
