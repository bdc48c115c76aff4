"""A small on-disk store of training runs: logs and parameter checkpoints, verified and atomic.

One file per run, ``<cache_dir>/training/run-<key>.npz``, where ``key`` is a hash of
everything that determines the run (model, data, initial parameters, alpha, eta0,
temperature, steps, update rule, labels, logging schedule, dtype; see
:func:`goldilocks_nb.training.grid.run_key`). The file is an entry of the project's one
verified format (:func:`goldilocks_nb.results.write_entry`: an uncompressed ``.npz``
without pickle, holding the full key and a sha256 of its payload) and holds the rows
logged so far and the parameters at the step from which the run continues (a
checkpoint) or at its end. While a run trains, its previous checkpoint is kept beside it
(``run-<key>.prev.npz``) until the next one is written, and removed when the run is done.

Files are replaced through a temporary file and a rename, so a run killed at any instant
leaves the previous or the next version, never half a file; temporary files that a
``kill -9`` left behind are removed by :meth:`RunStore.remove_orphans` (called by
:func:`goldilocks_nb.training.train_grid` before it starts).

A record that is unreadable, truncated, emptied, fails its checksum or was written for
another key (a file copied over another) is never used: it is named in one
:class:`StoreWarning` (a :class:`goldilocks_nb.results.CacheWarning`), removed, and the
run is recomputed, from its previous checkpoint when that one is good, else from step 0.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from ..results import CacheEntryError, CacheWarning, read_entry, remove_orphans, write_entry

__all__ = ["FORMAT", "RunStore", "StoreWarning"]

#: Stored with every record (inside its key): a change of layout makes old records unreadable.
FORMAT = "goldilocks-run/2"
_STATUSES = ("running", "done")


class StoreWarning(CacheWarning):
    """A run record or checkpoint was damaged or another run's; it was removed and recomputed."""


class RunStore:
    """Run records under ``cache_dir/training``.

    A record is a dict with ``status`` (``"running"`` or ``"done"``), ``step`` (the step
    the parameters belong to), ``params`` (a flat CPU tensor), ``rows`` (list of dicts, the
    log so far: steps ``< step`` while running, all when done) and ``diverged_step`` (int
    or ``None``); on disk it also carries its key and a checksum.
    """

    def __init__(self, cache_dir: str | os.PathLike) -> None:
        self.folder = Path(cache_dir) / "training"

    def path(self, key: str) -> Path:
        """The run's record: its last checkpoint while it trains, its result when done."""
        return self.folder / f"run-{key}.npz"

    def previous_path(self, key: str) -> Path:
        """The checkpoint before the last one (kept while the run trains)."""
        return self.folder / f"run-{key}.prev.npz"

    @staticmethod
    def entry_key(key: str) -> str:
        """The full key stored in (and checked against) the run's files."""
        return f"{FORMAT} run {key}"

    def load(self, key: str) -> dict[str, Any] | None:
        """The record of ``key`` (the last good checkpoint or the result), or ``None``.

        A damaged or foreign file is named in one :class:`StoreWarning`, removed, and the
        previous checkpoint (if good) is returned instead; ``None`` means: start at step 0.
        """
        for path in (self.path(key), self.previous_path(key)):
            record = self._read(path, key)
            if record is not None:
                return record
        return None

    def _read(self, path: Path, key: str) -> dict[str, Any] | None:
        try:
            record = read_entry(path, self.entry_key(key))
            problem = _malformed(record)
        except FileNotFoundError:
            return None
        except CacheEntryError as exc:
            problem = str(exc)
        if problem is None:
            return record
        fallback = ("its previous checkpoint, if good, else from step 0"
                    if path == self.path(key) else "step 0")
        warnings.warn(f"training record {path} {problem}; removed it, the run is recomputed "
                      f"from {fallback}", StoreWarning, stacklevel=3)
        path.unlink(missing_ok=True)
        return None

    def save(self, key: str, record: dict[str, Any]) -> Path:
        """Write ``record`` for ``key`` atomically, with its key and checksum.

        A checkpoint (``status="running"``) moves the one it replaces to
        :meth:`previous_path`; a finished record removes that previous checkpoint.
        """
        record = {"status": record["status"], "step": int(record["step"]),
                  "params": record["params"].detach().cpu().contiguous(),
                  "rows": list(record["rows"]), "diverged_step": record["diverged_step"]}
        problem = _malformed(record)
        if problem is not None:
            raise ValueError(f"not a run record: it {problem}")
        path = self.path(key)
        if record["status"] == "running":
            with contextlib.suppress(FileNotFoundError):  # none yet, or another process's
                os.replace(path, self.previous_path(key))  # rename came first
        write_entry(path, self.entry_key(key), record)
        if record["status"] == "done":
            self.previous_path(key).unlink(missing_ok=True)
        return path

    def remove_orphans(self, min_age: float = 2.0) -> list[Path]:
        """Remove temporary files that killed writers left here (``.run-*.tmp``; those of
        the earlier ``.pt`` format included); return their paths."""
        return remove_orphans(self.folder, ".run-*.tmp", min_age=min_age)


def _malformed(record: Any) -> str | None:
    """What is wrong with the layout of a record that passed its checksum, or ``None``."""
    if not isinstance(record, dict):
        return f"holds a {type(record).__name__}, not a run record"
    if record.get("status") not in _STATUSES:
        return f"has status {record.get('status')!r}"
    step = record.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return f"has step {step!r}"
    params = record.get("params")
    if not isinstance(params, torch.Tensor) or params.ndim != 1:
        return "holds no flat parameter tensor"
    if not isinstance(record.get("rows"), list):
        return "holds no log rows"
    div = record.get("diverged_step")
    if div is not None and (isinstance(div, bool) or not isinstance(div, int)):
        return f"has diverged_step {div!r}"
    return None
