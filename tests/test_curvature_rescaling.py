"""Eq. 5: rescaling identities on both LeNets, and curvature_sweep against direct calls."""

from __future__ import annotations

import math

import pytest
import torch

from curvature_cases import lenet, rel, tiny_mlp
from goldilocks_nb.curvature import (
    curvature_metrics,
    curvature_sweep,
    gauss_newton_from_jacobian,
    gauss_newton_split,
    h_term_from_probs,
    positive_curvature,
    projected_hessian,
    projected_jacobian,
    random_subspace,
)
from goldilocks_nb.functional import logits, scale_params

NAMES = ("lenet-300-100", "lenet-5")


@pytest.fixture(scope="module", params=NAMES)
def net(request):
    case = lenet(request.param, n=32 if request.param == "lenet-300-100" else 16)
    R = random_subspace(case.num_params, 10, seed=0)
    return case, R


def test_positive_curvature_invariant_at_T_alpha_L(net):
    """C1: positive curvature at (alpha, T = alpha^L) equals that at (1, 1)."""
    case, R = net
    L = case.model.degree
    base = projected_hessian(case.model, case.params, case.X, case.y, R)
    pc = positive_curvature(base)
    for alpha in (0.1, 3.0, 20.0):
        H = projected_hessian(
            case.model, scale_params(case.params, alpha), case.X, case.y, R,
            temperature=alpha**L,
        )  # fmt: skip
        assert positive_curvature(H) == pytest.approx(pc, rel=1e-9)
        assert rel(H * alpha**2, base) < 1e-9  # H' = alpha^-2 H


def test_g_and_h_terms_follow_eq5(net):
    """C3: G' = alpha^(2L-2)/T^2 G(p'), H' = alpha^(L-2)/T H(p'), all evaluated at theta."""
    case, R = net
    L = case.model.degree
    JR = projected_jacobian(case.model, case.params, case.X, R)
    z = logits(case.model, case.params, case.X).detach()
    for alpha, T in ((0.5, 0.3), (2.0, 3.0)):
        G, Ht = gauss_newton_split(
            case.model, scale_params(case.params, alpha), case.X, case.y, R, temperature=T
        )
        p_prime = torch.softmax(alpha**L * z / T, dim=-1)
        G_eq5 = alpha ** (2 * L - 2) / T**2 * gauss_newton_from_jacobian(JR, p_prime)
        H_eq5 = alpha ** (L - 2) / T * h_term_from_probs(
            case.model, case.params, case.X, case.y, R, p_prime
        )
        assert rel(G_eq5, G) < 1e-9
        assert rel(H_eq5, Ht) < 1e-9


def _direct(case, R, alpha, T):
    G, Ht = gauss_newton_split(
        case.model, scale_params(case.params, alpha), case.X, case.y, R, temperature=T
    )
    return {"hessian": G + Ht, "g_term": G, "h_term": Ht}


def _check_record(rec, direct):
    for term, M in direct.items():
        ref = curvature_metrics(M)
        for key, val in ref.items():
            assert rec[f"{term}_{key}"] == pytest.approx(val, rel=1e-8, abs=1e-12), (term, key)


def test_sweep_equals_direct_tiny_mlp():
    case = tiny_mlp()
    alphas, temps, seeds = (0.3, 1.0, 4.0), (1.0, 2.5), (0, 1)
    recs = curvature_sweep(
        case.model, case.params, case.X, case.y,
        alphas=alphas, temperatures=temps, d=8, seeds=seeds, chunk_size=7,
    )  # fmt: skip
    assert len(recs) == len(alphas) * len(temps) * len(seeds)
    i = 0
    for seed in seeds:
        R = random_subspace(case.num_params, 8, seed=seed)
        for a in alphas:
            for T in temps:
                rec = recs[i]
                assert (rec["alpha"], rec["temperature"], rec["seed"]) == (a, T, seed)
                _check_record(rec, _direct(case, R, a, T))
                i += 1


def test_sweep_equals_direct_lenet_with_given_R(net):
    case, R = net
    alphas = (0.5, 2.0)
    recs = curvature_sweep(
        case.model, case.params, case.X, case.y,
        alphas=alphas, R=R, seeds=(7,), group_size=2,
    )  # fmt: skip
    for rec, a in zip(recs, alphas):
        assert rec["seed"] == 7 and rec["d"] == 10
        _check_record(rec, _direct(case, R, a, 1.0))


def test_sweep_vanished_g_term_is_nan_not_an_error():
    """At huge alpha the softmax is one-hot in float64: G' = 0 exactly, curvature undefined."""
    case = tiny_mlp()
    rec = curvature_sweep(
        case.model, case.params, case.X * 1e3, case.y, alphas=(1e4,), d=4, seeds=(0,)
    )[0]
    assert rec["g_term_spectral_norm"] == 0.0
    assert math.isnan(rec["g_term_positive_curvature"])
