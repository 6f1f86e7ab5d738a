"""Real photos for augmentation demos, shipped inside scikit-image (offline, no download).

    images = photos()                    # {"chelsea": uint8 (3, 300, 451), ...}
    cat = photo("chelsea", size=128)     # the shorter side resized to 128

Every photo is a ``torch.uint8`` tensor ``(C, H, W)`` with ``C = 3`` (grey photos are repeated
over three channels), the layout that ``torchvision.transforms.v2`` expects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from .i18n import CourseError


def _sources() -> dict[str, Callable[[], np.ndarray]]:
    from skimage import data as skdata

    return {
        "chelsea": skdata.chelsea,
        "astronaut": skdata.astronaut,
        "coffee": skdata.coffee,
        "rocket": skdata.rocket,
        "camera": skdata.camera,
    }


NAMES: tuple[str, ...] = ("chelsea", "astronaut", "coffee", "rocket", "camera")
"""The photos available by name: a cat, an astronaut, a cup of coffee, a rocket, a cameraman."""


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """NumPy ``(H, W)`` or ``(H, W, 3)`` uint8 -> torch uint8 ``(3, H, W)``."""
    tensor = torch.from_numpy(np.ascontiguousarray(image))
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(-1).expand(-1, -1, 3)
    return tensor.permute(2, 0, 1).contiguous()


def photo(name: str, size: int | None = None, lang: str | None = None) -> torch.Tensor:
    """The photo ``name`` as uint8 ``(3, H, W)``; with ``size`` its shorter side becomes ``size``.

    Raises ``CourseError`` naming the available photos for an unknown name.
    """
    if name not in NAMES:
        raise CourseError("photos.unknown", lang=lang, name=name, known=", ".join(NAMES))
    image = to_tensor(_sources()[name]())
    if size is not None:
        image = F.resize(image, size, antialias=True)
    return image


def photos(names: Sequence[str] = NAMES, size: int | None = None,
           lang: str | None = None) -> dict[str, torch.Tensor]:
    """Several photos by name (default: all of ``NAMES``), each as ``photo(name, size)``."""
    return {name: photo(name, size, lang=lang) for name in names}
