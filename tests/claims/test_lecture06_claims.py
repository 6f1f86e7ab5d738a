"""Claims of lecture 06 (batch norm, shift and scale layers), each on the notebook's own setting:
the quick profile's data (digits), step counts and seeds, through the same course_lib code."""

import copy
import math

import pytest
import torch
from torch import nn

from course_lib import data, layers, models, normalization
from course_lib.init import depth_statistics
from course_lib.lectures.normalization import (
    DEPTH,
    RATES,
    accuracy,
    batch_statistics,
    batchnorm_layers,
    compare_training,
    deep_mlp,
    online_comparison,
    recompute_running_stats,
    reset_running_stats,
    running_mean_trace,
)
from course_lib.normalization import BatchNorm1d, BatchNorm2d

STEPS, ONLINE_STEPS = 120, 800  # course.size(quick=...) in the notebook
CHANCE = 0.1


@pytest.fixture(scope="module")
def digits():
    splits = data.load("digits")
    return (*splits.train.tensors, *splits.val.tensors)


@pytest.fixture(scope="module")
def runs(digits):
    x, y, _, _ = digits
    return compare_training(x, y, STEPS)


@pytest.fixture(scope="module")
def online(digits):
    x, y, _, _ = digits
    return online_comparison(x, y, ONLINE_STEPS)


def batch(n=8, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 5 * torch.randn(n, d, generator=g, dtype=torch.float64) + torch.tensor(
        [3.0, -1.0, 10.0][:d], dtype=torch.float64)


def window(losses, last=20):
    return sum(losses[-last:]) / last


# Why normalize


def scaled_activation_stds(x, norm, factor):
    model = deep_mlp(x[0].numel(), 10, depth=DEPTH, norm=norm)
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, nn.Linear):
                layer.weight.mul_(factor)
    return [row.act_std for row in depth_statistics(model, x[:256])]


def test_without_normalization_the_activation_scale_grows_or_shrinks_with_depth(digits):
    x = digits[0]
    small, large = scaled_activation_stds(x, None, 0.5), scaled_activation_stds(x, None, 2.0)
    assert all(b < a for a, b in zip(small, small[1:], strict=False))
    assert all(b > a for a, b in zip(large, large[1:], strict=False))
    assert small[-1] / small[0] < 0.5**5 and large[-1] / large[0] > 2.0**5


def test_batchnorm_keeps_the_activation_scale_about_0_58_whatever_the_weight_scale(digits):
    relu_std = math.sqrt(0.5 - 1 / (2 * math.pi))  # std of ReLU(z), z ~ N(0, 1)
    assert relu_std == pytest.approx(0.58, abs=0.005)
    for factor in (0.5, 2.0):
        stds = scaled_activation_stds(digits[0], "batchnorm", factor)
        assert all(abs(s - relu_std) < 0.08 for s in stds), stds


# Forward pass


def test_batchnorm_output_has_zero_mean_and_unit_variance_per_feature_in_training():
    x = batch()
    ones, zeros = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    out, _ = layers.batchnorm_forward(x, ones, zeros, None, None, train=True)
    torch.testing.assert_close(out.mean(dim=0), zeros, atol=1e-12, rtol=0)
    torch.testing.assert_close(out.var(dim=0, correction=0), ones, atol=1e-5, rtol=0)
    module = BatchNorm1d(3).double().train()
    torch.testing.assert_close(module(x), out)


def test_gamma_sqrt_var_and_beta_mu_give_the_input_back():
    x = batch()
    mu, var = x.mean(dim=0), x.var(dim=0, correction=0)
    undone, _ = layers.batchnorm_forward(x, torch.sqrt(var + 1e-5), mu, None, None, train=True)
    torch.testing.assert_close(undone, x)


def test_the_variance_divides_by_n_not_n_minus_1():
    x = batch(n=4)
    ones, zeros = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    out, _ = layers.batchnorm_forward(x, ones, zeros, None, None, train=True, eps=0.0)
    torch.testing.assert_close(out.pow(2).mean(dim=0), ones)


