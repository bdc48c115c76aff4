"""Chapter 04, optimisation outside the zone: Section 5 and App. E (Figures 7, 8, 9, 11, 12).

LeNet-300-100 on Fashion-MNIST and LeNet-5 on CIFAR-10 are trained from ``alpha * theta_0``
(Kaiming ``theta_0``) by full-batch gradient descent at ``T = 1`` with the effective rate
``eta = eta0 * alpha^(2 - L)`` over an ``(alpha, eta0)`` grid
(:func:`goldilocks_nb.training.train_grid`, resumable through its run store). From the logs:

* Figure 8: maximum training accuracy, maximum parameter norm (runs ending with more than
  ``zero_logit_threshold`` of samples with all logits zero marked), ``eta ||H||_2`` at
  initialisation with the boundary 2, and the Goldilocks strip where
  ``||G||_2 >= ||H-term||_2`` (curvature engine, :func:`goldilocks_nb.curvature.curvature_sweep`,
  the same criterion as chapter 01) (C16, C17, C18, C20);
* Figure 9: training curves at ``alpha = 0.01`` and ``alpha = 1000`` (C19);
* Figure 12: linear probes on penultimate features (left, C19) and zero-logit shares of
  LeNet-5 over training (right, C20);
* Figure 11: the USO model against ``alpha``-scaled nets with ``alpha < 1`` (C21);
* random labels, fixed and redrawn (C22);
* Figure 7: every run classified into the paper's regimes by the rules of
  :data:`REGIME_RULES` (C23).

Every verdict function takes measured numbers and tolerances and builds its reason from them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..contract import ChapterParams, Verdict
from ..data import DATASETS, Dataset, load_dataset
from ..functional import get_params, scale_params
from ..models import build_model
from ..notebook import resolve_device, resolve_dtype
from ..results import ResultsDir, cached
from ..statistics import loglog_slope

__all__ = [
    "MODELS",
    "PAPER_REGIMES",
    "REGIMES",
    "REGIME_RULES",
    "Context",
    "Params",
    "classify",
    "classify_runs",
    "estimate_cost",
    "grid_summary",
    "load",
    "lazy_comparison",
    "probe_study",
    "random_label_study",
    "scale_notes",
    "sharpness_at_init",
    "staircase",
    "train_main_grid",
    "uso_study",
    "verdict_c16",
    "verdict_c17",
    "verdict_c18",
    "verdict_c19",
    "verdict_c20",
    "verdict_c21",
    "verdict_c22",
    "verdict_c23",
    "zone_strip",
]

#: The chapter's two models, each paired with its dataset (``Params.datasets``) in order.
MODELS = ("lenet-300-100", "lenet-5")
#: Version of this chapter's cached computations (bump when their meaning changes).
CACHE_VERSION = "1"


def _per_model(a: Any, b: Any):
    return lambda: {"lenet-300-100": a, "lenet-5": b}


@dataclass(kw_only=True)
class Params(ChapterParams):
    """Parameters of chapter 04 (defaults: the smoke profile).

    Attributes:
        datasets: one dataset per model of :data:`MODELS`, same order.
        n_train, n_test: class-balanced training / test images per model.
        alphas, eta0s: the grid of initialisation scales and base learning rates per model.
        steps: full-batch gradient steps per model; log_every: logging interval per model.
        seed: initialisation and data-subset seed.
        trained_acc: a run "trains" when its maximum training accuracy reaches this, per model.
        zero_logit_threshold: share of samples with all logits zero that marks the
            zero-logit regime (0.75 in Fig. 8).
        uniform_tol: the softmax counts as uniform while the mean entropy is within this of
            ``log K``.
        growth_factor: a run "diverges" (Section 5's divergence regime) when its parameter
            norm reaches this multiple of its initial norm.
        lazy_cos: a trained ``alpha > 1`` run is lazy when ``cos(theta_T, theta_0)`` stays
            at least this.
        sharpness_n, sharpness_tol: samples and Lanczos tolerance of ``||H||_2`` at init.
        zone_n, zone_d, zone_seeds, zone_points: samples, subspace dimension, subspace seeds
            and number of alphas of the Goldilocks strip (``||G||_2 >= ||H-term||_2``).
        probe_seeds, probe_l2: seeds of the linear probes (Fig. 12 left) and their penalty.
        uso_alphas, uso_eta0, uso_steps, uso_log_every: Figure 11's alpha-scaled nets and
            USO model (LeNet-300-100).
        restart_at, restart_eta0, restart_steps: USO steps from which training restarts at
            ``||theta_0|| theta_t / ||theta_t||``, its rate and length (Fig. 11 right).
        part_tol: relative deviation of the rescaled norms that counts as "parted".
        random_alpha, random_eta0, random_steps: the random-label runs (C22, LeNet-300-100).
        slope_tol: the staircase slope counts as linear within ``1 +- slope_tol``.
        agreement_min: least share of ``eta ||H||_2 > 2`` runs that must fail to train (C18).
        min_test_gap: least test-accuracy gap alpha=1 minus alpha=1000 for the lazy claim.
        probe_margin: probe accuracies within this count as "marginally" different (C19).
        restart_margin: increase of the restart training error that counts as "hurts" (C21).
        full_train_acc: training accuracy that counts as zero training error (C19).
        zero_appear: least peak share of zero-logit samples that counts as "appear" (C22).
        paper_trainable_alpha: C20's bound (1.8).
        dtype: ``"float64"`` (smoke: outputs stable across CPUs) or ``"float32"``.
        gpu_tflops: assumed sustained float32 TFLOP/s for the printed cost estimate.
        torch_threads: CPU threads for torch (0: torch's default).
    """

    notebook = "04_optimization_regimes"
    datasets: list[str] = field(default_factory=lambda: ["fashion-mnist-embedded",
                                                         "cifar10-embedded"])
    n_train: dict[str, int] = field(default_factory=_per_model(100, 50))
    n_test: dict[str, int] = field(default_factory=_per_model(100, 50))
    alphas: dict[str, list[float]] = field(
        default_factory=_per_model([0.01, 1.0, 1000.0], [0.1, 1.0, 20.0]))
    eta0s: dict[str, list[float]] = field(
        default_factory=_per_model([0.01, 0.1, 1.0], [0.01, 0.1, 1.0]))
    steps: dict[str, int] = field(default_factory=_per_model(30, 10))
    log_every: dict[str, int] = field(default_factory=_per_model(5, 5))
    seed: int = 0
    trained_acc: dict[str, float] = field(default_factory=_per_model(0.5, 0.2))
    zero_logit_threshold: float = 0.75
    uniform_tol: float = 0.01
    growth_factor: float = 2.0
    lazy_cos: float = 0.9
    sharpness_n: int = 16
    sharpness_tol: float = 0.05
    zone_n: int = 20
    zone_d: int = 5
    zone_seeds: list[int] = field(default_factory=lambda: [0])
    zone_points: int = 7
    probe_seeds: list[int] = field(default_factory=lambda: [0])
    probe_l2: float = 1e-3
    uso_alphas: list[float] = field(default_factory=lambda: [0.1, 0.3])
    uso_eta0: float = 0.05
    uso_steps: int = 20
    uso_log_every: int = 2
    restart_at: list[int] = field(default_factory=lambda: [0, 20])
    restart_eta0: float = 0.1
    restart_steps: int = 10
    part_tol: float = 0.01
    random_alpha: float = 1.0
    random_eta0: float = 0.5
    random_steps: int = 20
    slope_tol: float = 0.5
    agreement_min: float = 0.8
    min_test_gap: float = 0.03
    probe_margin: float = 0.03
    restart_margin: float = 0.05
    full_train_acc: float = 0.99
    zero_appear: float = 0.05
    paper_trainable_alpha: float = 1.8
    dtype: str = "float64"
    gpu_tflops: float = 25.0
    torch_threads: int = 1

    def check(self) -> None:
        self.require(len(self.datasets) == len(MODELS), "datasets", self.datasets,
                     f"{len(MODELS)} names, one per model {MODELS}")
        self.require_in("datasets", self.datasets, DATASETS)
        self.require("gaussian" not in self.datasets, "datasets", self.datasets,
                     "real or embedded datasets (not 'gaussian')")
        for name in ("n_train", "n_test", "alphas", "eta0s", "steps", "log_every",
                     "trained_acc"):
            value = getattr(self, name)
            self.require(set(value) == set(MODELS), name, value,
                         f"a mapping with exactly the keys {list(MODELS)}")
        self.require_at_least("n_train", self.n_train, 10)
        self.require_at_least("n_test", self.n_test, 10)
        for m in MODELS:
            self.require(len(self.alphas[m]) >= 2, "alphas", self.alphas,
                         "at least 2 alphas per model")
            self.require(len(self.eta0s[m]) >= 2, "eta0s", self.eta0s,
                         "at least 2 eta0s per model")
            for name in ("alphas", "eta0s"):
                vals = getattr(self, name)[m]
                self.require(len(set(vals)) == len(vals) and list(vals) == sorted(vals), name,
                             getattr(self, name), "increasing values without repeats")
        self.require_positive("alphas", self.alphas)
        self.require_positive("eta0s", self.eta0s)
        self.require(1.0 in self.alphas["lenet-300-100"], "alphas", self.alphas,
                     "a LeNet-300-100 grid that contains alpha = 1 (the reference of C19)")
        self.require_at_least("steps", self.steps, 1)
        self.require_at_least("log_every", self.log_every, 1)
        for m in MODELS:
            self.require(self.log_every[m] <= self.steps[m], "log_every", self.log_every,
                         "<= steps of the same model")
        self.require_at_least("seed", self.seed, 0)
        self.require_in("dtype", self.dtype, ("float32", "float64"))
        for name in ("trained_acc", "zero_logit_threshold", "lazy_cos", "full_train_acc",
                     "zero_appear"):
            for v in _flat(getattr(self, name)):
                self.require(0 < v < 1, name, getattr(self, name), "strictly between 0 and 1")
        for name in ("uniform_tol", "sharpness_tol", "probe_l2", "uso_eta0", "part_tol",
                     "restart_eta0", "random_alpha", "random_eta0", "slope_tol",
                     "paper_trainable_alpha", "gpu_tflops"):
            self.require_positive(name, getattr(self, name))
        self.require(self.growth_factor > 1, "growth_factor", self.growth_factor, "> 1")
        self.require_at_least("sharpness_n", self.sharpness_n, 2)
        self.require_at_least("zone_n", self.zone_n, 2)
        self.require_at_least("zone_d", self.zone_d, 1)
        self.require_at_least("zone_points", self.zone_points, 3)
        self.require(len(self.zone_seeds) > 0, "zone_seeds", self.zone_seeds, "non-empty")
        self.require_at_least("zone_seeds", self.zone_seeds, 0)
        self.require(len(self.probe_seeds) > 0 and len(set(self.probe_seeds)) ==
                     len(self.probe_seeds), "probe_seeds", self.probe_seeds,
                     "a non-empty list without repeats")
        self.require_at_least("probe_seeds", self.probe_seeds, 0)
        self.require(len(self.uso_alphas) > 0, "uso_alphas", self.uso_alphas, "non-empty")
        self.require_positive("uso_alphas", self.uso_alphas)
        self.require(all(a < 1 for a in self.uso_alphas), "uso_alphas", self.uso_alphas,
                     "values < 1 (Fig. 11 studies small initialisations)")
        self.require_at_least("uso_steps", self.uso_steps, 1)
        self.require_at_least("uso_log_every", self.uso_log_every, 1)
        self.require(len(self.restart_at) > 0 and all(0 <= t <= self.uso_steps
                                                      for t in self.restart_at)
                     and list(self.restart_at) == sorted(set(self.restart_at)),
                     "restart_at", self.restart_at,
                     f"increasing steps in [0, uso_steps={self.uso_steps}]")
        self.require_at_least("restart_steps", self.restart_steps, 1)
        self.require_at_least("random_steps", self.random_steps, 1)
        self.require(0 < self.agreement_min <= 1, "agreement_min", self.agreement_min,
                     "in (0, 1]")
        for name in ("min_test_gap", "probe_margin", "restart_margin"):
            v = getattr(self, name)
            self.require(0 <= v < 1, name, v, "in [0, 1)")
        self.require_at_least("torch_threads", self.torch_threads, 0)


def _flat(value: Any) -> list[float]:
    if isinstance(value, Mapping):
        return [float(v) for v in value.values()]
    return [float(value)]


# ----------------------------------------------------------------------------- context


@dataclass
class Context:
    """Data, models and cache locations shared by the chapter's computations."""

    params: Params
    device: torch.device
    train: dict[str, Dataset]
    test: dict[str, Dataset]
    models: dict[str, torch.nn.Module]
    runs_dir: str
    cache_dir: str

    def source(self, model: str) -> str:
        """The data source of a model's grid (train and test)."""
        return f"{self.train[model].source}; test: {self.test[model].source}"

    def short_source(self, model: str) -> str:
        return self.train[model].source.split(",")[0]

    def key(self, model: str, **extra: Any) -> dict[str, Any]:
        p = self.params
        return {"model": model, "source": self.source(model), "n_train": p.n_train[model],
                "n_test": p.n_test[model], "seed": p.seed, **extra}

    def cached(self, name: str, key: Mapping[str, Any], compute):
        return cached(f"04_{name}", key, compute, cache_dir=self.cache_dir,
                      version=CACHE_VERSION)


def load(params: Params) -> Context:
    """Load the data subsets and build the models (float32; nothing trained yet).

    Grids train in ``params.dtype``."""
    if params.torch_threads:
        torch.set_num_threads(params.torch_threads)
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
          labels="true", init_params=None, progress=False):
    from ..training import train_grid

    return train_grid(ctx.models[model], ctx.train[model], ctx.test[model], alphas=alphas,
                      eta0s=eta0s, seeds=seeds, steps=steps, log_every=log_every, rule=rule,
                      labels=labels, sharpness_steps=(), dtype=resolve_dtype(ctx.params.dtype),
                      device=str(ctx.device), cache_dir=ctx.runs_dir, init_params=init_params,
                      checkpoint_every=max(log_every, min(steps, 50)), progress=progress)


def train_main_grid(ctx: Context, model: str, *, progress: bool = False):
    """The ``(alpha, eta0)`` grid of one model (Figure 8), through the resumable run store."""
    p = ctx.params
    return _grid(ctx, model, alphas=p.alphas[model], eta0s=p.eta0s[model], seeds=[p.seed],
                 steps=p.steps[model], log_every=p.log_every[model], progress=progress)


# ----------------------------------------------------------------------------- curvature


def sharpness_at_init(ctx: Context, model: str) -> dict[float, float]:
    """``||H||_2`` of the loss at ``alpha * theta_0`` for each grid alpha (Fig. 8 right).

    Lanczos (largest magnitude, :func:`goldilocks_nb.curvature.top_eigenpairs`) on the first
    ``sharpness_n`` training images, in float64. It does not depend on ``eta0``.
    """
    from ..curvature import top_eigenpairs

    p = ctx.params
    n = min(p.sharpness_n, p.n_train[model])

    def compute() -> dict[str, float]:
        net = copy.deepcopy(ctx.models[model]).double()
        theta = get_params(net, dtype=torch.float64)
        X, y = ctx.train[model].X[:n].double(), ctx.train[model].y[:n]
        out = {}
        for a in p.alphas[model]:
            vals, _ = top_eigenpairs(net, scale_params(theta, a), X, y, k=1, which="LM",
                                     tol=p.sharpness_tol)
            out[repr(float(a))] = abs(float(vals[0]))
        return out

    key = ctx.key(model, alphas=p.alphas[model], n=n, tol=p.sharpness_tol)
    values = ctx.cached("sharpness", key, compute)
    return {float(a): v for a, v in values.items()}


def zone_strip(ctx: Context, model: str) -> dict[str, Any]:
    """The Goldilocks strip at ``T = 1``: alphas where ``||G||_2 >= ||H-term||_2``.

    Both spectral norms from :func:`goldilocks_nb.curvature.curvature_sweep` (Eq. 5) in
    ``zone_d``-dimensional random subspaces (mean over ``zone_seeds``), on ``zone_points``
    log-spaced alphas spanning the model's grid, as chapter 01 defines the zone (C4).

    Returns:
        ``{"alphas", "g", "h" (arrays), "intervals" [(lo, hi), ...]}``.
    """
    from ..curvature import curvature_sweep

    p = ctx.params
    lo, hi = min(p.alphas[model]), max(p.alphas[model])
    grid = [float(f"{v:.6g}") for v in np.logspace(math.log10(lo), math.log10(hi),
                                                   p.zone_points)]
    n = min(p.zone_n, p.n_train[model])

    def compute() -> dict[str, list[float]]:
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

    key = ctx.key(model, grid=grid, n=n, d=p.zone_d, seeds=p.zone_seeds)
    res = ctx.cached("zone", key, compute)
    g, h = np.array(res["g"]), np.array(res["h"])
    return {"alphas": np.array(grid), "g": g, "h": h,
            "intervals": dominance_intervals(grid, g >= h)}


def dominance_intervals(alphas: Sequence[float], mask: Sequence[bool]) -> list[tuple]:
    """Maximal runs of consecutive ``True`` in ``mask`` as ``(first alpha, last alpha)``.

    >>> dominance_intervals([1, 2, 3, 4], [False, True, True, False])
    [(2, 3)]
    """
    out, start = [], None
    for a, m, i in zip(alphas, mask, range(len(mask))):
        if m and start is None:
            start = a
        if start is not None and (not m or i == len(mask) - 1):
            out.append((start, a if m else alphas[i - 1]))
            start = None
    return out


def in_zone(alpha: float, intervals: Sequence[tuple]) -> bool:
    """Whether ``alpha`` lies in one of the strip's intervals."""
    return any(lo <= alpha <= hi for lo, hi in intervals)


# ----------------------------------------------------------------------------- summaries


def grid_summary(grid, *, model: str, num_classes: int, sharpness: Mapping[float, float],
                 params: Params) -> pd.DataFrame:
    """One row per run: the statistics that Figures 7 and 8 and the regime rules read.

    Columns: ``model, run, alpha, eta0, seed, lr, diverged, diverged_step,
    max_train_acc, final_train_acc, max_test_acc, final_test_acc, init_norm, max_norm,
    growth (max_norm / init_norm), final_zero (share of samples with all logits zero at the
    last step), max_zero, init_entropy, final_entropy, uniform_init, final_cos0, sharpness,
    lr_sharpness, trained``; then ``regime`` from :func:`classify`.
    """
    logK = math.log(num_classes)
    rows = []
    for run in grid.runs.itertuples():
        log = grid.log[grid.log.run == run.run]
        fin = log[np.isfinite(log.train_loss) & np.isfinite(log.param_norm)]
        last = log.iloc[-1]
        first = log.iloc[0]
        sharp = float(sharpness.get(float(run.alpha), math.nan))
        max_train = float(fin.train_acc.max()) if len(fin) else math.nan
        rows.append({
            "model": model, "run": int(run.run), "alpha": float(run.alpha),
            "eta0": float(run.eta0), "seed": int(run.seed), "lr": float(run.lr),
            "diverged": bool(run.diverged), "diverged_step": int(run.diverged_step),
            "max_train_acc": max_train,
            "final_train_acc": float(fin.train_acc.iloc[-1]) if len(fin) else math.nan,
            "max_test_acc": float(fin.test_acc.max()) if len(fin) else math.nan,
            "final_test_acc": float(fin.test_acc.iloc[-1]) if len(fin) else math.nan,
            "init_norm": float(first.param_norm),
            "max_norm": float(np.nanmax(log.param_norm.replace(np.inf, np.nan)))
            if len(log) else math.nan,
            "final_zero": float(last.zero_logit_samples),
            "max_zero": float(np.nanmax(log.zero_logit_samples)),
            "init_entropy": float(first.entropy),
            "final_entropy": float(last.entropy),
            "uniform_init": bool(first.entropy >= logK - params.uniform_tol),
            "final_cos0": float(fin.cos_theta0.iloc[-1]) if len(fin) else math.nan,
            "sharpness": sharp,
            "lr_sharpness": float(run.lr) * sharp,
            "trained": bool(max_train >= params.trained_acc[model]),
        })
    df = pd.DataFrame(rows)
    df["growth"] = df.max_norm / df.init_norm
    df["regime"] = classify_runs(df, params)
    return df


#: The regimes of Figure 7, in the order the rules test them.
REGIMES = ("diverged", "zero logits", "return to the zone", "lazy", "normal training",
           "endless divergence", "no progress")
#: The regimes the paper reports (Fig. 7): all but the reference and the catch-all.
PAPER_REGIMES = ("diverged", "zero logits", "return to the zone", "lazy", "endless divergence")

REGIME_RULES = (
    ("diverged", "the loss or a parameter became non-finite (overflow) at some step"),
    ("zero logits", "not diverged, and at the last step more than zero_logit_threshold of "
                    "the training samples have all K logits exactly zero"),
    ("return to the zone", "alpha < 1, trained (max train acc >= trained_acc), and the "
                           "norm first grew to >= growth_factor x its initial value"),
    ("lazy", "alpha > 1, trained, and cos(theta_T, theta_0) >= lazy_cos at the end"),
    ("normal training", "any other trained run"),
    ("endless divergence", "alpha < 1, not trained by the last step, norm grew to >= "
                           "growth_factor x its initial value (still diverging when the "
                           "step budget ends)"),
    ("no progress", "anything else: finite, not trained, no growth, no zero logits"),
)


def classify(row: Mapping[str, Any], params: Params) -> str:
    """The regime of one run (a row of :func:`grid_summary`) by :data:`REGIME_RULES`."""
    if row["diverged"]:
        return "diverged"
    if row["final_zero"] > params.zero_logit_threshold:
        return "zero logits"
    grew = row["growth"] >= params.growth_factor
    if row["trained"]:
        if row["alpha"] < 1 and grew:
            return "return to the zone"
        if row["alpha"] > 1 and row["final_cos0"] >= params.lazy_cos:
            return "lazy"
        return "normal training"
    if row["alpha"] < 1 and grew:
        return "endless divergence"
    return "no progress"


def classify_runs(summary: pd.DataFrame, params: Params) -> list[str]:
    """:func:`classify` for every row."""
    return [classify(r, params) for r in summary.to_dict("records")]


def regime_rules_text(params: Params) -> str:
    """The rules with this profile's thresholds, one per line (printed by the chapter)."""
    subs = {"zero_logit_threshold": f"{params.zero_logit_threshold:g}",
            "growth_factor": f"{params.growth_factor:g}", "lazy_cos": f"{params.lazy_cos:g}",
            "trained_acc": ", ".join(f"{k} {v:g}" for k, v in params.trained_acc.items())}
    lines = []
    for i, (name, text) in enumerate(REGIME_RULES, 1):
        for k, v in subs.items():
            text = text.replace(k, f"{k} ({v})")
        lines.append(f"{i}. {name}: {text}")
    return "\n".join(lines)


def staircase(summary: pd.DataFrame) -> pd.DataFrame:
    """Per alpha: the largest trained ``eta0`` (NaN if none) and whether it is the grid's
    largest (``censored``: the true maximum may lie above the grid)."""
    top = summary.eta0.max()
    rows = []
    for a, g in summary.groupby("alpha"):
        tr = g[g.trained]
        best = float(tr.eta0.max()) if len(tr) else math.nan
        rows.append({"alpha": float(a), "max_eta0": best, "censored": bool(best == top)})
    return pd.DataFrame(rows)


def staircase_fit(stairs: pd.DataFrame) -> dict[str, Any]:
    """Slope of log(max trainable eta0) vs log(alpha) for alpha <= 1 (Fig. 8 left, C16).

    The budget's end is the largest alpha < 1 at which nothing trains although a larger
    alpha <= 1 does; the fit uses the alphas <= 1 above it with an uncensored maximum.
    """
    small = stairs[stairs.alpha <= 1].sort_values("alpha")
    trains = small[np.isfinite(small.max_eta0)]
    budget_end = None
    if len(trains):
        below = small[(small.alpha < trains.alpha.min())]
        if len(below):
            budget_end = float(below.alpha.max())
    use = trains[~trains.censored]
    slope = None
    if len(use) >= 2 and use.alpha.nunique() >= 2:
        slope = loglog_slope(use.alpha, use.max_eta0)
    return {"slope": slope, "points": int(len(use)), "budget_end": budget_end,
            "alphas": use.alpha.tolist(), "max_eta0": use.max_eta0.tolist()}


# ----------------------------------------------------------------------------- studies


def lazy_comparison(summary: pd.DataFrame, grid, *, alphas=(0.01, 1.0, 1000.0)) -> dict:
    """The best run (highest final train accuracy, then final test accuracy) at each alpha
    of Figure 9 among the non-diverged runs, with its final accuracies (C19)."""
    out = {}
    ok = summary[~summary.diverged]
    for a in alphas:
        g = ok[np.isclose(ok.alpha, a)]
        if not len(g):
            out[a] = None
            continue
        best = g.sort_values(["final_train_acc", "final_test_acc"], ascending=False).iloc[0]
        out[a] = {"eta0": float(best.eta0), "run": int(best.run),
                  "max_train_acc": float(best.max_train_acc),
                  "final_train_acc": float(best.final_train_acc),
                  "final_test_acc": float(best.final_test_acc)}
    return out


def probe_study(ctx: Context, summary: pd.DataFrame, grid, *, progress: bool = False
                ) -> pd.DataFrame:
    """Linear probes on penultimate features of trained LeNet-300-100 nets across alpha and
    of random (untrained, unscaled) inits, one per probe seed (Fig. 12 left, C19).

    At each alpha the eta0 of the best non-diverged run of the grid is used; seeds other
    than the grid's are trained with it (same steps) through the run store.
    """
    from ..training import linear_probe

    p, model = ctx.params, "lenet-300-100"
    dt = resolve_dtype(p.dtype)
    net = ctx.models[model]
    train = (ctx.train[model].X.to(dt), ctx.train[model].y)
    test = (ctx.test[model].X.to(dt), ctx.test[model].y)
    best = lazy_comparison(summary, grid, alphas=p.alphas[model])

    def compute() -> list[dict]:
        rows = []
        for s in p.probe_seeds:
            theta0 = get_params(build_model(model, seed=s, input_shape=tuple(train[0].shape[1:])),
                                dtype=dt)
            r = linear_probe(net, theta0, train, test, seed=s, l2=p.probe_l2)
            rows.append({"alpha": math.nan, "seed": s, "kind": "random init",
                         "test_acc": r.test_accuracy, "converged": r.converged})
        for a, b in best.items():
            if b is None:
                continue
            finals = {}
            if p.seed in p.probe_seeds:
                finals[p.seed] = grid.final_params(b["run"])
            others = [s for s in p.probe_seeds if s != p.seed]
            if others:
                res = _grid(ctx, model, alphas=[a], eta0s=[b["eta0"]], seeds=others,
                            steps=p.steps[model], log_every=p.log_every[model],
                            progress=progress)
                for row in res.runs.itertuples():
                    if not row.diverged:
                        finals[int(row.seed)] = res.final_params(int(row.run))
            for s, theta in finals.items():
                r = linear_probe(net, theta, train, test, seed=s, l2=p.probe_l2)
                rows.append({"alpha": a, "seed": s, "kind": "trained",
                             "test_acc": r.test_accuracy, "converged": r.converged})
        return rows

    key = ctx.key(model, alphas=p.alphas[model], best={repr(a): b and b["eta0"]
                                                      for a, b in best.items()},
                  seeds=p.probe_seeds, l2=p.probe_l2, steps=p.steps[model])
    return pd.DataFrame(ctx.cached("probes", key, compute))


def uso_study(ctx: Context, *, progress: bool = False) -> dict[str, Any]:
    """Figure 11 (C21): alpha-scaled nets (alpha < 1) against the USO model at one eta0.

    Returns ``{"nets": log of the GD runs, "uso": log of the USO run, "compare": per alpha
    {"nonuniform_step", "part_step", "dev_before", "dev_end"}, "restarts": DataFrame of
    restart step t and the final training error of GD from ||theta_0|| theta_t/||theta_t||}``.
    """
    from ..training import restart_params

    p, model = ctx.params, "lenet-300-100"
    K = ctx.train[model].num_classes
    nets = _grid(ctx, model, alphas=p.uso_alphas, eta0s=[p.uso_eta0], seeds=[p.seed],
                 steps=p.uso_steps, log_every=p.uso_log_every, progress=progress)
    uso = _grid(ctx, model, alphas=[1.0], eta0s=[p.uso_eta0], seeds=[p.seed],
                steps=p.uso_steps, log_every=p.uso_log_every, rule="uso", progress=progress)
    ulog = uso.log.set_index("step")
    compare = {}
    for a in p.uso_alphas:
        log = nets.log[np.isclose(nets.log.alpha, a)].set_index("step")
        steps = log.index.intersection(ulog.index)
        dev = (log.param_norm[steps] / a - ulog.param_norm[steps]).abs() / ulog.param_norm[steps]
        compare[a] = uso_parting(steps.to_numpy(), dev.to_numpy(),
                                 log.entropy[steps].to_numpy(), K, p.uniform_tol, p.part_tol)
    # restarts from the USO direction at several t (USO runs of t steps, through the store)
    theta0 = get_params(build_model(model, seed=p.seed,
                                    input_shape=tuple(ctx.train[model].X.shape[1:])),
                        dtype=resolve_dtype(p.dtype))
    starts, ts = [], []
    for t in p.restart_at:
        if t == 0:
            theta_t = theta0
        else:
            res = _grid(ctx, model, alphas=[1.0], eta0s=[p.uso_eta0], seeds=[p.seed],
                        steps=t, log_every=t, rule="uso", progress=progress)
            if bool(res.runs.diverged.iloc[0]):
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
                         "diverged": bool(row.diverged)})
    return {"nets": nets.log, "uso": uso.log, "compare": compare,
            "restarts": pd.DataFrame(rows, columns=["t", "train_error", "diverged"])}


