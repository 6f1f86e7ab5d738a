"""Offline photos: shapes, dtype, resizing, grey photos as three channels, unknown names."""

import pytest
import torch

from course_lib.data import PHOTOS, photo, photos, to_tensor
from course_lib.i18n import LANGUAGES, CourseError


def test_every_photo_is_uint8_with_three_channels():
    for name, image in photos().items():
        assert name in PHOTOS
        assert image.dtype == torch.uint8 and image.ndim == 3 and image.shape[0] == 3


def test_chelsea_has_the_size_of_the_scikit_image_original():
    assert tuple(photo("chelsea").shape) == (3, 300, 451)


def test_size_sets_the_shorter_side():
    image = photo("chelsea", size=120)
    assert min(image.shape[-2:]) == 120 and image.dtype == torch.uint8


def test_grey_photos_repeat_one_channel():
    camera = photo("camera")
    assert torch.equal(camera[0], camera[1]) and torch.equal(camera[1], camera[2])


def test_to_tensor_moves_channels_first():
    import numpy as np

    array = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    tensor = to_tensor(array)
    assert tuple(tensor.shape) == (3, 2, 3) and tensor[1, 0, 2] == array[0, 2, 1]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_unknown_photo_names_the_available_ones(lang):
    with pytest.raises(CourseError) as err:
        photo("dog", lang=lang)
    assert err.value.key == "data.unknown_photo" and "chelsea" in str(err.value)
