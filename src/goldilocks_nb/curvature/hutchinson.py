"""Hutchinson estimates of the full Hessian's trace and Frobenius norm (App. F).

With ``m`` Rademacher probes ``x_i in {-1, +1}^P`` (Hutchinson, 1990),

.. math:: \\mathrm{Tr}(H) \\approx \\frac{1}{m}\\sum_i x_i^\\top H x_i, \\qquad
          \\lVert H\\rVert_F^2 \\approx \\frac{1}{m}\\sum_i (H x_i)^\\top (H x_i),

and the positive curvature ``Tr(H) / ||H||_F`` over the whole parameter space is their
ratio (Fig. 13). Hessian-vector products are forward-over-reverse, batched over probes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from goldilocks_nb.functional import Weights

from ._checks import NonFiniteResultError, check_result, prepare
from ._passes import logits_checker, loss_hvp
from .jacobian import DEFAULT_CHUNK_SIZE
from .metrics import UNDEFINED, curvature_ratio, power_of_two_scale

__all__ = ["hutchinson_estimates"]


def hutchinson_estimates(
    model: nn.Module, params: Weights, X: torch.Tensor, y: torch.Tensor, *,
    n_probes: int, seed: int, temperature: float = 1.0, probes_per_pass: int = 16,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> dict[str, float]:
    """Stochastic trace, Frobenius norm and positive curvature of the loss Hessian (App. F).

    Args:
        model: network (not mutated).
        params: ``{name: tensor}``; their dtype is used (float64 recommended).
        X: inputs ``(N, ...)``.
        y: integer labels ``(N,)``.
        n_probes: number of Rademacher probes ``m >= 2``.
        seed: seed of the private generator drawing the probes (global RNG untouched).
        temperature: softmax temperature ``T > 0``.
        probes_per_pass: probes per batched HVP pass (memory ~ ``probes * P``).
        chunk_size: samples per chunk.

    Returns:
        ``trace``, ``trace_se`` (standard error), ``frobenius``, ``frobenius_se`` (delta
        method from the error of ``||H||_F^2``), ``frobenius_sq``, ``frobenius_sq_se``,
        ``positive_curvature`` and ``positive_curvature_se`` (delta method, with the
        covariance of the two means; both :data:`~.metrics.UNDEFINED` when every
        ``H x_i`` is zero), ``n_probes``. The statistics are formed from ``H x_i``
        divided by an exact power of two, so only a value that itself exceeds the
        floating-point range (e.g. ``||H||_F^2``) can overflow.

    Raises:
        ValueError: ``n_probes < 2``, bad inputs (named, see ``_checks.prepare``).
        NonFiniteResultError: a Hessian-vector product or a returned value overflows.
    """
    if int(n_probes) < 2:
        raise ValueError(f"n_probes must be >= 2 for a standard error, got {n_probes!r}")
    if int(probes_per_pass) < 1:
        raise ValueError(f"probes_per_pass must be >= 1, got {probes_per_pass!r}")
    prep = prepare(model, params, X, y, temperature=temperature)
    m, step = int(n_probes), int(probes_per_pass)
    explain = logits_checker(model, prep, chunk_size)
    gen = torch.Generator().manual_seed(int(seed))
    passes = []  # (scale s, x^T H x / s, |H x|^2 / s^2) per pass
    for start in range(0, m, step):
        b = min(step, m - start)
        V = (torch.randint(0, 2, (prep.P, b), generator=gen) * 2 - 1).to(prep.dtype)
        HV = loss_hvp(model, prep, V.to(prep.X.device), chunk_size=chunk_size)
        check_result(HV, "the Hessian-vector products H x of the Hutchinson probes",
                     temperature=prep.T, explain=explain)
        s = power_of_two_scale(HV) or 1.0
        HV = HV / s
        passes.append((s, (V.to(HV.device) * HV).sum(0), HV.square().sum(0)))
    S = max(s for s, _, _ in passes)  # common power-of-two scale: rescaling is exact
    a = torch.cat([q * (s / S) for s, q, _ in passes]).to(torch.float64).cpu()
    b = torch.cat([q * (s / S) ** 2 for s, _, q in passes]).to(torch.float64).cpu()
    tr, fsq = a.mean().item(), b.mean().item()
    cov = torch.cov(torch.stack([a, b])) / m
    va, vb, cab = cov[0, 0].item(), cov[1, 1].item(), cov[0, 1].item()
    fro = math.sqrt(fsq)
    if fsq > 0:
        var_pc = va / fsq + tr**2 * vb / (4 * fsq**3) - tr * cab / fsq**2
        pc_se = math.sqrt(max(var_pc, 0.0))
    else:
        pc_se = UNDEFINED
    out = {  # scaled by S (trace, Frobenius) or S^2 (squares); ratios are scale-free
        "trace": tr * S,
        "trace_se": math.sqrt(va) * S,
        "frobenius": fro * S,
        "frobenius_se": math.sqrt(vb) / (2 * fro) * S if fro > 0 else UNDEFINED,
        "frobenius_sq": fsq * S * S,
        "frobenius_sq_se": math.sqrt(vb) * S * S,
        "positive_curvature": curvature_ratio(tr, fro),
        "positive_curvature_se": pc_se,
    }
    for key, value in out.items():
        if math.isinf(value):
            raise NonFiniteResultError(
                f"the Hutchinson estimate {key} overflows float64 although the "
                f"Hessian-vector products are finite (up to {S:.3g} in magnitude)"
                + (f"; the temperature T = {prep.T:.3g} scales the Hessian as 1/T"
                   if prep.T < 1e-30 else "")
            )
    return {**out, "n_probes": m}
