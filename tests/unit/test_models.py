"""course_lib.models: shapes, parameter counts, He init, torchvision compatibility of ResNet-18."""

import math

import pytest
import torch
import torchvision
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from course_lib import CourseError, i18n
from course_lib import models as M
from course_lib import normalization as N
from course_lib.normalization import VARIANTS, insert_batchnorm


def kinds(model):
    return [type(m) for m in model]


@given(
    sizes=st.lists(st.integers(1, 8), min_size=2, max_size=5),
    activation=st.sampled_from(sorted(M.ACTIVATION_BY_NAME)),
    dropout=st.sampled_from([0.0, 0.3]),
    n=st.integers(1, 4),
)
def test_mlp_shapes_layers_and_parameter_count(sizes, activation, dropout, n):
    model = M.mlp(sizes, activation, dropout)
    assert model(torch.randn(n, sizes[0])).shape == (n, sizes[-1])
    hidden = len(sizes) - 2
    assert sum(isinstance(m, nn.Linear) for m in model) == len(sizes) - 1
    assert sum(isinstance(m, M.ACTIVATION_BY_NAME[activation]) for m in model) == hidden
    assert sum(isinstance(m, nn.Dropout) for m in model) == (hidden if dropout else 0)
    assert isinstance(model[-1], nn.Linear)
    expected = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    assert M.count_parameters(model) == expected


def test_a_one_hidden_layer_regressor_has_three_layers_and_301_parameters():
    model = M.mlp([1, 100, 1])
    assert kinds(model) == [nn.Linear, nn.ReLU, nn.Linear]
    assert M.count_parameters(model) == 301
    assert model(torch.rand(5, 1)).shape == (5, 1)


def test_mlp_dropout_follows_each_hidden_activation():
    model = M.mlp([4, 3, 3, 2], "tanh", dropout=0.5)
    assert kinds(model) == [nn.Linear, nn.Tanh, nn.Dropout, nn.Linear, nn.Tanh, nn.Dropout,
                            nn.Linear]
    assert model[2].p == 0.5


@pytest.mark.parametrize(
    ("call", "key"),
    [
        (lambda: M.mlp([3]), "models.bad_sizes"),
        (lambda: M.mlp([3, 0]), "models.bad_sizes"),
        (lambda: M.mlp([3, 2.5]), "models.bad_sizes"),
        (lambda: M.mlp([3, True]), "models.bad_sizes"),
        (lambda: M.mlp([3, 2], "swish"), "models.unknown_activation"),
        (lambda: M.mlp([3, 2], dropout=1.0), "models.bad_dropout"),
        (lambda: M.mlp([3, 2], dropout=-0.1), "models.bad_dropout"),
        (lambda: M.thesis_mlp(0), "models.not_positive"),
        (lambda: M.thesis_mlp(hidden=(10, -1)), "models.bad_hidden"),
        (lambda: M.thesis_fcn(widths=()), "models.bad_widths"),
        (lambda: M.thesis_fcn(num_classes=2.0), "models.not_positive"),
        (lambda: M.thesis_fcn(dropout=2.0), "models.bad_dropout"),
        (lambda: M.LeNet(image_size=12), "models.image_too_small"),
        (lambda: M.LeNet(in_channels=0), "models.not_positive"),
        (lambda: M.resnet20(num_classes=0), "models.not_positive"),
    ],
)
def test_bad_arguments_raise_a_localized_course_error(call, key):
    with pytest.raises(CourseError) as err:
        call()
    assert err.value.key == key
    assert isinstance(err.value, ValueError)


def test_errors_speak_the_current_language():
    before = i18n.get_language()
    try:
        i18n.set_language("sk")
        with pytest.raises(CourseError, match="Neznáma aktivačná funkcia 'swish'.*relu"):
            M.mlp([3, 2], "swish")
        i18n.set_language("ru")
        with pytest.raises(CourseError, match="LeNet нужны изображения не меньше 16"):
            M.LeNet(image_size=8)
    finally:
        i18n.set_language(before)


