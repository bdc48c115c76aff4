"""The Gauss-Newton split over many images past the softmax collapse (Eq. 4, 5; Section 3).

At ``alpha * theta`` (``T = 1``) a homogeneous network of degree ``L`` feeds the softmax
``p' = softmax(alpha^L z)`` with ``z`` the logits at ``theta`` (Eq. 5). The H-term of Eq. 4
is linear in the coefficients ``c = p' - onehot(y)``, so for *any* fixed probability
matrix ``p_inf``

.. math::
    \\mathcal{H}(p') = \\mathcal{H}(p_\\infty) + \\mathcal{H}_c(p' - p_\\infty), \\qquad
    \\mathcal{H}_c(c) = R^\\top \\frac1N\\sum_\\mu\\sum_k c_{\\mu k}\\nabla^2_\\theta z_{\\mu k} R.

We take ``p_inf = onehot(argmax_k z)``, the limit of ``p'`` as ``alpha -> inf``: it does not
depend on ``alpha``, so ``H(p_inf)`` over all ``N`` images is **one** forward-over-reverse
pass, shared by every ``alpha``; the correction ``p' - p_inf`` is non-zero only on images
whose softmax is not yet one-hot, and only those go through the (per-``alpha``) second
pass. The identity is exact; the only approximation is to drop images whose correction is
below a stated tolerance.

**Collapsed image.** Image ``mu`` is *collapsed* at ``alpha`` when its off-maximum softmax
mass ``m_mu = 1 - max_k p'_{mu k} = sum_{k != k*} p'_{mu k}`` (computed without
cancellation) is ``<= tol`` (default :data:`COLLAPSE_TOL` = 1e-20, ``4e-5`` of float64's
``eps``). Its dropped contributions are bounded by

* G-term: ``diag(p) - p p^T`` is PSD with trace ``1 - sum_k p_k^2 <= 2 m``, so
  ``||(J_mu R)^T [diag p - p p^T] (J_mu R)||_2 <= 2 m_mu ||J_mu R||_F^2``; the bound
  ``alpha^(2L-2) / N * sum_dropped 2 m_mu ||J_mu R||_F^2`` is *computed* (``J R`` comes
  out of the shared pass) and returned as ``g_bound``.
* H-term: ``||c_mu||_1 = 2 m_mu``, so the dropped part is at most
  ``alpha^(L-2) * h_mass * max_{mu,k} ||R^T nabla^2 z_{mu k} R||_2`` with
  ``h_mass = (1/N) sum_dropped 2 m_mu <= 2 tol`` (returned): below float64 rounding of
  the collapsed H-term ``alpha^(L-2) H(p_inf)`` unless single-image logit Hessians are
  ``1e4`` times larger than their average.

The G-term is summed over the non-collapsed images only. Everything is accumulated chunk
by chunk, and partial sums are kept at ``checkpoints`` (prefixes ``X[:N_i]``), so one pass
over the largest ``N`` gives the split at every nested ``N_i`` (the zone against ``N``).
The small-``alpha`` case (nothing collapsed) is the plain chunked direct sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from goldilocks_nb.functional import Weights, check_alpha
from goldilocks_nb.models import homogeneity_degree

from ._checks import check_logits, check_result, prepare
from ._passes import logits_chunked, second_order_pass
from .jacobian import DEFAULT_CHUNK_SIZE

__all__ = [
    "COLLAPSE_TOL",
    "CollapsedSplit",
    "collapsed_split",
    "nested_order",
    "off_max_mass",
    "top2_gap",
]

#: An image is collapsed at ``alpha`` when ``1 - max_k p'_k <= COLLAPSE_TOL`` (see module).
COLLAPSE_TOL = 1e-20


def top2_gap(z: torch.Tensor) -> torch.Tensor:
    """``z_(1) - z_(2)``: the gap between each row's two largest logits, shape ``(N,)``."""
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"z must be (N, K) with K >= 2, got shape {tuple(z.shape)}")
    top = z.topk(2, dim=1).values
    return top[:, 0] - top[:, 1]


