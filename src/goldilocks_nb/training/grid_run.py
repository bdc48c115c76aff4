"""Train a whole ``(alpha, eta0, seed)`` grid (Section 5): in-process or on a Dask cluster.

:func:`train_grid` takes a validated grid (:class:`.spec.GridSpec`), reads the runs that a
results cache already holds, splits the others into chunks of configurations and trains
each chunk as one batched computation (:func:`.engine.run_chunk`), in this process or as
Dask tasks. The logs come back as one tidy :class:`pandas.DataFrame`. Before anything is
read or trained, the grid's memory and disk need is estimated (:func:`estimate_grid_need`:
final parameters, logs, the chunk's working set, the run store) and compared with what the
machine has (``/proc/meminfo``, the GPU's free memory, :func:`shutil.disk_usage`); a grid
that cannot fit is refused with the numbers (:class:`GridTooLargeError`).

Scaling out with Dask
---------------------
``executor="dask"`` with no ``dask_address`` starts a ``distributed.LocalCluster`` of
``dask_workers`` single-threaded worker processes for the call. To use a running cluster,
pass its scheduler address (``dask_address="tcp://host:8786"``) or a ``distributed.Client``.
Each task is one chunk; results go through the same cache (``cache_dir`` must then be a
folder every worker can write, e.g. on a shared file system), so a cluster run resumes too.

On a SLURM machine, ``dask-jobqueue`` starts the workers as batch jobs::

    from dask_jobqueue import SLURMCluster
    from distributed import Client

    cluster = SLURMCluster(
        queue="gpu", cores=8, processes=1, memory="32GB", walltime="04:00:00",
        job_extra_directives=["--gres=gpu:1"],
        job_script_prologue=["source /path/to/.venv/bin/activate"],
    )
    cluster.scale(jobs=4)            # four SLURM jobs, one worker each
    client = Client(cluster)         # or print(cluster.scheduler_address)
    result = train_grid(GridSpec.of(..., executor="dask", dask_address=client,
                                    cache_dir="/shared/scratch/goldilocks-cache",
                                    device="auto"))

or, for the book's notebooks, start the cluster in a Python session that stays alive and
pass its ``cluster.scheduler_address`` (``tcp://...:8786``) as the chapter's Dask address.
The workers need this package importable (the same virtual environment).
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.func import functional_call

from ..contract import ParameterError
from ..functional import Weights
from ..notebook import resolve_device
from .engine import LOG_COLUMNS, RunResult, run_chunk, stored_rows
from .grid import Problem, RunConfig, make_problem, unflatten_batch
from .rules import update_objective
from .spec import EXECUTORS, GridSpec
from .store import RunStore

__all__ = ["EXECUTORS", "GridResult", "GridTooLargeError", "estimate_grid_need", "train_grid"]


@dataclass
class GridResult:
    """The logs and final parameters of a trained grid.

    Attributes:
        log: one row per run and logged step: ``run, alpha, eta0, seed, lr, step``, then
            :data:`goldilocks_nb.training.engine.LOG_COLUMNS` and ``diverged``.
        runs: one row per run: ``run, alpha, eta0, seed, lr, diverged, diverged_step``
            (``-1`` when it did not diverge), ``final_step``, ``computed_steps`` (gradient
            evaluations done by this call; 0 for runs read from the cache) and ``key``.
        params: final flat parameters of each run (CPU), by run index.
        shapes: parameter names and shapes (to unflatten).
        meta: the shared settings (steps, temperature, rule, labels, degree, dtype, data
            source).
    """

    log: pd.DataFrame
    runs: pd.DataFrame
    params: list[torch.Tensor]
    shapes: dict[str, tuple[int, ...]]
    meta: dict[str, Any] = field(default_factory=dict)

    def final_params(self, run: int) -> Weights:
        """The final parameters of run ``run`` as ``{name: tensor}``."""
        return unflatten_batch(self.params[run], self.shapes)


def _dask_client(address: Any, workers: int, timeout: float):
    """``(client, owned)``: a client of ``address`` or of a new LocalCluster (owned)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "executor='dask' needs the optional dependencies dask and distributed: "
            "pip install 'goldilocks-nb[dask]'"
        ) from exc
    if address is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), True
    if isinstance(address, Client):
        return address, False
    _probe_scheduler(address, timeout)
    try:
        return Client(address, timeout=f"{timeout}s"), True
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(_no_scheduler(address, timeout, exc)) from exc


