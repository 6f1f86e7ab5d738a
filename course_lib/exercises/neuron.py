"""Exercises of lecture 01 (the neuron and its activations): derivatives of activations.

The stable softmax of the lecture uses the checker ``softmax`` registered in ``checks.py``.
"""

from __future__ import annotations

import torch

from .. import activations
from ..checks import _randn, exercise


def _sigmoid_grad_cases(gen: torch.Generator) -> list[dict]:
    extremes = torch.tensor([-40.0, -5.0, 0.0, 5.0, 40.0], dtype=torch.float64)
    return [{"x": _randn(gen, 6, scale=3)}, {"x": _randn(gen, 3, 5, scale=3)}, {"x": extremes}]


@exercise("sigmoid_grad", cases=_sigmoid_grad_cases, outputs=("sigmoid'(x)",),
          hint="lecture01.hint_sigmoid_grad")
def sigmoid_grad(x: torch.Tensor) -> torch.Tensor:
    """``sigma'(x) = sigma(x) (1 - sigma(x))`` elementwise; any shape."""
    return activations.sigmoid_grad(x)


def _elu_grad_cases(gen: torch.Generator) -> list[dict]:
    return [
        {"x": _randn(gen, 6, scale=2), "alpha": 1.0},
        {"x": _randn(gen, 4, 5, scale=3), "alpha": 0.5},
        {"x": torch.tensor([-30.0, -2.0, -0.1, 0.1, 2.0], dtype=torch.float64), "alpha": 2.0},
    ]


@exercise("elu_grad", cases=_elu_grad_cases, outputs=("elu'(x)",),
          hint="lecture01.hint_elu_grad")
def elu_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """``elu'(x) = 1`` for ``x > 0`` and ``alpha e^x`` for ``x <= 0``; same shape and dtype."""
    return activations.elu_grad(x, alpha)
