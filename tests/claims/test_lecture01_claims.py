"""Lecture 01 (the neuron and its activations): each claim of the notebook as an experiment."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import activations as A
from course_lib import data, init, models
from course_lib.lectures import neuron


@pytest.fixture(scope="module")
def digits():
    """The notebook's inputs: the 1797 digits, flattened and standardized, and their labels."""
    images, labels = data.digits()
    x = images.flatten(start_dim=1)
    return (x - x.mean(dim=0)) / (x.std(dim=0) + 1e-6), labels


@pytest.fixture(scope="module")
def sweep():
    """The notebook's Cybenko experiment in the quick profile (100 steps of Adam)."""
    x, y = data.noisy_sines(n=500, noise=0.2, seed=0)
    return x, y, neuron.width_sweep(x, y, [2, 4, 8, 16, 32, 64], steps=100)


def test_a_layer_is_a_matrix_product_as_in_nn_linear():
    torch.manual_seed(0)
    x, linear = torch.randn(5, 3), nn.Linear(3, 4)
    assert torch.allclose(neuron.layer(x, linear.weight, linear.bias, torch.tanh),
                          torch.tanh(linear(x)))
    for i in range(4):  # row i of W is the weight vector of neuron i
        assert torch.allclose(neuron.neuron(x, linear.weight[i], linear.bias[i], torch.tanh),
                              torch.tanh(linear(x))[:, i])


def test_two_linear_layers_collapse_into_one():
    torch.manual_seed(0)
    first = nn.Linear(3, 16, dtype=torch.float64)
    second = nn.Linear(16, 2, dtype=torch.float64)
    merged = neuron.merge_linear(first, second)
    x = torch.randn(100, 3, dtype=torch.float64)
    assert merged.weight.shape == (2, 3)
    assert torch.allclose(second(first(x)), merged(x), atol=1e-12)


def test_with_an_activation_between_them_two_layers_do_not_collapse():
    """tanh between the layers: no single Linear layer fits the composition exactly."""
    torch.manual_seed(0)
    first, second = nn.Linear(1, 16, dtype=torch.float64), nn.Linear(16, 1, dtype=torch.float64)
    x = torch.linspace(-3, 3, 200, dtype=torch.float64).unsqueeze(1)
    with torch.no_grad():
        y = second(torch.tanh(first(x)))
    design = torch.cat([x, torch.ones_like(x)], dim=1)
    residual = y - design @ torch.linalg.lstsq(design, y).solution
    assert residual.abs().max() > 1e-3


def test_sigmoid_derivative_is_at_most_a_quarter_reached_at_zero():
    grid = torch.arange(-1000, 1001, dtype=torch.float64) / 100
    assert A.sigmoid_grad(grid).max().item() == 0.25
    assert A.sigmoid_grad(grid).argmax().item() == 1000  # x = 0
    assert A.tanh_grad(grid).max().item() == 1.0


def test_stacked_sigmoids_pass_at_most_a_quarter_per_layer():
    depths = list(range(1, 11))
    sigmoid = neuron.max_stacked_derivative("sigmoid", depths)
    assert all(d <= 4.0**-depth for d, depth in zip(sigmoid, depths, strict=True))
    assert sigmoid[-1] < 1e-6  # ten sigmoids: less than a millionth
    assert neuron.max_stacked_derivative("tanh", depths) == [1.0] * 10
    assert neuron.max_stacked_derivative("relu", depths) == [1.0] * 10


def test_stacked_derivative_is_the_chain_rule():
    x = torch.linspace(-3, 3, 61, dtype=torch.float64, requires_grad=True)
    h = x
    for _ in range(4):
        h = torch.sigmoid(h)
    (grad,) = torch.autograd.grad(h.sum(), x)
    assert torch.allclose(neuron.stacked_derivative("sigmoid", 4, x.detach()), grad)


