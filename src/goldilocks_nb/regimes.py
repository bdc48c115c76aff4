"""Regimes of gradient descent outside the Goldilocks zone (Section 5, App. E, Figure 7).

The science of chapter 04, as pure functions over a run's log (one row per logged step with
the columns of :data:`goldilocks_nb.training.LOG_COLUMNS` plus ``step``):

* the paper's definitions: the *uniform phase* (mean softmax entropy within a margin of
  ``log K``), a run that *trains* (it left the uniform phase and its held-out accuracy is
  above chance ``1/K`` by a margin), the *divergence regime* (App. E: ``||theta_t||``,
  ``||g_t||`` and ``cos(theta_t, -g_t)`` rise while the softmax is uniform);
* the taxonomy of Figure 7 as one decision over a run's whole trajectory
  (:func:`classify_trajectory`, rules in :data:`REGIME_RULES`);
* the staircase of Figure 8 left: per ``alpha`` the largest trainable ``eta0`` found by
  bisection on a ladder (:func:`bisect_ladder`), its log-log slope with the interval the
  ladder allows (:func:`staircase_slope`) against the paper's linear relation and the
  ``L - 2`` that its derivation ``eta = eta0 alpha^(2-L) < 2/||H||_2`` gives;
* admissibility ``eta ||H||_2 < 2`` with ``||H||_2`` exact (Lanczos) or by the authors'
  20-step power iteration from a non-negative start vector (:func:`power_iteration_sharpness`);
* ROC AUC with a bootstrap interval for predictors of "trains" (:func:`roc_auc`,
  :func:`auc_with_interval`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

__all__ = [
    "PAPER_REGIMES",
    "REGIMES",
    "REGIME_RULES",
    "Definitions",
    "auc_with_interval",
    "bisect_ladder",
    "classify_trajectory",
    "divergence_signature",
    "ladder",
    "left_uniform_step",
    "power_iteration_sharpness",
    "roc_auc",
    "slope_support",
    "staircase_slope",
    "trains_step",
]


@dataclass(frozen=True)
class Definitions:
    """Operational definitions of Section 5's terms, thresholds included.

    Attributes:
        entropy_margin: a run has left the uniform phase at the first logged step whose mean
            softmax entropy is below ``log K - entropy_margin``.
        acc_margin: a run *trains* when, at a logged step after leaving the uniform phase,
            its held-out accuracy is at least ``1/K + acc_margin``.
        rise_tol: the divergence signature needs ``||theta||`` and ``||g||`` to grow by more
            than this relative amount over the uniform phase, and ``cos(theta, -g)`` to rise.
        zero_logit_threshold: share of training samples with all ``K`` logits exactly zero
            that marks the zero-logit regime (0.75, Fig. 8 middle).
        lazy_cos: a trained ``alpha > 1`` run is lazy when ``cos(theta_T, theta_0)`` stays at
            least this **and** its held-out accuracy is below the ``alpha = 1`` control's by
            at least ``lazy_gap`` (the separating evidence, Section 5).
        lazy_gap: see ``lazy_cos``.
    """

    entropy_margin: float = 0.05
    acc_margin: float = 0.05
    rise_tol: float = 0.01
    zero_logit_threshold: float = 0.75
    lazy_cos: float = 0.9
    lazy_gap: float = 0.03

    def __post_init__(self) -> None:
        for name in ("entropy_margin", "acc_margin", "rise_tol", "lazy_gap"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 < v < 1):
                raise ValueError(f"{name} must lie in (0, 1), got {v!r}")
        for name in ("zero_logit_threshold", "lazy_cos"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 < v < 1):
                raise ValueError(f"{name} must lie in (0, 1), got {v!r}")

    def text(self, num_classes: int | None = None) -> str:
        """The definitions in words, with the thresholds (the Verdicts' ``definition``)."""
        chance = "1/K" if num_classes is None else f"1/K = {1 / num_classes:.2f}"
        return (f"uniform phase: mean softmax entropy >= log K - {self.entropy_margin:g}; "
                f"trains: left the uniform phase and held-out accuracy >= {chance} + "
                f"{self.acc_margin:g} at a logged step after that; divergence regime: while "
                f"uniform, ||theta|| and ||g|| grow by > {self.rise_tol:.0%} and "
                f"cos(theta, -g) rises; zero logits: > {self.zero_logit_threshold:.0%} of "
                "training samples with all K logits exactly 0 at the last step; lazy: "
                f"alpha > 1, trains, cos(theta_T, theta_0) >= {self.lazy_cos:g} and held-out "
                f"accuracy >= {self.lazy_gap:g} below the alpha = 1 control's")


def _finite(log: pd.DataFrame) -> pd.DataFrame:
    return log[np.isfinite(log.train_loss) & np.isfinite(log.param_norm)]


def left_uniform_step(log: pd.DataFrame, num_classes: int, d: Definitions) -> int | None:
    """First logged step (finite) whose mean entropy is below ``log K - entropy_margin``."""
    f = _finite(log)
    below = f[f.entropy < math.log(num_classes) - d.entropy_margin]
    return int(below.step.iloc[0]) if len(below) else None


def trains_step(log: pd.DataFrame, num_classes: int, d: Definitions) -> int | None:
    """First logged step at which the run *trains* (Section 5): the softmax is no longer
    uniform and held-out accuracy is at least ``1/K + acc_margin``. ``None``: never."""
    f = _finite(log)
    ok = f[(f.entropy < math.log(num_classes) - d.entropy_margin)
           & (f.test_acc >= 1 / num_classes + d.acc_margin)]
    return int(ok.step.iloc[0]) if len(ok) else None


def divergence_signature(log: pd.DataFrame, num_classes: int, d: Definitions
                         ) -> dict[str, Any]:
    """App. E's divergence regime over a run's uniform phase.

    Paper (App. E): "as long as it stays uniform, the model remains in a divergence regime
    characterized by the increase of parameter norm, gradient norm and the alignment
    cos(theta_t, -g_t)". The window is the finite logged steps from the start up to (not
    including) the step the softmax leaves the uniform phase.

    Returns:
        ``{"uniform_start", "window" (logged steps), "norm_ratio", "grad_ratio",
        "cos_start", "cos_end", "signature"}``; ``signature`` is ``None`` when the run does
        not start uniform or the window has fewer than 2 logged steps.
    """
    f = _finite(log).sort_values("step")
    logK = math.log(num_classes)
    out: dict[str, Any] = {"uniform_start": bool(len(f) and f.entropy.iloc[0]
                                                 >= logK - d.entropy_margin),
                           "window": 0, "norm_ratio": math.nan, "grad_ratio": math.nan,
                           "cos_start": math.nan, "cos_end": math.nan, "signature": None}
    if not out["uniform_start"]:
        return out
    left = left_uniform_step(log, num_classes, d)
    w = f if left is None else f[f.step < left]
    out["window"] = int(len(w))
    if len(w) < 2:
        return out
    a, b = w.iloc[0], w.iloc[-1]
    out.update(norm_ratio=float(b.param_norm / a.param_norm),
               grad_ratio=float(b.grad_norm / a.grad_norm) if a.grad_norm > 0 else math.nan,
               cos_start=float(a.cos_neg_grad), cos_end=float(b.cos_neg_grad))
    out["signature"] = bool(out["norm_ratio"] > 1 + d.rise_tol
                            and out["grad_ratio"] > 1 + d.rise_tol
                            and out["cos_end"] > out["cos_start"])
    return out


#: The outcomes of Figure 7 in the order :func:`classify_trajectory` decides them.
REGIMES = ("return to the zone", "continue diverging", "uniform at budget end", "diverged",
           "zero logits", "lazy", "normal training", "no progress")
#: The outcomes the paper reports (Fig. 7).
PAPER_REGIMES = ("diverged", "zero logits", "lazy", "return to the zone", "continue diverging")

REGIME_RULES = (
    ("return to the zone", "starts in the uniform phase, shows the divergence signature "
                           "there, leaves it and trains"),
    ("continue diverging", "starts uniform, leaves the uniform phase and does not train "
                           "(it may overflow or end in zero logits: it stays trapped)"),
    ("uniform at budget end", "starts uniform and is still uniform at the last step: still "
                              "in the divergence regime, not yet decided by the budget"),
    ("diverged", "starts non-uniform; the loss or a parameter became non-finite"),
    ("zero logits", "starts non-uniform; more than zero_logit_threshold of the training "
                    "samples have all K logits exactly zero at the last step"),
    ("lazy", "starts non-uniform, alpha > 1, trains, cos(theta_T, theta_0) >= lazy_cos and "
             "held-out accuracy >= lazy_gap below the alpha = 1 control's"),
    ("normal training", "any other run that trains"),
    ("no progress", "anything else: finite, does not train, no zero logits"),
)


def classify_trajectory(log: pd.DataFrame, num_classes: int, alpha: float, d: Definitions,
                        *, control_test_acc: float | None = None) -> dict[str, Any]:
    """The Figure 7 outcome of one run, decided over its whole trajectory.

    Paper (Fig. 7): "Homogeneous networks with small-norm initializations diverge as long as
    their output remains uniform and either circle back to the Goldilocks zone and train
    normally, or continue diverging with a potential to develop zero logits and remain
    trapped in that regime."

    Args:
        log: the run's log rows (one run).
        num_classes: ``K``.
        alpha: the run's initialisation scale.
        d: the definitions.
        control_test_acc: best final held-out accuracy of the ``alpha = 1`` control (lazy).

    Returns:
        ``{"regime", "trains", "trains_step", "left_step", "overflow", "final_zero",
        "signature", "final_test_acc", "max_test_acc", "final_cos0"}``.
    """
    log = log.sort_values("step")
    f = _finite(log)
    sig = divergence_signature(log, num_classes, d)
    left = left_uniform_step(log, num_classes, d)
    ts = trains_step(log, num_classes, d)
    overflow = bool(log.diverged.any()) or len(f) < len(log)
    final_zero = float(log.zero_logit_samples.iloc[-1])
    trained = ts is not None
    final_test = float(f.test_acc.iloc[-1]) if len(f) else math.nan
    cos0 = float(f.cos_theta0.iloc[-1]) if len(f) else math.nan
    if sig["uniform_start"]:
        if left is None:
            regime = "uniform at budget end"
        elif trained:
            regime = "return to the zone" if sig["signature"] else "normal training"
        else:
            regime = "continue diverging"
    elif overflow:
        regime = "diverged"
    elif final_zero > d.zero_logit_threshold:
        regime = "zero logits"
    elif trained:
        lazy = (alpha > 1 and cos0 >= d.lazy_cos and control_test_acc is not None
                and control_test_acc - final_test >= d.lazy_gap)
        regime = "lazy" if lazy else "normal training"
    else:
        regime = "no progress"
    return {"regime": regime, "trains": trained, "trains_step": ts, "left_step": left,
            "overflow": overflow, "final_zero": final_zero, "signature": sig["signature"],
            "uniform_start": sig["uniform_start"], "final_test_acc": final_test,
            "max_test_acc": float(f.test_acc.max()) if len(f) else math.nan,
            "final_cos0": cos0,
            "still_growing": bool(len(f) >= 2 and f.param_norm.iloc[-1] >= f.param_norm.max()
                                  and f.param_norm.iloc[-1] > f.param_norm.iloc[0])}


# ----------------------------------------------------------------------------- staircase


def ladder(lo: float, hi: float, factor: float = 2.0) -> list[float]:
    """``lo, lo*factor, ...`` up to ``hi`` (inclusive within rounding), 6 significant digits."""
    if not (0 < lo <= hi) or factor <= 1:
        raise ValueError(f"ladder needs 0 < lo <= hi and factor > 1, got {lo}, {hi}, {factor}")
    n = int(math.floor(math.log(hi / lo) / math.log(factor) + 1e-9)) + 1
    return [float(f"{lo * factor ** i:.6g}") for i in range(n)]


def bisect_ladder(alphas: Sequence[float], rungs: Sequence[float],
                  evaluate: Callable[[list[tuple[float, float]]], Sequence[bool]],
                  start: Mapping[float, int] | None = None) -> dict[float, dict[str, Any]]:
    """Per ``alpha``, the largest rung of ``rungs`` that trains, by bisection (Fig. 8 left).

    Assumes trainability is monotone in ``eta0`` along the ladder (what the staircase
    asserts). All alphas are bisected together: each round asks ``evaluate`` for one
    ``(alpha, eta0)`` per unfinished alpha (so a batched trainer trains them at once).

    Returns:
        per alpha ``{"max_eta0" (None: the lowest rung fails), "first_fail" (None: the
        highest rung trains), "probes" {eta0: trains}}``.
    """
    n = len(rungs)
    state = {float(a): [-1, n] for a in alphas}
    probes: dict[float, dict[float, bool]] = {float(a): {} for a in alphas}
    first = True
    while any(hi - lo > 1 for lo, hi in state.values()):
        ask = {}
        for a, (lo, hi) in state.items():
            if hi - lo > 1:
                mid = (lo + hi) // 2
                if first and start and a in start:
                    mid = min(max(int(start[a]), lo + 1), hi - 1)
                ask[a] = mid
        first = False
        res = evaluate([(a, float(rungs[i])) for a, i in ask.items()])
        for (a, i), ok in zip(ask.items(), res):
            probes[a][float(rungs[i])] = bool(ok)
            state[a][0 if ok else 1] = i
    return {a: {"max_eta0": float(rungs[lo]) if lo >= 0 else None,
                "first_fail": float(rungs[hi]) if hi < n else None, "probes": probes[a]}
            for a, (lo, hi) in state.items()}


def staircase_slope(alphas: Sequence[float], max_eta0: Sequence[float | None],
                    first_fail: Sequence[float | None]) -> dict[str, Any]:
    """Slope of log(max trainable eta0) against log(alpha), with the range the ladder allows.

    The true maximum at each alpha lies in ``[max_eta0, first_fail)``; points censored on
    either side (``None``) are left out. ``slope`` fits the geometric midpoints by least
    squares; ``lo``/``hi`` are the smallest/largest slopes between the end points consistent
    with their intervals.
    """
    pts = [(float(a), float(m), float(f)) for a, m, f in zip(alphas, max_eta0, first_fail)
           if m is not None and f is not None]
    pts.sort()
    out: dict[str, Any] = {"points": len(pts), "alphas": [p[0] for p in pts],
                           "slope": None, "lo": None, "hi": None}
    if len(pts) < 2:
        return out
    x = np.log([p[0] for p in pts])
    y = 0.5 * (np.log([p[1] for p in pts]) + np.log([p[2] for p in pts]))
    out["slope"] = float(np.polyfit(x, y, 1)[0])
    (a0, m0, f0), (a1, m1, f1) = pts[0], pts[-1]
    dx = math.log(a1 / a0)
    out["lo"] = math.log(m1 / f0) / dx
    out["hi"] = math.log(f1 / m0) / dx
    return out


def slope_support(fit: Mapping[str, Any], depth: int) -> str:
    """Which prediction the staircase supports: the paper's written linear relation
    (slope 1) or its derivation's ``L - 2`` (``eta0 < C alpha^(L-2)``).

    Returns one of ``"both"`` (``L = 3``: the same prediction, inside the range),
    ``"linear"``, ``"L-2"``, ``"neither"``, ``"undecided"`` (both inside the range, or no
    fit).
    """
    if fit.get("slope") is None:
        return "undecided"
    lo, hi = fit["lo"], fit["hi"]
    one, lm2 = lo <= 1 <= hi, lo <= depth - 2 <= hi
    if depth - 2 == 1:
        return "both" if one else "neither"
    if one and lm2:
        return "undecided"
    return "linear" if one else "L-2" if lm2 else "neither"


# ----------------------------------------------------------------------------- sharpness


def power_iteration_sharpness(hvp: Callable[[torch.Tensor], torch.Tensor], dim: int, *,
                              iters: int = 20, seed: int = 0,
                              dtype: torch.dtype = torch.float32) -> float:
    """The authors' ``||H||_2`` estimate (their ``trainability.py``): ``iters`` power
    iterations from a non-negative uniform start vector, the Rayleigh quotient of the last
    iterate, stored as ``max(lambda, 1e-15)``.

    Where the spectrum is nearly symmetric (``lambda_min ~ -lambda_max``) the iterate
    oscillates between the two ends and the estimate falls far below ``||H||_2``.
    """
    gen = torch.Generator().manual_seed(int(seed))
    v = torch.rand(dim, generator=gen, dtype=dtype)
    v = v / torch.linalg.vector_norm(v)
    lam = 0.0
    for _ in range(iters):
        w = hvp(v)
        lam = float(torch.dot(v, w))
        nw = torch.linalg.vector_norm(w)
        if not torch.isfinite(nw) or nw == 0:
            break
        v = w / nw
    return max(lam, 1e-15)


# ----------------------------------------------------------------------------- predictors


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """ROC AUC of ``scores`` for ``labels`` (Mann-Whitney: P(score of a positive > score of a
    negative), ties count 1/2). NaN when a class is empty."""
    s = np.asarray(scores, float)
    lab = np.asarray(labels, bool)
    pos, neg = s[lab], s[~lab]
    if not len(pos) or not len(neg):
        return math.nan
    gt = (pos[:, None] > neg[None, :]).sum()
    eq = (pos[:, None] == neg[None, :]).sum()
    return float((gt + 0.5 * eq) / (len(pos) * len(neg)))


def auc_with_interval(scores: Sequence[float], labels: Sequence[bool], *,
                      n_resamples: int = 1000, confidence: float = 0.95,
                      seed: int = 0) -> dict[str, float]:
    """ROC AUC with a percentile bootstrap interval over runs (``scipy.stats.bootstrap``,
    paired resampling of ``(score, label)``). Resamples with one class empty give NaN and
    are dropped by taking the interval over the finite ones."""
    from scipy.stats import bootstrap

    s = np.asarray(scores, float)
    lab = np.asarray(labels, bool)
    auc = roc_auc(s, lab)
    if math.isnan(auc):
        return {"auc": auc, "lo": math.nan, "hi": math.nan}
    res = bootstrap((s, lab.astype(float)), lambda a, b: roc_auc(a, b > 0.5), paired=True,
                    vectorized=False, n_resamples=n_resamples, confidence_level=confidence,
                    method="percentile", random_state=np.random.default_rng(seed))
    dist = np.asarray(res.bootstrap_distribution, float)
    dist = dist[np.isfinite(dist)]
    q = (1 - confidence) / 2
    lo, hi = (np.quantile(dist, [q, 1 - q]) if len(dist) else (math.nan, math.nan))
    return {"auc": auc, "lo": float(lo), "hi": float(hi)}
