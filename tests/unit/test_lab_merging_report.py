"""The lecture-10 helpers: the verdicts read from a comparison table and the standardized toy."""

import pytest
import torch

from course_lib import data, models
from course_lib.labs.merging import report as merging_report
from course_lib.labs.merging import toy_task as merging_toy


def row(method, mean, std, n=2, metric="test_loss"):
    return {"method": method, "metric": metric, "mean": mean, "std": std, "n": n}


@pytest.mark.parametrize("mine, expected", [(0.30, "better"), (0.39, "tie"), (0.41, "tie"),
                                            (0.50, "worse")])
def test_a_loss_verdict_compares_the_difference_with_the_larger_spread(mine, expected):
    summary = [row("merged", mine, 0.01), row("one_model", 0.40, 0.02)]
    outcome, diff, spread = merging_report.verdict(summary, "merged", "one_model")
    assert outcome == expected
    assert diff == pytest.approx(0.40 - mine)
    assert spread == 0.02


def test_an_accuracy_verdict_counts_a_higher_mean_as_better():
    summary = [row("merged", 0.8, 0.01, metric="test_acc"),
               row("one_model", 0.7, 0.02, metric="test_acc")]
    assert merging_report.verdict(summary, "merged", "one_model")[0] == "better"
    assert merging_report.verdict(summary, "one_model", "merged")[0] == "worse"


def test_a_single_run_gives_no_verdict():
    summary = [row("merged", 0.1, 0.0, n=1), row("one_model", 0.9, 0.0, n=3)]
    assert merging_report.verdict(summary, "merged", "one_model")[0] == "single"


def test_an_unknown_method_raises_a_value_error_naming_the_known_rows():
    with pytest.raises(ValueError, match="one_model"):
        merging_report.verdict([row("one_model", 0.4, 0.0)], "merged", "one_model")


def test_the_toy_inputs_are_standardized_with_training_statistics_and_targets_kept():
    toy, mean, std = merging_toy.toy_task(seed=0)
    raw = data.load("sines", seed=0)
    x = toy.train.tensors[0]
    assert x.shape == raw.train.tensors[0].shape == (700, 1)
    assert abs(x.mean().item()) < 1e-5 and x.std(correction=0).item() == pytest.approx(1, abs=1e-4)
    torch.testing.assert_close(toy.val.tensors[0] * std + mean, raw.val.tensors[0])
    torch.testing.assert_close(toy.test.tensors[1], raw.test.tensors[1])


def test_the_toy_model_is_our_1_64_64_1_regressor():
    assert models.count_parameters(merging_toy.make_toy()) == (1 + 1) * 64 + (64 + 1) * 64 + 65


def test_one_thread_is_restored_afterwards():
    threads = torch.get_num_threads()
    with merging_toy.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == threads


def table_of(**means):
    """A loss table with a spread of 0.02 for every method."""
    return [row(method, mean, 0.02) for method, mean in means.items()]


def test_every_method_of_the_same_budget_appears_in_each_merging_line():
    summary = table_of(error_driven=0.30, greedy=0.33, one_model=0.29, bo3=0.40,
                       teacher_finetuned=0.20, distillation=0.31)
    lines = merging_report.verdicts(summary, lang="en")
    assert len(lines) == 2
    for line, method in zip(lines, ("error-driven", "greedy"), strict=True):
        assert line.startswith(method)
        for name in ("one model", "best of 3", "better teacher fine-tuned", "distillation"):
            assert name in line
    assert lines[0] == (
        "error-driven merging (0.3000): better than greedy merging (0.3300), best of 3 (bo3) "
        "(0.4000); within the spread over seeds: one model (0.2900), distillation from both "
        "teachers (0.3100); worse than better teacher fine-tuned (0.2000).")


def test_a_verdict_sentence_names_the_better_method_first():
    summary = table_of(error_driven=0.30, one_model=0.25)
    text = merging_report.sentence(summary, "error_driven", "one_model", lang="en")
    assert text.startswith("one model (0.2500) is better than error-driven merging (0.3000)")
    slovak = merging_report.sentence(summary, "error_driven", "one_model", lang="sk")
    assert "Lepší výsledok má jeden model (0,2500)" in slovak


def test_the_best_method_and_those_within_its_spread():
    summary = table_of(error_driven=0.300, greedy=0.305, one_model=0.29, bo3=0.40)
    assert merging_report.best(summary) == ("one_model", ["error_driven", "greedy"])
    alone = table_of(error_driven=0.30, one_model=0.10)
    assert merging_report.best(alone) == ("one_model", [])
    assert "every other method is worse" in merging_report.best_sentence(alone, lang="en")


def test_the_joined_note_says_which_of_joined_and_student_is_better():
    summary = [row("joined", 0.9, 0.01, metric="test_acc") | {"params": 400},
               row("error_driven", 0.8, 0.01, metric="test_acc") | {"params": 100,
                                                                    "finetuning": "3"}]
    note = merging_report.joined_note(summary, lang="en")
    assert note.startswith("The gated joined model (90.00%) is better")
    assert "400 parameters" in note and "fine-tuning (3 epochs)" in note
    summary[0]["mean"] = 0.7
    assert merging_report.joined_note(summary, lang="en").startswith("The error-driven student")
    assert merging_report.joined_note(table_of(one_model=0.3), lang="en") is None


def test_accuracies_at_or_below_chance_are_named():
    summary = [row("teacher", 0.09, 0.0, metric="test_acc"),
               row("one_model", 0.5, 0.0, metric="test_acc")]
    note = merging_report.chance_note(summary, 10, lang="en")
    assert "teacher" in note and "one model" not in note
    assert merging_report.chance_note(summary[1:], 10, lang="en") is None
