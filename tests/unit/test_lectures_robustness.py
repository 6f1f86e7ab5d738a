"""Lecture 05's robustness helpers: input noise, and the L1 penalty on activations by hand."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_lib.i18n import CourseError
from course_lib.lectures import regularization as rx
from course_lib.lectures import robustness as rb


def tiny_task():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 40, generator=g)
    y = torch.randint(0, 10, (60,), generator=g)
    return rx.Task(x[:30], y[:30], x[30:45], y[30:45], x[45:], y[45:])


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3), lam=st.floats(0.0, 10.0),
       seed=st.integers(0, 10**6), zeros=st.booleans())
def test_the_activity_penalty_gradient_by_hand_equals_autograd(shape, lam, seed, zeros):
    h = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if zeros:
        h = torch.relu(h)  # ReLU outputs: many exact zeros, where the subgradient 0 is taken
    h.requires_grad_(True)
    penalty = rb.activity_l1(h, lam)
    assert torch.allclose(penalty, lam * h.abs().sum() / h.numel())
    (expected,) = torch.autograd.grad(penalty, h)
    assert torch.allclose(rb.activity_l1_grad(h.detach(), lam), expected, atol=1e-15)


def test_forward_with_activations_returns_the_output_and_every_relu_output():
    model = rx.wide_mlp(hidden=8, seed=0)
    x = torch.randn(5, 40)
    out, hidden = rb.forward_with_activations(model, x)
    assert torch.equal(out, model(x))
    assert [tuple(h.shape) for h in hidden] == [(5, 8), (5, 8)]
    assert torch.equal(hidden[0], torch.relu(model[0](x)))


def test_gaussian_noise_adds_noise_of_the_given_deviation():
    torch.manual_seed(0)
    x = torch.zeros(200, 50)
    assert torch.equal(rb.gaussian_noise(0.0)(x), x)
    assert abs(rb.gaussian_noise(2.0)(x).std().item() - 2.0) < 0.05
    with pytest.raises(CourseError):
        rb.gaussian_noise(-1.0)


def test_noisy_accuracy_without_noise_is_the_accuracy_and_the_noise_is_seeded():
    task = tiny_task()
    model = rx.wide_mlp(hidden=16, seed=0)
    clean, noisy = rb.noisy_accuracy(model, task.x_val, task.y_val, [0.0, 3.0], draws=3)
    assert clean == pytest.approx(rx.accuracy(model, task.x_val, task.y_val))
    again = rb.noisy_accuracy(model, task.x_val, task.y_val, [0.0, 3.0], draws=3)
    assert again == [clean, noisy]
    with pytest.raises(CourseError):
        rb.noisy_accuracy(model, task.x_val, task.y_val, [0.0], draws=0)


def test_train_activity_without_penalty_is_regularization_train():
    task = tiny_task()
    plain = rx.wide_mlp(hidden=16, seed=1)
    rx.train(plain, task, 3, batch_size=10, seed=2, record=False)
    same = rb.train_activity(rx.wide_mlp(hidden=16, seed=1), task, 3, 0.0, batch_size=10, seed=2)
    assert all(torch.equal(p, q) for p, q in zip(plain.parameters(), same.parameters(),
                                                 strict=True))
    with pytest.raises(CourseError):
        rb.train_activity(rx.wide_mlp(hidden=16), task, 1, -0.1)


def test_activity_stats_counts_zeros_dead_neurons_and_accuracy():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        model[0].bias.copy_(torch.tensor([0.0, 0.0, -1.0]))
        model[2].weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        model[2].bias.zero_()
    x = torch.tensor([[1.0, -1.0], [-1.0, 0.005]])
    stats = rb.activity_stats(model, x, torch.tensor([0, 0]))
    # hidden outputs: [1, 0, 0] and [0, 0.005, 0]: 4 of 6 exactly 0, 5 of 6 below 0.01
    assert stats["zero"] == pytest.approx(4 / 6) and stats["near_zero"] == pytest.approx(5 / 6)
    assert stats["dead"] == pytest.approx(1 / 3) and stats["acc"] == pytest.approx(0.5)
    assert stats["mean"] == pytest.approx(1.005 / 6)
