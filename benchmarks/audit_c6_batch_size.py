"""C6 resolution: the gap between Eq. 8 and the true G-term curvature against the number of
images (LeNet-300-100 on Fashion-MNIST, d = 50, 3 subspace seeds), to tell the batch's
few-sample regime from the random logit model's assumptions.

    python benchmarks/audit_c6_batch_size.py --sizes 200 1000 2000
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from goldilocks_nb import random_logit as rl
from goldilocks_nb.chapters.random_logit_model import C6_SHARE_MAX, Params, lenet_300_100, load_data

ap = argparse.ArgumentParser()
ap.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
ap.add_argument("--dataset", default="fashion-mnist")
ap.add_argument("--grid", type=float, nargs=3, default=[0.01, 100.0, 17])
a = ap.parse_args()
torch.set_num_threads(1)
for n in a.sizes:
    p = Params(dataset=a.dataset, n_samples=n, alpha_grid=list(a.grid))
    t0 = time.perf_counter()
    ds = load_data(p, torch.device("cpu"))
    model, theta, z = lenet_300_100(p, ds)
    parts = [rl.logit_model_sweep(model, theta, ds.X, alphas=p.alphas, d=p.d, seeds=[s],
                                  temperature=p.temperature) for s in p.seeds]
    dt = time.perf_counter() - t0
    true = np.concatenate([q["true"] for q in parts])
    pred = np.concatenate([q["predicted"] for q in parts])
    share = parts[0]["share"]
    tm, pm = true.mean(0), pred.mean(0)
    gap = np.abs(pm - tm) / np.abs(tm)
    ok = np.isfinite(gap)
    many = ok & (share < C6_SHARE_MAX)
    le1 = ok & (p.alphas <= 1)
    print(f"n={n}: {dt:.0f} s; max gap all {gap[ok].max():.3f}, share<{C6_SHARE_MAX} "
          f"{gap[many].max():.3f} ({many.sum()} alphas), alpha<=1 {gap[le1].max():.3f}, "
          f"median {np.median(gap[ok]):.3f}")
    for al, g, sh, t, q in zip(p.alphas, gap, share, tm, pm):
        print(f"   alpha {al:8.3g}: true {t:6.3f} Eq.8 {q:6.3f} gap {g:6.3f} share {sh:.3g}")