def test_thesis_mlp_flattens_images_and_has_the_documented_size():
    model = M.thesis_mlp()
    assert kinds(model) == [nn.Flatten, nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert M.count_parameters(model) == 1_707_274
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert model(torch.randn(2, 3072)).shape == (2, 10)
    small = M.thesis_mlp(64, 3, hidden=(), dropout=0.2)
    assert kinds(small) == [nn.Flatten, nn.Linear]


def test_thesis_fcn_layout_shapes_and_size():
    model = M.thesis_fcn()
    assert M.count_parameters(model) == 288_298
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3)] * 6 + [(1, 1)]
    assert [c.stride[0] for c in convs] == [1, 2] * 3 + [1]
    assert kinds(model)[-2:] == [nn.AdaptiveAvgPool2d, nn.Flatten]
    sizes = []
    hooks = [c.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1])) for c in convs]
    model(torch.randn(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert sizes == [32, 16, 16, 8, 8, 4, 4]


@given(
    widths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    in_channels=st.integers(1, 3),
    num_classes=st.integers(1, 5),
    size=st.sampled_from([5, 8, 28]),
)
def test_thesis_fcn_any_widths_and_image_size(widths, in_channels, num_classes, size):
    model = M.thesis_fcn(in_channels, num_classes, widths, dropout=0.1)
    assert model(torch.randn(1, in_channels, size, size)).shape == (1, num_classes)
    channels = [in_channels, *widths]
    expected = sum(9 * (c * w + w * w) + 2 * w for c, w in zip(channels, widths, strict=False))
    assert M.count_parameters(model) == expected + (widths[-1] + 1) * num_classes
    assert sum(isinstance(m, nn.Dropout) for m in model) == len(widths)


@pytest.mark.parametrize("build", [lambda: M.thesis_mlp(hidden=(1024,)), M.thesis_fcn])
def test_thesis_nets_use_he_init(build):
    torch.manual_seed(1)
    for layer in build().modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            w = layer.weight.detach().double()
            fan_in = w[0].numel()
            if w.numel() >= 10_000:
                assert w.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)
                assert abs(w.mean().item()) < 4 * math.sqrt(2 / fan_in / w.numel())
            assert torch.all(layer.bias == 0)


def test_thesis_nets_are_flat_sequentials_for_normalization_insertion():
    x = torch.randn(4, 3, 32, 32)
    for model in (M.thesis_mlp(hidden=(16, 8)), M.thesis_fcn(widths=(4, 8), dropout=0.2)):
        assert all(not list(m.children()) for m in model)
        with_bn = insert_batchnorm(model, example_input=x)
        assert with_bn(x).shape == (4, 10)


@pytest.mark.parametrize(
    ("channels", "size", "count"), [(1, 28, 61_706), (3, 32, 62_006), (3, 64, None)]
)
def test_lenet_shapes_and_size(channels, size, count):
    model = M.LeNet(num_classes=10, in_channels=channels, image_size=size)
    assert model(torch.randn(3, channels, size, size)).shape == (3, 10)
    assert model.conv1.out_channels == 6 and model.conv2.out_channels == 16
    assert (model.fc1.out_features, model.fc2.out_features) == (120, 84)
    if count is not None:
        assert M.count_parameters(model) == count
        assert model.fc1.in_features == 16 * 5 * 5


def blocks(model):
    return [b for stage in model.stages for b in stage]


def test_resnet20_layout_and_size():
    model = M.resnet20()
    assert M.count_parameters(model) == 272_474
    assert M.resnet20(100).fc.out_features == 100
    assert len(blocks(model)) == 9
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == 20
    downsample = [i for i, b in enumerate(blocks(model)) if b.downsample is not None]
    assert downsample == [3, 6]
    for i in downsample:
        conv, bn = blocks(model)[i].downsample
        assert conv.kernel_size == (1, 1) and conv.stride == (2, 2)
        assert isinstance(bn, nn.BatchNorm2d)
    sizes = []
    hooks = [s.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
             for s in model.stages]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    for h in hooks:
        h.remove()
    assert sizes == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]


def test_ordinary_block_keeps_its_input_on_the_skip():
    block = M.BasicBlock(4, 4).double().eval()
    for p in (block.conv1.weight, block.conv2.weight):
        nn.init.zeros_(p)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(block(x), torch.relu(x))


