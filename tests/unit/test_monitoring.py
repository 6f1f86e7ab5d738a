"""Monitoring: the initial-loss check and the update-to-weight ratio tracker."""

import math

import pytest
import torch
from torch import nn

from course_lib import monitoring
from course_lib.training import fit


def test_expected_initial_loss_is_the_cross_entropy_of_a_uniform_guess():
    for classes in (2, 10, 1000):
        uniform = nn.functional.cross_entropy(torch.zeros(1, classes), torch.tensor([0]))
        assert monitoring.expected_initial_loss(classes) == pytest.approx(uniform.item())


def test_initial_loss_runs_in_eval_mode_and_restores_the_mode():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.9), nn.Linear(4, 2))
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    model.train()
    first = monitoring.initial_loss(model, x, y)
    assert model.training
    assert monitoring.initial_loss(model, x, y) == first  # dropout off: deterministic


def test_update_ratio_is_the_relative_frobenius_norm_of_the_change():
    before = torch.tensor([[3.0, 0.0], [0.0, 4.0]])
    after = before + torch.tensor([[0.0, 0.05], [0.0, 0.0]])
    assert monitoring.update_ratio(before, after) == pytest.approx(0.01)


def tiny_problem(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    return model, [(x[:8], y[:8]), (x[8:], y[8:])]


def test_tracker_records_one_ratio_per_step_for_every_weight_matrix_only():
    model, batches = tiny_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    tracker = monitoring.UpdateRatios(model, optimizer)
    fit(model, batches, optimizer, epochs=3, progress=False)
    assert set(tracker.ratios) == {"0.weight", "2.weight"}
    assert all(len(values) == 6 for values in tracker.ratios.values())


def test_first_sgd_ratio_is_lr_times_gradient_norm_over_weight_norm():
    model, batches = tiny_problem()
    weight = model[0].weight.detach().clone()
    x, y = batches[0]
    nn.functional.cross_entropy(model(x), y).backward()
    expected = 0.05 * model[0].weight.grad.norm() / weight.norm()
    model.zero_grad()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    tracker = monitoring.UpdateRatios(model, optimizer)
    fit(model, batches[:1], optimizer, epochs=1, progress=False)
    assert tracker.ratios["0.weight"][0] == pytest.approx(expected.item(), rel=1e-5)


def test_tracker_works_with_other_optimizers_and_stops_after_remove():
    model, batches = tiny_problem()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tracker = monitoring.UpdateRatios(model, optimizer)
    fit(model, batches, optimizer, epochs=1, progress=False)
    tracker.remove()
    fit(model, batches, optimizer, epochs=2, progress=False)
    assert all(len(values) == 2 for values in tracker.ratios.values())
    assert all(0 < value < 1 for values in tracker.ratios.values() for value in values)


def test_geometric_mean_is_the_typical_value_on_a_log_scale():
    model, _ = tiny_problem()
    tracker = monitoring.UpdateRatios(model, torch.optim.SGD(model.parameters(), lr=0.1))
    tracker.ratios = {"w": [1e-4, 1e-2]}
    assert tracker.geometric_mean()["w"] == pytest.approx(1e-3)
    tracker.ratios = {"w": [1e-3, math.nan]}
    assert math.isnan(tracker.geometric_mean()["w"])
