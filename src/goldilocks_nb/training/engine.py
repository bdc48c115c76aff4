"""The batched training loop: one chunk of a grid trained as one stacked computation.

All runs of a chunk live in one ``(R, P)`` tensor ``Theta`` (one row per configuration).
Every step is :func:`.descent.descent_step` (the one gradient-descent step of the book)
``torch.func.vmap``-ped over the runs: for all runs at once, the update direction ``g_t``
of the run's rule (:mod:`.rules`), its cross-entropy loss, its logits and

.. math:: \\Theta_{t+1} = \\Theta_t - \\operatorname{diag}(\\eta)\\, G_t, \\qquad
          \\eta_r = \\eta_{0,r}\\, \\alpha_r^{2-L}

(Section 5's full-batch gradient descent with the effective rate). A run whose loss or
parameters are not finite at step ``t`` is marked diverged at ``t``, logged there, and
leaves the batch (the others continue unchanged). Rows of the log are produced every
``log_every`` steps, at the sharpness steps, at divergence and at the end (:mod:`.metrics`);
the sharpness ``||H||_2`` comes from the curvature engine's Lanczos
(:func:`goldilocks_nb.curvature.top_eigenpairs`, largest magnitude). With a store, each
run's record is written at every ``checkpoint_every``-th step and at the end, so a killed
chunk resumes from its last checkpoint (see :mod:`.store`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.func import functional_call, vmap

from ..curvature import top_eigenpairs
from ..notebook import resolve_device
from ..results import tensor_digest
from . import metrics
from .descent import descent_step
from .grid import Problem, RunConfig, unflatten_batch
from .rules import random_labels
from .store import RunStore

__all__ = ["RunResult", "run_chunk", "LOG_COLUMNS"]

LOG_COLUMNS = (
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "param_norm",
    "grad_norm",
    "cos_theta0",
    "cos_neg_grad",
    "entropy",
    "zero_logit_samples",
    "zero_logits",
    "sharpness",
    "lr_sharpness",
)

Progress = Callable[[int, int], None]


@dataclass
class RunResult:
    """The outcome of one run: its log rows, final parameters and divergence step.

    Attributes:
        config: the run's configuration.
        rows: the log, one dict per logged step.
        params: flat parameters (CPU) at the last step (at divergence for diverged runs).
        diverged_step: the step at which loss or parameters became non-finite, or ``None``.
        computed_steps: gradient evaluations done by this call (0 when read from the store).
    """

    config: RunConfig
    rows: list[dict[str, Any]]
    params: torch.Tensor
    diverged_step: int | None
    computed_steps: int = 0


@dataclass
class _Item:
    config: RunConfig
    step: int
    theta: torch.Tensor
    rows: list[dict[str, Any]]


def stored_rows(config: RunConfig, record: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored record's log rows with their run index set to ``config.run``: a record may
    have been written by another grid (the store is keyed by what a run computes, not by
    its place in a grid), whose run index its rows carry."""
    return [{**r, "run": config.run} for r in record["rows"]]


def _done(config: RunConfig, record: dict[str, Any], computed: int = 0) -> RunResult:
    return RunResult(config, stored_rows(config, record), record["params"],
                     record["diverged_step"], computed)


