"""Chapter 05 module: parameter validation, verdict branches, cache key, notebook cell."""

import dataclasses
import shutil
from pathlib import Path

import pytest

from goldilocks_nb.chapters import bulk_and_outliers as ch
from goldilocks_nb.chapters.bulk_and_outliers import Params, verdict_c24, verdict_c25
from goldilocks_nb.contract import INCONCLUSIVE, ParameterError, paper_quote
from notebook_cases import assert_thin_notebook, notebook_parameters

NB = Path(__file__).resolve().parents[1] / "notebooks" / "05_bulk_and_outliers.ipynb"
PAPER = Path("/work/shared/paper")


def test_notebook_parameters_equal_defaults():
    values = notebook_parameters(NB)
    defaults = {f.name: getattr(Params(), f.name) for f in dataclasses.fields(Params)}
    assert values == defaults


@pytest.mark.parametrize("name, value", [
    ("dataset", "mnist"), ("dataset", "gaussian"), ("n_samples", 5), ("pool", 3),
    ("widths", [8]), ("widths", [12, 6]), ("real_widths", [6]), ("width", 0), ("lr", 0.0),
    ("clusters", [4]), ("clusters", [1, 3]), ("clusters", [5, 3]), ("mixture_dim", 2),
    ("separations", [1.0, -1.0]), ("min_gap", 1.0), ("min_resolution", 0.9),
    ("slq_steps", 1), ("slq_sigma", 0.0), ("sgd_large_batch", 5), ("sgd_large_batch", 1000),
    ("line_points", 2), ("line_extend", -0.1), ("alphas", [1.0]), ("alphas", [0.0, 1.0]),
    ("count_tolerance", -1), ("bulk_ratio_tolerance", 0.5), ("barrier_tolerance", 0.0),
    ("seeds", [0, 1]), ("seeds", [0, 0, 1]), ("seeds", [-1, 0, 1]), ("seeds", [0, 1.5, 2]),
    ("torch_threads", -1), ("sgd_large_epochs", 0), ("slq_l1_tolerance", 0.0),
    ("sgd_longer", 1), ("trained_fraction", 1.0), ("target_loss", 0.0),
    ("width_clusters", 1),
])
def test_bad_parameters_named(name, value):
    with pytest.raises(ParameterError, match=name):
        Params(**{name: value})


@pytest.mark.parametrize("name, value", [
    ("widths", [6, 2000]), ("real_widths", [6, 2000]), ("width", 500),
])
def test_too_large_nets_refused_up_front_naming_the_parameter(name, value):
    with pytest.raises(ParameterError, match=rf"'{name}'.*at most 12,000 weights") as err:
        Params(**{name: value})
    assert "slq_widths" in str(err.value)  # the chapter parameter for larger nets


def test_quotes_are_the_papers_sentences():
    text = " ".join((next(PAPER.glob("001_*.txt"))).read_text().split()) if PAPER.exists() \
        else None
    for fn in (verdict_c24, verdict_c25):
        quote = paper_quote(fn)
        assert "Sagun et al., abstract" in quote
        if text is not None:
            assert quote.split('" (')[0].strip('"') in text


def _seed(clusters=None, widths=None, wr=1.2, sr=1.3):
    return {"cluster_counts": clusters or {4: 3, 8: 7, 12: 11},
            "width_counts": widths or {16: 3, 32: 3},
            "width_outlier_ratio": wr, "separation_bulk_ratio": sr,
            "separation_outlier_ratio": 1.5, "resolutions": {"a": 1.5, "b": 2.0}}


def _c24(per_seed):
    return verdict_c24(per_seed, width_clusters=4, count_tolerance=0, bulk_ratio_tolerance=2.0,
                       min_gap=1.3, min_resolution=1.2, mixture_samples=480, seconds=50.0)


