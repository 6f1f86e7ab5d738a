"""``setup(lang)``: the first code cell of every notebook.

    from course_lib import setup
    course = setup(lang="sk")

It fixes the language of every message, seeds Python, NumPy and PyTorch, picks the device and
the profile, sets matplotlib defaults and prints a one-line banner naming all of them.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np
import torch

from . import i18n
from .i18n import CourseError
from .profile import Profile, current_profile
from .validation import is_int

MAX_SEED = 2**32 - 1
"""NumPy's generator takes seeds from 0 to 2^32 - 1."""

T = TypeVar("T")


@dataclass
class Course:
    """What a notebook needs after setup: ``course.size``, ``course.device``, ``course.t``."""

    lang: str
    profile: Profile
    device: torch.device
    seed: int
    banner: str = field(default="", repr=False)

    def size(self, *, quick: T, full: T) -> T:
        """Pick a size or an epoch count for the active profile."""
        return self.profile.size(quick=quick, full=full)

    def t(self, key: str, **fields) -> str:
        """A message of the catalog in the course's language."""
        return i18n.t(key, lang=self.lang, **fields)

    def seed_everything(self, seed: int | None = None) -> None:
        """Seed Python, NumPy and PyTorch (CPU and CUDA) with ``seed`` (default: the course's)."""
        seed_everything(self.seed if seed is None else seed)

    @cached_property
    def check(self):
        """The exercise checkers, answering in the course's language; one per course, so that
        the failed attempts at each exercise add up (hints are graded by them)."""
        from .checks import Checker

        return Checker(self.lang)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (students call the global np.random)
    torch.manual_seed(seed)


def pick_device(environ=None) -> torch.device:
    """``COURSE_DEVICE`` if set, else CUDA when available, else the CPU.

    ``COURSE_DEVICE`` must name a device this machine has (``cpu``, ``cuda``, ``cuda:1``,
    ``mps``); anything else raises ``CourseError`` at once, not at the first batch.
    """
    environ = os.environ if environ is None else environ
    name = (environ.get("COURSE_DEVICE") or "").strip()
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise CourseError("course.bad_device", value=name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CourseError("course.no_cuda", value=name)
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise CourseError("course.no_such_gpu", value=name, count=torch.cuda.device_count())
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise CourseError("course.no_mps", value=name)
    return device


def matplotlib_defaults() -> None:
    """Small, readable figures: notebooks are committed with their outputs.

    Tick labels follow the course language (``0,5`` in sk, sr, ru): ``plotting.localize_ticks``.
    """
    import matplotlib as mpl

    from .plotting import localize_ticks

    localize_ticks()
    mpl.rcParams.update(
        {
            "figure.figsize": (6.0, 3.6),
            "figure.dpi": 80,
            "savefig.dpi": 80,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
        }
    )


def setup(lang: str, seed: int = 0, verbose: bool = True) -> Course:
    """Prepare a notebook: language, seed, device, profile, plots. Returns a ``Course``.

    ``lang`` is one of ``course_lib.i18n.LANGUAGES``; an unknown one raises ValueError naming
    the supported languages. ``COURSE_PROFILE`` must be ``quick``, ``full`` or unset,
    ``COURSE_DEVICE`` a device of this machine or unset, and ``seed`` a whole number from 0 to
    2^32 - 1; anything else raises ``CourseError`` in ``lang``.
    """
    i18n.set_language(lang)
    if not is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise CourseError("course.bad_seed", value=seed, max=MAX_SEED)
    profile = current_profile()
    device = pick_device()
    if profile.quick and device.type == "cpu":
        # Quick runs use small tensors, where a second thread only waits on busy cores.
        torch.set_num_threads(1)
    seed_everything(seed)
    matplotlib_defaults()
    banner = i18n.t(
        "course.banner", lang=lang, language=i18n.LANGUAGE_NAMES[lang], profile=profile.name,
        device=device.type, seed=seed, torch=torch.__version__,
    )
    if verbose:
        print(banner)
    return Course(lang=lang, profile=profile, device=device, seed=seed, banner=banner)
