"""Claims of lab 09 (shift and scale layers against batch norm, the 2018 thesis), each on the
notebook's own setting through the same course_lib code. The claims about our experiments are
read from the cached runs the notebook shows (quick profile, and the full profile's offline
stand-ins committed beside them), so a re-run that changes them fails here. Reported errors are
test errors at the learning rate chosen on validation."""

import math
import statistics
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from course_lib import models, normalization
from course_lib.labs.shift_scale import analysis as lab
from course_lib.labs.shift_scale import report
from course_lib.labs.shift_scale import runner as experiments
from course_lib.normalization import GRANULARITIES, VARIANTS, Scale, Shift
from course_lib.training import ema_curve

IMAGES = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def added(arch, variant):
    return (models.count_parameters(models.thesis_net(arch, variant))
            - models.count_parameters(models.thesis_net(arch)))


# The layers, their granularities and places


def test_the_ten_tested_combinations_are_those_with_at_most_one_granularity():
    options = (None, *GRANULARITIES)
    rule = {(scale, shift) for scale in options for shift in options
            if scale is None or shift is None or scale == shift}
    tested = {(v.scale, v.shift) for v in VARIANTS.values() if not v.batch_norm}
    assert len(rule) == 10 and tested == rule


def test_on_the_thesis_fcn_one_element_layer_adds_74752_one_channel_layer_451_one_layer_7():
    assert [added("fcn", f"shift_{g}") for g in GRANULARITIES] == [74752, 451, 7]


def test_element_shift_and_scale_enlarge_the_thesis_fcn_by_about_half():
    ratio = added("fcn", "shift_scale_element") / models.count_parameters(models.thesis_fcn())
    assert 0.45 < ratio < 0.55


def test_batch_norm_learns_as_many_parameters_as_channel_shift_and_scale():
    for arch in ("fcn", "mlp"):
        assert added(arch, "batch_norm") == added(arch, "shift_scale_channel") > 0


def test_shift_and_scale_sit_between_the_relu_and_the_dropout_and_not_after_the_last_layer():
    net = normalization.insert_shift_scale(models.thesis_mlp(dropout=0.5), "layer", "layer",
                                           example_input=torch.zeros(2, 3, 32, 32))
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Shift", "Scale", "Flatten", "Linear", "ReLU", "Shift", "Scale", "Dropout",
                     "Linear", "ReLU", "Shift", "Scale", "Dropout", "Linear"]


def test_every_shift_scale_variant_starts_as_the_plain_net_and_batch_norm_does_not():
    fcn = models.thesis_fcn()
    with torch.no_grad():
        plain = fcn(IMAGES)
        for g in GRANULARITIES:
            variant = normalization.insert_shift_scale(fcn, g, g, example_input=IMAGES)
            assert torch.allclose(variant(IMAGES), plain)
        assert not torch.allclose(normalization.insert_batchnorm(fcn, example_input=IMAGES)(IMAGES),
                                  plain)


def test_all_variants_of_one_seed_start_from_the_same_weights():
    def weights(net):
        return [m.weight for m in net if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]

    plain = weights(models.thesis_net("fcn", "none", seed=3))
    for name in VARIANTS:
        variant = weights(models.thesis_net("fcn", name, seed=3))
        assert all(torch.equal(a, b) for a, b in zip(variant, plain, strict=True))


# The EMA of the thesis


def test_ema_099_weights_the_error_k_steps_back_by_0_01_times_0_99_to_the_k():
    errors = [0.0] * 50
    errors[10] = 1.0
    smoothed_without_correction = ema_curve(errors, 0.99)[-1] * (1 - 0.99**50)
    assert math.isclose(smoothed_without_correction, 0.01 * 0.99**39)


