"""Kernels start on private ``ipc`` sockets, so two of them started at once (or a kernel
and a Dask cluster) cannot race for a TCP port: the book runner's kernels (papermill) and
nbval's (through the ``goldilocks_nb.pytest_kernels`` plugin). CI failed once on that race
(``ZMQError: Address already in use``, then "Kernel didn't respond in 60 seconds")."""

import gc
import os
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import tomllib

from goldilocks_nb.kernels import AsyncIpcKernelManager, IpcKernelManager
from test_book import _write_nb

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(os.name != "posix", reason="ipc transport needs Unix sockets")

#: A cell that fails unless its kernel talks to its client over ipc sockets.
ON_IPC = ("from ipykernel.kernelapp import IPKernelApp\n"
          "app = IPKernelApp.instance()\n"
          "assert app.transport == 'ipc', (app.transport, app.ip)\n"
          "print(app.transport)")


@pytest.mark.parametrize("cls", [IpcKernelManager, AsyncIpcKernelManager])
def test_each_manager_has_its_own_socket_folder_removed_with_it(cls):
    first, second = cls(kernel_name="python3"), cls(kernel_name="python3")
    assert first.transport == second.transport == "ipc"
    folders = [Path(km.ip).parent for km in (first, second)]
    assert folders[0] != folders[1]
    for folder in folders:
        assert folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert len(str(folder / "kernel-99")) <= 100  # fits a Unix socket's path
    del first, second
    gc.collect()
    assert not any(folder.exists() for folder in folders)


def test_an_explicit_transport_is_kept():
    km = IpcKernelManager(kernel_name="python3", transport="tcp")
    assert km.transport == "tcp" and km.ip in ("127.0.0.1", "localhost")


def test_a_kernel_started_by_the_manager_runs_on_ipc():
    km = IpcKernelManager(kernel_name="python3")
    km.start_kernel()
    try:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        reply = kc.execute_interactive(ON_IPC, timeout=60)
        assert reply["content"]["status"] == "ok"
        kc.stop_channels()
    finally:
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("progress", [False, True])
def test_book_runner_kernels_run_on_ipc(tmp_path, progress):
    """Both of execute_notebook's paths (papermill's engine and ours with progress)."""
    from goldilocks_nb.book import execute_notebook

    (tmp_path / "notebooks").mkdir()
    _write_nb(tmp_path / "notebooks" / "00_ipc.ipynb", ON_IPC)
    out = tmp_path / "out.ipynb"
    execute_notebook(tmp_path, "00_ipc", {"x": 2}, out, timeout=120, progress=progress)
    assert nbformat.read(out, as_version=4).cells[-1].outputs[0]["text"].strip() == "ipc"


def test_nbval_kernels_run_on_ipc_under_the_project_pytest_settings(tmp_path):
    """The plugin is in pyproject's addopts; nbval's kernel then fails ON_IPC's assertion
    unless it runs on ipc (and does fail it without the project settings: the control)."""
    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"]["addopts"]
    assert "-p goldilocks_nb.pytest_kernels" in addopts
    nb = tmp_path / "ipc.ipynb"
    _write_nb(nb, ON_IPC)
    base = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", str(nb),
            "-q", "--rootdir", str(tmp_path)]
    run = dict(cwd=tmp_path, capture_output=True, text=True, timeout=300)
    ours = subprocess.run([*base, "-c", str(ROOT / "pyproject.toml")], **run)
    assert ours.returncode == 0, ours.stdout[-2000:]
    plain = subprocess.run([*base, "-p", "no:cacheprovider"], **run)
    assert plain.returncode != 0 and "tcp" in plain.stdout


def test_the_plugin_restores_nbval_after_the_session(monkeypatch):
    import nbval.kernel
    from jupyter_client.manager import KernelManager

    from goldilocks_nb import pytest_kernels

    class Config:
        stash = pytest.Stash()

    monkeypatch.setattr(nbval.kernel, "KernelManager", KernelManager)  # nbval's own
    config = Config()
    pytest_kernels.pytest_configure(config)
    assert nbval.kernel.KernelManager is IpcKernelManager
    pytest_kernels.pytest_unconfigure(config)
    assert nbval.kernel.KernelManager is KernelManager
