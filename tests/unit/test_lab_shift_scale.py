"""Lab 09 (course_lib.labs.shift_scale: tasks, runner, batched, analysis, the command line):
cache keys, atomic writes, resuming a grid, bad hyper-parameters, the three data parts, the
thesis' order of the layers, stacked training equal to one by one, honest selection (learning
rate on validation, reported error on test), the summaries and verdicts, and committed runs
re-created from scratch."""

import dataclasses
import json
import os

import pytest
import torch

from course_lib import CourseError
from course_lib.labs.shift_scale import __main__ as cli
from course_lib.labs.shift_scale import analysis as L
from course_lib.labs.shift_scale import batched as B
from course_lib.labs.shift_scale import report as P
from course_lib.labs.shift_scale import runner as E
from course_lib.labs.shift_scale import tasks
from course_lib.models import thesis_net
from course_lib.normalization import Scale, Shift

TINY = E.RunConfig("mlp", "shift_scale_layer", n_train=100, n_val=50, n_test=50, epochs=1,
                   widths=(4,))


def test_the_cache_key_hashes_the_canonical_config_and_stays_the_same():
    config = E.RunConfig("fcn", "none")
    assert config.canonical() == (
        '{"arch":"fcn","batch_size":50,"dataset":"mnist14","dropout":0.0,"epochs":4,"lr":0.04,'
        '"n_test":500,"n_train":2000,"n_val":500,"order":"shift_scale","seed":0,'
        '"variant":"none","widths":[8,16]}')
    assert config.key() == "3573aecd96"
    assert config.file_name() == "fcn_none_mnist14_p0_lr0.04_s0_3573aecd96.json"
    assert E.RunConfig("fcn", "none", widths=[8, 16], dropout=0).key() == config.key()


@pytest.mark.parametrize("change", [{"lr": 0.08}, {"seed": 1}, {"epochs": 5}, {"widths": (8,)},
                                    {"dropout": 0.2}, {"n_val": 499}, {"batch_size": 25},
                                    {"n_test": 499}, {"order": "scale_shift"},
                                    {"weight_decay": 0.001}])
def test_any_change_of_the_config_changes_the_key(change):
    config = E.RunConfig("fcn", "none")
    assert dataclasses.replace(config, **change).key() != config.key()


@pytest.mark.parametrize(("change", "key"), [
    ({"lr": 0.05}, "experiments.bad_lr"),
    ({"lr": 0.2}, "experiments.bad_lr"),
    ({"arch": "cnn"}, "experiments.unknown_arch"),
    ({"variant": "shift_scale_mixed"}, "experiments.unknown_variant"),
    ({"dataset": "cifar1000"}, "experiments.unknown_dataset"),
    ({"order": "scale_then_shift"}, "experiments.unknown_order"),
    ({"dropout": 1.0}, "models.bad_dropout"),
    ({"dropout": "0.2"}, "models.bad_dropout"),
    ({"epochs": 0}, "experiments.not_positive"),
    ({"seed": -1}, "experiments.not_positive"),
    ({"n_test": 0}, "experiments.not_positive"),
    ({"widths": (8, 0)}, "experiments.not_positive"),
    ({"batch_size": 2.5}, "experiments.not_positive"),
    ({"weight_decay": -0.001}, "experiments.bad_weight_decay"),
    ({"weight_decay": 1.0}, "experiments.bad_weight_decay"),
    ({"weight_decay": True}, "experiments.bad_weight_decay"),
])
def test_bad_hyper_parameters_raise_a_localized_value_error(change, key):
    with pytest.raises(ValueError) as err:
        dataclasses.replace(TINY, **change)
    assert isinstance(err.value, CourseError) and err.value.key == key


def test_weight_decay_at_its_default_leaves_the_key_of_every_earlier_run_unchanged():
    """The field came after the shipped runs: left out of the hash at 0, in it otherwise,
    and a record without it reads back as trained without weight decay."""
    config = E.RunConfig("fcn", "none")
    assert '"weight_decay"' not in config.canonical() and config.key() == "3573aecd96"
    decayed = dataclasses.replace(config, weight_decay=0.001)
    assert '"weight_decay":0.001' in decayed.canonical()
    assert decayed.file_name() == f"fcn_none_mnist14_p0_wd0.001_lr0.04_s0_{decayed.key()}.json"
    old_record = {k: v for k, v in dataclasses.asdict(config).items() if k != "weight_decay"}
    assert E.config_of(old_record) == config
    assert E.config_of(dataclasses.asdict(decayed)) == decayed


