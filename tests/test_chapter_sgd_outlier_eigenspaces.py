"""Chapter 06 module: parameters, resolved alignments, per-seed summaries, verdict branches
(incl. inconclusive), the cache key of a moved results folder, notebook parameters cell."""

import dataclasses
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import goldilocks_nb.chapters.sgd_outlier_eigenspaces as ch
from goldilocks_nb.chapters.sgd_outlier_eigenspaces import (
    Params,
    c26_seed_summary,
    c27_seed_summary,
    first_time_above,
    memory_estimate_gb,
    resolved_alignment,
    run_seeds,
    verdict_c26,
    verdict_c27,
)
from goldilocks_nb.contract import INCONCLUSIVE, ParameterError
from notebook_cases import assert_thin_notebook, notebook_parameters

NB = Path(__file__).resolve().parents[1] / "notebooks" / "06_sgd_outlier_eigenspaces.ipynb"


def test_notebook_parameters_equal_defaults():
    values = notebook_parameters(NB)
    assert values == {f.name: getattr(Params(), f.name) for f in dataclasses.fields(Params)}


@pytest.mark.parametrize("name, value", [
    ("k", 1), ("k", 2.0), ("d", 3), ("snr", 0.0), ("beta", -1.0), ("lr_scale", 0.0),
    ("train_time", 0.0), ("heldout_per_dim", 0), ("population_samples", 10),
    ("checkpoints", 1), ("xor_width", 4), ("xor_d", 2), ("xor_train_time", -1.0),
    ("resolve_gap", 1.0), ("soon_fraction", 0.0), ("min_gap", 0.9), ("escape_accuracy", 0.5),
    ("seeds", []), ("seeds", [0, 0]), ("seeds", [-1]), ("max_memory_gb", 0.0),
    ("torch_threads", -2),
])
def test_bad_parameters_named(name, value):
    with pytest.raises(ParameterError, match=name):
        Params(**{name: value})


@pytest.mark.parametrize("name", ["d", "xor_d"])
def test_huge_dimension_refused_with_memory_estimate(name):
    """d = 100000 used to end in an allocator error; now refused before any compute."""
    with pytest.raises(ParameterError, match=rf"'{name}' = 100000.*e\+03 GB"):
        Params(**{name: 100_000})
    est = memory_estimate_gb(SimpleNamespace(d=100_000, xor_d=10, heldout_per_dim=20,
                                             xor_width=20))
    assert est["d"] == pytest.approx(8 * (20 * 1e10 + 6 * 1e10) / 1e9)
    assert est["xor_d"] == pytest.approx(8 * (20 * 100 + 44 * 100) / 1e9)


def test_first_time_above():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    assert first_time_above(t, np.array([0.1, 0.95, 0.5, 0.95]), 0.9) == 3.0
    assert first_time_above(t, np.array([[0.1, 0.2], [0.95, 0.9], [0.99, 0.97], [1, 1]]),
                            0.9) == 1.0
    assert first_time_above(t, np.array([0.1, 0.2, 0.3, 0.4]), 0.9) is None


def test_resolved_alignment():
    U = torch.eye(5, dtype=torch.float64)
    x = torch.tensor([3.0, 0.0, 4.0, 0.0, 0.0], dtype=torch.float64)
    # gaps 2.0, 1.01, 2.0: E_1 and E_3 resolved, E_2 not; k = 3 -> r = 3
    vals = torch.tensor([8.0, 4.0, 3.96, 1.98, 1.0], dtype=torch.float64)
    res = resolved_alignment(x, vals, U, 3, 1.05)
    assert res["r"] == 3 and res["align_r"] == pytest.approx(1.0)
    assert res["gap_k"] == pytest.approx(2.0)
    # k = 2: the only resolved j <= 2 is 1; x has 3/5 of its norm on e_1
    res = resolved_alignment(x, vals, U, 2, 1.05)
    assert res["r"] == 1 and res["align_r"] == pytest.approx(0.6)
    assert res["align_k"] == pytest.approx(0.6) and res["gap_k"] == pytest.approx(4 / 3.96)
    # nothing resolved
    flat = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    assert resolved_alignment(x, flat, U, 2, 1.05)["r"] == 0


