"""The collapse split (curvature.collapsed) against the direct chunked sum (Eq. 4, 5)."""

from __future__ import annotations

import math
import os

import pytest
import torch

from curvature_cases import tiny_mlp
from goldilocks_nb.curvature import (
    collapsed_split,
    nested_order,
    off_max_mass,
    random_subspace,
    rescaled_split,
    top2_gap,
)
from goldilocks_nb.data import load_dataset
from goldilocks_nb.functional import get_params
from goldilocks_nb.models import build_model

ALPHAS = [0.3, 1.0, 3.0, 10.0, 30.0, 100.0]


def _fmnist_case(name: str, n: int):
    ds = load_dataset(name, dtype=torch.float64)
    order = nested_order(ds.y, 0)[:n]
    net = build_model("lenet-300-100", seed=0, input_shape=ds.input_shape, dtype=torch.float64)
    return net, get_params(net), ds.X[order], ds.y[order]


def _check_against_direct(net, th, X, y, R, checkpoints):
    cs = collapsed_split(net, th, X, y, R, ALPHAS, checkpoints=checkpoints, chunk_size=500)
    d = R.shape[1]
    collapsed_somewhere = False
    for i, n in enumerate(checkpoints):
        direct = rescaled_split(net, th, X[:n], y[:n], R, [(a, 1.0) for a in ALPHAS],
                                chunk_size=500, group_size=len(ALPHAS))
        for j, (G, H) in enumerate(direct):
            # H-term: the collapse split is an identity up to the dropped ~1e-20 masses
            assert float((cs.H[i, j] - H).norm() / H.norm()) < 1e-12
            # G-term: within the computed bound of the dropped images, plus rounding
            err = float((cs.G[i, j] - G).norm())
            bound = math.sqrt(d) * float(cs.g_bound[i, j])
            assert err <= bound + 1e-12 * float(G.norm()) + 1e-300, (n, ALPHAS[j], err, bound)
            assert float(cs.h_mass[i, j]) <= 2 * cs.tol
        collapsed_somewhere |= bool((cs.near_tie[i] < n).any())
        assert int(cs.near_tie[i, 0]) == n  # nothing collapsed at alpha = 0.3
    assert collapsed_somewhere  # the test exercises the split, not only the direct sum
    return cs


def test_split_equals_direct_sum_embedded():
    net, th, X, y = _fmnist_case("fashion-mnist-embedded", 1000)
    R = random_subspace(sum(t.numel() for t in th.values()), 4, seed=1)
    cs = _check_against_direct(net, th, X, y, R, [250, 1000])
    # the smallest top-2 gap can only shrink as N grows
    assert float(cs.min_gap[1]) <= float(cs.min_gap[0])


@pytest.mark.skipif(not os.environ.get("GOLDILOCKS_DATA"),
                    reason="needs the real Fashion-MNIST ($GOLDILOCKS_DATA)")
def test_split_equals_direct_sum_3000_real_images():
    net, th, X, y = _fmnist_case("fashion-mnist", 3000)
    R = random_subspace(sum(t.numel() for t in th.values()), 3, seed=0)
    _check_against_direct(net, th, X, y, R, [3000])


def test_tol_zero_matches_direct_sum_to_rounding_on_a_tiny_mlp():
    case = tiny_mlp(n=40)
    R = random_subspace(case.num_params, 5, seed=0)
    alphas = [0.5, 2.0, 8.0, 40.0]
    cs = collapsed_split(case.model, case.params, case.X, case.y, R, alphas, tol=0.0,
                         chunk_size=7, checkpoints=[13, 40])
    for i, n in enumerate([13, 40]):
        ref = rescaled_split(case.model, case.params, case.X[:n], case.y[:n], R,
                             [(a, 1.0) for a in alphas], degree=3)
        for j, (G, H) in enumerate(ref):
            assert torch.allclose(cs.G[i, j], G, rtol=1e-10, atol=1e-14 * float(G.norm()))
            assert torch.allclose(cs.H[i, j], H, rtol=1e-10, atol=1e-12 * float(H.norm()))


