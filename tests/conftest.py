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


# ---- the shared tiny network (test_collapse, test_gradient_alignment, test_random_logit)
@pytest.fixture(scope="session")
def tiny_net():
    """A bias-free ReLU MLP 16 -> 8 -> 6 -> 3 (degree 3, float64) on 30 Gaussian inputs with
    balanced labels: ``(model, params, X, y)``. Session-scoped: tests must not modify it."""
    import torch

    from goldilocks_nb.functional import get_params
    from goldilocks_nb.models import build_model

    model = build_model("mlp", seed=0, input_shape=(16,), widths=[8, 6], num_classes=3,
                        dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(30, 16, generator=g, dtype=torch.float64)
    y = torch.arange(30) % 3
    return model, get_params(model), X, y