def _gmm_run(align_r, r, align_k, gap, align_mu, k=2):
    """A fake gmm_run with two checkpoints, every class and estimator the same."""
    T = 2

    def arr(v):
        return np.full((T, k), v, dtype=float)

    run = {"times": np.array([0.0, 10.0]), "align_mu": arr(align_mu),
           "top_H11_pop": np.array([1.1, 2.0]), "pop_seconds": 0.5, "seconds": 3.0,
           "accuracy": 0.9}
    for est in ("pop", "emp"):
        for mat in "HG":
            run[f"{est}_{mat}_r"] = arr(r).astype(int)
            run[f"{est}_{mat}_align_r"] = arr(align_r)
            run[f"{est}_{mat}_align_k"] = arr(align_k)
            run[f"{est}_{mat}_gap_k"] = arr(gap)
    for key in [key for key in run if key.startswith("emp_")]:
        run[key] = run[key][-1]            # the empirical blocks: end of training only
    return run


def test_c26_seed_summary_statuses():
    p = Params(k=2, d=10)
    s = c26_seed_summary(_gmm_run(0.95, 2, 0.95, 1.3, 0.97), p)
    assert s["pop_H_status"] == "yes" and s["time_H"] == 0.0 and s["top_gap"] == 2.0
    s = c26_seed_summary(_gmm_run(0.8, 2, 0.8, 1.3, 0.97), p)
    assert s["pop_G_status"] == "no" and s["time_G"] is None
    s = c26_seed_summary(_gmm_run(0.8, 1, 0.85, 1.01, 0.97), p)
    assert s["pop_H_status"] == "unresolved"
    s = c26_seed_summary(_gmm_run(0.8, 2, 0.8, 1.3, 0.85), p)   # not yet in span(mu)
    assert s["pop_H_status"] == "short"
    assert s["baseline"] == pytest.approx(np.sqrt(0.2))


def _s26(H="yes", G="yes", time_H=10.0, time_G=10.0, gap_G=1.3, **kw):
    s = {"pop_H_status": H, "pop_G_status": G, "time_H": time_H, "time_G": time_G,
         "topk_gap_H": 1.2, "top_gap": 1.9, "align_mu": 0.97, "baseline": 0.2,
         "pop_seconds": 2.0, "seconds": 20.0, "accuracy": 0.95}
    for est in ("pop", "emp"):
        for mat in "HG":
            s.setdefault(f"{est}_{mat}_status", "yes")
            s[f"{est}_{mat}_r"] = 10
            s[f"{est}_{mat}_align_r"] = 0.95
            s[f"{est}_{mat}_align_k"] = 0.95
            s[f"{est}_{mat}_gap_k"] = 1.2
    s["pop_G_gap_k"] = gap_G
    s.update(kw)
    return s


def _c26(seeds):
    return verdict_c26(dict(enumerate(seeds)), k=10, d=200, snr=10.0, train_time=50.0,
                       soon_fraction=0.5, resolve_gap=1.05, min_gap=1.5, heldout_per_dim=20,
                       population_samples=100_000)


def test_c26_branches():
    v = _c26([_s26()] * 3)
    assert v.verdict == "reproduced" and v.values["core"] == {"H": "yes", "G": "yes"}
    assert set(v.values["per_seed"]) == {"0", "1", "2"} and "Fig. 2.3 caption" in v.quote
    assert "1 - 1/lambda" in v.definition and "1.05" in v.definition
    v = _c26([_s26(), _s26(time_G=40.0), _s26()])
    assert v.verdict == "partly" and "aligned by t = 25 (2 of 3 seeds)" in v.why
    v = _c26([_s26(top_gap=1.2)] * 3)
    assert v.verdict == "partly" and "top eigenvalue separated" in v.why
    v = _c26([_s26(G="no")] * 3)
    assert v.verdict == "partly" and "G alignment (0 of 3 seeds)" in v.why
    v = _c26([_s26(H="no", G="no")] * 3)
    assert v.verdict == "not reproduced"
    v = _c26([_s26(H="no", G="unresolved")] * 3)
    assert v.verdict == "not reproduced" and "G unresolved" in v.why


