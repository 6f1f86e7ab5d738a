"""course_lib.regularization: penalties as hand sums, dropout as its definition."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from course_lib import CourseError, losses
from course_lib import regularization as R

seeds = st.integers(0, 2**31)
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3)
drop = st.floats(0.0, 1.0)


def tensors(seed, shapes):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in shapes]


def net():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 2)).double()


@given(seed=seeds, shapes=st.lists(shapes, min_size=1, max_size=3))
def test_l1_is_the_sum_of_absolute_values_with_gradient_sign(seed, shapes):
    ws = tensors(seed, shapes)
    penalty = R.l1_penalty(ws)
    assert penalty.item() == pytest.approx(sum(w.abs().sum().item() for w in ws), rel=1e-12)
    for w, g in zip(ws, torch.autograd.grad(penalty, ws), strict=True):
        assert torch.equal(g, torch.sign(w))


@given(seed=seeds, shapes=st.lists(shapes, min_size=1, max_size=3))
def test_l2_is_the_sum_of_squares_with_gradient_2w(seed, shapes):
    ws = tensors(seed, shapes)
    penalty = R.l2_penalty(ws)
    assert penalty.item() == pytest.approx(sum((w**2).sum().item() for w in ws), rel=1e-12)
    for w, g in zip(ws, torch.autograd.grad(penalty, ws), strict=True):
        torch.testing.assert_close(g, 2 * w, rtol=1e-12, atol=0)


@given(seed=seeds, shapes=st.lists(shapes, min_size=1, max_size=3), l1=st.floats(0, 10),
       l2=st.floats(0, 10))
def test_elastic_net_is_l1_times_sum_abs_plus_l2_times_sum_squares(seed, shapes, l1, l2):
    ws = tensors(seed, shapes)
    penalty = R.elastic_net_penalty(ws, l1, l2)
    expected = sum(l1 * w.abs().sum() + l2 * (w**2).sum() for w in ws)
    torch.testing.assert_close(penalty, expected, rtol=1e-12, atol=1e-12)
    for w, g in zip(ws, torch.autograd.grad(penalty, ws), strict=True):
        torch.testing.assert_close(g, l1 * torch.sign(w) + 2 * l2 * w, rtol=1e-12, atol=1e-12)


def test_a_model_contributes_its_weights_but_not_its_biases():
    model = net()
    weights = [model[0].weight, model[2].weight, model[3].weight]
    assert R.select(model) == weights
    assert R.l2_penalty(model).item() == pytest.approx(sum((w**2).sum().item() for w in weights))


def test_a_filter_chooses_other_parameters():
    model = net()
    linear_only = R.select(model, where=lambda name, p: p.dim() == 2)
    assert linear_only == [model[0].weight, model[3].weight]
    everything = R.l1_penalty(model, where=lambda name, p: True)
    assert everything.item() == pytest.approx(sum(p.abs().sum().item() for p in model.parameters()))


def test_one_tensor_is_a_penalty_on_activations():
    hidden = torch.tensor([[1.0, -2.0], [0.0, 3.0]])
    assert R.l1_penalty(hidden).item() == 6.0
    assert R.l2_penalty(hidden).item() == 14.0


def test_no_parameters_no_penalty():
    assert R.l1_penalty([]).item() == 0.0


@given(seed=seeds, threshold=st.floats(0.0, 2.0))
def test_soft_threshold_is_the_l1_proximal_step(seed, threshold):
    (w,) = tensors(seed, [(50,)])
    w = w.detach()
    expected = torch.sign(w) * torch.clamp(w.abs() - threshold, min=0)
    R.soft_threshold_(w, threshold)
    torch.testing.assert_close(w, expected, rtol=0, atol=0)
    assert torch.all(w[expected == 0] == 0)


def x_and_generator(seed, shape=(40, 30)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64) + 3.0, g


@given(seed=seeds, p=drop)
def test_inverted_dropout_keeps_or_scales_by_one_over_q(seed, p):
    x, g = x_and_generator(seed)
    y = R.dropout(x, p, training=True, generator=g)
    kept = y != 0
    q = 1 - p
    if q > 0:
        torch.testing.assert_close(y[kept], x[kept] / q, rtol=1e-12, atol=0)
    else:
        assert not kept.any()


@given(seed=seeds, p=drop)
def test_vanilla_dropout_keeps_or_zeroes_in_training(seed, p):
    x, g = x_and_generator(seed)
    y = R.dropout(x, p, training=True, inverted=False, generator=g)
    assert torch.all((y == x) | (y == 0))


@given(seed=seeds, p=drop)
def test_vanilla_and_inverted_use_the_same_mask(seed, p):
    x, _ = x_and_generator(seed)
    vanilla = R.dropout(x, p, inverted=False, generator=torch.Generator().manual_seed(seed))
    inverted = R.dropout(x, p, inverted=True, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(vanilla != 0, inverted != 0)


@given(seed=seeds, p=drop)
def test_at_test_time_inverted_is_identity_and_vanilla_scales_by_q(seed, p):
    x, _ = x_and_generator(seed)
    assert torch.equal(R.dropout(x, p, training=False), x)
    torch.testing.assert_close(R.dropout(x, p, training=False, inverted=False), (1 - p) * x,
                               rtol=0, atol=0)


def test_dropout_mask_follows_the_generator():
    x, _ = x_and_generator(0)
    a = R.dropout(x, 0.5, generator=torch.Generator().manual_seed(7))
    b = R.dropout(x, 0.5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_drop_probability_is_the_fraction_of_zeros():
    x = torch.ones(100_000, dtype=torch.float64)
    assert (R.dropout(x, 0.3) == 0).double().mean().item() == pytest.approx(0.3, abs=0.01)


@given(seed=seeds, p=st.floats(0.0, 0.9))
def test_dropout_gradient_is_the_mask_over_q(seed, p):
    x, g = x_and_generator(seed)
    x.requires_grad_(True)
    y = R.dropout(x, p, generator=g)
    (grad,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(grad, (y != 0).double() / (1 - p), rtol=1e-12, atol=0)


@pytest.mark.parametrize("inverted", [True, False])
def test_dropout_module_follows_train_and_eval(inverted):
    layer = R.Dropout(0.25, inverted=inverted)
    x = torch.ones(1000, dtype=torch.float64)
    assert (layer(x) == 0).any()
    layer.eval()
    assert torch.equal(layer(x), x if inverted else 0.75 * x)
    assert repr(layer) == f"Dropout(p=0.25, inverted={inverted})"


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_p_outside_0_1_is_an_error(p):
    with pytest.raises(CourseError) as info:
        R.dropout(torch.ones(3), p)
    assert info.value.key == "regularization.bad_p"
    with pytest.raises(ValueError, match=str(p)):
        R.Dropout(p)


@given(seed=st.integers(0, 2**31), n=st.integers(1, 12), c=st.integers(2, 10),
       eps=st.floats(0.0, 1.0))
def test_cross_entropy_against_smoothed_labels_is_torchs_label_smoothing(seed, n, c, eps):
    g = torch.Generator().manual_seed(seed)
    z = (3 * torch.randn(n, c, generator=g, dtype=torch.float64)).requires_grad_(True)
    y = torch.randint(c, (n,), generator=g)
    ours = losses.soft_cross_entropy(z, R.smooth_labels(y, c, eps, dtype=torch.float64))
    theirs = F.cross_entropy(z, y, label_smoothing=eps)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(*(torch.autograd.grad(loss, z)[0] for loss in (ours, theirs)),
                               rtol=1e-10, atol=1e-12)


def test_smoothed_labels_give_1_minus_eps_plus_eps_over_c_to_the_correct_class():
    q = R.smooth_labels(torch.tensor([2, 0]), 4, 0.1, dtype=torch.float64)
    expected = torch.tensor([[0.025, 0.025, 0.925, 0.025], [0.925, 0.025, 0.025, 0.025]],
                            dtype=torch.float64)
    torch.testing.assert_close(q, expected)


@given(seed=st.integers(0, 2**31), n=st.integers(1, 12), alpha=st.floats(0.05, 5.0))
def test_mixup_blends_inputs_and_targets_with_one_lambda_and_one_permutation(seed, n, alpha):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 5, generator=g, dtype=torch.float64)
    q = F.one_hot(torch.randint(4, (n,), generator=g), 4).double()
    mixed_x, mixed_q, lam = R.mixup(x, q, alpha, generator=torch.Generator().manual_seed(seed))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    assert 0 <= lam <= 1
    torch.testing.assert_close(mixed_x, lam * x + (1 - lam) * x[perm])
    torch.testing.assert_close(mixed_q, lam * q + (1 - lam) * q[perm])
    torch.testing.assert_close(mixed_q.sum(dim=1), torch.ones(n, dtype=torch.float64))


def test_mixup_lambda_follows_beta_alpha_alpha():
    lams = torch.tensor([R.mixup(torch.zeros(2, 1), torch.eye(2), 0.2,
                                 generator=torch.Generator().manual_seed(s))[2]
                         for s in range(2000)])
    beta = torch.distributions.Beta(0.2, 0.2)
    assert abs(lams.mean() - 0.5) < 0.03
    assert abs(lams.var() - beta.variance) < 0.02  # 1 / (4 (2 alpha + 1)) = 0.179
    assert ((lams < 0.1) | (lams > 0.9)).float().mean() > 0.5  # small alpha: mostly one example


@pytest.mark.parametrize("alpha", [0.0, -1.0])
def test_mixup_needs_a_positive_alpha(alpha):
    with pytest.raises(CourseError) as error:
        R.mixup(torch.zeros(2, 1), torch.eye(2), alpha)
    assert error.value.fields["name"] == "alpha"


def test_smooth_labels_needs_eps_in_0_1():
    with pytest.raises(CourseError) as error:
        R.smooth_labels(torch.tensor([0]), 3, 1.5)
    assert error.value.fields["name"] == "eps"
