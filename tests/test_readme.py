"""Every command the README documents works as written.

Each command of the README's ``bash`` blocks must be listed here with the way the test runs
it: as written when that takes seconds, otherwise the same program with the smoke profile,
``--help``, ``--prepare-only`` or ``make -n`` (a dry run). A README command missing from the
list fails the test, so the two cannot drift apart.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PY = shlex.quote(sys.executable)
PAPERMILL = shlex.quote(str(Path(sys.executable).with_name("papermill")))

# documented command -> command the test runs (None: only checked to be documented)
COMMANDS: dict[str, str | None] = {
    "export GOLDILOCKS_DATA=/path/to/datasets": None,
    "make book": "make -n book",
    "make test": "make -n test",
    "MKL_CBWR=COMPATIBLE .venv/bin/python -m pytest --nbval-lax --nbval-current-env notebooks -q":
        f"MKL_CBWR=COMPATIBLE {PY} -m pytest --nbval-lax --nbval-current-env "
        "notebooks/00_setting.ipynb -q -p no:cacheprovider",
    "MKL_CBWR=AVX2 .venv/bin/python -m pytest --nbval-lax --nbval-current-env notebooks -q":
        "make -n nbval-portable",
    "ATEN_CPU_CAPABILITY=default .venv/bin/python -m pytest --nbval-lax --nbval-current-env "
    "notebooks -q": "make -n nbval-portable",
    ".venv/bin/python -m pytest tests/test_browser.py -m browser -v":
        f"{PY} -m pytest tests/test_browser.py -m browser -q --co -p no:cacheprovider",
    ".venv/bin/python -m goldilocks_nb.book execute --profile default 01_rescaling_symmetry":
        f"{PY} -m goldilocks_nb.book check --profile default 01_rescaling_symmetry",
    ".venv/bin/python -m goldilocks_nb.book execute --profile smoke 00_setting -p n_samples 128":
        "RUN_00",
    ".venv/bin/python -m goldilocks_nb.book check --profile paper":
        f"{PY} -m goldilocks_nb.book check --profile paper",
    ".venv/bin/python -m goldilocks_nb.book schema":  # as --check: tests write no checkout file
        f"{PY} -m goldilocks_nb.book schema --check",
    ".venv/bin/python -m goldilocks_nb.book schema --check":
        f"{PY} -m goldilocks_nb.book schema --check",
    ".venv/bin/python -m goldilocks_nb.book scorecard --profile default":
        f"{PY} -m goldilocks_nb.book scorecard --help",
    ".venv/bin/papermill -k python3 --cwd notebooks notebooks/00_setting.ipynb /tmp/mine.ipynb "
    "-p profile custom -p results_dir /tmp/results-custom -p n_samples 128":
        f"{PAPERMILL} -k python3 --cwd notebooks notebooks/00_setting.ipynb {{tmp}}/mine.ipynb "
        "-p profile custom -p results_dir {tmp}/results-custom -p n_samples 128 --prepare-only",
    ".venv/bin/papermill -k python3 --cwd notebooks notebooks/01_rescaling_symmetry.ipynb "
    "/tmp/01.ipynb -f my_params.yml":
        f"{PAPERMILL} -k python3 --cwd notebooks notebooks/01_rescaling_symmetry.ipynb "
        "{tmp}/01.ipynb -f {tmp}/my_params.yml --prepare-only",
}
INLINE_MAKE = ["make bench", "make bench-training", "make env", "make clean", "make notebooks",
               "make nbval-portable", "make nbval-all", "make check PROFILE=paper",
               "make book PROFILE=smoke"]
INLINE_SCRIPTS = {
    "python scripts/make_embedded.py --root $GOLDILOCKS_DATA":
        f"{PY} scripts/make_embedded.py --help",
    "benchmarks/bench_curvature.py": f"{PY} benchmarks/bench_curvature.py --help",
    "benchmarks/bench_training.py": f"{PY} benchmarks/bench_training.py --help",
    "bash scripts/install_browser.sh": "bash -n scripts/install_browser.sh",
}


def _bash_blocks(text: str) -> list[str]:
    """The commands of the README's ```bash blocks (continuations joined, comments cut)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        for line in joined.splitlines():
            cmd = re.sub(r"\s+#.*$", "", line).strip()
            if cmd and not cmd.startswith("#"):
                out.append(re.sub(r"\s+", " ", cmd))
    return out


def test_every_readme_command_is_exercised():
    documented = _bash_blocks(README)
    missing = [c for c in documented if c not in COMMANDS]
    assert not missing, f"README commands not exercised by tests/test_readme.py: {missing}"
    stale = [c for c in COMMANDS if c not in documented]
    assert not stale, f"commands listed here but no longer in the README: {stale}"
    for text in [*INLINE_MAKE, *INLINE_SCRIPTS]:
        assert text in README, text


def _run(cmd: str, tmp_path: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    # a stored notebook run by nbval writes its results under tmp_path, never the
    # checkout's results/ (ChapterParams.from_namespace honours GOLDILOCKS_RESULTS_DIR)
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "GOLDILOCKS_RESULTS_DIR": str(tmp_path / "results-nbval")}
    done = subprocess.run(cmd.format(tmp=tmp_path), shell=True, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


# command the test runs -> the documented commands it stands for: two documented commands
# that the test runs the same way (`book schema` and `book schema --check`; the two
# portability commands as `make -n nbval-portable`) are run once, for both
RUNS: dict[str, list[str]] = {}
for _doc, _run_as in COMMANDS.items():
    if _run_as and _run_as != "RUN_00":
        RUNS.setdefault(_run_as, []).append(_doc)


@pytest.mark.parametrize("command", list(RUNS), ids=[" | ".join(d) for d in RUNS.values()])
def test_documented_command_runs(command, tmp_path):
    (tmp_path / "my_params.yml").write_text("seeds: [0, 1]\nd: 8\n")
    _run(command, tmp_path)


@pytest.mark.parametrize("text", INLINE_MAKE)
def test_documented_make_targets_exist(text, tmp_path):
    _run(text.replace("make ", "make -n ", 1), tmp_path)


@pytest.mark.parametrize("text", list(INLINE_SCRIPTS))
def test_documented_scripts_run(text, tmp_path):
    _run(INLINE_SCRIPTS[text], tmp_path)


def test_execute_one_chapter_with_an_override(tmp_path):
    """The README's `execute ... -p n_samples 128`, as written, into a scratch results_dir,
    in a copy of the repository (the runner writes book/, which tests never touch)."""
    from test_book import repo_copy

    profile = tmp_path / "smoke.yml"
    profile.write_text(f"common:\n  results_dir: {tmp_path / 'results'}\n")
    root = repo_copy(tmp_path)
    done = _run(f"{PY} -m goldilocks_nb.book execute --profile {profile} 00_setting "
                "-p n_samples 128", tmp_path, cwd=root)
    assert "00_setting" in done.stdout
    text = (root / "book" / "chapters" / "00_setting.ipynb").read_text()
    assert "`n_samples` | `128`" in text and "Rerun this chapter" in text
