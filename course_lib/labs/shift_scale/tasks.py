"""The data of research lab 09: CIFAR-10/100 as in the thesis, and offline MNIST stand-ins.

Every task has three disjoint parts: training (the weights learn from it), validation (the
learning rate of each variant is chosen on it; the curves show it) and test (touched once,
after training, for the reported error). Inputs are normalized per channel with the mean and
standard deviation of the training part.

=================  =============  =======  ==============================================
name               per example    classes  source (ours, not the thesis', except CIFAR)
=================  =============  =======  ==============================================
``mnist14``        (1, 14, 14)    10       MNIST sample averaged over 2 x 2 blocks
``mnist14_pairs``  (2, 14, 14)    100      two such digits as the two channels of one image
``mnist28``        (1, 28, 28)    10       the MNIST sample at full resolution
``mnist28_pairs``  (2, 28, 28)    100      pairs of full-resolution digits
``cifar10``        (3, 32, 32)    10       ``course_lib.datasets`` (needs ``COURSE_DATA``)
``cifar100``       (3, 32, 32)    100      likewise
=================  =============  =======  ==============================================

MNIST: ``data.load("mnist")``, the 5000-image sample split 70 / 15 / 15 % (3500 training, 750
validation, 750 test images). A pair is labelled ``10 * first + second``; the pairs of each part
are drawn from that part's images only, with a different seed per part (``PAIR_SEEDS``), so no
validation or test pair shares an image with a training pair. The pairs are channels rather
than side by side so that a fully convolutional net with global average pooling can tell the
two digits apart. CIFAR: the official test set is the test part; the validation part is 10 %
of the official training set (``datasets.load``).
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F

from ... import data, datasets, preprocessing
from ...i18n import CourseError

CLASSES = {"mnist14": 10, "mnist14_pairs": 100, "mnist28": 10, "mnist28_pairs": 100,
           "cifar10": 10, "cifar100": 100}
DATASETS = tuple(CLASSES)
PAIR_SEEDS = {"train": 1, "val": 2, "test": 3}


class Task(NamedTuple):
    """The three parts of a task, each ``x: (N, C, H, W)`` float, ``y: (N,)`` long."""

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor


def pairs(x: Tensor, y: Tensor, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """``n`` random pairs (with replacement) of the one-channel images ``x`` as the two channels
    of one image, ``(n, 2, H, W)``, labelled ``10 * y_first + y_second`` (100 classes)."""
    g = torch.Generator().manual_seed(seed)
    first, second = torch.randint(len(x), (2, n), generator=g)
    return torch.cat([x[first], x[second]], dim=1), 10 * y[first] + y[second]


@cache
def _mnist(side: int) -> tuple[tuple[Tensor, Tensor], ...]:
    """The training, validation and test parts of ``data.load("mnist")`` at ``side`` x ``side``."""
    splits = data.load("mnist", seed=0)
    parts = (splits.train.tensors, splits.val.tensors, splits.test.tensors)
    if side == 14:
        parts = tuple((F.avg_pool2d(x, 2), y) for x, y in parts)
    return parts


def _parts(dataset: str, counts: tuple[int, int, int]) -> list[tuple[Tensor, Tensor]]:
    if dataset.startswith("cifar"):
        splits = datasets.load(dataset)
        parts = [splits.train.tensors, splits.val.tensors, splits.test.tensors]
    else:
        parts = list(_mnist(int(dataset[5:7])))
        if dataset.endswith("_pairs"):
            parts = [pairs(x, y, n, seed) for (x, y), n, seed
                     in zip(parts, counts, PAIR_SEEDS.values(), strict=True)]
    return parts


@cache
def task_data(dataset: str, n_train: int, n_val: int, n_test: int) -> Task:
    """The first ``n_train`` / ``n_val`` / ``n_test`` examples of the three parts of
    ``dataset``, normalized per channel with the training part's statistics. More than a part
    holds raises a ``CourseError``."""
    if dataset not in CLASSES:
        raise CourseError("experiments.unknown_dataset", name=dataset, known=", ".join(DATASETS))
    counts = (n_train, n_val, n_test)
    parts = _parts(dataset, counts)
    if any(n > len(y) for n, (_, y) in zip(counts, parts, strict=True)):
        raise CourseError("experiments.too_many", dataset=dataset, n_train=n_train, n_val=n_val,
                          n_test=n_test, train=len(parts[0][1]), val=len(parts[1][1]),
                          test=len(parts[2][1]))
    parts = [(x[:n].float(), y[:n]) for (x, y), n in zip(parts, counts, strict=True)]
    mean, std = preprocessing.channel_stats(parts[0][0])
    return Task(*(t for x, y in parts
                  for t in (preprocessing.normalize_channels(x, mean, std), y)))
