"""Lab 10's Imagewoof experiments (the talk's LeNet and ResNet-18) end to end on the miniature
Imagewoof of tests/fixtures/imagewoof.py: tiny sizes, one epoch per phase, the CPU."""

import json
from dataclasses import replace

import pytest

from course_lib.labs.merging import experiments as ex

SMALL = {"splits": (("ours", 1, 1, 1),), "seeds": (0,), "batch_size": 10,
         "methods": ("teacher", "error_driven")}


def tiny(name: str, image_size: int = 16) -> ex.Config:
    """The full profile's config ``name`` cut to a few images' worth of work."""
    return replace(ex.EXPERIMENTS["full"][name], image_size=image_size, **SMALL)


def test_the_talks_imagewoof_experiments_are_full_profile_configs_of_their_own():
    full = ex.EXPERIMENTS["full"]
    assert [(full[n].model, full[n].dataset) for n in ex.IMAGEWOOF] == [
        ("lenet", "imagewoof"), ("resnet18", "imagewoof")]
    assert all(full[n].image_size for n in ex.IMAGEWOOF)
    assert not any("imagewoof" in name for name in ex.EXPERIMENTS["quick"])


def test_configs_without_an_image_size_keep_their_keys():
    lenet = ex.EXPERIMENTS["full"]["lenet"]
    assert "image_size" not in json.loads(lenet.canonical())
    assert lenet.key() == replace(lenet, image_size=None).key()
    assert replace(lenet, image_size=32).key() != lenet.key()
    assert ex.EXPERIMENTS["quick"]["lenet"].file_name() == "lenet_mnist_05161b45ad.json"
    assert ex.EXPERIMENTS["quick"]["toy"].file_name() == "toy_sines_3ce98e044e.json"
    assert ex.EXPERIMENTS["full"]["toy"].file_name() == "toy_sines_f21c9990d6.json"


def test_without_imagewoof_the_configs_do_not_run_and_keep_no_stand_in(tmp_path):
    for name in ex.IMAGEWOOF:
        config = ex.EXPERIMENTS["full"][name]
        assert not ex.available(config, root=tmp_path)
        assert ex.dataset_used(config, root=tmp_path) == "imagewoof"
    assert ex.available(ex.EXPERIMENTS["full"]["resnet20"], root=tmp_path)


@pytest.mark.parametrize("name, params", [("lenet_imagewoof", 15_926),
                                          ("resnet18_imagewoof", 11_181_642)])
def test_imagewoof_experiment_runs_end_to_end_and_is_cached(imagewoof_root, tmp_path, name,
                                                            params):
    config = tiny(name)
    splits, make_model, used = ex.task(config, root=imagewoof_root)
    assert used == "imagewoof"
    assert [len(part) for part in (splits.train, splits.val, splits.test)] == [18, 2, 20]
    assert splits.train.tensors[0].shape[1:] == (3, 16, 16)
    assert sum(p.numel() for p in make_model().parameters()) == params
    cache = tmp_path / "runs"
    record = ex.run(config, cache=cache, device="cpu", root=imagewoof_root)
    assert record["dataset"] == "imagewoof" and record["config"]["image_size"] == 16
    assert (cache / config.file_name()).is_file()
    assert config.file_name().startswith(f"{config.model}_imagewoof_")
    students = [r for r in record["rows"] if r["method"] == "error_driven"]
    assert len(students) == 1 and students[0]["params"] == params
    assert 0.0 <= students[0]["test_acc"] <= 1.0
    assert ex.load(config, cache, imagewoof_root) == record


def test_the_notebook_names_the_stand_in_when_imagewoof_is_absent(tmp_path, capsys):
    for lang, words in (("sk", "vzorka MNIST"), ("sr", "uzorak MNIST-a"),
                        ("ru", "выборка MNIST")):
        config = ex.EXPERIMENTS["full"]["resnet18_imagewoof"]
        assert ex.show_imagewoof(config, "full", lang, root=tmp_path, cache=tmp_path) is None
        out = capsys.readouterr().out
        assert "ResNet-18" in out and words in out and "imagewoof2-320" in out


def test_the_notebook_shows_a_cached_imagewoof_record_in_any_profile(imagewoof_root, tmp_path,
                                                                     capsys):
    config = tiny("lenet_imagewoof")
    cache = tmp_path / "runs"
    assert ex.show_imagewoof(config, "quick", "en", root=imagewoof_root, cache=cache) is None
    assert "stand-in" in capsys.readouterr().out  # the quick profile never trains it
    record = ex.show_imagewoof(config, "full", "en", root=imagewoof_root, cache=cache)
    assert record is not None and (cache / config.file_name()).is_file()
    assert ex.show_imagewoof(config, "quick", "en", root=imagewoof_root, cache=cache) == record
    out = capsys.readouterr().out
    assert "LeNet on Imagewoof" in out and "data: imagewoof" in out


def test_the_command_skips_imagewoof_when_absent(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    assert ex.main(["--profile", "full", "--out", str(tmp_path), *ex.IMAGEWOOF]) == 0
    out = capsys.readouterr().out
    assert "lenet_imagewoof: skipped" in out and "resnet18_imagewoof: skipped" in out
    assert not list(tmp_path.glob("*.json"))
