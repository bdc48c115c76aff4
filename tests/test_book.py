"""The book runner: profiles checked against the chapters' declarations before anything
runs, a failing notebook stops the build and is kept for inspection, book copies show the
parameters as run."""

import json
import os
import re
from pathlib import Path

import jsonschema
import nbformat
import pytest
import yaml

from goldilocks_nb.book import (
    SCHEMA_FILE,
    BookError,
    check_profile,
    execute_notebook,
    load_profile,
    main,
    notebook_names,
    schema_text,
)
from goldilocks_nb.chapters.setting import Params as SettingParams
from goldilocks_nb.contract import ParameterError

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


def test_wrong_type_and_typo_are_refused_with_parameter_value_allowed_and_file(tmp_path):
    """What the message names since the Params are pydantic models: the file and section,
    the parameter, the value given and what is allowed (or the declared names)."""
    path = _profile(tmp_path, "notebooks:\n  00_setting:\n    seed: 0.5\n")
    with pytest.raises(BookError) as err:
        check_profile(ROOT, load_profile(ROOT, str(path)), ["00_setting"])
    assert str(err.value) == (
        "profile check failed: parameter 'seed' must be of type integer, got 0.5 (float) "
        f"(in {path} (common + notebooks.00_setting))")
    path = _profile(tmp_path, "common:\n  results_dir: x\nnotebooks:\n  00_setting:\n"
                              "    n_sampels: 10\n")
    with pytest.raises(BookError) as err:
        check_profile(ROOT, load_profile(ROOT, str(path)), ["00_setting"])
    declared = ", ".join(sorted(SettingParams.names()))
    assert str(err.value) == (
        f"profile check failed: unknown parameter(s) 'n_sampels' in {path} (common + "
        f"notebooks.00_setting) for chapter 00_setting; declared: {declared}")
    path = _profile(tmp_path, "notebooks:\n  00_setting:\n    datasets: cifar10\n"
                              "    alphas: [1, two]\n")
    with pytest.raises(BookError) as err:
        check_profile(ROOT, load_profile(ROOT, str(path)), ["00_setting"])
    assert ("2 problems with the parameters: parameter 'datasets' must be of type list of "
            "string, got 'cifar10' (str); parameter 'alphas[1]' must be of type number, got "
            "'two' (str)" in str(err.value))


def test_a_section_not_run_is_checked_against_the_schema(tmp_path):
    """``execute 00_setting`` also refuses a typo or a wrong type in chapter 03's section
    (the JSON Schema covers the whole file; the Params check only the chapters run)."""
    path = _profile(tmp_path, "notebooks:\n  03_gamma_p:\n    n_sampels: 10\n"
                              "    d: ten\n")
    with pytest.raises(BookError) as err:
        check_profile(ROOT, load_profile(ROOT, str(path)), ["00_setting"])
    text = str(err.value)
    assert f"{path} does not match the profiles' JSON Schema" in text
    assert "notebooks.03_gamma_p: unknown key(s) 'n_sampels'; declared: K_values, " in text
    assert "notebooks.03_gamma_p.d: 'ten' is not of type 'integer'" in text
    path = _profile(tmp_path, "common:\n  seeds: [0, 1, 2]\n")  # not every chapter has it
    with pytest.raises(BookError, match=r"common: unknown key\(s\) 'seeds'; declared: device, "
                                        r"profile, results_dir"):
        check_profile(ROOT, load_profile(ROOT, str(path)), ["01_rescaling_symmetry"])


def _schema():
    return json.loads((ROOT / SCHEMA_FILE).read_text(encoding="utf-8"))


def test_committed_schema_is_generated_from_the_params():
    """Regenerating gives the committed file (else: python -m goldilocks_nb.book schema)."""
    assert (ROOT / SCHEMA_FILE).read_text(encoding="utf-8") == schema_text()
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["properties"]["notebooks"]["properties"]) == set(notebook_names(ROOT))
    props = schema["$defs"]["00_setting"]["properties"]
    assert list(props) == SettingParams.names()
    assert props["n_samples"] == {"description": "class-balanced training images per dataset.",
                                  "type": "integer", "default": 64}
    assert schema["$defs"]["01_rescaling_symmetry"]["properties"]["dtype"]["enum"] == [
        "float64", "float32"]


