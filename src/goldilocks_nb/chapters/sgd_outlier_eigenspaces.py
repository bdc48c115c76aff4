"""Chapter 06, SGD aligns with the outlier eigenspaces (Ben Arous et al. 2023; C26, C27).

Online SGD (one fresh sample per step, rate ``lr_scale / d``) on (i) the ``k``-class
Gaussian mixture with a softmax classifier and L2 penalty ``beta`` (their Fig. 2.1-2.3)
and (ii) the XOR Gaussian mixture with a two-layer ReLU net of width ``K`` (Fig. 2.4-2.5).
At checkpoints the empirical Hessian and G-matrix blocks on a held-out sample
(:mod:`goldilocks_nb.softmax_regression`, closed forms tested against the engine's
autodiff Hessian) are diagonalised and each weight vector's fraction inside their top
eigenspace is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..contract import ChapterParams, Verdict, verdict_from_checks
from ..mixtures import axis_means, sample_gmm, sample_xor, xor_means
from ..softmax_regression import (
    alignment,
    softmax_g_block,
    softmax_hessian_block,
    softmax_sgd_step,
    top_eigenspace,
    xor_blocks,
    xor_sgd_step,
)
from ..spectrum import count_outliers

__all__ = ["Params", "first_time_above", "gmm_run", "verdict_c26", "verdict_c27", "xor_run"]


@dataclass(kw_only=True)
class Params(ChapterParams):
    """Parameters of chapter 06 (defaults: the smoke profile).

    Attributes:
        k, d: classes and dimension of the Gaussian mixture (paper: 10, 1000).
        snr: the signal-to-noise ratio ``lambda`` (samples ``mu_a + N(0, I/lambda)``).
        beta: L2 penalty of both models.
        lr_scale: the SGD rate is ``lr_scale / d``.
        train_time: training length in rescaled time ``l * delta`` (paper: 50, i.e. 50 d
            steps at ``delta = 1/d``).
        heldout_per_dim: held-out samples per dimension (``M = heldout_per_dim * d``) for
            the empirical matrices.
        checkpoints: number of evaluation times (evenly spaced, including 0 and the end).
        xor_width, xor_d, xor_train_time: the XOR net's hidden width ``K`` (paper 20), its
            dimension and training time.
        align_threshold: alignment counted as reached.
        soon_fraction: "soon after the start": reached within this fraction of training.
        min_gap: the outlier rule's ratio (:func:`goldilocks_nb.spectrum.count_outliers`).
        seed: data, initialisation and SGD samples.
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
    checkpoints: int = 6
    xor_width: int = 20
    xor_d: int = 60
    xor_train_time: float = 30.0
    align_threshold: float = 0.9
    soon_fraction: float = 0.5
    min_gap: float = 1.5
    seed: int = 0
    torch_threads: int = 1

    def check(self) -> None:
        self.require_at_least("k", self.k, 2)
        self.require(self.d > self.k, "d", self.d, f"> k ({self.k})")
        for name in ("snr", "beta", "lr_scale", "train_time", "xor_train_time"):
            self.require_positive(name, getattr(self, name))
        self.require_at_least("heldout_per_dim", self.heldout_per_dim, 1)
        self.require_at_least("checkpoints", self.checkpoints, 2)
        self.require_at_least("xor_width", self.xor_width, 10)
        self.require_at_least("xor_d", self.xor_d, 3)
        self.require(0 < self.align_threshold < 1, "align_threshold", self.align_threshold,
                     "in (0, 1)")
        self.require(0 < self.soon_fraction <= 1, "soon_fraction", self.soon_fraction,
                     "in (0, 1]")
        self.require(self.min_gap > 1, "min_gap", self.min_gap, "> 1")
        self.require_at_least("seed", self.seed, 0)
        self.require_at_least("torch_threads", self.torch_threads, 0)


def _schedule(d: int, train_time: float, checkpoints: int) -> tuple[int, list[int]]:
    steps = int(round(train_time * d))
    return steps, sorted({int(round(s)) for s in np.linspace(0, steps, checkpoints)})


