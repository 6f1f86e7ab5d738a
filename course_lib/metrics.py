"""Quality metrics from a confusion matrix: accuracy, precision, recall, F1.

We train on cross-entropy but report accuracy: accuracy counts ``argmax`` hits, so it is piecewise
constant in the weights and its gradient is 0 almost everywhere; cross-entropy is smooth and
tells every weight which way to move. On an imbalanced task accuracy also misleads: a
classifier that always answers the majority class scores its share. The confusion matrix
(rows: true class i, columns: predicted class j, as ``sklearn.metrics.confusion_matrix``)

    M_ij = #{examples of class i predicted as j}

gives for each class k, with TP = M_kk, FP = sum_i M_ik - TP, FN = sum_j M_kj - TP,

    precision_k = TP / (TP + FP),   recall_k = TP / (TP + FN),
    F1_k = 2 precision_k recall_k / (precision_k + recall_k),   accuracy = trace M / sum M,

and 0 where a denominator is 0 (as sklearn's ``zero_division=0``).

    m = confusion_matrix(y_true, y_pred, num_classes=10)
    precision, recall, f1 = precision_recall_f1(m)        # each (C,)
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import validation as check


def confusion_matrix(y_true: Tensor, y_pred: Tensor, num_classes: int) -> Tensor:
    """(C, C) int64 counts; y_true, y_pred: (N,) class indices in [0, C)."""
    num_classes = check.positive_int("num_classes", num_classes)
    check.same_length("y_true", y_true, "y_pred", y_pred)
    check.class_indices("y_true", y_true, num_classes)
    check.class_indices("y_pred", y_pred, num_classes)
    index = y_true.long() * num_classes + y_pred.long()
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def accuracy(matrix: Tensor) -> float:
    """trace M / sum M: the share of examples on the diagonal."""
    return matrix.trace().item() / matrix.sum().item()


def _ratio(a: Tensor, b: Tensor) -> Tensor:
    return torch.where(b > 0, a / b.clamp(min=1e-300), torch.zeros_like(a))


def precision_recall_f1(matrix: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per class k: precision (column k), recall (row k) and their harmonic mean F1, float64."""
    m = matrix.double()
    tp = m.diagonal()
    precision, recall = _ratio(tp, m.sum(dim=0)), _ratio(tp, m.sum(dim=1))
    return precision, recall, _ratio(2 * precision * recall, precision + recall)
