"""Chapter 04 (Section 5): the definitions of :mod:`goldilocks_nb.regimes` on constructed
logs, the bisection and slope on known power laws, the authors' power iteration against an
exact spectrum, ROC AUC against a brute-force count, every branch of every verdict (C16-C23,
B2) and the chapter's parameters."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from goldilocks_nb import regimes as rg
from goldilocks_nb.chapters import optimization_regimes as ch
from goldilocks_nb.chapters.optimization_regimes import Params
from goldilocks_nb.contract import INCONCLUSIVE, ParameterError, paper_quote
from notebook_cases import assert_no_inline_comments, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "04_optimization_regimes.ipynb"
K = 10
LOGK = math.log(K)
D = rg.Definitions(entropy_margin=0.05, acc_margin=0.05, rise_tol=0.01,
                   zero_logit_threshold=0.75, lazy_cos=0.9, lazy_gap=0.03)


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
        assert 1.0 in p.alphas["lenet-300-100"] and 1.0 in p.alphas["lenet-5"]


def test_notebook_is_thin():
    import json

    nb = json.loads(NOTEBOOK.read_text())
    code = [line for c in nb["cells"] if c["cell_type"] == "code"
            for line in "".join(c["source"]).splitlines()
            if line.strip() and not line.strip().startswith("#")]
    assert len(code) <= 150
    assert not any(line.lstrip().startswith(("def ", "lambda")) for line in code)


@pytest.mark.parametrize("name, value", [
    ("datasets", ["fashion-mnist"]),
    ("datasets", ["gaussian", "cifar10"]),
    ("n_train", {"lenet-300-100": 100}),
    ("n_train", {"lenet-300-100": 5, "lenet-5": 50}),
    ("alphas", {"lenet-300-100": [1.0, 0.01], "lenet-5": [1.0, 2.0]}),
    ("alphas", {"lenet-300-100": [0.01, 2.0], "lenet-5": [1.0, 2.0]}),
    ("alphas", {"lenet-300-100": [-1.0, 1.0], "lenet-5": [1.0, 2.0]}),
    ("eta0_range", {"lenet-300-100": [0.1, 0.01], "lenet-5": [0.01, 0.1]}),
    ("steps", {"lenet-300-100": 0, "lenet-5": 10}),
    ("log_every", {"lenet-300-100": 50, "lenet-5": 5}),
    ("seed", -1),
    ("seeds", [1, 2]),
    ("seeds", [0, 0]),
    ("entropy_margin", 0.0),
    ("acc_margin", 1.5),
    ("uso_alphas", [0.1, 2.0]),
    ("restart_fracs", [-0.5]),
    ("probe_seeds", [0, 0]),
    ("dtype", "float16"),
    ("agreement_min", 0.0),
    ("auc_resamples", 1),
    ("torch_threads", -1),
    ("zone_d", 70_000),  # > LeNet-5's 61,770 parameters: refused before any training
])
def test_bad_parameters_are_refused_naming_the_parameter(name, value):
    with pytest.raises(ParameterError, match=name):
        Params(**{name: value})


# ----------------------------------------------------------------------------- definitions


def make_log(entropy, test_acc, norm=None, grad=None, cosg=None, zero=None, cos0=None,
             diverged=None):
    n = len(entropy)
    norm = norm if norm is not None else [1.0] * n
    return pd.DataFrame({
        "step": np.arange(n) * 10, "train_loss": [1.0] * n, "train_acc": test_acc,
        "test_acc": test_acc, "entropy": entropy, "param_norm": norm,
        "grad_norm": grad if grad is not None else [1.0] * n,
        "cos_neg_grad": cosg if cosg is not None else [0.5] * n,
        "zero_logit_samples": zero if zero is not None else [0.0] * n,
        "cos_theta0": cos0 if cos0 is not None else [0.5] * n,
        "diverged": diverged if diverged is not None else [False] * n, "lr": [0.1] * n})


RETURN = make_log([LOGK] * 3 + [1.5, 1.0], [0.1, 0.1, 0.1, 0.4, 0.6], norm=[1, 2, 4, 5, 5],
                  grad=[1, 2, 3, 2, 1], cosg=[0.1, 0.5, 0.9, 0.5, 0.2])


def test_trains_needs_non_uniform_softmax_and_held_out_accuracy():
    assert rg.left_uniform_step(RETURN, K, D) == 30
    assert rg.trains_step(RETURN, K, D) == 30
    # held-out accuracy above chance while still uniform does not count (issue: "trained"
    # at step 25 with entropy log K)
    uniform_acc = make_log([LOGK] * 4, [0.1, 0.6, 0.6, 0.6])
    assert rg.trains_step(uniform_acc, K, D) is None
    # non-uniform but at chance on held-out data (memorisation) does not count
    memorised = make_log([LOGK, 1.0, 0.5], [0.1, 0.12, 0.14])
    assert rg.left_uniform_step(memorised, K, D) == 10
    assert rg.trains_step(memorised, K, D) is None


def test_divergence_signature_branches():
    sig = rg.divergence_signature(RETURN, K, D)
    assert sig["uniform_start"] and sig["window"] == 3 and sig["signature"] is True
    assert sig["norm_ratio"] == pytest.approx(4.0) and sig["cos_end"] == pytest.approx(0.9)
    flat = make_log([LOGK] * 3 + [1.0], [0.1] * 3 + [0.5], cosg=[0.5, 0.4, 0.3, 0.3])
    assert rg.divergence_signature(flat, K, D)["signature"] is False
    assert rg.divergence_signature(make_log([1.0, 1.0], [0.5, 0.5]), K, D)["signature"] is None


@pytest.mark.parametrize("log, alpha, ctrl, regime", [
    (RETURN, 0.1, None, "return to the zone"),
    (make_log([LOGK] * 3 + [1.5, 2.2], [0.1] * 5, norm=[1, 2, 4, 8, 16],
              grad=[1, 2, 3, 4, 5], cosg=[0.1, 0.5, 0.9, 0.9, 0.9],
              zero=[0, 0, 0, 0.5, 1.0]), 0.1, None, "continue diverging"),
    (make_log([LOGK] * 4, [0.1] * 4, norm=[1, 2, 3, 4]), 0.01, None, "uniform at budget end"),
    (make_log([1.0, 1.0], [0.1, 0.1], diverged=[False, True]), 100.0, None, "diverged"),
    (make_log([1.0, LOGK], [0.1, 0.1], zero=[0.0, 0.9]), 20.0, None, "zero logits"),
    (make_log([0.1, 0.05], [0.5, 0.7], cos0=[1.0, 0.99]), 1000.0, 0.8, "lazy"),
    (make_log([0.1, 0.05], [0.5, 0.79], cos0=[1.0, 0.99]), 1000.0, 0.8, "normal training"),
    (make_log([0.1, 0.05], [0.5, 0.7], cos0=[1.0, 0.5]), 1000.0, 0.8, "normal training"),
    (make_log([1.0, 1.0], [0.1, 0.1]), 10.0, None, "no progress"),
])
def test_classify_trajectory_every_rule(log, alpha, ctrl, regime):
    assert rg.classify_trajectory(log, K, alpha, D, control_test_acc=ctrl)["regime"] == regime


def test_rules_cover_every_regime_and_print_thresholds():
    assert [r for r, _ in rg.REGIME_RULES] == list(rg.REGIMES)
    assert set(rg.PAPER_REGIMES) <= set(rg.REGIMES)
    text = ch.regime_rules_text(Params())
    assert "log K - 0.05" in text and "zero_logit_threshold (0.75)" in text


def test_definitions_refuse_bad_thresholds():
    with pytest.raises(ValueError, match="entropy_margin"):
        rg.Definitions(entropy_margin=0.0)


# ----------------------------------------------------------------------------- staircase


def test_ladder():
    assert rg.ladder(0.001, 0.016) == [0.001, 0.002, 0.004, 0.008, 0.016]
    with pytest.raises(ValueError):
        rg.ladder(0.1, 0.01)


@pytest.mark.parametrize("depth", [3, 5])
def test_bisection_recovers_a_power_law_staircase(depth):
    rungs = rg.ladder(1e-4, 1.6384)
    alphas = [0.1, 0.2, 0.4, 0.8]
    true = {a: 0.3 * a ** (depth - 2) for a in alphas}
    calls = []

    def evaluate(configs):
        calls.append(len(configs))
        return [e <= true[a] for a, e in configs]

    bis = rg.bisect_ladder(alphas, rungs, evaluate)
    for a in alphas:
        assert bis[a]["max_eta0"] <= true[a] < bis[a]["first_fail"]
        assert bis[a]["first_fail"] == pytest.approx(2 * bis[a]["max_eta0"])
    assert len(calls) == math.ceil(math.log2(len(rungs) + 1))
    fit = rg.staircase_slope(alphas, [bis[a]["max_eta0"] for a in alphas],
                             [bis[a]["first_fail"] for a in alphas])
    assert fit["lo"] <= depth - 2 <= fit["hi"]
    assert abs(fit["slope"] - (depth - 2)) < 0.35
    assert rg.slope_support(fit, depth) == ("both" if depth == 3 else "L-2")


def test_bisection_censoring():
    bis = rg.bisect_ladder([1.0, 2.0], [0.1, 0.2, 0.4],
                           lambda cfg: [a == 1.0 for a, _ in cfg])
    assert bis[1.0]["max_eta0"] == 0.4 and bis[1.0]["first_fail"] is None
    assert bis[2.0]["max_eta0"] is None and bis[2.0]["first_fail"] == 0.1
    fit = rg.staircase_slope([1.0, 2.0], [0.4, None], [None, 0.1])
    assert fit["slope"] is None and rg.slope_support(fit, 3) == "undecided"


@pytest.mark.parametrize("lo, hi, depth, support", [
    (0.8, 1.3, 3, "both"), (1.5, 2.0, 3, "neither"), (0.7, 1.4, 5, "linear"),
    (2.5, 3.5, 5, "L-2"), (0.5, 3.5, 5, "undecided"), (1.5, 2.5, 5, "neither"),
])
def test_slope_support_branches(lo, hi, depth, support):
    assert rg.slope_support({"slope": (lo + hi) / 2, "lo": lo, "hi": hi}, depth) == support


# ----------------------------------------------------------------------------- sharpness, AUC


def test_power_iteration_matches_the_top_eigenvalue_of_a_psd_matrix():
    gen = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(30, 30, generator=gen, dtype=torch.float64))
    lam = torch.linspace(0.01, 1.0, 30, dtype=torch.float64)
    lam[-1] = 5.0
    H = Q @ torch.diag(lam) @ Q.T
    est = rg.power_iteration_sharpness(lambda v: H @ v, 30, iters=20, dtype=torch.float64)
    assert est == pytest.approx(5.0, rel=1e-6)


def test_power_iteration_underestimates_a_symmetric_spectrum():
    # lambda_max = 1, lambda_min = -1: the iterate oscillates, the Rayleigh quotient stays
    # near 0 (the authors' convention), while ||H||_2 = 1
    gen = torch.Generator().manual_seed(1)
    Q, _ = torch.linalg.qr(torch.randn(20, 20, generator=gen, dtype=torch.float64))
    lam = torch.zeros(20, dtype=torch.float64)
    lam[0], lam[1] = 1.0, -1.0
    H = Q @ torch.diag(lam) @ Q.T
    est = rg.power_iteration_sharpness(lambda v: H @ v, 20, iters=20, dtype=torch.float64)
    assert est < 0.9
    assert float(torch.linalg.matrix_norm(H, ord=2)) == pytest.approx(1.0)


def test_roc_auc_against_a_brute_force_count():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 5, 40).astype(float)
    lab = rng.random(40) < 0.5
    pos, neg = s[lab], s[~lab]
    brute = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg])
    assert rg.roc_auc(s, lab) == pytest.approx(brute)
    assert rg.roc_auc([1, 2, 3, 4], [False, False, True, True]) == 1.0
    assert math.isnan(rg.roc_auc([1, 2], [True, True]))
    r = rg.auc_with_interval(s, lab, n_resamples=100)
    assert r["lo"] <= r["auc"] <= r["hi"]


def test_staircase_fits_use_alpha_below_one_and_each_seeds_boundary():
    study = {"bisection": {0.1: {"max_eta0": 0.1, "first_fail": 0.2},
                           0.2: {"max_eta0": 0.2, "first_fail": 0.4},
                           1.0: {"max_eta0": 0.2, "first_fail": 0.4}},
             "boundary": {0.1: {0: {"trains_at_max": True, "fails_above": True},
                                1: {"trains_at_max": True, "fails_above": False}},
                          0.2: {0: {"trains_at_max": True, "fails_above": True},
                                1: {"trains_at_max": False, "fails_above": True}},
                          1.0: {0: {"trains_at_max": True, "fails_above": True},
                                1: {"trains_at_max": True, "fails_above": True}}}}
    fit = ch.staircase_fit(study)
    assert fit["alphas"] == [0.1, 0.2] and fit["slope"] == pytest.approx(1.0)
    seeds = ch.per_seed_fits(study, [0, 1])
    assert seeds[0]["slope"] == pytest.approx(1.0)
    # seed 1: 0.2 trains at alpha 0.1 (one rung up), nothing of the pair at alpha 0.2
    assert seeds[1]["points"] == 1 and seeds[1]["slope"] is None


def test_admissible_configs_pick_the_largest_rung_below_two_over_h():
    from types import SimpleNamespace

    ctx = SimpleNamespace(params=Params(eta0_range={"lenet-300-100": [0.001, 0.016],
                                                    "lenet-5": [0.01, 0.04]}))
    sharp = {0.01: {"init": {"exact": 0.001}, "reentry": {"exact": 4.0}},
             1.0: {"init": {"exact": 100.0}, "reentry": None},
             1000.0: {"init": {"exact": 1e9}, "reentry": None}}
    # alpha 0.01 (L = 3): 2 * 0.01 / 4 = 0.005 -> rung 0.004 (re-entry, not init);
    # alpha 1: 0.02 -> 0.016; alpha 1000: 2e-6 below the lowest rung -> none
    assert ch.admissible_configs(ctx, "lenet-300-100", sharp) == [(0.01, 0.004), (1.0, 0.016)]


def test_restart_plan_reports_every_skipped_step():
    kept, skipped = ch.restart_plan(60, 72, 300, [0.5, 1.0, 1.2, 1.5])
    assert kept == [0, 30, 60]
    assert [t for t, _ in skipped] == [72, 90]
    assert all("overflow" in why for _, why in skipped)
    kept, skipped = ch.restart_plan(None, None, 20, [0.5, 1.5])
    assert kept == [0, 10] and skipped[0][0] == 30 and "beyond" in skipped[0][1]


def test_cached_runs_keep_the_calling_grids_run_index(tmp_path):
    from goldilocks_nb.training import GridSpec, train_grid
    from training_cases import splits, tiny_model

    train, test = splits()
    kw = dict(steps=3, log_every=1, sharpness_steps=(), dtype=torch.float64, device="cpu",
              cache_dir=tmp_path, progress=False)
    train_grid(GridSpec.of(tiny_model(), train, test, alphas=[2.0], eta0s=[0.1], seeds=[0], **kw))
    g = train_grid(GridSpec.of(tiny_model(), train, test, alphas=[1.0, 2.0], eta0s=[0.1], seeds=[0],
                               **kw))
    for row in g.runs.itertuples():
        log = g.log[g.log.run == row.run]
        assert len(log) == 4 and (log.alpha == row.alpha).all()


# ----------------------------------------------------------------------------- verdicts


def fit(slope, lo, hi, points=3):
    return {"slope": slope, "lo": lo, "hi": hi, "points": points, "alphas": []}


DEPTH = {"lenet-300-100": 3, "lenet-5": 5}
NONE = fit(None, None, None, 1)


def test_every_verdict_quotes_the_paper():
    for fn in (ch.verdict_c16, ch.verdict_c17, ch.verdict_c18, ch.verdict_c19, ch.verdict_c20,
               ch.verdict_c21, ch.verdict_c22, ch.verdict_c23, ch.verdict_b2):
        assert paper_quote(fn).startswith('"')


def test_c16_branches():
    seeds = {0: True, 1: True, 2: True}
    v = ch.verdict_c16({"lenet-300-100": NONE, "lenet-5": NONE}, seeds,
                       {"lenet-300-100": False, "lenet-5": False}, depth=DEPTH, needed="x")
    assert v.verdict == INCONCLUSIVE and v.needed == "x"
    ok = {"lenet-300-100": fit(1.05, 0.8, 1.3), "lenet-5": NONE}
    v = ch.verdict_c16(ok, seeds, {"lenet-300-100": True, "lenet-5": False}, depth=DEPTH,
                       needed="x")
    assert v.verdict == "reproduced" and v.values["support"]["lenet-300-100"] == "both"
    assert v.values["per_seed"] == {"0": True, "1": True, "2": True}
    # LeNet-5 on its derivation's slope L - 2 = 3: the written linear relation fails
    l5 = {"lenet-300-100": fit(1.05, 0.8, 1.3), "lenet-5": fit(3.0, 2.6, 3.4)}
    v = ch.verdict_c16(l5, seeds, {"lenet-300-100": True, "lenet-5": True}, depth=DEPTH,
                       needed="x")
    assert v.verdict == "partly" and v.values["support"]["lenet-5"] == "L-2"
    v = ch.verdict_c16({"lenet-300-100": fit(2.0, 1.8, 2.2), "lenet-5": NONE}, seeds,
                       {"lenet-300-100": True, "lenet-5": False}, depth=DEPTH, needed="x")
    assert v.verdict == "not reproduced"
    v = ch.verdict_c16(ok, {0: True, 1: False, 2: False},
                       {"lenet-300-100": True, "lenet-5": False}, depth=DEPTH, needed="x")
    assert v.verdict == "partly" and "1 of 3 seeds" in v.why


def counts17(too, div, zero, und, stalled):
    return {"too_large": too, "diverged": div, "zero_logits": zero, "undecided": und,
            "stalled": stalled}


def test_c17_branches():
    v = ch.verdict_c17({"m": counts17(3, 0, 0, 3, 0)}, min_share=0.8, needed="x")
    assert v.verdict == INCONCLUSIVE
    v = ch.verdict_c17({"m": counts17(6, 4, 1, 1, 0)}, min_share=0.8, needed="x")
    assert v.verdict == "reproduced" and v.values["share"] == 1.0
    v = ch.verdict_c17({"m": counts17(4, 1, 0, 0, 3)}, min_share=0.8, needed="x")
    assert v.verdict == "partly"
    v = ch.verdict_c17({"m": counts17(2, 0, 0, 0, 2)}, min_share=0.8, needed="x")
    assert v.verdict == "not reproduced"


def adm(n, trains, reentry=2):
    return {"exact": {"admissible": n, "admissible_trains": trains, "inadmissible": 4,
                      "inadmissible_trains": 3},
            "power": {"admissible": n + 1, "admissible_trains": trains, "inadmissible": 3,
                      "inadmissible_trains": 3},
            "reentry_small_alpha": reentry, "flipped_by_power": 1}


def test_c18_branches():
    over = {"m": {0.1: 3.0}}
    v = ch.verdict_c18(adm(5, 5, reentry=0), {"m": "x"}, over, agreement_min=0.8, needed="n")
    assert v.verdict == INCONCLUSIVE
    v = ch.verdict_c18(adm(5, 5), {"m": "runs train outside"}, over, agreement_min=0.8,
                       needed="n")
    assert v.verdict == "reproduced" and v.values["share"] == 1.0
    v = ch.verdict_c18(adm(5, 5), {"m": ""}, over, agreement_min=0.8, needed="n")
    assert v.verdict == "partly" and "lines up" in v.why
    v = ch.verdict_c18(adm(5, 1), {"m": ""}, over, agreement_min=0.8, needed="n")
    assert v.verdict == "not reproduced"
    v = ch.verdict_c18(adm(2, 2), {"m": "x"}, over, agreement_min=0.8, needed="n")
    assert v.verdict == INCONCLUSIVE and "only 2 admissible" in v.why


def test_c19_branches():
    probes = ({0: 0.60, 1: 0.61}, {0: 0.59, 1: 0.60}, {0: 0.75, 1: 0.74})
    kw = dict(full_train=0.99, min_gap=0.03, probe_margin=0.03, needed="n")
    v = ch.verdict_c19(None, None, 0.8, *probes, **kw)
    assert v.verdict == INCONCLUSIVE
    v = ch.verdict_c19(0.9, 0.7, 0.8, *probes, **kw)
    assert v.verdict == INCONCLUSIVE and "0.900" in v.why
    v = ch.verdict_c19(1.0, 0.7, 0.8, *probes, **kw)
    assert v.verdict == "reproduced" and set(v.values["per_seed"]) == {"0", "1"}
    v = ch.verdict_c19(1.0, 0.79, 0.8, *probes, **kw)
    assert v.verdict == "partly"
    v = ch.verdict_c19(1.0, 0.79, 0.8, {0: 0.7}, {0: 0.5}, {0: 0.71}, **kw)
    assert v.verdict == "not reproduced"


def test_c20_branches():
    kw = dict(paper_alpha=1.8, zero_threshold=0.75, acc_margin=0.05, needed="n")
    v = ch.verdict_c20(0.12, 0.1, [], [3.0], 18.0, 256, 0.9, {0: True}, **kw)
    assert v.verdict == INCONCLUSIVE and "control" in v.why
    v = ch.verdict_c20(0.3, 0.1, [], [], 18.0, 256, 0.9, {0: True}, **kw)
    assert v.verdict == INCONCLUSIVE
    v = ch.verdict_c20(0.3, 0.1, [], [3.0], 18.0, 256, 0.9, {0: True, 1: True, 2: True}, **kw)
    assert v.verdict == "reproduced" and v.values["zone_n"] == 256
    v = ch.verdict_c20(0.3, 0.1, [], [3.0], 1.2, 256, 0.1, {0: True}, **kw)
    assert v.verdict == "partly"
    v = ch.verdict_c20(0.3, 0.1, [3.0], [3.0], 18.0, 256, 0.9, {0: False}, **kw)
    assert v.verdict == "not reproduced"


def part(dev, nu, ps):
    return {"dev_before": dev, "nonuniform_step": nu, "part_step": ps, "dev_end": 0.5}


@pytest.mark.parametrize("rel_tol", [1e-3, 1e-2, 3e-2])
def test_uniform_entropy_gap_matches_the_entropy_of_a_perturbed_softmax(rel_tol):
    """log K - H(p) for p_k = (1 + d_k)/K with sum d_k = 0 and RMS(d) = rel_tol: the
    closed form rel_tol^2 / 2 to second order (relative error O(rel_tol))."""
    rng = np.random.default_rng(0)
    for K in (2, 10, 100):
        d = rng.standard_normal(K)
        d -= d.mean()
        d *= rel_tol / np.sqrt(np.mean(d ** 2))
        p = (1 + d) / K
        gap = math.log(K) + float(np.sum(p * np.log(p)))
        assert gap == pytest.approx(ch.uniform_entropy_gap(rel_tol), rel=5 * rel_tol)


def test_uso_parting_reads_uniform_at_the_given_gap():
    steps = np.arange(0, 60, 10)
    gap = np.array([0.0, 1e-6, 1e-5, 1e-4, 1e-2, 0.3])
    dev = np.array([0.0, 1e-4, 1e-3, 2e-2, 0.2, 0.9])
    entropy = math.log(10) - gap
    tight = ch.uso_parting(steps, dev, entropy, 10, ch.uniform_entropy_gap(0.01), 0.01)
    assert tight["nonuniform_step"] == 30 and tight["part_step"] == 30
    assert tight["dev_before"] == pytest.approx(1e-3) and tight["dev_end"] == 0.9
    # a looser "uniform" (0.05 nats) counts the 2 % deviation at step 30 as "while uniform"
    loose = ch.uso_parting(steps, dev, entropy, 10, 0.05, 0.01)
    assert loose["nonuniform_step"] == 50 and loose["dev_before"] == pytest.approx(0.2)
    never = ch.uso_parting(steps, dev * 0, entropy * 0 + math.log(10), 10, 5e-5, 0.01)
    assert never["nonuniform_step"] is None and never["part_step"] is None


def test_c21_branches():
    kw = dict(part_tol=0.01, restart_margin=0.05, needed="n")
    good = {0.1: part(1e-4, 50, 55)}
    v = ch.verdict_c21({0.1: part(0.2, 50, 10)}, 60, [(0, 0.1)], [], **kw)
    assert v.verdict == "not reproduced"
    v = ch.verdict_c21({0.1: part(1e-4, 50, 40)}, 60, [(0, 0.1)], [], **kw)
    assert v.verdict == "partly"
    v = ch.verdict_c21(good, None, [(0, 0.1)], [(72, "overflow")], **kw)
    assert v.verdict == INCONCLUSIVE and v.values["skipped"] == [[72, "overflow"]]
    v = ch.verdict_c21(good, 60, [(0, 0.1), (30, 0.1)], [(72, "overflow")], **kw)
    assert v.verdict == INCONCLUSIVE and "no restart at or after" in v.why
    v = ch.verdict_c21(good, 60, [(0, 0.1), (60, 0.5)], [], **kw)
    assert v.verdict == "reproduced"
    v = ch.verdict_c21(good, 60, [(0, 0.1), (60, 0.11)], [], **kw)
    assert v.verdict == "partly"
    # a net non-uniform from step 0 has no uniform phase: left out, not a failure ...
    early = part(math.nan, 0, 45)
    v = ch.verdict_c21({**good, 0.3: early}, 60, [(0, 0.1), (60, 0.5)], [], **kw)
    assert v.verdict == "reproduced" and "alpha=0.3: softmax non-uniform from step 0" in v.measured
    # ... and with no net uniform at initialisation the claim cannot be judged
    v = ch.verdict_c21({0.3: early}, 60, [(0, 0.1), (60, 0.5)], [], **kw)
    assert v.verdict == INCONCLUSIVE and "uniform at initialisation" in v.why


def rl(labels, a, peak, final, mem=None):
    return {"labels": labels, "alpha": a, "peak_zero": peak, "peak_step": 5,
            "final_zero": final, "final_train_acc": 0.5, "memorised_step": mem,
            "mid_step": 10, "mid_zero": final, "mid_train_acc": 0.5}


def test_c22_branches():
    v = ch.verdict_c22({"f": rl("random-fixed", 1.0, 0.0, 0.0),
                        "r": rl("random-redrawn", 1.0, 0.01, 0.0)}, appear=0.05, needed="n")
    assert v.verdict == INCONCLUSIVE
    v = ch.verdict_c22({"f": rl("random-fixed", 1.0, 0.4, 0.1, 50),
                        "r": rl("random-redrawn", 1.0, 0.5, 0.5)}, appear=0.05, needed="n")
    assert v.verdict == "reproduced"
    v = ch.verdict_c22({"f": rl("random-fixed", 1.0, 0.4, 0.3, 50),
                        "r": rl("random-redrawn", 1.0, 0.5, 0.5)}, appear=0.05, needed="n")
    assert v.verdict == "partly" and "vanish" in v.why
    # not memorised within the budget: vanishing cannot be judged
    v = ch.verdict_c22({"f": rl("random-fixed", 10.0, 0.4, 0.3),
                        "r": rl("random-redrawn", 10.0, 1.0, 1.0)}, appear=0.05, needed="n")
    assert v.verdict == INCONCLUSIVE and "not memorised" in v.why
    v = ch.verdict_c22({"f": rl("random-fixed", 1.0, 0.01, 0.0),
                        "r": rl("random-redrawn", 1.0, 0.5, 0.5)}, appear=0.05, needed="n")
    assert v.verdict == "not reproduced"


def test_c23_branches():
    all_seen = dict.fromkeys(rg.REGIMES, 1)
    ok = dict.fromkeys(rg.PAPER_REGIMES, True)
    assert ch.verdict_c23(all_seen, ok, needed="n").verdict == "reproduced"
    small = {**all_seen, "return to the zone": 0, "continue diverging": 0}
    blind = {**ok, "return to the zone": False, "continue diverging": False}
    v = ch.verdict_c23(small, blind, needed="n")
    assert v.verdict == INCONCLUSIVE and v.values["not_visible"] == ["return to the zone",
                                                                      "continue diverging"]
    v = ch.verdict_c23({**all_seen, "lazy": 0}, ok, needed="n")
    assert v.verdict == "partly" and "lazy" in v.why
    v = ch.verdict_c23(dict.fromkeys(rg.REGIMES, 0), ok, needed="n")
    assert v.verdict == "not reproduced"


def pred(auc, lo, hi, runs=40, trains=20):
    return pd.DataFrame([{"predictor": name, "auc": auc, "lo": lo, "hi": hi, "runs": runs,
                          "trains": trains} for name in ch.PREDICTORS])


def test_b2_branches():
    v = ch.verdict_b2(pred(0.7, 0.5, 0.9, trains=1), min_class=3, needed="n")
    assert v.verdict == INCONCLUSIVE
    v = ch.verdict_b2(pred(0.7, 0.5, 0.9), min_class=3, needed="n")
    assert v.verdict == "reproduced" and v.claim == "B2"
    v = ch.verdict_b2(pred(1.0, 1.0, 1.0), min_class=3, needed="n")
    assert v.verdict == "not reproduced"
    v = ch.verdict_b2(pred(0.95, 0.85, 1.0), min_class=3, needed="n")
    assert v.verdict == INCONCLUSIVE and "reaches 1" in v.why


def test_c20_names_the_zone_and_its_n_and_keeps_the_training_zone_beside_it():
    kw = dict(paper_alpha=1.8, zero_threshold=0.75, acc_margin=0.05, needed="n")
    # judged against the full-N zone: it extends beyond 1.8 although the training-N one does not
    v = ch.verdict_c20(0.3, 0.1, [], [3.0], 14.0, 50_000, 0.9, {0: True, 1: True}, **kw,
                       zone_full_n=50_000, train_zone_upper=1.5, train_zone_n=256)
    assert v.verdict == "reproduced"
    assert v.values["zone_n"] == 50_000 and v.values["train_zone_upper"] == 1.5
    assert "N = 50,000 images, the full training split" in v.measured
    assert "on the 256 training images: 1.5" in v.measured
    # the same runs judged against a zone that ends below 1.8: partly, naming the zone's N
    v = ch.verdict_c20(0.3, 0.1, [], [3.0], 1.5, 256, 0.9, {0: True}, **kw,
                       zone_full_n=50_000)
    assert v.verdict == "partly" and "the zone (N = 256) extends beyond" in v.why
    assert "N = 256 images of the 50,000 in the training split" in v.measured
    # a zone still open at the grid's last alpha extends beyond 1.8; no edge and no open
    # end (the G-term never dominates) does not
    v = ch.verdict_c20(0.3, 0.1, [], [3.0], None, 50_000, 0.9, {0: True}, **kw,
                       zone_full_n=50_000, zone_upper_open=30.0)
    assert v.verdict == "reproduced" and v.values["zone_upper_open"] == 30.0
    assert "beyond the grid's last alpha 30" in v.measured
    v = ch.verdict_c20(0.3, 0.1, [], [3.0], None, 50_000, 0.9, {0: True}, **kw,
                       zone_full_n=50_000)
    assert v.verdict == "partly"


def test_full_zone_parameters_are_checked():
    with pytest.raises(ParameterError, match="full_zone_n_low"):
        ch.Params(full_zone_n_low=50)
    with pytest.raises(ParameterError, match="full_zone_full_from"):
        ch.Params(full_zone_full_from=100.0)
    with pytest.raises(ParameterError, match="full_zone_n"):
        ch.Params(full_zone_n=[30, 10])


# ----------------------------------------------------------------------------- contract


TINY = dict(n_train={"lenet-300-100": 10, "lenet-5": 10},
            n_test={"lenet-300-100": 10, "lenet-5": 10},
            alphas={"lenet-300-100": [0.5, 1.0], "lenet-5": [1.0, 2.0]},
            eta0_range={"lenet-300-100": [0.1, 0.2], "lenet-5": [0.1, 0.2]},
            steps={"lenet-300-100": 2, "lenet-5": 2}, log_every={"lenet-300-100": 1,
                                                                 "lenet-5": 1},
            seeds=[0, 1], power_iters=2, zone_n=4, zone_d=2, full_zone_n=[4, 8],
            full_zone_n_low=4, full_zone_full_from=2.0, full_zone_alpha_grid=[0.5, 4.0, 5],
            full_zone_d=2, full_zone_seeds=[0], uso_steps=3, uso_log_every=1,
            restart_steps=1, random_n=10, random_steps=2, auc_resamples=10)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The whole chapter run once on tiny inputs (written under a tmp folder)."""
    root = tmp_path_factory.mktemp("ch04")
    return ch.run(Params(results_dir=str(root / "results"), **TINY)), root / "results"


