"""course_lib.losses against torch.nn.functional, in float64."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from course_lib import losses
from course_lib.i18n import CourseError

seeds = st.integers(0, 2**31)
batch = st.integers(1, 16)
classes = st.integers(2, 10)
scales = st.floats(0.1, 100.0)


def logits_and_target(seed, n, c, scale, extra=()):
    g = torch.Generator().manual_seed(seed)
    z = scale * torch.randn(n, c, *extra, generator=g, dtype=torch.float64)
    y = torch.randint(c, (n, *extra), generator=g)
    return z.requires_grad_(True), y


def assert_same_value_and_gradient(ours, theirs, inputs):
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    for a, b in zip(torch.autograd.grad(ours, inputs), torch.autograd.grad(theirs, inputs),
                    strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@given(seed=seeds, shape=st.lists(st.integers(1, 5), min_size=1, max_size=4))
def test_mse_is_torchs(seed, shape):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randn(shape, generator=g, dtype=torch.float64)
    assert_same_value_and_gradient(losses.mse(pred, target), F.mse_loss(pred, target), [pred])


@given(seed=seeds, n=batch, c=classes, scale=scales)
def test_log_softmax_and_softmax_are_torchs(seed, n, c, scale):
    z, _ = logits_and_target(seed, n, c, scale)
    torch.testing.assert_close(losses.log_softmax(z), F.log_softmax(z, dim=1), rtol=1e-10,
                               atol=1e-12)
    torch.testing.assert_close(losses.softmax(z, dim=0), F.softmax(z, dim=0), rtol=1e-10,
                               atol=1e-12)


def test_log_softmax_is_finite_for_huge_logits():
    z = torch.tensor([[1000.0, 0.0, -1000.0]], dtype=torch.float64)
    assert torch.isfinite(losses.log_softmax(z)).all()
    assert torch.log(torch.softmax(z, dim=1))[0, 2] == -torch.inf


@given(seed=seeds, n=batch, c=classes, scale=scales)
def test_cross_entropy_is_torchs(seed, n, c, scale):
    z, y = logits_and_target(seed, n, c, scale)
    assert_same_value_and_gradient(losses.cross_entropy(z, y), F.cross_entropy(z, y), [z])


@given(seed=seeds, n=batch, c=classes, extra=st.lists(st.integers(1, 4), min_size=1, max_size=2))
def test_cross_entropy_over_positions_is_torchs(seed, n, c, extra):
    z, y = logits_and_target(seed, n, c, 3.0, extra)
    assert_same_value_and_gradient(losses.cross_entropy(z, y), F.cross_entropy(z, y), [z])


def kl_by_hand(student, teacher, T):
    """KL(p_t || p_s) with torch's kl_div: input log p_s, target p_t, mean over the batch."""
    return F.kl_div(F.log_softmax(student / T, dim=1), F.softmax(teacher / T, dim=1),
                    reduction="batchmean")


@given(seed=seeds, n=batch, c=classes, T=st.floats(0.5, 20.0), alpha=st.floats(0.0, 1.0))
def test_distillation_is_alpha_T2_KL_plus_weighted_cross_entropy(seed, n, c, T, alpha):
    s, y = logits_and_target(seed, n, c, 3.0)
    teacher, _ = logits_and_target(seed + 1, n, c, 3.0)
    expected = alpha * T**2 * kl_by_hand(s, teacher, T) + (1 - alpha) * F.cross_entropy(s, y)
    ours = losses.distillation_loss(s, teacher, y, T=T, alpha=alpha)
    assert_same_value_and_gradient(ours, expected, [s])


def test_distillation_does_not_train_the_teacher():
    s, y = logits_and_target(0, 4, 3, 1.0)
    teacher, _ = logits_and_target(1, 4, 3, 1.0)
    losses.distillation_loss(s, teacher, y).backward()
    assert teacher.grad is None and s.grad is not None


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_distillation_extremes(alpha):
    s, y = logits_and_target(0, 6, 5, 2.0)
    teacher, _ = logits_and_target(1, 6, 5, 2.0)
    ours = losses.distillation_loss(s, teacher, y, T=3.0, alpha=alpha)
    expected = 9.0 * kl_by_hand(s, teacher, 3.0) if alpha else F.cross_entropy(s, y)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=0)


