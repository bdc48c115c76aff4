"""Claim results, figures and an on-disk cache, all written atomically.

Every chapter records the claims it tests with :func:`record_claim`; the book's
reproduction scorecard (:mod:`goldilocks_nb.scorecard`) is generated from those files and
never typed by hand. Expensive intermediate results go through :func:`cached`, keyed by a
hash of the parameters that produced them, so a re-executed book (after a crash or a text
edit) does not recompute finished work. Each cache entry carries the full key it was
computed for and a checksum of its payload; an entry that is unreadable, damaged or was
computed for another key is reported (:class:`CacheWarning`) and recomputed, never used.

The layout of a results folder (``figures/``, ``cache/``, ``claims/``) is owned by
:class:`ResultsDir`. Files are written through a temporary file and a rename, with the
permissions an ordinary ``open(path, "w")`` would give (``0o666`` less the umask).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import importlib
import io
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np

from .contract import CLAIM_ID, INCONCLUSIVE, VERDICTS

__all__ = [
    "VERDICTS",
    "CacheEntryError",
    "CacheWarning",
    "ClaimRecordError",
    "ResultsDir",
    "atomic_write_bytes",
    "atomic_write_text",
    "cached",
    "environment",
    "load_claims",
    "params_key",
    "tensor_digest",
    "read_entry",
    "record_claim",
    "remove_orphans",
    "save_figure",
    "saved_figure",
    "write_entry",
]

T = TypeVar("T")


# --------------------------------------------------------------------------- layout


@dataclasses.dataclass(frozen=True)
class ResultsDir:
    """The layout of one results folder: ``figures/``, ``cache/`` and ``claims/`` under ``root``.

    The one place that knows these names; :func:`record_claim`, :func:`load_claims` and
    :func:`goldilocks_nb.notebook.output_dirs` go through it.
    """

    root: Path

    SUBDIRS = ("figures", "cache", "claims")

    def __init__(self, root: str | os.PathLike) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def claims(self) -> Path:
        return self.root / "claims"

    def claim(self, claim_id: str) -> Path:
        """The record file of one claim, e.g. ``claims/C7.json``."""
        return self.claims / f"{claim_id.upper()}.json"

    def claim_files(self) -> list[Path]:
        """The claim records present (papers' ``C<n>`` and the book's own ``B<n>``), sorted
        by file name."""
        return sorted(p for p in self.claims.glob("*.json") if CLAIM_ID.match(p.stem))

    def create(self) -> ResultsDir:
        """Create the root and its sub-folders (no error if they exist); returns ``self``."""
        for sub in self.SUBDIRS:
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        return self

    def as_dict(self) -> dict[str, Path]:
        """``{"root": ..., "figures": ..., "cache": ..., "claims": ...}``."""
        return {"root": self.root, **{sub: self.root / sub for sub in self.SUBDIRS}}


# --------------------------------------------------------------------------- atomic writes


def _umask() -> int:
    """The process umask, read without changing it where the system allows."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # no /proc: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def _lock(fd: int) -> None:
    """Hold an exclusive advisory lock on ``fd`` while it is written (where the system has
    ``fcntl``): :func:`remove_orphans` never removes a temporary file that a live process
    holds, and the lock goes with the process when it is killed."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    with contextlib.suppress(OSError):  # a file system without locks: the age test remains
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


@contextlib.contextmanager
def _atomic_file(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """A binary file object whose content replaces ``path`` only when the block succeeds.

    The data goes to a temporary file ``.<name>.<random>.tmp`` beside ``path`` that is
    renamed over it at the end (readers see the old file or the new one, never half of
    one); the temporary file is locked (:func:`_lock`) until it has been renamed. The new
    file gets the mode of a freshly created ordinary file (``0o666`` less the umask), not
    the ``0600`` of :func:`tempfile.mkstemp`. A process killed with ``kill -9`` can leave
    the temporary file behind: :func:`remove_orphans` removes it on the next run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        _lock(fd)
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.replace(tmp, path)  # still open, so still locked, until renamed
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_orphans(folder: str | os.PathLike, pattern: str = ".*.tmp", *,
                   min_age: float = 2.0) -> list[Path]:
    """Remove the temporary files that killed writers left in ``folder``; return them.

    A temporary file of :func:`_atomic_file` (``.<name>.<random>.tmp``) is an orphan when
    no process holds its lock and it was last written at least ``min_age`` seconds ago
    (the lock is taken right after the file is created; the age covers that instant).
    Files of live writers, other files and missing folders are left alone.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: age alone, a generous one
        fcntl, min_age = None, max(min_age, 3600.0)
    now = time.time()
    for tmp in sorted(folder.glob(pattern)):
        try:
            with open(tmp, "rb") as fh:
                if now - os.fstat(fh.fileno()).st_mtime < min_age:
                    continue
                if fcntl is not None:
                    try:
                        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError as exc:
                        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                            continue  # a live writer holds it
                        if now - os.fstat(fh.fileno()).st_mtime < 3600.0:
                            continue  # no locks on this file system: age alone, a long one
                tmp.unlink()
                removed.append(tmp)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            continue
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename (never half-written)."""
    with _atomic_file(path) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _jsonable(value: Any) -> Any:
    """Plain JSON types for numbers, tensors, arrays, tuples, paths, dtypes."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _key_text(name: str, params: Mapping[str, Any], version: str) -> str:
    return json.dumps({"name": name, "params": _jsonable(params), "version": version},
                      sort_keys=True)


def tensor_digest(*tensors: Any) -> str:
    """sha256 of tensors or arrays: dtype, shape and bytes of each, in order (the one digest
    behind the training store's keys)."""
    h = hashlib.sha256()
    for t in tensors:
        arr = np.ascontiguousarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t)
        h.update(str((arr.dtype.str, arr.shape)).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def params_key(params: Mapping[str, Any], version: str = "1") -> str:
    """A short stable hash of ``params`` (and a code ``version``) for cache file names."""
    blob = json.dumps({"params": _jsonable(params), "version": version}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- cache entries
#
# An entry is an uncompressed .npz (a zip of .npy files, read with allow_pickle=False):
#   __meta__  JSON {"format", "key", "sha256"}: the key the value was computed for and the
#             checksum of the payload;
#   __tree__  JSON of the value, in which arrays, tensors, numpy scalars, tuples, dicts with
#             non-string keys and dataclasses of this package are tagged objects
#             {"__t__": kind, ...} pointing at the members a0, a1, ...;
#   a<i>      the arrays.
# No pickle anywhere: loading a cache folder someone else wrote cannot run code.

CACHE_FORMAT = "goldilocks-cache/1"
#: Format of claim records (``claims/<id>.json``): a JSON object with a ``sha256`` field.
CLAIM_FORMAT = "goldilocks-claim/1"
_TAG = "__t__"
_SCALARS = (bool, int, float, str, type(None))


class CacheWarning(UserWarning):
    """A cache entry was unreadable, damaged or computed for another key (and recomputed)."""


class _Unstorable(TypeError):
    pass


def _encode(value: Any, arrays: list[np.ndarray], where: str) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list:
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
    if kind is tuple:
        return {_TAG: "tuple", "items": [_encode(v, arrays, f"{where}[{i}]")
                                         for i, v in enumerate(value)]}
    if kind is dict:
        if all(type(k) is str for k in value) and _TAG not in value:
            return {k: _encode(v, arrays, f"{where}[{k!r}]") for k, v in value.items()}
        return {_TAG: "dict", "items": [[_encode(k, arrays, f"{where} key {k!r}"),
                                         _encode(v, arrays, f"{where}[{k!r}]")]
                                        for k, v in value.items()]}
    if isinstance(value, np.ndarray) and kind is np.ndarray:
        if value.dtype.hasobject:
            raise _Unstorable(f"{where}: numpy array of dtype object")
        arrays.append(value)
        return {_TAG: "ndarray", "index": len(arrays) - 1}
    if isinstance(value, np.generic):
        if value.dtype.hasobject:
            raise _Unstorable(f"{where}: numpy object scalar")
        arrays.append(np.asarray(value))
        return {_TAG: "npscalar", "index": len(arrays) - 1}
    torch = _torch_if_loaded()
    if torch is not None and isinstance(value, torch.Tensor):
        return _encode_tensor(torch, value, arrays, where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        module = kind.__module__
        if not module.startswith("goldilocks_nb."):
            raise _Unstorable(f"{where}: dataclass {module}.{kind.__qualname__} (only "
                              "dataclasses of goldilocks_nb are restored)")
        fields = {f.name: _encode(getattr(value, f.name), arrays, f"{where}.{f.name}")
                  for f in dataclasses.fields(value)}
        return {_TAG: "dataclass", "class": f"{module}:{kind.__qualname__}", "fields": fields}
    raise _Unstorable(f"{where}: {kind.__module__}.{kind.__qualname__}")


def _torch_if_loaded() -> Any:
    """torch if it is imported (a value can only hold tensors then); None otherwise."""
    return sys.modules.get("torch")


def _encode_tensor(torch: Any, t: Any, arrays: list[np.ndarray], where: str) -> Any:
    if t.layout != torch.strided or t.is_quantized:
        raise _Unstorable(f"{where}: tensor with layout {t.layout}")
    data = t.detach().cpu().contiguous()
    try:
        arr = data.numpy()
        view = None
    except TypeError:  # no numpy dtype (bfloat16, float8...): store the bits
        view = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[data.element_size()]
        arr = data.view(view).numpy()
    arrays.append(arr)
    return {_TAG: "tensor", "index": len(arrays) - 1, "dtype": str(t.dtype).removeprefix("torch."),
            "bits": view is not None, "device": str(t.device), "requires_grad": t.requires_grad,
            "parameter": isinstance(t, torch.nn.Parameter)}


def _decode(node: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if not isinstance(node, dict):
        return node
    tag = node.get(_TAG)
    if tag is None:
        return {k: _decode(v, arrays) for k, v in node.items()}
    if tag == "tuple":
        return tuple(_decode(v, arrays) for v in node["items"])
    if tag == "dict":
        return {_decode(k, arrays): _decode(v, arrays) for k, v in node["items"]}
    if tag == "ndarray":
        return arrays[f"a{node['index']}"]
    if tag == "npscalar":
        return arrays[f"a{node['index']}"][()]
    if tag == "tensor":
        return _decode_tensor(node, arrays[f"a{node['index']}"])
    if tag == "dataclass":
        module, qualname = node["class"].split(":")
        if not module.startswith("goldilocks_nb."):
            raise ValueError(f"refusing to restore class {node['class']} from a cache entry")
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        obj = cls.__new__(cls)
        for name, v in node["fields"].items():
            object.__setattr__(obj, name, _decode(v, arrays))
        return obj
    raise ValueError(f"unknown tag {tag!r} in cache entry")


def _decode_tensor(node: Mapping[str, Any], arr: np.ndarray) -> Any:
    import torch

    t = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    if node["bits"]:
        t = t.view(getattr(torch, node["dtype"]))
    if node["device"] != "cpu":
        with contextlib.suppress(Exception):  # device not present here: stay on the CPU
            t = t.to(node["device"])
    if node["parameter"]:
        return torch.nn.Parameter(t, requires_grad=node["requires_grad"])
    return t.requires_grad_(node["requires_grad"]) if t.is_floating_point() or t.is_complex() else t


def _checksum(tree: bytes, arrays: list[np.ndarray] | Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256(tree)
    items = arrays.values() if isinstance(arrays, Mapping) else arrays
    for a in items:
        h.update(f"|{a.dtype.str}{a.shape}|".encode())
        h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8).data)
    return h.hexdigest()


def _json_array(obj: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(obj, sort_keys=False).encode(), dtype=np.uint8)


def write_entry(path: str | os.PathLike, key: str, value: Any) -> Path:
    """Store ``value`` for ``key`` (a string) at ``path``, atomically, with its checksum.

    Raises:
        TypeError: ``value`` holds something the format cannot store (the message says
            where): supported are None, bool, int, float, str, lists, tuples, dicts,
            numpy arrays and scalars (not of dtype object), strided torch tensors and
            dataclasses defined in ``goldilocks_nb``.
    """
    arrays: list[np.ndarray] = []
    try:
        tree = _encode(value, arrays, "value")
    except _Unstorable as exc:
        raise TypeError(f"cannot cache {Path(path).name}: unsupported type at {exc}") from None
    tree_bytes = json.dumps(tree).encode()
    meta = {"format": CACHE_FORMAT, "key": key, "sha256": _checksum(tree_bytes, arrays)}
    members = {"__meta__": _json_array(meta),
               "__tree__": np.frombuffer(tree_bytes, dtype=np.uint8),
               **{f"a{i}": a for i, a in enumerate(arrays)}}
    with _atomic_file(path) as f:
        np.savez(f, **members)
    return Path(path)


class CacheEntryError(ValueError):
    """A cache entry that must not be used: unreadable, damaged, or for another key."""


def read_entry(path: str | os.PathLike, key: str) -> Any:
    """The value stored at ``path`` if it was written for ``key`` and passes its checksum.

    Raises:
        FileNotFoundError: no entry.
        CacheEntryError: the entry is unreadable or damaged, fails its checksum, or was
            computed for another key (the message says which).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            members = {k: f[k] for k in f.files}
        meta = json.loads(members.pop("__meta__").tobytes())
        tree_bytes = members.pop("__tree__").tobytes()
        if not isinstance(meta, dict):
            raise ValueError("__meta__ is not a JSON object")
    except Exception as exc:  # noqa: BLE001 - any failure to read means "damaged"
        size = path.stat().st_size
        raise CacheEntryError(f"is unreadable ({type(exc).__name__}: {exc}; {size} bytes): "
                              "damaged, truncated, emptied or not a cache entry") from None
    if meta.get("format") != CACHE_FORMAT:
        raise CacheEntryError(f"has format {meta.get('format')!r}, expected {CACHE_FORMAT!r}")
    if meta.get("key") != key:
        raise CacheEntryError(f"was computed for another key (stored {_short(meta.get('key'))}"
                              f", wanted {_short(key)})")
    ordered = {f"a{i}": members[f"a{i}"] for i in range(len(members)) if f"a{i}" in members}
    if len(ordered) != len(members) or _checksum(tree_bytes, ordered) != meta.get("sha256"):
        raise CacheEntryError("fails its checksum (the payload was changed or damaged)")
    try:
        return _decode(json.loads(tree_bytes), ordered)
    except Exception as exc:  # noqa: BLE001
        raise CacheEntryError(f"cannot be decoded ({type(exc).__name__}: {exc})") from None


def _short(text: Any, limit: int = 300) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def cached(
    name: str,
    params: Mapping[str, Any],
    compute: Callable[[], T],
    *,
    cache_dir: str | os.PathLike,
    version: str = "1",
) -> T:
    """Return ``compute()``, stored in ``cache_dir/name-<hash(params, version)>.npz``.

    A later call with the same ``name``, ``params`` and ``version`` reads the file instead
    of computing. Bump ``version`` when the code that computes the value changes meaning.
    The entry records the full key and a checksum of its payload; an entry that cannot be
    read, fails the checksum or was computed for another key (a file copied over another)
    is reported once with a :class:`CacheWarning` naming the file, recomputed and replaced.
    The value read back equals the one computed, with the same types: None, bool, int,
    float (NaN and inf included), str, lists, tuples, dicts (any of these as keys), numpy
    arrays and scalars (not of dtype object), strided torch tensors (dtype, requires_grad
    and, where present, device kept) and dataclasses defined in ``goldilocks_nb``.

    Raises:
        TypeError: ``compute()`` returned something else (the message says where in the
            value); nothing is written then.
    """
    path = Path(cache_dir) / f"{name}-{params_key(params, version)}.npz"
    key = _key_text(name, params, version)
    try:
        return read_entry(path, key)
    except FileNotFoundError:
        pass
    except CacheEntryError as exc:
        warnings.warn(f"cache entry {path} {exc}; recomputing it", CacheWarning, stacklevel=2)
    value = compute()
    write_entry(path, key, value)
    return value


def environment() -> dict[str, str]:
    """Versions and machine facts recorded beside every result."""
    import numpy
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "machine": platform.machine(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }


def record_claim(
    claim: str,
    *,
    measured: str,
    verdict: str,
    evidence: str,
    parameters: Mapping[str, Any],
    profile: str,
    data_source: str,
    why: str = "",
    results_dir: str | os.PathLike,
    values: Mapping[str, Any] | None = None,
    quote: str = "",
    definition: str = "",
    needed: str = "",
) -> Path:
    """Write the result of testing one claim to ``results_dir/claims/<claim>.json``.

    Args:
        claim: claim id as in CLAIMS.md, e.g. ``"C1"`` (``"B1"``: the book's own finding).
        measured: the measured value(s) in words and numbers, as the scorecard shows them.
        verdict: one of :data:`goldilocks_nb.contract.VERDICTS`.
        evidence: the figure or number that tests the claim (e.g. ``"Figure 1 (left)"``).
        parameters: the notebook parameters that produced it.
        profile: the parameter profile (``smoke``, ``default``, ``paper`` or ``custom``).
        data_source: the data's ``source`` string(s).
        why: the reason behind a verdict other than "reproduced" (required then).
        values: raw numbers for readers who want them (optional).
        quote: the paper's sentence the verdict tests, with its place.
        definition: the check's operational definition, thresholds included.
        needed: for an inconclusive verdict (required there), the scale that would decide
            the claim and its cost.
    """
    claim = claim.upper()
    if not CLAIM_ID.match(claim):
        raise ValueError(f"claim id must look like 'C7' or 'B1', got {claim!r}")
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    if verdict != "reproduced" and not why:
        raise ValueError(f"verdict {verdict!r} for {claim} needs a reason (why=...)")
    if verdict == INCONCLUSIVE and not needed:
        raise ValueError(f"verdict {verdict!r} for {claim} needs the scale that would decide "
                         "it (needed=...)")
    record = {
        "claim": claim,
        "measured": measured,
        "verdict": verdict,
        "why": why,
        "quote": quote,
        "definition": definition,
        "needed": needed,
        "evidence": evidence,
        "parameters": _jsonable(parameters),
        "profile": profile,
        "data_source": data_source,
        "values": _jsonable(values or {}),
        "environment": environment(),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "format": CLAIM_FORMAT,
    }
    record["sha256"] = _claim_checksum(record)
    path = ResultsDir(results_dir).claim(claim)
    return atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def _claim_checksum(record: Mapping[str, Any]) -> str:
    """sha256 of a claim record's canonical JSON, without its own ``sha256`` field."""
    body = {k: v for k, v in record.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


class ClaimRecordError(ValueError):
    """A claim record that is damaged, fails its checksum or belongs to another claim."""


def _check_claim(path: Path) -> dict[str, Any]:
    """The record at ``path`` if it parses, is a claim record of this format, passes its
    checksum and names the claim its file is named after.

    Raises:
        ClaimRecordError: what is wrong (the caller adds the path and the remedy).
    """
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ClaimRecordError(f"is not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(record, dict) or "claim" not in record:
        raise ClaimRecordError("is not a claim record (no 'claim' field)")
    if record.get("format") != CLAIM_FORMAT or "sha256" not in record:
        raise ClaimRecordError(f"has format {record.get('format')!r}, expected "
                               f"{CLAIM_FORMAT!r} (written by an older version, or edited)")
    if record.get("sha256") != _claim_checksum(record):
        raise ClaimRecordError("fails its checksum (the file was changed or damaged)")
    if str(record["claim"]) != path.stem:
        raise ClaimRecordError(f"holds claim {record['claim']!r}, not {path.stem!r} "
                               "(a file copied over another)")
    return record


def load_claims(results_dir: str | os.PathLike,
                chapters: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """All claim records under ``results_dir/claims``, by claim id, each verified.

    Every record carries its claim id, its format and a sha256 of its content
    (:func:`record_claim`); a record that does not parse, fails the checksum or holds
    another claim than its file name says is never used.

    Args:
        results_dir: the results folder.
        chapters: claim id -> the chapter that writes it (``book/claims.yml``), named in
            the error so the reader knows what to rerun.

    Raises:
        ClaimRecordError: (a ``ValueError``) naming the damaged file, what is wrong and
            the chapter to rerun.
    """
    out = {}
    for path in ResultsDir(results_dir).claim_files():
        try:
            record = _check_claim(path)
        except ClaimRecordError as exc:
            chapter = (chapters or {}).get(path.stem)
            rerun = (f"rerun chapter {chapter}" if chapter else
                     f"rerun the chapter that tests {path.stem} (book/claims.yml names it)")
            raise ClaimRecordError(f"claim record {path} is damaged: it {exc}; delete it and "
                                   f"{rerun}") from None
        out[record["claim"]] = record
    return out


def save_figure(fig: Any, name: str, fig_dir: str | os.PathLike) -> list[Path]:
    """Save a matplotlib figure as ``fig_dir/name.png`` and ``.pdf`` (byte-stable metadata)."""
    folder = Path(fig_dir)
    png, pdf = folder / f"{name}.png", folder / f"{name}.pdf"
    for path, kwargs in ((png, {"dpi": 150, "metadata": {"Software": None}}),
                         (pdf, {"metadata": {"CreationDate": None, "Producer": None}})):
        buf = io.BytesIO()
        fig.savefig(buf, format=path.suffix[1:], bbox_inches="tight", **kwargs)
        atomic_write_bytes(path, buf.getvalue())
    return [png, pdf]


def saved_figure(fig: Any, name: str, fig_dir: str | os.PathLike) -> Any:
    """:func:`save_figure`, then ``fig`` itself: what a chapter's ``plot_*`` function returns
    (the notebook shows the figure that was saved)."""
    save_figure(fig, name, fig_dir)
    return fig
