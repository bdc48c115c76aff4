"""Input validation and preparation shared by the curvature modules (private).

Every public entry point of the engine starts with one call to :func:`prepare`, which
validates ``(model, params, X, y, R, T)`` *before* any expensive computation and raises
:class:`ValueError` naming the offending argument:

- ``T``: a finite number ``> 0``;
- ``params``: exactly the model's tensors (missing / extra names listed), their shapes,
  finite values (:func:`goldilocks_nb.functional.check_params`);
- ``X``: a non-empty tensor ``(N, ...)`` of finite values (the first bad sample named);
- ``y``: integer class indices ``(N,)``;
- ``R``: a finite ``(P, d)`` matrix with ``1 <= d <= P`` and orthonormal columns (or, for
  Hessian-vector products, any finite block ``V`` of shape ``(P, m)``);

and casts everything to one dtype (``R``'s, else the parameters') and device (the
parameters'). Results that overflow the floating-point range despite finite inputs raise
:class:`NonFiniteResultError` (see :func:`check_result`), never come back as NaN / inf.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from goldilocks_nb.functional import Weights, check_finite, check_params, check_temperature

__all__ = [
    "NO_LABELS",
    "NonFiniteResultError",
    "Prepared",
    "batch_chunks",
    "check_batch",
    "check_logits",
    "check_num_directions",
    "check_result",
    "check_subspace",
    "check_symmetric",
    "check_temperature",
    "dtype_name",
    "num_params",
    "prepare",
]


class NonFiniteResultError(OverflowError, ValueError):
    """A computed quantity left the floating-point range (inf / NaN) for finite inputs.

    The message names the quantity and the reason (e.g. a temperature so small that
    ``z / T`` overflows). Subclasses both :class:`OverflowError` and :class:`ValueError`.
    """


NO_LABELS = object()
"""Default of :func:`prepare`'s ``y``: the quantity needs no labels (``y`` unchecked)."""


def dtype_name(dtype: torch.dtype) -> str:
    """``"float64"`` for ``torch.float64`` (for messages)."""
    return str(dtype).removeprefix("torch.")


def num_params(params: Weights) -> int:
    """Total number of scalars ``P`` in ``params``."""
    return sum(t.numel() for t in params.values())


def check_num_directions(num_params: int, d: int) -> int:
    """Validate a subspace dimension ``1 <= d <= P``."""
    if isinstance(d, bool) or int(d) != d:
        raise ValueError(f"subspace dimension d must be an integer, got {d!r}")
    d = int(d)
    if d < 1:
        raise ValueError(f"subspace dimension d must be >= 1, got {d}")
    if d > num_params:
        raise ValueError(
            f"subspace dimension d={d} exceeds the number of parameters P={num_params}"
        )
    return d


def check_batch(X: torch.Tensor, y=NO_LABELS) -> None:
    """Validate a batch: non-empty finite ``X`` ``(N, ...)``, integer ``y`` ``(N,)``."""
    if not isinstance(X, torch.Tensor):
        raise ValueError(f"X must be a tensor, got {type(X).__name__}")
    if X.ndim < 1 or X.shape[0] == 0:
        raise ValueError(f"empty batch: X has shape {tuple(X.shape)}")
    if X.dtype.is_floating_point or X.dtype.is_complex:
        check_finite("X", X, unit="sample")
    if y is NO_LABELS:
        return
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"y must be a tensor, got {type(y).__name__}")
    if y.ndim != 1:
        raise ValueError(f"y must be a vector of class indices, got shape {tuple(y.shape)}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and y have different lengths: {X.shape[0]} inputs, {y.shape[0]} targets"
        )
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(f"y must hold integer class indices, got dtype {y.dtype}")


def _check_directions(V: torch.Tensor, num_params: int, name: str) -> None:
    """A finite floating ``(P, m)`` matrix, ``m >= 1``, rows in ``flatten_params`` order."""
    if not isinstance(V, torch.Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(V).__name__}")
    if V.ndim != 2:
        raise ValueError(f"{name} must be a (P, d) matrix, got shape {tuple(V.shape)}")
    if not V.dtype.is_floating_point:
        raise ValueError(f"{name} must be floating point, got dtype {V.dtype}")
    if V.shape[0] != num_params:
        raise ValueError(
            f"{name} has {V.shape[0]} rows but the model has P={num_params} parameters "
            f"({name} must be (P, d), rows in flatten_params order)"
        )
    if V.shape[1] < 1:
        raise ValueError(f"{name} must have >= 1 columns, got shape {tuple(V.shape)}")
    check_finite(name, V, unit="row")


