"""Chapter 05 module: parameter validation, verdict branches, notebook parameters cell."""

import dataclasses
from pathlib import Path

import pytest

from goldilocks_nb.chapters.bulk_and_outliers import Params, verdict_c24, verdict_c25
from goldilocks_nb.contract import ParameterError
from notebook_cases import notebook_parameters

NB = Path(__file__).resolve().parents[1] / "notebooks" / "05_bulk_and_outliers.ipynb"


def test_notebook_parameters_equal_defaults():
    values = notebook_parameters(NB)
    defaults = {f.name: getattr(Params(), f.name) for f in dataclasses.fields(Params)}
    assert values == defaults


@pytest.mark.parametrize("name, value", [
    ("dataset", "mnist"), ("dataset", "gaussian"), ("n_samples", 5), ("pool", 3),
    ("widths", [8]), ("widths", [12, 6]), ("width", 0), ("lr", 0.0), ("clusters", [4]),
    ("clusters", [1, 3]), ("mixture_dim", 2), ("separations", [1.0, -1.0]),
    ("min_gap", 1.0), ("slq_steps", 1), ("slq_sigma", 0.0), ("sgd_large_batch", 5),
    ("sgd_large_batch", 1000), ("line_points", 2), ("line_extend", -0.1), ("alphas", [1.0]),
    ("alphas", [0.0, 1.0]), ("count_tolerance", -1), ("bulk_ratio_tolerance", 0.5),
    ("barrier_tolerance", 0.0), ("seed", -1), ("seed", 1.5), ("torch_threads", -1),
    ("sgd_large_epochs", 0), ("slq_l1_tolerance", 0.0),
])
def test_bad_parameters_named(name, value):
    with pytest.raises(ParameterError, match=name):
        Params(**{name: value})


def _c24(width_counts=(9, 9, 10), clusters=None, scales=(1.0, 1.5)):
    return verdict_c24(list(width_counts), [0.1, 0.2, 0.3], 10,
                       clusters or {4: 3, 8: 7}, list(scales), count_tolerance=1,
                       bulk_ratio_tolerance=2.0)


def test_c24_reproduced():
    v = _c24()
    assert v.verdict == "reproduced" and v.claim == "C24"
    assert "4->3" in v.measured


def test_c24_partly_real_data_off():
    v = _c24(width_counts=(5, 5, 6))
    assert v.verdict == "partly" and "real-data counts" in v.why


def test_c24_partly_bulk_changes():
    v = _c24(scales=(1.0, 3.0))
    assert v.verdict == "partly" and "bulk scale ratio across separations 3" in v.why


def test_c24_not_reproduced_width_spread():
    v = _c24(width_counts=(2, 9, 10))
    assert v.verdict == "not reproduced" and "count spread over widths 8" in v.why


def test_c24_not_reproduced_clusters():
    v = _c24(clusters={4: 3, 8: 0})
    assert v.verdict == "not reproduced" and "K=8: 0" in v.why


def test_c25_branches():
    assert verdict_c25(0.1, 0.12, 0.005, 2.3, barrier_tolerance=0.1).verdict == "reproduced"
    v = verdict_c25(0.1, 0.12, 0.1, 2.3, barrier_tolerance=0.1)
    assert v.verdict == "partly" and "0.833" in v.why
    v = verdict_c25(0.1, 0.12, 2.0, 2.3, barrier_tolerance=0.1)
    assert v.verdict == "not reproduced" and "2.12" in v.why
    assert verdict_c25(0.1, 0.12, -0.01, 2.3, barrier_tolerance=0.1).verdict == "reproduced"
