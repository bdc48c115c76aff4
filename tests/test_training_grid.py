"""Batched grid training: equality with single runs, divergence, logged quantities (Sec. 5)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from goldilocks_nb.curvature.reference import dense_hessian
from goldilocks_nb.functional import get_params, logits, scale_params
from goldilocks_nb.models import build_model
from goldilocks_nb.training import GridSpec, gradient_descent, train_grid
from goldilocks_nb.training.metrics import (
    cosine,
    mean_entropy,
    zero_logit_fraction,
    zero_logit_sample_fraction,
)
from training_cases import DTYPE, GRID, splits, tiny_model

STEPS = 4


@pytest.fixture(scope="module")
def grid():
    train, test = splits()
    return train_grid(GridSpec.of(tiny_model(), train, test, **GRID, steps=STEPS, log_every=1,
                                  sharpness_steps=(), dtype=DTYPE, device="cpu", progress=False))


def test_batched_grid_equals_single_gradient_descent_runs(grid):
    """Every run of the batched grid equals its own functional GD run (1e-12 relative)."""
    train, _ = splits()
    assert len(grid.runs) == 8 and len(grid.log) == 8 * (STEPS + 1)
    for row in grid.runs.itertuples():
        model = tiny_model(seed=row.seed)
        start = scale_params(get_params(model), row.alpha)
        assert row.lr == pytest.approx(row.eta0 * row.alpha ** (2 - 3), rel=1e-15)
        traj = gradient_descent(model, start, train.X, train.y, lr=row.lr, steps=STEPS)
        log = grid.log[grid.log.run == row.run]
        assert log.step.tolist() == list(range(STEPS + 1))
        torch.testing.assert_close(torch.tensor(log.train_loss.tolist(), dtype=DTYPE),
                                   torch.tensor(traj.losses, dtype=DTYPE), rtol=1e-12, atol=0)
        final = torch.cat([t.reshape(-1) for t in traj.final.values()])
        torch.testing.assert_close(grid.params[row.run], final, rtol=1e-12, atol=1e-15)


def test_chunking_and_single_configurations_give_the_same_logs(grid):
    train, test = splits()
    chunked = train_grid(GridSpec.of(tiny_model(), train, test, **GRID, steps=STEPS,
                                     sharpness_steps=(), dtype=DTYPE, device="cpu", chunk_size=3,
                                     progress=False))
    pd.testing.assert_frame_equal(chunked.log, grid.log, check_exact=False, rtol=1e-12)
    one = train_grid(GridSpec.of(tiny_model(), train, test, alphas=[2.0], eta0s=[1.0], seeds=[1],
                                 steps=STEPS, sharpness_steps=(), dtype=DTYPE, device="cpu",
                                 progress=False))
    ref = grid.log[(grid.log.alpha == 2.0) & (grid.log.eta0 == 1.0) & (grid.log.seed == 1)]
    cols = [c for c in ref.columns if c != "run"]
    pd.testing.assert_frame_equal(one.log[cols].reset_index(drop=True),
                                  ref[cols].reset_index(drop=True), check_exact=False,
                                  rtol=1e-12)


def test_logged_quantities_match_their_definitions(grid):
    train, test = splits()
    row = grid.log[(grid.log.run == 5) & (grid.log.step == 0)].iloc[0]
    model = tiny_model(seed=int(row.seed))
    theta = scale_params(get_params(model), row.alpha)
    flat = torch.cat([t.reshape(-1) for t in theta.values()])
    assert row.param_norm == pytest.approx(float(flat.norm()), rel=1e-12)
    assert row.cos_theta0 == pytest.approx(1.0, rel=1e-12)
    z = logits(model, theta, train.X)
    assert row.train_acc == pytest.approx(float((z.argmax(1) == train.y).double().mean()))
    assert row.entropy == pytest.approx(float(mean_entropy(z[None])[0]), rel=1e-12)
    zt = logits(model, theta, test.X)
    assert row.test_loss == pytest.approx(
        float(torch.nn.functional.cross_entropy(zt, test.y)), rel=1e-12)
    assert row.test_acc == pytest.approx(float((zt.argmax(1) == test.y).double().mean()))
    assert math.isnan(row.sharpness) and not row.diverged
    # the gradient norm / alignment at step 0 from one autograd gradient
    leaves = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
    torch.nn.functional.cross_entropy(logits(model, leaves, train.X), train.y).backward()
    g = torch.cat([v.grad.reshape(-1) for v in leaves.values()])
    assert row.grad_norm == pytest.approx(float(g.norm()), rel=1e-10)
    assert row.cos_neg_grad == pytest.approx(float(cosine(flat[None], -g[None])[0]), rel=1e-9)
    assert grid.meta["data_source"] == f"{train.source}; test: {test.source}"


def test_zero_logit_statistics():
    z = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, -2.0]]])
    assert zero_logit_sample_fraction(z).item() == 0.5
    assert zero_logit_fraction(z).item() == pytest.approx(4 / 6)
    # a net whose last layer is zero outputs zero logits on every sample: uniform softmax
    train, _ = splits()
    model = tiny_model()
    theta = get_params(model)
    theta["layers.2.weight"] = torch.zeros_like(theta["layers.2.weight"])
    res = train_grid(GridSpec.of(model, train, None, alphas=[1.0], eta0s=[0.1], steps=1,
                                 sharpness_steps=(), init_params=[theta], dtype=DTYPE, device="cpu",
                                 progress=False))
    first = res.log.iloc[0]
    assert first.zero_logit_samples == 1.0 and first.zero_logits == 1.0
    assert first.train_loss == pytest.approx(math.log(10), rel=1e-12)
    assert first.entropy == pytest.approx(math.log(10), rel=1e-12)
    assert math.isnan(first.test_loss)


def test_diverging_runs_stop_without_disturbing_the_others(grid):
    train, test = splits()
    res = train_grid(GridSpec.of(tiny_model(), train, test, alphas=[0.5, 2.0],
                                 eta0s=[0.1, 1.0, 1e200], seeds=[0, 1], steps=STEPS,
                                 sharpness_steps=(), dtype=DTYPE, device="cpu", progress=False))
    runs = res.runs.set_index(["alpha", "eta0", "seed"])
    assert runs.loc[(0.5, 1e200), "diverged"].all()  # parameters overflow to inf at step 1
    for _, run in runs.loc[(0.5, 1e200), :].iterrows():
        log = res.log[res.log.run == run.run]
        assert log.step.max() == run.diverged_step < STEPS
        assert log.iloc[-1].diverged and not log.iloc[:-1].diverged.any()
    assert not runs.loc[(slice(None), [0.1, 1.0]), "diverged"].any()
    kept = res.log[res.log.eta0 != 1e200].drop(columns="run").reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, grid.log.drop(columns="run"), check_exact=False,
                                  rtol=1e-12)


def test_sharpness_at_step_zero_is_the_hessian_spectral_norm():
    gen = torch.Generator().manual_seed(3)
    model = build_model("mlp", seed=0, input_shape=(6,), widths=[5, 4], num_classes=3,
                        dtype=DTYPE)
    X = torch.randn(20, 6, generator=gen, dtype=DTYPE)
    y = torch.randint(0, 3, (20,), generator=gen)
    res = train_grid(GridSpec.of(model, (X, y), None, alphas=[0.7, 1.5], eta0s=[0.1], steps=2,
                                 sharpness_steps=(0, 2), sharpness_tol=1e-10, dtype=DTYPE,
                                 device="cpu", progress=False))
    at0 = res.log[res.log.step == 0]
    for row in at0.itertuples():
        theta = scale_params(get_params(model), row.alpha)
        H = dense_hessian(model, theta, X, y)
        expected = float(torch.linalg.eigvalsh(H).abs().max())
        assert row.sharpness == pytest.approx(expected, rel=1e-8)
        assert row.lr_sharpness == pytest.approx(row.lr * expected, rel=1e-8)
    assert res.log[res.log.step == 2].sharpness.notna().all()
    assert res.log[res.log.step == 1].sharpness.isna().all()