def run_chunk(
    problem: Problem,
    configs: list[RunConfig],
    *,
    cache_dir: str | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> list[RunResult]:
    """Train the runs ``configs`` of ``problem`` as one batch; return their results.

    Runs finished in the store are read, unfinished ones continue from their checkpoint
    (runs that stopped at different checkpoints are trained as separate batches). Pure in
    its inputs: ``problem`` is not modified. Module-level so that Dask can ship it.

    Args:
        problem: the grid's shared data (:func:`.grid.make_problem`).
        configs: the configurations of this chunk.
        cache_dir: results cache folder (``None``: nothing is written or read).
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:i]"`` (resolved where this runs).
        progress: called as ``progress(run_steps, runs_finished)`` after every step.

    Returns:
        One :class:`RunResult` per config, in the order of ``configs``.
    """
    dev = resolve_device(device)
    store = RunStore(cache_dir) if cache_dir is not None else None
    results: dict[int, RunResult] = {}
    pending: dict[int, list[_Item]] = {}
    for c in configs:
        record = store.load(c.key) if store is not None else None
        if record is not None and record["status"] == "done":
            results[c.run] = _done(c, record)
            if progress is not None:
                progress(0, 1)
            continue
        if record is not None:
            item = _Item(c, int(record["step"]), record["params"], stored_rows(c, record))
        else:
            item = _Item(c, 0, c.alpha * problem.theta0[c.seed_index], [])
        pending.setdefault(item.step, []).append(item)
    for start in sorted(pending):
        for res in _train_batch(problem, pending[start], dev, store, progress):
            results[res.config.run] = res
    return [results[c.run] for c in configs]


def _labels_at(problem: Problem, items: list[_Item], step: int, dev) -> torch.Tensor | None:
    """Per-run labels ``(R, N)`` for random labels; ``None`` for the shared true labels."""
    if problem.labels == "true":
        return None
    n, K = problem.X.shape[0], problem.num_classes
    at = None if problem.labels == "random-fixed" else step
    return torch.stack([random_labels(n, K, it.config.seed, at) for it in items]).to(dev)


def _train_batch(
    problem: Problem,
    items: list[_Item],
    dev: torch.device,
    store: RunStore | None,
    progress: Progress | None,
) -> list[RunResult]:
    dtype, T, K = problem.dtype, problem.temperature, problem.num_classes
    model = problem.model
    buffers = {k: b.to(dev) for k, b in model.named_buffers()}
    X, y = problem.X.to(dev), problem.y.to(dev)
    X_test = problem.X_test.to(dev) if problem.X_test is not None else None
    y_test = problem.y_test.to(dev) if problem.y_test is not None else None
    shapes = problem.shapes
    t0 = items[0].step
    R = len(items)
    flat = torch.stack([it.theta.to(device=dev, dtype=dtype) for it in items])
    # parameters live as one (R, *shape) tensor per name; flat (R, P) copies only for logs
    theta = {k: v.clone() for k, v in unflatten_batch(flat, shapes).items()}
    del flat
    theta_start = torch.stack(
        [it.config.alpha * problem.theta0[it.config.seed_index] for it in items]
    ).to(device=dev, dtype=dtype)
    lr = torch.tensor([it.config.lr for it in items], dtype=dtype, device=dev)
    computed = [0] * R

    def run_step(p, labels, rate):  # one run's step; vmapped over the runs below
        return descent_step(model, p, X, labels, lr=rate, temperature=T, rule=problem.rule,
                            num_classes=K, buffers=buffers)

    step_shared = vmap(run_step, in_dims=(0, None, 0))
    step_own = vmap(run_step, in_dims=(0, 0, 0))
    test_logits = vmap(lambda p: functional_call(model, {**p, **buffers}, (X_test,)))
    sharp_set = set(problem.sharpness_steps)
    sharp_cache: dict[str, float] = {}
    out: list[RunResult] = []
    labels_fixed = _labels_at(problem, items, -1, dev) if problem.labels == "random-fixed" else None

    def flat_params() -> torch.Tensor:
        return torch.cat([theta[k].reshape(len(items), -1) for k in shapes], dim=1)

    for t in range(t0, problem.steps + 1):
        if store is not None and t > t0 and t % problem.checkpoint_every == 0:
            cpu = flat_params().cpu()
            for r, it in enumerate(items):
                # a copy of row r: a view would serialise the whole chunk's (R, P) tensor
                store.save(it.config.key, {"status": "running", "step": t,
                                           "params": cpu[r].clone(), "rows": it.rows,
                                           "diverged_step": None})
        if problem.labels == "true":
            labels = None
            step = step_shared(theta, y, lr)
        else:
            labels = labels_fixed if labels_fixed is not None else _labels_at(
                problem, items, t, dev)
            step = step_own(theta, labels, lr)
        g, loss, z = step.direction, step.loss, step.logits
        finite = _finite_runs(loss, theta)
        last = t == problem.steps
        regular = t % problem.log_every == 0 or last or t in sharp_set
        if regular or not all(finite):
            theta_flat = flat_params()
            gflat = torch.cat([g[k].reshape(len(items), -1) for k in shapes], dim=1)
            _log(problem, items, t, theta_flat, theta_start, gflat, loss, z, labels, lr,
                 finite, regular, model, X, y, X_test, y_test, test_logits, t in sharp_set,
                 sharp_cache)
        computed = [n + 1 for n in computed]
        finished = [last or not f for f in finite]
        if any(finished):
            cpu = flat_params().cpu()
            for r, it in enumerate(items):
                if finished[r]:
                    div = None if finite[r] else t
                    record = {"status": "done", "step": t, "params": cpu[r].clone(),
                              "rows": it.rows, "diverged_step": div}
                    if store is not None:
                        store.save(it.config.key, record)
                    out.append(_done(it.config, record, computed[r]))
        if progress is not None:
            progress(len(items) if not last else 0, sum(finished))
        if last:
            break
        theta = step.params
        del g, step
        if any(finished):
            keep = [r for r, f in enumerate(finished) if not f]
            if not keep:
                break
            idx = torch.tensor(keep, device=dev)
            items = [items[r] for r in keep]
            computed = [computed[r] for r in keep]
            theta = {k: v[idx] for k, v in theta.items()}
            theta_start, lr = theta_start[idx], lr[idx]
            if labels_fixed is not None:
                labels_fixed = labels_fixed[idx]
    return out


def _finite_runs(loss: torch.Tensor, theta: dict[str, torch.Tensor]) -> list[bool]:
    """Per run: loss and every parameter finite.

    A cheap test first (the sum of a row is finite when all its entries are, barring
    overflow of the sum itself); rows that fail it get the exact element-wise test.
    """
    R = loss.shape[0]
    sums = sum(v.reshape(R, -1).sum(dim=1) for v in theta.values())
    ok = (torch.isfinite(loss) & torch.isfinite(sums)).tolist()
    if all(ok):
        return ok
    exact = torch.isfinite(loss)
    for v in theta.values():
        exact &= torch.isfinite(v.reshape(R, -1)).all(dim=1)
    return exact.tolist()


def _log(problem, items, t, theta, theta_start, gflat, loss, z, labels, lr, finite, regular,
         model, X, y, X_test, y_test, test_logits, sharp_now, sharp_cache) -> None:
    """Append one row per run that logs at step ``t`` (all when ``regular``, else diverging)."""
    T = problem.temperature
    yy = y if labels is None else labels
    with torch.no_grad():
        cols = {
            "train_loss": loss,
            "train_acc": metrics.accuracy(z, yy),
            "param_norm": metrics.norm(theta),
            "grad_norm": metrics.norm(gflat),
            "cos_theta0": metrics.cosine(theta, theta_start),
            "cos_neg_grad": metrics.cosine(theta, -gflat),
            "entropy": metrics.mean_entropy(z, T),
            "zero_logit_samples": metrics.zero_logit_sample_fraction(z),
            "zero_logits": metrics.zero_logit_fraction(z),
        }
        if X_test is not None:
            zt = test_logits(unflatten_batch(theta, problem.shapes))
            cols["test_loss"] = metrics.cross_entropy(zt, y_test, T)
            cols["test_acc"] = metrics.accuracy(zt, y_test)
    values = {k: v.tolist() for k, v in cols.items()}
    lrs = lr.tolist()
    nan = float("nan")
    for r, it in enumerate(items):
        if not (regular or not finite[r]):
            continue
        sharp = nan
        if sharp_now and finite[r]:
            run_labels = yy if yy.ndim == 1 else yy[r]
            key = tensor_digest(theta[r], run_labels)
            if key not in sharp_cache:
                params = unflatten_batch(theta[r], problem.shapes)
                vals, _ = top_eigenpairs(model, params, X, run_labels, k=1, temperature=T,
                                         which="LM", tol=problem.sharpness_tol)
                sharp_cache[key] = abs(float(vals[0]))
            sharp = sharp_cache[key]
        c = it.config
        row = {"run": c.run, "alpha": c.alpha, "eta0": c.eta0, "seed": c.seed, "lr": c.lr,
               "step": t}
        for name in metrics_columns():
            if name == "sharpness":
                row[name] = sharp
            elif name == "lr_sharpness":
                row[name] = lrs[r] * sharp
            else:
                row[name] = values[name][r] if name in values else nan
        row["diverged"] = not finite[r]
        it.rows.append(row)


def metrics_columns() -> tuple[str, ...]:
    """The metric columns of the log, in order."""
    return LOG_COLUMNS