def test_a_bias_before_batchnorm_is_cancelled_by_the_mean():
    x = batch()
    layer = BatchNorm1d(3).double().train()
    torch.testing.assert_close(layer(x + torch.tensor([5.0, -2.0, 100.0], dtype=x.dtype)),
                               layer(x))


def test_batchnorm_output_does_not_change_when_the_weights_before_it_are_scaled(digits):
    """Exactly so up to eps, which matters only for features of tiny variance."""
    x = digits[0].flatten(1)[:64].double()
    linear = nn.Linear(64, 16).double()
    exact, usual = BatchNorm1d(16, eps=1e-12).double(), BatchNorm1d(16).double()
    before = [exact(linear(x)), usual(linear(x))]
    with torch.no_grad():
        linear.weight.mul_(7.0)
        linear.bias.mul_(7.0)
    torch.testing.assert_close(exact(linear(x)), before[0], atol=1e-8, rtol=1e-8)
    torch.testing.assert_close(usual(linear(x)), before[1], atol=5e-3, rtol=0)


# Backward pass


def test_batchnorm_backward_matches_central_differences_and_autograd():
    g = torch.Generator().manual_seed(1)
    x = 3 + 5 * torch.randn(6, 4, generator=g, dtype=torch.float64)
    gamma, beta = (torch.randn(4, generator=g, dtype=torch.float64) for _ in range(2))
    dout = torch.randn(6, 4, generator=g, dtype=torch.float64)
    _, cache = layers.batchnorm_forward(x, gamma, beta, None, None, train=True)
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    numeric = layers.gradcheck(
        lambda v: layers.batchnorm_forward(v, gamma, beta, None, None, train=True)[0],
        x.clone(), dout)
    assert layers.rel_error(numeric, dx) < 1e-6
    bn = BatchNorm1d(4).double()
    with torch.no_grad():
        bn.weight.copy_(gamma)
        bn.bias.copy_(beta)
    x_auto = x.clone().requires_grad_(True)
    grads = torch.autograd.grad(bn(x_auto), (x_auto, bn.weight, bn.bias), dout)
    for ours, auto in zip((dx, dgamma, dbeta), grads, strict=True):
        assert layers.rel_error(auto, ours) < 1e-12


def test_the_gradient_of_one_example_depends_on_the_rest_of_the_batch():
    x = batch()
    gamma, beta = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    dout = torch.zeros_like(x)
    dout[0] = 1.0
    _, cache = layers.batchnorm_forward(x, gamma, beta, None, None, train=True)
    dx, _, _ = layers.batchnorm_backward(dout, cache)
    assert dx[1:].abs().max() > 1e-3  # only example 0 got an upstream gradient


# The layers


def test_batchnorm2d_normalizes_each_channel_over_n_h_w_like_torch():
    images = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    ours, theirs = BatchNorm2d(3), nn.BatchNorm2d(3)
    out = ours(images)
    torch.testing.assert_close(out, theirs(images), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-6, rtol=0)
    assert ours.weight.shape == ours.running_mean.shape == (3,)
    assert models.count_parameters(ours) == 2 * 3
    ours.eval()
    theirs.eval()
    torch.testing.assert_close(ours(images), theirs(images), atol=1e-6, rtol=1e-5)


# Effect on training


def test_batchnorm_lets_the_deep_mlp_train_faster_on_the_fixed_seed(runs, digits):
    _, _, x_val, y_val = digits
    lr = RATES[0]
    plain, bn = runs[None, lr], runs["batchnorm", lr]
    half = STEPS // 2
    assert sum(bn[1][:half]) < 0.8 * sum(plain[1][:half])
    assert window(bn[1]) < 0.5 * window(plain[1])
    assert accuracy(bn[0], x_val, y_val) > accuracy(plain[0], x_val, y_val)


