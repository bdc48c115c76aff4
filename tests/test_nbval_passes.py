"""scripts/nbval_passes.py: every (pass, notebook) job runs in its own results folder; the
exit status fails when any job fails; ``--keep-results`` keeps the first pass's folder only
when every job passed (CI builds the smoke book from it). The jobs' ``python -m pytest
--nbval-lax`` is replaced by a stub that writes into the job's results folder and fails for
notebooks named ``*bad*``: what is tested is the script's bookkeeping, not nbval."""

from __future__ import annotations

import importlib.util
import json
import stat
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def passes(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("nbval_passes",
                                                  ROOT / "scripts" / "nbval_passes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stub = tmp_path / "python-stub"
    # argv: -m pytest --nbval-lax --nbval-current-env NOTEBOOK -q -p no:cacheprovider
    stub.write_text(
        "#!/usr/bin/env bash\n"
        "name=$(basename \"$5\" .ipynb)\n"
        "mkdir -p \"$GOLDILOCKS_RESULTS_DIR/claims\"\n"
        "echo \"{\\\"setting\\\": \\\"${MKL_CBWR:-current}\\\"}\" "
        "> \"$GOLDILOCKS_RESULTS_DIR/claims/$name.json\"\n"
        "echo \"1 passed\"\n"
        "case $name in *bad*) exit 1;; esac\n")
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(module.sys, "executable", str(stub))
    return module


def _notebooks(folder: Path, *names: str) -> Path:
    folder.mkdir()
    for name in names:
        (folder / f"{name}.ipynb").write_text(json.dumps({"metadata": {}, "cells": []}))
    return folder


def test_every_job_passes_the_first_pass_is_kept(passes, tmp_path, capsys):
    nbs = _notebooks(tmp_path / "nbs", "00_a", "01_b")
    keep = tmp_path / "kept" / "smoke"
    assert passes.main(["--jobs", "2", "--notebooks", str(nbs), "--keep-results", str(keep),
                        "-", "MKL_CBWR=AVX2"]) == 0
    kept = sorted(p.name for p in (keep / "claims").iterdir())
    assert kept == ["00_a.json", "01_b.json"]
    # the first pass's folder (current settings), not the second's
    assert all(json.loads(p.read_text()) == {"setting": "current"}
               for p in (keep / "claims").iterdir())
    assert "nbval: 4 passed, 0 failed" in capsys.readouterr().out


def test_a_failing_job_fails_the_run_and_nothing_is_kept(passes, tmp_path, capsys):
    nbs = _notebooks(tmp_path / "nbs", "00_a", "01_bad")
    keep = tmp_path / "kept" / "smoke"
    assert passes.main(["--jobs", "2", "--notebooks", str(nbs), "--keep-results", str(keep),
                        "-", "MKL_CBWR=AVX2"]) == 1
    assert not keep.exists()
    captured = capsys.readouterr()
    assert "nbval: 2 passed, 2 failed" in captured.out
    assert "FAILED: 01_bad under -" in captured.err
    assert "FAILED: 01_bad under MKL_CBWR=AVX2" in captured.err