@pytest.mark.parametrize("profile", sorted(p.name for p in (ROOT / "profiles").glob("*.yml")))
def test_every_profile_validates_against_the_schema(profile):
    text = (ROOT / "profiles" / profile).read_text()
    assert text.startswith("# yaml-language-server: $schema=profile.schema.json\n")
    jsonschema.validate(yaml.safe_load(text), _schema())


@pytest.mark.parametrize("data, where", [
    ({"notebooks": {"00_setting": {"n_sampels": 10}}}, "n_sampels"),        # typo
    ({"notebooks": {"00_setting": {"n_samples": 10.5}}}, "not of type 'integer'"),
    ({"notebooks": {"00_setting": {"n_samples": "64"}}}, "not of type 'integer'"),
    ({"notebooks": {"00_setting": {"alphas": [1, "a"]}}}, "not of type 'number'"),
    ({"notebooks": {"01_rescaling_symmetry": {"dtype": "float16"}}}, "is not one of"),
    ({"notebooks": {"99_nothing": {}}}, "99_nothing"),
    ({"common": {"device": "gpu"}}, "does not match"),
    ({"common": {"n_samples": 64}}, "n_samples"),
    ({"comon": {}}, "comon"),
])
def test_schema_rejects_typos_and_wrong_types(data, where):
    with pytest.raises(jsonschema.ValidationError, match=re.escape(where)):
        jsonschema.validate(data, _schema())


def test_schema_command_writes_and_check_refuses_a_stale_file(tmp_path, capsys):
    root = tmp_path / "repo"
    (root / "profiles").mkdir(parents=True)
    with pytest.raises(BookError, match="profile.schema.json is missing"):
        main(["schema", "--check", "--root", str(root)])
    assert main(["schema", "--root", str(root)]) == 0
    assert (root / SCHEMA_FILE).read_text(encoding="utf-8") == schema_text()
    assert main(["schema", "--check", "--root", str(root)]) == 0
    (root / SCHEMA_FILE).write_text("{}\n")
    with pytest.raises(BookError, match=r"out of date.*goldilocks_nb\.book schema"):
        main(["schema", "--check", "--root", str(root)])


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


def test_check_command(capsys, tmp_path):
    assert main(["check", "--profile", "default", "--root", str(ROOT)]) == 0
    assert "chapter(s) OK" in capsys.readouterr().out
    root = repo_copy(tmp_path)
    (root / SCHEMA_FILE).write_text("{}\n")  # a Params changed, the schema not rewritten
    with pytest.raises(BookError, match="out of date"):
        main(["check", "--profile", "smoke", "--root", str(root)])


def repo_copy(tmp_path) -> Path:
    """What the book runner reads from a checkout (notebooks, profiles, the claim list),
    copied under ``tmp_path``: commands that write ``book/`` run there, never in ROOT."""
    import shutil

    root = tmp_path / "repo"
    shutil.copytree(ROOT / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(ROOT / "profiles", root / "profiles")
    (root / "book").mkdir()
    shutil.copy(ROOT / "book" / "claims.yml", root / "book" / "claims.yml")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, root / name)
    return root


def test_scorecard_for_results_outside_the_repository(tmp_path):
    """Issue 20 item 7: this test wrote the checkout's book/scorecard.md (and restored it)."""
    prof = tmp_path / "p.yml"
    prof.write_text(f"common:\n  results_dir: {tmp_path / 'res'}\n")
    root = repo_copy(tmp_path)
    assert main(["scorecard", "--profile", str(prof), "--root", str(root)]) == 0
    text = (root / "book" / "scorecard.md").read_text()
    assert str(tmp_path / "res") in text
    assert oct(os.stat(root / "book" / "scorecard.md").st_mode & 0o777) != oct(0o600)