def test_batchnorm_allows_ten_times_the_learning_rate_where_the_plain_net_fails(runs, digits):
    _, _, x_val, y_val = digits
    lr = RATES[1]
    assert lr == pytest.approx(10 * RATES[0])
    plain_model, plain_losses = runs[None, lr]
    assert not math.isfinite(window(plain_losses))  # the loss blew up to nan
    assert accuracy(plain_model, x_val, y_val) < CHANCE + 0.05
    bn_model, bn_losses = runs["batchnorm", lr]
    assert window(bn_losses) < 0.5
    assert accuracy(bn_model, x_val, y_val) > 0.9


# Train and evaluation mode


def test_eval_mode_uses_the_running_statistics():
    """The running statistics are the momentum averages of the batch means and of the batch
    variances taken unbiased (divisor N - 1), and they estimate the population's 4 and 4."""
    layer = BatchNorm1d(3, momentum=0.1)
    g = torch.Generator().manual_seed(0)
    mean, var, biased = torch.zeros(3), torch.ones(3), torch.ones(3)
    for _ in range(100):
        x = 4 + 2 * torch.randn(32, 3, generator=g)
        layer(x)
        mean = 0.9 * mean + 0.1 * x.mean(dim=0)
        var = 0.9 * var + 0.1 * x.var(dim=0, correction=1)
        biased = 0.9 * biased + 0.1 * x.var(dim=0, correction=0)
    torch.testing.assert_close(layer.running_mean, mean)
    torch.testing.assert_close(layer.running_var, var)
    assert ((layer.running_var - biased).abs() > 0.05).all()  # 1/32 of 4: not the 1/N variance
    torch.testing.assert_close(layer.running_mean, torch.full((3,), 4.0), atol=0.3, rtol=0)
    torch.testing.assert_close(layer.running_var, torch.full((3,), 4.0), atol=0.6, rtol=0)
    layer.eval()
    probe = torch.tensor([[4.0, 6.0, 0.0]])
    by_hand = (probe - layer.running_mean) / torch.sqrt(layer.running_var + layer.eps)
    torch.testing.assert_close(layer(probe), by_hand)


def test_in_eval_mode_an_example_does_not_depend_on_its_batch_but_in_train_mode_it_does():
    layer = BatchNorm1d(3)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        layer(torch.randn(16, 3, generator=g))
    probe = torch.tensor([[1.0, 2.0, 3.0]])
    others = [torch.randn(5, 3, generator=g) for _ in range(2)]
    layer.eval()
    outputs = [layer(torch.cat([probe, rest]))[0] for rest in others]
    torch.testing.assert_close(outputs[0], outputs[1])
    layer.train()
    outputs = [layer(torch.cat([probe, rest]))[0] for rest in others]
    assert (outputs[0] - outputs[1]).abs().max() > 1e-2


def test_running_statistics_follow_the_momentum_formula():
    """Constant batches with mean mu: after k steps the running mean is (1 - (1 - m)^k) mu."""
    for momentum in (0.1, 0.5):
        layer = BatchNorm1d(1, momentum=momentum, affine=False).double()
        x = torch.tensor([[1.0], [3.0], [5.0], [7.0]], dtype=torch.float64)  # mu 4, var 5
        for k in range(1, 11):
            layer(x)
            expected_mean = (1 - (1 - momentum) ** k) * 4.0
            expected_var = (1 - momentum) ** k + (1 - (1 - momentum) ** k) * 5.0 * 4 / 3
            assert layer.running_mean.item() == pytest.approx(expected_mean)
            assert layer.running_var.item() == pytest.approx(expected_var)


def test_small_batches_give_noisy_statistics():
    """The spread of batch means is about sigma / sqrt(N); the 1/N variance is biased low by
    (N - 1) / N."""
    g = torch.Generator().manual_seed(1)
    population = 2.0 + 3.0 * torch.randn(10_000, generator=g, dtype=torch.float64)
    sigma2 = population.var(correction=0).item()
    spreads = {}
    for n in (2, 16, 128):
        means, variances = batch_statistics(population, n, draws=2000)
        spreads[n] = means.std().item()
        assert spreads[n] == pytest.approx(math.sqrt(sigma2 / n), rel=0.1)
        assert variances.mean().item() == pytest.approx((n - 1) / n * sigma2, rel=0.1)
    assert spreads[2] > spreads[16] > spreads[128]


