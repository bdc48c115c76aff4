"""Fault injection on the training run store, checkpoints, grid size and claim files (issue 20).

Each test damages what a results folder holds the way a disk, a copy or a ``kill -9`` can
(a flipped byte, a truncated, emptied or swapped file, an orphan temporary file) or asks
for a grid the machine cannot hold, and checks that nothing wrong is used silently: the
damaged file is named once (a ``CacheWarning``) and recomputed, or the run stops naming
the file / the numbers and the parameter to change.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch

from goldilocks_nb.results import (
    CacheWarning,
    ClaimRecordError,
    ResultsDir,
    load_claims,
    record_claim,
)
from goldilocks_nb.scorecard import render_scorecard
from goldilocks_nb.training import GridSpec, RunStore, grid_run, store, train_grid
from goldilocks_nb.training.grid import make_problem
from training_cases import DTYPE, splits, tiny_model

ROOT = Path(__file__).resolve().parents[1]
KW = dict(alphas=[0.5, 2.0], eta0s=[0.1], seeds=[0], steps=6, log_every=2,
          sharpness_steps=(), dtype=DTYPE, device="cpu", chunk_size=2, checkpoint_every=2,
          progress=False)


@pytest.fixture(scope="module")
def reference():
    train, test = splits()
    return train_grid(GridSpec.of(tiny_model(), train, test, **KW))


def _train(cache, **kw):
    """``train_grid`` on the store at ``cache``; returns (result, the CacheWarnings seen)."""
    train, test = splits()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = train_grid(GridSpec.of(tiny_model(), train, test, cache_dir=cache, **{**KW, **kw}))
    return result, [w for w in seen if issubclass(w.category, CacheWarning)]


def _same(result, reference):
    pd.testing.assert_frame_equal(result.log, reference.log, check_exact=True)
    for a, b in zip(result.params, reference.params, strict=True):
        assert torch.equal(a, b)


def _flip_in(path: Path, needle: bytes, at: int = 0) -> None:
    """Flip one byte of ``path`` inside the first occurrence of ``needle``."""
    data = bytearray(path.read_bytes())
    i = data.find(needle)
    assert i >= 0, f"{needle[:16]!r}... not found in {path}"
    data[i + at] ^= 0x10
    path.write_bytes(bytes(data))


def _flip_digit_after(path: Path, marker: bytes) -> None:
    """Change one decimal digit of the number that follows ``marker`` (the file stays
    well-formed; only the value changes)."""
    data = bytearray(path.read_bytes())
    i = data.find(marker)
    assert i >= 0, f"{marker!r} not found in {path}"
    j = next(k for k in range(i + len(marker), i + len(marker) + 40)
             if chr(data[k]).isdigit() and data[k] != ord("0"))
    data[j] = ord("1") if data[j] != ord("1") else ord("2")
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------- finished records


@pytest.mark.parametrize("where", ["params", "train_acc"])
def test_flipped_byte_in_a_finished_record_is_named_and_recomputed(tmp_path, reference, where):
    first, _ = _train(tmp_path)
    key = first.runs.key[0]
    path = RunStore(tmp_path).path(key)
    if where == "params":  # a byte inside the stored parameter vector
        _flip_in(path, reference.params[0].numpy().tobytes()[:64], at=20)
    else:  # a digit of a logged accuracy (issue 20: it changed a chapter-04 regime)
        _flip_digit_after(path, b'"train_acc": ')
    again, seen = _train(tmp_path)
    assert len(seen) == 1 and str(path) in str(seen[0].message)
    assert issubclass(seen[0].category, store.StoreWarning)
    _same(again, reference)
    assert again.runs.computed_steps.tolist() == [KW["steps"] + 1, 0]  # only the damaged one
    assert RunStore(tmp_path).load(key)["status"] == "done"  # replaced by a good record


@pytest.mark.parametrize("damage", ["truncated", "emptied", "swapped", "garbage"])
def test_damaged_or_swapped_record_is_named_and_recomputed(tmp_path, reference, damage):
    first, _ = _train(tmp_path)
    runs = RunStore(tmp_path)
    path, other = runs.path(first.runs.key[0]), runs.path(first.runs.key[1])
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "emptied":
        path.write_bytes(b"")
    elif damage == "swapped":  # another run's (intact) record copied over this one
        shutil.copyfile(other, path)
    else:
        path.write_bytes(b"not a run record")
    again, seen = _train(tmp_path)
    assert len(seen) == 1, [str(w.message) for w in seen]
    message = str(seen[0].message)
    assert str(path) in message and "recomputed" in message
    assert {"truncated": "unreadable", "emptied": "unreadable", "garbage": "unreadable",
            "swapped": "another key"}[damage] in message
    _same(again, reference)
    assert again.runs.computed_steps.tolist() == [KW["steps"] + 1, 0]


def test_store_load_warns_once_and_removes_the_damaged_file(tmp_path):
    runs = RunStore(tmp_path)
    record = {"status": "done", "step": 1, "params": torch.arange(3.0), "rows": [{"a": 1.5}],
              "diverged_step": None}
    runs.save("a" * 32, record)
    got = runs.load("a" * 32)
    assert torch.equal(got["params"], record["params"]) and got["rows"] == [{"a": 1.5}]
    runs.path("a" * 32).rename(runs.path("b" * 32))  # a record under another run's name
    with pytest.warns(store.StoreWarning, match="another key") as seen:
        assert runs.load("b" * 32) is None
    assert len(seen) == 1 and not runs.path("b" * 32).exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second read: no file, no warning
        assert runs.load("b" * 32) is None


# --------------------------------------------------------------------------- checkpoints


class _Killed(Exception):
    pass


def _interrupted(cache, monkeypatch, stop_step: int) -> dict[str, torch.Tensor]:
    """Train until every run wrote its checkpoint at ``stop_step``, then stop (as a kill
    would); returns the parameters of each run's last checkpoint, by key."""
    original = store.RunStore.save
    written: dict[str, torch.Tensor] = {}
    at_stop: list[str] = []

    def save(self, key, record):
        out = original(self, key, record)
        if record["status"] == "running":
            written[key] = record["params"].clone()
            if record["step"] == stop_step:
                at_stop.append(key)
            if len(at_stop) == 2:
                raise _Killed
        return out

    with monkeypatch.context() as m:
        m.setattr(store.RunStore, "save", save)
        with pytest.raises(_Killed):
            _train(cache)
    return written


