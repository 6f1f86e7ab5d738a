"""Real image datasets read from a local folder: CIFAR-10, CIFAR-100, Imagewoof, ImageNet.

Nothing is downloaded unless asked. The folder is ``$COURSE_DATA`` (default ``<repo>/data``)
and each dataset has the layout of its official archive, unpacked:

=============  ==========================  ===========================================
name           folder under the root       contents
=============  ==========================  ===========================================
``cifar10``    ``cifar-10-batches-py/``    ``data_batch_1`` ... ``data_batch_5``, ``test_batch``
``cifar100``   ``cifar-100-python/``       ``train``, ``test``
``imagewoof``  ``imagewoof2-320/``         ``train/<wnid>/*.JPEG``, ``val/<wnid>/*.JPEG``
``imagenet``   ``imagenet/``               ``train/<wnid>/*.JPEG``, ``val/<wnid>/*.JPEG``
=============  ==========================  ===========================================

CIFAR files are pickled dicts: ``data`` is ``(N, 3072)`` uint8 (1024 red, 1024 green, 1024 blue
values of a 32 x 32 image, row by row), the labels are ``labels`` (CIFAR-10) or ``fine_labels``
(CIFAR-100). ``load`` gives a ``course_lib.data.Splits``: CIFAR as float tensors
``(N, 3, 32, 32)`` in [0, 1] with long labels ``(N,)``; Imagewoof and ImageNet as image-folder
datasets of ``(3, size, size)`` tensors. The official training set is cut into train and
validation parts by ``val_fraction`` and ``seed``; the official test (or val) set is the test
part. A missing or corrupt dataset raises a ``CourseError`` that names the folder and says how to
fill it, in the student's language.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from . import data
from .i18n import CourseError, t

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def shown(path, environ=None) -> str:
    """``path`` as a message shows it: relative to the repository (``data/cifar-10-batches-py``)
    or to ``$COURSE_DATA`` when it lies there, so that printed outputs are the same on every
    machine; any other path in full."""
    path = Path(path)
    environ = os.environ if environ is None else environ
    bases = [(REPO_DATA.parent, "")]
    if environ.get("COURSE_DATA"):
        bases.insert(0, (Path(environ["COURSE_DATA"]), "$COURSE_DATA/"))
    for base, prefix in bases:
        try:
            return prefix + str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)


def data_root(root=None, environ=None) -> Path:
    """The data folder: ``root`` if given, else ``$COURSE_DATA``, else ``<repo>/data``."""
    if root is not None:
        return Path(root)
    environ = os.environ if environ is None else environ
    return Path(environ["COURSE_DATA"]) if environ.get("COURSE_DATA") else REPO_DATA


@dataclass(frozen=True)
class Spec:
    """Where a dataset lives under the root, which files it needs, and where it comes from."""

    folders: tuple[str, ...]
    required: tuple[str, ...]
    classes: int
    url: str


SPECS = {
    "cifar10": Spec(("cifar-10-batches-py",),
                    tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",), 10,
                    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": Spec(("cifar-100-python",), ("train", "test"), 100,
                     "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
    "imagewoof": Spec(("imagewoof2-320", "imagewoof2-160", "imagewoof2"), ("train", "val"), 10,
                      "https://s3.amazonaws.com/fast-ai-imageclas/imagewoof2-320.tgz"),
    "imagenet": Spec(("imagenet",), ("train", "val"), 1000, "https://image-net.org/download.php"),
}


def _spec(name: str) -> Spec:
    if name not in SPECS:
        raise CourseError("datasets.unknown", name=name, known=", ".join(SPECS))
    return SPECS[name]


def folder(name: str, root=None) -> Path:
    """The dataset's folder under the root: the first of its accepted names that exists."""
    spec, base = _spec(name), data_root(root)
    found = [base / f for f in spec.folders if (base / f).is_dir()]
    return found[0] if found else base / spec.folders[0]


def available(name: str, root=None) -> bool:
    """Whether every file or folder ``name`` needs is present under the root."""
    where = folder(name, root)
    return all((where / part).exists() for part in _spec(name).required)


def _require(name: str, root, download: bool, lang: str | None) -> Path:
    if not available(name, root) and download:
        _download(name, data_root(root))
    where = folder(name, root)
    missing = [part for part in _spec(name).required if not (where / part).exists()]
    if missing:
        raise CourseError("datasets.missing", lang=lang, name=name, folder=shown(where),
                          missing=", ".join(missing), url=_spec(name).url,
                          variable="COURSE_DATA")
    return where


def _download(name: str, root: Path) -> None:
    """Fetch and unpack the official archive into ``root`` (CIFAR, Imagewoof; not ImageNet)."""
    if name == "imagenet":
        raise CourseError("datasets.no_download", name=name, url=SPECS[name].url)
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(SPECS[name].url, str(root))


def _unpickle(path: Path, name: str, lang: str | None) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, ImportError, AttributeError,
            IndexError, KeyError, TypeError) as err:  # ImportError: a class of a missing module
        raise CourseError("datasets.corrupt", lang=lang, name=name, file=shown(path),
                          problem=f"{type(err).__name__}: {err}") from err


