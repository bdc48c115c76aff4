"""Benchmark of the training engine (issues 10, 18): the batched engine against two loops.

One run, the same configurations, three implementations of Section 5's full-batch gradient
descent ``theta <- theta - eta0 * alpha^(2-L) * grad`` from ``alpha * theta_0(seed)``:

(a) ``engine``: :func:`goldilocks_nb.training.train_grid`, all ``(alpha, eta0)`` runs of a
    model as one batch (``torch.func.vmap`` over stacked parameters);
(b) ``plain``: a plain ``torch.nn`` loop, one run after the other: ``model(X)``,
    ``loss.backward()``, the update under ``torch.no_grad()``, nothing logged;
(c) ``authors'-style``: a loop written the way ``trainability.py`` of the authors'
    repository (avysogorets/goldilocks-zone) trains: per run a model whose flat parameter
    vector is set to ``alpha * theta_0``, ``torch.optim.SGD`` with the effective rate, the
    full batch drawn from a ``DataLoader`` every step, the flat gradient copied every step,
    and every ``k`` steps a log (train accuracy, held-out loss and accuracy through a
    ``DataLoader`` in batches of 128, parameter and gradient norms, the two cosines, the
    zero-logit fraction).

Each loop is timed against the engine doing the same work: (b) against the engine logging
only at the first and last step without held-out data, (c) against the engine logging every
``k`` steps with the same held-out split. Left out of all three: the sharpness (their 20-step
power iteration, our Lanczos) and, for (c), their torchvision pipeline that decodes and
normalises every training image at every step (it would only slow (c) down further).
The check: every run's final training loss agrees between the three to rounding
(maximum relative difference; they compute the same gradient descent).

Models: LeNet-300-100 on real Fashion-MNIST and LeNet-5 on real CIFAR-10 (class-balanced
subsets). Also printed: the engine's achieved FLOP rate against the measured ``torch.mm``
rate, for LeNet-5 on the CPU the profiler's time of each convolution layer in the engine's
batch (conv1 one wide convolution, conv2 one grouped convolution) and in the plain loop,
an estimate (not a measurement) of the paper's grids on one H100, and, with ``--dask``, a
Dask ``LocalCluster`` against in-process. The machine's load average is
printed at the start and the end (other processes inflate every time; the ratios of one run
are the point).

Usage::

    GOLDILOCKS_DATA=/path/to/data python benchmarks/bench_training.py
    python benchmarks/bench_training.py --device cuda      # the same table on a GPU
    python benchmarks/bench_training.py --quick            # tiny smoke run (seconds)
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad
from torch.nn.utils import parameters_to_vector, vector_to_parameters
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from goldilocks_nb.models import build_model, homogeneity_degree
from goldilocks_nb.training import GridSpec, train_grid

ModelFactory = Callable[[], nn.Module]

# largest relative difference of final losses accepted as rounding, by dtype. GD carries
# rounding differences along the trajectory and can amplify them: in float32 two orders of
# the same sums (a vmapped batch, a grouped convolution, a loop) were measured 2.6e-5 apart
# after 15 LeNet-5 steps at the default configurations, 2.5e-3 apart after 60 LeNet-300-100
# steps at alpha = 0.5, eta0 = 0.05 (a loss spike at step 25); in float64 1e-15.
ROUNDING_RTOL = {torch.float32: 1e-4, torch.float64: 1e-10}


@dataclass
class LoopResult:
    """Final training loss per run (in grid order) and the logged rows of a loop."""

    final_loss: list[float]
    rows: list[dict[str, float]] = field(default_factory=list)


def grid_configs(alphas: Sequence[float], eta0s: Sequence[float]) -> list[tuple[float, float]]:
    """The ``(alpha, eta0)`` runs in the engine's order (alpha outer, eta0 inner)."""
    return [(float(a), float(e)) for a, e in itertools.product(alphas, eta0s)]


def kaiming_factory(name: str, seed: int, dtype: torch.dtype, device: torch.device,
                    **kwargs) -> ModelFactory:
    """A fresh model at ``theta_0(seed)`` as the engine draws it: Kaiming in ``dtype``."""

    def make() -> nn.Module:
        return build_model(name, seed=seed, dtype=dtype, device=device, **kwargs)

    return make


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(make_model: ModelFactory, X: torch.Tensor, y: torch.Tensor,
               configs: Sequence[tuple[float, float]], steps: int) -> LoopResult:
    """(b) a plain ``torch.nn`` loop, the runs one after the other.

    Per run: a fresh model, its weights multiplied by ``alpha`` in place, then ``steps``
    updates ``p -= eta0 * alpha^(2-L) * p.grad`` under ``torch.no_grad()``; the final loss
    is the loss after the last update (the engine's last logged ``train_loss``).
    """
    final = []
    for alpha, eta0 in configs:
        model = make_model()
        params = list(model.parameters())
        lr = eta0 * alpha ** (2 - homogeneity_degree(model))
        with torch.no_grad():
            for p in params:
                p.mul_(alpha)
        for t in range(steps + 1):
            loss = F.cross_entropy(model(X), y)
            if t == steps:
                break
            model.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p.sub_(lr * p.grad)
        final.append(float(loss.detach()))
    return LoopResult(final)