def test_after_a_sudden_drop_the_ema_099_is_halfway_after_69_steps_and_95_percent_after_299():
    curve = ema_curve([1.0] * 5000 + [0.0] * 400, 0.99)[5000:]
    halfway = next(i for i, v in enumerate(curve, start=1) if v <= 0.5)
    most = next(i for i, v in enumerate(curve, start=1) if v <= 0.05)
    assert (halfway, most) == (69, 299)


def test_after_reshuffling_early_examples_were_seen_half_an_epoch_ago_late_ones_one_and_a_half():
    size, epochs = 200, 400
    g = torch.Generator().manual_seed(0)
    last_seen, gaps_early, gaps_late = {}, [], []
    for epoch in range(epochs):
        for position, example in enumerate(torch.randperm(size, generator=g).tolist()):
            step = epoch * size + position
            if example in last_seen:
                gap = (step - last_seen[example]) / size
                if position < size // 10:
                    gaps_early.append(gap)
                elif position >= size - size // 10:
                    gaps_late.append(gap)
            last_seen[example] = step
    early, late = sum(gaps_early) / len(gaps_early), sum(gaps_late) / len(gaps_late)
    assert abs(early - 0.55) < 0.02 and abs(late - 1.45) < 0.02


# Examiners' question: learned by gradient like the weights


@pytest.fixture(scope="module")
def first_batch_gradients():
    config = experiments.RunConfig("fcn", "shift_scale_layer")
    model = experiments.build_model(config)
    x, y = experiments.data_of(config)[:2]
    seen = []

    def keep(module, inputs, output):
        output.retain_grad()
        seen.append((module, inputs[0], output))

    for layer in model:
        if isinstance(layer, Scale | Shift):
            layer.register_forward_hook(keep)
    F.cross_entropy(model(x[: config.batch_size]), y[: config.batch_size]).backward()
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    return seen, {id(p) for group in optimizer.param_groups for p in group["params"]}


def test_shift_and_scale_get_the_backprop_gradient_of_the_formula_and_the_optimizer_moves_them(
        first_batch_gradients):
    seen, optimized = first_batch_gradients
    assert len(seen) == 10
    for layer, x, y in seen:
        param, formula = (layer.a, (x * y.grad).sum()) if isinstance(layer, Scale) \
            else (layer.b, y.grad.sum())
        assert param.grad is not None and param.grad.abs().item() > 1e-4
        assert torch.allclose(param.grad, formula, rtol=1e-4, atol=1e-7)
        assert id(param) in optimized


def test_at_initialization_every_layer_scale_gets_the_same_gradient(first_batch_gradients):
    grads = [layer.a.grad.item() for layer, _, _ in first_batch_gradients[0]
             if isinstance(layer, Scale)]
    assert len(grads) == 5 and max(grads) - min(grads) < 1e-5 * abs(grads[0])
    shifts = [layer.b.grad.item() for layer, _, _ in first_batch_gradients[0]
              if isinstance(layer, Shift)]
    assert max(shifts) - min(shifts) > 0.01


# Online learning


def test_batch_norm_in_the_mlp_refuses_one_example_in_training_mode():
    with pytest.raises(ValueError):
        models.thesis_net("mlp", "batch_norm").train()(IMAGES[:1])


