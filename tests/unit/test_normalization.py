"""course_lib.normalization: batch norm equals torch's; shift and scale layers; insertion."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from course_lib import CourseError
from course_lib import normalization as N

seeds = st.integers(0, 2**31)
momenta = st.sampled_from([0.1, 0.5, None])
TOL = {"rtol": 1e-10, "atol": 1e-10}


def pair(ours, theirs, kwargs):
    torch.manual_seed(0)
    a, b = ours(**kwargs).double(), theirs(**kwargs).double()
    if a.affine:
        with torch.no_grad():
            for p, q in zip(a.parameters(), b.parameters(), strict=True):
                p.copy_(torch.randn_like(p))
                q.copy_(p)
    return a, b


def run_steps(ours, theirs, shape, seed, steps=3):
    """Several training steps, then evaluation: outputs, input and parameter gradients, stats."""
    g = torch.Generator().manual_seed(seed)
    for step in range(steps + 1):
        if step == steps:
            ours.eval()
            theirs.eval()
        x = (2 * torch.randn(shape, generator=g, dtype=torch.float64) + 1).requires_grad_(True)
        upstream = torch.randn(shape, generator=g, dtype=torch.float64)
        y_ours, y_theirs = ours(x), theirs(x)
        torch.testing.assert_close(y_ours, y_theirs, **TOL)
        inputs_ours = [x, *ours.parameters()]
        inputs_theirs = [x, *theirs.parameters()]
        for a, b in zip(torch.autograd.grad(y_ours, inputs_ours, upstream),
                        torch.autograd.grad(y_theirs, inputs_theirs, upstream), strict=True):
            torch.testing.assert_close(a, b, **TOL)
        for name, buffer in theirs.named_buffers():
            torch.testing.assert_close(getattr(ours, name), buffer, **TOL)


@given(seed=seeds, n=st.integers(2, 8), c=st.integers(1, 5), length=st.sampled_from([(), (3,)]),
       momentum=momenta, affine=st.booleans(), track=st.booleans())
def test_batchnorm1d_equals_torchs(seed, n, c, length, momentum, affine, track):
    kwargs = dict(num_features=c, momentum=momentum, affine=affine, track_running_stats=track)
    ours, theirs = pair(N.BatchNorm1d, nn.BatchNorm1d, kwargs)
    run_steps(ours, theirs, (n, c, *length), seed)


@given(seed=seeds, n=st.integers(1, 4), c=st.integers(1, 4), hw=st.integers(2, 4),
       momentum=momenta, affine=st.booleans(), eps=st.sampled_from([1e-5, 1e-3]))
def test_batchnorm2d_equals_torchs(seed, n, c, hw, momentum, affine, eps):
    kwargs = dict(num_features=c, eps=eps, momentum=momentum, affine=affine)
    ours, theirs = pair(N.BatchNorm2d, nn.BatchNorm2d, kwargs)
    run_steps(ours, theirs, (n, c, hw, hw), seed)


def test_batchnorm_state_dict_loads_into_torchs():
    ours = N.BatchNorm2d(3)
    ours(torch.randn(4, 3, 2, 2))
    theirs = nn.BatchNorm2d(3)
    theirs.load_state_dict(ours.state_dict())
    assert theirs.num_batches_tracked.item() == 1


def test_batchnorm_training_output_has_zero_mean_unit_variance_per_channel():
    y = N.BatchNorm2d(3, affine=False).double()(5 * torch.randn(8, 3, 4, 4, dtype=torch.float64))
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(y.var(dim=(0, 2, 3), unbiased=False),
                               torch.ones(3, dtype=torch.float64), rtol=1e-5, atol=0)


def test_batchnorm_rejects_the_wrong_rank():
    with pytest.raises(CourseError) as info:
        N.BatchNorm2d(3)(torch.randn(4, 3))
    assert info.value.key == "normalization.bad_input_dim"
    with pytest.raises(ValueError, match="4D"):
        N.BatchNorm1d(3)(torch.randn(4, 3, 2, 2))


def test_batchnorm_needs_two_values_per_channel_in_training():
    with pytest.raises(CourseError) as info:
        N.BatchNorm1d(3)(torch.randn(1, 3))
    assert info.value.key == "normalization.one_value"
    layer = N.BatchNorm1d(3).eval()
    assert layer(torch.randn(1, 3)).shape == (1, 3)


PER_EXAMPLE = [(5,), (3, 4, 4)]
COUNTS = {"element": {(5,): 5, (3, 4, 4): 48}, "channel": {(5,): 5, (3, 4, 4): 3},
          "layer": {(5,): 1, (3, 4, 4): 1}}


@pytest.mark.parametrize("granularity", N.GRANULARITIES)
@pytest.mark.parametrize("shape", PER_EXAMPLE)
@pytest.mark.parametrize("layer", [N.Shift, N.Scale])
def test_parameter_count_per_granularity(layer, shape, granularity):
    assert N.num_parameters(layer(shape, granularity)) == COUNTS[granularity][shape]


def test_an_int_shape_means_features():
    assert N.Shift(7, "element").b.shape == (7,)
    assert N.Scale(7, "layer").a.shape == ()


def test_shift_starts_at_zero_and_scale_at_one():
    x = torch.randn(2, 3, 4, 4)
    for granularity in N.GRANULARITIES:
        assert torch.equal(N.Shift((3, 4, 4), granularity)(x), x)
        assert torch.equal(N.Scale((3, 4, 4), granularity)(x), x)


def expanded(param, granularity, shape):
    """The parameter written out for every activation of one example."""
    if granularity == "channel":
        param = param.view(-1, *[1] * (len(shape) - 1))
    return param.expand(shape)


def random_layer(layer, shape, granularity, g):
    module = layer(shape, granularity).double()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    return module


@given(seed=seeds, n=st.integers(1, 4), shape=st.sampled_from(PER_EXAMPLE),
       granularity=st.sampled_from(N.GRANULARITIES))
def test_shift_adds_b_and_its_gradient_sums_upstream(seed, n, shape, granularity):
    g = torch.Generator().manual_seed(seed)
    layer = random_layer(N.Shift, shape, granularity, g)
    x = torch.randn((n, *shape), generator=g, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn((n, *shape), generator=g, dtype=torch.float64)
    y = layer(x)
    b = expanded(layer.b, granularity, shape)
    torch.testing.assert_close(y, x + b, rtol=0, atol=0)
    dx, db = torch.autograd.grad(y, [x, layer.b], upstream)
    torch.testing.assert_close(dx, upstream, rtol=0, atol=0)
    expected_db = torch.autograd.grad(b, layer.b, upstream.sum(dim=0))[0]
    torch.testing.assert_close(db, expected_db, rtol=1e-12, atol=1e-12)


@given(seed=seeds, n=st.integers(1, 4), shape=st.sampled_from(PER_EXAMPLE),
       granularity=st.sampled_from(N.GRANULARITIES))
def test_scale_multiplies_by_a_and_its_gradient_sums_upstream_times_x(seed, n, shape,
                                                                       granularity):
    g = torch.Generator().manual_seed(seed)
    layer = random_layer(N.Scale, shape, granularity, g)
    x = torch.randn((n, *shape), generator=g, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn((n, *shape), generator=g, dtype=torch.float64)
    y = layer(x)
    a = expanded(layer.a, granularity, shape)
    torch.testing.assert_close(y, a * x, rtol=0, atol=0)
    dx, da = torch.autograd.grad(y, [x, layer.a], upstream)
    torch.testing.assert_close(dx, a * upstream, rtol=1e-12, atol=0)
    expected_da = torch.autograd.grad(a, layer.a, (upstream * x).sum(dim=0))[0]
    torch.testing.assert_close(da, expected_da, rtol=1e-12, atol=1e-12)


def test_channel_sums_over_batch_and_positions():
    layer = N.Shift((2, 3, 3), "channel")
    layer(torch.zeros(4, 2, 3, 3)).sum().backward()
    assert layer.b.grad.tolist() == [36.0, 36.0]


@pytest.mark.parametrize("granularity", N.GRANULARITIES)
@pytest.mark.parametrize("kind", [N.Shift, N.Scale])
def test_shift_and_scale_pass_gradcheck(kind, granularity):
    """Autograd's gradients of the layer equal central differences."""
    layer = kind((3, 2, 2), granularity).double()
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, p: layer(x), (x, next(layer.parameters())))


