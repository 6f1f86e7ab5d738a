"""From-scratch layers against torch (forward) and torch.autograd / central differences (backward).

Everything in float64, with shapes and seeds drawn by hypothesis.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

from course_lib import layers as L
from course_lib.i18n import CourseError, set_language

TOL = {"rtol": 1e-8, "atol": 1e-8}

seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(1, 4)


def randn(*shape, g):
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def torch_backward(fn, inputs, dout):
    """fn(*inputs) and the gradients of sum(fn(*inputs) * dout) by torch.autograd."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    out = fn(*leaves)
    out.backward(dout)
    return out.detach(), [leaf.grad for leaf in leaves]


def assert_gradcheck(f, x, analytic, dout=None):
    """The analytic gradient equals central differences up to their error (h = 1e-6)."""
    torch.testing.assert_close(L.gradcheck(f, x, dout), analytic, rtol=1e-6, atol=1e-7)


def assert_all_close(ours, theirs):
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TOL)


@given(n=sizes, dims=st.lists(sizes, min_size=1, max_size=2), m=sizes, seed=seeds)
def test_affine_matches_torch_and_gradcheck(n, dims, m, seed):
    g = torch.Generator().manual_seed(seed)
    x, w, b = randn(n, *dims, g=g), randn(math.prod(dims), m, g=g), randn(m, g=g)
    dout = randn(n, m, g=g)
    out, cache = L.affine_forward(x, w, b)
    grads = L.affine_backward(dout, cache)
    ref_out, ref_grads = torch_backward(lambda x, w, b: F.linear(x.flatten(1), w.T, b),
                                        [x, w, b], dout)
    assert_all_close([out, *grads], [ref_out, *ref_grads])
    assert grads[0].shape == x.shape
    assert_gradcheck(lambda x: L.affine_forward(x, w, b)[0], x, grads[0], dout)
    assert_gradcheck(lambda w: L.affine_forward(x, w, b)[0], w, grads[1], dout)