def _heldout(model: nn.Module, dataset: TensorDataset) -> tuple[float, float]:
    """Held-out loss and accuracy in batches of 128, as the authors' ``compute_loss_acc``."""
    loss, hits = 0.0, 0
    with torch.no_grad():
        for xb, yb in DataLoader(dataset, batch_size=128, shuffle=False):
            outs = model(xb)
            loss += len(yb) * F.cross_entropy(outs, yb).item()
            hits += int((outs.argmax(dim=-1) == yb).sum())
    return loss / len(dataset), hits / len(dataset)


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def authors_style_loop(make_model: ModelFactory, X: torch.Tensor, y: torch.Tensor,
                       X_test: torch.Tensor, y_test: torch.Tensor,
                       configs: Sequence[tuple[float, float]], steps: int,
                       log_every: int) -> LoopResult:
    """(c) a loop written the way the authors' ``trainability.py`` trains.

    Per run: a fresh model; its flat parameter vector set to ``alpha * theta_0``;
    ``torch.optim.SGD`` with ``lr = eta0 / alpha^(L-2)``; every iteration the full batch
    from a ``DataLoader``, ``zero_grad``, forward, ``backward``, a flat copy of the
    gradient, ``optimizer.step()``; at every ``log_every``-th iteration (and, as the
    engine, at the last) a row with the train accuracy of that forward pass, the held-out
    loss and accuracy, ``||theta||``, ``||g||``, ``cos(theta, g)``, ``cos(theta, theta_0)``
    and the fraction of zero logits. ``steps + 1`` iterations: the loss of the last one is
    the loss after ``steps`` updates (its own update is not used).
    """
    final, rows = [], []
    train = TensorDataset(X, y)
    test = TensorDataset(X_test, y_test)
    for run, (alpha, eta0) in enumerate(configs):
        model = make_model()
        L = homogeneity_degree(model)
        init = parameters_to_vector(model.parameters()).detach().clone()
        vector_to_parameters(alpha * init, model.parameters())
        optimizer = torch.optim.SGD(model.parameters(), lr=eta0 / alpha ** (L - 2))
        loader = DataLoader(train, batch_size=len(train))
        iteration = 0
        while iteration <= steps:
            for xb, yb in loader:
                optimizer.zero_grad()
                model.zero_grad()
                outs = model(xb)
                loss = F.cross_entropy(outs, yb)
                loss.backward()
                g = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).detach()
                optimizer.step()
                if iteration % log_every == 0 or iteration == steps:
                    test_loss, test_acc = _heldout(model, test)
                    w = parameters_to_vector(model.parameters()).detach()
                    rows.append({
                        "run": run, "step": iteration, "train_loss": loss.item(),
                        "train_acc": float((outs.detach().argmax(dim=-1) == yb).float().mean()),
                        "test_loss": test_loss, "test_acc": test_acc,
                        "param_norm": float(w.norm()), "grad_norm": float(g.norm()),
                        "cos_wg": _cos(w, g), "cos_ww0": _cos(w, init),
                        "zero_logits": float((outs == 0).sum() / outs.numel()),
                    })
                if iteration == steps:
                    final.append(loss.item())
                iteration += 1
                if iteration > steps:
                    break
    return LoopResult(final, rows)


def engine_runs(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
                alphas: Sequence[float], eta0s: Sequence[float], steps: int, *,
                dtype: torch.dtype, device: torch.device,
                test: tuple[torch.Tensor, torch.Tensor] | None = None,
                log_every: int | None = None) -> LoopResult:
    """(a) the engine: the whole grid as one batch (seed 0, no sharpness, no cache)."""
    res = train_grid(GridSpec.of(model, (X, y), test, alphas=list(alphas), eta0s=list(eta0s),
                                 seeds=[0], steps=steps, log_every=log_every or steps,
                                 sharpness_steps=(), dtype=dtype, device=str(device),
                                 progress=False))
    last = res.log[res.log["step"] == steps].sort_values("run")
    return LoopResult([float(v) for v in last["train_loss"]],
                      res.log.to_dict("records"))


