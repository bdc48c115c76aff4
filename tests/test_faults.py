"""Fault injection: damaged caches and data files, swapped entries, file modes, bad seeds.

Each test reproduces one row of issue 15's table on small data and checks the new
behaviour: the fault is named (file, what is wrong, remedy) and nothing wrong is used.
"""

from __future__ import annotations

import dataclasses
import gzip
import http.server
import io
import json
import math
import os
import pickle
import shutil
import socket
import stat
import tarfile
import threading
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from curvature_cases import tiny_mlp  # noqa: E402
from goldilocks_nb import data  # noqa: E402
from goldilocks_nb.curvature import curvature_sweep, hutchinson_estimates  # noqa: E402
from goldilocks_nb.data import DamagedDataError, DataError, load_dataset  # noqa: E402
from goldilocks_nb.notebook import output_dirs  # noqa: E402
from goldilocks_nb.rescaling import ZoneBounds  # noqa: E402
from goldilocks_nb.results import (  # noqa: E402
    CacheWarning,
    ResultsDir,
    atomic_write_text,
    cached,
    load_claims,
    record_claim,
    save_figure,
)
from test_data import (  # noqa: E402
    _idx,
    isolate_data,
    write_cifar_jpeg_tar,
    write_cifar_pickles,
    write_fashion,
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """``test_data.isolate_data`` (no ambient data root, a private cache, no download) and
    umask 022."""
    isolate_data(tmp_path, monkeypatch)
    old = os.umask(0o022)
    yield
    os.umask(old)


# --------------------------------------------------------------------------- results cache


def _sweep(seed: int) -> list[dict]:
    case = tiny_mlp(n=8)
    return curvature_sweep(case.model, case.params, case.X, case.y, alphas=[0.5, 2.0], d=3,
                           seeds=[seed])


def _run_chapter(cache: os.PathLike, calls: list[int] | None = None) -> dict:
    """A miniature chapter: two seeds of a sweep and a Hutchinson estimate, all cached."""
    case = tiny_mlp(n=8)
    out = {}
    for seed in (0, 1):
        def compute(seed=seed):
            if calls is not None:
                calls.append(seed)
            return _sweep(seed)
        out[f"sweep{seed}"] = cached(f"sweep-seed{seed}", {"seed": seed, "d": 3}, compute,
                                     cache_dir=cache)
    out["hutch"] = cached("hutch", {"probes": 4}, lambda: hutchinson_estimates(
        case.model, case.params, case.X, case.y, n_probes=4, seed=0), cache_dir=cache)
    return out


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """The miniature chapter's numbers from a clean run, and its filled cache folder."""
    cache = tmp_path_factory.mktemp("clean") / "cache"
    return _run_chapter(cache), cache


def _filled_cache(clean_run, tmp_path):
    cache = tmp_path / "results-cache"
    shutil.copytree(clean_run[1], cache)
    return cache


def _entry(cache, name):
    (path,) = cache.glob(f"{name}-*.npz")
    return path


def _same(a, b) -> bool:
    """Equal values of equal types (NaN equal to NaN), recursively."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, torch.Tensor):
        return (a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
                and torch.equal(torch.nan_to_num(a.detach()), torch.nan_to_num(b.detach())))
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if dataclasses.is_dataclass(a):
        return _same(dataclasses.asdict(a), dataclasses.asdict(b))
    return a == b


DAMAGES = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "emptied": lambda p: p.write_bytes(b""),
    "zeroed": lambda p: p.write_bytes(bytes(p.stat().st_size)),
    "one byte flipped": lambda p: p.write_bytes(
        (lambda b: b[:300] + bytes([b[300] ^ 0xFF]) + b[301:])(p.read_bytes())),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_cache_entry_is_named_and_recomputed(clean_run, tmp_path, damage):
    cache = _filled_cache(clean_run, tmp_path)
    path = _entry(cache, "sweep-seed0")
    DAMAGES[damage](path)
    calls = []
    with pytest.warns(CacheWarning, match=str(path)) as record:
        again = _run_chapter(cache, calls)
    assert len([w for w in record if w.category is CacheWarning]) == 1  # reported once
    assert calls == [0]  # only that entry recomputed
    assert _same(again, clean_run[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # replaced: the next run reads it silently
        assert _same(_run_chapter(cache, calls), clean_run[0]) and calls == [0]


def test_swapped_cache_entry_is_detected_never_used(clean_run, tmp_path):
    cache = _filled_cache(clean_run, tmp_path)
    seed0, seed1 = _entry(cache, "sweep-seed0"), _entry(cache, "sweep-seed1")
    shutil.copyfile(seed1, seed0)  # seed 1's file over seed 0's
    calls = []
    with pytest.warns(CacheWarning, match="computed for another key") as record:
        again = _run_chapter(cache, calls)
    assert str(seed0) in str(record[0].message) and calls == [0]
    assert _same(again, clean_run[0]) and not _same(again["sweep0"], again["sweep1"])


def test_changed_payload_fails_the_checksum(tmp_path):
    """A well-formed entry whose numbers were edited (key kept) is not used."""
    cached("x", {"a": 1}, lambda: {"v": np.arange(5.0)}, cache_dir=tmp_path)
    path = _entry(tmp_path, "x")
    with np.load(path) as f:
        members = {k: f[k] for k in f.files}
    members["a0"] = members["a0"] + 1
    with open(path, "wb") as f:
        np.savez(f, **members)
    with pytest.warns(CacheWarning, match="checksum"):
        out = cached("x", {"a": 1}, lambda: {"v": np.arange(5.0)}, cache_dir=tmp_path)
    assert np.array_equal(out["v"], np.arange(5.0))


def test_cache_round_trips_every_type_the_chapters_store(tmp_path):
    value = {
        "records": [{"alpha": 0.5, "seed": 0, "g_term_positive_curvature": float("nan")}],
        "arrays": {"alpha": np.logspace(-1, 1, 4), "mask": np.array([True, False]),
                   "ints": np.arange(3, dtype=np.int32), "empty": np.zeros((0, 2)),
                   "text": np.array(["a", "bc"])},
        "tensors": [torch.randn(3, 2, dtype=torch.float64), torch.arange(4),
                    torch.ones(2, dtype=torch.bfloat16), torch.zeros(2, requires_grad=True)],
        "tuple": (1.0, [2, 3], None), "np_scalar": np.float64(0.1), "np_int": np.int64(7),
        "special": [float("nan"), float("inf"), -0.0, 10**30, True, "text", None],
        "int_keys": {1: "one", 2.5: "two and a half", (1, 2): "pair"},
        "zone": ZoneBounds(0.1, None, 1.0, 2.0, 0.5, 0.5),
    }
    stored = cached("all", {"k": 1}, lambda: value, cache_dir=tmp_path)
    read = cached("all", {"k": 1}, lambda: pytest.fail("recomputed"), cache_dir=tmp_path)
    assert _same(stored, value) and _same(read, value)
    assert isinstance(read["zone"], ZoneBounds) and isinstance(read["np_scalar"], np.float64)
    # no pickle in the file: numpy reads every member with pickles refused
    with np.load(_entry(tmp_path, "all"), allow_pickle=False) as f:
        assert json.loads(f["__meta__"].tobytes())["key"]


def test_cache_refuses_types_it_cannot_restore(tmp_path):
    with pytest.raises(TypeError, match=r"unsupported type at value\['f'\]: builtins\."):
        cached("bad", {}, lambda: {"f": print}, cache_dir=tmp_path)
    assert not list(tmp_path.glob("*"))


# --------------------------------------------------------------------------- decoded-data cache


@pytest.mark.parametrize("damage", ["truncated", "zeroed", "emptied"])
def test_damaged_decoded_dataset_cache_is_decoded_again(tmp_path, monkeypatch, damage):
    write_fashion(tmp_path / "root")
    clean = load_dataset("fashion-mnist", root=tmp_path / "root")
    (path,) = (tmp_path / "cache" / "decoded").glob("fashion-mnist-*.npz")
    DAMAGES[damage](path)
    with pytest.warns(CacheWarning, match=str(path)):
        again = load_dataset("fashion-mnist", root=tmp_path / "root")
    assert torch.equal(again.X, clean.X) and torch.equal(again.y, clean.y)
    monkeypatch.setattr(data, "_decode_fashion", lambda files: pytest.fail("decoded again"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(load_dataset("fashion-mnist", root=tmp_path / "root").X, clean.X)


# --------------------------------------------------------------------------- damaged data files


def _fashion_root(tmp_path, gz=True):
    folder = tmp_path / "root" / "fashion-mnist"
    write_fashion(folder, gz=gz)
    return folder


def _expect_damaged(tmp_path, name, path, problem):
    with pytest.raises(DamagedDataError, match=problem) as err:
        load_dataset(name, root=tmp_path / "root")
    msg = str(err.value)
    assert str(path) in msg and "Remedy:" in msg and isinstance(err.value, DataError)
    assert not (tmp_path / "cache" / "decoded").exists()  # nothing of the cache touched
    return msg


def test_truncated_fashion_gz(tmp_path):
    path = _fashion_root(tmp_path) / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-200])
    msg = _expect_damaged(tmp_path, "fashion-mnist", path, "is truncated")
    assert "zalandoresearch/fashion-mnist" in msg


def test_fashion_gz_that_is_not_gzip(tmp_path):
    path = _fashion_root(tmp_path) / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(os.urandom(64))
    _expect_damaged(tmp_path, "fashion-mnist", path, "is not a gzip file")


def test_gzip_of_a_truncated_idx(tmp_path):
    """The gzip is fine, the IDX inside is short: named with the sizes of its header."""
    path = _fashion_root(tmp_path) / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-16]))
    msg = _expect_damaged(tmp_path, "fashion-mnist", path, "wrong size for its header")
    assert "(40, 28, 28)" in msg and "31360 bytes" in msg and "31344" in msg


def test_truncated_plain_idx(tmp_path):
    path = _fashion_root(tmp_path, gz=False) / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    _expect_damaged(tmp_path, "fashion-mnist", path, r"wrong size for its header \(truncated\)")


def test_idx_with_a_bad_magic_number(tmp_path):
    path = _fashion_root(tmp_path, gz=False) / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"GIF89a" + path.read_bytes())
    _expect_damaged(tmp_path, "fashion-mnist", path, "is not an IDX file")


def test_fashion_labels_that_do_not_fit_the_images(tmp_path):
    folder = _fashion_root(tmp_path, gz=False)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.arange(7) % 10))
    _expect_damaged(tmp_path, "fashion-mnist", folder / "t10k-labels-idx1-ubyte",
                    "do not fit the 20 images")


@pytest.mark.parametrize("damage", ["random bytes", "truncated", "empty"])
@pytest.mark.parametrize("name", ["cifar10-jpeg.tar.gz", "cifar-10-python.tar.gz"])
def test_damaged_cifar_archive(tmp_path, name, damage):
    path = tmp_path / "root" / name
    path.parent.mkdir()
    if name == "cifar10-jpeg.tar.gz":
        write_cifar_jpeg_tar(path, per_class=2)
    else:
        write_cifar_pickles(tmp_path / "batches")
        with tarfile.open(path, "w:gz") as tar:
            tar.add(tmp_path / "batches", arcname="cifar-10-batches-py")
    raw = path.read_bytes()
    path.write_bytes({"random bytes": os.urandom(len(raw)), "truncated": raw[: len(raw) // 2],
                      "empty": b""}[damage])
    problem = {"random bytes": "is not a gzip or tar archive", "truncated": "is truncated",
               "empty": "is empty"}[damage]
    msg = _expect_damaged(tmp_path, "cifar10", path, problem)
    assert "cs.toronto.edu" in msg


def test_cifar_image_that_fails_to_decode(tmp_path):
    path = tmp_path / "root" / "cifar10-jpeg.tar.gz"
    path.parent.mkdir()
    write_cifar_jpeg_tar(path, per_class=1)
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(path, "w:gz") as tar:
        for m, blob in members:
            if m.name == "test/cat/0000.jpg":
                blob = blob[:40]  # a JPEG cut short
                m.size = len(blob)
            tar.addfile(m, io.BytesIO(blob))
    msg = _expect_damaged(tmp_path, "cifar10", path, "is not a readable image")
    assert "test/cat/0000.jpg" in msg


def test_damaged_cifar_batch_in_a_folder(tmp_path):
    folder = tmp_path / "root" / "cifar-10-batches-py"
    write_cifar_pickles(folder)
    (folder / "data_batch_3").write_bytes(b"\x80\x04garbage")
    _expect_damaged(tmp_path, "cifar10", folder, r"\(batch data_batch_3\) is not a readable")


class _MarkerOnLoad:
    """Unpickling this calls ``open(marker, "w")``: a stand-in for any code a pickle runs."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("where", ["folder", "archive"])
def test_cifar_batch_that_would_run_code_is_refused_before_it_runs(tmp_path, where):
    """Issue 20 item 4: ``pickle.loads`` ran a crafted batch's ``__reduce__``."""
    batches = tmp_path / "batches"
    write_cifar_pickles(batches)
    marker = tmp_path / "marker"
    evil = {b"data": _MarkerOnLoad(marker), b"labels": [0]}
    (batches / "data_batch_2").write_bytes(pickle.dumps(evil))
    (tmp_path / "root").mkdir()
    if where == "folder":
        path = tmp_path / "root" / "cifar-10-batches-py"
        shutil.copytree(batches, path)
    else:
        path = tmp_path / "root" / "cifar-10-python.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            tar.add(batches, arcname="cifar-10-batches-py")
    msg = _expect_damaged(tmp_path, "cifar10", path,
                          r"\(batch data_batch_2\) is refused: it references (builtins|io)\.open")
    assert "nothing in it was run" in msg
    assert not marker.exists()


@pytest.mark.parametrize("protocol, numpy_module", [
    (2, "numpy.core"), (2, "numpy._core"), (4, "numpy._core"), (5, "numpy._core")])
def test_cifar_batches_of_every_pickle_protocol_still_load(tmp_path, protocol, numpy_module):
    """The canonical files are Python 2 protocol-2 pickles naming ``numpy.core``; a
    re-pickled copy may use NumPy 2's ``numpy._core`` or protocol 4/5: all still load."""
    folder = tmp_path / "root" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"batch_label": b"training batch", b"labels": [int(v) for v in rng.integers(0, 10, 4)],
             b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
             b"filenames": [b"a.png", b"b.png", b"c.png", b"d.png"], b"n": np.int64(4)}
        blob = pickle.dumps(d, protocol=protocol)
        if numpy_module == "numpy.core":  # protocol 2 names globals as text lines
            blob = blob.replace(b"numpy._core", b"numpy.core")
            assert b"cnumpy.core.multiarray\n_reconstruct" in blob
        (folder / name).write_bytes(blob)
    ds = load_dataset("cifar10", "test", root=tmp_path / "root")
    assert ds.X.shape == (4, 3, 32, 32) and "canonical python batches" in ds.source