def test_run_judge_record_on_tiny_inputs(tiny):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from goldilocks_nb.contract import VERDICTS

    res, root = tiny
    p = res.params
    assert isinstance(res, ch.Results) and p.results_dir == str(root)
    assert set(res.models) == set(ch.MODELS) and res["lenet-5"] is res.models["lenet-5"]
    assert res["full_zone"] is res.full_zone and res.get("nothing") is None
    with pytest.raises(KeyError):
        res["nothing"]
    for m in ch.MODELS:
        t = res.models[m]["table"]
        assert len(t) >= len(p.alphas[m]) and set(t.alpha) <= set(p.alphas[m])
        assert set(res.models[m]["sharp"]) == set(p.alphas[m])
    assert res.full_zone["n"] == 8 and res.flops["lenet-5"] > 0
    # C21 and C22 on every seed: their own theta_0 (and label draws), judged per seed
    assert list(res.uso) == list(res.random) == list(p.seeds) and len(p.seeds) >= 2
    assert [u["seed"] for u in res.uso.values()] == list(p.seeds)
    norms = {s: float(u["uso"].param_norm.iloc[0]) for s, u in res.uso.items()}
    assert len(set(norms.values())) == len(norms)  # different initial points
    for s, logs in res.random.items():
        assert all(set(log.seed) == {s} for log in logs.values())
    verdicts = ch.judge(res)
    by_claim = {v.claim: v for v in verdicts}
    for claim in ("C21", "C22"):
        per_seed = by_claim[claim].values["per_seed"]
        assert list(per_seed) == [str(s) for s in p.seeds]
        assert all(x["verdict"] in VERDICTS for x in per_seed.values())
    assert [v.claim for v in verdicts] == list(ch.EVIDENCE)
    assert all(v.verdict in VERDICTS and v.quote for v in verdicts)
    paths = ch.record(res, verdicts)
    assert sorted(x.name for x in paths) == sorted(f"{c}.json" for c in ch.EVIDENCE)
    assert all(x.parent == root / "claims" for x in paths)
    text = res.setting_text()
    assert text.startswith("What this profile scales down") and "lenet-5 <- " in text
    assert "N = 8 of the" in res.full_zone_text()
    assert res.tables_html().count("<table") == 4
    lines = ch.measured_lines(verdicts).splitlines()
    assert [x.split(":")[0] for x in lines if not x.startswith(" ")] == list(ch.EVIDENCE)
    for plot, name in ((ch.plot_figure8, "04_figure8"), (ch.plot_figure7, "04_figure7")):
        plt.close(plot(res))
        assert (root / "figures" / f"{name}.png").is_file()
    # a second run reads every part back from the cache: the same verdicts
    again = ch.judge(ch.run(p))
    assert [v.line() for v in again] == [v.line() for v in verdicts]


