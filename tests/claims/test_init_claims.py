"""Claims of the initialization lecture, each a small deterministic experiment.

Deep plain networks (20 layers of width 512, a batch of 64 standard normal inputs) are
initialized with ``init_model``; ``depth_statistics`` reads the activations layer by layer.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.init import depth_statistics, init_model

DEPTH, WIDTH, BATCH = 20, 512, 64


def deep(activation, scheme, nonlinearity):
    torch.manual_seed(0)
    layers = []
    for _ in range(DEPTH):
        layers += [nn.Linear(WIDTH, WIDTH), activation()]
    model = nn.Sequential(*layers).double()
    return init_model(model, scheme, nonlinearity=nonlinearity)


def std_ratio_last_over_first(activation, scheme, nonlinearity):
    model = deep(activation, scheme, nonlinearity)
    rows = depth_statistics(model, torch.randn(BATCH, WIDTH, dtype=torch.float64))
    assert len(rows) == DEPTH
    return rows[-1].act_std / rows[0].act_std


def test_he_keeps_relu_activations_at_the_same_scale_over_20_layers():
    assert 0.5 < std_ratio_last_over_first(nn.ReLU, "he", "relu") ** 2 < 2


def test_too_small_init_makes_relu_activations_vanish():
    assert std_ratio_last_over_first(nn.ReLU, "small", "relu") ** 2 < 1e-6


def test_too_large_init_makes_relu_activations_explode():
    assert std_ratio_last_over_first(nn.ReLU, "large", "relu") ** 2 > 1e6


def test_xavier_keeps_tanh_activations_at_the_same_scale_over_20_layers():
    assert 0.5 < std_ratio_last_over_first(nn.Tanh, "xavier", "tanh") < 2


def test_too_small_init_makes_tanh_activations_vanish():
    assert std_ratio_last_over_first(nn.Tanh, "small", "tanh") < 1e-6


def mean_tanh_derivative(scheme):
    """The average of tanh'(z) = 1 - tanh(z)^2 over every unit, example and layer."""
    h, derivatives = torch.randn(BATCH, WIDTH, dtype=torch.float64), []
    for module in deep(nn.Tanh, scheme, "tanh"):
        h = module(h)
        if isinstance(module, nn.Tanh):
            derivatives.append((1 - h**2).mean().item())
    return sum(derivatives) / len(derivatives)


def test_too_large_init_saturates_tanh_and_kills_its_gradient():
    """With N(0, 1) weights most tanh units sit near +-1, where their derivative is near 0."""
    assert mean_tanh_derivative("large") < 0.1 < 0.3 < mean_tanh_derivative("xavier")


@pytest.mark.parametrize("activation", [nn.Tanh, nn.ReLU])
def test_constant_init_never_breaks_the_symmetry(activation):
    """All hidden units start equal, get equal gradients, and so stay equal after training."""
    model = init_model(nn.Sequential(nn.Linear(4, 8), activation(), nn.Linear(8, 8),
                                     activation(), nn.Linear(8, 3)).double(), "constant")
    hidden = [model[0], model[2]]
    before = [layer.weight.clone() for layer in hidden]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g, dtype=torch.float64)
    y = torch.randint(3, (64,), generator=g)
    for _ in range(50):
        grads = torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))
        with torch.no_grad():
            for p, grad in zip(model.parameters(), grads, strict=True):
                p -= 0.5 * grad
    for layer, start in zip(hidden, before, strict=True):
        assert not torch.allclose(layer.weight, start)
        assert torch.equal(layer.weight, layer.weight[:1].expand_as(layer.weight))
        assert torch.equal(layer.bias, layer.bias[:1].expand_as(layer.bias))
