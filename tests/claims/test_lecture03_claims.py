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

from course_lib import clipping, data
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


# Gradient clipping (section "Gradient clipping"): our choices are the He net of the lecture
# (10 layers of 64 units, digits, SGD with momentum 0.9, batches of 64) trained for 5 epochs at
# a learning rate 100 times the lecture's (1.0), with and without clipping by norm to 0.1, and
# the large init (sigma = 1) at the lecture's rate 0.01 clipped to 1.0. Several seeds.

CLIP_SEEDS = range(4)


@cache
def clip_run(scheme, lr, max_norm, seed):
    _, history = ie.train_digits("relu", scheme, depth=10, width=64, epochs=5, lr=lr,
                                 seed=seed, clip_grad_norm=max_norm, grad_norms=True)
    return history


@cache
def first_gradient(scheme):
    """The gradient of the notebook's net on its first training batch (seed 0)."""
    net = ie.deep_net("relu", scheme, 10, 64, n_in=64, n_out=10)
    x, y = next(iter(data.load("digits").loaders(batch_size=64)[0]))
    loss = torch.nn.functional.cross_entropy(net(x), y)
    return torch.autograd.grad(loss, list(net.parameters()))


def test_clipping_the_exploding_gradient_by_norm_keeps_its_direction_by_value_does_not():
    grads = first_gradient("large")
    assert clipping.total_norm(grads).item() > 1e6  # the explosion of the large init
    by_norm, _ = clipping.clip_by_norm(grads, max_norm=0.1)
    by_value = clipping.clip_by_value(grads, limit=0.01)
    assert clipping.cosine(grads, by_norm) == pytest.approx(1.0, abs=1e-6)
    assert clipping.total_norm(by_norm).item() == pytest.approx(0.1, rel=1e-6)
    assert clipping.cosine(grads, by_value) < 0.6  # about 0.5: a different direction
    assert clipping.total_norm(by_value).item() > 10 * 0.1  # and no bound on the length


@pytest.mark.parametrize("seed", CLIP_SEEDS)
@pytest.mark.filterwarnings("ignore::UserWarning")  # fit's warning that the run diverged
def test_too_large_a_learning_rate_explodes_without_clipping_and_trains_with_it(seed):
    free, clipped = clip_run("he", 1.0, None, seed), clip_run("he", 1.0, 0.1, seed)
    assert not math.isfinite(free.train_loss[-1]) and free.epochs <= 2
    finite = [n for n in free.step_grad_norm if math.isfinite(n)]
    assert max(finite) > 1e4 * free.step_grad_norm[0]  # many orders of magnitude up
    assert ie.largest_grad_norm(clipped) < 100  # before clipping: it never takes off
    assert clipped.epochs == 5 and clipped.train_loss[-1] < 0.6 and clipped.val_acc[-1] > 0.75
    # c = 0.1 is so small that it clips almost every step: a step of fixed length lr * c
    clipped_steps = [n > 0.1 for n in clipped.step_grad_norm]
    assert sum(clipped_steps) >= 0.9 * len(clipped_steps)


@pytest.mark.parametrize("seed", CLIP_SEEDS)
def test_clipping_keeps_the_large_init_finite_but_does_not_repair_it(seed):
    large, he = clip_run("large", 0.01, 1.0, seed), clip_run("he", 1.0, 0.1, seed)
    assert large.epochs == 5 and math.isfinite(large.train_loss[-1])
    assert large.train_loss[-1] > 1e6  # the loss still counts in millions
    assert large.val_acc[-1] < he.val_acc[-1] - 0.2
