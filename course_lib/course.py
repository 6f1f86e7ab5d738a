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
from typing import TypeVar

import numpy as np
import torch

from . import i18n
from .profile import Profile, current_profile

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

    @property
    def check(self):
        """The exercise checkers, answering in the course's language."""
        from .checks import Checker

        return Checker(self.lang)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (students call the global np.random)
    torch.manual_seed(seed)


def pick_device(environ=None) -> torch.device:
    """``COURSE_DEVICE`` if set, else CUDA when available, else the CPU."""
    environ = os.environ if environ is None else environ
    name = environ.get("COURSE_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def matplotlib_defaults() -> None:
    """Small, readable figures: notebooks are committed with their outputs."""
    import matplotlib as mpl

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
    the supported languages. ``COURSE_PROFILE`` must be ``quick``, ``full`` or unset.
    """
    i18n.set_language(lang)
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
