"""Chapter 03, :math:`\\Gamma_p` and the softmax collapse (Section 4, App. B-D): claims C8-C12.

The G-term sandwiches :math:`M(p) = \\mathrm{diag}(p) - pp^\\top` between logit Jacobians;
:math:`\\Gamma_p = \\mathrm{Tr}\\,M / \\lVert M\\rVert_F` lies in :math:`[1, \\sqrt{K-1}]` (C8),
:math:`\\Gamma_p^{-2}` rises monotonically as the softmax entropy falls (C9, Figure 4 right),
:math:`\\Gamma_p^2(p(S, \\epsilon)) \\to 4(S-1)/(S+2)` (C10, App. C), the expected G-term has a
bi-level spectrum (C11, App. B) and, just before the collapse, one sample carries the G-term
(C12, Figure 10, App. C-D).

The notebook calls :func:`load`, then :func:`measure_c8` ... :func:`measure_c12` and the
verdict functions :func:`verdict_c8` ... :func:`verdict_c12`. The network computations go
through :func:`goldilocks_nb.results.cached`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .. import collapse
from ..contract import (
    ChapterParams,
    Verdict,
    inconclusive,
    paper_quote,
    params_dataclass,
    record_verdict,
    seed_agreement,
)
from ..curvature import projected_jacobian, random_subspace
from ..curvature.gamma import (
    entropy,
    gamma_p,
    gamma_p_collapse_limit,
    logit_gradient_stats,
    softmax_hessian,
)
from ..data import DATASETS, Dataset, load_dataset
from ..functional import get_params, logits, scale_params
from ..models import build_model, check_subspace_dimension, num_parameters
from ..notebook import output_dirs, progress_bar, resolve_device, resolve_dtype, setup
from ..results import cached, saved_figure
from ..statistics import monotonicity

__all__ = [
    "C11_CHECKS",
    "C12_CHECKS",
    "DEFINITIONS",
    "EVIDENCE",
    "K_DATA",
    "Context",
    "Params",
    "Results",
    "figure10_eigenvectors",
    "fmt_small",
    "judge",
    "least_confident",
    "load",
    "logit_summary",
    "measure_c8",
    "measure_c9",
    "measure_c10",
    "measure_c11",
    "measure_c12",
    "plot_bilevel",
    "plot_collapse_limit",
    "plot_figure4_right",
    "plot_figure10_bottom",
    "plot_figure10_top",
    "plot_gamma_bounds",
    "c11_seed_values",
    "c12_unsampled",
    "measure_seed",
    "reseeded",
    "pre_collapse_scan",
    "record",
    "run",
    "separation_rows",
    "verdict_c8",
    "verdict_c9",
    "verdict_c10",
    "verdict_c11",
    "verdict_c12",
]

#: Fashion-MNIST variants (the chapter's network is LeNet-300-100 on Fashion-MNIST, K = 10).
FASHION = tuple(n for n in DATASETS if n.startswith("fashion-mnist"))
#: Number of classes of the data set: p(S, eps) of App. C needs S <= K.
K_DATA = 10
#: Values at or below this are printed as "< 1e-12" in checked outputs (rounding level).
SMALL = 1e-12
#: C8: values inside [1, sqrt(K-1)] up to this; C9: a counter-step below this fraction of a
#: curve's range still counts as monotone; C9 "partly": this fraction of monotone curves.
C8_TOL, C9_VIOLATION, C9_PARTLY = 1e-9, 1e-9, 0.8
#: C10: relative gap to 4(S-1)/(S+2) at the smallest eps.
C10_TOL = 1e-3
#: C11: closed form vs the Eq. 7 matrix, vs Monte-Carlo (relative to the top eigenvalue);
#: "equal up to rounding" for M's eigenvalues and the interlacing slack.
C11_EXACT, C11_MC, ROUNDING = 1e-8, 0.1, 1e-12
#: C12: the Hessian's PC is "pinned near 1" inside this interval ...
C12_PINNED = (0.8, 1.3)
#: ... while one sample carries more than this share of Tr M; "drops": |PC| below this.
C12_SHARE, C12_DROP = 0.9, 0.5
#: C12's 2 eps check: where eps < C12_EPS_MAX, |lambda1 / 2 eps - 1| < C12_RATIO_TOL and
#: lambda2 / lambda1 < C12_SEPARATION; the image check: |cos| > C12_COSINE.
C12_EPS_MAX, C12_RATIO_TOL, C12_SEPARATION, C12_COSINE = 0.05, 0.1, 0.1, 0.99
#: C11's criteria, in the order printed.
C11_CHECKS = (f"closed form = Eq. 7 matrix ({C11_EXACT:g})",
              f"Monte-Carlo within {C11_MC:.0%}", "K-1 outliers on a flat bulk",
              f"uniform outliers of M all 1/K ({ROUNDING:g})", "interlacing holds")
#: C12's criteria, in the order printed.
C12_CHECKS = (f"curvature pinned near 1 ({C12_PINNED[0]:g}..{C12_PINNED[1]:g}) with one sample "
              f"carrying >{C12_SHARE:.0%} of Tr M", f"then drops to |PC| < {C12_DROP:g}",
              f"lambda1 = 2 eps within {C12_RATIO_TOL:.0%}, lambda2/lambda1 < {C12_SEPARATION:g}",
              f"top eigenvector = least-confident image (|cos| > {C12_COSINE:g}) at some "
              "Figure-10 alpha")
#: The figure or table that tests each claim (for the scorecard).
EVIDENCE = {"C8": "Figure 03_gamma_bounds; C8 table",
            "C9": "Figure 03_fig4_right (Figure 4 right of the paper)",
            "C10": "Table C10; Figure 03_collapse_limit",
            "C11": "Figure 03_bilevel_spectrum; C11 table",
            "C12": "Figures 03_fig10_bottom and 03_fig10_top; 2-eps table"}


#: The operational definition of each claim's terms (thresholds included), for the verdicts.
DEFINITIONS = {
    "C8": (f"every Gamma_p of the survey inside [1, sqrt(K-1)] up to {C8_TOL:g}, the largest at "
           "uniform p, and Gamma_p(p(2, 1e-6)) = 1 up to 1e-6, on every seed of the Dirichlet "
           "draws (the random draw here; the structured p are fixed)"),
    "C9": (f"monotone: no step of Gamma_p^-2, in order of entropy, goes against the trend by "
           f"more than {C9_VIOLATION:g} of its range; reproduced when every per-image curve of "
           "every draw of images is and the batch curve is on more than half of the draws; "
           f"partly when {C9_PARTLY:.0%} of the per-image curves are"),
    "C10": (f"Gamma_p^2 of diag(p) - pp^T at p(S, eps) within {C10_TOL:g} (relative) of "
            "4(S-1)/(S+2) at the smallest eps, for every S"),
    "C11": ("bi-level: the checks " + "; ".join(C11_CHECKS)
            + "; a check holds when it holds on more than half of the seeds (Kaiming init, "
            "projection R, Monte-Carlo residuals); reproduced when all hold, partly for three "
            "or four"),
}


def _common(fn: Callable) -> dict[str, str]:
    """``quote`` and ``definition`` of verdict function ``fn`` (named ``verdict_cN``)."""
    return {"quote": paper_quote(fn), "definition": DEFINITIONS[fn.__name__[8:].upper()]}


def _list(*values: Any) -> Callable[[], list]:
    return lambda: list(values)


@params_dataclass
class Params(ChapterParams):
    """Parameters of chapter 03 (defaults: the smoke profile).

    Attributes:
        dtype: ``"float64"`` or ``"float32"`` for the network experiments.
        dataset: a Fashion-MNIST variant (K = 10 classes).
        n_samples: training images for the network experiments (C9, C11, C12).
        model_seed: Kaiming initialisation; data_seed: balanced subset (and the Dirichlet
            draws of C8); subspace_seed: the random projection ``R`` (``P x d``).
        d: subspace dimension of the projected Hessian / Jacobian (``>= K = 10`` for C11).
        temperature: softmax temperature.
        K_values: class counts of the Gamma_p survey (C8).
        dirichlet_concentrations: of the C8 survey; dirichlet_draws: per concentration and K.
        n_logit_sets: Figure 4 right: logit vectors of this many images (paper: 30).
        logit_draws: disjoint draws of ``n_logit_sets`` images each (seeds of C9; >= 3 for a
            verdict): draw ``i`` is images ``i * n_logit_sets ...`` of the balanced subset.
        logit_alpha_range: ``[low, high]`` of the logit scales; logit_alpha_points: how many.
        collapse_S: App. C's ``S`` values (``2..K``); eps_grid: its ``eps`` values.
        n_monte_carlo: C11: Monte-Carlo draws of the residuals ``E``.
        scan_alphas: C12: the pre-collapse scan; fig10_alphas: Figure 10's eigenvectors.
        n_seeds: seeds of the random draws that decide C8, C11 and C12 (>= 3 for a
            verdict): seed ``i`` draws the Kaiming init ``model_seed + i``, the projection
            ``R`` and the Monte-Carlo residuals ``subspace_seed + i`` and the Dirichlet
            vectors ``data_seed + i`` (same images); seed 0 is the one the figures and
            tables show.
    """

    notebook = "03_gamma_p"
    dtype: Literal["float64", "float32"] = "float64"
    dataset: str = "fashion-mnist-embedded"
    n_samples: int = 100
    model_seed: int = 0
    data_seed: int = 0
    subspace_seed: int = 0
    d: int = 10
    temperature: float = 1.0
    K_values: list[int] = field(default_factory=_list(10, 3))
    dirichlet_concentrations: list[float] = field(default_factory=_list(0.01, 0.1, 1.0, 10.0))
    dirichlet_draws: int = 400
    n_logit_sets: int = 30
    logit_draws: int = 3
    logit_alpha_range: list[float] = field(default_factory=_list(1e-2, 1e2))
    logit_alpha_points: int = 41
    collapse_S: list[int] = field(default_factory=_list(2, 3, 4, 5, 6, 7, 8, 9, 10))
    eps_grid: list[float] = field(default_factory=_list(1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4,
                                                        1e-5, 1e-6, 1e-7, 1e-8))
    n_monte_carlo: int = 2000
    scan_alphas: list[float] = field(default_factory=_list(
        1.0, 1.6, 2.6, 4.2, 6.9, 11.0, 18.0, 29.0, 47.0, 76.0, 123.0, 200.0))
    fig10_alphas: list[float] = field(default_factory=_list(10, 60))
    n_seeds: int = 3

    def check(self) -> None:
        self.require_in("dataset", self.dataset, FASHION)
        self.require_at_least("n_samples", self.n_samples, 2)
        for name in ("model_seed", "data_seed", "subspace_seed"):
            self.require_at_least(name, getattr(self, name), 0)
        self.require(self.d >= K_DATA, "d", self.d,
                     f">= K = {K_DATA} (the bi-level spectrum of C11 needs d >= K)")
        self.require_positive("temperature", self.temperature)
        self.require(len(self.K_values) > 0, "K_values", self.K_values, "a non-empty list")
        self.require_at_least("K_values", self.K_values, 2)
        self.require(len(self.dirichlet_concentrations) > 0, "dirichlet_concentrations",
                     self.dirichlet_concentrations, "a non-empty list")
        self.require_positive("dirichlet_concentrations", self.dirichlet_concentrations)
        self.require_at_least("dirichlet_draws", self.dirichlet_draws, 16)
        self.require_at_least("n_logit_sets", self.n_logit_sets, 1)
        self.require_at_least("logit_draws", self.logit_draws, 1)
        self.require(self.n_logit_sets * self.logit_draws <= self.n_samples, "n_logit_sets",
                     self.n_logit_sets, f"<= n_samples / logit_draws = {self.n_samples} / "
                     f"{self.logit_draws} (disjoint draws of images)")
        r = self.logit_alpha_range
        self.require(len(r) == 2 and all(math.isfinite(v) for v in r) and 0 < r[0] < r[1],
                     "logit_alpha_range", r, "[low, high] with 0 < low < high")
        self.require_at_least("logit_alpha_points", self.logit_alpha_points, 3)
        self.require(len(self.collapse_S) > 0, "collapse_S", self.collapse_S, "a non-empty list")
        self.require(all(2 <= s <= K_DATA for s in self.collapse_S), "collapse_S",
                     self.collapse_S, f"values in 2..K = {K_DATA} (Fashion-MNIST)")
        self.require(len(self.eps_grid) >= 2, "eps_grid", self.eps_grid, "at least two values")
        self.require_positive("eps_grid", self.eps_grid)
        bound = 1 / max(self.collapse_S)
        self.require(max(self.eps_grid) <= bound, "eps_grid", self.eps_grid,
                     f"values <= 1/max(collapse_S) = {bound:.3g} (p(S, eps) needs (S-1) eps < 1)")
        self.require_at_least("n_monte_carlo", self.n_monte_carlo, 1)
        self.require(len(self.scan_alphas) >= 3, "scan_alphas", self.scan_alphas,
                     "at least three values")
        self.require_positive("scan_alphas", self.scan_alphas)
        self.require(len(self.fig10_alphas) > 0, "fig10_alphas", self.fig10_alphas,
                     "a non-empty list")
        self.require_positive("fig10_alphas", self.fig10_alphas)
        self.require_at_least("n_seeds", self.n_seeds, 1)

    @property
    def eps(self) -> np.ndarray:
        """``eps_grid`` sorted from the largest to the smallest value."""
        return np.sort(np.asarray(self.eps_grid, float))[::-1]


@dataclass
class Context:
    """Data, network and logits of the chapter (LeNet-300-100 at its Kaiming initialisation).

    Attributes:
        params: the validated parameters.
        device: where the network runs.
        ds: the training subset; model, theta: the network and its parameters.
        z: the logits at ``alpha = 1`` (float64, CPU), ``(N, K)``.
        dirs: ``results_dir`` and its ``figures``, ``cache``, ``claims`` folders.
    """

    params: Params
    device: torch.device
    ds: Dataset
    model: torch.nn.Module
    theta: dict[str, torch.Tensor]
    z: torch.Tensor
    dirs: dict[str, Path]

    @property
    def source(self) -> str:
        return self.ds.source

    @property
    def short_source(self) -> str:
        """A short data description for figure titles."""
        return f"{self.ds.source.split(',')[0]}, {self.ds.split} split, n={self.params.n_samples}"

    def key(self, **extra: Any) -> dict[str, Any]:
        p = self.params
        return dict(dataset=p.dataset, n=p.n_samples, data_seed=p.data_seed,
                    model_seed=p.model_seed, **extra)


def load(params: Params) -> Context:
    """Load the data, build LeNet-300-100 (checking ``d <= P``) and its logits at alpha = 1."""
    dev, dtype = resolve_device(params.device), resolve_dtype(params.dtype)
    check_subspace_dimension("d", params.d, num_parameters(build_model("lenet-300-100", seed=0)),
                             "LeNet-300-100")
    ds = load_dataset(params.dataset, n=params.n_samples, seed=params.data_seed, dtype=dtype,
                      device=dev)
    dirs = output_dirs(params.results_dir)
    setup(params.model_seed)
    model = build_model("lenet-300-100", seed=params.model_seed, input_shape=ds.input_shape,
                        dtype=dtype, device=dev)
    theta = get_params(model)
    with torch.no_grad():
        z = logits(model, theta, ds.X).to(torch.float64).cpu()
    return Context(params, dev, ds, model, theta, z, dirs)


def logit_summary(z: torch.Tensor) -> dict[str, float]:
    """Standard deviation of the logits and the top-1 minus top-2 gap (min, median, max)."""
    top = z.sort(dim=1, descending=True).values
    gaps = (top[:, 0] - top[:, 1]).numpy()
    return {"std": float(z.std()), "gap_min": float(gaps.min()),
            "gap_median": float(np.median(gaps)), "gap_max": float(gaps.max())}


def fmt_small(value: float, fmt: str = ".3e") -> str:
    """``value`` formatted, or ``"< 1e-12"`` when ``0 <= |value| <= 1e-12`` (rounding level)."""
    if math.isfinite(value) and abs(value) <= SMALL:
        return f"< {SMALL:g}"
    return format(value, fmt)


# ---- C8
def measure_c8(params: Params, z: torch.Tensor, *, seed: int | None = None) -> dict[str, Any]:
    """Gamma_p over random and structured ``p`` for each ``K`` and along a collapse path.

    ``seed``: of the Dirichlet draws (default ``params.data_seed``).

    Returns:
        ``{"survey": {K: collapse.gamma_survey(...)}, "checks": {K: {"inside",
        "max_at_uniform", "two_class_is_one"}}, "path_alphas", "path"}`` where ``path`` is
        Gamma_p of ``softmax(alpha z_0)`` for the first image's logits.
    """
    survey = {K: collapse.gamma_survey(K, params.dirichlet_concentrations,
                                       params.dirichlet_draws,
                                       seed=params.data_seed if seed is None else seed)
              for K in params.K_values}
    checks = {}
    for K, s in survey.items():
        lo, hi = s["bound"]
        checks[K] = {
            "inside": bool(lo - C8_TOL <= s["min"] and s["max"] <= hi + C8_TOL),
            "max_at_uniform": bool(abs(s["structured"]["uniform"] - hi) < C8_TOL
                                   and s["argmax"] == "uniform"),
            "two_class_is_one": bool(abs(s["structured"]["p(S=2, eps=1e-06)"] - 1) < 1e-6)}
    path_alphas = np.logspace(-2, 2, 9)
    path = [gamma_p(torch.softmax(a * z[0], 0)) for a in path_alphas]
    return {"survey": survey, "checks": checks, "path_alphas": path_alphas, "path": path}


def verdict_c8(per_seed: Mapping[str, Mapping[str, Any]]) -> Verdict:
    """C8: reproduced when, on every seed and for every ``K``, every value lies in
    ``[1, sqrt(K-1)]`` (up to 1e-9), the maximum is the uniform ``p`` and
    ``Gamma_p(p(2, 1e-6)) = 1``; else not (a bound admits no counterexample, so one failing
    seed refutes it).

    Paper (Section 4): "Therefore, Gamma_p in [1, sqrt(K-1)], and it achieves its maximal
    value when p is uniform."

    Args:
        per_seed: per seed of the Dirichlet draws (and of the init behind the real logit
            vector): ``survey`` (per ``K``: ``min``, ``max``, ``argmax``, ``bound``,
            ``single``, as :func:`collapse.gamma_survey`), ``checks`` (per ``K`` the three
            booleans of :func:`measure_c8`) and ``path_end`` (Gamma_p at the end of the
            collapse path of a real logit vector).
    """
    seeds = list(per_seed)
    first = per_seed[seeds[0]]["survey"]
    Ks = list(first)

    def lo(K: int) -> float:
        return min(per_seed[x]["survey"][K]["min"] for x in seeds)

    def hi(K: int) -> float:
        return max(per_seed[x]["survey"][K]["max"] for x in seeds)

    n = {K: sum(sum(map(len, per_seed[x]["survey"][K]["single"].values())) for x in seeds)
         for K in Ks}
    ok = {x: all(v for ch in per_seed[x]["checks"].values() for v in ch.values())
          for x in seeds}
    argmax = {K: sorted({per_seed[x]["survey"][K]["argmax"] for x in seeds}) for K in Ks}
    ends = [float(per_seed[x]["path_end"]) for x in seeds]
    measured = ("; ".join(f"K={K}: Gamma_p in [{lo(K):.4f}, {hi(K):.4f}] over {n[K]} Dirichlet "
                          f"draws ({len(seeds)} seeds) + batches + structured p, bound "
                          f"[1, {first[K]['bound'][1]:.4f}], max at {', '.join(argmax[K])}"
                          for K in Ks)
                + f"; collapse paths of real logit vectors end at {min(ends):.4f}.."
                  f"{max(ends):.4f}; all checks hold on {seed_agreement(ok)}")
    values = {"per_seed": {str(x): {str(K): {"min": per_seed[x]["survey"][K]["min"],
                                             "max": per_seed[x]["survey"][K]["max"],
                                             "argmax": per_seed[x]["survey"][K]["argmax"]}
                                    for K in Ks} | {"path_end": float(per_seed[x]["path_end"]),
                                                    "checks_hold": ok[x]}
                           for x in seeds}}
    failed = sorted({f"K={K}: {k}" for x in seeds for K, ch in per_seed[x]["checks"].items()
                     for k, v in ch.items() if not v})
    if failed:
        why = ("failed: " + ", ".join(failed) + f" (on {seed_agreement(ok)} all checks hold; "
               + "; ".join(f"K={K}: values in [{lo(K):.4f}, {hi(K):.4f}], bound "
                           f"[1, {first[K]['bound'][1]:.4f}], max at {', '.join(argmax[K])}"
                           for K in Ks) + ")")
        return Verdict("C8", "not reproduced", measured, why, values, **_common(verdict_c8))
    return Verdict("C8", "reproduced", measured, "", values, **_common(verdict_c8))


# ---- C9
def measure_c9(params: Params, z: torch.Tensor) -> dict[str, Any]:
    """Gamma_p^-2 against the entropy of ``softmax(alpha z)`` for ``n_logit_sets`` images, on
    each of ``logit_draws`` disjoint draws of images.

    Returns:
        draw 0's ``{"alphas", "curves" (collapse.scaled_logit_curves), "mono", "batch_mono"
        (statistics.monotonicity), "n_monotone", "batch_monotone", "n_sets"}`` (Figure 4
        right) and ``"draws"``: per draw ``monotone`` (per image), ``rho``,
        ``max_violation``, ``batch_monotone``, ``batch_rho``, ``batch_violation``.
    """
    lo, hi = params.logit_alpha_range
    alphas = np.logspace(np.log10(lo), np.log10(hi), params.logit_alpha_points)
    n, out = params.n_logit_sets, None
    draws = []
    for i in range(params.logit_draws):
        curves = collapse.scaled_logit_curves(z[i * n:(i + 1) * n], alphas)
        mono = monotonicity(curves["entropy"], curves["inv_gamma2"], rtol=C9_VIOLATION)
        batch = monotonicity(curves["batch_entropy"], curves["batch_inv_gamma2"],
                             rtol=C9_VIOLATION)
        draws.append({"monotone": mono["monotone"], "rho": mono["rho"],
                      "max_violation": float(mono["max_violation"].max()),
                      "batch_monotone": bool(batch["monotone"][0]),
                      "batch_rho": float(batch["rho"][0]),
                      "batch_violation": float(batch["max_violation"][0])})
        if out is None:
            out = {"alphas": alphas, "curves": curves, "mono": mono, "batch_mono": batch,
                   "n_monotone": int(mono["monotone"].sum()),
                   "batch_monotone": bool(batch["monotone"][0]), "n_sets": n}
    return {**out, "draws": draws}


def verdict_c9(draws: Sequence[Mapping[str, Any]], *,
               partly_fraction: float = C9_PARTLY) -> Verdict:
    """C9: Gamma_p^-2 grows with model confidence (falls with the entropy of ``p``).

    Paper (Section 4, Fig. 4 right): "Overall, this suggests that Gamma_p^-2 in Equation 8
    grows with model confidence, which supports our hypothesis."

    ``draws``: per disjoint draw of images (the seeds), as :func:`measure_c9`'s ``draws``.
    Reproduced when every per-image curve of every draw is monotone and the batch-averaged
    curve (the paper's red curve) is monotone on more than half of the draws; partly when at
    least ``partly_fraction`` of all per-image curves are monotone; else not reproduced.
    """
    mono = np.concatenate([np.asarray(d["monotone"], bool) for d in draws])
    rho = np.concatenate([np.asarray(d["rho"], float) for d in draws])
    n_monotone, n_sets = int(mono.sum()), int(mono.size)
    batch = {str(i): bool(d["batch_monotone"]) for i, d in enumerate(draws)}
    max_violation = max(float(d["max_violation"]) for d in draws)
    batch_viol = max(float(d["batch_violation"]) for d in draws)
    agree = (f"every per-image curve monotone on "
             f"{seed_agreement({str(i): bool(np.all(d['monotone'])) for i, d in enumerate(draws)})}"
             f" (draws of images), batch curve monotone on {seed_agreement(batch)}")
    measured = (f"{n_monotone}/{n_sets} curves monotone over {len(draws)} draws (largest "
                f"counter-step {max_violation:.1e} of range); Spearman rho median "
                f"{np.median(rho):.3f}, max {rho.max():.3f}; batch curves: Spearman "
                + ", ".join(f"{d['batch_rho']:.3f}" for d in draws)
                + f", largest counter-step {batch_viol:.1e} of range; {agree}")
    values = {"rho": rho, "monotone": mono,
              "per_seed": {str(i): {"n_monotone": int(np.sum(d["monotone"])),
                                    "batch_monotone": bool(d["batch_monotone"]),
                                    "batch_rho": float(d["batch_rho"]),
                                    "batch_violation": float(d["batch_violation"])}
                           for i, d in enumerate(draws)}}
    batch_ok = sum(batch.values()) * 2 > len(batch)
    if n_monotone == n_sets and batch_ok:
        return Verdict("C9", "reproduced", measured, "", values, **_common(verdict_c9))
    why = (f"{n_monotone}/{n_sets} per-image curves are monotone in the entropy (largest "
           f"counter-step {max_violation:.1e} of range); {agree} (largest counter-step of a "
           f"batch curve {batch_viol:.1e} of its range: the average of differently collapsing "
           "p need not be monotone in the mean entropy)")
    verdict = "partly" if n_monotone >= partly_fraction * n_sets else "not reproduced"
    return Verdict("C9", verdict, measured, why, values, **_common(verdict_c9))


# ---- C10
def measure_c10(params: Params) -> dict[str, Any]:
    """``Gamma_p^2(p(S, eps))`` for every ``S`` and ``eps`` (K = 10) against App. C's limit.

    Returns:
        ``{"S", "eps" (largest first), "table" (S x eps), "limits", "rel_err" (at the
        smallest eps, per S)}``.
    """
    eps = params.eps
    table = collapse.collapse_table(params.collapse_S, eps, K_DATA)
    limits = np.array([gamma_p_collapse_limit(S) for S in params.collapse_S])
    rel_err = np.abs(table[:, -1] - limits) / limits
    return {"S": list(params.collapse_S), "eps": eps, "table": table, "limits": limits,
            "rel_err": rel_err}


def verdict_c10(*, S: Sequence[int], eps: Sequence[float], table: np.ndarray,
                limits: Sequence[float], tol: float = C10_TOL) -> Verdict:
    """C10: reproduced when ``Gamma_p^2(p(S, eps_min))`` is within relative ``tol`` of
    ``4(S-1)/(S+2)`` for every ``S``; else not reproduced.

    Paper (App. C, Eq. 11): "While this limit evaluates to 3 when S=10 (the number of classes
    in the datasets considered in this study), this is typically not how softmax output p
    collapses as we increase logit variance."

    Args:
        S: the ``S`` values (rows of ``table``); eps: the ``eps`` values, largest first.
        table: ``Gamma_p^2`` per ``S`` and ``eps``; limits: ``4(S-1)/(S+2)`` per ``S``.
    """
    table, limits = np.asarray(table, float), np.asarray(limits, float)
    rel_err = np.abs(table[:, -1] - limits) / limits
    measured = (f"Gamma_p^2(p(S, {eps[-1]:.0e})) vs 4(S-1)/(S+2) for S={S[0]}..{S[-1]}: "
                f"max relative gap {rel_err.max():.1e}; S={S[-1]}: {table[-1, -1]:.6f} (limit "
                f"{limits[-1]:g}), S={S[0]}: {table[0, -1]:.6f} (limit {limits[0]:g})")
    values = {"S": list(S), "eps": eps, "gamma2": table, "limit": limits}
    if rel_err.max() < tol:
        return Verdict("C10", "reproduced", measured, "", values, **_common(verdict_c10))
    worst = int(np.argmax(rel_err))
    why = (f"relative gap {rel_err.max():.2e} >= {tol:g} at the smallest eps {eps[-1]:.0e} "
           f"(S={S[worst]})")
    return Verdict("C10", "not reproduced", measured, why, values, **_common(verdict_c10))


# ---- C11
def measure_c11(ctx: Context) -> dict[str, Any]:
    """The bi-level spectrum of the expected G-term (App. B) for uniform and network ``p``.

    ``sigma_c^2, sigma_e^2`` come from LeNet-300-100's projected logit Jacobian (cached);
    closed form, Eq. 7 matrix and Monte-Carlo are compared by
    :func:`collapse.bilevel_comparison`.

    Returns:
        ``{"R", "JR", "s_c2", "s_e2", "K", "bilevel" ({name: comparison + "err_exact",
        "err_mc", "n_outliers"}), "lam_u" (eigenvalues of M at uniform p), "uniform_dev"
        (largest |lambda - 1/K| of its top K-1), "margins" (interlacing slack per network
        output), "checks" (the five booleans of :data:`C11_CHECKS`)}``.
    """
    p, model, theta, ds = ctx.params, ctx.model, ctx.theta, ctx.ds
    R = random_subspace(num_parameters(model), p.d, seed=p.subspace_seed, dtype=torch.float64,
                        device=ctx.device)
    JR = cached("03_projected_jacobian",
                ctx.key(d=p.d, subspace_seed=p.subspace_seed, dtype=p.dtype),
                lambda: projected_jacobian(model, theta, ds.X, R).cpu(),
                cache_dir=ctx.dirs["cache"])
    s_c2, s_e2 = logit_gradient_stats(JR)
    p_net = torch.softmax(ctx.z / p.temperature, dim=1)
    K = p_net.shape[1]
    bilevel = {}
    for name, probs in [("uniform p", torch.full((K,), 1 / K, dtype=torch.float64)),
                        ("network p (batch)", p_net)]:
        out = collapse.bilevel_comparison(probs, s_c2, s_e2, p.d, seed=p.subspace_seed,
                                          n_mc=p.n_monte_carlo)
        top = out["closed_form"].max()
        out["err_exact"] = float(np.abs(out["explicit"] - out["closed_form"]).max() / top)
        out["err_mc"] = float(np.abs(out["monte_carlo"] - out["closed_form"]).max() / top)
        out["n_outliers"] = int((out["closed_form"] > out["bulk"] * (1 + 1e-9)).sum())
        bilevel[name] = out
    lam_u = torch.linalg.eigvalsh(softmax_hessian(torch.full((K,), 1 / K, dtype=torch.float64)))
    uniform_dev = float((lam_u[1:] - 1 / K).abs().max())
    margins = np.array([collapse.interlacing_margin(q) for q in p_net])
    u, b = bilevel["uniform p"], bilevel["network p (batch)"]
    checks = dict(zip(C11_CHECKS, (
        max(u["err_exact"], b["err_exact"]) < C11_EXACT,
        max(u["err_mc"], b["err_mc"]) < C11_MC,
        u["n_outliers"] == K - 1 and b["n_outliers"] == K - 1,
        uniform_dev < ROUNDING,
        bool(margins.min() > -ROUNDING))))
    return {"R": R, "JR": JR, "s_c2": s_c2, "s_e2": s_e2, "K": K, "bilevel": bilevel,
            "lam_u": lam_u, "uniform_dev": uniform_dev, "margins": margins, "checks": checks}


def c11_seed_values(c11: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers :func:`verdict_c11` reads from one seed's :func:`measure_c11`."""
    u, b = c11["bilevel"]["uniform p"], c11["bilevel"]["network p (batch)"]
    return {"checks": dict(c11["checks"]), "err_exact": max(u["err_exact"], b["err_exact"]),
            "err_mc": max(u["err_mc"], b["err_mc"]),
            "n_outliers": (u["n_outliers"], b["n_outliers"]),
            "uniform_dev": c11["uniform_dev"], "min_margin": float(c11["margins"].min()),
            "s_c2": c11["s_c2"], "s_e2": c11["s_e2"]}


