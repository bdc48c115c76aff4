"""Grid specification for Section 5's experiments: validation, initial points and run keys.

A grid is the product of initialisation scales ``alpha``, base learning rates ``eta0`` and
initialisation seeds. Each configuration trains the ``alpha``-scaled network from
``alpha * theta_0`` at temperature ``T`` (1 in the paper) with the effective rate of
Section 5,

.. math:: \\eta = \\eta_0\\, \\alpha^{2-L},

which makes the first updates commensurate with the weights of the scaled net (its logit
gradients are :math:`\\alpha^{L-1}` times those of the unscaled one, Section 3).

Everything is validated when the grid's :class:`.spec.GridSpec` is built, before any
training, so a bad call fails at once and touches no cache file; :func:`make_problem`
turns a spec into the shared :class:`Problem` and the run list.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..functional import Weights, flatten_params, get_params
from ..models import kaiming_normal_init
from ..notebook import DTYPES
from ..results import tensor_digest
from .descent import effective_learning_rate
from .rules import restart_params

if TYPE_CHECKING:
    from .spec import GridSpec

__all__ = [
    "ENGINE_VERSION",
    "Problem",
    "RunConfig",
    "kaiming_theta0",
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

    def unflatten(self, flat: torch.Tensor) -> Weights:
        """Split a flat vector ``(P,)`` (or a batch ``(R, P)``) into named tensors."""
        return unflatten_batch(flat, self.shapes)


def unflatten_batch(flat: torch.Tensor, shapes: dict[str, tuple[int, ...]]) -> Weights:
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


def kaiming_theta0(model: nn.Module, seed: int, dtype: torch.dtype) -> Weights:
    """The unscaled Kaiming ``theta_0`` of ``seed`` that a grid in ``dtype`` starts from:
    :func:`goldilocks_nb.models.kaiming_normal_init` on a CPU copy of ``model`` in ``dtype``
    (the model itself is not touched)."""
    clone = copy.deepcopy(model).to(device="cpu", dtype=dtype)
    return get_params(kaiming_normal_init(clone, seed))


def _initial_points(spec: GridSpec) -> list[torch.Tensor]:
    """Unscaled ``theta_0`` per seed, flat, on the CPU in the grid's dtype.

    Kaiming-normal from the seed (drawn in ``dtype`` as :func:`goldilocks_nb.models.build_model`
    does), or ``init_params[i]``, or ``restart_from[i]`` rescaled to the norm of
    the seed's Kaiming initialisation (Fig. 11 right). The spec has checked the given
    dicts (one per seed, the model's names and shapes, finite).
    """
    model, dtype, grid = spec.data.model, spec.data.dtype, spec.grid
    out = []
    for i, seed in enumerate(grid.seeds):
        kaiming = None
        if grid.init_params is None:
            kaiming = kaiming_theta0(model, seed, dtype)
        if grid.given is None:
            theta = kaiming
        else:
            p = {k: v.detach().to(device="cpu", dtype=dtype) for k, v in grid.given[i].items()}
            theta = p if grid.restart_from is None else restart_params(p, kaiming)
        out.append(flatten_params(theta).clone())
    return out


def make_problem(spec: GridSpec) -> tuple[Problem, list[RunConfig]]:
    """The :class:`Problem` and :class:`RunConfig` list of a (validated) grid spec.

    Draws the initial points, copies the model to the CPU in the grid's dtype and keys
    every run (:func:`run_key`); validates nothing (:class:`.spec.GridSpec` did, when it
    was built).
    """
    data, grid, schedule, record = spec.data, spec.grid, spec.schedule, spec.record
    model, dtype, degree = data.model, data.dtype, data.degree
    X, y = data.train.X, data.train.y
    X_test = data.test.X if data.test is not None else None
    y_test = data.test.y if data.test is not None else None
    theta0 = _initial_points(spec)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    fingerprint = {
        "version": ENGINE_VERSION,
        "model": f"{type(model).__module__}.{type(model).__qualname__}",
        "structure": repr(model),
        "shapes": {n: list(s) for n, s in shapes.items()},
        "train": [tensor_digest(X), tensor_digest(y)],
        "test": None if X_test is None else [tensor_digest(X_test), tensor_digest(y_test)],
        "theta0": [tensor_digest(t) for t in theta0],
        "degree": degree,
        "temperature": schedule.temperature.hex(),
        "steps": schedule.steps,
        "rule": schedule.rule,
        "labels": schedule.labels,
        "log_every": record.log_every,
        "sharpness_steps": list(record.sharpness_steps),
        "sharpness_tol": record.sharpness_tol.hex(),
        "dtype": _DTYPE_NAMES[dtype],
    }
    problem = Problem(
        model=copy.deepcopy(model).to(device="cpu", dtype=dtype),
        X=X,
        y=y,
        X_test=X_test,
        y_test=y_test,
        num_classes=data.num_classes,
        degree=degree,
        temperature=schedule.temperature,
        steps=schedule.steps,
        rule=schedule.rule,
        labels=schedule.labels,
        log_every=record.log_every,
        sharpness_steps=tuple(record.sharpness_steps),
        checkpoint_every=spec.checkpoint_every,
        dtype=dtype,
        sharpness_tol=record.sharpness_tol,
        shapes=shapes,
        theta0=theta0,
        seeds=list(grid.seeds),
        data_source=data.source,
        fingerprint=fingerprint,
    )
    configs = []
    for a in grid.alphas:
        for e in grid.eta0s:
            for i, s in enumerate(grid.seeds):
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
    return problem, configs
