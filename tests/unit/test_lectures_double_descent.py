"""The double-descent helpers of lecture 05: the task, random ReLU features, least squares."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.i18n import CourseError
from course_lib.lectures import double_descent as dd


def random_features(n, p, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, p, generator=gen, dtype=torch.float64),
            torch.randn(n, generator=gen, dtype=torch.float64))


def test_noisy_task_has_the_documented_shapes_and_is_seeded():
    task = dd.noisy_task(n_train=30, n_test=40, dim=3, seed=2)
    assert tuple(task.x_train.shape) == (30, 3) and tuple(task.y_test.shape) == (40,)
    assert task.x_train.dtype == torch.float64
    again = dd.noisy_task(n_train=30, n_test=40, dim=3, seed=2)
    assert torch.equal(task.y_train, again.y_train)
    other = dd.noisy_task(n_train=30, n_test=40, dim=3, seed=3)
    assert not torch.equal(task.y_train, other.y_train)


def test_noisy_task_targets_are_a_sine_of_one_direction_plus_the_noise():
    clean = dd.noisy_task(n_train=200, n_test=10, dim=4, noise=0.0, seed=1)
    assert clean.y_train.abs().max() <= 1
    noisy = dd.noisy_task(n_train=200, n_test=10, dim=4, noise=0.1, seed=1)
    assert torch.equal(clean.x_train, noisy.x_train)
    residual = noisy.y_train - clean.y_train
    assert 0.07 < residual.std().item() < 0.13


def test_relu_features_are_relu_of_an_affine_map():
    weight, bias = dd.random_relu_layer(dim=3, features=7, seed=0)
    assert weight.shape == (7, 3) and bias.shape == (7,)
    x = torch.randn(5, 3, dtype=torch.float64)
    linear = torch.nn.functional.linear(x, weight, bias)
    assert torch.equal(dd.relu_features(x, weight, bias), torch.relu(linear))
    wide, _ = dd.random_relu_layer(dim=3, features=5000, seed=1)
    assert math.isclose(wide.var().item(), 1 / 3, rel_tol=0.05)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 12), p=st.integers(1, 20), seed=st.integers(0, 10**6))
def test_least_squares_without_ridge_is_the_pseudo_inverse_solution(n, p, seed):
    phi, y = random_features(n, p, seed)
    theta = dd.least_squares(phi, y)
    assert torch.allclose(theta, torch.linalg.pinv(phi) @ y, atol=1e-9)
    reference = torch.linalg.lstsq(phi, y.unsqueeze(1), driver="gelsd").solution.squeeze(1)
    assert torch.allclose(theta, reference, atol=1e-9)
    if p >= n:  # over-parameterized: the training points are fitted exactly
        assert torch.allclose(phi @ theta, y, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 12), p=st.integers(1, 20), ridge=st.floats(1e-3, 10.0),
       seed=st.integers(0, 10**6))
def test_least_squares_with_ridge_solves_the_normal_equations(n, p, ridge, seed):
    phi, y = random_features(n, p, seed)
    theta = dd.least_squares(phi, y, ridge)
    expected = torch.linalg.solve(phi.T @ phi + ridge * torch.eye(p, dtype=phi.dtype), phi.T @ y)
    assert torch.allclose(theta, expected, atol=1e-8)


def test_least_squares_rejects_a_negative_ridge():
    phi, y = random_features(4, 3)
    with pytest.raises(CourseError):
        dd.least_squares(phi, y, ridge=-1.0)


def test_sweep_records_train_and_test_errors_per_seed_and_width():
    result = dd.sweep(widths=(5, 20, 40), seeds=(0, 1), n_train=20, n_test=50)
    assert result.train.shape == result.test.shape == (2, 3)
    assert result.train[:, 2].max() < 1e-20  # P = 2n interpolates the training points
    assert np.array_equal(result.median, np.median(result.test, axis=0))
    again = dd.sweep(widths=(5, 20, 40), seeds=(0, 1), n_train=20, n_test=50)
    assert np.array_equal(result.test, again.test)


def test_sweeps_share_the_svd_and_give_the_single_sweeps():
    both = dd.sweeps([0.0, 0.5], widths=(5, 20, 40), seeds=(0, 1), n_train=20, n_test=50)
    for ridge, result in zip([0.0, 0.5], both, strict=True):
        single = dd.sweep(widths=(5, 20, 40), seeds=(0, 1), n_train=20, n_test=50, ridge=ridge)
        assert result.ridge == ridge
        assert np.allclose(result.test, single.test) and np.allclose(result.train, single.train)


def test_summary_splits_the_widths_at_half_and_twice_the_training_points():
    result = dd.Sweep(widths=(10, 50, 60, 100, 200, 300), n_train=100,
                      train=np.zeros((1, 6)), test=np.array([[3.0, 2.0, 9.0, 8.0, 7.0, 1.0]]))
    assert result.summary() == {"best_under": 2.0, "peak": 9.0, "peak_width": 60, "far": 1.0,
                                "far_width": 300}


def test_sweep_rejects_a_width_that_is_not_a_positive_integer():
    with pytest.raises(CourseError):
        dd.sweep(widths=(0, 10), seeds=(0,))
