"""Claim results, figures and an on-disk cache, all written atomically.

Every chapter records the claims it tests with :func:`record_claim`; the book's
reproduction scorecard (:mod:`goldilocks_nb.scorecard`) is generated from those files and
never typed by hand. Expensive intermediate results go through :func:`cached`, keyed by a
hash of the parameters that produced them, so a re-executed book (after a crash or a text
edit) does not recompute finished work.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "VERDICTS",
    "atomic_write_bytes",
    "atomic_write_text",
    "cached",
    "environment",
    "load_claims",
    "params_key",
    "record_claim",
    "save_figure",
]

VERDICTS = ("reproduced", "partly", "not reproduced")
T = TypeVar("T")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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


def params_key(params: Mapping[str, Any], version: str = "1") -> str:
    """A short stable hash of ``params`` (and a code ``version``) for cache file names."""
    blob = json.dumps({"params": _jsonable(params), "version": version}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached(
    name: str,
    params: Mapping[str, Any],
    compute: Callable[[], T],
    *,
    cache_dir: str | os.PathLike,
    version: str = "1",
) -> T:
    """Return ``compute()``, stored in ``cache_dir/name-<hash(params, version)>.pkl``.

    A later call with the same ``params`` and ``version`` reads the file instead of
    computing. Bump ``version`` when the code that computes the value changes meaning.
    """
    path = Path(cache_dir) / f"{name}-{params_key(params, version)}.pkl"
    if path.exists():
        with open(path, "rb") as f:
            return pickle.load(f)
    value = compute()
    atomic_write_bytes(path, pickle.dumps(value))
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
) -> Path:
    """Write the result of testing one claim to ``results_dir/claims/<claim>.json``.

    Args:
        claim: claim id as in CLAIMS.md, e.g. ``"C1"``.
        measured: the measured value(s) in words and numbers, as the scorecard shows them.
        verdict: ``"reproduced"``, ``"partly"`` or ``"not reproduced"``.
        evidence: the figure or number that tests the claim (e.g. ``"Figure 1 (left)"``).
        parameters: the notebook parameters that produced it.
        profile: the parameter profile (``smoke``, ``default``, ``paper`` or ``custom``).
        data_source: the data's ``source`` string(s).
        why: the reason behind a verdict other than "reproduced" (required then).
        values: raw numbers for readers who want them (optional).
    """
    claim = claim.upper()
    if not (claim.startswith("C") and claim[1:].isdigit()):
        raise ValueError(f"claim id must look like 'C7', got {claim!r}")
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    if verdict != "reproduced" and not why:
        raise ValueError(f"verdict {verdict!r} for {claim} needs a reason (why=...)")
    record = {
        "claim": claim,
        "measured": measured,
        "verdict": verdict,
        "why": why,
        "evidence": evidence,
        "parameters": _jsonable(parameters),
        "profile": profile,
        "data_source": data_source,
        "values": _jsonable(values or {}),
        "environment": environment(),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = Path(results_dir) / "claims" / f"{claim}.json"
    return atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def load_claims(results_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """All claim records under ``results_dir/claims``, by claim id."""
    folder = Path(results_dir) / "claims"
    out = {}
    for path in sorted(folder.glob("C*.json")):
        record = json.loads(path.read_text())
        out[record["claim"]] = record
    return out


def save_figure(fig: Any, name: str, fig_dir: str | os.PathLike) -> list[Path]:
    """Save a matplotlib figure as ``fig_dir/name.png`` and ``.pdf`` (byte-stable metadata)."""
    folder = Path(fig_dir)
    folder.mkdir(parents=True, exist_ok=True)
    png, pdf = folder / f"{name}.png", folder / f"{name}.pdf"
    fig.savefig(png, dpi=150, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(pdf, bbox_inches="tight", metadata={"CreationDate": None, "Producer": None})
    return [png, pdf]
