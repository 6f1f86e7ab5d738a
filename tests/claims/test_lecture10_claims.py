"""Claims of lecture 10 (merging two teachers with relaxed L0 gates) that the library's own tests
do not cover.

Tested elsewhere and not repeated here: samples in [0, 1], the point masses and the Monte Carlo
frequency of g > 0 against the closed form (tests/unit/test_l0.py); the joined model averaging
its teachers, the pruned student's architecture and the toy student beating its teachers
(tests/unit/test_merging.py, tests/claims/test_merging_claims.py). The toy runs below are the
notebook's own (same data, sizes and seeds; deterministic on the CPU).
"""

import itertools
import math

import pytest
import torch

from course_lib import l0
from course_lib.exercises.merging import half_penalty, join_linear
from course_lib.labs.merging import algorithms as merging
from course_lib.labs.merging import baselines as mb
from course_lib.labs.merging import report as merging_report
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


# The toy experiment of the notebook in the quick profile: standardized sines, teachers 1-100-1
# trained T = 60 epochs each, M = 10 merging and F = 30 fine-tuning epochs, Adam lr 1e-2,
# mini-batches of 64, seeds 0 and 1.
T, M, F = 60, 10, 30
TOY_KW = {"lr": 1e-2, "batch_size": 64}
FULL_BUDGET = ("error_driven", "greedy", "one_model", "bo3", "teacher_finetuned", "distillation")


@pytest.fixture(scope="module")
def toy():
    return merging_toy.toy_task(seed=0)[0]


@pytest.fixture(scope="module")
def demo(toy):
    """The step-by-step cells: teachers A (seed 0) and B (seed 1), both merges."""
    make = merging_toy.make_toy
    a = mb.train_fresh(make, toy, T, seed=0, **TOY_KW)
    b = mb.train_fresh(make, toy, T, seed=1, **TOY_KW)
    error_driven = merging.error_driven_merge(a, b, toy, merge_epochs=M, finetune_epochs=F,
                                              alpha=1.0, alpha_growth=1.5, seed=0, **TOY_KW)
    greedy = merging.greedy_merge(a, b, toy, gate_epochs=math.ceil(M / 2),
                                  layer_epochs=max(1, M // 4), finetune_epochs=F, seed=0,
                                  **TOY_KW)
    return a, b, error_driven, greedy


def toy_summary(toy, batch_size):
    rows = mb.compare(merging_toy.make_toy, toy, teacher_epochs=T, merge_epochs=M,
                      finetune_epochs=F, seeds=(0, 1), alpha=1.0, alpha_growth=1.5, lr=1e-2,
                      batch_size=batch_size)
    return {row["method"]: row for row in mb.summarize(rows)}


@pytest.fixture(scope="module")
def table(toy):
    return toy_summary(toy, 64)


def val_mse(model, splits):
    return mb.scores(model, splits)["val_loss"]


def verdict(table, method):
    return merging_report.verdict(list(table.values()), method, "one_model")[0]


def test_the_gates_move_towards_one_half_as_alpha_grows_without_reaching_it(demo):
    history = demo[2].history
    keep = [k[0] for k in history["keep"]]
    assert all(later > earlier for earlier, later in itertools.pairwise(history["alpha"]))
    assert keep[0] > 0.95
    assert 0.5 < keep[-1] < 0.7


def test_the_gates_split_into_open_and_closed_and_the_kept_units_are_open(demo):
    result = demo[2]
    keep = result.joined.gates[0].keep_probability().detach().cpu()
    undecided = ((keep > 0.1) & (keep < 0.9)).float().mean().item()
    assert undecided < 0.2
    assert keep[result.kept[0].cpu()].min() > 0.5


def test_the_students_keep_units_of_both_teachers(demo):
    for result in demo[2:]:
        assert 0.2 < result.from_a()[0] < 0.8
        assert len(result.kept[0]) == 100


def test_the_teachers_average_lies_between_the_teachers(demo, toy):
    a, b = demo[:2]
    teachers = sorted((val_mse(a, toy), val_mse(b, toy)))
    assert teachers[0] < val_mse(merging.join(a, b).eval(), toy) < teachers[1]


def test_the_gated_joined_model_is_worse_than_the_better_teacher_right_after_merging(demo, toy):
    a, b, error_driven, _ = demo
    assert val_mse(error_driven.joined.eval(), toy) > min(val_mse(a, toy), val_mse(b, toy))


def test_both_fine_tuned_students_have_a_lower_validation_mse_than_each_teacher(demo, toy):
    a, b, error_driven, greedy = demo
    best_teacher = min(val_mse(a, toy), val_mse(b, toy))
    for result in (error_driven, greedy):
        assert val_mse(result.student, toy) < best_teacher


def test_the_merged_students_beat_teachers_ensemble_bo3_and_distillation(table):
    worst_student = max(table[m]["mean"] for m in ("error_driven", "greedy"))
    for rival in ("teacher", "ensemble", "bo3", "distillation"):
        assert worst_student < table[rival]["mean"]


def test_merging_does_not_beat_one_model_error_driven_ties_and_greedy_loses(table):
    best = min(FULL_BUDGET, key=lambda m: table[m]["mean"])
    assert best == "one_model"
    assert verdict(table, "error_driven") == "tie"
    assert verdict(table, "greedy") == "worse"


def test_with_batch_128_both_merges_lose_to_one_model(toy):
    table = toy_summary(toy, 128)
    assert verdict(table, "error_driven") == "worse"
    assert verdict(table, "greedy") == "worse"


def test_distillation_is_the_weakest_full_budget_method(table):
    assert max(FULL_BUDGET, key=lambda m: table[m]["mean"]) == "distillation"


def test_the_seed_merged_resnet18_beats_150_epochs_of_one_model_by_0_19_points():
    accuracies = [row["test_acc"] for row in mb.RESNET18_IMAGENET]
    assert round(100 * (accuracies[2] - accuracies[1]), 2) == 0.19
    assert sum(int(e) for e in mb.RESNET18_IMAGENET[2]["teachers"].split(" + ")) == 40