def test_mse_of_a_perfect_prediction_of_another_shape_is_an_error_not_10_5():
    target = torch.arange(8, dtype=torch.float64)
    with pytest.raises(CourseError) as error:
        losses.mse(target.reshape(8, 1), target)
    assert (error.value.fields["a"], error.value.fields["b"]) == ("prediction", "target")
    assert losses.mse(target, target).item() == 0.0


@pytest.mark.parametrize(("kwargs", "name"), [({"T": 0.0}, "T"), ({"T": -2.0}, "T"),
                                              ({"alpha": 1.5}, "alpha"),
                                              ({"alpha": -0.1}, "alpha")])
def test_distillation_needs_a_positive_temperature_and_alpha_in_0_1(kwargs, name):
    logits = torch.randn(4, 3, dtype=torch.float64)
    with pytest.raises(CourseError) as error:
        losses.distillation_loss(logits, logits, torch.tensor([0, 1, 2, 0]), **kwargs)
    assert error.value.fields["name"] == name


def test_cross_entropy_refuses_class_indices_out_of_range():
    with pytest.raises(CourseError) as error:
        losses.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 3]))
    assert error.value.fields["high"] == 3 and error.value.fields["classes"] == 3


@given(seed=seeds, n=batch, c=classes, scale=scales, delta=st.floats(0.1, 5.0))
def test_multiclass_hinge_is_C_times_torchs_multi_margin_loss(seed, n, c, scale, delta):
    s, y = logits_and_target(seed, n, c, scale)
    torchs = torch.nn.MultiMarginLoss(margin=delta)(s, y)
    assert_same_value_and_gradient(losses.multiclass_hinge(s, y, delta), c * torchs, [s])


@given(seed=seeds, n=batch, c=classes, scale=scales, delta=st.floats(0.1, 5.0))
def test_multiclass_hinge_grad_by_hand_is_autograds(seed, n, c, scale, delta):
    s, y = logits_and_target(seed, n, c, scale)
    (expected,) = torch.autograd.grad(losses.multiclass_hinge(s, y, delta), s)
    torch.testing.assert_close(losses.multiclass_hinge_grad(s.detach(), y, delta), expected,
                               rtol=0, atol=1e-15)


def test_multiclass_hinge_of_the_lectures_example():
    """Scores 3.2, 5.1, -1.7 for a cat (class 0): max(0, 5.1 - 3.2 + 1) + max(0, -1.7 - 3.2 + 1)."""
    s = torch.tensor([[3.2, 5.1, -1.7]], dtype=torch.float64)
    torch.testing.assert_close(losses.multiclass_hinge(s, torch.tensor([0])),
                               torch.tensor(2.9, dtype=torch.float64))


def test_multiclass_hinge_is_zero_once_every_margin_is_met():
    s = torch.tensor([[5.0, 3.9, -2.0], [0.0, 1.0, 10.0]], dtype=torch.float64)
    assert losses.multiclass_hinge(s, torch.tensor([0, 2])) == 0
    assert losses.multiclass_hinge(s, torch.tensor([0, 2]), delta=1.2) > 0


@pytest.mark.parametrize("kwargs", [dict(delta=0.0), dict(delta=-1.0)])
def test_multiclass_hinge_rejects_a_margin_that_is_not_positive(kwargs):
    with pytest.raises(CourseError) as error:
        losses.multiclass_hinge(torch.zeros(2, 3), torch.tensor([0, 1]), **kwargs)
    assert error.value.fields["name"] == "delta"


@given(seed=seeds, n=batch, c=classes, scale=scales)
def test_soft_cross_entropy_against_one_hot_targets_is_cross_entropy(seed, n, c, scale):
    z, y = logits_and_target(seed, n, c, scale)
    one_hot = F.one_hot(y, c).double()
    assert_same_value_and_gradient(losses.soft_cross_entropy(z, one_hot), F.cross_entropy(z, y),
                                   [z])


@given(seed=seeds, n=batch, c=classes, scale=scales)
def test_soft_cross_entropy_is_torchs_with_probability_targets(seed, n, c, scale):
    z, _ = logits_and_target(seed, n, c, scale)
    q = torch.softmax(torch.randn(n, c, generator=torch.Generator().manual_seed(seed),
                                  dtype=torch.float64), dim=1)
    assert_same_value_and_gradient(losses.soft_cross_entropy(z, q), F.cross_entropy(z, q), [z])