def test_unknown_granularity():
    for make in [lambda: N.Shift(3, "neuron"), lambda: N.Scale(3, "pixel"),
                 lambda: N.insert_shift_scale(mlp(), shift="row", example_input=torch.ones(2, 4))]:
        with pytest.raises(CourseError) as info:
            make()
        assert info.value.key == "normalization.unknown_granularity"


def mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(8, 3))


def cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 3, stride=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(5 * 3 * 3, 10), nn.Softmax(dim=1))


def kinds(model):
    return [type(m).__name__ for m in model]


def test_shift_scale_go_after_the_input_and_every_activation_but_the_last():
    model = N.insert_shift_scale(mlp(), shift="layer", scale="layer",
                                 example_input=torch.ones(2, 4))
    assert kinds(model) == ["Shift", "Scale", "Linear", "ReLU", "Shift", "Scale", "Linear",
                            "ReLU", "Shift", "Scale", "Dropout", "Linear"]


def test_the_thesis_order_shifts_then_scales_and_the_other_order_scales_then_shifts():
    x = torch.randn(5, 4, dtype=torch.float64)
    for order, expected in (("shift_scale", lambda a, b: a * (x + b)),
                            ("scale_shift", lambda a, b: a * x + b)):
        model = N.insert_shift_scale(nn.Sequential(nn.Linear(4, 2).double()), "layer", "layer",
                                     example_input=x, order=order)
        assert kinds(model)[:2] == [w.capitalize() for w in order.split("_")]
        shift, scale = (next(m for m in model if isinstance(m, kind))
                        for kind in (N.Shift, N.Scale))
        shift.b.data.fill_(0.5)
        scale.a.data.fill_(3.0)
        torch.testing.assert_close(model[:2](x), expected(3.0, 0.5))
    assert N.ORDERS == ("shift_scale", "scale_shift")


