"""Curvature across initialisation scales and temperatures via the rescaling law (Eq. 5).

For a network homogeneous of degree ``L`` (``f_{alpha theta} = alpha^L f_theta``),
logits and Jacobians at ``alpha theta`` follow from those at ``theta``:
``z' = alpha^L z`` and ``J' R = alpha^(L-1) J R``. With ``p' = softmax(alpha^L z / T)``,

.. math::
    \\mathcal{G}' = \\frac{\\alpha^{2L-2}}{T^2}\\,\\mathcal{G}(p'), \\qquad
    \\mathcal{H}' = \\frac{\\alpha^{L-2}}{T}\\,\\mathcal{H}(p'), \\qquad
    H' = \\mathcal{G}' + \\mathcal{H}' \\qquad \\text{(Eq. 5)},

where ``G(p) = (1/N) sum (J R)^T [diag p - p p^T] (J R)`` and
``H(p) = R^T (1/N) sum (p - onehot(y))_k nabla^2 z_k R`` are evaluated at ``theta``.
So ``z`` and ``J R`` are computed once per subspace; the G-term at every ``(alpha, T)``
is closed-form, and the H-term needs one pass per distinct ``alpha^L / T`` (cached),
several of them sharing one forward tangent pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from goldilocks_nb.functional import Params, check_alpha
from goldilocks_nb.models import homogeneity_degree

from ._checks import check_batch, check_subspace, check_temperature, num_params, prepare
from ._passes import logits_chunked, second_order_pass
from .gauss_newton import gauss_newton_from_jacobian
from .jacobian import DEFAULT_CHUNK_SIZE
from .metrics import curvature_metrics
from .subspace import random_subspace

__all__ = ["curvature_sweep", "rescaled_split"]

TERMS = ("hessian", "g_term", "h_term")


def rescaled_split(
    model: nn.Module,
    params: Params,
    X: torch.Tensor,
    y: torch.Tensor,
    R: torch.Tensor,
    points: Sequence[tuple[float, float]],
    *,
    degree: int | None = None,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    group_size: int = 1,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(G', H_term')`` at ``alpha * theta`` and temperature ``T`` for each ``(alpha, T)``.

    Uses Eq. 5 (see the module docstring): one forward-mode pass for ``J R`` and
    one forward-over-reverse pass per ``group_size`` distinct ratios ``alpha^L / T``.

    Args:
        model: homogeneous network (not mutated).
        params: ``theta`` as ``{name: tensor}``.
        X: inputs ``(N, ...)``.
        y: integer labels ``(N,)``.
        R: orthonormal directions ``(P, d)``.
        points: ``(alpha, T)`` pairs, ``alpha > 0``, ``T > 0``.
        degree: homogeneity degree ``L`` (default ``model.degree``).
        chunk_size: samples per chunk.
        group_size: distinct ratios per forward-over-reverse pass (memory ~ ``d * P``
            floats per ratio in a group).

    Returns:
        One ``(G', H_term')`` pair of ``(d, d)`` tensors per point, in order.
    """
    pts = [(check_alpha(a), check_temperature(t)) for a, t in points]
    L = homogeneity_degree(model) if degree is None else int(degree)
    if L < 1:
        raise ValueError(f"degree must be >= 1, got {degree!r}")
    check_batch(X, y)
    check_subspace(R, num_params(params))
    if int(group_size) < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size!r}")
    params, X, y, R = prepare(params, X, y, R)
    N = X.shape[0]
    z = logits_chunked(model, params, X, chunk_size)
    onehot = torch.nn.functional.one_hot(y, z.shape[-1]).to(z.dtype)
    ratios = sorted({a**L / t for a, t in pts})
    probs = {r: torch.softmax(r * z, dim=-1) for r in ratios}

    # H(p') for every distinct ratio, a few ratios per pass; J R from the first pass.
    h_of: dict[float, torch.Tensor] = {}
    JR = None
    for start in range(0, len(ratios), int(group_size)):
        group = ratios[start : start + int(group_size)]
        C = torch.stack([(probs[r] - onehot) / N for r in group])
        H, jr = second_order_pass(
            model, params, X, C, R, chunk_size=chunk_size, with_jacobian=JR is None
        )
        if JR is None:
            JR = jr
        for r, h in zip(group, H):
            h_of[r] = h
    assert JR is not None

    out = []
    for a, t in pts:
        r = a**L / t
        G = gauss_newton_from_jacobian(JR, probs[r]) * (a ** (2 * L - 2) / t**2)
        out.append((G, h_of[r] * (a ** (L - 2) / t)))
    return out


