"""goldilocks_nb: the tested package behind the Goldilocks-zone companion book.

Modules: :mod:`~goldilocks_nb.data` (datasets), :mod:`~goldilocks_nb.models` (homogeneous
networks), :mod:`~goldilocks_nb.functional` (parameters as dicts, logits, loss),
:mod:`~goldilocks_nb.curvature` (projected Hessian, Gauss-Newton split, Hutchinson,
Gamma_p), :mod:`~goldilocks_nb.results` (claim results, figures, on-disk cache),
:mod:`~goldilocks_nb.notebook` (parameter checks and set-up shared by the chapters).
"""

__version__ = "0.1.0"
