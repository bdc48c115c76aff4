"""Chapter 00 module: run() on the smoke parameters (cheap), the homogeneity check's values."""

import math

import pytest

from goldilocks_nb.chapters import setting as ch
from notebook_cases import NOTEBOOKS, assert_thin_notebook


@pytest.fixture(scope="module")
def res(tmp_path_factory):
    return ch.run(ch.Params(results_dir=str(tmp_path_factory.mktemp("r")), device="cpu"))


def test_run_checks_homogeneity_on_both_models(res):
    p = res.params
    assert list(res.homogeneity) == list(ch.MODELS) == list(res.data) == list(res.norms)
    for name, row in res.homogeneity.items():
        assert len(row["deviation"]) == len(p.alphas)
        assert row["worst"] == max(row["deviation"]) and row["worst"] < p.tolerance
        assert row["holds"] is True
        assert res.data[name].X.shape[0] == p.n_samples
    assert {n: sum(t.numel() for t in m.parameters()) for n, m in res.models.items()} == {
        "lenet-300-100": 266_200, "lenet-5": 61_770}


def test_logit_norms_grow_as_alpha_to_the_degree(res):
    a = res.params.alphas
    for name, m in res.models.items():
        n = res.norms[name]
        slope = math.log(n[-1] / n[0]) / math.log(a[-1] / a[0])
        assert slope == pytest.approx(m.degree, rel=1e-9)


def test_tolerance_decides_holds(res):
    """A tolerance below the measured deviation gives holds = False (the check can fail)."""
    worst = min(row["worst"] for row in res.homogeneity.values())
    assert worst > 0
    strict = ch.Params(tolerance=worst / 2, results_dir=res.params.results_dir, device="cpu")
    table = ch.homogeneity_table(strict, res.data)
    assert not all(row["holds"] for row in table.values())


def test_notebook_is_thin():
    assert_thin_notebook(NOTEBOOKS / "00_setting.ipynb", ch)
