"""Losses: mean squared error, softmax cross-entropy (also against distributions), multiclass
hinge (SVM), distillation.

Shapes: ``N`` examples, ``C`` classes; logits are ``(N, C)`` or ``(N, C, d1, ...)`` with the
classes on dimension 1, as in ``torch.nn.functional``. Every loss is a mean over the examples.
Shapes that do not fit, class indices out of range and hyper-parameters outside their range
raise ``CourseError`` naming the argument.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import validation as check


def mse(prediction: Tensor, target: Tensor) -> Tensor:
    """``(1 / n) * sum (prediction - target)^2`` over all ``n`` entries.

    The shapes must be equal: an ``(N, 1)`` prediction against an ``(N,)`` target would be
    broadcast to ``(N, N)``, pairing every prediction with every target.
    """
    check.same_shape("prediction", prediction, "target", target)
    return ((prediction - target) ** 2).mean()


def _check_classes(logits: Tensor, target: Tensor) -> None:
    """Logits ``(N, C, ...)`` and integer classes ``(N, ...)`` in ``0 .. C - 1``."""
    check.ndim("logits", logits, tuple(range(2, 9)), "(N, C, ...)")
    check.shape("target", target, (logits.shape[0], *logits.shape[2:]))
    check.class_indices("target", target, logits.shape[1])


def log_softmax(logits: Tensor, dim: int = 1) -> Tensor:
    """``log softmax(z)_i = z_i - m - log sum_j exp(z_j - m)`` with ``m = max_j z_j``.

    Subtracting the maximum changes nothing mathematically, but every ``exp`` is then at most 1:
    no overflow for large logits, and the sum is at least 1, so its log is finite.
    """
    shifted = logits - logits.amax(dim=dim, keepdim=True).detach()
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()


def softmax(logits: Tensor, dim: int = 1) -> Tensor:
    """``softmax(z)_i = exp(z_i) / sum_j exp(z_j)``, computed as ``exp(log_softmax(z))``."""
    return log_softmax(logits, dim).exp()


def cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """``-(1 / N) * sum_n log softmax(z_n)_{y_n}``: logits ``(N, C, ...)``, classes ``(N, ...)``.

    Works from logits, not probabilities: ``log(softmax(z))`` would turn an underflowed
    probability into ``-inf``, while ``log_softmax`` stays finite.
    """
    _check_classes(logits, target)
    log_p = log_softmax(logits, dim=1)
    return -log_p.gather(1, target.unsqueeze(1)).mean()


def soft_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """``-(1 / N) * sum_n sum_c q_nc * log softmax(z_n)_c``: logits and distributions ``(N, C)``.

    Cross-entropy against a whole target distribution ``q`` (each row sums to 1), as label
    smoothing and mixup produce; for one-hot ``q`` it is ``cross_entropy``.
    """
    check.ndim("logits", logits, (2,), "(N, C)")
    check.same_shape("logits", logits, "target", target)
    return -(target * log_softmax(logits, dim=1)).sum(dim=1).mean()


def multiclass_hinge(scores: Tensor, target: Tensor, delta: float = 1.0) -> Tensor:
    """Multiclass SVM loss (Weston and Watkins): scores ``(N, C)``, classes ``(N,)``::

        L = (1 / N) * sum_i sum_{j != y_i} max(0, s_ij - s_iy_i + delta)

    An example costs nothing once its correct score beats every other score by at least the
    margin ``delta > 0``; unlike cross-entropy, it then stops pushing. Added to a penalty it is
    the regularized objective ``L + lambda * R(W)`` of a linear SVM.

    ``torch.nn.MultiMarginLoss(margin=delta)`` divides each example's sum by the number of
    classes ``C``, so ``multiclass_hinge = C * MultiMarginLoss``.
    """
    check.in_range("delta", delta, 0, None, low_open=True)
    check.ndim("scores", scores, (2,), "(N, C)")
    _check_classes(scores, target)
    correct = scores.gather(1, target.unsqueeze(1))
    margins = (scores - correct + delta).relu()
    wrong = torch.ones_like(margins).scatter_(1, target.unsqueeze(1), 0.0)
    return (margins * wrong).sum(dim=1).mean()


def multiclass_hinge_grad(scores: Tensor, target: Tensor, delta: float = 1.0) -> Tensor:
    """The gradient of ``multiclass_hinge`` with respect to ``scores``, ``(N, C)``, by hand::

        dL/ds_ij   = (1 / N) * [s_ij - s_iy_i + delta > 0]             for j != y_i
        dL/ds_iy_i = -(1 / N) * number of j != y_i with a positive margin

    At a margin of exactly 0 it takes the subgradient 0, as ``relu`` and torch do.
    """
    check.in_range("delta", delta, 0, None, low_open=True)
    check.ndim("scores", scores, (2,), "(N, C)")
    _check_classes(scores, target)
    correct = scores.gather(1, target.unsqueeze(1))
    active = (scores - correct + delta > 0).to(scores.dtype)
    active.scatter_(1, target.unsqueeze(1), 0.0)
    grad = active.scatter(1, target.unsqueeze(1), -active.sum(dim=1, keepdim=True))
    return grad / scores.shape[0]


def distillation_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    target: Tensor,
    T: float = 4.0,
    alpha: float = 0.9,
) -> Tensor:
    """Knowledge distillation (Hinton et al., 2015); logits ``(N, C)``, classes ``(N,)``::

        L = alpha * T^2 * KL(p_t || p_s) + (1 - alpha) * CE(s, y)
        p_t = softmax(t / T),  p_s = softmax(s / T)
        KL(p_t || p_s) = (1 / N) * sum_n sum_c p_t[n, c] * (log p_t[n, c] - log p_s[n, c])

    A temperature ``T > 1`` softens both distributions, so the student also learns how the
    teacher ranks the wrong classes. The gradient of the soft term with respect to the student's
    logits is ``(p_s - p_t) / (N * T)``, which for large ``T`` shrinks like ``1 / T^2``
    (``p_s - p_t ~ (s - t) / (C * T)``). The factor ``T^2`` undoes this, so the balance ``alpha``
    between the soft and the hard term does not change when ``T`` does.

    The teacher is fixed: no gradient flows into ``teacher_logits``. ``T > 0`` and
    ``0 <= alpha <= 1``.
    """
    check.in_range("T", T, 0, None, low_open=True)
    check.in_range("alpha", alpha, 0, 1)
    check.same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
    _check_classes(student_logits, target)
    log_p_s = log_softmax(student_logits / T)
    log_p_t = log_softmax(teacher_logits.detach() / T)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1).mean()
    return alpha * T**2 * kl + (1 - alpha) * cross_entropy(student_logits, target)
