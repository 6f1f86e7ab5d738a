"""Confusion matrix, accuracy, precision, recall and F1 against sklearn.metrics."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn import metrics as sk

from course_lib import metrics
from course_lib.i18n import CourseError


@st.composite
def labels(draw):
    classes = draw(st.integers(1, 5))
    n = draw(st.integers(1, 40))
    pair = st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)
    return classes, torch.tensor(draw(pair)), torch.tensor(draw(pair))


@pytest.mark.filterwarnings("ignore:A single label")
@given(labels())
def test_confusion_matrix_and_accuracy_match_sklearn(case):
    classes, y_true, y_pred = case
    m = metrics.confusion_matrix(y_true, y_pred, classes)
    ref = sk.confusion_matrix(y_true, y_pred, labels=range(classes))
    np.testing.assert_array_equal(m.numpy(), ref)
    assert metrics.accuracy(m) == pytest.approx(sk.accuracy_score(y_true, y_pred), abs=1e-12)


@given(labels())
def test_precision_recall_f1_per_class_match_sklearn_with_zero_division_0(case):
    classes, y_true, y_pred = case
    ours = metrics.precision_recall_f1(metrics.confusion_matrix(y_true, y_pred, classes))
    ref = sk.precision_recall_fscore_support(y_true, y_pred, labels=range(classes),
                                             average=None, zero_division=0)[:3]
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-12, atol=1e-12)


def test_a_class_never_predicted_has_precision_0_not_nan():
    m = metrics.confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 0]), 2)
    precision, recall, f1 = metrics.precision_recall_f1(m)
    assert precision.tolist() == [pytest.approx(1 / 3), 0.0] and recall.tolist() == [1.0, 0.0]
    assert f1[1] == 0.0


def test_labels_outside_the_classes_are_refused_with_the_argument_named():
    with pytest.raises(CourseError, match="y_pred"):
        metrics.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 3]), 2)
