"""Set-up shared by the chapters' first cells: device, dtype, seeds, output folders.

Parameters are declared and validated by each chapter's ``Params``
(:mod:`goldilocks_nb.contract`) before any of this runs.
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import numpy as np
import torch

from .results import ResultsDir

__all__ = [
    "DTYPES",
    "log_grid",
    "output_dirs",
    "resolve_device",
    "resolve_dtype",
    "setup",
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


def setup(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels.

    Package functions take explicit seeds; this only pins what plotting or third-party
    code might draw from the global generators.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


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
