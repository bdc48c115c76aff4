"""Grid specification for Section 5's experiments: validation, initial points and run keys.

A grid is the product of initialisation scales ``alpha``, base learning rates ``eta0`` and
initialisation seeds. Each configuration trains the ``alpha``-scaled network from
``alpha * theta_0`` at temperature ``T`` (1 in the paper) with the effective rate of
Section 5,

.. math:: \\eta = \\eta_0\\, \\alpha^{2-L},

which makes the first updates commensurate with the weights of the scaled net (its logit
gradients are :math:`\\alpha^{L-1}` times those of the unscaled one, Section 3).

Everything is validated in :func:`make_problem` before any training, so a bad call fails
at once and touches no cache file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from ..functional import Params, check_temperature, flatten_params, get_params
from ..models import kaiming_normal_init
from ..notebook import DTYPES
from ..results import tensor_digest
from .descent import effective_learning_rate
from .rules import LABEL_MODES, RULES, restart_params

__all__ = [
    "ENGINE_VERSION",
    "Problem",
    "RunConfig",
    "make_problem",
    "run_key",
    "unflatten_batch",
]

ENGINE_VERSION = "1"
_DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


@dataclass(frozen=True)
class RunConfig:
    """One configuration of the grid.

    Attributes:
        run: position in the grid (alpha-major, then eta0, then seed).
        alpha, eta0: initialisation scale and base learning rate.
        seed: initialisation seed (also seeds random labels).
        seed_index: position of ``seed`` in the grid's seed list (its ``theta_0``).
        lr: effective rate ``eta0 * alpha^(2 - L)``.
        key: hash of everything that determines this run (cache file name).
    """

    run: int
    alpha: float
    eta0: float
    seed: int
    seed_index: int
    lr: float
    key: str


@dataclass
class Problem:
    """What all runs of a grid share (picklable: it travels to Dask workers).

    Tensors are kept on the CPU in the grid's dtype; each worker moves them to its device.
    ``theta0`` holds the unscaled initial parameters of each seed as flat vectors.
    """

    model: nn.Module
    X: torch.Tensor
    y: torch.Tensor
    X_test: torch.Tensor | None
    y_test: torch.Tensor | None
    num_classes: int
    degree: int
    temperature: float
    steps: int
    rule: str
    labels: str
    log_every: int
    sharpness_steps: tuple[int, ...]
    checkpoint_every: int
    dtype: torch.dtype
    sharpness_tol: float
    shapes: dict[str, tuple[int, ...]]
    theta0: list[torch.Tensor]
    seeds: list[int]
    data_source: str = ""
    fingerprint: dict[str, Any] = field(default_factory=dict)

    def unflatten(self, flat: torch.Tensor) -> Params:
        """Split a flat vector ``(P,)`` (or a batch ``(R, P)``) into named tensors."""
        return unflatten_batch(flat, self.shapes)


def unflatten_batch(flat: torch.Tensor, shapes: dict[str, tuple[int, ...]]) -> Params:
    """Split ``(..., P)`` into ``{name: (..., *shape)}`` views, in ``shapes`` order."""
    out, start = {}, 0
    lead = flat.shape[:-1]
    for name, shape in shapes.items():
        n = math.prod(shape)
        out[name] = flat[..., start : start + n].reshape(*lead, *shape)
        start += n
    return out


def run_key(problem: Problem, alpha: float, eta0: float, seed_index: int) -> str:
    """Hash of everything that determines one run's log and parameters.

    Model class and structure, the training and test data, the run's unscaled initial
    parameters, ``alpha``, ``eta0``, the seed (random labels), temperature, steps, update
    rule, label scheme, logging and sharpness schedule, dtype and :data:`ENGINE_VERSION`.
    The device is not part of the key (CPU and GPU runs differ only by rounding), nor is
    the checkpoint interval.
    """
    blob = json.dumps(
        {
            **problem.fingerprint,
            "theta0": problem.fingerprint["theta0"][seed_index],
            "seed": problem.seeds[seed_index],
            "alpha": float(alpha).hex(),
            "eta0": float(eta0).hex(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _check_positive_list(name: str, values: Any) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        if isinstance(values, torch.Tensor):
            values = values.tolist()
        else:
            raise ValueError(f"{name} must be a list of numbers, got {values!r}")
    values = list(values)
    if not values:
        raise ValueError(f"{name} is empty: the grid needs at least one value")
    out = []
    for v in values:
        if isinstance(v, bool):
            raise ValueError(f"{name} must hold numbers, got {v!r}")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold numbers, got {v!r}") from None
        if not math.isfinite(f) or f <= 0:
            raise ValueError(f"every value in {name} must be a finite number > 0, got {v!r}")
        out.append(f)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has repeated values: {values!r}")
    return out


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _split(name: str, data: Any) -> tuple[torch.Tensor, torch.Tensor, int | None, str]:
    """``(X, y, declared number of classes or None, source)`` from a Dataset or a pair."""
    if hasattr(data, "X") and hasattr(data, "y"):
        classes = getattr(data, "num_classes", None)
        return data.X, data.y, classes, str(getattr(data, "source", ""))
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1], None, ""
    raise ValueError(f"{name} must be a Dataset or an (X, y) pair, got {type(data).__name__}")


def _check_split(name: str, X: Any, y: Any) -> None:
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError(f"{name}: X and y must be tensors")
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(f"{name}: X must be a non-empty batch (N, ...), got {tuple(X.shape)}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{name}: y must have shape ({X.shape[0]},), got {tuple(y.shape)}")
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.dtype.is_complex:
        raise ValueError(f"{name}: y must hold integer class indices, got {y.dtype}")
    if not torch.isfinite(X).all():
        raise ValueError(f"{name}: X has non-finite entries")


def _initial_points(
    model: nn.Module,
    seeds: list[int],
    dtype: torch.dtype,
    init_params: Sequence[Params] | None,
    restart_from: Sequence[Params] | None,
) -> list[torch.Tensor]:
    """Unscaled ``theta_0`` per seed, flat, on the CPU in ``dtype``.

    Kaiming-normal from the seed (drawn in ``dtype`` as :func:`goldilocks_nb.models.build_model`
    does), or ``init_params[i]``, or ``restart_from[i]`` rescaled to the norm of
    the seed's Kaiming initialisation (Fig. 11 right).
    """
    names = [n for n, _ in model.named_parameters()]
    given = init_params if init_params is not None else restart_from
    if given is not None and len(given) != len(seeds):
        which = "init_params" if init_params is not None else "restart_from"
        raise ValueError(f"{which} needs one parameter dict per seed: {len(seeds)} seeds, "
                         f"{len(given)} dicts")
    out = []
    for i, seed in enumerate(seeds):
        kaiming = None
        if init_params is None:
            clone = copy.deepcopy(model).to(device="cpu", dtype=dtype)
            kaiming = get_params(kaiming_normal_init(clone, seed))
        if given is None:
            theta = kaiming
        else:
            p = given[i]
            if list(p) != names or any(
                tuple(p[k].shape) != tuple(dict(model.named_parameters())[k].shape) for k in p
            ):
                raise ValueError(
                    "init_params / restart_from must match the model's parameters "
                    f"({', '.join(names)}) in names and shapes"
                )
            p = {k: v.detach().to(device="cpu", dtype=dtype) for k, v in p.items()}
            theta = p if restart_from is None else restart_params(p, kaiming)
        flat = flatten_params(theta).clone()
        if not torch.isfinite(flat).all():
            raise ValueError(f"initial parameters of seed {seed} have non-finite entries")
        out.append(flat)
    return out


def make_problem(
    model: nn.Module,
    train: Any,
    test: Any,
    *,
    alphas: Sequence[float],
    eta0s: Sequence[float],
    seeds: Sequence[int],
    steps: int,
    temperature: float,
    rule: str,
    labels: str,
    degree: int | None,
    log_every: int,
    sharpness_steps: Sequence[int],
    checkpoint_every: int | None,
    dtype: torch.dtype,
    sharpness_tol: float,
    init_params: Sequence[Params] | None,
    restart_from: Sequence[Params] | None,
) -> tuple[Problem, list[RunConfig]]:
    """Validate a grid and build its :class:`Problem` and :class:`RunConfig` list.

    Raises:
        ValueError: any bad value (named in the message); nothing has been trained or
            written when it is raised.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    alphas = _check_positive_list("alphas", alphas)
    eta0s = _check_positive_list("eta0s", eta0s)
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = [seeds]
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty: the grid needs at least one seed")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise ValueError(f"seeds must be integers, got {s!r}")
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds has repeated values: {seeds!r}")
    steps = _check_int("steps", steps, 1)
    T = check_temperature(temperature)
    if rule not in RULES:
        raise ValueError(f"unknown update rule {rule!r}; choose one of {', '.join(RULES)}")
    if labels not in LABEL_MODES:
        raise ValueError(f"unknown labels {labels!r}; choose one of {', '.join(LABEL_MODES)}")
    log_every = _check_int("log_every", log_every, 1)
    if checkpoint_every is None:
        checkpoint_every = max(log_every, min(1000, steps))
    checkpoint_every = _check_int("checkpoint_every", checkpoint_every, 1)
    sharp = sorted({_check_int("sharpness_steps", s, 0) for s in sharpness_steps})
    if sharp and sharp[-1] > steps:
        raise ValueError(f"sharpness_steps must lie in [0, steps={steps}], got {sharp[-1]}")
    if dtype not in _DTYPE_NAMES:
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    tol = float(sharpness_tol)
    if not math.isfinite(tol) or tol < 0:
        raise ValueError(f"sharpness_tol must be a finite number >= 0, got {sharpness_tol!r}")
    if init_params is not None and restart_from is not None:
        raise ValueError("give init_params or restart_from, not both")
    if degree is None:
        degree = getattr(model, "degree", None)
        if degree is None:
            raise ValueError(f"{type(model).__name__} declares no homogeneity degree; pass degree")
    degree = _check_int("degree", degree, 1)

    X, y, k_train, source = _split("train", train)
    _check_split("train", X, y)
    X = X.detach().to(device="cpu", dtype=dtype).contiguous()
    y = y.detach().to(device="cpu", dtype=torch.long).contiguous()
    theta0 = _initial_points(model, seeds, dtype, init_params, restart_from)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    model_copy = copy.deepcopy(model).to(device="cpu", dtype=dtype)
    with torch.no_grad():
        z = functional_call(model_copy, unflatten_batch(theta0[0], shapes), (X[:1],))
    if z.ndim != 2:
        raise ValueError(f"the model must map (N, ...) to logits (N, K), got {tuple(z.shape)}")
    K = int(z.shape[1])
    if k_train is not None and k_train != K:
        raise ValueError(f"train split has {k_train} classes but the model outputs {K} logits")
    if int(y.min()) < 0 or int(y.max()) >= K:
        raise ValueError(f"train labels must lie in [0, {K}), got [{int(y.min())}, {int(y.max())}]")
    X_test = y_test = None
    if test is not None:
        X_test, y_test, k_test, test_source = _split("test", test)
        _check_split("test", X_test, y_test)
        if tuple(X_test.shape[1:]) != tuple(X.shape[1:]):
            raise ValueError(
                f"test inputs have shape {tuple(X_test.shape[1:])}, train inputs "
                f"{tuple(X.shape[1:])}"
            )
        if k_test is not None and k_test != K:
            raise ValueError(
                f"test split has {k_test} classes but the train split / model has {K}"
            )
        if int(y_test.min()) < 0 or int(y_test.max()) >= K:
            raise ValueError(
                f"test labels must lie in [0, {K}) like the train split's, got "
                f"[{int(y_test.min())}, {int(y_test.max())}]"
            )
        X_test = X_test.detach().to(device="cpu", dtype=dtype).contiguous()
        y_test = y_test.detach().to(device="cpu", dtype=torch.long).contiguous()
        if test_source and test_source != source:
            source = f"{source}; test: {test_source}" if source else test_source

    fingerprint = {
        "version": ENGINE_VERSION,
        "model": f"{type(model).__module__}.{type(model).__qualname__}",
        "structure": repr(model),
        "shapes": {n: list(s) for n, s in shapes.items()},
        "train": [tensor_digest(X), tensor_digest(y)],
        "test": None if X_test is None else [tensor_digest(X_test), tensor_digest(y_test)],
        "theta0": [tensor_digest(t) for t in theta0],
        "degree": degree,
        "temperature": T.hex(),
        "steps": steps,
        "rule": rule,
        "labels": labels,
        "log_every": log_every,
        "sharpness_steps": sharp,
        "sharpness_tol": tol.hex(),
        "dtype": _DTYPE_NAMES[dtype],
    }
    problem = Problem(
        model=model_copy,
        X=X,
        y=y,
        X_test=X_test,
        y_test=y_test,
        num_classes=K,
        degree=degree,
        temperature=T,
        steps=steps,
        rule=rule,
        labels=labels,
        log_every=log_every,
        sharpness_steps=tuple(sharp),
        checkpoint_every=checkpoint_every,
        dtype=dtype,
        sharpness_tol=tol,
        shapes=shapes,
        theta0=theta0,
        seeds=seeds,
        data_source=source,
        fingerprint=fingerprint,
    )
    configs = []
    for a in alphas:
        for e in eta0s:
            for i, s in enumerate(seeds):
                configs.append(
                    RunConfig(
                        run=len(configs),
                        alpha=a,
                        eta0=e,
                        seed=s,
                        seed_index=i,
                        lr=effective_learning_rate(e, a, degree),
                        key=run_key(problem, a, e, i),
                    )
                )
    for c in configs:
        if not math.isfinite(c.lr) or c.lr <= 0:
            raise ValueError(
                f"effective learning rate eta0 * alpha^(2-L) = {c.lr!r} is not a finite "
                f"positive number for alpha={c.alpha}, eta0={c.eta0}, L={degree}"
            )
    return problem, configs