def _majority(flags: Mapping[str, bool]) -> bool:
    """More than half of the seeds agree."""
    return sum(bool(v) for v in flags.values()) * 2 > len(flags)


def verdict_c11(per_seed: Mapping[str, Mapping[str, Any]]) -> Verdict:
    """C11: reproduced when every check holds (on more than half of the seeds); partly for at
    least three of five; else not.

    Paper (App. B): "Since this is a rank-1 update to a diagonal matrix, its eigenvalues are
    interlaced with those of diag(p)"

    Args:
        per_seed: per seed (Kaiming init, projection ``R``, Monte-Carlo residuals), as
            :func:`c11_seed_values`: ``checks`` (the booleans of :data:`C11_CHECKS`),
            ``err_exact``, ``err_mc`` (largest relative gaps of the closed form to the Eq. 7
            matrix and to Monte-Carlo), ``n_outliers`` (uniform, network), ``uniform_dev``
            (largest ``|lambda - 1/K|`` of M's top eigenvalues at uniform ``p``),
            ``min_margin`` (smallest interlacing slack), ``s_c2``, ``s_e2``.
    """
    seeds = list(per_seed)
    ps = {x: per_seed[x] for x in seeds}
    per_check = {k: {x: bool(ps[x]["checks"][k]) for x in seeds} for k in ps[seeds[0]]["checks"]}
    checks = {k: _majority(v) for k, v in per_check.items()}

    def top(k: str) -> float:
        return max(float(ps[x][k]) for x in seeds)

    outliers = sorted({tuple(ps[x]["n_outliers"]) for x in seeds})
    min_margin = min(float(ps[x]["min_margin"]) for x in seeds)
    measured = (f"closed form vs Eq. 7 eigenvalues <= {top('err_exact'):.0e}, vs Monte-Carlo <= "
                f"{top('err_mc'):.1e} (relative, largest over {len(seeds)} seeds); outliers "
                f"(uniform / network p) " + ", ".join(f"{a} / {b}" for a, b in outliers)
                + f"; uniform outliers of M = 1/K to {top('uniform_dev'):.0e}; interlacing "
                f"slack >= {min_margin:.0e}; "
                + "; ".join(f"{k}: {seed_agreement(v)}" for k, v in per_check.items()))
    values = {"checks": checks,
              "per_seed": {str(x): {"s_c2": ps[x]["s_c2"], "s_e2": ps[x]["s_e2"],
                                    "err_mc": float(ps[x]["err_mc"]),
                                    "checks": dict(ps[x]["checks"])} for x in seeds}}
    n_ok = sum(bool(v) for v in checks.values())
    if n_ok == len(checks):
        return Verdict("C11", "reproduced", measured, "", values, **_common(verdict_c11))
    why = "failed: " + ", ".join(f"{k} (holds on {seed_agreement(per_check[k])})"
                                 for k, v in checks.items() if not v) + (
        f" (closed form vs Eq. 7 <= {top('err_exact'):.0e}, vs Monte-Carlo <= "
        f"{top('err_mc'):.1e}, interlacing slack {min_margin:.0e})")
    return Verdict("C11", "partly" if n_ok >= 3 else "not reproduced", measured, why, values,
                   **_common(verdict_c11))