def test_resnet18_has_torchvision_keys_shapes_and_size():
    ours, theirs = M.resnet18(), torchvision.models.resnet18()
    assert M.count_parameters(ours) == 11_689_512
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape for k in a)
    ten = {k: v.shape for k, v in M.resnet18(num_classes=10).state_dict().items()}
    assert ten == {k: v.shape for k, v in torchvision.models.resnet18(num_classes=10)
                   .state_dict().items()}


def test_resnet18_loads_torchvision_weights_and_gives_the_same_outputs():
    theirs = torchvision.models.resnet18().double()
    with torch.no_grad():
        for m in theirs.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_()
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    ours = M.resnet18().double()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-10, atol=1e-10)
    ours.train()
    theirs.train()
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-10, atol=1e-10)


def test_count_parameters_trainable_only():
    model = M.resnet20()
    for p in model.parameters():
        p.requires_grad_(False)
    for p in model.fc.parameters():
        p.requires_grad_(True)
    assert M.count_parameters(model, trainable_only=True) == 64 * 10 + 10
    assert M.count_parameters(model) == 272_474


SMALL_FCN = {"in_shape": (1, 8, 8), "widths": (2, 3)}
# Activations after the input and each ReLU of the small fcn: (1, 8, 8), then (2, 8, 8),
# (2, 4, 4), (3, 4, 4), (3, 2, 2): one value each, per channel, or per element.
PLACES = [(1, 8, 8), (2, 8, 8), (2, 4, 4), (3, 4, 4), (3, 2, 2)]
PER_PLACE = {"layer": [1] * 5, "channel": [s[0] for s in PLACES],
             "element": [math.prod(s) for s in PLACES]}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_thesis_net_adds_the_variants_parameters_to_the_same_base(variant):
    base = M.count_parameters(M.thesis_net("fcn", "none", **SMALL_FCN))
    v = VARIANTS[variant]
    added = 2 * sum(s[0] for s in PLACES) if v.batch_norm else sum(
        sum(PER_PLACE[g]) for g in (v.shift, v.scale) if g is not None)
    model = M.thesis_net("fcn", variant, **SMALL_FCN)
    assert M.count_parameters(model) == base + added
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)


def weights(model):
    return [p for m in model if isinstance(m, nn.Linear | nn.Conv2d) for p in m.parameters()]


@pytest.mark.parametrize("arch", M.THESIS_ARCHS)
def test_thesis_net_starts_every_variant_from_the_same_he_init(arch):
    state = torch.random.get_rng_state()
    nets = {v: M.thesis_net(arch, v, in_shape=(1, 6, 6), widths=(4, 3), seed=3) for v in VARIANTS}
    assert torch.equal(torch.random.get_rng_state(), state)
    for net in nets.values():
        for p, q in zip(weights(net), weights(nets["none"]), strict=True):
            assert torch.equal(p, q)
    other = M.thesis_net(arch, "none", in_shape=(1, 6, 6), widths=(4, 3), seed=4)
    assert not torch.equal(weights(other)[0], weights(nets["none"])[0])


@pytest.mark.parametrize("arch", M.THESIS_ARCHS)
@pytest.mark.parametrize("variant", ["shift_scale_element", "shift_channel", "batch_norm"])
def test_thesis_net_inserts_after_the_input_and_every_activation_but_the_last(arch, variant):
    model = M.thesis_net(arch, variant, dropout=0.3, in_shape=(2, 6, 6), widths=(4, 3))
    new = (N.Shift, N.Scale, N.BatchNorm1d, N.BatchNorm2d)
    groups, previous = [], None
    for i, m in enumerate(model):
        if isinstance(m, new) and not isinstance(previous, new):
            groups.append(i)
        previous = m
    relus = [i for i, m in enumerate(model) if isinstance(m, nn.ReLU)]
    assert groups == [0, *(i + 1 for i in relus)]
    assert isinstance(model[-1], nn.Flatten | nn.Linear)  # no layers after the output scores
    stripped = [type(m) for m in model if not isinstance(m, new)]
    plain = M.thesis_net(arch, "none", dropout=0.3, in_shape=(2, 6, 6), widths=(4, 3))
    assert stripped == kinds(plain)


