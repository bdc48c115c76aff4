"""Chapter 05, bulk and outliers (Sagun et al. 2017; C24, C25) and the Goldilocks tie.

Exact float64 Hessian spectra of small bias-free ReLU MLPs (``d_in - h - h - K``), each
trained by full-batch gradient descent down to one training loss (``target_loss``) so that
spectra are compared between nets at comparable losses. C24 is decided on Gaussian clusters
(:func:`goldilocks_nb.mixtures.cluster_mixture`), where the spectrum has outliers to count:
the width sweep and the cluster sweep, on every seed of ``seeds``; the outliers are counted
by one stated rule with its resolution (:func:`goldilocks_nb.spectrum.outlier_edge`: the
eigengap at the counted edge against the gaps in the bulk), and a spectrum that does not
resolve its edge gives no count. The spectrum on real Fashion-MNIST (average-pooled to
``28 / pool`` pixels a side) is shown for what it is at this size. The spectral density of
LeNet-300-100 comes from stochastic Lanczos quadrature, validated on a small net against
its exact spectrum. C25: small- vs large-batch SGD and the loss on the line between them,
the barrier normalised by the loss drop from initialisation, on every seed, trained and
trained longer. Beyond both papers: the spectrum at initialisation across the scale
``alpha`` at ``T = 1`` next to the positive curvature of the main paper (Eq. 2; App. B
predicts ``K - 1`` outliers).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from ..contract import (
    ChapterParams,
    Verdict,
    inconclusive,
    paper_quote,
    params_dataclass,
    record_verdict,
    seed_agreement,
)
from ..data import DATASETS, Dataset, load_dataset
from ..functional import Weights, get_params, loss, scale_params
from ..mixtures import cluster_mixture
from ..models import build_model
from ..notebook import torch_threads
from ..results import cached, saved_figure
from ..spectrum import (
    MAX_DENSE_PARAMS,
    broadened_density,
    density_l1,
    exact_hessian_spectrum,
    exact_quadrature,
    hessian_operator,
    outlier_edge,
    positive_curvature_of,
    slq,
)
from ..training import descent_step, gradient_descent_steps

__all__ = [
    "CACHE_VERSION",
    "EVIDENCE",
    "RITZ_TOLERANCE",
    "Params",
    "Results",
    "alpha_sweep",
    "batch_size_lines",
    "cluster_sweep",
    "computed",
    "judge",
    "load_real",
    "mlp_num_params",
    "plot_alpha_outliers",
    "plot_batch_line",
    "plot_cluster_spectra",
    "plot_real_spectra",
    "plot_slq_density",
    "plot_width_spectra",
    "real_spectra",
    "record",
    "run",
    "slq_validation",
    "spectrum_case",
    "summarise_c24",
    "verdict_c24",
    "verdict_c25",
]

T = TypeVar("T")

#: Bumped when a computation of this chapter changes meaning (2: target-loss training,
#: resolved outlier edge, per-seed sweeps).
CACHE_VERSION = "2"


def mlp_num_params(d_in: int, width: int, num_classes: int) -> int:
    """``P`` of the bias-free ``d_in - h - h - K`` MLP: ``d_in h + h^2 + h K``."""
    return d_in * width + width * width + width * num_classes


def _image_input(dataset: str, pool: int) -> int:
    side, channels = (32, 3) if dataset.startswith("cifar10") else (28, 1)
    return channels * (side // pool) ** 2


@params_dataclass
class Params(ChapterParams):
    """Parameters of chapter 05 (defaults: the smoke profile).

    Attributes:
        dataset: real data for the real-data spectra, the SGD line and the alpha sweep.
        n_samples: class-balanced training images.
        pool: average-pooling factor of the images (4: 28x28 -> 7x7 = 49 inputs).
        real_widths: hidden widths of the real-data spectra (shown, first seed only).
        widths: hidden widths ``h`` of the ``d - h - h - K`` MLP in the width sweep on
            Gaussian clusters (``width_clusters`` clusters, first separation), growing.
        width: the fixed hidden width of the cluster sweep, SGD line and alpha sweep.
        width_clusters: number of clusters of the width sweep.
        target_loss: every net of the spectra is trained by full-batch gradient descent
            until its training loss is ``<= target_loss`` (comparable losses), at most
            ``train_steps`` steps at rate ``lr``.
        mixture_dim, mixture_samples: dimension and size of the Gaussian-cluster data.
        clusters: numbers of clusters (= classes) of the cluster sweep (width ``width``).
        separations: mean norms; the first is used for ``clusters`` and ``widths``, the
            others (less separable) at ``width_clusters`` clusters.
        min_gap, min_resolution, max_outliers_per_class: the outlier rule
            (:func:`goldilocks_nb.spectrum.outlier_edge` with ``max_outliers = m K``).
        slq_widths, slq_pool, slq_samples, slq_steps, slq_probes, slq_sigma: the SLQ
            density (LeNet-300-100 is ``[300, 100]`` with ``pool`` 1); ``slq_sigma`` is
            the Gaussian broadening relative to the spectrum's range;
            ``slq_l1_tolerance`` the largest accepted L1 distance between the SLQ and the
            exact density of the small net.
        sgd_small_batch, sgd_large_batch, sgd_epochs, sgd_large_epochs, sgd_lr: the two
            SGD runs (C25); the large batch gets its own (larger) number of epochs so that
            both reach a low loss. ``sgd_longer``: the trained-longer case continues both
            runs to ``sgd_longer`` times their epochs.
        line_points, line_extend: points on ``(1 - t) theta_S + t theta_L``,
            ``t in [-extend, 1 + extend]``.
        alphas: initialisation scales of the spectrum-across-alpha sweep (``T = 1``).
        count_tolerance: outlier count accepted within ``[K - 1 - tol, K + tol]``; the
            counts over widths may spread by at most ``tol``.
        bulk_ratio_tolerance: largest accepted ratio of bulk scales across separations, and
            of the outliers' mean eigenvalue across widths.
        barrier_tolerance: largest accepted barrier as a fraction of the loss drop from
            initialisation to the worse endpoint.
        trained_fraction: the SGD endpoints count as trained when their loss is at most
            this fraction of the initial loss (otherwise C25 is inconclusive).
        seeds: data draws, initialisations and SGD orders (at least three).
        torch_threads: CPU threads for torch (0: torch's default).
    """

    notebook = "05_bulk_and_outliers"
    dataset: str = "fashion-mnist-embedded"
    n_samples: int = 100
    pool: int = 4
    real_widths: list[int] = field(default_factory=lambda: [6, 12])
    widths: list[int] = field(default_factory=lambda: [8, 16])
    width: int = 8
    width_clusters: int = 3
    target_loss: float = 0.3
    train_steps: int = 400
    lr: float = 0.2
    mixture_dim: int = 16
    mixture_samples: int = 120
    clusters: list[int] = field(default_factory=lambda: [3, 5])
    separations: list[float] = field(default_factory=lambda: [3.0, 1.5])
    min_gap: float = 1.3
    min_resolution: float = 1.2
    max_outliers_per_class: int = 3
    slq_widths: list[int] = field(default_factory=lambda: [40, 20])
    slq_pool: int = 2
    slq_samples: int = 100
    slq_steps: int = 30
    slq_probes: int = 2
    slq_sigma: float = 0.01
    slq_l1_tolerance: float = 0.3
    sgd_small_batch: int = 10
    sgd_large_batch: int = 100
    sgd_epochs: int = 20
    sgd_large_epochs: int = 200
    sgd_lr: float = 0.1
    sgd_longer: int = 3
    line_points: int = 15
    line_extend: float = 0.25
    alphas: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    count_tolerance: int = 0
    bulk_ratio_tolerance: float = 2.0
    barrier_tolerance: float = 0.05
    trained_fraction: float = 0.5
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    torch_threads: int = 1

    def check(self) -> None:
        self.require_in("dataset", self.dataset, DATASETS)
        self.require(self.dataset != "gaussian", "dataset", self.dataset, "an image dataset")
        self.require_at_least("n_samples", self.n_samples, 20)
        for name in ("pool", "slq_pool"):
            self.require(getattr(self, name) in (1, 2, 4, 7, 14), name, getattr(self, name),
                         "one of 1, 2, 4, 7, 14")
        for name in ("widths", "real_widths"):
            value = getattr(self, name)
            self.require(len(value) >= 2 and value == sorted(set(value)), name, value,
                         "at least two increasing widths")
        for name in ("widths", "real_widths", "width", "train_steps", "mixture_samples",
                     "slq_widths", "slq_samples", "slq_probes", "sgd_small_batch",
                     "sgd_epochs", "sgd_large_epochs", "max_outliers_per_class"):
            self.require_at_least(name, getattr(self, name), 1)
        self.require(len(self.slq_widths) >= 1, "slq_widths", self.slq_widths, "non-empty")
        self.require_positive("lr", self.lr)
        self.require_positive("sgd_lr", self.sgd_lr)
        self.require_positive("target_loss", self.target_loss)
        self.require(len(self.clusters) >= 2 and self.clusters == sorted(set(self.clusters)),
                     "clusters", self.clusters, "at least two increasing counts")
        self.require_at_least("clusters", self.clusters, 2)
        self.require_at_least("width_clusters", self.width_clusters, 2)
        self.require_at_least("mixture_dim", self.mixture_dim,
                              max(self.clusters + [self.width_clusters]))
        self.require(len(self.separations) >= 2, "separations", self.separations,
                     "at least two values")
        self.require_positive("separations", self.separations)
        self.require(self.min_gap > 1, "min_gap", self.min_gap, "> 1")
        self.require(self.min_resolution >= 1, "min_resolution", self.min_resolution, ">= 1")
        self.require_at_least("slq_steps", self.slq_steps, 2)
        self.require_positive("slq_sigma", self.slq_sigma)
        self.require_positive("slq_l1_tolerance", self.slq_l1_tolerance)
        self.require(self.sgd_small_batch < self.sgd_large_batch <= self.n_samples,
                     "sgd_large_batch", self.sgd_large_batch,
                     f"> sgd_small_batch ({self.sgd_small_batch}) and <= n_samples "
                     f"({self.n_samples})")
        self.require_at_least("sgd_longer", self.sgd_longer, 2)
        self.require_at_least("line_points", self.line_points, 3)
        self.require(self.line_extend >= 0, "line_extend", self.line_extend, ">= 0")
        self.require(len(self.alphas) >= 2, "alphas", self.alphas, "at least two scales")
        self.require_positive("alphas", self.alphas)
        self.require_at_least("count_tolerance", self.count_tolerance, 0)
        self.require(self.bulk_ratio_tolerance >= 1, "bulk_ratio_tolerance",
                     self.bulk_ratio_tolerance, ">= 1")
        self.require_positive("barrier_tolerance", self.barrier_tolerance)
        self.require(0 < self.trained_fraction < 1, "trained_fraction", self.trained_fraction,
                     "in (0, 1)")
        self.require(len(self.seeds) >= 3 and len(set(self.seeds)) == len(self.seeds),
                     "seeds", self.seeds, "at least three distinct seeds")
        self.require_at_least("seeds", self.seeds, 0)
        self.require_at_least("torch_threads", self.torch_threads, 0)
        self._check_sizes()

    def _check_sizes(self) -> None:
        """Every exact spectrum fits :data:`MAX_DENSE_PARAMS` and has ``3K + 2`` eigenvalues
        (checked here, naming the parameter, before any compute)."""
        d_real = _image_input(self.dataset, self.pool)
        K_real = 10
        m = self.max_outliers_per_class
        cases = [("real_widths", h, d_real, K_real) for h in self.real_widths]
        cases += [("width", self.width, d_real, K_real)]
        cases += [("width", self.width, self.mixture_dim, K) for K in self.clusters]
        cases += [("widths", h, self.mixture_dim, self.width_clusters) for h in self.widths]
        for name, h, d, K in cases:
            P = mlp_num_params(d, h, K)
            self.require(P <= MAX_DENSE_PARAMS, name, getattr(self, name),
                         f"widths whose net has at most {MAX_DENSE_PARAMS:,} weights for the "
                         f"exact spectrum (width {h} on {d} inputs and {K} classes has "
                         f"P = {P:,}; use slq_widths for larger nets)")
            self.require(P >= m * K + 2, name, getattr(self, name),
                         f"widths whose net has at least max_outliers_per_class * K + 2 = "
                         f"{m * K + 2} weights (width {h} has P = {P})")


def computed(params: Params, name: str, compute: Callable[[], T], cache_dir: Any) -> T:
    """``compute()``, cached as ``05_<name>`` under ``params.result_key()`` (the parameters
    that change a result: not ``results_dir``, ``profile`` or ``device``), so that a moved,
    copied or renamed results folder is read, not recomputed."""
    return cached(f"05_{name}", params.result_key(), compute, cache_dir=cache_dir,
                  version=CACHE_VERSION)


# --------------------------------------------------------------------------- data


def load_real(dataset: str, n: int, pool: int, seed: int, device: torch.device) -> Dataset:
    """A class-balanced float64 subset, average-pooled by ``pool`` (``28 / pool`` a side)."""
    ds = load_dataset(dataset, n=n, seed=seed, dtype=torch.float64, device=device)
    if pool == 1:
        return ds
    X = F.avg_pool2d(ds.X, pool)
    side = X.shape[-1]
    return Dataset(X, ds.y, ds.classes, f"{ds.source}, average-pooled to {side}x{side}",
                   ds.name, ds.split, ds.indices)


# --------------------------------------------------------------------------- C24


def _train_to(model, theta: Weights, X, y, *, target_loss: float, max_steps: int, lr: float
              ) -> tuple[Weights, float, int]:
    """Full-batch GD until the training loss is ``<= target_loss`` or ``max_steps`` steps.

    Returns ``(theta, loss, steps taken)``.
    """
    for t, point, value in gradient_descent_steps(model, theta, X, y, lr=lr, steps=max_steps):
        if value <= target_loss or t == max_steps:
            return point, value, t
    raise AssertionError("unreachable: gradient_descent_steps yields step max_steps")


def spectrum_case(X: torch.Tensor, y: torch.Tensor, num_classes: int, width: int, *,
                  target_loss: float, max_steps: int, lr: float, seed: int, min_gap: float,
                  min_resolution: float, max_outliers: int, alpha: float = 1.0) -> dict:
    """Train ``d_in - h - h - K`` to ``target_loss``, then its exact spectrum and outlier edge.

    ``max_steps = 0`` takes the spectrum at the (``alpha``-scaled) initialisation.
    Returns a dict with ``eigenvalues`` (descending), ``P``, ``loss`` (final training
    loss), ``steps``, the :class:`goldilocks_nb.spectrum.OutlierEdge` fields (``count`` is
    ``None`` where the edge is not resolved), ``outlier_mean`` (mean of the top
    ``position`` eigenvalues), ``bulk_std`` (standard deviation of the eigenvalues without
    the top ``max_outliers``: a bulk scale that does not depend on the rule's count),
    ``seconds`` (wall time) and ``params`` (the point whose spectrum was taken).
    """
    start = time.perf_counter()
    net = build_model("mlp", seed=seed, input_shape=tuple(X.shape[1:]), widths=[width, width],
                      num_classes=num_classes, dtype=torch.float64, device=X.device)
    theta = scale_params(get_params(net), alpha)
    if max_steps > 0:
        theta, final_loss, steps = _train_to(net, theta, X, y, target_loss=target_loss,
                                             max_steps=max_steps, lr=lr)
    else:
        with torch.no_grad():
            final_loss, steps = float(loss(net, theta, X, y)), 0
    ev = exact_hessian_spectrum(net, theta, X, y)
    edge = outlier_edge(ev, max_outliers=max_outliers, min_gap=min_gap,
                        min_resolution=min_resolution)
    return {"eigenvalues": ev, "P": int(ev.size), "loss": final_loss, "steps": steps,
            "count": edge.count, "position": edge.position, "gap": edge.gap,
            "bulk_gap": edge.bulk_gap, "resolution": edge.resolution,
            "resolved": edge.resolved, "bulk_edge": edge.bulk_edge,
            "outlier_mean": float(ev[:edge.position].mean()),
            "bulk_std": float(np.std(ev[max_outliers:])),
            "seconds": time.perf_counter() - start, "params": theta}


def _case_args(params: Params, K: int) -> dict:
    return {"target_loss": params.target_loss, "max_steps": params.train_steps,
            "lr": params.lr, "min_gap": params.min_gap,
            "min_resolution": params.min_resolution,
            "max_outliers": params.max_outliers_per_class * K}


def cluster_sweep(params: Params, device: torch.device, seed: int,
                  progress: Callable[[str], Any] | None = None) -> dict:
    """C24 on Gaussian clusters for one seed (data draw and initialisation).

    Cases: each ``K`` of ``clusters`` at width ``width`` and the first separation; each
    width of ``widths`` at ``width_clusters`` clusters and the first separation; the other
    separations at ``width_clusters`` clusters and width ``width``. A case shared by two
    sweeps is computed once.

    Returns ``{"clusters": [...], "widths": [...], "separations": [...]}``, lists of
    :func:`spectrum_case` dicts with ``clusters``, ``separation`` and ``width`` added.
    """
    memo: dict[tuple[int, float, int], dict] = {}

    def case(K: int, sep: float, h: int) -> dict:
        if (K, sep, h) not in memo:
            X, y = cluster_mixture(params.mixture_samples, K, params.mixture_dim,
                                   separation=sep, seed=seed)
            res = spectrum_case(X.to(device), y.to(device), K, h, seed=seed,
                                **_case_args(params, K))
            memo[(K, sep, h)] = {"clusters": K, "separation": sep, "width": h, **res}
            if progress is not None:
                r = memo[(K, sep, h)]
                progress(f"seed {seed}: K = {K}, separation {sep:g}, width {h}: P = {r['P']}, "
                         f"{r['steps']} steps, {r['seconds']:.1f} s")
        return memo[(K, sep, h)]

    s0, Kw = params.separations[0], params.width_clusters
    return {"clusters": [case(K, s0, params.width) for K in params.clusters],
            "widths": [case(Kw, s0, h) for h in params.widths],
            "separations": [case(Kw, s, params.width) for s in params.separations]}


def real_spectra(params: Params, data: Dataset) -> list[dict]:
    """The exact spectrum on real data at each of ``real_widths`` (shown, not counted
    for C24): one :func:`spectrum_case` per width, trained towards ``target_loss``."""
    K = data.num_classes
    return [{"width": h, **spectrum_case(data.X, data.y, K, h, seed=params.seeds[0],
                                         **_case_args(params, K))}
            for h in params.real_widths]


def summarise_c24(sweeps: Mapping[int, Mapping[str, list[dict]]]) -> dict[int, dict]:
    """Per seed, the numbers :func:`verdict_c24` takes, from :func:`cluster_sweep` results.

    Returns ``{seed: {"width_counts": {h: count}, "cluster_counts": {K: count},
    "width_outlier_ratio", "separation_bulk_ratio", "separation_outlier_ratio",
    "resolutions": {case: resolution}, "losses": [...]}}`` (ratios: largest over smallest
    value across the sweep);
    a count is ``None`` where the edge is not resolved.
    """
    out = {}
    for seed, sw in sweeps.items():
        om = [c["outlier_mean"] for c in sw["widths"]]
        bs = [c["bulk_std"] for c in sw["separations"]]
        so = [c["outlier_mean"] for c in sw["separations"]]
        res = {f"K={c['clusters']}, h={c['width']}, sep={c['separation']:g}": c["resolution"]
               for part in ("clusters", "widths", "separations") for c in sw[part]}
        out[seed] = {
            "width_counts": {c["width"]: c["count"] for c in sw["widths"]},
            "cluster_counts": {c["clusters"]: c["count"] for c in sw["clusters"]},
            "width_outlier_ratio": float(max(om) / min(om)),
            "separation_bulk_ratio": float(max(bs) / min(bs)),
            "separation_outlier_ratio": float(max(so) / min(so)),
            "resolutions": res,
            "losses": [c["loss"] for part in ("clusters", "widths", "separations")
                       for c in sw[part]],
        }
    return out


def verdict_c24(per_seed: Mapping[int, Mapping[str, Any]], *, width_clusters: int,
                count_tolerance: int, bulk_ratio_tolerance: float, min_gap: float,
                min_resolution: float, mixture_samples: int, seconds: float) -> Verdict:
    """C24 (Sagun et al.): bulk near zero plus outliers that track the data, not the width.

    Paper (Sagun et al., abstract): "Fixing data, increasing the number of parameters
    merely scales the bulk of the spectrum; fixing the dimension and changing the data
    (for instance adding more clusters or making the data less separable) only affects the
    outliers."

    Per seed (``per_seed`` from :func:`summarise_c24`; a count of ``None`` is an edge the
    spectrum does not resolve): core (1) every resolved cluster count ``c`` for ``K``
    clusters, width-sweep counts included, lies in ``[K - 1 - tol, K + tol]``; core (2) the
    resolved counts over widths spread by at most ``tol``; (3) the outliers' mean
    eigenvalue changes across widths by at most ``bulk_ratio_tolerance`` and (4) the bulk
    scale across separations by at most ``bulk_ratio_tolerance``. Verdict: a resolved count
    that breaks (1) or (2) on every seed: not reproduced; on some seeds only: partly,
    reported as flipping between seeds; otherwise, any unresolved edge: inconclusive at
    this scale (with the sample size that would resolve it and its cost, from ``seconds``,
    the measured time of the sweeps); otherwise reproduced when (3) and (4) hold on every
    seed, else partly.
    """
    tol = count_tolerance

    def tracks(count: int, K: int) -> bool:
        return K - 1 - tol <= count <= K + tol

    per: dict[str, dict] = {}
    core_ok: dict[int, bool] = {}
    unresolved: list[str] = []
    broken: list[str] = []
    secondary: list[str] = []
    for seed, s in per_seed.items():
        counts = {K: c for K, c in s["cluster_counts"].items()}
        wc = {h: c for h, c in s["width_counts"].items()}
        unresolved += [f"seed {seed} K={K}" for K, c in counts.items() if c is None]
        unresolved += [f"seed {seed} width {h}" for h, c in wc.items() if c is None]
        off = [f"K={K}: {c}" for K, c in counts.items() if c is not None and not tracks(c, K)]
        off += [f"width {h} (K={width_clusters}): {c}" for h, c in wc.items()
                if c is not None and not tracks(c, width_clusters)]
        resolved_w = [c for c in wc.values() if c is not None]
        spread = max(resolved_w) - min(resolved_w) if resolved_w else 0
        if spread > tol:
            off.append(f"counts over widths {list(wc.values())} spread {spread} > {tol}")
        core_ok[seed] = not off
        if off:
            broken.append(f"seed {seed}: " + ", ".join(off))
        wr, sr = s["width_outlier_ratio"], s["separation_bulk_ratio"]
        if wr > bulk_ratio_tolerance:
            secondary.append(f"seed {seed}: outlier mean changes {wr:.2g}x across widths")
        so = s.get("separation_outlier_ratio")
        if sr > bulk_ratio_tolerance:
            secondary.append(f"seed {seed}: bulk scale changes {sr:.2g}x across separations"
                             + (f" (outlier mean {so:.2g}x)" if so is not None else ""))
        per[str(seed)] = {"cluster_counts": {str(K): c for K, c in counts.items()},
                          "width_counts": {str(h): c for h, c in wc.items()},
                          "width_outlier_ratio": wr, "separation_bulk_ratio": sr,
                          "separation_outlier_ratio": so,
                          "min_resolution": float(min(s["resolutions"].values())),
                          "core": core_ok[seed]}
    agree = seed_agreement(core_ok)
    min_res = min(p["min_resolution"] for p in per.values())
    counts_text = "; ".join(
        f"seed {seed}: " + ", ".join(f"K={K}->{c if c is not None else '?'}"
                                     for K, c in p["cluster_counts"].items())
        + " | widths " + "/".join(str(c if c is not None else "?")
                                  for c in p["width_counts"].values())
        for seed, p in per.items())
    measured = (f"outlier counts ({counts_text}); smallest edge resolution {min_res:.2g} "
                f"(gap over the largest bulk gap); count rule held on {agree}")
    values = {"per_seed": per, "seed_agreement": agree, "min_resolution": min_res}
    definition = (f"outliers = the top m eigenvalues of the exact Hessian of a net trained to a "
                  f"common training loss, m = argmax of lambda_m/lambda_(m+1) over m <= 3K, "
                  f"counted only when resolved: that gap >= {min_gap:g} and >= "
                  f"{min_resolution:g} x every gap on the bulk side (up to m = 3K + 1); "
                  f"'tracks the clusters': count in [K-1-{tol}, K+{tol}]; 'width only scales "
                  f"the bulk': counts over widths equal within {tol} and the outliers' mean "
                  f"eigenvalue within {bulk_ratio_tolerance:g}x; 'data only affects the "
                  f"outliers': bulk scale (std of the eigenvalues below the top 3K) within "
                  f"{bulk_ratio_tolerance:g}x across separations; Gaussian clusters, "
                  f"{len(per)} seeds")
    common = {"values": values, "quote": paper_quote(verdict_c24), "definition": definition,
              "key": f"counts track K on {agree}"}
    if broken and all(not ok for ok in core_ok.values()):
        return Verdict("C24", "not reproduced", measured,
                       "resolved counts off the cluster number on every seed: "
                       + "; ".join(broken), **common)
    if broken:
        return Verdict("C24", "partly", measured,
                       f"flips between seeds: the counts track the clusters on {agree}; "
                       + "; ".join(broken), **common)
    if unresolved:
        n_new = 4 * mixture_samples
        return inconclusive(
            "C24", measured,
            f"no resolved outlier edge for {', '.join(unresolved)} (gap below {min_gap:g} or "
            f"within {min_resolution:g}x of the bulk's own gaps); the resolved counts track "
            f"the clusters",
            needed=(f"mixture_samples = {n_new} (4x: the sample fluctuations of the bulk "
                    f"shrink about 2x) on the same seeds: about {4 * seconds:.0f} s of CPU at "
                    f"the measured {seconds:.0f} s for these sweeps (cost ~ linear in the "
                    f"samples), well under a minute on a GPU"),
            **common)
    if secondary:
        return Verdict("C24", "partly", measured,
                       "the counts track the clusters on every seed, but " + "; ".join(secondary),
                       **common)
    return Verdict("C24", "reproduced", measured, "", **common)


def slq_validation(params: Params, data: Dataset, small_case: dict, slq_data: Dataset
                   ) -> dict:
    """SLQ density of the small net vs its exact spectrum, then SLQ of the larger net.

    ``small_case`` is a :func:`real_spectra` entry (its trained point and width). Both
    densities are broadened by the same Gaussian of width ``slq_sigma`` times the exact
    spectrum's range. Returns ``grid``, ``exact``/``slq`` densities and their L1 distance,
    the exact and Ritz top eigenvalues, and for the larger net (``slq_widths`` on
    ``slq_data``, at initialisation) its ``P``, nodes, weights and density.
    """
    seed = params.seeds[0]
    ev = small_case["eigenvalues"]
    small = build_model("mlp", seed=seed, input_shape=data.input_shape,
                        widths=[small_case["width"]] * 2, num_classes=data.num_classes,
                        dtype=torch.float64, device=data.X.device)
    op = hessian_operator(small, small_case["params"], data.X, data.y)
    q = slq(op, num_probes=params.slq_probes, steps=min(params.slq_steps, op.shape[0]),
            seed=seed)
    span = float(ev[0] - ev[-1])
    sigma = params.slq_sigma * span
    bounds = (float(ev[-1]), float(ev[0]))
    grid, exact = broadened_density(exact_quadrature(ev), bounds, sigma)
    _, slq_density = broadened_density(q, bounds, sigma)

    net = build_model("mlp", seed=seed, input_shape=slq_data.input_shape,
                      widths=params.slq_widths, num_classes=slq_data.num_classes,
                      dtype=torch.float64, device=slq_data.X.device)
    big_op = hessian_operator(net, get_params(net), slq_data.X, slq_data.y)
    big = slq(big_op, num_probes=params.slq_probes, steps=params.slq_steps, seed=seed)
    big_bounds = (float(big.nodes.min()), float(big.nodes.max()))
    big_grid, big_density = broadened_density(big, big_bounds,
                                              params.slq_sigma * (big_bounds[1] - big_bounds[0]))
    return {"grid": grid, "exact": exact, "slq": slq_density,
            "l1": density_l1(grid, exact, slq_density),
            "exact_top": float(ev[0]), "ritz_top": float(q.nodes.max()),
            "big_P": int(big_op.shape[0]), "big_nodes": big.nodes, "big_weights": big.weights,
            "big_grid": big_grid, "big_density": big_density}


# --------------------------------------------------------------------------- C25


def _sgd(model, theta: Weights, X, y, *, batch: int, epochs: int, lr: float,
         gen: torch.Generator) -> Weights:
    theta = {k: v.detach().clone() for k, v in theta.items()}
    N = X.shape[0]
    for _ in range(epochs):
        order = torch.randperm(N, generator=gen).to(X.device)
        for start in range(0, N - batch + 1, batch):
            idx = order[start:start + batch]
            theta = descent_step(model, theta, X[idx], y[idx], lr=lr).params
    return theta


def _line(model, small: Weights, large: Weights, X, y, t: np.ndarray, init_loss: float,
          epochs: tuple[int, int]) -> dict:
    with torch.no_grad():
        losses = np.array([float(loss(model, {k: (1 - s) * small[k] + s * large[k]
                                              for k in small}, X, y)) for s in t])
    inside = (t >= 0) & (t <= 1)
    ends = max(losses[t == 0][0], losses[t == 1][0])
    return {"t": t, "losses": losses, "small_loss": float(losses[t == 0][0]),
            "large_loss": float(losses[t == 1][0]), "init_loss": init_loss,
            "barrier": float(losses[inside].max() - ends), "epochs": list(epochs),
            "distance": float(torch.sqrt(sum(((small[k] - large[k]) ** 2).sum()
                                             for k in small)))}


def batch_size_lines(params: Params, data: Dataset, seed: int) -> dict:
    """Small- and large-batch SGD from one initialisation; the loss on the line between,
    after training and after training longer (one seed: initialisation and SGD orders).

    The small-batch run takes ``sgd_epochs`` epochs, the large-batch run
    ``sgd_large_epochs``, both at rate ``sgd_lr``; both then continue (same sample orders,
    continued) to ``sgd_longer`` times their epochs. Returns ``{"trained": line,
    "trained longer": line, "seconds": wall time}``, each line with ``t``, ``losses`` on
    ``(1 - t) theta_S + t theta_L``, the endpoint losses, the initial loss, ``epochs`` and
    the barrier ``max_{t in [0,1]} L(t) - max(L(0), L(1))`` (negative: the line dips below
    both ends).
    """
    start = time.perf_counter()
    K = data.num_classes
    net = build_model("mlp", seed=seed, input_shape=data.input_shape,
                      widths=[params.width, params.width], num_classes=K,
                      dtype=torch.float64, device=data.X.device)
    theta0 = get_params(net)
    with torch.no_grad():
        init_loss = float(loss(net, theta0, data.X, data.y))
    t = np.linspace(-params.line_extend, 1 + params.line_extend, params.line_points)
    t = np.union1d(t, [0.0, 1.0])
    gen_s, gen_l = (torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1))
    e_s, e_l = params.sgd_epochs, params.sgd_large_epochs
    small = _sgd(net, theta0, data.X, data.y, batch=params.sgd_small_batch, epochs=e_s,
                 lr=params.sgd_lr, gen=gen_s)
    large = _sgd(net, theta0, data.X, data.y, batch=params.sgd_large_batch, epochs=e_l,
                 lr=params.sgd_lr, gen=gen_l)
    out = {"trained": _line(net, small, large, data.X, data.y, t, init_loss, (e_s, e_l))}
    f = params.sgd_longer
    small = _sgd(net, small, data.X, data.y, batch=params.sgd_small_batch,
                 epochs=(f - 1) * e_s, lr=params.sgd_lr, gen=gen_s)
    large = _sgd(net, large, data.X, data.y, batch=params.sgd_large_batch,
                 epochs=(f - 1) * e_l, lr=params.sgd_lr, gen=gen_l)
    out["trained longer"] = _line(net, small, large, data.X, data.y, t, init_loss,
                                  (f * e_s, f * e_l))
    out["seconds"] = time.perf_counter() - start
    return out


def verdict_c25(lines: Mapping[int, Mapping[str, Mapping[str, Any]]], *,
                barrier_tolerance: float, trained_fraction: float,
                sgd_epochs: tuple[int, int], seconds: float) -> Verdict:
    """C25 (Sagun et al.): small- and large-batch solutions lie in one basin.

    Paper (Sagun et al., abstract): "small and large batch gradient descent appear to
    converge to different basins of attraction but we show that they are in fact connected
    through their flat region and so belong to the same basin."

    ``lines[seed][case]`` (``case`` in ``"trained"``, ``"trained longer"``, from
    :func:`batch_size_lines`) has ``small_loss``, ``large_loss``, ``init_loss`` and
    ``barrier``. The barrier is normalised by the loss drop from initialisation to the
    worse endpoint, ``b = barrier / (L_init - max(L_S, L_L))`` (a scale that does not
    vanish as the endpoints approach zero loss). No barrier: ``b <= barrier_tolerance``.
    Inconclusive at this scale when an endpoint is not trained (loss above
    ``trained_fraction`` of the initial loss); reproduced when ``b`` is within tolerance for
    every seed and both training lengths, not reproduced when it is for none, partly
    otherwise (reported as flipping between seeds or training lengths).
    """
    per: dict[str, dict] = {}
    ok: dict[str, bool] = {}
    untrained: list[str] = []
    by_case: dict[str, list[float]] = {}
    for seed, cases in lines.items():
        per[str(seed)] = {}
        for case, ln in cases.items():
            ends = max(ln["small_loss"], ln["large_loss"])
            drop = ln["init_loss"] - ends
            if ends > trained_fraction * ln["init_loss"]:
                untrained.append(f"seed {seed} {case}: endpoint loss {ends:.3g} > "
                                 f"{trained_fraction:g} x initial {ln['init_loss']:.3g}")
            b = ln["barrier"] / drop if drop > 0 else float("inf")
            per[str(seed)][case] = {"small_loss": ln["small_loss"],
                                    "large_loss": ln["large_loss"],
                                    "init_loss": ln["init_loss"], "barrier": ln["barrier"],
                                    "relative_barrier": b}
            ok[f"{seed}/{case}"] = b <= barrier_tolerance
            by_case.setdefault(case, []).append(b)
    summary = {case: {"median": float(np.median(v)), "min": float(np.min(v)),
                      "max": float(np.max(v))} for case, v in by_case.items()}
    agree = {case: seed_agreement({s: ok[f"{s}/{case}"] for s in lines}) for case in by_case}
    measured = "; ".join(
        f"{case}: barrier / loss drop median {m['median']:.2g} (range {m['min']:.2g} to "
        f"{m['max']:.2g}), no barrier on {agree[case]}" for case, m in summary.items())
    values = {"per_seed": per, "summary": summary, "seed_agreement": agree}
    definition = (f"barrier = max over t in [0, 1] of L((1-t) theta_small + t theta_large) "
                  f"- max(L(0), L(1)) on the full training set, divided by the loss drop "
                  f"L_init - max(L(0), L(1)); 'no barrier' when <= {barrier_tolerance:g}; "
                  f"endpoints trained when their loss <= {trained_fraction:g} x L_init; "
                  f"{len(lines)} seeds, trained and trained longer")
    med = summary.get("trained longer", next(iter(summary.values())))["median"]
    common = {"values": values, "quote": paper_quote(verdict_c25), "definition": definition,
              "key": f"barrier / loss drop {med:.2g} (median, trained longer)"}
    if untrained:
        e_s, e_l = sgd_epochs
        return inconclusive(
            "C25", measured, "SGD endpoints not trained: " + "; ".join(untrained),
            needed=(f"sgd_epochs = {4 * e_s}, sgd_large_epochs = {4 * e_l} (4x): about "
                    f"{4 * seconds:.0f} s of CPU at the measured {seconds:.0f} s"), **common)
    if all(ok.values()):
        grows = ("" if len(summary) < 2 or summary["trained longer"]["median"]
                 <= summary["trained"]["median"] else
                 f"within {barrier_tolerance:g} of the loss drop on every seed, but the bump "
                 f"grows with training: median {summary['trained']['median']:.2g} -> "
                 f"{summary['trained longer']['median']:.2g}")
        return Verdict("C25", "reproduced", measured, grows, **common)
    failed = [k for k, v in ok.items() if not v]
    detail = ", ".join(f"seed {k.split('/')[0]} {k.split('/')[1]}: "
                       f"{per[k.split('/')[0]][k.split('/')[1]]['relative_barrier']:.2g}"
                       for k in failed)
    if not any(ok.values()):
        return Verdict("C25", "not reproduced", measured,
                       f"barrier above {barrier_tolerance:g} of the loss drop everywhere "
                       f"({detail})", **common)
    return Verdict("C25", "partly", measured,
                   f"flips between seeds or training lengths: barrier above "
                   f"{barrier_tolerance:g} of the loss drop for {detail}", **common)


# --------------------------------------------------------------------------- tie to alpha


def alpha_sweep(params: Params, data: Dataset) -> list[dict]:
    """Exact spectrum at initialisation ``alpha theta_0`` (``T = 1``) for each alpha
    (first seed).

    Returns one dict per alpha: ``alpha``, ``count`` (``None``: edge not resolved),
    ``position``, ``gap``, ``resolution``, ``positive_curvature`` (``Tr H / ||H||_F`` from
    the eigenvalues), ``top`` (the ``2K`` largest eigenvalues) and ``eigenvalues``.
    """
    K = data.num_classes
    out = []
    for a in params.alphas:
        res = spectrum_case(data.X, data.y, K, params.width, seed=params.seeds[0],
                            **{**_case_args(params, K), "max_steps": 0}, alpha=a)
        out.append({"alpha": a, "count": res["count"], "position": res["position"],
                    "gap": res["gap"], "resolution": res["resolution"],
                    "bulk_edge": res["bulk_edge"], "eigenvalues": res["eigenvalues"],
                    "positive_curvature": positive_curvature_of(res["eigenvalues"]),
                    "top": res["eigenvalues"][: 2 * K]})
    return out


# ---- the chapter: run, judge, record, printed lines, plots

#: The top Ritz value of the SLQ run "matches" the exact top eigenvalue within this relative
#: difference (Lanczos converges fastest at the extremes of the spectrum).
RITZ_TOLERANCE = 1e-6

#: What each verdict rests on (the claim file's ``evidence``).
EVIDENCE = {"C24": "exact spectra vs clusters, width and separation on Gaussian clusters, per "
                   "seed (figures 05_cluster_spectra, 05_width_spectra)",
            "C25": "loss on the line between SGD solutions, per seed (figure 05_batch_line)"}


def _count(count: int | None) -> str:
    """A resolved outlier count, or ``?`` where the edge is not resolved."""
    return "?" if count is None else str(count)


def _exp(x: float) -> str:
    """``1e-6`` rather than Python's ``1e-06``."""
    return f"{x:g}".replace("e-0", "e-").replace("e+0", "e+")


def _top(case: Mapping[str, Any], K: int) -> np.ndarray:
    """The top of a spectrum as plotted: the outlier rule's window ``3K`` plus two."""
    return case["eigenvalues"][: 3 * K + 2]


@dataclasses.dataclass
class Results:
    """Everything chapter 05 computes (the output of :func:`run`).

    Attributes:
        params: the parameters as run; device: where it ran; dirs: the results folders.
        data, slq_data: the real-data subsets (``pool`` and ``slq_pool``).
        sweeps: :func:`cluster_sweep` per seed; real: :func:`real_spectra`;
        slq: :func:`slq_validation`; lines: :func:`batch_size_lines` per seed;
        alphas: :func:`alpha_sweep`.
    """

    params: Params
    device: torch.device
    dirs: dict[str, Any]
    data: Dataset
    slq_data: Dataset
    sweeps: dict[int, dict]
    real: list[dict]
    slq: dict
    lines: dict[int, dict]
    alphas: list[dict]

    @property
    def c24(self) -> dict[int, dict]:
        """:func:`summarise_c24` of the sweeps (the per-seed numbers of C24)."""
        return summarise_c24(self.sweeps)

    @property
    def sweep_seconds(self) -> float:
        """Measured wall time of every cluster-sweep spectrum (for the cost estimates)."""
        return sum(c["seconds"] for sw in self.sweeps.values() for part in sw.values()
                   for c in part)

    @property
    def line_seconds(self) -> float:
        """Measured wall time of the SGD runs of C25."""
        return sum(both["seconds"] for both in self.lines.values())

    def header(self) -> str:
        """Profile and device (not compared: the device differs between machines)."""
        return f"profile={self.params.profile}, device={self.device.type}"

    def data_lines(self) -> str:
        """The data of each part of the chapter."""
        p = self.params
        return "\n".join([
            self.data.source,
            f"X {tuple(self.data.X.shape)}, K = {self.data.num_classes} classes",
            f"SLQ net: {self.slq_data.input_shape} inputs, widths {p.slq_widths}",
            f"Gaussian clusters: {p.mixture_samples} samples in R^{p.mixture_dim}; "
            f"seeds {p.seeds}; nets trained to loss <= {p.target_loss:g}"])

    def cluster_lines(self) -> str:
        """The cluster sweep: per seed and K, the counted edge and its resolution."""
        return "\n".join(
            f"seed {s}, K = {c['clusters']:2d}: loss {c['loss']:.2f} after {c['steps']} steps, "
            f"outliers {c['count'] if c['resolved'] else '?'} (edge at m = {c['position']}), "
            f"edge gap {c['gap']:.2g}, largest bulk gap {c['bulk_gap']:.2g}, "
            f"resolution {c['resolution']:.2g}"
            for s, sw in self.sweeps.items() for c in sw["clusters"])

    def width_lines(self) -> str:
        """The width and separation sweeps: counts, outlier means and bulk scales."""
        out = []
        for s, sw in self.sweeps.items():
            out += [f"seed {s}, width {c['width']:3d}: P = {c['P']:5d}, loss {c['loss']:.2f}, "
                    f"outliers {c['count'] if c['resolved'] else '?'}, resolution "
                    f"{c['resolution']:.2g}, outlier mean {c['outlier_mean']:.2g}, bulk scale "
                    f"{c['bulk_std']:.2g}" for c in sw["widths"]]
            out += [f"seed {s}, separation {c['separation']:g}: loss {c['loss']:.2f}, outliers "
                    f"{c['count'] if c['resolved'] else '?'}, outlier mean "
                    f"{c['outlier_mean']:.2g}, bulk scale {c['bulk_std']:.2g}"
                    for c in sw["separations"]]
        return "\n".join(out)

    def real_lines(self) -> str:
        """The real-data spectra (first seed), shown for what they are."""
        return "\n".join(
            f"h = {w['width']:3d}: P = {w['P']:5d}, loss {w['loss']:.2f} after {w['steps']} "
            f"steps, outliers {w['count'] if w['resolved'] else '?'} (edge at m = "
            f"{w['position']}), resolution {w['resolution']:.2g}, top "
            f"{np.round(w['eigenvalues'][:3], 1).tolist()}" for w in self.real)

    def slq_lines(self, *, checked: bool = False) -> str:
        """SLQ against the exact spectrum: raw numbers, or (``checked``) the checks."""
        slq, p = self.slq, self.params
        if not checked:
            return (f"L1 distance {slq['l1']:.4f}; top eigenvalue exact {slq['exact_top']:.6g}, "
                    f"Ritz {slq['ritz_top']:.6g}; larger net P = {slq['big_P']}")
        return "\n".join([
            f"SLQ vs exact density (P = {self.real[0]['P']}): L1 distance below "
            f"{p.slq_l1_tolerance:g}: {slq['l1'] < p.slq_l1_tolerance}",
            f"top Ritz value matches the top eigenvalue to {_exp(RITZ_TOLERANCE)} (relative): "
            f"{abs(slq['ritz_top'] - slq['exact_top']) <= RITZ_TOLERANCE * abs(slq['exact_top'])}",
            f"larger net: P = {slq['big_P']:,}, top Ritz values "
            f"{np.round(np.sort(slq['big_nodes'].max(axis=1))[::-1], 1).tolist()}"])

    def line_lines(self) -> str:
        """C25: per seed and training length, the endpoint losses and the relative barrier."""
        p, out = self.params, []
        for s, both in self.lines.items():
            for case in ("trained", "trained longer"):
                ln = both[case]
                drop = ln["init_loss"] - max(ln["small_loss"], ln["large_loss"])
                out.append(f"seed {s}, {case} (epochs {ln['epochs']}): endpoint losses "
                           f"{ln['small_loss']:.2f} (batch {p.sgd_small_batch}), "
                           f"{ln['large_loss']:.2f} (batch {p.sgd_large_batch}); barrier / loss "
                           f"drop {ln['barrier'] / drop:+.2f}")
        return "\n".join(out)

    def alpha_lines(self) -> str:
        """The spectrum at initialisation across alpha: positive curvature and the edge."""
        return "\n".join(
            f"alpha = {a['alpha']:7.3g}: positive curvature {a['positive_curvature']:+.2f}, "
            f"outliers {_count(a['count'])} (edge at m = {a['position']}), resolution "
            f"{a['resolution']:.2g}" for a in self.alphas)


def run(params: Params, *, progress: bool = False) -> Results:
    """Every computation of chapter 05, each part cached (:func:`computed`) as before.

    Args:
        params: the validated parameters.
        progress: print a line per spectrum of the cluster sweeps.
    """
    from ..notebook import output_dirs, resolve_device

    report = print if progress else None
    with torch_threads(params.torch_threads):
        dev = resolve_device(params.device)
        dirs = output_dirs(params.results_dir)
        cache = dirs["cache"]
        seed = params.seeds[0]
        data = load_real(params.dataset, params.n_samples, params.pool, seed, dev)
        slq_data = load_real(params.dataset, params.slq_samples, params.slq_pool, seed, dev)
        sweeps = computed(params, "clusters",
                          lambda: {s: cluster_sweep(params, dev, s, progress=report)
                                   for s in params.seeds}, cache)
        real = computed(params, "real", lambda: real_spectra(params, data), cache)
        slq = computed(params, "slq", lambda: slq_validation(params, data, real[0], slq_data),
                       cache)
        lines = computed(params, "lines",
                         lambda: {s: batch_size_lines(params, data, s) for s in params.seeds},
                         cache)
        alphas = computed(params, "alphas", lambda: alpha_sweep(params, data), cache)
    return Results(params=params, device=dev, dirs=dirs, data=data, slq_data=slq_data,
                   sweeps=sweeps, real=real, slq=slq, lines=lines, alphas=alphas)


def judge(res: Results) -> list[Verdict]:
    """The verdicts C24 and C25 of ``res``."""
    p = res.params
    return [
        verdict_c24(res.c24, width_clusters=p.width_clusters, count_tolerance=p.count_tolerance,
                    bulk_ratio_tolerance=p.bulk_ratio_tolerance, min_gap=p.min_gap,
                    min_resolution=p.min_resolution, mixture_samples=p.mixture_samples,
                    seconds=res.sweep_seconds),
        verdict_c25({s: {k: both[k] for k in ("trained", "trained longer")}
                     for s, both in res.lines.items()},
                    barrier_tolerance=p.barrier_tolerance, trained_fraction=p.trained_fraction,
                    sgd_epochs=(p.sgd_epochs, p.sgd_large_epochs), seconds=res.line_seconds)]


def record(res: Results, verdicts: Sequence[Verdict]) -> list[Path]:
    """Write each verdict's claim file (for the scorecard)."""
    sources = {"C24": f"Gaussian clusters (seeds {res.params.seeds})", "C25": res.data.source}
    return [record_verdict(v, res.params, evidence=EVIDENCE[v.claim],
                           data_source=sources[v.claim]) for v in verdicts]


def plot_cluster_spectra(res: Results) -> Any:
    """The top eigenvalues of each cluster count, per seed, with the counted edge."""
    import matplotlib.pyplot as plt

    p = res.params
    fig, axes = plt.subplots(1, len(p.seeds), figsize=(4 * len(p.seeds), 3.6), squeeze=False)
    for ax, (s, sw) in zip(axes[0], res.sweeps.items()):
        for c in sw["clusters"]:
            ev = _top(c, c["clusters"])
            ax.semilogy(np.arange(1, ev.size + 1), ev, "o-", ms=3,
                        label=f"K={c['clusters']}: {c['count'] if c['resolved'] else '?'} "
                              f"outliers")
            ax.axvline(c["position"] + 0.5, color=ax.lines[-1].get_color(), ls=":", lw=0.8)
        ax.set(xlabel="rank m", ylabel=r"$\lambda_m$", title=f"seed {s}: top eigenvalues")
        ax.legend(fontsize=8)
    fig.suptitle(f"Gaussian clusters in R^{p.mixture_dim}, width {p.width}, trained to "
                 f"loss {p.target_loss:g} (dotted: counted edge)", fontsize=8)
    fig.tight_layout()
    return saved_figure(fig, "05_cluster_spectra", res.dirs["figures"])


def plot_width_spectra(res: Results) -> Any:
    """Histograms of the exact spectra across widths and across separations (first seed)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    s0 = res.params.seeds[0]
    for c in res.sweeps[s0]["widths"]:
        axes[0].hist(c["eigenvalues"], bins=120, histtype="step", log=True,
                     label=f"h={c['width']} (P={c['P']})")
    for c in res.sweeps[s0]["separations"]:
        axes[1].hist(c["eigenvalues"], bins=120, histtype="step", log=True,
                     label=f"separation {c['separation']:g}")
    axes[0].set(xlabel="eigenvalue", ylabel="count (log)", title="growing width")
    axes[1].set(xlabel="eigenvalue", ylabel="count (log)", title="less separable data")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle(f"exact spectra, {res.params.width_clusters} Gaussian clusters (seed {s0})",
                 fontsize=8)
    fig.tight_layout()
    return saved_figure(fig, "05_width_spectra", res.dirs["figures"])


def plot_real_spectra(res: Results) -> Any:
    """The exact spectra on real data: histograms and the top eigenvalues."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for w in res.real:
        axes[0].hist(w["eigenvalues"], bins=120, histtype="step", log=True,
                     label=f"h={w['width']} (P={w['P']})")
        top = _top(w, res.data.num_classes)
        axes[1].semilogy(np.arange(1, top.size + 1), top, "o-", ms=3, label=f"h={w['width']}")
    axes[0].set(xlabel="eigenvalue", ylabel="count (log)", title="exact spectra, real data")
    axes[1].set(xlabel="rank m", ylabel=r"$\lambda_m$", title="top eigenvalues")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle(f"data: {res.data.source}", fontsize=7)
    fig.tight_layout()
    return saved_figure(fig, "05_real_spectra", res.dirs["figures"])


def plot_slq_density(res: Results) -> Any:
    """SLQ against the broadened exact density, and the SLQ density of the larger net."""
    import matplotlib.pyplot as plt

    slq = res.slq
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    axes[0].semilogy(slq["grid"], np.maximum(slq["exact"], 1e-8),
                     label="exact spectrum, broadened")
    axes[0].semilogy(slq["grid"], np.maximum(slq["slq"], 1e-8), "--", label="SLQ")
    axes[0].set(xlabel="eigenvalue", ylabel="density", ylim=(1e-6, None),
                title=f"validation, P = {res.real[0]['P']}")
    axes[1].semilogy(slq["big_grid"], np.maximum(slq["big_density"], 1e-8))
    axes[1].set(xlabel="eigenvalue", ylabel="density", ylim=(1e-6, None),
                title=f"SLQ density, widths {res.params.slq_widths}, P = {slq['big_P']:,}")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"data: {res.data.source} / {res.slq_data.source}", fontsize=7)
    fig.tight_layout()
    return saved_figure(fig, "05_slq_density", res.dirs["figures"])


def plot_batch_line(res: Results) -> Any:
    """C25: the loss on the line between the SGD solutions, per seed, both lengths."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for ax, case in zip(axes, ("trained", "trained longer")):
        for s, both in res.lines.items():
            ln = both[case]
            ax.plot(ln["t"], ln["losses"] / ln["init_loss"], "o-", ms=3, label=f"seed {s}")
        ax.axvline(0, color="gray", lw=0.5)
        ax.axvline(1, color="gray", lw=0.5)
        ax.set(xlabel=r"$t$  ($\theta = (1-t)\,\theta_{small} + t\,\theta_{large}$)",
               ylabel="training loss / initial loss", yscale="log", title=case)
        ax.legend(fontsize=8)
    fig.suptitle(f"loss on the line between SGD solutions; data: {res.data.source}", fontsize=7)
    fig.tight_layout()
    return saved_figure(fig, "05_batch_line", res.dirs["figures"])


def plot_alpha_outliers(res: Results) -> Any:
    """Positive curvature, outlier edge and its resolution across alpha at initialisation."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    al = [a["alpha"] for a in res.alphas]
    axes[0].semilogx(al, [a["positive_curvature"] for a in res.alphas], "o-")
    axes[0].set(xlabel=r"$\alpha$", ylabel=r"Tr$H$ / $\|H\|_F$", title="positive curvature")
    axes[1].semilogx(al, [a["position"] for a in res.alphas], "o-", label="edge position m")
    axes[1].axhline(res.data.num_classes - 1, color="gray", ls="--", label="K - 1")
    axes[1].set(xlabel=r"$\alpha$", ylabel="m", title="outlier edge")
    axes[1].legend(fontsize=8)
    axes[2].semilogx(al, [a["resolution"] for a in res.alphas], "o-")
    axes[2].axhline(res.params.min_resolution, color="gray", ls="--", label="min_resolution")
    axes[2].set(xlabel=r"$\alpha$", ylabel="edge gap / largest bulk gap", title="resolution")
    axes[2].legend(fontsize=8)
    fig.suptitle(f"exact spectra at initialisation, T = 1; data: {res.data.source}", fontsize=7)
    fig.tight_layout()
    return saved_figure(fig, "05_alpha_outliers", res.dirs["figures"])
