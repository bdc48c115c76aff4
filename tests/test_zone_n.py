"""The zone against N up to the full split (goldilocks_nb.zone_n): arguments, cache, edges."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from goldilocks_nb.zone_n import edges_table, zone_against_n, zone_key

ROOT = Path(__file__).resolve().parents[1]
ARGS = dict(n=[20, 60], alphas=[0.3, 1.0, 3.0, 10.0, 30.0], full_from=3.0, n_low=20, d=2,
            seeds=[0, 1, 2])


@pytest.mark.parametrize("change, match", [
    (dict(n=[60, 20]), "n must"),
    (dict(n_low=30), "n_low"),
    (dict(alphas=[0.3, 1.0, 3.0]), "alphas"),
    (dict(full_from=0.1), "full_from"),
    (dict(d=0), "d must"),
    (dict(seeds=[0, 0]), "seeds"),
    (dict(dtype="float32"), "dtype"),
])
def test_bad_arguments_are_refused_before_any_data_is_loaded(tmp_path, change, match):
    args = {**ARGS, **change}
    with pytest.raises(ValueError, match=match):
        zone_against_n("lenet-300-100", "no-such-dataset", cache_dir=tmp_path, **args)


def test_one_cached_computation_per_key_with_every_seed_and_n(tmp_path):
    calls = []
    res = zone_against_n("lenet-300-100", "fashion-mnist-embedded", cache_dir=tmp_path,
                         progress=lambda m, done, total: calls.append(done), **ARGS)
    assert calls and calls[-1] == 60
    again = zone_against_n("lenet-300-100", "fashion-mnist-embedded", cache_dir=tmp_path,
                           progress=lambda m, done, total: calls.append(-1), **ARGS)
    assert -1 not in calls  # read from the cache: nothing computed
    assert again["seconds"] == res["seconds"] and len(list(tmp_path.glob("zone-n-*"))) == 1
    assert sorted(res["per_seed"]) == [0, 1, 2]
    for rows in res["per_seed"].values():
        # small alphas only up to n_low, large ones at every N
        assert sorted((r["n"], r["alpha"]) for r in rows) == sorted(
            [(20, a) for a in ARGS["alphas"]] + [(60, a) for a in (3.0, 10.0, 30.0)])
        assert all(math.isfinite(r["g_norm"]) and r["h_norm"] > 0 for r in rows)
    # the subspaces differ, so the three seeds' numbers differ
    g = {s: [r["g_norm"] for r in rows] for s, rows in res["per_seed"].items()}
    assert g[0] != g[1] != g[2]
    assert res["min_gap"][1] <= res["min_gap"][0]
    assert res["tol"] == 1e-20 and res["full_n"] >= 60 and res["cpu_seconds"] > 0


def test_stacked_zone_equals_one_seed_alone(tmp_path):
    one = zone_against_n("lenet-300-100", "fashion-mnist-embedded", cache_dir=tmp_path / "a",
                         **{**ARGS, "seeds": [1]})
    three = zone_against_n("lenet-300-100", "fashion-mnist-embedded",
                           cache_dir=tmp_path / "b", **ARGS)
    for r1, r3 in zip(one["per_seed"][1], three["per_seed"][1]):
        assert (r1["n"], r1["alpha"]) == (r3["n"], r3["alpha"])
        for k in ("g_norm", "h_norm", "curvature"):
            assert r1[k] == pytest.approx(r3[k], rel=1e-9, abs=1e-12 * max(1.0, abs(r1[k])))


def _rows(n, alphas, upper, lower=0.5):
    """A closed-form curve: G dominates on [lower, upper] (log-linear crossings)."""
    out = []
    for a in alphas:
        g = 1.0 if lower <= a <= upper else 0.01
        out.append(dict(n=n, alpha=a, g_norm=g, h_norm=0.1, curvature=1.0 if g == 1 else 0.0,
                        near_tie=0, g_bound=0.0, h_mass=0.0))
    return out


def test_edges_table_reads_small_alphas_at_n_low_above_it():
    alphas = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
    res = dict(n=[10, 100], alphas=alphas, full_from=3.0, n_low=10, seeds=[0],
               min_gap=[1e-2, 1e-4],
               per_seed={0: _rows(10, alphas, 3.0) + _rows(100, [3.0, 10.0, 30.0], 10.0)})
    et = edges_table(res, 0.5, 2)
    t10, t100 = et["table"]
    assert not t10["mixed"] and t100["mixed"]
    assert 3.0 < t10["dom_upper"] < 10.0 and 10.0 < t100["dom_upper"] < 30.0
    assert t100["dom_lower"] == t10["dom_lower"]  # the lower edge is read at n_low
    assert [r["alpha"] for r in t100["curve"]] == alphas
    assert t100["gap_alpha"] == pytest.approx(100.0)
    assert et["per_seed"][0][1]["dom_upper"] == t100["dom_upper"]


def test_key_names_everything_that_fixes_the_result():
    k = zone_key("lenet-5", "cifar10", n=[1, 2], alphas=[1.0], full_from=1.0, n_low=1, d=2,
                 seeds=[0], init_seed=0, data_seed=0, dtype="float64")
    assert set(k) == {"model", "dataset", "n", "alphas", "full_from", "n_low", "d", "seeds",
                      "init_seed", "data_seed", "dtype", "tol"}


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_chapters_01_and_04_ask_for_the_same_lenet5_zone(profile):
    """Chapter 04's C20 reads chapter 01's full-N zone: same arguments, one cache entry."""
    from goldilocks_nb.book import check_profile, load_profile
    from goldilocks_nb.chapters import optimization_regimes as c4
    from goldilocks_nb.chapters import rescaling_symmetry as c1

    prof = load_profile(ROOT, profile)
    p = check_profile(ROOT, prof, ["01_rescaling_symmetry", "04_optimization_regimes"])
    p1, p4 = p["01_rescaling_symmetry"], p["04_optimization_regimes"]
    assert c1.zone_arguments(p1, "lenet-5") == c4.full_zone_arguments(p4)
    assert c1.zone_dataset(p1, "lenet-5") == p4.datasets[c4.MODELS.index("lenet-5")]
    if profile != "smoke":  # the claim is about all training images
        assert p1.zone_n["lenet-5"][-1] == 50_000 and p1.zone_n["lenet-300-100"][-1] == 60_000