def max_relative_difference(a: Sequence[float], b: Sequence[float]) -> float:
    """``max_r |a_r - b_r| / |b_r|`` (``inf`` when the lengths differ or a value is not finite)."""
    if len(a) != len(b) or not a:
        return math.inf
    out = 0.0
    for u, v in zip(a, b):
        if not (math.isfinite(u) and math.isfinite(v)):
            return math.inf
        out = max(out, abs(u - v) / max(abs(v), 1e-300))
    return out


def timed(fn, device: torch.device):
    _sync(device)
    t = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - t, out


def mm_rate(device: torch.device, repeats: int = 5) -> float:
    """Measured float32 ``torch.mm`` rate on 2048 x 2048 matrices, GFLOP/s (median)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(2048, 2048, generator=gen).to(device)
    b = torch.randn(2048, 2048, generator=gen).to(device)
    for _ in range(2):
        a @ b
    times = [timed(lambda: a @ b, device)[0] for _ in range(repeats)]
    return 2 * 2048**3 / statistics.median(times) / 1e9


def step_flops(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of one forward + backward of one run on the whole batch (flop_counter)."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p):
        return F.cross_entropy(functional_call(model, p, (X,)), y)

    with FlopCounterMode(display=False) as counter:
        grad(loss)(params)
    return int(counter.get_total_flops())


def _gradients(make_model: ModelFactory, X: torch.Tensor, y: torch.Tensor, runs: int,
               evals: int) -> None:
    """``evals`` forward + backward passes of each of ``runs`` fresh models (no update)."""
    for _ in range(runs):
        model = make_model()
        for _ in range(evals):
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(X), y).backward()


def conv_times(fn: Callable[[], object], image_side: int = 32) -> dict[str, float]:
    """Self CPU time [ms] of LeNet-5's convolution ops (forward + backward) in ``fn()``.

    Split by layer from the input's side: ``conv1`` reads the ``image_side`` images,
    ``conv2`` the pooled ``(image_side - 4) // 2`` maps (in a vmapped batch conv1 is one wide
    convolution, conv2 one grouped convolution).
    """
    sides = {image_side: "conv1", (image_side - 4) // 2: "conv2"}
    out = {"conv1": 0.0, "conv2": 0.0}
    with torch.profiler.profile(record_shapes=True) as prof:
        fn()
    for ev in prof.key_averages(group_by_input_shape=True):
        if "conv" not in ev.key:
            continue
        for shape in ev.input_shapes:
            if len(shape) == 4 and shape[2] == shape[3] and shape[2] in sides:
                out[sides[shape[2]]] += ev.self_cpu_time_total / 1e3
                break
    return out


@dataclass
class Comparison:
    """Wall times [s] and final losses of the three implementations on one model's grid."""

    label: str
    runs: int
    steps: int
    t_engine: float
    t_plain: float
    t_engine_logged: float
    t_authors: float
    diff_plain: float
    diff_authors: float
    diff_logged: float
    flops: int
    convs: dict[str, dict[str, float]] | None = None


