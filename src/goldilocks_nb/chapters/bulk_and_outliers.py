"""Chapter 05, bulk and outliers (Sagun et al. 2017; C24, C25) and the Goldilocks tie.

Exact float64 Hessian spectra of small bias-free ReLU MLPs (``d_in - h - h - K``) on real
Fashion-MNIST (average-pooled to ``28 / pool`` pixels a side) and on Gaussian clusters
(:func:`goldilocks_nb.mixtures.cluster_mixture`), counted with one stated outlier rule
(:func:`goldilocks_nb.spectrum.count_outliers`); the spectral density of LeNet-300-100 by
stochastic Lanczos quadrature, validated on a small net against its exact spectrum;
small- vs large-batch SGD and the loss on the line between them (C25); and, beyond both
papers, the spectrum at initialisation across the scale ``alpha`` at ``T = 1`` next to
the positive curvature of the main paper (Eq. 2; App. B predicts ``K - 1`` outliers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..contract import ChapterParams, Verdict, verdict_from_checks
from ..data import DATASETS, Dataset, load_dataset
from ..functional import Params as Weights
from ..functional import get_params, loss, scale_params
from ..mixtures import cluster_mixture
from ..models import build_model
from ..spectrum import (
    broadened_density,
    count_outliers,
    density_l1,
    exact_hessian_spectrum,
    hessian_operator,
    positive_curvature_of,
    slq_nodes,
)
from ..training import gradient_descent

__all__ = [
    "Params",
    "alpha_sweep",
    "batch_size_line",
    "cluster_sweep",
    "load_real",
    "slq_validation",
    "spectrum_case",
    "verdict_c24",
    "verdict_c25",
    "width_sweep",
]


@dataclass(kw_only=True)
class Params(ChapterParams):
    """Parameters of chapter 05 (defaults: the smoke profile).

    Attributes:
        dataset: real data for the width sweep, SGD line and alpha sweep.
        n_samples: class-balanced training images.
        pool: average-pooling factor of the 28x28 images (4: 7x7 = 49 inputs).
        widths: hidden widths ``h`` of the ``d_in - h - h - K`` MLP, growing (part a).
        width: the fixed hidden width of the cluster sweep, SGD line and alpha sweep.
        train_steps, lr: full-batch gradient descent to the point whose spectrum is taken.
        mixture_dim, mixture_samples: dimension and size of the Gaussian-cluster data.
        clusters: numbers of clusters (= classes) of the cluster sweep (part b).
        separations: mean norms; the first is the one used for ``clusters``.
        min_gap, max_outliers_per_class: the outlier rule (ratio gap, ``<= m K`` outliers).
        slq_widths, slq_pool, slq_samples, slq_steps, slq_probes, slq_sigma: the SLQ
            density (LeNet-300-100 is ``[300, 100]`` with ``pool`` 1); ``slq_sigma`` is
            the Gaussian broadening relative to the spectrum's range;
            ``slq_l1_tolerance`` the largest accepted L1 distance between the SLQ and the
            exact density of the small net.
        sgd_small_batch, sgd_large_batch, sgd_epochs, sgd_large_epochs, sgd_lr: the two
            SGD runs (C25): the large batch gets its own (larger) number of epochs so that
            both reach a low loss.
        line_points, line_extend: points on ``(1 - t) theta_S + t theta_L``,
            ``t in [-extend, 1 + extend]``.
        alphas: initialisation scales of the spectrum-across-alpha sweep (``T = 1``).
        count_tolerance: outlier count accepted within ``[K - 1 - tol, K + tol]``.
        bulk_ratio_tolerance: largest accepted ratio of bulk edges across separations.
        barrier_tolerance: largest accepted barrier relative to the endpoint loss.
        seed: data subset, initialisation and SGD order.
        torch_threads: CPU threads for torch (0: torch's default).
    """

    notebook = "05_bulk_and_outliers"
    dataset: str = "fashion-mnist-embedded"
    n_samples: int = 100
    pool: int = 4
    widths: list[int] = field(default_factory=lambda: [6, 12])
    width: int = 8
    train_steps: int = 150
    lr: float = 0.2
    mixture_dim: int = 16
    mixture_samples: int = 120
    clusters: list[int] = field(default_factory=lambda: [3, 5])
    separations: list[float] = field(default_factory=lambda: [4.0, 1.5])
    min_gap: float = 1.5
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
    line_points: int = 15
    line_extend: float = 0.25
    alphas: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    count_tolerance: int = 1
    bulk_ratio_tolerance: float = 2.0
    barrier_tolerance: float = 0.1
    seed: int = 0
    torch_threads: int = 1

    def check(self) -> None:
        self.require_in("dataset", self.dataset, DATASETS)
        self.require(self.dataset != "gaussian", "dataset", self.dataset, "an image dataset")
        self.require_at_least("n_samples", self.n_samples, 20)
        self.require(self.pool in (1, 2, 4, 7, 14), "pool", self.pool, "one of 1, 2, 4, 7, 14")
        self.require(self.slq_pool in (1, 2, 4, 7, 14), "slq_pool", self.slq_pool,
                     "one of 1, 2, 4, 7, 14")
        self.require(len(self.widths) >= 2 and self.widths == sorted(set(self.widths)),
                     "widths", self.widths, "at least two increasing widths")
        for name in ("widths", "width", "train_steps", "mixture_samples", "slq_widths",
                     "slq_samples", "slq_probes", "sgd_small_batch", "sgd_epochs",
                     "sgd_large_epochs",
                     "max_outliers_per_class"):
            self.require_at_least(name, getattr(self, name), 1)
        self.require(len(self.slq_widths) >= 1, "slq_widths", self.slq_widths, "non-empty")
        self.require_positive("lr", self.lr)
        self.require_positive("sgd_lr", self.sgd_lr)
        self.require_at_least("mixture_dim", self.mixture_dim, max(self.clusters, default=2))
        self.require(len(self.clusters) >= 2, "clusters", self.clusters, "at least two counts")
        self.require_at_least("clusters", self.clusters, 2)
        self.require(len(self.separations) >= 2, "separations", self.separations,
                     "at least two values")
        self.require_positive("separations", self.separations)
        self.require(self.min_gap > 1, "min_gap", self.min_gap, "> 1")
        self.require_at_least("slq_steps", self.slq_steps, 2)
        self.require_positive("slq_sigma", self.slq_sigma)
        self.require_positive("slq_l1_tolerance", self.slq_l1_tolerance)
        self.require(self.sgd_small_batch < self.sgd_large_batch <= self.n_samples,
                     "sgd_large_batch", self.sgd_large_batch,
                     f"> sgd_small_batch ({self.sgd_small_batch}) and <= n_samples "
                     f"({self.n_samples})")
        self.require_at_least("line_points", self.line_points, 3)
        self.require(self.line_extend >= 0, "line_extend", self.line_extend, ">= 0")
        self.require(len(self.alphas) >= 2, "alphas", self.alphas, "at least two scales")
        self.require_positive("alphas", self.alphas)
        self.require_at_least("count_tolerance", self.count_tolerance, 0)
        self.require(self.bulk_ratio_tolerance >= 1, "bulk_ratio_tolerance",
                     self.bulk_ratio_tolerance, ">= 1")
        self.require_positive("barrier_tolerance", self.barrier_tolerance)
        self.require_at_least("seed", self.seed, 0)
        self.require_at_least("torch_threads", self.torch_threads, 0)


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


def spectrum_case(X: torch.Tensor, y: torch.Tensor, num_classes: int, width: int, *,
                  steps: int, lr: float, seed: int, min_gap: float, max_outliers: int,
                  alpha: float = 1.0) -> dict:
    """Train ``d_in - h - h - K`` by full-batch GD, then its exact spectrum and outliers.

    Returns a dict with ``eigenvalues`` (descending), ``P``, ``loss`` (final training
    loss), ``count``, ``bulk_edge``, ``gap`` (the outlier rule's fields), ``bulk_std``
    (standard deviation of the eigenvalues without the top ``max_outliers``, a bulk scale
    that does not depend on the rule's count) and ``params`` (the trained point; the
    architecture is rebuilt from ``width`` and the seed where it is needed).
    ``steps = 0`` takes the spectrum at the (alpha-scaled) initialisation.
    """
    net = build_model("mlp", seed=seed, input_shape=tuple(X.shape[1:]), widths=[width, width],
                      num_classes=num_classes, dtype=torch.float64, device=X.device)
    theta = scale_params(get_params(net), alpha)
    if steps > 0:
        theta = gradient_descent(net, theta, X, y, lr=lr, steps=steps,
                                 record_every=steps).final
    with torch.no_grad():
        final_loss = float(loss(net, theta, X, y))
    ev = exact_hessian_spectrum(net, theta, X, y)
    split = count_outliers(ev, max_outliers=max_outliers, min_gap=min_gap)
    return {"eigenvalues": ev, "P": int(ev.size), "loss": final_loss, "count": split.count,
            "bulk_edge": split.bulk_edge, "gap": split.gap,
            "bulk_std": float(np.std(ev[max_outliers:])),
            "params": theta}


def width_sweep(params: Params, data: Dataset) -> list[dict]:
    """Part (a): fixed real data, growing width; one :func:`spectrum_case` per width."""
    K = data.num_classes
    return [{"width": h, **spectrum_case(
        data.X, data.y, K, h, steps=params.train_steps, lr=params.lr, seed=params.seed,
        min_gap=params.min_gap, max_outliers=params.max_outliers_per_class * K)}
        for h in params.widths]


def cluster_sweep(params: Params, device: torch.device) -> list[dict]:
    """Part (b): fixed width, Gaussian clusters; more clusters (at the first separation),
    then less separable (at the largest cluster count).

    Returns one dict per case with ``clusters``, ``separation`` and the
    :func:`spectrum_case` fields.
    """
    K_max = max(params.clusters)
    cases = [(K, params.separations[0]) for K in params.clusters]
    cases += [(K_max, s) for s in params.separations[1:]]
    out = []
    for K, sep in cases:
        X, y = cluster_mixture(params.mixture_samples, K, params.mixture_dim, separation=sep,
                               seed=params.seed)
        res = spectrum_case(X.to(device), y.to(device), K, params.width,
                            steps=params.train_steps, lr=params.lr, seed=params.seed,
                            min_gap=params.min_gap,
                            max_outliers=params.max_outliers_per_class * K)
        out.append({"clusters": K, "separation": sep, **res})
    return out


def slq_validation(params: Params, data: Dataset, small_case: dict, slq_data: Dataset
                   ) -> dict:
    """SLQ density of the small net vs its exact spectrum, then SLQ of the larger net.

    Both densities are broadened by the same Gaussian of width ``slq_sigma`` times the
    exact spectrum's range. Returns ``grid``, ``exact``/``slq`` densities and their L1
    distance, the exact and Ritz top eigenvalues, and for the larger net (``slq_widths``
    on ``slq_data``, at initialisation) its ``P``, nodes, weights and density.
    """
    ev = small_case["eigenvalues"]
    small = build_model("mlp", seed=params.seed, input_shape=data.input_shape,
                        widths=[small_case["width"]] * 2, num_classes=data.num_classes,
                        dtype=torch.float64, device=data.X.device)
    op, P = hessian_operator(small, small_case["params"], data.X, data.y)
    steps = min(params.slq_steps, P)
    nodes, weights = slq_nodes(op, P, num_probes=params.slq_probes, steps=steps,
                               seed=params.seed, device=data.X.device)
    span = float(ev[0] - ev[-1])
    sigma = params.slq_sigma * span
    grid = np.linspace(ev[-1] - 0.05 * span, ev[0] + 0.05 * span, 600)
    exact = broadened_density(ev, None, grid, sigma)
    slq = broadened_density(nodes, weights, grid, sigma)

    net = build_model("mlp", seed=params.seed, input_shape=slq_data.input_shape,
                      widths=params.slq_widths, num_classes=slq_data.num_classes,
                      dtype=torch.float64, device=slq_data.X.device)
    big_op, big_P = hessian_operator(net, get_params(net), slq_data.X, slq_data.y)
    big_nodes, big_weights = slq_nodes(big_op, big_P, num_probes=params.slq_probes,
                                       steps=params.slq_steps, seed=params.seed,
                                       device=slq_data.X.device)
    big_span = float(big_nodes.max() - big_nodes.min())
    big_grid = np.linspace(big_nodes.min() - 0.05 * big_span, big_nodes.max() + 0.05 * big_span,
                           600)
    big_density = broadened_density(big_nodes, big_weights, big_grid, params.slq_sigma * big_span)
    return {"grid": grid, "exact": exact, "slq": slq, "l1": density_l1(grid, exact, slq),
            "exact_top": float(ev[0]), "ritz_top": float(nodes.max()),
            "big_P": big_P, "big_nodes": big_nodes, "big_weights": big_weights,
            "big_grid": big_grid, "big_density": big_density}


def verdict_c24(width_counts: list[int], width_bulk_scales: list[float], num_classes: int,
                cluster_counts: dict[int, int], separation_bulk_scales: list[float], *,
                count_tolerance: int, bulk_ratio_tolerance: float) -> Verdict:
    """C24: bulk near zero plus outliers whose number tracks the classes/clusters.

    Checks: (1) outlier count independent of width (spread ``<= count_tolerance``);
    (2) the real-data counts lie in ``[K - 1 - tol, K + tol]``; (3) each cluster count
    ``K`` gives a count in ``[K - 1 - tol, K + tol]``; (4) across separations the bulk
    scale (``bulk_std`` of :func:`spectrum_case`) changes by at most a factor
    ``bulk_ratio_tolerance``. Core: (1) and (3). ``width_bulk_scales`` are reported.
    """
    tol = count_tolerance

    def tracks(count: int, K: int) -> bool:
        return K - 1 - tol <= count <= K + tol

    spread = max(width_counts) - min(width_counts)
    edges = np.asarray(separation_bulk_scales, dtype=float)
    ratio = float(edges.max() / edges.min()) if edges.min() > 0 else float("inf")
    checks = {
        f"count spread over widths {spread} <= {tol}": spread <= tol,
        f"real-data counts {width_counts} in [K-1-{tol}, K+{tol}] for K={num_classes}":
            all(tracks(c, num_classes) for c in width_counts),
        "cluster counts " + ", ".join(f"K={K}: {c}" for K, c in cluster_counts.items())
        + f" in [K-1-{tol}, K+{tol}]": all(tracks(c, K) for K, c in cluster_counts.items()),
        f"bulk scale ratio across separations {ratio:.3g} <= {bulk_ratio_tolerance:g}":
            ratio <= bulk_ratio_tolerance,
    }
    keys = list(checks)
    measured = (f"outliers vs width {width_counts} (K={num_classes}; bulk scale "
                + ", ".join(f"{e:.3g}" for e in width_bulk_scales) + "); vs clusters "
                + ", ".join(f"{K}->{c}" for K, c in cluster_counts.items())
                + f"; bulk-scale ratio across separations {ratio:.3g}")
    return verdict_from_checks("C24", checks, measured, core=(keys[0], keys[2]),
                               values={"width_counts": list(width_counts),
                                       "width_bulk_scales": list(width_bulk_scales),
                                       "cluster_counts": {str(k): v for k, v in
                                                          cluster_counts.items()},
                                       "separation_bulk_scale_ratio": ratio})


# --------------------------------------------------------------------------- C25


def _sgd(model, theta: Weights, X, y, *, batch: int, epochs: int, lr: float,
         gen: torch.Generator) -> Weights:
    from ..training import loss_and_gradient

    theta = {k: v.detach().clone() for k, v in theta.items()}
    N = X.shape[0]
    for _ in range(epochs):
        order = torch.randperm(N, generator=gen).to(X.device)
        for start in range(0, N - batch + 1, batch):
            idx = order[start:start + batch]
            g, _ = loss_and_gradient(model, theta, X[idx], y[idx])
            theta = {k: theta[k] - lr * g[k] for k in theta}
    return theta


def batch_size_line(params: Params, data: Dataset) -> dict:
    """Small- and large-batch SGD from one initialisation; the loss on the line between.

    The small-batch run takes ``sgd_epochs`` epochs, the large-batch run
    ``sgd_large_epochs``, both at rate ``sgd_lr``. Returns ``t``, ``losses`` on
    ``(1 - t) theta_S + t theta_L``, the
    endpoint losses, the initial loss and the barrier ``max_{t in [0,1]} L(t) -
    max(L(0), L(1))`` (negative: the line dips below both ends).
    """
    K = data.num_classes
    net = build_model("mlp", seed=params.seed, input_shape=data.input_shape,
                      widths=[params.width, params.width], num_classes=K,
                      dtype=torch.float64, device=data.X.device)
    theta0 = get_params(net)
    small = _sgd(net, theta0, data.X, data.y, batch=params.sgd_small_batch,
                 epochs=params.sgd_epochs, lr=params.sgd_lr,
                 gen=torch.Generator().manual_seed(params.seed))
    large = _sgd(net, theta0, data.X, data.y, batch=params.sgd_large_batch,
                 epochs=params.sgd_large_epochs, lr=params.sgd_lr,
                 gen=torch.Generator().manual_seed(params.seed + 1))
    t = np.linspace(-params.line_extend, 1 + params.line_extend, params.line_points)
    t = np.union1d(t, [0.0, 1.0])
    with torch.no_grad():
        losses = np.array([float(loss(net, {k: (1 - s) * small[k] + s * large[k] for k in small},
                                      data.X, data.y)) for s in t])
        init_loss = float(loss(net, theta0, data.X, data.y))
    inside = (t >= 0) & (t <= 1)
    ends = max(losses[t == 0][0], losses[t == 1][0])
    return {"t": t, "losses": losses, "small_loss": float(losses[t == 0][0]),
            "large_loss": float(losses[t == 1][0]), "init_loss": init_loss,
            "barrier": float(losses[inside].max() - ends),
            "distance": float(torch.sqrt(sum(((small[k] - large[k]) ** 2).sum() for k in small)))}


def verdict_c25(small_loss: float, large_loss: float, barrier: float, init_loss: float, *,
                barrier_tolerance: float) -> Verdict:
    """C25: no barrier on the line between small- and large-batch solutions.

    Reproduced when ``barrier <= barrier_tolerance * max(endpoint losses)``; partly when
    the barrier is larger but the line stays below half the initial loss (one low
    region, a bump inside it); not reproduced otherwise.
    """
    ends = max(small_loss, large_loss)
    rel = barrier / ends if ends > 0 else float("inf")
    measured = (f"endpoint losses {small_loss:.3g} (small batch), {large_loss:.3g} (large "
                f"batch); barrier {barrier:.3g} = {rel:.3g} x endpoint; initial loss "
                f"{init_loss:.3g}")
    values = {"small_loss": small_loss, "large_loss": large_loss, "barrier": barrier,
              "relative_barrier": rel, "init_loss": init_loss}
    if rel <= barrier_tolerance:
        return Verdict("C25", "reproduced", measured, "", values)
    if ends + barrier < 0.5 * init_loss:
        return Verdict("C25", "partly", measured,
                       f"barrier {rel:.3g} x endpoint exceeds {barrier_tolerance:g}, but the "
                       f"line peaks at {ends + barrier:.3g} < half the initial loss "
                       f"{init_loss:.3g}", values)
    return Verdict("C25", "not reproduced", measured,
                   f"barrier {rel:.3g} x endpoint exceeds {barrier_tolerance:g} and the line "
                   f"peaks at {ends + barrier:.3g} >= half the initial loss {init_loss:.3g}",
                   values)


# --------------------------------------------------------------------------- tie to alpha


def alpha_sweep(params: Params, data: Dataset) -> list[dict]:
    """Exact spectrum at initialisation ``alpha theta_0`` (``T = 1``) for each alpha.

    Returns one dict per alpha: ``alpha``, ``count``, ``gap``, ``bulk_edge``,
    ``positive_curvature`` (``Tr H / ||H||_F`` from the eigenvalues), ``top`` (the
    ``2K`` largest eigenvalues) and ``eigenvalues``.
    """
    K = data.num_classes
    out = []
    for a in params.alphas:
        res = spectrum_case(data.X, data.y, K, params.width, steps=0, lr=params.lr,
                            seed=params.seed, min_gap=params.min_gap,
                            max_outliers=params.max_outliers_per_class * K, alpha=a)
        out.append({"alpha": a, "count": res["count"], "gap": res["gap"],
                    "bulk_edge": res["bulk_edge"], "eigenvalues": res["eigenvalues"],
                    "positive_curvature": positive_curvature_of(res["eigenvalues"]),
                    "top": res["eigenvalues"][: 2 * K]})
    return out
