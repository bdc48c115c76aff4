"""One module per chapter of the book: declared parameters, computations, verdicts.

``CHAPTERS`` maps each notebook (file name without ``.ipynb``) to its module; the book
runner uses :func:`params_class` to check a profile before executing anything.
"""

from __future__ import annotations

import importlib

from ..contract import ChapterParams

__all__ = ["CHAPTERS", "params_class"]

CHAPTERS: dict[str, str] = {
    "00_setting": "goldilocks_nb.chapters.setting",
    "01_rescaling_symmetry": "goldilocks_nb.chapters.rescaling_symmetry",
    "02_random_logit_model": "goldilocks_nb.chapters.random_logit_model",
    "03_gamma_p": "goldilocks_nb.chapters.gamma_p",
    "04_optimization_regimes": "goldilocks_nb.chapters.optimization_regimes",
    "05_bulk_and_outliers": "goldilocks_nb.chapters.bulk_and_outliers",
    "06_sgd_outlier_eigenspaces": "goldilocks_nb.chapters.sgd_outlier_eigenspaces",
}


def params_class(notebook: str) -> type[ChapterParams]:
    """The declared ``Params`` of a chapter notebook (``KeyError`` naming the known ones)."""
    if notebook not in CHAPTERS:
        raise KeyError(f"no chapter module declared for notebook {notebook!r}; "
                       f"known: {', '.join(CHAPTERS)}")
    cls = importlib.import_module(CHAPTERS[notebook]).Params
    if cls.notebook != notebook:
        raise RuntimeError(f"{CHAPTERS[notebook]}.Params.notebook is {cls.notebook!r}, "
                           f"expected {notebook!r}")
    return cls
