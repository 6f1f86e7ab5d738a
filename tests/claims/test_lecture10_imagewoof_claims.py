"""Claims of lecture 10's section "Experiment 4: LeNet and ResNet-18 on Imagewoof".

The end-to-end runs on the miniature Imagewoof, the cache and the stand-in message in every
language are in tests/unit/test_lab_merging_imagewoof.py; here: the settings the text states.
"""

from dataclasses import replace

import pytest
from torch import nn

from course_lib.labs.merging import experiments

FULL = experiments.EXPERIMENTS["full"]
LENET, RESNET18 = (FULL[name] for name in experiments.IMAGEWOOF)


def test_lenet_on_32_by_32_colour_images_batches_of_128_and_experiment_2s_budget():
    assert (LENET.model, LENET.dataset, LENET.image_size, LENET.batch_size) == (
        "lenet", "imagewoof", 32, 128)
    assert LENET.splits == FULL["lenet"].splits and LENET.budget == 30


def test_resnet18_on_128_by_128_images_batches_of_64_and_experiment_3s_budget():
    assert (RESNET18.model, RESNET18.dataset, RESNET18.image_size, RESNET18.batch_size) == (
        "resnet18", "imagewoof", 128, 64)
    assert RESNET18.splits == FULL["resnet20"].splits and RESNET18.budget == 15


@pytest.mark.parametrize("config", [LENET, RESNET18])
def test_three_seeds_adam_at_a_thousandth_every_method(config):
    assert len(config.seeds) == 3 and config.lr == 1e-3
    assert config.methods == FULL["lenet"].methods


def test_the_networks_take_three_channels_resnet18_with_the_imagenet_stem(imagewoof_root):
    splits, make_lenet, _ = experiments.task(replace(LENET, image_size=16), root=imagewoof_root)
    _, make_resnet, _ = experiments.task(replace(RESNET18, image_size=16), root=imagewoof_root)
    lenet, resnet = make_lenet(), make_resnet()
    assert lenet.conv1.in_channels == 3 and resnet.conv1.in_channels == 3
    assert resnet.conv1.kernel_size == (7, 7) and isinstance(resnet.maxpool, nn.MaxPool2d)
    # 10 % of the official train part is the validation set, the official val part the test set
    assert (len(splits.train), len(splits.val), len(splits.test)) == (18, 2, 20)


def test_only_the_full_profile_has_them():
    assert not set(experiments.IMAGEWOOF) & set(experiments.EXPERIMENTS["quick"])
