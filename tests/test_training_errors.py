"""Bad input to the training engine fails before training, and loses nothing cached."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from goldilocks_nb.training import GridSpec, train_grid
from training_cases import DTYPE, splits, tiny_model

KW = dict(alphas=[1.0], eta0s=[0.1], seeds=[0], steps=2, sharpness_steps=(), dtype=DTYPE,
          device="cpu", progress=False)


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    """A cache folder holding one finished run, and that run's file bytes."""
    folder = tmp_path_factory.mktemp("cache")
    train, test = splits()
    res = train_grid(GridSpec.of(tiny_model(), train, test, cache_dir=folder, **KW))
    files = {p: p.read_bytes() for p in (folder / "training").iterdir()}
    assert len(files) == 1 and res.runs.computed_steps.tolist() == [3]
    return folder, files


def _other_classes(test):
    return SimpleNamespace(X=test.X, y=test.y % 5, num_classes=5, source="five classes")


BAD = {
    "alpha zero": (dict(alphas=[1.0, 0.0]), "alphas"),
    "alpha negative": (dict(alphas=[-2.0]), "alphas"),
    "alpha nan": (dict(alphas=[float("nan")]), "alphas"),
    "eta0 zero": (dict(eta0s=[0.0]), "eta0s"),
    "eta0 inf": (dict(eta0s=[math.inf]), "eta0s"),
    "empty alphas": (dict(alphas=[]), "alphas is empty"),
    "empty eta0s": (dict(eta0s=[]), "eta0s is empty"),
    "empty seeds": (dict(seeds=[]), "seeds is empty"),
    "float seed": (dict(seeds=[0.5]), "seeds must be integers"),
    "steps zero": (dict(steps=0), "steps"),
    "steps float": (dict(steps=2.0), "steps"),
    "temperature nan": (dict(temperature=float("nan")), "temperature"),
    "unknown rule": (dict(rule="adam"), "unknown update rule 'adam'"),
    "unknown labels": (dict(labels="noisy"), "unknown labels 'noisy'"),
    "log_every zero": (dict(log_every=0), "log_every"),
    "sharpness step past the end": (dict(sharpness_steps=(5,)), "sharpness_steps"),
    "bad dtype": (dict(dtype=torch.float16), "dtype"),
    "unknown executor": (dict(executor="ray"), "unknown executor 'ray'"),
    "bad chunk size": (dict(chunk_size=0), "chunk_size"),
    "bad dask address": (dict(executor="dask", dask_address="localhost"), "dask_address"),
    "lr overflow": (dict(alphas=[1e-310], eta0s=[1.0]), "effective learning rate"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_arguments_raise_before_training(case, cached):
    folder, files = cached
    changes, message = BAD[case]
    train, test = splits()
    with pytest.raises(ValueError, match=message):
        train_grid(GridSpec.of(tiny_model(), train, test, **{**KW, "cache_dir": folder, **changes}))
    assert {p: p.read_bytes() for p in (folder / "training").iterdir()} == files


def test_bad_splits_raise(cached):
    folder, files = cached
    train, test = splits()
    model = tiny_model()
    with pytest.raises(ValueError, match="test split has 5 classes"):
        train_grid(GridSpec.of(model, train, _other_classes(test), cache_dir=folder, **KW))
    with pytest.raises(ValueError, match="test labels must lie in"):
        train_grid(GridSpec.of(model, train, (test.X, test.y + 10), cache_dir=folder, **KW))
    bad = train.X.clone()
    bad[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        train_grid(GridSpec.of(model, (bad, train.y), test, cache_dir=folder, **KW))
    with pytest.raises(ValueError, match="y must have shape"):
        train_grid(GridSpec.of(model, (train.X, train.y[:-1]), test, cache_dir=folder, **KW))
    with pytest.raises(ValueError, match="init_params"):
        train_grid(GridSpec.of(model, train, test, init_params=[{}], cache_dir=folder, **KW))
    assert {p: p.read_bytes() for p in (folder / "training").iterdir()} == files


def test_the_callers_model_is_not_modified():
    train, test = splits()
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_grid(GridSpec.of(model, train, test, **{**KW, "alphas": [3.0]}))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_grid_spec_groups_and_unknown_settings():
    """GridSpec.of sends each setting to its group (the same runs as the groups built by
    hand); a misspelt setting and the old keyword call are refused, naming what is wrong."""
    from goldilocks_nb.training import Data, Execution, Grid, Record, Schedule
    from goldilocks_nb.training.grid import make_problem

    train, test = splits()
    flat = GridSpec.of(tiny_model(), train, test, **KW)
    grouped = GridSpec(Data(tiny_model(), train, test, dtype=DTYPE), Grid([1.0], [0.1], [0]),
                       Schedule(2), Record(sharpness_steps=()),
                       Execution("cpu", progress=False))
    assert flat.schedule == grouped.schedule and flat.record == grouped.record
    assert flat.execution == grouped.execution and flat.grid == grouped.grid
    assert [c.key for c in make_problem(flat)[1]] == [c.key for c in make_problem(grouped)[1]]
    assert flat.checkpoint_every == 2 and flat.data.num_classes == 10
    with pytest.raises(TypeError, match="'stepz'"):
        GridSpec.of(tiny_model(), train, test, stepz=3, **KW)
    with pytest.raises(TypeError, match="takes a GridSpec"):
        train_grid(tiny_model())
    with pytest.raises(ValueError, match="GridSpec.schedule must be a Schedule"):
        GridSpec(flat.data, flat.grid, {"steps": 2})