ELEMENTWISE = {
    "relu": (L.relu_forward, L.relu_backward, F.relu),
    "sigmoid": (L.sigmoid_forward, L.sigmoid_backward, torch.sigmoid),
    "tanh": (L.tanh_forward, L.tanh_backward, torch.tanh),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@given(shape=st.lists(sizes, min_size=1, max_size=3), seed=seeds)
def test_elementwise_layers_match_torch_and_gradcheck(name, shape, seed):
    forward, backward, reference = ELEMENTWISE[name]
    g = torch.Generator().manual_seed(seed)
    x, dout = 3 * randn(*shape, g=g), randn(*shape, g=g)
    out, cache = forward(x)
    dx = backward(dout, cache)
    ref_out, (ref_dx,) = torch_backward(reference, [x], dout)
    assert_all_close([out, dx], [ref_out, ref_dx])
    assert_gradcheck(lambda x: forward(x)[0], x, dx, dout)


@given(n=sizes, c=st.integers(2, 6), seed=seeds, scale=st.sampled_from([1.0, 100.0]))
def test_softmax_loss_matches_cross_entropy(n, c, seed, scale):
    g = torch.Generator().manual_seed(seed)
    x, y = scale * randn(n, c, g=g), torch.randint(c, (n,), generator=g)
    loss, dx = L.softmax_loss(x, y)
    ref_loss, (ref_dx,) = torch_backward(lambda x: F.cross_entropy(x, y), [x], None)
    assert_all_close([loss, dx], [ref_loss, ref_dx])
    if scale == 1.0:
        assert_gradcheck(lambda x: L.softmax_loss(x, y)[0], x, dx)


def test_softmax_loss_of_uniform_scores_is_log_c():
    loss, _ = L.softmax_loss(torch.zeros(5, 10, dtype=torch.float64), torch.zeros(5).long())
    assert loss.item() == pytest.approx(math.log(10))


@given(shape=st.lists(sizes, min_size=1, max_size=3), seed=seeds)
def test_mse_loss_matches_torch(shape, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = randn(*shape, g=g), randn(*shape, g=g)
    loss, dx = L.mse_loss(x, y)
    ref_loss, (ref_dx,) = torch_backward(lambda x: F.mse_loss(x, y), [x], None)
    assert_all_close([loss, dx], [ref_loss, ref_dx])
    assert_gradcheck(lambda x: L.mse_loss(x, y)[0], x, dx)


MANY = (400, 500)  # 200 000 units: the kept fraction is within 0.005 of q


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_inverted_dropout_scales_at_train_time(p):
    x = torch.ones(MANY, dtype=torch.float64)
    out, _ = L.dropout_forward(x, p, train=True, inverted=True)
    kept = out != 0
    assert kept.double().mean().item() == pytest.approx(1 - p, abs=0.005)
    assert torch.equal(out[kept], x[kept] / (1 - p))
    assert out.mean().item() == pytest.approx(1.0, abs=0.02)  # E[out] = x already
    test_out, _ = L.dropout_forward(x, p, train=False, inverted=True)
    assert torch.equal(test_out, x)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_vanilla_dropout_scales_at_test_time(p):
    x = torch.ones(MANY, dtype=torch.float64)
    out, _ = L.dropout_forward(x, p, train=True, inverted=False)
    kept = out != 0
    assert kept.double().mean().item() == pytest.approx(1 - p, abs=0.005)
    assert torch.equal(out[kept], x[kept])
    test_out, _ = L.dropout_forward(x, p, train=False, inverted=False)
    assert torch.equal(test_out, (1 - p) * x)
    assert out.mean().item() == pytest.approx(test_out.mean().item(), abs=0.01)


def test_inverted_dropout_keeps_what_torch_keeps_with_the_same_scale():
    x = torch.ones(MANY, dtype=torch.float64)
    ours, _ = L.dropout_forward(x, 0.3)
    theirs = F.dropout(x, 0.3, training=True)
    assert set(ours.unique().tolist()) == set(theirs.unique().tolist()) == {0.0, 1 / 0.7}


@pytest.mark.parametrize("inverted", [True, False])
@pytest.mark.parametrize("train", [True, False])
@given(shape=st.lists(sizes, min_size=1, max_size=3), p=st.floats(0.0, 0.9), seed=seeds)
def test_dropout_backward_uses_the_forward_mask(inverted, train, shape, p, seed):
    g = torch.Generator().manual_seed(seed)
    x, dout = randn(*shape, g=g), randn(*shape, g=g)

    def forward(x):
        return L.dropout_forward(x, p, train, inverted, torch.Generator().manual_seed(seed))

    out, cache = forward(x)
    dx = L.dropout_backward(dout, cache)
    ref_out, (ref_dx,) = torch_backward(lambda x: forward(x)[0], [x], dout)
    assert_all_close([out, dx], [ref_out, ref_dx])
    assert_gradcheck(lambda x: forward(x)[0], x, dx, dout)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_refuses_a_probability_outside_0_1(p):
    with pytest.raises(CourseError) as error:
        L.dropout_forward(torch.ones(3), p)
    assert isinstance(error.value, ValueError) and "[0, 1)" in str(error.value)


def batchnorm_case(shape, seed):
    """x with a mean and scale per feature, gamma, beta, running mean and variance, dout."""
    g = torch.Generator().manual_seed(seed)
    c = shape[1]
    x = 2 * randn(*shape, g=g) + randn(1, c, *[1] * (len(shape) - 2), g=g)
    gamma, beta = randn(c, g=g), randn(c, g=g)
    running_mean, running_var = randn(c, g=g), randn(c, g=g).exp()
    return x, gamma, beta, running_mean, running_var, randn(*shape, g=g)


bn_shapes = st.one_of(
    st.tuples(st.integers(2, 6), sizes),                      # (N, D)
    st.tuples(sizes, sizes, st.integers(1, 3), st.integers(2, 3)),  # (N, C, H, W)
)


@given(shape=bn_shapes, momentum=st.floats(0.0, 1.0), eps=st.sampled_from([1e-5, 1e-3]),
       seed=seeds)
def test_batchnorm_train_matches_torch_including_running_stats(shape, momentum, eps, seed):
    x, gamma, beta, rm, rv, dout = batchnorm_case(shape, seed)
    ref_rm, ref_rv = rm.clone(), rv.clone()
    out, cache = L.batchnorm_forward(x, gamma, beta, rm, rv, True, momentum, eps)
    grads = L.batchnorm_backward(dout, cache)
    ref_out, ref_grads = torch_backward(
        lambda x, gamma, beta: F.batch_norm(x, ref_rm, ref_rv, gamma, beta, True, momentum, eps),
        [x, gamma, beta], dout)
    assert_all_close([out, *grads, rm, rv], [ref_out, *ref_grads, ref_rm, ref_rv])


@given(shape=bn_shapes, seed=seeds)
def test_batchnorm_eval_uses_running_stats_like_torch(shape, seed):
    x, gamma, beta, rm, rv, dout = batchnorm_case(shape, seed)
    out, cache = L.batchnorm_forward(x, gamma, beta, rm, rv, train=False)
    grads = L.batchnorm_backward(dout, cache)
    ref_out, ref_grads = torch_backward(
        lambda x, gamma, beta: F.batch_norm(x, rm, rv, gamma, beta, training=False),
        [x, gamma, beta], dout)
    assert_all_close([out, *grads], [ref_out, *ref_grads])


@given(shape=bn_shapes, seed=seeds)
def test_batchnorm_train_backward_passes_gradcheck(shape, seed):
    x, gamma, beta, _, _, dout = batchnorm_case(shape, seed)

    def forward(x, gamma, beta):
        return L.batchnorm_forward(x, gamma, beta, None, None, train=True)[0]

    dx, dgamma, _ = L.batchnorm_backward(dout, L.batchnorm_forward(x, gamma, beta, None, None)[1])
    assert_gradcheck(lambda x: forward(x, gamma, beta), x, dx, dout)
    assert_gradcheck(lambda gamma: forward(x, gamma, beta), gamma, dgamma, dout)


def test_batchnorm_train_output_has_zero_mean_and_unit_variance_per_feature():
    x = 5 + 3 * torch.randn(64, 4, dtype=torch.float64)
    ones, zeros = torch.ones(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    out, _ = L.batchnorm_forward(x, ones, zeros, None, None, eps=0.0)
    torch.testing.assert_close(out.mean(dim=0), zeros, **TOL)
    torch.testing.assert_close(out.var(dim=0, correction=0), ones, **TOL)


@st.composite
def conv_cases(draw):
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    hh, ww = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, pad = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    assume(h + 2 * pad >= hh and w + 2 * pad >= ww)
    return (n, c, h, w), (f, c, hh, ww), stride, pad


@given(case=conv_cases(), seed=seeds)
def test_conv_matches_conv2d_forward_and_backward(case, seed):
    x_shape, w_shape, stride, pad = case
    g = torch.Generator().manual_seed(seed)
    x, w, b = randn(*x_shape, g=g), randn(*w_shape, g=g), randn(w_shape[0], g=g)
    out, cache = L.conv_forward_naive(x, w, b, stride, pad)
    dout = randn(*out.shape, g=g)
    grads = L.conv_backward_naive(dout, cache)
    ref_out, ref_grads = torch_backward(
        lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=pad), [x, w, b], dout)
    assert_all_close([out, *grads], [ref_out, *ref_grads])


def test_conv_backward_passes_gradcheck():
    g = torch.Generator().manual_seed(0)
    x, w, b = randn(2, 3, 5, 5, g=g), randn(2, 3, 3, 3, g=g), randn(2, g=g)
    out, cache = L.conv_forward_naive(x, w, b, stride=2, pad=1)
    dout = randn(*out.shape, g=g)
    dx, dw, db = L.conv_backward_naive(dout, cache)

    def forward(x=x, w=w, b=b):
        return L.conv_forward_naive(x, w, b, stride=2, pad=1)[0]

    assert_gradcheck(lambda x: forward(x=x), x, dx, dout)
    assert_gradcheck(lambda w: forward(w=w), w, dw, dout)
    assert_gradcheck(lambda b: forward(b=b), b, db, dout)


def test_gradcheck_of_a_known_gradient_and_x_is_restored():
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    before = x.clone()
    numeric = L.gradcheck(lambda x: (x**3).sum(), x)
    torch.testing.assert_close(numeric, 3 * x**2, rtol=1e-8, atol=1e-8)
    assert torch.equal(x, before)


def test_rel_error_is_relative_and_printed(capsys):
    a = torch.tensor([1.0, 100.0], dtype=torch.float64)
    assert L.rel_error(a, a) == 0.0
    assert L.rel_error(a, a * (1 + 1e-6)) == pytest.approx(0.5e-6, rel=1e-3)
    err = L.print_rel_error("dx", a, a + 1e-9)
    assert capsys.readouterr().out == f"dx: rel_error = {err:.2e}\n"


def test_rel_error_is_printed_with_the_languages_decimal_comma(capsys):
    a = torch.tensor([1.0, 100.0], dtype=torch.float64)
    set_language("sk")
    try:
        err = L.print_rel_error("dx", a, a * (1 + 1.63e-15))
    finally:
        set_language("en")
    assert capsys.readouterr().out == f"dx: rel_error = {err:.2e}\n".replace(".", ",")


def test_batchnorm_on_a_batch_of_one_is_refused_and_leaves_the_running_variance_alone():
    running_mean = torch.zeros(3, dtype=torch.float64)
    running_var = torch.ones(3, dtype=torch.float64)
    x = torch.randn(1, 3, dtype=torch.float64)
    with pytest.raises(CourseError) as error:
        L.batchnorm_forward(x, torch.ones(3, dtype=torch.float64),
                            torch.zeros(3, dtype=torch.float64), running_mean, running_var)
    assert error.value.key == "layers.batch_of_one"
    assert torch.equal(running_var, torch.ones(3, dtype=torch.float64))
    out, _ = L.batchnorm_forward(x, torch.ones(3, dtype=torch.float64),
                                 torch.zeros(3, dtype=torch.float64), running_mean, running_var,
                                 train=False)
    assert torch.isfinite(out).all()


def test_gradcheck_takes_only_floating_point_inputs():
    """An integer x cannot hold x + h: the old answer for d(x^2)/dx at 1 was 1e6, not 2."""
    with pytest.raises(CourseError) as error:
        L.gradcheck(lambda x: (x * x).sum(), torch.tensor([1]))
    assert error.value.fields["name"] == "x"
    grad = L.gradcheck(lambda x: (x * x).sum(), torch.tensor([1.0], dtype=torch.float64))
    assert grad.item() == pytest.approx(2.0)


def test_mse_loss_refuses_shapes_that_would_broadcast():
    prediction = torch.arange(8, dtype=torch.float64).reshape(8, 1)
    with pytest.raises(CourseError) as error:
        L.mse_loss(prediction, prediction.flatten())
    assert error.value.key == "validation.shapes_differ"
    assert L.mse_loss(prediction, prediction.clone())[0].item() == 0.0


# Layer norm and group norm: per example, so they also work for a batch of one (N = 1).

norm_shapes = st.one_of(
    st.tuples(sizes, st.integers(2, 6)),                                # (N, D)
    st.tuples(sizes, st.sampled_from([2, 4, 6]), st.integers(1, 3), st.integers(1, 3)),
)


def norm_case(shape, param_shape, seed):
    g = torch.Generator().manual_seed(seed)
    x = 2 * randn(*shape, g=g) + randn(shape[0], *[1] * (len(shape) - 1), g=g)
    return x, randn(*param_shape, g=g), randn(*param_shape, g=g), randn(*shape, g=g)


@given(shape=norm_shapes, eps=st.sampled_from([1e-5, 1e-3]), seed=seeds)
def test_layernorm_matches_torch_forward_and_backward(shape, eps, seed):
    x, gamma, beta, dout = norm_case(shape, shape[1:], seed)
    out, cache = L.layernorm_forward(x, gamma, beta, eps)
    grads = L.layernorm_backward(dout, cache)
    ref_out, ref_grads = torch_backward(
        lambda x, gamma, beta: F.layer_norm(x, x.shape[1:], gamma, beta, eps),
        [x, gamma, beta], dout)
    assert_all_close([out, *grads], [ref_out, *ref_grads])


@given(shape=norm_shapes, groups=st.sampled_from([1, 2]), eps=st.sampled_from([1e-5, 1e-3]),
       seed=seeds)
def test_groupnorm_matches_torch_forward_and_backward(shape, groups, eps, seed):
    assume(shape[1] % groups == 0 and math.prod(shape[1:]) // groups > 1)  # torch's own limit
    x, gamma, beta, dout = norm_case(shape, shape[1:2], seed)
    out, cache = L.groupnorm_forward(x, gamma, beta, groups, eps)
    grads = L.groupnorm_backward(dout, cache)
    ref_out, ref_grads = torch_backward(
        lambda x, gamma, beta: F.group_norm(x, groups, gamma, beta, eps), [x, gamma, beta], dout)
    assert_all_close([out, *grads], [ref_out, *ref_grads])


@given(shape=norm_shapes, seed=seeds)
def test_layer_and_group_norm_backward_pass_gradcheck(shape, seed):
    x, gamma, beta, dout = norm_case(shape, shape[1:], seed)
    dx, dgamma, _ = L.layernorm_backward(dout, L.layernorm_forward(x, gamma, beta)[1])
    assert_gradcheck(lambda x: L.layernorm_forward(x, gamma, beta)[0], x, dx, dout)
    assert_gradcheck(lambda gamma: L.layernorm_forward(x, gamma, beta)[0], gamma, dgamma, dout)
    x, gamma, beta, dout = norm_case(shape, shape[1:2], seed)
    groups = 2 if shape[1] % 2 == 0 else 1
    dx, _, _ = L.groupnorm_backward(dout, L.groupnorm_forward(x, gamma, beta, groups)[1])
    assert_gradcheck(lambda x: L.groupnorm_forward(x, gamma, beta, groups)[0], x, dx, dout)


def test_groupnorm_with_one_channel_per_group_is_instance_norm():
    x = randn(2, 4, 3, 3, g=torch.Generator().manual_seed(0))
    ones, zeros = torch.ones(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    out, _ = L.groupnorm_forward(x, ones, zeros, groups=4)
    torch.testing.assert_close(out, F.instance_norm(x), **TOL)


def test_groupnorm_rejects_groups_that_do_not_divide_the_channels():
    x = torch.zeros(2, 6, dtype=torch.float64)
    with pytest.raises(CourseError, match="groups=4") as error:
        L.groupnorm_forward(x, torch.ones(6), torch.zeros(6), groups=4)
    assert "C=6" in str(error.value)


@given(case=conv_cases(), seed=seeds)
def test_conv_by_im2col_equals_conv2d_and_the_loops(case, seed):
    x_shape, w_shape, stride, pad = case
    g = torch.Generator().manual_seed(seed)
    x, w, b = randn(*x_shape, g=g), randn(*w_shape, g=g), randn(w_shape[0], g=g)
    out = L.conv_forward_im2col(x, w, b, stride, pad)
    torch.testing.assert_close(out, F.conv2d(x, w, b, stride=stride, padding=pad), **TOL)
    torch.testing.assert_close(out, L.conv_forward_naive(x, w, b, stride, pad)[0], **TOL)
    cols = L.im2col(x, w_shape[2], w_shape[3], stride, pad)
    torch.testing.assert_close(
        cols, F.unfold(x, w_shape[2:], padding=pad, stride=stride), **TOL)
    assert out.shape[2:] == (L.conv_output_size(x_shape[2], w_shape[2], stride, pad),
                             L.conv_output_size(x_shape[3], w_shape[3], stride, pad))


@st.composite
def pool_cases(draw):
    kernel = draw(st.integers(1, 3))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    pad = draw(st.integers(0, kernel // 2))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    assume(h + 2 * pad >= kernel and w + 2 * pad >= kernel)
    return (draw(sizes), draw(sizes), h, w), kernel, stride, pad


@given(case=pool_cases(), seed=seeds)
def test_max_and_avg_pooling_equal_torch(case, seed):
    shape, kernel, stride, pad = case
    x = randn(*shape, g=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(L.max_pool_forward(x, kernel, stride, pad),
                               F.max_pool2d(x, kernel, stride, pad), **TOL)
    torch.testing.assert_close(L.avg_pool_forward(x, kernel, stride, pad),
                               F.avg_pool2d(x, kernel, stride, pad), **TOL)


def test_receptive_field_grows_by_k_minus_1_times_the_product_of_earlier_strides():
    assert L.receptive_field([3, 3, 3], [1, 1, 1]) == [3, 5, 7]
    # ResNet's stem: 7x7 stride 2, 3x3 max pooling stride 2, then a 3x3 convolution
    assert L.receptive_field([7, 3, 3], [2, 2, 1]) == [7, 11, 19]


def test_receptive_field_is_the_set_of_inputs_an_output_pixel_depends_on():
    x = torch.zeros(1, 1, 41, 41, dtype=torch.float64, requires_grad=True)
    kernels, strides = [3, 2, 3, 3], [1, 2, 2, 1]
    out = x
    for k, s in zip(kernels, strides, strict=True):
        out = F.conv2d(out, torch.ones(1, 1, k, k, dtype=torch.float64), stride=s)
    out[0, 0, 0, 0].backward()
    rows = (x.grad[0, 0] != 0).any(dim=1).nonzero()
    assert len(rows) == L.receptive_field(kernels, strides)[-1]


@pytest.mark.parametrize("call", [
    lambda: L.conv_output_size(3, 6, 1, 1),
    lambda: L.conv_output_size(3, 3, 0, 1),
    lambda: L.max_pool_forward(torch.zeros(1, 1, 4, 4), 2, 2, pad=2),
    lambda: L.avg_pool_forward(torch.zeros(4, 4), 2),
    lambda: L.conv_forward_im2col(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 3, 3),
                                  torch.zeros(1)),
    lambda: L.receptive_field([3, 3], [1]),
])
def test_bad_conv_and_pool_arguments_raise_course_error(call):
    with pytest.raises(CourseError):
        call()