def check_subspace(R: torch.Tensor, num_params: int, *, tol: float | None = None) -> None:
    """Validate a projection matrix: finite, shape ``(P, d)``, ``1 <= d <= P``, ``R^T R = I``.

    Args:
        R: candidate basis, shape ``(P, d)``.
        num_params: the number of parameters ``P`` of the model.
        tol: maximal entry of ``|R^T R - I|``; defaults to ``sqrt(eps)`` of ``R``'s dtype.
    """
    _check_directions(R, num_params, "R")
    check_num_directions(num_params, R.shape[1])
    if tol is None:
        tol = math.sqrt(torch.finfo(R.dtype).eps)
    gram = R.T @ R
    err = (gram - torch.eye(R.shape[1], dtype=R.dtype, device=R.device)).abs().max().item()
    if not err <= tol:
        raise ValueError(
            f"R must have orthonormal columns: max |R^T R - I| = {err:.3g} > {tol:.3g}"
        )


def check_symmetric(M: torch.Tensor) -> torch.Tensor:
    """Validate a finite, symmetric square matrix; return it (as is)."""
    if not isinstance(M, torch.Tensor):
        raise ValueError(f"expected a tensor, got {type(M).__name__}")
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise ValueError(f"expected a non-empty square matrix, got shape {tuple(M.shape)}")
    if not torch.isfinite(M).all():
        raise ValueError("matrix has non-finite entries")
    scale = M.abs().max()
    asym = (M - M.T).abs().max()
    tol = 1e3 * torch.finfo(M.dtype).eps if M.dtype.is_floating_point else 0.0
    if asym > tol * scale:
        raise ValueError(f"matrix is not symmetric: max |M - M^T| = {asym.item():.3g}")
    return M


@dataclass(frozen=True)
class Prepared:
    """Validated inputs in one dtype and on one device (see :func:`prepare`).

    ``R`` holds the directions (an orthonormal ``R``, or the block ``V`` of a
    Hessian-vector product), ``T`` the temperature (``None`` where none is involved).
    """

    params: Weights
    X: torch.Tensor
    y: torch.Tensor | None
    R: torch.Tensor | None
    T: float | None

    @property
    def N(self) -> int:
        """Number of samples."""
        return self.X.shape[0]

    @property
    def P(self) -> int:
        """Number of parameters."""
        return num_params(self.params)

    @property
    def dtype(self) -> torch.dtype:
        """The computation's dtype."""
        return self.X.dtype

    def with_directions(self, R: torch.Tensor) -> Prepared:
        """The same inputs with trusted directions ``R`` (e.g. a fresh
        ``random_subspace``), recast to ``R``'s dtype on the parameters' device."""
        device = self.X.device
        return Prepared(
            params={k: _cast(f"params[{k!r}]", v, R.dtype, device, None)
                    for k, v in self.params.items()},
            X=_cast("X", self.X, R.dtype, device, "sample"),
            y=self.y,
            R=R.to(device=device),
            T=self.T,
        )


def _cast(name: str, t: torch.Tensor, dtype: torch.dtype, device, unit: str | None):
    """``t`` in ``dtype`` on ``device``; a narrowing cast must not create inf."""
    out = t.detach().to(dtype=dtype, device=device)
    if out.dtype != t.dtype and (t.dtype.is_floating_point or t.dtype.is_complex):
        if torch.finfo(out.dtype).max < torch.finfo(t.dtype).max:
            check_finite(f"{name} (after conversion to {dtype_name(dtype)})", out, unit=unit)
    return out


def prepare(
    model: nn.Module,
    params: Weights,
    X: torch.Tensor,
    y=NO_LABELS,
    R: torch.Tensor | None = None,
    *,
    temperature: float | None = None,
    orthonormal: bool = True,
) -> Prepared:
    """Validate the inputs of an engine call, then cast them to one dtype and device.

    Cheap: no forward pass of ``model``. The dtype is ``R``'s when given, else that of
    the first parameter; the device is the first parameter's.

    Args:
        model: the network (only its ``named_parameters()`` are read).
        params: ``{name: tensor}``, exactly the model's parameters.
        X: inputs ``(N, ...)``.
        y: integer labels ``(N,)``; leave out where the quantity needs none.
        R: directions ``(P, d)`` or ``None``.
        temperature: softmax temperature, or ``None`` where none is involved.
        orthonormal: ``R`` must have orthonormal columns (else it is a block ``V`` of
            vectors for Hessian-vector products, named ``V`` in messages).

    Raises:
        ValueError: naming the argument (see the module docstring).
    """
    T = None if temperature is None else check_temperature(temperature)
    check_params(model, params)
    check_batch(X, y)
    P = num_params(params)
    if R is not None:
        if orthonormal:
            check_subspace(R, P)
        else:
            _check_directions(R, P, "V")
    first = next(iter(params.values()))
    dtype = R.dtype if R is not None else first.dtype
    device = first.device
    return Prepared(
        params={k: _cast(f"params[{k!r}]", v, dtype, device, None) for k, v in params.items()},
        X=_cast("X", X, dtype, device, "sample"),
        y=None if y is NO_LABELS else y.to(dtype=torch.long, device=device),
        R=None if R is None else R.to(device=device),
        T=T,
    )


