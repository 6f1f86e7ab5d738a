"""Exercises of lecture 05 (regularization): the elastic-net gradient, the multiclass hinge,
inverted dropout, int8.

The references reuse the library: ``course_lib.regularization`` for the penalties,
``course_lib.losses`` for the hinge and ``course_lib.compression`` for quantization.
"""

from __future__ import annotations

import torch

from ..checks import exercise
from ..compression import quantize_int8
from ..losses import multiclass_hinge
from ..regularization import elastic_net_penalty


def _randn(gen: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=gen, dtype=torch.float64)


def _mask(gen: torch.Generator, shape: tuple[int, ...], p: float) -> torch.Tensor:
    """A 0/1 float64 mask keeping each entry with probability ``1 - p``."""
    return (torch.rand(shape, generator=gen, dtype=torch.float64) >= p).to(torch.float64)


def _dropout_cases(gen):
    return [
        {"x": _randn(gen, 6), "mask": _mask(gen, (6,), 0.5), "p": 0.5},
        {"x": _randn(gen, 4, 5), "mask": _mask(gen, (4, 5), 0.2), "p": 0.2},
        {"x": _randn(gen, 2, 3, 4), "mask": _mask(gen, (2, 3, 4), 0.75), "p": 0.75},
    ]


@exercise("inverted_dropout_forward", cases=_dropout_cases, outputs=("out",),
          hint="lecture05.hint_inverted_dropout_forward")
def inverted_dropout_forward(x: torch.Tensor, mask: torch.Tensor, p: float) -> torch.Tensor:
    """Training-time inverted dropout with a given 0/1 ``mask``: ``x * mask / (1 - p)``.

    ``p`` is the probability to drop, as in ``torch.nn.Dropout``; this is
    ``course_lib.regularization.dropout`` with its random mask replaced by ``mask``.
    """
    return x * mask / (1 - p)


def _elastic_cases(gen):
    w = _randn(gen, 3, 4)
    w[0, 0] = 0.0
    return [
        {"w": _randn(gen, 5), "l1": 0.1, "l2": 0.0},
        {"w": _randn(gen, 6), "l1": 0.0, "l2": 0.01},
        {"w": w, "l1": 0.05, "l2": 0.5},
    ]


@exercise("elastic_net_grad", cases=_elastic_cases, outputs=("grad",),
          hint="lecture05.hint_elastic_net_grad")
def elastic_net_grad(w: torch.Tensor, l1: float, l2: float) -> torch.Tensor:
    """Gradient of ``l1 * sum |w| + l2 * sum w^2``: ``l1 * sign(w) + 2 * l2 * w``.

    At ``w = 0`` the subgradient 0 is taken (``sign(0) = 0``), as autograd does for ``abs``.
    The reference differentiates ``course_lib.regularization.elastic_net_penalty``.
    """
    w = w.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(elastic_net_penalty(w, l1, l2), w)
    return grad


def _quantize_cases(gen):
    return [
        {"w": _randn(gen, 8, scale=0.1)},
        {"w": _randn(gen, 5, 6, scale=2.0)},
        {"w": torch.tensor([-0.5, 0.3, 0.0, 0.1], dtype=torch.float64)},
    ]


@exercise("quantize_int8", cases=_quantize_cases, outputs=("q", "scale"), atol=1e-12,
          hint="lecture05.hint_quantize_int8")
def quantize_int8_reference(w: torch.Tensor):
    """Symmetric per-tensor int8: ``scale = max |w| / 127``, ``q = round(w / scale)`` as int8."""
    q, scale = quantize_int8(w)
    return q, float(scale)


def _hinge_cases(gen):
    return [
        {"scores": torch.tensor([[3.2, 5.1, -1.7]], dtype=torch.float64),
         "y": torch.tensor([0]), "delta": 1.0},
        {"scores": _randn(gen, 6, 4, scale=2.0), "y": torch.randint(4, (6,), generator=gen),
         "delta": 1.0},
        {"scores": _randn(gen, 5, 10), "y": torch.randint(10, (5,), generator=gen),
         "delta": 0.5},
    ]


@exercise("svm_loss", cases=_hinge_cases, outputs=("loss",), hint="lecture05.hint_svm_loss")
def svm_loss(scores: torch.Tensor, y: torch.Tensor, delta: float) -> torch.Tensor:
    """``(1/N) sum_i sum_{j != y_i} max(0, s_ij - s_iy_i + delta)``: ``losses.multiclass_hinge``."""
    return multiclass_hinge(scores, y, delta)


def _views_cases(gen):
    return [
        {"logits": _randn(gen, 10, 2, 5)},
        {"logits": _randn(gen, 1, 3, 4)},
        {"logits": _randn(gen, 30, 1, 6, scale=20.0)},
    ]


@exercise("average_views", cases=_views_cases, outputs=("probs",),
          hint="lecture05.hint_average_views")
def average_views(logits: torch.Tensor) -> torch.Tensor:
    """Test-time augmentation: ``1/V * sum_v softmax(logits[v])``, (V, N, K) -> (N, K).

    The probabilities of the V crops are averaged, not their logits (as
    ``ensembles.view_probabilities(...).mean(dim=0)``).
    """
    return torch.softmax(logits, dim=-1).mean(dim=0)


def _activity_cases(gen):
    return [
        {"h": torch.relu(_randn(gen, 4, 6)), "lam": 0.5},
        {"h": torch.relu(_randn(gen, 3, 2, 5)), "lam": 3.0},
        {"h": _randn(gen, 7), "lam": 0.1},
    ]


@exercise("activity_l1_grad", cases=_activity_cases, outputs=("grad",), atol=1e-12,
          hint="lecture05.hint_activity_l1_grad")
def activity_l1_grad(h: torch.Tensor, lam: float) -> torch.Tensor:
    """Gradient of the activity penalty ``lam * mean |h|`` by ``h``: ``lam * sign(h) / h.numel()``.

    The reference differentiates the penalty with autograd (subgradient 0 at ``h = 0``).
    """
    h = h.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(lam * h.abs().mean(), h)
    return grad