def test_the_writable_cache_comes_from_course_runs(tmp_path):
    assert E.cache_dir({"COURSE_RUNS": str(tmp_path)}) == tmp_path / "shift_scale"
    assert E.cache_dir({}) == E.REPO_RUNS
    assert E.search_dirs(tmp_path)[0] == tmp_path
    assert E.PACKAGE_RUNS / "quick" in E.search_dirs(tmp_path)


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    E.write_json(path, {"old": 1})

    def crash(obj, f, **kw):
        f.write('{"half')
        raise KeyboardInterrupt

    monkeypatch.setattr(E.json, "dump", crash)
    with pytest.raises(KeyboardInterrupt):
        E.write_json(path, {"new": 2})
    assert json.loads(path.read_text()) == {"old": 1}
    assert os.listdir(tmp_path) == ["run.json"]


def fake_record(config, **curves):
    return {**dataclasses.asdict(config), "steps": [1], "train_error_ema": [0.5],
            "train_loss_ema": [1.0], "epoch_steps": [1], "val_error": [0.5], "val_loss": [1.0],
            "train_error": [0.4], "test_error": 0.5, "test_loss": 1.0, "learned": [],
            "diverged": False, **curves}


def test_a_grid_resumes_training_only_the_runs_that_did_not_finish(tmp_path, monkeypatch):
    configs = [dataclasses.replace(TINY, seed=s) for s in range(4)]
    calls = []

    def train(config, device=None):
        calls.append(config.seed)
        if calls == [0, 1, 2]:
            raise KeyboardInterrupt  # the grid is interrupted during its third run
        return fake_record(config)

    monkeypatch.setattr(E, "train", train)
    with pytest.raises(KeyboardInterrupt):
        E.run_grid(configs, cache=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        c.file_name() for c in configs[:2])
    records = E.run_grid(configs, cache=tmp_path, progress=False)
    assert calls[3:] == [2, 3]
    assert [r["seed"] for r in records] == [0, 1, 2, 3]
    assert E.load_runs(configs, cache=tmp_path) == records
    E.run_grid(configs, cache=tmp_path, progress=False)
    assert len(calls) == 5


def test_a_real_run_records_the_curves_the_test_error_and_learned_values(tmp_path):
    record = E.run(TINY, cache=tmp_path)
    assert E.config_of(record) == TINY
    steps = TINY.n_train // TINY.batch_size * TINY.epochs
    assert record["steps"][-1] == steps == record["epoch_steps"][-1]
    assert len(record["train_error_ema"]) == len(record["steps"]) == len(record["train_loss_ema"])
    assert len(record["val_error"]) == TINY.epochs == len(record["train_error"])
    assert 0 <= record["test_error"] <= 1 and record["test_loss"] > 0
    assert [(e["kind"], e["position"]) for e in record["learned"]] == [
        ("shift", 0), ("scale", 0), ("shift", 1), ("scale", 1)]
    assert (tmp_path / TINY.file_name()).stat().st_size < 3000
    assert E.load(TINY, cache=tmp_path) == record


def test_a_run_depends_on_its_seed_only_and_leaves_the_global_generator_alone():
    config = dataclasses.replace(TINY, dropout=0.5)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = E.train(config)
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(7)
    second = E.train(config)
    for key in ("train_error_ema", "train_loss_ema", "val_error", "test_error", "learned"):
        assert first[key] == second[key]
    assert E.train(dataclasses.replace(config, seed=1))["train_loss_ema"] != first[
        "train_loss_ema"]


# ---- the data: training, validation and test parts ----------------------------------------


def test_every_task_has_disjoint_training_validation_and_test_parts():
    task = E.task_data("mnist14", 3500, 750, 750)
    assert [len(part) for part in task] == [3500] * 2 + [750] * 4
    rows = [{bytes(x.numpy()) for x in part} for part in (task.x_train, task.x_val, task.x_test)]
    assert not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])
    assert E.task_data("mnist28", 10, 10, 10).x_train.shape == (10, 1, 28, 28)


def test_pairs_of_digits_have_100_classes_and_each_part_draws_its_own_pairs():
    task = E.task_data("mnist14_pairs", 600, 100, 100)
    assert task.x_train.shape == (600, 2, 14, 14) and task.x_val.shape == (100, 2, 14, 14)
    assert 0 <= task.y_train.min() and task.y_train.max() <= 99 and len(task.y_train.unique()) > 90
    assert abs(task.x_train.mean().item()) < 1e-4
    assert len(set(tasks.PAIR_SEEDS.values())) == 3
    seen = {bytes(x.numpy()) for x in task.x_train}
    assert not any(bytes(x.numpy()) in seen for x in (*task.x_val, *task.x_test))
    assert E.task_data("mnist28_pairs", 20, 5, 5).x_test.shape == (5, 2, 28, 28)