def _nonfinite_kinds(t: torch.Tensor) -> str:
    bad = ~torch.isfinite(t)
    n, n_nan = int(bad.sum()), int(torch.isnan(t).sum())
    kinds = ", ".join(k for k in (f"{n_nan} NaN" * bool(n_nan),
                                  f"{n - n_nan} inf" * bool(n - n_nan)) if k)
    return f"{n} of its {t.numel()} entries are not finite ({kinds})"


def check_logits(z: torch.Tensor, log10_scale: float = 0.0, what: str = "z / T") -> None:
    """The logits ``z`` and the softmax input ``10**log10_scale * z`` must be finite.

    Args:
        z: logits ``(N, K)``.
        log10_scale: ``log10`` of the factor applied to ``z`` before the softmax (``1/T``:
            ``-log10(T)``); a logarithm, so that the factor itself may be out of range.
        what: the softmax input's name in the message.

    Raises:
        NonFiniteResultError: naming which one overflowed and the numbers behind it.
    """
    if not bool(torch.isfinite(z).all()):
        raise NonFiniteResultError(
            f"the logits z = f(X) at params overflowed {dtype_name(z.dtype)}: "
            f"{_nonfinite_kinds(z)}; the parameters (or their scale) are too large for it"
        )
    zmax = float(z.abs().max())
    big = torch.finfo(z.dtype).max
    if zmax > 0 and math.log10(zmax) + log10_scale > math.log10(big):
        raise NonFiniteResultError(
            f"the softmax input {what} overflows {dtype_name(z.dtype)}: max |z| = {zmax:.3g} "
            f"times 10^{log10_scale:.4g} exceeds the largest {dtype_name(z.dtype)} ({big:.3g}); "
            "use a larger temperature (or a smaller scale)"
        )


def check_result(
    M: torch.Tensor,
    quantity: str,
    *,
    temperature: float | None = None,
    explain: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Return ``M`` if finite; else raise :class:`NonFiniteResultError` naming ``quantity``.

    Args:
        M: the result.
        quantity: what ``M`` is (e.g. ``"the projected Hessian R^T H R"``).
        temperature: the softmax temperature, named in the message when far from 1.
        explain: called first on failure; may raise a more specific error (e.g.
            :func:`check_logits` on freshly computed logits).
    """
    if bool(torch.isfinite(M).all()):
        return M
    if explain is not None:
        explain()
    why = _temperature_note(temperature, M.dtype)
    raise NonFiniteResultError(
        f"{quantity} overflowed {dtype_name(M.dtype)} although the inputs are finite: "
        f"{_nonfinite_kinds(M)}{'; ' + why if why else ''}"
    )


def _temperature_note(T: float | None, dtype: torch.dtype = torch.float64) -> str:
    """The part of an overflow message that points at a temperature far from 1."""
    if T is None or 1e-30 < T < 1e30:
        return ""
    log_g = -2 * math.log10(T)
    big = torch.finfo(dtype).max
    if log_g > math.log10(big):
        return (f"the G-term's factor 1/T^2 = 10^{log_g:.4g} at T = {T:.3g} exceeds the "
                f"largest {dtype_name(dtype)} ({big:.3g}); use a larger temperature")
    return (f"the temperature T = {T:.3g} scales the Hessian's H-term as 1/T and its "
            "G-term as 1/T^2")


def batch_chunks(n: int, chunk_size: int | None) -> Iterator[slice]:
    """Slices ``[0, n)`` in consecutive pieces of at most ``chunk_size`` (all if ``None``)."""
    if chunk_size is None:
        yield slice(0, n)
        return
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size!r}")
    step = int(chunk_size)
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))
