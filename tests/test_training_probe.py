"""The linear probe on penultimate features (Fig. 12 left)."""

from __future__ import annotations

import pytest
import torch

from goldilocks_nb.functional import get_params
from goldilocks_nb.training import linear_probe, penultimate_features
from training_cases import splits, tiny_model


def test_penultimate_features_are_the_last_hidden_layer():
    train, _ = splits()
    model = tiny_model()
    p = get_params(model)
    X = train.X.flatten(1)
    h = torch.relu(torch.relu(X @ p["layers.0.weight"].T) @ p["layers.1.weight"].T)
    torch.testing.assert_close(penultimate_features(model, p, train.X), h)
    torch.testing.assert_close(penultimate_features(model, p, train.X, batch_size=7), h)
    with pytest.raises(ValueError, match="unknown layer"):
        penultimate_features(model, p, train.X, layer="fc9")


def test_probe_is_deterministic_converges_and_leaves_the_model_alone():
    train, test = splits()
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    p = get_params(model)
    a = linear_probe(model, p, train, test, seed=3)
    b = linear_probe(model, p, train, test, seed=3)
    assert a == b
    assert a.converged and a.grad_norm <= 1e-6 and a.num_features == 5
    assert 0.0 <= a.test_accuracy <= 1.0 and a.train_accuracy > 0.1
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # features that separate the classes perfectly give a perfect probe
    X = torch.eye(10, dtype=torch.float64).repeat(3, 1)[:, :, None, None]
    y = torch.arange(10).repeat(3)

    class Identity(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.out = torch.nn.Linear(10, 10, bias=False)

        def forward(self, x):
            return self.out(x.flatten(1))

    ident = Identity().double()
    res = linear_probe(ident, dict(ident.named_parameters()), (X, y), (X, y), l2=1e-3)
    assert res.train_accuracy == 1.0 and res.test_accuracy == 1.0


def test_probe_rejects_bad_settings():
    train, test = splits()
    model = tiny_model()
    p = get_params(model)
    with pytest.raises(ValueError, match="seed"):
        linear_probe(model, p, train, test, seed=1.5)
    with pytest.raises(ValueError, match="l2"):
        linear_probe(model, p, train, test, l2=0.0)
    with pytest.raises(ValueError, match="train must be"):
        linear_probe(model, p, train.X, test)