def test_pairs_are_the_same_on_every_machine_and_each_part_has_its_own_seed():
    """Golden values of today's code: labels of the first pairs and sum_i i * y_i per part."""
    task = E.task_data("mnist14_pairs", 600, 100, 100)
    assert [y[:8].tolist() for y in (task.y_train, task.y_val, task.y_test)] == [
        [1, 23, 78, 93, 40, 99, 79, 86], [6, 69, 7, 22, 19, 7, 36, 56],
        [77, 99, 31, 28, 52, 20, 39, 51]]
    assert [int((y * torch.arange(1, len(y) + 1)).sum())
            for y in (task.y_train, task.y_val, task.y_test)] == [8796970, 267091, 269158]
    digits = torch.arange(10.0).reshape(10, 1, 1, 1)  # label 10 i + j: the pair (i, j) drawn
    drawn = [tasks.pairs(digits, torch.arange(10), 6, seed)[1].tolist()
             for seed in tasks.PAIR_SEEDS.values()]
    assert drawn == [[51, 91, 49, 82, 38, 39], [82, 75, 10, 41, 80, 91], [60, 85, 71, 79, 4, 1]]


def test_too_many_examples():
    with pytest.raises(CourseError) as err:
        E.task_data("mnist14", 4000, 10, 10)
    assert err.value.key == "experiments.too_many" and "750" in str(err.value)
    with pytest.raises(CourseError) as err:
        E.task_data("mnist14", 10, 10, 751)
    assert err.value.key == "experiments.too_many"


# ---- the order of the layers ----------------------------------------------------------------


def test_the_thesis_net_shifts_then_scales_by_default_and_scales_then_shifts_on_request():
    def kinds(order=None):
        kw = {} if order is None else {"order": order}
        net = thesis_net("mlp", "shift_scale_layer", in_shape=(1, 4, 4), widths=(3,), **kw)
        return [type(m) for m in net if isinstance(m, Scale | Shift)]

    assert kinds() == kinds("shift_scale") == [Shift, Scale, Shift, Scale]
    assert kinds("scale_shift") == [Scale, Shift, Scale, Shift]
    assert E.RunConfig("fcn", "none").order == "shift_scale"
    record = E.train(dataclasses.replace(TINY, order="scale_shift"))
    assert [e["kind"] for e in record["learned"]] == ["scale", "shift", "scale", "shift"]


# ---- stacked training --------------------------------------------------------------------


def group_of(base):
    return [dataclasses.replace(base, lr=lr, seed=seed) for lr in (0.02, 0.08) for seed in (0, 1)]


@pytest.mark.parametrize(("arch", "variant", "widths"), [
    ("fcn", "batch_norm", (3, 4)), ("fcn", "shift_scale_element", (3, 4)),
    ("mlp", "shift_scale_layer", (6,)), ("resnet20", "batch_norm", (2, 3, 4)),
    ("resnet20", "shift_scale_channel", (2, 3, 4))])
def test_stacked_runs_equal_the_runs_trained_one_by_one_in_float64(arch, variant, widths):
    """Four runs (two learning rates, two seeds) trained as one stacked model give each run's
    own curves, test error and learned values; batch norm keeps per-run statistics."""
    base = E.RunConfig(arch, variant, n_train=40, n_val=20, n_test=20, epochs=2, batch_size=10,
                       widths=widths)
    stacked = B.train_group(group_of(base), dtype=torch.float64)
    for config, together in zip(group_of(base), stacked, strict=True):
        alone = E.train(config, dtype=torch.float64)
        assert together["stacked"] == 4 and E.config_of(together) == config
        for key in ("steps", "epoch_steps", "diverged"):
            assert together[key] == alone[key]
        for key in ("train_error_ema", "train_loss_ema", "val_error", "val_loss", "train_error"):
            torch.testing.assert_close(torch.tensor(together[key]), torch.tensor(alone[key]),
                                       rtol=0, atol=1.1e-5)  # records keep 5 decimals
        assert together["test_error"] == alone["test_error"]
        assert abs(together["test_loss"] - alone["test_loss"]) <= 1.1e-5
        for a, b in zip(together["learned"], alone["learned"], strict=True):
            assert abs(a["mean"] - b["mean"]) <= 1.1e-5


def test_weight_decay_is_sgds_and_stacked_runs_apply_it_as_alone():
    """g = grad + lambda * p: the same run as torch.optim.SGD(weight_decay=lambda) trained by
    hand, and stacked runs equal to the runs alone in float64."""
    base = E.RunConfig("mlp", "shift_scale_layer", n_train=40, n_val=20, n_test=20, epochs=2,
                       batch_size=10, widths=(6,), weight_decay=0.01)
    alone = E.train(base, dtype=torch.float64)
    assert alone["train_loss_ema"] != E.train(dataclasses.replace(base, weight_decay=0.0),
                                              dtype=torch.float64)["train_loss_ema"]
    stacked = B.train_group(group_of(base), dtype=torch.float64)
    for config, together in zip(group_of(base), stacked, strict=True):
        single = E.train(config, dtype=torch.float64)
        torch.testing.assert_close(torch.tensor(together["train_loss_ema"]),
                                   torch.tensor(single["train_loss_ema"]), rtol=0, atol=1.1e-5)
        assert together["weight_decay"] == 0.01