def _no_scheduler(address: str, timeout: float, exc: BaseException) -> str:
    return (f"no Dask scheduler answers at {address!r} within {timeout:g} s "
            f"({type(exc).__name__}: {exc}); start one (e.g. `dask scheduler`, or a "
            "dask_jobqueue.SLURMCluster) or leave dask_address unset for a LocalCluster")


def _probe_scheduler(address: str, timeout: float) -> None:
    """Check, within ``timeout`` seconds in all, that a Dask scheduler listens at ``address``.

    ``distributed.Client`` waits without bound on an address that accepts the connection
    but does not speak Dask's protocol (an HTTP server, a socket that never replies) or
    reads its reply as a frame length (``MemoryError: Unable to allocate 3.07 EiB``). So,
    for ``tcp://`` addresses: a TCP connection (refused or silent: "no Dask scheduler
    answers"), then Dask's handshake and an ``identity`` request, whose reply must come
    from a scheduler ("answered but is not a Dask scheduler" otherwise). The exchange runs
    on its own event loop in a helper thread (a notebook's kernel already runs one).
    """
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, loc = parse_address(address)
    if scheme != "tcp":
        return  # tls://, ucx:// ...: left to distributed's own connection timeout
    host, port = parse_host_port(loc, 8786)
    deadline = time.monotonic() + timeout
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(_no_scheduler(address, timeout, exc)) from exc

    outcome: dict[str, Any] = {}

    def exchange() -> None:
        import asyncio

        from distributed.comm import connect

        async def identity() -> Any:
            left = max(deadline - time.monotonic(), 0.05)
            comm = await connect(address, timeout=left)
            try:
                await comm.write({"op": "identity", "reply": True})
                return await comm.read()
            finally:
                comm.abort()

        try:
            left = max(deadline - time.monotonic(), 0.05)
            outcome["reply"] = asyncio.run(asyncio.wait_for(identity(), left))
        except BaseException as exc:  # noqa: BLE001 - every failure is reported below
            outcome["error"] = exc

    worker = threading.Thread(target=exchange, name="dask-probe", daemon=True)
    worker.start()
    worker.join(max(deadline - time.monotonic(), 0) + 2.0)
    reply, error = outcome.get("reply"), outcome.get("error")
    if isinstance(reply, dict) and reply.get("type") == "Scheduler":
        return
    if worker.is_alive() or isinstance(error, TimeoutError):
        why = f"no Dask handshake within {timeout:g} s"
    elif error is not None:
        why = f"its reply is not Dask's protocol ({type(error).__name__}: {str(error)[:200]})"
    else:
        why = f"it identifies as {str(reply)[:80]!r}"
    raise ConnectionError(
        f"{address!r} answered (it accepts TCP connections) but is not a Dask scheduler: "
        f"{why}. Is this the scheduler's address and port (a `dask scheduler` prints "
        "'Scheduler at: tcp://...:8786'; 8787 is its dashboard, a web page)?")


def _available_ram() -> int | None:
    """Bytes of RAM available to a new allocation (``MemAvailable`` of ``/proc/meminfo``,
    else the free pages of ``os.sysconf``); ``None`` where neither can be read."""
    try:
        with open("/proc/meminfo") as fh:
            info = {line.split(":")[0]: line.split()[1] for line in fh}
        return int(info["MemAvailable"]) * 1024
    except (OSError, KeyError, ValueError, IndexError):
        pass
    try:  # pragma: no cover - non-Linux
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None


def _device_free(dev: torch.device) -> int | None:
    """Bytes free for the training working set on ``dev`` (``None``: unknown)."""
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free)
    if dev.type == "cpu":
        return _available_ram()
    return None


def _memory_budget(dev: torch.device) -> int:
    """What an automatic chunk may use: half the free GPU memory, a quarter of the RAM."""
    free = _device_free(dev)
    if free is None:  # pragma: no cover - non-Linux
        return 2 * 1024**3
    return int((0.5 if dev.type == "cuda" else 0.25) * free)


