"""course_lib.clipping against torch.nn.utils.clip_grad_norm_ / clip_grad_value_ in float64."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from course_lib import clipping
from course_lib.i18n import CourseError, t
from course_lib.validation import interval

shapes = st.lists(st.lists(st.integers(1, 5), min_size=1, max_size=3), min_size=1, max_size=4)
scales = st.floats(1e-3, 1e3)
seeds = st.integers(0, 2**16)
positive = st.floats(1e-3, 1e3)
norm_types = st.sampled_from([1.0, 2.0, 3.0, 0.5, math.inf])


def gradients(shapes, scale, seed):
    gen = torch.Generator().manual_seed(seed)
    return [scale * torch.randn(shape, generator=gen, dtype=torch.float64) for shape in shapes]


def torch_clipped(grads, clip, **kwargs):
    """What torch's in-place clipping leaves in ``.grad`` of parameters with these gradients,
    and what it returns."""
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    returned = clip(params, **kwargs)
    return [p.grad for p in params], returned


@given(shapes=shapes, scale=scales, seed=seeds, max_norm=positive, norm_type=norm_types)
def test_clip_by_norm_equals_torch_clip_grad_norm_with_the_returned_total_norm(
        shapes, scale, seed, max_norm, norm_type):
    grads = gradients(shapes, scale, seed)
    ours, norm = clipping.clip_by_norm(grads, max_norm, norm_type)
    theirs, their_norm = torch_clipped(grads, torch.nn.utils.clip_grad_norm_,
                                       max_norm=max_norm, norm_type=norm_type)
    torch.testing.assert_close(norm, their_norm, rtol=1e-12, atol=0)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-300)


@given(shapes=shapes, scale=scales, seed=seeds, limit=positive)
def test_clip_by_value_equals_torch_clip_grad_value(shapes, scale, seed, limit):
    grads = gradients(shapes, scale, seed)
    ours = clipping.clip_by_value(grads, limit)
    theirs, _ = torch_clipped(grads, torch.nn.utils.clip_grad_value_, clip_value=limit)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@given(shapes=shapes, scale=scales, seed=seeds, norm_type=norm_types)
def test_total_norm_is_the_norm_of_all_entries_as_one_vector(shapes, scale, seed, norm_type):
    grads = gradients(shapes, scale, seed)
    flat = torch.cat([g.flatten() for g in grads])
    torch.testing.assert_close(clipping.total_norm(grads, norm_type),
                               torch.linalg.vector_norm(flat, norm_type), rtol=1e-12, atol=0)
    torch.testing.assert_close(clipping.total_norm(grads, norm_type),
                               torch.nn.utils.get_total_norm(grads, norm_type),
                               rtol=1e-12, atol=0)


@given(shapes=shapes, scale=scales, seed=seeds, max_norm=positive)
def test_clipping_by_norm_keeps_the_direction_and_never_lengthens(shapes, scale, seed,
                                                                   max_norm):
    grads = gradients(shapes, scale, seed)
    clipped, norm = clipping.clip_by_norm(grads, max_norm)
    assert clipping.cosine(grads, clipped) == pytest.approx(1.0, abs=1e-12)
    after = clipping.total_norm(clipped).item()
    assert after <= min(norm.item(), max_norm) * (1 + 1e-12)
    if norm.item() > max_norm:  # shrunk to c, up to torch's 1e-6 in c / (||g|| + 1e-6)
        assert after == pytest.approx(max_norm * norm.item() / (norm.item() + 1e-6), rel=1e-9)


def test_a_gradient_below_the_norm_bound_passes_unchanged():
    grads = gradients([[3, 2], [4]], 0.01, seed=0)
    clipped, norm = clipping.clip_by_norm(grads, max_norm=1.0)
    assert norm.item() < 1.0
    for a, b in zip(clipped, grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_clipping_by_value_changes_the_direction_of_an_uneven_gradient():
    g = torch.tensor([10.0, 1.0, 0.1], dtype=torch.float64)
    clipped = clipping.clip_by_value(g, 0.5)
    torch.testing.assert_close(clipped, torch.tensor([0.5, 0.5, 0.1], dtype=torch.float64))
    by_norm, _ = clipping.clip_by_norm(g, 0.5)
    assert clipping.cosine(g, clipped) < 0.8
    assert clipping.cosine(g, by_norm) == pytest.approx(1.0, abs=1e-12)


def test_one_tensor_in_gives_one_tensor_out_and_the_input_is_left_alone():
    g = torch.tensor([3.0, 4.0], dtype=torch.float64)
    clipped, norm = clipping.clip_by_norm(g, 1.0)
    assert isinstance(clipped, torch.Tensor) and norm.item() == pytest.approx(5.0)
    assert isinstance(clipping.clip_by_value(g, 1.0), torch.Tensor)
    torch.testing.assert_close(g, torch.tensor([3.0, 4.0], dtype=torch.float64))


def test_a_zero_gradient_and_no_gradients_give_norm_zero_like_torch():
    clipped, norm = clipping.clip_by_norm([torch.zeros(3, dtype=torch.float64)], 1.0)
    assert norm.item() == 0.0 and clipped[0].abs().sum().item() == 0.0
    clipped, norm = clipping.clip_by_norm([], 1.0)
    assert clipped == [] and norm.item() == torch.nn.utils.clip_grad_norm_([], 1.0).item()


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan, "1"])
def test_a_bound_that_is_not_a_positive_number_is_named_in_a_course_error(bad):
    g = [torch.ones(3)]
    with pytest.raises(CourseError, match="max_norm"):
        clipping.clip_by_norm(g, bad)
    with pytest.raises(CourseError, match="limit"):
        clipping.clip_by_value(g, bad)
    assert issubclass(CourseError, ValueError)


@pytest.mark.parametrize("bad", [0.0, -2.0, math.nan])
def test_a_norm_type_that_is_not_positive_is_named_in_a_course_error(bad):
    with pytest.raises(CourseError, match="norm_type"):
        clipping.clip_by_norm([torch.ones(3)], 1.0, norm_type=bad)


def test_torch_accepts_a_negative_bound_silently_which_is_why_ours_refuses_it():
    flipped, _ = torch_clipped([torch.tensor([3.0, 4.0])], torch.nn.utils.clip_grad_norm_,
                               max_norm=-1.0)
    assert (flipped[0] < 0).all()  # the step would go uphill


@pytest.mark.parametrize("lang", ["sk", "sr", "ru"])
def test_the_error_speaks_the_students_language(lang):
    with pytest.raises(CourseError) as error:
        clipping.clip_by_value([torch.ones(2)], -1.0, lang=lang)
    assert str(error.value) == t("validation.not_in_range", lang=lang, name="limit", value=-1.0,
                                 interval=interval(0, None, low_open=True))