def off_max_mass(z: torch.Tensor, ratio: float) -> torch.Tensor:
    """``1 - max_k softmax(ratio * z)_k`` per row, without cancellation: with
    ``s = sum_{k != k*} exp(ratio (z_k - z_k*))`` it is ``s / (1 + s)``, shape ``(N,)``."""
    if not (ratio > 0 and math.isfinite(ratio)):
        raise ValueError(f"ratio must be finite and > 0, got {ratio!r}")
    u = ratio * (z - z.max(dim=1, keepdim=True).values)  # <= 0, zero at the maximum
    u = u.scatter(1, u.argmax(dim=1, keepdim=True), float("-inf"))  # drop one maximum
    s = torch.exp(u).sum(dim=1)  # a tied maximum stays in (exp(0) = 1)
    return s / (1.0 + s)


def nested_order(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """A permutation of ``range(N)`` whose every prefix is class-balanced (counts differ
    by at most one while every class still has images): rank ``j`` of each class (in a
    seeded random order within the class) comes before rank ``j + 1`` of any class."""
    y = torch.as_tensor(labels).cpu().long()
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(len(y), generator=gen)
    rank = torch.empty(len(y), dtype=torch.long)
    for k in torch.unique(y):
        members = perm[y[perm] == k]
        rank[members] = torch.arange(len(members))
    tie = torch.rand(len(y), generator=gen)
    key = rank.double() + tie.double() * 0.5  # random class order within a rank
    return torch.argsort(key)


def _groups(live_counts: Sequence[int]) -> list[list[int]]:
    """Pass-B groups of alpha indices: consecutive alphas with live images, a new group
    whenever an alpha has at most half the live images of its group's first one (the live
    sets shrink as alpha grows, so a group's rows are about its first alpha's)."""
    out: list[list[int]] = []
    for i, c in enumerate(live_counts):
        if c == 0:
            continue
        if out and 2 * c > live_counts[out[-1][0]]:
            out[-1].append(i)
        else:
            out.append([i])
    return out


@dataclass(frozen=True)
class CollapsedSplit:
    """``(G', H_term')`` at each ``alpha`` (``T = 1``) and each prefix size ``N_i``.

    Attributes:
        alphas: the scales, increasing.
        checkpoints: the prefix sizes ``N_i``, increasing.
        G, H: tensors ``(len(checkpoints), len(alphas), d, d)``: the projected G-term and
            H-term of the mean loss over ``X[:N_i]`` at ``alpha * theta`` (NaN where
            ``N_i`` exceeds that alpha's ``n_max``).
        near_tie: ``(len(checkpoints), len(alphas))`` integers: images not collapsed
            (-1 where not evaluated).
        g_bound: same shape: the computed bound on the dropped G-term's spectral norm.
        h_mass: same shape: ``(1/N) sum_dropped 2 m_mu`` (see the module docstring).
        min_gap: ``(len(checkpoints),)``: the smallest top-2 logit gap of ``z`` at
            ``theta`` among the first ``N_i`` images (at ``alpha``: times ``alpha^L``).
        tol: the collapse tolerance used.
        degree: ``L``.
    """

    alphas: tuple[float, ...]
    checkpoints: tuple[int, ...]
    G: torch.Tensor
    H: torch.Tensor
    near_tie: torch.Tensor
    g_bound: torch.Tensor
    h_mass: torch.Tensor
    min_gap: torch.Tensor
    tol: float
    degree: int


def _segments(N: int, checkpoints: Sequence[int], chunk_size: int) -> list[slice]:
    """Slices covering ``[0, N)``, none crossing a checkpoint, each ``<= chunk_size``."""
    out, start = [], 0
    for stop in checkpoints:
        for s in range(start, stop, chunk_size):
            out.append(slice(s, min(s + chunk_size, stop)))
        start = stop
    return out


def collapsed_split(
    model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, R: torch.Tensor,
    alphas: Sequence[float], *,
    checkpoints: Sequence[int] | None = None, degree: int | None = None,
    tol: float = COLLAPSE_TOL, chunk_size: int = DEFAULT_CHUNK_SIZE,
    n_max: Sequence[int] | None = None, orthonormal: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> CollapsedSplit:
    """Projected G-term and H-term of the mean loss at ``alpha * theta`` (``T = 1``) over
    ``X[:N_i]`` for every checkpoint ``N_i``, by the collapse split (module docstring).

    Args:
        model: homogeneous network (not mutated).
        params: ``theta`` as ``{name: tensor}``.
        X: inputs ``(N, ...)``; prefixes ``X[:N_i]`` are the nested samples.
        y: integer labels ``(N,)``.
        R: orthonormal directions ``(P, d)``; its dtype sets the computation's.
        alphas: scales ``alpha > 0``.
        checkpoints: increasing prefix sizes in ``[1, N]`` (default: ``[N]``).
        degree: homogeneity degree ``L`` (default ``model.degree``).
        tol: collapse tolerance on ``1 - max_k p'_k``, in ``[0, 1e-8]``.
        chunk_size: images per pass.
        n_max: per alpha (in the order of ``alphas``), the largest prefix it is evaluated
            on (default: all): pass B for that alpha stops there, and its results at
            larger checkpoints are NaN. Lets cheap large alphas run on all images while
            alphas at which every image is live (a full pass each) stop at a smaller ``N``.
        orthonormal: ``R`` must have orthonormal columns. ``False`` admits a stack
            ``[R_1, ..., R_s]`` of several orthonormal subspaces: the diagonal blocks of
            the result are exactly the projections on each ``R_i`` (one shared pass).
        progress: called as ``progress(done, N)`` after each chunk.

    Returns:
        A :class:`CollapsedSplit`.

    Raises:
        ValueError: bad alphas, checkpoints, tol, chunk_size or inputs (named).
        NonFiniteResultError: the softmax input or a result overflows (named).
    """
    raw = [check_alpha(a) for a in alphas]
    if not raw:
        raise ValueError("alphas must be non-empty")
    if n_max is not None and len(n_max) != len(raw):
        raise ValueError(f"n_max must give one size per alpha ({len(raw)}), got {n_max!r}")
    caps = [None] * len(raw) if n_max is None else list(n_max)
    for c in caps:
        if c is not None and (isinstance(c, bool) or int(c) != c or int(c) < 1):
            raise ValueError(f"n_max must hold integers >= 1, got {n_max!r}")
    pairs = sorted(zip(raw, caps), key=lambda t: t[0])
    al = [a for a, _ in pairs]
    if not (0.0 <= float(tol) <= 1e-8):
        raise ValueError(f"tol must be in [0, 1e-8] (float64 rounding scale), got {tol!r}")
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    L = homogeneity_degree(model) if degree is None else int(degree)
    if L < 1:
        raise ValueError(f"degree must be >= 1, got {degree!r}")
    prep = prepare(model, params, X, y, R, orthonormal=orthonormal)
    N, d = prep.N, prep.R.shape[1]
    cps = [N] if checkpoints is None else [int(c) for c in checkpoints]
    if not cps or any(b <= a for a, b in zip(cps, cps[1:])) or cps[0] < 1 or cps[-1] > N:
        raise ValueError(f"checkpoints must increase within [1, N = {N}], got {checkpoints!r}")
    cap = torch.tensor([cps[-1] if c is None else min(int(c), cps[-1]) for _, c in pairs])
    Xp, yp, Rp, th = prep.X, prep.y, prep.R, prep.params
    z = logits_chunked(model, th, Xp[: cps[-1]], chunk_size)
    check_logits(z)
    for a in al:
        check_logits(z, L * math.log10(a), f"alpha^L z (alpha = {a:g}, L = {L})")
    K = z.shape[1]
    n_a = len(al)
    ratios = [a**L for a in al]
    kstar = z.argmax(dim=1)
    onehot_y = torch.nn.functional.one_hot(yp[: cps[-1]], K).to(z.dtype)
    p_inf = torch.nn.functional.one_hot(kstar, K).to(z.dtype)
    mass = torch.stack([off_max_mass(z, r) for r in ratios])  # (n_a, N)
    live = mass > tol  # (n_a, N): not collapsed
    within = torch.arange(cps[-1]).unsqueeze(0) < cap.unsqueeze(1)  # (n_a, N): evaluated
    live_in = live & within.to(live.device)
    gap = top2_gap(z)

    kw = dict(dtype=prep.dtype, device=Xp.device)
    H_inf = torch.zeros(d, d, **kw)
    H_corr = torch.zeros(n_a, d, d, **kw)
    G_sum = torch.zeros(n_a, d, d, **kw)
    gb = torch.zeros(n_a, **kw)
    hm = torch.zeros(n_a, **kw)
    out_G, out_H, out_nt, out_gb, out_hm, out_gap = [], [], [], [], [], []
    cp_set = set(cps)
    for sl in _segments(cps[-1], cps, int(chunk_size)):
        Xc = Xp[sl]
        # pass A: H(p_inf) on every image, and J R for the G-term
        C = (p_inf[sl] - onehot_y[sl]).unsqueeze(0)
        Hc, JR = second_order_pass(model, th, Xc, C, Rp, chunk_size=None, with_jacobian=True)
        H_inf += Hc[0]
        jr2 = JR.pow(2).sum(dim=(1, 2))  # ||J_mu R||_F^2
        lv, ms, wi = live_in[:, sl], mass[:, sl], within[:, sl].to(live.device)
        for i, r in enumerate(ratios):
            keep = lv[i]
            drop = ~keep & wi[i]
            gb[i] += (2 * ms[i][drop] * jr2[drop]).sum()
            hm[i] += (2 * ms[i][drop]).sum()
            if bool(keep.any()):
                p = torch.softmax(r * z[sl][keep], dim=-1)
                J = JR[keep]
                u = torch.einsum("nk,nkd->nd", p, J)
                w = (J - u.unsqueeze(1)) * p.sqrt().unsqueeze(-1)
                flat = w.reshape(-1, d)
                G_sum[i] += flat.T @ flat
        # pass B: the corrections p' - p_inf on the images not collapsed, in groups of
        # alphas with similar live sets (one shared tangent pass per group)
        for cols in _groups([int(lv[i].sum()) for i in range(n_a)]):
            rows = lv[cols].any(dim=0)
            idx = torch.nonzero(rows).squeeze(1)
            zc = z[sl][idx]
            Cb = torch.stack([(torch.softmax(ratios[i] * zc, dim=-1) - p_inf[sl][idx])
                              * lv[i][idx].unsqueeze(1).to(zc.dtype) for i in cols])
            Hb, _ = second_order_pass(model, th, Xc[idx], Cb, Rp, chunk_size=None,
                                      with_jacobian=False)
            for j, i in enumerate(cols):
                H_corr[i] += Hb[j]
        if progress is not None:
            progress(sl.stop, cps[-1])
        if sl.stop in cp_set:
            n = sl.stop
            a_t = torch.tensor(al, **kw)
            g_fac = a_t ** (2 * L - 2) / n
            h_fac = a_t ** (L - 2) / n
            Gn = 0.5 * (G_sum + G_sum.transpose(1, 2)) * g_fac.view(-1, 1, 1)
            Hn = (H_inf.unsqueeze(0) + H_corr) * h_fac.view(-1, 1, 1)
            check_result(Gn, f"the G-term over {n} images")
            check_result(Hn, f"the H-term over {n} images")
            beyond = (cap < n).to(Xp.device)  # alphas not evaluated on this prefix
            nan = torch.tensor(float("nan"), **kw)
            out_G.append(torch.where(beyond.view(-1, 1, 1), nan, Gn))
            out_H.append(torch.where(beyond.view(-1, 1, 1), nan, Hn))
            out_nt.append(torch.where(beyond, -1, live[:, :n].sum(dim=1)))
            out_gb.append(torch.where(beyond, nan, gb * g_fac))
            out_hm.append(torch.where(beyond, nan, hm / n))
            out_gap.append(gap[:n].min())
    return CollapsedSplit(
        alphas=tuple(al), checkpoints=tuple(cps), G=torch.stack(out_G), H=torch.stack(out_H),
        near_tie=torch.stack(out_nt), g_bound=torch.stack(out_gb), h_mass=torch.stack(out_hm),
        min_gap=torch.stack(out_gap), tol=float(tol), degree=L)
