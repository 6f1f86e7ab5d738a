"""The helpers of lecture 07's experiments: fast batches, the digits split, the MLP, the toys."""

import math

import pytest
import torch

from course_lib.lectures import practice as experiments_07


def test_tensor_batches_cover_every_example_once_per_epoch_in_a_new_order():
    x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    batches = experiments_07.TensorBatches(x, y, batch_size=4, seed=0)
    assert len(batches) == 3
    epochs = [torch.cat([b[1] for b in batches]) for _ in range(2)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(10))
    assert not torch.equal(epochs[0], epochs[1])
    assert [len(b[1]) for b in batches] == [4, 4, 2]


def test_tensor_batches_are_reproducible_from_the_seed():
    x, y = torch.randn(9, 2), torch.arange(9)
    a = [b[1].tolist() for b in experiments_07.TensorBatches(x, y, 4, seed=3)]
    b = [b[1].tolist() for b in experiments_07.TensorBatches(x, y, 4, seed=3)]
    assert a == b


@pytest.fixture(scope="module")
def digits():
    return experiments_07.load_digits()


def test_digits_split_and_subset_sizes(digits):
    assert digits.x_train.shape == (1258, 1, 8, 8)
    assert len(digits.y_val) == 270 and len(digits.y_test) == 269
    assert len(digits.train_batches(batch_size=20, n=20)) == 1


def test_digits_mlp_small_init_and_default_init():
    small = experiments_07.digits_mlp(init_std=0.01, seed=1)
    assert small[1].weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert torch.equal(small[3].bias, torch.zeros(10))
    assert torch.equal(experiments_07.digits_mlp(seed=2)[1].weight,
                       experiments_07.digits_mlp(seed=2)[1].weight)
    assert small(torch.zeros(5, 1, 8, 8)).shape == (5, 10)


def test_train_mlp_is_deterministic_and_tracks_ratios_on_request(digits):
    a = experiments_07.train_mlp(digits, 0.05, epochs=1, n_train=100, track_ratios=True)
    b = experiments_07.train_mlp(digits, 0.05, epochs=1, n_train=100)
    assert a.history.step_loss == b.history.step_loss
    assert b.ratios is None and len(a.ratios.ratios["1.weight"]) == 2


def test_important_score_peaks_at_0_7_between_the_grid_points():
    assert experiments_07.important_score(0.7) == pytest.approx(0.9)
    grid, _ = experiments_07.grid_and_random(3)
    assert {round(x, 4) for x, _ in grid} == {0.1667, 0.5, 0.8333}


def test_decade_shares_sum_to_one():
    shares = experiments_07.decade_shares(n=500, seed=1)
    for values in shares.values():
        assert len(values) == 5 and math.isclose(sum(values), 1.0)


def test_round_summary_reports_best_and_median_per_round():
    rows = [{"val_acc": v, "round": r} for v, r in [(0.1, 1), (0.5, 1), (0.3, 1), (0.9, 2)]]
    assert experiments_07.round_summary(rows) == [(1, 0.5, 0.3, 3), (2, 0.9, 0.9, 1)]


def test_loss_and_accuracy_along_restores_the_weights_and_starts_at_the_model_itself():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4))
    x, y = torch.randn(10, 3), torch.randint(0, 4, (10,))
    before = [p.detach().clone() for p in model.parameters()]
    losses, accuracies = experiments_07.loss_and_accuracy_along(model, x, y, [0.0, 0.5])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert losses[0] == pytest.approx(torch.nn.functional.cross_entropy(model(x), y).item())
    assert accuracies[0] == (model(x).argmax(dim=1) == y).double().mean().item()


def test_binary_report_of_a_perfect_guess_is_all_ones():
    y = torch.tensor([0, 1, 0, 0, 1])
    assert experiments_07.binary_report(y, y) == {"accuracy": 1.0, "precision": 1.0, "recall": 1.0,
                                            "f1": 1.0}