def test_with_dropout_each_stacked_run_draws_its_own_masks():
    """The same run twice in one stack: same weights and batches, so only the dropout masks
    can make them differ, and they do."""
    config = dataclasses.replace(TINY, dropout=0.5)
    twice = B.train_group([config, config])
    assert twice[0]["train_loss_ema"] != twice[1]["train_loss_ema"]
    assert not any(r["diverged"] for r in twice)
    without = B.train_group([TINY, TINY])
    assert without[0]["train_loss_ema"] == without[1]["train_loss_ema"]


def test_a_stack_takes_only_runs_of_one_group():
    with pytest.raises(CourseError) as err:
        B.train_group([TINY, dataclasses.replace(TINY, epochs=2)])
    assert err.value.key == "experiments.mixed_group"
    assert [len(g) for g in E.groups([TINY, dataclasses.replace(TINY, lr=0.08),
                                      dataclasses.replace(TINY, epochs=2)])] == [2, 1]


def test_the_full_grid_command_trains_a_tiny_copy_stacked_and_resumes(tmp_path, capsys,
                                                                      monkeypatch):
    """The command of the full profile, on toy sizes and experiment 4 (the mlp with dropout)
    on the CPU: every run written, stacked by group; a second call trains nothing."""
    monkeypatch.setattr(L.datasets, "available", lambda name, root=None: False)
    args = ["--profile", "full", "--tiny", "--experiments", "4", "--out", str(tmp_path),
            "--device", "cpu"]
    assert cli.main(args) == 0
    configs = cli.grid("full", [4], toy=True)
    assert len(configs) == 5 * 3 * 2 and {c.dataset for c in configs} == {"mnist28"}
    records = E.load_runs(configs, cache=tmp_path)
    assert len(records) == len(configs) == len(list(tmp_path.iterdir()))
    assert {r["stacked"] for r in records} == {6}
    assert "trained 30 runs" in capsys.readouterr().out
    cli.main(args)
    assert "trained 0 runs" in capsys.readouterr().out


def test_with_experiment_1_the_command_also_measures_the_shift_means(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setattr(L.datasets, "available", lambda name, root=None: False)
    monkeypatch.setattr(cli, "grid", lambda profile, experiments, toy: [])  # the grid: none
    args = ["--profile", "full", "--tiny", "--experiments", "1", "--out", str(tmp_path),
            "--device", "cpu"]
    assert cli.main(args) == 0
    configs = [cli.tiny(c) for group in L.shift_mean_configs("full").values() for c in group]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        L.shift_means_name(c) for c in configs)
    assert f"trained {len(configs)} runs" in capsys.readouterr().out


# ---- the analysis: selection on validation, report on test ---------------------------------


def synthetic(variant, lr, seed, val, train, ema, test=None):
    config = E.RunConfig("fcn", variant, lr=lr, seed=seed)
    return fake_record(config, steps=[10, 20, 30], train_error_ema=ema, val_error=[0.9, val],
                       train_error=[0.9, train], test_error=val if test is None else test,
                       n_test=1000)


def synthetic_experiment():
    """none reaches 0.3 at step 30 with gap 0.1; layer shift+scale gets there at step 20 but
    with gap 0.2, and is the best new variant; batch norm is better still."""
    return [
        synthetic("none", 0.02, 0, 0.40, 0.30, [0.6, 0.4, 0.3]),
        synthetic("none", 0.04, 0, 0.50, 0.40, [0.6, 0.5, 0.4]),
        synthetic("shift_scale_layer", 0.04, 0, 0.34, 0.14, [0.5, 0.3, 0.2]),
        synthetic("shift_scale_layer", 0.04, 1, 0.36, 0.16, [0.5, 0.3, 0.2]),
        synthetic("shift_scale_layer", 0.08, 0, 0.60, 0.10, [0.4, 0.2, 0.1]),
        synthetic("shift_layer", 0.02, 0, 0.38, 0.30, [0.6, 0.4, 0.3]),
        synthetic("batch_norm", 0.08, 0, 0.20, 0.15, [0.3, 0.2, 0.1]),
    ]


def test_best_lr_is_chosen_on_the_mean_validation_error_over_seeds():
    records = synthetic_experiment()
    assert L.best_lr(records) == {"none": 0.02, "shift_scale_layer": 0.04, "shift_layer": 0.02,
                                  "batch_norm": 0.08}
    assert [r["seed"] for r in L.best_runs(records)["shift_scale_layer"]] == [0, 1]


