"""Shared pytest configuration: the ``browser`` marker, and a guard on the checkout's outputs.

Tests marked ``browser`` open the built book (``_build/html``) in headless Chromium
(tests/test_browser.py). They run only when selected by a marker expression, after the
book has been built:

    python -m goldilocks_nb.book build --profile smoke
    python -m pytest tests/test_browser.py -m browser -v

A plain ``pytest tests`` (``make test``, before any book exists) reports them as skipped
with that instruction instead of testing a stale or missing build.

Tests never write into the checkout's ``book/``, ``results/`` or ``_build/`` (the reader's
book; issue 20): a session-wide fixture lists every file and folder there (path, size,
mtime) when the session starts and again at its end; any difference fails the session
(non-zero exit status) with the paths that changed. Tests use ``tmp_path`` or a copy of
the repository instead. The listing is taken by the process that owns the session (with
pytest-xdist: the controller, before any worker starts, and after all have finished), so
the guard holds for ``make test``'s parallel runs too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The checkout's output folders that no test may change.
GUARDED = ("book", "results", "_build")
_BEFORE = pytest.StashKey[dict]()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: opens the built book in headless Chromium (needs chromium, "
        "chromium-driver, selenium and _build/html); select with -m browser",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("markexpr", ""):
        return
    skip = pytest.mark.skip(
        reason="browser test not selected: build the book "
        "(python -m goldilocks_nb.book build --profile smoke), then run "
        "python -m pytest tests/test_browser.py -m browser")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def outputs_listing(root: Path = ROOT) -> dict[str, tuple[int, int] | None]:
    """``{relative path: (size, mtime_ns)}`` of every file under the guarded folders
    (``None`` for a folder), without following links."""
    out: dict[str, tuple[int, int] | None] = {}
    for top in GUARDED:
        base = root / top
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            here = Path(dirpath)
            for d in dirnames:
                out[(here / d).relative_to(root).as_posix() + "/"] = None
            for f in filenames:
                path = here / f
                try:
                    st = path.lstat()
                except FileNotFoundError:
                    continue
                out[path.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


def listing_changes(before: dict, after: dict) -> list[str]:
    """``created``/``removed``/``changed`` lines between two :func:`outputs_listing`."""
    lines = [f"created {p}" for p in sorted(after.keys() - before.keys())]
    lines += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    lines += [f"changed {p}" for p in sorted(before.keys() & after.keys())
              if before[p] != after[p]]
    return lines


def _is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session):
    """Snapshot ``book/``, ``results/``, ``_build/`` (in the process owning the session)."""
    if not _is_xdist_worker(session.config):
        session.config.stash[_BEFORE] = outputs_listing()


def pytest_sessionfinish(session, exitstatus):
    """Compare with the snapshot; a change fails the session, naming the paths."""
    before = session.config.stash.get(_BEFORE, None)
    if before is None:
        return
    changed = listing_changes(before, outputs_listing())
    if not changed:
        return
    text = (f"tests changed the checkout's {', '.join(f'{g}/' for g in GUARDED)} "
            f"({len(changed)} path(s)); a test must write under tmp_path instead:\n  "
            + "\n  ".join(changed[:40]) + ("\n  ..." if len(changed) > 40 else ""))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.section("checkout outputs changed", sep="=", red=True, bold=True)
        reporter.write_line(text)
    else:
        print(text)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ---- the shared tiny network (test_collapse, test_gradient_alignment, test_random_logit,
# test_rescaling): curvature_cases.tiny_mlp, 16 -> 8 -> 6 -> 3 with balanced labels
@pytest.fixture(scope="session")
def tiny_net():
    """A bias-free ReLU MLP 16 -> 8 -> 6 -> 3 (degree 3, float64) on 30 Gaussian inputs with
    balanced labels (:func:`curvature_cases.tiny_mlp`): ``(model, params, X, y)``.
    Session-scoped: tests must not modify it."""
    from curvature_cases import tiny_mlp

    case = tiny_mlp(n=30, seed=0, inputs=16, widths=(8, 6), classes=3, balanced=True)
    return case.model, case.params, case.X, case.y