def curvature_sweep(
    model: nn.Module,
    params: Params,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    alphas: Sequence[float],
    temperatures: Sequence[float] = (1.0,),
    d: int | None = None,
    seeds: Sequence[int] = (0,),
    degree: int | None = None,
    R: torch.Tensor | None = None,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    group_size: int = 1,
) -> list[dict]:
    """Positive curvature, local convexity and spectral norm over ``(alpha, T, seed)``.

    For each seed, ``R = random_subspace(P, d, seed=seed)`` (float64, on ``params``'
    device), then :func:`rescaled_split` (Eq. 5) gives ``G'`` and ``H_term'`` at
    ``alpha * theta`` and temperature ``T``; the Hessian is their sum.

    Args:
        model: homogeneous network of degree ``L`` (not mutated).
        params: ``theta`` as ``{name: tensor}``.
        X: inputs ``(N, ...)``.
        y: integer labels ``(N,)``.
        alphas: initialisation scales ``alpha > 0``.
        temperatures: softmax temperatures ``T > 0``.
        d: subspace dimension (needed unless ``R`` is given; must match ``R``).
        seeds: subspace seeds; one ``R`` per seed.
        degree: homogeneity degree ``L`` (default ``model.degree``).
        R: a fixed ``(P, d)`` basis instead of seeded ones; then ``seeds`` must hold
            exactly one value, used only as the records' label.
        chunk_size: samples per chunk.
        group_size: see :func:`rescaled_split`.

    Returns:
        One record per ``(alpha, T, seed)`` (seed-major, then alpha, then ``T``) with keys
        ``alpha``, ``temperature``, ``seed``, ``d`` and, for ``term`` in ``hessian``,
        ``g_term``, ``h_term``: ``{term}_positive_curvature`` (``nan`` where the term
        is exactly zero), ``{term}_local_convexity``, ``{term}_spectral_norm``.

    Raises:
        ValueError: empty ``alphas``/``temperatures``/``seeds``, ``alpha <= 0``,
            ``T <= 0``, bad ``d`` or ``R``, bad batch.
    """
    alphas = [check_alpha(a) for a in alphas]
    temps = [check_temperature(t) for t in temperatures]
    seeds = [int(s) for s in seeds]
    if not alphas or not temps or not seeds:
        raise ValueError("alphas, temperatures and seeds must each be non-empty")
    check_batch(X, y)
    P = num_params(params)
    if R is not None:
        check_subspace(R, P)
        if d is not None and int(d) != R.shape[1]:
            raise ValueError(f"d={d} does not match R with {R.shape[1]} columns")
        if len(seeds) != 1:
            raise ValueError("with an explicit R, pass exactly one seed (a label)")
    elif d is None:
        raise ValueError("pass d (subspace dimension) or R")
    else:
        from ._checks import check_num_directions

        check_num_directions(P, d)
    device = next(iter(params.values())).device
    points = [(a, t) for a in alphas for t in temps]
    records = []
    for seed in seeds:
        Rs = R if R is not None else random_subspace(P, d, seed=seed, device=device)
        pairs = rescaled_split(
            model, params, X, y, Rs, points,
            degree=degree, chunk_size=chunk_size, group_size=group_size,
        )  # fmt: skip
        for (a, t), (G, Hterm) in zip(points, pairs):
            rec: dict = {"alpha": a, "temperature": t, "seed": seed, "d": Rs.shape[1]}
            for term, M in zip(TERMS, (G + Hterm, G, Hterm)):
                for key, val in curvature_metrics(M).items():
                    rec[f"{term}_{key}"] = val
            records.append(rec)
    return records
