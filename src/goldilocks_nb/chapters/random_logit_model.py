"""Chapter 02, the random logit model: Eq. 8 against the true G-term (C6), curvature vs d (C7).

Section 4 of the paper models the projected logit gradients as ``c_k + e_k^mu`` and derives
the expected G-term's excess of positive eigenvalues (Eq. 8). This module holds the
chapter's declared parameters, the computations behind Figure 3 (left) and Figure 4 (left)
(through :mod:`goldilocks_nb.random_logit`, cached so a killed run resumes) and one verdict
function per claim, whose reason is built from the measured numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from .. import random_logit as rl
from ..contract import ChapterParams, Verdict
from ..data import DATASETS, Dataset, load_dataset
from ..functional import get_params, logits
from ..models import build_model, num_parameters
from ..notebook import log_grid
from ..results import cached
from ..statistics import monotone_increase

__all__ = [
    "DTYPES",
    "FASHION_DATASETS",
    "Params",
    "c6_table",
    "dimension_results",
    "figure3_results",
    "load_data",
    "verdict_c6",
    "verdict_c7",
]

FASHION_DATASETS = tuple(n for n in DATASETS if n.startswith("fashion-mnist"))
DTYPES = {"float64": torch.float64, "float32": torch.float32}
#: LeNet-300-100's parameter count (784*300 + 300*100 + 100*10), the cap on ``d``.
LENET_300_100_P = 266_200

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
    values = {"agreement_all": allp, "agreement_alpha_le_1": pop,
              "gap_tolerance": gap_tolerance, "corr_threshold": corr_threshold}
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
    values = {"d": list(d_values), "alpha": list(map(float, alphas)),
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
