"""Top Hessian eigenpairs by Lanczos on a Hessian-vector-product operator (Section 3).

``scipy.sparse.linalg.eigsh`` (implicitly restarted Lanczos) runs on a
``LinearOperator`` whose matvec is a forward-over-reverse Hessian-vector product of the
loss, either over all parameters or over one parameter tensor (its diagonal block
``H_{ll} = d^2 l / d theta_l^2`` with the other parameters held fixed).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import nn

from goldilocks_nb.functional import Weights

from ._checks import check_result, prepare
from ._passes import logits_checker, loss_hvp
from .jacobian import DEFAULT_CHUNK_SIZE

__all__ = ["top_eigenpairs"]


def top_eigenpairs(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    k: int = 1,
    *,
    temperature: float = 1.0,
    layer: str | None = None,
    which: str = "LA",
    seed: int = 0,
    tol: float = 0.0,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` eigenpairs of the loss Hessian or of one parameter's diagonal block.

    Args:
        model: network (not mutated).
        params: ``{name: tensor}``; their dtype is used (float64 recommended).
        X: inputs ``(N, ...)``.
        y: integer labels ``(N,)``.
        k: number of eigenpairs, ``1 <= k < P_layer``.
        temperature: softmax temperature ``T > 0``.
        layer: ``None`` for the full Hessian, or a parameter name (e.g.
            ``"layers.0.weight"``) for that parameter's diagonal block.
        which: ``"LA"`` largest algebraic (default), ``"LM"`` largest magnitude,
            ``"SA"`` smallest algebraic (as in ``eigsh``).
        seed: seed of the Lanczos start vector (private generator).
        tol: relative accuracy passed to ``eigsh`` (``0``: machine precision).
        chunk_size: samples per chunk in each Hessian-vector product.

    Returns:
        ``(eigenvalues, eigenvectors)``: shapes ``(k,)`` (descending for ``"LA"``/``"LM"``,
        ascending for ``"SA"``) and ``(P_layer, k)``, in ``params``' dtype and device;
        rows follow ``flatten_params`` order (of that one parameter when ``layer`` is set).

    Raises:
        ValueError: unknown ``layer`` (the message lists the names), bad ``k``/``which``,
            bad inputs (named, see ``_checks.prepare``).
        NonFiniteResultError: a Hessian-vector product overflows.
    """
    if which not in ("LA", "LM", "SA"):
        raise ValueError(f"which must be 'LA', 'LM' or 'SA', got {which!r}")
    prep = prepare(model, params, X, y, temperature=temperature)
    if layer is not None and layer not in prep.params:
        raise ValueError(f"unknown layer {layer!r}; parameter names are: {', '.join(params)}")
    names = None if layer is None else [layer]
    n = prep.P if layer is None else prep.params[layer].numel()
    if isinstance(k, bool) or int(k) != k or not 1 <= int(k) < n:
        raise ValueError(f"k must be an integer in [1, {n - 1}] for a block of size {n}, got {k!r}")
    k = int(k)
    dtype, device = prep.dtype, prep.X.device
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    explain = logits_checker(model, prep, chunk_size)

    def mm(V: np.ndarray) -> np.ndarray:
        V = torch.as_tensor(np.asarray(V).reshape(n, -1), dtype=dtype, device=device)
        HV = loss_hvp(model, prep, V, names=names, chunk_size=chunk_size)
        HV = check_result(HV, "a Hessian-vector product of the Lanczos iteration",
                          temperature=prep.T, explain=explain)
        return HV.detach().cpu().numpy().astype(np_dtype)

    op = LinearOperator(
        (n, n), matvec=lambda v: mm(v)[:, 0], matmat=mm, dtype=np_dtype
    )
    gen = torch.Generator().manual_seed(int(seed))
    v0 = torch.randn(n, generator=gen, dtype=torch.float64).numpy().astype(np_dtype)
    vals, vecs = eigsh(op, k=k, which=which, v0=v0, tol=tol)
    order = np.argsort(vals)
    if which != "SA":
        order = order[::-1] if which == "LA" else np.argsort(-np.abs(vals))
    vals, vecs = vals[order], vecs[:, order]
    return (
        torch.as_tensor(vals.copy(), dtype=dtype, device=device),
        torch.as_tensor(vecs.copy(), dtype=dtype, device=device),
    )
