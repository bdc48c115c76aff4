"""Claim records, cache, parameter checks (the scorecard: tests/test_scorecard.py)."""

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from goldilocks_nb.notebook import resolve_dtype  # noqa: E402
from goldilocks_nb.results import (  # noqa: E402
    cached,
    load_claims,
    record_claim,
    save_figure,
    saved_figure,
)


def _record(tmp_path, claim="C3", verdict="reproduced", why=""):
    return record_claim(claim, measured="max rel. error 1e-12", verdict=verdict, why=why,
                        evidence="Eq. 5 check", parameters={"alphas": [0.1, 1, 10]},
                        profile="smoke", data_source="Fashion-MNIST", results_dir=tmp_path)


def test_record_and_load(tmp_path):
    path = _record(tmp_path)
    rec = json.loads(path.read_text())
    assert rec["claim"] == "C3" and rec["parameters"]["alphas"] == [0.1, 1, 10]
    assert "torch" in rec["environment"]
    assert load_claims(tmp_path)["C3"]["verdict"] == "reproduced"
    assert not list((tmp_path / "claims").glob("*.tmp"))


def test_record_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="verdict must be"):
        _record(tmp_path, verdict="yes")
    with pytest.raises(ValueError, match="needs a reason"):
        _record(tmp_path, verdict="partly")
    with pytest.raises(ValueError, match="claim id"):
        _record(tmp_path, claim="Figure 2")


def test_cached_computes_once(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"value": 42}

    a = cached("thing", {"alpha": [1, 2]}, compute, cache_dir=tmp_path)
    b = cached("thing", {"alpha": [1, 2]}, compute, cache_dir=tmp_path)
    c = cached("thing", {"alpha": [1, 3]}, compute, cache_dir=tmp_path)
    assert a == b == c == {"value": 42} and len(calls) == 2


def test_save_figure_is_byte_stable(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    paths = save_figure(fig, "f", tmp_path / "a")
    first = [p.read_bytes() for p in paths]
    save_figure(fig, "f", tmp_path / "a")
    plt.close(fig)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert [p.read_bytes() for p in paths] == first


def test_saved_figure_writes_both_files_and_returns_the_figure(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    assert saved_figure(fig, "g", tmp_path / "b") is fig
    plt.close(fig)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["g.pdf", "g.png"]


def test_resolve_dtype():
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("float16")


def test_claim_files_lists_paper_and_book_claims(tmp_path):
    from goldilocks_nb.results import ResultsDir

    claims = ResultsDir(tmp_path).create().claims
    for name in ("C2.json", "B1.json", "C10.json", "notes.json", "X1.json"):
        (claims / name).write_text("{}")
    assert [p.name for p in ResultsDir(tmp_path).claim_files()] == [
        "B1.json", "C10.json", "C2.json"]
