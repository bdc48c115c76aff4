"""What a grid of Section 5 trains, and how: :class:`GridSpec`, validated once.

A grid is the product of initialisation scales ``alpha``, base learning rates ``eta0`` and
initialisation seeds; each configuration trains the ``alpha``-scaled network from
``alpha * theta_0`` with the effective rate ``eta0 * alpha^(2-L)`` (Section 5). Its
settings fall into five groups, each a frozen dataclass that checks its own fields when
it is built:

- :class:`Data`: the network, the training and held-out splits, dtype and degree ``L``;
- :class:`Grid`: the axes ``alphas x eta0s x seeds`` and the unscaled starting points;
- :class:`Schedule`: steps, temperature, update rule and labels (the optimiser);
- :class:`Record`: what is logged (log interval, sharpness steps) and checkpointed;
- :class:`Execution`: where it runs (device, chunking, results cache, Dask, progress).

:class:`GridSpec` holds one of each and checks what involves two groups (sharpness steps
within the steps, starting points shaped like the model, finite effective rates). So a
bad grid is refused, with a :class:`ValueError` naming the parameter, when its spec is
built: before anything is trained, read or written.
:func:`goldilocks_nb.training.train_grid` takes a spec; :meth:`GridSpec.of` builds one
from the settings' names (``GridSpec.of(model, train, test, alphas=..., steps=...)``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.func import functional_call

from ..functional import Weights, check_finite, check_temperature
from ..notebook import DTYPES, resolve_device
from ._checks import (
    check_choice,
    check_int,
    check_positive,
    check_positive_list,
    check_seeds,
    check_split,
    unpack_split,
)
from .descent import effective_learning_rate
from .rules import LABEL_MODES, RULES

__all__ = ["EXECUTORS", "Data", "Execution", "Grid", "GridSpec", "Record", "Schedule",
           "Split"]

EXECUTORS = ("local", "dask")


class Split(NamedTuple):
    """A validated split: ``X`` (CPU, the grid's dtype), integer labels ``y`` (CPU, int64),
    the number of classes and where the data came from."""

    X: torch.Tensor
    y: torch.Tensor
    num_classes: int
    source: str


def _set(obj: Any, name: str, value: Any) -> None:
    """Store a normalised value on a frozen dataclass (inside its ``__post_init__``)."""
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, eq=False)
class Data:
    """The network and the data it trains on (compared by identity: it holds tensors).

    Attributes:
        model: the architecture (its parameters are not used and never written to).
        train: the training split, a :class:`goldilocks_nb.data.Dataset` or ``(X, y)``;
            stored as a :class:`Split` (CPU, ``dtype``) once checked.
        test: the held-out split (same classes), or ``None`` (test columns are NaN).
        dtype: ``torch.float32`` or ``torch.float64``.
        degree: homogeneity degree ``L`` (``None``: ``model.degree``).
    """

    model: nn.Module
    train: Any
    test: Any = None
    dtype: torch.dtype = torch.float32
    degree: int | None = None

    def __post_init__(self) -> None:
        model = self.model
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if self.dtype not in DTYPES.values():
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {self.dtype}")
        degree = self.degree
        if degree is None:
            degree = getattr(model, "degree", None)
            if degree is None:
                raise ValueError(
                    f"{type(model).__name__} declares no homogeneity degree; pass degree")
        _set(self, "degree", check_int("degree", degree, 1))
        X, y, k_train, source = unpack_split("train", self.train)
        check_split("train", X, y)
        X = X.detach().to(device="cpu", dtype=self.dtype).contiguous()
        y = y.detach().to(device="cpu", dtype=torch.long).contiguous()
        with torch.no_grad():  # the model's output shape (its own parameters, on the CPU)
            z = functional_call(copy.deepcopy(model).to(device="cpu", dtype=self.dtype), {},
                                (X[:1],))
        if z.ndim != 2:
            raise ValueError(
                f"the model must map (N, ...) to logits (N, K), got {tuple(z.shape)}")
        K = int(z.shape[1])
        if k_train is not None and k_train != K:
            raise ValueError(
                f"train split has {k_train} classes but the model outputs {K} logits")
        if int(y.min()) < 0 or int(y.max()) >= K:
            raise ValueError(
                f"train labels must lie in [0, {K}), got [{int(y.min())}, {int(y.max())}]")
        if self.test is not None:
            X_t, y_t, k_test, test_source = unpack_split("test", self.test)
            check_split("test", X_t, y_t)
            if tuple(X_t.shape[1:]) != tuple(X.shape[1:]):
                raise ValueError(f"test inputs have shape {tuple(X_t.shape[1:])}, train "
                                 f"inputs {tuple(X.shape[1:])}")
            if k_test is not None and k_test != K:
                raise ValueError(
                    f"test split has {k_test} classes but the train split / model has {K}")
            if int(y_t.min()) < 0 or int(y_t.max()) >= K:
                raise ValueError(
                    f"test labels must lie in [0, {K}) like the train split's, got "
                    f"[{int(y_t.min())}, {int(y_t.max())}]")
            _set(self, "test", Split(X_t.detach().to(device="cpu", dtype=self.dtype)
                                     .contiguous(),
                                     y_t.detach().to(device="cpu", dtype=torch.long)
                                     .contiguous(), K, test_source))
        _set(self, "train", Split(X, y, K, source))

    @property
    def num_classes(self) -> int:
        """``K``, the number of logits (= classes)."""
        return self.train.num_classes

    @property
    def source(self) -> str:
        """Where the data came from (train; and test, when it differs)."""
        source = self.train.source
        test = self.test.source if self.test is not None else ""
        if test and test != source:
            return f"{source}; test: {test}" if source else test
        return source


@dataclass(frozen=True)
class Grid:
    """The grid's axes and starting points.

    Attributes:
        alphas: initialisation scales ``> 0``.
        eta0s: base learning rates ``> 0``.
        seeds: initialisation seeds (integers); random labels are seeded by them too.
        init_params: explicit unscaled ``theta_0`` per seed (instead of Kaiming).
        restart_from: per seed, parameters whose direction is kept and whose norm is set
            to that of the seed's Kaiming ``theta_0`` (Fig. 11 right,
            :func:`.rules.restart_params`); ``alpha`` then scales that point.
    """

    alphas: Sequence[float]
    eta0s: Sequence[float]
    seeds: Sequence[int] = (0,)
    init_params: Sequence[Weights] | None = None
    restart_from: Sequence[Weights] | None = None

    def __post_init__(self) -> None:
        _set(self, "alphas", check_positive_list("alphas", self.alphas))
        _set(self, "eta0s", check_positive_list("eta0s", self.eta0s))
        _set(self, "seeds", check_seeds(self.seeds))
        if self.init_params is not None and self.restart_from is not None:
            raise ValueError("give init_params or restart_from, not both")
        given = self.given
        if given is not None:
            which = "init_params" if self.init_params is not None else "restart_from"
            if len(given) != len(self.seeds):
                raise ValueError(f"{which} needs one parameter dict per seed: "
                                 f"{len(self.seeds)} seeds, {len(given)} dicts")
            _set(self, which, tuple(given))

    @property
    def given(self) -> Sequence[Weights] | None:
        """``init_params`` or ``restart_from``, whichever is set."""
        return self.init_params if self.init_params is not None else self.restart_from

    @property
    def runs(self) -> int:
        """The number of configurations, ``alphas x eta0s x seeds``."""
        return len(self.alphas) * len(self.eta0s) * len(self.seeds)


@dataclass(frozen=True)
class Schedule:
    """The optimiser: how long, at which temperature, by which rule, on which labels.

    Attributes:
        steps: gradient steps ``>= 1``.
        temperature: softmax temperature ``T > 0`` (1 in Section 5).
        rule: ``"gd"`` (gradient descent) or ``"uso"`` (the uniform-softmax-output model
            of App. E, :mod:`.rules`).
        labels: ``"true"``, ``"random-fixed"`` or ``"random-redrawn"`` (C22).
    """

    steps: int
    temperature: float = 1.0
    rule: str = "gd"
    labels: str = "true"

    def __post_init__(self) -> None:
        _set(self, "steps", check_int("steps", self.steps, 1))
        _set(self, "temperature", check_temperature(self.temperature))
        check_choice("update rule", self.rule, RULES)
        check_choice("labels", self.labels, LABEL_MODES)


@dataclass(frozen=True)
class Record:
    """What is logged and checkpointed.

    Attributes:
        log_every: log every this many steps (and always at the end).
        sharpness_steps: steps at which ``||H||_2`` is computed (Lanczos, largest
            magnitude); ``(0,)`` gives Figure 8 right's ``eta ||H||_2``; ``()`` for none.
        sharpness_tol: relative tolerance of that Lanczos.
        checkpoint_every: steps between checkpoints in the cache (``None``:
            ``max(log_every, min(1000, steps))``, see :meth:`GridSpec.checkpoint_every`).
    """

    log_every: int = 1
    sharpness_steps: Sequence[int] = (0,)
    sharpness_tol: float = 1e-6
    checkpoint_every: int | None = None

    def __post_init__(self) -> None:
        _set(self, "log_every", check_int("log_every", self.log_every, 1))
        _set(self, "sharpness_steps", tuple(sorted(
            {check_int("sharpness_steps", s, 0) for s in self.sharpness_steps})))
        _set(self, "sharpness_tol",
             check_positive("sharpness_tol", self.sharpness_tol, minimum_inclusive=True))
        if self.checkpoint_every is not None:
            _set(self, "checkpoint_every",
                 check_int("checkpoint_every", self.checkpoint_every, 1))


@dataclass(frozen=True)
class Execution:
    """Where and how the grid runs; none of it changes a run's numbers beyond rounding.

    Attributes:
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda[:i]"``.
        chunk_size: configurations per batched chunk (``None``: as many as fit in half the
            free GPU memory or a quarter of the available RAM; with Dask at most
            ``ceil(runs / dask_workers)``).
        cache_dir: results cache folder: finished runs are read from it, unfinished ones
            resume from their last checkpoint; ``None`` keeps everything in memory.
        executor: ``"local"`` (this process) or ``"dask"``.
        dask_address: ``None`` (a LocalCluster for this call), a scheduler address
            ``"tcp://host:8786"``, or a ``distributed.Client``.
        dask_workers: worker processes of that LocalCluster.
        dask_timeout: seconds to wait for a scheduler at ``dask_address`` (bounds the
            connection, Dask's handshake and the check that a scheduler answers).
        progress: show a ``tqdm.auto`` bar (runs done / total, steps per second).
    """

    device: str = "auto"
    chunk_size: int | None = None
    cache_dir: str | os.PathLike | None = None
    executor: str = "local"
    dask_address: Any = None
    dask_workers: int = 2
    dask_timeout: float = 5.0
    progress: bool = True

    def __post_init__(self) -> None:
        check_choice("executor", self.executor, EXECUTORS)
        check_int("dask_workers", self.dask_workers, 1)
        _set(self, "dask_timeout", check_positive("dask_timeout", self.dask_timeout,
                                                  what="a finite number of seconds"))
        if self.chunk_size is not None and (isinstance(self.chunk_size, bool) or not
                                            isinstance(self.chunk_size, int) or
                                            self.chunk_size < 1):
            raise ValueError(
                f"chunk_size must be an integer >= 1 or None, got {self.chunk_size!r}")
        resolve_device(self.device)
        address = self.dask_address
        if self.executor == "dask" and address is not None and not (
            isinstance(address, str) and "://" in address
        ) and not _is_dask_client(address):
            raise ValueError(
                f"dask_address must be a scheduler address like 'tcp://host:8786' or a "
                f"distributed.Client, got {address!r}")
        if self.cache_dir is not None:
            _set(self, "cache_dir", str(self.cache_dir))


def _is_dask_client(obj: Any) -> bool:
    """``obj`` is a ``distributed.Client`` (imported only when something else was given)."""
    if isinstance(obj, (str, bytes)):
        return False
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    return isinstance(obj, Client)


_GROUPS = {"data": Data, "grid": Grid, "schedule": Schedule, "record": Record,
           "execution": Execution}


@dataclass(frozen=True)
class GridSpec:
    """A whole grid: data, axes, optimiser, what to record, where to run (Section 5).

    Built once, checked once: each group checks its fields, this class what involves
    two of them. Every check raises :class:`ValueError` naming the parameter before
    anything is trained, read or written.
    """

    data: Data
    grid: Grid
    schedule: Schedule
    record: Record = field(default_factory=Record)
    execution: Execution = field(default_factory=Execution)

    def __post_init__(self) -> None:
        for name, kind in _GROUPS.items():
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"GridSpec.{name} must be a {kind.__name__}, got "
                                 f"{type(getattr(self, name)).__name__}")
        steps = self.schedule.steps
        sharp = self.record.sharpness_steps
        if sharp and sharp[-1] > steps:
            raise ValueError(f"sharpness_steps must lie in [0, steps={steps}], got {sharp[-1]}")
        given = self.grid.given
        if given is not None:
            shapes = {n: tuple(p.shape) for n, p in self.data.model.named_parameters()}
            for p in given:
                if not isinstance(p, dict) or list(p) != list(shapes) or any(
                    tuple(p[k].shape) != shapes[k] for k in p
                ):
                    raise ValueError(
                        "init_params / restart_from must match the model's parameters "
                        f"({', '.join(shapes)}) in names and shapes")
            for seed, p in zip(self.grid.seeds, given):
                for k, v in p.items():
                    check_finite(f"initial parameters of seed {seed}: {k}", v)
        L = self.data.degree
        for a in self.grid.alphas:
            for e in self.grid.eta0s:
                lr = effective_learning_rate(e, a, L)
                if not math.isfinite(lr) or lr <= 0:
                    raise ValueError(
                        f"effective learning rate eta0 * alpha^(2-L) = {lr!r} is not a "
                        f"finite positive number for alpha={a}, eta0={e}, L={L}")

    @property
    def checkpoint_every(self) -> int:
        """Steps between checkpoints: ``record.checkpoint_every`` or its default
        ``max(log_every, min(1000, steps))``."""
        if self.record.checkpoint_every is not None:
            return self.record.checkpoint_every
        return max(self.record.log_every, min(1000, self.schedule.steps))

    @classmethod
    def of(cls, model: nn.Module, train: Any, test: Any = None, **settings: Any) -> GridSpec:
        """A spec from the settings' names: each keyword goes to the group with that field
        (``alphas`` to :class:`Grid`, ``steps`` to :class:`Schedule`, ``device`` to
        :class:`Execution`, ...); the groups' defaults fill the rest.

        Raises:
            TypeError: a keyword that no group has (named, with the groups' fields).
            ValueError: a bad value (as the groups and :class:`GridSpec` check them).
        """
        parts: dict[str, dict[str, Any]] = {name: {} for name in _GROUPS}
        parts["data"].update(model=model, train=train, test=test)
        owner = {f.name: group for group, kind in _GROUPS.items()
                 for f in dataclasses.fields(kind)}
        unknown = [k for k in settings if k not in owner]
        if unknown:
            known = "; ".join(f"{g}: {', '.join(f.name for f in dataclasses.fields(kind))}"
                              for g, kind in _GROUPS.items())
            raise TypeError(f"unknown grid setting(s) {', '.join(map(repr, unknown))}; the "
                            f"settings are {known}")
        for k, v in settings.items():
            parts[owner[k]][k] = v
        return cls(**{g: _GROUPS[g](**kw) for g, kw in parts.items()})
