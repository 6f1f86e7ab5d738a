"""Claims of lecture 05's sections on double descent, robustness to input noise and the L1
penalty on activations, each checked by the notebook's own experiment over several seeds.

Double descent: ``course_lib.lectures.double_descent`` (random ReLU features, minimum-norm
least squares, n = 100 training points, 5 seeds in the quick profile). Robustness and the
activity penalty: ``course_lib.lectures.robustness`` on the lecture's MNIST-1D task, 40 epochs
as in the quick profile, several seeds of initialization and mini-batch order.
"""

from itertools import pairwise

import numpy as np
import pytest
import torch

from course_lib.lectures import double_descent as dd
from course_lib.lectures import regularization as rx
from course_lib.lectures import robustness as rb

SEEDS = range(5)  # course.size(quick=5, ...) in the notebook
RIDGE = 0.1


@pytest.fixture(scope="module")
def min_norm():
    return dd.sweep(seeds=SEEDS)


@pytest.fixture(scope="module")
def ridge():
    return dd.sweep(seeds=SEEDS, ridge=RIDGE)


def test_the_test_error_peaks_at_the_interpolation_threshold(min_norm):
    numbers = min_norm.summary()
    assert numbers["peak_width"] in (95, 100, 105)
    assert numbers["peak"] > 10 * max(numbers["best_under"], numbers["far"])


@pytest.mark.parametrize("seed", range(10))
def test_every_seed_shows_the_peak_above_both_sides(seed):
    numbers = dd.sweep(seeds=[seed]).summary()
    assert 90 <= numbers["peak_width"] <= 110
    assert numbers["peak"] > 3 * numbers["best_under"]
    assert numbers["peak"] > 3 * numbers["far"]


def test_far_beyond_the_threshold_the_error_ends_below_the_best_small_model(min_norm):
    numbers = min_norm.summary()
    assert numbers["far"] < numbers["best_under"]
    per_seed = [min_norm.summary(row) for row in min_norm.test]
    assert all(s["far"] < s["best_under"] for s in per_seed)


def test_the_training_error_is_zero_from_twice_the_threshold_on(min_norm):
    widths = np.asarray(min_norm.widths)
    assert min_norm.train[:, widths >= 2 * min_norm.n_train].max() < 1e-20
    assert min_norm.train[:, widths <= min_norm.n_train / 2].min() > 1e-3


def test_the_test_error_rises_towards_the_threshold_from_below(min_norm):
    widths = np.asarray(min_norm.widths)
    under = widths <= min_norm.n_train / 2
    best_width = widths[under][np.argmin(min_norm.median[under])]
    assert 20 <= best_width <= 50  # "a few tens of features"
    rising = min_norm.median[(widths >= 60) & (widths <= 100)]
    assert np.all(np.diff(rising) > 0)


def test_with_fifty_training_points_the_peak_moves_to_fifty_features():
    assert dd.sweep(seeds=SEEDS, n_train=50).summary()["peak_width"] == 50


def test_the_norm_of_the_minimum_norm_fit_shrinks_beyond_the_threshold():
    task = dd.noisy_task(seed=0)
    weight, bias = dd.random_relu_layer(5, 2000, seed=1000)
    phi = dd.relu_features(task.x_train, weight, bias)
    norms = [dd.least_squares(phi[:, :p], task.y_train).norm().item()
             for p in (100, 105, 110, 120, 140, 170, 200, 300, 500, 1000, 2000)]
    assert all(b <= a * (1 + 1e-9) for a, b in pairwise(norms))


def test_a_ridge_penalty_removes_the_peak(min_norm, ridge):
    numbers = ridge.summary()
    assert numbers["peak"] < 1.2 * numbers["best_under"]
    assert numbers["peak"] < min_norm.summary()["peak"] / 10
    assert abs(numbers["far"] - min_norm.summary()["far"]) < 0.01


# --- robustness to input noise: noise augmentation (sigma = 1) against no regularization ---

EPOCHS = 40  # course.size(quick=40, ...) in the notebook
SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0)
TRAIN_SIGMA = 1.0


@pytest.fixture(scope="module")
def task():
    return rx.small_task()


