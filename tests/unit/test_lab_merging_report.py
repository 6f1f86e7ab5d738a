"""The lecture-10 helpers: the verdict rule for a comparison table and the standardized toy."""

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


def test_the_toy_model_is_the_talks_1_100_1_regressor():
    assert models.count_parameters(merging_toy.make_toy()) == 301
