"""Data loaders: embedded subsets, real layouts (built here from tiny files), errors."""

import gzip
import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from goldilocks_nb import data
from goldilocks_nb.data import (
    DataNotFoundError,
    balanced_subset,
    class_prior,
    load_dataset,
    long_tail_prior,
    prior_subset,
    sample_simplex,
)


def isolate_data(tmp_path, monkeypatch) -> None:
    """No ambient data root, a private cache, and no network download (also test_faults)."""
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_download", lambda name: None)
    monkeypatch.setattr(data, "_DEBIAN_FASHION", tmp_path / "no-debian")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """:func:`isolate_data` around every test of this module."""
    isolate_data(tmp_path, monkeypatch)


def _idx(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_fashion(folder, n_train=40, n_test=20, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labs = np.arange(n) % 10
        for kind, arr in (("images-idx3", imgs), ("labels-idx1", labs)):
            name = f"{split}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(_idx(arr)))
            else:
                (folder / name).write_bytes(_idx(arr))
    return imgs


def write_cifar_jpeg_tar(path, per_class=3):
    from PIL import Image

    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for k, cls in enumerate(data.CIFAR_CLASSES):
                for i in range(per_class):
                    buf = io.BytesIO()
                    Image.fromarray(np.full((32, 32, 3), 20 * k, np.uint8)).save(buf, "JPEG")
                    info = tarfile.TarInfo(f"{split}/{cls}/{i:04d}.jpg")
                    info.size = len(buf.getvalue())
                    tar.addfile(info, io.BytesIO(buf.getvalue()))


def write_cifar_pickles(folder, per_batch=10):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
             b"labels": list(np.arange(per_batch) % 10)}
        (folder / name).write_bytes(pickle.dumps(d))


def test_embedded_fashion_is_real_balanced_and_standardised():
    ds = load_dataset("fashion-mnist-embedded")
    assert ds.X.shape == (2000, 1, 28, 28) and ds.X.dtype == torch.float32
    assert torch.bincount(ds.y).tolist() == [200] * 10
    assert abs(ds.X.mean().item()) < 0.1 and abs(ds.X.std().item() - 1) < 0.1
    assert "Fashion-MNIST" in ds.source and "embedded" in ds.source
    assert ds.classes[8] == "Bag"


def test_embedded_cifar_and_subset_dtype():
    ds = load_dataset("cifar10-embedded", "test", n=50, seed=2, dtype=torch.float64)
    assert ds.X.shape == (50, 3, 32, 32) and ds.X.dtype == torch.float64
    assert torch.bincount(ds.y).tolist() == [5] * 10
    assert "JPEG" in ds.source


def test_embedded_checksum_is_verified(tmp_path, monkeypatch):
    folder = tmp_path / "emb"
    folder.mkdir()
    src = data.embedded_dir()
    (folder / "fashion-mnist-small.npz").write_bytes(b"corrupt")
    (folder / "SHA256SUMS").write_text((src / "SHA256SUMS").read_text())
    monkeypatch.setattr(data, "embedded_dir", lambda: folder)
    with pytest.raises(DataNotFoundError, match="does not match its checksum"):
        load_dataset("fashion-mnist-embedded")


def test_committed_checksums_match_files():
    folder = data.embedded_dir()
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("layout", ["flat", "debian-folder", "torchvision", "plain-idx"])
def test_fashion_layouts(tmp_path, layout):
    folder = {"flat": tmp_path, "debian-folder": tmp_path / "fashion-mnist",
              "torchvision": tmp_path / "FashionMNIST" / "raw",
              "plain-idx": tmp_path / "FashionMNIST" / "raw"}[layout]
    imgs = write_fashion(folder, gz=layout != "plain-idx")
    ds = load_dataset("fashion-mnist", "test", root=tmp_path, dtype=torch.float64)
    assert ds.X.shape == (20, 1, 28, 28)
    expected = (imgs[0].astype(float) / 255 - 0.2860) / 0.3530
    assert np.allclose(ds.X[0, 0].numpy(), expected)
    assert "Fashion-MNIST" in ds.source


def test_fashion_from_env_root_and_decoded_cache(tmp_path, monkeypatch):
    write_fashion(tmp_path / "root" / "fashion-mnist")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "root"))
    a = load_dataset("fashion-mnist")
    cached = list((tmp_path / "cache" / "decoded").glob("fashion-mnist-*.npz"))
    assert len(cached) == 1
    b = load_dataset("fashion-mnist")
    assert torch.equal(a.X, b.X)


