"""Generic statistics of the book's curves: seed summaries, power-law slopes, distances,
monotonicity. Plain NumPy; used by several chapters (one home for each)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

__all__ = [
    "log_distance",
    "loglog_slope",
    "monotone_increase",
    "monotonicity",
    "relative_error",
    "summarize",
]


def summarize(
    records: Sequence[Mapping], key: str, *, by: str = "alpha"
) -> dict[str, np.ndarray]:
    """Mean, min and max of ``record[key]`` over seeds, per value of ``record[by]``.

    Args:
        records: dicts as returned by ``curvature_sweep`` (one per ``(alpha, T, seed)``).
        key: the quantity, e.g. ``"hessian_positive_curvature"``.
        by: the grouping variable (``"alpha"`` or ``"temperature"``).

    Returns:
        ``{"x", "mean", "min", "max", "count"}``, sorted by ``x``; NaN values (an exactly
        zero term) are ignored, a group with only NaN gives NaN.
    """
    if not records:
        raise ValueError("no records")
    groups: dict[float, list[float]] = {}
    for rec in records:
        if key not in rec or by not in rec:
            raise ValueError(f"record lacks {key!r} or {by!r}: keys are {sorted(rec)}")
        groups.setdefault(float(rec[by]), []).append(float(rec[key]))
    xs = np.array(sorted(groups))
    out = {"x": xs, "mean": [], "min": [], "max": [], "count": []}
    for x in xs:
        v = np.asarray(groups[x])
        v = v[np.isfinite(v)]
        out["count"].append(v.size)
        for name, fn in (("mean", np.mean), ("min", np.min), ("max", np.max)):
            out[name].append(float(fn(v)) if v.size else float("nan"))
    return {k: np.asarray(v) for k, v in out.items()}


def loglog_slope(
    x: Sequence[float], y: Sequence[float], mask: Sequence[bool] | None = None
) -> float:
    """Least-squares slope of ``log y`` against ``log x`` over ``mask`` (all points if None).

    For a power law ``y = c x^s`` it returns ``s``.

    Example:
        >>> round(loglog_slope([1, 10, 100], [3, 300, 30000]), 6)
        2.0
    """
    xs = np.asarray(x, float).reshape(-1)
    ys = np.asarray(y, float).reshape(-1)
    if xs.shape != ys.shape:
        raise ValueError(f"x has {xs.size} values, y {ys.size}")
    m = np.ones_like(xs, bool) if mask is None else np.asarray(mask, bool).reshape(-1)
    if m.shape != xs.shape:
        raise ValueError("mask must have the shape of x")
    xs, ys = xs[m], ys[m]
    if xs.size < 2:
        raise ValueError(f"need at least two points to fit a slope, got {xs.size}")
    if np.any(xs <= 0) or np.any(ys <= 0) or not np.all(np.isfinite(xs * ys)):
        raise ValueError("x and y must be finite and > 0 on the fitted points")
    if np.unique(xs).size < 2:
        raise ValueError("need two distinct x values")
    slope, _ = np.polyfit(np.log(xs), np.log(ys), 1)
    return float(slope)


def log_distance(a: float | None, b: float | None) -> float:
    """``|log10 a - log10 b|`` in decades (``inf`` when either is ``None``)."""
    if a is None or b is None:
        return float("inf")
    if a <= 0 or b <= 0:
        raise ValueError(f"log_distance needs positive numbers, got {a!r}, {b!r}")
    return abs(math.log10(a) - math.log10(b))


def relative_error(A, B) -> float:
    """``||A - B||_F / ||B||_F`` for arrays or tensors of equal shape (``B`` the reference)."""
    a = np.asarray(A.detach().cpu() if hasattr(A, "detach") else A, float)
    b = np.asarray(B.detach().cpu() if hasattr(B, "detach") else B, float)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    nb = np.linalg.norm(b)
    if nb == 0:
        raise ValueError("relative error to a zero reference is undefined")
    return float(np.linalg.norm(a - b) / nb)


def monotonicity(x: np.ndarray, y: np.ndarray, *, rtol: float = 1e-9) -> dict[str, np.ndarray]:
    """Spearman correlation and exact monotonicity of each curve ``y[i]`` against ``x[i]``.

    NaN points are dropped. A curve is *monotone* when ``y`` sorted by ``x`` never goes up
    and never goes down by more than ``rtol`` of its range (either direction counts).

    Returns:
        ``rho`` (Spearman, per curve), ``monotone`` (bool per curve),
        ``max_violation`` (largest step against the dominant direction, relative to range).
    """
    x, y = np.atleast_2d(x), np.atleast_2d(y)
    rho, mono, viol = [], [], []
    for xi, yi in zip(x, y):
        ok = np.isfinite(xi) & np.isfinite(yi)
        xi, yi = xi[ok], yi[ok]
        if len(xi) < 3:
            raise ValueError("a curve has fewer than 3 defined points")
        r = stats.spearmanr(xi, yi).statistic
        rho.append(float(r))
        steps = np.diff(yi[np.argsort(xi, kind="stable")])
        span = max(float(np.ptp(yi)), 1e-300)
        sign = -1.0 if r < 0 else 1.0
        against = np.clip(-sign * steps, 0, None).max(initial=0.0) / span
        viol.append(float(against))
        mono.append(bool(against <= rtol))
    return {"rho": np.array(rho), "monotone": np.array(mono), "max_violation": np.array(viol)}


def monotone_increase(values: np.ndarray) -> dict:
    """Is the seed mean of ``values`` (``(D, S)`` or ``(D,)``) increasing along ``d``?

    Returns:
        ``{"increasing": bool (every consecutive step of the mean > 0), "steps_up": int,
        "steps": int, "spearman": float, "mean": (D,)}``.
    """
    v = np.asarray(values, float)
    m = v.mean(-1) if v.ndim == 2 else v
    steps = np.diff(m)
    rho = float(stats.spearmanr(np.arange(len(m)), m).statistic) if len(m) >= 2 else float("nan")
    return {"increasing": bool(np.all(steps > 0)), "steps_up": int((steps > 0).sum()),
            "steps": int(steps.size), "spearman": rho, "mean": m}