# ------------------------------------------------ undeclared names in direct papermill use


def _setting_notebook(path):
    """A small notebook shaped like a chapter: the parameters cell of 00_setting, then its
    imports and ``Params.from_namespace(globals())``."""
    from notebook_cases import parameters_source

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    cell = nbformat.v4.new_code_cell(parameters_source(ROOT / "notebooks" / "00_setting.ipynb"))
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(
        "import numpy as np\nfrom goldilocks_nb.chapters.setting import Params\n"
        "params = Params.from_namespace(globals())\nprint('n_samples', params.n_samples)")]
    nbformat.write(nb, path)


def test_papermill_with_an_undeclared_parameter_stops_in_the_first_cell(tmp_path):
    """Issue 20 item 6: ``-p dd 100`` ran silently with the defaults (exit 0)."""
    import subprocess
    import sys

    src = tmp_path / "chapter.ipynb"
    _setting_notebook(src)
    papermill = Path(sys.executable).with_name("papermill")
    done = subprocess.run([str(papermill), "-k", "python3", str(src), str(tmp_path / "out.ipynb"),
                           "-p", "dd", "100", "-p", "n_samples", "32"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode != 0
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    failed = [c for c in out.cells if c.cell_type == "code" and any(
        o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1 and "from_namespace" in failed[0].source
    (error,) = [o for o in failed[0].outputs if o["output_type"] == "error"]
    assert error["ename"] == "ParameterError"
    assert "'dd'" in error["evalue"] and "declared:" in error["evalue"]
    assert "n_samples" in error["evalue"].split("declared:")[1]
    # the same notebook with declared names only runs
    done = subprocess.run([str(papermill), "-k", "python3", str(src), str(tmp_path / "ok.ipynb"),
                           "-p", "n_samples", "32"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "n_samples 32" in (tmp_path / "ok.ipynb").read_text()


def test_from_namespace_ignores_what_is_not_a_parameter():
    import math

    ns = {"n_samples": 32, "In": [""], "Out": {}, "_": 3, "_i1": "x", "exit": object(),
          "get_ipython": print, "np": math, "SettingParams": SettingParams, "f": len,
          "tolerance": 1e-12}
    p = SettingParams.from_namespace(ns)
    assert p.n_samples == 32 and p.tolerance == 1e-12
    for bad in ({"n_sampels": 32}, {"extra": None}, {"grid": [1, 2]}, {"flag": True},
                {"opts": {"a": 1}}, {"label": "x"}, {"x": 0.5}):
        with pytest.raises(ParameterError, match=repr(next(iter(bad)))):
            SettingParams.from_namespace({**ns, **bad})


def test_results_dir_from_the_environment_replaces_the_notebook_value(monkeypatch, tmp_path):
    monkeypatch.setenv(SettingParams.RESULTS_DIR_ENV, str(tmp_path / "r"))
    assert SettingParams.from_namespace({"results_dir": "../results/smoke"}).results_dir == str(
        tmp_path / "r")
    assert SettingParams.from_mapping({"results_dir": "x"}).results_dir == "x"  # profiles: no


@pytest.mark.parametrize("name", notebook_names(ROOT))
def test_every_stored_notebook_passes_from_namespace_with_its_own_globals(name):
    """The globals a stored notebook holds when it calls ``from_namespace`` (its code cells
    up to that statement, with IPython's own names) hold no undeclared parameter."""
    import ast

    from goldilocks_nb.chapters import params_class

    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    ns = {"In": [""], "Out": {}, "_ih": [""], "_oh": {}, "_dh": [], "_": "", "__": "",
          "exit": object(), "quit": object(), "get_ipython": lambda: None,
          "__name__": "__main__", "__builtins__": __builtins__}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        body = ast.parse(cell.source).body
        stop = next((i for i, node in enumerate(body)
                     if "from_namespace(globals())" in ast.unparse(node)), None)
        head = ast.Module(body=body if stop is None else body[:stop], type_ignores=[])
        exec(compile(head, f"{name}.ipynb", "exec"), ns)  # imports and literals only
        if stop is not None:
            params = params_class(name).from_namespace(ns)
            assert params.profile == "smoke"
            return
    pytest.fail(f"{name}: no cell calls Params.from_namespace(globals())")


# ------------------------------------------------ the runner's terminal (issue 20 item 8)


def test_runner_shows_long_cells_latest_progress_line_and_cache_warnings(tmp_path):
    import io

    (tmp_path / "notebooks").mkdir()
    _write_nb(tmp_path / "notebooks" / "00_slow.ipynb",
              "import sys, time, warnings\n"
              "from goldilocks_nb.results import CacheWarning\n"
              "warnings.warn('cache entry /x/y.npz is truncated; recomputing it', CacheWarning)\n"
              "for i in range(1, 6):\n"
              "    print(f'\\rtraining grid: step {i}/5 \\x1b[32m[ok]\\x1b[0m', end='',\n"
              "          file=sys.stderr, flush=True)\n"
              "    time.sleep(0.7)\n"
              "print('x = ', x)")
    buf = io.StringIO()  # not a terminal
    out = tmp_path / "book" / "chapters" / "00_slow.ipynb"
    execute_notebook(tmp_path, "00_slow", {"x": 2}, out, timeout=120, progress=True,
                     progress_out=buf, progress_every=0.25, long_cell=1.0)
    text = buf.getvalue()
    assert "\x1b" not in text and "\r" not in text
    lines = text.splitlines()
    # three cells: parameters, the injected parameters, the slow one
    ticks = [ln for ln in lines if ln.startswith("[book] 00_slow: cell 3/3, ")]
    assert len(ticks) >= 2 and all(" elapsed" in ln for ln in ticks)
    assert any("| training grid: step" in ln and "[ok]" in ln for ln in ticks)
    assert any(ln.startswith("[book] 00_slow: cell 3/3 done in ") for ln in lines)
    warned = [ln for ln in lines if "CacheWarning" in ln]
    assert warned == ["[book] 00_slow: CacheWarning: cache entry /x/y.npz is truncated; "
                      "recomputing it"]
    assert nbformat.read(out, as_version=4).cells[-1].outputs  # the notebook kept its output


def test_failing_notebook_message_has_no_colour_codes_off_a_terminal(tmp_path):
    (tmp_path / "notebooks").mkdir()
    _write_nb(tmp_path / "notebooks" / "00_red.ipynb",
              "def inner():\n    raise ValueError('d must be <= P')\ninner()")
    with pytest.raises(SystemExit) as err:
        execute_notebook(tmp_path, "00_red", {}, tmp_path / "book" / "00_red.ipynb",
                         timeout=120, progress=True)
    msg = str(err.value)
    assert "ValueError: d must be <= P" in msg and "inner()" in msg
    assert "\x1b[" not in msg
    # the kept notebook still holds IPython's coloured traceback (for Jupyter)
    assert "\\u001b[" in (tmp_path / "_build" / "failed" / "00_red.ipynb").read_text()


def test_runner_shows_a_tqdm_auto_bar_which_is_a_widget_in_the_kernel(tmp_path):
    """train_grid and the sweeps use ``tqdm.auto``: in a kernel with ipywidgets that bar is
    a widget whose updates are comm messages, not output; the runner shows it too."""
    import io

    pytest.importorskip("ipywidgets")
    (tmp_path / "notebooks").mkdir()
    _write_nb(tmp_path / "notebooks" / "00_bar.ipynb",
              "import time\nfrom tqdm.auto import tqdm\n"
              "bar = tqdm(total=5, desc='training grid', unit='run')\n"
              "for i in range(5):\n"
              "    time.sleep(0.6)\n"
              "    bar.update(1)\n"
              "bar.close()")
    buf = io.StringIO()
    execute_notebook(tmp_path, "00_bar", {}, tmp_path / "out.ipynb", timeout=120,
                     progress=True, progress_out=buf, progress_every=0.25, long_cell=1.0)
    ticks = [ln for ln in buf.getvalue().splitlines() if "| training grid: " in ln]
    assert ticks, buf.getvalue()
    assert any(re.search(r"\| training grid: \d+% [1-5]/5 \[\d\d:\d\d<", ln) for ln in ticks)


def test_chapters_run_in_parallel_processes_and_a_failure_is_raised_after_the_others(tmp_path):
    """``--jobs 2``: each chapter in its own process; every finished chapter is reported
    (and written) even when another fails; the failure is raised at the end."""
    from goldilocks_nb.book import _run_chapters

    (tmp_path / "notebooks").mkdir()
    _write_nb(tmp_path / "notebooks" / "00_ok.ipynb", "import os\nprint(x * 2, os.getpid())")
    _write_nb(tmp_path / "notebooks" / "01_ok.ipynb", "import os\nprint(x * 3, os.getpid())")
    _write_nb(tmp_path / "notebooks" / "02_bad.ipynb", "raise ValueError('alpha must be > 0')")
    out = tmp_path / "book" / "chapters"
    jobs = [(n, {"x": 7}, out / f"{n}.ipynb", None) for n in ("00_ok", "01_ok")]
    done = []
    times = _run_chapters(tmp_path, jobs, 2, lambda name, secs: done.append(name))
    assert sorted(done) == ["00_ok", "01_ok"] and list(times) == ["00_ok", "01_ok"]
    printed = [nbformat.read(out / f"{n}.ipynb", as_version=4).cells[-1].outputs[0]["text"]
               for n in ("00_ok", "01_ok")]
    assert [p.split()[0] for p in printed] == ["14", "21"]
    assert printed[0].split()[1] != str(os.getpid())  # not run in the calling process
    done.clear()
    bad = [(n, {"x": 1}, out / f"{n}.ipynb", None) for n in ("02_bad", "00_ok")]
    with pytest.raises(SystemExit, match="alpha must be > 0"):
        _run_chapters(tmp_path, bad, 2, lambda name, secs: done.append(name))
    assert done == ["00_ok"] and not (out / "02_bad.ipynb").exists()


def test_chapter_04_waits_for_chapter_01_in_one_build(tmp_path):
    """``--jobs 2``: a chapter declared in ``CHAPTER_AFTER`` starts only after the chapter it
    waits for has ended (chapter 04 reads chapter 01's cached full-N zone); the others
    still run beside it, and without its dependency in the build it runs at once."""
    from goldilocks_nb.book import CHAPTER_AFTER, _ordered, _run_chapters

    assert "01_rescaling_symmetry" in CHAPTER_AFTER["04_optimization_regimes"]
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    stamp = ("import time, pathlib\n"
             "p = pathlib.Path(r'{d}')\n"
             "(p / '{n}.start').write_text(repr(time.time()))\n"
             "time.sleep({s})\n"
             "(p / '{n}.end').write_text(repr(time.time()))\n")
    for n, secs in (("a_first", 3), ("b_then", 0), ("c_free", 0)):
        _write_nb(nbdir / f"{n}.ipynb", stamp.format(d=tmp_path, n=n, s=secs))
    out = tmp_path / "book" / "chapters"
    after = {"b_then": ("a_first",)}
    jobs = [(n, {}, out / f"{n}.ipynb", None) for n in ("b_then", "a_first", "c_free")]
    done = []
    times = _run_chapters(tmp_path, jobs, 2, lambda name, secs: done.append(name), after)
    assert list(times) == ["b_then", "a_first", "c_free"]

    def t(name: str, what: str) -> float:
        return float((tmp_path / f"{name}.{what}").read_text())

    assert t("b_then", "start") >= t("a_first", "end")
    assert t("c_free", "start") < t("a_first", "end")  # the free chapter ran beside it
    assert done.index("a_first") < done.index("b_then")
    # sequential builds put a chapter after the chapters it waits for
    assert [j[0] for j in _ordered(jobs, after)] == ["a_first", "b_then", "c_free"]
    assert [j[0] for j in _ordered(jobs[:1], after)] == ["b_then"]  # alone: runs at once