def test_the_reported_error_is_the_test_error_at_the_rate_chosen_on_validation():
    """Honest selection: a rate whose test error is lower but whose validation error is not
    is never picked, and the number reported is the test error, not the validation error."""
    records = [synthetic("none", 0.02, 0, val=0.30, train=0.2, ema=[0.5], test=0.33),
               synthetic("none", 0.04, 0, val=0.31, train=0.2, ema=[0.5], test=0.10)]
    row = L.summary(records)["variants"]["none"]
    assert (row["lr"], row["val_error"], row["test_error"]) == (0.02, 0.30, 0.33)
    assert row["gap"] == pytest.approx(0.13)


def test_summary_checks_the_four_claims_of_the_thesis():
    s = L.summary(synthetic_experiment())
    assert s["threshold"] == 0.3
    rows = s["variants"]
    assert rows["shift_scale_layer"]["test_error"] == pytest.approx(0.35)
    assert rows["shift_scale_layer"]["gap"] == pytest.approx(0.2)
    assert rows["none"]["steps_to"] == 30 and rows["shift_scale_layer"]["steps_to"] == 20
    assert s["best_new"] == "shift_scale_layer"
    assert s["conclusions"] == {"layer_best": True, "faster_than_none": True, "overfits": True,
                                "batch_norm_better": True}


def test_the_verdict_table_shows_every_profile_it_is_given():
    one = {1: L.summary(synthetic_experiment()), 2: L.summary(synthetic_experiment()[:2])}
    table = P.verdict_table({"quick": one}, lang="en")
    assert table.header[2:] == ["experiment 1", "experiment 2"]
    assert table.rows[-1][:3] == ["batch norm is still better", "yes", "yes"]
    assert table.rows[-1][3] == "-"
    both = P.verdict_table({"quick": one, "full": one}, lang="en")
    assert both.rows[0][2] == "yes / yes" and "quick / full" in both.caption
    assert "<table>" in both._repr_html_() and "yes / yes" in str(both)


def test_the_verdict_names_every_variant_and_both_baselines():
    s = L.summary(synthetic_experiment())
    text = P.verdict(s, lang="en")
    for variant in s["variants"]:
        assert L.variant_label(variant, "en") in text
    assert "better than “none” by 5.0 percentage points" in text
    assert "worse than “batch norm” by 15.0 percentage points" in text
    assert "about 1.5 percentage points" in text  # sqrt(0.335 * 0.665 / 1000)
    assert "20,0\u00a0%" in P.verdict(s, lang="sk")


def test_the_summary_table_has_a_row_per_variant_in_the_course_language():
    table = P.summary_table(L.summary(synthetic_experiment()), lang="sk")
    assert [row[0] for row in table.rows] == [L.variant_label(v, "sk") for v in
                                              ("none", "shift_layer", "shift_scale_layer",
                                               "batch_norm")]
    assert table.rows[0][1:4] == ["0,02", "40,0\u00a0%", "40,0\u00a0%"]


def test_a_diverged_run_counts_as_all_wrong():
    record = synthetic("none", 0.08, 0, 0.1, 0.1, [0.5, 0.5, 0.5])
    assert L.final_val_error(record) == L.final_test_error(record) == 0.1
    diverged = {**record, "diverged": True, "test_error": None}
    assert L.final_val_error(diverged) == L.final_test_error(diverged) == 1.0


def test_learned_values_are_collected_per_place_across_seeds():
    def learned(a, b):
        return [{"kind": "shift", "position": 0, "values": [b]},
                {"kind": "scale", "position": 0, "values": [a]},
                {"kind": "shift", "position": 1, "values": [b + 1]},
                {"kind": "scale", "position": 1, "values": [a + 1]}]

    records = [{"learned": learned(0.5, 0.1), "diverged": False},
               {"learned": learned(0.7, -0.1), "diverged": False},
               {"learned": learned(float("nan"), 0.0), "diverged": True}]
    assert L.learned_values(records) == {"scale": [[0.5, 1.5], [0.7, 1.7]],
                                         "shift": [[0.1, 1.1], [-0.1, 0.9]]}


def test_shift_and_scale_values_are_updated_by_their_gradient_like_weights():
    model = thesis_net("mlp", "shift_scale_layer", in_shape=(1, 14, 14), widths=(8,))
    x, y = E.task_data("mnist14", 100, 50, 50)[:2]
    steps = L.gradient_step(model, x[:20], y[:20], lr=0.04)
    assert [s["kind"] for s in steps] == ["shift", "scale", "shift", "scale"]
    for s in steps:
        assert s["grad"].abs() > 0
        torch.testing.assert_close(s["after"], s["before"] - 0.04 * s["grad"])


