"""Data augmentation with ``torchvision.transforms.v2``: random resized crops, flips, colour jitter.

    train_tf = train_transforms(32, mean=CIFAR10_MEAN, std=CIFAR10_STD)
    eval_tf = eval_transforms(32, mean=CIFAR10_MEAN, std=CIFAR10_STD)
    show_augmentations(image, train_tf)

Both pipelines take a PIL image, a NumPy array (H, W, C) or a tensor (C, H, W) (uint8 in
[0, 255] or float in [0, 1]) and return a float32 tensor (C, size, size), normalized per
channel as ``(x - mean) / std`` when ``mean`` and ``std`` are given.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from . import validation as check
from .i18n import CourseError, t

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def _finish(steps: list, mean, std, lang) -> v2.Compose:
    """Append the float conversion and, with both ``mean`` and ``std``, the normalization."""
    if (mean is None) != (std is None):
        raise CourseError("augment.mean_std", lang=lang)
    if mean is not None and not (
            len(mean) == len(std) and all(check.is_number(m) for m in mean)
            and all(check.is_number(s) and s > 0 for s in std)):
        raise CourseError("augment.bad_mean_std", lang=lang, mean=mean, std=std)
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if mean is not None:
        steps.append(v2.Normalize(mean, std))
    return v2.Compose(steps)


def _check_size(size, lang: str | None):
    """A side ``s >= 1`` or a pair ``(h, w)`` of them."""
    sides = size if isinstance(size, tuple | list) else [size]
    if len(sides) not in (1, 2) or not all(
            check.is_int(side) and side >= 1 for side in sides):
        raise CourseError("augment.bad_size", lang=lang, size=size)


def train_transforms(size, flip: bool = True, crop_scale=(0.08, 1.0), jitter: float = 0.4,
                     mean=None, std=None, lang: str | None = None) -> v2.Compose:
    """Random augmentation for training: -> float32 (C, size, size).

    A random crop covering a fraction ``crop_scale`` of the area (aspect ratio 3/4 to 4/3),
    resized to ``size``; a horizontal flip with probability 1/2 (``flip``); brightness, contrast
    and saturation each multiplied by a factor from [1 - jitter, 1 + jitter] (none for 0).
    ``0 < crop_scale[0] <= crop_scale[1] <= 1`` and ``jitter >= 0``.
    """
    _check_size(size, lang)
    if not (isinstance(crop_scale, tuple | list) and len(crop_scale) == 2
            and all(check.is_number(v) for v in crop_scale)
            and 0 < crop_scale[0] <= crop_scale[1] <= 1):
        raise CourseError("augment.bad_crop_scale", lang=lang, value=crop_scale)
    check.in_range("jitter", jitter, 0, lang=lang)
    steps = [v2.ToImage(), v2.RandomResizedCrop(size, scale=crop_scale, antialias=True)]
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    if jitter:
        steps.append(v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter))
    return _finish(steps, mean, std, lang)


def eval_transforms(size, mean=None, std=None, resize=None,
                    lang: str | None = None) -> v2.Compose:
    """Deterministic pipeline for validation and testing: -> float32 (C, size, size).

    The shorter side is resized to ``resize`` (default 8/7 of the crop, i.e. 256 for 224; of its
    longer side when ``size`` is a pair (h, w)) and the centre ``size`` crop is kept.
    """
    _check_size(size, lang)
    if resize is not None:
        check.positive_int("resize", resize, lang)
    resize = resize or round(max(size if isinstance(size, tuple | list) else [size]) * 8 / 7)
    steps = [v2.ToImage(), v2.Resize(resize, antialias=True), v2.CenterCrop(size)]
    return _finish(steps, mean, std, lang)


def _displayable(image: torch.Tensor, transform):
    """(C, H, W) -> NumPy (H, W, C) in [0, 1], undoing the pipeline's ``Normalize`` if any."""
    image = F.to_dtype(F.to_image(image), torch.float32, scale=True)
    for step in getattr(transform, "transforms", []):
        if isinstance(step, v2.Normalize):
            mean = torch.tensor(step.mean).view(-1, 1, 1)
            image = image * torch.tensor(step.std).view(-1, 1, 1) + mean
    return image.clamp(0, 1).permute(1, 2, 0).squeeze(-1).numpy()


def show_augmentations(image, transform=None, n: int = 7, cols: int = 4, seed: int = 0,
                       lang: str | None = None):
    """A grid with ``image`` and ``n`` random augmentations of it; returns the Figure.

    ``transform`` defaults to ``train_transforms`` at the image's own size. Draws use their own
    seed, so the global random state of the notebook is left as it was.
    """
    import matplotlib.pyplot as plt

    check.positive_int("n", n, lang)
    check.positive_int("cols", cols, lang)
    original = F.to_image(image)
    transform = transform or train_transforms(tuple(original.shape[-2:]), lang=lang)
    rows = -(-(n + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.0 * rows), squeeze=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        panels = [(original, t("augment.original", lang=lang), None)] + [
            (transform(image), t("augment.augmented", lang=lang, i=i + 1), transform)
            for i in range(n)
        ]
    for ax in axes.flat:
        ax.axis("off")
    for ax, (picture, title, pipeline) in zip(axes.flat, panels, strict=False):
        ax.imshow(_displayable(picture, pipeline), cmap="gray")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
