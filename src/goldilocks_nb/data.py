"""Real datasets (Fashion-MNIST, CIFAR-10), the paper's Gaussian "random dataset", subsets.

Where data is looked for, in this order (the first that has the files wins):

1. the ``root=`` argument (only there: an explicit root never falls back elsewhere);
2. the folder named by the environment variable ``GOLDILOCKS_DATA``;
3. the git-ignored cache ``data/cache`` of this repository (or ``GOLDILOCKS_CACHE``);
4. for Fashion-MNIST, Debian's ``/usr/share/datasets/fashion-mnist``;
5. a torchvision download into the cache, when there is network.

Otherwise :class:`DataNotFoundError` names every file it looked for and how to get them.
A file that is found but damaged (truncated, not a gzip/tar archive, an IDX file whose size
does not match its header, an image that does not decode) raises
:class:`DamagedDataError` naming the file, what is wrong and where to get a good copy; the
decoded-data cache is left untouched then.
Accepted layouts in a root: torchvision's (``FashionMNIST/raw/*-ubyte[.gz]``,
``cifar-10-batches-py/``, ``cifar-10-python.tar.gz``), the four Fashion-MNIST IDX ``.gz``
files in ``root/`` or ``root/fashion-mnist/``, and for CIFAR-10 an ImageFolder tree
(``train/<class>/*.jpg``, ``test/<class>/*.jpg``) as a folder ``cifar10``/``cifar10-jpeg``
or a ``cifar10-jpeg.tar.gz``/``cifar10.tar.gz`` of it. When one root holds both, CIFAR-10's
python batches win over the JPEG copy (folder, then ``.tar.gz``, then the ImageFolder folder,
then its archive): the batches are the exact pixels the paper's code reads through
torchvision, the JPEG copy is a lossy re-encoding; ``Dataset.source`` says which was read.
The batches are pickles: they are read by a restricted unpickler that admits only what
those files hold (numpy arrays and the helpers that rebuild them, dicts, lists, bytes, str,
int) and refuses anything else with :class:`DamagedDataError` naming the file, before any
of it runs. Sources are decoded once into an
uncompressed ``.npz`` in the cache (``decoded/``), keyed by the sha256 of the source
files and written through :func:`goldilocks_nb.results.cached`: an entry that is truncated,
zeroed or otherwise damaged is reported with a warning naming it and decoded again.

Images are standardised as in the paper's code: Fashion-MNIST with mean 0.2860 and std
0.3530; CIFAR-10 per channel with mean (0.4914, 0.4822, 0.4465) and std
(0.2470, 0.2435, 0.2616).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import pickle
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .results import cached

__all__ = [
    "DATA_ENV",
    "CACHE_ENV",
    "DATASETS",
    "DamagedDataError",
    "DataError",
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


FASHION_REMEDY = (
    "replace it with a good copy of the original file (https://github.com/zalandoresearch/"
    "fashion-mnist, folder data/fashion/, or `apt-get install dataset-fashion-mnist`, which "
    "puts them in /usr/share/datasets/fashion-mnist), or remove the damaged copy so that the "
    "loader looks in the next place"
)
CIFAR_REMEDY = (
    "download CIFAR-10 again: the canonical cifar-10-python.tar.gz from "
    "https://www.cs.toronto.edu/~kriz/cifar-10.html (torchvision fetches it when there is "
    "network), or restore the JPEG copy (cifar10-jpeg.tar.gz, ImageFolder layout "
    "train/<class>/*.jpg, test/<class>/*.jpg) from where you got it"
)


class DataError(Exception):
    """A dataset cannot be loaded: its files are missing or damaged."""


class DataNotFoundError(DataError, FileNotFoundError):
    """The requested dataset's files are in none of the places searched."""


class DamagedDataError(DataError):
    """A dataset file was found but cannot be read (the message names it and the remedy)."""

    def __init__(self, path: str | os.PathLike, problem: str, remedy: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path} {problem}. Remedy: {remedy}.")


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