def test_a_larger_momentum_follows_faster_but_a_smaller_one_is_smoother():
    g = torch.Generator().manual_seed(1)
    population = 2.0 + 3.0 * torch.randn(10_000, generator=g, dtype=torch.float64)
    fast = running_mean_trace(population, 16, 0.5, steps=150)
    slow = running_mean_trace(population, 16, 0.01, steps=150)
    assert abs(fast[10].item() - 2.0) < 1.0 < abs(slow[10].item() - 2.0)
    assert slow[50:].diff().abs().mean() < 0.2 * fast[50:].diff().abs().mean()


def test_forgetting_eval_with_small_test_batches_ruins_the_accuracy(runs, digits):
    _, _, x_val, y_val = digits
    model = runs["batchnorm", RATES[0]][0]
    in_eval = accuracy(model, x_val, y_val)
    tiny = accuracy(model, x_val, y_val, train_mode=True, batch_size=2)
    assert in_eval > 0.9 and tiny < 0.4
    sizes = [accuracy(model, x_val, y_val, train_mode=True, batch_size=b) for b in (2, 4, 16)]
    assert sizes == sorted(sizes)


def test_a_forward_pass_in_train_mode_overwrites_the_running_statistics(runs, digits):
    _, _, x_val, _ = digits
    twin = copy.deepcopy(runs["batchnorm", RATES[0]][0]).train()
    first = batchnorm_layers(twin)[0]
    before = first.running_mean.clone()
    with torch.no_grad():
        twin(x_val)
    assert not torch.equal(first.running_mean, before)


def test_mismatched_running_statistics_ruin_the_accuracy_and_recomputing_restores_it(
        runs, digits):
    x, _, x_val, y_val = digits
    model = runs["batchnorm", RATES[0]][0]
    twin = deep_mlp(x[0].numel(), 10, depth=DEPTH, norm="batchnorm")
    twin.load_state_dict(model.state_dict())
    good = accuracy(twin, x_val, y_val)
    assert good == accuracy(model, x_val, y_val)
    reset_running_stats(twin)
    assert accuracy(twin, x_val, y_val) < good - 0.4
    recompute_running_stats(twin, x)
    assert accuracy(twin, x_val, y_val) > good - 0.03
    assert all(layer.momentum == 0.1 for layer in batchnorm_layers(twin))


# Batch size 1


def test_a_batch_of_one_in_train_mode_gives_beta_whatever_the_input_and_no_gradient():
    gamma = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    beta = torch.tensor([0.5, -1.0, 0.0], dtype=torch.float64)
    for row in ([1.0, 2.0, 3.0], [-7.0, 0.0, 40.0]):  # the notebook's formula, by hand
        one = torch.tensor([row], dtype=torch.float64, requires_grad=True)
        mu, var = one.mean(dim=0), one.var(dim=0, correction=0)
        out = gamma * (one - mu) / torch.sqrt(var + 1e-5) + beta
        assert torch.equal(out.detach(), beta.unsqueeze(0))
        out.backward(torch.randn(1, 3, dtype=torch.float64))
        assert torch.equal(one.grad, torch.zeros_like(one))
        with pytest.raises(ValueError):  # hence layers.batchnorm_forward refuses it
            layers.batchnorm_forward(one.detach(), gamma, beta, None, None, train=True)


def test_a_batch_of_one_in_train_mode_is_refused_and_in_eval_mode_accepted():
    for layer in (BatchNorm1d(3), nn.BatchNorm1d(3)):
        with pytest.raises(ValueError):
            layer.train()(torch.ones(1, 3))
        assert layer.eval()(torch.ones(1, 3)).shape == (1, 3)


