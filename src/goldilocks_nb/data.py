"""Real datasets (Fashion-MNIST, CIFAR-10), the paper's Gaussian "random dataset", subsets.

Where data is looked for, in this order (the first that has the files wins):

1. the ``root=`` argument (only there: an explicit root never falls back elsewhere);
2. the folder named by the environment variable ``GOLDILOCKS_DATA``;
3. the git-ignored cache ``data/cache`` of this repository (or ``GOLDILOCKS_CACHE``);
4. for Fashion-MNIST, Debian's ``/usr/share/datasets/fashion-mnist``;
5. a torchvision download into the cache, when there is network.

Otherwise :class:`DataNotFoundError` names every file it looked for and how to get them.
Accepted layouts in a root: torchvision's (``FashionMNIST/raw/*-ubyte[.gz]``,
``cifar-10-batches-py/``, ``cifar-10-python.tar.gz``), the four Fashion-MNIST IDX ``.gz``
files in ``root/`` or ``root/fashion-mnist/``, and for CIFAR-10 an ImageFolder tree
(``train/<class>/*.jpg``, ``test/<class>/*.jpg``) as a folder ``cifar10``/``cifar10-jpeg``
or a ``cifar10-jpeg.tar.gz``/``cifar10.tar.gz`` of it. Sources are decoded once into an
uncompressed ``.npz`` in the cache, keyed by the sha256 of the source files.

Images are standardised as in the paper's code: Fashion-MNIST with mean 0.2860 and std
0.3530; CIFAR-10 per channel with mean (0.4914, 0.4822, 0.4465) and std
(0.2470, 0.2435, 0.2616).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "DATA_ENV",
    "CACHE_ENV",
    "DATASETS",
    "DataNotFoundError",
    "Dataset",
    "balanced_indices",
    "balanced_subset",
    "cache_dir",
    "class_prior",
    "load_dataset",
    "long_tail_prior",
    "prior_subset",
    "sample_simplex",
]

DATA_ENV = "GOLDILOCKS_DATA"
CACHE_ENV = "GOLDILOCKS_CACHE"

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)

DATASETS = ("fashion-mnist", "cifar10", "gaussian", "fashion-mnist-embedded", "cifar10-embedded")
SPLITS = ("train", "test")

_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
_REPO_DATA = Path(__file__).resolve().parents[2] / "data"

HOW_TO_GET = (
    "How to get them: set {env}=/path/to/folder holding the files in one of the layouts above "
    "(e.g. the four Fashion-MNIST IDX .gz files, or cifar10-jpeg.tar.gz / cifar-10-batches-py), "
    "or `apt-get install dataset-fashion-mnist` for Fashion-MNIST, or run once with internet "
    "access so torchvision downloads them into the cache ({cache})."
)


class DataNotFoundError(FileNotFoundError):
    """The requested dataset's files are in none of the places searched."""


@dataclass(frozen=True)
class Dataset:
    """A standardised image-classification split held as tensors.

    Attributes:
        X: images ``(N, C, H, W)``, standardised.
        y: integer labels ``(N,)``.
        classes: class names, label ``k`` is ``classes[k]``.
        source: human-readable provenance that every figure shows.
        name: dataset key (``"fashion-mnist"``, ...), split: ``"train"`` or ``"test"``.
    """

    X: torch.Tensor
    y: torch.Tensor
    classes: tuple[str, ...]
    source: str
    name: str
    split: str
    indices: torch.Tensor | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.X.shape[1:])

    def subset(self, idx: torch.Tensor | np.ndarray | Sequence[int], note: str = "") -> Dataset:
        """The examples at ``idx`` (positions in this dataset), with ``note`` added to source."""
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        base = self.indices if self.indices is not None else torch.arange(len(self))
        return Dataset(
            self.X[idx.to(self.X.device)],
            self.y[idx.to(self.y.device)],
            self.classes,
            self.source + (f"; {note}" if note else ""),
            self.name,
            self.split,
            base[idx],
        )


# --------------------------------------------------------------------------- locations


