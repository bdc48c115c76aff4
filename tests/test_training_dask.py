"""The Dask executor: a LocalCluster of 2 worker processes gives the in-process logs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from goldilocks_nb.training import GridSpec, train_grid
from training_cases import DTYPE, splits, tiny_model

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
KW = dict(alphas=[0.5, 2.0], eta0s=[0.1, 1.0], seeds=[0], steps=3, sharpness_steps=(),
          dtype=DTYPE, device="cpu", progress=False)


@pytest.fixture(scope="module")
def client():
    # workers are fresh processes: they import this tree's package through PYTHONPATH
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT / "tests")] + ([old] if old else []))
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def test_dask_grid_equals_in_process_and_shares_the_cache(client, tmp_path):
    train, test = splits()
    local = train_grid(GridSpec.of(tiny_model(), train, test, **KW))
    remote = train_grid(GridSpec.of(tiny_model(), train, test, executor="dask", dask_address=client,
                                    chunk_size=2, cache_dir=tmp_path, **KW))
    pd.testing.assert_frame_equal(remote.log, local.log, check_exact=False, rtol=1e-12)
    for a, b in zip(remote.params, local.params):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)
    assert (remote.runs.computed_steps == KW["steps"] + 1).all()
    # both workers took part
    assert len(client.scheduler_info()["workers"]) == 2
    # the cluster's results are in the cache: an in-process call reads them
    cached = train_grid(GridSpec.of(tiny_model(), train, test, cache_dir=tmp_path, **KW))
    assert cached.runs.computed_steps.sum() == 0
    pd.testing.assert_frame_equal(cached.log, remote.log, check_exact=True)


def test_unreachable_scheduler_fails_fast(tmp_path):
    train, test = splits()
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match="no Dask scheduler answers at 'tcp://127.0.0.1:9'"):
        train_grid(GridSpec.of(tiny_model(), train, test, executor="dask",
                               dask_address="tcp://127.0.0.1:9", dask_timeout=1.0,
                               cache_dir=tmp_path, **KW))
    assert time.perf_counter() - start < 30
    assert not any(tmp_path.iterdir())  # nothing was written
