"""Augmentation pipelines: output shapes and dtypes, normalization, determinism, the grid."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from course_lib.augment import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    eval_transforms,
    show_augmentations,
    train_transforms,
)
from course_lib.i18n import LANGUAGES, CourseError, t


def inputs():
    gen = torch.Generator().manual_seed(0)
    uint8 = torch.randint(0, 256, (3, 40, 48), dtype=torch.uint8, generator=gen)
    return {
        "uint8 tensor": uint8,
        "float tensor": uint8.float() / 255,
        "PIL image": Image.fromarray(uint8.permute(1, 2, 0).numpy()),
        "numpy array": uint8.permute(1, 2, 0).numpy(),
    }


@pytest.mark.parametrize("kind", list(inputs()))
@pytest.mark.parametrize("make", [train_transforms, eval_transforms])
def test_pipelines_give_float32_images_of_the_requested_size(kind, make):
    out = make(32, mean=CIFAR10_MEAN, std=CIFAR10_STD)(inputs()[kind])
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    assert make((24, 16))(inputs()[kind]).shape == (3, 24, 16)


def test_without_mean_and_std_values_stay_in_unit_range():
    out = train_transforms(32)(inputs()["uint8 tensor"])
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_normalization_is_per_channel():
    image = torch.full((3, 20, 20), 0.5)
    out = eval_transforms(16, mean=CIFAR10_MEAN, std=CIFAR10_STD)(image)
    expected = (0.5 - torch.tensor(CIFAR10_MEAN)) / torch.tensor(CIFAR10_STD)
    torch.testing.assert_close(out[:, 0, 0], expected)


def test_eval_is_deterministic_and_resizes_then_crops_the_centre():
    image = inputs()["float tensor"]
    pipeline = eval_transforms(28)
    torch.testing.assert_close(pipeline(image), pipeline(image))
    assert [type(step) for step in pipeline.transforms][:3] == [v2.ToImage, v2.Resize,
                                                                v2.CenterCrop]
    assert pipeline.transforms[1].size == [32]  # 28 * 8/7
    assert eval_transforms(224).transforms[1].size == [256]


def test_train_is_random_and_its_parts_can_be_switched_off():
    image = inputs()["float tensor"]
    pipeline = train_transforms(32)
    assert not torch.equal(pipeline(image), pipeline(image))
    kinds = {type(step) for step in train_transforms(32, flip=False, jitter=0).transforms}
    assert v2.RandomHorizontalFlip not in kinds and v2.ColorJitter not in kinds
    crop = train_transforms(32, crop_scale=(0.5, 0.9)).transforms[1]
    assert isinstance(crop, v2.RandomResizedCrop) and crop.scale == (0.5, 0.9)


def test_only_flips_with_a_full_crop_keep_the_pixels():
    image = inputs()["float tensor"][:, :32, :32]
    pipeline = train_transforms(32, crop_scale=(1.0, 1.0), jitter=0)
    pipeline.transforms[1].ratio = (1.0, 1.0)
    for _ in range(5):
        out = pipeline(image)
        assert torch.allclose(out, image, atol=1e-6) or torch.allclose(out, image.flip(-1),
                                                                       atol=1e-6)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_mean_without_std_is_explained(lang):
    with pytest.raises(CourseError) as error:
        train_transforms(32, mean=CIFAR10_MEAN, lang=lang)
    assert str(error.value) == t("augment.mean_std", lang=lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_grid_of_augmentations(lang):
    import matplotlib.pyplot as plt

    state = torch.get_rng_state()
    fig = show_augmentations(inputs()["PIL image"], n=5, cols=3, lang=lang)
    assert torch.equal(torch.get_rng_state(), state)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [t("augment.original", lang=lang)] + [
        t("augment.augmented", lang=lang, i=i) for i in range(1, 6)]
    assert len(fig.axes) == 6
    plt.close(fig)


def test_grid_undoes_the_normalization_for_display():
    import matplotlib.pyplot as plt

    gray = np.full((24, 24), 128, dtype=np.uint8)
    pipeline = train_transforms(16, jitter=0, mean=(0.5,), std=(0.25,))
    fig = show_augmentations(gray, pipeline, n=3, cols=2)
    shown = fig.axes[1].get_images()[0].get_array()
    assert np.allclose(shown, 128 / 255, atol=1e-6)
    plt.close(fig)
