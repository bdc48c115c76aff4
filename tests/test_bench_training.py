"""The building blocks of benchmarks/bench_training.py compute the engine's gradient descent.

The plain ``torch.nn`` loop and the loop in the style of the authors' ``trainability.py``
must follow the engine's trajectory (float64, to rounding) on a tiny MLP and a tiny LeNet-5,
and the authors'-style log must read the engine's logged values; the final-loss check must
be able to fail.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

from goldilocks_nb.models import build_model

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_training",
                                               ROOT / "benchmarks" / "bench_training.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("bench_training", bench)
_spec.loader.exec_module(bench)

CPU = torch.device("cpu")
F64 = torch.float64


def _data(n: int, shape: tuple[int, ...], k: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, *shape, generator=gen, dtype=F64)
    y = torch.arange(n) % k
    return X, y


@pytest.fixture(scope="module")
def mlp_case():
    X, y = _data(40, (1, 4, 4), 3, 0)
    Xt, yt = _data(30, (1, 4, 4), 3, 1)
    kw = dict(input_shape=(1, 4, 4), num_classes=3, widths=[8, 6])
    make = bench.kaiming_factory("mlp", 0, F64, CPU, **kw)
    return make, build_model("mlp", **kw), X, y, Xt, yt


ALPHAS, ETA0S, STEPS = [0.5, 2.0], [0.1, 0.4], 9


def test_grid_order_is_the_engines(mlp_case):
    _, model, X, y, _, _ = mlp_case
    res = bench.train_grid(bench.GridSpec.of(model, (X, y), None, alphas=ALPHAS, eta0s=ETA0S,
                                             steps=1, sharpness_steps=(), dtype=F64, device="cpu",
                                             progress=False))
    assert list(zip(res.runs["alpha"], res.runs["eta0"])) == bench.grid_configs(ALPHAS, ETA0S)


def test_three_implementations_reach_the_same_final_loss(mlp_case):
    make, model, X, y, Xt, yt = mlp_case
    configs = bench.grid_configs(ALPHAS, ETA0S)
    e = bench.engine_runs(model, X, y, ALPHAS, ETA0S, STEPS, dtype=F64, device=CPU)
    p = bench.plain_loop(make, X, y, configs, STEPS)
    a = bench.authors_style_loop(make, X, y, Xt, yt, configs, STEPS, log_every=4)
    assert len(e.final_loss) == len(p.final_loss) == len(a.final_loss) == 4
    assert bench.max_relative_difference(p.final_loss, e.final_loss) < 1e-12
    assert bench.max_relative_difference(a.final_loss, e.final_loss) < 1e-12
    # the runs moved: the final losses differ from the initial ones and from each other
    e0 = bench.engine_runs(model, X, y, ALPHAS, ETA0S, 1, dtype=F64, device=CPU)
    assert bench.max_relative_difference(e.final_loss, e0.final_loss) > 1e-3
    assert len({round(v, 6) for v in e.final_loss}) == 4


def test_authors_style_log_reads_the_engines_values(mlp_case):
    make, model, X, y, Xt, yt = mlp_case
    configs = bench.grid_configs(ALPHAS, ETA0S)
    e = bench.engine_runs(model, X, y, ALPHAS, ETA0S, STEPS, dtype=F64, device=CPU,
                          test=(Xt, yt), log_every=4)
    a = bench.authors_style_loop(make, X, y, Xt, yt, configs, STEPS, log_every=4)
    assert [(r["run"], r["step"]) for r in a.rows] == [
        (r, s) for r in range(4) for s in (0, 4, 8, STEPS)]
    eng = {(r["run"], r["step"]): r for r in e.rows}
    for row in a.rows:
        ref = eng[(row["run"], row["step"])]
        for col in ("train_loss", "grad_norm"):
            assert row[col] == pytest.approx(ref[col], rel=1e-12, abs=1e-14), col
        # the authors average accuracies in float32
        assert row["train_acc"] == pytest.approx(ref["train_acc"], abs=1e-7)
        if row["step"] == 0:  # the authors log the held-out split after the update
            assert row["test_loss"] != pytest.approx(ref["test_loss"], rel=1e-6)
    # held-out values after the update at step t are the engine's at step t + 1
    checked = 0
    for row in a.rows:
        later = eng.get((row["run"], row["step"] + 1))
        if later is not None:
            assert row["test_loss"] == pytest.approx(later["test_loss"], rel=1e-12)
            assert row["test_acc"] == pytest.approx(later["test_acc"], abs=1e-15)
            checked += 1
    assert checked == 4  # step 8 of every run (the engine logs at 0, 4, 8, 9)


def test_loops_follow_the_engine_on_a_tiny_lenet5():
    X, y = _data(12, (1, 16, 16), 10, 2)
    make = bench.kaiming_factory("lenet-5", 0, F64, CPU, input_shape=(1, 16, 16))
    model = build_model("lenet-5", input_shape=(1, 16, 16))
    alphas, eta0s, steps = [0.8, 1.2], [0.05], 4
    configs = bench.grid_configs(alphas, eta0s)
    e = bench.engine_runs(model, X, y, alphas, eta0s, steps, dtype=F64, device=CPU)
    p = bench.plain_loop(make, X, y, configs, steps)
    a = bench.authors_style_loop(make, X, y, X, y, configs, steps, log_every=steps)
    assert bench.max_relative_difference(p.final_loss, e.final_loss) < 1e-12
    assert bench.max_relative_difference(a.final_loss, e.final_loss) < 1e-12


def test_the_check_detects_another_gradient_descent(mlp_case):
    """A loop with a 10 % larger rate is outside the float64 rounding tolerance."""
    make, model, X, y, _, _ = mlp_case
    e = bench.engine_runs(model, X, y, ALPHAS, ETA0S, STEPS, dtype=F64, device=CPU)
    other = bench.plain_loop(make, X, y, bench.grid_configs(ALPHAS, [1.1 * v for v in ETA0S]),
                             STEPS)
    assert bench.max_relative_difference(other.final_loss, e.final_loss) > \
        bench.ROUNDING_RTOL[F64]


def test_max_relative_difference_branches():
    assert bench.max_relative_difference([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert bench.max_relative_difference([1.0, 2.2], [1.0, 2.0]) == pytest.approx(0.1)
    assert bench.max_relative_difference([1.0], [1.0, 2.0]) == math.inf
    assert bench.max_relative_difference([], []) == math.inf
    assert bench.max_relative_difference([float("nan")], [1.0]) == math.inf


def test_loops_do_not_touch_the_factory_models(mlp_case):
    make, _, X, y, Xt, yt = mlp_case
    before = [p.clone() for p in make().parameters()]
    bench.plain_loop(make, X, y, [(2.0, 0.3)], 3)
    bench.authors_style_loop(make, X, y, Xt, yt, [(2.0, 0.3)], 3, 2)
    for p, q in zip(make().parameters(), before):
        assert torch.equal(p.detach(), q)


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--log-every", "0"], ["--alphas", "1,-2"],
                                  ["--eta0s", ""]])
def test_bad_arguments_are_refused(argv):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)


def test_quick_arguments():
    args = bench.parse_args(["--quick"])
    assert (args.n, args.steps, args.log_every) == (100, 4, 2)
    assert args.dtype == "float32" and args.alphas == [0.5, 1.0]