def test_flipped_byte_in_a_checkpoint_resumes_from_the_previous_one(tmp_path, reference,
                                                                     monkeypatch):
    written = _interrupted(tmp_path, monkeypatch, stop_step=4)
    runs = RunStore(tmp_path)
    keys = list(reference.runs.key)
    assert [runs.load(k)["step"] for k in keys] == [4, 4]
    path = runs.path(keys[0])
    _flip_in(path, written[keys[0]].numpy().tobytes()[:64], at=9)
    resumed, seen = _train(tmp_path)
    assert len(seen) == 1 and str(path) in str(seen[0].message)
    _same(resumed, reference)
    # run 0 from its checkpoint at step 2 (the previous good one), run 1 from step 4
    assert resumed.runs.computed_steps.tolist() == [KW["steps"] + 1 - 2, KW["steps"] + 1 - 4]
    assert not runs.previous_path(keys[0]).exists()  # finished: no checkpoint left


def test_damaged_checkpoint_and_damaged_previous_one_resume_from_scratch(tmp_path, reference,
                                                                         monkeypatch):
    _interrupted(tmp_path, monkeypatch, stop_step=4)
    runs = RunStore(tmp_path)
    key = reference.runs.key[0]
    runs.path(key).write_bytes(b"")
    prev = runs.previous_path(key)
    prev.write_bytes(prev.read_bytes()[:100])
    resumed, seen = _train(tmp_path)
    named = sorted(p for p in (runs.path(key), prev) for w in seen if str(p) in str(w.message))
    assert len(seen) == 2 and named == sorted([runs.path(key), prev])
    _same(resumed, reference)
    assert resumed.runs.computed_steps.tolist() == [KW["steps"] + 1, KW["steps"] + 1 - 4]


