"""Jupyter kernels that start without a port race.

jupyter_client gives a new kernel its five TCP ports by binding port 0 and releasing it;
the kernel binds the same ports a second or so later, when it has started. A port that
another process takes in between (a second kernel, a Dask connection, any outgoing
connection: these ports are in the ephemeral range) makes the kernel fail with
``ZMQError: Address already in use``, and the client then waits 60 s for a kernel that
never answers ("Kernel didn't respond in 60 seconds"). The race is known upstream
(nteract/papermill#511, jupyter/nbconvert#1066) and has no fix there. Our CI lost it once:
``tests/test_book.py`` started two kernels in parallel processes while the other pytest
worker ran Dask clusters.

The managers here use ZeroMQ's ``ipc`` transport instead: Unix sockets in a folder of the
manager's own (``tempfile.mkdtemp``), so no port is picked and no other process can take
one. The folder is removed when the manager is garbage-collected or the process ends. On
platforms without Unix sockets (Windows) they are the plain TCP managers.

- :class:`AsyncIpcKernelManager` is what :func:`goldilocks_nb.book.execute_notebook` gives
  papermill (nbclient's ``kernel_manager_class``).
- nbval starts its kernels with :class:`IpcKernelManager` through the pytest plugin
  :mod:`goldilocks_nb.pytest_kernels` (``-p goldilocks_nb.pytest_kernels`` in
  ``pyproject.toml``'s ``addopts``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from typing import Any

from jupyter_client.localinterfaces import localhost
from jupyter_client.manager import AsyncKernelManager, KernelManager

#: ``ipc`` where Unix sockets exist; ``tcp`` (with its race) elsewhere.
TRANSPORT = "ipc" if os.name == "posix" else "tcp"
#: A Unix socket's path must fit in ``sockaddr_un.sun_path`` (108 bytes on Linux, 104 on
#: macOS), ending ``-<port>``; a longer temporary folder falls back to ``/tmp``.
_MAX_SOCKET_PATH = 100


def private_ipc_prefix(owner: object) -> str:
    """A fresh ``<folder>/kernel`` path prefix for one manager's sockets.

    The folder is made with ``mkdtemp`` (mode 0700, a name no other process gets) and
    removed with everything in it when ``owner`` is garbage-collected or at exit.
    """
    folder = tempfile.mkdtemp(prefix="gnb-kernel-")
    if len(folder) + len("/kernel-99") > _MAX_SOCKET_PATH:
        os.rmdir(folder)
        folder = tempfile.mkdtemp(prefix="gnb-kernel-", dir="/tmp")
    weakref.finalize(owner, shutil.rmtree, folder, True)
    return os.path.join(folder, "kernel")


def _ipc_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.setdefault("transport", TRANSPORT)
    return kwargs


class IpcKernelManager(KernelManager):
    """``jupyter_client.KernelManager`` on ``ipc`` sockets in a private folder."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**_ipc_kwargs(kwargs))

    def _ip_default(self) -> str:  # traitlets' dynamic default for ``ip``
        return private_ipc_prefix(self) if self.transport == "ipc" else localhost()


class AsyncIpcKernelManager(AsyncKernelManager):
    """``jupyter_client.AsyncKernelManager`` (nbclient's) on ``ipc`` sockets in a private
    folder."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**_ipc_kwargs(kwargs))

    def _ip_default(self) -> str:
        return private_ipc_prefix(self) if self.transport == "ipc" else localhost()