def test_online_learning_batch_norm_cannot_train_on_one_vector(tmp_path):
    results = L.online_learning("mlp", steps=30, cache=tmp_path, lang="en")
    assert "(1, 128)" in results["batch_norm"]["error"]
    assert results["shift_scale_layer"]["error"] is None
    assert results["shift_scale_layer"]["steps"][-1] == 30
    assert 0 <= results["shift_scale_layer"]["test_error"] <= 1
    assert [p.name for p in tmp_path.iterdir()] == ["online_mlp_shift_scale_n30_lr0.002_s0.json"]
    again = L.online_learning("mlp", steps=30, cache=tmp_path, lang="sk")
    assert again["shift_scale_layer"] == results["shift_scale_layer"]
    assert "Dávková normalizácia" in again["batch_norm"]["error"]


def test_the_online_runs_of_the_notebook_are_committed():
    for arch in ("mlp", "fcn"):
        name = f"online_{arch}_shift_scale_n{L.ONLINE_STEPS}_lr{L.ONLINE_LR:g}_s0.json"
        assert (E.PACKAGE_RUNS / "quick" / name).is_file()


def test_the_quick_grid_has_the_six_experiments_the_extensions_and_is_committed():
    configs = L.grid_configs("quick")
    per_experiment = [len(L.experiment_configs(n, "quick")) for n in L.EXPERIMENTS]
    assert per_experiment == [11 * 3 * 2] + [5 * 3 * 2] * 5
    assert len(configs) == (sum(per_experiment) + len(L.LEARNED_SEEDS) + 3 * 2
                            + len(L.WEIGHT_DECAYS) * 3 * 2 + 4 * 3 * 2)
    assert {c.weight_decay for c in L.weight_decay_configs("quick")} == set(L.WEIGHT_DECAYS)
    assert {c.order for c in L.order_configs("quick")} == {"scale_shift"}
    assert len(E.load_runs(configs, cache=E.PACKAGE_RUNS / "quick")) == len(configs)
    size = sum(p.stat().st_size for p in (E.PACKAGE_RUNS / "quick").iterdir())
    assert size < 600_000


def test_a_committed_run_is_reproduced_from_scratch():
    """The quickest committed run, trained again on the CPU, gives the stored curves."""
    runs = E.load_runs(L.grid_configs("quick"), cache=E.PACKAGE_RUNS / "quick")
    stored = min(runs, key=lambda r: (r["seconds"], r["key"]))
    fresh = E.train(E.config_of(stored))
    for key in ("steps", "epoch_steps", "diverged"):
        assert fresh[key] == stored[key]
    for key in ("train_error_ema", "train_loss_ema", "val_error", "val_loss", "train_error"):
        torch.testing.assert_close(torch.tensor(fresh[key]), torch.tensor(stored[key]),
                                   rtol=0, atol=1e-4)
    assert abs(fresh["test_error"] - stored["test_error"]) < 1e-4


def test_the_full_profile_uses_cifar_when_present_else_the_full_size_stand_ins(monkeypatch,
                                                                               capsys):
    monkeypatch.setattr(L, "_FALLBACK_SAID", set())
    monkeypatch.setattr(L.datasets, "available", lambda name, root=None: True)
    full = L.experiment_configs(5, "full")
    assert {(c.dataset, c.n_train, c.n_test, c.widths, c.dropout) for c in full} == {
        ("cifar100", 45000, 10000, (32, 64, 128), 0.0)}
    monkeypatch.setattr(L.datasets, "available", lambda name, root=None: False)
    said = []
    for _ in range(2):
        sizes = L.task_sizes(10, "full", lang="en", echo=said.append)
        assert sizes == {**L.SIZES["full_offline"][10], "sizes": "full_offline"}
    assert len(said) == 1 and "cifar10" in said[0] and "mnist28" in said[0]
    assert {c.dataset for c in L.experiment_configs(6, "full")} == {"mnist28_pairs"}
    assert "cifar100" in capsys.readouterr().out


def test_the_committed_full_profile_runs_cover_the_offline_full_grid(monkeypatch):
    """The thesis' grid and the first extensions (230 runs) are shipped; the runs added for
    the open questions (weight decay, ResNet-20) come from a later GPU run: each of their groups is
    shipped whole or not at all, and the notebook says which."""
    monkeypatch.setattr(L.datasets, "available", lambda name, root=None: False)
    configs = L.grid_configs("full")
    later = {*L.weight_decay_configs("full"), *L.resnet_configs("full")}
    shipped = [c for c in configs if c not in later]
    found = E.load_runs(shipped, cache=E.PACKAGE_RUNS / "full")
    assert len(found) == len(shipped) == 230
    assert all(r["stacked"] >= 6 and r["dataset"] in ("mnist28", "mnist28_pairs") for r in found)
    for group in E.groups(later):
        assert len(E.load_runs(group, cache=E.PACKAGE_RUNS / "full")) in (0, len(group))