# ---- C12
def pre_collapse_scan(ctx: Context) -> list[dict]:
    """:func:`collapse.pre_collapse_scan` over ``scan_alphas`` (cached)."""
    p = ctx.params
    R = random_subspace(num_parameters(ctx.model), p.d, seed=p.subspace_seed,
                        dtype=torch.float64, device=ctx.device)
    key = ctx.key(d=p.d, subspace_seed=p.subspace_seed, dtype=p.dtype,
                  alphas=list(p.scan_alphas), T=p.temperature, timed=True)

    def compute() -> list[dict]:
        t0 = time.perf_counter()
        rows = collapse.pre_collapse_scan(ctx.model, ctx.theta, ctx.ds.X, ctx.ds.y,
                                          np.asarray(p.scan_alphas, float), R,
                                          temperature=p.temperature)
        per_alpha = (time.perf_counter() - t0) / max(len(rows), 1)
        return [{**r, "seconds": per_alpha} for r in rows]

    return cached("03_pre_collapse_scan", key, compute, cache_dir=ctx.dirs["cache"])


def figure10_eigenvectors(ctx: Context, *, progress: bool = False) -> list[dict]:
    """Per ``fig10_alphas`` value, the first layer's top Hessian eigenvector averaged over
    hidden units and the training image best aligned with it (cached)."""
    p = ctx.params

    def compute() -> list[dict]:
        out = []
        for a in progress_bar(p.fig10_alphas, "Figure-10 eigenvectors", progress):
            r = collapse.first_layer_top_image(ctx.model, ctx.theta, ctx.ds.X, ctx.ds.y, float(a),
                                               temperature=p.temperature, seed=p.subspace_seed)
            if not r["collapsed"]:
                r["best"] = collapse.best_aligned_image(r["vector"], ctx.ds.X)
            out.append(r)
        return out

    return cached("03_fig10_eigenvectors",
                  ctx.key(dtype=p.dtype, alphas=list(p.fig10_alphas), T=p.temperature),
                  compute, cache_dir=ctx.dirs["cache"])