def test_c24_reproduced():
    v = _c24({s: _seed() for s in (0, 1, 2)})
    assert v.verdict == "reproduced" and v.claim == "C24"
    assert v.values["seed_agreement"] == "3 of 3 seeds"
    assert v.values["per_seed"]["1"]["cluster_counts"] == {"4": 3, "8": 7, "12": 11}
    assert v.quote and "resolved" in v.definition and "1.2" in v.definition


def test_c24_partly_secondary():
    v = _c24({0: _seed(), 1: _seed(sr=3.5), 2: _seed()})
    assert v.verdict == "partly" and "seed 1" in v.why and "3.5" in v.why
    assert "outlier mean 1.5x" in v.why
    v = _c24({s: _seed(wr=2.5) for s in (0, 1, 2)})
    assert v.verdict == "partly" and "across widths" in v.why


def test_c24_flips_between_seeds():
    v = _c24({0: _seed(), 1: _seed(clusters={4: 3, 8: 2, 12: 11}), 2: _seed()})
    assert v.verdict == "partly" and "flips between seeds" in v.why
    assert "2 of 3 seeds" in v.why and "K=8: 2" in v.why
    assert v.values["per_seed"]["1"]["core"] is False


def test_c24_not_reproduced():
    v = _c24({s: _seed(widths={16: 3, 32: 5}) for s in (0, 1, 2)})
    assert v.verdict == "not reproduced" and "spread 2" in v.why
    v = _c24({s: _seed(clusters={4: 1, 8: 1, 12: 1}) for s in (0, 1, 2)})
    assert v.verdict == "not reproduced" and "K=12: 1" in v.why


def test_c24_inconclusive_when_an_edge_is_not_resolved():
    v = _c24({0: _seed(), 1: _seed(clusters={4: 3, 8: None, 12: 11}), 2: _seed()})
    assert v.verdict == INCONCLUSIVE
    assert "seed 1 K=8" in v.why
    assert "mixture_samples = 1920" in v.needed and "200 s" in v.needed
    assert v.values["per_seed"]["1"]["cluster_counts"]["8"] is None


def _line(small=0.1, large=0.12, barrier=0.01, init=2.3):
    return {"small_loss": small, "large_loss": large, "barrier": barrier, "init_loss": init}


def _c25(lines):
    return verdict_c25(lines, barrier_tolerance=0.05, trained_fraction=0.5,
                       sgd_epochs=(30, 600), seconds=20.0)


def test_c25_branches():
    good = {s: {"trained": _line(), "trained longer": _line(barrier=-0.01)} for s in (0, 1, 2)}
    v = _c25(good)
    assert v.verdict == "reproduced"
    assert v.values["summary"]["trained"]["median"] == pytest.approx(0.01 / 2.18)
    assert v.values["per_seed"]["2"]["trained longer"]["relative_barrier"] < 0
    assert v.why == ""
    growing = {s: {"trained": _line(barrier=0.0), "trained longer": _line(barrier=0.1)}
               for s in (0, 1, 2)}
    v = _c25(growing)
    assert v.verdict == "reproduced" and "grows with training" in v.why
    # barrier normalised by the loss drop, not the (vanishing) endpoint loss
    tiny_ends = {s: {"trained": _line(1e-4, 2e-4, 0.001), "trained longer":
                     _line(1e-5, 1e-5, 0.001)} for s in (0, 1, 2)}
    assert _c25(tiny_ends).verdict == "reproduced"
    flip = {**good, 1: {"trained": _line(), "trained longer": _line(barrier=0.3)}}
    v = _c25(flip)
    assert v.verdict == "partly" and "flips" in v.why and "seed 1 trained longer: 0.14" in v.why
    assert v.values["seed_agreement"]["trained longer"] == "2 of 3 seeds"
    bad = {s: {"trained": _line(barrier=0.5), "trained longer": _line(barrier=0.4)}
           for s in (0, 1, 2)}
    assert _c25(bad).verdict == "not reproduced"
    untrained = {**good, 2: {"trained": _line(small=1.5), "trained longer": _line()}}
    v = _c25(untrained)
    assert v.verdict == INCONCLUSIVE and "seed 2 trained" in v.why
    assert "sgd_epochs = 120" in v.needed and "80 s" in v.needed