# ---- the runs cache: never a finished run lost, never a crash after training -----------------

def fake_training(monkeypatch, calls):
    """``runner.train`` replaced by a record made at once, counting the calls."""
    def train(config, device=None):
        calls.append(config)
        return {**dataclasses.asdict(config), "test_error": 0.25}

    monkeypatch.setattr(E, "train", train)


def test_a_default_cache_that_cannot_be_written_falls_back_to_the_users_cache(tmp_path,
                                                                              monkeypatch):
    blocked = tmp_path / "read-only"
    blocked.write_text("the package's folder of a shared install, as a file: not writable")
    monkeypatch.setattr(E, "REPO_RUNS", blocked / "runs" / "shift_scale")
    with pytest.warns(UserWarning) as caught:
        folder = E.cache_dir({"XDG_CACHE_HOME": str(tmp_path / "home-cache")})
    assert folder == tmp_path / "home-cache" / "course_lib" / "runs" / "shift_scale"
    assert len(caught) == 1 and str(folder) in str(caught[0].message)


def test_course_runs_pointing_at_a_file_is_refused_before_any_training(tmp_path, monkeypatch):
    calls = []
    fake_training(monkeypatch, calls)
    plain = tmp_path / "runs.txt"
    plain.write_text("not a folder")
    monkeypatch.setenv("COURSE_RUNS", str(plain))
    for call in (lambda: E.run(TINY), lambda: E.run_grid([TINY], progress=False, lang="sk"),
                 lambda: L.shift_means(TINY)):
        with pytest.raises(CourseError) as err:
            call()
        assert err.value.key == "experiments.cache_unwritable" and "COURSE_RUNS" in str(err.value)
    assert calls == []


def test_a_finished_run_is_kept_in_memory_when_its_file_cannot_be_written(tmp_path, monkeypatch):
    calls = []
    fake_training(monkeypatch, calls)

    def full_disk(path, obj):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(E, "write_json", full_disk)
    with pytest.warns(UserWarning, match="No space left on device") as caught:
        records = E.run_grid([TINY, dataclasses.replace(TINY, seed=1)], cache=tmp_path,
                             progress=False)
        record = E.run(TINY, cache=tmp_path)
    assert [r["test_error"] for r in records] == [0.25, 0.25] and len(calls) == 3
    assert TINY.file_name() in str(caught[0].message) and record["widths"] == TINY.widths


def test_a_truncated_cached_run_counts_as_missing_and_is_trained_again(tmp_path, monkeypatch):
    calls = []
    fake_training(monkeypatch, calls)
    E.run(TINY, cache=tmp_path)
    path = tmp_path / TINY.file_name()
    path.write_text(path.read_text()[:40])
    with pytest.warns(UserWarning, match=TINY.file_name()):
        record = E.run(TINY, cache=tmp_path)
    assert record["test_error"] == 0.25 and len(calls) == 2
    assert json.loads(path.read_text())["test_error"] == 0.25


# ---- ResNet-20 in the lab -----------------------------------------------------------------


def test_a_resnet20_run_records_its_shift_and_scale_layers_where_batch_norm_was():
    config = E.RunConfig("resnet20", "shift_scale_layer", n_train=20, n_val=10, n_test=10,
                         epochs=1, batch_size=10, widths=(2, 3, 4))
    record = E.train(config)
    assert [e["position"] for e in record["learned"]] == [p for p in range(21) for _ in (0, 1)]
    assert {e["kind"] for e in record["learned"][::2]} == {"shift"}
    assert E.train(dataclasses.replace(config, variant="none"))["learned"] == []


@pytest.mark.parametrize(("change", "key"), [
    ({"variant": "shift_layer"}, "experiments.unknown_variant"),
    ({"dropout": 0.2}, "experiments.no_dropout"),
    ({"widths": (8, 16)}, "models.bad_resnet_widths"),
])
def test_resnet20_runs_take_its_four_variants_no_dropout_and_three_stage_widths(change, key):
    base = E.RunConfig("resnet20", "none", widths=(2, 3, 4))
    with pytest.raises(CourseError) as err:
        E.build_model(dataclasses.replace(base, **change))
    assert err.value.key == key