def test_cifar_batches_win_over_the_jpeg_copy_in_one_folder(tmp_path):
    """Order in one root (documented in goldilocks_nb.data): the python batches, which
    are the exact pixels, before the lossy JPEG copy; the source says which was read."""
    root = tmp_path / "root"
    root.mkdir()
    write_cifar_jpeg_tar(root / "cifar10-jpeg.tar.gz", per_class=1)
    write_cifar_pickles(root / "cifar-10-batches-py")
    ds = load_dataset("cifar10", "test", root=root)
    assert "canonical python batches" in ds.source and len(ds) == 10
    shutil.rmtree(root / "cifar-10-batches-py")
    ds = load_dataset("cifar10", "test", root=root)
    assert "JPEG" in ds.source and len(ds) == 10


# --------------------------------------------------------------------------- modes, layout


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    os.umask(umask)
    claim = record_claim("C3", measured="m", verdict="reproduced", evidence="e", parameters={},
                         profile="smoke", data_source="d", results_dir=tmp_path)
    cached("entry", {"a": 1}, lambda: [1.0], cache_dir=tmp_path / "cache")
    text = atomic_write_text(tmp_path / "scorecard.md", "x\n")
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    figures = save_figure(fig, "f", tmp_path / "figures")
    plt.close(fig)
    write_fashion(tmp_path / "root", n_train=10, n_test=10)
    load_dataset("fashion-mnist", root=tmp_path / "root")
    (decoded,) = (tmp_path / "cache" / "decoded").glob("*.npz")
    paths = [claim, _entry(tmp_path / "cache", "entry"), text, *figures, decoded]
    assert {p.name: oct(_mode(p)) for p in paths} == {p.name: oct(mode) for p in paths}
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_results_dir_owns_the_layout(tmp_path):
    layout = ResultsDir(tmp_path / "r")
    dirs = output_dirs(tmp_path / "r")
    assert dirs == layout.as_dict() == {"root": layout.root, "figures": layout.figures,
                                        "cache": layout.cache, "claims": layout.claims}
    assert all(p.is_dir() for p in dirs.values())
    path = record_claim("c4", measured="m", verdict="reproduced", evidence="e", parameters={},
                        profile="smoke", data_source="d", results_dir=layout.root)
    assert path == layout.claim("C4") and list(load_claims(layout.root)) == ["C4"]
    path.write_text('{"claim": "C4", "verd')  # a damaged claim record is named
    with pytest.raises(ValueError, match=f"claim record {path} is damaged"):
        load_claims(layout.root)


