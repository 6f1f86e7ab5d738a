"""Claims of lecture 05 (regularization), each checked by the notebook's own experiment.

The runs are those of the notebook in the quick profile (``course_lib.lectures.regularization``
on 500 MNIST-1D training signals, 40 epochs); every run seeds its own generators, so the numbers
are the notebook's. Claims tested elsewhere are not repeated here: the expectations of vanilla
and inverted dropout, L1 against L2 on a linear regression, the distillation gradient and its
T^2 factor (test_regularization_claims.py), and an ensemble at least as accurate as its average
member (test_training_claims.py).
"""

from itertools import pairwise

import pytest
import torch

from course_lib import compression
from course_lib.ensembles import Ensemble, snapshot_ensemble
from course_lib.lectures import regularization as rx

EPOCHS = 40  # course.size(quick=40, ...) in the notebook


@pytest.fixture(scope="module")
def task():
    return rx.small_task()


@pytest.fixture(scope="module")
def trained(task):
    """The notebook's single runs: none, L2, L1 (proximal), dropout 0.5, shift augmentation."""
    settings = {
        "none": (0.0, {}),
        "l2": (0.0, {"l2": 1e-3}),
        "l1": (0.0, {"l1": 3e-3}),
        "dropout": (0.5, {}),
        "shift": (0.0, {"augment": rx.random_shift}),
    }
    models, runs = {}, {}
    for name, (p, options) in settings.items():
        models[name] = rx.wide_mlp(dropout=p, seed=0)
        runs[name] = rx.train(models[name], task, EPOCHS, **options)
    return models, runs


@pytest.fixture(scope="module")
def members(task, trained):
    """Four dropout nets as in the notebook's ensemble: the dropout run and seeds 1 to 3."""
    models, _ = trained
    nets = [models["dropout"]]
    for seed in range(1, 4):
        net = rx.wide_mlp(dropout=0.5, seed=seed)
        rx.train(net, task, EPOCHS, seed=seed, record=False)
        nets.append(net)
    return nets


def val_accuracy(model, task):
    return rx.accuracy(model, task.x_val, task.y_val)


# --- overfitting -----------------------------------------------------------------------------


def test_a_wide_mlp_on_500_examples_memorizes_them_while_validation_loss_rises(trained):
    none = trained[1]["none"]
    assert none.train_acc[-1] == 1.0 and none.train_loss[-1] < 0.02
    assert none.best_epoch <= EPOCHS // 4
    assert none.val_loss[-1] > 1.5 * min(none.val_loss)
    assert none.val_acc[-1] < 0.6


# --- penalties -------------------------------------------------------------------------------


def test_l1_sets_most_middle_layer_weights_exactly_to_zero_and_l2_none(trained):
    models, _ = trained
    assert (models["l1"][2].weight == 0).float().mean() > 0.5
    assert rx.zero_fraction(models["l2"]) == 0.0
    assert rx.zero_fraction(models["none"]) == 0.0


def test_l2_narrows_the_distribution_of_the_weights(trained):
    models, _ = trained
    assert models["l2"][2].weight.std() < 0.9 * models["none"][2].weight.std()


def test_penalties_raise_the_training_loss_and_lower_the_final_validation_loss(trained):
    runs = trained[1]
    for name in ("l1", "l2"):
        assert runs[name].train_loss[-1] > runs["none"].train_loss[-1]
        assert runs[name].val_loss[-1] < runs["none"].val_loss[-1] - 0.3


# --- dropout ---------------------------------------------------------------------------------