def test_cifar_jpeg_tar(tmp_path):
    write_cifar_jpeg_tar(tmp_path / "cifar10-jpeg.tar.gz")
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.X.shape == (30, 3, 32, 32)
    assert sorted(set(ds.y.tolist())) == list(range(10))
    assert "JPEG re-encoded" in ds.source
    # label k images are constant 20k (JPEG is near-lossless on flat colour)
    k = int(ds.y[0])
    raw = ds.X[0, 0, 0, 0] * 0.2470 + 0.4914
    assert abs(raw.item() * 255 - 20 * k) < 3


def test_cifar_pickles(tmp_path):
    write_cifar_pickles(tmp_path / "cifar-10-batches-py")
    ds = load_dataset("cifar10", "train", root=tmp_path)
    assert ds.X.shape == (50, 3, 32, 32) and "canonical" in ds.source


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        load_dataset("nope")


def test_unknown_split():
    with pytest.raises(ValueError, match="unknown split"):
        load_dataset("fashion-mnist-embedded", "validation")


def test_missing_root_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match="is not a folder"):
        load_dataset("fashion-mnist", root=tmp_path / "missing")


def test_missing_env_root(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DataNotFoundError, match="GOLDILOCKS_DATA"):
        load_dataset("cifar10")


def test_missing_files_message_names_files_and_remedy(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        load_dataset("fashion-mnist", root=tmp_path)
    msg = str(err.value)
    assert "train-images-idx3-ubyte" in msg and "GOLDILOCKS_DATA" in msg
    with pytest.raises(DataNotFoundError) as err:
        load_dataset("cifar10")
    assert "cifar-10-batches-py" in str(err.value) and "cifar10-jpeg.tar.gz" in str(err.value)


def test_explicit_root_never_falls_back(tmp_path, monkeypatch):
    write_fashion(tmp_path / "env" / "fashion-mnist")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "env"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError):
        load_dataset("fashion-mnist", root=tmp_path / "empty")


def test_subset_larger_than_dataset():
    with pytest.raises(ValueError, match="only 500 examples"):
        load_dataset("fashion-mnist-embedded", "test", n=501)
    ds = load_dataset("fashion-mnist-embedded", "test")
    with pytest.raises(ValueError, match="only 500"):
        balanced_subset(ds, 10_000)
    with pytest.raises(ValueError, match="positive integer"):
        balanced_subset(ds, 0)


def test_balanced_subset_seeded():
    ds = load_dataset("fashion-mnist-embedded")
    a, b, c = (balanced_subset(ds, 105, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.indices, b.indices) and not torch.equal(a.indices, c.indices)
    counts = torch.bincount(a.y, minlength=10)
    assert counts.sum() == 105 and counts.max() - counts.min() <= 1


def test_prior_subset_follows_prior():
    ds = load_dataset("fashion-mnist-embedded")
    q = long_tail_prior(10, imbalance=10.0)
    sub = prior_subset(ds, q, 500, seed=0)
    got = class_prior(sub.y, 10).numpy()
    assert np.abs(got - q).max() < 1 / 500 + 1e-12
    assert np.isclose(q[0] / q[-1], 10.0)
    with pytest.raises(ValueError, match="summing to 1"):
        prior_subset(ds, np.ones(10), 100)


def test_sample_simplex():
    Q = sample_simplex(2000, 10, seed=0)
    assert Q.shape == (2000, 10) and np.allclose(Q.sum(1), 1) and (Q >= 0).all()
    assert np.allclose(Q.mean(0), 0.1, atol=0.01)
    assert np.array_equal(Q, sample_simplex(2000, 10, seed=0))


def test_gaussian_dataset():
    ds = load_dataset("gaussian", n=100, shape=(3, 32, 32), seed=4)
    assert ds.X.shape == (100, 3, 32, 32)
    assert torch.bincount(ds.y).tolist() == [10] * 10
    assert "Gaussian" in ds.source
    assert torch.equal(ds.X, load_dataset("gaussian", n=100, shape=(3, 32, 32), seed=4).X)
    with pytest.raises(ValueError, match="needs a size n"):
        load_dataset("gaussian")