# --------------------------------------------------------------------------- seeds and counts


@pytest.mark.parametrize("kwargs, name", [
    ({"seed": 0.5}, "seed"), ({"seed": 1.0}, "seed"), ({"seed": True}, "seed"),
    ({"seed": -1}, "seed"), ({"n": 2.5}, "subset size n"), ({"n": 20.0}, "subset size n"),
])
@pytest.mark.parametrize("dataset", ["gaussian", "fashion-mnist-embedded"])
def test_seeds_and_counts_are_integers(dataset, kwargs, name):
    kwargs = {"n": 20, **kwargs}
    with pytest.raises(ValueError, match=f"{name} .*must be an integer|{name} must be an integer"):
        load_dataset(dataset, **kwargs)


def test_seed_given_as_numpy_integer_is_fine():
    a = load_dataset("gaussian", n=10, seed=np.int64(3), shape=(4,))
    assert torch.equal(a.X, load_dataset("gaussian", n=10, seed=3, shape=(4,)).X)


# --------------------------------------------------------------------------- Dask address


class _LoopbackServer:
    """A server on 127.0.0.1 (free port) in a daemon thread, for at most ``lifetime`` s:
    ``"http"`` (Python's HTTP server), ``"silent"`` (accepts, never replies) or
    ``"banner"`` (speaks first, like an SSH port)."""

    def __init__(self, kind: str, lifetime: float = 60.0):
        self.kind, self.conns, self.stop = kind, [], threading.Event()
        if kind == "http":
            class Quiet(http.server.BaseHTTPRequestHandler):
                def log_message(self, *args):
                    pass

            self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
            self.port = self.http.server_address[1]
            target = self.http.serve_forever
        else:
            self.sock = socket.create_server(("127.0.0.1", 0))
            self.sock.settimeout(0.2)
            self.port = self.sock.getsockname()[1]
            target = self._accept
        threading.Thread(target=target, daemon=True).start()
        self.timer = threading.Timer(lifetime, self.close)
        self.timer.daemon = True
        self.timer.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.conns.append(conn)
            if self.kind == "banner":
                conn.sendall(b"SSH-2.0-OpenSSH_8.9\r\n")

    def close(self):
        self.stop.set()
        self.timer.cancel()
        if self.kind == "http":
            self.http.shutdown()
            self.http.server_close()
        else:
            self.sock.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize("kind", ["http", "silent", "banner"])
