"""The closed-form ReLU-chain route against the generic torch.func route (float64).

The reference tests (``test_curvature_reference.py``) check both routes against dense
``torch.func`` Hessians on a tiny MLP and ``test_curvature_curvlinops.py`` checks the
chain route on LeNet-300-100 against curvlinops; here the two routes are compared with
each other on LeNet-300-100 with sparse and dense ``R``, and the declaration is checked.
"""

from __future__ import annotations

import pytest
import torch

from curvature_cases import DTYPE, lenet, opaque, rel, tiny_mlp
from goldilocks_nb.curvature import (
    curvature_sweep,
    g_term,
    gauss_newton_split,
    h_term_from_probs,
    projected_jacobian,
    random_subspace,
)
from goldilocks_nb.curvature.relu_chain import (
    checked_relu_chain,
    direction_blocks,
    linear_tangent,
    relu_chain_of,
)
from goldilocks_nb.models import MLP, build_model


@pytest.fixture(scope="module")
def pair():
    c = lenet("lenet-300-100", n=24)
    return c, opaque(c)


def dense_orthonormal(P: int, d: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(P, d, generator=gen, dtype=DTYPE))[0]


def test_mlp_declares_its_chain():
    model = build_model("lenet-300-100", seed=0, input_shape=(784,), dtype=DTYPE)
    params = dict(model.named_parameters())
    chain = relu_chain_of(model, params)
    assert chain.names == ("layers.0.weight", "layers.1.weight", "layers.2.weight")
    assert chain.shapes == ((300, 784), (100, 300), (10, 100))
    assert relu_chain_of(opaque(lenet("lenet-300-100", n=2)).model, params) is None
    assert relu_chain_of(build_model("lenet-5", seed=0), params) is None


@pytest.mark.parametrize("sparse", [True, False])
def test_linear_tangent_sparse_equals_dense(sparse):
    gen = torch.Generator().manual_seed(1)
    case = tiny_mlp()
    chain = relu_chain_of(case.model, case.params)
    R = random_subspace(case.num_params, 4, seed=3)
    a = torch.randn(6, 7, generator=gen, dtype=DTYPE)  # (in = 6, N = 7)
    block = direction_blocks(chain, R, sparse=sparse)[0]
    V = R[:30].T.reshape(4, 5, 6)  # directions of the first layer, (d, out, in)
    want = torch.einsum("joi,in->ojn", V, a)
    got = linear_tangent(block, a)
    assert got.shape == (5, 4, 7)
    torch.testing.assert_close(got, want, rtol=1e-14, atol=1e-14)


def test_layer_without_support_gives_zero_tangents():
    case = tiny_mlp()
    chain = relu_chain_of(case.model, case.params)
    R = torch.zeros(case.num_params, 2, dtype=DTYPE)
    R[40, 0] = R[55, 1] = 1.0  # both directions live in layers 2 and 3 only
    block = direction_blocks(chain, R, sparse=True)[0]
    assert block.index.numel() == 0
    assert torch.equal(linear_tangent(block, torch.ones(6, 3, dtype=DTYPE)), torch.zeros(5, 2, 3))
    JR = projected_jacobian(case.model, case.params, case.X, R)
    ref = projected_jacobian(opaque(case).model, opaque(case).params, case.X, R)
    assert rel(JR, ref) < 1e-13


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_jacobian_and_g_term_match_the_autodiff_route(pair, kind):
    chain_case, generic = pair
    P = chain_case.num_params
    R = random_subspace(P, 12, seed=0) if kind == "sparse" else dense_orthonormal(P, 3, 0)
    JR = projected_jacobian(chain_case.model, chain_case.params, chain_case.X, R, chunk_size=7)
    ref = projected_jacobian(generic.model, generic.params, generic.X, R)
    assert rel(JR, ref) < 1e-12
    G = g_term(chain_case.model, chain_case.params, chain_case.X, R, temperature=0.6)
    G_ref = g_term(generic.model, generic.params, generic.X, R, temperature=0.6)
    assert rel(G, G_ref) < 1e-12


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_split_matches_the_autodiff_route(pair, kind):
    chain_case, generic = pair
    P = chain_case.num_params
    R = random_subspace(P, 10, seed=1) if kind == "sparse" else dense_orthonormal(P, 3, 1)
    args = (chain_case.X, chain_case.y, R)
    G, Ht = gauss_newton_split(chain_case.model, chain_case.params, *args, chunk_size=5)
    G_ref, Ht_ref = gauss_newton_split(generic.model, generic.params, *args)
    assert rel(G, G_ref) < 1e-12
    assert rel(Ht, Ht_ref) < 1e-12


def test_stacked_h_term_and_sweep_match_the_autodiff_route(pair):
    chain_case, generic = pair
    R = random_subspace(chain_case.num_params, 8, seed=2)
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(3, len(chain_case.X), 10, generator=gen, dtype=DTYPE), -1)
    args = (chain_case.X, chain_case.y, R, probs)
    H = h_term_from_probs(chain_case.model, chain_case.params, *args, chunk_size=9)
    H_ref = h_term_from_probs(generic.model, generic.params, *args)
    assert H.shape == (3, 8, 8)
    assert rel(H, H_ref) < 1e-12
    kw = dict(alphas=[0.5, 2.0], temperatures=[1.0, 3.0], R=R, degree=3)
    recs = curvature_sweep(chain_case.model, chain_case.params, chain_case.X, chain_case.y, **kw)
    refs = curvature_sweep(generic.model, generic.params, generic.X, generic.y, **kw)
    for a, b in zip(recs, refs):
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-10, abs=1e-12), key


class Liar(MLP):
    """Declares the chain but adds a skip connection: the check must catch it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + x.flatten(1)[:, : self.widths[-1]]


class Honest(Liar):
    relu_chain = None  # opts out: the generic route is used


def test_a_false_declaration_is_an_error_and_opting_out_works():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(5, 6, generator=gen, dtype=DTYPE)
    R = random_subspace(62, 3, seed=0)
    liar = Liar([6, 5, 4, 3]).to(DTYPE)
    params = {k: v.detach() for k, v in liar.named_parameters()}
    with pytest.raises(ValueError, match="forward computes something else"):
        checked_relu_chain(liar, params, X)
    with pytest.raises(ValueError, match="forward computes something else"):
        g_term(liar, params, X, R)
    honest = Honest([6, 5, 4, 3]).to(DTYPE)
    honest.load_state_dict(liar.state_dict())
    assert checked_relu_chain(honest, params, X) is None
    JR = projected_jacobian(honest, params, X, R)
    ref = torch.func.jacrev(lambda p: torch.func.functional_call(honest, p, (X,)))(params)
    J = torch.cat([ref[k].reshape(5, 3, -1) for k in params], dim=-1)
    assert rel(JR, J @ R) < 1e-13


def test_declared_names_must_be_the_parameters():
    model = build_model("mlp", seed=0, input_shape=(6,), widths=[5], num_classes=3, dtype=DTYPE)
    params = dict(model.named_parameters())
    reordered = dict(reversed(list(params.items())))
    with pytest.raises(ValueError, match="must list every parameter, in order"):
        relu_chain_of(model, reordered)