def _sha256(paths: Sequence[Path], base: Path | None = None) -> str:
    """sha256 of the files' contents (and their paths relative to ``base``, when given)."""
    h = hashlib.sha256()
    for p in paths:
        if base is not None:
            h.update(f"{p.relative_to(base).as_posix()}\0".encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def _read_gzip(path: Path, remedy: str) -> bytes:
    """The decompressed content of ``path``, or :class:`DamagedDataError` saying why not."""
    size = path.stat().st_size
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except gzip.BadGzipFile as exc:
        problem = f"is not a gzip file ({exc}; {size} bytes)"
    except EOFError:
        problem = (f"is truncated: its gzip stream ends before the end-of-stream marker "
                   f"({size} bytes on disk)")
    except (zlib.error, OSError) as exc:
        problem = f"is a damaged gzip file ({type(exc).__name__}: {exc}; {size} bytes)"
    raise DamagedDataError(path, problem, remedy)


def _read_idx(path: Path, remedy: str = FASHION_REMEDY) -> np.ndarray:
    """An IDX file of unsigned bytes (plain or .gz), checked against its own header."""
    data = _read_gzip(path, remedy) if path.suffix == ".gz" else path.read_bytes()
    if len(data) < 4 or data[:2] != b"\0\0" or data[3] == 0:
        start = data[:4].hex() or "nothing"
        raise DamagedDataError(path, f"is not an IDX file (it starts with {start}, expected "
                               "0000080n)", remedy)
    if data[2] != 0x08:
        raise DamagedDataError(path, f"is an IDX file of type 0x{data[2]:02x}, expected unsigned "
                               "bytes (0x08)", remedy)
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DamagedDataError(path, f"is truncated: {len(data)} bytes, shorter than its "
                               f"{header}-byte header", remedy)
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected, actual = math.prod(shape), len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "too long"
        raise DamagedDataError(path, f"has the wrong size for its header ({what}): the header "
                               f"says shape {shape}, i.e. {expected} bytes of data, the file "
                               f"holds {actual}", remedy)
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _decode_fashion(files: dict[str, Path]) -> dict[str, np.ndarray]:
    out = {}
    for split, (img, lab) in _FASHION_FILES.items():
        x, y = _read_idx(files[img]), _read_idx(files[lab])
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DamagedDataError(files[img], f"holds images of shape {x.shape[1:]}, expected "
                                   "28 x 28 (is it a Fashion-MNIST image file?)", FASHION_REMEDY)
        if y.ndim != 1 or len(y) != len(x) or (len(y) and y.max() > 9):
            raise DamagedDataError(files[lab], f"holds labels of shape {y.shape} (max "
                                   f"{y.max() if y.size else '-'}) that do not fit the "
                                   f"{len(x)} images of {files[img].name}", FASHION_REMEDY)
        out[f"x_{split}"] = x[:, None, :, :]
        out[f"y_{split}"] = y.astype(np.int64)
    return out


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of ``bytes`` use it: latin-1 only."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


#: What a CIFAR-10 python batch may reference, by ``(module, name)``: numpy arrays, their
#: dtypes and numpy scalars with the helpers that rebuild them (the module moved from
#: ``numpy.core`` to ``numpy._core`` in NumPy 2), and ``_codecs.encode`` (restricted to
#: latin-1) by which protocol-2 pickles written by Python 3 store ``bytes``. Dicts, lists,
#: bytes, str and int need no global.
_BATCH_GLOBALS: dict[tuple[str, str], Any] = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _BATCH_GLOBALS[(_mod, "_reconstruct")] = np.ndarray.__reduce__(np.zeros(1))[0]
    _BATCH_GLOBALS[(_mod, "scalar")] = np.uint8(0).__reduce__()[0]
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    _BATCH_GLOBALS[(_mod, "_frombuffer")] = np.zeros(1).__reduce_ex__(5)[0]
_BATCH_GLOBALS[("numpy", "ndarray")] = np.ndarray
_BATCH_GLOBALS[("numpy", "dtype")] = np.dtype
_BATCH_GLOBALS[("_codecs", "encode")] = _latin1_encode
del _mod


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler of CIFAR-10 python batches that resolves no global outside
    :data:`_BATCH_GLOBALS` (so a crafted file cannot run code: every other class or
    function, e.g. ``os.system`` in a ``__reduce__``, is refused before it is called)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _BATCH_GLOBALS[(module, name)]
        except KeyError:
            raise _ForbiddenGlobal(f"{module}.{name}") from None


class _ForbiddenGlobal(pickle.UnpicklingError):
    pass


def _load_batch(data: bytes, where: str) -> Any:
    """A CIFAR-10 python batch through :class:`_BatchUnpickler`; refusals name ``where``."""
    try:
        return _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except _ForbiddenGlobal as exc:
        raise DamagedDataError(
            where, f"is refused: it references {exc}, which a CIFAR-10 batch never holds "
            "(only numpy arrays, lists, dicts, bytes, str and int); it was not loaded and "
            "nothing in it was run (a damaged or tampered file)", CIFAR_REMEDY) from None


def _cifar_from_batches(batches: dict[str, bytes], where: Path) -> dict[str, np.ndarray]:
    """Decode the six python batches; ``where`` (folder or archive) names them in errors."""

    def unpack(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for n in names:
            if n not in batches:
                raise DamagedDataError(where, f"has no batch {n!r} (found: "
                                       f"{', '.join(sorted(batches)) or 'none'})", CIFAR_REMEDY)
            try:
                d = _load_batch(batches[n], f"{where} (batch {n})")
                x = np.asarray(d[b"data"], dtype=np.uint8)
                y = np.asarray(d[b"labels"], dtype=np.int64)
            except DamagedDataError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: the batch is damaged
                raise DamagedDataError(f"{where} (batch {n})", f"is not a readable CIFAR-10 "
                                       f"batch ({type(exc).__name__}: {exc})",
                                       CIFAR_REMEDY) from None
            if x.ndim != 2 or x.shape[1] != 3072 or len(y) != len(x):
                raise DamagedDataError(f"{where} (batch {n})", f"holds data of shape {x.shape} "
                                       f"and {len(y)} labels, expected (n, 3072) and n labels",
                                       CIFAR_REMEDY)
            xs.append(x.reshape(-1, 3, 32, 32))
            ys.append(y)
        return np.concatenate(xs), np.concatenate(ys)

    x_tr, y_tr = unpack([f"data_batch_{i}" for i in range(1, 6)])
    x_te, y_te = unpack(["test_batch"])
    return {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}


def _decode_image(data: bytes, where: str) -> np.ndarray:
    """A 32 x 32 RGB image as ``(3, 32, 32)`` uint8; ``where`` names it in errors."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)
    except Exception as exc:  # noqa: BLE001 - PIL raises several kinds for bad images
        raise DamagedDataError(where, f"is not a readable image ({type(exc).__name__}: {exc}; "
                               f"{len(data)} bytes)", CIFAR_REMEDY) from None
    if arr.shape != (3, 32, 32):
        raise DamagedDataError(where, f"is a {arr.shape[2]} x {arr.shape[1]} image, CIFAR-10 "
                               "images are 32 x 32", CIFAR_REMEDY)
    return arr


def _cifar_from_imagefolder(members: dict[str, bytes], where: Path) -> dict[str, np.ndarray]:
    """``members`` maps 'split/class/file' to bytes; files sorted for a fixed order."""
    out = {}
    for split in SPLITS:
        keys = sorted(
            k for k in members if k.split("/")[0] == split and k.split("/")[1] in CIFAR_CLASSES
        )
        if not keys:
            raise DataNotFoundError(f"CIFAR-10 ImageFolder copy {where} has no "
                                    f"'{split}/<class>/' images")
        out[f"x_{split}"] = np.stack([_decode_image(members[k], f"{where} ({k})") for k in keys])
        out[f"y_{split}"] = np.array([CIFAR_CLASSES.index(k.split("/")[1]) for k in keys])
    return out


def _archive_problem(path: Path, exc: BaseException) -> str:
    """What is wrong with a .tar(.gz) that ``tarfile`` failed on, in words."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(512)
    if size == 0:
        return "is empty (0 bytes)"
    detail = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    if head[:2] == b"\x1f\x8b":
        if isinstance(exc, EOFError) or "unexpected end" in str(exc) or "ended before" in str(exc):
            return f"is truncated: its gzip stream ends early ({size} bytes on disk; {detail})"
        return f"is a damaged gzip/tar archive ({size} bytes; {detail})"
    if head[257:262] == b"ustar":
        return f"is a damaged or truncated tar archive ({size} bytes; {detail})"
    return f"is not a gzip or tar archive (it starts with bytes {head[:8].hex()}; {size} bytes)"


def _read_tar(path: Path, want) -> dict[str, bytes]:
    """``{member name: bytes}`` of the regular files whose name satisfies ``want``."""
    try:
        with tarfile.open(path) as tar:
            return {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                    for m in tar.getmembers() if m.isfile() and want(m.name)}
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DamagedDataError(path, _archive_problem(path, exc), CIFAR_REMEDY) from None


def _is_image_member(name: str) -> bool:
    return len(Path(name).parts) >= 3 and Path(name).suffix.lower() in (".jpg", ".jpeg", ".png")


def _decode_cifar(fmt: str, path: Path) -> dict[str, np.ndarray]:
    if fmt == "pickle-dir":
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        batches = {n: (path / n).read_bytes() for n in names if (path / n).exists()}
        return _cifar_from_batches(batches, path)
    if fmt == "pickle-tar":
        found = _read_tar(path, lambda name: "_batch" in name)
        return _cifar_from_batches({Path(k).name: v for k, v in found.items()}, path)
    if fmt == "imagefolder-dir":
        members = {
            p.relative_to(path).as_posix(): p.read_bytes()
            for p in path.glob("*/*/*")
            if p.suffix.lower() in (".jpg", ".jpeg", ".png")
        }
        return _cifar_from_imagefolder(members, path)
    found = _read_tar(path, _is_image_member)  # imagefolder-tar
    members = {"/".join(Path(k).parts[-3:]): v for k, v in found.items()}
    return _cifar_from_imagefolder(members, path)


DECODE_VERSION = "2"


def _cached_decode(key: str, sources: Sequence[Path], decode, base: Path | None = None
                   ) -> dict[str, np.ndarray]:
    """Decode ``sources`` once; later calls read ``cache/decoded/<key>-<hash>.npz``.

    The entry is keyed by the sha256 of the sources (contents, and paths relative to
    ``base`` where names carry labels); a damaged entry is reported and decoded again.
    """
    params = {"sources_sha256": _sha256(sources, base), "files": len(sources)}
    return cached(key, params, decode, cache_dir=cache_dir() / "decoded", version=DECODE_VERSION)


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
                    arrays = _cached_decode("cifar10", srcs, partial(_decode_cifar, fmt, path),
                                            path if fmt == "imagefolder-dir" else None)
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


def _check_integer(name: str, value: object, minimum: int) -> int:
    """``value`` as an int; floats (even 2.0), bools and strings are refused, never rounded."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r} "
                         f"({type(value).__name__}); seeds and counts are never rounded")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_seed(seed: object) -> int:
    return _check_integer("seed", seed, 0)


def _check_n(n: int | None, available: int, what: str) -> None:
    if n is None:
        return
    _check_integer("subset size n (a positive integer)", n, 1)
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
        ValueError: unknown dataset or split, ``n`` or ``seed`` not an integer (a float
            such as ``0.5`` or ``2.0`` is refused, not rounded) or out of range.
        DataNotFoundError: the files are missing (the message says where it looked).
        DamagedDataError: a file is damaged (the message names it and the remedy).
    """
    seed = _check_seed(seed)
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
    n, seed = _check_integer("n", n, 0), _check_seed(seed)
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
    _check_seed(seed)
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
    _check_seed(seed)
    counts = _counts_for_prior(q, n)
    rng = np.random.default_rng(seed)
    idx = _indices_with_counts(ds.y.cpu().numpy(), counts, rng)
    return ds.subset(idx, f"class prior subset n={n} (seed {seed})")


def class_prior(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Empirical class frequencies Q of labels ``y``."""
    return torch.bincount(y.cpu(), minlength=num_classes).double() / len(y)


def sample_simplex(num: int, K: int, seed: int = 0) -> np.ndarray:
    """``num`` points drawn uniformly from the probability simplex in R^K (Dirichlet(1))."""
    num, K = _check_integer("num", num, 0), _check_integer("K", K, 1)
    return np.random.default_rng(_check_seed(seed)).dirichlet(np.ones(K), size=num)


def long_tail_prior(K: int, imbalance: float) -> np.ndarray:
    """Exponential long-tail class prior of Cui et al. (2019).

    Class ``k`` gets weight ``mu^k`` with ``mu = imbalance^(-1/(K-1))``, so the ratio of
    the most to the least frequent class is ``imbalance`` (>= 1); normalised to sum to 1.
    """
    if imbalance < 1:
        raise ValueError(f"imbalance ratio must be >= 1, got {imbalance}")
    w = imbalance ** (-np.arange(K) / max(K - 1, 1))
    return w / w.sum()
