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

import math
from collections.abc import Sequence

import torch
from torch import nn

from goldilocks_nb.functional import Weights, check_alpha
from goldilocks_nb.models import homogeneity_degree

from ._checks import (
    NonFiniteResultError,
    Prepared,
    check_logits,
    check_num_directions,
    check_result,
    check_temperature,
    dtype_name,
    prepare,
)
from ._passes import logits_chunked, second_order_pass
from .gauss_newton import gauss_newton_from_jacobian
from .jacobian import DEFAULT_CHUNK_SIZE
from .metrics import curvature_metrics
from .subspace import random_subspace

__all__ = ["curvature_sweep", "rescaled_split"]

TERMS = ("hessian", "g_term", "h_term")


def _factor(a: float, i: int, t: float, j: int, label: str, dtype: torch.dtype) -> float:
    """``a**i / t**j`` (as computed before), refused when it lies beyond ``dtype``'s range."""
    log10 = i * math.log10(a) - j * math.log10(t)
    big = torch.finfo(dtype).max
    if log10 > math.log10(big):
        raise NonFiniteResultError(
            f"the factor {label} = 10^{log10:.4g} at alpha = {a:g}, T = {t:g} exceeds the "
            f"largest {dtype_name(dtype)} ({big:.3g}): Eq. 5 cannot be evaluated there"
        )
    return a**i / t**j


def _check_points(points, degree, model) -> tuple[list[tuple[float, float]], int]:
    pts = [(check_alpha(a), check_temperature(t)) for a, t in points]
    L = homogeneity_degree(model) if degree is None else int(degree)
    if L < 1:
        raise ValueError(f"degree must be >= 1, got {degree!r}")
    return pts, L


def rescaled_split(
    model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, R: torch.Tensor,
    points: Sequence[tuple[float, float]], *,
    degree: int | None = None, chunk_size: int | None = DEFAULT_CHUNK_SIZE, group_size: int = 1,
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

    Raises:
        ValueError: bad points, degree or inputs (named, see ``_checks.prepare``).
        NonFiniteResultError: a factor of Eq. 5, the softmax input ``alpha^L z / T`` or a
            result overflows at some point (named).
    """
    pts, L = _check_points(points, degree, model)
    return _rescaled(model, prepare(model, params, X, y, R), pts, L, chunk_size, group_size)


def _rescaled(
    model: nn.Module,
    prep: Prepared,
    pts: list[tuple[float, float]],
    L: int,
    chunk_size: int | None,
    group_size: int,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """:func:`rescaled_split` on validated points and prepared inputs."""
    if int(group_size) < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size!r}")
    params, X, y, R = prep.params, prep.X, prep.y, prep.R
    N = X.shape[0]
    z = logits_chunked(model, params, X, chunk_size)
    check_logits(z)
    ratio_of = {}
    for a, t in pts:
        check_logits(z, L * math.log10(a) - math.log10(t), f"alpha^L z / T (alpha = {a:g}, "
                     f"T = {t:g}, L = {L})")
        ratio_of[a, t] = _factor(a, L, t, 1, "alpha^L / T", prep.dtype)
    onehot = torch.nn.functional.one_hot(y, z.shape[-1]).to(z.dtype)
    ratios = sorted(set(ratio_of.values()))
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
        r = ratio_of[a, t]
        G = gauss_newton_from_jacobian(JR, probs[r]) * _factor(
            a, 2 * L - 2, t, 2, "alpha^(2L-2) / T^2", prep.dtype
        )
        Hterm = h_of[r] * _factor(a, L - 2, t, 1, "alpha^(L-2) / T", prep.dtype)
        where = f" at alpha = {a:g}, T = {t:g}"
        out.append((check_result(G, "the G-term" + where, temperature=t),
                    check_result(Hterm, "the H-term" + where, temperature=t)))
    return out


def curvature_sweep(
    model: nn.Module,
    params: Weights,
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
        is exactly zero, :data:`~.metrics.UNDEFINED`), ``{term}_local_convexity``,
        ``{term}_spectral_norm``.

    Raises:
        ValueError: empty ``alphas``/``temperatures``/``seeds``, ``alpha <= 0``,
            ``T <= 0``, bad ``d`` or ``R``, bad inputs (named, see ``_checks.prepare``).
        NonFiniteResultError: see :func:`rescaled_split`.
    """
    alphas, temperatures, seeds = list(alphas), list(temperatures), [int(s) for s in seeds]
    if not alphas or not temperatures or not seeds:
        raise ValueError("alphas, temperatures and seeds must each be non-empty")
    points, L = _check_points([(a, t) for a in alphas for t in temperatures], degree, model)
    prep = prepare(model, params, X, y, R)
    if R is not None:
        if d is not None and int(d) != R.shape[1]:
            raise ValueError(f"d={d} does not match R with {R.shape[1]} columns")
        if len(seeds) != 1:
            raise ValueError("with an explicit R, pass exactly one seed (a label)")
    elif d is None:
        raise ValueError("pass d (subspace dimension) or R")
    else:
        check_num_directions(prep.P, d)
    records = []
    for seed in seeds:
        if R is None:
            Rs = random_subspace(prep.P, d, seed=seed, device=prep.X.device)
            prep = prep.with_directions(Rs)
        pairs = _rescaled(model, prep, points, L, chunk_size, group_size)
        for (a, t), (G, Hterm) in zip(points, pairs):
            rec: dict = {"alpha": a, "temperature": t, "seed": seed, "d": prep.R.shape[1]}
            for term, M in zip(TERMS, (G + Hterm, G, Hterm)):
                for key, val in curvature_metrics(M).items():
                    rec[f"{term}_{key}"] = val
            records.append(rec)
    return records