def test_dask_address_that_answers_but_is_not_a_scheduler(tmp_path, kind):
    """Issue 20 item 3: these hung past dask_timeout (http, silent) or failed with
    ``MemoryError: Unable to allocate ... EiB`` (banner). Now: a ConnectionError saying
    the address answered but is not a Dask scheduler, within the timeout."""
    pytest.importorskip("distributed")
    from goldilocks_nb.training import GridSpec, train_grid
    from training_cases import DTYPE, splits, tiny_model

    server = _LoopbackServer(kind)
    address = f"tcp://127.0.0.1:{server.port}"
    train, test = splits()
    outcome = {}

    def call():
        try:
            train_grid(GridSpec.of(tiny_model(), train, test, alphas=[1.0], eta0s=[0.1], steps=2,
                                   sharpness_steps=(), dtype=DTYPE, device="cpu", progress=False,
                                   executor="dask", dask_address=address, dask_timeout=1.5,
                                   cache_dir=tmp_path / "cache"))
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome["error"] = exc

    start = time.monotonic()
    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(30)  # today's code hangs here: the test then fails instead of hanging
    elapsed = time.monotonic() - start
    server.close()
    assert not worker.is_alive(), f"train_grid still waiting on {kind} after {elapsed:.0f} s"
    err = outcome.get("error")
    assert isinstance(err, ConnectionError), repr(err)
    assert f"{address!r} answered" in str(err) and "is not a Dask scheduler" in str(err)
    assert elapsed < 1.5 + 8  # the timeout, plus building the grid on a busy machine
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_dask_address_with_nothing_listening_is_still_no_scheduler(tmp_path):
    pytest.importorskip("distributed")
    from goldilocks_nb.training.grid_run import _probe_scheduler

    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(ConnectionError, match=r"no Dask scheduler answers at 'tcp://127\.0\.0\.1"):
        _probe_scheduler(f"tcp://127.0.0.1:{port}", 1.0)
    assert time.monotonic() - start < 5