def least_confident(ctx: Context, alphas: Iterable[float]) -> dict[float, int]:
    """Per alpha, the sample with the largest softmax entropy at ``alpha theta``."""
    out = {}
    with torch.no_grad():
        for a in alphas:
            z = logits(ctx.model, scale_params(ctx.theta, a), ctx.ds.X).to(torch.float64)
            out[float(a)] = int(entropy(torch.softmax(z / ctx.params.temperature, 1).cpu())
                                .argmax())
    return out


def separation_rows(scan: Sequence[Mapping]) -> list[dict]:
    """Per scanned alpha whose least confident sample is not one-hot: App. C's ``2 eps``
    comparison (:func:`collapse.two_class_separation`), its share of Tr M and the curvatures.
    """
    rows = []
    for r in scan:
        p0 = torch.as_tensor(r["p_least"])
        if int((p0 > 0).sum()) < 2:
            continue
        s = collapse.two_class_separation(p0)
        rows.append({"alpha": r["alpha"], **s, "share": r["share_least"], "hpc": r["hessian_pc"],
                     "gpc": r["g_pc"]})
    return rows


def measure_c12(scan: Sequence[Mapping], fig10: Sequence[Mapping],
                mu0: Mapping[float, int]) -> dict[str, Any]:
    """C12's criteria from the scan and the Figure-10 eigenvectors (stated in the chapter).

    *Pinned*: a scanned alpha where one sample carries > 90% of Tr M and the Hessian's
    positive curvature is in [0.8, 1.3]; *drop*: a larger alpha with |PC| < 0.5; *2 eps*:
    where one sample carries M and eps < 0.05, lambda1/(2 eps) within 10% of 1 and
    lambda2/lambda1 < 0.1; *aligned*: |cos| > 0.99 with the least confident image.

    Returns:
        ``{"sep_rows", "pinned", "after" (PC after the last pinned alpha), "pre",
        "aligned" ([(alpha, |cos|, same sample)]), "collapsed_alphas", "checks"}``.
    """
    lo, hi = C12_PINNED
    sep_rows = separation_rows(scan)
    pre = [s for s in sep_rows if s["share"] > C12_SHARE and s["eps"] < C12_EPS_MAX]
    pinned = [s for s in sep_rows if s["share"] > C12_SHARE and lo <= s["hpc"] <= hi]
    idx_pinned = max((i for i, r in enumerate(scan)
                      if lo <= r["hessian_pc"] <= hi and r["share_least"] > C12_SHARE),
                     default=None)
    after = [r["hessian_pc"] for r in scan[idx_pinned + 1:]] if idx_pinned is not None else []
    dropped = any(abs(pc) < C12_DROP for pc in after)
    two_eps = bool(pre) and all(abs(s["ratio"] - 1) < C12_RATIO_TOL
                                and s["separation"] < C12_SEPARATION for s in pre)
    aligned = [(r["alpha"], r["best"]["abs_cosine"], r["best"]["index"] == mu0[r["alpha"]])
               for r in fig10 if not r["collapsed"]]
    good_align = [a for a, c, same in aligned if c > C12_COSINE and same]
    checks = dict(zip(C12_CHECKS, (bool(pinned), bool(dropped), two_eps, bool(good_align))))
    window = [r["alpha"] for r in scan if r["share_least"] > C12_SHARE
              and math.isfinite(r["hessian_pc"])]
    return {"sep_rows": sep_rows, "pinned": pinned, "after": after, "pre": pre,
            "aligned": aligned, "collapsed_alphas": [r["alpha"] for r in fig10 if r["collapsed"]],
            "window": window, "checks": checks,
            "unsampled": c12_unsampled(window=window, pinned=pinned, pre=pre, aligned=aligned)}


