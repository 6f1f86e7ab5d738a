"""Claims of lecture 04 (optimizers) beyond tests/claims/test_optimizer_claims.py.

Each test reruns the notebook's experiment from course_lib.lectures.optimizers (float64, seeded)
and fails if the sentence in the notebook would stop being true.
"""

import math
from functools import cache

import pytest
import torch

from course_lib import schedules
from course_lib.lectures import optimizers as oe

STEPS = 60


def bowl_distance(method):
    return oe.distance_to_minimum("bowl", oe.optimizer_path("bowl", method, steps=STEPS))


def test_sgd_zig_zags_across_the_steep_axis_of_the_ill_conditioned_bowl():
    path = oe.optimizer_path("bowl", "sgd", steps=STEPS)
    signs = (path[1:10, 1] > 0).tolist()
    assert all(a != b for a, b in zip(signs, signs[1:], strict=False))
    assert bowl_distance("sgd") > 1.0


def test_momentum_with_the_same_lr_ends_almost_ten_times_closer_than_sgd():
    assert oe.DEFAULT_LR["bowl"]["momentum"] == oe.DEFAULT_LR["bowl"]["sgd"]
    assert bowl_distance("momentum") < bowl_distance("sgd") / 8


def test_nesterov_diverges_at_the_sgd_lr_but_converges_at_a_smaller_one():
    far = oe.optimizer_path("bowl", "nesterov", lr=0.17, steps=STEPS)
    assert oe.distance_to_minimum("bowl", far) > 100
    assert bowl_distance("nesterov") < bowl_distance("momentum")


@pytest.mark.parametrize("method", ["adagrad", "rmsprop", "adam"])
def test_adaptive_methods_end_much_closer_than_sgd_on_the_bowl(method):
    assert bowl_distance(method) < bowl_distance("sgd") / 5


def test_sgd_stepping_above_2_over_the_steep_curvature_diverges():
    path = oe.optimizer_path("bowl", "sgd", lr=0.21, steps=STEPS)
    assert abs(path[-1, 1].item()) > abs(path[0, 1].item())


def test_adam_bias_correction_makes_every_step_lr_for_a_constant_gradient():
    assert oe.adam_step_sizes(50, bias_correction=True) == pytest.approx([1.0] * 50, rel=1e-6)


def test_adam_without_correction_takes_a_3_2_times_too_large_first_step_up_to_6_5():
    sizes = oe.adam_step_sizes(50, bias_correction=False)
    assert sizes[0] == pytest.approx(0.1 / math.sqrt(0.001), rel=1e-5)
    assert 6.5 < max(sizes) < 6.7
    assert 8 <= sizes.index(max(sizes)) + 1 <= 14


def test_plain_gd_started_on_the_stable_axis_stalls_at_the_saddle_point():
    path = oe.optimizer_path("saddle", "sgd", steps=100)
    assert path[:, 1].abs().max().item() == 0.0
    assert path[-1].norm().item() < 1e-3
    assert oe.distance_to_minimum("saddle", path) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("method", ["sgd", "momentum", "adam"])
def test_noisy_gradients_escape_the_saddle_point(method):
    path = oe.optimizer_path("saddle", method, steps=100, noise=0.05)
    assert oe.distance_to_minimum("saddle", path) < 0.2


@pytest.mark.parametrize("method", ["momentum", "adam"])
def test_momentum_and_adam_leave_the_saddle_faster_than_noisy_sgd(method):
    def leave_time(m):
        path = oe.optimizer_path("saddle", m, steps=100, noise=0.05)
        return next(i for i, p in enumerate(path) if abs(p[1].item()) > 0.5)

    assert leave_time(method) < leave_time("sgd")


@pytest.mark.parametrize("evaluations", [200, 1000])
def test_lbfgs_after_30_gradients_beats_gradient_descent_after_all_of_them(evaluations):
    curves = oe.lbfgs_vs_sgd(evaluations)
    assert len(curves["sgd"]) == evaluations
    assert curves["lbfgs"][29] < curves["sgd"][-1]


def test_schedule_values_printed_in_the_notebook():
    def at(name, t, **hyper):
        return round(schedules.lr_at(name, t, 0.1, **hyper), 4)

    assert [at("step", t, step_size=25, gamma=0.5) for t in (0, 25, 50, 99)] == \
        [0.1, 0.05, 0.025, 0.0125]
    assert [at("inverse_time", t, k=0.05) for t in (0, 25, 50, 99)] == \
        [0.1, 0.0444, 0.0286, 0.0168]
    assert [at("cosine", t, T_max=100) for t in (0, 50, 99)] == [0.1, 0.05, 0.0]
    assert [at("warm_restarts", t, T_0=25, T_mult=2) for t in (24, 25, 50, 75)] == \
        [0.0004, 0.1, 0.05, 0.1]
    assert at("exponential", 25, gamma=0.97) == 0.0467


@pytest.mark.parametrize("method", ["adagrad", "rmsprop", "adam"])
def test_adaptive_methods_move_both_coordinates_equally_on_the_first_step(method):
    path = oe.optimizer_path("bowl", method, steps=1)
    step = (path[1] - path[0]).abs()
    assert step[0].item() == pytest.approx(step[1].item(), rel=1e-6)