def test_c26_inconclusive_unresolved_gap_names_size():
    v = _c26([_s26(), _s26(G="unresolved", gap_G=1.01), _s26()])
    assert v.verdict == INCONCLUSIVE and v.values["core"]["G"] == "unresolved"
    assert "G block is not resolved" in v.why and "Hessian part is aligned" in v.why
    # gap 1.01 -> delta 0.01: M / d >= 1 / delta^2 = 10000, n_mc = (30 / 0.01)^2 = 9e6
    assert "M / d >= 10000" in v.needed and "n ~ 9e+06" in v.needed
    assert "s GPU" in v.needed and "gap 1.0100" in v.needed
    assert "also failed" not in v.why
    v = _c26([_s26(G="unresolved", gap_G=1.01, time_H=40.0)] * 3)
    assert v.verdict == INCONCLUSIVE and "also failed: aligned by t = 25 (0 of 3 seeds)" in v.why


def test_c26_inconclusive_short_training():
    v = _c26([_s26(H="short", G="short", align_mu=0.8)] * 3)
    assert v.verdict == INCONCLUSIVE and "span(mu)" in v.why
    assert "t = 100" in v.needed and "40 s CPU" in v.needed


def test_c27_seed_summary_weights_signal_rows():
    """Rows with v_i = 0 (no signal) do not enter the weighted mean; they do the plain one."""
    times = np.array([0.0, 5.0, 10.0])
    run = {"times": times, "v2": np.array([[1.0, 1.0, 0.0, 0.0]] * 3),
           "align_W_H": np.array([[0.9, 0.8, 0.1, 0.3]] * 3),
           "align_W_G": np.array([[0.95, 0.95, 1.0, 1.0]] * 3),
           "gap_W_H": np.array([[3.0, 5.0, 1.0, 1.0]] * 3),
           "gap_W_G": np.array([[1.5, 1.7, 1.0, 1.0]] * 3),
           "align_v_H": np.array([0.5, 0.9, 0.99]), "align_v_G": np.array([0.4, 0.8, 0.97]),
           "outliers_vv": np.array([1, 4, 4]), "accuracy": np.array([0.5, 0.9, 0.97]),
           "seconds": 4.0}
    s = c27_seed_summary(run)
    assert s["align_W_H"] == pytest.approx(0.85) and s["align_W_H_all"] == pytest.approx(0.525)
    assert s["align_W_G"] == pytest.approx(0.95) and s["align_W_G_all"] == pytest.approx(0.975)
    assert s["gap_W_H"] == pytest.approx(4.0) and s["gap_W_G"] == pytest.approx(1.6)
    assert s["signal_rows"] == 2
    assert (s["outliers_init"], s["outliers_end"], s["time_4"]) == (1, 4, 5.0)


def _s27(**kw):
    s = {"align_W_H": 0.95, "align_W_G": 0.93, "align_W_H_all": 0.5, "align_W_G_all": 0.6,
         "gap_W_H": 3.0, "gap_W_G": 1.5, "signal_rows": 8, "align_v_H": 0.99, "align_v_G": 0.98,
         "outliers_init": 1, "outliers_end": 4, "accuracy": 0.97, "time_4": 30.0,
         "seconds": 10.0}
    s.update(kw)
    return s


def _c27(seeds):
    return verdict_c27(dict(enumerate(seeds)), snr=10.0, train_time=60.0,
                       escape_accuracy=0.9, resolve_gap=1.05, xor_d=100, xor_width=20,
                       heldout_per_dim=10)


def test_c27_branches():
    v = _c27([_s27()] * 3)
    assert v.verdict == "reproduced" and v.values["checks"][
        "4 vv outliers after training"] == "3 of 3 seeds"
    assert "Fig. 2.5 caption" in v.quote and "v_i^2" in v.definition
    v = _c27([_s27(), _s27(align_W_G=0.5), _s27()])
    assert v.verdict == "partly" and "(G, v_i^2-weighted) >= 0.90 (2 of 3 seeds)" in v.why
    v = _c27([_s27(outliers_init=2)] * 3)
    assert v.verdict == "partly" and "1 vv outlier at init (0 of 3 seeds)" in v.why
    v = _c27([_s27(align_W_H=0.6)] * 3)
    assert v.verdict == "not reproduced"
    v = _c27([_s27(), _s27(outliers_end=3), _s27()])       # escaped, yet 3 outliers
    assert v.verdict == "not reproduced" and "(2 of 3 seeds)" in v.why


