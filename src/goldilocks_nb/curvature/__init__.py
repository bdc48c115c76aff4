"""Curvature of the loss at explicit parameters: the engine behind Sections 2-3 and App. F.

One module per mathematical object:

- :mod:`.subspace`: sparse random orthonormal bases ``R`` (Section 2).
- :mod:`.jacobian`: projected logit Jacobian ``J R`` (forward mode).
- :mod:`.hessian`: projected loss Hessian ``R^T H R`` and Hessian-vector products.
- :mod:`.gauss_newton`: G-term and H-term of the Gauss-Newton decomposition (Eq. 4).
- :mod:`.metrics`: positive curvature ``Tr / ||.||_F`` (Eq. 2), local convexity,
  spectral norm.
- :mod:`.hutchinson`: full-space Hutchinson estimates (App. F).
- :mod:`.eigen`: top eigenpairs by Lanczos on HVPs.
- :mod:`.sweep`: ``(alpha, T)`` sweeps through the rescaling law (Eq. 5).
- :mod:`.gamma`: ``Gamma_p`` and the random logit model (Section 4).
- :mod:`.collapsed`: the G-/H-term over many images past the softmax collapse (exact
  split: one shared pass plus the near-tie images), at nested sample sizes.
- :mod:`.reference`: dense brute-force versions for tests.

All functions are pure in ``(model, params, batch, ...)``: the model is never written to.
Each public function validates its inputs once, before any heavy computation (the one
preparation step, ``_checks.prepare``: bad input raises ``ValueError`` naming the
argument, including NaN / inf in ``X`` or ``params`` and a ``params`` dict that does not
match the model), and a result that overflows raises :class:`NonFiniteResultError`
naming the quantity; the positive curvature of an exactly zero matrix is ``nan``
(:data:`.metrics.UNDEFINED`, the one convention, see :mod:`.metrics`).
"""

import warnings

with warnings.catch_warnings():
    # torch's forward-mode AD loads its jvp decompositions through the deprecated
    # torch.jit.script on first use, warning once (FutureWarning) into every notebook and
    # test output. Load them here, quietly; the behaviour is unchanged.
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
    import torch._decomp.decompositions_for_jvp  # noqa: F401

from ._checks import NonFiniteResultError  # noqa: E402
from .collapsed import (  # noqa: E402
    COLLAPSE_TOL,
    CollapsedSplit,
    collapsed_split,
    nested_order,
    off_max_mass,
    top2_gap,
)
from .eigen import top_eigenpairs  # noqa: E402
from .gamma import expected_g_curvature, gamma_p, logit_gradient_stats  # noqa: E402
from .gauss_newton import (  # noqa: E402
    g_term,
    gauss_newton_from_jacobian,
    gauss_newton_split,
    h_term,
    h_term_from_probs,
)
from .hessian import hessian_matmat, projected_hessian  # noqa: E402
from .hutchinson import hutchinson_estimates  # noqa: E402
from .jacobian import projected_jacobian  # noqa: E402
from .metrics import curvature_metrics, local_convexity, positive_curvature, spectral_norm  # noqa: E402
from .subspace import random_subspace  # noqa: E402
from .sweep import curvature_sweep, rescaled_split  # noqa: E402

__all__ = [
    "COLLAPSE_TOL",
    "CollapsedSplit",
    "NonFiniteResultError",
    "collapsed_split",
    "curvature_metrics",
    "curvature_sweep",
    "expected_g_curvature",
    "g_term",
    "gamma_p",
    "gauss_newton_from_jacobian",
    "gauss_newton_split",
    "h_term",
    "h_term_from_probs",
    "hessian_matmat",
    "hutchinson_estimates",
    "local_convexity",
    "logit_gradient_stats",
    "nested_order",
    "off_max_mass",
    "positive_curvature",
    "projected_hessian",
    "projected_jacobian",
    "random_subspace",
    "rescaled_split",
    "spectral_norm",
    "top2_gap",
    "top_eigenpairs",
]