def test_the_resnet_grid_has_every_variant_rate_and_seed_and_the_full_one_uses_resnet20(
        monkeypatch):
    quick = L.resnet_configs("quick")
    assert len(quick) == 4 * 3 * 2 and {c.widths for c in quick} == {(8, 16, 32)}
    monkeypatch.setattr(L.datasets, "available", lambda name, root=None: True)
    full = L.resnet_configs("full", echo=lambda _: None)
    assert {(c.dataset, c.widths, c.epochs, c.n_train) for c in full} == {
        ("cifar10", (16, 32, 64), 20, 45000)}


# ---- the shifts against the means of their inputs --------------------------------------------


@pytest.mark.parametrize(("granularity", "chunk"), [("element", 7), ("channel", 5),
                                                    ("layer", 100)])
def test_shift_input_means_are_the_per_unit_means_of_each_shift_layers_input(granularity, chunk):
    """Against the inputs caught by forward hooks, in float64: per element the mean over
    examples, per channel also over positions, per layer over everything."""
    model = thesis_net("fcn", f"shift_{granularity}", in_shape=(2, 6, 6), widths=(3,)).double()
    for layer in model:
        if isinstance(layer, Shift):
            torch.nn.init.normal_(layer.b)
    x = torch.randn(23, 2, 6, 6, dtype=torch.float64)
    caught = []
    hooks = [m.register_forward_hook(lambda m, i, o: caught.append(i[0])) for m in model
             if isinstance(m, Shift)]
    with torch.no_grad():
        model.eval()(x)
    for hook in hooks:
        hook.remove()
    dims = {"element": (0,), "channel": (0, 2, 3), "layer": (0, 1, 2, 3)}[granularity]
    found = L.shift_input_means(model, x, chunk=chunk)
    assert [f["position"] for f in found] == [0, 1, 2] and len(caught) == 3
    for layer, x_in, module in zip(found, caught, [m for m in model if isinstance(m, Shift)],
                                   strict=True):
        expected = x_in.mean(dim=dims).flatten()
        torch.testing.assert_close(torch.tensor(layer["input_mean"], dtype=torch.float64),
                                   expected, rtol=0, atol=1e-5)
        assert layer["shift"] == [round(v, 5) for v in module.b.detach().flatten().tolist()]


def test_centring_measures_how_much_of_the_input_mean_the_shifts_cancel():
    def result(shifts, means, diverged=False):
        return {"diverged": diverged, "layers": [
            {"position": p, "shift": [b], "input_mean": [m]}
            for p, (b, m) in enumerate(zip(shifts, means, strict=True))]}

    exact = [result([5.0, -1.0, -2.0, -4.0], [0.1, 1.0, 2.0, 4.0])]
    assert L.centring(exact) == pytest.approx({"r": 1.0, "slope": 1.0, "removed": 1.0,
                                               "units": 3})
    half = [result([0.0, -0.5, -1.0], [0.0, 1.0, 2.0]), result([0.0, -3.0], [0.0, 6.0]),
            result([float("nan")] * 2, [1.0, 1.0], diverged=True)]
    assert L.centring(half) == pytest.approx({"r": 1.0, "slope": 0.5, "removed": 0.5,
                                              "units": 3})
    assert L.centring(half, after_input=True)["units"] == 5


def test_shift_means_train_the_run_again_measure_it_and_cache_the_result(tmp_path, monkeypatch):
    config = dataclasses.replace(TINY, variant="shift_scale_channel")
    result = L.shift_means(config, cache=tmp_path)
    record = E.train(config)
    assert [layer["shift"] for layer in result["layers"]] == [
        e["values"] for e in record["learned"] if e["kind"] == "shift"]
    assert (result["test_error"], result["diverged"]) == (record["test_error"], False)
    assert [p.name for p in tmp_path.iterdir()] == [L.shift_means_name(config)]
    monkeypatch.setattr(E, "train_model", None)  # a second call reads the file
    assert L.shift_means(config, cache=tmp_path) == result


def test_shift_means_are_returned_with_a_warning_when_their_file_cannot_be_written(
        tmp_path, monkeypatch):
    def full_disk(path, obj):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(E, "write_json", full_disk)
    with pytest.warns(UserWarning, match="No space left on device"):
        result = L.shift_means(TINY, cache=tmp_path)
    assert result["key"] == TINY.key() and list(tmp_path.iterdir()) == []


def test_a_section_shows_the_quick_runs_with_a_message_when_the_full_ones_are_missing(
        tmp_path, monkeypatch):
    said = []
    monkeypatch.setattr(L.datasets, "available", lambda name, root=None: False)
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path))
    found = L.runs_found(L.resnet_configs)
    assert found("quick")
    assert L.shown_profile(found, "full", lang="en", echo=said.append) == "quick"
    assert len(said) == 1 and "--profile full" in said[0]
    assert L.shown_profile(lambda profile: True, "full", echo=said.append) == "full"
    assert L.shown_profile(found, "quick", echo=said.append) == "quick" and len(said) == 1

