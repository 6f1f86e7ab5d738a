"""Real-dataset loaders on small fixtures written in each dataset's on-disk format."""

import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from course_lib import datasets
from course_lib.i18n import CourseError


def write_cifar(root, classes=10, per_file=6, seed=0):
    """A miniature CIFAR archive, unpacked: the official file names, pickled dicts of uint8 rows."""
    rng = np.random.default_rng(seed)
    spec = datasets.SPECS["cifar10" if classes == 10 else "cifar100"]
    folder = root / spec.folders[0]
    folder.mkdir(parents=True)
    label_key = "labels" if classes == 10 else "fine_labels"
    for name in spec.required:
        part = {"data": rng.integers(0, 256, (per_file, 3072), dtype=np.uint8),
                label_key: rng.integers(0, classes, per_file).tolist()}
        with open(folder / name, "wb") as f:
            pickle.dump(part, f)
    return folder


def write_image_folders(root, folder_name="imagewoof2-320", classes=10, per_class=2):
    rng = np.random.default_rng(0)
    for part in ("train", "val"):
        for c in range(classes):
            d = root / folder_name / part / f"n{c:08d}"
            d.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(d / f"img{i}.JPEG", format="JPEG")


def test_cifar10_loads_as_float_images_with_official_pixel_layout(tmp_path):
    folder = write_cifar(tmp_path)
    splits = datasets.load("cifar10", tmp_path, val_fraction=0.2)
    x, y = splits.train.tensors
    assert x.dtype == torch.float32 and x.shape[1:] == (3, 32, 32) and y.dtype == torch.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert len(splits.train) + len(splits.val) == 5 * 6 and len(splits.val) == 6
    assert len(splits.test) == 6
    with open(folder / "test_batch", "rb") as f:
        raw = pickle.load(f)
    first = torch.tensor(raw["data"][0], dtype=torch.float32) / 255
    x_test, y_test = splits.test.tensors
    assert torch.equal(x_test[0, 0].flatten(), first[:1024])
    assert torch.equal(x_test[0, 2].flatten(), first[2048:])
    assert y_test.tolist() == raw["labels"]


def test_cifar_split_is_fixed_by_seed_and_limit_caps_each_part(tmp_path):
    write_cifar(tmp_path)
    a = datasets.load("cifar10", tmp_path, seed=3)
    b = datasets.load("cifar10", tmp_path, seed=3)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    small = datasets.load("cifar10", tmp_path, limit=4)
    assert [len(small.train), len(small.val), len(small.test)] == [4, 3, 4]


def test_cifar100_reads_the_fine_labels(tmp_path):
    write_cifar(tmp_path, classes=100, per_file=40)
    splits = datasets.load("cifar100", tmp_path, val_fraction=0.0)
    assert len(splits.train) == 40 and len(splits.val) == 0
    assert splits.train.tensors[1].max() < 100


def test_course_data_variable_chooses_the_root(tmp_path, monkeypatch):
    write_cifar(tmp_path)
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    assert datasets.available("cifar10")
    assert not datasets.available("cifar100")
    assert datasets.data_root() == tmp_path


def test_missing_dataset_names_the_folder_and_the_fix_in_the_students_language(tmp_path):
    with pytest.raises(CourseError) as err:
        datasets.load("cifar10", tmp_path, lang="sk")
    assert err.value.key == "datasets.missing"
    message = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py") in message
    assert "Stiahnite" in message and "cifar-10-python.tar.gz" in message
    assert "COURSE_DATA" in message


@pytest.mark.parametrize("damage, problem", [
    (lambda p: p.write_bytes(p.read_bytes()[:100]), "UnpicklingError"),
    (lambda p: p.write_bytes(pickle.dumps({"data": np.zeros((2, 10), np.uint8),
                                           "labels": [0, 1]})), "(2, 10)"),
    (lambda p: p.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8),
                                           "labels": [0, 10]})), "10"),
    (lambda p: p.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8),
                                           "labels": [0]})), "1"),
    (lambda p: p.write_bytes(pickle.dumps([1, 2, 3])), "data, labels"),
])
def test_corrupt_cifar_file_is_named_with_what_is_wrong(tmp_path, damage, problem):
    folder = write_cifar(tmp_path)
    damage(folder / "data_batch_3")
    with pytest.raises(CourseError) as err:
        datasets.load("cifar10", tmp_path, lang="en")
    assert err.value.key == "datasets.corrupt"
    assert "data_batch_3" in str(err.value) and problem in str(err.value)