def estimate_run_bytes(problem: Problem) -> int:
    """Rough memory of one run in a batch: saved activations for the whole batch, plus
    a few parameter-sized buffers (parameters, start point, gradient, update)."""
    model, X = problem.model, problem.X
    params = {k: v.clone().requires_grad_(True)
              for k, v in unflatten_batch(problem.theta0[0], problem.shapes).items()}
    saved = []

    def count(n: int) -> int:
        total = 0

        def pack(t):
            nonlocal total
            total += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            z = functional_call(model, params, (X[:n],))
            obj, _ = update_objective(z, problem.y[:n], rule=problem.rule,
                                      temperature=problem.temperature,
                                      num_classes=problem.num_classes)
        saved.append(obj)
        return total

    per_sample = max(count(2) - count(1), 0)
    n = max(X.shape[0], 0 if problem.X_test is None else problem.X_test.shape[0])
    p_bytes = problem.theta0[0].numel() * problem.theta0[0].element_size()
    return 2 * per_sample * n + 8 * p_bytes


def _chunks(configs: list[RunConfig], size: int) -> list[list[RunConfig]]:
    return [configs[i : i + size] for i in range(0, len(configs), size)]


class GridTooLargeError(ParameterError):
    """A grid whose memory or disk need exceeds what the machine has (refused before training)."""


#: Bytes per logged row held in memory (a dict of ~20 Python floats, then a DataFrame row).
ROW_BYTES = 1536
#: Bytes per logged row in the run store (the row's JSON inside the record).
ROW_DISK_BYTES = 800


def _gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB" if n >= 1e8 else f"{n / 1e6:.3g} MB"


def estimate_grid_need(problem: Problem, configs: list[RunConfig], chunk_size: int,
                       *, concurrent_runs: int | None = None,
                       todo: int | None = None) -> dict[str, int]:
    """Rough bytes a grid needs, before anything is trained.

    Keys: ``params`` (final parameters of every run, held in memory: runs x P x bytes per
    number), ``logs`` (log rows in memory, :data:`ROW_BYTES` each), ``per_run`` (one run's
    working set in a batch, :func:`estimate_run_bytes`), ``chunk`` (``chunk_size`` times
    that, on the training device), ``disk`` (the run store of the ``todo`` runs still to
    train: final records plus two more checkpoint copies, the previous one and the one
    being written, for each of ``concurrent_runs`` runs in training at once).
    """
    n = len(configs)
    todo = n if todo is None else todo
    concurrent = min(todo, chunk_size if concurrent_runs is None else concurrent_runs)
    p_bytes = problem.theta0[0].numel() * problem.theta0[0].element_size()
    rows = problem.steps // problem.log_every + 2 + len(problem.sharpness_steps)
    per_run = max(estimate_run_bytes(problem), 1)
    record = p_bytes + rows * ROW_DISK_BYTES + 4096
    return {"runs": n, "parameters": problem.theta0[0].numel(), "rows_per_run": rows,
            "params": n * p_bytes, "logs": n * rows * ROW_BYTES, "per_run": per_run,
            "chunk": chunk_size * per_run, "disk": todo * record + 2 * concurrent * record,
            "todo": todo, "concurrent": concurrent}


