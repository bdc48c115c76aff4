"""Bad inputs raise a clear ValueError before any computation; overflowing results raise
NonFiniteResultError naming the quantity and the cause."""

from __future__ import annotations

import pytest
import torch

from curvature_cases import DTYPE, Exploding, lenet, tiny_mlp
from goldilocks_nb.curvature import (
    NonFiniteResultError,
    curvature_sweep,
    g_term,
    gauss_newton_split,
    h_term,
    h_term_from_probs,
    hessian_matmat,
    hutchinson_estimates,
    projected_hessian,
    projected_jacobian,
    random_subspace,
    rescaled_split,
    top_eigenpairs,
)
from goldilocks_nb.functional import get_params

P = 18  # Exploding: a 6 -> 3 linear layer


@pytest.fixture
def bad():
    model = Exploding()
    X = torch.randn(5, 6, dtype=DTYPE)
    y = torch.zeros(5, dtype=torch.long)
    R = random_subspace(P, 3, seed=0)
    return model, get_params(model), X, y, R


def test_random_subspace_bad_d():
    with pytest.raises(ValueError, match="exceeds"):
        random_subspace(10, 11, seed=0)
    with pytest.raises(ValueError, match=">= 1"):
        random_subspace(10, 0, seed=0)
    with pytest.raises(ValueError, match="integer"):
        random_subspace(10, 2.5, seed=0)


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, p, X, y, R, **kw: projected_hessian(m, p, X, y, R, **kw),
        lambda m, p, X, y, R, **kw: h_term(m, p, X, y, R, **kw),
        lambda m, p, X, y, R, **kw: gauss_newton_split(m, p, X, y, R, **kw),
        lambda m, p, X, y, R, **kw: g_term(m, p, X, R, **kw),
    ],
    ids=["projected_hessian", "h_term", "gauss_newton_split", "g_term"],
)
def test_projected_functions_validate(bad, fn):
    model, params, X, y, R = bad
    with pytest.raises(ValueError, match="rows"):
        fn(model, params, X, y, random_subspace(P + 1, 3, seed=0))
    with pytest.raises(ValueError, match=r"\(P, d\)"):
        fn(model, params, X, y, R[:, 0])
    with pytest.raises(ValueError, match="orthonormal"):
        fn(model, params, X, y, 2 * R)
    with pytest.raises(ValueError, match="orthonormal"):
        fn(model, params, X, y, torch.ones(P, 2, dtype=DTYPE))
    with pytest.raises(ValueError, match="exceeds"):
        fn(model, params, X, y, torch.zeros(P, P + 1, dtype=DTYPE))
    with pytest.raises(ValueError, match=">= 1"):
        fn(model, params, X, y, torch.zeros(P, 0, dtype=DTYPE))
    with pytest.raises(ValueError, match="empty batch"):
        fn(model, params, X[:0], y[:0], R)
    with pytest.raises(ValueError, match="temperature"):
        fn(model, params, X, y, R, temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        fn(model, params, X, y, R, temperature=-1.0)


@pytest.mark.parametrize("fn", [projected_hessian, h_term, gauss_newton_split])
def test_length_mismatch(bad, fn):
    model, params, X, y, R = bad
    with pytest.raises(ValueError, match="different lengths"):
        fn(model, params, X, y[:4], R)
    with pytest.raises(ValueError, match="integer class"):
        fn(model, params, X, y.double(), R)


def test_projected_jacobian_validates(bad):
    model, params, X, _, R = bad
    with pytest.raises(ValueError, match="empty batch"):
        projected_jacobian(model, params, X[:0], R)
    with pytest.raises(ValueError, match="orthonormal"):
        projected_jacobian(model, params, X, 0.5 * R)


def test_sweep_validates(bad):
    model, params, X, y, R = bad
    with pytest.raises(ValueError, match="alpha"):
        curvature_sweep(model, params, X, y, alphas=(1.0, 0.0), d=3)
    with pytest.raises(ValueError, match="alpha"):
        curvature_sweep(model, params, X, y, alphas=(-2.0,), d=3)
    with pytest.raises(ValueError, match="temperature"):
        curvature_sweep(model, params, X, y, alphas=(1.0,), temperatures=(0.0,), d=3)
    with pytest.raises(ValueError, match="exceeds"):
        curvature_sweep(model, params, X, y, alphas=(1.0,), d=P + 1)
    with pytest.raises(ValueError, match=">= 1"):
        curvature_sweep(model, params, X, y, alphas=(1.0,), d=0)
    with pytest.raises(ValueError, match="pass d"):
        curvature_sweep(model, params, X, y, alphas=(1.0,))
    with pytest.raises(ValueError, match="does not match"):
        curvature_sweep(model, params, X, y, alphas=(1.0,), d=2, R=R)
    with pytest.raises(ValueError, match="orthonormal"):
        curvature_sweep(model, params, X, y, alphas=(1.0,), R=3 * R)
    with pytest.raises(ValueError, match="different lengths"):
        curvature_sweep(model, params, X, y[:2], alphas=(1.0,), d=3)
    with pytest.raises(ValueError, match="empty batch"):
        curvature_sweep(model, params, X[:0], y[:0], alphas=(1.0,), d=3)
    with pytest.raises(ValueError, match="non-empty"):
        curvature_sweep(model, params, X, y, alphas=(), d=3)


def test_hutchinson_and_eigen_validate(bad):
    model, params, X, y, _ = bad
    with pytest.raises(ValueError, match="n_probes"):
        hutchinson_estimates(model, params, X, y, n_probes=1, seed=0)
    with pytest.raises(ValueError, match="temperature"):
        hutchinson_estimates(model, params, X, y, n_probes=4, seed=0, temperature=0)
    with pytest.raises(ValueError, match="empty batch"):
        hutchinson_estimates(model, params, X[:0], y[:0], n_probes=4, seed=0)
    with pytest.raises(ValueError, match=r"unknown layer 'nope'.*fc\.weight"):
        top_eigenpairs(model, params, X, y, layer="nope")
    with pytest.raises(ValueError, match="k must be"):
        top_eigenpairs(model, params, X, y, k=P)
    with pytest.raises(ValueError, match="different lengths"):
        top_eigenpairs(model, params, X, y[:1])


# --- Non-finite inputs, mismatched params, non-finite results (issue 15, point 3) -------

ENTRY_POINTS = {
    "projected_hessian": lambda m, p, X, y, R, **kw: projected_hessian(m, p, X, y, R, **kw),
    "gauss_newton_split": lambda m, p, X, y, R, **kw: gauss_newton_split(m, p, X, y, R, **kw),
    "h_term": lambda m, p, X, y, R, **kw: h_term(m, p, X, y, R, **kw),
    "g_term": lambda m, p, X, y, R, **kw: g_term(m, p, X, R, **kw),
    "projected_jacobian": lambda m, p, X, y, R, **kw: projected_jacobian(m, p, X, R),
    "h_term_from_probs": lambda m, p, X, y, R, **kw: h_term_from_probs(
        m, p, X, y, R, torch.full((X.shape[0], 3), 1 / 3, dtype=DTYPE)
    ),
    "hessian_matmat": lambda m, p, X, y, R, **kw: hessian_matmat(m, p, X, y, R, **kw),
    "hutchinson_estimates": lambda m, p, X, y, R, **kw: hutchinson_estimates(
        m, p, X, y, n_probes=2, seed=0, **kw
    ),
    "top_eigenpairs": lambda m, p, X, y, R, **kw: top_eigenpairs(m, p, X, y, **kw),
    "rescaled_split": lambda m, p, X, y, R, **kw: rescaled_split(
        m, p, X, y, R, [(1.0, kw.get("temperature", 1.0))], degree=1
    ),
    "curvature_sweep": lambda m, p, X, y, R, **kw: curvature_sweep(
        m, p, X, y, alphas=(1.0,), temperatures=(kw.get("temperature", 1.0),), d=3, degree=1
    ),
}
WITH_TEMPERATURE = [k for k in ENTRY_POINTS if k not in ("projected_jacobian", "h_term_from_probs")]


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
@pytest.mark.parametrize(
    ("value", "kind"), [(float("nan"), "NaN"), (float("inf"), "inf"), (-float("inf"), "inf")]
)
def test_non_finite_X_is_refused_before_any_compute(bad, name, value, kind):
    model, params, X, y, R = bad
    X = X.clone()
    X[3, 2] = value
    with pytest.raises(ValueError, match=rf"^X has 1 non-finite value \({kind}\) at sample 3$"):
        ENTRY_POINTS[name](model, params, X, y, R)


def test_non_finite_X_message_counts_kinds_and_samples(bad):
    model, params, X, y, R = bad
    X = X.clone()
    X[1, 0], X[1, 1], X[4, 5] = float("nan"), float("inf"), float("nan")
    msg = r"X has 3 non-finite values \(2 NaN and 1 inf\) in 2 samples, the first at sample 1"
    with pytest.raises(ValueError, match=msg):
        projected_hessian(model, params, X, y, R)


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_non_finite_params_are_refused_before_any_compute(bad, name):
    model, params, X, y, R = bad
    broken = {"fc.weight": params["fc.weight"].clone()}
    broken["fc.weight"][2, 4] = float("inf")
    with pytest.raises(ValueError, match=r"params\['fc.weight'\] has 1 non-finite value \(inf\)"):
        ENTRY_POINTS[name](model, broken, X, y, R)


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_params_that_do_not_match_the_model_are_named(bad, name):
    model, params, X, y, R = bad
    fn = ENTRY_POINTS[name]
    with pytest.raises(ValueError, match=r"params does not match Exploding's .*missing fc\.weight"):
        fn(model, {"other": params["fc.weight"]}, X, y, R)
    with pytest.raises(ValueError, match=r"extra fc2\.weight"):
        fn(model, {**params, "fc2.weight": params["fc.weight"]}, X, y, R)
    with pytest.raises(ValueError, match=r"params\['fc.weight'\] has shape \(3, 5\), but"):
        fn(model, {"fc.weight": params["fc.weight"][:, :5]}, X, y, R)
    with pytest.raises(ValueError, match="non-empty dict"):
        fn(model, {}, X, y, R)


@pytest.mark.parametrize("name", ["lenet-5", "lenet-300-100"])
def test_lenets_refuse_nan_inputs_and_incomplete_params(name):
    """The issue's cases: a NaN matrix (LeNet-5), an 'atol ... -nan' crash (LeNet-300-100),
    and a params dict missing a tensor blamed on R; the first layer is dropped."""
    case = lenet(name, n=4)
    R = random_subspace(case.num_params, 2, seed=0)
    X = case.X.clone()
    X[0].view(-1)[7] = float("nan")
    with pytest.raises(ValueError, match=r"X has 1 non-finite value \(NaN\) at sample 0"):
        projected_hessian(case.model, case.params, X, case.y, R)
    with pytest.raises(ValueError, match=r"X has 1 non-finite value \(NaN\) at sample 0"):
        hutchinson_estimates(case.model, case.params, X, case.y, n_probes=2, seed=0)
    first = next(iter(case.params))
    rest = {k: v for k, v in case.params.items() if k != first}
    with pytest.raises(ValueError, match=rf"missing {first}") as info:
        projected_hessian(case.model, rest, case.X, case.y, R)
    assert "R has" not in str(info.value)


def test_non_finite_directions_are_named(bad):
    model, params, X, y, R = bad
    R = R.clone()
    R[4, 1] = float("nan")
    with pytest.raises(ValueError, match=r"R has 1 non-finite value \(NaN\) at row 4"):
        projected_hessian(model, params, X, y, R)
    V = torch.ones(P, 2, dtype=DTYPE)
    V[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"V has 1 non-finite value \(inf\) at row 0"):
        hessian_matmat(model, params, X, y, V)
    with pytest.raises(ValueError, match=r"V has 19 rows but the model has P=18"):
        hessian_matmat(model, params, X, y, torch.ones(P + 1, 2, dtype=DTYPE))


def test_non_finite_probs_are_named(bad):
    model, params, X, y, R = bad
    probs = torch.full((5, 3), 1 / 3, dtype=DTYPE)
    probs[2, 1] = float("nan")
    with pytest.raises(ValueError, match=r"probs has 1 non-finite value \(NaN\)"):
        h_term_from_probs(model, params, X, y, R, probs)
    with pytest.raises(ValueError, match=r"probs must be \(N, K\)"):
        h_term_from_probs(model, params, X, y, R, probs[:4])


@pytest.mark.parametrize("name", WITH_TEMPERATURE)
@pytest.mark.parametrize("T", [0.0, -1.0, float("nan"), float("inf")])
def test_temperature_must_be_finite_and_positive(bad, name, T):
    model, params, X, y, R = bad
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        ENTRY_POINTS[name](model, params, X, y, R, temperature=T)


# --- Results that leave the floating-point range -----------------------------------------


@pytest.fixture(scope="module")
def mlp():
    case = tiny_mlp(n=6)
    return case, random_subspace(case.num_params, 3, seed=0)


def _mlp_entry_points(case, R):
    V = torch.ones(case.num_params, 2, dtype=DTYPE)
    args = (case.model, case.params, case.X, case.y)
    return {
        "projected_hessian": lambda T: projected_hessian(*args, R, temperature=T),
        "gauss_newton_split": lambda T: gauss_newton_split(*args, R, temperature=T),
        "h_term": lambda T: h_term(*args, R, temperature=T),
        "g_term": lambda T: g_term(case.model, case.params, case.X, R, temperature=T),
        "hessian_matmat": lambda T: hessian_matmat(*args, V, temperature=T),
        "hutchinson_estimates": lambda T: hutchinson_estimates(
            *args, n_probes=2, seed=0, temperature=T
        ),
        "top_eigenpairs": lambda T: top_eigenpairs(*args, temperature=T),
        "rescaled_split": lambda T: rescaled_split(*args, R, [(1.0, T)]),
        "curvature_sweep": lambda T: curvature_sweep(*args, alphas=(1.0,), temperatures=(T,), d=3),
    }


@pytest.mark.parametrize("name", WITH_TEMPERATURE)
def test_softmax_overflow_is_an_error_naming_z_over_T(mlp, name):
    case, R = mlp
    with pytest.raises(NonFiniteResultError, match=r"softmax input .*z / T.* overflows float64"):
        _mlp_entry_points(case, R)[name](1e-320)


def test_g_term_factor_overflow_names_the_temperature(mlp):
    """T = 1e-300: z / T is finite, but the G-term's 1/T^2 = 1e600 is not."""
    case, R = mlp
    eps = _mlp_entry_points(case, R)
    for name in ("projected_hessian", "g_term", "gauss_newton_split"):
        with pytest.raises(NonFiniteResultError, match=r"G-term.*1/T\^2 = 10\^600 at T = 1e-300"):
            eps[name](1e-300)
    with pytest.raises(NonFiniteResultError, match=r"alpha\^\(2L-2\) / T\^2 = 10\^600"):
        eps["rescaled_split"](1e-300)
    # The H-term alone scales as 1/T: still representable, and returned.
    assert torch.isfinite(eps["h_term"](1e-300)).all()


def test_hutchinson_norm_overflow_is_named(mlp):
    case, R = mlp
    with pytest.raises(NonFiniteResultError, match="Hutchinson estimate frobenius_sq"):
        _mlp_entry_points(case, R)["hutchinson_estimates"](1e-300)


def test_logit_overflow_and_huge_alpha_are_named(mlp):
    case, R = mlp
    huge = {k: v * 1e200 for k, v in case.params.items()}
    with pytest.raises(NonFiniteResultError, match=r"logits z = f\(X\) at params overflowed"):
        projected_hessian(case.model, huge, case.X, case.y, R)
    with pytest.raises(NonFiniteResultError, match=r"logits z = f\(X\) at params overflowed"):
        hessian_matmat(case.model, huge, case.X, case.y, R)
    with pytest.raises(NonFiniteResultError, match=r"alpha\^L z / T \(alpha = 1e\+120"):
        curvature_sweep(case.model, case.params, case.X, case.y, alphas=(1.0, 1e120), d=3)


def test_non_finite_result_error_is_a_value_and_overflow_error():
    assert issubclass(NonFiniteResultError, ValueError)
    assert issubclass(NonFiniteResultError, OverflowError)


def test_finite_values_whose_sum_overflows_are_accepted_and_narrowing_is_checked(bad):
    from goldilocks_nb.functional import check_finite

    check_finite("X", torch.full((3, 2), 1e308, dtype=DTYPE), unit="sample")  # sum is inf
    model, params, X, y, R = bad
    huge = {"fc.weight": torch.full_like(params["fc.weight"], 1e300)}
    with pytest.raises(ValueError, match=r"params\['fc.weight'\] \(after conversion to float32\) "
                                         r"has 18 non-finite values \(18 inf\)"):
        g_term(model, huge, X, R.float())