def test_thesis_net_gradients_of_shift_and_scale_equal_central_differences():
    """Autograd's gradient of the loss with respect to every Shift / Scale value of a whole
    net, float64, against central differences (gradcheck)."""
    model = M.thesis_net("fcn", "shift_scale_layer", in_shape=(1, 4, 4), widths=(2,)).double()
    x = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    y = torch.tensor([0, 3, 7])
    names = [name for name, _ in model.named_parameters()
             if isinstance(model.get_submodule(name.rsplit(".", 1)[0]), N.Shift | N.Scale)]
    assert len(names) == 6

    def loss(*values):
        out = torch.func.functional_call(model, dict(zip(names, values, strict=True)), (x,))
        return nn.functional.cross_entropy(out, y)

    start = tuple(torch.randn((), dtype=torch.float64, requires_grad=True) for _ in names)
    assert torch.autograd.gradcheck(loss, start)


def test_thesis_net_bad_arguments():
    for call, key in [(lambda: M.thesis_net("cnn"), "experiments.unknown_arch"),
                      (lambda: M.thesis_net("fcn", "shift_row"), "experiments.unknown_variant"),
                      (lambda: M.thesis_net("mlp", in_shape=(0, 3)), "experiments.bad_in_shape")]:
        with pytest.raises(CourseError) as err:
            call()
        assert err.value.key == key


# ResNet-20 with shift and scale layers in place of batch norm (lab 09, the thesis' further work)


def test_resnet20_variant_batch_norm_is_resnet20_with_the_same_weights_and_outputs():
    torch.manual_seed(3)
    reference = M.resnet20(num_classes=10, in_channels=1).double()
    variant = M.resnet20_variant("batch_norm", in_channels=1, seed=3).double()
    ours, theirs = variant.state_dict(), reference.state_dict()
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    x = torch.randn(4, 1, 14, 14, dtype=torch.float64)
    torch.testing.assert_close(variant(x), reference(x), rtol=1e-10, atol=1e-10)
    assert sum(isinstance(m, N.BatchNorm2d) for m in variant.modules()) == 21


@pytest.mark.parametrize("variant", ["shift_scale_layer", "shift_scale_channel"])
def test_resnet20_shift_scale_sits_where_batch_norm_was_and_starts_as_the_net_without_it(variant):
    plain = M.resnet20_variant("none", in_channels=1, widths=(4, 6, 8), seed=1).double()
    net = M.resnet20_variant(variant, in_channels=1, widths=(4, 6, 8), seed=1).double()
    assert not any(isinstance(m, nn.BatchNorm2d | N.BatchNorm2d) for m in plain.modules())
    pairs = [m for m in net.modules() if isinstance(m, nn.Sequential) and len(m) == 2
             and [type(c) for c in m] == [N.Shift, N.Scale]]
    assert len(pairs) == 21
    assert [type(c) for c in net.layer2[0].downsample[1]] == [N.Shift, N.Scale]
    x = torch.randn(3, 1, 14, 14, dtype=torch.float64)
    torch.testing.assert_close(net(x), plain(x), rtol=0, atol=0)
    reverse = M.resnet20_variant(variant, in_channels=1, widths=(4, 6, 8), order="scale_shift")
    assert [type(c) for c in reverse.bn1] == [N.Scale, N.Shift]


def test_resnet20_channel_shift_scale_learns_as_many_parameters_as_batch_norm():
    count = {v: M.count_parameters(M.resnet20_variant(v)) for v in M.RESNET_VARIANTS}
    assert count["batch_norm"] == count["shift_scale_channel"] == M.count_parameters(M.resnet20())
    assert count["shift_scale_layer"] - count["none"] == 2 * 21


def test_resnet20_variant_bad_arguments():
    for call, key in [(lambda: M.resnet20_variant("shift_element"), "experiments.unknown_variant"),
                      (lambda: M.resnet20_variant(widths=(16, 32)), "models.bad_resnet_widths"),
                      (lambda: M.resnet20_variant(widths=(16, 0, 64)), "models.bad_resnet_widths"),
                      (lambda: M.resnet20_variant(order="up"), "experiments.unknown_order")]:
        with pytest.raises(CourseError) as err:
            call()
        assert err.value.key == key
