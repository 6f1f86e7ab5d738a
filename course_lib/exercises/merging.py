"""Exercises of lecture 10 (merging two teachers with relaxed L0 gates).

A hard-concrete gate from given uniform noise, its closed-form keep probability ``P[g > 0]``,
the "use half of the layer" penalty ``alpha (mean P[g > 0] - 0.5)^2`` and the block-diagonal
joining of two teachers' linear layers. The references reuse ``course_lib.l0``.
"""

from __future__ import annotations

import torch

from ..checks import exercise
from ..l0 import prob_nonzero, sample_hard_concrete


def _randn(gen: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=gen, dtype=torch.float64)


def _uniform(gen: torch.Generator, *shape: int) -> torch.Tensor:
    """Uniform noise in (0, 1), kept away from the ends where ``log u`` is infinite."""
    return torch.rand(*shape, generator=gen, dtype=torch.float64).clamp(1e-6, 1 - 1e-6)


def _gate_cases(gen):
    return [
        {"log_alpha": _randn(gen, 6, scale=2), "u": _uniform(gen, 6)},
        {"log_alpha": _randn(gen, 5, scale=2), "u": _uniform(gen, 3, 5)},
        {"log_alpha": torch.tensor([-6.0, 0.0, 6.0], dtype=torch.float64),
         "u": torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64)},
    ]


@exercise("hard_concrete_gate", cases=_gate_cases, outputs=("g",),
          hint="lecture10.hint_hard_concrete_gate")
def hard_concrete_gate(log_alpha: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``g = min(1, max(0, sigmoid((log u - log(1 - u) + log_alpha) / beta) (zeta - gamma) +
    gamma))`` with ``beta = 2/3, gamma = -0.1, zeta = 1.1``; ``log_alpha (C,)`` and ``u`` of
    shape ``(C,)`` or ``(N, C)`` broadcast. This is ``course_lib.l0.sample_hard_concrete``."""
    return sample_hard_concrete(log_alpha, u)


def _keep_cases(gen):
    return [
        {"log_alpha": _randn(gen, 7, scale=3)},
        {"log_alpha": _randn(gen, 2, 4, scale=3)},
        {"log_alpha": torch.tensor([-30.0, -1.6, 0.0, 30.0], dtype=torch.float64)},
    ]


@exercise("keep_probability", cases=_keep_cases, outputs=("p",),
          hint="lecture10.hint_keep_probability")
def keep_probability(log_alpha: torch.Tensor) -> torch.Tensor:
    """``P[g > 0] = sigmoid(log_alpha - beta log(-gamma / zeta))``, elementwise
    (``course_lib.l0.prob_nonzero``)."""
    return prob_nonzero(log_alpha)


def _half_cases(gen):
    return [
        {"log_alpha": _randn(gen, 8, scale=2), "alpha": 1.0},
        {"log_alpha": _randn(gen, 16, scale=3), "alpha": 0.25},
        {"log_alpha": torch.full((4,), 5.0, dtype=torch.float64), "alpha": 2.0},
    ]


@exercise("half_penalty", cases=_half_cases, outputs=("penalty",),
          hint="lecture10.hint_half_penalty")
def half_penalty(log_alpha: torch.Tensor, alpha: float) -> torch.Tensor:
    """``alpha (mean_c P[g_c > 0] - 0.5)^2`` for the ``(C,)`` gates of one layer: zero when the
    layer expects to keep half of its units, a scalar tensor."""
    return alpha * (prob_nonzero(log_alpha).mean() - 0.5) ** 2


def _join_cases(gen):
    return [
        {"w1": _randn(gen, 3, 2), "b1": _randn(gen, 3), "w2": _randn(gen, 3, 2),
         "b2": _randn(gen, 3)},
        {"w1": _randn(gen, 4, 5), "b1": _randn(gen, 4), "w2": _randn(gen, 4, 5),
         "b2": _randn(gen, 4)},
    ]


@exercise("join_linear", cases=_join_cases, outputs=("weight", "bias"),
          hint="lecture10.hint_join_linear")
def join_linear(w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor):
    """Two teachers' hidden ``Linear`` layers (weights ``(out, in)``, biases ``(out,)``) as one
    layer of the joined model: ``weight = [[w1, 0], [0, w2]]`` of shape ``(2 out, 2 in)`` and
    ``bias = [b1, b2]`` of shape ``(2 out,)``; the off-diagonal blocks start at zero, so each
    half of the output sees only its own teacher's half of the input."""
    return torch.block_diag(w1, w2), torch.cat([b1, b2])