def test_off_max_mass_and_gap_closed_form():
    z = torch.tensor([[0.0, -1.0, -3.0], [2.0, 2.0, -1.0], [5.0, 0.0, -40.0]],
                     dtype=torch.float64)
    assert top2_gap(z).tolist() == [1.0, 0.0, 5.0]
    for r in (0.5, 3.0, 200.0):
        m = off_max_mass(z, r)
        for row, value in zip(z, m):
            e = torch.exp(r * (row - row.max())).sort(descending=True).values
            exact = float(e[1:].sum() / e.sum())  # the off-maximum mass, no cancellation
            assert math.isclose(float(value), exact, rel_tol=1e-12)
    # far past the collapse the mass is e^{-r gap} / (1 + ...), not 1 - 1 = 0
    m = off_max_mass(z[:1], 200.0)
    assert math.isclose(float(m[0]), math.exp(-200.0) / (1 + math.exp(-200.0)), rel_tol=1e-12)
    assert float(off_max_mass(z[1:2], 1e6)[0]) == pytest.approx(0.5)  # an exact tie


def test_nested_order_prefixes_are_balanced_permutations():
    y = torch.arange(100) % 4
    order = nested_order(y, seed=3)
    assert sorted(order.tolist()) == list(range(100))
    for n in (4, 10, 37, 100):
        counts = torch.bincount(y[order[:n]], minlength=4)
        assert int(counts.max() - counts.min()) <= 1
    assert not torch.equal(order, nested_order(y, seed=4))


@pytest.mark.parametrize("kwargs, match", [
    (dict(alphas=[]), "alphas"),
    (dict(alphas=[-1.0]), "alpha"),
    (dict(tol=1e-3), "tol"),
    (dict(checkpoints=[10, 5]), "checkpoints"),
    (dict(checkpoints=[50]), "checkpoints"),
    (dict(chunk_size=0), "chunk_size"),
])
def test_bad_input_is_refused(kwargs, match):
    case = tiny_mlp(n=20)
    R = random_subspace(case.num_params, 3, seed=0)
    args = dict(alphas=[1.0, 2.0])
    args.update(kwargs)
    alphas = args.pop("alphas")
    with pytest.raises(ValueError, match=match):
        collapsed_split(case.model, case.params, case.X, case.y, R, alphas, **args)


def test_stacked_subspaces_equal_separate_seeds():
    """Three seeds' subspaces stacked in one R: the diagonal blocks are each seed's split."""
    case = tiny_mlp(n=60)
    seeds, d = [0, 1, 2], 3
    Rs = [random_subspace(case.num_params, d, seed=s) for s in seeds]
    alphas = [0.5, 2.0, 8.0, 40.0]
    stacked = collapsed_split(case.model, case.params, case.X, case.y, torch.cat(Rs, dim=1),
                              alphas, checkpoints=[20, 60], chunk_size=16, orthonormal=False)
    with pytest.raises(ValueError):  # the stack is not orthonormal: refused by default
        collapsed_split(case.model, case.params, case.X, case.y, torch.cat(Rs, dim=1), alphas)
    for b, R in enumerate(Rs):
        one = collapsed_split(case.model, case.params, case.X, case.y, R, alphas,
                              checkpoints=[20, 60], chunk_size=16)
        blk = slice(b * d, (b + 1) * d)
        for got, ref in [(stacked.G[..., blk, blk], one.G), (stacked.H[..., blk, blk], one.H)]:
            assert torch.allclose(got, ref, rtol=1e-11, atol=1e-13 * float(ref.abs().max()))
        assert torch.equal(stacked.near_tie, one.near_tie)


def test_n_max_stops_an_alpha_at_its_prefix():
    case = tiny_mlp(n=60)
    R = random_subspace(case.num_params, 4, seed=0)
    alphas = [40.0, 0.5, 2.0]  # unsorted on purpose: n_max follows this order
    cs = collapsed_split(case.model, case.params, case.X, case.y, R, alphas,
                         checkpoints=[20, 60], chunk_size=16, n_max=[60, 20, 60], tol=0.0)
    full = collapsed_split(case.model, case.params, case.X, case.y, R, alphas,
                           checkpoints=[20, 60], chunk_size=16, tol=0.0)
    assert cs.alphas == (0.5, 2.0, 40.0)
    assert torch.equal(cs.G[0], full.G[0]) and torch.equal(cs.H[0], full.H[0])
    assert torch.isnan(cs.G[1, 0]).all() and torch.isnan(cs.H[1, 0]).all()
    assert int(cs.near_tie[1, 0]) == -1
    assert torch.allclose(cs.G[1, 1:], full.G[1, 1:], rtol=1e-12)
    assert torch.allclose(cs.H[1, 1:], full.H[1, 1:], rtol=1e-12)
    with pytest.raises(ValueError, match="n_max"):
        collapsed_split(case.model, case.params, case.X, case.y, R, alphas, n_max=[10, 10])