def test_imagewoof_reads_class_folders_resized_to_size(tmp_path):
    write_image_folders(tmp_path)
    splits = datasets.load("imagewoof", tmp_path, size=16, val_fraction=0.25)
    x, y = splits.train[0]
    assert x.shape == (3, 16, 16) and 0 <= y < 10
    assert len(splits.train) == 15 and len(splits.val) == 5 and len(splits.test) == 20
    assert len(datasets.load("imagewoof", tmp_path, size=16, limit=3).train) == 3


def test_imagewoof_with_the_wrong_number_of_classes_is_reported(tmp_path):
    write_image_folders(tmp_path, classes=3)
    with pytest.raises(CourseError) as err:
        datasets.load("imagewoof", tmp_path, size=16, lang="ru")
    assert err.value.key == "datasets.corrupt" and "3" in str(err.value)


def test_imagenet_is_never_downloaded(tmp_path):
    with pytest.raises(CourseError) as err:
        datasets.load("imagenet", tmp_path, download=True)
    assert err.value.key == "datasets.no_download"


def test_fallback_prints_why_and_uses_offline_data(tmp_path):
    said = []
    splits, used = datasets.load_or_fallback("cifar100", "digits", root=tmp_path, lang="sr",
                                             echo=said.append, limit=100)
    assert used == "digits" and len(splits.train) + len(splits.val) + len(splits.test) == 100
    assert "cifar100" in said[0] and "digits" in said[0] and "umesto" in said[0]


def test_fallback_uses_the_real_dataset_when_present(tmp_path):
    write_cifar(tmp_path)
    said = []
    splits, used = datasets.load_or_fallback("cifar10", "digits", root=tmp_path, echo=said.append)
    assert used == "cifar10" and said == [] and splits.train.tensors[0].shape[1] == 3


@pytest.mark.parametrize("kwargs, key", [
    ({"name": "svhn"}, "datasets.unknown"),
    ({"name": "cifar10", "val_fraction": 1.0}, "datasets.bad_fraction"),
    ({"name": "cifar10", "limit": 0}, "datasets.bad_limit"),
])
def test_bad_arguments_raise_value_error(tmp_path, kwargs, key):
    with pytest.raises(ValueError) as err:
        datasets.load(root=tmp_path, **kwargs)
    assert err.value.key == key


def test_a_cifar_pickle_naming_a_missing_module_is_explained(tmp_path):
    folder = write_cifar(tmp_path)
    stranger = pickle.dumps(Image.new("L", (1, 1))).replace(b"PIL.Image", b"PIL.Gone_")
    (folder / "data_batch_2").write_bytes(stranger)
    with pytest.raises(CourseError) as err:
        datasets.load("cifar10", tmp_path, lang="sr")
    assert err.value.key == "datasets.corrupt" and "data_batch_2" in str(err.value)


def test_messages_show_paths_relative_to_the_repository_or_course_data(tmp_path):
    from course_lib.datasets import REPO_DATA, shown

    assert shown(REPO_DATA / "cifar-10-batches-py", environ={}) == "data/cifar-10-batches-py"
    env = {"COURSE_DATA": str(tmp_path)}
    assert shown(tmp_path / "imagewoof2-320", environ=env) == "$COURSE_DATA/imagewoof2-320"
    assert shown("/elsewhere/x", environ={}) == "/elsewhere/x"


def test_in_memory_reads_a_dataset_or_its_chosen_indices_into_two_tensors():
    images = torch.arange(5 * 3 * 2 * 2, dtype=torch.float32).reshape(5, 3, 2, 2)
    part = TensorDataset(images, torch.tensor([4, 3, 2, 1, 0]))
    x, y = datasets.in_memory(part, batch_size=2)
    assert torch.equal(x, images) and y.tolist() == [4, 3, 2, 1, 0]
    x, y = datasets.in_memory(part, [3, 0])
    assert torch.equal(x, images[[3, 0]]) and y.tolist() == [1, 4] and y.dtype == torch.int64
