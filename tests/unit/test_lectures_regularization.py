"""The lecture-05 experiment helpers: the task, the training loop, shifts, mask averages."""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from course_lib import data, transfer
from course_lib.ensembles import multi_scale_views, predict_proba
from course_lib.i18n import CourseError
from course_lib.lectures import regularization as rx
from course_lib.models import mlp


def tiny_task():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 40, generator=g)
    y = torch.randint(0, 10, (60,), generator=g)
    return rx.Task(x[:30], y[:30], x[30:45], y[30:45], x[45:], y[45:])


def test_small_task_has_the_documented_sizes_and_is_reproducible():
    task = rx.small_task(n_train=100, n_eval=50)
    assert tuple(task.x_train.shape) == (100, 40) and tuple(task.x_val.shape) == (50, 40)
    assert tuple(task.x_test.shape) == (50, 40) and task.classes == 10
    again = rx.small_task(n_train=100, n_eval=50)
    assert torch.equal(task.x_train, again.x_train) and torch.equal(task.y_val, again.y_val)


def test_wide_mlp_is_seeded_and_leaves_the_global_generator_alone():
    state = torch.get_rng_state()
    a, b, c = rx.wide_mlp(seed=3), rx.wide_mlp(seed=3), rx.wide_mlp(seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a[0].weight, c[0].weight)
    torch.manual_seed(3)
    by_hand = mlp([40, 256, 256, 10], "relu")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), by_hand.parameters(), strict=True))
    assert sum(p.numel() for p in a.parameters()) == 40 * 256 + 256 + 256 * 256 + 256 + 2570


def test_train_is_deterministic_records_every_epoch_and_keeps_the_global_state():
    task = tiny_task()
    state = torch.get_rng_state()
    runs = []
    for _ in range(2):
        model = rx.wide_mlp(hidden=16, dropout=0.5, seed=1)
        runs.append(rx.train(model, task, epochs=3, batch_size=10, l2=1e-3, seed=2))
    assert torch.equal(torch.get_rng_state(), state)
    assert runs[0] == runs[1]
    assert len(runs[0].val_loss) == len(runs[0].train_acc) == 3
    assert 1 <= runs[0].best_epoch <= 3


def test_train_with_l1_makes_exact_zeros_and_record_false_skips_the_curves():
    model = rx.wide_mlp(hidden=16, seed=0)
    curves = rx.train(model, tiny_task(), epochs=3, batch_size=10, l1=0.5, record=False)
    assert curves.val_loss == [] and rx.zero_fraction(model) > 0.5


def test_distillation_from_one_hot_teacher_at_alpha_zero_equals_plain_training():
    task = tiny_task()
    teacher = torch.randn(30, 10)
    a, b = rx.wide_mlp(hidden=8, seed=0), rx.wide_mlp(hidden=8, seed=0)
    plain = rx.train(a, task, epochs=2, batch_size=10)
    distilled = rx.train(b, task, epochs=2, batch_size=10, teacher_logits=teacher, alpha=0.0)
    assert plain.val_loss == distilled.val_loss


def test_random_shift_rolls_every_row_by_at_most_max_shift():
    x = torch.arange(40.0).repeat(50, 1)
    torch.manual_seed(0)
    shifted = rx.random_shift(x, max_shift=3)
    shifts = (-shifted[:, 0]) % 40  # out[i] = x[(i - k) mod 40], so out[0] = -k mod 40
    assert all(int(k) in {0, 1, 2, 3, 37, 38, 39} for k in shifts)
    for row, k in zip(shifted, shifts, strict=True):
        assert torch.equal(row, torch.roll(x[0], shifts=int(k)))


def test_mask_average_of_a_single_input_is_the_weighted_sum_of_two_masks():
    x = torch.tensor([2.0], dtype=torch.float64)
    weight, bias = torch.tensor([[3.0]], dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    # kept with q = 0.25: output 3 * 2 / 0.25 = 24; dropped: 0; average 0.25 * 24 = 6 = 3 * 2
    torch.testing.assert_close(rx.mask_average(x, weight, bias, p=0.75), weight @ x)


def test_mc_dropout_probabilities_are_distributions_and_restore_the_mode():
    model = rx.wide_mlp(hidden=8, dropout=0.5, seed=0).eval()
    probs = rx.mc_dropout_proba(model, torch.randn(5, 40), samples=4)
    assert not model.training
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(5))


def test_ensemble_accuracy_of_one_member_is_its_accuracy():
    task = tiny_task()
    model = rx.wide_mlp(hidden=8, seed=0)
    assert rx.ensemble_accuracy([model], task.x_val, task.y_val) == rx.accuracy(
        model, task.x_val, task.y_val)


