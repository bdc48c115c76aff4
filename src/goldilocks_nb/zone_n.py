"""The Goldilocks zone against the number of images ``N``, up to the full training split.

The zone's upper edge is a property of the model *and* of the number of images the
Hessian averages over (chapter 01, claim B1): past the softmax collapse the G-term lives
on the few images whose two largest logits are nearly tied, and the smallest top-2 gap
shrinks as ``N`` grows. The paper's zone (Section 5: LeNet-5's "spans alpha in [1, 18]")
is a full-data number. :func:`zone_against_n` measures the projected G-term, H-term and
Hessian (Eq. 4, 5) at ``T = 1`` on nested class-balanced prefixes of the training split
up to all of it, exactly, by :func:`goldilocks_nb.curvature.collapsed_split`:

* **Seeds stacked.** The subspaces of all seeds form one block ``R = [R_1, ..., R_s]``;
  one pass gives ``R^T M R`` whose diagonal blocks are exactly each seed's projection.
* **Large alphas on all N.** For ``alpha >= full_from`` almost every image is collapsed
  (``1 - max_k p'_k <= tol``): one shared pass over all images (``H(p_inf)`` and ``J R``)
  plus a second pass on the images that are not.
* **Small alphas on n_low.** Below ``full_from`` every image is live and each alpha costs
  a pass over all images; these alphas are evaluated on the prefixes up to ``n_low``
  only. The lower edge and the curvature peak are averages over images (no near-tie
  effect): chapter 01 shows them converged over the nested ``N <= n_low`` and reads them
  at ``n_low`` for larger ``N`` (:func:`edges_table`, ``mixed``), stated where used.

Both chapter 01 (B1, Figure "zone against N") and chapter 04 (C20) call
:func:`zone_against_n` with the same arguments; it is cached in the results cache under
one key (``zone-n-<model>``), so the default book computes it once.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .curvature import (
    COLLAPSE_TOL,
    collapsed_split,
    curvature_metrics,
    nested_order,
    random_subspace,
)
from .data import load_dataset
from .functional import get_params
from .models import build_model, num_parameters
from .rescaling import zone_edges
from .results import cached, params_key

__all__ = ["ZONE_N_VERSION", "edges_table", "zone_against_n", "zone_key"]

#: Bumped when the computation behind :func:`zone_against_n` changes meaning.
ZONE_N_VERSION = "1"


def zone_key(model: str, dataset: str, *, n: Sequence[int], alphas: Sequence[float],
             full_from: float, n_low: int, d: int, seeds: Sequence[int], init_seed: int,
             data_seed: int, dtype: str, tol: float = COLLAPSE_TOL) -> dict[str, Any]:
    """The one cache key of :func:`zone_against_n` (everything that fixes its result)."""
    return dict(model=model, dataset=dataset, n=[int(v) for v in n],
                alphas=[float(a) for a in alphas], full_from=float(full_from),
                n_low=int(n_low), d=int(d), seeds=[int(s) for s in seeds],
                init_seed=int(init_seed), data_seed=int(data_seed), dtype=str(dtype),
                tol=float(tol))


def _check(n: Sequence[int], alphas: Sequence[float], full_from: float, n_low: int, d: int,
           seeds: Sequence[int]) -> None:
    ns = [int(v) for v in n]
    if len(ns) < 2 or ns[0] < 2 or any(b <= a for a, b in zip(ns, ns[1:])):
        raise ValueError(f"n must hold >= 2 increasing sizes >= 2, got {list(n)!r}")
    if int(n_low) not in ns:
        raise ValueError(f"n_low = {n_low!r} must be one of n = {ns}")
    al = [float(a) for a in alphas]
    if len(al) < 5 or any(not (a > 0 and math.isfinite(a)) for a in al) or \
            any(b <= a for a, b in zip(al, al[1:])):
        raise ValueError(f"alphas must be >= 5 increasing values > 0, got {list(alphas)!r}")
    if not (al[0] < float(full_from) <= al[-1]):
        raise ValueError(f"full_from = {full_from!r} must lie in ({al[0]:g}, {al[-1]:g}]")
    if int(d) < 1:
        raise ValueError(f"d must be >= 1, got {d!r}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and non-empty, got {list(seeds)!r}")


def zone_against_n(
    model: str, dataset: str, *, n: Sequence[int], alphas: Sequence[float], full_from: float,
    n_low: int, d: int, seeds: Sequence[int], init_seed: int = 0, data_seed: int = 0,
    dtype: str = "float64", tol: float = COLLAPSE_TOL, cache_dir: str | Path,
    device: str | torch.device = "cpu", chunk_size: int = 500,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """The projected G-term, H-term and Hessian of the mean loss at ``alpha * theta_0``
    (``T = 1``, Eq. 4, 5) on nested prefixes of the whole training split (module doc).

    Args:
        model, dataset: the model (Kaiming init ``init_seed``) and its training split.
        n: increasing prefix sizes ``N`` of :func:`~goldilocks_nb.curvature.nested_order`
            (``data_seed``); the last may be the split's size (the paper's ``N``).
        alphas: increasing scales; those ``>= full_from`` are evaluated at every ``N``,
            the others on the prefixes ``N <= n_low`` only.
        d: subspace dimension per seed; seeds: one random subspace each (stacked).
        dtype: ``"float64"`` (the collapse tolerance is a float64 rounding scale).
        tol: the collapse tolerance on ``1 - max_k p'_k``.
        cache_dir: the results cache (one entry per call's key, :func:`zone_key`).
        progress: ``progress(model, done, N)`` after each chunk.

    Returns:
        ``{"model", "dataset", "n", "alphas", "full_from", "n_low", "d", "seeds",
        "full_n" (split size), "tol", "per_seed": {seed: [rows {n, alpha, g_norm, h_norm,
        curvature, near_tie, g_bound, h_mass}]}, "min_gap" (per N, at alpha = 1),
        "seconds" (the split's wall time), "cpu_seconds" (its process CPU time: the
        idle one-thread time on a loaded machine), "seconds_load"}``.

    Raises:
        ValueError: bad arguments (named), before any data is loaded.
    """
    _check(n, alphas, full_from, n_low, d, seeds)
    if dtype != "float64":
        raise ValueError(f"dtype must be 'float64' (the collapse tolerance is a float64 "
                         f"rounding scale), got {dtype!r}")
    key = zone_key(model, dataset, n=n, alphas=alphas, full_from=full_from, n_low=n_low, d=d,
                   seeds=seeds, init_seed=init_seed, data_seed=data_seed, dtype=dtype, tol=tol)

    def compute() -> dict[str, Any]:
        t0 = time.perf_counter()
        ds = load_dataset(dataset, dtype=torch.float64, device=device)
        ns = [int(v) for v in n]
        if ns[-1] > len(ds):
            raise ValueError(f"n = {ns}: {model} needs N <= {len(ds)}, the size of {ds.source}")
        order = nested_order(ds.y, data_seed)[: ns[-1]].to(ds.X.device)
        X, y = ds.X[order], ds.y[order]
        net = build_model(model, seed=init_seed, input_shape=ds.input_shape,
                          dtype=torch.float64, device=device)
        theta = get_params(net)
        P = num_parameters(net)
        if d > P:
            raise ValueError(f"d = {d} exceeds the {P} parameters of {model}")
        R = torch.cat([random_subspace(P, d, seed=s, device=device) for s in seeds], dim=1)
        t_load = time.perf_counter() - t0
        al = [float(a) for a in alphas]
        caps = [ns[-1] if a >= full_from else int(n_low) for a in al]
        tick = None if progress is None else (lambda done, total: progress(model, done, total))
        t1, c1 = time.perf_counter(), time.process_time()
        cs = collapsed_split(net, theta, X, y, R, al, checkpoints=ns, n_max=caps, tol=tol,
                             chunk_size=chunk_size, orthonormal=False, progress=tick)
        seconds, cpu_seconds = time.perf_counter() - t1, time.process_time() - c1
        per_seed: dict[int, list[dict]] = {}
        for b, s in enumerate(seeds):
            blk = slice(b * d, (b + 1) * d)
            rows = []
            for i, nn in enumerate(cs.checkpoints):
                for j, a in enumerate(cs.alphas):
                    if nn > caps[al.index(a)]:
                        continue
                    G, H = cs.G[i, j][blk, blk], cs.H[i, j][blk, blk]
                    rows.append(dict(
                        n=int(nn), alpha=float(a),
                        g_norm=curvature_metrics(G)["spectral_norm"],
                        h_norm=curvature_metrics(H)["spectral_norm"],
                        curvature=curvature_metrics(G + H)["positive_curvature"],
                        near_tie=int(cs.near_tie[i, j]), g_bound=float(cs.g_bound[i, j]),
                        h_mass=float(cs.h_mass[i, j])))
            per_seed[int(s)] = rows
        return dict(model=model, dataset=ds.source, n=ns, alphas=al, full_from=float(full_from),
                    n_low=int(n_low), d=int(d), seeds=[int(s) for s in seeds],
                    full_n=len(ds), tol=float(tol), per_seed=per_seed,
                    min_gap=[float(g) for g in cs.min_gap], seconds=seconds,
                    cpu_seconds=cpu_seconds, seconds_load=t_load)

    with _key_lock(Path(cache_dir), f"zone-n-{model}", key):
        return cached(f"zone-n-{model}", key, compute, cache_dir=cache_dir,
                      version=ZONE_N_VERSION)


@contextlib.contextmanager
def _key_lock(cache_dir: Path, name: str, key: Mapping[str, Any]) -> Iterator[None]:
    """Hold an exclusive lock per cache key while computing: a second process asking for
    the same zone (chapter 01 and chapter 04 run at once, two builds) waits and then reads
    the cache instead of computing it again (POSIX ``flock``; no lock where absent)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f".{name}-{params_key(key, ZONE_N_VERSION)}.lock"
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _edges(rows: Sequence[Mapping], fraction: float) -> dict[str, Any]:
    rows = sorted(rows, key=lambda r: r["alpha"])
    return zone_edges([r["alpha"] for r in rows], [r["g_norm"] for r in rows],
                      [r["h_norm"] for r in rows], [r["curvature"] for r in rows], fraction)


def _curve(res: Mapping[str, Any], rows: Sequence[Mapping], nn: int) -> list[dict]:
    """The rows of one ``N``: all alphas at ``N <= n_low``; above, the alphas below
    ``full_from`` are read at ``n_low`` (``mixed``) and the others at ``N``."""
    if nn <= res["n_low"]:
        return [r for r in rows if r["n"] == nn]
    return ([r for r in rows if r["n"] == res["n_low"] and r["alpha"] < res["full_from"]]
            + [r for r in rows if r["n"] == nn and r["alpha"] >= res["full_from"]])


def edges_table(res: Mapping[str, Any], fraction: float, degree: int) -> dict[str, Any]:
    """The zone's edges (:func:`goldilocks_nb.rescaling.zone_edges`: curvature ``fraction``
    of peak, and the G-dominance interval around the peak, Eq. 6) at every ``N`` of
    :func:`zone_against_n`'s result, on the mean curve over seeds and per seed.

    Returns:
        ``{"table": [{n, lower, upper, dom_lower, dom_upper, dom_found, min_gap, gap_alpha
        ((1/min gap)^(1/L)), mixed (alphas < full_from read at n_low), curve}],
        "per_seed": {seed: [edges per N]}}``.
    """
    seeds = list(res["per_seed"])
    table, per_seed = [], {s: [] for s in seeds}
    for i, nn in enumerate(res["n"]):
        for s in seeds:
            per_seed[s].append(_edges(_curve(res, res["per_seed"][s], nn), fraction))
        mean_rows = []
        for a in res["alphas"]:
            pts = [r for s in seeds for r in _curve(res, res["per_seed"][s], nn)
                   if r["alpha"] == a]
            if pts:
                mean_rows.append(dict(alpha=a, n=pts[0]["n"],
                                      g_norm=float(np.mean([r["g_norm"] for r in pts])),
                                      h_norm=float(np.mean([r["h_norm"] for r in pts])),
                                      curvature=float(np.nanmean([r["curvature"] for r in pts])),
                                      near_tie=int(pts[0]["near_tie"])))
        gap = res["min_gap"][i]
        table.append(dict(n=int(nn), **_edges(mean_rows, fraction), min_gap=gap,
                          gap_alpha=(1.0 / gap) ** (1.0 / degree) if gap > 0 else None,
                          mixed=bool(nn > res["n_low"]), curve=mean_rows))
    return {"table": table, "per_seed": per_seed}