def test_an_unknown_order_is_refused_with_the_choices():
    for insert in (lambda: N.insert_shift_scale(mlp(), "layer", "layer", order="both",
                                                example_input=torch.ones(2, 4)),
                   lambda: N.insert_variant(mlp(), "none", order="both",
                                            example_input=torch.ones(2, 4))):
        with pytest.raises(CourseError) as info:
            insert()
        assert info.value.key == "experiments.unknown_order"
        assert "shift_scale" in str(info.value)


def test_the_output_softmax_is_the_last_activation():
    model = N.insert_shift_scale(cnn(), shift="element", scale="channel",
                                 example_input=torch.ones(2, 3, 9, 9))
    assert kinds(model) == ["Shift", "Scale", "Conv2d", "ReLU", "Shift", "Scale", "Conv2d",
                            "ReLU", "Shift", "Scale", "Flatten", "Linear", "Softmax"]
    shifts = [m.b.shape for m in model if isinstance(m, N.Shift)]
    scales = [m.a.shape for m in model if isinstance(m, N.Scale)]
    assert shifts == [(3, 9, 9), (4, 7, 7), (5, 3, 3)]
    assert scales == [(3,), (4,), (5,)]


@pytest.mark.parametrize(("shift", "scale", "inserted"), [
    (None, None, []), ("channel", None, ["Shift"]), (None, "element", ["Scale"])])
def test_either_layer_may_be_left_out(shift, scale, inserted):
    model = N.insert_shift_scale(mlp(), shift, scale, example_input=torch.ones(2, 4))
    assert kinds(model) == [*inserted, "Linear", "ReLU", *inserted, "Linear", "ReLU", *inserted,
                            "Dropout", "Linear"]


def test_insertion_copies_weights_and_keeps_the_function_at_init():
    original = cnn().double()
    x = torch.randn(5, 3, 9, 9, dtype=torch.float64)
    model = N.insert_shift_scale(original, "element", "element", example_input=x)
    torch.testing.assert_close(model(x), original(x), rtol=0, atol=0)
    model[2].weight.data.zero_()
    assert original[0].weight.abs().sum() > 0
    assert all(p.dtype == torch.float64 for p in model.parameters())


def test_insertion_keeps_the_mode_and_draws_no_random_numbers():
    original = mlp().eval()
    state = torch.random.get_rng_state()
    model = N.insert_shift_scale(original, "layer", "layer", example_input=torch.ones(2, 4))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert not any(m.training for m in model.modules())
    assert all(m.training for m in N.insert_batchnorm(mlp(), example_input=torch.ones(2, 4))
               .modules())


