"""Set-up and parameter checks shared by the chapters' first cells.

Each chapter validates its papermill parameters with these helpers *before* any heavy
compute, so a nonsense value stops the notebook in its first cell with a clear message.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .results import ResultsDir

__all__ = [
    "PROFILES",
    "check_choice",
    "check_grid",
    "check_positive_int",
    "check_profile",
    "resolve_device",
    "resolve_dtype",
    "setup",
]

PROFILES = ("smoke", "default", "paper", "custom")
_DTYPES = {"float64": torch.float64, "float32": torch.float32}


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
    if name not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {name!r}")
    return _DTYPES[name]


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    return profile


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` must be one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, choices))}")
    return value


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_grid(name: str, values: Sequence[float], *, positive: bool = True,
               min_len: int = 1) -> np.ndarray:
    """A 1-D grid of finite numbers (all > 0 when ``positive``), e.g. alphas or temperatures."""
    try:
        arr = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a list of numbers, got {values!r}") from exc
    if arr.size < min_len:
        raise ValueError(f"{name} needs at least {min_len} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has non-finite values: {values!r}")
    if positive and np.any(arr <= 0):
        bad = arr[arr <= 0].tolist()
        raise ValueError(f"{name} must be > 0 everywhere; got {bad}")
    return arr


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
