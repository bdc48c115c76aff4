"""Chapter 01, the rescaling symmetry (Section 3, Figures 1, 2 and 13): claims C1-C5.

For a network homogeneous of degree :math:`L`, Eq. 5 gives

.. math:: H' = \\frac{\\alpha^{2L-2}}{T^2}\\,\\mathcal{G}(p') + \\frac{\\alpha^{L-2}}{T}\\,
          \\mathcal{H}(p'), \\qquad p' = \\sigma(\\alpha^L z / T),

so positive curvature depends on :math:`(\\alpha, T)` only through :math:`r = \\alpha^L/T`
(C1), scaled gradient descent follows the same trajectory (C2), the two terms scale as
stated (C3), the zone at :math:`T = 1` is where :math:`\\lVert\\mathcal{G}\\rVert_2 \\gtrsim
\\lVert\\mathcal{H}\\rVert_2` (C4, Eq. 6) and Hutchinson's full-space estimate sees the same
zone as the projection (C5, App. F). Beyond the paper (B1): the zone's upper edge grows
with the number of images :math:`N` the Hessian averages over, roughly as :math:`N^{1/L}`
(:func:`zone_vs_n`, exact at large :math:`N` through
:func:`goldilocks_nb.curvature.collapsed_split`); :func:`zone_interval` gives a model's zone
at the :math:`N` a claim is about.

The notebook follows the chapter contract: :func:`run` (:func:`load`, :func:`alpha_sweeps`,
:func:`figure1_data`, :func:`eq5_points`, :func:`measure_c4`, :func:`trajectories`,
:func:`hutchinson_points`, :func:`zone_vs_n` and the other ``measure_*``) gives a
:class:`Results`, whose ``*_lines`` methods are the printed numbers; :func:`judge` gives the
verdicts (:func:`verdict_c1` ... :func:`verdict_c5`, :func:`verdict_b1`), :func:`record`
writes them, and the ``plot_*`` functions draw and save each figure. Every long
computation goes through :func:`goldilocks_nb.results.cached` (a killed run resumes).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ..contract import (
    ChapterParams,
    Verdict,
    inconclusive,
    paper_quote,
    params_dataclass,
    seed_agreement,
)
from ..curvature import (
    COLLAPSE_TOL,
    curvature_sweep,
    hutchinson_estimates,
    random_subspace,
)
from ..data import DATASETS, Dataset, load_dataset
from ..functional import get_params, logits
from ..models import MODEL_NAMES, build_model, check_subspace_dimension, num_parameters
from ..notebook import log_grid, output_dirs, progress_bar, resolve_device, resolve_dtype, setup
from ..rescaling import (
    curvature_at,
    curvature_map,
    dominance_range,
    eq5_check,
    goldilocks_zone_bounds,
    zone_interval,
)
from ..results import cached
from ..statistics import log_distance, loglog_slope, summarize
from ..training import trajectory_equivalence

__all__ = [
    "EVIDENCE",
    "TERMS",
    "Context",
    "Params",
    "Results",
    "SavedFigure",
    "draw_figure1",
    "draw_figure2",
    "draw_figure13",
    "draw_trajectories",
    "draw_zone_vs_n",
    "judge",
    "record",
    "run",
    "sweep_group_size",
    "alpha_sweeps",
    "eq5_points",
    "figure1_data",
    "format_bounds",
    "format_intervals",
    "hutchinson_points",
    "load",
    "measure_c1",
    "measure_c2",
    "measure_c3",
    "measure_c4",
    "measure_c5",
    "plot_figure1",
    "plot_figure2",
    "plot_figure13",
    "plot_trajectories",
    "trajectories",
    "verdict_c1",
    "verdict_c2",
    "verdict_c3",
    "verdict_c4",
    "verdict_c5",
    "verdict_b1",
    "zone_vs_n",
    "zone_arguments",
    "zone_dataset",
    "measure_b1",
    "plot_zone_vs_n",
    "zone_interval",
]

#: The two homogeneous models of the chapter (the MLP of the package is not one of them).
CHAPTER_MODELS = tuple(m for m in MODEL_NAMES if m != "mlp")
#: The three matrices of Eq. 4: the Hessian and its two Gauss-Newton terms.
TERMS = ("hessian", "g_term", "h_term")
#: C2: a relative parameter deviation below this is "the same trajectory" (float64).
TRAJECTORY_TOL = 1e-10
#: The figure or printed number that tests each claim (for the scorecard).
EVIDENCE = {"C1": "Figure 1 (01_fig1_goldilocks_alpha_T) and direct checks",
            "C2": "01_trajectory_equivalence", "C3": "Eq. 5 check (printed)",
            "C4": "Figure 2 (01_fig2_gauss_newton_terms)",
            "C5": "Figure 13 (01_fig13_hutchinson_vs_projection)",
            "B1": "zone edges against N (01_zone_vs_n)"}
#: The paper's sample sizes: the full training splits the authors' Hessians average over.
PAPER_N = {"lenet-300-100": 60_000, "lenet-5": 50_000}
#: C4: the G-term "collapses" when its norm at the largest alpha is below this x its max.
COLLAPSE_RATIO = 1e-6
#: Memory for the ratios that share one forward tangent pass of a sweep (bytes; each ratio
#: holds about ``d * P`` floats, see :func:`~goldilocks_nb.curvature.rescaled_split`).
GROUP_BYTES = 512 * 2**20


def sweep_group_size(P: int, d: int, n_ratios: int, itemsize: int = 8) -> int:
    """How many distinct ratios ``alpha^L / T`` share one forward tangent pass of
    :func:`~goldilocks_nb.curvature.curvature_sweep` (``group_size``): all of them when
    ``n_ratios * d * P`` floats fit in :data:`GROUP_BYTES`, else as many as fit (at least
    one). Only speed depends on it: the grouped pass gives the same numbers."""
    return max(1, min(int(n_ratios), GROUP_BYTES // max(1, int(d) * int(P) * int(itemsize))))


def _list(*values: Any) -> Callable[[], list]:
    return lambda: list(values)


@params_dataclass
class Params(ChapterParams):
    """Parameters of chapter 01 (defaults: the smoke profile).

    Attributes:
        dtype: ``"float64"`` (the identities hold to rounding) or ``"float32"``.
        models: the homogeneous models, each paired with ``datasets`` in order.
        datasets: one dataset per model.
        n_samples: class-balanced training images per model.
        data_seed: seed of the data subset; init_seed: of the Kaiming initialisation.
        d: subspace dimension of the sweeps (paper: 50).
        seeds: subspace seeds; the bands are min/max over them (paper: 3).
        alpha_grid: per model, a log grid ``[start, stop, num]`` straddling 1.
        ratio_grid: log grid of ``r = alpha^L / T`` straddling 1 (Figure 1).
        num_temperatures: rows of the ``(alpha, T)`` heatmap.
        check_alphas: C1 direct points ``(alpha, alpha^L)``; C3 points with
            ``check_temperatures``.
        check_temperatures: C3 temperatures.
        check_d: subspace dimension of the direct C1/C3 checks.
        zone_fraction: the zone is where positive curvature >= this x its peak.
        uniform_logit_tol: the small-alpha fit uses alphas with ``alpha^L max|z| <=`` this.
        tolerance_decades: zone boundaries "agree" within this many decades of alpha.
        slope_tolerance: fitted log-log slopes within this of ``2L-2`` and ``L-2``.
        hutchinson_probes: Rademacher probes per point (App. F); hutchinson_seed: their seed.
        zone_n: per model, increasing nested sample sizes ``N`` of the zone-against-N
            section (prefixes of one class-balanced ordering of the training split; the
            last may be the whole split, the paper's ``N``).
        zone_n_low: per model, one of ``zone_n``: alphas below ``zone_full_from`` (every
            image live, a full pass each) are evaluated on prefixes up to it only.
        zone_full_from: per model, alphas ``>=`` this are evaluated at every ``N`` (one
            shared pass plus the images not collapsed).
        zone_d: subspace dimension per seed there; zone_seeds: its subspace seeds (>= 3
            decide B1), stacked in one pass.
        zone_alpha_grid: per model, the log grid ``[start, stop, num]`` of that section.
        zone_slope_factor: B1 holds "roughly" when the fitted slope of the upper edge
            against N lies within this factor of ``1/L``.
        hutchinson_vs_temperature: also estimate along ``T`` at ``alpha = 1``.
        equivalence_alphas: C2 scales; gd_steps, gd_lr: gradient descent of C2.
        torch_threads: CPU threads for torch (0: torch's default).
    """

    notebook = "01_rescaling_symmetry"
    dtype: Literal["float64", "float32"] = "float64"
    models: list[str] = field(default_factory=_list("lenet-300-100", "lenet-5"))
    datasets: list[str] = field(default_factory=_list("fashion-mnist-embedded",
                                                      "cifar10-embedded"))
    n_samples: dict[str, int] = field(default_factory=lambda: {"lenet-300-100": 64,
                                                               "lenet-5": 16})
    data_seed: int = 0
    init_seed: int = 0
    d: int = 10
    seeds: list[int] = field(default_factory=_list(0, 1))
    alpha_grid: dict[str, list[float]] = field(default_factory=lambda: {
        "lenet-300-100": [0.01, 100.0, 9], "lenet-5": [0.05, 20.0, 9]})
    ratio_grid: list[float] = field(default_factory=_list(1e-4, 1e4, 9))
    num_temperatures: int = 9
    check_alphas: list[float] = field(default_factory=_list(0.1, 0.5, 2.0, 10.0))
    check_temperatures: list[float] = field(default_factory=_list(0.1, 1.0, 10.0))
    check_d: int = 6
    zone_fraction: float = 0.5
    uniform_logit_tol: float = 0.05
    tolerance_decades: float = 0.5
    slope_tolerance: float = 0.3
    hutchinson_probes: int = 4
    hutchinson_seed: int = 0
    hutchinson_vs_temperature: bool = False
    equivalence_alphas: list[float] = field(default_factory=_list(0.1, 0.5, 2.0, 10.0))
    gd_steps: int = 10
    gd_lr: float = 0.05
    torch_threads: int = 1
    zone_n: dict[str, list[int]] = field(default_factory=lambda: {
        "lenet-300-100": [20, 60, 200], "lenet-5": [10, 30, 100]})
    zone_n_low: dict[str, int] = field(default_factory=lambda: {
        "lenet-300-100": 60, "lenet-5": 30})
    zone_full_from: dict[str, float] = field(default_factory=lambda: {
        "lenet-300-100": 5.0, "lenet-5": 3.0})
    zone_d: int = 3
    zone_seeds: list[int] = field(default_factory=_list(0, 1, 2))
    zone_alpha_grid: dict[str, list[float]] = field(default_factory=lambda: {
        "lenet-300-100": [0.1, 100.0, 9], "lenet-5": [0.1, 30.0, 9]})
    zone_slope_factor: float = 2.0

    def check(self) -> None:
        self.require(len(self.models) > 0 and len(self.models) == len(self.datasets), "datasets",
                     self.datasets, f"one dataset per model of {self.models}")
        self.require_in("models", self.models, CHAPTER_MODELS)
        self.require_in("datasets", self.datasets, DATASETS)
        for name in self.models:
            self.require(name in self.n_samples, "n_samples", self.n_samples,
                         f"a mapping with an entry for model {name!r}")
            self.require(name in self.alpha_grid, "alpha_grid", self.alpha_grid,
                         f"a mapping with an entry for model {name!r}")
            self.require_at_least(f"n_samples[{name!r}]", self.n_samples[name], 2)
            self.require_log_grid(f"alpha_grid[{name!r}]", self.alpha_grid[name], min_num=5,
                                  straddle_one=True)
        self.require_log_grid("ratio_grid", self.ratio_grid, min_num=3, straddle_one=True)
        for name in self.models:
            self.require(name in self.zone_n, "zone_n", self.zone_n,
                         f"a mapping with an entry for model {name!r}")
            ns = self.zone_n[name]
            self.require(len(ns) >= 2 and all(b > a for a, b in zip(ns, ns[1:])) and ns[0] >= 2,
                         "zone_n", self.zone_n, "per model, >= 2 increasing sizes >= 2")
            self.require(name in self.zone_alpha_grid, "zone_alpha_grid", self.zone_alpha_grid,
                         f"a mapping with an entry for model {name!r}")
            self.require_log_grid(f"zone_alpha_grid[{name!r}]", self.zone_alpha_grid[name],
                                  min_num=5, straddle_one=True)
            self.require(name in self.zone_n_low and self.zone_n_low[name] in ns, "zone_n_low",
                         self.zone_n_low, f"per model, one of zone_n[{name!r}] = {ns}")
            lo, hi = self.zone_alpha_grid[name][:2]
            self.require(name in self.zone_full_from
                         and lo < self.zone_full_from[name] <= hi, "zone_full_from",
                         self.zone_full_from, f"per model, in ({lo:g}, {hi:g}] "
                                              "(zone_alpha_grid)")
        self.require_at_least("zone_d", self.zone_d, 1)
        self.require(len(self.zone_seeds) > 0 and len(set(self.zone_seeds)) == len(
            self.zone_seeds), "zone_seeds", self.zone_seeds, "distinct subspace seeds")
        self.require_at_least("zone_seeds", self.zone_seeds, 0)
        self.require(math.isfinite(self.zone_slope_factor) and self.zone_slope_factor > 1,
                     "zone_slope_factor", self.zone_slope_factor, "finite and > 1")
        self.require_at_least("num_temperatures", self.num_temperatures, 2)
        for name in ("check_alphas", "check_temperatures", "equivalence_alphas"):
            value = getattr(self, name)
            self.require(len(value) > 0, name, value, "a non-empty list")
            self.require_positive(name, value)
        self.require(len(self.seeds) > 0, "seeds", self.seeds, "at least one subspace seed")
        for name in ("seeds", "data_seed", "init_seed", "hutchinson_seed", "torch_threads"):
            self.require_at_least(name, getattr(self, name), 0)
        for name in ("d", "check_d", "gd_steps"):
            self.require_at_least(name, getattr(self, name), 1)
        self.require_at_least("hutchinson_probes", self.hutchinson_probes, 2)
        self.require(0 < self.zone_fraction < 1, "zone_fraction", self.zone_fraction,
                     "in (0, 1)")
        for name in ("uniform_logit_tol", "tolerance_decades", "slope_tolerance", "gd_lr"):
            self.require_positive(name, getattr(self, name))

    @property
    def rounding_tol(self) -> float:
        """"Equal up to rounding" in ``dtype``: 1e-8 in float64, 1e-3 in float32."""
        return 1e-8 if self.dtype == "float64" else 1e-3


@dataclass
class Context:
    """What every computation of the chapter needs: parameters, data, models, grids.

    Attributes:
        params: the validated parameters.
        device, dtype: where and in which precision everything runs.
        data, nets, theta0: per model, the training subset, the network and ``theta_0``.
        alphas: per model, the grid of ``alpha`` (T = 1 sweeps).
        ratios: the grid of ``r = alpha^L / T``.
        dirs: ``results_dir`` and its ``figures``, ``cache``, ``claims`` folders.
    """

    params: Params
    device: torch.device
    dtype: torch.dtype
    data: dict[str, Dataset]
    nets: dict[str, torch.nn.Module]
    theta0: dict[str, dict[str, torch.Tensor]]
    alphas: dict[str, np.ndarray]
    ratios: np.ndarray
    dirs: dict[str, Path]

    @property
    def models(self) -> list[str]:
        return list(self.params.models)

    @property
    def sources(self) -> str:
        """The data's ``source`` strings, for the claim records."""
        return "; ".join(self.data[m].source for m in self.models)

    @property
    def short_sources(self) -> str:
        """A short data description for figure titles."""
        return "; ".join(f"{self.data[m].source.split(',')[0].split(':')[0]}, "
                         f"n = {len(self.data[m])}" for m in self.models)

    def degree(self, name: str) -> int:
        return int(self.nets[name].degree)

    def key(self, name: str, **extra: Any) -> dict[str, Any]:
        """Cache key: everything that determines a result for model ``name``."""
        p = self.params
        return dict(model=name, dataset=self.data[name].source, n=p.n_samples[name],
                    init_seed=p.init_seed, data_seed=p.data_seed, dtype=p.dtype, **extra)

    def cached(self, name: str, key: Mapping[str, Any], compute: Callable[[], Any]) -> Any:
        return cached(name, key, compute, cache_dir=self.dirs["cache"])


def load(params: Params) -> Context:
    """Load the data, build the models; check ``d <= P`` (threads and seeds: the notebook's
    :func:`goldilocks_nb.notebook.setup`).

    Raises:
        ParameterError: ``d`` or ``check_d`` exceeds a model's parameter count.
    """
    dev = resolve_device(params.device)
    dtype = resolve_dtype(params.dtype)
    data, nets, theta0, alphas = {}, {}, {}, {}
    for name, ds_name in zip(params.models, params.datasets):
        ds = load_dataset(ds_name, n=params.n_samples[name], seed=params.data_seed, dtype=dtype,
                          device=dev)
        net = build_model(name, seed=params.init_seed, input_shape=ds.input_shape, dtype=dtype,
                          device=dev)
        for label in ("d", "check_d", "zone_d"):
            check_subspace_dimension(label, getattr(params, label), num_parameters(net), name)
        data[name], nets[name], theta0[name] = ds, net, get_params(net)
        start, stop, num = params.alpha_grid[name]
        alphas[name] = np.array(log_grid(start, stop, int(num)))
    start, stop, num = params.ratio_grid
    ratios = np.array(log_grid(start, stop, int(num)))
    dirs = output_dirs(params.results_dir)
    setup(params.init_seed)
    return Context(params, dev, dtype, data, nets, theta0, alphas, ratios, dirs)


# ---- the sweep at T = 1 (Figures 1 left, 2, 13)
def alpha_sweeps(ctx: Context, *, progress: bool = False) -> dict[str, list[dict]]:
    """Per model, :func:`~goldilocks_nb.curvature.curvature_sweep` records over the alpha
    grid at ``T = 1``, for every subspace seed (cached per model and seed)."""
    p, sweep = ctx.params, {}
    for name in ctx.models:
        net, th, ds = ctx.nets[name], ctx.theta0[name], ctx.data[name]
        sweep[name] = []
        for seed in progress_bar(p.seeds, f"{name}: alpha sweep, T = 1", progress):
            sweep[name] += ctx.cached(
                f"01-sweep-{name}-seed{seed}",
                ctx.key(name, d=p.d, seed=seed, alphas=ctx.alphas[name]),
                lambda net=net, th=th, ds=ds, seed=seed, name=name: curvature_sweep(
                    net, th, ds.X, ds.y, alphas=ctx.alphas[name], temperatures=[1.0], d=p.d,
                    seeds=[seed], group_size=sweep_group_size(
                        num_parameters(net), p.d, len(ctx.alphas[name]),
                        ctx.dtype.itemsize)))
    return sweep


def hessian_curve(records: Sequence[Mapping]) -> dict[str, np.ndarray]:
    """The Hessian's positive curvature over alpha (mean/min/max over subspace seeds)."""
    return summarize(records, "hessian_positive_curvature", by="alpha")


# ---- Figure 1 and C1
def figure1_data(ctx: Context) -> dict[str, dict[str, Any]]:
    """Per model: the ratio sweep at ``alpha = 1`` (``T = 1/r``), its ``(alpha, T)`` map, and
    the direct checks (Figure 1, claim C1).

    Returns:
        ``{model: {"ratio_sweep" (record k is r = ratios[k]), "map" (see
        :func:`~goldilocks_nb.rescaling.curvature_map`), "direct_line" ((reference at (1, 1),
        [curvature at (alpha, alpha^L) for check_alphas])), "direct_map" (list of
        {alpha, temperature, k, direct} at three off-line points)}}``.
    """
    p, ratios, out = ctx.params, ctx.ratios, {}
    for name in ctx.models:
        net, th, ds, L = ctx.nets[name], ctx.theta0[name], ctx.data[name], ctx.degree(name)
        P, a = num_parameters(net), ctx.alphas[name]
        ratio_sweep = ctx.cached(
            f"01-ratio-{name}", ctx.key(name, d=p.d, seed=p.seeds[0], ratios=ratios),
            lambda net=net, th=th, ds=ds, P=P: curvature_sweep(
                net, th, ds.X, ds.y, alphas=[1.0], temperatures=1.0 / ratios, d=p.d,
                seeds=[p.seeds[0]],
                group_size=sweep_group_size(P, p.d, len(ratios), ctx.dtype.itemsize)))
        temps = np.logspace(L * np.log10(a[0]), L * np.log10(a[-1]), p.num_temperatures)
        fig_map = curvature_map(ratio_sweep, a, temps, degree=L, outside="nan")

        def line_check(net=net, th=th, ds=ds, P=P, L=L):
            R = random_subspace(P, p.check_d, seed=p.seeds[0], device=ctx.device)
            ref = curvature_at(net, th, ds.X, ds.y, R, 1.0, 1.0)
            return ref, [curvature_at(net, th, ds.X, ds.y, R, al, al**L) for al in p.check_alphas]

        def map_check(net=net, th=th, ds=ds, P=P, L=L, a=a):
            R = random_subspace(P, p.d, seed=p.seeds[0], device=ctx.device)
            n = len(ratios)
            picks = [(n // 4, a[1]), (n // 2, a[-2]), ((3 * n) // 4, a[2])]
            return [dict(alpha=float(al), temperature=float(al**L / ratios[k]), k=k,
                         direct=curvature_at(net, th, ds.X, ds.y, R, al, al**L / ratios[k]))
                    for k, al in picks]

        out[name] = dict(
            ratio_sweep=ratio_sweep, map=fig_map,
            direct_line=ctx.cached(f"01-c1-line-{name}",
                                   ctx.key(name, d=p.check_d, seed=p.seeds[0],
                                           alphas=p.check_alphas), line_check),
            direct_map=ctx.cached(f"01-c1-map-{name}",
                                  ctx.key(name, d=p.d, seed=p.seeds[0], ratios=ratios, alphas=a),
                                  map_check))
    return out


def measure_c1(sweep: Mapping[str, Sequence[Mapping]], fig1: Mapping[str, Mapping],
               zone_fraction: float) -> dict[str, dict[str, Any]]:
    """C1's numbers per model: the curvature at ``(1, 1)`` (``reference``), the largest
    relative deviation of the direct curvature at ``(alpha, alpha^L)`` from it
    (``line_deviation``) and of the map from direct values off the line
    (``map_deviation``), whether the zone along ``T`` at ``alpha = 1`` and along ``alpha``
    at ``T = 1`` is closed (``zone_T_closed``, ``zone_alpha_closed``), and ``zone_T``
    (:class:`~goldilocks_nb.rescaling.ZoneBounds` along ``T``)."""
    out = {}
    for name, f in fig1.items():
        ref, on_line = f["direct_line"]
        line_dev = max(abs(v - ref) / abs(ref) for v in on_line)
        map_dev = max(abs(pt["direct"] - f["ratio_sweep"][pt["k"]]["hessian_positive_curvature"])
                      / abs(f["ratio_sweep"][pt["k"]]["hessian_positive_curvature"])
                      for pt in f["direct_map"])
        zone_T = goldilocks_zone_bounds(1.0 / f["map"]["ratios"][::-1], f["map"]["curve"][::-1],
                                        zone_fraction)
        s = hessian_curve(sweep[name])
        zone_a = goldilocks_zone_bounds(s["x"], s["mean"], zone_fraction)
        out[name] = dict(reference=ref, line_deviation=line_dev, map_deviation=map_dev,
                         zone_T_closed=zone_T.closed, zone_alpha_closed=zone_a.closed,
                         zone_T=zone_T)
    return out


# ---- C3: Eq. 5 term by term
def eq5_points(ctx: Context) -> dict[str, list[dict]]:
    """Per model, :func:`~goldilocks_nb.rescaling.eq5_check` at every point of
    ``check_alphas x check_temperatures`` (subspace of dimension ``check_d``)."""
    p, out = ctx.params, {}
    for name in ctx.models:
        net, th, ds = ctx.nets[name], ctx.theta0[name], ctx.data[name]
        points = [(float(a), float(t)) for a in p.check_alphas for t in p.check_temperatures]
        out[name] = ctx.cached(
            f"01-c3-{name}", ctx.key(name, d=p.check_d, seed=p.seeds[0], points=points),
            lambda net=net, th=th, ds=ds, points=points: eq5_check(
                net, th, ds.X, ds.y,
                random_subspace(num_parameters(net), p.check_d, seed=p.seeds[0],
                                device=ctx.device),
                points, group_size=sweep_group_size(num_parameters(net), p.check_d,
                                                    len(points), ctx.dtype.itemsize)))
    return out


def _worst_error(errors: Iterable[float]) -> float:
    """The largest error, ``nan`` (undefined, :func:`~goldilocks_nb.rescaling.term_relative_error`)
    if any is undefined (``max`` alone would depend on where the ``nan`` stands)."""
    arr = np.asarray(list(errors), dtype=float)
    return float("nan") if np.isnan(arr).any() else float(arr.max())


def measure_c3(eq5: Mapping[str, Sequence[Mapping]]) -> dict[str, dict[str, Any]]:
    """C3's numbers per model: the largest relative errors of G' and H' against Eq. 5
    (``nan`` where some point's relative error is undefined: the direct term exactly zero,
    the prediction not)."""
    return {name: dict(g_rel_error=_worst_error(r["g_rel_error"] for r in rows),
                       h_rel_error=_worst_error(r["h_rel_error"] for r in rows), points=len(rows))
            for name, rows in eq5.items()}


# ---- Figure 2 and C4
def measure_c4(ctx: Context, sweep: Mapping[str, Sequence[Mapping]]) -> dict[str, dict[str, Any]]:
    """C4's numbers per model (Figure 2, Eq. 6).

    The zone is where the Hessian's positive curvature is at least ``zone_fraction`` of its
    peak; the dominance ranges where the mean spectral norm of G' is at least that of H';
    the power laws are fitted on the alphas with ``alpha^L max|z| <= uniform_logit_tol``.

    Returns:
        ``{model: {"zone", "peak", "peak_at", "dominance" (the interval nearest the peak),
        "gap_decades", "slope_g", "slope_h", "fit_points", "g_collapse_ratio", "checks"
        (zone_closed, dominance_matches_zone, slopes_match, g_collapses,
        g_curvature_largest_at_small_alpha), and for the figure "zone_bounds",
        "dominance_all", "small", "curv", "norm"}}``.
    """
    p, out = ctx.params, {}
    for name in ctx.models:
        L = ctx.degree(name)
        curv = {t: summarize(sweep[name], f"{t}_positive_curvature", by="alpha") for t in TERMS}
        norm = {t: summarize(sweep[name], f"{t}_spectral_norm", by="alpha") for t in TERMS}
        a = curv["hessian"]["x"]
        zone = goldilocks_zone_bounds(a, curv["hessian"]["mean"], p.zone_fraction)
        dom = dominance_range(a, norm["g_term"]["mean"], norm["h_term"]["mean"])
        zmax = float(logits(ctx.nets[name], ctx.theta0[name], ctx.data[name].X).abs().max())
        small = a**L * zmax <= p.uniform_logit_tol
        # the dominance interval that holds the zone's peak (or the closest one)
        near = min(dom, key=lambda iv: 0 if iv[0] <= zone.peak_at <= iv[1]
                   else min(log_distance(zone.peak_at, iv[0]), log_distance(zone.peak_at, iv[1])),
                   default=None)
        gap = (max(log_distance(zone.lower, near[0]), log_distance(zone.upper, near[1]))
               if near is not None else float("inf"))
        slopes = ((loglog_slope(a, norm["g_term"]["mean"], small),
                   loglog_slope(a, norm["h_term"]["mean"], small))
                  if small.sum() >= 3 else (float("nan"), float("nan")))
        g_collapse = norm["g_term"]["mean"][-1] / np.nanmax(norm["g_term"]["mean"])
        g_curv = curv["g_term"]["mean"]
        g_curv_small = bool(g_curv[0] >= 0.9 * np.nanmax(g_curv))
        checks = dict(zone_closed=zone.closed, dominance_matches_zone=gap <= p.tolerance_decades,
                      slopes_match=bool(abs(slopes[0] - (2 * L - 2)) <= p.slope_tolerance
                                        and abs(slopes[1] - (L - 2)) <= p.slope_tolerance),
                      g_collapses=bool(g_collapse < COLLAPSE_RATIO),
                      g_curvature_largest_at_small_alpha=g_curv_small)
        out[name] = dict(zone=(zone.lower, zone.upper), peak=zone.peak, peak_at=zone.peak_at,
                         dominance=near, gap_decades=gap, slope_g=slopes[0], slope_h=slopes[1],
                         fit_points=int(small.sum()), g_collapse_ratio=float(g_collapse),
                         checks=checks, zone_bounds=zone, dominance_all=dom, small=small,
                         curv=curv, norm=norm)
    return out


# ---- C2: trajectory equivalence
def trajectories(ctx: Context, *, progress: bool = False) -> dict[str, list[dict]]:
    """Per model and ``equivalence_alphas`` value, one
    :func:`~goldilocks_nb.training.trajectory_equivalence` run (Section 3, C2)."""
    p, out = ctx.params, {}
    for name in ctx.models:
        net, th, ds = ctx.nets[name], ctx.theta0[name], ctx.data[name]
        out[name] = [
            ctx.cached(f"01-c2-{name}-alpha{al:g}",
                       ctx.key(name, alpha=float(al), lr=p.gd_lr, steps=p.gd_steps),
                       lambda al=al, net=net, th=th, ds=ds: trajectory_equivalence(
                           net, th, ds.X, ds.y, alpha=float(al), lr=p.gd_lr, steps=p.gd_steps))
            for al in progress_bar(p.equivalence_alphas, f"{name}: gradient descent pairs",
                                   progress)]
    return out


def measure_c2(equiv: Mapping[str, Sequence[Mapping]]) -> dict[str, dict[str, Any]]:
    """C2's numbers per model: the largest relative parameter deviation and loss
    difference over all runs, and whether every run's loss decreased."""
    return {name: dict(max_deviation=max(r["max_deviation"] for r in runs),
                       max_loss_difference=max(r["max_loss_difference"] for r in runs),
                       loss_decreased=all(r["loss"][-1] < r["loss"][0] for r in runs))
            for name, runs in equiv.items()}


# ---- Figure 13 and C5: Hutchinson
def hutchinson_points(ctx: Context, *, progress: bool = False) -> dict[str, list[dict]]:
    """Per model, Hutchinson estimates over all ``P`` parameters (App. F) at every alpha of
    the grid (``T = 1``) and, with ``hutchinson_vs_temperature``, along ``T = 1/r`` at
    ``alpha = 1``. Each dict: ``alpha``, ``temperature`` and the estimates."""
    p, out = ctx.params, {}
    for name in ctx.models:
        net, th, ds = ctx.nets[name], ctx.theta0[name], ctx.data[name]
        pts = [(float(al), 1.0) for al in ctx.alphas[name]]
        if p.hutchinson_vs_temperature:
            pts += [(1.0, float(1.0 / r)) for r in ctx.ratios]
        out[name] = [dict(alpha=al, temperature=T, **ctx.cached(
            f"01-c5-{name}-a{al:.6g}-T{T:.6g}",
            ctx.key(name, alpha=al, temperature=T, probes=p.hutchinson_probes,
                    seed=p.hutchinson_seed),
            lambda al=al, T=T, net=net, th=th, ds=ds: hutchinson_estimates(
                net, {k: al * v for k, v in th.items()}, ds.X, ds.y,
                n_probes=p.hutchinson_probes, seed=p.hutchinson_seed, temperature=T)))
            for al, T in progress_bar(pts, f"{name}: Hutchinson ({p.hutchinson_probes} probes)",
                                   progress)]
    return out


def hutchinson_curve(points: Sequence[Mapping], *, at: str = "alpha") -> dict[str, np.ndarray]:
    """The Hutchinson estimates along alpha (``T = 1``) or along T (``alpha = 1``), sorted:
    ``{"x", "value", "se"}``."""
    if at == "alpha":
        rows = [h for h in points if h["temperature"] == 1.0]
    else:
        rows = [h for h in points if h["alpha"] == 1.0 and h["temperature"] != 1.0]
    rows = sorted(rows, key=lambda h: h[at])
    return {"x": np.array([h[at] for h in rows]),
            "value": np.array([h["positive_curvature"] for h in rows]),
            "se": np.array([h["positive_curvature_se"] for h in rows])}


def measure_c5(sweep: Mapping[str, Sequence[Mapping]], hutch: Mapping[str, Sequence[Mapping]],
               zone_fraction: float, tolerance_decades: float) -> dict[str, dict[str, Any]]:
    """C5's numbers per model: the zone read off the projection and off Hutchinson's
    estimate (same fraction of each curve's own peak) and the boundary gaps in decades.

    Returns:
        ``{model: {"projected", "hutchinson" ((lower, upper) each), "gaps_decades",
        "agree" (largest gap <= tolerance_decades), "zones" (the two ZoneBounds)}}``.
    """
    out = {}
    for name in sweep:
        s = hessian_curve(sweep[name])
        h = hutchinson_curve(hutch[name])
        pz = goldilocks_zone_bounds(s["x"], s["mean"], zone_fraction)
        hz = goldilocks_zone_bounds(h["x"], h["value"], zone_fraction)
        gaps = (log_distance(pz.lower, hz.lower), log_distance(pz.upper, hz.upper))
        out[name] = dict(projected=(pz.lower, pz.upper), hutchinson=(hz.lower, hz.upper),
                         gaps_decades=gaps, agree=bool(max(gaps) <= tolerance_decades),
                         zones=(pz, hz))
    return out


# ---- the zone against N (B1): the upper edge is a property of model and data size
def zone_vs_n(ctx: Context, *, progress: bool = False) -> dict[str, dict[str, Any]]:
    """Per model, :func:`goldilocks_nb.zone_n.zone_against_n` (the one cached full-N zone
    computation, shared with chapter 04): the G-term, H-term and Hessian over
    ``zone_alpha_grid`` at every nested sample size ``zone_n`` (prefixes of one
    class-balanced ordering of the whole training split, up to all of it), the subspaces of
    all ``zone_seeds`` stacked in one pass; alphas below ``zone_full_from`` on the prefixes
    up to ``zone_n_low`` only.

    Returns:
        ``{model: zone_against_n's result}`` (``per_seed``, ``min_gap``, ``seconds``, ...).
    """
    from ..zone_n import zone_against_n

    p, out = ctx.params, {}
    bars: dict[str, Any] = {}

    def tick(name: str, done: int, total: int) -> None:
        if not progress:
            return
        if name not in bars:
            from tqdm.auto import tqdm

            bars[name] = tqdm(total=total, desc=f"{name}: zone vs N (all images, "
                                                f"{len(p.zone_seeds)} subspaces stacked)")
        bars[name].n = done
        bars[name].refresh()

    for name in ctx.models:
        out[name] = zone_against_n(name, zone_dataset(p, name), **zone_arguments(p, name),
                                   cache_dir=ctx.dirs["cache"], device=ctx.device,
                                   progress=tick)
        if name in bars:
            bars[name].close()
    return out


def zone_dataset(p: Params, name: str) -> str:
    """The training split the zone of ``name`` is measured on (the chapter's dataset)."""
    return p.datasets[list(p.models).index(name)]


def zone_arguments(p: Params, name: str) -> dict[str, Any]:
    """The arguments of :func:`goldilocks_nb.zone_n.zone_against_n` for model ``name``
    (chapter 04 builds the same from equal profile values, so the cache key is shared)."""
    return dict(n=[int(v) for v in p.zone_n[name]],
                alphas=log_grid(*p.zone_alpha_grid[name][:2], int(p.zone_alpha_grid[name][2])),
                full_from=float(p.zone_full_from[name]), n_low=int(p.zone_n_low[name]),
                d=int(p.zone_d), seeds=[int(s) for s in p.zone_seeds], init_seed=p.init_seed,
                data_seed=p.data_seed, dtype="float64")


def _slope(ns: Sequence[int], edges: Sequence[float | None]) -> float:
    pts = [(n, e) for n, e in zip(ns, edges) if e is not None]
    if len(pts) < 2:
        return float("nan")
    return loglog_slope([n for n, _ in pts], [e for _, e in pts])


def _rel_change(a: float | None, b: float | None) -> float:
    if a is None or b is None:
        return float("nan")
    return abs(b - a) / abs(a)


def measure_b1(zone: Mapping[str, Mapping[str, Any]], degrees: Mapping[str, int],
               zone_fraction: float) -> dict[str, dict[str, Any]]:
    """B1's numbers per model: the zone's edges at every ``N`` per subspace seed and on the
    mean curve (:func:`goldilocks_nb.zone_n.edges_table`), the fitted slope of
    ``log(upper edge)`` against ``log N`` per seed (G-term dominance edge, Eq. 6), the
    smallest top-2 logit gap per ``N``, the lower edge's change over the nested ``N <=
    n_low`` (its convergence), and the measured cost.

    Returns:
        ``{model: {"n", "table" (mean-curve rows {n, lower, upper, dom_lower, dom_upper,
        min_gap, gap_alpha, mixed, curve}), "per_seed" ({seed: {"dom_upper", "dom_lower",
        "upper" (per n), "slope"}}), "slope" (mean-curve), "slope_curvature",
        "predicted_slope" (1/L), "open_upper", "no_dominance", "decades", "n_low",
        "full_from", "full_n", "lower_change" (relative change of the G-dominance lower
        edge between the last two N <= n_low, ``lower_between``), "seconds", "cpu_seconds",
        "seconds_per_image_direction" (CPU seconds where recorded),
        "g_bound_max", "full_n_seconds" ({"n", "d", "seeds", "seconds"}: the full split at
        d = 50, 3 subspaces, at this run's rate)}}``.
    """
    from ..zone_n import edges_table

    out = {}
    for name, z in zone.items():
        L, ns = int(degrees[name]), list(z["n"])
        et = edges_table(z, zone_fraction, L)
        table = et["table"]
        per_seed, open_upper, no_dominance = {}, False, False
        for seed, edges in et["per_seed"].items():
            dom = [e["dom_upper"] for e in edges]
            open_upper |= any(e["dom_found"] and e["dom_upper"] is None for e in edges)
            no_dominance |= any(not e["dom_found"] for e in edges)
            per_seed[seed] = {"dom_upper": dom, "dom_lower": [e["dom_lower"] for e in edges],
                              "upper": [e["upper"] for e in edges], "slope": _slope(ns, dom)}
        low = [t for t in table if t["n"] <= z["n_low"]]
        lower_change = (_rel_change(low[-2]["dom_lower"], low[-1]["dom_lower"])
                        if len(low) >= 2 else float("nan"))
        lower_between = [t["n"] for t in low[-2:]]
        d_total = int(z["d"]) * len(z["seeds"])
        # process CPU time (one thread: the idle wall time) where recorded, else wall time
        cost = float(z.get("cpu_seconds", z["seconds"]))
        rate = cost / (ns[-1] * d_total)
        out[name] = dict(
            n=ns, table=table, per_seed=per_seed,
            slope=_slope(ns, [t["dom_upper"] for t in table]),
            slope_curvature=_slope(ns, [t["upper"] for t in table]), predicted_slope=1.0 / L,
            open_upper=open_upper, no_dominance=no_dominance,
            decades=math.log10(ns[-1] / ns[0]), n_low=int(z["n_low"]),
            full_from=float(z["full_from"]), full_n=int(z["full_n"]),
            lower_change=lower_change, lower_between=lower_between,
            seconds=float(z["seconds"]), cpu_seconds=float(z.get("cpu_seconds", math.nan)),
            seconds_per_image_direction=rate,
            g_bound_max=max(r["g_bound"] for rows in z["per_seed"].values() for r in rows),
            full_n_seconds={"n": PAPER_N[name], "d": 50, "seeds": 3,
                            "seconds": rate * PAPER_N[name] * 50 * 3})
    return out


def verdict_b1(b1: Mapping[str, Mapping[str, Any]], *, slope_factor: float,
               min_decades: float = 1.0) -> Verdict:
    """B1 (the book's own finding): the zone's upper edge grows with the number of images
    ``N`` the Hessian averages over, roughly as ``N^(1/L)``. It qualifies the paper's
    zone statement, which the authors measured on the full training split:
    Paper (Section 5; Fig. 8 caption): "the corresponding Goldilocks zone spans
    α ∈ [1, 18] ... The highlighted strip corresponds to the Goldilocks zone where the
    G-term is dominant (cf. Figure 2)."

    Upper edge: the largest alpha where ``||G||_2 >= ||H-term||_2`` (Eq. 6; the end of the
    span of every G-dominated piece, :func:`~goldilocks_nb.rescaling.zone_edges`), per
    subspace seed; its growth is the least-squares slope ``s`` of
    ``log edge`` against ``log N``. Reproduced when, for every model, every seed's
    ``s`` lies in ``[1/(f L), f/L]`` (``f = slope_factor``); partly when every model's edge
    grows (``s > 0``) on a majority of seeds but some slope lies outside that band; not
    reproduced when some model's edge does not grow on a majority of seeds; inconclusive
    when the ``N`` range spans less than ``min_decades``, an upper edge lies beyond the
    alpha grid (open) or some ``N`` shows no G-dominated interval at all.

    Args:
        b1: per model, :func:`measure_b1`'s numbers (``per_seed`` slopes, ``predicted_slope``,
            ``open_upper``, ``decades``, ``n``, ``table``, ``full_n_seconds``).
        slope_factor: ``f > 1``.
        min_decades: the smallest ``log10(N_max / N_min)`` that can show the trend.
    """
    quote = paper_quote(verdict_b1)
    definition = (f"upper edge = largest alpha with ||G||_2 >= ||H-term||_2 (Eq. 6, "
                  f"projected on d-dim random subspaces, T = 1; the span of every G-dominated "
                  f"piece); "
                  f"'roughly N^(1/L)': least-squares slope of log edge vs log N within a factor "
                  f"{slope_factor:g} of 1/L on every subspace seed; N = nested class-balanced "
                  f"prefixes of the training split up to all of it; exact by the collapse "
                  f"split (an image is collapsed when 1 - max_k p'_k <= {COLLAPSE_TOL:g}); "
                  f"alphas below zone_full_from are evaluated on N <= zone_n_low and read "
                  f"there for larger N (the lower edge, converged)")

    def edge(x: float | None) -> str:
        return format_bounds([x])[1:-1]

    measured = "; ".join(
        f"{m}: upper edge {edge(v['table'][0]['dom_upper'])} at N = {v['n'][0]:,} -> "
        f"{edge(v['table'][-1]['dom_upper'])} at N = {v['n'][-1]:,} (per subspace "
        + " / ".join(edge(ps["dom_upper"][-1]) for ps in v["per_seed"].values())
        + f"), slope {v['slope']:.2f} (1/L = {v['predicted_slope']:.2f}); lower edge "
        f"{edge(v['table'][0]['dom_lower'])} -> {edge(v['table'][-1]['dom_lower'])}; smallest "
        f"top-2 logit gap {v['table'][0]['min_gap']:.1e} -> {v['table'][-1]['min_gap']:.1e}"
        for m, v in b1.items())
    values = {m: {"n": v["n"], "slope": v["slope"], "predicted_slope": v["predicted_slope"],
                  "upper_by_n": [t["dom_upper"] for t in v["table"]],
                  "lower_by_n": [t["dom_lower"] for t in v["table"]],
                  "min_gap_by_n": [t["min_gap"] for t in v["table"]],
                  "upper_at_largest_n_per_seed": {str(s): ps["dom_upper"][-1]
                                                  for s, ps in v["per_seed"].items()}}
              for m, v in b1.items()}
    values["per_seed"] = {m: {str(s): ps["slope"] for s, ps in v["per_seed"].items()}
                          for m, v in b1.items()}
    key = ", ".join(f"{m}: slope {v['slope']:.2f} vs 1/L = {v['predicted_slope']:.2f}"
                    for m, v in b1.items())
    kw = dict(values=values, key=key, quote=quote, definition=definition)
    short = [m for m, v in b1.items() if v["decades"] < min_decades]
    opened = [m for m, v in b1.items() if v["open_upper"]]
    missing = [m for m, v in b1.items() if v.get("no_dominance", False)]
    if short or opened or missing:
        why = "; ".join([f"{m}: N spans only {b1[m]['decades']:.2f} decades "
                         f"(< {min_decades:g})" for m in short]
                        + [f"{m}: an upper edge lies beyond the alpha grid" for m in opened]
                        + [f"{m}: no alpha where ||G||_2 >= ||H-term||_2 at some N and "
                           "subspace (too few images)" for m in missing])
        needed = "; ".join(
            f"{m}: N from {v['n'][0]:,} to {max(v['n'][0] * 10 ** min_decades, v['n'][-1]):,.0f}"
            f" on a wider alpha grid; full N = {v['full_n_seconds']['n']:,} at d = 50, 3 seeds: "
            f"about {v['full_n_seconds']['seconds'] / 3600:.1f} CPU-hours at this run's rate "
            f"(linear in d; GPU not measured)" for m, v in b1.items())
        return inconclusive("B1", measured, why, needed, **kw)
    lo = {m: v["predicted_slope"] / slope_factor for m, v in b1.items()}
    hi = {m: v["predicted_slope"] * slope_factor for m, v in b1.items()}
    grows, in_band = {}, {}
    for m, v in b1.items():
        slopes = {s: ps["slope"] for s, ps in v["per_seed"].items()}
        grows[m] = {s: bool(x > 0) for s, x in slopes.items()}
        in_band[m] = {s: bool(lo[m] <= x <= hi[m]) for s, x in slopes.items()}
    if all(all(b.values()) for b in in_band.values()):
        return Verdict("B1", "reproduced", measured, "", **kw)
    no_growth = [m for m, g in grows.items() if sum(g.values()) * 2 <= len(g)]
    if no_growth:
        why = "; ".join(f"{m}: the upper edge grows with N on {seed_agreement(grows[m])}"
                        for m in no_growth)
        return Verdict("B1", "not reproduced", measured, why, **kw)
    def per_seed(m: str) -> str:
        return ", ".join(f"{ps['slope']:.2f}" for ps in b1[m]["per_seed"].values())

    why = "; ".join(f"{m}: slope within a factor {slope_factor:g} of 1/L on "
                    f"{seed_agreement(in_band[m])} (per seed {per_seed(m)})"
                    for m in b1 if not all(in_band[m].values()))
    return Verdict("B1", "partly", measured, why, **kw)


def draw_zone_vs_n(ctx: Context, b1: Mapping[str, Mapping[str, Any]]) -> Any:
    """The zone's edges against ``N`` per model (upper: G-dominance and curvature fraction;
    lower), the ``N^(1/L)`` line through the smallest ``N``, ``(1/min gap)^(1/L)``, and on
    a second axis the smallest top-2 logit gap."""
    import matplotlib.pyplot as plt

    colors, models = _colors(), ctx.models
    fig, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 4.2), squeeze=False)
    for ax, name in zip(axes[0], models):
        v, L = b1[name], ctx.degree(name)
        ns = np.array(v["n"], float)
        t = v["table"]

        def arr(k: str, t: Sequence[Mapping] = t) -> np.ndarray:
            return np.array([np.nan if r[k] is None else r[k] for r in t], float)

        for ps in v["per_seed"].values():
            ax.plot(ns, [np.nan if e is None else e for e in ps["dom_upper"]], "-", lw=0.8,
                    color=colors[0], alpha=0.4)
        ax.plot(ns, arr("dom_upper"), "o-", color=colors[0],
                label=r"upper edge, $\|\mathcal{G}\|_2 \geq \|\mathcal{H}\|_2$ "
                      "(thin: per subspace)")
        ax.plot(ns, arr("upper"), "s--", color=colors[1],
                label=f"upper edge, curvature {ctx.params.zone_fraction:g} x peak")
        mixed = np.array([bool(r.get("mixed", False)) for r in t])
        lo = arr("dom_lower")
        ax.plot(ns, lo, "-", color=colors[2])
        ax.plot(ns[~mixed], lo[~mixed], "o", color=colors[2],
                label="lower edge (G dominance)")
        if mixed.any():
            ax.plot(ns[mixed], lo[mixed], "o", mfc="none", color=colors[2],
                    label=f"lower edge read at N = {v.get('n_low', 0):,} (converged)")
        ax.plot(ns, arr("lower"), "s--", color=colors[4], label="lower edge (curvature)")
        ax.axvline(ctx.params.n_samples[name], color="0.6", lw=0.8, ls="--")
        ax.annotate("Figure 2's N", (ctx.params.n_samples[name], 0.02), fontsize=7,
                    xycoords=("data", "axes fraction"), rotation=90, color="0.4")
        u0 = arr("dom_upper")[0]
        if np.isfinite(u0):
            ax.plot(ns, u0 * (ns / ns[0]) ** (1.0 / L), "k:", lw=1.2,
                    label=rf"$N^{{1/{L}}}$ through the smallest $N$")
        ax.plot(ns, arr("gap_alpha"), "^-", color="0.5", ms=4,
                label=r"$(1/\min\,\mathrm{gap})^{1/L}$")
        ax.set(xscale="log", yscale="log", xlabel="images N", ylabel=r"$\alpha$",
               title=f"{name} (L = {L}), d = {ctx.params.zone_d} per subspace")
        ax2 = ax.twinx()
        ax2.plot(ns, arr("min_gap"), "x:", color=colors[3])
        ax2.set(yscale="log", ylabel="smallest top-2 logit gap at alpha = 1")
        ax2.yaxis.label.set_color(colors[3])
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("The zone's edges against the number of images N (nested class-balanced "
                 "prefixes of the training split, up to all of it; exact collapse split)",
                 fontsize=9)
    fig.tight_layout()
    return fig


# ---- verdicts
def format_bounds(bounds: Sequence[float | None] | None) -> str:
    """``"[0.478, 3.4]"``; ``"open"`` for a missing boundary."""
    b = bounds if bounds is not None else (None, None)
    return "[" + ", ".join("open" if v is None else f"{v:.3g}" for v in b) + "]"


def format_intervals(intervals: Sequence[tuple[float, float]]) -> str:
    """``"[0.764, 4.17], [10, 20]"`` (empty string for no interval)."""
    return ", ".join(f"[{lo:.3g}, {hi:.3g}]" for lo, hi in intervals)


def _pick(numbers: Mapping[str, Mapping], keys: Sequence[str]) -> dict[str, dict]:
    return {m: {k: v[k] for k in keys if k in v} for m, v in numbers.items()}


def verdict_c1(c1: Mapping[str, Mapping[str, Any]], tol: float) -> Verdict:
    """C1: reproduced when the direct curvature on ``T = alpha^L`` equals that at ``(1, 1)``
    and the map equals direct values off the line (relative deviation < ``tol``) and the
    zone along ``T`` at ``alpha = 1`` is closed for every model; partly when only the
    invariance holds; not reproduced otherwise.

    Args:
        c1: per model ``reference``, ``line_deviation``, ``map_deviation``,
            ``zone_T_closed`` (and optionally ``zone_alpha_closed``), see :func:`measure_c1`.
        tol: the rounding tolerance of the dtype.
    """
    bad_line = [m for m, v in c1.items()
                if not (v["line_deviation"] < tol and v["map_deviation"] < tol)]
    open_zone = [m for m, v in c1.items() if not v["zone_T_closed"]]
    measured = "; ".join(
        f"{m}: max rel. deviation (alpha, alpha^L) vs (1, 1) {v['line_deviation']:.1e}, "
        f"map vs direct {v['map_deviation']:.1e}, curvature at (1,1) {v['reference']:.3f}"
        for m, v in c1.items())
    values = _pick(c1, ("reference", "line_deviation", "map_deviation", "zone_T_closed",
                        "zone_alpha_closed"))
    if bad_line:
        why = "; ".join(f"{m}: direct curvature deviates from (1, 1) by "
                        f"{c1[m]['line_deviation']:.1e} on T = alpha^L and from the map by "
                        f"{c1[m]['map_deviation']:.1e} (tolerance {tol:g})" for m in bad_line)
        return Verdict("C1", "not reproduced", measured, why, values)
    if open_zone:
        why = ("curvature along T at alpha = 1 does not fall below the zone threshold on both "
               "sides within the ratio grid for: " + ", ".join(open_zone))
        return Verdict("C1", "partly", measured, why, values)
    return Verdict("C1", "reproduced", measured, "", values)


def verdict_c2(c2: Mapping[str, Mapping[str, Any]], *, steps: int, alphas: Sequence[float],
               tol: float = TRAJECTORY_TOL) -> Verdict:
    """C2: reproduced when, for every model, the scaled run stays within ``tol`` (relative
    parameter deviation) of the unscaled one and the loss decreased; else not reproduced.

    Args:
        c2: per model ``max_deviation``, ``max_loss_difference``, ``loss_decreased``.
        steps, alphas: the gradient-descent steps and scales (for the text).
    """
    measured = "; ".join(f"{m}: max ||theta'_t/alpha - theta_t||/||theta_t|| = "
                         f"{v['max_deviation']:.1e} over {steps} steps, alpha in {list(alphas)}"
                         for m, v in c2.items())
    problems = [f"{m}: deviation {v['max_deviation']:.1e} (tolerance {tol:g})"
                for m, v in c2.items() if not v["max_deviation"] < tol]
    problems += [f"{m}: the loss did not decrease" for m, v in c2.items()
                 if not v["loss_decreased"]]
    values = {m: dict(v) for m, v in c2.items()}
    if problems:
        return Verdict("C2", "not reproduced", measured, "; ".join(problems), values)
    return Verdict("C2", "reproduced", measured, "", values)


def verdict_c3(c3: Mapping[str, Mapping[str, Any]], tol: float) -> Verdict:
    """C3: reproduced when the G- and H-terms at ``(alpha, T)`` match Eq. 5 to relative
    error < ``tol`` for every model; else not reproduced.

    Args:
        c3: per model ``g_rel_error``, ``h_rel_error``, ``points``.
        tol: the rounding tolerance of the dtype.
    """
    measured = "; ".join(f"{m}: max rel. error G {v['g_rel_error']:.1e}, H-term "
                         f"{v['h_rel_error']:.1e} at {v['points']} points" for m, v in c3.items())
    bad = [m for m, v in c3.items() if not (v["g_rel_error"] < tol and v["h_rel_error"] < tol)]
    values = {m: dict(v) for m, v in c3.items()}
    if bad:
        why = "; ".join(
            f"{m}: relative error undefined (a direct term exactly zero, its prediction not)"
            if math.isnan(_worst_error((c3[m]["g_rel_error"], c3[m]["h_rel_error"])))
            else f"{m}: relative error {max(c3[m]['g_rel_error'], c3[m]['h_rel_error']):.1e}"
                 f" above {tol:g}" for m in bad)
        return Verdict("C3", "not reproduced", measured, why, values)
    return Verdict("C3", "reproduced", measured, "", values)


C4_KEYS = ("zone", "peak", "peak_at", "dominance", "gap_decades", "slope_g", "slope_h",
           "fit_points", "g_collapse_ratio", "checks")


def verdict_c4(c4: Mapping[str, Mapping[str, Any]], degrees: Mapping[str, int]) -> Verdict:
    """C4: reproduced when every check of :func:`measure_c4` holds for every model; partly
    when the zone is closed and the small-alpha slopes match ``2L-2`` and ``L-2`` for every
    model (the core of the claim); not reproduced otherwise. ``why`` lists failed checks.

    Args:
        c4: per model ``zone``, ``dominance``, ``slope_g``, ``slope_h`` and ``checks``
            (a dict of booleans with at least ``zone_closed`` and ``slopes_match``).
        degrees: per model, the homogeneity degree ``L``.
    """
    measured = "; ".join(
        f"{m}: zone {format_bounds(v['zone'])}, G dominates {format_bounds(v['dominance'])}, "
        f"slopes ||G|| {v['slope_g']:.2f} (pred. {2 * degrees[m] - 2}), ||H|| "
        f"{v['slope_h']:.2f} (pred. {degrees[m] - 2})" for m, v in c4.items())
    failed = [f"{m}: {k}" for m, v in c4.items() for k, ok in v["checks"].items() if not ok]
    core = all(v["checks"]["zone_closed"] and v["checks"]["slopes_match"] for v in c4.values())
    values = _pick(c4, C4_KEYS)
    if not failed:
        return Verdict("C4", "reproduced", measured, "", values)
    why = "failed checks: " + ", ".join(failed)
    return Verdict("C4", "partly" if core else "not reproduced", measured, why, values)


def verdict_c5(c5: Mapping[str, Mapping[str, Any]], tolerance_decades: float) -> Verdict:
    """C5: reproduced when the projected and Hutchinson zones agree (boundary gaps <=
    ``tolerance_decades``) for every model, partly for some, not reproduced for none.

    Args:
        c5: per model ``projected``, ``hutchinson`` ((lower, upper)), ``gaps_decades``,
            ``agree``.
    """
    measured = "; ".join(f"{m}: zone projected {format_bounds(v['projected'])}, Hutchinson "
                         f"{format_bounds(v['hutchinson'])}" for m, v in c5.items())
    values = _pick(c5, ("projected", "hutchinson", "gaps_decades", "agree"))
    apart = [m for m, v in c5.items() if not v["agree"]]
    if not apart:
        return Verdict("C5", "reproduced", measured, "", values)
    why = (f"zone boundaries differ by more than {tolerance_decades:g} decades for: "
           + ", ".join(f"{m} (gaps {_gaps(c5[m]['gaps_decades'])} decades)" for m in apart))
    verdict = "partly" if len(apart) < len(c5) else "not reproduced"
    return Verdict("C5", verdict, measured, why, values)


def _gaps(gaps: Sequence[float]) -> str:
    return " / ".join("open" if not math.isfinite(g) else f"{g:.2f}" for g in gaps)


# ---- figures (matplotlib is imported only when a figure is drawn)
def _colors() -> list:
    import seaborn as sns

    return sns.color_palette("colorblind")


def draw_figure1(ctx: Context, sweep: Mapping[str, Sequence[Mapping]],
                 fig1: Mapping[str, Mapping]) -> Any:
    """Figure 1 per model: the zone at ``T = 1``, the ``(alpha, T)`` map with the direct
    check points, and the zone recreated along ``T`` at ``alpha = 1``."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    colors, models = _colors(), ctx.models
    fig, axes = plt.subplots(len(models), 3, figsize=(14, 4.1 * len(models)), squeeze=False)
    for row, name in zip(axes, models):
        L, m, s = ctx.degree(name), fig1[name]["map"], hessian_curve(sweep[name])
        row[0].plot(s["x"], s["mean"], "o-", color=colors[0], ms=3,
                    label=f"mean of {len(ctx.params.seeds)} subspaces")
        row[0].fill_between(s["x"], s["min"], s["max"], color=colors[0], alpha=0.25,
                            label="min/max")
        row[0].set(xscale="log", xlabel=r"initialisation scale $\alpha$ ($T = 1$)",
                   ylabel=r"positive curvature $\mathrm{Tr}(H_d)/\|H_d\|_F$",
                   title=f"{name}: the Goldilocks zone at T = 1")
        row[0].legend(fontsize=8)
        lim = np.nanmax(np.abs(m["values"]))
        mesh = row[1].pcolormesh(m["alphas"], m["temperatures"], m["values"], shading="nearest",
                                 cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -lim, lim))
        row[1].set_facecolor("0.85")
        row[1].plot(m["alphas"], m["alphas"] ** L, "k--", lw=1.2, label=rf"$T = \alpha^{L}$")
        for pt in fig1[name]["direct_map"]:
            row[1].plot(pt["alpha"], pt["temperature"], "k*", ms=9)
        row[1].plot([], [], "k*", label="direct check")
        row[1].set(xscale="log", yscale="log", xlabel=r"$\alpha$", ylabel=r"temperature $T$",
                   title=r"positive curvature over $(\alpha, T)$")
        row[1].legend(fontsize=8, loc="upper left")
        fig.colorbar(mesh, ax=row[1], label=r"$\mathrm{Tr}(H_d)/\|H_d\|_F$")
        tt = 1.0 / m["ratios"]
        row[2].plot(tt[::-1], m["curve"][::-1], "o-", color=colors[1], ms=3)
        row[2].set(xscale="log", xlabel=r"temperature $T$ ($\alpha = 1$)",
                   ylabel=r"$\mathrm{Tr}(H_d)/\|H_d\|_F$", title="zone recreated by T alone")
    fig.suptitle(f"Figure 1 (d = {ctx.params.d}). Data: {ctx.short_sources}. Grey: ratio "
                 "outside the swept range.", fontsize=9)
    fig.tight_layout()
    return fig


_TERM_LABELS = {"hessian": "Hessian $H$", "g_term": r"G-term $\mathcal{G}$",
                "h_term": r"H-term $\mathcal{H}$"}


def draw_figure2(ctx: Context, c4: Mapping[str, Mapping[str, Any]]) -> Any:
    """Figure 2 per model: positive curvature (top) and spectral norm (bottom) of the
    Hessian and its two terms over alpha; shaded where the G-term dominates, dotted the
    zone, dashed the predicted power laws at small alpha."""
    import matplotlib.pyplot as plt

    colors, models, p = _colors(), ctx.models, ctx.params
    fig, axes = plt.subplots(2, len(models), figsize=(6.5 * len(models), 8), squeeze=False)
    for col, name in enumerate(models):
        L, v = ctx.degree(name), c4[name]
        curv, norm, zone, small = v["curv"], v["norm"], v["zone_bounds"], v["small"]
        a = curv["hessian"]["x"]
        for t, color in zip(TERMS, colors):
            for ax, stat in [(axes[0, col], curv), (axes[1, col], norm)]:
                ax.plot(a, stat[t]["mean"], "o-", ms=3, color=color, label=_TERM_LABELS[t])
                ax.fill_between(a, stat[t]["min"], stat[t]["max"], color=color, alpha=0.25)
        for ax in axes[:, col]:
            for lo, hi in v["dominance_all"]:
                ax.axvspan(lo, hi, color="0.5", alpha=0.15, lw=0)
            for b in (zone.lower, zone.upper):
                if b is not None:
                    ax.axvline(b, color="k", ls=":", lw=1)
            ax.set_xscale("log")
        axes[0, col].axvspan(np.nan, np.nan, color="0.5", alpha=0.15,
                             label=r"$\|\mathcal{G}\|_2 \geq \|\mathcal{H}\|_2$")
        axes[0, col].axvline(np.nan, color="k", ls=":", lw=1,
                             label=f"zone ({p.zone_fraction:g} x peak)")
        if small.sum() >= 2:  # reference power laws through the smallest-alpha point
            a_s = a[small]
            for t, power in [("g_term", 2 * L - 2), ("h_term", L - 2)]:
                y0 = norm[t]["mean"][small][0]
                axes[1, col].plot(a_s, y0 * (a_s / a_s[0]) ** power, "--", color="k", lw=1)
                axes[1, col].annotate(rf"$\alpha^{{{power}}}$",
                                      (a_s[-1], y0 * (a_s[-1] / a_s[0]) ** power), fontsize=9,
                                      xytext=(4, 0), textcoords="offset points")
        axes[0, col].set(title=f"{name} (L = {L}), T = 1, d = {p.d}",
                         ylabel=r"positive curvature $\mathrm{Tr}/\|\cdot\|_F$")
        axes[1, col].set(yscale="log", xlabel=r"initialisation scale $\alpha$",
                         ylabel=r"spectral norm $\|\cdot\|_2$")
        positive = np.concatenate([norm[t]["min"][norm[t]["min"] > 0] for t in TERMS])
        top = np.nanmax([np.nanmax(norm[t]["max"]) for t in TERMS])
        axes[1, col].set_ylim(max(1e-14, positive.min() / 3), top * 5)
        axes[0, col].legend(fontsize=8)
    fig.suptitle(f"Figure 2: bands = min/max over {len(p.seeds)} subspaces; shaded: G-term "
                 f"dominates.\nData: {ctx.short_sources}", fontsize=9)
    fig.tight_layout()
    return fig


def draw_trajectories(ctx: Context, equiv: Mapping[str, Sequence[Mapping]]) -> Any:
    """C2: the relative deviation of the scaled trajectory from the unscaled one per step."""
    import matplotlib.pyplot as plt

    colors, models = _colors(), ctx.models
    fig, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 3.8), squeeze=False)
    for ax, name in zip(axes[0], models):
        for run, color in zip(equiv[name], colors):
            ax.plot(run["steps"], np.maximum(run["deviation"], 1e-18), "-", color=color,
                    label=rf"$\alpha$ = {run['alpha']:g} (T = {run['temperature_scaled']:.3g}, "
                          rf"$\eta'$ = {run['lr_scaled']:.3g})")
        ax.axhline(TRAJECTORY_TOL, color="k", ls=":", lw=1)
        loss = equiv[name][0]["loss"]
        ax.set(yscale="log", ylim=(1e-18, 1e-6), xlabel="gradient-descent step $t$",
               ylabel=r"$\|\theta'_t/\alpha - \theta_t\| / \|\theta_t\|$",
               title=f"{name}: float64, eta = {ctx.params.gd_lr:g}, loss {loss[0]:.3f} -> "
                     f"{loss[-1]:.3f}")
        ax.legend(fontsize=7)
    fig.suptitle(f"Trajectory equivalence (values < 1e-18 drawn at 1e-18). Data: "
                 f"{ctx.short_sources}", fontsize=9)
    fig.tight_layout()
    return fig


def draw_figure13(ctx: Context, sweep: Mapping[str, Sequence[Mapping]],
                  hutch: Mapping[str, Sequence[Mapping]], c5: Mapping[str, Mapping[str, Any]],
                  fig1: Mapping[str, Mapping]) -> Any:
    """Figure 13: projected vs Hutchinson positive curvature, each over its own peak, with
    the zone boundaries of each (and along ``T`` with ``hutchinson_vs_temperature``)."""
    import matplotlib.pyplot as plt

    colors, models, p = _colors(), ctx.models, ctx.params
    ncols = 2 if p.hutchinson_vs_temperature else 1
    fig, axes = plt.subplots(len(models), ncols, figsize=(6.5 * ncols, 3.8 * len(models)),
                             squeeze=False)
    for row, name in zip(axes, models):
        s, h = hessian_curve(sweep[name]), hutchinson_curve(hutch[name])
        pz, hz = c5[name]["zones"]
        ax = row[0]
        ax.plot(s["x"], s["mean"] / pz.peak, "o-", ms=3, color=colors[0],
                label=f"projection, d = {p.d} (peak {pz.peak:.3g})")
        ax.fill_between(s["x"], s["min"] / pz.peak, s["max"] / pz.peak, color=colors[0],
                        alpha=0.2)
        ax.errorbar(h["x"], h["value"] / hz.peak, yerr=h["se"] / hz.peak, fmt="s-", ms=3,
                    capsize=2, color=colors[3], label=f"Hutchinson, full P, "
                    f"{p.hutchinson_probes} probes (peak {hz.peak:.3g})")
        for z, color in [(pz, colors[0]), (hz, colors[3])]:
            for b in (z.lower, z.upper):
                if b is not None:
                    ax.axvline(b, color=color, ls=":", lw=1.2)
        ax.axhline(p.zone_fraction, color="0.4", lw=0.8)
        ax.set(xscale="log", xlabel=r"$\alpha$ (T = 1)",
               ylabel=r"$\mathrm{Tr}(H)/\|H\|_F$ / its peak",
               title=f"{name}: projected vs Hutchinson")
        ax.legend(fontsize=7)
        if p.hutchinson_vs_temperature:
            ht, m = hutchinson_curve(hutch[name], at="temperature"), fig1[name]["map"]
            row[1].plot(1.0 / m["ratios"], m["curve"] / np.nanmax(m["curve"]), "o-", ms=3,
                        color=colors[0], label="projection")
            top = np.nanmax(ht["value"])
            row[1].errorbar(ht["x"], ht["value"] / top, yerr=ht["se"] / top, fmt="s-", ms=3,
                            capsize=2, color=colors[3], label="Hutchinson")
            row[1].set(xscale="log", xlabel=r"temperature $T$ ($\alpha$ = 1)",
                       ylabel="/ its peak", title=f"{name}: along T")
            row[1].legend(fontsize=7)
    fig.suptitle(f"Figure 13: dotted = zone boundaries ({p.zone_fraction:g} x own peak).\n"
                 f"Data: {ctx.short_sources}", fontsize=9)
    fig.tight_layout()
    return fig


# ---- the chapter contract: run -> Results -> judge / record / plot_*
@dataclass
class Results:
    """Everything chapter 01 computes (the output of :func:`run`).

    Attributes:
        params: the parameters as run; ctx: the :class:`Context` (device, data, models,
            grids, results folders).
        sweep: :func:`alpha_sweeps`; fig1: :func:`figure1_data`; eq5: :func:`eq5_points`;
        equiv: :func:`trajectories`; hutch: :func:`hutchinson_points`; zone:
        :func:`zone_vs_n`.
        c1 ... c5, b1: the numbers of each claim (:func:`measure_c1` ... :func:`measure_b1`).
    """

    params: Params
    ctx: Context
    sweep: dict[str, list[dict]]
    fig1: dict[str, dict[str, Any]]
    eq5: dict[str, list[dict]]
    equiv: dict[str, list[dict]]
    hutch: dict[str, list[dict]]
    zone: dict[str, dict[str, Any]]
    c1: dict[str, dict[str, Any]]
    c2: dict[str, dict[str, Any]]
    c3: dict[str, dict[str, Any]]
    c4: dict[str, dict[str, Any]]
    c5: dict[str, dict[str, Any]]
    b1: dict[str, dict[str, Any]]

    @property
    def degrees(self) -> dict[str, int]:
        """Per model, the homogeneity degree ``L``."""
        return {name: self.ctx.degree(name) for name in self.ctx.models}

    @property
    def tol(self) -> float:
        """"Equal up to rounding" in the run's dtype (:attr:`Params.rounding_tol`)."""
        return self.params.rounding_tol

    def header(self) -> str:
        """Profile, device, dtype and rounding tolerance (not compared: the device differs)."""
        p = self.params
        return (f"profile={p.profile}, device={self.ctx.device.type}, dtype={p.dtype}, "
                f"rounding tolerance {self.tol:g}")

    def data_lines(self) -> str:
        """Per model: degree, parameter count, data, alpha grid, subspaces; the ratio grid."""
        ctx, p, out = self.ctx, self.params, []
        for name in ctx.models:
            ds, net, a = ctx.data[name], ctx.nets[name], ctx.alphas[name]
            out.append(f"{name} (L = {net.degree}, P = {num_parameters(net):,}) on {ds.source}")
            out.append(f"    alpha grid: {len(a)} points in [{a[0]:g}, {a[-1]:g}]; "
                       f"d = {p.d}, subspace seeds {list(p.seeds)}")
        r = ctx.ratios
        out.append(f"ratio grid r = alpha^L/T: {len(r)} points in [{r[0]:g}, {r[-1]:g}]")
        return "\n".join(out)

    def c1_lines(self) -> str:
        """C1: the curvature at (1, 1), whether the direct checks hold to rounding, and the
        zone along T at alpha = 1."""
        p, tol, out = self.params, self.tol, []
        for name, v in self.c1.items():
            L = self.ctx.degree(name)
            out += [f"{name}: Tr/||.||_F at (1, 1) = {v['reference']:.3f} (d = {p.check_d});",
                    f"    max relative deviation at (alpha, alpha^{L}), alpha in "
                    f"{p.check_alphas}: below {tol:g}: {v['line_deviation'] < tol}",
                    f"    direct vs map at {len(self.fig1[name]['direct_map'])} off-line points: "
                    f"below {tol:g}: {v['map_deviation'] < tol}",
                    f"    zone along T at alpha = 1: {v['zone_T'].describe('T')}"]
        return "\n".join(out)

    def c3_lines(self) -> str:
        """C3: whether G' and H' match Eq. 5 to rounding at every point."""
        tol = self.tol
        return "\n".join(
            f"{name} (L = {L}): {v['points']} points (alpha, T); max relative error of "
            f"G' vs alpha^{2 * L - 2}/T^2 G(p') below {tol:g}: {v['g_rel_error'] < tol}; "
            f"of H' vs alpha^{L - 2}/T H(p') below {tol:g}: {v['h_rel_error'] < tol}"
            for name, v in self.c3.items() for L in [self.ctx.degree(name)])

    def c4_lines(self) -> str:
        """C4 (Figure 2): the zone, the G-dominance ranges, the small-alpha slopes, the
        collapse and the checks of :func:`measure_c4`."""
        p, out = self.params, []
        for name, v in self.c4.items():
            L, a, small = self.ctx.degree(name), v["curv"]["hessian"]["x"], v["small"]
            out += [f"{name} (L = {L}):",
                    f"    zone: {v['zone_bounds'].describe('alpha')}",
                    "    G-term dominates: " + (format_intervals(v["dominance_all"]) or "nowhere")
                    + f"; largest boundary gap to the zone {v['gap_decades']:.2f} decades "
                      f"(tolerance {p.tolerance_decades:g})",
                    f"    small-alpha fit on {v['fit_points']} alphas <= "
                    f"{a[small].max() if small.any() else float('nan'):.3g}: "
                    f"slope of ||G||_2 {v['slope_g']:.2f} (predicted 2L-2 = {2 * L - 2}), "
                    f"of ||H-term||_2 {v['slope_h']:.2f} (predicted L-2 = {L - 2})",
                    f"    ||G||_2 at alpha = {a[-1]:g} / its max: below {COLLAPSE_RATIO:g}: "
                    f"{v['checks']['g_collapses']}; G-term curvature at the smallest alpha "
                    f"within 10% of its max: {v['checks']['g_curvature_largest_at_small_alpha']}",
                    f"    checks: {v['checks']}"]
        return "\n".join(out)

    def c2_lines(self) -> str:
        """C2: whether the scaled runs stay on the unscaled trajectory (and the loss moved)."""
        p, tol = self.params, TRAJECTORY_TOL
        return "\n".join(
            f"{name}: {p.gd_steps} steps, alpha in {p.equivalence_alphas}: max relative "
            f"parameter deviation below {tol:g}: {v['max_deviation'] < tol}; "
            f"max loss difference below {tol:g}: {v['max_loss_difference'] < tol}; "
            f"the loss decreased (the check is not vacuous): {v['loss_decreased']}"
            for name, v in self.c2.items())

    def c5_lines(self) -> str:
        """C5 (Figure 13): the zone read off the projection and off Hutchinson's estimate."""
        out = []
        for name, v in self.c5.items():
            (pz, hz), gaps = v["zones"], v["gaps_decades"]
            out += [f"{name}:", f"    projection: {pz.describe('alpha')}",
                    f"    Hutchinson: {hz.describe('alpha')}",
                    f"    boundary gaps {gaps[0]:.2f} / {gaps[1]:.2f} decades; agree within "
                    f"{self.params.tolerance_decades:g}: {v['agree']}"]
        return "\n".join(out)

    def b1_lines(self) -> str:
        """B1: the zone's edges at every N, the upper edge per subspace and the slope."""
        p, out = self.params, []
        for name, v in self.b1.items():
            L, z = self.ctx.degree(name), self.zone[name]
            out.append(f"{name} (L = {L}): {len(z['seeds'])} subspaces of d = {z['d']} (stacked "
                       f"in one pass), N in {v['n']} (the split has {v['full_n']:,} images); "
                       f"alpha >= {v['full_from']:g} on every N, smaller alphas on "
                       f"N <= {v['n_low']:,}")
            for row in v["table"]:
                out.append(
                    f"    N = {row['n']:>6,}: zone (G dominates) "
                    f"{format_bounds([row['dom_lower'], row['dom_upper']])}, curvature >= "
                    f"{p.zone_fraction:g} x peak {format_bounds([row['lower'], row['upper']])}; "
                    f"smallest top-2 gap {row['min_gap']:.1g}"
                    + (f" (lower edge read at N = {v['n_low']:,})" if row["mixed"] else ""))
            out.append("    upper edge (G dominates) at the largest N, per subspace: "
                       + ", ".join(format_bounds([ps["dom_upper"][-1]])[1:-1]
                                   for ps in v["per_seed"].values()))
            out.append(f"    slope of log(upper edge) vs log N: {v['slope']:.1f} (1/L = "
                       f"{1 / L:.2f}); lower edge (G dominates) moved {v['lower_change']:.0%} "
                       f"from N = {v['lower_between'][0]:,} to {v['lower_between'][-1]:,}")
        return "\n".join(out)

    def zone_n_lines(self) -> str:
        """The zone at this chapter's N and at the full N, the dropped-term bound and the
        measured cost (not compared: it holds timings)."""
        out = []
        for name, v in self.b1.items():
            L, n = self.ctx.degree(name), self.params.n_samples[name]
            here = zone_interval(v["table"], n, L)
            full = zone_interval(v["table"], v["full_n"], L)
            z, cost = self.zone[name], v["full_n_seconds"]
            out += [f"{name}: largest bound on a dropped (collapsed) G-term: "
                    f"{v['g_bound_max']:.0e}",
                    f"    zone at this chapter's N = {n:,}: "
                    f"{format_bounds([here['lower'], here['upper']])} ({here['how']})",
                    f"    zone at the full N = {full['n']:,}: "
                    f"{format_bounds([full['lower'], full['upper']])} ({full['how']})",
                    f"    cost: one pass over N = {v['n'][-1]:,} images, d = {z['d']} x "
                    f"{len(z['seeds'])} subspaces, {len(z['alphas'])} alphas: "
                    f"{v['seconds']:.0f} s wall, {v['cpu_seconds']:.0f} s CPU (one thread); the "
                    f"paper's d = 50 would take about {cost['seconds'] / 3600:.1f} CPU-hours at "
                    f"this rate"]
        return "\n".join(out)


def run(params: Params, *, progress: bool = False) -> Results:
    """Every computation of chapter 01, in the notebook's former order, each part cached
    (:func:`goldilocks_nb.results.cached`; a killed run resumes).

    Args:
        params: the validated parameters (``d``, ``check_d``, ``zone_d`` are checked against
            each model's ``P`` in :func:`load`, before any compute).
        progress: progress bars for the long loops.
    """
    from ..notebook import torch_threads

    with torch_threads(params.torch_threads):
        ctx = load(params)
        sweep = alpha_sweeps(ctx, progress=progress)
        fig1 = figure1_data(ctx)
        eq5 = eq5_points(ctx)
        c4 = measure_c4(ctx, sweep)
        equiv = trajectories(ctx, progress=progress)
        hutch = hutchinson_points(ctx, progress=progress)
        zone = zone_vs_n(ctx, progress=progress)
    p = params
    return Results(
        params=p, ctx=ctx, sweep=sweep, fig1=fig1, eq5=eq5, equiv=equiv, hutch=hutch,
        zone=zone, c1=measure_c1(sweep, fig1, p.zone_fraction), c2=measure_c2(equiv),
        c3=measure_c3(eq5), c4=c4,
        c5=measure_c5(sweep, hutch, p.zone_fraction, p.tolerance_decades),
        b1=measure_b1(zone, {name: ctx.degree(name) for name in ctx.models}, p.zone_fraction))


def judge(res: Results) -> list[Verdict]:
    """The verdicts C1-C5 and B1 of ``res`` (thresholds from ``res.params``)."""
    p = res.params
    return [verdict_c1(res.c1, res.tol),
            verdict_c2(res.c2, steps=p.gd_steps, alphas=p.equivalence_alphas),
            verdict_c3(res.c3, res.tol),
            verdict_c4(res.c4, res.degrees),
            verdict_c5(res.c5, p.tolerance_decades),
            verdict_b1(res.b1, slope_factor=p.zone_slope_factor)]


def record(res: Results, verdicts: Sequence[Verdict]) -> list[Path]:
    """Write each verdict's claim file into ``results_dir/claims`` (for the scorecard)."""
    from ..contract import record_verdict

    return [record_verdict(v, res.params, evidence=EVIDENCE[v.claim],
                           data_source=res.ctx.sources) for v in verdicts]


#: The resolution of the PNG that :func:`goldilocks_nb.results.save_figure` writes.
SAVED_DPI = 150
#: The resolution a notebook shows figures at (matplotlib's inline default).
SHOWN_DPI = 100


@dataclass(frozen=True)
class SavedFigure:
    """A chapter figure, saved (PNG and PDF, :func:`goldilocks_nb.results.save_figure`) and
    closed. A notebook shows the saved PNG at :data:`SHOWN_DPI` size instead of drawing the
    figure a third time (drawing is a good part of the smoke run).

    Attributes:
        figure: the matplotlib figure (closed: no longer shown by pyplot).
        paths: the saved ``.png`` and ``.pdf``.
    """

    figure: Any
    paths: tuple[Path, ...]

    def _repr_png_(self) -> tuple[bytes, dict[str, int]]:
        """The saved PNG and its display width (the height follows its aspect ratio, also
        where a page narrows the image)."""
        data = self.paths[0].read_bytes()
        (width,) = struct.unpack(">I", data[16:20])  # the PNG header (IHDR)
        return data, {"width": round(width * SHOWN_DPI / SAVED_DPI)}

    def __repr__(self) -> str:
        return f"<figure {self.paths[0].name}>"


def _saved(res: Results, fig: Any, name: str) -> SavedFigure:
    import matplotlib.pyplot as plt

    from ..results import save_figure

    paths = save_figure(fig, name, res.ctx.dirs["figures"])
    plt.close(fig)
    return SavedFigure(fig, tuple(paths))


def plot_figure1(res: Results) -> SavedFigure:
    """Figure 1 (:func:`draw_figure1`), saved as ``01_fig1_goldilocks_alpha_T``."""
    return _saved(res, draw_figure1(res.ctx, res.sweep, res.fig1), "01_fig1_goldilocks_alpha_T")


def plot_figure2(res: Results) -> SavedFigure:
    """Figure 2 (:func:`draw_figure2`), saved as ``01_fig2_gauss_newton_terms``."""
    return _saved(res, draw_figure2(res.ctx, res.c4), "01_fig2_gauss_newton_terms")


def plot_trajectories(res: Results) -> SavedFigure:
    """C2's deviations (:func:`draw_trajectories`), saved as ``01_trajectory_equivalence``."""
    return _saved(res, draw_trajectories(res.ctx, res.equiv), "01_trajectory_equivalence")


def plot_figure13(res: Results) -> SavedFigure:
    """Figure 13 (:func:`draw_figure13`), saved as ``01_fig13_hutchinson_vs_projection``."""
    return _saved(res, draw_figure13(res.ctx, res.sweep, res.hutch, res.c5, res.fig1),
                  "01_fig13_hutchinson_vs_projection")


def plot_zone_vs_n(res: Results) -> SavedFigure:
    """The zone's edges against N (:func:`draw_zone_vs_n`), saved as ``01_zone_vs_n``."""
    return _saved(res, draw_zone_vs_n(res.ctx, res.b1), "01_zone_vs_n")
