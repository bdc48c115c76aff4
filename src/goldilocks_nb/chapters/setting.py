"""Chapter 00, the setting: the two homogeneous models, the data, homogeneity checked.

No claim of the paper is tested here; the chapter checks the identity every later chapter
rests on, :math:`f_{\\alpha\\theta}(x) = \\alpha^L f_\\theta(x)`, on real images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import field
from typing import Any

import torch

from ..contract import ChapterParams, params_dataclass
from ..data import DATASETS, Dataset, load_dataset
from ..functional import get_params, homogeneity_deviation, logits, scale_params
from ..models import build_model, num_parameters

__all__ = ["DEVIATION_FLOOR", "MODELS", "Params", "Results", "describe_alphas",
           "homogeneity_table", "load_data", "logit_norms", "plot_homogeneity", "run"]

#: The book's two models, each paired with its dataset (``Params.datasets``) in this order.
MODELS = ("lenet-300-100", "lenet-5")


@params_dataclass
class Params(ChapterParams):
    """Parameters of chapter 00 (defaults: the smoke profile).

    Attributes:
        datasets: one dataset per model of :data:`MODELS`, same order.
        n_samples: class-balanced training images per dataset.
        alphas: scales at which homogeneity is checked.
        tolerance: largest relative deviation that counts as rounding (float64).
        seed: data subset and initialisation seed.
    """

    notebook = "00_setting"
    datasets: list[str] = field(default_factory=lambda: ["fashion-mnist-embedded",
                                                         "cifar10-embedded"])
    n_samples: int = 64
    alphas: list[float] = field(default_factory=lambda: [1e-3, 1e-2, 0.1, 10.0, 100.0, 1000.0])
    tolerance: float = 1e-13
    seed: int = 0

    def check(self) -> None:
        self.require(len(self.datasets) == len(MODELS), "datasets", self.datasets,
                     f"{len(MODELS)} names, one per model {MODELS}")
        self.require_in("datasets", self.datasets, DATASETS)
        self.require_at_least("n_samples", self.n_samples, 10)
        self.require(len(self.alphas) > 0, "alphas", self.alphas, "a non-empty list")
        self.require_positive("alphas", self.alphas)
        self.require_positive("tolerance", self.tolerance)
        self.require_at_least("seed", self.seed, 0)


def load_data(params: Params, device: torch.device) -> dict[str, Dataset]:
    """The float64 training subset of each model's dataset."""
    return {m: load_dataset(ds, n=params.n_samples, seed=params.seed, dtype=torch.float64,
                            device=device)
            for m, ds in zip(MODELS, params.datasets)}


def homogeneity_table(params: Params, data: dict[str, Dataset]) -> dict[str, dict]:
    """Per model: the model, its max relative deviation per alpha, and the check.

    Returns ``{model: {"model", "deviation" (list over params.alphas), "worst", "holds"}}``,
    where ``holds`` is ``worst < params.tolerance``.
    """
    out = {}
    for name, ds in data.items():
        net = build_model(name, seed=params.seed, input_shape=ds.input_shape,
                          dtype=ds.X.dtype, device=ds.X.device)
        dev = homogeneity_deviation(net, get_params(net), ds.X, params.alphas, net.degree)
        worst = max(dev)
        out[name] = {"model": net, "deviation": list(dev), "worst": worst,
                     "holds": bool(worst < params.tolerance)}
    return out


def describe_alphas(alphas: Sequence[float]) -> str:
    """``"[0.001, 1000]"``: the range of the checked scales."""
    return f"[{min(alphas):g}, {max(alphas):g}]"


def logit_norms(model: torch.nn.Module, X: torch.Tensor, alphas: Sequence[float]) -> list[float]:
    """``||f_{alpha theta}(X)||_F`` for each alpha (grows as alpha^L), via functional_call."""
    theta = get_params(model)
    return [float(torch.linalg.norm(logits(model, scale_params(theta, a), X))) for a in alphas]


