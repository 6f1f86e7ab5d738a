"""Lab 09 (course_lib.labs.shift_scale: runner and analysis): cache keys, atomic writes, resuming a
grid, bad hyper-parameters, the summaries behind the thesis' conclusions, and one committed run
re-created from scratch."""

import dataclasses
import json
import os

import pytest
import torch

from course_lib import CourseError
from course_lib.labs.shift_scale import analysis as L
from course_lib.labs.shift_scale import runner as E
from course_lib.models import thesis_net

TINY = E.RunConfig("mlp", "shift_scale_layer", n_train=100, n_val=50, epochs=1, widths=(4,))


def test_the_cache_key_hashes_the_canonical_config_and_stays_the_same():
    config = E.RunConfig("fcn", "none")
    assert config.canonical() == (
        '{"arch":"fcn","batch_size":50,"dataset":"mnist","dropout":0.0,"epochs":4,"lr":0.04,'
        '"n_train":2000,"n_val":500,"seed":0,"variant":"none","widths":[8,16]}')
    assert config.key() == "48605059d4"
    assert config.file_name() == "fcn_none_mnist_p0_lr0.04_s0_48605059d4.json"
    assert E.RunConfig("fcn", "none", widths=[8, 16], dropout=0).key() == config.key()


@pytest.mark.parametrize("change", [{"lr": 0.08}, {"seed": 1}, {"epochs": 5}, {"widths": (8,)},
                                    {"dropout": 0.2}, {"n_val": 499}, {"batch_size": 25}])
def test_any_change_of_the_config_changes_the_key(change):
    config = E.RunConfig("fcn", "none")
    assert dataclasses.replace(config, **change).key() != config.key()


@pytest.mark.parametrize(("change", "key"), [
    ({"lr": 0.05}, "experiments.bad_lr"),
    ({"lr": 0.2}, "experiments.bad_lr"),
    ({"arch": "cnn"}, "experiments.unknown_arch"),
    ({"variant": "shift_scale_mixed"}, "experiments.unknown_variant"),
    ({"dataset": "cifar1000"}, "experiments.unknown_dataset"),
    ({"dropout": 1.0}, "models.bad_dropout"),
    ({"dropout": "0.2"}, "models.bad_dropout"),
    ({"epochs": 0}, "experiments.not_positive"),
    ({"seed": -1}, "experiments.not_positive"),
    ({"widths": (8, 0)}, "experiments.not_positive"),
    ({"batch_size": 2.5}, "experiments.not_positive"),
])
def test_bad_hyper_parameters_raise_a_localized_value_error(change, key):
    with pytest.raises(ValueError) as err:
        dataclasses.replace(TINY, **change)
    assert isinstance(err.value, CourseError) and err.value.key == key


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
            "train_error": [0.4], "learned": [], "diverged": False, **curves}


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


def test_a_real_run_records_the_curves_and_learned_values(tmp_path):
    record = E.run(TINY, cache=tmp_path)
    assert E.config_of(record) == TINY
    steps = TINY.n_train // TINY.batch_size * TINY.epochs
    assert record["steps"][-1] == steps == record["epoch_steps"][-1]
    assert len(record["train_error_ema"]) == len(record["steps"]) == len(record["train_loss_ema"])
    assert len(record["val_error"]) == TINY.epochs == len(record["train_error"])
    assert [(e["kind"], e["position"]) for e in record["learned"]] == [
        ("scale", 0), ("shift", 0), ("scale", 1), ("shift", 1)]
    assert (tmp_path / TINY.file_name()).stat().st_size < 4000
    assert E.load(TINY, cache=tmp_path) == record


def test_a_run_depends_on_its_seed_only_and_leaves_the_global_generator_alone():
    config = dataclasses.replace(TINY, dropout=0.5)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = E.train(config)
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(7)
    second = E.train(config)
    for key in ("train_error_ema", "train_loss_ema", "val_error", "learned"):
        assert first[key] == second[key]
    assert E.train(dataclasses.replace(config, seed=1))["train_loss_ema"] != first[
        "train_loss_ema"]


def test_pairs_of_digits_have_100_classes_and_two_channels():
    x, y, x_val, y_val = E.task_data("mnist_pairs", 600, 100)
    assert x.shape == (600, 2, 14, 14) and x_val.shape == (100, 2, 14, 14)
    assert 0 <= y.min() and y.max() <= 99 and len(y.unique()) > 90
    assert abs(x.mean().item()) < 1e-4


def test_too_many_examples():
    with pytest.raises(CourseError) as err:
        E.task_data("mnist", 4000, 10)
    assert err.value.key == "experiments.too_many"


def synthetic(variant, lr, seed, val, train, ema):
    config = E.RunConfig("fcn", variant, lr=lr, seed=seed)
    return fake_record(config, steps=[10, 20, 30], train_error_ema=ema, val_error=[0.9, val],
                       train_error=[0.9, train])


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