@pytest.fixture(scope="module")
def noise_curves(task):
    """Per seed: test accuracy against sigma of the plain net and of the noise-trained net."""
    curves = {}
    for seed in range(4):
        plain = rx.wide_mlp(seed=seed)
        rx.train(plain, task, EPOCHS, seed=seed, record=False)
        noisy = rx.wide_mlp(seed=seed)
        rx.train(noisy, task, EPOCHS, seed=seed, record=False,
                 augment=rb.gaussian_noise(TRAIN_SIGMA))
        curves[seed] = (rb.noisy_accuracy(plain, task.x_test, task.y_test, SIGMAS),
                        rb.noisy_accuracy(noisy, task.x_test, task.y_test, SIGMAS))
    return curves


def test_the_signals_have_a_standard_deviation_of_about_one(task):
    assert 0.9 < task.x_train.std().item() < 1.1


def test_accuracy_falls_as_the_input_noise_grows(noise_curves):
    for plain, noisy in noise_curves.values():
        assert all(np.diff(plain) < 0) and all(np.diff(noisy) < 0)


def test_in_the_notebook_s_run_the_noise_trained_net_is_more_accurate_at_every_sigma(
        noise_curves):
    plain, noisy = noise_curves[0]  # seed 0: the run the notebook shows
    assert all(n > p for p, n in zip(plain, noisy, strict=True))


def test_the_noise_trained_net_is_reliably_more_accurate_only_from_sigma_1_on(noise_curves):
    i = SIGMAS.index(1.0)
    gaps_moderate = [noisy[i] - plain[i] for plain, noisy in noise_curves.values()]
    assert np.mean(gaps_moderate) > 0.02 and min(gaps_moderate) > -0.01
    for plain, noisy in noise_curves.values():
        assert all(noisy[j] > plain[j] + 0.01 for j in (SIGMAS.index(1.5), SIGMAS.index(2.0)))
    clean_gaps = [noisy[0] - plain[0] for plain, noisy in noise_curves.values()]
    assert min(clean_gaps) < 0 < max(clean_gaps)  # on clean signals the order depends on the seed


def test_the_noise_trained_net_loses_less_accuracy_from_clean_to_moderate_noise(noise_curves):
    i = SIGMAS.index(1.0)
    drops = [(plain[0] - plain[i], noisy[0] - noisy[i]) for plain, noisy in noise_curves.values()]
    assert all(noisy_drop < plain_drop for plain_drop, noisy_drop in drops)


# --- the L1 penalty on activations --------------------------------------------------------

LAMBDAS = (0.0, 1.0, 3.0, 10.0)


@pytest.fixture(scope="module")
def activity(task):
    """Per seed and lambda: the statistics of the hidden ReLU outputs on the validation set."""
    stats = {}
    for seed in range(2):
        for lam in LAMBDAS:
            model = rb.train_activity(rx.wide_mlp(seed=seed), task, EPOCHS, lam, seed=seed)
            stats[seed, lam] = rb.activity_stats(model, task.x_val, task.y_val)
    return stats


def test_without_the_penalty_the_run_is_the_plain_run(task):
    plain = rx.wide_mlp(seed=0)
    rx.train(plain, task, 2, record=False)
    penalized = rb.train_activity(rx.wide_mlp(seed=0), task, 2, 0.0)
    assert all(torch.equal(p, q) for p, q in zip(plain.parameters(), penalized.parameters(),
                                                 strict=True))


def test_a_stronger_penalty_silences_more_activations(activity):
    for seed in range(2):
        zeros = [activity[seed, lam]["zero"] for lam in LAMBDAS]
        assert all(np.diff(zeros) > 0.05)
        means = [activity[seed, lam]["mean"] for lam in LAMBDAS]
        assert all(np.diff(means) < 0)
    for seed in range(2):  # "a little less than half" without the penalty, "over 80 %" at 3
        assert 0.35 < activity[seed, 0.0]["zero"] < 0.5 and activity[seed, 3.0]["zero"] > 0.8


def test_a_moderate_penalty_costs_no_accuracy_the_strongest_kills_the_network(activity):
    for seed in range(2):
        plain = activity[seed, 0.0]["acc"]
        assert activity[seed, 1.0]["acc"] >= plain and activity[seed, 3.0]["acc"] >= plain
        assert activity[seed, 10.0]["acc"] < 0.2 and activity[seed, 10.0]["zero"] > 0.98
        assert activity[seed, 10.0]["dead"] > 0.3
