"""Models: parameter counts, homogeneity f(alpha theta) = alpha^L f(theta), no mutation."""

import pytest
import torch

from goldilocks_nb.contract import ParameterError
from goldilocks_nb.functional import (
    flatten_params,
    get_params,
    homogeneity_deviation,
    logits,
    scale_params,
    unflatten_params,
)
from goldilocks_nb.models import (
    build_model,
    check_subspace_dimension,
    homogeneity_degree,
    num_parameters,
)

ALPHAS = [1e-3, 1e-2, 0.3, 1.0, 7.0, 1e2, 1e3]
CASES = [("lenet-300-100", (1, 28, 28), 3, 266_200), ("lenet-5", (3, 32, 32), 5, 61_770)]


@pytest.mark.parametrize("name,shape,degree,count", CASES)
def test_parameter_counts_and_degree(name, shape, degree, count):
    model = build_model(name, input_shape=shape)
    assert num_parameters(model) == count
    assert homogeneity_degree(model) == degree
    assert all(not hasattr(m, "bias") or m.bias is None for m in model.modules())


@pytest.mark.parametrize("name,shape,degree,count", CASES)
def test_homogeneity_float64(name, shape, degree, count):
    model = build_model(name, seed=1, input_shape=shape, dtype=torch.float64)
    X = torch.randn(8, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    params = get_params(model)
    dev = homogeneity_deviation(model, params, X, ALPHAS, degree)
    assert max(dev) < 1e-12
    # and the identity is not trivially satisfied: a wrong degree is far off
    wrong = homogeneity_deviation(model, params, X, [10.0], degree - 1)
    assert wrong[0] > 0.5


def test_kaiming_init_is_seeded_and_scaled():
    a = flatten_params(get_params(build_model("lenet-300-100", seed=3)))
    b = flatten_params(get_params(build_model("lenet-300-100", seed=3)))
    c = flatten_params(get_params(build_model("lenet-300-100", seed=4)))
    assert torch.equal(a, b) and not torch.equal(a, c)
    w = build_model("lenet-300-100", seed=0).layers[0].weight
    assert abs(w.std().item() - (2 / 784) ** 0.5) < 0.002  # Kaiming normal, fan-in, ReLU gain


def test_functional_call_does_not_mutate_model():
    model = build_model("mlp", input_shape=(5,), widths=[4], dtype=torch.float64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = get_params(model)
    logits(model, scale_params(params, 10.0), torch.randn(3, 5, dtype=torch.float64))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_flatten_roundtrip_and_order():
    model = build_model("lenet-5")
    params = get_params(model)
    flat = flatten_params(params)
    assert flat.numel() == num_parameters(model)
    back = unflatten_params(flat, params)
    assert list(back) == [n for n, _ in model.named_parameters()]
    assert all(torch.equal(back[k], params[k]) for k in params)
    with pytest.raises(ValueError, match="expected a vector"):
        unflatten_params(flat[:-1], params)


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_alpha(alpha):
    params = get_params(build_model("mlp", input_shape=(3,), widths=[2]))
    with pytest.raises(ValueError, match="alpha must be"):
        scale_params(params, alpha)


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet")


_DIGEST = """
import hashlib, torch
from goldilocks_nb.models import build_model
h = hashlib.sha256()
for name, shape in (("lenet-300-100", (1, 28, 28)), ("lenet-5", (3, 32, 32))):
    for dtype in (torch.float32, torch.float64):
        for p in build_model(name, seed=7, input_shape=shape, dtype=dtype).parameters():
            h.update(p.detach().numpy().tobytes())
print(h.hexdigest())
"""


def test_initial_weights_bit_identical_on_every_cpu_code_path():
    """The same seed gives the same bytes under ``ATEN_CPU_CAPABILITY=default`` (no
    vectorised kernels) and the machine's default path (torch's own ``normal_`` did not:
    36 % of LeNet-300-100's float64 entries moved)."""
    import os
    import subprocess
    import sys

    digests = {}
    for setting in (None, "default"):
        env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
        if setting:
            env["ATEN_CPU_CAPABILITY"] = setting
        out = subprocess.run([sys.executable, "-c", _DIGEST], env=env, capture_output=True,
                             text=True, check=True)
        digests[setting] = out.stdout.strip()
    assert len(digests[None]) == 64 and digests[None] == digests["default"]


def test_float64_init_is_drawn_in_float64():
    w64 = build_model("lenet-300-100", seed=0, dtype=torch.float64).layers[0].weight
    w32 = build_model("lenet-300-100", seed=0).layers[0].weight
    assert torch.equal(w64.float(), w32)
    assert not torch.equal(w64, w32.double())  # not float32 draws cast up


def test_check_subspace_dimension_names_parameter_value_and_model():
    assert check_subspace_dimension("d", 10, 10, "m") == 10
    assert isinstance(check_subspace_dimension("d", 3.0, 10, "m"), int)
    with pytest.raises(ParameterError, match=r"'d' = 11: must be <= the number of parameters "
                                             r"P = 10 of lenet-5"):
        check_subspace_dimension("d", 11, 10, "lenet-5")
    with pytest.raises(ParameterError, match=r"'check_d' = 0: must be >= 1"):
        check_subspace_dimension("check_d", 0, 10, "m")
    for bad in (2.5, True, "3", None):
        with pytest.raises(ParameterError, match="integer"):
            check_subspace_dimension("d", bad, 10, "m")
