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

from goldilocks_nb.functional import Params

from ._checks import check_batch, check_temperature, num_params
from .hessian import hessian_matmat
from .jacobian import DEFAULT_CHUNK_SIZE

__all__ = ["hutchinson_estimates"]


def hutchinson_estimates(
    model: nn.Module,
    params: Params,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    n_probes: int,
    seed: int,
    temperature: float = 1.0,
    probes_per_pass: int = 16,
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
        covariance of the two means), ``n_probes``.

    Raises:
        ValueError: ``n_probes < 2``, bad batch or temperature.
    """
    check_temperature(temperature)
    check_batch(X, y)
    if int(n_probes) < 2:
        raise ValueError(f"n_probes must be >= 2 for a standard error, got {n_probes!r}")
    if int(probes_per_pass) < 1:
        raise ValueError(f"probes_per_pass must be >= 1, got {probes_per_pass!r}")
    m = int(n_probes)
    P = num_params(params)
    first = next(iter(params.values()))
    gen = torch.Generator().manual_seed(int(seed))
    quad, sq = [], []
    for start in range(0, m, int(probes_per_pass)):
        b = min(int(probes_per_pass), m - start)
        V = (torch.randint(0, 2, (P, b), generator=gen) * 2 - 1).to(first.dtype)
        V = V.to(first.device)
        HV = hessian_matmat(
            model, params, X, y, V, temperature=temperature, chunk_size=chunk_size
        )
        quad.append((V * HV).sum(0))
        sq.append(HV.square().sum(0))
    a = torch.cat(quad).to(torch.float64).cpu()
    b = torch.cat(sq).to(torch.float64).cpu()
    tr, fsq = a.mean().item(), b.mean().item()
    cov = torch.cov(torch.stack([a, b])) / m
    va, vb, cab = cov[0, 0].item(), cov[1, 1].item(), cov[0, 1].item()
    fro = math.sqrt(fsq)
    fro_se = math.sqrt(vb) / (2 * fro) if fro > 0 else float("nan")
    if fsq > 0:
        var_pc = va / fsq + tr**2 * vb / (4 * fsq**3) - tr * cab / fsq**2
        pc, pc_se = tr / fro, math.sqrt(max(var_pc, 0.0))
    else:
        pc, pc_se = float("nan"), float("nan")
    return {
        "trace": tr,
        "trace_se": math.sqrt(va),
        "frobenius": fro,
        "frobenius_se": fro_se,
        "frobenius_sq": fsq,
        "frobenius_sq_se": math.sqrt(vb),
        "positive_curvature": pc,
        "positive_curvature_se": pc_se,
        "n_probes": m,
    }
