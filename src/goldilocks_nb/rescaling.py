"""The rescaling symmetry of homogeneous networks and the Goldilocks zone (Section 3, App. F).

For a network homogeneous of degree :math:`L`, scaling the parameters by :math:`\\alpha`
and the softmax temperature to :math:`T` gives logits :math:`\\alpha^L z / T` inside the
softmax, and by Eq. 5

.. math:: H' = \\frac{\\alpha^{2L-2}}{T^2}\\,\\mathcal{G}(p')
              + \\frac{\\alpha^{L-2}}{T}\\,\\mathcal{H}(p'), \\qquad
          p' = \\sigma\\!\\left(\\frac{\\alpha^L}{T} z\\right).

Positive curvature :math:`\\mathrm{Tr}(H)/\\lVert H\\rVert_F` (Eq. 2) is invariant to a
positive rescaling of :math:`H`, and :math:`H' = (\\alpha^{2L-2}/T^2)[\\mathcal{G}(p') +
(T/\\alpha^L)\\mathcal{H}(p')]`, so it depends on :math:`(\\alpha, T)` only through the ratio
:math:`r = \\alpha^L / T`. This module turns curvature computed on a 1-D grid of :math:`r`
into the :math:`(\\alpha, T)` map of Figure 1 (:func:`curvature_map`), reads the zone's
boundaries off a curve (:func:`goldilocks_zone_bounds`), fits power laws
(:func:`goldilocks_nb.statistics.loglog_slope`), for
:math:`\\lVert\\mathcal{G}'\\rVert_2 = O(\\alpha^{2L-2})`
and :math:`\\lVert\\mathcal{H}'\\rVert_2 = O(\\alpha^{L-2})`, and finds where the G-term dominates
(:func:`dominance_range`, Eq. 6).

Most functions are plain NumPy on records (dicts) as returned by
:func:`goldilocks_nb.curvature.curvature_sweep`. Two compute the checks *directly*, by
automatic differentiation at the scaled parameters and the given temperature, not
through Eq. 5: :func:`curvature_at` (C1) and :func:`eq5_check` (C3).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .curvature import gauss_newton_split, positive_curvature, projected_hessian, rescaled_split
from .curvature.metrics import UNDEFINED
from .functional import Weights, scale_params
from .statistics import relative_error, summarize

__all__ = [
    "ZoneBounds",
    "curvature_at",
    "curvature_map",
    "eq5_check",
    "dominance_range",
    "goldilocks_zone_bounds",
    "ratio",
    "ratio_grid",
    "term_relative_error",
    "zone_edges",
    "zone_interval",
]


def _positive_1d(name: str, values: Iterable[float]) -> np.ndarray:
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, float)
    arr = arr.reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must hold finite numbers > 0, got {arr.tolist()}")
    return arr


def ratio(alpha: float, temperature: float, degree: int) -> float:
    """The ratio :math:`r = \\alpha^L / T` that fixes the softmax output (Eq. 5)."""
    a, t = float(alpha), float(temperature)
    if not (a > 0 and t > 0 and math.isfinite(a) and math.isfinite(t)):
        raise ValueError(f"alpha and temperature must be > 0, got {alpha!r}, {temperature!r}")
    if int(degree) < 1:
        raise ValueError(f"degree must be >= 1, got {degree!r}")
    return a ** int(degree) / t


def ratio_grid(
    alphas: Sequence[float], temperatures: Sequence[float], degree: int, num: int
) -> np.ndarray:
    """``num`` log-spaced ratios covering every :math:`\\alpha^L/T` of the ``(alpha, T)`` grid."""
    a = _positive_1d("alphas", alphas)
    t = _positive_1d("temperatures", temperatures)
    if int(num) < 2:
        raise ValueError(f"num must be >= 2, got {num!r}")
    logs = degree * np.log10(a)[None, :] - np.log10(t)[:, None]
    return np.logspace(logs.min(), logs.max(), int(num))


def curvature_map(
    records: Sequence[Mapping],
    alphas: Sequence[float],
    temperatures: Sequence[float],
    *,
    degree: int,
    key: str = "hessian_positive_curvature",
    outside: str = "raise",
) -> dict[str, np.ndarray]:
    """Map curvature computed along the ratio :math:`r = \\alpha^L/T` onto an ``(alpha, T)`` grid.

    By Eq. 5 positive curvature (and local convexity) depend on ``(alpha, T)`` only through
    ``r``. The records (typically a sweep at ``alpha = 1`` over ``T = 1 / r``) give a curve
    ``c(r)`` (averaged over seeds); the map is ``c(alpha_j^L / T_i)``, linearly interpolated
    in ``log r``. Check it against points computed directly at their own ``(alpha, T)``:
    the map is a consequence of Eq. 5, not a measurement of it.

    Args:
        records: sweep records with ``alpha``, ``temperature`` and ``key``.
        alphas, temperatures: the grid's axes (``> 0``).
        degree: homogeneity degree ``L``.
        key: the record field to map.
        outside: what to do with grid points whose ratio lies outside the records' range:
            ``"raise"`` (ValueError) or ``"nan"`` (mask them; never extrapolate).

    Returns:
        ``{"alphas", "temperatures", "values" (len(T) x len(alpha)), "ratios" (the curve's
        r, sorted), "curve" (c(r))}``.

    Raises:
        ValueError: with ``outside="raise"``, a grid point's ratio lies outside the
            records' range of ``r``; fewer than two distinct ratios.
    """
    if outside not in ("raise", "nan"):
        raise ValueError(f"outside must be 'raise' or 'nan', got {outside!r}")
    a = _positive_1d("alphas", alphas)
    t = _positive_1d("temperatures", temperatures)
    rows = [
        {"r": ratio(rec["alpha"], rec["temperature"], degree), key: rec[key]} for rec in records
    ]
    curve = summarize(rows, key, by="r")
    r, c = curve["x"], curve["mean"]
    if r.size < 2:
        raise ValueError("curvature_map needs records at two or more distinct ratios alpha^L/T")
    grid = a[None, :] ** degree / t[:, None]
    lo, hi = r.min() * (1 - 1e-9), r.max() * (1 + 1e-9)
    inside = (grid >= lo) & (grid <= hi)
    if outside == "raise" and not inside.all():
        raise ValueError(
            f"the (alpha, T) grid needs ratios alpha^L/T in [{grid.min():.3g}, {grid.max():.3g}]"
            f" but the records cover only [{r.min():.3g}, {r.max():.3g}]; widen the ratio grid"
        )
    values = np.interp(np.log(np.clip(grid, r.min(), r.max())), np.log(r), c)
    values = np.where(inside, values, np.nan)
    return {"alphas": a, "temperatures": t, "values": values, "ratios": r, "curve": c,
            "inside": inside}


@dataclass(frozen=True)
class ZoneBounds:
    """Where a curvature curve stays above ``fraction`` of its peak, around the peak.

    Attributes:
        lower, upper: the crossings of ``threshold`` (interpolated linearly in ``log x``);
            ``None`` when the curve is still above the threshold at that end of the grid
            (the zone is open there).
        peak: the curve's maximum; peak_at: its ``x``.
        threshold: ``fraction * peak``; fraction: the stated fraction.
    """

    lower: float | None
    upper: float | None
    peak: float
    peak_at: float
    threshold: float
    fraction: float

    @property
    def closed(self) -> bool:
        """Whether the curve falls below the threshold on both sides of the peak."""
        return self.lower is not None and self.upper is not None

    @property
    def width_decades(self) -> float:
        """``log10(upper / lower)`` (NaN when open)."""
        if not self.closed:
            return float("nan")
        return math.log10(self.upper / self.lower)

    def describe(self, unit: str = "alpha", fmt: str = ".3g") -> str:
        lo = "open (grid edge)" if self.lower is None else format(self.lower, fmt)
        hi = "open (grid edge)" if self.upper is None else format(self.upper, fmt)
        return (f"{unit} in [{lo}, {hi}] (curvature >= {self.fraction:g} x peak "
                f"{self.peak:.3g} at {unit} = {self.peak_at:{fmt}})")


def _crossing(lx: np.ndarray, v: np.ndarray, i: int, j: int, thr: float) -> float:
    """``x`` where the segment from (lx[i], v[i]) to (lx[j], v[j]) crosses ``thr``."""
    w = (thr - v[i]) / (v[j] - v[i])
    return float(np.exp(lx[i] + w * (lx[j] - lx[i])))


def goldilocks_zone_bounds(
    x: Sequence[float], curvature: Sequence[float], fraction: float = 0.5
) -> ZoneBounds:
    """Boundaries of the Goldilocks zone: where curvature drops below ``fraction * peak``.

    Starting from the maximum of ``curvature`` the curve is followed to each side until
    it first falls below ``fraction * peak``; the crossing is interpolated linearly in
    ``log x``. NaN values count as below the threshold.

    Args:
        x: increasing positive grid (``alpha`` or ``T``).
        curvature: the curve on ``x`` (its peak must be > 0).
        fraction: in ``(0, 1)``.

    Example:
        >>> b = goldilocks_zone_bounds([0.1, 1, 10], [0.0, 1.0, 0.0], 0.5)
        >>> round(b.lower, 4), round(b.upper, 4)
        (0.3162, 3.1623)
    """
    xs = _positive_1d("x", x)
    v = np.asarray(curvature, float).reshape(-1)
    if v.shape != xs.shape:
        raise ValueError(f"x has {xs.size} values, curvature {v.size}")
    if np.any(np.diff(xs) <= 0):
        raise ValueError("x must be strictly increasing")
    if not 0 < float(fraction) < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    if not np.any(np.isfinite(v)):
        raise ValueError("curvature has no finite value")
    v = np.where(np.isfinite(v), v, -np.inf)
    k = int(np.argmax(v))
    peak = float(v[k])
    if peak <= 0:
        raise ValueError(f"the curve's peak must be > 0 to define a zone, got {peak}")
    thr = float(fraction) * peak
    lx = np.log(xs)
    lower = upper = None
    for i in range(k - 1, -1, -1):
        if v[i] < thr:
            lower = _crossing(lx, np.where(np.isfinite(v), v, thr - 1.0), i, i + 1, thr)
            break
    for i in range(k + 1, xs.size):
        if v[i] < thr:
            upper = _crossing(lx, np.where(np.isfinite(v), v, thr - 1.0), i - 1, i, thr)
            break
    return ZoneBounds(lower, upper, peak, float(xs[k]), thr, float(fraction))


def dominance_range(
    alphas: Sequence[float], g_norm: Sequence[float], h_norm: Sequence[float]
) -> list[tuple[float, float]]:
    """Intervals of ``alpha`` where ``||G||_2 >= ||H-term||_2`` (Eq. 6).

    Crossings are interpolated linearly in ``log alpha`` on ``log(||G|| / ||H||)``; an
    interval reaching the end of the grid ends at the grid's first/last ``alpha``.
    A zero G-term norm (softmax collapsed) counts as not dominating.

    Returns:
        A list of ``(lower, upper)`` pairs, increasing; empty when the G-term never
        dominates.

    Example:
        >>> [tuple(round(v, 4) for v in iv) for iv in
        ...  dominance_range([0.01, 0.1, 1, 10], [1e-4, 1e-1, 1, 1e-3], [1e-2, 1e-2, 1e-1, 1])]
        [(0.0464, 1.7783)]
    """
    a = _positive_1d("alphas", alphas)
    g = np.asarray(g_norm, float).reshape(-1)
    h = np.asarray(h_norm, float).reshape(-1)
    if not (g.shape == h.shape == a.shape):
        raise ValueError("alphas, g_norm and h_norm must have the same length")
    if np.any(np.diff(a) <= 0):
        raise ValueError("alphas must be strictly increasing")
    if np.any(h <= 0) or np.any(g < 0) or not np.all(np.isfinite(h)):
        raise ValueError("norms must be finite, H-term norm > 0 and G-term norm >= 0")
    with np.errstate(divide="ignore"):
        s = np.log(np.where(g > 0, g, 0.0) / h)  # -inf where G vanished
    s = np.where(np.isfinite(s), s, -745.0)
    la = np.log(a)
    inside = s >= 0
    out: list[tuple[float, float]] = []
    start = None
    for i in range(a.size):
        if inside[i] and start is None:
            if i == 0:
                start = float(a[0])
            else:
                w = (0 - s[i - 1]) / (s[i] - s[i - 1])
                start = float(np.exp(la[i - 1] + w * (la[i] - la[i - 1])))
        if not inside[i] and start is not None:
            w = (0 - s[i - 1]) / (s[i] - s[i - 1])
            out.append((start, float(np.exp(la[i - 1] + w * (la[i] - la[i - 1])))))
            start = None
    if start is not None:
        out.append((start, float(a[-1])))
    return out


def curvature_at(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    R: torch.Tensor,
    alpha: float,
    temperature: float,
) -> float:
    """Positive curvature of ``R^T H R`` computed directly at ``alpha * theta`` and ``T``.

    No use of Eq. 5: the Hessian is differentiated at the scaled parameters
    (``scale_params``) with the loss at temperature ``T``.
    """
    H = projected_hessian(model, scale_params(params, alpha), X, y, R, temperature=temperature)
    return positive_curvature(H)


def term_relative_error(pred: torch.Tensor, ref: torch.Tensor) -> float:
    """Frobenius relative error ``||pred - ref|| / ||ref||`` of a predicted curvature term.

    Where the direct term ``ref`` is exactly zero (a softmax collapsed to one-hot in float
    arithmetic makes ``G`` vanish) a relative error exists only if ``pred`` is zero too:
    then ``0.0`` (exact agreement); otherwise
    :data:`goldilocks_nb.curvature.metrics.UNDEFINED` (``nan``, the engine's convention for
    a quantity with no value), which fails every ``error < tol`` test.
    """
    if float(torch.linalg.matrix_norm(ref)) == 0.0:
        return 0.0 if float(torch.linalg.matrix_norm(pred)) == 0.0 else UNDEFINED
    return relative_error(pred, ref)


def eq5_check(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    R: torch.Tensor,
    points: Sequence[tuple[float, float]],
    *,
    degree: int | None = None,
    group_size: int = 1,
) -> list[dict]:
    """Compare the G-term and H-term at ``(alpha, T)`` with Eq. 5's prediction (claim C3).

    Direct: :func:`~goldilocks_nb.curvature.gauss_newton_split` at ``alpha * theta`` and
    temperature ``T``. Predicted by the engine's Eq. 5 path
    (:func:`~goldilocks_nb.curvature.rescaled_split`), from quantities at ``theta`` only:
    ``alpha^(2L-2) / T^2 * G(p')`` and ``alpha^(L-2) / T * H(p')`` with
    ``p' = softmax(alpha^L z / T)``, ``G(p) = (1/N) sum (J R)^T [diag p - p p^T] (J R)`` and
    ``H(p) = R^T (1/N) sum_k (p_k - 1{y = k}) nabla^2 z_k R``.

    ``group_size`` (distinct ratios per forward tangent pass of the prediction, see
    :func:`~goldilocks_nb.curvature.rescaled_split`) changes the speed, not the numbers.

    Returns:
        One dict per point: ``alpha``, ``temperature``, ``g_rel_error``,
        ``h_rel_error`` (Frobenius, relative to the direct term), ``g_norm``, ``h_norm``
        (spectral norms of the direct terms). Where the direct term is exactly zero the
        error is 0 if the prediction is exactly zero too, ``UNDEFINED`` (``nan``)
        otherwise (:func:`term_relative_error`).
    """
    pts = [(float(a), float(t)) for a, t in points]
    if not pts:
        raise ValueError("eq5_check needs at least one (alpha, T) point")
    p64 = {k: v.to(R.dtype) for k, v in params.items()}
    X = X.to(R.dtype)
    predicted = rescaled_split(model, p64, X, y, R, pts, degree=degree,  # Eq. 5, from theta
                               group_size=group_size)
    out = []
    for (a, t), (G_pred, H_pred) in zip(pts, predicted):
        G_dir, H_dir = gauss_newton_split(model, scale_params(p64, a), X, y, R, temperature=t)
        out.append({
            "alpha": a,
            "temperature": t,
            "g_rel_error": term_relative_error(G_pred, G_dir),
            "h_rel_error": term_relative_error(H_pred, H_dir),
            "g_norm": float(torch.linalg.matrix_norm(G_dir, ord=2)),
            "h_norm": float(torch.linalg.matrix_norm(H_dir, ord=2)),
        })
    return out


def zone_edges(
    alphas: Sequence[float],
    g_norm: Sequence[float],
    h_norm: Sequence[float],
    curvature: Sequence[float],
    fraction: float = 0.5,
) -> dict[str, float | None]:
    """The zone's edges on one curve over ``alpha`` (Section 3, Eq. 6, Figure 2).

    Two definitions of the chapter side by side: ``lower``/``upper`` where the Hessian's
    positive curvature falls below ``fraction`` of its peak
    (:func:`goldilocks_zone_bounds`), and ``dom_lower``/``dom_upper``, the span of the
    alphas where ``||G||_2 >= ||H-term||_2`` (:func:`dominance_range`): the paper's "strip
    ... where the G-term is dominant" (Fig. 8 caption). Where the ratio hovers near 1
    (small projection dimension ``d``) the dominance set can split into several pieces;
    the span covers them all (``dom_pieces`` counts them), so the edge is not decided by
    which piece holds the curvature peak. ``None``: open at that end of the grid, or no
    G-dominated alpha at all (then ``dom_found`` is false).
    """
    a = _positive_1d("alphas", alphas)
    zone = goldilocks_zone_bounds(a, curvature, fraction)
    dom = dominance_range(a, g_norm, h_norm)
    lo = hi = None
    if dom:
        lo, hi = dom[0][0], dom[-1][1]
        lo = None if lo <= a[0] else lo
        hi = None if hi >= a[-1] else hi
    return {"lower": zone.lower, "upper": zone.upper, "dom_lower": lo, "dom_upper": hi,
            "dom_found": bool(dom), "dom_pieces": len(dom)}


def zone_interval(
    table: Sequence[Mapping], n: int, degree: int, *, edge: str = "dom"
) -> dict:
    """The zone ``(lower, upper)`` of one model at sample size ``n``, from a measured table.

    The zone's upper edge depends on the number of images the Hessian averages over
    (chapter 01, claim B1). ``table`` holds one row per measured ``N`` with the keys of
    :func:`zone_edges` (the mean curve over subspaces) and ``n``. At a measured ``N`` the
    measured edges are returned; between measured sizes, those of the largest measured
    ``N <= n``; beyond the largest measured ``N`` the upper edge is extrapolated as
    ``upper(N_max) (n / N_max)^(1/L)`` (the lower edge held), and ``how`` says so.

    Args:
        table: rows ``{"n", "lower", "upper", "dom_lower", "dom_upper", ...}``.
        n: the sample size a claim is about (e.g. the full training split).
        degree: the model's homogeneity degree ``L``.
        edge: ``"dom"`` (G-term dominance, Eq. 6) or ``"curvature"`` (fraction of peak).

    Returns:
        ``{"lower", "upper", "n", "n_measured", "how"}``.
    """
    if edge not in ("dom", "curvature"):
        raise ValueError(f"edge must be 'dom' or 'curvature', got {edge!r}")
    rows = sorted(table, key=lambda r: r["n"])
    if not rows:
        raise ValueError("zone_interval needs a non-empty table")
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    lo_key, hi_key = ("dom_lower", "dom_upper") if edge == "dom" else ("lower", "upper")
    below = [r for r in rows if r["n"] <= n] or rows[:1]
    row = below[-1]
    lower, upper = row[lo_key], row[hi_key]
    if row["n"] == n:
        how = f"measured at N = {n:,}"
    elif n > rows[-1]["n"] and upper is not None:
        upper = upper * (n / row["n"]) ** (1.0 / int(degree))
        how = f"upper edge extrapolated as N^(1/{int(degree)}) from N = {row['n']:,}"
    else:
        how = f"measured at N = {row['n']:,} (nearest measured N <= {n:,})"
    return {"lower": lower, "upper": upper, "n": int(n), "n_measured": int(row["n"]),
            "how": how}
