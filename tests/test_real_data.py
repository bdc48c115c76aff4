"""The full real datasets, read through the documented data root ($GOLDILOCKS_DATA).

Skipped when no data root is set (a machine without the datasets); CI sets it.
"""

import os

import pytest
import torch

from goldilocks_nb.data import DATA_ENV, load_dataset

pytestmark = pytest.mark.skipif(
    not os.environ.get(DATA_ENV), reason=f"${DATA_ENV} is not set: no full datasets here"
)


def test_fashion_mnist_full():
    train = load_dataset("fashion-mnist", "train")
    test = load_dataset("fashion-mnist", "test")
    assert train.X.shape == (60_000, 1, 28, 28) and test.X.shape == (10_000, 1, 28, 28)
    assert torch.bincount(train.y).tolist() == [6000] * 10
    # standardised with the paper's constants: mean ~0, std ~1 on the training set
    assert abs(train.X.mean().item()) < 1e-2 and abs(train.X.std().item() - 1) < 1e-2
    assert train.source.startswith("Fashion-MNIST")


def test_cifar10_full():
    train = load_dataset("cifar10", "train")
    test = load_dataset("cifar10", "test", n=1000, seed=0)
    assert train.X.shape == (50_000, 3, 32, 32) and test.X.shape == (1000, 3, 32, 32)
    assert torch.bincount(train.y).tolist() == [5000] * 10
    per_channel = train.X.mean(dim=(0, 2, 3))
    assert per_channel.abs().max() < 2e-2
    assert "CIFAR-10" in train.source