def test_plot_curves_and_decision_regions_draw(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = rx.Curves([1.0, 0.5], [0.5, 0.9], [1.2, 1.1], [0.4, 0.5])
    fig = rx.plot_curves({"a": curves, "b": curves}, lang="sk")
    assert len(fig.axes) == 2 and fig.axes[0].get_xlabel() == "epocha"
    plt.close(fig)
    fig, ax = plt.subplots()
    model = nn.Sequential(nn.Linear(2, 3))
    rx.draw_decision_regions(ax, model, torch.randn(20, 2), torch.randint(0, 3, (20,)))
    plt.close(fig)


def test_linear_classifier_with_a_huge_lambda_keeps_the_weights_near_zero():
    task = tiny_task()
    free, tight = rx.linear_classifier(task, "hinge", 0.0), rx.linear_classifier(task, "hinge", 2.0)
    assert tight.penalty < free.penalty / 100
    assert 0 <= tight.satisfied <= free.satisfied <= 1


def test_linear_classifier_names_the_losses_it_knows():
    with pytest.raises(CourseError) as error:
        rx.linear_classifier(tiny_task(), "svm")
    assert error.value.fields["name"] == "svm" and "hinge" in error.value.fields["known"]


def test_label_smoothing_zero_is_plain_training_and_mixup_runs_are_reproducible():
    task = tiny_task()
    plain = rx.train(rx.wide_mlp(hidden=16, seed=0), task, 2)
    smoothed = rx.train(rx.wide_mlp(hidden=16, seed=0), task, 2, label_smoothing=0.0,
                        mixup_alpha=None)
    assert plain.train_loss == smoothed.train_loss
    mixed = [rx.train(rx.wide_mlp(hidden=16, seed=0), task, 2, mixup_alpha=0.4).val_loss
             for _ in range(2)]
    assert mixed[0] == mixed[1] != plain.val_loss
    assert rx.train(rx.wide_mlp(hidden=16, seed=0), task, 2, label_smoothing=0.2).val_loss \
        != plain.val_loss


def toy_backbone():
    """A stand-in for a pretrained ``transfer.Backbone``: mean colour -> 1000 scores."""
    torch.manual_seed(0)
    stages = OrderedDict(pool=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
                         classifier=nn.Linear(3, 1000))
    return transfer.Backbone(stages, "toy", transfer.TF_LITE)


def test_photo_tta_keeps_the_softmax_of_every_normalized_crop():
    model = toy_backbone()
    result = rx.photo_tta(model, names=("coffee", "camera"), crop=16)
    assert result.probs.shape == (30, 2, 1000) and result.scales == rx.tta_scales(16)
    views = multi_scale_views(data.photo("camera")[None].float() / 255, 16, result.scales)
    normalized = (views[:, 0] - 127 / 255) / (128 / 255)
    torch.testing.assert_close(result.probs[:, 1], predict_proba(model, normalized))


def test_photo_tta_methods_average_the_centre_the_ten_crops_at_the_middle_scale_or_all():
    probs = torch.rand(30, 2, 4).softmax(dim=-1)
    result = rx.PhotoTTA(("chelsea", "rocket"), probs, 16, rx.tta_scales(16))
    probs = probs.double()
    torch.testing.assert_close(result.average("single"), probs[14])
    torch.testing.assert_close(result.average("ten"), probs[10:20].mean(dim=0))
    torch.testing.assert_close(result.average("multi"), probs.mean(dim=0))
    with pytest.raises(CourseError) as error:
        result.average("five")
    assert error.value.key == "lecture05.unknown_tta"


def test_label_probability_sums_the_label_classes_and_is_none_without_a_label():
    categories = transfer.imagenet_categories()
    probs = torch.zeros(30, 2, 1000)
    probs[:, 0, categories.index("tabby")] = 0.25
    probs[:, 0, categories.index("Egyptian cat")] = 0.5
    probs[:, 0, 0] = 0.25
    probs[:, 1, 0] = 1.0
    result = rx.PhotoTTA(("chelsea", "rocket"), probs, 16, rx.tta_scales(16))
    assert result.label_probability("multi") == [pytest.approx(0.75), None]
    assert rx.top1_changes(result, "multi") == 0


def test_tta_table_has_a_row_per_photo_and_blank_label_cells_without_a_label():
    probs = torch.rand(30, 2, 1000).softmax(dim=-1)
    result = rx.PhotoTTA(("coffee", "rocket"), probs, 16, rx.tta_scales(16))
    table = rx.tta_table(result, lang="sk")
    assert len(table.cells) == 2 and len(table.labels) == 8
    assert table.cells[1][-3:] == ["", "", ""] and "," in table.cells[0][-1]
