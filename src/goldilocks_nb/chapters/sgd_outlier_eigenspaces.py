"""Chapter 06, SGD aligns with the outlier eigenspaces (Ben Arous et al. 2023; C26, C27).

Online SGD (one fresh sample per step, rate ``lr_scale / d``) on (i) the ``k``-class
Gaussian mixture with a softmax classifier and L2 penalty ``beta`` (their Fig. 2.1-2.3)
and (ii) the XOR Gaussian mixture with a two-layer ReLU net of width ``K`` (Fig. 2.4-2.5),
on several seeds. At checkpoints the Hessian and G-matrix blocks
(:mod:`goldilocks_nb.softmax_regression`, closed forms tested against the engine's autodiff
Hessian) are diagonalised and each weight vector's fraction inside their top eigenspace is
recorded, **with the resolution of that eigenspace**:

* the eigengap ``lambda_k / lambda_{k+1}`` of the block beside every alignment; an
  eigenspace counts as *resolved* when that ratio is ``>= resolve_gap``;
* for the ``k``-GMM two estimators of the block: the empirical block on a held-out sample of
  ``M = heldout_per_dim * d`` points (the paper's matrix, shown) and the population block
  (``M -> infinity``, exact outside a ``2k``-dimensional subspace, Monte Carlo inside it;
  :func:`goldilocks_nb.softmax_regression.softmax_population_blocks`), on which the verdict
  rests; beside them the alignment with ``span(mu)`` and the random-subspace baseline
  ``sqrt(k/d)``;
* the test of "``x^c`` lies in the top-``k`` eigenspace ``E_k``": the projection of ``x^c``
  on the *resolved* top-``r`` eigenspace ``E_r`` (``r`` the largest ``j <= k`` with
  ``lambda_j / lambda_{j+1} >= resolve_gap``). As ``E_r`` lies inside every choice of
  ``E_k``, ``|P_{E_r} x^c| >= 1 - 1/lambda`` (the paper's error term ``O(1/lambda)`` with
  constant 1) decides "aligned"; ``r = k`` and ``|P_{E_k} x^c| < 1 - 1/lambda`` decides "not
  aligned"; anything else is unresolved (inconclusive at this scale).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..contract import (
    ChapterParams,
    Verdict,
    inconclusive,
    paper_quote,
    params_dataclass,
    record_verdict,
    seed_agreement,
)
from ..mixtures import axis_means, sample_gmm, sample_xor, xor_means
from ..notebook import torch_threads
from ..results import cached, saved_figure
from ..softmax_regression import (
    alignment,
    softmax_g_block,
    softmax_hessian_block,
    softmax_population_blocks,
    top_eigenspace,
    xor_blocks,
)
from ..spectrum import count_outliers

__all__ = [
    "EVIDENCE",
    "SIGNAL_ROW_FRACTION",
    "Params",
    "Results",
    "alignment_tolerance",
    "c26_seed_summary",
    "c27_seed_summary",
    "first_time_above",
    "gmm_run",
    "judge",
    "memory_estimate_gb",
    "needed_lines",
    "plot_gmm_alignment",
    "plot_gmm_vectors",
    "plot_xor",
    "record",
    "resolved_alignment",
    "run",
    "run_seeds",
    "verdict_c26",
    "verdict_c27",
    "xor_run",
]

#: Bumped whenever gmm_run / xor_run change what they compute (their cache entries).
CACHE_VERSION = "2"
#: Assumed sustained float64 rates for the cost estimates of "inconclusive" verdicts.
CPU_GFLOPS = 5.0
GPU_GFLOPS = 5000.0
#: A first-layer row "carries signal" when ``v_i^2 >= SIGNAL_ROW_FRACTION * max v^2`` (the
#: count is shown beside the ``v_i^2``-weighted alignment; it decides no verdict).
SIGNAL_ROW_FRACTION = 0.1


@params_dataclass
class Params(ChapterParams):
    """Parameters of chapter 06 (defaults: the smoke profile).

    Attributes:
        k, d: classes and dimension of the Gaussian mixture (paper: 10, 1000).
        snr: the signal-to-noise ratio ``lambda`` (samples ``mu_a + N(0, I/lambda)``); the
            alignment tolerance is the paper's error term ``1/lambda``.
        beta: L2 penalty of both models.
        lr_scale: the SGD rate is ``lr_scale / d``.
        train_time: training length in rescaled time ``l * delta`` (paper: 50, i.e. 50 d
            steps at ``delta = 1/d``).
        heldout_per_dim: held-out samples per dimension (``M = heldout_per_dim * d``) for
            the empirical matrices.
        population_samples: Monte Carlo samples of the population blocks' ``2k``-dimensional
            part.
        checkpoints: number of evaluation times (evenly spaced, including 0 and the end).
        xor_width, xor_d, xor_train_time: the XOR net's hidden width ``K`` (paper 20), its
            dimension and training time.
        resolve_gap: an eigenspace ``E_j`` is resolved when ``lambda_j / lambda_{j+1} >=
            resolve_gap``.
        soon_fraction: "soon after the start": reached within this fraction of training.
        min_gap: the outlier rule's ratio (:func:`goldilocks_nb.spectrum.count_outliers`),
            also "the top eigenvalue separates" (``lambda_1 / lambda_2 >= min_gap``).
        escape_accuracy: held-out XOR accuracy from which the net counts as having left
            the XOR saddle (before that, "after training" is not reached).
        seeds: data, initialisation and SGD samples (one run per seed).
        max_memory_gb: refuse settings whose largest arrays exceed this (GB).
        torch_threads: CPU threads (0: torch's default).
    """

    notebook = "06_sgd_outlier_eigenspaces"
    k: int = 4
    d: int = 60
    snr: float = 10.0
    beta: float = 0.01
    lr_scale: float = 1.0
    train_time: float = 10.0
    heldout_per_dim: int = 20
    population_samples: int = 20000
    checkpoints: int = 4
    xor_width: int = 20
    xor_d: int = 40
    xor_train_time: float = 20.0
    resolve_gap: float = 1.05
    soon_fraction: float = 0.5
    min_gap: float = 1.5
    escape_accuracy: float = 0.9
    seeds: list[int] = dataclasses.field(default_factory=lambda: [0, 1, 2])
    max_memory_gb: float = 8.0
    torch_threads: int = 1

    def check(self) -> None:
        self.require_at_least("k", self.k, 2)
        self.require(self.d > self.k, "d", self.d, f"> k ({self.k})")
        for name in ("snr", "beta", "lr_scale", "train_time", "xor_train_time",
                     "max_memory_gb"):
            self.require_positive(name, getattr(self, name))
        self.require_at_least("heldout_per_dim", self.heldout_per_dim, 1)
        self.require_at_least("population_samples", self.population_samples, 1000)
        self.require_at_least("checkpoints", self.checkpoints, 2)
        self.require_at_least("xor_width", self.xor_width, 10)
        self.require_at_least("xor_d", self.xor_d, 3)
        self.require(self.resolve_gap > 1, "resolve_gap", self.resolve_gap, "> 1")
        self.require(0 < self.soon_fraction <= 1, "soon_fraction", self.soon_fraction,
                     "in (0, 1]")
        self.require(self.min_gap > 1, "min_gap", self.min_gap, "> 1")
        self.require(0.5 < self.escape_accuracy < 1, "escape_accuracy", self.escape_accuracy,
                     "in (0.5, 1)")
        self.require(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds), "seeds",
                     self.seeds, "a non-empty list of distinct seeds")
        self.require_at_least("seeds", self.seeds, 0)
        self.require_at_least("torch_threads", self.torch_threads, 0)
        for name in ("d", "xor_d"):
            need = memory_estimate_gb(self)[name]
            self.require(need <= self.max_memory_gb, name, getattr(self, name),
                         f"small enough for max_memory_gb = {self.max_memory_gb:g}: its "
                         f"arrays need about {need:.3g} GB (held-out sample M x d with "
                         f"M = heldout_per_dim * d, and the d x d blocks)")


def alignment_tolerance(snr: float) -> float:
    """``1 - 1/lambda``: a weight vector counts as inside an eigenspace when at least this
    fraction of it lies there (the theorem's error ``O(1/lambda)`` with constant 1)."""
    return 1 - 1 / snr


def memory_estimate_gb(params: Params) -> dict[str, float]:
    """Peak memory (GB, float64) of the two runs: ``{"d": ..., "xor_d": ...}``.

    ``k``-GMM: held-out sample ``M x d`` plus a few ``d x d`` blocks (and their
    eigendecomposition); XOR: sample ``M x d`` plus ``2 K`` blocks ``d x d``.
    """
    d, xd = params.d, params.xor_d
    gmm = params.heldout_per_dim * d * d + 6 * d * d
    xor = params.heldout_per_dim * xd * xd + (2 * params.xor_width + 4) * xd * xd
    return {"d": 8 * gmm / 1e9, "xor_d": 8 * xor / 1e9}


def _schedule(d: int, train_time: float, checkpoints: int) -> tuple[int, list[int]]:
    steps = int(round(train_time * d))
    return steps, sorted({int(round(s)) for s in np.linspace(0, steps, checkpoints)})


def gmm_sgd_segment(W: np.ndarray, Y: np.ndarray, labels: np.ndarray, lr: float, beta: float
                    ) -> np.ndarray:
    """Online SGD of softmax regression over the samples ``Y`` (one per step, in order):
    :func:`goldilocks_nb.softmax_regression.softmax_sgd_step` with a batch of one, in NumPy
    (the per-step cost of small torch ops dominates otherwise; a test checks equality)."""
    W = W.copy()
    for y, a in zip(Y, labels):
        z = W @ y
        p = np.exp(z - z.max())
        p /= p.sum()
        p[a] -= 1.0
        W -= lr * (np.outer(p, y) + beta * W)
    return W


def xor_sgd_segment(W: np.ndarray, v: np.ndarray, Y: np.ndarray, labels: np.ndarray,
                    lr: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Online SGD of the XOR net over the samples ``Y`` (one per step):
    :func:`goldilocks_nb.softmax_regression.xor_sgd_step` with a batch of one, in NumPy."""
    W, v = W.copy(), v.copy()
    for y, label in zip(Y, labels):
        pre = W @ y
        g = np.maximum(pre, 0.0)
        res = 1.0 / (1.0 + np.exp(-(g @ v))) - label
        grad_v = res * g + beta * v
        grad_W = np.outer(res * (pre > 0) * v, y) + beta * W
        W -= lr * grad_W
        v -= lr * grad_v
    return W, v


def resolved_alignment(x: torch.Tensor, vals: torch.Tensor, U: torch.Tensor, k: int,
                       resolve_gap: float) -> dict[str, float]:
    """Alignment of ``x`` with the top-``k`` eigenspace and with its resolved part.

    Args:
        vals: eigenvalues in descending order (at least ``k + 1``); U: the eigenvectors of
            the top ones, ``(n, m)`` with ``m >= 1`` (columns beyond ``m`` are unknown).

    Returns ``{"r", "align_r", "align_k", "gap_k"}``: ``r`` the largest ``j <= k`` with
    ``lambda_j / lambda_{j+1} >= resolve_gap`` (0 if none) and ``j <= m``; ``align_r`` the
    fraction of ``x`` in ``E_r`` (0 when ``r = 0``); ``align_k`` in the top ``min(k, m)``
    eigenvectors; ``gap_k = lambda_k / lambda_{k+1}``.
    """
    v = vals.numpy()
    m = U.shape[1]
    r = 0
    for j in range(1, min(k, m) + 1):
        if v[j] > 0 and v[j - 1] / v[j] >= resolve_gap:
            r = j
    return {"r": r, "align_r": alignment(x, U[:, :r]) if r else 0.0,
            "align_k": alignment(x, U[:, :min(k, m)]), "gap_k": float(v[k - 1] / v[k])}


def gmm_run(params: Params, seed: int) -> dict:
    """Online SGD on the ``k``-GMM (one seed); alignments and block spectra at checkpoints.

    Returns ``times`` (``l / d``) and, for ``mat`` in ``H`` (``nabla^2_{cc}``) and ``G``
    (``G_{cc}``), arrays ``(checkpoints, k)`` ``pop_{mat}_{r, align_r, align_k, gap_k}`` of
    the population blocks (see :func:`resolved_alignment`) and ``(k,)`` arrays
    ``emp_{mat}_...`` of the empirical blocks on the ``M`` held-out points at the end of
    training; ``align_mu`` (fraction of ``x^c`` in ``span(mu)``);
    ``top_H11_pop`` (``lambda_1 / lambda_2`` of the class-1 population Hessian block);
    ``eig_H11`` (top ``3k`` empirical eigenvalues of the class-1 block), ``overlap``
    (``x^1 . mu_a``); at the end ``x1``, ``U_H11``, ``U_G11`` (empirical top-``k``
    eigenvectors), held-out ``accuracy`` and ``pop_seconds`` (time of one population
    evaluation, all classes).
    """
    k, d, beta = params.k, params.d, params.beta
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    mc_gen = torch.Generator().manual_seed(seed + 10_000)
    means = axis_means(k, d)
    Yh, ah = sample_gmm(means, params.heldout_per_dim * d, snr=params.snr, gen=gen)
    W = torch.randn(k, d, generator=gen, dtype=torch.float64) / d**0.5
    steps, marks = _schedule(d, params.train_time, params.checkpoints)
    lr = params.lr_scale / d
    fields = ("r", "align_r", "align_k", "gap_k")
    out: dict[str, list] = {f"pop_{m}_{f}": [] for m in "HG" for f in fields}
    out.update(times=[], align_mu=[], top_H11_pop=[], eig_H11=[], overlap=[])
    pop_seconds = 0.0
    for step in marks:
        t0 = time.perf_counter()
        pop = softmax_population_blocks(W, means, params.snr, beta,
                                        params.population_samples, mc_gen)
        pop_seconds = time.perf_counter() - t0
        rows: dict[str, list] = {f"pop_{m}_{f}": [] for m in "HG" for f in fields}
        for c in range(k):
            for mat in "HG":
                res = resolved_alignment(W[c], *pop[c][mat], k, params.resolve_gap)
                for f in fields:
                    rows[f"pop_{mat}_{f}"].append(res[f])
        for key, val in rows.items():
            out[key].append(val)
        out["top_H11_pop"].append(float(pop[0]["H"][0][0] / pop[0]["H"][0][1]))
        out["eig_H11"].append(torch.linalg.eigvalsh(
            softmax_hessian_block(W, Yh, 0, beta)).flip(0)[: 3 * k].numpy())
        out["times"].append(step / d)
        out["align_mu"].append([alignment(W[c], means.T) for c in range(k)])
        out["overlap"].append((means @ W[0]).numpy())
        if step < steps:
            n = min(m for m in marks if m > step) - step
            Y, a = sample_gmm(means, n, snr=params.snr, gen=gen)
            W = torch.from_numpy(gmm_sgd_segment(W.numpy(), Y.numpy(), a.numpy(), lr, beta))
    # the empirical blocks on the M held-out points, every class, at the end of training
    emp: dict[str, list] = {f"emp_{m}_{f}": [] for m in "HG" for f in fields}
    for c in range(k):
        blocks = {"H": top_eigenspace(softmax_hessian_block(W, Yh, c, beta), k + 1),
                  "G": top_eigenspace(softmax_g_block(W, Yh, ah, c, beta), k + 1)}
        for mat in "HG":
            res = resolved_alignment(W[c], *blocks[mat], k, params.resolve_gap)
            for f in fields:
                emp[f"emp_{mat}_{f}"].append(res[f])
        if c == 0:
            U11, UG11 = blocks["H"][1][:, :k], blocks["G"][1][:, :k]
    out.update(emp)
    acc = float(((Yh @ W.T).argmax(1) == ah).double().mean())
    res = {key: np.array(val) for key, val in out.items()}
    res.update(x1=W[0].numpy(), U_H11=U11.numpy(), U_G11=UG11.numpy(), accuracy=acc,
               pop_seconds=pop_seconds, seconds=time.perf_counter() - start)
    return res


def xor_run(params: Params, seed: int) -> dict:
    """Online SGD of the two-layer ReLU net on the XOR mixture (one seed).

    Returns ``times``; ``align_W_H``/``align_W_G`` (``(checkpoints, K)``: fraction of row
    ``W_i`` in the top-2 eigenspace of its Hessian / G block); ``gap_W_H`` (``lambda_2 /
    lambda_3`` of each row's Hessian block); ``v2`` (``(checkpoints, K)``: ``v_i^2``, the
    weights of the signal-row mean); ``align_v_H``/``align_v_G`` (fraction of ``v`` in the
    top-4 eigenspace of the vv blocks); ``eig_vv_H``/``eig_vv_G`` (all ``K`` eigenvalues,
    descending); ``outliers_vv`` (the outlier rule on the Hessian vv block,
    ``max_outliers = K // 2``); ``accuracy`` (held-out, per checkpoint).
    """
    start = time.perf_counter()
    K, d, beta = params.xor_width, params.xor_d, params.beta
    gen = torch.Generator().manual_seed(seed + 1)
    means = xor_means(d)
    Yh, yh, _ = sample_xor(means, params.heldout_per_dim * d, snr=params.snr, gen=gen)
    W = torch.randn(K, d, generator=gen, dtype=torch.float64) / d**0.5
    v = torch.randn(K, generator=gen, dtype=torch.float64) / K**0.5
    steps, marks = _schedule(d, params.xor_train_time, params.checkpoints)
    lr = params.lr_scale / d
    keys = ("times", "align_W_H", "align_W_G", "gap_W_H", "gap_W_G", "v2", "align_v_H", "align_v_G",
            "eig_vv_H", "eig_vv_G", "outliers_vv", "accuracy")
    out: dict = {key: [] for key in keys}
    for step in marks:
        b = xor_blocks(W, v, Yh, yh, beta)
        eH = [top_eigenspace(b["H_W"][i], 2) for i in range(K)]
        out["align_W_H"].append([alignment(W[i], eH[i][1]) for i in range(K)])
        out["gap_W_H"].append([float(e[0][1] / e[0][2]) for e in eH])
        eG = [top_eigenspace(b["G_W"][i], 2) for i in range(K)]
        out["align_W_G"].append([alignment(W[i], eG[i][1]) for i in range(K)])
        out["gap_W_G"].append([float(e[0][1] / e[0][2]) for e in eG])
        out["v2"].append((v**2).numpy())
        valsH, UH = top_eigenspace(b["H_vv"], 4)
        valsG, UG = top_eigenspace(b["G_vv"], 4)
        out["align_v_H"].append(alignment(v, UH))
        out["align_v_G"].append(alignment(v, UG))
        out["eig_vv_H"].append(valsH.numpy())
        out["eig_vv_G"].append(valsG.numpy())
        out["outliers_vv"].append(count_outliers(valsH.numpy(), max_outliers=K // 2,
                                                 min_gap=params.min_gap).count)
        pred = (torch.relu(Yh @ W.T) @ v > 0).long()
        out["accuracy"].append(float((pred == yh).double().mean()))
        out["times"].append(step / d)
        if step < steps:
            n = min(m for m in marks if m > step) - step
            Y, y, _ = sample_xor(means, n, snr=params.snr, gen=gen)
            Wn, vn = xor_sgd_segment(W.numpy(), v.numpy(), Y.numpy(), y.numpy(), lr, beta)
            W, v = torch.from_numpy(Wn), torch.from_numpy(vn)
    return {**{key: np.array(val) for key, val in out.items()},
            "seconds": time.perf_counter() - start}


def run_seeds(params: Params, cache_dir: str | Path, *,
              report: Callable[[str], Any] | None = print) -> dict[str, dict[int, dict]]:
    """``gmm_run`` and ``xor_run`` on every seed, each cached under
    ``params.result_key()`` (without ``seeds``) plus the seed: a moved or renamed results
    folder, or another seed list, recomputes nothing already computed.

    Returns ``{"gmm": {seed: run}, "xor": {seed: run}}``; ``report`` gets one progress line
    per run (``None``: silent).
    """
    base = {k: v for k, v in params.result_key().items() if k != "seeds"}
    out: dict[str, dict[int, dict]] = {"gmm": {}, "xor": {}}
    for name, fn in (("gmm", gmm_run), ("xor", xor_run)):
        for i, seed in enumerate(params.seeds):
            t0 = time.perf_counter()
            out[name][seed] = cached(f"06_{name}", {**base, "seed": seed},
                                     lambda fn=fn, seed=seed: fn(params, seed),
                                     cache_dir=cache_dir, version=CACHE_VERSION)
            if report is not None:
                report(f"{name} seed {seed} ({i + 1}/{len(params.seeds)}) done in "
                       f"{time.perf_counter() - t0:.0f} s")
    return out


def first_time_above(times: np.ndarray, values: np.ndarray, threshold: float) -> float | None:
    """First checkpoint time from which ``values`` (``(T,)`` or ``(T, n)``: all columns)
    stays ``>= threshold`` to the end; ``None`` if never."""
    v = np.asarray(values)
    ok = v >= threshold if v.ndim == 1 else (v >= threshold).all(axis=1)
    for i in range(len(ok)):
        if ok[i:].all():
            return float(times[i])
    return None


def _status(r: np.ndarray, align_r: np.ndarray, align_k: np.ndarray, k: int,
            threshold: float) -> str:
    """"yes" / "no" / "unresolved" for one checkpoint (arrays over classes): every class's
    projection on its resolved ``E_r`` reaches ``threshold`` -> yes; some class with
    ``r = k`` misses it -> no; otherwise unresolved."""
    if np.all((r >= 1) & (align_r >= threshold)):
        return "yes"
    if np.any((r == k) & (align_k < threshold)):
        return "no"
    return "unresolved"


def c26_seed_summary(run: Mapping[str, Any], params: Params) -> dict[str, Any]:
    """The numbers of one seed's ``gmm_run`` that ``verdict_c26`` reads (plain floats).

    For ``est`` in ``pop``, ``emp`` and ``mat`` in ``H``, ``G`` at the end of training:
    ``{est}_{mat}_status`` (:func:`_status`), the smallest ``r`` / ``align_r`` / ``align_k`` /
    ``gap_k`` over classes; ``time_H``/``time_G``: first time from which the population
    status stays "yes" (``None``: never); ``topk_gap_H``: smallest population
    ``lambda_k / lambda_{k+1}`` of the Hessian blocks over classes and checkpoints;
    ``top_gap``: class-1 population ``lambda_1 / lambda_2`` at the end; ``align_mu``;
    ``baseline`` ``sqrt(k/d)``; ``pop_seconds``.
    """
    k, thr = params.k, alignment_tolerance(params.snr)
    out: dict[str, Any] = {}
    for est in ("pop", "emp"):
        for mat in "HG":
            p = f"{est}_{mat}"
            end = {f: np.asarray(run[f"{p}_{f}"]) for f in ("r", "align_r", "align_k", "gap_k")}
            if est == "pop":
                end = {f: v[-1] for f, v in end.items()}
            out[f"{p}_status"] = _status(end["r"], end["align_r"], end["align_k"], k, thr)
            out[f"{p}_r"] = int(end["r"].min())
            for f in ("align_r", "align_k", "gap_k"):
                out[f"{p}_{f}"] = float(end[f].min())
    for mat in "HG":
        p = f"pop_{mat}"
        ok = np.array([_status(run[f"{p}_r"][i], run[f"{p}_align_r"][i],
                               run[f"{p}_align_k"][i], k, thr) == "yes"
                       for i in range(len(run["times"]))])
        out[f"time_{mat}"] = first_time_above(run["times"], ok.astype(float), 0.5)
    out["align_mu"] = float(run["align_mu"][-1].min())
    if out["align_mu"] < thr:
        # x^c is not yet in span(mu) (the common subspace of the theorem, reached after a
        # time T_0 / delta it does not fix): a "no" says "not yet", not "never".
        for mat in "HG":
            if out[f"pop_{mat}_status"] == "no":
                out[f"pop_{mat}_status"] = "short"
    out.update(topk_gap_H=float(run["pop_H_gap_k"].min()),
               top_gap=float(run["top_H11_pop"][-1]),
               baseline=math.sqrt(k / params.d),
               pop_seconds=float(run["pop_seconds"]), seconds=float(run["seconds"]),
               accuracy=float(run["accuracy"]))
    return out


def _combine(statuses: list[str]) -> str:
    """Across seeds: unresolved if any seed is unresolved or "short" (training ended before
    ``x^c`` reached ``span(mu)``), else yes if all are, else no."""
    if "unresolved" in statuses or "short" in statuses:
        return "unresolved"
    return "yes" if all(s == "yes" for s in statuses) else "no"


def _needed_c26(per_seed: Mapping[int, Mapping[str, Any]], mats: list[str], *, d: int, k: int,
                heldout_per_dim: int, population_samples: int, resolve_gap: float) -> str:
    """The size that would resolve the unresolved blocks, from the measured gaps."""
    parts = []
    for mat in mats:
        gap = min(s[f"pop_{mat}_gap_k"] for s in per_seed.values())
        delta = max(gap - 1.0, 1e-4)
        # the gap must exceed resolve_gap with Monte Carlo noise (relative ~ 3/sqrt(n)) well
        # below it: n_mc ~ (30 / delta)^2; secs scale linearly in n_mc.
        n_mc = int(math.ceil((30.0 / delta) ** 2))
        secs = max(s["pop_seconds"] for s in per_seed.values()) * n_mc / population_samples
        # a spike of relative strength delta above the bulk leaves the empirical bulk when
        # delta > sqrt(d / M) (BBP): M / d >= 1 / delta^2.
        m_per_d = int(math.ceil(1.0 / delta**2))
        flops = k * m_per_d * d**3
        parts.append(
            f"{'Hessian' if mat == 'H' else 'G'} block: population top-k gap "
            f"{gap:.4f} (< {resolve_gap:g}); resolving it needs a gap threshold below "
            f"{gap:.4f} with Monte Carlo n ~ {n_mc:.2g} per checkpoint (about "
            f"{secs:.2g} s CPU per checkpoint and seed, {secs / 100:.2g} s GPU), or an "
            f"empirical block with M / d >= {m_per_d} (now {heldout_per_dim}; about "
            f"{flops / CPU_GFLOPS / 1e9:.2g} s CPU, {flops / GPU_GFLOPS / 1e9:.2g} s GPU per "
            f"checkpoint at d = {d}); or a larger SNR lambda, where the theorem's error "
            f"O(1/lambda) and the weak spikes' merging shrink")
    return "; ".join(parts)


def verdict_c26(per_seed: Mapping[int, Mapping[str, Any]], *, k: int, d: int, snr: float,
                train_time: float, soon_fraction: float, resolve_gap: float, min_gap: float,
                heldout_per_dim: int, population_samples: int) -> Verdict:
    """C26: each class weight lies in the top-``k`` eigenspace of its Hessian and G blocks
    soon after the start; the leading ``k`` eigenvalues are separated from the bulk, the
    top one separates from the rest.

    Paper (Ben Arous et al., summary; Fig. 2.3 caption): "shortly after training begins,
    SGD trajectories and the outlier eigenspaces of the Hessian and G-matrices align with a
    common, low-dimensional subspace determined by the data means. ... The leading $k$
    eigenvalues are separated from the bulk at all times, and the top eigenvalue,
    corresponding to $\\mu_1$ separates from the remaining eigenvalues soon after
    initialization."

    Args:
        per_seed: seed -> :func:`c26_seed_summary`.

    Core checks (population blocks, end of training, every class): Hessian and G alignment
    decided "yes" on every seed. Other checks: aligned by ``soon_fraction * train_time``;
    population Hessian ``lambda_k / lambda_{k+1} >= resolve_gap`` at every checkpoint;
    ``lambda_1 / lambda_2 >= min_gap`` at the end. A core check unresolved on some seed and
    no core check failed -> inconclusive at this scale.
    """
    thr = alignment_tolerance(snr)
    soon = soon_fraction * train_time
    seeds = list(per_seed)
    core = {mat: _combine([per_seed[s][f"pop_{mat}_status"] for s in seeds]) for mat in "HG"}
    name = {"H": "Hessian", "G": "G"}

    def in_time(s: Mapping[str, Any]) -> bool:
        times = [s[f"time_{m}"] for m in "HG" if s[f"pop_{m}_status"] != "unresolved"]
        return all(t is not None and t <= soon for t in times)

    other = {
        f"aligned by t = {soon:.3g}": {s: in_time(per_seed[s]) for s in seeds},
        f"leading k Hessian eigenvalues separated (lambda_k/lambda_k+1 >= {resolve_gap:g} "
        "at all times)": {s: per_seed[s]["topk_gap_H"] >= resolve_gap for s in seeds},
        f"top eigenvalue separated (lambda_1/lambda_2 >= {min_gap:g} at the end)":
            {s: per_seed[s]["top_gap"] >= min_gap for s in seeds},
    }

    def rng(key: str) -> str:
        vals = [per_seed[s][key] for s in seeds]
        return f"{min(vals):.2f}" if len(vals) == 1 else f"{min(vals):.2f}-{max(vals):.2f}"

    measured = "; ".join(
        f"{name[m]}: {seed_agreement({s: per_seed[s][f'pop_{m}_status'] == 'yes' for s in seeds})}"
        f" aligned, population |P_E_r x| {rng(f'pop_{m}_align_r')} (r >= "
        f"{min(per_seed[s][f'pop_{m}_r'] for s in seeds)} of k = {k}, gap lambda_k/lambda_k+1 "
        f"{rng(f'pop_{m}_gap_k')}), empirical M = {heldout_per_dim} d |P_E_k x| "
        f"{rng(f'emp_{m}_align_k')} (gap {rng(f'emp_{m}_gap_k')})" for m in "HG")
    measured += (f"; span(mu) {rng('align_mu')}, random sqrt(k/d) = "
                 f"{math.sqrt(k / d):.2f}, tolerance 1 - 1/lambda = {thr:.2f}")
    values: dict[str, Any] = {
        "per_seed": {str(s): dict(per_seed[s]) for s in seeds},
        "core": core, "threshold": thr,
        "other": {key: seed_agreement(v) for key, v in other.items()},
    }
    definition = (
        f"x^c aligned with E_k(block) when its projection on the resolved top-r eigenspace "
        f"(r = largest j <= k with lambda_j/lambda_j+1 >= {resolve_gap:g}) is >= 1 - 1/lambda "
        f"= {thr:.2f} for every class (E_r lies in every E_k); not aligned when r = k and "
        f"|P_E_k x^c| < {thr:.2f}; otherwise unresolved. Blocks: population (M -> infinity, "
        f"exact outside span(mu, x), {population_samples} Monte Carlo samples inside), at the "
        f"end of training (a 'no' while x^c is not yet >= {thr:.2f} in span(mu) counts as "
        f"unresolved: training too short); 'soon' = by {soon_fraction:g} of training; "
        f"outliers separated "
        f"when the ratio gap is >= {resolve_gap:g} (k-th) / {min_gap:g} (top)")
    key = "; ".join(f"{name[m]} {core[m]} ({rng(f'pop_{m}_align_r')})" for m in "HG")
    quote = paper_quote(verdict_c26)
    failed_other = [f"{key_} ({seed_agreement(v)})" for key_, v in other.items()
                    if not all(v.values())]
    if all(c == "yes" for c in core.values()):
        if not failed_other:
            return Verdict("C26", "reproduced", measured, "", values, key, quote, definition)
        return Verdict("C26", "partly", measured, "aligned, but failed: " + "; ".join(
            failed_other), values, key, quote, definition)
    if any(c == "no" for c in core.values()):
        failed = [f"{name[m]} alignment ({seed_agreement({s: per_seed[s][f'pop_{m}_status'] == 'yes' for s in seeds})})"  # noqa: E501
                  for m in "HG" if core[m] == "no"]
        verdict = "partly" if any(c == "yes" for c in core.values()) else "not reproduced"
        unres = [name[m] for m in "HG" if core[m] == "unresolved"]
        why = ("failed: " + "; ".join(failed + failed_other)
               + (f"; {', '.join(unres)} unresolved" if unres else ""))
        return Verdict("C26", verdict, measured, why, values, key, quote, definition)
    unres = [m for m in "HG" if core[m] == "unresolved"]
    short = [m for m in unres if any(per_seed[s][f"pop_{m}_status"] == "short" for s in seeds)]
    gaps = [m for m in unres if m not in short]
    reasons, needs = [], []
    if short:
        reasons.append(f"training ended before x^c reached span(mu) (min {rng('align_mu')} < "
                       f"{thr:.2f}) on some seed, so the " + " and ".join(name[m] for m in short)
                       + " misalignment may be 'not yet'")
        secs = 2 * max(per_seed[s]["seconds"] for s in seeds)
        needs.append(f"train to t = {2 * train_time:g} (2x now) at d = {d}: about {secs:.2g} s "
                     "CPU per seed (2x the measured run; the same on a GPU, the loop is "
                     "sequential)")
    if gaps:
        reasons.append("the top-k eigenspace of the " + " and ".join(name[m] for m in gaps)
                       + f" block is not resolved (lambda_k/lambda_k+1 < {resolve_gap:g}) and "
                       f"x^c's projection on the resolved part E_r is below {thr:.2f}: whether "
                       "x^c lies in E_k depends on directions the estimator cannot separate "
                       "from the bulk")
        needs.append(_needed_c26(per_seed, gaps, d=d, k=k, heldout_per_dim=heldout_per_dim,
                                 population_samples=population_samples,
                                 resolve_gap=resolve_gap))
    done = [name[m] for m in "HG" if core[m] == "yes"]
    why = "; ".join(reasons) + (f"; the {' and '.join(done)} part is aligned on every seed"
                                if done else "")
    if failed_other:
        why += "; also failed: " + "; ".join(failed_other)
    needed = "; ".join(needs)
    return inconclusive("C26", measured, why, needed, values=values, key=key, quote=quote,
                         definition=definition)


def c27_seed_summary(run: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers of one seed's ``xor_run`` that ``verdict_c27`` reads (end of training).

    ``align_W_H``/``align_W_G``: first-layer alignment averaged over rows with weights
    ``v_i^2`` (the rows that carry signal; a row with ``v_i -> 0`` gets no gradient and keeps
    its random direction); ``align_W_H_all``/``align_W_G_all``: the all-row mean;
    ``gap_W_H``/``gap_W_G``: the ``v_i^2``-weighted ``lambda_2 / lambda_3``; ``signal_rows``:
    rows with ``v_i^2 >= SIGNAL_ROW_FRACTION max v^2``; ``align_v_H``/``align_v_G``;
    ``outliers_init``/``outliers_end``; ``accuracy`` (end); ``time_4``: first time from which
    4 outliers stay.
    """
    w = run["v2"][-1] / run["v2"][-1].sum()
    four = (run["outliers_vv"] == 4).astype(float)
    return {
        "align_W_H": float(w @ run["align_W_H"][-1]),
        "align_W_G": float(w @ run["align_W_G"][-1]),
        "align_W_H_all": float(run["align_W_H"][-1].mean()),
        "align_W_G_all": float(run["align_W_G"][-1].mean()),
        "gap_W_H": float(w @ run["gap_W_H"][-1]),
        "gap_W_G": float(w @ run["gap_W_G"][-1]),
        "signal_rows": int((run["v2"][-1] >= SIGNAL_ROW_FRACTION * run["v2"][-1].max()).sum()),
        "align_v_H": float(run["align_v_H"][-1]), "align_v_G": float(run["align_v_G"][-1]),
        "outliers_init": int(run["outliers_vv"][0]), "outliers_end": int(run["outliers_vv"][-1]),
        "accuracy": float(run["accuracy"][-1]),
        "time_4": first_time_above(run["times"], four, 0.5),
        "seconds": float(run["seconds"]),
    }


def verdict_c27(per_seed: Mapping[int, Mapping[str, Any]], *, snr: float, train_time: float,
                escape_accuracy: float, resolve_gap: float, xor_d: int, xor_width: int,
                heldout_per_dim: int) -> Verdict:
    """C27: first-layer rows align with the top-2 eigenspaces of their blocks, ``v`` with the
    top-4 eigenspace of the vv block, which has 1 outlier at initialisation and 4 after
    training.

    Paper (Ben Arous et al., abstract; Fig. 2.5 caption): "in multi-layer settings this
    alignment occurs per layer ... Initially, there is one outlier eigenvalue due to the
    positivity of the ReLU activation. Along training, four outlier eigenvalues separate
    from the bulk"

    Args:
        per_seed: seed -> :func:`c27_seed_summary`.

    Checks per seed (end of training, tolerance ``1 - 1/lambda``): ``v_i^2``-weighted
    first-layer alignment (Hessian and G) and ``v`` alignment (Hessian) >= tolerance; vv
    outliers 1 at init and 4 at the end. Core: first-layer (Hessian), ``v``, 4 outliers. A
    seed that has not left the XOR saddle (accuracy < ``escape_accuracy``) has not reached
    "after training": if that is why a core check fails -> inconclusive at this scale. A
    first-layer alignment below tolerance whose blocks' ``v_i^2``-weighted ``lambda_2 /
    lambda_3 < resolve_gap`` is unresolved (its ``E_2`` is not separated from the bulk): if
    only such failures remain -> inconclusive at this scale.
    """
    thr = alignment_tolerance(snr)
    seeds = list(per_seed)
    escaped = {s: per_seed[s]["accuracy"] >= escape_accuracy for s in seeds}
    checks = {
        f"first-layer alignment (Hessian, v_i^2-weighted) >= {thr:.2f}":
            {s: per_seed[s]["align_W_H"] >= thr for s in seeds},
        f"v in top-4 of the vv Hessian block >= {thr:.2f}":
            {s: per_seed[s]["align_v_H"] >= thr for s in seeds},
        "4 vv outliers after training": {s: per_seed[s]["outliers_end"] == 4 for s in seeds},
        f"first-layer alignment (G, v_i^2-weighted) >= {thr:.2f}":
            {s: per_seed[s]["align_W_G"] >= thr for s in seeds},
        "1 vv outlier at init": {s: per_seed[s]["outliers_init"] == 1 for s in seeds},
    }
    keys = list(checks)
    core = keys[:3]

    def rng(key: str) -> str:
        vals = [per_seed[s][key] for s in seeds]
        return f"{min(vals):.2f}" if len(vals) == 1 else f"{min(vals):.2f}-{max(vals):.2f}"

    outl = ", ".join(f"{per_seed[s]['outliers_init']}->{per_seed[s]['outliers_end']}"
                     for s in seeds)
    measured = (f"first-layer alignment, v_i^2-weighted: {rng('align_W_H')} (Hessian, E_2 "
                f"gap {rng('gap_W_H')}), {rng('align_W_G')} (G, gap {rng('gap_W_G')}) "
                f"[all-row mean {rng('align_W_H_all')} / "
                f"{rng('align_W_G_all')}]; v in top-4 {rng('align_v_H')}; vv outliers per "
                f"seed {outl}; held-out accuracy {rng('accuracy')}")
    values = {"per_seed": {str(s): dict(per_seed[s]) for s in seeds}, "threshold": thr,
              "checks": {k_: seed_agreement(v) for k_, v in checks.items()},
              "escaped": seed_agreement(escaped)}
    definition = (f"alignment = |P_E x| / |x| with E the top-2 (W_i) or top-4 (v) eigenspace "
                  f"of the block, tolerance 1 - 1/lambda = {thr:.2f}; first layer averaged "
                  f"over rows with weights v_i^2 (rows with v_i -> 0 carry no signal), the "
                  f"all-row mean shown; outliers by the largest ratio gap (>= min_gap) among "
                  f"the top K/2 eigenvalues of the vv Hessian block; 'after training' = end "
                  f"of {train_time:g} time units with held-out accuracy >= "
                  f"{escape_accuracy:g}")
    key = f"W {rng('align_W_H')}, v {rng('align_v_H')}, outliers {outl}"
    quote = paper_quote(verdict_c27)
    failed = [k_ for k_ in keys if not all(checks[k_].values())]
    why = "failed: " + "; ".join(f"{k_} ({seed_agreement(checks[k_])})" for k_ in failed)
    core_failed = [k_ for k_ in core if k_ in failed]
    first_layer = {keys[0]: "H", keys[3]: "G"}
    unresolved = {k_: [s for s in seeds if not checks[k_][s]
                       and per_seed[s][f"gap_W_{m}"] < resolve_gap]
                  for k_, m in first_layer.items()}
    decided_failed = [k_ for k_ in failed
                      if any(not checks[k_][s] and s not in unresolved.get(k_, [])
                             for s in seeds)]
    if core_failed and not all(escaped.values()):
        stuck = [s for s in seeds if not escaped[s]]
        if all(not escaped[s] for s in seeds if not all(checks[k_][s] for k_ in core)):
            times = [per_seed[s]["time_4"] for s in seeds if per_seed[s]["time_4"] is not None]
            est = 2 * max(times) if times else 2 * train_time
            secs = est / train_time * max(per_seed[s]["seconds"] for s in seeds)
            return inconclusive(
                "C27", measured,
                f"seeds {stuck} have not left the XOR saddle (held-out accuracy < "
                f"{escape_accuracy:g}) by t = {train_time:g}: 'after training' is not reached; "
                + why,
                f"train to t ~ {est:.3g} (>= 2x the latest emergence of 4 outliers seen, or 2x "
                f"now) at d = {xor_d} (K = {xor_width}, M = {heldout_per_dim} d): about "
                f"{secs:.2g} s CPU per seed (the measured run scaled; the sequential SGD "
                "loop gains little on a GPU)",
                values=values, key=key, quote=quote, definition=definition)
    if not failed:
        return Verdict("C27", "reproduced", measured, "", values, key, quote, definition)
    if not decided_failed:
        parts, needs = [], []
        for k_, m in first_layer.items():
            if unresolved[k_]:
                gap = min(per_seed[s][f"gap_W_{m}"] for s in unresolved[k_])
                delta = max(gap - 1.0, 1e-4)
                m_per_d = int(math.ceil(1.0 / delta**2))
                flops = 2 * xor_width * m_per_d * xor_d**3
                parts.append(f"{k_} fails on seeds {unresolved[k_]} where the v_i^2-weighted "
                             f"lambda_2/lambda_3 = {gap:.3g} < {resolve_gap:g}: E_2 of the "
                             f"{'Hessian' if m == 'H' else 'G'} blocks is not resolved")
                needs.append(f"{'Hessian' if m == 'H' else 'G'} first-layer blocks with M / d "
                             f">= {m_per_d} (now {heldout_per_dim}; taking the measured gap as "
                             f"the spike strength, BBP M / d >= 1/(gap-1)^2): about "
                             f"{flops / CPU_GFLOPS / 1e9:.2g} s CPU, "
                             f"{flops / GPU_GFLOPS / 1e9:.2g} s GPU per checkpoint at d = "
                             f"{xor_d}")
        return inconclusive("C27", measured, "; ".join(parts), "; ".join(needs),
                            values=values, key=key, quote=quote, definition=definition)
    verdict = "not reproduced" if core_failed else "partly"
    return Verdict("C27", verdict, measured, why, values, key, quote, definition)


# ---- the chapter: run, judge, record, printed lines, plots

#: What each verdict rests on (the claim file's ``evidence``).
EVIDENCE = {"C26": "population/empirical block alignments per seed (06_gmm_*)",
            "C27": "XOR alignments and vv eigenvalues per seed (06_xor)"}


@dataclasses.dataclass
class Results:
    """Everything chapter 06 computes (the output of :func:`run`).

    Attributes:
        params: the parameters as run; device: the resolved device (the runs use the CPU);
        dirs: the results folders; runs: :func:`run_seeds`; s26, s27: per seed,
        :func:`c26_seed_summary` and :func:`c27_seed_summary`.
    """

    params: Params
    device: torch.device
    dirs: dict[str, Any]
    runs: dict[str, dict[int, dict]]
    s26: dict[int, dict]
    s27: dict[int, dict]

    @property
    def threshold(self) -> float:
        """The alignment tolerance ``1 - 1/lambda`` (the paper's error term, constant 1)."""
        return alignment_tolerance(self.params.snr)

    @property
    def source(self) -> str:
        """The data every figure and claim file names."""
        p = self.params
        return (f"generated Gaussian mixtures, SNR {p.snr:g}, seeds {p.seeds} "
                f"(held-out M = {p.heldout_per_dim} d)")

    def header(self) -> str:
        """Profile and device (not compared: the device differs between machines)."""
        return (f"profile={self.params.profile}, device={self.device.type} (this chapter runs "
                "on the CPU)")

    def c26_lines(self) -> str:
        """One line per seed and block: the alignment beside its resolution (2 digits)."""
        p = self.params
        lines = [f"tolerance 1 - 1/lambda = {self.threshold:.2f}, resolved: gap >= "
                 f"{p.resolve_gap:g}"]
        for seed, s in self.s26.items():
            for mat, name in (("H", "Hessian"), ("G", "G      ")):
                lines.append(
                    f"seed {seed} {name}: population |P_E_r x| {s[f'pop_{mat}_align_r']:.2f} "
                    f"(r = {s[f'pop_{mat}_r']}, lambda_k/lambda_k+1 "
                    f"{s[f'pop_{mat}_gap_k']:.2f}) -> {s[f'pop_{mat}_status']}; empirical M = "
                    f"{p.heldout_per_dim} d: |P_E_k x| {s[f'emp_{mat}_align_k']:.2f} (r = "
                    f"{s[f'emp_{mat}_r']}, gap {s[f'emp_{mat}_gap_k']:.2f})")
            lines.append(f"seed {seed}: span(mu) {s['align_mu']:.2f}, random sqrt(k/d) "
                         f"{s['baseline']:.2f}, accuracy {s['accuracy']:.2f}")
        return "\n".join(lines)

    def c27_lines(self) -> str:
        """One line per seed: first-layer alignment (signal rows and all rows), ``v``,
        outliers (2 digits)."""
        return "\n".join(
            f"seed {seed}: W_i v_i^2-weighted {s['align_W_H']:.2f} (H, gap {s['gap_W_H']:.2f}) "
            f"{s['align_W_G']:.2f} (G, gap {s['gap_W_G']:.2f}); all rows "
            f"{s['align_W_H_all']:.2f} (H) {s['align_W_G_all']:.2f} (G); {s['signal_rows']} "
            f"rows with v_i^2 >= {SIGNAL_ROW_FRACTION:g} max; v {s['align_v_H']:.2f} (H) "
            f"{s['align_v_G']:.2f} (G); "
            f"vv outliers {s['outliers_init']} -> {s['outliers_end']}; accuracy "
            f"{s['accuracy']:.2f}" for seed, s in self.s27.items())


def run(params: Params, *, progress: bool = False) -> Results:
    """Every computation of chapter 06: :func:`run_seeds` (each run cached) and the per-seed
    summaries the verdicts read.

    Args:
        params: the validated parameters.
        progress: print a line per finished run.
    """
    from ..notebook import output_dirs, resolve_device

    with torch_threads(params.torch_threads):
        dev = resolve_device(params.device)
        dirs = output_dirs(params.results_dir)
        runs = run_seeds(params, dirs["cache"], report=print if progress else None)
    return Results(params=params, device=dev, dirs=dirs, runs=runs,
                   s26={seed: c26_seed_summary(r, params) for seed, r in runs["gmm"].items()},
                   s27={seed: c27_seed_summary(r) for seed, r in runs["xor"].items()})


def judge(res: Results) -> list[Verdict]:
    """The verdicts C26 and C27 of ``res``."""
    p = res.params
    return [
        verdict_c26(res.s26, k=p.k, d=p.d, snr=p.snr, train_time=p.train_time,
                    soon_fraction=p.soon_fraction, resolve_gap=p.resolve_gap, min_gap=p.min_gap,
                    heldout_per_dim=p.heldout_per_dim,
                    population_samples=p.population_samples),
        verdict_c27(res.s27, snr=p.snr, train_time=p.xor_train_time,
                    escape_accuracy=p.escape_accuracy, resolve_gap=p.resolve_gap,
                    xor_d=p.xor_d, xor_width=p.xor_width, heldout_per_dim=p.heldout_per_dim)]


def record(res: Results, verdicts: Sequence[Verdict]) -> list[Path]:
    """Write each verdict's claim file (for the scorecard)."""
    sources = {"C26": res.source, "C27": "XOR " + res.source}
    return [record_verdict(v, res.params, evidence=EVIDENCE[v.claim],
                           data_source=sources[v.claim]) for v in verdicts]


def needed_lines(verdicts: Sequence[Verdict]) -> str:
    """What would decide each inconclusive verdict (scaled from this machine's run times)."""
    return "\n".join(f"{v.claim} would be decided by: {v.needed}" for v in verdicts if v.needed)


def plot_gmm_alignment(res: Results) -> Any:
    """Fig. 2.1, 2.3: alignment with the resolved population eigenspaces over time (first
    seed), and the top ``3k`` empirical eigenvalues of the class-1 Hessian block."""
    import matplotlib.pyplot as plt

    p, thr = res.params, res.threshold
    k, gmm = p.k, res.runs["gmm"][p.seeds[0]]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    for c in range(k):
        axes[0].plot(gmm["times"], gmm["pop_H_align_r"][:, c], color=f"C{c % 10}", lw=1)
        axes[1].plot(gmm["times"], gmm["pop_G_align_r"][:, c], color=f"C{c % 10}", lw=1)
    for ax, mat in zip(axes[:2], "HG"):
        ax.plot(gmm["times"], gmm["align_mu"].min(1), "k--", lw=1.5,
                label=r"min$_c$ span($\mu$)")
        ax.plot(gmm["times"], gmm[f"pop_{mat}_gap_k"].min(1) - 1, "k:", lw=1,
                label=r"min$_c\ \lambda_k/\lambda_{k+1} - 1$")
        ax.axhline(thr, color="gray", lw=0.8, label=r"$1 - 1/\lambda$")
        ax.axhline(np.sqrt(k / p.d), color="gray", ls="--", lw=0.8, label=r"$\sqrt{k/d}$")
        ax.set(xlabel=r"time $\ell\delta$", ylim=(0, 1.02))
    axes[0].set(ylabel=r"$\|P_{E_r} x^c\| / \|x^c\|$",
                title=r"$x^c$ vs resolved $E_k(\nabla^2_{cc} R)$ (population)")
    axes[1].set(title=r"$x^c$ vs resolved $E_k(G_{cc})$ (population)")
    axes[0].legend(fontsize=7)
    for i in range(gmm["eig_H11"].shape[1]):
        axes[2].plot(gmm["times"], gmm["eig_H11"][:, i], color="C0" if i < k else "gray", lw=1)
    axes[2].set(xlabel=r"time $\ell\delta$", ylabel="eigenvalue", yscale="log",
                title=rf"top $3k$ eigenvalues of $\nabla^2_{{11}}\hat R$, M = "
                      rf"{p.heldout_per_dim} d")
    fig.suptitle(f"Fig. 2.1, 2.3: k = {k}, d = {p.d}, seed {p.seeds[0]}; data: {res.source}",
                 fontsize=8)
    fig.tight_layout()
    return saved_figure(fig, "06_gmm_alignment", res.dirs["figures"])


def plot_gmm_vectors(res: Results) -> Any:
    """Fig. 2.2: the entries of ``x^1`` and the top-``k`` eigenvectors of its blocks."""
    import matplotlib.pyplot as plt

    p = res.params
    gmm = res.runs["gmm"][p.seeds[0]]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
    axes[0].plot(gmm["x1"], lw=0.8)
    axes[0].set(xlabel="coordinate", ylabel=r"$x^1_i$", title=r"entries of $x^1$ at the end")
    for j in range(p.k):
        axes[1].plot(gmm["U_H11"][:, j], lw=0.8)
        axes[2].plot(gmm["U_G11"][:, j], lw=0.8)
    axes[1].set(xlabel="coordinate",
                title=rf"top-$k$ eigenvectors of $\nabla^2_{{11}}\hat R$ (M = "
                      rf"{p.heldout_per_dim} d)")
    axes[2].set(xlabel="coordinate", title=r"top-$k$ eigenvectors of $\hat G_{11}$")
    fig.suptitle(f"Fig. 2.2, seed {p.seeds[0]}; data: {res.source}", fontsize=8)
    fig.tight_layout()
    return saved_figure(fig, "06_gmm_vectors", res.dirs["figures"])


def plot_xor(res: Results) -> Any:
    """Fig. 2.4-2.5: first-layer and ``v`` alignments over time (first seed), and the
    eigenvalues of the ``vv`` blocks."""
    import matplotlib.pyplot as plt

    p = res.params
    xor = res.runs["xor"][p.seeds[0]]
    w = xor["v2"] / xor["v2"].sum(1, keepdims=True)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for i in range(p.xor_width):
        lw = 0.4 + 2 * w[-1, i]
        axes[0].plot(xor["times"], xor["align_W_H"][:, i], lw=lw)
        axes[1].plot(xor["times"], xor["align_W_G"][:, i], lw=lw)
    for ax, mat in zip(axes[:2], "HG"):
        ax.plot(xor["times"], (w * xor[f"align_W_{mat}"]).sum(1), "k-", lw=2.5,
                label=r"$v_i^2$-weighted mean")
        ax.plot(xor["times"], xor[f"align_W_{mat}"].mean(1), "k:", lw=1.5, label="all-row mean")
        ax.plot(xor["times"], xor[f"align_v_{mat}"], "k--", lw=1.5,
                label=r"$v$ vs $E_4$ ($vv$ block)")
        ax.axhline(res.threshold, color="gray", lw=0.8)
        ax.set(xlabel=r"time $\ell\delta$", ylim=(0, 1.02))
    axes[0].set(ylabel="alignment",
                title=r"$W_i$ vs $E_2(\nabla^2_{W_iW_i}\hat R)$ (width $\propto v_i^2$)")
    axes[1].set(title=r"$W_i$ vs $E_2(\hat G_{W_iW_i})$")
    axes[0].legend(fontsize=7)
    for j in range(p.xor_width):
        axes[2].plot(xor["times"], xor["eig_vv_H"][:, j], lw=0.8)
        axes[3].plot(xor["times"], xor["eig_vv_G"][:, j], lw=0.8)
    axes[2].set(xlabel=r"time $\ell\delta$", ylabel="eigenvalue", yscale="log",
                title=r"eigenvalues of $\nabla^2_{vv}\hat R$")
    axes[3].set(xlabel=r"time $\ell\delta$", yscale="log", title=r"eigenvalues of $\hat G_{vv}$")
    fig.suptitle(f"Fig. 2.4-2.5: K = {p.xor_width}, d = {p.xor_d}, seed {p.seeds[0]}; "
                 f"data: XOR {res.source}", fontsize=8)
    fig.tight_layout()
    return saved_figure(fig, "06_xor", res.dirs["figures"])
