"""The book runner: a failing notebook stops the build and leaves no half-written chapter."""

import nbformat
import pytest

from goldilocks_nb.book import execute_notebook, load_profile, notebook_names


def _write_nb(path, source):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)


def test_failing_notebook_raises_with_cell_error(tmp_path):
    (tmp_path / "notebooks").mkdir()
    _write_nb(tmp_path / "notebooks" / "00_bad.ipynb", "raise ValueError('alpha must be > 0')")
    out = tmp_path / "book" / "chapters" / "00_bad.ipynb"
    with pytest.raises(SystemExit, match="alpha must be > 0"):
        execute_notebook(tmp_path, "00_bad", {"x": 2}, out, timeout=120)
    assert not out.exists()
    assert not list(out.parent.glob("*.ipynb"))


def test_parameters_injected_and_tagged(tmp_path):
    (tmp_path / "notebooks").mkdir()
    _write_nb(tmp_path / "notebooks" / "00_ok.ipynb", "print(x * 2)")
    out = tmp_path / "book" / "chapters" / "00_ok.ipynb"
    execute_notebook(tmp_path, "00_ok", {"x": 21}, out, timeout=120)
    nb = nbformat.read(out, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "remove-input" in injected[0].metadata["tags"]
    assert nb.cells[-1].outputs[0]["text"].strip() == "42"


def test_profiles_name_existing_notebooks():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    names = notebook_names(root)
    for profile in ("smoke", "default", "paper"):
        prof = load_profile(root, profile)
        assert set(prof["notebooks"]) <= set(names), profile
        assert prof["common"]["results_dir"].endswith(profile)


def test_unknown_profile():
    from pathlib import Path

    with pytest.raises(SystemExit, match="unknown profile"):
        load_profile(Path(__file__).resolve().parents[1], "huge")
