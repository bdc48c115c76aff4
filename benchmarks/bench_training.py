"""Benchmark of the training engine (issue 10): batched grids vs a loop, FLOP rate, Dask.

T1: LeNet-300-100 (float32), ``N`` real Fashion-MNIST images, an ``G x G`` grid of
(alpha, eta0) (one seed), ``steps`` full-batch GD steps, logs only at the first and last
step, no sharpness: the whole grid batched by :func:`goldilocks_nb.training.train_grid`
vs the same runs one after another in a Python loop (each a one-configuration
``train_grid``; timed on ``--loop-runs`` of them and extrapolated linearly, marked ``*``).
T2: achieved GFLOP/s of the batched run (FLOPs of one forward+backward per run and step,
counted by ``torch.utils.flop_counter``) against the measured ``torch.mm`` rate on
2048 x 2048 float32 matrices.
T3: LeNet-5 on ``--n-cifar`` real CIFAR-10 images, the same grid: time per step per run
(``--cifar-steps`` steps).
T4: the same LeNet-300-100 grid (``--dask-steps`` steps) on a ``distributed.LocalCluster``
of 2 single-threaded worker processes vs in-process (ratio > 1 = Dask slower; includes
starting the cluster and the workers' imports).
Finally, the estimated wall time of the paper's grids on one H100 from the measured FLOPs
per image and step, at an assumed sustained FLOP rate (``--gpu-tflops``).

Usage::

    GOLDILOCKS_DATA=/path/to/data python benchmarks/bench_training.py
    python benchmarks/bench_training.py --device cuda      # the same table on a GPU
    python benchmarks/bench_training.py --quick            # tiny smoke run (seconds)
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time

import torch
from torch.func import functional_call, grad
from torch.utils.flop_counter import FlopCounterMode

from goldilocks_nb.data import load_dataset
from goldilocks_nb.models import build_model
from goldilocks_nb.notebook import resolve_device
from goldilocks_nb.training import train_grid


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mm_rate(device: torch.device, repeats: int = 5) -> float:
    """Measured float32 ``torch.mm`` rate on 2048 x 2048 matrices, GFLOP/s (median)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(2048, 2048, generator=gen).to(device)
    b = torch.randn(2048, 2048, generator=gen).to(device)
    for _ in range(2):
        a @ b
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - t)
    return 2 * 2048**3 / statistics.median(times) / 1e9


