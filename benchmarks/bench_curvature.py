"""Benchmark of the curvature engine against curvlinops and the paper's per-sample loop.

W1: LeNet-300-100 (float64), ``N`` real Fashion-MNIST images, one sparse orthonormal
``R`` of ``d`` columns: projected Hessian, G-term and H-term, ours vs curvlinops
(``HessianLinearOperator @ R``, ``GGNLinearOperator @ R``) vs a per-sample, per-class
backward loop (the paper's code; timed on a subset and extrapolated linearly to ``N``).
"ours" is the engine as users call it: LeNet-300-100 declares a ReLU chain, so ``J R``
is propagated layer by layer with sparse products (``goldilocks_nb.curvature.relu_chain``).
The "autodiff route" rows time the same calls on the same model hidden behind a wrapper
without that declaration: the generic vmapped ``jvp``/``vjp`` path every other model takes.
W2: an ``alphas``-point alpha sweep at ``T = 1`` (Hessian, G-term, H-term metrics) with
:func:`curvature_sweep` (Eq. 5) vs direct per-point calls (estimated from a few points).

Usage::

    GOLDILOCKS_DATA=/path/to/fashion-mnist python benchmarks/bench_curvature.py
    python benchmarks/bench_curvature.py --data-root PATH --n 1000 --d 50 --alphas 25
    python benchmarks/bench_curvature.py --quick     # tiny smoke run

Prints one table; every number comes from this one run (same model, data and ``R``).
Memory: peak increase of the process's resident set size (``/proc/self/statm``, sampled
every 2 ms in a thread) over its value before each call; on CUDA,
``torch.cuda.max_memory_allocated`` over the call instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable

import numpy as np
import torch

from goldilocks_nb.curvature import (
    curvature_sweep,
    g_term,
    gauss_newton_split,
    h_term,
    projected_hessian,
    random_subspace,
)
from goldilocks_nb.curvature.reference import g_term_loop
from goldilocks_nb.data import load_dataset
from goldilocks_nb.functional import get_params, loss, scale_params
from goldilocks_nb.models import build_model


class _AutodiffRoute(torch.nn.Module):
    """The same network without its ``relu_chain()`` declaration (generic torch.func route)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