def c12_unsampled(*, window: Sequence[float], pinned: Sequence, pre: Sequence,
                  aligned: Sequence) -> dict[str, bool]:
    """Per check of :data:`C12_CHECKS`: True when no sampled alpha fell where it can be
    tested (no scanned alpha where one sample carries the G-term, no pinned point, no row
    with eps < C12_EPS_MAX, every Figure-10 alpha collapsed)."""
    return {C12_CHECKS[0]: not window, C12_CHECKS[1]: not pinned and not window,
            C12_CHECKS[2]: not pre, C12_CHECKS[3]: not aligned}


def verdict_c12(*, checks: Mapping[str, bool], pinned: Sequence[Mapping],
                after: Sequence[float], pre: Sequence[Mapping],
                aligned: Sequence[tuple[float, float, bool]], collapsed_alphas: Sequence[float],
                n_fig10: int, n_samples: int, window: Sequence[float] = (),
                seconds_per_alpha: float = float("nan"),
                values: Mapping[str, Any] | None = None,
                per_seed: Mapping[str, Mapping[str, Any]] | None = None, d: int = 0
                ) -> Verdict:
    """C12: the pre-collapse regime (curvature pinned near 1, then 0; one eigenvalue 2 eps;
    the first layer's top eigenvector is one training image).

    Paper (App. D, Fig. 10): "as we increase alpha, Tr(G)/||G||_F approaches 1, remains level
    for a short time (we call this the pre-collapse regime), and then suddenly drops to 0."

    A check holds when it holds on more than half of ``per_seed`` (each seed: Kaiming init
    and projection ``R``; the other arguments describe the first seed, shown in the text).
    Reproduced when the four checks of :data:`C12_CHECKS` hold. Figure-10 alphas at which
    every softmax output is one-hot in float64 are reported, not counted against the claim:
    where the window sits depends on the smallest top-two logit gap of the batch, i.e. on
    the number of images, not on the phenomenon. When every failed check failed for want of
    a sampled point inside the window (no scanned alpha where one sample carries the G-term,
    or every Figure-10 alpha collapsed) on every seed where it failed, the verdict is
    inconclusive at this scale, with a finer scan as the scale that decides. When every
    failed check is either unsampled so or holds on some seed but not on most (the seeds
    disagree: the random projection of dimension ``d`` or the init decides it, not the
    phenomenon), inconclusive too, with a larger ``d`` as the scale that decides. Otherwise
    partly when at least two checks hold, else not reproduced.

    Args:
        checks: the booleans of :data:`C12_CHECKS`.
        pinned: rows (``hpc``, ``alpha``, ``gpc``) where the curvature is pinned near 1.
        after: the Hessian's PC at the alphas after the last pinned one.
        pre: rows (``ratio``) where one sample carries M and eps < C12_EPS_MAX.
        aligned: ``(alpha, |cos|, same sample)`` per non-collapsed Figure-10 alpha.
        collapsed_alphas: Figure-10 alphas where every softmax output is one-hot.
        n_fig10: number of Figure-10 alphas; n_samples: images of the experiment.
        window: scanned alphas where one sample carries > C12_SHARE of Tr M (finite PC).
        seconds_per_alpha: cost of one scanned alpha (for ``needed``).
        values: raw numbers for the result file.
        per_seed: per seed ``checks``, ``unsampled`` (:func:`c12_unsampled`) and optionally
            ``after`` (the Hessian's PC after the last pinned alpha); default: the first seed
            alone, from the other arguments.
        d: the projection's dimension (for ``needed``).
    """
    pinned_txt = ", ".join(f"{s['hpc']:.3f} (alpha {s['alpha']:g}, G-term {s['gpc']:.3f})"
                           for s in pinned) or "never"
    ratio_txt = (f"[{min(s['ratio'] for s in pre):.3f}, {max(s['ratio'] for s in pre):.3f}]"
                 if pre else "n/a")
    align_txt = ", ".join(f"{c:.4f} (alpha {a:g})" for a, c, _ in aligned) or "none"
    measured = (f"Hessian PC near 1: {pinned_txt}; afterwards min PC "
                f"{min(after) if after else float('nan'):.3f}; lambda1/(2 eps) in {ratio_txt}; "
                f"first-layer eigenvector vs least-confident image |cos|: {align_txt}; "
                f"{len(collapsed_alphas)}/{n_fig10} Figure-10 alphas fully collapsed in float64")
    lo, hi = C12_PINNED
    definition = (f"pinned: a scanned alpha where one sample carries > {C12_SHARE:.0%} of Tr M "
                  f"and the Hessian's Tr/||.||_F (d-dim. projection) is in [{lo:g}, {hi:g}]; "
                  f"drop: |PC| < {C12_DROP:g} at a larger alpha; 2 eps: where eps < "
                  f"{C12_EPS_MAX:g}, |lambda1/(2 eps) - 1| < {C12_RATIO_TOL:g} and "
                  f"lambda2/lambda1 < {C12_SEPARATION:g}; image: |cos| > {C12_COSINE:g} between "
                  "the first layer's top Hessian eigenvector (mean over hidden units) and the "
                  "least-confident training image at some Figure-10 alpha")
    if per_seed is None:
        per_seed = {"0": {"checks": dict(checks), "unsampled": c12_unsampled(
            window=window, pinned=pinned, pre=pre, aligned=aligned)}}
    per_check = {k: {x: bool(d["checks"][k]) for x, d in per_seed.items()} for k in checks}
    checks = {k: _majority(v) for k, v in per_check.items()}
    agree = "; ".join(f"{k}: {seed_agreement(v)}" for k, v in per_check.items())
    measured += f"; per check, seeds (init, projection) where it holds: {agree}"
    definition += ("; a check holds when it holds on more than half of the seeds (Kaiming init "
                   "and projection R)")
    vals = dict(values or {})
    vals["per_seed"] = {str(x): {"checks": dict(d["checks"])} for x, d in per_seed.items()}
    vals["checks"] = checks
    common = dict(values=vals, quote=paper_quote(verdict_c12), definition=definition)
    failed = [k for k, v in checks.items() if not v]
    note = ""
    if collapsed_alphas:
        note = ("at alpha = " + ", ".join(f"{a:g}" for a in collapsed_alphas)
                + f" every softmax output of the {n_samples} images is one-hot in float64 (the "
                "window sits at smaller alpha than in the paper's Figure 10 because the batch's "
                "smallest top-two logit gap is larger with fewer images)")
    if not failed:
        return Verdict("C12", "reproduced", measured, note, **common)
    why = "failed: " + ", ".join(failed) + (f"; {note}" if note else "")
    unsampled = [k for k in failed if all(s["unsampled"][k] for s in per_seed.values()
                                          if not s["checks"][k])]
    split = [k for k in failed if k not in unsampled and any(per_check[k].values())]
    if split and len(unsampled) + len(split) == len(failed):
        after = {x: min((abs(v) for v in s.get("after", []) if math.isfinite(v)),
                        default=float("nan")) for x, s in per_seed.items()}
        why += (f"; the seeds disagree on {', '.join(split)} ("
                + "; ".join(f"{k}: {seed_agreement(per_check[k])}" for k in split)
                + "; smallest |PC| after the pinned alpha per seed: "
                + ", ".join(f"{v:.2f}" for v in after.values())
                + f"): at d = {d} the Hessian's PC after the collapse is the H-term's PC in a "
                "random projection, which scatters across projections and inits; this scale "
                "does not resolve the check")
        d_need = max(5 * d, 50)
        n_alpha = len((values or {}).get("scan_alpha", [])) or 20
        cost = 3 * n_alpha * seconds_per_alpha * d_need / max(d, 1)
        needed = (f"d = {d_need} (the scatter of a projection's PC shrinks as d grows) on at "
                  f"least 3 seeds, the same {n_alpha} scanned alphas: about {cost:.0f} s of CPU "
                  f"(the scan is linear in d, from {seconds_per_alpha:.2f} s per alpha at d = "
                  f"{d}); seconds on one GPU")
        return inconclusive("C12", measured, why, needed, **common)
    if all(s["unsampled"][k] for k in failed for s in per_seed.values() if not s["checks"][k]):
        why += ("; no sampled alpha fell inside the pre-collapse window, so the failed checks "
                "had nothing to test")
        needed = (f"a scan of about 20 alphas between the last alpha before the window and the "
                  f"first fully collapsed one (same {n_samples} images): about "
                  f"{20 * seconds_per_alpha:.0f} s of CPU (seconds on one GPU)")
        return inconclusive("C12", measured, why, needed, **common)
    verdict = "partly" if sum(bool(v) for v in checks.values()) >= 2 else "not reproduced"
    return Verdict("C12", verdict, measured, why, **common)