def gradient_ratios(x, y):
    """First-layer over last-layer gradient std of the notebook's 8-hidden-layer MLPs."""
    ratios = {}
    for name in ("sigmoid", "tanh", "relu"):
        torch.manual_seed(0)
        net = models.mlp([64] + [64] * 8 + [10], activation=name)
        stats = init.depth_statistics(net, x, lambda out: F.cross_entropy(out, y), at="linear")
        grads = [s.grad_std for s in stats]
        assert len(grads) == 9
        ratios[name] = (grads[0] / grads[-1], grads)
    return ratios


def test_sigmoid_network_gradient_vanishes_a_million_fold_and_faster_than_tanh_and_relu(digits):
    ratios = gradient_ratios(*digits)
    sigmoid, grads = ratios["sigmoid"]
    assert sigmoid < 1e-6
    # the gradient shrinks at every layer on the way to the input
    assert all(a < b for a, b in zip(grads, grads[1:], strict=False))
    assert sigmoid < ratios["tanh"][0] / 100 and sigmoid < ratios["relu"][0] / 100


def test_no_relu_unit_is_dead_at_zero_bias_and_most_are_at_strongly_negative_bias(digits):
    x, _ = digits
    biases = torch.linspace(0, -6, 25).tolist()
    dead = neuron.dead_fractions(x, biases, width=128)
    assert dead[0] == 0.0
    # a more negative bias never revives a unit
    assert all(a <= b for a, b in zip(dead, dead[1:], strict=False))
    assert 0.3 < neuron.dead_fractions(x, [-3.0], width=128)[0] < 0.6
    assert neuron.dead_fractions(x, [-5.0], width=128)[0] > 0.8


def test_dead_relu_units_are_exactly_the_units_without_gradient_and_leaky_relu_has_none(digits):
    x, y = digits
    for bias in (0.0, -3.0, -5.0):
        dead = neuron.dead_fractions(x, [bias], width=128)[0]
        assert neuron.units_without_gradient(x, y, bias, A.relu, width=128) == dead
        assert neuron.units_without_gradient(x, y, bias, A.leaky_relu, width=128) == 0.0


def test_a_wider_hidden_layer_fits_better_up_to_32_units(sweep):
    _, _, fits = sweep
    upto32 = [f for f in fits if f.width <= 32]
    for errors in ([f.error_least_squares for f in upto32], [f.error_trained for f in upto32]):
        assert all(a > b for a, b in zip(errors, errors[1:], strict=False))
    assert upto32[-1].error_trained < upto32[0].error_trained / 50  # about a hundredfold


def test_small_networks_stay_near_the_line_and_wide_ones_beat_it_about_a_hundredfold(sweep):
    x, y, fits = sweep
    line = neuron.line_error(x, y)
    assert 0.45 < line < 0.55  # a line (any net without activation) cannot follow the sine
    by_width = {f.width: f for f in fits}
    assert by_width[2].error_trained > 0.8 * line
    assert by_width[16].error_trained < line / 40 and by_width[32].error_trained < line / 50


def test_64_units_do_not_beat_32_against_the_clean_function(sweep):
    _, _, fits = sweep
    by_width = {f.width: f for f in fits}
    assert by_width[64].error_least_squares >= by_width[32].error_least_squares
    assert by_width[64].error_trained >= by_width[32].error_trained


def test_training_improves_the_narrow_networks(sweep):
    _, _, fits = sweep
    for f in fits:
        if f.width <= 16:
            assert f.error_trained < f.error_least_squares


def test_tanh_is_a_rescaled_sigmoid_so_cybenko_covers_it():
    x = torch.linspace(-10, 10, 2001, dtype=torch.float64)
    assert torch.allclose(A.tanh(x), 2 * A.sigmoid(2 * x) - 1, atol=1e-15)


def test_naive_softmax_overflows_and_subtracting_the_maximum_fixes_it():
    big = torch.tensor([[1000.0, 1001.0, 999.0]])
    naive = torch.exp(big) / torch.exp(big).sum(dim=1, keepdim=True)
    assert torch.isnan(naive).all()
    stable = A.softmax(big, dim=1)
    assert torch.allclose(stable, A.softmax(big - 1000, dim=1))
    assert torch.allclose(stable.sum(dim=1), torch.ones(1))