def gmm_run(params: Params) -> dict:
    """Online SGD on the ``k``-GMM; alignments and block spectra at the checkpoints.

    Returns ``times`` (``l / d``), ``align_H``/``align_G`` (``(checkpoints, k)``: fraction of
    ``x^c`` in the top-``k`` eigenspace of ``\\nabla^2_{cc} \\hat R`` / ``\\hat G_{cc}``),
    ``eig_H11`` (``(checkpoints, 3k)`` top eigenvalues of the class-1 block), ``overlap``
    (``(checkpoints, k)``: ``x^1 . mu_a``), and at the end ``x1`` with the top-``k``
    eigenvectors ``U_H11``, ``U_G11``; ``accuracy`` on the held-out sample at the end.
    """
    k, d, beta = params.k, params.d, params.beta
    gen = torch.Generator().manual_seed(params.seed)
    means = axis_means(k, d)
    Yh, ah = sample_gmm(means, params.heldout_per_dim * d, snr=params.snr, gen=gen)
    W = torch.randn(k, d, generator=gen, dtype=torch.float64) / d**0.5
    steps, marks = _schedule(d, params.train_time, params.checkpoints)
    lr = params.lr_scale / d
    out = {"times": [], "align_H": [], "align_G": [], "eig_H11": [], "overlap": []}
    for step in range(steps + 1):
        if step in marks:
            aH, aG = [], []
            for c in range(k):
                vals, U = top_eigenspace(softmax_hessian_block(W, Yh, c, beta), k)
                aH.append(alignment(W[c], U))
                valsG, UG = top_eigenspace(softmax_g_block(W, Yh, ah, c, beta), k)
                aG.append(alignment(W[c], UG))
                if c == 0:
                    out["eig_H11"].append(vals[: 3 * k].numpy())
                    U11, UG11 = U, UG
            out["times"].append(step / d)
            out["align_H"].append(aH)
            out["align_G"].append(aG)
            out["overlap"].append((means @ W[0]).numpy())
        if step < steps:
            Y, a = sample_gmm(means, 1, snr=params.snr, gen=gen)
            W = softmax_sgd_step(W, Y, a, lr, beta)
    acc = float(((Yh @ W.T).argmax(1) == ah).double().mean())
    return {"times": np.array(out["times"]), "align_H": np.array(out["align_H"]),
            "align_G": np.array(out["align_G"]), "eig_H11": np.array(out["eig_H11"]),
            "overlap": np.array(out["overlap"]), "x1": W[0].numpy(), "U_H11": U11.numpy(),
            "U_G11": UG11.numpy(), "accuracy": acc, "means": means.numpy()}


def xor_run(params: Params) -> dict:
    """Online SGD of the two-layer ReLU net on the XOR mixture; block alignments/spectra.

    Returns ``times``; ``align_W_H``/``align_W_G`` (``(checkpoints, K)``: fraction of row
    ``W_i`` in the top-2 eigenspace of its Hessian / G block); ``align_v_H``/``align_v_G``
    (fraction of ``v`` in the top-4 eigenspace of the vv blocks); ``eig_vv_H``/``eig_vv_G``
    (all ``K`` eigenvalues, descending); ``outliers_vv`` (the outlier rule on the
    Hessian vv block, ``max_outliers = K // 2``); ``accuracy`` (held-out, per checkpoint).
    """
    K, d, beta = params.xor_width, params.xor_d, params.beta
    gen = torch.Generator().manual_seed(params.seed + 1)
    means = xor_means(d)
    Yh, yh, _ = sample_xor(means, params.heldout_per_dim * d, snr=params.snr, gen=gen)
    W = torch.randn(K, d, generator=gen, dtype=torch.float64) / d**0.5
    v = torch.randn(K, generator=gen, dtype=torch.float64) / K**0.5
    steps, marks = _schedule(d, params.xor_train_time, params.checkpoints)
    lr = params.lr_scale / d
    keys = ("times", "align_W_H", "align_W_G", "align_v_H", "align_v_G", "eig_vv_H",
            "eig_vv_G", "outliers_vv", "accuracy")
    out: dict = {key: [] for key in keys}
    for step in range(steps + 1):
        if step in marks:
            b = xor_blocks(W, v, Yh, yh, beta)
            out["align_W_H"].append([alignment(W[i], top_eigenspace(b["H_W"][i], 2)[1])
                                     for i in range(K)])
            out["align_W_G"].append([alignment(W[i], top_eigenspace(b["G_W"][i], 2)[1])
                                     for i in range(K)])
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
            Y, y, _ = sample_xor(means, 1, snr=params.snr, gen=gen)
            W, v = xor_sgd_step(W, v, Y, y, lr, beta)
    return {key: np.array(val) for key, val in out.items()}


