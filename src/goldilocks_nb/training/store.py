"""A small on-disk store of training runs: logs and parameter checkpoints, written atomically.

One file per run, ``<cache_dir>/training/run-<key>.pt``, where ``key`` is a hash of
everything that determines the run (model, data, initial parameters, alpha, eta0,
temperature, steps, update rule, labels, logging schedule, dtype; see
:func:`goldilocks_nb.training.grid.run_key`). The file holds the key itself, which is
checked on every read, the rows logged so far, and the parameters at the step from which
the run continues (a checkpoint) or at its end. Files are replaced through
:func:`goldilocks_nb.results.atomic_write_bytes` (a temporary file and a rename), so a run
killed at any instant leaves either the previous or the next version, never half a file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from ..results import atomic_write_bytes

__all__ = ["RunStore", "StoreError"]

FORMAT = 1


class StoreError(RuntimeError):
    """A store file exists but does not belong to the key it is named after."""


class RunStore:
    """Run records under ``cache_dir/training``.

    A record is a dict with ``format``, ``key``, ``status`` (``"running"`` or ``"done"``),
    ``step`` (the step the parameters belong to), ``params`` (a flat CPU tensor), ``rows``
    (list of dicts, the log so far: steps ``< step`` while running, all when done) and
    ``diverged_step`` (int or ``None``).
    """

    def __init__(self, cache_dir: str | os.PathLike) -> None:
        self.folder = Path(cache_dir) / "training"

    def path(self, key: str) -> Path:
        return self.folder / f"run-{key}.pt"

    def load(self, key: str) -> dict[str, Any] | None:
        """The record of ``key``, or ``None`` when there is none.

        Raises:
            StoreError: the file cannot be read, or holds another key (it is left alone).
        """
        path = self.path(key)
        if not path.exists():
            return None
        try:
            record = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
            raise StoreError(f"cannot read training record {path}: {exc}") from exc
        if not isinstance(record, dict) or record.get("key") != key:
            found = record.get("key") if isinstance(record, dict) else type(record).__name__
            raise StoreError(
                f"training record {path} holds key {found!r}, expected {key!r}; "
                "move the file away if it is not yours"
            )
        if record.get("format") != FORMAT:
            raise StoreError(f"training record {path} has format {record.get('format')!r}")
        return record

    def save(self, key: str, record: dict[str, Any]) -> Path:
        """Write ``record`` for ``key`` atomically (the key is stored inside)."""
        record = {**record, "format": FORMAT, "key": key}
        buf = io.BytesIO()
        torch.save(record, buf)
        return atomic_write_bytes(self.path(key), buf.getvalue())