def _check_fits(problem: Problem, configs: list[RunConfig], chunk_size: int,
                chunk_given: bool, dev: torch.device | None, cache: str | None,
                concurrent_runs: int, todo: int) -> dict[str, int]:
    """Refuse, with the numbers and the parameter to change, a grid that cannot fit.

    Memory: final parameters and logs in RAM (plus the chunk's working set when training
    on the CPU) against ``MemAvailable``; the chunk's working set against the free memory
    of a GPU; the run store against the free space of ``cache``'s disk. ``dev`` is
    ``None`` for Dask (the workers' memory is not this machine's: only what this process
    holds is checked).

    Raises:
        GridTooLargeError: what does not fit, by how much, and what to change.
    """
    chunk_size = min(chunk_size, len(configs))  # a chunk never holds more runs than the grid
    need = estimate_grid_need(problem, configs, chunk_size, concurrent_runs=concurrent_runs,
                              todo=todo)
    runs = (f"{need['runs']} runs = alphas x eta0s x seeds, {need['parameters']:,} "
            f"parameters each")
    ram = _available_ram()
    held = need["params"] + need["logs"]
    on_cpu = dev is not None and dev.type == "cpu"
    total = held + (need["chunk"] if on_cpu else 0)
    if ram is not None and total > ram:
        parts = (f"final parameters {_gb(need['params'])} ({runs}), logs ~{_gb(need['logs'])} "
                 f"({need['rows_per_run']} rows per run: steps / log_every)")
        if on_cpu:
            parts += (f", training working set ~{_gb(need['chunk'])} (chunk_size={chunk_size}"
                      f" x {_gb(need['per_run'])} per run)")
        fix = ("fewer runs (alphas, eta0s or seeds), a smaller model, or a larger log_every"
               if held > ram or not chunk_given else "a smaller chunk_size")
        raise GridTooLargeError(
            f"this grid needs ~{_gb(total)} of memory but {_gb(ram)} is available: {parts}. "
            f"Reduce it: {fix}.")
    free = _device_free(dev) if dev is not None and not on_cpu else None
    if free is not None and need["chunk"] > free:
        fits = free // need["per_run"]
        fix = (f"chunk_size <= {fits} (or leave chunk_size=None)" if fits >= 1 else
               "a smaller training set or model (one run does not fit)")
        raise GridTooLargeError(
            f"a chunk of {chunk_size} runs needs ~{_gb(need['chunk'])} on {dev} "
            f"({_gb(need['per_run'])} per run: activations of {problem.X.shape[0]} training "
            f"samples and parameter-sized buffers) but {_gb(free)} is free; use {fix}.")
    if cache is not None and need["todo"]:
        where = Path(cache)
        while not where.exists() and where != where.parent:
            where = where.parent
        disk = shutil.disk_usage(where).free
        if need["disk"] > disk:
            raise GridTooLargeError(
                f"the run store under {cache} needs ~{_gb(need['disk'])} for the "
                f"{need['todo']} runs still to train (their final records, {need['parameters']:,}"
                f" parameters and {need['rows_per_run']} log rows each, and the checkpoints "
                f"of {need['concurrent']} runs training at once) but its disk has "
                f"{_gb(disk)} free; free space, point cache_dir at a larger disk, or train "
                "fewer runs (alphas, eta0s or seeds) or a smaller chunk_size.")
    return need


def train_grid(spec: GridSpec) -> GridResult:
    """Full-batch gradient descent over a grid of ``(alpha, eta0, seed)`` (Section 5).

    Every configuration starts from ``alpha * theta_0(seed)`` (Kaiming-normal from the
    seed, the paper's initialisation) and follows its update rule with the effective rate
    ``eta = eta0 * alpha^(2 - L)`` at temperature ``T`` (Section 5, Figures 8, 9, 11, 12).
    All configurations of a chunk are trained as one batched computation; a diverging run
    (non-finite loss or parameters) is logged and stopped at that step.

    Args:
        spec: the grid (:class:`.spec.GridSpec`: data, axes, schedule, what to record,
            execution), checked when it was built; e.g.
            ``GridSpec.of(model, train, test, alphas=[0.5, 2.0], eta0s=[0.1], steps=100)``.

    Returns:
        A :class:`GridResult` (``.log`` is the tidy table).

    Raises:
        GridTooLargeError: (a ``ValueError``) the grid's estimated memory or disk need
            (:func:`estimate_grid_need`) exceeds what this machine has; the message gives
            the numbers and what to change. Raised before any training.
        ConnectionError: no Dask scheduler answers at ``dask_address``, or something
            answers there that is not a Dask scheduler (both within ``dask_timeout``).

    Warns:
        goldilocks_nb.training.store.StoreWarning: a stored run record or checkpoint was
            damaged or another run's (named; it is recomputed).
    """
    if not isinstance(spec, GridSpec):
        raise TypeError(f"train_grid takes a GridSpec, got {type(spec).__name__} "
                        "(build one with GridSpec.of(model, train, test, **settings))")
    ex = spec.execution
    dev = resolve_device(ex.device)
    problem, configs = make_problem(spec)
    cache = ex.cache_dir
    _preflight(problem, configs, cache, dev, ex.chunk_size, ex.executor, ex.dask_workers)
    client, owned = (None, False)
    if ex.executor == "dask":
        client, owned = _dask_client(ex.dask_address, ex.dask_workers, ex.dask_timeout)
    try:
        results = _execute(problem, configs, cache, ex.device, dev, ex.chunk_size,
                           ex.executor, client, ex.dask_workers, ex.progress)
    finally:
        if owned:
            cluster = client.cluster
            client.close()
            if cluster is not None and ex.dask_address is None:
                cluster.close()
    return _assemble(problem, configs, results)