def compare(label: str, name: str, train, test, alphas: Sequence[float],
            eta0s: Sequence[float], steps: int, log_every: int, dtype: torch.dtype,
            device: torch.device, progress: Callable[[str], None] = print) -> Comparison:
    """Time (a), (b), (c) on ``name`` over the grid ``alphas x eta0s`` and compare losses."""
    configs = grid_configs(alphas, eta0s)
    X, y = train.X.to(device=device, dtype=dtype), train.y.to(device)
    Xt, yt = test.X.to(device=device, dtype=dtype), test.y.to(device)
    make = kaiming_factory(name, 0, dtype, device)
    model = build_model(name, seed=0)
    # warm-up of each implementation (first-call costs: allocations, kernel selection)
    engine_runs(model, X, y, alphas[:1], eta0s[:1], 1, dtype=dtype, device=device)
    plain_loop(make, X, y, configs[:1], 1)
    authors_style_loop(make, X, y, Xt, yt, configs[:1], 1, 1)
    progress(f"# {label}: engine ...")
    t_e, e = timed(lambda: engine_runs(model, X, y, alphas, eta0s, steps, dtype=dtype,
                                       device=device), device)
    progress(f"# {label}: plain loop ...")
    t_p, p = timed(lambda: plain_loop(make, X, y, configs, steps), device)
    progress(f"# {label}: engine, logging every {log_every} steps with held-out data ...")
    t_el, el = timed(lambda: engine_runs(model, X, y, alphas, eta0s, steps, dtype=dtype,
                                         device=device, test=(Xt, yt), log_every=log_every),
                     device)
    progress(f"# {label}: authors'-style loop ...")
    t_a, a = timed(lambda: authors_style_loop(make, X, y, Xt, yt, configs, steps, log_every),
                   device)
    flops = step_flops(build_model(name, seed=0, dtype=dtype).to(device), X, y)
    convs = None
    if name == "lenet-5" and device.type == "cpu":
        # 2 gradient evaluations of all runs (the engine's 1-step grid evaluates 2), by layer
        convs = {
            "engine": conv_times(lambda: engine_runs(model, X, y, alphas, eta0s, 1,
                                                     dtype=dtype, device=device),
                                 int(X.shape[-1])),
            "plain": conv_times(lambda: _gradients(make, X, y, len(configs), 2),
                                int(X.shape[-1])),
        }
    return Comparison(label, len(configs), steps, t_e, t_p, t_el, t_a,
                      max_relative_difference(p.final_loss, e.final_loss),
                      max_relative_difference(a.final_loss, e.final_loss),
                      max_relative_difference(el.final_loss, e.final_loss), flops, convs)


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None, help="data folder (default: GOLDILOCKS_DATA)")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--n", type=int, default=500, help="Fashion-MNIST training images")
    ap.add_argument("--n-cifar", type=int, default=250, help="CIFAR-10 training images")
    ap.add_argument("--n-test", type=int, default=500, help="held-out images (each dataset)")
    ap.add_argument("--alphas", type=_floats, default=[0.5, 1.0],
                    help="comma-separated alphas (both models)")
    ap.add_argument("--eta0s", type=_floats, default=[0.005, 0.02],
                    help="comma-separated eta0s (both models)")
    ap.add_argument("--steps", type=int, default=60, help="GD steps, LeNet-300-100")
    ap.add_argument("--cifar-steps", type=int, default=15, help="GD steps, LeNet-5")
    ap.add_argument("--log-every", type=int, default=10,
                    help="k: log every k steps (engine 'logged' and the authors'-style loop)")
    ap.add_argument("--dask", action="store_true",
                    help="also time a Dask LocalCluster (2 workers) against in-process")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:0, ...")
    ap.add_argument("--gpu-tflops", type=float, default=25.0,
                    help="assumed sustained float32 TFLOP/s of one H100 for the estimate")
    ap.add_argument("--paper-grid", type=int, default=16,
                    help="assumed points per axis of the paper's (alpha, eta0) grids")
    ap.add_argument("--paper-steps", type=int, default=20000, help="paper: GD steps")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (seconds)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.n_cifar, args.n_test, args.steps, args.cifar_steps = 100, 50, 100, 4, 2
        args.log_every = 2
    for name in ("n", "n_cifar", "n_test", "steps", "cifar_steps", "log_every"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    if not args.alphas or not args.eta0s or min(args.alphas + args.eta0s) <= 0:
        ap.error("--alphas and --eta0s must be non-empty lists of positive numbers")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one table; returns a process exit status."""
    from goldilocks_nb.data import load_dataset

    args = parse_args(argv)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    load0 = os.getloadavg()
    print(f"# bench_training: {args.dtype}, device={device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"load average at start {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f} "
          f"on {os.cpu_count()} CPUs", flush=True)
    ld = dict(root=args.data_root, seed=0)
    fm = load_dataset("fashion-mnist", "train", n=args.n, **ld)
    fm_test = load_dataset("fashion-mnist", "test", n=args.n_test, **ld)
    cf = load_dataset("cifar10", "train", n=args.n_cifar, **ld)
    cf_test = load_dataset("cifar10", "test", n=args.n_test, **ld)
    say = lambda s: print(s, flush=True)  # noqa: E731
    rows = [
        compare(f"LeNet-300-100, Fashion-MNIST N={args.n}", "lenet-300-100", fm, fm_test,
                args.alphas, args.eta0s, args.steps, args.log_every, dtype, device, say),
        compare(f"LeNet-5, CIFAR-10 N={args.n_cifar}", "lenet-5", cf, cf_test,
                args.alphas, args.eta0s, args.cifar_steps, args.log_every, dtype, device,
                say),
    ]
    rate_mm = mm_rate(device)
    dask_line = None
    if args.dask:
        kwd = dict(alphas=args.alphas, eta0s=args.eta0s, seeds=[0], steps=args.steps,
                   log_every=args.steps, sharpness_steps=(), dtype=dtype,
                   device=str(device), progress=False)
        mlp = build_model("lenet-300-100")
        t_in, _ = timed(lambda: train_grid(GridSpec.of(mlp, fm, None, **kwd)), device)
        t_dask, _ = timed(lambda: train_grid(GridSpec.of(mlp, fm, None, executor="dask",
                                                         dask_workers=2, **kwd)), device)
        dask_line = (f"{t_dask / t_in:.2f}x", f"{t_dask:.1f} s vs {t_in:.1f} s in-process "
                     "(cluster start and worker imports included)")
    load1 = os.getloadavg()

    rtol = ROUNDING_RTOL[dtype]
    print(f"# data: {fm.source}; {cf.source}")
    print(f"# runs: (alpha, eta0) in {args.alphas} x {args.eta0s}, seed 0, full-batch GD, "
          f"no sharpness; engine = train_grid (one vmapped batch), plain = torch.nn loop "
          f"(one run after the other, no logs), authors' = loop in the style of "
          f"trainability.py (SGD, DataLoader, logs every {args.log_every} steps with "
          f"{args.n_test} held-out images); 'engine, logged' logs as often on the same "
          "held-out images")
    print(f"| {'model':<34} | {'runs x steps':>12} | {'engine':>8} | {'plain':>8} | "
          f"{'ratio':>6} | {'engine, logged':>14} | {'authors':>8} | {'ratio':>6} | "
          f"final-loss max rel. diff. (plain / authors / logged)")
    print("|" + "-" * 36 + "|" + "-" * 14 + "|" + "-" * 10 + "|" + "-" * 10 + "|" + "-" * 8
          + "|" + "-" * 16 + "|" + "-" * 10 + "|" + "-" * 8 + "|------")
    ok = True
    for c in rows:
        diffs = (c.diff_plain, c.diff_authors, c.diff_logged)
        agree = all(d <= rtol for d in diffs)
        ok &= agree
        print(f"| {c.label:<34} | {f'{c.runs} x {c.steps}':>12} | {c.t_engine:>6.1f} s | "
              f"{c.t_plain:>6.1f} s | {c.t_plain / c.t_engine:>5.2f}x | "
              f"{c.t_engine_logged:>12.1f} s | {c.t_authors:>6.1f} s | "
              f"{c.t_authors / c.t_engine_logged:>5.2f}x | "
              + " / ".join(f"{d:.1e}" for d in diffs)
              + f" ({'same GD to rounding' if agree else 'DIFFER'}: tolerance {rtol:.0e})")
    print("# ratio = peer time / engine time (> 1: the engine is faster)")
    for c in rows:
        evals = c.runs * (c.steps + 1)
        print(f"# {c.label}: engine {evals / c.t_engine:.1f} run-steps/s, plain "
              f"{c.runs * c.steps / c.t_plain:.1f} run-steps/s; "
              f"{c.flops / 1e9:.3f} GFLOP per step and run, engine achieves "
              f"{c.flops * evals / c.t_engine / 1e9:.1f} GFLOP/s "
              f"(torch.mm 2048x2048 float32: {rate_mm:.1f} GFLOP/s)")
    for c in rows:
        if c.convs:
            e, p = c.convs["engine"], c.convs["plain"]
            print(f"# {c.label}: convolutions (forward + backward, self CPU time of 2 gradient "
                  f"evaluations of all {c.runs} runs, profiler): conv1 engine {e['conv1']:.0f} ms "
                  f"(one wide convolution) vs plain {p['conv1']:.0f} ms, conv2 engine "
                  f"{e['conv2']:.0f} ms (one grouped convolution) vs plain {p['conv2']:.0f} ms")
    if dask_line is not None:
        print(f"# Dask LocalCluster (2 workers x 1 thread) / in-process, LeNet-300-100: "
              f"{dask_line[0]} ({dask_line[1]})")
    P = args.paper_grid**2
    for c, n_full in zip(rows, (60000, 50000)):
        n = args.n if c is rows[0] else args.n_cifar
        f = c.flops / n * n_full
        hours = f * (args.paper_steps + 1) * P / (args.gpu_tflops * 1e12) / 3600
        print(f"# estimate, not measured: {c.label.split(',')[0]} on all {n_full:,} images, "
              f"{P} runs x {args.paper_steps} steps on one H100 at {args.gpu_tflops:g} "
              f"TFLOP/s sustained (assumed): {hours:.1f} h")
    print(f"# machine load average (1/5/15 min): start {load0[0]:.2f}/{load0[1]:.2f}/"
          f"{load0[2]:.2f}, end {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f} on "
          f"{os.cpu_count()} CPUs (other processes inflate all times)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
