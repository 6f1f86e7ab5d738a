"""Fixtures and hypothesis profiles for the unit and claim tests."""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

from course_lib import i18n

settings.register_profile(
    "course", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "course"))


@pytest.fixture(autouse=True)
def _seed_float64_and_language():
    """Each test starts from the same seed; the default dtype and the course language a test
    sets (``setup(lang=...)``) do not leak into the next test on the same worker."""
    torch.manual_seed(0)
    dtype, lang = torch.get_default_dtype(), i18n.get_language()
    yield
    torch.set_default_dtype(dtype)
    i18n.set_language(lang)


@pytest.fixture
def imagewoof_root(tmp_path):
    """A data folder (what ``COURSE_DATA`` points at) holding a miniature Imagewoof in the
    on-disk layout of the official archive: ``tests/fixtures/imagewoof.py``, two images per
    class in train/ and val/."""
    from tests.fixtures.imagewoof import write_imagewoof

    write_imagewoof(tmp_path)
    return tmp_path
