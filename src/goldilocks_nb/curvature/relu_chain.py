"""Directional derivatives of a bias-free ReLU chain in closed form (Section 3).

A model that declares ``model.relu_chain() -> (name_1, ..., name_L)`` promises that its
forward pass is the chain

.. math:: a_0 = \\mathrm{flatten}(x), \\quad h_l = W_l a_{l-1}, \\quad
          a_l = \\mathrm{relu}(h_l), \\quad z = h_L,

with ``W_l = params[name_l]`` (every parameter, in ``named_parameters()`` order). The
project's :class:`~goldilocks_nb.models.MLP` and LeNet-300-100 do. A direction
``V = (V_1, ..., V_L)`` (one column of ``R``) then moves the pre-activations as

.. math:: \\dot h_1 = V_1 a_0, \\qquad
          \\dot h_l = W_l\\,(\\mathrm{relu}'(h_{l-1}) \\odot \\dot h_{l-1}) + V_l a_{l-1},
          \\qquad (J R)_{:, :, j} = \\dot h_L,

which is forward-mode differentiation written out. Writing it out pays because the columns
of ``R`` are sparse (about ``sqrt(P)`` non-zeros each, :mod:`.subspace`): the products
``V_l a_{l-1}`` for all ``d`` directions are sparse-dense products with ``d * sqrt(P)``
non-zeros, where a generic ``jvp`` multiplies by the dense ``(d * out, in)`` stack. For
LeNet-300-100 (``d = 50``) that dense first-layer product is most of the cost of ``J R``.

The same structure serves the second-order pass (:mod:`._passes`): the loss depends on
``W_1`` only through ``h_1 = W_1 a_0``, which is linear, so with ``u = (h_1, W_2..W_L)``

.. math:: R^\\top \\nabla^2_\\theta \\ell\\, R = \\dot U^\\top \\nabla^2_u \\ell\\, \\dot U,
          \\qquad \\dot U_j = (V_{1j} a_0,\\ V_{2j}, \\ldots, V_{Lj}),

and the forward-over-reverse pass runs on the cheaper ``u`` (the sum over samples of
the ``h_1`` block is exact because sample ``mu`` only sees its own ``h_1``).

Layout: tangents are kept as ``(units, d, N)`` so that every layer is one dense GEMM
``W_l @ (in, d * N)`` and the sparse products are ``embedding_bag`` sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from goldilocks_nb.functional import Weights

from ._checks import check_logits

__all__ = [
    "SPARSE_DENSITY",
    "DirectionBlock",
    "ReluChain",
    "chain_forward",
    "chain_head",
    "chain_jacobian",
    "checked_relu_chain",
    "direction_blocks",
    "linear_tangent",
    "relu_chain_of",
]

SPARSE_DENSITY = 0.02
"""Largest fraction of non-zeros of a layer's block of ``R`` for which ``V_l a`` is
computed as a sparse sum (``embedding_bag``) rather than one dense GEMM."""


@dataclass(frozen=True)
class ReluChain:
    """Weight names and shapes ``(out, in)`` of a bias-free ReLU chain, input to output."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, int], ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of weights per layer (rows of ``R`` per layer, in order)."""
        return tuple(o * i for o, i in self.shapes)


def relu_chain_of(model: nn.Module, params: Weights) -> ReluChain | None:
    """The chain declared by ``model.relu_chain()``, or ``None`` if there is none.

    Raises:
        ValueError: if the declared names are not exactly the keys of ``params`` in order,
            or the weight shapes do not chain (``in_l == out_{l-1}``).
    """
    declare = getattr(model, "relu_chain", None)
    if not callable(declare):
        return None
    names = tuple(declare())
    if names != tuple(params):
        raise ValueError(
            f"{type(model).__name__}.relu_chain() names {names}, but params holds "
            f"{tuple(params)}: the chain must list every parameter, in order"
        )
    shapes = tuple(tuple(params[n].shape) for n in names)
    if any(len(s) != 2 for s in shapes):
        raise ValueError(f"relu_chain() weights must be matrices, got shapes {shapes}")
    for (_, inn), (out, _) in zip(shapes[1:], shapes[:-1]):
        if inn != out:
            raise ValueError(f"relu_chain() weight shapes do not chain: {shapes}")
    return ReluChain(names, shapes)  # type: ignore[arg-type]


def checked_relu_chain(model: nn.Module, params: Weights, X: torch.Tensor) -> ReluChain | None:
    """:func:`relu_chain_of`, then a check on (at most) two samples of ``X`` that
    ``model``'s forward computes the declared chain. Cheap: run it before heavy work.

    Raises:
        ValueError: if the declaration is malformed or disagrees with ``forward``.
    """
    chain = relu_chain_of(model, params)
    if chain is None:
        return None
    Xs = X[:2]
    with torch.no_grad():
        ref = functional_call(model, params, (Xs,))
        z = chain_forward(chain, params, Xs.flatten(1))
    check_logits(ref)
    tol = 1e-6 * float(ref.abs().max()) if ref.numel() else 0.0
    if ref.shape != z.shape or not torch.allclose(ref, z, rtol=1e-6, atol=tol):
        raise ValueError(
            f"{type(model).__name__}.relu_chain() declares a bias-free ReLU chain, but "
            "its forward computes something else; fix relu_chain() or set it to None"
        )
    return chain


