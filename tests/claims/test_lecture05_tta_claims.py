"""Claims of lecture 05's section on test-time augmentation, on the notebook's own run.

The run is the notebook's in the quick profile: the pretrained EfficientNet-Lite0 on the six
photos of ``data.PHOTOS``, crops of 112 pixels at shorter sides 112, 128 and 192 (half of
224, 256 and 384; ``rx.photo_tta(model, crop=112)``). The structure of the crops and their
equality with torchvision are unit tests (tests/unit/test_ensembles.py).
"""

import pytest
import torch

from course_lib import data, transfer
from course_lib.lectures import regularization as rx

CROP = 112  # course.size(quick=112, full=224) in the notebook


@pytest.fixture(scope="module")
def result():
    return rx.photo_tta(transfer.efficientnet_lite0(), crop=CROP)


def test_the_notebook_runs_every_photo_at_three_scales_of_ten_crops(result):
    assert result.names == data.PHOTOS and len(data.PHOTOS) == 6
    assert result.scales == (112, 128, 192) == rx.tta_scales(CROP)
    assert rx.tta_scales(224) == (224, 256, 384)  # three of ResNet's {224, 256, 384, 480, 640}
    assert result.probs.shape == (30, 6, 1000)


def test_the_cost_is_1_10_and_30_forward_passes_per_photo(result):
    assert [len(result.crops(m)) for m in rx.TTA_METHODS] == [1, 10, 30]


@pytest.mark.parametrize("method", ["ten", "multi"])
def test_averaging_never_lowers_the_log_probability_below_the_mean_log_nor_the_worst_crop(
        result, method):
    """log(1/V sum_v p_v) >= 1/V sum_v log p_v >= min_v log p_v, for every photo and class."""
    above_mean, mean_above_worst = rx.jensen_gaps(result, method)
    assert above_mean.shape == (6, 1000)
    assert above_mean.min() >= -1e-12 and mean_above_worst.min() >= 0
    assert above_mean.max() > 0  # the crops disagree: the inequality is not an equality


def test_averaging_does_not_promise_a_higher_probability_of_the_label_than_the_centre_crop(
        result):
    """What the section warns about happens on the notebook's own photos: the cup of coffee."""
    single, multi = result.label_probability("single"), result.label_probability("multi")
    coffee = result.names.index("coffee")
    assert multi[coffee] < single[coffee]


def test_only_the_cat_and_the_coffee_are_labelled_and_their_classes_are_imagenet_classes():
    categories = transfer.imagenet_categories()
    assert set(rx.PHOTO_LABELS) == {"chelsea", "coffee"}
    assert all(c in categories for classes in rx.PHOTO_LABELS.values() for c in classes)
    assert list(categories[281:286]) == list(rx.PHOTO_LABELS["chelsea"])  # domestic cats
    for missing in ("astronaut", "rocket", "motorcycle", "person"):
        assert not any(missing in name.lower() for name in categories)


def test_the_averages_are_probabilities_and_the_single_crop_is_the_centre_at_the_middle_scale(
        result):
    for method in rx.TTA_METHODS:
        torch.testing.assert_close(result.average(method).sum(dim=1),
                                   torch.ones(6, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(result.average("single"), result.probs[14].double())
