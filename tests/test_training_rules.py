"""Update rules of Section 5 / App. E: the USO model, random labels, restarts."""

from __future__ import annotations

import math

import pytest
import torch

from goldilocks_nb.curvature.reference import dense_jacobian
from goldilocks_nb.functional import flatten_params, get_params, scale_params
from goldilocks_nb.training import (
    GridSpec,
    gradient_descent,
    random_labels,
    restart_params,
    train_grid,
    update_objective,
)
from training_cases import DTYPE, splits, tiny_model


def test_uso_direction_combines_logit_gradients_with_uniform_coefficients():
    """grad of the USO surrogate = J^T (1/K - onehot(y)) / (N T) (App. E, Eq. 3)."""
    train, _ = splits()
    model = tiny_model()
    X, y = train.X[:12], train.y[:12]
    theta = get_params(model)
    T, K = 1.7, 10
    leaves = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
    z = torch.func.functional_call(model, leaves, (X,))
    obj, loss = update_objective(z, y, rule="uso", temperature=T, num_classes=K)
    obj.backward()
    g = torch.cat([v.grad.reshape(-1) for v in leaves.values()])
    J = dense_jacobian(model, theta, X).reshape(-1, g.numel())  # (N*K, P), sample-major
    c = (1.0 / K - torch.nn.functional.one_hot(y, K).to(DTYPE)).reshape(-1)
    torch.testing.assert_close(g, J.T @ c / (X.shape[0] * T), rtol=1e-12, atol=1e-14)
    assert float(loss.detach()) == pytest.approx(
        float(torch.nn.functional.cross_entropy(z.detach() / T, y)), rel=1e-14)


def test_small_alpha_gradient_descent_follows_the_uso_path():
    """While the softmax is uniform, GD of the alpha-scaled net divided by alpha is the USO
    model at alpha = 1 with rate eta0 (App. E, Fig. 11 left)."""
    train, _ = splits()
    kw = dict(eta0s=[0.05], seeds=[0], steps=3, sharpness_steps=(), dtype=DTYPE,
              device="cpu", progress=False)
    alpha = 1e-4
    gd = train_grid(GridSpec.of(tiny_model(), train, None, alphas=[alpha], **kw))
    uso = train_grid(GridSpec.of(tiny_model(), train, None, alphas=[1.0], rule="uso", **kw))
    torch.testing.assert_close(gd.params[0] / alpha, uso.params[0], rtol=1e-6, atol=0)
    assert gd.log.entropy.min() == pytest.approx(math.log(10), rel=1e-6)
    # the USO model never leaves the uniform regime by itself: its loss is still logged
    assert uso.log.train_loss.notna().all()


def test_fixed_random_labels_are_gradient_descent_on_those_labels():
    train, _ = splits()
    model = tiny_model(seed=1)
    res = train_grid(GridSpec.of(model, train, None, alphas=[1.0], eta0s=[0.3], seeds=[1], steps=3,
                                 labels="random-fixed", sharpness_steps=(), dtype=DTYPE,
                                 device="cpu", progress=False))
    labels = random_labels(len(train), 10, seed=1)
    assert not torch.equal(labels, train.y)
    traj = gradient_descent(model, get_params(model), train.X, labels, lr=0.3, steps=3)
    torch.testing.assert_close(res.log.train_loss.tolist(), traj.losses, rtol=1e-12, atol=0)
    torch.testing.assert_close(res.params[0], flatten_params(traj.final), rtol=1e-12,
                               atol=1e-15)


def test_redrawn_random_labels_change_every_step():
    train, _ = splits()
    model = tiny_model()
    n = len(train)
    draws = [random_labels(n, 10, seed=0, step=t) for t in range(3)]
    assert not torch.equal(draws[0], draws[1]) and not torch.equal(draws[1], draws[2])
    assert torch.equal(draws[1], random_labels(n, 10, seed=0, step=1))  # reproducible
    res = train_grid(GridSpec.of(model, train, None, alphas=[1.0], eta0s=[0.3], steps=2,
                                 labels="random-redrawn", sharpness_steps=(), dtype=DTYPE,
                                 device="cpu", progress=False))
    theta = get_params(model)
    for t in range(2):  # one GD step on that step's labels
        step = gradient_descent(model, theta, train.X, draws[t], lr=0.3, steps=1)
        assert res.log.train_loss.iloc[t] == pytest.approx(step.losses[0], rel=1e-12)
        theta = step.final
    torch.testing.assert_close(res.params[0], flatten_params(theta), rtol=1e-12, atol=1e-15)


def test_restart_rescales_a_direction_to_the_initial_norm():
    model = tiny_model()
    theta0 = get_params(model)
    gen = torch.Generator().manual_seed(5)
    theta_t = {k: 40 * torch.randn(v.shape, generator=gen, dtype=DTYPE) for k, v in
               theta0.items()}
    before = {k: v.clone() for k, v in theta_t.items()}
    out = restart_params(theta_t, theta0)
    assert all(torch.equal(before[k], theta_t[k]) for k in theta_t)  # inputs untouched
    flat, ref = flatten_params(out), flatten_params(theta_t)
    assert float(flat.norm()) == pytest.approx(float(flatten_params(theta0).norm()), rel=1e-12)
    assert float(flat @ ref / (flat.norm() * ref.norm())) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="rescale"):
        restart_params({k: torch.zeros_like(v) for k, v in theta0.items()}, theta0)
    # a grid restarted from theta_t starts at alpha * ||theta_0|| along theta_t
    train, _ = splits()
    res = train_grid(GridSpec.of(model, train, None, alphas=[1.0, 3.0], eta0s=[0.1], steps=1,
                                 restart_from=[theta_t], sharpness_steps=(), dtype=DTYPE,
                                 device="cpu", progress=False))
    first = res.log[res.log.step == 0].set_index("alpha")
    for alpha in (1.0, 3.0):
        assert first.loc[alpha, "param_norm"] == pytest.approx(
            alpha * float(flatten_params(theta0).norm()), rel=1e-12)
    start = scale_params(out, 3.0)
    direct = train_grid(GridSpec.of(model, train, None, alphas=[3.0], eta0s=[0.1], steps=1,
                                    init_params=[out], sharpness_steps=(), dtype=DTYPE,
                                    device="cpu", progress=False))
    assert float(flatten_params(start).norm()) == pytest.approx(
        direct.log.param_norm.iloc[0], rel=1e-12)
    torch.testing.assert_close(res.params[1], direct.params[0], rtol=1e-12, atol=0)


def test_kaiming_theta0_is_the_point_every_grid_starts_from():
    """The one home of a grid's Kaiming draw: the same flat theta_0 as make_problem's, per
    seed, and the caller's model untouched."""
    from goldilocks_nb.training import GridSpec, kaiming_theta0, make_problem

    model = tiny_model()
    before = flatten_params(get_params(model)).clone()
    train, test = splits()
    problem, _ = make_problem(GridSpec.of(
        model, train, test, alphas=[1.0], eta0s=[0.1], seeds=[3, 4], steps=2,
        temperature=1.0, rule="gd", labels="true", degree=None, log_every=1,
        sharpness_steps=(), checkpoint_every=2, dtype=DTYPE, sharpness_tol=1e-6,
        init_params=None, restart_from=None))
    for i, seed in enumerate([3, 4]):
        assert torch.equal(flatten_params(kaiming_theta0(model, seed, DTYPE)),
                           problem.theta0[i])
    assert not torch.equal(problem.theta0[0], problem.theta0[1])
    assert torch.equal(flatten_params(get_params(model)), before)
