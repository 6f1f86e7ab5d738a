"""course_lib.init against torch.nn.init and the variance formulas, in float64."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_lib import CourseError, t
from course_lib import init as I

NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh", "relu", "selu"]
weight_shapes = st.lists(st.integers(1, 6), min_size=2, max_size=5).map(tuple)
slopes = st.floats(0.0, 1.0)


def generator(seed):
    return torch.Generator().manual_seed(seed)


moment_settings = settings(max_examples=10)  # each example draws 200 000 numbers


def large(rows=400, cols=500):
    """A weight with 200 000 entries: sample variances within about 1 % of the truth."""
    return torch.empty(rows, cols, dtype=torch.float64)


def assert_moments(w, mean, var):
    n = w.numel()
    assert abs(w.mean().item() - mean) < 5 * math.sqrt(var / n)
    assert w.var().item() == pytest.approx(var, rel=5 * math.sqrt(2 / n) + 5e-3)


@pytest.mark.parametrize("name", NONLINEARITIES)
def test_gain_is_torchs(name):
    assert I.calculate_gain(name) == nn.init.calculate_gain(name)


@given(slope=slopes | st.integers(0, 3))
def test_leaky_relu_gain_is_torchs(slope):
    assert I.calculate_gain("leaky_relu", slope) == nn.init.calculate_gain("leaky_relu", slope)


def test_leaky_relu_default_slope_is_torchs():
    assert I.calculate_gain("leaky_relu") == nn.init.calculate_gain("leaky_relu")


@pytest.mark.parametrize("lang", ["sk", "sr", "ru", "en"])
def test_unknown_nonlinearity_is_a_localized_value_error(lang):
    from course_lib import i18n

    i18n.set_language(lang)
    try:
        with pytest.raises(ValueError) as info:
            I.calculate_gain("swish")
    finally:
        i18n.set_language("en")
    assert info.value.key == "init.unknown_nonlinearity"
    assert str(info.value) == t(info.value.key, lang=lang, **info.value.fields)
    assert "relu" in str(info.value)


@pytest.mark.parametrize("slope", [True, "0.1"])
def test_leaky_relu_slope_must_be_a_number(slope):
    with pytest.raises(CourseError, match="leaky_relu"):
        I.calculate_gain("leaky_relu", slope)


@given(shape=weight_shapes)
def test_fans_are_torchs(shape):
    """torch's fans are private; kaiming std = 1 / sqrt(fan) with the same random numbers
    reveals them: fan = (z / w)^2 for w = kaiming_normal_(nonlinearity='linear'), z = N(0, 1)."""
    z = torch.empty(shape, dtype=torch.float64).normal_(generator=generator(1))
    fan_in, fan_out = I.fan_in_and_fan_out(z)
    for mode, fan in [("fan_in", fan_in), ("fan_out", fan_out)]:
        w = nn.init.kaiming_normal_(torch.empty_like(z), mode=mode, nonlinearity="linear",
                                    generator=generator(1))
        assert torch.allclose(z / w, torch.full_like(z, math.sqrt(fan)), rtol=1e-12)


def test_fans_of_a_conv_weight():
    assert I.fan_in_and_fan_out(torch.empty(16, 3, 5, 5)) == (3 * 25, 16 * 25)


def test_fans_need_two_dimensions():
    with pytest.raises(CourseError) as info:
        I.fan_in_and_fan_out(torch.empty(7))
    assert info.value.key == "init.too_few_dims"


@given(shape=weight_shapes, seed=st.integers(0, 2**31), gain=st.floats(0.1, 3.0))
def test_xavier_draws_the_same_numbers_as_torch(shape, seed, gain):
    for ours, theirs in [(I.xavier_uniform_, nn.init.xavier_uniform_),
                         (I.xavier_normal_, nn.init.xavier_normal_)]:
        w = ours(torch.empty(shape, dtype=torch.float64), gain, generator(seed))
        expected = theirs(torch.empty(shape, dtype=torch.float64), gain, generator(seed))
        torch.testing.assert_close(w, expected, rtol=1e-12, atol=0)


@given(shape=weight_shapes, seed=st.integers(0, 2**31), a=slopes,
       mode=st.sampled_from(["fan_in", "fan_out"]),
       nonlinearity=st.sampled_from(["relu", "leaky_relu", "tanh", "linear", "selu"]))
def test_kaiming_draws_the_same_numbers_as_torch(shape, seed, a, mode, nonlinearity):
    for ours, theirs in [(I.kaiming_uniform_, nn.init.kaiming_uniform_),
                         (I.kaiming_normal_, nn.init.kaiming_normal_)]:
        w = ours(torch.empty(shape, dtype=torch.float64), a, mode, nonlinearity, generator(seed))
        expected = theirs(torch.empty(shape, dtype=torch.float64), a, mode, nonlinearity,
                          generator(seed))
        torch.testing.assert_close(w, expected, rtol=1e-12, atol=0)


@moment_settings
@given(low=st.floats(-3, 3), width=st.floats(0.1, 3))
def test_uniform_moments_and_bounds(low, width):
    w = I.uniform_(large(), low, low + width)
    assert low <= w.min().item() and w.max().item() <= low + width
    assert_moments(w, low + width / 2, width**2 / 12)


@moment_settings
@given(mean=st.floats(-3, 3), std=st.floats(0.01, 3))
def test_normal_moments(mean, std):
    assert_moments(I.normal_(large(), mean, std), mean, std**2)


@moment_settings
@given(rows=st.integers(100, 600), gain=st.floats(0.5, 2.0))
def test_xavier_variance_is_2_gain2_over_fan_in_plus_fan_out(rows, gain):
    var = gain**2 * 2 / (rows + 500)
    assert_moments(I.xavier_normal_(large(rows), gain), 0.0, var)
    w = I.xavier_uniform_(large(rows), gain)
    bound = math.sqrt(3 * var)
    assert w.abs().max().item() <= bound
    assert w.abs().max().item() > 0.99 * bound
    assert_moments(w, 0.0, var)


@moment_settings
@given(mode=st.sampled_from(["fan_in", "fan_out"]), a=slopes,
       nonlinearity=st.sampled_from(["relu", "leaky_relu", "tanh"]))
def test_he_variance_is_gain2_over_fan(mode, a, nonlinearity):
    fan = {"fan_in": 500, "fan_out": 400}[mode]
    var = nn.init.calculate_gain(nonlinearity, a) ** 2 / fan
    assert_moments(I.kaiming_normal_(large(), a, mode, nonlinearity), 0.0, var)
    w = I.kaiming_uniform_(large(), a, mode, nonlinearity)
    assert w.abs().max().item() <= math.sqrt(3 * var)
    assert_moments(w, 0.0, var)


def test_unknown_mode():
    with pytest.raises(CourseError) as info:
        I.kaiming_normal_(torch.empty(3, 4), mode="fan_avg")
    assert info.value.key == "init.unknown_mode"


def test_constant_fills_every_entry():
    assert torch.equal(I.constant_(torch.empty(3, 4), 0.25), torch.full((3, 4), 0.25))


def test_initializers_do_not_record_a_graph():
    w = nn.Parameter(torch.empty(5, 4))
    for fill in [lambda: I.kaiming_uniform_(w), lambda: I.xavier_normal_(w),
                 lambda: I.constant_(w, 1.0)]:
        assert fill() is w and w.grad_fn is None


def model():
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5),
                         nn.Tanh(), nn.Linear(5, 3, bias=False)).double()


def weights(net):
    return [m.weight for m in net if isinstance(m, nn.Linear | nn.Conv2d)]


@pytest.mark.parametrize("scheme", list(I.SCHEMES))
def test_init_model_reaches_every_linear_and_conv_and_zeroes_biases(scheme):
    net = model()
    before = [w.clone() for w in weights(net)]
    assert I.init_model(net, scheme) is net
    assert all(not torch.equal(w, b) for w, b in zip(weights(net), before, strict=True))
    assert all(m.bias.abs().max() == 0 for m in net if getattr(m, "bias", None) is not None)


def test_init_model_constant_uses_value():
    net = I.init_model(model(), "constant", value=0.3)
    assert all(torch.all(w == 0.3) for w in weights(net))


@pytest.mark.parametrize(("scheme", "ours"), [
    ("he", lambda w, g: I.kaiming_normal_(w, nonlinearity="relu", generator=g)),
    ("he_uniform", lambda w, g: I.kaiming_uniform_(w, nonlinearity="relu", generator=g)),
    ("xavier", lambda w, g: I.xavier_normal_(w, math.sqrt(2), g)),
    ("xavier_uniform", lambda w, g: I.xavier_uniform_(w, math.sqrt(2), g)),
    ("small", lambda w, g: I.normal_(w, 0, 0.01, g)),
    ("large", lambda w, g: I.normal_(w, 0, 1, g)),
])
def test_init_model_schemes_are_the_named_initializers(scheme, ours):
    net = I.init_model(model(), scheme, nonlinearity="relu", generator=generator(3))
    g = generator(3)
    for w in weights(net):
        torch.testing.assert_close(w, ours(torch.empty_like(w), g), rtol=1e-12, atol=0)


def test_init_model_gain_follows_the_nonlinearity():
    net = I.init_model(nn.Linear(2000, 1000).double(), "xavier", nonlinearity="tanh")
    assert_moments(net.weight, 0.0, (5 / 3) ** 2 * 2 / 3000)


def test_init_model_rejects_unknown_names():
    with pytest.raises(CourseError) as info:
        I.init_model(model(), "orthogonal")
    assert info.value.key == "init.unknown_scheme"
    with pytest.raises(CourseError) as info:
        I.init_model(model(), "he", nonlinearity="swish")
    assert info.value.key == "init.unknown_nonlinearity"


def by_hand(net, x, loss_fn, kinds):
    """Run the net module by module and differentiate with respect to every recorded output."""
    h, recorded = x, []
    for module in net:
        h = module(h)
        if isinstance(module, kinds):
            recorded.append(h)
    grads = torch.autograd.grad(loss_fn(h), recorded)
    return recorded, grads


@pytest.mark.parametrize(("at", "kinds"), [("activations", (nn.ReLU, nn.Tanh)),
                                           ("linear", (nn.Linear, nn.Conv2d))])
def test_depth_statistics_are_the_moments_of_outputs_and_their_gradients(at, kinds):
    net, x, y = model(), torch.randn(8, 2, 6, 6, dtype=torch.float64), torch.arange(8) % 3

    def loss_fn(out):
        return F.cross_entropy(out, y)

    rows = I.depth_statistics(net, x, loss_fn, at=at)
    outputs, grads = by_hand(net, x, loss_fn, kinds)
    assert [r.kind for r in rows] == [type(m).__name__ for m in net if isinstance(m, kinds)]
    assert [r.index for r in rows] == list(range(len(rows)))
    for row, h, g in zip(rows, outputs, grads, strict=True):
        assert row.act_mean == pytest.approx(h.mean().item(), rel=1e-12, abs=1e-15)
        assert row.act_std == pytest.approx(h.std().item(), rel=1e-12)
        assert row.grad_mean == pytest.approx(g.mean().item(), rel=1e-12, abs=1e-15)
        assert row.grad_std == pytest.approx(g.std().item(), rel=1e-12)


def test_depth_statistics_default_loss_is_the_sum_and_leaves_grads_alone():
    net, x = model(), torch.randn(8, 2, 6, 6, dtype=torch.float64)
    rows = I.depth_statistics(net, x)
    _, grads = by_hand(net, x, torch.sum, (nn.ReLU, nn.Tanh))
    assert [r.grad_std for r in rows] == pytest.approx([g.std().item() for g in grads])
    assert [r.name for r in rows] == ["1", "4"]
    assert all(p.grad is None for p in net.parameters())
    assert all(not m._forward_hooks for m in net.modules())


def test_depth_statistics_rejects_unknown_layers():
    with pytest.raises(CourseError) as info:
        I.depth_statistics(model(), torch.randn(2, 2, 6, 6, dtype=torch.float64), at="norms")
    assert info.value.key == "init.unknown_layers"
