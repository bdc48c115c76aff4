"""Chapter 06 module: parameter validation, verdict branches, notebook parameters cell."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from goldilocks_nb.chapters.sgd_outlier_eigenspaces import (
    Params,
    first_time_above,
    verdict_c26,
    verdict_c27,
)
from goldilocks_nb.contract import ParameterError
from notebook_cases import notebook_parameters

NB = Path(__file__).resolve().parents[1] / "notebooks" / "06_sgd_outlier_eigenspaces.ipynb"


def test_notebook_parameters_equal_defaults():
    values = notebook_parameters(NB)
    assert values == {f.name: getattr(Params(), f.name) for f in dataclasses.fields(Params)}


@pytest.mark.parametrize("name, value", [
    ("k", 1), ("k", 2.0), ("d", 3), ("snr", 0.0), ("beta", -1.0), ("lr_scale", 0.0),
    ("train_time", 0.0), ("heldout_per_dim", 0), ("checkpoints", 1), ("xor_width", 4),
    ("xor_d", 2), ("xor_train_time", -1.0), ("align_threshold", 1.0), ("soon_fraction", 0.0),
    ("min_gap", 0.9), ("seed", -1), ("torch_threads", -2),
])
def test_bad_parameters_named(name, value):
    with pytest.raises(ParameterError, match=name):
        Params(**{name: value})


def test_first_time_above():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    assert first_time_above(t, np.array([0.1, 0.95, 0.5, 0.95]), 0.9) == 3.0
    assert first_time_above(t, np.array([[0.1, 0.2], [0.95, 0.9], [0.99, 0.97], [1, 1]]),
                            0.9) == 1.0
    assert first_time_above(t, np.array([0.1, 0.2, 0.3, 0.4]), 0.9) is None


def _c26(**kw):
    args = dict(final_align_H=0.97, final_align_G=0.95, time_H=2.0, time_G=4.0,
                train_time=50.0, top_k_gap=2.0, top_gap=1.8)
    args.update(kw)
    return verdict_c26(**args, align_threshold=0.9, soon_fraction=0.2, min_gap=1.5)


def test_c26_branches():
    assert _c26().verdict == "reproduced"
    v = _c26(time_G=20.0)
    assert v.verdict == "partly" and "t = 20" in v.why
    v = _c26(top_gap=1.1, time_H=None)
    assert v.verdict == "partly" and "never" in v.why and "1.1" in v.why
    v = _c26(final_align_G=0.8)
    assert v.verdict == "not reproduced" and "G alignment 0.8" in v.why


def _c27(**kw):
    args = dict(mean_align_W_H=0.95, mean_align_W_G=0.93, align_v_H=0.99, outliers_init=1,
                outliers_end=4)
    args.update(kw)
    return verdict_c27(**args, align_threshold=0.9)


def test_c27_branches():
    assert _c27().verdict == "reproduced"
    v = _c27(mean_align_W_H=0.3, outliers_init=2)
    assert v.verdict == "partly" and "0.3" in v.why and "init 2" in v.why
    v = _c27(outliers_end=3)
    assert v.verdict == "not reproduced" and "training 3 == 4" in v.why
    assert _c27(align_v_H=0.5).verdict == "not reproduced"