def test_moved_results_folder_is_not_recomputed(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"x": [1.0, 2.0]}

    a = Params(results_dir=str(tmp_path / "a"), profile="one")
    first = ch.computed(a, "probe", compute, tmp_path / "a" / "cache")
    shutil.copytree(tmp_path / "a", tmp_path / "moved" / "b")
    b = Params(results_dir=str(tmp_path / "moved" / "b"), profile="other", device="cpu")
    again = ch.computed(b, "probe", compute, tmp_path / "moved" / "b" / "cache")
    assert again == first and len(calls) == 1
    changed = Params(results_dir=str(tmp_path / "moved" / "b"), target_loss=0.2)
    ch.computed(changed, "probe", compute, tmp_path / "moved" / "b" / "cache")
    assert len(calls) == 2  # a parameter that changes the result does recompute


# ---- the chapter contract: run, judge, record on Results

def _case(K, h, sep, count, *, mean=2.0, bulk=0.07, seconds=1.0):
    return {"clusters": K, "width": h, "separation": sep, "count": count,
            "resolved": count is not None, "outlier_mean": mean, "bulk_std": bulk,
            "resolution": 1.5 if count is not None else 1.0, "loss": 0.3, "seconds": seconds}


def _sweep(counts=(2, 4), width_counts=(2, 2), bulk=(0.07, 0.08)):
    p = Params()
    return {"clusters": [_case(K, p.width, 3.0, c) for K, c in zip(p.clusters, counts)],
            "widths": [_case(3, h, 3.0, c) for h, c in zip(p.widths, width_counts)],
            "separations": [_case(3, p.width, s, width_counts[0], bulk=b)
                            for s, b in zip(p.separations, bulk)]}


def _results(sweeps, lines, **params):
    p = Params(**params)
    return ch.Results(params=p, device=None, dirs={}, data=None, slq_data=None, sweeps=sweeps,
                      real=[], slq={}, lines=lines, alphas=[])


def _lines(barrier=0.01, seconds=2.0):
    return {"trained": _line(barrier=barrier), "trained longer": _line(barrier=barrier),
            "seconds": seconds}


def test_judge_reads_the_params_thresholds_and_measured_seconds():
    res = _results({s: _sweep() for s in (0, 1, 2)}, {s: _lines() for s in (0, 1, 2)})
    assert res.sweep_seconds == pytest.approx(3 * 6 * 1.0)   # 3 seeds x 6 case entries
    assert res.line_seconds == pytest.approx(6.0)
    assert res.c24 == ch.summarise_c24(res.sweeps)
    v24, v25 = ch.judge(res)
    assert (v24.claim, v24.verdict) == ("C24", "reproduced")
    assert (v25.claim, v25.verdict) == ("C25", "reproduced")
    assert v24.values["per_seed"]["2"]["cluster_counts"] == {"3": 2, "5": 4}
    assert v25.values["summary"]["trained"]["median"] == pytest.approx(0.01 / 2.18)
    # the Params' thresholds decide: a barrier of 0.01/2.18 fails a tolerance of 0.001
    strict = _results(res.sweeps, res.lines, barrier_tolerance=0.001)
    assert ch.judge(strict)[1].verdict == "not reproduced"
    loose = _results({s: _sweep(counts=(2, 2)) for s in (0, 1, 2)}, res.lines,
                     count_tolerance=2)
    assert ch.judge(loose)[0].verdict == "reproduced"
    assert ch.judge(_results(loose.sweeps, res.lines))[0].verdict == "not reproduced"


