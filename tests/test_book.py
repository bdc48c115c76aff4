"""The book runner: profiles checked against the chapters' declarations before anything
runs, a failing notebook stops the build and is kept for inspection, book copies show the
parameters as run."""

import os
from pathlib import Path

import nbformat
import pytest

from goldilocks_nb.book import (
    BookError,
    check_profile,
    execute_notebook,
    load_profile,
    main,
    notebook_names,
)
from goldilocks_nb.chapters.setting import Params as SettingParams

ROOT = Path(__file__).resolve().parents[1]


def _write_nb(path, source):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)


def test_failing_notebook_is_kept_with_its_error(tmp_path):
    (tmp_path / "notebooks").mkdir()
    _write_nb(tmp_path / "notebooks" / "00_bad.ipynb", "raise ValueError('alpha must be > 0')")
    out = tmp_path / "book" / "chapters" / "00_bad.ipynb"
    with pytest.raises(SystemExit, match="alpha must be > 0") as err:
        execute_notebook(tmp_path, "00_bad", {"x": 2}, out, timeout=120)
    kept = tmp_path / "_build" / "failed" / "00_bad.ipynb"
    assert str(kept) in str(err.value)
    assert kept.exists() and "alpha must be > 0" in kept.read_text()
    assert not out.exists()
    assert not list(out.parent.glob("*.ipynb")) and not list(out.parent.glob(".*.ipynb"))


def test_book_copy_shows_parameters_as_run(tmp_path):
    (tmp_path / "notebooks").mkdir()
    _write_nb(tmp_path / "notebooks" / "00_ok.ipynb", "print(x * 2)")
    out = tmp_path / "book" / "chapters" / "00_ok.ipynb"
    stale = out.with_name(".00_ok.running-99999.ipynb")
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")  # left behind by a killed run
    params = SettingParams(profile="mine", n_samples=128)
    execute_notebook(tmp_path, "00_ok", {"x": 21}, out, timeout=120, params=params)
    assert not stale.exists()
    nb = nbformat.read(out, as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert "remove-cell" in tags[0] and "parameters" in tags[0]       # smoke values hidden
    assert "injected-parameters" in tags[1] and "remove-cell" in tags[1]
    shown = nb.cells[2]
    assert "parameters-as-run" in tags[2] and "`n_samples` | `128`" in shown.source
    assert "profile mine" in shown.source
    assert nb.cells[-1].outputs[0]["text"].strip() == "42"


def test_profiles_pass_the_declarations():
    names = notebook_names(ROOT)
    for profile in ("smoke", "default", "paper"):
        prof = load_profile(ROOT, profile)
        checked = check_profile(ROOT, prof, names)
        assert set(checked) == set(names)
        assert all(p.results_dir.endswith(profile) for p in checked.values())


def _profile(tmp_path, text):
    (tmp_path / "profiles").mkdir(exist_ok=True)
    path = tmp_path / "profiles" / "mine.yml"
    path.write_text(text)
    return path


def test_misspelled_key_is_refused_with_file_and_key(tmp_path):
    path = _profile(tmp_path, "notebooks:\n  00_setting:\n    n_sampels: 10\n")
    prof = load_profile(ROOT, str(path))
    with pytest.raises(BookError, match=r"'n_sampels'.*mine\.yml"):
        check_profile(ROOT, prof, ["00_setting"])


def test_wrong_type_and_range_are_refused(tmp_path):
    for text, pattern in [
        ("notebooks:\n  00_setting:\n    seed: 0.5\n", r"'seed' must be of type integer"),
        ("notebooks:\n  00_setting:\n    alphas: [0, 1]\n", r"'alphas'.*> 0"),
        ("common:\n  device: gpu\n", r"'device'"),
        ("notebooks:\n  99_nothing: {}\n", r"no notebook '99_nothing'"),
    ]:
        prof = load_profile(ROOT, str(_profile(tmp_path, text)))
        with pytest.raises(BookError, match=pattern):
            check_profile(ROOT, prof, ["00_setting"])


def test_override_is_checked_too():
    prof = load_profile(ROOT, "smoke")
    with pytest.raises(BookError, match=r"'n_samples'.*-p overrides"):
        check_profile(ROOT, prof, ["00_setting"], {"n_samples": "many"})
    with pytest.raises(BookError, match=r"unknown parameter.*'nsamples'"):
        check_profile(ROOT, prof, ["00_setting"], {"nsamples": 5})


def test_yaml_error_names_the_file(tmp_path):
    path = _profile(tmp_path, "common: [unclosed\n")
    with pytest.raises(BookError, match=r"mine\.yml: not valid YAML"):
        load_profile(ROOT, str(path))


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(BookError, match="unknown profile 'huge'.*default"):
        load_profile(ROOT, "huge")


def test_user_profile_by_name_and_any_results_dir(tmp_path):
    root = tmp_path / "repo"
    (root / "profiles").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "notebooks" / "00_setting.ipynb").write_text("{}")
    outside = tmp_path / "elsewhere" / "results"
    (root / "profiles" / "my-run.yml").write_text(f"common:\n  results_dir: {outside}\n")
    prof = load_profile(root, "my-run")
    checked = check_profile(root, prof, ["00_setting"])
    assert checked["00_setting"].profile == "my-run"
    assert checked["00_setting"].results_dir == str(outside)


def test_check_command(capsys):
    assert main(["check", "--profile", "default", "--root", str(ROOT)]) == 0
    assert "chapter(s) OK" in capsys.readouterr().out


def test_scorecard_for_results_outside_the_repository(tmp_path):
    prof = tmp_path / "p.yml"
    prof.write_text(f"common:\n  results_dir: {tmp_path / 'res'}\n")
    root_copy = ROOT  # book/claims.yml is read from the repository; output to book/
    before = (root_copy / "book" / "scorecard.md").read_text() if (
        root_copy / "book" / "scorecard.md").exists() else None
    try:
        assert main(["scorecard", "--profile", str(prof), "--root", str(root_copy)]) == 0
        text = (root_copy / "book" / "scorecard.md").read_text()
        assert str(tmp_path / "res") in text
        assert oct(os.stat(root_copy / "book" / "scorecard.md").st_mode & 0o777) != oct(0o600)
    finally:
        if before is None:
            (root_copy / "book" / "scorecard.md").unlink(missing_ok=True)
        else:
            (root_copy / "book" / "scorecard.md").write_text(before)
