"""Claims of lecture 10 (merging two teachers with relaxed L0 gates) that the library's own tests
do not cover.

Tested elsewhere and not repeated here: samples in [0, 1], the point masses and the Monte Carlo
frequency of g > 0 against the closed form (tests/unit/test_l0.py); the joined model averaging
its teachers and the pruned student's architecture (tests/unit/test_lab_merging.py); the
comparisons of every method at the same budget (tests/claims/test_merging_claims.py). The toy
runs below are the notebook's step-by-step cells (same data, settings and seeds as
``experiments.EXPERIMENTS["quick"]["toy"]``; deterministic on the CPU).
"""

import itertools
import math

import pytest
import torch

from course_lib import l0
from course_lib.exercises.merging import half_penalty, join_linear
from course_lib.labs.merging import algorithms as merging
from course_lib.labs.merging import baselines as mb
from course_lib.labs.merging import experiments
from course_lib.labs.merging import toy_task as merging_toy

F64 = torch.float64


def test_at_log_alpha_zero_the_gate_is_symmetric_with_a_sixth_at_each_end():
    zero = torch.tensor(0.0, dtype=F64)
    p0, p1 = l0.prob_zero(zero).item(), l0.prob_one(zero).item()
    assert p0 == pytest.approx(p1, abs=1e-12)
    assert round(p0, 2) == 0.17
    assert 1 - p0 - p1 == pytest.approx(2 / 3, abs=0.01)


def test_negative_log_alpha_pushes_the_gate_to_zero_and_positive_to_one():
    grid = torch.linspace(-6, 6, 121, dtype=F64)
    assert (l0.prob_zero(grid).diff() < 0).all()
    assert (l0.prob_one(grid).diff() > 0).all()
    assert l0.prob_zero(grid[0]) > 0.98 and l0.prob_one(grid[-1]) > 0.98


def test_the_notebook_monte_carlo_matches_the_closed_forms_to_two_or_three_decimals():
    generator = torch.Generator().manual_seed(0)
    for la in (-2.0, 0.0, 2.0):
        log_alpha = torch.tensor(la, dtype=F64)
        u = torch.rand(100_000, generator=generator, dtype=F64)
        g = l0.sample_hard_concrete(log_alpha, u)
        for frequency, closed in (((g == 0).double().mean(), l0.prob_zero(log_alpha)),
                                  ((g == 1).double().mean(), l0.prob_one(log_alpha)),
                                  ((g > 0).double().mean(), l0.prob_nonzero(log_alpha))):
            assert abs(frequency - closed) < 0.002


def test_the_density_carries_the_probability_between_the_point_masses():
    x = torch.linspace(0, 1, 200_001, dtype=F64)[1:-1]
    for la in (-2.0, 0.0, 2.0):
        log_alpha = torch.tensor(la, dtype=F64)
        inside = torch.trapezoid(l0.hard_concrete_density(x, log_alpha), x)
        expected = 1 - l0.prob_zero(log_alpha) - l0.prob_one(log_alpha)
        assert inside == pytest.approx(expected.item(), abs=1e-4)


def test_the_test_gate_is_one_half_at_zero_and_exactly_zero_from_minus_log_11_down():
    gate = l0.deterministic_gate(torch.tensor([0.0, -2.0, 2.0], dtype=F64))
    assert gate[0].item() == pytest.approx(0.5, abs=1e-12)
    assert [round(v, 2) for v in gate[1:].tolist()] == [0.04, 0.96]
    edge = -math.log(11)
    assert l0.deterministic_gate(torch.tensor(edge - 1e-9, dtype=F64)) == 0
    assert l0.deterministic_gate(torch.tensor(edge + 1e-6, dtype=F64)) > 0
    assert round(edge, 1) == -2.4