def test_judge_branches_on_results():
    lines = {s: _lines() for s in (0, 1, 2)}
    flip = {0: _sweep(), 1: _sweep(counts=(2, 1)), 2: _sweep()}
    v24 = ch.judge(_results(flip, lines))[0]
    assert v24.verdict == "partly" and v24.values["seed_agreement"] == "2 of 3 seeds"
    unresolved = {0: _sweep(), 1: _sweep(counts=(2, None)), 2: _sweep()}
    v24 = ch.judge(_results(unresolved, lines))[0]
    assert v24.verdict == INCONCLUSIVE
    assert v24.values["per_seed"]["1"]["cluster_counts"]["5"] is None
    assert f"{4 * 18:.0f} s" in v24.needed            # 4x the measured sweep time
    bulk = {s: _sweep(bulk=(0.07, 0.5)) for s in (0, 1, 2)}
    v24 = ch.judge(_results(bulk, lines))[0]
    assert v24.verdict == "partly"
    assert v24.values["per_seed"]["0"]["separation_bulk_ratio"] == pytest.approx(0.5 / 0.07)
    untrained = {**lines, 1: {**_lines(), "trained": _line(small=2.0)}}
    v25 = ch.judge(_results({s: _sweep() for s in (0, 1, 2)}, untrained))[1]
    assert v25.verdict == INCONCLUSIVE
    assert v25.values["per_seed"]["1"]["trained"]["small_loss"] == 2.0


def test_alpha_lines_mark_unresolved_edges():
    res = _results({}, {})
    res.alphas = [{"alpha": 0.5, "positive_curvature": 1.0, "count": None, "position": 3,
                   "resolution": 1.0},
                  {"alpha": 1.0, "positive_curvature": 2.0, "count": 9, "position": 9,
                   "resolution": 2.0}]
    first, second = res.alpha_lines().splitlines()
    assert "outliers ?" in first and "outliers 9" in second


TINY = dict(n_samples=20, real_widths=[2, 3], widths=[3, 4], width=3, train_steps=20,
            mixture_samples=30, mixture_dim=6, slq_widths=[8, 4], slq_samples=20, slq_pool=4,
            slq_steps=10, sgd_small_batch=5, sgd_large_batch=20, sgd_epochs=2,
            sgd_large_epochs=4, sgd_longer=2, line_points=5, alphas=[0.5, 1.0])


def test_run_judge_record_on_a_tiny_profile(tmp_path, monkeypatch):
    """run() wires every part, caches each, and judge/record read the Results (tiny nets)."""
    params = Params(**TINY, results_dir=str(tmp_path / "r"), device="cpu")
    res = ch.run(params)
    assert set(res.sweeps) == {0, 1, 2} and set(res.lines) == {0, 1, 2}
    assert [c["clusters"] for c in res.sweeps[1]["clusters"]] == params.clusters
    assert [w["width"] for w in res.real] == params.real_widths
    assert [a["alpha"] for a in res.alphas] == params.alphas
    assert res.slq["big_P"] == 49 * 8 + 8 * 4 + 4 * 10   # 7x7 inputs, widths [8, 4]
    verdicts = ch.judge(res)
    assert [v.claim for v in verdicts] == ["C24", "C25"]
    assert verdicts[0].values["per_seed"]["0"]["cluster_counts"] == {
        str(K): c for K, c in res.c24[0]["cluster_counts"].items()}
    paths = ch.record(res, verdicts)
    assert [p.name for p in paths] == ["C24.json", "C25.json"]
    assert all(p.parent == tmp_path / "r" / "claims" for p in paths)

    def recomputed(*args, **kwargs):
        raise AssertionError("recomputed")

    for name in ("cluster_sweep", "real_spectra", "slq_validation", "batch_size_lines",
                 "alpha_sweep"):
        monkeypatch.setattr(ch, name, recomputed)
    again = ch.run(Params(**TINY, results_dir=str(tmp_path / "r"), profile="other"))
    assert [v.verdict for v in ch.judge(again)] == [v.verdict for v in verdicts]


def test_notebook_is_thin():
    assert_thin_notebook(NB, ch)
