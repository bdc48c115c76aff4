"""Agreement with curvlinops on LeNet-300-100 and real (embedded) Fashion-MNIST images."""

from __future__ import annotations

import pytest
import torch

from curvature_cases import DTYPE, rel
from goldilocks_nb.curvature import gauss_newton_split, random_subspace
from goldilocks_nb.functional import get_params
from goldilocks_nb.models import build_model

curvlinops = pytest.importorskip("curvlinops")


def _embedded():
    from goldilocks_nb import data

    try:
        return data.load_dataset("fashion-mnist-embedded", n=256, dtype=DTYPE)
    except Exception as exc:  # the committed subset is missing or unreadable
        pytest.skip(f"embedded Fashion-MNIST subset unavailable: {exc}")


def test_hessian_and_ggn_agree_with_curvlinops():
    ds = _embedded()
    X, y = ds.X.reshape(len(ds.y), -1), ds.y
    model = build_model("lenet-300-100", seed=0, input_shape=(784,), dtype=DTYPE)
    params = get_params(model)
    R = random_subspace(sum(t.numel() for t in params.values()), 8, seed=0)
    G, Ht = gauss_newton_split(model, params, X, y, R)
    plist = [p for p in model.parameters() if p.requires_grad]
    loss_func = torch.nn.CrossEntropyLoss(reduction="mean")
    data = [(X, y)]
    Hop = curvlinops.HessianLinearOperator(model, loss_func, plist, data)
    Gop = curvlinops.GGNLinearOperator(model, loss_func, plist, data)
    assert rel(R.T @ (Hop @ R), G + Ht) < 1e-8
    assert rel(R.T @ (Gop @ R), G) < 1e-8