def test_the_penalty_gradient_is_p_times_one_minus_p_and_always_positive():
    log_alpha = torch.linspace(-8, 8, 33, dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(l0.prob_nonzero(log_alpha).sum(), log_alpha)
    p = l0.prob_nonzero(log_alpha).detach()
    torch.testing.assert_close(grad, p * (1 - p))
    assert (grad > 0).all()
    assert round(l0.BETA * math.log(-l0.GAMMA / l0.ZETA), 1) == -1.6


def test_a_clamped_gate_passes_no_gradient_to_log_alpha_and_an_open_one_does():
    log_alpha = torch.tensor([-3.0, 0.0, 3.0], dtype=F64, requires_grad=True)
    g = l0.sample_hard_concrete(log_alpha, torch.tensor([0.01, 0.5, 0.99], dtype=F64))
    (grad,) = torch.autograd.grad(g.sum(), log_alpha)
    assert g.tolist()[0] == 0.0 and g.tolist()[2] == 1.0
    assert grad[0] == 0 and grad[2] == 0 and grad[1] > 0


def test_smaller_temperature_makes_the_gate_more_binary():
    zero = torch.tensor(0.0, dtype=F64)
    ends = [(l0.prob_zero(zero, beta=b) + l0.prob_one(zero, beta=b)).item()
            for b in (1 / 6, 2 / 3, 3 / 2)]
    assert ends[0] > ends[1] > ends[2]
    assert ends[0] > 0.6 and ends[2] < 0.2


def test_the_half_penalty_gradient_changes_sign_at_half_of_the_layer():
    def grad_at(keep: float) -> torch.Tensor:
        start = math.log(keep / (1 - keep)) + l0.BETA * math.log(-l0.GAMMA / l0.ZETA)
        log_alpha = torch.full((8,), start, dtype=F64, requires_grad=True)
        (grad,) = torch.autograd.grad(half_penalty(log_alpha, 1.0), log_alpha)
        return grad

    assert (grad_at(0.9) > 0).all()
    assert (grad_at(0.2) < 0).all()
    assert grad_at(0.5).abs().max() < 1e-12


def test_a_block_diagonal_layer_computes_both_teachers_side_by_side():
    gen = torch.Generator().manual_seed(0)
    w1, w2 = (torch.randn(4, 3, generator=gen, dtype=F64) for _ in range(2))
    b1, b2 = (torch.randn(4, generator=gen, dtype=F64) for _ in range(2))
    x1, x2 = (torch.randn(5, 3, generator=gen, dtype=F64) for _ in range(2))
    weight, bias = join_linear(w1, b1, w2, b2)
    joined = torch.cat([x1, x2], dim=1) @ weight.T + bias
    torch.testing.assert_close(joined, torch.cat([x1 @ w1.T + b1, x2 @ w2.T + b2], dim=1))


# The notebook's step-by-step toy cells: teachers A (seed 0) and B (seed 1), both merges, with
# the settings of the quick profile's toy comparison (the same in the full profile).
CONFIG = experiments.EXPERIMENTS["quick"]["toy"]
_, T, M, F = CONFIG.splits[0]
KW = {"lr": CONFIG.lr, "batch_size": CONFIG.batch_size}
MERGE_KW = {"alpha": CONFIG.alpha, "alpha_growth": CONFIG.alpha_growth, **KW}


def test_the_toy_settings_are_the_ones_the_notebook_states():
    assert CONFIG.splits == (("ours", 250, 50, 150),) and CONFIG.budget == 700
    assert (CONFIG.lr, CONFIG.batch_size, CONFIG.alpha, CONFIG.alpha_growth) == (5e-3, 100, 1.0,
                                                                                 1.1)
    assert 1.1 ** (M - 1) == pytest.approx(100, rel=0.1)  # "about a hundredfold"
    assert experiments.EXPERIMENTS["full"]["toy"].splits == CONFIG.splits
    assert len(CONFIG.seeds) == 3 and len(experiments.EXPERIMENTS["full"]["toy"].seeds) == 5


@pytest.fixture(scope="module")
def toy():
    return merging_toy.toy_task(seed=0)[0]


@pytest.fixture(scope="module")
def demo(toy):
    with merging_toy.one_thread():
        a, b = mb.fresh_runs(merging_toy.make_toy, toy, T, seeds=(0, 1), **KW)
        error_driven = merging.error_driven_merge(a, b, toy, merge_epochs=M, finetune_epochs=F,
                                                  seed=0, **MERGE_KW)
        points = len(merging.join(a, b).point_gates()) + 1
        gate, layer = merging.greedy_split(M, points)
        greedy = merging.greedy_merge(a, b, toy, gate_epochs=gate, layer_epochs=layer,
                                      finetune_epochs=F, seed=0, **MERGE_KW)
    return a, b, error_driven, greedy


def val_mse(model, splits):
    return mb.scores(model, splits)["val_loss"]


def test_the_teachers_fit_the_task_near_the_noise_floor(demo, toy):
    assert merging_toy.NOISE_FLOOR == pytest.approx(0.04)
    for teacher in demo[:2]:
        assert val_mse(teacher, toy) < 0.06


def test_the_gates_reach_one_half_in_every_layer_as_alpha_grows(demo):
    history = demo[2].history
    assert all(later > earlier for earlier, later in itertools.pairwise(history["alpha"]))
    for layer in range(2):
        keep = [k[layer] for k in history["keep"]]
        assert keep[0] > 0.95
        assert 0.45 < keep[-1] < 0.55


def test_most_gates_of_the_plotted_layer_are_almost_surely_open_or_closed(demo):
    keep = demo[2].joined.gates[0].keep_probability().detach().cpu()
    undecided = ((keep > 0.1) & (keep < 0.9)).float().mean().item()
    assert undecided < 0.2


def test_the_students_keep_units_of_both_teachers_in_every_layer(demo):
    for result in demo[2:]:
        assert [len(k) for k in result.kept] == [64, 64]
        assert all(0.2 < share < 0.8 for share in result.from_a())


def test_the_teachers_average_lies_between_the_teachers(demo, toy):
    a, b = demo[:2]
    teachers = sorted((val_mse(a, toy), val_mse(b, toy)))
    assert teachers[0] < val_mse(merging.join(a, b).eval(), toy) < teachers[1]


def test_the_gated_joined_model_is_clearly_worse_than_both_teachers_right_after_merging(demo,
                                                                                       toy):
    a, b, error_driven, _ = demo
    assert val_mse(error_driven.joined.eval(), toy) > 1.5 * max(val_mse(a, toy), val_mse(b, toy))
    assert error_driven.history["open"][-1][0] == pytest.approx(0.5, abs=0.05)


def test_after_fine_tuning_both_students_are_near_the_noise_floor_again(demo, toy):
    for result in demo[2:]:
        assert val_mse(result.student, toy) < 0.055


def test_the_greedy_student_spends_exactly_the_merging_epochs(demo):
    assert demo[3].epochs == {"merge": M, "finetune": F}


def test_the_seed_merged_resnet18_beats_150_epochs_of_one_model_by_0_19_points():
    accuracies = [row["top1"] for row in mb.RESNET18_IMAGENET]
    assert round(100 * (accuracies[2] - accuracies[1]), 2) == 0.19
    assert sum(int(e) for e in mb.RESNET18_IMAGENET[2]["teachers"].split(" + ")) == 40
    assert [row["total"] for row in mb.RESNET18_IMAGENET] == [90, 150, 150]
    assert all("std" not in row for row in mb.RESNET18_IMAGENET)  # the talk gives no spread