def chain_forward(chain: ReluChain, params: Weights, a0: torch.Tensor) -> torch.Tensor:
    """Logits ``(N, K)`` of the chain for flattened inputs ``a0`` ``(N, in)``."""
    return chain_head(chain)(a0 @ params[chain.names[0]].T, params)


def chain_head(chain: ReluChain):
    """``(h_1, params) -> z``: the chain after its first linear map (for ``torch.func``).

    ``params`` needs only ``W_2..W_L``; ``h_1`` has shape ``(N, out_1)``.
    """
    rest = chain.names[1:]

    def head(h1: torch.Tensor, params: Weights) -> torch.Tensor:
        x = h1
        for name in rest:
            x = torch.relu(x) @ params[name].T
        return x

    return head


@dataclass(frozen=True)
class DirectionBlock:
    """One layer's block of ``R`` (rows ``out * in``, ``d`` columns), ready for products.

    Sparse form: ``embedding_bag`` indices (input unit), weights and offsets, with bags
    ordered ``(output unit, direction)``. Dense form: ``V`` as ``(out * d, in)``.
    """

    out: int
    inn: int
    d: int
    dense: torch.Tensor | None = None
    index: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    offsets: torch.Tensor | None = None


def direction_blocks(
    chain: ReluChain, R: torch.Tensor, *, sparse: bool | None = None
) -> list[DirectionBlock]:
    """Split ``R`` by layer into :class:`DirectionBlock`s.

    Args:
        chain: the chain.
        R: directions ``(P, d)``.
        sparse: force the sparse (``True``) or dense (``False``) products; ``None``
            picks sparse where a block has at most ``SPARSE_DENSITY`` non-zeros.
    """
    d = R.shape[1]
    blocks, start = [], 0
    for (out, inn), size in zip(chain.shapes, chain.sizes):
        Rb = R[start : start + size]
        start += size
        nz = Rb.nonzero()
        use_sparse = sparse if sparse is not None else nz.shape[0] <= SPARSE_DENSITY * Rb.numel()
        if not use_sparse:
            # V_j has rows o, columns i at Rb[o * in + i, j]; stack as (out * d, in), (o, j)-major
            V = Rb.reshape(out, inn, d).permute(0, 2, 1).reshape(out * d, inn)
            blocks.append(DirectionBlock(out, inn, d, dense=V))
            continue
        rows, cols = nz[:, 0], nz[:, 1]
        bag = (rows // inn) * d + cols
        order = torch.argsort(bag)
        counts = torch.bincount(bag, minlength=out * d)
        offsets = torch.zeros(out * d, dtype=torch.long, device=R.device)
        offsets[1:] = counts.cumsum(0)[:-1]
        blocks.append(
            DirectionBlock(
                out,
                inn,
                d,
                index=(rows % inn)[order],
                weight=Rb[rows, cols][order],
                offsets=offsets,
            )  # fmt: skip
        )
    return blocks


def linear_tangent(block: DirectionBlock, aT: torch.Tensor) -> torch.Tensor:
    """``V_j a`` for every direction ``j`` of a layer: shape ``(out, d, N)``.

    Args:
        block: the layer's directions (:func:`direction_blocks`).
        aT: the layer's input, transposed: ``(in, N)``.
    """
    N = aT.shape[1]
    if block.dense is not None:
        return (block.dense @ aT).view(block.out, block.d, N)
    if block.index.numel() == 0:
        return aT.new_zeros(block.out, block.d, N)
    out = nn.functional.embedding_bag(
        block.index, aT, block.offsets, mode="sum", per_sample_weights=block.weight
    )
    return out.view(block.out, block.d, N)


def chain_jacobian(
    chain: ReluChain, params: Weights, a0: torch.Tensor, blocks: list[DirectionBlock]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and projected Jacobian of the chain (module docstring's recursion).

    Args:
        chain: the chain.
        params: its weights.
        a0: flattened inputs ``(N, in)``.
        blocks: :func:`direction_blocks` of ``R``.

    Returns:
        ``(z, JR)`` of shapes ``(N, K)`` and ``(N, K, d)``.
    """
    aT = a0.T.contiguous()
    last = len(chain.names) - 1
    t = hT = None
    for layer, (name, block) in enumerate(zip(chain.names, blocks)):
        W = params[name]
        step = linear_tangent(block, aT)  # (out, d, N), freshly allocated
        if t is not None:
            step.view(block.out, -1).addmm_(W, t.view(block.inn, -1))
        hT = W @ aT
        t = step
        if layer < last:
            t.mul_((hT > 0).to(t.dtype).unsqueeze(1))
            aT = hT.clamp_min_(0)
    return hT.T.contiguous(), t.permute(2, 0, 1).contiguous()