def _cifar_part(path: Path, name: str, classes: int, lang: str | None):
    """``x`` float ``(N, 3, 32, 32)`` in [0, 1] and ``y`` long ``(N,)`` from one CIFAR file."""
    part = _unpickle(path, name, lang)
    label_key = "labels" if classes == 10 else "fine_labels"
    if not isinstance(part, dict) or "data" not in part or label_key not in part:
        raise CourseError("datasets.corrupt", lang=lang, name=name, file=shown(path),
                          problem=t("datasets.no_keys", lang=lang, keys=f"data, {label_key}"))
    x, y = np.asarray(part["data"]), np.asarray(part[label_key])
    problem = None
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        problem = t("datasets.bad_images", lang=lang, shape=x.shape, dtype=x.dtype)
    elif len(x) != len(y):
        problem = t("datasets.bad_count", lang=lang, images=len(x), labels=len(y))
    elif len(y) and (y.min() < 0 or y.max() >= classes):
        problem = t("datasets.bad_labels", lang=lang, low=y.min(), high=y.max(), classes=classes)
    if problem is not None:
        raise CourseError("datasets.corrupt", lang=lang, name=name, file=shown(path),
                          problem=problem)
    images = torch.from_numpy(x.reshape(-1, 3, 32, 32)).float().div_(255)
    return images, torch.from_numpy(y.astype(np.int64))


def _cifar(name: str, where: Path, lang: str | None):
    """(train x, train y), (test x, test y) of CIFAR-10 or CIFAR-100 in ``where``."""
    spec = SPECS[name]
    train_files, test_file = spec.required[:-1], spec.required[-1]
    parts = [_cifar_part(where / f, name, spec.classes, lang) for f in train_files]
    train = (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
    return train, _cifar_part(where / test_file, name, spec.classes, lang)


def _image_folder(path: Path, size: int, name: str, lang: str | None) -> Dataset:
    from torchvision import datasets as tv_datasets
    from torchvision import transforms

    tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size),
                             transforms.ToTensor()])
    try:
        return tv_datasets.ImageFolder(str(path), transform=tf)
    except (FileNotFoundError, RuntimeError) as err:
        raise CourseError("datasets.corrupt", lang=lang, name=name, file=shown(path),
                          problem=f"{type(err).__name__}: {err}") from err


def in_memory(part: Dataset, indices=None, batch_size: int = 256) -> tuple[torch.Tensor,
                                                                          torch.Tensor]:
    """The examples of ``part`` (or of its ``indices``, in that order) read once into memory:
    images ``(N, C, H, W)`` and labels ``(N,)`` (int64), for code that trains on tensors."""
    chosen = part if indices is None else Subset(part, [int(i) for i in indices])
    xs, ys = zip(*torch.utils.data.DataLoader(chosen, batch_size=batch_size), strict=True)
    return torch.cat(xs), torch.cat(ys)


def _first(dataset: Dataset, limit: int | None) -> Dataset:
    if limit is None or limit >= len(dataset):
        return dataset
    if isinstance(dataset, TensorDataset):
        return TensorDataset(*(tensor[:limit] for tensor in dataset.tensors))
    return Subset(dataset, range(limit))


def load(name: str, root=None, *, size: int | None = None, val_fraction: float = 0.1,
         seed: int = 0, limit: int | None = None, download: bool = False,
         lang: str | None = None) -> data.Splits:
    """The dataset ``name`` as train / validation / test parts (see the module docstring).

    ``size``: image side for Imagewoof (default 128) and ImageNet (default 224); CIFAR stays
    32 x 32. ``limit`` caps each part's length (for quick runs). ``download=True`` fetches a
    missing CIFAR or Imagewoof archive into the root first (needs the network).
    """
    spec = _spec(name)
    if not isinstance(val_fraction, int | float) or not 0.0 <= val_fraction < 1.0:
        raise CourseError("datasets.bad_fraction", lang=lang, value=val_fraction)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise CourseError("datasets.bad_limit", lang=lang, value=limit)
    where = _require(name, root, download, lang)
    if name.startswith("cifar"):
        (x, y), (x_test, y_test) = _cifar(name, where, lang)
        train, val, _ = data.split_indices(len(x), (1 - val_fraction, val_fraction, 0.0), seed)
        parts = (TensorDataset(x[train], y[train]), TensorDataset(x[val], y[val]),
                 TensorDataset(x_test, y_test))
    else:
        side = size or (128 if name == "imagewoof" else 224)
        full = _image_folder(where / "train", side, name, lang)
        test = _image_folder(where / "val", side, name, lang)
        if len(full.classes) != spec.classes or full.classes != test.classes:
            raise CourseError("datasets.corrupt", lang=lang, name=name, file=shown(where),
                              problem=t("datasets.bad_classes", lang=lang,
                                        found=len(full.classes), expected=spec.classes))
        train, val, _ = data.split_indices(len(full), (1 - val_fraction, val_fraction, 0.0),
                                           seed)
        parts = (Subset(full, train.tolist()), Subset(full, val.tolist()), test)
    return data.Splits(*(_first(part, limit) for part in parts))


def load_or_fallback(name: str, fallback: str, *, lang: str | None = None,
                     echo: Callable[[str], None] = print, **kwargs) -> tuple[data.Splits, str]:
    """``load(name)`` when the dataset is present, else the offline ``fallback`` (a name of
    ``course_lib.data.load``) with a visible message. Returns ``(splits, name used)``.

    ``kwargs`` go to ``load`` (``root``, ``size``, ``val_fraction``, ``seed``, ``limit``); for
    the fallback only ``seed`` and ``limit`` apply.
    """
    _spec(name)
    if available(name, kwargs.get("root")):
        return load(name, lang=lang, **kwargs), name
    echo(t("datasets.fallback", lang=lang, name=name,
           folder=shown(folder(name, kwargs.get("root"))),
           fallback=fallback))
    return data.load(fallback, seed=kwargs.get("seed", 0), limit=kwargs.get("limit")), fallback
