"""Chapter 00, the setting: the two homogeneous models, the data, homogeneity checked.

No claim of the paper is tested here; the chapter checks the identity every later chapter
rests on, :math:`f_{\\alpha\\theta}(x) = \\alpha^L f_\\theta(x)`, on real images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

import torch

from ..contract import ChapterParams, params_dataclass
from ..data import DATASETS, Dataset, load_dataset
from ..functional import get_params, homogeneity_deviation, logits, scale_params
from ..models import build_model

__all__ = ["MODELS", "Params", "describe_alphas", "homogeneity_table", "load_data", "logit_norms"]

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