def test_batchnorm_goes_where_shift_and_scale_go():
    model = N.insert_batchnorm(cnn(), example_input=torch.ones(2, 3, 9, 9))
    assert kinds(model) == ["BatchNorm2d", "Conv2d", "ReLU", "BatchNorm2d", "Conv2d", "ReLU",
                            "BatchNorm2d", "Flatten", "Linear", "Softmax"]
    assert [m.num_features for m in model if isinstance(m, N.BatchNorm2d)] == [3, 4, 5]
    model = N.insert_batchnorm(mlp(), example_input=torch.ones(2, 4))
    assert [m.num_features for m in model if isinstance(m, N.BatchNorm1d)] == [4, 8, 8]
    assert model(torch.randn(6, 4)).shape == (6, 3)


def test_reprs_name_the_shape_and_granularity():
    assert repr(N.Shift((3, 4, 4), "channel")) == "Shift((3,), granularity='channel')"
    assert repr(N.Scale(5, "layer")) == "Scale((), granularity='layer')"
    assert repr(N.BatchNorm1d(4, momentum=None)) == (
        "BatchNorm1d(4, eps=1e-05, momentum=None, affine=True, track_running_stats=True)")


THESIS_TABLE = {  # (scale, shift) cells ticked in the thesis defence's table
    (None, None), ("element", None), ("channel", None), ("layer", None),
    (None, "element"), ("element", "element"),
    (None, "channel"), ("channel", "channel"),
    (None, "layer"), ("layer", "layer"),
}


def test_the_ten_tested_combinations_and_no_others():
    assert N.TESTED_COMBINATIONS == THESIS_TABLE
    new = [v for v in N.VARIANTS.values() if not v.batch_norm]
    assert len(new) == 10 == len({(v.scale, v.shift) for v in new})
    assert list(N.VARIANTS)[0] == "none" and list(N.VARIANTS)[-1] == "batch_norm"
    assert len(N.VARIANTS) == 11
    assert all(name == v.name for name, v in N.VARIANTS.items())
    assert set(N.LAYERWISE) == {"none", "scale_layer", "shift_layer", "shift_scale_layer",
                                "batch_norm"}


@pytest.mark.parametrize("order", N.ORDERS)
@pytest.mark.parametrize("name", list(N.VARIANTS))
def test_insert_variant_puts_its_layers_at_every_place(name, order):
    variant = N.VARIANTS[name]
    model = N.insert_variant(mlp(), name, example_input=torch.ones(2, 4), order=order)
    present = {"Shift": variant.shift is not None, "Scale": variant.scale is not None}
    expected = (["BatchNorm1d"] if variant.batch_norm else
                [kind for kind in (w.capitalize() for w in order.split("_")) if present[kind]])
    assert kinds(model) == [*expected, "Linear", "ReLU", *expected, "Linear", "ReLU", *expected,
                            "Dropout", "Linear"]
    granularities = {m.granularity for m in model if isinstance(m, N.Shift | N.Scale)}
    assert granularities <= {variant.shift, variant.scale}


def test_unknown_variant():
    with pytest.raises(CourseError) as info:
        N.insert_variant(mlp(), "shift_scale_mixed", example_input=torch.ones(2, 4))
    assert info.value.key == "experiments.unknown_variant"


def test_inserting_into_a_model_it_cannot_handle_is_explained():
    with pytest.raises(CourseError) as info:
        N.insert_shift_scale(nn.Linear(2, 2), "layer", example_input=torch.zeros(1, 2))
    assert info.value.key == "normalization.not_sequential"
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with pytest.raises(CourseError) as info:
        N.insert_shift_scale(model, "layer", example_input=torch.zeros(4, 5))
    assert info.value.key == "normalization.example_failed" and info.value.fields["index"] == 0


def test_shift_and_scale_refuse_an_input_of_another_shape_instead_of_broadcasting():
    with pytest.raises(CourseError) as info:
        N.Scale(4, "element")(torch.zeros(2, 1))
    assert info.value.key == "normalization.shape_mismatch"
    with pytest.raises(CourseError):
        N.BatchNorm1d(4)(torch.zeros(8, 1))
