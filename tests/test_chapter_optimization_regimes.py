"""Chapter 04 (optimisation regimes): parameters, regime rules, measurements, verdicts.

Every verdict branch is driven with synthetic numbers; no training runs here (the notebook's
smoke run and nbval exercise the pipeline end to end).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from goldilocks_nb.chapters import optimization_regimes as ch
from goldilocks_nb.chapters.optimization_regimes import Params
from goldilocks_nb.contract import ParameterError
from notebook_cases import assert_no_inline_comments, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "04_optimization_regimes.ipynb"



# ----------------------------------------------------------------------------- parameters


def test_parameters_cell_equals_params_defaults():
    assert_no_inline_comments(NOTEBOOK)
    cell = notebook_parameters(NOTEBOOK)
    defaults = Params().as_dict()
    assert set(cell) == set(defaults)
    assert Params.from_mapping(cell).as_dict() == defaults
    assert Params.notebook == "04_optimization_regimes"


def test_profiles_validate():
    yaml = pytest.importorskip("yaml")
    for name in ("default", "paper"):
        prof = yaml.safe_load((ROOT / "profiles" / f"{name}.yml").read_text())
        section = prof["notebooks"]["04_optimization_regimes"]
        p = Params.from_mapping({**prof["common"], "profile": name, **section})
        assert p.profile == name


@pytest.mark.parametrize("name, value", [
    ("datasets", ["fashion-mnist"]),
    ("datasets", ["fashion-mnist", "imagenet"]),
    ("datasets", ["gaussian", "cifar10"]),
    ("n_train", {"lenet-300-100": 100}),
    ("n_train", {"lenet-300-100": 5, "lenet-5": 50}),
    ("alphas", {"lenet-300-100": [1.0, 0.01, 1000.0], "lenet-5": [0.1, 1.0]}),
    ("alphas", {"lenet-300-100": [0.01, 2.0], "lenet-5": [0.1, 1.0]}),
    ("alphas", {"lenet-300-100": [-1.0, 1.0], "lenet-5": [0.1, 1.0]}),
    ("alphas", {"lenet-300-100": [1.0], "lenet-5": [0.1, 1.0]}),
    ("eta0s", {"lenet-300-100": [0.1, 0.1], "lenet-5": [0.1, 1.0]}),
    ("steps", {"lenet-300-100": 0, "lenet-5": 10}),
    ("log_every", {"lenet-300-100": 50, "lenet-5": 5}),
    ("seed", 0.5),
    ("seed", -1),
    ("trained_acc", {"lenet-300-100": 1.5, "lenet-5": 0.2}),
    ("zero_logit_threshold", 0.0),
    ("growth_factor", 1.0),
    ("uso_alphas", [0.1, 2.0]),
    ("restart_at", [0, 100]),
    ("restart_at", [20, 0]),
    ("probe_seeds", [0, 0]),
    ("dtype", "float16"),
    ("uso_eta0", 0.0),
    ("min_test_gap", 1.5),
    ("agreement_min", 0.0),
    ("zone_points", 2),
    ("torch_threads", -1),
])
def test_bad_parameters_are_refused_naming_the_parameter(name, value):
    with pytest.raises(ParameterError, match=name):
        Params(**{name: value})


# ----------------------------------------------------------------------------- regimes


P = Params()


def row(**kw):
    base = {"diverged": False, "final_zero": 0.0, "growth": 1.0, "trained": True,
            "alpha": 1.0, "final_cos0": 0.5}
    return {**base, **kw}


@pytest.mark.parametrize("kw, regime", [
    ({"diverged": True}, "diverged"),
    ({"final_zero": 0.9, "trained": False}, "zero logits"),
    ({"alpha": 0.1, "growth": 5.0}, "return to the zone"),
    ({"alpha": 1000.0, "final_cos0": 0.99}, "lazy"),
    ({"alpha": 1000.0, "final_cos0": 0.5}, "normal training"),
    ({"alpha": 0.1, "growth": 1.1}, "normal training"),
    ({"alpha": 0.1, "growth": 5.0, "trained": False}, "endless divergence"),
    ({"alpha": 10.0, "trained": False}, "no progress"),
])
def test_classify_every_rule(kw, regime):
    assert ch.classify(row(**kw), P) == regime


def test_rules_cover_every_regime_and_print_thresholds():
    assert [r for r, _ in ch.REGIME_RULES] == list(ch.REGIMES)
    assert set(ch.PAPER_REGIMES) <= set(ch.REGIMES)
    text = ch.regime_rules_text(P)
    assert "zero_logit_threshold (0.75)" in text and "lazy_cos (0.9)" in text
    assert len(text.splitlines()) == len(ch.REGIMES)


def summary(entries):
    """entries: (alpha, eta0, trained, regime) tuples."""
    df = pd.DataFrame([{"alpha": a, "eta0": e, "trained": t, "regime": r, "diverged":
                        r == "diverged", "final_zero": 0.9 if r == "zero logits" else 0.0,
                        "growth": 3.0, "lr_sharpness": e / a, "max_test_acc": 0.5}
                       for a, e, t, r in entries])
    return df


def test_staircase_slope_budget_end_and_censoring():
    entries = []
    for a in (0.001, 0.01, 0.1, 1.0):
        for e in (1e-4, 1e-3, 1e-2, 1e-1, 1.0):
            trains = a > 0.001 and e <= a * 0.1 + 1e-12
            entries.append((a, e, trains, "normal training" if trains else "diverged"))
    stairs = ch.staircase(summary(entries))
    fit = ch.staircase_fit(stairs)
    assert fit["slope"] == pytest.approx(1.0)
    assert fit["points"] == 3 and fit["budget_end"] == 0.001
    assert not stairs.censored.any()
    stairs.loc[stairs.alpha == 1.0, "censored"] = True
    assert ch.staircase_fit(stairs)["points"] == 2
    one = ch.staircase_fit(stairs[stairs.alpha >= 0.1])
    assert one["slope"] is None and one["budget_end"] is None


def test_too_large_counts_and_admissibility():
    s = summary([(1.0, 0.1, True, "normal training"), (1.0, 1.0, False, "diverged"),
                 (1.0, 10.0, False, "zero logits"), (0.01, 0.1, False, "endless divergence"),
                 (1.0, 100.0, False, "no progress")])
    assert ch.too_large_counts(s) == {"too_large": 3, "diverged": 1, "zero_logits": 1}
    adm = ch.admissibility([s])
    # lr_sharpness = eta0 / alpha: > 2 for (1, 10), (0.01, 0.1), (1, 100)
    assert adm == {"inadmissible": 3, "inadmissible_untrained": 3, "agreement": 0.8}


def test_zone_helpers():
    assert ch.dominance_intervals([1, 2, 3, 4, 5], [True, False, True, True, True]) == [
        (1, 1), (3, 5)]
    assert ch.dominance_intervals([1, 2], [False, False]) == []
    strip = {"intervals": [(1.0, 18.0)]}
    assert ch.in_zone(5.0, strip["intervals"]) and not ch.in_zone(0.5, strip["intervals"])
    assert ch.zone_upper(strip) == 18.0
    assert ch.zone_upper({"intervals": [(2.0, 3.0), (100.0, 200.0)]}) == 3.0
    assert ch.zone_upper({"intervals": []}) is None
    s = summary([(0.1, 0.1, True, "return to the zone"), (5.0, 0.1, False, "zero logits"),
                 (1.0, 0.1, True, "normal training")])
    text = ch.zone_alignment(s, strip)
    assert "nothing trains inside the strip at alpha 5" in text
    assert "runs train outside the strip at alpha 0.1" in text
    assert ch.zone_alignment(s[s.alpha == 1.0], strip) == ""


def test_lenet5_numbers():
    s = summary([(1.0, 0.1, True, "normal training"), (5.0, 0.1, False, "zero logits"),
                 (20.0, 0.1, False, "diverged")])
    n = ch.lenet5_numbers(s, P)
    assert n == {"largest_trained_alpha": 1.0, "max_zero_untrained": 0.9,
                 "grid_max_alpha": 20.0}
    assert ch.lenet5_numbers(s[s.alpha > 1], P)["largest_trained_alpha"] is None


def test_uso_parting():
    steps = np.arange(0, 50, 10)
    dev = np.array([0.0, 1e-4, 2e-4, 0.05, 0.2])
    ent = np.array([2.3026, 2.3026, 2.25, 2.1, 1.5])
    out = ch.uso_parting(steps, dev, ent, 10, 0.01, 0.01)
    assert out["nonuniform_step"] == 20 and out["part_step"] == 30
    assert out["dev_before"] == pytest.approx(1e-4) and out["dev_end"] == pytest.approx(0.2)
    never = ch.uso_parting(steps, dev * 0, ent * 0 + math.log(10), 10, 0.01, 0.01)
    assert never["nonuniform_step"] is None and never["part_step"] is None


def test_regime_counts_and_cost():
    s = summary([(1.0, 0.1, True, "normal training"), (1.0, 1.0, False, "diverged")])
    counts = ch.regime_counts([s, s])
    assert list(counts) == list(ch.REGIMES) and counts["diverged"] == 2
    cost = ch.estimate_cost(P, {"lenet-300-100": 1e6, "lenet-5": 2e6})
    assert cost["per_model"]["lenet-300-100"]["runs"] == 9 and cost["hours_at_gpu"] > 0
    assert len(ch.scale_notes(P)) == 3


# ----------------------------------------------------------------------------- verdicts


def fit(slope, points=3, end=0.01):
    return {"slope": slope, "points": points, "budget_end": end}


def test_c16_branches():
    v = ch.verdict_c16({"a": fit(1.1), "b": fit(0.9)}, {"a": True, "b": False}, slope_tol=0.5)
    assert v.verdict == "reproduced" and "slope 1.10" in v.measured
    v = ch.verdict_c16({"a": fit(1.1), "b": fit(None, 1)}, {"a": True}, slope_tol=0.5)
    assert v.verdict == "partly" and "not reached at this scale" in v.why
    v = ch.verdict_c16({"a": fit(3.0)}, {"a": True}, slope_tol=0.5)
    assert v.verdict == "partly" and "3.00" in v.why
    v = ch.verdict_c16({"a": fit(3.0)}, {"a": False}, slope_tol=0.5)
    assert v.verdict == "not reproduced" and "grew its norm" in v.why
    v = ch.verdict_c16({"a": fit(-1e-17)}, {"a": False}, slope_tol=0.5)
    assert "slope 0.00" in v.measured and "-0.00" not in v.measured


def test_c17_branches():
    c = {"too_large": 4, "diverged": 2, "zero_logits": 2}
    assert ch.verdict_c17({"a": c}, min_share=0.8).verdict == "reproduced"
    v = ch.verdict_c17({"a": {**c, "zero_logits": 0}}, min_share=0.8)
    assert v.verdict == "partly" and "2 of 4" in v.why
    v = ch.verdict_c17({"a": {"too_large": 3, "diverged": 0, "zero_logits": 0}}, min_share=0.8)
    assert v.verdict == "not reproduced"
    v = ch.verdict_c17({"a": {"too_large": 0, "diverged": 0, "zero_logits": 0}}, min_share=0.8)
    assert v.verdict == "not reproduced" and "not reached" in v.why


def test_c18_branches():
    mis = {"a": "nothing trains inside the strip at alpha 5", "b": ""}
    assert ch.verdict_c18(10, 9, 0.9, mis, agreement_min=0.8).verdict == "reproduced"
    v = ch.verdict_c18(10, 5, 0.6, mis, agreement_min=0.8)
    assert v.verdict == "partly" and "50%" in v.why
    v = ch.verdict_c18(10, 9, 0.9, {"a": ""}, agreement_min=0.8)
    assert v.verdict == "partly" and "lines up" in v.why
    v = ch.verdict_c18(0, 0, 0.5, {"a": ""}, agreement_min=0.8)
    assert v.verdict == "not reproduced" and "not reached" in v.why


def test_c19_branches():
    kw = dict(full_train=0.99, min_gap=0.05, probe_margin=0.03)
    v = ch.verdict_c19(1.0, 0.75, 0.85, 0.80, 0.79, 0.86, **kw)
    assert v.verdict == "reproduced" and "gap +0.100" in v.measured
    v = ch.verdict_c19(1.0, 0.84, 0.85, 0.80, 0.79, 0.86, **kw)
    assert v.verdict == "partly" and "test gap" in v.why
    v = ch.verdict_c19(0.5, 0.85, 0.85, 0.90, 0.70, 0.80, **kw)
    assert v.verdict == "not reproduced"
    v = ch.verdict_c19(None, None, 0.85, None, None, None, **kw)
    assert v.verdict == "not reproduced" and "no finite run" in v.why
    v = ch.verdict_c19(1.0, 0.75, 0.85, None, None, None, **kw)
    assert v.verdict == "reproduced" and "none" in v.measured


def test_c20_branches():
    kw = dict(paper_alpha=1.8, zero_threshold=0.75)
    assert ch.verdict_c20(1.0, 18.0, 0.9, 20.0, **kw).verdict == "reproduced"
    v = ch.verdict_c20(1.0, 18.0, 0.1, 20.0, **kw)
    assert v.verdict == "partly" and "zero logits" in v.why
    v = ch.verdict_c20(5.0, 1.4, 0.0, 20.0, **kw)
    assert v.verdict == "not reproduced"
    v = ch.verdict_c20(5.0, 18.0, 0.0, 20.0, **kw)
    assert v.verdict == "partly"
    v = ch.verdict_c20(None, 18.0, 0.0, 20.0, **kw)
    assert v.verdict == "not reproduced" and "no LeNet-5 run trained" in v.why


def test_c21_branches():
    good = {0.1: {"nonuniform_step": 20, "part_step": 30, "dev_before": 1e-4, "dev_end": 0.3}}
    kw = dict(part_tol=0.01, rotation_cos=0.9, restart_margin=0.05)
    v = ch.verdict_c21(good, 0.3, [(0, 0.1), (100, 0.5)], **kw)
    assert v.verdict == "reproduced"
    v = ch.verdict_c21(good, 0.95, [(0, 0.1), (100, 0.1)], **kw)
    assert v.verdict == "partly" and "rotates" in v.why and "restart" in v.why
    never = {0.1: {"nonuniform_step": None, "part_step": None, "dev_before": 1e-5,
                   "dev_end": 1e-5}}
    v = ch.verdict_c21(never, 0.3, [(0, 0.1), (100, 0.5)], **kw)
    assert v.verdict == "partly" and "not reached" in v.why
    bad = {0.1: {"nonuniform_step": 20, "part_step": 5, "dev_before": 0.5, "dev_end": 0.5}}
    assert ch.verdict_c21(bad, 0.3, [(0, 0.1)], **kw).verdict == "not reproduced"


def rl(peak, final, rpeak, rfinal):
    return {"random-fixed": {"peak_zero": peak, "peak_step": 10, "final_zero": final,
                             "final_train_acc": 1.0, "diverged": False},
            "random-redrawn": {"peak_zero": rpeak, "peak_step": 10, "final_zero": rfinal,
                               "final_train_acc": 0.1, "diverged": False}}


def test_c22_branches():
    assert ch.verdict_c22(rl(0.3, 0.0, 0.5, 0.5), appear=0.05).verdict == "reproduced"
    v = ch.verdict_c22(rl(0.01, 0.0, 0.5, 0.5), appear=0.05)
    assert v.verdict == "partly" and "appear" in v.why
    v = ch.verdict_c22(rl(0.0, 0.0, 0.0, 0.0), appear=0.05)
    assert v.verdict == "not reproduced"


def test_c23_branches():
    all_seen = {r: 1 for r in ch.REGIMES}
    assert ch.verdict_c23(all_seen).verdict == "reproduced"
    v = ch.verdict_c23({**all_seen, "lazy": 0, "endless divergence": 0})
    assert v.verdict == "partly" and "lazy" in v.why and "endless divergence" in v.why
    v = ch.verdict_c23({"normal training": 5, "diverged": 1})
    assert v.verdict == "not reproduced"