def uso_parting(steps: np.ndarray, dev: np.ndarray, entropy: np.ndarray, num_classes: int,
                uniform_tol: float, part_tol: float) -> dict[str, Any]:
    """Where an alpha-scaled net leaves the USO path (Fig. 11 left).

    ``nonuniform_step``: first logged step with mean entropy below ``log K - uniform_tol``;
    ``part_step``: first with relative norm deviation above ``part_tol``; ``dev_before``:
    largest deviation before ``nonuniform_step`` (over all steps when never non-uniform);
    ``dev_end``: deviation at the last common step. ``None`` where it does not happen.
    """
    logK = math.log(num_classes)
    nonuni = np.flatnonzero(entropy < logK - uniform_tol)
    parted = np.flatnonzero(dev > part_tol)
    nu = int(steps[nonuni[0]]) if len(nonuni) else None
    ps = int(steps[parted[0]]) if len(parted) else None
    before = dev[steps < nu] if nu is not None else dev
    return {"nonuniform_step": nu, "part_step": ps,
            "dev_before": float(np.nanmax(before)) if len(before) else math.nan,
            "dev_end": float(dev[-1]) if len(dev) else math.nan}


def random_label_study(ctx: Context, *, progress: bool = False) -> dict[str, pd.DataFrame]:
    """LeNet-300-100 on random labels, fixed vs redrawn at every step (C22): the logs."""
    p, model = ctx.params, "lenet-300-100"
    out = {}
    for labels in ("random-fixed", "random-redrawn"):
        out[labels] = _grid(ctx, model, alphas=[p.random_alpha], eta0s=[p.random_eta0],
                            seeds=[p.seed], steps=p.random_steps,
                            log_every=max(1, p.random_steps // 50), labels=labels,
                            progress=progress).log
    return out


def random_label_numbers(logs: Mapping[str, pd.DataFrame]) -> dict[str, dict[str, float]]:
    """Per label scheme: peak and final share of zero-logit samples, final train accuracy."""
    out = {}
    for k, log in logs.items():
        fin = log[np.isfinite(log.train_loss)]
        out[k] = {"peak_zero": float(log.zero_logit_samples.max()),
                  "peak_step": int(log.step[log.zero_logit_samples.idxmax()]),
                  "final_zero": float(log.zero_logit_samples.iloc[-1]),
                  "final_train_acc": float(fin.train_acc.iloc[-1]) if len(fin) else math.nan,
                  "diverged": bool(log.diverged.any())}
    return out


# ----------------------------------------------------------------------------- measurements


def growth_before_training(summary: pd.DataFrame, params: Params) -> bool:
    """Whether some trained alpha < 1 run grew its norm >= growth_factor first (C16)."""
    g = summary[(summary.alpha < 1) & summary.trained]
    return bool(len(g) and (g.growth >= params.growth_factor).any())


def too_large_counts(summary: pd.DataFrame) -> dict[str, int]:
    """Runs whose eta0 exceeds the largest trained eta0 at their alpha (alphas where some
    run trains), and how many of them diverged or ended in the zero-logit regime (C17)."""
    out = {"too_large": 0, "diverged": 0, "zero_logits": 0}
    for _, g in summary.groupby("alpha"):
        tr = g[g.trained]
        if not len(tr):
            continue
        big = g[g.eta0 > tr.eta0.max()]
        out["too_large"] += len(big)
        out["diverged"] += int((big.regime == "diverged").sum())
        out["zero_logits"] += int((big.regime == "zero logits").sum())
    return out


def zone_alignment(summary: pd.DataFrame, strip: Mapping[str, Any]) -> str:
    """Where the strip and trainability disagree in one model's grid ('' when they agree):
    alphas inside the strip where nothing trains, alphas outside it where runs train."""
    inside_dead, outside_ok = [], []
    for a, g in summary.groupby("alpha"):
        z = in_zone(float(a), strip["intervals"])
        if z and not g.trained.any():
            inside_dead.append(float(a))
        if not z and g.trained.any():
            outside_ok.append(float(a))
    parts = []
    if inside_dead:
        parts.append("nothing trains inside the strip at alpha " + ", ".join(
            f"{a:g}" for a in inside_dead))
    if outside_ok:
        parts.append("runs train outside the strip at alpha " + ", ".join(
            f"{a:g}" for a in outside_ok))
    return "; ".join(parts)


def zone_upper(strip: Mapping[str, Any], at: float = 1.0) -> float | None:
    """Upper end of the strip interval holding ``at`` (else the nearest one; None if none)."""
    ivs = strip["intervals"]
    if not ivs:
        return None
    best = min(ivs, key=lambda iv: 0.0 if iv[0] <= at <= iv[1] else min(
        abs(math.log10(iv[0] / at)), abs(math.log10(iv[1] / at))))
    return float(best[1])


def admissibility(summaries: Sequence[pd.DataFrame]) -> dict[str, Any]:
    """``eta ||H||_2 > 2`` at init against "did not train", over all runs (C18)."""
    df = pd.concat(summaries, ignore_index=True)
    df = df[np.isfinite(df.lr_sharpness)]
    inad = df.lr_sharpness > 2
    return {"inadmissible": int(inad.sum()),
            "inadmissible_untrained": int((inad & ~df.trained).sum()),
            "agreement": float((inad == ~df.trained).mean()) if len(df) else math.nan}


def lenet5_numbers(summary: pd.DataFrame, params: Params) -> dict[str, Any]:
    """LeNet-5's largest trained alpha and zero-logit shares of untrained alpha > 1 runs."""
    tr = summary[summary.trained]
    bad = summary[(summary.alpha > 1) & ~summary.trained & ~summary.diverged]
    return {"largest_trained_alpha": float(tr.alpha.max()) if len(tr) else None,
            "max_zero_untrained": float(bad.final_zero.max()) if len(bad) else 0.0,
            "grid_max_alpha": float(summary.alpha.max())}


def regime_counts(summaries: Sequence[pd.DataFrame]) -> dict[str, int]:
    """Runs per regime over the given grids, in :data:`REGIMES` order."""
    df = pd.concat(summaries, ignore_index=True)
    return {r: int((df.regime == r).sum()) for r in REGIMES}


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


def estimate_cost(params: Params, flops_per_sample: Mapping[str, float]) -> dict[str, Any]:
    """FLOPs of the two main grids (train steps plus test evaluations at each log step)
    and the wall time at ``gpu_tflops`` sustained (a planning number, not a measurement)."""
    per = {}
    for m in MODELS:
        runs = len(params.alphas[m]) * len(params.eta0s[m])
        steps = params.steps[m] + 1
        evals = params.steps[m] // params.log_every[m] + 1
        f = flops_per_sample[m] * runs * (steps * params.n_train[m]
                                          + evals * params.n_test[m] / 3)
        per[m] = {"runs": runs, "flops": f}
    total = sum(v["flops"] for v in per.values())
    return {"per_model": per, "total_flops": total,
            "hours_at_gpu": total / (params.gpu_tflops * 1e12) / 3600}


def scale_notes(params: Params) -> list[str]:
    """What this profile scales down against the paper (Section 5), one line each."""
    notes = []
    full = {"lenet-300-100": 60000, "lenet-5": 50000}
    for m, ds in zip(MODELS, params.datasets):
        notes.append(f"{m}: {params.n_train[m]:,} training images of {ds} (paper: "
                     f"{full[m]:,}), {params.steps[m]:,} full-batch steps (paper: 20,000 "
                     f"epochs), grid {len(params.alphas[m])} alpha x {len(params.eta0s[m])}"
                     f" eta0, alpha in [{min(params.alphas[m]):g}, "
                     f"{max(params.alphas[m]):g}], test accuracy on {params.n_test[m]:,} "
                     "test images")
    notes.append(f"probes: {len(params.probe_seeds)} seed(s) (paper: 3); USO: "
                 f"{params.uso_steps:,} steps at eta0 = {params.uso_eta0:g} (paper: 0.0002 "
                 "over 20,000 epochs)")
    return notes


# ----------------------------------------------------------------------------- verdicts


def _fmt(x: float | None, spec: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "none"
    text = format(x + 0 if isinstance(x, int) else float(x) + 0.0, spec)
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def verdict_c16(fits: Mapping[str, Mapping[str, Any]], growth_seen: Mapping[str, bool], *,
                slope_tol: float) -> Verdict:
    """C16: for alpha < 1 the largest trainable eta0 grows linearly with alpha on log-log
    axes (the staircase) until the step budget ends it, after a divergence phase.

    Args:
        fits: per model, :func:`staircase_fit`'s ``slope`` (None if < 2 points),
            ``points`` and ``budget_end``.
        growth_seen: per model, whether trained alpha < 1 runs grew their norm first.
        slope_tol: the slope counts as linear within ``1 +- slope_tol``.
    """
    parts, fitted, linear = [], [], []
    for m, f in fits.items():
        s = f["slope"]
        parts.append(f"{m}: slope {_fmt(s, '.2f')} over {f['points']} alpha <= 1, budget ends the "
                     f"staircase below alpha = {_fmt(f['budget_end'], 'g')}")
        if s is not None:
            fitted.append(m)
            if abs(s - 1) <= slope_tol:
                linear.append(m)
    grew = [m for m, g in growth_seen.items() if g]
    measured = ("; ".join(parts) + "; norm growth before training seen for: "
                + (", ".join(grew) or "none"))
    values = {"fits": {m: dict(f) for m, f in fits.items()}, "growth_seen": dict(growth_seen)}
    key = ", ".join(f"{m} slope {_fmt(f['slope'], '.2f')}" for m, f in fits.items())
    if linear and len(linear) == len(fits) and grew:
        return Verdict("C16", "reproduced", measured, "", values, key)
    reasons = []
    not_fitted = [m for m in fits if m not in fitted]
    if not_fitted:
        reasons.append(f"staircase not measurable for {', '.join(not_fitted)}: fewer than 2 "
                       "uncensored alpha <= 1 points at this step budget and grid (not reached "
                       "at this scale)")
    off = [m for m in fitted if m not in linear]
    if off:
        reasons.append("slope outside 1 +- " + f"{slope_tol:g} for " + ", ".join(
            f"{m} ({_fmt(fits[m]['slope'], '.2f')})" for m in off))
    if not grew:
        reasons.append("no trained alpha < 1 run grew its norm first")
    verdict = "partly" if linear or grew else "not reproduced"
    return Verdict("C16", verdict, measured, "; ".join(reasons), values, key)


def verdict_c17(counts: Mapping[str, Mapping[str, int]], *, min_share: float) -> Verdict:
    """C17: runs whose eta0 exceeds the largest trainable one at their alpha diverge or
    develop zero logits.

    Args:
        counts: per model ``{"too_large", "diverged", "zero_logits"}`` counts over such runs.
        min_share: share of them that must diverge or zero their logits.
    """
    n = sum(c["too_large"] for c in counts.values())
    d = sum(c["diverged"] for c in counts.values())
    z = sum(c["zero_logits"] for c in counts.values())
    share = (d + z) / n if n else math.nan
    measured = "; ".join(f"{m}: {c['too_large']} runs above the largest trainable eta0, "
                         f"{c['diverged']} diverged, {c['zero_logits']} with zero logits"
                         for m, c in counts.items())
    values = {"counts": {m: dict(c) for m, c in counts.items()}, "share": share}
    key = f"{d + z}/{n} diverge or zero logits"
    if n == 0:
        return Verdict("C17", "not reproduced", measured,
                       "no run above a trainable eta0 in the grid (not reached at this scale)",
                       values, key)
    if share >= min_share:
        return Verdict("C17", "reproduced", measured, "", values, key)
    verdict = "partly" if d + z > 0 else "not reproduced"
    return Verdict("C17", verdict, measured,
                   f"only {d + z} of {n} ({share:.0%}) too-large-rate runs diverged or "
                   f"developed zero logits (< {min_share:.0%}); the others stayed finite "
                   "without training", values, key)


def verdict_c18(inadmissible: int, inadmissible_untrained: int, agreement: float,
                misaligned: Mapping[str, str], *, agreement_min: float) -> Verdict:
    """C18: ``eta ||H||_2 > 2`` at init marks configurations that do not train, and the
    Goldilocks strip does not line up with the trainability boundaries.

    Args:
        inadmissible: runs with ``eta ||H||_2 > 2``; inadmissible_untrained: of them, the
            runs that did not train.
        agreement: share of all runs where ``eta ||H||_2 > 2`` equals "did not train".
        misaligned: per model, a description of where strip and trainability disagree
            (empty string where they line up).
        agreement_min: least share of inadmissible runs that must fail to train.
    """
    prec = inadmissible_untrained / inadmissible if inadmissible else math.nan
    mis = {m: t for m, t in misaligned.items() if t}
    measured = (f"{inadmissible_untrained}/{inadmissible} runs with eta ||H||_2 > 2 did not "
                f"train; agreement of 'eta ||H||_2 > 2' with 'did not train' over all runs "
                f"{agreement:.2f}; strip vs trainability: "
                + "; ".join(f"{m}: {t or 'aligned'}" for m, t in misaligned.items()))
    values = {"inadmissible": inadmissible, "inadmissible_untrained": inadmissible_untrained,
              "precision": prec, "agreement": agreement, "misaligned": dict(misaligned)}
    key = f"{inadmissible_untrained}/{inadmissible} inadmissible untrained"
    marks = inadmissible > 0 and prec >= agreement_min
    if marks and mis:
        return Verdict("C18", "reproduced", measured, "", values, key)
    reasons = []
    if inadmissible == 0:
        reasons.append("no run of the grid has eta ||H||_2 > 2 at init (not reached)")
    elif not marks:
        reasons.append(f"only {prec:.0%} of the eta ||H||_2 > 2 runs failed to train "
                       f"(< {agreement_min:.0%})")
    if not mis:
        reasons.append("the strip lines up with the trainability boundaries in this grid")
    return Verdict("C18", "partly" if (marks or mis) else "not reproduced", measured,
                   "; ".join(reasons), values, key)


def verdict_c19(train_acc_1000: float | None, test_acc_1000: float | None,
                test_acc_1: float | None, probe_1000: float | None, probe_random: float | None,
                probe_1: float | None, *, full_train: float, min_gap: float,
                probe_margin: float) -> Verdict:
    """C19: at alpha = 1000 LeNet-300-100 reaches (near) zero training error, its test
    accuracy saturates below the alpha = 1 run, and a linear probe on its features is only
    marginally better than on a random init's (the lazy regime).

    Args:
        train_acc_1000, test_acc_1000: best alpha = 1000 run's max train / final test acc.
        test_acc_1: best alpha = 1 run's final test accuracy.
        probe_1000, probe_random, probe_1: mean probe test accuracies.
        full_train: training accuracy that counts as zero training error.
        min_gap: least test gap (alpha = 1 minus alpha = 1000).
        probe_margin: probe gains below this are "marginal"; the zone's must exceed it.
    """
    if train_acc_1000 is None or test_acc_1000 is None or test_acc_1 is None:
        return Verdict("C19", "not reproduced",
                       "no non-diverged run at alpha = 1000 or alpha = 1",
                       "the grid has no finite run at alpha = 1000 or alpha = 1", {}, "n/a")
    gap = test_acc_1 - test_acc_1000
    checks = {
        f"train accuracy at alpha = 1000 >= {full_train:g}": train_acc_1000 >= full_train,
        f"test gap alpha=1 minus alpha=1000 >= {min_gap:g}": gap >= min_gap,
    }
    if None not in (probe_1000, probe_random, probe_1):
        checks[f"probe gain of alpha = 1000 over random init <= {probe_margin:g}"] = (
            probe_1000 - probe_random <= probe_margin)
        checks[f"probe of alpha = 1 beats alpha = 1000 by > {probe_margin:g}"] = (
            probe_1 - probe_1000 > probe_margin)
    measured = (f"alpha = 1000: train acc {train_acc_1000:.3f}, test acc {test_acc_1000:.3f}; "
                f"alpha = 1: test acc {test_acc_1:.3f} (gap {gap:+.3f}); probes: alpha=1000 "
                f"{_fmt(probe_1000)}, alpha=1 {_fmt(probe_1)}, random init {_fmt(probe_random)}")
    values = {"train_acc_1000": train_acc_1000, "test_acc_1000": test_acc_1000,
              "test_acc_1": test_acc_1, "gap": gap, "probe_1000": probe_1000,
              "probe_random": probe_random, "probe_1": probe_1}
    failed = [k for k, ok in checks.items() if not ok]
    key = f"test {test_acc_1000:.2f} vs {test_acc_1:.2f}"
    if not failed:
        return Verdict("C19", "reproduced", measured, "", values, key)
    verdict = "partly" if len(failed) < len(checks) else "not reproduced"
    why = "failed: " + "; ".join(failed) + f" (gap {gap:+.3f}, train acc {train_acc_1000:.3f})"
    return Verdict("C19", verdict, measured, why, values, key)


def verdict_c20(largest_trained_alpha: float | None, zone_upper: float | None,
                max_zero_untrained: float, grid_max_alpha: float, *, paper_alpha: float,
                zero_threshold: float) -> Verdict:
    """C20: LeNet-5 trains above chance for no alpha above ~1.8 (any eta0) although the
    zone extends further; zero logits emerge.

    Args:
        largest_trained_alpha: the largest grid alpha with a trained run (None: none).
        zone_upper: the upper end of the strip holding alpha = 1 (None: no strip).
        max_zero_untrained: largest final zero-logit share of untrained alpha > 1 runs.
        grid_max_alpha: the grid's largest alpha.
        paper_alpha: the paper's bound (1.8); zero_threshold: share that counts.
    """
    measured = (f"largest alpha that trains: {_fmt(largest_trained_alpha, 'g')} (paper: "
                f"{paper_alpha:g}; grid up to {grid_max_alpha:g}); zone strip reaches alpha = "
                f"{_fmt(zone_upper, '.3g')}; largest final zero-logit share of untrained "
                f"alpha > 1 runs {max_zero_untrained:.2f}")
    values = {"largest_trained_alpha": largest_trained_alpha, "zone_upper": zone_upper,
              "max_zero_untrained": max_zero_untrained}
    key = f"trains up to alpha {_fmt(largest_trained_alpha, 'g')}"
    if largest_trained_alpha is None:
        return Verdict("C20", "not reproduced", measured,
                       "no LeNet-5 run trained at any alpha (the budget is too small to "
                       "compare)", values, key)
    checks = {
        f"nothing trains above alpha = {paper_alpha:g}": largest_trained_alpha <= paper_alpha,
        "the zone extends beyond the largest trainable alpha": (
            zone_upper is not None and zone_upper > largest_trained_alpha),
        f"zero logits (> {zero_threshold:g} of samples) in untrained alpha > 1 runs": (
            max_zero_untrained > zero_threshold),
    }
    failed = [k for k, ok in checks.items() if not ok]
    if not failed:
        return Verdict("C20", "reproduced", measured, "", values, key)
    core = checks[f"nothing trains above alpha = {paper_alpha:g}"]
    return Verdict("C20", "partly" if core or len(failed) < len(checks) else "not reproduced",
                   measured, "failed: " + "; ".join(failed), values, key)


def verdict_c21(compare: Mapping[float, Mapping[str, Any]], cos0_end: float,
                restart_errors: Sequence[tuple[int, float]], *, part_tol: float,
                rotation_cos: float, restart_margin: float) -> Verdict:
    """C21: alpha < 1 nets follow the USO path while their softmax is uniform and part
    when it stops being uniform; longer USO divergence rotates the parameters and hurts
    training from the rescaled direction.

    Args:
        compare: per alpha, :func:`uso_parting`'s numbers.
        cos0_end: USO's ``cos(theta_T, theta_0)`` at the last step.
        restart_errors: ``(t, final training error)`` of the restarts, by increasing t.
        part_tol: deviation that counts as parted; rotation_cos: ``cos0_end`` below this
            counts as rotated; restart_margin: error increase that counts as hurting.
    """
    follow = all(c["dev_before"] <= part_tol for c in compare.values())
    left = {a: c for a, c in compare.items() if c["nonuniform_step"] is not None}
    part_ok = all(c["part_step"] is not None and c["part_step"] >= c["nonuniform_step"]
                  for c in left.values())
    errs = [e for _, e in restart_errors if not math.isnan(e)]
    hurt = len(errs) >= 2 and errs[-1] - errs[0] >= restart_margin
    rotated = cos0_end < rotation_cos
    measured = "; ".join(
        f"alpha={a:g}: max deviation while uniform {c['dev_before']:.1e}, softmax non-uniform "
        f"at step {_fmt(c['nonuniform_step'], 'd')}, parts at step {_fmt(c['part_step'], 'd')}"
        for a, c in compare.items())
    measured += (f"; USO cos(theta_T, theta_0) = {cos0_end:.3f}; restart train error "
                 + ", ".join(f"t={t}: {e:.3f}" for t, e in restart_errors))
    values = {"compare": {repr(a): dict(c) for a, c in compare.items()},
              "cos0_end": cos0_end, "restart_errors": [list(x) for x in restart_errors]}
    checks = {f"norms/alpha follow USO (deviation <= {part_tol:g}) while uniform": follow,
              "nets part no earlier than their softmax leaves uniform": part_ok,
              "some net leaves the uniform softmax within the budget": bool(left),
              f"USO rotates theta (cos < {rotation_cos:g})": rotated,
              f"restart error grows by >= {restart_margin:g}": hurt}
    key = f"{len(left)}/{len(compare)} nets part; cos0 {cos0_end:.2f}"
    failed = [k for k, ok in checks.items() if not ok]
    if not failed:
        return Verdict("C21", "reproduced", measured, "", values, key)
    verdict = "partly" if follow and part_ok else "not reproduced"
    why = "failed: " + "; ".join(failed)
    if not left:
        why += " (no net left the uniform softmax within the step budget: not reached)"
    return Verdict("C21", verdict, measured, why, values, key)


def verdict_c22(numbers: Mapping[str, Mapping[str, float]], *, appear: float,
                vanish_ratio: float = 0.5) -> Verdict:
    """C22: with fixed random labels zero logits appear early and vanish as the labels are
    memorised; redrawing labels every step makes them worse.

    Args:
        numbers: :func:`random_label_numbers` (keys ``random-fixed``, ``random-redrawn``).
        appear: least peak share of zero-logit samples that counts as "appear".
        vanish_ratio: the final share must fall below this fraction of the peak.
    """
    f, r = numbers["random-fixed"], numbers["random-redrawn"]
    checks = {
        f"zero logits appear with fixed labels (peak >= {appear:g})": f["peak_zero"] >= appear,
        f"they vanish (final <= {vanish_ratio:g} x peak)": (
            f["peak_zero"] > 0 and f["final_zero"] <= vanish_ratio * f["peak_zero"]),
        "redrawn labels end with more zero logits": r["final_zero"] > f["final_zero"],
    }
    measured = (f"fixed: peak {f['peak_zero']:.3f} at step {f['peak_step']}, final "
                f"{f['final_zero']:.3f}, train acc {f['final_train_acc']:.3f}; redrawn: peak "
                f"{r['peak_zero']:.3f}, final {r['final_zero']:.3f}")
    values = {k: dict(v) for k, v in numbers.items()}
    key = f"final zero share {f['final_zero']:.2f} vs {r['final_zero']:.2f}"
    failed = [k for k, ok in checks.items() if not ok]
    if not failed:
        return Verdict("C22", "reproduced", measured, "", values, key)
    verdict = "partly" if len(failed) < len(checks) else "not reproduced"
    return Verdict("C22", verdict, measured, "failed: " + "; ".join(failed), values, key)


def verdict_c23(counts: Mapping[str, int]) -> Verdict:
    """C23: the taxonomy of Figure 7: which of :data:`PAPER_REGIMES` were observed.

    Args:
        counts: runs per regime over both models' grids.
    """
    seen = [r for r in PAPER_REGIMES if counts.get(r, 0) > 0]
    missing = [r for r in PAPER_REGIMES if r not in seen]
    measured = ", ".join(f"{r}: {counts.get(r, 0)}" for r in REGIMES)
    values = {"counts": dict(counts), "observed": seen, "missing": missing}
    key = f"{len(seen)}/{len(PAPER_REGIMES)} regimes seen"
    if not missing:
        return Verdict("C23", "reproduced", measured, "", values, key)
    verdict = "partly" if len(seen) * 2 >= len(PAPER_REGIMES) else "not reproduced"
    return Verdict("C23", verdict, measured,
                   f"not observed at this scale: {', '.join(missing)}", values, key)
