"""Lab 10's experiment runner: configs, the JSON cache shared by the notebooks, the records
shipped with the package and the split of one budget."""

import json

import pytest

from course_lib import CourseError
from course_lib.labs.merging import baselines as mb
from course_lib.labs.merging import experiments as ex

TINY = ex.Config("toy", "toy", "sines", (("ours", 2, 1, 1), ("talk", 1, 2, 2)), (0,),
                 lr=1e-2, batch_size=100, methods=("teacher", "error_driven", "one_model",
                                                   "bo3", "teacher_finetuned"))


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    cache = tmp_path_factory.mktemp("runs")
    return cache, ex.run(TINY, cache=cache)


def test_a_record_is_written_once_and_read_back(record):
    cache, first = record
    path = cache / TINY.file_name()
    assert path.is_file() and json.loads(path.read_text(encoding="utf-8")) == first
    assert ex.run(TINY, cache=cache) == first
    assert first["config"]["splits"] == [list(s) for s in TINY.splits]


def test_recompute_trains_again_over_a_cached_record(record, tmp_path):
    _, first = record
    stale = tmp_path / TINY.file_name()
    stale.write_text(json.dumps({**first, "rows": []}), encoding="utf-8")
    again = ex.run(TINY, cache=tmp_path, recompute=True)
    assert again["rows"] == first["rows"]  # the same training, not the cached file
    assert json.loads(stale.read_text(encoding="utf-8")) == again


def test_one_model_and_bo3_are_trained_once_and_shared_by_the_splits(record):
    _, rec = record
    shared = [r for r in rec["rows"] if r["split"] == "shared"]
    assert sorted(r["method"] for r in shared) == ["bo3", "one_model"]
    tables = ex.summaries(rec)
    assert list(tables) == ["ours", "talk"]
    for summary in tables.values():
        methods = [r["method"] for r in summary]
        assert methods == ["teacher", "error_driven", "one_model", "bo3", "teacher_finetuned"]
        totals = {r["method"]: r["total"] for r in summary}
        assert totals["error_driven"] == totals["one_model"] == TINY.budget == 6
    ours, talk = ({r["method"]: r for r in tables[k]} for k in ("ours", "talk"))
    assert ours["one_model"] == talk["one_model"] and ours["bo3"] == talk["bo3"]
    assert ours["teacher"]["finetuning"] == "2" and talk["teacher"]["finetuning"] == "1"


def test_splits_of_different_budgets_are_refused():
    with pytest.raises(CourseError) as err:
        ex.Config("toy", "toy", "sines", (("a", 2, 1, 1), ("b", 2, 1, 2)), (0,), lr=1e-2,
                  batch_size=10)
    assert err.value.key == "merging.unequal_budgets"


def test_the_key_changes_with_any_setting_and_names_the_dataset_used(tmp_path):
    assert TINY.key() != ex.Config(**{**TINY.__dict__, "lr": 2e-2}).key()
    resnet = ex.EXPERIMENTS["full"]["resnet20"]
    assert ex.dataset_used(resnet, root=tmp_path) == "mnist"  # no CIFAR-100 in an empty root
    assert ex.resolved(resnet, root=tmp_path).file_name().startswith("resnet20_mnist_")


def test_the_full_profile_has_every_method_three_seeds_and_the_talks_proportions():
    for config in ex.EXPERIMENTS["full"].values():
        assert set(config.methods) == set(mb.METHODS) and len(config.seeds) >= 3
    for name in ("lenet", "resnet20"):
        talk = dict((s[0], s[1:]) for s in ex.EXPERIMENTS["full"][name].splits)["talk"]
        assert [v / talk[0] for v in talk] == pytest.approx([1, 1, 90 / 20])


def test_shipped_records_match_their_configs():
    for profile, configs in ex.EXPERIMENTS.items():
        for name in configs:
            record = ex.shipped(name, profile)
            if record is not None:
                config = ex.resolved(configs[name])
                assert record["config"] == json.loads(config.canonical())
                assert {r["method"] for r in record["rows"]} == set(config.methods)