def test_batch_norm_in_the_fcn_runs_on_one_image_by_normalizing_each_channel_of_that_image():
    net = models.thesis_net("fcn", "batch_norm").train()
    assert net(IMAGES[:1]).shape == (1, 10)
    first = net[0](IMAGES[:1])
    assert torch.allclose(first.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(first.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-3)


# The experiments, read from the cached runs that the notebook plots (quick profile, and the
# full profile's offline stand-ins committed beside them)

QUICK_FCN = {"in_shape": (1, 14, 14), "widths": (8, 16)}


def experiment_records(profile):
    found = {}
    for number in lab.EXPERIMENTS:
        configs = lab.experiment_configs(number, profile=profile, echo=lambda _: None)
        found[number] = experiments.load_runs(configs)
        assert len(found[number]) == len(configs)
    return found


@pytest.fixture(scope="module")
def records():
    return experiment_records("quick")


@pytest.fixture(scope="module")
def summaries(records):
    return {number: lab.summary(runs) for number, runs in records.items()}


@pytest.fixture(scope="module")
def full_records():
    with pytest.MonkeyPatch.context() as patch:  # the committed full runs: no CIFAR
        patch.setattr(lab.datasets, "available", lambda name, root=None: False)
        return experiment_records("full")


@pytest.fixture(scope="module")
def full_summaries(full_records):
    return {number: lab.summary(runs) for number, runs in full_records.items()}


def err(summaries, number, variant):
    return summaries[number]["variants"][variant]["test_error"]


def pct(value):
    return round(100 * value, 1)


def test_the_whole_quick_grid_is_cached_so_the_notebook_trains_nothing():
    configs = lab.grid_configs("quick")
    assert len(configs) == (230 + len(lab.weight_decay_configs("quick"))
                            + len(lab.resnet_configs("quick"))) == 278
    assert all(experiments.find(c, cache=Path("/nonexistent")) is not None for c in configs)


def test_the_sizes_in_the_notebook_s_table_are_those_of_the_code():
    quick, offline, cifar = (lab.SIZES[name] for name in ("quick", "full_offline", "full"))
    parts = [(s[c]["n_train"], s[c]["n_val"], s[c]["n_test"]) for s in (quick, offline, cifar)
             for c in (10, 100)]
    assert parts == [(3000, 750, 750), (6000, 1000, 1000), (3500, 750, 750),
                     (16000, 2000, 2000), (45000, 5000, 10000), (45000, 5000, 10000)]
    assert [(s[10]["epochs"], s[100]["epochs"], s[10]["batch_size"]) for s in
            (quick, offline, cifar)] == [(5, 6, 50), (20, 8, 64), (20, 20, 128)]
    assert [(s["dropout"], len(s["seeds"])) for s in (quick, offline, cifar)] == [
        (0.2, 2), (0.2, 2), (0.5, 2)]
    assert quick["widths"] == {("fcn", 10): (8, 16), ("fcn", 100): (16, 32), ("mlp", 10): (128, 64)}
    assert offline["widths"] == cifar["widths"] == {
        ("fcn", 10): (32, 64, 128), ("fcn", 100): (32, 64, 128), ("mlp", 10): (512, 256)}
    assert experiments.LEARNING_RATES == (0.02, 0.04, 0.08)


def test_one_runs_test_error_on_750_examples_has_a_standard_error_of_about_one_point():
    for p in (0.07, 0.08, 0.09):
        assert 0.009 < report.standard_error(p, 750) < 0.011


def test_elementwise_shift_and_scale_add_more_parameters_than_the_quick_fcn_has_weights():
    base = models.count_parameters(models.thesis_net("fcn", **QUICK_FCN))
    extra = models.count_parameters(models.thesis_net("fcn", "shift_scale_element", **QUICK_FCN))
    assert (base, extra - base) == (4322, 6392)


def test_experiment_1_layerwise_shift_scale_has_the_lowest_test_error_just_ahead_of_batch_norm(
        summaries):
    rows = summaries[1]["variants"]
    assert sorted(rows, key=lambda v: rows[v]["test_error"])[:2] == ["shift_scale_layer",
                                                                       "batch_norm"]
    assert [pct(err(summaries, 1, v)) for v in ("shift_scale_layer", "batch_norm", "none")] \
        == [7.1, 7.6, 9.1]
    assert max(rows, key=lambda v: rows[v]["test_error"]) == "shift_scale_element"
    assert pct(err(summaries, 1, "shift_scale_element")) == 10.1


def test_experiment_1_validation_and_test_error_of_one_variant_differ_by_more_than_a_point(
        summaries):
    row = summaries[1]["variants"]["scale_element"]
    assert (pct(row["val_error"]), pct(row["test_error"])) == (6.6, 8.0)


def test_experiment_1_layerwise_shift_scale_reaches_the_plain_training_error_first(summaries):
    rows = summaries[1]["variants"]
    assert rows["none"]["steps_to"] == 300 and rows["shift_scale_layer"]["steps_to"] == 248
    reached = [row["steps_to"] for row in rows.values() if row["steps_to"] is not None]
    assert min(reached) == 248 and reached.count(248) == 1
    assert {v for v, row in rows.items() if row["steps_to"] is None} == {
        "scale_channel", "scale_layer", "shift_element", "shift_scale_channel"}


def test_experiment_2_with_dropout_batch_norm_leads_and_layerwise_shift_scale_is_best_new(
        summaries):
    s = summaries[2]
    assert s["best_new"] == "shift_scale_layer"
    assert [pct(err(summaries, 2, v)) for v in ("batch_norm", "shift_scale_layer", "none")] \
        == [7.1, 8.1, 10.4]
    rows = s["variants"]
    assert (rows["shift_scale_layer"]["steps_to"], rows["none"]["steps_to"]) == (224, 300)
    assert (pct(rows["shift_scale_layer"]["gap"]), pct(rows["none"]["gap"])) == (2.9, 3.3)


def test_experiment_3_the_plain_mlp_is_best_and_all_but_layerwise_shift_scale_lie_within_a_point(
        summaries):
    rows = summaries[3]["variants"]
    best = min(rows, key=lambda v: rows[v]["test_error"])
    assert best == "none" and pct(rows["none"]["test_error"]) == 6.7
    assert all(rows[v]["test_error"] - rows["none"]["test_error"] <= 0.01
               for v in rows if v != "shift_scale_layer")
    assert max(rows, key=lambda v: rows[v]["test_error"]) == "shift_scale_layer"
    assert pct(rows["shift_scale_layer"]["test_error"]) == 9.1
    assert rows["shift_scale_layer"]["steps_to"] is None
    assert summaries[3]["conclusions"]["batch_norm_better"] is False


def test_experiment_4_batch_norm_and_both_layerwise_shifts_are_close_and_ahead_of_the_plain_mlp(
        summaries):
    assert [pct(err(summaries, 4, v)) for v in
            ("batch_norm", "shift_scale_layer", "shift_layer", "none")] == [7.0, 7.1, 7.1, 7.8]


def test_experiment_5_with_100_classes_agrees_with_all_four_conclusions_of_the_thesis(summaries):
    s = summaries[5]
    rows = s["variants"]
    assert s["conclusions"] == lab.THESIS_CONCLUSIONS
    assert [pct(err(summaries, 5, v)) for v in ("shift_scale_layer", "none", "batch_norm")] \
        == [25.3, 33.9, 18.5]
    assert (rows["shift_scale_layer"]["steps_to"], rows["none"]["steps_to"]) == (558, 720)
    assert (pct(rows["shift_scale_layer"]["gap"]), pct(rows["none"]["gap"])) == (14.3, 9.3)


def test_experiment_6_layerwise_shift_alone_is_best_new_and_both_far_ahead_of_the_plain_net(
        summaries):
    assert summaries[6]["best_new"] == "shift_layer"
    assert [pct(err(summaries, 6, v)) for v in
            ("shift_layer", "shift_scale_layer", "none", "batch_norm")] == [27.1, 35.2, 46.7, 22.1]


def test_layerwise_scale_alone_is_the_worst_variant_with_100_classes(summaries):
    for number in (5, 6):
        rows = summaries[number]["variants"]
        assert max(rows, key=lambda v: rows[v]["test_error"]) == "scale_layer"


def test_two_quick_runs_diverged_both_with_layerwise_shift_at_lr_0_08_and_were_not_chosen(
        records, summaries):
    diverged = [(n, r["variant"], r["lr"]) for n, runs in records.items() for r in runs
                if r["diverged"]]
    assert sorted(diverged) == [(5, "shift_scale_layer", 0.08), (6, "shift_layer", 0.08)]
    assert summaries[5]["variants"]["shift_scale_layer"]["lr"] != 0.08
    assert summaries[6]["variants"]["shift_layer"]["lr"] != 0.08


def test_in_the_full_profile_19_runs_diverged_all_with_new_layers_none_plain_or_batch_norm(
        full_records):
    diverged = [r for runs in full_records.values() for r in runs if r["diverged"]]
    assert sum(len(runs) for runs in full_records.values()) == 216
    assert len(diverged) == 19
    assert sorted(r["lr"] for r in diverged).count(0.08) == 17
    assert not {r["variant"] for r in diverged} & {"none", "batch_norm"}


def column(summaries, claim):
    return [summaries[n]["conclusions"][claim] for n in range(1, 7)]


def test_the_quick_verdict_table(summaries):
    assert column(summaries, "layer_best") == [True, True, False, True, True, False]
    assert column(summaries, "faster_than_none") == [True, True, False, True, True, True]
    assert column(summaries, "overfits") == [True, False, True, False, True, True]
    assert column(summaries, "batch_norm_better") == [False, True, False, True, True, True]
    assert [summaries[n]["best_new"] for n in (3, 6)] == ["shift_layer"] * 2


def test_the_full_verdict_table(full_summaries):
    assert column(full_summaries, "layer_best") == [False] * 5 + [True]
    assert column(full_summaries, "faster_than_none") == [True, True, False, False, True, True]
    assert column(full_summaries, "overfits") == [True, False, True, True, False, True]
    assert column(full_summaries, "batch_norm_better") == [True, False, False, True, True, True]


def overfitting_margin(summaries, number):
    rows = summaries[number]["variants"]
    return rows["shift_scale_layer"]["gap"] - rows["none"]["gap"]


def test_overfitting_is_clear_only_in_quick_experiment_5_and_small_elsewhere(summaries,
                                                                            full_summaries):
    assert pct(overfitting_margin(summaries, 5)) == 5.0
    assert all(overfitting_margin(summaries, n) < 0.011 for n in (1, 2, 3, 4, 6))
    assert all(overfitting_margin(full_summaries, n) <= 0.013 for n in range(1, 7))


def test_batch_norm_beats_the_best_new_variant_clearly_with_100_classes_in_both_profiles(
        summaries, full_summaries):
    def margin(s, number):
        rows = s[number]["variants"]
        return report.points(rows[s[number]["best_new"]]["test_error"]
                             - rows["batch_norm"]["test_error"], "en")

    assert [margin(summaries, n) for n in (5, 6)] == ["6.8", "5.0"]
    assert [margin(full_summaries, n) for n in (5, 6)] == ["4.4", "2.9"]


def test_in_the_full_profile_layerwise_shift_scale_wins_only_experiment_6_by_hundredths(
        full_summaries):
    rows = full_summaries[6]["variants"]
    assert 0 < rows["shift_layer"]["test_error"] - rows["shift_scale_layer"]["test_error"] < 0.001


def test_the_standard_error_in_the_full_profile_is_0_6_to_0_8_points_with_10_classes(
        full_summaries):
    errors = [report.points(report.standard_error(statistics.mean(
        row["test_error"] for row in full_summaries[n]["variants"].values()), 750), "en")
        for n in (1, 2, 3, 4)]
    assert set(errors) <= {"0.6", "0.7", "0.8"} and {"0.6", "0.8"} <= set(errors)


def test_no_saw_teeth_the_ema_training_error_falls_smoothly_in_both_profiles(
        summaries, records, full_summaries, full_records):
    for s, runs, per_epoch, final in ((summaries, records, 120, 0.2455),
                                      (full_summaries, full_records, 250, 0.0145)):
        best = lab.best_runs(runs[5])["none"]
        curve = lab.mean_curve(best, "train_error_ema")
        assert max(b - a for a, b in zip(curve, curve[1:], strict=False)) < 0.003
        assert best[0]["epoch_steps"][0] == per_epoch
        assert round(s[5]["variants"]["none"]["train_error"], 4) == final


# Extension: the order of the two layers


def order_rows(profile):
    thesis = [r for r in experiments.load_runs(lab.experiment_configs(
        lab.ORDER_EXPERIMENT, profile, echo=lambda _: None)) if r["variant"] == "shift_scale_layer"]
    other = experiments.load_runs(lab.order_configs(profile))
    assert len(thesis) == len(other) == 6
    return report.order_summaries(thesis, other)


def test_the_order_of_shift_and_scale_makes_no_difference_beyond_noise(monkeypatch):
    quick = order_rows("quick")
    difference = quick["scale_shift"]["test_error"] - quick["shift_scale"]["test_error"]
    assert report.points(difference, "en") == "0.8"
    assert report.points(report.standard_error(0.257, 1000), "en") == "1.4"
    monkeypatch.setattr(lab.datasets, "available", lambda name, root=None: False)
    full = order_rows("full")
    difference = full["scale_shift"]["test_error"] - full["shift_scale"]["test_error"]
    assert report.points(difference, "en") == "0.2"
    assert report.points(report.standard_error(0.105, 2000), "en") == "0.7"


# Examiners' question: where the learned values converge across seeds


@pytest.fixture(scope="module")
def learned():
    runs = experiments.load_runs(lab.learned_value_configs(profile="quick"))
    assert len(runs) == 10 and not any(r["diverged"] for r in runs)
    return {kind: torch.tensor(values) for kind, values in lab.learned_values(runs).items()}


def test_learned_shifts_after_each_relu_are_negative_in_every_seed_and_grow_with_depth(learned):
    shift = learned["shift"]
    assert (shift[:, 1:] < 0).all()
    means = shift.mean(dim=0)
    assert all(b < a for a, b in zip(means[1:], means[2:], strict=False))
    assert means[0].abs() < 0.1
    assert [round(m, 2) for m in means[1:].tolist()] == [-0.66, -0.99, -1.34, -1.76]
    growing = [all(b < a for a, b in zip(run[1:], run[2:], strict=False)) for run in shift.tolist()]
    assert sum(growing) == 9  # "from place to place in nine runs of ten"


def test_learned_scales_grow_at_the_input_and_most_at_the_last_place_and_stay_near_1_between(
        learned):
    means = learned["scale"].mean(dim=0)
    assert (round(means[0].item(), 2), round(means[-1].item(), 2)) == (1.27, 1.70)
    assert all(0.95 < m < 1.2 for m in means[1:-1].tolist())
    stds = torch.cat([learned["scale"].std(dim=0), learned["shift"].std(dim=0)])
    assert round(stds.min().item(), 2) == 0.07 and round(stds.max().item(), 2) == 0.18


def test_in_the_full_profile_two_of_the_ten_runs_diverged_and_the_spread_is_larger(monkeypatch):
    monkeypatch.setattr(lab.datasets, "available", lambda name, root=None: False)
    runs = experiments.load_runs(lab.learned_value_configs(profile="full"))
    assert len(runs) == 10 and sum(r["diverged"] for r in runs) == 2
    scale = torch.tensor(lab.learned_values(runs)["scale"])
    assert scale.std(dim=0).min() > 0.18


# Online learning in practice


@pytest.fixture(scope="module")
def online():
    return {arch: lab.online_learning(arch) for arch in ("mlp", "fcn")}


def test_online_batch_norm_fails_in_the_mlp_and_barely_learns_in_the_fcn(online):
    assert online["mlp"]["batch_norm"]["error"] is not None
    assert 0.8 < online["fcn"]["batch_norm"]["test_error"] < 0.9


def test_online_shift_scale_learns_clearly_better_than_the_plain_fcn_and_less_so_in_the_mlp(
        online):
    fcn, mlp = online["fcn"], online["mlp"]
    assert (round(fcn["shift_scale_layer"]["test_error"], 2), round(fcn["none"]["test_error"], 2)) \
        == (0.26, 0.39)
    assert (round(mlp["shift_scale_layer"]["test_error"], 2), round(mlp["none"]["test_error"], 2)) \
        == (0.13, 0.17)


def test_online_in_the_mlp_the_order_flips_after_1000_steps(tmp_path):
    short = lab.online_learning("mlp", steps=1000, cache=tmp_path)
    assert short["none"]["test_error"] < short["shift_scale_layer"]["test_error"]


def test_online_with_the_thesis_rate_0_02_every_variant_stays_near_chance(tmp_path):
    fast = lab.online_learning("mlp", steps=600, lr=0.02, cache=tmp_path)
    assert all(fast[v]["test_error"] > 0.85 for v in ("none", "shift_scale_layer"))


def test_after_the_first_step_the_layer_scales_get_different_gradients():
    config = experiments.RunConfig("fcn", "shift_scale_layer")
    model = experiments.build_model(config)
    x, y = experiments.data_of(config)[:2]
    batch = x[: config.batch_size], y[: config.batch_size]
    lab.gradient_step(model, *batch, lr=config.lr)
    grads = [s["grad"].item() for s in lab.gradient_step(model, *batch, lr=config.lr)
             if s["kind"] == "scale"]
    assert max(grads) - min(grads) > 0.01 * max(abs(g) for g in grads)


# Open question of the examiners: how to impose stronger regularization (weight decay on
# experiment 5, where layerwise shift+scale overfits most)


def regularization_rows(profile):
    plain = experiments.load_runs(lab.experiment_configs(5, profile, echo=lambda _: None))
    decayed = experiments.load_runs(lab.weight_decay_configs(profile, echo=lambda _: None))
    dropout = experiments.load_runs(lab.experiment_configs(6, profile, echo=lambda _: None))
    assert len(decayed) == 4 * 3 * 2
    return report.regularization_summaries(plain, decayed, dropout), decayed


def test_validation_picks_weight_decay_0_001_which_narrows_the_gap_but_gains_only_noise():
    rows, _ = regularization_rows("quick")
    assert report.chosen_decay(rows) == "weight_decay=0.001"
    chosen, plain = rows["weight_decay=0.001"], rows["shift_scale_layer"]
    assert chosen["val_error"] < plain["val_error"]
    assert [pct(rows[k]["test_error"]) for k in ("weight_decay=0.001", "shift_scale_layer",
                                                 "none", "batch_norm", "dropout")] == [
        24.3, 25.3, 33.9, 18.5, 35.2]
    assert (pct(chosen["gap"]), pct(plain["gap"]), pct(rows["none"]["gap"])) == (10.6, 14.3, 9.3)
    assert chosen["lr"] == 0.04
    assert "about 1.4 percentage points" in report.regularization_verdict(rows, 1000, "en")
    assert plain["test_error"] - chosen["test_error"] < report.standard_error(0.248, 1000)


def test_the_strongest_weight_decay_0_01_leaves_every_run_at_chance():
    rows, decayed = regularization_rows("quick")
    strongest = [r for r in decayed if r["weight_decay"] == 0.01]
    assert all(r["test_error"] > 0.98 and not r["diverged"] for r in strongest)
    assert pct(rows["weight_decay=0.01"]["test_error"]) == 98.7



# Further work of the thesis: the reason for the speed-up. Do the learned shifts centre their
# inputs, as batch norm's subtraction of the mean does?


@pytest.fixture(scope="module")
def shift_means():
    return {variant: [lab.shift_means(c) for c in configs]
            for variant, configs in lab.shift_mean_configs("quick").items()}


def test_the_shift_means_come_from_the_very_runs_the_notebook_shows(shift_means):
    for variant, configs in lab.shift_mean_configs("quick").items():
        for config, result in zip(configs, shift_means[variant], strict=True):
            record = experiments.load(config)
            stored = [e["values"] for e in record["learned"] if e["kind"] == "shift"]
            assert [layer["shift"] for layer in result["layers"]] == stored
            assert result["test_error"] == record["test_error"]


def test_layerwise_shifts_cancel_most_of_the_mean_of_their_input_after_every_relu(shift_means):
    stats = lab.centring(shift_means["shift_scale_layer"])
    assert (stats["units"], round(stats["r"], 2), round(stats["slope"], 2)) == (40, 0.91, 0.73)
    assert round(100 * stats["removed"]) == 83
    pairs = lab.shift_mean_pairs(shift_means["shift_scale_layer"])
    after_relu = [(b, m) for b, m, p in zip(pairs["shift"], pairs["minus_mean"],
                                            pairs["position"], strict=True) if p > 0]
    assert all(b < 0 and m < 0 for b, m in after_relu)
    cancelled = [sum(b for b, m, p in zip(pairs["shift"], pairs["minus_mean"], pairs["position"],
                                          strict=True) if p == place)
                 / sum(m for m, p in zip(pairs["minus_mean"], pairs["position"], strict=True)
                       if p == place) for place in range(1, 5)]
    assert [round(100 * c) for c in cancelled] == [90, 79, 81, 84]


def test_channelwise_shifts_cancel_only_a_fifth_and_that_variant_was_not_faster(shift_means,
                                                                               summaries):
    stats = lab.centring(shift_means["shift_scale_channel"])
    assert (stats["units"], round(stats["r"], 2), round(stats["slope"], 2)) == (96, 0.31, 0.09)
    assert round(100 * stats["removed"]) == 19
    rows = summaries[1]["variants"]
    assert rows["shift_scale_layer"]["steps_to"] == 248
    assert rows["shift_scale_channel"]["steps_to"] is None


# Further work of the thesis: a larger architecture. ResNet-20 with shift and scale layers
# where it has batch norm (quick profile: a small run; the full runs come from a GPU later)


@pytest.fixture(scope="module")
def resnet():
    runs = experiments.load_runs(lab.resnet_configs("quick"))
    assert len(runs) == 4 * 3 * 2 and not any(r["diverged"] for r in runs)
    return runs, lab.summary(runs)


def test_the_quick_resnet_runs_are_a_small_run_and_say_so(resnet):
    runs, _ = resnet
    assert {(r["widths"], r["epochs"], r["n_train"]) for r in runs} == {((8, 16, 32), 3, 3000)}
    assert "small run" in report.resnet_run(runs, "en")


def test_in_the_small_resnet_run_batch_norm_leads_far_and_channel_shift_scale_beats_none(resnet):
    runs, s = resnet
    rows = s["variants"]
    assert [pct(rows[v]["test_error"]) for v in ("batch_norm", "shift_scale_channel", "none",
                                                 "shift_scale_layer")] == [7.7, 31.6, 70.3, 90.5]
    assert s["best_new"] == "shift_scale_channel"
    assert report.points(report.standard_error(statistics.mean(
        row["test_error"] for row in rows.values()), 750), "en") == "1.8"


def test_in_the_small_resnet_run_layerwise_shift_scale_stays_at_chance_in_every_run(resnet):
    runs, _ = resnet
    layer = [r for r in runs if r["variant"] == "shift_scale_layer"]
    assert len(layer) == 6 and all(r["test_error"] > 0.89 for r in layer)
    channel = sorted(r["test_error"] for r in runs if r["variant"] == "shift_scale_channel")
    assert round(100 * channel[0]) == 15 and channel[-1] > 0.89  # from 15 % to chance
