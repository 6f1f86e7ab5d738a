"""Run profiles: ``quick`` (CPU, CI, seconds per notebook) and ``full`` (GPU, real sizes).

The profile is read from the environment variable ``COURSE_PROFILE``. When it is unset, the
profile is ``full`` on a machine with CUDA and ``quick`` otherwise. A profile changes sizes and
epochs only, never the code that runs: a notebook asks ``course.size(quick=2, full=30)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

import torch

from .i18n import CourseError

PROFILES: tuple[str, ...] = ("quick", "full")
ENV_VAR = "COURSE_PROFILE"

T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """The active profile; ``size`` picks the value that belongs to it."""

    name: str

    def __post_init__(self):
        if self.name not in PROFILES:
            raise CourseError("course.unknown_profile", name=self.name, known=", ".join(PROFILES))

    @property
    def quick(self) -> bool:
        return self.name == "quick"

    def size(self, *, quick: T, full: T) -> T:
        """``quick`` in the quick profile, ``full`` in the full one."""
        return quick if self.quick else full


def current_profile(environ=None) -> Profile:
    """The profile named by ``COURSE_PROFILE``; an unknown name is an error, not a default."""
    environ = os.environ if environ is None else environ
    name = environ.get(ENV_VAR, "").strip().lower()
    if not name:
        name = "full" if torch.cuda.is_available() else "quick"
    return Profile(name)