def test_judge_reads_the_params_thresholds(tiny):
    import dataclasses

    res, _ = tiny
    by_claim = {v.claim: v for v in ch.judge(res)}
    assert by_claim["C20"].values["tested_above"] == [2.0]
    # C20's bound above every LeNet-5 alpha: nothing above it was tried, so inconclusive
    high = dataclasses.replace(res, params=dataclasses.replace(res.params,
                                                               paper_trainable_alpha=5.0))
    v20 = {v.claim: v for v in ch.judge(high)}["C20"]
    assert v20.verdict == INCONCLUSIVE and v20.values["tested_above"] == []
    # B2 with more runs per class than the chapter has: inconclusive, naming the class size
    strict = dataclasses.replace(res, params=dataclasses.replace(res.params,
                                                                 auc_min_class=1000))
    b2 = {v.claim: v for v in ch.judge(strict)}["B2"]
    assert b2.verdict == INCONCLUSIVE and "fewer than 1000 runs in a class" in b2.why


def test_c20_any_learning_rate_needs_the_ladder_to_reach_the_too_fast_side():
    """C20's "any learning rate": a ladder whose top rung is slow and untrained leaves larger
    rates untried (inconclusive); a too-fast top rung closes the bracket (the verdict as
    before); a configuration that trains above 1.8 refutes the claim whatever the ladder."""
    import pandas as pd

    table = pd.DataFrame({
        "alpha": [3.0, 3.0, 3.0, 10.0, 10.0],
        "eta0": [0.01, 0.32, 0.32, 0.01, 0.04],
        "seed": [0, 0, 1, 0, 0],
        "regime": ["no progress", "no progress", "zero logits", "no progress", "no progress"],
        "overflow": [False, False, False, False, False],
        "final_zero": [0.0, 0.0, 0.9, 0.0, 0.1],
    })
    br = ch.rate_bracket(table, [3.0, 10.0], zero_threshold=0.75)
    assert br[3.0] == {"top_eta0": 0.32, "too_fast": True, "outcome": "no progress/zero logits"}
    assert br[10.0]["top_eta0"] == 0.04 and not br[10.0]["too_fast"]
    # the share of zero-logit samples alone, or an overflow, also marks the top as too fast
    t2 = table.assign(final_zero=[0.0, 0.0, 0.0, 0.0, 0.8])
    assert ch.rate_bracket(t2, [10.0], zero_threshold=0.75)[10.0]["too_fast"]
    t3 = table.assign(overflow=[False, False, False, False, True])
    assert ch.rate_bracket(t3, [10.0], zero_threshold=0.75)[10.0]["too_fast"]

    kw = dict(paper_alpha=1.8, zero_threshold=0.75, acc_margin=0.05, needed="n")
    args = (0.3, 0.1, [], [3.0, 10.0], 18.0, 256, 0.9, {0: True, 1: True, 2: True})
    v = ch.verdict_c20(*args, **kw, rate_bracket=br)
    assert v.verdict == INCONCLUSIVE and "alpha = 10" in v.why and "0.04" in v.needed
    assert v.values["rate_bracket"]["10.0"]["too_fast"] is False
    closed = {a: {**b, "too_fast": True} for a, b in br.items()}
    assert ch.verdict_c20(*args, **kw, rate_bracket=closed).verdict == "reproduced"
    assert ch.verdict_c20(*args, **kw).verdict == "reproduced"     # not checked: as before
    v = ch.verdict_c20(0.3, 0.1, [10.0], [3.0, 10.0], 18.0, 256, 0.9, {0: False}, **kw,
                       rate_bracket=br)
    assert v.verdict == "not reproduced"
