"""Chapter 04, optimisation outside the zone: Section 5 and App. E (Figures 7, 8, 9, 11, 12).

LeNet-300-100 on Fashion-MNIST (``L = 3``) and LeNet-5 on CIFAR-10 (``L = 5``) are trained
from ``alpha * theta_0`` (Kaiming ``theta_0``) by full-batch gradient descent at ``T = 1``
with the effective rate ``eta = eta0 * alpha^(2 - L)``
(:func:`goldilocks_nb.training.train_grid`, resumable run store). The science (definitions of
the uniform phase, of "trains", of the divergence regime, the Figure 7 taxonomy, the
staircase bisection, admissibility, ROC AUC) lives in :mod:`goldilocks_nb.regimes`; this
module holds the parameters, the studies that train and measure, the verdicts and the plots.

Design (a CPU budget instead of uniform grids): per ``alpha`` the largest trainable
``eta0`` is found by bisection on a x2 ladder (seed ``seed``); the boundary configurations
(largest trainable rung and the next one up) are retrained on every seed of ``seeds``;
``||H||_2`` is measured on the training set (same ``N``) at initialisation and, for
``alpha < 1``, at re-entry (the step the softmax leaves the uniform phase), exactly
(Lanczos) and by the authors' 20-step power iteration.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import regimes as rg
from ..contract import (
    ChapterParams,
    Verdict,
    inconclusive,
    paper_quote,
    params_dataclass,
    record_verdict,
    seed_agreement,
    verdict_over_seeds,
)
from ..data import DATASETS, Dataset, load_dataset
from ..functional import get_params, scale_params
from ..models import build_model, num_parameters
from ..notebook import resolve_device, resolve_dtype
from ..results import ResultsDir, cached, saved_figure
from ..training.descent import effective_learning_rate

__all__ = [
    "MODELS",
    "DEPTH",
    "Context",
    "EVIDENCE",
    "PLOTS",
    "Params",
    "Results",
    "judge",
    "load",
    "measured_lines",
    "plot_figure7",
    "plot_figure8",
    "plot_figure9",
    "plot_figure11",
    "plot_figure12",
    "plot_predictors",
    "plot_random_labels",
    "record",
    "run",
    "staircase_study",
    "full_zone",
    "full_zone_arguments",
    "full_zone_text",
    "run_table",
    "verdict_b2",
    "verdict_c16",
    "verdict_c17",
    "verdict_c18",
    "verdict_c19",
    "rate_bracket",
    "verdict_c20",
    "verdict_c21",
    "verdict_c22",
    "verdict_c23",
    "uniform_entropy_gap",
    "uso_parting",
    "uso_study",
    "random_label_study",
]

#: The chapter's two models, each paired with its dataset (``Params.datasets``) in order.
MODELS = ("lenet-300-100", "lenet-5")
#: Degree of homogeneity ``L`` (number of layers) of each model: ``eta = eta0 alpha^(2-L)``.
DEPTH = {"lenet-300-100": 3, "lenet-5": 5}
#: Version of this chapter's cached computations (bump when their meaning changes).
CACHE_VERSION = "2"


def _per_model(a: Any, b: Any):
    return lambda: {"lenet-300-100": a, "lenet-5": b}


@params_dataclass
class Params(ChapterParams):
    """Parameters of chapter 04 (defaults: the smoke profile).

    Attributes:
        datasets: one dataset per model of :data:`MODELS`, same order.
        n_train, n_test: class-balanced training / held-out images per model.
        alphas: initialisation scales per model (must contain 1, the positive control).
        eta0_range: ``[lowest, highest]`` rung of the x2 ``eta0`` ladder per model.
        steps, log_every: full-batch gradient steps and logging interval per model.
        seed: the seed of the bisection; seeds: the seeds of the boundary configurations
            (must contain ``seed``).
        entropy_margin, acc_margin, rise_tol, zero_logit_threshold, lazy_cos, lazy_gap: the
            definitions of :class:`goldilocks_nb.regimes.Definitions`.
        sharpness_tol: Lanczos tolerance of ``||H||_2``; power_iters: the authors' power
            iterations (20).
        zone_n, zone_d, zone_seeds: images, subspace dimension and subspace seeds of the
            Goldilocks zone ``||G||_2 >= ||H-term||_2`` on the training alpha grid.
        full_zone_n, full_zone_n_low, full_zone_full_from, full_zone_alpha_grid,
            full_zone_d, full_zone_seeds: LeNet-5's zone against ``N`` up to the whole
            training split (:func:`goldilocks_nb.zone_n.zone_against_n`), the zone C20 is
            judged against; the profiles give them the values of chapter 01's ``zone_n``,
            ``zone_n_low``, ``zone_full_from``, ``zone_alpha_grid`` (LeNet-5), ``zone_d``
            and ``zone_seeds``, so both chapters share one cached computation (chapter 01's
            ``init_seed`` and ``data_seed``: 0).
        probe_seeds, probe_l2: linear probes on penultimate features (Fig. 12 left).
        uso_alphas, uso_eta0, uso_steps, uso_log_every: Figure 11 (LeNet-300-100).
        rotation_cos: the USO parameters count as rotated once ``cos(theta_t, theta_0)`` is
            below this; restart_fracs: restarts at these fractions of the measured rotation
            step (plus t = 0); restart_eta0, restart_steps: the restarts' rate and length.
        part_tol: relative deviation of the rescaled norms that counts as "parted".
        random_n, random_alphas, random_eta0, random_steps: random-label runs (C22).
        full_train_acc: training accuracy that counts as zero training error (C19).
        min_test_gap, probe_margin: C19's test gap and "marginal" probe difference.
        restart_margin: increase of the restart training error that counts as "hurts".
        zero_appear: least peak share of zero-logit samples that counts as "appear" (C22).
        agreement_min: least share of admissible configurations that must train (C18) and
            of too-large-rate runs that must diverge or zero their logits (C17).
        paper_trainable_alpha: C20's bound (1.8).
        auc_resamples, auc_min_class: bootstrap resamples of the AUC and least runs per
            class ("trains" / not) for B2.
        dtype: ``"float64"`` (smoke: outputs stable across CPUs) or ``"float32"``.
        cpu_gflops, gpu_tflops: assumed sustained rates for the cost estimates of
            "inconclusive" verdicts (planning numbers, not measurements).
        torch_threads: CPU threads for torch (0: torch's default).
    """

    notebook = "04_optimization_regimes"
    datasets: list[str] = field(default_factory=lambda: ["fashion-mnist-embedded",
                                                         "cifar10-embedded"])
    n_train: dict[str, int] = field(default_factory=_per_model(100, 20))
    n_test: dict[str, int] = field(default_factory=_per_model(100, 50))
    alphas: dict[str, list[float]] = field(
        default_factory=_per_model([0.1, 1.0, 1000.0], [1.0, 10.0]))
    eta0_range: dict[str, list[float]] = field(
        default_factory=_per_model([0.05, 0.8], [0.05, 0.4]))
    steps: dict[str, int] = field(default_factory=_per_model(40, 10))
    log_every: dict[str, int] = field(default_factory=_per_model(4, 5))
    seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    # the definitions' thresholds: defaults from their one home, regimes.Definitions
    entropy_margin: float = rg.Definitions.entropy_margin
    acc_margin: float = rg.Definitions.acc_margin
    rise_tol: float = rg.Definitions.rise_tol
    zero_logit_threshold: float = rg.Definitions.zero_logit_threshold
    lazy_cos: float = rg.Definitions.lazy_cos
    lazy_gap: float = rg.Definitions.lazy_gap
    sharpness_tol: float = 0.05
    power_iters: int = 20
    zone_n: int = 20
    zone_d: int = 5
    zone_seeds: list[int] = field(default_factory=lambda: [0])
    full_zone_n: list[int] = field(default_factory=lambda: [10, 30, 100])
    full_zone_n_low: int = 30
    full_zone_full_from: float = 3.0
    full_zone_alpha_grid: list[float] = field(default_factory=lambda: [0.1, 30.0, 9])
    full_zone_d: int = 3
    full_zone_seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    probe_seeds: list[int] = field(default_factory=lambda: [0])
    probe_l2: float = 1e-3
    uso_alphas: list[float] = field(default_factory=lambda: [0.1, 0.3])
    uso_eta0: float = 0.05
    uso_steps: int = 20
    uso_log_every: int = 2
    rotation_cos: float = 0.5
    restart_fracs: list[float] = field(default_factory=lambda: [0.5, 1.0, 1.5])
    restart_eta0: float = 0.1
    restart_steps: int = 10
    part_tol: float = 0.01
    random_n: int = 100
    random_alphas: list[float] = field(default_factory=lambda: [1.0])
    random_eta0: float = 0.5
    random_steps: int = 20
    full_train_acc: float = 0.99
    min_test_gap: float = 0.03
    probe_margin: float = 0.03
    restart_margin: float = 0.05
    zero_appear: float = 0.05
    agreement_min: float = 0.8
    paper_trainable_alpha: float = 1.8
    auc_resamples: int = 200
    auc_min_class: int = 3
    dtype: str = "float64"
    cpu_gflops: float = 5.0
    gpu_tflops: float = 25.0
    torch_threads: int = 1

    def check(self) -> None:
        self.require(len(self.datasets) == len(MODELS), "datasets", self.datasets,
                     f"{len(MODELS)} names, one per model {MODELS}")
        self.require_in("datasets", self.datasets, DATASETS)
        self.require("gaussian" not in self.datasets, "datasets", self.datasets,
                     "real or embedded datasets (not 'gaussian')")
        for name in ("n_train", "n_test", "alphas", "eta0_range", "steps", "log_every"):
            value = getattr(self, name)
            self.require(set(value) == set(MODELS), name, value,
                         f"a mapping with exactly the keys {list(MODELS)}")
        self.require_at_least("n_train", self.n_train, 10)
        self.require_at_least("n_test", self.n_test, 10)
        for m in MODELS:
            vals = self.alphas[m]
            self.require(len(vals) >= 2 and len(set(vals)) == len(vals)
                         and list(vals) == sorted(vals), "alphas", self.alphas,
                         "at least 2 increasing alphas per model without repeats")
            self.require(1.0 in vals, "alphas", self.alphas,
                         "alpha = 1 in every model's list (the positive control)")
            lo_hi = self.eta0_range[m]
            self.require(len(lo_hi) == 2 and 0 < lo_hi[0] < lo_hi[1], "eta0_range",
                         self.eta0_range, "[lowest, highest] with 0 < lowest < highest")
            self.require(self.log_every[m] <= self.steps[m], "log_every", self.log_every,
                         "<= steps of the same model")
        self.require_positive("alphas", self.alphas)
        self.require_at_least("steps", self.steps, 1)
        self.require_at_least("log_every", self.log_every, 1)
        self.require_at_least("seed", self.seed, 0)
        self.require(self.seed in self.seeds and len(set(self.seeds)) == len(self.seeds),
                     "seeds", self.seeds, "distinct seeds that contain `seed`")
        self.require_at_least("seeds", self.seeds, 0)
        self.require_in("dtype", self.dtype, ("float32", "float64"))
        for name in ("entropy_margin", "acc_margin", "rise_tol", "zero_logit_threshold",
                     "lazy_cos", "lazy_gap", "full_train_acc", "zero_appear", "rotation_cos"):
            v = getattr(self, name)
            self.require(0 < v < 1, name, v, "strictly between 0 and 1")
        for name in ("sharpness_tol", "probe_l2", "uso_eta0", "part_tol", "restart_eta0",
                     "random_eta0", "paper_trainable_alpha", "gpu_tflops", "cpu_gflops"):
            self.require_positive(name, getattr(self, name))
        self.require_at_least("power_iters", self.power_iters, 1)
        self.require_at_least("zone_n", self.zone_n, 2)
        self.require_at_least("zone_d", self.zone_d, 1)
        for m in self.alphas:  # checked here, not after the grid has trained (issue 20)
            size = num_parameters(build_model(m))
            self.require(self.zone_d <= size, "zone_d", self.zone_d,
                         f"<= the number of parameters of {m} ({size:,})")
        self.require(len(self.zone_seeds) > 0, "zone_seeds", self.zone_seeds, "non-empty")
        ns = self.full_zone_n
        self.require(len(ns) >= 2 and ns[0] >= 2 and all(b > a for a, b in zip(ns, ns[1:])),
                     "full_zone_n", ns, ">= 2 increasing sizes >= 2")
        self.require(self.full_zone_n_low in ns, "full_zone_n_low", self.full_zone_n_low,
                     f"one of full_zone_n = {ns}")
        self.require_log_grid("full_zone_alpha_grid", self.full_zone_alpha_grid, min_num=5,
                              straddle_one=True)
        lo, hi = self.full_zone_alpha_grid[:2]
        self.require(lo < self.full_zone_full_from <= hi, "full_zone_full_from",
                     self.full_zone_full_from, f"in ({lo:g}, {hi:g}] (full_zone_alpha_grid)")
        self.require_at_least("full_zone_d", self.full_zone_d, 1)
        self.require(len(self.full_zone_seeds) > 0 and len(set(self.full_zone_seeds)) ==
                     len(self.full_zone_seeds), "full_zone_seeds", self.full_zone_seeds,
                     "distinct subspace seeds")
        self.require(len(self.probe_seeds) > 0 and len(set(self.probe_seeds)) ==
                     len(self.probe_seeds), "probe_seeds", self.probe_seeds,
                     "a non-empty list without repeats")
        self.require(len(self.uso_alphas) > 0 and all(0 < a < 1 for a in self.uso_alphas),
                     "uso_alphas", self.uso_alphas,
                     "non-empty, values in (0, 1) (Fig. 11 studies small initialisations)")
        self.require_at_least("uso_steps", self.uso_steps, 2)
        self.require_at_least("uso_log_every", self.uso_log_every, 1)
        self.require(len(self.restart_fracs) > 0 and all(f > 0 for f in self.restart_fracs),
                     "restart_fracs", self.restart_fracs, "non-empty, positive fractions")
        self.require_at_least("restart_steps", self.restart_steps, 1)
        self.require_at_least("random_n", self.random_n, 10)
        self.require(len(self.random_alphas) > 0, "random_alphas", self.random_alphas,
                     "non-empty")
        self.require_positive("random_alphas", self.random_alphas)
        self.require_at_least("random_steps", self.random_steps, 2)
        self.require(0 < self.agreement_min <= 1, "agreement_min", self.agreement_min,
                     "in (0, 1]")
        for name in ("min_test_gap", "probe_margin", "restart_margin"):
            v = getattr(self, name)
            self.require(0 <= v < 1, name, v, "in [0, 1)")
        self.require_at_least("auc_resamples", self.auc_resamples, 10)
        self.require_at_least("auc_min_class", self.auc_min_class, 1)
        self.require_at_least("torch_threads", self.torch_threads, 0)

    def definitions(self) -> rg.Definitions:
        """The operational definitions of Section 5's terms at these thresholds."""
        return rg.Definitions(entropy_margin=self.entropy_margin, acc_margin=self.acc_margin,
                              rise_tol=self.rise_tol,
                              zero_logit_threshold=self.zero_logit_threshold,
                              lazy_cos=self.lazy_cos, lazy_gap=self.lazy_gap)


# ----------------------------------------------------------------------------- context


@dataclass
class Context:
    """Data, models, cache locations and every run trained so far (by configuration)."""

    params: Params
    device: torch.device
    train: dict[str, Dataset]
    test: dict[str, Dataset]
    models: dict[str, torch.nn.Module]
    runs_dir: str
    cache_dir: str
    runs: dict[str, dict[tuple[float, float, int], tuple[Any, int]]] = field(
        default_factory=lambda: {m: {} for m in MODELS})

    def source(self, model: str) -> str:
        """The data source of a model's runs (train and test)."""
        return f"{self.train[model].source}; test: {self.test[model].source}"

    def short_source(self, model: str) -> str:
        return self.train[model].source.split(",")[0]

    def key(self, model: str, **extra: Any) -> dict[str, Any]:
        p = self.params
        return {"model": model, "source": self.source(model), "n_train": p.n_train[model],
                "n_test": p.n_test[model], "seed": p.seed, "dtype": p.dtype, **extra}

    def cached(self, name: str, key: Mapping[str, Any], compute):
        return cached(f"04_{name}", key, compute, cache_dir=self.cache_dir,
                      version=CACHE_VERSION)

    def log(self, model: str, alpha: float, eta0: float, seed: int) -> pd.DataFrame:
        """The log of one trained configuration."""
        grid, run = self.runs[model][(float(alpha), float(eta0), int(seed))]
        return grid.log[grid.log.run == run]

    def final_params(self, model: str, alpha: float, eta0: float, seed: int):
        grid, run = self.runs[model][(float(alpha), float(eta0), int(seed))]
        return grid.final_params(run)


def load(params: Params) -> Context:
    """Load the data subsets and build the models (nothing trained yet)."""
    dev = resolve_device(params.device)
    root = ResultsDir(params.results_dir).create()
    train, test, models = {}, {}, {}
    for m, ds in zip(MODELS, params.datasets):
        train[m] = load_dataset(ds, "train", n=params.n_train[m], seed=params.seed)
        test[m] = load_dataset(ds, "test", n=params.n_test[m], seed=params.seed)
        models[m] = build_model(m, seed=params.seed, input_shape=tuple(train[m].X.shape[1:]))
    return Context(params, dev, train, test, models, str(root.cache / "04_runs"),
                   str(root.cache))


def _grid(ctx: Context, model: str, *, alphas, eta0s, seeds, steps, log_every, rule="gd",
          labels="true", init_params=None, train=None, progress=False):
    from ..training import Data, Execution, Grid, GridSpec, Record, Schedule, train_grid

    return train_grid(GridSpec(
        Data(ctx.models[model], train if train is not None else ctx.train[model],
             ctx.test[model], dtype=resolve_dtype(ctx.params.dtype)),
        Grid(alphas, eta0s, seeds, init_params=init_params),
        Schedule(steps, rule=rule, labels=labels),
        Record(log_every, sharpness_steps=(), checkpoint_every=max(log_every, min(steps, 100))),
        Execution(str(ctx.device), cache_dir=ctx.runs_dir, progress=progress)))


def train_configs(ctx: Context, model: str, configs: Sequence[tuple[float, float]],
                  seeds: Sequence[int], *, progress: bool = False) -> None:
    """Train ``(alpha, eta0)`` configurations on ``seeds`` (one batched call per ``eta0``)
    and register them in ``ctx.runs``; configurations already there are skipped."""
    p = ctx.params
    todo: dict[float, set[float]] = {}
    for a, e in configs:
        if any((float(a), float(e), int(s)) not in ctx.runs[model] for s in seeds):
            todo.setdefault(float(e), set()).add(float(a))
    for e, alphas in sorted(todo.items()):
        grid = _grid(ctx, model, alphas=sorted(alphas), eta0s=[e], seeds=list(seeds),
                     steps=p.steps[model], log_every=p.log_every[model], progress=progress)
        for row in grid.runs.itertuples():
            ctx.runs[model][(float(row.alpha), float(row.eta0), int(row.seed))] = (grid,
                                                                                  int(row.run))


def _trains(ctx: Context, model: str, alpha: float, eta0: float, seed: int) -> bool:
    d = ctx.params.definitions()
    return rg.trains_step(ctx.log(model, alpha, eta0, seed), ctx.train[model].num_classes,
                          d) is not None


# ----------------------------------------------------------------------------- staircase


def staircase_study(ctx: Context, model: str, *, progress: bool = False) -> dict[str, Any]:
    """Figure 8 left by bisection: per alpha the largest rung of the x2 ``eta0`` ladder that
    trains (seed ``seed``), then the boundary pair (that rung and the next one up) on every
    seed of ``seeds``. LeNet-5 alphas above ``paper_trainable_alpha`` (C20: "any learning
    rate") try every rung.

    Returns:
        ``{"rungs", "bisection" (per alpha, :func:`goldilocks_nb.regimes.bisect_ladder`),
        "boundary" (per alpha and seed: whether the pair reproduces the boundary)}``.
    """
    p = ctx.params
    rungs = rg.ladder(*p.eta0_range[model])

    def evaluate(configs):
        train_configs(ctx, model, configs, [p.seed], progress=progress)
        return [_trains(ctx, model, a, e, p.seed) for a, e in configs]

    bis = rg.bisect_ladder(p.alphas[model], rungs, evaluate)
    # C20 is about "any learning rate": above its bound (LeNet-5) trainability need not be
    # monotone in eta0 (small rates barely move), so every rung is tried there
    sweep = [a for a in p.alphas[model] if model == "lenet-5" and a > p.paper_trainable_alpha]
    if sweep:
        evaluate([(a, e) for a in sweep for e in rungs])
        for a in sweep:
            ok = [e for e in rungs if _trains(ctx, model, a, e, p.seed)]
            bis[a]["probes"] = {e: _trains(ctx, model, a, e, p.seed) for e in rungs}
            if ok:
                bis[a]["max_eta0"] = max(ok)
                bigger = [e for e in rungs if e > max(ok)]
                bis[a]["first_fail"] = bigger[0] if bigger else None
    pairs = [(a, e) for a, b in bis.items() for e in (b["max_eta0"], b["first_fail"])
             if e is not None]
    train_configs(ctx, model, pairs, p.seeds, progress=progress)
    boundary: dict[float, dict[int, dict[str, Any]]] = {}
    for a, b in bis.items():
        boundary[a] = {}
        for s in p.seeds:
            lo = b["max_eta0"] is None or _trains(ctx, model, a, b["max_eta0"], s)
            hi = b["first_fail"] is None or not _trains(ctx, model, a, b["first_fail"], s)
            boundary[a][s] = {"agrees": bool(lo and hi), "trains_at_max": bool(lo),
                              "fails_above": bool(hi)}
    return {"rungs": rungs, "bisection": bis, "boundary": boundary}


def per_seed_fits(study: Mapping[str, Any], seeds: Sequence[int]) -> dict[int, Any]:
    """Per seed: the staircase over alphas < 1 from the boundary pair retrained on that
    seed. The seed's largest trainable rung is ``first_fail`` if it trains there, else
    ``max_eta0`` if it trains there (alphas where neither trains are left out); its interval
    is one ladder step (x2) above it."""
    out = {}
    for s in seeds:
        al, mx = [], []
        for a, b in sorted(study["bisection"].items()):
            if a >= 1 or b["max_eta0"] is None or b["first_fail"] is None:
                continue
            bd = study["boundary"][a][s]
            m = (b["first_fail"] if not bd["fails_above"] else
                 b["max_eta0"] if bd["trains_at_max"] else None)
            if m is not None:
                al.append(a)
                mx.append(m)
        out[s] = rg.staircase_slope(al, mx, [2 * m for m in mx])
    return out


def staircase_fit(study: Mapping[str, Any]) -> dict[str, Any]:
    """The seed-``seed`` staircase over alphas < 1, the claim's range
    (:func:`.regimes.staircase_slope`)."""
    items = sorted((a, b) for a, b in study["bisection"].items() if a < 1)
    return rg.staircase_slope([a for a, _ in items], [b["max_eta0"] for _, b in items],
                              [b["first_fail"] for _, b in items])


# ----------------------------------------------------------------------------- curvature


def _hessian_norms(ctx: Context, model: str, theta: Mapping[str, torch.Tensor]
                   ) -> dict[str, float]:
    """``||H||_2`` on the whole training set: exact (Lanczos, largest magnitude, float64)
    and the authors' convention (20 power iterations, float32, non-negative start)."""
    from ..curvature import hessian_matmat, top_eigenpairs

    p = ctx.params
    tr = ctx.train[model]
    net = copy.deepcopy(ctx.models[model])
    th64 = {k: v.detach().double() for k, v in theta.items()}
    vals, _ = top_eigenpairs(net.double(), th64, tr.X.double(), tr.y, k=1, which="LM",
                             tol=p.sharpness_tol)
    net32 = copy.deepcopy(ctx.models[model]).float()
    th32 = {k: v.detach().float() for k, v in theta.items()}
    X32 = tr.X.float()
    dim = sum(v.numel() for v in th32.values())

    def hvp(v):
        return hessian_matmat(net32, th32, X32, tr.y, v.reshape(-1, 1))[:, 0]

    power = rg.power_iteration_sharpness(hvp, dim, iters=p.power_iters, seed=p.seed)
    return {"exact": abs(float(vals[0])), "power": float(power)}


def sharpness_study(ctx: Context, model: str, study: Mapping[str, Any]) -> dict[float, Any]:
    """Per alpha: ``||H||_2`` at ``alpha theta_0`` and, for alpha < 1 where the largest
    trainable configuration left the uniform phase, at that step (re-entry, Section 5);
    both exact and by power iteration. Cached."""
    p = ctx.params
    K = ctx.train[model].num_classes
    d = p.definitions()
    theta0 = get_params(ctx.models[model], dtype=torch.float64)
    plan = {}
    for a, b in study["bisection"].items():
        reentry = None
        if a < 1 and b["max_eta0"] is not None:
            step = rg.left_uniform_step(ctx.log(model, a, b["max_eta0"], p.seed), K, d)
            if step:
                reentry = (b["max_eta0"], int(step))
        plan[repr(a)] = reentry

    def compute():
        out = {}
        for ra, reentry in plan.items():
            a = float(ra)
            rec = {"init": _hessian_norms(ctx, model, scale_params(theta0, a)),
                   "reentry": None, "reentry_step": None, "reentry_eta0": None}
            if reentry is not None:
                e, step = reentry
                g = _grid(ctx, model, alphas=[a], eta0s=[e], seeds=[p.seed], steps=step,
                          log_every=step)
                rec["reentry"] = _hessian_norms(ctx, model, g.final_params(0))
                rec["reentry_step"], rec["reentry_eta0"] = step, e
            out[ra] = rec
        return out

    key = ctx.key(model, plan=plan, tol=p.sharpness_tol, iters=p.power_iters,
                  steps=p.steps[model], eta0_range=p.eta0_range[model])
    return {float(a): v for a, v in ctx.cached("sharpness", key, compute).items()}


def zone_study(ctx: Context, model: str) -> dict[str, Any]:
    """The Goldilocks zone ``||G||_2 >= ||H-term||_2`` (Eq. 5 and 6, chapter 01's criterion)
    on the training alpha grid, from ``zone_n`` training images in ``zone_d``-dimensional
    random subspaces (mean over ``zone_seeds``); intervals by
    :func:`goldilocks_nb.rescaling.dominance_range` (the one definition of the strip)."""
    from ..curvature import curvature_sweep
    from ..rescaling import dominance_range

    p = ctx.params
    grid = [float(a) for a in p.alphas[model]]
    n = min(p.zone_n, p.n_train[model])

    def compute():
        net = copy.deepcopy(ctx.models[model]).double()
        theta = get_params(net, dtype=torch.float64)
        recs = curvature_sweep(net, theta, ctx.train[model].X[:n].double(),
                               ctx.train[model].y[:n], alphas=grid, d=p.zone_d,
                               seeds=p.zone_seeds)
        g = [float(np.mean([r["g_term_spectral_norm"] for r in recs if r["alpha"] == a]))
             for a in grid]
        h = [float(np.mean([r["h_term_spectral_norm"] for r in recs if r["alpha"] == a]))
             for a in grid]
        return {"g": g, "h": h}

    res = ctx.cached("zone", ctx.key(model, grid=grid, n=n, d=p.zone_d, seeds=p.zone_seeds),
                     compute)
    g, h = np.array(res["g"]), np.array(res["h"])
    with np.errstate(divide="ignore"):
        score = np.log(np.where(g > 0, g, 1e-300) / h)
    return {"alphas": np.array(grid), "g": g, "h": h, "n": n, "score": score,
            "intervals": dominance_range(grid, g, h)}


def full_zone_arguments(p: Params) -> dict[str, Any]:
    """The arguments of :func:`goldilocks_nb.zone_n.zone_against_n` for LeNet-5 (equal to
    chapter 01's :func:`~goldilocks_nb.chapters.rescaling_symmetry.zone_arguments` when the
    profile gives both chapters the same values: one cache entry)."""
    from ..notebook import log_grid

    return dict(n=[int(v) for v in p.full_zone_n],
                alphas=log_grid(*p.full_zone_alpha_grid[:2], int(p.full_zone_alpha_grid[2])),
                full_from=float(p.full_zone_full_from), n_low=int(p.full_zone_n_low),
                d=int(p.full_zone_d), seeds=[int(s) for s in p.full_zone_seeds], init_seed=0,
                data_seed=0, dtype="float64")


def full_zone(ctx: Context, *, progress: bool = False) -> dict[str, Any]:
    """LeNet-5's zone ``||G||_2 >= ||H-term||_2`` at the largest ``N`` of ``full_zone_n``
    (the whole training split in the default and paper profiles), by the one shared
    computation :func:`goldilocks_nb.zone_n.zone_against_n` (cached with chapter 01's key).

    Returns:
        ``{"n", "full_n", "lower", "upper" (mean curve over subspaces), "per_seed_upper",
        "d", "seeds", "seconds", "dataset"}``.
    """
    from ..zone_n import edges_table, zone_against_n

    m5 = "lenet-5"
    tick = None
    if progress:
        last = [0.0]

        def tick(model: str, done: int, total: int) -> None:
            import time

            if time.time() - last[0] > 30 or done == total:
                last[0] = time.time()
                print(f"{model}: full-N zone, {done:,}/{total:,} images", flush=True)

    res = zone_against_n(m5, ctx.params.datasets[MODELS.index(m5)],
                         **full_zone_arguments(ctx.params), cache_dir=ctx.cache_dir,
                         progress=tick)
    et = edges_table(res, 0.5, DEPTH[m5])
    last_row = et["table"][-1]
    open_up = bool(last_row["dom_found"]) and last_row["dom_upper"] is None
    return {"n": int(last_row["n"]), "full_n": int(res["full_n"]),
            "lower": last_row["dom_lower"], "upper": last_row["dom_upper"],
            "upper_open": float(max(res["alphas"])) if open_up else None,
            "per_seed_upper": {int(s): e[-1]["dom_upper"] for s, e in et["per_seed"].items()},
            "d": int(res["d"]), "seeds": list(res["seeds"]), "seconds": float(res["seconds"]),
            "dataset": res["dataset"]}


def full_zone_text(res: Mapping[str, Any]) -> str:
    """One line: LeNet-5's zone at the full-N computation's largest N and, beside it, on
    the chapter's training images."""
    fz, m5 = res["full_zone"], "lenet-5"
    return (f"{m5} zone (||G||_2 >= ||H-term||_2, d = {fz['d']} x {len(fz['seeds'])} "
            f"subspaces): alpha in [{_fmt(fz['lower'])}, {_fmt(fz['upper'])}] on N = "
            f"{fz['n']:,} of the {fz['full_n']:,} training images; on this chapter's "
            f"{res[m5]['zone']['n']:,} training images it reaches "
            f"{_fmt(zone_upper(res[m5]['zone']))}")


def zone_contains(intervals: Sequence[tuple[float, float]], alpha: float) -> bool:
    """Whether ``alpha`` lies in one of the zone's intervals."""
    return any(lo <= alpha <= hi for lo, hi in intervals)


# ----------------------------------------------------------------------------- run table


def run_table(ctx: Context, model: str, sharp: Mapping[float, Any],
              zone: Mapping[str, Any]) -> pd.DataFrame:
    """One row per trained configuration and seed: Figure 7's regime and the predictors.

    Columns: ``model, alpha, eta0, seed, lr, regime, trains, left_step, trains_step,
    signature, overflow, final_zero, final_test_acc, max_test_acc, final_train_acc,
    final_cos0, max_norm, init_loss, init_entropy, sharp_init, sharp_init_power,
    sharp_used (re-entry for alpha < 1 where measured, else init), where ("re-entry" or
    "init"), lr_sharp, lr_sharp_power, admissible, admissible_power, zone_score, in_zone``.
    """
    p = ctx.params
    K = ctx.train[model].num_classes
    d = p.definitions()
    ctrl = [rg.classify_trajectory(ctx.log(model, 1.0, e, s), K, 1.0, d)
            for (a, e, s) in ctx.runs[model] if a == 1.0]
    ctrl_acc = max([c["final_test_acc"] for c in ctrl if c["trains"]], default=None)
    zscore = dict(zip(zone["alphas"].tolist(), zone["score"].tolist()))
    rows = []
    for (a, e, s) in sorted(ctx.runs[model]):
        log = ctx.log(model, a, e, s).sort_values("step")
        c = rg.classify_trajectory(log, K, a, d, control_test_acc=ctrl_acc)
        f = log[np.isfinite(log.train_loss)]
        sh = sharp.get(a)
        use = sh["reentry"] if sh and sh["reentry"] else (sh["init"] if sh else None)
        lr = float(log.lr.iloc[0])
        row = {"model": model, "alpha": a, "eta0": e, "seed": s, "lr": lr, **c,
               "final_train_acc": float(f.train_acc.iloc[-1]) if len(f) else math.nan,
               "max_norm": float(np.nanmax(log.param_norm.replace(np.inf, np.nan))),
               "init_loss": float(log.train_loss.iloc[0]),
               "init_entropy": float(log.entropy.iloc[0]),
               "sharp_init": sh["init"]["exact"] if sh else math.nan,
               "sharp_init_power": sh["init"]["power"] if sh else math.nan,
               "sharp_used": use["exact"] if use else math.nan,
               "sharp_used_power": use["power"] if use else math.nan,
               "where": "re-entry" if sh and sh["reentry"] else "init",
               "zone_score": zscore.get(a, math.nan),
               "in_zone": zone_contains(zone["intervals"], a)}
        row["lr_sharp"] = lr * row["sharp_used"]
        row["lr_sharp_power"] = lr * row["sharp_used_power"]
        row["lr_sharp_init"] = lr * row["sharp_init"]
        row["admissible"] = bool(row["lr_sharp"] < 2)
        row["admissible_power"] = bool(row["lr_sharp_power"] < 2)
        rows.append(row)
    return pd.DataFrame(rows)


def regime_rules_text(params: Params) -> str:
    """The definitions and rules with this profile's thresholds, one per line."""
    d = params.definitions()
    lines = [d.text()]
    subs = {"zero_logit_threshold": f"{d.zero_logit_threshold:g}", "lazy_cos": f"{d.lazy_cos:g}",
            "lazy_gap": f"{d.lazy_gap:g}"}
    for i, (name, text) in enumerate(rg.REGIME_RULES, 1):
        for k, v in subs.items():
            text = text.replace(k, f"{k} ({v})")
        lines.append(f"{i}. {name}: {text}")
    return "\n".join(lines)


def regime_pivot(table: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Regime per ``(eta0, alpha)`` of the bisection seed (rows: eta0 descending)."""
    t = table[table.seed == seed]
    return t.pivot(index="eta0", columns="alpha", values="regime").sort_index(
        ascending=False).fillna("")


def leave_rate(table: pd.DataFrame) -> float | None:
    """Measured ``left_step * eta0`` (median over runs that started uniform and left the
    uniform phase): leaving takes about this / eta0 steps (USO path, App. E)."""
    t = table[table.uniform_start & table.left_step.notna()]
    if not len(t):
        return None
    return float(np.median(t.left_step.astype(float) * t.eta0))


# ----------------------------------------------------------------------------- studies


def probe_study(ctx: Context, table: pd.DataFrame, *, progress: bool = False) -> pd.DataFrame:
    """Linear probes on penultimate features of LeNet-300-100: random inits, and at each
    alpha the largest trained ``eta0`` (trained on every probe seed), one probe per seed
    (Fig. 12 left, C19)."""
    from ..training import linear_probe

    p, model = ctx.params, "lenet-300-100"
    dt = resolve_dtype(p.dtype)
    net = ctx.models[model]
    train = (ctx.train[model].X.to(dt), ctx.train[model].y)
    test = (ctx.test[model].X.to(dt), ctx.test[model].y)
    t = table[(table.seed == p.seed) & table.trains]
    # the largest trained eta0 per alpha: the bisection's boundary rung, already trained on
    # every seed of `seeds`
    best = {float(a): float(g.eta0.max()) for a, g in t.groupby("alpha")}
    train_configs(ctx, model, list(best.items()), p.probe_seeds, progress=progress)

    def compute():
        rows = []
        for s in p.probe_seeds:
            theta0 = get_params(build_model(model, seed=s, input_shape=tuple(train[0].shape[1:])),
                                dtype=dt)
            r = linear_probe(net, theta0, train, test, seed=s, l2=p.probe_l2)
            rows.append({"alpha": math.nan, "seed": s, "kind": "random init",
                         "test_acc": r.test_accuracy})
        for a, e in best.items():
            for s in p.probe_seeds:
                grid, run = ctx.runs[model][(a, e, s)]
                if bool(grid.runs.set_index("run").diverged[run]):
                    continue
                r = linear_probe(net, ctx.final_params(model, a, e, s), train, test, seed=s,
                                 l2=p.probe_l2)
                rows.append({"alpha": a, "seed": s, "kind": "trained", "eta0": e,
                             "test_acc": r.test_accuracy})
        return rows

    key = ctx.key(model, best={repr(a): e for a, e in best.items()}, seeds=p.probe_seeds,
                  l2=p.probe_l2, steps=p.steps[model], fixed="per-run divergence")
    return pd.DataFrame(ctx.cached("probes", key, compute))


def uniform_entropy_gap(rel_tol: float) -> float:
    """The entropy gap ``log K - H(p)`` of a softmax output ``p`` whose probabilities depart
    from ``1/K`` by a relative RMS of ``rel_tol``.

    With ``p_k = (1 + d_k) / K`` and ``sum_k d_k = 0``, a second-order expansion of
    ``H(p) = -sum_k p_k log p_k`` gives ``log K - H(p) = sum_k d_k^2 / (2K) + O(d^3)
    = rel_tol^2 / 2 + O(rel_tol^3)``, with ``rel_tol^2 = sum_k d_k^2 / K``. C21 calls the
    output uniform up to the gap of the tolerance at which it calls two paths the same.
    """
    return rel_tol ** 2 / 2


def uso_parting(steps: np.ndarray, dev: np.ndarray, entropy: np.ndarray, num_classes: int,
                uniform_gap: float, part_tol: float) -> dict[str, Any]:
    """Where an alpha-scaled net leaves the USO path (Fig. 11 left).

    ``nonuniform_step``: first logged step with mean entropy below ``log K - uniform_gap``;
    ``part_step``: first with relative norm deviation above ``part_tol``; ``dev_before``:
    largest deviation before ``nonuniform_step`` (over all steps when never non-uniform).
    ``None`` where it does not happen.
    """
    logK = math.log(num_classes)
    nonuni = np.flatnonzero(entropy < logK - uniform_gap)
    parted = np.flatnonzero(dev > part_tol)
    nu = int(steps[nonuni[0]]) if len(nonuni) else None
    ps = int(steps[parted[0]]) if len(parted) else None
    before = dev[steps < nu] if nu is not None else dev
    return {"nonuniform_step": nu, "part_step": ps,
            "dev_before": float(np.nanmax(before)) if len(before) else math.nan,
            "dev_end": float(dev[-1]) if len(dev) else math.nan}


def restart_plan(rotation_step: int | None, overflow_step: int | None, uso_steps: int,
                 fracs: Sequence[float]) -> tuple[list[int], list[tuple[int, str]]]:
    """USO steps to restart from: 0 and ``round(f * rotation_step)`` for each fraction.

    Returns ``(kept, skipped)`` with a reason for every skipped step (beyond the USO run,
    at or after its overflow). Without a measured rotation, the fractions apply to
    ``uso_steps``."""
    base = rotation_step if rotation_step else uso_steps
    planned = sorted({0} | {max(1, int(round(f * base))) for f in fracs})
    kept, skipped = [], []
    for t in planned:
        if t > uso_steps:
            skipped.append((t, f"beyond the USO run ({uso_steps} steps)"))
        elif overflow_step is not None and t >= overflow_step:
            skipped.append((t, f"at or after the USO overflow (step {overflow_step})"))
        else:
            kept.append(t)
    return kept, skipped


def uso_study(ctx: Context, *, seed: int | None = None, progress: bool = False
              ) -> dict[str, Any]:
    """Figure 11 (C21) on one seed (default ``seed``): alpha-scaled nets (alpha < 1) against
    the USO model at one eta0, both from that seed's ``theta_0``, and training restarted from
    ``||theta_0|| theta_t / ||theta_t||`` at USO steps placed around the measured rotation
    (every skipped step reported)."""
    from ..training import kaiming_theta0, restart_params

    p, model = ctx.params, "lenet-300-100"
    seed = p.seed if seed is None else int(seed)
    K = ctx.train[model].num_classes
    nets = _grid(ctx, model, alphas=p.uso_alphas, eta0s=[p.uso_eta0], seeds=[seed],
                 steps=p.uso_steps, log_every=p.uso_log_every, progress=progress)
    uso = _grid(ctx, model, alphas=[1.0], eta0s=[p.uso_eta0], seeds=[seed],
                steps=p.uso_steps, log_every=p.uso_log_every, rule="uso", progress=progress)
    ulog = uso.log.set_index("step")
    compare = {}
    for a in p.uso_alphas:
        log = nets.log[np.isclose(nets.log.alpha, a)].set_index("step")
        steps = log.index.intersection(ulog.index)
        dev = (log.param_norm[steps] / a - ulog.param_norm[steps]).abs() / ulog.param_norm[steps]
        compare[a] = uso_parting(steps.to_numpy(), dev.to_numpy(),
                                 log.entropy[steps].to_numpy(), K,
                                 uniform_entropy_gap(p.part_tol), p.part_tol)
    fin = uso.log[np.isfinite(uso.log.param_norm)]
    rot = fin[fin.cos_theta0 < p.rotation_cos]
    rotation_step = int(rot.step.iloc[0]) if len(rot) else None
    overflow = int(uso.runs.diverged_step.iloc[0]) if bool(uso.runs.diverged.iloc[0]) else None
    kept, skipped = restart_plan(rotation_step, overflow, p.uso_steps, p.restart_fracs)
    theta0 = kaiming_theta0(ctx.models[model], seed, resolve_dtype(p.dtype))
    starts, ts = [], []
    for t in kept:
        if t == 0:
            theta_t = theta0
        else:
            res = _grid(ctx, model, alphas=[1.0], eta0s=[p.uso_eta0], seeds=[seed],
                        steps=t, log_every=t, rule="uso", progress=progress)
            if bool(res.runs.diverged.iloc[0]):
                skipped.append((t, "the USO run of t steps overflowed"))
                continue
            theta_t = res.final_params(0)
        starts.append(restart_params(theta_t, theta0))
        ts.append(t)
    rows = []
    if starts:
        res = _grid(ctx, model, alphas=[1.0], eta0s=[p.restart_eta0],
                    seeds=list(range(len(starts))), steps=p.restart_steps,
                    log_every=p.restart_steps, init_params=starts, progress=progress)
        for row in res.runs.itertuples():
            log = res.log[res.log.run == row.run]
            acc = float(log.train_acc.iloc[-1]) if not row.diverged else math.nan
            rows.append({"t": ts[int(row.seed)], "train_error": 1 - acc,
                         "test_acc": float(log.test_acc.iloc[-1]) if not row.diverged
                         else math.nan, "diverged": bool(row.diverged)})
    cos_at = {int(s): float(c) for s, c in zip(fin.step, fin.cos_theta0)}
    return {"seed": seed, "nets": nets.log, "uso": uso.log, "compare": compare,
            "rotation_step": rotation_step, "overflow_step": overflow,
            "skipped": sorted(skipped), "cos_at": cos_at,
            "restarts": pd.DataFrame(rows, columns=["t", "train_error", "test_acc",
                                                    "diverged"]).sort_values("t")}


def random_label_study(ctx: Context, *, progress: bool = False
                       ) -> dict[int, dict[tuple, pd.DataFrame]]:
    """LeNet-300-100 on ``random_n`` images with random labels, fixed vs redrawn at every
    step, at each of ``random_alphas`` (C22), on every seed of ``seeds`` (its ``theta_0``
    and its label draws; one batched grid per labelling): per seed, the logs by
    ``(labels, alpha)``."""
    p, model = ctx.params, "lenet-300-100"
    data = load_dataset(p.datasets[0], "train", n=p.random_n, seed=p.seed)
    out: dict[int, dict[tuple, pd.DataFrame]] = {int(s): {} for s in p.seeds}
    for labels in ("random-fixed", "random-redrawn"):
        g = _grid(ctx, model, alphas=p.random_alphas, eta0s=[p.random_eta0],
                  seeds=list(p.seeds), steps=p.random_steps,
                  log_every=max(1, p.random_steps // 50), labels=labels, train=data,
                  progress=progress)
        for s in p.seeds:
            for a in p.random_alphas:
                out[int(s)][(labels, float(a))] = g.log[np.isclose(g.log.alpha, a)
                                                        & (g.log.seed == s)]
    return out


def random_label_numbers(logs: Mapping[tuple, pd.DataFrame], full_train: float
                         ) -> dict[str, dict[str, Any]]:
    """Per ``labels @ alpha``: peak and final zero-logit share, the step of the peak, final
    train accuracy (own labels) and the step it first reached ``full_train``; the zero-logit
    share and train accuracy at the logged step nearest the middle of the run (``mid_*``:
    whether they still move over the second half)."""
    out = {}
    for (labels, a), log in logs.items():
        fin = log[np.isfinite(log.train_loss)]
        mem = fin[fin.train_acc >= full_train]
        mid = log.iloc[int(np.argmin(np.abs(log.step.to_numpy() - log.step.max() / 2)))]
        out[f"{labels} @ {a:g}"] = {
            "labels": labels, "alpha": a,
            "peak_zero": float(log.zero_logit_samples.max()),
            "peak_step": int(log.step.iloc[int(np.argmax(log.zero_logit_samples.to_numpy()))]),
            "final_zero": float(log.zero_logit_samples.iloc[-1]),
            "final_train_acc": float(fin.train_acc.iloc[-1]) if len(fin) else math.nan,
            "memorised_step": int(mem.step.iloc[0]) if len(mem) else None,
            "mid_step": int(mid.step), "mid_zero": float(mid.zero_logit_samples),
            "mid_train_acc": float(mid.train_acc)}
    return out


# ----------------------------------------------------------------------------- cost


def step_flops_per_sample(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """FLOPs of one forward + backward per training sample (``torch.utils.flop_counter``)."""
    from torch.func import functional_call, grad
    from torch.utils.flop_counter import FlopCounterMode

    params = {k: v.detach() for k, v in model.named_parameters()}
    Xs, ys = X[:2], y[:2]

    def loss(q):
        return torch.nn.functional.cross_entropy(functional_call(model, q, (Xs,)), ys)

    with FlopCounterMode(display=False) as counter:
        grad(loss)(params)
    return counter.get_total_flops() / Xs.shape[0]


def cost_text(flops: float, params: Params) -> str:
    """``flops`` as hours on this CPU and on a GPU at the assumed sustained rates."""
    cpu_h = flops / (params.cpu_gflops * 1e9) / 3600
    gpu_h = flops / (params.gpu_tflops * 1e12) / 3600
    return (f"about {flops:.2g} FLOP: ~{cpu_h:.2g} h on this CPU at {params.cpu_gflops:g} "
            f"GFLOP/s, ~{gpu_h * 60:.2g} min on one GPU at {params.gpu_tflops:g} TFLOP/s")


def run_flops(flops_per_sample: float, n_train: int, steps: int, runs: int) -> float:
    """FLOPs of ``runs`` full-batch runs of ``steps`` steps on ``n_train`` images."""
    return float(flops_per_sample) * n_train * steps * runs


def scale_notes(params: Params) -> list[str]:
    """What this profile scales down against the paper (Section 5), one line each."""
    notes = []
    full = {"lenet-300-100": 60000, "lenet-5": 50000}
    for m, ds in zip(MODELS, params.datasets):
        lo, hi = params.eta0_range[m]
        notes.append(f"{m}: {params.n_train[m]:,} training images of {ds} (paper: "
                     f"{full[m]:,}), {params.steps[m]:,} full-batch steps (paper: 20,000 "
                     f"epochs), alphas {', '.join(f'{a:g}' for a in params.alphas[m])}; "
                     f"eta0 by bisection on a x2 ladder {lo:g}..{hi:g}; held-out accuracy "
                     f"on {params.n_test[m]:,} test images; boundary on {len(params.seeds)} "
                     "seeds")
    notes.append(f"probes: {len(params.probe_seeds)} seed(s) (paper: 3); USO: "
                 f"{params.uso_steps:,} steps at eta0 = {params.uso_eta0:g} (paper: 0.0002 "
                 "over 20,000 epochs); random labels on "
                 f"{params.random_n:,} images")
    return notes


# ----------------------------------------------------------------------------- measurements


def too_large_counts(table: pd.DataFrame, study: Mapping[str, Any]) -> dict[str, int]:
    """Runs whose ``eta0`` is above the largest trainable rung at their alpha (alphas where
    some rung trains) and their outcome: ``diverged`` (overflow, or left the uniform phase
    without training and the norm still growing at the end), ``zero_logits`` (final share
    above the threshold), ``undecided`` (still uniform at the budget's end), ``stalled``."""
    out = {"too_large": 0, "diverged": 0, "zero_logits": 0, "undecided": 0, "stalled": 0}
    for a, b in study["bisection"].items():
        if b["max_eta0"] is None:
            continue
        big = table[(table.alpha == a) & (table.eta0 > b["max_eta0"])]
        for r in big.itertuples():
            out["too_large"] += 1
            if r.regime == "uniform at budget end":
                out["undecided"] += 1
            elif r.regime == "zero logits" or r.final_zero > 0.75 and not r.trains:
                out["zero_logits"] += 1
            elif r.overflow or (r.regime == "continue diverging" and r.still_growing):
                out["diverged"] += 1
            else:
                out["stalled"] += 1
    return out


def admissibility(tables: Sequence[pd.DataFrame]) -> dict[str, Any]:
    """Admissible (``eta ||H||_2 < 2``) configurations and how many train, with ``||H||_2``
    exact and by the authors' power iteration; alpha < 1 configurations use ``||H||_2`` at
    re-entry where measured (column ``where``)."""
    df = pd.concat(tables, ignore_index=True)
    df = df[np.isfinite(df.lr_sharp)]
    out = {}
    for name, col in (("exact", "admissible"), ("power", "admissible_power")):
        adm = df[df[col]]
        bad = df[~df[col]]
        out[name] = {"admissible": int(len(adm)), "admissible_trains": int(adm.trains.sum()),
                     "inadmissible": int(len(bad)), "inadmissible_trains": int(bad.trains.sum())}
    out["reentry_small_alpha"] = int(((df.alpha < 1) & (df["where"] == "re-entry")).sum())
    out["flipped_by_power"] = int((df.admissible != df.admissible_power).sum())
    return out


def init_overstatement(study: Mapping[str, Any], sharp: Mapping[float, Any], depth: int
                       ) -> dict[float, float]:
    """Per alpha < 1 with a finite largest trainable rung: the max eta0 that ``eta ||H||_2
    < 2`` at initialisation allows (``2 / (alpha^(2-L) ||H_init||_2)``) divided by the
    measured largest trainable eta0: the factor by which the limit read from the
    initialisation overstates the trainable rate."""
    out = {}
    for a, b in study["bisection"].items():
        if a < 1 and b["max_eta0"] is not None and a in sharp:
            limit = 2 / (effective_learning_rate(1.0, a, depth) * sharp[a]["init"]["exact"])
            out[a] = limit / b["max_eta0"]
    return out


def zone_alignment(table: pd.DataFrame, zone: Mapping[str, Any]) -> str:
    """Where the zone and trainability disagree in one model's runs ('' when they agree):
    alphas inside the zone where nothing trains, alphas outside it where runs train."""
    inside_dead, outside_ok = [], []
    for a, g in table.groupby("alpha"):
        z = zone_contains(zone["intervals"], float(a))
        if z and not g.trains.any():
            inside_dead.append(float(a))
        if not z and g.trains.any():
            outside_ok.append(float(a))
    parts = []
    if inside_dead:
        parts.append("nothing trains inside the zone at alpha " + ", ".join(
            f"{a:g}" for a in inside_dead))
    if outside_ok:
        parts.append("runs train outside the zone at alpha " + ", ".join(
            f"{a:g}" for a in outside_ok))
    return "; ".join(parts)


def zone_upper(zone: Mapping[str, Any], at: float = 1.0) -> float | None:
    """Upper end of the zone interval holding ``at`` (None when ``at`` is outside)."""
    for lo, hi in zone["intervals"]:
        if lo <= at <= hi:
            return float(hi)
    return None


def regime_counts(tables: Sequence[pd.DataFrame]) -> dict[str, int]:
    """Runs per regime, in :data:`goldilocks_nb.regimes.REGIMES` order."""
    df = pd.concat(tables, ignore_index=True)
    return {r: int((df.regime == r).sum()) for r in rg.REGIMES}


def regime_preconditions(tables: Sequence[pd.DataFrame]) -> dict[str, bool]:
    """Per paper regime, whether the runs could show it: the small-alpha outcomes need a run
    that started uniform and left the uniform phase; lazy needs a trained alpha > 1 run;
    divergence and zero logits need an alpha > 1 run."""
    df = pd.concat(tables, ignore_index=True)
    left = bool((df.uniform_start & df.left_step.notna()).any())
    big = df[df.alpha > 1]
    return {"return to the zone": left, "continue diverging": left,
            "lazy": bool(big.trains.any()), "diverged": bool(len(big)),
            "zero logits": bool(len(big))}


PREDICTORS = {
    "positive curvature at init (log ||G||/||H-term||)": ("zone_score", 1),
    "eta ||H||_2 at init (lower: admissible)": ("lr_sharp_init", -1),
    "initial loss (lower)": ("init_loss", -1),
    "initial softmax entropy": ("init_entropy", 1),
}


def predictor_table(tables: Sequence[pd.DataFrame], params: Params) -> pd.DataFrame:
    """ROC AUC (bootstrap interval) of each of :data:`PREDICTORS` for "trains" over every
    trained configuration and seed of both models (B2)."""
    df = pd.concat(tables, ignore_index=True)
    rows = []
    for name, (col, sign) in PREDICTORS.items():
        ok = df[np.isfinite(df[col])]
        r = rg.auc_with_interval(sign * ok[col].to_numpy(), ok.trains.to_numpy(),
                                 n_resamples=params.auc_resamples, seed=params.seed)
        rows.append({"predictor": name, "auc": r["auc"], "lo": r["lo"], "hi": r["hi"],
                     "runs": int(len(ok)), "trains": int(ok.trains.sum())})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- verdicts


def _fmt(x: float | None, spec: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "none"
    text = format(float(x) + 0.0, spec)
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def verdict_c16(fits: Mapping[str, Mapping[str, Any]], per_seed: Mapping[int, bool],
                signature_seen: Mapping[str, bool], *, depth: Mapping[str, int], needed: str,
                definition: str = "") -> Verdict:
    """C16: the staircase of the largest trainable eta0 for alpha < 1, after a divergence
    phase.

    Paper (App. E): "The left plots in Figure 8 reveal that the maximum admissible base
    learning rate eta0 that yields convergence is linearly related to alpha, forming a
    linear "staircase"-like separation between trainable and non-trainable setups."

    The paper's derivation (``eta = eta0 alpha^(2-L) < 2/||H||_2`` with ``||H||_2`` constant at
    re-entry) gives slope ``L - 2``; its written relation ``eta0 alpha^-1`` is ``L = 3``.

    Args:
        fits: per model, :func:`goldilocks_nb.regimes.staircase_slope` (``slope`` None when
            fewer than 2 alphas <= 1 have a boundary inside the ladder).
        per_seed: seed -> whether the staircase of the boundary pairs retrained on that
            seed is consistent with the derivation's slope ``L - 2`` (or undecided).
        signature_seen: per model, whether a "return to the zone" run (divergence signature,
            then trains) was seen.
        depth: ``L`` per model.
        needed: the scale that would decide the slope where it is not measurable.
    """
    quote = paper_quote(verdict_c16)
    support = {m: rg.slope_support(f, depth[m]) for m, f in fits.items()}
    measured = "; ".join(
        f"{m} (L = {depth[m]}): slope {_fmt(f['slope'], '.2f')} (ladder allows "
        f"[{_fmt(f['lo'], '.2f')}, {_fmt(f['hi'], '.2f')}]) over {f['points']} alphas < 1, "
        f"supports {support[m]}" for m, f in fits.items())
    measured += ("; divergence phase then training seen for: "
                 + (", ".join(m for m, s in signature_seen.items() if s) or "none")
                 + f"; per-seed staircases consistent with L - 2 on "
                 f"{seed_agreement(per_seed)}")
    values = {"fits": {m: dict(f) for m, f in fits.items()}, "support": support,
              "signature_seen": dict(signature_seen),
              "per_seed": {str(k): bool(v) for k, v in per_seed.items()}}
    key = ", ".join(f"{m} slope {_fmt(f['slope'], '.2f')}" for m, f in fits.items())
    kw = {"values": values, "key": key, "quote": quote, "definition": definition}
    fitted = [m for m, s in support.items() if s != "undecided"]
    if not fitted:
        return inconclusive("C16", measured, "no model has 2 alphas < 1 whose largest "
                            "trainable eta0 lies inside the ladder at this step budget, or "
                            "the ladder cannot tell slope 1 from L - 2", needed, **kw)
    reasons = []
    for m in fitted:
        if support[m] == "L-2":
            reasons.append(f"{m}: slope {_fmt(fits[m]['slope'], '.2f')} supports the "
                           f"derivation's L - 2 = {depth[m] - 2}, not the written linear "
                           "relation (which is the L = 3 case)")
        elif support[m] == "neither":
            pred = ("1 (= L - 2 for L = 3)" if depth[m] == 3
                    else f"1 nor L - 2 = {depth[m] - 2}")
            reasons.append(f"{m}: slope {_fmt(fits[m]['slope'], '.2f')} (range "
                           f"[{_fmt(fits[m]['lo'], '.2f')}, {_fmt(fits[m]['hi'], '.2f')}]) "
                           f"fits neither {pred}")
    if not any(signature_seen.values()):
        reasons.append("no alpha < 1 run showed the divergence signature before training")
    held = sum(per_seed.values())
    if held * 2 <= len(per_seed):
        reasons.append(f"the per-seed staircases agree on only {seed_agreement(per_seed)}")
    if not reasons:
        return Verdict("C16", "reproduced", measured, **kw)
    ok = [m for m in fitted if support[m] in ("both", "linear")]
    return Verdict("C16", "partly" if ok or any(support[m] == "L-2" for m in fitted)
                   else "not reproduced", measured, "; ".join(reasons), **kw)


def verdict_c17(counts: Mapping[str, Mapping[str, int]], *, min_share: float, needed: str,
                definition: str = "") -> Verdict:
    """C17: too-large rates diverge or develop zero logits.

    Paper (Section 5): "When the learning rate is too high, however, the network breezes
    past the Goldilocks zone and either diverges to infinity or develops an increasing
    amount of zero logits"

    Args:
        counts: per model :func:`too_large_counts`.
        min_share: least share of the decided too-large runs that must diverge or zero
            their logits.
        needed: the scale that would decide the undecided (still uniform) runs.
    """
    n = sum(c["too_large"] for c in counts.values())
    und = sum(c["undecided"] for c in counts.values())
    dz = sum(c["diverged"] + c["zero_logits"] for c in counts.values())
    decided = n - und
    share = dz / decided if decided else math.nan
    measured = "; ".join(f"{m}: {c['too_large']} runs above the largest trainable eta0: "
                         f"{c['diverged']} diverged, {c['zero_logits']} zero logits, "
                         f"{c['stalled']} stalled, {c['undecided']} still uniform"
                         for m, c in counts.items())
    kw = {"values": {"counts": {m: dict(c) for m, c in counts.items()}, "share": share},
          "key": f"{dz}/{decided} decided runs diverge or zero logits",
          "quote": paper_quote(verdict_c17), "definition": definition}
    if decided == 0:
        return inconclusive("C17", measured, "no run above a trainable eta0 left the uniform "
                            "phase or overflowed within the step budget", needed, **kw)
    if share >= min_share:
        return Verdict("C17", "reproduced", measured, **kw)
    return Verdict("C17", "partly" if dz else "not reproduced", measured,
                   f"{dz} of {decided} decided too-large-rate runs ({share:.0%}, < "
                   f"{min_share:.0%}) diverged or developed zero logits; the others stalled "
                   "finite", **kw)


def verdict_c18(adm: Mapping[str, Any], misaligned: Mapping[str, str],
                overstatement: Mapping[str, Mapping[float, float]], *, agreement_min: float,
                needed: str, min_admissible: int = 3, definition: str = "") -> Verdict:
    """C18: admissible rates (eta ||H||_2 < 2, ||H||_2 at re-entry) train; the zone is not
    aligned with the trainability boundaries.

    Paper (Section 5): "Once the weights become sufficiently large for the predictions to
    become non-uniform, the network circles back to the Goldilocks zone and trains normally
    thereafter provided that the learning rate is approximately admissible"

    Args:
        adm: :func:`admissibility` (exact and power-iteration counts).
        misaligned: per model, :func:`zone_alignment` ('' where aligned).
        overstatement: per model and alpha < 1, :func:`init_overstatement`.
        agreement_min: least share of admissible configurations that must train.
        needed: the scale (rungs, steps) that would give enough admissible configurations.
        min_admissible: least admissible configurations for the implication to be read
            (the project's rule of >= 3 for what decides a verdict).
    """
    ex, pw = adm["exact"], adm["power"]
    share = ex["admissible_trains"] / ex["admissible"] if ex["admissible"] else math.nan
    mis = {m: t for m, t in misaligned.items() if t}
    over = {m: {repr(a): v for a, v in o.items()} for m, o in overstatement.items()}
    measured = (f"{ex['admissible_trains']}/{ex['admissible']} admissible configurations "
                f"train (exact ||H||_2; authors' 20-step power iteration: "
                f"{pw['admissible_trains']}/{pw['admissible']}, admissibility of "
                f"{adm['flipped_by_power']} configurations flips); {adm['reentry_small_alpha']} "
                "alpha < 1 configurations judged at re-entry; "
                f"{ex['inadmissible_trains']}/{ex['inadmissible']} inadmissible configurations "
                "train too; the init-sharpness limit exceeds the largest trainable eta0 by: "
                + "; ".join(f"{m}: " + ", ".join(f"alpha {a:g}: {v:.2g}x" for a, v in o.items())
                            for m, o in overstatement.items() if o)
                + "; zone vs trainability: "
                + "; ".join(f"{m}: {t or 'aligned'}" for m, t in misaligned.items()))
    kw = {"values": {"admissibility": dict(adm), "share": share, "misaligned": dict(misaligned),
                     "init_overstatement": over},
          "key": f"{ex['admissible_trains']}/{ex['admissible']} admissible train",
          "quote": paper_quote(verdict_c18), "definition": definition}
    if ex["admissible"] < min_admissible or adm["reentry_small_alpha"] == 0:
        return inconclusive("C18", measured, "no alpha < 1 run re-entered (left the uniform "
                            "phase) within the step budget, so ||H||_2 at re-entry is not "
                            "measured" if adm["reentry_small_alpha"] == 0 else
                            f"only {ex['admissible']} admissible configuration(s) in the runs "
                            f"(< {min_admissible}): the ladder's rungs lie above 2/||H||_2",
                            needed, **kw)
    implies = share >= agreement_min
    reasons = []
    if not implies:
        reasons.append(f"only {share:.0%} of admissible configurations train (< "
                       f"{agreement_min:.0%})")
    if not mis:
        reasons.append("the zone lines up with the trainability boundaries on these alphas")
    if not reasons:
        return Verdict("C18", "reproduced", measured, **kw)
    return Verdict("C18", "partly" if implies or mis else "not reproduced", measured,
                   "; ".join(reasons), **kw)


def verdict_c19(train_acc_big: float | None, test_acc_big: float | None,
                test_acc_1: float | None, probe_big: Mapping[int, float],
                probe_random: Mapping[int, float], probe_1: Mapping[int, float], *,
                full_train: float, min_gap: float, probe_margin: float, needed: str,
                definition: str = "") -> Verdict:
    """C19: at alpha = 1000 LeNet-300-100 learns in the lazy regime.

    Paper (Section 5): "while the training error of LeNet-300-100 reaches zero, the test
    accuracy saturates at 75%, which is 10% lower than that of the unscaled network,
    suggesting lazy learning"

    Args:
        train_acc_big, test_acc_big: the best trained alpha = 1000 configuration's final
            train / held-out accuracy (None: none trains).
        test_acc_1: the best alpha = 1 configuration's final held-out accuracy.
        probe_big, probe_random, probe_1: per seed, linear-probe held-out accuracy on
            penultimate features (Fig. 12 left).
        full_train: training accuracy that counts as zero training error.
        min_gap: least held-out gap alpha = 1 minus alpha = 1000.
        probe_margin: probe gains below this are "marginal"; alpha = 1's must exceed it.
        needed: the steps that would bring alpha = 1000 to zero training error.
    """
    quote = paper_quote(verdict_c19)
    if train_acc_big is None or test_acc_big is None or test_acc_1 is None:
        return inconclusive("C19", "no trained run at alpha = 1000 or alpha = 1",
                            "no alpha = 1000 (or alpha = 1) configuration trains within the "
                            "budget", needed, quote=quote, definition=definition)
    gap = test_acc_1 - test_acc_big
    seeds = sorted(set(probe_big) & set(probe_random) & set(probe_1))
    per_seed = {s: bool(probe_big[s] - probe_random[s] <= probe_margin
                        and probe_1[s] - probe_big[s] > probe_margin) for s in seeds}

    def mean(d: Mapping[int, float]) -> float:
        return float(np.mean([d[s] for s in seeds])) if seeds else math.nan

    measured = (f"alpha = 1000: train acc {train_acc_big:.3f}, held-out acc "
                f"{test_acc_big:.3f}; alpha = 1: held-out acc {test_acc_1:.3f} (gap "
                f"{gap:+.3f}); probes (mean of {len(seeds)} seeds): alpha = 1000 "
                f"{mean(probe_big):.3f}, alpha = 1 {mean(probe_1):.3f}, random init "
                f"{mean(probe_random):.3f}; lazy probe pattern on "
                + (seed_agreement(per_seed) if per_seed else "no seed"))
    kw = {"values": {"train_acc_1000": train_acc_big, "test_acc_1000": test_acc_big,
                     "test_acc_1": test_acc_1, "gap": gap,
                     "per_seed": {str(s): {"probe_1000": probe_big[s], "probe_1": probe_1[s],
                                           "probe_random": probe_random[s]} for s in seeds}},
          "key": f"held-out {test_acc_big:.2f} vs {test_acc_1:.2f}", "quote": quote,
          "definition": definition}
    if train_acc_big < full_train:
        return inconclusive("C19", measured, f"alpha = 1000 reached train accuracy "
                            f"{train_acc_big:.3f} < {full_train:g} within the budget (zero "
                            "training error not reached)", needed, **kw)
    checks = {f"held-out gap >= {min_gap:g}": gap >= min_gap}
    if per_seed:
        checks[f"probe pattern (alpha=1000 within {probe_margin:g} of random init, alpha=1 "
               f"above alpha=1000 by > {probe_margin:g}) on a majority of seeds"] = (
            2 * sum(per_seed.values()) > len(per_seed))
    failed = [k for k, ok in checks.items() if not ok]
    if not failed:
        return Verdict("C19", "reproduced", measured, **kw)
    return Verdict("C19", "partly" if len(failed) < len(checks) else "not reproduced",
                   measured, "failed: " + "; ".join(failed), **kw)


def rate_bracket(table: pd.DataFrame, alphas: Sequence[float], *,
                 zero_threshold: float) -> dict[float, dict[str, Any]]:
    """Per alpha, whether the ``eta0`` ladder reaches the too-fast side (C20's resolution).

    Of the runs at the largest ``eta0`` tried at ``alpha`` (any seed): too fast when one
    overflowed, ended in the ``diverged`` or ``zero logits`` regime, or ended with more than
    ``zero_threshold`` of the samples at zero logits (Fig. 8 middle: "too large learning
    rates either diverge or develop zero logits").

    Returns:
        ``{alpha: {"top_eta0", "too_fast", "outcome"}}`` (``outcome``: the top rung's
        regimes, joined).
    """
    out = {}
    for a in alphas:
        at = table[table.alpha == a]
        if not len(at):
            continue
        top = float(at.eta0.max())
        rows = at[at.eta0 == top]
        fast = (rows.overflow.astype(bool) | rows.regime.isin(["diverged", "zero logits"])
                | (rows.final_zero > zero_threshold))
        out[float(a)] = {"top_eta0": top, "too_fast": bool(fast.any()),
                         "outcome": "/".join(sorted(set(rows.regime.astype(str))))}
    return out


def verdict_c20(control_test_acc: float | None, chance: float, trained_above: Sequence[float],
                tested_above: Sequence[float], zone_upper_alpha: float | None, zone_n: int,
                max_zero_untrained: float, per_seed: Mapping[int, bool], *,
                paper_alpha: float, zero_threshold: float, acc_margin: float, needed: str,
                definition: str = "", zone_full_n: int | None = None,
                train_zone_upper: float | None = None,
                train_zone_n: int | None = None,
                zone_upper_open: float | None = None,
                rate_bracket: Mapping[float, Mapping[str, Any]] | None = None) -> Verdict:
    """C20: LeNet-5 does not train above chance for alpha > 1.8 although the zone extends
    further; zero logits emerge.

    Paper (Section 5): "Indeed, LeNet-5 does not perform above random for any alpha > 1.8
    and any learning rate, whereas the corresponding Goldilocks zone spans alpha in [1, 18]."

    Args:
        control_test_acc: best held-out accuracy of a trained alpha = 1 configuration (None:
            the positive control does not train).
        chance: ``1/K``.
        trained_above / tested_above: alphas > paper_alpha with a trained configuration /
            that were tried.
        zone_upper_alpha: the zone's upper edge (largest alpha with G dominating),
            measured on ``zone_n`` images; the paper's statement is about the full
            training split (``zone_full_n`` images), so the chapter passes the zone at
            ``zone_n = zone_full_n`` (:func:`full_zone`); the zone's upper edge grows with
            ``N`` (chapter 01, B1).
        train_zone_upper, train_zone_n: the zone on the chapter's training images, shown
            beside it (not judged).
        zone_upper_open: the alpha grid's last value when the G-term still dominates there
            (the zone is open upwards, ``zone_upper_alpha`` is None): the zone then extends
            at least that far.
        max_zero_untrained: largest final zero-logit share of untrained alpha > 1 runs.
        per_seed: seed -> whether nothing above paper_alpha trains on that seed (boundary
            configurations).
        rate_bracket: per alpha > paper_alpha, :func:`rate_bracket`: the largest ``eta0``
            tried and whether a run there is too fast (diverged, overflow or zero logits,
            Fig. 8 middle). "Any learning rate" is covered only when the ladder reaches the
            too-fast side at every such alpha: a ladder that stops among slow, untrained
            rates leaves larger rates untried, and "nothing trains" is then the ladder's
            range, not the paper's claim (inconclusive). None: not checked.
    """
    quote = paper_quote(verdict_c20)
    reach = (f"beyond the grid's last alpha {zone_upper_open:g}"
             if zone_upper_alpha is None and zone_upper_open is not None
             else f"alpha = {_fmt(zone_upper_alpha)}")
    full_note = ("" if zone_full_n is None else ", the full training split" if
                 zone_n >= zone_full_n else f" of the {zone_full_n:,} in the training split")
    train_note = ("" if train_zone_upper is None and train_zone_n is None else
                  f" (on the {train_zone_n:,} training images: {_fmt(train_zone_upper)})")
    measured = (f"alpha = 1 control: held-out acc {_fmt(control_test_acc)} (chance "
                f"{chance:.2f}); alphas > {paper_alpha:g} tried: "
                f"{', '.join(f'{a:g}' for a in tested_above) or 'none'}, trained: "
                f"{', '.join(f'{a:g}' for a in trained_above) or 'none'}; zone (N = {zone_n:,} "
                f"images{full_note}) reaches {reach}{train_note}; "
                f"largest final zero-logit "
                f"share of untrained alpha > 1 runs {max_zero_untrained:.2f}; nothing above "
                f"{paper_alpha:g} trains on {seed_agreement(per_seed)}")
    kw = {"values": {"control_test_acc": control_test_acc, "trained_above": list(trained_above),
                     "tested_above": list(tested_above), "zone_upper": zone_upper_alpha,
                     "zone_n": zone_n, "zone_full_n": zone_full_n,
                     "zone_upper_open": zone_upper_open,
                     "train_zone_upper": train_zone_upper, "train_zone_n": train_zone_n,
                     "max_zero_untrained": max_zero_untrained,
                     "per_seed": {str(s): bool(v) for s, v in per_seed.items()}},
          "key": f"trains above {paper_alpha:g}: {'yes' if trained_above else 'no'}",
          "quote": quote, "definition": definition}
    if control_test_acc is None or control_test_acc < chance + acc_margin:
        return inconclusive("C20", measured, "the alpha = 1 positive control does not "
                            "generalise above chance at this training-set size and budget",
                            needed, **kw)
    if not tested_above:
        return inconclusive("C20", measured, f"no alpha > {paper_alpha:g} was tried", needed,
                            **kw)
    if rate_bracket is not None:
        kw["values"]["rate_bracket"] = {str(a): dict(b) for a, b in rate_bracket.items()}
        open_top = {a: b for a, b in rate_bracket.items() if not b["too_fast"]}
        tops = ", ".join(f"alpha = {a:g}: top eta0 {b['top_eta0']:g} "
                         f"{'too fast (' + b['outcome'] + ')' if b['too_fast'] else b['outcome']}"
                         for a, b in sorted(rate_bracket.items()))
        measured += f"; eta0 ladder top: {tops}"
        if open_top and not trained_above:
            return inconclusive(
                "C20", measured,
                "the eta0 ladder stops below the too-fast rates (divergence or zero logits, "
                "Fig. 8 middle) at alpha = " + ", ".join(f"{a:g}" for a in sorted(open_top))
                + ": a larger rate was not tried, so 'any learning rate' is not covered",
                f"eta0 rungs above {max(b['top_eta0'] for b in open_top.values()):g} at "
                f"those alphas until a run diverges or develops zero logits; {needed}", **kw)
    checks = {f"nothing trains above alpha = {paper_alpha:g}": not trained_above,
              f"the zone (N = {zone_n:,}) extends beyond alpha = {paper_alpha:g}": (
                  (zone_upper_alpha is not None and zone_upper_alpha > paper_alpha)
                  or (zone_upper_alpha is None and zone_upper_open is not None
                      and zone_upper_open > paper_alpha)),
              f"zero logits (> {zero_threshold:g} of samples) in untrained alpha > 1 runs": (
                  max_zero_untrained > zero_threshold)}
    failed = [k for k, ok in checks.items() if not ok]
    if not failed:
        return Verdict("C20", "reproduced", measured, **kw)
    core = checks[f"nothing trains above alpha = {paper_alpha:g}"]
    return Verdict("C20", "partly" if core else "not reproduced", measured,
                   "failed: " + "; ".join(failed), **kw)


def verdict_c21(compare: Mapping[float, Mapping[str, Any]], rotation_step: int | None,
                restart_errors: Sequence[tuple[int, float]], skipped: Sequence[tuple[int, str]],
                *, part_tol: float, restart_margin: float, needed: str,
                definition: str = "") -> Verdict:
    """C21: alpha < 1 nets follow the USO path while uniform; longer USO divergence rotates
    the parameters and hurts training from the rescaled direction.

    Paper (App. E, Fig. 11): "The alpha-scaled networks follow the same exact divergence
    path as the USO model until their weights grow large enough to make softmax output
    non-uniform."

    "Same path" and "uniform" are read at one tolerance: the rescaled norms agree with the
    USO norm to ``part_tol`` (relative) while the softmax output is uniform to ``part_tol``
    (relative RMS departure from ``1/K``, :func:`uniform_entropy_gap`). Pairing a 1 % path
    tolerance with the regime definitions' entropy margin (0.05 nats, about a 30 % departure
    from ``1/K``) instead would call outputs uniform that are visibly not, and the deviation
    grows with the departure (Fig. 11 left).

    Args:
        compare: per alpha, :func:`uso_parting`'s numbers.
        rotation_step: first USO step with ``cos(theta_t, theta_0) < rotation_cos`` (None:
            no rotation within the USO run).
        restart_errors: ``(t, final training error)`` of the restarts.
        skipped: ``(t, reason)`` of every planned restart not run.
        part_tol: deviation that counts as parted; restart_margin: error increase that
            counts as hurting.
        needed: the USO steps that would reach the rotation / a re-entry.
    """
    # a net whose softmax is non-uniform from its first step has no uniform phase to judge
    judged = {a: c for a, c in compare.items() if not math.isnan(c["dev_before"])}
    follow = all(c["dev_before"] <= part_tol for c in judged.values())
    left = {a: c for a, c in compare.items() if c["nonuniform_step"] is not None}
    part_ok = all(c["part_step"] is not None and c["part_step"] >= c["nonuniform_step"]
                  for c in left.values())
    errs = dict(restart_errors)
    after = [e for t, e in restart_errors if rotation_step is not None and t >= rotation_step
             and not math.isnan(e)]
    base = errs.get(0, math.nan)
    measured = "; ".join(
        f"alpha={a:g}: "
        + (f"max deviation while uniform {c['dev_before']:.1e}, softmax non-uniform at step "
           f"{_fmt(c['nonuniform_step'], 'g')}" if a in judged else
           "softmax non-uniform from step 0 (no uniform phase: not judged)")
        + f", parts at step {_fmt(c['part_step'], 'g')}"
        for a, c in compare.items())
    measured += (f"; USO rotation (cos < threshold) at step {_fmt(rotation_step, 'g')}; "
                 "restart train error " + ", ".join(f"t={t}: {e:.3f}" for t, e in restart_errors)
                 + "; skipped restarts: "
                 + (", ".join(f"t={t} ({why})" for t, why in skipped) or "none"))
    kw = {"values": {"compare": {repr(a): dict(c) for a, c in compare.items()},
                     "rotation_step": rotation_step,
                     "restart_errors": [list(x) for x in restart_errors],
                     "skipped": [list(x) for x in skipped]},
          "key": f"{len(left)}/{len(compare)} nets part; rotation at {_fmt(rotation_step, 'g')}",
          "quote": paper_quote(verdict_c21), "definition": definition}
    if not follow:
        return Verdict("C21", "not reproduced", measured, "the rescaled nets deviate from the "
                       f"USO path by more than {part_tol:g} while their softmax is uniform",
                       **kw)
    if left and not part_ok:
        return Verdict("C21", "partly", measured, "a net parted from the USO path before its "
                       "softmax left the uniform phase", **kw)
    undecided = []
    if not judged:
        undecided.append("no net's softmax is uniform at initialisation (smaller alphas "
                         "needed)")
    if not left:
        undecided.append("no net left the uniform softmax within the USO run")
    if rotation_step is None:
        undecided.append("the USO parameters did not rotate within the run")
    elif not after or math.isnan(base):
        undecided.append("no restart at or after the rotation (or at t = 0) was run")
    if undecided:
        return inconclusive("C21", measured, "; ".join(undecided), needed, **kw)
    if max(after) - base >= restart_margin:
        return Verdict("C21", "reproduced", measured, **kw)
    return Verdict("C21", "partly", measured, f"restarts after the rotation end with train "
                   f"error {max(after):.3f} vs {base:.3f} at t = 0 (increase < "
                   f"{restart_margin:g})", **kw)


def verdict_c22(numbers: Mapping[str, Mapping[str, Any]], *, appear: float, needed: str,
                vanish_ratio: float = 0.5, definition: str = "") -> Verdict:
    """C22: random labels: zero logits appear early and vanish as fixed labels are
    memorised; redrawing the labels makes them worse.

    Paper (Section 5): "This condition arises early in training and disappears, provided
    that the labels remain fixed, as the network memorizes the correct output. On the other
    hand, it only gets worse if labels are randomized on every iteration"

    Args:
        numbers: :func:`random_label_numbers` (``"<labels> @ <alpha>"`` keys).
        appear: least peak share of zero-logit samples that counts as "appear".
        vanish_ratio: the final share must fall below this fraction of the peak.
    """
    fixed = {v["alpha"]: v for v in numbers.values() if v["labels"] == "random-fixed"}
    redrawn = {v["alpha"]: v for v in numbers.values() if v["labels"] == "random-redrawn"}
    measured = "; ".join(
        f"alpha {a:g}: fixed peak {f['peak_zero']:.2f} at step {f['peak_step']}, final "
        f"{f['final_zero']:.2f}, memorised at step {_fmt(f['memorised_step'], 'g')}; redrawn "
        f"peak {redrawn[a]['peak_zero']:.2f}, final {redrawn[a]['final_zero']:.2f}"
        for a, f in fixed.items() if a in redrawn)
    kw = {"values": {k: dict(v) for k, v in numbers.items()},
          "key": ", ".join(f"alpha {a:g}: fixed final {f['final_zero']:.2f}"
                           for a, f in fixed.items()),
          "quote": paper_quote(verdict_c22), "definition": definition}
    seen = [a for a, f in fixed.items() if f["peak_zero"] >= appear]
    if not seen and not any(v["peak_zero"] >= appear for v in redrawn.values()):
        return inconclusive("C22", measured, f"zero logits (peak share >= {appear:g}) appear "
                            "in no random-label run at these rates and alphas", needed, **kw)
    checks = {f"zero logits appear with fixed labels (peak >= {appear:g})": bool(seen)}
    undecided = []
    for a in seen:
        f, r = fixed[a], redrawn[a]
        if f["memorised_step"] is None:
            trend = (f" (from step {f['mid_step']} to the end: train acc "
                     f"{f['mid_train_acc']:.2f} -> {f['final_train_acc']:.2f}, zero-logit "
                     f"share {f['mid_zero']:.2f} -> {f['final_zero']:.2f})")
            undecided.append(f"alpha {a:g}: the fixed labels are not memorised within the "
                             f"budget{trend}, so vanishing cannot be judged")
        else:
            checks[f"alpha {a:g}: they vanish once memorised (final <= {vanish_ratio:g} x "
                   "peak)"] = f["final_zero"] <= vanish_ratio * f["peak_zero"]
        checks[f"alpha {a:g}: redrawn labels end with more zero logits"] = (
            r["final_zero"] > f["final_zero"])
    failed = [k for k, ok in checks.items() if not ok]
    if not failed and undecided and not any("vanish" in k for k in checks):
        return inconclusive("C22", measured, "; ".join(undecided), needed, **kw)
    if not failed:
        return Verdict("C22", "reproduced", measured, **kw)
    return Verdict("C22", "partly" if len(failed) < len(checks) else "not reproduced",
                   measured, "failed: " + "; ".join(failed), **kw)


def verdict_c23(counts: Mapping[str, int], preconditions: Mapping[str, bool], *, needed: str,
                definition: str = "") -> Verdict:
    """C23: the taxonomy of Figure 7.

    Paper (Fig. 7): "Homogeneous networks with large-norm initializations either diverge,
    develop an increasing number of samples with zero logits, or learn in the lazy regime.
    Homogeneous networks with small-norm initializations diverge as long as their output
    remains uniform and either circle back to the Goldilocks zone and train normally, or
    continue diverging"

    Args:
        counts: runs per regime (:func:`regime_counts`).
        preconditions: per paper regime, whether the runs could show it
            (:func:`regime_preconditions`).
    """
    seen = [r for r in rg.PAPER_REGIMES if counts.get(r, 0) > 0]
    missing = [r for r in rg.PAPER_REGIMES if r not in seen]
    blind = [r for r in missing if not preconditions.get(r, True)]
    measured = ", ".join(f"{r}: {counts.get(r, 0)}" for r in rg.REGIMES)
    kw = {"values": {"counts": dict(counts), "observed": seen, "missing": missing,
                     "not_visible": blind},
          "key": f"{len(seen)}/{len(rg.PAPER_REGIMES)} regimes seen",
          "quote": paper_quote(verdict_c23), "definition": definition}
    if not missing:
        return Verdict("C23", "reproduced", measured, **kw)
    if len(blind) == len(missing):
        return inconclusive("C23", measured, "not visible at this scale: " + ", ".join(blind)
                            + " (their preconditions are not met by the runs)", needed, **kw)
    real = [r for r in missing if r not in blind]
    return Verdict("C23", "partly" if len(seen) * 2 >= len(rg.PAPER_REGIMES) else
                   "not reproduced", measured, "not observed although visible: "
                   + ", ".join(real) + (f"; not visible at this scale: {', '.join(blind)}"
                                        if blind else ""), **kw)


def verdict_b2(table: pd.DataFrame, *, min_class: int, needed: str,
               definition: str = "") -> Verdict:
    """B2 (the book's own): how well positive curvature at initialisation predicts
    trainability, against eta ||H||_2, the initial loss and the initial softmax entropy.

    Paper (Section 1): "Our investigation shows that excess of positive curvature is an
    imperfect estimator of the initialization trainability"

    Args:
        table: :func:`predictor_table` (first row: positive curvature).
        min_class: least runs in each class (trains / does not) for an AUC to be read.
    """
    rows = {r.predictor: r for r in table.itertuples()}
    curv = table.iloc[0]
    measured = "; ".join(f"{r.predictor}: AUC {r.auc:.2f} [{r.lo:.2f}, {r.hi:.2f}]"
                         for r in table.itertuples())
    measured += f" over {int(curv.runs)} runs ({int(curv.trains)} train)"
    kw = {"values": {name: {"auc": r.auc, "lo": r.lo, "hi": r.hi, "runs": r.runs,
                            "trains": r.trains} for name, r in rows.items()},
          "key": f"positive curvature AUC {curv.auc:.2f}",
          "quote": paper_quote(verdict_b2), "definition": definition}
    if min(curv.trains, curv.runs - curv.trains) < min_class:
        return inconclusive("B2", measured, f"fewer than {min_class} runs in a class "
                            "(trains / does not)", needed, **kw)
    if curv.hi < 1:
        return Verdict("B2", "reproduced", measured, **kw)
    if curv.auc >= 1:
        return Verdict("B2", "not reproduced", measured, "positive curvature at init separates "
                       "the runs that train from those that do not perfectly (AUC 1)", **kw)
    return inconclusive("B2", measured, "the bootstrap interval of the AUC reaches 1 (a "
                        "perfect predictor is not excluded by these runs)", needed, **kw)


# ----------------------------------------------------------------------------- chapter


def admissible_configs(ctx: Context, model: str, sharp: Mapping[float, Any]
                       ) -> list[tuple[float, float]]:
    """Per alpha, the largest ladder rung with ``eta ||H||_2 < 2`` (``||H||_2`` at re-entry
    for alpha < 1 where measured, else at init): the configurations C18's implication
    "admissible => trains" is about (the bisection's rungs may all lie above it)."""
    rungs = rg.ladder(*ctx.params.eta0_range[model])
    out = []
    for a, sh in sorted(sharp.items()):
        use = sh["reentry"] or sh["init"]
        bound = 2 * a ** (DEPTH[model] - 2) / use["exact"]
        below = [e for e in rungs if e < bound]
        if below:
            out.append((a, max(below)))
    return out


def study_model(ctx: Context, model: str, *, progress: bool = False) -> dict[str, Any]:
    """Everything Figure 8 needs for one model: the staircase bisection with its boundary
    seeds, ``||H||_2`` (init, re-entry; exact and power), the largest admissible rung per
    alpha on every seed, the zone, the run table."""
    study = staircase_study(ctx, model, progress=progress)
    sharp = sharpness_study(ctx, model, study)
    train_configs(ctx, model, admissible_configs(ctx, model, sharp), ctx.params.seeds,
                  progress=progress)
    zone = zone_study(ctx, model)
    table = run_table(ctx, model, sharp, zone)
    return {"study": study, "sharp": sharp, "zone": zone, "table": table,
            "fit": staircase_fit(study)}


def _bisection_runs(params: Params, model: str) -> int:
    n_alpha = len(params.alphas[model])
    rounds = math.ceil(math.log2(len(rg.ladder(*params.eta0_range[model])) + 1))
    return n_alpha * (rounds + 2 * (len(params.seeds) - 1))


def needed_texts(ctx: Context, res: Mapping[str, Any], flops: Mapping[str, float]
                 ) -> dict[str, str]:
    """Per claim, the scale that would decide it and its estimated cost, from the measured
    rates (steps to leave the uniform phase ~ rate / eta0, the staircase's fit)."""
    p = ctx.params
    out = {}
    parts = []
    for m in MODELS:
        t = res[m]["table"]
        rate = leave_rate(t)
        small = [a for a in p.alphas[m] if a < 1]
        if not small:
            continue
        a_min = min(small)
        known = [(a, b["max_eta0"]) for a, b in res[m]["study"]["bisection"].items()
                 if a < 1 and b["max_eta0"] is not None]
        L = DEPTH[m]
        if known:
            a0, e0 = max(known)
            eta = e0 * (a_min / a0) ** (L - 2)
            basis = f"max eta0 {e0:g} at alpha {a0:g} scaled by alpha^(L-2)"
        else:
            eta = p.eta0_range[m][0]
            basis = "the ladder's lowest rung (no alpha < 1 trained)"
        if rate is None:
            parts.append(f"{m}: no run left the uniform phase, so the rate is unmeasured; "
                         f"at least {p.steps[m] * 4:,} steps ({basis})")
            steps = p.steps[m] * 4
        else:
            steps = int(math.ceil(2 * rate / eta))
            parts.append(f"{m}: leaving the uniform phase takes ~{rate:.2g}/eta0 steps "
                         f"(measured); at alpha = {a_min:g} the boundary eta0 ~ {eta:.2g} "
                         f"({basis}) needs ~{steps:,} steps (2x margin)")
        cost = run_flops(flops[m], p.n_train[m], steps, _bisection_runs(p, m))
        parts[-1] += f", {_bisection_runs(p, m)} runs: {cost_text(cost, p)}"
    out["staircase"] = "; ".join(parts) or "alphas < 1 in the profile"
    m = "lenet-300-100"
    out["C19"] = (f"{4 * p.steps[m]:,} steps at alpha = 1000 (4x): "
                  + cost_text(run_flops(flops[m], p.n_train[m], 4 * p.steps[m],
                                        len(p.probe_seeds) * 3), p))
    m5 = "lenet-5"
    out["C20"] = (f"an alpha = 1 control that generalises: 4x the images ({4 * p.n_train[m5]:,})"
                  f" and 2x the steps ({2 * p.steps[m5]:,}): "
                  + cost_text(run_flops(flops[m5], 4 * p.n_train[m5], 2 * p.steps[m5],
                                        _bisection_runs(p, m5)), p))
    out["C21"] = (f"a USO run of {4 * p.uso_steps:,} steps (4x) with its restarts, on each "
                  f"of {len(p.seeds)} seeds: "
                  + cost_text(run_flops(flops[m], p.n_train[m], 4 * p.uso_steps
                                        + len(p.restart_fracs) * p.restart_steps,
                                        (1 + len(p.uso_alphas)) * len(p.seeds)), p))
    out["C22"] = (f"a sweep of 5 eta0 x {len(p.random_alphas)} alphas on {p.random_n:,} images,"
                  f" {2 * p.random_steps:,} steps, {len(p.seeds)} seeds: "
                  + cost_text(run_flops(flops[m], p.random_n, 2 * p.random_steps,
                                        10 * len(p.random_alphas) * len(p.seeds)), p))
    c18 = []
    for m in MODELS:
        rate = leave_rate(res[m]["table"])
        for a, sh in sorted(res[m]["sharp"].items()):
            use = sh["reentry"] or sh["init"]
            bound = 2 * a ** (DEPTH[m] - 2) / use["exact"]
            txt = f"{m} alpha {a:g}: admissible eta0 < {bound:.2g}"
            if a < 1 and rate is not None:
                steps = int(math.ceil(rate / bound))
                txt += (f" (~{steps:,} steps to leave the uniform phase, one run: "
                        + cost_text(run_flops(flops[m], p.n_train[m], steps, 1), p) + ")")
            c18.append(txt)
    out["C18"] = ("rungs below 2 alpha^(L-2)/||H||_2 (||H||_2 at re-entry for alpha < 1) on "
                  "3 seeds: " + "; ".join(c18))
    out["B2"] = ("more configurations in each class: the bisection grids of the default "
                 "profile")
    return out


#: The figure or table that tests each claim (recorded beside its verdict).
EVIDENCE = {"C16": "Figure 8 left (staircase)", "C17": "Figure 8 middle",
            "C18": "Figure 8 right", "C19": "Figure 9, Figure 12 left",
            "C20": "Figure 8 bottom, Figure 12 right", "C21": "Figure 11",
            "C22": "random-label runs", "C23": "Figure 7",
            "B2": "trainability predictors (table, figure)"}


def chapter_verdicts(ctx: Context, res: Mapping[str, Any], flops: Mapping[str, float]
                     ) -> list[Verdict]:
    """C16-C23 and B2 from the studies' results (their evidence: :data:`EVIDENCE`)."""
    p = ctx.params
    d = p.definitions()
    need = needed_texts(ctx, res, flops)
    tables = [res[m]["table"] for m in MODELS]
    dfn = d.text()
    out = []
    # C16
    seed_fits = {m: per_seed_fits(res[m]["study"], p.seeds) for m in MODELS}
    per_seed = {s: all(rg.slope_support(seed_fits[m][s], DEPTH[m]) in ("both", "L-2", "undecided")
                       for m in MODELS) for s in p.seeds}
    sig = {m: bool((res[m]["table"].regime == "return to the zone").any()) for m in MODELS}
    out.append(verdict_c16({m: res[m]["fit"] for m in MODELS}, per_seed, sig, depth=DEPTH,
                           needed=need["staircase"],
                           definition=dfn + "; staircase: per alpha the largest rung of a x2 "
                           "eta0 ladder that trains (bisection, monotone in eta0), slope "
                           "range from the rung intervals"))
    # C17
    counts = {m: too_large_counts(res[m]["table"], res[m]["study"]) for m in MODELS}
    out.append(verdict_c17(counts, min_share=p.agreement_min, needed=need["staircase"],
                           definition=dfn + "; diverges: overflow, or left the uniform "
                           "phase without training with the norm still growing"))
    # C18
    adm = admissibility(tables)
    mis = {m: zone_alignment(res[m]["table"], res[m]["zone"]) for m in MODELS}
    over = {m: init_overstatement(res[m]["study"], res[m]["sharp"], DEPTH[m]) for m in MODELS}
    out.append(verdict_c18(adm, mis, over, agreement_min=p.agreement_min,
                           needed=need["C18"],
                           definition=dfn + "; admissible: eta ||H||_2 < 2 with ||H||_2 on the "
                           "whole training set (Lanczos), at re-entry for alpha < 1 where "
                           "the largest trainable rung re-entered, else at init; zone: "
                           f"||G||_2 >= ||H-term||_2 on zone_n = {p.zone_n} images"))
    # C19
    m = "lenet-300-100"
    t = res[m]["table"]
    big = max(p.alphas[m])
    tb = t[(t.alpha == big) & t.trains & (t.seed == p.seed)]
    t1 = t[(t.alpha == 1.0) & t.trains & (t.seed == p.seed)]
    pr = res["probes"]

    def probe(a):
        sel = pr[(pr.kind == "trained") & np.isclose(pr.alpha.astype(float), a)]
        return {int(s): float(v) for s, v in zip(sel.seed, sel.test_acc)}

    rnd = pr[pr.kind == "random init"]
    bt = tb.sort_values("final_train_acc").iloc[-1] if len(tb) else None
    out.append(verdict_c19(None if bt is None else float(bt.final_train_acc),
                           None if bt is None else float(bt.final_test_acc),
                           float(t1.final_test_acc.max()) if len(t1) else None,
                           probe(big), {int(s): float(v) for s, v in zip(rnd.seed,
                                                                         rnd.test_acc)},
                           probe(1.0), full_train=p.full_train_acc, min_gap=p.min_test_gap,
                           probe_margin=p.probe_margin, needed=need["C19"],
                           definition=dfn + f"; alpha = {big:g}: the trained configuration "
                           "with the highest final train accuracy; probes: linear classifier "
                           "on penultimate features"))
    # C20
    m5 = "lenet-5"
    t5 = res[m5]["table"]
    ctrl = t5[(t5.alpha == 1.0) & t5.trains]
    above = t5[t5.alpha > p.paper_trainable_alpha]
    untrained_big = t5[(t5.alpha > 1) & ~t5.trains]
    per_seed5 = {s: not bool(above[above.seed == s].trains.any()) for s in p.seeds
                 if (above.seed == s).any()}
    out.append(verdict_c20(float(ctrl.max_test_acc.max()) if len(ctrl) else None,
                           1 / ctx.train[m5].num_classes,
                           sorted(above[above.trains].alpha.unique().tolist()),
                           sorted(above.alpha.unique().tolist()),
                           res["full_zone"]["upper"], res["full_zone"]["n"],
                           float(untrained_big.final_zero.max()) if len(untrained_big)
                           else 0.0, per_seed5 or {p.seed: True},
                           paper_alpha=p.paper_trainable_alpha,
                           zero_threshold=p.zero_logit_threshold, acc_margin=p.acc_margin,
                           needed=need["C20"], zone_full_n=res["full_zone"]["full_n"],
                           train_zone_upper=zone_upper(res[m5]["zone"]),
                           train_zone_n=res[m5]["zone"]["n"],
                           zone_upper_open=res["full_zone"].get("upper_open"),
                           rate_bracket=rate_bracket(t5, sorted(above.alpha.unique()),
                                                     zero_threshold=p.zero_logit_threshold),
                           definition=dfn + "; zone: the span of the alphas with "
                           f"||G||_2 >= ||H-term||_2 on N = {res['full_zone']['n']:,} images "
                           f"(d = {res['full_zone']['d']} x {len(res['full_zone']['seeds'])} "
                           "subspaces, mean curve; chapter 01's exact collapse split); "
                           "every rung the bisection "
                           "tried at alpha > 1.8, boundary rungs on every seed; 'any learning "
                           "rate' is covered when the ladder's top rung is too fast (diverges "
                           f"or > {p.zero_logit_threshold:g} zero-logit samples) at every "
                           "alpha > 1.8, else inconclusive"))
    # C21 and C22: judged on each seed (its theta_0, its label draws), then over the seeds
    c21 = {}
    for s, u in res["uso"].items():
        r = u["restarts"]
        c21[s] = verdict_c21(u["compare"], u["rotation_step"],
                             [(int(a), float(b)) for a, b in zip(r.t, r.train_error)],
                             u["skipped"], part_tol=p.part_tol,
                             restart_margin=p.restart_margin, needed=need["C21"],
                             definition=f"uniform: softmax within {p.part_tol:g} of 1/K "
                             "(relative RMS; entropy gap log K - H <= "
                             f"{uniform_entropy_gap(p.part_tol):.1e}); parted: |norm/alpha - "
                             f"USO norm| / USO norm > {p.part_tol:g}; rotated: cos(theta_t, "
                             f"theta_0) < {p.rotation_cos:g}; restarts at t = 0 and "
                             f"{', '.join(f'{f:g}' for f in p.restart_fracs)} x the rotation "
                             f"step; judged on each of {len(res['uso'])} seeds (theta_0), "
                             "the verdict of most seeds")
    out.append(verdict_over_seeds(c21))
    out.append(verdict_over_seeds({
        s: verdict_c22(random_label_numbers(logs, p.full_train_acc), appear=p.zero_appear,
                       needed=need["C22"],
                       definition=f"zero logits: share of samples with all K logits exactly "
                       f"0; appear: peak >= {p.zero_appear:g}; vanish: final <= 0.5 x peak; "
                       f"{p.random_n} images; judged on each of {len(res['random'])} seeds "
                       "(theta_0 and the random labels), the verdict of most seeds")
        for s, logs in res["random"].items()}))
    # C23
    out.append(verdict_c23(regime_counts(tables), regime_preconditions(tables),
                           needed=need["staircase"], definition=regime_rules_text(p)))
    # B2
    out.append(verdict_b2(res["predictors"], min_class=p.auc_min_class, needed=need["B2"],
                          definition=dfn + "; predictor scores oriented so that higher "
                          "predicts trains; ROC AUC over every configuration and seed of "
                          f"both models, {p.auc_resamples} bootstrap resamples (95% "
                          "percentile interval)"))
    return out


# ----------------------------------------------------------------------------- tables, plots


def sharpness_frame(res: Mapping[str, Any]) -> pd.DataFrame:
    """``||H||_2`` per model and alpha: exact and power iteration, at init and re-entry."""
    rows = []
    for m in MODELS:
        for a, s in sorted(res[m]["sharp"].items()):
            rows.append({"model": m, "alpha": a, "init exact": s["init"]["exact"],
                         "init power (20 it.)": s["init"]["power"],
                         "re-entry step": s["reentry_step"],
                         "re-entry exact": s["reentry"]["exact"] if s["reentry"] else math.nan,
                         "re-entry power": s["reentry"]["power"] if s["reentry"] else math.nan})
    return pd.DataFrame(rows)


def staircase_frame(res: Mapping[str, Any], seeds: Sequence[int]) -> pd.DataFrame:
    """Per model and alpha: the bisection's interval for the largest trainable eta0 and on
    how many seeds the boundary pair holds."""
    rows = []
    for m in MODELS:
        st = res[m]["study"]
        for a, b in sorted(st["bisection"].items()):
            held = {s: st["boundary"][a][s]["agrees"] for s in seeds}
            rows.append({"model": m, "alpha": a, "max trainable eta0": b["max_eta0"],
                         "first failing eta0": b["first_fail"],
                         "boundary holds": seed_agreement(held)})
    return pd.DataFrame(rows)


def _colors():
    import matplotlib.pyplot as plt

    return dict(zip(rg.REGIMES, plt.get_cmap("tab10").colors))


def figure8(ctx: Context, res: Mapping[str, Any]):
    """Figure 8 by bisection: per model, the probed ``(alpha, eta0)`` coloured by regime with
    the staircase fit and the lines ``eta ||H||_2 = 2`` (exact at init / re-entry, and the
    authors' power iteration); the zone shaded; the alpha = 1 positive control marked."""
    import matplotlib.pyplot as plt

    colors = _colors()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for ax, m in zip(axes, MODELS):
        t = res[m]["table"]
        L = DEPTH[m]
        for lo, hi in res[m]["zone"]["intervals"]:
            ax.axvspan(lo, hi, color="gold", alpha=0.2)
        fz = res.get("full_zone") if m == "lenet-5" else None
        if fz is not None and fz["upper"] is not None:
            ax.axvspan(fz["lower"] or min(t.alpha), fz["upper"], fill=False, hatch="//",
                       edgecolor="darkorange", lw=0.8,
                       label=f"zone at N = {fz['n']:,} (G dominates)")
        for reg, g in t.groupby("regime"):
            ax.scatter(g.alpha * (1 + 0.04 * (g.seed - ctx.params.seed)), g.eta0, s=40,
                       color=colors[reg], label=reg, edgecolors="k", linewidths=0.3)
        al = sorted(res[m]["sharp"])
        for key, ls, lab in (("exact", "-", r"$\eta\|H\|_2=2$ (Lanczos)"),
                             ("power", ":", r"$\eta\|H\|_2=2$ (20 power it.)")):
            lim = [2 / (effective_learning_rate(1.0, a, L) * (res[m]["sharp"][a]["reentry"] or
                                                             res[m]["sharp"][a]["init"])[key])
                   for a in al]
            ax.plot(al, lim, "k", ls=ls, lw=1, label=lab)
        st = res[m]["study"]["bisection"]
        xs = [a for a in sorted(st) if st[a]["max_eta0"] is not None]
        ax.plot(xs, [st[a]["max_eta0"] for a in xs], "k--", lw=0.8, alpha=0.6,
                label="largest trainable rung")
        ctrl = t[(t.alpha == 1.0) & t.trains]
        ax.scatter(ctrl.alpha, ctrl.eta0, marker="*", s=160, color="none", edgecolors="g",
                   label="alpha = 1 control (trains)")
        ax.set(xscale="log", yscale="log", xlabel=r"$\alpha$", ylabel=r"$\eta_0$",
               ylim=(min(t.eta0) / 3, max(t.eta0) * 3),
               title=f"{m} (L = {L}; gold: zone, N = {res[m]['zone']['n']})")
        ax.legend(fontsize=6, loc="lower right")
    fig.suptitle("Figure 8 by bisection; data: " + " / ".join(ctx.short_source(x)
                                                                for x in MODELS), fontsize=8)
    fig.tight_layout()
    return fig


def figure9(ctx: Context, res: Mapping[str, Any]):
    """Figure 9: training curves of LeNet-300-100 at the smallest and largest alpha, with
    the alpha = 1 positive control (seed ``seed``, every probed eta0)."""
    import matplotlib.pyplot as plt

    p, m = ctx.params, "lenet-300-100"
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    t = res[m]["table"]
    for a, ls in ((min(p.alphas[m]), ":"), (1.0, "-"), (max(p.alphas[m]), "--")):
        for e in sorted(t[(t.alpha == a) & (t.seed == p.seed)].eta0):
            g = ctx.log(m, a, e, p.seed)
            g = g[np.isfinite(g.train_loss)]
            for ax, col in zip(axes, ("train_acc", "test_acc", "entropy")):
                ax.plot(g.step, g[col], ls=ls, label=f"\u03b1={a:g}, \u03b7\u2080={e:g}")
    for ax, name in zip(axes, ("train accuracy", "held-out accuracy", "softmax entropy")):
        ax.set(xlabel="step", ylabel=name)
    axes[1].axhline(1 / ctx.train[m].num_classes, color="grey", lw=0.8)
    axes[0].legend(fontsize=5, ncol=2)
    fig.suptitle(f"Figure 9 (dotted: smallest alpha, solid: alpha = 1 control, dashed: "
                 f"largest); data: {ctx.source(m)}", fontsize=8)
    fig.tight_layout()
    return fig


def figure12(ctx: Context, res: Mapping[str, Any]):
    """Figure 12: probes on penultimate features (left), zero-logit shares of LeNet-5 runs
    at alpha > 1 over training with the alpha = 1 control (right)."""
    import matplotlib.pyplot as plt

    p = ctx.params
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    pr = res["probes"]
    tr = pr[pr.kind == "trained"].groupby("alpha").test_acc.agg(["mean", "min", "max"])
    rnd = pr[pr.kind == "random init"].test_acc
    axes[0].plot(tr.index, tr["mean"], "o-", label="trained (best held-out eta0 per alpha)")
    axes[0].fill_between(tr.index, tr["min"], tr["max"], alpha=0.3)
    axes[0].axhspan(rnd.min(), rnd.max(), color="grey", alpha=0.3, label="random init")
    axes[0].set(xscale="log", xlabel=r"$\alpha$", ylabel="linear probe held-out accuracy",
                title=f"Figure 12 left: LeNet-300-100 ({len(p.probe_seeds)} seed(s), min/max)")
    axes[0].legend(fontsize=7)
    m5 = "lenet-5"
    t = res[m5]["table"]
    for r in t[(t.alpha >= 1) & (t.seed == p.seed)].itertuples():
        g = ctx.log(m5, r.alpha, r.eta0, r.seed)
        axes[1].plot(g.step, g.zero_logit_samples, color="g" if r.alpha == 1 else None,
                     lw=2 if r.alpha == 1 else 1, label=f"\u03b1={r.alpha:g}, "
                     f"\u03b7\u2080={r.eta0:g}")
    axes[1].set(xlabel="step", ylabel="share of samples with all logits zero",
                title=r"Figure 12 right: LeNet-5, $\alpha \geq 1$ (green: control)")
    axes[1].legend(fontsize=5, ncol=2)
    fig.tight_layout()
    return fig


def figure11(ctx: Context, res: Mapping[str, Any]):
    """Figure 11: rescaled norms of alpha < 1 nets against the USO model (left); USO
    alignments and the restarts' training error with the rotation step marked (right)."""
    import matplotlib.pyplot as plt

    p = ctx.params
    u = res["uso"][p.seed]
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    us = u["uso"][np.isfinite(u["uso"].param_norm)]
    axes[0].plot(us.step, us.param_norm, "k-", lw=3, alpha=0.5, label="USO model")
    for a in p.uso_alphas:
        g = u["nets"][np.isclose(u["nets"].alpha, a)]
        axes[0].plot(g.step, g.param_norm / a, label=f"\u03b1={a:g} (norm / \u03b1)")
        nu = u["compare"][a]["nonuniform_step"]
        if nu is not None:
            axes[0].axvline(nu, ls=":", color=axes[0].lines[-1].get_color())
    axes[0].set(yscale="log", xlabel="step", ylabel=r"$\|\theta_t\|$ (rescaled)",
                title=rf"Figure 11 left (seed {u['seed']}, $\eta_0$={p.uso_eta0:g}; dotted: "
                "leaves uniform)")
    axes[0].legend(fontsize=7)
    axes[1].plot(us.step, us.cos_theta0, label=r"cos($\theta_t$, $\theta_0$)")
    axes[1].plot(us.step, us.cos_neg_grad, label=r"cos($\theta_t$, $-g_t$)")
    r = u["restarts"]
    axes[1].plot(r.t, r.train_error, "o-", color="tab:red",
                 label=f"train error after {p.restart_steps} steps from rescaled theta_t")
    if u["rotation_step"] is not None:
        axes[1].axvline(u["rotation_step"], color="grey", ls="--", label="rotation step")
    for t, _ in u["skipped"]:
        axes[1].axvline(t, color="tab:red", ls=":", lw=0.8)
    axes[1].set(xlabel="USO step t", ylabel="cosine / error",
                title="Figure 11 right (red dotted: skipped restarts)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def figure_random_labels(ctx: Context, res: Mapping[str, Any]):
    """Zero-logit share and own-label train accuracy under random labels (C22)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    colors: dict[tuple, Any] = {}
    for logs in res["random"].values():
        for (labels, a), log in logs.items():
            first = (labels, a) not in colors
            line, = ax.plot(log.step, log.zero_logit_samples, color=colors.get((labels, a)),
                            lw=1.5 if first else 0.8,
                            label=f"{labels}, alpha {a:g}: zero-logit share" if first else None)
            colors[(labels, a)] = line.get_color()
            ax.plot(log.step, log.train_acc, ls="--", color=line.get_color(),
                    lw=1.5 if first else 0.8,
                    label=f"{labels}, alpha {a:g}: train acc" if first else None)
    ax.set(xlabel="step", ylabel="share",
           title=f"random labels ({ctx.params.random_n} images, {len(res['random'])} seeds)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def figure7(ctx: Context, res: Mapping[str, Any]):
    """Figure 7 as counts: runs per regime and model (all seeds)."""
    import matplotlib.pyplot as plt

    colors = _colors()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    left = np.zeros(len(MODELS))
    for reg in rg.REGIMES:
        n = np.array([(res[m]["table"].regime == reg).sum() for m in MODELS], float)
        ax.barh(list(MODELS), n, left=left, color=colors[reg], label=reg)
        left += n
    ax.set(xlabel="runs (every probed configuration and seed)", title="Figure 7 outcomes")
    ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig


def figure_predictors(res: Mapping[str, Any]):
    """B2: ROC AUC of each predictor of "trains" with its bootstrap interval."""
    import matplotlib.pyplot as plt

    t = res["predictors"]
    fig, ax = plt.subplots(figsize=(7, 2.8))
    y = np.arange(len(t))
    ax.errorbar(t.auc, y, xerr=[t.auc - t.lo, t.hi - t.auc], fmt="o", capsize=3)
    ax.axvline(0.5, color="grey", ls=":")
    ax.axvline(1.0, color="k", lw=0.5)
    ax.set_yticks(y, t.predictor, fontsize=7)
    ax.set(xlabel="ROC AUC for 'trains' (95% bootstrap interval)", xlim=(0, 1.05))
    fig.tight_layout()
    return fig


def html_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A small HTML table (pandas Styler) with numbers rounded to ``digits`` significant."""
    return df.style.format(lambda v: f"{v:.{digits}g}" if isinstance(v, float) else str(v),
                           na_rep="-").hide(axis="index").to_html()


# ----------------------------------------------------------------------------- contract


@dataclass
class Results:
    """Everything chapter 04 computes (the output of :func:`run`).

    Attributes:
        params: the parameters as run; ctx: the data, models and every trained run
            (:class:`Context`); dirs: the results folders.
        flops: per model, the measured FLOPs of one gradient step per training image (the
            cost estimates of "inconclusive" verdicts).
        models: per model, :func:`study_model` (``study, sharp, zone, table, fit``).
        full_zone: :func:`full_zone` (LeNet-5's zone on the whole training split).
        probes: :func:`probe_study`; uso: per seed of ``seeds``, :func:`uso_study`; random:
            :func:`random_label_study` (per seed); predictors: :func:`predictor_table`.

    ``res[name]`` reads a model's study or one of the other parts by name (the mapping the
    table, figure and verdict helpers take).
    """

    params: Params
    ctx: Context
    dirs: dict[str, Any]
    flops: dict[str, float]
    models: dict[str, dict[str, Any]]
    full_zone: dict[str, Any]
    probes: pd.DataFrame
    uso: dict[int, dict[str, Any]]
    random: dict[int, dict[tuple, pd.DataFrame]]
    predictors: pd.DataFrame

    _PARTS = ("full_zone", "probes", "uso", "random", "predictors")

    def __getitem__(self, key: str) -> Any:
        if key in self.models:
            return self.models[key]
        if key in self._PARTS:
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def context(self) -> Context:
        """``ctx`` with ``params`` (the thresholds of a ``dataclasses.replace``-d Results,
        read by the verdicts and figures)."""
        if self.ctx.params is self.params:
            return self.ctx
        return dataclasses.replace(self.ctx, params=self.params)

    @property
    def data_source(self) -> str:
        """Every model's train and test data source."""
        return "; ".join(self.ctx.source(m) for m in MODELS)

    def header(self) -> str:
        """Profile, device and dtype (not compared: the device differs between machines)."""
        p = self.params
        return f"profile={p.profile}, device={self.ctx.device.type}, dtype={p.dtype}"

    def setting_text(self) -> str:
        """What this profile scales down against the paper, the data of each model and the
        definitions with their thresholds."""
        lines = ["What this profile scales down against the paper:"]
        lines += [f"  - {line}" for line in scale_notes(self.params)]
        lines += [f"{m} <- {self.ctx.source(m)}" for m in MODELS]
        return "\n".join(lines + ["", regime_rules_text(self.params)])

    def full_zone_text(self) -> str:
        """LeNet-5's zone on the whole training split and on the chapter's images."""
        return full_zone_text(self)

    def tables_html(self) -> str:
        """The staircase, ``||H||_2`` and the outcome of every (eta0, alpha) of seed
        ``seed`` per model, as HTML."""
        p = self.params
        parts = [html_table(staircase_frame(self, p.seeds)), html_table(sharpness_frame(self))]
        parts += [f"<b>{m}</b>: outcome per (eta0, alpha), seed {p.seed}"
                  + regime_pivot(self.models[m]["table"], p.seed).to_html() for m in MODELS]
        return "\n".join(parts)

    def predictors_html(self) -> str:
        """B2's predictor table as HTML."""
        return html_table(self.predictors, digits=2)


def run(params: Params, *, progress: bool = False) -> Results:
    """Every computation of chapter 04, in the notebook's order (each part cached as before:
    the run store, ``||H||_2``, the zones, the probes).

    Args:
        params: the validated parameters.
        progress: progress bars and lines for the training grids and the full-N zone.
    """
    from ..notebook import output_dirs, torch_threads

    with torch_threads(params.torch_threads):
        dirs = output_dirs(params.results_dir)
        ctx = load(params)
        flops = {m: step_flops_per_sample(ctx.models[m], ctx.train[m].X, ctx.train[m].y)
                 for m in MODELS}
        models = {m: study_model(ctx, m, progress=progress) for m in MODELS}
        fz = full_zone(ctx, progress=progress)
        probes = probe_study(ctx, models["lenet-300-100"]["table"], progress=progress)
        uso = {int(s): uso_study(ctx, seed=s, progress=progress) for s in params.seeds}
        random = random_label_study(ctx, progress=progress)
        predictors = predictor_table([models[m]["table"] for m in MODELS], params)
    return Results(params=params, ctx=ctx, dirs=dirs, flops=flops, models=models,
                   full_zone=fz, probes=probes, uso=uso, random=random, predictors=predictors)


def judge(res: Results) -> list[Verdict]:
    """The verdicts C16-C23 and B2 of ``res`` (:func:`chapter_verdicts`)."""
    return chapter_verdicts(res.context(), res, res.flops)


def record(res: Results, verdicts: Sequence[Verdict]) -> list[Path]:
    """Write each verdict's claim file (for the scorecard), with its evidence
    (:data:`EVIDENCE`) and the data of both models."""
    return [record_verdict(v, res.params, evidence=EVIDENCE[v.claim],
                           data_source=res.data_source) for v in verdicts]


def measured_lines(verdicts: Sequence[Verdict]) -> str:
    """Each verdict's measured numbers and, where given, the scale that would decide it."""
    out = []
    for v in verdicts:
        out.append(f"{v.claim}: {v.measured}")
        if v.needed:
            out.append(f"    needed: {v.needed}")
    return "\n".join(out)


def plot_figure8(res: Results) -> Any:
    """Figure 8 by bisection (:func:`figure8`), saved as ``04_figure8``."""
    return saved_figure(figure8(res.context(), res), "04_figure8", res.dirs["figures"])


def plot_figure9(res: Results) -> Any:
    """Figure 9's training curves (:func:`figure9`), saved as ``04_figure9``."""
    return saved_figure(figure9(res.context(), res), "04_figure9", res.dirs["figures"])


def plot_figure12(res: Results) -> Any:
    """Figure 12: probes and zero logits (:func:`figure12`), saved as ``04_figure12``."""
    return saved_figure(figure12(res.context(), res), "04_figure12", res.dirs["figures"])


def plot_figure11(res: Results) -> Any:
    """Figure 11: the USO model and restarts (:func:`figure11`), saved as ``04_figure11``."""
    return saved_figure(figure11(res.context(), res), "04_figure11", res.dirs["figures"])


def plot_random_labels(res: Results) -> Any:
    """C22's random-label runs (:func:`figure_random_labels`), saved as
    ``04_random_labels``."""
    return saved_figure(figure_random_labels(res.context(), res), "04_random_labels",
                        res.dirs["figures"])


def plot_figure7(res: Results) -> Any:
    """Figure 7 as counts (:func:`figure7`), saved as ``04_figure7``."""
    return saved_figure(figure7(res.context(), res), "04_figure7", res.dirs["figures"])


def plot_predictors(res: Results) -> Any:
    """B2's ROC AUCs (:func:`figure_predictors`), saved as ``04_predictors``."""
    return saved_figure(figure_predictors(res), "04_predictors", res.dirs["figures"])


#: The figures after Figure 8, in the notebook's order.
PLOTS = (plot_figure9, plot_figure12, plot_figure11, plot_random_labels, plot_figure7,
         plot_predictors)
