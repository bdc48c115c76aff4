"""The one gradient-descent step and its three users, against plain hand-written loops.

Full-batch GD (:func:`gradient_descent`), the vmapped grid engine (:func:`train_grid`) and
chapter 05's minibatch SGD all take their steps through :func:`descent_step`. Each is
compared here with a loop written out with ``torch.autograd.grad`` and
``theta - lr * g``: the per-run users to the last bit, the engine (whose batched loss
reduction may round differently) to 1e-12.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from goldilocks_nb.chapters import bulk_and_outliers as ch05
from goldilocks_nb.functional import flatten_params, get_params, scale_params
from goldilocks_nb.training import (
    GridSpec,
    descent_step,
    gradient_descent,
    random_labels,
    train_grid,
)
from training_cases import DTYPE, splits, tiny_model


def _hand_loop(model, theta, X, y, lr, steps, *, T=1.0, batches=None, uso=False):
    """``theta <- theta - lr * grad`` written out; ``batches`` lists minibatch indices."""
    theta = {k: v.detach().clone() for k, v in theta.items()}
    losses = []
    for t in range(steps if batches is None else len(batches)):
        idx = None if batches is None else batches[t]
        Xb, yb = (X, y) if idx is None else (X[idx], y[idx])
        leaves = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
        z = functional_call(model, leaves, (Xb,))
        loss = F.cross_entropy(z / T, yb)
        if uso:  # App. E: c = 1/K - onehot(y), objective sum(c z) / (N T)
            c = 1.0 / z.shape[1] - F.one_hot(yb, z.shape[1]).to(z.dtype)
            objective = (c * z).sum() / (z.shape[0] * T)
        else:
            objective = loss
        g = torch.autograd.grad(objective, list(leaves.values()))
        losses.append(float(loss.detach()))
        theta = {k: theta[k] - lr * gk for k, gk in zip(theta, g)}
    return theta, losses


@pytest.fixture(scope="module")
def case():
    train, _ = splits()
    model = tiny_model()
    return model, get_params(model), train.X, train.y


def test_descent_step_is_one_hand_written_step(case):
    model, theta, X, y = case
    step = descent_step(model, theta, X, y, lr=0.3, temperature=1.5)
    expected, losses = _hand_loop(model, theta, X, y, 0.3, 1, T=1.5)
    assert all(torch.equal(step.params[k], expected[k]) for k in theta)
    assert float(step.loss) == losses[0]
    assert step.logits.shape == (X.shape[0], 10) and not step.logits.requires_grad
    # the direction is the loss gradient, and theta itself is untouched
    assert all(torch.equal(theta[k] - 0.3 * step.direction[k], step.params[k]) for k in theta)
    assert all(torch.equal(theta[k], get_params(model)[k]) for k in theta)


def test_full_batch_gradient_descent_is_the_hand_loop_to_the_bit(case):
    model, theta, X, y = case
    traj = gradient_descent(model, theta, X, y, lr=0.3, steps=6)
    expected, losses = _hand_loop(model, theta, X, y, 0.3, 6)
    assert all(torch.equal(traj.final[k], expected[k]) for k in theta)
    assert traj.losses[:6] == losses


def test_chapter05_sgd_is_the_hand_minibatch_loop_to_the_bit(case):
    model, theta, X, y = case
    batch, epochs, lr = 8, 2, 0.2
    out = ch05._sgd(model, theta, X, y, batch=batch, epochs=epochs, lr=lr,
                    gen=torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)  # the same sample orders, drawn the same way
    batches = []
    for _ in range(epochs):
        order = torch.randperm(X.shape[0], generator=gen)
        batches += [order[s:s + batch] for s in range(0, X.shape[0] - batch + 1, batch)]
    expected, _ = _hand_loop(model, theta, X, y, lr, 0, batches=batches)
    assert len(batches) == 2 * (X.shape[0] // batch)
    assert all(torch.equal(out[k], expected[k]) for k in theta)
    # the check is not vacuous: the parameters moved
    assert float((flatten_params(out) - flatten_params(theta)).norm()) > 1e-3


@pytest.mark.parametrize("rule, labels", [("gd", "true"), ("uso", "random-fixed")])
def test_engine_runs_are_the_hand_loop(case, rule, labels):
    """Every run of a vmapped grid is the hand loop from alpha * theta_0 with the effective
    rate eta0 * alpha^(2-L) (parameters to 1e-12; the per-run random labels of the USO
    case once crashed the vmapped step)."""
    model, theta, X, y = case
    train, _ = splits()
    steps = 4
    res = train_grid(GridSpec.of(tiny_model(), train, None, alphas=[0.5, 2.0], eta0s=[0.1, 1.0],
                                 seeds=[0], steps=steps, rule=rule, labels=labels, log_every=1,
                                 sharpness_steps=(), dtype=DTYPE, device="cpu", progress=False))
    yy = y if labels == "true" else random_labels(len(y), 10, seed=0)
    for row in res.runs.itertuples():
        assert row.lr == pytest.approx(row.eta0 * row.alpha ** (2 - 3), rel=1e-15)
        expected, losses = _hand_loop(model, scale_params(theta, row.alpha), X, yy, row.lr,
                                      steps, uso=rule == "uso")
        torch.testing.assert_close(res.params[row.run], flatten_params(expected), rtol=1e-12,
                                   atol=1e-15)
        logged = res.log[res.log.run == row.run].train_loss.tolist()[:steps]
        torch.testing.assert_close(logged, losses, rtol=1e-12, atol=0)
        assert float((flatten_params(expected) - row.alpha * flatten_params(theta)).norm()) > 0