def test_summary_checks_the_four_claims_of_the_thesis():
    s = L.summary(synthetic_experiment())
    assert s["threshold"] == 0.3
    rows = s["variants"]
    assert rows["shift_scale_layer"]["val_error"] == pytest.approx(0.35)
    assert rows["shift_scale_layer"]["gap"] == pytest.approx(0.2)
    assert rows["none"]["steps_to"] == 30 and rows["shift_scale_layer"]["steps_to"] == 20
    assert s["best_new"] == "shift_scale_layer"
    assert s["conclusions"] == {"layer_best": True, "faster_than_none": True, "overfits": True,
                                "batch_norm_better": True}
    table = L.conclusions_table({1: s, 2: L.summary(synthetic_experiment()[:2])}, lang="en")
    assert "batch norm is still better" in table and "yes" in table and " -" in table


def test_a_diverged_run_counts_as_all_wrong():
    record = synthetic("none", 0.08, 0, 0.1, 0.1, [0.5, 0.5, 0.5])
    assert L.final_val_error(record) == 0.1
    assert L.final_val_error({**record, "diverged": True}) == 1.0


def test_learned_values_are_collected_per_place_across_seeds():
    def learned(a, b):
        return [{"kind": "scale", "position": 0, "values": [a]},
                {"kind": "shift", "position": 0, "values": [b]},
                {"kind": "scale", "position": 1, "values": [a + 1]},
                {"kind": "shift", "position": 1, "values": [b + 1]}]

    records = [{"learned": learned(0.5, 0.1)}, {"learned": learned(0.7, -0.1)}]
    assert L.learned_values(records) == {"scale": [[0.5, 1.5], [0.7, 1.7]],
                                         "shift": [[0.1, 1.1], [-0.1, 0.9]]}


def test_shift_and_scale_values_are_updated_by_their_gradient_like_weights():
    model = thesis_net("mlp", "shift_scale_layer", in_shape=(1, 14, 14), widths=(8,))
    x, y = E.task_data("mnist", 100, 50)[:2]
    steps = L.gradient_step(model, x[:20], y[:20], lr=0.04)
    assert [s["kind"] for s in steps] == ["scale", "shift", "scale", "shift"]
    for s in steps:
        assert s["grad"].abs() > 0
        torch.testing.assert_close(s["after"], s["before"] - 0.04 * s["grad"])


def test_online_learning_batch_norm_cannot_train_on_one_vector(tmp_path):
    results = L.online_learning("mlp", steps=30, cache=tmp_path, lang="en")
    assert "(1, 128)" in results["batch_norm"]["error"]
    assert results["shift_scale_layer"]["error"] is None
    assert results["shift_scale_layer"]["steps"][-1] == 30
    assert len(list(tmp_path.iterdir())) == 1
    again = L.online_learning("mlp", steps=30, cache=tmp_path, lang="sk")
    assert again["shift_scale_layer"] == results["shift_scale_layer"]
    assert "Dávková normalizácia" in again["batch_norm"]["error"]


def test_the_online_runs_of_the_notebook_are_committed():
    for arch in ("mlp", "fcn"):
        name = f"online_{arch}_n{L.ONLINE_STEPS}_lr{L.ONLINE_LR:g}_s0.json"
        assert (E.PACKAGE_RUNS / "quick" / name).is_file()


def test_the_quick_grid_has_the_six_experiments_and_is_committed():
    configs = L.grid_configs("quick")
    per_experiment = [len(L.experiment_configs(n, "quick")) for n in L.EXPERIMENTS]
    assert per_experiment == [11 * 3 * 2] + [5 * 3 * 2] * 5
    assert len(configs) == sum(per_experiment) + len(L.LEARNED_SEEDS)
    assert len(E.load_runs(configs, cache=E.PACKAGE_RUNS / "quick")) == len(configs)
    size = sum(p.stat().st_size for p in (E.PACKAGE_RUNS / "quick").iterdir())
    assert size < 1_000_000


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


def test_the_full_profile_uses_cifar_when_present_else_the_quick_runs(monkeypatch, capsys):
    monkeypatch.setattr(L, "_FALLBACK_SAID", set())
    monkeypatch.setattr(L.datasets, "available", lambda name, root=None: True)
    full = L.experiment_configs(5, "full")
    assert {(c.dataset, c.n_train, c.widths, c.dropout) for c in full} == {
        ("cifar100", 45000, (32, 64, 128), 0.0)}
    monkeypatch.setattr(L.datasets, "available", lambda name, root=None: False)
    said = []
    for _ in range(2):
        sizes = L.task_sizes(10, "full", lang="en", echo=said.append)
        assert sizes == {**L.SIZES["quick"][10], "profile": "quick"}
    assert len(said) == 1 and "cifar10" in said[0] and "mnist" in said[0]
    assert L.experiment_configs(6, "full") == L.experiment_configs(6, "quick")
    assert "cifar100" in capsys.readouterr().out