def test_the_bowl_is_50_times_more_curved_along_x2_than_along_x1():
    hessian = torch.autograd.functional.hessian(oe.SURFACES["bowl"],
                                                torch.zeros(2, dtype=torch.float64))
    assert hessian.diag().tolist() == pytest.approx([0.2, 10.0])
    assert hessian[1, 1] / hessian[0, 0] == pytest.approx(50.0)


# "Test rozsahu a politika jedného cyklu": the notebook's setup (our MLP 64-64-10 on digits,
# SGD with momentum 0.9, batches of 64, 60 steps of the range test, 3 epochs of one cycle).
def digits_mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, 10))


@pytest.fixture(scope="module")
def range_test_and_one_cycle():
    from course_lib import data
    from course_lib.training import fit

    train, val, _ = data.split(*data.digits()).loaders(batch_size=64)
    model = digits_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    found = oe.lr_range_test(model, train, optimizer, lr_min=1e-4, lr_max=10.0, steps=60)
    epochs = 3
    scheduler = schedules.OneCycleLR(optimizer, max_lr=found.suggestion,
                                     total_steps=epochs * len(train))
    history = fit(model, train, optimizer, epochs=epochs, val_data=val, scheduler=scheduler,
                  scheduler_interval="batch", progress=False)
    return found, history


def test_range_test_loss_first_falls_then_rises_sharply_at_large_rates(range_test_and_one_cycle):
    found, _ = range_test_and_one_cycle
    smoothed = found.smoothed
    k = smoothed.index(min(smoothed))
    assert 0 < k < len(smoothed) - 1
    small = [value for value, lr in zip(smoothed, found.lrs, strict=True) if lr <= 1e-2]
    assert max(abs(value - smoothed[0]) for value in small) < 0.03 * smoothed[0]
    assert smoothed[0] > 1.2 * smoothed[k]
    assert smoothed[-1] > 1.2 * smoothed[k]
    assert found.suggestion == pytest.approx(found.lrs[k] / 10)


def test_one_cycle_peaking_at_the_suggestion_reaches_over_085_in_3_epochs(
        range_test_and_one_cycle):
    _, history = range_test_and_one_cycle
    assert len(history.val_acc) == 3
    assert history.val_acc[-1] > 0.85


def test_one_cycle_warms_up_from_max_over_25_for_30_percent_then_anneals_to_max_over_25e4():
    total = 100
    lrs = [schedules.one_cycle_lr(t, 1.0, total) for t in range(total)]
    assert lrs[0] == pytest.approx(1 / 25)
    assert max(lrs) == pytest.approx(1.0)
    assert lrs.index(max(lrs)) == 29
    assert lrs[-1] == pytest.approx(1 / (25 * 1e4))


def test_adam_l2_decay_is_inversely_proportional_to_the_gradient_scale_adamw_is_uniform():
    decay = oe.effective_decay([0.01, 0.1, 1.0, 10.0], lr=1e-3, weight_decay=1e-2)
    ratio = (decay["adam_l2"][0] / decay["adam_l2"][-1]).item()
    assert 500 < ratio < 2000
    assert torch.all(decay["adam_l2"][:-1] > 5 * decay["adam_l2"][1:])
    assert torch.allclose(decay["adamw"], torch.full((4,), 1e-5, dtype=torch.float64))


# The effect of a step decay on the training curve (section after the schedules). Our choices:
# the digits MLP 64-64-10, SGD with momentum 0.9 at the rate 0.3, mini-batches of 32, 4 epochs,
# the rate multiplied by 0.1 after epoch 2 (schedules.StepLR) vs kept constant. Several seeds.

DECAY_SEEDS = range(4)
DECAY_EPOCH, DECAY_EPOCHS = 2, 4


@cache
def decay_runs(seed):
    return oe.step_decay_runs(epochs=DECAY_EPOCHS, decay_epoch=DECAY_EPOCH, lr=0.3, gamma=0.1,
                              batch_size=32, seed=seed)


@pytest.mark.parametrize("seed", DECAY_SEEDS)
def test_step_decay_and_constant_rate_coincide_until_the_decay(seed):
    step, constant = decay_runs(seed)["step"], decay_runs(seed)["constant"]
    decay_step = DECAY_EPOCH * len(step.step_loss) // DECAY_EPOCHS
    assert step.step_loss[:decay_step] == constant.step_loss[:decay_step]
    assert step.step_lr[decay_step - 1] == 0.3
    assert step.step_lr[decay_step] == pytest.approx(0.03)
    assert set(constant.step_lr) == {0.3}


@pytest.mark.parametrize("seed", DECAY_SEEDS)
def test_the_loss_drops_right_after_the_decay_more_than_at_a_constant_rate_and_ends_lower(seed):
    step, constant = (oe.decay_effect(decay_runs(seed)[kind], DECAY_EPOCH)
                      for kind in ("step", "constant"))
    assert step.drop > 0.1  # one step down, visible on the curve
    assert step.drop > constant.drop + 0.05  # more than the same steps at a constant rate
    assert step.final < constant.final
