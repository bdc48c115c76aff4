"""Resuming a grid after ``kill -9``: nothing finished is recomputed, logs are unchanged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch

from goldilocks_nb.training import GridSpec, RunStore, StoreWarning, train_grid
from training_cases import DTYPE, splits, tiny_model

ROOT = Path(__file__).resolve().parents[1]
KW = dict(alphas=[0.5, 2.0], eta0s=[0.1, 1.0], seeds=[0], steps=12, log_every=2,
          sharpness_steps=(), dtype=DTYPE, device="cpu", chunk_size=2, checkpoint_every=3,
          progress=False)

CHILD = textwrap.dedent(
    """
    import sys, time
    import torch
    from goldilocks_nb.training import store, GridSpec, train_grid
    from training_cases import DTYPE, splits, tiny_model

    original = store.RunStore.save

    def save(self, key, record):  # report every write, then give the parent time to kill
        out = original(self, key, record)
        print(record["status"], record["step"], flush=True)
        time.sleep(0.05)
        return out

    store.RunStore.save = save
    train, test = splits()
    train_grid(GridSpec.of(tiny_model(), train, test, cache_dir=sys.argv[1], **{KW}))
    print("finished", flush=True)
    """
)


def test_killed_grid_resumes_from_checkpoints(tmp_path):
    train, test = splits()
    reference = train_grid(GridSpec.of(tiny_model(), train, test, **KW))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]),
           "OMP_NUM_THREADS": "1"}
    code = CHILD.replace("{KW}", repr(KW))
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done, running_after = 0, 0
    for line in child.stdout:
        status = line.split()[0]
        done += status == "done"
        running_after += done == 2 and status == "running"
        # the first chunk (2 runs) finished and the second wrote a checkpoint: kill -9
        if running_after >= 2:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr.read()
    store = RunStore(tmp_path)
    records = [store.load(k) for k in reference.runs.key]
    assert [r["status"] for r in records] == ["done", "done", "running", "running"]
    done_files = {k: store.path(k).stat().st_mtime_ns for k in reference.runs.key[:2]}

    resumed = train_grid(GridSpec.of(tiny_model(), train, test, cache_dir=tmp_path, **KW))
    pd.testing.assert_frame_equal(resumed.log, reference.log, check_exact=True)
    for a, b in zip(resumed.params, reference.params):
        assert torch.equal(a, b)
    computed = resumed.runs.computed_steps.tolist()
    assert computed[:2] == [0, 0]  # finished runs are read, not recomputed
    start = records[2]["step"]
    assert 0 < start and computed[2:] == [KW["steps"] + 1 - start] * 2  # from the checkpoint
    assert {k: store.path(k).stat().st_mtime_ns for k in done_files} == done_files
    # a third call computes nothing
    again = train_grid(GridSpec.of(tiny_model(), train, test, cache_dir=tmp_path, **KW))
    assert again.runs.computed_steps.sum() == 0
    pd.testing.assert_frame_equal(again.log, reference.log, check_exact=True)


def test_store_never_uses_a_file_with_another_key(tmp_path):
    """A record under another run's name, or a file that is no record, is named in one
    warning and not used (it was a hard StoreError before issue 20: now recomputed)."""
    store = RunStore(tmp_path)
    store.save("a" * 32, {"status": "done", "step": 1, "params": torch.zeros(2), "rows": [],
                          "diverged_step": None})
    store.path("a" * 32).rename(store.path("b" * 32))
    with pytest.warns(StoreWarning, match=f"{store.path('b' * 32)} was computed for another key"):
        assert store.load("b" * 32) is None
    store.path("c" * 32).write_bytes(b"not a run record")
    with pytest.warns(StoreWarning, match=f"{store.path('c' * 32)} is unreadable"):
        assert store.load("c" * 32) is None
    assert store.load("d" * 32) is None


def test_a_checkpoint_from_another_grid_resumes_under_this_grids_run_index(tmp_path,
                                                                           monkeypatch):
    """The store is keyed by what a run computes: a checkpoint written by a one-run grid and
    resumed inside a larger grid carries the first grid's run index in its rows; they are
    renumbered (as finished records already were), so each run's log is its own."""
    from goldilocks_nb.training import store as store_module

    train, test = splits()
    kw = dict(steps=6, log_every=1, sharpness_steps=(), dtype=DTYPE, device="cpu",
              checkpoint_every=3, progress=False)
    original = store_module.RunStore.save

    def save_checkpoints_only(self, key, record):  # as if killed before the run finished
        if record["status"] == "running":
            original(self, key, record)

    with monkeypatch.context() as m:
        m.setattr(store_module.RunStore, "save", save_checkpoints_only)
        first = train_grid(GridSpec.of(tiny_model(), train, test, alphas=[2.0], eta0s=[0.1],
                                       seeds=[0], cache_dir=tmp_path, **kw))
    (key,) = first.runs.key
    assert RunStore(tmp_path).load(key)["status"] == "running"
    both = train_grid(GridSpec.of(tiny_model(), train, test, alphas=[1.0, 2.0], eta0s=[0.1],
                                  seeds=[0], cache_dir=tmp_path, **kw))
    reference = train_grid(GridSpec.of(tiny_model(), train, test, alphas=[1.0, 2.0], eta0s=[0.1],
                                       seeds=[0], **kw))
    computed = both.runs.set_index("alpha").computed_steps
    assert computed[2.0] < computed[1.0]  # resumed from its checkpoint, not retrained
    pd.testing.assert_frame_equal(both.log, reference.log, check_exact=True)