def test_torch_dropout_is_inverted_and_the_identity_in_eval_mode():
    layer = torch.nn.Dropout(p=0.25)
    ones = torch.ones(1000)
    torch.manual_seed(0)
    values = {round(v, 4) for v in layer(ones).tolist()}
    assert values == {0.0, round(1 / 0.75, 4)}
    assert torch.equal(layer.eval()(ones), ones)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_averaging_all_dropout_masks_of_a_linear_layer_gives_the_layer_without_dropout(p):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10, generator=g, dtype=torch.float64)
    weight = torch.randn(3, 10, generator=g, dtype=torch.float64)
    bias = torch.randn(3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(rx.mask_average(x, weight, bias, p), weight @ x + bias)


def test_dropout_keeps_the_training_loss_up_and_the_validation_loss_down(trained):
    runs = trained[1]
    dropout, none = runs["dropout"], runs["none"]
    assert dropout.train_loss[-1] > 10 * none.train_loss[-1]
    assert dropout.val_loss[-1] < none.val_loss[-1] - 1.0
    assert dropout.val_acc[-1] >= none.val_acc[-1] + 0.02
    assert dropout.best_epoch > none.best_epoch


def test_one_pass_with_all_neurons_approximates_the_average_of_random_subnetworks(task, trained):
    net = trained[0]["dropout"]
    average = rx.mc_dropout_proba(net, task.x_val, samples=50).argmax(dim=1)
    with torch.no_grad():
        single = net.eval()(task.x_val).argmax(dim=1)
    accuracy = [(pred == task.y_val).float().mean().item() for pred in (single, average)]
    assert abs(accuracy[0] - accuracy[1]) <= 0.03
    assert (single == average).float().mean() >= 0.8


# --- augmentation ----------------------------------------------------------------------------


def test_shift_augmentation_helps_more_than_the_penalties_and_dropout(trained):
    runs = trained[1]
    others = max(runs[name].val_acc[-1] for name in ("none", "l1", "l2", "dropout"))
    assert runs["shift"].val_acc[-1] > others + 0.03
    assert runs["shift"].val_loss[-1] < min(runs[n].val_loss[-1] for n in ("l1", "l2", "dropout"))


# --- ensembles -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def snapshots(task):
    model = rx.wide_mlp(dropout=0.5, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the notebook's global state at that cell does not matter much
        snaps, _ = snapshot_ensemble(model, task.loader(batch_size=50), optimizer,
                                     epochs=EPOCHS, cycles=4, progress=False)
    return snaps


def test_a_snapshot_ensemble_beats_its_average_snapshot(task, snapshots):
    mean = sum(val_accuracy(s, task) for s in snapshots) / len(snapshots)
    assert rx.ensemble_accuracy(snapshots, task.x_val, task.y_val) > mean


def test_independent_members_give_a_more_accurate_ensemble_than_snapshots(task, members,
                                                                          snapshots):
    independent = rx.ensemble_accuracy(members, task.x_val, task.y_val)
    assert independent > rx.ensemble_accuracy(snapshots, task.x_val, task.y_val)


# --- distillation ----------------------------------------------------------------------------


def test_a_higher_temperature_flattens_the_teacher_distribution(task, members):
    with torch.no_grad():
        logits = Ensemble(members)(task.x_val)

    def entropy(T):
        p = torch.softmax(logits / T, dim=1)
        return -(p * p.clamp_min(1e-30).log()).sum(dim=1)

    h1, h4, h10 = entropy(1.0), entropy(4.0), entropy(10.0)
    assert torch.all(h1 < h4) and torch.all(h4 < h10)


def test_a_distilled_student_beats_the_same_student_trained_on_the_labels(task, members):
    teacher = Ensemble(members)
    with torch.no_grad():
        teacher_logits = teacher(task.x_train)
    gains = []
    for seed in (10, 11, 12):
        plain = rx.wide_mlp(hidden=64, depth=1, seed=seed)
        rx.train(plain, task, EPOCHS, record=False)
        distilled = rx.wide_mlp(hidden=64, depth=1, seed=seed)
        rx.train(distilled, task, EPOCHS, teacher_logits=teacher_logits, T=4.0, alpha=0.9,
                 record=False)
        gains.append(val_accuracy(distilled, task) - val_accuracy(plain, task))
    assert gains[0] > 0.02  # the notebook's student (seed 10)
    assert sum(gains) / len(gains) > 0.02


# --- pruning and quantization ----------------------------------------------------------------


def test_pruning_half_of_the_weights_barely_changes_accuracy_and_most_of_them_breaks_it(
        task, trained):
    net = trained[0]["dropout"]
    curve = compression.sparsity_curve(net, lambda m: val_accuracy(m, task), [0.0, 0.5, 0.9])
    assert abs(curve[1] - curve[0]) <= 0.015
    assert curve[2] < curve[0] - 0.15


def test_int8_quantization_keeps_accuracy_within_half_a_point_at_a_quarter_of_the_size(
        task, trained):
    net = trained[0]["dropout"]
    quantized = compression.quantize_model(net)
    assert abs(val_accuracy(quantized, task) - val_accuracy(net, task)) <= 0.005
    assert compression.size_in_bytes(net) / compression.size_in_bytes(net, int8=True) > 3.9
    for w, wq in zip(rx.weights(net), rx.weights(quantized), strict=True):
        assert (w - wq).abs().max() <= compression.quantize_int8(w)[1] / 2 + 1e-7


# --- the explorer ----------------------------------------------------------------------------


def test_strong_l2_underfits_the_spirals():
    weak, x, y = rx.spirals_run("l2", 1e-3)
    strong, _, _ = rx.spirals_run("l2", 10**-1.5)
    assert rx.accuracy(weak, x, y) > 0.95
    assert rx.accuracy(strong, x, y) < 0.7


def test_strong_l1_zeroes_most_weights_and_still_solves_the_spirals():
    model, x, y = rx.spirals_run("l1", 1e-2)
    assert (model[2].weight == 0).float().mean() > 0.5
    assert rx.accuracy(model, x, y) > 0.9


LAMBDAS = (0.0, 0.01, 0.1)  # the notebook's sweep of the hinge and cross-entropy objectives


@pytest.fixture(scope="module")
def linear_fits(task):
    return {(loss, lam): rx.linear_classifier(task, loss, lam)
            for loss in ("hinge", "ce") for lam in LAMBDAS}


def test_the_hinge_leaves_some_examples_at_exactly_zero_loss_cross_entropy_none(linear_fits):
    for lam in LAMBDAS:
        assert linear_fits["hinge", lam].satisfied > 0.01
        assert linear_fits["ce", lam].satisfied == 0.0


def test_a_larger_lambda_shrinks_the_penalty_and_raises_the_data_loss(linear_fits):
    for loss in ("hinge", "ce"):
        fits = [linear_fits[loss, lam] for lam in LAMBDAS]
        assert all(a.penalty > 2 * b.penalty for a, b in pairwise(fits))
        assert all(a.data_loss < b.data_loss for a, b in pairwise(fits))


def test_a_larger_lambda_leaves_fewer_examples_beyond_the_margin(linear_fits):
    fits = [linear_fits["hinge", lam] for lam in LAMBDAS]
    assert all(a.satisfied > b.satisfied for a, b in pairwise(fits))



@pytest.fixture(scope="module")
def soft_targets(task):
    """The notebook's runs on soft targets: label smoothing 0.1 and mixup with alpha 0.2."""
    return {name: rx.train(rx.wide_mlp(seed=0), task, EPOCHS, **options)
            for name, options in (("smoothing", {"label_smoothing": 0.1}),
                                  ("mixup", {"mixup_alpha": 0.2}))}


def test_soft_targets_lower_the_final_validation_loss_by_far(trained, soft_targets):
    none = trained[1]["none"].val_loss[-1]
    for curves in soft_targets.values():
        assert curves.val_loss[-1] < none - 0.8


def test_soft_targets_change_the_validation_accuracy_by_less_than_two_points(trained,
                                                                              soft_targets):
    none = trained[1]["none"].val_acc[-1]
    for curves in soft_targets.values():
        assert abs(curves.val_acc[-1] - none) < 0.02
