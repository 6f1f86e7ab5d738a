"""Offline datasets: shapes, fixed splits, the toy formula, and clear errors."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from course_lib import data
from course_lib.i18n import LANGUAGES, set_language


def test_noisy_sines_follow_the_formula_of_the_talk():
    x, y = data.noisy_sines(n=20000, seed=1)
    assert x.shape == y.shape == (20000, 1)
    assert 0 <= x.min() and x.max() <= 1
    residual = y - torch.sin(10 * math.pi * x)
    assert abs(residual.mean().item()) < 0.01
    assert residual.std().item() == pytest.approx(0.2, rel=0.03)


def test_spirals_have_balanced_classes_in_the_unit_disc():
    x, y = data.spirals(n_per_class=50, classes=4)
    assert x.shape == (200, 2) and y.dtype == torch.long
    assert torch.bincount(y).tolist() == [50] * 4
    assert x.norm(dim=1).max() < 1.1


@pytest.mark.parametrize(
    "name, x_shape, n_classes",
    [("digits", (1, 8, 8), 10), ("mnist", (1, 28, 28), 10), ("mnist1d", (40,), 10)],
)
def test_image_and_sequence_datasets_load_offline(name, x_shape, n_classes):
    splits = data.load(name)
    x, y = splits.train[:]
    assert tuple(x.shape[1:]) == x_shape and x.dtype == torch.float32
    assert y.dtype == torch.long and int(y.max()) == n_classes - 1
    if name != "mnist1d":
        assert 0.0 <= x.min() and x.max() <= 1.0


def test_splits_are_fixed_by_the_seed_and_disjoint():
    a, b = data.load("sines", seed=5), data.load("sines", seed=5)
    assert torch.equal(a.train[:][0], b.train[:][0])
    parts = [{tuple(r.tolist()) for r in s[:][0]} for s in (a.train, a.val, a.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sum(map(len, parts)) == 1000


@given(st.floats(0.05, 0.9), st.floats(0.0, 0.5))
def test_split_sizes_follow_the_fractions(f_train, f_val):
    f_test = 1.0 - f_train - f_val
    if not 0.0 <= f_test < 1.0:
        return
    s = data.load("sines", fractions=(f_train, f_val, f_test))
    n = len(s.train) + len(s.val) + len(s.test)
    assert n == 1000
    assert abs(len(s.train) - f_train * n) <= 1 and abs(len(s.val) - f_val * n) <= 1


def test_limit_keeps_a_seeded_subset():
    s = data.load("digits", limit=100)
    assert len(s.train) + len(s.val) + len(s.test) == 100


def test_loaders_shuffle_reproducibly():
    s = data.load("spirals")
    first = [next(iter(s.loaders(batch_size=16, seed=3)[0]))[1] for _ in range(2)]
    assert torch.equal(*first)
    train, val, test = s.loaders(batch_size=16)
    assert len(next(iter(val))[0]) == len(s.val)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_unknown_dataset_is_named_in_the_students_language(lang):
    set_language(lang)
    try:
        with pytest.raises(ValueError) as err:
            data.load("cifar11")
    finally:
        set_language("en")
    assert "cifar11" in str(err.value) and "mnist1d" in str(err.value)
    assert err.value.key == "data.unknown_dataset"


@pytest.mark.parametrize(
    "fractions", [(0.5, 0.5), (0.8, 0.3, 0.1), (0.0, 0.5, 0.5), (1.0, 0.0, 0.0), (0.7, -0.1, 0.4)]
)
def test_bad_split_fractions_are_explained(fractions):
    with pytest.raises(ValueError, match=r"0\.7, 0\.15, 0\.15"):
        data.load("sines", fractions=fractions)
