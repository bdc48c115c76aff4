"""C13 resolution: how R^2 of Figure 5b's line changes with the subset size and the number of
priors (chapter 02's default pool), to tell our scale from the phenomenon.

For each prior seed, the same priors are swept at several subset sizes n; per n the R^2 of
the gradient norm on ||Qhat - Q|| and of Eq. 9's norm (measured c_k, no subset noise).
1/R^2 - 1 is fitted linearly in 1/n (scatter = a systematic part + sampling noise ~ 1/n)
and extrapolated to the paper's n = 5,000. Usage (times printed):

    python benchmarks/audit_c13_resolution.py --pool 5000 --priors 30 --sizes 50 100 200 500
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from goldilocks_nb.chapters.random_logit_model import Params, lenet5, load_cifar
from goldilocks_nb.data import sample_simplex
from goldilocks_nb.gradient_alignment import class_mean_gradients, fit_line, prior_sweep

ap = argparse.ArgumentParser()
ap.add_argument("--pool", type=int, default=5000)
ap.add_argument("--priors", type=int, default=30, help="per prior seed")
ap.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 500])
ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
ap.add_argument("--dataset", default="cifar10")
ap.add_argument("--out", default="")
a = ap.parse_args()
torch.set_num_threads(1)
p = Params(cifar_dataset=a.dataset, prior_pool=a.pool, prior_subset_size=min(a.sizes),
           lenet5_dtype="float32")
pool = load_cifar(p, a.pool, torch.device("cpu"))
model, theta = lenet5(p, p.model_seed, pool)
t0 = time.perf_counter()
C = class_mean_gradients(model, theta, pool.X)
t_c = time.perf_counter() - t0
print(f"class means on {a.pool} images: {t_c:.1f} s; P sigma_c^2 = "
      f"{C.double().pow(2).sum().item() / C.shape[0]:.4g}", flush=True)
rows = {}
for s in a.seeds:
    priors = sample_simplex(a.priors, 10, seed=s)
    for n in a.sizes:
        t0 = time.perf_counter()
        r = prior_sweep(model, theta, pool, priors, subset_size=n, seed=s * 1_000_003, C=C)
        dt = time.perf_counter() - t0
        f, f9 = fit_line(r["dist"], r["grad_norm"]), fit_line(r["dist"], r["eq9_norm"])
        rows[(s, n)] = {"r2": f["r2"], "r2_eq9": f9["r2"], "slope": f["slope"],
                        "intercept": f["intercept"], "seconds": dt}
        print(f"seed {s} n {n:5d}: R^2 {f['r2']:.3f} (Eq. 9 {f9['r2']:.3f}), slope "
              f"{f['slope']:.3g}, intercept {f['intercept']:.3g}; {dt:.1f} s "
              f"({dt / a.priors:.3f} s/prior)", flush=True)
print("extrapolation of 1/R^2 - 1 = u + v / n to n = 5000, per seed:")
out = {}
for s in a.seeds:
    x = np.array([1 / n for n in a.sizes])
    y = np.array([1 / rows[(s, n)]["r2"] - 1 for n in a.sizes])
    v, u = np.polyfit(x, y, 1)
    r2_5000 = 1 / (1 + u + v / 5000)
    r2_inf = 1 / (1 + max(u, 0))
    out[s] = {"u": u, "v": v, "r2_5000": r2_5000, "r2_inf": r2_inf}
    print(f"seed {s}: u {u:.3f}, v {v:.1f}: R^2 at n=5000 {r2_5000:.3f}, n->inf {r2_inf:.3f}")
if a.out:
    json.dump({"rows": {f"{s}:{n}": v for (s, n), v in rows.items()}, "extrap": out,
               "class_means_s": t_c}, open(a.out, "w"), indent=1)
