"""Offline datasets: shapes, fixed splits, the toy formula, and clear errors."""

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from course_lib import data
from course_lib.i18n import LANGUAGES, CourseError, set_language


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


def label_checksum(y: torch.Tensor) -> int:
    """sum_i i * y_i (i from 1): changes when the labels or their order change."""
    return int((y * torch.arange(1, len(y) + 1)).sum())


def test_splits_are_fixed_by_the_seed_and_disjoint():
    a, b = data.load("sines", seed=5), data.load("sines", seed=5)
    assert torch.equal(a.train[:][0], b.train[:][0])
    assert not torch.equal(a.train[:][0], data.load("sines", seed=6).train[:][0])
    parts = [{tuple(r.tolist()) for r in s[:][0]} for s in (a.train, a.val, a.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sum(map(len, parts)) == 1000


@pytest.mark.parametrize("seed, train, val, test", [
    (0, [4, 5, 13, 19, 7, 14, 3, 6, 9, 17, 11, 2, 16, 18], [10, 12, 15], [8, 1, 0]),
    (1, [5, 13, 2, 11, 19, 18, 1, 9, 4, 7, 0, 14, 16, 10], [15, 3, 6], [17, 12, 8]),
])
def test_split_takes_the_indices_of_a_seeded_permutation(seed, train, val, test):
    """Golden values of today's code: a change here changes every split of the course."""
    s = data.split(torch.arange(20), torch.arange(20), seed=seed)
    assert [part[:][0].tolist() for part in (s.train, s.val, s.test)] == [train, val, test]


@pytest.mark.parametrize("seed, first_labels, checksums", [
    (0, [6, 5, 5, 7, 9, 9, 8, 4, 6, 8, 6, 0], (3566421, 176467, 161729)),
    (3, [3, 6, 8, 6, 7, 0, 8, 5, 8, 5, 2, 0], (3524477, 167146, 154822)),
])
def test_load_gives_the_same_split_on_every_machine(seed, first_labels, checksums):
    s = data.load("digits", seed=seed)
    assert s.train[:][1][:12].tolist() == first_labels
    assert tuple(label_checksum(part[:][1]) for part in (s.train, s.val, s.test)) == checksums


@given(st.floats(0.05, 0.9), st.floats(0.0, 0.5))
def test_split_sizes_follow_the_fractions(f_train, f_val):
    f_test = 1.0 - f_train - f_val
    assume(0.0 <= f_test < 1.0)
    s = data.load("sines", fractions=(f_train, f_val, f_test))
    n = len(s.train) + len(s.val) + len(s.test)
    assert n == 1000
    assert abs(len(s.train) - f_train * n) <= 1 and abs(len(s.val) - f_val * n) <= 1


@pytest.mark.parametrize("seed, first_labels, checksums", [
    (0, [2, 2, 4, 3, 2, 3, 0, 0, 5, 3, 1, 4], (11471, 518, 670)),
    (3, [0, 7, 7, 7, 6, 8, 5, 2, 0, 4, 2, 7], (13288, 716, 527)),
])
def test_limit_keeps_a_seeded_subset(seed, first_labels, checksums):
    s = data.load("digits", limit=100, seed=seed)
    assert (len(s.train), len(s.val), len(s.test)) == (70, 15, 15)
    assert s.train[:][1][:12].tolist() == first_labels
    assert tuple(label_checksum(part[:][1]) for part in (s.train, s.val, s.test)) == checksums
    again = data.load("digits", limit=100, seed=seed)
    assert torch.equal(s.train[:][0], again.train[:][0])
    kept = {tuple(r.flatten().tolist()) for part in (s.train, s.val, s.test) for r in part[:][0]}
    other = data.load("digits", limit=100, seed=seed + 1)
    assert kept != {tuple(r.flatten().tolist()) for part in (other.train, other.val, other.test)
                    for r in part[:][0]}


@pytest.mark.parametrize("seed, first_batch", [
    (0, [1, 1, 1, 1, 0, 0, 1, 2, 0, 2, 2, 1, 2, 0, 0, 0]),
    (3, [0, 2, 2, 2, 1, 0, 0, 0, 1, 0, 0, 2, 1, 1, 2, 1]),
])
def test_loaders_shuffle_reproducibly(seed, first_batch):
    s = data.load("spirals")
    first = [next(iter(s.loaders(batch_size=16, seed=seed)[0]))[1] for _ in range(2)]
    assert torch.equal(*first) and first[0].tolist() == first_batch
    other = next(iter(s.loaders(batch_size=16, seed=seed + 1)[0]))[1]
    assert not torch.equal(first[0], other)
    train, val, test = s.loaders(batch_size=16, seed=seed)
    order = torch.cat([y for _, y in train])
    assert sorted(order.tolist()) == sorted(s.train[:][1].tolist())  # each example once
    assert not torch.equal(order, s.train[:][1])
    assert len(next(iter(val))[0]) == len(s.val)
    assert torch.equal(torch.cat([y for _, y in val]), s.val[:][1])  # in order
    assert torch.equal(torch.cat([y for _, y in test]), s.test[:][1])


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


@pytest.mark.parametrize("limit", [-5, 0, 2.5])
def test_a_limit_below_one_example_is_refused_not_ignored(limit):
    with pytest.raises(CourseError) as error:
        data.load("digits", limit=limit)
    assert error.value.fields["name"] == "limit"


def test_features_and_labels_of_different_lengths_are_refused():
    with pytest.raises(CourseError) as error:
        data.split(torch.zeros(10, 2), torch.zeros(5))
    assert error.value.fields == {"a": "x", "b": "y", "len_a": 10, "len_b": 5}


def test_a_split_without_training_examples_and_a_bad_batch_size_are_refused():
    with pytest.raises(CourseError, match="fractions"):
        data.split(torch.zeros(1, 2), torch.zeros(1), (0.3, 0.35, 0.35))
    splits = data.split(torch.zeros(20, 2), torch.zeros(20))
    with pytest.raises(CourseError, match="batch_size"):
        splits.loaders(batch_size=0)
    empty = data.Splits(splits.test, splits.val, splits.test)
    empty.train = torch.utils.data.TensorDataset(torch.zeros(0, 2), torch.zeros(0))
    with pytest.raises(CourseError) as error:
        empty.loaders(batch_size=4)
    assert error.value.key == "data.no_train_examples"
