"""Shared pytest configuration: the ``browser`` marker.

Tests marked ``browser`` open the built book (``_build/html``) in headless Chromium
(tests/test_browser.py). They run only when selected by a marker expression, after the
book has been built:

    python -m goldilocks_nb.book build --profile smoke
    python -m pytest tests/test_browser.py -m browser -v

A plain ``pytest tests`` (``make test``, before any book exists) reports them as skipped
with that instruction instead of testing a stale or missing build.
"""

import pytest


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
