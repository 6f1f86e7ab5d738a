"""Claims of lecture 03 (notebooks/*/03_initialization.ipynb), each a small deterministic test.

The notebook's sizes in the quick profile: 10 hidden layers of 256 units, 256 standard normal
inputs, a fixed standard normal gradient from above (``course_lib.lectures.initialization``); deep
digit classifiers of width 64 trained for 5 epochs. Claims already tested in
``tests/claims/test_init_claims.py`` are not repeated here:

- constant initialization never breaks the symmetry:
  ``test_constant_init_never_breaks_the_symmetry``
- small weights make tanh and ReLU activations vanish: ``test_too_small_init_makes_*_vanish``
- large weights make ReLU activations explode:
  ``test_too_large_init_makes_relu_activations_explode``
- large weights saturate tanh, whose derivative then is near 0:
  ``test_too_large_init_saturates_tanh_and_kills_its_gradient``
- He keeps ReLU and Xavier (gain 5/3) keeps tanh at the same scale over 20 layers:
  ``test_he_keeps_relu_activations_at_the_same_scale_over_20_layers``,
  ``test_xavier_keeps_tanh_activations_at_the_same_scale_over_20_layers``
"""

import math
from functools import cache

import pytest
import torch

from course_lib.lectures import initialization as ie

DEPTH, WIDTH, BATCH = 10, 256, 256


@cache
def rows(activation, scheme, xavier_gain=False):
    net = ie.deep_net(activation, scheme, DEPTH, WIDTH, xavier_gain=xavier_gain)
    return tuple(ie.depth_profile(net, ie.inputs(BATCH, WIDTH)))


def per_layer(values):
    """The average factor from one layer to the next (geometric mean)."""
    return (values[-1] / values[0]) ** (1 / (len(values) - 1))


def spread(values):
    return max(values) / min(values)


def acts(activation, scheme, xavier_gain=False):
    return [r.act_std for r in rows(activation, scheme, xavier_gain)]


def grads(activation, scheme, xavier_gain=False):
    return [r.grad_std for r in rows(activation, scheme, xavier_gain)]


@cache
def trained(activation, scheme):
    _, history = ie.train_digits(activation, scheme, depth=10, width=64, epochs=5, lr=0.01)
    return history


@pytest.mark.parametrize("scheme, distinct", [("constant", 1), ("xavier", 32)])
def test_random_init_breaks_the_symmetry_that_constant_init_keeps(scheme, distinct):
    model, _ = ie.train_digits("tanh", scheme, depth=2, width=32, epochs=5, lr=0.1)
    assert [ie.distinct_units(layer) for layer in ie.hidden_layers(model)] == [distinct] * 2


def test_small_init_shrinks_tanh_activations_about_six_times_per_layer():
    """sqrt(n) * sigma = sqrt(256) * 0.01 = 0.16 per layer."""
    assert 0.12 < per_layer(acts("tanh", "small")) < 0.2


def test_large_init_saturates_most_tanh_units_and_the_others_none():
    def saturated(scheme):
        net = ie.deep_net("tanh", scheme, DEPTH, WIDTH)
        outputs, _ = ie.layer_values(net, ie.inputs(BATCH, WIDTH))
        return (torch.cat([h.flatten() for h in outputs]).abs() > 0.99).float().mean().item()

    assert saturated("large") > 0.8
    assert saturated("small") < 0.01
    assert saturated("xavier") < 0.01


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_small_init_makes_gradients_vanish_by_more_than_five_orders_towards_the_input(activation):
    g = grads(activation, "small")
    assert g[0] / g[-1] < 1e-5


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_large_init_makes_gradients_explode_towards_the_input(activation):
    g = grads(activation, "large")
    assert g[0] / g[-1] > 1e3


def test_large_init_grows_relu_activations_about_sqrt_n_over_2_per_layer():
    assert 0.75 * math.sqrt(WIDTH / 2) < per_layer(acts("relu", "large")) < 1.25 * math.sqrt(
        WIDTH / 2)


def test_xavier_keeps_tanh_activations_and_gradients_within_one_order():
    assert spread(acts("tanh", "xavier")) < 10
    assert spread(grads("tanh", "xavier")) < 10


@pytest.mark.parametrize("scheme, gain", [("xavier", False), ("xavier", True), ("he", False)])
def test_xavier_with_or_without_gain_and_he_keep_tanh_within_one_order(scheme, gain):
    assert spread(acts("tanh", scheme, gain)) < 10
    assert spread(grads("tanh", scheme, gain)) < 10


def test_xavier_loses_a_factor_sqrt2_per_relu_layer_and_he_does_not():
    assert 0.62 < per_layer(acts("relu", "xavier")) < 0.78
    assert 0.88 < per_layer(acts("relu", "he")) < 1.12


def test_the_variance_of_a_layer_is_fan_in_times_var_w_times_var_x():
    n, sigma_w, sigma_x = 256, 0.05, 2.0
    generator = torch.Generator().manual_seed(0)
    w = sigma_w * torch.randn(20_000, n, generator=generator)
    x = sigma_x * torch.randn(20_000, n, generator=generator)
    measured = (w * x).sum(dim=1).var().item()
    assert measured == pytest.approx(n * sigma_w**2 * sigma_x**2, rel=0.05)


def test_a_deep_relu_net_with_small_init_does_not_learn():
    assert trained("relu", "small").train_loss[-1] > 2.25
    assert trained("relu", "small").train_loss[-1] == pytest.approx(math.log(10), abs=0.05)


def test_large_init_blows_up_relu_training_in_the_first_epoch():
    assert not math.isfinite(trained("relu", "large").train_loss[0])


def test_large_init_leaves_a_deep_tanh_net_at_chance_level():
    assert trained("tanh", "large").val_acc[-1] < 0.2


def test_he_trains_a_deep_relu_net_while_xavier_starts_slowly():
    assert trained("relu", "he").train_loss[-1] < 1.0
    assert trained("relu", "he").val_acc[-1] > 0.8
    assert trained("relu", "xavier").train_loss[-1] > 1.5


def test_xavier_trains_a_deep_tanh_net():
    assert trained("tanh", "xavier").val_acc[-1] > 0.8