# Shift and scale layers


def test_shift_and_scale_parameter_counts_per_granularity():
    expected = {"element": (64, 8192), "channel": (64, 32), "layer": (1, 1)}
    for granularity, (dense, conv) in expected.items():
        for layer in (normalization.Shift, normalization.Scale):
            assert normalization.num_parameters(layer(64, granularity)) == dense
            assert normalization.num_parameters(layer((32, 16, 16), granularity)) == conv


def test_shift_and_scale_go_after_the_input_and_every_activation_but_the_last():
    small = models.mlp([64, 32, 32, 10])
    wrapped = normalization.insert_shift_scale(small, shift="layer", scale="layer",
                                               example_input=torch.zeros(2, 64))
    kinds = [type(m).__name__ for m in wrapped]
    assert kinds == ["Shift", "Scale", "Linear", "ReLU", "Shift", "Scale", "Linear", "ReLU",
                     "Shift", "Scale", "Linear"]
    assert models.count_parameters(wrapped) - models.count_parameters(small) == 6


def test_shift_and_scale_layers_behave_the_same_in_train_and_eval_mode_even_for_one_example():
    wrapped = normalization.insert_shift_scale(
        models.mlp([64, 32, 10]), shift="channel", scale="channel",
        example_input=torch.zeros(2, 64))
    one = torch.randn(1, 64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(wrapped.train()(one), wrapped.eval()(one))


def test_shift_and_scale_train_with_batch_size_one(online, digits):
    _, _, x_val, y_val = digits
    for _name, (model, losses) in online.items():
        assert all(math.isfinite(v) for v in losses)
        assert window(losses, 200) < 0.5 * window(losses[:200], 200)
        assert accuracy(model, x_val, y_val) > 0.7
    assert "shift_scale" in online
    scales = [m for m in online["shift_scale"][0] if isinstance(m, normalization.Scale)]
    assert scales and any(not torch.equal(s.a, torch.ones_like(s.a)) for s in scales)


# Normalization layers, plural: batch norm mixes the examples of a batch; layer norm and
# group norm normalize each example on its own, so they work the same for a batch of one.

def images(seed=0, n=8):
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(n, 4, 5, 5, generator=g, dtype=torch.float64) + 1


def test_batchnorm_output_depends_on_the_batch_layer_and_group_norm_do_not():
    from course_lib.lectures.normalization import batch_dependence

    change = batch_dependence(images())
    assert change["batchnorm"] > 0.1
    assert change["layernorm"] < 1e-12 and change["groupnorm"] < 1e-12


def test_batch_of_one_feature_vector_fails_for_batchnorm_and_works_for_layer_norm():
    x = torch.randn(1, 6, dtype=torch.float64)
    ones, zeros = torch.ones(6, dtype=torch.float64), torch.zeros(6, dtype=torch.float64)
    with pytest.raises(ValueError):
        layers.batchnorm_forward(x, ones, zeros, None, None, train=True)
    with pytest.raises(ValueError):
        nn.BatchNorm1d(6).train()(x)
    out, _ = layers.layernorm_forward(x, ones, zeros)
    assert out.mean().abs() < 1e-12 and abs(out.var(correction=0).item() - 1) < 1e-4
    torch.testing.assert_close(out, nn.functional.layer_norm(x, (6,)))


def test_batchnorm_on_one_image_normalizes_each_channel_over_its_positions_only():
    x = images(n=1)
    ones, zeros = torch.ones(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    bn = layers.batchnorm_forward(x, ones, zeros, None, None, train=True)[0]
    instance = layers.groupnorm_forward(x, ones, zeros, groups=4)[0]
    torch.testing.assert_close(bn, instance)  # N = 1: batch norm degenerates to instance norm


def test_normalization_axes_figure_has_three_panels():
    import matplotlib.pyplot as plt

    from course_lib.lectures.normalization import normalization_axes

    fig = normalization_axes()
    assert len(fig.axes) == 3
    plt.close(fig)
