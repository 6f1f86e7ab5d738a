"""Teaching claims of lecture 07 (training practice), each a small deterministic experiment.

The experiments are the notebook's own (``course_lib.lectures.practice``) with the same arguments
as its quick profile, so a claim that the notebook's text makes about its plots is checked here.
"""

import math

import pytest
import torch

from course_lib import monitoring, preprocessing, search
from course_lib.lectures import practice as experiments_07

LRS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]


@pytest.fixture(scope="module")
def digits():
    return experiments_07.load_digits()


@pytest.fixture(scope="module")
def sweep(digits):
    return {run.lr: run for run in experiments_07.lr_sweep(digits, LRS, epochs=5)}


@pytest.fixture(scope="module")
def searched(digits):
    space = {"lr": search.LogUniform(1e-4, 1e1), "reg": search.LogUniform(1e-6, 1e0)}
    objective = experiments_07.search_objective(digits, epochs=3)
    return search.coarse_to_fine(objective, space, rounds=2, n_trials=10, keep_top=3, seed=0,
                                 verbose=False)


@pytest.fixture(scope="module")
def cloud():
    return preprocessing.correlated_cloud(n=400, seed=0)


# --- preprocessing ---------------------------------------------------------------------------

def test_zero_centering_and_scaling_give_every_feature_mean_zero_and_variance_one(cloud):
    normalized, mean, std = preprocessing.standardize(cloud)
    assert torch.allclose(normalized.mean(dim=0), torch.zeros(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(normalized.var(dim=0, correction=0), torch.ones(2, dtype=torch.float64))
    assert mean.norm() > 4  # the cloud started far from the origin


def test_centering_leaves_the_covariance_unchanged(cloud):
    centered = cloud - cloud.mean(dim=0)
    assert torch.allclose(preprocessing.covariance(centered), preprocessing.covariance(cloud))


def test_scaled_data_keeps_the_correlation_off_the_diagonal(cloud):
    normalized = preprocessing.standardize(cloud)[0]
    correlation = torch.corrcoef(cloud.T)[0, 1]
    assert correlation > 0.5
    assert torch.isclose(preprocessing.covariance(normalized)[0, 1], correlation)


def test_pca_decorrelates_and_leaves_the_eigenvalues_on_the_diagonal(cloud):
    pca = preprocessing.PCA.fit(cloud)
    cov = preprocessing.covariance(pca.rotate(cloud))
    assert torch.allclose(cov, torch.diag(pca.variances), atol=1e-10)
    assert pca.variances[0] > 10 * pca.variances[1]


def test_whitened_data_has_identity_covariance(cloud):
    cov = preprocessing.covariance(preprocessing.PCA.fit(cloud).whiten(cloud))
    assert torch.allclose(cov, torch.eye(2, dtype=torch.float64), atol=1e-3)


@pytest.mark.parametrize("seed", range(20))
def test_with_all_positive_inputs_every_weight_gradient_has_the_same_sign(seed):
    torch.manual_seed(seed)
    neuron = torch.nn.Linear(6, 1)
    inputs = torch.rand(1, 6)
    (neuron(inputs) - torch.randn(1, 1)).pow(2).sum().backward()
    signs = torch.sign(neuron.weight.grad)
    assert (signs == signs[0, 0]).all()


def test_centered_inputs_give_weight_gradients_of_both_signs():
    torch.manual_seed(0)  # the notebook's example
    neuron = torch.nn.Linear(6, 1)
    pixels = torch.rand(1, 6)
    (neuron(pixels - 0.5) - 1.0).pow(2).sum().backward()
    assert (neuron.weight.grad > 0).any() and (neuron.weight.grad < 0).any()


def test_the_covariance_of_a_224x224_colour_image_has_over_2e10_entries():
    assert (224 * 224 * 3) ** 2 > 2e10


def test_digits_are_normalized_with_statistics_of_the_training_set_only(digits):
    from course_lib import data

    raw = data.load("digits")
    mean, std = preprocessing.channel_stats(raw.train.tensors[0])
    assert torch.equal(digits.mean, mean) and torch.equal(digits.std, std)
    assert abs(digits.x_train.mean().item()) < 1e-5
    assert abs(digits.x_train.std(correction=0).item() - 1) < 1e-5
    assert abs(digits.x_val.mean().item()) > 1e-3  # val uses train's numbers, not its own


# --- sanity checks ---------------------------------------------------------------------------

def test_initial_loss_with_small_weights_is_log_of_the_number_of_classes(digits):
    model = experiments_07.digits_mlp(init_std=0.01)
    loss = monitoring.initial_loss(model, digits.x_train, digits.y_train)
    assert abs(loss - math.log(10)) < 0.01


def test_default_init_is_near_log_c_and_large_weights_start_far_above_it(digits):
    default = monitoring.initial_loss(experiments_07.digits_mlp(), digits.x_train, digits.y_train)
    large = monitoring.initial_loss(experiments_07.digits_mlp(init_std=1.0), digits.x_train,
                                    digits.y_train)
    assert abs(default - math.log(10)) < 0.1
    assert large > 5 * math.log(10)


def test_a_tiny_subset_is_overfit_to_full_training_accuracy_but_not_validation(digits):
    run = experiments_07.overfit_tiny(digits, n=20, epochs=50)
    assert run.history.train_acc[-1] == 1.0
    assert run.history.train_loss[-1] < 1e-2
    assert run.history.val_acc[-1] < 0.9


# --- learning rate and loss curves -----------------------------------------------------------

def test_a_too_small_learning_rate_barely_moves_the_loss(sweep):
    history = sweep[1e-4].history
    assert history.step_loss[0] - history.train_loss[-1] < 0.1


def test_a_too_large_learning_rate_throws_the_loss_above_its_start_and_ends_at_chance(sweep):
    history = sweep[10.0].history
    start = history.step_loss[0]
    assert max(history.train_loss) > 10 * start  # "tens" in the first epoch
    assert history.train_loss[-1] > start
    assert history.val_acc[-1] < 0.15


def test_a_high_learning_rate_drops_fast_then_stalls_far_above_the_good_one(sweep):
    high, good = sweep[1.0].history, sweep[1e-1].history
    assert high.train_loss[0] < high.step_loss[0]
    assert min(high.train_loss) > 1.0
    assert high.train_loss[-1] > 5 * good.train_loss[-1]


def test_a_low_learning_rate_decreases_the_loss_slowly_and_almost_linearly(sweep):
    losses = torch.tensor(sweep[1e-3].history.train_loss)
    drops = -losses.diff()
    assert (drops > 0).all()
    assert drops.max() < 1.3 * drops.min()
    assert losses[-1] > 1.5


def test_a_good_learning_rate_drops_steeply_then_fine_tunes(sweep):
    history = sweep[1e-1].history
    assert history.train_loss[1] < 0.3 * history.step_loss[0]
    assert history.train_loss[-2] - history.train_loss[-1] < 0.1
    assert history.train_loss[-1] < 0.2


def test_the_loss_goes_down_well_for_learning_rates_from_1e_2_to_1e_1(sweep):
    for lr in (1e-2, 1e-1):
        assert sweep[lr].history.train_loss[-1] < 0.5
    best = max(sweep, key=lambda lr: sweep[lr].history.val_acc[-1])
    assert best in (1e-2, 1e-1)


# --- train / validation gap ------------------------------------------------------------------

def test_a_wide_net_on_few_examples_shows_a_big_train_validation_gap(digits):
    run = experiments_07.train_mlp(digits, 0.1, epochs=40, hidden=256, n_train=100)
    assert run.history.train_acc[-1] == 1.0
    assert 0.05 < run.history.train_acc[-1] - run.history.val_acc[-1] < 0.2  # about ten points


def test_a_four_neuron_hidden_layer_shows_no_gap_and_low_accuracy(digits):
    run = experiments_07.train_mlp(digits, 0.1, epochs=20, hidden=4)
    assert abs(run.history.train_acc[-1] - run.history.val_acc[-1]) < 0.05
    assert run.history.train_acc[-1] < 0.7


# --- update / weight ratio -------------------------------------------------------------------

def test_the_update_to_weight_ratio_grows_with_the_learning_rate(sweep):
    stable = [sweep[lr].ratios.geometric_mean() for lr in LRS if lr <= 1.0]
    for name in stable[0]:
        values = [ratios[name] for ratios in stable]
        assert values == sorted(values), (name, values)


@pytest.mark.parametrize("lr", [1e-4, 0.05])
def test_doubling_the_learning_rate_doubles_the_first_sgd_step_at_any_scale(digits, lr):
    one = experiments_07.train_mlp(digits, lr, epochs=1, n_train=64, track_ratios=True)
    two = experiments_07.train_mlp(digits, 2 * lr, epochs=1, n_train=64, track_ratios=True)
    for name, ratios in one.ratios.ratios.items():
        assert two.ratios.ratios[name][0] == pytest.approx(2 * ratios[0], rel=1e-4)


def test_the_ratio_is_below_1e_3_for_a_too_small_rate_and_about_1e_2_for_the_best(sweep):
    for name, value in sweep[1e-4].ratios.geometric_mean().items():
        assert value < 1e-3, name
    for name, value in sweep[1e-1].ratios.geometric_mean().items():
        assert 3e-3 < value < 3e-2, name


# --- hyper-parameter search ------------------------------------------------------------------

def test_a_3x3_grid_tries_3_values_of_each_hyper_parameter_and_random_search_9():
    grid, scattered = experiments_07.grid_and_random(n_side=3, seed=0)
    assert len({x for x, _ in grid}) == 3 and len({y for _, y in grid}) == 3
    assert len({x for x, _ in scattered}) == 9 and len({y for _, y in scattered}) == 9


def test_random_search_finds_a_better_value_of_the_important_hyper_parameter_than_a_grid():
    def best(points):
        return max(experiments_07.important_score(x) for x, _ in points)

    grid, scattered = experiments_07.grid_and_random(n_side=3, seed=0)
    assert best(scattered) > best(grid)
    randoms = [best(experiments_07.grid_and_random(3, seed)[1]) for seed in range(200)]
    assert sum(randoms) / len(randoms) > best(grid) + 0.2


def test_uniform_sampling_puts_almost_90_percent_into_the_top_decade():
    shares = experiments_07.decade_shares(n=2000, low=1e-6, high=1e-1, seed=0)["uniform"]
    assert shares[-1] > 0.85
    assert shares[0] + shares[1] < 0.01


def test_log_uniform_samples_spread_evenly_over_the_decades():
    shares = experiments_07.decade_shares(n=2000, low=1e-6, high=1e-1, seed=0)["log_uniform"]
    assert all(abs(share - 0.2) < 0.03 for share in shares)


def test_a_diverged_run_scores_zero(digits):
    run = experiments_07.train_mlp(digits, 10.0, reg=1.0, epochs=1)
    assert math.isnan(run.history.train_loss[-1])
    assert experiments_07.search_objective(digits, epochs=1)(lr=10.0, reg=1.0) == 0.0


def test_the_fine_round_searches_inside_the_best_coarse_trials_and_has_a_much_higher_median(
        searched):
    fine = searched.spaces[1]
    for row in (row for row in searched if row["round"] == 2):
        assert fine["lr"].low <= row["lr"] <= fine["lr"].high
        assert fine["reg"].low <= row["reg"] <= fine["reg"].high
    (_, best1, median1, _), (_, best2, median2, _) = experiments_07.round_summary(searched)
    assert median2 > median1 + 0.1


def test_coarse_to_fine_best_is_at_least_the_coarse_rounds_best(searched):
    coarse_best = max(row["val_acc"] for row in searched if row["round"] == 1)
    assert searched.best["val_acc"] >= coarse_best


def test_the_best_trials_differ_by_only_a_few_validation_examples(digits, searched):
    one_example = 1 / len(digits.y_val)
    assert one_example == pytest.approx(0.0037, abs=1e-4)
    top = [row["val_acc"] for row in searched[:5]]
    assert top[0] - top[-1] <= 3 * one_example + 1e-9


def test_the_chosen_models_validation_accuracy_is_above_its_test_accuracy(digits, searched):
    best = searched.best
    final = experiments_07.train_mlp(digits, best["lr"], reg=best["reg"], epochs=10)
    assert final.history.val_acc[-1] > experiments_07.evaluate_on_test(final, digits)


def test_whitening_with_a_small_eps_amplifies_a_direction_of_almost_zero_variance():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(500, 2, generator=gen, dtype=torch.float64)
    flat = z * torch.tensor([1.0, 1e-4], dtype=torch.float64)  # the second direction is noise
    pca = preprocessing.PCA.fit(flat)
    gains = {eps: 1 / torch.sqrt(pca.variances[1] + eps).item() for eps in (1e-10, 1e-2)}
    assert gains[1e-10] > 1000 * 1 / torch.sqrt(pca.variances[0]).item()
    assert gains[1e-2] < gains[1e-10] / 50


# Loss vs quality metric: we train on cross-entropy and report accuracy.

DIGIT = 5  # the notebook's rare class: one digit against the other nine


@pytest.fixture(scope="module")
def trained(digits):
    return experiments_07.train_mlp(digits, lr=0.1, epochs=5).model


def test_accuracy_is_piecewise_constant_along_a_line_while_the_loss_changes_everywhere(
        digits, trained):
    ts = torch.linspace(-0.2, 0.2, 81).tolist()
    losses, accuracies = experiments_07.loss_and_accuracy_along(
        trained, digits.x_val, digits.y_val, ts)
    flat = sum(a == b for a, b in zip(accuracies[:-1], accuracies[1:], strict=True)) / (len(ts) - 1)
    assert flat > 0.5  # zero finite difference on most steps: no slope to follow
    assert all(a != b for a, b in zip(losses[:-1], losses[1:], strict=True))
    assert len(set(accuracies)) <= len(digits.y_val) + 1  # a multiple of 1/N, a staircase


def test_accuracy_through_argmax_has_no_gradient_cross_entropy_has_one(digits, trained):
    logits = trained(digits.x_val)
    accuracy = (logits.argmax(dim=1) == digits.y_val).double().mean()
    assert not accuracy.requires_grad
    loss = torch.nn.functional.cross_entropy(logits, digits.y_val)
    loss.backward()
    assert all(p.grad.abs().sum() > 0 for p in trained.parameters())
    trained.zero_grad()


def test_always_answering_the_majority_class_scores_about_90_percent_and_finds_nothing(digits):
    y = experiments_07.one_vs_rest(digits.y_test, digit=DIGIT)
    assert 0.05 < y.double().mean() < 0.15  # the digit is about a tenth of the test set
    report = experiments_07.binary_report(y, torch.zeros_like(y))
    assert report["accuracy"] > 0.85
    assert report["recall"] == 0 and report["precision"] == 0 and report["f1"] == 0


def test_the_net_finds_the_rare_digit_yet_beats_the_majority_by_little_accuracy(digits, trained):
    y = experiments_07.one_vs_rest(digits.y_test, digit=DIGIT)
    with torch.no_grad():
        pred = experiments_07.one_vs_rest(trained(digits.x_test).argmax(dim=1), digit=DIGIT)
    report = experiments_07.binary_report(y, pred)
    majority = experiments_07.binary_report(y, torch.zeros_like(y))
    assert report["recall"] > 0.8 and report["precision"] > 0.9 and report["f1"] > 0.8
    assert report["accuracy"] - majority["accuracy"] < 0.15  # accuracy barely tells them apart