class _PeakMemory:
    """Peak memory increase during a block: RSS sampled in a thread, or CUDA allocator."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.peak = 0

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        self.base = self.peak_abs = _rss()
        self.stop = threading.Event()

        def sample() -> None:
            while not self.stop.is_set():
                self.peak_abs = max(self.peak_abs, _rss())
                time.sleep(0.002)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
            return
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak_abs, _rss()) - self.base


def _measure(fn: Callable[[], object], device: torch.device, repeats: int):
    """Median wall time over ``repeats`` calls, peak memory of the first, last output."""
    times, peak, out = [], 0, None
    for i in range(repeats):
        with _PeakMemory(device) as mem:
            t0 = time.perf_counter()
            out = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        if i == 0:
            peak = mem.peak
    return statistics.median(times), peak, out


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data-root",
        default=None,
        help="Fashion-MNIST folder (default: $GOLDILOCKS_DATA / package search)",
    )
    ap.add_argument("--n", type=int, default=1000, help="number of training images")
    ap.add_argument("--d", type=int, default=50, help="subspace dimension")
    ap.add_argument("--alphas", type=int, default=25, help="points of the W2 alpha sweep")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:0, ...")
    ap.add_argument(
        "--loop-samples",
        type=int,
        default=20,
        help="samples timed in the per-sample loop (extrapolated to n)",
    )
    ap.add_argument(
        "--naive-points",
        type=int,
        default=2,
        help="sweep points timed directly (extrapolated to --alphas)",
    )
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (median)")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run")
    ap.add_argument("--no-curvlinops", action="store_true", help="skip the curvlinops rows")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.d, args.alphas = min(args.n, 64), min(args.d, 8), min(args.alphas, 5)
        args.loop_samples, args.repeats = min(args.loop_samples, 4), 1
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one table; returns a process exit status."""
    args = parse_args(argv)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    dtype = torch.float64
    ds = load_dataset(
        "fashion-mnist", n=args.n, root=args.data_root, dtype=dtype, device=device, download=False
    )
    X, y = ds.X, ds.y
    N = X.shape[0]
    model = build_model(
        "lenet-300-100", seed=0, input_shape=tuple(X.shape[1:]), dtype=dtype, device=device
    )
    params = get_params(model)
    P = sum(t.numel() for t in params.values())
    d = args.d
    R = random_subspace(P, d, seed=0, device=device)
    reps = args.repeats
    rows: list[dict] = []
    extra_lines: list[str] = []

    def row(name, t, mem, note="", vs=None, err=None, extrapolated=False):
        rows.append(
            {
                "name": name,
                "t": t,
                "mem": mem,
                "note": note,
                "vs": vs,
                "err": err,
                "extra": extrapolated,
            }
        )

    grad_fn = torch.func.grad(lambda p: loss(model, p, X, y))
    _measure(lambda: grad_fn(params), device, 1)  # warm-up
    t_grad, m_grad, _ = _measure(lambda: grad_fn(params), device, max(reps, 5))
    row("full-batch gradient (1 pass)", t_grad, m_grad, "unit of the 'x d grads' column")

    projected_hessian(model, params, X[:8], y[:8], R)  # warm-up of torch.func paths
    # ours and the curvlinops peers are timed round-robin (one call of each per round),
    # so that drifting load on a shared machine hits all of them alike
    tasks: dict[str, Callable[[], object]] = {
        "H": lambda: projected_hessian(model, params, X, y, R),
        "G": lambda: g_term(model, params, X, R),
        "Ht": lambda: h_term(model, params, X, y, R),
        "split": lambda: gauss_newton_split(model, params, X, y, R),
    }
    generic = _AutodiffRoute(model)
    gparams = get_params(generic)
    tasks["H_ad"] = lambda: projected_hessian(generic, gparams, X, y, R)
    tasks["G_ad"] = lambda: g_term(generic, gparams, X, R)
    if not args.no_curvlinops:
        try:
            from curvlinops import GGNLinearOperator, HessianLinearOperator
        except ImportError:  # pragma: no cover - optional peer
            print("curvlinops not installed: its rows are skipped", file=sys.stderr)
        else:
            plist = [p for p in model.parameters() if p.requires_grad]
            lf = torch.nn.CrossEntropyLoss(reduction="mean")
            Hop = HessianLinearOperator(model, lf, plist, [(X, y)], check_deterministic=False)
            Gop = GGNLinearOperator(model, lf, plist, [(X, y)], check_deterministic=False)
            tasks["cl_H"] = lambda: R.T @ (Hop @ R)
            tasks["cl_G"] = lambda: R.T @ (Gop @ R)
    res: dict[str, tuple[list[float], int, object]] = {k: ([], 0, None) for k in tasks}
    for rnd in range(reps):
        for key, fn in tasks.items():
            t, m, out = _measure(fn, device, 1)
            times, mem, _ = res[key]
            res[key] = (times + [t], m if rnd == 0 else mem, out)
    med = {k: statistics.median(v[0]) for k, v in res.items()}
    H, G = res["H"][2], res["G"][2]
    t_h, t_g = med["H"], med["G"]
    row("ours: projected Hessian R^T H R", t_h, res["H"][1], "G + H-term, one pass on (h1, W2, W3)")
    row("ours: G-term (closed-form J R)", t_g, res["G"][1], "ReLU chain, sparse R products")
    row("ours: H-term", med["Ht"], res["Ht"][1], "same pass as the Hessian")
    row(
        "ours: gauss_newton_split (G, H-term)",
        med["split"],
        res["split"][1],
        "both terms, one pass",
    )
    row(
        "ours, autodiff route: projected Hessian",
        med["H_ad"],
        res["H_ad"][1],
        "vmapped jvp of vjp on theta",
        vs=med["H_ad"] / t_h,
        err=_rel(H, res["H_ad"][2]),
    )
    row(
        "ours, autodiff route: G-term",
        med["G_ad"],
        res["G_ad"][1],
        "jvp vmapped over d",
        vs=med["G_ad"] / t_g,
        err=_rel(G, res["G_ad"][2]),
    )
    if "cl_H" in res:
        row(
            "curvlinops: HessianLinearOperator @ R",
            med["cl_H"],
            res["cl_H"][1],
            "R^T (H R)",
            vs=med["cl_H"] / t_h,
            err=_rel(H, res["cl_H"][2]),
        )
        row(
            "curvlinops: GGNLinearOperator @ R",
            med["cl_G"],
            res["cl_G"][1],
            "R^T (GGN R)",
            vs=med["cl_G"] / t_g,
            err=_rel(G, res["cl_G"][2]),
        )
        spread = {k: (min(v[0]), max(v[0])) for k, v in res.items()}
        ratios_g = [c / o for c, o in zip(res["cl_G"][0], res["G"][0])]
        ratios_h = [c / o for c, o in zip(res["cl_H"][0], res["H"][0])]
        extra_lines.append(
            "# per-round curvlinops/ours ratios: GGN/G "
            + ", ".join(f"{r:.1f}" for r in ratios_g)
            + "; Hessian "
            + ", ".join(f"{r:.1f}" for r in ratios_h)
            + "; min-max times [s]: "
            + ", ".join(f"{k} {a:.2f}-{b:.2f}" for k, (a, b) in spread.items())
        )

    n_loop = min(args.loop_samples, N)
    t_l, m_l, G_loop = _measure(lambda: g_term_loop(model, params, X[:n_loop], R), device, 1)
    G_sub = g_term(model, params, X[:n_loop], R)
    t_loop = t_l * N / n_loop
    row(
        "paper-style loop: N*K backward passes (G)",
        t_loop,
        m_l,
        f"EXTRAPOLATED x{N / n_loop:g} from {n_loop} samples" if n_loop < N else "",
        vs=t_loop / t_g,
        err=_rel(G_sub, G_loop),
        extrapolated=n_loop < N,
    )

    alphas = np.logspace(-1, 1, args.alphas).tolist()
    t_w2, m_w2, recs = _measure(
        lambda: curvature_sweep(model, params, X, y, alphas=alphas, R=R, seeds=(0,)), device, 1
    )
    row(
        f"W2 ours: curvature_sweep, {len(alphas)} alphas (Eq. 5)",
        t_w2,
        m_w2,
        "z, J R once; one H(p') pass per alpha",
    )

    k = max(1, min(args.naive_points, len(alphas)))
    pts = np.linspace(0, len(alphas) - 1, k).round().astype(int)

    def naive() -> None:
        for i in pts:
            p_a = scale_params(params, alphas[i])
            projected_hessian(model, p_a, X, y, R)
            g_term(model, p_a, X, R)

    t_n, m_n, _ = _measure(naive, device, 1)
    t_naive = t_n * len(alphas) / k
    row(
        f"W2 naive: per-point Hessian + G-term x {len(alphas)}",
        t_naive,
        m_n,
        f"ESTIMATE: {k} points timed x{len(alphas) / k:g}",
        vs=t_naive / t_w2,
        extrapolated=k < len(alphas),
    )
    # sanity of the sweep at alpha = 1 against the direct call
    i1 = int(np.argmin(np.abs(np.log(alphas))))
    G1, H1 = gauss_newton_split(model, scale_params(params, alphas[i1]), X, y, R)
    from goldilocks_nb.curvature import positive_curvature

    sweep_err = abs(recs[i1]["hessian_positive_curvature"] - positive_curvature(G1 + H1))

    mem_kind = (
        "CUDA max_memory_allocated increase"
        if device.type == "cuda"
        else "peak RSS increase over the call (/proc/self/statm, sampled 2 ms)"
    )
    print(
        f"# bench_curvature: LeNet-300-100 (P={P:,}), {ds.source}, N={N}, d={d}, float64, "
        f"device={device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}"
    )
    print(
        f"# times: median of {reps} rounds, ours and curvlinops timed round-robin (loop, "
        f"sweeps: 1 run); 'x d grads' = time / "
        f"(d * full-batch gradient time); 'peer/ours' = peer time / our time for the same "
        f"quantity; rel.err = ||ours - peer||_F / ||peer||_F; memory: {mem_kind}"
    )
    header = (
        f"| {'method':<46} | {'time [s]':>9} | {'x d grads':>9} | {'peer/ours':>9} | "
        f"{'rel.err':>8} | {'mem [MB]':>8} | note"
    )
    print(header)
    print(
        "|"
        + "-" * 48
        + "|"
        + "-" * 11
        + "|"
        + "-" * 11
        + "|"
        + "-" * 11
        + "|"
        + "-" * 10
        + "|"
        + "-" * 10
        + "|------"
    )
    for r in rows:
        t = f"{r['t']:.3f}" + ("*" if r["extra"] else "")
        xd = f"{r['t'] / (d * t_grad):.2f}"
        vs = f"{r['vs']:.1f}x" if r["vs"] is not None else ""
        err = f"{r['err']:.1e}" if r["err"] is not None else ""
        print(
            f"| {r['name']:<46} | {t:>9} | {xd:>9} | {vs:>9} | {err:>8} | "
            f"{r['mem'] / 2**20:>8.1f} | {r['note']}"
        )
    for line in extra_lines:
        print(line)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"# machine load average (1/5/15 min) at the end: {load[0]:.2f}/{load[1]:.2f}/"
        f"{load[2]:.2f} on {os.cpu_count()} CPUs (other processes inflate all times)"
    )
    print(
        f"# * = extrapolated/estimated. W2 check: |PC_sweep - PC_direct| at alpha="
        f"{alphas[i1]:.3g}: {sweep_err:.1e}."
    )
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    targets = [f"Hessian <= 2 d grads: {verdict(t_h <= 2 * d * t_grad)} ({t_h / (d * t_grad):.2f})"]
    if "cl_G" in med:
        targets.append(
            f"G-term >= 3x faster than curvlinops GGN: {verdict(med['cl_G'] >= 3 * t_g)} "
            f"({med['cl_G'] / t_g:.1f}x)"
        )
    targets.append(
        f"G-term >= 50x faster than the loop: {verdict(t_loop >= 50 * t_g)} ({t_loop / t_g:.0f}x)"
    )
    targets.append(f"W2 < 120 s: {verdict(t_w2 < 120)} ({t_w2:.1f} s)")
    print("# targets (issue #3): " + "; ".join(targets))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
