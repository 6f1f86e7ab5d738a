"""The Imagewoof loader on the shared fixture in the on-disk layout of the official archive."""

import pytest
import torch

from course_lib import datasets
from course_lib.i18n import CourseError
from tests.fixtures.imagewoof import WNIDS, write_imagewoof


def test_the_fixture_is_found_where_course_data_points(imagewoof_root, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(imagewoof_root))
    assert datasets.available("imagewoof")
    assert datasets.folder("imagewoof") == imagewoof_root / "imagewoof2-320"


def test_imagewoof_loads_ten_breeds_by_wordnet_id_as_square_rgb_images(imagewoof_root):
    splits = datasets.load("imagewoof", imagewoof_root, size=16, val_fraction=0.25)
    full = splits.train.dataset
    assert full.classes == list(WNIDS) and splits.test.classes == list(WNIDS)
    assert [len(splits.train), len(splits.val), len(splits.test)] == [15, 5, 20]
    x, y = splits.test[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1
    assert sorted({label for _, label in splits.test.samples}) == list(range(10))
    assert y == 0


def test_imagewoof_default_side_is_128(imagewoof_root):
    x, _ = datasets.load("imagewoof", imagewoof_root, limit=1).train[0]
    assert x.shape == (3, 128, 128)


def test_the_smaller_archives_folder_names_are_accepted(tmp_path):
    write_imagewoof(tmp_path, per_class=1, folder="imagewoof2-160")
    assert datasets.folder("imagewoof", tmp_path).name == "imagewoof2-160"
    assert len(datasets.load("imagewoof", tmp_path, size=8, val_fraction=0.0).train) == 10


@pytest.mark.parametrize("lang, words", [("en", "Download"), ("sk", "Stiahnite"),
                                         ("sr", "Preuzmite"), ("ru", "Скачайте")])
def test_missing_imagewoof_names_folder_archive_and_variable_in_each_language(tmp_path, lang,
                                                                              words):
    with pytest.raises(CourseError) as err:
        datasets.load("imagewoof", tmp_path, lang=lang)
    message = str(err.value)
    assert err.value.key == "datasets.missing"
    assert "imagewoof2-320" in message and "imagewoof2-320.tgz" in message
    assert "COURSE_DATA" in message and words in message


def test_imagewoof_without_val_is_reported_as_missing_val(tmp_path):
    base = write_imagewoof(tmp_path, per_class=1)
    for path in sorted((base / "val").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (base / "val").rmdir()
    assert not datasets.available("imagewoof", tmp_path)
    with pytest.raises(CourseError) as err:
        datasets.load("imagewoof", tmp_path, lang="en")
    assert "(missing: val)" in str(err.value)
