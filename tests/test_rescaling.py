"""Tests of the (alpha, T) map, zone bounds, power-law fits and dominance ranges."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from goldilocks_nb.curvature import random_subspace
from goldilocks_nb.rescaling import (
    curvature_at,
    curvature_map,
    dominance_range,
    eq5_check,
    goldilocks_zone_bounds,
    ratio,
    ratio_grid,
)
from goldilocks_nb.statistics import log_distance, loglog_slope, relative_error, summarize


def bump(r):
    """A synthetic curvature curve of log r: peak 2 at r = 1."""
    return 2.0 * np.exp(-np.log10(r) ** 2)


def records_on_ratios(ratios, seeds=(0, 1)):
    # alpha = 1, T = 1 / r; seed s adds +-0.1 so the mean is the bump itself
    return [
        {"alpha": 1.0, "temperature": 1.0 / r, "seed": s,
         "hessian_positive_curvature": float(bump(r)) + (0.1 if s else -0.1)}
        for s in seeds for r in ratios
    ]


def test_ratio():
    assert ratio(2.0, 8.0, 3) == pytest.approx(1.0)
    assert ratio(0.1, 1.0, 5) == pytest.approx(1e-5)
    with pytest.raises(ValueError):
        ratio(0.0, 1.0, 3)
    with pytest.raises(ValueError):
        ratio(1.0, -1.0, 3)


def test_ratio_grid_covers_the_grid():
    alphas, temps = [0.1, 1, 10], [1e-2, 1, 1e2]
    r = ratio_grid(alphas, temps, 3, 9)
    assert r[0] == pytest.approx(1e-5) and r[-1] == pytest.approx(1e5)
    assert np.allclose(np.diff(np.log10(r)), 10 / 8)


def test_summarize_mean_min_max():
    recs = records_on_ratios([0.1, 1.0, 10.0])
    s = summarize(recs, "hessian_positive_curvature", by="temperature")
    assert np.allclose(s["x"], [0.1, 1.0, 10.0])
    assert np.allclose(s["mean"], bump(1 / s["x"]))
    assert np.allclose(s["max"] - s["min"], 0.2)
    assert list(s["count"]) == [2, 2, 2]


def test_summarize_ignores_nan():
    recs = [{"alpha": 1.0, "k": float("nan")}, {"alpha": 1.0, "k": 3.0},
            {"alpha": 2.0, "k": float("nan")}]
    s = summarize(recs, "k")
    assert s["mean"][0] == 3.0 and math.isnan(s["mean"][1])


def test_curvature_map_is_a_function_of_the_ratio():
    L = 3
    alphas = np.logspace(-1, 1, 5)
    temps = np.logspace(-3, 3, 7)
    ratios = ratio_grid(alphas, temps, L, 400)
    out = curvature_map(records_on_ratios(ratios), alphas, temps, degree=L)
    assert out["values"].shape == (7, 5)
    expected = bump(alphas[None, :] ** L / temps[:, None])
    assert np.max(np.abs(out["values"] - expected)) < 5e-3
    # on the line T = alpha^L the map equals its value at (1, 1)
    on_line = curvature_map(records_on_ratios(ratios), alphas, alphas**L, degree=L)["values"]
    assert np.allclose(np.diag(on_line), bump(1.0), atol=1e-3)


def test_curvature_map_refuses_to_extrapolate():
    with pytest.raises(ValueError, match="widen the ratio grid"):
        curvature_map(records_on_ratios([0.1, 1.0, 10.0]), [1.0, 10.0], [1.0], degree=3)
    with pytest.raises(ValueError):
        curvature_map(records_on_ratios([1.0]), [1.0], [1.0], degree=3)
    masked = curvature_map(records_on_ratios([0.1, 1.0, 10.0]), [1.0, 10.0], [1.0], degree=3,
                           outside="nan")
    assert masked["values"][0, 0] == pytest.approx(bump(1.0))
    assert np.isnan(masked["values"][0, 1]) and not masked["inside"][0, 1]
    with pytest.raises(ValueError):
        curvature_map(records_on_ratios([0.1, 1.0]), [1.0], [1.0], degree=3, outside="clip")


def test_zone_bounds_of_a_bump():
    x = np.logspace(-3, 3, 601)
    # 2 exp(-(log10 x)^2) >= 1  <=>  |log10 x| <= sqrt(ln 2)
    b = goldilocks_zone_bounds(x, bump(x), fraction=0.5)
    edge = math.sqrt(math.log(2))
    assert b.closed
    assert math.log10(b.lower) == pytest.approx(-edge, abs=1e-4)
    assert math.log10(b.upper) == pytest.approx(edge, abs=1e-4)
    assert b.peak == pytest.approx(2.0) and b.peak_at == pytest.approx(1.0)
    assert b.threshold == pytest.approx(1.0)
    assert b.width_decades == pytest.approx(2 * edge, abs=2e-4)
    assert "alpha in [" in b.describe()


def test_zone_bounds_open_end_and_nan():
    x = [0.1, 1.0, 10.0, 100.0]
    b = goldilocks_zone_bounds(x, [0.0, 1.0, 0.9, 0.8], fraction=0.5)
    assert b.upper is None and b.lower is not None and not b.closed
    assert math.isnan(b.width_decades)
    b2 = goldilocks_zone_bounds(x, [0.0, 1.0, float("nan"), 0.8], fraction=0.5)
    assert b2.upper is not None and b2.upper <= 10.0


@pytest.mark.parametrize(
    "args",
    [([1, 2], [1, 2, 3], 0.5), ([2, 1], [1, 2], 0.5), ([1, 2], [1, 2], 1.5),
     ([1, 2], [-1, -2], 0.5), ([0, 1], [1, 2], 0.5)],
)
def test_zone_bounds_rejects_bad_input(args):
    with pytest.raises(ValueError):
        goldilocks_zone_bounds(*args)


def test_loglog_slope_recovers_power_law():
    x = np.logspace(-3, 0, 10)
    y = 7.0 * x**4 + 1e-3 * (x > 0.5)  # break the law above 0.5
    assert loglog_slope(x, y, x < 0.5) == pytest.approx(4.0, abs=1e-9)
    assert loglog_slope([1, 10], [2, 0.2]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        loglog_slope([1.0], [1.0])
    with pytest.raises(ValueError):
        loglog_slope([1, 2], [1, 0])
    with pytest.raises(ValueError):
        loglog_slope([1, 2, 3], [1, 2, 3], [True, False, False])


def test_dominance_range_crossings():
    a = np.logspace(-2, 2, 41)
    # ||G|| = a^4, ||H|| = a: G dominates for a >= 1; then G collapses (0) above a = 10
    g = np.where(a <= 10.0 + 1e-9, a**4, 0.0)
    h = a.copy()
    out = dominance_range(a, g, h)
    assert len(out) == 1
    lo, hi = out[0]
    assert lo == pytest.approx(1.0, rel=1e-9)
    assert 10.0 <= hi <= a[a > 10][0]


def test_dominance_range_edges_and_empty():
    a = [0.1, 1.0, 10.0]
    assert dominance_range(a, [2, 2, 2], [1, 1, 1]) == [(0.1, 10.0)]
    assert dominance_range(a, [0.5, 0.5, 0.5], [1, 1, 1]) == []
    two = dominance_range([1, 2, 3, 4, 5], [2, 0.5, 2, 0.5, 2], [1, 1, 1, 1, 1])
    assert len(two) == 3
    with pytest.raises(ValueError):
        dominance_range(a, [1, 1], [1, 1, 1])
    with pytest.raises(ValueError):
        dominance_range(a, [1, 1, 1], [1, 0, 1])


def test_log_distance_and_relative_error():
    assert log_distance(1.0, 100.0) == pytest.approx(2.0)
    assert log_distance(None, 1.0) == float("inf")
    assert relative_error(np.array([1.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        relative_error(np.zeros(2), np.zeros(2))


# ----------------------------------------------------------------- direct checks (engine)


@pytest.fixture
def tiny(tiny_net):
    """The shared tiny network of ``conftest.tiny_net`` (degree 3) with a 6-column ``R``."""
    model, params, X, y = tiny_net
    R = random_subspace(sum(v.numel() for v in params.values()), 6, seed=0)
    return model, params, X, y, R


@pytest.mark.parametrize("alpha", [0.1, 0.7, 3.0])
def test_curvature_invariant_on_the_line(tiny, alpha):
    model, params, X, y, R = tiny
    ref = curvature_at(model, params, X, y, R, 1.0, 1.0)
    assert curvature_at(model, params, X, y, R, alpha, alpha**3) == pytest.approx(ref, rel=1e-9)
    # off the line it changes
    assert abs(curvature_at(model, params, X, y, R, alpha, 1.0) - ref) > 1e-6


def test_eq5_check_is_rounding_level(tiny):
    model, params, X, y, R = tiny
    rows = eq5_check(model, params, X, y, R, [(0.5, 1.0), (2.0, 1.0), (2.0, 0.3), (0.2, 5.0)])
    assert len(rows) == 4
    for row in rows:
        assert row["g_rel_error"] < 1e-10 and row["h_rel_error"] < 1e-10
        assert row["g_norm"] > 0 and row["h_norm"] > 0
    with pytest.raises(ValueError):
        eq5_check(model, params, X, y, R, [])


def test_term_relative_error_on_a_zero_direct_term():
    """Frobenius relative error; a zero direct term: 0 when the prediction is zero too,
    UNDEFINED (nan) otherwise (no relative error exists; it fails any error < tol)."""
    import math

    from goldilocks_nb.rescaling import term_relative_error

    ref = torch.tensor([[3.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
    pred = ref + torch.tensor([[0.0, 0.5], [0.5, 0.0]], dtype=torch.float64)
    assert term_relative_error(pred, ref) == pytest.approx(math.sqrt(0.5) / 5.0)
    zero = torch.zeros(2, 2, dtype=torch.float64)
    assert term_relative_error(zero, zero) == 0.0
    assert math.isnan(term_relative_error(pred, zero))


def test_eq5_check_grouped_prediction_gives_the_same_numbers(tiny):
    model, params, X, y, R = tiny
    pts = [(0.5, 1.0), (2.0, 1.0), (2.0, 0.3), (0.2, 5.0)]
    one, grouped = (eq5_check(model, params, X, y, R, pts, group_size=g) for g in (1, 4))
    for a, b in zip(one, grouped):
        assert a["alpha"] == b["alpha"] and a["temperature"] == b["temperature"]
        for k in ("g_rel_error", "h_rel_error", "g_norm", "h_norm"):
            assert b[k] == pytest.approx(a[k], rel=1e-9, abs=1e-15)