def cache_dir() -> Path:
    """Cache folder: ``$GOLDILOCKS_CACHE``, else this repository's ``data/cache``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    if (_REPO_DATA / "README.md").exists():
        return _REPO_DATA / "cache"
    return Path.home() / ".cache" / "goldilocks_nb"


def _search_roots(root: str | os.PathLike | None) -> list[Path]:
    if root is not None:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise DataNotFoundError(f"data root {str(path)!r} (given as root=) is not a folder")
        return [path]
    roots = []
    env = os.environ.get(DATA_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataNotFoundError(
                f"${DATA_ENV} points at {str(path)!r}, which is not a folder; "
                f"unset it or point it at the folder holding the datasets"
            )
        roots.append(path)
    roots.append(cache_dir())
    return roots


def _first_existing(candidates: list[Path]) -> Path | None:
    return next((c for c in candidates if c.exists()), None)


def _find_fashion(root: Path) -> dict[str, Path] | None:
    """The four IDX files (plain or .gz) in one of the layouts, or None."""
    for folder in (root / "FashionMNIST" / "raw", root / "fashion-mnist", root):
        found = {}
        for split_files in _FASHION_FILES.values():
            for stem in split_files:
                hit = _first_existing([folder / (stem + ".gz"), folder / stem])
                if hit is not None:
                    found[stem] = hit
        if len(found) == 4:
            return found
    return None


_CIFAR_TARS = ("cifar10-jpeg.tar.gz", "cifar10.tar.gz")
_CIFAR_DIRS = ("cifar10-jpeg", "cifar10", "CIFAR10")


def _find_cifar(root: Path) -> tuple[str, Path] | None:
    """(format, path) of a CIFAR-10 copy in ``root``, or None."""
    pickles = root / "cifar-10-batches-py"
    if (pickles / "data_batch_1").exists() and (pickles / "test_batch").exists():
        return "pickle-dir", pickles
    if (root / "cifar-10-python.tar.gz").exists():
        return "pickle-tar", root / "cifar-10-python.tar.gz"
    for name in _CIFAR_DIRS:
        if (root / name / "train" / "airplane").is_dir():
            return "imagefolder-dir", root / name
    for name in _CIFAR_TARS:
        if (root / name).exists():
            return "imagefolder-tar", root / name
    return None


def _cifar_candidates(root: Path) -> list[str]:
    return [
        str(root / "cifar-10-batches-py" / "data_batch_1"),
        str(root / "cifar-10-python.tar.gz"),
        *(str(root / d / "train" / "<class>" / "*.jpg") for d in _CIFAR_DIRS),
        *(str(root / t) for t in _CIFAR_TARS),
    ]


# --------------------------------------------------------------------------- decoding


def _sha256(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _decode_fashion(files: dict[str, Path]) -> dict[str, np.ndarray]:
    out = {}
    for split, (img, lab) in _FASHION_FILES.items():
        out[f"x_{split}"] = _read_idx(files[img])[:, None, :, :]
        out[f"y_{split}"] = _read_idx(files[lab]).astype(np.int64)
    return out


def _cifar_from_batches(batches: dict[str, bytes]) -> dict[str, np.ndarray]:
    def unpack(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for n in names:
            d = pickle.loads(batches[n], encoding="bytes")
            xs.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(d[b"labels"], dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)

    x_tr, y_tr = unpack([f"data_batch_{i}" for i in range(1, 6)])
    x_te, y_te = unpack(["test_batch"])
    return {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}


def _decode_image(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)


def _cifar_from_imagefolder(members: dict[str, bytes]) -> dict[str, np.ndarray]:
    """``members`` maps 'split/class/file' to bytes; files sorted for a fixed order."""
    out = {}
    for split in SPLITS:
        keys = sorted(
            k for k in members if k.split("/")[0] == split and k.split("/")[1] in CIFAR_CLASSES
        )
        if not keys:
            raise DataNotFoundError(f"CIFAR-10 ImageFolder copy has no '{split}/<class>/' images")
        out[f"x_{split}"] = np.stack([_decode_image(members[k]) for k in keys])
        out[f"y_{split}"] = np.array([CIFAR_CLASSES.index(k.split("/")[1]) for k in keys])
    return out


def _decode_cifar(fmt: str, path: Path) -> dict[str, np.ndarray]:
    if fmt == "pickle-dir":
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        return _cifar_from_batches({n: (path / n).read_bytes() for n in names})
    if fmt == "pickle-tar":
        with tarfile.open(path) as tar:
            batches = {
                Path(m.name).name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isfile() and "_batch" in m.name
            }
        return _cifar_from_batches(batches)
    if fmt == "imagefolder-dir":
        members = {
            str(p.relative_to(path)): p.read_bytes()
            for p in path.glob("*/*/*")
            if p.suffix.lower() in (".jpg", ".jpeg", ".png")
        }
        return _cifar_from_imagefolder(members)
    with tarfile.open(path) as tar:  # imagefolder-tar
        members = {}
        for m in tar.getmembers():
            parts = Path(m.name).parts
            if m.isfile() and len(parts) >= 3 and Path(m.name).suffix.lower() in (".jpg", ".png"):
                members["/".join(parts[-3:])] = tar.extractfile(m).read()  # type: ignore[union-attr]
    return _cifar_from_imagefolder(members)


def _cached_decode(key: str, sources: Sequence[Path], decode) -> dict[str, np.ndarray]:
    """Decode ``sources`` once; later calls read ``cache/decoded/<key>-<sha>.npz``."""
    digest = _sha256(sources)[:16]
    target = cache_dir() / "decoded" / f"{key}-{digest}.npz"
    if target.exists():
        with np.load(target) as f:
            return {k: f[k] for k in f.files}
    arrays = decode()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, target)
    return arrays


def _download(name: str) -> Path | None:
    """torchvision download into the cache; None when it fails (e.g. no network)."""
    try:
        import torchvision

        dest = cache_dir()
        dest.mkdir(parents=True, exist_ok=True)
        if name == "fashion-mnist":
            torchvision.datasets.FashionMNIST(dest, train=True, download=True)
            torchvision.datasets.FashionMNIST(dest, train=False, download=True)
        else:
            torchvision.datasets.CIFAR10(dest, train=True, download=True)
        return dest
    except Exception:  # noqa: BLE001 - any failure means "not available", reported below
        return None


def _load_real(
    name: str, root: str | os.PathLike | None, download: bool
) -> tuple[dict[str, np.ndarray], str, str]:
    """Raw uint8 arrays for both splits, the source description and the location."""
    roots = _search_roots(root)
    if name == "fashion-mnist" and root is None:
        roots.append(_DEBIAN_FASHION)
    looked: list[str] = []
    for attempt in range(2):
        for r in roots:
            if name == "fashion-mnist":
                files = _find_fashion(r) if r.is_dir() else None
                if files:
                    srcs = [files[s] for pair in _FASHION_FILES.values() for s in pair]
                    arrays = _cached_decode("fashion-mnist", srcs, partial(_decode_fashion, files))
                    return arrays, "Fashion-MNIST (original IDX files)", str(srcs[0].parent)
                looked += [str(r / d / "train-images-idx3-ubyte[.gz] (+3 more IDX files)")
                           for d in ("FashionMNIST/raw", "fashion-mnist", ".")]
            else:
                hit = _find_cifar(r) if r.is_dir() else None
                if hit:
                    fmt, path = hit
                    srcs = sorted(path.glob("*")) if fmt == "pickle-dir" else [path]
                    if fmt == "imagefolder-dir":
                        srcs = sorted(path.glob("*/*/*"))
                    arrays = _cached_decode("cifar10", srcs, partial(_decode_cifar, fmt, path))
                    label = (
                        "CIFAR-10 (JPEG re-encoded copy, ImageFolder layout)"
                        if fmt.startswith("imagefolder")
                        else "CIFAR-10 (canonical python batches)"
                    )
                    return arrays, label, str(path)
                looked += _cifar_candidates(r)
        if attempt == 0 and root is None and download:
            got = _download(name)
            if got is None:
                looked.append("torchvision download into the cache (failed: no network?)")
                break
            roots = [got]
        else:
            break
    raise DataNotFoundError(
        f"dataset {name!r} not found. Looked for:\n  - "
        + "\n  - ".join(dict.fromkeys(looked))
        + "\n"
        + HOW_TO_GET.format(env=DATA_ENV, cache=cache_dir())
    )


_EMBEDDED = {
    "fashion-mnist-embedded": ("fashion-mnist-small.npz", FASHION_CLASSES),
    "cifar10-embedded": ("cifar10-small.npz", CIFAR_CLASSES),
}


def embedded_dir() -> Path:
    """Folder of the committed small subsets (``data/embedded`` of this repository)."""
    return _REPO_DATA / "embedded"


def _load_embedded(name: str) -> tuple[dict[str, np.ndarray], str, str]:
    fname, _ = _EMBEDDED[name]
    path = embedded_dir() / fname
    sums = embedded_dir() / "SHA256SUMS"
    if not path.exists() or not sums.exists():
        raise DataNotFoundError(
            f"embedded dataset {name!r} needs {path} and {sums}: they are committed to the "
            "repository (a non-editable install does not carry them; use `pip install -e .`)"
        )
    expected = dict(line.split()[::-1] for line in sums.read_text().splitlines() if line.strip())
    actual = _sha256([path])
    if expected.get(fname) != actual:
        raise DataNotFoundError(
            f"{path} does not match its checksum in {sums} (got {actual[:12]}...); "
            "regenerate it with scripts/make_embedded.py or restore it from git"
        )
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
        source = str(f["source"]) if "source" in f.files else name
    return arrays, source, str(path)


# --------------------------------------------------------------------------- public API


def _standardise(x_uint8: np.ndarray, mean: Sequence[float], std: Sequence[float],
                 dtype: torch.dtype, device: str | torch.device) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(x_uint8)).to(device=device, dtype=dtype) / 255.0
    m = torch.tensor(mean, dtype=dtype, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=dtype, device=device).view(1, -1, 1, 1)
    return (x - m) / s


def _check_n(n: int | None, available: int, what: str) -> None:
    if n is None:
        return
    if int(n) != n or n < 1:
        raise ValueError(f"subset size n must be a positive integer, got {n!r}")
    if n > available:
        raise ValueError(f"subset of n={n} requested but {what} has only {available} examples")


def load_dataset(
    name: str,
    split: str = "train",
    *,
    n: int | None = None,
    seed: int = 0,
    root: str | os.PathLike | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    shape: Sequence[int] = (1, 28, 28),
    num_classes: int = 10,
    download: bool = True,
) -> Dataset:
    """Load a standardised dataset split, optionally a class-balanced subset of size ``n``.

    Args:
        name: one of :data:`DATASETS`. ``"gaussian"`` draws ``n`` standard-normal images of
            ``shape`` with balanced random labels (the paper's random dataset).
            ``"*-embedded"`` are the small balanced subsets committed under ``data/embedded``.
        split: ``"train"`` or ``"test"``.
        n: size of a class-balanced subset drawn with ``seed`` (all examples when None).
        root: a folder to read from (no other place is searched then).
        dtype, device: of the returned tensors.
        download: try a torchvision download when the files are nowhere to be found.

    Raises:
        ValueError: unknown dataset or split, bad ``n``.
        DataNotFoundError: the files are missing (the message says where it looked).
    """
    key = name.lower().replace("_", "-").replace("cifar-10", "cifar10")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    if key == "gaussian":
        if n is None:
            raise ValueError("dataset 'gaussian' needs a size n")
        _check_n(n, n, "gaussian")
        gen = torch.Generator().manual_seed(int(seed))
        X = torch.randn((int(n), *map(int, shape)), generator=gen, dtype=torch.float64)
        y = torch.arange(int(n)) % num_classes
        y = y[torch.randperm(int(n), generator=gen)]
        return Dataset(
            X.to(dtype=dtype, device=device),
            y.to(device),
            tuple(f"class {k}" for k in range(num_classes)),
            f"Gaussian noise images N(0, 1) of shape {tuple(shape)}, balanced random labels "
            f"(seed {seed})",
            key,
            split,
            torch.arange(int(n)),
        )
    if key in _EMBEDDED:
        arrays, source, _ = _load_embedded(key)
        classes = _EMBEDDED[key][1]
    else:
        arrays, source, _ = _load_real(key, root, download)
        classes = FASHION_CLASSES if key == "fashion-mnist" else CIFAR_CLASSES
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    _check_n(n, len(y), f"{source} {split}")
    idx = np.arange(len(y)) if n is None else balanced_indices(y, int(n), seed, len(classes))
    fashion = key.startswith("fashion")
    mean, std = (FASHION_MEAN, FASHION_STD) if fashion else (CIFAR_MEAN, CIFAR_STD)
    src = f"{source}, {split} split" + (f", balanced subset n={n} (seed {seed})" if n else "")
    return Dataset(
        _standardise(x[idx], mean, std, dtype, device),
        torch.from_numpy(y[idx].astype(np.int64)).to(device),
        classes,
        src,
        key,
        split,
        torch.from_numpy(idx.astype(np.int64)),
    )


def balanced_indices(labels: np.ndarray | torch.Tensor, n: int, seed: int,
                     num_classes: int | None = None) -> np.ndarray:
    """Indices of a class-balanced subset of size ``n`` (counts differ by at most one).

    Classes get ``n // K`` examples each; the remainder goes to randomly chosen classes.
    The order is sorted so that subsets are stable and comparable.
    """
    labels = np.asarray(labels)
    K = int(num_classes or labels.max() + 1)
    counts = np.full(K, n // K)
    rng = np.random.default_rng(seed)
    counts[rng.choice(K, n % K, replace=False)] += 1
    return _indices_with_counts(labels, counts, rng)


def _indices_with_counts(labels: np.ndarray, counts: np.ndarray,
                         rng: np.random.Generator) -> np.ndarray:
    picked = []
    for k, c in enumerate(counts):
        pool = np.flatnonzero(labels == k)
        if c > len(pool):
            raise ValueError(f"class {k} has {len(pool)} examples, {int(c)} requested")
        picked.append(rng.choice(pool, int(c), replace=False))
    return np.sort(np.concatenate(picked))


def balanced_subset(ds: Dataset, n: int, seed: int = 0) -> Dataset:
    """A class-balanced subset of ``ds`` of size ``n``, drawn with ``seed``."""
    _check_n(n, len(ds), ds.source)
    idx = balanced_indices(ds.y.cpu().numpy(), n, seed, ds.num_classes)
    return ds.subset(idx, f"balanced subset n={n} (seed {seed})")


def _counts_for_prior(prior: np.ndarray, n: int) -> np.ndarray:
    """Integer counts summing to ``n`` closest to ``n * prior`` (largest remainders)."""
    raw = prior * n
    counts = np.floor(raw).astype(int)
    rest = n - counts.sum()
    counts[np.argsort(-(raw - counts), kind="stable")[:rest]] += 1
    return counts


def prior_subset(ds: Dataset, prior: Sequence[float] | np.ndarray, n: int,
                 seed: int = 0) -> Dataset:
    """A subset of size ``n`` whose class frequencies follow ``prior`` (the paper's Q).

    Used for Figure 5: class imbalance injected by subsampling.
    """
    q = np.asarray(prior, dtype=float)
    if q.shape != (ds.num_classes,) or (q < 0).any() or not np.isclose(q.sum(), 1.0):
        raise ValueError(f"prior must be {ds.num_classes} non-negative numbers summing to 1")
    _check_n(n, len(ds), ds.source)
    counts = _counts_for_prior(q, n)
    rng = np.random.default_rng(seed)
    idx = _indices_with_counts(ds.y.cpu().numpy(), counts, rng)
    return ds.subset(idx, f"class prior subset n={n} (seed {seed})")


def class_prior(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Empirical class frequencies Q of labels ``y``."""
    return torch.bincount(y.cpu(), minlength=num_classes).double() / len(y)


def sample_simplex(num: int, K: int, seed: int = 0) -> np.ndarray:
    """``num`` points drawn uniformly from the probability simplex in R^K (Dirichlet(1))."""
    return np.random.default_rng(seed).dirichlet(np.ones(K), size=int(num))


def long_tail_prior(K: int, imbalance: float) -> np.ndarray:
    """Exponential long-tail class prior of Cui et al. (2019).

    Class ``k`` gets weight ``mu^k`` with ``mu = imbalance^(-1/(K-1))``, so the ratio of
    the most to the least frequent class is ``imbalance`` (>= 1); normalised to sum to 1.
    """
    if imbalance < 1:
        raise ValueError(f"imbalance ratio must be >= 1, got {imbalance}")
    w = imbalance ** (-np.arange(K) / max(K - 1, 1))
    return w / w.sum()
