"""Chapter 01 (rescaling symmetry): declared parameters and every branch of C1-C5's verdicts."""

import math
from pathlib import Path

import pytest

from goldilocks_nb.chapters import rescaling_symmetry as ch
from goldilocks_nb.contract import INCONCLUSIVE, ParameterError
from notebook_cases import (
    assert_no_inline_comments,
    assert_thin_notebook,
    notebook_parameters,
)

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_rescaling_symmetry.ipynb"
M1, M2 = "lenet-300-100", "lenet-5"



def test_parameters_cell_equals_defaults():
    values = notebook_parameters(NOTEBOOK)
    assert set(values) == set(ch.Params.names())
    assert ch.Params.from_mapping(values) == ch.Params()
    defaults = ch.Params().as_dict()
    for k, v in values.items():
        assert v == defaults[k], k


def test_parameters_cell_has_no_inline_comments():
    assert_no_inline_comments(NOTEBOOK)


@pytest.mark.parametrize("bad, name", [
    ({"alpha_grid": {M1: [0.01, 100.0, 9]}}, "alpha_grid"),
    ({"alpha_grid": {M1: [2.0, 100.0, 9], M2: [0.05, 20.0, 9]}}, "alpha_grid"),
    ({"alpha_grid": {M1: [0.01, 100.0, 3], M2: [0.05, 20.0, 9]}}, "alpha_grid"),
    ({"alpha_grid": {M1: [0.01, 100.0, 9.5], M2: [0.05, 20.0, 9]}}, "alpha_grid"),
    ({"alpha_grid": {M1: [100.0, 0.01, 9], M2: [0.05, 20.0, 9]}}, "alpha_grid"),
    ({"ratio_grid": [2.0, 1e4, 9]}, "ratio_grid"),
    ({"seeds": [0.5]}, "seeds"),
    ({"init_seed": 1.0}, "init_seed"),
    ({"data_seed": -1}, "data_seed"),
    ({"seeds": []}, "seeds"),
    ({"models": ["mlp", M2]}, "models"),
    ({"datasets": ["mnist", "cifar10"]}, "datasets"),
    ({"datasets": ["cifar10"]}, "datasets"),
    ({"n_samples": {M1: 64}}, "n_samples"),
    ({"n_samples": {M1: 1, M2: 32}}, "n_samples"),
    ({"zone_fraction": 1.0}, "zone_fraction"),
    ({"check_alphas": [0.1, -1.0]}, "check_alphas"),
    ({"check_temperatures": []}, "check_temperatures"),
    ({"gd_lr": 0.0}, "gd_lr"),
    ({"d": 0}, "d"),
    ({"hutchinson_probes": 1}, "hutchinson_probes"),
    ({"hutchinson_vs_temperature": 1}, "hutchinson_vs_temperature"),
    ({"dtype": "float16"}, "dtype"),
    ({"tolerance_decades": float("nan")}, "tolerance_decades"),
])
def test_bad_parameters_are_refused(bad, name):
    with pytest.raises(ParameterError, match=name):
        ch.Params(**bad)


def test_unknown_key_is_refused():
    with pytest.raises(ParameterError, match="alpha_grd.*profiles/default.yml"):
        ch.Params.from_mapping({"alpha_grd": [0.1, 10, 5]}, source="profiles/default.yml")