# ---- the chapter: run, judge, record, printed lines, plots
@dataclass
class Results:
    """Everything chapter 03 computes (the output of :func:`run`).

    Attributes:
        ctx: data, network and logits (:class:`Context`).
        c8, c9, c10, c11: the outputs of :func:`measure_c8` ... :func:`measure_c11`.
        scan: :func:`pre_collapse_scan`; fig10: :func:`figure10_eigenvectors`; mu0: the
            least confident sample per Figure-10 alpha; c12: :func:`measure_c12` (all of seed
            0); seeds: :func:`measure_seed` per seed (C8, C11, C12 are judged on all).
    """

    ctx: Context
    c8: dict
    c9: dict
    c10: dict
    c11: dict
    scan: list
    fig10: list
    mu0: dict
    c12: dict
    seeds: list = field(default_factory=list)

    @property
    def params(self) -> Params:
        return self.ctx.params

    def header(self) -> str:
        """Profile, device and dtype (not compared: the device differs between machines)."""
        p = self.params
        return f"profile={p.profile}, device={self.ctx.device.type}, dtype={p.dtype}"

    def summary(self) -> str:
        """Data, network and logit statistics at alpha = 1."""
        s = logit_summary(self.ctx.z)
        return "\n".join([
            f"data: {self.ctx.source}",
            f"LeNet-300-100: P = {num_parameters(self.ctx.model):,}, degree L = "
            f"{self.ctx.model.degree}",
            f"logits at alpha = 1: std {s['std']:.3f}; top-1 minus top-2 logit gap: min "
            f"{s['gap_min']:.3g}, median {s['gap_median']:.3g}, max {s['gap_max']:.3g}"])

    def c8_lines(self) -> str:
        out = []
        for K, s in self.c8["survey"].items():
            n = sum(len(a) for a in s["single"].values()) + sum(len(a) for a in
                                                                s["batched"].values())
            out.append(f"K = {K:3d}: {n} values, bound [1, {s['bound'][1]:.4f}]; min "
                       f"{s['min']:.4f} ({s['argmin']}), max {s['max']:.4f} ({s['argmax']})")
            out.append(f"         uniform p: {s['structured']['uniform']:.4f};  p(2, 1e-6): "
                       f"{s['structured']['p(S=2, eps=1e-06)']:.4f};  all inside the bound: "
                       f"{self.c8['checks'][K]['inside']}; one-hot draws skipped: {s['skipped']}")
        out.append("Gamma_p along softmax(alpha z): " + ", ".join(f"{g:.3f}"
                                                                 for g in self.c8["path"]))
        return "\n".join(out)

    def c9_lines(self) -> str:
        c9, p = self.c9, self.params
        mono, lo, hi = c9["mono"], *p.logit_alpha_range
        ends = c9["curves"]["inv_gamma2"][:, 0]
        return "\n".join([
            f"{p.n_logit_sets} logit sets x {p.logit_alpha_points} scales in [{lo:g}, {hi:g}]; "
            f"{c9['curves']['undefined']} one-hot points dropped",
            f"monotone curves: {c9['n_monotone']}/{p.n_logit_sets}; Spearman rho: min "
            f"{mono['rho'].min():.3f}, median {np.median(mono['rho']):.3f}, max "
            f"{mono['rho'].max():.3f}",
            f"largest step against the trend below {C9_VIOLATION:g} of a curve's range: "
            f"{bool(mono['max_violation'].max() <= C9_VIOLATION)}",
            f"batch-averaged (red) curve: monotone {c9['batch_monotone']}, Spearman rho "
            f"{c9['batch_mono']['rho'][0]:.3f}",
            *(f"draw {i} (images {i * p.n_logit_sets}..{(i + 1) * p.n_logit_sets - 1}): "
              f"{int(np.sum(d['monotone']))}/{p.n_logit_sets} curves monotone; batch curve "
              f"monotone {d['batch_monotone']} (Spearman {d['batch_rho']:.3f}"
              + ("" if d["batch_monotone"] else
                 f", largest counter-step {d['batch_violation']:.1e} of its range") + ")"
              for i, d in enumerate(c9["draws"])),
            f"Gamma_p^-2 at alpha = {lo:g}: {ends.min():.4f}..{ends.max():.4f} (uniform p: "
            f"1/(K-1) = {1 / (K_DATA - 1):.4f})"])

    def c10_lines(self) -> str:
        c10 = self.c10
        eps, show = c10["eps"], [0, len(c10["eps"]) // 2, len(c10["eps"]) - 1]
        out = ["  S | " + " | ".join(f"eps={eps[j]:.0e}" for j in show) + " | 4(S-1)/(S+2)"]
        for S, row, lim in zip(c10["S"], c10["table"], c10["limits"]):
            out.append(f"{S:3d} | " + " | ".join(f"{row[j]:9.6f}" for j in show)
                       + f" | {lim:9.6f}")
        out.append(f"largest relative gap to the limit at eps = {eps[-1]:.0e}: "
                   f"{c10['rel_err'].max():.2e}")
        return "\n".join(out)

    def c11_lines(self) -> str:
        c11, d, K = self.c11, self.params.d, self.c11["K"]
        out = [f"projected logit Jacobian {tuple(c11['JR'].shape)}: sigma_c^2 = "
               f"{c11['s_c2']:.3e}, sigma_e^2 = {c11['s_e2']:.3e}"]
        for name, b in c11["bilevel"].items():
            out.append(f"{name:18s}: {b['n_outliers']} outliers above a bulk of "
                       f"{d - b['n_outliers']} at {b['bulk']:.3e}; closed form = Eq. 7 matrix "
                       f"within {C11_EXACT:g}: {b['err_exact'] < C11_EXACT}; vs Monte-Carlo "
                       f"({self.params.n_monte_carlo} draws) {b['err_mc']:.1e}")
        lam_u, m = c11["lam_u"], c11["margins"].min()
        out.append(f"uniform p: eigenvalues of diag(p) - pp^T: one |lambda| < {ROUNDING:g}: "
                   f"{bool(abs(lam_u[0]) < ROUNDING)}, the other {K - 1} equal to 1/K = "
                   f"{1 / K:.6f} within {ROUNDING:g}: {c11['uniform_dev'] < ROUNDING}")
        out.append(f"interlacing p_(i) >= lambda_i >= p_(i+1) over {len(c11['margins'])} network"
                   f" outputs: smallest slack {fmt_small(m, '.1e')} (>= 0 up to rounding: "
                   f"{bool(m > -ROUNDING)})")
        out += [f"  {k}: {ok}" for k, ok in c11["checks"].items()]
        return "\n".join(out)

    def seed_lines(self) -> str:
        """Per seed (init, projection R, Monte-Carlo and Dirichlet draws) the checks that
        decide C8, C11 and C12."""
        out = []
        for sd in self.seeds:
            c8 = all(v for ch in sd["c8"]["checks"].values() for v in ch.values())
            c11 = sum(bool(v) for v in sd["c11"]["checks"].values())
            c12 = ", ".join(f"{k.split(' (')[0].split(' with')[0]}: {v}"
                            for k, v in sd["c12"]["checks"].items())
            out.append(f"seed {sd['seed']}: C8 checks hold: {c8}; C11 checks holding: "
                       f"{c11}/{len(C11_CHECKS)}; C12: {c12}")
        return "\n".join(out)

    def scan_lines(self) -> str:
        """The raw pre-collapse scan (near the collapse the last digits follow the weights)."""
        out = [" alpha | Hessian PC | G-term PC | ||G||_2   ||H-term||_2 | max entropy | "
               "least-conf. | its share of Tr M"]
        for r in self.scan:
            out.append(f"{r['alpha']:6.1f} | {r['hessian_pc']:10.3f} | {r['g_pc']:9.3f} | "
                       f"{fmt_small(r['g_norm'], '.2e'):>8s}  {fmt_small(r['h_norm'], '.2e')} | "
                       f"{fmt_small(float(r['entropies'].max()), '.2e'):>11s} | "
                       f"{r['least_confident']:11d} | {r['share_least']:.3f}")
        return "\n".join(out)

    def scan_check_lines(self) -> str:
        """What C12 reads off the scan, against its thresholds."""
        lo, hi = C12_PINNED
        return "\n".join(
            f"alpha {r['alpha']:6.1f}: least confident sample {r['least_confident']:3d}; it "
            f"carries > {C12_SHARE:.0%} of Tr M: {r['share_least'] > C12_SHARE}; Hessian PC in "
            f"[{lo:g}, {hi:g}]: {lo <= r['hessian_pc'] <= hi}; |PC| < {C12_DROP:g}: "
            f"{abs(r['hessian_pc']) < C12_DROP}" for r in self.scan)

    def fig10_lines(self, *, checked: bool = False) -> str:
        """Figure 10's eigenvectors: raw values, or (``checked``) the C12 reading."""
        ds, out = self.ctx.ds, []
        for r in self.fig10:
            a = r["alpha"]
            if r["collapsed"]:
                out.append(f"alpha {a:5.0f}: collapsed (every softmax output one-hot in float64)")
                continue
            b = r["best"]
            idx, cls = int(ds.indices[b["index"]]), ds.classes[int(ds.y[b["index"]])]
            same = self.mu0[a] == b["index"]
            out.append(
                f"alpha {a:5.0f}: best-aligned image #{idx} ({cls}); |cos| > {C12_COSINE:g}: "
                f"{b['abs_cosine'] > C12_COSINE}; it is the least-confident sample: {same}"
                if checked else
                f"alpha {a:5.0f}: top eigenvalue {fmt_small(r['eigenvalue'], '.2e')}, image #{idx}"
                f" {cls} (subset pos. {b['index']}), |cos| {b['abs_cosine']:.3f}, runner-up "
                f"{b['runner_up']:.3f}, least-confident pos. {self.mu0[a]} (same: {same})")
        return "\n".join(out)

    def two_eps_lines(self, *, checked: bool = False) -> str:
        """App. C's 2 eps comparison at each scanned alpha (``checked``: the C12 reading)."""
        if checked:
            return "\n".join(
                f"alpha {s['alpha']:6.1f}: one sample carries M (> {C12_SHARE:.0%} of Tr M, eps "
                f"< {C12_EPS_MAX:g}): {s['share'] > C12_SHARE and s['eps'] < C12_EPS_MAX}; "
                f"lambda1/(2 eps) within {C12_RATIO_TOL:.0%} of 1: "
                f"{abs(s['ratio'] - 1) < C12_RATIO_TOL}; lambda2/lambda1 < {C12_SEPARATION:g}: "
                f"{s['separation'] < C12_SEPARATION}" for s in self.c12["sep_rows"])
        out = [" alpha | eps (2nd prob.) | lambda1/(2 eps) | lambda2/lambda1 | 3rd prob."]
        for r in self.scan:
            p0 = np.sort(r["p_least"])[::-1]
            if int((p0 > 0).sum()) < 2:
                out.append(f"{r['alpha']:6.1f} | one-hot in float64")
                continue
            s = collapse.two_class_separation(r["p_least"])
            out.append(f"{r['alpha']:6.1f} | {fmt_small(s['eps']):>15s} | {s['ratio']:15.3f} | "
                       f"{fmt_small(s['separation'], '.2e'):>15s} | "
                       f"{fmt_small(float(p0[2]), '.2e')}")
        return "\n".join(out)


def reseeded(params: Params, i: int) -> Params:
    """Seed ``i`` of ``params``: Kaiming init ``model_seed + i`` and projection / Monte-Carlo
    seed ``subspace_seed + i`` (the same images)."""
    return replace(params, model_seed=params.model_seed + i,
                   subspace_seed=params.subspace_seed + i)


def measure_seed(ctx: Context, i: int, *, progress: bool = False) -> dict[str, Any]:
    """What seed ``i`` (``ctx`` built from :func:`reseeded`) contributes to C8, C11, C12."""
    p = ctx.params
    scan = pre_collapse_scan(ctx)
    fig10 = figure10_eigenvectors(ctx, progress=progress)
    mu0 = least_confident(ctx, p.fig10_alphas)
    return {"seed": i, "c8": measure_c8(p, ctx.z, seed=p.data_seed + i), "c11": measure_c11(ctx),
            "scan": scan, "fig10": fig10, "mu0": mu0, "c12": measure_c12(scan, fig10, mu0)}


def run(params: Params, *, progress: bool = False) -> Results:
    """Every computation of chapter 03 (the network ones cached), on ``n_seeds`` seeds."""
    ctx = load(params)
    seeds = [measure_seed(ctx, 0, progress=progress)]
    for i in progress_bar(range(1, params.n_seeds), "further seeds", progress):
        seeds.append(measure_seed(load(reseeded(params, i)), i))
    s0 = seeds[0]
    return Results(ctx=ctx, c8=s0["c8"], c9=measure_c9(params, ctx.z), c10=measure_c10(params),
                   c11=s0["c11"], scan=s0["scan"], fig10=s0["fig10"], mu0=s0["mu0"],
                   c12=s0["c12"], seeds=seeds)


def judge(res: Results) -> list[Verdict]:
    """The verdicts C8-C12 of ``res``."""
    p, c9, c10, c12 = res.params, res.c9, res.c10, res.c12
    seeds = {str(s["seed"]): s for s in res.seeds}
    hpc = np.array([r["hessian_pc"] for r in res.scan])
    gpc = np.array([r["g_pc"] for r in res.scan])
    return [
        verdict_c8({x: {"survey": s["c8"]["survey"], "checks": s["c8"]["checks"],
                        "path_end": s["c8"]["path"][-1]} for x, s in seeds.items()}),
        verdict_c9(c9["draws"]),
        verdict_c10(S=p.collapse_S, eps=c10["eps"], table=c10["table"], limits=c10["limits"]),
        verdict_c11({x: c11_seed_values(s["c11"]) for x, s in seeds.items()}),
        verdict_c12(checks=c12["checks"], pinned=c12["pinned"], after=c12["after"],
                    pre=c12["pre"], aligned=c12["aligned"],
                    collapsed_alphas=c12["collapsed_alphas"], n_fig10=len(res.fig10),
                    n_samples=p.n_samples, window=c12["window"],
                    values={"scan_alpha": p.scan_alphas, "hessian_pc": hpc, "g_pc": gpc,
                            "checks": c12["checks"], "aligned": c12["aligned"],
                            "two_eps": c12["sep_rows"]},
                    per_seed={x: {"checks": s["c12"]["checks"],
                                  "unsampled": s["c12"]["unsampled"], "after": s["c12"]["after"]}
                              for x, s in seeds.items()},
                    d=p.d, seconds_per_alpha=float(np.mean(
                        [r.get("seconds", np.nan) for r in res.scan])))]


def record(res: Results, verdicts: Sequence[Verdict]) -> list[Path]:
    """Write each verdict's claim file (for the scorecard)."""
    return [record_verdict(v, res.params, evidence=EVIDENCE[v.claim],
                           data_source=("analytic probability vectors p(S, eps)"
                                        if v.claim == "C10" else res.ctx.source))
            for v in verdicts]


def _pal(n: int | None = None) -> list:
    import seaborn as sns

    return sns.color_palette("colorblind", n)


def plot_gamma_bounds(res: Results) -> Any:
    """C8: histograms of Gamma_p of random p per K, and Gamma_p along a real collapse path."""
    import matplotlib.pyplot as plt

    survey, pal = res.c8["survey"], _pal()
    fig, axes = plt.subplots(1, len(survey) + 1, figsize=(4.2 * (len(survey) + 1), 3.6))
    for ax, (K, s) in zip(axes, survey.items()):
        for i, (c, vals) in enumerate(s["single"].items()):
            ax.hist(vals, bins=40, range=(1, s["bound"][1]), histtype="step", color=pal[i],
                    label=f"Dirichlet({c:g})", density=True)
        ax.axvline(1, color="k", lw=0.8, ls=":")
        ax.axvline(s["bound"][1], color="k", lw=0.8, ls="--", label=r"$\sqrt{K-1}$ (uniform $p$)")
        ax.set(xlabel=r"$\Gamma_p$", ylabel="density", title=f"K = {K}: random $p$")
        ax.legend(fontsize=7)
    axes[-1].semilogx(res.c8["path_alphas"], res.c8["path"], "o-", color=pal[0])
    axes[-1].axhline(math.sqrt(K_DATA - 1), color="k", ls="--", lw=0.8)
    axes[-1].axhline(1, color="k", ls=":", lw=0.8)
    axes[-1].set(xlabel=r"logit scale $\alpha$", ylabel=r"$\Gamma_p$ of softmax$(\alpha z)$",
                 title="one real logit vector, K = 10")
    fig.suptitle("C8: Gamma_p stays in [1, sqrt(K-1)]. Real logits: LeNet-300-100 at init on "
                 f"{res.ctx.source.split(',')[0]}", fontsize=8)
    fig.tight_layout()
    return saved_figure(fig, "03_gamma_bounds", res.ctx.dirs["figures"])


def plot_figure4_right(res: Results) -> Any:
    """Figure 4 (right): Gamma_p^-2 against the entropy, per logit set and batch-averaged."""
    import matplotlib.pyplot as plt

    p, curves, pal = res.params, res.c9["curves"], _pal()
    zs = res.ctx.z[:p.n_logit_sets].sort(dim=1, descending=True).values
    flat = int(np.argmin(((zs[:, 1] - zs[:, 2]) / (zs[:, 0] - zs[:, 1])).numpy()))
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i in range(p.n_logit_sets):
        ax.plot(curves["entropy"][i], curves["inv_gamma2"][i], color=pal[6], lw=0.7, alpha=0.7,
                label="one logit set (image)" if i == 0 else None)
    ax.plot(curves["entropy"][flat], curves["inv_gamma2"][flat], color=pal[0], lw=2,
            label=f"best-tied 2nd/3rd logits (image {flat})")
    ax.plot(curves["batch_entropy"], curves["batch_inv_gamma2"], color=pal[3], lw=2.5,
            label=r"batch-averaged $M$ (vs mean entropy)")
    for S, text in [(2, "collapsed, p(2, eps): 1"), (3, "p(3, eps) limit (App. C): 5/8"),
                    (4, "p(4, eps) limit / uniform on 3 classes: 1/2")]:
        level = 1 / gamma_p_collapse_limit(S)
        ax.axhline(level, color="k", ls=":", lw=0.7)
        ax.text(0.02, level + 0.01, text, fontsize=7)
    ax.axvline(np.log(K_DATA), color="k", ls="--", lw=0.7)
    lo, hi = p.logit_alpha_range
    ax.set(xlabel=r"entropy $\mathbb{H}(p)$ (nats; $\log 10 = 2.30$ is uniform)",
           ylabel=r"$\Gamma_p^{-2}$",
           title=f"Figure 4 (right): {p.n_logit_sets} logit sets, alpha in [{lo:g}, {hi:g}]")
    ax.legend(fontsize=7, loc="upper right")
    fig.text(0.01, 0.005, f"logits: LeNet-300-100 (Kaiming, seed {p.model_seed}) on "
             f"{res.ctx.source}", fontsize=6)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return saved_figure(fig, "03_fig4_right", res.ctx.dirs["figures"])


def plot_collapse_limit(res: Results) -> Any:
    """C10: Gamma_p^2(p(S, eps)) against eps, with the limits 4(S-1)/(S+2)."""
    import matplotlib.pyplot as plt

    c10 = res.c10
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for S, row, lim, c in zip(c10["S"], c10["table"], c10["limits"], _pal(len(c10["S"]))):
        ax.semilogx(c10["eps"], row, "o-", color=c, ms=3, label=f"S={S}")
        ax.axhline(lim, color=c, ls=":", lw=0.8)
    ax.set(xlabel=r"$\epsilon$", ylabel=r"$\Gamma_p^2\,(p(S,\epsilon))$",
           title=r"C10: $\Gamma_p^2 \to 4(S-1)/(S+2)$ (dotted) as $\epsilon \to 0$, K = 10")
    ax.invert_xaxis()
    ax.legend(fontsize=7, ncol=3)
    fig.text(0.01, 0.005, "analytic probability vectors p(S, eps) (no data)", fontsize=6)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return saved_figure(fig, "03_collapse_limit", res.ctx.dirs["figures"])


def plot_bilevel(res: Results) -> Any:
    """C11: closed form, Eq. 7 matrix and Monte-Carlo spectra of the expected G-term."""
    import matplotlib.pyplot as plt

    d, pal = res.params.d, _pal()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (name, out) in zip(axes, res.c11["bilevel"].items()):
        idx = np.arange(1, d + 1)
        ax.semilogy(idx, out["closed_form"], "o", color=pal[0], ms=8, mfc="none",
                    label="closed form (App. B)")
        ax.semilogy(idx, out["explicit"], "x", color=pal[1], label="Eq. 7 matrix, orthogonal C")
        ax.semilogy(idx, out["monte_carlo"], ".", color=pal[2],
                    label=f"Monte-Carlo, {res.params.n_monte_carlo} draws")
        ax.axhline(out["bulk"], color="k", ls=":", lw=0.8, label=r"bulk $(1-\|p\|^2)\sigma_e^2$")
        ax.set(xlabel="eigenvalue index i", ylabel=r"$\lambda_i(\mathbb{E}_e\mathcal{G})$",
               title=name)
        ax.legend(fontsize=7)
    fig.suptitle(f"C11: bi-level spectrum, d = {d}; sigma_c^2, sigma_e^2 from LeNet-300-100's "
                 f"projected Jacobian on {res.ctx.short_source}", fontsize=8)
    fig.tight_layout()
    return saved_figure(fig, "03_bilevel_spectrum", res.ctx.dirs["figures"])


def plot_figure10_bottom(res: Results) -> Any:
    """Figure 10 (bottom): per-sample entropies and positive curvature across alpha."""
    import matplotlib.pyplot as plt

    p, pal = res.params, _pal()
    ent = np.stack([r["entropies"] for r in res.scan])
    alphas = np.array([r["alpha"] for r in res.scan])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9))
    show = min(p.n_samples, 200)
    tiny = 1e-300
    axes[0].loglog(alphas, np.clip(ent[:, :show], tiny, None), color=pal[7], lw=0.4, alpha=0.5)
    axes[0].loglog(alphas, np.clip(ent.max(1), tiny, None), color=pal[3], lw=2,
                   label="largest (least confident sample)")
    axes[0].loglog(alphas, np.clip(np.median(ent, 1), tiny, None), color=pal[0], lw=2,
                   label="median")
    axes[0].set(xlabel=r"initialisation scale $\alpha$",
                ylabel=r"softmax entropy $\mathbb{H}(p^\mu)$ (nats)",
                title=f"per-sample entropies ({show} of {p.n_samples} shown)", ylim=(1e-30, 5))
    axes[0].legend(fontsize=7)
    axes[1].semilogx(alphas, [r["hessian_pc"] for r in res.scan], "o-", color=pal[0],
                     label="Hessian")
    axes[1].semilogx(alphas, [r["g_pc"] for r in res.scan], "s--", color=pal[1], label="G-term")
    axes[1].axhline(1, color="k", ls=":", lw=0.8)
    axes[1].axhline(0, color="k", lw=0.5)
    axes[1].set(xlabel=r"initialisation scale $\alpha$",
                ylabel=r"positive curvature Tr$/\|\cdot\|_F$",
                title=f"projected on a random d = {p.d} subspace")
    axes[1].legend(fontsize=7)
    fig.suptitle(f"Figure 10 (bottom): pre-collapse regime of LeNet-300-100, T = 1, on "
                 f"{res.ctx.short_source}", fontsize=8)
    fig.tight_layout()
    return saved_figure(fig, "03_fig10_bottom", res.ctx.dirs["figures"])