def test_checkpoint_holds_only_its_own_run(tmp_path, monkeypatch):
    """A checkpoint's size is bounded by its run's parameter count, not the chunk's."""
    original = store.RunStore.save
    sizes: list[tuple[int, int]] = []

    def save(self, key, record):
        out = original(self, key, record)
        if record["status"] == "running":
            sizes.append((self.path(key).stat().st_size, len(json.dumps(record["rows"]))))
        return out

    monkeypatch.setattr(store.RunStore, "save", save)
    train, test = splits()
    alphas = [0.5, 1.0, 2.0, 4.0]
    result = train_grid(GridSpec.of(tiny_model(), train, test, cache_dir=tmp_path,
                                    **{**KW, "alphas": alphas, "chunk_size": len(alphas)}))
    P = result.params[0].numel()
    per_run = P * result.params[0].element_size()
    assert len(sizes) == 3 * len(alphas)  # checkpoints at steps 2, 4 and 6
    for size, rows in sizes:
        assert size <= per_run + 2 * rows + 8192, (size, per_run)


def test_orphan_temporary_files_are_removed_on_the_next_run(tmp_path, reference):
    folder = tmp_path / "training"
    folder.mkdir()
    old = time.time() - 60
    orphans = [folder / f".run-{'a' * 32}.pt.k3j2_x.tmp", folder / f".run-{'b' * 32}.npz.q9.tmp"]
    for p in orphans:
        p.write_bytes(b"\0" * 4096)  # what a kill -9 during a write leaves
        os.utime(p, (old, old))
    live = folder / f".run-{'c' * 32}.npz.live.tmp"  # a writer that is still alive
    live.write_bytes(b"\0" * 16)
    os.utime(live, (old, old))
    keep = folder / "notes.txt"
    keep.write_text("not ours")
    with open(live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        result, seen = _train(tmp_path)
        assert live.exists()
    assert not seen
    assert not any(p.exists() for p in orphans) and keep.exists()
    _same(result, reference)
    assert list(folder.glob(".*.tmp")) == [live]  # the live writer's file is left alone
    live_age = time.time() - live.stat().st_mtime
    assert live_age > 30 and RunStore(tmp_path).remove_orphans() == [live]  # once released


# --------------------------------------------------------------------------- size check


def _never_train(*args, **kwargs):
    raise AssertionError("training started although the grid cannot fit")


def test_grid_whose_parameters_exceed_the_memory_is_refused_before_training(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(grid_run, "_available_ram", lambda: 50_000, raising=False)
    monkeypatch.setattr(grid_run, "run_chunk", _never_train)
    train, test = splits()
    with pytest.raises(ValueError, match="alphas, eta0s or seeds") as err:
        train_grid(GridSpec.of(tiny_model(), train, test, cache_dir=tmp_path, **KW))
    message = str(err.value)
    assert "2 runs" in message and "4,784 parameters" in message
    assert "0.05 MB is available" in message
    assert not (tmp_path / "training").exists()  # nothing written


def test_grid_larger_than_this_machine_is_refused_in_seconds(tmp_path, monkeypatch):
    """Issue 20: a grid whose final parameters alone exceed the RAM was accepted and began
    training. Here: 1.5x this machine's available memory in final parameters (no mock)."""
    from goldilocks_nb.models import build_model

    monkeypatch.setattr(grid_run, "run_chunk", _never_train)
    train, test = splits()
    model = build_model("mlp", seed=0, input_shape=(1, 28, 28), widths=[1500, 1500],
                        dtype=torch.float32)
    p_bytes = sum(p.numel() for p in model.parameters()) * 4
    runs = int(1.5 * grid_run._available_ram() / p_bytes) + 1
    started = time.perf_counter()
    with pytest.raises(grid_run.GridTooLargeError) as err:
        train_grid(GridSpec.of(model, (train.X.float(), train.y), None,
                               alphas=[1 + i / runs for i in range(runs)], eta0s=[0.1], steps=10,
                               sharpness_steps=(), device="cpu", cache_dir=tmp_path,
                               progress=False))
    assert time.perf_counter() - started < 60
    message = str(err.value)
    assert f"{runs} runs = alphas x eta0s x seeds" in message
    assert "fewer runs (alphas, eta0s or seeds)" in message
    assert not (tmp_path / "training").exists()


def test_explicit_chunk_that_exceeds_the_memory_names_chunk_size(tmp_path, monkeypatch):
    train, test = splits()
    problem, configs = make_problem(GridSpec.of(
        tiny_model(), train, test, alphas=[0.5, 1.0, 2.0, 4.0], eta0s=[0.1], seeds=[0],
        steps=6, temperature=1.0, rule="gd", labels="true", degree=None, log_every=2,
        sharpness_steps=(), checkpoint_every=2, dtype=DTYPE, sharpness_tol=1e-6,
        init_params=None, restart_from=None))
    need = grid_run.estimate_grid_need(problem, configs, 4)
    assert need["params"] == 4 * 4784 * 8 and need["chunk"] == 4 * need["per_run"]
    # CPU: final parameters fit, the chunk's working set does not
    monkeypatch.setattr(grid_run, "_available_ram",
                        lambda: need["params"] + need["logs"] + need["chunk"] // 2)
    with pytest.raises(grid_run.GridTooLargeError, match="a smaller chunk_size"):
        grid_run._check_fits(problem, configs, 4, True, torch.device("cpu"), None, 4, 4)
    # GPU: the working set against the device's free memory, with the chunk that fits
    monkeypatch.setattr(grid_run, "_available_ram", lambda: 10**12)
    monkeypatch.setattr(grid_run, "_device_free", lambda dev: 2 * need["per_run"] + 1)
    with pytest.raises(grid_run.GridTooLargeError, match=r"chunk_size <= 2 ") as err:
        grid_run._check_fits(problem, configs, 4, True, torch.device("cuda", 0), None, 4, 4)
    assert "cuda:0" in str(err.value)
    assert grid_run._check_fits(problem, configs, 2, True, torch.device("cuda", 0), None,
                                2, 4)["chunk"] == 2 * need["per_run"]


def test_grid_whose_store_exceeds_the_disk_is_refused_before_training(tmp_path, monkeypatch):
    real = shutil.disk_usage

    def tiny_disk(path):
        return real(path)._replace(free=20_000)

    monkeypatch.setattr(grid_run.shutil, "disk_usage", tiny_disk)
    monkeypatch.setattr(grid_run, "run_chunk", _never_train)
    train, test = splits()
    cache = tmp_path / "not-yet-created"
    with pytest.raises(ValueError, match="point cache_dir at a larger disk") as err:
        train_grid(GridSpec.of(tiny_model(), train, test, cache_dir=cache, **KW))
    assert str(cache) in str(err.value) and "0.02 MB free" in str(err.value)
    assert not cache.exists()


def test_the_size_check_passes_an_ordinary_grid(tmp_path, reference):
    result, seen = _train(tmp_path)  # the real machine's memory and disk
    assert not seen
    _same(result, reference)


# --------------------------------------------------------------------------- claim files


def _claim(results, claim="C3", measured="max rel. error 0.25"):
    return record_claim(claim, measured=measured, verdict="reproduced", evidence="Eq. 5",
                        parameters={"alphas": [0.1, 1.0]}, profile="smoke",
                        data_source="test", results_dir=results, values={"error": 0.25})


def test_claim_record_carries_a_checksum_and_round_trips(tmp_path):
    path = _claim(tmp_path)
    record = json.loads(path.read_text())
    assert len(record["sha256"]) == 64 and record["format"] == "goldilocks-claim/1"
    assert load_claims(tmp_path)["C3"]["measured"] == "max rel. error 0.25"


@pytest.mark.parametrize("damage", ["value", "verdict", "swapped", "no checksum"])
def test_damaged_claim_file_never_changes_the_scorecard_silently(tmp_path, damage):
    claims_yml = tmp_path / "book" / "claims.yml"
    claims_yml.parent.mkdir()
    shutil.copy(ROOT / "book" / "claims.yml", claims_yml)
    results = tmp_path / "results"
    path = _claim(results)
    _claim(results, "C4", measured="slope 2.0")
    text = path.read_text()
    if damage == "value":  # one flipped byte in a number: the JSON stays valid
        text = text.replace('"error": 0.25', '"error": 0.75')
    elif damage == "verdict":
        text = text.replace('"verdict": "reproduced"', '"verdict": "reproducEd"')
    elif damage == "swapped":
        text = ResultsDir(results).claim("C4").read_text()
    else:
        record = json.loads(text)
        del record["sha256"]
        text = json.dumps(record)
    assert text != path.read_text()
    path.write_text(text)
    with pytest.raises(ClaimRecordError, match=f"claim record {path} is damaged") as err:
        load_claims(results)
    assert isinstance(err.value, ValueError)
    with pytest.raises(ClaimRecordError) as err:
        render_scorecard(claims_yml, results, "smoke")
    message = str(err.value)
    assert str(path) in message
    assert "rerun chapter 01 Rescaling symmetry (notebooks/01_rescaling_symmetry.ipynb)" in message