def test_d_larger_than_parameter_count_is_refused(tmp_path):
    """load() checks d, check_d and zone_d against each model's P (the shared
    models.check_subspace_dimension) before writing anything."""
    with pytest.raises(ParameterError, match=r"'d' = 100000: must be <= .*P = 61770 of lenet-5"):
        ch.load(ch.Params(d=100_000, results_dir=str(tmp_path / "r")))
    with pytest.raises(ParameterError, match=r"'check_d' = 100000.*of lenet-5"):
        ch.load(ch.Params(check_d=100_000, results_dir=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()


def test_rounding_tolerance_follows_dtype():
    assert ch.Params().rounding_tol == 1e-8
    assert ch.Params(dtype="float32").rounding_tol == 1e-3


# ---- C1
def c1_numbers(line=1e-15, mapd=2e-15, closed=True):
    return {M1: dict(reference=2.168, line_deviation=1e-16, map_deviation=1e-16,
                     zone_T_closed=True, zone_alpha_closed=True),
            M2: dict(reference=1.505, line_deviation=line, map_deviation=mapd,
                     zone_T_closed=closed, zone_alpha_closed=True)}


def test_c1_reproduced():
    v = ch.verdict_c1(c1_numbers(), 1e-8)
    assert v.verdict == "reproduced" and v.why == ""
    for m, numbers in c1_numbers().items():
        assert m in v.measured
        assert {k: v.values[m][k] for k in numbers} == numbers


def test_c1_partly_when_zone_along_t_open():
    v = ch.verdict_c1(c1_numbers(closed=False), 1e-8)
    assert v.verdict == "partly" and v.why.endswith("for: lenet-5")


@pytest.mark.parametrize("line, mapd", [(3e-6, 1e-16), (1e-16, 3e-6)])
def test_c1_not_reproduced_when_invariance_fails(line, mapd):
    v = ch.verdict_c1(c1_numbers(line=line, mapd=mapd, closed=False), 1e-8)
    assert v.verdict == "not reproduced"
    assert "lenet-5" in v.why and "3.0e-06" in v.why and "1e-08" in v.why
    assert "lenet-300-100" not in v.why


# ---- C2
def c2_numbers(dev=1e-16, decreased=True):
    return {M1: dict(max_deviation=0.0, max_loss_difference=0.0, loss_decreased=True),
            M2: dict(max_deviation=dev, max_loss_difference=1e-17, loss_decreased=decreased)}


def test_c2_reproduced():
    v = ch.verdict_c2(c2_numbers(), steps=20, alphas=[0.1, 2.0])
    assert v.verdict == "reproduced" and v.why == ""
    assert v.values == c2_numbers()
    assert "20 steps" in v.measured


def test_c2_not_reproduced_on_deviation():
    v = ch.verdict_c2(c2_numbers(dev=2e-9), steps=20, alphas=[0.1])
    assert v.verdict == "not reproduced" and "lenet-5" in v.why and "lenet-300-100" not in v.why
    assert v.values[M2]["max_deviation"] == 2e-9


def test_c2_not_reproduced_when_loss_does_not_move():
    v = ch.verdict_c2(c2_numbers(decreased=False), steps=20, alphas=[0.1])
    assert v.verdict == "not reproduced" and "did not decrease" in v.why


# ---- C3
def test_c3_branches():
    good = {M1: dict(g_rel_error=1e-15, h_rel_error=2e-15, points=12),
            M2: dict(g_rel_error=0.0, h_rel_error=3e-14, points=12)}
    v = ch.verdict_c3(good, 1e-8)
    assert v.verdict == "reproduced" and v.why == ""
    assert v.values == good
    bad = dict(good, **{M2: dict(g_rel_error=0.0, h_rel_error=0.02, points=12)})
    v = ch.verdict_c3(bad, 1e-8)
    assert v.verdict == "not reproduced" and v.values[M2]["h_rel_error"] == 0.02
    assert "lenet-5" in v.why and "lenet-300-100" not in v.why and "undefined" not in v.why
    # the tolerance decides: the same numbers pass a looser one
    assert ch.verdict_c3(bad, 0.05).verdict == "reproduced"


def test_c3_undefined_relative_error_fails_wherever_it_stands():
    """A point whose direct term is exactly zero but whose prediction is not has no relative
    error (rescaling.term_relative_error gives nan); C3 must fail on it, whatever its place
    among the points (max() alone would drop a nan that is not first)."""
    nan = float("nan")
    ok, undefined = dict(g_rel_error=1e-15, h_rel_error=0.0), dict(g_rel_error=nan, h_rel_error=0.0)
    for rows in ([ok, undefined], [undefined, ok]):
        c3 = ch.measure_c3({M1: rows})
        assert math.isnan(c3[M1]["g_rel_error"]) and c3[M1]["h_rel_error"] == 0.0
        v = ch.verdict_c3(c3, 1e-8)
        assert v.verdict == "not reproduced" and "undefined" in v.why
    for g, h in ((nan, 0.0), (0.0, nan)):
        v = ch.verdict_c3({M1: dict(g_rel_error=g, h_rel_error=h, points=3)}, 1e-8)
        assert v.verdict == "not reproduced"
    assert ch.measure_c3({M1: [dict(g_rel_error=1e-9, h_rel_error=0.0),
                               dict(g_rel_error=3e-9, h_rel_error=1e-12)]})[M1] == {
        "g_rel_error": 3e-9, "h_rel_error": 1e-12, "points": 2}


# ---- C4
def c4_model(**failed):
    checks = dict(zone_closed=True, dominance_matches_zone=True, slopes_match=True,
                  g_collapses=True, g_curvature_largest_at_small_alpha=True)
    checks.update({k: False for k in failed})
    return dict(zone=(0.478, 3.4), peak=2.6, peak_at=1.0, dominance=(0.764, 4.17),
                gap_decades=0.2, slope_g=4.0, slope_h=1.0, fit_points=3,
                g_collapse_ratio=1e-20, checks=checks, curv="not recorded")


DEGREES = {M1: 3, M2: 5}


def test_c4_reproduced():
    v = ch.verdict_c4({M1: c4_model(), M2: c4_model()}, DEGREES)
    assert v.verdict == "reproduced" and v.why == ""
    assert v.values[M1]["zone"] == (0.478, 3.4) and v.values[M2]["slope_g"] == 4.0
    # the predicted slopes 2L - 2 and L - 2 from each model's degree (L = 3 and 5)
    assert "(pred. 4)" in v.measured and "(pred. 1)" in v.measured
    assert "(pred. 8)" in v.measured and "(pred. 3)" in v.measured
    assert "curv" not in v.values[M1]


def test_c4_partly_when_only_secondary_checks_fail():
    v = ch.verdict_c4({M1: c4_model(g_collapses=True), M2: c4_model(dominance_matches_zone=1)},
                      DEGREES)
    assert v.verdict == "partly"
    assert v.why == "failed checks: lenet-300-100: g_collapses, lenet-5: dominance_matches_zone"


@pytest.mark.parametrize("core", ["zone_closed", "slopes_match"])
def test_c4_not_reproduced_when_core_fails(core):
    m = c4_model(**{core: True})
    m["dominance"] = None
    m["zone"] = (None, 3.4)
    v = ch.verdict_c4({M1: c4_model(), M2: m}, DEGREES)
    assert v.verdict == "not reproduced" and f"lenet-5: {core}" in v.why
    assert v.values[M2]["zone"] == (None, 3.4) and v.values[M2]["dominance"] is None


# ---- C5
def c5_model(agree=True):
    gaps = (0.09, 0.12) if agree else (0.09, math.inf)
    return dict(projected=(0.478, 3.4), hutchinson=(0.593, 2.56 if agree else None),
                gaps_decades=gaps, agree=agree, zones="not recorded")


@pytest.mark.parametrize("agree, verdict", [((True, True), "reproduced"),
                                            ((True, False), "partly"),
                                            ((False, False), "not reproduced")])
def test_c5_branches(agree, verdict):
    v = ch.verdict_c5({M1: c5_model(agree[0]), M2: c5_model(agree[1])}, 0.5)
    assert v.verdict == verdict
    assert v.values[M1]["projected"] == (0.478, 3.4) and v.values[M1]["agree"] is agree[0]
    assert "zones" not in v.values[M1]
    if verdict == "partly":
        assert "lenet-5" in v.why and "lenet-300-100" not in v.why and "0.5 decades" in v.why
        assert v.values[M2]["hutchinson"] == (0.593, None)


def test_format_helpers():
    assert ch.format_bounds(None) == "[open, open]"
    assert ch.format_bounds((0.1234, None)) == "[0.123, open]"
    assert ch.format_intervals([(0.764, 4.17), (10, 20)]) == "[0.764, 4.17], [10, 20]"
    assert ch.format_intervals([]) == ""


# ---- B1: the zone's upper edge against N
def _table(ns, upper, lower=0.5, gap=1e-2):
    return [dict(n=n, lower=lower, upper=u, dom_lower=lower, dom_upper=u, min_gap=gap / n,
                 gap_alpha=None) for n, u in zip(ns, upper)]


def b1_numbers(slopes1=(0.33, 0.30, 0.36), slopes2=(0.2, 0.22, 0.18), *, ns=(100, 1000, 10000),
               open_upper=False, no_dominance=False):
    out = {}
    for m, L, slopes in [(M1, 3, slopes1), (M2, 5, slopes2)]:
        upper = [3.0 * (n / ns[0]) ** (sum(slopes) / len(slopes)) for n in ns]
        out[m] = dict(n=list(ns), table=_table(ns, upper), slope=sum(slopes) / len(slopes),
                      predicted_slope=1.0 / L, open_upper=open_upper,
                      no_dominance=no_dominance,
                      decades=math.log10(ns[-1] / ns[0]),
                      per_seed={s: {"dom_upper": upper, "slope": x} for s, x in enumerate(slopes)},
                      full_n_seconds={"n": ch.PAPER_N[m], "d": 50, "seeds": 3,
                                      "seconds": 7200.0})
    return out


def test_b1_reproduced_when_every_seed_follows_n_to_the_one_over_l():
    v = ch.verdict_b1(b1_numbers(), slope_factor=2.0)
    assert v.verdict == "reproduced" and v.why == ""
    assert v.values["per_seed"][M2] == {"0": 0.2, "1": 0.22, "2": 0.18}
    assert v.values[M1]["predicted_slope"] == pytest.approx(1 / 3)
    assert "spans" in v.quote and "Section 5" in v.quote
    assert "||G||_2 >= ||H-term||_2" in v.definition and "factor 2" in v.definition


def test_b1_partly_when_the_edge_grows_but_faster_than_predicted():
    v = ch.verdict_b1(b1_numbers(slopes2=(0.5, 0.45, 0.3)), slope_factor=2.0)
    assert v.verdict == "partly"
    assert "lenet-5" in v.why and "1 of 3 seeds" in v.why and "0.50" in v.why
    assert "lenet-300-100" not in v.why


def test_b1_not_reproduced_when_the_edge_does_not_grow():
    v = ch.verdict_b1(b1_numbers(slopes1=(0.0, -0.1, 0.05)), slope_factor=2.0)
    assert v.verdict == "not reproduced"
    assert "lenet-300-100" in v.why and "1 of 3 seeds" in v.why


@pytest.mark.parametrize("kwargs, words", [
    (dict(ns=(100, 200, 400)), "spans only 0.60 decades"),
    (dict(open_upper=True), "beyond the alpha grid"),
    (dict(no_dominance=True), "no alpha where ||G||_2 >= ||H-term||_2"),
])
def test_b1_inconclusive_with_the_scale_that_would_decide_it(kwargs, words):
    v = ch.verdict_b1(b1_numbers(**kwargs), slope_factor=2.0)
    assert v.verdict == INCONCLUSIVE
    assert words in v.why
    assert "60,000" in v.needed and "2.0 CPU-hours" in v.needed


def test_zone_interval_measured_nearest_and_extrapolated():
    table = _table([100, 1000], [3.0, 6.0])
    got = ch.zone_interval(table, 1000, 3)
    assert (got["lower"], got["upper"], got["n_measured"]) == (0.5, 6.0, 1000)
    assert got["how"].startswith("measured at N = 1,000")
    got = ch.zone_interval(table, 500, 3)
    assert (got["upper"], got["n_measured"]) == (3.0, 100)
    got = ch.zone_interval(table, 8000, 3)
    assert got["upper"] == pytest.approx(12.0) and "extrapolated" in got["how"]
    assert ch.zone_interval(table, 8000, 3, edge="curvature")["upper"] == pytest.approx(12.0)
    with pytest.raises(ValueError, match="edge"):
        ch.zone_interval(table, 10, 3, edge="x")


def test_zone_edges_on_a_closed_form_curve():
    from goldilocks_nb.rescaling import zone_edges

    a = [0.1, 1.0, 10.0, 100.0]
    e = zone_edges(a, [1e-4, 1.0, 1.0, 0.0], [1e-2, 1e-1, 0.1, 1.0], [0.0, 1.0, 1.0, 0.0], 0.5)
    assert e["lower"] == pytest.approx(10 ** -0.5) and e["upper"] == pytest.approx(10 ** 1.5)
    assert e["dom_found"] and e["dom_lower"] == pytest.approx(10 ** (-1 / 3))
    assert 10.0 < e["dom_upper"] < 100.0
    none = zone_edges(a, [0.0, 0.1, 0.1, 0.0], [1.0] * 4, [0.0, 1.0, 1.0, 0.0], 0.5)
    assert not none["dom_found"] and none["dom_upper"] is None
    assert e["dom_pieces"] == 1


def test_zone_edges_span_every_g_dominated_piece():
    """G/H near 1 splits the dominance set (LeNet-5, d = 4: G dominates on [0.9, 1.2] and
    on [3.7, 8.1] with the curvature peak in the first piece): the upper edge is the end of
    the last piece, not of the piece that holds the peak."""
    from goldilocks_nb.rescaling import zone_edges

    a = [0.3, 1.0, 2.0, 5.0, 20.0]
    g = [1e-3, 2.0, 0.5, 2.0, 1e-6]
    h = [1.0, 1.0, 1.0, 1.0, 1.0]
    e = zone_edges(a, g, h, [0.0, 1.0, 0.8, 0.6, 0.0], 0.5)
    assert e["dom_pieces"] == 2
    assert 0.3 < e["dom_lower"] < 1.0 and 5.0 < e["dom_upper"] < 20.0


def test_zone_parameters_are_checked():
    with pytest.raises(ParameterError, match="zone_n"):
        ch.Params(zone_n={M1: [100, 50], M2: [10, 30]})
    with pytest.raises(ParameterError, match="zone_alpha_grid"):
        ch.Params(zone_alpha_grid={M1: [2.0, 10.0, 9], M2: [0.1, 30.0, 9]})
    with pytest.raises(ParameterError, match="zone_slope_factor"):
        ch.Params(zone_slope_factor=1.0)


def test_zone_full_n_parameters_are_checked():
    with pytest.raises(ParameterError, match="zone_n_low"):
        ch.Params(zone_n_low={M1: 70, M2: 30})  # not one of zone_n
    with pytest.raises(ParameterError, match="zone_full_from"):
        ch.Params(zone_full_from={M1: 500.0, M2: 3.0})  # beyond zone_alpha_grid
    with pytest.raises(ParameterError, match="zone_seeds"):
        ch.Params(zone_seeds=[0, 0, 1])


def _zone_result(upper_by_n, ns=(100, 1000, 10000), n_low=1000, seeds=(0, 1, 2)):
    """A zone_against_n result whose G-term dominates on [0.5, upper(N)] (closed form)."""
    alphas = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
    per_seed = {}
    for s in seeds:
        rows = []
        for n, up in zip(ns, upper_by_n):
            for a in alphas:
                if n > n_low and a < 3.0:
                    continue
                g = 1.0 if 0.5 <= a <= up * (1 + 0.01 * s) else 0.01
                rows.append(dict(n=n, alpha=a, g_norm=g, h_norm=0.1,
                                 curvature=1.0 if g == 1.0 else 0.0, near_tie=0,
                                 g_bound=0.0, h_mass=0.0))
        per_seed[s] = rows
    return dict(n=list(ns), alphas=alphas, full_from=3.0, n_low=n_low, d=4, seeds=list(seeds),
                full_n=ns[-1], per_seed=per_seed, min_gap=[1e-2 / n for n in ns],
                seconds=60.0, cpu_seconds=50.0)


def test_measure_b1_reads_edges_per_seed_and_the_mixed_curve():
    b1 = ch.measure_b1({M2: _zone_result([3.5, 7.0, 14.0])}, {M2: 5}, 0.5)[M2]
    assert b1["n"] == [100, 1000, 10000] and b1["full_n"] == 10000 and b1["n_low"] == 1000
    assert [t["mixed"] for t in b1["table"]] == [False, False, True]
    ups = [t["dom_upper"] for t in b1["table"]]
    assert 3.0 < ups[0] < 10.0 and 3.0 < ups[1] < 10.0 and 10.0 < ups[2] < 30.0
    assert b1["table"][2]["dom_lower"] == b1["table"][1]["dom_lower"]  # read at n_low
    assert b1["lower_change"] == pytest.approx(0.0)
    assert b1["slope"] > 0 and len(b1["per_seed"]) == 3
    assert all(ps["dom_upper"][-1] > 10.0 for ps in b1["per_seed"].values())
    # the cost at the paper's N and d = 50: linear in N and d from this run's rate
    rate = 50.0 / (10000 * 12)  # CPU seconds where recorded
    assert b1["full_n_seconds"]["seconds"] == pytest.approx(rate * ch.PAPER_N[M2] * 150)
    v = ch.verdict_b1({M2: b1}, slope_factor=2.0)
    assert v.values[M2]["upper_at_largest_n_per_seed"].keys() == {"0", "1", "2"}
    assert "1e-20" in v.definition and "zone_n_low" in v.definition


def test_sweep_group_size_fits_the_memory_budget():
    # every ratio in one pass when n * d * P floats fit, else as many as fit, at least one
    assert ch.sweep_group_size(61_770, 10, 9) == 9
    per_ratio = 50 * 266_200 * 8
    assert ch.sweep_group_size(266_200, 50, 17) == ch.GROUP_BYTES // per_ratio < 17
    assert ch.sweep_group_size(10**9, 50, 17) == 1
    assert ch.sweep_group_size(100, 2, 5, itemsize=4) == 5


# ---- the chapter contract: run -> Results -> judge / record / plot_*
TINY = dict(models=[M1], datasets=["fashion-mnist-embedded"], n_samples={M1: 8}, d=3,
            seeds=[0], alpha_grid={M1: [0.01, 100.0, 5]}, ratio_grid=[1e-4, 1e4, 3],
            num_temperatures=3, check_alphas=[0.5, 3.0], check_temperatures=[1.0, 10.0],
            check_d=2, hutchinson_probes=2, equivalence_alphas=[2.0, 0.3], gd_steps=2,
            zone_n={M1: [10, 40]}, zone_n_low={M1: 10}, zone_full_from={M1: 5.0}, zone_d=3,
            zone_seeds=[0], zone_alpha_grid={M1: [0.1, 100.0, 5]})


def test_run_judge_record_plot_on_a_tiny_profile(tmp_path, monkeypatch):
    """run() wires every part and caches each; judge/record/plot_* read the Results."""
    params = ch.Params(**TINY, results_dir=str(tmp_path / "r"), device="cpu")
    res = ch.run(params)
    assert [r["alpha"] for r in res.sweep[M1]] == pytest.approx(list(res.ctx.alphas[M1]))
    assert len(res.fig1[M1]["ratio_sweep"]) == 3 and len(res.fig1[M1]["direct_line"][1]) == 2
    assert [(r["alpha"], r["temperature"]) for r in res.eq5[M1]] == [
        (0.5, 1.0), (0.5, 10.0), (3.0, 1.0), (3.0, 10.0)]
    assert [r["alpha"] for r in res.equiv[M1]] == [2.0, 0.3]
    assert len(res.hutch[M1]) == 5 and res.zone[M1]["n"] == [10, 40]
    assert res.degrees == {M1: 3} and res.tol == 1e-8
    # the identities hold to rounding at any size
    assert res.c1[M1]["line_deviation"] < 1e-8 and res.c3[M1]["g_rel_error"] < 1e-8
    assert res.c2[M1]["max_deviation"] < ch.TRAJECTORY_TOL and res.c2[M1]["loss_decreased"]
    verdicts = ch.judge(res)
    assert [v.claim for v in verdicts] == ["C1", "C2", "C3", "C4", "C5", "B1"]
    assert verdicts[1].verdict == verdicts[2].verdict == "reproduced"
    # B1 over N in [10, 40] spans 0.6 decades: inconclusive, whatever the slope
    assert verdicts[5].verdict == INCONCLUSIVE
    assert verdicts[3].values[M1]["fit_points"] == res.c4[M1]["fit_points"]
    paths = ch.record(res, verdicts)
    assert [p.name for p in paths] == [f"{c}.json" for c in ("C1", "C2", "C3", "C4", "C5", "B1")]
    assert all(p.parent == tmp_path / "r" / "claims" for p in paths)
    lines = {k: getattr(res, f"{k}_lines")() for k in ("data", "c1", "c2", "c3", "c4", "c5",
                                                      "b1", "zone_n")}
    assert all(M1 in text for text in lines.values())
    assert lines["c3"].count("True") == 2 and lines["c1"].count("True") == 2
    assert lines["b1"].count("    N = ") == 2
    shown = ch.plot_figure2(res)
    png, size = shown._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and shown.paths[0].read_bytes() == png
    assert set(size) == {"width"}
    assert size["width"] == round(int.from_bytes(png[16:20], "big") * ch.SHOWN_DPI / ch.SAVED_DPI)
    assert {p.name for p in shown.paths} == {"01_fig2_gauss_newton_terms.png",
                                              "01_fig2_gauss_newton_terms.pdf"}
    for plot in (ch.plot_figure1, ch.plot_trajectories, ch.plot_figure13, ch.plot_zone_vs_n):
        assert plot(res).paths[0].exists()

    def recomputed(*args, **kwargs):
        raise AssertionError("recomputed")

    for name in ("curvature_sweep", "curvature_at", "eq5_check", "trajectory_equivalence",
                 "hutchinson_estimates"):
        monkeypatch.setattr(ch, name, recomputed)
    monkeypatch.setattr("goldilocks_nb.zone_n.nested_order", recomputed)  # inside its compute
    again = ch.run(ch.Params(**TINY, results_dir=str(tmp_path / "r"), profile="other"))
    assert [v.verdict for v in ch.judge(again)] == [v.verdict for v in verdicts]


def _results(params=None, **numbers):
    """Results carrying only the claims' numbers (no computation), for judge()."""
    from types import SimpleNamespace

    c3 = {M1: dict(g_rel_error=1e-15, h_rel_error=2e-15, points=12),
          M2: dict(g_rel_error=0.0, h_rel_error=3e-14, points=12)}
    base = dict(c1=c1_numbers(), c2=c2_numbers(), c3=c3, c4={M1: c4_model(), M2: c4_model()},
                c5={M1: c5_model(), M2: c5_model()}, b1=b1_numbers())
    base.update(numbers)
    ctx = SimpleNamespace(models=[M1, M2], degree=DEGREES.__getitem__)
    return ch.Results(params=params or ch.Params(), ctx=ctx, sweep={}, fig1={}, eq5={},
                      equiv={}, hutch={}, zone={}, **base)


def test_judge_branches_and_reads_the_params_thresholds():
    verdicts = ch.judge(_results())
    assert [v.claim for v in verdicts] == ["C1", "C2", "C3", "C4", "C5", "B1"]
    assert [v.verdict for v in verdicts] == ["reproduced"] * 6
    # each claim's own numbers reach its verdict
    got = ch.judge(_results(c4={M1: c4_model(), M2: c4_model(g_collapses=True)},
                            c5={M1: c5_model(), M2: c5_model(False)},
                            b1=b1_numbers(ns=(100, 200, 400))))
    assert [v.verdict for v in got[3:]] == ["partly", "partly", INCONCLUSIVE]
    # the predicted slopes come from the Results' degrees (L = 3 and 5)
    assert "(pred. 8)" in got[3].measured
    # thresholds from the params: the dtype's rounding tolerance, gd_steps, slope factor
    loose = dict(c1=c1_numbers(line=1e-5, mapd=1e-5))
    assert ch.judge(_results(**loose))[0].verdict == "not reproduced"
    assert ch.judge(_results(ch.Params(dtype="float32"), **loose))[0].verdict == "reproduced"
    assert "7 steps" in ch.judge(_results(ch.Params(gd_steps=7)))[1].measured
    fast = dict(b1=b1_numbers(slopes2=(0.5, 0.45, 0.3)))
    assert ch.judge(_results(**fast))[5].verdict == "partly"
    assert ch.judge(_results(ch.Params(zone_slope_factor=3.0), **fast))[5].verdict == (
        "reproduced")


def test_notebook_is_thin():
    assert_thin_notebook(NOTEBOOK, ch)
