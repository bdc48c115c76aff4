"""Set-up shared by the chapters' first cells: device, dtype, seeds, output folders.

Parameters are declared and validated by each chapter's ``Params``
(:mod:`goldilocks_nb.contract`) before any of this runs.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from .results import ResultsDir

__all__ = [
    "DTYPES",
    "log_grid",
    "output_dirs",
    "progress_bar",
    "resolve_device",
    "resolve_dtype",
    "setup",
    "torch_threads",
]

#: The floating-point types a chapter or the training engine accepts, by name (one home).
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; otherwise the named device (checked)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use 'auto'")
    return dev


def resolve_dtype(name: str) -> torch.dtype:
    """``"float64"`` or ``"float32"`` -> the torch dtype."""
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {name!r}")
    return DTYPES[name]


def setup(seed: int, *, deterministic: bool = True, threads: int = 0) -> None:
    """Seed Python, NumPy and torch, ask torch for deterministic kernels and set the torch
    CPU threads of the notebook's process (``threads``; 0 leaves torch's default).

    This is the notebook's process-wide setting, called once in its first cell; package
    functions never change global state (they take explicit seeds; a library call that
    needs other threads for a while uses :func:`torch_threads`). Seeding here only pins
    what plotting or third-party code might draw from the global generators.
    """
    if threads:
        torch.set_num_threads(int(threads))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (0: leave torch's setting), then restore."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


T = TypeVar("T")


def progress_bar(items: Iterable[T], desc: str, show: bool) -> Iterable[T]:
    """``items`` behind a ``tqdm.auto`` bar labelled ``desc`` when ``show``, else as they
    are (the chapters' long loops)."""
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(list(items), desc=desc)


def log_grid(start: float, stop: float, num: int) -> list[float]:
    """``num`` log-spaced values from ``start`` to ``stop`` (both > 0), rounded to 6 digits."""
    if start <= 0 or stop <= 0:
        raise ValueError("log_grid needs start, stop > 0")
    return [float(f"{v:.6g}") for v in np.logspace(math.log10(start), math.log10(stop), num)]


def output_dirs(results_dir: str | os.PathLike) -> dict[str, Path]:
    """``results_dir`` and its ``figures``, ``cache``, ``claims`` sub-folders (created).

    A thin wrapper over :class:`goldilocks_nb.results.ResultsDir`, which owns the layout.
    """
    return ResultsDir(results_dir).create().as_dict()
