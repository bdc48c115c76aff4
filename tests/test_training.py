"""Tests of functional gradient descent and Section 3's trajectory equivalence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from goldilocks_nb.functional import get_params, loss
from goldilocks_nb.models import build_model
from goldilocks_nb.training import (
    Descent,
    effective_learning_rate,
    gradient_descent,
    gradient_descent_steps,
    loss_and_gradient,
    trajectory_equivalence,
)


@pytest.fixture
def problem():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(32, 1, 4, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (32,), generator=gen)
    model = build_model("mlp", seed=1, input_shape=(1, 4, 4), num_classes=3, widths=[8, 6],
                        dtype=torch.float64)
    return model, get_params(model), X, y


def test_gradient_matches_autograd(problem):
    model, params, X, y = problem
    g, value = loss_and_gradient(model, params, X, y, temperature=2.0)
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    ref = loss(model, leaves, X, y, temperature=2.0)
    ref.backward()
    assert torch.allclose(value, ref.detach())
    for k in params:
        torch.testing.assert_close(g[k], leaves[k].grad, rtol=1e-12, atol=1e-14)


def test_gradient_descent_decreases_loss(problem):
    model, params, X, y = problem
    traj = gradient_descent(model, params, X, y, lr=0.1, steps=50, record_every=10)
    assert traj.steps == [0, 10, 20, 30, 40, 50]
    assert len(traj) == 6 and len(traj.params) == 6
    assert traj.losses[-1] < 0.8 * traj.losses[0]
    assert all(b <= a + 1e-12 for a, b in zip(traj.losses, traj.losses[1:]))
    # the recorded loss is the loss at the recorded parameters
    assert traj.losses[-1] == pytest.approx(float(loss(model, traj.final, X, y)), rel=1e-12)


def test_last_step_always_recorded(problem):
    model, params, X, y = problem
    traj = gradient_descent(model, params, X, y, lr=0.05, steps=7, record_every=3)
    assert traj.steps == [0, 3, 6, 7]


def test_model_and_params_not_mutated(problem):
    model, params, X, y = problem
    before_model = {k: v.clone() for k, v in model.state_dict().items()}
    before_params = {k: v.clone() for k, v in params.items()}
    gradient_descent(model, params, X, y, lr=0.5, steps=5)
    trajectory_equivalence(model, params, X, y, alpha=3.0, lr=0.5, steps=3)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before_model[k])
    for k, v in params.items():
        assert torch.equal(v, before_params[k])


@pytest.mark.parametrize("alpha", [0.1, 0.5, 2.0, 10.0])
def test_trajectory_equivalence_float64(problem, alpha):
    model, params, X, y = problem
    out = trajectory_equivalence(model, params, X, y, alpha=alpha, lr=0.2, steps=30)
    assert out["degree"] == 3
    assert out["temperature_scaled"] == pytest.approx(alpha**3)
    assert out["lr_scaled"] == pytest.approx(alpha**2 * 0.2)
    assert len(out["deviation"]) == 31
    assert out["max_deviation"] < 1e-10
    assert out["max_loss_difference"] < 1e-10
    # the run really moved: the check is not vacuous
    assert out["loss"][-1] < out["loss"][0] - 1e-3


def test_equivalence_breaks_without_temperature(problem):
    """Control: at T = 1 the scaled net with rate alpha^2 eta does NOT follow the same path."""
    model, params, X, y = problem
    alpha = 2.0
    plain = gradient_descent(model, params, X, y, lr=0.2, steps=10)
    scaled = gradient_descent(model, {k: alpha * v for k, v in params.items()}, X, y,
                              lr=alpha**2 * 0.2, steps=10)
    a = torch.cat([v.reshape(-1) for v in plain.final.values()])
    b = torch.cat([v.reshape(-1) for v in scaled.final.values()]) / alpha
    assert float(torch.linalg.norm(a - b) / torch.linalg.norm(a)) > 1e-3


@pytest.mark.parametrize(
    "kwargs",
    [dict(alpha=0.0), dict(alpha=-1.0), dict(lr=0.0), dict(lr=-0.1), dict(steps=0),
     dict(steps=1.5)],
)
def test_trajectory_equivalence_rejects_bad_arguments(problem, kwargs):
    model, params, X, y = problem
    args = dict(alpha=2.0, lr=0.1, steps=3) | kwargs
    with pytest.raises(ValueError):
        trajectory_equivalence(model, params, X, y, **args)


@pytest.mark.parametrize(
    "kwargs",
    [dict(lr=0.0), dict(lr=float("nan")), dict(steps=0), dict(temperature=0.0),
     dict(record_every=0)],
)
def test_gradient_descent_rejects_bad_arguments(problem, kwargs):
    model, params, X, y = problem
    args = dict(lr=0.1, steps=3) | kwargs
    with pytest.raises(ValueError):
        gradient_descent(model, params, X, y, **args)


def test_steps_iterator_validates_eagerly(problem):
    model, params, X, y = problem
    with pytest.raises(ValueError):
        gradient_descent_steps(model, params, X, y, lr=-1.0, steps=3)


def test_descent_settings_have_one_home(problem):
    """Both trainers take their settings through :class:`Descent`: the same validation,
    the same errors, the same values recorded."""
    model, params, X, y = problem
    assert Descent(lr=1, steps=np.int64(3)) == Descent(lr=1.0, steps=3, temperature=1.0)
    assert isinstance(Descent(lr=1, steps=np.int64(3)).steps, int)
    for bad, name in [(dict(lr=0.0, steps=3), "lr"), (dict(lr=0.1, steps=0), "steps"),
                      (dict(lr=0.1, steps=2, temperature=-1.0), "temperature")]:
        with pytest.raises(ValueError, match=name):
            Descent(**bad)
        with pytest.raises(ValueError, match=name):
            gradient_descent(model, params, X, y, **bad)
        with pytest.raises(ValueError, match=name):
            gradient_descent_steps(model, params, X, y, **bad)
    for call in (gradient_descent, gradient_descent_steps):
        with pytest.raises(TypeError, match="rate"):
            call(model, params, X, y, lr=0.1, steps=2, rate=0.1)  # unknown keyword
        with pytest.raises(TypeError, match="steps"):
            call(model, params, X, y, lr=0.1)  # missing keyword
    traj = gradient_descent(model, params, X, y, lr=1, steps=2, temperature=2)
    assert (traj.lr, traj.temperature) == (1.0, 2.0) and traj.steps == [0, 1, 2]


def test_effective_learning_rate():
    assert effective_learning_rate(0.1, 2.0, 3) == pytest.approx(0.05)
    assert effective_learning_rate(0.1, 1.0, 5) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        effective_learning_rate(0.1, 0.0, 3)