def plot_figure10_top(res: Results) -> Any:
    """Figure 10 (top): the first layer's top eigenvector (mean over units) and the image."""
    import matplotlib.pyplot as plt

    ds, n_a = res.ctx.ds, len(res.fig10)
    fig, axes = plt.subplots(2, n_a, figsize=(2.1 * n_a, 5.2))
    axes = np.atleast_2d(axes).reshape(2, n_a)
    for j, r in enumerate(res.fig10):
        ax, ax2 = axes[0, j], axes[1, j]
        for a_ in (ax, ax2):
            a_.set_xticks([])
            a_.set_yticks([])
        if r["collapsed"]:
            for a_ in (ax, ax2):
                a_.text(0.5, 0.5, "collapsed\n(one-hot in\nfloat64)", ha="center", va="center",
                        fontsize=8)
            ax.set_title(rf"$\alpha$ = {r['alpha']:g}", fontsize=9)
            continue
        b = r["best"]
        img = r["image"] * np.sign(b["cosine"])     # fix the arbitrary eigenvector sign
        lim = np.abs(img).max()
        ax.imshow(img / lim, cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(rf"$\alpha$ = {r['alpha']:g}" + f"\n(max |v| = {lim:.1e})", fontsize=8)
        ax2.imshow(ds.X[b["index"]].reshape(28, 28).cpu().numpy(), cmap="gray_r")
        ax2.set_title(f"#{int(ds.indices[b['index']])} {ds.classes[int(ds.y[b['index']])]}\n"
                      f"|cos| = {b['abs_cosine']:.3f}", fontsize=7)
    axes[0, 0].set_ylabel("top eigenvector,\nmean over 300 units", fontsize=7)
    axes[1, 0].set_ylabel("best-aligned\ntraining image", fontsize=7)
    fig.suptitle(f"Figure 10 (top): first-layer Hessian top eigenvector, LeNet-300-100, T = 1; "
                 f"{res.ctx.short_source}; each heatmap scaled to its own max |v| (red +, "
                 "blue -)", fontsize=7)
    fig.tight_layout(h_pad=2.0)
    return saved_figure(fig, "03_fig10_top", res.ctx.dirs["figures"])