# ---- the chapter: run, printed lines, plots (no claim of the paper is judged here)
@dataclasses.dataclass
class Results:
    """Everything chapter 00 computes (the output of :func:`run`).

    Attributes:
        params: the parameters as run; device: where it ran; dirs: the results folders.
        data: :func:`load_data`; homogeneity: :func:`homogeneity_table`;
        norms: per model, :func:`logit_norms` over ``params.alphas``.
    """

    params: Params
    device: torch.device
    dirs: dict[str, Any]
    data: dict[str, Dataset]
    homogeneity: dict[str, dict]
    norms: dict[str, list[float]]

    @property
    def models(self) -> dict[str, torch.nn.Module]:
        """The two networks at their Kaiming initialisation, by name."""
        return {name: row["model"] for name, row in self.homogeneity.items()}

    def header(self) -> str:
        """Profile and device (not compared: the device differs between machines)."""
        return f"profile={self.params.profile}, device={self.device.type}"

    def data_lines(self) -> str:
        """Per model: its data source, the input shape, mean, std and class counts."""
        out = []
        for model_name, ds in self.data.items():
            out.append(f"{model_name:14s} <- {ds.source}")
            out.append(f"{'':14s}    X {tuple(ds.X.shape)}, mean {ds.X.mean():+.3f}, std "
                       f"{ds.X.std():.3f}, labels per class {torch.bincount(ds.y.cpu()).tolist()}")
        return "\n".join(out)

    def model_lines(self) -> str:
        """Per model: the parameter count ``P``, the degree ``L`` and the layer shapes."""
        out = []
        for model_name, m in self.models.items():
            shapes = ", ".join(f"{n} {tuple(p.shape)}" for n, p in m.named_parameters())
            out.append(f"{model_name}: P = {num_parameters(m):,}, degree L = {m.degree}\n"
                       f"    {shapes}")
        return "\n".join(out)

    def homogeneity_lines(self) -> str:
        """Per model: whether the largest relative deviation is below ``tolerance``."""
        p = self.params
        return "\n".join(
            f"{model_name}: max relative deviation over alpha in {describe_alphas(p.alphas)} "
            f"is below {p.tolerance:g}: {row['holds']}"
            for model_name, row in self.homogeneity.items())


def run(params: Params) -> Results:
    """Load the data, build both models, check homogeneity and measure the logit norms."""
    from ..notebook import output_dirs, resolve_device

    dev = resolve_device(params.device)
    dirs = output_dirs(params.results_dir)
    data = load_data(params, dev)
    table = homogeneity_table(params, data)
    norms = {name: logit_norms(row["model"], data[name].X, params.alphas)
             for name, row in table.items()}
    return Results(params=params, device=dev, dirs=dirs, data=data, homogeneity=table,
                   norms=norms)


#: Deviations are drawn no lower than this on the log axis (exact zeros happen at alpha = 1).
DEVIATION_FLOOR = 1e-18


def plot_homogeneity(res: Results) -> Any:
    """Logit norms against alpha (slope L on log-log axes) and the homogeneity deviation."""
    import matplotlib.pyplot as plt
    import numpy as np

    from ..results import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for model_name, m in res.models.items():
        axes[0].loglog(res.params.alphas, res.norms[model_name], "o-",
                       label=f"{model_name} (L={m.degree})")
        axes[1].loglog(res.params.alphas, np.maximum(res.homogeneity[model_name]["deviation"],
                                                     DEVIATION_FLOOR), "o-", label=model_name)
    axes[0].set(xlabel=r"initialisation scale $\alpha$", ylabel=r"$\|f_{\alpha\theta}(X)\|_F$",
                title=r"logits grow as $\alpha^L$")
    axes[1].set(xlabel=r"initialisation scale $\alpha$",
                ylabel=r"max $|f_{\alpha\theta} - \alpha^L f_\theta| / |\alpha^L f_\theta|$",
                title="homogeneity holds to float64 rounding")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle(f"data: {res.data['lenet-300-100'].source.split(',')[0]} / "
                 f"{res.data['lenet-5'].source.split(',')[0]}", fontsize=8)
    fig.tight_layout()
    save_figure(fig, "00_homogeneity", res.dirs["figures"])
    return fig
