"""Losses: mean squared error, softmax cross-entropy, distillation with a temperature.

Shapes: ``N`` examples, ``C`` classes; logits are ``(N, C)`` or ``(N, C, d1, ...)`` with the
classes on dimension 1, as in ``torch.nn.functional``. Every loss is a mean over the examples.
Shapes that do not fit, class indices out of range and hyper-parameters outside their range
raise ``CourseError`` naming the argument.
"""

from __future__ import annotations

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
