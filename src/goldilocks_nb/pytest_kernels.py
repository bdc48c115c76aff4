"""pytest plugin: nbval's kernels start on private ``ipc`` sockets, without a port race.

nbval 0.11 creates its ``KernelManager(...)`` in ``nbval.kernel.start_new_kernel`` and
offers no option to choose the class or its transport. For the pytest session this plugin
puts :class:`goldilocks_nb.kernels.IpcKernelManager` under that name in ``nbval.kernel``
and restores nbval's own class when the session ends. Why: :mod:`goldilocks_nb.kernels`.

Loaded by ``-p goldilocks_nb.pytest_kernels`` in ``pyproject.toml``'s ``addopts``, so every
pytest run from the repository root (``make test``, ``scripts/nbval_passes.py``) has it.
"""

from __future__ import annotations

import pytest

from goldilocks_nb.kernels import IpcKernelManager

_NBVAL_MANAGER = pytest.StashKey[type]()


def pytest_configure(config: pytest.Config) -> None:
    try:
        import nbval.kernel
    except ImportError:  # nbval not installed: nothing to change
        return
    config.stash[_NBVAL_MANAGER] = nbval.kernel.KernelManager
    nbval.kernel.KernelManager = IpcKernelManager


def pytest_unconfigure(config: pytest.Config) -> None:
    original = config.stash.get(_NBVAL_MANAGER, None)
    if original is not None:
        import nbval.kernel

        nbval.kernel.KernelManager = original
        del config.stash[_NBVAL_MANAGER]