def _preflight(problem: Problem, configs: list[RunConfig], cache: str | None,
               dev: torch.device, chunk_size: int | None, executor: str, workers: int) -> None:
    """Before any record is read or any step trained: remove the temporary files of a
    killed run from the store and refuse a grid that cannot fit (:func:`_check_fits`)."""
    store = None if cache is None else RunStore(cache)
    if store is not None:
        store.remove_orphans()
    pending = len(configs) - (0 if store is None else
                              sum(store.path(c.key).exists() for c in configs))
    check_chunk = chunk_size
    if check_chunk is None:
        per_run = max(estimate_run_bytes(problem), 1)
        check_chunk = max(1, min(len(configs), _memory_budget(dev) // per_run))
    local = executor == "local"
    _check_fits(problem, configs, check_chunk, chunk_size is not None, dev if local else None,
                cache, check_chunk if local else min(pending, check_chunk * max(workers, 1)),
                pending)


def _execute(problem, configs, cache, device, dev, chunk_size, executor, client, workers,
             progress) -> dict[int, RunResult]:
    from tqdm.auto import tqdm

    results: dict[int, RunResult] = {}
    todo = []
    if cache is not None:
        store = RunStore(cache)
        for c in configs:
            record = store.load(c.key)
            if record is not None and record["status"] == "done":
                results[c.run] = RunResult(c, stored_rows(c, record), record["params"],
                                           record["diverged_step"])
            else:
                todo.append(c)
    else:
        todo = list(configs)
    if chunk_size is None:
        per_run = max(estimate_run_bytes(problem), 1)
        chunk_size = max(1, min(len(configs), _memory_budget(dev) // per_run))
        if executor == "dask":
            chunk_size = max(1, min(chunk_size, math.ceil(len(todo) / max(workers, 1))))
    chunks = _chunks(todo, chunk_size)
    bar = tqdm(total=len(configs), initial=len(results), unit="run", disable=not progress,
               desc="training grid")
    started, steps_done = time.perf_counter(), 0

    def tick(run_steps: int, runs_finished: int) -> None:
        nonlocal steps_done
        steps_done += run_steps
        if runs_finished:
            bar.update(runs_finished)
        rate = steps_done / max(time.perf_counter() - started, 1e-9)
        bar.set_postfix_str(f"{rate:.3g} run-steps/s", refresh=bool(runs_finished))

    try:
        if executor == "local":
            for chunk in chunks:
                for res in run_chunk(problem, chunk, cache_dir=cache, device=device,
                                     progress=tick):
                    results[res.config.run] = res
        else:
            from distributed import as_completed

            shared = client.scatter(problem, broadcast=True)
            futures = [client.submit(run_chunk, shared, chunk, cache_dir=cache, device=device,
                                     pure=False) for chunk in chunks]
            for fut in as_completed(futures):
                chunk_results = fut.result()
                for res in chunk_results:
                    results[res.config.run] = res
                tick(sum(r.computed_steps for r in chunk_results), len(chunk_results))
    finally:
        bar.close()
    return results


def _assemble(problem: Problem, configs: list[RunConfig], results: dict[int, RunResult]):
    rows, runs, params = [], [], []
    for c in configs:
        res = results[c.run]
        rows.extend(res.rows)
        params.append(res.params)
        runs.append({
            "run": c.run, "alpha": c.alpha, "eta0": c.eta0, "seed": c.seed, "lr": c.lr,
            "diverged": res.diverged_step is not None,
            "diverged_step": res.diverged_step if res.diverged_step is not None else -1,
            "final_step": res.rows[-1]["step"] if res.rows else 0,
            "computed_steps": res.computed_steps,
            "key": c.key,
        })
    columns = ["run", "alpha", "eta0", "seed", "lr", "step", *LOG_COLUMNS, "diverged"]
    log = pd.DataFrame(rows, columns=columns)
    log = log.sort_values(["run", "step"], kind="stable").reset_index(drop=True)
    meta = {
        "steps": problem.steps, "temperature": problem.temperature, "rule": problem.rule,
        "labels": problem.labels, "degree": problem.degree,
        "dtype": str(problem.dtype).removeprefix("torch."),
        "num_classes": problem.num_classes, "data_source": problem.data_source,
    }
    return GridResult(log, pd.DataFrame(runs), params, dict(problem.shapes), meta)