def first_time_above(times: np.ndarray, values: np.ndarray, threshold: float) -> float | None:
    """First checkpoint time from which ``values`` (``(T,)`` or ``(T, n)``: all columns)
    stays ``>= threshold`` to the end; ``None`` if never."""
    v = np.asarray(values)
    ok = v >= threshold if v.ndim == 1 else (v >= threshold).all(axis=1)
    for i in range(len(ok)):
        if ok[i:].all():
            return float(times[i])
    return None


def verdict_c26(final_align_H: float, final_align_G: float, time_H: float | None,
                time_G: float | None, train_time: float, top_k_gap: float, top_gap: float, *,
                align_threshold: float, soon_fraction: float, min_gap: float) -> Verdict:
    """C26: each ``x^c`` lies in the top-``k`` eigenspace of its Hessian and G blocks soon
    after the start; the top eigenvalue separates.

    Args:
        final_align_H, final_align_G: smallest alignment over classes at the end.
        time_H, time_G: first time from which all classes stay aligned (``None``: never).
        top_k_gap: ``lambda_k / lambda_{k+1}`` of the class-1 Hessian block at the end.
        top_gap: ``lambda_1 / lambda_2`` of that block at the end.

    Checks: alignments ``>= align_threshold`` (core), reached by
    ``soon_fraction * train_time``, both gaps ``>= min_gap``.
    """
    soon = soon_fraction * train_time

    def when(t: float | None) -> str:
        return "never" if t is None else f"t = {t:.3g}"

    checks = {
        f"Hessian alignment {final_align_H:.3g} >= {align_threshold:g}":
            final_align_H >= align_threshold,
        f"G alignment {final_align_G:.3g} >= {align_threshold:g}":
            final_align_G >= align_threshold,
        f"aligned from {when(time_H)} (H) and {when(time_G)} (G), within t <= {soon:.3g}":
            time_H is not None and time_G is not None and max(time_H, time_G) <= soon,
        f"top-k separated: lambda_k / lambda_k+1 = {top_k_gap:.3g} >= {min_gap:g}":
            top_k_gap >= min_gap,
        f"top eigenvalue separated: lambda_1 / lambda_2 = {top_gap:.3g} >= {min_gap:g}":
            top_gap >= min_gap,
    }
    keys = list(checks)
    measured = (f"min alignment over classes at the end {final_align_H:.3g} (Hessian), "
                f"{final_align_G:.3g} (G); >= {align_threshold:g} from {when(time_H)} / "
                f"{when(time_G)} of {train_time:g}; lambda_1/lambda_2 = {top_gap:.3g}, "
                f"lambda_k/lambda_k+1 = {top_k_gap:.3g}")
    return verdict_from_checks("C26", checks, measured, core=(keys[0], keys[1]),
                               values={"align_H": final_align_H, "align_G": final_align_G,
                                       "time_H": time_H, "time_G": time_G,
                                       "top_k_gap": top_k_gap, "top_gap": top_gap})


def verdict_c27(mean_align_W_H: float, mean_align_W_G: float, align_v_H: float,
                outliers_init: int, outliers_end: int, *, align_threshold: float) -> Verdict:
    """C27: first-layer rows in the top-2 eigenspaces of their blocks, ``v`` in the top-4
    of the vv block, vv-block outliers 1 at initialisation and 4 after training.

    Checks: the three alignments (end of training, mean over rows for ``W``) ``>=
    align_threshold``, outliers ``1 -> 4``. Core: ``v`` alignment and the 4 outliers.
    """
    checks = {
        f"first-layer alignment (Hessian) {mean_align_W_H:.3g} >= {align_threshold:g}":
            mean_align_W_H >= align_threshold,
        f"first-layer alignment (G) {mean_align_W_G:.3g} >= {align_threshold:g}":
            mean_align_W_G >= align_threshold,
        f"second-layer alignment {align_v_H:.3g} >= {align_threshold:g}":
            align_v_H >= align_threshold,
        f"vv outliers at init {outliers_init} == 1": outliers_init == 1,
        f"vv outliers after training {outliers_end} == 4": outliers_end == 4,
    }
    keys = list(checks)
    measured = (f"mean first-layer alignment {mean_align_W_H:.3g} (Hessian), "
                f"{mean_align_W_G:.3g} (G); v in top-4 {align_v_H:.3g}; vv outliers "
                f"{outliers_init} -> {outliers_end}")
    return verdict_from_checks("C27", checks, measured, core=(keys[2], keys[4]),
                               values={"align_W_H": mean_align_W_H, "align_W_G": mean_align_W_G,
                                       "align_v_H": align_v_H, "outliers_init": outliers_init,
                                       "outliers_end": outliers_end})