def test_c27_inconclusive_before_escape():
    v = _c27([_s27(), _s27(outliers_end=2, accuracy=0.7, time_4=None), _s27()])
    assert v.verdict == INCONCLUSIVE and "[1]" in v.why and "XOR saddle" in v.why
    assert "t ~ 60" in v.needed and "10 s CPU" in v.needed
    # a failing seed that did escape makes it a decided "not reproduced"
    v = _c27([_s27(outliers_end=3), _s27(outliers_end=2, accuracy=0.7), _s27()])
    assert v.verdict == "not reproduced"


def test_c27_inconclusive_unresolved_first_layer_block():
    v = _c27([_s27(align_W_G=0.8, gap_W_G=1.02)] * 3)
    assert v.verdict == INCONCLUSIVE and "lambda_2/lambda_3 = 1.02 < 1.05" in v.why
    assert "M / d >= 2500" in v.needed               # 1 / 0.02^2
    # the same alignment with a resolved E_2 is a decided failure of a non-core check
    assert _c27([_s27(align_W_G=0.8, gap_W_G=1.3)] * 3).verdict == "partly"


TINY = dict(k=2, d=8, train_time=1.0, heldout_per_dim=2, population_samples=1000,
            checkpoints=2, xor_width=10, xor_d=6, xor_train_time=1.0, seeds=[0, 1])


def test_moved_results_folder_recomputes_nothing(tmp_path, monkeypatch):
    """Runs are cached under result_key() + seed: a results folder copied elsewhere (another
    results_dir and profile) is read, not recomputed."""
    first = Params(**TINY, results_dir=str(tmp_path / "a"), profile="smoke")
    runs = run_seeds(first, tmp_path / "a" / "cache", report=None)
    shutil.copytree(tmp_path / "a", tmp_path / "moved")
    calls = []

    def counting(name):
        def fn(params, seed):
            calls.append((name, seed))
            raise AssertionError("recomputed")
        return fn

    monkeypatch.setattr(ch, "gmm_run", counting("gmm"))
    monkeypatch.setattr(ch, "xor_run", counting("xor"))
    moved = Params(**TINY, results_dir=str(tmp_path / "moved"), profile="renamed")
    again = run_seeds(moved, tmp_path / "moved" / "cache", report=None)
    assert calls == []
    np.testing.assert_array_equal(again["gmm"][1]["pop_H_align_k"],
                                  runs["gmm"][1]["pop_H_align_k"])
    # a subset of the seeds is read from the same entries; a new seed is computed
    Params_sub = Params(**{**TINY, "seeds": [1]}, results_dir=str(tmp_path / "moved"))
    run_seeds(Params_sub, tmp_path / "moved" / "cache", report=None)
    assert calls == []
    with pytest.raises(AssertionError, match="recomputed"):
        run_seeds(Params(**{**TINY, "seeds": [5]}), tmp_path / "moved" / "cache", report=None)
    assert calls == [("gmm", 5)]