def step_flops(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of one forward + backward of one run on the whole batch (flop_counter)."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p):
        return torch.nn.functional.cross_entropy(functional_call(model, p, (X,)), y)

    with FlopCounterMode(display=False) as counter:
        grad(loss)(params)
    return int(counter.get_total_flops())


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None, help="data folder (default: GOLDILOCKS_DATA)")
    ap.add_argument("--n", type=int, default=1000, help="Fashion-MNIST training images")
    ap.add_argument("--n-cifar", type=int, default=500, help="CIFAR-10 training images")
    ap.add_argument("--grid", type=int, default=4, help="G: a G x G (alpha, eta0) grid")
    ap.add_argument("--steps", type=int, default=200, help="GD steps of T1")
    ap.add_argument("--loop-runs", type=int, default=2, help="runs timed in the loop (T1)")
    ap.add_argument("--cifar-steps", type=int, default=20, help="GD steps of T3")
    ap.add_argument("--dask-steps", type=int, default=50, help="GD steps of T4")
    ap.add_argument("--no-dask", action="store_true", help="skip T4")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:0, ...")
    ap.add_argument("--gpu-tflops", type=float, default=25.0,
                    help="assumed sustained float32 TFLOP/s of one H100 for the estimate")
    ap.add_argument("--paper-grid", type=int, default=16,
                    help="assumed points per axis of the paper's (alpha, eta0) grids")
    ap.add_argument("--paper-steps", type=int, default=20000, help="paper: GD steps")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.n_cifar, args.grid, args.steps = 100, 50, 2, 5
        args.loop_runs, args.cifar_steps, args.dask_steps = 1, 3, 3
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one table; returns a process exit status."""
    args = parse_args(argv)
    device = resolve_device(args.device)
    load0 = os.getloadavg()
    fm = load_dataset("fashion-mnist", "train", n=args.n, root=args.data_root, seed=0)
    G = args.grid
    alphas = [10.0 ** (-0.5 + i / max(G - 1, 1)) for i in range(G)]
    eta0s = [10.0 ** (-3 + i / max(G - 1, 1)) for i in range(G)]
    runs = G * G
    common = dict(alphas=alphas, eta0s=eta0s, seeds=[0], sharpness_steps=(),
                  dtype=torch.float32, device=str(device), progress=False)
    mlp = build_model("lenet-300-100")
    flops_mlp = step_flops(mlp, fm.X, fm.y)
    rate_mm = mm_rate(device)

    # T1 + T2: batched grid vs a Python loop of single runs
    kw = dict(common, steps=args.steps, log_every=args.steps)
    train_grid(mlp, fm, None, **dict(kw, steps=1, log_every=1))  # warm-up (first-call costs)
    t_batch, _ = timed(lambda: train_grid(mlp, fm, None, **kw))
    loop_cfgs = [(a, e) for a in alphas for e in eta0s][: args.loop_runs]
    t_loop_part, _ = timed(lambda: [
        train_grid(mlp, fm, None, **dict(kw, alphas=[a], eta0s=[e])) for a, e in loop_cfgs])
    t_loop = t_loop_part * runs / len(loop_cfgs)
    evals = runs * (args.steps + 1)
    gflops = flops_mlp * evals / t_batch / 1e9

    # T3: LeNet-5 on CIFAR-10
    cf = load_dataset("cifar10", "train", n=args.n_cifar, root=args.data_root, seed=0)
    lenet5 = build_model("lenet-5")
    flops_l5 = step_flops(lenet5, cf.X, cf.y)
    kw5 = dict(common, steps=args.cifar_steps, log_every=args.cifar_steps)
    train_grid(lenet5, cf, None, **dict(kw5, steps=1, log_every=1, alphas=alphas[:1]))
    t_l5, _ = timed(lambda: train_grid(lenet5, cf, None, **kw5))
    per_step_l5 = t_l5 / (runs * (args.cifar_steps + 1))

    # T4: Dask LocalCluster vs in-process
    dask_line = "skipped (--no-dask)"
    ratio = None
    if not args.no_dask:
        kwd = dict(common, steps=args.dask_steps, log_every=args.dask_steps)
        t_in, _ = timed(lambda: train_grid(mlp, fm, None, **kwd))
        t_dask, _ = timed(lambda: train_grid(mlp, fm, None, executor="dask", dask_workers=2,
                                             **kwd))
        ratio = t_dask / t_in
        dask_line = f"{t_dask:.1f} s vs {t_in:.1f} s in-process"

    # estimate of the paper's grids on one H100
    paper = {
        "LeNet-300-100 / Fashion-MNIST (60,000)": flops_mlp / args.n * 60000,
        "LeNet-5 / CIFAR-10 (50,000)": flops_l5 / args.n_cifar * 50000,
    }
    P = args.paper_grid**2
    load1 = os.getloadavg()
    print(f"# bench_training: float32, device={device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"# data: {fm.source}; {cf.source}")
    print(f"# grid {G} x {G} = {runs} runs (alpha {alphas[0]:.3g}..{alphas[-1]:.3g}, eta0 "
          f"{eta0s[0]:.3g}..{eta0s[-1]:.3g}, seed 0), full-batch GD, logs at first and last "
          "step, no sharpness; '*' = extrapolated linearly from the runs timed")
    print(f"| {'quantity':<58} | {'value':>14} | target / note")
    print("|" + "-" * 60 + "|" + "-" * 16 + "|------")

    def row(name, value, note=""):
        print(f"| {name:<58} | {value:>14} | {note}")

    row(f"T1 batched grid, LeNet-300-100, N={args.n}, {args.steps} steps [s]",
        f"{t_batch:.1f}", f"{evals / t_batch:.1f} run-steps/s")
    row(f"T1 Python loop of single runs [s] ({len(loop_cfgs)} timed)", f"{t_loop:.1f}*",
        f"{evals / t_loop:.1f} run-steps/s")
    speedup = t_loop / t_batch
    row("T1 loop / batched", f"{speedup:.2f}x",
        f"target >= 1.5x: {'met' if speedup >= 1.5 else 'NOT met'}")
    row("T2 FLOPs per step per run (fwd+bwd) [GFLOP]", f"{flops_mlp / 1e9:.3f}")
    row("T2 achieved by the batched grid [GFLOP/s]", f"{gflops:.1f}")
    row("T2 torch.mm 2048x2048 float32 [GFLOP/s]", f"{rate_mm:.1f}")
    share = gflops / rate_mm
    row("T2 achieved / mm rate", f"{100 * share:.0f} %",
        f"target >= 50 %: {'met' if share >= 0.5 else 'NOT met'}")
    row(f"T3 LeNet-5, CIFAR-10 N={args.n_cifar}: time per step per run [ms]",
        f"{1e3 * per_step_l5:.1f}",
        f"{flops_l5 / 1e9:.3f} GFLOP/step/run = "
        f"{flops_l5 / per_step_l5 / 1e9:.1f} GFLOP/s")
    row("T4 Dask LocalCluster (2 workers x 1 thread) / in-process",
        f"{ratio:.2f}x" if ratio is not None else "-", dask_line)
    for name, f in paper.items():
        total = f * (args.paper_steps + 1) * P
        hours = total / (args.gpu_tflops * 1e12) / 3600
        row(f"H100 estimate: {name}", f"{hours:.1f} h",
            f"{P} runs x {args.paper_steps} steps x {f / 1e9:.1f} GFLOP at "
            f"{args.gpu_tflops:g} TFLOP/s sustained (assumed)")
    print(f"# machine load average (1/5/15 min): start {load0[0]:.2f}/{load0[1]:.2f}/"
          f"{load0[2]:.2f}, end {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f} on "
          f"{os.cpu_count()} CPUs (other processes inflate all times)")
    if not math.isfinite(t_batch):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
