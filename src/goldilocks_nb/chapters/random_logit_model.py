"""Chapter 02, the random logit model: Eq. 8 against the true G-term (C6), curvature vs d (C7).

Section 4 of the paper models the projected logit gradients as ``c_k + e_k^mu`` and derives
the expected G-term's excess of positive eigenvalues (Eq. 8). This module holds the
chapter's declared parameters, the computations behind Figure 3 (left) and Figure 4 (left)
(through :mod:`goldilocks_nb.random_logit`, cached so a killed run resumes) and one verdict
function per claim, whose reason is built from the measured numbers.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from .. import random_logit as rl
from ..contract import ChapterParams, Verdict
from ..data import DATASETS, Dataset, load_dataset, long_tail_prior
from ..functional import get_params, logits
from ..models import build_model, num_parameters
from ..notebook import log_grid
from ..results import cached
from ..statistics import monotone_increase

__all__ = [
    "ALIGN_NAMES",
    "BOUND_ROUNDING",
    "CIFAR_DATASETS",
    "DTYPES",
    "FASHION_DATASETS",
    "FIG6_EXPECTED",
    "Params",
    "alignment_results",
    "assumption_results",
    "c6_table",
    "dimension_results",
    "figure3_results",
    "figure6_results",
    "lenet5",
    "lenet5_figure3",
    "lenet_300_100",
    "load_cifar",
    "load_data",
    "prior_results",
    "verdict_c13",
    "verdict_c14",
    "verdict_c15",
    "verdict_c6",
    "verdict_c7",
    "with_values",
]

FASHION_DATASETS = tuple(n for n in DATASETS if n.startswith("fashion-mnist"))
CIFAR_DATASETS = tuple(n for n in DATASETS if n.startswith("cifar10"))
DTYPES = {"float64": torch.float64, "float32": torch.float32}
#: LeNet-300-100's parameter count (784*300 + 300*100 + 100*10), the cap on ``d``.
LENET_300_100_P = 266_200
#: LeNet-5's parameter count on 3 x 32 x 32 inputs (chapter 00).
LENET_5_P = 61_770

T = TypeVar("T")
Progress = Callable[[Iterable[T]], Iterable[T]]


def _no_progress(it: Iterable[T], **_: Any) -> Iterable[T]:
    return it


@dataclass(kw_only=True)
class Params(ChapterParams):
    """Parameters of chapter 02 (defaults: the smoke profile).

    Attributes:
        dtype: floating type of data, model and Jacobians.
        dataset: Fashion-MNIST copy for LeNet-300-100 (C6, C7).
        n_samples: class-balanced training images.
        model_seed: Kaiming initialisation seed of LeNet-300-100.
        data_seed: seed of the balanced subset.
        d: subspace dimension of Figure 3 (paper: 50).
        seeds: subspace seeds; bands are min/max over them (paper: 3).
        temperature: softmax temperature ``T``.
        alpha_grid: Figure 3's log grid of alpha, ``[start, stop, num]``.
        d_values: Figure 4 (left) subspace dimensions, strictly increasing.
        d_alphas: scales at which ``d`` is varied.
        gap_tolerance: C6 "reproduced" needs the largest relative gap below this ...
        corr_threshold: ... and the Pearson correlation across alpha above this.
        assumption_alphas: scales at which ``J R`` is computed to measure the assumptions.
        cifar_dataset: CIFAR-10 copy for LeNet-5 (Figure 3 right, Figures 5-6).
        lenet5_dtype: floating type of LeNet-5's passes (its results are kept in float64).
        lenet5_n_samples: balanced CIFAR-10 images for Figure 3 (right).
        lenet5_alpha_grid: Figure 3 (right)'s log grid of alpha.
        n_priors: C13, class priors Q drawn uniformly from the simplex (paper: 2,000).
        prior_pool: balanced CIFAR-10 pool: sigma_c^2 is estimated on it, subsets drawn from it.
        prior_subset_size: images per prior-Q subset (paper: 5,000); at most prior_pool / 10.
        slope_tolerance: C13, largest relative deviation of the fitted from the predicted slope.
        r2_min: C13, smallest R^2 of the linear fit.
        align_n: C14, images per dataset and subset (Figure 5a).
        align_inits: C14, LeNet-5 init seeds.
        align_alphas: C14, scales (1 and a small one that makes Qhat uniform).
        imbalances: C14, long-tail imbalance ratios (1: balanced).
        cos_high: C14, init-mean cosine every pair must exceed at alpha = 1 (paper: 0.7).
        cos_low: C14, init-mean |cosine| every pair must stay below at the small alpha.
        fig6_inits: C15, Kaiming inits of LeNet-5 (paper: 2,000).
        fig6_n: C15, balanced CIFAR-10 batch size (paper: 3,000).
        fig6_d: C15, subspace dimension of the positive curvature (paper: 50).
        n_boot: C15, bootstrap resamples of the rank correlations.
        ci_level: C15, level of the bootstrap intervals.
        torch_threads: CPU threads for torch (0: torch's default).
    """

    notebook = "02_random_logit_model"
    dtype: str = "float64"
    dataset: str = "fashion-mnist-embedded"
    n_samples: int = 200
    model_seed: int = 0
    data_seed: int = 0
    d: int = 50
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    temperature: float = 1.0
    alpha_grid: list[float] = field(default_factory=lambda: [0.01, 100.0, 17])
    d_values: list[int] = field(default_factory=lambda: [5, 10, 20, 50])
    d_alphas: list[float] = field(default_factory=lambda: [1.0, 2.0])
    gap_tolerance: float = 0.15
    corr_threshold: float = 0.9
    assumption_alphas: list[float] = field(default_factory=lambda: [0.1, 1.0, 10.0])
    cifar_dataset: str = "cifar10-embedded"
    lenet5_dtype: str = "float32"
    lenet5_n_samples: int = 60
    lenet5_alpha_grid: list[float] = field(default_factory=lambda: [0.05, 20.0, 9])
    n_priors: int = 12
    prior_pool: int = 500
    prior_subset_size: int = 50
    slope_tolerance: float = 0.25
    r2_min: float = 0.8
    align_n: int = 100
    align_inits: list[int] = field(default_factory=lambda: [0, 1])
    align_alphas: list[float] = field(default_factory=lambda: [1.0, 0.01])
    imbalances: list[float] = field(default_factory=lambda: [1.0, 10.0])
    cos_high: float = 0.7
    cos_low: float = 0.3
    fig6_inits: int = 5
    fig6_n: int = 48
    fig6_d: int = 10
    n_boot: int = 1000
    ci_level: float = 0.95
    torch_threads: int = 1

    def check(self) -> None:
        self.require_in("dtype", self.dtype, DTYPES)
        self.require_in("dataset", self.dataset, FASHION_DATASETS)
        self.require_at_least("n_samples", self.n_samples, 10)
        self.require_at_least("model_seed", self.model_seed, 0)
        self.require_at_least("data_seed", self.data_seed, 0)
        self.require(1 <= self.d <= LENET_300_100_P, "d", self.d,
                     f"an integer in [1, {LENET_300_100_P}] (LeNet-300-100's P)")
        self.require(len(self.seeds) > 0, "seeds", self.seeds, "a non-empty list")
        self.require_at_least("seeds", self.seeds, 0)
        self.require(len(set(self.seeds)) == len(self.seeds), "seeds", self.seeds,
                     "distinct seeds")
        self.require_positive("temperature", self.temperature)
        self.require_log_grid("alpha_grid", self.alpha_grid, min_num=3)
        self.require(len(self.d_values) >= 2, "d_values", self.d_values,
                     "at least two dimensions (a trend needs two points)")
        self.require(all(1 <= v <= LENET_300_100_P for v in self.d_values), "d_values",
                     self.d_values, f"integers in [1, {LENET_300_100_P}]")
        self.require(all(b > a for a, b in zip(self.d_values, self.d_values[1:])), "d_values",
                     self.d_values, "strictly increasing")
        self.require(len(self.d_alphas) > 0, "d_alphas", self.d_alphas, "a non-empty list")
        self.require_positive("d_alphas", self.d_alphas)
        for name in ("gap_tolerance", "corr_threshold"):
            value = getattr(self, name)
            self.require(0 < value <= 1, name, value, "in (0, 1]")
        self.require_positive("assumption_alphas", self.assumption_alphas)
        self.require(len(self.assumption_alphas) > 0, "assumption_alphas",
                     self.assumption_alphas, "a non-empty list")
        self.require_in("cifar_dataset", self.cifar_dataset, CIFAR_DATASETS)
        self.require_in("lenet5_dtype", self.lenet5_dtype, DTYPES)
        self.require_at_least("lenet5_n_samples", self.lenet5_n_samples, 10)
        self.require_log_grid("lenet5_alpha_grid", self.lenet5_alpha_grid, min_num=3)
        self.require_at_least("n_priors", self.n_priors, 3)
        self.require_at_least("prior_pool", self.prior_pool, 10)
        self.require(10 <= self.prior_subset_size <= self.prior_pool // 10, "prior_subset_size",
                     self.prior_subset_size,
                     f"in [10, prior_pool / 10 = {self.prior_pool // 10}] (any prior must fit "
                     f"the balanced pool)")
        self.require_at_least("align_n", self.align_n, 10)
        self.require(len(self.align_inits) > 0 and len(set(self.align_inits))
                     == len(self.align_inits), "align_inits", self.align_inits,
                     "a non-empty list of distinct seeds")
        self.require_at_least("align_inits", self.align_inits, 0)
        self.require(1.0 in self.align_alphas and any(a < 1 for a in self.align_alphas),
                     "align_alphas", self.align_alphas, "a list holding 1.0 and a scale < 1")
        self.require_positive("align_alphas", self.align_alphas)
        self.require(1.0 in self.imbalances, "imbalances", self.imbalances,
                     "a list holding 1.0 (balanced)")
        self.require_at_least("imbalances", self.imbalances, 1.0)
        head = float(long_tail_prior(10, max(self.imbalances, default=1.0))[0])
        self.require(math.ceil(head * self.align_n) <= self.prior_pool // 10, "align_n",
                     self.align_n, f"small enough that the head class of the most imbalanced "
                     f"prior ({head:.3f} of align_n) fits the pool's {self.prior_pool // 10} "
                     f"images per class")
        for name in ("slope_tolerance", "r2_min", "cos_high", "cos_low", "ci_level"):
            value = getattr(self, name)
            self.require(0 < value < 1, name, value, "in (0, 1)")
        self.require(self.cos_low < self.cos_high, "cos_low", self.cos_low,
                     f"below cos_high = {self.cos_high}")
        self.require_at_least("fig6_inits", self.fig6_inits, 4)
        self.require_at_least("fig6_n", self.fig6_n, 10)
        self.require(1 <= self.fig6_d <= LENET_5_P, "fig6_d", self.fig6_d,
                     f"an integer in [1, {LENET_5_P}] (LeNet-5's P)")
        self.require_at_least("n_boot", self.n_boot, 100)
        self.require_at_least("torch_threads", self.torch_threads, 0)

    # ---- derived values
    @property
    def torch_dtype(self) -> torch.dtype:
        """``dtype`` as a torch dtype."""
        return DTYPES[self.dtype]

    @property
    def alphas(self) -> np.ndarray:
        """Figure 3's alpha grid (log-spaced, rounded to 6 digits)."""
        start, stop, num = self.alpha_grid
        return rl.check_alphas(log_grid(start, stop, int(num)))

    @property
    def lenet5_alphas(self) -> np.ndarray:
        """Figure 3 (right)'s alpha grid for LeNet-5."""
        start, stop, num = self.lenet5_alpha_grid
        return rl.check_alphas(log_grid(start, stop, int(num)))


def with_values(verdict: Verdict, **values: Any) -> Verdict:
    """``verdict`` with ``values`` added to its raw numbers (e.g. the curves behind it)."""
    return dataclasses.replace(verdict, values={**verdict.values, **values})


# ----------------------------------------------------------------------------- data


def load_data(params: Params, device: torch.device) -> Dataset:
    """The class-balanced Fashion-MNIST training subset of ``n_samples`` images."""
    return load_dataset(params.dataset, n=params.n_samples, seed=params.data_seed,
                        dtype=params.torch_dtype, device=device)


def lenet_300_100(params: Params, ds: Dataset) -> tuple[torch.nn.Module, dict, torch.Tensor]:
    """LeNet-300-100 (Kaiming, ``model_seed``), its parameters and float64 logits on ``ds``."""
    model = build_model("lenet-300-100", seed=params.model_seed, input_shape=ds.input_shape,
                        dtype=ds.X.dtype, device=ds.X.device)
    theta = get_params(model)
    with torch.no_grad():
        z = logits(model, theta, ds.X).to(torch.float64)
    if num_parameters(model) != LENET_300_100_P:  # pragma: no cover - architecture guard
        raise RuntimeError(f"LeNet-300-100 has P = {num_parameters(model)}, expected "
                           f"{LENET_300_100_P}")
    return model, theta, z


# ----------------------------------------------------------------------------- C6


def _data_key(params: Params) -> dict[str, Any]:
    return dict(dataset=params.dataset, n=params.n_samples, data_seed=params.data_seed,
                model_seed=params.model_seed, dtype=params.dtype, T=params.temperature)


def figure3_results(params: Params, model: torch.nn.Module, theta: dict, X: torch.Tensor, *,
                    cache_dir: str, progress: Progress = _no_progress) -> dict:
    """True and Eq. 8 G-term curvature across ``params.alphas``, one subspace per seed.

    The output of :func:`goldilocks_nb.random_logit.logit_model_sweep` with the seeds
    stacked (``true``, ``predicted``: ``(S, A)``), cached under ``02_fig3_sweep``.
    """
    alphas = params.alphas

    def compute() -> dict:
        parts = [rl.logit_model_sweep(model, theta, X, alphas=alphas, d=params.d, seeds=[s],
                                      temperature=params.temperature)
                 for s in progress(params.seeds, desc="subspaces")]
        out = {k: parts[0][k] for k in ("alpha", "share")}
        for k in ("true", "predicted", "s_c2", "s_e2"):
            out[k] = np.concatenate([p[k] for p in parts])
        return out

    key = dict(_data_key(params), d=params.d, seeds=params.seeds, alphas=alphas.tolist())
    return cached("02_fig3_sweep", key, compute, cache_dir=cache_dir)


def c6_table(c6: dict) -> list[str]:
    """The C6 table, one line per alpha (O(1) values to 3 decimals, the share to 3 digits)."""
    lines = ["  alpha | true G-term PC (min..max) | Eq. 8 (min..max) | rel. gap of means | "
             "top-sample share"]
    tmean, pmean = c6["true"].mean(0), c6["predicted"].mean(0)
    for j, a in enumerate(c6["alpha"]):
        t, p = c6["true"][:, j], c6["predicted"][:, j]
        if not (np.isfinite(t).all() and np.isfinite(p).all()):
            lines.append(f"{a:7.3g} | undefined: every softmax output is one-hot in float64")
            continue
        gap = abs(pmean[j] - tmean[j]) / abs(tmean[j])
        lines.append(f"{a:7.3g} | {t.min():7.3f} .. {t.max():7.3f}        | "
                     f"{p.min():6.3f} .. {p.max():6.3f} | {gap:17.3f} | {c6['share'][j]:#.3g}")
    return lines


def _direction(tmean: np.ndarray, pmean: np.ndarray) -> str:
    above, below, n = int((pmean > tmean).sum()), int((pmean < tmean).sum()), tmean.size
    if above == n:
        return f"overestimates it at all {n} defined alphas"
    if below == n:
        return f"underestimates it at all {n} defined alphas"
    return f"is above it at {above} and below it at {below} of {n} defined alphas"


def verdict_c6(alpha: Sequence[float], true: np.ndarray, predicted: np.ndarray, *,
               gap_tolerance: float, corr_threshold: float, d: int | None = None) -> Verdict:
    """C6 (Eq. 7-8, Fig. 3): does Eq. 8 track the true G-term curvature across alpha?

    Seed means of the two ``(S, A)`` curves are compared over every alpha where both are
    defined. Reproduced: largest relative gap ``|Eq. 8 - true| / true`` below
    ``gap_tolerance`` and Pearson correlation across alpha above ``corr_threshold``.
    Partly: the correlation holds (Eq. 8 follows the shape), the gap does not. Otherwise
    (including a correlation that is undefined) not reproduced.
    """
    alpha = np.asarray(alpha, float)
    true, predicted = np.atleast_2d(true), np.atleast_2d(predicted)
    allp = rl.agreement(true, predicted)
    low = alpha <= 1
    tm, pm = true.mean(0), predicted.mean(0)
    defined = np.isfinite(tm) & np.isfinite(pm)
    pop = rl.agreement(true, predicted, mask=low) if (low & defined).any() else None
    at1 = (f"at alpha=1 true {np.interp(0, np.log(alpha[defined]), tm[defined]):.3f} vs Eq. 8 "
           f"{np.interp(0, np.log(alpha[defined]), pm[defined]):.3f}")
    measured = (f"{'d=' + str(d) + ', ' if d else ''}{true.shape[0]} seeds, {allp['n']} alphas in "
                f"[{alpha.min():g}, {alpha.max():g}]: max relative gap {allp['max_rel_gap']:.3f} "
                f"(median {allp['median_rel_gap']:.3f}), Pearson {allp['pearson']:.3f}")
    if pop is not None:
        measured += (f"; alpha <= 1 ({pop['n']} alphas): max gap {pop['max_rel_gap']:.3f}, "
                     f"median {pop['median_rel_gap']:.3f}")
    measured += f"; {at1}"
    values = {"alpha": alpha, "true": true, "predicted": predicted, "agreement_all": allp,
              "agreement_alpha_le_1": pop, "gap_tolerance": gap_tolerance,
              "corr_threshold": corr_threshold}
    r, gap = allp["pearson"], allp["max_rel_gap"]
    shape_ok = bool(np.isfinite(r) and r > corr_threshold)
    if shape_ok and gap < gap_tolerance:
        return Verdict("C6", "reproduced", measured, "", values)
    hi = alpha[defined][-1]
    detail = (f"Eq. 8 {_direction(tm[defined], pm[defined])}, by {allp['median_rel_gap']:.0%} "
              f"(median) and up to {gap:.0%}")
    if pop is not None:
        detail += f" (up to {pop['max_rel_gap']:.0%} for alpha <= 1)"
    detail += (f"; at the largest defined alpha = {hi:.3g} the true curvature is "
               f"{tm[defined][-1]:.2f} and Eq. 8 {pm[defined][-1]:.2f}")
    if shape_ok:
        why = (f"Eq. 8 follows the shape of the true curve (Pearson {r:.3f} > {corr_threshold:g}) "
               f"but its largest relative gap {gap:.3f} is not below {gap_tolerance:g}: {detail}")
        return Verdict("C6", "partly", measured, why, values)
    corr = (f"Pearson {r:.3f} <= {corr_threshold:g}" if np.isfinite(r)
            else f"the correlation is undefined ({allp['n']} defined alphas or a flat curve)")
    why = f"Eq. 8 does not follow the shape of the true curve ({corr}): {detail}"
    return Verdict("C6", "not reproduced", measured, why, values)


# ----------------------------------------------------------------------------- C7


def dimension_results(params: Params, model: torch.nn.Module, theta: dict, X: torch.Tensor,
                      y: torch.Tensor, *, cache_dir: str,
                      progress: Progress = _no_progress) -> dict:
    """Hessian, G-term and Eq. 8 positive curvature against ``d`` (Figure 4 left).

    :func:`goldilocks_nb.random_logit.dimension_sweep` per ``d`` (``(D, A, S)`` arrays
    ``hessian``, ``g_term``, ``predicted``), cached under ``02_fig4_left_sweep``.
    """
    d_alphas = rl.check_alphas(params.d_alphas)

    def compute() -> dict:
        parts = [rl.dimension_sweep(model, theta, X, y, d_values=[dd], alphas=d_alphas,
                                    seeds=params.seeds, temperature=params.temperature)
                 for dd in progress(params.d_values, desc="dimensions")]
        return {"d": list(params.d_values), "alpha": d_alphas,
                **{k: np.concatenate([p[k] for p in parts])
                   for k in ("hessian", "g_term", "predicted")}}

    key = dict(_data_key(params), d_values=params.d_values, seeds=params.seeds,
               alphas=d_alphas.tolist())
    return cached("02_fig4_left_sweep", key, compute, cache_dir=cache_dir)


def verdict_c7(d_values: Sequence[int], alphas: Sequence[float], hessian: np.ndarray,
               g_term: np.ndarray, *, spearman_partly: float = 0.8) -> Verdict:
    """C7 (Fig. 4 left): positive curvature grows with the subspace dimension ``d``.

    ``hessian`` and ``g_term`` are ``(D, A, S)`` (dimension, scale, seed). Reproduced when
    at every scale the seed mean of both increases at every step of ``d_values``; partly
    when every such curve has Spearman rho >= ``spearman_partly`` against ``d``; else not.
    """
    curves = {(float(a), name): monotone_increase(np.asarray(arr, float)[:, j])
              for j, a in enumerate(alphas)
              for name, arr in (("Hessian", hessian), ("G-term", g_term))}
    def path(a: float, name: str) -> str:
        return " -> ".join(f"{v:.2f}" for v in curves[(a, name)]["mean"])

    measured = "; ".join(
        f"alpha={a:g}: Hessian PC {path(a, 'Hessian')}, G-term PC {path(a, 'G-term')}"
        for a in map(float, alphas)) + (f" over d = {', '.join(map(str, d_values))} "
                                        f"(means of {np.shape(hessian)[-1]} seeds)")
    values = {"d": list(d_values), "alpha": list(map(float, alphas)), "hessian": hessian,
              "g_term": g_term,
              "steps_up": {f"{t} alpha={a:g}": m["steps_up"] for (a, t), m in curves.items()},
              "spearman": {f"{t} alpha={a:g}": m["spearman"] for (a, t), m in curves.items()}}
    failing = [f"{t} at alpha={a:g} ({m['steps_up']}/{m['steps']} steps up, Spearman "
               f"{m['spearman']:.2f})" for (a, t), m in curves.items() if not m["increasing"]]
    if not failing:
        return Verdict("C7", "reproduced", measured, "", values)
    rhos = [m["spearman"] for m in curves.values()]
    if all(np.isfinite(r) and r >= spearman_partly for r in rhos):
        why = (f"every curve rises overall (Spearman >= {spearman_partly:g}) but not at every "
               f"step: " + ", ".join(failing))
        return Verdict("C7", "partly", measured, why, values)
    worst = min(rhos, key=lambda r: r if np.isfinite(r) else -np.inf)
    why = (f"not increasing in d (lowest Spearman {worst:.2f} < {spearman_partly:g}): "
           + ", ".join(failing))
    return Verdict("C7", "not reproduced", measured, why, values)


# ----------------------------------------------------------------------------- assumptions


def assumption_results(params: Params, model: torch.nn.Module, theta: dict, X: torch.Tensor,
                       z: torch.Tensor, *, cache_dir: str) -> dict:
    """The random logit model's assumptions on LeNet-300-100's ``J R`` (first subspace seed).

    ``stats``: :func:`~goldilocks_nb.gradient_alignment.assumption_stats` of ``J R`` computed
    at ``alpha theta`` for each of ``assumption_alphas``; ``conventions``: the two variance
    conventions at ``theta``; ``eq8_plain``/``eq8_centred``: Eq. 8 across ``params.alphas``
    with each; ``decomposition``: :func:`~goldilocks_nb.gradient_alignment.g_term_decomposition`
    across ``params.alphas``.
    """
    from ..curvature import expected_g_curvature, projected_jacobian, random_subspace
    from ..functional import scale_params
    from ..gradient_alignment import (
        assumption_stats,
        g_term_decomposition,
        variance_conventions,
    )

    alphas = params.alphas

    def compute() -> dict:
        P = sum(v.numel() for v in theta.values())
        R = random_subspace(P, params.d, seed=params.seeds[0], dtype=torch.float64,
                            device=X.device)
        st = {}
        for a in params.assumption_alphas:
            JRa = projected_jacobian(model, scale_params(theta, a), X, R)
            st[float(a)] = assumption_stats(JRa.cpu())
            if a == 1.0:
                JR = JRa
        if 1.0 not in params.assumption_alphas:
            JR = projected_jacobian(model, theta, X, R)
        JR = JR.to(torch.float64).cpu()
        conv = variance_conventions(JR)
        eq8 = {}
        for name, (c2, e2) in conv.items():
            vals = []
            for a in alphas:
                p = rl.scaled_probs(z.cpu(), a, model.degree, params.temperature)
                try:
                    vals.append(expected_g_curvature(c2, e2, params.d, p))
                except ValueError:  # every output one-hot: Gamma_p undefined
                    vals.append(float("nan"))
            eq8[name] = np.array(vals)
        dec = g_term_decomposition(JR, z.cpu(), alphas, degree=model.degree,
                                   temperature=params.temperature)
        return {"alpha": alphas, "stats": st, "conventions": conv, "eq8_plain": eq8["plain"],
                "eq8_centred": eq8["centred"], "decomposition": dec}

    key = dict(_data_key(params), d=params.d, seed=params.seeds[0], alphas=alphas.tolist(),
               assumption_alphas=params.assumption_alphas)
    return cached("02_assumptions", key, compute, cache_dir=cache_dir)


# ----------------------------------------------------------------------------- LeNet-5


def load_cifar(params: Params, n: int, device: torch.device, *, seed: int | None = None
               ) -> Dataset:
    """A class-balanced CIFAR-10 training subset of ``n`` images in ``lenet5_dtype``."""
    return load_dataset(params.cifar_dataset, n=n, seed=params.data_seed if seed is None
                        else seed, dtype=DTYPES[params.lenet5_dtype], device=device)


def lenet5(params: Params, seed: int, ds: Dataset) -> tuple[torch.nn.Module, dict]:
    """LeNet-5 (Kaiming, ``seed``) in the dtype of ``ds`` and its parameters."""
    model = build_model("lenet-5", seed=seed, input_shape=ds.input_shape, dtype=ds.X.dtype,
                        device=ds.X.device)
    return model, get_params(model)


def lenet5_figure3(params: Params, ds: Dataset, *, cache_dir: str,
                   progress: Progress = _no_progress) -> dict:
    """Figure 3 (right): true and Eq. 8 G-term curvature of LeNet-5 across alpha.

    Same computation as :func:`figure3_results` (one ``J R`` per subspace seed, Eq. 5 for
    alpha), with ``J R`` computed in ``lenet5_dtype`` and everything after in float64.
    """
    from ..curvature import logit_gradient_stats, projected_jacobian, random_subspace

    alphas = params.lenet5_alphas

    def compute() -> dict:
        model, theta = lenet5(params, params.model_seed, ds)
        with torch.no_grad():
            z = logits(model, theta, ds.X).to(torch.float64)
        P = sum(v.numel() for v in theta.values())
        out = {"true": [], "predicted": [], "s_c2": [], "s_e2": []}
        for s in progress(params.seeds, desc="LeNet-5 subspaces"):
            R = random_subspace(P, params.d, seed=s, dtype=ds.X.dtype, device=ds.X.device)
            JR = projected_jacobian(model, theta, ds.X, R).to(torch.float64)
            out["true"].append(rl.true_g_curvature(JR, z, alphas, degree=model.degree))
            out["predicted"].append(rl.predicted_g_curvature(JR, z, alphas, degree=model.degree))
            c2, e2 = logit_gradient_stats(JR)
            out["s_c2"].append(c2)
            out["s_e2"].append(e2)
        res = {k: np.array(v) for k, v in out.items()}
        res["alpha"] = alphas
        res["share"] = np.array([rl.top_sample_share(rl.scaled_probs(z, a, model.degree))
                                 for a in alphas])
        return res

    key = dict(dataset=params.cifar_dataset, n=len(ds), data_seed=params.data_seed,
               model_seed=params.model_seed, dtype=params.lenet5_dtype, d=params.d,
               seeds=params.seeds, alphas=alphas.tolist())
    return cached("02_fig3_right_lenet5", key, compute, cache_dir=cache_dir)


# ----------------------------------------------------------------------------- C13


def prior_results(params: Params, pool: Dataset, *, cache_dir: str,
                  progress: Progress = _no_progress) -> dict:
    """Figure 5b: gradient norm against ``||Qhat - Q||`` over ``n_priors`` simplex priors.

    ``pool`` is the balanced CIFAR-10 batch on which ``sigma_c^2`` (full parameter space,
    ``d = P``) is estimated and from which the prior subsets are drawn. Adds ``fit``
    (:func:`~goldilocks_nb.gradient_alignment.fit_line` of norm on distance) and the
    predicted slope ``sqrt(P sigma_c^2)`` (the norm of Eq. 9 with orthogonal ``c_k`` of equal
    norm ``||c_k||^2 = P sigma_c^2``) beside the paper's literal ``P sigma_c^2``.
    """
    from ..data import sample_simplex
    from ..gradient_alignment import fit_line, prior_sweep

    def compute() -> dict:
        model, theta = lenet5(params, params.model_seed, pool)
        priors = sample_simplex(params.n_priors, pool.num_classes, seed=params.data_seed)
        t0 = time.perf_counter()
        res = prior_sweep(model, theta, pool, priors, subset_size=params.prior_subset_size,
                          seed=params.data_seed, progress=progress)
        res["seconds"] = time.perf_counter() - t0
        return res

    key = dict(dataset=params.cifar_dataset, pool=len(pool), data_seed=params.data_seed,
               model_seed=params.model_seed, dtype=params.lenet5_dtype,
               n_priors=params.n_priors, subset=params.prior_subset_size)
    res = cached("02_fig5b_priors", key, compute, cache_dir=cache_dir)
    res = dict(res)
    res["fit"] = fit_line(res["dist"], res["grad_norm"])
    res["fit_eq9"] = fit_line(res["dist"], res["eq9_norm"])
    res["predicted_slope"] = float(np.sqrt(res["P"] * res["s_c2_full"]))
    res["paper_literal_slope"] = float(res["P"] * res["s_c2_full"])
    return res


def verdict_c13(fitted_slope: float, predicted_slope: float, r2: float, *, n_priors: int,
                slope_tolerance: float, r2_min: float) -> Verdict:
    """C13 (Eq. 9, Fig. 5b): gradient norm linear in ``||Qhat - Q||`` with the predicted slope.

    Reproduced: ``R^2 >= r2_min`` and ``|fitted / predicted - 1| <= slope_tolerance``;
    partly: one of the two; not reproduced: neither.
    """
    rel = fitted_slope / predicted_slope - 1
    measured = (f"{n_priors} priors: fitted slope {fitted_slope:.3g}, predicted sqrt(P s_c^2) "
                f"{predicted_slope:.3g} (ratio {fitted_slope / predicted_slope:.3f}), "
                f"R^2 {r2:.3f}")
    values = {"fitted_slope": fitted_slope, "predicted_slope": predicted_slope, "r2": r2,
              "slope_tolerance": slope_tolerance, "r2_min": r2_min}
    linear, slope_ok = r2 >= r2_min, abs(rel) <= slope_tolerance
    if linear and slope_ok:
        return Verdict("C13", "reproduced", measured, "", values)
    parts = []
    if not linear:
        parts.append(f"R^2 {r2:.3f} < {r2_min:g} (the norm is not tightly linear in ||Qhat - Q||)")
    if not slope_ok:
        parts.append(f"the fitted slope is {abs(rel):.0%} {'above' if rel > 0 else 'below'} the "
                     f"prediction (tolerance {slope_tolerance:.0%})")
    verdict = "partly" if (linear or slope_ok) else "not reproduced"
    return Verdict("C13", verdict, measured, "; ".join(parts), values)


# ----------------------------------------------------------------------------- C14

ALIGN_NAMES = ("CIFAR-10", "Gaussian noise", "Fashion-MNIST 32x32x3 (SVHN stand-in)")


def alignment_results(params: Params, pools: dict[str, Dataset], *, cache_dir: str,
                      progress: Progress = _no_progress) -> dict:
    """Figure 5a: gradient cosines between datasets, per init, scale and class imbalance.

    ``pools`` maps the names of :data:`ALIGN_NAMES` to balanced pools (same input shape).
    For each imbalance ratio ``r`` every dataset is subsampled to ``align_n`` images with
    the long-tailed prior of Cui et al. (2019) (``r = 1``: balanced), then
    :func:`~goldilocks_nb.gradient_alignment.gradient_cosines` at each of ``align_alphas``.

    Returns ``cos`` ``(I, A, B, pairs)``, ``dist`` ``(I, A, B, datasets)`` (``||Qhat - Q||``),
    ``pairs``, ``names``, ``inits``, ``alphas``, ``imbalances``, ``seconds``.
    """
    from ..data import long_tail_prior, prior_subset
    from ..gradient_alignment import gradient_cosines

    names = list(pools)

    def compute() -> dict:
        t0 = time.perf_counter()
        subsets = {}
        for r in params.imbalances:
            for n, pool in pools.items():
                q = long_tail_prior(pool.num_classes, r)
                subsets[(r, n)] = prior_subset(pool, q, params.align_n, seed=params.data_seed)
        cos, dist = [], []
        for s in progress(params.align_inits, desc="inits"):
            model, theta = lenet5(params, s, next(iter(pools.values())))
            ci, di = [], []
            for a in params.align_alphas:
                ca, da = [], []
                for r in params.imbalances:
                    out = gradient_cosines(model, theta, {n: subsets[(r, n)] for n in names},
                                           alpha=a)
                    ca.append(list(out["cos"].values()))
                    da.append([out["dist"][n] for n in names])
                ci.append(ca)
                di.append(da)
            cos.append(ci)
            dist.append(di)
        pairs = [(u, v) for i, u in enumerate(names) for v in names[i + 1:]]
        return {"cos": np.array(cos), "dist": np.array(dist), "pairs": pairs, "names": names,
                "inits": list(params.align_inits), "alphas": list(params.align_alphas),
                "imbalances": list(params.imbalances), "seconds": time.perf_counter() - t0}

    key = dict(pools={n: p.source for n, p in pools.items()}, n=params.align_n,
               dtype=params.lenet5_dtype, inits=params.align_inits, alphas=params.align_alphas,
               imbalances=params.imbalances, data_seed=params.data_seed)
    return cached("02_fig5a_alignment", key, compute, cache_dir=cache_dir)


def verdict_c14(cos_unscaled: float, cos_small: float, *, small_alpha: float, n_inits: int,
                cos_high: float, cos_low: float) -> Verdict:
    """C14 (Fig. 5a): gradients on different balanced datasets align at alpha = 1 and not
    when a small alpha makes Qhat uniform.

    ``cos_unscaled``: the smallest (over dataset pairs) of the init-mean cosines at alpha = 1;
    ``cos_small``: the largest init-mean ``|cos|`` at ``small_alpha``. Reproduced:
    ``cos_unscaled > cos_high`` and ``cos_small < cos_low``; partly: one holds; else not.
    """
    measured = (f"balanced datasets, {n_inits} inits: smallest mean pairwise cosine at alpha=1 "
                f"{cos_unscaled:.2f}; largest mean |cosine| at alpha={small_alpha:g} "
                f"{cos_small:.2f}")
    values = {"cos_unscaled_min": cos_unscaled, "abs_cos_small_max": cos_small,
              "cos_high": cos_high, "cos_low": cos_low}
    align, no_align = cos_unscaled > cos_high, cos_small < cos_low
    if align and no_align:
        return Verdict("C14", "reproduced", measured, "", values)
    parts = []
    if not align:
        parts.append(f"at alpha=1 a dataset pair has mean cosine {cos_unscaled:.2f} <= "
                     f"{cos_high:g}")
    if not no_align:
        parts.append(f"at alpha={small_alpha:g} a dataset pair still has mean |cosine| "
                     f"{cos_small:.2f} >= {cos_low:g}")
    verdict = "partly" if (align or no_align) else "not reproduced"
    return Verdict("C14", verdict, measured, "; ".join(parts), values)


# ----------------------------------------------------------------------------- C15

FIG6_STATS = ("entropy", "grad_norm", "curvature", "loss")
#: The signs Section 4 predicts: entropy <-> curvature (+), <-> loss (-), <-> grad norm (-).
FIG6_EXPECTED = {("entropy", "curvature"): 1, ("entropy", "loss"): -1,
                 ("entropy", "grad_norm"): -1, ("curvature", "loss"): -1,
                 ("curvature", "grad_norm"): -1, ("loss", "grad_norm"): 1}


def figure6_results(params: Params, ds: Dataset, *, cache_dir: str, chunk: int = 20,
                    progress: Progress = _no_progress) -> dict[str, np.ndarray]:
    """Figure 6: per Kaiming init (seeds ``0 .. fig6_inits - 1``) of LeNet-5 on ``ds``:
    :func:`~goldilocks_nb.gradient_alignment.init_statistics` (subspace seed = init seed).

    Cached in chunks of ``chunk`` inits, so a killed run resumes.
    """
    from ..gradient_alignment import init_statistics

    seeds = list(range(params.fig6_inits))
    rows = []
    chunks = [seeds[i:i + chunk] for i in range(0, len(seeds), chunk)]
    for part in progress(chunks, desc=f"inits (chunks of {chunk})"):
        def compute(part=part) -> list[dict]:
            out = []
            for s in part:
                model, theta = lenet5(params, s, ds)
                out.append(init_statistics(model, theta, ds.X, ds.y, d=params.fig6_d,
                                           subspace_seed=s))
            return out

        key = dict(dataset=params.cifar_dataset, n=len(ds), data_seed=params.data_seed,
                   dtype=params.lenet5_dtype, d=params.fig6_d, seeds=part)
        rows += cached("02_fig6_inits", key, compute, cache_dir=cache_dir)
    res = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    res["seed"] = np.array(seeds)
    return res


#: ``sum_k -log Qhat_k - K log K`` above ``-BOUND_ROUNDING`` counts as the bound holding.
BOUND_ROUNDING = 1e-9


def verdict_c15(correlations: dict, bound_margin_min: float, *, n_inits: int) -> Verdict:
    """C15 (Section 4, Fig. 6): entropy, curvature, loss and gradient norm are related with
    the signs of :data:`FIG6_EXPECTED`, and ``sum_k -log Qhat_k >= K log K`` on every init.

    ``correlations``: ``{(u, v): {"rho", "lo", "hi"}}`` (bootstrap interval). Reproduced:
    every interval excludes 0 on the expected side and the bound holds
    (``bound_margin_min >= -BOUND_ROUNDING``); partly: at least half of the intervals do; else not.
    """
    ok, bad = [], []
    for (u, v), sign in FIG6_EXPECTED.items():
        c = correlations[(u, v)]
        (ok if (c["lo"] > 0 if sign > 0 else c["hi"] < 0) else bad).append(
            f"{u}-{v} rho {c['rho']:+.2f} [{c['lo']:+.2f}, {c['hi']:+.2f}]")
    measured = (f"{n_inits} inits: Spearman " + "; ".join(
        f"{u}-{v} {correlations[(u, v)]['rho']:+.2f}" for u, v in FIG6_EXPECTED)
        + f"; min of sum_k -log Qhat_k - K log K over inits {bound_margin_min:.3g}")
    values = {"correlations": {f"{u}-{v}": c for (u, v), c in correlations.items()},
              "bound_margin_min": bound_margin_min}
    bound = bound_margin_min >= -BOUND_ROUNDING
    if not bad and bound:
        return Verdict("C15", "reproduced", measured, "", values)
    parts = []
    if bad:
        parts.append("interval not on the predicted side for " + ", ".join(bad))
    if not bound:
        parts.append(f"sum_k -log Qhat_k falls below K log K by {-bound_margin_min:.3g}")
    verdict = "partly" if len(ok) >= len(FIG6_EXPECTED) / 2 else "not reproduced"
    return Verdict("C15", verdict, measured, "; ".join(parts), values)