def test_dask_probe_accepts_a_real_scheduler():
    distributed = pytest.importorskip("distributed")
    from goldilocks_nb.training.grid_run import _probe_scheduler

    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp",
                                  dashboard_address=None) as cluster:
        _probe_scheduler(cluster.scheduler_address, 5.0)  # no error


# --------------------------------------------------------------------------- test hygiene


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
@pytest.mark.parametrize("writes", ["book/scorecard.md", "results/smoke/claims/C1.json",
                                    "_build/html/index.html", None])
def test_a_test_session_that_writes_into_the_checkout_fails(tmp_path, writes, workers):
    """Issue 20 item 7: the guard of tests/conftest.py, on a miniature checkout whose
    book/, results/ and _build/ already exist: a session whose test writes into one of
    them ends with a non-zero status naming the path; one that writes to tmp_path passes."""
    import subprocess
    import sys
    from pathlib import Path

    tests_dir = Path(__file__).resolve().parent
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    for d in ("book/chapters", "results/smoke/claims", "_build/html"):
        (repo / d).mkdir(parents=True)
    (repo / "book" / "scorecard.md").write_text("reader's scorecard\n")
    (repo / "_build" / "html" / "index.html").write_text("<html></html>\n")
    shutil.copy(tests_dir / "conftest.py", repo / "tests" / "conftest.py")
    target = f"ROOT / {writes!r}" if writes else "tmp_path / 'scratch.txt'"
    (repo / "tests" / "test_probe.py").write_text(
        "from pathlib import Path\n"
        "ROOT = Path(__file__).resolve().parents[1]\n\n"
        "def test_probe(tmp_path):\n"
        f"    path = {target}\n"
        "    path.parent.mkdir(parents=True, exist_ok=True)\n"
        "    path.write_text('written by a test')\n")
    (repo / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests", *workers], cwd=repo,
                          capture_output=True, text=True, timeout=120)
    if writes is None:
        assert done.returncode == 0, done.stdout[-2000:]
        assert "checkout outputs changed" not in done.stdout
    else:
        assert done.returncode == 1, done.stdout[-2000:]
        assert "1 passed" in done.stdout  # the test itself passed; the session did not
        assert "checkout outputs changed" in done.stdout
        verb = "changed" if writes != "results/smoke/claims/C1.json" else "created"
        assert f"{verb} {writes}" in done.stdout