def test_numpy_sgd_segments_equal_the_tested_torch_steps():
    """The chapter's NumPy online-SGD loops against softmax_sgd_step / xor_sgd_step (which
    the softmax_regression tests check against autodiff), one sample per step."""
    from goldilocks_nb.mixtures import axis_means, sample_gmm, sample_xor, xor_means
    from goldilocks_nb.softmax_regression import softmax_sgd_step, xor_sgd_step

    gen = torch.Generator().manual_seed(0)
    means = axis_means(3, 9)
    Y, a = sample_gmm(means, 25, snr=2.0, gen=gen)
    W0 = torch.randn(3, 9, generator=gen, dtype=torch.float64)
    W = W0
    for i in range(25):
        W = softmax_sgd_step(W, Y[i:i + 1], a[i:i + 1], 0.3, 0.05)
    np.testing.assert_allclose(ch.gmm_sgd_segment(W0.numpy(), Y.numpy(), a.numpy(), 0.3, 0.05),
                               W.numpy(), rtol=1e-12, atol=1e-12)
    Y, y, _ = sample_xor(xor_means(9), 25, snr=2.0, gen=gen)
    W0 = torch.randn(5, 9, generator=gen, dtype=torch.float64)
    v0 = torch.randn(5, generator=gen, dtype=torch.float64)
    W, v = W0, v0
    for i in range(25):
        W, v = xor_sgd_step(W, v, Y[i:i + 1], y[i:i + 1], 0.3, 0.05)
    Wn, vn = ch.xor_sgd_segment(W0.numpy(), v0.numpy(), Y.numpy(), y.numpy(), 0.3, 0.05)
    np.testing.assert_allclose(Wn, W.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(vn, v.numpy(), rtol=1e-12, atol=1e-12)


# ---- the chapter contract: run, judge, record on Results

def _results(s26, s27, **params):
    return ch.Results(params=Params(**params), device=torch.device("cpu"), dirs={}, runs={},
                      s26=dict(enumerate(s26)), s27=dict(enumerate(s27)))


def test_judge_reads_the_params():
    res = _results([_s26()] * 3, [_s27()] * 3, k=10, d=200, train_time=50.0)
    v26, v27 = ch.judge(res)
    assert (v26.claim, v26.verdict) == ("C26", "reproduced")
    assert (v27.claim, v27.verdict) == ("C27", "reproduced")
    assert v26.values["threshold"] == pytest.approx(res.threshold) == pytest.approx(0.9)
    # the tolerance 1 - 1/snr comes from Params: at snr = 100 an alignment of 0.95 fails
    strict = _results([_s26()] * 3, [_s27()] * 3, k=10, d=200, train_time=50.0, snr=100.0)
    v27 = ch.judge(strict)[1]
    assert v27.verdict == "not reproduced" and v27.values["threshold"] == pytest.approx(0.99)
    # soon_fraction and train_time decide "soon": aligned at t = 10 is late for 0.1 x 50
    late = _results([_s26()] * 3, [_s27()] * 3, k=10, d=200, train_time=50.0,
                    soon_fraction=0.1)
    v26 = ch.judge(late)[0]
    assert v26.verdict == "partly" and v26.values["other"]["aligned by t = 5"] == "0 of 3 seeds"
    # xor_train_time (not train_time) is C27's training length in the needed estimate
    stuck = _results([_s26()] * 3, [_s27(outliers_end=2, accuracy=0.7, time_4=None)] * 3,
                     xor_train_time=7.0)
    v27 = ch.judge(stuck)[1]
    assert v27.verdict == INCONCLUSIVE and "t ~ 14" in v27.needed


def test_needed_lines_only_for_undecided_verdicts():
    res = _results([_s26(H="short", G="short", align_mu=0.8)] * 3, [_s27()] * 3, k=10, d=200)
    verdicts = ch.judge(res)
    assert [v.verdict for v in verdicts] == [INCONCLUSIVE, "reproduced"]
    lines = ch.needed_lines(verdicts).splitlines()
    assert len(lines) == 1 and lines[0].startswith("C26")


def test_run_judge_record_on_a_tiny_profile(tmp_path):
    params = Params(**{**TINY, "seeds": [0, 1, 2]}, results_dir=str(tmp_path / "r"))
    res = ch.run(params)
    assert set(res.runs["gmm"]) == set(res.s26) == {0, 1, 2} == set(res.s27)
    assert res.s26[1] == c26_seed_summary(res.runs["gmm"][1], params)
    assert res.s27[2] == c27_seed_summary(res.runs["xor"][2])
    verdicts = ch.judge(res)
    assert [v.claim for v in verdicts] == ["C26", "C27"]
    assert set(verdicts[0].values["per_seed"]) == {"0", "1", "2"}
    paths = ch.record(res, verdicts)
    assert [p.name for p in paths] == ["C26.json", "C27.json"]
    assert all(p.parent == tmp_path / "r" / "claims" for p in paths)
    # the runs were cached under the seeds: a second run reads them
    again = ch.run(Params(**{**TINY, "seeds": [0, 1, 2]}, results_dir=str(tmp_path / "r")))
    np.testing.assert_array_equal(again.runs["xor"][0]["accuracy"],
                                  res.runs["xor"][0]["accuracy"])


def test_notebook_is_thin():
    assert_thin_notebook(NB, ch)
