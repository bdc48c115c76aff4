"""The training engine's argument checks (private): one home for each rule.

Every check raises :class:`ValueError` naming the parameter, the value it got and what is
allowed, before anything is trained or written. :class:`.spec.GridSpec` (the grid) and
:mod:`.descent` (one run) validate through these functions only; the temperature and the
scale ``alpha`` use :func:`goldilocks_nb.functional.check_temperature` /
:func:`~goldilocks_nb.functional.check_alpha`, shared with the curvature engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "check_choice",
    "check_int",
    "check_positive",
    "check_positive_list",
    "check_seeds",
    "check_split",
    "unpack_split",
]


def check_positive(name: str, value: Any, *, minimum_inclusive: bool = False,
                   what: str = "a finite number") -> float:
    """``value`` as a float that is finite and ``> 0`` (``>= 0`` with ``minimum_inclusive``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    bad = v < 0 if minimum_inclusive else v <= 0
    if isinstance(value, bool) or not math.isfinite(v) or bad:
        bound = ">= 0" if minimum_inclusive else "> 0"
        raise ValueError(f"{name} must be {what} {bound}, got {value!r}")
    return v


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int: a Python or NumPy integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(what: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``; else "unknown <what> 'value'; choose one of ..."."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
    return value


def check_positive_list(name: str, values: Any) -> tuple[float, ...]:
    """A non-empty sequence of distinct finite numbers ``> 0`` (a grid axis)."""
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise ValueError(f"{name} must be a list of numbers, got {values!r}")
    values = list(values)
    if not values:
        raise ValueError(f"{name} is empty: the grid needs at least one value")
    out = []
    for v in values:
        if isinstance(v, bool):
            raise ValueError(f"{name} must hold numbers, got {v!r}")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold numbers, got {v!r}") from None
        if not math.isfinite(f) or f <= 0:
            raise ValueError(f"every value in {name} must be a finite number > 0, got {v!r}")
        out.append(f)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has repeated values: {values!r}")
    return tuple(out)


def check_seeds(seeds: Any) -> tuple[int, ...]:
    """One integer seed or a non-empty sequence of distinct integers."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = [seeds]
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty: the grid needs at least one seed")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise ValueError(f"seeds must be integers, got {s!r}")
    out = tuple(int(s) for s in seeds)
    if len(set(out)) != len(out):
        raise ValueError(f"seeds has repeated values: {list(out)!r}")
    return out


def check_split(name: str, X: Any, y: Any) -> None:
    """A labelled batch: tensors, ``X`` non-empty ``(N, ...)`` and finite, ``y`` integer
    class indices ``(N,)``."""
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError(f"{name}: X and y must be tensors")
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(f"{name}: X must be a non-empty batch (N, ...), got {tuple(X.shape)}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{name}: y must have shape ({X.shape[0]},), got {tuple(y.shape)}")
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.dtype.is_complex:
        raise ValueError(f"{name}: y must hold integer class indices, got {y.dtype}")
    if not torch.isfinite(X).all():
        raise ValueError(f"{name}: X has non-finite entries")


def unpack_split(name: str, data: Any) -> tuple[Any, Any, int | None, str]:
    """``(X, y, declared number of classes or None, source)`` from a Dataset (anything with
    ``X`` and ``y``) or an ``(X, y)`` pair; checked by :func:`check_split`."""
    if hasattr(data, "X") and hasattr(data, "y"):
        classes = getattr(data, "num_classes", None)
        return data.X, data.y, classes, str(getattr(data, "source", ""))
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1], None, ""
    raise ValueError(f"{name} must be a Dataset or an (X, y) pair, got {type(data).__name__}")
